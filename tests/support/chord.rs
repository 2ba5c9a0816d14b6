//! The chord tests' helpers: start a ring in this process, ask its nodes over TCP, and
//! compare what they say with the ground truth (wait until they agree with
//! `wait_until(deadline, || check_ring(..)).expect(..)`).
//!
//! The ground truth is simple: sort the live nodes by id; node i's successor is node
//! i + 1 (wrapping), its predecessor node i - 1, and the holder of id k is the first
//! node whose id is k or more (wrapping to the first node).

use std::collections::BTreeMap;
use std::time::Duration;

use feira::chord::node::Role;
use feira::chord::{Config, Id, Node, NodeHandle, NodeRef, Peer, Ring};

use super::rng::Rng;

/// The ring size used by the big tests: ids of 32 bits make collisions unlikely.
pub const BITS: u8 = 32;

/// A node config for tests: loopback, port 0, short intervals.
pub fn config(stabilize_ms: u64) -> Config {
    let mut config = Config::local();
    config.bits = BITS;
    config.successors = 3;
    config.stabilize_every = Duration::from_millis(stabilize_ms);
    config.rpc_timeout = Duration::from_secs(1);
    config
}

/// Starts `n` nodes: the first alone, each next one joining through a node picked
/// at random among those already started (as students would, not all through one).
pub fn start_ring(n: usize, base: &Config, rng: &mut Rng) -> Vec<NodeHandle> {
    let mut nodes: Vec<NodeHandle> = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(join_one(&nodes, base, rng));
    }
    nodes
}

/// Starts one node that joins through a random node of `nodes` (or alone if empty).
pub fn join_one(nodes: &[NodeHandle], base: &Config, rng: &mut Rng) -> NodeHandle {
    let mut config = base.clone();
    if !nodes.is_empty() {
        config.join = Some(nodes[rng.below(nodes.len())].local_addr().to_string());
    }
    Node::start(config).expect("a node starts and joins")
}

/// The 32-bit ring, for computing ground truth.
pub fn ring() -> Ring {
    Ring::new(BITS).unwrap()
}

/// A client connection to a node.
pub fn peer(node: &NodeRef) -> Peer {
    Peer::connect(node.addr, ring(), Duration::from_secs(10)).expect("connect to a node")
}

/// The live nodes, sorted by id: the ring as it should be.
pub fn sorted(nodes: &[NodeHandle]) -> Vec<NodeRef> {
    let mut refs: Vec<NodeRef> = nodes.iter().map(NodeHandle::me).collect();
    refs.sort_by_key(|n| n.id);
    refs
}

/// The node that should hold id `k`: the first node at or after k, wrapping.
pub fn successor_of(sorted: &[NodeRef], k: Id) -> NodeRef {
    sorted
        .iter()
        .copied()
        .find(|n| n.id >= k)
        .unwrap_or(sorted[0])
}

/// Does every node's successor and predecessor match the sorted ids, and is its
/// successor list the next `r` nodes? Asked over TCP (GET_SUCCESSORS,
/// GET_PREDECESSOR), as another node would.
pub fn check_ring(sorted: &[NodeRef], r: usize) -> Result<(), String> {
    let n = sorted.len();
    for (i, node) in sorted.iter().enumerate() {
        let mut peer =
            Peer::connect(node.addr, ring(), Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let successors = peer.get_successors().map_err(|e| e.to_string())?;
        let want_successor = sorted[(i + 1) % n];
        if successors[0] != want_successor {
            return Err(format!(
                "{node}: successor {} instead of {want_successor}",
                successors[0]
            ));
        }
        // The successor list should be the next r nodes (fewer in a tiny ring).
        let want_list: Vec<NodeRef> = (1..=r.min(n - 1)).map(|k| sorted[(i + k) % n]).collect();
        if successors != want_list {
            return Err(format!("{node}: successor list {successors:?}"));
        }
        let predecessor = peer.get_predecessor().map_err(|e| e.to_string())?;
        let want_predecessor = sorted[(i + n - 1) % n];
        if predecessor != Some(want_predecessor) {
            return Err(format!(
                "{node}: predecessor {predecessor:?} instead of {want_predecessor}"
            ));
        }
    }
    Ok(())
}

/// Is every key of `want` on exactly its r holders (its successor as `primary`, the
/// next r - 1 nodes as `replica`), with its value, and is nothing else stored?
/// Asked over TCP (KEYS) of every node in `sorted`.
pub fn check_replicas(
    sorted: &[NodeRef],
    want: &BTreeMap<String, String>,
    r: usize,
) -> Result<(), String> {
    let n = sorted.len();
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for (i, node) in sorted.iter().enumerate() {
        let keys = Peer::connect(node.addr, ring(), Duration::from_secs(5))
            .and_then(|mut peer| peer.keys())
            .map_err(|e| e.to_string())?;
        for stored in keys {
            if want.get(&stored.key) != Some(&stored.value) {
                return Err(format!(
                    "{node} holds {:?} = {:?}, which was never put",
                    stored.key, stored.value
                ));
            }
            let primary = sorted
                .iter()
                .position(|s| *s == successor_of(sorted, stored.id))
                .unwrap_or(0);
            let distance = (i + n - primary) % n;
            if distance >= r.min(n) {
                return Err(format!(
                    "{:?} ({}) is on {node}, {distance} nodes after its primary {}",
                    stored.key, stored.id, sorted[primary]
                ));
            }
            let want_role = if distance == 0 {
                Role::Primary
            } else {
                Role::Replica
            };
            if stored.role != want_role {
                return Err(format!("{:?} on {node} is {:?}", stored.key, stored.role));
            }
            *copies.entry(stored.key).or_default() += 1;
        }
    }
    for key in want.keys() {
        let found = copies.get(key).copied().unwrap_or(0);
        if found != r.min(n) {
            return Err(format!("{key:?} has {found} copies, not {}", r.min(n)));
        }
    }
    Ok(())
}

/// Does every finger of every node name the successor of its start?
pub fn check_fingers(sorted: &[NodeRef]) -> Result<(), String> {
    for node in sorted {
        let routing = peer(node).fingers().map_err(|e| e.to_string())?;
        for (i, (start, finger)) in routing.fingers.iter().enumerate() {
            let want = successor_of(sorted, *start);
            if *finger != Some(want) {
                return Err(format!("{node}: finger {i} is {finger:?}, not {want}"));
            }
        }
    }
    Ok(())
}

/// Runs `count` LOOKUPs of fresh keys, each from a random node, and checks every
/// answer against the ground truth. Returns the mean number of hops.
pub fn check_lookups(sorted: &[NodeRef], count: usize, rng: &mut Rng) -> f64 {
    let mut peers: Vec<Peer> = sorted.iter().map(peer).collect();
    let mut hops = 0;
    for i in 0..count {
        let key = format!("key-{i}-{}", rng.next_u64());
        let from = rng.below(peers.len());
        let lookup = peers[from].lookup(&key).expect("LOOKUP answers");
        let want = successor_of(sorted, ring().key_id(&key));
        assert_eq!(
            lookup.holder, want,
            "LOOKUP {key:?} from {} (id {})",
            sorted[from], lookup.target
        );
        assert_eq!(lookup.origin, sorted[from]);
        hops += lookup.hops();
    }
    hops as f64 / count as f64
}
