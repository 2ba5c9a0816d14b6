//! What each path of the web door answers, and who may ask.
//!
//! | path | access | answer |
//! |---|---|---|
//! | `GET /time` | public | the server's clock: `{"utc": ..., "unix_ms": ...}` |
//! | `GET /healthz` | public | `{"status": "ok"}` while the server serves |
//! | `GET /api/products[?max_price=2.50]` | public, as PRODUCTS | the catalogue |
//! | `GET /api/stats` | instructor | everything STATS shows, as JSON |
//! | `GET /` | instructor | the live dashboard (one page, compiled in) |
//!
//! "Instructor" is src/http/access.rs: an admin's password or the start-up token.
//! `HEAD` is answered like `GET`, without the body; any other method is `405`.

use std::time::SystemTime;

use super::access::{self, Token, Viewer};
use super::head::Head;
use super::json;
use super::response::Response;
use crate::protocol::Cents;
use crate::server::{Shared, stats};
use crate::shop::catalog;

/// The dashboard: HTML, CSS and JavaScript in one file, compiled into the binary, so
/// that it works in a classroom with no internet (no CDN, nothing fetched but the
/// figures).
const DASHBOARD: &str = include_str!("dashboard.html");

/// Where the dashboard page receives the token it polls with.
const TOKEN_SLOT: &str = "__FEIRA_TOKEN__";

/// Answers one request from `peer`, with the server's shared state and the start-up
/// token.
pub(super) fn route(shared: &Shared, token: &Token, head: &Head, peer: &str) -> Response {
    if head.method != "GET" && head.method != "HEAD" {
        return Response::error(405, "the web door only reads: GET")
            .with_header("Allow", "GET, HEAD");
    }
    // A GET has no body; one that announces a body is refused rather than read.
    let announces_body = head.header("transfer-encoding").is_some()
        || head
            .header("content-length")
            .is_some_and(|n| n.trim() != "0");
    if announces_body {
        return Response::error(413, "a GET request carries no body");
    }
    match head.path.as_str() {
        "/time" => Response::json(&json::time(SystemTime::now())),
        "/healthz" => Response::json(&serde_json::json!({ "status": "ok" })),
        "/api/products" => products(shared, head),
        "/api/stats" => match access::check(head, shared, token, peer) {
            Ok(_) => Response::json(&json::stats(&stats::snapshot(shared), SystemTime::now())),
            Err(refused) => refused,
        },
        "/" => match access::check(head, shared, token, peer) {
            Ok(viewer) => dashboard(token, &viewer),
            Err(refused) => refused,
        },
        _ => Response::error(
            404,
            "no such page: try /, /time, /healthz, /api/stats, /api/products",
        ),
    }
}

/// The catalogue, all of it or up to `max_price` (written as the protocol writes money:
/// `2.50`).
fn products(shared: &Shared, head: &Head) -> Response {
    let max_price = match head.param("max_price").map(str::parse::<Cents>) {
        None => None,
        Some(Ok(price)) => Some(price),
        Some(Err(e)) => return Response::error(400, &format!("max_price: {e}")),
    };
    Response::json(&json::products(&catalog::list(&shared.db, max_price)))
}

/// The page, carrying the token so that its polls need no password (each would cost a
/// password hash).
fn dashboard(token: &Token, viewer: &Viewer) -> Response {
    if let Viewer::Admin(name) = viewer {
        log::info!("http: dashboard opened by {name}");
    }
    Response::html(DASHBOARD.replace(TOKEN_SLOT, token.as_str()))
}
