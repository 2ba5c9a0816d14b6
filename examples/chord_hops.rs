//! Measures Chord's lookup path length: the mean number of hops for rings of 8, 16,
//! 32 and 64 nodes, beside the paper's ½·log2 N. Prints a Markdown table.
//!
//!     cargo run --release --example chord_hops [lookups-per-ring]
//!
//! Every ring runs in this process on 127.0.0.1. The node ids are the hash of
//! "ring <r> node <i>" rather than of the (random) port, and the keys are fixed, so
//! the table is the same on every run. For each size, a few rings are started; once
//! every successor, predecessor and finger is right, lookups are sent over TCP from
//! node after node, and each answer is checked against the sorted ids.

use std::thread;
use std::time::{Duration, Instant};

use feira::chord::{Config, Node, NodeHandle, NodeRef, Peer, Ring};

const SIZES: [usize; 4] = [8, 16, 32, 64];
const RINGS_PER_SIZE: usize = 3;
const BITS: u8 = 32;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lookups: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 2000,
    };
    let ring = Ring::new(BITS)?;
    println!("| N | lookups | mean hops | ½·log2 N | 1st pct | 99th pct | max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let mut hops: Vec<usize> = Vec::new();
        for r in 0..RINGS_PER_SIZE {
            hops.extend(measure(ring, n, r, lookups)?);
        }
        hops.sort_unstable();
        let mean = hops.iter().sum::<usize>() as f64 / hops.len() as f64;
        let pct = |p: f64| hops[((hops.len() - 1) as f64 * p) as usize];
        println!(
            "| {n} | {} | {mean:.2} | {:.2} | {} | {} | {} |",
            hops.len(),
            0.5 * (n as f64).log2(),
            pct(0.01),
            pct(0.99),
            hops[hops.len() - 1],
        );
    }
    Ok(())
}

/// Starts ring number `r` of `n` nodes, waits for it to be right, and returns the hop
/// count of each of `lookups` lookups.
fn measure(
    ring: Ring,
    n: usize,
    r: usize,
    lookups: usize,
) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..n {
        let mut config = Config::local();
        config.bits = BITS;
        config.stabilize_every = Duration::from_millis(50);
        config.id = Some(ring.hash(format!("ring {r} node {i}").as_bytes()).value());
        config.join = nodes.first().map(|first| first.local_addr().to_string());
        nodes.push(Node::start(config)?);
    }
    let mut sorted: Vec<NodeRef> = nodes.iter().map(NodeHandle::me).collect();
    sorted.sort_by_key(|node| node.id);
    let successor_of = |k| {
        sorted
            .iter()
            .copied()
            .find(|node| node.id >= k)
            .unwrap_or(sorted[0])
    };

    // Wait until every pointer is right (read in-process: this is a measurement,
    // the tests check the same thing over TCP).
    let start = Instant::now();
    loop {
        let right = nodes.iter().all(|node| {
            let routing = node.routing();
            routing.successors[0] == successor_of(ring.add(routing.me.id, 1))
                && routing
                    .fingers
                    .iter()
                    .all(|(start, finger)| *finger == Some(successor_of(*start)))
        });
        if right {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!("a ring of {n} did not stabilise in 60 s").into());
        }
        thread::sleep(Duration::from_millis(50));
    }

    let mut peers = sorted
        .iter()
        .map(|node| Peer::connect(node.addr, ring, Duration::from_secs(10)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hops = Vec::with_capacity(lookups);
    for k in 0..lookups {
        let key = format!("key {k}");
        let from = k % n;
        let lookup = peers[from].lookup(&key)?;
        if lookup.holder != successor_of(ring.key_id(&key)) {
            return Err(format!("wrong holder for {key:?}: {lookup:?}").into());
        }
        hops.push(lookup.hops());
    }
    for node in nodes {
        node.shutdown();
    }
    Ok(hops)
}
