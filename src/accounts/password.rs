//! Password hashing: argon2id, salted, slow on purpose, verified in constant time.
//!
//! Why argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): seed 003 kept
//! passwords in clear in a CSV file. A slow, memory-hard hash means a stolen
//! `users.csv` costs an attacker years, not seconds. The PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) records the salt and parameters, so
//! they can be raised later without breaking old accounts.
//!
//! Why a gate: each hash needs 19 MiB of working memory. A thousand clients logging in
//! at once would need 19 GiB. The [`HashGate`] lets only a few hashes run at a time (one
//! per core is all the CPU can do anyway); the others wait their turn, in order, and no
//! client address may take more than its share of the queue ([`FairQueue`]).
//!
//! Why the gate also owns the working memory: if every hash allocates its 19 MiB and
//! frees it, glibc's allocator keeps much of that memory in the thread that freed it
//! instead of giving it back. With a thread per connection that would be about 19 MiB
//! of resident memory per logged-in connection: 9.7 GB for 500 connections
//! (`feira-bench hold`, with a buffer allocated per hash). So the gate keeps one buffer
//! per place and lends it to each hash: the server's hashing memory is
//! `places x 19 MiB`, however many users log in, and a login does not pay for zeroing
//! 19 MiB of fresh pages.

use std::net::IpAddr;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use parking_lot::Mutex;

use super::fair_queue::{FairQueue, Turn};

/// Hashes a password into a PHC string with a fresh random salt.
/// (Allocates its working memory: for one-off use. The server uses [`HashGate::hash`].)
pub fn hash(password: &str) -> Result<String, String> {
    hash_with(password, &mut Vec::new())
}

/// Checks a password against a PHC string. The comparison is constant-time.
/// A malformed stored hash simply fails to verify.
/// (Allocates its working memory: for one-off use. The server uses [`HashGate::verify`].)
pub fn verify(password: &str, phc: &str) -> bool {
    verify_with(password, phc, &mut Vec::new())
}

/// [`hash`] with OWASP's argon2id parameters, in the given working memory.
fn hash_with(password: &str, memory: &mut Vec<Block>) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot hash the password: {e}");
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt).map_err(|e| fail(&e))?;
    let params = Params::default();
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    memory.resize(params.block_count(), Block::default());
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory[..])
        .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// [`verify`] in the given working memory: recompute the hash with the stored salt and
/// parameters, and compare in constant time (`Output`'s equality is constant-time).
fn verify_with(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&stored) else {
        return false;
    };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    memory.resize(params.block_count(), Block::default());
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut memory[..],
    );
    computed.is_ok() && Output::new(out).is_ok_and(|computed| &computed == expected)
}

/// A PHC string that no password matches, verified when the user does not exist so
/// that "no such user" takes as long as "wrong password" (no user enumeration by timing).
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZmVpcmEtZHVtbXktc2FsdA$7lqqiq+0hvJf7vBXrfr6wxTmmMNrPt2+VVG7Oe4ZNEA";

/// The gate every password hash of the server goes through: it bounds how many hashes
/// run at once, serves them in order and fairly between client addresses (a
/// [`FairQueue`]), and owns their working memory.
pub struct HashGate {
    queue: FairQueue,
    /// Working memory for hashes, lent out and given back; at most one per place.
    memory: Mutex<Vec<Vec<Block>>>,
}

impl HashGate {
    /// A gate that lets `limit` hashes run at once (at least one).
    pub fn new(limit: usize) -> HashGate {
        HashGate {
            queue: FairQueue::new(limit),
            memory: Mutex::new(Vec::new()),
        }
    }

    /// Waits until the client address `from` has fewer hashes queued or running than the
    /// gate has places, and holds one of its turns until the [`Turn`] is dropped. A
    /// server takes the client's turn before each hash it does for that client (the
    /// throttle does: [`Throttle::admit_login`](super::throttle::Throttle::admit_login)),
    /// so that one address's flood cannot fill the queue (see [`FairQueue`]).
    pub fn wait_turn(&self, from: IpAddr) -> Turn<'_> {
        self.queue.wait_turn(from)
    }

    /// [`hash`], once a place is free, in memory the gate keeps for reuse.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        self.with_memory(|memory| hash_with(password, memory))
    }

    /// [`verify`], once a place is free, in memory the gate keeps for reuse.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        self.with_memory(|memory| verify_with(password, phc, memory))
    }

    fn with_memory<T>(&self, work: impl FnOnce(&mut Vec<Block>) -> T) -> T {
        self.run(|| {
            // Inside the gate, so there are never more buffers than places.
            let mut memory = self.memory.lock().pop().unwrap_or_default();
            let result = work(&mut memory);
            self.memory.lock().push(memory);
            result
        })
    }

    /// Runs `work` once a place is free, in the order the callers arrived.
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        self.queue.run(work)
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
    fn the_gate_hashes_in_reused_memory_and_agrees_with_the_free_functions() {
        let gate = HashGate::new(1);
        let phc = gate.hash("correct horse").unwrap();
        assert!(
            verify("correct horse", &phc),
            "the free function reads the gate's hash"
        );
        assert!(gate.verify("correct horse", &phc));
        assert!(!gate.verify("correct horsE", &phc));
        // The demo data's hashes were made by the argon2 crate's own PHC encoder.
        let crate_made = Argon2::default();
        let phc = argon2::password_hash::PasswordHasher::hash_password(&crate_made, b"alice-pass")
            .unwrap()
            .to_string();
        assert!(gate.verify("alice-pass", &phc));
        assert!(!gate.verify("alice-pass", "$argon2id$v=19$m=19456,t=2,p=1$bad"));
        assert_eq!(gate.memory.lock().len(), 1, "one buffer, reused");
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
