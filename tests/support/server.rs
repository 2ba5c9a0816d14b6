//! The server in this test process: [`start_server`] binds it on 127.0.0.1 port 0, on a
//! temporary copy of the demo data, and runs it on a thread. Tests talk to it over TCP
//! as any client would, and may also look at its tables through `shared`.
//!
//! Most tests want this one. A test that needs a real process (to kill it with -9,
//! send it a signal, or read its memory in /proc) starts the binary instead:
//! [`ServerProcess`](super::server_process::ServerProcess).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use feira::client::Client;
use feira::server::{Config, Server, SharedRef, ShutdownHandle};
use tempfile::TempDir;

use super::client::{REPLY_TIMEOUT, login};
use super::data::demo_data_dir;

/// A running server; stopped (gracefully) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: SharedRef,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<feira::Result<()>>>,
    /// The data directory (kept alive as long as the server, or longer with `stop`).
    dir: Option<TempDir>,
}

/// A config for tests: port 0, the given data directory, a checkpoint every MiB of
/// journal (which is also the zero padding each server writes ahead of its journal:
/// 64 MiB per test server would be 50 ms each for nothing), otherwise the defaults.
pub fn test_config(dir: &Path) -> Config {
    Config {
        addr: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        checkpoint_bytes: 1024 * 1024,
        ..Config::default()
    }
}

/// Starts a server on a copy of the demo data.
pub fn start_server() -> TestServer {
    start_server_with(|_| {})
}

/// Starts a server on a copy of the demo data, after `adjust` changes the config.
pub fn start_server_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let dir = demo_data_dir();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    start_in(dir, config)
}

/// Starts a server with this config on this directory (which the server then owns).
pub fn start_in(dir: TempDir, config: Config) -> TestServer {
    let server = Server::bind(config).expect("the server starts");
    let addr = server.local_addr();
    let shared = server.shared();
    let handle = server.shutdown_handle();
    let thread = std::thread::Builder::new()
        .name("test-server".into())
        .spawn(move || server.run())
        .unwrap();
    TestServer {
        addr,
        shared,
        handle,
        thread: Some(thread),
        dir: Some(dir),
    }
}

impl TestServer {
    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.as_ref().unwrap().path().to_path_buf()
    }

    /// A new connection, not logged in.
    pub fn client(&self) -> Client {
        Client::connect(self.addr, REPLY_TIMEOUT).expect("connect to the test server")
    }

    /// A new connection from another loopback address, `127.0.0.<last>` (Linux routes
    /// all of 127/8 to loopback): a client the server counts as a different address.
    pub fn client_from(&self, last: u8) -> Client {
        let local = std::net::IpAddr::from([127, 0, 0, last]);
        Client::connect_from(local, self.addr, REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect from {local}: {e}"))
    }

    /// A new connection, logged in as `user`.
    pub fn login(&self, user: (&str, &str)) -> Client {
        login(self.addr, user)
    }

    /// Stops the server gracefully and hands back its data directory.
    pub fn stop(mut self) -> TempDir {
        self.shutdown_and_join();
        self.dir.take().unwrap()
    }

    /// Stops the server and starts a new one on the same data directory.
    pub fn restart(self) -> TestServer {
        let dir = self.stop();
        let config = test_config(dir.path());
        start_in(dir, config)
    }

    fn shutdown_and_join(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .expect("the server thread does not panic")
                .expect("the server stops cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.shutdown();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
