//! The workloads, and one connection's loop that runs them.
//!
//! Why one OS thread per connection, one request at a time: it is the same model as the
//! server (and as most real clients), so the numbers answer the question a student
//! asks: "if N people use this at once, how fast does each of them get an answer?"
//! Pipelining would measure something else (how fast the server parses a backlog).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::redis::RedisClient;
use super::report::Latencies;
use crate::client::Client;
use crate::protocol::token::quote;
use crate::protocol::{Cents, Reply};

/// What a connection does over and over during a measured phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `PING`: the cost of the protocol and the thread model alone.
    Ping,
    /// `PRODUCT <name>`: a read under the products read lock.
    Product,
    /// `ORDER <name> <1..3>`: a durable write (journal line + group-committed fsync).
    Order,
    /// `TRANSFER <pay key> 0.01` to another bench account (needs the wallets verbs).
    Transfer,
    /// 75% PRODUCT, 10% PRODUCTS, 15% ORDER; with wallets, a tenth of the reads are
    /// TRANSFERs instead.
    Mixed,
    /// Redis only: `INCRBY feira-bench 1`, a durable write with `appendfsync always`.
    Incr,
}

impl Workload {
    /// Every workload, for `--help` and error messages.
    pub const ALL: [Workload; 6] = [
        Workload::Ping,
        Workload::Product,
        Workload::Order,
        Workload::Transfer,
        Workload::Mixed,
        Workload::Incr,
    ];

    /// The workload's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Ping => "ping",
            Workload::Product => "product",
            Workload::Order => "order",
            Workload::Transfer => "transfer",
            Workload::Mixed => "mixed",
            Workload::Incr => "incr",
        }
    }

    /// A workload from its name.
    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Does it change the store (and so need its invariants checked afterwards)?
    pub fn writes(self) -> bool {
        matches!(self, Workload::Order | Workload::Transfer | Workload::Mixed)
    }

    /// Whether this workload runs over the gRPC door (`feira-bench --grpc`).
    pub fn grpc_can_run(self) -> bool {
        matches!(self, Workload::Product | Workload::Order)
    }

    /// Can a Redis server run it?
    pub fn redis_can_run(self) -> bool {
        matches!(self, Workload::Ping | Workload::Incr)
    }
}

/// What every connection needs to know to build its requests (decided during setup).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The product read and ordered.
    pub product: String,
    /// The accounts, shared round-robin between connections: (user, password).
    pub accounts: Vec<(String, String)>,
    /// Each account's pay key, when the server has wallets (index-aligned with accounts).
    pub pay_keys: Vec<String>,
    /// TRANSFER pays the first account (which pays the second): every writer updates
    /// one payee's wallet row. Otherwise each pays the next account along.
    pub hot_row: bool,
}

/// The largest quantity one ORDER asks for (quantities cycle 1, 2, 3).
pub const MAX_ORDER_QUANTITY: u64 = 3;

/// An order the server acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    pub id: u64,
    pub quantity: u64,
    pub total: Cents,
}

/// One connection's results for one phase.
#[derive(Default)]
pub struct PhaseResult {
    pub latencies: Latencies,
    /// ERR replies by code; `IO` counts requests that got no reply.
    pub errors: BTreeMap<String, u64>,
    /// Orders acknowledged with OK.
    pub orders: Vec<Acked>,
    /// Write requests whose reply was lost (they may or may not have happened).
    pub lost_writes: u64,
    /// The connection broke; it takes no part in later phases.
    pub broken: bool,
}

enum Conn {
    Feira(Client),
    Redis(RedisClient),
    /// feira's gRPC door (`feira-bench --grpc`): the same workloads as typed calls.
    #[cfg(feature = "grpc")]
    Grpc(Box<crate::grpc::client::GrpcClient>),
}

/// One connection, logged in, with its requests ready to send.
pub struct Worker {
    conn: Conn,
    /// A small per-connection random generator (xorshift) for the mixed workload.
    rng: u64,
    /// Requests encoded once, so the loop measures the server, not `format!`.
    product_line: String,
    order_lines: [String; 3],
    transfer_line: Option<String>,
    step: u64,
}

impl Worker {
    /// Connects to feira and logs in as account `index % accounts`; returns the worker
    /// and how long the login took.
    pub fn feira(
        addr: SocketAddr,
        timeout: Duration,
        index: usize,
        plan: &Plan,
    ) -> Result<(Worker, Duration), String> {
        let mut client =
            Client::connect(addr, timeout).map_err(|e| format!("cannot connect: {e}"))?;
        let (user, password) = plan
            .accounts
            .get(index % plan.accounts.len().max(1))
            .ok_or("no accounts to log in with")?;
        let start = Instant::now();
        client
            .login(user, password)
            .map_err(|e| format!("login as {user} failed: {e}"))?;
        let login = start.elapsed();
        let product = quote(&plan.product).into_owned();
        // Pay the next account along, so that money goes round in a circle; or, for
        // one hot row, everybody pays the first account (and it pays the second).
        let transfer_line = match plan.pay_keys.len() {
            0 | 1 => None,
            n => {
                let payer = index % n;
                let payee = match plan.hot_row {
                    true if payer != 0 => 0,
                    true => 1,
                    false => (payer + 1) % n,
                };
                Some(format!("TRANSFER {} 0.01", quote(&plan.pay_keys[payee])))
            }
        };
        Ok((
            Worker {
                conn: Conn::Feira(client),
                rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
                product_line: format!("PRODUCT {product}"),
                order_lines: [1, 2, 3].map(|q| format!("ORDER {product} {q}")),
                transfer_line,
                step: index as u64,
            },
            login,
        ))
    }

    /// Connects to feira's gRPC door and logs in (`Login`) as account `index %
    /// accounts`; the same requests as [`Worker::feira`], as calls (PRODUCT is
    /// `GetProduct`, ORDER is `PlaceOrder`).
    #[cfg(feature = "grpc")]
    pub fn grpc(
        addr: SocketAddr,
        timeout: Duration,
        index: usize,
        plan: &Plan,
    ) -> Result<(Worker, Duration), String> {
        let mut client = crate::grpc::client::GrpcClient::connect(&addr.to_string(), timeout)?;
        let (user, password) = plan
            .accounts
            .get(index % plan.accounts.len().max(1))
            .ok_or("no accounts to log in with")?;
        let start = Instant::now();
        client
            .login(user, password)
            .map_err(|e| format!("login as {user} over gRPC failed: {}", e.message()))?;
        let login = start.elapsed();
        Ok((
            Worker {
                conn: Conn::Grpc(Box::new(client)),
                rng: 1,
                // The product's name, unquoted: a call's fields need no quoting.
                product_line: plan.product.clone(),
                order_lines: Default::default(),
                transfer_line: None,
                step: index as u64,
            },
            login,
        ))
    }

    /// Connects to Redis (which needs no login).
    pub fn redis(addr: SocketAddr, timeout: Duration) -> Result<Worker, String> {
        let client = RedisClient::connect(addr, timeout)
            .map_err(|e| format!("cannot connect to redis: {e}"))?;
        Ok(Worker {
            conn: Conn::Redis(client),
            rng: 1,
            product_line: String::new(),
            order_lines: Default::default(),
            transfer_line: None,
            step: 0,
        })
    }

    /// Runs `workload` until `duration` has passed, counting answered requests in `ops`.
    pub fn run_phase(
        &mut self,
        workload: Workload,
        duration: Duration,
        ops: &AtomicU64,
    ) -> PhaseResult {
        let mut result = PhaseResult::default();
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            let (kind, line) = self.next_request(workload);
            let start = Instant::now();
            let outcome = self.send(line);
            let elapsed = start.elapsed();
            match outcome {
                Ok(Answer::Ok(reply)) => {
                    result.latencies.record(elapsed);
                    if kind == Kind::Order
                        && let Some(acked) = reply.as_ref().and_then(parse_order)
                    {
                        result.orders.push(acked);
                    }
                }
                Ok(Answer::Ordered(acked)) => {
                    result.latencies.record(elapsed);
                    result.orders.push(acked);
                }
                Ok(Answer::Err(code)) => {
                    result.latencies.record(elapsed);
                    *result.errors.entry(code).or_default() += 1;
                }
                Err(_) => {
                    *result.errors.entry("IO".into()).or_default() += 1;
                    if kind != Kind::Read {
                        result.lost_writes += 1;
                    }
                    result.broken = true;
                    return result;
                }
            }
            ops.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The next request of a workload, and what kind of request it is.
    fn next_request(&mut self, workload: Workload) -> (Kind, Line) {
        self.step = self.step.wrapping_add(1);
        match workload {
            Workload::Ping => (Kind::Read, Line::Ping),
            Workload::Incr => (Kind::Write, Line::Incr),
            Workload::Product => (Kind::Read, Line::Product),
            Workload::Order => (Kind::Order, Line::Order((self.step % 3) as usize)),
            Workload::Transfer => (Kind::Write, Line::Transfer),
            Workload::Mixed => {
                let roll = self.next_random() % 100;
                let transfers = self.transfer_line.is_some();
                match roll {
                    0..15 => (Kind::Order, Line::Order((self.step % 3) as usize)),
                    15..25 => (Kind::Read, Line::Products),
                    25..35 if transfers => (Kind::Write, Line::Transfer),
                    _ => (Kind::Read, Line::Product),
                }
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: plenty for choosing requests, and no dependency.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn send(&mut self, line: Line) -> io::Result<Answer> {
        match &mut self.conn {
            Conn::Feira(client) => {
                let text = match line {
                    Line::Ping => "PING",
                    Line::Product => &self.product_line,
                    Line::Products => "PRODUCTS",
                    Line::Order(i) => &self.order_lines[i],
                    Line::Transfer => self.transfer_line.as_deref().unwrap_or("TRANSFER"),
                    Line::Incr => "PING",
                };
                let reply = client.call_line(text)?;
                Ok(match reply.code() {
                    None => Answer::Ok(Some(reply)),
                    Some(code) => Answer::Err(code.as_str().to_string()),
                })
            }
            #[cfg(feature = "grpc")]
            Conn::Grpc(client) => {
                let refused = |status: tonic::Status| {
                    // The message starts with feira's own code (src/grpc/status.rs).
                    let code = status.message().split(' ').next().unwrap_or("ERR");
                    Answer::Err(code.to_string())
                };
                let outcome = match line {
                    Line::Product => client
                        .get_product(&self.product_line)
                        .map(|_| Answer::Ok(None)),
                    Line::Order(i) => {
                        client
                            .place_order(&self.product_line, i as i64 + 1)
                            .map(|order| {
                                Answer::Ordered(Acked {
                                    id: order.id,
                                    quantity: order.quantity.unsigned_abs(),
                                    total: Cents(order.total_cents),
                                })
                            })
                    }
                    _ => return Err(io::Error::other("only product and order run over gRPC")),
                };
                match outcome {
                    Ok(answer) => Ok(answer),
                    // No answer at all (the connection broke, the call timed out).
                    Err(status)
                        if matches!(
                            status.code(),
                            tonic::Code::Unavailable
                                | tonic::Code::Cancelled
                                | tonic::Code::DeadlineExceeded
                        ) =>
                    {
                        Err(io::Error::other(status.message().to_string()))
                    }
                    Err(status) => Ok(refused(status)),
                }
            }
            Conn::Redis(client) => {
                let command = match line {
                    Line::Incr => "INCRBY feira-bench 1",
                    _ => "PING",
                };
                Ok(match client.call(command)? {
                    Ok(_) => Answer::Ok(None),
                    Err(message) => {
                        Answer::Err(message.split(' ').next().unwrap_or("ERR").to_string())
                    }
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Order,
}

#[derive(Debug, Clone, Copy)]
enum Line {
    Ping,
    Product,
    Products,
    Order(usize),
    Transfer,
    Incr,
}

enum Answer {
    /// OK, with the reply when it may carry data we need.
    Ok(Option<Reply>),
    /// An order acknowledged (the gRPC door's typed reply).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    Ordered(Acked),
    /// ERR with this code.
    Err(String),
}

/// An ORDER reply's data line: id, product, quantity, unit price, total, time.
fn parse_order(reply: &Reply) -> Option<Acked> {
    let row = reply.data.first()?;
    Some(Acked {
        id: row.first()?.parse().ok()?,
        quantity: row.get(2)?.parse().ok()?,
        total: row.get(4)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for workload in Workload::ALL {
            assert_eq!(Workload::parse(workload.name()), Some(workload));
        }
        assert_eq!(Workload::parse(" ORDER "), Some(Workload::Order));
        assert_eq!(Workload::parse("fly"), None);
    }

    #[test]
    fn reads_an_order_reply() {
        let reply = Reply::rows(
            vec![vec![
                "12".into(),
                "feira-bench".into(),
                "3".into(),
                "0.01".into(),
                "0.03".into(),
                "2026-11-27T15:00:00Z".into(),
            ]],
            "order 12",
        );
        assert_eq!(
            parse_order(&reply),
            Some(Acked {
                id: 12,
                quantity: 3,
                total: Cents(3)
            })
        );
        assert_eq!(parse_order(&Reply::ok("")), None);
    }
}
