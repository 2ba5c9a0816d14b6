//! Helpers shared by the chord module's unit tests: the paper's 6-bit ring and its nodes.
//!
//! Why a file of its own: the lookup, row and node tests all start from the same
//! ring, written once, so that each test reads as the paper's figure it checks.

use super::id::Ring;
use super::routing::NodeRef;

/// The ring of the paper's figures: m = 6, ids 0 to 63.
pub fn ring() -> Ring {
    Ring::new(6).unwrap()
}

/// Node `id` of [`ring`], listening (in the tests' imagination) on port 7000 + id.
pub fn n(id: u64) -> NodeRef {
    NodeRef {
        id: ring().id(id).unwrap(),
        addr: format!("127.0.0.1:{}", 7000 + id).parse().unwrap(),
    }
}
