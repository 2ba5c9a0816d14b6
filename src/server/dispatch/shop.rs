//! A session's store verbs (seeds 003 and 004): PRODUCTS, PRODUCT, ORDER, ORDERS,
//! RESTOCK and ADD_PRODUCT.
//!
//! Why so little here: the rules (the ORDER critical section, stock never below zero,
//! what a product name may be) are in `crate::shop`, testable without a socket. This
//! file only turns the shop's answers into replies, and gives the shop the session's
//! account, by id, where an order needs a buyer.
//!
//! The [`Ticket`](crate::storage::Ticket)s that a change returns are not kept: the
//! connection sends every reply only once everything written before it is durable
//! (`Journal::latest`), which covers the change this request made.
//!
//! Each handler says which locks the shop takes for it: that is where threads queue
//! under load (`feira-cli stats --watch` beside `feira-bench -t order`, docs/WALKTHROUGH.md
//! step 10). The replies are docs/PROTOCOL.md's, "The store".

use super::super::Shared;
use super::super::session::Session;
use crate::protocol::listing::{self, DEFAULT_ORDERS_LISTED};
use crate::protocol::{Cents, Refusal, Reply};
use crate::shop::{catalog, orders};

impl Session {
    /// PRODUCTS [max_price]: the catalogue, or the products at or below a price (seed
    /// 004's query by maximum price).
    ///
    /// The whole catalogue, not a page: only admins add products, so it stays short.
    ///
    /// Locks: `products`, read. Any number of clients browse at once.
    pub(super) fn products(&self, shared: &Shared, max_price: Option<Cents>) -> Reply {
        // Copied out under the `products` read lock, which is released before the reply
        // is even built: no lock is held while the client reads.
        let products = catalog::list(&shared.db, max_price);
        let count = products.len();
        Reply::rows(
            products.iter().map(|p| p.to_row()).collect(),
            format!("{count} products"),
        )
    }

    /// PRODUCT <name>: one product, or NOT_FOUND.
    ///
    /// Locks: `products`, read, for one lookup. The name arrives in NFC (the parser
    /// made it so), as the table stores it, so `Maçã` is found however it was typed.
    pub(super) fn product(&self, shared: &Shared, name: &str) -> Result<Reply, Refusal> {
        let product = catalog::get(&shared.db, name)?;
        Ok(Reply::rows(vec![product.to_row()], ""))
    }

    /// ORDER <product> <quantity>: takes the stock and pays from the wallet, all or
    /// nothing (the critical section is `shop::orders::place`).
    ///
    /// Locks: `products`, `wallets`, `orders`, `transfers`, all written, in the lock
    /// order of src/db.rs, from the stock check to the journal line. Every ORDER takes
    /// `products` first, so under load that is the lock they queue on.
    /// Refusals, each changing nothing: NOT_FOUND, INSUFFICIENT_STOCK (checked first),
    /// INSUFFICIENT_FUNDS, AUTH_REQUIRED (the account was deleted).
    pub(super) fn order(
        &self,
        shared: &Shared,
        product: &str,
        quantity: u64,
    ) -> Result<Reply, Refusal> {
        // The buyer is the session's account by id: `place` checks, under the `wallets`
        // lock, that the wallet it pays from is still this account's.
        let order = orders::place(&shared.db, &self.account()?, product, quantity)?;
        // The order as ORDERS lists it, so a client shows both the same way.
        Ok(Reply::rows(
            vec![order.to_row()],
            format!(
                "order {}: {} x {} = {}",
                order.id, order.quantity, order.product, order.total
            ),
        ))
    }

    /// ORDERS [n]: the account's latest orders, newest first, a page at a time.
    ///
    /// Locks: `orders`, read, a chunk of rows at a time (`Table::walk_back`): counting
    /// an account's orders walks them all, and an ORDER must not wait for the walk.
    pub(super) fn orders(&self, shared: &Shared, count: Option<u64>) -> Result<Reply, Refusal> {
        // At most a page (`protocol::listing`), whatever the client asks: a reply is
        // built whole in memory, and a customer may have hundreds of thousands of orders.
        let count = listing::count_or(count, DEFAULT_ORDERS_LISTED);
        // By account id, not by name: a deleted account's orders are not listed for the
        // new account that took its name.
        let page = orders::latest_of(&shared.db, self.account()?.id, count);
        Ok(Reply::rows(
            page.rows.iter().map(|o| o.to_row()).collect(),
            page.summary("orders, newest first"),
        ))
    }

    /// RESTOCK <product> <delta> (admin): changes a product's stock, never below zero
    /// (seed 004's `Caju -20` on a stock of 5 is INSUFFICIENT_STOCK, not clamped, so
    /// the admin learns that the count was wrong).
    ///
    /// Locks: `products`, written, from the read of the stock to the journal line.
    pub(super) fn restock(
        &self,
        shared: &Shared,
        product: &str,
        delta: i64,
    ) -> Result<Reply, Refusal> {
        let (stock, _) = catalog::restock(&shared.db, product, delta)?;
        Ok(Reply::ok(format!("stock of {product} is now {stock}")))
    }

    /// ADD_PRODUCT <name> <price> <stock> (admin): a new product. A name that exists
    /// is CONFLICT (RESTOCK changes its stock); what a name may hold is in
    /// `shop::catalog::add`.
    ///
    /// Locks: `products`, written: the check that the name is free and the insert are
    /// one critical section, so two admins adding one name get one OK.
    pub(super) fn add_product(
        &self,
        shared: &Shared,
        name: &str,
        price: Cents,
        stock: u64,
    ) -> Result<Reply, Refusal> {
        catalog::add(&shared.db, name, price, stock)?;
        Ok(Reply::ok(format!("added {name} at {price}, stock {stock}")))
    }
}
