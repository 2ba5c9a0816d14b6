//! A request: one variant per verb, parsed once at the edge of the server.
//!
//! Why an enum: after [`Request::parse`], the rest of the server matches on variants
//! with typed fields (a [`Cents`], a `u64`), never on strings. The same type encodes
//! requests in the client ([`Request::to_line`]), so the two sides cannot drift apart.
//!
//! Adding a verb: a row in [`VERBS`], a variant, an arm in `parse` and in `to_tokens`,
//! a handler in `server::dispatch`, and an entry in docs/PROTOCOL.md.

use std::fmt;

use super::args::{self, Args, bad};
use super::listing::MAX_LISTED;
use super::money::Cents;
use super::names;
use super::pay_key::PayKey;
use super::reply::Refusal;
use super::token;

/// The largest quantity in one order or stock change. Large enough for any store, and
/// small enough that quantity x price never overflows silently (it is checked anyway).
pub const MAX_QUANTITY: u64 = 1_000_000_000;

/// A password as it travels in a request. Its `Debug` form never shows it, so a
/// request can be logged without leaking the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

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

/// Every verb the server knows, in the order HELP lists them.
pub const VERBS: &[VerbSpec] = &[
    // The session.
    verb("PING", "", Access::Anyone, "answers OK PONG"),
    verb(
        "HELP",
        "[verb]",
        Access::Anyone,
        "lists the verbs, or explains one",
    ),
    verb("QUIT", "", Access::Anyone, "closes the connection"),
    verb(
        "REGISTER",
        "<user> <password>",
        Access::Anyone,
        "creates an account",
    ),
    verb("LOGIN", "<user> <password>", Access::Anyone, "logs in"),
    verb(
        "LOGOUT",
        "",
        Access::User,
        "logs out, keeping the connection",
    ),
    verb(
        "WHOAMI",
        "",
        Access::User,
        "your user name, role and account id",
    ),
    verb(
        "UNREGISTER",
        "<password>",
        Access::User,
        "deletes your account",
    ),
    // Operations.
    verb(
        "STATS",
        "",
        Access::Admin,
        "uptime, connections, requests by verb, lock contention",
    ),
    // The store (seeds 003 and 004).
    verb(
        "PRODUCTS",
        "[max_price]",
        Access::User,
        "lists products, or those at or below a price",
    ),
    verb(
        "PRODUCT",
        "<name>",
        Access::User,
        "one product's price and stock",
    ),
    verb(
        "ORDER",
        "<product> <quantity>",
        Access::User,
        "buys a quantity of a product",
    ),
    verb(
        "ORDERS",
        "[n]",
        Access::User,
        "your latest n orders (100 if n is omitted), newest first",
    ),
    verb(
        "RESTOCK",
        "<product> <delta>",
        Access::Admin,
        "changes a product's stock by delta (may be negative)",
    ),
    verb(
        "ADD_PRODUCT",
        "<name> <price> <stock>",
        Access::Admin,
        "adds a product",
    ),
    // Wallets.
    verb("BALANCE", "", Access::User, "your wallet's balance"),
    verb(
        "PAYKEY",
        "",
        Access::User,
        "your current pay key and when it expires",
    ),
    verb(
        "TRANSFER",
        "<pay_key> <amount>",
        Access::User,
        "sends money to the wallet with this pay key",
    ),
    verb(
        "TRANSFERS",
        "[n]",
        Access::User,
        "your latest n wallet movements (20 if n is omitted), newest first",
    ),
    verb(
        "DEPOSIT",
        "<user> <amount>",
        Access::Admin,
        "adds money to a user's wallet",
    ),
    // File sharing (seed 002): the directory of peers and their files.
    verb(
        "CONNECT",
        "<port>",
        Access::User,
        "announces your file listener's port; your address is taken from this connection",
    ),
    verb(
        "DISCONNECT",
        "",
        Access::User,
        "leaves the list of connected users",
    ),
    verb(
        "PUBLISH",
        "<file_name> <description>",
        Access::User,
        "lists a file of your share directory (after CONNECT)",
    ),
    verb(
        "DELETE",
        "<file_name>",
        Access::User,
        "withdraws a file you published (after CONNECT)",
    ),
    verb(
        "LIST_USERS",
        "",
        Access::User,
        "the connected users: name, address, port (after CONNECT)",
    ),
    verb(
        "LIST_CONTENT",
        "<user> [n]",
        Access::User,
        "the first n of a user's published files by name (100 if n is omitted; after CONNECT)",
    ),
    verb(
        "PEER",
        "<user>",
        Access::User,
        "where to fetch a connected user's files: name, address, port (after CONNECT)",
    ),
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

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    Help {
        verb: Option<String>,
    },
    Quit,
    Register {
        user: String,
        password: Secret,
    },
    Login {
        user: String,
        password: Secret,
    },
    Logout,
    Whoami,
    Unregister {
        password: Secret,
    },
    Stats,
    Products {
        max_price: Option<Cents>,
    },
    Product {
        name: String,
    },
    Order {
        product: String,
        quantity: u64,
    },
    Orders {
        count: Option<u64>,
    },
    Restock {
        product: String,
        delta: i64,
    },
    AddProduct {
        name: String,
        price: Cents,
        stock: u64,
    },
    // File sharing.
    Connect {
        port: u16,
    },
    Disconnect,
    Publish {
        file_name: String,
        description: String,
    },
    Delete {
        file_name: String,
    },
    ListUsers,
    ListContent {
        user: String,
        count: Option<u64>,
    },
    Peer {
        user: String,
    },
    // Wallets.
    Balance,
    Paykey,
    Transfer {
        key: PayKey,
        amount: Cents,
    },
    Transfers {
        count: Option<u64>,
    },
    Deposit {
        user: String,
        amount: Cents,
    },
}

impl Request {
    /// Parses one request line (without its line ending).
    pub fn parse(line: &str) -> Result<Request, Refusal> {
        let (spec, args) = args::split_verb(line, verb_spec, |v: &VerbSpec| (v.name, v.args))?;
        let mut args = RequestArgs(args);
        let request = match spec.name {
            "PING" => Request::Ping,
            "HELP" => Request::Help {
                verb: args.optional()?,
            },
            "QUIT" => Request::Quit,
            "REGISTER" => Request::Register {
                user: args.user("user")?,
                password: args.password("password")?,
            },
            "LOGIN" => Request::Login {
                user: args.user("user")?,
                password: args.password("password")?,
            },
            "LOGOUT" => Request::Logout,
            "WHOAMI" => Request::Whoami,
            "UNREGISTER" => Request::Unregister {
                password: args.password("password")?,
            },
            "STATS" => Request::Stats,
            "PRODUCTS" => Request::Products {
                max_price: match args.optional()? {
                    Some(text) => Some(parse_money(&text)?),
                    None => None,
                },
            },
            "PRODUCT" => Request::Product {
                name: args.text("name")?,
            },
            "ORDER" => Request::Order {
                product: args.text("product")?,
                quantity: args.quantity("quantity")?,
            },
            "ORDERS" => Request::Orders {
                count: args.listed("n")?,
            },
            "RESTOCK" => Request::Restock {
                product: args.text("product")?,
                delta: args.delta("delta")?,
            },
            "ADD_PRODUCT" => Request::AddProduct {
                name: args.text("name")?,
                price: parse_money(&args.text("price")?)?,
                stock: args.count("stock")?,
            },
            // File sharing.
            "CONNECT" => Request::Connect {
                port: args.port("port")?,
            },
            "DISCONNECT" => Request::Disconnect,
            "PUBLISH" => Request::Publish {
                file_name: args.text("file_name")?,
                description: args.text("description")?,
            },
            "DELETE" => Request::Delete {
                file_name: args.text("file_name")?,
            },
            "LIST_USERS" => Request::ListUsers,
            "LIST_CONTENT" => Request::ListContent {
                user: args.user("user")?,
                count: args.listed("n")?,
            },
            "PEER" => Request::Peer {
                user: args.user("user")?,
            },
            // Wallets.
            "BALANCE" => Request::Balance,
            "PAYKEY" => Request::Paykey,
            "TRANSFER" => Request::Transfer {
                key: args.pay_key("pay_key")?,
                amount: args.amount("amount")?,
            },
            "TRANSFERS" => Request::Transfers {
                count: args.listed("n")?,
            },
            "DEPOSIT" => Request::Deposit {
                user: args.user("user")?,
                amount: args.amount("amount")?,
            },
            other => unreachable!("verb {other} is in VERBS but has no parser"),
        };
        args.finish()?;
        Ok(request)
    }

    /// The verb's name as it appears in [`VERBS`].
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Ping => "PING",
            Request::Help { .. } => "HELP",
            Request::Quit => "QUIT",
            Request::Register { .. } => "REGISTER",
            Request::Login { .. } => "LOGIN",
            Request::Logout => "LOGOUT",
            Request::Whoami => "WHOAMI",
            Request::Unregister { .. } => "UNREGISTER",
            Request::Stats => "STATS",
            Request::Products { .. } => "PRODUCTS",
            Request::Product { .. } => "PRODUCT",
            Request::Order { .. } => "ORDER",
            Request::Orders { .. } => "ORDERS",
            Request::Restock { .. } => "RESTOCK",
            Request::AddProduct { .. } => "ADD_PRODUCT",
            // File sharing.
            Request::Connect { .. } => "CONNECT",
            Request::Disconnect => "DISCONNECT",
            Request::Publish { .. } => "PUBLISH",
            Request::Delete { .. } => "DELETE",
            Request::ListUsers => "LIST_USERS",
            Request::ListContent { .. } => "LIST_CONTENT",
            Request::Peer { .. } => "PEER",
            // Wallets.
            Request::Balance => "BALANCE",
            Request::Paykey => "PAYKEY",
            Request::Transfer { .. } => "TRANSFER",
            Request::Transfers { .. } => "TRANSFERS",
            Request::Deposit { .. } => "DEPOSIT",
        }
    }

    /// The verb's entry in the help table.
    pub fn spec(&self) -> &'static VerbSpec {
        verb_spec(self.verb()).expect("every variant has a row in VERBS")
    }

    /// The request as tokens, the verb first.
    pub fn to_tokens(&self) -> Vec<String> {
        let mut tokens = vec![self.verb().to_string()];
        let args: Vec<String> = match self {
            Request::Ping
            | Request::Quit
            | Request::Logout
            | Request::Whoami
            | Request::Stats
            | Request::Balance
            | Request::Paykey => vec![],
            Request::Help { verb } => verb.iter().cloned().collect(),
            Request::Register { user, password } | Request::Login { user, password } => {
                vec![user.clone(), password.0.clone()]
            }
            Request::Unregister { password } => vec![password.0.clone()],
            Request::Products { max_price } => max_price.iter().map(Cents::to_string).collect(),
            Request::Product { name } => vec![name.clone()],
            Request::Order { product, quantity } => vec![product.clone(), quantity.to_string()],
            Request::Restock { product, delta } => vec![product.clone(), delta.to_string()],
            Request::AddProduct { name, price, stock } => {
                vec![name.clone(), price.to_string(), stock.to_string()]
            }
            // File sharing.
            Request::Connect { port } => vec![port.to_string()],
            Request::Disconnect | Request::ListUsers => vec![],
            Request::Publish {
                file_name,
                description,
            } => vec![file_name.clone(), description.clone()],
            Request::Delete { file_name } => vec![file_name.clone()],
            Request::ListContent { user, count } => {
                std::iter::once(user.clone()).chain(listed(count)).collect()
            }
            Request::Peer { user } => vec![user.clone()],
            // Wallets.
            Request::Transfer { key, amount } => vec![key.to_string(), amount.to_string()],
            Request::Orders { count } | Request::Transfers { count } => listed(count).collect(),
            Request::Deposit { user, amount } => vec![user.clone(), amount.to_string()],
        };
        tokens.extend(args);
        tokens
    }

    /// The request as one line, without the line ending.
    pub fn to_line(&self) -> String {
        token::join(&self.to_tokens())
    }

    /// Is this one of the [`FILE_SHARING_VERBS`] (which the server audits)?
    pub fn is_file_sharing(&self) -> bool {
        FILE_SHARING_VERBS.contains(&self.verb())
    }
}

/// The optional `[n]` of a list verb, as tokens (none when it was left out).
fn listed(count: &Option<u64>) -> impl Iterator<Item = String> + '_ {
    count.iter().map(u64::to_string)
}

/// Parses an amount of money, with the protocol's error.
pub fn parse_money(text: &str) -> Result<Cents, Refusal> {
    text.parse::<Cents>().map_err(|e| bad(e.to_string()))
}

/// The arguments after the verb, with the readers for the store's and the wallets'
/// argument types (quantities, amounts, pay keys, ports).
///
/// This is the door of [`names`]: every argument but a password is refused if it holds
/// a control or bidirectional character, and comes out in its canonical form (NFC; a
/// user name also folded, see [`names::user_name`]).
struct RequestArgs(Args);

impl RequestArgs {
    /// The next argument, which must be present, in NFC.
    fn text(&mut self, what: &str) -> Result<String, Refusal> {
        let text = self.0.text(what)?;
        names::check_chars(what, &text)?;
        Ok(names::nfc(&text).into_owned())
    }

    /// The next argument, a user name, in its canonical form.
    fn user(&mut self, what: &str) -> Result<String, Refusal> {
        let text = self.0.text(what)?;
        names::check_chars(what, &text)?;
        Ok(names::user_name(&text))
    }

    /// The next argument, a password, exactly as sent: it is hashed byte for byte,
    /// and changing it here would no longer match the hashes already stored.
    fn password(&mut self, what: &str) -> Result<Secret, Refusal> {
        self.0.text(what).map(Secret)
    }

    /// The next argument, if there is one (refused characters are refused, as in
    /// [`RequestArgs::text`]).
    fn optional(&mut self) -> Result<Option<String>, Refusal> {
        match self.0.optional() {
            Some(text) => {
                names::check_chars("argument", &text)?;
                Ok(Some(names::nfc(&text).into_owned()))
            }
            None => Ok(None),
        }
    }

    /// No arguments may be left over.
    fn finish(&self) -> Result<(), Refusal> {
        self.0.finish()
    }

    /// A whole number from 0 to [`MAX_QUANTITY`].
    fn count(&mut self, what: &str) -> Result<u64, Refusal> {
        self.whole(what, 0)
    }

    /// A whole number from 1 to [`MAX_QUANTITY`].
    fn quantity(&mut self, what: &str) -> Result<u64, Refusal> {
        self.whole(what, 1)
    }

    /// A whole number, digits only, from `min` to [`MAX_QUANTITY`].
    fn whole(&mut self, what: &str, min: u64) -> Result<u64, Refusal> {
        let text = self.text(what)?;
        let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<u64>() {
            Ok(n) if digits_only && (min..=MAX_QUANTITY).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "<{what}> must be a whole number from {min} to {MAX_QUANTITY}, not {}",
                token::quote(&text)
            ))),
        }
    }

    /// A signed whole number, `-20` or `+5` or `5`, at most [`MAX_QUANTITY`] either way.
    fn delta(&mut self, what: &str) -> Result<i64, Refusal> {
        let text = self.text(what)?;
        let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
        let valid = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<i64>() {
            Ok(n) if valid && n.unsigned_abs() <= MAX_QUANTITY => Ok(n),
            _ => Err(bad(format!(
                "<{what}> must be a whole number from -{MAX_QUANTITY} to {MAX_QUANTITY}, not {}",
                token::quote(&text)
            ))),
        }
    }

    /// A TCP port a peer listens on: a whole number from 1 to 65535 (port 0 means
    /// "any free port" to the operating system, so nobody can be reached on it).
    fn port(&mut self, what: &str) -> Result<u16, Refusal> {
        let text = self.text(what)?;
        match text.parse::<u16>() {
            Ok(n) if n >= 1 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(bad(format!(
                "<{what}> must be a whole number from 1 to {}, not {}",
                u16::MAX,
                token::quote(&text)
            ))),
        }
    }

    /// An amount of money above zero (a transfer or a deposit of nothing is a mistake).
    fn amount(&mut self, what: &str) -> Result<Cents, Refusal> {
        let text = self.text(what)?;
        match parse_money(&text)? {
            Cents(0) => Err(bad(format!(
                "<{what}> must be above 0, not {}",
                token::quote(&text)
            ))),
            amount => Ok(amount),
        }
    }

    /// A pay key, in the form PAYKEY shows.
    fn pay_key(&mut self, what: &str) -> Result<PayKey, Refusal> {
        let text = self.text(what)?;
        text.parse()
            .map_err(|e: super::pay_key::PayKeyError| bad(e.to_string()))
    }

    /// An optional count of rows to list, from 1 to [`MAX_LISTED`].
    fn listed(&mut self, what: &str) -> Result<Option<u64>, Refusal> {
        let Some(text) = self.optional()? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (1..=MAX_LISTED).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(n))
            }
            _ => Err(bad(format!(
                "[{what}] must be a whole number from 1 to {MAX_LISTED}, not {}",
                token::quote(&text)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use proptest::prelude::*;

    fn code(line: &str) -> ErrorCode {
        Request::parse(line).expect_err(line).code
    }

    #[test]
    fn parses_every_verb_case_insensitively() {
        assert_eq!(Request::parse("ping"), Ok(Request::Ping));
        assert_eq!(
            Request::parse("order \"Maçã\" 3"),
            Ok(Request::Order {
                product: "Maçã".into(),
                quantity: 3
            })
        );
        assert_eq!(
            Request::parse("Restock Caju -20"),
            Ok(Request::Restock {
                product: "Caju".into(),
                delta: -20
            })
        );
        assert_eq!(
            Request::parse("PRODUCTS 5.00"),
            Ok(Request::Products {
                max_price: Some(Cents(500))
            })
        );
        assert_eq!(
            Request::parse("products"),
            Ok(Request::Products { max_price: None })
        );
    }

    #[test]
    fn refuses_bad_arguments() {
        assert_eq!(code(""), ErrorCode::BadRequest);
        assert_eq!(code("FLY me"), ErrorCode::UnknownCommand);
        assert_eq!(code("ORDER Caju"), ErrorCode::BadRequest);
        assert_eq!(code("ORDER Caju 1 2"), ErrorCode::BadRequest);
        assert_eq!(code("PING extra"), ErrorCode::BadRequest);
        for qty in [
            "0",
            "-1",
            "x",
            "1.5",
            "99999999999999999999",
            "1000000001",
            "+1",
        ] {
            assert_eq!(
                code(&format!("ORDER Caju {qty}")),
                ErrorCode::BadRequest,
                "{qty}"
            );
        }
        assert_eq!(code("RESTOCK Caju --1"), ErrorCode::BadRequest);
        assert_eq!(code("RESTOCK Caju -"), ErrorCode::BadRequest);
        assert_eq!(code("PRODUCTS 1e3"), ErrorCode::BadRequest);
        assert_eq!(code("ORDER \"Caju 1"), ErrorCode::BadRequest);
    }

    #[test]
    fn file_sharing_verbs() {
        assert_eq!(
            Request::parse("connect 40001"),
            Ok(Request::Connect { port: 40001 })
        );
        assert_eq!(
            Request::parse(r#"PUBLISH "fotos/praia, 2026.jpg" "Férias \"boas\" em Maçã""#),
            Ok(Request::Publish {
                file_name: "fotos/praia, 2026.jpg".into(),
                description: "Férias \"boas\" em Maçã".into()
            })
        );
        assert_eq!(Request::parse("list_users"), Ok(Request::ListUsers));
        for port in ["0", "65536", "70000", "abc", "-1", "+80", "80.0", "\"\""] {
            assert_eq!(
                code(&format!("CONNECT {port}")),
                ErrorCode::BadRequest,
                "{port:?}"
            );
        }
        assert_eq!(code("CONNECT"), ErrorCode::BadRequest);
        assert_eq!(code("PUBLISH only-a-name"), ErrorCode::BadRequest);
        assert_eq!(code("LIST_CONTENT"), ErrorCode::BadRequest);
        for name in FILE_SHARING_VERBS {
            assert!(verb_spec(name).is_some(), "{name} is in VERBS");
        }
        assert!(Request::Disconnect.is_file_sharing());
        assert!(!Request::Orders { count: None }.is_file_sharing());
    }

    #[test]
    fn passwords_never_appear_in_debug_output() {
        let request = Request::parse("LOGIN alice hunter22").unwrap();
        assert!(!format!("{request:?}").contains("hunter22"));
    }

    #[test]
    fn every_verb_has_a_parser() {
        for spec in VERBS {
            // Fill every argument slot with a plausible value.
            let args: Vec<&str> = spec
                .args
                .split_whitespace()
                .filter(|a| a.starts_with('<'))
                .map(|a| match a {
                    "<pay_key>" => "0000-0000-0000-0001",
                    _ => "1",
                })
                .collect();
            let line = format!("{} {}", spec.name, args.join(" "));
            let request = Request::parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(request.verb(), spec.name);
        }
    }

    #[test]
    fn parses_the_wallet_verbs() {
        let key: PayKey = "7KQ2-M9XD-4TRW-8BNP".parse().unwrap();
        assert_eq!(Request::parse("balance"), Ok(Request::Balance));
        assert_eq!(Request::parse("PAYKEY"), Ok(Request::Paykey));
        assert_eq!(
            Request::parse("TRANSFER 7kq2-m9xd-4trw-8bnp 12.5"),
            Ok(Request::Transfer {
                key,
                amount: Cents(1250)
            })
        );
        assert_eq!(
            Request::parse("TRANSFERS"),
            Ok(Request::Transfers { count: None })
        );
        assert_eq!(
            Request::parse("TRANSFERS 5"),
            Ok(Request::Transfers { count: Some(5) })
        );
        assert_eq!(
            Request::parse("orders"),
            Ok(Request::Orders { count: None })
        );
        assert_eq!(
            Request::parse("ORDERS 1000"),
            Ok(Request::Orders { count: Some(1000) })
        );
        assert_eq!(
            Request::parse("LIST_CONTENT \"joão\" 3"),
            Ok(Request::ListContent {
                user: "joão".into(),
                count: Some(3)
            })
        );
        assert_eq!(
            Request::parse("DEPOSIT joão 0.01"),
            Ok(Request::Deposit {
                user: "joão".into(),
                amount: Cents(1)
            })
        );
    }

    #[test]
    fn refuses_bad_amounts_keys_and_counts() {
        let key = "7KQ2-M9XD-4TRW-8BNP";
        for amount in [
            "-1",
            "0",
            "0.00",
            "1.234",
            "1e3",
            "NaN",
            "99999999999999999999",
            "",
        ] {
            assert_eq!(
                code(&format!("TRANSFER {key} \"{amount}\"")),
                ErrorCode::BadRequest,
                "{amount:?}"
            );
            assert_eq!(
                code(&format!("DEPOSIT alice \"{amount}\"")),
                ErrorCode::BadRequest,
                "{amount:?}"
            );
        }
        for bad_key in ["x", "7KQ2-M9XD-4TRW", "7KQ2-M9XD-4TRW-8BNU", "\"\""] {
            assert_eq!(
                code(&format!("TRANSFER {bad_key} 1.00")),
                ErrorCode::BadRequest,
                "{bad_key}"
            );
        }
        assert_eq!(code(&format!("TRANSFER {key}")), ErrorCode::BadRequest);
        assert_eq!(code(&format!("TRANSFER {key} 1 2")), ErrorCode::BadRequest);
        for count in ["0", "-1", "1001", "x", "+3", "1.5", "\"\""] {
            for verb in ["TRANSFERS", "ORDERS", "LIST_CONTENT alice"] {
                assert_eq!(
                    code(&format!("{verb} {count}")),
                    ErrorCode::BadRequest,
                    "{verb} {count}"
                );
            }
        }
        assert_eq!(code("ORDERS 5 6"), ErrorCode::BadRequest);
        assert_eq!(code("LIST_CONTENT alice 5 6"), ErrorCode::BadRequest);
        assert_eq!(code("BALANCE alice"), ErrorCode::BadRequest);
    }

    #[test]
    fn names_arrive_in_their_canonical_form() {
        let decomposed = "Mac\u{327}a\u{303}";
        assert_eq!(
            Request::parse(&format!("ORDER \"{decomposed}\" 1")),
            Ok(Request::Order {
                product: "Maçã".into(),
                quantity: 1
            })
        );
        assert_eq!(
            Request::parse("LOGIN ALICE Alice-Pass"),
            Ok(Request::Login {
                user: "alice".into(),
                password: Secret("Alice-Pass".into())
            }),
            "the user name is folded, the password is not"
        );
        assert_eq!(
            Request::parse("LIST_CONTENT \u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}"),
            Ok(Request::ListContent {
                user: "admin".into(),
                count: None
            })
        );
        // A password keeps its bytes, even those refused in names.
        assert_eq!(
            Request::parse("UNREGISTER \"pass\\tword\""),
            Ok(Request::Unregister {
                password: Secret("pass\tword".into())
            })
        );
    }

    #[test]
    fn control_and_bidi_characters_are_refused_in_every_name() {
        for line in [
            "ADD_PRODUCT \"a\u{1b}[31mb\" 1.00 1",
            "PRODUCT \"\u{7}\"",
            "ORDER \"Caju\u{202e}\" 1",
            "RESTOCK \"Caju\u{9b}\" 1",
            "PUBLISH \"gpj.\u{202e}exe\" x",
            "PUBLISH ok.txt \"desc\u{2066}\"",
            "DELETE \"a\u{7f}\"",
            "LIST_CONTENT \"bob\u{0}\"",
            "REGISTER \"eve\u{200f}\" eve-password",
            "LOGIN \"alice\\n\" alice-pass",
            "HELP \"PING\u{1b}\"",
        ] {
            assert_eq!(code(line), ErrorCode::BadRequest, "{line:?}");
        }
    }

    proptest! {
        /// The client's encoding is what the server parses.
        #[test]
        fn to_line_then_parse_round_trips(
            product in "\\PC{1,20}",
            quantity in 1..=MAX_QUANTITY,
            delta in -(MAX_QUANTITY as i64)..=(MAX_QUANTITY as i64),
        ) {
            // The parser hands back names in their canonical form: start from that.
            let product = names::nfc(&product).into_owned();
            let user = names::user_name(&product);
            for request in [
                Request::Deposit { user: user.clone(), amount: Cents(quantity as i64) },
                Request::Order { product: product.clone(), quantity },
                Request::Restock { product: product.clone(), delta },
                Request::Product { name: product.clone() },
                Request::Publish { file_name: product.clone(), description: product.clone() },
                Request::ListContent { user: user.clone(), count: None },
                Request::ListContent { user: user.clone(), count: Some(quantity % 1000 + 1) },
                Request::Orders { count: Some(quantity % 1000 + 1) },
            ] {
                prop_assert_eq!(Request::parse(&request.to_line()), Ok(request));
            }
        }

        /// No line makes the parser panic.
        #[test]
        fn parse_never_panics(line in any::<String>()) {
            let _ = Request::parse(&line);
        }
    }
}
