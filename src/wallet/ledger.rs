//! The ledger: `transfers.csv`, one line for every movement of money, never changed.
//!
//! Why a ledger and not just balances: a balance says *how much*, the ledger says *why*.
//! Every balance in `wallets.csv` must be what the ledger's lines add up to, and
//! `feira-server check` replays them to prove it ([`super::check`]). Each line records
//! the balances *after* it, so the replay can name the very first line that disagrees.
//!
//! The kinds of line, and what their columns mean:
//!
//! | kind | from | to | amount | reference |
//! |---|---|---|---|---|
//! | `initial` | | the new wallet | the opening balance | |
//! | `deposit` | | the wallet credited | the deposit | the admin who made it |
//! | `transfer` | the payer | the payee | the amount moved | |
//! | `order` | the buyer | | the order's total | the order's id |
//! | `close` | the closed wallet (empty) | | 0.00 | |
//!
//! Each side is written twice: the user's name, for people, and the account's id
//! (`from_account`, `to_account`), which decides whose movement it is. A name may
//! belong to a deleted account and then to a new one; TRANSFERS lists a session's
//! movements by its account's id, so the new account never sees the old one's.
//!
//! Lines are only ever added (ids 1, 2, 3, ... with no gaps), in the same journal
//! transaction as the balance changes they explain.

use std::collections::BTreeMap;

use crate::db::Db;
use crate::db::schema::{Account, AccountId, Kind, LedgerEntry};
use crate::protocol::listing::Page;

/// The id for the next line: one more than the last. The caller holds the
/// `transfers` write lock, so no one else can take the same id.
pub(crate) fn next_id(ledger: &BTreeMap<u64, LedgerEntry>) -> u64 {
    ledger.last_key_value().map_or(1, |(id, _)| id + 1)
}

/// Is this side of a line the account `id`?
fn is(side: &Option<Account>, id: AccountId) -> bool {
    side.as_ref().is_some_and(|account| account.id == id)
}

impl LedgerEntry {
    /// Does this line move the money of account `id` (or open or close its wallet)?
    pub fn involves(&self, id: AccountId) -> bool {
        is(&self.from, id) || is(&self.to, id)
    }

    /// The line as account `id` sees it in TRANSFERS:
    /// id, time, kind, `in` or `out`, counterpart, amount, balance after.
    ///
    /// The counterpart is the other wallet's user for a transfer, the order's id for an
    /// order, the admin for a deposit, and empty for `initial` and `close`.
    pub fn row_for(&self, id: AccountId) -> Vec<String> {
        let incoming = is(&self.to, id);
        let (direction, balance, other) = if incoming {
            ("in", self.to_balance, &self.from)
        } else {
            ("out", self.from_balance, &self.to)
        };
        let counterpart = match self.kind {
            Kind::Transfer => other.as_ref().map(|account| account.name.clone()),
            Kind::Order | Kind::Deposit => self.reference.clone(),
            Kind::Initial | Kind::Close => None,
        };
        vec![
            self.id.to_string(),
            self.time.clone(),
            self.kind.to_string(),
            direction.to_string(),
            counterpart.unwrap_or_default(),
            self.amount.to_string(),
            balance.map(|b| b.to_string()).unwrap_or_default(),
        ]
    }
}

/// The latest `count` ledger lines of account `id`, newest first, and how many it has
/// in all (for the `OK` line when the list is cut). Lines of a deleted account that had
/// the same name are not its own.
///
/// Only the page is copied; the account's other lines are counted. The count walks the
/// whole ledger, as [`orders::latest`](crate::shop::orders::latest) walks the orders,
/// and the same way: the `transfers` read lock is taken a chunk of lines at a time
/// ([`Table::walk_back`](crate::storage::Table::walk_back)), so a TRANSFER waits for
/// one chunk, never for the whole walk.
pub fn statement(db: &Db, id: AccountId, count: usize) -> Page<LedgerEntry> {
    let mut page = Page::empty();
    db.transfers.walk_back(|entry| {
        if entry.involves(id) {
            page.offer(entry, count);
        }
    });
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::transfers::example;

    const ALICE: AccountId = AccountId(2);
    const BOB: AccountId = AccountId(3);

    #[test]
    fn each_side_sees_its_own_direction_and_balance() {
        let entry = example();
        assert_eq!(
            entry.row_for(ALICE)[2..],
            ["transfer", "out", "bob", "12.50", "87.50"]
        );
        assert_eq!(
            entry.row_for(BOB)[2..],
            ["transfer", "in", "alice", "12.50", "112.50"]
        );
        let order = LedgerEntry {
            kind: Kind::Order,
            to: None,
            to_balance: None,
            reference: Some("12".into()),
            ..example()
        };
        assert_eq!(
            order.row_for(ALICE)[2..],
            ["order", "out", "12", "12.50", "87.50"]
        );
        assert!(!order.involves(BOB));
        // A later account named alice is another account.
        assert!(!order.involves(AccountId(9)));
    }
}
