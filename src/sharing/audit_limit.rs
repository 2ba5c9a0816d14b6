//! What one connection may put in the audit log: short arguments, and a budget of rows.
//!
//! Why this exists: the audit log writes one row per file-sharing request of a
//! logged-in user. Left unbounded, one client could fill the disk through it (a request
//! line of 8,000 quotes became a row of 16,000 bytes, thousands of times a second) and,
//! by keeping the audit channel full, push other users' rows out of it. Three rules
//! bound what one connection can cause to be written:
//!
//! 1. Only logged-in sessions are audited (the session checks this before it builds an
//!    event): a connection that never logs in writes nothing at all.
//! 2. [`shorten`]: arguments longer than [`MAX_ARGUMENT_CHARS`] characters are cut there,
//!    on a character boundary, and followed by their full length: `""""…[8000 chars]`.
//!    A row is then a few hundred bytes at most. The full values that matter (a
//!    published file's name and description) are in `files.csv` anyway.
//! 3. [`RowBudget`]: a token bucket per connection. A connection may write
//!    [`RowLimit::burst`] rows in a row, then [`RowLimit::per_second`] a second. A row
//!    beyond that is *withheld*: not written, but counted (STATS `audit_limited`), and
//!    the connection's next written row, or its end, is preceded by one `AUDIT_LIMITED`
//!    row that says how many were withheld. So a flood from one connection costs at most
//!    `per_second` short rows a second, and the gap it leaves is never silent.
//!
//! The plain alternative, one global cap on rows a second, would let one connection use
//! the whole allowance and silence everybody else: the budget is per connection so that
//! a flood only ever limits its own rows.

use std::time::Instant;

/// The longest argument text written in an audit row, in characters.
pub const MAX_ARGUMENT_CHARS: usize = 64;

/// `arguments` as the audit log writes them: whole if they are at most
/// [`MAX_ARGUMENT_CHARS`] characters, else the first ones, `…`, and the full length.
///
/// ```
/// use feira::sharing::audit_limit::shorten;
/// assert_eq!(shorten("notas.txt x".into()), "notas.txt x");
/// let long = "ç".repeat(100);
/// assert_eq!(shorten(long), format!("{}…[100 chars]", "ç".repeat(64)));
/// ```
pub fn shorten(arguments: String) -> String {
    // Cheap test first: a string of at most N bytes has at most N characters.
    if arguments.len() <= MAX_ARGUMENT_CHARS {
        return arguments;
    }
    let chars = arguments.chars().count();
    if chars <= MAX_ARGUMENT_CHARS {
        return arguments;
    }
    // The byte offset of the first character left out: always a character boundary.
    let cut = arguments
        .char_indices()
        .nth(MAX_ARGUMENT_CHARS)
        .map_or(arguments.len(), |(at, _)| at);
    format!("{}…[{chars} chars]", &arguments[..cut])
}

/// How many audit rows one connection may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimit {
    /// Rows a connection may write at once, before the rate applies.
    pub burst: u32,
    /// Rows a second after the burst is used up.
    pub per_second: u32,
}

impl Default for RowLimit {
    fn default() -> RowLimit {
        // A person at `feira-cli` makes a request every few seconds, and a script that
        // publishes a folder of 256 files at full speed is audited whole. A flood gets
        // 32 rows a second of at most ~250 bytes: under 30 MB an hour per connection,
        // where unbounded it wrote 25 MB a second.
        RowLimit {
            burst: 256,
            per_second: 32,
        }
    }
}

/// Whether the next audit row of a connection is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Write it; before it, say that this many earlier rows were withheld (if any).
    Write { withheld_before: u64 },
    /// Do not write it: the connection is over its limit (the row is counted).
    Withhold,
}

/// One connection's token bucket of audit rows (see the module docs).
#[derive(Debug, Clone)]
pub struct RowBudget {
    limit: RowLimit,
    /// Rows that may be written now; refilled at `per_second`, up to `burst`.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    refilled_at: Instant,
    /// Rows withheld since the last `AUDIT_LIMITED` row.
    withheld: u64,
}

impl RowBudget {
    /// A full bucket: the connection may write `burst` rows at once.
    pub fn new(limit: RowLimit, now: Instant) -> RowBudget {
        RowBudget {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: now,
            withheld: 0,
        }
    }

    /// The limit this budget applies.
    pub fn limit(&self) -> RowLimit {
        self.limit
    }

    /// Takes one row from the bucket, or withholds the row if the bucket is empty.
    pub fn admit(&mut self, now: Instant) -> Admit {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(self.limit.per_second))
            .min(f64::from(self.limit.burst));
        self.refilled_at = self.refilled_at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Admit::Write {
                withheld_before: self.take_withheld(),
            }
        } else {
            self.withheld += 1;
            Admit::Withhold
        }
    }

    /// Rows withheld since the last call (or the last written row), reset to zero: for
    /// the `AUDIT_LIMITED` row written when the connection ends.
    pub fn take_withheld(&mut self) -> u64 {
        std::mem::take(&mut self.withheld)
    }
}

/// The text of an `AUDIT_LIMITED` row's `arguments`.
pub fn withheld_message(withheld: u64, limit: RowLimit) -> String {
    format!(
        "{withheld} requests not audited: over this connection's limit of {} rows, then {}/s",
        limit.burst, limit.per_second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn short_arguments_are_kept_and_long_ones_cut_on_a_character_boundary() {
        assert_eq!(shorten(String::new()), "");
        let exact = "a".repeat(MAX_ARGUMENT_CHARS);
        assert_eq!(shorten(exact.clone()), exact);
        // 64 characters, but 128 bytes: kept whole.
        let wide = "ã".repeat(MAX_ARGUMENT_CHARS);
        assert_eq!(shorten(wide.clone()), wide);
        let quotes = "\"".repeat(8000);
        assert_eq!(
            shorten(quotes),
            format!("{}…[8000 chars]", "\"".repeat(MAX_ARGUMENT_CHARS))
        );
        let mixed = format!("{}{}", "a".repeat(63), "Maçã".repeat(10));
        assert_eq!(shorten(mixed), format!("{}M…[103 chars]", "a".repeat(63)));
    }

    #[test]
    fn a_burst_then_the_rate_and_the_withheld_rows_are_reported_once() {
        let limit = RowLimit {
            burst: 3,
            per_second: 2,
        };
        let start = Instant::now();
        let mut budget = RowBudget::new(limit, start);
        let written = (0..10)
            .filter(|_| matches!(budget.admit(start), Admit::Write { .. }))
            .count();
        assert_eq!(written, 3, "the burst, then nothing at the same instant");
        // Half a second later one token has come back; the seven withheld rows are
        // reported with the next row written, and only then.
        let later = start + Duration::from_millis(500);
        assert_eq!(budget.admit(later), Admit::Write { withheld_before: 7 });
        assert_eq!(budget.admit(later), Admit::Withhold);
        assert_eq!(budget.take_withheld(), 1);
        assert_eq!(budget.take_withheld(), 0);
        // A long quiet spell refills the bucket to the burst, never beyond.
        let much_later = later + Duration::from_secs(3600);
        let written = (0..10)
            .filter(|_| matches!(budget.admit(much_later), Admit::Write { .. }))
            .count();
        assert_eq!(written, 3);
    }

    #[test]
    fn a_clock_that_seems_to_go_back_does_not_panic_or_refill() {
        let start = Instant::now() + Duration::from_secs(1);
        let limit = RowLimit {
            burst: 1,
            per_second: 1,
        };
        let mut budget = RowBudget::new(limit, start);
        assert!(matches!(budget.admit(start), Admit::Write { .. }));
        assert_eq!(
            budget.admit(start - Duration::from_millis(900)),
            Admit::Withhold
        );
    }
}
