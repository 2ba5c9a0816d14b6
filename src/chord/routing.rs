//! How nodes name each other and answer for the ring: the values that travel.
//!
//! Why a file of its own: a node's state (src/chord/node.rs), the lookup that drives it
//! (src/chord/lookup.rs), the messages (src/chord/message.rs) and the reply rows
//! (src/chord/rows.rs) all speak of the same three things, so they live below all of
//! them: [`NodeRef`], another node as one knows it; [`Step`], one node's answer to
//! "what do you know about this id?"; [`Routing`], a copy of one node's tables.

use std::fmt;
use std::net::SocketAddr;

use super::id::{Id, Ring};

/// Another node, as this node knows it: its identifier and where to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRef {
    pub id: Id,
    pub addr: SocketAddr,
}

impl NodeRef {
    /// The node as two tokens, `<id> <addr>`, as it travels in messages and replies.
    pub fn to_tokens(&self) -> [String; 2] {
        [self.id.to_string(), self.addr.to_string()]
    }

    /// Reads `<id> <addr>` from two tokens.
    pub fn from_tokens(ring: Ring, id: &str, addr: &str) -> Result<NodeRef, String> {
        let id = ring.parse_id(id)?;
        let addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address and port"))?;
        Ok(NodeRef { id, addr })
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

/// A copy of a node's routing state, for FINGERS and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    pub me: NodeRef,
    pub predecessor: Option<NodeRef>,
    /// The successor list, nearest first; `[me]` when the node is alone.
    pub successors: Vec<NodeRef>,
    /// Finger i: its start (me + 2^i) and the node the table names for it, if known.
    pub fingers: Vec<(Id, Option<NodeRef>)>,
}

/// One node's answer to "what do you know about this id?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The id is in (that node, its successor]: this successor holds it.
    Found(NodeRef),
    /// Nodes known to precede the id, closest to it first.
    Next(Vec<NodeRef>),
}

impl Step {
    /// The candidates of a `Next` step (none for `Found`).
    pub fn candidates(&self) -> &[NodeRef] {
        match self {
            Step::Found(_) => &[],
            Step::Next(nodes) => nodes,
        }
    }
}
