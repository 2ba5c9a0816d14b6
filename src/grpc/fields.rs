//! The fields of a gRPC message, checked as the line protocol's parser checks its
//! arguments: the same bounds, the same canonical names, the same BAD_REQUEST.
//!
//! Why a file of its own: protobuf says only that a field is an `int64` or a `string`.
//! A quantity of -3, a price of 2^63 - 1 cents or a name with a bidirectional control
//! character are all valid protobuf, and must be refused here, at the edge, before
//! any domain code sees them (the socket door's `protocol::request` does the same for
//! text). The bounds are the protocol's own constants, so the two doors cannot drift.

use crate::protocol::listing::MAX_LISTED;
use crate::protocol::money::MAX_AMOUNT;
use crate::protocol::{Cents, ErrorCode, MAX_QUANTITY, PayKey, Refusal, names};

fn bad(message: String) -> Refusal {
    Refusal::new(ErrorCode::BadRequest, message)
}

/// A name (a product's): present, no refused characters, in NFC.
pub fn text(what: &str, value: &str) -> Result<String, Refusal> {
    if value.is_empty() {
        return Err(bad(format!("<{what}> is missing")));
    }
    names::check_chars(what, value)?;
    Ok(names::nfc(value).into_owned())
}

/// A user name, in its canonical form (NFC, case-folded), as LOGIN reads it.
pub fn user(what: &str, value: &str) -> Result<String, Refusal> {
    if value.is_empty() {
        return Err(bad(format!("<{what}> is missing")));
    }
    names::check_chars(what, value)?;
    Ok(names::user_name(value))
}

/// A whole number from `min` to [`MAX_QUANTITY`] (1 for an order, 0 for a new stock).
pub fn whole(what: &str, value: i64, min: u64) -> Result<u64, Refusal> {
    match u64::try_from(value) {
        Ok(n) if (min..=MAX_QUANTITY).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "<{what}> must be a whole number from {min} to {MAX_QUANTITY}, not {value}"
        ))),
    }
}

/// A stock change, at most [`MAX_QUANTITY`] either way.
pub fn delta(what: &str, value: i64) -> Result<i64, Refusal> {
    if value.unsigned_abs() <= MAX_QUANTITY {
        Ok(value)
    } else {
        Err(bad(format!(
            "<{what}> must be a whole number from -{MAX_QUANTITY} to {MAX_QUANTITY}, not {value}"
        )))
    }
}

/// An amount of money in cents, from `min` to the protocol's maximum.
pub fn cents(what: &str, value: i64, min: i64) -> Result<Cents, Refusal> {
    if (min..=MAX_AMOUNT.0).contains(&value) {
        Ok(Cents(value))
    } else {
        Err(bad(format!(
            "<{what}> must be from {min} to {} cents, not {value}",
            MAX_AMOUNT.0
        )))
    }
}

/// How many rows to list: 0 means the verb's default, else 1 to [`MAX_LISTED`].
pub fn listed(what: &str, value: i64) -> Result<Option<u64>, Refusal> {
    match u64::try_from(value) {
        Ok(0) => Ok(None),
        Ok(n) if n <= MAX_LISTED => Ok(Some(n)),
        _ => Err(bad(format!(
            "<{what}> must be from 1 to {MAX_LISTED} (or 0 for the default), not {value}"
        ))),
    }
}

/// A pay key, in the form GetPayKey shows.
pub fn pay_key(value: &str) -> Result<PayKey, Refusal> {
    value
        .parse()
        .map_err(|e: crate::protocol::pay_key::PayKeyError| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_out_of_bounds_are_bad_requests() {
        let max = MAX_QUANTITY as i64;
        assert_eq!(whole("quantity", 3, 1), Ok(3));
        for wrong in [0, -1, i64::MIN, max + 1, i64::MAX] {
            let refusal = whole("quantity", wrong, 1).unwrap_err();
            assert_eq!(refusal.code, ErrorCode::BadRequest, "{wrong}");
        }
        assert_eq!(delta("delta", -20), Ok(-20));
        assert!(delta("delta", i64::MIN).is_err());
        assert!(delta("delta", -max - 1).is_err());
        assert_eq!(cents("price", 250, 1), Ok(Cents(250)));
        for wrong in [0, -1, i64::MIN, MAX_AMOUNT.0 + 1] {
            assert!(cents("price", wrong, 1).is_err(), "{wrong}");
        }
        assert_eq!(listed("count", 0), Ok(None));
        assert!(listed("count", -1).is_err());
    }

    #[test]
    fn names_come_out_canonical_or_are_refused() {
        // "Maçã" with combining accents comes out as the table stores it (NFC).
        assert_eq!(text("name", "Mac\u{327}a\u{303}").unwrap(), "Maçã");
        assert!(text("name", "").is_err());
        assert!(text("name", "evil\u{202e}").is_err());
        assert_eq!(user("user", "ALICE").unwrap(), "alice");
    }
}
