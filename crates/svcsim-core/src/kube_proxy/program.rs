//! What kube-proxy (iptables mode, v1.35) programs on one node: `syncProxyRules` of
//! `pkg/proxy/iptables/proxier.go` rewritten as a pure function from the cluster to a
//! [`Ruleset`] (`docs/fidelity.md#kube-proxy-iptables-rules`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use super::rules::{Chain, ChainName, CtStates, Match, Rule, Ruleset, Table, Target, chains, nfacct};
use crate::cluster::{Cluster, DetectLocalMode, NodeId, NodePortAddresses, ServiceId, TrafficPolicy};
use crate::endpoints::{Endpoint, categorize, service_port_endpoints};
use crate::id::{Id, IdVec};
use crate::net::{IpCidr, IpFamily, Protocol, SockAddr};

/// The chain names of one Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChains {
    pub svc: ChainName,
    pub svl: ChainName,
    pub ext: ChainName,
    pub fw: ChainName,
}

impl PortChains {
    pub fn new(service_port_name: &str, protocol: Protocol) -> PortChains {
        let h = |prefix| ChainName::hashed(prefix, service_port_name, protocol.as_lower(), None);
        PortChains { svc: h("KUBE-SVC-"), svl: h("KUBE-SVL-"), ext: h("KUBE-EXT-"), fw: h("KUBE-FW-") }
    }
}

/// The KUBE-SEP chain of one endpoint of a Service port.
pub fn endpoint_chain(service_port_name: &str, protocol: Protocol, endpoint: &Endpoint) -> ChainName {
    ChainName::hashed("KUBE-SEP-", service_port_name, protocol.as_lower(), Some(&endpoint.to_string()))
}

/// The well-known chains as names, made once per program, and the node's one switch they depend
/// on.
struct Known {
    /// `localhostNodePorts`: NodePorts answer on 127.0.0.1 too.
    localhost: bool,
    /// MASQUERADE asks for `--random-fully`.
    random_fully: bool,
    prerouting: ChainName,
    input: ChainName,
    forward: ChainName,
    output: ChainName,
    postrouting: ChainName,
    services: ChainName,
    nodeports: ChainName,
    external_services: ChainName,
    kube_forward: ChainName,
    firewall: ChainName,
    kubelet_firewall: ChainName,
    mark_masq: ChainName,
    kube_postrouting: ChainName,
}

impl Known {
    fn new(localhost: bool, random_fully: bool) -> Known {
        let n = ChainName::new;
        Known {
            localhost,
            random_fully,
            prerouting: n(chains::PREROUTING),
            input: n(chains::INPUT),
            forward: n(chains::FORWARD),
            output: n(chains::OUTPUT),
            postrouting: n(chains::POSTROUTING),
            services: n(chains::KUBE_SERVICES),
            nodeports: n(chains::KUBE_NODEPORTS),
            external_services: n(chains::KUBE_EXTERNAL_SERVICES),
            kube_forward: n(chains::KUBE_FORWARD),
            firewall: n(chains::KUBE_PROXY_FIREWALL),
            kubelet_firewall: n(chains::KUBE_FIREWALL),
            mark_masq: n(chains::KUBE_MARK_MASQ),
            kube_postrouting: n(chains::KUBE_POSTROUTING),
        }
    }
}

fn rule(table: Table, chain: &ChainName, comment: impl Into<Option<String>>, m: Vec<Match>, t: Target) -> Rc<Rule> {
    Rc::new(Rule::new(table, chain, comment.into(), m, t))
}

fn jump(chain: &ChainName) -> Target {
    Target::Jump(chain.clone())
}

/// The local-traffic detector's "is local" match, if one is configured
/// (`docs/fidelity.md#detect-local`).
fn detect_local(cluster: &Cluster, node: NodeId, negated: bool) -> Option<Match> {
    Some(Match::Src { cidr: detect_local_cidr(cluster, node)?, negated })
}

/// The CIDR kube-proxy's local-traffic detector takes for pod traffic on `node`, in either mode
/// (`docs/fidelity.md#detect-local`); `None` without a detector.
pub(crate) fn detect_local_cidr(cluster: &Cluster, node: NodeId) -> Option<IpCidr> {
    match cluster.config.kube_proxy.detect_local_mode {
        DetectLocalMode::ClusterCidr => Some(cluster.config.proxy_cluster_cidr()),
        DetectLocalMode::NodeCidr => Some(cluster.node(node).pod_cidr),
        DetectLocalMode::None => None,
    }
}

/// The node's addresses that `--nodeport-addresses` selects, or `None` for "every local
/// address" (`GetNodeIPs` over the host's interfaces: eth0, cbr0 and lo).
pub fn node_port_ips(cluster: &Cluster, node: NodeId) -> Option<Vec<IpAddr>> {
    let n = cluster.node(node);
    match &cluster.config.kube_proxy.node_port_addresses {
        NodePortAddresses::All => None,
        NodePortAddresses::Primary => Some(vec![n.ip]),
        NodePortAddresses::Cidrs(cidrs) => {
            let mut local = vec![n.ip];
            if cluster.config.network_plugin == crate::cluster::NetworkPlugin::Kubenet {
                local.push(n.bridge_ip());
            }
            // Loopback NodePorts exist only for IPv4 (`NewNodePortAddresses` skips ::1).
            if n.ip.is_ipv4() {
                local.push(Ipv4Addr::LOCALHOST.into());
            }
            Some(local.into_iter().filter(|ip| cidrs.iter().any(|c| c.contains(*ip))).collect())
        }
    }
}

/// 127.0.0.0/8.
const LOOPBACK: IpCidr = IpCidr::V4_LOOPBACK;

/// Whether kube-proxy accepts NodePorts on 127.0.0.1 (`localhostNodePorts`, on by default): only
/// for IPv4, and only when `--nodeport-addresses` takes in a loopback address, as match-all does.
fn localhost_node_ports(cluster: &Cluster, node: NodeId) -> bool {
    cluster.node(node).ip.is_ipv4()
        && node_port_ips(cluster, node).is_none_or(|ips| ips.iter().any(|ip| ip.is_loopback()))
}

/// Work shared by every node's `program` for one state of the cluster: each Service port's
/// endpoints, its KUBE-SEP chains (named by SHA-256) and its Cluster-policy cascade, none of
/// which depends on the node. kube-proxy itself computes these per node; the simulation programs
/// every node, so it computes them once.
///
/// # Contract
/// A cache belongs to one state of the cluster: [`ProgramCache::clear`] it whenever Services,
/// pods, nodes or EndpointSlices change.
///
/// One map per key type, each value a struct of lazily filled parts: every distinct map type
/// adds its own copy of the B-tree code to the wasm bundle.
#[derive(Debug, Default)]
pub struct ProgramCache {
    ports: BTreeMap<PortKey, PortCache>,
    /// Each Service's ready local endpoint IPs per node (what its health server reports),
    /// indexed by Service, filled on first use.
    local_counts: IdVec<ServiceId, Option<IdVec<NodeId, u32>>>,
}

/// What [`ProgramCache`] knows about one Service port.
#[derive(Debug, Default)]
struct PortCache {
    endpoints: Option<Rc<[Endpoint]>>,
    /// The KUBE-SEP chain of each endpoint.
    seps: BTreeMap<SockAddr, (ChainName, Chain)>,
    /// The KUBE-SEP chains of the Cluster-policy endpoints, in order.
    cluster_seps: Option<Rc<[(ChainName, Chain)]>>,
    /// The KUBE-SVC cascade.
    cluster_cascade: Option<Rc<[Rc<Rule>]>>,
}

/// A Service port: (Service, index into its ports).
type PortKey = (ServiceId, usize);

/// What a port's SEP chains are built from, beyond the endpoint.
struct SepSpec<'a> {
    key: PortKey,
    name: &'a str,
    proto: Protocol,
    affinity: Option<u32>,
    mark_masq: &'a ChainName,
}

impl ProgramCache {
    /// Forgets everything: the cluster changed.
    pub fn clear(&mut self) {
        *self = ProgramCache::default();
    }

    fn port(&mut self, key: PortKey) -> &mut PortCache {
        self.ports.entry(key).or_default()
    }

    fn endpoints(&mut self, cluster: &Cluster, svc: ServiceId, port: usize) -> Rc<[Endpoint]> {
        let cached = &mut self.port((svc, port)).endpoints;
        Rc::clone(cached.get_or_insert_with(|| service_port_endpoints(cluster, svc, port).into()))
    }

    /// The ready local endpoint IPs of `svc` on `node`, counted once for every node.
    pub fn local_count(&mut self, cluster: &Cluster, svc: ServiceId, node: NodeId) -> u32 {
        while self.local_counts.len() <= svc.index() {
            self.local_counts.push(None);
        }
        let counts = self.local_counts[svc].get_or_insert_with(|| local_ready_counts(cluster, svc));
        counts.get(node).copied().unwrap_or(0)
    }

    /// The KUBE-SEP chain of one endpoint (`docs/fidelity.md#endpoint-chains`).
    fn sep(&mut self, spec: &SepSpec<'_>, ep: &Endpoint) -> (ChainName, Chain) {
        self.port(spec.key)
            .seps
            .entry(ep.addr)
            .or_insert_with(|| {
                let sep = endpoint_chain(spec.name, spec.proto, ep);
                let mut m = Vec::new();
                if spec.affinity.is_some() {
                    m.push(Match::RecentSet { name: sep.clone(), family: ep.addr.family() });
                }
                m.push(Match::Proto(spec.proto));
                let hairpin = vec![Match::Src { cidr: IpCidr::host(ep.ip()), negated: false }];
                let chain = Rc::new(vec![
                    rule(Table::Nat, &sep, spec.name.to_string(), hairpin, jump(spec.mark_masq)),
                    rule(Table::Nat, &sep, spec.name.to_string(), m, Target::Dnat(ep.addr)),
                ]);
                (sep, chain)
            })
            .clone()
    }

    /// The KUBE-SEP chains of the port's Cluster-policy endpoints.
    fn cluster_seps(&mut self, spec: &SepSpec<'_>, endpoints: &[Endpoint]) -> Rc<[(ChainName, Chain)]> {
        if let Some(seps) = &self.port(spec.key).cluster_seps {
            return Rc::clone(seps);
        }
        let seps: Rc<[(ChainName, Chain)]> = endpoints.iter().map(|ep| self.sep(spec, ep)).collect();
        self.port(spec.key).cluster_seps = Some(Rc::clone(&seps));
        seps
    }
}

/// How many distinct IPs of ready endpoints of `svc` each node has, over all its ports.
fn local_ready_counts(cluster: &Cluster, svc: ServiceId) -> IdVec<NodeId, u32> {
    let mut ips: std::collections::BTreeSet<(NodeId, IpAddr)> = std::collections::BTreeSet::new();
    for port in 0..cluster.service(svc).ports.len() {
        for e in service_port_endpoints(cluster, svc, port).iter().filter(|e| e.ready) {
            if let Some(node) = e.node {
                ips.insert((node, e.ip()));
            }
        }
    }
    let mut counts: IdVec<NodeId, u32> = vec![0; cluster.nodes.len()].into();
    for (node, _) in ips {
        if let Some(count) = counts.get_mut(node) {
            *count += 1;
        }
    }
    counts
}

/// Programs `node`'s rules for every Service of `cluster`.
pub fn program(cluster: &Cluster, node: NodeId) -> Ruleset {
    program_cached(cluster, node, &mut ProgramCache::default())
}

/// [`program`], sharing work between nodes through `cache` (see [`ProgramCache`]).
pub fn program_cached(cluster: &Cluster, node: NodeId, cache: &mut ProgramCache) -> Ruleset {
    let mut rs = Ruleset::default();
    let k = Known::new(localhost_node_ports(cluster, node), cluster.config.kube_proxy.random_fully);
    jump_chains(&mut rs, &k);
    base_chains(&mut rs, &k);
    for svc in cluster.services.ids() {
        for p_idx in 0..cluster.service(svc).ports.len() {
            program_service_port(cluster, node, svc, p_idx, &k, &mut rs, cache);
        }
    }
    // Finally the tail call to KUBE-NODEPORTS; localhost NodePorts are allowed, the default
    // (`docs/fidelity.md#nodeports`).
    let comment = "kubernetes service nodeports; NOTE: this must be the last rule in this chain".to_string();
    match node_port_ips(cluster, node) {
        // IPv6 never accepts NodePorts on ::1 (no `route_localnet`).
        None if cluster.config.primary_family() == IpFamily::Ipv6 => {
            let not_loopback = Match::NotLoopback(IpFamily::Ipv6);
            rs.append(rule(
                Table::Nat,
                &k.services,
                comment,
                vec![Match::DstTypeLocal, not_loopback],
                jump(&k.nodeports),
            ))
        }
        None => rs.append(rule(Table::Nat, &k.services, comment, vec![Match::DstTypeLocal], jump(&k.nodeports))),
        Some(ips) => {
            for ip in ips {
                rs.append(rule(Table::Nat, &k.services, comment.clone(), vec![Match::dst(ip)], jump(&k.nodeports)));
            }
        }
    }
    rs
}

/// The jumps from the built-in chains: `iptablesJumpChains`, then kubelet's KUBE-FIREWALL jumps
/// (`iptablesKubeletJumpChains`), each ensured with Prepend, so in a built-in chain the last one
/// ensured comes first. Their extra arguments come before the comment.
fn jump_chains(rs: &mut Ruleset, k: &Known) {
    let new = || vec![Match::ctstate(CtStates::New)];
    // (table, from, to, comment, extra arguments)
    type Jump<'a> = (Table, &'a ChainName, &'a ChainName, Option<&'a str>, Vec<Match>);
    let ensured: [Jump<'_>; 14] = [
        (Table::Filter, &k.input, &k.external_services, Some("kubernetes externally-visible service portals"), new()),
        (Table::Filter, &k.forward, &k.external_services, Some("kubernetes externally-visible service portals"), new()),
        (Table::Filter, &k.input, &k.nodeports, Some("kubernetes health check service ports"), vec![]),
        (Table::Filter, &k.forward, &k.services, Some("kubernetes service portals"), new()),
        (Table::Filter, &k.output, &k.services, Some("kubernetes service portals"), new()),
        (Table::Filter, &k.forward, &k.kube_forward, Some("kubernetes forwarding rules"), vec![]),
        (Table::Filter, &k.input, &k.firewall, Some("kubernetes load balancer firewall"), new()),
        (Table::Filter, &k.output, &k.firewall, Some("kubernetes load balancer firewall"), new()),
        (Table::Filter, &k.forward, &k.firewall, Some("kubernetes load balancer firewall"), new()),
        (Table::Nat, &k.output, &k.services, Some("kubernetes service portals"), vec![]),
        (Table::Nat, &k.prerouting, &k.services, Some("kubernetes service portals"), vec![]),
        (Table::Nat, &k.postrouting, &k.kube_postrouting, Some("kubernetes postrouting rules"), vec![]),
        (Table::Filter, &k.input, &k.kubelet_firewall, None, vec![]),
        (Table::Filter, &k.output, &k.kubelet_firewall, None, vec![]),
    ];
    for (table, from, to, comment, extra) in ensured.into_iter().rev() {
        let at = extra.len();
        let r = Rule::commented_at(table, from, comment.map(str::to_string), at, extra, jump(to));
        rs.append(Rc::new(r));
    }
}

/// kube-proxy's own chains, always declared, and the masquerade plumbing
/// (`docs/fidelity.md#masquerade`).
fn base_chains(rs: &mut Ruleset, k: &Known) {
    for c in [&k.external_services, &k.kube_forward, &k.nodeports, &k.firewall, &k.services, &k.kubelet_firewall] {
        rs.filter.chain(c);
    }
    // kubelet's anti-martian rule, which kube-proxy writes too when it accepts localhost
    // NodePorts (`route_localnet` lets them in).
    if k.localhost {
        let m = vec![
            Match::Dst { cidr: LOOPBACK, negated: false },
            Match::Src { cidr: LOOPBACK, negated: true },
            Match::CtState { states: CtStates::RelatedEstablishedDnat, negated: true },
        ];
        let c = "block incoming localnet connections".to_string();
        rs.append(rule(Table::Filter, &k.kubelet_firewall, c, m, Target::Drop));
    }
    for c in [&k.mark_masq, &k.nodeports, &k.kube_postrouting, &k.services] {
        rs.nat.chain(c);
    }
    rs.append(rule(Table::Nat, &k.mark_masq, None, vec![], Target::MarkMasq));
    rs.append(rule(Table::Nat, &k.kube_postrouting, None, vec![Match::Mark { negated: true }], Target::Return));
    rs.append(rule(Table::Nat, &k.kube_postrouting, None, vec![], Target::ClearMasq));
    let snat = "kubernetes service traffic requiring SNAT".to_string();
    let masquerade = Target::Masquerade { random_fully: k.random_fully };
    rs.append(rule(Table::Nat, &k.kube_postrouting, snat, vec![], masquerade));
    let invalid = vec![Match::ctstate(CtStates::Invalid), Match::Nfacct(nfacct::CT_STATE_INVALID_DROPPED)];
    rs.append(rule(Table::Filter, &k.kube_forward, None, invalid, Target::Drop));
    rs.append(rule(
        Table::Filter,
        &k.kube_forward,
        "kubernetes forwarding rules".to_string(),
        vec![Match::Mark { negated: false }],
        Target::Accept,
    ));
    rs.append(rule(
        Table::Filter,
        &k.kube_forward,
        "kubernetes forwarding conntrack rule".to_string(),
        vec![Match::ctstate(CtStates::RelatedEstablished)],
        Target::Accept,
    ));
}

/// One Service port, in the order `syncProxyRules` writes it.
fn program_service_port(
    cluster: &Cluster,
    node: NodeId,
    svc_id: ServiceId,
    p_idx: usize,
    k: &Known,
    rs: &mut Ruleset,
    cache: &mut ProgramCache,
) {
    let svc = cluster.service(svc_id);
    let sp = &svc.ports[p_idx];
    let Some(cluster_ip) = svc.cluster_ip else {
        return;
    };
    let proto = sp.protocol;
    let name = svc.port_name(p_idx);
    let chains_ = PortChains::new(&name, proto);
    let endpoints = cache.endpoints(cluster, svc_id, p_idx);

    let externally_accessible = svc.externally_accessible();
    let etp_local = svc.external_traffic_policy == TrafficPolicy::Local && externally_accessible;
    let itp_local = svc.internal_traffic_policy == TrafficPolicy::Local;
    // UsesClusterEndpoints / UsesLocalEndpoints (`pkg/proxy/serviceport.go`).
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
    let lb_ips: &[IpAddr] = &svc.load_balancer_ingress;
    let uses_fw = cat.has_any && !lb_ips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
    let lb_chain = if uses_fw { chains_.fw.clone() } else { ext_chain.clone() };

    // REJECT when there are no endpoints at all, DROP when there are none local
    // (`docs/fidelity.md#no-endpoints`).
    let (filter_comment, filter_target) = if !cat.has_any {
        (format!("{name} has no endpoints"), Target::Reject(cluster.config.primary_family()))
    } else {
        (format!("{name} has no local endpoints"), Target::Drop)
    };
    let nat = |chain: &ChainName, comment: String, m: Vec<Match>, t: Target| rule(Table::Nat, chain, comment, m, t);
    let filter =
        |chain: &ChainName, m: Vec<Match>| rule(Table::Filter, chain, filter_comment.clone(), m, filter_target.clone());
    let to = |ip: IpAddr, port: u16| vec![Match::Proto(proto), Match::dst(ip), Match::DstPort(port)];

    // Capture the clusterIP.
    if has_internal {
        let c = format!("{name} cluster IP");
        rs.append(nat(&k.services, c, to(cluster_ip, sp.port), jump(&internal_chain)));
    } else {
        rs.append(filter(&k.services, to(cluster_ip, sp.port)));
    }

    // Capture externalIPs.
    for ip in &svc.external_ips {
        if cat.has_any {
            rs.append(nat(&k.services, format!("{name} external IP"), to(*ip, sp.port), jump(&ext_chain)));
        }
        if !has_external {
            rs.append(filter(&k.external_services, to(*ip, sp.port)));
        }
    }

    // Capture load-balancer ingress.
    for ip in lb_ips {
        if cat.has_any {
            rs.append(nat(&k.services, format!("{name} loadbalancer IP"), to(*ip, sp.port), jump(&lb_chain)));
        }
        if uses_fw {
            let c = format!("{name} traffic not accepted by {}", chains_.fw);
            rs.append(rule(Table::Filter, &k.firewall, c, to(*ip, sp.port), Target::Drop));
        }
    }
    if !has_external {
        for ip in lb_ips {
            rs.append(filter(&k.external_services, to(*ip, sp.port)));
        }
    }

    // Capture nodeports: not subject to loadBalancerSourceRanges.
    if let Some(node_port) = sp.node_port.filter(|_| svc.has_node_ports()) {
        if cat.has_any {
            if k.localhost {
                // Counted first, then accepted by the plain rule's twin (`docs/fidelity.md#nodeports`).
                let m = vec![
                    Match::Proto(proto),
                    Match::Dst { cidr: LOOPBACK, negated: false },
                    Match::DstPort(node_port),
                    Match::Nfacct(nfacct::LOCALHOST_NODEPORTS_ACCEPTED),
                ];
                rs.append(nat(&k.nodeports, name.clone(), m, jump(&ext_chain)));
            }
            let m = vec![Match::Proto(proto), Match::DstPort(node_port)];
            rs.append(nat(&k.nodeports, name.clone(), m, jump(&ext_chain)));
        }
        if !has_external {
            rs.append(filter(
                &k.external_services,
                vec![Match::DstTypeLocal, Match::Proto(proto), Match::DstPort(node_port)],
            ));
        }
    }

    // Capture healthCheckNodePorts, whether or not this node has local endpoints. Like
    // kube-proxy, this is written once per Service port, and always for TCP.
    if let Some(hc) = svc.health_check_node_port.filter(|_| svc.needs_health_check()) {
        let c = format!("{name} health check node port");
        let m = vec![Match::Proto(Protocol::Tcp), Match::DstPort(hc)];
        rs.append(rule(Table::Filter, &k.nodeports, c, m, Target::Accept));
    }

    // Internal traffic: masquerade off-cluster sources (`docs/fidelity.md#masquerade`).
    if has_internal {
        let c = format!("{name} cluster IP");
        if cluster.config.kube_proxy.masquerade_all {
            rs.append(nat(&internal_chain, c, to(cluster_ip, sp.port), jump(&k.mark_masq)));
        } else if let Some(not_local) = detect_local(cluster, node, true) {
            let mut m = to(cluster_ip, sp.port);
            m.push(not_local);
            rs.append(nat(&internal_chain, c, m, jump(&k.mark_masq)));
        } else {
            rs.nat.chain(&internal_chain);
        }
    }

    // External traffic (`docs/fidelity.md#external-traffic-policy`).
    if cat.has_any && externally_accessible {
        rs.nat.chain(&ext_chain);
        if !etp_local {
            let c = format!("masquerade traffic for {name} external destinations");
            rs.append(nat(&ext_chain, c, vec![], jump(&k.mark_masq)));
        } else {
            if let Some(local) = detect_local(cluster, node, false) {
                let c = format!("pod traffic for {name} external destinations");
                rs.append(nat(&ext_chain, c, vec![local], jump(&cluster_policy)));
            }
            let c = format!("masquerade LOCAL traffic for {name} external destinations");
            rs.append(nat(&ext_chain, c, vec![Match::SrcTypeLocal], jump(&k.mark_masq)));
            let c = format!("route LOCAL traffic for {name} external destinations");
            rs.append(nat(&ext_chain, c, vec![Match::SrcTypeLocal], jump(&cluster_policy)));
        }
        if has_external {
            rs.append(rule(Table::Nat, &ext_chain, None, vec![], jump(&external_policy)));
        }
    }

    // The firewall chain (`docs/fidelity.md#loadbalancersourceranges`).
    if uses_fw {
        let node_ip = cluster.node(node).ip;
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            let m = vec![Match::Src { cidr: *cidr, negated: false }];
            rs.append(nat(&chains_.fw, format!("{name} loadbalancer IP"), m, jump(&ext_chain)));
            allow_from_node |= cidr.contains(node_ip);
        }
        if allow_from_node {
            for ip in lb_ips {
                let m = vec![Match::Src { cidr: IpCidr::host(*ip), negated: false }];
                rs.append(nat(&chains_.fw, format!("{name} loadbalancer IP"), m, jump(&ext_chain)));
            }
        }
        // No target: the packet falls out of nat un-DNATed, and KUBE-PROXY-FIREWALL drops it.
        let c = format!("other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL");
        rs.append(nat(&chains_.fw, c, vec![], Target::None));
    }

    let affinity = svc.session_affinity.map(|d| (d.as_micros() / 1_000_000) as u32);
    let spec = SepSpec { key: (svc_id, p_idx), name: &name, proto, affinity, mark_masq: &k.mark_masq };
    let cluster_seps = cache.cluster_seps(&spec, &cat.cluster);
    if !cat.cluster.is_empty() && uses_cluster {
        let cascade = Rc::clone(cache.port(spec.key).cluster_cascade.get_or_insert_with(|| {
            let seps: Vec<&ChainName> = cluster_seps.iter().map(|(n, _)| n).collect();
            write_service_to_endpoint_rules(&spec, &cluster_policy, &cat.cluster, &seps)
        }));
        rs.nat.chain(&cluster_policy).extend(cascade.iter().cloned());
    }
    if !cat.local.is_empty() && uses_local {
        let seps: Vec<ChainName> = cat.local.iter().map(|ep| cache.sep(&spec, ep).0).collect();
        let seps: Vec<&ChainName> = seps.iter().collect();
        let cascade = write_service_to_endpoint_rules(&spec, &local_policy, &cat.local, &seps);
        rs.nat.chain(&local_policy).extend(cascade.iter().cloned());
    }

    // The per-endpoint chains: the same on every node (`docs/fidelity.md#endpoint-chains`).
    if uses_cluster {
        rs.nat.chains.reserve(cluster_seps.len());
        for (sep, chain) in cluster_seps.iter() {
            rs.nat.chains.insert(sep.clone(), Rc::clone(chain));
        }
    }
    for ep in cat.all_reachable.iter().skip(if uses_cluster { cat.cluster.len() } else { 0 }) {
        let (sep, chain) = cache.sep(&spec, ep);
        rs.nat.chains.insert(sep, chain);
    }
}

/// `writeServiceToEndpointRules`: affinity checks, then the 1/(n−i) cascade
/// (`docs/fidelity.md#endpoint-choice`): the rules of `chain` over `endpoints`, whose KUBE-SEP
/// chains are `seps`.
fn write_service_to_endpoint_rules(
    spec: &SepSpec<'_>,
    chain: &ChainName,
    endpoints: &[Endpoint],
    seps: &[&ChainName],
) -> Rc<[Rc<Rule>]> {
    let name = spec.name;
    let mut rules = Vec::new();
    if let Some(seconds) = spec.affinity {
        for (ep, sep) in endpoints.iter().zip(seps) {
            let m = vec![Match::RecentCheck { name: (*sep).clone(), seconds, family: ep.addr.family() }];
            rules.push(rule(Table::Nat, chain, format!("{name} -> {ep}"), m, jump(sep)));
        }
    }
    let count = endpoints.len();
    for (i, (ep, sep)) in endpoints.iter().zip(seps).enumerate() {
        let m = if i + 1 < count { vec![Match::Statistic { one_in: (count - i) as u32 }] } else { vec![] };
        rules.push(rule(Table::Nat, chain, format!("{name} -> {ep}"), m, jump(sep)));
    }
    rules.into()
}
