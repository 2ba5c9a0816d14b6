//! The verbs a chord node understands, parsed once into a typed [`Message`].
//!
//! Why a separate enum from the main server's `Request`: a chord node is a different
//! server with different verbs, but it speaks the same line protocol (tokens, quoting,
//! `* ` data lines, `OK`/`ERR`), so it reuses `protocol::token` and `protocol::Reply`
//! and only adds its own verbs. The same type encodes messages in [`super::rpc`], so
//! the node that asks and the node that answers cannot drift apart.
//!
//! Adding a verb: a row in [`VERBS`] (`message/verbs.rs`), a variant, an arm in `parse` and `to_tokens`,
//! a handler in `handler.rs`, a call in `rpc.rs`, and a row in docs/CHORD.md.

use super::id::{Id, Ring};
use super::routing::NodeRef;
use super::version::Version;
use crate::protocol::Refusal;
use crate::protocol::args::{self, Args, bad};
use crate::protocol::token;

/// The longest successor list a message may carry (and the largest r a node accepts).
pub const MAX_SUCCESSORS: usize = 32;

mod verbs;

pub use verbs::{Audience, VERBS, VerbSpec, verb_spec};

/// A parsed message: one variant per verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Help {
        verb: Option<String>,
    },
    Quit,
    Lookup {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Get {
        key: String,
    },
    Ring,
    Fingers,
    Keys,
    Leave,
    Ping,
    FindSuccessor {
        id: Id,
    },
    NextHop {
        id: Id,
    },
    GetPredecessor,
    GetSuccessors,
    Notify {
        node: NodeRef,
    },
    Store {
        key: String,
        value: String,
    },
    Fetch {
        key: String,
    },
    Replicate {
        lo: Id,
        hi: Id,
        key: String,
        version: Version,
        value: String,
    },
    Sync {
        lo: Id,
        hi: Id,
        digest: u64,
    },
    Handoff {
        key: String,
        version: Version,
        value: String,
    },
    Join {
        node: NodeRef,
    },
    PredecessorLeaves {
        leaving: Id,
        predecessor: Option<NodeRef>,
    },
    SuccessorLeaves {
        leaving: Id,
        successors: Vec<NodeRef>,
    },
}

impl Message {
    /// Parses one line (without its line ending). Identifiers are checked against
    /// `ring`: an id of 2^m or more is a malformed request, not a point on the ring.
    pub fn parse(line: &str, ring: Ring) -> Result<Message, Refusal> {
        let (spec, args) = args::split_verb(line, verb_spec, |v: &VerbSpec| (v.name, v.args))?;
        let mut args = ChordArgs { args, ring };
        let message = match spec.name {
            "HELP" => Message::Help {
                verb: args.optional(),
            },
            "QUIT" => Message::Quit,
            "LOOKUP" => Message::Lookup {
                key: args.text("key")?,
            },
            "PUT" => Message::Put {
                key: args.text("key")?,
                value: args.text("value")?,
            },
            "GET" => Message::Get {
                key: args.text("key")?,
            },
            "RING" => Message::Ring,
            "FINGERS" => Message::Fingers,
            "KEYS" => Message::Keys,
            "LEAVE" => Message::Leave,
            "PING" => Message::Ping,
            "FIND_SUCCESSOR" => Message::FindSuccessor { id: args.id("id")? },
            "NEXT_HOP" => Message::NextHop { id: args.id("id")? },
            "GET_PREDECESSOR" => Message::GetPredecessor,
            "GET_SUCCESSORS" => Message::GetSuccessors,
            "NOTIFY" => Message::Notify { node: args.node()? },
            "STORE" => Message::Store {
                key: args.text("key")?,
                value: args.text("value")?,
            },
            "FETCH" => Message::Fetch {
                key: args.text("key")?,
            },
            "REPLICATE" => Message::Replicate {
                lo: args.id("lo")?,
                hi: args.id("hi")?,
                key: args.text("key")?,
                version: args.version()?,
                value: args.text("value")?,
            },
            "SYNC" => Message::Sync {
                lo: args.id("lo")?,
                hi: args.id("hi")?,
                digest: args.digest()?,
            },
            "HANDOFF" => Message::Handoff {
                key: args.text("key")?,
                version: args.version()?,
                value: args.text("value")?,
            },
            "JOIN" => Message::Join { node: args.node()? },
            "PREDECESSOR_LEAVES" => Message::PredecessorLeaves {
                leaving: args.id("leaving-id")?,
                predecessor: if args.remaining() > 0 {
                    Some(args.node()?)
                } else {
                    None
                },
            },
            "SUCCESSOR_LEAVES" => {
                let leaving = args.id("leaving-id")?;
                let mut successors = vec![args.node()?];
                while args.remaining() > 0 {
                    if successors.len() == MAX_SUCCESSORS {
                        return Err(bad(format!(
                            "at most {MAX_SUCCESSORS} successors in one message"
                        )));
                    }
                    successors.push(args.node()?);
                }
                Message::SuccessorLeaves {
                    leaving,
                    successors,
                }
            }
            other => unreachable!("verb {other} is in VERBS but has no parser"),
        };
        args.finish()?;
        Ok(message)
    }

    /// The verb's name as it appears in [`VERBS`].
    pub fn verb(&self) -> &'static str {
        match self {
            Message::Help { .. } => "HELP",
            Message::Quit => "QUIT",
            Message::Lookup { .. } => "LOOKUP",
            Message::Put { .. } => "PUT",
            Message::Get { .. } => "GET",
            Message::Ring => "RING",
            Message::Fingers => "FINGERS",
            Message::Keys => "KEYS",
            Message::Leave => "LEAVE",
            Message::Ping => "PING",
            Message::FindSuccessor { .. } => "FIND_SUCCESSOR",
            Message::NextHop { .. } => "NEXT_HOP",
            Message::GetPredecessor => "GET_PREDECESSOR",
            Message::GetSuccessors => "GET_SUCCESSORS",
            Message::Notify { .. } => "NOTIFY",
            Message::Store { .. } => "STORE",
            Message::Fetch { .. } => "FETCH",
            Message::Replicate { .. } => "REPLICATE",
            Message::Sync { .. } => "SYNC",
            Message::Handoff { .. } => "HANDOFF",
            Message::Join { .. } => "JOIN",
            Message::PredecessorLeaves { .. } => "PREDECESSOR_LEAVES",
            Message::SuccessorLeaves { .. } => "SUCCESSOR_LEAVES",
        }
    }

    /// Who sends this verb: a person, or another node.
    pub fn audience(&self) -> Audience {
        verb_spec(self.verb()).map_or(Audience::User, |spec| spec.audience)
    }

    /// The message as tokens, the verb first.
    pub fn to_tokens(&self) -> Vec<String> {
        let mut tokens = vec![self.verb().to_string()];
        match self {
            Message::Quit
            | Message::Ring
            | Message::Fingers
            | Message::Keys
            | Message::Leave
            | Message::Ping
            | Message::GetPredecessor
            | Message::GetSuccessors => {}
            Message::Help { verb } => tokens.extend(verb.iter().cloned()),
            Message::Lookup { key } | Message::Get { key } | Message::Fetch { key } => {
                tokens.push(key.clone())
            }
            Message::Put { key, value } | Message::Store { key, value } => {
                tokens.push(key.clone());
                tokens.push(value.clone());
            }
            Message::FindSuccessor { id } | Message::NextHop { id } => tokens.push(id.to_string()),
            Message::Notify { node } | Message::Join { node } => tokens.extend(node.to_tokens()),
            Message::Replicate {
                lo,
                hi,
                key,
                version,
                value,
            } => tokens.extend([
                lo.to_string(),
                hi.to_string(),
                key.clone(),
                version.to_string(),
                value.clone(),
            ]),
            Message::Sync { lo, hi, digest } => {
                tokens.extend([lo.to_string(), hi.to_string(), digest.to_string()])
            }
            Message::Handoff {
                key,
                version,
                value,
            } => tokens.extend([key.clone(), version.to_string(), value.clone()]),
            Message::PredecessorLeaves {
                leaving,
                predecessor,
            } => {
                tokens.push(leaving.to_string());
                tokens.extend(predecessor.iter().flat_map(NodeRef::to_tokens));
            }
            Message::SuccessorLeaves {
                leaving,
                successors,
            } => {
                tokens.push(leaving.to_string());
                tokens.extend(successors.iter().flat_map(NodeRef::to_tokens));
            }
        }
        tokens
    }

    /// The message as one line, without the line ending.
    pub fn to_line(&self) -> String {
        token::join(&self.to_tokens())
    }
}

/// The arguments after the verb, with the readers for a node's argument types
/// (identifiers on this node's ring, node addresses).
struct ChordArgs {
    args: Args,
    ring: Ring,
}

impl ChordArgs {
    fn remaining(&self) -> usize {
        self.args.remaining()
    }

    /// The next argument, if there is one.
    fn optional(&mut self) -> Option<String> {
        self.args.optional()
    }

    /// The next argument, which must be present.
    fn text(&mut self, what: &str) -> Result<String, Refusal> {
        self.args.text(what)
    }

    /// Refuses arguments left over: a typo should not be silently ignored.
    fn finish(&self) -> Result<(), Refusal> {
        self.args.finish()
    }

    /// An identifier on this node's ring.
    fn id(&mut self, what: &str) -> Result<Id, Refusal> {
        let text = self.text(what)?;
        self.ring
            .parse_id(&text)
            .map_err(|e| bad(format!("<{what}>: {e}")))
    }

    /// A version, `<stamp>/<writer>`.
    fn version(&mut self) -> Result<Version, Refusal> {
        let text = self.text("version")?;
        Version::parse(&text).map_err(|e| bad(format!("<version>: {e}")))
    }

    /// A digest: a decimal number of 64 bits.
    fn digest(&mut self) -> Result<u64, Refusal> {
        let text = self.text("digest")?;
        text.parse().map_err(|_| {
            bad(format!(
                "<digest> must be a number, not {}",
                token::quote(&text)
            ))
        })
    }

    /// A node: its id, then its address.
    fn node(&mut self) -> Result<NodeRef, Refusal> {
        let id = self.id("id")?;
        let addr = self.text("addr")?;
        let addr = addr.parse().map_err(|_| {
            bad(format!(
                "<addr> must be an IP address and port like 127.0.0.1:7000, not {}",
                token::quote(&addr)
            ))
        })?;
        Ok(NodeRef { id, addr })
    }
}

#[cfg(test)]
mod tests;
