//! `products.csv`: the shop's catalogue, one row per product with its price and stock.
//!
//! Why in the schema: the database loads and replays it with the other tables, and an
//! ORDER changes it in the same journal line as a wallet and the ledger.

use crate::protocol::Cents;
use crate::storage::{Field, Fields, Record, RowError};

/// A row of `products.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub name: String,
    pub price: Cents,
    pub stock: u64,
}

impl Record for Product {
    const TABLE: &'static str = "products";
    const COLUMNS: &'static [&'static str] = &["name", "price", "stock"];
    type Key = String;

    fn key(&self) -> String {
        self.name.clone()
    }

    fn write_fields(&self, out: &mut dyn Fields) {
        out.text(&self.name);
        out.display(&self.price);
        out.display(&self.stock);
    }

    fn from_fields(fields: &[&str]) -> Result<Product, RowError> {
        Ok(Product {
            name: fields[0].to_string(),
            price: Field::parse(fields, Self::COLUMNS, 1)?,
            stock: Field::parse(fields, Self::COLUMNS, 2)?,
        })
    }
}
