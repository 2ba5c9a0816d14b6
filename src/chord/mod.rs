//! A Chord ring (Stoica et al., SIGCOMM 2001): which node holds key K?
//!
//! Why it is here: seed 000 built nodes that were server and client at once and
//! asked which node holds a key. This module is that idea done the way the paper
//! does it, with every step visible: each lookup reports the nodes it visited, each
//! node shows its finger table, and the maintenance steps log what they change.
//! docs/CHORD.md draws a lookup step by step and lists the verbs.
//!
//! # Layout, bottom-up (read in this order)
//! Each file uses only the files above it, never one below: the imports form a
//! one-way graph.
//! - [`id`]: the ring of 2^m identifiers, SHA-1 hashing, and the interval tests
//!   `(a, b)` and `(a, b]` that every rule below is written in. [`error`]: what can
//!   go wrong, as a refusal on the wire.
//! - [`routing`]: the values nodes tell each other: [`NodeRef`] (a node's id and
//!   address), [`Step`] (one node's answer to "what do you know about id?"),
//!   [`Routing`] (a copy of a node's tables).
//! - [`version`]: which of two copies of a key is newer; [`store`]: the keys one node
//!   keeps, merged by version, within limits.
//! - [`node`]: one node's state (successor list, predecessor, finger table, keys)
//!   behind one lock, and the local rules: the next hop, NOTIFY, the successor list;
//!   which keys it keeps as primary or replica (`node/keys.rs`), and one node per id
//!   (`node/joins.rs`).
//! - [`lookup`]: the iterative lookup, driven by the node that was asked.
//! - [`message`]: the verbs, parsed once into a typed [`Message`]; [`rows`]: the data
//!   rows of the replies, written and read in one place.
//! - [`rpc`]: calls to another node, each bounded by a timeout; the CLI and the tests
//!   use the same [`Peer`]. [`replication`]: each key on r nodes (a PUT's copies,
//!   SYNC every round, orphans given back). [`maintenance`]: the one background
//!   thread that runs stabilize, check_predecessor, fix_fingers and the replication
//!   steps.
//! - `control`: what stops a node's threads (the accept loop's switch, maintenance);
//!   `leave`: the graceful leave, which hands the keys over.
//! - `context`: what a connection thread needs (the node, its control, call budgets).
//!   `put_get`: PUT and GET from the node a client asked (retries, reading a replica
//!   when the primary is gone). `handler`: what a node does for each verb. `server`:
//!   the node's accept loop (the crate's one, `net::accept`), one thread per
//!   connection, and a reserve of connections for the ring's own traffic.
//! - [`lifecycle`]: start and join, stop, and the handle that owns a running node.
//! - [`cli`]: `feira-chord`'s subcommands, which talk to nodes through [`Peer`].
//!
//! # Concepts
//! - A key with id k lives on its *successor*: the first node whose id is k or
//!   follows k clockwise. A node n holds the keys in (predecessor(n), n].
//! - Correctness needs only the successor pointers; the finger table (finger i of n
//!   is the successor of n + 2^i) makes lookups take about ½·log2 N hops instead of N.
//! - Joins set only the new node's successor; periodic stabilisation repairs the
//!   rest. The successor list of length r lets the ring survive r - 1 adjacent crashes.
//! - Each key is kept on its successor (the *primary*) and the next r - 1 nodes (its
//!   *replicas*), with a version, so a crash loses a key only if all r holders fail.
//!
//! The wire format is the main protocol's (`protocol::token`, `protocol::frame`,
//! `protocol::Reply`); only the verbs differ.
//!
//! ```no_run
//! use feira::chord::{Config, Node};
//! let first = Node::start(Config::local())?;
//! let mut config = Config::local();
//! config.join = Some(first.local_addr().to_string());
//! let second = Node::start(config)?;
//! second.shutdown();
//! first.shutdown();
//! # Ok::<(), feira::chord::Error>(())
//! ```

mod context;
mod control;
mod handler;
mod leave;
mod put_get;
mod server;

pub mod cli;
pub mod error;
pub mod id;
pub mod lifecycle;
pub mod lookup;
pub mod maintenance;
pub mod message;
pub mod node;
pub mod replication;
pub mod routing;
pub mod rows;
pub mod rpc;
pub mod store;
#[cfg(test)]
mod testing;
pub mod version;

pub use error::Error;
pub use id::{Id, Ring};
pub use lifecycle::{Config, NodeHandle, Stopper};
pub use lookup::Lookup;
pub use message::Message;
pub use node::Node;
pub use routing::{NodeRef, Routing, Step};
pub use rpc::Peer;
