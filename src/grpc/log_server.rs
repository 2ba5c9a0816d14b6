//! Seed 002's log server, over gRPC: the `AuditLog` service (proto/audit_log.proto)
//! that the `feira-log` program serves. Each event it receives is printed as one line,
//! the way seed 002's log server printed it, and appended to a file:
//!
//! ```text
//! alice PUBLISH notes.txt 2026-12-01T10:00:00Z
//! ```
//!
//! Why it is so small: the log server only has to be *somewhere else*. The store
//! server keeps its own complete log (`audit.csv`) and forwards copies
//! (src/grpc/log_forwarder.rs); this one shows a second process receiving them over
//! RPC, and that the store does not care when it is slow or gone.
//!
//! Its runtime is as small as a tonic server gets (one worker thread); the print and
//! the append block, so they run on the blocking pool, under one mutex so that the
//! screen and the file list the events in the same order. The reply goes once the line
//! is in the file (written, not fsynced: a copy, not the record of truth).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use super::log_pb::audit_log_server::{AuditLog, AuditLogServer};
use super::log_pb::{AuditEvent, Recorded};
use super::serving_thread::ServingThread;
use crate::error::{Error, Result};
use crate::protocol::escape::for_terminal;

/// How long a stopping log server waits for the calls in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The largest event it accepts, in bytes: an audit row is a few hundred.
const MAX_MESSAGE: usize = 16 * 1024;

/// An event as seed 002's log server printed it: user, operation, arguments, time.
/// The user of the log's own rows (AUDIT_DROPPED) is `-`; arguments, if any, as the
/// protocol wrote them. Control characters are escaped (`\u{1b}`): the line goes to a
/// terminal, and the arguments are whatever a client sent.
pub fn line(event: &AuditEvent) -> String {
    let user = if event.user.is_empty() {
        "-"
    } else {
        &event.user
    };
    let mut words = vec![for_terminal(user), for_terminal(&event.operation)];
    if !event.arguments.is_empty() {
        words.push(for_terminal(&event.arguments));
    }
    words.push(for_terminal(&event.time));
    let mut line = words.join(" ");
    // A refusal is worth seeing too (seed 002 logged successes only).
    if !event.result.is_empty() && event.result != "OK" {
        line.push_str(" -> ");
        line.push_str(&for_terminal(&event.result));
    }
    line
}

/// The service: where the lines go.
struct Recorder {
    file: Arc<Mutex<File>>,
}

#[tonic::async_trait]
impl AuditLog for Recorder {
    async fn record(
        &self,
        request: Request<AuditEvent>,
    ) -> std::result::Result<Response<Recorded>, Status> {
        let mut text = line(request.get_ref());
        text.push('\n');
        let file = self.file.clone();
        let written = tokio::task::spawn_blocking(move || {
            // A panic elsewhere cannot leave a half-written line: one write_all each.
            let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            file.write_all(text.as_bytes())
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(Response::new(Recorded {})),
            Ok(Err(e)) => Err(Status::internal(format!("INTERNAL cannot append: {e}"))),
            Err(e) => Err(Status::internal(format!("INTERNAL {e}"))),
        }
    }
}

/// A running log server; [`LogServer::stop`] (or dropping it) stops it.
pub struct LogServer {
    serving: ServingThread,
}

impl LogServer {
    /// Opens `file` for appending (creating it), binds `addr` (port 0 picks a free
    /// port) and serves `AuditLog` on a thread of its own.
    pub fn start(addr: &str, file: &Path) -> Result<LogServer> {
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(|e| Error::io(file, e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("feira-log")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the log server's runtime: {e}")))?;
        let cannot_bind = |e| Error::Other(format!("cannot listen on {addr} (log server): {e}"));
        let listener = std::net::TcpListener::bind(addr).map_err(cannot_bind)?;
        listener.set_nonblocking(true).map_err(cannot_bind)?;
        let local = listener.local_addr().map_err(cannot_bind)?;
        let recorder = Recorder {
            file: Arc::new(Mutex::new(opened)),
        };
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("feira-log".into())
            .spawn(move || {
                if let Err(e) = runtime.block_on(serve(recorder, listener, stopped)) {
                    log::error!("the log server stopped: {e}");
                }
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })
            .map_err(|e| Error::Other(format!("cannot start the log server's thread: {e}")))?;
        Ok(LogServer {
            serving: ServingThread::new(local, stop, thread),
        })
    }

    /// The address it listens on (with the real port, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Stops listening, lets the calls in flight finish (within a second), and returns
    /// when the thread has ended.
    pub fn stop(self) {
        self.serving.stop();
    }
}

async fn serve(
    recorder: Recorder,
    listener: std::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let (drain, drained) = oneshot::channel::<()>();
    let server = Server::builder()
        .timeout(Duration::from_secs(10))
        .add_service(AuditLogServer::new(recorder).max_decoding_message_size(MAX_MESSAGE))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = drained.await;
        });
    let server = tokio::spawn(server);
    let _ = stopped.await;
    let _ = drain.send(());
    // A forwarder keeps its connection open; it is not waited for past the grace.
    if let Ok(served) = tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        served??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, operation: &str, arguments: &str, result: &str) -> AuditEvent {
        AuditEvent {
            user: user.into(),
            operation: operation.into(),
            arguments: arguments.into(),
            time: "2026-12-01T10:00:00Z".into(),
            peer: "127.0.0.1:5000".into(),
            result: result.into(),
        }
    }

    #[test]
    fn a_line_is_user_operation_arguments_time_as_seed_002_printed_it() {
        assert_eq!(
            line(&event("alice", "PUBLISH", "notes.txt", "OK")),
            "alice PUBLISH notes.txt 2026-12-01T10:00:00Z"
        );
        assert_eq!(
            line(&event("alice", "LIST_USERS", "", "NOT_CONNECTED")),
            "alice LIST_USERS 2026-12-01T10:00:00Z -> NOT_CONNECTED"
        );
        assert_eq!(
            line(&event("", "AUDIT_DROPPED", "3 events lost", "WARN")),
            "- AUDIT_DROPPED 3 events lost 2026-12-01T10:00:00Z -> WARN"
        );
    }

    #[test]
    fn control_characters_from_a_client_are_escaped() {
        let printed = line(&event("bob", "PUBLISH", "a\u{1b}[2Jb.txt\nx", "OK"));
        assert!(
            !printed.contains('\u{1b}') && !printed.contains('\n'),
            "{printed:?}"
        );
        assert!(printed.starts_with("bob PUBLISH a"), "{printed:?}");
    }
}
