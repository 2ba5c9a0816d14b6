//! One process per data directory: an operating-system lock on `feira-server.pid`.
//!
//! Why: two servers on one directory destroy each other's work without an error. The
//! second one replays the first one's journal and checkpoints it (renaming the journal
//! file away), while the first keeps writing its acknowledged lines into the file that
//! was renamed and then deleted: after a crash those writes are gone. Nothing in the
//! files says a server is using them, so the guard must come from outside the data.
//!
//! How: [`DirLock::acquire`] takes an exclusive `flock` on `feira-server.pid` before
//! anything in the directory is read, and the lock lives as long as the
//! [`Db`](crate::db::Db) that owns it. A second process (or a second `Db` in the same
//! process) finds it taken and stops at once, changing nothing, with a message that names
//! the directory and the holder. The kernel releases the lock when the holder exits, even
//! after kill -9, so a stale file never blocks a start: the file's content (the holder's
//! process id, as in any `.pid` file) is only there to name it in that message.
//!
//! On a clean stop the file is removed. That is safe only because [`DirLock::acquire`]
//! checks, once it holds the lock, that the file it locked is still the one at that
//! name: otherwise it could have locked a file that its previous holder had just
//! removed, while a third process locked the new one.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "feira-server.pid";

/// The exclusive right to use a data directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    /// The locked file; closing it releases the lock.
    file: File,
}

impl DirLock {
    /// Locks `dir` (created if missing) for this process, and writes our process id
    /// into the lock file. If another process holds it, returns an error naming the
    /// directory and that process, without changing anything.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let io_err = |e| Error::io(&path, e);
        let mut file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(in_use(dir, &path)),
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
            // The holder before us may have removed the file (a clean stop) between
            // our open and our lock: then try again with the file that is there now.
            if is_same_file(&file, &path) {
                break file;
            }
        };
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(DirLock {
            dir: dir.to_path_buf(),
            file,
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DirLock {
    /// Removes the lock file while still holding the lock (a process waiting to take
    /// it then sees that its file is gone, and opens the new one); closing the file
    /// afterwards releases the lock.
    fn drop(&mut self) {
        let path = self.dir.join(LOCK_FILE);
        if is_same_file(&self.file, &path) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Is `path` the file we have open (the same inode on the same device)?
fn is_same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// The error for a directory that another process holds: which directory, which
/// process (its id from the lock file, and its command line when the system shows it).
fn in_use(dir: &Path, path: &Path) -> Error {
    let pid = fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    let holder = match pid {
        Some(pid) => match command_line(pid) {
            Some(command) => format!("process {pid} ({command})"),
            None => format!("process {pid}"),
        },
        // It has the lock but has not written its id yet (it is starting right now).
        None => "another process".to_string(),
    };
    Error::Other(format!(
        "the data directory {} is in use by {holder}, which holds the lock on {}: \
         stop that server first, or give this one another --data directory; nothing was changed",
        dir.display(),
        path.display()
    ))
}

/// A process's command line, from /proc on Linux (None elsewhere or if it is gone).
fn command_line(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let pid_file = dir.path().join(LOCK_FILE);
        let content = fs::read(&pid_file).unwrap();
        assert_eq!(content, format!("{}\n", std::process::id()).as_bytes());

        let error = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert!(
            error.contains(&format!("process {}", std::process::id())),
            "{error}"
        );
        // The refused attempt changed nothing.
        assert_eq!(fs::read(&pid_file).unwrap(), content);

        // Released and removed on drop; then anyone may take it.
        drop(first);
        assert!(!pid_file.exists());
        let again = DirLock::acquire(dir.path()).unwrap();
        assert!(pid_file.exists());
        drop(again);
    }

    #[test]
    fn a_stale_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        // Left by a process that was killed: the file is there, the lock is not.
        fs::write(dir.path().join(LOCK_FILE), "999999999\n").unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        let content = fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(content, format!("{}\n", std::process::id()));
        drop(lock);
    }
}
