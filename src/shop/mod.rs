//! The shop of seeds 003 and 004: products, prices and stock, and orders paid from the
//! buyer's wallet.
//!
//! Why it knows nothing of sockets: every rule here (when an order is refused, how
//! stock changes) is a function from the database and a request to a result. The
//! server's dispatcher calls these functions; tests call them directly.
//!
//! - [`catalog`]: products, prices, stock;
//! - [`orders`]: the ORDER critical section and order history.
//!
//! The rows (`Product`, `Order`) are in the database's schema (src/db/schema/); an
//! order pays through the wallets' rules (`crate::wallet`), which sit below the shop.

pub mod catalog;
pub mod orders;
