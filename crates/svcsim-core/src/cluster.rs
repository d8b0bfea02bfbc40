//! Cluster objects as kube-proxy and the cloud controller see them: nodes, pods, Deployments,
//! Services and EndpointSlices, plus the cluster-wide settings a manifest does not carry.
//!
//! Fields a real cluster assigns (clusterIP, nodePort, healthCheckNodePort, LB ingress IP, pod
//! IP, nodeName) are allocated deterministically here when a scenario leaves them empty; see
//! [`Cluster::allocate`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use crate::net::{Ipv4Cidr, Protocol};
use crate::rng::{SimRng, fnv1a};
use crate::time::Duration;

/// Index of a node in [`Cluster::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);
/// Index of a pod in [`Cluster::pods`]; stable for the whole run (deleted pods keep their slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodId(pub u32);
/// Index of a Service in [`Cluster::services`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub u32);
/// Index of a Deployment in [`Cluster::deployments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeploymentId(pub u32);

/// The cloud whose load balancer fronts `type: LoadBalancer` Services (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// Azure Standard LB with floating IP, as AKS programs it (§3.1–3.7).
    #[default]
    Azure,
    /// AWS NLB with instance targets (§3.8/§3.10).
    Aws,
    /// GCP target-pool network LB (§3.12).
    Gcp,
    /// No cloud load balancer: LoadBalancer Services get no ingress traffic from one.
    None,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Azure => "azure",
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::None => "none",
        })
    }
}

/// The CNI flavour, which decides the address MASQUERADE picks toward a local pod (§5.2, §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkPlugin {
    /// Bridge `cbr0` holds the first address of the node's podCIDR.
    #[default]
    Kubenet,
    /// Pods on VNet addresses, no bridge address: SNAT always picks the node IP.
    AzureCni,
}

impl fmt::Display for NetworkPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkPlugin::Kubenet => "kubenet",
            NetworkPlugin::AzureCni => "azure-cni",
        })
    }
}

/// kube-proxy's `--detect-local-mode` (§1.16), reduced to the modes svcsim models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectLocalMode {
    /// `-s <clusterCIDR>` marks pod traffic.
    #[default]
    ClusterCidr,
    /// `-s <node podCIDR>` marks pod traffic of this node only.
    NodeCidr,
    /// No detector: only host-originated traffic is short-circuited (§1.12).
    None,
}

/// kube-proxy flags that change the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeProxyConfig {
    /// `--masquerade-all` (§1.14).
    pub masquerade_all: bool,
    pub detect_local_mode: DetectLocalMode,
    /// `--iptables-min-sync-period`, default 1 s (§1.18).
    pub min_sync_period: Duration,
}

impl Default for KubeProxyConfig {
    fn default() -> KubeProxyConfig {
        KubeProxyConfig {
            masquerade_all: false,
            detect_local_mode: DetectLocalMode::ClusterCidr,
            min_sync_period: Duration::from_secs(1),
        }
    }
}

/// Cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub provider: Provider,
    pub network_plugin: NetworkPlugin,
    pub cluster_cidr: Ipv4Cidr,
    pub service_cidr: Ipv4Cidr,
    /// `--service-node-port-range`, inclusive.
    pub node_port_range: (u16, u16),
    pub kube_proxy: KubeProxyConfig,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            provider: Provider::Azure,
            network_plugin: NetworkPlugin::Kubenet,
            cluster_cidr: Ipv4Cidr::new(Ipv4Addr::new(10, 244, 0, 0), 16),
            service_cidr: Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 0), 16),
            node_port_range: (30000, 32767),
            kube_proxy: KubeProxyConfig::default(),
        }
    }
}

/// A node: its host network namespace, eth0 and (with kubenet) the cbr0 bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// eth0's address.
    pub ip: Ipv4Addr,
    pub pod_cidr: Ipv4Cidr,
    /// The Node's Ready condition. A NotReady node is not eligible for new pods.
    pub ready: bool,
    /// False when kube-proxy has stopped syncing: its health servers answer 503 (§2.2, §2.5).
    pub kube_proxy_healthy: bool,
}

impl Node {
    /// The bridge address kubenet gives cbr0: the first address of the podCIDR (§5.2).
    pub fn bridge_ip(&self) -> Ipv4Addr {
        self.pod_cidr.nth(1).expect("a podCIDR holds at least two addresses")
    }
}

/// What the container in a pod runs, which decides what it prints for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum App {
    /// The seed's demo app: `res.write(req.connection.remoteAddress)` on a dual-stack socket,
    /// so an IPv4 peer prints as `::ffff:a.b.c.d` (§5.1).
    #[default]
    NodeJs,
    /// The tutorial's echoserver: prints `client_address=a.b.c.d` (§4).
    Echo,
}

impl App {
    /// The response body for a request whose source address, as the pod sees it, is `peer`.
    pub fn respond(self, peer: Ipv4Addr) -> String {
        match self {
            App::NodeJs => crate::net::ipv4_mapped(peer),
            App::Echo => format!("client_address={peer}"),
        }
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            App::NodeJs => "nodejs",
            App::Echo => "echo",
        })
    }
}

/// A named or unnamed container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
}

/// A pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub node: NodeId,
    /// `status.podIP`.
    pub ip: Ipv4Addr,
    /// The Ready condition (readiness probe passing).
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// Gone from the API: no endpoint, no app.
    pub deleted: bool,
    pub ports: Vec<ContainerPort>,
    pub app: App,
    pub owner: Option<DeploymentId>,
}

impl Pod {
    /// A Ready pod in `default` that no Deployment owns, with no container ports; its IP is
    /// allocated from the node's podCIDR by [`Cluster::add_pod`] (the IP stays unspecified here).
    pub fn new(name: &str, labels: BTreeMap<String, String>, node: NodeId, app: App) -> Pod {
        Pod {
            name: name.into(),
            namespace: "default".into(),
            labels,
            node,
            ip: Ipv4Addr::UNSPECIFIED,
            ready: true,
            terminating: false,
            deleted: false,
            ports: vec![],
            app,
            owner: None,
        }
    }
    /// Resolves a Service's targetPort against this pod's container ports; `None` when a named
    /// port does not exist here (the endpoint controller then leaves the pod out for that port).
    pub fn resolve_target_port(&self, target: &TargetPort) -> Option<u16> {
        match target {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => self.ports.iter().find(|p| p.name.as_deref() == Some(name)).map(|p| p.port),
        }
    }
    /// True if the pod exists and its labels match `selector` (an empty selector matches nothing,
    /// as for a Service without a selector).
    pub fn matches(&self, namespace: &str, selector: &BTreeMap<String, String>) -> bool {
        !self.deleted
            && self.namespace == namespace
            && !selector.is_empty()
            && selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// The pod template of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplate {
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<ContainerPort>,
    pub app: App,
    /// `spec.template.spec.nodeName`: pins every replica to that node.
    pub node_name: Option<String>,
}

/// A Deployment: keeps `replicas` pods from `template` running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub name: String,
    pub namespace: String,
    pub replicas: u32,
    pub template: PodTemplate,
}

/// `spec.type` of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// externalTrafficPolicy or internalTrafficPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

impl fmt::Display for TrafficPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `targetPort`: a number, or the name of a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

impl fmt::Display for TargetPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetPort::Number(n) => write!(f, "{n}"),
            TargetPort::Name(s) => f.write_str(s),
        }
    }
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// May be empty for a single-port Service.
    pub name: String,
    pub port: u16,
    pub target_port: TargetPort,
    /// Set for NodePort and LoadBalancer Services after allocation.
    pub node_port: Option<u16>,
    pub protocol: Protocol,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub namespace: String,
    pub type_: ServiceType,
    /// Empty for a Service without a selector (its EndpointSlices are given explicitly).
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
    /// `spec.clusterIP`, allocated from the service CIDR when absent.
    pub cluster_ip: Option<Ipv4Addr>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    /// Only for LoadBalancer + Local (§2.1).
    pub health_check_node_port: Option<u16>,
    /// `sessionAffinity: ClientIP` with its `timeoutSeconds` (§1.7); `None` for `None`.
    pub session_affinity: Option<Duration>,
    pub external_ips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Ipv4Cidr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ingress: Vec<Ipv4Addr>,
}

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when not given: 3 hours (§1.7).
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10_800);

impl Service {
    /// A Service in `default` with one unnamed TCP port `port` → `target_port` and the API
    /// server's defaults for the rest: both traffic policies Cluster, no affinity, nothing
    /// assigned yet (clusterIP, nodePort and the LB ingress are allocated later).
    pub fn new(
        name: &str,
        type_: ServiceType,
        selector: BTreeMap<String, String>,
        port: u16,
        target_port: u16,
    ) -> Service {
        Service {
            name: name.into(),
            namespace: "default".into(),
            type_,
            selector,
            ports: vec![ServicePort {
                name: String::new(),
                port,
                target_port: TargetPort::Number(target_port),
                node_port: None,
                protocol: crate::net::Protocol::Tcp,
            }],
            cluster_ip: None,
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
            session_affinity: None,
            external_ips: vec![],
            load_balancer_source_ranges: vec![],
            load_balancer_ingress: vec![],
        }
    }
    /// `namespace/name`.
    pub fn namespaced_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
    /// kube-proxy's ServicePortName string: `namespace/name:portName`, or `namespace/name` for an
    /// unnamed port (§1.1; `fmtPortName` leaves the colon out).
    pub fn port_name(&self, port_idx: usize) -> String {
        match self.ports[port_idx].name.as_str() {
            "" => format!("{}/{}", self.namespace, self.name),
            name => format!("{}/{}:{name}", self.namespace, self.name),
        }
    }
    /// NodePort or LoadBalancer.
    pub fn has_node_ports(&self) -> bool {
        matches!(self.type_, ServiceType::NodePort | ServiceType::LoadBalancer)
    }
    /// NodePort, LB IP or externalIP: `ExternallyAccessible` (S3).
    pub fn externally_accessible(&self) -> bool {
        self.has_node_ports() || !self.external_ips.is_empty() || !self.load_balancer_ingress.is_empty()
    }
    /// `NeedsHealthCheck`: LoadBalancer + externalTrafficPolicy Local (§2.1).
    pub fn needs_health_check(&self) -> bool {
        self.type_ == ServiceType::LoadBalancer && self.external_traffic_policy == TrafficPolicy::Local
    }
}

/// One address of an EndpointSlice given explicitly in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceEndpoint {
    pub ip: Ipv4Addr,
    pub node: Option<NodeId>,
    /// `conditions.ready`; nil means true.
    pub ready: bool,
    /// `conditions.serving`; nil means the same as ready.
    pub serving: bool,
    pub terminating: bool,
}

/// An EndpointSlice given explicitly, for a Service without a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSlice {
    pub service: ServiceId,
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports[]` as (name, port); matched to Service ports by name, as kube-proxy does.
    pub ports: Vec<(String, u16)>,
}

/// The whole cluster at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cluster {
    pub config: ClusterConfig,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
}

impl Cluster {
    /// A cluster of `n` nodes named `node-0` … with IPs 10.240.0.4, .5, … and podCIDRs
    /// 10.244.0.0/24, 10.244.1.0/24, … (the defaults of the scenario format).
    pub fn with_nodes(config: ClusterConfig, n: u32) -> Cluster {
        let nodes = (0..n).map(default_node).collect();
        Cluster { config, nodes, ..Cluster::default() }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }
    pub fn pod(&self, id: PodId) -> &Pod {
        &self.pods[id.0 as usize]
    }
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.0 as usize]
    }
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(|i| NodeId(i as u32))
    }
    pub fn service_by_name(&self, namespace: &str, name: &str) -> Option<ServiceId> {
        self.services.iter().position(|s| s.namespace == namespace && s.name == name).map(|i| ServiceId(i as u32))
    }
    pub fn pod_by_name(&self, name: &str) -> Option<PodId> {
        self.pods.iter().position(|p| p.name == name && !p.deleted).map(|i| PodId(i as u32))
    }
    pub fn deployment_by_name(&self, namespace: &str, name: &str) -> Option<DeploymentId> {
        self.deployments.iter().position(|d| d.namespace == namespace && d.name == name).map(|i| DeploymentId(i as u32))
    }
    /// The node whose eth0 holds `ip`.
    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.ip == ip).map(|i| NodeId(i as u32))
    }
    /// The live pod holding `ip`.
    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<PodId> {
        self.pods.iter().position(|p| p.ip == ip && !p.deleted).map(|i| PodId(i as u32))
    }
    /// The node whose podCIDR holds `ip`.
    pub fn node_for_pod_ip(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.pod_cidr.contains(ip)).map(|i| NodeId(i as u32))
    }

    /// Adds a pod on `node` with the next free address of the node's podCIDR (host-local IPAM
    /// starts at .2: .1 is the bridge); `None` if the podCIDR is full (the pod stays Pending).
    pub fn add_pod(&mut self, mut pod: Pod) -> Option<PodId> {
        if pod.ip == Ipv4Addr::UNSPECIFIED {
            pod.ip = self.next_pod_ip(pod.node, &self.pod_ips())?;
        }
        self.pods.push(pod);
        Some(PodId(self.pods.len() as u32 - 1))
    }

    /// Every address a pod holds.
    fn pod_ips(&self) -> BTreeSet<Ipv4Addr> {
        self.pods.iter().filter(|p| !p.deleted).map(|p| p.ip).collect()
    }

    fn next_pod_ip(&self, node: NodeId, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let cidr = self.node(node).pod_cidr;
        (2..cidr.size().saturating_sub(1) as u32).filter_map(|n| cidr.nth(n)).find(|ip| !used.contains(ip))
    }

    /// Brings each Deployment to its replica count: schedules missing pods on Ready nodes
    /// (spreading: the node with the fewest of this Deployment's pods, then the fewest pods, then
    /// the lowest index; `nodeName` pins), and marks surplus pods terminating, newest first.
    /// `rng` names the pods' random suffixes.
    pub fn reconcile_deployments(&mut self, rng: &mut SimRng) -> Vec<PodId> {
        let mut changed = Vec::new();
        // Running pods per node: all of them, and per Deployment.
        let mut per_node = vec![0usize; self.nodes.len()];
        let mut per_node_owned: BTreeMap<(DeploymentId, NodeId), usize> = BTreeMap::new();
        for p in self.pods.iter().filter(|p| !p.deleted && !p.terminating) {
            per_node[p.node.0 as usize] += 1;
            if let Some(owner) = p.owner {
                *per_node_owned.entry((owner, p.node)).or_default() += 1;
            }
        }
        for d_idx in 0..self.deployments.len() {
            let id = DeploymentId(d_idx as u32);
            let live: Vec<PodId> = self.pods_of(id).filter(|p| !self.pod(*p).terminating).collect();
            let want = self.deployments[d_idx].replicas as usize;
            if live.len() > want {
                for pod in live.iter().rev().take(live.len() - want) {
                    let p = &mut self.pods[pod.0 as usize];
                    p.terminating = true;
                    p.ready = false;
                    per_node[p.node.0 as usize] -= 1;
                    *per_node_owned.entry((id, p.node)).or_default() -= 1;
                    changed.push(*pod);
                }
            }
            for _ in live.len()..want {
                let Some(node) = self.schedule(id, &per_node, &per_node_owned) else { break };
                per_node[node.0 as usize] += 1;
                *per_node_owned.entry((id, node)).or_default() += 1;
                let d = &self.deployments[d_idx];
                let name = format!("{}-{}-{}", d.name, template_hash(d), pod_suffix(rng));
                let pod = Pod {
                    name,
                    namespace: d.namespace.clone(),
                    labels: d.template.labels.clone(),
                    node,
                    ip: Ipv4Addr::UNSPECIFIED,
                    ready: true,
                    terminating: false,
                    deleted: false,
                    ports: d.template.ports.clone(),
                    app: d.template.app,
                    owner: Some(id),
                };
                match self.add_pod(pod) {
                    Some(id) => changed.push(id),
                    // The node's podCIDR is full: the pod stays Pending.
                    None => break,
                }
            }
        }
        changed
    }

    /// Live (not deleted) pods owned by a Deployment, oldest first.
    pub fn pods_of(&self, id: DeploymentId) -> impl Iterator<Item = PodId> + '_ {
        self.pods
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.owner == Some(id) && !p.deleted)
            .map(|(i, _)| PodId(i as u32))
    }

    fn schedule(
        &self,
        id: DeploymentId,
        per_node: &[usize],
        per_node_owned: &BTreeMap<(DeploymentId, NodeId), usize>,
    ) -> Option<NodeId> {
        let d = &self.deployments[id.0 as usize];
        if let Some(name) = &d.template.node_name {
            return self.node_by_name(name);
        }
        (0..self.nodes.len() as u32)
            .map(NodeId)
            .filter(|n| self.node(*n).ready)
            .min_by_key(|n| (per_node_owned.get(&(id, *n)).copied().unwrap_or(0), per_node[n.0 as usize], n.0))
    }

    /// Fills in what the API server and controllers would assign: pod IPs, clusterIPs, nodePorts,
    /// healthCheckNodePorts and LoadBalancer ingress IPs, deterministically and without
    /// disturbing values that were given.
    ///
    /// Returns what could not be allocated (a full podCIDR, service CIDR or node port range); the
    /// fields concerned stay empty.
    pub fn allocate(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        let range = self.config.node_port_range;
        let mut used_ports: Vec<u16> = self
            .services
            .iter()
            .flat_map(|s| s.ports.iter().filter_map(|p| p.node_port).chain(s.health_check_node_port))
            .collect();
        let mut used_ips: Vec<Ipv4Addr> = self.services.iter().filter_map(|s| s.cluster_ip).collect();
        // Pods given without status.podIP get the next free address of their node's podCIDR,
        // after every given address is known.
        let mut used_pod_ips = self.pod_ips();
        for i in 0..self.pods.len() {
            if self.pods[i].ip == Ipv4Addr::UNSPECIFIED && !self.pods[i].deleted {
                match self.next_pod_ip(self.pods[i].node, &used_pod_ips) {
                    Some(ip) => {
                        used_pod_ips.insert(ip);
                        self.pods[i].ip = ip;
                    }
                    None => failures.push(format!("pod {}: the podCIDR of its node is full", self.pods[i].name)),
                }
            }
        }
        let mut next_lb = 10u8;
        for s_idx in 0..self.services.len() {
            let key = self.services[s_idx].namespaced_name();
            if self.services[s_idx].cluster_ip.is_none() {
                match self.allocate_cluster_ip(&key, &used_ips) {
                    Some(ip) => {
                        used_ips.push(ip);
                        self.services[s_idx].cluster_ip = Some(ip);
                    }
                    None => {
                        failures.push(format!("service {key}: the service CIDR {} is full", self.config.service_cidr))
                    }
                }
            }
            let svc = &mut self.services[s_idx];
            if svc.has_node_ports() {
                for (p_idx, port) in svc.ports.iter_mut().enumerate() {
                    if port.node_port.is_none() {
                        match allocate_port(&format!("{key}:{p_idx}"), range, &used_ports) {
                            Some(p) => {
                                used_ports.push(p);
                                port.node_port = Some(p);
                            }
                            None => failures
                                .push(format!("service {key}: the node port range {}-{} is full", range.0, range.1)),
                        }
                    }
                }
            }
            if svc.needs_health_check() && svc.health_check_node_port.is_none() {
                match allocate_port(&format!("{key}:healthz"), range, &used_ports) {
                    Some(p) => {
                        used_ports.push(p);
                        svc.health_check_node_port = Some(p);
                    }
                    None => {
                        failures.push(format!("service {key}: the node port range {}-{} is full", range.0, range.1))
                    }
                }
            }
            if !svc.needs_health_check() {
                // "This field will be wiped when updating a Service to no longer need it" (§2.1).
                svc.health_check_node_port = None;
            }
            if svc.type_ == ServiceType::LoadBalancer
                && svc.load_balancer_ingress.is_empty()
                && self.config.provider != Provider::None
            {
                svc.load_balancer_ingress.push(Ipv4Addr::new(203, 0, 113, next_lb));
            }
            if svc.type_ == ServiceType::LoadBalancer {
                next_lb = next_lb.saturating_add(1);
            }
        }
        failures
    }

    fn allocate_cluster_ip(&self, key: &str, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let cidr = self.config.service_cidr;
        // Skip the network address, .1 (the `kubernetes` Service) and the broadcast address.
        let usable = cidr.size().saturating_sub(3);
        let mut h = fnv1a(key.as_bytes());
        for _ in 0..usable.min(u64::from(u32::MAX)) {
            let ip = cidr.nth((2 + h % usable) as u32)?;
            if !used.contains(&ip) {
                return Some(ip);
            }
            h = h.wrapping_add(1);
        }
        None
    }
}

fn allocate_port(key: &str, (lo, hi): (u16, u16), used: &[u16]) -> Option<u16> {
    let span = u64::from(hi.saturating_sub(lo)) + 1;
    let mut h = fnv1a(key.as_bytes());
    for _ in 0..span {
        let p = lo + (h % span) as u16;
        if !used.contains(&p) {
            return Some(p);
        }
        h = h.wrapping_add(1);
    }
    None
}

/// The characters Kubernetes uses in generated names (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable pod-template-hash for the Deployment, as the ReplicaSet name carries.
fn template_hash(d: &Deployment) -> String {
    let mut h = fnv1a(format!("{}/{}", d.namespace, d.name).as_bytes());
    (0..10)
        .map(|_| {
            let c = NAME_ALPHABET[(h % NAME_ALPHABET.len() as u64) as usize] as char;
            h /= NAME_ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn pod_suffix(rng: &mut SimRng) -> String {
    (0..5).map(|_| NAME_ALPHABET[rng.below(NAME_ALPHABET.len() as u64) as usize] as char).collect()
}

/// `node-<i>` with IP 10.240.0.(4+i) and podCIDR 10.244.i.0/24.
pub fn default_node(i: u32) -> Node {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 240, 0, 4)) + i);
    let pod_cidr = Ipv4Cidr::new(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + (i << 8)), 24);
    Node { name: format!("node-{i}"), ip, pod_cidr, ready: true, kube_proxy_healthy: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn deployment(replicas: u32) -> Deployment {
        Deployment {
            name: "node-deployment".into(),
            namespace: "default".into(),
            replicas,
            template: PodTemplate {
                labels: labels(&[("app", "node")]),
                ports: vec![ContainerPort { name: None, port: 8080 }],
                app: App::NodeJs,
                node_name: None,
            },
        }
    }

    #[test]
    fn default_nodes_follow_the_documented_addressing() {
        let c = Cluster::with_nodes(ClusterConfig::default(), 3);
        let got: Vec<String> =
            c.nodes.iter().map(|n| format!("{} {} {} cbr0={}", n.name, n.ip, n.pod_cidr, n.bridge_ip())).collect();
        assert_eq!(
            got,
            [
                "node-0 10.240.0.4 10.244.0.0/24 cbr0=10.244.0.1",
                "node-1 10.240.0.5 10.244.1.0/24 cbr0=10.244.1.1",
                "node-2 10.240.0.6 10.244.2.0/24 cbr0=10.244.2.1"
            ]
        );
    }

    #[test]
    fn scheduling_spreads_over_ready_nodes_and_scale_down_terminates_newest() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 3);
        c.nodes[1].ready = false;
        c.deployments.push(deployment(4));
        let mut rng = SimRng::new(1);
        c.reconcile_deployments(&mut rng);
        let placed: Vec<(&str, String)> =
            c.pods.iter().map(|p| (c.node(p.node).name.as_str(), p.ip.to_string())).collect();
        assert_eq!(
            placed,
            [
                ("node-0", "10.244.0.2".into()),
                ("node-2", "10.244.2.2".into()),
                ("node-0", "10.244.0.3".into()),
                ("node-2", "10.244.2.3".into())
            ]
        );
        assert!(
            c.pods[0].name.starts_with("node-deployment-")
                && c.pods[0].name.len() == "node-deployment-".len() + 10 + 1 + 5
        );

        c.deployments[0].replicas = 3;
        c.reconcile_deployments(&mut rng);
        let terminating: Vec<usize> =
            c.pods.iter().enumerate().filter(|(_, p)| p.terminating).map(|(i, _)| i).collect();
        assert_eq!(terminating, [3]);
    }

    #[test]
    fn node_name_pins_replicas() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 2);
        let mut d = deployment(2);
        d.template.node_name = Some("node-1".into());
        c.deployments.push(d);
        c.reconcile_deployments(&mut SimRng::new(1));
        assert!(c.pods.iter().all(|p| p.node == NodeId(1)));
    }
}
