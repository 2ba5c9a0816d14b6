//! Plain TCP plumbing that every server of the crate shares, below any protocol.
//!
//! Why a module of its own: feira runs three servers, the store server
//! (`server::listener`), the serving peer of file sharing (`p2p::server`) and a Chord
//! node (`chord::server`). Each speaks its own protocol, but each accepts connections
//! the same way. That way is written once, here, and imports nothing from the rest of
//! the crate, so every layer above may use it.
//!
//! - [`accept`]: the accept loop: a thread per connection, a stop switch that wakes a
//!   blocked `accept`, `ERR BUSY` for a connection that is not let in, a clean drain.

pub mod accept;

pub use accept::{AcceptLoop, AcceptOptions, Accepted, Handler, LiveConnections, StopSwitch};
