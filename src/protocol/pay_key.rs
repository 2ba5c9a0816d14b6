//! A pay key as it travels on the wire: 80 random bits in Crockford base32.
//!
//! Why a type of its own: seed 001 used `hash(randint(10, 1000))`, so there were fewer
//! than a thousand possible keys and two machines could easily share one. A feira key
//! is 80 bits from the operating system's CSPRNG (made in `wallet::keys`); this module
//! only says how such a key is written and read back.
//!
//! Why Crockford base32 in groups (`7KQ2-M9XD-4TRW-8BNP`): people read keys aloud and
//! type them. The alphabet has no `I`, `L`, `O` or `U`, so `1`/`I`/`L` and `0`/`O` cannot
//! be confused; reading accepts lower case, the look-alikes (`O` for `0`, `I` or `L` for
//! `1`) and any hyphens, and always writes the one canonical form. Anything else (a
//! wrong length, a `U`, a `*`) is refused, so a typo is caught instead of being sent to
//! a stranger.

use std::fmt;
use std::str::FromStr;

/// The symbols of Crockford's base32, in value order.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// How many random bytes a key holds (80 bits).
pub const PAY_KEY_BYTES: usize = 10;
/// How many symbols a key has, hyphens not counted (80 bits / 5 bits per symbol).
const SYMBOLS: usize = PAY_KEY_BYTES * 8 / 5;
/// Symbols per hyphen-separated group.
const GROUP: usize = 4;

/// A pay key: 80 bits, written `XXXX-XXXX-XXXX-XXXX`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayKey([u8; PAY_KEY_BYTES]);

/// Why a string is not a pay key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayKeyError(pub String);

impl fmt::Display for PayKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a pay key: a key has 16 letters and digits, like 7KQ2-M9XD-4TRW-8BNP (ask its owner for PAYKEY)",
            self.0
        )
    }
}

impl std::error::Error for PayKeyError {}

impl PayKey {
    /// The key made of these bytes (which must come from a CSPRNG: see `wallet::keys`).
    pub fn from_bytes(bytes: [u8; PAY_KEY_BYTES]) -> PayKey {
        PayKey(bytes)
    }

    /// The 80 bits as a number, the first byte most significant.
    fn as_number(&self) -> u128 {
        self.0.iter().fold(0, |n, &b| (n << 8) | u128::from(b))
    }
}

impl fmt::Display for PayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.as_number();
        // Written into a buffer on the stack: a key is formatted for every transfer.
        let mut text = [0u8; SYMBOLS + SYMBOLS / GROUP];
        let mut len = 0;
        for i in 0..SYMBOLS {
            if i > 0 && i % GROUP == 0 {
                text[len] = b'-';
                len += 1;
            }
            // Five bits at a time, most significant first.
            let shift = 5 * (SYMBOLS - 1 - i);
            let value = ((number >> shift) & 0x1f) as usize;
            text[len] = ALPHABET[value];
            len += 1;
        }
        // The alphabet and the dash are ASCII.
        f.write_str(std::str::from_utf8(&text[..len]).unwrap_or_default())
    }
}

impl fmt::Debug for PayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayKey({self})")
    }
}

/// The value of one symbol, with Crockford's look-alikes; `None` if it is not one.
fn symbol_value(c: char) -> Option<u128> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&s| char::from(s) == c)
        .map(|v| v as u128)
}

impl FromStr for PayKey {
    type Err = PayKeyError;

    fn from_str(text: &str) -> Result<PayKey, PayKeyError> {
        let fail = || PayKeyError(text.to_string());
        let mut number: u128 = 0;
        let mut count = 0;
        for c in text.chars().filter(|&c| c != '-') {
            number = (number << 5) | symbol_value(c).ok_or_else(fail)?;
            count += 1;
            if count > SYMBOLS {
                return Err(fail());
            }
        }
        if count != SYMBOLS {
            return Err(fail());
        }
        let mut bytes = [0u8; PAY_KEY_BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (number >> (8 * (PAY_KEY_BYTES - 1 - i))) as u8;
        }
        Ok(PayKey(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_four_groups_of_four() {
        assert_eq!(
            PayKey::from_bytes([0; 10]).to_string(),
            "0000-0000-0000-0000"
        );
        assert_eq!(
            PayKey::from_bytes([0xff; 10]).to_string(),
            "ZZZZ-ZZZZ-ZZZZ-ZZZZ"
        );
        // 0x01 in the last byte is the last symbol's value 1.
        let mut bytes = [0; 10];
        bytes[9] = 1;
        assert_eq!(PayKey::from_bytes(bytes).to_string(), "0000-0000-0000-0001");
    }

    #[test]
    fn reads_case_look_alikes_and_hyphens_leniently() {
        let key: PayKey = "7KQ2-M9XD-4TRW-8BNP".parse().unwrap();
        assert_eq!("7kq2m9xd4trw8bnp".parse::<PayKey>(), Ok(key));
        assert_eq!("7KQ2-M9XD-4TRW-8BNP".to_lowercase().parse(), Ok(key));
        let zeros: PayKey = "0000-0000-0000-0001".parse().unwrap();
        assert_eq!("OOOO-oooo-0000-000I".parse(), Ok(zeros));
        assert_eq!("0000-0000-0000-000l".parse(), Ok(zeros));
    }

    #[test]
    fn refuses_the_wrong_shape() {
        for bad in [
            "",
            "-",
            "7KQ2-M9XD-4TRW",
            "7KQ2-M9XD-4TRW-8BNPX",
            "7KQ2-M9XD-4TRW-8BNU",
            "7KQ2 M9XD 4TRW 8BNP",
            "7KQ2-M9XD-4TRW-8BN*",
            "Maçã-M9XD-4TRW-8BNP",
            "12345",
        ] {
            assert!(bad.parse::<PayKey>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Every key prints to a string that reads back to itself.
        #[test]
        fn format_then_parse_round_trips(bytes in any::<[u8; 10]>()) {
            let key = PayKey::from_bytes(bytes);
            prop_assert_eq!(key.to_string().parse::<PayKey>(), Ok(key));
        }

        /// No string makes the parser panic.
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = text.parse::<PayKey>();
        }
    }
}
