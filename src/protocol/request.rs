//! A request: one variant per verb, parsed once at the edge of the server.
//!
//! Why an enum: after [`Request::parse`], the rest of the server matches on variants
//! with typed fields (a [`Cents`], a `u64`), never on strings. The same type encodes
//! requests in the client ([`Request::to_line`]), so the two sides cannot drift apart.
//!
//! Adding a verb: a row in [`VERBS`](super::verbs::VERBS), a variant, an arm in `parse` and in `to_tokens`,
//! a handler in `server::dispatch`, and an entry in docs/PROTOCOL.md.

use std::fmt;

use super::args::{self, Args, bad};
use super::listing::MAX_LISTED;
use super::money::Cents;
use super::names;
use super::pay_key::PayKey;
use super::reply::Refusal;
use super::token;
use super::verbs::{FILE_SHARING_VERBS, VerbSpec, verb_spec};

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

    /// The verb's name as it appears in [`VERBS`](super::verbs::VERBS).
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
mod tests;
