//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `.ci/run` and `make browser`) loads the page from the real `feira-server`, with the
//! token it printed, while clients load the store; the DOM it ran its scripts on must
//! show live figures that agree with STATS.
//!
//! An optional door: without Chromium the test is SKIPPED, loudly, except under CI,
//! where it fails. It takes about 5 s (the browser's start, and eight polls whose
//! timers run on Chromium's virtual clock: `--virtual-time-budget`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::process::finish;
use support::server_process::ServerProcess;
use support::*;

/// Debian's name for the browser.
const CHROMIUM: &str = "chromium";

#[test]
fn the_dashboard_shows_live_figures_that_match_stats() {
    if let Err(why) = support::tools::tool(CHROMIUM) {
        support::tools::missing("chromium (headless browser)", &why);
        return;
    }
    let dir = demo_data_dir();
    let server = ServerProcess::start_with(dir.path(), &["--http-addr", "127.0.0.1:0"]);
    let line = server.stdout_line("dashboard: ");
    let url = (line.split_whitespace())
        .find(|w| w.starts_with("http://"))
        .expect("the dashboard's address")
        .to_string();

    // Load that runs all the while the browser polls.
    let stop = Arc::new(AtomicBool::new(false));
    let mut alice = server.login(ALICE);
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                ok(&mut alice, "PRODUCTS");
                ok(&mut alice, "BALANCE");
            }
        })
    };
    let mut admin = server.login(ADMIN);
    let requests = |admin: &mut feira::client::Client| -> u64 {
        let stats = ok(admin, "STATS");
        let row = stats
            .iter()
            .find(|r| r[1] == "requests")
            .expect("a requests line");
        row[2].parse().expect("a number")
    };
    let before = requests(&mut admin);
    let browser = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=8000",
            "--dump-dom",
            &url,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let run = finish(browser, Duration::from_secs(90));
    stop.store(true, Ordering::Relaxed);
    load.join().expect("the load thread does not panic");
    let after = requests(&mut admin);
    let dom = run.stdout;
    assert!(run.status.success(), "chromium failed: {}", run.stderr);

    // Several answers arrived, and the page shows them.
    let polls: u64 = text_of(&dom, "polls").parse().expect("a poll count");
    assert!(polls >= 3, "the page polled {polls} times:\n{dom}");
    let status = text_of(&dom, "status");
    assert!(
        status.starts_with("up "),
        "the page's status line: {status}"
    );
    // The request count grew under the page's eyes, within what STATS saw around it.
    let first: u64 = attribute(&dom, "id=\"requests\"", "data-first")
        .parse()
        .unwrap();
    let last: u64 = attribute(&dom, "id=\"requests\"", "data-value")
        .parse()
        .unwrap();
    assert!(
        before <= first && first < last && last <= after,
        "STATS {before} <= first {first} < last {last} <= STATS {after}"
    );
    // Every lock, in lock order, as STATS lists them.
    let locks: Vec<&str> = values_of(&dom, "data-lock=\"");
    let stats = ok(&mut admin, "STATS");
    let stats_locks: Vec<&str> = (stats.iter().filter(|r| r[0] == "lock"))
        .map(|r| r[1].as_str())
        .collect();
    assert_eq!(locks, stats_locks, "{dom}");
    assert_eq!(locks.len(), 7, "{dom}");
    // The verbs the load used, with their rates.
    let verbs = values_of(&dom, "data-verb=\"");
    for verb in ["LOGIN", "PRODUCTS", "BALANCE", "STATS"] {
        assert!(verbs.contains(&verb), "{verb} in {verbs:?}");
    }
    // The chart was drawn: one line per series.
    let chart_start = dom.find("<svg id=\"chart\"").expect("the chart");
    let chart_end = dom[chart_start..].find("</svg>").expect("the chart ends") + chart_start;
    let chart = &dom[chart_start..chart_end];
    assert_eq!(chart.matches("<polyline").count(), 4, "{chart}");
}

/// The text inside the element with this id (up to the next tag).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let at = (dom.find(&marker)).unwrap_or_else(|| panic!("no #{id} in:\n{dom}"));
    let start = dom[at..].find('>').expect("the tag ends") + at + 1;
    let end = dom[start..].find('<').expect("the element ends") + start;
    &dom[start..end]
}

/// The value of `name` in the tag that contains `marker`.
fn attribute<'a>(dom: &'a str, marker: &str, name: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in:\n{dom}"));
    let tag_start = dom[..at].rfind('<').expect("inside a tag");
    let tag_end = dom[at..].find('>').expect("the tag ends") + at;
    let tag = &dom[tag_start..tag_end];
    let key = format!("{name}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    let end = tag[start..].find('"').expect("the value ends") + start;
    &tag[start..end]
}

/// Every value that follows `prefix` (`data-lock="`), in document order.
fn values_of<'a>(dom: &'a str, prefix: &str) -> Vec<&'a str> {
    dom.match_indices(prefix)
        .map(|(at, _)| {
            let start = at + prefix.len();
            let end = dom[start..].find('"').expect("the value ends") + start;
            &dom[start..end]
        })
        .collect()
}
