//! A scenario as the simulation takes it: a validated cluster, the clients that send traffic,
//! and the timeline of changes. (The YAML edge that builds one lives apart from this.)

use std::net::IpAddr;

use crate::cluster::families::{Families, FamilyPatch};
use crate::cluster::{Cluster, DeploymentId, NodeId, ServiceId, TrafficPolicy};
use crate::id::{IdVec, define_id};
use crate::net::{IpFamily, Protocol, SockAddr};
use crate::time::{Duration, Instant};

define_id!(
    /// Index of a client in [`Scenario::clients`].
    ClientId
);

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub duration: Duration,
    pub cluster: Cluster,
    pub clients: IdVec<ClientId, Client>,
    /// Changes applied at given times, in time order.
    pub changes: Vec<TimedChange>,
}

/// A traffic source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub kind: ClientKind,
    pub target: Target,
    pub schedule: Schedule,
    /// What it sends: a TCP connection or a UDP datagram.
    pub protocol: Protocol,
}

/// Where a client runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKind {
    /// On the internet, with this public address.
    External(IpAddr),
    /// In the pod with this name.
    Pod(String),
    /// In the host network namespace of a node.
    HostNetwork(NodeId),
}

/// What a client connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The Service's LB frontend (ingress IP) of `family` and port.
    LoadBalancer { svc: ServiceId, port: usize, family: IpFamily },
    /// The Service's ClusterIP of `family` and port.
    ClusterIp { svc: ServiceId, port: usize, family: IpFamily },
    /// A node's IP of `family` and the Service port's nodePort.
    NodePort { node: NodeId, svc: ServiceId, port: usize, family: IpFamily },
    /// Any address.
    Addr(SockAddr),
}

/// When a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every period, starting half a period in (1/s sends at 0.5 s, 1.5 s, …).
    Every(Duration),
    /// At these times.
    At(Vec<Instant>),
}

/// A change at a point in time, like a `kubectl` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedChange {
    pub at: Instant,
    pub change: Change,
}

/// What can change during a run. [`crate::record::Names::change`] renders one as the `kubectl`
/// command or event it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `kubectl patch svc … externalTrafficPolicy`.
    ExternalTrafficPolicy { svc: ServiceId, policy: TrafficPolicy },
    /// `kubectl patch svc … internalTrafficPolicy`.
    InternalTrafficPolicy { svc: ServiceId, policy: TrafficPolicy },
    /// `kubectl patch svc … sessionAffinity` (ClientIP with its timeout, or None).
    SessionAffinity { svc: ServiceId, timeout: Option<Duration> },
    /// `kubectl patch svc … ipFamilyPolicy/ipFamilies`: the patch as written and the families
    /// the API server gave the Service (`crate::cluster::families::update_families`). An upgrade
    /// allocates the new family's clusterIP and load balancer frontend, a downgrade releases them.
    IpFamilies { svc: ServiceId, patch: FamilyPatch, result: Families },
    /// `kubectl scale deployment … --replicas`.
    Scale { deployment: DeploymentId, replicas: u32 },
    /// A pod's readiness probe starts passing or failing.
    PodReady { pod: String, ready: bool },
    /// `kubectl delete pod`.
    DeletePod { pod: String },
    /// A node's Ready condition.
    NodeReady { node: NodeId, ready: bool },
    /// kube-proxy on a node stops (or resumes) syncing.
    KubeProxyHealthy { node: NodeId, healthy: bool },
}
