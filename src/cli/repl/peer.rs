//! The peer commands of a session: `connect [port]`, `get_file`, and stopping the
//! file listener.
//!
//! Why a file of its own: these are the only commands that the client carries out
//! itself rather than send as typed: it starts a serving peer of its own and downloads
//! from other peers directly (src/cli/sharing.rs, src/p2p/), and asks the server only
//! where they are.

use super::{Flow, Repl};
use crate::cli::sharing::{self, Sharing};

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

    /// Stops the file listener, if it runs.
    pub(super) fn stop_sharing(&mut self) {
        if let Some(sharing) = self.sharing.take() {
            sharing.stop();
            self.say("(stopped sharing files)");
        }
    }
}
