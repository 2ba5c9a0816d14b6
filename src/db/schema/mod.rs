//! The schema: one row type per table, and how each is written to and read from its
//! CSV file ([`Record`](crate::storage::Record)).
//!
//! Why under the database and not in each domain: the database loads, replays and
//! checkpoints every table, so it must know every row type; and the domains read each
//! other's rows (an order is paid from a wallet, the ledger check reads the orders, an
//! UNREGISTER withdraws its account's files). With the rows here, below the domains,
//! every arrow points one way: the domains import the database, never the reverse.
//!
//! One file per table, named after it:
//! - [`account`]: an account's identity ([`AccountId`], [`Account`]), a column of most
//!   tables, and the [`AccountIds`] the database hands out;
//! - [`users`]: `users.csv`, the accounts ([`User`], [`Role`]);
//! - [`products`]: `products.csv`, the shop's catalogue ([`Product`]);
//! - [`wallets`]: `wallets.csv`, one wallet per account ([`Wallet`]);
//! - [`orders`]: `orders.csv`, every order placed ([`Order`]);
//! - [`transfers`]: `transfers.csv`, the ledger of every movement of money
//!   ([`LedgerEntry`], its [`Kind`]);
//! - [`files`]: `files.csv`, the files users publish for sharing ([`SharedFile`],
//!   [`FileKey`]).
//!
//! What may change these rows, and how, is the business of the domains above: the
//! accounts, the shop, the wallets and file sharing.

pub mod account;
pub mod files;
pub mod orders;
pub mod products;
pub mod transfers;
pub mod users;
pub mod wallets;

pub use account::{Account, AccountId, AccountIds};
pub use files::{FileKey, SharedFile};
pub use orders::Order;
pub use products::Product;
pub use transfers::{Kind, LedgerEntry};
pub use users::{Role, User};
pub use wallets::Wallet;
