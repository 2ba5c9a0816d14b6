//! The gRPC door (built with `--features grpc`; `make test` runs these): the same store
//! as the socket door, through typed calls, and what it does with bad input.
//!
//! - `store`: each call, its status codes, tokens, admin calls, the shared throttle,
//!   and an order over gRPC seen at once by PRODUCTS on a socket;
//! - `bad_input`: a malformed body, a message over the limit, a stream that never
//!   sends, more connections than the limit, numbers out of bounds;
//! - `raw`: calls with hand-made bodies, which the typed client cannot send;
//! - `binary`: `feira-server --grpc-addr` and `feira-cli --grpc`, as programs;
//! - `python`: the Python client (grpcio) against the real server;
//! - `log_server`: seed 002's log server (`feira-log`, `--log-server`), alive and dead.

mod support;

#[path = "grpc/bad_input.rs"]
mod bad_input;
#[path = "grpc/binary.rs"]
mod binary;
#[path = "grpc/log_server.rs"]
mod log_server;
#[path = "grpc/python.rs"]
mod python;
#[path = "grpc/raw.rs"]
mod raw;
#[path = "grpc/store.rs"]
mod store;
