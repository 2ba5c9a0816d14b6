//! Replaying the ledger line by line, for [`super::check`]: each wallet's running balance,
//! by account id, and the refusal of any line that does not follow from the lines
//! before it (a balance it records wrongly, money a wallet does not have, an account
//! opened twice, an order paid twice or by another account).

use std::collections::{BTreeMap, BTreeSet};

use super::MAX_BALANCE;
use crate::db::schema::{Account, AccountId, Kind, LedgerEntry, Order};
use crate::protocol::Cents;

/// The state of the replay after the lines applied so far.
#[derive(Default)]
pub(super) struct Replay {
    /// The open wallets, by account: the name they were opened for, and their balance.
    pub open: BTreeMap<AccountId, (String, Cents)>,
    /// Every account whose wallet was ever opened (an id is opened once).
    pub opened: BTreeSet<AccountId>,
    /// The orders paid.
    pub paid: BTreeSet<u64>,
    /// Money that entered as opening balances, as deposits, and left for orders, in
    /// cents (`i128`: no sum of `i64` balances can overflow).
    pub initial: i128,
    pub deposits: i128,
    pub orders_paid: i128,
}

impl Replay {
    /// Applies one line, checking it against the replay so far; the message says what
    /// disagrees.
    pub fn apply(
        &mut self,
        entry: &LedgerEntry,
        orders: &BTreeMap<u64, Order>,
    ) -> Result<(), String> {
        let amount = entry.amount;
        if amount.0 < 0 {
            return Err(format!("a negative amount, {amount}"));
        }
        let cents = i128::from(amount.0);
        match entry.kind {
            Kind::Initial => {
                let to = side(&entry.to, "to")?;
                no_side(&entry.from, "from")?;
                if !self.opened.insert(to.id) {
                    return Err(format!(
                        "the wallet of account {} ({}) is opened a second time: an account id is never reused",
                        to.id, to.name
                    ));
                }
                recorded(to, amount, entry.to_balance)?;
                self.open.insert(to.id, (to.name.clone(), amount));
                self.initial += cents;
            }
            Kind::Deposit => {
                let to = side(&entry.to, "to")?;
                no_side(&entry.from, "from")?;
                positive(amount)?;
                let balance = self.change(to, amount, true)?;
                recorded(to, balance, entry.to_balance)?;
                self.deposits += cents;
            }
            Kind::Transfer => {
                let from = side(&entry.from, "from")?;
                let to = side(&entry.to, "to")?;
                if from.id == to.id {
                    return Err(format!("{} pays themselves", from.name));
                }
                positive(amount)?;
                let from_balance = self.change(from, amount, false)?;
                recorded(from, from_balance, entry.from_balance)?;
                let to_balance = self.change(to, amount, true)?;
                recorded(to, to_balance, entry.to_balance)?;
            }
            Kind::Order => {
                let from = side(&entry.from, "from")?;
                no_side(&entry.to, "to")?;
                let id: u64 = entry
                    .reference
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .ok_or("the reference is not an order id")?;
                let order = orders
                    .get(&id)
                    .ok_or_else(|| format!("pays for order {id}, which orders.csv lacks"))?;
                if order.account != from.id || order.total != amount {
                    return Err(format!(
                        "{} (account {}) pays {amount} for order {id}, but the order is account {}'s ({}) for {}",
                        from.name, from.id, order.account, order.user, order.total
                    ));
                }
                if !self.paid.insert(id) {
                    return Err(format!("order {id} is paid a second time"));
                }
                let balance = self.change(from, amount, false)?;
                recorded(from, balance, entry.from_balance)?;
                self.orders_paid += cents;
            }
            Kind::Close => {
                let from = side(&entry.from, "from")?;
                no_side(&entry.to, "to")?;
                let (_, balance) = self.open.remove(&from.id).ok_or_else(|| {
                    format!("{} (account {}) has no open wallet", from.name, from.id)
                })?;
                if balance != Cents(0) || amount != Cents(0) {
                    return Err(format!(
                        "{}'s wallet is closed holding {balance}",
                        from.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds or takes `amount` from an open wallet; never below 0 nor above the maximum.
    /// The line must name the wallet's account by the name it was opened with.
    fn change(&mut self, account: &Account, amount: Cents, add: bool) -> Result<Cents, String> {
        let (name, balance) = self.open.get_mut(&account.id).ok_or_else(|| {
            format!(
                "{} (account {}) has no open wallet",
                account.name, account.id
            )
        })?;
        if *name != account.name {
            return Err(format!(
                "names account {} {}, but its wallet was opened for {name}",
                account.id, account.name
            ));
        }
        let new = if add {
            balance.checked_add(amount).filter(|b| *b <= MAX_BALANCE)
        } else {
            balance.checked_sub(amount).filter(|b| b.0 >= 0)
        };
        *balance = new.ok_or_else(|| {
            format!(
                "{}'s balance of {balance} cannot {} {amount}",
                account.name,
                if add { "receive" } else { "pay" }
            )
        })?;
        Ok(*balance)
    }
}

/// The account named in one side of a line, which must not be empty.
fn side<'a>(side: &'a Option<Account>, name: &str) -> Result<&'a Account, String> {
    side.as_ref()
        .ok_or_else(|| format!("the {name} column is empty"))
}

fn no_side(side: &Option<Account>, name: &str) -> Result<(), String> {
    match side {
        None => Ok(()),
        Some(account) => Err(format!(
            "the {name} column should be empty, not {:?}",
            account.name
        )),
    }
}

fn positive(amount: Cents) -> Result<(), String> {
    if amount.0 > 0 {
        Ok(())
    } else {
        Err(format!("an amount of {amount}"))
    }
}

/// The balance a line recorded must be the replay's.
fn recorded(account: &Account, replayed: Cents, recorded: Option<Cents>) -> Result<(), String> {
    let user = &account.name;
    match recorded {
        Some(r) if r == replayed => Ok(()),
        Some(r) => Err(format!(
            "records {user}'s balance as {r}, but the replay gives {replayed}"
        )),
        None => Err(format!("{user}'s balance after the line is missing")),
    }
}
