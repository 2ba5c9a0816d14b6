//! Data directories from before account ids: given ids once, at start-up.
//!
//! Until accounts had ids (src/db/identity.rs), `users.csv`, `wallets.csv`,
//! `orders.csv` and the ledger named accounts by name only. A class may have such a
//! `state/`; rather than make it start again from the demo data, [`Db::open`] migrates
//! it before loading anything:
//!
//! - the live accounts get ids 1, 2, 3, ... in the order of `users.csv`;
//! - a deleted account gets an id of its own too: walking the ledger in order, each
//!   `initial` line opens a new account under its name, so a name registered twice is
//!   two accounts (the last one of a live name is the live account);
//! - an order belongs to the account that paid for it (its `order` ledger line), or,
//!   for an order from before wallets, to the account its name had last.
//!
//! Before changing anything the old files are copied to `before-account-ids/`, and the
//! tables are then rewritten from that copy, so a crash half-way simply migrates again
//! at the next start. The journal must hold no lines (a server stopped cleanly leaves
//! it so, since shutdown checkpoints): its lines are in the old format, and the server
//! refuses to start, saying so, rather than guess.
//!
//! [`Db::open`]: super::Db::open

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead};
use std::path::Path;

use crate::db::schema::LedgerEntry;
use crate::db::schema::Order;
use crate::db::schema::User;
use crate::db::schema::Wallet;
use crate::error::{Error, Result};
use crate::storage::{Record, snapshot};

/// Where the old files are kept.
pub const BACKUP: &str = "before-account-ids";

/// Each migrated table and its columns before account ids.
const OLD: [(&str, &[&str]); 4] = [
    ("users", &["name", "role", "password_hash", "created_at"]),
    ("wallets", &["user", "balance", "pay_key", "key_expires_at"]),
    (
        "orders",
        &[
            "id",
            "user",
            "product",
            "quantity",
            "unit_price",
            "total",
            "created_at",
        ],
    ),
    (
        "transfers",
        &[
            "id",
            "time",
            "kind",
            "from",
            "to",
            "amount",
            "from_balance",
            "to_balance",
            "reference",
        ],
    ),
];

/// The rows of one old table, each a vector of fields.
type Rows = Vec<Vec<String>>;

/// Migrates `dir` if any of its tables is in the old format. `journal_lines` is how
/// many lines the journal holds.
pub fn account_ids(dir: &Path, journal_lines: usize) -> Result<()> {
    // The old format is told by its header alone: exactly the columns of `OLD`, with
    // no account id among them.
    let mut old = false;
    for (table, columns) in OLD {
        old |= has_header(&snapshot::path(dir, table), columns)?;
    }
    // The common case, every start after the first: nothing to do.
    if !old {
        return Ok(());
    }
    // Journal lines name accounts by name only, in the old columns: replaying them
    // over migrated tables would guess. Better to refuse and say what to do.
    if journal_lines > 0 {
        return Err(Error::Other(format!(
            "{}: the tables are in the format of before account ids, and the journal still holds {journal_lines} changes (the server was not stopped cleanly), which cannot be migrated. Start again from the demo data (`make reset-state`), or stop the older server cleanly first",
            dir.display()
        )));
    }
    let backup = dir.join(BACKUP);
    let note = "The tables of this data directory as they were before feira gave accounts ids.\nThe server no longer reads them; delete this folder when you like.\n";
    // The copy first, durably: whatever happens next, the old tables can be had back.
    keep_a_copy(dir, &backup, &OLD.map(|(table, _)| table), note)?;
    // Read from the copy, not from `dir`: after a crash half-way through the writes
    // below, `dir` holds some new tables, the copy only old ones.
    let [users, wallets, orders, ledger] =
        OLD.map(|(table, columns)| read(&backup, table, columns));
    let (users, wallets, orders, ledger) = (users?, wallets?, orders?, ledger?);
    // Pure: ids given in memory, from the ledger's history (see `give_ids`).
    let new = give_ids(users, wallets, orders, ledger);
    // users.csv last: until it is written, the next start migrates again.
    write::<Wallet>(dir, &new.wallets)?;
    write::<Order>(dir, &new.orders)?;
    write::<LedgerEntry>(dir, &new.ledger)?;
    write::<User>(dir, &new.users)?;
    // At WARN: an operator should know that the data directory was rewritten, and
    // where the old files are.
    log::warn!(
        "{}: gave account ids to the tables of an older version ({} accounts, {} of them deleted); the old files are kept in {}",
        dir.display(),
        new.users.len(),
        new.deleted,
        backup.display()
    );
    Ok(())
}

/// Does the file start with this header? (A missing file does not.)
fn has_header(path: &Path, columns: &[&str]) -> Result<bool> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        // A table never written (a fresh directory) is in no format: nothing to do.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, e)),
    };
    // Only the first line is read: the tables may be large.
    let mut first = String::new();
    io::BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| Error::io(path, e))?;
    // A file saved on Windows may end its lines with `\r\n`.
    Ok(first.trim_end_matches(['\r', '\n']) == columns.join(","))
}

/// Copies these tables' snapshots from `dir` into `backup` once, durably. `note` is
/// written last, as `README.txt`, and so says that the copy is whole: a whole copy is
/// kept as it is (after a crash half-way, it still holds the tables from before).
pub(super) fn keep_a_copy(dir: &Path, backup: &Path, tables: &[&str], note: &str) -> Result<()> {
    // The note is the mark of a whole copy: with it, the copy is never overwritten
    // (the tables in `dir` may already be the new ones).
    let done = backup.join("README.txt");
    if done.exists() {
        return Ok(());
    }
    fs::create_dir_all(backup).map_err(|e| Error::io(backup, e))?;
    for table in tables {
        let from = snapshot::path(dir, table);
        let to = snapshot::path(backup, table);
        // A table the directory never had has nothing to keep.
        if from.exists() {
            fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
            // Each copy on disk before the note says the copy is whole.
            fs::File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&to, e))?;
        }
    }
    // The note, its data, then the folder's entries: only then is the copy whole.
    fs::write(&done, note)
        .and_then(|()| fs::File::open(&done)?.sync_all())
        .and_then(|()| snapshot::sync_dir(backup))
        .map_err(|e| Error::io(&done, e))
}

fn read(dir: &Path, table: &str, columns: &[&str]) -> Result<Rows> {
    let rows = snapshot::read(&snapshot::path(dir, table), columns)?;
    Ok(rows.rows.into_iter().map(|(_, fields)| fields).collect())
}

/// The four tables with their new columns.
struct Migrated {
    users: Rows,
    wallets: Rows,
    orders: Rows,
    ledger: Rows,
    /// How many deleted accounts were found in the ledger.
    deleted: u64,
}

/// Who had which name when: the ids given so far.
struct Ids {
    /// The live accounts: 1, 2, 3, ... in the order of users.csv.
    live: HashMap<String, u64>,
    /// The account each name belongs to at this point of the ledger walk.
    current: HashMap<String, u64>,
    /// The last id given.
    last: u64,
}

impl Ids {
    /// An id not given before.
    fn fresh(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// The account `name` belongs to now (a name the ledger never opened: its live
    /// account, or a new id).
    fn of(&mut self, name: &str) -> u64 {
        if let Some(id) = self.current.get(name).or(self.live.get(name)) {
            return *id;
        }
        let id = self.fresh();
        self.current.insert(name.to_string(), id);
        id
    }

    /// One side of a ledger line: the account's id, or empty for an empty name.
    fn side(&mut self, name: &str) -> String {
        match name {
            "" => String::new(),
            name => self.of(name).to_string(),
        }
    }
}

fn give_ids(users: Rows, mut wallets: Rows, mut orders: Rows, mut ledger: Rows) -> Migrated {
    let live: HashMap<String, u64> = (1..)
        .zip(&users)
        .map(|(id, u)| (u[0].clone(), id))
        .collect();
    let mut ids = Ids {
        last: live.len() as u64,
        live,
        current: HashMap::new(),
    };
    // Old ledger columns: id,time,kind,from,to,amount,from_balance,to_balance,reference.
    // The index of each name's last `initial` line: that one opened the live account.
    let last_opening: HashMap<String, usize> = (0..)
        .zip(&ledger)
        .filter(|(_, line)| line[2] == "initial")
        .map(|(index, line)| (line[4].clone(), index))
        .collect();
    let mut paid_by: HashMap<String, String> = HashMap::new();
    for (index, line) in ledger.iter_mut().enumerate() {
        if line[2] == "initial" {
            let name = line[4].clone();
            let id = match ids.live.get(&name) {
                Some(id) if last_opening.get(&name) == Some(&index) => *id,
                _ => ids.fresh(),
            };
            ids.current.insert(name, id);
        }
        let (from, to) = (ids.side(&line[3]), ids.side(&line[4]));
        if line[2] == "order" {
            paid_by.insert(line[8].clone(), from.clone());
        }
        // New: ...,from,from_account,to,to_account,...
        line.insert(4, from);
        line.insert(6, to);
    }
    // Old orders: id,user,...; new: id,user,account,...
    for order in &mut orders {
        let id = match paid_by.get(&order[0]) {
            Some(id) => id.clone(),
            None => ids.of(&order[1]).to_string(),
        };
        order.insert(2, id);
    }
    // Old wallets: user,...; new: user,account,...
    for wallet in &mut wallets {
        let id = ids.of(&wallet[0]);
        wallet.insert(1, id.to_string());
    }
    let deleted = ids.last - ids.live.len() as u64;
    let users = users
        .into_iter()
        .zip(1u64..)
        .map(|(mut user, id)| {
            user.insert(0, id.to_string());
            user
        })
        .collect();
    Migrated {
        users,
        wallets,
        orders,
        ledger,
        deleted,
    }
}

/// Replaces `R`'s snapshot with these rows, in `R`'s new columns.
fn write<R: Record>(dir: &Path, rows: &Rows) -> Result<()> {
    snapshot::write_atomic(dir, R::TABLE, R::COLUMNS, |snapshot| {
        for row in rows {
            snapshot.row(|fields| {
                for field in row {
                    fields.text(field);
                }
            })?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Rows {
        lines
            .iter()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn a_name_registered_twice_is_two_accounts_and_orders_follow_their_payment() {
        let users = rows(&["ana,customer,h,t", "bia,customer,h,t"]);
        let wallets = rows(&["ana,1.00,K,t", "bia,2.00,K,t"]);
        let orders = rows(&[
            "1,bia,Caju,1,1.00,1.00,t",
            "2,bia,Caju,1,1.00,1.00,t",
            "3,ana,Caju,1,1.00,1.00,t",
        ]);
        let ledger = rows(&[
            "1,t,initial,,bia,1.00,,1.00,",
            "2,t,order,bia,,1.00,0.00,,1",
            "3,t,close,bia,,0.00,0.00,,",
            "4,t,initial,,ana,1.00,,1.00,",
            "5,t,initial,,bia,3.00,,3.00,",
            "6,t,order,bia,,1.00,2.00,,2",
        ]);
        let new = give_ids(users, wallets, orders, ledger);
        let ids = |rows: &Rows, at: usize| -> Vec<String> {
            rows.iter().map(|r| r[at].clone()).collect()
        };
        assert_eq!(ids(&new.users, 0), ["1", "2"]);
        assert_eq!(ids(&new.wallets, 1), ["1", "2"]);
        // The first bia is deleted: a third account. The second is the live one.
        assert_eq!(ids(&new.ledger, 4), ["", "3", "3", "", "", "2"]);
        assert_eq!(ids(&new.ledger, 6), ["3", "", "", "1", "2", ""]);
        // Order 1 was the first bia's, order 2 the second's; order 3 was never paid in
        // the ledger (from before wallets): its name's account.
        assert_eq!(ids(&new.orders, 2), ["3", "2", "1"]);
        assert_eq!(new.deleted, 1);
        assert!(
            new.ledger
                .iter()
                .all(|l| l.len() == LedgerEntry::COLUMNS.len())
        );
    }
}
