//! What the person asked for on the command line, and how the process ends.
//!
//! Why a file of its own: both modes (src/cli/oneshot.rs and src/cli/repl.rs) read
//! these, and src/cli/mod.rs, which picks the mode, sits above both.

use std::time::Duration;

use super::sharing;

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
