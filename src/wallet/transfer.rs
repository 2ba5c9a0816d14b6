//! TRANSFER and DEPOSIT: each one critical section and one journal line.
//!
//! Why the check and the spend are one step: seed 001's client asked the server for
//! its balance, decided locally that it could pay, and then sent the payment. Between
//! the two messages another payment could spend the same money, and both would go
//! through: a balance of 100 pays out 150. Here the balance is read, compared and
//! changed while the `wallets` write lock is held, so no other thread can change it
//! in between; the debit, the credit and the ledger line are staged together and
//! written as *one* journal line, so a crash keeps all three or none.
//!
//! Why the session, not a key, names the payer: seed 001's server believed the key
//! the sender claimed as its own, so anyone could spend anyone's money by claiming
//! their key. Here the payer is the logged-in account; a pay key only says who is
//! *paid*, which is why handing it out is safe. The payer is an account *identity*,
//! checked against the wallet's row under the `wallets` lock: a session whose account
//! was deleted cannot spend from a new account that took the same name, even one
//! registered between the session's check and this lock.
//!
//! The durability of the reply is the connection's job: it waits for the journal's
//! fsync (shared with every other request written meanwhile, group commit) before it
//! answers, and holds no lock while it waits.

use super::ledger;
use super::{credit, debit, keys, own_wallet};
use crate::clock::now_rfc3339;
use crate::db::Db;
use crate::db::schema::{Account, Kind, LedgerEntry, Wallet};
use crate::protocol::{Cents, ErrorCode, PayKey, Refusal};

/// What the payer (or the admin) is told about a movement that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The ledger line's id.
    pub id: u64,
    /// The wallet credited.
    pub to: String,
    pub amount: Cents,
    /// The payer's balance after a transfer; the credited wallet's after a deposit.
    pub balance_after: Cents,
}

impl Receipt {
    /// The receipt as a data line: ledger id, wallet credited, amount, balance after.
    pub fn to_row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.to.clone(),
            self.amount.to_string(),
            self.balance_after.to_string(),
        ]
    }
}

fn positive(amount: Cents) -> Result<(), Refusal> {
    if amount.0 <= 0 {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("an amount must be above 0, not {amount}"),
        ));
    }
    Ok(())
}

/// Moves `amount` from `payer`'s wallet to the wallet holding `key`.
///
/// Refusals change nothing: BAD_REQUEST (amount not above 0), AUTH_REQUIRED (the
/// payer's account no longer exists), NOT_FOUND (no live wallet has the key, for
/// example because it was rotated away), CONFLICT (the key is the payer's own, or the
/// payee's balance would pass [`super::MAX_BALANCE`]), INSUFFICIENT_FUNDS.
pub fn send(db: &Db, payer: &Account, key: &PayKey, amount: Cents) -> Result<Receipt, Refusal> {
    positive(amount)?;
    // Lock order (docs/ARCHITECTURE.md): wallets, then transfers. Everything
    // from here to the commit is one critical section: the balances checked are the
    // balances changed, and the wallet debited is the payer's own (its account id).
    let mut wallets = db.wallets.write();
    let from = own_wallet(&wallets, payer)?.clone();
    let to = keys::holder(&wallets, key).cloned().ok_or_else(|| {
        Refusal::new(
            ErrorCode::NotFound,
            format!(
                "no wallet has the pay key {key}: keys change every few minutes, ask its owner for a fresh one (PAYKEY)"
            ),
        )
    })?;
    if to.user == from.user {
        return Err(Refusal::new(
            ErrorCode::Conflict,
            "that is your own pay key: a transfer to yourself would change nothing",
        ));
    }
    let from_balance = debit(from.balance, amount)?;
    let to_balance = credit(&to.user, to.balance, amount)?;
    // Only now, with every check passed, is the ledger needed.
    let mut ledger = db.transfers.write();
    let id = ledger::next_id(&ledger);
    ledger.stage_put(LedgerEntry {
        id,
        time: now_rfc3339(),
        kind: Kind::Transfer,
        from: Some(from.owner()),
        to: Some(to.owner()),
        amount,
        from_balance: Some(from_balance),
        to_balance: Some(to_balance),
        reference: None,
    });
    let payee = to.user.clone();
    wallets.stage_put(Wallet {
        balance: from_balance,
        ..from
    });
    wallets.stage_put(Wallet {
        balance: to_balance,
        ..to
    });
    db.journal
        .commit(&mut [&mut wallets, &mut ledger])
        .map_err(Refusal::internal)?;
    Ok(Receipt {
        id,
        to: payee,
        amount,
        balance_after: from_balance,
    })
}

/// Adds `amount` to `user`'s wallet (admin only; the session checks the role), with a
/// `deposit` ledger line naming the admin. Money enters the system only this way and
/// through the initial balance of a new wallet.
pub fn deposit(db: &Db, admin: &str, user: &str, amount: Cents) -> Result<Receipt, Refusal> {
    positive(amount)?;
    // Lock order: wallets, then transfers.
    let mut wallets = db.wallets.write();
    let mut wallet = wallets.get(user).cloned().ok_or_else(|| {
        Refusal::new(
            ErrorCode::NotFound,
            format!("no user named {user:?} has a wallet"),
        )
    })?;
    wallet.balance = credit(user, wallet.balance, amount)?;
    let mut ledger = db.transfers.write();
    let id = ledger::next_id(&ledger);
    ledger.stage_put(LedgerEntry {
        id,
        time: now_rfc3339(),
        kind: Kind::Deposit,
        from: None,
        to: Some(wallet.owner()),
        amount,
        from_balance: None,
        to_balance: Some(wallet.balance),
        reference: Some(admin.to_string()),
    });
    let balance_after = wallet.balance;
    wallets.stage_put(wallet);
    db.journal
        .commit(&mut [&mut wallets, &mut ledger])
        .map_err(Refusal::internal)?;
    Ok(Receipt {
        id,
        to: user.to_string(),
        amount,
        balance_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::{Account, AccountId};
    use crate::wallet::testing::{account_of, db_with, key_of};
    use crate::wallet::{MAX_BALANCE, balance, check};

    /// Everything a refusal must leave alone.
    fn state(db: &Db) -> (Vec<Wallet>, usize) {
        let wallets = db.wallets.read().values().cloned().collect();
        (wallets, db.transfers.read().len())
    }

    #[test]
    fn a_transfer_moves_money_and_writes_one_ledger_line() {
        let (_dir, db) = db_with(&["ana", "bia"], Cents(10_000));
        let receipt = send(
            &db,
            &account_of(&db, "ana"),
            &key_of(&db, "bia"),
            Cents(2550),
        )
        .unwrap();
        assert_eq!(receipt.to, "bia");
        assert_eq!(receipt.balance_after, Cents(7450));
        assert_eq!(balance(&db, &account_of(&db, "ana")), Ok(Cents(7450)));
        assert_eq!(balance(&db, &account_of(&db, "bia")), Ok(Cents(12_550)));
        let ledger = db.transfers.read();
        let line = &ledger[&receipt.id];
        assert_eq!(line.kind, Kind::Transfer);
        assert_eq!(line.from_balance, Some(Cents(7450)));
        assert_eq!(line.to_balance, Some(Cents(12_550)));
        drop(ledger);
        assert!(check::check(&db).is_ok());
    }

    #[test]
    fn every_refusal_changes_nothing() {
        let (_dir, db) = db_with(&["ana", "bia"], Cents(10_000));
        let bia = key_of(&db, "bia");
        let before = state(&db);
        let unknown = crate::wallet::keys::random_key().unwrap();
        let (ana, bia_account) = (account_of(&db, "ana"), account_of(&db, "bia"));
        let gone = Account::new(AccountId(99), "gone");
        for (payer, key, amount, code) in [
            (&ana, bia, Cents(10_001), ErrorCode::InsufficientFunds),
            (&ana, bia, Cents(0), ErrorCode::BadRequest),
            (&ana, bia, Cents(-1), ErrorCode::BadRequest),
            (&ana, unknown, Cents(1), ErrorCode::NotFound),
            (&bia_account, bia, Cents(1), ErrorCode::Conflict),
            (&gone, bia, Cents(1), ErrorCode::AuthRequired),
        ] {
            let refusal = send(&db, payer, &key, amount).unwrap_err();
            let payer = &payer.name;
            assert_eq!(refusal.code, code, "{payer} {amount}: {refusal}");
            assert_eq!(state(&db), before, "{payer} {amount}");
        }
        // The payee's balance may not pass the maximum either.
        deposit(
            &db,
            "root",
            "bia",
            MAX_BALANCE.checked_sub(Cents(10_000)).unwrap(),
        )
        .unwrap();
        let before = state(&db);
        let refusal = send(&db, &account_of(&db, "ana"), &bia, Cents(1)).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::Conflict);
        assert_eq!(state(&db), before);
        assert!(check::check(&db).is_ok());
    }

    /// The race a session's check cannot close by itself: between the check and the
    /// `wallets` lock, the account is deleted and its name registered again. Every money
    /// function, given the old account, refuses under the lock and changes nothing.
    #[test]
    fn a_deleted_accounts_session_cannot_touch_the_new_account_of_its_name() {
        use crate::shop::{catalog, orders};
        use crate::wallet::testing::{add_account, remove_account};
        let (_dir, db) = db_with(&["ana", "bia"], Cents(0));
        catalog::add(&db, "Caju", Cents(100), 10).unwrap();
        let old = account_of(&db, "ana");
        remove_account(&db, "ana");
        let new = add_account(&db, "ana", &crate::wallet::WalletPolicy::default());
        let before = state(&db);
        let gone = |refusal: Refusal| assert_eq!(refusal.code, ErrorCode::AuthRequired);
        gone(send(&db, &old, &key_of(&db, "bia"), Cents(1)).unwrap_err());
        gone(orders::place(&db, &old, "Caju", 1).unwrap_err());
        gone(balance(&db, &old).unwrap_err());
        gone(crate::wallet::pay_key(&db, &old).unwrap_err());
        assert_eq!(state(&db), before);
        assert_eq!(db.products.read()["Caju"].stock, 10);
        // The new account, of course, can.
        send(&db, &new, &key_of(&db, "bia"), Cents(1)).unwrap();
        assert!(check::check(&db).is_ok());
    }

    #[test]
    fn a_failed_journal_write_changes_nothing() {
        let (_dir, db) = db_with(&["ana", "bia"], Cents(10_000));
        let before = state(&db);
        db.journal.fail_next_writes(1);
        let refusal =
            send(&db, &account_of(&db, "ana"), &key_of(&db, "bia"), Cents(1)).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::Internal);
        assert_eq!(state(&db), before);
        db.journal.fail_next_writes(1);
        assert_eq!(
            deposit(&db, "root", "ana", Cents(1)).unwrap_err().code,
            ErrorCode::Internal
        );
        assert_eq!(state(&db), before);
    }

    #[test]
    fn a_deposit_is_recorded_with_its_admin() {
        let (_dir, db) = db_with(&["ana"], Cents(0));
        let receipt = deposit(&db, "root", "ana", Cents(1)).unwrap();
        assert_eq!(receipt.balance_after, Cents(1));
        let line = db.transfers.read()[&receipt.id].clone();
        assert_eq!(line.kind, Kind::Deposit);
        assert_eq!(line.reference.as_deref(), Some("root"));
        assert_eq!(
            deposit(&db, "root", "nobody", Cents(1)).unwrap_err().code,
            ErrorCode::NotFound
        );
        assert!(check::check(&db).is_ok());
    }

    #[test]
    fn concurrent_transfers_conserve_money_and_never_overdraw() {
        let names: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_dir, db) = db_with(&refs, Cents(1000));
        let db = std::sync::Arc::new(db);
        let keys: Vec<PayKey> = refs.iter().map(|n| key_of(&db, n)).collect();
        let payers: Vec<Account> = refs.iter().map(|n| account_of(&db, n)).collect();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (db, names, keys) = (db.clone(), payers.clone(), keys.clone());
                std::thread::spawn(move || {
                    let mut acked = 0;
                    for i in 0..300usize {
                        let from = &names[(t * 7 + i) % 10];
                        let to = &keys[(t * 3 + i * 7) % 10];
                        let amount = Cents(((t * 131 + i * 17) % 700 + 1) as i64);
                        if send(&db, from, to, amount).is_ok() {
                            acked += 1;
                        }
                    }
                    acked
                })
            })
            .collect();
        let acked: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(acked > 0);
        let report = check::check(&db).unwrap();
        assert_eq!(report.balances, 10 * 1000);
        assert_eq!(db.transfers.read().len(), 10 + acked);
        assert!(db.wallets.read().values().all(|w| w.balance.0 >= 0));
    }
}
