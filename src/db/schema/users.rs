//! `users.csv`: one row per account, with its id, its role and its password's hash.
//!
//! Why in the schema: every domain checks a session's account against it (src/db/identity.rs),
//! and REGISTER and UNREGISTER change it together with the wallets and the ledger.

use std::fmt;
use std::str::FromStr;

use super::account::{Account, AccountId};
use crate::storage::{Field, Fields, Record, RowError};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May shop, pay, share files.
    Customer,
    /// May also add products, restock, deposit, read STATS.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        })
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(text: &str) -> Result<Role, ()> {
        match text {
            "customer" => Ok(Role::Customer),
            "admin" => Ok(Role::Admin),
            _ => Err(()),
        }
    }
}

/// A row of `users.csv`. The password is stored only as an argon2id PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The account's identity, never reused; the name may be, after UNREGISTER.
    pub id: AccountId,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: String,
}

impl User {
    /// The account as it acts: its id and its name.
    pub fn account(&self) -> Account {
        Account::new(self.id, &self.name)
    }
}

impl Record for User {
    const TABLE: &'static str = "users";
    const COLUMNS: &'static [&'static str] = &["id", "name", "role", "password_hash", "created_at"];
    type Key = String;

    fn key(&self) -> String {
        self.name.clone()
    }

    fn write_fields(&self, out: &mut dyn Fields) {
        out.display(&self.id);
        out.text(&self.name);
        out.display(&self.role);
        out.text(&self.password_hash);
        out.text(&self.created_at);
    }

    fn from_fields(fields: &[&str]) -> Result<User, RowError> {
        Ok(User {
            id: Field::parse(fields, Self::COLUMNS, 0)?,
            name: fields[1].to_string(),
            role: Field::parse(fields, Self::COLUMNS, 2)?,
            password_hash: fields[3].to_string(),
            created_at: fields[4].to_string(),
        })
    }
}
