//! The blocks of a markdown document, and what the test does with each: the marker
//! (an HTML comment, which a reader of the rendered page never sees) on the line just
//! before a block's opening fence says it. tests/walkthrough.rs describes the markers.

/// What the test does with a block.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Protocol lines on the named connection: requests, each followed by its reply.
    Conversation(String),
    /// Shell commands, one a line, run in order.
    Run,
    /// What the commands of the `Run` block before it print.
    Output,
    /// The running server's log since it started.
    ServerLog,
    /// `$ command` lines, `user> typed` lines, and what each command prints.
    Transcript,
    /// Not run, for the reason given.
    Skip(String),
}

/// One fenced block, with its marker.
#[derive(Debug, Clone)]
pub struct Block {
    /// The line of its opening fence (from 1), for messages.
    pub line: usize,
    pub kind: Kind,
    /// Words that may print differently in every run (`any 168 9`).
    pub any: Vec<String>,
    /// How long to wait after the previous block before this one (`wait 11s`).
    pub wait_secs: u64,
    /// For an `output` block (`until`): the `run` block before it only reads, and is
    /// run again until it prints this, because another thread writes what it reads.
    pub until: bool,
    pub lines: Vec<String>,
}

/// The languages whose blocks must carry a marker: commands and what they print.
/// Diagrams (`mermaid`) and code (`rust`) are not run.
const CHECKED: [&str; 2] = ["sh", "text"];

/// Parses a marker's text (what follows `test:`).
fn parse_marker(text: &str) -> Result<(Kind, Vec<String>, u64, bool), String> {
    // A reason is prose, and may hold any punctuation: it is the rest of the marker.
    if let Some(why) = text.strip_prefix("skip:").map(str::trim)
        && !why.is_empty()
    {
        return Ok((Kind::Skip(why.to_string()), Vec::new(), 0, false));
    }
    let mut parts = text.split(';').map(str::trim);
    let head = parts.next().unwrap_or_default();
    let kind = match head.split_once(' ').unwrap_or((head, "")) {
        ("conversation", name) if !name.is_empty() => Kind::Conversation(name.to_string()),
        ("run", "") => Kind::Run,
        ("output", "") => Kind::Output,
        ("server", "log") => Kind::ServerLog,
        ("transcript", "") => Kind::Transcript,
        _ => return Err(format!("unknown marker `test: {text}`")),
    };
    let (mut any, mut wait_secs, mut until) = (Vec::new(), 0, false);
    for option in parts {
        if option == "until" && kind == Kind::Output {
            until = true;
            continue;
        }
        match option.split_once(' ') {
            Some(("any", words)) => any.extend(words.split_whitespace().map(str::to_string)),
            Some(("wait", secs)) => {
                wait_secs = secs
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|_| format!("`wait {secs}`: a number of seconds, like 11s"))?;
            }
            _ => return Err(format!("unknown option `{option}` in `test: {text}`")),
        }
    }
    Ok((kind, any, wait_secs, until))
}

/// The marker on this line, if it is one: `<!-- test: ... -->`.
fn marker(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("<!-- test:")?
        .strip_suffix("-->")
        .map(str::trim)
}

/// Every fenced block of the document in order, with its marker. A block in a checked
/// language without one is an error: every block is run, or says why not. A section
/// marked `<!-- test: skip this step: why -->` (the line after its `## ` heading) skips
/// its blocks up to the next `## ` heading.
pub fn blocks(text: &str) -> Result<Vec<Block>, Vec<String>> {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut pending: Option<(usize, &str)> = None;
    let mut skipping: Option<String> = None;
    let mut open: Option<(usize, String, Vec<String>)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some((start, language, mut lines)) = open.take() {
            if line.trim_start().starts_with("```") {
                if CHECKED.contains(&language.as_str()) {
                    let parsed = match (pending.take(), &skipping) {
                        (Some((_, marker)), _) => parse_marker(marker),
                        (None, Some(why)) => Ok((Kind::Skip(why.clone()), Vec::new(), 0, false)),
                        (None, None) => Err(format!(
                            "no `<!-- test: ... -->` marker before this {language} block"
                        )),
                    };
                    match parsed {
                        Ok((kind, any, wait_secs, until)) => blocks.push(Block {
                            line: start,
                            kind,
                            any,
                            wait_secs,
                            until,
                            lines,
                        }),
                        Err(problem) => problems.push(format!("line {start}: {problem}")),
                    }
                } else if let Some((at, _)) = pending.take() {
                    problems.push(format!("line {at}: a marker before a {language} block"));
                }
            } else {
                lines.push(line.to_string());
                open = Some((start, language, lines));
            }
            continue;
        }
        if line.starts_with("## ") {
            skipping = None;
        }
        if let Some(text) = marker(line) {
            if let Some(why) = text.strip_prefix("skip this step:") {
                skipping = Some(why.trim().to_string());
            } else {
                pending = Some((number, text));
            }
        } else if let Some(language) = line.trim_start().strip_prefix("```") {
            open = Some((number, language.trim().to_string(), Vec::new()));
        } else if !line.trim().is_empty()
            && let Some((at, _)) = pending.take()
        {
            problems.push(format!("line {at}: a marker not followed by a block"));
        }
    }
    if problems.is_empty() {
        Ok(blocks)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_say_what_each_block_is() {
        let text = "# T\n\n<!-- test: run -->\n```sh\nls\n```\n\n<!-- test: conversation bob; any 9 8; wait 11s -->\n```text\nPING\nOK PONG\n```\n\n```mermaid\nflowchart\n```\n\n## Later\n<!-- test: skip this step: a ring -->\n\n```sh\nmake run-ring\n```\n";
        let blocks = blocks(text).unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0].kind, Kind::Run);
        assert_eq!(blocks[0].lines, ["ls"]);
        assert_eq!(blocks[1].kind, Kind::Conversation("bob".into()));
        assert_eq!(blocks[1].any, ["9", "8"]);
        assert_eq!(blocks[1].wait_secs, 11);
        assert_eq!(blocks[2].kind, Kind::Skip("a ring".into()));
    }

    #[test]
    fn a_block_without_a_marker_is_an_error() {
        let problems =
            blocks("text\n\n```sh\nls\n```\n\n<!-- test: jump -->\n```text\nx\n```\n").unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 3: no `<!-- test"));
        assert!(problems[1].contains("unknown marker `test: jump`"));
    }

    #[test]
    fn until_is_an_option_of_output_blocks_only() {
        let text = "<!-- test: run -->\n```sh\ncat f\n```\n\n<!-- test: output; until -->\n```text\nx\n```\n";
        let blocks = blocks(text).unwrap();
        assert!(!blocks[0].until);
        assert!(blocks[1].until);
        let problems = super::blocks("<!-- test: run; until -->\n```sh\nls\n```\n").unwrap_err();
        assert!(
            problems[0].contains("unknown option `until`"),
            "{problems:?}"
        );
    }
}
