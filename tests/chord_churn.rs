//! Joins and graceful leaves move keys, and lose none: after 8 nodes join a ring of
//! 32 and 4 leave it, every key stored before is still readable, and lives on its
//! successor and the next r - 1 nodes, exactly once each.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::chord::*;
use support::*;

const NODES: usize = 32;
const JOINS: usize = 8;
const LEAVES: usize = 4;
const KEYS: usize = 400;

#[test]
fn joins_and_graceful_leaves_keep_every_key_on_its_successor() {
    let mut rng = Rng::new(0x5EED);
    let base = config(40);
    let mut nodes = start_ring(NODES, &base, &mut rng);
    wait_until(Duration::from_secs(30), || {
        check_ring(&sorted(&nodes), base.successors)
    })
    .expect("the first ring is stable");

    // PUT through random nodes; each PUT reports where it stored the key.
    let mut want = BTreeMap::new();
    let before = sorted(&nodes);
    for i in 0..KEYS {
        let key = format!("clé-{i}");
        let value = format!("valor {i} ✓");
        let from = &before[rng.below(before.len())];
        let lookup = peer(from).put(&key, &value).expect("PUT");
        assert_eq!(lookup.holder, successor_of(&before, ring().key_id(&key)));
        want.insert(key, value);
    }
    wait_until(Duration::from_secs(30), || {
        check_replicas(&before, &want, base.successors)
    })
    .expect("every key on its r holders before any join");

    // Eight joins, one after the other without waiting: concurrent stabilisation.
    for _ in 0..JOINS {
        let node = join_one(&nodes, &base, &mut rng);
        nodes.push(node);
    }
    let after_joins = sorted(&nodes);
    assert_eq!(after_joins.len(), NODES + JOINS);
    wait_until(Duration::from_secs(30), || {
        check_ring(&after_joins, base.successors)
    })
    .expect("the ring with the joiners is stable");
    wait_until(Duration::from_secs(30), || {
        check_replicas(&after_joins, &want, base.successors)
    })
    .expect("keys moved to the joiners");

    // Four graceful leaves, through the LEAVE verb; each node stops by itself.
    for _ in 0..LEAVES {
        let node = nodes.remove(rng.below(nodes.len()));
        let said = peer(&node.me()).leave().expect("LEAVE");
        assert!(said.contains("left the ring"), "{said}");
        node.wait();
    }
    let after_leaves = sorted(&nodes);
    wait_until(Duration::from_secs(30), || {
        check_ring(&after_leaves, base.successors)
    })
    .expect("the ring without the leavers is stable");
    wait_until(Duration::from_secs(30), || {
        check_replicas(&after_leaves, &want, base.successors)
    })
    .expect("every key is on its r holders");

    // And every key reads back, from any node.
    for (key, value) in &want {
        let from = &after_leaves[rng.below(after_leaves.len())];
        let (got, lookup) = peer(from).get(key).expect("GET");
        assert_eq!(&got, value, "GET {key:?}");
        assert_eq!(
            lookup.holder,
            successor_of(&after_leaves, ring().key_id(key))
        );
    }

    for node in nodes {
        node.shutdown();
    }
}
