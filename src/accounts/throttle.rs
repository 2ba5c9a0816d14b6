//! The throttle: who may try a password (or register) now, and who is refused at once.
//!
//! Why it exists: every LOGIN costs the server an argon2 hash, about 25 ms of a core on
//! purpose. That gives a guesser two weapons: many guesses at one name, and so many
//! attempts that real users queue behind them for the hash. The throttle takes both away
//! *before* any hashing: an attempt over a limit is answered at once with
//! `ERR THROTTLED ... retry in N s`. It costs the server no hash and nobody else any time.
//!
//! # The policy
//!
//! Each limit is a *token bucket*: a key may spend `burst` tokens at once, and gets one
//! back every `every`. A LOGIN needs a token from three buckets:
//!
//! | bucket | burst, then | against |
//! |---|---|---|
//! | a name, from one address | 3, then one every 8 s | guessing one name from one place |
//! | a name, from anywhere | 10, then one every 4 s | guessing one name from many places |
//! | an address, any names | 30, then one a second | floods of made-up names; one password tried on many names |
//!
//! A correct password gives back the tokens its attempt took and forgives the earlier
//! failures of that name from that address. A wrong one keeps them: tokens count
//! failures. UNREGISTER checks a password too, and counts as a login.
//!
//! The name-wide bucket refills twice as fast as a name-and-address bucket, so one
//! address can never empty it: an attacker hammering `bob` from one address is refused,
//! while bob, from any other address, gets in at once. Only several addresses guessing
//! the same name together can slow its owner down too. A flood from your *own* address
//! (your classroom's NAT) uses up that address's bucket, and then your correct password
//! is refused too until the flood stops: the server cannot tell your attempt from the
//! flood's without hashing it.
//!
//! REGISTER needs a token from a fourth bucket, per address:
//! `--max-registrations-per-hour` (60) at once, refilled at that many an hour. Only a
//! registration that creates an account keeps its token, since an account is what costs:
//! a new wallet holds the initial balance, money made from nothing (docs/RELIABILITY.md).
//!
//! A name is counted the same way whether an account has it or not: the same buckets,
//! the same replies, the same timing (an unknown name is checked against a dummy hash, see
//! [`accounts::authenticate`](super::authenticate)). So the throttle tells
//! nobody which names exist. A name is counted in its canonical form (the parser hands
//! every user name over that way), so `LOGIN Bob` is a guess at `bob`.
//!
//! # Reserve, then hash: the limit holds across connections
//!
//! A token is taken *before* the hash, under the throttle's mutex, and given back
//! afterwards if the password was right. Sixty parallel connections guessing one name
//! therefore find the bucket empty as soon as the tokens are out, whatever the
//! interleaving; none of them learns anything until its token was taken.
//!
//! Admission has three steps ([`Throttle::admit_login`]):
//! 1. *check*: an attempt over a limit now is refused at once, before it queues for anything;
//! 2. *queue*: wait for this address's turn at the hash gate ([`HashGate::wait_turn`]): one
//!    address has at most as many attempts queued or hashing as the gate has places, so a
//!    flood from one address cannot push anybody else's hash back more than a hash or so;
//! 3. *reserve*: take the tokens (checked again: a parallel attempt may have taken the last).
//!
//! Queueing before reserving means a burst of *correct* logins from one address (thirty
//! students behind one NAT, a benchmark opening a thousand sessions) has at most a few
//! tokens out at any moment, and never empties the address's bucket.
//!
//! # Refused at once, then a pause
//!
//! The `THROTTLED` reply goes out at once, and says when to retry. A client that ignores
//! it and asks again straight away would turn its connection into a busy loop of
//! refusals: cheap one by one, but two hundred such loops on two cores leave a real
//! user's hash one runnable thread among four hundred, and a login takes 0.25 to 1.6 s
//! where it takes 0.1 s with the pause (tests/logins.rs, debug build). So the session
//! reads a connection's next request only [`PAUSE_AFTER_REFUSAL`] after a `THROTTLED`
//! reply.
//!
//! # Bounded memory
//!
//! A bucket is one instant (when it is full again, see [`token_bucket`](super::token_bucket));
//! a name is kept as a 64-bit keyed hash, so a long made-up name costs no more than a
//! short one. A bucket that is full again is forgotten. Every new bucket costs a password
//! hash, and the hash gate does at most a few hundred a second, so the tables stay small;
//! each is also capped at [`MAX_BUCKETS`](super::token_bucket::MAX_BUCKETS) buckets: when
//! a table is full of buckets still in use, attempts that would need a new one are
//! refused until some fill up again.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::fair_queue::Turn;
use super::password::HashGate;
use super::token_bucket::{Buckets, Rate};
use crate::protocol::{ErrorCode, Refusal};

/// How long a connection's next request waits after a `THROTTLED` reply. The reply
/// itself goes out at once; this only keeps a client that asks again straight away from
/// turning its connection into a busy loop of refusals, which would take the CPU that
/// the hashes of everyone else need (see "Refused at once, then a pause" above).
pub const PAUSE_AFTER_REFUSAL: Duration = Duration::from_secs(1);

/// The throttle's limits (the policy in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed logins for one name from one address.
    pub name_from_address: Rate,
    /// Failed logins for one name, from any address.
    pub name: Rate,
    /// Failed logins from one address, whatever the names.
    pub address: Rate,
    /// Accounts created from one address (`--max-registrations-per-hour`).
    pub registrations: Rate,
}

/// The default `--max-registrations-per-hour`: a class of about 30 behind one NAT
/// address can all register at once, and still register again later in the hour.
pub const DEFAULT_REGISTRATIONS_PER_HOUR: u32 = 60;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            name_from_address: Rate {
                burst: 3,
                every: Duration::from_secs(8),
            },
            name: Rate {
                burst: 10,
                every: Duration::from_secs(4),
            },
            address: Rate {
                burst: 30,
                every: Duration::from_secs(1),
            },
            registrations: Rate::per_hour(DEFAULT_REGISTRATIONS_PER_HOUR),
        }
    }
}

/// The address the throttle counts a connection under: its IP without the port.
/// IPv6 clients are counted by their /64 network, since one customer usually holds a
/// whole /64 and could otherwise try from 2^64 addresses. A peer that does not parse
/// (never the case for a TCP socket) counts as the unspecified address.
pub fn client_address(peer: &str) -> IpAddr {
    match peer.parse::<SocketAddr>().map(|a| a.ip().to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Ok(v4) => v4,
        Err(_) => IpAddr::from([0, 0, 0, 0]),
    }
}

/// The throttle of one server: its limits and its buckets, behind one mutex (held only
/// to look at or change a few buckets, never across a hash or any I/O).
pub struct Throttle {
    limits: Limits,
    /// Keys the names' hashes with a secret chosen at start-up, so that nobody can
    /// pick names that share a bucket.
    hasher: RandomState,
    tables: Mutex<Tables>,
}

struct Tables {
    name_from_address: Buckets<(u64, IpAddr)>,
    name: Buckets<u64>,
    address: Buckets<IpAddr>,
    registrations: Buckets<IpAddr>,
}

/// Which limit refused an attempt, for the message.
#[derive(Debug, Clone, Copy)]
enum Limit {
    NameFromAddress,
    Name,
    Address,
    Registrations,
    /// A table is full of buckets in use.
    Full,
}

/// The buckets one login attempt spends from.
#[derive(Clone, Copy)]
struct LoginKeys {
    name: u64,
    from: IpAddr,
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            limits,
            hasher: RandomState::new(),
            tables: Mutex::new(Tables {
                name_from_address: Buckets::new(limits.name_from_address),
                name: Buckets::new(limits.name),
                address: Buckets::new(limits.address),
                registrations: Buckets::new(limits.registrations),
            }),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Admits a password check for `name` from `from`, or refuses it at once
    /// (`THROTTLED`, with when to retry). The caller hashes while holding the returned
    /// attempt, then says how it went ([`LoginAttempt::succeeded`]; dropping it counts
    /// as a failure). The three steps are in the module doc.
    pub fn admit_login<'a>(
        &'a self,
        gate: &'a HashGate,
        name: &str,
        from: IpAddr,
    ) -> Result<LoginAttempt<'a>, Refusal> {
        let keys = LoginKeys {
            name: self.hasher.hash_one(name),
            from,
        };
        let refused = |(limit, wait)| refusal(limit, wait, &self.limits);
        self.tables
            .lock()
            .login_wait(keys, Instant::now())
            .map_err(refused)?;
        let turn = gate.wait_turn(from);
        let mut tables = self.tables.lock();
        let now = Instant::now();
        tables.login_wait(keys, now).map_err(refused)?;
        tables.name_from_address.spend((keys.name, keys.from), now);
        tables.name.spend(keys.name, now);
        tables.address.spend(keys.from, now);
        Ok(LoginAttempt {
            throttle: self,
            keys,
            _turn: turn,
        })
    }

    /// Admits a registration from `from`, or refuses it at once (`THROTTLED`). The
    /// caller registers while holding the returned permit and calls
    /// [`Registration::created`] if an account was made; otherwise the token goes back.
    pub fn admit_registration<'a>(
        &'a self,
        gate: &'a HashGate,
        from: IpAddr,
    ) -> Result<Registration<'a>, Refusal> {
        let refused = |(limit, wait)| refusal(limit, wait, &self.limits);
        self.tables
            .lock()
            .registration_wait(from, Instant::now())
            .map_err(refused)?;
        let turn = gate.wait_turn(from);
        let mut tables = self.tables.lock();
        let now = Instant::now();
        tables.registration_wait(from, now).map_err(refused)?;
        tables.registrations.spend(from, now);
        Ok(Registration {
            throttle: self,
            from,
            created: false,
            _turn: turn,
        })
    }

    /// How long a login for `name` from `from` would have to wait now (zero: it would
    /// be admitted). For tests and tools; admission itself is [`Throttle::admit_login`].
    pub fn login_wait(&self, name: &str, from: IpAddr) -> Duration {
        let keys = LoginKeys {
            name: self.hasher.hash_one(name),
            from,
        };
        match self.tables.lock().login_wait(keys, Instant::now()) {
            Ok(()) => Duration::ZERO,
            Err((_, wait)) => wait,
        }
    }
}

impl Tables {
    /// Zero if every bucket a login needs has a token, else the longest wait and its limit.
    fn login_wait(&mut self, keys: LoginKeys, now: Instant) -> Result<(), (Limit, Duration)> {
        let waits = [
            (
                Limit::NameFromAddress,
                self.name_from_address.wait(&(keys.name, keys.from), now),
            ),
            (Limit::Name, self.name.wait(&keys.name, now)),
            (Limit::Address, self.address.wait(&keys.from, now)),
        ];
        longest(&waits)?;
        let rooms = [
            self.name_from_address
                .room_for(&(keys.name, keys.from), now),
            self.name.room_for(&keys.name, now),
            self.address.room_for(&keys.from, now),
        ];
        let full = rooms.iter().filter_map(|r| r.err()).max();
        full.map_or(Ok(()), |wait| Err((Limit::Full, wait)))
    }

    fn registration_wait(&mut self, from: IpAddr, now: Instant) -> Result<(), (Limit, Duration)> {
        longest(&[(Limit::Registrations, self.registrations.wait(&from, now))])?;
        self.registrations
            .room_for(&from, now)
            .map_err(|wait| (Limit::Full, wait))
    }
}

/// `Err` with the longest of the waits, if any is above zero.
fn longest(waits: &[(Limit, Duration)]) -> Result<(), (Limit, Duration)> {
    match waits.iter().max_by_key(|(_, wait)| *wait) {
        Some(&(limit, wait)) if !wait.is_zero() => Err((limit, wait)),
        _ => Ok(()),
    }
}

/// The `THROTTLED` refusal: which limit, and when to retry (whole seconds, rounded up).
fn refusal(limit: Limit, wait: Duration, limits: &Limits) -> Refusal {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let why = match limit {
        Limit::NameFromAddress => "too many failed logins for this name from your address".into(),
        Limit::Name => "too many failed logins for this name".into(),
        Limit::Address => "too many failed logins from your address".into(),
        Limit::Registrations => format!(
            "too many registrations from your address (at most {} an hour)",
            limits.registrations.burst
        ),
        Limit::Full => "too many failed attempts on this server just now".into(),
    };
    Refusal::new(
        ErrorCode::Throttled,
        format!("{why}; retry in {} s", seconds.max(1)),
    )
}

/// A login admitted by the throttle. Hash while holding it; then
/// [`LoginAttempt::succeeded`] gives its tokens back, and dropping it counts the
/// attempt as a failure (its tokens stay spent).
#[must_use = "hash while holding the attempt, then say whether it succeeded"]
pub struct LoginAttempt<'a> {
    throttle: &'a Throttle,
    keys: LoginKeys,
    /// This address's turn at the hash gate, given back when the attempt ends.
    _turn: Turn<'a>,
}

impl LoginAttempt<'_> {
    /// The password was right: give the tokens back, and forgive this name's earlier
    /// failures from this address.
    pub fn succeeded(self) {
        let mut tables = self.throttle.tables.lock();
        let now = Instant::now();
        tables
            .name_from_address
            .forget(&(self.keys.name, self.keys.from));
        tables.name.refund(&self.keys.name, now);
        tables.address.refund(&self.keys.from, now);
    }
}

/// A registration admitted by the throttle; its token goes back unless
/// [`Registration::created`] is called.
#[must_use = "register while holding the permit, then say whether an account was created"]
pub struct Registration<'a> {
    throttle: &'a Throttle,
    from: IpAddr,
    created: bool,
    _turn: Turn<'a>,
}

impl Registration<'_> {
    /// An account was created: the token stays spent.
    pub fn created(mut self) {
        self.created = true;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.created {
            let mut tables = self.throttle.tables.lock();
            tables.registrations.refund(&self.from, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests;
