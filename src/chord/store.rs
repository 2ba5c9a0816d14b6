//! The keys one node keeps: each with its value and [`Version`], within limits.
//!
//! Why a type of its own: a node keeps keys for two reasons (as their *primary*, the
//! key's successor, and as a *replica*, one of the next r - 1 nodes), receives copies
//! in any order, and must not be filled up by a flood of STOREs. These rules are
//! pure: no sockets, no locks (the node's lock is around the whole store), so they
//! are tested here on their own.
//!
//! - [`Store::merge`]: a copy is kept only if its version is higher than the one held,
//!   so a stale copy never overwrites a newer one.
//! - [`Limits`]: at most so many keys and so many bytes (keys plus values); a key or
//!   value over its own size limit is malformed.
//! - [`Store::digest`]: one number that summarises the keys and versions held in a
//!   range of ids, so that two nodes can see in one message whether they agree.

use std::collections::BTreeMap;

use sha1::{Digest, Sha1};

use super::id::{Id, Ring};
use super::version::Version;
use crate::protocol::{ErrorCode, Refusal};

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// The longest value, in bytes. A REPLICATE line carries a key, a value and a version;
/// quoting can double a token's length, and the line must stay under the 8 KiB
/// request limit.
pub const MAX_VALUE_BYTES: usize = 3072;

/// How much one node agrees to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many keys (primary and replica copies together).
    pub max_keys: usize,
    /// At most this many bytes of keys and values together.
    pub max_bytes: usize,
}

impl Default for Limits {
    /// 20,000 keys, 8 MiB: plenty for a classroom ring, and a KEYS or SYNC reply of a
    /// full node still fits in a reply (16 MiB).
    fn default() -> Limits {
        Limits {
            max_keys: 20_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// One key's value and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub version: Version,
}

/// The keys of one node, in id order (the order of the ring), then by key.
#[derive(Debug)]
pub struct Store {
    entries: BTreeMap<(Id, String), Entry>,
    /// Keys plus values, in bytes, of every entry.
    bytes: usize,
    limits: Limits,
}

/// Refuses a key or value over its size limit (BAD_REQUEST: the request is malformed).
pub fn check_sizes(key: &str, value: &str) -> Result<(), Refusal> {
    if key.len() > MAX_KEY_BYTES {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("a key is at most {MAX_KEY_BYTES} bytes, not {}", key.len()),
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!(
                "a value is at most {MAX_VALUE_BYTES} bytes, not {}",
                value.len()
            ),
        ));
    }
    Ok(())
}

impl Store {
    pub fn new(limits: Limits) -> Store {
        Store {
            entries: BTreeMap::new(),
            bytes: 0,
            limits,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys plus values, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, id: Id, key: &str) -> Option<&Entry> {
        // The map is keyed by (id, key) for ring order; a lookup builds the pair.
        self.entries.get(&(id, key.to_string()))
    }

    /// Keeps `entry` unless the copy held is at least as new. Returns whether it was
    /// kept. Refused (and nothing changed) if it is too big, or would take the store
    /// past its limits (BUSY: this node is full).
    ///
    /// Equal versions with different values cannot come from one primary; if they
    /// meet anyway (a forged copy), the greater value wins, so every node still
    /// decides alike.
    pub fn merge(&mut self, id: Id, key: &str, entry: Entry) -> Result<bool, Refusal> {
        check_sizes(key, &entry.value)?;
        let slot = (id, key.to_string());
        let old_bytes = match self.entries.get(&slot) {
            Some(held) if (held.version, &held.value) >= (entry.version, &entry.value) => {
                return Ok(false);
            }
            Some(held) => key.len() + held.value.len(),
            None => 0,
        };
        if old_bytes == 0 && self.entries.len() >= self.limits.max_keys {
            return Err(Refusal::new(
                ErrorCode::Busy,
                format!(
                    "this node is full: it keeps at most {} keys",
                    self.limits.max_keys
                ),
            ));
        }
        let new_bytes = self.bytes - old_bytes + key.len() + entry.value.len();
        if new_bytes > self.limits.max_bytes {
            return Err(Refusal::new(
                ErrorCode::Busy,
                format!(
                    "this node is full: it keeps at most {} bytes of keys and values",
                    self.limits.max_bytes
                ),
            ));
        }
        self.bytes = new_bytes;
        self.entries.insert(slot, entry);
        Ok(true)
    }

    /// Removes a key if it still has `version` (a newer copy that arrived meanwhile
    /// stays). Returns whether it was removed.
    pub fn remove_if_version(&mut self, id: Id, key: &str, version: Version) -> bool {
        let slot = (id, key.to_string());
        if self
            .entries
            .get(&slot)
            .is_some_and(|e| e.version == version)
        {
            if let Some(gone) = self.entries.remove(&slot) {
                self.bytes -= key.len() + gone.value.len();
            }
            return true;
        }
        false
    }

    /// Every entry, in ring order.
    pub fn iter(&self) -> impl Iterator<Item = (Id, &str, &Entry)> {
        self.entries.iter().map(|((id, k), e)| (*id, k.as_str(), e))
    }

    /// The entries whose id is in (lo, hi], in ring order from 0 (not from lo).
    pub fn in_range(&self, ring: Ring, lo: Id, hi: Id) -> impl Iterator<Item = (Id, &str, &Entry)> {
        self.iter()
            .filter(move |(id, _, _)| ring.in_open_closed(*id, lo, hi))
    }

    /// A summary of the keys and versions in (lo, hi]: equal digests mean (but for a
    /// 1 in 2^64 accident) the same keys with the same versions. SHA-1, since the
    /// crate already uses it for ids and every node computes it alike.
    pub fn digest(&self, ring: Ring, lo: Id, hi: Id) -> u64 {
        let mut hasher = Sha1::new();
        for (_, key, entry) in self.in_range(ring, lo, hi) {
            hasher.update(key.as_bytes());
            hasher.update([0]);
            hasher.update(entry.version.to_string().as_bytes());
            hasher.update([b'\n']);
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chord::testing::ring;

    fn v(stamp: u64) -> Version {
        Version { stamp, writer: 1 }
    }

    fn entry(value: &str, stamp: u64) -> Entry {
        Entry {
            value: value.to_string(),
            version: v(stamp),
        }
    }

    fn put(store: &mut Store, key: &str, value: &str, stamp: u64) -> Result<bool, Refusal> {
        store.merge(ring().key_id(key), key, entry(value, stamp))
    }

    #[test]
    fn a_stale_copy_never_overwrites_a_newer_one() {
        let mut store = Store::new(Limits::default());
        assert_eq!(put(&mut store, "k", "new", 20), Ok(true));
        assert_eq!(put(&mut store, "k", "old", 10), Ok(false));
        assert_eq!(
            put(&mut store, "k", "new", 20),
            Ok(false),
            "the same copy twice"
        );
        let id = ring().key_id("k");
        assert_eq!(store.get(id, "k").unwrap().value, "new");
        // Copies in either order end the same: the order of arrival does not matter.
        let mut other = Store::new(Limits::default());
        put(&mut other, "k", "old", 10).unwrap();
        put(&mut other, "k", "new", 20).unwrap();
        assert_eq!(other.get(id, "k"), store.get(id, "k"));
        assert_eq!(other.digest(ring(), id, id), store.digest(ring(), id, id));
    }

    #[test]
    fn limits_count_keys_and_bytes() {
        let mut store = Store::new(Limits {
            max_keys: 2,
            max_bytes: 20,
        });
        put(&mut store, "a", "12345", 1).unwrap();
        put(&mut store, "b", "12345", 1).unwrap();
        let full = put(&mut store, "c", "1", 1).unwrap_err();
        assert_eq!(full.code, ErrorCode::Busy);
        // Replacing a value is not a new key, but its bytes count.
        put(&mut store, "a", "1234567890", 2).unwrap();
        assert_eq!(store.bytes(), 1 + 10 + 1 + 5);
        assert!(put(&mut store, "a", &"x".repeat(20), 3).is_err());
        assert_eq!(store.bytes(), 17, "a refused copy changes nothing");
        let too_big = put(&mut store, "a", &"x".repeat(MAX_VALUE_BYTES + 1), 4).unwrap_err();
        assert_eq!(too_big.code, ErrorCode::BadRequest);
        assert!(store.remove_if_version(ring().key_id("a"), "a", v(2)));
        assert_eq!(store.bytes(), 6);
    }

    #[test]
    fn remove_keeps_a_newer_copy() {
        let mut store = Store::new(Limits::default());
        put(&mut store, "k", "old", 1).unwrap();
        put(&mut store, "k", "new", 2).unwrap();
        let id = ring().key_id("k");
        assert!(!store.remove_if_version(id, "k", v(1)));
        assert!(store.remove_if_version(id, "k", v(2)));
        assert!(store.is_empty());
    }

    #[test]
    fn digests_cover_a_range_only() {
        let mut a = Store::new(Limits::default());
        let mut b = Store::new(Limits::default());
        for i in 0..40 {
            put(&mut a, &format!("k{i}"), "v", 1).unwrap();
            put(&mut b, &format!("k{i}"), "v", 1).unwrap();
        }
        let (lo, hi) = (ring().id(10).unwrap(), ring().id(40).unwrap());
        assert_eq!(a.digest(ring(), lo, hi), b.digest(ring(), lo, hi));
        // A key outside (10, 40] does not change the digest of that range.
        let outside = (0..).map(|i| format!("x{i}")).find(|k| {
            let id = ring().key_id(k);
            !ring().in_open_closed(id, lo, hi)
        });
        let outside = outside.unwrap();
        put(&mut b, &outside, "v", 1).unwrap();
        assert_eq!(a.digest(ring(), lo, hi), b.digest(ring(), lo, hi));
        // A newer version of a key inside does.
        let inside = a.in_range(ring(), lo, hi).next().unwrap().1.to_string();
        put(&mut b, &inside, "v", 2).unwrap();
        assert_ne!(a.digest(ring(), lo, hi), b.digest(ring(), lo, hi));
    }
}
