//! A flood of connections beyond `--max-connections`: each extra one gets `ERR BUSY`
//! quickly, and the server's thread count stays bounded.
//!
//! In a file of its own because it counts the threads of the whole test process
//! (/proc/self/task): another test running in the same process would add its own.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[test]
fn a_flood_beyond_the_limit_gets_busy_quickly_and_threads_stay_bounded() {
    const LIMIT: usize = 16;
    const FLOODERS: usize = 8;
    const PER_FLOODER: usize = 40;
    let server = start_server_with(|c| c.max_connections = LIMIT);
    // Fill every place with a connection that stays open.
    let mut held: Vec<_> = (0..LIMIT).map(|_| server.client()).collect();
    for client in &mut held {
        assert_eq!(call(client, "PING").status, Ok("PONG".into()));
    }
    let baseline = threads_now();

    let peak = Arc::new(AtomicUsize::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(threads_now(), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let addr = server.addr;
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for _ in 0..PER_FLOODER {
                    let started = Instant::now();
                    let stream = TcpStream::connect(addr).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let mut line = String::new();
                    BufReader::new(stream).read_line(&mut line).unwrap();
                    assert!(line.starts_with("ERR BUSY"), "{line:?}");
                    slowest = slowest.max(started.elapsed());
                }
                slowest
            })
        })
        .collect();
    let slowest = flooders
        .into_iter()
        .map(|f| f.join().unwrap())
        .max()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    // Quickly: a refusal never waits for a thread or a login (a generous bound for a
    // debug build on a busy machine; typically well under a millisecond).
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    // Bounded: the flood added no server threads, only our own flooders and sampler.
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak <= baseline + FLOODERS + 1 + 2,
        "threads went from {baseline} to {peak} during the flood"
    );
    assert_eq!(
        server.shared.counters.refused.load(Ordering::Relaxed),
        (FLOODERS * PER_FLOODER) as u64
    );
    // And the connections inside the limit were never disturbed.
    for client in &mut held {
        assert_eq!(call(client, "PING").status, Ok("PONG".into()));
    }
}
