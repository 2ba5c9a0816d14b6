//! The web door: seed 002's time web service, a JSON API, and a live classroom
//! dashboard, over HTTP/1.1, from the same process and the same tables as the store.
//!
//! Seed 002's client asked a web service for the time of every operation; this door
//! has that service (`GET /time`), the catalogue and the statistics as JSON, and a page
//! for the projector that shows threads, locks and fsyncs live while students load the
//! server. It runs only when `feira-server` is given `--http-addr`.
//!
//! Why hand-written HTTP on the crate's accept loop, and not an HTTP library: the door
//! must be bounded like every door of the server (clients, bytes, time), and the
//! blocking library we tried, tiny_http 0.12, starts a thread for every connection
//! with no limit, reads header lines of any length and sets no timeout, none of which
//! can be changed from outside. The door needs so little of HTTP (one `GET` per
//! connection, no body, no keep-alive) that reading it is a page of code, and the
//! crate's accept loop ([`crate::net::accept`]) brings the bounds.
//!
//! - [`door`]: [`WebDoor`], the listener and its bounds (`503`, `413`, `408`);
//! - [`head`]: reading one request head within its limits;
//! - [`routes`]: what each path answers, and who may ask;
//! - [`access`]: the start-up token, or an admin's password (throttled as LOGIN is);
//! - [`json`]: the JSON bodies (money as exact cents and as text, never floats);
//! - [`response`]: a response on the wire;
//! - [`client`]: a small blocking `GET`, for `feira-cli time --http` and the tests;
//! - `dashboard.html`: the page, compiled into the binary.
//!
//! The routes are in docs/HTTP.md.

pub mod access;
pub mod client;
pub mod door;
pub mod head;
pub mod json;
pub mod response;
pub mod routes;

pub use access::Token;
pub use door::{RunningDoor, WebDoor, WebLimits};
