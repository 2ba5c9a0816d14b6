//! The JSON bodies of the web door: the time, the statistics, the catalogue.
//!
//! Money is written twice, exactly, and never as a floating-point number (which
//! cannot hold 0.10): `price_cents` for programs (an integer), and `price` as the
//! protocol writes it (`"2.50"`) for people.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::db::schema::Product;
use crate::server::stats::Snapshot;

/// `GET /time`: seed 002's time service. `utc` to the millisecond (RFC 3339), and
/// `unix_ms`, the same instant as milliseconds since 1970, for arithmetic.
pub fn time(now: SystemTime) -> Value {
    let unix_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    json!({
        "utc": humantime::format_rfc3339_millis(now).to_string(),
        "unix_ms": unix_ms,
    })
}

/// `GET /api/stats`: every figure of STATS ([`Snapshot`]), grouped:
///
/// - `server`: each `server` line of STATS, by name;
/// - `verbs`: requests per verb since start, every verb, in the protocol's order;
/// - `locks`: each lock's counters, **in lock order** (src/db.rs), as an array so that
///   the order survives;
/// - `journal`: bytes, lines, fsyncs, and lines per fsync (group commit at work);
/// - `unix_ms`: when the figures were read, on the server's clock, so that a page
///   computes its rates per second of the server's time, whatever its own timers did.
pub fn stats(snapshot: &Snapshot, now: SystemTime) -> Value {
    let server: serde_json::Map<String, Value> = (snapshot.server.iter())
        .map(|(name, value)| ((*name).to_string(), json!(value)))
        .collect();
    let verbs: Vec<Value> = (snapshot.verbs.iter())
        .map(|(verb, count)| json!({ "verb": verb, "requests": count }))
        .collect();
    let locks: Vec<Value> = (snapshot.locks.iter())
        .map(|(name, s)| {
            json!({
                "name": name,
                "acquisitions": s.acquisitions,
                "contended": s.contended,
                "total_wait_us": u64::try_from(s.total_wait.as_micros()).unwrap_or(u64::MAX),
                "max_wait_us": u64::try_from(s.max_wait.as_micros()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    let lines = snapshot.server("journal_lines");
    let fsyncs = snapshot.server("journal_fsyncs");
    json!({
        "unix_ms": time(now)["unix_ms"],
        "server": server,
        "verbs": verbs,
        "locks": locks,
        "journal": {
            "bytes": snapshot.server("journal_bytes"),
            "lines": lines,
            "fsyncs": fsyncs,
            // A ratio, not money: a float is the right type, rounded to two decimals.
            "lines_per_fsync": per(lines, fsyncs),
        },
    })
}

/// `a / b` to two decimals; 0 when `b` is 0.
fn per(a: u64, b: u64) -> f64 {
    if b == 0 {
        return 0.0;
    }
    (a as f64 / b as f64 * 100.0).round() / 100.0
}

/// `GET /api/products`: the catalogue, sorted by name.
pub fn products(products: &[Product]) -> Value {
    let rows: Vec<Value> = (products.iter())
        .map(|p| {
            json!({
                "name": p.name,
                "price_cents": p.price.0,
                "price": p.price.to_string(),
                "stock": p.stock,
            })
        })
        .collect();
    json!({ "count": rows.len(), "products": rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Cents;
    use std::time::Duration;

    #[test]
    fn the_time_is_written_to_the_millisecond() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_119_200_123);
        let value = time(at);
        assert_eq!(value["utc"], "2026-12-01T10:00:00.123Z");
        assert_eq!(value["unix_ms"], 1_796_119_200_123u64);
    }

    #[test]
    fn money_is_exact_cents_and_text() {
        let value = products(&[Product {
            name: "Maçã \"fuji\"".into(),
            price: Cents(250),
            stock: 3,
        }]);
        let text = value.to_string();
        assert!(text.contains(r#""name":"Maçã \"fuji\"""#), "{text}");
        assert!(text.contains(r#""price_cents":250"#), "{text}");
        assert!(text.contains(r#""price":"2.50""#), "{text}");
        assert_eq!(value["count"], 1);
    }

    #[test]
    fn lines_per_fsync() {
        assert_eq!(per(0, 0), 0.0);
        assert_eq!(per(10, 4), 2.5);
        assert_eq!(per(1, 3), 0.33);
    }
}
