//! The words of a request after its verb, read left to right by a parser.
//!
//! Why it is shared: the store's requests ([`super::Request`]) and the Chord nodes'
//! messages (`chord::Message`) have different verbs but the same shape, "VERB arg arg",
//! and the same refusals ("missing <key>", "too many arguments", "unknown verb").
//! Each parser adds its own typed readers (a quantity, an id on the ring) on top.

use super::reply::{ErrorCode, Refusal};
use super::token;

/// Splits a line into its verb, found with `find` (case-insensitive is up to it), and
/// the arguments that follow it. `usage` gives the verb's name and argument synopsis
/// for error messages.
pub fn split_verb<S: 'static>(
    line: &str,
    find: impl Fn(&str) -> Option<&'static S>,
    usage: impl Fn(&S) -> (&'static str, &'static str),
) -> Result<(&'static S, Args), Refusal> {
    let tokens = token::split(line).map_err(|e| bad(e.to_string()))?;
    let mut tokens = tokens.into_iter();
    let Some(verb) = tokens.next() else {
        return Err(bad("empty request: try HELP"));
    };
    let Some(spec) = find(&verb) else {
        return Err(Refusal::new(
            ErrorCode::UnknownCommand,
            format!("unknown verb {}: try HELP", token::quote(&verb)),
        ));
    };
    let (name, synopsis) = usage(spec);
    Ok((
        spec,
        Args {
            name,
            synopsis,
            tokens: tokens.collect(),
            next: 0,
        },
    ))
}

/// A `BAD_REQUEST` refusal.
pub fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::BadRequest, message)
}

/// The arguments after the verb, consumed left to right.
pub struct Args {
    /// The verb and its synopsis (`ORDER`, `<product> <quantity>`), for error
    /// messages: [`Args::usage`] puts them together only when one is needed.
    name: &'static str,
    synopsis: &'static str,
    tokens: Vec<String>,
    next: usize,
}

impl Args {
    /// The verb's usage line: `usage: ORDER <product> <quantity>`.
    pub fn usage(&self) -> String {
        format!("usage: {} {}", self.name, self.synopsis)
            .trim_end()
            .to_string()
    }

    /// How many arguments are left.
    pub fn remaining(&self) -> usize {
        self.tokens.len() - self.next
    }

    /// The next argument, if there is one.
    pub fn optional(&mut self) -> Option<String> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    /// The next argument, which must be present.
    pub fn text(&mut self, what: &str) -> Result<String, Refusal> {
        match self.optional() {
            Some(t) => Ok(t),
            None => Err(bad(format!("missing <{what}>; {}", self.usage()))),
        }
    }

    /// Refuses arguments left over: a typo should not be silently ignored.
    pub fn finish(&self) -> Result<(), Refusal> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(bad(format!("too many arguments; {}", self.usage())))
        }
    }
}
