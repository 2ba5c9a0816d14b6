//! Seed 002's log server: the audit thread forwards every event to `feira-log` over
//! gRPC, and a slow or dead log server never makes the store wait.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use feira::grpc::{ForwarderConfig, LogForwarder, LogServer};

use crate::support::process::send_signal;
use crate::support::server_process::ServerProcess;
use crate::support::*;

/// The lines of the log server's file (empty if it does not exist yet).
fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A STATS `server` figure.
fn stat(admin: &mut feira::client::Client, name: &str) -> u64 {
    let rows = ok(admin, "STATS");
    let row = (rows.iter())
        .find(|row| row[0] == "server" && row[1] == name)
        .unwrap_or_else(|| panic!("no server {name} in STATS: {rows:?}"));
    row[2].parse().expect("a number")
}

#[test]
fn a_dead_log_server_costs_the_store_nothing_and_a_restarted_one_gets_later_events() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("log.txt");
    let log_server = LogServer::start("127.0.0.1:0", &file).expect("the log server starts");
    let addr = log_server.local_addr();
    let (forwarder, forward) = LogForwarder::start(ForwarderConfig {
        addr: addr.to_string(),
        capacity: 16,
        attempts: 2,
        attempt_timeout: Duration::from_millis(300),
        backoff: Duration::from_millis(50),
        ..ForwarderConfig::default()
    })
    .expect("the forwarder starts");
    // A small audit channel with a short wait: an audit thread held up by the log
    // server would fill it within a few requests, and drop rows from audit.csv.
    let server = start_server_with(|config| {
        config.audit.capacity = 4;
        config.audit.send_timeout = Duration::from_millis(20);
        config.audit.forward = Some(forward);
    });
    let mut alice = server.login(ALICE);
    let mut admin = server.login(ADMIN);

    // Before: each event is printed and appended, in order.
    ok(&mut alice, "CONNECT 8000");
    for n in 0..5 {
        call(&mut alice, &format!("LIST_CONTENT before-{n}"));
    }
    let arrived = wait_until(Duration::from_secs(20), || lines(&file).len() >= 6);
    assert!(arrived, "the log server got {:?}", lines(&file));
    let got = lines(&file);
    assert!(got[0].starts_with("alice CONNECT 8000 20"), "{got:?}");
    for n in 0..5 {
        let line = &got[n + 1];
        assert!(
            line.starts_with(&format!("alice LIST_CONTENT before-{n} 20")),
            "{got:?}"
        );
    }

    // The log server dies mid-run: the store answers at full speed.
    log_server.stop();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for n in 0..200 {
        let one = Instant::now();
        call(&mut alice, &format!("LIST_CONTENT during-{n}"));
        slowest = slowest.max(one.elapsed());
    }
    // Generous bounds: a store waiting on the dead server takes 0.3 s or more a request.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request {slowest:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "200 requests took {:?}",
        started.elapsed()
    );
    let dropped = wait_until(Duration::from_secs(20), || {
        stat(&mut admin, "log_dropped") > 0
    });
    assert!(dropped, "no drops counted with the log server dead");
    assert_eq!(stat(&mut admin, "audit_dropped"), 0, "audit.csv lost rows");

    // A log server restarted on the same address receives later events.
    let restarted = LogServer::start(&addr.to_string(), &file).expect("restarts on its port");
    // Until the forwarder has sent what it still held, new events may find its queue
    // full and be dropped: alice goes on until one of hers arrives.
    let mut after: u64 = 0;
    let arrived = wait_until(Duration::from_secs(20), || {
        call(&mut alice, &format!("LIST_CONTENT after-{after}"));
        after += 1;
        lines(&file)
            .iter()
            .any(|l| l.starts_with("alice LIST_CONTENT after-"))
    });
    assert!(arrived, "the restarted log server got {:?}", lines(&file));
    // Every event is accounted for: acknowledged, or dropped and counted (CONNECT and
    // the LIST_CONTENTs).
    let sent = 1 + 5 + 200 + after;
    let accounted = wait_until(Duration::from_secs(20), || {
        stat(&mut admin, "log_forwarded") + stat(&mut admin, "log_dropped") == sent
    });
    let forwarded = stat(&mut admin, "log_forwarded");
    assert!(
        accounted,
        "{forwarded} + {}",
        stat(&mut admin, "log_dropped")
    );
    assert!(forwarded >= 7, "forwarded {forwarded}");

    drop(alice);
    drop(admin);
    let data = server.stop();
    forwarder.stop();
    restarted.stop();
    // audit.csv has every row, the log server or not.
    let rows = read_csv(&data.path().join("audit.csv"));
    let audited = rows.iter().filter(|r| r[3] == "LIST_CONTENT").count();
    assert_eq!(audited as u64, sent - 1);
}

/// `feira-log` as a program: started on a free port, its stdout read as it runs.
struct LogProcess {
    child: Child,
    addr: String,
    stdout: mpsc::Receiver<String>,
}

impl LogProcess {
    fn start(file: &Path) -> LogProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_feira-log"))
            .args(["--addr", "127.0.0.1:0", "--file"])
            .arg(file)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("feira-log starts");
        let (out, stdout) = mpsc::channel();
        let reader = BufReader::new(child.stdout.take().expect("stdout is piped"));
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = out.send(line);
            }
        });
        let stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let (tell, told) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tell.send(addr.trim().to_string());
                }
            }
        });
        let addr = told
            .recv_timeout(Duration::from_secs(30))
            .expect("feira-log says where it listens");
        LogProcess {
            child,
            addr,
            stdout,
        }
    }

    /// The next line it prints, within 20 s.
    fn next_line(&self) -> String {
        (self.stdout.recv_timeout(Duration::from_secs(20))).expect("feira-log prints a line")
    }
}

impl Drop for LogProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn feira_log_prints_and_appends_what_feira_server_log_server_sends() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("feira-log.txt");
    let mut log = LogProcess::start(&file);
    let data = demo_data_dir();
    let server = ServerProcess::start_with(data.path(), &["--log-server", &log.addr]);
    let mut alice = server.login(ALICE);
    ok(&mut alice, "CONNECT 8000");
    ok(&mut alice, "PUBLISH notes.txt \"Maçã e Caju\"");
    let connect = log.next_line();
    assert!(connect.starts_with("alice CONNECT 8000 20"), "{connect:?}");
    let publish = log.next_line();
    assert!(
        publish.starts_with("alice PUBLISH notes.txt \"Maçã e Caju\" 20") && publish.ends_with('Z'),
        "{publish:?}"
    );
    let appended = wait_until(Duration::from_secs(20), || lines(&file).len() >= 2);
    assert!(appended);
    assert_eq!(lines(&file)[..2], [connect, publish]);
    drop(alice);
    // The server's shutdown sends its last event (alice's connection dropped) before
    // it exits.
    let (status, _) = server.terminate();
    assert!(status.success(), "{status:?}");
    let dropped = log.next_line();
    assert!(dropped.starts_with("alice DROP "), "{dropped:?}");
    send_signal(log.child.id(), libc::SIGTERM);
    let exited = wait_until(Duration::from_secs(20), || {
        matches!(log.child.try_wait(), Ok(Some(_)))
    });
    assert!(exited, "feira-log stops on SIGTERM");
}
