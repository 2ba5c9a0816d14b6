//! The web door (docs/HTTP.md): every route, who may see what, and the three bounds
//! (clients, bytes, time), each while the store's socket door keeps answering.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feira::http::WebLimits;
use feira::http::client::parse_reply;
use feira::http::head::HeadLimits;
use support::web::{basic, start_web, start_web_with};
use support::*;

#[test]
fn the_time_service_answers_with_the_servers_clock() {
    let server = start_server();
    let web = start_web(&server);
    let before = now_ms();
    let reply = web.get("/time");
    let after = now_ms();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let time = reply.json().unwrap();
    let unix_ms = time["unix_ms"].as_u64().expect("unix_ms is an integer");
    assert!(
        (before..=after).contains(&unix_ms),
        "{before} <= {unix_ms} <= {after}"
    );
    let utc = time["utc"].as_str().expect("utc is text");
    let parsed = humantime::parse_rfc3339(utc).expect("utc is RFC 3339");
    let parsed_ms = parsed.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert_eq!(
        parsed_ms, unix_ms,
        "utc and unix_ms are the same instant: {utc}"
    );
    assert!(
        utc.ends_with('Z') && utc.len() == "2026-12-01T10:00:00.123Z".len(),
        "{utc}"
    );

    let health = web.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json().unwrap()["status"], "ok");
}

#[test]
fn the_catalogue_is_json_with_exact_money() {
    let server = start_server();
    let web = start_web(&server);
    let mut admin = server.login(ADMIN);
    // A price that a float would not hold exactly, and a name to escape.
    ok(&mut admin, "ADD_PRODUCT \"Pão \\\"doce\\\"\" 0.10 7");
    let all = web.get("/api/products");
    assert_eq!(all.status, 200, "{all:?}");
    let all = all.json().unwrap();
    let on_the_wire = ok(&mut admin, "PRODUCTS");
    assert_eq!(all["count"].as_u64().unwrap() as usize, on_the_wire.len());
    let products = all["products"].as_array().unwrap();
    for (json, row) in products.iter().zip(&on_the_wire) {
        assert_eq!(json["name"], row[0].as_str());
        assert_eq!(json["price"], row[1].as_str());
        assert_eq!(json["stock"].as_u64().unwrap().to_string(), row[2]);
    }
    let pao = products
        .iter()
        .find(|p| p["name"] == "Pão \"doce\"")
        .expect("the new product");
    assert!(
        pao["price_cents"].is_i64() && pao["price_cents"] == 10,
        "{pao}"
    );
    assert_eq!(pao["price"], "0.10");

    let cheap = web.get("/api/products?max_price=2.50").json().unwrap();
    let cheap_on_the_wire = ok(&mut admin, "PRODUCTS 2.50");
    let names: Vec<&str> = (cheap["products"].as_array().unwrap().iter())
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let wire_names: Vec<&str> = cheap_on_the_wire.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, wire_names);
    assert!(names.contains(&"Maçã"), "{names:?}");
    assert!(names.len() < products.len());

    for bad in ["abc", "-1", "2.505", ""] {
        let reply = web.get(&format!("/api/products?max_price={bad}"));
        assert_eq!(reply.status, 400, "max_price={bad}: {reply:?}");
        assert!(reply.json().unwrap()["error"].is_string());
    }
}

#[test]
fn unknown_paths_and_other_methods_are_refused() {
    let server = start_server();
    let web = start_web(&server);
    assert_eq!(web.get("/nope").status, 404);
    let post = raw_exchange(
        &web.addr,
        b"POST /time HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(post.status, 405, "{post:?}");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let body = raw_exchange(
        &web.addr,
        b"GET /time HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(body.status, 413, "a GET with a body: {body:?}");
    let garbage = raw_exchange(&web.addr, b"HELLO\r\n\r\n");
    assert_eq!(garbage.status, 400, "{garbage:?}");
    let head = raw_exchange(&web.addr, b"HEAD /time HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body: {head:?}");
}

#[test]
fn the_statistics_need_the_token_or_an_admin() {
    let server = start_server();
    let web = start_web(&server);
    for path in ["/api/stats", "/"] {
        let anonymous = web.get(path);
        assert_eq!(anonymous.status, 401, "{path} without credentials");
        assert_eq!(
            anonymous.header("www-authenticate"),
            Some("Basic realm=\"feira\"")
        );
        let wrong = format!("{path}?token=0123");
        assert_eq!(web.get(&wrong).status, 401, "{wrong}");
        let not_quite = format!("Bearer {}0", &web.token.as_str()[..63]);
        assert_eq!(
            web.get_with(path, &[("Authorization", &not_quite)]).status,
            401,
            "{path} with a wrong bearer token"
        );
        let customer = basic(ALICE.0, ALICE.1);
        assert_eq!(
            web.get_with(path, &[("Authorization", &customer)]).status,
            401,
            "{path}: a customer's right password is not enough"
        );
        assert_eq!(
            web.get_as_instructor(path).status,
            200,
            "{path} with the token"
        );
        let in_the_address = format!("{path}?token={}", web.token.as_str());
        assert_eq!(web.get(&in_the_address).status, 200, "{in_the_address}");
        let admin = basic(ADMIN.0, ADMIN.1);
        assert_eq!(
            web.get_with(path, &[("Authorization", &admin)]).status,
            200,
            "{path} with an admin's password"
        );
    }
    // The page carries the token it polls with, and nothing from a CDN.
    let page = web.get_as_instructor("/");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains(web.token.as_str()));
    assert!(!page.body.contains("__FEIRA_TOKEN__"));
    assert!(
        !page.body.contains("src=\"http"),
        "no script from elsewhere"
    );
}

#[test]
fn passwords_over_http_spend_the_same_throttle_as_login() {
    let server = start_server();
    let web = start_web(&server);
    let wrong = basic(ADMIN.0, "not-the-password");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            web.get_with("/api/stats", &[("Authorization", &wrong)])
                .status,
        );
    }
    // Three failures for one name from one address, then refused before any hashing.
    assert_eq!(statuses, [401, 401, 401, 429]);
    // The right password is refused too while the bucket is empty...
    let right = basic(ADMIN.0, ADMIN.1);
    assert_eq!(
        web.get_with("/api/stats", &[("Authorization", &right)])
            .status,
        429
    );
    // ...and so is LOGIN over the socket, from the same address: one throttle.
    err(&mut server.client(), "LOGIN admin admin-pass", "THROTTLED");
    // The token does not go through the throttle: it cannot be guessed.
    assert_eq!(web.get_as_instructor("/api/stats").status, 200);
}

#[test]
fn the_statistics_are_what_stats_shows() {
    let server = start_server();
    let web = start_web(&server);
    let mut alice = server.login(ALICE);
    ok(&mut alice, "ORDER Caju 1");
    ok(&mut alice, "PRODUCTS");
    let before = web.get_as_instructor("/api/stats").json().unwrap();
    let mut admin = server.login(ADMIN);
    let stats = ok(&mut admin, "STATS");
    for _ in 0..5 {
        ok(&mut alice, "ORDER Caju 1");
    }
    let after = web.get_as_instructor("/api/stats").json().unwrap();

    // Every `server` line of STATS is in the JSON, and the figures that cannot have
    // moved in between agree.
    let server_lines: Vec<&Vec<String>> = stats.iter().filter(|r| r[0] == "server").collect();
    assert!(server_lines.len() >= 14, "{stats:?}");
    for row in &server_lines {
        let name = row[1].as_str();
        assert!(
            before["server"][name].is_u64(),
            "{name} missing from {before}"
        );
    }
    for name in ["journal_lines", "journal_fsyncs", "key_rotations"] {
        let line = server_lines.iter().find(|r| r[1] == name).unwrap();
        assert_eq!(
            before["server"][name].as_u64().unwrap().to_string(),
            line[2],
            "{name}"
        );
    }
    // The locks, in lock order, as STATS lists them.
    let lock_names: Vec<&str> = (stats.iter().filter(|r| r[0] == "lock"))
        .map(|r| r[1].as_str())
        .collect();
    let json_locks: Vec<&str> = (after["locks"].as_array().unwrap().iter())
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(json_locks, lock_names);
    let in_lock_order: Vec<&str> = (server.shared.db.lock_stats().iter())
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(json_locks, in_lock_order);
    // Live: five more orders are five more ORDER requests and journal lines.
    let orders = |v: &serde_json::Value| {
        (v["verbs"].as_array().unwrap().iter())
            .find(|e| e["verb"] == "ORDER")
            .and_then(|e| e["requests"].as_u64())
            .unwrap()
    };
    assert_eq!(orders(&before), 1);
    assert_eq!(orders(&after), 6);
    let lines = |v: &serde_json::Value| v["journal"]["lines"].as_u64().unwrap();
    assert!(lines(&after) >= lines(&before) + 5, "{before}\n{after}");
    assert_eq!(after["journal"]["lines"], after["server"]["journal_lines"]);
    let products_lock = &after["locks"][1];
    assert!(
        products_lock["acquisitions"].as_u64().unwrap() >= 7,
        "{products_lock}"
    );
}

#[test]
fn more_clients_than_the_limit_get_503_and_the_socket_door_keeps_answering() {
    let server = start_server();
    let limits = WebLimits {
        max_clients: 8,
        head: HeadLimits {
            max_bytes: 8192,
            time: Duration::from_secs(1),
        },
        ..WebLimits::default()
    };
    let web = start_web_with(&server, limits);
    // A thousand idle HTTP connections: eight hold a place, the rest are refused.
    let mut idle: Vec<TcpStream> = (0..1000)
        .map(|i| TcpStream::connect(&web.addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    let started = Instant::now();
    // The store answers meanwhile, at once.
    let mut alice = server.login(ALICE);
    ok(&mut alice, "PRODUCTS");
    ok(&mut alice, "ORDER Caju 1");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // About eight HTTP threads, whatever came in: a thread whose place was just given
    // back may still be ending, so allow a few more; a door without a limit would have
    // hundreds.
    let http_threads = thread_names()
        .iter()
        .filter(|n| n.starts_with("http-") && *n != "http-accept")
        .count();
    assert!(http_threads <= 12, "{http_threads} HTTP connection threads");
    // Those refused read a 503 and the end of the connection; those let in read
    // nothing until their head time runs out (then 408), which frees their place for
    // a connection that was still in the listen queue.
    let mut refused = 0;
    let mut timed_out = 0;
    for stream in idle.iter_mut() {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        match parse_reply(&bytes).map(|r| r.status) {
            Ok(503) => refused += 1,
            Ok(408) => timed_out += 1,
            other => panic!("{other:?}: {}", String::from_utf8_lossy(&bytes)),
        }
    }
    assert_eq!(refused + timed_out, 1000);
    assert!(
        timed_out >= 8,
        "the clients let in waited out their head time"
    );
    assert!(refused >= 900, "only {refused} refused");
    // Once they are gone, the door serves again.
    drop(idle);
    let served = wait_until(Duration::from_secs(10), || {
        feira::http::client::get(&web.addr, "/healthz", &[], Duration::from_secs(5))
            .is_ok_and(|r| r.status == 200)
    });
    assert!(served, "the door serves again");
}

#[test]
fn a_request_line_of_a_mebibyte_is_413_and_a_head_that_never_ends_is_408() {
    let server = start_server();
    let limits = WebLimits {
        head: HeadLimits {
            max_bytes: 8192,
            time: Duration::from_secs(1),
        },
        ..WebLimits::default()
    };
    let web = start_web_with(&server, limits);
    let mut huge = b"GET /".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let reply = raw_exchange(&web.addr, &huge);
    assert_eq!(reply.status, 413, "{reply:?}");
    ok(&mut server.client(), "PING");

    // A header that never ends: the head's time runs out, whatever trickles in.
    let mut slow = TcpStream::connect(&web.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /time HTTP/1.1\r\nX-Slow: a").unwrap();
    let mut bytes = Vec::new();
    for _ in 0..5 {
        // A byte now and then, which a per-read timeout alone would let through.
        if slow.write_all(b"a").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = slow.read_to_end(&mut bytes);
    let reply = parse_reply(&bytes).expect("a response");
    assert_eq!(reply.status, 408, "{reply:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "408 after {took:?}");

    // Half a head, then silence: the same deadline.
    let mut silent = TcpStream::connect(&web.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    silent
        .write_all(b"GET /time HTTP/1.1\r\nHost: a\r\n")
        .unwrap();
    let mut bytes = Vec::new();
    let _ = silent.read_to_end(&mut bytes);
    let reply = parse_reply(&bytes).expect("a response");
    assert_eq!(reply.status, 408, "{reply:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "408 after {took:?}");
    ok(&mut server.client(), "PING");
}

/// Sends `request` on a new connection (from a thread of its own, so that a refusal
/// that stops reading cannot block the test), and reads the whole response.
fn raw_exchange(addr: &str, request: &[u8]) -> feira::http::client::Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let request = request.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let _ = sender.join();
    parse_reply(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

/// The names of this process's threads (the door's are `http-accept` and `http-<n>`).
fn thread_names() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn the_door_opens_only_with_its_flag_and_prints_its_token() {
    use support::server_process::ServerProcess;
    let dir = demo_data_dir();
    let plain = ServerProcess::start(dir.path());
    ok(&mut plain.client(), "PING");
    let names = plain.thread_names();
    assert!(
        !names.iter().any(|n| n.starts_with("http")),
        "no HTTP thread without --http-addr: {names:?}"
    );
    plain.terminate();

    let server = ServerProcess::start_with(dir.path(), &["--http-addr", "127.0.0.1:0"]);
    let line = server.stdout_line("dashboard: ");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("an address");
    let (addr, token) = url["http://".len()..]
        .split_once("/?token=")
        .expect("a token in the address");
    assert_eq!(token.len(), 64, "{line}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    let names = server.thread_names();
    assert!(names.iter().any(|n| n == "http-accept"), "{names:?}");
    let timeout = Duration::from_secs(10);
    let bearer = format!("Bearer {token}");
    let stats =
        feira::http::client::get(addr, "/api/stats", &[("Authorization", &bearer)], timeout)
            .unwrap();
    assert_eq!(stats.status, 200, "{stats:?}");
    let admin = basic(ADMIN.0, ADMIN.1);
    let stats = feira::http::client::get(addr, "/api/stats", &[("Authorization", &admin)], timeout)
        .unwrap();
    assert_eq!(stats.status, 200, "{stats:?}");
    // The token is printed for the instructor, never written to the log.
    let started = server.started_log.clone();
    let (status, log) = server.terminate();
    assert!(status.success());
    let logged = [started, log].concat().join("\n");
    assert!(logged.contains("http: serving on"), "{logged}");
    assert!(!logged.contains(token), "the token is not in the log");
}

#[test]
fn feira_cli_time_shows_the_servers_clock_and_the_skew() {
    use support::feira_cli;
    let server = start_server();
    let web = start_web(&server);
    let mut command = feira_cli::command(server.addr);
    command.args(["time", "--http", &web.addr]);
    let run = feira_cli::run(command, "");
    assert_eq!(run.code(), Some(0), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let server_time = lines[0]
        .strip_prefix("server time  ")
        .expect("the server's time");
    humantime::parse_rfc3339(server_time).expect("an RFC 3339 time");
    assert!(
        lines[1].starts_with("round trip   ") && lines[1].ends_with(" ms"),
        "{}",
        lines[1]
    );
    // One machine, one clock: the skew is within its bound.
    assert!(lines[2].starts_with("skew         "), "{}", lines[2]);
    assert!(lines[2].contains("the clocks agree"), "{}", lines[2]);

    // No web door there: exit 2, saying what to check.
    let mut command = feira_cli::command(server.addr);
    command.args(["time", "--http", &server.addr.to_string()]);
    let run = feira_cli::run(command, "");
    assert_eq!(run.code(), Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--http-addr"), "{}", run.stderr);
}
