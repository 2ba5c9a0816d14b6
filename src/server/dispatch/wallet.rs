//! A session's wallet verbs (seed 001): BALANCE, PAYKEY, TRANSFER, TRANSFERS and
//! DEPOSIT.
//!
//! Why so little here: the rules (the check and the spend in one critical section, keys
//! that rotate, the ledger) are in `crate::wallet`. What the session adds is the most
//! important fact of a payment: *who pays*. The payer is always the logged-in account,
//! by id; a pay key in a request only ever names the payee (seed 001's server believed
//! the key a client claimed as its own).
//!
//! Each handler says which locks the domain takes for it: watch them in
//! `feira-cli stats --watch` while `feira-bench -t transfer` runs (docs/WALKTHROUGH.md,
//! step 10). The replies are docs/PROTOCOL.md's, "Wallets (seed 001)".

use std::time::SystemTime;

use super::super::Shared;
use super::super::session::Session;
use crate::protocol::listing::{self, DEFAULT_TRANSFERS_LISTED};
use crate::protocol::{Cents, PayKey, Refusal, Reply};
use crate::wallet::{self, ledger, transfer};

impl Session {
    /// BALANCE: `* <user> <balance>` then `OK`.
    ///
    /// Locks: `wallets`, read, for one lookup.
    pub(super) fn balance(&self, shared: &Shared) -> Result<Reply, Refusal> {
        // The wallet must be this account's (by id), not just this name's: a session
        // of a deleted account must not read the balance of the next `carol`.
        let balance = wallet::balance(&shared.db, &self.account()?)?;
        // `Cents` prints as the protocol writes money: `97.60`, never a float.
        let row = vec![self.name().to_string(), balance.to_string()];
        // The row says it all: an empty summary.
        Ok(Reply::rows(vec![row], ""))
    }

    /// PAYKEY: the key others pay this account with, when it expires, and how many
    /// seconds it still works.
    ///
    /// Locks: `wallets`, read, for one lookup. The key itself is made and replaced by
    /// the rotation thread (src/wallet/rotation.rs), never here: asking for a key does
    /// not change it.
    pub(super) fn paykey(&self, shared: &Shared) -> Result<Reply, Refusal> {
        // A copy of the key and its expiry: the `wallets` lock is released before the
        // reply is built.
        let (key, expires) = wallet::pay_key(&shared.db, &self.account()?)?;
        // Seconds left, so a person knows whether to pass the key on or wait for the
        // next one. A key past its expiry (the rotation thread is a few milliseconds
        // behind) shows 0.
        let left = expires
            .duration_since(SystemTime::now())
            .map_or(0, |d| d.as_secs());
        // The key, its expiry as the server's clock says it (RFC 3339, UTC), and the
        // seconds left: the first for programs, the last for people.
        Ok(Reply::rows(
            vec![vec![
                key.to_string(),
                crate::clock::rfc3339(expires),
                left.to_string(),
            ]],
            format!("others pay you with this key for the next {left} s"),
        ))
    }

    /// TRANSFER <pay_key> <amount>: pays the holder of the key from this account.
    ///
    /// Locks: `wallets` then `transfers`, both written, in the lock order of src/db.rs,
    /// from the check of the balance to the journal line (`transfer::send`).
    /// Refusals, each changing nothing: NOT_FOUND (no wallet holds the key: it may
    /// have rotated away), CONFLICT (the payer's own key, or a balance past the
    /// maximum), INSUFFICIENT_FUNDS, AUTH_REQUIRED (the account was deleted).
    pub(super) fn transfer(
        &self,
        shared: &Shared,
        key: &PayKey,
        amount: Cents,
    ) -> Result<Reply, Refusal> {
        // The payer is the session's account; the key names only the payee. So handing
        // out a pay key lets people pay you, never spend for you.
        let receipt = transfer::send(&shared.db, &self.account()?, key, amount)?;
        // At debug level: a busy server makes thousands of these a second.
        log::debug!(
            "{}: {} sent {amount} to {}",
            self.peer,
            self.name(),
            receipt.to
        );
        // The payer learns the payee's name (the key only said "someone") and its own
        // balance after, the same figure the ledger line records.
        Ok(Reply::rows(
            vec![receipt.to_row()],
            format!(
                "sent {amount} to {}; your balance is {}",
                receipt.to, receipt.balance_after
            ),
        ))
    }

    /// TRANSFERS [n]: the account's latest movements of money, newest first, a page at
    /// a time.
    ///
    /// Locks: `transfers`, read, a chunk of ledger lines at a time (`Table::walk_back`),
    /// so a TRANSFER waiting to write the ledger waits for one chunk, never for the walk.
    pub(super) fn transfers(&self, shared: &Shared, count: Option<u64>) -> Result<Reply, Refusal> {
        // At most a page, as for ORDERS: the ledger only grows.
        let count = listing::count_or(count, DEFAULT_TRANSFERS_LISTED);
        // By account id: the lines of a deleted account that had this name are not this
        // account's history.
        let id = self.account()?.id;
        // Cannot be refused: an account with no movements has an empty page.
        let page = ledger::statement(&shared.db, id, count);
        // Each line is shown from this account's side: in or out, and the other party.
        Ok(Reply::rows(
            page.rows.iter().map(|entry| entry.row_for(id)).collect(),
            page.summary("movements, newest first"),
        ))
    }

    /// DEPOSIT <user> <amount> (admin): money enters a wallet, with a `deposit` ledger
    /// line that names the admin. With a new wallet's initial balance, the only way
    /// money enters the wallets.
    ///
    /// Locks: `wallets` then `transfers`, as TRANSFER.
    pub(super) fn deposit(
        &self,
        shared: &Shared,
        user: &str,
        amount: Cents,
    ) -> Result<Reply, Refusal> {
        // The admin is named by the session, so the ledger says who made the money.
        // NOT_FOUND if `user` has no wallet; CONFLICT past the maximum balance.
        let receipt = transfer::deposit(&shared.db, self.name(), user, amount)?;
        // At info level, unlike TRANSFER: new money is rare, and worth a line in the log.
        log::info!(
            "{}: {} deposited {amount} to {user}",
            self.peer,
            self.name()
        );
        // The same row as TRANSFER's receipt, so a client reads both the same way.
        Ok(Reply::rows(
            vec![receipt.to_row()],
            format!(
                "deposited {amount} to {user}; balance {}",
                receipt.balance_after
            ),
        ))
    }
}
