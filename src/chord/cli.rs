//! The command-line client of a Chord node, shared by `feira-chord` and `feira-cli chord`.
//!
//! Why in the library: both binaries offer the same subcommands (`lookup`, `put`, `get`,
//! `ring`, `fingers`, `keys`, `leave`, `raw`), and one definition keeps them identical.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::id::Ring;
use super::message::Message;
use super::rpc::Peer;
use crate::protocol::{escape, token};

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Which node holds KEY, and the path the lookup took.
    Lookup {
        key: String,
        #[command(flatten)]
        via: Via,
    },
    /// Stores VALUE under KEY on the key's successor.
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        via: Via,
    },
    /// Reads KEY from the key's successor.
    Get {
        key: String,
        #[command(flatten)]
        via: Via,
    },
    /// The ring as the node sees it, following successors.
    Ring {
        #[command(flatten)]
        via: Via,
    },
    /// The node's predecessor, successor list and finger table.
    Fingers {
        #[command(flatten)]
        via: Via,
    },
    /// The keys stored on the node.
    Keys {
        #[command(flatten)]
        via: Via,
    },
    /// Makes the node leave the ring gracefully and stop.
    Leave {
        #[command(flatten)]
        via: Via,
    },
    /// Sends one raw request line (e.g. "NEXT_HOP 42") and prints the reply.
    Raw {
        line: String,
        #[command(flatten)]
        via: Via,
    },
}

#[derive(Args, Debug)]
pub struct Via {
    /// The node to ask.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub via: String,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

/// Runs one client subcommand against the node named by its `--via`.
pub fn run(command: ClientCommand) -> ExitCode {
    match command {
        ClientCommand::Lookup { key, via } => ask(&via, &Message::Lookup { key }.to_line()),
        ClientCommand::Put { key, value, via } => ask(&via, &Message::Put { key, value }.to_line()),
        ClientCommand::Get { key, via } => ask(&via, &Message::Get { key }.to_line()),
        ClientCommand::Ring { via } => ask(&via, &Message::Ring.to_line()),
        ClientCommand::Fingers { via } => ask(&via, &Message::Fingers.to_line()),
        ClientCommand::Keys { via } => ask(&via, &Message::Keys.to_line()),
        ClientCommand::Leave { via } => ask(&via, &Message::Leave.to_line()),
        ClientCommand::Raw { line, via } => ask(&via, &line),
    }
}

/// Sends one line to a node and prints the reply.
pub fn ask(via: &Via, line: &str) -> ExitCode {
    // The client does not know the ring's size: any 64-bit id is accepted in replies.
    let ring = match Ring::new(Ring::MAX_BITS) {
        Ok(ring) => ring,
        Err(e) => {
            eprintln!("feira-chord: {e}");
            return ExitCode::from(2);
        }
    };
    let timeout = Duration::from_millis(via.timeout_ms);
    let reply = match Peer::connect(via.via.as_str(), ring, timeout)
        .and_then(|mut peer| peer.call_line(line))
    {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!("feira-chord: {e}");
            return ExitCode::from(2);
        }
    };
    // A node's text is escaped before it is printed: a control character from the
    // network must not drive the terminal (see `protocol::escape`).
    let shown = |text: &str| escape::for_terminal(text).into_owned();
    for row in &reply.data {
        match row.split_first() {
            Some((tag, rest)) => println!("{:<12} {}", shown(tag), shown(&token::join(rest))),
            None => println!(),
        }
    }
    match reply.status {
        Ok(text) if text.is_empty() => {
            println!("OK");
            ExitCode::SUCCESS
        }
        Ok(text) => {
            println!("OK {}", shown(&text));
            ExitCode::SUCCESS
        }
        Err(refusal) => {
            eprintln!("ERR {}", shown(&refusal.to_string()));
            ExitCode::FAILURE
        }
    }
}
