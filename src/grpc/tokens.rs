//! Session tokens: what a gRPC call carries instead of a connection's session.
//!
//! Why tokens: the socket door remembers who is logged in on the connection, because a
//! connection is a session. A gRPC call is not bound to a connection (a client may
//! spread its calls over several, and one connection may carry many clients' calls
//! through a proxy), so `Login` hands out a token and every later call sends it as
//! `authorization: Bearer <token>` metadata.
//!
//! - **Unguessable.** 256 bits from the operating system's CSPRNG (`getrandom`, as for
//!   pay keys and salts), written in hex. A token is a password for the session.
//! - **Kept only in memory**, so a restart logs every gRPC client out, as it closes
//!   every socket session. Nothing about a token ever reaches the disk or the log.
//! - **Kept hashed.** The table's keys are SHA-256 digests of the tokens, so looking
//!   one up compares digests, and how long a lookup takes says nothing about how close
//!   a guess was to a real token.
//! - **Expiring on idle**, like a socket session (`--idle-timeout`): a token unused for
//!   that long is refused, and swept out of the table at the next `Login`.
//!
//! The table's mutex is a leaf lock, held for one map operation and never across
//! anything that waits, so the async threads may take it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::server::session::LoggedIn;

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;

/// The most tokens alive at once. Each costs about 100 bytes; logins are throttled and
/// cost a password hash each, so this is only reached by a flood of successful logins
/// with an account's password, and then the oldest idle tokens go first.
pub const MAX_TOKENS: usize = 100_000;

/// The live tokens of one gRPC door.
pub struct Tokens {
    /// A token unused for this long no longer works.
    idle_timeout: Duration,
    /// By the SHA-256 digest of the token.
    table: Mutex<HashMap<[u8; 32], Entry>>,
}

struct Entry {
    user: LoggedIn,
    last_used: Instant,
}

impl Tokens {
    pub fn new(idle_timeout: Duration) -> Tokens {
        Tokens {
            idle_timeout,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The idle timeout, which `Login` tells the client.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// A new token for `user`. Sweeps out the expired tokens first (and, at
    /// [`MAX_TOKENS`], the least recently used one), so the table stays bounded without
    /// a thread of its own.
    pub fn issue(&self, user: LoggedIn) -> Result<String> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Other(format!("the operating system gave no random bytes: {e}")))?;
        let token = bytes.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        let now = Instant::now();
        let mut table = self.table.lock();
        table.retain(|_, entry| now.duration_since(entry.last_used) < self.idle_timeout);
        if table.len() >= MAX_TOKENS {
            let oldest = table
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| *key);
            if let Some(key) = oldest {
                table.remove(&key);
            }
        }
        table.insert(
            digest(&token),
            Entry {
                user,
                last_used: now,
            },
        );
        Ok(token)
    }

    /// Who `token` belongs to, if it is live; using it restarts its idle time. An
    /// expired token is removed.
    pub fn check(&self, token: &str) -> Option<LoggedIn> {
        let key = digest(token);
        let now = Instant::now();
        let mut table = self.table.lock();
        let entry = table.get_mut(&key)?;
        if now.duration_since(entry.last_used) >= self.idle_timeout {
            table.remove(&key);
            return None;
        }
        entry.last_used = now;
        Some(entry.user.clone())
    }

    /// Forgets `token` (its account was deleted: it can never work again).
    pub fn revoke(&self, token: &str) {
        self.table.lock().remove(&digest(token));
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::{AccountId, Role};

    fn alice() -> LoggedIn {
        LoggedIn {
            name: "alice".into(),
            role: Role::Customer,
            id: AccountId(2),
        }
    }

    #[test]
    fn a_token_is_random_and_names_its_user() {
        let tokens = Tokens::new(Duration::from_secs(60));
        let first = tokens.issue(alice()).unwrap();
        let second = tokens.issue(alice()).unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), 2 * TOKEN_BYTES);
        assert_eq!(tokens.check(&first).map(|u| u.name), Some("alice".into()));
        assert!(tokens.check("not-a-token").is_none());
        tokens.revoke(&first);
        assert!(tokens.check(&first).is_none());
        assert!(tokens.check(&second).is_some());
    }

    #[test]
    fn an_idle_token_expires_and_is_swept() {
        let tokens = Tokens::new(Duration::from_millis(1));
        let token = tokens.issue(alice()).unwrap();
        // Not a wait for readiness: the test needs this much time to pass, unused.
        let idle_until = Instant::now() + Duration::from_millis(2);
        while Instant::now() < idle_until {
            std::thread::yield_now();
        }
        assert!(tokens.check(&token).is_none(), "an idle token still works");
        assert!(
            tokens.table.lock().is_empty(),
            "an expired token is removed when seen"
        );
    }
}
