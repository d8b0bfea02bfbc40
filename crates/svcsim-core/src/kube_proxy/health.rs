//! kube-proxy's health servers: one per `externalTrafficPolicy: Local` LoadBalancer Service on
//! its healthCheckNodePort, and the node's own `:10256/healthz`
//! (`docs/fidelity.md#kube-proxy-health-servers`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::cluster::{Cluster, NodeId, ServiceId};
use crate::dataplane::HealthResponse;
use crate::net::SockAddr;

pub use crate::dataplane::PROXY_HEALTHZ_PORT;

/// The health servers kube-proxy runs on one node as of its last sync, in either mode: each
/// healthCheckNodePort with the local endpoints it counted, and the addresses they listen on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthServers {
    /// Service → (healthCheckNodePort, its local endpoints at the sync).
    pub ports: BTreeMap<ServiceId, (u16, u32)>,
    /// The addresses the servers listen on (`--nodeport-addresses`); `None` for all.
    pub listen: Option<Vec<IpAddr>>,
}

impl HealthServers {
    /// The servers of `node` after a sync of `cluster`, counting local endpoints through `cache`.
    pub fn of(
        cluster: &Cluster,
        node: NodeId,
        cache: &mut super::ProgramCache,
        listen: Option<Vec<IpAddr>>,
    ) -> HealthServers {
        let ports =
            crate::order::map(cluster.services.iter_enumerated().filter(|(_, s)| s.needs_health_check()).filter_map(
                |(svc, s)| Some((svc, (s.health_check_node_port?, cache.local_count(cluster, svc, node)))),
            ));
        HealthServers { ports, listen }
    }
    /// (port, local endpoints) of each server, for the sync's report.
    pub fn report(&self) -> Vec<(u16, u32)> {
        self.ports.values().copied().collect()
    }
    /// A connection to `dst`, one of `node`'s addresses: `:10256/healthz`, or the
    /// healthCheckNodePort server on that port if it listens on that address.
    pub fn serve(&self, cluster: &Cluster, node: NodeId, dst: SockAddr) -> Option<HealthResponse> {
        if dst.port == PROXY_HEALTHZ_PORT {
            return Some(proxy_healthz(cluster, node));
        }
        if self.listen.as_ref().is_some_and(|ips| !ips.contains(&dst.ip)) {
            return None;
        }
        let (svc, (_, count)) = self.ports.iter().find(|(_, (p, _))| *p == dst.port)?;
        Some(service_health(cluster, *svc, node, *count))
    }
}

/// The healthCheckNodePort server of Service `svc` on `node`: 200 when the node has at least one
/// ready local endpoint and kube-proxy is healthy, else 503; the path is ignored
/// (`pkg/proxy/healthcheck/service_health.go`).
///
/// `local_endpoints` is the count as of kube-proxy's last sync, not the live cluster.
pub fn service_health(cluster: &Cluster, svc: ServiceId, node: NodeId, local_endpoints: u32) -> HealthResponse {
    let s = cluster.service(svc);
    let healthy = cluster.node(node).kube_proxy_healthy;
    let status = if local_endpoints != 0 && healthy { 200 } else { 503 };
    let body = format!(
        "{{\n  \"service\": {{\n    \"namespace\": \"{}\",\n    \"name\": \"{}\"\n  }},\n  \"localEndpoints\": {},\n  \"serviceProxyHealthy\": {}\n}}",
        s.namespace, s.name, local_endpoints, healthy
    );
    HealthResponse { status, body }
}

/// `http://<node>:10256/healthz`: 200 while kube-proxy is healthy (svcsim does not model node
/// deletion or the autoscaler's taint, the other conditions of `proxy_health.go`).
pub fn proxy_healthz(cluster: &Cluster, node: NodeId) -> HealthResponse {
    let healthy = cluster.node(node).kube_proxy_healthy;
    HealthResponse {
        status: if healthy { 200 } else { 503 },
        body: format!("{{\"healthy\": {healthy}, \"nodeEligible\": true}}"),
    }
}
