//! Identifiers on the ring, and the interval tests that every Chord rule is written in.
//!
//! Why a module of its own: Chord is mostly "is x between a and b, going clockwise?",
//! and almost every Chord bug is an off-by-one or a missed wraparound in that question.
//! Keeping the arithmetic here, pure and exhaustively tested, lets the rest of the code
//! read like the paper.
//!
//! The ring has 2^m points, 0 to 2^m - 1, and addition wraps around (m = 6: 60 + 8 = 4).
//! A node's identifier is the hash of its address, a key's identifier the hash of the
//! key, both with SHA-1 as in the paper, keeping the top m bits of the digest.

use std::fmt;
use std::net::SocketAddr;

use sha1::{Digest, Sha1};

/// A point on the ring: a node's or a key's identifier.
///
/// The value is always below 2^m for the ring it came from; only a [`Ring`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u64);

impl Id {
    /// The identifier as a number.
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An identifier ring of 2^m points. It is `Copy`: pass it around freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    bits: u8,
}

impl Ring {
    /// The largest m: identifiers are `u64`.
    pub const MAX_BITS: u8 = 64;

    /// A ring of 2^`bits` points, 1 <= bits <= 64.
    pub fn new(bits: u8) -> Result<Ring, String> {
        if (1..=Ring::MAX_BITS).contains(&bits) {
            Ok(Ring { bits })
        } else {
            Err(format!(
                "the ring needs 1 to {} bits, not {bits}",
                Ring::MAX_BITS
            ))
        }
    }

    /// m, the number of bits in an identifier (and of entries in a finger table).
    pub fn bits(self) -> u8 {
        self.bits
    }

    /// The largest identifier, 2^m - 1. Doubles as the mask that makes addition wrap.
    pub fn max(self) -> u64 {
        u64::MAX >> (64 - u32::from(self.bits))
    }

    /// The identifier with this value, if it is on the ring.
    pub fn id(self, value: u64) -> Option<Id> {
        (value <= self.max()).then_some(Id(value))
    }

    /// Reads an identifier written in decimal, as it travels on the wire.
    ///
    /// Only digits are accepted (no sign, no spaces), so `+5` or ` 5` are refused
    /// rather than silently read as 5.
    pub fn parse_id(self, text: &str) -> Result<Id, String> {
        let number = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u64>().ok()
        } else {
            None
        };
        number.and_then(|n| self.id(n)).ok_or_else(|| {
            format!(
                "an id must be a whole number from 0 to {}, not {text:?}",
                self.max()
            )
        })
    }

    /// The identifier of some bytes: the top m bits of their SHA-1 digest.
    pub fn hash(self, bytes: &[u8]) -> Id {
        let digest = Sha1::digest(bytes);
        let mut top = [0u8; 8];
        top.copy_from_slice(&digest[..8]);
        Id(u64::from_be_bytes(top) >> (64 - u32::from(self.bits)))
    }

    /// A node's identifier: the hash of its address as text (`127.0.0.1:7000`).
    pub fn node_id(self, addr: SocketAddr) -> Id {
        self.hash(addr.to_string().as_bytes())
    }

    /// A key's identifier: the hash of the key's UTF-8 bytes.
    pub fn key_id(self, key: &str) -> Id {
        self.hash(key.as_bytes())
    }

    /// `id + offset`, wrapping around the ring.
    pub fn add(self, id: Id, offset: u64) -> Id {
        Id(id.0.wrapping_add(offset) & self.max())
    }

    /// Where finger `i` (0-based) of node `n` starts: n + 2^i. The paper counts
    /// fingers from 1, so its finger k is our finger k - 1.
    pub fn finger_start(self, n: Id, i: u8) -> Id {
        debug_assert!(i < self.bits, "a ring of m bits has m fingers");
        self.add(n, 1u64 << i)
    }

    /// How far you walk clockwise from `from` to reach `to` (0 when they are equal).
    pub fn distance(self, from: Id, to: Id) -> u64 {
        to.0.wrapping_sub(from.0) & self.max()
    }

    /// Is `x` in the open interval (a, b), going clockwise from a?
    ///
    /// When a == b the interval is the whole ring except a: going once round from a
    /// back to a passes every other point. That is the case of a node alone in the
    /// ring, whose successor is itself.
    pub fn in_open(self, x: Id, a: Id, b: Id) -> bool {
        if a == b {
            return x != a;
        }
        let dx = self.distance(a, x);
        dx > 0 && dx < self.distance(a, b)
    }

    /// Is `x` in the half-open interval (a, b], going clockwise from a?
    ///
    /// This is "b is responsible for x when a is b's predecessor". When a == b it is
    /// the whole ring: a node alone holds every key.
    pub fn in_open_closed(self, x: Id, a: Id, b: Id) -> bool {
        if a == b {
            return true;
        }
        let dx = self.distance(a, x);
        dx > 0 && dx <= self.distance(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(bits: u8) -> Ring {
        Ring::new(bits).unwrap()
    }

    #[test]
    fn bits_are_checked() {
        assert!(Ring::new(0).is_err());
        assert!(Ring::new(65).is_err());
        assert_eq!(ring(6).max(), 63);
        assert_eq!(ring(64).max(), u64::MAX);
        assert_eq!(ring(6).id(63), Some(Id(63)));
        assert_eq!(ring(6).id(64), None);
    }

    #[test]
    fn addition_wraps() {
        let r = ring(6);
        assert_eq!(r.add(Id(60), 8), Id(4));
        assert_eq!(r.finger_start(Id(60), 5), Id(28));
        let big = ring(64);
        assert_eq!(big.add(Id(u64::MAX), 1), Id(0));
        assert_eq!(big.finger_start(Id(1), 63), Id(1 + (1 << 63)));
    }

    #[test]
    fn intervals_follow_the_paper_examples() {
        let r = ring(6);
        // No wraparound: (8, 14).
        assert!(r.in_open(Id(10), Id(8), Id(14)));
        assert!(!r.in_open(Id(8), Id(8), Id(14)));
        assert!(!r.in_open(Id(14), Id(8), Id(14)));
        assert!(r.in_open_closed(Id(14), Id(8), Id(14)));
        // Wraparound: (56, 8] holds 60, 0 and 8 but not 20.
        assert!(r.in_open_closed(Id(60), Id(56), Id(8)));
        assert!(r.in_open_closed(Id(0), Id(56), Id(8)));
        assert!(r.in_open_closed(Id(8), Id(56), Id(8)));
        assert!(!r.in_open_closed(Id(20), Id(56), Id(8)));
        assert!(!r.in_open_closed(Id(56), Id(56), Id(8)));
        // A node alone: (a, a) is everything but a, (a, a] is everything.
        assert!(r.in_open(Id(3), Id(9), Id(9)));
        assert!(!r.in_open(Id(9), Id(9), Id(9)));
        assert!(r.in_open_closed(Id(9), Id(9), Id(9)));
    }

    #[test]
    fn parse_id_takes_digits_only_and_checks_the_range() {
        let r = ring(6);
        assert_eq!(r.parse_id("0"), Ok(Id(0)));
        assert_eq!(r.parse_id("63"), Ok(Id(63)));
        for bad in [
            "64",
            "-1",
            "+5",
            " 5",
            "",
            "abc",
            "1e3",
            "99999999999999999999999",
        ] {
            let err = r.parse_id(bad).unwrap_err();
            assert!(err.contains("0 to 63"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn hashing_is_sha1_truncated_to_m_bits() {
        // SHA-1("") = da39a3ee 5e6b4b0d ...; the top 6 bits of 0xda are 0b110110 = 54.
        assert_eq!(ring(6).hash(b""), Id(54));
        assert_eq!(ring(32).hash(b""), Id(0xda39_a3ee));
        assert_eq!(ring(64).hash(b""), Id(0xda39_a3ee_5e6b_4b0d));
        // Keys and nodes use the same hash; UTF-8 keys are just bytes.
        let r = ring(32);
        assert_eq!(r.key_id("Maçã"), r.hash("Maçã".as_bytes()));
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(r.node_id(addr), r.hash(b"127.0.0.1:7000"));
    }

    /// Every case on a small ring, against the definition "walk clockwise from a".
    #[test]
    fn intervals_agree_with_walking_the_ring() {
        let r = ring(4);
        let n = 16u64;
        for a in 0..n {
            for b in 0..n {
                // The points met walking clockwise from a (exclusive) until b (inclusive),
                // or once round the ring when a == b.
                let steps = if a == b { n } else { (b + n - a) % n };
                let walked: Vec<u64> = (1..=steps).map(|k| (a + k) % n).collect();
                for x in 0..n {
                    let open_closed = walked.contains(&x);
                    let open = open_closed && x != b;
                    assert_eq!(r.in_open_closed(Id(x), Id(a), Id(b)), open_closed);
                    assert_eq!(r.in_open(Id(x), Id(a), Id(b)), open, "x={x} a={a} b={b}");
                }
            }
        }
    }

    proptest! {
        /// On the full 64-bit ring, against arithmetic in u128 that cannot overflow.
        #[test]
        fn intervals_match_u128_arithmetic(x: u64, a: u64, b: u64) {
            let r = ring(64);
            let size = 1u128 << 64;
            let dist = |from: u64, to: u64| (u128::from(to) + size - u128::from(from)) % size;
            let (dx, db) = (dist(a, x), dist(a, b));
            let expect_open = if a == b { x != a } else { dx > 0 && dx < db };
            let expect_open_closed = a == b || (dx > 0 && dx <= db);
            prop_assert_eq!(r.in_open(Id(x), Id(a), Id(b)), expect_open);
            prop_assert_eq!(r.in_open_closed(Id(x), Id(a), Id(b)), expect_open_closed);
        }

        /// (a, b] is (a, b) plus b; and every x other than a lies in exactly one of
        /// (a, b] and (b, a]: the two arcs split the ring.
        #[test]
        fn intervals_split_the_ring(bits in 1u8..=64, x: u64, a: u64, b: u64) {
            let r = ring(bits);
            let (x, a, b) = (Id(x & r.max()), Id(a & r.max()), Id(b & r.max()));
            prop_assume!(a != b);
            prop_assert_eq!(r.in_open_closed(x, a, b), r.in_open(x, a, b) || x == b);
            if x != a && x != b {
                prop_assert!(r.in_open_closed(x, a, b) != r.in_open_closed(x, b, a));
            }
        }

        /// Truncated hashes are always on the ring.
        #[test]
        fn hashes_fit_the_ring(bits in 1u8..=64, bytes: Vec<u8>) {
            let r = ring(bits);
            prop_assert!(r.hash(&bytes).value() <= r.max());
        }
    }
}
