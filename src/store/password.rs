//! Password hashing: argon2id, salted, slow on purpose, verified in constant time.
//!
//! Why argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): seed 003 kept
//! passwords in clear in a CSV file. A slow, memory-hard hash means a stolen
//! `users.csv` costs an attacker years, not seconds. The PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) records the salt and parameters, so
//! they can be raised later without breaking old accounts.
//!
//! Why a gate: each hash allocates 19 MiB. A thousand clients logging in at once would
//! allocate 19 GiB. The [`HashGate`] lets only a few hashes run at a time (one per
//! core is all the CPU can do anyway); the others wait their turn.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use parking_lot::{Condvar, Mutex};

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks a password against a PHC string. The comparison is constant-time.
/// A malformed stored hash simply fails to verify.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A PHC string that no password matches, verified when the user does not exist so
/// that "no such user" takes as long as "wrong password" (no user enumeration by timing).
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZmVpcmEtZHVtbXktc2FsdA$7lqqiq+0hvJf7vBXrfr6wxTmmMNrPt2+VVG7Oe4ZNEA";

/// A counting semaphore that bounds how many hashes run at once.
pub struct HashGate {
    running: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl HashGate {
    /// A gate that lets `limit` hashes run at once (at least one).
    pub fn new(limit: usize) -> HashGate {
        HashGate {
            running: Mutex::new(0),
            freed: Condvar::new(),
            limit: limit.max(1),
        }
    }

    /// Runs `work` once a place is free.
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        {
            let mut running = self.running.lock();
            while *running >= self.limit {
                self.freed.wait(&mut running);
            }
            *running += 1;
        }
        // Give the place back even if `work` panics.
        struct Release<'a>(&'a HashGate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.running.lock() -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct horsE", &phc));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn two_hashes_of_one_password_differ() {
        assert_ne!(hash("same").unwrap(), hash("same").unwrap());
    }

    #[test]
    fn the_dummy_hash_is_well_formed_and_matches_nothing_likely() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("", DUMMY_HASH));
        assert!(!verify("password", DUMMY_HASH));
    }

    #[test]
    fn the_gate_bounds_concurrency() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let gate = Arc::new(HashGate::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, peak) = (gate.clone(), inside.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        gate.run(|| {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }
}
