//! `feira-cli time --http ADDR`: the server's clock, and how far this machine's clock
//! is from it.
//!
//! Seed 002's client asked a web service for the time and stamped its operations with
//! it. That time was already old when it arrived (it crossed the network), and nothing
//! said how old. This command shows the lesson: it asks the web door's `GET /time`
//! a few times, and estimates the skew as Cristian's algorithm does. The server read
//! its clock somewhere between the moment the request left and the moment the answer
//! came back, so its time is compared with the middle of that round trip, and the
//! estimate is good to half the round trip (plus the millisecond the server rounds to).
//! The exchange with the shortest round trip gives the tightest bound.
//!
//! feira itself never trusts a client's clock: every row is stamped by the server when
//! it handles the request (docs/ARCHITECTURE.md, "Whose clock").

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Exit;
use crate::http::client;

/// How many exchanges to make; the shortest round trip is kept.
const EXCHANGES: usize = 5;

/// One exchange's estimate of the skew, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew {
    /// The server's time as it answered, in milliseconds since 1970.
    pub server_ms: u64,
    /// How long the exchange took.
    pub round_trip_us: i64,
    /// This machine's clock minus the server's: positive when this one is ahead.
    pub skew_us: i64,
    /// How far the true skew may be from `skew_us`, either way.
    pub bound_us: i64,
}

/// The estimate from one exchange: the request left at `sent_us` and the answer came
/// back at `received_us` (this machine's clock, microseconds since 1970), and the
/// server said `server_ms` (its clock, truncated to the millisecond).
pub fn estimate(sent_us: i64, received_us: i64, server_ms: u64) -> Skew {
    let round_trip_us = (received_us - sent_us).max(0);
    // The middle of the server's millisecond, against the middle of the round trip.
    let server_us = i64::try_from(server_ms).unwrap_or(i64::MAX / 1000) * 1000 + 500;
    let middle_us = sent_us + round_trip_us / 2;
    Skew {
        server_ms,
        round_trip_us,
        skew_us: middle_us - server_us,
        bound_us: round_trip_us / 2 + 500,
    }
}

/// Asks `addr` for its time and prints the skew. Exit 2 if the door cannot be reached
/// or does not answer as `/time` does.
pub fn run(addr: &str, timeout: Duration) -> Exit {
    let mut best: Option<Skew> = None;
    for _ in 0..EXCHANGES {
        match exchange(addr, timeout) {
            Ok(skew) => {
                if best.is_none_or(|b| skew.round_trip_us < b.round_trip_us) {
                    best = Some(skew);
                }
            }
            Err(e) => {
                eprintln!("feira-cli: no time from http://{addr}/time: {e}");
                eprintln!("feira-cli: is the server running with --http-addr {addr}?");
                return Exit::Trouble;
            }
        }
    }
    let Some(skew) = best else {
        return Exit::Trouble;
    };
    print!("{}", render(&skew));
    Exit::Success
}

/// One `GET /time`, timed on this machine's clock.
fn exchange(addr: &str, timeout: Duration) -> Result<Skew, String> {
    let sent_wall = SystemTime::now();
    let sent = Instant::now();
    let reply = client::get(addr, "/time", &[], timeout).map_err(|e| e.to_string())?;
    // The round trip from the monotonic clock (which never jumps), placed on the wall
    // clock at the moment the request left.
    let elapsed = sent.elapsed();
    if reply.status != 200 {
        return Err(format!("HTTP {}", reply.status));
    }
    let json = reply.json().map_err(|e| e.to_string())?;
    let server_ms = json["unix_ms"]
        .as_u64()
        .ok_or("the answer has no unix_ms")?;
    let sent_us = micros_since_epoch(sent_wall);
    let received_us = sent_us + i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX / 2);
    Ok(estimate(sent_us, received_us, server_ms))
}

fn micros_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX / 2),
    }
}

/// The report, one figure a line.
pub fn render(skew: &Skew) -> String {
    let server = UNIX_EPOCH + Duration::from_millis(skew.server_ms);
    let here = if skew.skew_us > 0 {
        "ahead of"
    } else {
        "behind"
    };
    let verdict = if skew.skew_us.abs() <= skew.bound_us {
        "the clocks agree, as far as this network can tell".to_string()
    } else {
        format!("this machine's clock is {here} the server's")
    };
    format!(
        "server time  {}\nround trip   {}\nskew         {:+.1} ms ± {:.1} ms ({verdict})\n",
        humantime::format_rfc3339_millis(server),
        millis(skew.round_trip_us),
        skew.skew_us as f64 / 1000.0,
        skew.bound_us as f64 / 1000.0,
    )
}

fn millis(us: i64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_compared_with_the_middle_of_the_round_trip() {
        // Sent at 10.000 s, back at 10.010 s; the server said 9.000 s: the server's
        // clock is a second behind, give or take half the round trip.
        let skew = estimate(10_000_000, 10_010_000, 9_000);
        assert_eq!(skew.round_trip_us, 10_000);
        assert_eq!(skew.skew_us, 10_005_000 - 9_000_500);
        assert_eq!(skew.bound_us, 5_500);
        let text = render(&skew);
        assert!(text.contains("skew         +1004.5 ms ± 5.5 ms"), "{text}");
        assert!(text.contains("ahead of"), "{text}");
        // Within the bound: no claim either way.
        let close = estimate(10_000_000, 10_002_000, 10_000);
        assert!(
            render(&close).contains("the clocks agree"),
            "{}",
            render(&close)
        );
        let behind = estimate(10_000_000, 10_000_200, 12_000);
        assert!(render(&behind).contains("behind"), "{}", render(&behind));
    }
}
