//! Text on its way out: escaped for the two readers that would run it, a terminal and
//! a spreadsheet.
//!
//! Why, when the server already refuses such text at the door ([`super::names`]): a
//! reader cannot know who wrote the text it shows. A client may talk to an older or a
//! hostile server, or to a peer that sends anything in its refusal; `audit.csv` records
//! requests that were refused precisely because of what they held. So what prints or
//! writes text for people makes it harmless itself:
//!
//! - [`for_terminal`]: every control character and bidirectional control (the set of
//!   [`super::names::is_refused`]) is written as a Rust-style escape, `\u{1b}`, so
//!   `ESC [ 2 J` cannot clear the screen and U+202E cannot reverse a line. Everything
//!   else, accents and other scripts included, is printed as it is;
//! - [`for_spreadsheet`]: the same escapes, and a cell that a spreadsheet would run as
//!   a formula (`=`, `+`, `-`, `@` first, see [`super::names::looks_like_formula`])
//!   gets a `'` in front, as OWASP's CSV-injection guidance says: spreadsheets show
//!   such a cell as text and hide the quote.
//!
//! Both return the text borrowed, unchanged, in the common case where there is nothing
//! to escape, and both are idempotent: an escaped text has no character left to escape.

use std::borrow::Cow;
use std::fmt::Write;

use super::names::{is_refused, looks_like_formula};

/// `text` with every control and bidirectional control written as `\u{XX}`.
///
/// ```
/// use feira::protocol::escape::for_terminal;
/// assert_eq!(for_terminal("a\u{1b}[2Jb"), r"a\u{1b}[2Jb");
/// assert_eq!(for_terminal("Maçã"), "Maçã");
/// ```
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_refused) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_refused(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One CSV cell that people may open in a spreadsheet: escaped as [`for_terminal`]
/// does, and with `'` in front if it would otherwise start a formula.
///
/// ```
/// use feira::protocol::escape::for_spreadsheet;
/// assert_eq!(for_spreadsheet("=1+2"), "'=1+2");
/// assert_eq!(for_spreadsheet("notas.txt"), "notas.txt");
/// ```
pub fn for_spreadsheet(cell: &str) -> Cow<'_, str> {
    let escaped = for_terminal(cell);
    if !looks_like_formula(&escaped) {
        return escaped;
    }
    Cow::Owned(format!("'{escaped}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn terminal_escapes_controls_and_bidi_only() {
        assert_eq!(
            for_terminal("\u{7}\0\u{7f}\u{9b}"),
            r"\u{7}\u{0}\u{7f}\u{9b}"
        );
        assert_eq!(for_terminal("gpj.\u{202e}exe"), r"gpj.\u{202e}exe");
        assert_eq!(for_terminal("line\nbreak\ttab"), r"line\u{a}break\u{9}tab");
        for plain in ["", "Maçã", "李子", "Férias, \"praia\".jpg", r"back\slash"] {
            assert!(matches!(for_terminal(plain), Cow::Borrowed(_)), "{plain:?}");
        }
    }

    #[test]
    fn spreadsheet_cells_never_start_a_formula() {
        for (cell, written) in [
            ("=1+2", "'=1+2"),
            ("+x", "'+x"),
            ("-1+1", "'-1+1"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\tx", r"\u{9}x"),
            ("\r=1", r"\u{d}=1"),
            ("a=b", "a=b"),
            ("", ""),
            ("2026-11-27T15:00:00Z", "2026-11-27T15:00:00Z"),
        ] {
            assert_eq!(for_spreadsheet(cell), written, "{cell:?}");
        }
    }

    proptest! {
        /// Escaping leaves nothing to escape: no refused character, no formula start,
        /// and escaping again changes nothing.
        #[test]
        fn escaping_is_complete_and_idempotent(text in any::<String>()) {
            let shown = for_terminal(&text).into_owned();
            prop_assert!(!shown.chars().any(is_refused));
            prop_assert_eq!(for_terminal(&shown), shown.clone());
            let cell = for_spreadsheet(&text).into_owned();
            prop_assert!(!cell.chars().any(is_refused));
            prop_assert!(!looks_like_formula(&cell));
        }
    }
}
