//! Cluster objects as kube-proxy and the cloud controller see them: nodes, pods, Deployments,
//! Services and EndpointSlices, plus the cluster-wide settings a manifest does not carry.
//!
//! Fields a real cluster assigns (clusterIP, nodePort, healthCheckNodePort, LB ingress IP, pod
//! IP, nodeName) are allocated deterministically here when a scenario leaves them empty; see
//! [`Cluster::allocate`].

mod allocate;
mod config;
pub mod families;
mod objects;
mod view;

use std::net::IpAddr;

pub use config::{
    CiliumConfig, CiliumLbAlgorithm, CiliumLbMode, ClusterConfig, DataplaneKind, DetectLocalMode, DsrDispatch,
    KubeProxyConfig, NetworkPlugin, NodePortAddresses, Provider, ProxyMode, RoutingMode, SecondaryCidrs,
};
pub use objects::*;

use crate::id::IdVec;

/// The whole cluster at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cluster {
    pub config: ClusterConfig,
    pub nodes: IdVec<NodeId, Node>,
    pub pods: IdVec<PodId, Pod>,
    pub deployments: IdVec<DeploymentId, Deployment>,
    pub services: IdVec<ServiceId, Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
}

impl Cluster {
    /// A cluster of `n` nodes named `node-0` … with IPs 10.240.0.4, .5, … and podCIDRs
    /// 10.244.0.0/24, 10.244.1.0/24, … (the defaults of the scenario format).
    pub fn with_nodes(config: ClusterConfig, n: u32) -> Cluster {
        let nodes = (0..n).map(|i| config.default_node(i)).collect();
        Cluster { config, nodes, ..Cluster::default() }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
    pub fn pod(&self, id: PodId) -> &Pod {
        &self.pods[id]
    }
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id]
    }
    pub fn deployment(&self, id: DeploymentId) -> &Deployment {
        &self.deployments[id]
    }
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.position(|n| n.name == name)
    }
    pub fn service_by_name(&self, namespace: &str, name: &str) -> Option<ServiceId> {
        self.services.position(|s| s.namespace == namespace && s.name == name)
    }
    pub fn pod_by_name(&self, name: &str) -> Option<PodId> {
        self.pods.position(|p| p.name == name && !p.deleted)
    }
    pub fn deployment_by_name(&self, namespace: &str, name: &str) -> Option<DeploymentId> {
        self.deployments.position(|d| d.namespace == namespace && d.name == name)
    }
    /// The node whose eth0 holds `ip` (of either family).
    pub fn node_by_ip(&self, ip: IpAddr) -> Option<NodeId> {
        self.nodes.position(|n| n.ip == ip || n.secondary.is_some_and(|s| s.ip == ip))
    }
    /// The live pod holding `ip` (of either family).
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<PodId> {
        self.pods.position(|p| (p.ip == Some(ip) || p.secondary_ip == Some(ip)) && !p.deleted)
    }
    /// The node whose podCIDR (of either family) holds `ip`.
    pub fn node_for_pod_ip(&self, ip: IpAddr) -> Option<NodeId> {
        self.nodes.position(|n| n.pod_cidr.contains(ip) || n.secondary.is_some_and(|s| s.pod_cidr.contains(ip)))
    }
    /// Live (not deleted) pods owned by a Deployment, oldest first.
    pub fn pods_of(&self, id: DeploymentId) -> impl Iterator<Item = PodId> + '_ {
        self.pods.iter_enumerated().filter(move |(_, p)| p.owner == Some(id) && !p.deleted).map(|(i, _)| i)
    }
}
