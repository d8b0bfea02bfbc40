//! The Kubernetes objects svcsim models, with the fields routing depends on: nodes, pods,
//! Deployments, Services and EndpointSlices.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::id::define_id;
use crate::net::{IpCidr, Protocol};
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
    /// eth0's address: the node's InternalIP.
    pub ip: IpAddr,
    pub pod_cidr: IpCidr,
    /// The Node's Ready condition. A NotReady node is not eligible for new pods.
    pub ready: bool,
    /// False when kube-proxy has stopped syncing: its health servers answer 503.
    pub kube_proxy_healthy: bool,
}

impl Node {
    /// The bridge address kubenet gives cbr0: the first address of the podCIDR
    /// (`docs/fidelity.md#snat-source-address`).
    pub fn bridge_ip(&self) -> IpAddr {
        self.pod_cidr.nth(1).expect("a podCIDR holds at least two addresses")
    }
}

/// `node-<i>` with IP 10.240.0.(4+i) and podCIDR 10.244.i.0/24: the defaults of the scenario
/// format, as AKS numbers a VNet's nodes.
pub fn default_node(i: u32) -> Node {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 240, 0, 4)) + i);
    let pod_cidr = IpCidr::new(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + (i << 8)), 24);
    Node { name: format!("node-{i}"), ip: ip.into(), pod_cidr, ready: true, kube_proxy_healthy: true }
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
    pub cluster_ip: Option<IpAddr>,
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

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when not given: 3 hours.
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
                protocol: Protocol::Tcp,
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
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports[]` as (name, port); matched to Service ports by name, as kube-proxy does.
    pub ports: Vec<(String, u16)>,
}
