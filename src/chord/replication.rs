//! Keeping every key on r nodes: its primary (the key's successor) and the next r - 1
//! nodes of the primary's successor list, its *replicas*.
//!
//! Why replicas on the successor list (the paper's suggestion): when a node crashes,
//! its keys fall to its successor, which is exactly the node that already holds a
//! copy. It serves them at once, and a key is lost only if all r holders fail
//! together: about p^r of the keys when a fraction p of the nodes crash at once.
//!
//! Three moments keep the copies right:
//!
//! 1. **A PUT** ([`store_as_primary`]): the primary gives the value a version, keeps
//!    it, and sends `REPLICATE` to each replica. It answers OK once at least one
//!    replica holds it too, so an acknowledged PUT survives the primary's crash.
//! 2. **Every round** ([`sync_replicas`]): the primary sends each replica `SYNC`, a
//!    digest of its keys and versions; equal digests end the exchange in one message.
//!    Otherwise the replica lists what it holds, and the keys that differ travel
//!    (newer here: REPLICATE; newer there: FETCH). This is how a node that joins,
//!    comes back after a crash, or newly enters a successor list gets its copies, and
//!    how a new primary pulls the keys it inherits.
//! 3. **Orphans** ([`give_back_orphans`]): a node that holds a key it is neither
//!    primary nor a claimed replica of gives it back to the key's primary, and drops
//!    it only once the primary shows a version at least as new. So no key has more
//!    than r holders for long, and no copy is dropped before another exists.
//!
//! Versions (src/chord/version.rs) make every exchange safe in any order: a copy only
//! replaces an older one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::error::Error;
use super::id::Id;
use super::lookup;
use super::node::Node;
use super::rows::{self, Row};
use super::rpc::{NetTransport, Peer};
use crate::protocol::{ErrorCode, Refusal};

/// At most this many keys travel per replica per round, so that one round stays short
/// after a join in front of a node holding many keys.
pub const SYNC_KEYS_PER_ROUND: usize = 256;

/// At most this many orphans are given back per round.
pub const ORPHANS_PER_ROUND: usize = 32;

/// STORE at the key's primary: version it, keep it, copy it to the replicas.
///
/// Answers OK (rows `version` and one `replica` per copy) once at least one replica
/// holds the value. With no replica to ask (a node alone, or r = 1) the primary's
/// copy is all there is, and the text says so. If replicas exist but none answers,
/// the answer is `ERR BUSY`: the value stays on the primary (the next rounds copy it
/// if the primary lives), but it is **not acknowledged**, and the client retries.
pub fn store_as_primary(
    node: &Node,
    key: &str,
    value: String,
    timeout: Duration,
) -> Result<(Vec<Row>, String), Refusal> {
    let me = node.me();
    let version = node.write(key, value.clone())?;
    let targets = node.replica_targets();
    let range = copy_range(node, node.ring().key_id(key));
    let mut copied = Vec::new();
    let mut failures = Vec::new();
    for target in &targets {
        let sent = Peer::connect(target.addr, node.ring(), timeout)
            .and_then(|mut peer| peer.replicate(range, key, version, &value));
        match sent {
            Ok(()) => copied.push(*target),
            Err(e) => {
                warn!("{me}: could not copy {key:?} to replica {target}: {e}");
                failures.push(e.to_string());
            }
        }
    }
    let mut data = vec![rows::version_row(version)];
    data.extend(copied.iter().map(|n| rows::node_row("replica", n)));
    if targets.is_empty() {
        let why = if node.policy().replicas == 1 {
            "r = 1"
        } else {
            "no other node is known"
        };
        return Ok((data, format!("stored on {me}, no replica ({why})")));
    }
    if copied.is_empty() {
        return Err(Refusal::new(
            ErrorCode::Busy,
            format!(
                "stored on {me} only: no replica answered ({}); not acknowledged, retry",
                failures.join("; ")
            ),
        ));
    }
    Ok((
        data,
        format!("stored on {me} and {} replicas", copied.len()),
    ))
}

/// The range a primary names when it sends a copy: its own (predecessor, me], or, if
/// it has no predecessor yet or the key is outside it, the narrowest range that holds
/// the key, (id - 1, me].
fn copy_range(node: &Node, id: Id) -> (Id, Id) {
    let ring = node.ring();
    match node.primary_range() {
        Some((lo, hi)) if ring.in_open_closed(id, lo, hi) => (lo, hi),
        _ => (ring.add(id, ring.max()), node.me().id),
    }
}

/// What one SYNC exchange moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Copies sent to the other node (REPLICATE).
    pub pushed: usize,
    /// Newer copies fetched from it.
    pub pulled: usize,
    /// False if the key limit or the deadline stopped the exchange early.
    pub complete: bool,
}

/// One SYNC exchange with the node behind `peer` about the keys in `range`: the
/// digest first, then only the keys that differ. At most `limit` keys travel, and
/// none after `deadline`. With `pull`, keys newer there are fetched here too.
pub fn sync_with(
    node: &Node,
    peer: &mut Peer,
    range: (Id, Id),
    limit: usize,
    deadline: Option<Instant>,
    pull: bool,
) -> Result<SyncReport, Error> {
    let ring = node.ring();
    let (lo, hi) = range;
    let Some(theirs) = peer.sync(range, node.digest(lo, hi))? else {
        return Ok(SyncReport {
            complete: true,
            ..SyncReport::default()
        });
    };
    let theirs: HashMap<String, _> = theirs.into_iter().collect();
    let mine: HashMap<String, _> = node.versions_in(lo, hi).into_iter().collect();
    let mut report = SyncReport {
        complete: true,
        ..SyncReport::default()
    };
    let over = |moved: usize| moved >= limit || deadline.is_some_and(|d| Instant::now() >= d);
    for (key, version) in &mine {
        if theirs.get(key).is_some_and(|v| v >= version) {
            continue;
        }
        if over(report.pushed + report.pulled) {
            report.complete = false;
            return Ok(report);
        }
        // Read again: a PUT may have given it a newer version since.
        if let Some((value, version)) = node.fetch(key) {
            peer.replicate(range, key, version, &value)?;
            report.pushed += 1;
        }
    }
    if !pull {
        return Ok(report);
    }
    for (key, version) in &theirs {
        let newer_there = mine.get(key).is_none_or(|v| v < version);
        // Only keys of our range: a confused or lying replica cannot push others here.
        if !newer_there || !ring.in_open_closed(ring.key_id(key), lo, hi) {
            continue;
        }
        if over(report.pushed + report.pulled) {
            report.complete = false;
            return Ok(report);
        }
        if let Some((value, version)) = peer.fetch(key)? {
            match node.merge_copy(key, version, value) {
                Ok(_) => report.pulled += 1,
                Err(refusal) => debug!("{}: not keeping {key:?}: {refusal}", node.me()),
            }
        }
    }
    Ok(report)
}

/// Every round, at each primary: make the replicas' copies match (SYNC).
pub fn sync_replicas(node: &Node, timeout: Duration) {
    let me = node.me();
    let Some(range) = node.primary_range() else {
        return; // no predecessor yet: which keys are ours is not known
    };
    for target in node.replica_targets() {
        let synced = Peer::connect(target.addr, node.ring(), timeout).and_then(|mut peer| {
            sync_with(node, &mut peer, range, SYNC_KEYS_PER_ROUND, None, true)
        });
        match synced {
            Ok(report) if report.pushed + report.pulled > 0 => info!(
                "{me}: synced with replica {target}: {} copies sent, {} newer fetched",
                report.pushed, report.pulled
            ),
            Ok(_) => {}
            Err(e) => debug!("{me}: SYNC with replica {target} failed: {e}"),
        }
    }
}

/// Every round: give orphans back to their primary, and drop each once the primary
/// holds a version at least as new.
pub fn give_back_orphans(node: &Node, timeout: Duration) {
    let me = node.me();
    let mut transport = NetTransport {
        ring: node.ring(),
        timeout,
    };
    let mut dropped = 0;
    for (id, key, entry) in node.orphans(ORPHANS_PER_ROUND) {
        let primary = match lookup::find_successor(node, id, &mut transport) {
            Ok(found) => found.holder,
            Err(e) => {
                debug!("{me}: cannot find the primary of {key:?} ({id}) yet: {e}");
                break;
            }
        };
        if primary == me {
            // The ring does not route this id to its new primary yet: keep it.
            continue;
        }
        let given =
            Peer::connect(primary.addr, node.ring(), timeout).and_then(|mut peer| {
                match peer.fetch(&key)? {
                    Some((_, theirs)) if theirs >= entry.version => Ok(()),
                    _ => peer.handoff(&key, entry.version, &entry.value),
                }
            });
        match given {
            Ok(()) => {
                if node.remove_if_version(&key, entry.version) {
                    dropped += 1;
                }
            }
            Err(e) => debug!("{me}: could not give {key:?} back to {primary}: {e}"),
        }
    }
    if dropped > 0 {
        info!("{me}: gave {dropped} keys back to their primaries");
    }
}
