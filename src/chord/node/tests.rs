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

/// How long claims last in these tests: far longer than a test takes.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

fn settled(me: u64, replicas: usize) -> Node {
    let mut policy = KeyPolicy::new(replicas);
    policy.settle = SETTLE;
    Node::with_policy(n(me), ring(), 3, policy)
}

/// Pretends the predecessor was set `SETTLE` ago, so that orphans show now (the
/// tests are inside `node`, so they may reach its state).
fn age_predecessor(node: &Node) {
    let mut state = node.state.lock();
    if let Some(then) = std::time::Instant::now().checked_sub(SETTLE) {
        state.predecessor_since = then;
    }
}

#[test]
fn keys_are_primary_in_predecessor_to_me_and_replica_elsewhere() {
    let node = settled(32, 3);
    for k in 0..200 {
        node.write(&format!("k{k}"), "v".into()).unwrap();
    }
    // No predecessor: the node cannot tell, so it calls every key its own.
    assert!(node.keys().iter().all(|k| k.role == Role::Primary));
    assert!(node.orphans(100).is_empty());
    node.notify(n(14));
    assert!(
        node.orphans(100).is_empty(),
        "not before the predecessor has settled"
    );
    age_predecessor(&node);
    for key in node.keys() {
        let ours = ring().in_open_closed(key.id, id(14), id(32));
        assert_eq!(key.role == Role::Primary, ours, "{key:?}");
    }
    // Keys outside (14, 32] and unclaimed are orphans, to be given back.
    let orphans = node.orphans(100);
    assert!(!orphans.is_empty());
    assert!(
        orphans
            .iter()
            .all(|(k, _, _)| !ring().in_open_closed(*k, id(14), id(32)))
    );
    assert_eq!(node.orphans(2).len(), 2);
    // A primary before us claims (8, 14]: those keys are replicas, not orphans.
    node.accept_claim(id(8), id(14)).unwrap();
    let claimed = |k: &Id| ring().in_open_closed(*k, id(8), id(14));
    assert!(
        orphans.iter().any(|(k, _, _)| claimed(k)),
        "some keys in (8, 14]"
    );
    assert!(node.orphans(100).iter().all(|(k, _, _)| !claimed(k)));
}

#[test]
fn a_claim_over_this_node_is_refused() {
    let node = settled(32, 3);
    // (14, 40] contains 32: no primary before us holds our own keys.
    assert!(node.accept_claim(id(14), id(40)).is_err());
    assert!(node.accept_claim(id(20), id(32)).is_err());
    assert!(
        node.accept_claim(id(5), id(5)).is_err(),
        "(5, 5] is the whole ring"
    );
    assert!(node.accept_claim(id(14), id(21)).is_ok());
}

#[test]
fn writes_get_rising_versions_and_stale_copies_lose() {
    let node = settled(8, 3);
    let v1 = node.write("k", "one".into()).unwrap();
    let v2 = node.write("k", "two".into()).unwrap();
    assert!(v2 > v1, "{v2} after {v1}");
    assert_eq!(v2.writer, 8);
    assert_eq!(node.merge_copy("k", v1, "one".into()), Ok(false));
    assert_eq!(node.fetch("k"), Some(("two".to_string(), v2)));
    let from_the_future = crate::chord::version::Version {
        stamp: u64::MAX,
        writer: 1,
    };
    assert!(
        node.merge_copy("k", from_the_future, "pinned".into())
            .is_err()
    );
    assert!(!node.remove_if_version("k", v1));
    assert!(node.remove_if_version("k", v2));
    assert_eq!(node.fetch("k"), None);
}

#[test]
fn replica_targets_are_the_first_r_minus_one_successors() {
    let node = node_8();
    assert_eq!(node.replica_targets(), [n(14), n(21)]);
    let single = Node::with_policy(n(8), ring(), 3, KeyPolicy::new(1));
    single.adopt_successors(n(14), &[n(21)]);
    assert!(single.replica_targets().is_empty(), "r = 1: no copies");
    assert!(
        Node::new(n(8), ring(), 3).replica_targets().is_empty(),
        "alone"
    );
}

#[test]
fn leaving_refuses_stores_and_copies() {
    let node = node_8();
    let v = node.write("a", "1".into()).unwrap();
    let departure = node.begin_leaving().unwrap();
    assert!(node.begin_leaving().is_none(), "only one leave");
    assert_eq!(departure.predecessor, Some(n(1)));
    assert_eq!(departure.successors, [n(14), n(21), n(32)]);
    let refused = node.write("b", "2".into()).unwrap_err();
    assert_eq!(refused.code, crate::protocol::ErrorCode::Busy, "retryable");
    assert!(node.merge_copy("a", v, "1".into()).is_err());
    assert_eq!(node.fetch("a").map(|(v, _)| v), Some("1".to_string()));
}

#[test]
fn one_id_one_node_even_when_two_join_at_once() {
    let node = node_8();
    let other = |port: u16| NodeRef {
        id: id(5),
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    };
    assert!(node.reserve_join(other(9005)).is_ok());
    assert!(
        node.reserve_join(other(9005)).is_ok(),
        "the same node again"
    );
    assert!(
        node.reserve_join(other(9006)).is_err(),
        "same id, another address"
    );
    assert!(node.reserve_join(n(8)).is_err(), "our own id");
    assert!(node.reserve_join(n(1)).is_ok(), "our predecessor itself");
    // NOTIFY obeys the reservation.
    node.clear_predecessor_if(n(1));
    assert!(!node.notify(other(9006)));
    assert!(node.notify(other(9005)));
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
