//! What a node does for each verb: a [`Message`] in, a [`Reply`] out.
//!
//! Why apart from the server: the server is about sockets and threads, this file is
//! about Chord. Verbs that only read or change local state (NEXT_HOP, NOTIFY, FETCH,
//! REPLICATE, SYNC) touch the node's lock briefly and answer at once; verbs that need
//! other nodes (LOOKUP, PUT, GET, STORE, RING, FIND_SUCCESSOR) copy what they need,
//! let go of the lock, and call out with a timeout on every call.

use log::info;

use super::context::Context;
use super::id::Id;
use super::leave;
use super::message::{Audience, Message, VERBS, VerbSpec, verb_spec};
use super::node::{Node, Role};
use super::put_get;
use super::replication;
use super::rows::{self, Row};
use super::version::Version;
use crate::protocol::{ErrorCode, Refusal, Reply};

/// RING stops after this many nodes, in case the successors form a loop that never
/// comes back to the asking node (a broken ring must not make RING run forever).
pub const MAX_RING_WALK: usize = 1024;

/// What the connection does after sending the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    Continue,
    /// Close this connection (QUIT).
    Close,
    /// Close it and stop the whole node (after LEAVE).
    StopNode,
}

/// Answers one message.
pub fn handle(ctx: &Context, message: Message) -> (Reply, After) {
    let node = &ctx.node;
    let me = node.me();
    let reply = match message {
        Message::Help { verb } => help(verb.as_deref()),
        Message::Quit => return (Reply::ok("bye"), After::Close),
        Message::Lookup { key } => {
            let id = node.ring().key_id(&key);
            match ctx.find_successor(id) {
                Ok(lookup) => {
                    let mut data = vec![rows::key_row(&key, id)];
                    data.extend(rows::lookup_rows(&lookup));
                    Reply::rows(data, format!("{} hops", lookup.hops()))
                }
                Err(e) => Reply::from(e.to_refusal()),
            }
        }
        Message::Put { key, value } => put_get::put(ctx, key, value),
        Message::Get { key } => put_get::get(ctx, key),
        Message::Ring => ring(ctx),
        Message::Fingers => Reply::rows(rows::routing_rows(&node.routing()), format!("node {me}")),
        Message::Keys => {
            let keys = node.keys();
            let primary = keys.iter().filter(|k| k.role == Role::Primary).count();
            let replica = keys.len() - primary;
            let data = keys.iter().map(rows::stored_key_row).collect();
            Reply::rows(
                data,
                format!("{} keys: {primary} primary, {replica} replica", keys.len()),
            )
        }
        Message::Leave => {
            // The node stops whatever happens: a half-left node is worse than a gone one.
            let reply = match leave::leave(node, &ctx.control, ctx.rpc_timeout) {
                Ok(text) => Reply::ok(text),
                Err(e) => Reply::from(e.to_refusal()),
            };
            return (reply, After::StopNode);
        }
        Message::Ping => {
            let bits = vec!["bits".to_string(), node.ring().bits().to_string()];
            Reply::rows(vec![rows::node_row("node", &me), bits], "PONG")
        }
        Message::FindSuccessor { id } => match ctx.find_successor(id) {
            Ok(lookup) => Reply::rows(
                rows::lookup_rows(&lookup),
                format!("{} hops", lookup.hops()),
            ),
            Err(e) => Reply::from(e.to_refusal()),
        },
        Message::NextHop { id } => Reply::rows(rows::step_rows(&node.next_hop(id)), ""),
        Message::GetPredecessor => match node.predecessor() {
            Some(p) => Reply::rows(vec![rows::node_row("predecessor", &p)], ""),
            None => Reply::ok("no predecessor"),
        },
        Message::GetSuccessors => {
            let list = node.successors();
            let count = list.len();
            let data = list
                .iter()
                .map(|s| rows::node_row("successor", s))
                .collect();
            Reply::rows(data, format!("{count} successors"))
        }
        Message::Notify { node: candidate } => {
            if node.notify(candidate) {
                info!("{me}: predecessor is now {candidate}");
                Reply::ok("accepted")
            } else {
                Reply::ok("ignored")
            }
        }
        Message::Store { key, value } => {
            match replication::store_as_primary(node, &key, value, ctx.rpc_timeout) {
                Ok((data, text)) => Reply::rows(data, text),
                Err(refusal) => Reply::from(refusal),
            }
        }
        Message::Fetch { key } => match node.fetch(&key) {
            Some((value, version)) => Reply::rows(
                vec![vec!["value".to_string(), value], rows::version_row(version)],
                "",
            ),
            None => Reply::err(ErrorCode::NotFound, format!("no key {key:?} on {me}")),
        },
        Message::Replicate {
            lo,
            hi,
            key,
            version,
            value,
        } => replicate(node, (lo, hi), &key, version, value),
        Message::Sync { lo, hi, digest } => sync(node, (lo, hi), digest),
        Message::Handoff {
            key,
            version,
            value,
        } => handoff(node, &key, version, value),
        Message::Join { node: candidate } => match node.reserve_join(candidate) {
            Ok(()) => Reply::ok(format!(
                "id {} reserved for {}",
                candidate.id, candidate.addr
            )),
            Err(holder) => Reply::err(
                ErrorCode::Conflict,
                format!("id {} is already taken by {holder}", candidate.id),
            ),
        },
        Message::PredecessorLeaves {
            leaving,
            predecessor,
        } => {
            if node.predecessor_leaves(leaving, predecessor) {
                let now = predecessor.map_or_else(|| "unknown".to_string(), |p| p.to_string());
                info!("{me}: predecessor {leaving} left; predecessor is now {now}");
                Reply::ok("updated")
            } else {
                Reply::ok("ignored")
            }
        }
        Message::SuccessorLeaves {
            leaving,
            successors,
        } => {
            if node.successor_leaves(leaving, &successors) {
                info!(
                    "{me}: successor {leaving} left; successor is now {}",
                    successors[0]
                );
                Reply::ok("updated")
            } else {
                Reply::ok("ignored")
            }
        }
    };
    (reply, After::Continue)
}

/// REPLICATE: a copy from the primary of (lo, hi]. The key must be in that range, the
/// range must be one a primary before us could hold, and the version not from the
/// future; a copy older than ours is acknowledged and ignored.
fn replicate(node: &Node, (lo, hi): (Id, Id), key: &str, version: Version, value: String) -> Reply {
    let id = node.ring().key_id(key);
    if !node.ring().in_open_closed(id, lo, hi) {
        return Reply::err(
            ErrorCode::BadRequest,
            format!("key {key:?} (id {id}) is outside the sender's range ({lo}, {hi}]"),
        );
    }
    let kept = node
        .accept_claim(lo, hi)
        .and_then(|()| node.merge_copy(key, version, value));
    match kept {
        Ok(true) => Reply::ok("stored"),
        Ok(false) => Reply::ok("kept a copy at least as new"),
        Err(refusal) => Reply::from(refusal),
    }
}

/// SYNC: does our copy of (lo, hi] match the primary's digest? If not, list it.
fn sync(node: &Node, (lo, hi): (Id, Id), digest: u64) -> Reply {
    if let Err(refusal) = node.accept_claim(lo, hi) {
        return Reply::from(refusal);
    }
    if node.digest(lo, hi) == digest {
        return Reply::ok("in sync");
    }
    let data: Vec<Row> = node
        .versions_in(lo, hi)
        .iter()
        .map(|(key, version)| rows::have_row(key, *version))
        .collect();
    let count = data.len();
    Reply::rows(data, format!("differs: {count} keys here"))
}

/// HANDOFF: a key we are the primary of, from a node that held it.
fn handoff(node: &Node, key: &str, version: Version, value: String) -> Reply {
    let id = node.ring().key_id(key);
    if let Some((lo, hi)) = node.primary_range()
        && !node.ring().in_open_closed(id, lo, hi)
    {
        return Reply::err(
            ErrorCode::BadRequest,
            format!("key {key:?} (id {id}) is not in this node's range ({lo}, {hi}]"),
        );
    }
    match node.merge_copy(key, version, value) {
        Ok(true) => Reply::ok("stored"),
        Ok(false) => Reply::ok("kept a copy at least as new"),
        Err(refusal) => Reply::from(refusal),
    }
}

fn help(verb: Option<&str>) -> Reply {
    let row = |v: &VerbSpec| -> Row {
        vec![
            v.name.to_string(),
            v.args.to_string(),
            v.audience.to_string(),
            v.summary.to_string(),
        ]
    };
    match verb {
        None => {
            let users = VERBS.iter().filter(|v| v.audience == Audience::User);
            let nodes = VERBS.iter().filter(|v| v.audience == Audience::Node);
            let data = users.chain(nodes).map(row).collect();
            Reply::rows(data, format!("{} verbs", VERBS.len()))
        }
        Some(name) => match verb_spec(name) {
            Some(spec) => Reply::rows(vec![row(spec)], ""),
            None => Reply::err(ErrorCode::NotFound, format!("no verb {name:?}")),
        },
    }
}

/// RING: follow successor pointers from this node until we are back here.
///
/// Each node met is asked for its successor list, and the walk moves to the first
/// entry. A ring that does not close (a loop that skips us, a node that does not
/// answer) is reported as an error after the rows walked so far.
fn ring(ctx: &Context) -> Reply {
    let me = ctx.node.me();
    let mut walked = vec![me];
    let mut at = ctx.node.successor();
    let failure = loop {
        if at == me {
            break None;
        }
        if walked.contains(&at) {
            break Some(format!(
                "the successors loop back to {at} without reaching {me}"
            ));
        }
        if walked.len() >= MAX_RING_WALK {
            break Some(format!("stopped after {MAX_RING_WALK} nodes"));
        }
        walked.push(at);
        match ctx.peer(at).and_then(|mut peer| peer.get_successors()) {
            Ok(list) => at = list[0],
            Err(e) => break Some(format!("the walk stopped at {at}: {e}")),
        }
    };
    let data = walked.iter().map(|n| rows::node_row("node", n)).collect();
    match failure {
        None => Reply::rows(data, format!("{} nodes", walked.len())),
        Some(why) => Reply {
            data,
            status: Err(Refusal::new(ErrorCode::Internal, why)),
        },
    }
}
