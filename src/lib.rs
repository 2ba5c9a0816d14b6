//! feira: a teaching reference for distributed-systems courses.
pub mod client;
pub mod db;
pub mod error;
pub mod protocol;
pub mod storage;
pub mod store;

pub use error::{Error, Result};
pub mod bench;
pub mod demo;
pub mod server;
