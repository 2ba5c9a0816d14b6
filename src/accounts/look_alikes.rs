//! Look-alike user names: a new account may not be mistaken for an existing one.
//!
//! Why: the door ([`crate::protocol::names`]) already makes `Alice`, `ALICE` and the
//! full-width `ａｌｉｃｅ` one name, `alice`. What it cannot fold is a name spelt with
//! letters of another script that look the same: `аlice` with a Cyrillic `а` (U+0430)
//! is different text, and a customer paying "alice" could pay it instead. Two rules
//! close that gap, both from Unicode's security mechanisms (UTS #39):
//!
//! 1. **One script per name** ([`check_script`], `BAD_REQUEST`): a name may use Latin,
//!    or Cyrillic, or Han, ..., but not letters of two scripts at once. `joão`, `李` and
//!    `дмитрий` are fine; `аlice` (Cyrillic and Latin) is not. Digits, `_`, `-` and `.`
//!    go with every script.
//! 2. **No look-alike of an existing name** ([`refuse`], `CONFLICT`): a new name whose
//!    confusable *skeleton* equals an existing name's is refused. The skeleton maps each
//!    character to the one it is commonly confused with, so it also catches a name
//!    written wholly in another script (a Cyrillic `асе` against `ace`) and tricks
//!    within one script (`rnary` against `mary`).
//!
//! The refusal does not say which account the name resembles. REGISTER already tells
//! whether one exact name is taken (it has to), but a skeleton matches many spellings
//! at once, and naming the match would hand out account names that nobody asked for.
//! The person registering typed the name and can see what it looks like.
//!
//! The cost: [`refuse`] compares the new name's skeleton with every account's, about
//! 0.25 µs an account in a release build (25 ms for 100,000 accounts, measured with a
//! scan of `bench-userN` names), and registration runs it once under the `users` write
//! lock so that two look-alikes registering at the same moment cannot both get in.
//! Accounts are created rarely; an index of skeletons beside the table would make it
//! constant, at the price of one more structure to keep in step with the table.
//!
//! These rules apply to names being registered. Names that an older version stored in
//! another form are given their canonical form at start-up, and a renamed account that
//! would look like another stops the start instead (src/db/canonical_names.rs).

use crate::protocol::names;
use crate::protocol::{ErrorCode, Refusal};

/// Refuses a user name whose letters come from more than one script.
pub fn check_script(name: &str) -> Result<(), Refusal> {
    if names::is_single_script(name) {
        return Ok(());
    }
    Err(Refusal::new(
        ErrorCode::BadRequest,
        format!(
            "the user name {name:?} mixes letters of different scripts (Latin and Cyrillic, \
             say), which makes it look like another: use one script"
        ),
    ))
}

/// Refuses `name` if it looks like one of the `existing` names (the same confusable
/// skeleton). `name` itself must not be among them: that is a taken name, not a
/// look-alike, and the caller says so first.
pub fn refuse<'a>(name: &str, existing: impl Iterator<Item = &'a str>) -> Result<(), Refusal> {
    let skeleton = names::skeleton(name);
    for other in existing {
        if names::skeleton(other) == skeleton {
            return Err(Refusal::new(
                ErrorCode::Conflict,
                format!(
                    "the user name {name:?} looks like the name of an existing account: \
                     choose another"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_script_per_name() {
        for good in ["alice", "joão", "李", "дмитрий", "bench-1", "x_y.z"] {
            assert!(check_script(good).is_ok(), "{good}");
        }
        let mixed = check_script("\u{430}lice").unwrap_err();
        assert_eq!(mixed.code, ErrorCode::BadRequest);
    }

    #[test]
    fn look_alikes_of_existing_names_are_refused_without_naming_them() {
        let existing = ["admin", "alice", "mary"];
        for look_alike in ["\u{430}\u{4cf}\u{456}\u{441}\u{435}", "rnary", "adrnin"] {
            let refusal = refuse(look_alike, existing.into_iter()).expect_err(look_alike);
            assert_eq!(refusal.code, ErrorCode::Conflict);
            assert!(!existing.iter().any(|e| refusal.message.contains(e)));
        }
        for fresh in ["carla", "alicia", "joão", "李"] {
            assert!(refuse(fresh, existing.into_iter()).is_ok(), "{fresh}");
        }
    }
}
