//! The rotation thread: replaces every pay key when it expires.
//!
//! Why the server rotates keys, not the client: in seed 001 each client changed its own
//! key and told the server, trusting it to send an old and a new key honestly, and
//! rotation stopped whenever the client did. Here one background thread owns rotation:
//! it sleeps until the earliest expiry, replaces every key that is due, and sleeps again.
//!
//! Why one key per lock: the thread takes the `wallets` write lock for a single key
//! swap (draw a key, check it is unique, stage it, write one journal line) and releases
//! it before the next wallet. A transfer never waits behind a whole rotation pass, only
//! behind one swap, a few microseconds. The fsync comes once, after the pass, with no
//! lock held: a lost swap after a crash would only bring back an expired key, which the
//! next start replaces at once.
//!
//! Why a key is "due" also when it expires too far in the future: after
//! `--key-rotation-secs` is lowered, or the clock is set back, a key could otherwise
//! live much longer than one lifetime. No key lives longer than one lifetime from now.
//!
//! Stopping: the thread waits on a channel with a timeout instead of sleeping, so
//! dropping the [`Rotator`] wakes it at once; the drop then joins it. Shutdown never
//! waits for a sleeping thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{expiry, keys};
use crate::db::Db;
use crate::db::schema::Wallet;
use crate::error::{Error, Result};

/// After a failed pass (the disk refused a write), wait this long before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// The shortest sleep between passes, so that a key due "now" cannot make it spin.
const MIN_WAIT: Duration = Duration::from_millis(5);

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// How many keys were replaced.
    pub rotated: usize,
    /// The earliest expiry left, if there is any wallet.
    pub next_expiry: Option<SystemTime>,
}

/// Is this wallet's key due for replacement at `now`?
fn is_due(wallet: &Wallet, now: SystemTime, lifetime: Duration) -> bool {
    wallet.key_expires_at <= now || wallet.key_expires_at > expiry(now, lifetime)
}

/// Replaces every key that is due, one wallet per lock, and waits for the disk once.
///
/// The server calls this once at start-up, before accepting connections (so keys that
/// expired while it was down never work again), and then from the rotation thread.
pub fn rotate_due(db: &Db, lifetime: Duration) -> Result<Pass> {
    let now = SystemTime::now();
    // A snapshot of who is due, under the read lock; each is checked again below.
    let due: Vec<String> = db
        .wallets
        .read()
        .values()
        .filter(|w| is_due(w, now, lifetime))
        .map(|w| w.user.clone())
        .collect();
    let mut rotated = 0;
    for user in due {
        // One key swap per write lock: the check, the new key and the journal line.
        let mut wallets = db.wallets.write();
        let now = SystemTime::now();
        // The wallet may have been closed, or its key replaced, since the snapshot.
        let Some(wallet) = wallets.get(&user).filter(|w| is_due(w, now, lifetime)) else {
            continue;
        };
        let replaced = Wallet {
            pay_key: keys::unique_key(&wallets)?,
            key_expires_at: expiry(now, lifetime),
            ..wallet.clone()
        };
        wallets.stage_put(replaced);
        db.journal.commit(&mut [&mut wallets])?;
        rotated += 1;
    }
    if rotated > 0 {
        // No lock is held here: one fsync covers every swap of the pass.
        db.journal.wait_durable(db.journal.latest())?;
    }
    let next_expiry = db.wallets.read().values().map(|w| w.key_expires_at).min();
    Ok(Pass {
        rotated,
        next_expiry,
    })
}

/// How long to sleep after a pass: until the earliest expiry, at most one lifetime.
fn wait_after(pass: &Pass, lifetime: Duration) -> Duration {
    // An expiry already past (a swap failed) means "go again soon", not "wait long".
    let until_next = pass.next_expiry.map_or(lifetime, |t| {
        t.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    });
    until_next.clamp(MIN_WAIT, lifetime.max(MIN_WAIT))
}

/// The running rotation thread. Dropping it stops the thread and waits for it.
pub struct Rotator {
    /// Dropping the sender wakes the thread, which then returns.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Rotator {
    /// Starts the thread. `owner` is whatever keeps the database alive (the server's
    /// shared state, or an `Arc<Db>` in tests); `rotated` counts every key it replaces
    /// (the server's STATS shows it).
    pub fn spawn<S>(owner: Arc<S>, lifetime: Duration, rotated: Arc<AtomicU64>) -> Result<Rotator>
    where
        S: AsRef<Db> + Send + Sync + 'static,
    {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = thread::Builder::new()
            .name("key-rotation".into())
            .spawn(move || {
                run(
                    <S as AsRef<Db>>::as_ref(&owner),
                    lifetime,
                    &rotated,
                    &stopped,
                )
            })
            .map_err(|e| Error::Other(format!("cannot start the key rotation thread: {e}")))?;
        Ok(Rotator {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (the same as dropping it).
    pub fn stop(self) {}
}

impl Drop for Rotator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the key rotation thread panicked");
        }
    }
}

fn run(db: &Db, lifetime: Duration, rotated: &AtomicU64, stopped: &Receiver<()>) {
    log::info!("key rotation: every key is replaced {lifetime:?} after it is issued");
    loop {
        let wait = match rotate_due(db, lifetime) {
            Ok(pass) => {
                rotated.fetch_add(pass.rotated as u64, Ordering::Relaxed);
                if pass.rotated > 0 {
                    log::info!("key rotation: replaced {} pay keys", pass.rotated);
                }
                wait_after(&pass, lifetime)
            }
            Err(e) => {
                log::error!("key rotation failed (retrying in {RETRY_AFTER:?}): {e}");
                RETRY_AFTER.min(lifetime)
            }
        };
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => continue,
            // A message or a dropped sender: the server is stopping.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    log::info!("key rotation stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Cents, PayKey};
    use crate::wallet::testing::{db_with, key_of};

    const LIFETIME: Duration = Duration::from_secs(180);

    /// Sets a wallet's expiry directly, as time passing (or a config change) would.
    fn set_expiry(db: &Db, user: &str, at: SystemTime) {
        let mut wallets = db.wallets.write();
        let mut wallet = wallets[user].clone();
        wallet.key_expires_at = at;
        wallets.stage_put(wallet);
        db.journal.commit(&mut [&mut wallets]).unwrap();
    }

    #[test]
    fn only_due_keys_are_replaced() {
        let (_dir, db) = db_with(&["ana", "bia", "cid"], Cents(0));
        let now = SystemTime::now();
        set_expiry(&db, "ana", now - Duration::from_secs(1));
        set_expiry(&db, "bia", now + 10 * LIFETIME);
        let before: Vec<PayKey> = ["ana", "bia", "cid"].map(|u| key_of(&db, u)).into();
        let pass = rotate_due(&db, LIFETIME).unwrap();
        assert_eq!(
            pass.rotated, 2,
            "the expired key and the one that lived too long"
        );
        assert_ne!(key_of(&db, "ana"), before[0]);
        assert_ne!(key_of(&db, "bia"), before[1]);
        assert_eq!(key_of(&db, "cid"), before[2]);
        let wallets = db.wallets.read();
        for user in ["ana", "bia"] {
            let expires = wallets[user].key_expires_at;
            assert!(expires > now && expires <= expiry(SystemTime::now(), LIFETIME));
        }
        // The old keys belong to no one any more.
        assert!(wallets.values().all(|w| w.pay_key != before[0]));
        drop(wallets);
        assert_eq!(rotate_due(&db, LIFETIME).unwrap().rotated, 0);
    }

    #[test]
    fn a_rotated_key_survives_a_restart() {
        let (dir, db) = db_with(&["ana"], Cents(0));
        set_expiry(&db, "ana", SystemTime::now() - Duration::from_secs(1));
        rotate_due(&db, LIFETIME).unwrap();
        let key = key_of(&db, "ana");
        drop(db);
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(key_of(&db, "ana"), key);
    }

    #[test]
    fn the_wait_is_until_the_next_expiry_within_bounds() {
        let soon = Pass {
            rotated: 0,
            next_expiry: Some(SystemTime::now() + Duration::from_secs(3600)),
        };
        assert_eq!(wait_after(&soon, LIFETIME), LIFETIME);
        let past = Pass {
            rotated: 0,
            next_expiry: Some(SystemTime::now() - Duration::from_secs(1)),
        };
        assert_eq!(wait_after(&past, LIFETIME), MIN_WAIT);
        let none = Pass {
            rotated: 0,
            next_expiry: None,
        };
        assert_eq!(wait_after(&none, LIFETIME), LIFETIME);
    }

    #[test]
    fn dropping_the_rotator_stops_its_thread() {
        let (_dir, db) = db_with(&["ana"], Cents(0));
        let db = Arc::new(db);
        let rotator = Rotator::spawn(db.clone(), LIFETIME, Arc::default()).unwrap();
        // The thread sleeps for up to 180 s; stopping must wake it, not wait it out.
        rotator.stop();
        assert_eq!(
            Arc::strong_count(&db),
            1,
            "the thread has let go of the database"
        );
    }
}
