//! A gRPC server running on a thread of its own, and how it is stopped.
//!
//! Why a type of its own: both gRPC servers of the crate, the store's door
//! (`door.rs`) and seed 002's log server (`log_server.rs`), run their tokio runtime
//! on one dedicated OS thread, so that nothing async leaks into the rest of the
//! server. Both are stopped the same way: one message on a oneshot channel tells the
//! serving future to stop taking calls, then the thread is joined, which waits for the
//! runtime's bounded shutdown. This is that handle, written once.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A serving thread: its address, the switch that stops it, and the thread to join.
/// Dropping it stops it too, so a server that is never stopped by hand still ends.
pub struct ServingThread {
    /// The address the server listens on (the real port, if 0 was asked).
    addr: SocketAddr,
    /// Sending on it (once) tells the serving future to stop taking calls.
    stop: Option<oneshot::Sender<()>>,
    /// The thread that runs the runtime; it ends after the runtime's shutdown.
    thread: Option<JoinHandle<()>>,
}

impl ServingThread {
    /// Wraps a started thread and the sender its serving future listens to.
    pub fn new(
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        thread: JoinHandle<()>,
    ) -> ServingThread {
        ServingThread {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address it listens on (with the real port, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and returns when its thread has ended.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        // The serving future may already have ended (a failed bind, say): then nobody
        // receives, which is fine.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A panic on the server's thread was already reported there; stopping goes on.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServingThread {
    fn drop(&mut self) {
        self.stop_now();
    }
}
