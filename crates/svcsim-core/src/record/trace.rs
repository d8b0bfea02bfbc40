//! The text trace — one line per event, the format golden tests, `svcsim run --trace` and the
//! page's event log share — rendered from typed entries, and the one prose of a hop that the
//! trace, the page's inspector and the exports all use.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::hop::{Action, Hop, PacketId, PacketRecord, packet_label};
use super::{FlowId, Initiator, Run};
use crate::cluster::{App, NetworkPlugin, NodeId, PodId, Provider, Service, ServiceId};
use crate::dataplane::SyncReport;
use crate::lb::{ProbeKind, ProbeResult};
use crate::net::{IpCidr, Protocol};
use crate::scenario::{Change, ClientId, Target};
use crate::time::Instant;
use crate::topology::Place;

/// What a trace line is about. Every line is rendered from its entry when the trace is read, so
/// the record holds each fact once, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEntry {
    /// A packet's hop.
    Hop { packet: PacketId, hop: u32 },
    /// The cluster at the start.
    Cluster(Box<ClusterLine>),
    /// A node at the start.
    Node(Box<NodeLine>),
    /// A pod running with its IP: at the start, or created by a change.
    PodRunning(Box<PodLine>),
    /// A Service as it starts.
    Service(Box<(ServiceId, Service)>),
    /// A timeline change applied.
    Change(Box<Change>),
    /// The API server allocated a healthCheckNodePort (a patch to Local).
    HealthCheckNodePort { svc: ServiceId, port: u16 },
    /// A pod started terminating.
    PodTerminating(PodId),
    /// A pod is gone from the API.
    PodGone(PodId),
    /// A node's service proxy synced and changed something.
    Synced(Box<SyncLine>),
    /// A health probe's result, as the load balancer recorded it.
    Probe(Box<ProbeLine>),
    /// A node left or rejoined a load balancer's rotation: the index of the event in
    /// [`Run::rotation`].
    Rotation(u32),
    /// A client had nothing to send to: its target has no address yet.
    NothingToSend(Box<(ClientId, Target)>),
    /// A pod client's pod does not exist (any more), so nothing was sent.
    NoClientPod { client: ClientId, pod: Box<str> },
}

/// `cluster: 2 nodes, provider azure, network plugin kubenet, clusterCIDR 10.244.0.0/16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterLine {
    pub nodes: u32,
    pub provider: Provider,
    pub network_plugin: NetworkPlugin,
    pub cluster_cidr: IpCidr,
    /// The second family's pod range, on a dual-stack cluster.
    pub secondary_cluster_cidr: Option<IpCidr>,
}

/// `node node-0: ip 10.240.0.4, podCIDR 10.244.0.0/24`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    pub node: NodeId,
    pub ip: IpAddr,
    pub pod_cidr: IpCidr,
    /// Its address and podCIDR of the second family (dual-stack).
    pub secondary: Option<crate::cluster::FamilyAddresses>,
}

/// `pod web-…: ip 10.244.0.2 on node-0 (nodejs)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLine {
    pub pod: PodId,
    pub ip: Option<IpAddr>,
    /// `status.podIPs[1]` (dual-stack).
    pub secondary_ip: Option<IpAddr>,
    pub node: NodeId,
    pub app: App,
}

/// `node-0 kube-proxy synced: 24 rules; health servers :30154 localEndpoints=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLine {
    pub node: NodeId,
    /// The agent that synced (`kube-proxy`).
    pub agent: &'static str,
    pub report: SyncReport,
}

/// `lb probe node-0 HTTP :30154/healthz for default/web: HTTP 503`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLine {
    pub flow: FlowId,
    pub node: NodeId,
    pub svc: ServiceId,
    /// The probe's family: an IPv6 probe says so.
    pub family: crate::net::IpFamily,
    pub kind: ProbeKind,
    pub port: u16,
    pub result: ProbeResult,
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
            _ => None,
        }
    }
}

/// A hop in words, split where a view puts its place apart: `subject` is the place (or the
/// initiator, for a packet leaving it), `predicate` what happened there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopProse {
    pub subject: String,
    pub predicate: String,
}

impl Run {
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
        let names = &self.names;
        match &line.entry {
            TraceEntry::Hop { packet, hop } => {
                let p = self.packet(*packet);
                let prose = self.hop_prose(p, &p.hops[*hop as usize]);
                format!("{} {} {}", packet_label(p.kind, p.id), prose.subject, prose.predicate)
            }
            TraceEntry::Cluster(c) => format!(
                "cluster: {} nodes, provider {}, network plugin {}, clusterCIDR {}",
                c.nodes,
                c.provider,
                c.network_plugin,
                both(c.cluster_cidr, c.secondary_cluster_cidr)
            ),
            TraceEntry::Node(n) => format!(
                "node {}: ip {}, podCIDR {}",
                names.nodes[n.node],
                both(n.ip, n.secondary.map(|s| s.ip)),
                both(n.pod_cidr, n.secondary.map(|s| s.pod_cidr))
            ),
            TraceEntry::PodRunning(p) => {
                let ip = p.ip.map_or("none".to_string(), |ip| both(ip, p.secondary_ip));
                format!("pod {}: ip {ip} on {} ({})", names.pods[p.pod], names.nodes[p.node], p.app)
            }
            TraceEntry::Service(s) => service_line(&s.1),
            TraceEntry::Change(c) => format!("change: {}", names.change(c)),
            TraceEntry::HealthCheckNodePort { svc, port } => {
                format!("service {}: healthCheckNodePort {port} allocated", names.services[*svc])
            }
            TraceEntry::PodTerminating(p) => format!("pod {} is terminating", names.pods[*p]),
            TraceEntry::PodGone(p) => format!("pod {} is gone", names.pods[*p]),
            TraceEntry::Synced(s) => {
                let hc: Vec<String> =
                    s.report.health_servers.iter().map(|(p, c)| format!(":{p} localEndpoints={c}")).collect();
                let hc = if hc.is_empty() { String::new() } else { format!("; health servers {}", hc.join(", ")) };
                format!("{} {} synced: {} rules{hc}", names.nodes[s.node], s.agent, s.report.rules)
            }
            TraceEntry::Probe(p) => {
                let what = match p.kind {
                    ProbeKind::Http => format!("HTTP :{}/healthz", p.port),
                    ProbeKind::Tcp => format!("TCP :{}", p.port),
                };
                let over = if p.family == crate::net::IpFamily::Ipv6 { " over IPv6" } else { "" };
                format!("lb probe {} {what}{over} for {}: {}", names.nodes[p.node], names.services[p.svc], p.result)
            }
            TraceEntry::Rotation(i) => {
                let r = &self.rotation[*i as usize];
                let (node, svc) = (&names.nodes[r.node], &names.services[r.svc]);
                match &r.reason {
                    Some(reason) if !r.in_rotation => format!("lb: {node} leaves rotation for {svc} ({reason})"),
                    _ => format!("lb: {node} joins rotation for {svc}"),
                }
            }
            TraceEntry::NothingToSend(what) => {
                let (client, target) = &**what;
                format!(
                    "{} has nothing to send to: {} has no address yet",
                    names.clients[*client],
                    names.target(target)
                )
            }
            TraceEntry::NoClientPod { client, pod } => {
                format!("{}: pod {pod} does not exist, nothing sent", names.clients[*client])
            }
        }
    }

    /// What happened at one hop, in the words of the trace.
    pub fn hop_prose(&self, p: &PacketRecord, h: &Hop) -> HopProse {
        let names = &self.names;
        let flow = self.flow(p.flow);
        let at = names.place(h.at);
        let (subject, predicate) = match &h.action {
            Action::Sent => (sender(names, flow), format!("sends {}{}", proto_word(h.before.proto), h.before)),
            Action::Connected { service } => (
                sender(names, flow),
                format!(
                    "connect()s to {service}, socket-LB connects it to {}: sends {}{}",
                    h.before.dst,
                    proto_word(h.before.proto),
                    h.before
                ),
            ),
            Action::Balanced { node, in_rotation, total, by_source_ip } => {
                let how = if *by_source_ip { "source-IP hash" } else { "5-tuple hash" };
                let rewrite = match h.nat().and_then(|n| n.dnat) {
                    Some(to) => format!(", dst -> {to}"),
                    None => String::new(),
                };
                (at, format!("-> {} ({how}, {in_rotation}/{total} nodes in rotation{rewrite})", names.nodes[*node]))
            }
            Action::Translated => {
                let mut what = Vec::new();
                let nat = h.nat().unwrap_or_default();
                if let Some(to) = nat.dnat {
                    what.push(format!("DNAT {} -> {to}", h.before.dst));
                }
                if let Some(to) = nat.snat {
                    what.push(format!("SNAT {} -> {to}", h.before.src.ip));
                }
                (at, format!("{}{}", what.join(", "), h.rules.via()))
            }
            // A DSR request's backend node: its entry remembers the service the client asked.
            Action::Forwarded => {
                match h.conntrack.as_ref().map(|e| e.original.dst).filter(|svc| *svc != h.before.dst) {
                    Some(svc) => {
                        (at, format!("accepts {} (DSR: its reply leaves as {svc}){}", h.after(), h.rules.via()))
                    }
                    None => (at, format!("accepts {}", h.after())),
                }
            }
            Action::UnNat if h.at == Place::Lb => (at, format!("translates {} => {}", h.before, h.after())),
            Action::UnNat => (at, format!("un-NAT {} => {} (conntrack)", h.before, h.after())),
            Action::App { .. } | Action::Backend => {
                let output = flow.app_output.as_deref().unwrap_or("");
                (at, format!("sees {}, prints \"{output}\"", h.before.src.ip))
            }
            Action::HealthServer { status } => (at, format!("health server answers HTTP {status}")),
            Action::Delivered => {
                let output = flow.app_output.as_deref().unwrap_or("");
                (at, format!("receives \"{}\"", output.lines().next().unwrap_or("")))
            }
            Action::Dropped(reason) => (at, format!("DROP: {reason}")),
            Action::Rejected(reason) => (at, format!("REJECT: {reason}")),
        };
        HopProse { subject, predicate }
    }
}

/// `service default/web: LoadBalancer clusterIP 10.0.0.9, port 80 -> 8080 nodePort 31000, LB
/// 203.0.113.10, externalTrafficPolicy Cluster`.
/// Who sent a flow's first packet: its client, or the load balancer for a probe.
fn sender(names: &super::Names, flow: &super::FlowRecord) -> String {
    match flow.initiator {
        Initiator::Client(c) => names.clients[c].clone(),
        Initiator::Probe { .. } => names.place(Place::Lb),
    }
}

/// TCP goes unsaid, as in tcpdump's lines; other protocols are named (`udp `).
fn proto_word(proto: Protocol) -> &'static str {
    match proto {
        Protocol::Tcp => "",
        Protocol::Udp => "udp ",
        Protocol::Sctp => "sctp ",
    }
}

/// `a`, or `a,b` with the second family's value, as Kubernetes' flags write a dual-stack pair.
fn both<T: std::fmt::Display>(a: T, b: Option<T>) -> String {
    match b {
        Some(b) => format!("{a},{b}"),
        None => a.to_string(),
    }
}

fn service_line(s: &Service) -> String {
    let ips = s.cluster_ip.map_or("None".into(), |ip| both(ip, s.secondary_cluster_ip));
    let field = if s.secondary_cluster_ip.is_some() { "clusterIPs" } else { "clusterIP" };
    let mut l = format!("service {}: {} {field} {ips}", s.namespaced_name(), s.type_);
    for p in &s.ports {
        // `port 53/UDP -> 5353`; TCP, the default, goes unsaid.
        let proto = if p.protocol == Protocol::Tcp { String::new() } else { format!("/{}", p.protocol) };
        let _ = write!(l, ", port {}{proto} -> {}", p.port, p.target_port);
        if let Some(np) = p.node_port {
            let _ = write!(l, " nodePort {np}");
        }
    }
    if !s.load_balancer_ingress.is_empty() {
        let ips: Vec<String> = s.load_balancer_ingress.iter().map(ToString::to_string).collect();
        let _ = write!(l, ", LB {}", ips.join(","));
    }
    let _ = write!(l, ", externalTrafficPolicy {}", s.external_traffic_policy);
    if let Some(hc) = s.health_check_node_port {
        let _ = write!(l, ", healthCheckNodePort {hc}");
    }
    l
}
