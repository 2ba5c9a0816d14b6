//! Setting the journal aside for a checkpoint, and making its next file ahead.
//!
//! Why a checkpoint rotates the journal instead of emptying it: the tables' snapshots
//! are written while writers go on, so the lines written meanwhile must survive the
//! checkpoint. They go to a new file; the old one is deleted once every snapshot is
//! durable ([`Journal::rotate`] tells why that is safe).

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::{HEADER, Journal, NEXT_JOURNAL, OLD_JOURNAL};
use crate::error::{Error, Result};
use crate::storage::padding::{self, Padding, Standing, Upkeep};
use crate::storage::snapshot;

impl Journal {
    /// Sets the journal's lines aside for a checkpoint: they are fsynced, the file is
    /// renamed `journal.old.csv`, and new lines go to a new, empty `journal.csv`. Takes
    /// only the writer lock, for a few milliseconds: writers carry on right after.
    ///
    /// Why a checkpoint needs this: it writes each table's snapshot while writers go on
    /// changing the tables, so a snapshot holds every change up to the rotation and
    /// perhaps some after it. Every change after it is in the new journal, and a change
    /// is a whole row put or deleted, so replaying the new journal over such a snapshot
    /// gives exactly the tables' state (replaying a change the snapshot already holds
    /// writes the same row again). Once every snapshot is durable, [`Journal::drop_old`]
    /// deletes the old journal; until then a restart replays the old journal, then the
    /// new one, over whatever snapshots it finds, with the same result.
    ///
    /// If a journal set aside by an earlier checkpoint is still there (that checkpoint
    /// failed), it is kept and the current journal is not rotated: this checkpoint's
    /// snapshots will cover the old lines, and the current ones stay in the journal.
    pub fn rotate(&self) -> Result<()> {
        let dir = self.dir();
        let old = dir.join(OLD_JOURNAL);
        // The writer lock for the whole switch: no line may be written to either file
        // while the journal moves from one to the other.
        let mut writer = self.lock_writer();
        if old.exists() {
            log::warn!(
                "{}: set aside by an unfinished checkpoint; keeping it",
                old.display()
            );
            return Ok(());
        }
        let io_err = |e| Error::io(&self.path, e);
        // Everything written so far becomes durable, and every waiter hears so.
        if let Err(e) = writer.file.sync_data() {
            self.durability.poison();
            return Err(io_err(e));
        }
        self.durability.mark_all_synced();
        fs::rename(&self.path, &old).map_err(io_err)?;
        // The next file, zeroed ahead by `prepare_next` while nobody waited, becomes the
        // journal. Without one, or without padding (`--prezero off`: no file is made
        // ahead, and a stray one is not used), a new, empty file is made here.
        let next = dir.join(NEXT_JOURNAL);
        let prepared = match writer.padding {
            Some(_) => fs::rename(&next, &self.path),
            None => Err(io::Error::other("no padding: no file made ahead")),
        };
        let file = prepared
            .and_then(|()| OpenOptions::new().write(true).open(&self.path))
            // No next file (none made, or it could not be renamed): a new one with
            // just the header, fsynced, so that a crash finds a whole journal.
            .or_else(|_| {
                let file = OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(&self.path)?;
                file.write_all_at(HEADER.as_bytes(), 0)?;
                file.sync_all()?;
                Ok(file)
            })
            .and_then(|file| {
                // Both renames (and the new file) durable before any line goes into it.
                snapshot::sync_dir(dir)?;
                // The size says how much padding the new file already has.
                let size = file.metadata()?.len();
                Ok((file, size))
            });
        let (file, size) = match file {
            Ok(file) => file,
            Err(e) => {
                // Without a journal file to write to, nothing can be made durable.
                self.durability.poison();
                return Err(io_err(e));
            }
        };
        // The fsyncs follow the journal to its new file (every old line is durable).
        self.durability
            .switch_file(file.try_clone().map_err(io_err)?);
        writer.file = file;
        // The new file holds only its header: lines start right after it.
        let len = HEADER.len() as u64;
        if writer.padding.is_some() {
            writer.padding = Some(Padding::new(size.max(len)));
        }
        self.len.store(len, Ordering::Release);
        // A new journal file: `upkeep` may make a next file for this one.
        self.rotations.fetch_add(1, Ordering::AcqRel);
        // The journal's small room, if no next file was made ahead.
        let end = len + writer.room;
        writer.make_room_or_warn(end);
        self.capacity.store(writer.capacity(len), Ordering::Release);
        Ok(())
    }

    /// Makes the file the next [`Journal::rotate`] will switch to: the header, then
    /// `room` bytes of zeros, fsynced. It takes no lock while it writes (about 50 ms for
    /// 64 MiB), so the rotation itself is two renames, not a pause while the zeros are
    /// written with every writer waiting. The file is renamed into place only once
    /// whole; if the disk cannot hold it, nothing is left behind (see src/storage/padding.rs).
    pub fn prepare_next(&self, room: u64) -> Result<()> {
        if !self.layers.prezero {
            // `--prezero off`: a rotation starts an empty file; nothing to make ahead.
            return Ok(());
        }
        let dir = self.dir();
        // Which journal file this next file is for: `upkeep` compares it with the
        // current one.
        let file = self.rotations();
        // Tried once per journal file, even if it fails: a full disk is not asked again
        // at every write.
        self.next_tried_for.store(file, Ordering::Release);
        padding::zeroed_file(dir, NEXT_JOURNAL, HEADER.as_bytes(), room)
            .map_err(|e| Error::io(dir.join(NEXT_JOURNAL), e))?;
        // Whole and in place: `upkeep` may now ask for an early switch to it.
        self.next_ready_for.store(file, Ordering::Release);
        Ok(())
    }

    /// What the journal needs now that a write is done: nothing, its next file made
    /// ahead, or a checkpoint (see src/storage/padding.rs). `due` is the length at which a
    /// checkpoint is due; a file is made ahead with at most `max_room` bytes of room.
    /// Reads a few atomics: cheap enough to ask after every write.
    pub fn upkeep(&self, due: u64, max_room: u64) -> Upkeep {
        if !self.layers.prezero {
            // No padding to keep ahead: only the checkpoint when it is due.
            if self.len_bytes() >= due {
                return Upkeep::Checkpoint;
            }
            return Upkeep::Nothing;
        }
        // The padding's policy, on what the journal stands at now (src/storage/padding.rs).
        let file = self.rotations();
        padding::plan(&Standing {
            len: self.len_bytes(),
            size: self.capacity(),
            due,
            max_room,
            next_tried: self.next_tried_for.load(Ordering::Acquire) == file,
            next_ready: self.next_ready_for.load(Ordering::Acquire) == file,
        })
    }

    /// Stops [`Journal::upkeep`] from asking for an early checkpoint on this journal
    /// file (the last one failed: asking again at every write would not help).
    pub fn no_early_checkpoint(&self) {
        self.next_ready_for.store(u64::MAX, Ordering::Release);
    }

    /// How many times [`Journal::rotate`] has switched to a new file since the journal
    /// was opened.
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Acquire)
    }

    /// Deletes the journal set aside by [`Journal::rotate`]: every snapshot written
    /// since is durable, so its lines are no longer needed.
    pub fn drop_old(&self) -> Result<()> {
        let dir = self.dir();
        let old = dir.join(OLD_JOURNAL);
        match fs::remove_file(&old) {
            // The deletion made durable: a restart must not replay a journal whose
            // lines are all in the snapshots (harmless, but slow).
            Ok(()) => snapshot::sync_dir(dir).map_err(|e| Error::io(&old, e)),
            // Nothing set aside, or deleted already: nothing to do.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&old, e)),
        }
    }
}
