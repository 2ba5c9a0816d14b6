//! Splitting a request line into tokens, and quoting tokens back into a line.
//!
//! Why a module of its own: requests and data lines share one token syntax, and the
//! server, the client, the benchmark and the Python example must all agree on it.
//! Keeping the rules in one small, pure file makes them easy to read and to fuzz.
//!
//! The rules (see docs/PROTOCOL.md, "Tokens"):
//! - tokens are separated by one or more spaces (tabs count as spaces);
//! - a token that contains a space, a quote, a backslash or a control character, or is
//!   empty, is written in double quotes;
//! - inside quotes, `\"` is a quote, `\\` a backslash, `\n`, `\r` and `\t` the control
//!   characters; any other escape is an error, so typos are caught instead of guessed at.

use std::borrow::Cow;
use std::fmt;

/// Why a line could not be split into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// A `"` opened a token that the line never closed.
    UnclosedQuote,
    /// A backslash followed by a character that has no meaning (`\x`).
    BadEscape(char),
    /// A closing quote followed by something other than a space: `"ab"cd`.
    JunkAfterQuote,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::UnclosedQuote => write!(f, "a quoted token is never closed"),
            TokenError::BadEscape(c) => write!(f, "unknown escape \\{c} in a quoted token"),
            TokenError::JunkAfterQuote => write!(f, "a closing quote must be followed by a space"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Splits one line (without its line ending) into tokens.
///
/// ```
/// use feira::protocol::token::split;
/// assert_eq!(split(r#"ORDER "Maçã verde" 3"#).unwrap(), ["ORDER", "Maçã verde", "3"]);
/// ```
pub fn split(line: &str) -> Result<Vec<String>, TokenError> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    let is_separator = |c: char| c == ' ' || c == '\t';
    loop {
        // Skip the separators before the next token.
        while chars.next_if(|&(_, c)| is_separator(c)).is_some() {}
        let Some(&(start, first)) = chars.peek() else {
            return Ok(tokens);
        };
        if first != '"' {
            // A plain token is a slice of the line, copied once.
            while chars.next_if(|&(_, c)| !is_separator(c)).is_some() {}
            let end = chars.peek().map_or(line.len(), |&(end, _)| end);
            tokens.push(line[start..end].to_string());
            continue;
        }
        chars.next();
        let mut token = String::new();
        loop {
            match chars.next().map(|(_, c)| c) {
                None => return Err(TokenError::UnclosedQuote),
                Some('"') => break,
                Some('\\') => match chars.next().map(|(_, c)| c) {
                    Some('"') => token.push('"'),
                    Some('\\') => token.push('\\'),
                    Some('n') => token.push('\n'),
                    Some('r') => token.push('\r'),
                    Some('t') => token.push('\t'),
                    Some(other) => return Err(TokenError::BadEscape(other)),
                    None => return Err(TokenError::UnclosedQuote),
                },
                Some(c) => token.push(c),
            }
        }
        // `"ab"cd` is almost certainly a mistake; refuse it rather than guess.
        if chars.peek().is_some_and(|&(_, c)| !is_separator(c)) {
            return Err(TokenError::JunkAfterQuote);
        }
        tokens.push(token);
    }
}

/// Does this token have to be written in quotes to survive [`split`]?
fn needs_quotes(token: &str) -> bool {
    token.is_empty()
        || token
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '\\' || c.is_control())
}

/// Writes one token so that [`split`] reads it back unchanged.
///
/// Plain tokens are returned as they are (no allocation); others are quoted.
pub fn quote(token: &str) -> Cow<'_, str> {
    if !needs_quotes(token) {
        return Cow::Borrowed(token);
    }
    let mut out = String::with_capacity(token.len() + 2);
    out.push('"');
    for c in token.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters are rare in names; they travel as they are,
            // since only \n and \r could break the framing.
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// Joins tokens into one line, quoting each as needed (no line ending).
pub fn join<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut line = String::new();
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(&quote(token.as_ref()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_on_runs_of_spaces() {
        assert_eq!(split("  PING   a\tb ").unwrap(), ["PING", "a", "b"]);
        assert!(split("").unwrap().is_empty());
        assert!(split("   ").unwrap().is_empty());
    }

    #[test]
    fn quoted_tokens_keep_spaces_and_escapes() {
        assert_eq!(
            split(r#"ADD_PRODUCT "Bola, \"oficial\"" 1"#).unwrap(),
            ["ADD_PRODUCT", "Bola, \"oficial\"", "1"]
        );
        assert_eq!(split(r#""a\nb" "" "\\""#).unwrap(), ["a\nb", "", "\\"]);
    }

    #[test]
    fn malformed_quotes_are_errors() {
        assert_eq!(split(r#"ORDER "Maçã"#), Err(TokenError::UnclosedQuote));
        assert_eq!(split(r#""a\"#), Err(TokenError::UnclosedQuote));
        assert_eq!(split(r#""a\q""#), Err(TokenError::BadEscape('q')));
        assert_eq!(split(r#""ab"cd"#), Err(TokenError::JunkAfterQuote));
    }

    #[test]
    fn quote_only_when_needed() {
        assert!(matches!(quote("Maçã"), Cow::Borrowed("Maçã")));
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("x\ny"), "\"x\\ny\"");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the tokens, joining then splitting gives them back.
        #[test]
        fn join_then_split_round_trips(tokens in proptest::collection::vec(any::<String>(), 0..6)) {
            let line = join(&tokens);
            prop_assert!(!line.contains('\n') && !line.contains('\r'), "a joined line must stay one line");
            prop_assert_eq!(split(&line).unwrap(), tokens);
        }

        /// No input makes the splitter panic.
        #[test]
        fn split_never_panics(line in any::<String>()) {
            let _ = split(&line);
        }
    }
}
