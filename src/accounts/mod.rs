//! Accounts (seeds 003 and 004): registration, login, deletion, and how the server
//! keeps a flood of password guesses from starving everyone else.
//!
//! Why the slow work happens outside the lock: hashing a password takes ~25 ms. Doing it
//! while holding the `users` lock would make every other login wait in line. So
//! REGISTER hashes first and locks only to insert; LOGIN copies the stored hash out
//! under a read lock, releases it, and then verifies.
//!
//! An account and its wallet are born and die together: REGISTER writes the
//! user row, the wallet and its `initial` ledger line in one journal transaction, and
//! UNREGISTER deletes the user and closes the (empty) wallet in one. REGISTER also gives
//! the account its id, which is never given again ([`crate::db::identity`]). Since an
//! account opens a wallet and withdraws its published files when it goes, accounts sit
//! above the wallets (`crate::wallet`) and the sharing service (`crate::sharing`).
//!
//! - this file: user names, REGISTER, LOGIN ([`authenticate`]), UNREGISTER;
//! - [`password`]: argon2id hashing and the gate that bounds its memory;
//! - [`fair_queue`]: the gate's queue: in order, and fair between client addresses;
//! - [`look_alikes`]: one script per user name, and no look-alike of an existing one;
//! - [`throttle`]: who may try a password or register now, and who is refused at once;
//! - [`token_bucket`]: how the throttle counts: a burst, then one more per interval.
//!
//! The row (`User`) is in the database's schema (src/db/schema/users.rs).

pub mod fair_queue;
pub mod look_alikes;
pub mod password;
pub mod throttle;
pub mod token_bucket;

use std::net::IpAddr;

use crate::clock::now_rfc3339;
use crate::db::Db;
use crate::db::identity;
use crate::db::schema::{Account, Role, User};
use crate::protocol::{ErrorCode, Refusal, names};
use crate::sharing::files;
use crate::storage::Ticket;
use crate::wallet::{self, WalletPolicy};

/// The shortest password REGISTER accepts.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password accepted (argon2 is fine with more; people are not).
pub const MAX_PASSWORD_LEN: usize = 128;
/// The longest user name.
pub const MAX_USER_LEN: usize = 32;

/// Checks a user name: 1 to 32 letters, digits, `_`, `-` or `.` (any script: `joão` is
/// fine, but one script per name: see [`look_alikes`]), not starting with `-` (a
/// spreadsheet would take `-1` for a formula), and in its canonical form
/// ([`names::user_name`]; `Request::parse` writes every user name so).
pub fn check_user_name(name: &str) -> Result<(), Refusal> {
    let length = name.chars().count();
    let valid_chars = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if length == 0 || length > MAX_USER_LEN || !valid_chars {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("a user name has 1 to {MAX_USER_LEN} letters, digits, '_', '-' or '.'"),
        ));
    }
    names::refuse_formula("user", name)?;
    if names::user_name(name) != name {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("{name:?} is not a canonical user name (lower case, NFKC)"),
        ));
    }
    look_alikes::check_script(name)
}

/// Creates a customer account and its wallet. Hashing happens before any lock is taken.
pub fn register(
    db: &Db,
    gate: &password::HashGate,
    name: &str,
    password: &str,
    policy: &WalletPolicy,
) -> Result<Ticket, Refusal> {
    check_user_name(name)?;
    let length = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("a password has {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"),
        ));
    }
    // Cheap early answer for a taken name, before spending 25 ms on a hash.
    if db.users.read().contains_key(name) {
        return Err(taken(name));
    }
    look_alikes::refuse(name, db.users.read().values().map(|u| u.name.as_str()))?;
    let password_hash = gate
        .hash(password)
        .map_err(|e| Refusal::internal(crate::Error::Other(e)))?;
    let mut users = db.users.write();
    // Checked again under the write lock: another connection may have taken the name
    // while we were hashing. This check and the insert are one critical section.
    if users.contains_key(name) {
        return Err(taken(name));
    }
    look_alikes::refuse(name, users.values().map(|u| u.name.as_str()))?;
    // A new identity, even if the name belonged to a deleted account before.
    let user = User {
        id: db.account_ids.next(),
        name: name.to_string(),
        role: Role::Customer,
        password_hash,
        created_at: now_rfc3339(),
    };
    // Lock order (docs/ARCHITECTURE.md): users, wallets, transfers. The wallet
    // is staged first because it can be refused (no fresh key); then nothing is staged.
    let mut wallets = db.wallets.write();
    let mut ledger = db.transfers.write();
    wallet::stage_open(&mut wallets, &mut ledger, &user.account(), policy)?;
    users.stage_put(user);
    db.journal
        .commit(&mut [&mut users, &mut wallets, &mut ledger])
        .map_err(Refusal::internal)
}

fn taken(name: &str) -> Refusal {
    Refusal::new(
        ErrorCode::Conflict,
        format!("the user name {name:?} is taken"),
    )
}

/// Checks a user's password. Unknown user and wrong password get the same answer,
/// and take the same time.
pub fn authenticate(
    db: &Db,
    gate: &password::HashGate,
    name: &str,
    password: &str,
) -> Result<User, Refusal> {
    // Copy what we need and let the lock go before the slow verification.
    let user = db.users.read().get(name).cloned();
    let stored_hash = user
        .as_ref()
        .map_or(password::DUMMY_HASH, |u| u.password_hash.as_str());
    let matches = gate.verify(password, stored_hash);
    match user {
        Some(user) if matches => Ok(user),
        _ => Err(Refusal::new(
            ErrorCode::AuthFailed,
            "unknown user or wrong password",
        )),
    }
}

/// A login, as both doors make it (LOGIN on a socket, `Login` over gRPC): refused at
/// once over the throttle's limits (THROTTLED, before any hashing), else the password
/// checked through the hash gate ([`authenticate`]); the throttle learns how it went,
/// so failures count against the name and the address whichever door they came through.
pub fn log_in(
    db: &Db,
    gate: &password::HashGate,
    throttle: &throttle::Throttle,
    name: &str,
    password: &str,
    from: IpAddr,
) -> Result<User, Refusal> {
    let attempt = throttle.admit_login(gate, name, from)?;
    let result = authenticate(db, gate, name, password);
    if result.is_ok() {
        // A correct password gives its tokens back and forgives this name's earlier
        // failures from this address.
        attempt.succeeded();
    }
    // Otherwise dropping the attempt counts the failure.
    result
}

/// Deletes an account after checking its password again. Its wallet must be empty:
/// money is never destroyed (CONFLICT otherwise, and nothing changes). The wallet is
/// closed and the account's published files are withdrawn in the same transaction.
/// Returns how many files were withdrawn.
pub fn unregister(
    db: &Db,
    gate: &password::HashGate,
    account: &Account,
    password: &str,
) -> Result<usize, Refusal> {
    let name = account.name.as_str();
    authenticate(db, gate, name, password)?;
    let mut users = db.users.write();
    // Under the write lock: the account (this identity, not just the name) is still
    // there. Another session may have deleted it meanwhile, and someone else may even
    // have registered the name again.
    identity::own_account(&users, account)?;
    // Lock order: users, wallets, transfers, files. The balance checked is the balance
    // closed: no transfer can arrive in between. The account, its wallet and its
    // published files go in one journal line: a crash leaves all of them or none.
    let mut wallets = db.wallets.write();
    let mut ledger = db.transfers.write();
    wallet::stage_close(&mut wallets, &mut ledger, account)?;
    let mut files = db.files.write();
    let withdrawn = files::stage_delete_all_of(&mut files, name);
    users.stage_delete(name.to_string());
    db.journal
        .commit(&mut [&mut users, &mut wallets, &mut ledger, &mut files])
        .map_err(Refusal::internal)?;
    Ok(withdrawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for good in ["alice", "joão", "a", "x_y-z.1", "李", "дмитрий", "a-"] {
            assert!(check_user_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a b",
            "a,b",
            "a\"b",
            "a\nb",
            &"x".repeat(33),
            "-1",
            "Alice",
            "\u{ff41}dmin",
            "\u{430}lice",
        ] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
    }
}
