//! docs/WALKTHROUGH.md, run as written: its commands run against a real server, and
//! what each block shows is what the run prints. A walkthrough is copied line by line
//! in class, from a fresh clone; a step whose output drifted from the product stops the
//! class, so it must stop the build first.
//!
//! # The markers
//!
//! Every `sh` and `text` block of the walkthrough has a marker on the line before its
//! opening fence, an HTML comment that the rendered page does not show:
//!
//! - `<!-- test: conversation NAME -->`: protocol lines typed on the connection NAME
//!   (opened the first time, and again after its `QUIT`; every connection ends when the
//!   server restarts). A line that starts with `* `, `OK` or `ERR` is a reply, any other
//!   line a request; each request is sent and its reply must be the lines shown under it.
//! - `<!-- test: run -->`: shell commands, one a line, run in order from the top of the
//!   repository; each must succeed. `make run-server`, or `feira-server ... --data
//!   state`, stops the running server (as Ctrl-C does) and starts it again with the
//!   same flags on the same data; `COMMAND | nc 127.0.0.1 7878` sends what COMMAND
//!   prints over a connection and reads the server's answer to its end (the test is
//!   the `nc`, which not every machine has).
//! - `<!-- test: output -->`: what the commands of the `run` block before it print
//!   (standard output and error).
//! - `<!-- test: server log -->`: the running server's log since it started; only the
//!   lines that start with `[` are the log (the others are what `make` and `cargo`
//!   print before it, and are not checked).
//! - `<!-- test: transcript -->`: `$ COMMAND` lines, each followed by what it prints; a
//!   line `NAME> TEXT` is typed at the client's prompt (the client prints no prompt when
//!   its input is not a terminal, so the typed lines are not in its output). A session
//!   whose last typed line is not `quit` stays open while the rest of the walkthrough
//!   runs, as a terminal left open would.
//! - `<!-- test: skip: WHY -->`: a block the test does not run, and why (it needs a
//!   terminal, it takes minutes, its figures differ every run). `<!-- test: skip this
//!   step: WHY -->` on its own line after a `## ` heading skips every block of that
//!   section. Skipping is the exception: each one is a place where the document can
//!   drift.
//!
//! After the kind, options separated by `;`: `any WORD...`, words of the block that
//! differ in every run (`any 168`: the seconds left on a pay key); `wait 11s`, to wait
//! that long after the previous block before this one, as the text tells the reader to;
//! on an `output` block, `until`: the `run` block before it only reads a file that
//! another thread writes (`cat state/audit.csv`), so it is run again until it prints
//! what the block shows, for up to the test's deadline (a reader at human speed never
//! sees the gap; a loaded test machine can).
//! What else may differ between runs is in `walkthrough/matching.rs`: timestamps, pay
//! keys, checksums, durations; a line `...` stands for any number of lines.
//!
//! # What the test changes, and changes back
//!
//! The commands are the reader's, with the test's own places put in: the data directory
//! for `state/`, a temporary directory for `/tmp/`, the server's port for `7878`, a free
//! port for each peer port (`9100`, `9200`), and `--addr` for the clients. What they
//! print has the same substitutions undone before it is compared.

mod support;

#[path = "walkthrough/markdown.rs"]
mod markdown;
#[path = "walkthrough/matching.rs"]
mod matching;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use markdown::{Block, Kind};
use support::process;
use support::raw::Raw;
use support::server_process::ServerProcess;
use support::tools;

const WALKTHROUGH: &str = "docs/WALKTHROUGH.md";

/// The ports the walkthrough gives peers (`CONNECT 9100`): the test uses free ones.
const PEER_PORTS: [&str; 2] = ["9100", "9200"];

/// How long a server log line or a client's output may take to appear.
const DEADLINE: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Replaces `from` with `to` where it is a whole word (not inside a longer number or
/// name).
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        let wordy = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if wordy(before) || wordy(after) {
            from
        } else {
            to
        });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Is the process still running (not exited, not a zombie waiting to be reaped)?
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(") ")?.1.starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// A free port with as many digits as the walkthrough's (`9100`), so that the tables
/// the client prints keep their widths. Not from the system's ephemeral range (port 0
/// gives five digits): one of 2000..10000 that is free now, picked from the process id
/// and the clock so that two runs at once do not pick the same.
fn free_port() -> String {
    let seed = std::process::id() as usize
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos() as usize);
    (0..8000)
        .map(|i| 2000 + (seed + i * 7919) % 8000)
        .find(|&port| TcpListener::bind(("127.0.0.1", port as u16)).is_ok())
        .expect("a free port on loopback")
        .to_string()
}

/// A client session left open (its input not closed), with what it printed so far.
struct Session {
    child: Child,
    input: Option<ChildStdin>,
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.input.take());
        if !support::wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The class: one server on its data, the connections and sessions opened so far.
struct Class {
    root: PathBuf,
    data: TempDir,
    tmp: TempDir,
    server: Option<ServerProcess>,
    /// The current server's log since it started.
    log: Vec<String>,
    connections: HashMap<String, Raw>,
    sessions: Vec<Session>,
    /// What the last `run` block printed.
    printed: Vec<String>,
    /// Pay keys shown in the document, and what they were in this run.
    keys: HashMap<String, String>,
    /// The peer ports of the document, and the free ones used instead.
    peer_ports: Vec<(String, String)>,
}

impl Class {
    fn new() -> Class {
        Class {
            root: root(),
            data: support::demo_data_dir(),
            tmp: tempfile::tempdir().expect("a temporary directory"),
            server: None,
            log: Vec::new(),
            connections: HashMap::new(),
            sessions: Vec::new(),
            printed: Vec::new(),
            keys: HashMap::new(),
            peer_ports: PEER_PORTS
                .iter()
                .map(|p| (p.to_string(), free_port()))
                .collect(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .expect("a block needs the server: start it first (`make run-server`)")
            .addr
    }

    fn dir(&self) -> String {
        self.data.path().display().to_string()
    }

    fn tmp(&self) -> String {
        self.tmp.path().display().to_string()
    }

    /// The document's text with the test's places put in.
    fn to_test(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (shown, actual) in &self.keys {
            text = text.replace(shown, actual);
        }
        // The document's places first, before any path of this machine goes in: a
        // clone that lives under /tmp/ must keep its own binary's path.
        text = text.replace("/tmp/", &format!("{}/", self.tmp()));
        text = text.replace("state/", &format!("{}/", self.dir()));
        let cli = env!("CARGO_BIN_EXE_feira-cli");
        let python = "python3 examples/python/feira_client.py";
        if let Some(server) = &self.server {
            let addr = server.addr.to_string();
            text = text.replace(
                "./target/release/feira-cli",
                &format!("{cli} --addr {addr}"),
            );
            text = text.replace(python, &format!("{python} --addr {addr}"));
            text = text.replace("127.0.0.1:7878", &addr);
            text = replace_word(&text, "7878", &server.addr.port().to_string());
        }
        for (shown, actual) in &self.peer_ports {
            text = replace_word(&text, shown, actual);
        }
        text
    }

    /// What the run printed, with the document's places put back.
    fn to_doc(&self, text: &str) -> String {
        let mut text = text.replace(&self.dir(), "state");
        text = text.replace(&self.tmp(), "/tmp");
        if let Some(server) = &self.server {
            text = text.replace(&server.addr.to_string(), "127.0.0.1:7878");
            text = replace_word(&text, &server.addr.port().to_string(), "7878");
        }
        for (shown, actual) in &self.peer_ports {
            text = replace_word(&text, actual, shown);
        }
        text
    }

    fn to_doc_lines(&self, text: &str) -> Vec<String> {
        self.to_doc(text).lines().map(str::to_string).collect()
    }

    /// Compares, and remembers the pay keys the shown lines had.
    fn check(&mut self, block: &Block, shown: &[String], printed: &[String]) {
        match matching::check(shown, printed, &block.any) {
            Ok(bindings) => self.keys.extend(bindings),
            Err(problem) => panic!("{WALKTHROUGH}, block at line {}: {problem}", block.line),
        }
    }

    /// Stops the running server (SIGINT, as Ctrl-C does; nothing if it was killed) and
    /// starts it again on the same data with `flags`.
    fn restart_server(&mut self, flags: &[String]) {
        self.connections.clear();
        if let Some(server) = self.server.take() {
            // A server killed by the walkthrough's `kill -9` may still be on its way out.
            let killed = |status: ExitStatus| status.signal() == Some(libc::SIGKILL);
            if alive(server.pid()) {
                let (status, _) = server.stop_with(libc::SIGINT);
                assert!(
                    status.success() || killed(status),
                    "the server stopped by Ctrl-C: {status}"
                );
            } else {
                server.kill();
            }
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let server = ServerProcess::start_with(self.data.path(), &flags);
        self.log = server.started_log.clone();
        self.log.push(server.listening_line.clone());
        self.server = Some(server);
    }

    /// The flags of a command that starts the server, if it is one.
    fn server_flags(command: &str) -> Option<Vec<String>> {
        if command.trim() == "make run-server" {
            return Some(Vec::new());
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        let program = words.iter().position(|w| w.ends_with("feira-server"))?;
        let mut flags = Vec::new();
        let mut rest = words[program + 1..].iter();
        while let Some(&word) = rest.next() {
            if word == "--data" || word == "--addr" {
                let value = rest.next();
                assert!(
                    word != "--data" || value == Some(&"state"),
                    "the walkthrough's server serves state/: {command}"
                );
            } else {
                flags.push(word.to_string());
            }
        }
        Some(flags)
    }

    /// A shell command, as the reader would type it: its output (stdout and stderr).
    fn shell(&self, command: &str) -> Vec<String> {
        let command = self.to_test(command);
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("{command} 2>&1"))
            .current_dir(&self.root)
            .env("FEIRA_HISTORY", "")
            .env_remove("FEIRA_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let run = process::finish(child, DEADLINE);
        assert!(
            run.status.success(),
            "{WALKTHROUGH}: `{command}` failed ({}):\n{}",
            run.status,
            run.stdout
        );
        self.to_doc_lines(&run.stdout)
    }

    /// `COMMAND | nc 127.0.0.1 7878`: what COMMAND prints goes to the server; what the
    /// server answers, to the end of the connection, is the output.
    fn through_nc(&self, command: &str) -> Vec<String> {
        let input = self.shell(command).join("\n") + "\n";
        let mut stream = TcpStream::connect(self.addr()).expect("connect to the server");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        // The server may close after the first bad line, before it has read the rest.
        let _ = stream.write_all(self.to_test(&input).as_bytes());
        let _ = stream.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        self.to_doc_lines(&String::from_utf8_lossy(&answer))
    }

    fn run(&mut self, block: &Block) {
        self.printed.clear();
        for line in &block.lines {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(flags) = Class::server_flags(line) {
                self.restart_server(&flags);
            } else if let Some(command) = line.strip_suffix("| nc 127.0.0.1 7878") {
                let printed = self.through_nc(command);
                self.printed.extend(printed);
            } else {
                assert!(
                    !line.starts_with("nc "),
                    "{WALKTHROUGH}:{}: a typed `nc` session is a `conversation` block",
                    block.line
                );
                let printed = self.shell(line);
                self.printed.extend(printed);
            }
        }
    }

    /// Runs `run` again, a few times a second, until what it prints matches `output`
    /// or the deadline passes (then the caller's check reports the difference).
    fn run_until_it_prints(&mut self, run: &Block, output: &Block) {
        let deadline = Instant::now() + DEADLINE;
        while matching::check(&output.lines, &self.printed, &output.any).is_err()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
            self.run(run);
        }
    }

    fn conversation(&mut self, name: &str, block: &Block) {
        let is_reply = |line: &str| ["* ", "OK", "ERR"].iter().any(|p| line.starts_with(p));
        let mut lines = block.lines.iter().peekable();
        while let Some(request) = lines.next() {
            assert!(
                !is_reply(request),
                "{WALKTHROUGH}:{}: a reply with no request before it: {request}",
                block.line
            );
            let mut shown = Vec::new();
            while let Some(reply) = lines.next_if(|line| is_reply(line)) {
                shown.push(reply.clone());
            }
            let addr = self.addr();
            let sent = self.to_test(request);
            let connection = self
                .connections
                .entry(name.to_string())
                .or_insert_with(|| Raw::connect(addr));
            connection.send(format!("{sent}\n").as_bytes());
            let mut reply = Vec::new();
            loop {
                let line = connection.line();
                assert!(
                    !line.is_empty(),
                    "the server closed {name}'s connection at {sent}"
                );
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                let done = line.starts_with("OK") || line.starts_with("ERR");
                reply.push(line);
                if done {
                    break;
                }
            }
            if sent.eq_ignore_ascii_case("QUIT") {
                self.connections.remove(name);
            }
            let printed = self.to_doc_lines(&reply.join("\n"));
            self.check(block, &shown, &printed);
        }
    }

    /// Waits until the log matches what the block shows (or the deadline).
    fn server_log(&mut self, block: &Block) {
        let shown: Vec<String> = block
            .lines
            .iter()
            .filter(|line| line.starts_with('[') || line.trim() == "...")
            .cloned()
            .collect();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let server = self.server.as_ref().expect("a server log needs a server");
            self.log.extend(server.new_log_lines());
            let printed = self.to_doc_lines(&self.log.join("\n"));
            if matching::check(&shown, &printed, &block.any).is_ok() || Instant::now() > deadline {
                return self.check(block, &shown, &printed);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn transcript(&mut self, block: &Block) {
        let mut commands: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for line in &block.lines {
            let typed = line.split_once("> ").filter(|(prompt, _)| {
                !prompt.is_empty() && prompt.chars().all(char::is_alphanumeric)
            });
            if let Some(command) = line.strip_prefix("$ ") {
                commands.push((command.to_string(), Vec::new(), Vec::new()));
            } else if let Some(last) = commands.last_mut() {
                match typed {
                    Some((_, text)) => last.1.push(text.to_string()),
                    None => last.2.push(line.clone()),
                }
            } else {
                panic!(
                    "{WALKTHROUGH}:{}: a transcript starts with `$ `",
                    block.line
                );
            }
        }
        for (command, typed, shown) in commands {
            let printed = if typed.is_empty() {
                self.shell(&command)
            } else {
                self.session(&command, &typed, block, &shown)
            };
            self.check(block, &shown, &printed);
        }
    }

    /// Starts `command` with `typed` as its input; returns what it printed. If the
    /// input ends with `quit`, waits for the end; otherwise leaves it running once it
    /// has printed what the block shows.
    fn session(
        &mut self,
        command: &str,
        typed: &[String],
        block: &Block,
        shown: &[String],
    ) -> Vec<String> {
        let command = self.to_test(command);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{command} 2>&1"))
            .current_dir(&self.root)
            .env("FEIRA_HISTORY", "")
            .env_remove("FEIRA_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut input = child.stdin.take().expect("stdin is piped");
        for line in typed {
            writeln!(input, "{}", self.to_test(line)).expect("the client reads its input");
        }
        if typed.last().is_some_and(|line| line == "quit") {
            drop(input);
            let run = process::finish(child, DEADLINE);
            return self.to_doc_lines(&run.stdout);
        }
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (lines, printed) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        self.sessions.push(Session {
            child,
            input: Some(input),
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match printed.recv_timeout(left) {
                Ok(line) => seen.push(self.to_doc(&line)),
                Err(_) => return seen,
            }
            if matching::check(shown, &seen, &block.any).is_ok() {
                return seen;
            }
        }
    }
}

#[test]
fn the_walkthrough_runs_as_written() {
    for program in ["python3", "ps"] {
        if let Err(why) = tools::tool(program) {
            return tools::missing(program, &why);
        }
    }
    let text = std::fs::read_to_string(root().join(WALKTHROUGH)).expect("the walkthrough");
    let blocks = markdown::blocks(&text)
        .unwrap_or_else(|problems| panic!("{WALKTHROUGH}:\n{}", problems.join("\n")));
    let mut class = Class::new();
    let mut previous = Instant::now();
    let mut after_run = false;
    let mut last_run: Option<&markdown::Block> = None;
    for block in &blocks {
        if block.wait_secs > 0 {
            let until = previous + Duration::from_secs(block.wait_secs);
            // The document tells the reader to let this much time pass (a key expires).
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        previous = Instant::now();
        match &block.kind {
            Kind::Conversation(name) => class.conversation(name, block),
            Kind::Run => class.run(block),
            Kind::Output => {
                let run = last_run.filter(|_| after_run).unwrap_or_else(|| {
                    panic!("{WALKTHROUGH}:{}: output of no `run` block", block.line)
                });
                if block.until {
                    class.run_until_it_prints(run, block);
                }
                let printed = class.printed.clone();
                class.check(block, &block.lines, &printed);
            }
            Kind::ServerLog => class.server_log(block),
            Kind::Transcript => class.transcript(block),
            Kind::Skip(_) => {}
        }
        after_run = block.kind == Kind::Run;
        if after_run {
            last_run = Some(block);
        }
    }
    // Skipping is the exception (the ring, the benchmark, the exercises): most steps run.
    let run = blocks
        .iter()
        .filter(|b| !matches!(b.kind, Kind::Skip(_)))
        .count();
    assert!(
        run >= 25,
        "only {run} blocks of {WALKTHROUGH} run: skip less"
    );
}

/// The document cannot drift: a changed reply line fails the run.
#[test]
fn a_block_that_shows_another_reply_fails() {
    let text = "<!-- test: run -->\n```sh\nmake run-server\n```\n\n<!-- test: conversation a -->\n```text\nPING\nOK PONG!\n```\n";
    let blocks = markdown::blocks(text).unwrap();
    let mut class = Class::new();
    class.run(&blocks[0]);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        class.conversation("a", &blocks[1])
    }));
    let message = *failed
        .expect_err("OK PONG is not OK PONG!")
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains("    | OK PONG!") && message.contains("    | OK PONG"),
        "{message}"
    );
}

#[test]
fn substitutions_go_both_ways() {
    assert_eq!(
        replace_word("port 7878, 17878", "7878", "1"),
        "port 1, 17878"
    );
    let class = Class::new();
    let command = class.to_test("tr -d '\\0' < state/journal.csv > /tmp/j");
    assert!(
        !command.contains("state/") && !command.contains(" /tmp/j"),
        "{command}"
    );
    assert_eq!(
        class.to_doc(&command),
        "tr -d '\\0' < state/journal.csv > /tmp/j"
    );
}
