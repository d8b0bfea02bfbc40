//! Assembling what was read into a [`Scenario`]: the cluster's shape (settings, CIDRs and nodes,
//! given or inferred from the objects), its workloads, Services and EndpointSlices, the API
//! server's checks, then the Simulation's clients and events — each step in a function of its
//! own, every problem into one sink, located.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::kube_proxy::KubeProxySpec;
use super::load::*;
use super::read::{Diagnostic, Severity};
use super::tree::Pos;
use crate::cluster::families::{Families, update_families};
use crate::cluster::*;
use crate::id::IdVec;
use crate::net::{IpCidr, IpFamily, Protocol, SockAddr};
use crate::scenario::{Change, Client, ClientKind, Scenario, Schedule, Target, TimedChange};
use crate::time::{Duration, Instant};
use crate::validate;

/// What was read, as a scenario, or `None` with the reasons in `diags`.
pub(super) fn assemble(diags: &mut Vec<Diagnostic>, docs: Docs, overrides: &Overrides) -> Option<Scenario> {
    let Docs { sim: sim_doc, kube_proxy: kpc, deployments, services, pods, slices, skipped_services, nodes: node_docs } =
        docs;
    let sim = sim_doc.as_ref().map(|(s, _, _)| s.clone()).unwrap_or_default();
    let name =
        sim_doc.as_ref().map(|(_, _, n)| n.clone()).filter(|n| !n.is_empty()).unwrap_or_else(|| "scenario".into());
    let mut sink = Sink { diags, sim: sim_doc.as_ref().map(|(_, o, _)| o) };
    let sink = &mut sink;
    let config = cluster_config(sink, &sim, &kpc, &services, &pods, &node_docs, overrides);
    let mut cluster = Cluster { config, ..Cluster::default() };
    nodes(sink, &sim, overrides, &node_docs, &pods, &deployments, &mut cluster)?;
    let mut origins: BTreeMap<validate::Object, &Origin> = BTreeMap::new();
    workloads(sink, &mut cluster, &deployments, &pods, overrides, &mut origins)?;
    add_services(sink, &mut cluster, &services, overrides, &mut origins);
    add_slices(sink, &mut cluster, &slices, &skipped_services);
    checked(sink, &mut cluster, &origins);
    let (duration, clients) = clients(sink, &sim, &cluster, overrides)?;
    let mut changes = events(sink, &sim, &cluster, duration);
    crate::order::sort_by_key(&mut changes, |c| c.at);
    if sink.diags.iter().any(|d| d.severity == Severity::Error) {
        return None;
    }
    let seed = overrides.seed.or(sim.seed).unwrap_or(1);
    Some(Scenario { name, seed, duration, cluster, clients: clients.into(), changes })
}

/// Where the assembly's problems go: one sink, each problem pointed at its document and field.
struct Sink<'a> {
    diags: &'a mut Vec<Diagnostic>,
    /// The Simulation document, if any.
    sim: Option<&'a Origin>,
}

impl Sink<'_> {
    fn push(&mut self, severity: Severity, o: Option<&Origin>, path: &str, pos: Option<Pos>, message: String) {
        self.diags.push(Diagnostic {
            severity,
            doc: o.map(|o| o.doc),
            object: o.map(|o| o.label.clone()),
            path: path.to_string(),
            pos,
            message,
        });
    }
    /// Where `path` was written in the Simulation document.
    fn sim_pos(&self, path: &str) -> Option<Pos> {
        self.sim.and_then(|o| o.positions.get(path).copied())
    }
    /// Another object of the same kind already has this namespace/name (the API server's 409).
    fn duplicate_name(&mut self, o: &Origin, kind: &str, namespace: &str, name: &str) {
        let message = format!("another {kind} is named {namespace}/{name}");
        self.push(Severity::Error, Some(o), "metadata.name", at(o, "metadata.name"), message);
    }
}

/// Where `path` was written in the object `o`, or the object itself.
fn at(o: &Origin, path: &str) -> Option<Pos> {
    o.positions.get(path).copied().or_else(|| o.positions.get("").copied())
}

/// The cluster's settings: the Simulation's, then a KubeProxyConfiguration's, then what the
/// objects imply (the CIDRs their addresses come from), each inference said in a note.
fn cluster_config(
    sink: &mut Sink<'_>,
    sim: &SimSpec,
    kpc: &Option<(KubeProxySpec, Origin)>,
    services: &[(Option<ServiceDoc>, Origin)],
    pods: &[(Option<PodDoc>, Origin)],
    node_docs: &[NodeDoc],
    overrides: &Overrides,
) -> ClusterConfig {
    let mut config = ClusterConfig {
        provider: overrides.provider.or(sim.provider).unwrap_or(Provider::Azure),
        network_plugin: sim.plugin.unwrap_or_default(),
        ..ClusterConfig::default()
    };
    if let Some((c, _)) = sim.cluster_cidr {
        config.cluster_cidr = c;
    }
    if let Some((c, _)) = sim.service_cidr {
        config.service_cidr = c;
    } else if let Some((cidr, whose)) = infer_service_cidr(services, config.service_cidr) {
        config.service_cidr = cidr;
        let message = format!(
            "serviceCIDR {cidr} ({whose}), inferred from the Services' clusterIPs: set spec.cluster.serviceCIDR in a Simulation document to say otherwise"
        );
        sink.push(Severity::Note, None, "", None, message);
    }
    if let Some(r) = sim.node_port_range {
        config.node_port_range = r;
    }
    sim.kube_proxy.apply(&mut config.kube_proxy, overrides.proxy_mode());
    if let Some((spec, o)) = &kpc {
        for (field, pos) in sim.kube_proxy.overlap(spec) {
            let message =
                format!("{field} is also set in the KubeProxyConfiguration (doc {}): set it in one place", o.doc);
            sink.push(Severity::Error, sink.sim, &format!("spec.cluster.kubeProxy.{field}"), Some(pos), message);
        }
        spec.apply(&mut config.kube_proxy, overrides.proxy_mode());
        // kube-proxy's clusterCIDR is the cluster's unless the Simulation gives another.
        match (sim.cluster_cidr.map(|c| c.0), spec.cluster_cidr.map(|((c, _), pos)| (c, pos))) {
            (None, Some((c, _))) => config.cluster_cidr = c,
            (Some(cluster), Some((kp, pos))) if cluster != kp => sink.push(Severity::Warning,
                Some(o),
                "clusterCIDR",
                Some(pos),
                format!(
                    "kube-proxy's clusterCIDR {kp} is not the cluster's {cluster}: pods outside {kp} count as off-cluster traffic"
                ),
            ),
            _ => {}
        }
    }
    let cluster_cidr_given = sim.cluster_cidr.is_some() || kpc.as_ref().is_some_and(|(k, _)| k.cluster_cidr.is_some());
    if !cluster_cidr_given && let Some((cidr, whose)) = infer_cluster_cidr(pods, node_docs, config.cluster_cidr) {
        config.cluster_cidr = cidr;
        let message = format!(
            "clusterCIDR {cidr} ({whose}), inferred from the pods' status.podIP and the Nodes' spec.podCIDR: set spec.cluster.clusterCIDR in a Simulation document to say otherwise"
        );
        sink.push(Severity::Note, None, "", None, message);
    }
    config.secondary = secondary_cidrs(sink, sim, &config, services, pods, node_docs);
    if overrides.dual_stack && config.secondary.is_none() {
        config.secondary = Some(second_family_defaults(config.cluster_cidr.family()));
        let s = config.secondary.expect("just set");
        let message = format!(
            "dual-stack, as chosen outside the file: the cluster adds clusterCIDR {} and serviceCIDR {}, and Services that set no ipFamilyPolicy are PreferDualStack",
            s.cluster_cidr, s.service_cidr
        );
        sink.push(Severity::Note, None, "", None, message);
    }
    // kube-proxy's own clusterCIDR, when it is the cluster's in every family, is the cluster's
    // (`None`); one family short on a dual-stack cluster leaves that family without a
    // local-traffic detector (`docs/fidelity.md#dual-stack-proxies`).
    let kp = &config.kube_proxy;
    if kp.cluster_cidr == Some(config.cluster_cidr)
        && kp.secondary_cluster_cidr == config.secondary.map(|s| s.cluster_cidr)
    {
        config.kube_proxy.cluster_cidr = None;
        config.kube_proxy.secondary_cluster_cidr = None;
    }
    let kp = &config.kube_proxy;
    if let (Some(own), Some(second)) = (kp.cluster_cidr, config.secondary)
        && kp.secondary_cluster_cidr.is_none()
        && kp.detect_local_mode == DetectLocalMode::ClusterCidr
    {
        let missing = second.cluster_cidr.family();
        let message = format!(
            "kube-proxy's clusterCIDR {own} has no {missing} prefix: its {missing} side has no local-traffic detector, so it masquerades no off-cluster traffic to a {missing} ClusterIP (give clusterCIDR: {own},{} to detect it)",
            second.cluster_cidr
        );
        let o = kpc.as_ref().map(|(_, o)| o).or(sink.sim);
        sink.push(Severity::Warning, o, "clusterCIDR", None, message);
    }
    // nftables mode defaults nodePortAddresses to `primary` (`docs/fidelity.md#nftables-nodeports`).
    let addresses_given = sim.kube_proxy.node_port_addresses.is_some()
        || kpc.as_ref().is_some_and(|(spec, _)| spec.node_port_addresses.is_some());
    if config.kube_proxy.mode == crate::cluster::ProxyMode::Nftables && !addresses_given {
        config.kube_proxy.node_port_addresses = crate::cluster::NodePortAddresses::Primary;
    }
    config.cilium = cilium(sim, overrides);
    if config.cilium.is_some() {
        let replaced = "Cilium replaces kube-proxy (kubeProxyReplacement: true): kube-proxy's settings are not used";
        if sim.kube_proxy.is_set() {
            let pos = sink.sim.and_then(|o| o.positions.get("spec.cluster.kubeProxy").copied());
            sink.push(Severity::Warning, sink.sim, "spec.cluster.kubeProxy", pos, replaced.into());
        }
        if let Some((_, o)) = &kpc {
            sink.push(Severity::Warning, Some(o), "", None, replaced.into());
        }
    }
    config
}

/// Cilium replacing kube-proxy, as the file and the overrides say (`docs/fidelity.md#cilium`).
fn cilium(sim: &SimSpec, overrides: &Overrides) -> Option<crate::cluster::CiliumConfig> {
    let from_file = sim.cilium.as_ref().and_then(|c| c.config.clone());
    match overrides.dataplane {
        Some(DataplaneOverride::KubeProxy(_)) => None,
        Some(DataplaneOverride::Cilium { mode, algorithm }) => {
            let mut c = from_file.unwrap_or_default();
            if let Some(m) = mode {
                c.mode = m;
                // DSR from the page or the CLI on a tunnelled default: the option cannot cross a
                // tunnel, so route natively as DSR needs.
                if m != crate::cluster::CiliumLbMode::Snat && c.dsr_dispatch == crate::cluster::DsrDispatch::Opt {
                    c.routing_mode = crate::cluster::RoutingMode::Native;
                }
            }
            if let Some(a) = algorithm {
                c.algorithm = a;
            }
            Some(c)
        }
        None => from_file,
    }
}

/// The nodes: the Simulation's list, else the Node objects, else the ones the pods name, else
/// `nodes: N` (default 2); `None` when there are none usable.
fn nodes(
    sink: &mut Sink<'_>,
    sim: &SimSpec,
    overrides: &Overrides,
    node_docs: &[NodeDoc],
    pods: &[(Option<PodDoc>, Origin)],
    deployments: &[(Option<DeploymentDoc>, Origin)],
    cluster: &mut Cluster,
) -> Option<()> {
    match (&sim.node_list, overrides.nodes) {
        (Some(_), Some(_)) => sink.push(
            Severity::Error,
            sink.sim,
            "spec.cluster.nodes",
            sink.sim_pos("spec.cluster.nodes"),
            "--nodes cannot override a list of named nodes".into(),
        ),
        (Some(list), None) => {
            for (i, n) in list.iter().enumerate() {
                if cluster.nodes.iter().any(|x| x.name == n.name) {
                    sink.push(
                        Severity::Error,
                        sink.sim,
                        &format!("spec.cluster.nodes[{i}].name"),
                        Some(n.pos),
                        format!("duplicate node name {:?}", n.name),
                    );
                }
                let ips: Vec<IpAddr> = n.ip.iter().flat_map(|(a, b)| std::iter::once(*a).chain(*b)).collect();
                let cidrs: Vec<IpCidr> = n.pod_cidr.iter().flat_map(|(a, b)| std::iter::once(*a).chain(*b)).collect();
                let path = format!("spec.cluster.nodes[{i}]");
                let o = sink.sim;
                let node =
                    node_with(sink, (o, &path, Some(n.pos), Severity::Error), &cluster.config, i as u32, &ips, &cidrs);
                cluster.nodes.push(Node { name: n.name.clone(), ..node });
            }
        }
        (None, None) if sim.node_count.is_none() && !node_docs.is_empty() => {
            for (i, n) in node_docs.iter().take(limits::MAX_NODES).enumerate() {
                let at = (None, "", None, Severity::Warning);
                let node = node_with(sink, at, &cluster.config, i as u32, &n.ips, &n.pod_cidrs);
                cluster.nodes.push(Node { name: n.name.clone(), ready: n.ready, ..node });
            }
        }
        (None, None) if sim.node_count.is_none() && !named_nodes(pods, deployments).is_empty() => {
            let names = named_nodes(pods, deployments);
            let message = format!(
                "nodes {} named by the pods' spec.nodeName: set spec.cluster.nodes in a Simulation document to say otherwise",
                names.join(", ")
            );
            sink.push(Severity::Note, None, "", None, message);
            for (i, nname) in names.into_iter().take(limits::MAX_NODES).enumerate() {
                let d = cluster.config.default_node(i as u32);
                cluster.nodes.push(Node { name: nname, ..d });
            }
        }
        (None, n) => {
            let count = n.or(sim.node_count.map(|(c, _)| c)).unwrap_or(2);
            if count == 0 || count as usize > limits::MAX_NODES {
                sink.push(
                    Severity::Error,
                    sink.sim,
                    "spec.cluster.nodes",
                    sink.sim_pos("spec.cluster.nodes"),
                    format!("{count} nodes: the limit is 1-{}", limits::MAX_NODES),
                );
                return None;
            }
            cluster.nodes = (0..count).map(|i| cluster.config.default_node(i)).collect();
        }
    }
    // One cause, one message: the nodes' podCIDRs are carved from the cluster CIDR, a /24 (IPv4)
    // or /80 (IPv6) each.
    for family in cluster.config.families() {
        let Some(cidr) = cluster.config.cluster_cidr_of(family) else { continue };
        let mask = node_cidr_mask(family);
        let count = cluster.nodes.len();
        let defaulted =
            cluster.nodes.iter().filter(|n| n.addresses(family).is_none_or(|a| !cidr.covers(a.pod_cidr))).count();
        if defaulted > 0 && nth_pod_cidr(cidr, count.saturating_sub(1) as u32).is_none() {
            let path = "spec.cluster.clusterCIDR";
            let message = format!(
                "{count} nodes' /{mask} podCIDRs do not fit in the cluster CIDR {cidr}: widen it, or give each node its podCIDR"
            );
            sink.push(Severity::Error, sink.sim, path, sink.sim_pos(path), message);
            return None;
        }
    }
    if cluster.nodes.is_empty() || cluster.nodes.len() > limits::MAX_NODES {
        sink.push(
            Severity::Error,
            sink.sim,
            "spec.cluster.nodes",
            sink.sim_pos("spec.cluster.nodes"),
            match cluster.nodes.len() {
                0 => "no usable node: a cluster needs at least one".to_string(),
                n => format!("{n} nodes: the limit is {}", limits::MAX_NODES),
            },
        );
        return None;
    }

    Some(())
}

/// Deployments and Pods, placed on their nodes; `None` past the pod limit.
fn workloads<'o>(
    sink: &mut Sink<'_>,
    cluster: &mut Cluster,
    deployments: &[(Option<DeploymentDoc>, Origin)],
    pods: &'o [(Option<PodDoc>, Origin)],
    overrides: &Overrides,
    origins: &mut BTreeMap<validate::Object, &'o Origin>,
) -> Option<()> {
    let mut total_pods: u64 = 0;
    for (d, o) in deployments {
        let Some(d) = d else { continue };
        let mut dep = d.deployment.clone();
        if let Some(r) = overrides.replicas {
            dep.replicas = r;
        }
        if cluster.deployments.iter().any(|x| x.name == dep.name && x.namespace == dep.namespace) {
            sink.duplicate_name(o, "Deployment", &dep.namespace, &dep.name);
        }
        if let Some(nn) = &dep.template.node_name
            && cluster.node_by_name(nn).is_none()
        {
            sink.push(
                Severity::Error,
                Some(o),
                "spec.template.spec.nodeName",
                at(o, "spec.template.spec.nodeName"),
                no_such_node(cluster, nn),
            );
        }
        total_pods += u64::from(dep.replicas);
        cluster.deployments.push(dep);
    }

    // Pods.
    for (p, o) in pods {
        let Some(p) = p else { continue };
        let mut pod = p.pod.clone();
        if cluster.pods.iter().any(|x| x.name == pod.name && x.namespace == pod.namespace) {
            sink.duplicate_name(o, "Pod", &pod.namespace, &pod.name);
        }
        pod.node = match &p.node_name {
            Some((nn, pos)) => match cluster.node_by_name(nn) {
                Some(n) => n,
                None => {
                    sink.push(Severity::Error, Some(o), "spec.nodeName", Some(*pos), no_such_node(cluster, nn));
                    continue;
                }
            },
            // A pod's IP says where it runs; otherwise the scheduler spreads pods.
            None => pod
                .ip
                .and_then(|ip| cluster.node_for_pod_ip(ip))
                .unwrap_or_else(|| NodeId((cluster.pods.len() % cluster.nodes.len()) as u32)),
        };
        origins.insert(validate::Object::Pod(cluster.pods.push(pod)), o);
        total_pods += 1;
    }
    if total_pods > limits::MAX_PODS {
        sink.push(
            Severity::Error,
            None,
            "",
            None,
            format!("{total_pods} pods (replicas and Pods): the limit is {}", limits::MAX_PODS),
        );
        return None;
    }

    Some(())
}

/// The Services, with the command line's externalTrafficPolicy applied.
fn add_services<'o>(
    sink: &mut Sink<'_>,
    cluster: &mut Cluster,
    services: &'o [(Option<ServiceDoc>, Origin)],
    overrides: &Overrides,
    origins: &mut BTreeMap<validate::Object, &'o Origin>,
) {
    for (s, o) in services {
        let Some(s) = s else { continue };
        let (lo, hi) = cluster.config.node_port_range;
        for (path, pos, v) in &s.bad_node_ports {
            sink.push(Severity::Error, Some(o), path, Some(*pos), format!("{v} is outside {lo}-{hi}"));
        }
        let mut svc = s.service.clone();
        // The API server's defaulting of ipFamilyPolicy and ipFamilies (`docs/fidelity.md#dual-stack`).
        let mut request = s.families.clone();
        if overrides.dual_stack && request.policy.is_none() {
            request.policy = Some(IpFamilyPolicy::PreferDualStack);
        }
        match crate::cluster::families::default_families(&request, &cluster.config.families()) {
            Ok(f) => {
                svc.ip_family_policy = f.policy;
                svc.ip_families = f.families;
            }
            Err(errors) => {
                // Reported; the Service stays, so what names it is still checked.
                for e in errors {
                    sink.push(Severity::Error, Some(o), &e.field, at(o, &e.field), e.message);
                }
            }
        }
        if cluster.services.iter().any(|x| x.name == svc.name && x.namespace == svc.namespace) {
            sink.duplicate_name(o, "Service", &svc.namespace, &svc.name);
        }
        if let Some(p) = overrides.external_traffic_policy
            && svc.externally_accessible()
        {
            svc.external_traffic_policy = p;
            if !svc.needs_health_check() {
                svc.health_check_node_port = None;
            }
        }
        origins.insert(validate::Object::Service(cluster.services.push(svc)), o);
    }
}

/// EndpointSlices (and mirrored Endpoints) of Services without a selector.
fn add_slices(
    sink: &mut Sink<'_>,
    cluster: &mut Cluster,
    slices: &[(Option<SliceDoc>, Origin)],
    skipped_services: &[(String, String)],
) {
    let mut reported: Vec<(&str, &str)> = Vec::new();
    for (sl, o) in slices {
        let Some(sl) = sl else { continue };
        let Some((sname, spos)) = &sl.service else { continue };
        let Some(svc) = cluster.service_by_name(&sl.namespace, sname) else {
            // A mirrored Endpoints object is one report, however many subsets it has.
            if reported.contains(&(&sl.namespace, sname)) && sl.mirrored {
                continue;
            }
            reported.push((&sl.namespace, sname));
            let path = if sl.mirrored { "metadata.name" } else { "metadata.labels.kubernetes.io/service-name" };
            if skipped_services.iter().any(|(ns, n)| *ns == sl.namespace && n == sname) {
                let message = format!("for {}/{sname}, which svcsim skips: skipped too", sl.namespace);
                sink.push(Severity::Note, Some(o), path, Some(*spos), message);
                continue;
            }
            // The mirroring controller does nothing for Endpoints without their Service: a
            // warning, not an error, so a dump of every namespace's Endpoints still runs.
            let (severity, message) = if sl.mirrored {
                let m = format!(
                    "no Service {}/{sname} in this file: nothing mirrors these Endpoints, ignored",
                    sl.namespace
                );
                (Severity::Warning, m)
            } else {
                (Severity::Error, format!("no Service {}/{sname} in this file", sl.namespace))
            };
            sink.push(severity, Some(o), path, Some(*spos), message);
            continue;
        };
        if !cluster.service(svc).selector.is_empty() {
            // The endpoints controller wrote these Endpoints from the pods; nothing mirrors them.
            if sl.mirrored {
                continue;
            }
            sink.push(
                Severity::Warning,
                Some(o),
                "metadata.labels.kubernetes.io/service-name",
                Some(*spos),
                format!(
                    "Service {sname} has a selector: its endpoints come from its pods, this EndpointSlice is ignored"
                ),
            );
            continue;
        }
        let mut endpoints = Vec::new();
        for (i, (ep, node)) in sl.endpoints.iter().enumerate() {
            let mut ep = ep.clone();
            if let Some((nn, pos)) = node {
                match cluster.node_by_name(nn) {
                    Some(n) => ep.node = Some(n),
                    None => sink.push(
                        Severity::Error,
                        Some(o),
                        &format!("endpoints[{i}].nodeName"),
                        Some(*pos),
                        no_such_node(cluster, nn),
                    ),
                }
            }
            endpoints.push(ep);
        }
        cluster.endpoint_slices.push(EndpointSlice {
            service: svc,
            address_type: sl.address_type,
            endpoints,
            ports: sl.ports.clone(),
        });
    }
}

/// The API server's rules, each problem at its field, then allocation, whose failures are
/// reported rather than panicked on.
fn checked(sink: &mut Sink<'_>, cluster: &mut Cluster, origins: &BTreeMap<validate::Object, &Origin>) {
    for problem in validate::check(cluster) {
        let o = origins.get(&problem.object).copied();
        // A Service whose only ports failed to read already has those errors.
        if problem.field == "spec.ports" && o.is_some_and(|o| o.positions.contains_key("spec.ports[0]")) {
            continue;
        }
        let pos = o.and_then(|o| {
            let mut p = problem.field.as_str();
            loop {
                if let Some(pos) = o.positions.get(p) {
                    return Some(*pos);
                }
                match p.rfind(['.', '[']) {
                    Some(cut) => p = &p[..cut],
                    None => return o.positions.get("").copied(),
                }
            }
        });
        let severity = match problem.severity {
            validate::Severity::Error => Severity::Error,
            validate::Severity::Warning => Severity::Warning,
        };
        sink.push(severity, o, &problem.field, pos, problem.message);
    }
    // Allocation never panics: what cannot be allocated is reported. Clients and events are
    // resolved even after earlier errors, so every problem is listed at once.
    for failure in cluster.allocate() {
        sink.push(Severity::Error, None, "", None, failure);
    }
}

/// The run's duration and its clients: the Simulation's, or the seed's laptop sending to each
/// LoadBalancer Service; `None` past the limits. Resolved even after earlier errors, so every
/// problem is listed at once.
fn clients(
    sink: &mut Sink<'_>,
    sim: &SimSpec,
    cluster: &Cluster,
    overrides: &Overrides,
) -> Option<(Duration, Vec<Client>)> {
    let duration = overrides.duration.or(sim.duration).unwrap_or(Duration::from_secs(120));
    if duration.as_micros() == 0 || duration > Duration::from_secs(limits::MAX_DURATION_S) {
        sink.push(
            Severity::Error,
            sink.sim,
            "spec.duration",
            sink.sim_pos("spec.duration"),
            format!("{duration}: the limit is 1 hour"),
        );
        return None;
    }
    let mut clients = Vec::new();
    if sink.sim.is_none()
        || sim.clients.is_empty() && sink.sim.is_some_and(|o| !o.positions.contains_key("spec.clients"))
    {
        // The seed's default: a laptop on the internet, 1 request/s to each LoadBalancer Service.
        let lbs: Vec<ServiceId> = (0..cluster.services.len() as u32)
            .map(ServiceId)
            .filter(|s| cluster.service(*s).type_ == ServiceType::LoadBalancer)
            .collect();
        for (i, svc) in lbs.iter().enumerate() {
            let cname =
                if lbs.len() == 1 { "laptop".to_string() } else { format!("laptop-{}", cluster.service(*svc).name) };
            let family = overrides
                .family
                .filter(|f| cluster.service(*svc).cluster_ip_of(*f).is_some())
                .unwrap_or(cluster.service(*svc).families(&cluster.config)[0]);
            let ip = if family == IpFamily::Ipv4 { DEFAULT_CLIENT_IP } else { DEFAULT_CLIENT_IP_V6 };
            clients.push(Client {
                name: cname,
                kind: ClientKind::External(ip),
                target: Target::LoadBalancer { svc: *svc, port: 0, family },
                schedule: Schedule::Every(Duration::from_secs(1)),
                protocol: cluster.service(*svc).ports[0].protocol,
            });
            let _ = i;
        }
        if lbs.is_empty() && !cluster.services.is_empty() {
            sink.push(Severity::Warning, None, "", None, "no LoadBalancer Service and no Simulation clients: nothing sends traffic (add a Simulation document with clients)".into());
        }
    }
    for c in &sim.clients {
        if let Some(client) = resolve_client(sink.diags, sink.sim, cluster, c, overrides.family) {
            if clients.iter().any(|x: &Client| x.name == client.name) {
                sink.push(
                    Severity::Error,
                    sink.sim,
                    &format!("{}.name", c.path),
                    Some(c.pos),
                    format!("another client is named {:?}", client.name),
                );
            }
            clients.push(client);
        }
    }
    let requests: f64 = clients
        .iter()
        .map(|c| match &c.schedule {
            Schedule::Every(p) => duration.as_micros() as f64 / p.as_micros().max(1) as f64,
            Schedule::At(t) => t.len() as f64,
        })
        .sum();
    if requests > limits::MAX_REQUESTS as f64 {
        sink.push(
            Severity::Error,
            sink.sim,
            "spec.clients",
            sink.sim_pos("spec.clients"),
            format!("about {requests:.0} requests (duration × rate): the limit is {}", limits::MAX_REQUESTS),
        );
        return None;
    }

    Some((duration, clients))
}

/// The Simulation's events, as timed changes.
fn events(sink: &mut Sink<'_>, sim: &SimSpec, cluster: &Cluster, duration: Duration) -> Vec<TimedChange> {
    let mut changes = Vec::new();
    // In time order (stable: events at one time keep the file's order), so that a patch of a
    // Service's families is checked against what the patches before it made of them.
    let mut in_order: Vec<_> = sim.events.iter().collect();
    crate::order::sort_by_key(&mut in_order, |e| e.at);
    let mut families_now: IdVec<ServiceId, Option<Families>> = cluster.services.iter().map(|_| None).collect();
    for e in in_order {
        let err = |sink: &mut Sink<'_>, msg: String| {
            let origin = sink.sim;
            sink.push(Severity::Error, origin, &e.path, Some(e.pos), msg)
        };
        let change = match &e.action {
            EventAction::Patch { service, etp, itp, affinity, families } => match find_service(cluster, service) {
                Ok(svc) => {
                    let mut out = Vec::new();
                    if let Some(p) = etp {
                        if !cluster.service(svc).externally_accessible() {
                            err(
                                sink,
                                format!(
                                    "service {service} is not externally accessible: externalTrafficPolicy does not apply"
                                ),
                            );
                        }
                        out.push(Change::ExternalTrafficPolicy { svc, policy: *p });
                    }
                    if let Some(p) = itp {
                        out.push(Change::InternalTrafficPolicy { svc, policy: *p });
                    }
                    if let Some(a) = affinity {
                        out.push(Change::SessionAffinity { svc, timeout: *a });
                    }
                    if let Some(patch) = families {
                        let s = cluster.service(svc);
                        let old = families_now[svc].clone().unwrap_or_else(|| Families {
                            policy: s.ip_family_policy,
                            families: s.families(&cluster.config),
                        });
                        match update_families(&old, patch, &cluster.config.families()) {
                            Ok(result) => {
                                families_now[svc] = Some(result.clone());
                                out.push(Change::IpFamilies { svc, patch: patch.clone(), result });
                            }
                            Err(errors) => {
                                for e in errors {
                                    err(sink, format!("the API server refuses the patch: {}: {}", e.field, e.message));
                                }
                            }
                        }
                    }
                    out
                }
                Err(m) => {
                    err(sink, m);
                    continue;
                }
            },
            EventAction::Scale { deployment, replicas } => {
                let found = cluster
                    .deployments
                    .iter()
                    .position(|d| &d.name == deployment || format!("{}/{}", d.namespace, d.name) == *deployment);
                match found {
                    Some(d) => vec![Change::Scale { deployment: DeploymentId(d as u32), replicas: *replicas }],
                    None => {
                        err(sink, format!("no Deployment named {deployment:?}"));
                        continue;
                    }
                }
            }
            EventAction::Pod { name, ready, deleted } => {
                if cluster.pod_by_name(name).is_none() {
                    err(
                        sink,
                        format!("no Pod named {name:?} (pods of Deployments get generated names; name a Pod document)"),
                    );
                    continue;
                }
                let mut out = Vec::new();
                if let Some(r) = ready {
                    out.push(Change::PodReady { pod: name.clone(), ready: *r });
                }
                if *deleted {
                    out.push(Change::DeletePod { pod: name.clone() });
                }
                out
            }
            EventAction::Node { name, ready, kube_proxy_healthy } => match cluster.node_by_name(name) {
                Some(node) => {
                    let mut out = Vec::new();
                    if let Some(r) = ready {
                        out.push(Change::NodeReady { node, ready: *r });
                    }
                    if let Some(h) = kube_proxy_healthy {
                        out.push(Change::KubeProxyHealthy { node, healthy: *h });
                    }
                    out
                }
                None => {
                    err(sink, no_such_node(cluster, name));
                    continue;
                }
            },
        };
        if e.at > Instant::ZERO + duration {
            sink.push(
                Severity::Warning,
                sink.sim,
                &format!("{}.at", e.path),
                Some(e.pos),
                format!("at {} is after the end of the run ({duration})", e.at),
            );
        }
        changes.extend(change.into_iter().map(|change| TimedChange { at: e.at, change }));
    }
    changes
}

/// The service CIDR the Services' given clusterIPs come from, when one lies outside `default`:
/// the first well-known default that holds them all, else the narrowest prefix (of /8 or longer)
/// that does. `None` when `default` holds them (or none is given).
fn infer_service_cidr(services: &[(Option<ServiceDoc>, Origin)], default: IpCidr) -> Option<(IpCidr, &'static str)> {
    const KNOWN: [(&str, &str); 7] = [
        ("10.0.0.0/16", "AKS's default"),
        ("10.96.0.0/12", "kubeadm's and kind's default"),
        ("10.100.0.0/16", "EKS's default"),
        ("172.20.0.0/16", "EKS's default when the VPC uses 10.0.0.0/8"),
        ("10.43.0.0/16", "k3s's default"),
        ("172.30.0.0/16", "OpenShift's default"),
        ("100.64.0.0/13", "kops's default"),
    ];
    let ips: Vec<IpAddr> =
        services.iter().filter_map(|(s, _)| s.as_ref()?.service.cluster_ip).filter(|ip| ip.is_ipv4()).collect();
    if ips.iter().all(|ip| default.contains(*ip)) {
        return None;
    }
    let holds = |c: &IpCidr| ips.iter().all(|ip| c.contains(*ip));
    if let Some((cidr, whose)) =
        KNOWN.iter().map(|(c, w)| (c.parse::<IpCidr>().expect("a CIDR"), *w)).find(|(c, _)| holds(c))
    {
        return Some((cidr, whose));
    }
    (8..=24).rev().map(|p| IpCidr::new(ips[0], p)).find(holds).map(|c| (c, "the narrowest prefix that holds them"))
}

/// Node `i` with the given addresses and podCIDRs, one per family, the cluster's defaults for
/// the families not given. A value of a family the cluster does not have is reported at `at`
/// (path, position, severity) and left out.
fn node_with(
    sink: &mut Sink<'_>,
    at: (Option<&Origin>, &str, Option<Pos>, Severity),
    config: &ClusterConfig,
    i: u32,
    ips: &[IpAddr],
    cidrs: &[IpCidr],
) -> Node {
    let (o, path, pos, severity) = at;
    let families = config.families();
    let d = config.default_node(i);
    for (value, family, field) in ips
        .iter()
        .map(|ip| (ip.to_string(), IpFamily::of(*ip), "ip"))
        .chain(cidrs.iter().map(|c| (c.to_string(), c.family(), "podCIDR")))
    {
        if !families.contains(&family) {
            let field = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
            let message = format!(
                "{value} is {family}, and the cluster has no {family} range: give clusterCIDR and serviceCIDR one prefix per family for a dual-stack cluster"
            );
            sink.push(severity, o, &field, pos, message);
        }
    }
    let ip_of = |f: IpFamily, default: IpAddr| ips.iter().copied().find(|ip| IpFamily::of(*ip) == f).unwrap_or(default);
    let cidr_of = |f: IpFamily, default: IpCidr| cidrs.iter().copied().find(|c| c.family() == f).unwrap_or(default);
    let primary = d.family();
    Node {
        ip: ip_of(primary, d.ip),
        pod_cidr: cidr_of(primary, d.pod_cidr),
        secondary: d.secondary.map(|s| {
            let f = IpFamily::of(s.ip);
            FamilyAddresses { ip: ip_of(f, s.ip), pod_cidr: cidr_of(f, s.pod_cidr) }
        }),
        ..d
    }
}

/// The second family's ranges: the Simulation's (`clusterCIDR: 10.244.0.0/16,fd12:3456:789a::/64`
/// and `serviceCIDR` likewise), or, when it gives neither, IPv6 ranges inferred from the objects
/// that use IPv6 (a Service asking for it, a pod's or Node's IPv6 address), said in a note.
fn secondary_cidrs(
    sink: &mut Sink<'_>,
    sim: &SimSpec,
    config: &ClusterConfig,
    services: &[(Option<ServiceDoc>, Origin)],
    pods: &[(Option<PodDoc>, Origin)],
    node_docs: &[NodeDoc],
) -> Option<SecondaryCidrs> {
    const BOTH: &str = "a dual-stack cluster gives one prefix per family in both clusterCIDR and serviceCIDR, e.g. \
                        10.244.0.0/16,fd12:3456:789a::/64 and 10.0.0.0/16,fd12:3456:789a:1::/108";
    let (cpath, spath) = ("spec.cluster.clusterCIDR", "spec.cluster.serviceCIDR");
    match (sim.cluster_cidr, sim.service_cidr) {
        (Some((c, Some(c2))), Some((s, Some(s2)))) => {
            if c.family() != s.family() {
                let message = format!(
                    "{c},{c2} lists {} first and serviceCIDR lists {} first: list the families in one order",
                    c.family(),
                    s.family()
                );
                sink.push(Severity::Error, sink.sim, cpath, sink.sim_pos(cpath), message);
            }
            let (cluster_cidr, service_cidr) = if c.family() == s.family() { (c2, s2) } else { (c, s2) };
            return Some(SecondaryCidrs { cluster_cidr, service_cidr });
        }
        (Some((_, Some(_))), _) => {
            sink.push(Severity::Error, sink.sim, spath, sink.sim_pos(spath).or(sink.sim_pos(cpath)), BOTH.into());
            return None;
        }
        (_, Some((_, Some(_)))) => {
            sink.push(Severity::Error, sink.sim, cpath, sink.sim_pos(cpath).or(sink.sim_pos(spath)), BOTH.into());
            return None;
        }
        (c, s) => {
            if config.cluster_cidr.family() != config.service_cidr.family() {
                let message = format!(
                    "clusterCIDR {} is {} and serviceCIDR {} is {}: a single-stack cluster has one family ({BOTH})",
                    config.cluster_cidr,
                    config.cluster_cidr.family(),
                    config.service_cidr,
                    config.service_cidr.family()
                );
                let path = if s.is_some() { spath } else { cpath };
                sink.push(Severity::Error, sink.sim, path, sink.sim_pos(path), message);
            }
            if c.is_some() || s.is_some() {
                return None;
            }
        }
    }
    let other = IpFamily::Ipv6;
    if config.service_cidr.family() == other {
        return None;
    }
    let asks = services.iter().find_map(|(s, o)| {
        let s = s.as_ref()?;
        let r = &s.families;
        let dual_policy = matches!(r.policy, Some(IpFamilyPolicy::PreferDualStack | IpFamilyPolicy::RequireDualStack))
            && r.families.len() != 1
            && r.cluster_ips.len() != 1;
        let v6 = r.cluster_ips.iter().any(|ip| ip.is_ipv6())
            || r.families.contains(&other)
            || s.service.load_balancer_ingress.iter().any(|ip| ip.is_ipv6());
        (dual_policy || v6).then(|| o.label.clone())
    });
    let pod_v6: Vec<IpAddr> = pods
        .iter()
        .filter_map(|(p, _)| p.as_ref())
        .flat_map(|p| p.pod.ip.into_iter().chain(p.pod.secondary_ip))
        .filter(|ip| ip.is_ipv6())
        .chain(node_docs.iter().flat_map(|n| n.pod_cidrs.iter().filter(|c| c.family() == other).map(|c| c.network())))
        .collect();
    let node_v6 = node_docs.iter().any(|n| n.ips.iter().any(|ip| ip.is_ipv6()));
    let why = asks
        .map(|label| format!("{label} asks for IPv6"))
        .or_else(|| (!pod_v6.is_empty() || node_v6).then(|| "the pods or Nodes have IPv6 addresses".to_string()))?;
    let svc_v6: Vec<IpAddr> = services
        .iter()
        .filter_map(|(s, _)| s.as_ref())
        .flat_map(|s| s.families.cluster_ips.iter().copied())
        .filter(|ip| ip.is_ipv6())
        .collect();
    let cluster_cidr = narrowest(&pod_v6, AKS_V6_PODS, [64, 56, 48, 32, 16]);
    let service_cidr = narrowest(&svc_v6, AKS_V6_SERVICES, [108, 96, 80, 64, 48]);
    let message = format!(
        "dual-stack: {why}, so the cluster has IPv6 ranges too, clusterCIDR {cluster_cidr} and serviceCIDR {service_cidr} \
         (AKS's defaults, or the narrowest prefixes that hold the addresses given): set spec.cluster.clusterCIDR and \
         serviceCIDR in a Simulation document to say otherwise"
    );
    sink.push(Severity::Note, None, "", None, message);
    Some(SecondaryCidrs { cluster_cidr, service_cidr })
}

/// The ranges of the family a `primary`-family cluster lacks: AKS's IPv6 defaults, or AKS's
/// IPv4 defaults for an IPv6-first cluster.
fn second_family_defaults(primary: IpFamily) -> SecondaryCidrs {
    let (pods, services) = match primary {
        IpFamily::Ipv4 => (AKS_V6_PODS, AKS_V6_SERVICES),
        IpFamily::Ipv6 => ("10.244.0.0/16", "10.0.0.0/16"),
    };
    SecondaryCidrs { cluster_cidr: pods.parse().expect("a CIDR"), service_cidr: services.parse().expect("a CIDR") }
}

/// AKS's IPv6 defaults for a dual-stack cluster (`--pod-cidrs`, `--service-cidrs`).
const AKS_V6_PODS: &str = "fd12:3456:789a::/64";
const AKS_V6_SERVICES: &str = "fd12:3456:789a:1::/108";

/// `default` if it holds every one of `ips`, else the longest of `prefixes` around the first
/// that holds them all (the widest one if none does).
fn narrowest<const N: usize>(ips: &[IpAddr], default: &str, prefixes: [u8; N]) -> IpCidr {
    let default: IpCidr = default.parse().expect("a CIDR");
    let holds = |c: &IpCidr| ips.iter().all(|ip| c.contains(*ip));
    if holds(&default) {
        return default;
    }
    let candidates = prefixes.map(|p| IpCidr::new(ips[0], p));
    candidates.iter().copied().find(holds).unwrap_or(candidates[N - 1])
}

/// The cluster CIDR the pods' given IPs come from, when one lies outside `default`: the first
/// well-known default that holds them all, else the narrowest /16 or wider that does (each node
/// takes a /24 of it).
fn infer_cluster_cidr(
    pods: &[(Option<PodDoc>, Origin)],
    nodes: &[NodeDoc],
    default: IpCidr,
) -> Option<(IpCidr, &'static str)> {
    const KNOWN: [(&str, &str); 5] = [
        ("10.244.0.0/16", "kubenet's, flannel's and kind's default"),
        ("10.42.0.0/16", "k3s's default"),
        ("192.168.0.0/16", "Calico's default"),
        ("172.17.0.0/16", "minikube's Docker bridge"),
        ("10.128.0.0/14", "OpenShift's default"),
    ];
    let pod_ips = pods.iter().filter_map(|(p, _)| p.as_ref()?.pod.ip);
    let node_cidrs = nodes.iter().flat_map(|n| n.pod_cidrs.iter().map(|c| c.network()));
    let ips: Vec<IpAddr> = pod_ips.chain(node_cidrs).filter(|ip| ip.is_ipv4()).collect();
    if ips.iter().all(|ip| default.contains(*ip)) {
        return None;
    }
    let holds = |c: &IpCidr| ips.iter().all(|ip| c.contains(*ip));
    if let Some(found) = KNOWN.iter().map(|(c, w)| (c.parse::<IpCidr>().expect("a CIDR"), *w)).find(|(c, _)| holds(c)) {
        return Some(found);
    }
    (8..=16)
        .rev()
        .map(|p| IpCidr::new(ips[0], p))
        .find(holds)
        .map(|c| (c, "the narrowest /16 or wider that holds them"))
}

/// The nodes the pods (and pod templates) name in `spec.nodeName`, in the order first named.
fn named_nodes(pods: &[(Option<PodDoc>, Origin)], deployments: &[(Option<DeploymentDoc>, Origin)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let pod_names = pods.iter().filter_map(|(p, _)| Some(p.as_ref()?.node_name.as_ref()?.0.clone()));
    let template_names = deployments.iter().filter_map(|(d, _)| d.as_ref()?.deployment.template.node_name.clone());
    for n in pod_names.chain(template_names) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// "no node is named "x" (nodes are node-0, node-1)": the message for a name that is not one of
/// the cluster's nodes, listing (up to eight of) those it has.
fn no_such_node(cluster: &Cluster, name: &str) -> String {
    let names: Vec<&str> = cluster.nodes.iter().take(8).map(|n| n.name.as_str()).collect();
    let more = if cluster.nodes.len() > 8 { ", …" } else { "" };
    format!("no node is named {name:?} (nodes are {}{more})", names.join(", "))
}

/// `name` or `namespace/name`.
fn find_service(cluster: &Cluster, spec: &str) -> Result<ServiceId, String> {
    let matches: Vec<ServiceId> = (0..cluster.services.len() as u32)
        .map(ServiceId)
        .filter(|s| {
            let svc = cluster.service(*s);
            svc.name == spec || svc.namespaced_name() == spec
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("no Service named {spec:?}")),
        _ => Err(format!("{spec:?} names Services in several namespaces: write namespace/name")),
    }
}

fn resolve_client(
    diags: &mut Vec<Diagnostic>,
    o: Option<&Origin>,
    cluster: &Cluster,
    c: &ClientSpec,
    family: Option<IpFamily>,
) -> Option<Client> {
    let mut fail = |path: String, pos: Pos, message: String| {
        diags.push(Diagnostic {
            severity: Severity::Error,
            doc: o.map(|o| o.doc),
            object: o.map(|o| o.label.clone()),
            path,
            pos: Some(pos),
            message,
        });
    };
    let (target_text, tpos) = c.target.clone()?;
    let target = match parse_target(cluster, &target_text, c.protocol, family) {
        Ok(t) => t,
        Err(m) => {
            fail(format!("{}.target", c.path), tpos, m);
            return None;
        }
    };
    // A connection never changes family: the client speaks the target's.
    let wanted = target_family(&target);
    let kind = match &c.kind {
        None if wanted == IpFamily::Ipv6 => ClientKind::External(DEFAULT_CLIENT_IP_V6),
        None => ClientKind::External(DEFAULT_CLIENT_IP),
        Some((k, v)) if k == "ip" => {
            let mut ips = Vec::new();
            for part in v.split(',').map(str::trim) {
                match part.parse::<IpAddr>() {
                    Ok(ip) => ips.push(ip),
                    Err(_) => {
                        fail(format!("{}.ip", c.path), c.pos, format!("{part:?} is not an IP address"));
                        return None;
                    }
                }
            }
            match ips.iter().find(|ip| IpFamily::of(**ip) == wanted) {
                Some(ip) => ClientKind::External(*ip),
                // The family was chosen outside the file: the client speaks it from its twin.
                None if family == Some(wanted) => ClientKind::External(twin(ips[0])),
                None => {
                    let example = if wanted == IpFamily::Ipv6 {
                        format!("{v},2001:db8::79")
                    } else {
                        format!("198.51.100.79,{v}")
                    };
                    let message = format!(
                        "{v} has no {wanted} address, and its target {target_text} is {wanted}: write ip: {example}"
                    );
                    fail(format!("{}.ip", c.path), c.pos, message);
                    return None;
                }
            }
        }
        Some((k, v)) if k == "pod" => {
            let Some(pod) = cluster.pod_by_name(v) else {
                fail(format!("{}.pod", c.path), c.pos, format!("no Pod named {v:?} (name a Pod document)"));
                return None;
            };
            if cluster.pod(pod).ip.is_some() && cluster.pod(pod).ip_of(wanted).is_none() {
                fail(
                    format!("{}.pod", c.path),
                    c.pos,
                    format!("pod {v} has no {wanted} address for its {wanted} target"),
                );
                return None;
            }
            ClientKind::Pod(v.clone())
        }
        Some((_, v)) => match cluster.node_by_name(v) {
            Some(n) => ClientKind::HostNetwork(n),
            None => {
                fail(format!("{}.hostNetwork", c.path), c.pos, no_such_node(cluster, v));
                return None;
            }
        },
    };
    let schedule = match (c.rate, c.at.is_empty()) {
        (Some((r, _)), _) => Schedule::Every(Duration::from_micros(((1e6 / r).round() as u64).max(1))),
        (None, false) => Schedule::At(c.at.clone()),
        (None, true) => return None,
    };
    Some(Client { name: c.name.clone(), kind, target, schedule, protocol: c.protocol })
}

/// A client address's twin in the other family, for a family chosen outside the file: the
/// documentation prefix and the last part's digits (198.51.100.79 → 2001:db8::79, and back).
fn twin(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let digits = crate::net::decimal_as_hex(u16::from(v4.octets()[3]));
            IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, digits))
        }
        IpAddr::V6(v6) => {
            let n = crate::net::hex_as_decimal(v6.segments()[7]);
            IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, u8::try_from(n).unwrap_or(79)))
        }
    }
}

/// The family a target's connection uses.
fn target_family(target: &Target) -> IpFamily {
    match *target {
        Target::LoadBalancer { family, .. } | Target::ClusterIp { family, .. } | Target::NodePort { family, .. } => {
            family
        }
        Target::Addr(a) => a.family(),
    }
}

/// `service/<name>` (LB frontend, first port), `service/<name>:clusterIP`,
/// `node/<name>:nodePort` (first Service with a nodePort), or `a.b.c.d:port`.
/// The first of the Service's ports that speaks `protocol`.
fn port_of(s: &Service, protocol: Protocol) -> Result<usize, String> {
    s.ports.iter().position(|p| p.protocol == protocol).ok_or_else(|| {
        let has: Vec<String> = s.ports.iter().map(|p| format!("{}/{}", p.port, p.protocol)).collect();
        format!("service {} has no {protocol} port (its ports: {}): set the client's protocol", s.name, has.join(", "))
    })
}

/// A target's trailing `:ipv4` or `:ipv6`, if it has one: (the rest, the family).
fn family_suffix(text: &str) -> (&str, Option<IpFamily>) {
    match text.rsplit_once(':') {
        Some((rest, "ipv4")) => (rest, Some(IpFamily::Ipv4)),
        Some((rest, "ipv6")) => (rest, Some(IpFamily::Ipv6)),
        _ => (text, None),
    }
}

/// `service/<name>[:clusterIP][:ipv4|:ipv6]`, `node/<name>:nodePort[:ipv4|:ipv6]`, `a.b.c.d:port`
/// or `[2001:db8::10]:port`. A Service target uses `chosen` (the page's or the CLI's family
/// choice) if the Service has it, else the family it names, else the Service's first family.
fn parse_target(cluster: &Cluster, text: &str, protocol: Protocol, chosen: Option<IpFamily>) -> Result<Target, String> {
    const FORMS: &str = "service/<name>, service/<name>:clusterIP, node/<name>:nodePort (each optionally followed by :ipv6), a.b.c.d:port or [2001:db8::10]:port";
    if let Some(rest) = text.strip_prefix("service/") {
        let (rest, named) = family_suffix(rest);
        let (name, via) = rest.split_once(':').map_or((rest, None), |(n, v)| (n, Some(v)));
        let svc = find_service(cluster, name)?;
        let s = cluster.service(svc);
        let port = port_of(s, protocol)?;
        let families = s.families(&cluster.config);
        // A family chosen outside the file wins, as the other overrides do, where the Service
        // has it.
        let family = match (named, chosen) {
            (_, Some(f)) if families.contains(&f) => f,
            (Some(f), _) if families.contains(&f) => f,
            (Some(f), _) => {
                let has: Vec<String> = families.iter().map(ToString::to_string).collect();
                return Err(format!("service {name} has no {f} address (its ipFamilies: {})", has.join(", ")));
            }
            _ => families[0],
        };
        return match via {
            None if s.type_ == ServiceType::LoadBalancer
                && s.load_balancer_ingress.iter().any(|ip| IpFamily::of(*ip) == family) =>
            {
                Ok(Target::LoadBalancer { svc, port, family })
            }
            None if s.type_ == ServiceType::LoadBalancer => Err(format!(
                "service {name} has no load balancer address (provider none): use service/{name}:clusterIP"
            )),
            None => Err(format!(
                "service {name} is {}, not LoadBalancer: use service/{name}:clusterIP or node/<node>:nodePort",
                s.type_
            )),
            Some("clusterIP") => Ok(Target::ClusterIp { svc, port, family }),
            Some(other) => Err(format!(
                "{other:?}: after service/{name} write nothing (the LB frontend) or :clusterIP, then optionally :ipv4 or :ipv6"
            )),
        };
    }
    if let Some(rest) = text.strip_prefix("node/") {
        let (rest, named) = family_suffix(rest);
        let Some((node_name, "nodePort")) = rest.split_once(':') else {
            return Err(format!("{text:?}: write node/<name>:nodePort (or node/<name>:nodePort:ipv6)"));
        };
        let node = cluster.node_by_name(node_name).ok_or_else(|| no_such_node(cluster, node_name))?;
        let families = cluster.config.families();
        let family =
            chosen.filter(|f| families.contains(f)).or(named).filter(|f| families.contains(f)).unwrap_or(families[0]);
        if let Some(f) = named.filter(|f| !families.contains(f)) {
            return Err(format!("node {node_name} has no {f} address: the cluster is single-stack {}", families[0]));
        }
        let svc = (0..cluster.services.len() as u32)
            .map(ServiceId)
            .find(|s| {
                cluster.service(*s).has_node_ports() && cluster.service(*s).families(&cluster.config).contains(&family)
            })
            .ok_or_else(|| format!("no NodePort or LoadBalancer Service of {family} has a nodePort"))?;
        let port = port_of(cluster.service(svc), protocol)?;
        return Ok(Target::NodePort { node, svc, port, family });
    }
    text.parse::<std::net::SocketAddr>()
        .map(|a| Target::Addr(SockAddr::new(a.ip(), a.port())))
        .map_err(|_| format!("{text:?} is not a target: {FORMS}"))
}
