//! STATS: what the server is doing, for a class watching it under load.
//!
//! Why these figures: connections and threads show the thread-per-connection model
//! at work; requests by verb show the load; each lock's acquisitions and wait times
//! show *where* threads queue, which is the lesson of the lock-per-table design; and
//! journal lines against fsyncs show group commit (many lines share one fsync under
//! load). Run `feira-bench` in one terminal and `feira-cli stats --watch` in another,
//! or open the web dashboard (src/http/, which shows the same [`Snapshot`] as JSON).
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
use crate::storage::LockStatsSnapshot;

/// Every figure STATS shows, read once. The STATS reply and the web door's
/// `/api/stats` are both written from one of these, so they cannot disagree about
/// what is shown.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The `server` figures, by name, in the order STATS lists them.
    pub server: Vec<(&'static str, u64)>,
    /// Requests handled per verb since start, one entry per verb of the protocol (in
    /// `protocol::verbs::VERBS` order), zeros included.
    pub verbs: Vec<(&'static str, u64)>,
    /// Each lock's contention counters, in lock order (src/db.rs).
    pub locks: Vec<(&'static str, LockStatsSnapshot)>,
}

impl Snapshot {
    /// A `server` figure by name (0 for a name STATS does not have).
    pub fn server(&self, name: &str) -> u64 {
        (self.server.iter())
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// Reads every figure. Atomics only, and one copy of each lock's counters: no table
/// lock is taken, so watching the server never slows it.
pub fn snapshot(shared: &Shared) -> Snapshot {
    let counters = &shared.counters;
    let journal = &shared.db.journal;
    let server = vec![
        ("uptime_secs", shared.started.elapsed().as_secs()),
        ("connections_live", counters.live() as u64),
        (
            "connections_accepted",
            counters.accepted.load(Ordering::Relaxed),
        ),
        (
            "connections_refused",
            counters.refused.load(Ordering::Relaxed),
        ),
        ("threads", os_threads().unwrap_or(0)),
        ("requests", counters.requests.load(Ordering::Relaxed)),
        ("journal_bytes", journal.len_bytes()),
        // Lines written against fsyncs run: their ratio is group commit at work.
        ("journal_lines", journal.lines_written()),
        ("journal_fsyncs", journal.fsync_count()),
        // The audit thread's side of the channel: rows written, events dropped because
        // the channel stayed full, writes that failed (see sharing::audit); and rows
        // withheld because their connection was over its row budget
        // (sharing::audit_limit).
        ("audit_written", shared.audit.written()),
        ("audit_dropped", shared.audit.dropped()),
        ("audit_failures", shared.audit.failures()),
        ("audit_limited", shared.audit.limited()),
        // Copies of the audit events for a log server (`--log-server`): acknowledged
        // by it, and dropped because it was slow or gone (sharing::audit::forward).
        ("log_forwarded", shared.audit.log_forwarded()),
        ("log_dropped", shared.audit.log_dropped()),
        // Pay keys replaced since start (at start-up and by the rotation thread).
        (
            "key_rotations",
            counters.key_rotations.load(Ordering::Relaxed),
        ),
    ];
    let verbs = VERBS
        .iter()
        .zip(&counters.by_verb)
        .map(|(spec, count)| (spec.name, count.load(Ordering::Relaxed)))
        .collect();
    Snapshot {
        server,
        verbs,
        locks: shared.db.lock_stats(),
    }
}

/// Builds the STATS reply.
pub fn reply(shared: &Shared) -> Reply {
    let snapshot = snapshot(shared);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (name, value) in &snapshot.server {
        rows.push(vec!["server".into(), (*name).into(), value.to_string()]);
    }
    // Only the verbs used since start: a short reply for a terminal.
    for (name, count) in snapshot.verbs.iter().filter(|(_, count)| *count > 0) {
        rows.push(vec!["verb".into(), (*name).into(), count.to_string()]);
    }
    for (name, stats) in &snapshot.locks {
        rows.push(vec![
            "lock".into(),
            (*name).into(),
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
