//! The replication verbs under bad input and abuse: copies for keys outside the
//! sender's range, versions from the future, oversized values, a full node, a primary
//! that acknowledges a PUT and dies, two nodes with one id joining at once, and a
//! node whose client connections are all taken.

mod support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use feira::chord::store::{Limits, MAX_VALUE_BYTES};
use feira::chord::version::{Version, now_ms};
use feira::chord::{Config, Error, Node, NodeHandle, NodeRef};
use feira::protocol::ErrorCode;
use support::chord::*;
use support::{Rng, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// A ring of `n` nodes with r = 3, settled.
fn settled_ring(n: usize, base: &Config, seed: u64) -> (Vec<NodeHandle>, Vec<NodeRef>) {
    let mut rng = Rng::new(seed);
    let nodes = start_ring(n, base, &mut rng);
    let all = sorted(&nodes);
    wait_until(SETTLE, || check_ring(&all, base.successors)).expect("the ring is stable");
    (nodes, all)
}

fn refusal(result: Result<(Vec<Vec<String>>, String), Error>) -> ErrorCode {
    match result {
        Err(Error::Refused { refusal, .. }) => refusal.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn call(node: &NodeRef, line: &str) -> feira::protocol::Reply {
    peer(node).call_line(line).expect("the node answers")
}

#[test]
fn copies_outside_the_senders_range_or_from_the_future_are_refused() {
    let (nodes, all) = settled_ring(3, &config(30), 0xBAD);
    let (a, b) = (all[0], all[1]);
    let key_of = |wanted: &dyn Fn(u64) -> bool| {
        (0..)
            .map(|i| format!("k{i}"))
            .find(|k| wanted(ring().key_id(k).value()))
            .unwrap()
    };
    let now = Version {
        stamp: now_ms(),
        writer: a.id.value(),
    };
    // A key in (b, c] is b's successor's: a, the primary before b, has no business
    // sending it, and a range that would contain b is refused as well.
    let outside = key_of(&|id| id > b.id.value() && id <= all[2].id.value());
    let line = format!("REPLICATE {} {} {outside} {now} forged", all[2].id, a.id);
    let reply = call(&b, &line);
    assert_eq!(
        reply.status.unwrap_err().code,
        ErrorCode::BadRequest,
        "{line}"
    );
    let line = format!("SYNC {} {} 0", a.id, all[2].id);
    assert_eq!(
        call(&b, &line).status.unwrap_err().code,
        ErrorCode::BadRequest
    );
    assert!(
        peer(&b).fetch(&outside).unwrap().is_none(),
        "nothing was kept"
    );

    // A key in a's range, with a version a minute and more from now: refused, so it
    // cannot pin the key; a real PUT afterwards wins as usual.
    let inside = key_of(&|id| id > all[2].id.value() || id <= a.id.value());
    let future = Version {
        stamp: now_ms() + 3_600_000,
        writer: a.id.value(),
    };
    let line = format!("REPLICATE {} {} {inside} {future} pinned", all[2].id, a.id);
    let reply = call(&b, &line);
    let refused = reply.status.unwrap_err();
    assert_eq!(refused.code, ErrorCode::BadRequest);
    assert!(refused.message.contains("future"), "{}", refused.message);
    peer(&b).put(&inside, "real").expect("PUT");
    for node in &all {
        let kept = peer(node).fetch(&inside).unwrap();
        assert_eq!(kept.map(|(v, _)| v).as_deref(), Some("real"), "on {node}");
    }
    // A stale copy from the right sender is acknowledged, and changes nothing.
    let stale = Version {
        stamp: 1,
        writer: 0,
    };
    let line = format!("REPLICATE {} {} {inside} {stale} old", all[2].id, a.id);
    let reply = call(&b, &line);
    assert_eq!(reply.status, Ok("kept a copy at least as new".to_string()));
    assert_eq!(peer(&b).fetch(&inside).unwrap().unwrap().0, "real");
    for node in nodes {
        node.shutdown();
    }
}

#[test]
fn oversized_values_and_a_full_node_get_clear_errors() {
    let mut base = config(30);
    base.limits = Limits {
        max_keys: 30,
        max_bytes: 1 << 20,
    };
    let (nodes, all) = settled_ring(2, &base, 0xF011);
    let big = "x".repeat(MAX_VALUE_BYTES + 1);
    let mut p = peer(&all[0]);
    for result in [
        p.store("k", &big),
        p.call(&feira::chord::Message::Put {
            key: "k".into(),
            value: big.clone(),
        }),
    ] {
        assert_eq!(refusal(result), ErrorCode::BadRequest);
    }
    // The connection carries on; the limit is a clear BUSY, not a crash or a hang.
    let mut full = None;
    for i in 0..40 {
        match p.put(&format!("k{i}"), "v") {
            Ok(_) => {}
            Err(Error::Refused { refusal, .. }) => {
                full = Some(refusal);
                break;
            }
            Err(e) => panic!("PUT {i}: {e}"),
        }
    }
    let full = full.expect("a node with room for 30 keys refuses more");
    assert_eq!(full.code, ErrorCode::Busy);
    assert!(full.message.contains("full"), "{}", full.message);
    for node in nodes {
        node.shutdown();
    }
}

#[test]
fn an_acknowledged_put_survives_its_primary_crashing_right_after() {
    let (mut nodes, all) = settled_ring(5, &config(30), 0xDEAD1);
    let mut want = BTreeMap::new();
    for i in 0..40 {
        let key = format!("caju-{i}");
        let via = all[i % all.len()];
        // The primary answers OK: at least one replica holds the value already.
        peer(&via).put(&key, "doce").expect("PUT");
        want.insert(key, "doce".to_string());
    }
    // The primary of caju-0 dies the moment it has answered (no time for a SYNC).
    let primary = successor_of(&all, ring().key_id("caju-0"));
    let i = nodes.iter().position(|n| n.me() == primary).unwrap();
    nodes.remove(i).shutdown();
    let survivors = sorted(&nodes);
    for (key, value) in &want {
        let (got, _) = peer(&survivors[0]).get(key).expect("GET after the crash");
        assert_eq!(&got, value);
    }
    wait_until(SETTLE, || check_replicas(&survivors, &want, 3)).expect("3 copies again");
    for node in nodes {
        node.shutdown();
    }
}

#[test]
fn two_nodes_with_one_id_joining_at_once_cannot_both_get_in() {
    let (nodes, all) = settled_ring(3, &config(30), 0x1D);
    for round in 0..5u64 {
        let id = 1_000_000 + round * 7_919;
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut twin = config(30);
                twin.id = Some(id);
                twin.join = Some(all[0].addr.to_string());
                thread::spawn(move || Node::start(twin))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let joined = results.iter().filter(|r| r.is_ok()).count();
        let taken = results
            .iter()
            .filter(|r| matches!(r, Err(Error::IdTaken { .. })))
            .count();
        let said: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(handle) => format!("joined as {}", handle.me()),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!((joined, taken), (1, 1), "round {round}: {said:?}");
        for handle in results.into_iter().flatten() {
            handle.leave().expect("the twin that got in leaves");
        }
        wait_until(SETTLE, || check_ring(&all, 3)).expect("the ring is back to 3");
    }
    for node in nodes {
        node.shutdown();
    }
}

#[test]
fn idle_clients_at_the_limit_do_not_cut_a_node_off_the_ring() {
    let mut base = config(30);
    base.max_connections = 6;
    let (nodes, all) = settled_ring(3, &base, 0x1D1E);
    let target = all[1];
    let key = (0..)
        .map(|i| format!("uva-{i}"))
        .find(|k| successor_of(&all, ring().key_id(k)) == target)
        .unwrap();
    peer(&all[0]).put(&key, "verde").expect("PUT");
    // Take every client place, and a few more, and keep them all open and silent.
    let idle: Vec<TcpStream> = (0..base.max_connections + 3)
        .map(|_| TcpStream::connect(target.addr).unwrap())
        .collect();
    // A client is now refused...
    let busy = wait_until(Duration::from_secs(10), || {
        match peer(&target).call_line("RING") {
            Ok(reply) => reply.status.is_err_and(|r| r.code == ErrorCode::Busy),
            Err(_) => false,
        }
    });
    assert!(busy, "a client past the limit is told BUSY");
    // ... but over many rounds the neighbours keep the node, and it serves its keys.
    for _ in 0..20 {
        check_ring(&all, 3).expect("the node stays in the ring");
        let (value, _) = peer(&all[0]).get(&key).expect("GET");
        assert_eq!(value, "verde");
    }
    let via_primary = peer(&all[0]).call_line(&format!("GET {key}")).unwrap();
    assert_eq!(
        via_primary.status,
        Ok(format!("from {target}")),
        "served by its primary"
    );
    drop(idle);
    for node in nodes {
        node.shutdown();
    }
}
