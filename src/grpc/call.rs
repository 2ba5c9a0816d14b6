//! The path of one gRPC call, the same steps as a request on a socket: who is calling,
//! may they, do it, wait until the disk has it, answer.
//!
//! Why the work leaves the async threads: the runtime has two worker threads
//! (src/grpc/door.rs), and every connection's HTTP/2 framing runs on them. The store's
//! work blocks: it may wait for a table lock (an ORDER holds `products` while it
//! commits), for the journal's fsync (every change is durable before its reply, about
//! a millisecond, more on a busy disk), or for a password hash (25 ms of a core, in
//! turn through the hash gate). Done on a worker thread, one such wait would stall
//! every other call on that thread. So [`Caller::run`] hands the whole of it, from the
//! access check to the fsync, to the runtime's blocking pool (`spawn_blocking`), a
//! bounded set of ordinary threads (`GrpcConfig::blocking_threads`): past that many at
//! once, calls queue for a thread instead of adding threads without bound. The async
//! thread only parses, checks the token (a leaf mutex, held for one map lookup) and
//! writes the answer.
//!
//! A call cut by its timeout while its work runs still finishes that work (a commit is
//! never cut in half, and the pool's thread cannot be interrupted): the client only
//! does not hear of it, like a socket client that hung up before its reply.
//!
//! What runs on the blocking thread is the socket door's own code: the same access
//! rule ([`LoggedIn::may_use`]), the same domain functions, the same locks in the same
//! order, the same journal, and the same rule that a reply leaves only once every
//! change it made or saw is durable (`Journal::latest`, then `wait_durable`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tonic::Status;
use tonic::metadata::MetadataMap;

use super::status::{self, Conflict};
use super::tokens::Tokens;
use crate::protocol::verbs::{Access, verb_spec};
use crate::protocol::{ErrorCode, Refusal};
use crate::server::session::LoggedIn;
use crate::server::{Shared, SharedRef};

/// The metadata key every call but `Login` carries: `authorization: Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// Who is calling: the user their token names, if any, and the token itself (to
/// revoke it if the account turns out to be gone).
pub struct Caller {
    shared: SharedRef,
    user: Option<(LoggedIn, String)>,
    /// Set when the call carried a token that is not (or no longer) live.
    bad_token: bool,
}

impl Caller {
    /// The caller of a call with this metadata. A missing or unknown token is not
    /// refused here: [`Caller::run`] refuses it only for a call that needs a user.
    pub fn of(shared: &SharedRef, tokens: &Tokens, metadata: &MetadataMap) -> Caller {
        let header = metadata.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        let user = token.and_then(|t| Some((tokens.check(t)?, t.to_string())));
        Caller {
            shared: Arc::clone(shared),
            bad_token: header.is_some() && user.is_none(),
            user,
        }
    }

    /// Runs `work` as the socket door runs the verb `verb`: counted in STATS, access
    /// checked against the verb table, done on the blocking pool, and answered only
    /// once durable. `conflict` says what a CONFLICT refusal means for this call.
    pub async fn run<T, F>(
        self,
        tokens: &Tokens,
        verb: &'static str,
        conflict: Conflict,
        work: F,
    ) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Shared, Option<&LoggedIn>) -> Result<T, Refusal> + Send + 'static,
    {
        let token = self.user.as_ref().map(|(_, token)| token.clone());
        let task = tokio::task::spawn_blocking(move || self.run_blocking(verb, work));
        let outcome = task.await.unwrap_or_else(|e| {
            // A panic in the store's code: the socket door would have lost the
            // connection; here the call gets INTERNAL and the server carries on.
            log::error!("gRPC {verb}: the work failed: {e}");
            Err(Refusal::new(ErrorCode::Internal, "the server failed"))
        });
        outcome.map_err(|refusal| {
            // A session dies with its account: the token is forgotten.
            if refusal.code == ErrorCode::AuthRequired
                && let Some(token) = &token
            {
                tokens.revoke(token);
            }
            status::of(refusal, conflict)
        })
    }

    /// The blocking part of [`Caller::run`]: on a thread of the blocking pool.
    fn run_blocking<T>(
        self,
        verb: &'static str,
        work: impl FnOnce(&Shared, Option<&LoggedIn>) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let shared = &*self.shared;
        shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        shared.counters.count_verb(verb);
        // The access level is the verb table's, the one the socket door checks.
        let access = verb_spec(verb).map_or(Access::User, |spec| spec.access);
        let user = self.user.as_ref().map(|(user, _)| user);
        if access != Access::Anyone {
            let Some(user) = user else {
                return Err(Refusal::new(
                    ErrorCode::AuthRequired,
                    if self.bad_token {
                        "unknown or expired token: call Login again"
                    } else {
                        "log in first: call Login, then send `authorization: Bearer <token>`"
                    },
                ));
            };
            user.may_use(&shared.db, access)?;
        }
        let answer = work(shared, user)?;
        // Every change this call made or saw must be durable before we answer.
        let journal = &shared.db.journal;
        journal
            .wait_durable(journal.latest())
            .map_err(Refusal::internal)?;
        shared.db.checkpoint_if_due();
        Ok(answer)
    }
}

/// The caller's account, for work that needs one (every call but Login does, and
/// [`Caller::run`] checked it is there).
pub fn account(user: Option<&LoggedIn>) -> Result<crate::db::schema::Account, Refusal> {
    user.map(LoggedIn::account)
        .ok_or_else(crate::db::identity::gone)
}
