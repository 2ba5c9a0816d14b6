//! Does what a program printed match the lines a document shows?
//!
//! A document shows one real run; the next run differs where it must: the clock, the
//! pay keys (random), a journal line's checksum (it covers the clock), a duration. So
//! a shown line is a pattern: its text must be printed as it is, except that
//! - a timestamp (`2026-11-27T16:11:16Z`) matches any timestamp,
//! - a pay key (`6BZP-ABMZ-A0G7-TH57`) matches any pay key,
//! - 16 hexadecimal digits (a journal checksum) match any 16,
//! - a duration (`3.70ms`, `0.05s`) matches any duration,
//! - a word the block lists as varying (`any 168`) matches any word;
//!
//! and a line `...` stands for any number of lines (none included). Trailing spaces
//! never count. What each pay key shown was in the run is handed back ([`Bindings`]),
//! so that a later request may use it: bob's pay key, shown in one block, is what
//! alice pays in the next.

/// What the pay keys shown were in this run: (shown, printed).
pub type Bindings = Vec<(String, String)>;

/// One piece of a shown line.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(char),
    Shape(Shape, String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Timestamp,
    PayKey,
    Checksum,
    Duration,
    AnyWord,
}

const SHAPES: [Shape; 4] = [
    Shape::Timestamp,
    Shape::PayKey,
    Shape::Checksum,
    Shape::Duration,
];

/// Is `c` part of a word (so a shape must not start or end next to it)?
fn wordy(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The length in bytes of `shape` at the start of `text`, if it is there.
fn shape_len(shape: Shape, text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let fixed = |pattern: &[u8], ok: &dyn Fn(u8, u8) -> bool| {
        (bytes.len() >= pattern.len() && pattern.iter().zip(bytes).all(|(&p, &b)| ok(p, b)))
            .then_some(pattern.len())
    };
    let len = match shape {
        Shape::Timestamp => fixed(b"dddd-dd-ddTdd:dd:ddZ", &|p, b| {
            if p == b'd' {
                b.is_ascii_digit()
            } else {
                p == b
            }
        })?,
        Shape::PayKey => fixed(b"xxxx-xxxx-xxxx-xxxx", &|p, b| {
            if p == b'x' {
                b.is_ascii_digit() || b.is_ascii_uppercase()
            } else {
                p == b
            }
        })?,
        Shape::Checksum => fixed(&[b'h'; 16], &|_, b| {
            b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
        })?,
        Shape::Duration => {
            let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
            let mut len = digits(text);
            if len == 0 {
                return None;
            }
            if text[len..].starts_with('.') && digits(&text[len + 1..]) > 0 {
                len += 1 + digits(&text[len + 1..]);
            }
            let unit = ["ms", "µs", "ns", "s"]
                .into_iter()
                .find(|unit| text[len..].starts_with(unit))?;
            len + unit.len()
        }
        Shape::AnyWord => text
            .char_indices()
            .find(|&(_, c)| !(wordy(c) || ".:-".contains(c)))
            .map_or(text.len(), |(i, _)| i),
    };
    let ends_a_word = !text[len..].starts_with(wordy);
    (len > 0 && ends_a_word).then_some(len)
}

/// A shown line as pieces: its varying parts, and the text between them.
fn pieces(line: &str, any: &[String]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = line;
    let mut after_word = false;
    while let Some(c) = rest.chars().next() {
        let found = if after_word {
            None
        } else if let Some(word) = any
            .iter()
            .find(|w| rest.starts_with(w.as_str()) && !rest[w.len()..].starts_with(wordy))
        {
            Some((Shape::AnyWord, word.len()))
        } else {
            SHAPES
                .iter()
                .find_map(|&shape| Some((shape, shape_len(shape, rest)?)))
        };
        match found {
            Some((shape, len)) => {
                pieces.push(Piece::Shape(shape, rest[..len].to_string()));
                rest = &rest[len..];
                after_word = false;
            }
            None => {
                pieces.push(Piece::Text(c));
                rest = &rest[c.len_utf8()..];
                after_word = wordy(c);
            }
        }
    }
    pieces
}

/// Matches one printed line against one shown line; the bindings on success.
fn line_matches(shown: &str, printed: &str, any: &[String]) -> Option<Bindings> {
    let mut bindings = Vec::new();
    let mut rest = printed.trim_end();
    for piece in pieces(shown.trim_end(), any) {
        match piece {
            Piece::Text(c) => rest = rest.strip_prefix(c)?,
            Piece::Shape(shape, value) => {
                let len = shape_len(shape, rest)?;
                if shape == Shape::PayKey {
                    bindings.push((value, rest[..len].to_string()));
                }
                rest = &rest[len..];
            }
        }
    }
    rest.is_empty().then_some(bindings)
}

/// Is this shown line a gap (`...`, any number of lines)?
fn is_gap(line: &str) -> bool {
    line.trim() == "..."
}

/// Matches the printed lines against the shown ones, gaps included.
fn lines_match(shown: &[String], printed: &[String], any: &[String]) -> Option<Bindings> {
    let Some((first, rest)) = shown.split_first() else {
        return printed.is_empty().then(Vec::new);
    };
    if is_gap(first) {
        return (0..=printed.len()).find_map(|skip| lines_match(rest, &printed[skip..], any));
    }
    let (line, others) = printed.split_first()?;
    let mut bindings = line_matches(first, line, any)?;
    bindings.extend(lines_match(rest, others, any)?);
    Some(bindings)
}

/// Matches what was printed against what the document shows; on a mismatch, a message
/// with both, for the person who must fix one or the other.
pub fn check(shown: &[String], printed: &[String], any: &[String]) -> Result<Bindings, String> {
    lines_match(shown, printed, any).ok_or_else(|| {
        format!(
            "the document shows:\n{}\nthe run printed:\n{}",
            indent(shown),
            indent(printed)
        )
    })
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("    | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn varying_parts_match_their_shape_only() {
        let shown = lines("* 6BZP-ABMZ-A0G7-TH57 2026-11-27T16:14:10Z 168\nOK in 3.70ms");
        let printed = lines("* 1J8Q-P6YV-BFAR-0091 2030-01-02T03:04:05Z 179\nOK in 12.5µs");
        let any = vec!["168".to_string()];
        let bindings = check(&shown, &printed, &any).unwrap();
        assert_eq!(bindings[0].0, "6BZP-ABMZ-A0G7-TH57");
        assert_eq!(bindings[0].1, "1J8Q-P6YV-BFAR-0091");
        assert!(check(&shown, &printed, &[]).is_err(), "168 is not 179");
        let wrong = lines("* 1J8Q-P6YV-BFAR-0091 2030-01-02 179\nOK in 12.5µs");
        assert!(check(&shown, &wrong, &any).is_err(), "not a timestamp");
    }

    #[test]
    fn text_must_be_the_same() {
        let shown = lines("OK order 1: 3 x Maçã = 7.50");
        assert!(check(&shown, &lines("OK order 1: 3 x Maçã = 7.50  "), &[]).is_ok());
        assert!(check(&shown, &lines("OK order 2: 3 x Maçã = 7.50"), &[]).is_err());
        assert!(check(&shown, &lines("OK order 1: 3 x Maçã = 7.50\nOK"), &[]).is_err());
        // 1234567890123456 is a number, but also 16 hexadecimal digits: a checksum.
        assert!(check(&lines("a 1234"), &lines("a 5678"), &[]).is_err());
    }

    #[test]
    fn a_gap_stands_for_any_lines() {
        let shown = lines("first\n...\nlast");
        assert!(check(&shown, &lines("first\nlast"), &[]).is_ok());
        assert!(check(&shown, &lines("first\na\nb\nlast"), &[]).is_ok());
        assert!(check(&shown, &lines("first\na\nb"), &[]).is_err());
        assert!(check(&lines("..."), &[], &[]).is_ok());
    }
}
