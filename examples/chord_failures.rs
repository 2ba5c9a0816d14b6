//! The paper's failure experiments, with keys replicated on r nodes.
//!
//!     cargo run --release --example chord_failures        # or: make chord-failures
//!
//! 1. **Simultaneous failures.** A ring of N = 32 nodes (threads of this process, on
//!    127.0.0.1) stores 1,000 keys on r = 1, 2 or 3 nodes each; then a fraction p of
//!    the nodes (0.1 to 0.5) crash at once. Each (r, p) is the mean of 3 rings. Reported: the fraction of lookups (GETs)
//!    that fail right after the crash, the fraction of keys lost (no live copy), the
//!    time until every surviving key is on r live nodes again, the fraction of GETs
//!    that fail after that, and the expectation p^r (a key is lost only if its r
//!    holders all fail). The figure, docs/chord-failures.svg, draws keys lost against
//!    p for each r beside p^r.
//! 2. **Churn.** With r = 3, nodes crash and join at a steady rate while two clients
//!    write new keys and read acknowledged ones; reported per rate: lookups, failed
//!    lookups, acknowledged PUTs, and acknowledged keys lost at the end.
//!
//! The successor list has 8 entries in every run (as the paper's lists are longer
//! than the replication factor), so that r = 1 measures replication, not a broken
//! ring. Node ids and crash choices come from a fixed seed: the rings are the same
//! on every run, the timings are not.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use feira::bench::chart::COLOURS;
use feira::chord::{Config, Node, NodeHandle, NodeRef, Peer, Ring};

const N: usize = 32;
const KEYS: usize = 1000;
const LIST: usize = 8;
const BITS: u8 = 32;
const ROUND: Duration = Duration::from_millis(100);
const PS: [f64; 5] = [0.1, 0.2, 0.3, 0.4, 0.5];
/// Each (r, p) is run on this many rings, each with its own crashes: with 32 nodes,
/// the share of the ids a few nodes own varies a lot from one draw to the next.
const TRIALS: usize = 3;
const CHURN_RATES: [f64; 4] = [1.0, 4.0, 16.0, 32.0];
const CHURN_FOR: Duration = Duration::from_secs(10);
const SVG_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/chord-failures.svg");

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A small seeded generator (xorshift): the same crashes on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn main() -> Result<()> {
    let ring = Ring::new(BITS)?;
    println!(
        "Simultaneous failures: N = {N}, {KEYS} keys, successor list {LIST}, a round every {} ms\n",
        ROUND.as_millis()
    );
    println!(
        "| r | p | failed lookups, at once | keys lost | p^r | back on r live nodes after | failed lookups, after |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut lost_by_r: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
    for r in 1..=3 {
        let mut points = Vec::new();
        for (i, &p) in PS.iter().enumerate() {
            let trials = (0..TRIALS)
                .map(|t| simultaneous(ring, r, p, t, 0x5EED + (r * 100 + i * 10 + t) as u64))
                .collect::<Result<Vec<Measured>>>()?;
            let m = Measured::mean(&trials);
            println!(
                "| {r} | {p:.1} | {:.3} | {:.3} | {:.3} | {} | {:.3} |",
                m.failed_at_once,
                m.lost,
                p.powi(r as i32),
                m.repair.map_or("not within 60 s".into(), |d| format!(
                    "{:.1} s",
                    d.as_secs_f64()
                )),
                m.failed_after
            );
            points.push((p, m.lost));
        }
        lost_by_r.push((r, points));
    }
    std::fs::write(SVG_PATH, plot(&lost_by_r))?;
    eprintln!("wrote {SVG_PATH}");

    println!(
        "\nChurn: N = {N}, r = 3, one crash and one join in turn at each rate, for {} s\n",
        CHURN_FOR.as_secs()
    );
    println!(
        "| events/s | rounds between events | lookups | failed lookups | acknowledged PUTs | acknowledged keys lost |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (i, &rate) in CHURN_RATES.iter().enumerate() {
        let c = churn(ring, rate, 0xC4A0 + i as u64)?;
        println!(
            "| {rate} | {:.1} | {} | {} ({:.3}) | {} | {} |",
            1.0 / rate / ROUND.as_secs_f64(),
            c.lookups,
            c.failed,
            c.failed as f64 / c.lookups.max(1) as f64,
            c.acknowledged,
            c.lost
        );
    }
    Ok(())
}

/// A node of ring `tag`, number `i`, keeping keys on `r` nodes.
fn config(ring: Ring, tag: &str, i: usize, r: usize, join: Option<&NodeHandle>) -> Config {
    let mut config = Config::local();
    config.bits = BITS;
    config.successors = LIST;
    config.replicas = Some(r);
    config.stabilize_every = ROUND;
    config.id = Some(ring.hash(format!("{tag} node {i}").as_bytes()).value());
    config.join = join.map(|n| n.local_addr().to_string());
    config
}

fn start_ring(ring: Ring, tag: &str, r: usize) -> Result<Vec<NodeHandle>> {
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..N {
        let node = Node::start(config(ring, tag, i, r, nodes.first()))?;
        nodes.push(node);
    }
    wait_stable(ring, &nodes)?;
    Ok(nodes)
}

/// Waits until every node's successor is the next id (read in-process).
fn wait_stable(ring: Ring, nodes: &[NodeHandle]) -> Result<()> {
    let mut sorted: Vec<NodeRef> = nodes.iter().map(NodeHandle::me).collect();
    sorted.sort_by_key(|n| n.id);
    let next = |id| {
        sorted
            .iter()
            .copied()
            .find(|n| n.id > id)
            .unwrap_or(sorted[0])
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !nodes
        .iter()
        .all(|n| n.routing().successors[0] == next(n.me().id))
    {
        if Instant::now() > deadline {
            return Err("the ring did not stabilise within 60 s".into());
        }
        thread::sleep(ROUND);
    }
    let _ = ring;
    Ok(())
}

fn peer(ring: Ring, node: NodeRef) -> Result<Peer> {
    Ok(Peer::connect(node.addr, ring, Duration::from_secs(10))?)
}

/// How many live copies each key has, asked over TCP (KEYS).
fn copies(ring: Ring, live: &[NodeRef]) -> Result<HashMap<String, usize>> {
    let mut copies = HashMap::new();
    for node in live {
        for stored in peer(ring, *node)?.keys()? {
            *copies.entry(stored.key).or_insert(0) += 1;
        }
    }
    Ok(copies)
}

/// The fraction of `keys` that a GET through a random live node does not return.
fn failed_gets(ring: Ring, live: &[NodeRef], keys: &[String], rng: &mut Rng) -> Result<f64> {
    let mut failed = 0;
    for key in keys {
        let via = live[rng.below(live.len())];
        match peer(ring, via)?.get(key) {
            Ok((value, _)) if value == value_of(key) => {}
            _ => failed += 1,
        }
    }
    Ok(failed as f64 / keys.len() as f64)
}

fn value_of(key: &str) -> String {
    format!("valor de {key}")
}

struct Measured {
    failed_at_once: f64,
    lost: f64,
    repair: Option<Duration>,
    failed_after: f64,
}

impl Measured {
    /// The means over trials; the repair time is the longest (none if one never ended).
    fn mean(trials: &[Measured]) -> Measured {
        let mean =
            |f: fn(&Measured) -> f64| trials.iter().map(f).sum::<f64>() / trials.len() as f64;
        Measured {
            failed_at_once: mean(|m| m.failed_at_once),
            lost: mean(|m| m.lost),
            repair: trials
                .iter()
                .map(|m| m.repair)
                .collect::<Option<Vec<_>>>()
                .and_then(|d| d.into_iter().max()),
            failed_after: mean(|m| m.failed_after),
        }
    }
}

fn simultaneous(ring: Ring, r: usize, p: f64, trial: usize, seed: u64) -> Result<Measured> {
    let mut rng = Rng(seed);
    let nodes = start_ring(ring, &format!("r {r} p {p} trial {trial}"), r)?;
    let all: Vec<NodeRef> = nodes.iter().map(NodeHandle::me).collect();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key {i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        peer(ring, all[i % N])?.put(key, &value_of(key))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while copies(ring, &all)?.values().filter(|&&c| c >= r).count() < KEYS {
        if Instant::now() > deadline {
            return Err("keys did not reach r copies within 60 s".into());
        }
        thread::sleep(ROUND);
    }

    let crashes = (p * N as f64).round() as usize;
    let mut doomed = Vec::new();
    while doomed.len() < crashes {
        let i = rng.below(N);
        if !doomed.contains(&i) {
            doomed.push(i);
        }
    }
    let (dead, alive): (Vec<_>, Vec<_>) = nodes
        .into_iter()
        .enumerate()
        .partition(|(i, _)| doomed.contains(i));
    for (_, node) in dead {
        node.shutdown();
    }
    let crashed_at = Instant::now();
    let alive: Vec<NodeHandle> = alive.into_iter().map(|(_, n)| n).collect();
    let live: Vec<NodeRef> = alive.iter().map(NodeHandle::me).collect();
    // At once: a sample of 200 GETs, which takes about a round.
    let sample: Vec<String> = (0..200).map(|i| keys[(i * 5) % KEYS].clone()).collect();
    let failed_at_once = failed_gets(ring, &live, &sample, &mut rng)?;
    let held = copies(ring, &live)?;
    let surviving: Vec<&String> = keys.iter().filter(|k| held.contains_key(*k)).collect();
    let lost = 1.0 - surviving.len() as f64 / KEYS as f64;

    let want = r.min(live.len());
    let mut repair = None;
    while crashed_at.elapsed() < Duration::from_secs(60) {
        let held = copies(ring, &live)?;
        if surviving
            .iter()
            .all(|k| held.get(*k).copied().unwrap_or(0) >= want)
        {
            repair = Some(crashed_at.elapsed());
            break;
        }
        thread::sleep(ROUND / 2);
    }
    let failed_after = failed_gets(ring, &live, &keys, &mut rng)?;
    for node in alive {
        node.shutdown();
    }
    Ok(Measured {
        failed_at_once,
        lost,
        repair,
        failed_after,
    })
}

struct Churn {
    lookups: usize,
    failed: usize,
    acknowledged: usize,
    lost: usize,
}

fn churn(ring: Ring, rate: f64, seed: u64) -> Result<Churn> {
    let mut rng = Rng(seed);
    let tag = format!("churn {rate}");
    let mut nodes = start_ring(ring, &tag, 3)?;
    // The clients enter through two nodes that never crash.
    let entries = [nodes[0].me(), nodes[1].me()];
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let lookups = Arc::new(Mutex::new((0usize, 0usize)));
    let mut clients = Vec::new();
    for (c, entry) in entries.into_iter().enumerate() {
        let (stop, acknowledged, lookups) = (
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
            Arc::clone(&lookups),
        );
        clients.push(thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let Ok(mut peer) = Peer::connect(entry.addr, ring, Duration::from_secs(10)) else {
                    continue;
                };
                let key = format!("client {c} key {i}");
                if peer.put(&key, &value_of(&key)).is_ok() {
                    acknowledged.lock().unwrap().push(key);
                }
                let read = {
                    let acked = acknowledged.lock().unwrap();
                    acked.get(i * 7919 % acked.len().max(1)).cloned()
                };
                if let Some(key) = read {
                    let ok = matches!(peer.get(&key), Ok((v, _)) if v == value_of(&key));
                    let mut counts = lookups.lock().unwrap();
                    counts.0 += 1;
                    counts.1 += usize::from(!ok);
                }
                i += 1;
            }
        }));
    }
    let every = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut joined = N;
    let mut crash = true;
    while started.elapsed() < CHURN_FOR {
        thread::sleep(every);
        if crash {
            let i = 2 + rng.below(nodes.len() - 2);
            nodes.remove(i).shutdown();
        } else {
            let node = Node::start(config(ring, &tag, joined, 3, nodes.first()))?;
            nodes.push(node);
            joined += 1;
        }
        crash = !crash;
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        let _ = client.join();
    }
    wait_stable(ring, &nodes)?;
    let live: Vec<NodeRef> = nodes.iter().map(NodeHandle::me).collect();
    let acked = acknowledged.lock().unwrap().clone();
    // Settled: every acknowledged key still held is on 3 nodes, then read each.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let held = copies(ring, &live)?;
        if acked.iter().all(|k| held.get(k).is_none_or(|&c| c >= 3)) {
            break;
        }
        thread::sleep(ROUND);
    }
    let lost = (failed_gets(ring, &live, &acked, &mut rng)? * acked.len() as f64).round() as usize;
    for node in nodes {
        node.shutdown();
    }
    let (lookups, failed) = *lookups.lock().unwrap();
    Ok(Churn {
        lookups,
        failed,
        acknowledged: acked.len(),
        lost,
    })
}

// The figure, drawn by hand as SVG like docs/chord-hops.svg (examples/chord_hops.rs).

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const PLOT_W: f64 = 530.0;
const PLOT_H: f64 = 290.0;

/// Fraction of keys lost against the fraction of nodes crashed, one solid line per r
/// (measured) and a dashed one beside it (p^r).
fn plot(lost_by_r: &[(usize, Vec<(f64, f64)>)]) -> String {
    let sx = |p: f64| LEFT + p / 0.6 * PLOT_W;
    let sy = |f: f64| TOP + PLOT_H - f / 0.6 * PLOT_H;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="26" font-size="16" text-anchor="middle">Keys lost when a fraction p of 32 nodes crash at once</text>"#,
        LEFT + PLOT_W / 2.0
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" stroke="#888"/>"##
    );
    for tick in 0..=6 {
        let v = tick as f64 / 10.0;
        let (x, y) = (sx(v), sy(v));
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{v:.1}</text>"##,
            TOP + PLOT_H,
            TOP + PLOT_H + 18.0
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{v:.1}</text>"##,
            LEFT + PLOT_W,
            LEFT - 8.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">p, fraction of nodes crashed at once</text>"#,
        LEFT + PLOT_W / 2.0,
        TOP + PLOT_H + 40.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(24 {}) rotate(-90)" text-anchor="middle">fraction of keys lost</text>"#,
        TOP + PLOT_H / 2.0
    );
    for (i, (r, points)) in lost_by_r.iter().enumerate() {
        let colour = COLOURS[i];
        let measured: Vec<String> = points
            .iter()
            .map(|&(p, f)| format!("{:.1},{:.1}", sx(p), sy(f)))
            .collect();
        let expected: Vec<String> = (0..=50)
            .map(|k| k as f64 / 100.0)
            .map(|p| format!("{:.1},{:.1}", sx(p), sy(p.powi(*r as i32))))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5"/><polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="7 5"/>"#,
            measured.join(" "),
            expected.join(" ")
        );
        for &(p, f) in points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{colour}"/>"#,
                sx(p),
                sy(f)
            );
        }
        let y = TOP + 20.0 + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2.5"/><text x="{}" y="{}">r = {r}: measured; dashed: p^{r}</text>"#,
            LEFT + 14.0,
            LEFT + 44.0,
            LEFT + 52.0,
            y + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
