//! Moving a file's bytes from the socket to the disk, hashing them on the way.
//!
//! Why a pipeline of threads: a download does four things to every byte: read it from
//! the socket, hash it (SHA-256, about 1.5 GiB/s with the CPU's SHA instructions), write
//! it to the page cache, and finally get it onto the disk (`fsync`). Done one after the
//! other in one thread, their times add up and a 256 MiB download runs at about half
//! the speed of a plain copy. Each stage gets its own thread instead, and buffers flow
//! between them over bounded channels (the message-passing style of `crossbeam-channel`):
//!
//! ```text
//!            (buf, len)            (buf, len)
//! reader ---------------> hasher ---------------> writer --(every 16 MiB)--> syncer
//!  (this thread:           (SHA-256)               (write to the         (fdatasync:
//!   socket reads)                                   temporary file)       start the disk
//!    ^                                                 |                  early)
//!    +---------------- empty buffers ------------------+
//! ```
//!
//! - [`BUFFERS`] buffers of [`CHUNK`] bytes exist in all, so memory is constant (4 MiB)
//!   whatever the file size, and a slow stage makes the earlier ones wait
//!   (back-pressure) rather than pile bytes up in memory.
//! - The syncer exists because `fsync` of a whole 256 MiB file at the end took
//!   170-190 ms here, nearly as long as the transfer; asking the kernel to write back
//!   each 16 MiB as soon as it is written overlaps the disk with the network, and the
//!   final `fsync` (in [`PartFile::commit`]) only has the tail left: 7-9 ms.
//! - A failing stage closes its channels, which stops the others: the writer on a full
//!   disk stops the hasher, which stops the reader; a reader whose peer vanished closes
//!   the first channel, and the others finish what they hold and end.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};
use sha2::{Digest, Sha256};

use super::CHUNK;
use super::fetch_error::FetchError;
use super::part::PartFile;
use super::timing::RateFloor;
use super::wire::Sha256Digest;

/// Buffers in flight between the stages.
const BUFFERS: usize = 16;

/// Bytes written between two early write-back requests to the syncer.
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

/// A buffer and how many of its bytes are data.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

/// Copies exactly `size` bytes from the peer into `part`, returning their SHA-256.
///
/// Reads no more than `size` bytes from `reader`, and gives up if they come more slowly
/// than `floor` allows. On error the stages have all ended and `part` holds a prefix of
/// the file (its owner then drops it).
pub(crate) fn receive(
    reader: &mut impl Read,
    part: &mut PartFile,
    size: u64,
    peer: SocketAddr,
    floor: RateFloor,
) -> Result<Sha256Digest, FetchError> {
    let (to_hasher, hasher_in) = bounded::<Chunk>(BUFFERS);
    let (to_writer, writer_in) = bounded::<Chunk>(BUFFERS);
    let (to_reader, free_buffers) = bounded::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        // Cannot fail: the channel has room for every buffer and its receiver is here.
        let _ = to_reader.send(vec![0u8; CHUNK]);
    }
    // Early write-back is an optimisation: without a second handle, skip it.
    let sync_handle = part.try_clone_file().ok();
    let part_path = part.path().to_path_buf();

    // `Builder::spawn_scoped` rather than `scope.spawn`, which panics when the system
    // cannot start a thread: on the network path that is an error to report.
    let cannot_start = |source| FetchError::Local {
        action: "start a download thread for",
        path: part_path.clone(),
        source,
    };
    thread::scope(|scope| {
        let hasher = thread::Builder::new()
            .name("feira-fetch-hash".into())
            .spawn_scoped(scope, move || hash_stage(hasher_in, to_writer))
            .map_err(cannot_start)?;
        let (to_syncer, syncer_in) = bounded::<()>(1);
        let writer = thread::Builder::new()
            .name("feira-fetch-write".into())
            .spawn_scoped(scope, move || {
                write_stage(writer_in, part, to_reader, to_syncer)
            })
            .map_err(cannot_start)?;
        if let Some(file) = sync_handle {
            let syncer = thread::Builder::new()
                .name("feira-fetch-sync".into())
                .spawn_scoped(scope, move || {
                    // Errors here are not fatal: the final `sync_all` reports them.
                    for () in syncer_in {
                        if let Err(e) = file.sync_data() {
                            log::debug!("early write-back failed: {e}");
                        }
                    }
                });
            // Without a syncer the download still works; the final fsync is longer.
            if let Err(e) = syncer {
                log::debug!("no early write-back: {e}");
            }
        }

        let read = read_stage(reader, size, peer, floor, &free_buffers, &to_hasher);
        // Closing the first channel lets the other stages finish what they hold and end.
        drop(to_hasher);
        let panicked = || FetchError::Local {
            action: "write",
            path: part_path.clone(),
            source: io::Error::other("a download thread panicked"),
        };
        let digest = hasher.join().map_err(|_| panicked())?;
        let written = writer.join().map_err(|_| panicked())?;
        // The reader's error comes first: a full disk also makes the reader stop, but
        // "the peer vanished" is the cause when the peer vanished.
        read?;
        written?;
        Ok(digest)
    })
}

/// Reads exactly `size` bytes into free buffers and passes them on. Only the time spent
/// in `read` counts towards the rate: waiting for a free buffer is this side's doing.
fn read_stage(
    reader: &mut impl Read,
    size: u64,
    peer: SocketAddr,
    mut floor: RateFloor,
    free_buffers: &Receiver<Vec<u8>>,
    to_hasher: &Sender<Chunk>,
) -> Result<(), FetchError> {
    let mut received = 0u64;
    while received < size {
        // Fails only if a later stage has stopped; its error is reported instead.
        let Ok(mut buf) = free_buffers.recv() else {
            return Ok(());
        };
        let want = (size - received).min(CHUNK as u64) as usize;
        let len = loop {
            let waiting = Instant::now();
            let read = reader.read(&mut buf[..want]);
            // An end of stream is reported as a truncated file below, not as slowness.
            if let Ok(len @ 1..) = read {
                floor
                    .record(len as u64, waiting.elapsed())
                    .map_err(|slow| FetchError::TooSlow {
                        peer,
                        received: received + len as u64,
                        expected: size,
                        in_window: slow.received,
                        window: slow.waited,
                        min_rate: slow.min_rate,
                    })?;
            }
            match read {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(0) => {
                    return Err(FetchError::Truncated {
                        peer,
                        received,
                        expected: size,
                    });
                }
                Ok(len) => break len,
                Err(source) => {
                    return Err(FetchError::Network {
                        peer,
                        received,
                        expected: Some(size),
                        source,
                    });
                }
            }
        };
        received += len as u64;
        if to_hasher.send(Chunk { buf, len }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Hashes every chunk, in order, then passes it to the writer.
fn hash_stage(input: Receiver<Chunk>, to_writer: Sender<Chunk>) -> Sha256Digest {
    let mut hasher = Sha256::new();
    for chunk in input {
        hasher.update(&chunk.buf[..chunk.len]);
        if to_writer.send(chunk).is_err() {
            break;
        }
    }
    Sha256Digest::from_hasher(hasher)
}

/// Writes every chunk, in order, gives its buffer back, and now and then asks the
/// syncer to start writing the file to disk.
fn write_stage(
    input: Receiver<Chunk>,
    part: &mut PartFile,
    to_reader: Sender<Vec<u8>>,
    to_syncer: Sender<()>,
) -> Result<(), FetchError> {
    let mut since_writeback = 0u64;
    for chunk in input {
        part.write_all(&chunk.buf[..chunk.len])?;
        since_writeback += chunk.len as u64;
        if since_writeback >= WRITEBACK_EVERY {
            since_writeback = 0;
            // If the syncer is still busy with the last request, this one is covered
            // by the next: never wait for it.
            let _ = to_syncer.try_send(());
        }
        // The reader may have finished and gone: then the buffer is simply dropped.
        let _ = to_reader.send(chunk.buf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::fs;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    fn no_floor() -> RateFloor {
        RateFloor::new(0, std::time::Duration::from_secs(1))
    }

    #[test]
    fn a_complete_stream_is_written_and_hashed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        // More chunks than buffers, and a size that is not a multiple of a chunk.
        let data: Vec<u8> = (0..(CHUNK * (BUFFERS + 3) + 5))
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        let mut part = PartFile::create(dir.path(), OsStr::new("out.bin")).unwrap();
        let digest = receive(
            &mut &data[..],
            &mut part,
            data.len() as u64,
            peer(),
            no_floor(),
        )
        .unwrap();
        assert_eq!(digest, Sha256Digest::of(&data));
        part.commit(&dest).unwrap();
        assert!(fs::read(&dest).unwrap() == data);
    }

    #[test]
    fn a_short_stream_is_reported_as_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("out.bin")).unwrap();
        let err = receive(&mut &[1u8, 2, 3][..], &mut part, 10, peer(), no_floor()).unwrap_err();
        assert!(matches!(
            err,
            FetchError::Truncated {
                received: 3,
                expected: 10,
                ..
            }
        ));
    }

    #[test]
    fn only_the_announced_bytes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("x")).unwrap();
        let mut input = &b"abcdef"[..];
        let digest = receive(&mut input, &mut part, 4, peer(), no_floor()).unwrap();
        assert_eq!(digest, Sha256Digest::of(b"abcd"));
        assert_eq!(input, b"ef");
    }

    #[test]
    fn a_read_error_is_reported_with_the_bytes_received() {
        /// Gives `good` bytes, then fails like a reset connection.
        struct Breaks(usize);
        impl Read for Breaks {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::ErrorKind::ConnectionReset.into());
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("x")).unwrap();
        let err = receive(
            &mut Breaks(CHUNK + 1),
            &mut part,
            1 << 30,
            peer(),
            no_floor(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, FetchError::Network { received, .. } if *received == CHUNK as u64 + 1),
            "{err:?}"
        );
    }
}
