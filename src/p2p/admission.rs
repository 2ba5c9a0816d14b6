//! Who a serving peer lets in: connections still sending their request, and downloads.
//!
//! Why two limits and not one: a real downloader sends its request line the moment it
//! connects, so a connection that has not sent a whole line yet is either on a slow
//! link or dawdling on purpose (slowloris). It costs a thread and a socket, but no disk
//! and no bandwidth. A download costs both. With one limit for the two, twelve
//! connections sending a byte every 5 s filled every place and each real download was
//! turned away. So a [`PeerServer`](super::PeerServer) counts them apart:
//!
//! - **waiting**: connected, request line not yet read. At most `max_waiting` at once
//!   (64 by default), and each for at most the request deadline (10 s, see
//!   [`DeadlineReader`](super::timing::DeadlineReader)): a dawdler is answered
//!   `ERR TIMEOUT` and closed, and can never take a download's place. When all
//!   `max_waiting` places are taken, a new connection still gets one: the connection
//!   that has waited longest is closed to make room (see [`Admission::admit`]);
//! - **downloads**: a [`Slot`] each, at most `max_concurrent` (4 by default), taken only
//!   once the request is read and the file is open, held to the last byte;
//! - in between, connections whose request was read and is being refused (`BUSY`,
//!   `NOT_FOUND`: at most a second of lingering close). [`EXTRA_CONNECTIONS`] places
//!   are kept for them, so that the total number of threads stays bounded.
//!
//! A connection over the total is closed at once by the accept thread, without a
//! thread of its own.

use std::collections::{HashSet, VecDeque};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Connections beyond the waiting ones and the downloads, for requests being refused.
pub const EXTRA_CONNECTIONS: usize = 8;

/// The limits of one serving peer, and the places taken.
pub struct Admission {
    max_waiting: usize,
    max_downloads: usize,
    /// Downloads holding a slot (see [`Slot`]). An atomic rather than a lock: taking a
    /// slot is one compare-and-swap, and nothing else needs to change with it.
    transfers: AtomicUsize,
    /// The places taken. A `parking_lot` mutex, held for a set insert or remove (or a
    /// `shutdown`, which never waits) and never across I/O.
    places: Mutex<Places>,
}

/// The connections that hold a place, and those among them still waiting.
#[derive(Default)]
struct Places {
    /// The ids of the connections that hold a place (ids come from the accept loop,
    /// in arrival order). A connection gives its own back when it ends ([`Admitted`]'s
    /// `Drop`), or loses it when it is closed to make room.
    taken: HashSet<u64>,
    /// The connections whose request line has not been read yet, oldest first, with a
    /// handle on each socket to close it to make room. At most `max_waiting`.
    waiting: VecDeque<(u64, Arc<TcpStream>)>,
}

impl Places {
    /// Stops counting connection `id` as waiting. Returns whether it was waiting.
    fn stop_waiting(&mut self, id: u64) -> bool {
        let Some(at) = self.waiting.iter().position(|(waiting, _)| *waiting == id) else {
            return false;
        };
        self.waiting.remove(at);
        true
    }

    /// Closes the connection that has waited longest for its request line.
    ///
    /// Its thread is blocked reading the socket: a `shutdown` on our handle closes the
    /// connection and makes that read return at once; the thread then finds that it no
    /// longer counts as waiting ([`Admitted::request_read`]) and ends without
    /// answering. Its place is free at once: a thread with nothing left to do but end
    /// does not count against the total (if it did, a burst of new connections would
    /// find the total full of them).
    fn close_oldest_waiting(&mut self) {
        if let Some((id, stream)) = self.waiting.pop_front() {
            self.taken.remove(&id);
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Admission {
    pub fn new(max_waiting: usize, max_downloads: usize) -> Admission {
        Admission {
            max_waiting,
            max_downloads,
            transfers: AtomicUsize::new(0),
            places: Mutex::new(Places::default()),
        }
    }

    /// Admits a new connection as *waiting* for its request, or refuses it (`None`) if
    /// all connections are at their limit.
    ///
    /// If the waiting places are all taken, the connection that has waited longest is
    /// closed to make room, as web servers do. Why the oldest: it has had the longest to
    /// send one short line, and a real downloader sends it within milliseconds. So
    /// however many connections dawdle, and however often they reconnect, they only
    /// ever push each other out, and a real download still gets its turn.
    ///
    /// `id` is the connection's number from the accept loop: they come in arrival order.
    pub fn admit(self: &Arc<Admission>, id: u64, stream: &Arc<TcpStream>) -> Option<Admitted> {
        let mut places = self.places.lock();
        if places.waiting.len() >= self.max_waiting {
            places.close_oldest_waiting();
        }
        let total = self.max_waiting + self.max_downloads + EXTRA_CONNECTIONS;
        if places.taken.len() >= total {
            return None;
        }
        places.taken.insert(id);
        places.waiting.push_back((id, Arc::clone(stream)));
        Some(Admitted {
            admission: Arc::clone(self),
            id,
        })
    }

    /// Connections that hold a place (waiting, downloading, or being refused).
    #[cfg(test)]
    pub fn places(&self) -> usize {
        self.places.lock().taken.len()
    }

    /// Connections that have not sent a whole request line yet.
    pub fn waiting(&self) -> usize {
        self.places.lock().waiting.len()
    }

    /// Downloads holding a slot.
    pub fn downloads(&self) -> usize {
        self.transfers.load(Ordering::SeqCst)
    }

    /// Takes a download slot, if one is free.
    pub fn take_slot(&self) -> Option<Slot<'_>> {
        let max = self.max_downloads;
        self.transfers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self))
    }
}

/// A live connection's place; given back when dropped, however the connection ends.
/// It owns a handle on the [`Admission`], so that it can move into the connection's
/// thread.
pub struct Admitted {
    admission: Arc<Admission>,
    id: u64,
}

impl Admitted {
    /// The request line has been read (or has failed): the connection no longer counts
    /// as waiting. Returns `false` if it no longer counted as waiting: it was closed
    /// meanwhile to make room for a newer connection (or by shutdown), and there is no
    /// one left to answer.
    pub fn request_read(&mut self) -> bool {
        self.admission.places.lock().stop_waiting(self.id)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut places = self.admission.places.lock();
        places.taken.remove(&self.id);
        places.stop_waiting(self.id);
    }
}

/// A download slot; given back when dropped, however the download ends.
pub struct Slot<'a>(&'a Admission);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.transfers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read};
    use std::net::TcpListener;
    use std::time::Duration;

    fn socket() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (Arc::new(listener.accept().unwrap().0), client)
    }

    #[test]
    fn slots_are_limited_and_given_back() {
        let admission = Admission::new(4, 2);
        let a = admission.take_slot().unwrap();
        let b = admission.take_slot().unwrap();
        assert!(admission.take_slot().is_none());
        drop(a);
        let c = admission.take_slot().unwrap();
        assert_eq!(admission.downloads(), 2);
        drop((b, c));
        assert_eq!(admission.downloads(), 0);
    }

    #[test]
    fn waiting_connections_leave_their_place_once_their_request_is_read() {
        let admission = Arc::new(Admission::new(2, 1));
        let (stream, _client) = socket();
        let mut first = admission.admit(1, &stream).unwrap();
        let second = admission.admit(2, &stream).unwrap();
        assert_eq!(admission.waiting(), 2);
        // Once a request is read, its place among the waiting is free (once).
        assert!(first.request_read());
        assert!(!first.request_read());
        assert_eq!(admission.waiting(), 1);
        drop(second);
        assert_eq!(admission.waiting(), 0);
        // 2 waiting + 1 download + the extra places: the total is bounded too.
        let mut places: Vec<Admitted> = Vec::new();
        for id in 3..(3 + 1 + EXTRA_CONNECTIONS + 1) as u64 {
            let mut place = admission.admit(id, &stream).unwrap();
            assert!(place.request_read());
            places.push(place);
        }
        assert!(
            admission.admit(100, &stream).is_none(),
            "every place is taken"
        );
        drop(first);
        assert!(admission.admit(101, &stream).is_some());
        drop(places);
        assert_eq!(admission.places(), 0);
    }

    #[test]
    fn when_every_waiting_place_is_taken_the_oldest_waiting_connection_is_closed() {
        let admission = Arc::new(Admission::new(2, 1));
        let (one, mut one_client) = socket();
        let (two, two_client) = socket();
        let (three, _three_client) = socket();
        let mut first = admission.admit(1, &one).unwrap();
        let mut second = admission.admit(2, &two).unwrap();
        let mut third = admission.admit(3, &three).unwrap();
        assert_eq!(admission.waiting(), 2);
        // The first had waited longest: its connection is closed, as both ends see,
        // and its thread learns that it has no one to answer.
        one_client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(one_client.read(&mut [0u8; 1]).unwrap(), 0);
        assert_eq!((&*one).read(&mut [0u8; 1]).unwrap(), 0);
        assert!(!first.request_read());
        // The second is still open, and keeps its place.
        two_client.set_nonblocking(true).unwrap();
        let still_open = (&two_client).read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(still_open.kind(), ErrorKind::WouldBlock);
        assert!(second.request_read());
        assert!(third.request_read());
        assert_eq!(admission.waiting(), 0);
        assert_eq!(admission.places(), 2, "the first lost its place at once");
        drop((first, second, third));
        assert_eq!(admission.places(), 0);
    }
}
