//! The ablation table: the durable-write workload with each speed layer switched off in
//! turn, measured in the same run (docs/BENCHMARKS.md, "What each speed layer buys").
//!
//! Why a table of its own: each speed layer's file says what the plain version would
//! do; this table says what the layer buys, in requests per second and p99, on the
//! machine that ran `make bench`. `scripts/bench.sh` labels each run
//! `ablation: <feira-server flags>` (no flags: every layer on); this module turns those
//! runs into rows, each beside the run with every layer on.

use std::fmt::Write as _;

use super::report::{RunSummary, micros};

/// How `scripts/bench.sh` labels an ablation run: this, then the server's flags.
pub const LABEL: &str = "ablation:";

/// What each flag switches off, for the table's first column.
const LAYERS: &[(&str, &str)] = &[
    ("", "every layer on"),
    (
        "--reply-path plain",
        "the committer path (replies sent by the connection thread)",
    ),
    ("--group-commit off", "group commit (an fsync per request)"),
    (
        "--prezero off",
        "the pre-zeroed journal (each line grows the file)",
    ),
    (
        "--checkpoint rewrite",
        "appending checkpoints (every snapshot rewritten)",
    ),
    ("--csv crate", "the hand-written CSV (csv::Writer)"),
    ("--plain", "every layer (the plain server)"),
];

/// Is this an ablation run?
pub fn is_ablation(run: &RunSummary) -> bool {
    run.label.starts_with(LABEL)
}

/// The Markdown section: one row per ablation run, in the order they ran, with its
/// throughput as a share of the run with every layer on.
pub fn section(md: &mut String, runs: &[RunSummary]) {
    let rows: Vec<&RunSummary> = runs.iter().filter(|r| is_ablation(r)).collect();
    let Some(first) = rows.first() else {
        return;
    };
    let flags = |r: &RunSummary| r.label[LABEL.len()..].trim().to_string();
    let all_on = rows
        .iter()
        .find(|r| flags(r).is_empty())
        .map(|r| r.throughput);
    let _ = writeln!(md, "\n## What each speed layer buys\n");
    let _ = writeln!(
        md,
        "The durable-write workload ({} at {} connections, {:.0} s a row), each row on a fresh \
         server with one speed layer switched off (its `feira-server` flag), all in the same run. \
         The plain path and what each layer adds are in docs/WALKTHROUGH.md, \"Durability\"; \
         each layer's file says how it stays correct.\n",
        first.workload.to_uppercase(),
        first.connections,
        first.seconds
    );
    let _ = writeln!(
        md,
        "| switched off | flags | requests/s | vs every layer on | p50 | p99 | verify |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---|");
    for r in rows {
        let flags = flags(r);
        let name = (LAYERS.iter())
            .find(|(f, _)| *f == flags)
            .map_or("", |(_, name)| name);
        let share = all_on.map_or("-".into(), |on| {
            format!("{:.0}%", 100.0 * r.throughput / on.max(1.0))
        });
        let shown = if flags.is_empty() { "(none)" } else { &flags };
        let verify = if r.verify.is_empty() { "-" } else { &r.verify };
        let _ = writeln!(
            md,
            "| {name} | `{shown}` | {:.0} | {share} | {} | {} | {verify} |",
            r.throughput,
            micros(r.p50_us),
            micros(r.p99_us),
        );
    }
}
