//! feira: a teaching reference for distributed-systems courses.
pub mod client;
pub mod p2p;
pub mod protocol;
