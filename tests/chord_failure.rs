//! The ring survives the abrupt failure of a quarter of its nodes, in runs of up to
//! r - 1 adjacent ones: once stabilisation has repaired the successor pointers,
//! lookups are 100% correct again, even though many fingers still name dead nodes.

mod support;

use std::collections::HashSet;
use std::net::TcpStream;
use std::time::Duration;

use support::chord::*;
use support::*;

const NODES: usize = 32;
const LOOKUPS: usize = 1000;

#[test]
fn lookups_are_right_again_after_a_quarter_of_the_nodes_crash() {
    let mut rng = Rng::new(0xDEAD);
    let base = config(40);
    let nodes = start_ring(NODES, &base, &mut rng);
    let before = sorted(&nodes);
    wait_until(Duration::from_secs(30), || {
        check_ring(&before, base.successors)
    })
    .expect("the ring is stable");
    wait_until(Duration::from_secs(30), || check_fingers(&before)).expect("the fingers are right");

    // Kill 8 of 32 in the ring order, in runs of r - 1 = 2 adjacent nodes: positions
    // 0-1, 8-9, 16-17, 24-25. Each dead run leaves live nodes on both sides, so every
    // node still has a live entry in its successor list of 3.
    let r = base.successors;
    let doomed: HashSet<_> = [0, 1, 8, 9, 16, 17, 24, 25]
        .iter()
        .map(|&i| before[i])
        .collect();
    assert_eq!(doomed.len(), NODES / 4);
    let (dead, alive): (Vec<_>, Vec<_>) = nodes.into_iter().partition(|n| doomed.contains(&n.me()));
    for node in dead {
        let addr = node.local_addr();
        node.shutdown(); // no LEAVE: to the ring, this node crashed
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "a stopped node must not accept connections"
        );
    }
    let after = sorted(&alive);
    let longest_run = (0..NODES)
        .map(|i| {
            (0..NODES)
                .take_while(|k| doomed.contains(&before[(i + k) % NODES]))
                .count()
        })
        .max();
    assert!(
        longest_run <= Some(r - 1),
        "the test kills at most r - 1 adjacent nodes"
    );

    wait_until(Duration::from_secs(30), || {
        check_ring(&after, base.successors)
    })
    .expect("the survivors' ring is stable");
    // Do not wait for the fingers: lookups must be right with stale fingers too.
    let mean_hops = check_lookups(&after, LOOKUPS, &mut rng);
    eprintln!(
        "{LOOKUPS} lookups on {} survivors: mean {mean_hops:.2} hops",
        after.len()
    );

    for node in alive {
        node.shutdown();
    }
}
