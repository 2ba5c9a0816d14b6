//! File sharing from the interactive client (seed 002): this peer's listener, and downloads.
//!
//! Why the client runs a server: in seed 002's architecture the central server only
//! knows *who* has *what* and *where*; the bytes travel straight from one peer to the
//! other. So after `connect`, this client listens on a port of its own and serves the
//! files of its shared folder ([`crate::p2p::PeerServer`]); `get_file` asks the
//! server where a peer listens (`PEER <user>`) and downloads from it directly
//! ([`crate::p2p::fetch()`]), all or nothing.
//!
//! The listener stops, and the client tells the server (`DISCONNECT`), on
//! `disconnect`, `logout`, `quit`, the end of the input, or Ctrl-C at the prompt. If the
//! client dies instead, the server notices the dropped connection and disconnects it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::p2p::fetch::DEFAULT_MIN_RATE;
use crate::p2p::{FetchOptions, FetchReport, PeerServer, fetch_with, local_path_for};

/// How many downloads this peer serves at once; more get `ERR BUSY` from the peer.
pub const MAX_UPLOADS: usize = 4;

/// The shared folder when `--share-dir` does not name one: under `state/`, the folder
/// `make run-server` serves from, which git ignores, so that shared files and
/// downloads never land among the repository's own files.
pub const DEFAULT_SHARED_FOLDER: &str = "state/share";

/// Where downloads go when `--download-dir` does not say: beside the shared folder.
pub const DEFAULT_DOWNLOAD_DIR: &str = "state/downloads";

/// Where the files come from and go to, and the port to listen on.
#[derive(Debug, Clone)]
pub struct SharingOptions {
    /// The shared folder: the files this peer serves after `connect` (created if
    /// missing; `--share-dir`).
    pub shared_folder: PathBuf,
    /// Where `get_file` saves files when no local path is given (created if missing).
    pub download_dir: PathBuf,
    /// The port to listen on; 0 lets the operating system choose a free one.
    pub listen_port: u16,
    /// The slowest a download's body may arrive, in bytes a second (0: no minimum).
    pub min_rate: u64,
}

impl Default for SharingOptions {
    fn default() -> SharingOptions {
        SharingOptions {
            shared_folder: PathBuf::from(DEFAULT_SHARED_FOLDER),
            download_dir: PathBuf::from(DEFAULT_DOWNLOAD_DIR),
            listen_port: 0,
            min_rate: DEFAULT_MIN_RATE,
        }
    }
}

/// A running file listener.
pub struct Sharing {
    server: PeerServer,
}

impl Sharing {
    /// Starts serving the shared folder on `port` (or `options.listen_port`).
    pub fn start(options: &SharingOptions, port: Option<u16>) -> Result<Sharing, String> {
        let dir = &options.shared_folder;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the shared folder {}: {e}", dir.display()))?;
        // Every interface: other machines must be able to reach this peer, and the
        // server tells them the address it saw this client connect from.
        let port = port.unwrap_or(options.listen_port);
        let server = PeerServer::start(dir, ("0.0.0.0", port), MAX_UPLOADS)
            .map_err(|e| format!("cannot listen for peers on port {port}: {e}"))?;
        Ok(Sharing { server })
    }

    /// The port peers connect to.
    pub fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    /// The folder being served.
    pub fn shared_folder(&self) -> &Path {
        self.server.shared_folder()
    }

    /// Stops the listener; downloads in progress are cut off.
    pub fn stop(self) {
        self.server.shutdown();
    }
}

/// The peer's address from a `PEER` reply's data line: `user ip port`.
pub fn peer_address(row: &[String]) -> Result<SocketAddr, String> {
    let [_, ip, port] = row else {
        return Err(format!("unexpected PEER reply {row:?}"));
    };
    let ip: IpAddr = ip.parse().map_err(|_| format!("bad peer address {ip:?}"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad peer port {port:?}"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Downloads `file_name` from `peer` to `local_path`, or into the download directory
/// under the same name. Nothing is left under the final name if it fails.
///
/// `timeout` bounds connecting and receiving the header together, and each wait for
/// the body's bytes; the body must also keep up `options.min_rate` (see
/// [`FetchOptions`]).
pub fn download(
    options: &SharingOptions,
    peer: SocketAddr,
    file_name: &str,
    local_path: Option<&str>,
    timeout: Duration,
) -> Result<FetchReport, String> {
    let dest = match local_path {
        Some(path) => PathBuf::from(path),
        None => {
            let dir = &options.download_dir;
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "cannot create the download directory {}: {e}",
                    dir.display()
                )
            })?;
            local_path_for(dir, file_name).map_err(|e| e.to_string())?
        }
    };
    let limits = FetchOptions {
        timeout,
        min_rate: options.min_rate,
    };
    fetch_with(peer, file_name, &dest, &limits).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peer_address_from_a_peer_row() {
        let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            peer_address(&row(&["bob", "127.0.0.1", "5000"])),
            Ok("127.0.0.1:5000".parse().unwrap())
        );
        assert!(peer_address(&row(&["bob", "127.0.0.1"])).is_err());
        assert!(peer_address(&row(&["bob", "nowhere", "5000"])).is_err());
        assert!(peer_address(&row(&["bob", "127.0.0.1", "70000"])).is_err());
    }
}
