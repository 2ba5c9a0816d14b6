//! The one background thread of a node: the paper's periodic repairs.
//!
//! Why periodic: Chord does not try to keep every pointer right at every instant.
//! Joins only set the new node's successor; everything else (predecessors, the
//! successor lists, the finger tables, where keys live) is repaired by each node,
//! every interval, with these steps:
//!
//! 1. **stabilize**: ask the successor for its predecessor x; if x sits between us and
//!    the successor, x joined there and becomes our successor. Copy the successor's
//!    list into ours (the successor list of length r), then NOTIFY the successor that
//!    we might be its predecessor. A successor that does not answer is dropped and
//!    the next one in the list takes its place: that is how the ring survives up to
//!    r - 1 adjacent failures.
//! 2. **check_predecessor**: PING the predecessor; if it does not answer, forget it,
//!    so that the next NOTIFY can replace it.
//! 3. **fix_fingers**: look up the start of the next finger and record the answer.
//! 4. **sync replicas**: a primary checks that its r - 1 replicas hold what it holds
//!    (SYNC, a digest first), and sends or fetches the keys that differ. This is how
//!    keys reach a node that joins and come back to r copies after a crash.
//! 5. **give back orphans**: keys held here that are neither ours nor claimed by a
//!    primary go back to their primary, and are dropped once it has them.
//!    (Both are in src/chord/replication.rs.)
//!
//! Every step copies what it needs from the node, calls out with no lock held, and
//! records the answer; every call has a timeout, so a round always ends.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, info, warn};

use super::lookup;
use super::node::Node;
use super::replication;
use super::routing::NodeRef;
use super::rpc::{NetTransport, Peer};

/// Starts the maintenance thread. It runs a round every `interval` until `stop`
/// receives a message or its sender is dropped.
pub fn spawn(
    node: Arc<Node>,
    interval: Duration,
    rpc_timeout: Duration,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    let port = node.me().addr.port();
    thread::Builder::new()
        .name(format!("chord-maint-{port}"))
        .spawn(move || {
            // A message or a dropped sender ends the wait (and the loop) at once.
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
                round(&node, rpc_timeout);
            }
            debug!("{}: maintenance stopped", node.me());
        })
}

/// One round of every repair, in the paper's order.
pub fn round(node: &Node, rpc_timeout: Duration) {
    stabilize(node, rpc_timeout);
    check_predecessor(node, rpc_timeout);
    fix_fingers(node, rpc_timeout);
    replication::sync_replicas(node, rpc_timeout);
    replication::give_back_orphans(node, rpc_timeout);
}

/// The paper's `stabilize`, with the successor list.
pub fn stabilize(node: &Node, timeout: Duration) {
    let me = node.me();
    let ring = node.ring();
    for successor in node.successors() {
        if successor == me {
            // Alone: our successor is ourselves, so "the successor's predecessor" is
            // our own. If someone notified us, it is the first other node we know.
            if let Some(p) = node.predecessor() {
                adopt_if_alive(node, p, timeout);
            }
            return;
        }
        let answer = Peer::connect(successor.addr, ring, timeout).and_then(|mut peer| {
            let x = peer.get_predecessor()?;
            let list = peer.get_successors()?;
            Ok((peer, x, list))
        });
        match answer {
            Ok((mut peer, x, list)) => {
                // x between us and our successor: x joined there, and is closer.
                if let Some(x) = x.filter(|x| ring.in_open(x.id, me.id, successor.id))
                    && adopt_if_alive(node, x, timeout)
                {
                    return;
                }
                if node.adopt_successors(successor, &list) {
                    info!("{me}: successor is now {successor}");
                }
                if let Err(e) = peer.notify(me) {
                    warn!("{me}: NOTIFY to successor {successor} failed: {e}");
                }
                return;
            }
            Err(e) => {
                warn!("{me}: successor {successor} is not answering, dropping it: {e}");
                node.forget(successor);
            }
        }
    }
    warn!("{me}: every successor failed; alone until another node notifies us");
}

/// Makes `x` our successor if it answers like a node: its successor list, then our
/// NOTIFY. A node that does not answer is never adopted, so a dead or fake node
/// named as someone's predecessor cannot take over our successor pointer.
fn adopt_if_alive(node: &Node, x: NodeRef, timeout: Duration) -> bool {
    let me = node.me();
    let answer = Peer::connect(x.addr, node.ring(), timeout).and_then(|mut peer| {
        let list = peer.get_successors()?;
        peer.notify(me)?;
        Ok(list)
    });
    match answer {
        Ok(list) => {
            if node.adopt_successors(x, &list) {
                info!("{me}: successor is now {x}");
            }
            true
        }
        Err(e) => {
            debug!("{me}: not adopting {x} as successor: {e}");
            false
        }
    }
}

/// The paper's `check_predecessor`.
pub fn check_predecessor(node: &Node, timeout: Duration) {
    let Some(p) = node.predecessor() else {
        return;
    };
    let answer = Peer::connect(p.addr, node.ring(), timeout).and_then(|mut peer| peer.ping());
    if let Err(e) = answer
        && node.clear_predecessor_if(p)
    {
        info!(
            "{}: predecessor {p} is not answering, forgetting it: {e}",
            node.me()
        );
    }
}

/// The paper's `fix_fingers`: refresh the next finger (and those that share its answer).
pub fn fix_fingers(node: &Node, timeout: Duration) {
    let (i, start) = node.finger_to_fix();
    let mut transport = NetTransport {
        ring: node.ring(),
        timeout,
    };
    match lookup::find_successor(node, start, &mut transport) {
        Ok(found) => node.record_finger(i, found.holder),
        Err(e) => debug!("{}: fix_fingers {i} ({start}): {e}", node.me()),
    }
}
