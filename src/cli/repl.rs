//! The interactive session: a numbered menu for newcomers, raw verbs for everyone.
//!
//! Each line is one of:
//! - a menu number (`3`): the entry asks for its arguments, then sends its verb;
//! - `?` or `menu`: shows the menu; `help`: the server's HELP, then the menu;
//! - `quit`, `exit` or `0`: ends the session (so does the end of the input);
//! - `reconnect`: opens a new connection (and logs in again);
//! - `connect [port]`, `disconnect`, `get_file <user> <file> [local_path]`: file
//!   sharing, where this client is a peer too (see [`super::sharing`]);
//! - anything else: a request, sent as typed (`order "Raquete de tênis" 1`).
//!
//! Ctrl-C at the prompt ends the session like `quit`: the client leaves the directory
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

use std::io::{self, IsTerminal, Write};

use super::columns::Kind;
use super::input::{Input, Read, Script, Terminal};
use super::menu::{self, Answer, Entry, PROBES, Probe};
use super::render::{self, Money};
use super::sharing::{self, Sharing};
use super::{Exit, Options, connect, password_for};
use crate::client::Client;
use crate::protocol::{Cents, ErrorCode, Reply, escape, token};

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
            // Leave the directory before the listener goes, so nobody is sent to a
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

    /// A number typed at the prompt.
    fn menu_choice(&mut self, key: &str) -> Flow {
        if key == menu::QUIT_KEY {
            return Flow::Stop(Exit::Success);
        }
        let Some(entry) = menu::find(key) else {
            self.say(&format!(
                "there is no entry {key} in the menu: type ? to see it"
            ));
            return Flow::Continue;
        };
        match self.ask(entry) {
            Some(answers) => self.command(&menu::words(entry, &answers)),
            None => {
                self.say("(cancelled)");
                Flow::Continue
            }
        }
    }

    /// Asks an entry's questions; `None` if the person gives up on one.
    fn ask(&mut self, entry: &Entry) -> Option<Vec<String>> {
        let mut answers = Vec::with_capacity(entry.asks.len());
        for ask in entry.asks {
            let prompt = format!("  {}: ", ask.prompt);
            let read = match ask.answer {
                Answer::Secret => self.input.secret(&prompt),
                Answer::Required | Answer::Optional => self.input.line(&prompt),
            };
            let Ok(Read::Line(answer)) = read else {
                return None;
            };
            // Spaces around a name are never meant; in a password they might be.
            let answer = match ask.answer {
                Answer::Secret => answer,
                Answer::Required | Answer::Optional => answer.trim().to_string(),
            };
            if answer.is_empty() && ask.answer != Answer::Optional {
                return None;
            }
            answers.push(answer);
        }
        Some(answers)
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
                self.show_menu();
                flow
            }
            ("CONNECT", 1 | 2) => self.connect_peer(words.get(1)),
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

    /// `connect [port]`: starts this peer's file listener, then tells the directory.
    fn connect_peer(&mut self, port: Option<&String>) -> Flow {
        let port = match port.map(|p| p.parse::<u16>()) {
            None => None,
            Some(Ok(port)) => Some(port),
            Some(Err(_)) => {
                self.say("usage: connect [port]   (a port from 1 to 65535; none: any free port)");
                return Flow::Continue;
            }
        };
        if self.sharing.is_none() {
            match Sharing::start(&self.options.sharing, port) {
                Ok(sharing) => self.sharing = Some(sharing),
                Err(message) => {
                    self.say(&format!("error: {message}"));
                    return Flow::Continue;
                }
            }
        }
        let Some(sharing) = &self.sharing else {
            return Flow::Continue;
        };
        let (listening, dir) = (
            sharing.port(),
            sharing.shared_folder().display().to_string(),
        );
        match self.exchange(&["CONNECT".to_string(), listening.to_string()]) {
            Ok(reply) if reply.is_ok() => {
                self.say(&format!(
                    "sharing {dir} with other peers on port {listening}"
                ));
                Flow::Continue
            }
            Ok(_) => {
                // Refused (not logged in, already connected, ...): nobody will come.
                self.stop_sharing();
                Flow::Continue
            }
            Err(flow) => {
                self.stop_sharing();
                flow
            }
        }
    }

    /// `get_file <user> <file> [local_path]`: asks the directory where the peer is,
    /// then downloads straight from it.
    fn get_file(&mut self, user: &str, file_name: &str, local_path: Option<&String>) -> Flow {
        let reply = match self.exchange(&["PEER".to_string(), user.to_string()]) {
            Ok(reply) => reply,
            Err(flow) => return flow,
        };
        if !reply.is_ok() {
            return Flow::Continue;
        }
        let peer = match reply.data.first().map(|row| sharing::peer_address(row)) {
            Some(Ok(peer)) => peer,
            Some(Err(message)) => {
                self.say(&format!("error: {message}"));
                return Flow::Continue;
            }
            None => {
                self.say("error: the directory did not say where the peer is");
                return Flow::Continue;
            }
        };
        let local = local_path.map(String::as_str);
        match sharing::download(
            &self.options.sharing,
            peer,
            file_name,
            local,
            self.options.timeout,
        ) {
            Ok(report) => self.say(&format!(
                "downloaded {file_name} from {user} at {peer}: {} bytes in {:.2?}, sha256 {} -> {}",
                report.size,
                report.elapsed,
                report.sha256,
                report.path.display()
            )),
            Err(message) => self.say(&format!("download failed: {message}")),
        }
        Flow::Continue
    }

    /// Stops the file listener, if it runs.
    fn stop_sharing(&mut self) {
        if let Some(sharing) = self.sharing.take() {
            sharing.stop();
            self.say("(stopped sharing files)");
        }
    }

    /// Sends a request, shows the reply, and keeps track of who is logged in.
    fn request(&mut self, words: &[String]) -> Flow {
        match self.exchange(words) {
            Ok(_) => Flow::Continue,
            Err(flow) => flow,
        }
    }

    /// [`Repl::request`], handing the reply back; `Err` when the connection is gone
    /// (with what to do next).
    fn exchange(&mut self, words: &[String]) -> Result<Reply, Flow> {
        if self.client.is_none() && !self.reconnect() {
            return Err(self.gone());
        }
        let line = token::join(words);
        let reply = match self.call(&line) {
            Ok(reply) => reply,
            Err(e) => {
                self.trouble(&connect::lost(&self.options.addr, &e));
                self.trouble("your last request may or may not have been carried out");
                return Err(self.after_loss());
            }
        };
        let verb = words[0].to_ascii_uppercase();
        for line in render::reply(&verb, &reply, Money::Reais) {
            self.say(&line);
        }
        if reply.is_ok() {
            match (verb.as_str(), words) {
                ("LOGIN", [_, user, password]) => {
                    self.login = Some(Login {
                        user: user.clone(),
                        password: password.clone(),
                        role: None,
                    });
                }
                ("LOGOUT" | "UNREGISTER", _) => self.login = None,
                _ => {}
            }
        }
        Ok(reply)
    }

    /// One round trip. Handles the replies after which the server closes the
    /// connection: an idle connection is reopened and the request sent again (the
    /// server closed it before reading the request, so it was not carried out).
    fn call(&mut self, line: &str) -> io::Result<Reply> {
        let Some(client) = &mut self.client else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        let reply = client.call_line(line)?;
        match reply.code() {
            Some(ErrorCode::Timeout) => {
                self.client = None;
                self.say("(the server had closed the idle connection: reconnecting)");
                if !self.reconnect() {
                    return Err(io::Error::from(io::ErrorKind::NotConnected));
                }
                match &mut self.client {
                    Some(client) => client.call_line(line),
                    None => Err(io::Error::from(io::ErrorKind::NotConnected)),
                }
            }
            Some(ErrorCode::Busy | ErrorCode::LineTooLong) => {
                // The server closes the connection after these; the next request
                // reconnects.
                self.client = None;
                Ok(reply)
            }
            _ => Ok(reply),
        }
    }

    /// Opens a new connection and logs in again if the session was logged in.
    /// Says what went wrong and returns false if it could not.
    fn reconnect(&mut self) -> bool {
        self.client = None;
        let options = self.options;
        let addr = &options.addr;
        let mut client = match connect::connect(addr, options.timeout) {
            Ok(client) => client,
            Err(message) => {
                self.trouble(&message);
                return false;
            }
        };
        if let Some(login) = &self.login {
            let line = token::join(&["LOGIN", login.user.as_str(), login.password.as_str()]);
            let refusal = match client.call_line(&line) {
                Ok(reply) => reply.status.err(),
                Err(e) => {
                    self.trouble(&connect::lost(addr, &e));
                    return false;
                }
            };
            match refusal {
                None => {}
                // A full server says so before anything else: still logged in, just
                // not connected.
                Some(refusal) if refusal.code == ErrorCode::Busy => {
                    self.trouble(&format!(
                        "the server at {addr} is at its connection limit (ERR BUSY): \
                         try again later"
                    ));
                    return false;
                }
                // Too many failed logins for this name or from this address (perhaps
                // someone else's): the password was never checked, so it is kept. Not
                // logged in, so not connected either; a later request tries again.
                Some(refusal) if refusal.code == ErrorCode::Throttled => {
                    self.trouble(&format!(
                        "connected, but logging in again as {} was refused for now: {refusal}",
                        login.user
                    ));
                    self.trouble(
                        "your login is kept: type reconnect, or any request, once that time is up",
                    );
                    return false;
                }
                // The account may have been deleted, or its password changed.
                Some(refusal) => {
                    self.trouble(&format!(
                        "connected, but logging in again as {} failed: {refusal}",
                        login.user
                    ));
                    self.login = None;
                }
            }
        }
        if let Some(sharing) = &self.sharing {
            // The directory forgot this peer with the old connection: announce it again.
            let _ = client.call_line(&format!("CONNECT {}", sharing.port()));
        }
        self.client = Some(client);
        true
    }

    /// The connection is gone: on a terminal, offer to reconnect; a script stops.
    fn after_loss(&mut self) -> Flow {
        self.client = None;
        if self.input.is_terminal() && self.confirm("reconnect? [Y/n] ") {
            if self.reconnect() {
                self.say("(reconnected)");
            } else {
                // Stay: the next request tries again.
                self.say("(not connected: type reconnect to try again, or quit)");
            }
            return Flow::Continue;
        }
        Flow::Stop(Exit::Trouble)
    }

    /// No connection and none to be had.
    fn gone(&mut self) -> Flow {
        if self.input.is_terminal() {
            self.say("(not connected: type reconnect to try again, or quit)");
            Flow::Continue
        } else {
            Flow::Stop(Exit::Trouble)
        }
    }

    /// Shows the menu under a header that says who is logged in.
    fn show_menu(&mut self) {
        let header = self.header();
        let admin = self
            .login
            .as_ref()
            .is_some_and(|l| l.role.as_deref() == Some("admin"));
        for line in menu::lines(&header, admin) {
            self.say(&line);
        }
    }

    /// `feira at 127.0.0.1:7878 · alice (customer) · balance: R$ 100,00`.
    fn header(&mut self) -> String {
        let mut parts = vec![format!("feira at {}", self.options.addr)];
        if self.login.is_none() {
            parts.push("not logged in".into());
            return parts.join(" · ");
        }
        self.learn_role();
        if let Some(login) = &self.login {
            match &login.role {
                Some(role) => parts.push(format!("{} ({role})", login.user)),
                None => parts.push(login.user.clone()),
            }
        }
        for (i, probe) in PROBES.iter().enumerate() {
            if let Some(value) = self.probe(i, probe) {
                parts.push(format!("{}: {value}", probe.label));
            }
        }
        parts.join(" · ")
    }

    /// Asks WHOAMI for the logged-in user's role, once per login (admins see more
    /// menu entries).
    fn learn_role(&mut self) {
        if self.login.as_ref().is_none_or(|l| l.role.is_some()) {
            return;
        }
        let role = self
            .quiet_call("WHOAMI")
            .and_then(|reply| reply.data.first().and_then(|row| row.get(1)).cloned());
        if let Some(login) = &mut self.login {
            login.role = role;
        }
    }

    /// A probe's value, if the server has its verb. A server that does not is not
    /// asked again.
    fn probe(&mut self, index: usize, probe: &Probe) -> Option<String> {
        if self.probes[index] == Support::No {
            return None;
        }
        let reply = self.quiet_call(probe.verb)?;
        if reply.code() == Some(ErrorCode::UnknownCommand) {
            self.probes[index] = Support::No;
            return None;
        }
        let Ok(text) = &reply.status else {
            return None;
        };
        self.probes[index] = Support::Yes;
        let value = match reply.data.first().and_then(|row| row.get(probe.column)) {
            Some(cell) => cell.clone(),
            None => text.clone(),
        };
        match (probe.kind, value.parse::<Cents>()) {
            (Kind::Money, Ok(amount)) => Some(amount.to_brl()),
            _ => Some(value),
        }
    }

    /// A request made for the header: failures are silent (the header just says less).
    fn quiet_call(&mut self, line: &str) -> Option<Reply> {
        let client = self.client.as_mut()?;
        match client.call_line(line) {
            Ok(reply) => Some(reply),
            Err(_) => {
                // The next real request will notice and report it.
                self.client = None;
                None
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::{SocketAddr, TcpListener};
    use std::time::Duration;

    fn options(addr: SocketAddr) -> Options {
        Options {
            addr: addr.to_string(),
            user: None,
            timeout: Duration::from_secs(5),
            raw: false,
            sharing: Default::default(),
        }
    }

    /// A stand-in server for one connection: it answers LOGIN with `login_reply`, and
    /// anything else with `OK`.
    fn fake_server(login_reply: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut writer = stream.try_clone().unwrap();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let reply = if line.starts_with("LOGIN ") {
                    login_reply
                } else {
                    "OK"
                };
                if writeln!(writer, "{reply}").is_err() {
                    return;
                }
            }
        });
        addr
    }

    /// A session logged in as alice reconnects to a server that answers her LOGIN with
    /// `login_reply`. Returns whether it reconnected, whether it still has her login,
    /// and what it said on stderr.
    fn reconnect_as_alice(login_reply: &'static str) -> (bool, bool, String) {
        let options = options(fake_server(login_reply));
        let mut input = Script::new(&b""[..]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut repl = Repl::new(&options, &mut input, &mut out, &mut err);
        repl.login = Some(Login {
            user: "alice".into(),
            password: "alice-pass".into(),
            role: None,
        });
        let reconnected = repl.reconnect();
        let kept = repl.login.is_some();
        drop(repl);
        (reconnected, kept, String::from_utf8(err).unwrap())
    }

    /// THROTTLED is not a wrong password: the password was never checked.
    #[test]
    fn a_throttled_login_after_a_reconnect_keeps_the_saved_login() {
        let (reconnected, kept, err) =
            reconnect_as_alice("ERR THROTTLED too many failed logins for this name; retry in 8 s");
        assert!(kept, "the login was forgotten: {err}");
        assert!(!reconnected, "connected but not logged in: {err}");
        assert!(err.contains("retry in 8 s"), "{err}");
        assert!(err.contains("your login is kept"), "{err}");
    }

    #[test]
    fn a_wrong_password_after_a_reconnect_forgets_the_saved_login() {
        let (reconnected, kept, err) =
            reconnect_as_alice("ERR AUTH_FAILED wrong user name or password");
        assert!(!kept, "{err}");
        assert!(reconnected, "connected, logged out: {err}");
        assert!(err.contains("AUTH_FAILED"), "{err}");
    }

    /// A session whose server is not there: a script stops with exit 2 and says why.
    #[test]
    fn a_script_stops_when_the_server_is_unreachable() {
        // Bind and drop a listener, so the port is (almost certainly) closed.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let options = options(addr);
        let mut input = Script::new("products\n".as_bytes());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = run(&options, &mut input, &mut out, &mut err);
        assert_eq!(exit, Exit::Trouble);
        assert!(out.is_empty());
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains("connection refused — is it running?"), "{err}");
    }
}
