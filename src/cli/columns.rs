//! Column headers for the verbs whose data lines the client knows how to label.
//!
//! Why a table: the protocol's data lines are bare tokens (`* Maçã 2.50 300`); which
//! token is a price is something only the verb knows. Keeping that knowledge in one
//! table means a new verb (BALANCE, TRANSFERS, FILES, ...) gets readable output by
//! adding one row here, and a verb with no row still prints, aligned but unlabelled.

/// What a column holds, which decides how it is aligned and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text, aligned left.
    Text,
    /// A whole number, aligned right.
    Number,
    /// An amount of money (`12.50` on the wire), aligned right; shown as `R$ 12,50`
    /// in the interactive view.
    Money,
}

/// One column: its header and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub title: &'static str,
    pub kind: Kind,
}

const fn text(title: &'static str) -> Column {
    Column {
        title,
        kind: Kind::Text,
    }
}

const fn number(title: &'static str) -> Column {
    Column {
        title,
        kind: Kind::Number,
    }
}

const fn money(title: &'static str) -> Column {
    Column {
        title,
        kind: Kind::Money,
    }
}

/// A product, as PRODUCTS and PRODUCT send it (`src/shop/catalog.rs`).
const PRODUCT: &[Column] = &[text("name"), money("price"), number("stock")];

/// An order, as ORDER and ORDERS send it (`src/shop/orders.rs`).
const ORDER: &[Column] = &[
    number("id"),
    text("product"),
    number("quantity"),
    money("unit price"),
    money("total"),
    text("placed at (UTC)"),
];

/// One verb's line of HELP.
const HELP: &[Column] = &[
    text("verb"),
    text("arguments"),
    text("who"),
    text("what it does"),
];

/// A connected peer, as CONNECT, LIST_USERS and PEER send it (`src/sharing/`).
const PEER: &[Column] = &[text("user"), text("address"), number("port")];

/// A movement of money, as TRANSFER and DEPOSIT send it (`src/wallet/transfer.rs`).
const RECEIPT: &[Column] = &[
    number("movement"),
    text("to"),
    money("amount"),
    money("balance after"),
];

/// The verbs with labelled columns. Adding a verb: one row here, in the order its
/// data line sends the fields. A data line with more fields than headers still shows
/// them all, the extra ones unlabelled.
pub const COLUMNS: &[(&str, &[Column])] = &[
    ("PRODUCTS", PRODUCT),
    ("PRODUCT", PRODUCT),
    ("ORDER", ORDER),
    ("ORDERS", ORDER),
    ("HELP", HELP),
    ("WHOAMI", &[text("user"), text("role"), number("account")]),
    // Wallets (seed 001).
    ("BALANCE", &[text("user"), money("balance")]),
    (
        "PAYKEY",
        &[
            text("pay key"),
            text("expires at (UTC)"),
            number("seconds left"),
        ],
    ),
    ("TRANSFER", RECEIPT),
    ("DEPOSIT", RECEIPT),
    (
        "TRANSFERS",
        &[
            number("movement"),
            text("time (UTC)"),
            text("kind"),
            text("in/out"),
            text("counterpart"),
            money("amount"),
            money("balance after"),
        ],
    ),
    // File sharing (seed 002).
    ("CONNECT", PEER),
    ("LIST_USERS", PEER),
    ("PEER", PEER),
    (
        "LIST_CONTENT",
        &[
            text("file"),
            text("description"),
            text("published at (UTC)"),
        ],
    ),
    (
        "PUBLISH",
        &[
            text("file"),
            text("description"),
            text("published at (UTC)"),
        ],
    ),
];

/// The columns of a verb's data lines, if the client knows them (case-insensitive).
pub fn for_verb(verb: &str) -> Option<&'static [Column]> {
    COLUMNS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(verb))
        .map(|(_, columns)| *columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_columns_case_insensitively() {
        assert_eq!(for_verb("products"), Some(PRODUCT));
        assert_eq!(for_verb("Orders"), Some(ORDER));
        assert_eq!(for_verb("FLY"), None);
    }

    #[test]
    fn no_verb_has_two_rows() {
        // The second row would never be used, which is surely a mistake.
        for (i, (verb, _)) in COLUMNS.iter().enumerate() {
            assert!(
                COLUMNS[i + 1..]
                    .iter()
                    .all(|(other, _)| !other.eq_ignore_ascii_case(verb)),
                "{verb} has two rows"
            );
        }
    }
}
