//! `wallets.csv`: one wallet per account, with its balance and its current pay key.
//!
//! Why in the schema: the wallet verbs own it, but an ORDER pays from it, and REGISTER
//! and UNREGISTER open and close one.

use std::time::SystemTime;

use super::account::{Account, AccountId};
use crate::protocol::{Cents, PayKey};
use crate::storage::{Field, Fields, Record, RowError};

/// A row of `wallets.csv`: one per account.
///
/// The key is the user name (DEPOSIT and the ledger's readers name users), and the row
/// records its account's id: a session acts on a wallet only if the id is its own
/// (`own_wallet`), so a wallet opened for a new account under an old name is never
/// spent by a session of the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    pub user: String,
    pub account: AccountId,
    pub balance: Cents,
    /// The key others use to pay this wallet; unique among live wallets.
    pub pay_key: PayKey,
    /// When the rotation thread replaces the key (to the second, rounded up).
    pub key_expires_at: SystemTime,
}

impl Record for Wallet {
    const TABLE: &'static str = "wallets";
    const COLUMNS: &'static [&'static str] =
        &["user", "account", "balance", "pay_key", "key_expires_at"];
    type Key = String;

    fn key(&self) -> String {
        self.user.clone()
    }

    fn write_fields(&self, out: &mut dyn Fields) {
        out.text(&self.user);
        out.display(&self.account);
        out.display(&self.balance);
        out.display(&self.pay_key);
        out.display(&humantime::format_rfc3339_seconds(self.key_expires_at));
    }

    fn from_fields(fields: &[&str]) -> Result<Wallet, RowError> {
        let expires = fields[4];
        Ok(Wallet {
            user: fields[0].to_string(),
            account: Field::parse(fields, Self::COLUMNS, 1)?,
            // Cents refuses negatives and amounts past MAX_AMOUNT: a damaged balance
            // stops the server with the file and line instead of being believed.
            balance: Field::parse(fields, Self::COLUMNS, 2)?,
            pay_key: Field::parse(fields, Self::COLUMNS, 3)?,
            key_expires_at: humantime::parse_rfc3339(expires)
                .map_err(|_| RowError(format!("column key_expires_at: cannot read {expires:?}")))?,
        })
    }
}

impl Wallet {
    /// The account that owns this wallet.
    pub fn owner(&self) -> Account {
        Account::new(self.account, &self.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_wallet_row_round_trips_and_refuses_damage() {
        let wallet = Wallet {
            user: "joão".into(),
            account: AccountId(7),
            balance: Cents(1250),
            pay_key: "7KQ2-M9XD-4TRW-8BNP".parse().unwrap(),
            key_expires_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        let fields = wallet.to_fields();
        assert_eq!(
            fields,
            [
                "joão",
                "7",
                "12.50",
                "7KQ2-M9XD-4TRW-8BNP",
                "2027-01-15T08:00:00Z"
            ]
        );
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        assert_eq!(Wallet::from_fields(&fields), Ok(wallet));
        for (column, bad) in [
            (1, ""),
            (1, "0"),
            (2, "-1.00"),
            (2, "1.234"),
            (3, "nope"),
            (4, "tomorrow"),
        ] {
            let mut damaged = fields.clone();
            damaged[column] = bad;
            let error = Wallet::from_fields(&damaged).unwrap_err().to_string();
            assert!(error.contains(Wallet::COLUMNS[column]), "{error}");
        }
    }
}
