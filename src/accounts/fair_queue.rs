//! A fair queue for slow work: a few places, first come first served, and no client
//! address holding more than its share of the queue.
//!
//! Why it exists: the [`HashGate`](super::password::HashGate) lets only a few password
//! hashes run at once (each takes 19 MiB and a core for ~25 ms). The plain version, a
//! counting semaphore, is unfair twice over. It serves waiters in no particular order,
//! so a newcomer can overtake someone who has waited for seconds. And it counts
//! attempts, not clients: two hundred connections from one address each waiting for
//! the hash put a real user from elsewhere behind all two hundred (18 s, measured).
//!
//! So this queue does two things:
//! - **tickets**: [`FairQueue::run`] hands out numbered tickets and starts them in
//!   order, at most `places` at a time, like the ticket machine at a deli counter;
//! - **shares**: [`FairQueue::wait_turn`] lets one address have at most `places`
//!   attempts holding a turn at once (queued or running). Its other attempts wait
//!   in their own connection threads, outside the queue, each woken alone when a turn of
//!   that address comes free.
//!
//! With one flooding address, a hash from anywhere else therefore waits for at most
//! `places` hashes ahead of it: about one hash's time. With many flooding addresses,
//! each gets an equal share. An address alone (a classroom behind one NAT, a
//! benchmark) still uses every place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// The queue: `places` pieces of work at a time, in ticket order.
pub struct FairQueue {
    state: Mutex<State>,
    /// Signalled when a piece of work ends: the next ticket may start.
    ended: Condvar,
    places: usize,
}

struct State {
    /// Tickets handed out so far; the next one gets this number.
    issued: u64,
    /// Pieces of work that have ended. Ticket `t` may start once `t < ended + places`:
    /// tickets start in order, and at most `places` are running at any time.
    ended: u64,
    /// The addresses that hold a turn or wait for one (and only those: the map holds at
    /// most one entry per connection thread).
    shares: HashMap<IpAddr, Share>,
}

struct Share {
    /// Turns held by this address (work queued or running).
    held: usize,
    /// Connection threads of this address waiting for a turn.
    waiting: usize,
    /// Wakes one of them when a turn of this address comes free. One condition variable
    /// per address, so that a turn given back wakes one thread of that address, not
    /// every waiting thread of every address.
    freed: Arc<Condvar>,
}

impl FairQueue {
    /// A queue with `places` places (at least one).
    pub fn new(places: usize) -> FairQueue {
        FairQueue {
            state: Mutex::new(State {
                issued: 0,
                ended: 0,
                shares: HashMap::new(),
            }),
            ended: Condvar::new(),
            places: places.max(1),
        }
    }

    /// Waits until `from` holds fewer than `places` turns, and takes one; it is given
    /// back when the [`Turn`] is dropped. Take the turn before [`FairQueue::run`].
    pub fn wait_turn(&self, from: IpAddr) -> Turn<'_> {
        let mut state = self.state.lock();
        loop {
            let share = state.shares.entry(from).or_insert_with(|| Share {
                held: 0,
                waiting: 0,
                freed: Arc::new(Condvar::new()),
            });
            if share.held < self.places {
                share.held += 1;
                return Turn { queue: self, from };
            }
            share.waiting += 1;
            let freed = Arc::clone(&share.freed);
            freed.wait(&mut state);
            // The entry is still there: it is removed only when nobody waits.
            if let Some(share) = state.shares.get_mut(&from) {
                share.waiting -= 1;
            }
        }
    }

    /// Runs `work` once its ticket's turn comes (tickets start in the order they were
    /// taken, at most `places` at once).
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        {
            let mut state = self.state.lock();
            let ticket = state.issued;
            state.issued += 1;
            while ticket >= state.ended + self.places as u64 {
                self.ended.wait(&mut state);
            }
        }
        // The place is given back even if `work` panics.
        struct End<'a>(&'a FairQueue);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.state.lock().ended += 1;
                self.0.ended.notify_all();
            }
        }
        let _end = End(self);
        work()
    }
}

/// One of an address's turns in the queue (see [`FairQueue::wait_turn`]).
#[must_use = "the turn is given back as soon as it is dropped"]
pub struct Turn<'a> {
    queue: &'a FairQueue,
    from: IpAddr,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.queue.state.lock();
        let Some(share) = state.shares.get_mut(&self.from) else {
            return;
        };
        share.held -= 1;
        if share.waiting > 0 {
            share.freed.notify_one();
        } else if share.held == 0 {
            state.shares.remove(&self.from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn at_most_places_run_at_once_and_every_turn_is_given_back() {
        let queue = FairQueue::new(2);
        let inside = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for i in 0..16u8 {
                let (queue, inside, peak) = (&queue, &inside, &peak);
                scope.spawn(move || {
                    for _ in 0..20 {
                        let _turn = queue.wait_turn(IpAddr::from([10, 0, 0, i % 3]));
                        queue.run(|| {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert!(queue.state.lock().shares.is_empty(), "no turn left behind");
    }

    #[test]
    fn a_flooding_address_holds_at_most_its_share_of_turns() {
        let queue = FairQueue::new(2);
        let flood = IpAddr::from([10, 0, 0, 1]);
        let held = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..40 {
                scope.spawn(|| {
                    let _turn = queue.wait_turn(flood);
                    let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(1));
                    held.fetch_sub(1, Ordering::SeqCst);
                });
            }
            // Meanwhile another address is never kept waiting for a turn.
            for _ in 0..20 {
                drop(queue.wait_turn(IpAddr::from([10, 0, 0, 2])));
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn tickets_start_in_the_order_they_were_taken() {
        let queue = FairQueue::new(1);
        let order = Mutex::new(Vec::new());
        let (holding, release) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|scope| {
            // Hold the only place while ten tickets are taken one after the other.
            scope.spawn(|| {
                queue.run(|| {
                    holding.wait();
                    release.wait();
                })
            });
            holding.wait();
            for i in 0..10 {
                let (queue, order) = (&queue, &order);
                scope.spawn(move || queue.run(|| order.lock().push(i)));
                // The next thread takes its ticket only after this one has.
                while queue.state.lock().issued < i + 2 {
                    std::thread::yield_now();
                }
            }
            release.wait();
        });
        assert_eq!(*order.lock(), (0..10).collect::<Vec<_>>());
    }
}
