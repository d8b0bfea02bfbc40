//! kube-proxy's health servers: one per `externalTrafficPolicy: Local` LoadBalancer Service on
//! its healthCheckNodePort (§2.2), and the node's own `:10256/healthz` (§2.5).

use crate::cluster::{Cluster, NodeId, ServiceId};
use crate::endpoints::local_ready_endpoint_ips;

/// An HTTP answer from a health server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthResponse {
    /// 200 or 503.
    pub status: u16,
    /// The JSON body, exactly as kube-proxy writes it.
    pub body: String,
}

/// The healthCheckNodePort server of Service `svc` on `node`: 200 when the node has at least one
/// ready local endpoint and kube-proxy is healthy, else 503; the path is ignored (§2.2).
///
/// `local_endpoints` is the count as of kube-proxy's last sync (§2.3), not the live cluster.
pub fn service_health(cluster: &Cluster, svc: ServiceId, node: NodeId, local_endpoints: usize) -> HealthResponse {
    let s = cluster.service(svc);
    let healthy = cluster.node(node).kube_proxy_healthy;
    let status = if local_endpoints != 0 && healthy { 200 } else { 503 };
    let body = format!(
        "{{\n  \"service\": {{\n    \"namespace\": \"{}\",\n    \"name\": \"{}\"\n  }},\n  \"localEndpoints\": {},\n  \"serviceProxyHealthy\": {}\n}}",
        s.namespace, s.name, local_endpoints, healthy
    );
    HealthResponse { status, body }
}

/// The live count of ready local endpoint IPs, as the next sync would publish it.
pub fn count_local_endpoints(cluster: &Cluster, svc: ServiceId, node: NodeId) -> usize {
    local_ready_endpoint_ips(cluster, svc, node)
}

/// `http://<node>:10256/healthz`: 200 while kube-proxy is healthy (svcsim does not model node
/// deletion or the autoscaler's taint, the other conditions of §2.5).
pub fn proxy_healthz(cluster: &Cluster, node: NodeId) -> HealthResponse {
    let healthy = cluster.node(node).kube_proxy_healthy;
    HealthResponse {
        status: if healthy { 200 } else { 503 },
        body: format!("{{\"healthy\": {healthy}, \"nodeEligible\": true}}"),
    }
}
