//! One node's state: where it sits on the ring, whom it knows, and the keys it keeps.
//!
//! Why a handle with a private lock: the connection threads and the maintenance thread
//! all read and change this state. Callers see methods that each take the lock, copy
//! or change a little, and let go; nobody outside this file sees the mutex.
//!
//! # Lock discipline
//! - One lock, [`Node::state`], so there is no lock order to get wrong.
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
//! tested below without any sockets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use parking_lot::Mutex;

use super::id::{Id, Ring};
use super::lookup::Step;
use crate::protocol::{ErrorCode, Refusal};

/// At most this many candidates in a [`Step::Next`]: enough to route around a few dead
/// nodes, few enough to keep a NEXT_HOP reply short.
pub const MAX_CANDIDATES: usize = 8;

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

/// What a leaving node takes with it when it starts to leave.
#[derive(Debug)]
pub struct Departure {
    pub predecessor: Option<NodeRef>,
    pub successors: Vec<NodeRef>,
    pub keys: Vec<(String, String)>,
}

/// One Chord node's shared state.
pub struct Node {
    /// This node: fixed for its whole life.
    me: NodeRef,
    /// The identifier ring, the same for every node of a ring.
    ring: Ring,
    /// r, the length of the successor list: the ring survives r - 1 adjacent failures.
    successors_wanted: usize,
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
    /// one does, or after it stops answering. Never `me`.
    predecessor: Option<NodeRef>,
    /// m entries; entry i is the first node at or after me + 2^i, as last learnt.
    /// Entry 0 is always the successor. `None`: not learnt yet, or forgotten.
    fingers: Vec<Option<NodeRef>>,
    /// The finger that fix_fingers refreshes next (the paper's `next`).
    next_finger: u8,
    /// The keys this node keeps. Its own are those whose id is in (predecessor, me].
    store: BTreeMap<String, String>,
    /// Set when LEAVE starts: from then on, STORE is refused, so no key arrives after
    /// the keys have been handed over.
    leaving: bool,
}

impl Node {
    /// A node alone on its ring, holding nothing.
    pub fn new(me: NodeRef, ring: Ring, successors_wanted: usize) -> Node {
        let mut fingers = vec![None; usize::from(ring.bits())];
        fingers[0] = Some(me);
        Node {
            me,
            ring,
            successors_wanted: successors_wanted.max(1),
            state: Mutex::new(State {
                successors: vec![me],
                predecessor: None,
                fingers,
                next_finger: 0,
                store: BTreeMap::new(),
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
            state.predecessor = None;
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
        let accept = match state.predecessor {
            None => true,
            Some(p) => self.ring.in_open(candidate.id, p.id, self.me.id),
        };
        if accept {
            state.predecessor = Some(candidate);
        }
        accept
    }

    /// check_predecessor found `p` dead: drop it, unless a NOTIFY replaced it meanwhile.
    pub fn clear_predecessor_if(&self, p: NodeRef) -> bool {
        let mut state = self.state.lock();
        if state.predecessor == Some(p) {
            state.predecessor = None;
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

    // ----- Keys -----

    /// Keeps a key here. Refused once the node has started to leave.
    pub fn store(&self, key: String, value: String) -> Result<(), Refusal> {
        let mut state = self.state.lock();
        if state.leaving {
            return Err(Refusal::new(
                ErrorCode::Internal,
                "this node is leaving the ring: retry in a moment",
            ));
        }
        state.store.insert(key, value);
        Ok(())
    }

    /// A key kept here.
    pub fn fetch(&self, key: &str) -> Option<String> {
        self.state.lock().store.get(key).cloned()
    }

    /// Every key kept here with its id, in id order (the order of the ring).
    pub fn keys(&self) -> Vec<(Id, String, String)> {
        let copy: Vec<(String, String)> = self
            .state
            .lock()
            .store
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Hash outside the lock: it is the slow part.
        let mut keys: Vec<(Id, String, String)> = copy
            .into_iter()
            .map(|(k, v)| (self.ring.key_id(&k), k, v))
            .collect();
        keys.sort();
        keys
    }

    /// Up to `limit` keys kept here that are not ours: their id is outside
    /// (predecessor, me]. They arrived before a node joined between our predecessor and
    /// us, or during a concurrent join; maintenance moves them to their successor.
    pub fn misplaced_keys(&self, limit: usize) -> Vec<(Id, String, String)> {
        let Some(predecessor) = self.predecessor() else {
            // Without a predecessor we cannot tell which keys are ours: keep them all.
            return Vec::new();
        };
        self.keys()
            .into_iter()
            .filter(|(id, _, _)| !self.ring.in_open_closed(*id, predecessor.id, self.me.id))
            .take(limit)
            .collect()
    }

    /// Removes a key that was handed to another node, unless it changed meanwhile
    /// (a PUT after the copy): then the new value stays, and moves next round.
    pub fn remove_if_unchanged(&self, key: &str, value: &str) -> bool {
        let mut state = self.state.lock();
        if state.store.get(key).is_some_and(|v| v == value) {
            state.store.remove(key);
            true
        } else {
            false
        }
    }

    // ----- Leaving -----

    /// Starts a graceful leave: no more STOREs, and a copy of what must be handed over.
    /// `None` if a leave has already started (a second LEAVE must not hand over twice).
    pub fn begin_leaving(&self) -> Option<Departure> {
        let mut state = self.state.lock();
        if state.leaving {
            return None;
        }
        state.leaving = true;
        Some(Departure {
            predecessor: state.predecessor,
            successors: state.successors.clone(),
            keys: state
                .store
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Our predecessor `leaving` is leaving; its own predecessor becomes ours.
    pub fn predecessor_leaves(&self, leaving: Id, replacement: Option<NodeRef>) -> bool {
        let mut state = self.state.lock();
        if state.predecessor.map(|p| p.id) != Some(leaving) {
            return false;
        }
        state.predecessor = replacement.filter(|p| p.id != self.me.id);
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
mod tests {
    use super::*;
    use crate::chord::testing::{n, ring};

    fn id(v: u64) -> Id {
        ring().id(v).unwrap()
    }

    /// The paper's figure: nodes 1, 8, 14, 21, 32, 38, 42, 48, 51, 56 on a 6-bit ring,
    /// seen from node 8 with a correct finger table.
    fn node_8() -> Node {
        let node = Node::new(n(8), ring(), 3);
        node.adopt_successors(n(14), &[n(21), n(32)]);
        node.notify(n(1));
        // Fingers of 8: starts 9, 10, 12, 16, 24, 40 -> 14, 14, 14, 21, 32, 42.
        node.record_finger(0, n(14));
        node.record_finger(3, n(21));
        node.record_finger(4, n(32));
        node.record_finger(5, n(42));
        node
    }

    #[test]
    fn a_new_node_is_alone_and_holds_everything() {
        let node = Node::new(n(8), ring(), 3);
        assert_eq!(node.successors(), [n(8)]);
        assert_eq!(node.next_hop(id(3)), Step::Found(n(8)));
        assert_eq!(node.next_hop(id(8)), Step::Found(n(8)));
    }

    #[test]
    fn the_finger_table_of_the_paper() {
        let routing = node_8().routing();
        let fingers: Vec<(u64, u64)> = routing
            .fingers
            .iter()
            .map(|(start, f)| (start.value(), f.unwrap().id.value()))
            .collect();
        assert_eq!(
            fingers,
            [(9, 14), (10, 14), (12, 14), (16, 21), (24, 32), (40, 42)]
        );
    }

    #[test]
    fn record_finger_fills_the_fingers_with_the_same_answer() {
        let node = Node::new(n(8), ring(), 3);
        node.adopt_successors(n(14), &[]);
        // succ(9) = 14 also answers starts 10 and 12, but not 16.
        node.record_finger(0, n(14));
        assert_eq!(node.finger_to_fix(), (3, id(16)));
        let fingers = node.routing().fingers;
        assert_eq!(fingers[2].1, Some(n(14)));
        assert_eq!(fingers[3].1, None);
        // The last finger wraps next_finger back to 0.
        node.record_finger(5, n(42));
        assert_eq!(node.finger_to_fix().0, 0);
        // Alone, the node itself answers every start: one round fills the table.
        let alone = Node::new(n(8), ring(), 3);
        alone.record_finger(0, n(8));
        assert!(
            alone
                .routing()
                .fingers
                .iter()
                .all(|(_, f)| *f == Some(n(8)))
        );
    }

    #[test]
    fn next_hop_answers_from_the_successor_or_points_closer() {
        let node = node_8();
        // 10 and 14 are in (8, 14]: the successor holds them.
        assert_eq!(node.next_hop(id(10)), Step::Found(n(14)));
        assert_eq!(node.next_hop(id(14)), Step::Found(n(14)));
        // 54: the closest preceding finger is 42, then 32, 21, 14.
        assert_eq!(
            node.next_hop(id(54)),
            Step::Next(vec![n(42), n(32), n(21), n(14)])
        );
        // 3 (wrapping past 0): every finger precedes it, 42 first.
        assert_eq!(node.next_hop(id(3)).candidates()[0], n(42));
        // 8 itself: the lookup must go round to 8's predecessor.
        assert_eq!(node.next_hop(id(8)).candidates()[0], n(42));
        // 30: 21 is the closest preceding node, 32 must not be named.
        assert_eq!(node.next_hop(id(30)), Step::Next(vec![n(21), n(14)]));
    }

    #[test]
    fn notify_accepts_only_a_closer_predecessor() {
        let node = Node::new(n(32), ring(), 3);
        assert!(node.notify(n(14)));
        assert!(node.notify(n(21)), "21 is in (14, 32)");
        assert!(!node.notify(n(14)), "14 is not in (21, 32)");
        assert!(!node.notify(n(40)), "40 is not in (21, 32)");
        assert!(!node.notify(n(32)), "never our own predecessor");
        assert_eq!(node.predecessor(), Some(n(21)));
        assert!(!node.clear_predecessor_if(n(14)));
        assert!(node.clear_predecessor_if(n(21)));
        assert_eq!(node.predecessor(), None);
    }

    #[test]
    fn successor_lists_stop_at_r_and_before_coming_back_round() {
        let node = Node::new(n(8), ring(), 3);
        assert!(node.adopt_successors(n(14), &[n(21), n(32), n(38)]));
        assert_eq!(node.successors(), [n(14), n(21), n(32)]);
        // A ring of two: the successor's list is [me], which is dropped.
        assert!(!node.adopt_successors(n(14), &[n(8), n(14)]));
        assert_eq!(node.successors(), [n(14)]);
        // Duplicates (a list that repeats while a ring forms) are dropped.
        node.adopt_successors(n(14), &[n(14), n(21), n(21)]);
        assert_eq!(node.successors(), [n(14), n(21)]);
        assert_eq!(node.routing().fingers[0].1, Some(n(14)));
    }

    #[test]
    fn forget_removes_a_dead_node_everywhere() {
        let node = node_8();
        node.forget(n(14));
        assert_eq!(node.successors(), [n(21), n(32)]);
        let routing = node.routing();
        assert_eq!(routing.fingers[0].1, Some(n(21)));
        assert_eq!(routing.fingers[1].1, None);
        // Losing every successor leaves the node alone rather than with no successor.
        node.forget(n(21));
        node.forget(n(32));
        assert_eq!(node.successors(), [n(8)]);
        node.forget(n(1));
        assert_eq!(node.predecessor(), None);
    }

    #[test]
    fn keys_outside_predecessor_to_me_are_misplaced() {
        let node = Node::new(n(32), ring(), 3);
        for k in 0..40 {
            node.store(format!("k{k}"), "v".into()).unwrap();
        }
        // No predecessor: nothing can be called misplaced.
        assert!(node.misplaced_keys(100).is_empty());
        node.notify(n(14));
        let misplaced = node.misplaced_keys(100);
        assert!(!misplaced.is_empty());
        for (key_id, _, _) in &misplaced {
            assert!(!ring().in_open_closed(*key_id, id(14), id(32)));
        }
        let kept = node.keys().len() - misplaced.len();
        let ours = node
            .keys()
            .iter()
            .filter(|(k, _, _)| ring().in_open_closed(*k, id(14), id(32)))
            .count();
        assert_eq!(kept, ours);
        assert_eq!(node.misplaced_keys(2).len(), 2);
    }

    #[test]
    fn remove_if_unchanged_keeps_a_newer_value() {
        let node = Node::new(n(8), ring(), 3);
        node.store("k".into(), "old".into()).unwrap();
        node.store("k".into(), "new".into()).unwrap();
        assert!(!node.remove_if_unchanged("k", "old"));
        assert!(node.remove_if_unchanged("k", "new"));
        assert_eq!(node.fetch("k"), None);
    }

    #[test]
    fn leaving_refuses_stores_and_hands_over_state() {
        let node = node_8();
        node.store("a".into(), "1".into()).unwrap();
        let departure = node.begin_leaving().unwrap();
        assert!(node.begin_leaving().is_none(), "only one leave");
        assert_eq!(departure.keys, [("a".to_string(), "1".to_string())]);
        assert_eq!(departure.predecessor, Some(n(1)));
        assert_eq!(departure.successors, [n(14), n(21), n(32)]);
        assert!(node.store("b".into(), "2".into()).is_err());
    }

    #[test]
    fn neighbours_of_a_leaving_node_skip_it() {
        // 8's successor 14 leaves, naming its successors 21, 32, 38.
        let node = node_8();
        assert!(
            !node.successor_leaves(id(21), &[n(32)]),
            "21 is not our successor"
        );
        assert!(node.successor_leaves(id(14), &[n(21), n(32), n(38)]));
        assert_eq!(node.successors(), [n(21), n(32), n(38)]);
        let fingers = node.routing().fingers;
        assert!(fingers[..4].iter().all(|(_, f)| *f == Some(n(21))));
        // 8's predecessor 1 leaves, naming its predecessor 56.
        assert!(!node.predecessor_leaves(id(56), None));
        assert!(node.predecessor_leaves(id(1), Some(n(56))));
        assert_eq!(node.predecessor(), Some(n(56)));
    }
}
