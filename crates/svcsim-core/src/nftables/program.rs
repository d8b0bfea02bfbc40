//! What kube-proxy (nftables mode, v1.35) programs on one node: `setupNFTables` and
//! `syncProxyRules` of `pkg/proxy/nftables/proxier.go` rewritten as a pure function from the
//! cluster to a [`Table`], creating objects in the order kube-proxy's transaction does
//! (`docs/fidelity.md#kube-proxy-nftables-rules`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

use super::names::{PortChains, endpoint_names};
use super::table::{
    BaseChain, Chain, ChainType, Element, ElementVerdict, Hook, KeyKind, Map, MapKey, Match, Name, Rule, Set, SetKind,
    SetOrMap, Statement, Table, priority,
};
use crate::cluster::{Cluster, NodeId, NodePortAddresses, ServiceId, TrafficPolicy};
use crate::endpoints::{Endpoint, categorize, service_port_endpoints};
use crate::net::{IpCidr, IpFamily, SockAddr};

/// The fixed chains, sets and maps, by the names kube-proxy gives them.
pub mod names {
    pub const FILTER_PREROUTING_PRE_DNAT: &str = "filter-prerouting-pre-dnat";
    pub const FILTER_OUTPUT_PRE_DNAT: &str = "filter-output-pre-dnat";
    pub const FILTER_INPUT: &str = "filter-input";
    pub const FILTER_FORWARD: &str = "filter-forward";
    pub const FILTER_OUTPUT: &str = "filter-output";
    pub const NAT_PREROUTING: &str = "nat-prerouting";
    pub const NAT_OUTPUT: &str = "nat-output";
    pub const NAT_POSTROUTING: &str = "nat-postrouting";
    pub const SERVICES: &str = "services";
    pub const SERVICE_IPS: &str = "service-ips";
    pub const SERVICE_NODEPORTS: &str = "service-nodeports";
    pub const NODEPORT_IPS: &str = "nodeport-ips";
    pub const CLUSTER_IPS: &str = "cluster-ips";
    pub const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
    pub const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
    pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
    pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
    pub const REJECT_CHAIN: &str = "reject-chain";
    pub const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
    pub const FIREWALL_IPS: &str = "firewall-ips";
    pub const FIREWALL_CHECK: &str = "firewall-check";
    pub const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
    pub const MASQUERADING: &str = "masquerading";
}
use names::*;

/// `nftablesBaseChains`: (name, type, hook, priority).
const BASE_CHAINS: [(&str, ChainType, Hook, i32); 8] = [
    (FILTER_PREROUTING_PRE_DNAT, ChainType::Filter, Hook::Prerouting, priority::DSTNAT - 10),
    (FILTER_OUTPUT_PRE_DNAT, ChainType::Filter, Hook::Output, priority::DSTNAT - 10),
    (FILTER_INPUT, ChainType::Filter, Hook::Input, priority::FILTER),
    (FILTER_FORWARD, ChainType::Filter, Hook::Forward, priority::FILTER),
    (FILTER_OUTPUT, ChainType::Filter, Hook::Output, priority::FILTER),
    (NAT_PREROUTING, ChainType::Nat, Hook::Prerouting, priority::DSTNAT),
    (NAT_OUTPUT, ChainType::Nat, Hook::Output, priority::DSTNAT),
    (NAT_POSTROUTING, ChainType::Nat, Hook::Postrouting, priority::SRCNAT),
];

/// `nftablesJumpChains`: (to, from, only new connections).
const JUMP_CHAINS: [(&str, &str, bool); 11] = [
    (NODEPORT_ENDPOINTS_CHECK, FILTER_INPUT, true),
    (SERVICE_ENDPOINTS_CHECK, FILTER_INPUT, true),
    (SERVICE_ENDPOINTS_CHECK, FILTER_FORWARD, true),
    (SERVICE_ENDPOINTS_CHECK, FILTER_OUTPUT, true),
    (FIREWALL_CHECK, FILTER_PREROUTING_PRE_DNAT, true),
    (FIREWALL_CHECK, FILTER_OUTPUT_PRE_DNAT, true),
    (SERVICES, NAT_OUTPUT, false),
    (SERVICES, NAT_PREROUTING, false),
    (MASQUERADING, NAT_POSTROUTING, false),
    (CLUSTER_IPS_CHECK, FILTER_FORWARD, true),
    (CLUSTER_IPS_CHECK, FILTER_OUTPUT, true),
];

fn name(s: &str) -> Name {
    Name::new(s)
}

/// A table being written, in kube-proxy's order.
#[derive(Default)]
struct Tx {
    table: Table,
}

impl Tx {
    /// `ensureChain`: creates an ordinary chain once.
    fn chain(&mut self, chain: &Name) {
        if self.table.chain(chain).is_none() {
            self.table.add_chain(Rc::new(Chain { name: chain.clone(), base: None, comment: None, rules: vec![] }));
        }
    }
    fn rule(&mut self, chain: &Name, matches: Vec<Match>, statement: Statement, comment: Option<&str>) {
        let family = self.table.family;
        self.push(Rc::new(Rule { family, chain: chain.clone(), matches, statement, comment: comment.map(Rc::from) }));
    }
    fn push(&mut self, rule: Rc<Rule>) {
        self.chain(&rule.chain);
        self.table.chain_mut(&rule.chain).expect("the chain was just ensured").rules.push(rule);
    }
    fn element(&mut self, map: &str, key: MapKey, comment: Option<&str>, verdict: ElementVerdict) {
        self.table.add_element(Element { map: name(map), key, comment: comment.map(Rc::from), verdict });
    }
    fn map(&mut self, map: &str, key: KeyKind, comment: &str) {
        let m = Map { name: name(map), key, comment: Rc::from(comment), elements: BTreeMap::new() };
        self.table.add_set(SetOrMap::Map(m));
    }
    fn set(&mut self, set: &str, comment: &str) {
        let s = Set { name: name(set), kind: SetKind::Plain { comment: Rc::from(comment) }, elements: vec![] };
        self.table.add_set(SetOrMap::Set(s));
    }
}

/// Work shared by every node's program for one state of the cluster: each Service port's
/// endpoints, endpoint chains and Cluster-policy load-balancing rules, none of which depends on
/// the node.
///
/// # Contract
/// A cache belongs to one state of the cluster: [`NftCache::clear`] it whenever Services, pods,
/// nodes or EndpointSlices change.
#[derive(Debug, Default)]
pub struct NftCache {
    ports: BTreeMap<(ServiceId, usize), PortCache>,
}

#[derive(Debug, Default)]
struct PortCache {
    endpoints: Option<Rc<[Endpoint]>>,
    /// Each endpoint's chain, by address.
    endpoint_chains: BTreeMap<SockAddr, Rc<Chain>>,
    /// The Cluster-policy chain's affinity and numgen rules.
    cluster_balancing: Option<Rc<[Rc<Rule>]>>,
}

impl NftCache {
    pub fn clear(&mut self) {
        self.ports.clear();
    }
    fn port(&mut self, key: (ServiceId, usize)) -> &mut PortCache {
        self.ports.entry(key).or_default()
    }
}

/// Programs `node`'s table for every Service of `cluster`.
pub fn program(cluster: &Cluster, node: NodeId) -> Table {
    program_cached(cluster, node, &mut NftCache::default())
}

/// [`program`], sharing work between nodes through `cache`.
pub fn program_cached(cluster: &Cluster, node: NodeId, cache: &mut NftCache) -> Table {
    let mut tx = Tx::default();
    tx.table.family = cluster.config.primary_family();
    let match_all = node_port_ips(cluster, node).is_none();
    setup(cluster, node, match_all, &mut tx);
    for svc in cluster.services.ids() {
        for port in 0..cluster.service(svc).ports.len() {
            service_port(cluster, node, svc, port, &mut tx, cache);
        }
    }
    tx.table
}

/// The node addresses that accept NodePorts, loopback left out (nftables never serves
/// localhost NodePorts), or `None` for match-all (`docs/fidelity.md#nftables-nodeports`).
pub fn node_port_ips(cluster: &Cluster, node: NodeId) -> Option<Vec<IpAddr>> {
    let addresses = &cluster.config.kube_proxy.node_port_addresses;
    if let NodePortAddresses::Cidrs(cidrs) = addresses
        && cidrs.iter().any(|c| c.prefix() == 0 && c.family() == crate::net::IpFamily::of(cluster.node(node).ip))
    {
        return None;
    }
    let ips = crate::kube_proxy::node_port_ips(cluster, node)?;
    Some(ips.into_iter().filter(|ip| !ip.is_loopback()).collect())
}

/// `setupNFTables`: the table's fixed objects.
fn setup(cluster: &Cluster, node: NodeId, match_all: bool, tx: &mut Tx) {
    let family = tx.table.family;
    for (chain, type_, hook, priority) in BASE_CHAINS {
        let base = Some(BaseChain { type_, hook, priority });
        tx.table.add_chain(Rc::new(Chain { name: name(chain), base, comment: None, rules: vec![] }));
    }
    for (to, from, new) in JUMP_CHAINS {
        tx.chain(&name(to));
        let m = if new { vec![Match::CtStateNew] } else { vec![] };
        tx.rule(&name(from), m, Statement::Jump(name(to)), None);
    }
    for chain in [SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_FOR_MASQUERADE] {
        tx.chain(&name(chain));
    }
    tx.rule(&name(MARK_FOR_MASQUERADE), vec![], Statement::MarkSet, None);
    tx.rule(&name(MASQUERADING), vec![Match::MarkUnset], Statement::Return, None);
    tx.rule(&name(MASQUERADING), vec![], Statement::MarkClear, None);
    tx.rule(&name(MASQUERADING), vec![], Statement::Masquerade, None);

    tx.set(CLUSTER_IPS, "Active ClusterIPs");
    let cluster_ips = vec![Match::DaddrInSet(name(CLUSTER_IPS))];
    let c = Some("Reject traffic to invalid ports of ClusterIPs");
    tx.rule(&name(CLUSTER_IPS_CHECK), cluster_ips, Statement::Reject, c);
    let service_cidrs = vec![Match::DaddrIn { cidrs: vec![cluster.config.service_cidr], negated: false }];
    let c = Some("Drop traffic to unallocated ClusterIPs");
    tx.rule(&name(CLUSTER_IPS_CHECK), service_cidrs, Statement::Drop, c);

    if let Some(ips) = node_port_ips(cluster, node) {
        tx.set(NODEPORT_IPS, "IPs that accept NodePort traffic");
        tx.table.set_mut(&name(NODEPORT_IPS)).expect("just added").elements = ips;
    }

    tx.map(
        NO_ENDPOINT_SERVICES,
        KeyKind::AddrProtoPort,
        "vmap to drop or reject packets to services with no endpoints",
    );
    let c = "vmap to drop or reject packets to service nodeports with no endpoints";
    tx.map(NO_ENDPOINT_NODEPORTS, KeyKind::ProtoPort, c);
    let comment = Some(Rc::from("helper for @no-endpoint-services / @no-endpoint-nodeports"));
    tx.table.add_chain(Rc::new(Chain { name: name(REJECT_CHAIN), base: None, comment, rules: vec![] }));
    tx.rule(&name(REJECT_CHAIN), vec![], Statement::Reject, None);

    let vmap = |key, map: &str| Statement::Vmap { key, map: name(map) };
    tx.rule(&name(SERVICE_ENDPOINTS_CHECK), vec![], vmap(KeyKind::AddrProtoPort, NO_ENDPOINT_SERVICES), None);
    tx.rule(
        &name(NODEPORT_ENDPOINTS_CHECK),
        node_port_dst(match_all, false, family),
        vmap(KeyKind::ProtoPort, NO_ENDPOINT_NODEPORTS),
        None,
    );

    tx.map(FIREWALL_IPS, KeyKind::AddrProtoPort, "destinations that are subject to LoadBalancerSourceRanges");
    tx.rule(&name(FIREWALL_CHECK), vec![], vmap(KeyKind::AddrProtoPort, FIREWALL_IPS), None);

    tx.map(SERVICE_IPS, KeyKind::AddrProtoPort, "ClusterIP, ExternalIP and LoadBalancer IP traffic");
    tx.map(SERVICE_NODEPORTS, KeyKind::ProtoPort, "NodePort traffic");
    tx.rule(&name(SERVICES), vec![], vmap(KeyKind::AddrProtoPort, SERVICE_IPS), None);
    tx.rule(&name(SERVICES), node_port_dst(match_all, true, family), vmap(KeyKind::ProtoPort, SERVICE_NODEPORTS), None);
}

/// The destination test before a NodePort lookup: `ip daddr @nodeport-ips`, or with match-all
/// `[fib daddr type local] ip daddr != 127.0.0.0/8` (the `fib` only in `services`).
fn node_port_dst(match_all: bool, in_services: bool, family: IpFamily) -> Vec<Match> {
    if !match_all {
        return vec![Match::DaddrInSet(name(NODEPORT_IPS))];
    }
    let loopback = match family {
        IpFamily::Ipv4 => IpCidr::V4_LOOPBACK,
        IpFamily::Ipv6 => IpCidr::host(std::net::Ipv6Addr::LOCALHOST),
    };
    let not_localhost = Match::Daddr { cidr: loopback, negated: true };
    if in_services { vec![Match::FibDaddrLocal, not_localhost] } else { vec![not_localhost] }
}

/// The local-traffic detector's match (`ip saddr [!=] <cidr>`), if one is configured
/// (`docs/fidelity.md#detect-local`).
fn detect_local(cluster: &Cluster, node: NodeId, negated: bool) -> Option<Match> {
    Some(Match::Saddr { cidr: crate::kube_proxy::detect_local_cidr(cluster, node)?, negated })
}

/// What `syncProxyRules` decides about one Service port on one node.
struct PortPlan {
    chains: PortChains,
    cluster: Vec<Endpoint>,
    local: Vec<Endpoint>,
    all_reachable: Vec<Endpoint>,
    has_endpoints: bool,
    has_internal: bool,
    has_external: bool,
    internal_chain: Name,
    external_policy: Name,
    uses_cluster_chain: bool,
    uses_local_chain: bool,
    uses_external_chain: bool,
    uses_firewall: bool,
    etp_local: bool,
}

fn plan(cluster: &Cluster, node: NodeId, svc_id: ServiceId, port: usize, endpoints: &[Endpoint]) -> PortPlan {
    let svc = cluster.service(svc_id);
    let chains = PortChains::new(svc, port);
    let externally_accessible = svc.externally_accessible();
    let etp_local = svc.external_traffic_policy == TrafficPolicy::Local;
    let itp_local = svc.internal_traffic_policy == TrafficPolicy::Local;
    // UsesClusterEndpoints / UsesLocalEndpoints (`pkg/proxy/serviceport.go`).
    let uses_cluster = !itp_local || externally_accessible;
    let uses_local = itp_local || (etp_local && externally_accessible);
    let cat = categorize(endpoints, node, uses_cluster, uses_local);
    let has_endpoints = cat.has_any;
    let (internal_chain, has_internal) = if itp_local {
        (chains.local.clone(), has_endpoints && !cat.local.is_empty())
    } else {
        (chains.cluster.clone(), has_endpoints)
    };
    let (external_policy, has_external) = if etp_local {
        (chains.local.clone(), has_endpoints && !cat.local.is_empty())
    } else {
        (chains.cluster.clone(), has_endpoints)
    };
    PortPlan {
        uses_cluster_chain: !cat.cluster.is_empty() && uses_cluster,
        uses_local_chain: !cat.local.is_empty() && uses_local,
        uses_external_chain: has_endpoints && externally_accessible,
        uses_firewall: !svc.load_balancer_ingress.is_empty() && !svc.load_balancer_source_ranges.is_empty(),
        chains,
        cluster: cat.cluster,
        local: cat.local,
        all_reachable: cat.all_reachable,
        has_endpoints,
        has_internal,
        has_external,
        internal_chain,
        external_policy,
        etp_local,
    }
}

/// One Service port, in the order `syncProxyRules` writes it.
fn service_port(cluster: &Cluster, node: NodeId, svc_id: ServiceId, port: usize, tx: &mut Tx, cache: &mut NftCache) {
    let svc = cluster.service(svc_id);
    let Some(cluster_ip) = svc.cluster_ip else {
        return;
    };
    let key = (svc_id, port);
    let endpoints = Rc::clone(
        cache.port(key).endpoints.get_or_insert_with(|| service_port_endpoints(cluster, svc_id, port).into()),
    );
    let p = plan(cluster, node, svc_id, port, &endpoints);
    let sp = &svc.ports[port];
    let proto = sp.protocol;
    let name_string = svc.port_name(port);
    let affinity = svc.session_affinity.map(|d| (d.as_micros() / 1_000_000) as u32);

    // The chains, endpoint chains first, as kube-proxy ensures them.
    for ep in &p.all_reachable {
        let chain = endpoint_chain(cache, key, cluster, svc_id, port, ep, affinity);
        tx.table.add_chain(chain);
    }
    if p.uses_cluster_chain {
        tx.chain(&p.chains.cluster);
    }
    if p.uses_local_chain {
        tx.chain(&p.chains.local);
    }
    if p.uses_external_chain {
        tx.chain(&p.chains.external);
    }
    if p.uses_firewall {
        tx.chain(&p.chains.firewall);
    }

    // The dispatch elements.
    let cluster_ips = &mut tx.table.set_mut(&name(CLUSTER_IPS)).expect("created by setup").elements;
    if !cluster_ips.contains(&cluster_ip) {
        cluster_ips.push(cluster_ip);
    }
    let reject_or_drop = if p.has_endpoints { ElementVerdict::Drop } else { ElementVerdict::Goto(name(REJECT_CHAIN)) };
    let comment = Some(name_string.as_str());
    let at = |ip: IpAddr| MapKey::AddrProtoPort(ip, proto, sp.port);
    if p.has_internal {
        tx.element(SERVICE_IPS, at(cluster_ip), None, ElementVerdict::Goto(p.internal_chain.clone()));
    } else {
        tx.element(NO_ENDPOINT_SERVICES, at(cluster_ip), comment, reject_or_drop.clone());
    }
    let external = || ElementVerdict::Goto(p.chains.external.clone());
    for ip in &svc.external_ips {
        if p.has_endpoints {
            tx.element(SERVICE_IPS, at(*ip), None, external());
        }
        if !p.has_external {
            tx.element(NO_ENDPOINT_SERVICES, at(*ip), comment, reject_or_drop.clone());
        }
    }
    for ip in &svc.load_balancer_ingress {
        if p.has_endpoints {
            tx.element(SERVICE_IPS, at(*ip), None, external());
        }
        if p.uses_firewall {
            tx.element(FIREWALL_IPS, at(*ip), None, ElementVerdict::Goto(p.chains.firewall.clone()));
        }
        if !p.has_external {
            tx.element(NO_ENDPOINT_SERVICES, at(*ip), comment, reject_or_drop.clone());
        }
    }
    if let Some(node_port) = sp.node_port.filter(|_| svc.has_node_ports()) {
        let key = MapKey::ProtoPort(proto, node_port);
        if p.has_endpoints {
            tx.element(SERVICE_NODEPORTS, key, None, external());
        }
        if !p.has_external {
            tx.element(NO_ENDPOINT_NODEPORTS, key, comment, reject_or_drop.clone());
        }
    }

    // Masquerade off-cluster traffic to the ClusterIP (`docs/fidelity.md#masquerade`).
    if p.has_internal {
        let to_cluster_ip = Match::Daddr { cidr: IpCidr::host(cluster_ip), negated: false };
        let mark = Statement::Jump(name(MARK_FOR_MASQUERADE));
        if cluster.config.kube_proxy.masquerade_all {
            tx.rule(&p.internal_chain, vec![to_cluster_ip], mark, None);
        } else if let Some(not_local) = detect_local(cluster, node, true) {
            tx.rule(&p.internal_chain, vec![to_cluster_ip, not_local], mark, None);
        }
    }

    external_chain(cluster, node, &p, tx);

    if p.uses_firewall {
        firewall_chain(cluster, node, svc_id, &p, tx);
    }

    if let Some(timeout_seconds) = affinity {
        for ep in &p.all_reachable {
            let (_, set) = endpoint_names(svc, port, ep.addr);
            let s = Set { name: set, kind: SetKind::Affinity { timeout_seconds }, elements: vec![] };
            tx.table.add_set(SetOrMap::Set(s));
        }
    }
    if p.uses_cluster_chain {
        let cached = cache.port(key).cluster_balancing.clone();
        let rules = cached.unwrap_or_else(|| {
            let rules = balancing_rules(svc, port, &p.chains.cluster, &p.cluster, affinity.is_some());
            cache.port(key).cluster_balancing = Some(Rc::clone(&rules));
            rules
        });
        for r in rules.iter() {
            tx.push(Rc::clone(r));
        }
    }
    if p.uses_local_chain {
        for r in balancing_rules(svc, port, &p.chains.local, &p.local, affinity.is_some()).iter() {
            tx.push(Rc::clone(r));
        }
    }
}

/// The `external-…` chain (`docs/fidelity.md#external-traffic-policy`).
fn external_chain(cluster: &Cluster, node: NodeId, p: &PortPlan, tx: &mut Tx) {
    if !p.uses_external_chain {
        return;
    }
    let ext = &p.chains.external;
    let mark = || Statement::Jump(name(MARK_FOR_MASQUERADE));
    if !p.etp_local {
        tx.rule(ext, vec![], mark(), None);
    } else {
        if let Some(local) = detect_local(cluster, node, false) {
            let to_cluster = Statement::Goto(p.chains.cluster.clone());
            tx.rule(ext, vec![local], to_cluster, Some("short-circuit pod traffic"));
        }
        tx.rule(ext, vec![Match::FibSaddrLocal], mark(), Some("masquerade local traffic"));
        let to_cluster = Statement::Goto(p.chains.cluster.clone());
        tx.rule(ext, vec![Match::FibSaddrLocal], to_cluster, Some("short-circuit local traffic"));
    }
    if p.has_external {
        tx.rule(ext, vec![], Statement::Goto(p.external_policy.clone()), None);
    }
}

/// The `firewall-…` chain: drop sources outside loadBalancerSourceRanges, allowing the LB IPs
/// themselves when a range holds the node's IP (`docs/fidelity.md#loadbalancersourceranges`).
fn firewall_chain(cluster: &Cluster, node: NodeId, svc_id: ServiceId, p: &PortPlan, tx: &mut Tx) {
    let svc = cluster.service(svc_id);
    let node_ip = cluster.node(node).ip;
    let mut sources = svc.load_balancer_source_ranges.clone();
    if sources.iter().any(|c| c.contains(node_ip)) {
        sources.extend(svc.load_balancer_ingress.iter().map(|ip| IpCidr::host(*ip)));
    }
    tx.rule(&p.chains.firewall, vec![Match::SaddrIn { cidrs: sources, negated: true }], Statement::Drop, None);
}

/// One endpoint's chain: hairpin masquerade, affinity update, DNAT. The same on every node.
fn endpoint_chain(
    cache: &mut NftCache,
    key: (ServiceId, usize),
    cluster: &Cluster,
    svc_id: ServiceId,
    port: usize,
    ep: &Endpoint,
    affinity: Option<u32>,
) -> Rc<Chain> {
    let svc = cluster.service(svc_id);
    let proto = svc.ports[port].protocol;
    let made = cache.port(key).endpoint_chains.entry(ep.addr).or_insert_with(|| {
        let (chain, set) = endpoint_names(svc, port, ep.addr);
        let family = ep.addr.family();
        let rule =
            |matches, statement| Rc::new(Rule { family, chain: chain.clone(), matches, statement, comment: None });
        let hairpin = vec![Match::Saddr { cidr: IpCidr::host(ep.ip()), negated: false }];
        let mut rules = vec![rule(hairpin, Statement::Jump(name(MARK_FOR_MASQUERADE)))];
        if affinity.is_some() {
            rules.push(rule(vec![], Statement::UpdateSaddr(set)));
        }
        rules.push(rule(vec![Match::L4proto(proto)], Statement::Dnat(ep.addr)));
        Rc::new(Chain { name: chain, base: None, comment: None, rules })
    });
    Rc::clone(made)
}

/// `writeServiceToEndpointRules`: affinity lookups, then `numgen random mod N`
/// (`docs/fidelity.md#endpoint-choice`).
fn balancing_rules(
    svc: &crate::cluster::Service,
    port: usize,
    chain: &Name,
    endpoints: &[Endpoint],
    affinity: bool,
) -> Rc<[Rc<Rule>]> {
    let family = endpoints.first().map_or(IpFamily::Ipv4, |e| e.addr.family());
    let rule = |matches, statement| Rc::new(Rule { family, chain: chain.clone(), matches, statement, comment: None });
    let names: Vec<(Name, Name)> = endpoints.iter().map(|ep| endpoint_names(svc, port, ep.addr)).collect();
    let mut rules = Vec::new();
    if affinity {
        for (ep_chain, set) in &names {
            rules.push(rule(vec![Match::SaddrInSet(set.clone())], Statement::Goto(ep_chain.clone())));
        }
    }
    let targets = names.into_iter().map(|(c, _)| c).collect();
    rules.push(rule(vec![], Statement::Numgen { targets }));
    rules.into()
}
