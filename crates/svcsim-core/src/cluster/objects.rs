//! The Kubernetes objects svcsim models, with the fields routing depends on: nodes, pods,
//! Deployments, Services and EndpointSlices.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::id::define_id;
use crate::net::{IpCidr, IpFamily, Protocol};
use crate::time::Duration;

define_id!(
    /// Index of a node in [`Cluster::nodes`](super::Cluster::nodes).
    NodeId
);
define_id!(
    /// Index of a pod in [`Cluster::pods`](super::Cluster::pods); stable for the whole run (deleted
    /// pods keep their slot).
    PodId
);
define_id!(
    /// Index of a Service in [`Cluster::services`](super::Cluster::services).
    ServiceId
);
define_id!(
    /// Index of a Deployment in [`Cluster::deployments`](super::Cluster::deployments).
    DeploymentId
);

/// A node: its host network namespace, eth0 and (with kubenet) the cbr0 bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// eth0's address: the node's InternalIP of the cluster's first family.
    pub ip: IpAddr,
    pub pod_cidr: IpCidr,
    /// Its address and pod range in the cluster's second family (dual-stack).
    pub secondary: Option<FamilyAddresses>,
    /// The Node's Ready condition. A NotReady node is not eligible for new pods.
    pub ready: bool,
    /// False when kube-proxy has stopped syncing: its health servers answer 503.
    pub kube_proxy_healthy: bool,
}

/// A node's address and pod range in one IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyAddresses {
    pub ip: IpAddr,
    pub pod_cidr: IpCidr,
}

impl Node {
    /// The bridge address kubenet gives cbr0: the first address of the podCIDR
    /// (`docs/fidelity.md#snat-source-address`).
    pub fn bridge_ip(&self) -> IpAddr {
        self.pod_cidr.nth(1).expect("a podCIDR holds at least two addresses")
    }
    /// The family of the node's first address.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.ip)
    }
    /// The node's address and pod range in `family`, if it has that family.
    pub fn addresses(&self, family: IpFamily) -> Option<FamilyAddresses> {
        std::iter::once(FamilyAddresses { ip: self.ip, pod_cidr: self.pod_cidr })
            .chain(self.secondary)
            .find(|a| IpFamily::of(a.ip) == family)
    }
    /// Every address of the node, the first family's first.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        std::iter::once(self.ip).chain(self.secondary.map(|s| s.ip))
    }
}

/// `node-<i>` with IP 10.240.0.(4+i) and podCIDR 10.244.i.0/24: the defaults of the scenario
/// format, as AKS numbers a VNet's nodes.
pub fn default_node(i: u32) -> Node {
    let pod_cidr = IpCidr::new(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + (i << 8)), 24);
    let ip = default_node_ip(i, IpFamily::Ipv4);
    Node { name: format!("node-{i}"), ip, pod_cidr, secondary: None, ready: true, kube_proxy_healthy: true }
}

/// Node `i`'s default InternalIP in `family`: 10.240.0.(4+i), or 2001:1234:5678:9abc::(4+i) as
/// AKS's dual-stack documentation numbers them (`docs/fidelity.md#dual-stack`).
pub fn default_node_ip(i: u32, family: IpFamily) -> IpAddr {
    match family {
        IpFamily::Ipv4 => Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 240, 0, 4)) + i).into(),
        IpFamily::Ipv6 => {
            let base = u128::from(std::net::Ipv6Addr::new(0x2001, 0x1234, 0x5678, 0x9abc, 0, 0, 0, 4));
            std::net::Ipv6Addr::from(base + u128::from(i)).into()
        }
    }
}

/// The prefix length of a node's podCIDR in `family`: /24 for IPv4, /80 for IPv6 (AKS's node
/// masks; kube-controller-manager's `--node-cidr-mask-size-ipv4/-ipv6`).
pub fn node_cidr_mask(family: IpFamily) -> u8 {
    match family {
        IpFamily::Ipv4 => 24,
        IpFamily::Ipv6 => 80,
    }
}

/// Node `i`'s podCIDR carved from `cluster_cidr` as kube-controller-manager's range allocator
/// does: its `i`-th subnet of [`node_cidr_mask`] bits, if it has one.
pub fn nth_pod_cidr(cluster_cidr: IpCidr, i: u32) -> Option<IpCidr> {
    let mask = node_cidr_mask(cluster_cidr.family());
    let bits = u32::from(mask.checked_sub(cluster_cidr.prefix())?);
    if bits < 32 && u64::from(i) >= 1u64 << bits {
        return None;
    }
    let base = cluster_cidr.nth(u128::from(i) << (u32::from(cluster_cidr.family().bits()) - u32::from(mask)))?;
    Some(IpCidr::new(base, mask))
}

/// What the container in a pod runs, which decides what it prints for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum App {
    /// The seed's demo app: `res.write(req.connection.remoteAddress)` on a dual-stack socket, so
    /// an IPv4 peer prints as `::ffff:a.b.c.d` (`docs/fidelity.md#what-the-app-prints`).
    #[default]
    NodeJs,
    /// The tutorial's echoserver: prints `client_address=<peer>`.
    Echo,
}

impl App {
    /// The response body for a request whose source address, as the pod sees it, is `peer`.
    pub fn respond(self, peer: IpAddr) -> String {
        match (self, peer) {
            (App::NodeJs, IpAddr::V4(v4)) => format!("::ffff:{v4}"),
            (App::NodeJs, IpAddr::V6(v6)) => v6.to_string(),
            (App::Echo, _) => format!("client_address={peer}"),
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

/// A named or unnamed container port, where the pod's app listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

impl ContainerPort {
    /// An unnamed TCP port.
    pub fn tcp(port: u16) -> ContainerPort {
        ContainerPort { name: None, port, protocol: Protocol::Tcp }
    }
}

/// A pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub node: NodeId,
    /// `status.podIP`; `None` until allocated (and while the node's podCIDR is full: Pending).
    pub ip: Option<IpAddr>,
    /// `status.podIPs[1]` on a dual-stack cluster: the address of the second family.
    pub secondary_ip: Option<IpAddr>,
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
    /// allocated from the node's podCIDR by [`Cluster::add_pod`](super::Cluster::add_pod).
    pub fn new(name: &str, labels: BTreeMap<String, String>, node: NodeId, app: App) -> Pod {
        Pod {
            name: name.into(),
            namespace: "default".into(),
            labels,
            node,
            ip: None,
            secondary_ip: None,
            ready: true,
            terminating: false,
            deleted: false,
            ports: vec![],
            app,
            owner: None,
        }
    }
    /// Resolves a Service port's targetPort against this pod's container ports; `None` when no
    /// container port of the Service port's protocol has that name (the EndpointSlice
    /// controller's `findPort` then leaves the pod out for that port).
    pub fn resolve_target_port(&self, target: &TargetPort, protocol: Protocol) -> Option<u16> {
        match target {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => {
                self.ports.iter().find(|p| p.name.as_deref() == Some(name) && p.protocol == protocol).map(|p| p.port)
            }
        }
    }
    /// True if the pod's app listens on `port` over `protocol`: on every port when the pod
    /// declares none (a container's `ports` are informational), else on those it declares.
    pub fn listens(&self, protocol: Protocol, port: u16) -> bool {
        self.ports.is_empty() || self.ports.iter().any(|c| c.port == port && c.protocol == protocol)
    }
    /// The pod's address in `family`, if it has one.
    pub fn ip_of(&self, family: IpFamily) -> Option<IpAddr> {
        self.ip.into_iter().chain(self.secondary_ip).find(|ip| IpFamily::of(*ip) == family)
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
    /// `spec.clusterIP` (`clusterIPs[0]`), allocated from the service CIDR of its first family
    /// when absent.
    pub cluster_ip: Option<IpAddr>,
    /// `spec.ipFamilyPolicy` as the API server defaulted it.
    pub ip_family_policy: IpFamilyPolicy,
    /// `spec.ipFamilies` as the API server defaulted it, in `clusterIPs` order; empty until then
    /// (the cluster's default family).
    pub ip_families: Vec<IpFamily>,
    /// `spec.clusterIPs[1]`, for a Service of both families.
    pub secondary_cluster_ip: Option<IpAddr>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    /// Only for LoadBalancer + Local.
    pub health_check_node_port: Option<u16>,
    /// `sessionAffinity: ClientIP` with its `timeoutSeconds`; `None` for `None`.
    pub session_affinity: Option<Duration>,
    pub external_ips: Vec<IpAddr>,
    pub load_balancer_source_ranges: Vec<IpCidr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ingress: Vec<IpAddr>,
}

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamilyPolicy {
    #[default]
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

impl fmt::Display for IpFamilyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when not given: 3 hours.
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10_800);

impl Service {
    /// `spec.ipFamilies`: as defaulted, else the family of its clusterIP, else the cluster's
    /// default family.
    pub fn families(&self, config: &super::ClusterConfig) -> Vec<IpFamily> {
        if !self.ip_families.is_empty() {
            return self.ip_families.clone();
        }
        vec![self.cluster_ip.map_or(config.primary_family(), IpFamily::of)]
    }
    /// Its `clusterIPs` entry of `family`, if it has one.
    pub fn cluster_ip_of(&self, family: IpFamily) -> Option<IpAddr> {
        self.cluster_ips().find(|ip| IpFamily::of(*ip) == family)
    }
    /// `spec.clusterIPs`, in family order.
    pub fn cluster_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.cluster_ip.into_iter().chain(self.secondary_cluster_ip)
    }
    /// True if it has addresses of both families.
    pub fn is_dual_stack(&self) -> bool {
        self.secondary_cluster_ip.is_some()
    }
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
                protocol: Protocol::Tcp,
            }],
            cluster_ip: None,
            ip_family_policy: IpFamilyPolicy::SingleStack,
            ip_families: Vec::new(),
            secondary_cluster_ip: None,
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
    /// unnamed port (`fmtPortName` leaves the colon out).
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
    /// NodePort, LB IP or externalIP: `ExternallyAccessible` in kube-proxy's `serviceport.go`.
    pub fn externally_accessible(&self) -> bool {
        self.has_node_ports() || !self.external_ips.is_empty() || !self.load_balancer_ingress.is_empty()
    }
    /// `NeedsHealthCheck`: LoadBalancer + externalTrafficPolicy Local.
    pub fn needs_health_check(&self) -> bool {
        self.type_ == ServiceType::LoadBalancer && self.external_traffic_policy == TrafficPolicy::Local
    }
}

/// One address of an EndpointSlice given explicitly in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceEndpoint {
    pub ip: IpAddr,
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
    /// `addressType`: the family of its addresses.
    pub address_type: IpFamily,
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports[]` as (name, port); matched to Service ports by name, as kube-proxy does.
    pub ports: Vec<(String, u16)>,
}
