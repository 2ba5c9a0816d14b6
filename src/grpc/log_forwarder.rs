//! Sending the audit log's events to seed 002's log server (`feira-server --log-server
//! ADDR`): the gRPC client at the far end of the audit thread's handover
//! (src/sharing/audit/forward.rs).
//!
//! The promise: a connection thread never waits for the log server, and a slow or dead
//! one costs the store nothing. Three walls keep it:
//! 1. the connection thread only hands its event to the audit thread (as without a
//!    log server);
//! 2. the audit thread writes `audit.csv` and offers a copy on a bounded channel with
//!    `try_send`: when the channel is full, the copy is dropped and counted (STATS
//!    `log_dropped`);
//! 3. this thread, `log-forwarder`, takes the copies off one at a time, in order, and
//!    calls `Record`. A failed call is tried again [`ForwarderConfig::attempts`] times
//!    in all, each within [`ForwarderConfig::attempt_timeout`] and a growing pause
//!    apart; then the event is given up on and counted as dropped. When the log server
//!    comes back, the next call reconnects (tonic's channel does it) and the events
//!    still queued, and later ones, reach it.
//!
//! Why a thread of its own with a current-thread runtime: the copies arrive on a
//! crossbeam channel, which blocks; the thread waits on it like any std thread and
//! runs each call with `block_on`, so the runtime runs only while a call is under way
//! (no worker threads at all). After a failed call the client starts on a fresh
//! channel, so the next call connects anew to a log server that has come back. The
//! runtime is the gRPC module's own, like the door's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

use super::log_pb;
use super::log_pb::audit_log_client::AuditLogClient;
use crate::error::{Error, Result};
use crate::sharing::AuditEvent;
use crate::sharing::audit::forward::{self, Forward, ForwardQueue, Next};

/// Where the events go, and how hard to try.
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    /// The log server's address (`--log-server`), `host:port`.
    pub addr: String,
    /// Events waiting to be sent before new ones are dropped.
    pub capacity: usize,
    /// Calls per event before it is given up on.
    pub attempts: u32,
    /// The longest one call (or connecting) may take.
    pub attempt_timeout: Duration,
    /// The pause after the first failed call; it doubles after each.
    pub backoff: Duration,
    /// How long a stopping forwarder keeps sending what is queued.
    pub stop_grace: Duration,
}

impl Default for ForwarderConfig {
    fn default() -> ForwarderConfig {
        ForwarderConfig {
            addr: "127.0.0.1:50052".into(),
            // About a second of a busy server's audited requests.
            capacity: 1024,
            attempts: 3,
            attempt_timeout: Duration::from_secs(1),
            backoff: Duration::from_millis(100),
            stop_grace: Duration::from_secs(2),
        }
    }
}

/// The running forwarder; [`LogForwarder::stop`] sends what is queued (within the
/// grace) and ends it.
pub struct LogForwarder {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LogForwarder {
    /// Starts the `log-forwarder` thread. Put the returned [`Forward`] in the audit
    /// log's options (`AuditOptions::forward`) so the audit thread offers it events.
    /// Does not connect yet: a log server that starts later is found by the first call.
    pub fn start(config: ForwarderConfig) -> Result<(LogForwarder, Forward)> {
        let endpoint = Endpoint::from_shared(format!("http://{}", config.addr))
            .map_err(|e| Error::Other(format!("--log-server {}: {e}", config.addr)))?
            .connect_timeout(config.attempt_timeout)
            .timeout(config.attempt_timeout);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the log forwarder's runtime: {e}")))?;
        let client = {
            // A lazy channel starts its connection task on the runtime it is made in.
            let _inside = runtime.enter();
            AuditLogClient::new(endpoint.connect_lazy())
        };
        let (forward, queue) = forward::channel(config.capacity);
        let stopping = Arc::new(AtomicBool::new(false));
        let sender = Sender {
            client,
            endpoint,
            queue,
            config: config.clone(),
            reachable: true,
        };
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("log-forwarder".into())
            .spawn(move || sender.run(&runtime, &stop))
            .map_err(|e| Error::Other(format!("cannot start the log forwarder: {e}")))?;
        log::info!(
            "audit events are forwarded to the log server at {}",
            config.addr
        );
        Ok((
            LogForwarder {
                stopping,
                thread: Some(thread),
            },
            forward,
        ))
    }

    /// Sends what is still queued (for at most the stop grace, then counts the rest
    /// as dropped) and ends the thread. Call it after the audit log has stopped, so
    /// that its last events are among those sent.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LogForwarder {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The `log-forwarder` thread's state.
struct Sender {
    client: AuditLogClient<Channel>,
    /// Where the client connects, to start afresh after a failed call.
    endpoint: Endpoint,
    queue: ForwardQueue,
    config: ForwarderConfig,
    /// Whether the last call got through: the log says so only when it changes.
    reachable: bool,
}

impl Sender {
    fn run(mut self, runtime: &tokio::runtime::Runtime, stopping: &AtomicBool) {
        // Set once stopping: past it, what is left is counted, not sent.
        let mut stop_by: Option<Instant> = None;
        loop {
            if stop_by.is_none() && stopping.load(Ordering::Acquire) {
                stop_by = Some(Instant::now() + self.config.stop_grace);
            }
            match self.queue.next(Duration::from_millis(100)) {
                Next::Event(event) => {
                    let late = stop_by.is_some_and(|t| Instant::now() >= t);
                    // Stopping: one try each, no pauses.
                    let attempts = if stop_by.is_some() {
                        1
                    } else {
                        self.config.attempts
                    };
                    if !late && runtime.block_on(self.deliver(&event, attempts)) {
                        self.queue.delivered();
                    } else {
                        self.queue.given_up();
                    }
                }
                Next::Quiet if stop_by.is_some() => break,
                Next::Quiet => {}
                Next::Closed => break,
            }
        }
    }

    /// Calls `Record` up to `attempts` times; whether the log server took the event.
    async fn deliver(&mut self, event: &AuditEvent, attempts: u32) -> bool {
        let message = log_pb::AuditEvent {
            user: event.user.clone(),
            operation: event.operation.into(),
            arguments: event.arguments.clone(),
            time: event.time.clone(),
            peer: event.peer.clone(),
            result: event.result.into(),
        };
        let mut pause = self.config.backoff;
        for attempt in 1..=attempts.max(1) {
            // The whole call within the bound, waiting for a connection included.
            let call = self.client.record(message.clone());
            let answer = match tokio::time::timeout(self.config.attempt_timeout, call).await {
                Ok(answer) => answer,
                Err(_) => Err(tonic::Status::deadline_exceeded("no answer in time")),
            };
            match answer {
                Ok(_) => {
                    if !self.reachable {
                        log::info!("log server {}: reachable again", self.config.addr);
                        self.reachable = true;
                    }
                    return true;
                }
                Err(status) => {
                    if self.reachable {
                        log::warn!(
                            "log server {}: {} (events are retried, then dropped and counted)",
                            self.config.addr,
                            status.message()
                        );
                        self.reachable = false;
                    }
                    // A new channel: the next call connects afresh, instead of waiting
                    // on a connection the old one may still be retrying.
                    self.client = AuditLogClient::new(self.endpoint.connect_lazy());
                    if attempt < attempts {
                        tokio::time::sleep(pause).await;
                        pause = pause.saturating_mul(2);
                    }
                }
            }
        }
        false
    }
}
