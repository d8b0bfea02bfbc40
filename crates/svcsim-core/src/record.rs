//! The recorded run: every packet with its hops, every request's outcome, every probe, and the
//! text trace — one line per event — that golden tests, the CLI and the UI share.

use std::fmt;

use crate::cluster::{NodeId, PodId, ServiceId};
use crate::conntrack::Entry;
use crate::kube_proxy::RuleHit;
use crate::lb::ProbeResult;
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
    /// The cloud LB chose a backend node.
    Balanced { node: NodeId, in_rotation: usize },
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
    /// The conntrack entry created or used here.
    pub conntrack: Option<Entry>,
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
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub time: Instant,
    /// The packet the line is about, if any (for the UI's click-through).
    pub packet: Option<PacketId>,
    pub text: String,
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12}  {}", self.time.to_string(), self.text)
    }
}

/// A packet's short label in the trace: `req#12`.
pub fn packet_label(kind: PacketKind, id: PacketId) -> String {
    format!("{}#{}", kind.tag(), id.0)
}
