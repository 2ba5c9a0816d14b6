//! A session's account verbs: REGISTER, LOGIN, LOGOUT, WHOAMI and UNREGISTER.
//!
//! Why here and not in `crate::accounts`: the rules (names, password hashing, the
//! account and its wallet in one transaction) are there; what belongs to the
//! connection is here: which user this session is, the client's address that the
//! throttle counts against, and the session's entry among the connected peers, which
//! goes when the user changes.
//!
//! The lesson of these verbs is *slow work outside locks*: a password hash takes about
//! 25 ms of a core on purpose, and no table lock is ever held across one. Each handler
//! says when it hashes and which locks the domain takes. The replies are
//! docs/PROTOCOL.md's, "The session".

use super::super::Shared;
use super::super::session::{LoggedIn, Session};
use crate::accounts;
use crate::protocol::{ErrorCode, Refusal, Reply};

impl Session {
    /// REGISTER: a new customer account, with its wallet, in one journal line.
    ///
    /// Hashes first, with no lock held; then `users`, `wallets`, `transfers`, written,
    /// in the lock order of src/db.rs, for the check that the name is still free and the
    /// insert. Refusals: BAD_REQUEST (the name or the password), CONFLICT (taken, or
    /// it looks like an account's name), THROTTLED.
    pub(super) fn register(
        &mut self,
        shared: &Shared,
        user: &str,
        password: &str,
    ) -> Result<Reply, Refusal> {
        let gate = &shared.hash_gate;
        // Over the registrations allowed from this address: refused at once, before the
        // password is hashed (the throttle's fourth bucket, src/accounts/throttle.rs).
        let permit = shared.throttle.admit_registration(gate, self.address())?;
        accounts::register(&shared.db, gate, user, password, &shared.config.wallet)?;
        // Only an account actually created spends the permit: a taken name, a bad
        // password or a failed write gives it back when `permit` is dropped.
        permit.created();
        log::info!("{}: registered {user}", self.peer);
        // Registering does not log in: the client proves the password with LOGIN.
        Ok(Reply::ok(format!("registered {user}; now LOGIN")))
    }

    /// LOGIN: checks the password, and makes this session that account's.
    ///
    /// Locks: `users`, read, only to copy the stored hash out; the hash is checked after
    /// the lock is released. An unknown name is checked against a dummy hash, so it
    /// takes as long as a wrong password and gets the same AUTH_FAILED.
    pub(super) fn login(
        &mut self,
        shared: &Shared,
        name: &str,
        password: &str,
    ) -> Result<Reply, Refusal> {
        // Over a limit: refused at once, before any hashing (src/accounts/throttle.rs),
        // the same for every name, whether an account has it or not, so the refusals
        // do not tell which names exist. Else the slow part (an argon2 hash, ~25 ms),
        // taken in turn through the hash gate, with no table lock held.
        let login = accounts::log_in(
            &shared.db,
            &shared.hash_gate,
            &shared.throttle,
            name,
            password,
            self.address(),
        );
        match login {
            Ok(user) => {
                log::info!("{}: {name} logged in", self.peer);
                // This connection announced another user's files: that user is
                // disconnected (seed 002: connecting as someone else replaces them).
                if self.name() != user.name {
                    self.end_announcement(shared, "logged in as another user");
                }
                // The session keeps the account's id, not only its name: every later
                // request checks that the account of that name still has this id.
                self.user = Some(LoggedIn {
                    name: user.name,
                    role: user.role,
                    id: user.id,
                });
                Ok(Reply::ok(format!("welcome, {name} ({})", user.role)))
            }
            Err(refusal) if refusal.code == ErrorCode::Throttled => {
                log::debug!("{}: login for {name}: {refusal}", self.peer);
                Err(refusal)
            }
            Err(refusal) => {
                log::warn!("{}: failed login for {name}", self.peer);
                Err(refusal)
            }
        }
    }

    /// LOGOUT: the connection stays open, with nobody logged in.
    ///
    /// Locks: the connected peers' mutex (a leaf), if this session had CONNECTed.
    pub(super) fn logout(&mut self, shared: &Shared) -> Reply {
        // The files this session announced were announced as this user: they go too.
        self.end_announcement(shared, "logged out");
        self.user = None;
        Reply::ok("logged out")
    }

    /// WHOAMI: the user, the role and the account's id (which tells a name registered
    /// again from the account that had it before).
    ///
    /// Locks: none here: the session remembers who it is. (`check_access` has just
    /// checked, under the `users` read lock, that the account is still there.)
    pub(super) fn whoami(&self) -> Reply {
        // Only reached logged in (WHOAMI is a user verb), so there is one row.
        let user = self
            .user
            .clone()
            .map(|u| vec![u.name, u.role.to_string(), u.id.to_string()]);
        Reply::rows(user.into_iter().collect(), "")
    }

    /// UNREGISTER: deletes the session's account, if the password is right and its
    /// wallet empty, then logs the session out.
    ///
    /// Hashes first, with no lock held; then `users`, `wallets`, `transfers`, `files`,
    /// written, in the lock order: the account, its wallet's closing line and its
    /// published files go in one journal line, so a crash keeps all or none.
    pub(super) fn unregister(&mut self, shared: &Shared, password: &str) -> Result<Reply, Refusal> {
        let gate = &shared.hash_gate;
        let name = self.name().to_string();
        // The account by id: a session whose account was deleted meanwhile cannot
        // delete the new account of the same name.
        let account = self.account()?;
        // The password is checked again: a guess like any LOGIN's, throttled the same way.
        let attempt = shared.throttle.admit_login(gate, &name, self.address())?;
        let result = accounts::unregister(&shared.db, gate, &account, password);
        // Any answer but AUTH_FAILED means the password was right (CONFLICT for a
        // wallet that still holds money comes after the password check).
        if !matches!(&result, Err(r) if r.code == ErrorCode::AuthFailed) {
            attempt.succeeded();
        }
        let withdrawn = result?;
        // The account, its wallet and its files went in one journal line; what is only
        // in memory (the connected peers) and the audit log follow here.
        self.forget_account(shared, &name, withdrawn);
        self.user = None;
        log::info!("{}: unregistered {name}", self.peer);
        Ok(Reply::ok(format!("account {name} deleted")))
    }
}
