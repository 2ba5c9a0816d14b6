//! Orders: the ORDER critical section and each user's order history, newest first, a
//! page at a time (`protocol::listing`).
//!
//! Seed 003 checked the stock, then (in a separate step) decremented it: two clients
//! could both see "1 left" and both buy it. Here the check, the decrement and the new
//! order row are one critical section under four write locks (`products`, `wallets`,
//! `orders`, `transfers`, in the lock order of src/db.rs) and one journal line: 64
//! clients racing for 1,000 units sell exactly 1,000.
//!
//! An order is also *paid* from the buyer's wallet, in the same critical
//! section and the same journal line: stock down, balance down, order recorded, payment
//! in the ledger, or (INSUFFICIENT_STOCK, INSUFFICIENT_FUNDS, a failed write) none of
//! them. Checking the funds and the stock under the same locks as the spending is what
//! stops two orders from both spending the last 10.00.
//!
//! An order belongs to the buyer's account *identity* (the `account` column), not to the
//! name: ORDERS lists by id, so an account that takes the name of a deleted one starts
//! with no orders, and the wallet an order is paid from must be the buyer's own under
//! the `wallets` lock ([`crate::db::identity`]).

use super::catalog::not_found;
use crate::db::Db;
use crate::db::schema::{Account, AccountId, Kind, LedgerEntry, Order, Wallet};
use crate::protocol::listing::Page;
use crate::protocol::{ErrorCode, Refusal};
use crate::storage::Ticket;
use crate::wallet::ledger;
use crate::wallet::{debit, own_wallet};

impl Order {
    /// The order as a data line: id, product, quantity, unit price, total, time.
    pub fn to_row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.product.clone(),
            self.quantity.to_string(),
            self.unit_price.to_string(),
            self.total.to_string(),
            self.created_at.clone(),
        ]
    }
}

/// Places an order: checks and takes the stock, pays from the buyer's wallet and
/// records the order and the payment, all or nothing.
pub fn place(db: &Db, buyer: &Account, product: &str, quantity: u64) -> Result<Order, Refusal> {
    // Lock order (docs/ARCHITECTURE.md): products, wallets, orders, transfers.
    // Each lock is taken when it is first needed and kept to the commit, always in that
    // order: an order refused for its stock never touches the wallets.
    let mut products = db.products.write();
    let mut item = products
        .get(product)
        .cloned()
        .ok_or_else(|| not_found(product))?;
    if item.stock < quantity {
        return Err(Refusal::new(
            ErrorCode::InsufficientStock,
            format!("only {} of {product:?} left", item.stock),
        ));
    }
    let total = item
        .price
        .checked_mul(quantity)
        .ok_or_else(|| Refusal::new(ErrorCode::BadRequest, "the total is too large to pay"))?;
    let mut wallets = db.wallets.write();
    // The buyer's own wallet (this account, not just this name), or AUTH_REQUIRED.
    let wallet = own_wallet(&wallets, buyer)?;
    let balance = debit(wallet.balance, total).map_err(|refusal| {
        Refusal::new(
            refusal.code,
            format!(
                "{quantity} x {product:?} costs {total}; {}",
                refusal.message
            ),
        )
    })?;
    let wallet = Wallet {
        balance,
        ..wallet.clone()
    };
    item.stock -= quantity;
    let mut orders = db.orders.write();
    let mut transfers = db.transfers.write();
    let order = Order {
        id: orders.last_key_value().map_or(1, |(id, _)| id + 1),
        user: buyer.name.clone(),
        account: buyer.id,
        product: product.to_string(),
        quantity,
        unit_price: item.price,
        total,
        created_at: crate::clock::now_rfc3339(),
    };
    let payment = LedgerEntry {
        id: ledger::next_id(&transfers),
        time: order.created_at.clone(),
        kind: Kind::Order,
        from: Some(buyer.clone()),
        to: None,
        amount: total,
        from_balance: Some(balance),
        to_balance: None,
        reference: Some(order.id.to_string()),
    };
    products.stage_put(item);
    wallets.stage_put(wallet);
    orders.stage_put(order.clone());
    transfers.stage_put(payment);
    let _: Ticket = db
        .journal
        .commit(&mut [&mut products, &mut wallets, &mut orders, &mut transfers])
        .map_err(Refusal::internal)?;
    Ok(order)
}

/// An account's latest `count` orders, newest first, and how many it has in all (not
/// those of a deleted account of the same name).
pub fn latest_of(db: &Db, account: AccountId, count: usize) -> Page<Order> {
    latest(db, |order| order.account == account, count)
}

/// The latest `count` orders that `keep` accepts, newest first, and how many it
/// accepts in all, as of the moment it starts (orders only grow, by higher ids).
///
/// Only the page is copied; the other matching orders are counted. Counting walks
/// every order, since there is no index by user (about 60 ms for a million orders in a
/// release build), so the walk takes the `orders` read lock a chunk of rows at a time
/// ([`Table::walk_back`](crate::storage::Table::walk_back)): an ORDER waits for one
/// chunk, never for the whole walk. (With two clients repeating ORDERS on a million
/// orders, an ORDER waits up to 25 ms; under one read lock for the whole walk it would
/// wait up to 316 ms.)
pub fn latest(db: &Db, keep: impl Fn(&Order) -> bool, count: usize) -> Page<Order> {
    let mut page = Page::empty();
    db.orders.walk_back(|order| {
        if keep(order) {
            page.offer(order, count);
        }
    });
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::Product;
    use crate::protocol::Cents;
    use crate::wallet::testing::{account_of, db_with};
    use crate::wallet::{balance, check};

    fn with_caju(stock: u64) -> (tempfile::TempDir, Db) {
        let (dir, db) = db_with(&["ana"], Cents(1000));
        let mut products = db.products.write();
        products.stage_put(Product {
            name: "Caju".into(),
            price: Cents(120),
            stock,
        });
        db.journal.commit(&mut [&mut products]).unwrap();
        drop(products);
        (dir, db)
    }

    fn state(db: &Db) -> (u64, Cents, usize, usize) {
        (
            db.products.read()["Caju"].stock,
            balance(db, &account_of(db, "ana")).unwrap(),
            db.orders.read().len(),
            db.transfers.read().len(),
        )
    }

    #[test]
    fn an_order_is_paid_from_the_wallet() {
        let (_dir, db) = with_caju(100);
        let order = place(&db, &account_of(&db, "ana"), "Caju", 5).unwrap();
        assert_eq!(order.total, Cents(600));
        assert_eq!(state(&db), (95, Cents(400), 1, 2));
        let payment = db.transfers.read().values().last().cloned().unwrap();
        assert_eq!(payment.kind, Kind::Order);
        assert_eq!(payment.reference, Some(order.id.to_string()));
        assert!(check::check(&db).is_ok());
    }

    #[test]
    fn the_latest_orders_come_first_and_the_rest_are_counted() {
        let (_dir, db) = with_caju(100);
        let ana = account_of(&db, "ana");
        for quantity in 1..=3 {
            place(&db, &ana, "Caju", quantity).unwrap();
        }
        let page = latest_of(&db, ana.id, 2);
        let quantities: Vec<u64> = page.rows.iter().map(|o| o.quantity).collect();
        assert_eq!((quantities, page.total), (vec![3, 2], 3));
        let nobody = latest_of(&db, AccountId(ana.id.0 + 1), 2);
        assert_eq!((nobody.rows.len(), nobody.total), (0, 0));
    }

    #[test]
    fn a_page_of_a_long_history_walks_it_whole_a_chunk_at_a_time() {
        let (_dir, db) = with_caju(100);
        let ana = account_of(&db, "ana").id;
        let mut orders = db.orders.write();
        for id in 1..=10_000 {
            let (user, account) = if id % 3 == 0 {
                ("ana", ana)
            } else {
                ("bia", AccountId(ana.0 + 1))
            };
            orders.stage_put(Order {
                id,
                user: user.into(),
                account,
                product: "Caju".into(),
                quantity: 1,
                unit_price: Cents(120),
                total: Cents(120),
                created_at: String::new(),
            });
        }
        db.journal.commit(&mut [&mut orders]).unwrap();
        drop(orders);
        // More than two chunks of the walk: every order is seen once, newest first.
        let page = latest_of(&db, ana, 2);
        let ids: Vec<u64> = page.rows.iter().map(|o| o.id).collect();
        assert_eq!((ids, page.total), (vec![9999, 9996], 3333));
        let all = latest(&db, |_| true, usize::MAX);
        let ids: Vec<u64> = all.rows.iter().map(|o| o.id).collect();
        assert_eq!(ids, (1..=10_000).rev().collect::<Vec<u64>>());
    }

    #[test]
    fn without_funds_or_stock_nothing_changes() {
        let (_dir, db) = with_caju(100);
        let before = state(&db);
        // 9 x 1.20 = 10.80 > 10.00: stock enough, money not.
        let refusal = place(&db, &account_of(&db, "ana"), "Caju", 9).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::InsufficientFunds);
        assert_eq!(state(&db), before);
        assert_eq!(
            place(&db, &account_of(&db, "ana"), "Caju", 101)
                .unwrap_err()
                .code,
            ErrorCode::InsufficientStock
        );
        let nobody = Account::new(AccountId(99), "nobody");
        assert_eq!(
            place(&db, &nobody, "Caju", 1).unwrap_err().code,
            ErrorCode::AuthRequired
        );
        db.journal.fail_next_writes(1);
        assert_eq!(
            place(&db, &account_of(&db, "ana"), "Caju", 1)
                .unwrap_err()
                .code,
            ErrorCode::Internal
        );
        assert_eq!(state(&db), before);
        // Exactly the balance is fine.
        let (_dir, db) = with_caju(100);
        let mut wallets = db.wallets.write();
        let mut wallet = wallets["ana"].clone();
        wallet.balance = Cents(360);
        wallets.stage_put(wallet);
        db.journal.commit(&mut [&mut wallets]).unwrap();
        drop(wallets);
        place(&db, &account_of(&db, "ana"), "Caju", 3).unwrap();
        assert_eq!(balance(&db, &account_of(&db, "ana")), Ok(Cents(0)));
    }
}
