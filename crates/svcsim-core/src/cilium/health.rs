//! Cilium's health servers when it replaces kube-proxy: the healthCheckNodePort server for
//! `externalTrafficPolicy: Local` Services (`pkg/loadbalancer/healthserver`) and the optional
//! kube-proxy-style `/healthz` (`kubeProxyReplacementHealthzBindAddr`;
//! `docs/fidelity.md#cilium-health`).

use crate::cluster::{Cluster, NodeId, ServiceId};
use crate::dataplane::HealthResponse;

/// The healthCheckNodePort answer for Service `svc` with `local` active local backends: 200
/// when there is one, else 503, with the body `json.Encoder` writes (one line, a newline at the
/// end). Unlike kube-proxy's there is no `serviceProxyHealthy` field.
pub fn service_health(cluster: &Cluster, svc: ServiceId, local: u32) -> HealthResponse {
    let s = cluster.service(svc);
    HealthResponse {
        status: if local > 0 { 200 } else { 503 },
        body: format!(
            "{{\"service\":{{\"namespace\":\"{}\",\"name\":\"{}\"}},\"localEndpoints\":{local}}}\n",
            s.namespace, s.name
        ),
    }
}

/// The kube-proxy replacement's `/healthz`: 200 while the agent is healthy, else 503. Cilium
/// prints its clock in both fields; svcsim has no wall clock, so they read the run's start.
pub fn healthz(cluster: &Cluster, node: NodeId) -> HealthResponse {
    let healthy = cluster.node(node).kube_proxy_healthy;
    let ts = "2026-01-01 00:00:00 +0000 UTC";
    HealthResponse {
        status: if healthy { 200 } else { 503 },
        body: format!("{{\"lastUpdated\": \"{ts}\",\"currentTime\": \"{ts}\"}}"),
    }
}
