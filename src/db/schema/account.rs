//! An account's identity: the [`AccountId`] that REGISTER gives it and no other account
//! will ever get, and the [`Account`] (id and name) that sessions act as and history
//! rows record. Why a name is not enough, and the checks made with these, are in
//! src/db/identity.rs.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// An account's id: 1, 2, 3, ... in the order accounts were created, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AccountId {
    type Err = ();
    /// Digits only, from 1 (no sign, no spaces).
    fn from_str(text: &str) -> Result<AccountId, ()> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        match text.parse() {
            Ok(0) | Err(_) => Err(()),
            Ok(id) => Ok(AccountId(id)),
        }
    }
}

/// One account as it acts or appears in history: its id, which decides, and its name,
/// which people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
}

impl Account {
    pub fn new(id: AccountId, name: &str) -> Account {
        Account {
            id,
            name: name.to_string(),
        }
    }
}

/// Hands out ids, each one more than the last (held by [`Db`](crate::db::Db)).
#[derive(Debug)]
pub struct AccountIds {
    last: AtomicU64,
}

impl AccountIds {
    /// Ids from `highest + 1` on.
    pub fn after(highest: u64) -> AccountIds {
        AccountIds {
            last: AtomicU64::new(highest),
        }
    }

    /// An id never handed out before. REGISTER takes it under the `users` write lock,
    /// so ids follow the order of registrations; one whose commit then fails is skipped.
    pub fn next(&self) -> AccountId {
        AccountId(self.last.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// The largest id handed out or found in the data.
    pub fn highest(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_and_refuse_anything_but_digits_from_one() {
        assert_eq!("42".parse(), Ok(AccountId(42)));
        assert_eq!(AccountId(42).to_string(), "42");
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "x",
            "99999999999999999999999",
        ] {
            assert_eq!(bad.parse::<AccountId>(), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_handed_out_after_the_highest() {
        let ids = AccountIds::after(7);
        assert_eq!(ids.next(), AccountId(8));
        assert_eq!(ids.next(), AccountId(9));
        assert_eq!(ids.highest(), 9);
    }
}
