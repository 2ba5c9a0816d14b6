//! Names stored before the canonical forms: renamed once, at start-up.
//!
//! The door brings every name to one canonical form ([`crate::protocol::names`]): user
//! names NFKC and lower case, product and file names NFC. A data directory written by
//! an older version may hold names in other forms: `Alice`, full-width `ＢＯＢ`, `joão`
//! with a combining tilde, `Maçã` with a combining cedilla. Left so, nobody could reach
//! them: `LOGIN Alice alice-pass` looks for `alice` and finds nothing, so Alice's money
//! is lost to her, and `ORDER Maçã 1` arrives composed and misses the decomposed
//! product. So [`Db::open`] renames every name that is not canonical, everywhere it is
//! stored:
//!
//! | file | column | becomes |
//! |---|---|---|
//! | `users.csv` | `name` | its canonical form |
//! | `wallets.csv`, `orders.csv`, `transfers.csv` | the user name beside an account id | that account's new name: the id stays, so balances and history follow |
//! | `transfers.csv` | the `reference` of a deposit (the admin's name) | its canonical form |
//! | `files.csv` | `user` | the new name of the account that had this exact name |
//! | `files.csv` | `file_name`; `products.csv` `name` and `orders.csv` `product` | NFC |
//!
//! Product and file names are renamed like user names because they too are looked up
//! by the name the door hands on: a decomposed `Maçã` could no longer be ordered or
//! restocked, and a decomposed file name could not be deleted. Descriptions are left as
//! they are (nothing looks them up), and so is `audit.csv`: it records what clients sent.
//!
//! # What it refuses
//!
//! A rename that would need a guess. If two accounts get one name (`Alice` and `alice`),
//! a renamed account would look like another one (the look-alike rule of REGISTER,
//! [`crate::accounts::look_alikes`]), two products or two files of one user get one name,
//! or a published file's owner is no account of that exact name, the server does not
//! start. Its message names each case (names are written with Rust's escapes, so that
//! `"Mac\u{327}a\u{303}"` and `"Maçã"` can be told apart), the file, and how to fix it
//! by hand; nothing is changed.
//!
//! # When, and after a crash
//!
//! It runs once the tables are loaded and the journal replayed: a server killed before
//! it stopped cleanly leaves journal lines in the old names, and they are replayed as
//! they were written, then folded into the tables by the start-up checkpoint. So the
//! journal holds no lines when the tables are rewritten, and [`Db::open`] loads them
//! again after.
//!
//! As in the migration to account ids (src/db/migrate.rs), the tables are first copied
//! to `before-canonical-names/`, then each is replaced atomically, `users.csv` last. A
//! crash half-way leaves some tables renamed and the others not; the next start finds
//! names that are not canonical and renames again. Renaming a canonical name changes
//! nothing, so the tables already done stay as they are, and the copy, already whole,
//! is kept as it was: the tables from before.
//!
//! [`Db::open`]: super::Db::open

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use super::{Db, migrate};
use crate::db::schema::Order;
use crate::db::schema::Product;
use crate::db::schema::SharedFile;
use crate::db::schema::User;
use crate::db::schema::Wallet;
use crate::db::schema::{Account, AccountId};
use crate::db::schema::{Kind, LedgerEntry};
use crate::error::{Error, Result};
use crate::protocol::names;
use crate::storage::{Record, Table, snapshot};

/// Where the tables are kept as they were.
pub const BACKUP: &str = "before-canonical-names";

/// The tables that hold names, all copied there.
const TABLES: [&str; 6] = [
    "users",
    "products",
    "wallets",
    "orders",
    "transfers",
    "files",
];

const NOTE: &str = "The tables of this data directory as they were before feira gave every name its canonical form.\nThe server no longer reads them; delete this folder when you like.\n";

/// The fix for two accounts that would be mistaken for one another.
const RENAME_AN_ACCOUNT: &str = "give one of them another name in users.csv (its wallet, \
     orders and ledger lines follow it by account id; rename its rows in files.csv too, if \
     it published files)";

/// Renames every stored name that is not canonical, in the snapshots of `db`'s
/// directory (its journal holds no lines: see the module's doc). Returns whether
/// anything was renamed: the tables in `db` are then out of date.
pub fn rename(db: &Db) -> Result<bool> {
    if every_name_is_canonical(db) {
        return Ok(false);
    }
    let plan = Plan::of(db);
    if plan.changed.is_empty() && plan.conflicts.is_empty() {
        return Ok(false);
    }
    let dir = db.dir();
    if !plan.conflicts.is_empty() {
        return Err(Error::Other(format!(
            "{}: names stored by an older version are not in their canonical form, and \
             renaming these would need a guess, so the server does not start (nothing was \
             renamed):\n{}\nFix them by hand with the server stopped, then start it again.",
            dir.display(),
            plan.conflicts.join("\n")
        )));
    }
    let backup = dir.join(BACKUP);
    migrate::keep_a_copy(dir, &backup, &TABLES, NOTE)?;
    write(dir, &plan.products)?;
    write(dir, &plan.wallets)?;
    write(dir, &plan.orders)?;
    write(dir, &plan.ledger)?;
    write(dir, &plan.files)?;
    // users.csv last: files.csv finds each file's owner by the exact name users.csv
    // holds, so users.csv keeps the old names until every other table is written.
    write(dir, &plan.users)?;
    for renamed in &plan.renamed {
        log::warn!("{}: renamed {renamed}", dir.display());
    }
    log::warn!(
        "{}: gave the names stored in {} their canonical form; the tables as they were are kept in {}",
        dir.display(),
        plan.changed.join(", "),
        backup.display()
    );
    Ok(true)
}

/// Is every stored name in its canonical form? The check at every start: it reads
/// each row once and allocates nothing for names already canonical. A million orders
/// take 75 to 130 ms in a release build here, beside 1.5 to 2.3 s to load them; only a
/// directory that needs renaming is planned (which copies every row).
fn every_name_is_canonical(db: &Db) -> bool {
    let user = |name: &str| match name.is_ascii() {
        true => !name.bytes().any(|b| b.is_ascii_uppercase()),
        false => names::user_name(name) == name,
    };
    let nfc = |text: &str| text.is_ascii() || matches!(names::nfc(text), Cow::Borrowed(_));
    let account = |side: &Option<Account>| side.as_ref().is_none_or(|a| user(&a.name));
    // Lock order: users, products, wallets, orders, transfers, files (one at a time).
    db.users.read().values().all(|u| user(&u.name))
        && db.products.read().values().all(|p| nfc(&p.name))
        && db.wallets.read().values().all(|w| user(&w.user))
        && (db.orders.read().values()).all(|o| user(&o.user) && nfc(&o.product))
        && db.transfers.read().values().all(|line| {
            let reference = match (line.kind, &line.reference) {
                (Kind::Deposit, Some(admin)) => user(admin),
                _ => true,
            };
            account(&line.from) && account(&line.to) && reference
        })
        && (db.files.read().values()).all(|f| user(&f.user) && nfc(&f.file_name))
}

/// Every table's new rows (`None`: nothing in it changes), and what people are told.
#[derive(Default)]
struct Plan {
    users: Option<Vec<User>>,
    products: Option<Vec<Product>>,
    wallets: Option<Vec<Wallet>>,
    orders: Option<Vec<Order>>,
    ledger: Option<Vec<LedgerEntry>>,
    files: Option<Vec<SharedFile>>,
    /// The files that change (`users.csv`, ...).
    changed: Vec<String>,
    /// Each account, product and file renamed, for the log.
    renamed: Vec<String>,
    /// Each rename that would need a guess, with how to fix it.
    conflicts: Vec<String>,
}

impl Plan {
    fn of(db: &Db) -> Plan {
        let mut plan = Plan::default();
        // Lock order: users, products, wallets, orders, transfers, files (one at a time).
        let new_names: HashMap<AccountId, String> = db
            .users
            .read()
            .values()
            .map(|user| (user.id, names::user_name(&user.name)))
            .collect();
        let name_of = |account: &Account| match new_names.get(&account.id) {
            Some(name) => name.clone(),
            // A deleted account (its history only): its own name's canonical form.
            None => names::user_name(&account.name),
        };
        plan.users = plan.rename(&db.users, |user| User {
            name: names::user_name(&user.name),
            ..user.clone()
        });
        plan.look_alikes(db);
        let accounts_agree = plan.conflicts.is_empty();
        plan.products = plan.rename(&db.products, |product| Product {
            name: names::nfc(&product.name).into_owned(),
            ..product.clone()
        });
        let told = plan.conflicts.len();
        plan.wallets = plan.rename(&db.wallets, |wallet| Wallet {
            user: name_of(&Account::new(wallet.account, &wallet.user)),
            ..wallet.clone()
        });
        plan.orders = plan.rename(&db.orders, |order| Order {
            user: name_of(&Account::new(order.account, &order.user)),
            product: names::nfc(&order.product).into_owned(),
            ..order.clone()
        });
        plan.ledger = plan.rename(&db.transfers, |line| LedgerEntry {
            from: line.from.as_ref().map(|a| Account::new(a.id, &name_of(a))),
            to: line.to.as_ref().map(|a| Account::new(a.id, &name_of(a))),
            reference: match (line.kind, &line.reference) {
                (Kind::Deposit, Some(admin)) => Some(names::user_name(admin)),
                (_, reference) => reference.clone(),
            },
            ..line.clone()
        });
        plan.files = plan.rename_files(db);
        // Two accounts that get one name give their wallets and files one name too:
        // the tables that follow the accounts are told about once the accounts agree.
        if !accounts_agree {
            plan.conflicts.truncate(told);
        }
        plan
    }

    /// `table`'s rows with `rename` applied, or `None` if none changes. Two rows that
    /// would get one key are a conflict.
    fn rename<R: Row>(
        &mut self,
        table: &Table<R>,
        mut rename: impl FnMut(&R) -> R,
    ) -> Option<Vec<R>> {
        let rows = table.read();
        let mut renamed: BTreeMap<R::Key, (&R, R)> = BTreeMap::new();
        let mut changed = false;
        for old in rows.values() {
            let new = rename(old);
            if new != *old {
                changed = true;
                if R::LOGGED {
                    self.renamed
                        .push(format!("{} to {:?}", old.describe(), new.key().to_string()));
                }
            }
            match renamed.entry(new.key()) {
                Entry::Vacant(entry) => {
                    entry.insert((old, new));
                }
                Entry::Occupied(entry) => self.conflicts.push(format!(
                    "- {}.csv: {} and {} would both be {:?}: {}",
                    R::TABLE,
                    entry.get().0.describe(),
                    old.describe(),
                    entry.key().to_string(),
                    R::FIX
                )),
            }
        }
        if !changed {
            return None;
        }
        self.changed.push(format!("{}.csv", R::TABLE));
        Some(renamed.into_values().map(|(_, new)| new).collect())
    }

    /// A renamed account that would look like another account is a conflict: REGISTER
    /// refuses such a name ([`crate::accounts::look_alikes`]), and renaming must not let in
    /// what registering keeps out.
    fn look_alikes(&mut self, db: &Db) {
        let users = db.users.read();
        let mut by_skeleton: BTreeMap<String, Vec<(&User, String)>> = BTreeMap::new();
        for user in users.values() {
            let new = names::user_name(&user.name);
            by_skeleton
                .entry(names::skeleton(&new))
                .or_default()
                .push((user, new));
        }
        // Each pair once. Two names that both stay were let in before; two that become
        // one name are a conflict of their own (see `rename`).
        let as_renamed = |user: &User, new: &str| match user.name == new {
            true => user.describe(),
            false => format!("{} (renamed {new:?})", user.describe()),
        };
        for alike in by_skeleton.values() {
            for (i, (user, new)) in alike.iter().enumerate() {
                for (other, other_new) in &alike[i + 1..] {
                    let renamed = user.name != *new || other.name != *other_new;
                    if renamed && new != other_new {
                        self.conflicts.push(format!(
                            "- users.csv: {} would look like {}: {RENAME_AN_ACCOUNT}",
                            as_renamed(user, new),
                            as_renamed(other, other_new)
                        ));
                    }
                }
            }
        }
    }

    /// The files table: owners by their exact name, file names in NFC. A file whose
    /// owner's name is not canonical and is no account's is a conflict: its canonical
    /// form might be another person's account.
    fn rename_files(&mut self, db: &Db) -> Option<Vec<SharedFile>> {
        let accounts: BTreeSet<String> = db.users.read().keys().cloned().collect();
        let mut orphans = BTreeSet::new();
        let files = self.rename(&db.files, |file| {
            let user = names::user_name(&file.user);
            if user != file.user && !accounts.contains(&file.user) {
                orphans.insert(file.user.clone());
            }
            SharedFile {
                user,
                file_name: names::nfc(&file.file_name).into_owned(),
                ..file.clone()
            }
        });
        for owner in orphans {
            self.conflicts.push(format!(
                "- files.csv: the files of {owner:?}, but no account has that name: change \
                 their `user` to their owner's name, or delete those rows"
            ));
        }
        files
    }
}

/// What the renaming needs to know of a table's rows, for its messages.
trait Row: Record + Clone + PartialEq {
    /// Whether each rename is logged: not for the rows that only follow an account
    /// (wallets, orders, ledger lines), whose account's rename is.
    const LOGGED: bool;
    /// How to fix two rows that would get one name.
    const FIX: &'static str;
    /// The row, in a message: `account 3 "Alice"`, `the product "Maçã"`.
    fn describe(&self) -> String;
}

impl Row for User {
    const LOGGED: bool = true;
    const FIX: &'static str = RENAME_AN_ACCOUNT;
    fn describe(&self) -> String {
        format!("account {} {:?}", self.id, self.name)
    }
}

impl Row for Product {
    const LOGGED: bool = true;
    const FIX: &'static str =
        "keep one of them in products.csv (with the other's stock added), or rename one";
    fn describe(&self) -> String {
        format!("the product {:?}", self.name)
    }
}

impl Row for SharedFile {
    const LOGGED: bool = true;
    const FIX: &'static str = "delete one of the two rows in files.csv";
    fn describe(&self) -> String {
        format!("{:?}'s file {:?}", self.user, self.file_name)
    }
}

impl Row for Wallet {
    const LOGGED: bool = false;
    const FIX: &'static str = "rename or delete the row of a wallet whose account no longer exists";
    fn describe(&self) -> String {
        format!("the wallet {:?} of account {}", self.user, self.account)
    }
}

// Orders and ledger lines are keyed by their ids, which no rename changes.
impl Row for Order {
    const LOGGED: bool = false;
    const FIX: &'static str = "";
    fn describe(&self) -> String {
        format!("order {}", self.id)
    }
}

impl Row for LedgerEntry {
    const LOGGED: bool = false;
    const FIX: &'static str = "";
    fn describe(&self) -> String {
        format!("ledger line {}", self.id)
    }
}

/// Replaces `R`'s snapshot in `dir` with these rows, if there are new rows.
fn write<R: Record>(dir: &Path, rows: &Option<Vec<R>>) -> Result<()> {
    let Some(rows) = rows else {
        return Ok(());
    };
    snapshot::write_atomic(dir, R::TABLE, R::COLUMNS, |snapshot| {
        for row in rows {
            snapshot.row(|fields| row.write_fields(fields))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests;
