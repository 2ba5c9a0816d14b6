//! The results of `make bench` as Markdown (for docs/BENCHMARKS.md) and a chart.
//!
//! Why generated: figures copied by hand go stale and get mistyped. `scripts/bench.sh`
//! appends every run to CSV files; this module reads them, prints the tables, and
//! checks each target against the numbers, saying "met" or "missed" with the figures
//! that decide it.

use std::fmt::Write as _;
use std::path::Path;

use super::chart::{self, COLOURS, Series};
use super::flood::{self, FLOOD_COLUMNS};
use super::hold::HOLD_COLUMNS;
use super::report::{CSV_COLUMNS, RunSummary, column, micros, read_csv};
use super::slowloris::SLOWLORIS_COLUMNS;
use super::{ablation, doors};

/// The label of the connection-count matrix.
pub const MATRIX: &str = "matrix";

/// Reads `runs.csv`, `hold.csv`, `slowloris.csv` and `flood.csv` from `dir`, writes the chart to
/// `chart_path` (if given) and returns the Markdown.
pub fn summarize(
    dir: &Path,
    chart_path: Option<&Path>,
    chart_link: &str,
) -> Result<String, String> {
    let runs: Vec<RunSummary> = read_csv(&dir.join("runs.csv"), CSV_COLUMNS)
        .map_err(|e| format!("{}: {e}", dir.join("runs.csv").display()))?
        .iter()
        .filter_map(|row| {
            let fields: Vec<&str> = row.iter().map(String::as_str).collect();
            RunSummary::from_csv_fields(&fields)
        })
        .collect();
    let hold = read_csv(&dir.join("hold.csv"), HOLD_COLUMNS).unwrap_or_default();
    let slow = read_csv(&dir.join("slowloris.csv"), SLOWLORIS_COLUMNS).unwrap_or_default();
    let flooded = read_csv(&dir.join("flood.csv"), FLOOD_COLUMNS).unwrap_or_default();

    let mut md = String::new();
    targets(&mut md, &runs, &hold, &slow);
    for row in flood::target_rows(&flooded) {
        let _ = writeln!(md, "{row}");
    }

    let _ = writeln!(md, "\n## Throughput and latency by connection count\n");
    let _ = writeln!(
        md,
        "Each row is one phase of a run (`-d` seconds of one workload, every connection its own thread, one request at a time)."
    );
    if chart_path.is_some() {
        let _ = writeln!(
            md,
            "\n![throughput and p99 against connections]({chart_link})\n"
        );
    }
    table(&mut md, runs.iter().filter(|r| r.label == MATRIX));

    ablation::section(&mut md, &runs);
    doors::section(&mut md, dir);

    let others: Vec<&RunSummary> = (runs.iter())
        .filter(|r| r.label != MATRIX && !ablation::is_ablation(r))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(md, "\n## Other runs\n");
        let _ = writeln!(
            md,
            "`orders-1k` and `orders-1m`: ORDER at 50 connections on a server that loaded 1,000 or 1,000,000 existing orders (rounds alternate between the two servers). `aof-always`: Redis INCRBY with `appendonly yes`, `appendfsync always`. `durable`: TRANSFER and the mixed workload with rows spread (each client pays the next account along); `durable-hot`: one hot row (every client pays the same payee, every ORDER buys the same product)."
        );
        table(&mut md, others.into_iter());
    }

    if !hold.is_empty() {
        let _ = writeln!(md, "\n## Many connections held open\n");
        let _ = writeln!(
            md,
            "| wanted | held, logged in | served while all open | logins took | server RSS cold | after warm-up | with all open | per connection | server threads | p99 | max | first error |"
        );
        let _ = writeln!(
            md,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for row in &hold {
            let get = |name: &str| column(row, HOLD_COLUMNS, name);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} s | {} KiB | {} KiB | {} KiB | **{} KiB** | {} | {} | {} | {} |",
                get("wanted"),
                get("held"),
                get("served"),
                get("login_seconds"),
                get("rss_cold_kib"),
                get("rss_before_kib"),
                get("rss_after_kib"),
                get("per_connection_kib"),
                get("server_threads"),
                micros_text(get("p99_us")),
                micros_text(get("max_us")),
                get("first_error"),
            );
        }
    }
    if !slow.is_empty() {
        let _ = writeln!(md, "\n## Slowloris\n");
        let _ = writeln!(
            md,
            "| trickling connections | seconds | normal client's requests | p50 | p99 | max | tricklers closed by the server | first error |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---|");
        for row in &slow {
            let get = |name: &str| column(row, SLOWLORIS_COLUMNS, name);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                get("tricklers"),
                get("seconds"),
                get("requests"),
                micros_text(get("p50_us")),
                micros_text(get("p99_us")),
                micros_text(get("max_us")),
                get("closed"),
                get("first_error"),
            );
        }
    }

    if !flooded.is_empty() {
        md.push_str(&flood::markdown(&flooded));
    }

    if let Some(path) = chart_path {
        let svg = render_chart(&runs);
        std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(md)
}

/// The matrix as a chart: one line per (target, workload).
pub fn render_chart(runs: &[RunSummary]) -> String {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in runs.iter().filter(|r| r.label == MATRIX) {
        let key = (r.target.clone(), r.workload.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut throughput = Vec::new();
    let mut p99 = Vec::new();
    for (i, (target, workload)) in keys.iter().enumerate() {
        let mut points: Vec<&RunSummary> = runs
            .iter()
            .filter(|r| r.label == MATRIX && &r.target == target && &r.workload == workload)
            .collect();
        points.sort_by_key(|r| r.connections);
        let name = format!("{target} {workload}");
        let colour = COLOURS[i % COLOURS.len()];
        throughput.push(Series {
            name: name.clone(),
            colour,
            points: points
                .iter()
                .map(|r| (r.connections as f64, r.throughput))
                .collect(),
        });
        p99.push(Series {
            name,
            colour,
            points: points
                .iter()
                .map(|r| (r.connections as f64, r.p99_us as f64 / 1000.0))
                .collect(),
        });
    }
    chart::render(
        "feira and redis-server, same client, same machine",
        &throughput,
        &p99,
    )
}

fn table<'a>(md: &mut String, rows: impl Iterator<Item = &'a RunSummary>) {
    let _ = writeln!(
        md,
        "\n| label | server | workload | connections | requests/s | p50 | p90 | p99 | p99.9 | max | errors | logins (p50) | verify |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
    );
    for r in rows {
        let errors = r.errors_text();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.target,
            r.workload,
            r.connections,
            r.throughput,
            micros(r.p50_us),
            micros(r.p90_us),
            micros(r.p99_us),
            micros(r.p999_us),
            micros(r.max_us),
            if errors.is_empty() {
                "none".into()
            } else {
                errors.replace(';', ", ")
            },
            if r.logins > 0 {
                format!("{} ({:.0} ms)", r.logins, r.login_p50_ms)
            } else {
                "-".into()
            },
            if r.verify.is_empty() { "-" } else { &r.verify },
        );
    }
}

/// The mean throughput of the runs that match.
/// TRANSFER's figure for the Redis comparison: the `durable` rows only (rows spread
/// over 50 payees, every speed layer on). The hot-row and ablation rows run the same
/// verb at the same connection count but answer other questions, so they stay out.
fn durable_transfer(runs: &[RunSummary]) -> Option<(f64, usize)> {
    mean_throughput(runs, |r| {
        r.label == "durable"
            && r.target == "feira"
            && r.workload == "transfer"
            && r.connections == 50
    })
}

fn mean_throughput(
    runs: &[RunSummary],
    pick: impl Fn(&RunSummary) -> bool,
) -> Option<(f64, usize)> {
    let picked: Vec<f64> = runs
        .iter()
        .filter(|r| pick(r))
        .map(|r| r.throughput)
        .collect();
    (!picked.is_empty()).then(|| {
        (
            picked.iter().sum::<f64>() / picked.len() as f64,
            picked.len(),
        )
    })
}

fn targets(md: &mut String, runs: &[RunSummary], hold: &[Vec<String>], slow: &[Vec<String>]) {
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | figures | verdict |");
    let _ = writeln!(md, "|---|---|---|");
    let verdict = |met: bool| if met { "**met**" } else { "**missed**" };
    let at = |target: &str, workload: &str, connections: usize| {
        mean_throughput(runs, |r| {
            r.label == MATRIX
                && r.target == target
                && r.workload == workload
                && r.connections == connections
        })
    };
    let redis_ping = at("redis", "ping", 50);
    for workload in ["ping", "product"] {
        let feira = at("feira", workload, 50);
        let line = match (feira, redis_ping) {
            (Some((f, _)), Some((r, _))) => format!(
                "| {} at 50 connections >= redis-server inline PING at 50 | feira {f:.0}/s, redis {r:.0}/s ({:+.0}%) | {} |",
                workload.to_uppercase(),
                (f / r - 1.0) * 100.0,
                verdict(f >= r)
            ),
            _ => format!(
                "| {} at 50 connections >= redis-server inline PING at 50 | not measured (redis-server missing?) | - |",
                workload.to_uppercase()
            ),
        };
        let _ = writeln!(md, "{line}");
    }
    let small = mean_throughput(runs, |r| r.label == "orders-1k" && r.workload == "order");
    let large = mean_throughput(runs, |r| r.label == "orders-1m" && r.workload == "order");
    if let (Some((s, ns)), Some((l, nl))) = (small, large) {
        let _ = writeln!(
            md,
            "| ORDER with 1,000,000 existing orders within 10% of 1,000 | 1k: {s:.0}/s (mean of {ns}), 1M: {l:.0}/s (mean of {nl}) = {:+.1}% | {} |",
            (l / s - 1.0) * 100.0,
            verdict(l >= 0.9 * s)
        );
    }
    let transfer = durable_transfer(runs);
    let incr = mean_throughput(runs, |r| r.label == "aof-always" && r.workload == "incr");
    match (transfer, incr) {
        (Some((t, nt)), Some((i, ni))) => {
            let _ = writeln!(
                md,
                "| TRANSFER at 50 >= redis INCRBY, appendfsync always, at 50 | feira {t:.0}/s (mean of {nt}), redis {i:.0}/s (mean of {ni}) | {} |",
                verdict(t >= i)
            );
        }
        (None, Some((i, _))) => {
            let _ = writeln!(
                md,
                "| TRANSFER at 50 >= redis INCRBY, appendfsync always, at 50 | redis {i:.0}/s; TRANSFER not measured (this server has no wallets yet) | - |"
            );
        }
        _ => {}
    }
    for row in hold {
        let per = column(row, HOLD_COLUMNS, "per_connection_kib");
        let held = column(row, HOLD_COLUMNS, "held");
        let wanted = column(row, HOLD_COLUMNS, "wanted");
        let served = column(row, HOLD_COLUMNS, "served");
        let met = per.parse::<f64>().is_ok_and(|p| p < 64.0) && held == wanted && served == wanted;
        let _ = writeln!(
            md,
            "| {wanted} logged-in connections held and all served, < 64 KiB each | held {held}, served {served}, {per} KiB per connection | {} |",
            verdict(met)
        );
    }
    for row in slow {
        let max: u64 = column(row, SLOWLORIS_COLUMNS, "max_us")
            .parse()
            .unwrap_or(u64::MAX);
        let tricklers = column(row, SLOWLORIS_COLUMNS, "tricklers");
        let closed = column(row, SLOWLORIS_COLUMNS, "closed");
        let _ = writeln!(
            md,
            "| {tricklers} trickling connections: a normal request within 100 ms, tricklers closed | max {}, closed {closed}/{tricklers} | {} |",
            micros(max),
            verdict(max <= 100_000 && closed == tricklers)
        );
    }
    let checked: Vec<&RunSummary> = runs.iter().filter(|r| !r.verify.is_empty()).collect();
    if !checked.is_empty() {
        let failed = checked.iter().filter(|r| r.verify_failed()).count();
        let _ = writeln!(
            md,
            "| the books balance after every write run (stock, order ids, money) | {} of {} runs checked passed | {} |",
            checked.len() - failed,
            checked.len(),
            verdict(failed == 0)
        );
    }
}

fn micros_text(text: &str) -> String {
    text.parse().map_or_else(|_| text.to_string(), micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, throughput: f64) -> RunSummary {
        RunSummary {
            label: label.to_string(),
            target: "feira".to_string(),
            workload: "transfer".to_string(),
            connections: 50,
            throughput,
            ..RunSummary::default()
        }
    }

    /// The Redis comparison reads the spread `durable` rows alone: a slower
    /// ablation row (say, group commit off) must not drag TRANSFER's figure down.
    #[test]
    fn transfer_against_redis_counts_only_the_durable_rows() {
        let runs = [
            run("durable", 50_000.0),
            run("durable", 40_000.0),
            run("durable-hot", 1_000.0),
            run("ablation: --group-commit off", 1_000.0),
        ];
        assert_eq!(durable_transfer(&runs), Some((45_000.0, 2)));
    }
}
