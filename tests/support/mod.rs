//! What the integration tests share, written once.
//!
//! Every test starts its own server on 127.0.0.1 port 0, on a temporary copy of the
//! demo data, so tests run in parallel without sharing state, and talks to it over TCP
//! as any client would:
//!
//! - [`server`]: the server in this test process ([`start_server`], [`TestServer`]):
//!   the one to use, unless the test needs a process of its own;
//! - [`server_process`]: the `feira-server` binary as a child process, for a crash
//!   (kill -9), a signal, or its memory in /proc ([`ServerProcess`](server_process::ServerProcess));
//! - [`client`]: one [`login`], and [`call`], [`ok`] and [`err`], which fail the test
//!   naming the request;
//! - [`data`]: the demo data copied ([`demo_data_dir`]), the demo accounts ([`ALICE`]),
//!   the files of a data directory read back ([`journal_text`], [`read_csv`]);
//! - [`wait`]: [`wait_until`], the one way to wait for something: poll with a deadline,
//!   never a fixed sleep;
//! - [`rng`]: [`Rng`], the one seeded random generator;
//! - [`fake_server`]: a stand-in server that answers as the test says, to see what the
//!   client does with a newer, older or hostile one;
//! - [`raw`]: a raw connection, for bytes the typed client would refuse to send;
//! - [`process`] and [`feira_cli`]: a child process bounded in time, a signal, the
//!   client binary;
//! - [`tools`]: a tool this machine may lack (`python3`): under CI a failure,
//!   elsewhere a loud SKIPPED;
//! - [`chord`]: a Chord ring in this process, and its ground truth;
//! - `grpc` (with the `grpc` feature): the gRPC door beside a [`TestServer`];
//! - [`web`]: the web door beside a test server, and a `GET` to it.
// Each test file uses a different part of this module (and of what it re-exports).
#![allow(dead_code, unused_imports)]

pub mod chord;
pub mod client;
pub mod data;
pub mod fake_server;
pub mod feira_cli;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod process;
pub mod raw;
pub mod rng;
pub mod server;
pub mod server_process;
pub mod tools;
pub mod wait;
pub mod web;

pub use client::*;
pub use data::*;
pub use rng::Rng;
pub use server::*;
pub use wait::wait_until;
