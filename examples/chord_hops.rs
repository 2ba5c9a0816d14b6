//! Measures Chord's lookup path length: the mean number of hops for rings of 8, 16,
//! 32 and 64 nodes, beside the paper's ½·log2 N. Prints a Markdown table and writes
//! the same means as a plot, docs/chord-hops.svg.
//!
//!     cargo run --release --example chord_hops [lookups-per-ring]
//!
//! Every ring runs in this process on 127.0.0.1. The node ids are the hash of
//! "ring <r> node <i>" rather than of the (random) port, and the keys are fixed, so
//! the table is the same on every run. For each size, a few rings are started; once
//! every successor, predecessor and finger is right, lookups are sent over TCP from
//! node after node, and each answer is checked against the sorted ids.

use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use feira::bench::chart::COLOURS;
use feira::chord::{Config, Node, NodeHandle, NodeRef, Peer, Ring};

const SIZES: [usize; 4] = [8, 16, 32, 64];
const RINGS_PER_SIZE: usize = 3;
const BITS: u8 = 32;
/// Where the plot goes: next to docs/CHORD.md, which shows it.
const SVG_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/chord-hops.svg");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lookups: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 2000,
    };
    let ring = Ring::new(BITS)?;
    println!("| N | lookups | mean hops | ½·log2 N | 1st pct | 99th pct | max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut means: Vec<(usize, f64)> = Vec::new();
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
        means.push((n, mean));
    }
    std::fs::write(SVG_PATH, plot(&means))?;
    eprintln!("wrote {SVG_PATH}");
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

// The plot, drawn by hand as SVG like the benchmark chart (src/bench/chart.rs): a
// few dozen text elements do not need a plotting crate.

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0; // plot area: room on the left for the y labels
const TOP: f64 = 50.0;
const PLOT_W: f64 = 530.0;
const PLOT_H: f64 = 290.0;

/// Mean hops against N (log2 scale), beside the paper's ½·log2 N and the bound
/// ½·log2 N + 1 that the test `tests/chord_ring.rs` checks.
fn plot(means: &[(usize, f64)]) -> String {
    let paper = |n: usize| 0.5 * (n as f64).log2();
    let half_log: Vec<(usize, f64)> = means.iter().map(|&(n, _)| (n, paper(n))).collect();
    let bound: Vec<(usize, f64)> = means.iter().map(|&(n, _)| (n, paper(n) + 1.0)).collect();

    // x: log2 N, with half a doubling of margin each side. y: from 0 to one whole
    // hop above the highest line.
    let log_n = |n: usize| (n as f64).log2();
    let x_lo = means
        .iter()
        .map(|&(n, _)| log_n(n))
        .fold(f64::INFINITY, f64::min)
        - 0.5;
    let x_hi = means.iter().map(|&(n, _)| log_n(n)).fold(0.0, f64::max) + 0.5;
    let y_max = bound
        .iter()
        .chain(means)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .ceil()
        + 1.0;
    let sx = |n: usize| LEFT + (log_n(n) - x_lo) / (x_hi - x_lo) * PLOT_W;
    let sy = |hops: f64| TOP + PLOT_H - hops / y_max * PLOT_H;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="26" font-size="16" text-anchor="middle">Chord lookups: mean hops against ring size</text>"#,
        LEFT + PLOT_W / 2.0
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" stroke="#888"/>"##
    );

    // Grid and tick labels: one x tick per measured N, one y tick per hop.
    for &(n, _) in means {
        let x = sx(n);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{n}</text>"##,
            TOP + PLOT_H,
            TOP + PLOT_H + 18.0
        );
    }
    for hops in 0..=(y_max as usize) {
        let y = sy(hops as f64);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{hops}</text>"##,
            LEFT + PLOT_W,
            LEFT - 8.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">N, nodes in the ring (log2 scale)</text>"#,
        LEFT + PLOT_W / 2.0,
        TOP + PLOT_H + 40.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(24 {}) rotate(-90)" text-anchor="middle">mean hops per lookup</text>"#,
        TOP + PLOT_H / 2.0
    );

    // The three lines, each with its legend entry in the top-left corner.
    let lines = [
        ("measured (feira)", COLOURS[0], "", means),
        ("paper: ½·log2 N", COLOURS[1], "", &half_log[..]),
        (
            "bound: ½·log2 N + 1",
            COLOURS[4],
            r#" stroke-dasharray="7 5""#,
            &bound[..],
        ),
    ];
    for (i, (name, colour, dash, points)) in lines.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(n, hops)| format!("{:.1},{:.1}", sx(n), sy(hops)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5"{dash}/>"#,
            path.join(" ")
        );
        let y = TOP + 20.0 + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2.5"{dash}/><text x="{}" y="{}">{name}</text>"#,
            LEFT + 14.0,
            LEFT + 44.0,
            LEFT + 52.0,
            y + 4.0
        );
    }
    // Only the measured series has points (and a point in its legend entry), each
    // labelled with its mean: the same two decimals as the table, so the two can be
    // checked against each other.
    let _ = writeln!(
        svg,
        r#"<circle cx="{}" cy="{}" r="4" fill="{}"/>"#,
        LEFT + 29.0,
        TOP + 20.0,
        COLOURS[0]
    );
    for &(n, hops) in means {
        let (x, y) = (sx(n), sy(hops));
        let _ = writeln!(
            svg,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="start">{hops:.2}</text>"#,
            COLOURS[0],
            x + 8.0,
            y + 16.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
