//! The module graph reads from the bottom up (docs/ARCHITECTURE.md, "Layers").
//!
//! This test reads every file of `src/` (not `src/bin/`: each binary is a crate of its
//! own, above everything) and collects which other files of the crate each one imports:
//! `use crate::...`, `use super::...`, a child module's name, and paths written in the
//! code (`crate::protocol::request::VERBS`, `orders::place(...)` after `use ...::orders`).
//! Then it fails
//!
//! - on a cycle between files: two files that need each other are one concept split
//!   badly, or a type in the wrong place;
//! - on a cycle between top-level modules (`wallet` -> `shop` -> `wallet`), so that the
//!   modules of one layer can still be read in some order;
//! - on an import that runs up the layers of [`LAYERS`].
//!
//! What counts as an import of a file: naming an item that the file defines. A `mod x;`
//! line is not one, and neither is a `pub use` (it only forwards a name: whoever imports
//! through it depends on the file that defines the item), nor `use crate::x::y;` on its
//! own (a module's name; the paths through it, `y::f()`, are the imports). Test code
//! (`#[cfg(test)] mod tests`, and files declared so) is left out: a test may build its
//! fixture from any layer (the ledger check's tests place an order through the shop),
//! while the layers are about the code the server runs. The parsing is simple on purpose (comments and
//! string literals are blanked out, then paths are read from the tokens): it does not run
//! the compiler's name resolution, only enough of it for the way this crate is written
//! (tests/module_graph/).

mod module_graph;

use std::collections::BTreeSet;
use std::fs;

use module_graph::Graph;

/// The layers, bottom up: a top-level module may import its own layer and the layers
/// below, never one above. Within a layer the modules must still form no cycle.
const LAYERS: &[(&str, &[&str])] = &[
    ("general helpers", &["error", "clock", "net"]),
    ("wire and disk", &["protocol", "storage"]),
    ("the database", &["db"]),
    (
        "the domains",
        &["sharing", "wallet", "shop", "accounts", "p2p", "chord"],
    ),
    (
        "the server and the client",
        &["server", "grpc", "client", "http"],
    ),
    ("the programs", &["cli", "bench", "demo"]),
];

/// Top-level modules whose files still import each other in circles, and are yet to be
/// untangled: their cycles are not reported. A module listed here that has no cycle
/// left fails the test, so that the list only shrinks.
const CYCLES_TO_UNTANGLE: &[&str] = &[];

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let graph = Graph::of_crate();
    let mut cycles = Vec::new();
    let mut untangled: BTreeSet<&str> = CYCLES_TO_UNTANGLE.iter().copied().collect();
    for cycle in graph.file_cycles() {
        let tops: BTreeSet<&str> = (cycle.files.iter())
            .filter_map(|&f| graph.files[f].module.first().map(String::as_str))
            .collect();
        match tops.iter().next() {
            Some(top) if tops.len() == 1 && CYCLES_TO_UNTANGLE.contains(top) => {
                untangled.remove(top);
            }
            _ => cycles.push(cycle.report),
        }
    }
    assert!(
        untangled.is_empty(),
        "no cycle left in {untangled:?}: remove it from CYCLES_TO_UNTANGLE in tests/layers.rs"
    );
    assert!(
        cycles.is_empty(),
        "these files import each other in a circle (break each by moving a type down, or \
         splitting a file by concept):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = Graph::of_crate();
    let cycles = graph.module_cycles();
    assert!(
        cycles.is_empty(),
        "these top-level modules import each other in a circle:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_layer_imports_a_higher_one() {
    let graph = Graph::of_crate();
    let mut wrong = Vec::new();
    for edge in &graph.edges {
        let (from, to) = (&graph.files[edge.from], &graph.files[edge.to]);
        let (Some(from_top), Some(to_top)) = (from.module.first(), to.module.first()) else {
            continue; // src/lib.rs declares every module; it is above them all.
        };
        match (layer_of(from_top), layer_of(to_top)) {
            (Some(low), Some(high)) if low < high => wrong.push(format!(
                "{}:{} imports {} ({} is in layer {} \"{}\", {} in layer {} \"{}\")",
                from.path.display(),
                edge.line,
                to.path.display(),
                from_top,
                low,
                LAYERS[low].0,
                to_top,
                high,
                LAYERS[high].0
            )),
            (Some(_), Some(_)) => {}
            _ => wrong.push(format!(
                "{} or {} belongs to no layer: add its top-level module to LAYERS in tests/layers.rs",
                from.path.display(),
                to.path.display()
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run up the layers:\n{}",
        wrong.join("\n")
    );
}

/// The check itself can fail: a small crate with a cycle and an import that runs up.
#[test]
fn the_check_finds_a_cycle_and_an_import_up_the_layers() {
    let dir = std::env::temp_dir().join(format!("feira-layers-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod storage;\npub mod server;\n");
    write(
        "storage/mod.rs",
        "mod record;\nmod table;\npub use table::Table;\n",
    );
    write(
        "storage/table.rs",
        "// use crate::server::Shared; (a comment is no import)\n\
         pub struct Table;\nfn f() { let _ = crate::server::Shared::new(); }\n",
    );
    write(
        "server/mod.rs",
        "pub mod fixtures;\nuse crate::storage::Table;\npub struct Shared(Table);\n",
    );
    // Test code may build its fixtures from any layer: not counted.
    write(
        "storage/record.rs",
        "#[cfg(test)]\nmod tests {\n    use crate::server::fixtures::Row;\n}\n",
    );
    write("server/fixtures.rs", "pub struct Row;\n");
    let graph = Graph::read(&dir);
    fs::remove_dir_all(&dir).unwrap();
    let cycles: Vec<String> = graph.file_cycles().into_iter().map(|c| c.report).collect();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("storage/table.rs:3") && cycles[0].contains("server/mod.rs:2"),
        "{}",
        cycles[0]
    );
    assert_eq!(graph.module_cycles().len(), 1);
    let up: Vec<_> = graph
        .edges
        .iter()
        .filter(|e| {
            graph.files[e.from]
                .module
                .first()
                .is_some_and(|m| m == "storage")
        })
        .map(|e| graph.files[e.to].path.display().to_string())
        .collect();
    assert_eq!(up, ["server/mod.rs"]);
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// Not a check: prints every import of a file by another, to read the graph
/// (`cargo test --test layers -- --ignored --nocapture`).
#[test]
#[ignore]
fn print_the_graph() {
    let graph = Graph::of_crate();
    for edge in &graph.edges {
        println!(
            "{}:{} -> {}",
            graph.files[edge.from].path.display(),
            edge.line,
            graph.files[edge.to].path.display()
        );
    }
}
