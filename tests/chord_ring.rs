//! A ring of 32 nodes, started in this process: it stabilises into the ring of the
//! sorted ids, every lookup finds the right node, and lookups take about ½·log2 N hops.

mod support;

use std::time::Duration;

use support::chord::*;
use support::*;

const NODES: usize = 32;
const LOOKUPS: usize = 1000;

#[test]
fn a_ring_of_32_stabilises_and_every_lookup_finds_the_successor() {
    let mut rng = Rng::new(0xC0DE);
    let base = config(40);
    let nodes = start_ring(NODES, &base, &mut rng);
    let sorted = sorted(&nodes);

    wait_until(Duration::from_secs(30), || {
        check_ring(&sorted, base.successors)
    })
    .expect("successors and predecessors match the sorted ids");
    wait_until(Duration::from_secs(30), || check_fingers(&sorted))
        .expect("every finger names the successor of its start");

    let mean_hops = check_lookups(&sorted, LOOKUPS, &mut rng);
    let bound = 0.5 * (NODES as f64).log2() + 1.0;
    eprintln!("{LOOKUPS} lookups on {NODES} nodes: mean {mean_hops:.2} hops (bound {bound})");
    assert!(
        mean_hops <= bound,
        "mean hops {mean_hops:.2} above ½·log2 N + 1 = {bound}"
    );
    // A lookup that never left its origin would also be "correct": make sure the
    // fingers were really used (0 hops for every key is not Chord).
    assert!(
        mean_hops >= 1.0,
        "mean hops {mean_hops:.2} is suspiciously low"
    );

    for node in nodes {
        node.shutdown();
    }
}
