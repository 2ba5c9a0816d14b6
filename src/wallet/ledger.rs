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
//! Lines are only ever added (ids 1, 2, 3, ... with no gaps), in the same journal
//! transaction as the balance changes they explain.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::db::Db;
use crate::protocol::Cents;
use crate::storage::{Field, Fields, Record, RowError};

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
    /// The wallet debited, if any.
    pub from: Option<String>,
    /// The wallet credited, if any.
    pub to: Option<String>,
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
        "to",
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
        out.text(self.from.as_deref().unwrap_or(""));
        out.text(self.to.as_deref().unwrap_or(""));
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
        Ok(LedgerEntry {
            id: Field::parse(fields, Self::COLUMNS, 0)?,
            time: fields[1].to_string(),
            kind: Field::parse(fields, Self::COLUMNS, 2)?,
            from: text(3),
            to: text(4),
            amount: Field::parse(fields, Self::COLUMNS, 5)?,
            from_balance: money(6)?,
            to_balance: money(7)?,
            reference: text(8),
        })
    }
}

/// The id for the next line: one more than the last. The caller holds the
/// `transfers` write lock, so no one else can take the same id.
pub(crate) fn next_id(ledger: &BTreeMap<u64, LedgerEntry>) -> u64 {
    ledger.last_key_value().map_or(1, |(id, _)| id + 1)
}

impl LedgerEntry {
    /// Does this line move `user`'s money (or open or close their wallet)?
    pub fn involves(&self, user: &str) -> bool {
        self.from.as_deref() == Some(user) || self.to.as_deref() == Some(user)
    }

    /// The line as `user` sees it in TRANSFERS:
    /// id, time, kind, `in` or `out`, counterpart, amount, balance after.
    ///
    /// The counterpart is the other wallet for a transfer, the order's id for an order,
    /// the admin for a deposit, and empty for `initial` and `close`.
    pub fn row_for(&self, user: &str) -> Vec<String> {
        let incoming = self.to.as_deref() == Some(user);
        let (direction, balance, other) = if incoming {
            ("in", self.to_balance, &self.from)
        } else {
            ("out", self.from_balance, &self.to)
        };
        let counterpart = match self.kind {
            Kind::Transfer => other.clone(),
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

/// `user`'s latest `count` ledger lines, newest first.
///
/// This walks the ledger backwards from its end, under the `transfers` read lock: a
/// user who moves money often finds their lines at once; a quiet user in a long ledger
/// costs a longer walk (a per-user index would fix that, at the price of more code).
pub fn statement(db: &Db, user: &str, count: usize) -> Vec<LedgerEntry> {
    db.transfers
        .read()
        .values()
        .rev()
        .filter(|entry| entry.involves(user))
        .take(count)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer() -> LedgerEntry {
        LedgerEntry {
            id: 7,
            time: "2026-11-27T15:00:00Z".into(),
            kind: Kind::Transfer,
            from: Some("alice".into()),
            to: Some("bob".into()),
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
        let fields = transfer().to_fields();
        let mut fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        fields[2] = "gift";
        assert!(LedgerEntry::from_fields(&fields).is_err());
    }

    #[test]
    fn each_side_sees_its_own_direction_and_balance() {
        let entry = transfer();
        assert_eq!(
            entry.row_for("alice")[2..],
            ["transfer", "out", "bob", "12.50", "87.50"]
        );
        assert_eq!(
            entry.row_for("bob")[2..],
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
            order.row_for("alice")[2..],
            ["order", "out", "12", "12.50", "87.50"]
        );
        assert!(!order.involves("bob"));
    }
}
