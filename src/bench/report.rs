//! Latency histograms and the summary of one run, printed for people or for machines.
//!
//! Why an HDR histogram: an average hides the slow requests that users notice, and
//! keeping every sample of a million-request run costs memory. An HDR histogram keeps
//! three significant digits at every scale (1 µs to a minute) in a few tens of KiB, and
//! two of them add up exactly, so each connection thread records into its own and the
//! main thread merges them at the end: no shared counter on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Request latencies in microseconds, from 1 µs to 60 s, three significant digits.
#[derive(Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

/// The highest latency recorded exactly; slower requests count as this.
const HIGHEST_MICROS: u64 = 60_000_000;

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            // The bounds are constants that hdrhistogram accepts: this cannot fail.
            histogram: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Latencies {
    /// Records one request's latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // Values are clamped into the bounds, so recording never fails.
        self.histogram
            .saturating_record(micros.clamp(1, HIGHEST_MICROS));
    }

    /// Adds another thread's samples.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so the addition cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many samples.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at a quantile (0.5 for the median), in microseconds; 0 when empty.
    pub fn quantile_micros(&self, quantile: f64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.value_at_quantile(quantile)
    }

    /// The slowest sample, in microseconds.
    pub fn max_micros(&self) -> u64 {
        self.histogram.max()
    }
}

/// What one run measured: one workload against one server at one connection count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Free text chosen by the caller, to tell runs apart (`matrix`, `orders-1m`, ...).
    pub label: String,
    /// `feira` or `redis`.
    pub target: String,
    pub workload: String,
    pub connections: usize,
    /// How long the measured phase lasted.
    pub seconds: f64,
    /// Requests answered (OK or ERR) in the measured phase.
    pub ops: u64,
    pub throughput: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// ERR replies by code, and `IO` for requests that got no reply at all.
    pub errors: BTreeMap<String, u64>,
    /// Logins done before the measurement, and their latency in milliseconds.
    pub logins: u64,
    pub login_p50_ms: f64,
    pub login_p99_ms: f64,
    pub login_max_ms: f64,
    /// The invariant check after a write workload: `ok`, `FAILED: ...`, or empty.
    pub verify: String,
    /// What a request cost on the wire and in the server's CPU (not in the CSV of
    /// runs: `feira-bench --doors-out` writes it, with [`DOORS_COLUMNS`]).
    pub cost: Option<super::door_cost::Cost>,
}

/// The cell of `row` under the column `name` (empty if there is none).
pub fn column<'a>(row: &'a [String], columns: &[&str], name: &str) -> &'a str {
    columns
        .iter()
        .position(|c| *c == name)
        .and_then(|i| row.get(i))
        .map_or("", String::as_str)
}

/// The columns of `--doors-out`: one run of one door, with what a request cost.
pub const DOORS_COLUMNS: &[&str] = &[
    "door",
    "workload",
    "connections",
    "seconds",
    "ops",
    "throughput",
    "p50_us",
    "p99_us",
    "errors",
    "bytes_per_request",
    "bytes_per_reply",
    "cpu_us_per_request",
    "verify",
];

impl RunSummary {
    /// The fields in [`DOORS_COLUMNS`] order, for the door `door` (`sockets`, `grpc`).
    pub fn doors_fields(&self, door: &str) -> Vec<String> {
        let cost = self.cost.unwrap_or_default();
        vec![
            door.to_string(),
            self.workload.clone(),
            self.connections.to_string(),
            format!("{:.3}", self.seconds),
            self.ops.to_string(),
            format!("{:.1}", self.throughput),
            self.p50_us.to_string(),
            self.p99_us.to_string(),
            self.errors_text(),
            format!("{:.1}", cost.bytes_per_request),
            format!("{:.1}", cost.bytes_per_reply),
            cost.cpu_us_per_request
                .map_or(String::new(), |us| format!("{us:.1}")),
            self.verify.clone(),
        ]
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "label",
    "target",
    "workload",
    "connections",
    "seconds",
    "ops",
    "throughput",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "errors",
    "logins",
    "login_p50_ms",
    "login_p99_ms",
    "login_max_ms",
    "verify",
];

impl RunSummary {
    /// Fills the latency and throughput fields from a merged histogram.
    pub fn set_latencies(&mut self, latencies: &Latencies, seconds: f64) {
        self.seconds = seconds;
        self.ops = latencies.count();
        self.throughput = if seconds > 0.0 {
            self.ops as f64 / seconds
        } else {
            0.0
        };
        self.p50_us = latencies.quantile_micros(0.5);
        self.p90_us = latencies.quantile_micros(0.9);
        self.p99_us = latencies.quantile_micros(0.99);
        self.p999_us = latencies.quantile_micros(0.999);
        self.max_us = latencies.max_micros();
    }

    /// Fills the login fields.
    pub fn set_logins(&mut self, logins: &Latencies) {
        self.logins = logins.count();
        self.login_p50_ms = logins.quantile_micros(0.5) as f64 / 1000.0;
        self.login_p99_ms = logins.quantile_micros(0.99) as f64 / 1000.0;
        self.login_max_ms = logins.max_micros() as f64 / 1000.0;
    }

    /// The errors as `CODE=count;CODE=count` (empty when there were none).
    pub fn errors_text(&self) -> String {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(code, n)| format!("{code}={n}"))
            .collect();
        parts.join(";")
    }

    /// Did the invariant check fail?
    pub fn verify_failed(&self) -> bool {
        self.verify.starts_with("FAILED")
    }

    /// The summary as text for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "== {} on {} ({}), {} connections{}",
            self.workload,
            self.target,
            self.label,
            self.connections,
            if self.logins > 0 {
                format!(
                    "; {} logins: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    self.logins, self.login_p50_ms, self.login_p99_ms, self.login_max_ms
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "   {} requests in {:.2} s = {:.0} requests/s",
            self.ops, self.seconds, self.throughput
        );
        let _ = writeln!(
            out,
            "   latency: p50 {} p90 {} p99 {} p99.9 {} max {}",
            micros(self.p50_us),
            micros(self.p90_us),
            micros(self.p99_us),
            micros(self.p999_us),
            micros(self.max_us)
        );
        let errors = self.errors_text();
        let _ = writeln!(
            out,
            "   errors: {}",
            if errors.is_empty() { "none" } else { &errors }
        );
        if !self.verify.is_empty() {
            let _ = writeln!(out, "   verify: {}", self.verify);
        }
        out
    }

    /// The fields in [`CSV_COLUMNS`] order.
    pub fn csv_fields(&self) -> Vec<String> {
        vec![
            self.label.clone(),
            self.target.clone(),
            self.workload.clone(),
            self.connections.to_string(),
            format!("{:.3}", self.seconds),
            self.ops.to_string(),
            format!("{:.1}", self.throughput),
            self.p50_us.to_string(),
            self.p90_us.to_string(),
            self.p99_us.to_string(),
            self.p999_us.to_string(),
            self.max_us.to_string(),
            self.errors_text(),
            self.logins.to_string(),
            format!("{:.2}", self.login_p50_ms),
            format!("{:.2}", self.login_p99_ms),
            format!("{:.2}", self.login_max_ms),
            self.verify.clone(),
        ]
    }

    /// Reads a summary back from CSV fields (as written by [`RunSummary::csv_fields`]).
    pub fn from_csv_fields(fields: &[&str]) -> Option<RunSummary> {
        if fields.len() != CSV_COLUMNS.len() {
            return None;
        }
        let errors = fields[12]
            .split(';')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .filter_map(|(code, n)| Some((code.to_string(), n.parse().ok()?)))
            .collect();
        Some(RunSummary {
            label: fields[0].to_string(),
            target: fields[1].to_string(),
            workload: fields[2].to_string(),
            connections: fields[3].parse().ok()?,
            seconds: fields[4].parse().ok()?,
            ops: fields[5].parse().ok()?,
            throughput: fields[6].parse().ok()?,
            p50_us: fields[7].parse().ok()?,
            p90_us: fields[8].parse().ok()?,
            p99_us: fields[9].parse().ok()?,
            p999_us: fields[10].parse().ok()?,
            max_us: fields[11].parse().ok()?,
            errors,
            logins: fields[13].parse().ok()?,
            login_p50_ms: fields[14].parse().ok()?,
            login_p99_ms: fields[15].parse().ok()?,
            login_max_ms: fields[16].parse().ok()?,
            verify: fields[17].to_string(),
            cost: None,
        })
    }

    /// The summary as one JSON object (no serde needed for a flat record).
    pub fn json(&self) -> String {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(code, n)| format!("{}:{n}", json_string(code)))
            .collect();
        format!(
            concat!(
                "{{\"label\":{},\"target\":{},\"workload\":{},\"connections\":{},",
                "\"seconds\":{:.3},\"ops\":{},\"throughput\":{:.1},",
                "\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},",
                "\"errors\":{{{}}},\"logins\":{},\"login_p50_ms\":{:.2},",
                "\"login_p99_ms\":{:.2},\"login_max_ms\":{:.2},\"verify\":{}}}"
            ),
            json_string(&self.label),
            json_string(&self.target),
            json_string(&self.workload),
            self.connections,
            self.seconds,
            self.ops,
            self.throughput,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            errors.join(","),
            self.logins,
            self.login_p50_ms,
            self.login_p99_ms,
            self.login_max_ms,
            json_string(&self.verify),
        )
    }
}

/// A latency for people: `850 µs`, `12.3 ms`, `1.20 s`.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One CSV line (with its newline) from fields, quoted as needed.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(fields.iter().map(|f| f.as_ref()));
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Appends one row to a CSV file, writing the header first if the file is new or empty.
pub fn append_csv(path: &Path, columns: &[&str], fields: &[String]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    if file.metadata()?.len() == 0 {
        file.write_all(csv_line(columns).as_bytes())?;
    }
    file.write_all(csv_line(fields).as_bytes())
}

/// Reads every row of a CSV file written by [`append_csv`], with the header checked.
pub fn read_csv(path: &Path, columns: &[&str]) -> io::Result<Vec<Vec<String>>> {
    let mut reader = csv::Reader::from_path(path).map_err(io::Error::other)?;
    let header: Vec<String> = reader
        .headers()
        .map_err(io::Error::other)?
        .iter()
        .map(str::to_string)
        .collect();
    if header != columns {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: unexpected header {header:?}", path.display()),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(io::Error::other)?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_known_samples() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        for ms in 1..=50 {
            a.record(Duration::from_millis(ms));
        }
        for ms in 51..=100 {
            b.record(Duration::from_millis(ms));
        }
        a.merge(&b);
        assert_eq!(a.count(), 100);
        let p50 = a.quantile_micros(0.5);
        assert!((49_900..=50_100).contains(&p50), "{p50}");
        assert!(a.max_micros() >= 99_900);
        // Out-of-range samples are clamped, not lost.
        a.record(Duration::from_secs(3600));
        assert_eq!(a.count(), 101);
    }

    #[test]
    fn a_summary_survives_csv() {
        let mut summary = RunSummary {
            label: "with, comma".into(),
            target: "feira".into(),
            workload: "order".into(),
            connections: 50,
            verify: "ok".into(),
            ..RunSummary::default()
        };
        summary.errors.insert("BUSY".into(), 3);
        summary.errors.insert("IO".into(), 1);
        let line = csv_line(&summary.csv_fields());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        let fields: Vec<&str> = record.iter().collect();
        let back = RunSummary::from_csv_fields(&fields).unwrap();
        assert_eq!(back.errors, summary.errors);
        assert_eq!(back.label, summary.label);
        assert!(summary.json().contains("\"errors\":{\"BUSY\":3,\"IO\":1}"));
    }
}
