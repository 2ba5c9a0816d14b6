//! The table of verbs a node knows: each one's arguments, audience and summary, in the
//! order HELP lists them.
//!
//! Why a file of its own: the table is what HELP prints and what the parser looks
//! verbs up in, and it reads best as one list, apart from the parsing code.

use std::fmt;

/// Who sends a verb: a person (or the CLI), or another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    User,
    Node,
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Audience::User => "user",
            Audience::Node => "node",
        })
    }
}

/// One verb's entry in the help table.
#[derive(Debug)]
pub struct VerbSpec {
    pub name: &'static str,
    pub args: &'static str,
    pub audience: Audience,
    pub summary: &'static str,
}

const fn verb(
    name: &'static str,
    args: &'static str,
    audience: Audience,
    summary: &'static str,
) -> VerbSpec {
    VerbSpec {
        name,
        args,
        audience,
        summary,
    }
}

/// Every verb a node knows, in the order HELP lists them.
pub const VERBS: &[VerbSpec] = &[
    // For people.
    verb(
        "HELP",
        "[verb]",
        Audience::User,
        "lists the verbs, or explains one",
    ),
    verb("QUIT", "", Audience::User, "closes the connection"),
    verb(
        "LOOKUP",
        "<key>",
        Audience::User,
        "which node holds a key, and the path the lookup took",
    ),
    verb(
        "PUT",
        "<key> <value>",
        Audience::User,
        "stores a value on the key's successor and its replicas",
    ),
    verb(
        "GET",
        "<key>",
        Audience::User,
        "reads a value from the key's successor, else from a replica",
    ),
    verb(
        "RING",
        "",
        Audience::User,
        "the ring as this node sees it, following successors",
    ),
    verb(
        "FINGERS",
        "",
        Audience::User,
        "this node's predecessor, successor list and finger table",
    ),
    verb(
        "KEYS",
        "",
        Audience::User,
        "the keys stored on this node, as primary or as replica",
    ),
    verb(
        "LEAVE",
        "",
        Audience::User,
        "leaves the ring gracefully, handing the keys to the successor",
    ),
    // For other nodes.
    verb(
        "PING",
        "",
        Audience::Node,
        "answers the node's id, address and ring size",
    ),
    verb(
        "FIND_SUCCESSOR",
        "<id>",
        Audience::Node,
        "runs a lookup from this node: the successor of id",
    ),
    verb(
        "NEXT_HOP",
        "<id>",
        Audience::Node,
        "one lookup step: the successor if it holds id, else closer nodes",
    ),
    verb(
        "GET_PREDECESSOR",
        "",
        Audience::Node,
        "this node's predecessor",
    ),
    verb(
        "GET_SUCCESSORS",
        "",
        Audience::Node,
        "this node's successor list",
    ),
    verb(
        "NOTIFY",
        "<id> <addr>",
        Audience::Node,
        "\"I think I am your predecessor\"",
    ),
    verb(
        "STORE",
        "<key> <value>",
        Audience::Node,
        "a PUT at the key's primary: versions it, copies it to the replicas",
    ),
    verb(
        "FETCH",
        "<key>",
        Audience::Node,
        "reads a key kept here, and its version, no routing",
    ),
    verb(
        "REPLICATE",
        "<lo> <hi> <key> <version> <value>",
        Audience::Node,
        "from the primary of (lo, hi]: keep this copy unless yours is newer",
    ),
    verb(
        "SYNC",
        "<lo> <hi> <digest>",
        Audience::Node,
        "from the primary of (lo, hi]: do your copies match this digest?",
    ),
    verb(
        "HANDOFF",
        "<key> <version> <value>",
        Audience::Node,
        "a key you are the primary of, from a node that held it",
    ),
    verb(
        "JOIN",
        "<id> <addr>",
        Audience::Node,
        "\"I am about to become your predecessor\": reserves the id",
    ),
    verb(
        "PREDECESSOR_LEAVES",
        "<leaving-id> [<id> <addr>]",
        Audience::Node,
        "your predecessor leaves; here is its predecessor",
    ),
    verb(
        "SUCCESSOR_LEAVES",
        "<leaving-id> <id> <addr> [<id> <addr>]...",
        Audience::Node,
        "your successor leaves; here is its successor list",
    ),
];

/// Finds a verb's entry, case-insensitively.
pub fn verb_spec(name: &str) -> Option<&'static VerbSpec> {
    VERBS.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}
