//! The renaming on data directories written by hand as an older version would have.

use std::path::Path;

use super::*;
use crate::db::schema::AccountId;
use crate::protocol::Cents;
use crate::wallet::check;

const T: &str = "2026-11-27T12:00:00Z";
/// `joão` and `Maçã` with combining marks (NFD), and the full-width `ＢＯＢ`.
const JOAO_NFD: &str = "Joa\u{303}o";
const MACA_NFD: &str = "Mac\u{327}a\u{303}";
const FERIAS_NFD: &str = "Fe\u{301}rias.jpg";
const BOB_WIDE: &str = "\u{ff22}\u{ff2f}\u{ff22}";

/// A users.csv row (every account with the same hash: nothing here logs in).
fn user(id: u64, name: &str) -> String {
    format!("{id},{name},customer,\"$argon2id$v=19$m=19456,t=2,p=1$x$y\",{T}\n")
}

/// An older version's tables: `Alice` (2) has had a deposit from `Admin` and bought a
/// decomposed `Maçã`; `ＢＯＢ` (3) was paid by `Dora` (5), since deleted; `Joa\u{303}o` (4)
/// is new; Alice published a file with a decomposed name. `extra_users` are added.
fn older_tables(extra_users: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tables = [
        (
            "users",
            format!(
                "id,name,role,password_hash,created_at\n{}{}{}{}{extra_users}",
                user(1, "admin").replace("customer", "admin"),
                user(2, "Alice"),
                user(3, BOB_WIDE),
                user(4, JOAO_NFD)
            ),
        ),
        (
            "wallets",
            format!(
                "user,account,balance,pay_key,key_expires_at\n\
                 admin,1,100.00,29FF-RGXW-HRWG-99C5,{T}\n\
                 Alice,2,187.50,AA6R-F7EG-QF5Q-XMYQ,{T}\n\
                 {BOB_WIDE},3,200.00,F0PV-XDEP-TE1B-JG4Z,{T}\n\
                 {JOAO_NFD},4,100.00,7KQ2-M9XD-4TRW-8BNP,{T}\n"
            ),
        ),
        (
            "products",
            format!("name,price,stock\nBanana,0.75,500\n{MACA_NFD},2.50,299\n"),
        ),
        (
            "orders",
            format!(
                "id,user,account,product,quantity,unit_price,total,created_at\n\
                 1,Alice,2,{MACA_NFD},1,2.50,2.50,{T}\n"
            ),
        ),
        (
            "transfers",
            format!(
                "id,time,kind,from,from_account,to,to_account,amount,from_balance,to_balance,reference\n\
                 1,{T},initial,,,admin,1,100.00,,100.00,\n\
                 2,{T},initial,,,Alice,2,100.00,,100.00,\n\
                 3,{T},initial,,,{BOB_WIDE},3,100.00,,100.00,\n\
                 4,{T},initial,,,{JOAO_NFD},4,100.00,,100.00,\n\
                 5,{T},initial,,,Dora,5,100.00,,100.00,\n\
                 6,{T},transfer,Dora,5,{BOB_WIDE},3,100.00,0.00,200.00,\n\
                 7,{T},close,Dora,5,,,0.00,0.00,,\n\
                 8,{T},deposit,,,Alice,2,90.00,,190.00,Admin\n\
                 9,{T},order,Alice,2,,,2.50,187.50,,1\n"
            ),
        ),
        (
            "files",
            format!("user,file_name,description,published_at\nAlice,{FERIAS_NFD},praia,{T}\n"),
        ),
    ];
    for (table, text) in tables {
        std::fs::write(snapshot::path(dir.path(), table), text).unwrap();
    }
    dir
}

/// Every table's file, as bytes.
fn tables(dir: &Path) -> Vec<Vec<u8>> {
    [
        "users",
        "wallets",
        "products",
        "orders",
        "transfers",
        "files",
    ]
    .map(|table| std::fs::read(snapshot::path(dir, table)).unwrap_or_default())
    .to_vec()
}

fn open(dir: &Path) -> Result<Db> {
    Db::open(dir, 1 << 20)
}

/// What the renamed tables must hold: every name canonical, every account with its
/// id, money and history.
fn assert_renamed(db: &Db) {
    let users: Vec<(u64, String)> = db
        .users
        .read()
        .values()
        .map(|u| (u.id.0, u.name.clone()))
        .collect();
    let expected = [(1, "admin"), (2, "alice"), (3, "bob"), (4, "joão")];
    assert_eq!(users, expected.map(|(id, n)| (id, n.to_string())));
    let wallets = db.wallets.read();
    assert_eq!(wallets["alice"].account, AccountId(2));
    assert_eq!(wallets["alice"].balance, Cents(18_750));
    assert_eq!(wallets["bob"].balance, Cents(20_000));
    assert_eq!(wallets["joão"].account, AccountId(4));
    drop(wallets);
    let order = db.orders.read()[&1].clone();
    assert_eq!(
        (order.user.as_str(), order.account),
        ("alice", AccountId(2))
    );
    assert_eq!(order.product, "Maçã");
    assert_eq!(db.products.read()["Maçã"].stock, 299);
    let ledger = db.transfers.read();
    // The deleted Dora's lines are renamed too; the deposit names its admin canonically.
    assert_eq!(ledger[&6].from.as_ref().unwrap().name, "dora");
    assert_eq!(ledger[&6].to.as_ref().unwrap().name, "bob");
    assert_eq!(ledger[&8].reference.as_deref(), Some("admin"));
    assert_eq!(ledger[&9].from, Some(Account::new(AccountId(2), "alice")));
    drop(ledger);
    let files: Vec<_> = db.files.read().keys().map(|k| k.to_string()).collect();
    assert_eq!(files, ["alice/Férias.jpg"]);
    assert!(check::check(db).is_ok(), "{:?}", check::check(db));
}

#[test]
fn names_that_are_not_canonical_are_renamed_everywhere_and_keep_their_money() {
    let dir = older_tables("");
    let before = tables(dir.path());
    let db = open(dir.path()).unwrap();
    assert_renamed(&db);
    // The tables as they were are kept.
    let kept = dir.path().join(BACKUP);
    assert_eq!(tables(&kept), before);
    assert!(kept.join("README.txt").exists());
    // On disk too, and once is enough: the next start changes nothing.
    drop(db);
    let after = tables(dir.path());
    let db = open(dir.path()).unwrap();
    assert_renamed(&db);
    assert_eq!(tables(dir.path()), after);
}

#[test]
fn two_accounts_that_would_get_one_name_are_refused_and_nothing_changes() {
    let dir = older_tables(&user(6, "alice"));
    let error = refused(dir.path());
    assert!(
        error.contains(r#"account 2 "Alice" and account 6 "alice" would both be "alice""#),
        "{error}"
    );
    assert!(
        error.contains("users.csv") && error.contains("another name"),
        "{error}"
    );

    // The fix it gives works: another name in users.csv and files.csv, and the wallet,
    // orders and ledger lines follow the account by its id.
    for table in ["users", "files"] {
        let path = snapshot::path(dir.path(), table);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("Alice,", "alice2,")).unwrap();
    }
    let db = open(dir.path()).unwrap();
    let wallet = db.wallets.read()["alice2"].clone();
    assert_eq!(
        (wallet.account, wallet.balance),
        (AccountId(2), Cents(18_750))
    );
    assert_eq!(db.orders.read()[&1].user, "alice2");
    assert_eq!(
        db.transfers.read()[&9].from.as_ref().unwrap().name,
        "alice2"
    );
    assert!(db.files.read().keys().any(|k| k.user == "alice2"));
}

/// Refuses to open `dir`, changing no table, and returns the message.
fn refused(dir: &Path) -> String {
    let before = tables(dir);
    let error = open(dir).err().expect("refused").to_string();
    assert_eq!(tables(dir), before, "a table changed");
    assert!(!dir.join(BACKUP).exists());
    error
}

/// Adds `row` (a line) at the end of `table`.
fn add_row(dir: &Path, table: &str, row: &str) {
    let path = snapshot::path(dir, table);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(path, text + row + "\n").unwrap();
}

#[test]
fn a_renamed_account_that_would_look_like_another_is_refused() {
    // `АLICE` with a Cyrillic `А` becomes `аlice`: not alice, but just like her.
    let dir = older_tables(&user(6, "\u{410}LICE"));
    let error = refused(dir.path());
    let expected = r#"- users.csv: account 2 "Alice" (renamed "alice") would look like account 6 "АLICE" (renamed "аlice"): give one of them another name in users.csv"#;
    assert!(error.contains(expected), "{error}");
}

#[test]
fn products_and_files_that_would_need_a_guess_are_refused_with_their_fix() {
    // A second Maçã, composed; files of a name that is no account's.
    let dir = older_tables("");
    add_row(dir.path(), "products", "Maçã,2.60,5");
    add_row(dir.path(), "files", &format!("Carla,x.txt,,{T}"));
    let error = refused(dir.path());
    for expected in [
        r#"- products.csv: the product "Mac\u{327}a\u{303}" and the product "Maçã" would both be "Maçã": keep one of them in products.csv (with the other's stock added)"#,
        r#"- files.csv: the files of "Carla", but no account has that name: change their `user`"#,
    ] {
        assert!(error.contains(expected), "{expected}\nnot in:\n{error}");
    }
}

#[test]
fn a_crash_half_way_renames_again_from_where_it_stopped() {
    // The end state, from a migration that ran to its end.
    let whole = older_tables("");
    drop(open(whole.path()).unwrap());
    // A crash after the copy and three of the six tables: wallets, orders and the
    // ledger renamed, products, files and users not.
    let dir = older_tables("");
    let before = tables(dir.path());
    let kept = dir.path().join(BACKUP);
    std::fs::create_dir(&kept).unwrap();
    for table in [
        "users",
        "wallets",
        "products",
        "orders",
        "transfers",
        "files",
    ] {
        std::fs::copy(
            snapshot::path(dir.path(), table),
            snapshot::path(&kept, table),
        )
        .unwrap();
    }
    std::fs::write(kept.join("README.txt"), NOTE).unwrap();
    for table in ["wallets", "orders", "transfers"] {
        let done = snapshot::path(whole.path(), table);
        std::fs::copy(done, snapshot::path(dir.path(), table)).unwrap();
    }

    let db = open(dir.path()).unwrap();
    assert_renamed(&db);
    drop(db);
    assert_eq!(tables(dir.path()), tables(whole.path()));
    // The copy still holds the tables from before the first attempt.
    assert_eq!(tables(&kept), before);
}

#[test]
fn names_in_the_journal_of_a_server_that_was_killed_are_renamed_too() {
    use crate::wallet::{WalletPolicy, testing};
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).unwrap();
    let policy = WalletPolicy::default();
    // As an older server would have: an account named as typed, in the journal only.
    let account = testing::add_account(&db, "Carla", &policy);
    drop(db);
    assert!(
        !std::fs::read_to_string(snapshot::path(dir.path(), "users"))
            .unwrap_or_default()
            .contains("Carla")
    );

    let db = open(dir.path()).unwrap();
    assert_eq!(db.users.read()["carla"].id, account.id);
    assert_eq!(db.wallets.read()["carla"].account, account.id);
    assert!(check::check(&db).is_ok());
}
