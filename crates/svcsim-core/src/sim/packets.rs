//! Flows and packets in the record: creating them, recording a hop, tracing it, moving a
//! packet to its next place, and ending a flow with its outcome.

use std::rc::Rc;

use super::Sim;
use super::queue::Event;
use crate::dataplane::RulePath;
use crate::lb::ProbeResult;
use crate::net::Header;
use crate::record::{
    Action, FlowId, FlowRecord, Hop, Initiator, Outcome, PacketId, PacketKind, PacketRecord, Reason, TraceEntry,
    TraceLine,
};
use crate::time::Duration;
use crate::topology::{POD_LINK, Place};

/// Most packets make five hops or fewer (sent, LB, ingress node, second node, pod): reserving
/// that many up front keeps a large run's record from doubling its hop vectors.
const HOPS_HINT: usize = 5;

impl Sim {
    pub(super) fn new_flow(&mut self, initiator: Initiator, header: Header, kind: PacketKind) -> (FlowId, PacketId) {
        let flow = self.run.next_flow_id();
        let packet = self.run.next_packet_id();
        self.run.packets.push(PacketRecord { id: packet, kind, flow, hops: Vec::with_capacity(HOPS_HINT) });
        self.run.flows.push(FlowRecord {
            id: flow,
            initiator,
            start: self.now,
            header,
            request: packet,
            reply: None,
            outcome: Outcome::InFlight,
            ingress_node: None,
            pod: None,
            source_seen: None,
            app_output: None,
            probe_result: None,
            end: None,
        });
        (flow, packet)
    }

    pub(super) fn new_reply(&mut self, flow: FlowId) -> PacketId {
        let packet = self.run.next_packet_id();
        let kind = match self.run.flow(flow).initiator {
            Initiator::Client(_) => PacketKind::Reply,
            Initiator::Probe { .. } => PacketKind::ProbeReply,
        };
        self.run.packets.push(PacketRecord { id: packet, kind, flow, hops: Vec::with_capacity(HOPS_HINT) });
        self.run.flow_mut(flow).reply = Some(packet);
        packet
    }

    pub(super) fn packet(&self, id: PacketId) -> &PacketRecord {
        self.run.packet(id)
    }

    pub(super) fn flow_of(&self, packet: PacketId) -> FlowId {
        self.packet(packet).flow
    }

    pub(super) fn is_probe(&self, packet: PacketId) -> bool {
        self.packet(packet).kind.is_probe()
    }

    /// Records a hop at the current time where no rule or conntrack entry was involved (the
    /// packet leaves as it came).
    pub(super) fn hop(&mut self, packet: PacketId, at: Place, header: Header, action: Action) {
        let hop = Hop { at, time: self.now, before: header, action, rules: RulePath::default(), conntrack: None };
        self.push_hop(packet, hop);
    }

    pub(super) fn push_hop(&mut self, packet: PacketId, hop: Hop) {
        self.run.packet_mut(packet).hops.push(hop);
    }

    /// A trace line that is not about one packet hop.
    pub(super) fn trace(&mut self, entry: TraceEntry) {
        self.run.trace.push(TraceLine { time: self.now, entry });
    }

    /// Traces the hop just recorded for `packet`, except the hops of probes (their results are
    /// traced instead). The line is rendered from the hop when the trace is read.
    pub(super) fn trace_hop(&mut self, packet: PacketId) {
        if !self.is_probe(packet) {
            let hop = self.packet(packet).hops.len() as u32 - 1;
            self.trace(TraceEntry::Hop { packet, hop });
        }
    }

    fn latency(&self, from: Place, to: Place) -> Duration {
        let (from_g, from_extra) = self.graph_place(from);
        let (to_g, to_extra) = self.graph_place(to);
        if from_g == to_g { from_extra + to_extra } else { self.topology.latency(from_g, to_g) + from_extra + to_extra }
    }

    /// The place of the graph a place hangs off, and the extra hop to it (a pod's veth).
    fn graph_place(&self, place: Place) -> (Place, Duration) {
        match place {
            Place::Pod(p) => (Place::Node(self.cluster.pod(p).node), POD_LINK),
            Place::Backend(b) => match self.backends[b].1 {
                Some(node) => (Place::Node(node), POD_LINK),
                None => (Place::Internet, Duration::ZERO),
            },
            other => (other, Duration::ZERO),
        }
    }

    /// Sends `packet` from `from` to `to`, arriving after the link's latency.
    pub(super) fn forward(&mut self, packet: PacketId, from: Place, to: Place, header: Header) {
        let at = self.now + self.latency(from, to);
        self.schedule(at, Event::Arrive { packet, at: to, header });
    }

    pub(super) fn end_flow(&mut self, packet: PacketId, outcome: Outcome) {
        let flow = self.flow_of(packet);
        let now = self.now;
        let f = self.run.flow_mut(flow);
        if f.outcome == Outcome::InFlight {
            f.outcome = outcome;
            f.end = Some(now);
        }
    }

    /// Drops `packet` at `at` for `reason`, with the rules that decided.
    pub(super) fn drop_packet(&mut self, packet: PacketId, at: Place, header: Header, reason: Reason, rules: RulePath) {
        self.dsr_options.remove(&packet);
        let reason = Rc::new(reason);
        let action = Action::Dropped(Rc::clone(&reason));
        self.push_hop(packet, Hop { at, time: self.now, before: header, action, rules, conntrack: None });
        self.trace_hop(packet);
        self.end_flow(packet, Outcome::Dropped(reason));
        // A dropped probe is settled by its ProbeTimeout event.
    }

    /// Refuses `packet` at `at` for `reason`; a refused probe fails when the refusal gets back
    /// to the load balancer.
    pub(super) fn reject_packet(
        &mut self,
        packet: PacketId,
        at: Place,
        header: Header,
        reason: Reason,
        rules: RulePath,
    ) {
        let reason = Rc::new(reason);
        let action = Action::Rejected(Rc::clone(&reason));
        self.push_hop(packet, Hop { at, time: self.now, before: header, action, rules, conntrack: None });
        self.trace_hop(packet);
        self.end_flow(packet, Outcome::Rejected(reason));
        if self.is_probe(packet) {
            let flow = self.flow_of(packet);
            let back = self.latency(at, Place::Lb);
            self.pending_probe.insert(flow, ProbeResult::Refused);
            self.schedule(self.now + back, Event::ProbeAnswered { flow });
        }
    }
}
