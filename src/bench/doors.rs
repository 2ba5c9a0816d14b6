//! The two doors side by side in docs/BENCHMARKS.md: the same workloads over the line
//! protocol and over gRPC (`doors.csv`, written by `feira-bench --doors-out`), and
//! the memory each door spends on idle clients (`idle.csv`, `feira-bench idle`).
//! docs/RPC.md reads its comparison of the two doors from these tables.

use std::fmt::Write as _;
use std::path::Path;

use super::idle::IDLE_COLUMNS;
use super::report::{DOORS_COLUMNS, column, micros, read_csv};

/// Appends the section, if `dir` holds its CSV files.
pub fn section(md: &mut String, dir: &Path) {
    let mut runs = read_csv(&dir.join("doors.csv"), DOORS_COLUMNS).unwrap_or_default();
    let idle = read_csv(&dir.join("idle.csv"), IDLE_COLUMNS).unwrap_or_default();
    if runs.is_empty() && idle.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Two doors: the line protocol and gRPC\n");
    let _ = writeln!(
        md,
        "One server serves both doors (`feira-server --grpc-addr`), and `feira-bench` drives each with the same client model: one thread per client, one request at a time, the same accounts and the same bench product. The read is PRODUCT against `GetProduct`, the durable write ORDER against `PlaceOrder`. Bytes are counted by the kernel on the client's sockets (`TCP_INFO`: everything each door sends, framing, headers and HTTP/2's own frames included) and divided by the requests; server CPU is the server's `utime + stime` over the phase (/proc/PID/stat) divided by the requests (src/bench/door_cost.rs). docs/RPC.md discusses the figures."
    );
    if !runs.is_empty() {
        let number = |row: &Vec<String>, name: &str| -> u64 {
            column(row, DOORS_COLUMNS, name).parse().unwrap_or(0)
        };
        runs.sort_by_key(|row| {
            (
                column(row, DOORS_COLUMNS, "workload").to_string(),
                number(row, "connections"),
                column(row, DOORS_COLUMNS, "door").to_string(),
            )
        });
        let _ = writeln!(
            md,
            "\n| workload | clients | door | requests/s | p50 | p99 | bytes per request | bytes per reply | server CPU per request | errors | verify |"
        );
        let _ = writeln!(md, "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|");
        for row in &runs {
            let get = |name| column(row, DOORS_COLUMNS, name);
            let throughput: f64 = get("throughput").parse().unwrap_or(0.0);
            let cpu = get("cpu_us_per_request");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
                get("workload"),
                get("connections"),
                get("door"),
                throughput,
                micros(number(row, "p50_us")),
                micros(number(row, "p99_us")),
                get("bytes_per_request"),
                get("bytes_per_reply"),
                if cpu.is_empty() {
                    "?".into()
                } else {
                    format!("{cpu} µs")
                },
                if get("errors").is_empty() {
                    "none"
                } else {
                    get("errors")
                },
                get("verify"),
            );
        }
    }
    if !idle.is_empty() {
        let _ = writeln!(
            md,
            "\n**Idle clients.** Each door on a fresh server: the clients connect and get one answer each (PING on a socket; a `GetProduct` without a token, refused, over gRPC), then stay connected and silent while the server's resident memory is read (`feira-bench idle`).\n"
        );
        let _ = writeln!(
            md,
            "| door | idle clients | held | server RSS before | with all connected | per client | server threads before, after |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---|");
        for row in &idle {
            let get = |name| column(row, IDLE_COLUMNS, name);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} KiB | {} KiB | {} KiB | {}, {} |",
                get("door"),
                get("wanted"),
                get("held"),
                get("rss_before_kib"),
                get("rss_after_kib"),
                get("per_client_kib"),
                get("threads_before"),
                get("threads_after"),
            );
        }
    }
}
