//! The files of `src/` and which of them import which (see tests/layers.rs).
//!
//! - [`parse`]: what one file declares and imports, read from its tokens;
//! - [`tokens`]: the code split into identifiers, `::` and punctuation, with comments
//!   and strings blanked out;
//! - [`cycles`]: groups of files (or modules) that import each other, each told as one
//!   circle.

pub mod cycles;
mod parse;
mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use parse::parse;

/// One file of the crate.
pub struct File {
    /// The path, relative to `src/`.
    pub path: PathBuf,
    /// Its module path: `["storage", "journal"]`; `[]` for `lib.rs`.
    pub module: Vec<String>,
    /// What it imports, as written.
    uses: Vec<Use>,
    /// Paths written in its code (`crate::x::y`, `orders::place`), with their line.
    paths: Vec<(Vec<String>, Scope, usize)>,
    /// The child modules it declares (`mod journal;`).
    children: BTreeSet<String>,
    /// The child modules it declares for tests only (`#[cfg(test)] mod tests;`).
    test_children: BTreeSet<String>,
}

/// The module a path is written in: the file's own, or an inline module inside it.
pub type Scope = Vec<String>;

/// One leaf of a `use` tree: `use crate::a::{b, c as d};` has two.
pub struct Use {
    path: Vec<String>,
    /// The name it brings into scope (`d` above); `None` for a glob (`*`).
    name: Option<String>,
    public: bool,
    scope: Scope,
    line: usize,
}

/// One import of a file by another.
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub line: usize,
}

/// The files of a crate's `src/` and the imports between them.
pub struct Graph {
    pub files: Vec<File>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The graph of this crate.
    pub fn of_crate() -> Graph {
        Graph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
    }

    /// Reads every `.rs` file under `src` (but `bin/`) and resolves its imports.
    pub fn read(src: &Path) -> Graph {
        let mut paths = Vec::new();
        collect_rs(src, src, &mut paths);
        let mut files: Vec<File> = paths
            .into_iter()
            .map(|path| {
                let text = fs::read_to_string(src.join(&path)).unwrap();
                parse(path, &text)
            })
            .collect();
        // Files of test-only modules (`#[cfg(test)] mod testing;`) and their children.
        let tests: Vec<Vec<String>> = files
            .iter()
            .flat_map(|f| {
                f.test_children.iter().map(|child| {
                    let mut module = f.module.clone();
                    module.push(child.clone());
                    module
                })
            })
            .collect();
        files.retain(|f| !tests.iter().any(|t| f.module.starts_with(t)));
        let mut graph = Graph {
            files,
            edges: Vec::new(),
        };
        graph.edges = graph.resolve_edges();
        graph
    }

    fn module_file(&self, module: &[String]) -> Option<usize> {
        self.files.iter().position(|f| f.module == module)
    }

    /// Turns a path's first segment into an absolute module path, as seen from `file`
    /// and `scope`: `crate`, `super`, `self`, a child module, or a name a `use` brought
    /// in. `None` for another crate (`std::`, `log::`) or a local name.
    fn absolute(
        &self,
        file: usize,
        scope: &[String],
        path: &[String],
        depth: u32,
    ) -> Option<Vec<String>> {
        let first = path.first()?;
        let rest = &path[1..];
        let file_ref = &self.files[file];
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => scope.to_vec(),
            "super" => {
                let mut base = scope.to_vec();
                base.pop()?;
                let mut rest = rest;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
            name if scope == file_ref.module && file_ref.children.contains(name) => {
                let mut base = scope.to_vec();
                base.push(name.to_string());
                base
            }
            name => {
                if depth > 8 {
                    return None;
                }
                let used = file_ref
                    .uses
                    .iter()
                    .find(|u| u.name.as_deref() == Some(name))?;
                self.absolute(file, &used.scope, &used.path, depth + 1)?
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what an absolute path names, following `use` lines (a
    /// `pub use` forwards, and a child may reach a name its parent imported), and
    /// whether the path names a module rather than an item in it.
    fn locate(&self, path: &[String], depth: u32) -> Option<(usize, bool)> {
        let (file, len) = (0..=path.len())
            .rev()
            .find_map(|len| self.module_file(&path[..len]).map(|f| (f, len)))?;
        let rest = &path[len..];
        let Some(name) = rest.first() else {
            return Some((file, true));
        };
        let forwarded = self.files[file]
            .uses
            .iter()
            .find(|u| u.name.as_deref() == Some(name.as_str()));
        match forwarded {
            Some(used) if depth < 8 => {
                let mut target = self.absolute(file, &used.scope, &used.path, 0)?;
                target.extend(rest[1..].iter().cloned());
                self.locate(&target, depth + 1)
            }
            _ => Some((file, false)),
        }
    }

    fn resolve_edges(&self) -> Vec<Edge> {
        let mut edges: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        let mut add = |from: usize, to: usize, line: usize| {
            if from != to {
                let first = edges.entry((from, to)).or_insert(line);
                *first = (*first).min(line);
            }
        };
        for (index, file) in self.files.iter().enumerate() {
            for used in &file.uses {
                if used.public {
                    continue; // forwarding only
                }
                let Some(path) = self.absolute(index, &used.scope, &used.path, 0) else {
                    continue;
                };
                match (&used.name, self.locate(&path, 0)) {
                    // A glob imports every item of the module it names.
                    (None, Some((to, _))) => add(index, to, used.line),
                    (Some(_), Some((to, false))) => add(index, to, used.line),
                    _ => {}
                }
            }
            for (path, scope, line) in &file.paths {
                let Some(path) = self.absolute(index, scope, path, 0) else {
                    continue;
                };
                if let Some((to, false)) = self.locate(&path, 0) {
                    add(index, to, *line);
                }
            }
        }
        edges
            .into_iter()
            .map(|((from, to), line)| Edge { from, to, line })
            .collect()
    }
}

fn collect_rs(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let relative = path.strip_prefix(src).unwrap().to_path_buf();
        if path.is_dir() {
            if relative != Path::new("bin") {
                collect_rs(src, &path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(relative);
        }
    }
}
