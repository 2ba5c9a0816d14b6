//! The graceful leave (the paper's voluntary departure): hand the keys over, tell both
//! neighbours, so that the ring closes over the gap at once.
//!
//! Why a file of its own: a LEAVE message (src/chord/handler.rs) and a [`Stopper`]
//! (SIGINT to `feira-chord node`) both run it, and the order of its steps is the
//! lesson.
//!
//! With replication the successor already holds a copy of every key this node is the
//! primary of, so the hand-over is a SYNC that usually moves nothing; a leave that
//! dies half-way loses nothing, since the copies were there before it began. Under
//! load the hand-over stops at [`LEAVE_DEADLINE`]: the node leaves anyway, having
//! handed what it could, and the replicas keep the rest.
//!
//! [`Stopper`]: super::Stopper

use std::time::{Duration, Instant};

use log::{info, warn};

use super::control::Control;
use super::error::Error;
use super::node::Node;
use super::replication::sync_with;
use super::routing::NodeRef;
use super::rpc::Peer;

/// A leave hands over what it can within this long, then leaves anyway.
pub const LEAVE_DEADLINE: Duration = Duration::from_secs(10);

/// The graceful leave (the paper's voluntary departure).
///
/// 1. Stop maintenance; refuse new STOREs and copies (retryable BUSY).
/// 2. Make sure the first successor that answers holds every key of our range
///    (predecessor, me] (SYNC, then REPLICATE what differs), then tell it that its
///    predecessor is now ours (PREDECESSOR_LEAVES).
/// 3. Tell our predecessor that its successor list is now ours (SUCCESSOR_LEAVES).
///
/// The caller stops the node afterwards, whatever the outcome.
pub fn leave(node: &Node, control: &Control, timeout: Duration) -> Result<String, Error> {
    let me = node.me();
    let deadline = Instant::now() + LEAVE_DEADLINE;
    control.stop_maintenance();
    let Some(departure) = node.begin_leaving() else {
        return Ok("already leaving".to_string());
    };
    let count = node.usage().0;
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
        // Our range; without a predecessor, everything but the successor's own keys.
        let lo = departure.predecessor.map_or(successor.id, |p| p.id);
        let handed = Peer::connect(successor.addr, node.ring(), timeout).and_then(|mut peer| {
            let report = sync_with(
                node,
                &mut peer,
                (lo, me.id),
                usize::MAX,
                Some(deadline),
                false,
            )?;
            peer.predecessor_leaves(me.id, departure.predecessor)?;
            Ok(report)
        });
        match handed {
            Ok(report) => {
                heir = Some((*successor, report));
                break;
            }
            Err(e) => {
                warn!("{me}: leaving: successor {successor} failed: {e}");
                last_error = Some(e);
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let Some((heir, report)) = heir else {
        let e = last_error.map_or_else(|| "the deadline passed".to_string(), |e| e.to_string());
        return Err(Error::NoRoute {
            target: me.id,
            detail: format!(
                "left, but could not hand its keys to any successor (the replicas keep them): {e}"
            ),
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
    let how = if report.complete {
        format!("{} copies sent, the rest were there", report.pushed)
    } else {
        format!(
            "deadline reached after {} copies; the replicas keep the rest",
            report.pushed
        )
    };
    info!("{me}: left the ring; keys handed to {heir} ({how})");
    Ok(format!(
        "left the ring: {count} keys handed to {heir} ({how})"
    ))
}
