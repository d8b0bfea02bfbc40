//! What kube-proxy (iptables mode, v1.33) programs on one node: `syncProxyRules` rewritten as a
//! pure function from the cluster to a [`Ruleset`] (§1).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use super::rules::{Chain, ChainName, CtStates, Match, Rule, Ruleset, Target, chains};
use crate::cluster::{Cluster, DetectLocalMode, NodeId, ServiceId, TrafficPolicy};
use crate::endpoints::{Endpoint, categorize, service_port_endpoints};
use crate::net::Ipv4Cidr;

/// The chain names of one Service port (§1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChains {
    pub svc: ChainName,
    pub svl: ChainName,
    pub ext: ChainName,
    pub fw: ChainName,
}

impl PortChains {
    pub fn new(service_port_name: &str) -> PortChains {
        let h = |prefix| ChainName::hashed(prefix, service_port_name, "tcp", None);
        PortChains { svc: h("KUBE-SVC-"), svl: h("KUBE-SVL-"), ext: h("KUBE-EXT-"), fw: h("KUBE-FW-") }
    }
}

/// The KUBE-SEP chain of one endpoint of a Service port.
pub fn endpoint_chain(service_port_name: &str, endpoint: &Endpoint) -> ChainName {
    ChainName::hashed("KUBE-SEP-", service_port_name, "tcp", Some(&endpoint.to_string()))
}

/// The local-traffic detector's "is local" match (§1.16), if one is configured.
fn detect_local(cluster: &Cluster, node: NodeId, negated: bool) -> Option<Match> {
    let cidr = match cluster.config.kube_proxy.detect_local_mode {
        DetectLocalMode::ClusterCidr => cluster.config.cluster_cidr,
        DetectLocalMode::NodeCidr => cluster.node(node).pod_cidr,
        DetectLocalMode::None => return None,
    };
    Some(Match::Src { cidr, negated })
}

fn jump(chain: &str) -> Target {
    Target::Jump(ChainName::new(chain))
}

fn rule(comment: impl Into<Option<String>>, matches: Vec<Match>, target: Target) -> Rc<Rule> {
    Rc::new(Rule::new(comment.into(), matches, target))
}

/// Work shared by every node's `program` for one state of the cluster: each Service port's
/// endpoints, KUBE-SEP chain names (SHA-256), KUBE-SEP chains and endpoint cascades. kube-proxy
/// itself computes these per node; the simulation programs every node, so it computes them once.
///
/// # Contract
/// A cache belongs to one state of the cluster: [`ProgramCache::clear`] it whenever Services,
/// pods, nodes or EndpointSlices change.
#[derive(Debug, Default)]
pub struct ProgramCache {
    endpoints: BTreeMap<(ServiceId, usize), Rc<[Endpoint]>>,
    sep_names: BTreeMap<(String, SocketAddrV4), ChainName>,
    /// KUBE-SEP chains by (name, affinity seconds).
    sep_chains: BTreeMap<(ChainName, Option<u32>), Chain>,
    /// Endpoint cascades by (policy chain, endpoints, affinity seconds).
    cascades: BTreeMap<CascadeKey, Rc<[Rc<Rule>]>>,
}

impl ProgramCache {
    /// Forgets everything: the cluster changed.
    pub fn clear(&mut self) {
        *self = ProgramCache::default();
    }

    fn endpoints(&mut self, cluster: &Cluster, svc: ServiceId, port: usize) -> Rc<[Endpoint]> {
        Rc::clone(
            self.endpoints.entry((svc, port)).or_insert_with(|| service_port_endpoints(cluster, svc, port).into()),
        )
    }

    fn sep_name(&mut self, name: &str, ep: &Endpoint) -> ChainName {
        self.sep_names.entry((name.to_string(), ep.addr)).or_insert_with(|| endpoint_chain(name, ep)).clone()
    }
}

type CascadeKey = (ChainName, Vec<SocketAddrV4>, Option<u32>);

/// Programs `node`'s rules for every Service of `cluster`.
pub fn program(cluster: &Cluster, node: NodeId) -> Ruleset {
    program_cached(cluster, node, &mut ProgramCache::default())
}

/// [`program`], sharing work between nodes through `cache` (see [`ProgramCache`]).
pub fn program_cached(cluster: &Cluster, node: NodeId, cache: &mut ProgramCache) -> Ruleset {
    let mut rs = Ruleset::default();
    let n = |s: &str| ChainName::new(s);

    // The jumps from the built-in chains (`iptablesJumpChains`, inserted with Prepend, so the
    // last one listed comes first).
    let new = || Match::CtState(CtStates::New);
    for c in [chains::PREROUTING, chains::OUTPUT] {
        rs.nat.append(&n(c), rule("kubernetes service portals".to_string(), vec![], jump(chains::KUBE_SERVICES)));
    }
    rs.nat.append(
        &n(chains::POSTROUTING),
        rule("kubernetes postrouting rules".to_string(), vec![], jump(chains::KUBE_POSTROUTING)),
    );
    let fw = |rs: &mut Ruleset, c: &str| {
        rs.filter.append(
            &n(c),
            rule("kubernetes load balancer firewall".to_string(), vec![new()], jump(chains::KUBE_PROXY_FIREWALL)),
        )
    };
    fw(&mut rs, chains::INPUT);
    rs.filter.append(
        &n(chains::INPUT),
        rule("kubernetes health check service ports".to_string(), vec![], jump(chains::KUBE_NODEPORTS)),
    );
    rs.filter.append(
        &n(chains::INPUT),
        rule(
            "kubernetes externally-visible service portals".to_string(),
            vec![new()],
            jump(chains::KUBE_EXTERNAL_SERVICES),
        ),
    );
    fw(&mut rs, chains::FORWARD);
    rs.filter.append(
        &n(chains::FORWARD),
        rule("kubernetes forwarding rules".to_string(), vec![], jump(chains::KUBE_FORWARD)),
    );
    rs.filter.append(
        &n(chains::FORWARD),
        rule("kubernetes service portals".to_string(), vec![new()], jump(chains::KUBE_SERVICES)),
    );
    rs.filter.append(
        &n(chains::FORWARD),
        rule(
            "kubernetes externally-visible service portals".to_string(),
            vec![new()],
            jump(chains::KUBE_EXTERNAL_SERVICES),
        ),
    );
    fw(&mut rs, chains::OUTPUT);
    rs.filter.append(
        &n(chains::OUTPUT),
        rule("kubernetes service portals".to_string(), vec![new()], jump(chains::KUBE_SERVICES)),
    );

    // kube-proxy's own chains, always declared.
    for c in [
        chains::KUBE_EXTERNAL_SERVICES,
        chains::KUBE_FORWARD,
        chains::KUBE_NODEPORTS,
        chains::KUBE_PROXY_FIREWALL,
        chains::KUBE_SERVICES,
    ] {
        rs.filter.chain(&n(c));
    }
    for c in [chains::KUBE_MARK_MASQ, chains::KUBE_NODEPORTS, chains::KUBE_POSTROUTING, chains::KUBE_SERVICES] {
        rs.nat.chain(&n(c));
    }
    // §1.8.
    rs.nat.append(&n(chains::KUBE_MARK_MASQ), rule(None, vec![], Target::MarkMasq));
    rs.nat.append(&n(chains::KUBE_POSTROUTING), rule(None, vec![Match::Mark { negated: true }], Target::Return));
    rs.nat.append(&n(chains::KUBE_POSTROUTING), rule(None, vec![], Target::ClearMasq));
    rs.nat.append(
        &n(chains::KUBE_POSTROUTING),
        rule("kubernetes service traffic requiring SNAT".to_string(), vec![], Target::Masquerade),
    );
    rs.filter.append(&n(chains::KUBE_FORWARD), rule(None, vec![Match::CtState(CtStates::Invalid)], Target::Drop));
    rs.filter.append(
        &n(chains::KUBE_FORWARD),
        rule("kubernetes forwarding rules".to_string(), vec![Match::Mark { negated: false }], Target::Accept),
    );
    rs.filter.append(
        &n(chains::KUBE_FORWARD),
        rule(
            "kubernetes forwarding conntrack rule".to_string(),
            vec![Match::CtState(CtStates::RelatedEstablished)],
            Target::Accept,
        ),
    );

    for s_idx in 0..cluster.services.len() {
        for p_idx in 0..cluster.services[s_idx].ports.len() {
            program_service_port(cluster, node, ServiceId(s_idx as u32), p_idx, &mut rs, cache);
        }
    }

    // Finally the tail call to KUBE-NODEPORTS (§1.2); localhost NodePorts are allowed, the default.
    rs.nat.append(
        &n(chains::KUBE_SERVICES),
        rule(
            "kubernetes service nodeports; NOTE: this must be the last rule in this chain".to_string(),
            vec![Match::DstTypeLocal],
            jump(chains::KUBE_NODEPORTS),
        ),
    );
    rs
}

/// One Service port, in the order `syncProxyRules` writes it.
fn program_service_port(
    cluster: &Cluster,
    node: NodeId,
    svc_id: ServiceId,
    p_idx: usize,
    rs: &mut Ruleset,
    cache: &mut ProgramCache,
) {
    let svc = cluster.service(svc_id);
    let sp = &svc.ports[p_idx];
    let Some(cluster_ip) = svc.cluster_ip else {
        return;
    };
    let name = svc.port_name(p_idx);
    let chains_ = PortChains::new(&name);
    let endpoints = cache.endpoints(cluster, svc_id, p_idx);

    let externally_accessible = svc.externally_accessible();
    let etp_local = svc.external_traffic_policy == TrafficPolicy::Local && externally_accessible;
    let itp_local = svc.internal_traffic_policy == TrafficPolicy::Local;
    // UsesClusterEndpoints / UsesLocalEndpoints (S3, §1.5).
    let uses_cluster = !itp_local || externally_accessible;
    let uses_local = itp_local || etp_local;
    let cat = categorize(&endpoints, node, uses_cluster, uses_local);

    let cluster_policy = chains_.svc.clone();
    let local_policy = chains_.svl.clone();
    let (internal_chain, has_internal) =
        if itp_local { (local_policy.clone(), !cat.local.is_empty()) } else { (cluster_policy.clone(), cat.has_any) };
    let has_internal = has_internal && cat.has_any;
    let (external_policy, has_external) =
        if etp_local { (local_policy.clone(), !cat.local.is_empty()) } else { (cluster_policy.clone(), cat.has_any) };
    let has_external = has_external && cat.has_any;
    let ext_chain = chains_.ext.clone();
    let lb_ips: &[Ipv4Addr] = &svc.load_balancer_ingress;
    let uses_fw = cat.has_any && !lb_ips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
    let lb_chain = if uses_fw { chains_.fw.clone() } else { ext_chain.clone() };

    // §1.13 (REJECT, no endpoints at all) and §1.11 (DROP, no local endpoints).
    let no_endpoints = format!("{name} has no endpoints");
    let no_local = format!("{name} has no local endpoints");
    let (internal_filter, external_filter) = if !cat.has_any {
        ((no_endpoints.clone(), Target::Reject), (no_endpoints, Target::Reject))
    } else {
        ((no_local.clone(), Target::Drop), (no_local, Target::Drop))
    };

    let n = ChainName::new;
    let tcp_to = |ip: Ipv4Addr, port: u16| vec![Match::Tcp, Match::Dst(ip), Match::DstPort(port)];

    // Capture the clusterIP.
    if has_internal {
        rs.nat.append(
            &n(chains::KUBE_SERVICES),
            rule(format!("{name} cluster IP"), tcp_to(cluster_ip, sp.port), Target::Jump(internal_chain.clone())),
        );
    } else {
        rs.filter.append(
            &n(chains::KUBE_SERVICES),
            rule(internal_filter.0.clone(), tcp_to(cluster_ip, sp.port), internal_filter.1.clone()),
        );
    }

    // Capture externalIPs.
    for ip in &svc.external_ips {
        if cat.has_any {
            rs.nat.append(
                &n(chains::KUBE_SERVICES),
                rule(format!("{name} external IP"), tcp_to(*ip, sp.port), Target::Jump(ext_chain.clone())),
            );
        }
        if !has_external {
            rs.filter.append(
                &n(chains::KUBE_EXTERNAL_SERVICES),
                rule(external_filter.0.clone(), tcp_to(*ip, sp.port), external_filter.1.clone()),
            );
        }
    }

    // Capture load-balancer ingress.
    for ip in lb_ips {
        if cat.has_any {
            rs.nat.append(
                &n(chains::KUBE_SERVICES),
                rule(format!("{name} loadbalancer IP"), tcp_to(*ip, sp.port), Target::Jump(lb_chain.clone())),
            );
        }
        if uses_fw {
            rs.filter.append(
                &n(chains::KUBE_PROXY_FIREWALL),
                rule(format!("{name} traffic not accepted by {}", chains_.fw), tcp_to(*ip, sp.port), Target::Drop),
            );
        }
    }
    if !has_external {
        for ip in lb_ips {
            rs.filter.append(
                &n(chains::KUBE_EXTERNAL_SERVICES),
                rule(external_filter.0.clone(), tcp_to(*ip, sp.port), external_filter.1.clone()),
            );
        }
    }

    // Capture nodeports: not subject to loadBalancerSourceRanges (§1.3).
    if let Some(node_port) = sp.node_port.filter(|_| svc.has_node_ports()) {
        if cat.has_any {
            rs.nat.append(
                &n(chains::KUBE_NODEPORTS),
                rule(name.clone(), vec![Match::Tcp, Match::DstPort(node_port)], Target::Jump(ext_chain.clone())),
            );
        }
        if !has_external {
            rs.filter.append(
                &n(chains::KUBE_EXTERNAL_SERVICES),
                rule(
                    external_filter.0.clone(),
                    vec![Match::DstTypeLocal, Match::Tcp, Match::DstPort(node_port)],
                    external_filter.1.clone(),
                ),
            );
        }
    }

    // Capture healthCheckNodePorts, whether or not this node has local endpoints (§1.3). Like
    // kube-proxy, this is written once per Service port.
    if let Some(hc) = svc.health_check_node_port {
        rs.filter.append(
            &n(chains::KUBE_NODEPORTS),
            rule(format!("{name} health check node port"), vec![Match::Tcp, Match::DstPort(hc)], Target::Accept),
        );
    }

    // Internal traffic: masquerade off-cluster sources (§1.5, §1.14).
    if has_internal {
        let chain = rs.nat.chain(&internal_chain);
        if cluster.config.kube_proxy.masquerade_all {
            chain.push(rule(format!("{name} cluster IP"), tcp_to(cluster_ip, sp.port), jump(chains::KUBE_MARK_MASQ)));
        } else if let Some(not_local) = detect_local(cluster, node, true) {
            let mut m = tcp_to(cluster_ip, sp.port);
            m.push(not_local);
            chain.push(rule(format!("{name} cluster IP"), m, jump(chains::KUBE_MARK_MASQ)));
        }
    }

    // External traffic (§1.4).
    if cat.has_any && externally_accessible {
        let ext = rs.nat.chain(&ext_chain);
        if !etp_local {
            ext.push(rule(
                format!("masquerade traffic for {name} external destinations"),
                vec![],
                jump(chains::KUBE_MARK_MASQ),
            ));
        } else {
            if let Some(local) = detect_local(cluster, node, false) {
                ext.push(rule(
                    format!("pod traffic for {name} external destinations"),
                    vec![local],
                    Target::Jump(cluster_policy.clone()),
                ));
            }
            ext.push(rule(
                format!("masquerade LOCAL traffic for {name} external destinations"),
                vec![Match::SrcTypeLocal],
                jump(chains::KUBE_MARK_MASQ),
            ));
            ext.push(rule(
                format!("route LOCAL traffic for {name} external destinations"),
                vec![Match::SrcTypeLocal],
                Target::Jump(cluster_policy.clone()),
            ));
        }
        if has_external {
            ext.push(rule(None, vec![], Target::Jump(external_policy)));
        }
    }

    // The firewall chain (§1.9).
    if uses_fw {
        let node_ip = cluster.node(node).ip;
        let fw_chain = rs.nat.chain(&chains_.fw);
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            fw_chain.push(rule(
                format!("{name} loadbalancer IP"),
                vec![Match::Src { cidr: *cidr, negated: false }],
                Target::Jump(ext_chain.clone()),
            ));
            allow_from_node |= cidr.contains(node_ip);
        }
        if allow_from_node {
            for ip in lb_ips {
                fw_chain.push(rule(
                    format!("{name} loadbalancer IP"),
                    vec![Match::Src { cidr: Ipv4Cidr::host(*ip), negated: false }],
                    Target::Jump(ext_chain.clone()),
                ));
            }
        }
    }

    let affinity = svc.session_affinity.map(|d| (d.as_micros() / 1_000_000) as u32);
    if !cat.cluster.is_empty() && uses_cluster {
        let cascade = write_service_to_endpoint_rules(cache, &name, affinity, &cluster_policy, &cat.cluster);
        rs.nat.chain(&cluster_policy).extend(cascade.iter().cloned());
    }
    if !cat.local.is_empty() && uses_local {
        let cascade = write_service_to_endpoint_rules(cache, &name, affinity, &local_policy, &cat.local);
        rs.nat.chain(&local_policy).extend(cascade.iter().cloned());
    }

    // The per-endpoint chains (§1.6): the same on every node.
    for ep in &cat.all_reachable {
        let sep = cache.sep_name(&name, ep);
        let chain = cache
            .sep_chains
            .entry((sep.clone(), affinity))
            .or_insert_with(|| {
                let mut m = Vec::new();
                if affinity.is_some() {
                    m.push(Match::RecentSet { name: sep.clone() });
                }
                m.push(Match::Tcp);
                Rc::new(vec![
                    rule(
                        name.clone(),
                        vec![Match::Src { cidr: Ipv4Cidr::host(ep.ip()), negated: false }],
                        jump(chains::KUBE_MARK_MASQ),
                    ),
                    rule(name.clone(), m, Target::Dnat(ep.addr)),
                ])
            })
            .clone();
        rs.nat.chains.insert(sep, chain);
    }
}

/// `writeServiceToEndpointRules`: affinity checks, then the 1/(n−i) cascade (§1.5, §1.7). The
/// rules for `chain` over `endpoints`, built once per cache.
fn write_service_to_endpoint_rules(
    cache: &mut ProgramCache,
    name: &str,
    affinity_seconds: Option<u32>,
    chain: &ChainName,
    endpoints: &[Endpoint],
) -> Rc<[Rc<Rule>]> {
    let key = (chain.clone(), endpoints.iter().map(|e| e.addr).collect(), affinity_seconds);
    if let Some(rules) = cache.cascades.get(&key) {
        return Rc::clone(rules);
    }
    let seps: Vec<ChainName> = endpoints.iter().map(|ep| cache.sep_name(name, ep)).collect();
    let mut rules = Vec::new();
    if let Some(seconds) = affinity_seconds {
        for (ep, sep) in endpoints.iter().zip(&seps) {
            rules.push(rule(
                format!("{name} -> {ep}"),
                vec![Match::RecentCheck { name: sep.clone(), seconds }],
                Target::Jump(sep.clone()),
            ));
        }
    }
    let count = endpoints.len();
    for (i, (ep, sep)) in endpoints.iter().zip(seps).enumerate() {
        let m = if i + 1 < count { vec![Match::Statistic { one_in: (count - i) as u32 }] } else { vec![] };
        rules.push(rule(format!("{name} -> {ep}"), m, Target::Jump(sep)));
    }
    let rules: Rc<[Rc<Rule>]> = rules.into();
    cache.cascades.insert(key, Rc::clone(&rules));
    rules
}
