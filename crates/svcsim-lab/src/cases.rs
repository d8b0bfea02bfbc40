//! The traffic the differential test tries in a lab: for every Service port, every node and every
//! kind of traffic svcsim models there, one [`Case`] with what svcsim expects of it. Pure.
//!
//! The kinds: from the internet through the load balancer to each node (allowed and blocked by
//! `loadBalancerSourceRanges`), to each node's NodePort and through each externalIP; to the
//! clusterIP from a pod and from the host of each node; a pod's traffic to the LB IP and
//! externalIPs (kube-proxy short-circuits it); a pod to its own Service (hairpin); the host to its
//! own NodePort and to `127.0.0.1:<nodePort>`; and kube-proxy's health servers.
//!
//! A dual-stack lab tries every kind in each family the Service has, on that family's side of
//! the cluster ([`Cluster::family_view`]): IPv6 clients, node, pod and Service addresses for
//! the IPv6 cases (`[::1]:<nodePort>` for the host's loopback). It adds, per node, connections
//! from a link-local source on the nodes' link (Azure's IPv6 probe source) to each IPv6 TCP
//! NodePort and healthCheckNodePort: svcsim says a node forwards none of them to a pod.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use svcsim_core::cluster::{Cluster, NodeId, ServiceId};
use svcsim_core::dataplane::{Origin, PROXY_HEALTHZ_PORT};
use svcsim_core::endpoints::service_port_endpoints;
use svcsim_core::lb::LbProfile;
use svcsim_core::net::{Header, IpCidr, IpFamily, Protocol, SockAddr};
use svcsim_core::sim::Sim;

use crate::expect::{Expected, outcomes};
use crate::plan::{LINK_LOCAL_CLIENT, LbDelivery, Plan};

/// Where a case's connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client namespace, from this address (a link-local one is on the nodes' link).
    Client(IpAddr),
    /// A pod's namespace (index into [`Plan::pods`]).
    Pod(usize),
    /// A node's own network namespace: the kernel picks the source address.
    Host(usize),
}

/// How the client namespace gets a case's packets to its ingress node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    /// Routed to the node, destination unchanged (floating IP, externalIP, NodePort).
    Via(IpAddr),
    /// Rewritten to this node address and port, as an instance-target LB does.
    Dnat(SocketAddr),
}

/// One kind of traffic on one node, and svcsim's account of it.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// The Service port the case tries (`namespace/name:port`), empty for a health server.
    pub service: String,
    pub source: Source,
    /// What the client connects to.
    pub dst: SocketAddr,
    /// The node whose rules decide first: its trace and conntrack are read.
    pub ingress: usize,
    pub steer: Option<Steer>,
    /// The first packet as it enters the ingress node's rules.
    pub header: Header,
    pub origin: Origin,
    /// What svcsim allows, one entry per endpoint the rules could pick.
    pub expected: Vec<Expected>,
    /// ClientIP session affinity: every connection of the case must reach one endpoint.
    pub affinity: bool,
    /// `/healthz` for a health server, `/` otherwise.
    pub path: &'static str,
    /// A health server's expected answer: status and body.
    pub health: Option<(u16, String)>,
    /// Why the lab cannot try this case, if it cannot.
    pub skip: Option<String>,
}

impl Case {
    /// Whether the case's client sends from a link-local address.
    pub fn link_local(&self) -> bool {
        svcsim_core::net::is_link_local(self.header.src.ip)
    }
}

/// The cases of `sim` in `plan`'s lab, IPv4's first. Client addresses the cases need (inside
/// and outside `loadBalancerSourceRanges`, one per affinity case) are added to the plan.
pub fn of(sim: &Sim, plan: &mut Plan) -> Vec<Case> {
    let mut b = Builder {
        sim,
        plan,
        cases: Vec::new(),
        pool: [0, 0],
        service: String::new(),
        proto: Protocol::Tcp,
        family: IpFamily::Ipv4,
        view: sim.cluster().family_view(IpFamily::Ipv4),
    };
    for family in b.plan.families() {
        b.family = family;
        b.view = sim.cluster().family_view(family);
        for svc in sim.cluster().services.ids() {
            // A Service gets rules only in its own families.
            if !sim.cluster().service(svc).families(&sim.cluster().config).contains(&family) {
                continue;
            }
            for port in 0..b.view.service(svc).ports.len() {
                b.proto = b.view.service(svc).ports[port].protocol;
                b.service_port(svc, port);
            }
        }
        b.proto = Protocol::Tcp;
        b.health();
    }
    if b.plan.ipv6.is_some() {
        b.link_local();
    }
    let mut seen = BTreeSet::new();
    b.cases.retain(|c| seen.insert((format!("{:?}", c.source), c.header.proto, c.dst, c.ingress)));
    b.cases
}

/// How many checks a lab of `sim` as it is now makes: its cases and one rules listing per node
/// and family.
pub fn count(sim: &Sim) -> usize {
    let Ok(mut plan) = Plan::of(sim, "count") else { return 1 };
    plan.add_probe_pods();
    of(sim, &mut plan).len() + plan.nodes.len() * plan.families().len()
}

/// The moments of a scenario worth a lab: its start, and shortly after each change once
/// kube-proxy has synced it.
pub fn moments(scenario: &svcsim_core::scenario::Scenario) -> Vec<svcsim_core::time::Instant> {
    use svcsim_core::time::{Duration, Instant};
    let settle = scenario.cluster.config.kube_proxy.min_sync_period + Duration::from_secs(1);
    let end = Instant::ZERO + scenario.duration;
    let mut out = vec![Instant::ZERO];
    for change in &scenario.changes {
        let t = change.at + settle;
        if t < end && out.last() != Some(&t) {
            out.push(t);
        }
    }
    out.sort();
    out.dedup();
    out
}

struct Builder<'a> {
    sim: &'a Sim,
    plan: &'a mut Plan,
    cases: Vec<Case>,
    /// How many fresh client addresses were handed out, per family: of 198.18.0.0/15 and
    /// 2001:2::/48 (both for benchmarks, never routed).
    pool: [u32; 2],
    /// The Service port being enumerated, and its protocol.
    service: String,
    proto: Protocol,
    /// The family being enumerated, and the cluster as that family's kube-proxy sees it.
    family: IpFamily,
    view: Cluster,
}

impl Builder<'_> {
    /// A fresh client address of the family being enumerated, outside every range the scenario
    /// uses.
    fn fresh_client(&mut self) -> IpAddr {
        let slot = usize::from(self.family == IpFamily::Ipv6);
        self.pool[slot] += 1;
        let pool = pools()[slot];
        let ip = pool.nth(u128::from(self.pool[slot])).unwrap_or(pool.network());
        self.plan.client_ips.push(ip);
        ip
    }
    /// The scenario's first internet client's address of the family, else a fresh one.
    fn scenario_client(&mut self) -> IpAddr {
        let family = self.family;
        match self.plan.client_ips.iter().find(|ip| IpFamily::of(**ip) == family) {
            Some(ip) if !in_pool(*ip) => *ip,
            _ => self.fresh_client(),
        }
    }
    fn node_id(&self, node: usize) -> NodeId {
        NodeId(node as u32)
    }
    /// Node `node`'s address of the family being enumerated.
    fn node_ip(&self, node: usize) -> Option<IpAddr> {
        self.plan.node_ip(node, self.family)
    }

    fn push(
        &mut self,
        name: String,
        source: Source,
        dst: SocketAddr,
        ingress: usize,
        steer: Option<Steer>,
        affinity: bool,
    ) {
        let family = IpFamily::of(dst.ip());
        let net = self.sim.node_net(self.node_id(ingress), family);
        let (src, origin) = match source {
            Source::Client(ip) => (ip, Origin::Routed),
            Source::Pod(p) => (self.plan.pod_ip(p, family).unwrap_or(self.plan.pods[p].ip), Origin::Routed),
            Source::Host(_) => (net.source_for(dst.ip()), Origin::Host),
        };
        let delivered = match steer {
            Some(Steer::Dnat(to)) => to,
            _ => dst,
        };
        // The port is the case runner's; svcsim's rules do not look at it.
        let header = Header::new(self.proto, SockAddr::new(src, 40000), SockAddr::from(delivered));
        let expected = outcomes(self.sim, self.node_id(ingress), origin, header);
        let service = self.service.clone();
        self.cases.push(Case {
            name,
            service,
            source,
            dst,
            ingress,
            steer,
            header,
            origin,
            expected,
            affinity,
            path: "/",
            health: None,
            skip: None,
        });
    }

    fn service_port(&mut self, svc: ServiceId, port: usize) {
        let s = self.view.service(svc).clone();
        let sp = s.ports[port].clone();
        // `default/dns:dns (UDP)`: TCP, the default, goes unsaid.
        let label = match sp.protocol {
            Protocol::Tcp => s.port_name(port),
            other => format!("{} ({other})", s.port_name(port)),
        };
        self.service = label.clone();
        let affinity = s.session_affinity.is_some();
        let nodes = self.plan.nodes.len();
        let family = self.family;
        // From the internet through the load balancer.
        let frontends: Vec<_> = self
            .plan
            .frontends
            .iter()
            .filter(|f| f.service == s.namespaced_name() && IpFamily::of(f.addr.ip) == family)
            .cloned()
            .collect();
        for frontend in &frontends {
            if frontend.addr.port != sp.port || frontend.proto != sp.protocol {
                continue;
            }
            let mut sources = vec![];
            if let Some(range) = s.load_balancer_source_ranges.first() {
                if let Some(inside) = range.nth(range.size().min(2) - 1).filter(|ip| IpFamily::of(*ip) == family) {
                    self.plan.client_ips.push(inside);
                    sources.push((inside, "allowed by loadBalancerSourceRanges"));
                }
                let outside = self.fresh_client();
                sources.push((outside, "outside loadBalancerSourceRanges"));
            } else {
                let ip = if affinity { self.fresh_client() } else { self.scenario_client() };
                sources.push((ip, "from the internet"));
            }
            for node in 0..nodes {
                let Some(node_ip) = self.node_ip(node) else { continue };
                for (ip, why) in &sources {
                    let ip = if affinity && node > 0 { self.fresh_client() } else { *ip };
                    let steer = match frontend.delivery {
                        LbDelivery::FloatingIp => Steer::Via(node_ip),
                        LbDelivery::InstanceTarget => match sp.node_port {
                            Some(np) => Steer::Dnat(SocketAddr::new(node_ip, np)),
                            None => continue,
                        },
                    };
                    let name =
                        format!("{label}: load balancer {} {why} → {}", frontend.addr, self.plan.nodes[node].name);
                    self.push(name, Source::Client(ip), SocketAddr::from(frontend.addr), node, Some(steer), affinity);
                }
            }
        }
        self.untranslated_frontends(&s, &sp, &frontends);
        // NodePorts and externalIPs from the internet.
        for node in 0..nodes {
            let Some(node_ip) = self.node_ip(node) else { continue };
            if let Some(np) = sp.node_port.filter(|_| s.has_node_ports()) {
                let ip = if affinity { self.fresh_client() } else { self.scenario_client() };
                let to = SocketAddr::new(node_ip, np);
                let name = format!("{label}: NodePort {to} from the internet");
                self.push(name, Source::Client(ip), to, node, Some(Steer::Via(node_ip)), affinity);
            }
            for ext in &s.external_ips {
                let ip = if affinity { self.fresh_client() } else { self.scenario_client() };
                let to = SocketAddr::new(*ext, sp.port);
                let name = format!("{label}: externalIP {to} → {}", self.plan.nodes[node].name);
                self.push(name, Source::Client(ip), to, node, Some(Steer::Via(node_ip)), affinity);
            }
        }
        let Some(cluster_ip) = s.cluster_ip else { return };
        let to_cluster_ip = SocketAddr::new(cluster_ip, sp.port);
        for node in 0..nodes {
            let Some(node_ip) = self.node_ip(node) else { continue };
            let node_name = self.plan.nodes[node].name.clone();
            // From a pod and from the host.
            let on_node = (0..self.plan.pods.len())
                .find(|&p| self.plan.pods[p].node == node && self.plan.pod_ip(p, family).is_some());
            if let Some(pod) = on_node {
                let name = format!("{label}: clusterIP {to_cluster_ip} from pod {}", self.plan.pods[pod].name);
                self.push(name, Source::Pod(pod), to_cluster_ip, node, None, affinity);
                // In-cluster traffic to the LB IP and externalIPs never leaves the node.
                for (what, ip) in s
                    .load_balancer_ingress
                    .iter()
                    .map(|ip| ("load balancer IP", ip))
                    .chain(s.external_ips.iter().map(|ip| ("externalIP", ip)))
                {
                    let dst = SocketAddr::new(*ip, sp.port);
                    let name = format!("{label}: {what} {dst} from pod {}", self.plan.pods[pod].name);
                    self.push(name, Source::Pod(pod), dst, node, None, affinity);
                }
            }
            self.push(
                format!("{label}: clusterIP {to_cluster_ip} from {node_name}'s host"),
                Source::Host(node),
                to_cluster_ip,
                node,
                None,
                affinity,
            );
            if let Some(np) = sp.node_port.filter(|_| s.has_node_ports()) {
                let own = SocketAddr::new(node_ip, np);
                self.push(
                    format!("{label}: {node_name}'s host to its own NodePort {own}"),
                    Source::Host(node),
                    own,
                    node,
                    None,
                    affinity,
                );
                let loopback: IpAddr = match family {
                    IpFamily::Ipv4 => Ipv4Addr::LOCALHOST.into(),
                    IpFamily::Ipv6 => Ipv6Addr::LOCALHOST.into(),
                };
                let local = SocketAddr::new(loopback, np);
                self.push(
                    format!("{label}: {node_name}'s host to {local}"),
                    Source::Host(node),
                    local,
                    node,
                    None,
                    affinity,
                );
            }
        }
        // Each endpoint pod to its own Service: it may pick itself (hairpin).
        for ep in service_port_endpoints(&self.view, svc, port) {
            let mine = |p: usize| !self.plan.pods[p].probe && self.plan.pod_ip(p, family) == Some(ep.addr.ip);
            let Some(pod) = (0..self.plan.pods.len()).find(|&p| mine(p)) else { continue };
            let node = self.plan.pods[pod].node;
            let name =
                format!("{label}: clusterIP {to_cluster_ip} from its endpoint {} (hairpin)", self.plan.pods[pod].name);
            self.push(name, Source::Pod(pod), to_cluster_ip, node, None, affinity);
        }
    }

    /// A load-balancer frontend of the Service port the plan has none for: an AWS NLB's IPv6
    /// frontend, which speaks IPv4 to its instance targets. One skipped case says so.
    fn untranslated_frontends(
        &mut self,
        s: &svcsim_core::cluster::Service,
        sp: &svcsim_core::cluster::ServicePort,
        planned: &[crate::plan::Frontend],
    ) {
        if LbProfile::for_service(self.view.config.provider, s).is_none() {
            return;
        }
        for ip in &s.load_balancer_ingress {
            let addr = SockAddr::new(*ip, sp.port);
            if planned.iter().any(|f| f.addr == addr && f.proto == sp.protocol) {
                continue;
            }
            let client = self.scenario_client();
            let name = format!("{}: load balancer {addr} from the internet", self.service);
            self.push(name, Source::Client(client), SocketAddr::from(addr), 0, None, false);
            let why = "the load balancer speaks IPv4 to its instance targets from this IPv6 frontend, \
                       and the lab's load balancer does not translate between families";
            self.cases.last_mut().expect("just pushed").skip = Some(why.into());
        }
    }

    /// kube-proxy's health servers of the family being enumerated, asked from the internet.
    fn health(&mut self) {
        self.service.clear();
        let client = self.scenario_client();
        for node in 0..self.plan.nodes.len() {
            let (Some(side), Some(node_ip)) = (self.plan.node_side(node, self.family), self.node_ip(node)) else {
                continue;
            };
            for h in side.health {
                let dst = SocketAddr::new(node_ip, h.port);
                let what = if h.port == PROXY_HEALTHZ_PORT { "kube-proxy's /healthz" } else { "healthCheckNodePort" };
                self.push(
                    format!("{what} {dst} on {}", self.plan.nodes[node].name),
                    Source::Client(client),
                    dst,
                    node,
                    Some(Steer::Via(node_ip)),
                    false,
                );
                let case = self.cases.last_mut().expect("just pushed");
                case.path = "/healthz";
                case.health = Some((h.status, h.body.clone()));
            }
        }
    }

    /// From a link-local source on the nodes' link (Azure's IPv6 probe source) to each node's
    /// IPv6 TCP NodePorts and healthCheckNodePorts: a NodePort DNATed to a pod must not be
    /// forwarded; a healthCheckNodePort answers on the node itself.
    fn link_local(&mut self) {
        self.family = IpFamily::Ipv6;
        self.view = self.sim.cluster().family_view(IpFamily::Ipv6);
        self.proto = Protocol::Tcp;
        let why = format!("from link-local {LINK_LOCAL_CLIENT} (Azure's IPv6 probe source)");
        for node in 0..self.plan.nodes.len() {
            let (Some(side), Some(node_ip)) = (self.plan.node_side(node, IpFamily::Ipv6), self.node_ip(node)) else {
                continue;
            };
            let node_ports: Vec<(String, u16)> = self
                .view
                .services
                .iter()
                .filter(|s| s.cluster_ip.is_some() && s.has_node_ports())
                .flat_map(|s| {
                    let ports = s.ports.iter().enumerate().filter(|(_, p)| p.protocol == Protocol::Tcp);
                    ports.filter_map(|(i, p)| Some((s.port_name(i), p.node_port?))).collect::<Vec<_>>()
                })
                .collect();
            for (label, np) in node_ports {
                self.service = label.clone();
                let dst = SocketAddr::new(node_ip, np);
                self.push(
                    format!("{label}: NodePort {dst} {why}"),
                    Source::Client(LINK_LOCAL_CLIENT),
                    dst,
                    node,
                    None,
                    false,
                );
            }
            self.service.clear();
            for h in side.health.iter().filter(|h| h.port != PROXY_HEALTHZ_PORT) {
                let dst = SocketAddr::new(node_ip, h.port);
                let name = format!("healthCheckNodePort {dst} on {} {why}", self.plan.nodes[node].name);
                self.push(name, Source::Client(LINK_LOCAL_CLIENT), dst, node, None, false);
                let case = self.cases.last_mut().expect("just pushed");
                case.path = "/healthz";
                case.health = Some((h.status, h.body.clone()));
            }
        }
    }
}

/// The blocks fresh client addresses come from, IPv4's and IPv6's: 198.18.0.0/15 and
/// 2001:2::/48, set aside for benchmarks.
fn pools() -> [IpCidr; 2] {
    [IpCidr::new(Ipv4Addr::new(198, 18, 0, 0), 15), IpCidr::new(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48)]
}

/// Whether `ip` is a fresh client address.
fn in_pool(ip: IpAddr) -> bool {
    pools().iter().any(|pool| pool.contains(ip))
}
