//! Starting and stopping the gRPC door: its own small runtime on its own thread,
//! beside the socket door's threads, sharing their [`Shared`](crate::server::Shared).
//!
//! Why a runtime of its own, kept small: the rest of feira is blocking, thread per
//! connection, and stays so. tonic needs an async runtime; this one lives only here,
//! with two worker threads for the HTTP/2 framing of every gRPC connection and a
//! bounded blocking pool for the store's work (src/grpc/call.rs says why the work
//! goes there). Nothing else in the process knows it exists.
//!
//! The limits, each against a way one client could hurt the others:
//! - a message over [`GrpcConfig::max_message`] (64 KiB, like a Redis inline command)
//!   is refused with `RESOURCE_EXHAUSTED` before it is decoded (src/grpc/too_large.rs);
//! - a call must finish within [`GrpcConfig::call_timeout`], so a client that opens a
//!   stream and never sends its message holds nothing for long;
//! - at most [`GrpcConfig::max_connections`] connections at once, each carrying at
//!   most [`MAX_STREAMS`] calls at once (src/grpc/limit.rs);
//! - HTTP/2 pings find connections whose peer has gone away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::transport::Server;

use super::pb::store_server::StoreServer;
use super::serving_thread::ServingThread;
use super::store::StoreService;
use super::tokens::Tokens;
use super::too_large::TooLarge;
use super::{FILE_DESCRIPTOR_SET, limit};
use crate::error::{Error, Result};
use crate::server::SharedRef;

/// Calls one connection may have in flight at once (HTTP/2's
/// `SETTINGS_MAX_CONCURRENT_STREAMS`).
pub const MAX_STREAMS: u32 = 64;

/// How long a stopping door waits for its calls in flight and its clients' goodbyes.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The largest reply message, in bytes.
pub const MAX_REPLY: usize = 4 * 1024 * 1024;

/// The gRPC door's settings.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    /// Where to listen (`--grpc-addr`); port 0 picks a free port (tests use it).
    pub addr: String,
    /// Connections served at once (`--grpc-max-connections`); more are closed at once.
    pub max_connections: usize,
    /// The largest request message, in bytes.
    pub max_message: usize,
    /// The longest a call may take, from its headers to its reply.
    pub call_timeout: Duration,
    /// A new connection must send its first bytes within this time.
    pub first_bytes_timeout: Duration,
    /// Threads of the async runtime (HTTP/2 framing only).
    pub worker_threads: usize,
    /// The most threads doing the store's work at once; further calls queue.
    pub blocking_threads: usize,
}

impl Default for GrpcConfig {
    fn default() -> GrpcConfig {
        GrpcConfig {
            addr: "127.0.0.1:50051".into(),
            max_connections: 256,
            max_message: 64 * 1024,
            call_timeout: Duration::from_secs(10),
            first_bytes_timeout: Duration::from_secs(10),
            worker_threads: 2,
            blocking_threads: 16,
        }
    }
}

/// The running gRPC door. [`GrpcDoor::stop`] (or dropping it) stops it: calls in
/// flight finish, new ones are refused.
pub struct GrpcDoor {
    serving: ServingThread,
}

impl GrpcDoor {
    /// Binds `config.addr` and serves the `Store` service (and server reflection) on a
    /// thread of its own, with `shared`'s tables, locks and journal.
    pub fn start(shared: SharedRef, config: GrpcConfig) -> Result<GrpcDoor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .max_blocking_threads(config.blocking_threads.max(1))
            .thread_name("grpc")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the gRPC runtime: {e}")))?;
        // Bound here, before the thread starts, so that an address in use is an error
        // at start-up, with the address in it.
        let cannot_bind = |e| Error::Other(format!("cannot listen on {} (gRPC): {e}", config.addr));
        let listener = std::net::TcpListener::bind(&config.addr).map_err(cannot_bind)?;
        listener.set_nonblocking(true).map_err(cannot_bind)?;
        let addr = listener.local_addr().map_err(cannot_bind)?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("grpc-door".into())
            .spawn(move || {
                if let Err(e) = runtime.block_on(serve(shared, config, listener, stopped)) {
                    log::error!("the gRPC door stopped: {e}");
                }
                // Store work still running finishes (a commit is never cut in half),
                // within a bound.
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })
            .map_err(|e| Error::Other(format!("cannot start the gRPC thread: {e}")))?;
        log::info!("gRPC door on {addr} (service feira.v1.Store, reflection on)");
        Ok(GrpcDoor {
            serving: ServingThread::new(addr, stop, thread),
        })
    }

    /// The address it listens on (with the real port, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Stops taking calls, lets the calls in flight finish, and returns when the
    /// door's thread has ended.
    pub fn stop(self) {
        self.serving.stop();
    }
}

/// The door's whole life, on its runtime: serve until told to stop.
async fn serve(
    shared: SharedRef,
    config: GrpcConfig,
    listener: std::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let incoming = limit::incoming(listener, config.max_connections, config.first_bytes_timeout);
    // Tokens expire as socket sessions do, after the server's idle timeout.
    let tokens = Arc::new(Tokens::new(shared.config.idle_timeout));
    let store = StoreServer::new(StoreService::new(shared, tokens))
        .max_decoding_message_size(config.max_message)
        // Replies may be longer (a page of 1,000 orders is about 60 KiB).
        .max_encoding_message_size(MAX_REPLY);
    // Both versions of the reflection service: grpcurl asks for v1, Python's
    // grpcio-reflection still for v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let (drain, drained) = oneshot::channel::<()>();
    let server = Server::builder()
        .timeout(config.call_timeout)
        .max_concurrent_streams(MAX_STREAMS)
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(TooLarge(store))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = drained.await;
        });
    let server = tokio::spawn(server);
    // A dropped sender (the door dropped) stops the door too.
    let _ = stopped.await;
    let _ = drain.send(());
    // Calls in flight finish; a client that does not answer the goodbye (HTTP/2's
    // GOAWAY and its ping) is not waited for past the grace period.
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(served) => served??,
        Err(_) => log::warn!("gRPC door: connections still open after {SHUTDOWN_GRACE:?}: closed"),
    }
    Ok(())
}
