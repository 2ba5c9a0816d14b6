//! One variable, `FEIRA_ADDR`, moves the server, `feira-cli` and `feira-bench` to another
//! address at once (two students on one machine each pick a port); `--addr` still wins
//! over it. Each binary runs as a child process with the variable set and no `--addr`.

mod support;

use std::process::{Command, Stdio};

use support::fake_server::{Answer, fake_server};
use support::feira_cli;
use support::process::finish;
use support::server_process::ServerProcess;
use support::*;

const ADDR_ENV: &str = "FEIRA_ADDR";

/// `feira-server --data DIR` with `FEIRA_ADDR` set and no `--addr`, logging at info.
fn server_with_env(dir: &std::path::Path, addr: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feira-server"));
    command
        .arg("--data")
        .arg(dir)
        .env(ADDR_ENV, addr)
        .env("RUST_LOG", "info");
    command
}

#[test]
fn the_server_listens_where_feira_addr_says() {
    let dir = demo_data_dir();
    // Port 0 can only come from the variable: the default is 7878.
    let server = ServerProcess::spawn(server_with_env(dir.path(), "127.0.0.1:0"));
    assert_ne!(server.addr.port(), 7878, "the variable was not read");
    let mut client = server.client();
    assert_eq!(call(&mut client, "PING").status, Ok("PONG".into()));
}

#[test]
fn the_servers_addr_flag_wins_over_feira_addr() {
    let dir = demo_data_dir();
    // An address nobody can listen on in the variable: only the flag lets it start.
    let mut command = server_with_env(dir.path(), "192.0.2.1:1");
    command.args(["--addr", "127.0.0.1:0"]);
    let server = ServerProcess::spawn(command);
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
}

/// A stand-in that answers PING with a word only it says, so a server someone else
/// runs on the default port can never pass for it.
fn stand_in() -> std::net::SocketAddr {
    fake_server(1, |line| {
        if line.eq_ignore_ascii_case("PING") {
            Answer::Reply(b"OK found-through-the-variable\n".to_vec())
        } else {
            Answer::Reply(b"OK\n".to_vec())
        }
    })
}

/// `feira-cli ARGS` with `FEIRA_ADDR` set, and no `--addr` unless `args` has one.
fn cli_with_env(addr: &str, args: &[&str]) -> support::process::Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feira-cli"));
    command
        .args(args)
        .env(ADDR_ENV, addr)
        .env_remove("FEIRA_PASSWORD")
        .env("FEIRA_HISTORY", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(
        command.spawn().expect("feira-cli starts"),
        feira_cli::DEADLINE,
    )
}

#[test]
fn the_client_finds_the_server_through_feira_addr() {
    let addr = stand_in().to_string();
    let run = cli_with_env(&addr, &["ping"]);
    assert_eq!(run.code(), Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("found-through-the-variable"),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn the_clients_addr_flag_wins_over_feira_addr() {
    let addr = stand_in().to_string();
    let run = cli_with_env("192.0.2.1:1", &["--addr", &addr, "ping"]);
    assert_eq!(run.code(), Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("found-through-the-variable"));
}

#[test]
fn the_bench_measures_the_server_feira_addr_names() {
    let server = start_server();
    let mut command = Command::new(env!("CARGO_BIN_EXE_feira-bench"));
    command
        .args(["-c", "1", "-d", "300ms", "-t", "ping", "--timeout", "10"])
        .env(ADDR_ENV, server.addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = finish(
        command.spawn().expect("feira-bench starts"),
        feira_cli::DEADLINE,
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    // Its pings reached this server (STATS counts them per verb).
    let mut admin = server.login(ADMIN);
    let pings = ok(&mut admin, "STATS")
        .into_iter()
        .find(|row| row[..2] == ["verb", "PING"])
        .and_then(|row| row[2].parse::<u64>().ok());
    assert!(pings.is_some_and(|n| n > 0), "no PING reached the server");
}

#[test]
fn every_help_names_the_variable() {
    for bin in [
        env!("CARGO_BIN_EXE_feira-server"),
        env!("CARGO_BIN_EXE_feira-cli"),
        env!("CARGO_BIN_EXE_feira-bench"),
    ] {
        let out = Command::new(bin)
            .arg("--help")
            .env_remove(ADDR_ENV)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("[env: FEIRA_ADDR=]"), "{bin} --help:\n{help}");
    }
}

/// A build without the `grpc` feature refuses the gRPC flags, saying how to get a build
/// that has them, rather than serving one door of the two asked for.
#[cfg(not(feature = "grpc"))]
#[test]
fn without_the_grpc_feature_the_grpc_flags_say_how_to_build() {
    let dir = demo_data_dir();
    let mut command = support::server_process::server_command(dir.path(), "127.0.0.1:0");
    command.args(["--grpc-addr", "127.0.0.1:0"]);
    let server = support::server_process::run_to_end(command, std::time::Duration::from_secs(30));
    assert_eq!(server.code(), Some(1), "{server:?}");
    assert!(server.stderr.contains("--features grpc"), "{server:?}");
    let child = Command::new(env!("CARGO_BIN_EXE_feira-cli"))
        .args(["--grpc", "127.0.0.1:1", "products"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("feira-cli runs");
    let cli = finish(child, std::time::Duration::from_secs(30));
    assert_eq!(cli.code(), Some(2), "{cli:?}");
    assert!(cli.stderr.contains("--features grpc"), "{cli:?}");
}
