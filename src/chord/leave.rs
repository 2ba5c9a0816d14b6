//! The graceful leave (the paper's voluntary departure): hand the keys over, tell both
//! neighbours, so that the ring closes over the gap at once.
//!
//! Why a file of its own: a LEAVE message (src/chord/handler.rs) and a [`Stopper`]
//! (SIGINT to `feira-chord node`) both run it, and the order of its steps is the
//! lesson.
//!
//! [`Stopper`]: super::Stopper

use std::time::Duration;

use log::{info, warn};

use super::control::Control;
use super::error::Error;
use super::node::Node;
use super::routing::NodeRef;
use super::rpc::Peer;

/// The graceful leave (the paper's voluntary departure).
///
/// 1. Stop maintenance, and refuse new STOREs.
/// 2. Hand every key to the first successor that answers (STORE), then tell it that
///    its predecessor is now ours (PREDECESSOR_LEAVES).
/// 3. Tell our predecessor that its successor list is now ours (SUCCESSOR_LEAVES).
///
/// The caller stops the node afterwards, whatever the outcome.
pub fn leave(node: &Node, control: &Control, timeout: Duration) -> Result<String, Error> {
    let me = node.me();
    control.stop_maintenance();
    let Some(departure) = node.begin_leaving() else {
        return Ok("already leaving".to_string());
    };
    let count = departure.keys.len();
    let successors: Vec<NodeRef> = departure
        .successors
        .iter()
        .copied()
        .filter(|s| *s != me)
        .collect();
    if successors.is_empty() {
        info!("{me}: leaving; alone in the ring, {count} keys go with it");
        return Ok(format!("left; was alone, {count} keys dropped"));
    }
    let mut last_error = None;
    let mut heir = None;
    for successor in &successors {
        let handed = Peer::connect(successor.addr, node.ring(), timeout).and_then(|mut peer| {
            for (key, value) in &departure.keys {
                peer.store(key, value)?;
            }
            peer.predecessor_leaves(me.id, departure.predecessor)
        });
        match handed {
            Ok(()) => {
                heir = Some(*successor);
                break;
            }
            Err(e) => {
                warn!("{me}: leaving: successor {successor} failed: {e}");
                last_error = Some(e);
            }
        }
    }
    let Some(heir) = heir else {
        let e = last_error.map_or_else(|| "no successor".to_string(), |e| e.to_string());
        return Err(Error::NoRoute {
            target: me.id,
            detail: format!("left, but could not hand {count} keys to any successor: {e}"),
        });
    };
    if let Some(p) = departure.predecessor.filter(|p| *p != me) {
        let told = Peer::connect(p.addr, node.ring(), timeout)
            .and_then(|mut peer| peer.successor_leaves(me.id, &successors));
        if let Err(e) = told {
            // Not fatal: p's stabilize will find its successor gone and skip it.
            warn!("{me}: leaving: could not tell predecessor {p}: {e}");
        }
    }
    info!("{me}: left the ring; {count} keys handed to {heir}");
    Ok(format!("left the ring: {count} keys handed to {heir}"))
}
