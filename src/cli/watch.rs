//! `feira-cli --user admin stats --watch`: STATS again and again, with the change per second.
//!
//! Why: one STATS reply gives totals since the server started, and a total hides what
//! is happening *now*. Contention is a rate: how many acquisitions of the `products`
//! lock had to wait in the last second, and for how long. So every refresh shows each
//! figure next to its change per second since the previous refresh. Start
//! `feira-bench -c 200 -t order` in another terminal and watch the `products` line.
//!
//! One connection and one login serve every refresh; the loop ends after `--count`
//! refreshes, on Ctrl-C (the default signal action ends the process), or when the
//! connection is lost (exit 2). On a terminal the screen is cleared between refreshes;
//! into a pipe or a file each refresh follows the last, under a heading line.
//!
//! Rendering ([`frame`]) is a pure function of two snapshots and the time between
//! them, so it is tested without a server or a clock.

use std::io::{self, IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};

use super::oneshot::{self, Failure};
use super::{Exit, Options};
use crate::protocol::{Reply, escape};

/// How `--watch` runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    /// The time between two STATS requests.
    pub interval: Duration,
    /// Stop after this many refreshes (`None`: until Ctrl-C).
    pub count: Option<u64>,
}

/// Clears a terminal and moves the cursor to the top left (ANSI).
const CLEAR_SCREEN: &str = "\x1b[2J\x1b[H";

/// Runs the watch loop. Exit 0 after `count` refreshes; 1 if STATS is refused (not an
/// admin); 2 if the server cannot be reached or the connection is lost.
pub fn run(options: &Options, watch: &Watch) -> Exit {
    let mut client = match oneshot::open(options) {
        Ok(client) => client,
        Err(failure) => return oneshot::report(failure),
    };
    let clear = io::stdout().is_terminal();
    let mut before: Option<(Stats, Instant)> = None;
    let mut refresh = 0;
    loop {
        let reply = match oneshot::call(&mut client, &options.addr, "STATS") {
            Ok(reply) => reply,
            Err(failure) => return oneshot::report(failure),
        };
        let now = Instant::now();
        if let Err(refusal) = &reply.status {
            let exit = oneshot::report(Failure::Refused(refusal.clone()));
            if options.user.is_none() {
                eprintln!("feira-cli: STATS is for admins: add --user admin");
            }
            return exit;
        }
        let stats = Stats::from_reply(&reply);
        refresh += 1;
        let previous = before.as_ref().map(|(s, at)| (s, now.duration_since(*at)));
        let mut out = io::stdout().lock();
        let heading = format!(
            "== STATS from {}, refresh {refresh}, every {:?} (Ctrl-C to stop) ==",
            options.addr, watch.interval
        );
        let shown = if clear {
            write!(out, "{CLEAR_SCREEN}")
        } else if refresh > 1 {
            writeln!(out)
        } else {
            Ok(())
        };
        let shown = shown
            .and_then(|()| writeln!(out, "{heading}"))
            .and_then(|()| {
                // Names in STATS come from the server: escaped like every reply.
                frame(&stats, previous)
                    .iter()
                    .try_for_each(|l| writeln!(out, "{}", escape::for_terminal(l)))
            })
            .and_then(|()| out.flush());
        drop(out);
        // Nobody is reading any more (`feira-cli ... | head`): stop quietly.
        if shown.is_err() {
            return Exit::Success;
        }
        if watch.count.is_some_and(|n| refresh >= n) {
            let _ = client.send_line("QUIT");
            return Exit::Success;
        }
        before = Some((stats, now));
        thread::sleep(watch.interval);
    }
}

/// One lock's line of STATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockLine {
    pub name: String,
    pub acquisitions: u64,
    pub contended: u64,
    pub total_wait_us: u64,
    pub max_wait_us: u64,
}

/// A STATS reply, read into figures. Lines of a kind this client does not know are
/// skipped, so a newer server still works with this client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `server <name> <value>` lines, in the server's order.
    pub server: Vec<(String, u64)>,
    /// `verb <VERB> <count>` lines.
    pub verbs: Vec<(String, u64)>,
    /// `lock <name> <acquisitions> <contended> <total_wait_us> <max_wait_us>` lines.
    pub locks: Vec<LockLine>,
}

impl Stats {
    /// Reads the data lines of a STATS reply (see `server::stats`).
    pub fn from_reply(reply: &Reply) -> Stats {
        let mut stats = Stats::default();
        for row in &reply.data {
            let number = |i: usize| row.get(i).and_then(|v| v.parse::<u64>().ok());
            match (row.first().map(String::as_str), row.get(1)) {
                (Some("server"), Some(name)) => {
                    if let Some(value) = number(2) {
                        stats.server.push((name.clone(), value));
                    }
                }
                (Some("verb"), Some(name)) => {
                    if let Some(value) = number(2) {
                        stats.verbs.push((name.clone(), value));
                    }
                }
                (Some("lock"), Some(name)) => {
                    if let (Some(a), Some(c), Some(t), Some(m)) =
                        (number(2), number(3), number(4), number(5))
                    {
                        stats.locks.push(LockLine {
                            name: name.clone(),
                            acquisitions: a,
                            contended: c,
                            total_wait_us: t,
                            max_wait_us: m,
                        });
                    }
                }
                _ => {}
            }
        }
        stats
    }

    fn server(&self, name: &str) -> Option<u64> {
        self.server.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    fn verb(&self, name: &str) -> Option<u64> {
        self.verbs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    fn lock(&self, name: &str) -> Option<&LockLine> {
        self.locks.iter().find(|l| l.name == name)
    }
}

/// The change per second of a counter, as text: `+812/s`, or `-` on the first refresh
/// (nothing to compare with). A counter that went down (the server restarted) shows `-`.
fn rate(now: u64, before: Option<u64>, elapsed: Duration) -> String {
    match before {
        Some(before) if now >= before && !elapsed.is_zero() => {
            let per_second = (now - before) as f64 / elapsed.as_secs_f64();
            format!("+{per_second:.0}")
        }
        _ => "-".into(),
    }
}

/// Microseconds as milliseconds with one decimal.
fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// Rows as aligned columns: the first (a name) to the left, the rest (numbers) to the
/// right, two spaces apart.
fn align(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    if i == 0 {
                        format!("{cell:<w$}")
                    } else {
                        format!("{cell:>w$}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// The lines of one refresh: the server's figures, one row per lock, the verbs used.
/// `previous` is the last refresh's figures and the time since it.
pub fn frame(now: &Stats, previous: Option<(&Stats, Duration)>) -> Vec<String> {
    let elapsed = previous.map_or(Duration::ZERO, |(_, e)| e);
    let before = |f: &dyn Fn(&Stats) -> Option<u64>| previous.and_then(|(s, _)| f(s));
    let server = |name: &str| now.server(name).unwrap_or(0);
    let server_rate = |name: &str| rate(server(name), before(&|s: &Stats| s.server(name)), elapsed);
    let mut lines = vec![
        format!(
            "uptime {} s   connections: {} live, {} accepted, {} refused   threads {}",
            server("uptime_secs"),
            server("connections_live"),
            server("connections_accepted"),
            server("connections_refused"),
            server("threads"),
        ),
        format!(
            "requests {} ({}/s)   journal fsyncs {} ({}/s)   journal {} bytes",
            server("requests"),
            server_rate("requests"),
            server("journal_fsyncs"),
            server_rate("journal_fsyncs"),
            server("journal_bytes"),
        ),
        String::new(),
    ];
    // The lock table: totals since start, and the change per second since the last
    // refresh. "wait ms/s" is the time spent waiting for this lock per second of
    // clock time, summed over threads: above 1000, more than one thread was waiting
    // on average.
    let header = [
        "lock",
        "acquired",
        "/s",
        "contended",
        "/s",
        "wait ms",
        "wait ms/s",
        "max wait ms",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for lock in &now.locks {
        let old = previous.and_then(|(s, _)| s.lock(&lock.name));
        let wait_rate = match old {
            Some(old) if lock.total_wait_us >= old.total_wait_us && !elapsed.is_zero() => {
                let per_second =
                    (lock.total_wait_us - old.total_wait_us) as f64 / elapsed.as_secs_f64();
                ms(per_second as u64)
            }
            _ => "-".into(),
        };
        rows.push(vec![
            lock.name.clone(),
            lock.acquisitions.to_string(),
            rate(lock.acquisitions, old.map(|o| o.acquisitions), elapsed),
            lock.contended.to_string(),
            rate(lock.contended, old.map(|o| o.contended), elapsed),
            ms(lock.total_wait_us),
            wait_rate,
            ms(lock.max_wait_us),
        ]);
    }
    lines.extend(align(&rows));
    lines.push(String::new());
    let verbs: Vec<String> = now
        .verbs
        .iter()
        .map(|(name, count)| {
            let per_second = rate(*count, before(&|s: &Stats| s.verb(name)), elapsed);
            format!("{name} {count} ({per_second}/s)")
        })
        .collect();
    lines.push(format!("verbs: {}", verbs.join(", ")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Reply;

    fn row(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|f| f.to_string()).collect()
    }

    fn reply(requests: &str, products: [&str; 4], orders: &str) -> Reply {
        let [a, c, t, m] = products;
        Reply::rows(
            vec![
                row(&["server", "uptime_secs", "42"]),
                row(&["server", "requests", requests]),
                row(&["verb", "ORDER", orders]),
                row(&["lock", "products", a, c, t, m]),
                row(&["lock", "journal", "10", "0", "0", "0"]),
                row(&["future", "kind", "1"]),
                row(&["lock", "broken", "x"]),
            ],
            "lock columns: acquisitions contended total_wait_us max_wait_us",
        )
    }

    /// The row of the lock table that starts with `name`, split into columns.
    fn lock_row(lines: &[String], name: &str) -> Vec<String> {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row in {lines:#?}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn reads_the_known_lines_and_skips_the_rest() {
        let stats = Stats::from_reply(&reply("100", ["20", "3", "1500", "900"], "7"));
        assert_eq!(stats.server("requests"), Some(100));
        assert_eq!(stats.verb("ORDER"), Some(7));
        assert_eq!(stats.locks.len(), 2, "the broken lock line is skipped");
        assert_eq!(stats.lock("products").map(|l| l.total_wait_us), Some(1500));
    }

    #[test]
    fn the_first_refresh_has_totals_and_no_rates() {
        let stats = Stats::from_reply(&reply("100", ["20", "3", "1500", "900"], "7"));
        let lines = frame(&stats, None);
        assert_eq!(
            lock_row(&lines, "products"),
            ["products", "20", "-", "3", "-", "1.5", "-", "0.9"]
        );
        assert!(lines.iter().any(|l| l.contains("requests 100 (-/s)")));
        assert!(lines.iter().any(|l| l == "verbs: ORDER 7 (-/s)"));
    }

    #[test]
    fn later_refreshes_show_the_change_per_second() {
        let before = Stats::from_reply(&reply("100", ["20", "3", "1500", "900"], "7"));
        let now = Stats::from_reply(&reply("300", ["420", "103", "41500", "2000"], "207"));
        // Two seconds between the refreshes: 400 more acquisitions is 200 a second.
        let lines = frame(&now, Some((&before, Duration::from_secs(2))));
        assert_eq!(
            lock_row(&lines, "products"),
            [
                "products", "420", "+200", "103", "+50", "41.5", "20.0", "2.0"
            ]
        );
        assert_eq!(
            lock_row(&lines, "journal"),
            ["journal", "10", "+0", "0", "+0", "0.0", "0.0", "0.0"]
        );
        assert!(lines.iter().any(|l| l.contains("requests 300 (+100/s)")));
        assert!(lines.iter().any(|l| l == "verbs: ORDER 207 (+100/s)"));
    }

    #[test]
    fn a_counter_that_went_down_has_no_rate() {
        // The server restarted between two refreshes: no negative rates.
        let before = Stats::from_reply(&reply("300", ["420", "103", "41500", "2000"], "207"));
        let now = Stats::from_reply(&reply("5", ["2", "0", "0", "0"], "1"));
        let lines = frame(&now, Some((&before, Duration::from_secs(1))));
        assert_eq!(
            lock_row(&lines, "products"),
            ["products", "2", "-", "0", "-", "0.0", "-", "0.0"]
        );
    }
}
