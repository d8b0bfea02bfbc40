//! The seam between the event loop and a node's service proxy. kube-proxy's iptables mode is one
//! implementation of [`Dataplane`] ([`crate::kube_proxy`]), its nftables mode another
//! ([`crate::nftables`]); Cilium and a dumped ruleset are to come. The loop, the record, the
//! CLI and the page reach a dataplane only through this module.
//!
//! A dataplane does four things for every node:
//! - **program** it from the cluster ([`Dataplane::sync`], the first sync and every re-sync
//!   after a change, at most once per [`Dataplane::min_sync_period`]);
//! - **decide** a new connection's first packet ([`Dataplane::first_packet`]): a [`Decision`]
//!   holding the typed verdict, the NAT and the path through its own rules as [`RuleRef`]s;
//! - **render** its state in its native text form ([`Dataplane::render`]);
//! - **serve** the health ports it owns ([`Dataplane::serve`]): healthCheckNodePort and the
//!   proxy's own `:10256/healthz`;
//! - optionally **translate a socket's `connect()`** before any packet exists
//!   ([`Dataplane::connect`]: Cilium's socket-LB).

mod dual_stack;
mod report;
mod rule;

use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;

pub use dual_stack::DualStack;
pub(crate) use report::jump_loop_message;
pub use report::{FirstPacket, FirstPacketVerdict};
pub use rule::{Rule, RulePath, RuleRef};

use crate::cluster::{Cluster, NetworkPlugin, NodeId};
use crate::net::{Header, IpCidr, SockAddr};
use crate::rng::SimRng;
use crate::time::{Duration, Instant};

/// The service proxy's own health port, `:10256/healthz` (kube-proxy's `healthzBindAddress`),
/// which some clouds probe for `externalTrafficPolicy: Cluster`.
pub const PROXY_HEALTHZ_PORT: u16 = 10256;

/// What a node's service proxy does. One value serves every node of a run.
///
/// # Contract
/// - `sync` is called for every node before any other method names it, and again after the
///   cluster changed, with an `epoch` that is different whenever the cluster is (so an
///   implementation may cache work shared by all nodes of one epoch).
/// - `first_packet` and `every_decision` take the header as it arrived on the node; they never
///   change the cluster.
/// - Every decision is deterministic given the dataplane's state and the `rng` passed in.
pub trait Dataplane {
    /// The agent's name in trace lines: `kube-proxy`.
    fn agent(&self) -> &'static str;
    /// What it is, named with the modelled version, for the docs, the CLI and the page:
    /// `kube-proxy iptables mode (v1.35)`.
    fn describe(&self) -> String;
    /// The least time between two syncs of one node (kube-proxy's `minSyncPeriod`).
    fn min_sync_period(&self) -> Duration;
    /// Programs `node` for `cluster` as it is now. Returns what the sync did, or `None` if it
    /// changed nothing on the node.
    fn sync(&mut self, cluster: &Cluster, epoch: u64, node: NodeId) -> Option<SyncReport>;
    /// Decides the first packet of a new connection arriving at `node` from `origin`, updating
    /// the state a decision leaves behind (session-affinity entries).
    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, cx: PacketCx<'_>) -> Decision;
    /// Every distinct decision the dataplane could make for this first packet (one per endpoint
    /// its random choice could pick), without changing any state: what `svcsim packet` shows.
    fn every_decision(&self, node: NodeId, origin: Origin, header: Header) -> Vec<Decision>;
    /// A connection to `dst`, one of `node`'s own addresses: the answer of the server the
    /// dataplane runs there, if one listens.
    fn serve(&self, cluster: &Cluster, node: NodeId, dst: SockAddr) -> Option<HealthResponse>;
    /// The node's state in one of its native text forms (see [`RulesText`]); on a dual-stack
    /// cluster, its first family's side.
    fn render(&self, node: NodeId, form: RulesText) -> String;
    /// The side of `family` (`ip6tables-save` beside `iptables-save`), or `None` if the dataplane
    /// has no side of that family. A single-family dataplane has one side, and renders it
    /// whatever `family` says: callers ask it only for the cluster's family.
    fn render_family(&self, node: NodeId, form: RulesText, family: crate::net::IpFamily) -> Option<String> {
        let _ = family;
        Some(self.render(node, form))
    }
    /// Forgets runtime state that has expired by `now` (old session-affinity entries).
    fn sweep(&mut self, now: Instant);
    /// A process on `node` (in one of its pods when `from_pod`, else in its host network
    /// namespace) calls `connect()` from `src` to `dst`: the address the socket really connects
    /// to, if the dataplane translates it before any packet exists (Cilium's socket-LB), or why
    /// the call fails. `None`: the socket connects to `dst` as asked, which is what a
    /// netfilter-based proxy does.
    fn connect(
        &mut self,
        node: NodeId,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        cx: ConnectCx<'_>,
    ) -> Option<Connect> {
        let _ = (node, from_pod, src, dst, cx);
        None
    }
    /// Every way [`Dataplane::connect`] could translate one `connect()` (one per backend a
    /// random pick could take), without changing any state: what `svcsim packet` shows for a
    /// socket in the cluster. Empty when the dataplane leaves the call alone.
    fn every_connect(
        &self,
        node: NodeId,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        proto: crate::net::Protocol,
    ) -> Vec<Connect> {
        let _ = (node, from_pod, src, dst, proto);
        Vec::new()
    }
}

/// What [`Dataplane::connect`] needs from the running simulation.
pub struct ConnectCx<'a> {
    pub now: Instant,
    pub proto: crate::net::Protocol,
    pub rng: &'a mut SimRng,
}

/// A `connect()` the dataplane translated: the socket's real peer, or the error the call
/// returns, and the program steps and map entries that decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub to: Result<SockAddr, Cause>,
    pub path: RulePath,
}

/// The decisions only the running simulation can supply: the time, the random stream of
/// the flow's initiator, and what the packet carries besides its header.
pub struct PacketCx<'a> {
    pub now: Instant,
    pub rng: &'a mut SimRng,
    /// The service address a DSR option (or Geneve option) on the packet carries, put there by
    /// the node that balanced it ([`Dsr::Dispatch`]).
    pub dsr: Option<SockAddr>,
}

/// The dataplane the cluster's configuration names.
pub fn for_cluster(cluster: &Cluster) -> Box<dyn Dataplane> {
    if cluster.config.is_dual_stack() {
        return Box::new(DualStack::new(cluster, for_one_family));
    }
    for_one_family(cluster)
}

/// The dataplane of a single-stack cluster, or of one family's view of a dual-stack one.
fn for_one_family(cluster: &Cluster) -> Box<dyn Dataplane> {
    use crate::cluster::{DataplaneKind, ProxyMode};
    match cluster.config.dataplane() {
        DataplaneKind::KubeProxy(ProxyMode::Iptables) => {
            Box::new(crate::kube_proxy::Iptables::new(&cluster.config.kube_proxy))
        }
        DataplaneKind::KubeProxy(ProxyMode::Nftables) => {
            Box::new(crate::nftables::Nftables::new(&cluster.config.kube_proxy))
        }
        DataplaneKind::Cilium => Box::new(crate::cilium::Cilium::new(cluster)),
    }
}

/// What one sync did on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// How many rules (or entries) the node's state holds after the sync.
    pub rules: u32,
    /// The health servers open after the sync: (port, local endpoints it reports).
    pub health_servers: Vec<(u16, u32)>,
}

/// Where a first packet enters the node's dataplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Arrived on eth0 from the network, or from a local pod over cbr0 (nat PREROUTING).
    Routed,
    /// Sent by a process in the node's host network namespace (nat OUTPUT).
    Host,
}

impl Origin {
    /// Host when `src` is one of the node's own addresses (eth0's, cbr0's, loopback), else
    /// Routed.
    pub fn of(net: &NodeNet, src: IpAddr) -> Origin {
        if net.is_local(src) { Origin::Host } else { Origin::Routed }
    }
}

/// Where an accepted packet goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// To a socket in the node's host network namespace (filter INPUT).
    Local,
    /// Out of the node toward the (possibly rewritten) destination (filter FORWARD or OUTPUT).
    Forward,
}

/// The dataplane's verdict on a first packet, as netfilter would put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered to a local socket or forwarded.
    Accept,
    /// Silently dropped: the client times out.
    Drop(Cause),
    /// Refused at once (ICMP port unreachable or a TCP reset).
    Reject(Cause),
}

/// Why a packet was dropped or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The last rule of the decision's path decided; its comment says why.
    Rule,
    /// The walk entered `chain` again: a hand-made ruleset the kernel would refuse (ELOOP).
    JumpLoop(Rc<str>),
}

/// What a dataplane decided for one first packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub before: Header,
    /// The header as it leaves the dataplane, DNAT and SNAT applied.
    pub after: Header,
    pub verdict: Verdict,
    pub delivery: Delivery,
    /// The endpoint the destination was rewritten to, if any.
    pub dnat: Option<SockAddr>,
    /// The source address MASQUERADE chose, if the packet was masqueraded on its way out.
    pub snat: Option<IpAddr>,
    /// The rules asked for SNAT (`KUBE-MARK-MASQ`), whether or not the packet then left through
    /// POSTROUTING.
    pub marked: bool,
    /// The rules that matched, in the order they fired.
    pub path: RulePath,
    /// Direct server return: the request leaves carrying the service address, or arrived with
    /// it and its replies are to leave from that address.
    pub dsr: Option<Dsr>,
}

/// Direct server return (Cilium's `loadBalancer.mode: dsr`; `docs/fidelity.md#cilium-dsr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dsr {
    /// The balancing node sends the request, DNATed to a backend on another node, with the
    /// service address it was sent to in an IP option (or a Geneve option). The reply will not
    /// pass this node again, so it keeps no connection entry for it.
    Dispatch { service: SockAddr, dispatch: crate::cluster::DsrDispatch },
    /// The backend's node read that option: its replies leave with `service` as their source,
    /// straight to the client.
    Ingress { service: SockAddr },
}

impl Decision {
    /// The decision summarised: DNAT, DROP, REJECT or none.
    pub fn summary(&self) -> FirstPacketVerdict {
        match (&self.verdict, self.dnat) {
            (Verdict::Drop(_), _) => FirstPacketVerdict::Drop,
            (Verdict::Reject(_), _) => FirstPacketVerdict::Reject,
            (Verdict::Accept, Some(_)) => FirstPacketVerdict::Dnat,
            (Verdict::Accept, None) => FirstPacketVerdict::None,
        }
    }
    /// The NAT the decision applied.
    pub fn nat(&self) -> Nat {
        Nat { dnat: self.dnat, snat: self.snat }
    }
}

/// The address translation applied to a connection's first packet: what conntrack remembers
/// and undoes on the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nat {
    /// The destination became this endpoint.
    pub dnat: Option<SockAddr>,
    /// The source address became this one.
    pub snat: Option<IpAddr>,
}

impl Nat {
    pub fn is_none(&self) -> bool {
        self.dnat.is_none() && self.snat.is_none()
    }
}

/// The node's own addresses and the facts the routing decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeNet {
    pub node_ip: IpAddr,
    /// cbr0's address with kubenet; `None` with azure-cni.
    pub bridge_ip: Option<IpAddr>,
    pub pod_cidr: IpCidr,
}

impl NodeNet {
    pub fn of(cluster: &Cluster, node: NodeId) -> NodeNet {
        let n = cluster.node(node);
        let bridge_ip = (cluster.config.network_plugin == NetworkPlugin::Kubenet).then(|| n.bridge_ip());
        NodeNet { node_ip: n.ip, bridge_ip, pod_cidr: n.pod_cidr }
    }
    /// The node's addresses of `family`, if it has that family: its IP, and cbr0's first address
    /// of its podCIDR of that family with kubenet.
    pub fn of_family(cluster: &Cluster, node: NodeId, family: crate::net::IpFamily) -> Option<NodeNet> {
        let a = cluster.node(node).addresses(family)?;
        let kubenet = cluster.config.network_plugin == NetworkPlugin::Kubenet;
        let bridge_ip = if kubenet { a.pod_cidr.nth(1) } else { None };
        Some(NodeNet { node_ip: a.ip, bridge_ip, pod_cidr: a.pod_cidr })
    }
    /// `-m addrtype --*-type LOCAL`: an address configured on this node.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        ip == self.node_ip || Some(ip) == self.bridge_ip || ip.is_loopback()
    }
    /// True if `ip` is one of this node's pods, reached through the pod side of the node (cbr0,
    /// or the pod's veth with the Azure CNI) rather than eth0.
    pub fn is_pod_side(&self, ip: IpAddr) -> bool {
        self.pod_cidr.contains(ip) && Some(ip) != self.bridge_ip
    }
    /// `ip6_forward`'s scope check: a packet whose source is link-local, translated from `before`
    /// to `after`, is refused (ICMPv6 destination unreachable, beyond scope of source address)
    /// when it would leave by another interface than it came in by — toward a pod of this node
    /// after arriving on eth0. Out of eth0 again (to another node) it is forwarded
    /// (`docs/fidelity.md#dual-stack-probes`).
    pub fn refuses_link_local(&self, before: Header, after: Header) -> bool {
        crate::net::is_link_local(before.src.ip) && self.is_pod_side(before.src.ip) != self.is_pod_side(after.dst.ip)
    }
    /// The address MASQUERADE picks for a packet to `dst`: the egress interface's address —
    /// cbr0's toward a pod on this node (kubenet), the node IP otherwise
    /// (`docs/fidelity.md#snat-source-address`).
    pub fn masquerade_source(&self, dst: IpAddr) -> IpAddr {
        match self.bridge_ip {
            Some(bridge) if self.pod_cidr.contains(dst) => bridge,
            _ => self.node_ip,
        }
    }
    /// The source address the node's own stack picks for a connection to `dst`: the route's
    /// preferred source, which is 127.0.0.1 toward loopback and otherwise the egress interface's
    /// address (`docs/fidelity.md#snat-source-address`).
    pub fn source_for(&self, dst: IpAddr) -> IpAddr {
        if dst.is_loopback() {
            return match dst {
                IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
        }
        self.masquerade_source(dst)
    }
}

/// The two ways a dataplane's state is shown as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RulesText {
    /// What the node's own listing tool prints (`iptables-save` for kube-proxy's iptables
    /// mode): everything in the kernel, built-in chains included.
    #[default]
    Save,
    /// What the proxy handed its loader at its last sync (the `iptables-restore` input, with the
    /// `-X` of chains that sync deleted).
    Restore,
}

/// An HTTP answer from one of a dataplane's health servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthResponse {
    /// 200 or 503.
    pub status: u16,
    /// The JSON body, exactly as the server writes it.
    pub body: String,
}

impl fmt::Display for HealthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}\n{}", self.status, self.body)
    }
}
