//! kube-proxy's health servers: one per `externalTrafficPolicy: Local` LoadBalancer Service on
//! its healthCheckNodePort, and the node's own `:10256/healthz`
//! (`docs/fidelity.md#kube-proxy-health-servers`).

use crate::cluster::{Cluster, NodeId, ServiceId};
use crate::dataplane::HealthResponse;

pub use crate::dataplane::PROXY_HEALTHZ_PORT;

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
