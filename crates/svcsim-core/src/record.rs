//! The recorded run: every packet with its hops, every request's outcome, every probe, and the
//! text trace — one line per event — that golden tests, the CLI and the UI share.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::cluster::{NodeId, PodId, ServiceId};
use crate::conntrack::Entry;
use crate::kube_proxy::RuleHit;
use crate::lb::{ProbeMetric, ProbeResult};
use crate::net::Header;
use crate::time::Instant;
use crate::topology::Place;

/// Index of a packet in [`Run::packets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(pub u32);
/// Index of a flow (one request, or one probe) in [`Run::flows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u32);

/// What a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// A client's request (the first packet of its connection).
    Request,
    /// The server's reply.
    Reply,
    /// A load balancer health probe.
    Probe,
    /// The answer to a probe.
    ProbeReply,
}

impl PacketKind {
    /// True for packets travelling from the connection's initiator.
    pub fn is_forward(self) -> bool {
        matches!(self, PacketKind::Request | PacketKind::Probe)
    }
    fn tag(self) -> &'static str {
        match self {
            PacketKind::Request => "req",
            PacketKind::Reply => "rep",
            PacketKind::Probe => "prb",
            PacketKind::ProbeReply => "prr",
        }
    }
}

/// What happened to a packet at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Left its origin.
    Sent,
    /// The cloud LB chose a backend node among `in_rotation` of `total`, hashing the source IP
    /// (ClientIP affinity) or the 5-tuple.
    Balanced { node: NodeId, in_rotation: u32, total: u32, by_source_ip: bool },
    /// A node's netfilter evaluated the first packet; `nat` is true if DNAT or SNAT applied.
    Netfilter { nat: bool },
    /// A node translated a reply back from its conntrack entry.
    UnNat,
    /// Passed through a node without a rule acting on it.
    Forwarded,
    /// Delivered to the app in a pod, which answered with `output`.
    App { pod: PodId, output: String },
    /// Answered by a kube-proxy health server on a node.
    HealthServer { status: u16 },
    /// Answered by an EndpointSlice address that is no pod (a plain echo server).
    Backend { output: String },
    /// Reached the connection's initiator.
    Delivered,
    /// Dropped silently, with the rule comment or LB condition that decided it.
    Dropped { reason: String },
    /// Refused, with the reason.
    Rejected { reason: String },
}

/// One hop of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub at: Place,
    pub time: Instant,
    /// The header as the packet arrived.
    pub before: Header,
    /// The header as it left (equal to `before` when nothing rewrote it).
    pub after: Header,
    pub action: Action,
    /// The iptables rules that matched, in order.
    pub rules: Vec<RuleHit>,
    /// The conntrack entry created or used here (boxed: most hops have none).
    pub conntrack: Option<Box<Entry>>,
}

/// One packet and its journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRecord {
    pub id: PacketId,
    pub kind: PacketKind,
    pub flow: FlowId,
    pub hops: Vec<Hop>,
}

/// How a request ended, as the client experienced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still travelling at the end of the recorded time.
    InFlight,
    /// The client got the app's answer.
    Answered,
    /// Silently dropped: the client times out.
    Dropped { reason: String },
    /// Refused: the client gets an error at once.
    Rejected { reason: String },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::InFlight => "in-flight",
            Outcome::Answered => "answered",
            Outcome::Dropped { .. } => "dropped",
            Outcome::Rejected { .. } => "rejected",
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Dropped { reason } | Outcome::Rejected { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Who started a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// A scenario client, by index.
    Client(u32),
    /// The cloud LB probing `node` for Service `svc`.
    Probe { svc: ServiceId, node: NodeId },
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
    /// The source address as the pod saw it.
    pub source_seen: Option<std::net::Ipv4Addr>,
    /// What the app printed.
    pub app_output: Option<String>,
    /// For probes: the result.
    pub probe_result: Option<ProbeResult>,
    /// When the outcome was decided: the answer or refusal reached the initiator, the packet was
    /// dropped, or (for a probe) the load balancer recorded its result.
    pub end: Option<Instant>,
}

/// What a trace line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEntry {
    /// A packet's hop, rendered from the hop itself so the record holds each fact once.
    Hop { packet: PacketId, hop: u32 },
    /// Anything else: the cluster at the start, changes, syncs, probe results.
    Note(Box<str>),
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub time: Instant,
    pub entry: TraceEntry,
}

impl TraceLine {
    /// The packet the line is about, if any (for the UI's click-through).
    pub fn packet(&self) -> Option<PacketId> {
        match self.entry {
            TraceEntry::Hop { packet, .. } => Some(packet),
            TraceEntry::Note(_) => None,
        }
    }
}

/// The names trace lines are rendered with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub clients: Vec<String>,
    pub nodes: Vec<String>,
    /// Every pod that ever existed, by [`PodId`].
    pub pods: Vec<String>,
    /// EndpointSlice addresses that are no pod, by backend index.
    pub backends: Vec<Ipv4Addr>,
}

impl Names {
    /// A place as the trace names it: `laptop`, `node-0`, `pod web-…`, `lb`.
    pub fn place(&self, place: Place) -> String {
        match place {
            Place::Client(c) => self.clients[c as usize].clone(),
            Place::Node(n) => self.nodes[n.0 as usize].clone(),
            Place::Pod(p) => format!("pod {}", self.pods[p.0 as usize]),
            Place::Backend(b) => format!("backend {}", self.backends[b as usize]),
            other => other.to_string(),
        }
    }
}

/// A node leaving or rejoining the rotation of a Service's load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    pub time: Instant,
    pub svc: ServiceId,
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
    /// The Health Probe Status metric per LoadBalancer Service.
    pub probe_metric: BTreeMap<ServiceId, ProbeMetric>,
    /// Every time a node left or rejoined an LB's rotation.
    pub rotation: Vec<RotationEvent>,
    /// Each LB's backends and whether they were in rotation at t = 0.
    pub initial_rotation: BTreeMap<ServiceId, Vec<(NodeId, bool)>>,
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
        for m in self.probe_metric.values_mut() {
            m.forget_before(cutoff.minute());
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
    pub fn sources_seen(&self) -> BTreeMap<PodId, BTreeMap<Ipv4Addr, usize>> {
        let mut seen: BTreeMap<PodId, BTreeMap<Ipv4Addr, usize>> = BTreeMap::new();
        for f in self.requests() {
            if let (Some(p), Some(src)) = (f.pod, f.source_seen) {
                *seen.entry(p).or_default().entry(src).or_default() += 1;
            }
        }
        seen
    }

    /// Successful and total probes per (minute, node), over every load balancer.
    fn probe_windows(&self) -> BTreeMap<(u64, NodeId), (u32, u32)> {
        let mut all: BTreeMap<(u64, NodeId), (u32, u32)> = BTreeMap::new();
        for m in self.probe_metric.values() {
            for (k, (ok, n)) in &m.windows {
                let w = all.entry(*k).or_default();
                w.0 += ok;
                w.1 += n;
            }
        }
        all
    }

    /// The Health Probe Status over minutes `from..to` (all load balancers, all nodes), and per
    /// node: successful ÷ total probes, as the Azure portal averages them (§3.7).
    pub fn probe_status(&self, minutes: std::ops::Range<u64>) -> Option<(f64, BTreeMap<NodeId, f64>)> {
        let mut per_node: BTreeMap<NodeId, (u32, u32)> = BTreeMap::new();
        for ((_, node), (ok, n)) in self.probe_windows().range((minutes.start, NodeId(0))..(minutes.end, NodeId(0))) {
            let w = per_node.entry(*node).or_default();
            w.0 += ok;
            w.1 += n;
        }
        let (ok, n) = per_node.values().fold((0, 0), |a, w| (a.0 + w.0, a.1 + w.1));
        (n > 0).then(|| (pct(ok, n), per_node.into_iter().map(|(k, (ok, n))| (k, pct(ok, n))).collect()))
    }

    /// The minutes that have probes.
    pub fn probe_minutes(&self) -> Vec<u64> {
        let mut m: Vec<u64> = self.probe_windows().keys().map(|(m, _)| *m).collect();
        m.dedup();
        m
    }

    /// The trace as text, one line per event: the format golden tests, the CLI and the UI share.
    pub fn trace_text(&self) -> String {
        let mut out = String::new();
        for line in &self.trace {
            let _ = writeln!(out, "{:>12}  {}", line.time.to_string(), self.render(line));
        }
        out
    }

    /// One trace line's text, without its time.
    pub fn render(&self, line: &TraceLine) -> String {
        match &line.entry {
            TraceEntry::Note(text) => text.to_string(),
            TraceEntry::Hop { packet, hop } => {
                let p = self.packet(*packet);
                format!("{} {}", packet_label(p.kind, p.id), self.render_hop(p, &p.hops[*hop as usize]))
            }
        }
    }

    fn render_hop(&self, p: &PacketRecord, h: &Hop) -> String {
        let names = &self.names;
        let at = names.place(h.at);
        let flow = self.flow(p.flow);
        match &h.action {
            Action::Sent => {
                let who = match flow.initiator {
                    Initiator::Client(c) => names.clients[c as usize].clone(),
                    Initiator::Probe { .. } => "lb".to_string(),
                };
                format!("{who} sends {}", h.before)
            }
            Action::Balanced { node, in_rotation, total, by_source_ip } => {
                let how = if *by_source_ip { "source-IP hash" } else { "5-tuple hash" };
                let rewrite = if h.after != h.before { format!(", dst -> {}", h.after.dst) } else { String::new() };
                format!(
                    "lb -> {} ({how}, {in_rotation}/{total} nodes in rotation{rewrite})",
                    names.nodes[node.0 as usize]
                )
            }
            Action::Netfilter { .. } => {
                let mut what = Vec::new();
                if h.after.dst != h.before.dst {
                    what.push(format!("DNAT {} -> {}", h.before.dst, h.after.dst));
                }
                if h.after.src.ip() != h.before.src.ip() {
                    what.push(format!("SNAT {} -> {}", h.before.src.ip(), h.after.src.ip()));
                }
                format!("{at} {}{}", what.join(", "), crate::sim::chain_path(&h.rules))
            }
            Action::Forwarded => format!("{at} accepts {}", h.after),
            Action::UnNat if h.at == Place::Lb => format!("lb translates {} => {}", h.before, h.after),
            Action::UnNat => format!("{at} un-NAT {} => {} (conntrack)", h.before, h.after),
            Action::App { output, .. } => format!("{at} sees {}, prints \"{output}\"", h.before.src.ip()),
            Action::Backend { output } => format!("{at} sees {}, prints \"{output}\"", h.before.src.ip()),
            Action::HealthServer { status } => format!("{at} health server answers HTTP {status}"),
            Action::Delivered => {
                let output = flow.app_output.as_deref().unwrap_or("");
                format!("{at} receives \"{}\"", output.lines().next().unwrap_or(""))
            }
            Action::Dropped { reason } => format!("{at} DROP: {reason}"),
            Action::Rejected { reason } => format!("{at} REJECT: {reason}"),
        }
    }
}

fn pct(ok: u32, n: u32) -> f64 {
    100.0 * f64::from(ok) / f64::from(n.max(1))
}

/// A packet's short label in the trace: `req#12`.
pub fn packet_label(kind: PacketKind, id: PacketId) -> String {
    format!("{}#{}", kind.tag(), id.0)
}
