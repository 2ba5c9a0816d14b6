//! `orders.csv`: every order placed, with its buyer's account and what it cost.
//!
//! Why in the schema: the shop writes orders, and the ledger check (src/wallet/check.rs)
//! reads them to prove that every order was paid exactly once.

use super::account::AccountId;
use crate::protocol::Cents;
use crate::storage::{Field, Fields, Record, RowError};

/// A row of `orders.csv`. The unit price is copied in: later price changes do not
/// rewrite history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: u64,
    /// The buyer's name when the order was placed, for people.
    pub user: String,
    /// The buyer's account: whose order it is.
    pub account: AccountId,
    pub product: String,
    pub quantity: u64,
    pub unit_price: Cents,
    pub total: Cents,
    pub created_at: String,
}

impl Record for Order {
    const TABLE: &'static str = "orders";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "user",
        "account",
        "product",
        "quantity",
        "unit_price",
        "total",
        "created_at",
    ];
    type Key = u64;

    fn key(&self) -> u64 {
        self.id
    }

    fn write_fields(&self, out: &mut dyn Fields) {
        out.display(&self.id);
        out.text(&self.user);
        out.display(&self.account);
        out.text(&self.product);
        out.display(&self.quantity);
        out.display(&self.unit_price);
        out.display(&self.total);
        out.text(&self.created_at);
    }

    fn from_fields(fields: &[&str]) -> Result<Order, RowError> {
        Ok(Order {
            id: Field::parse(fields, Self::COLUMNS, 0)?,
            user: fields[1].to_string(),
            account: Field::parse(fields, Self::COLUMNS, 2)?,
            product: fields[3].to_string(),
            quantity: Field::parse(fields, Self::COLUMNS, 4)?,
            unit_price: Field::parse(fields, Self::COLUMNS, 5)?,
            total: Field::parse(fields, Self::COLUMNS, 6)?,
            created_at: fields[7].to_string(),
        })
    }
}
