//! The `feira-cli` binary against a real server: one-shot commands, exit codes,
//! passwords, piped interactive sessions and the numbered menu.
//!
//! The server runs in this test process (tests/support); the client is the built
//! binary, run as a child process exactly as a person or a script would run it.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use feira::cli::input::Script;
use feira::cli::{Exit, Options, repl};
use feira::protocol::{ErrorCode, Reply};

use support::fake_server::{Answer, fake_server};
use support::feira_cli::{DEADLINE, command as cli, finish, run};
use support::process::Run;
use support::*;

/// A one-shot command as `user`, the password from FEIRA_PASSWORD.
fn as_user(addr: SocketAddr, (user, password): (&str, &str), args: &[&str]) -> Run {
    let mut command = cli(addr);
    command
        .args(["--user", user])
        .args(args)
        .env("FEIRA_PASSWORD", password);
    run(command, "")
}

/// An address where nothing listens: bind a port, then let it go.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn one_shot_lists_the_cheap_products_and_exits_0() {
    let server = start_server();
    let run = as_user(server.addr, ALICE, &["products", "5.00"]);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "name    price  stock",
            "------  -----  -----",
            "Banana   0.75    500",
            "Caju     1.20    200",
            "Maçã     2.50    300",
            "Pera     3.10    150",
            "4 products",
        ],
        "scripts get plain prices, aligned, with headers"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn one_shot_sends_arguments_as_tokens_and_orders_as_the_user() {
    let server = start_server();
    // A name with spaces, given as one argument, arrives as one token.
    // (Two rackets cost 640.00: Bob's wallet holds 100.00, so top it up first.)
    let mut admin = server.login(ADMIN);
    ok(&mut admin, "DEPOSIT bob 600");
    let run = as_user(server.addr, BOB, &["order", "Raquete de tênis", "2"]);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("Raquete de tênis"), "{}", run.stdout);
    // The password came from FEIRA_PASSWORD: the order is Bob's.
    let mut bob = server.login(BOB);
    let orders = ok(&mut bob, "ORDERS");
    assert_eq!(orders.len(), 1);
    assert_eq!(&orders[0][1..3], ["Raquete de tênis", "2"]);
    let mut alice = server.login(ALICE);
    assert!(ok(&mut alice, "ORDERS").is_empty());
    // A negative number after the verb is an argument, not a flag.
    let run = as_user(server.addr, ADMIN, &["restock", "Caju", "-20"]);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    assert_eq!(ok(&mut alice, "PRODUCT Caju")[0][2], "180");
}

#[test]
fn a_refusal_exits_1_with_the_err_line_on_stderr() {
    let server = start_server();
    let run = as_user(server.addr, ALICE, &["order", "Jaca", "1"]);
    assert_eq!(run.code(), Some(1));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with("ERR NOT_FOUND "),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn a_wrong_password_exits_1() {
    let server = start_server();
    let run = as_user(server.addr, ("alice", "not-her-pass"), &["orders"]);
    assert_eq!(run.code(), Some(1));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with("ERR AUTH_FAILED"),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn ping_help_and_register_need_no_user() {
    let server = start_server();
    let mut command = cli(server.addr);
    command.arg("ping");
    let ping = run(command, "");
    assert_eq!((ping.code(), ping.stdout.as_str()), (Some(0), "PONG\n"));

    let mut command = cli(server.addr);
    command.args(["help", "order"]);
    let help = run(command, "");
    assert_eq!(help.code(), Some(0));
    assert!(
        help.stdout.starts_with("verb   arguments"),
        "{}",
        help.stdout
    );

    let mut command = cli(server.addr);
    command.args(["register", "dora", "dora-pass"]);
    assert_eq!(run(command, "").code(), Some(0));
    let whoami = as_user(server.addr, ("dora", "dora-pass"), &["whoami"]);
    assert_eq!(whoami.code(), Some(0), "stderr: {}", whoami.stderr);
    assert!(
        whoami.stdout.contains("dora  customer"),
        "{}",
        whoami.stdout
    );

    // Other verbs without --user: the server's refusal, and a hint.
    let mut command = cli(server.addr);
    command.arg("orders");
    let orders = run(command, "");
    assert_eq!(orders.code(), Some(1));
    assert!(orders.stderr.contains("ERR AUTH_REQUIRED"));
    assert!(orders.stderr.contains("--user"), "{}", orders.stderr);
}

#[test]
fn verbs_the_client_does_not_know_are_passed_to_the_server() {
    let server = start_server();
    // The client has no list of verbs: it sends the words as they are, and the server
    // is the one that answers, whether it knows the verb (BALANCE) or not (FLY).
    let run = as_user(server.addr, ALICE, &["balance"]);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("100.00"), "{}", run.stdout);
    let run = as_user(server.addr, ALICE, &["fly", "away"]);
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr
            .starts_with("ERR UNKNOWN_COMMAND unknown verb fly"),
        "{}",
        run.stderr
    );
}

#[test]
fn raw_mode_prints_the_wire_form() {
    let server = start_server();
    let mut command = cli(server.addr);
    command.args(["--raw", "help", "ping"]);
    let run = run(command, "");
    assert_eq!(run.code(), Some(0));
    assert_eq!(run.stdout, "* PING \"\" anyone \"answers OK PONG\"\nOK\n");
}

#[test]
fn a_server_that_is_down_gives_a_clear_message_and_exit_2() {
    let addr = closed_port();
    let mut command = cli(addr);
    command.arg("ping");
    let one_shot = run(command, "");
    assert_eq!(one_shot.code(), Some(2));
    let expected = format!(
        "feira-cli: cannot reach the server at {addr}: connection refused — is it running? \
         try `make run-server`\n"
    );
    assert_eq!(one_shot.stderr, expected);
    // The interactive mode says the same, and does not wait for input.
    let interactive = run(cli(addr), "products\n");
    assert_eq!(interactive.code(), Some(2));
    assert_eq!(interactive.stderr, expected);
    assert!(interactive.stdout.is_empty());
}

#[test]
fn bad_usage_exits_2() {
    let mut command = cli(closed_port());
    command.args(["--no-such-flag", "ping"]);
    let run = run(command, "");
    assert_eq!(run.code(), Some(2));
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
}

#[test]
fn piped_session_prints_tables_and_stops_at_quit() {
    let server = start_server();
    let script = "\
login alice alice-pass
products
order \"Maçã\" 3
orders
quit
order Caju 1
";
    let run = run(cli(server.addr), script);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert!(out.starts_with("welcome, alice (customer)\n"), "{out}");
    // No prompts, no menu: a script's output is just the replies.
    assert!(
        !out.contains("feira>") && !out.contains("1) list products"),
        "{out}"
    );
    // The interactive view writes reais.
    assert!(
        out.contains("Maçã                R$ 2,50    300\n"),
        "{out}"
    );
    assert!(
        out.contains("Raquete de tênis  R$ 320,00     10\n"),
        "{out}"
    );
    assert!(out.contains("order 1: 3 x Maçã = 7.50\n"), "{out}");
    let order_rows: Vec<&str> = out.lines().filter(|l| l.starts_with(" 1  Maçã")).collect();
    assert_eq!(
        order_rows.len(),
        2,
        "once for ORDER, once for ORDERS: {out}"
    );
    assert!(order_rows[0].contains("3     R$ 2,50  R$ 7,50"), "{out}");
    assert!(out.ends_with("1 orders, newest first\n"), "{out}");
    // Nothing after `quit` was sent.
    let mut alice = server.login(ALICE);
    assert_eq!(ok(&mut alice, "PRODUCT Caju")[0][2], "200");
}

#[test]
fn the_numbered_menu_works_from_a_pipe() {
    let server = start_server();
    // 5 log in (user, password), 3 order (product, quantity), 4 my orders (how
    // many: Enter), 1 list products (up to 1.00), 9 help, ? the menu, 0 quit.
    let script = "5\nbob\nbob-pass\n3\nPera\n7\n4\n\n1\n1.00\n?\n0\nproducts\n";
    let run = run(cli(server.addr), script);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert!(out.contains("welcome, bob (customer)"), "{out}");
    assert!(out.contains("order 1: 7 x Pera = 21.70"), "{out}");
    assert!(out.contains("1 orders, newest first"), "{out}");
    assert!(
        out.contains("Banana  R$ 0,75    500\n1 products\n"),
        "{out}"
    );
    // `?` shows the menu under a header naming the user.
    assert!(out.contains("feira at 127.0.0.1:"), "{out}");
    assert!(
        out.contains(" · bob (customer) · balance: R$ 78,30 · pay key: "),
        "{out}"
    );
    assert!(out.contains("   3) order\n"), "{out}");
    // The order really happened, as Bob, and nothing ran after 0.
    let mut bob = server.login(BOB);
    assert_eq!(ok(&mut bob, "PRODUCT Pera")[0][2], "143");
    assert_eq!(ok(&mut bob, "ORDERS").len(), 1);
}

#[test]
fn the_menu_cancels_on_an_empty_answer_and_names_unknown_entries() {
    let server = start_server();
    let script = "login alice alice-pass\n3\n\n42\nwhoami\n";
    let run = run(cli(server.addr), script);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("(cancelled)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("there is no entry 42 in the menu"));
    assert!(run.stdout.contains("alice  customer"), "{}", run.stdout);
}

#[test]
fn a_refusal_in_a_session_is_shown_and_the_session_goes_on() {
    let server = start_server();
    let script = "orders\nlogin alice alice-pass\norder Caju 999\norder \"Caju 1\nwhoami\n";
    let run = run(cli(server.addr), script);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert!(out.contains("[AUTH_REQUIRED]"), "{out}");
    assert!(out.contains("[INSUFFICIENT_STOCK]"), "{out}");
    assert!(
        out.contains("error: a quoted token is never closed"),
        "{out}"
    );
    assert!(out.ends_with("alice  customer        2\n"), "{out}");
}

/// A client session driven line by line: each line of its stdout arrives on a
/// channel, so the test can wait for a reply (with a deadline) before going on.
struct Live {
    child: Child,
    input: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Live {
    fn start(mut command: Command) -> Live {
        command.stdin(Stdio::piped());
        let mut child = command.spawn().expect("the client starts");
        let input = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            input,
            lines,
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.input, "{line}").unwrap();
    }

    /// Waits for a stdout line equal to `expected`, returning the lines before it.
    fn expect(&mut self, expected: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) if line == expected => return seen,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line {expected:?} from the client; it printed {seen:#?}");
                }
            }
        }
    }

    /// Closes stdin and waits for the exit; the rest of stdout comes back as lines.
    fn end(self) -> (Run, Vec<String>) {
        drop(self.input);
        let run = finish(self.child);
        (run, self.lines.try_iter().collect())
    }
}

#[test]
fn a_lost_connection_ends_a_piped_session_with_exit_2() {
    let server = start_server();
    let mut session = Live::start(cli(server.addr));
    session.send("login alice alice-pass");
    // Wait for the reply, so the session is connected before the server goes.
    session.expect("welcome, alice (customer)");
    drop(server.stop());
    session.send("orders");
    let (run, _) = session.end();
    assert_eq!(run.code(), Some(2));
    assert!(run.stderr.contains("was lost"), "{}", run.stderr);
}

#[test]
fn a_session_idle_past_the_server_timeout_reconnects_and_logs_in_again() {
    let server = start_server_with(|config| config.idle_timeout = Duration::from_secs(1));
    let mut session = Live::start(cli(server.addr));
    session.send("login alice alice-pass");
    session.send("whoami");
    session.expect("alice  customer        2");
    // The server closes the idle connection (after sending ERR TIMEOUT).
    let closed = wait_until(DEADLINE, || server.shared.counters.live() == 0);
    assert!(closed, "the server never closed the idle connection");
    session.send("whoami");
    let before = session.expect("alice  customer        2");
    assert!(
        before.contains(&"(the server had closed the idle connection: reconnecting)".into()),
        "{before:#?}"
    );
    let (run, _) = session.end();
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
}

/// A stand-in for a server that has the wallet's verbs, so the menu header can be
/// tested against answers the test controls. It answers BALANCE, and UNKNOWN_COMMAND to
/// PAYKEY, and counts how often each was asked.
fn fake_wallet_server() -> (SocketAddr, Arc<[AtomicUsize; 2]>) {
    let asked = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = Arc::clone(&asked);
    let addr = fake_server(1, move |line| {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply = match verb.as_str() {
            "LOGIN" => Reply::ok("welcome, alice (customer)"),
            "WHOAMI" => Reply::rows(vec![vec!["alice".into(), "customer".into()]], ""),
            "BALANCE" => {
                counts[0].fetch_add(1, Ordering::Relaxed);
                Reply::rows(vec![vec!["alice".into(), "1234.50".into()]], "")
            }
            "PAYKEY" => {
                counts[1].fetch_add(1, Ordering::Relaxed);
                Reply::err(ErrorCode::UnknownCommand, "unknown verb PAYKEY")
            }
            _ => Reply::ok("bye"),
        };
        let mut bytes = Vec::new();
        reply
            .write_to(&mut bytes)
            .expect("a reply encodes into memory");
        match verb.as_str() {
            "QUIT" => Answer::ReplyAndClose(bytes),
            _ => Answer::Reply(bytes),
        }
    });
    (addr, asked)
}

#[test]
fn the_menu_header_shows_the_balance_when_the_server_has_it() {
    let (addr, asked) = fake_wallet_server();
    let options = Options {
        addr: addr.to_string(),
        user: None,
        timeout: DEADLINE,
        raw: false,
        sharing: Default::default(),
    };
    let mut input = Script::new("login alice alice-pass\n?\nmenu\n".as_bytes());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = repl::run(&options, &mut input, &mut out, &mut err);
    assert_eq!(exit, Exit::Success);
    let out = String::from_utf8(out).unwrap();
    let header = format!("feira at {addr} · alice (customer) · balance: R$ 1.234,50");
    assert_eq!(
        out.lines().filter(|l| *l == header).count(),
        2,
        "the header, twice: {out}"
    );
    // The balance is asked each time; a verb the server lacks, only once.
    assert_eq!(asked[0].load(Ordering::Relaxed), 2);
    assert_eq!(asked[1].load(Ordering::Relaxed), 1);
}

#[test]
fn a_throttled_login_says_when_to_retry_and_is_an_answer_not_trouble() {
    let server = start_server();
    // Three wrong passwords for alice from this machine's address: the next login for
    // alice from here is refused before any password is checked.
    let mut guesser = server.client();
    for _ in 0..3 {
        err(&mut guesser, "LOGIN alice wrong-pass", "AUTH_FAILED");
    }
    let once = as_user(server.addr, ALICE, &["orders"]);
    assert_eq!(
        once.code(),
        Some(1),
        "a refusal, not trouble: {}",
        once.stderr
    );
    assert!(
        once.stderr.starts_with("ERR THROTTLED ") && once.stderr.contains("retry in"),
        "stderr: {}",
        once.stderr
    );
    // In a session the refusal is shown with its advice, and the session goes on.
    let session = run(cli(server.addr), "login alice alice-pass\nping\n");
    assert_eq!(session.code(), Some(0), "stderr: {}", session.stderr);
    assert!(
        session.stdout.contains("retry in") && session.stdout.contains("[THROTTLED]"),
        "{}",
        session.stdout
    );
    assert!(session.stdout.ends_with("PONG\n"), "{}", session.stdout);
}

/// A stand-in for a newer server that has an error code this client was built without:
/// it answers every line of its first `connections` connections with `answer`, except
/// QUIT, which closes the connection.
fn fake_newer_server(connections: usize, answer: &'static str) -> SocketAddr {
    fake_server(connections, move |line| {
        match line.eq_ignore_ascii_case("QUIT") {
            true => Answer::Close,
            false => Answer::Reply(format!("{answer}\n").into_bytes()),
        }
    })
}

#[test]
fn an_error_code_the_client_does_not_know_is_an_answer_exit_1() {
    let answer = "ERR SLOW_DOWN come back in a minute";
    let addr = fake_newer_server(3, answer);
    // One command: the ERR line on stderr, exit 1 (an answer), not 2 (no answer).
    let mut command = cli(addr);
    command.arg("ping");
    let once = run(command, "");
    assert_eq!(once.code(), Some(1), "stderr: {}", once.stderr);
    assert_eq!(once.stderr, format!("{answer}\n"));
    assert!(once.stdout.is_empty(), "{}", once.stdout);
    // The same when it refuses the login before the command.
    let login = as_user(addr, ALICE, &["orders"]);
    assert_eq!(login.code(), Some(1), "stderr: {}", login.stderr);
    assert_eq!(login.stderr, format!("{answer}\n"));
    // In a session it is shown like any refusal, and the session goes on.
    let session = run(cli(addr), "ping\nping\n");
    assert_eq!(session.code(), Some(0), "stderr: {}", session.stderr);
    assert_eq!(
        session.stdout,
        "error: come back in a minute [SLOW_DOWN]\n".repeat(2)
    );
}
