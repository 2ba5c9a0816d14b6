//! What a connection thread of a node needs to answer requests: the node, what stops
//! it, and how to call other nodes.
//!
//! Why a file of its own: the verb handler (src/chord/handler.rs), PUT and GET
//! (src/chord/put_get.rs) and the accept loop (src/chord/server.rs) all take it, and
//! it needs none of them.

use std::sync::Arc;
use std::time::Duration;

use super::control::Control;
use super::error::Error;
use super::id::Id;
use super::lookup::{self, Lookup};
use super::node::Node;
use super::routing::NodeRef;
use super::rpc::{NetTransport, Peer};

/// What one connection thread needs to answer requests.
pub struct Context {
    pub node: Arc<Node>,
    pub control: Arc<Control>,
    /// The budget of each call this node makes to another node.
    pub rpc_timeout: Duration,
    /// How long a PUT waits before it tries again (one stabilisation round).
    pub retry_pause: Duration,
    /// Connections past this many are kept for other nodes (src/chord/server.rs).
    pub max_connections: usize,
}

impl Context {
    fn transport(&self) -> NetTransport {
        NetTransport {
            ring: self.node.ring(),
            timeout: self.rpc_timeout,
        }
    }

    pub fn peer(&self, node: NodeRef) -> Result<Peer, Error> {
        Peer::connect(node.addr, self.node.ring(), self.rpc_timeout)
    }

    pub fn find_successor(&self, target: Id) -> Result<Lookup, Error> {
        lookup::find_successor(&self.node, target, &mut self.transport())
    }
}
