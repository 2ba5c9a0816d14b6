//! The interactive session: a numbered menu for newcomers, raw verbs for everyone.
//!
//! Each line is one of:
//! - a menu number (`3`): the entry asks for its arguments, then sends its verb;
//! - `?` or `menu`: shows the menu; `help`: the server's HELP, then the client's own
//!   commands ([`super::commands`]), then the menu; `help get_file`: one of those;
//! - `quit`, `exit` or `0`: ends the session (so does the end of the input);
//! - `reconnect`: opens a new connection (and logs in again);
//! - `connect [port]`, `disconnect`, `get_file <user> <file> [local_path]`: file
//!   sharing, where this client is a peer too (see [`super::sharing`]); `publish`
//!   is checked against the shared folder before it is sent;
//! - anything else: a request, sent as typed (`order "Raquete de tênis" 1`).
//!
//! Ctrl-C at the prompt ends the session like `quit`: the client leaves file sharing
//! and stops its file listener first (seed 002's forced disconnect).
//!
//! Why the session remembers the password after a LOGIN: when the connection drops
//! (the server restarts, or closes a connection that sat idle past its
//! `--idle-timeout`), the session reconnects and logs in again by itself, which is
//! what a person expects. The password stays in this process's memory only, and lines
//! with a password in them never go into the history file.
//!
//! Output goes to `out`; trouble with the connection goes to `err`, so a script that
//! pipes its commands in can keep the two apart.
//!
//! This file is the loop and the dispatch of each line; the rest is one concept a file:
//! - `repl/connection.rs`: each request and its reply, and reconnecting (and logging in
//!   again) when the connection is lost;
//! - `repl/menu_choice.rs`: a numbered entry and its questions, and the menu's header;
//! - `repl/peer.rs`: `connect`, `get_file` and stopping the file listener.

use std::io::{self, IsTerminal, Write};

use super::commands;
use super::input::{Input, Read, Script, Terminal};
use super::menu::PROBES;
use super::sharing::Sharing;
use super::{Exit, Options, password_for};
use crate::client::Client;
use crate::protocol::{escape, token};

/// Verbs whose arguments include a password: such lines never enter the history.
const SECRET_VERBS: &[&str] = &["LOGIN", "REGISTER", "UNREGISTER"];

/// Runs a session on this process's stdin and stdout: a line editor when stdin is a
/// terminal, plain lines when it is a pipe or a file.
pub fn run_on_stdin(options: &Options) -> Exit {
    let stdin = io::stdin();
    let mut out = io::stdout();
    let mut err = io::stderr();
    if stdin.is_terminal() {
        match Terminal::new() {
            Ok(mut terminal) => return run(options, &mut terminal, &mut out, &mut err),
            Err(e) => {
                let _ = writeln!(err, "(no line editing: {e})");
            }
        }
    }
    run(options, &mut Script::new(stdin.lock()), &mut out, &mut err)
}

/// Runs a session reading from `input`. Returns [`Exit::Success`] when the session
/// ends normally, [`Exit::Trouble`] when it ends because the server is out of reach.
pub fn run(
    options: &Options,
    input: &mut dyn Input,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    Repl::new(options, input, out, err).run()
}

/// The logged-in user, remembered to log in again after a reconnect.
struct Login {
    user: String,
    password: String,
    /// From WHOAMI, asked the first time the menu is shown.
    role: Option<String>,
}

/// Does the server have a probe's verb?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Support {
    Unknown,
    Yes,
    No,
}

/// What to do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// End the session with this exit code.
    Stop(Exit),
}

struct Repl<'a> {
    options: &'a Options,
    input: &'a mut dyn Input,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    /// `None` after the connection was lost, until the next reconnect.
    client: Option<Client>,
    login: Option<Login>,
    /// One per [`PROBES`] entry.
    probes: Vec<Support>,
    /// This peer's file listener, between `connect` and `disconnect`.
    sharing: Option<Sharing>,
}

impl<'a> Repl<'a> {
    /// A session not connected yet, and not logged in.
    fn new(
        options: &'a Options,
        input: &'a mut dyn Input,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    ) -> Repl<'a> {
        Repl {
            options,
            input,
            out,
            err,
            client: None,
            login: None,
            probes: vec![Support::Unknown; PROBES.len()],
            sharing: None,
        }
    }

    fn run(&mut self) -> Exit {
        if let Flow::Stop(exit) = self.start() {
            self.input.finish();
            return exit;
        }
        let exit = loop {
            let prompt = match &self.login {
                Some(login) => format!("{}> ", login.user),
                None => "feira> ".to_string(),
            };
            let flow = match self.input.line(&prompt) {
                Ok(Read::Line(line)) => self.line(&line),
                Ok(Read::Interrupted) => {
                    self.say("(interrupted: leaving)");
                    Flow::Stop(Exit::Success)
                }
                Ok(Read::End) => Flow::Stop(Exit::Success),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.trouble(&format!("{e}; skipped"));
                    Flow::Continue
                }
                Err(e) => {
                    self.trouble(&format!("cannot read the input: {e}"));
                    Flow::Stop(Exit::Trouble)
                }
            };
            if let Flow::Stop(exit) = flow {
                break exit;
            }
        };
        if self.sharing.is_some() {
            // Leave file sharing before the listener goes, so nobody is sent to a
            // peer that no longer answers.
            if let Some(client) = &mut self.client {
                let _ = client.call_line("DISCONNECT");
            }
            self.stop_sharing();
        }
        if let Some(client) = &mut self.client {
            // Say goodbye so the server logs a clean close; the reply does not matter.
            let _ = client.send_line("QUIT");
        }
        self.input.finish();
        exit
    }

    /// Connects (asking to retry on a terminal), logs in with `--user`, greets.
    fn start(&mut self) -> Flow {
        while !self.reconnect() {
            if !self.input.is_terminal() || !self.confirm("try again? [Y/n] ") {
                return Flow::Stop(Exit::Trouble);
            }
        }
        if self.input.is_terminal() {
            self.say(&format!(
                "Connected to feira at {}. Choose from the menu, or type a verb.",
                self.options.addr
            ));
        }
        if let Some(user) = self.options.user.clone() {
            match password_for(&user) {
                Ok(password) => {
                    let words = vec!["LOGIN".to_string(), user, password];
                    if let Flow::Stop(exit) = self.request(&words) {
                        return Flow::Stop(exit);
                    }
                }
                Err(message) => self.trouble(&message),
            }
        }
        if self.input.is_terminal() {
            self.show_menu();
        }
        Flow::Continue
    }

    /// One line of input.
    fn line(&mut self, line: &str) -> Flow {
        let words = match token::split(line) {
            Ok(words) => words,
            Err(e) => {
                self.say(&format!("error: {e}"));
                return Flow::Continue;
            }
        };
        let Some(first) = words.first() else {
            return Flow::Continue;
        };
        let verb = first.to_ascii_uppercase();
        if !SECRET_VERBS.contains(&verb.as_str()) {
            self.input.remember(line);
        }
        if words.len() == 1 && first.bytes().all(|b| b.is_ascii_digit()) {
            return self.menu_choice(first);
        }
        self.command(&words)
    }

    /// A command, typed or made by a menu entry: local ones first, then the server.
    fn command(&mut self, words: &[String]) -> Flow {
        let verb = words[0].to_ascii_uppercase();
        match (verb.as_str(), words.len()) {
            ("?" | "MENU", 1) => {
                self.show_menu();
                Flow::Continue
            }
            ("QUIT" | "EXIT", 1) => Flow::Stop(Exit::Success),
            ("RECONNECT", 1) => {
                if self.reconnect() {
                    self.say("(reconnected)");
                }
                Flow::Continue
            }
            ("HELP", 1) => {
                let flow = self.request(words);
                for line in commands::lines() {
                    self.say(&line);
                }
                self.show_menu();
                flow
            }
            ("HELP", 2) if commands::find(&words[1]).is_some() => self.help_command(&words[1]),
            ("CONNECT", 1 | 2) => self.connect_peer(words.get(1)),
            ("PUBLISH", 2..) => self.publish(words),
            ("DISCONNECT", 1) => {
                let flow = self.request(words);
                self.stop_sharing();
                flow
            }
            ("GET_FILE", 3 | 4) => self.get_file(&words[1], &words[2], words.get(3)),
            ("GET_FILE", _) => {
                self.say("usage: get_file <user> <file_name> [local_path]");
                Flow::Continue
            }
            // The server forgets this peer on LOGOUT or a LOGIN as someone else.
            ("LOGOUT" | "LOGIN", _) => {
                let flow = self.request(words);
                self.stop_sharing();
                flow
            }
            _ => self.request(words),
        }
    }

    /// `help <command>` for one of the client's own commands: its usage and summary,
    /// then the server's help for the verb it sends, if it sends one.
    fn help_command(&mut self, name: &str) -> Flow {
        let Some(command) = commands::find(name) else {
            return Flow::Continue;
        };
        self.say(&commands::line(command));
        match command.verb {
            Some(verb) => self.request(&["HELP".to_string(), verb.to_string()]),
            None => Flow::Continue,
        }
    }

    /// Asks a yes/no question; yes unless the answer starts with `n`.
    fn confirm(&mut self, question: &str) -> bool {
        match self.input.line(question) {
            Ok(Read::Line(answer)) => !answer.trim().to_ascii_lowercase().starts_with('n'),
            _ => false,
        }
    }

    /// Prints one line. Every line of the session goes through here or [`Self::trouble`],
    /// and both escape control characters: a line may hold text from the server or a
    /// peer, and none of it may drive the terminal (see `render`).
    fn say(&mut self, line: &str) {
        // A closed stdout (`feira-cli | head`) is not worth a panic; the input's end
        // will stop the session.
        let _ = writeln!(self.out, "{}", escape::for_terminal(line));
        let _ = self.out.flush();
    }

    fn trouble(&mut self, message: &str) {
        let _ = writeln!(self.err, "feira-cli: {}", escape::for_terminal(message));
        let _ = self.err.flush();
    }
}

mod connection;
mod menu_choice;
mod peer;
#[cfg(test)]
mod tests;
