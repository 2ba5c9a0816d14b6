//! Exact money: integer cents, parsed from and written as decimal strings.
//!
//! Why: seed 001 and seed 003 kept prices in floats, so `0.1 + 0.2` cents went missing.
//! feira never lets a float near money. The wire form is a decimal string with at most
//! two fractional digits (`3`, `3.5`, `3.50`); anything else (signs, exponents, `NaN`,
//! three decimals, overflow) is refused when parsed, not rounded.

use std::fmt;
use std::str::FromStr;

/// An amount of money in cents. Non-negative on the wire; arithmetic is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

/// The largest amount the protocol accepts: one trillion (10^12) in whole units.
/// Large enough for any classroom. Totals (price x quantity) are computed with checked
/// arithmetic and refused if they would overflow.
pub const MAX_AMOUNT: Cents = Cents(100_000_000_000_000);

/// Why a string is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyError(pub String);

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an amount: write digits with at most two decimals, like 12.50",
            self.0
        )
    }
}

impl std::error::Error for MoneyError {}

impl FromStr for Cents {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = || MoneyError(text.to_string());
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        // `.5` and `5.` are refused too: they are easy to misread.
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
            return Err(fail());
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(fail());
        }
        let whole: i64 = whole.parse().map_err(|_| fail())?;
        let fraction_cents = match fraction.len() {
            0 => 0,
            1 => i64::from(fraction.as_bytes()[0] - b'0') * 10,
            _ => fraction.parse::<i64>().map_err(|_| fail())?,
        };
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(fraction_cents))
            .ok_or_else(fail)?;
        if cents > MAX_AMOUNT.0 {
            return Err(fail());
        }
        Ok(Cents(cents))
    }
}

impl fmt::Display for Cents {
    /// Always two decimals: `1250` cents is `12.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Digits written right to left into a buffer on the stack, then one write: an
        // amount is formatted several times per transfer (journal, ledger, reply), and
        // `write!` with its three arguments cost more than the rest of it.
        let mut digits = [0u8; 24];
        let mut at = digits.len();
        let mut rest = self.0.unsigned_abs();
        for place in 0.. {
            if place == 2 {
                at -= 1;
                digits[at] = b'.';
            }
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 && place >= 2 {
                break;
            }
        }
        if self.0 < 0 {
            at -= 1;
            digits[at] = b'-';
        }
        // Only ASCII digits, a dot and a sign were written.
        f.write_str(std::str::from_utf8(&digits[at..]).unwrap_or_default())
    }
}

impl Cents {
    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// `self * quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: u64) -> Option<Cents> {
        i64::try_from(quantity)
            .ok()
            .and_then(|q| self.0.checked_mul(q))
            .map(Cents)
    }

    /// The amount as the demo data's locale writes it: `R$ 12,50`, thousands with dots.
    /// Only for people (the interactive client); the protocol always uses `12.50`.
    pub fn to_brl(self) -> String {
        let text = self.to_string();
        let (sign, unsigned) = match text.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", text.as_str()),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "00"));
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push('.');
            }
            grouped.push(digit);
        }
        format!("{sign}R$ {grouped},{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("3".parse(), Ok(Cents(300)));
        assert_eq!("3.5".parse(), Ok(Cents(350)));
        assert_eq!("3.50".parse(), Ok(Cents(350)));
        assert_eq!("0.07".parse(), Ok(Cents(7)));
        assert_eq!("0".parse(), Ok(Cents(0)));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "-1",
            "+1",
            "1.234",
            "1e3",
            "NaN",
            "inf",
            ".5",
            "5.",
            "1,50",
            " 1",
            "1 ",
            "0x10",
            "99999999999999999999",
            "1000000000001",
        ] {
            assert!(bad.parse::<Cents>().is_err(), "{bad:?} should be refused");
        }
        assert!(
            "1000000000000".parse::<Cents>().is_ok(),
            "the maximum itself is allowed"
        );
    }

    #[test]
    fn formats_with_two_decimals() {
        assert_eq!(Cents(1250).to_string(), "12.50");
        assert_eq!(Cents(7).to_string(), "0.07");
        assert_eq!(Cents(-7).to_string(), "-0.07");
    }

    #[test]
    fn formats_reais() {
        assert_eq!(Cents(1250).to_brl(), "R$ 12,50");
        assert_eq!(Cents(123456789).to_brl(), "R$ 1.234.567,89");
        assert_eq!(Cents(-5).to_brl(), "-R$ 0,05");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
        assert_eq!(Cents(250).checked_mul(4), Some(Cents(1000)));
        assert_eq!(Cents(2).checked_mul(u64::MAX), None);
    }

    proptest! {
        /// Every amount in range prints to a string that parses back to itself.
        #[test]
        fn format_then_parse_round_trips(cents in 0..=MAX_AMOUNT.0) {
            prop_assert_eq!(Cents(cents).to_string().parse::<Cents>(), Ok(Cents(cents)));
        }

        /// The hand-written digits say what `write!` with `{}.{:02}` would.
        #[test]
        fn formats_as_units_dot_two_digits(cents in any::<i64>()) {
            let abs = cents.unsigned_abs();
            let sign = if cents < 0 { "-" } else { "" };
            prop_assert_eq!(
                Cents(cents).to_string(),
                format!("{sign}{}.{:02}", abs / 100, abs % 100)
            );
        }

        /// No string makes the parser panic.
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = text.parse::<Cents>();
        }
    }
}
