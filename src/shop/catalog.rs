//! Products: prices and stock (seed 003's sports store and seed 004's produce).
//!
//! Reads take the `products` read lock, so many clients can browse at once. Changes to
//! stock take the write lock and commit through the journal; RESTOCK never lets stock
//! fall below zero (seed 004's `Caju -20` on a stock of 5 is refused, not clamped, so
//! the admin learns that the count was wrong).

use crate::db::Db;
use crate::db::schema::Product;
use crate::protocol::{Cents, ErrorCode, MAX_QUANTITY, Refusal, names};
use crate::storage::{Record, Ticket};

impl Product {
    /// The product as a data line: name, price, stock.
    pub fn to_row(&self) -> Vec<String> {
        self.to_fields()
    }
}

/// The longest product name, in characters.
pub const MAX_PRODUCT_NAME: usize = 100;
/// The most units of one product the store can hold.
pub const MAX_STOCK: u64 = 1_000_000_000_000;

/// All products, or those at or below `max_price`, sorted by name.
pub fn list(db: &Db, max_price: Option<Cents>) -> Vec<Product> {
    let products = db.products.read();
    products
        .values()
        .filter(|p| max_price.is_none_or(|max| p.price <= max))
        .cloned()
        .collect()
}

/// One product by its exact name.
pub fn get(db: &Db, name: &str) -> Result<Product, Refusal> {
    db.products
        .read()
        .get(name)
        .cloned()
        .ok_or_else(|| not_found(name))
}

pub(crate) fn not_found(name: &str) -> Refusal {
    Refusal::new(
        ErrorCode::NotFound,
        format!("no product named {name:?}: try PRODUCTS"),
    )
}

/// Adds a product (admin). Almost any text is a valid name, commas and quotes included:
/// the CSV writer quotes it. Not valid: control and bidirectional characters, and a
/// first character that would make a spreadsheet run the name as a formula (`=`, `+`,
/// `-`, `@`), since `products.csv` and `orders.csv` are opened in spreadsheets. Names
/// are in NFC (the door normalises them: see `protocol::names`) and compared exactly
/// after that: `Maçã` is not `maçã`.
pub fn add(db: &Db, name: &str, price: Cents, stock: u64) -> Result<Ticket, Refusal> {
    let length = name.chars().count();
    if length == 0 || length > MAX_PRODUCT_NAME || name.trim().is_empty() {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("a product name has 1 to {MAX_PRODUCT_NAME} characters, not all spaces"),
        ));
    }
    names::check_chars("name", name)?;
    names::refuse_formula("name", name)?;
    names::require_nfc("name", name)?;
    if price == Cents(0) {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            "a price must be above 0",
        ));
    }
    let mut products = db.products.write();
    if products.contains_key(name) {
        return Err(Refusal::new(
            ErrorCode::Conflict,
            format!("a product named {name:?} exists: use RESTOCK"),
        ));
    }
    products.stage_put(Product {
        name: name.to_string(),
        price,
        stock,
    });
    db.journal
        .commit(&mut [&mut products])
        .map_err(Refusal::internal)
}

/// Changes a product's stock by `delta` (admin). Returns the new stock.
pub fn restock(db: &Db, name: &str, delta: i64) -> Result<(u64, Ticket), Refusal> {
    debug_assert!(delta.unsigned_abs() <= MAX_QUANTITY);
    let mut products = db.products.write();
    let mut product = products.get(name).cloned().ok_or_else(|| not_found(name))?;
    let new_stock = product.stock.checked_add_signed(delta).ok_or_else(|| {
        Refusal::new(
            ErrorCode::InsufficientStock,
            format!(
                "cannot remove {} units of {name:?}: only {} in stock",
                delta.unsigned_abs(),
                product.stock
            ),
        )
    })?;
    if new_stock > MAX_STOCK {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("the stock would exceed {MAX_STOCK}"),
        ));
    }
    product.stock = new_stock;
    products.stage_put(product);
    let ticket = db
        .journal
        .commit(&mut [&mut products])
        .map_err(Refusal::internal)?;
    Ok((new_stock, ticket))
}
