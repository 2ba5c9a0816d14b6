//! What one file declares and imports, read from its tokens: its `use` lines, its child
//! modules (and which of them are for tests only), and the paths in its code.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::tokens::{Kind, Token, blank_comments_and_strings, tokens};
use super::{File, Scope, Use};

/// Reads one file: its module path, its `use` lines, its child modules, and the paths
/// in its code.
pub fn parse(path: PathBuf, text: &str) -> File {
    let mut module: Vec<String> = path
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
        module.pop();
    }
    let tokens = tokens(&blank_comments_and_strings(text));
    let mut file = File {
        path,
        module: module.clone(),
        uses: Vec::new(),
        paths: Vec::new(),
        children: BTreeSet::new(),
        test_children: BTreeSet::new(),
    };
    // The inline modules we are in (`mod tests {`), with the depth of their brace.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let scope = |inline: &[(String, usize)]| -> Scope {
            let mut scope = module.clone();
            scope.extend(inline.iter().map(|(name, _)| name.clone()));
            scope
        };
        match &tokens[i].kind {
            Kind::Punct('{') => depth += 1,
            Kind::Punct('}') => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Kind::Punct('#') if is_cfg_test(&tokens[i..]) => {
                // `#[cfg(test)] mod tests;` or `#[cfg(test)] mod tests { ... }`: test
                // code, which may build its fixtures from any layer. Skipped.
                let mut j = i + 7;
                while matches!(tokens.get(j).map(|t| &t.kind), Some(Kind::Ident(w)) if w == "pub" || w == "crate" || w == "super")
                    || matches!(tokens.get(j).map(|t| &t.kind), Some(Kind::Punct('(' | ')')))
                {
                    j += 1;
                }
                if tokens.get(j).map(|t| &t.kind) == Some(&Kind::Ident("mod".into()))
                    && let Some(Kind::Ident(name)) = tokens.get(j + 1).map(|t| &t.kind)
                {
                    match tokens.get(j + 2).map(|t| &t.kind) {
                        Some(Kind::Punct(';')) => {
                            file.test_children.insert(name.clone());
                            i = j + 3;
                            continue;
                        }
                        Some(Kind::Punct('{')) => {
                            i = after_block(&tokens, j + 2);
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            Kind::Ident(word) if word == "mod" => {
                if let Some(Kind::Ident(name)) = tokens.get(i + 1).map(|t| &t.kind) {
                    match tokens.get(i + 2).map(|t| &t.kind) {
                        Some(Kind::Punct(';')) if inline.is_empty() => {
                            file.children.insert(name.clone());
                        }
                        Some(Kind::Punct('{')) => {
                            inline.push((name.clone(), depth));
                            depth += 1;
                            i += 3;
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            Kind::Ident(word) if word == "use" => {
                let public = is_public(&tokens, i);
                let line = tokens[i].line;
                let scope = scope(&inline);
                i += 1;
                let mut leaves = Vec::new();
                use_tree(&tokens, &mut i, &[], &mut leaves);
                for (path, name) in leaves {
                    file.uses.push(Use {
                        path,
                        name,
                        public,
                        scope: scope.clone(),
                        line,
                    });
                }
                continue;
            }
            Kind::Ident(first)
                if !matches!(i.checked_sub(1).map(|p| &tokens[p].kind), Some(Kind::Sep)) =>
            {
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while let (Some(Kind::Sep), Some(Kind::Ident(next))) = (
                    tokens.get(j).map(|t| &t.kind),
                    tokens.get(j + 1).map(|t| &t.kind),
                ) {
                    path.push(next.clone());
                    j += 2;
                }
                if path.len() > 1 {
                    file.paths.push((path, scope(&inline), tokens[i].line));
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    file
}

/// Whether the tokens start with `#[cfg(test)]`.
fn is_cfg_test(tokens: &[Token]) -> bool {
    let kinds: Vec<&Kind> = tokens.iter().take(7).map(|t| &t.kind).collect();
    kinds
        == [
            &Kind::Punct('#'),
            &Kind::Punct('['),
            &Kind::Ident("cfg".into()),
            &Kind::Punct('('),
            &Kind::Ident("test".into()),
            &Kind::Punct(')'),
            &Kind::Punct(']'),
        ]
}

/// The index after the block that opens at `tokens[open]` (a `{`).
fn after_block(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Punct('{') => depth += 1,
            Kind::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Whether the `use` at `at` is `pub` or `pub(...)`.
fn is_public(tokens: &[Token], at: usize) -> bool {
    let mut i = at;
    if i > 0 && tokens[i - 1].kind == Kind::Punct(')') {
        while i > 0 && tokens[i - 1].kind != Kind::Punct('(') {
            i -= 1;
        }
        i = i.saturating_sub(1);
    }
    i > 0 && tokens[i - 1].kind == Kind::Ident("pub".into())
}

/// Reads one `use` tree from `tokens[*i]` to its end, pushing each leaf's path and name.
fn use_tree(
    tokens: &[Token],
    i: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix.to_vec();
    if tokens.get(*i).map(|t| &t.kind) == Some(&Kind::Sep) {
        *i += 1; // `use ::std::x`
    }
    loop {
        match tokens.get(*i).map(|t| &t.kind) {
            Some(Kind::Ident(segment)) => {
                path.push(segment.clone());
                *i += 1;
                if tokens.get(*i).map(|t| &t.kind) == Some(&Kind::Sep) {
                    *i += 1;
                    continue;
                }
                if path.last().map(String::as_str) == Some("self") {
                    path.pop(); // `use a::{self}` names `a`
                }
                let mut name = path.last().cloned();
                if let Some(Kind::Ident(word)) = tokens.get(*i).map(|t| &t.kind)
                    && word == "as"
                {
                    if let Some(Kind::Ident(alias)) = tokens.get(*i + 1).map(|t| &t.kind) {
                        name = Some(alias.clone());
                    }
                    *i += 2;
                }
                out.push((path, name));
                break;
            }
            Some(Kind::Punct('*')) => {
                *i += 1;
                out.push((path, None));
                break;
            }
            Some(Kind::Punct('{')) => {
                *i += 1;
                while !matches!(
                    tokens.get(*i).map(|t| &t.kind),
                    Some(Kind::Punct('}')) | None
                ) {
                    use_tree(tokens, i, &path, out);
                    if tokens.get(*i).map(|t| &t.kind) == Some(&Kind::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                break;
            }
            _ => break,
        }
    }
    if tokens.get(*i).map(|t| &t.kind) == Some(&Kind::Punct(';')) && prefix.is_empty() {
        *i += 1;
    }
}
