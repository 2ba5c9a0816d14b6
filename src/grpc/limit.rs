//! The gRPC door's connections: at most a configured number at once, and each must
//! start talking soon after it connects.
//!
//! Why: the socket door answers `ERR BUSY` past `--max-connections` so that a flood of
//! clients cannot take every thread and every file descriptor. HTTP/2 lets one
//! connection carry many calls, but every connection still costs a socket, buffers and
//! a task, so the gRPC door bounds them too (`--grpc-max-connections`): one more is
//! closed at once (its client sees `UNAVAILABLE`), and the door serves the others as
//! before. A connection that sends nothing at all within the first-bytes deadline
//! (not even HTTP/2's preface) is closed, so silent sockets cannot hold the places;
//! a call that starts and then stalls is cut by the per-call timeout
//! (src/grpc/door.rs).
//!
//! How: an accept task takes each connection with a permit of a semaphore, and the
//! permit travels inside the connection ([`Limited`]): when tonic drops the connection,
//! the permit goes back. No count to keep in step by hand.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A connection the door accepted, holding one of the limited places until dropped.
pub struct Limited {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
}

/// The connections for tonic to serve: at most `max` at once; each one's first bytes
/// must come within `first_bytes`. Runs an accept task on the current runtime.
pub fn incoming(
    listener: TcpListener,
    max: usize,
    first_bytes: Duration,
) -> ReceiverStream<io::Result<Limited>> {
    let (accepted, incoming) = mpsc::channel(64);
    let places = Arc::new(Semaphore::new(max));
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors, usually: wait a moment rather than spin.
                    log::warn!("gRPC door: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
                log::warn!("{peer}: gRPC connection refused: {max} connections already");
                continue; // dropped: closed at once
            };
            // Small replies leave at once, as on the socket door.
            let _ = stream.set_nodelay(true);
            let accepted = accepted.clone();
            tokio::spawn(async move {
                // `peek` waits for the first bytes without taking them from tonic.
                let mut first = [0u8; 1];
                match tokio::time::timeout(first_bytes, stream.peek(&mut first)).await {
                    Ok(Ok(n)) if n > 0 => {
                        let connection = Limited {
                            stream,
                            _place: place,
                        };
                        // Fails only once the door is shutting down.
                        let _ = accepted.send(Ok(connection)).await;
                    }
                    _ => log::info!("{peer}: gRPC connection closed: it sent nothing"),
                }
            });
        }
    });
    ReceiverStream::new(incoming)
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    /// The addresses of the socket, so that a call's `remote_addr()` works (the login
    /// throttle counts by it).
    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

// Reading and writing are the socket's own: the place only rides along.
impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
