//! Versions of a key's value: which of two copies is newer.
//!
//! Why versions: a key lives on r nodes, and its copies travel at different times
//! (a PUT's replication, a repair after a crash, a hand-over on leave). Two copies of
//! one key can meet in any order, so each copy carries a version and the rule is
//! simple: **the higher version wins, whatever order the copies arrive in**. A stale
//! copy never overwrites a newer one, and every replica ends with the same value.
//!
//! A version is `<stamp>/<writer>`: the stamp is the primary's clock in milliseconds
//! when it accepted the PUT, pushed past the key's previous stamp if the clock is
//! behind (a *hybrid logical clock*: it follows real time, but never goes backwards
//! for one key); the writer is the id of the primary that gave it. Two PUTs of a key
//! on one primary get different stamps; two primaries (while the ring is in flux)
//! may give the same stamp, and then the higher writer id wins. So the order is
//! total and every node decides alike: last writer by version wins.
//!
//! Why a clock and not a plain counter: a counter is always right, but a node cannot
//! tell a genuine high counter from a forged one. A stamp can be checked: one more
//! than [`MAX_CLOCK_SKEW`] ahead of this node's clock comes "from the future" and is
//! refused, so a lying or broken node cannot pin a key forever with `u64::MAX`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far ahead of our clock a version's stamp may be. Nodes of a classroom ring
/// share a machine or a network with synchronised clocks; a minute is generous.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A version: compared by stamp, then by writer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Milliseconds since 1970 on the primary's clock, or one more than the key's
    /// previous stamp.
    pub stamp: u64,
    /// The id of the primary that gave this version: the tie-break.
    pub writer: u64,
}

impl Version {
    /// The version a primary gives a new PUT: its clock, but always above `previous`.
    pub fn next(previous: Option<Version>, writer: u64, now_ms: u64) -> Version {
        let floor = previous.map_or(0, |v| v.stamp.saturating_add(1));
        Version {
            stamp: now_ms.max(floor),
            writer,
        }
    }

    /// Refuses a version whose stamp is more than [`MAX_CLOCK_SKEW`] past `now_ms`.
    pub fn check_not_future(self, now_ms: u64) -> Result<(), String> {
        let limit = now_ms.saturating_add(MAX_CLOCK_SKEW.as_millis() as u64);
        if self.stamp > limit {
            return Err(format!(
                "version {self} is from the future: more than {} s past this node's clock ({now_ms})",
                MAX_CLOCK_SKEW.as_secs()
            ));
        }
        Ok(())
    }

    /// Reads `<stamp>/<writer>`, two decimal numbers.
    pub fn parse(text: &str) -> Result<Version, String> {
        let bad = || format!("a version is <stamp>/<writer>, two numbers, not {text:?}");
        let (stamp, writer) = text.split_once('/').ok_or_else(bad)?;
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<u64>().map_err(|_| bad())
        };
        Ok(Version {
            stamp: number(stamp)?,
            writer: number(writer)?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stamp, self.writer)
    }
}

/// This machine's clock in milliseconds since 1970 (0 if it is set before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_stamp_then_writer() {
        let v = |stamp, writer| Version { stamp, writer };
        assert!(v(10, 1) < v(11, 0));
        assert!(v(10, 1) < v(10, 2), "same stamp: the higher writer wins");
        assert_eq!(Version::parse("10/2"), Ok(v(10, 2)));
        assert_eq!(Version::parse(&v(7, 56).to_string()), Ok(v(7, 56)));
        for bad in ["", "10", "10/", "/2", "a/b", "-1/2", "1/2/3", "+1/2"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn next_follows_the_clock_but_never_goes_back() {
        assert_eq!(Version::next(None, 8, 1000).stamp, 1000);
        let previous = Version {
            stamp: 5000,
            writer: 3,
        };
        // The clock is behind the previous stamp (another primary's clock was ahead).
        let next = Version::next(Some(previous), 8, 1000);
        assert_eq!(next.stamp, 5001);
        assert!(next > previous);
    }

    #[test]
    fn a_version_from_the_future_is_refused() {
        let now = 1_000_000;
        let ok = Version {
            stamp: now + 1000,
            writer: 1,
        };
        assert!(ok.check_not_future(now).is_ok());
        let future = Version {
            stamp: u64::MAX,
            writer: 1,
        };
        assert!(future.check_not_future(now).is_err());
    }
}
