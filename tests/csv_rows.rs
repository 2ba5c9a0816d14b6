//! Property tests for CSV row decoding: any row a table can hold survives a snapshot
//! written with `write_atomic` and read back with `Table::load`, field for field.
//!
//! Why it matters: names are free text (commas, quotes, newlines, any script) and the
//! argon2 PHC strings contain commas; a row that does not come back exactly is data
//! lost at the next restart.

use feira::db::schema::AccountId;
use feira::db::schema::Order;
use feira::db::schema::Product;
use feira::db::schema::{Role, User};
use feira::protocol::Cents;
use feira::protocol::money::MAX_AMOUNT;
use feira::storage::{Record, Table, snapshot};
use proptest::prelude::*;

/// Any text at all, weighted towards what breaks CSV.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Zçãé李 ,\"\\n\\r\\t\\\\;'$=+/-]{0,30}",
    ]
}

fn cents() -> impl Strategy<Value = Cents> {
    (0..=MAX_AMOUNT.0).prop_map(Cents)
}

/// Account ids start at 1.
fn account_id() -> impl Strategy<Value = AccountId> {
    (1..=u64::MAX).prop_map(AccountId)
}

/// Writes the rows as a snapshot, loads the table, and returns its rows in key order.
fn round_trip<R: Record + PartialEq + std::fmt::Debug>(rows: &[R]) -> Vec<R> {
    let dir = tempfile::tempdir().unwrap();
    snapshot::write_atomic(dir.path(), R::TABLE, R::COLUMNS, |snapshot| {
        for row in rows {
            snapshot.row(|fields| row.write_fields(fields))?;
        }
        Ok(())
    })
    .unwrap();
    let table: Table<R> = Table::load(dir.path()).unwrap();
    table.read().values().cloned().collect()
}

/// The rows sorted by key with later duplicates dropped, as a table would hold them.
fn by_key<R: Record>(rows: Vec<R>) -> Vec<R> {
    let mut map = std::collections::BTreeMap::new();
    for row in rows {
        map.entry(row.key()).or_insert(row);
    }
    map.into_values().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn products_survive_a_snapshot(
        rows in prop::collection::vec((text(), cents(), any::<u64>()), 0..8)
    ) {
        let rows = by_key(rows.into_iter().map(|(name, price, stock)| Product { name, price, stock }).collect());
        prop_assert_eq!(round_trip(&rows), rows);
    }

    #[test]
    fn orders_survive_a_snapshot(
        rows in prop::collection::vec(
            (any::<u64>(), text(), account_id(), text(), any::<u64>(), cents(), cents(), text()), 0..8)
    ) {
        let rows = by_key(rows.into_iter().map(|(id, user, account, product, quantity, unit_price, total, created_at)| {
            Order { id, user, account, product, quantity, unit_price, total, created_at }
        }).collect());
        prop_assert_eq!(round_trip(&rows), rows);
    }

    #[test]
    fn users_survive_a_snapshot(
        rows in prop::collection::vec((account_id(), text(), any::<bool>(), text(), text()), 0..8)
    ) {
        let rows = by_key(rows.into_iter().map(|(id, name, admin, password_hash, created_at)| User {
            id,
            name,
            role: if admin { Role::Admin } else { Role::Customer },
            password_hash,
            created_at,
        }).collect());
        prop_assert_eq!(round_trip(&rows), rows);
    }
}

#[test]
fn a_real_phc_string_survives_a_snapshot() {
    let user = User {
        id: AccountId(1),
        name: "maçã".into(),
        role: Role::Customer,
        password_hash: feira::accounts::password::hash("a password").unwrap(),
        created_at: "2026-11-27T15:00:00Z".into(),
    };
    assert!(user.password_hash.contains(','));
    assert_eq!(round_trip(std::slice::from_ref(&user)), [user]);
}
