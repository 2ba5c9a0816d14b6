//! Joins and graceful leaves move keys, and lose none: after 8 nodes join a ring of
//! 32 and 4 leave it, every key stored before is still readable, and lives on its
//! successor, exactly once.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use feira::chord::NodeRef;
use support::chord::*;
use support::*;

const NODES: usize = 32;
const JOINS: usize = 8;
const LEAVES: usize = 4;
const KEYS: usize = 400;

/// Does every key live on its successor, exactly once, with its value?
fn check_placement(sorted: &[NodeRef], want: &BTreeMap<String, String>) -> Result<(), String> {
    let mut seen: BTreeMap<String, NodeRef> = BTreeMap::new();
    for node in sorted {
        let keys = peer(node).keys().map_err(|e| e.to_string())?;
        for (id, key, value) in keys {
            if let Some(other) = seen.insert(key.clone(), *node) {
                return Err(format!("{key:?} is on both {other} and {node}"));
            }
            if want.get(&key) != Some(&value) {
                return Err(format!(
                    "{node} holds {key:?} = {value:?}, which was never put"
                ));
            }
            let holder = successor_of(sorted, id);
            if holder != *node {
                return Err(format!("{key:?} ({id}) is on {node}, not on {holder}"));
            }
        }
    }
    if seen.len() != want.len() {
        return Err(format!("{} keys found, {} put", seen.len(), want.len()));
    }
    Ok(())
}

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
    check_placement(&before, &want).expect("every key on its successor before any join");

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
        check_placement(&after_joins, &want)
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
        check_placement(&after_leaves, &want)
    })
    .expect("every key is on its successor");

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
