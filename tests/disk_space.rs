//! Disk space: the journal's zero padding follows its use, the server starts on a
//! 16 MiB disk, and a full disk costs writes, not data.
//!
//! What used to happen: every journal file was padded with 64 MiB of zeros at once, and
//! the next one made ahead with as many (a demo's `state/` held 133 MB). On a small disk
//! the zeros failed half-way and were left there, filling it, and the start then died on
//! `audit.csv`, leaving it empty, without its header.

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use feira::db::Db;
use feira::protocol::{Cents, ErrorCode};
use feira::shop::{catalog, orders};
use support::server_process::ServerProcess;
use support::tools;
use support::*;

const MIB: u64 = 1024 * 1024;

fn size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn a_new_journal_keeps_one_mib_of_zeros_whatever_its_checkpoint_size() {
    let dir = demo_data_dir();
    let db = Db::open(dir.path(), feira::db::DEFAULT_CHECKPOINT_BYTES).unwrap();
    let alice = db.users.read()["alice"].account();
    orders::place(&db, &alice, "Pera", 1).unwrap();
    assert_eq!(size(&dir.path().join("journal.csv")), MIB);
    assert!(!dir.path().join("journal.next.csv").exists());
    // After a checkpoint too (a shutdown's, say): one small file, nothing made ahead.
    db.checkpoint().unwrap();
    assert_eq!(size(&dir.path().join("journal.csv")), MIB);
    assert!(!dir.path().join("journal.next.csv").exists());
}

#[test]
fn a_busy_journal_moves_to_bigger_files_made_ahead_and_never_grows_under_the_lock() {
    let dir = demo_data_dir();
    let checkpoint = 4 * MIB;
    let db = Db::open(dir.path(), checkpoint).unwrap();
    catalog::add(&db, "Milho", Cents(1), 10_000_000).unwrap();
    feira::wallet::transfer::deposit(&db, "admin", "alice", Cents(100_000_000)).unwrap();
    let alice = db.users.read()["alice"].account();
    let journal = dir.path().join("journal.csv");
    let next = dir.path().join("journal.next.csv");
    // The size of each journal file, and the journal's length when it was left.
    let mut sizes = vec![size(&journal)];
    let mut left_at = Vec::new();
    let start = Instant::now();
    // A checkpoint renames a new file into place: a new inode.
    let inode = |path: &Path| fs::metadata(path).unwrap().ino();
    while left_at.len() < 4 {
        // Orders as the server places them: each followed by `checkpoint_if_due`.
        let file = inode(&journal);
        orders::place(&db, &alice, "Milho", 1).unwrap();
        let len = db.journal.len_bytes();
        db.checkpoint_if_due();
        if inode(&journal) != file {
            left_at.push(len);
            sizes.push(size(&journal));
        }
        // The file never grows while it is the journal: its zeros were there ahead.
        assert_eq!(
            size(&journal),
            *sizes.last().unwrap(),
            "grew under the lock"
        );
        if left_at.is_empty() && len < MIB / 2 - 64 * 1024 {
            assert!(!next.exists(), "made ahead before the journal was in use");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "too slow");
    }
    // 1 MiB, then files made ahead bigger, up to what a checkpoint needs (4 MiB of lines
    // and a header: 5 MiB, more as the snapshots, and so the checkpoint size, grow).
    assert_eq!(sizes[..2], [MIB, 5 * MIB]);
    assert!(sizes[2..].iter().all(|&s| s >= 5 * MIB), "{sizes:?}");
    // The small file was left early, at three quarters; the first big one when due.
    // (Later ones may be left early again: the snapshots grow, and with them the lines
    // a checkpoint waits for, beyond what the file was made for.)
    assert!(left_at[0] < MIB, "{left_at:?}");
    assert!(left_at[1] >= checkpoint, "{left_at:?}");
}

#[test]
fn an_audit_file_whose_header_cannot_be_written_is_not_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    // `audit.csv` on a disk with no room: /dev/full takes the open and refuses the
    // write with ENOSPC. (Removing the audit file removes this link, not the device.)
    let audit = dir.path().join("audit.csv");
    std::os::unix::fs::symlink("/dev/full", &audit).unwrap();
    let error = feira::sharing::AuditLog::open(dir.path(), Default::default())
        .err()
        .expect("no room for the header");
    assert!(error.to_string().contains("audit.csv"), "{error}");
    assert!(
        fs::symlink_metadata(&audit).is_err(),
        "an audit.csv without its header was left behind"
    );
    assert!(Path::new("/dev/full").exists());
}

/// A 16 MiB tmpfs mounted on `at`, seen only by this thread and the processes it starts
/// (a mount namespace of its own, which the kernel drops with the last of them: nothing
/// is left mounted however the test ends). Needs CAP_SYS_ADMIN, which root has here.
fn mount_small_disk(at: &Path, mib: u64) -> Result<(), String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let error = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    let root = CString::new("/").unwrap();
    let target = CString::new(at.as_os_str().as_bytes()).unwrap();
    let tmpfs = CString::new("tmpfs").unwrap();
    let options = CString::new(format!("size={mib}m")).unwrap();
    // SAFETY: system calls with valid NUL-terminated strings (or null where allowed);
    // they change only this thread's view of the mounts.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(error("unshare(CLONE_NEWNS)"));
        }
        // Without this the new mount would propagate to the rest of the system.
        let private = libc::MS_REC | libc::MS_PRIVATE;
        let null = std::ptr::null();
        if libc::mount(null, root.as_ptr(), null, private, std::ptr::null()) != 0 {
            return Err(error("mount --make-rprivate /"));
        }
        if libc::mount(
            tmpfs.as_ptr(),
            target.as_ptr(),
            tmpfs.as_ptr(),
            0,
            options.as_ptr().cast(),
        ) != 0
        {
            return Err(error("mount -t tmpfs"));
        }
    }
    Ok(())
}

/// Fills the disk under `dir` with a file of zeros, then gives `leave` bytes back.
fn fill_disk(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let written = file.metadata().unwrap().len();
    file.set_len(written.saturating_sub(leave)).unwrap();
    path
}

const PRODUCT: &str = "Milho";
const STOCK: u64 = 10_000_000;

/// What [`order_until_refused`] saw.
struct Orders {
    acknowledged: u64,
    refused: u64,
    first_refusal: feira::protocol::Reply,
}

/// Orders one unit of `PRODUCT` at a time, 100 requests per write, until one is
/// refused, and then 100 more (on a full disk, they are refused too).
fn order_until_refused(server: &ServerProcess) -> Orders {
    let mut alice = server.login(ALICE);
    let start = Instant::now();
    let (mut acknowledged, mut refused) = (0, 0);
    let mut first_refusal = None;
    let mut batches_after_it = 0;
    while batches_after_it < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the disk did not fill: {acknowledged} orders acknowledged"
        );
        for _ in 0..100 {
            alice.send_line(&format!("ORDER {PRODUCT} 1")).unwrap();
        }
        for _ in 0..100 {
            // After a refusal a later order may still fit (in what the refused one
            // did not use): it was acknowledged, so it counts.
            let reply = alice.read_reply().unwrap();
            if reply.is_ok() {
                acknowledged += 1;
            } else {
                refused += 1;
                first_refusal.get_or_insert(reply);
            }
        }
        if first_refusal.is_some() {
            batches_after_it += 1;
        }
    }
    let first_refusal = first_refusal.expect("a refusal ends the loop");
    Orders {
        acknowledged,
        refused,
        first_refusal,
    }
}

/// The stock of `PRODUCT`, which tells how many orders were kept.
fn stock(server: &ServerProcess) -> u64 {
    let mut admin = server.login(ADMIN);
    ok(&mut admin, &format!("PRODUCT {PRODUCT}"))[0][2]
        .parse()
        .unwrap()
}

/// The whole scenario, in a thread whose mount namespace holds the small disk.
fn on_a_full_small_disk(mount: &Path) {
    let state = mount.join("state");
    fs::create_dir(&state).unwrap();
    let demo = demo_data_dir();
    for entry in fs::read_dir(demo.path()).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, state.join(path.file_name().unwrap())).unwrap();
    }

    let server = ServerProcess::start(&state);
    // Started small: a 1 MiB journal, nothing made ahead.
    assert!(size(&state.join("journal.csv")) <= MIB);
    assert!(!state.join("journal.next.csv").exists());
    let mut admin = server.login(ADMIN);
    ok(&mut admin, &format!("ADD_PRODUCT {PRODUCT} 0.01 {STOCK}"));
    ok(&mut admin, "DEPOSIT alice 1000000.00");

    // Most of the disk goes to another file; orders fill the rest.
    let filler = fill_disk(mount, 64 * 1024);
    let Orders {
        acknowledged,
        refused,
        first_refusal,
    } = order_until_refused(&server);
    assert!(acknowledged > 100, "{acknowledged}");
    assert!(refused > 100, "{refused}");
    let text = format!("{first_refusal:?}");
    assert_eq!(
        first_refusal.code().as_ref().map(ErrorCode::as_str),
        Some("INTERNAL"),
        "{text}"
    );
    assert!(text.contains("nothing was changed"), "{text}");
    // Reads carry on, and the refused orders changed nothing.
    assert_eq!(stock(&server), STOCK - acknowledged);

    // A graceful stop on the full disk: a clean exit, with a message.
    let (status, log) = server.terminate();
    assert!(status.success(), "{status:?}: {log:#?}");
    assert!(
        log.iter().any(|l| l.contains("shutdown complete")),
        "{log:#?}"
    );
    // Each refused write was not an ERROR line of its own: the first one is, with its
    // cause, and then a count every 5 s at most (the test takes far less).
    let errors: Vec<&String> = log.iter().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.len() <= 3, "{refused} refusals: {errors:#?}");
    let first = errors.first().map_or("", |line| line.as_str());
    assert!(
        first.contains("a write to the journal was refused") && first.contains("space"),
        "{errors:#?}"
    );
    // Nothing half-written is left behind.
    for entry in fs::read_dir(&state).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{name} left behind");
    }
    let audit = fs::read_to_string(state.join("audit.csv")).unwrap();
    assert!(audit.starts_with("time,user,peer,operation,arguments,result\n"));
    let next = state.join("journal.next.csv");
    if next.exists() {
        let bytes = fs::read(&next).unwrap();
        assert_eq!(bytes.len() as u64 % MIB, 0, "a half-made next journal");
    }

    // With room again, every acknowledged order is there.
    fs::remove_file(filler).unwrap();
    let server = ServerProcess::start(&state);
    assert_eq!(stock(&server), STOCK - acknowledged);
    let mut alice = server.login(ALICE);
    // Alice ordered nothing else: ORDERS's OK line says how many she has in all.
    let newest = call(&mut alice, "ORDERS 1");
    assert_eq!(newest.data[0][1], PRODUCT);
    assert_eq!(
        newest.status,
        Ok(format!("1 of {acknowledged} orders, newest first"))
    );
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn the_server_starts_on_a_16_mib_disk_and_a_full_disk_refuses_writes_and_loses_nothing() {
    let mount = tempfile::tempdir().unwrap();
    let at = mount.path().to_path_buf();
    // A thread of its own: the mount namespace (and the disk) goes with it.
    let scenario = std::thread::spawn(move || match mount_small_disk(&at, 16) {
        Ok(()) => {
            on_a_full_small_disk(&at);
            true
        }
        Err(why) => {
            let what = "the right to mount a 16 MiB disk (root's CAP_SYS_ADMIN)";
            tools::missing(what, &why);
            false
        }
    });
    if let Err(panic) = scenario.join() {
        std::panic::resume_unwind(panic);
    }
}
