//! STATS: what the server is doing, for a class watching it under load.
//!
//! Why these figures: connections and threads show the thread-per-connection model
//! at work; requests by verb show the load; and each lock's acquisitions and wait times
//! show *where* threads queue, which is the lesson of the lock-per-table design. Run
//! `feira-bench` in one terminal and `feira-cli stats --watch` in another.
//!
//! Every line is `* <kind> <name> <values...>`, so programs can read it:
//!
//! ```text
//! * server uptime_secs 42
//! * server connections_live 51
//! * verb ORDER 10230
//! * lock products 20544 1203 88412 913
//! ```
//!
//! A `lock` line's values are: acquisitions, how many had to wait, total wait in
//! microseconds, longest wait in microseconds.

use std::sync::atomic::Ordering;

use super::Shared;
use crate::protocol::Reply;
use crate::protocol::verbs::VERBS;

/// Builds the STATS reply.
pub fn reply(shared: &Shared) -> Reply {
    let counters = &shared.counters;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut server = |name: &str, value: u64| {
        rows.push(vec!["server".into(), name.into(), value.to_string()]);
    };
    server("uptime_secs", shared.started.elapsed().as_secs());
    server("connections_live", counters.live() as u64);
    server(
        "connections_accepted",
        counters.accepted.load(Ordering::Relaxed),
    );
    server(
        "connections_refused",
        counters.refused.load(Ordering::Relaxed),
    );
    server("threads", os_threads().unwrap_or(0));
    server("requests", counters.requests.load(Ordering::Relaxed));
    server("journal_bytes", shared.db.journal.len_bytes());
    server("journal_fsyncs", shared.db.journal.fsync_count());
    // The audit thread's side of the channel: rows written, events dropped because the
    // channel stayed full, writes that failed (see sharing::audit); and rows withheld
    // because their connection was over its row budget (sharing::audit_limit).
    server("audit_written", shared.audit.written());
    server("audit_dropped", shared.audit.dropped());
    server("audit_failures", shared.audit.failures());
    server("audit_limited", shared.audit.limited());
    for (spec, count) in VERBS.iter().zip(&counters.by_verb) {
        let count = count.load(Ordering::Relaxed);
        if count > 0 {
            rows.push(vec!["verb".into(), spec.name.into(), count.to_string()]);
        }
    }
    for (name, stats) in shared.db.lock_stats() {
        rows.push(vec![
            "lock".into(),
            name.into(),
            stats.acquisitions.to_string(),
            stats.contended.to_string(),
            stats.total_wait.as_micros().to_string(),
            stats.max_wait.as_micros().to_string(),
        ]);
    }
    Reply::rows(
        rows,
        "lock columns: acquisitions contended total_wait_us max_wait_us",
    )
}

/// The process's thread count, from /proc on Linux; `None` elsewhere.
fn os_threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}
