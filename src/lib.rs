//! feira: a teaching reference for distributed-systems courses.
pub mod chord;
pub mod client;
pub mod protocol;
