//! `transfers.csv`, the ledger: one line for every movement of money, never changed.
//! What each kind of line means, and why there is a ledger, is in src/wallet/ledger.rs.

use std::fmt;
use std::str::FromStr;

use super::account::Account;
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
    /// A wallet paid for an order (money leaves the wallets for the shop).
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

/// A transfer of 12.50 from alice (account 2) to bob (account 3), for tests.
#[cfg(test)]
pub(crate) fn example() -> LedgerEntry {
    use super::AccountId;
    LedgerEntry {
        id: 7,
        time: "2026-11-27T15:00:00Z".into(),
        kind: Kind::Transfer,
        from: Some(Account::new(AccountId(2), "alice")),
        to: Some(Account::new(AccountId(3), "bob")),
        amount: Cents(1250),
        from_balance: Some(Cents(8750)),
        to_balance: Some(Cents(11250)),
        reference: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_with_its_empty_columns() {
        for entry in [
            example(),
            LedgerEntry {
                kind: Kind::Initial,
                from: None,
                from_balance: None,
                ..example()
            },
        ] {
            let fields = entry.to_fields();
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            assert_eq!(LedgerEntry::from_fields(&fields), Ok(entry));
        }
        assert_eq!(
            example().to_fields()[3..7],
            ["alice", "2", "bob", "3"],
            "each side is a name and an account id"
        );
        let fields = example().to_fields();
        for (column, bad) in [(2, "gift"), (4, ""), (4, "x"), (3, "")] {
            let mut damaged: Vec<&str> = fields.iter().map(String::as_str).collect();
            damaged[column] = bad;
            assert!(
                LedgerEntry::from_fields(&damaged).is_err(),
                "{column}: {bad:?}"
            );
        }
    }
}
