//! Names at the door: one canonical form for each name, and the characters refused.
//!
//! Why: text that looks the same to people can be different bytes. `Maçã` may arrive
//! with `ç` as one character (U+00E7) or as `c` plus a combining cedilla, and two
//! byte-different `Maçã` would be two products. `Alice` and `alice`, or the full-width
//! `ａｄｍｉｎ` and `admin`, would be two accounts that people cannot tell apart. And a
//! name holding ESC (U+001B) or a right-to-left override (U+202E) can repaint the
//! terminal of whoever lists it, or disguise `gpj.exe` as `exe.jpg`. So every name is
//! brought to one form, and refused characters are refused, where a request is parsed
//! ([`super::Request::parse`]): the tables, the journal, the login throttle and the
//! audit log downstream only ever see the canonical form. (Names that an older version
//! stored in another form are renamed when the data directory is opened:
//! src/db/canonical_names.rs.)
//!
//! # The rules
//!
//! - **Refused everywhere** (every argument except a password): the control characters
//!   (C0 such as NUL, BEL, ESC, newline and tab; DEL; C1, U+0080 to U+009F) and the
//!   bidirectional controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069).
//!   See [`check_chars`].
//! - **Product names, file names, descriptions**: Unicode NFC ([`nfc`]), the form in
//!   which `ç` is one character. NFC never changes what a reader sees, so a file name
//!   still names the same file, and `x².txt` stays `x².txt`. They stay case-sensitive.
//! - **User names**: NFKC, lower-cased, NFKC again ([`user_name`]); the model is
//!   RFC 8265's `UsernameCaseMapped` profile. NFKC also folds the compatibility
//!   variants that a reader takes for the same letters (full-width `ａｄｍｉｎ`,
//!   mathematical `𝐚𝐝𝐦𝐢𝐧`, the ligature `ﬁ`); lower-casing makes `Alice` and `ALICE`
//!   the same account. The canonical form is the account's key itself, so the users
//!   table is unique case-insensitively by construction and `LOGIN Alice alice-pass`
//!   logs in as `alice` (the name shown everywhere is the canonical one). Keeping the
//!   display case and comparing folded forms would need a second index beside the
//!   table, for one cosmetic gain.
//! - **Passwords** are not names and are not touched: a password is hashed byte for
//!   byte, and normalising it now would lock out every account whose stored hash was
//!   made from the bytes as typed.
//!
//! What this file does not decide: whether a new user name looks like an existing one
//! (that needs the users table: `accounts::look_alikes`, with [`skeleton`] and
//! [`is_single_script`] from here), and which names may not look like a spreadsheet
//! formula (the tables that store names decide: [`looks_like_formula`]).

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
use unicode_security::MixedScript;
use unicode_security::confusable_detection;

use super::reply::{ErrorCode, Refusal};

/// Is this a bidirectional control: a character that changes the order in which the
/// text around it is shown, without being seen itself?
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Is this a character that no name or stored text may hold: a control character
/// (C0, DEL, C1) or a bidirectional control?
pub fn is_refused(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Refuses `text` (the argument `<what>`) if it holds a refused character. The message
/// names the character by its code point, so the refusal itself never carries it.
pub fn check_chars(what: &str, text: &str) -> Result<(), Refusal> {
    let Some(c) = text.chars().find(|&c| is_refused(c)) else {
        return Ok(());
    };
    let kind = if c.is_control() {
        "a control character"
    } else {
        "a bidirectional control"
    };
    Err(Refusal::new(
        ErrorCode::BadRequest,
        format!(
            "<{what}> contains {kind} (U+{:04X}): such characters can drive a terminal or \
             disguise text, and are refused in every name and description",
            u32::from(c)
        ),
    ))
}

/// The NFC form of `text`, borrowed when it already is (the common case, checked
/// quickly: ASCII text always is).
pub fn nfc(text: &str) -> Cow<'_, str> {
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(text.nfc().collect()),
    }
}

/// The canonical form of a user name: NFKC, lower case, NFKC again (lower-casing can
/// produce a sequence that NFKC would write otherwise, as with `İ`).
pub fn user_name(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let lower: String = text.nfkc().flat_map(char::to_lowercase).collect();
    lower.nfkc().collect()
}

/// Is every letter of `name` from one script (Latin, Cyrillic, Greek, Han, ...)?
/// Digits and punctuation belong to every script; Japanese (Han with kana) and Korean
/// (Hangul with Han) count as one script, as Unicode's mixed-script detection (UTS #39)
/// defines it.
pub fn is_single_script(name: &str) -> bool {
    name.is_single_script()
}

/// The confusable skeleton of `name` (UTS #39): two names with the same skeleton look
/// alike to a reader. Cyrillic `а` and full-width `ａ` both become `a`; `rn` becomes
/// `rn` and so does `m`.
pub fn skeleton(name: &str) -> String {
    confusable_detection::skeleton(name).collect()
}

/// Would a spreadsheet take a cell that starts like this for a formula? OWASP's list
/// for CSV injection: `=`, `+`, `-`, `@`, tab and carriage return.
pub fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Refuses `text` (the argument `<what>`) if it starts like a spreadsheet formula: for
/// names that are stored in a table and read back as they are.
pub fn refuse_formula(what: &str, text: &str) -> Result<(), Refusal> {
    if !looks_like_formula(text) {
        return Ok(());
    }
    Err(Refusal::new(
        ErrorCode::BadRequest,
        format!(
            "<{what}> cannot start with '=', '+', '-' or '@': a spreadsheet opening the data \
             files would run it as a formula"
        ),
    ))
}

/// Refuses `text` if it is not in NFC. The door ([`super::Request::parse`]) normalises
/// every name; a domain function that creates a row calls this so that a caller that
/// skipped the door cannot create a second `Maçã`.
pub fn require_nfc(what: &str, text: &str) -> Result<(), Refusal> {
    if matches!(nfc(text), Cow::Borrowed(_)) {
        return Ok(());
    }
    Err(Refusal::new(
        ErrorCode::BadRequest,
        format!("<{what}> is not in Unicode NFC form"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const COMPOSED: &str = "Ma\u{e7}\u{e3}";
    const DECOMPOSED: &str = "Mac\u{327}a\u{303}";

    #[test]
    fn composed_and_decomposed_are_one_name() {
        assert_ne!(COMPOSED, DECOMPOSED);
        assert_eq!(nfc(DECOMPOSED), COMPOSED);
        assert!(matches!(nfc(COMPOSED), Cow::Borrowed(_)));
        assert!(matches!(nfc("Caju"), Cow::Borrowed(_)));
        assert!(require_nfc("name", COMPOSED).is_ok());
        assert!(require_nfc("name", DECOMPOSED).is_err());
    }

    #[test]
    fn user_names_fold_case_and_width() {
        for (typed, canonical) in [
            ("alice", "alice"),
            ("Alice", "alice"),
            ("ALICE", "alice"),
            ("\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}", "admin"),
            ("\u{1d41a}\u{1d41d}\u{1d426}\u{1d422}\u{1d427}", "admin"),
            ("JO\u{c3}O", "jo\u{e3}o"),
            ("JOA\u{303}O", "jo\u{e3}o"),
            ("\u{fb01}sh", "fish"),
            ("李", "李"),
            ("Дмитрий", "дмитрий"),
        ] {
            assert_eq!(user_name(typed), canonical, "{typed:?}");
        }
    }

    #[test]
    fn refused_characters() {
        for bad in [
            "a\u{1b}[2Jb",
            "bell\u{7}",
            "nul\0",
            "del\u{7f}",
            "c1\u{9b}31m",
            "tab\there",
            "line\nbreak",
            "gpj.\u{202e}exe",
            "\u{2066}isolate\u{2069}",
            "mark\u{200f}",
            "arabic\u{61c}mark",
        ] {
            let refusal = check_chars("name", bad).expect_err(bad);
            assert_eq!(refusal.code, ErrorCode::BadRequest);
            assert!(!refusal.message.chars().any(is_refused), "{refusal:?}");
        }
        for good in ["Maçã", "Férias, \"praia\".jpg", "李子", "x².txt", "a b", ""] {
            assert!(check_chars("name", good).is_ok(), "{good:?}");
        }
        assert!(
            check_chars("name", "a\u{1b}b")
                .unwrap_err()
                .message
                .contains("U+001B")
        );
    }

    #[test]
    fn scripts_and_skeletons() {
        // Latin with one Cyrillic `а` (U+0430) is two scripts; each alone is one.
        assert!(!is_single_script("\u{430}lice"));
        for single in [
            "alice",
            "joão",
            "李",
            "дмитрий",
            "bench-1",
            "x_y.z",
            "東京タワーと",
        ] {
            assert!(is_single_script(single), "{single}");
        }
        assert_eq!(skeleton("\u{430}lice"), skeleton("alice"));
        assert_eq!(skeleton("\u{ff41}dmin"), skeleton("admin"));
        assert_eq!(skeleton("rnary"), skeleton("mary"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
    }

    #[test]
    fn formulas() {
        for formula in ["=1+2", "+x", "-1+1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(looks_like_formula(formula), "{formula:?}");
            assert!(refuse_formula("name", formula).is_err());
        }
        for text in ["", "1+2", "a=b", "Maçã", " =1", "'=1"] {
            assert!(!looks_like_formula(text), "{text:?}");
        }
    }

    proptest! {
        /// A canonical name is its own canonical form, so the name a reply shows can be
        /// typed back.
        #[test]
        fn canonical_forms_are_stable(text in any::<String>()) {
            let user = user_name(&text);
            prop_assert_eq!(user_name(&user), user.clone());
            let once = nfc(&text).into_owned();
            prop_assert_eq!(nfc(&once), once.clone());
        }
    }
}
