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
                // The check's full sentence is in doors.csv; "ok" says it here.
                if get("verify").starts_with("ok") {
                    "ok"
                } else {
                    get("verify")
                },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::append_csv;

    #[test]
    fn both_doors_are_rendered_row_by_row_with_their_costs() {
        let dir = tempfile::tempdir().unwrap();
        let doors = dir.path().join("doors.csv");
        for row in [
            [
                "grpc", "product", "50", "1.0", "100", "100.0", "2000", "4000", "", "125.5",
                "57.0", "45.3", "",
            ],
            [
                "sockets", "product", "50", "1.0", "500", "500.0", "400", "900", "", "20.0",
                "33.0", "9.9", "",
            ],
        ] {
            append_csv(&doors, DOORS_COLUMNS, &row.map(String::from)).unwrap();
        }
        let idle = [
            "sockets", "1000", "1000", "0.5", "46000", "67000", "21.0", "6", "1005", "",
        ];
        append_csv(
            &dir.path().join("idle.csv"),
            IDLE_COLUMNS,
            &idle.map(String::from),
        )
        .unwrap();
        let mut md = String::new();
        section(&mut md, dir.path());
        assert!(
            md.contains(
                "| product | 50 | grpc | 100 | 2.0 ms | 4.0 ms | 125.5 | 57.0 | 45.3 µs | none |"
            ),
            "{md}"
        );
        assert!(md.contains("| product | 50 | sockets | 500 |"), "{md}");
        assert!(
            md.contains("| sockets | 1000 | 1000 | 46000 KiB | 67000 KiB | 21.0 KiB | 6, 1005 |"),
            "{md}"
        );
        let mut nothing = String::new();
        section(&mut nothing, tempfile::tempdir().unwrap().path());
        assert!(nothing.is_empty());
    }
}
