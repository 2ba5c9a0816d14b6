//! One node's state: where it sits on the ring, whom it knows, and the keys it keeps.
//!
//! Why a handle with a private lock: the connection threads and the maintenance thread
//! all read and change this state. Callers see methods that each take the lock, copy
//! or change a little, and let go; nobody outside this file sees the mutex.
//!
//! # Lock discipline
//! - One lock, `Node::state`, so there is no lock order to get wrong.
//! - It is never held across network I/O. A step that needs the network copies what it
//!   needs out of the state (a successor, a finger), releases the lock, makes the call,
//!   then takes the lock again to record the answer. The state may have changed in
//!   between; each `record_*` method below is written so that a late answer is still
//!   a sound answer (Chord is built to tolerate stale pointers).
//! - No method calls another locking method while it holds the lock: the lock is not
//!   re-entrant, so that would deadlock.
//!
//! The rules here (which successor answers a lookup, whether a NOTIFY is accepted, how
//! a successor list is rebuilt) are pure functions of the state, so they are unit
//! tested without any sockets (src/chord/node/tests.rs).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::id::{Id, Ring};
use super::routing::{NodeRef, Routing, Step};
use super::store::{Limits, Store};

mod joins;
mod keys;

pub use keys::{Role, StoredKey};

/// At most this many candidates in a [`Step::Next`]: enough to route around a few dead
/// nodes, few enough to keep a NEXT_HOP reply short.
pub const MAX_CANDIDATES: usize = 8;

/// What a leaving node needs to know when it starts to leave.
#[derive(Debug)]
pub struct Departure {
    pub predecessor: Option<NodeRef>,
    pub successors: Vec<NodeRef>,
}

/// How a node keeps keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// r for keys: a key is kept on its successor and the next `replicas - 1` nodes of
    /// the successor list. 1 means no replication.
    pub replicas: usize,
    /// How much the node agrees to keep.
    pub limits: Limits,
    /// How long things must stay quiet before the node gives keys away: a replica
    /// claim lasts this long after the primary's last SYNC, and keys are only handed
    /// back once the predecessor has not changed for this long. A few rounds.
    pub settle: Duration,
}

impl KeyPolicy {
    /// r replicas, the default limits, and a second to settle.
    pub fn new(replicas: usize) -> KeyPolicy {
        KeyPolicy {
            replicas: replicas.max(1),
            limits: Limits::default(),
            settle: Duration::from_secs(1),
        }
    }
}

/// One Chord node's shared state.
pub struct Node {
    /// This node: fixed for its whole life.
    me: NodeRef,
    /// The identifier ring, the same for every node of a ring.
    ring: Ring,
    /// r, the length of the successor list: the ring survives r - 1 adjacent failures.
    successors_wanted: usize,
    /// How keys are replicated and bounded.
    policy: KeyPolicy,
    /// Everything that changes. A `parking_lot::Mutex` rather than `std`'s: it cannot be
    /// poisoned, so a bug that panics in one connection thread does not take every
    /// other thread down with it, and it is smaller and faster uncontended. Not an
    /// `RwLock`: every critical section is a few copies long, and most callers write.
    state: Mutex<State>,
}

/// The mutable part, only ever touched with [`Node::state`] held.
struct State {
    /// Nearest first, never empty, never longer than r. `[me]` means "alone": the node
    /// has not yet learnt of any other (a fresh ring, or every successor failed).
    successors: Vec<NodeRef>,
    /// The node that most recently convinced us it precedes us (NOTIFY); `None` until
    /// one does, or after it stops answering. Never `me`. Changed only through
    /// [`State::set_predecessor`].
    predecessor: Option<NodeRef>,
    /// When `predecessor` last changed: keys are only handed back once it is settled.
    predecessor_since: Instant,
    /// m entries; entry i is the first node at or after me + 2^i, as last learnt.
    /// Entry 0 is always the successor. `None`: not learnt yet, or forgotten.
    fingers: Vec<Option<NodeRef>>,
    /// The finger that fix_fingers refreshes next (the paper's `next`).
    next_finger: u8,
    /// The keys this node keeps, as primary (id in (predecessor, me]) or as replica.
    store: Store,
    /// Replica claims: a primary's range (lo, hi] (hi is the primary) -> when it last
    /// said so. Keys in a fresh claim are kept as replicas (src/chord/node/keys.rs).
    /// Keyed by the whole range, so that when a primary's range shrinks (a node joined
    /// before it), the old claim still covers the keys until the newcomer's arrives.
    claims: HashMap<(Id, Id), Instant>,
    /// Nodes about to become our predecessor (JOIN), by id: their address and until
    /// when the id stays reserved for them (src/chord/node/joins.rs).
    joining: HashMap<Id, (std::net::SocketAddr, Instant)>,
    /// Set when LEAVE starts: from then on, STORE is refused, so no key arrives after
    /// the keys have been handed over.
    leaving: bool,
}

impl State {
    fn set_predecessor(&mut self, predecessor: Option<NodeRef>) {
        if self.predecessor != predecessor {
            self.predecessor = predecessor;
            self.predecessor_since = Instant::now();
        }
    }
}

impl Node {
    /// A node alone on its ring, holding nothing, keeping each key on r nodes.
    pub fn new(me: NodeRef, ring: Ring, successors_wanted: usize) -> Node {
        Node::with_policy(
            me,
            ring,
            successors_wanted,
            KeyPolicy::new(successors_wanted),
        )
    }

    /// A node alone on its ring, with its own way of keeping keys.
    pub fn with_policy(
        me: NodeRef,
        ring: Ring,
        successors_wanted: usize,
        policy: KeyPolicy,
    ) -> Node {
        let mut fingers = vec![None; usize::from(ring.bits())];
        fingers[0] = Some(me);
        Node {
            me,
            ring,
            successors_wanted: successors_wanted.max(1),
            policy,
            state: Mutex::new(State {
                successors: vec![me],
                predecessor: None,
                predecessor_since: Instant::now(),
                fingers,
                next_finger: 0,
                store: Store::new(policy.limits),
                claims: HashMap::new(),
                joining: HashMap::new(),
                leaving: false,
            }),
        }
    }

    pub fn me(&self) -> NodeRef {
        self.me
    }

    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// The nearest successor (`me` when alone).
    pub fn successor(&self) -> NodeRef {
        self.state.lock().successors[0]
    }

    /// The successor list, nearest first.
    pub fn successors(&self) -> Vec<NodeRef> {
        self.state.lock().successors.clone()
    }

    pub fn predecessor(&self) -> Option<NodeRef> {
        self.state.lock().predecessor
    }

    /// A copy of the routing state.
    pub fn routing(&self) -> Routing {
        let state = self.state.lock();
        let fingers = (0..self.ring.bits())
            .map(|i| {
                (
                    self.ring.finger_start(self.me.id, i),
                    state.fingers[usize::from(i)],
                )
            })
            .collect();
        Routing {
            me: self.me,
            predecessor: state.predecessor,
            successors: state.successors.clone(),
            fingers,
        }
    }

    // ----- Routing -----

    /// One step of a lookup for `target`, using only what this node knows.
    ///
    /// The paper's `find_successor` on one node: if target is in (me, successor], the
    /// successor holds it. Otherwise, name the known nodes that precede target, closest
    /// to it first (the paper's `closest_preceding_node`, which returns only the first;
    /// the others are fallbacks in case it has failed).
    pub fn next_hop(&self, target: Id) -> Step {
        let ring = self.ring;
        let me = self.me.id;
        let state = self.state.lock();
        let successor = state.successors[0];
        if ring.in_open_closed(target, me, successor.id) {
            return Step::Found(successor);
        }
        let mut candidates: Vec<NodeRef> = state
            .fingers
            .iter()
            .flatten()
            .chain(state.successors.iter())
            .filter(|n| ring.in_open(n.id, me, target))
            .copied()
            .collect();
        drop(state);
        // The farther a node is from me, the closer it is to target (all precede it).
        candidates.sort_by_key(|n| std::cmp::Reverse(ring.distance(me, n.id)));
        candidates.dedup();
        candidates.truncate(MAX_CANDIDATES);
        Step::Next(candidates)
    }

    /// Drops a node that failed to answer from every table; it may be dead.
    ///
    /// A node that was only slow will be found again by stabilize and fix_fingers.
    pub fn forget(&self, dead: NodeRef) {
        if dead == self.me {
            return;
        }
        let mut state = self.state.lock();
        state.successors.retain(|n| *n != dead);
        if state.successors.is_empty() {
            // Every successor failed: the ring is broken here until someone notifies us.
            state.successors.push(self.me);
        }
        for finger in &mut state.fingers {
            if *finger == Some(dead) {
                *finger = None;
            }
        }
        state.fingers[0] = Some(state.successors[0]);
        if state.predecessor == Some(dead) {
            state.set_predecessor(None);
        }
    }

    // ----- Stabilisation -----

    /// Rebuilds the successor list from a successor and that successor's own list:
    /// `[successor] + their list`, cut at r entries and before we meet ourselves
    /// (in a small ring the list comes back round to us). Returns whether the nearest
    /// successor changed.
    pub fn adopt_successors(&self, successor: NodeRef, their_list: &[NodeRef]) -> bool {
        let mut list: Vec<NodeRef> = Vec::with_capacity(self.successors_wanted);
        for node in std::iter::once(&successor).chain(their_list) {
            if node.id == self.me.id || list.len() == self.successors_wanted {
                break;
            }
            if !list.contains(node) {
                list.push(*node);
            }
        }
        if list.is_empty() {
            list.push(self.me);
        }
        let mut state = self.state.lock();
        let changed = state.successors[0] != list[0];
        state.fingers[0] = Some(list[0]);
        state.successors = list;
        changed
    }

    /// The paper's `notify(n')`: n' thinks it might be our predecessor. We accept it if
    /// we have none, or if it lies between the one we have and us. Returns whether the
    /// predecessor changed.
    pub fn notify(&self, candidate: NodeRef) -> bool {
        if candidate.id == self.me.id {
            return false;
        }
        let mut state = self.state.lock();
        if self.id_reserved_for_another(&state, candidate) {
            return false;
        }
        let accept = match state.predecessor {
            None => true,
            Some(p) => self.ring.in_open(candidate.id, p.id, self.me.id),
        };
        if accept {
            state.set_predecessor(Some(candidate));
        }
        accept
    }

    /// check_predecessor found `p` dead: drop it, unless a NOTIFY replaced it meanwhile.
    pub fn clear_predecessor_if(&self, p: NodeRef) -> bool {
        let mut state = self.state.lock();
        if state.predecessor == Some(p) {
            state.set_predecessor(None);
            true
        } else {
            false
        }
    }

    /// The finger fix_fingers should refresh next, and where it starts.
    pub fn finger_to_fix(&self) -> (u8, Id) {
        let i = self.state.lock().next_finger;
        (i, self.ring.finger_start(self.me.id, i))
    }

    /// Records that `holder` is the first node at or after finger i's start.
    ///
    /// The following fingers whose start lies between finger i's start and `holder`
    /// have the same answer (no node sits in between), so they are filled too and
    /// skipped: a full refresh takes about as many rounds as there are distinct
    /// fingers (about log2 N), not m. The paper's join uses the same shortcut.
    pub fn record_finger(&self, i: u8, holder: NodeRef) {
        let ring = self.ring;
        let start_i = ring.finger_start(self.me.id, i);
        let reach = ring.distance(start_i, holder.id);
        let mut state = self.state.lock();
        let mut j = i;
        while j < ring.bits() {
            let start_j = ring.finger_start(self.me.id, j);
            if j > i && ring.distance(start_i, start_j) > reach {
                break;
            }
            state.fingers[usize::from(j)] = Some(holder);
            j += 1;
        }
        // Finger 0 is the successor, which stabilize owns: keep them in step.
        state.fingers[0] = Some(state.successors[0]);
        state.next_finger = if j >= ring.bits() { 0 } else { j };
    }

    /// Our predecessor `leaving` is leaving; its own predecessor becomes ours.
    pub fn predecessor_leaves(&self, leaving: Id, replacement: Option<NodeRef>) -> bool {
        let mut state = self.state.lock();
        if state.predecessor.map(|p| p.id) != Some(leaving) {
            return false;
        }
        state.set_predecessor(replacement.filter(|p| p.id != self.me.id));
        true
    }

    /// Our successor `leaving` is leaving; its successor list replaces ours.
    pub fn successor_leaves(&self, leaving: Id, their_list: &[NodeRef]) -> bool {
        let Some((first, rest)) = their_list.split_first() else {
            return false;
        };
        {
            let mut state = self.state.lock();
            if state.successors[0].id != leaving {
                return false;
            }
            // Fingers that named the leaving node now name its successor, which takes
            // over its keys: that is exactly who succeeds those finger starts.
            for finger in &mut state.fingers {
                if finger.is_some_and(|f| f.id == leaving) {
                    *finger = Some(*first);
                }
            }
        }
        self.adopt_successors(*first, rest);
        true
    }
}

#[cfg(test)]
mod tests;
