//! Replies as text for people: aligned tables with headers, money as people write it.
//!
//! Why pure functions from a [`Reply`] to lines of text: the layout is the part of a
//! client that changes most and is easiest to get subtly wrong (a wide character, a
//! name with a newline in it). Here it is tested with no socket and no terminal.
//!
//! Nothing the server sent is printed raw: a control character (ESC, BEL, ...) or a
//! bidirectional control in a cell or a message is shown escaped, `\u{1b}`
//! ([`escape::for_terminal`]), so an older or hostile server cannot drive the terminal.
//! The server refuses such characters in names; the client does not count on it.

use unicode_width::UnicodeWidthStr;

use super::columns::{self, Column, Kind};
use crate::protocol::names::is_refused;
use crate::protocol::{Cents, Refusal, Reply, escape, token};

/// How amounts of money are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Money {
    /// As on the wire, `12.50`: for scripts (one-shot mode).
    Plain,
    /// As the demo data's locale writes it, `R$ 12,50`: for people (interactive mode).
    Reais,
}

/// The space between two columns.
const GAP: &str = "  ";

/// A whole reply for the interactive view: the table, then the final line.
pub fn reply(verb: &str, reply: &Reply, money: Money) -> Vec<String> {
    let mut lines = table(verb, &reply.data, money);
    match &reply.status {
        Ok(text) if text.is_empty() => {}
        Ok(text) => lines.push(escape::for_terminal(text).into_owned()),
        Err(refusal) => lines.push(refusal_for_people(refusal)),
    }
    lines
}

/// A refusal for the interactive view: the message first, the code for reference.
pub fn refusal_for_people(refusal: &Refusal) -> String {
    let message = escape::for_terminal(&refusal.message);
    format!("error: {message} [{}]", refusal.code)
}

/// A refusal for scripts: the wire's final line, `ERR CODE message` (with any control
/// character in the message escaped).
pub fn refusal_for_scripts(refusal: &Refusal) -> String {
    let message = escape::for_terminal(&refusal.message);
    format!("ERR {} {message}", refusal.code)
}

/// The data lines as an aligned table. Verbs listed in [`columns::COLUMNS`] get a
/// header row and a rule under it; other verbs get aligned columns and no header.
/// No data lines, no table (an empty table under a header says nothing useful).
pub fn table(verb: &str, rows: &[Vec<String>], money: Money) -> Vec<String> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return Vec::new();
    }
    let known = columns::for_verb(verb);
    let columns: Vec<Column> = (0..width)
        .map(|i| match known.and_then(|k| k.get(i)) {
            Some(column) => *column,
            None => Column {
                title: "",
                kind: guess_kind(rows, i),
            },
        })
        .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            (0..width)
                .map(|i| match row.get(i) {
                    Some(raw) => cell(raw, columns[i].kind, money),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.title.width()).collect();
    for row in &cells {
        for (w, text) in widths.iter_mut().zip(row) {
            *w = (*w).max(text.width());
        }
    }
    let mut lines = Vec::with_capacity(cells.len() + 2);
    if known.is_some() {
        let titles: Vec<String> = columns.iter().map(|c| c.title.to_string()).collect();
        lines.push(line(&titles, &columns, &widths));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        lines.push(line(&rule, &columns, &widths));
    }
    for row in &cells {
        lines.push(line(row, &columns, &widths));
    }
    lines
}

/// One row, each cell padded to its column's width; no trailing spaces.
fn line(cells: &[String], columns: &[Column], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, text) in cells.iter().enumerate() {
        if i > 0 {
            out.push_str(GAP);
        }
        let pad = " ".repeat(widths[i].saturating_sub(text.width()));
        match columns[i].kind {
            Kind::Text => {
                out.push_str(text);
                out.push_str(&pad);
            }
            Kind::Number | Kind::Money => {
                out.push_str(&pad);
                out.push_str(text);
            }
        }
    }
    out.trim_end().to_string()
}

/// One cell's text. A value with a newline, another control character or a
/// bidirectional control in it is shown quoted and escaped, so it can neither break
/// the table nor drive the terminal.
fn cell(raw: &str, kind: Kind, money: Money) -> String {
    if raw.chars().any(is_refused) {
        return escape::for_terminal(&token::quote(raw)).into_owned();
    }
    match (kind, money) {
        (Kind::Money, Money::Reais) => match raw.parse::<Cents>() {
            Ok(amount) => amount.to_brl(),
            // Not an amount after all: show what the server sent rather than hide it.
            Err(_) => raw.to_string(),
        },
        _ => raw.to_string(),
    }
}

/// For a verb with no known columns: a column whose every cell is a number is
/// aligned right, like a number column; anything else is text.
fn guess_kind(rows: &[Vec<String>], index: usize) -> Kind {
    let mut cells = rows.iter().filter_map(|row| row.get(index)).peekable();
    let numeric = |s: &String| {
        let digits = s.strip_prefix('-').unwrap_or(s);
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|b| *b == b'.').count() <= 1
            && !digits.starts_with('.')
    };
    if cells.peek().is_some() && cells.all(numeric) {
        Kind::Number
    } else {
        Kind::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    fn rows(lines: &[&[&str]]) -> Vec<Vec<String>> {
        lines
            .iter()
            .map(|row| row.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn products_get_headers_and_aligned_columns() {
        let data = rows(&[
            &["Banana", "0.75", "500"],
            &["Raquete de tênis", "320.00", "10"],
        ]);
        assert_eq!(
            table("products", &data, Money::Plain),
            [
                "name               price  stock",
                "----------------  ------  -----",
                "Banana              0.75    500",
                "Raquete de tênis  320.00     10",
            ]
        );
    }

    #[test]
    fn the_interactive_view_writes_reais() {
        let data = rows(&[&["Maçã", "2.50", "300"], &["Chuteira", "1259.00", "15"]]);
        assert_eq!(
            table("PRODUCT", &data, Money::Reais),
            [
                "name            price  stock",
                "--------  -----------  -----",
                "Maçã          R$ 2,50    300",
                "Chuteira  R$ 1.259,00     15",
            ]
        );
    }

    #[test]
    fn width_counts_columns_on_screen_not_bytes_or_chars() {
        // "Maçã" twice: precomposed (4 chars, 6 bytes) and with combining accents
        // (6 chars). Both take 4 columns, so the prices line up.
        let decomposed = "Mac\u{327}a\u{303}";
        let data = rows(&[&["Maçã", "1"], &[decomposed, "2"], &["Pera", "3"]]);
        let lines = table("FRUITS", &data, Money::Plain);
        let widths: Vec<usize> = lines.iter().map(|l| l.width()).collect();
        assert_eq!(widths, [7, 7, 7], "{lines:#?}");
    }

    #[test]
    fn unknown_verbs_are_aligned_without_headers() {
        let data = rows(&[&["k1", "5", "alpha"], &["key-two", "10.5"]]);
        assert_eq!(
            table("BALANCE_HISTORY", &data, Money::Reais),
            ["k1          5  alpha", "key-two  10.5"]
        );
    }

    #[test]
    fn extra_fields_are_shown_unlabelled() {
        let data = rows(&[&["Caju", "1.20", "200", "new"]]);
        let lines = table("PRODUCTS", &data, Money::Plain);
        assert_eq!(lines[0], "name  price  stock");
        assert_eq!(lines[2], "Caju   1.20    200  new");
    }

    #[test]
    fn control_characters_cannot_break_the_table() {
        let data = rows(&[&["Bola\nnova", "9.90", "7"]]);
        let lines = table("PRODUCTS", &data, Money::Reais);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], r#""Bola\nnova"  R$ 9,90      7"#);
    }

    #[test]
    fn nothing_from_the_server_reaches_the_terminal_raw() {
        let data = rows(&[&["\u{1b}[2J", "gpj.\u{202e}exe", "\u{7}\u{9b}"]]);
        let lines = table("PRODUCTS", &data, Money::Plain);
        assert_eq!(lines[2], r#""\u{1b}[2J"  gpj.\u{202e}exe  "\u{7}\u{9b}""#);
        let ok = Reply::rows(data, "done \u{1b}]0;owned\u{7}");
        let err = Reply::err(ErrorCode::NotFound, "no \u{1b}[31mred\u{202e}");
        let Err(refusal) = &err.status else {
            unreachable!()
        };
        let mut shown = reply("PRODUCTS", &ok, Money::Reais);
        shown.extend(reply("PRODUCTS", &err, Money::Reais));
        shown.push(refusal_for_scripts(refusal));
        for line in &shown {
            assert!(!line.chars().any(is_refused), "{line:?}");
        }
        assert_eq!(shown[3], r"done \u{1b}]0;owned\u{7}");
        assert_eq!(shown[5], r"ERR NOT_FOUND no \u{1b}[31mred\u{202e}");
    }

    #[test]
    fn a_money_column_that_is_not_money_is_shown_as_sent() {
        let data = rows(&[&["Caju", "n/a", "0"]]);
        assert_eq!(
            table("PRODUCTS", &data, Money::Reais)[2],
            "Caju    n/a      0"
        );
    }

    #[test]
    fn no_rows_no_table() {
        assert!(table("PRODUCTS", &[], Money::Plain).is_empty());
        assert!(table("PRODUCTS", &[vec![]], Money::Plain).is_empty());
    }

    #[test]
    fn whole_replies() {
        let ok = Reply::rows(rows(&[&["alice", "customer"]]), "");
        assert_eq!(
            reply("whoami", &ok, Money::Reais),
            ["user   role", "-----  --------", "alice  customer"]
        );
        assert_eq!(reply("PING", &Reply::ok("PONG"), Money::Plain), ["PONG"]);
        let refused = Reply::err(ErrorCode::NotFound, "no product named Jaca");
        assert_eq!(
            reply("PRODUCT", &refused, Money::Reais),
            ["error: no product named Jaca [NOT_FOUND]"]
        );
        let Err(refusal) = &refused.status else {
            unreachable!()
        };
        assert_eq!(
            refusal_for_scripts(refusal),
            "ERR NOT_FOUND no product named Jaca"
        );
    }
}
