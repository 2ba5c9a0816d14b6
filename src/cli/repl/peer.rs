//! The peer commands of a session: `connect [port]`, `get_file`, and stopping the
//! file listener.
//!
//! Why a file of its own: these are the only commands that the client carries out
//! itself rather than send as typed: it starts a serving peer of its own and downloads
//! from other peers directly (src/cli/sharing.rs, src/p2p/), and asks the server only
//! where they are.

use super::{Flow, Repl};
use crate::cli::commands;
use crate::cli::sharing::{self, Sharing};
use crate::p2p::share::SharedFolder;

/// What to type to join the connected users, and its menu number: `connect (menu 14)`.
pub(super) fn connect_hint() -> String {
    match commands::find("connect").and_then(|c| c.menu) {
        Some(key) => format!("connect (menu {key})"),
        None => "connect".to_string(),
    }
}

impl Repl<'_> {
    /// `connect [port]`: starts this peer's file listener, then tells the server.
    pub(super) fn connect_peer(&mut self, port: Option<&String>) -> Flow {
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

    /// `get_file <user> <file> [local_path]`: asks the server where the peer is,
    /// then downloads straight from it.
    pub(super) fn get_file(
        &mut self,
        user: &str,
        file_name: &str,
        local_path: Option<&String>,
    ) -> Flow {
        // PEER answers only users in the list of connected users (as in seed 002), and
        // this session is in it exactly while its file listener runs. The server would
        // say `CONNECT <port> first`; in this client that is a command of its own.
        if self.sharing.is_none() {
            self.say(&format!(
                "get_file needs you sharing first: type {}, then get_file again",
                connect_hint()
            ));
            return Flow::Continue;
        }
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
                self.say("error: the server did not say where the peer is");
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

    /// `publish <file> <description>`: sent only if the file is in this client's
    /// shared folder. The server cannot see the folder, so it would list any name, and
    /// peers asking for a missing file would get NOT_FOUND from this client later.
    pub(super) fn publish(&mut self, words: &[String]) -> Flow {
        let folder = match &self.sharing {
            Some(sharing) => sharing.shared_folder().to_path_buf(),
            None => self.options.sharing.shared_folder.clone(),
        };
        let (name, dir) = (&words[1], folder.display());
        let refusal = match SharedFolder::open(&folder) {
            Ok(share) => share
                .resolve(name)
                .err()
                .map(|e| format!("{name:?} is not a file of your shared folder {dir} ({e})")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some(format!("your shared folder {dir} does not exist yet"))
            }
            Err(e) => Some(format!("your shared folder {dir} cannot be opened ({e})")),
        };
        if let Some(why) = refusal {
            self.say(&format!(
                "not published: {why}; put the file there first \
                 (the server cannot see your folder, so this client checks)"
            ));
            return Flow::Continue;
        }
        self.request(words)
    }

    /// Stops the file listener, if it runs.
    pub(super) fn stop_sharing(&mut self) {
        if let Some(sharing) = self.sharing.take() {
            sharing.stop();
            self.say("(stopped sharing files)");
        }
    }
}
