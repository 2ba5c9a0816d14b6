//! The docs stay true to the code. docs/WALKTHROUGH.md: the files it names exist, the
//! functions its **Read:** lines name are in the files named before them, and the
//! `make` targets it runs exist. Every doc: the tests it names as proofs
//! (`tests/faults.rs::a_crash_at_a_random_moment_loses_no_acknowledged_order`) exist.
//!
//! Why a test: a walkthrough is read in class, from a fresh clone, with the code open
//! beside it, and docs/RELIABILITY.md promises what the tests it names check. A renamed
//! function or a moved file must fail the build, not a lesson or a promise.
//!
//! The rules the walkthrough is written to:
//! - a repository path (`src/...`, `tests/...`, `examples/...`, `scripts/...`, `mk/...`,
//!   `docs/...`, ending in a file extension) anywhere in the text must exist;
//! - a **Read:** line (it may wrap onto the next lines, up to a blank line) is a list of
//!   `path` then what to read in that file, in backticks: `fn_name`, `Type::fn_name`
//!   (then the file must also have an `impl` naming `Type`), or a `Type` (a capital
//!   first letter: the file must define a struct, enum or trait of that name);
//! - every `make <target>` in a code block names a target of the Makefile or `mk/*.mk`.

use std::fs;
use std::path::{Path, PathBuf};

const WALKTHROUGH: &str = "docs/WALKTHROUGH.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn walkthrough() -> String {
    fs::read_to_string(root().join(WALKTHROUGH)).expect("docs/WALKTHROUGH.md exists")
}

/// The texts between backticks, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Does this word look like a path into the repository?
fn is_repo_path(word: &str) -> bool {
    const TOP: [&str; 6] = ["src/", "tests/", "examples/", "scripts/", "mk/", "docs/"];
    TOP.iter().any(|top| word.starts_with(top))
        && word
            .rsplit('/')
            .next()
            .is_some_and(|name| name.contains('.'))
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
}

/// Every path-looking word of the text (in backticks or not), trimmed of punctuation.
fn repo_paths(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "`()[],;:*\"'".contains(c))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| is_repo_path(w))
        .map(str::to_string)
        .collect()
}

/// Is `name` an identifier, or `Type::identifier`?
fn is_function_ref(name: &str) -> bool {
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    name.split("::").all(ident) && name.split("::").count() <= 2
}

/// The **Read:** paragraphs: from the marker to the next blank line.
fn read_paragraphs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.split_once("**Read:**").map(|(_, rest)| rest) {
            if let Some(done) = current.take() {
                found.push(done);
            }
            current = Some(rest.to_string());
        } else if let Some(paragraph) = current.as_mut() {
            if line.trim().is_empty() {
                found.push(current.take().unwrap_or_default());
            } else {
                paragraph.push(' ');
                paragraph.push_str(line);
            }
        }
    }
    found.extend(current);
    found
}

/// Checks one reference (a function, a method, or a type) against the source of the
/// file it is said to be in.
fn check_function(file: &str, source: &str, name: &str) -> Result<(), String> {
    if !name.contains("::") && name.starts_with(|c: char| c.is_uppercase()) {
        let defined = ["struct", "enum", "trait"].iter().any(|kind| {
            source.contains(&format!("{kind} {name} "))
                || source.contains(&format!("{kind} {name}<"))
        });
        return if defined {
            Ok(())
        } else {
            Err(format!("{file} defines no type `{name}`"))
        };
    }
    let (owner, function) = match name.split_once("::") {
        Some((owner, function)) => (Some(owner), function),
        None => (None, name),
    };
    let defined = [format!("fn {function}("), format!("fn {function}<")]
        .iter()
        .any(|needle| source.contains(needle.as_str()));
    if !defined {
        return Err(format!(
            "{file} has no `fn {function}` (a doc names `{name}`)"
        ));
    }
    if let Some(owner) = owner {
        let has_impl = source.lines().any(|line| {
            line.trim_start().starts_with("impl")
                && line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == owner)
        });
        if !has_impl {
            return Err(format!(
                "{file} has no `impl` for {owner} (a doc names `{name}`)"
            ));
        }
    }
    Ok(())
}

/// Checks every **Read:** paragraph; returns one message per broken reference.
fn check_read_paragraphs(text: &str, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for paragraph in read_paragraphs(text) {
        let mut file: Option<(String, String)> = None;
        for item in backticked(&paragraph) {
            if is_repo_path(item) {
                let source = fs::read_to_string(root.join(item)).unwrap_or_default();
                file = Some((item.to_string(), source));
            } else if !is_function_ref(item) {
                // Backticked prose (a section name, a flag) is allowed; it is not checked.
                continue;
            } else if let Some((path, source)) = &file {
                if let Err(problem) = check_function(path, source, item) {
                    problems.push(problem);
                }
            } else {
                problems.push(format!("`{item}` is named before any file in: {paragraph}"));
            }
        }
    }
    problems
}

/// The targets defined in the Makefile and mk/*.mk (`name:` or `name other:` at the
/// start of a line).
fn make_targets(root: &Path) -> Vec<String> {
    let mut files = vec![root.join("Makefile")];
    if let Ok(entries) = fs::read_dir(root.join("mk")) {
        files.extend(entries.flatten().map(|e| e.path()));
    }
    let mut targets = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            if line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '.') {
                continue;
            }
            if let Some((names, rest)) = line.split_once(':')
                && !rest.starts_with('=')
            {
                targets.extend(names.split_whitespace().map(str::to_string));
            }
        }
    }
    targets
}

/// Every `make <target>` at the start of a line inside a code block.
fn make_commands(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let line = line.trim_start().trim_start_matches("$ ");
        if in_code
            && let Some(rest) = line.strip_prefix("make ")
            && let Some(target) = rest.split_whitespace().find(|w| !w.contains('='))
        {
            found.push(target.to_string());
        }
    }
    found
}

#[test]
fn every_path_in_the_walkthrough_exists() {
    let text = walkthrough();
    let paths = repo_paths(&text);
    assert!(paths.len() > 20, "the walkthrough names files: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "{WALKTHROUGH} names missing files: {missing:?}"
    );
}

#[test]
fn every_function_to_read_is_in_the_file_named() {
    let text = walkthrough();
    assert!(
        read_paragraphs(&text).len() >= 10,
        "a Read: paragraph per step"
    );
    let problems = check_read_paragraphs(&text, &root());
    assert!(
        problems.is_empty(),
        "{WALKTHROUGH}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_make_target_in_the_walkthrough_exists() {
    let text = walkthrough();
    let commands = make_commands(&text);
    assert!(commands.len() >= 4, "{commands:?}");
    let targets = make_targets(&root());
    let missing: Vec<&String> = commands.iter().filter(|c| !targets.contains(c)).collect();
    assert!(missing.is_empty(), "no such make targets: {missing:?}");
}

/// Every test named as `path.rs::function` in backticks (as docs/RELIABILITY.md names
/// its proofs), with its line number. A backticked `::function` later on the same line
/// names another function of the same file; `path.rs::*` names the whole file.
fn named_tests(text: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut file: Option<&str> = None;
        for item in backticked(line) {
            let Some((path, function)) = item.split_once("::") else {
                continue;
            };
            if is_repo_path(path) && path.ends_with(".rs") {
                file = Some(path);
            } else if !path.is_empty() {
                continue;
            }
            if let Some(file) = file
                && (function == "*" || is_function_ref(function))
            {
                found.push((number + 1, file.to_string(), function.to_string()));
            }
        }
    }
    found
}

/// Checks each named test against the file it is said to be in; returns one message
/// per test that is not there.
fn check_named_tests(doc: &str, text: &str, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for (line, file, function) in named_tests(text) {
        let Ok(source) = fs::read_to_string(root.join(&file)) else {
            problems.push(format!("{doc}:{line}: no file {file}"));
            continue;
        };
        if function != "*"
            && let Err(problem) = check_function(&file, &source, &function)
        {
            problems.push(format!("{doc}:{line}: {problem}"));
        }
    }
    problems
}

/// The docs name tests as proofs (docs/RELIABILITY.md: "`tests/faults.rs::a_crash_...`
/// | what it does"). A proof that was renamed or moved away proves nothing: every test
/// that docs/*.md and the README name must be in the file they name.
#[test]
fn every_test_the_docs_name_is_in_the_file_named() {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    for entry in fs::read_dir(root.join("docs")).expect("docs/ exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    let mut named = 0;
    let mut problems = Vec::new();
    for path in docs {
        let text = fs::read_to_string(&path).expect("a doc is text");
        let doc = path.strip_prefix(&root).unwrap().display().to_string();
        named += named_tests(&text).len();
        problems.extend(check_named_tests(&doc, &text, &root));
    }
    assert!(named > 100, "the docs name their proofs: {named} found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself: broken references are reported, good ones pass.
#[test]
fn the_checker_finds_broken_references() {
    let root = root();
    let good = "**Read:** `src/net/accept.rs`: `AcceptLoop::run`, `turn_away`;\n`src/db.rs`: `Db::checkpoint`.\n";
    assert_eq!(check_read_paragraphs(good, &root), Vec::<String>::new());
    let bad = "**Read:** `src/server/listener.rs`: `Server::runn`, `Listener::run`;\n\
               `src/nowhere.rs`: `main`; `src/db.rs`: `Database`.\n\n\
               Not read: `src/db.rs` `nothing_here`.\n";
    let problems = check_read_paragraphs(bad, &root);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("no `fn runn`"));
    assert!(problems[1].contains("no `impl` for Listener"));
    assert!(problems[2].starts_with("src/nowhere.rs has no `fn main`"));
    assert!(problems[3].contains("defines no type `Database`"));
    assert_eq!(
        repo_paths("see `src/db.rs`, src/lib.rs. and docs/ARCHITECTURE.md (or `src/`)"),
        ["src/db.rs", "src/lib.rs", "docs/ARCHITECTURE.md"]
    );
    assert_eq!(
        make_commands("```sh\nmake run-ring N=8\n$ make demo-race\n```\nmake prose\n"),
        ["run-ring", "demo-race"]
    );
    assert!(make_targets(&root).contains(&"demo-deadlock".to_string()));

    let table = "| `tests/docs.rs::the_checker_finds_broken_references`, `::named_tests` | x |\n\
                 | `tests/docs.rs::no_such_test` | `tests/nowhere.rs::*` | `::1` |\n\
                 `src/db.rs` and `::open` on a line of their own: not a test\n";
    assert_eq!(named_tests(table).len(), 4, "{:?}", named_tests(table));
    let problems = check_named_tests("DOC.md", table, &root);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].starts_with("DOC.md:2: tests/docs.rs has no `fn no_such_test`"));
    assert_eq!(problems[1], "DOC.md:2: no file tests/nowhere.rs");
}

/// Code and docs never cite the tracker ("issue 11", "item 4 of issue 12", "(#12)"): a
/// reader of the code has no tracker, so a reference must name the feature or the
/// promise instead. Checked in the sources, the docs, the README and the build files.
#[test]
fn no_tracker_references_in_code_or_docs() {
    /// Where a tracker reference would be read: the sources, the docs, the build.
    const PLACES: [&str; 9] = [
        "src",
        "docs",
        "examples",
        "scripts",
        "mk",
        "README.md",
        "Makefile",
        "Cargo.toml",
        ".ci",
    ];
    /// Text files a person reads; data (CSV, SVG) is not prose.
    const TEXT: [&str; 7] = ["rs", "md", "sh", "mk", "toml", "py", "txt"];

    /// The tracker references in one line: a tracker word followed by a number
    /// (`issue 11`, `issues 3`, `item #4`, `ticket 7`, `PR 12`), or `(#12)`.
    fn references(line: &str) -> Vec<String> {
        const WORDS: [&str; 7] = ["issue", "issues", "item", "items", "ticket", "pr", "prs"];
        let lower = line.to_lowercase();
        // Words as written between spaces, without the punctuation around them (so
        // `ticket.0`, a field, is one word, and `(issue 11)` is two).
        let words: Vec<&str> = lower
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !(c.is_alphanumeric() || c == '#')))
            .filter(|w| !w.is_empty())
            .collect();
        let number = |w: &str| {
            let digits = w.trim_start_matches('#');
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        };
        let mut found: Vec<String> = words
            .windows(2)
            .filter(|pair| WORDS.contains(&pair[0]) && number(pair[1]))
            .map(|pair| pair.join(" "))
            .collect();
        found.extend(
            lower
                .split("(#")
                .skip(1)
                .filter(|rest| rest.split(')').next().is_some_and(number))
                .map(|rest| format!("(#{}", rest.split(')').next().unwrap_or_default())),
        );
        found
    }

    /// Every text file under `path` (or `path` itself).
    fn files(path: &Path, into: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                files(&entry.path(), into);
            }
        } else if path
            .file_name()
            .is_some_and(|n| n == "Makefile" || n == "run")
            || path
                .extension()
                .is_some_and(|e| TEXT.contains(&e.to_string_lossy().as_ref()))
        {
            into.push(path.to_path_buf());
        }
    }

    // The matcher itself: it finds each form, and leaves ordinary words alone.
    for cited in [
        "see issue 11",
        "Issue #12, item 4",
        "issues 3 and 4",
        "(the throttle, #12) fixed in (#12)",
        "PR 7",
    ] {
        assert!(!references(cited).is_empty(), "{cited:?} cites the tracker");
    }
    for plain in [
        "a key issued at now",
        "UTS #39",
        "the menu's items",
        "an issue with locks",
        "item 0x1f",
        "ticket.0 and items.2",
    ] {
        assert_eq!(references(plain), Vec::<String>::new(), "{plain:?}");
    }

    let root = root();
    let mut checked = Vec::new();
    for place in PLACES {
        files(&root.join(place), &mut checked);
    }
    assert!(
        checked.len() > 100,
        "the sources and docs were found: {checked:?}"
    );
    let mut problems = Vec::new();
    for file in &checked {
        let text = fs::read_to_string(file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            for cited in references(line) {
                let name = file.strip_prefix(&root).unwrap_or(file).display();
                problems.push(format!("{name}:{}: {cited:?}", number + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "tracker references (name the feature or the promise instead):\n{}",
        problems.join("\n")
    );
}
