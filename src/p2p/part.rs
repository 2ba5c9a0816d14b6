//! A download in progress: a hidden temporary file that becomes the real one, or vanishes.
//!
//! Why a type for it: "remove the temporary file on every failure" is a promise that a
//! plain function breaks the day someone adds an early `return`. [`PartFile`] removes
//! its file in `Drop` unless [`PartFile::commit`] succeeded, so every path out of a
//! download, including a panic, cleans up.
//!
//! The temporary file lives in the destination's own directory, because `rename` is
//! only atomic within one file system. Its name, `.<name>.part-<16 random hex digits>`,
//! is hidden, cannot clash with another download of the same file, and is never served
//! to other peers (see [`share`](super::share)).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::fetch_error::FetchError;

/// A temporary file, removed when dropped unless committed.
pub(crate) struct PartFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl PartFile {
    /// Creates `.<name>.part-<16 hex digits>` in `dir`, never reusing an existing file.
    pub(crate) fn create(dir: &Path, final_name: &OsStr) -> Result<PartFile, FetchError> {
        // Keep the temporary name under the usual 255-byte limit on a file name.
        let mut stem = final_name.to_string_lossy().into_owned();
        let mut cut = stem.len().min(200);
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
        let mut last_error = None;
        for _ in 0..4 {
            let path = dir.join(format!(".{stem}.part-{}", random_hex()));
            // `create_new` fails if the name exists, so we never write into a file
            // someone else made (or a symlink planted under our name).
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(PartFile {
                        path,
                        file,
                        committed: false,
                    });
                }
                // A clash of 64 random bits: practically never. Draw another name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(source) => {
                    return Err(FetchError::Local {
                        action: "create",
                        path,
                        source,
                    });
                }
            }
        }
        Err(FetchError::Local {
            action: "create a temporary file in",
            path: dir.to_path_buf(),
            source: last_error.unwrap_or_else(|| io::Error::other("no free name")),
        })
    }

    /// The temporary file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A second handle on the same open file (for syncing it from another thread).
    pub(crate) fn try_clone_file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Appends bytes.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.file
            .write_all(bytes)
            .map_err(|source| FetchError::Local {
                action: "write",
                path: self.path.clone(),
                source,
            })
    }

    /// Flushes the file to disk and renames it to `dest`, replacing any file there.
    pub(crate) fn commit(mut self, dest: &Path) -> Result<(), FetchError> {
        let local = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| FetchError::Local {
                action,
                path,
                source,
            }
        };
        // Without this, a crash shortly after the rename could leave `dest` empty or
        // short: the rename may reach the disk before the data does.
        self.file.sync_all().map_err(local("sync", &self.path))?;
        fs::rename(&self.path, dest).map_err(local("rename the download to", dest))?;
        self.committed = true;
        sync_parent(dest);
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename durable by syncing the directory that holds the name.
/// Best effort: the file is complete and in place either way.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            log::warn!("cannot sync directory {}: {e}", dir.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// 16 random hex digits from the operating system (falling back to the clock, which
/// is good enough for a temporary name: `create_new` catches any clash).
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_dropped_part_file_disappears() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("out.bin")).unwrap();
        part.write_all(b"half a file").unwrap();
        assert!(entries(dir.path())[0].starts_with(".out.bin.part-"));
        drop(part);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn a_committed_part_file_replaces_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        fs::write(&dest, b"old").unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("out.bin")).unwrap();
        part.write_all(b"new").unwrap();
        part.commit(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
        assert_eq!(entries(dir.path()), ["out.bin"]);
    }

    #[test]
    fn temporary_names_stay_short_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let long = "é".repeat(120); // 240 bytes, a legal name on Linux
        let a = PartFile::create(dir.path(), OsStr::new(&long)).unwrap();
        let b = PartFile::create(dir.path(), OsStr::new(&long)).unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().file_name().unwrap().len() <= 255);
    }
}
