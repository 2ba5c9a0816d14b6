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
//!   fsyncs before the rename.
//!
//! Figures are MiB/s of file bytes (1 MiB = 2^20 bytes); best of `--runs`.
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
    /// Runs of each measurement; the best is reported.
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

    let plain = best_of(args.runs, || {
        plain_tcp_copy(&source, &downloads.join("plain.bin"))
    })?;
    let hash = best_of(args.runs, || {
        let started = Instant::now();
        hash_reader(File::open(&source)?, u64::MAX, &AtomicBool::new(false))
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        Ok(started.elapsed())
    })?;

    let server = PeerServer::start(&share, "127.0.0.1:0", 4)?;
    let dest = downloads.join("fetched.bin");
    let timeout = Duration::from_secs(30);
    let mut download = || -> io::Result<Duration> {
        let report =
            fetch(server.local_addr(), "payload.bin", &dest, timeout).map_err(io::Error::other)?;
        assert_eq!(report.size, size);
        Ok(report.elapsed)
    };
    let cold = download()?;
    // The digest cache trusts only files left alone for SETTLE_TIME (racy timestamps):
    // wait until ours qualifies, then download once to fill the cache.
    let settled = created + SETTLE_TIME + Duration::from_millis(100);
    if let Ok(wait) = settled.duration_since(SystemTime::now()) {
        thread::sleep(wait);
    }
    download()?;
    let warm = best_of(args.runs, &mut download)?;
    server.shutdown();

    let rate = |d: Duration| size as f64 / (1024.0 * 1024.0) / d.as_secs_f64();
    println!("{:<34} {:>9}", "measurement", "MiB/s");
    for (name, d) in [
        ("plain TCP copy (cat | nc ceiling)", plain),
        ("SHA-256 alone", hash),
        ("peer fetch, cold (server hashes)", cold),
        ("peer fetch, warm (digest cached)", warm),
    ] {
        println!("{name:<34} {:>9.0}", rate(d));
    }
    Ok(())
}

fn best_of(runs: u32, mut measure: impl FnMut() -> io::Result<Duration>) -> io::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..runs.max(1) {
        best = best.min(measure()?);
    }
    Ok(best)
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
