//! One packet's journey as recorded: its hops, what happened at each, and why a packet was
//! dropped or refused — every fact typed, rendered only when it is read.

use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;

use crate::cluster::{NodeId, PodId};
use crate::conntrack::Entry;
use crate::dataplane::{Nat, RulePath};
use crate::id::define_id;
use crate::lb::ProbeResult;
use crate::net::{Header, Protocol, SockAddr};
use crate::time::Instant;
use crate::topology::Place;

define_id!(
    /// Index of a packet in [`Run::packets`](super::Run::packets), counting forgotten ones.
    PacketId
);
define_id!(
    /// Index of a flow (one request, or one probe) in [`Run::flows`](super::Run::flows),
    /// counting forgotten ones.
    FlowId
);

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
    /// True for a probe or its answer.
    pub fn is_probe(self) -> bool {
        matches!(self, PacketKind::Probe | PacketKind::ProbeReply)
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

/// A packet's short label in the trace: `req#12`.
pub fn packet_label(kind: PacketKind, id: PacketId) -> String {
    format!("{}#{}", kind.tag(), id.0)
}

/// What happened to a packet at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Left its origin.
    Sent,
    /// Left its origin after the dataplane translated the socket's `connect()` to `service`
    /// (Cilium's socket-LB): the packet already carries the backend's address, and no node
    /// rewrites it. The hop's rules are the program steps that picked the backend.
    Connected { service: SockAddr },
    /// The cloud LB chose a backend node among `in_rotation` of `total`, hashing the source IP
    /// (ClientIP affinity) or the 5-tuple. An instance target's rewrite of the destination is the
    /// hop's connection entry.
    Balanced { node: NodeId, in_rotation: u32, total: u32, by_source_ip: bool },
    /// A node's dataplane decided the first packet and translated it; the NAT is the hop's
    /// connection entry.
    Translated,
    /// A node (or the LB) translated a reply back from its connection entry.
    UnNat,
    /// Passed through a node without a rule acting on it.
    Forwarded,
    /// Delivered to the app in a pod, which answered (what it printed is the flow's).
    App { pod: PodId },
    /// Answered by a health server on a node.
    HealthServer { status: u16 },
    /// Answered by an EndpointSlice address that is no pod (a plain echo server).
    Backend,
    /// Reached the connection's initiator.
    Delivered,
    /// Dropped silently (the reason is shared with the flow's outcome).
    Dropped(Rc<Reason>),
    /// Refused.
    Rejected(Rc<Reason>),
}

/// One hop of a packet.
///
/// A hop stores the header the packet arrived with; the header it left with follows from its
/// connection entry, which is the only thing that rewrites a packet (see [`Hop::after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub at: Place,
    pub time: Instant,
    /// The header as the packet arrived.
    pub before: Header,
    pub action: Action,
    /// The dataplane rules that matched, in order.
    pub rules: RulePath,
    /// The connection entry created or used here: a node's conntrack entry, or the load
    /// balancer's flow for an instance target; shared with the table that holds it.
    pub conntrack: Option<Rc<Entry>>,
}

impl Hop {
    /// The header as the packet left: a first packet translated (or an instance target's
    /// rewrite) leaves as its entry's reply tuple reversed, a reply translated back leaves as
    /// the entry's original tuple reversed, anything else as it came.
    pub fn after(&self) -> Header {
        match (&self.action, &self.conntrack) {
            (Action::Translated | Action::Balanced { .. }, Some(e)) => e.reply.reversed(),
            (Action::UnNat, Some(e)) => e.unnat_reply(),
            _ => self.before,
        }
    }
    /// The NAT this hop applied (a first packet) or undid (a reply), if any.
    pub fn nat(&self) -> Option<Nat> {
        match self.action {
            Action::Translated | Action::UnNat | Action::Balanced { .. } => {
                self.conntrack.as_ref().map(|e| e.nat()).filter(|n| !n.is_none())
            }
            _ => None,
        }
    }
    /// True if this hop rewrote the packet's source address (SNAT on the way in).
    pub fn snat(&self) -> bool {
        matches!(self.action, Action::Translated) && self.nat().is_some_and(|n| n.snat.is_some())
    }
}

/// One packet and its journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRecord {
    pub id: PacketId,
    pub kind: PacketKind,
    pub flow: FlowId,
    pub hops: Vec<Hop>,
}

/// Why a packet was dropped or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A dataplane rule decided: the path that led to it, the deciding rule last.
    Rule(RulePath),
    /// The dataplane's walk entered `chain` again: a hand-made ruleset the kernel would refuse.
    JumpLoop { chain: Rc<str>, path: RulePath },
    /// No route to the address (from the internet, or from a node or pod).
    NoRoute { to: IpAddr, from_internet: bool },
    /// The address is in this node's podCIDR but no pod holds it.
    HostUnreachable(IpAddr),
    /// The pod was deleted while the packet travelled.
    PodGone { pod: PodId, name: Box<str> },
    /// The load balancer has no rule for this frontend.
    NoLbRule(SockAddr),
    /// Every backend fails its health probe.
    NoHealthyBackend,
    /// An instance target needs the Service port's nodePort, and it has none.
    NoInstanceTargetPort,
    /// A reply reached the load balancer for a flow it never forwarded.
    NoLbFlow,
    /// Nothing listens on the node at that address, over that protocol.
    NotListening(Protocol, SockAddr),
    /// The pod has no container port `port` of protocol `proto`.
    PodNotListening { pod: PodId, name: Box<str>, proto: Protocol, port: u16 },
    /// The client heard from another address than it connected to, and resets: (from, expected).
    Reset(Box<(SockAddr, SockAddr)>),
    /// A health probe's result (a failed probe's flow ends with it).
    Probe(ProbeResult),
    /// The kernel refuses to forward a packet from this link-local source off its link
    /// (`ip6_forward`: ICMPv6 destination unreachable, beyond scope of source address).
    BeyondScope(IpAddr),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rule(path) => {
                write!(f, "\"{}\"{}", path.reason(), path.via())
            }
            Reason::JumpLoop { chain, path } => {
                write!(f, "\"{}\"{}", crate::dataplane::jump_loop_message(chain), path.via())
            }
            Reason::NoRoute { to, from_internet: true } => write!(f, "no route to {to} from the internet"),
            Reason::NoRoute { to, from_internet: false } => write!(f, "no route to {to}"),
            Reason::HostUnreachable(ip) => write!(f, "no pod has {ip} (host unreachable)"),
            Reason::PodGone { name, .. } => write!(f, "pod {name} is gone"),
            Reason::NoLbRule(dst) => write!(f, "no load-balancing rule for {dst}"),
            Reason::NoHealthyBackend => f.write_str("no healthy backend: every node fails its health probe"),
            Reason::NoInstanceTargetPort => {
                f.write_str("the Service port has no nodePort for the load balancer's instance target")
            }
            Reason::NoLbFlow => f.write_str("no load balancer flow for this reply"),
            // TCP answers with a reset; UDP and SCTP with ICMP port unreachable.
            Reason::NotListening(Protocol::Tcp, dst) => write!(f, "connection refused: nothing listens on {dst}"),
            Reason::NotListening(proto, dst) => write!(f, "port unreachable: nothing listens on {proto} {dst}"),
            Reason::PodNotListening { name, proto: Protocol::Tcp, port, .. } => {
                write!(f, "connection refused: {name} does not listen on port {port}")
            }
            Reason::PodNotListening { name, proto, port, .. } => {
                write!(f, "port unreachable: {name} does not listen on {proto} port {port}")
            }
            Reason::Reset(pair) => {
                write!(f, "reply from {} but the client connected to {}: connection reset", pair.0, pair.1)
            }
            Reason::Probe(result) => write!(f, "{result}"),
            Reason::BeyondScope(src) => write!(
                f,
                "{src} is link-local: the node does not forward it off its link (ICMPv6 unreachable, beyond scope of source address)"
            ),
        }
    }
}

/// How a request ended, as the client experienced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still travelling at the end of the recorded time.
    InFlight,
    /// The client got the app's answer.
    Answered,
    /// Silently dropped: the client times out.
    Dropped(Rc<Reason>),
    /// Refused: the client gets an error at once.
    Rejected(Rc<Reason>),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::InFlight => "in-flight",
            Outcome::Answered => "answered",
            Outcome::Dropped(_) => "dropped",
            Outcome::Rejected(_) => "rejected",
        }
    }
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Outcome::Dropped(reason) | Outcome::Rejected(reason) => Some(reason.as_ref()),
            _ => None,
        }
    }
}
