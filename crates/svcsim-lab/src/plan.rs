//! A lab's shape as data: the network namespaces, links, addresses, routes, sysctls, rules and
//! servers that stand for one moment of a simulated cluster. Pure: [`Plan::of`] reads a
//! [`Sim`], [`Plan::setup`] turns the plan into commands, and `host` runs them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use svcsim_core::cluster::{App, NetworkPlugin, NodeId};
use svcsim_core::dataplane::{HealthResponse, PROXY_HEALTHZ_PORT, RulesText};
use svcsim_core::endpoints::service_port_endpoints;
use svcsim_core::lb::{Delivery, LbProfile};
use svcsim_core::net::{IpCidr, Protocol, SockAddr};
use svcsim_core::scenario::ClientKind;
use svcsim_core::sim::Sim;

/// The address an Azure CNI pod uses as its gateway: the host side of its veth answers for it
/// (proxy ARP), as Azure CNI's transparent mode does.
pub const AZURE_CNI_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub name: String,
    pub ip: IpAddr,
    pub pod_cidr: IpCidr,
    /// cbr0's address (kubenet).
    pub bridge: Option<IpAddr>,
    /// Routes to the other nodes' podCIDRs (the cloud's route table): (podCIDR, via node IP).
    pub routes: Vec<(IpCidr, IpAddr)>,
    /// The node's rules as `svcsim rules` prints them: iptables-save's or nft's listing.
    pub rules: String,
    /// kube-proxy's health servers: healthCheckNodePorts and `:10256/healthz`.
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
    /// with `prefix`.
    pub fn of(sim: &Sim, prefix: &str) -> Result<Plan, Unsupported> {
        let cluster = sim.cluster();
        if cluster.nodes.iter().any(|n| !n.ip.is_ipv4()) {
            return Err(Unsupported("the lab builds IPv4 clusters only".into()));
        }
        let network_plugin = match cluster.config.network_plugin {
            NetworkPlugin::Kubenet => Plugin::Kubenet,
            NetworkPlugin::AzureCni => Plugin::AzureCni,
        };
        let node_ips: Vec<IpAddr> = cluster.nodes.iter().map(|n| n.ip).collect();
        let vnet = covering(&node_ips);
        let gateway = (1..vnet.size())
            .filter_map(|k| vnet.nth(k))
            .find(|ip| !node_ips.contains(ip))
            .ok_or_else(|| Unsupported(format!("the node network {vnet} has no address left for a gateway")))?;
        let nodes = cluster.nodes.ids().map(|id| node_plan(sim, id, network_plugin)).collect();
        let pods = pod_plans(sim);
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
        })
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
    /// free address of its podCIDR, so traffic from a pod can be tried on every node.
    pub fn add_probe_pods(&mut self) {
        for node in 0..self.nodes.len() {
            if self.pods.iter().any(|p| p.node == node) {
                continue;
            }
            let cidr = self.nodes[node].pod_cidr;
            let used: Vec<IpAddr> = self.pods.iter().map(|p| p.ip).collect();
            let free =
                (2..cidr.size().saturating_sub(1)).rev().filter_map(|k| cidr.nth(k)).find(|ip| !used.contains(ip));
            let Some(ip) = free else { continue };
            let host_if = format!("vp{}", self.pods.len());
            let name = format!("probe-{}", self.nodes[node].name);
            self.pods.push(PodPlan { name, node, ip, ports: vec![], app: AppKind::NodeJs, host_if, probe: true });
        }
    }
    /// The index of the node named `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

/// The smallest prefix (of /24 or wider) holding every node IP.
fn covering(ips: &[IpAddr]) -> IpCidr {
    let first = ips.first().copied().unwrap_or(Ipv4Addr::new(10, 240, 0, 4).into());
    (8..=24)
        .rev()
        .map(|p| IpCidr::new(first, p))
        .find(|c| ips.iter().all(|ip| c.contains(*ip)))
        .unwrap_or(IpCidr::new(first, 8))
}

fn node_plan(sim: &Sim, id: NodeId, plugin: Plugin) -> NodePlan {
    let cluster = sim.cluster();
    let node = cluster.node(id);
    let routes = cluster.nodes.iter().filter(|n| n.name != node.name).map(|n| (n.pod_cidr, n.ip)).collect();
    let mut health: Vec<HealthServer> = cluster
        .services
        .iter()
        .filter(|s| s.needs_health_check())
        .filter_map(|s| s.health_check_node_port)
        .chain([PROXY_HEALTHZ_PORT])
        .filter_map(|port| {
            let HealthResponse { status, body } = sim.dataplane().serve(cluster, id, SockAddr::new(node.ip, port))?;
            Some(HealthServer { port, status, body })
        })
        .collect();
    health.sort_by_key(|h| h.port);
    health.dedup_by_key(|h| h.port);
    NodePlan {
        name: node.name.clone(),
        ip: node.ip,
        pod_cidr: node.pod_cidr,
        bridge: (plugin == Plugin::Kubenet).then(|| node.bridge_ip()),
        routes,
        rules: sim.dataplane().render(id, RulesText::Save),
        health,
    }
}

fn pod_plans(sim: &Sim) -> Vec<PodPlan> {
    let cluster = sim.cluster();
    let mut pods = Vec::new();
    for (id, pod) in cluster.pods.iter_enumerated().filter(|(_, p)| !p.deleted) {
        let Some(ip) = pod.ip else { continue };
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
        pods.push(PodPlan { name: pod.name.clone(), node: pod.node.0 as usize, ip, ports, app, host_if, probe: false });
    }
    pods
}

fn frontends(sim: &Sim) -> Vec<Frontend> {
    let cluster = sim.cluster();
    let mut out = Vec::new();
    for (id, svc) in cluster.services.iter_enumerated() {
        let Some(profile) = LbProfile::for_service(cluster.config.provider, svc) else { continue };
        for (port_idx, port) in svc.ports.iter().enumerate() {
            for ip in &svc.load_balancer_ingress {
                let addr = SockAddr::new(*ip, port.port);
                let delivery = match profile.delivery {
                    Delivery::FloatingIp => LbDelivery::FloatingIp,
                    Delivery::InstanceTarget => LbDelivery::InstanceTarget,
                };
                let targets = cluster
                    .nodes
                    .iter_enumerated()
                    .filter(|(n, _)| sim.in_rotation(id, *n).unwrap_or(true))
                    .filter_map(|(n, node)| {
                        let to = match delivery {
                            LbDelivery::FloatingIp => addr,
                            LbDelivery::InstanceTarget => SockAddr::new(node.ip, svc.ports[port_idx].node_port?),
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
