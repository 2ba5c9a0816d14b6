//! Peer-to-peer throughput over loopback, beside the ceiling of a plain TCP copy.
//!
//! ```text
//! cargo run --release --example p2p_throughput -- --size-mib 256
//! ```
//!
//! It writes a file of pseudo-random bytes in a temporary directory, then measures:
//! - **plain TCP copy**: one thread reads the file and writes it into a socket, another
//!   reads the socket into a new file, both with 256 KiB buffers; no protocol, no hash,
//!   no fsync: the `cat file | nc` ceiling;
//! - **SHA-256 alone**: hashing the file from the page cache, the other cost of a
//!   download;
//! - **peer, cold**: a real [`PeerServer`] and [`fetch`], the first download of the
//!   file: the serving peer hashes it before sending the header;
//! - **peer, warm**: later downloads, once the digest is cached (see src/p2p/digest.rs):
//!   the serving peer only reads and sends; the downloader still hashes every byte and
//!   fsyncs before the rename. Shown again without that final fsync (which depends on
//!   the disk, not the network).
//!
//! Figures are MiB/s of file bytes (1 MiB = 2^20 bytes): the best and the median of
//! `--runs`, and the CPU time per run of the whole process (both peers, all threads),
//! which stays meaningful when other work shares the machine.
//! `RUST_LOG=feira=debug` shows where each download's time went (header, bytes, sync).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use feira::p2p::digest::{SETTLE_TIME, hash_reader};
use feira::p2p::{CHUNK, PeerServer, fetch};

#[derive(Parser)]
#[command(about = "Peer-to-peer throughput over loopback")]
struct Args {
    /// Size of the test file, in MiB.
    #[arg(long, default_value_t = 256)]
    size_mib: u64,
    /// Runs of each measurement.
    #[arg(long, default_value_t = 3)]
    runs: u32,
}

fn main() -> io::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let size = args.size_mib * 1024 * 1024;
    let tmp = tempfile::tempdir()?;
    let share = tmp.path().join("share");
    let downloads = tmp.path().join("downloads");
    fs::create_dir(&share)?;
    fs::create_dir(&downloads)?;
    let source = share.join("payload.bin");
    write_pseudo_random(&source, size)?;
    let created = SystemTime::now();
    println!(
        "file: {} MiB in {}; {} CPUs",
        args.size_mib,
        tmp.path().display(),
        thread::available_parallelism().map_or(1, |n| n.get())
    );

    let plain = measure(args.runs, || {
        plain_tcp_copy(&source, &downloads.join("plain.bin"))
    })?;
    let hash = measure(args.runs, || {
        let started = Instant::now();
        hash_reader(File::open(&source)?, u64::MAX, &AtomicBool::new(false))
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        Ok(started.elapsed())
    })?;

    let server = PeerServer::start(&share, "127.0.0.1:0", 4)?;
    let dest = downloads.join("fetched.bin");
    let timeout = Duration::from_secs(30);
    // Each download's time without the final fsync, to show the network path alone.
    let mut unsynced = Vec::new();
    let mut download = || -> io::Result<Duration> {
        // Start from no file, as a real download usually does: replacing a 256 MiB file
        // makes the rename free the old one's pages and blocks (about 60 ms here).
        match fs::remove_file(&dest) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let report =
            fetch(server.local_addr(), "payload.bin", &dest, timeout).map_err(io::Error::other)?;
        assert_eq!(report.size, size);
        unsynced.push(report.elapsed - report.synced_in);
        Ok(report.elapsed)
    };
    let cold = measure(1, &mut download)?;
    // The digest cache trusts only files left alone for SETTLE_TIME (racy timestamps):
    // wait until ours qualifies, then download once to fill the cache.
    let settled = created + SETTLE_TIME + Duration::from_millis(100);
    if let Ok(wait) = settled.duration_since(SystemTime::now()) {
        thread::sleep(wait);
    }
    download()?;
    let warm = measure(args.runs, &mut download)?;
    server.shutdown();
    let warm_unsynced = {
        let mut times = unsynced.split_off(2);
        times.sort();
        Measured {
            best: times[0],
            median: times[times.len() / 2],
            cpu_per_run: None,
        }
    };

    let rate = |d: Duration| size as f64 / (1024.0 * 1024.0) / d.as_secs_f64();
    println!(
        "{:<34} {:>11} {:>13} {:>13}",
        "measurement", "best MiB/s", "median MiB/s", "CPU ms/run"
    );
    for (name, m) in [
        ("plain TCP copy (cat | nc ceiling)", plain),
        ("SHA-256 alone", hash),
        ("peer fetch, cold (server hashes)", cold),
        ("peer fetch, warm (digest cached)", warm),
        ("  the same, before the final fsync", warm_unsynced),
    ] {
        let cpu = m
            .cpu_per_run
            .map_or_else(|| "?".to_string(), |c| c.as_millis().to_string());
        println!(
            "{name:<34} {:>11.0} {:>13.0} {cpu:>13}",
            rate(m.best),
            rate(m.median)
        );
    }
    Ok(())
}

/// Wall-clock times of several runs, and the CPU time the whole process (both peers,
/// every thread) spent per run. The machine is shared: the best run shows what the
/// code can do, the CPU time shows what it costs, whatever else is running.
#[derive(Clone, Copy)]
struct Measured {
    best: Duration,
    median: Duration,
    cpu_per_run: Option<Duration>,
}

fn measure(runs: u32, mut run: impl FnMut() -> io::Result<Duration>) -> io::Result<Measured> {
    let runs = runs.max(1);
    let cpu_before = process_cpu_time();
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(run()?);
    }
    let cpu_per_run = cpu_before
        .zip(process_cpu_time())
        .map(|(before, after)| after.saturating_sub(before) / runs);
    times.sort();
    Ok(Measured {
        best: times[0],
        median: times[times.len() / 2],
        cpu_per_run,
    })
}

/// User + system CPU time of this process so far, from /proc/self/stat (Linux), where
/// fields 14 and 15 count clock ticks of 1/100 s (USER_HZ, 100 on every common Linux).
fn process_cpu_time() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: skip past it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // Field 14 is the 12th after the command name (fields 3, 4, ... are indices 0, 1, ...).
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Fills a file with splitmix64 output: incompressible and quick to make.
fn write_pseudo_random(path: &Path, size: u64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(CHUNK, File::create(path)?);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; CHUNK];
    let mut written = 0;
    while written < size {
        for word in block.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = (size - written).min(CHUNK as u64) as usize;
        out.write_all(&block[..n])?;
        written += n as u64;
    }
    out.flush()
}

/// The ceiling: file -> socket in one thread, socket -> file in this one, both with
/// a [`CHUNK`] buffer, as the peer does. Nothing else: no protocol, no hash, no fsync.
fn plain_tcp_copy(source: &Path, dest: &Path) -> io::Result<Duration> {
    // Like the peer fetch, start from no file (truncating one costs its deletion).
    match fs::remove_file(dest) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let source = source.to_path_buf();
    let started = Instant::now();
    let sender = thread::spawn(move || -> io::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        copy_chunked(&mut File::open(source)?, &mut socket)
    });
    let mut socket = TcpStream::connect(addr)?;
    copy_chunked(&mut socket, &mut File::create(dest)?)?;
    let elapsed = started.elapsed();
    sender
        .join()
        .map_err(|_| io::Error::other("the sender panicked"))??;
    Ok(elapsed)
}

/// `io::copy` with a [`CHUNK`] buffer (std's own copy loop uses 8 KiB).
fn copy_chunked(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}
