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
//! - `loopback` (tests only): a connected pair of sockets on 127.0.0.1.

pub mod accept;
#[cfg(test)]
pub mod loopback;

pub use accept::{AcceptLoop, AcceptOptions, Accepted, Handler, LiveConnections, StopSwitch};
