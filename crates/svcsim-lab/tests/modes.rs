//! One answer for both of kube-proxy's modes: over random clusters, every first packet the
//! kernel lab would try gets the same verdict, the same endpoints and the same SNAT from the
//! iptables and the nftables dataplane — except where kube-proxy itself differs, each exception
//! named here and required to occur (`docs/fidelity.md#one-answer-for-both-modes`).

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use svcsim_core::cluster::{NodeId, ProxyMode};
use svcsim_core::dataplane::{Decision, FirstPacketVerdict, Origin};
use svcsim_core::net::{Header, SockAddr};
use svcsim_lab::cases;
use svcsim_lab::plan::Plan;

use common::in_mode;

/// What must agree: the verdict, the endpoints reachable, and whether the source is rewritten.
fn answer(decisions: &[Decision]) -> (FirstPacketVerdict, BTreeSet<SockAddr>, bool) {
    let verdict = decisions
        .iter()
        .map(Decision::summary)
        .find(|v| *v != FirstPacketVerdict::None)
        .unwrap_or(FirstPacketVerdict::None);
    let endpoints = decisions.iter().filter_map(|d| d.dnat).collect();
    (verdict, endpoints, decisions.iter().any(|d| d.snat.is_some()))
}

/// Where kube-proxy's two modes answer differently by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Exception {
    /// nftables mode never serves NodePorts on 127.0.0.1; iptables mode does by default.
    LocalhostNodePort,
    /// nftables mode drops traffic to an unallocated address of the service CIDR; iptables mode
    /// has no rule for it.
    UnallocatedClusterIp,
    /// A source outside loadBalancerSourceRanges, to an LB IP of a Service with no endpoints:
    /// nftables mode's firewall needs no endpoints and drops it before the no-endpoints reject;
    /// iptables mode writes its firewall only with endpoints, so the packet is rejected.
    FirewallWithoutEndpoints,
}

#[test]
fn iptables_and_nftables_modes_give_one_answer_but_where_kube_proxy_differs() {
    let mut seen: BTreeSet<Exception> = BTreeSet::new();
    let mut compared = 0;
    let mut wrong = Vec::new();
    for seed in 0..120 {
        let scenario = svcsim_lab::random::scenario(seed);
        let ipt = in_mode(&scenario, ProxyMode::Iptables);
        let nft = in_mode(&scenario, ProxyMode::Nftables);
        let Ok(mut plan) = Plan::of(&ipt, "modes") else { continue };
        plan.add_probe_pods();
        let mut probes: Vec<(String, usize, Origin, Header)> = cases::of(&ipt, &mut plan)
            .into_iter()
            .filter(|c| c.health.is_none())
            .map(|c| (c.name, c.ingress, c.origin, c.header))
            .collect();
        // A pod on the first node to an address of the service CIDR no Service holds.
        let cluster = ipt.cluster();
        let used: BTreeSet<IpAddr> = cluster.services.iter().filter_map(|s| s.cluster_ip).collect();
        let free = (1..).filter_map(|n| cluster.config.service_cidr.nth(n)).find(|ip| !used.contains(ip));
        if let (Some(free), Some(pod)) = (free, cluster.pods.iter().find(|p| p.ip.is_some() && p.node == NodeId(0))) {
            let src = SockAddr::new(pod.ip.expect("has an IP"), 40000);
            probes.push((
                "a pod to an unallocated clusterIP".into(),
                0,
                Origin::Routed,
                Header::tcp(src, SockAddr::new(free, 80)),
            ));
        }
        for (name, ingress, origin, header) in probes {
            let node = NodeId(ingress as u32);
            let a = answer(&ipt.dataplane().every_decision(node, origin, header));
            let b = answer(&nft.dataplane().every_decision(node, origin, header));
            compared += 1;
            let firewalled = cluster.services.iter().any(|s| {
                s.load_balancer_ingress.contains(&header.dst.ip)
                    && !s.load_balancer_source_ranges.is_empty()
                    && !s.load_balancer_source_ranges.iter().any(|r| r.contains(header.src.ip))
            });
            let exception = if header.dst.ip == IpAddr::V4(Ipv4Addr::LOCALHOST) {
                Some(Exception::LocalhostNodePort)
            } else if Some(header.dst.ip) == free {
                Some(Exception::UnallocatedClusterIp)
            } else if firewalled && a.0 == FirstPacketVerdict::Reject {
                Some(Exception::FirewallWithoutEndpoints)
            } else {
                None
            };
            match exception {
                Some(Exception::LocalhostNodePort) if a.0 != FirstPacketVerdict::None => {
                    assert_eq!(b.0, FirstPacketVerdict::None, "seed {seed} {name}: nftables has no localhost NodePort");
                    seen.insert(Exception::LocalhostNodePort);
                }
                Some(Exception::FirewallWithoutEndpoints) => {
                    assert_eq!(b.0, FirstPacketVerdict::Drop, "seed {seed} {name}: nftables' firewall drops first");
                    seen.insert(Exception::FirewallWithoutEndpoints);
                }
                Some(Exception::UnallocatedClusterIp) => {
                    assert_eq!((a.0, b.0), (FirstPacketVerdict::None, FirstPacketVerdict::Drop), "seed {seed} {name}");
                    seen.insert(Exception::UnallocatedClusterIp);
                }
                _ if a != b => wrong.push(format!("seed {seed} {name}: iptables {a:?}, nftables {b:?}")),
                _ => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {compared} first packets differ:\n{}", wrong.len(), wrong.join("\n"));
    let every = [Exception::LocalhostNodePort, Exception::UnallocatedClusterIp, Exception::FirewallWithoutEndpoints];
    assert_eq!(seen, BTreeSet::from(every), "every exception occurs");
    assert!(compared > 1000, "only {compared} first packets compared");
}
