//! The storage's speed layers, and the switch that turns each one off.
//!
//! Storage has a plain version that a reader can hold in their head: change the table
//! under its lock, append one line to the journal, `fsync` it, reply; now and then,
//! write every table to its snapshot. Four optimisations sit on top of it, each in a
//! file of its own whose doc comment says what the plain version does, what the layer
//! buys and how it stays correct:
//!
//! | layer | its file | the plain version, when switched off | `feira-server` flag |
//! |---|---|---|---|
//! | group commit | `group_commit.rs` | every waiting thread runs an fsync of its own (`durability.rs`) | `--group-commit off` |
//! | the pre-zeroed journal | `padding.rs` | every line appended, growing the file | `--prezero off` |
//! | appending checkpoints | `snapshot/append.rs` | every snapshot rewritten whole | `--checkpoint rewrite` |
//! | hand-written CSV | `csv_field.rs` | fields collected as strings, written by `csv::Writer` | `--csv crate` |
//!
//! Every layer is on by default: together they are what lets durable writes keep up
//! with Redis on two cores (docs/BENCHMARKS.md has a table that switches them off one
//! at a time, measured in the same run). Every promise of docs/RELIABILITY.md holds
//! with any of them off; each layer's tests check it both ways.
//!
//! The server's reply path has a layer of its own, outside storage:
//! `--reply-path plain|committer` (src/server/reply_handover.rs).

use super::CsvEncoding;

/// Which speed layers of storage are on. The default is all of them;
/// [`Layers::PLAIN`] is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    /// One fsync serves every thread waiting at that moment (`group_commit.rs`). Off:
    /// each waiting thread runs its own fsync.
    pub group_commit: bool,
    /// The journal's file is grown with zeros ahead of its lines, which are written
    /// over them, so that an fsync need not commit a new file size (`padding.rs`).
    /// Off: each line is appended and grows the file.
    pub prezero: bool,
    /// A checkpoint appends a table's new rows to its snapshot when none of the saved
    /// rows changed (`snapshot/append.rs`). Off: every snapshot is rewritten whole.
    pub append_checkpoints: bool,
    /// How journal lines and snapshot rows are encoded as CSV (`csv_field.rs`).
    pub csv: CsvEncoding,
}

impl Layers {
    /// Every layer off: the plain version of storage.
    pub const PLAIN: Layers = Layers {
        group_commit: false,
        prezero: false,
        append_checkpoints: false,
        csv: CsvEncoding::Crate,
    };

    /// Every layer on (the default).
    pub const FAST: Layers = Layers {
        group_commit: true,
        prezero: true,
        append_checkpoints: true,
        csv: CsvEncoding::Hand,
    };
}

impl Default for Layers {
    fn default() -> Layers {
        Layers::FAST
    }
}

/// The ways a test runs storage: every layer on, every layer off, and each layer off
/// alone. A promise that holds these six ways holds with any layer off.
#[cfg(test)]
pub(crate) fn every_way() -> [Layers; 6] {
    let fast = Layers::FAST;
    [
        fast,
        Layers::PLAIN,
        Layers {
            group_commit: false,
            ..fast
        },
        Layers {
            prezero: false,
            ..fast
        },
        Layers {
            append_checkpoints: false,
            ..fast
        },
        Layers {
            csv: CsvEncoding::Crate,
            ..fast
        },
    ]
}

/// A temporary directory on the disk that holds the crate (under `target/`), not in
/// the system's temporary folder, which may be a tmpfs: there an fsync costs nothing,
/// and a test that shows what group commit saves would see nothing to save.
#[cfg(test)]
pub(crate) fn tempdir_on_disk() -> tempfile::TempDir {
    let parent = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tmp");
    std::fs::create_dir_all(&parent).expect("a folder for temporary directories");
    tempfile::tempdir_in(parent).expect("a temporary directory")
}
