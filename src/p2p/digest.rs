//! The SHA-256 of a shared file, computed once per version of the file.
//!
//! Why a cache: the protocol puts the digest in the header, *before* the bytes, so the
//! serving peer must read the whole file once to hash it and once more to send it.
//! Hashing runs at about 1.5 GiB/s with the CPU's SHA instructions, so for a 256 MiB
//! file the first read costs as much as the transfer itself. Shared files rarely
//! change, so the digest is remembered per path and reused while the file's *version*
//! (its size, modification time and, on Unix, inode and change time) is the same, the
//! way `make` and git's index trust a file's stat data instead of re-reading it.
//!
//! Why it is safe to trust stat data here: if a file were rewritten without any of
//! those fields changing, the cached digest would be stale, and the downloader, which
//! hashes what it receives, would refuse the download with a checksum mismatch. A
//! stale cache entry can cost a retry; it can never make a peer accept wrong bytes.
//!
//! The alternative, hashing while sending and putting the digest in a trailer after the
//! bytes, needs no second read but changes the peer protocol (the size and the digest
//! come first, in the header); see docs/P2P.md.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::CHUNK;
use super::wire::Sha256Digest;

/// Why a file could not be hashed.
#[derive(Debug)]
pub enum DigestError {
    /// Reading the file failed.
    Io(io::Error),
    /// The file changed while it was being read: its digest would describe neither
    /// version. The downloader may simply try again.
    Changed,
    /// The server is shutting down.
    Stopped,
}

impl From<io::Error> for DigestError {
    fn from(e: io::Error) -> DigestError {
        DigestError::Io(e)
    }
}

/// Hashes at most `limit` bytes of `input`, returning how many were read and their
/// digest. Memory use is one [`CHUNK`], whatever the size. `stop` is checked between
/// chunks so that a shutdown does not wait for a large file to be hashed.
pub fn hash_reader(
    mut input: impl Read,
    limit: u64,
    stop: &AtomicBool,
) -> Result<(u64, Sha256Digest), DigestError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < limit {
        if stop.load(Ordering::Relaxed) {
            return Err(DigestError::Stopped);
        }
        let want = (limit - done).min(CHUNK as u64) as usize;
        let n = match input.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok((done, Sha256Digest::from_hasher(hasher)))
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: a file replaced by another (say, by a rename) is a new version.
    #[cfg(unix)]
    inode: (u64, u64),
    /// The change time. The kernel sets it on every write, rename, `chmod` or `touch`,
    /// and no program can set it back, unlike the modification time.
    #[cfg(unix)]
    changed: Option<SystemTime>,
}

impl FileVersion {
    fn of(meta: &Metadata) -> FileVersion {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileVersion {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
            #[cfg(unix)]
            changed: u64::try_from(meta.ctime())
                .ok()
                .zip(u32::try_from(meta.ctime_nsec()).ok())
                .map(|(secs, nanos)| UNIX_EPOCH + Duration::new(secs, nanos)),
        }
    }

    /// Was the file changed less than `window` ago (or at a time we cannot tell)?
    ///
    /// File system clocks tick coarsely (a few milliseconds on Linux, two seconds on
    /// FAT), so a file written twice within one tick keeps the same stat data: git calls
    /// this the "racy clean" problem. A digest is only remembered for a file that has
    /// been still for longer than a tick, so a later write is sure to change its version.
    fn changed_within(&self, window: Duration, now: SystemTime) -> bool {
        #[cfg(unix)]
        let last = self.modified.max(self.changed);
        #[cfg(not(unix))]
        let last = self.modified;
        match last.map(|t| now.duration_since(t)) {
            Some(Ok(age)) => age < window,
            // No timestamp, or one in the future: do not trust it.
            _ => true,
        }
    }
}

/// How long a file must have been left alone before its digest is remembered.
pub const SETTLE_TIME: Duration = Duration::from_secs(2);

/// Remembered digests, keyed by canonical path.
pub struct DigestCache {
    /// Held only to look up or insert, never while reading a file: two downloads of
    /// the same new file may both hash it, which wastes a little work but keeps every
    /// other download from waiting behind a long hash.
    entries: Mutex<HashMap<PathBuf, (FileVersion, Sha256Digest)>>,
    /// The most entries kept. When full, the cache is emptied: crude, but bounded, and
    /// a shared folder rarely holds that many files being downloaded.
    capacity: usize,
    /// See [`SETTLE_TIME`]; tests set it to zero.
    settle: Duration,
}

impl DigestCache {
    /// An empty cache that remembers at most `capacity` files, each only once it has
    /// not changed for `settle` (normally [`SETTLE_TIME`]).
    pub fn new(capacity: usize, settle: Duration) -> DigestCache {
        DigestCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
            settle,
        }
    }

    /// The size and SHA-256 of an open file, hashing it only if this version of it
    /// has not been hashed before. On return the file's read position is undefined:
    /// seek before reading it.
    pub fn size_and_digest(
        &self,
        path: &Path,
        mut file: &File,
        stop: &AtomicBool,
    ) -> Result<(u64, Sha256Digest), DigestError> {
        let before = FileVersion::of(&file.metadata()?);
        if let Some((version, digest)) = self.entries.lock().get(path)
            && *version == before
        {
            return Ok((before.len, *digest));
        }
        file.seek(SeekFrom::Start(0))?;
        let (read, digest) = hash_reader(file.take(before.len), before.len, stop)?;
        let after = FileVersion::of(&file.metadata()?);
        if read != before.len || after != before {
            return Err(DigestError::Changed);
        }
        if !before.changed_within(self.settle, SystemTime::now()) {
            let mut entries = self.entries.lock();
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(path.to_path_buf(), (before, digest));
        }
        Ok((before.len, digest))
    }

    /// How many digests are remembered (for tests and statistics).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Is the cache empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn no_stop() -> AtomicBool {
        AtomicBool::new(false)
    }

    #[test]
    fn hashes_like_the_one_shot_function() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let (n, digest) = hash_reader(&data[..], u64::MAX, &no_stop()).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(digest, Sha256Digest::of(&data));
        // The limit is honoured.
        let (n, digest) = hash_reader(&data[..], 10, &no_stop()).unwrap();
        assert_eq!((n, digest), (10, Sha256Digest::of(&data[..10])));
    }

    #[test]
    fn stops_when_asked() {
        let stop = AtomicBool::new(true);
        assert!(matches!(
            hash_reader(&[1u8; 10][..], 10, &stop),
            Err(DigestError::Stopped)
        ));
    }

    #[test]
    fn a_settled_file_is_hashed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"first").unwrap();
        let cache = DigestCache::new(16, Duration::ZERO);

        let file = File::open(&path).unwrap();
        let got = cache.size_and_digest(&path, &file, &no_stop()).unwrap();
        assert_eq!(got, (5, Sha256Digest::of(b"first")));
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.size_and_digest(&path, &file, &no_stop()).unwrap(),
            got
        );
    }

    #[test]
    fn a_fresh_file_is_not_remembered_so_a_rewrite_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"first").unwrap();
        // An hour of settling: every file in this test is "fresh".
        let cache = DigestCache::new(16, Duration::from_secs(3600));
        let file = File::open(&path).unwrap();
        let got = cache.size_and_digest(&path, &file, &no_stop()).unwrap();
        assert_eq!(got, (5, Sha256Digest::of(b"first")));
        assert!(cache.is_empty());

        // Same length, new content, possibly within the same clock tick: still seen.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"other").unwrap();
        drop(writer);
        let got = cache.size_and_digest(&path, &file, &no_stop()).unwrap();
        assert_eq!(got, (5, Sha256Digest::of(b"other")));
    }

    #[test]
    fn timestamps_in_the_future_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let version = FileVersion::of(&std::fs::metadata(&path).unwrap());
        let long_ago = UNIX_EPOCH;
        assert!(version.changed_within(Duration::ZERO, long_ago));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DigestCache::new(2, Duration::ZERO);
        for i in 0..5 {
            let path = dir.path().join(format!("f{i}"));
            std::fs::write(&path, [i as u8]).unwrap();
            let file = File::open(&path).unwrap();
            cache.size_and_digest(&path, &file, &no_stop()).unwrap();
            assert!(cache.len() <= 2);
        }
    }
}
