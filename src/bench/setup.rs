//! Before a run: the accounts, the product, the money, and which workloads can run.
//!
//! Why through the protocol: the benchmark is a client like any other, so it can be
//! pointed at any feira server (a fresh copy of the demo data, or one with a million
//! orders). It asks the server what it knows (`HELP <verb>`) instead of assuming, so a
//! workload whose verbs are missing (TRANSFER before the wallets are merged) is skipped
//! with a message rather than reported as a wall of errors.

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use super::workload::{Plan, Workload};
use crate::client::Client;
use crate::protocol::token::quote;
use crate::protocol::{Cents, ErrorCode, Reply};

/// The product the benchmark creates and orders: cheap, with a huge stock, so that
/// orders never run out during a run and the demo products stay untouched.
pub const BENCH_PRODUCT: &str = "feira-bench";
/// Its stock is topped up to this before each run.
pub const BENCH_STOCK: u64 = 1_000_000_000;

/// Who the benchmark logs in as.
#[derive(Debug, Clone)]
pub enum Accounts {
    /// These existing accounts, shared round-robin (sessions of one user are fine).
    Existing(Vec<(String, String)>),
    /// `bench-1` .. `bench-N`, registered first if they do not exist.
    Register(usize),
}

/// The demo customers, used when no accounts are given.
pub fn demo_accounts() -> Accounts {
    Accounts::Existing(vec![
        ("alice".into(), "alice-pass".into()),
        ("bob".into(), "bob-pass".into()),
    ])
}

/// The outcome of setup.
pub struct Prepared {
    pub plan: Plan,
    /// The workloads that can run, in the order asked for.
    pub workloads: Vec<Workload>,
    /// An admin session, for reading stock before and after a write workload.
    pub admin: Option<Client>,
    /// One session per account, when the server has wallets (to read balances).
    pub observers: Vec<Client>,
}

/// Does the server know this verb? (`HELP <verb>` answers NOT_FOUND when it does not.)
pub fn knows(client: &mut Client, verb: &str) -> bool {
    client
        .call_line(&format!("HELP {verb}"))
        .is_ok_and(|reply| reply.is_ok())
}

/// Sends a line and turns anything but OK into a message.
pub fn expect_ok(client: &mut Client, line: &str) -> Result<Reply, String> {
    let reply = client
        .call_line(line)
        .map_err(|e| format!("{line}: no reply: {e}"))?;
    match &reply.status {
        Ok(_) => Ok(reply),
        Err(refusal) => Err(format!("{line}: {refusal}")),
    }
}

/// Prepares a feira server for `workloads`.
pub fn prepare(
    addr: SocketAddr,
    timeout: Duration,
    workloads: &[Workload],
    accounts: &Accounts,
    admin: (&str, &str),
) -> Result<Prepared, String> {
    let mut runnable = Vec::new();
    for &workload in workloads {
        if workload == Workload::Incr {
            eprintln!("feira-bench: skipping incr: it is a Redis workload (use --redis)");
        } else {
            runnable.push(workload);
        }
    }
    let needs_store = runnable.iter().any(|w| *w != Workload::Ping);
    let accounts = match accounts {
        Accounts::Existing(list) => list.clone(),
        Accounts::Register(n) => register_bench_users(addr, timeout, *n)?,
    };
    if accounts.is_empty() {
        return Err("no accounts to log in with".into());
    }
    let mut plan = Plan {
        product: BENCH_PRODUCT.to_string(),
        accounts,
        pay_keys: Vec::new(),
        hot_row: false,
    };
    if !needs_store {
        return Ok(Prepared {
            plan,
            workloads: runnable,
            admin: None,
            observers: Vec::new(),
        });
    }

    let mut admin_client =
        Client::connect(addr, timeout).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    admin_client.login(admin.0, admin.1).map_err(|e| {
        format!(
            "the product, order and mixed workloads need an admin account to create the \
             product {BENCH_PRODUCT:?} (--admin user:password); login as {} failed: {e}",
            admin.0
        )
    })?;
    ensure_product(&mut admin_client)?;

    let wallets = knows(&mut admin_client, "BALANCE");
    let transfers = knows(&mut admin_client, "TRANSFER") && knows(&mut admin_client, "PAYKEY");
    if runnable.contains(&Workload::Transfer) && !transfers {
        eprintln!(
            "feira-bench: skipping transfer: this server does not know TRANSFER and PAYKEY \
             (the wallets are not part of it yet)"
        );
        runnable.retain(|w| *w != Workload::Transfer);
    }
    if runnable.contains(&Workload::Transfer) && plan.accounts.len() < 2 {
        eprintln!("feira-bench: skipping transfer: it needs at least two accounts (--users 2)");
        runnable.retain(|w| *w != Workload::Transfer);
    }

    // With wallets, orders cost money: top every account up, and keep one session per
    // account to read balances before and after.
    let mut observers = Vec::new();
    if wallets {
        let deposits = knows(&mut admin_client, "DEPOSIT");
        for (user, password) in &plan.accounts {
            if deposits {
                // A refusal (a cap on balances, say) is not fatal: the run then shows
                // INSUFFICIENT_FUNDS errors, which is the truth.
                if let Err(e) = expect_ok(
                    &mut admin_client,
                    &format!("DEPOSIT {} 100000.00", quote(user)),
                ) {
                    eprintln!("feira-bench: {e}");
                }
            }
            let mut observer = Client::connect(addr, timeout)
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            observer
                .login(user, password)
                .map_err(|e| format!("login as {user} failed: {e}"))?;
            if transfers {
                let reply = expect_ok(&mut observer, "PAYKEY")?;
                let key = reply
                    .data
                    .first()
                    .and_then(|row| row.first().cloned())
                    .or_else(|| {
                        reply
                            .status
                            .as_ref()
                            .ok()?
                            .split(' ')
                            .next()
                            .map(str::to_string)
                    })
                    .ok_or_else(|| format!("cannot read {user}'s pay key from {reply:?}"))?;
                plan.pay_keys.push(key);
            }
            observers.push(observer);
        }
    }
    Ok(Prepared {
        plan,
        workloads: runnable,
        admin: Some(admin_client),
        observers,
    })
}

/// Creates the bench product, or tops its stock up to [`BENCH_STOCK`].
fn ensure_product(admin: &mut Client) -> Result<(), String> {
    let product = quote(BENCH_PRODUCT);
    let reply = admin
        .call_line(&format!("ADD_PRODUCT {product} 0.01 {BENCH_STOCK}"))
        .map_err(|e| format!("ADD_PRODUCT: no reply: {e}"))?;
    match reply.code() {
        None | Some(ErrorCode::Conflict) => {}
        Some(_) => return Err(format!("cannot create {BENCH_PRODUCT}: {reply:?}")),
    }
    let stock = read_stock(admin, BENCH_PRODUCT)?;
    if stock < BENCH_STOCK {
        expect_ok(admin, &format!("RESTOCK {product} {}", BENCH_STOCK - stock))?;
    }
    Ok(())
}

/// A product's stock, read with PRODUCT (data line: name, price, stock).
pub fn read_stock(client: &mut Client, product: &str) -> Result<u64, String> {
    let reply = expect_ok(client, &format!("PRODUCT {}", quote(product)))?;
    let text = reply
        .data
        .first()
        .and_then(|row| row.get(2))
        .ok_or_else(|| format!("PRODUCT {product}: no stock in {reply:?}"))?;
    text.parse()
        .map_err(|_| format!("PRODUCT {product}: the stock {text:?} is not a whole number >= 0"))
}

/// A session's balance, read with BALANCE (the first amount in the reply).
pub fn read_balance(client: &mut Client) -> Result<Cents, String> {
    let reply = expect_ok(client, "BALANCE")?;
    let from_data = reply.data.iter().flatten().find_map(|t| t.parse().ok());
    let from_text = || {
        reply
            .status
            .as_ref()
            .ok()?
            .split(' ')
            .find_map(|t| t.parse().ok())
    };
    from_data
        .or_else(from_text)
        .ok_or_else(|| format!("cannot read an amount in the BALANCE reply {reply:?}"))
}

/// Registers `bench-1` .. `bench-N` (a taken name is fine), a few at a time.
fn register_bench_users(
    addr: SocketAddr,
    timeout: Duration,
    count: usize,
) -> Result<Vec<(String, String)>, String> {
    let accounts: Vec<(String, String)> = (1..=count)
        .map(|i| (format!("bench-{i}"), format!("bench-pass-{i}")))
        .collect();
    // Each REGISTER costs one password hash (~25 ms of CPU): a few threads are enough
    // to keep the server's hash gate busy.
    let threads = count.clamp(1, 8);
    let chunks: Vec<Vec<(String, String)>> = (0..threads)
        .map(|t| accounts.iter().skip(t).step_by(threads).cloned().collect())
        .collect();
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let mut client = Client::connect(addr, timeout)
                        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                    for (user, password) in chunk {
                        let reply = client
                            .call_line(&format!("REGISTER {user} {password}"))
                            .map_err(|e| format!("REGISTER {user}: no reply: {e}"))?;
                        match reply.code() {
                            None | Some(ErrorCode::Conflict) => {}
                            Some(_) => return Err(format!("REGISTER {user}: {reply:?}")),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a register thread panicked".into()))
            })
            .collect()
    });
    for result in results {
        result?;
    }
    Ok(accounts)
}
