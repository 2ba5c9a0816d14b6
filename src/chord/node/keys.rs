//! A node's keys: which it keeps as *primary* and which as *replica*, and the rules
//! that say what to keep, what to refuse, and what to give back.
//!
//! Why a file apart from the routing rules: routing (src/chord/node.rs) decides where
//! a key lives; this file decides what one node does with the copies it is given.
//!
//! - A node is the **primary** of the keys in (predecessor, itself]: it gives each PUT
//!   its [`Version`] ([`Node::write`]).
//! - It is a **replica** of the keys a primary sends it: REPLICATE and SYNC say "I am
//!   the primary of (lo, hi], keep copies". Such a *claim* is checked ((lo, hi] must
//!   not contain this node: a primary never claims its own successor's keys) and
//!   recorded; it lasts [`KeyPolicy::settle`] after the primary's last word.
//! - A key that is neither is an **orphan**: its primary is elsewhere now (a node
//!   joined in front), or this node is no longer among its r holders. Orphans are
//!   given back, and only dropped once their primary confirms it holds them.
//! - Copies are merged by version ([`crate::chord::store::Store::merge`]): a stale copy
//!   never overwrites a newer one.

use std::time::Instant;

use super::{Departure, KeyPolicy, Node, State};
use crate::chord::id::Id;
use crate::chord::routing::NodeRef;
use crate::chord::store::Entry;
use crate::chord::version::{Version, now_ms};
use crate::protocol::{ErrorCode, Refusal};

/// Why a node keeps a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The key's id is in (predecessor, me]: this node is its successor.
    Primary,
    /// A copy for the key's primary, one of the r - 1 nodes after it.
    Replica,
}

impl Role {
    /// The tag of a KEYS row.
    pub fn tag(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

/// One key as KEYS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: Id,
    pub key: String,
    pub value: String,
    pub version: Version,
    pub role: Role,
}

/// The refusal of a node that is leaving: retryable, the key's next holder takes it.
fn leaving() -> Refusal {
    Refusal::new(
        ErrorCode::Busy,
        "this node is leaving the ring: retry in a moment",
    )
}

impl Node {
    pub fn policy(&self) -> KeyPolicy {
        self.policy
    }

    /// Whether this node is the primary of `id` in this state: (predecessor, me], or
    /// anything when no predecessor is known (alone, or not yet told).
    fn is_primary(&self, state: &State, id: Id) -> bool {
        state
            .predecessor
            .is_none_or(|p| self.ring.in_open_closed(id, p.id, self.me.id))
    }

    /// The ids this node is primary of, (lo, hi] with hi = me: `None` until it has a
    /// predecessor (it cannot yet tell which keys are its own).
    pub fn primary_range(&self) -> Option<(Id, Id)> {
        let state = self.state.lock();
        state.predecessor.map(|p| (p.id, self.me.id))
    }

    /// The nodes that keep copies of this node's primary keys: the first r - 1 of the
    /// successor list (fewer in a small ring; none when alone).
    pub fn replica_targets(&self) -> Vec<NodeRef> {
        let state = self.state.lock();
        state
            .successors
            .iter()
            .filter(|s| **s != self.me)
            .take(self.policy.replicas - 1)
            .copied()
            .collect()
    }

    /// A PUT at its primary: the value gets the next version and is kept. Refused while
    /// leaving (BUSY, retryable), or if the store is full or the value too big.
    pub fn write(&self, key: &str, value: String) -> Result<Version, Refusal> {
        let id = self.ring.key_id(key);
        let mut state = self.state.lock();
        if state.leaving {
            return Err(leaving());
        }
        let previous = state.store.get(id, key).map(|e| e.version);
        let version = Version::next(previous, self.me.id.value(), now_ms());
        state.store.merge(id, key, Entry { value, version })?;
        Ok(version)
    }

    /// A copy from another node: kept if newer than ours. Returns whether it was.
    /// Refused if its version comes from the future, while leaving, or when full.
    pub fn merge_copy(&self, key: &str, version: Version, value: String) -> Result<bool, Refusal> {
        version
            .check_not_future(now_ms())
            .map_err(|e| Refusal::new(ErrorCode::BadRequest, e))?;
        let id = self.ring.key_id(key);
        let mut state = self.state.lock();
        if state.leaving {
            return Err(leaving());
        }
        state.store.merge(id, key, Entry { value, version })
    }

    /// A key kept here, with its version.
    pub fn fetch(&self, key: &str) -> Option<(String, Version)> {
        let id = self.ring.key_id(key);
        let state = self.state.lock();
        state
            .store
            .get(id, key)
            .map(|e| (e.value.clone(), e.version))
    }

    /// Every key kept here, in id order, with its role.
    pub fn keys(&self) -> Vec<StoredKey> {
        let state = self.state.lock();
        state
            .store
            .iter()
            .map(|(id, key, entry)| StoredKey {
                id,
                key: key.to_string(),
                value: entry.value.clone(),
                version: entry.version,
                role: if self.is_primary(&state, id) {
                    Role::Primary
                } else {
                    Role::Replica
                },
            })
            .collect()
    }

    /// How many keys, and how many bytes of keys and values, are kept here.
    pub fn usage(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.store.len(), state.store.bytes())
    }

    /// The keys kept here with ids in (lo, hi], with their versions.
    pub fn versions_in(&self, lo: Id, hi: Id) -> Vec<(String, Version)> {
        let state = self.state.lock();
        state
            .store
            .in_range(self.ring, lo, hi)
            .map(|(_, key, entry)| (key.to_string(), entry.version))
            .collect()
    }

    /// The digest of the keys and versions kept here in (lo, hi].
    pub fn digest(&self, lo: Id, hi: Id) -> u64 {
        self.state.lock().store.digest(self.ring, lo, hi)
    }

    /// A primary `hi` says it holds (lo, hi] and that we keep copies of it (SYNC,
    /// REPLICATE). Refused if the range contains this node: no primary precedes its
    /// own successor's keys, so such a claim is a mistake or a lie. Recorded otherwise,
    /// so that the copies are not taken for orphans.
    pub fn accept_claim(&self, lo: Id, hi: Id) -> Result<(), Refusal> {
        if hi == self.me.id || self.ring.in_open_closed(self.me.id, lo, hi) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!(
                    "the range ({lo}, {hi}] contains this node ({}): a primary only sends copies of keys before its successors",
                    self.me.id
                ),
            ));
        }
        let now = Instant::now();
        let mut state = self.state.lock();
        if state.leaving {
            return Err(leaving());
        }
        let settle = self.policy.settle;
        state
            .claims
            .retain(|_, at| now.duration_since(*at) < settle);
        state.claims.insert((lo, hi), now);
        Ok(())
    }

    /// Up to `limit` orphans: keys kept here that are neither ours as primary nor
    /// under a fresh claim. None while the predecessor is unknown or changed within
    /// [`KeyPolicy::settle`]: after a join or a crash, claims take a round or two to
    /// arrive, and a key given back too early would only travel back again.
    pub fn orphans(&self, limit: usize) -> Vec<(Id, String, Entry)> {
        let now = Instant::now();
        let settle = self.policy.settle;
        let state = self.state.lock();
        if state.leaving || now.duration_since(state.predecessor_since) < settle {
            return Vec::new();
        }
        let Some(p) = state.predecessor else {
            return Vec::new();
        };
        let fresh: Vec<(Id, Id)> = state
            .claims
            .iter()
            .filter(|(_, at)| now.duration_since(**at) < settle)
            .map(|(range, _)| *range)
            .collect();
        state
            .store
            .iter()
            .filter(|(id, _, _)| !self.ring.in_open_closed(*id, p.id, self.me.id))
            .filter(|(id, _, _)| {
                !fresh
                    .iter()
                    .any(|(lo, hi)| self.ring.in_open_closed(*id, *lo, *hi))
            })
            .take(limit)
            .map(|(id, key, entry)| (id, key.to_string(), entry.clone()))
            .collect()
    }

    /// Removes a key if it still has `version` (a newer copy stays).
    pub fn remove_if_version(&self, key: &str, version: Version) -> bool {
        let id = self.ring.key_id(key);
        self.state.lock().store.remove_if_version(id, key, version)
    }

    /// Starts a graceful leave: from now on STORE, REPLICATE and SYNC are refused
    /// (retryable), so nothing arrives that would not be handed over. `None` if a
    /// leave has already started (a second LEAVE must not hand over twice).
    pub fn begin_leaving(&self) -> Option<Departure> {
        let mut state = self.state.lock();
        if state.leaving {
            return None;
        }
        state.leaving = true;
        Some(Departure {
            predecessor: state.predecessor,
            successors: state.successors.clone(),
        })
    }

    /// Whether a leave has started.
    pub fn is_leaving(&self) -> bool {
        self.state.lock().leaving
    }
}
