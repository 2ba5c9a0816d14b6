//! The data rows of chord replies, written by the node and read back by the caller.
//!
//! Why one file for both directions: the handler that writes `* hop 42 127.0.0.1:7003`
//! and the client that reads it must agree on every token, so the writer and the
//! reader of each row sit side by side here.
//!
//! Every row starts with a lowercase tag that says what it is (`node`, `hop`,
//! `holder`, `finger`, ...), so a reply reads well in a terminal and a reader can
//! pick the rows it wants. Readers skip tags they do not know, so a newer node can
//! add rows without breaking older clients.

use super::id::{Id, Ring};
use super::lookup::Lookup;
use super::node::{Role, StoredKey};
use super::routing::{NodeRef, Routing, Step};
use super::version::Version;

/// A row.
pub type Row = Vec<String>;

/// `<tag> <id> <addr>`.
pub fn node_row(tag: &str, node: &NodeRef) -> Row {
    let [id, addr] = node.to_tokens();
    vec![tag.to_string(), id, addr]
}

/// Reads the `<id> <addr>` after a tag.
pub fn parse_node(ring: Ring, row: &[String]) -> Result<NodeRef, String> {
    match row {
        [_, id, addr] => NodeRef::from_tokens(ring, id, addr),
        _ => Err(format!("expected \"<tag> <id> <addr>\", got {row:?}")),
    }
}

/// Every row with this tag.
pub fn tagged<'a>(rows: &'a [Row], tag: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
    rows.iter()
        .filter(move |row| row.first().is_some_and(|t| t == tag))
}

/// The one row with this tag, which must be there.
pub fn one<'a>(rows: &'a [Row], tag: &'a str) -> Result<&'a Row, String> {
    let mut found = tagged(rows, tag);
    match (found.next(), found.next()) {
        (Some(row), None) => Ok(row),
        (None, _) => Err(format!("no \"{tag}\" row in the reply")),
        (Some(_), Some(_)) => Err(format!("more than one \"{tag}\" row in the reply")),
    }
}

/// Every node row with this tag.
pub fn nodes(ring: Ring, rows: &[Row], tag: &str) -> Result<Vec<NodeRef>, String> {
    tagged(rows, tag).map(|row| parse_node(ring, row)).collect()
}

// ----- NEXT_HOP -----

/// `found <id> <addr>`, or one `next <id> <addr>` per candidate.
pub fn step_rows(step: &Step) -> Vec<Row> {
    match step {
        Step::Found(holder) => vec![node_row("found", holder)],
        Step::Next(candidates) => candidates.iter().map(|n| node_row("next", n)).collect(),
    }
}

pub fn parse_step(ring: Ring, rows: &[Row]) -> Result<Step, String> {
    if tagged(rows, "found").next().is_some() {
        return Ok(Step::Found(parse_node(ring, one(rows, "found")?)?));
    }
    Ok(Step::Next(nodes(ring, rows, "next")?))
}

// ----- Lookups (LOOKUP, PUT, GET, FIND_SUCCESSOR) -----

/// `target <id>`, `origin`, one `hop` per node asked, one `dead` per node that did
/// not answer, and `holder`.
pub fn lookup_rows(lookup: &Lookup) -> Vec<Row> {
    let mut rows = vec![vec!["target".to_string(), lookup.target.to_string()]];
    rows.push(node_row("origin", &lookup.origin));
    rows.extend(lookup.path.iter().map(|n| node_row("hop", n)));
    rows.extend(lookup.dead.iter().map(|n| node_row("dead", n)));
    rows.push(node_row("holder", &lookup.holder));
    rows
}

pub fn parse_lookup(ring: Ring, rows: &[Row]) -> Result<Lookup, String> {
    let target = match one(rows, "target")?.as_slice() {
        [_, id] => ring.parse_id(id)?,
        row => return Err(format!("expected \"target <id>\", got {row:?}")),
    };
    Ok(Lookup {
        target,
        origin: parse_node(ring, one(rows, "origin")?)?,
        holder: parse_node(ring, one(rows, "holder")?)?,
        path: nodes(ring, rows, "hop")?,
        dead: nodes(ring, rows, "dead")?,
    })
}

/// `key <key> <id>`: which key a LOOKUP, PUT or GET was about, and its id.
pub fn key_row(key: &str, id: Id) -> Row {
    vec!["key".to_string(), key.to_string(), id.to_string()]
}

// ----- FINGERS -----

/// `node`, `predecessor` (if any), one `successor` per entry, and one
/// `finger <i> <start> [<id> <addr>]` per finger (no node when it is not known yet).
pub fn routing_rows(routing: &Routing) -> Vec<Row> {
    let mut rows = vec![node_row("node", &routing.me)];
    rows.extend(
        routing
            .predecessor
            .iter()
            .map(|p| node_row("predecessor", p)),
    );
    rows.extend(routing.successors.iter().map(|s| node_row("successor", s)));
    for (i, (start, finger)) in routing.fingers.iter().enumerate() {
        let mut row = vec!["finger".to_string(), i.to_string(), start.to_string()];
        if let Some(node) = finger {
            row.extend(node.to_tokens());
        }
        rows.push(row);
    }
    rows
}

pub fn parse_routing(ring: Ring, rows: &[Row]) -> Result<Routing, String> {
    let me = parse_node(ring, one(rows, "node")?)?;
    let mut fingers = Vec::new();
    for (i, row) in tagged(rows, "finger").enumerate() {
        let (index, start, node) = match row.as_slice() {
            [_, index, start] => (index, start, None),
            [_, index, start, id, addr] => (index, start, Some((id, addr))),
            _ => return Err(format!("bad finger row {row:?}")),
        };
        if index.parse::<usize>().ok() != Some(i) {
            return Err(format!("finger rows out of order at {row:?}"));
        }
        let node = match node {
            Some((id, addr)) => Some(NodeRef::from_tokens(ring, id, addr)?),
            None => None,
        };
        fingers.push((ring.parse_id(start)?, node));
    }
    Ok(Routing {
        me,
        predecessor: nodes(ring, rows, "predecessor")?.first().copied(),
        successors: nodes(ring, rows, "successor")?,
        fingers,
    })
}

// ----- KEYS, FETCH, SYNC -----

/// `primary <key> <id> <version> <value>`, or `replica ...`: one key kept on a node.
pub fn stored_key_row(stored: &StoredKey) -> Row {
    vec![
        stored.role.tag().to_string(),
        stored.key.clone(),
        stored.id.to_string(),
        stored.version.to_string(),
        stored.value.clone(),
    ]
}

pub fn parse_stored_keys(ring: Ring, rows: &[Row]) -> Result<Vec<StoredKey>, String> {
    let mut keys = Vec::new();
    for (role, tag) in [(Role::Primary, "primary"), (Role::Replica, "replica")] {
        for row in tagged(rows, tag) {
            match row.as_slice() {
                [_, key, id, version, value] => keys.push(StoredKey {
                    id: ring.parse_id(id)?,
                    key: key.clone(),
                    value: value.clone(),
                    version: Version::parse(version)?,
                    role,
                }),
                _ => {
                    return Err(format!(
                        "expected \"{tag} <key> <id> <version> <value>\", got {row:?}"
                    ));
                }
            }
        }
    }
    keys.sort_by(|a, b| (a.id, &a.key).cmp(&(b.id, &b.key)));
    Ok(keys)
}

/// `version <stamp>/<writer>`.
pub fn version_row(version: Version) -> Row {
    vec!["version".to_string(), version.to_string()]
}

/// The one `version` row of a reply.
pub fn parse_version(rows: &[Row]) -> Result<Version, String> {
    match one(rows, "version")?.as_slice() {
        [_, version] => Version::parse(version),
        row => Err(format!(
            "expected \"version <stamp>/<writer>\", got {row:?}"
        )),
    }
}

/// `have <key> <version>`: a key a replica holds, in a SYNC reply.
pub fn have_row(key: &str, version: Version) -> Row {
    vec!["have".to_string(), key.to_string(), version.to_string()]
}

pub fn parse_haves(rows: &[Row]) -> Result<Vec<(String, Version)>, String> {
    tagged(rows, "have")
        .map(|row| match row.as_slice() {
            [_, key, version] => Ok((key.clone(), Version::parse(version)?)),
            _ => Err(format!("expected \"have <key> <version>\", got {row:?}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chord::testing::{n, ring};

    #[test]
    fn lookups_round_trip() {
        let lookup = Lookup {
            target: ring().id(54).unwrap(),
            origin: n(8),
            holder: n(56),
            path: vec![n(42), n(51)],
            dead: vec![n(48)],
        };
        assert_eq!(parse_lookup(ring(), &lookup_rows(&lookup)), Ok(lookup));
    }

    #[test]
    fn steps_round_trip() {
        for step in [
            Step::Found(n(14)),
            Step::Next(vec![n(42), n(32)]),
            Step::Next(vec![]),
        ] {
            assert_eq!(parse_step(ring(), &step_rows(&step)), Ok(step));
        }
    }

    #[test]
    fn routing_round_trips() {
        let routing = Routing {
            me: n(8),
            predecessor: Some(n(1)),
            successors: vec![n(14), n(21)],
            fingers: vec![
                (ring().id(9).unwrap(), Some(n(14))),
                (ring().id(10).unwrap(), None),
            ],
        };
        assert_eq!(parse_routing(ring(), &routing_rows(&routing)), Ok(routing));
    }

    #[test]
    fn stored_keys_round_trip_with_their_role() {
        let stored = |key: &str, id: u64, role| StoredKey {
            id: ring().id(id).unwrap(),
            key: key.to_string(),
            value: format!("{key} = \"x\""),
            version: Version {
                stamp: 17,
                writer: 56,
            },
            role,
        };
        let keys = vec![
            stored("Caju", 3, Role::Replica),
            stored("Maçã", 53, Role::Primary),
        ];
        let rows: Vec<Row> = keys.iter().map(stored_key_row).collect();
        assert_eq!(rows[1][0], "primary");
        let version = keys[0].version;
        assert_eq!(parse_stored_keys(ring(), &rows), Ok(keys));
        let haves = vec![("k".to_string(), version)];
        let rows: Vec<Row> = haves.iter().map(|(k, v)| have_row(k, *v)).collect();
        assert_eq!(parse_haves(&rows), Ok(haves));
    }

    #[test]
    fn readers_refuse_malformed_rows_and_skip_unknown_tags() {
        let rows = |lines: &[&[&str]]| -> Vec<Row> {
            lines
                .iter()
                .map(|l| l.iter().map(|t| t.to_string()).collect())
                .collect()
        };
        assert!(parse_step(ring(), &rows(&[&["found", "99", "127.0.0.1:1"]])).is_err());
        assert!(parse_step(ring(), &rows(&[&["found", "9", "nowhere"]])).is_err());
        assert!(parse_lookup(ring(), &rows(&[&["holder", "9", "127.0.0.1:1"]])).is_err());
        assert_eq!(
            parse_step(
                ring(),
                &rows(&[&["news", "x"], &["next", "9", "127.0.0.1:1"]])
            ),
            Ok(Step::Next(vec![NodeRef {
                id: ring().id(9).unwrap(),
                addr: "127.0.0.1:1".parse().unwrap()
            }]))
        );
    }
}
