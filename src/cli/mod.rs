//! `feira-cli`, the client people use: one command and exit, or an interactive session.
//!
//! Why it is a library module and not a long `main`: the binary in `src/bin/feira-cli.rs`
//! only parses flags. Everything here can be read, reused and tested without a terminal:
//! rendering a reply is a pure function ([`render`]), the menu is a table ([`menu`]),
//! and the interactive loop ([`repl`]) reads from an [`input::Input`], which is either a
//! line editor on a terminal or any `BufRead` (a pipe, a file, a test's byte string).
//!
//! - [`oneshot`]: `feira-cli --user alice products 5.00`, for scripts;
//! - [`repl`]: the interactive session, with the numbered menu and raw verbs;
//! - [`connect`]: connecting, with messages that say what to do when it fails;
//! - [`render`] and [`columns`]: replies as aligned tables, column headers per verb;
//! - [`menu`]: the numbered menu for newcomers;
//! - [`input`]: where lines come from (a terminal with history, or a pipe);
//! - [`sharing`]: file sharing in a session: this peer's listener, and downloads;
//! - [`watch`]: `stats --watch`, STATS refreshed every second with rates per second.
//!
//! Exit codes are the same in both modes; see [`Exit`].

pub mod columns;
pub mod connect;
pub mod input;
pub mod menu;
pub mod oneshot;
pub mod render;
pub mod repl;
pub mod sharing;
pub mod watch;

use std::time::Duration;

/// The password variable: `FEIRA_PASSWORD=alice-pass feira-cli --user alice orders`.
/// There is deliberately no `--password` flag: every user on the machine can read a
/// process's arguments (`ps`), while its environment is private to its owner.
pub const PASSWORD_ENV: &str = "FEIRA_PASSWORD";

/// What the user asked for on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's address, `host:port`.
    pub addr: String,
    /// Log in as this user first (the password comes from [`PASSWORD_ENV`] or a prompt).
    pub user: Option<String>,
    /// The limit on connecting and on waiting for each reply.
    pub timeout: Duration,
    /// One-shot mode only: print the reply exactly as it came over the wire.
    pub raw: bool,
    /// Interactive mode: where shared files come from and downloads go.
    pub sharing: sharing::SharingOptions,
}

/// How the process ends. The numbers are part of the interface: scripts test them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command succeeded (or the interactive session ended normally).
    Success,
    /// 1: the server answered `ERR` (a refusal: unknown product, wrong password, ...).
    Refused,
    /// 2: no answer at all: a usage error, the server cannot be reached, the connection
    /// was lost, the server turned the connection away (`ERR BUSY`), or no password.
    Trouble,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Refused => 1,
            Exit::Trouble => 2,
        }
    }
}

/// Runs the client: one command when `command` is not empty, else an interactive session.
pub fn run(options: &Options, command: &[String]) -> Exit {
    if command.is_empty() {
        repl::run_on_stdin(options)
    } else {
        oneshot::run(options, command)
    }
}

/// The password for `user`: from [`PASSWORD_ENV`] if set, else asked on the terminal
/// without echo. Fails with a message that says what to do when there is no terminal.
pub fn password_for(user: &str) -> Result<String, String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    // rpassword reads from the terminal itself (/dev/tty), not from stdin, so this
    // works even when stdin is a pipe, and fails cleanly when there is no terminal.
    rpassword::prompt_password(format!("password for {user}: "))
        .map_err(|e| format!("cannot ask for {user}'s password ({e}): set {PASSWORD_ENV} instead"))
}
