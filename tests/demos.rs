//! The classroom demos (examples/demo_race.rs, examples/demo_deadlock/) say what
//! docs/DEMOS.md promises, and finish by themselves.
//!
//! Why spawn the example binaries instead of calling their code: the demos are programs
//! an instructor runs, with an exit code and printed figures; testing the program is
//! testing what the class sees. `cargo test` builds the examples before it runs the
//! tests, into `target/<profile>/examples/`, next to the `deps/` folder this test runs
//! from, so the test only has to start them (no nested, slow `cargo run`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use support::process::finish;

/// The demos take well under a second in a debug build; this is the bound past which a
/// demo counts as hung (a deadlock the demo failed to recover from, say).
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The path of a built example, `target/<profile>/examples/<name>`, checked to be newer
/// than the example's sources.
///
/// A whole `cargo test` (or `cargo nextest run`) builds the examples first. A filtered
/// `cargo test --test demos` does not: then the binary may be missing, or older than the
/// file you just edited, and the test would run yesterday's demo. Both cases fail here
/// with the command that fixes them, rather than testing the wrong program.
fn example_path(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/demos-<hash> -> target/<profile>
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let fix = "run the whole `cargo test` (it builds the examples) or `cargo build --examples`";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is not built: {fix}", path.display()));
    let edited = newest_source(name);
    assert!(
        built >= edited,
        "{} is older than its sources: {fix}",
        path.display()
    );
    path
}

/// The newest modification time among an example's source files: `examples/<name>.rs`,
/// or every file in `examples/<name>/`.
fn newest_source(name: &str) -> SystemTime {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let single = examples.join(format!("{name}.rs"));
    let files: Vec<PathBuf> = if single.exists() {
        vec![single]
    } else {
        std::fs::read_dir(examples.join(name))
            .expect("the example has a folder")
            .map(|entry| entry.expect("a readable folder entry").path())
            .collect()
    };
    files
        .iter()
        .map(|file| {
            std::fs::metadata(file)
                .and_then(|m| m.modified())
                .expect("a source file has a modification time")
        })
        .max()
        .expect("an example has at least one source file")
}

/// Runs an example to completion, killing it if it outlives TIME_LIMIT (which fails
/// the test). Returns its exit status and its standard output.
fn run_example(name: &str) -> (ExitStatus, String) {
    let child = Command::new(example_path(name))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let run = finish(child, TIME_LIMIT);
    (run.status, run.stdout)
}

/// The number after `label` on the first line that starts with it (after indentation)
/// at or after `section`, with thousands separators removed.
fn figure(output: &str, section: &str, label: &str) -> u64 {
    let start = output
        .find(section)
        .unwrap_or_else(|| panic!("no section {section:?} in:\n{output}"));
    let line = output[start..]
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line after {section:?} in:\n{output}"));
    let number: String = line
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number in {line:?}"))
}

#[test]
fn race_demo_loses_updates_without_a_lock_and_none_with_one() {
    let (status, output) = run_example("demo_race");
    assert!(status.success(), "{status}:\n{output}");

    let unlocked = "== without a lock";
    let locked = "== with a lock";
    // The locked run is exact: every unit sold once, never more than the stock.
    assert_eq!(figure(&output, locked, "lost updates"), 0, "{output}");
    assert_eq!(figure(&output, locked, "oversold"), 0, "{output}");
    assert_eq!(
        figure(&output, locked, "sales counted"),
        500_000,
        "{output}"
    );
    assert_eq!(figure(&output, locked, "stock left"), 0, "{output}");

    // The unlocked run loses updates. This is reliable, not luck: every 1,000th purchase
    // yields the processor between its read and its write while seven other buyers are
    // runnable, so some buyer writes back a stale stock on every run, on any number of
    // cores (seen on every one of many runs on a busy 2-core machine, see docs/DEMOS.md).
    let lost = figure(&output, unlocked, "lost updates");
    assert!(lost > 0, "the unlocked run lost nothing:\n{output}");
    let sold = figure(&output, unlocked, "sales counted");
    let left = figure(&output, unlocked, "stock left");
    // The figures the demo prints must add up: lost = sold - (opening stock - left).
    assert_eq!(lost, sold - (500_000 - left), "{output}");
    assert!(output.contains("=> WRONG: sold"), "{output}");
    assert!(
        output.contains("=> correct: sold 500,000 units"),
        "{output}"
    );
}

#[test]
fn deadlock_demo_finds_the_cycle_then_runs_clean_with_one_lock_order() {
    let (status, output) = run_example("demo_deadlock");
    assert!(status.success(), "{status}:\n{output}");

    // Phase 1: the watchdog names who holds what and waits for what.
    for expected in [
        "thread 'order' holds products and waits for wallets",
        "thread 'refund' holds wallets and waits for products",
        "DEADLOCK",
        "aborted 'refund'",
        "order : completed: sold 1 unit",
        "refund: aborted by the watchdog",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected:?} in:\n{output}"
        );
    }
    // Phase 2: every transaction completes and the watchdog finds nothing.
    let phase_2 = output
        .find("Phase 2")
        .map(|at| &output[at..])
        .unwrap_or_else(|| panic!("no phase 2 in:\n{output}"));
    assert!(!phase_2.contains("DEADLOCK"), "{output}");
    assert_eq!(
        figure(phase_2, "Phase 2", "deadlocks found by the watchdog:"),
        0
    );
    assert_eq!(figure(phase_2, "Phase 2", "order :"), 10_000);
    assert_eq!(figure(phase_2, "Phase 2", "refund:"), 10_000);
    assert!(
        phase_2.contains("paid for exactly the units taken"),
        "{output}"
    );
}
