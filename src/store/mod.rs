//! The store of seeds 003 and 004: accounts, products, orders.
//!
//! Why it knows nothing of sockets: every rule here (who may log in, when an order
//! is refused, how stock changes) is a function from the database and a request to a
//! result. The server calls these functions; tests call them directly.
//!
//! - [`password`]: argon2id hashing and the gate that bounds its memory;
//! - [`fair_queue`]: the gate's queue: in order, and fair between client addresses;
//! - [`accounts`]: users, registration, login;
//! - [`look_alikes`]: one script per user name, and no look-alike of an existing one;
//! - [`throttle`]: who may try a password or register now, and who is refused at once;
//! - [`token_bucket`]: how the throttle counts: a burst, then one more per interval;
//! - [`catalog`]: products, prices, stock;
//! - [`orders`]: the ORDER critical section and order history.

pub mod accounts;
pub mod catalog;
pub mod fair_queue;
pub mod look_alikes;
pub mod orders;
pub mod password;
pub mod throttle;
pub mod token_bucket;
