//! The rules of one node, on the paper's ring of 6 bits, without any sockets.

use super::*;
use crate::chord::routing::Step;
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
