//! A node's life: start (and join), run, leave gracefully, or stop.
//!
//! Why one file: these are the moments when the threads of a node are created or
//! ended, and the order matters. Start binds the listener first (the node's address
//! is its identity), joins through a known node, then starts serving and maintaining.
//! A graceful leave (src/chord/leave.rs) runs before the node stops; stopping
//! (src/chord/control.rs) ends the accept loop, then maintenance, then every open
//! connection.

use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{info, warn};

use super::context::Context;
use super::control::Control;
use super::error::Error;
use super::id::Ring;
use super::leave::leave;
use super::maintenance;
use super::message::MAX_SUCCESSORS;
use super::node::{KeyPolicy, Node};
use super::routing::{NodeRef, Routing};
use super::rpc::Peer;
use super::server;
use super::store::Limits;
use crate::net::LiveConnections;
use crate::protocol::ErrorCode;

pub use super::server::MAX_CONNECTIONS;

/// A join asks for its successor this many times if the one named cannot be reached.
pub const JOIN_ATTEMPTS: u32 = 4;

/// A replica claim lasts this many stabilisation rounds after the primary's last SYNC
/// (and keys are given back only when the predecessor has been the same this long).
pub const SETTLE_ROUNDS: u32 = 8;

/// How a node is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; this address (with the real port if it was 0) is how other
    /// nodes reach this one, and its hash is the node's id. It must be a concrete IP:
    /// 0.0.0.0 cannot be told to other nodes.
    pub addr: SocketAddr,
    /// A node of the ring to join through; `None` starts a new ring.
    pub join: Option<String>,
    /// m: identifiers have this many bits (1 to 64).
    pub bits: u8,
    /// r: the length of the successor list (1 to 32).
    pub successors: usize,
    /// How many nodes keep each key (its primary and the next nodes of the successor
    /// list); `None`: as many as `successors`, the usual r.
    pub replicas: Option<usize>,
    /// How much the node agrees to store.
    pub limits: Limits,
    /// Client connections past this many are refused with `ERR BUSY`; a few more are
    /// kept for other nodes, so that the ring keeps working (src/chord/server.rs).
    pub max_connections: usize,
    /// How often the maintenance round runs.
    pub stabilize_every: Duration,
    /// The budget of each call to another node (connect, send, whole reply).
    pub rpc_timeout: Duration,
    /// An id chosen by hand instead of the hash of the address (for drawings that
    /// follow the paper's figures). Two nodes with the same id cannot join.
    pub id: Option<u64>,
}

impl Config {
    /// Defaults for a node at `addr`: a new ring of 32 bits, r = 3, a round every
    /// 200 ms, one second per call.
    pub fn new(addr: SocketAddr) -> Config {
        Config {
            addr,
            join: None,
            bits: 32,
            successors: 3,
            replicas: None,
            limits: Limits::default(),
            max_connections: server::MAX_CONNECTIONS,
            stabilize_every: Duration::from_millis(200),
            rpc_timeout: Duration::from_secs(1),
            id: None,
        }
    }

    /// A node on 127.0.0.1 with a port chosen by the system (tests, examples).
    pub fn local() -> Config {
        Config::new(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The key policy: r replicas, the limits, and how long claims last (a few rounds).
    fn key_policy(&self) -> KeyPolicy {
        KeyPolicy {
            replicas: self.replicas.unwrap_or(self.successors).max(1),
            limits: self.limits,
            settle: self.stabilize_every * SETTLE_ROUNDS,
        }
    }

    /// How long joining may take: a FIND_SUCCESSOR is a whole lookup on the other side.
    fn join_timeout(&self) -> Duration {
        self.rpc_timeout * 10
    }
}

/// A running node, owned by whoever started it. Dropping it stops the node.
pub struct NodeHandle {
    node: Arc<Node>,
    control: Arc<Control>,
    rpc_timeout: Duration,
    /// The accept thread; it hands back the connections still open when it ends.
    accept: Option<JoinHandle<LiveConnections>>,
    /// Those connections, once the accept thread has ended.
    open: Option<LiveConnections>,
}

/// Something that can stop a running node from another thread (a signal handler).
#[derive(Clone)]
pub struct Stopper {
    node: Arc<Node>,
    control: Arc<Control>,
    rpc_timeout: Duration,
}

impl Stopper {
    /// Stops the node at once, without leaving: to the ring, this is a crash.
    pub fn stop(&self) {
        self.control.stop();
    }

    /// Leaves the ring gracefully (hands the keys to the successor), then stops.
    pub fn leave(&self) -> Result<String, Error> {
        let result = leave(&self.node, &self.control, self.rpc_timeout);
        self.control.stop();
        result
    }
}

impl Node {
    /// Starts a node: binds, joins the ring through `config.join` (if any), then
    /// starts the accept thread and the maintenance thread.
    ///
    /// Fails, with nothing left running, if the configuration is unusable or the
    /// join does not work (the address is not a node, a different ring size, an id
    /// already taken).
    pub fn start(config: Config) -> Result<NodeHandle, Error> {
        let ring = Ring::new(config.bits).map_err(Error::Config)?;
        if config
            .replicas
            .is_some_and(|r| !(1..=config.successors).contains(&r))
        {
            return Err(Error::Config(format!(
                "replicas must be from 1 to the length of the successor list ({})",
                config.successors
            )));
        }
        if !(1..=MAX_SUCCESSORS).contains(&config.successors) {
            return Err(Error::Config(format!(
                "the successor list needs 1 to {MAX_SUCCESSORS} entries, not {}",
                config.successors
            )));
        }
        if config.addr.ip().is_unspecified() {
            return Err(Error::Config(format!(
                "{} cannot be given to other nodes: listen on the address they reach you at",
                config.addr.ip()
            )));
        }
        if config.stabilize_every.is_zero() || config.rpc_timeout.is_zero() {
            return Err(Error::Config(
                "intervals and timeouts must be above zero".into(),
            ));
        }
        let listener = TcpListener::bind(config.addr).map_err(Error::Listen)?;
        let addr = listener.local_addr().map_err(Error::Listen)?;
        let id = match config.id {
            Some(value) => ring.id(value).ok_or_else(|| {
                Error::Config(format!(
                    "--id must be from 0 to {}, not {value}",
                    ring.max()
                ))
            })?,
            None => ring.node_id(addr),
        };
        let me = NodeRef { id, addr };
        let node = Arc::new(Node::with_policy(
            me,
            ring,
            config.successors,
            config.key_policy(),
        ));

        if let Some(via) = &config.join {
            let successor = join(&node, via, config.join_timeout(), config.stabilize_every)?;
            node.adopt_successors(successor, &[]);
            info!("{me}: joined through {via}; successor is {successor}");
        } else {
            info!("{me}: started a new ring of 2^{} ids", ring.bits());
        }

        let accept_loop = server::accept_loop(listener, me).map_err(Error::Listen)?;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let control = Arc::new(Control::new(accept_loop.stop_switch(), stop_tx));
        let ctx = Arc::new(Context {
            node: Arc::clone(&node),
            control: Arc::clone(&control),
            rpc_timeout: config.rpc_timeout,
            retry_pause: config.stabilize_every,
            max_connections: config.max_connections,
        });
        let accept = server::spawn_accept(accept_loop, ctx).map_err(Error::Listen)?;
        let mut handle = NodeHandle {
            node: Arc::clone(&node),
            control: Arc::clone(&control),
            rpc_timeout: config.rpc_timeout,
            accept: Some(accept),
            open: None,
        };
        match maintenance::spawn(node, config.stabilize_every, config.rpc_timeout, stop_rx) {
            Ok(thread) => control.keep_maintenance(thread),
            Err(e) => {
                handle.stop_and_join();
                return Err(Error::Listen(e));
            }
        }
        Ok(handle)
    }
}

impl NodeHandle {
    /// The address the node listens on (with the real port if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.node.me().addr
    }

    /// The node's id and address.
    pub fn me(&self) -> NodeRef {
        self.node.me()
    }

    /// A copy of the node's routing state, read in-process (tests use RPCs instead,
    /// which is what a student would see).
    pub fn routing(&self) -> Routing {
        self.node.routing()
    }

    /// A handle for stopping the node from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            node: Arc::clone(&self.node),
            control: Arc::clone(&self.control),
            rpc_timeout: self.rpc_timeout,
        }
    }

    /// Waits until the node stops (LEAVE, or a [`Stopper`]), then cleans up.
    pub fn wait(mut self) {
        self.join_accept();
        self.stop_and_join();
    }

    /// Leaves the ring gracefully, then stops.
    pub fn leave(self) -> Result<String, Error> {
        let result = self.stopper().leave();
        drop(self);
        result
    }

    /// Stops now, without leaving: its neighbours find out by failing to reach it,
    /// as if it had crashed. Its keys are gone.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Waits for the accept thread to end, and keeps the connections it left open.
    fn join_accept(&mut self) {
        if let Some(accept) = self.accept.take() {
            match accept.join() {
                Ok(open) => self.open = Some(open),
                Err(_) => warn!("{}: the accept thread panicked", self.node.me()),
            }
        }
    }

    fn stop_and_join(&mut self) {
        self.control.stop();
        self.join_accept();
        self.control.stop_maintenance();
        if let Some(open) = self.open.take() {
            open.close(Shutdown::Both);
        }
        info!("{}: stopped", self.node.me());
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        if self.accept.is_some() || self.open.is_some() {
            self.stop_and_join();
        }
    }
}

/// Joins the ring through `via`: checks that it is a chord node on a ring of the
/// same size, then asks it for the successor of our id, and asks that successor to
/// reserve our id (JOIN: two nodes with one id that join at once are told apart
/// there, src/chord/node/joins.rs). That successor is all a new node needs;
/// stabilisation does the rest.
fn join(node: &Node, via: &str, timeout: Duration, pause: Duration) -> Result<NodeRef, Error> {
    let me = node.me();
    let ring = node.ring();
    let mut peer = Peer::connect(via, ring, timeout)?;
    let (them, bits) = peer.ping()?;
    if bits != ring.bits() {
        return Err(Error::Config(format!(
            "{via} ({}) is on a ring of {bits} bits, this node is set to {}",
            them.id,
            ring.bits()
        )));
    }
    // The successor named may have just crashed (the ring has not noticed yet): then
    // ask again, a stabilisation round later, a few times.
    let mut attempt = 1;
    let (found, reserved) = loop {
        let found = peer.find_successor(me.id)?;
        if found.holder.id == me.id {
            return Err(Error::IdTaken {
                id: me.id,
                holder: found.holder.to_string(),
            });
        }
        let reserved =
            Peer::connect(found.holder.addr, ring, timeout).and_then(|mut peer| peer.join(me));
        match reserved {
            Err(Error::Unreachable { .. } | Error::Timeout { .. }) if attempt < JOIN_ATTEMPTS => {
                std::thread::sleep(pause * attempt);
                attempt += 1;
            }
            reserved => break (found, reserved),
        }
    };
    match reserved {
        Ok(()) => Ok(found.holder),
        Err(Error::Refused { refusal, .. }) if refusal.code == ErrorCode::Conflict => {
            let said = format!("id {} is already taken by ", me.id);
            let holder = refusal
                .message
                .strip_prefix(&said)
                .unwrap_or(&refusal.message);
            Err(Error::IdTaken {
                id: me.id,
                holder: holder.to_string(),
            })
        }
        Err(e) => Err(e),
    }
}
