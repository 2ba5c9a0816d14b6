//! Calls to another node: one typed method per verb, each bounded in time and size.
//!
//! Why not the crate's `client::Client`: that client bounds each read, and a node
//! must bound a whole reply. A broken or hostile peer that trickles one byte a second,
//! or sends data rows forever, would otherwise hold a lookup (and the thread running
//! it) indefinitely. Here every call has a deadline (connect, write and the whole
//! reply within `timeout`) and a reply may be at most [`MAX_REPLY_BYTES`] long.
//!
//! The node uses [`Peer`] to talk to other nodes; the `feira-chord` CLI and the tests
//! use it to talk to a node. A peer that answers something that is not a chord reply
//! gives [`Error::Garbage`], one that does not answer in time [`Error::Timeout`].

use std::fmt::Display;
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::error::Error;
use super::id::{Id, Ring};
use super::lookup::{Lookup, Transport};
use super::message::Message;
use super::node::StoredKey;
use super::routing::{NodeRef, Routing, Step};
use super::rows::{self, Row};
use super::version::Version;
use crate::protocol::{ErrorCode, Reply};

/// The largest reply accepted, in bytes. KEYS on a node with many keys is the largest
/// reply a node sends; 16 MiB is plenty for a classroom ring.
pub const MAX_REPLY_BYTES: u64 = 16 * 1024 * 1024;

/// The longest reply line accepted (a KEYS row carries a key and a value, each up to
/// a request line long).
pub const MAX_REPLY_LINE: usize = 64 * 1024;

/// A connection to one node. Calls are made one at a time, in order.
pub struct Peer {
    /// The address as given, for error messages.
    name: String,
    /// The ring the ids in replies must fit.
    ring: Ring,
    /// The budget of each call.
    timeout: Duration,
    reader: BufReader<Bounded>,
    writer: TcpStream,
}

/// A stream that refuses to read past a deadline or past a byte budget. Both are
/// reset at the start of every call.
struct Bounded {
    stream: TcpStream,
    deadline: Instant,
    budget: u64,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if self.budget == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the reply is longer than {MAX_REPLY_BYTES} bytes"),
            ));
        }
        // Each read waits at most until the deadline of the whole call.
        self.stream.set_read_timeout(Some(left))?;
        let want = buf
            .len()
            .min(usize::try_from(self.budget).unwrap_or(usize::MAX));
        let n = self.stream.read(&mut buf[..want])?;
        self.budget -= n as u64;
        Ok(n)
    }
}

impl Peer {
    /// Connects within `timeout`. `ring` is the ring of the ids expected in replies
    /// (a client that does not know it can pass a 64-bit ring).
    pub fn connect(
        addr: impl ToSocketAddrs + Display,
        ring: Ring,
        timeout: Duration,
    ) -> Result<Peer, Error> {
        let name = addr.to_string();
        let io_err = |e| Error::from_io(&name, timeout, e);
        let mut last = None;
        for socket in addr.to_socket_addrs().map_err(io_err)? {
            match TcpStream::connect_timeout(&socket, timeout) {
                Ok(stream) => {
                    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
                    // Calls are small and each waits for its reply: send at once.
                    stream.set_nodelay(true).map_err(io_err)?;
                    let reader = Bounded {
                        stream: stream.try_clone().map_err(io_err)?,
                        deadline: Instant::now(),
                        budget: 0,
                    };
                    return Ok(Peer {
                        name,
                        ring,
                        timeout,
                        reader: BufReader::new(reader),
                        writer: stream,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::other("the address resolved to nothing"));
        Err(Error::from_io(&name, timeout, e))
    }

    /// The address this peer was reached at.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one raw line and returns the reply, `OK` or `ERR`.
    pub fn call_line(&mut self, line: &str) -> Result<Reply, Error> {
        // A fresh deadline and byte budget for this call's reply.
        let bounded = self.reader.get_mut();
        bounded.deadline = Instant::now() + self.timeout;
        bounded.budget = MAX_REPLY_BYTES;
        let mut wire = String::with_capacity(line.len() + 1);
        wire.push_str(line);
        wire.push('\n');
        let answer = self
            .writer
            .write_all(wire.as_bytes())
            .and_then(|()| Reply::read_from(&mut self.reader, MAX_REPLY_LINE));
        match answer {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(Error::Unreachable {
                peer: self.name.clone(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "it closed the connection without answering",
                ),
            }),
            Err(e) => Err(Error::from_io(&self.name, self.timeout, e)),
        }
    }

    /// Sends a message and returns the data rows of an `OK` reply (and its text);
    /// an `ERR` reply becomes [`Error::Refused`].
    pub fn call(&mut self, message: &Message) -> Result<(Vec<Row>, String), Error> {
        let reply = self.call_line(&message.to_line())?;
        match reply.status {
            Ok(text) => Ok((reply.data, text)),
            Err(refusal) => Err(Error::Refused {
                peer: self.name.clone(),
                refusal,
            }),
        }
    }

    /// Turns a reply that does not have the expected rows into a clear error.
    fn garbage(&self, verb: &str, detail: String) -> Error {
        Error::Garbage {
            peer: self.name.clone(),
            detail: format!("bad reply to {verb}: {detail}"),
        }
    }

    // ----- Node-to-node verbs -----

    /// PING: the node's identity and ring size. Used to check that an address really
    /// is a chord node on a ring of the same size before joining through it.
    pub fn ping(&mut self) -> Result<(NodeRef, u8), Error> {
        let (rows, _) = self.call(&Message::Ping)?;
        // The PING reply is read with a 64-bit ring: the ring size is what we are
        // about to learn, so it cannot be used to check the id.
        let wide = Ring::new(Ring::MAX_BITS).map_err(Error::Config)?;
        let parsed = (|| {
            let node = rows::parse_node(wide, rows::one(&rows, "node")?)?;
            let bits = match rows::one(&rows, "bits")?.as_slice() {
                [_, bits] => bits.parse::<u8>().map_err(|e| e.to_string())?,
                row => return Err(format!("expected \"bits <m>\", got {row:?}")),
            };
            Ok((node, bits))
        })();
        parsed.map_err(|e| self.garbage("PING", e))
    }

    /// NEXT_HOP: one step of a lookup, answered from the node's own tables.
    pub fn next_hop(&mut self, target: Id) -> Result<Step, Error> {
        let (rows, _) = self.call(&Message::NextHop { id: target })?;
        rows::parse_step(self.ring, &rows).map_err(|e| self.garbage("NEXT_HOP", e))
    }

    /// FIND_SUCCESSOR: a whole lookup, driven by that node.
    pub fn find_successor(&mut self, target: Id) -> Result<Lookup, Error> {
        let (rows, _) = self.call(&Message::FindSuccessor { id: target })?;
        rows::parse_lookup(self.ring, &rows).map_err(|e| self.garbage("FIND_SUCCESSOR", e))
    }

    pub fn get_predecessor(&mut self) -> Result<Option<NodeRef>, Error> {
        let (rows, _) = self.call(&Message::GetPredecessor)?;
        match rows::nodes(self.ring, &rows, "predecessor") {
            Ok(found) if found.len() <= 1 => Ok(found.first().copied()),
            Ok(_) => Err(self.garbage("GET_PREDECESSOR", "more than one predecessor".into())),
            Err(e) => Err(self.garbage("GET_PREDECESSOR", e)),
        }
    }

    pub fn get_successors(&mut self) -> Result<Vec<NodeRef>, Error> {
        let (rows, _) = self.call(&Message::GetSuccessors)?;
        match rows::nodes(self.ring, &rows, "successor") {
            Ok(list) if !list.is_empty() => Ok(list),
            Ok(_) => Err(self.garbage("GET_SUCCESSORS", "an empty successor list".into())),
            Err(e) => Err(self.garbage("GET_SUCCESSORS", e)),
        }
    }

    /// NOTIFY: tells the node we might be its predecessor.
    pub fn notify(&mut self, me: NodeRef) -> Result<(), Error> {
        self.call(&Message::Notify { node: me }).map(|_| ())
    }

    /// STORE: a PUT at the key's primary, which versions it and copies it to its
    /// replicas. Returns the reply's rows (`version`, one `replica` per copy) and text.
    pub fn store(&mut self, key: &str, value: &str) -> Result<(Vec<Row>, String), Error> {
        self.call(&Message::Store {
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    /// FETCH: a key kept on that node and its version (`None` if it answers NOT_FOUND).
    pub fn fetch(&mut self, key: &str) -> Result<Option<(String, Version)>, Error> {
        match self.call(&Message::Fetch {
            key: key.to_string(),
        }) {
            Ok((rows, _)) => {
                let parsed = (|| match rows::one(&rows, "value")?.as_slice() {
                    [_, value] => Ok((value.clone(), rows::parse_version(&rows)?)),
                    row => Err(format!("bad value row {row:?}")),
                })();
                parsed.map(Some).map_err(|e| self.garbage("FETCH", e))
            }
            Err(Error::Refused { refusal, .. }) if refusal.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// REPLICATE: a copy of a key from its primary, whose range is (lo, hi].
    pub fn replicate(
        &mut self,
        (lo, hi): (Id, Id),
        key: &str,
        version: Version,
        value: &str,
    ) -> Result<(), Error> {
        self.call(&Message::Replicate {
            lo,
            hi,
            key: key.to_string(),
            version,
            value: value.to_string(),
        })
        .map(|_| ())
    }

    /// SYNC: `None` if that node's copies of (lo, hi] match `digest`, else the keys and
    /// versions it holds there.
    pub fn sync(
        &mut self,
        (lo, hi): (Id, Id),
        digest: u64,
    ) -> Result<Option<Vec<(String, Version)>>, Error> {
        let (rows, text) = self.call(&Message::Sync { lo, hi, digest })?;
        if text == "in sync" {
            return Ok(None);
        }
        rows::parse_haves(&rows)
            .map(Some)
            .map_err(|e| self.garbage("SYNC", e))
    }

    /// HANDOFF: a key that node is the primary of.
    pub fn handoff(&mut self, key: &str, version: Version, value: &str) -> Result<(), Error> {
        self.call(&Message::Handoff {
            key: key.to_string(),
            version,
            value: value.to_string(),
        })
        .map(|_| ())
    }

    /// JOIN: asks our future successor to reserve our id for us.
    pub fn join(&mut self, me: NodeRef) -> Result<(), Error> {
        self.call(&Message::Join { node: me }).map(|_| ())
    }

    pub fn predecessor_leaves(
        &mut self,
        leaving: Id,
        predecessor: Option<NodeRef>,
    ) -> Result<(), Error> {
        self.call(&Message::PredecessorLeaves {
            leaving,
            predecessor,
        })
        .map(|_| ())
    }

    pub fn successor_leaves(&mut self, leaving: Id, successors: &[NodeRef]) -> Result<(), Error> {
        self.call(&Message::SuccessorLeaves {
            leaving,
            successors: successors.to_vec(),
        })
        .map(|_| ())
    }

    // ----- User verbs -----

    /// LOOKUP: the key's id and the lookup that found its holder.
    pub fn lookup(&mut self, key: &str) -> Result<Lookup, Error> {
        let (rows, _) = self.call(&Message::Lookup {
            key: key.to_string(),
        })?;
        rows::parse_lookup(self.ring, &rows).map_err(|e| self.garbage("LOOKUP", e))
    }

    /// PUT: stores the value on the key's successor; returns the lookup that found it.
    pub fn put(&mut self, key: &str, value: &str) -> Result<Lookup, Error> {
        let (rows, _) = self.call(&Message::Put {
            key: key.to_string(),
            value: value.to_string(),
        })?;
        rows::parse_lookup(self.ring, &rows).map_err(|e| self.garbage("PUT", e))
    }

    /// GET: the value and the lookup that found its holder. A missing key is
    /// `Error::Refused` with `NOT_FOUND`.
    pub fn get(&mut self, key: &str) -> Result<(String, Lookup), Error> {
        let (rows, _) = self.call(&Message::Get {
            key: key.to_string(),
        })?;
        let parsed = (|| {
            let value = match rows::one(&rows, "value")?.as_slice() {
                [_, value] => value.clone(),
                row => return Err(format!("bad value row {row:?}")),
            };
            Ok((value, rows::parse_lookup(self.ring, &rows)?))
        })();
        parsed.map_err(|e| self.garbage("GET", e))
    }

    /// RING: the nodes met following successors from that node, itself first.
    pub fn ring(&mut self) -> Result<Vec<NodeRef>, Error> {
        let (rows, _) = self.call(&Message::Ring)?;
        rows::nodes(self.ring, &rows, "node").map_err(|e| self.garbage("RING", e))
    }

    /// FINGERS: the node's predecessor, successor list and finger table.
    pub fn fingers(&mut self) -> Result<Routing, Error> {
        let (rows, _) = self.call(&Message::Fingers)?;
        rows::parse_routing(self.ring, &rows).map_err(|e| self.garbage("FINGERS", e))
    }

    /// KEYS: the keys kept on that node, in id order.
    pub fn keys(&mut self) -> Result<Vec<StoredKey>, Error> {
        let (rows, _) = self.call(&Message::Keys)?;
        rows::parse_stored_keys(self.ring, &rows).map_err(|e| self.garbage("KEYS", e))
    }

    /// LEAVE: the node leaves gracefully and stops; returns what it said.
    pub fn leave(&mut self) -> Result<String, Error> {
        self.call(&Message::Leave).map(|(_, text)| text)
    }
}

/// The lookup driver's transport over the network: a new connection per call, so a
/// dead node costs one failed connect and nothing is left open.
pub struct NetTransport {
    pub ring: Ring,
    pub timeout: Duration,
}

impl Transport for NetTransport {
    fn next_hop(&mut self, node: NodeRef, target: Id) -> Result<Step, Error> {
        Peer::connect(node.addr, self.ring, self.timeout)?.next_hop(target)
    }

    fn successors(&mut self, node: NodeRef) -> Result<Vec<NodeRef>, Error> {
        Peer::connect(node.addr, self.ring, self.timeout)?.get_successors()
    }
}
