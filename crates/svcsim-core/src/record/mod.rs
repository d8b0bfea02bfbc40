//! The recorded run: every packet with its hops, every request's outcome, every probe, the
//! rotation and pod changes, and the trace — each fact stored once, typed, and rendered only
//! when read (`trace`), with the names it needs (`names`).

mod hop;
mod names;
mod trace;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use hop::{Action, FlowId, Hop, Outcome, PacketId, PacketKind, PacketRecord, Reason, packet_label};
pub use names::Names;
pub use trace::{ClusterLine, HopProse, NodeLine, PodLine, ProbeLine, SyncLine, TraceEntry, TraceLine};

use crate::cluster::{NodeId, PodId, ServiceId};
use crate::lb::{ProbeMetric, ProbeResult, ProbeStatus};
use crate::net::{Header, IpFamily, SockAddr};
use crate::scenario::ClientId;
use crate::time::Instant;
use crate::topology::Place;

/// Who started a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// A scenario client.
    Client(ClientId),
    /// The cloud LB probing `node` for Service `svc`, over `family`.
    Probe { svc: ServiceId, node: NodeId, family: IpFamily },
}

/// One request or probe, end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub id: FlowId,
    pub initiator: Initiator,
    pub start: Instant,
    /// The first packet as the initiator sent it.
    pub header: Header,
    pub request: PacketId,
    pub reply: Option<PacketId>,
    pub outcome: Outcome,
    /// The node the request first entered the cluster on.
    pub ingress_node: Option<NodeId>,
    /// The pod that served it.
    pub pod: Option<PodId>,
    /// The source address as the pod (or backend) saw it.
    pub source_seen: Option<IpAddr>,
    /// What the app printed (or the health server answered).
    pub app_output: Option<String>,
    /// For probes: the result.
    pub probe_result: Option<ProbeResult>,
    /// When the outcome was decided: the answer or refusal reached the initiator, the packet was
    /// dropped, or (for a probe) the load balancer recorded its result.
    pub end: Option<Instant>,
}

/// A node leaving or rejoining the rotation of a Service's load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    pub time: Instant,
    pub svc: ServiceId,
    /// The family of the load balancer's frontend (one per family on a dual-stack Azure Service).
    pub family: IpFamily,
    pub node: NodeId,
    pub in_rotation: bool,
    /// Why it left, e.g. "probe HTTP 503 ×2".
    pub reason: Option<String>,
}

/// A change of a pod or node the UI draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateEvent {
    /// The pod exists from now on (scheduled, with its IP).
    PodCreated(PodId),
    /// The pod's Ready condition (as endpoints see it: ready and not terminating).
    PodReady(PodId, bool),
    /// The pod is terminating.
    PodTerminating(PodId),
    /// The pod is gone.
    PodGone(PodId),
    NodeReady(NodeId, bool),
    KubeProxyHealthy(NodeId, bool),
}

/// Everything a run recorded so far.
///
/// `flows[i]` is flow `flow_base + i` and `packets[i]` packet `packet_base + i`: an open-ended run
/// may forget its oldest history ([`Run::forget_before`]); use [`Run::flow`] and [`Run::packet`].
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub packets: Vec<PacketRecord>,
    pub flows: Vec<FlowRecord>,
    /// Ids below these were forgotten.
    pub flow_base: u32,
    pub packet_base: u32,
    pub trace: Vec<TraceLine>,
    pub names: Names,
    /// What programs the nodes, as [`crate::dataplane::Dataplane::describe`] names it.
    pub dataplane: String,
    /// Probe results of every load balancer, per minute and node: the Health Probe Status.
    pub probe_metric: ProbeMetric,
    /// Every time a node left or rejoined an LB's rotation.
    pub rotation: Vec<RotationEvent>,
    /// Each LB's backends and whether they were in rotation at t = 0.
    pub initial_rotation: BTreeMap<crate::lb::Frontend, Vec<(NodeId, bool)>>,
    /// Pods and nodes changing, in time order (initial pods are created at t = 0).
    pub states: Vec<(Instant, StateEvent)>,
    /// How many events the loop processed.
    pub events: u64,
}

impl Run {
    /// Flow `id`.
    ///
    /// # Panics
    /// If the flow was forgotten or does not exist yet.
    pub fn flow(&self, id: FlowId) -> &FlowRecord {
        &self.flows[(id.0 - self.flow_base) as usize]
    }
    pub fn flow_mut(&mut self, id: FlowId) -> &mut FlowRecord {
        &mut self.flows[(id.0 - self.flow_base) as usize]
    }
    /// Packet `id`.
    ///
    /// # Panics
    /// If the packet was forgotten or does not exist yet.
    pub fn packet(&self, id: PacketId) -> &PacketRecord {
        &self.packets[(id.0 - self.packet_base) as usize]
    }
    pub fn packet_mut(&mut self, id: PacketId) -> &mut PacketRecord {
        &mut self.packets[(id.0 - self.packet_base) as usize]
    }
    /// Flow `id`, if it exists and was not forgotten.
    pub fn get_flow(&self, id: FlowId) -> Option<&FlowRecord> {
        id.0.checked_sub(self.flow_base).and_then(|i| self.flows.get(i as usize))
    }
    /// The id the next flow gets.
    pub fn next_flow_id(&self) -> FlowId {
        FlowId(self.flow_base + self.flows.len() as u32)
    }
    /// The id the next packet gets.
    pub fn next_packet_id(&self) -> PacketId {
        PacketId(self.packet_base + self.packets.len() as u32)
    }
    /// The packets of a flow, request first.
    pub fn packets_of<'a>(&'a self, flow: &FlowRecord) -> impl Iterator<Item = &'a PacketRecord> + 'a {
        std::iter::once(flow.request).chain(flow.reply).map(|p| self.packet(p))
    }

    /// Forgets finished flows that started before `cutoff`, their packets, trace lines before
    /// `cutoff` and probe windows before its minute, so an open-ended run keeps bounded memory.
    /// Pod and node states and rotation changes are kept (they are few, and the drawing of any
    /// later time needs them). Flows still in flight are kept whatever their age.
    pub fn forget_before(&mut self, cutoff: Instant) {
        let k = self.flows.iter().position(|f| f.start >= cutoff || f.end.is_none()).unwrap_or(self.flows.len());
        self.flows.drain(..k);
        self.flow_base += k as u32;
        let first_packet = self.flows.first().map_or(self.next_packet_id().0, |f| f.request.0);
        let j = (first_packet - self.packet_base) as usize;
        self.packets.drain(..j);
        self.packet_base = first_packet;
        let base = self.packet_base;
        self.trace.retain(|l| l.time >= cutoff && l.packet().is_none_or(|p| p.0 >= base));
        self.probe_metric.forget_before(cutoff.minute());
    }

    /// The places a flow's reply crossed, in order, from the server to where it ended (the
    /// client, or where it was dropped); empty when there was no reply. Under kube-proxy or
    /// Cilium's SNAT a reply through another node lists that node; under DSR it goes from the
    /// backend's node to the client.
    pub fn reply_path(&self, flow: &FlowRecord) -> Vec<Place> {
        let mut path: Vec<Place> = Vec::new();
        for h in flow.reply.map(|p| self.packet(p).hops.as_slice()).unwrap_or_default() {
            if path.last() != Some(&h.at) {
                path.push(h.at);
            }
        }
        path
    }

    /// The address the client's app asked to connect to: the flow's destination, or the
    /// Service a socket-LB `connect()` was translated from.
    pub fn asked(&self, flow: &FlowRecord) -> SockAddr {
        match self.packet(flow.request).hops.first().map(|h| &h.action) {
            Some(Action::Connected { service }) => *service,
            _ => flow.header.dst,
        }
    }

    /// Client requests (not probes), in the order they were sent.
    pub fn requests(&self) -> impl Iterator<Item = &FlowRecord> {
        self.flows.iter().filter(|f| matches!(f.initiator, Initiator::Client(_)))
    }

    /// How many requests each pod answered.
    pub fn hits_per_pod(&self) -> BTreeMap<PodId, usize> {
        let mut hits = BTreeMap::new();
        for f in self.requests().filter(|f| f.outcome == Outcome::Answered) {
            if let Some(p) = f.pod {
                *hits.entry(p).or_default() += 1;
            }
        }
        hits
    }

    /// The source addresses each pod saw, with how often.
    pub fn sources_seen(&self) -> BTreeMap<PodId, BTreeMap<IpAddr, usize>> {
        let mut seen: BTreeMap<PodId, BTreeMap<IpAddr, usize>> = BTreeMap::new();
        for f in self.requests() {
            if let (Some(p), Some(src)) = (f.pod, f.source_seen) {
                *seen.entry(p).or_default().entry(src).or_default() += 1;
            }
        }
        seen
    }

    /// The Health Probe Status over minutes `from..to`, all load balancers (`docs/fidelity.md#health-probe-status`).
    pub fn probe_status(&self, minutes: std::ops::Range<u64>) -> Option<ProbeStatus> {
        self.probe_metric.status(minutes, None)
    }

    /// The same over the probes of one family only: a dual-stack Service's IPv6 frontend apart.
    pub fn probe_status_of(&self, minutes: std::ops::Range<u64>, family: IpFamily) -> Option<ProbeStatus> {
        self.probe_metric.status(minutes, Some(family))
    }

    /// The minutes that have probes.
    pub fn probe_minutes(&self) -> Vec<u64> {
        self.probe_metric.minutes()
    }
}
