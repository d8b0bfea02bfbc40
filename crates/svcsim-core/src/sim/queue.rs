//! The event queue: events totally ordered by (time, seq), seq unique and increasing, so the
//! order never depends on an event's contents.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::cluster::{NodeId, PodId};
use crate::net::Header;
use crate::record::{FlowId, PacketId};
use crate::scenario::ClientId;
use crate::time::Instant;
use crate::topology::Place;

/// Everything that can happen in a run.
#[derive(Debug, Clone)]
pub(super) enum Event {
    /// A client sends its next request.
    Send { client: ClientId },
    /// A packet reaches a place.
    Arrive { packet: PacketId, at: Place, header: Header },
    /// The load balancer probes a node for a Service.
    Probe { lb: crate::lb::Frontend, node: NodeId },
    /// A probe's answer did not come in time.
    ProbeTimeout { flow: FlowId },
    /// A refusal reached the load balancer.
    ProbeAnswered { flow: FlowId },
    /// A timeline change, by index into the scenario's changes.
    Apply { change: usize },
    /// A node's service proxy syncs.
    Sync { node: NodeId },
    /// A terminating pod is gone.
    PodGone { pod: PodId },
    /// Periodic expiry of conntrack and affinity entries.
    Sweep,
}

/// A queued event. IMPORTANT: ordering is by (time, seq) only, and seq is unique, so the order
/// is total and independent of the event's contents.
#[derive(Debug)]
struct Queued {
    time: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// The pending events of a run.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    seq: u64,
    heap: BinaryHeap<Reverse<Queued>>,
}

impl EventQueue {
    pub fn schedule(&mut self, time: Instant, event: Event) {
        self.seq += 1;
        self.heap.push(Reverse(Queued { time, seq: self.seq, event }));
    }
    /// The next event at or before `until`, if any.
    pub fn pop_until(&mut self, until: Instant) -> Option<(Instant, Event)> {
        if self.heap.peek()?.0.time > until {
            return None;
        }
        let Reverse(q) = self.heap.pop().expect("peeked");
        Some((q.time, q.event))
    }
}
