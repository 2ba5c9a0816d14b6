//! One command, then exit: `feira-cli --addr A --user alice products 5.00`.
//!
//! Why the command is sent as raw tokens and not parsed into a `Request` here: the
//! server is the judge of what is valid, and verbs added to the server later (BALANCE,
//! TRANSFER, ...) then work from scripts without a new client. The tokens are quoted
//! with the protocol's own rules, so `feira-cli product "Raquete de tênis"` arrives as
//! one name.
//!
//! Output, so scripts can rely on it: data lines as a table (prices as `12.50`) and the
//! `OK` text on stdout, exit 0; a refusal as `ERR CODE message` on stderr, exit 1
//! (whatever the code: one added by a newer server is still an answer); anything that
//! kept the command from getting an answer on stderr, exit 2.

use std::io::{self, Write};

use super::render::{self, Money};
use super::{Exit, Options, connect, password_for};
use crate::client::Client;
use crate::protocol::{ErrorCode, Refusal, Reply, escape, token};

/// Runs one command (the verb and its arguments, as separate words).
pub fn run(options: &Options, words: &[String]) -> Exit {
    match send(options, words) {
        Ok(reply) => {
            let verb = words.first().map(String::as_str).unwrap_or_default();
            show(options, verb, &reply)
        }
        Err(failure) => report(failure),
    }
}

/// Why a command got no reply of its own.
pub(super) enum Failure {
    /// Nothing came back: exit 2.
    Trouble(String),
    /// The login before the command was refused: exit 1.
    Refused(Refusal),
}

/// Says why on stderr, and picks the exit code.
pub(super) fn report(failure: Failure) -> Exit {
    match failure {
        Failure::Trouble(message) => {
            eprintln!("feira-cli: {}", escape::for_terminal(&message));
            Exit::Trouble
        }
        Failure::Refused(refusal) => {
            eprintln!("{}", render::refusal_for_scripts(&refusal));
            Exit::Refused
        }
    }
}

/// Connects, and logs in if asked to (`--user`).
pub(super) fn open(options: &Options) -> Result<Client, Failure> {
    let addr = &options.addr;
    let mut client = connect::connect(addr, options.timeout).map_err(Failure::Trouble)?;
    if let Some(user) = &options.user {
        let password = password_for(user).map_err(Failure::Trouble)?;
        let line = token::join(&["LOGIN", user.as_str(), password.as_str()]);
        let reply = call(&mut client, addr, &line)?;
        if let Err(refusal) = reply.status {
            return Err(Failure::Refused(refusal));
        }
    }
    Ok(client)
}

/// Connects, logs in if asked to, and sends the command.
fn send(options: &Options, words: &[String]) -> Result<Reply, Failure> {
    let mut client = open(options)?;
    let reply = call(&mut client, &options.addr, &token::join(words))?;
    // Be polite; the answer does not matter, the process is ending anyway.
    let _ = client.send_line("QUIT");
    Ok(reply)
}

/// One request. Replies that mean the server is closing the connection (BUSY,
/// TIMEOUT, LINE_TOO_LONG) are trouble, not a refusal of the command.
pub(super) fn call(client: &mut Client, addr: &str, line: &str) -> Result<Reply, Failure> {
    let reply = client
        .call_line(line)
        .map_err(|e| Failure::Trouble(connect::lost(addr, &e)))?;
    match reply.code() {
        Some(ErrorCode::Busy) => Err(Failure::Trouble(format!(
            "the server at {addr} is at its connection limit (ERR BUSY): try again later"
        ))),
        Some(code @ (ErrorCode::Timeout | ErrorCode::LineTooLong)) => {
            let message = reply.status.err().map(|r| r.message).unwrap_or_default();
            Err(Failure::Trouble(format!(
                "the server closed the connection: {code} {message}"
            )))
        }
        _ => Ok(reply),
    }
}

/// Prints the reply and picks the exit code.
pub(super) fn show(options: &Options, verb: &str, reply: &Reply) -> Exit {
    let mut out = io::stdout().lock();
    // A closed stdout (`feira-cli products | head -1`) is not worth a panic.
    let _ = if options.raw {
        write_raw(&mut out, reply)
    } else {
        write_table(&mut out, verb, reply)
    };
    let _ = out.flush();
    match &reply.status {
        Ok(_) => Exit::Success,
        Err(refusal) => {
            if !options.raw {
                eprintln!("{}", render::refusal_for_scripts(refusal));
                if refusal.code == ErrorCode::AuthRequired && options.user.is_none() {
                    eprintln!("feira-cli: log in with --user NAME (password from $FEIRA_PASSWORD)");
                }
            }
            Exit::Refused
        }
    }
}

fn write_table(out: &mut impl Write, verb: &str, reply: &Reply) -> io::Result<()> {
    for line in render::table(verb, &reply.data, Money::Plain) {
        writeln!(out, "{line}")?;
    }
    match &reply.status {
        Ok(text) if !text.is_empty() => writeln!(out, "{}", escape::for_terminal(text)),
        _ => Ok(()),
    }
}

/// The reply's wire form, line by line, with any control character inside a line
/// escaped (`\u{1b}`): the wire's quoting escapes only the ones that could break the
/// framing, and a terminal would act on the others.
fn write_raw(out: &mut impl Write, reply: &Reply) -> io::Result<()> {
    for line in reply.encode().lines() {
        writeln!(out, "{}", escape::for_terminal(line))?;
    }
    Ok(())
}
