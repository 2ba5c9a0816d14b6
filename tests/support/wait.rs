//! Waiting for something that other threads or processes make happen: poll it, with a
//! deadline. Never a fixed sleep: a sleep long enough for a loaded machine is wasted on
//! an idle one, and a sleep short enough for an idle one fails on a loaded one.

use std::thread;
use std::time::{Duration, Instant};

/// The longest pause between two polls: a check that comes true is seen within this.
const LONGEST_PAUSE: Duration = Duration::from_millis(20);

/// What a check returns: `true`, `Some(_)` or `Ok(_)` once the awaited state is there.
pub trait Outcome {
    fn is_done(&self) -> bool;
}

impl Outcome for bool {
    fn is_done(&self) -> bool {
        *self
    }
}

/// A check that hands back what it waited for: `wait_until(deadline, || child.try_wait().unwrap())`.
impl<T> Outcome for Option<T> {
    fn is_done(&self) -> bool {
        self.is_some()
    }
}

/// A check that says why it is not done yet (`Err(reason)`), so that a test that gives
/// up can say why: `wait_until(deadline, || check_ring(..)).expect("the ring is stable")`.
impl<T, E> Outcome for Result<T, E> {
    fn is_done(&self) -> bool {
        self.is_ok()
    }
}

/// Runs `check` until it is done or `timeout` has passed, and returns its last outcome:
/// `assert!(wait_until(deadline, || server.shared.counters.live() == 0))`.
///
/// The pause between polls starts at 1 ms (most waits are short) and doubles up to
/// [`LONGEST_PAUSE`], so that a long wait for an expensive check (a chord ring asked
/// over TCP, node by node) does not take the processor from the threads it waits for.
pub fn wait_until<T: Outcome>(timeout: Duration, mut check: impl FnMut() -> T) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let outcome = check();
        let now = Instant::now();
        if outcome.is_done() || now >= deadline {
            return outcome;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}
