//! Where the interactive session's lines come from: a person at a terminal, or a script.
//!
//! Why two sources behind one trait: a line editor is what a person wants (arrows,
//! history, Ctrl-R), but it is wrong for a pipe. rustyline, given a pipe with `TERM`
//! unset, still prints its prompt to stdout, mixing prompts into the output a script
//! captures. So when stdin is not a terminal we read plain lines and print no prompts,
//! and `printf 'login alice alice-pass\nproducts\n' | feira-cli` just works.

use std::io::{self, BufRead};
use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};

/// What one read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A line, without its line ending.
    Line(String),
    /// The person pressed Ctrl-C: drop what they were typing, stay in the session.
    Interrupted,
    /// The end of the input (Ctrl-D, or the end of the script).
    End,
}

/// A source of lines for the interactive session.
pub trait Input {
    /// Reads one line, showing `prompt` if a person is there to see it.
    fn line(&mut self, prompt: &str) -> io::Result<Read>;
    /// Reads a password: without echo on a terminal; as a plain line from a script.
    fn secret(&mut self, prompt: &str) -> io::Result<Read>;
    /// Is a person typing (so it makes sense to show menus and ask questions)?
    fn is_terminal(&self) -> bool;
    /// Keeps a line in the history. Lines with passwords in them must not be given here.
    fn remember(&mut self, _line: &str) {}
    /// Called once when the session ends (the terminal saves its history).
    fn finish(&mut self) {}
}

/// Lines from any `BufRead`, with no prompts and no history: a pipe, a file, a test.
pub struct Script<R> {
    reader: R,
    /// The line number, for messages about a bad line.
    line_number: u64,
}

impl<R: BufRead> Script<R> {
    pub fn new(reader: R) -> Script<R> {
        Script {
            reader,
            line_number: 0,
        }
    }
}

impl<R: BufRead> Input for Script<R> {
    fn line(&mut self, _prompt: &str) -> io::Result<Read> {
        let mut bytes = Vec::new();
        if self.reader.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(Read::End);
        }
        self.line_number += 1;
        if bytes.ends_with(b"\n") {
            bytes.pop();
        }
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
        // Refuse rather than guess: a name with replacement characters in it would be
        // a different name.
        String::from_utf8(bytes).map(Read::Line).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("input line {} is not UTF-8", self.line_number),
            )
        })
    }

    fn secret(&mut self, prompt: &str) -> io::Result<Read> {
        self.line(prompt)
    }

    fn is_terminal(&self) -> bool {
        false
    }
}

/// A person at a terminal: line editing and history (rustyline), passwords unechoed.
pub struct Terminal {
    editor: Editor<(), DefaultHistory>,
    history: Option<PathBuf>,
}

/// How many lines the history keeps.
const HISTORY_SIZE: usize = 1000;

impl Terminal {
    /// A line editor, with the history from [`history_path`] loaded if there is one.
    pub fn new() -> io::Result<Terminal> {
        let config = Config::builder()
            .max_history_size(HISTORY_SIZE)
            .map_err(readline_to_io)?
            .auto_add_history(false)
            .build();
        let mut editor = Editor::with_config(config).map_err(readline_to_io)?;
        let history = history_path();
        if let Some(path) = &history {
            // No file yet is the normal first run; a damaged one is not worth failing for.
            let _ = editor.load_history(path);
        }
        Ok(Terminal { editor, history })
    }
}

impl Input for Terminal {
    fn line(&mut self, prompt: &str) -> io::Result<Read> {
        match self.editor.readline(prompt) {
            Ok(line) => Ok(Read::Line(line)),
            Err(ReadlineError::Interrupted) => Ok(Read::Interrupted),
            Err(ReadlineError::Eof) => Ok(Read::End),
            Err(e) => Err(readline_to_io(e)),
        }
    }

    fn secret(&mut self, prompt: &str) -> io::Result<Read> {
        // rpassword turns echo off on the terminal itself, so the password is never
        // on screen and never enters the line editor's history.
        rpassword::prompt_password(prompt).map(Read::Line)
    }

    fn is_terminal(&self) -> bool {
        true
    }

    fn remember(&mut self, line: &str) {
        let _ = self.editor.add_history_entry(line);
    }

    fn finish(&mut self) {
        if let Some(path) = &self.history
            && let Err(e) = self.editor.save_history(path)
        {
            eprintln!("(could not save the history to {}: {e})", path.display());
        }
    }
}

/// The history file: `$FEIRA_HISTORY` if set (empty: no history file), else
/// `~/.feira_history`.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os("FEIRA_HISTORY") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::home_dir().map(|home| home.join(".feira_history")),
    }
}

fn readline_to_io(error: ReadlineError) -> io::Error {
    match error {
        ReadlineError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_gives_its_lines_then_the_end() {
        let mut script = Script::new("login alice x\r\n\nproducts".as_bytes());
        assert_eq!(
            script.line("> ").unwrap(),
            Read::Line("login alice x".into())
        );
        assert_eq!(script.line("> ").unwrap(), Read::Line(String::new()));
        assert_eq!(
            script.secret("pw: ").unwrap(),
            Read::Line("products".into())
        );
        assert_eq!(script.line("> ").unwrap(), Read::End);
        assert!(!script.is_terminal());
    }

    #[test]
    fn a_script_line_that_is_not_utf8_is_an_error_that_names_it() {
        let mut script = Script::new(&b"ping\n\xff\xfe\n"[..]);
        assert_eq!(script.line("").unwrap(), Read::Line("ping".into()));
        let error = script.line("").unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
