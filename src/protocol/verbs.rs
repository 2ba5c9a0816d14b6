//! The verbs the server knows: each one's name, arguments, who may use it, and what it
//! does, in the order HELP lists them.
//!
//! Why a table: HELP prints it, the parser looks a verb up in it (case-insensitively),
//! the dispatcher checks its [`Access`], and STATS counts requests by its rows. One
//! row per verb, one line per row, so that the whole protocol fits on a screen
//! (docs/PROTOCOL.md is the contract it follows).

/// Who may use a verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Anyone,
    /// A logged-in user.
    User,
    /// A logged-in admin.
    Admin,
}

/// One verb's entry in the help table.
#[derive(Debug)]
pub struct VerbSpec {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
    pub access: Access,
}

const fn verb(
    name: &'static str,
    args: &'static str,
    access: Access,
    summary: &'static str,
) -> VerbSpec {
    VerbSpec {
        name,
        args,
        summary,
        access,
    }
}

/// Every verb the server knows, in the order HELP lists them. (One line per verb, in
/// columns: rustfmt would spread each over five.)
#[rustfmt::skip]
pub const VERBS: &[VerbSpec] = &[
    // The session.
    verb("PING",         "",                          Access::Anyone, "answers OK PONG"),
    verb("HELP",         "[verb]",                    Access::Anyone, "lists the verbs, or explains one"),
    verb("QUIT",         "",                          Access::Anyone, "closes the connection"),
    verb("REGISTER",     "<user> <password>",         Access::Anyone, "creates an account"),
    verb("LOGIN",        "<user> <password>",         Access::Anyone, "logs in"),
    verb("LOGOUT",       "",                          Access::User,   "logs out, keeping the connection"),
    verb("WHOAMI",       "",                          Access::User,   "your user name, role and account id"),
    verb("UNREGISTER",   "<password>",                Access::User,   "deletes your account"),
    // Operations.
    verb("STATS",        "",                          Access::Admin,  "uptime, connections, requests by verb, lock contention"),
    // The shop (seeds 003 and 004).
    verb("PRODUCTS",     "[max_price]",               Access::User,   "lists products, or those at or below a price"),
    verb("PRODUCT",      "<name>",                    Access::User,   "one product's price and stock"),
    verb("ORDER",        "<product> <quantity>",      Access::User,   "buys a quantity of a product"),
    verb("ORDERS",       "[n]",                       Access::User,   "your latest n orders (100 if n is omitted), newest first"),
    verb("RESTOCK",      "<product> <delta>",         Access::Admin,  "changes a product's stock by delta (may be negative)"),
    verb("ADD_PRODUCT",  "<name> <price> <stock>",    Access::Admin,  "adds a product"),
    // Wallets.
    verb("BALANCE",      "",                          Access::User,   "your wallet's balance"),
    verb("PAYKEY",       "",                          Access::User,   "your current pay key and when it expires"),
    verb("TRANSFER",     "<pay_key> <amount>",        Access::User,   "sends money to the wallet with this pay key"),
    verb("TRANSFERS",    "[n]",                       Access::User,   "your latest n wallet movements (20 if n is omitted), newest first"),
    verb("DEPOSIT",      "<user> <amount>",           Access::Admin,  "adds money to a user's wallet"),
    // File sharing (seed 002): the connected peers and their files.
    verb("CONNECT",      "<port>",                    Access::User,   "announces your file listener's port; your address is taken from this connection"),
    verb("DISCONNECT",   "",                          Access::User,   "leaves the list of connected users"),
    verb("PUBLISH",      "<file_name> <description>", Access::User,   "lists a file of your share directory (after CONNECT)"),
    verb("DELETE",       "<file_name>",               Access::User,   "withdraws a file you published (after CONNECT)"),
    verb("LIST_USERS",   "",                          Access::User,   "the connected users: name, address, port (after CONNECT)"),
    verb("LIST_CONTENT", "<user> [n]",                Access::User,   "the first n of a user's published files by name (100 if n is omitted; after CONNECT)"),
    verb("PEER",         "<user>",                    Access::User,   "where to fetch a connected user's files: name, address, port (after CONNECT)"),
];

/// The file-sharing verbs: each one is written to the audit log (see `sharing::audit`).
pub const FILE_SHARING_VERBS: &[&str] = &[
    "CONNECT",
    "DISCONNECT",
    "PUBLISH",
    "DELETE",
    "LIST_USERS",
    "LIST_CONTENT",
    "PEER",
];

/// Finds a verb's entry, case-insensitively.
pub fn verb_spec(name: &str) -> Option<&'static VerbSpec> {
    VERBS.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}
