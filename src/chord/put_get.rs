//! PUT and GET as the node a client asked runs them: find the key's primary, then
//! write there (which copies to the replicas) or read there, or from a replica.
//!
//! Why apart from the handler: these two verbs are where replication shows to a
//! client. A PUT is retried when the primary is leaving, gone, or could not reach a
//! replica (`BUSY`, an unreachable node): the next lookup may name another node. A GET
//! that cannot read the primary, or that the primary cannot answer yet (a node that
//! has just joined and not yet pulled its keys), reads the next replica.

use std::thread;

use log::debug;

use super::context::Context;
use super::error::Error;
use super::lookup::Lookup;
use super::replication::store_as_primary;
use super::routing::NodeRef;
use super::rows::{self, Row};
use super::store::check_sizes;
use super::version::Version;
use crate::protocol::{ErrorCode, Refusal, Reply};

/// A PUT tries this many times before it gives up (with the last refusal).
pub const PUT_ATTEMPTS: u32 = 4;

/// PUT: find the key's primary, and STORE there (or here, if it is us). Retried, after
/// a pause of one more stabilisation round each time, while the refusal is one that
/// a repaired ring may not give: BUSY, TIMEOUT, or a node that cannot be reached.
pub fn put(ctx: &Context, key: String, value: String) -> Reply {
    if let Err(refusal) = check_sizes(&key, &value) {
        return Reply::from(refusal);
    }
    let node = &ctx.node;
    let id = node.ring().key_id(&key);
    let mut last = Refusal::new(ErrorCode::Internal, "no attempt was made");
    for attempt in 0..PUT_ATTEMPTS {
        if attempt > 0 {
            // Give stabilisation a round or two to route around what failed.
            thread::sleep(ctx.retry_pause * attempt);
        }
        let lookup = match ctx.find_successor(id) {
            Ok(lookup) => lookup,
            Err(e) => {
                last = e.to_refusal();
                continue;
            }
        };
        let holder = lookup.holder;
        let stored = if holder == node.me() {
            store_as_primary(node, &key, value.clone(), ctx.rpc_timeout)
        } else {
            ctx.peer(holder)
                .and_then(|mut peer| peer.store(&key, &value))
                .map_err(|e| forget_if_gone(ctx, holder, e))
        };
        match stored {
            Ok((rows, text)) => {
                let mut data = vec![rows::key_row(&key, id)];
                data.extend(rows::lookup_rows(&lookup));
                data.extend(rows);
                return Reply::rows(data, text);
            }
            Err(refusal) if retryable(&refusal) => {
                debug!("{}: PUT {key:?} at {holder}: {refusal}", node.me());
                last = refusal;
            }
            Err(refusal) => return Reply::from(refusal),
        }
    }
    Reply::from(last)
}

/// A refusal that may go away once the ring has repaired itself.
fn retryable(refusal: &Refusal) -> bool {
    matches!(
        refusal.code,
        ErrorCode::Busy | ErrorCode::Timeout | ErrorCode::Internal
    )
}

/// A node that could not be reached is dropped from our tables (it may be dead); the
/// error becomes the refusal told to the client.
fn forget_if_gone(ctx: &Context, node: NodeRef, e: Error) -> Refusal {
    if matches!(e, Error::Unreachable { .. } | Error::Timeout { .. }) {
        ctx.node.forget(node);
    }
    e.to_refusal()
}

/// GET: find the key's primary and read it there; if the primary cannot be reached,
/// or does not have the key, read the next replicas in order.
pub fn get(ctx: &Context, key: String) -> Reply {
    let node = &ctx.node;
    let id = node.ring().key_id(&key);
    let lookup = match ctx.find_successor(id) {
        Ok(lookup) => lookup,
        Err(e) => return Reply::from(e.to_refusal()),
    };
    let primary = lookup.holder;
    let mut why = match read(ctx, primary, &key) {
        Ok(Some(found)) => return found_reply(&key, &lookup, primary, found, None),
        Ok(None) => format!("the primary {primary} does not have it"),
        Err(e) => {
            let why = format!("the primary {primary} did not answer: {e}");
            forget_if_gone(ctx, primary, e);
            why
        }
    };
    let mut answered = why.contains("does not have");
    for replica in replicas_after(ctx, &lookup) {
        match read(ctx, replica, &key) {
            Ok(Some(found)) => return found_reply(&key, &lookup, replica, found, Some(&why)),
            Ok(None) => answered = true,
            Err(e) => why = format!("{why}; replica {replica} did not answer: {e}"),
        }
    }
    if answered {
        Reply::err(
            ErrorCode::NotFound,
            format!("no key {key:?} (id {id}) on its primary {primary} or its replicas"),
        )
    } else {
        Reply::err(
            ErrorCode::Internal,
            format!("no holder of {key:?} answered: {why}"),
        )
    }
}

/// FETCH from `holder`, or read here if it is us.
fn read(ctx: &Context, holder: NodeRef, key: &str) -> Result<Option<(String, Version)>, Error> {
    if holder == ctx.node.me() {
        return Ok(ctx.node.fetch(key));
    }
    ctx.peer(holder).and_then(|mut peer| peer.fetch(key))
}

/// The replicas of a key whose primary a lookup named: the nodes after the primary in
/// the successor list of the node that named it (the last hop, or us).
fn replicas_after(ctx: &Context, lookup: &Lookup) -> Vec<NodeRef> {
    let node = &ctx.node;
    let primary = lookup.holder;
    let namer = if primary == node.me() {
        node.me()
    } else {
        lookup.path.last().copied().unwrap_or(node.me())
    };
    let list = if namer == node.me() {
        node.successors()
    } else {
        match ctx.peer(namer).and_then(|mut peer| peer.get_successors()) {
            Ok(list) => list,
            Err(_) => node.successors(),
        }
    };
    // After the primary if it is still listed; the whole list if it was dropped.
    let after = match list.iter().position(|n| *n == primary) {
        Some(i) => list[i + 1..].to_vec(),
        None => list,
    };
    after
        .into_iter()
        .filter(|n| *n != primary)
        .take(node.policy().replicas.saturating_sub(1))
        .collect()
}

/// The GET reply: the lookup, `served` (who answered), `version`, `value`.
fn found_reply(
    key: &str,
    lookup: &Lookup,
    served: NodeRef,
    (value, version): (String, Version),
    replica_because: Option<&str>,
) -> Reply {
    let mut data: Vec<Row> = vec![rows::key_row(key, lookup.target)];
    data.extend(rows::lookup_rows(lookup));
    data.push(rows::node_row("served", &served));
    data.push(rows::version_row(version));
    data.push(vec!["value".to_string(), value]);
    let text = match replica_because {
        None => format!("from {served}"),
        Some(why) => format!("from {served}, a replica: {why}"),
    };
    Reply::rows(data, text)
}
