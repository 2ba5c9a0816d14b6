//! What starts and stops a node's threads: the accept loop's switch and the maintenance
//! thread.
//!
//! Why a file of its own: the accept thread, every connection thread (LEAVE stops the
//! node), the graceful leave (it stops maintenance first) and the [`NodeHandle`] all
//! need it, and it needs none of them.
//!
//! [`NodeHandle`]: super::NodeHandle

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::net::StopSwitch;

/// What starts and stops a node's threads. Shared by the accept thread, the
/// connection threads (LEAVE stops the node), and the [`NodeHandle`].
///
/// [`NodeHandle`]: super::NodeHandle
pub struct Control {
    /// Stops the accept loop, and wakes it (src/net/accept.rs).
    accept: Arc<StopSwitch>,
    /// Dropping this sender ends the maintenance thread's wait at once.
    maintenance_stop: Mutex<Option<Sender<()>>>,
    maintenance: Mutex<Option<JoinHandle<()>>>,
}

impl Control {
    /// The control of a node whose accept loop `accept` stops; `maintenance_stop`
    /// ends the maintenance thread's wait when dropped.
    pub fn new(accept: Arc<StopSwitch>, maintenance_stop: Sender<()>) -> Control {
        Control {
            accept,
            maintenance_stop: Mutex::new(Some(maintenance_stop)),
            maintenance: Mutex::new(None),
        }
    }

    /// Keeps the maintenance thread, to be joined when the node stops.
    pub fn keep_maintenance(&self, thread: JoinHandle<()>) {
        *self.maintenance.lock() = Some(thread);
    }

    /// Asks every thread of the node to stop; returns at once. Safe to call twice.
    pub fn stop(&self) {
        // The switch sets the accept loop's flag and connects to make `accept` return.
        if self.accept.stop() {
            self.maintenance_stop.lock().take();
        }
    }

    /// Stops the maintenance thread and waits for its current round to end.
    pub fn stop_maintenance(&self) {
        self.maintenance_stop.lock().take();
        let thread = self.maintenance.lock().take();
        if let Some(thread) = thread
            && thread.thread().id() != thread::current().id()
        {
            let _ = thread.join();
        }
    }
}
