//! After a write workload: do the server's books balance?
//!
//! Why check through the protocol: a benchmark that only counts requests per second
//! would happily report a fast server that sells stock it does not have. So before a
//! write phase we read the bench product's stock (and, with wallets, every account's
//! balance); afterwards we read them again and compare the difference with what the
//! server *acknowledged*:
//!
//! - the stock is a whole number >= 0 (a negative stock would not parse);
//! - the units that left the stock are exactly the units of the acknowledged orders;
//! - every acknowledged order has its own id;
//! - with wallets: the money that left the accounts is exactly what the acknowledged
//!   orders cost (transfers between bench accounts move money, never create it).
//!
//! A request whose reply was lost (the connection broke) may or may not have happened:
//! then "exactly" becomes "at least the acknowledged, at most that plus the lost ones".

use std::collections::HashSet;

use super::setup::{read_balance, read_stock};
use super::workload::{Acked, MAX_ORDER_QUANTITY};
use crate::client::Client;
use crate::protocol::Cents;

/// The books before a write phase.
#[derive(Debug, Clone, Copy)]
pub struct Books {
    pub stock: u64,
    /// The sum of the bench accounts' balances, when the server has wallets.
    pub money: Option<Cents>,
}

/// Reads the books.
pub fn read_books(
    admin: &mut Client,
    product: &str,
    observers: &mut [Client],
) -> Result<Books, String> {
    let stock = read_stock(admin, product)?;
    let money = if observers.is_empty() {
        None
    } else {
        let mut sum = Cents(0);
        for observer in observers.iter_mut() {
            let balance = read_balance(observer)?;
            sum = sum
                .checked_add(balance)
                .ok_or("the balances overflow when added up")?;
        }
        Some(sum)
    };
    Ok(Books { stock, money })
}

/// Compares the books before and after with what the server acknowledged.
/// Returns `ok: ...` or `FAILED: ...`.
pub fn check(before: Books, after: Books, acked: &[Acked], lost_writes: u64) -> String {
    let mut failures = Vec::new();
    let acked_units: u64 = acked.iter().map(|a| a.quantity).sum();
    let slack_units = lost_writes * MAX_ORDER_QUANTITY;
    match before.stock.checked_sub(after.stock) {
        None => failures.push(format!(
            "the stock grew from {} to {} during the run",
            before.stock, after.stock
        )),
        Some(left) => {
            if left < acked_units || left > acked_units + slack_units {
                failures.push(format!(
                    "{left} units left the stock but the acknowledged orders add up to {acked_units}{}",
                    if lost_writes > 0 {
                        format!(" (+ at most {slack_units} from {lost_writes} lost replies)")
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    let mut ids = HashSet::with_capacity(acked.len());
    if let Some(dup) = acked.iter().find(|a| !ids.insert(a.id)) {
        failures.push(format!("order id {} was acknowledged twice", dup.id));
    }
    if let (Some(money_before), Some(money_after)) = (before.money, after.money) {
        let paid: i64 = acked.iter().map(|a| a.total.0).sum();
        let spent = money_before.0 - money_after.0;
        // A lost order reply may have cost at most 3 units of the bench product's price;
        // we do not know that price here, so with lost replies we only check the sign.
        let exact = lost_writes == 0;
        if (exact && spent != paid) || spent < paid {
            failures.push(format!(
                "the accounts lost {} but the acknowledged orders cost {}",
                Cents(spent),
                Cents(paid)
            ));
        }
    }
    if failures.is_empty() {
        format!(
            "ok: {} units left the stock in {} acknowledged orders{}",
            before.stock - after.stock,
            acked.len(),
            if before.money.is_some() {
                ", and the money adds up"
            } else {
                ""
            }
        )
    } else {
        format!("FAILED: {}", failures.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, quantity: u64) -> Acked {
        Acked {
            id,
            quantity,
            total: Cents(quantity as i64),
        }
    }

    fn books(stock: u64, money: Option<i64>) -> Books {
        Books {
            stock,
            money: money.map(Cents),
        }
    }

    #[test]
    fn balanced_books_pass() {
        let acked = [order(1, 2), order(2, 3)];
        let verdict = check(books(100, Some(50)), books(95, Some(45)), &acked, 0);
        assert!(verdict.starts_with("ok"), "{verdict}");
    }

    #[test]
    fn each_kind_of_imbalance_fails() {
        let acked = [order(1, 2), order(2, 3)];
        for (before, after, acked) in [
            (books(100, None), books(96, None), &acked[..]),
            (books(100, None), books(101, None), &acked[..]),
            (
                books(100, None),
                books(99, None),
                &[order(1, 1), order(1, 0)][..],
            ),
            (books(100, Some(50)), books(95, Some(46)), &acked[..]),
        ] {
            let verdict = check(before, after, acked, 0);
            assert!(verdict.starts_with("FAILED"), "{verdict}");
        }
    }

    #[test]
    fn lost_replies_widen_the_bound() {
        let acked = [order(1, 2)];
        assert!(check(books(100, None), books(95, None), &acked, 1).starts_with("ok"));
        assert!(check(books(100, None), books(94, None), &acked, 1).starts_with("FAILED"));
    }
}
