//! A lab's shape as data: the network namespaces, links, addresses, routes, sysctls, rules and
//! servers that stand for one moment of a simulated cluster. Pure: [`Plan::of`] reads a
//! [`Sim`], [`Plan::setup`] turns the plan into commands, and `host` runs them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use svcsim_core::cluster::{App, NetworkPlugin, NodeId, ServiceId};
use svcsim_core::dataplane::{HealthResponse, PROXY_HEALTHZ_PORT, RulesText};
use svcsim_core::endpoints::service_port_endpoints;
use svcsim_core::lb::{Delivery, LbProfile};
use svcsim_core::net::{IpCidr, IpFamily, Protocol, SockAddr};
use svcsim_core::scenario::ClientKind;
use svcsim_core::sim::Sim;

/// The address an Azure CNI pod uses as its gateway: the host side of its veth answers for it
/// (proxy ARP), as Azure CNI's transparent mode does.
pub const AZURE_CNI_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// An Azure CNI pod's IPv6 gateway: a link-local address on the host side of its veth (IPv6
/// has no proxy ARP to borrow; a link-local gateway is what such CNIs configure instead).
pub const AZURE_CNI_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// The link-local address the client namespace of a dual-stack lab holds on the nodes' link:
/// Azure's IPv6 probe source, from which the lab checks that a node forwards no packet with a
/// link-local source.
pub const LINK_LOCAL_CLIENT: IpAddr = svcsim_core::lb::AZURE_PROBE_SOURCE_V6;

/// One moment of a cluster, as namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Starts every namespace name: `svcsim` gives `svcsim-client`, `svcsim-node-0`, ….
    pub prefix: String,
    pub network_plugin: Plugin,
    /// The L2 segment the nodes and the client namespace share (the cloud's VNet).
    pub vnet: IpCidr,
    /// The client namespace's address on the VNet: the nodes' default gateway, standing for the
    /// internet and the cloud load balancer.
    pub gateway: IpAddr,
    pub nodes: Vec<NodePlan>,
    pub pods: Vec<PodPlan>,
    /// The internet clients' addresses, held by the client namespace.
    pub client_ips: Vec<IpAddr>,
    pub frontends: Vec<Frontend>,
    /// The tools of kube-proxy's mode in the scenario: how node rules load and list.
    pub tool: crate::tool::Tool,
    /// The VNet's IPv6 side, on a dual-stack cluster.
    pub ipv6: Option<Vnet6>,
}

/// The IPv6 side of a dual-stack lab's VNet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vnet6 {
    /// The prefix holding every node's IPv6 address.
    pub vnet: IpCidr,
    /// The client namespace's IPv6 address on it: the nodes' IPv6 default gateway.
    pub gateway: IpAddr,
}

/// The pod network layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// A `cbr0` bridge per node holding the podCIDR's first address; pods' veths are its ports,
    /// in hairpin mode.
    Kubenet,
    /// No bridge: a /32 route per pod to its veth, and proxy ARP for the pods' gateway.
    AzureCni,
}

/// A node: its IPv4 side, and its IPv6 side on a dual-stack cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub name: String,
    /// Its IPv4 side.
    pub v4: NodeSide,
    /// Its IPv6 side, on a dual-stack cluster.
    pub ipv6: Option<NodeSide>,
}

/// A node's addresses, routes, rules and health servers in one IP family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSide {
    pub ip: IpAddr,
    pub pod_cidr: IpCidr,
    /// cbr0's address of this family: its podCIDR's first (kubenet).
    pub bridge: Option<IpAddr>,
    /// Routes to the other nodes' podCIDRs of this family: (podCIDR, via node IP).
    pub routes: Vec<(IpCidr, IpAddr)>,
    /// This family's rules as `svcsim rules --family` prints them (`ip6tables-save`'s listing,
    /// or `table ip6 kube-proxy`).
    pub rules: String,
    /// The health servers of this family's kube-proxy, answering on this family's address.
    pub health: Vec<HealthServer>,
}

/// A port on the node that answers as kube-proxy's health server does at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthServer {
    pub port: u16,
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPlan {
    pub name: String,
    /// Index into [`Plan::nodes`].
    pub node: usize,
    pub ip: IpAddr,
    /// Its IPv6 address, on a dual-stack cluster.
    pub ip6: Option<IpAddr>,
    /// The ports its app listens on, each with its protocol: its container ports and every port
    /// a Service targets.
    pub ports: Vec<(Protocol, u16)>,
    pub app: AppKind,
    /// The host end of its veth, in the node's namespace.
    pub host_if: String,
    /// Not a pod of the scenario: a client the differential test adds on a node that has none.
    pub probe: bool,
}

/// The app a pod runs, as the lab's server imitates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    NodeJs,
    Echo,
}

impl AppKind {
    pub fn app(self) -> App {
        match self {
            AppKind::NodeJs => App::NodeJs,
            AppKind::Echo => App::Echo,
        }
    }
}

/// A load-balancer frontend and the nodes it delivers to at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    pub service: String,
    pub proto: Protocol,
    pub addr: SockAddr,
    pub delivery: LbDelivery,
    /// Per node in rotation: (node index, where the packet is sent).
    pub targets: Vec<(usize, SockAddr)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbDelivery {
    /// Routed to the node, destination unchanged (Azure floating IP, GCP target pools).
    FloatingIp,
    /// Rewritten to nodeIP:nodePort, source kept (AWS NLB instance targets).
    InstanceTarget,
}

/// Why a scenario cannot be built as a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Plan {
    /// The lab for `sim` as it is now (run it to the moment first), with namespace names starting
    /// with `prefix`. Every node needs an IPv4 address; on a dual-stack cluster every node needs
    /// an IPv6 one too, and the lab gets both sides.
    pub fn of(sim: &Sim, prefix: &str) -> Result<Plan, Unsupported> {
        let cluster = sim.cluster();
        if let Some(n) = cluster.nodes.iter().find(|n| n.addresses(IpFamily::Ipv4).is_none()) {
            return Err(Unsupported(format!(
                "the lab builds IPv4 and dual-stack clusters only: {} has no IPv4 address",
                n.name
            )));
        }
        let network_plugin = match cluster.config.network_plugin {
            NetworkPlugin::Kubenet => Plugin::Kubenet,
            NetworkPlugin::AzureCni => Plugin::AzureCni,
        };
        let (vnet, gateway) = vnet_of(sim, IpFamily::Ipv4)?;
        let ipv6 = match cluster.config.families().contains(&IpFamily::Ipv6) {
            true => vnet_of(sim, IpFamily::Ipv6).map(|(vnet, gateway)| Some(Vnet6 { vnet, gateway }))?,
            false => None,
        };
        let mut nodes = Vec::new();
        for id in cluster.nodes.ids() {
            nodes.push(node_plan(sim, id, network_plugin, ipv6.is_some())?);
        }
        let pods = pod_plans(sim, ipv6.is_some());
        let mut client_ips: Vec<IpAddr> = sim
            .scenario()
            .clients
            .iter()
            .filter_map(|c| match c.kind {
                ClientKind::External(ip) => Some(ip),
                _ => None,
            })
            .collect();
        client_ips.sort();
        client_ips.dedup();
        Ok(Plan {
            prefix: prefix.to_string(),
            network_plugin,
            vnet,
            gateway,
            nodes,
            pods,
            client_ips,
            frontends: frontends(sim),
            tool: crate::tool::Tool(sim.cluster().config.kube_proxy.mode),
            ipv6,
        })
    }

    /// The IP families the lab is built in: IPv4, and IPv6 on a dual-stack cluster.
    pub fn families(&self) -> Vec<IpFamily> {
        let mut out = vec![IpFamily::Ipv4];
        out.extend(self.ipv6.as_ref().map(|_| IpFamily::Ipv6));
        out
    }
    /// Node `node`'s side of `family`, if it has one.
    pub fn node_side(&self, node: usize, family: IpFamily) -> Option<NodeSide> {
        let n = self.nodes.get(node)?;
        match family {
            IpFamily::Ipv4 => Some(n.v4.clone()),
            IpFamily::Ipv6 => n.ipv6.clone(),
        }
    }
    /// Node `node`'s address of `family`, if it has one.
    pub fn node_ip(&self, node: usize, family: IpFamily) -> Option<IpAddr> {
        let n = self.nodes.get(node)?;
        match family {
            IpFamily::Ipv4 => Some(n.v4.ip),
            IpFamily::Ipv6 => n.ipv6.as_ref().map(|s| s.ip),
        }
    }
    /// Pod `pod`'s address of `family`, if it has one.
    pub fn pod_ip(&self, pod: usize, family: IpFamily) -> Option<IpAddr> {
        let p = self.pods.get(pod)?;
        match family {
            IpFamily::Ipv4 => Some(p.ip),
            IpFamily::Ipv6 => p.ip6,
        }
    }
    /// The client namespace's VNet prefix and address (the nodes' gateway) of `family`.
    pub fn vnet_of(&self, family: IpFamily) -> Option<(IpCidr, IpAddr)> {
        match family {
            IpFamily::Ipv4 => Some((self.vnet, self.gateway)),
            IpFamily::Ipv6 => self.ipv6.as_ref().map(|v| (v.vnet, v.gateway)),
        }
    }

    /// The namespace standing for the internet and the load balancer.
    pub fn client_ns(&self) -> String {
        format!("{}-client", self.prefix)
    }
    /// The namespace holding the VNet's bridge.
    pub fn vnet_ns(&self) -> String {
        format!("{}-vnet", self.prefix)
    }
    pub fn node_ns(&self, node: usize) -> String {
        format!("{}-{}", self.prefix, self.nodes[node].name)
    }
    pub fn pod_ns(&self, pod: usize) -> String {
        format!("{}-pod-{}", self.prefix, self.pods[pod].name)
    }
    /// Every namespace of the lab, in the order they are made.
    pub fn namespaces(&self) -> Vec<String> {
        let mut all = vec![self.vnet_ns(), self.client_ns()];
        all.extend((0..self.nodes.len()).map(|n| self.node_ns(n)));
        all.extend((0..self.pods.len()).map(|p| self.pod_ns(p)));
        all
    }
    /// Adds a client pod (`probe-<node>`, no app) on every node without a pod, at the highest
    /// free address of its podCIDR (and of its IPv6 podCIDR on a dual-stack cluster), so traffic
    /// from a pod can be tried on every node.
    pub fn add_probe_pods(&mut self) {
        for node in 0..self.nodes.len() {
            if self.pods.iter().any(|p| p.node == node) {
                continue;
            }
            let used: Vec<IpAddr> = self.pods.iter().flat_map(|p| [Some(p.ip), p.ip6]).flatten().collect();
            let Some(ip) = highest_free(self.nodes[node].v4.pod_cidr, &used) else { continue };
            let ip6 = self.nodes[node].ipv6.as_ref().and_then(|s| highest_free(s.pod_cidr, &used));
            let host_if = format!("vp{}", self.pods.len());
            let name = format!("probe-{}", self.nodes[node].name);
            self.pods.push(PodPlan { name, node, ip, ip6, ports: vec![], app: AppKind::NodeJs, host_if, probe: true });
        }
    }
    /// The index of the node named `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

/// The highest address of `cidr` below its last that is not in `used` and not its first two.
fn highest_free(cidr: IpCidr, used: &[IpAddr]) -> Option<IpAddr> {
    (2..cidr.size().saturating_sub(1)).rev().filter_map(|k| cidr.nth(k)).find(|ip| !used.contains(ip))
}

/// The VNet of `family`: the smallest prefix holding every node's address of that family, and
/// its first address no node has, for the client namespace.
fn vnet_of(sim: &Sim, family: IpFamily) -> Result<(IpCidr, IpAddr), Unsupported> {
    let mut ips = Vec::new();
    for n in sim.cluster().nodes.iter() {
        match n.addresses(family) {
            Some(a) => ips.push(a.ip),
            None => return Err(Unsupported(format!("{} has no {family} address on a dual-stack cluster", n.name))),
        }
    }
    let vnet = covering(&ips, family);
    let gateway = (1..vnet.size())
        .filter_map(|k| vnet.nth(k))
        .find(|ip| !ips.contains(ip))
        .ok_or_else(|| Unsupported(format!("the node network {vnet} has no address left for a gateway")))?;
    Ok((vnet, gateway))
}

/// The smallest prefix (of /24 or wider for IPv4, /64 or wider for IPv6) holding every node IP.
fn covering(ips: &[IpAddr], family: IpFamily) -> IpCidr {
    let (widest, narrowest, fallback): (u8, u8, IpAddr) = match family {
        IpFamily::Ipv4 => (8, 24, Ipv4Addr::new(10, 240, 0, 4).into()),
        IpFamily::Ipv6 => (16, 64, Ipv6Addr::new(0x2001, 0x1234, 0x5678, 0x9abc, 0, 0, 0, 4).into()),
    };
    let first = ips.first().copied().unwrap_or(fallback);
    (widest..=narrowest)
        .rev()
        .map(|p| IpCidr::new(first, p))
        .find(|c| ips.iter().all(|ip| c.contains(*ip)))
        .unwrap_or(IpCidr::new(first, widest))
}

/// A node's plan: its IPv4 side, and its IPv6 side when `dual` (the cluster is dual-stack).
fn node_plan(sim: &Sim, id: NodeId, plugin: Plugin, dual: bool) -> Result<NodePlan, Unsupported> {
    let name = sim.cluster().node(id).name.clone();
    let missing = |family| Unsupported(format!("{name} has no {family} side"));
    let v4 = node_side(sim, id, plugin, IpFamily::Ipv4).ok_or_else(|| missing(IpFamily::Ipv4))?;
    let ipv6 = match dual {
        true => Some(node_side(sim, id, plugin, IpFamily::Ipv6).ok_or_else(|| missing(IpFamily::Ipv6))?),
        false => None,
    };
    Ok(NodePlan { name, v4, ipv6 })
}

/// Node `id`'s side of `family`: `None` if it has no address of that family, or its dataplane
/// no rules of it.
fn node_side(sim: &Sim, id: NodeId, plugin: Plugin, family: IpFamily) -> Option<NodeSide> {
    let cluster = sim.cluster();
    let own = cluster.node(id).addresses(family)?;
    let routes = cluster
        .nodes
        .iter_enumerated()
        .filter(|(n, _)| *n != id)
        .filter_map(|(_, n)| n.addresses(family).map(|a| (a.pod_cidr, a.ip)))
        .collect();
    let mut health: Vec<HealthServer> = cluster
        .services
        .iter()
        .filter(|s| s.needs_health_check())
        .filter_map(|s| s.health_check_node_port)
        .chain([PROXY_HEALTHZ_PORT])
        .filter_map(|port| {
            let HealthResponse { status, body } = sim.dataplane().serve(cluster, id, SockAddr::new(own.ip, port))?;
            Some(HealthServer { port, status, body })
        })
        .collect();
    health.sort_by_key(|h| h.port);
    health.dedup_by_key(|h| h.port);
    Some(NodeSide {
        ip: own.ip,
        pod_cidr: own.pod_cidr,
        bridge: (plugin == Plugin::Kubenet).then(|| own.pod_cidr.nth(1)).flatten(),
        routes,
        rules: sim.dataplane().render_family(id, RulesText::Save, family)?,
        health,
    })
}

/// The pods that have an IPv4 address (and their IPv6 one when `dual`).
fn pod_plans(sim: &Sim, dual: bool) -> Vec<PodPlan> {
    let cluster = sim.cluster();
    let mut pods = Vec::new();
    for (id, pod) in cluster.pods.iter_enumerated().filter(|(_, p)| !p.deleted) {
        let Some(ip) = pod.ip_of(IpFamily::Ipv4) else { continue };
        let ip6 = if dual { pod.ip_of(IpFamily::Ipv6) } else { None };
        let mut ports: Vec<(Protocol, u16)> = pod.ports.iter().map(|p| (p.protocol, p.port)).collect();
        for svc in cluster.services.ids() {
            for (port, sp) in cluster.service(svc).ports.iter().enumerate() {
                let targeted = service_port_endpoints(cluster, svc, port).into_iter().filter(|e| e.pod == Some(id));
                ports.extend(targeted.map(|e| (sp.protocol, e.addr.port)));
            }
        }
        ports.sort_unstable();
        ports.dedup();
        let app = match pod.app {
            App::NodeJs => AppKind::NodeJs,
            App::Echo => AppKind::Echo,
        };
        let host_if = format!("vp{}", pods.len());
        let node = pod.node.0 as usize;
        pods.push(PodPlan { name: pod.name.clone(), node, ip, ip6, ports, app, host_if, probe: false });
    }
    pods
}

/// The family of the load balancer of `svc` that holds frontend `ip`: `ip`'s own, or, for an
/// AWS NLB whose IPv6 frontend feeds its IPv4 targets, its one load balancer's.
fn lb_family(sim: &Sim, svc: ServiceId, ip: IpAddr) -> IpFamily {
    let mut lbs = sim.load_balancers(svc).map(|(lb, _)| lb.family);
    let first = lbs.next();
    let family = IpFamily::of(ip);
    if first == Some(family) || lbs.any(|f| f == family) { family } else { first.unwrap_or(family) }
}

/// Whether the load balancer of `family` of `svc` has `node` in rotation now (unknown: yes).
fn in_rotation(sim: &Sim, svc: ServiceId, family: IpFamily, node: NodeId) -> bool {
    let by_family = sim.load_balancers(svc).find(|(lb, _)| lb.family == family).map(|(_, b)| b);
    match by_family {
        Some(backends) => backends.get(&node).is_none_or(|b| b.in_rotation),
        None => sim.in_rotation(svc, node).unwrap_or(true),
    }
}

/// Every load-balancer frontend the lab's client namespace can stand for. An instance-target
/// frontend whose load balancer speaks the other family to its targets (an AWS NLB's IPv6
/// frontend) is left out: the lab's load balancer does not translate between families.
fn frontends(sim: &Sim) -> Vec<Frontend> {
    let cluster = sim.cluster();
    let mut out = Vec::new();
    for (id, svc) in cluster.services.iter_enumerated() {
        let Some(profile) = LbProfile::for_service(cluster.config.provider, svc) else { continue };
        for (port_idx, port) in svc.ports.iter().enumerate() {
            for ip in &svc.load_balancer_ingress {
                let addr = SockAddr::new(*ip, port.port);
                let family = lb_family(sim, id, *ip);
                let delivery = match profile.delivery {
                    Delivery::FloatingIp => LbDelivery::FloatingIp,
                    Delivery::InstanceTarget if family != IpFamily::of(*ip) => continue,
                    Delivery::InstanceTarget => LbDelivery::InstanceTarget,
                };
                let targets = cluster
                    .nodes
                    .iter_enumerated()
                    .filter(|(n, _)| in_rotation(sim, id, family, *n))
                    .filter_map(|(n, node)| {
                        let to = match delivery {
                            LbDelivery::FloatingIp => addr,
                            LbDelivery::InstanceTarget => {
                                SockAddr::new(node.addresses(family)?.ip, svc.ports[port_idx].node_port?)
                            }
                        };
                        Some((n.0 as usize, to))
                    })
                    .collect();
                out.push(Frontend { service: svc.namespaced_name(), proto: port.protocol, addr, delivery, targets });
            }
        }
    }
    out
}
