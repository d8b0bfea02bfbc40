//! Cilium and kube-proxy over random clusters: for every first packet (or socket `connect()`)
//! the kernel lab would try, the two give the same set of reachable backends and the same answer
//! to "does the pod see the client's address?", except where Cilium documents otherwise — each
//! difference named here with its reason, and required to occur
//! (`docs/fidelity.md#cilium-and-kube-proxy-where-they-agree-and-where-they-differ`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use svcsim_core::cluster::{CiliumConfig, NodeId, ProxyMode, ServiceType, TrafficPolicy};
use svcsim_core::dataplane::{Decision, FirstPacketVerdict, Origin};
use svcsim_core::net::{Header, SockAddr};
use svcsim_core::sim::Sim;
use svcsim_core::time::Instant;
use svcsim_lab::cases::{self, Source};
use svcsim_lab::plan::Plan;

use common::in_mode;

/// How a connection ends, coarsely: reaches a backend, is refused, is dropped, or is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Backend,
    Refused,
    Dropped,
    Untouched,
}

/// What is compared: how it ends, and each backend reachable with whether the pod sees the
/// client's own address there (the SNAT address itself differs by design: kube-proxy's
/// MASQUERADE picks the egress interface's, Cilium's the node's or `cilium_host`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    end: End,
    backends: BTreeMap<SockAddr, bool>,
}

fn answer(decisions: &[Decision], client: IpAddr) -> Answer {
    let end = match decisions.iter().map(Decision::summary).find(|v| *v != FirstPacketVerdict::None) {
        Some(FirstPacketVerdict::Dnat) => End::Backend,
        Some(FirstPacketVerdict::Reject) => End::Refused,
        Some(FirstPacketVerdict::Drop) => End::Dropped,
        _ => End::Untouched,
    };
    let backends = decisions.iter().filter_map(|d| Some((d.dnat?, d.after.src.ip == client))).collect();
    Answer { end, backends }
}

/// Cilium's answer: a socket in the cluster is translated at `connect()` when socket-LB takes
/// it; its packets are not rewritten, and the pod sees the socket's own address (a host
/// socket's: the one the kernel picks toward the backend).
fn cilium_answer(sim: &Sim, node: NodeId, origin: Origin, header: Header, from_pod: bool) -> Answer {
    let connects = if from_pod || origin == Origin::Host {
        sim.dataplane().every_connect(node, from_pod, header.src, header.dst, header.proto)
    } else {
        Vec::new()
    };
    if connects.is_empty() {
        return answer(&sim.dataplane().every_decision(node, origin, header), header.src.ip);
    }
    let net = sim.node_net(node, header.family());
    let source = |b: &SockAddr| if from_pod { header.src.ip } else { net.source_for(b.ip) };
    let backends: BTreeMap<SockAddr, bool> =
        connects.iter().filter_map(|c| c.to.as_ref().ok().map(|b| (*b, source(b) == header.src.ip))).collect();
    let end = if backends.is_empty() { End::Refused } else { End::Backend };
    Answer { end, backends }
}

/// Where Cilium answers differently from kube-proxy, by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Difference {
    /// An external client to a backend on the balancing node under Cluster: Cilium does not
    /// SNAT (`nodeport_svc_lb4`: a local backend is delivered as is); kube-proxy masquerades
    /// everything external under Cluster.
    LocalBackendKeepsClientIp,
    /// No backend for the traffic: Cilium refuses it with ICMP port unreachable
    /// (`serviceNoBackendResponse: reject`) or fails the `connect()`; kube-proxy drops it
    /// silently (no local endpoints) where it does not reject it.
    NoBackendIsRefused,
    /// A pod or the host to an LB IP or NodePort under Cluster: Cilium never SNATs east-west
    /// traffic; kube-proxy masquerades it like external traffic.
    EastWestKeepsClientIp,
    /// loadBalancerSourceRanges: Cilium applies them to traffic from outside only; kube-proxy's
    /// firewall chain sees pods' traffic to the LB IP too.
    SourceRangesOnlyNorthSouth,
    /// A source outside loadBalancerSourceRanges to a Service without endpoints: Cilium checks
    /// the range first and drops (`lb4_src_range_ok` before `lb4_local`); kube-proxy's iptables
    /// mode writes no firewall without endpoints and rejects.
    SourceRangeCheckedBeforeBackends,
    /// An external IP reached from inside: socket-LB leaves an external IP that is not this
    /// host's alone (the CVE-2020-8554 mitigation); kube-proxy translates it on every node.
    ExternalIpFromInsideUntouched,
    /// `internalTrafficPolicy: Local`: Cilium's in-cluster traffic uses the internal scope of
    /// every frontend (LB IP and NodePort included), so it gets the node's own backends only;
    /// kube-proxy applies the internal policy to the ClusterIP alone.
    InternalPolicyGovernsEastWest,
}

/// The documented difference that explains `kp` ≠ `cil`, if one does.
fn explain(
    sim: &Sim,
    kp: &Answer,
    cil: &Answer,
    header: Header,
    ingress: NodeId,
    external: bool,
) -> Option<Difference> {
    let cluster = sim.cluster();
    let svc = cluster.services.iter().find(|s| {
        s.cluster_ip == Some(header.dst.ip)
            || s.load_balancer_ingress.contains(&header.dst.ip)
            || s.external_ips.contains(&header.dst.ip)
            || s.ports.iter().any(|p| p.node_port == Some(header.dst.port))
    })?;
    let local = |b: &SockAddr| cluster.pods.iter().any(|p| p.ip == Some(b.ip) && p.node == ingress);
    let client = header.src.ip;
    let same_backends = kp.backends.keys().eq(cil.backends.keys());
    let to_cluster_ip = svc.cluster_ip == Some(header.dst.ip);
    let firewalled = svc.type_ == ServiceType::LoadBalancer
        && svc.load_balancer_ingress.contains(&header.dst.ip)
        && !svc.load_balancer_source_ranges.is_empty()
        && !svc.load_balancer_source_ranges.iter().any(|r| r.contains(client));
    if !external && !to_cluster_ip && svc.internal_traffic_policy == TrafficPolicy::Local {
        return cil.backends.keys().all(local).then_some(Difference::InternalPolicyGovernsEastWest);
    }
    if external && same_backends && kp.end == cil.end {
        let explained = kp.backends.iter().all(|(b, kept)| cil.backends[b] == *kept || (local(b) && cil.backends[b]));
        return explained.then_some(Difference::LocalBackendKeepsClientIp);
    }
    if !external && same_backends && kp.end == cil.end {
        return cil.backends.values().all(|kept| *kept).then_some(Difference::EastWestKeepsClientIp);
    }
    if external && firewalled && kp.backends.is_empty() && (kp.end, cil.end) == (End::Refused, End::Dropped) {
        return Some(Difference::SourceRangeCheckedBeforeBackends);
    }
    if cil.end == End::Refused && cil.backends.is_empty() && kp.backends.is_empty() {
        return Some(Difference::NoBackendIsRefused);
    }
    if !external && svc.external_ips.contains(&header.dst.ip) && cil.end == End::Untouched {
        return Some(Difference::ExternalIpFromInsideUntouched);
    }
    if !external && firewalled && cil.end == End::Backend && kp.end != End::Backend {
        return Some(Difference::SourceRangesOnlyNorthSouth);
    }
    None
}

#[test]
fn cilium_and_kube_proxy_agree_except_where_cilium_documents_otherwise() {
    let mut seen: BTreeSet<Difference> = BTreeSet::new();
    let (mut compared, mut wrong) = (0, Vec::new());
    for seed in 0..120 {
        let scenario = svcsim_lab::random::scenario(seed);
        let kp = in_mode(&scenario, ProxyMode::Iptables);
        let mut s = scenario.clone();
        s.cluster.config.cilium = Some(CiliumConfig::default());
        let mut cil = Sim::new(s);
        cil.run_until(Instant::ZERO);
        let Ok(mut plan) = Plan::of(&kp, "cilium") else { continue };
        plan.add_probe_pods();
        for case in cases::of(&kp, &mut plan).into_iter().filter(|c| c.health.is_none()) {
            let node = NodeId(case.ingress as u32);
            let (h, origin) = (case.header, case.origin);
            let external = matches!(case.source, Source::Client(_));
            let from_pod = matches!(case.source, Source::Pod(_));
            // A localhost NodePort from the host: kube-proxy serves it, and so does socket-LB.
            let a = answer(&kp.dataplane().every_decision(node, origin, h), h.src.ip);
            let b = cilium_answer(&cil, node, origin, h, from_pod);
            compared += 1;
            if a == b {
                continue;
            }
            match explain(&kp, &a, &b, h, node, external) {
                Some(d) => {
                    seen.insert(d);
                }
                None => wrong.push(format!("seed {seed} {}: kube-proxy {a:?}, Cilium {b:?}", case.name)),
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {compared} connections differ unexplained:\n{}", wrong.len(), wrong.join("\n"));
    assert!(compared > 1000, "only {compared} connections compared");
    let every = [
        Difference::LocalBackendKeepsClientIp,
        Difference::NoBackendIsRefused,
        Difference::EastWestKeepsClientIp,
        Difference::SourceRangesOnlyNorthSouth,
        Difference::SourceRangeCheckedBeforeBackends,
        Difference::ExternalIpFromInsideUntouched,
        Difference::InternalPolicyGovernsEastWest,
    ];
    assert_eq!(seen, BTreeSet::from(every), "every documented difference occurs");
}
