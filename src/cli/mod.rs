//! `feira-cli`, the client people use: one command and exit, or an interactive session.
//!
//! Why it is a library module and not a long `main`: the binary in `src/bin/feira-cli.rs`
//! only parses flags. Everything here can be read, reused and tested without a terminal:
//! rendering a reply is a pure function ([`render`]), the menu is a table ([`menu`]),
//! and the interactive loop ([`repl`]) reads from an [`input::Input`], which is either a
//! line editor on a terminal or any `BufRead` (a pipe, a file, a test's byte string).
//!
//! # Layout, bottom-up
//! Each file uses only the files above it; this file, which picks the mode, uses them all.
//! - [`columns`]: column headers per verb; [`input`]: where lines come from (a terminal
//!   with history, or a pipe); [`connect`]: connecting, with messages that say what to
//!   do when it fails; [`sharing`]: file sharing in a session: this peer's listener, and
//!   downloads;
//! - [`options`]: what the person asked for ([`Options`]), the password, and the exit
//!   codes ([`Exit`]);
//! - [`render`]: replies as aligned tables; [`menu`]: the numbered menu for newcomers;
//!   [`commands`]: the interactive client's own commands, as `help` lists them;
//! - [`oneshot`]: `feira-cli --user alice products 5.00`, for scripts; [`watch`]:
//!   `stats --watch`, STATS refreshed every second with rates per second;
//!   [`clock_skew`]: `time --http ADDR`, the server's clock against this machine's;
//! - [`repl`]: the interactive session, with the numbered menu and raw verbs;
//! - `grpc_oneshot` (with the `grpc` feature): `feira-cli --grpc ADDR products`, one
//!   command over the gRPC door, printed as [`oneshot`] prints it.
//!
//! Exit codes are the same in both modes; see [`Exit`].

pub mod clock_skew;
pub mod columns;
pub mod commands;
pub mod connect;
#[cfg(feature = "grpc")]
pub mod grpc_oneshot;
pub mod input;
pub mod menu;
pub mod oneshot;
pub mod options;
pub mod render;
pub mod repl;
pub mod sharing;
pub mod watch;

pub use options::{Exit, Options, PASSWORD_ENV, password_for};

/// Runs the client: one command when `command` is not empty, else an interactive session.
pub fn run(options: &Options, command: &[String]) -> Exit {
    if command.is_empty() {
        repl::run_on_stdin(options)
    } else {
        oneshot::run(options, command)
    }
}
