//! Groups of files, or of top-level modules, that import each other, each told as one
//! circle with the line of each import.

use std::collections::{BTreeMap, BTreeSet};

use super::Graph;

/// Files that import each other.
pub struct Cycle {
    /// Their indices in [`Graph::files`].
    pub files: Vec<usize>,
    /// One circle through them, with the line of each import, and all of them.
    pub report: String,
}

impl Graph {
    /// Every group of files that import each other, each told as one circle with the
    /// line of each import.
    pub fn file_cycles(&self) -> Vec<Cycle> {
        let pairs: Vec<(usize, usize)> = self.edges.iter().map(|e| (e.from, e.to)).collect();
        strongly_connected(self.files.len(), &pairs)
            .into_iter()
            .map(|group| {
                let circle = circle_in(&group, &pairs);
                let steps: Vec<String> = circle
                    .windows(2)
                    .map(|pair| {
                        let edge = self
                            .edges
                            .iter()
                            .find(|e| e.from == pair[0] && e.to == pair[1])
                            .unwrap();
                        format!(
                            "{}:{} -> {}",
                            self.files[edge.from].path.display(),
                            edge.line,
                            self.files[edge.to].path.display()
                        )
                    })
                    .collect();
                let all: Vec<String> = group
                    .iter()
                    .map(|&f| self.files[f].path.display().to_string())
                    .collect();
                let report = format!("  {}\n    (all of: {})", steps.join(", "), all.join(", "));
                Cycle {
                    files: group,
                    report,
                }
            })
            .collect()
    }

    /// The same for top-level modules (`wallet`, `shop`, ...).
    pub fn module_cycles(&self) -> Vec<String> {
        let tops: Vec<String> = self
            .files
            .iter()
            .map(|f| f.module.first().cloned().unwrap_or_default())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let top_of = |file: usize| {
            let name = self.files[file].module.first().cloned().unwrap_or_default();
            tops.iter().position(|t| *t == name).unwrap()
        };
        let mut pairs = BTreeSet::new();
        for edge in &self.edges {
            let (from, to) = (top_of(edge.from), top_of(edge.to));
            if from != to {
                pairs.insert((from, to));
            }
        }
        let pairs: Vec<_> = pairs.into_iter().collect();
        strongly_connected(tops.len(), &pairs)
            .into_iter()
            .map(|group| {
                let circle = circle_in(&group, &pairs);
                let names: Vec<&str> = circle.iter().map(|&m| tops[m].as_str()).collect();
                let witnesses: Vec<String> = circle
                    .windows(2)
                    .map(|pair| {
                        let edge = self
                            .edges
                            .iter()
                            .find(|e| top_of(e.from) == pair[0] && top_of(e.to) == pair[1])
                            .unwrap();
                        format!(
                            "{}:{} imports {}",
                            self.files[edge.from].path.display(),
                            edge.line,
                            self.files[edge.to].path.display()
                        )
                    })
                    .collect();
                format!("  {} ({})", names.join(" -> "), witnesses.join("; "))
            })
            .collect()
    }
}

/// The groups of more than one node that can all reach each other (Tarjan's algorithm).
fn strongly_connected(nodes: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    struct State {
        next: Vec<Vec<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        groups: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for w in s.next[v].clone() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(i) if s.on_stack[w] => s.low[v] = s.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut group = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.groups.push(group);
            }
        }
    }
    let mut next = vec![Vec::new(); nodes];
    for &(from, to) in edges {
        next[from].push(to);
    }
    let mut state = State {
        next,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        counter: 0,
        groups: Vec::new(),
    };
    for v in 0..nodes {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.groups
}

/// One circle through a group of mutually reachable nodes, from its first node back to
/// it (a breadth-first search for the shortest way back).
fn circle_in(group: &[usize], edges: &[(usize, usize)]) -> Vec<usize> {
    let start = group[0];
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for &v in &frontier {
            for &(from, to) in edges {
                if from != v || !group.contains(&to) {
                    continue;
                }
                if to == start {
                    let mut circle = vec![start, v];
                    let mut at = v;
                    while at != start {
                        at = came_from[&at];
                        circle.push(at);
                    }
                    circle.reverse();
                    return circle;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(to) {
                    e.insert(v);
                    next.push(to);
                }
            }
        }
        frontier = next;
    }
    unreachable!("a strongly connected group has a circle")
}
