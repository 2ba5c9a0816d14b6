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
use std::fmt;
use std::str::FromStr;

use crate::db::Db;
use crate::protocol::Cents;
use crate::protocol::listing::Page;
use crate::storage::{Field, Fields, Record, RowError};
use crate::store::identity::{Account, AccountId};

/// What moved the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A wallet was opened with the initial balance.
    Initial,
    /// An admin added money (money enters the system).
    Deposit,
    /// One wallet paid another.
    Transfer,
    /// A wallet paid for an order (money leaves the wallets for the store).
    Order,
    /// An empty wallet was closed with its account.
    Close,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Initial => "initial",
            Kind::Deposit => "deposit",
            Kind::Transfer => "transfer",
            Kind::Order => "order",
            Kind::Close => "close",
        })
    }
}

impl FromStr for Kind {
    type Err = ();
    fn from_str(text: &str) -> Result<Kind, ()> {
        match text {
            "initial" => Ok(Kind::Initial),
            "deposit" => Ok(Kind::Deposit),
            "transfer" => Ok(Kind::Transfer),
            "order" => Ok(Kind::Order),
            "close" => Ok(Kind::Close),
            _ => Err(()),
        }
    }
}

/// A row of `transfers.csv`. Empty columns are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: u64,
    pub time: String,
    pub kind: Kind,
    /// The account whose wallet is debited, if any.
    pub from: Option<Account>,
    /// The account whose wallet is credited, if any.
    pub to: Option<Account>,
    pub amount: Cents,
    /// The debited wallet's balance after this line.
    pub from_balance: Option<Cents>,
    /// The credited wallet's balance after this line.
    pub to_balance: Option<Cents>,
    /// The order's id for `order`, the admin's name for `deposit`.
    pub reference: Option<String>,
}

impl Record for LedgerEntry {
    const TABLE: &'static str = "transfers";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "time",
        "kind",
        "from",
        "from_account",
        "to",
        "to_account",
        "amount",
        "from_balance",
        "to_balance",
        "reference",
    ];
    type Key = u64;

    fn key(&self) -> u64 {
        self.id
    }

    fn write_fields(&self, out: &mut dyn Fields) {
        // An absent name or balance is an empty field.
        out.display(&self.id);
        out.text(&self.time);
        out.display(&self.kind);
        for side in [&self.from, &self.to] {
            match side {
                Some(account) => {
                    out.text(&account.name);
                    out.display(&account.id);
                }
                None => {
                    out.text("");
                    out.text("");
                }
            }
        }
        out.display(&self.amount);
        for balance in [self.from_balance, self.to_balance] {
            match balance {
                Some(cents) => out.display(&cents),
                None => out.text(""),
            }
        }
        out.text(self.reference.as_deref().unwrap_or(""));
    }

    fn from_fields(fields: &[&str]) -> Result<LedgerEntry, RowError> {
        let text = |i: usize| Some(fields[i].to_string()).filter(|t| !t.is_empty());
        let money = |i: usize| -> Result<Option<Cents>, RowError> {
            if fields[i].is_empty() {
                Ok(None)
            } else {
                Field::parse(fields, Self::COLUMNS, i).map(Some)
            }
        };
        // A side is a name and an id, both empty or neither.
        let side = |i: usize| -> Result<Option<Account>, RowError> {
            match (fields[i], fields[i + 1]) {
                ("", "") => Ok(None),
                (name, _) if !name.is_empty() => Ok(Some(Account {
                    id: Field::parse(fields, Self::COLUMNS, i + 1)?,
                    name: name.to_string(),
                })),
                _ => Err(RowError(format!(
                    "column {}: an account id without a name",
                    Self::COLUMNS[i + 1]
                ))),
            }
        };
        Ok(LedgerEntry {
            id: Field::parse(fields, Self::COLUMNS, 0)?,
            time: fields[1].to_string(),
            kind: Field::parse(fields, Self::COLUMNS, 2)?,
            from: side(3)?,
            to: side(5)?,
            amount: Field::parse(fields, Self::COLUMNS, 7)?,
            from_balance: money(8)?,
            to_balance: money(9)?,
            reference: text(10),
        })
    }
}

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
/// whole ledger, as [`orders::latest`](crate::store::orders::latest) walks the orders,
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

    const ALICE: AccountId = AccountId(2);
    const BOB: AccountId = AccountId(3);

    fn transfer() -> LedgerEntry {
        LedgerEntry {
            id: 7,
            time: "2026-11-27T15:00:00Z".into(),
            kind: Kind::Transfer,
            from: Some(Account::new(ALICE, "alice")),
            to: Some(Account::new(BOB, "bob")),
            amount: Cents(1250),
            from_balance: Some(Cents(8750)),
            to_balance: Some(Cents(11250)),
            reference: None,
        }
    }

    #[test]
    fn a_line_round_trips_with_its_empty_columns() {
        for entry in [
            transfer(),
            LedgerEntry {
                kind: Kind::Initial,
                from: None,
                from_balance: None,
                ..transfer()
            },
        ] {
            let fields = entry.to_fields();
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            assert_eq!(LedgerEntry::from_fields(&fields), Ok(entry));
        }
        assert_eq!(
            transfer().to_fields()[3..7],
            ["alice", "2", "bob", "3"],
            "each side is a name and an account id"
        );
        let fields = transfer().to_fields();
        for (column, bad) in [(2, "gift"), (4, ""), (4, "x"), (3, "")] {
            let mut damaged: Vec<&str> = fields.iter().map(String::as_str).collect();
            damaged[column] = bad;
            assert!(
                LedgerEntry::from_fields(&damaged).is_err(),
                "{column}: {bad:?}"
            );
        }
    }

    #[test]
    fn each_side_sees_its_own_direction_and_balance() {
        let entry = transfer();
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
            ..transfer()
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
