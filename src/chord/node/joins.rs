//! One id, one node: refusing a second node with an id already in the ring, even when
//! both join at the same moment.
//!
//! Why it needs a rule of its own: a joining node asks the ring for the successor of
//! its id, and refuses to join if the answer is a node with that very id. But two
//! nodes with the same id that join at once both ask before either is in the ring,
//! and both hear "not taken". Both then go to the same node, the successor of that
//! id: so that node decides. A joining node first sends it `JOIN <id> <addr>`; the
//! successor reserves the id for that address for [`JOIN_HOLD`], and refuses the same
//! id from any other address while it is reserved or is its predecessor's. NOTIFY
//! obeys the same reservation. The same address may always come back (a node that
//! crashed and restarts).

use std::time::{Duration, Instant};

use super::Node;
use crate::chord::routing::NodeRef;

/// How long a JOIN reserves an id: far longer than the few rounds a join takes to
/// show up as a NOTIFY.
pub const JOIN_HOLD: Duration = Duration::from_secs(10);

impl Node {
    /// JOIN from `candidate`, about to become our predecessor: reserves its id for it,
    /// or says which node already has that id.
    pub fn reserve_join(&self, candidate: NodeRef) -> Result<(), String> {
        if candidate.id == self.me.id {
            return Err(self.me.to_string());
        }
        let now = Instant::now();
        let mut state = self.state.lock();
        state.joining.retain(|_, (_, until)| *until > now);
        if let Some(p) = state.predecessor
            && p.id == candidate.id
            && p.addr != candidate.addr
        {
            return Err(p.to_string());
        }
        if let Some((addr, _)) = state.joining.get(&candidate.id)
            && *addr != candidate.addr
        {
            return Err(format!("{}@{addr} (joining)", candidate.id));
        }
        state
            .joining
            .insert(candidate.id, (candidate.addr, now + JOIN_HOLD));
        Ok(())
    }

    /// Whether `candidate`'s id is reserved for another address (NOTIFY ignores it).
    pub(super) fn id_reserved_for_another(&self, state: &super::State, candidate: NodeRef) -> bool {
        state
            .joining
            .get(&candidate.id)
            .is_some_and(|(addr, until)| *addr != candidate.addr && *until > Instant::now())
    }
}
