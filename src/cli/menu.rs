//! The numbered menu for newcomers, as in the original assignments: `1) list products`,
//! each entry asking for what it needs, one question at a time.
//!
//! Why a table and not code: an entry is only a verb and the questions whose answers
//! become its arguments. The interactive loop turns the answers into the same request
//! a person could have typed, so the menu cannot do anything the raw verbs cannot, and
//! a new verb gets a menu entry by adding one row to [`ENTRIES`].
//!
//! The header above the menu shows who is logged in and, when the server has the
//! verbs, the values listed in [`PROBES`] (the wallet's balance and pay key).

use super::columns::Kind;

/// One question an entry asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// What to ask, without the colon: `product`.
    pub prompt: &'static str,
    pub answer: Answer,
}

/// What kind of answer a question takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An answer is needed; an empty one cancels the entry.
    Required,
    /// May be left empty, and the argument is then left out.
    Optional,
    /// A password: needed, and read without echo on a terminal.
    Secret,
}

/// One menu entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What to type to choose it: `1`.
    pub key: &'static str,
    pub label: &'static str,
    /// The verb the entry sends, with the answers as its arguments, in order.
    pub verb: &'static str,
    pub asks: &'static [Ask],
    /// Shown only to admins (anyone may still choose it; the server decides).
    pub admin: bool,
}

const fn ask(prompt: &'static str) -> Ask {
    Ask {
        prompt,
        answer: Answer::Required,
    }
}

const fn entry(
    key: &'static str,
    label: &'static str,
    verb: &'static str,
    asks: &'static [Ask],
) -> Entry {
    Entry {
        key,
        label,
        verb,
        asks,
        admin: false,
    }
}

const fn admin(entry: Entry) -> Entry {
    Entry {
        admin: true,
        ..entry
    }
}

/// The key that ends the session. It is handled by the loop, not sent as a verb.
pub const QUIT_KEY: &str = "0";

/// The menu, in the order it is shown, which is the order of the keys: an admin sees
/// 1 to 20, a customer the same without the admin entries. Keys are stable, so a
/// script may use them.
pub const ENTRIES: &[Entry] = &[
    entry(
        "1",
        "list products",
        "PRODUCTS",
        &[Ask {
            prompt: "up to what price? (e.g. 5.00; Enter for all)",
            answer: Answer::Optional,
        }],
    ),
    entry(
        "2",
        "a product's price and stock",
        "PRODUCT",
        &[ask("product")],
    ),
    entry("3", "order", "ORDER", &[ask("product"), ask("quantity")]),
    entry(
        "4",
        "my orders",
        "ORDERS",
        &[Ask {
            prompt: "how many? (up to 1000; Enter for the latest 100)",
            answer: Answer::Optional,
        }],
    ),
    entry(
        "5",
        "log in",
        "LOGIN",
        &[
            ask("user"),
            Ask {
                prompt: "password",
                answer: Answer::Secret,
            },
        ],
    ),
    entry(
        "6",
        "create an account",
        "REGISTER",
        &[
            ask("user"),
            Ask {
                prompt: "password (at least 8 characters)",
                answer: Answer::Secret,
            },
        ],
    ),
    entry("7", "log out", "LOGOUT", &[]),
    entry("8", "who am I", "WHOAMI", &[]),
    entry(
        "9",
        "help: the server's verbs and this client's commands",
        "HELP",
        &[],
    ),
    // The shop's admin entries.
    admin(entry(
        "10",
        "restock a product",
        "RESTOCK",
        &[ask("product"), ask("change in stock (e.g. 50 or -20)")],
    )),
    admin(entry(
        "11",
        "add a product",
        "ADD_PRODUCT",
        &[ask("name"), ask("price (e.g. 12.50)"), ask("stock")],
    )),
    // The wallet (seed 001).
    entry("12", "my wallet's movements", "TRANSFERS", &[]),
    entry(
        "13",
        "pay someone (with their pay key)",
        "TRANSFER",
        &[ask("their pay key"), ask("amount (e.g. 12.50)")],
    ),
    // File sharing (seed 002): this client serves its shared folder after 14.
    entry("14", "share my files (connect)", "CONNECT", &[]),
    entry(
        "15",
        "publish a file of my shared folder",
        "PUBLISH",
        &[ask("file name"), ask("description")],
    ),
    entry("16", "who is sharing", "LIST_USERS", &[]),
    entry(
        "17",
        "a user's files",
        "LIST_CONTENT",
        &[
            ask("user"),
            Ask {
                prompt: "how many? (up to 1000; Enter for the first 100)",
                answer: Answer::Optional,
            },
        ],
    ),
    entry(
        "18",
        "download a file from a peer",
        "GET_FILE",
        &[ask("user"), ask("file name")],
    ),
    entry("19", "stop sharing (disconnect)", "DISCONNECT", &[]),
    admin(entry(
        "20",
        "deposit into a wallet",
        "DEPOSIT",
        &[ask("user"), ask("amount (e.g. 50.00)")],
    )),
];

/// A value shown in the menu's header when the server has the verb: it is sent with
/// no arguments after login, and a server that answers `UNKNOWN_COMMAND` is not asked
/// again. Only read-only verbs belong here: it is sent every time the menu is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub verb: &'static str,
    pub label: &'static str,
    /// Which column of the reply's first data line to show (BALANCE answers
    /// `* <user> <balance>`, PAYKEY `* <key> <expires_at> <seconds_left>`).
    pub column: usize,
    /// [`Kind::Money`] values are shown as `R$ 12,50`.
    pub kind: Kind,
}

/// What the header shows after the user's name (the wallet, when it is there).
pub const PROBES: &[Probe] = &[
    Probe {
        verb: "BALANCE",
        label: "balance",
        column: 1,
        kind: Kind::Money,
    },
    Probe {
        verb: "PAYKEY",
        label: "pay key",
        column: 0,
        kind: Kind::Text,
    },
];

/// The entry chosen by `key`, if there is one.
pub fn find(key: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.key == key)
}

/// The request an entry makes from its answers: the verb, then each non-empty answer.
pub fn words(entry: &Entry, answers: &[String]) -> Vec<String> {
    std::iter::once(entry.verb.to_string())
        .chain(answers.iter().filter(|a| !a.is_empty()).cloned())
        .collect()
}

/// The menu as lines of text, under `header`. Admin entries only for admins.
pub fn lines(header: &str, admin: bool) -> Vec<String> {
    let mut lines = vec![header.to_string()];
    let shown: Vec<&Entry> = ENTRIES.iter().filter(|e| admin || !e.admin).collect();
    // The width over every entry, so the layout is the same for admins and customers.
    let key_width = ENTRIES.iter().map(|e| e.key.len()).max().unwrap_or(1);
    for entry in shown {
        lines.push(format!("  {:>key_width$}) {}", entry.key, entry.label));
    }
    lines.push(format!("  {QUIT_KEY:>key_width$}) quit"));
    lines
        .push("Or type a verb and its arguments, like: products 5.00   (? shows this menu)".into());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_numeric() {
        for (i, entry) in ENTRIES.iter().enumerate() {
            assert!(
                entry.key.bytes().all(|b| b.is_ascii_digit()),
                "{}",
                entry.key
            );
            assert_ne!(entry.key, QUIT_KEY);
            assert!(ENTRIES[i + 1..].iter().all(|e| e.key != entry.key));
        }
    }

    #[test]
    fn the_menu_is_shown_in_the_order_of_its_numbers() {
        let keys: Vec<u32> = ENTRIES.iter().map(|e| e.key.parse().unwrap()).collect();
        let expected: Vec<u32> = (1..=keys.len() as u32).collect();
        assert_eq!(
            keys, expected,
            "an admin sees every entry, numbered 1, 2, 3, ..."
        );
    }

    #[test]
    fn answers_become_arguments() {
        let order = find("3").unwrap();
        let answers = ["Raquete de tênis".to_string(), "2".to_string()];
        assert_eq!(words(order, &answers), ["ORDER", "Raquete de tênis", "2"]);
        // An optional question left empty leaves its argument out.
        assert_eq!(words(find("1").unwrap(), &[String::new()]), ["PRODUCTS"]);
        assert_eq!(words(find("4").unwrap(), &[String::new()]), ["ORDERS"]);
        let files = ["bob".to_string(), "500".to_string()];
        assert_eq!(
            words(find("17").unwrap(), &files),
            ["LIST_CONTENT", "bob", "500"]
        );
        assert!(find("0").is_none() && find("99").is_none());
    }

    #[test]
    fn admins_see_more() {
        let customer = lines("feira", false);
        let admin = lines("feira", true);
        assert!(!customer.iter().any(|l| l.contains("restock")));
        assert!(admin.iter().any(|l| l.contains("10) restock a product")));
        assert_eq!(customer[0], "feira");
        assert!(customer.contains(&"   1) list products".to_string()));
        assert!(customer.contains(&"   0) quit".to_string()));
    }
}
