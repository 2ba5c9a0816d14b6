//! Token buckets by key, in one instant per key: how the throttle counts.
//!
//! Why a token bucket: a limit such as "3 failed logins, then one every 8 s" is a bucket
//! of 3 tokens that refills one token every 8 s; each failure spends a token, and an
//! attempt finding the bucket empty is refused. It allows a burst (a person mistyping a
//! password twice) and then a steady rate, and says exactly when the next attempt will be
//! allowed: the `retry in N s` of a refusal.
//!
//! Why one instant per key: a bucket is kept as the moment it will be full again (the
//! "generic cell rate algorithm" of ATM networks). Spending a token moves that moment one
//! interval later; time passing refills the bucket by itself, with no timer and no
//! counter to update; and a bucket whose moment has passed is full, so it can be
//! forgotten. The table therefore holds only keys that failed recently.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A token bucket's shape: `burst` tokens at once, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub every: Duration,
}

impl Rate {
    /// `count` at once, refilled at `count` an hour (at least one).
    pub fn per_hour(count: u32) -> Rate {
        let count = count.max(1);
        Rate {
            burst: count,
            every: Duration::from_secs(3600) / count,
        }
    }
}

/// How many buckets one table may hold (a few MiB at most).
pub const MAX_BUCKETS: usize = 100_000;

/// Token buckets by key, one instant each: the moment the key's bucket is full again
/// (the "generic cell rate algorithm"). A key whose bucket is full has no entry.
pub struct Buckets<K> {
    rate: Rate,
    full_at: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    pub fn new(rate: Rate) -> Buckets<K> {
        Buckets {
            rate,
            full_at: HashMap::new(),
        }
    }

    /// The tokens spent but not yet refilled, as time: zero for a full bucket.
    fn debt(&self, key: &K, now: Instant) -> Duration {
        self.full_at
            .get(key)
            .map_or(Duration::ZERO, |full| full.saturating_duration_since(now))
    }

    /// How long until `key` has a token to spend (zero: now). A token is there while
    /// the debt is at most `burst - 1` tokens' worth.
    pub fn wait(&self, key: &K, now: Instant) -> Duration {
        let allowed = self.rate.every * self.rate.burst.saturating_sub(1);
        self.debt(key, now).saturating_sub(allowed)
    }

    /// Spends a token (the caller saw `wait` at zero).
    pub fn spend(&mut self, key: K, now: Instant) {
        let debt = self.debt(&key, now);
        self.full_at.insert(key, now + debt + self.rate.every);
    }

    /// Gives back one token spent earlier.
    pub fn refund(&mut self, key: &K, now: Instant) {
        let debt = self.debt(key, now).saturating_sub(self.rate.every);
        if debt.is_zero() {
            self.full_at.remove(key);
        } else {
            self.full_at.insert(*key, now + debt);
        }
    }

    /// Forgets every token `key` spent.
    pub fn forget(&mut self, key: &K) {
        self.full_at.remove(key);
    }

    /// Is there room for `key`? A key with a bucket always has room; a new key needs a
    /// free place, made by forgetting the buckets that are full again. If every bucket is
    /// still in use, `Err` says how long until the first one is full again.
    pub fn room_for(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.full_at.len() < MAX_BUCKETS || self.full_at.contains_key(key) {
            return Ok(());
        }
        self.full_at.retain(|_, full| *full > now);
        match self.full_at.values().min() {
            Some(first) if self.full_at.len() >= MAX_BUCKETS => Err(first
                .saturating_duration_since(now)
                .max(Duration::from_secs(1))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn bucket(burst: u32, every_secs: u64) -> Buckets<u8> {
        Buckets::new(Rate {
            burst,
            every: Duration::from_secs(every_secs),
        })
    }

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_interval() {
        let mut b = bucket(3, 8);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.wait(&1, t0), Duration::ZERO);
            b.spend(1, t0);
        }
        assert_eq!(b.wait(&1, t0), 8 * SECOND, "the fourth waits one interval");
        assert_eq!(b.wait(&2, t0), Duration::ZERO, "other keys are untouched");
        assert_eq!(b.wait(&1, t0 + 5 * SECOND), 3 * SECOND);
        let t8 = t0 + 8 * SECOND;
        assert_eq!(b.wait(&1, t8), Duration::ZERO);
        b.spend(1, t8);
        assert_eq!(b.wait(&1, t8), 8 * SECOND, "then one every 8 s");
    }

    #[test]
    fn a_refund_gives_back_exactly_one_token() {
        let mut b = bucket(2, 10);
        let t0 = Instant::now();
        b.spend(1, t0);
        b.spend(1, t0);
        assert_eq!(b.wait(&1, t0), 10 * SECOND);
        b.refund(&1, t0);
        assert_eq!(b.wait(&1, t0), Duration::ZERO);
        b.refund(&1, t0);
        assert!(b.full_at.is_empty(), "a full bucket leaves no entry");
        b.refund(&1, t0);
        assert!(
            b.full_at.is_empty(),
            "refunding a full bucket changes nothing"
        );
    }

    #[test]
    fn a_full_table_makes_room_from_full_buckets_or_refuses() {
        let mut b: Buckets<u32> = Buckets::new(Rate {
            burst: 1,
            every: 10 * SECOND,
        });
        let t0 = Instant::now();
        for key in 0..MAX_BUCKETS as u32 {
            b.spend(key, t0);
        }
        assert_eq!(b.room_for(&0, t0), Ok(()), "a key with a bucket has room");
        assert_eq!(
            b.room_for(&u32::MAX, t0),
            Err(10 * SECOND),
            "no room for a new key while every bucket is in use"
        );
        assert_eq!(b.room_for(&u32::MAX, t0 + 10 * SECOND), Ok(()));
        assert!(b.full_at.is_empty(), "the full buckets were forgotten");
    }
}
