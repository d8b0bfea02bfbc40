//! What the Cilium agent writes into one node's maps from the cluster: a frontend per Service
//! address, port and scope, with the backends each may use on this node
//! (`pkg/loadbalancer/reflectors/conversions.go`, `writer.go` `shouldUseLocalBackends`,
//! `reconciler/bpf_reconciler.go`; `docs/fidelity.md#cilium-maps`).

use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use super::maglev::{self, Seeds, TableBackend};
use super::maps::{Backend, BackendId, Frontend, FrontendKind, NodeMaps, Scope};
use crate::cluster::{CiliumConfig, CiliumLbAlgorithm, Cluster, NodeId, ServiceId, ServiceType, TrafficPolicy};
use crate::endpoints::{Endpoint, service_port_endpoints};
use crate::net::SockAddr;

/// What the agent knows of the cluster's Services once per change, shared by every node: every
/// backend with the id it gives it (in the order Services, their ports and their endpoints
/// come, so every node's agent numbers them alike), and each Service port's active backends in
/// slot order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub backends: Rc<[Backend]>,
    /// (Service, port index) → its active backends, in slot order.
    pub ports: Vec<((ServiceId, usize), Vec<BackendId>)>,
}

impl Catalog {
    pub fn of(cluster: &Cluster) -> Catalog {
        let mut backends: Vec<Backend> = Vec::new();
        let mut ports = Vec::new();
        for (svc, s) in cluster.services.iter_enumerated() {
            for (port_idx, p) in s.ports.iter().enumerate() {
                let endpoints = service_port_endpoints(cluster, svc, port_idx);
                let mut ids = Vec::with_capacity(endpoints.len());
                for e in &endpoints {
                    let id = match backends.iter().rposition(|b| b.addr == e.addr && b.proto == p.protocol) {
                        Some(i) => backends[i].id,
                        None => {
                            let id = BackendId(backends.len() as u32 + 1);
                            backends.push(Backend {
                                id,
                                addr: e.addr,
                                proto: p.protocol,
                                node: e.node,
                                terminating: e.terminating,
                            });
                            id
                        }
                    };
                    ids.push((e, id));
                }
                ports.push(((svc, port_idx), active(&ids)));
            }
        }
        Catalog { backends: backends.into(), ports }
    }
    fn backend(&self, id: BackendId) -> &Backend {
        &self.backends[id.0 as usize - 1]
    }
}

/// The maps of `node`, given the cluster's [`Catalog`] and Cilium's configuration.
pub fn program(cluster: &Cluster, node: NodeId, catalog: &Catalog, config: &CiliumConfig) -> NodeMaps {
    let seeds = Seeds::from_hash_seed(&config.maglev_hash_seed).expect("the seed was validated when read");
    let mut frontends: Vec<Frontend> = Vec::new();
    let node_ip = cluster.node(node).ip;
    for (svc, s) in cluster.services.iter_enumerated() {
        let Some(cluster_ip) = s.cluster_ip else { continue };
        for (port_idx, p) in s.ports.iter().enumerate() {
            let Some((_, all)) = catalog.ports.iter().find(|(k, _)| *k == (svc, port_idx)) else { continue };
            let local: Vec<BackendId> =
                all.iter().copied().filter(|id| catalog.backend(*id).node.is_none_or(|n| n == node)).collect();
            let (etp, itp) =
                (s.external_traffic_policy == TrafficPolicy::Local, s.internal_traffic_policy == TrafficPolicy::Local);
            let mut add = |kind: FrontendKind, addr: SockAddr, scope: Scope, two_scopes: bool, chosen: &[BackendId]| {
                let routable = match kind {
                    FrontendKind::ClusterIP => config.external_cluster_ip,
                    _ => !addr.ip.is_unspecified(),
                };
                let source_ranges =
                    if kind == FrontendKind::LoadBalancer { s.load_balancer_source_ranges.clone() } else { Vec::new() };
                frontends.push(Frontend {
                    id: frontends.len() as u16 + 1,
                    addr,
                    proto: p.protocol,
                    scope,
                    kind,
                    routable,
                    local: etp,
                    internal_local: itp,
                    two_scopes,
                    backends: chosen.to_vec(),
                    service: svc,
                    port_idx,
                    affinity: s.session_affinity,
                    source_ranges,
                    maglev: None,
                });
            };
            // ClusterIP and externalIPs: one entry; a ClusterIP follows internalTrafficPolicy,
            // an external IP externalTrafficPolicy.
            add(
                FrontendKind::ClusterIP,
                SockAddr::new(cluster_ip, p.port),
                Scope::External,
                false,
                if itp { &local } else { all },
            );
            let mut external: Vec<(FrontendKind, SockAddr)> = Vec::new();
            if let (ServiceType::NodePort | ServiceType::LoadBalancer, Some(np)) = (s.type_, p.node_port) {
                external.push((FrontendKind::NodePort, SockAddr::new(unspecified(node_ip), np)));
                external.push((FrontendKind::NodePort, SockAddr::new(node_ip, np)));
            }
            if s.type_ == ServiceType::LoadBalancer {
                external.extend(
                    s.load_balancer_ingress.iter().map(|ip| (FrontendKind::LoadBalancer, SockAddr::new(*ip, p.port))),
                );
            }
            // Two scopes only when exactly one policy is Local (`twoScopes` in conversions.go).
            let two = etp != itp;
            for (kind, addr) in &external {
                add(*kind, *addr, Scope::External, two, if etp { &local } else { all });
            }
            for ip in &s.external_ips {
                add(
                    FrontendKind::ExternalIPs,
                    SockAddr::new(*ip, p.port),
                    Scope::External,
                    false,
                    if etp { &local } else { all },
                );
            }
            if two {
                for (kind, addr) in &external {
                    add(*kind, *addr, Scope::Internal, true, if itp { &local } else { all });
                }
            }
        }
    }
    if config.algorithm == CiliumLbAlgorithm::Maglev {
        for f in frontends.iter_mut().filter(|f| uses_maglev(f, config)) {
            let table: Vec<TableBackend<BackendId>> = f
                .backends
                .iter()
                .map(|id| {
                    let b = catalog.backend(*id);
                    TableBackend { hash_string: maglev::backend_hash_string(b.addr, b.proto), weight: 100, id: *id }
                })
                .collect();
            f.maglev = Some(maglev::lookup_table(&table, config.maglev_table_size, seeds.murmur).into());
        }
    }
    NodeMaps { frontends, backends: Rc::clone(&catalog.backends) }
}

/// The backends a frontend balances over, in slot order: the active ones (ready), or when none
/// is, the terminating ones still serving (KEP-1669); healthy first, then by address and port
/// (`sortedBackends`).
fn active(endpoints: &[(&Endpoint, BackendId)]) -> Vec<BackendId> {
    let ready: Vec<&(&Endpoint, BackendId)> = endpoints.iter().filter(|(e, _)| e.ready).collect();
    let chosen: Vec<&(&Endpoint, BackendId)> =
        if ready.is_empty() { endpoints.iter().filter(|(e, _)| e.serving && e.terminating).collect() } else { ready };
    let mut ids: Vec<(IpAddr, u16, BackendId)> = chosen.iter().map(|(e, id)| (e.addr.ip, e.addr.port, *id)).collect();
    crate::order::sort(&mut ids);
    ids.into_iter().map(|(_, _, id)| id).collect()
}

/// Whether the agent builds a Maglev table for `f` (`useMaglev`): an external frontend on a
/// real address of a NodePort, LoadBalancer or external IP, or a ClusterIP reachable from
/// outside (`bpf.lbExternalClusterIP`).
fn uses_maglev(f: &Frontend, config: &CiliumConfig) -> bool {
    f.scope == Scope::External
        && !f.addr.ip.is_unspecified()
        && match f.kind {
            FrontendKind::ClusterIP => config.external_cluster_ip,
            _ => true,
        }
}

/// The Services a node's health server answers for: LoadBalancer or NodePort Services with
/// `externalTrafficPolicy: Local` and a healthCheckNodePort, with the active backends local to
/// the node (`pkg/loadbalancer/healthserver`).
pub fn health_ports(cluster: &Cluster, node: NodeId, maps: &NodeMaps) -> Vec<(ServiceId, u16, u32)> {
    let mut out: Vec<(ServiceId, u16, u32)> = Vec::new();
    for (svc, s) in cluster.services.iter_enumerated() {
        let Some(port) = s.health_check_node_port else { continue };
        if s.external_traffic_policy != TrafficPolicy::Local {
            continue;
        }
        let mut local: Vec<BackendId> = maps
            .frontends
            .iter()
            .filter(|f| f.service == svc && f.scope == Scope::External && f.kind != FrontendKind::ClusterIP)
            .flat_map(|f| f.backends.iter().copied())
            .filter(|id| !maps.backend(*id).terminating && maps.backend(*id).node.is_none_or(|n| n == node))
            .collect();
        crate::order::sort(&mut local);
        local.dedup();
        out.push((svc, port, local.len() as u32));
    }
    out
}

/// The wildcard address of `ip`'s family: `0.0.0.0` or `::`.
pub fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}
