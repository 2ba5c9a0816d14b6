//! Test support: a real server on 127.0.0.1 port 0, on a temporary copy of `data/`.
//!
//! Every integration test starts its own server, so tests run in parallel without
//! sharing state. The server runs in-process on a thread; tests talk to it over TCP
//! exactly as any client would, and can also reach its database through `shared`.
#![allow(dead_code)] // Each test file uses a different part of this module.

pub mod process;
pub mod server_process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use feira::client::Client;
use feira::protocol::{ErrorCode, Reply};
use feira::server::{Config, Server, SharedRef, ShutdownHandle};
use tempfile::TempDir;

/// The demo accounts (see data/users.csv and the README).
pub const ADMIN: (&str, &str) = ("admin", "admin-pass");
pub const ALICE: (&str, &str) = ("alice", "alice-pass");
pub const BOB: (&str, &str) = ("bob", "bob-pass");

/// A running server; stopped (gracefully) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: SharedRef,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<feira::Result<()>>>,
    /// The data directory (kept alive as long as the server, or longer with `stop`).
    dir: Option<TempDir>,
}

/// A fresh temporary directory holding a copy of the demo data.
pub fn demo_data_dir() -> TempDir {
    demo_data_dir_in(&std::env::temp_dir())
}

/// A copy of the demo data on the disk that holds `target/` (the project's own disk),
/// for a test whose figures need an fsync that costs what it costs on a real disk:
/// the system's temporary directory is a tmpfs on many machines, where an fsync is
/// free and group commit has nothing to share.
pub fn demo_data_dir_on_disk() -> TempDir {
    demo_data_dir_in(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// A fresh temporary directory under `parent`, holding a copy of the demo data.
fn demo_data_dir_in(parent: &Path) -> TempDir {
    std::fs::create_dir_all(parent).expect("a folder for temporary directories");
    let dir = tempfile::tempdir_in(parent).expect("a temporary directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for entry in std::fs::read_dir(&source).expect("data/ exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "csv") && !path.ends_with("journal.csv") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// The journal of a data directory as text: its lines, without the zero padding after
/// them (the journal pads its file with zeros ahead and writes lines over them;
/// see src/storage/journal.rs).
pub fn journal_text(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("journal.csv")).expect("the journal is text");
    text.trim_end_matches('\0').to_string()
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
        Client::connect(self.addr, Duration::from_secs(30)).expect("connect to the test server")
    }

    /// A new connection from another loopback address, `127.0.0.<last>` (Linux routes
    /// all of 127/8 to loopback): a client the server counts as a different address.
    pub fn client_from(&self, last: u8) -> Client {
        let local = std::net::IpAddr::from([127, 0, 0, last]);
        Client::connect_from(local, self.addr, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("connect from {local}: {e}"))
    }

    /// A new connection, logged in as `user`.
    pub fn login(&self, (user, password): (&str, &str)) -> Client {
        let mut client = self.client();
        client.login(user, password).expect("login");
        client
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

/// Sends a line and returns the reply, panicking on I/O errors (tests only).
pub fn call(client: &mut Client, line: &str) -> Reply {
    client
        .call_line(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Asserts an OK reply and returns its data lines.
pub fn ok(client: &mut Client, line: &str) -> Vec<Vec<String>> {
    let reply = call(client, line);
    assert!(reply.is_ok(), "{line} -> {reply:?}");
    reply.data
}

/// Asserts an ERR reply with this code.
pub fn err(client: &mut Client, line: &str, code: &str) {
    let reply = call(client, line);
    assert_eq!(
        reply.code().as_ref().map(ErrorCode::as_str),
        Some(code),
        "{line} -> {reply:?}"
    );
}

/// Polls `check` until it returns true or `timeout` passes (no fixed sleeps).
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    check()
}
