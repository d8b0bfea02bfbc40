//! Endpoints as kube-proxy reads them from EndpointSlices: derived from pods for Services with a
//! selector, taken from explicit slices otherwise, and categorized per node into the endpoints
//! the Cluster and Local policy chains may use (`CategorizeEndpoints` of `pkg/proxy/topology.go`;
//! `docs/fidelity.md#usable-endpoints`).

use std::fmt;
use std::net::IpAddr;

use crate::cluster::{Cluster, NodeId, PodId, ServiceId};
use crate::net::SockAddr;

/// One endpoint of one Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SockAddr,
    /// `nodeName`; `None` for an address outside the cluster.
    pub node: Option<NodeId>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// The pod behind the address, if it is one.
    pub pod: Option<PodId>,
}

impl Endpoint {
    pub fn ip(&self) -> IpAddr {
        self.addr.ip
    }
    fn is_local(&self, node: NodeId) -> bool {
        self.node == Some(node)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)
    }
}

/// The endpoints of port `port_idx` of Service `svc`, sorted by their `ip:port` string as
/// kube-proxy orders them.
///
/// For a Service with a selector: every live pod it selects that has an IP and the target port
/// (a named targetPort must exist in the pod). Ready = Ready condition and not terminating;
/// serving = Ready condition; terminating = deletionTimestamp set (the EndpointSlice controller's
/// rules). For a Service without a selector: the explicit EndpointSlices' addresses whose port
/// name matches the Service port's name.
pub fn service_port_endpoints(cluster: &Cluster, svc: ServiceId, port_idx: usize) -> Vec<Endpoint> {
    let mut out = unordered_endpoints(cluster, svc, port_idx);
    // Go's string order: "10.244.0.10:8080" sorts before "10.244.0.2:8080".
    crate::order::sort_by_cached_key(&mut out, |e| e.addr.to_string());
    out.dedup_by(|a, b| a.addr == b.addr);
    out
}

/// The same endpoints in no particular order, without the cost of sorting by text.
fn unordered_endpoints(cluster: &Cluster, svc: ServiceId, port_idx: usize) -> Vec<Endpoint> {
    let service = cluster.service(svc);
    let sp = &service.ports[port_idx];
    let out: Vec<Endpoint> = if service.selector.is_empty() {
        cluster
            .endpoint_slices
            .iter()
            .filter(|s| s.service == svc)
            .flat_map(|slice| {
                let port = slice.ports.iter().find(|(name, _)| *name == sp.name).map(|(_, p)| *p);
                slice.endpoints.iter().filter_map(move |e| {
                    Some(Endpoint {
                        addr: SockAddr::new(e.ip, port?),
                        node: e.node,
                        ready: e.ready,
                        serving: e.serving,
                        terminating: e.terminating,
                        pod: cluster.pod_by_ip(e.ip),
                    })
                })
            })
            .collect()
    } else {
        cluster
            .pods
            .iter_enumerated()
            .filter(|(_, p)| p.matches(&service.namespace, &service.selector))
            .filter_map(|(id, p)| {
                let port = p.resolve_target_port(&sp.target_port, sp.protocol)?;
                Some(Endpoint {
                    addr: SockAddr::new(p.ip?, port),
                    node: Some(p.node),
                    ready: p.ready && !p.terminating,
                    serving: p.ready,
                    terminating: p.terminating,
                    pod: Some(id),
                })
            })
            .collect()
    };
    out
}

/// What one node's kube-proxy uses for one Service port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Categorized {
    /// For KUBE-SVC: ready endpoints, or serving+terminating ones if none is ready anywhere.
    pub cluster: Vec<Endpoint>,
    /// For KUBE-SVL: this node's ready endpoints, or its serving+terminating ones if it has none.
    pub local: Vec<Endpoint>,
    /// Every endpoint a KUBE-SEP chain is written for (cluster ∪ local, in order).
    pub all_reachable: Vec<Endpoint>,
    /// Any usable endpoint exists anywhere.
    pub has_any: bool,
}

/// kube-proxy's `CategorizeEndpoints` for `node`, without topology hints.
///
/// `uses_cluster` / `uses_local` are the Service's `UsesClusterEndpoints` /
/// `UsesLocalEndpoints` (`pkg/proxy/serviceport.go`).
pub fn categorize(endpoints: &[Endpoint], node: NodeId, uses_cluster: bool, uses_local: bool) -> Categorized {
    let mut c = Categorized::default();
    if uses_cluster {
        c.cluster = endpoints.iter().filter(|e| e.ready).cloned().collect();
        if c.cluster.is_empty() {
            c.cluster = endpoints.iter().filter(|e| e.serving && e.terminating).cloned().collect();
        }
        c.has_any = !c.cluster.is_empty();
    }
    if !uses_local {
        c.all_reachable = c.cluster.clone();
        return c;
    }
    let (mut local_ready, mut local_serving_terminating) = (false, false);
    for e in endpoints {
        if e.ready {
            c.has_any = true;
            local_ready |= e.is_local(node);
        } else if e.serving && e.terminating {
            c.has_any = true;
            local_serving_terminating |= e.is_local(node);
        }
    }
    if local_ready {
        c.local = endpoints.iter().filter(|e| e.is_local(node) && e.ready).cloned().collect();
    } else if local_serving_terminating {
        c.local = endpoints.iter().filter(|e| e.is_local(node) && e.serving && e.terminating).cloned().collect();
    }
    if !uses_cluster {
        c.all_reachable = c.local.clone();
        return c;
    }
    c.all_reachable = c.cluster.clone();
    let in_cluster = crate::order::set(c.cluster.iter().map(|e| e.addr));
    c.all_reachable.extend(c.local.iter().filter(|e| !in_cluster.contains(&e.addr)).cloned());
    c
}

/// The number of unique IPs of ready endpoints on `node`, across the Service's ports: what the
/// healthCheckNodePort server reports as `localEndpoints` (`docs/fidelity.md#local-endpoints`).
/// Terminating endpoints do not count, even if serving.
pub fn local_ready_endpoint_ips(cluster: &Cluster, svc: ServiceId, node: NodeId) -> u32 {
    let mut ips: Vec<IpAddr> = (0..cluster.service(svc).ports.len())
        .flat_map(|p| unordered_endpoints(cluster, svc, p))
        .filter(|e| e.ready && e.is_local(node))
        .map(|e| e.ip())
        .collect();
    crate::order::sort(&mut ips);
    ips.dedup();
    ips.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, node: u32, ready: bool, serving: bool, terminating: bool) -> Endpoint {
        Endpoint {
            addr: SockAddr::new(std::net::Ipv4Addr::new(10, 244, node as u8, last), 8080),
            node: Some(NodeId(node)),
            ready,
            serving,
            terminating,
            pod: None,
        }
    }

    fn addrs(v: &[Endpoint]) -> Vec<String> {
        v.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn cluster_policy_falls_back_to_serving_terminating_only_when_nothing_is_ready() {
        let eps = [ep(2, 0, false, true, true), ep(3, 1, true, true, false)];
        let c = categorize(&eps, NodeId(0), true, false);
        assert_eq!(addrs(&c.cluster), ["10.244.1.3:8080"]);
        let eps = [ep(2, 0, false, true, true), ep(3, 1, false, false, true)];
        let c = categorize(&eps, NodeId(0), true, false);
        assert_eq!(addrs(&c.cluster), ["10.244.0.2:8080"], "serving+terminating fallback");
        assert!(c.has_any);
    }

    #[test]
    fn local_policy_uses_local_ready_then_local_serving_terminating() {
        let eps = [ep(2, 0, true, true, false), ep(3, 1, true, true, false)];
        let on0 = categorize(&eps, NodeId(0), true, true);
        assert_eq!(addrs(&on0.local), ["10.244.0.2:8080"]);
        assert_eq!(addrs(&on0.all_reachable), ["10.244.0.2:8080", "10.244.1.3:8080"]);
        let on2 = categorize(&eps, NodeId(2), true, true);
        assert!(on2.local.is_empty() && on2.has_any);

        let eps = [ep(2, 0, false, true, true), ep(3, 1, true, true, false)];
        let on0 = categorize(&eps, NodeId(0), true, true);
        assert_eq!(addrs(&on0.local), ["10.244.0.2:8080"], "terminating-but-serving local endpoint");
        assert_eq!(addrs(&on0.cluster), ["10.244.1.3:8080"]);
    }
}
