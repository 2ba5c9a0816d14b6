//! Times as the tables and the replies write them: RFC 3339, UTC, to the second
//! (`2026-11-27T15:00:00Z`).
//!
//! Why a module of its own: every domain stamps its rows (an order's `created_at`, a
//! ledger line's `time`, a published file's `published_at`) and they must all read the
//! same way, so the format is written once, here, below everything that uses it.

use std::time::SystemTime;

/// A time as RFC 3339 UTC, to the second.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The current time as RFC 3339 UTC, to the second: `2026-11-27T15:00:00Z`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}
