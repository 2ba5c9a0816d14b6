//! Refused journal writes, logged without flooding the log.
//!
//! Why: when the disk is full, every write is refused, and a classroom server can be
//! asked for hundreds a second. One ERROR line each would bury everything else on the
//! instructor's terminal (and fill a log file, on the disk that is already full). So a
//! run of refusals is told in a few lines:
//!
//! - the first refusal, at ERROR, with its cause;
//! - then at most one line every [`REPORT_EVERY`], with how many more were refused;
//! - and one line when a write succeeds again, with how many were refused in all.
//!
//! [`RefusedWrites`] only decides which line is due; it is plain data, so a test can
//! drive it with made-up instants. The journal keeps one under its writer lock, and
//! logs the [`Report`] after releasing it.

use std::time::{Duration, Instant};

use crate::error::Error;

/// At most one line per this long while writes keep being refused.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);

/// The refusals of the current run, if writes are being refused.
#[derive(Debug, Default)]
pub struct RefusedWrites {
    run: Option<Run>,
}

#[derive(Debug)]
struct Run {
    /// When the last line about this run was logged.
    reported_at: Instant,
    /// Refusals since that line.
    unreported: u64,
    /// Refusals in the whole run.
    total: u64,
}

/// A line that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The first refusal after writes succeeded.
    First,
    /// `refused` more refusals since the last line, `over` ago.
    More { refused: u64, over: Duration },
    /// A write succeeded after `refused` refusals.
    Recovered { refused: u64 },
}

impl RefusedWrites {
    /// A write was refused at `now`: the line to log, if one is due.
    pub fn refused(&mut self, now: Instant) -> Option<Report> {
        let Some(run) = &mut self.run else {
            self.run = Some(Run {
                reported_at: now,
                unreported: 0,
                total: 1,
            });
            return Some(Report::First);
        };
        run.total += 1;
        run.unreported += 1;
        let over = now.saturating_duration_since(run.reported_at);
        if over < REPORT_EVERY {
            return None;
        }
        run.reported_at = now;
        let refused = std::mem::take(&mut run.unreported);
        Some(Report::More { refused, over })
    }

    /// A write succeeded: the line to log, if writes were being refused until now.
    pub fn succeeded(&mut self) -> Option<Report> {
        let run = self.run.take()?;
        Some(Report::Recovered { refused: run.total })
    }

    /// Writes refused since the last one that succeeded.
    #[cfg(test)]
    pub fn in_a_row(&self) -> u64 {
        self.run.as_ref().map_or(0, |run| run.total)
    }
}

impl Report {
    /// Logs this line; `error` is why the last write was refused.
    pub fn log(self, error: Option<&Error>) {
        let error = error.map_or_else(String::new, Error::to_string);
        match self {
            Report::First => log::error!(
                "a write to the journal was refused, nothing was changed: {error} \
                 (further refusals are counted, one line every {} s)",
                REPORT_EVERY.as_secs()
            ),
            Report::More { refused, over } => log::error!(
                "{refused} more writes to the journal refused in the last {:.0} s: {error}",
                over.as_secs_f64()
            ),
            Report::Recovered { refused } => {
                log::info!("the journal is being written again, after {refused} refused writes")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_of_refusals_is_a_few_lines_and_a_success_ends_it() {
        let mut refused = RefusedWrites::default();
        let start = Instant::now();
        // A full disk for a minute, refusing a write every millisecond.
        let mut lines = Vec::new();
        for ms in 0..60_000 {
            let now = start + Duration::from_millis(ms);
            lines.extend(refused.refused(now));
        }
        assert_eq!(lines[0], Report::First);
        // One line every 5 s after the first: 11 in the minute.
        assert_eq!(lines.len(), 1 + 11, "{lines:?}");
        let counted: u64 = lines[1..]
            .iter()
            .map(|line| match line {
                Report::More { refused, over } => {
                    assert!(*over >= REPORT_EVERY);
                    *refused
                }
                other => panic!("{other:?}"),
            })
            .sum();
        // Every refusal after the first is in a line, except those since the last one.
        assert_eq!(counted, 55_000);

        // A success ends the run, with the whole count, once.
        assert_eq!(
            refused.succeeded(),
            Some(Report::Recovered { refused: 60_000 })
        );
        assert_eq!(refused.succeeded(), None);
        // And the next refusal is a first one again, logged at once.
        assert_eq!(refused.refused(start), Some(Report::First));
        assert_eq!(refused.refused(start), None);
    }
}
