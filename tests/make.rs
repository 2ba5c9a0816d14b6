//! The Makefile as a newcomer meets it: `make help` names every target, and Ctrl-C on
//! `make run-server` or `make run-ring` ends as quietly as the program does, without
//! make's `make: *** [...] Interrupt`, which reads as a failure.
//!
//! The targets run the debug programs of this test build (`BIN_DIR=...`), and
//! `CARGO=true` turns their build step into a no-op. Without `make` the tests fail
//! under CI and are SKIPPED, loudly, elsewhere (tests/support/tools.rs).

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::process::send_signal_to_group;
use support::tools;
use support::wait_until;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Where this build's programs are: the debug `target/debug` (or nextest's copy).
fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_feira-server"))
        .parent()
        .expect("the binary is in a directory")
}

fn have_make() -> bool {
    match tools::tool("make") {
        Ok(()) => true,
        Err(why) => {
            tools::missing("make", &why);
            false
        }
    }
}

/// Every target the Makefile and mk/*.mk define (not file targets like `$(STATE)`).
fn targets() -> Vec<String> {
    let mut files = vec![Path::new(ROOT).join("Makefile")];
    let mut mk: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("mk"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "mk"))
        .collect();
    mk.sort();
    files.extend(mk);
    let mut targets = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let is_target = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                && !rest.starts_with('=');
            if is_target {
                targets.push(name.to_string());
            }
        }
    }
    targets
}

#[test]
fn make_help_lists_every_target() {
    if !have_make() {
        return;
    }
    let out = Command::new("make")
        .args(["--no-print-directory", "help"])
        .current_dir(ROOT)
        .output()
        .expect("make runs");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let targets = targets();
    assert!(targets.len() >= 10, "too few targets found: {targets:?}");
    for target in targets {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(&format!("{target} "))),
            "`make help` does not list `{target}`:\n{help}"
        );
    }
}

/// `make ARGS` in a process group of its own (as a terminal runs it), its stdout and
/// stderr in one pipe, read line by line on a thread.
fn start_make(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec make --no-print-directory \"$@\" 2>&1")
        .arg("sh")
        .args(args)
        .current_dir(ROOT)
        .env_remove("FEIRA_ADDR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("make starts");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, log)
}

/// Reads lines until one contains `marker` (at most `timeout`), then presses Ctrl-C
/// (SIGINT to the whole process group, as a terminal does), waits for make to end,
/// and returns everything it printed.
fn ctrl_c_after(
    mut child: Child,
    log: mpsc::Receiver<String>,
    marker: &str,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(marker);
                seen.push(line);
                if found {
                    break;
                }
            }
            Err(_) => {
                send_signal_to_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                panic!("never saw {marker:?}; make printed:\n{}", seen.join("\n"));
            }
        }
    }
    send_signal_to_group(child.id(), libc::SIGINT);
    let ended = wait_until(Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        send_signal_to_group(child.id(), libc::SIGKILL);
    }
    let _ = child.wait();
    seen.extend(log.iter());
    let text = seen.join("\n");
    assert!(ended, "make did not end within 30 s of Ctrl-C:\n{text}");
    text
}

#[test]
fn ctrl_c_stops_make_run_server_without_an_interrupt_message() {
    if !have_make() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (child, log) = start_make(&[
        "run-server",
        "CARGO=true",
        &format!("BIN_DIR={}", bin_dir().display()),
        &format!("STATE={}", state.display()),
        "ADDR=127.0.0.1:0",
    ]);
    let text = ctrl_c_after(child, log, "listening on", Duration::from_secs(60));
    assert!(text.contains("shutdown complete"), "{text}");
    assert!(!text.contains("***"), "make reported a failure:\n{text}");
}

/// A base port with free ports above it (the ring tries the next one if not).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().min(60_000)
}

#[test]
fn ctrl_c_stops_make_run_ring_without_an_interrupt_message() {
    if !have_make() {
        return;
    }
    let logs = tempfile::tempdir().unwrap();
    let (child, log) = start_make(&[
        "run-ring",
        "N=2",
        "CARGO=true",
        &format!("BIN_DIR={}", bin_dir().display()),
        &format!("BASE_PORT={}", free_port()),
        &format!("LOG_DIR={}", logs.path().display()),
    ]);
    let text = ctrl_c_after(
        child,
        log,
        "Ctrl-C stops the ring",
        Duration::from_secs(120),
    );
    assert!(text.contains("all nodes stopped"), "{text}");
    assert!(!text.contains("***"), "make reported a failure:\n{text}");
}
