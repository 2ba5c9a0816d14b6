//! The numbered menu in a session: choosing an entry, answering its questions, and the
//! header above the menu (who is logged in, the balance).
//!
//! Why a file of its own: the menu table itself is src/cli/menu.rs; this is what a
//! session does with it. The header asks the server a few quiet questions (WHOAMI and
//! the probes); a server without a probe's verb is not asked again.

use super::{Flow, Repl, Support};
use crate::cli::Exit;
use crate::cli::columns::Kind;
use crate::cli::input::Read;
use crate::cli::menu::{self, Answer, Entry, PROBES, Probe};
use crate::protocol::{Cents, ErrorCode};

impl Repl<'_> {
    /// A number typed at the prompt.
    pub(super) fn menu_choice(&mut self, key: &str) -> Flow {
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
    pub(super) fn ask(&mut self, entry: &Entry) -> Option<Vec<String>> {
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

    /// Shows the menu under a header that says who is logged in.
    pub(super) fn show_menu(&mut self) {
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
    pub(super) fn header(&mut self) -> String {
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
    pub(super) fn learn_role(&mut self) {
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
    pub(super) fn probe(&mut self, index: usize, probe: &Probe) -> Option<String> {
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
}
