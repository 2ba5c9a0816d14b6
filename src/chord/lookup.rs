//! The lookup: which node is the successor of an identifier, and how we found out.
//!
//! Why iterative, driven by the node that was asked: that node asks one node after
//! another "what do you know about id?" (NEXT_HOP) and each answer either names the
//! successor or names nodes closer to it. Every hop is then a call made by one
//! thread, so it is easy to count honestly, to log, and to draw on the board. (The
//! paper's pseudo-code is recursive; it visits the same nodes in the same order.)
//!
//! Why a [`Transport`] trait: the driver below is the whole algorithm, and with a fake
//! transport the unit tests can make any node fail or lie without opening a socket.

use log::{debug, warn};

use super::error::Error;
use super::id::Id;
use super::node::Node;
use super::routing::{NodeRef, Step};

/// A lookup gives up after this many calls: far more than any healthy ring needs
/// (about log2 N), so reaching it means the ring is badly broken or someone lies.
pub const MAX_CALLS: usize = 256;

/// How a lookup went: the answer, and the path to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The id looked up.
    pub target: Id,
    /// The node that asked (and drove) the lookup.
    pub origin: NodeRef,
    /// The successor of `target`: the node that holds it.
    pub holder: NodeRef,
    /// The nodes that answered a NEXT_HOP, in order. Their number is the hop count.
    pub path: Vec<NodeRef>,
    /// Nodes that were tried and did not answer (they are skipped, and forgotten).
    pub dead: Vec<NodeRef>,
}

impl Lookup {
    /// The number of hops: nodes other than the origin that were asked and answered.
    /// 0 when the origin's own successor holds the id.
    pub fn hops(&self) -> usize {
        self.path.len()
    }
}

/// How the driver asks another node for its next step.
pub trait Transport {
    fn next_hop(&mut self, node: NodeRef, target: Id) -> Result<Step, Error>;

    /// The successor list of `node`, for when every node it named is dead. A transport
    /// that cannot ask says nothing, and the lookup then fails as it would without.
    fn successors(&mut self, node: NodeRef) -> Result<Vec<NodeRef>, Error> {
        let _ = node;
        Ok(Vec::new())
    }
}

/// Finds the successor of `target`, starting from `node`'s own tables.
///
/// Each step must make progress: a candidate is only asked if it lies strictly
/// between the node we are at and the target. So the distance to the target shrinks
/// at every hop and the loop ends, even when some node answers nonsense.
pub fn find_successor(
    node: &Node,
    target: Id,
    transport: &mut dyn Transport,
) -> Result<Lookup, Error> {
    let ring = node.ring();
    let origin = node.me();
    let mut at = origin;
    let mut step = node.next_hop(target);
    let mut path = Vec::new();
    let mut dead: Vec<NodeRef> = Vec::new();
    let mut calls = 0;
    loop {
        let candidates = match step {
            Step::Found(holder) => {
                debug!(
                    "{origin}: lookup {target} -> {holder} in {} hops",
                    path.len()
                );
                return Ok(Lookup {
                    target,
                    origin,
                    holder,
                    path,
                    dead,
                });
            }
            Step::Next(candidates) => candidates,
        };
        let mut next = None;
        for candidate in candidates {
            if !ring.in_open(candidate.id, at.id, target) || dead.contains(&candidate) {
                continue;
            }
            calls += 1;
            if calls > MAX_CALLS {
                return Err(Error::NoRoute {
                    target,
                    detail: format!("gave up after {MAX_CALLS} calls"),
                });
            }
            // Our own node can appear in another node's answer: ask ourselves locally.
            let answer = if candidate == origin {
                Ok(node.next_hop(target))
            } else {
                transport.next_hop(candidate, target)
            };
            match answer {
                Ok(answer) => {
                    next = Some((candidate, answer));
                    break;
                }
                Err(e) => {
                    warn!("{origin}: lookup {target}: skipping {candidate}: {e}");
                    if !matches!(e, Error::Refused { .. }) {
                        node.forget(candidate);
                    }
                    dead.push(candidate);
                }
            }
        }
        let Some((candidate, answer)) = next else {
            // Every node that `at` named is dead (it has not noticed yet). Its successor
            // list goes past them: the first entry not known dead either holds the
            // target (the dead ones in between no longer count) or is closer to it.
            let list = if at == origin {
                node.successors()
            } else {
                transport.successors(at).unwrap_or_default()
            };
            let after = list.into_iter().find(|s| *s != at && !dead.contains(s));
            match after {
                Some(s) if ring.in_open_closed(target, at.id, s.id) => {
                    return Ok(Lookup {
                        target,
                        origin,
                        holder: s,
                        path,
                        dead,
                    });
                }
                Some(s) if ring.in_open(s.id, at.id, target) && s != origin => {
                    calls += 1;
                    if let Ok(answer) = transport.next_hop(s, target) {
                        path.push(s);
                        at = s;
                        step = answer;
                        continue;
                    }
                    dead.push(s);
                }
                _ => {}
            }
            return Err(Error::NoRoute {
                target,
                detail: format!("no node that {at} knows before it answered"),
            });
        };
        path.push(candidate);
        at = candidate;
        step = answer;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chord::testing::{n, ring};
    use std::collections::{BTreeSet, HashMap};
    use std::io;

    /// The paper's ring, every node with correct tables.
    const IDS: [u64; 10] = [1, 8, 14, 21, 32, 38, 42, 48, 51, 56];

    fn successor_of(x: u64) -> u64 {
        IDS.iter().copied().find(|&id| id >= x).unwrap_or(IDS[0])
    }

    fn build(id: u64) -> Node {
        let node = Node::new(n(id), ring(), 3);
        let pos = IDS.iter().position(|&x| x == id).unwrap();
        let succs: Vec<NodeRef> = (1..=3).map(|k| n(IDS[(pos + k) % IDS.len()])).collect();
        node.adopt_successors(succs[0], &succs[1..]);
        for i in 0..6 {
            let start = ring().finger_start(n(id).id, i).value();
            node.record_finger(i, n(successor_of(start)));
        }
        node
    }

    /// A transport over in-memory nodes, some of which are dead.
    struct Fake {
        nodes: HashMap<u64, Node>,
        dead: BTreeSet<u64>,
        calls: usize,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                nodes: IDS.iter().map(|&id| (id, build(id))).collect(),
                dead: BTreeSet::new(),
                calls: 0,
            }
        }
    }

    impl Transport for Fake {
        fn next_hop(&mut self, node: NodeRef, target: Id) -> Result<Step, Error> {
            self.calls += 1;
            if self.dead.contains(&node.id.value()) {
                return Err(Error::Unreachable {
                    peer: node.addr.to_string(),
                    source: io::Error::from(io::ErrorKind::ConnectionRefused),
                });
            }
            Ok(self.nodes[&node.id.value()].next_hop(target))
        }
    }

    #[test]
    fn the_paper_lookup_of_key_54_from_node_8() {
        let mut fake = Fake::new();
        let node = build(8);
        let lookup = find_successor(&node, ring().id(54).unwrap(), &mut fake).unwrap();
        // 8 -> 42 -> 51 -> 56, as in the paper's figure 3(b).
        assert_eq!(lookup.holder, n(56));
        assert_eq!(lookup.path, [n(42), n(51)]);
        assert_eq!(lookup.hops(), 2);
        assert_eq!(fake.calls, 2);
    }

    #[test]
    fn every_lookup_from_every_node_is_right() {
        let mut fake = Fake::new();
        for &from in &IDS {
            let node = build(from);
            for target in 0..64 {
                let lookup = find_successor(&node, ring().id(target).unwrap(), &mut fake).unwrap();
                assert_eq!(lookup.holder, n(successor_of(target)), "{from} -> {target}");
                assert!(lookup.hops() <= 6, "{from} -> {target}: {lookup:?}");
            }
        }
    }

    #[test]
    fn dead_fingers_are_skipped_and_forgotten() {
        let mut fake = Fake::new();
        fake.dead.insert(42);
        let node = build(8);
        let lookup = find_successor(&node, ring().id(54).unwrap(), &mut fake).unwrap();
        assert_eq!(lookup.holder, n(56));
        assert_eq!(lookup.dead, [n(42)]);
        assert_eq!(lookup.path[0], n(32), "the next best finger");
        assert!(
            node.routing()
                .fingers
                .iter()
                .all(|(_, f)| *f != Some(n(42)))
        );
    }

    #[test]
    fn a_lookup_with_every_way_dead_fails_cleanly() {
        let mut fake = Fake::new();
        fake.dead.extend([14, 21, 32, 42]);
        let node = build(8);
        let err = find_successor(&node, ring().id(54).unwrap(), &mut fake).unwrap_err();
        assert!(matches!(err, Error::NoRoute { .. }), "{err}");
    }

    /// A node that always answers "ask me again" (or sends us backwards) cannot keep
    /// a lookup going: candidates that make no progress are ignored.
    #[test]
    fn answers_that_make_no_progress_are_ignored() {
        struct Liar;
        impl Transport for Liar {
            fn next_hop(&mut self, node: NodeRef, _target: Id) -> Result<Step, Error> {
                Ok(Step::Next(vec![node, n(9), n(2)]))
            }
        }
        let node = build(8);
        let err = find_successor(&node, ring().id(54).unwrap(), &mut Liar).unwrap_err();
        assert!(matches!(err, Error::NoRoute { .. }), "{err}");
    }
}
