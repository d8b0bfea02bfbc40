//! Properties over random clusters, single- or dual-stack and sending over either family: runs
//! are deterministic, every request ends somewhere with a reason, replies undo the NAT exactly,
//! no packet changes family inside the cluster, Local never SNATs external clients (over either
//! family), and in steady state the probe metric is the share of nodes the provider's probe
//! finds healthy (always 0–100 %).

use proptest::prelude::*;
use svcsim_core::cluster::*;
use svcsim_core::net::IpFamily;
use svcsim_core::record::{Action, Initiator, Outcome};
use svcsim_core::scenario::{ClientKind, Scenario, Schedule, Target};
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

use crate::fixtures::*;

#[derive(Debug, Clone)]
struct Case {
    nodes: u32,
    replicas: u32,
    local: bool,
    kubenet: bool,
    provider: Provider,
    seed: u64,
    seconds: u64,
    rate_ms: u64,
    pod_client: bool,
    /// A dual-stack cluster and Service, the clients sending over this family.
    dual_stack: Option<IpFamily>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..=4,
        0u32..=5,
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        any::<u64>(),
        65u64..=130,
        300u64..=1500,
        any::<bool>(),
        0usize..3,
    )
        .prop_map(|(nodes, replicas, local, kubenet, p, seed, seconds, rate_ms, pod_client, d)| Case {
            nodes,
            replicas,
            local,
            kubenet,
            provider: [Provider::Azure, Provider::Aws, Provider::Gcp][p],
            seed,
            seconds,
            rate_ms,
            pod_client,
            dual_stack: [None, Some(IpFamily::Ipv4), Some(IpFamily::Ipv6)][d],
        })
}

fn build(c: &Case) -> Scenario {
    let config = ClusterConfig {
        provider: c.provider,
        network_plugin: if c.kubenet { NetworkPlugin::Kubenet } else { NetworkPlugin::AzureCni },
        secondary: c.dual_stack.map(|_| SecondaryCidrs {
            cluster_cidr: "fd12:3456:789a::/64".parse().unwrap(),
            service_cidr: "fd12:3456:789a:1::/108".parse().unwrap(),
        }),
        ..ClusterConfig::default()
    };
    let mut cluster = Cluster::with_nodes(config, c.nodes);
    cluster.deployments.push(deployment("web", c.replicas, App::Echo, 8080));
    let policy = if c.local { TrafficPolicy::Local } else { TrafficPolicy::Cluster };
    let mut svc = service("web", "web", ServiceType::LoadBalancer, policy);
    let family = c.dual_stack.unwrap_or(IpFamily::Ipv4);
    if c.dual_stack.is_some() {
        svc.ip_family_policy = IpFamilyPolicy::PreferDualStack;
        svc.ip_families = vec![IpFamily::Ipv4, IpFamily::Ipv6];
    }
    cluster.services.push(svc);
    let every = Schedule::Every(Duration::from_millis(c.rate_ms));
    let (a, b): (std::net::IpAddr, std::net::IpAddr) = match family {
        IpFamily::Ipv4 => (CLIENT_IP, std::net::Ipv4Addr::new(203, 0, 113, 200).into()),
        IpFamily::Ipv6 => ("2001:db8::79".parse().unwrap(), "2001:db8:5::200".parse().unwrap()),
    };
    let mut clients = vec![
        external("a", a, Target::LoadBalancer { svc: ServiceId(0), port: 0, family }, every.clone()),
        external(
            "b",
            b,
            Target::NodePort { node: NodeId(c.nodes - 1), svc: ServiceId(0), port: 0, family },
            every.clone(),
        ),
    ];
    if c.pod_client {
        standalone_pod(&mut cluster, "client", 0, App::Echo);
        clients.push(client(
            "pod",
            ClientKind::Pod("client".into()),
            Target::ClusterIp { svc: ServiceId(0), port: 0, family },
            every,
        ));
    }
    Scenario {
        name: "prop".into(),
        seed: c.seed,
        duration: Duration::from_secs(c.seconds),
        cluster,
        clients: clients.into(),
        changes: vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn runs_keep_their_invariants(c in case()) {
        let scenario = build(&c);
        let end = Instant::ZERO + scenario.duration;
        let mut sim = Sim::new(scenario);
        let run = sim.run().clone();
        // Deterministic: the same scenario and seed give the same trace, byte for byte.
        prop_assert!(Sim::new(build(&c)).run().trace_text() == run.trace_text(), "two runs of {:?} differ", c);

        for f in &run.flows {
            let request = run.packet(f.request);
            // A connection never changes family: every hop of the request and of its reply
            // carries the family the initiator used, except an AWS NLB's IPv6 frontend, which
            // speaks IPv4 to its instance targets (docs/fidelity.md#dual-stack-load-balancers).
            let nlb_converts = c.provider == Provider::Aws && f.header.family() == IpFamily::Ipv6;
            let packets = std::iter::once(request).chain(f.reply.map(|r| run.packet(r)));
            for hop in packets.flat_map(|p| &p.hops) {
                let inside = hop.before.family() == f.header.family() && hop.after().family() == f.header.family();
                prop_assert!(inside || nlb_converts, "{} changed family at {:?}", f.header, hop.at);
            }
            // Time never goes backwards along a packet's hops.
            prop_assert!(request.hops.windows(2).all(|w| w[0].time <= w[1].time));
            match &f.outcome {
                Outcome::Answered => {
                    let reply = run.packet(f.reply.expect("an answered flow has a reply"));
                    let last = reply.hops.last().unwrap();
                    prop_assert_eq!(&last.action, &Action::Delivered);
                    // The NAT round trip is exact: the client hears from where it connected to.
                    prop_assert_eq!(last.after(), f.header.reversed());
                }
                Outcome::Dropped(reason) | Outcome::Rejected(reason) => {
                    let reason = reason.to_string();
                    prop_assert!(!reason.is_empty());
                    prop_assert!(!reason.contains("connection reset"), "reply did not undo the NAT: {}", reason);
                }
                // Only flows that started within the last second may still be travelling.
                Outcome::InFlight => prop_assert!(f.start + Duration::from_secs(1) >= end || matches!(f.initiator, Initiator::Probe { .. }), "{:?}", f),
            }
            // externalTrafficPolicy: Local never SNATs external clients (docs/fidelity.md#external-traffic-policy).
            let in_cluster = ["10.0.0.0/8", "fd12:3456:789a::/48"]
                .iter()
                .any(|c| c.parse::<svcsim_core::net::IpCidr>().unwrap().contains(f.header.src.ip));
            let external_client = matches!(f.initiator, Initiator::Client(_)) && !in_cluster;
            if c.local && external_client && f.outcome == Outcome::Answered && !nlb_converts {
                prop_assert_eq!(f.source_seen, Some(f.header.src.ip));
            }
        }

        // Steady state (nothing changes during these runs): every node's probe result is constant,
        // so each complete minute shows the share of healthy nodes (docs/fidelity.md#health-probe-status).
        let pods_on = |n: u32| sim.cluster().pods.iter().filter(|p| p.node == NodeId(n) && !p.deleted && p.owner.is_some()).count();
        // Azure probes a dual-stack Service's IPv6 frontend from a link-local address, which a
        // node forwards to another node's pod but not to its own: under Cluster a node with no
        // pod passes, one holding every pod fails (docs/fidelity.md#dual-stack-probes).
        let azure_v6_cluster = c.dual_stack.is_some() && c.provider == Provider::Azure && !c.local;
        let healthy = |n: u32| match (c.local, c.provider) {
            (true, _) => pods_on(n) > 0,
            (false, Provider::Gcp) => true,
            (false, _) => c.replicas > 0,
        };
        let complete_minutes = c.seconds / 60;
        for minute in 0..complete_minutes {
            let status = run.probe_status_of(minute..minute + 1, IpFamily::Ipv4).unwrap();
            if azure_v6_cluster && c.replicas > 0 {
                let v6 = run.probe_status_of(minute..minute + 1, IpFamily::Ipv6).unwrap();
                for n in 0..c.nodes {
                    let got = v6.per_node.get(&NodeId(n)).copied();
                    if pods_on(n) == 0 {
                        prop_assert_eq!(got, Some(100.0), "node {} minute {}: no pod, forwarded", n, minute);
                    } else if pods_on(n) as u32 == c.replicas {
                        prop_assert_eq!(got, Some(0.0), "node {} minute {}: every pod its own", n, minute);
                    }
                }
            }
            let per_node = &status.per_node;
            for n in 0..c.nodes {
                let expected = if healthy(n) { 100.0 } else { 0.0 };
                prop_assert_eq!(per_node.get(&NodeId(n)).copied(), Some(expected), "node {} minute {}", n, minute);
            }
            let percent = status.percent;
            prop_assert!((0.0..=100.0).contains(&percent));
            if c.provider != Provider::Gcp {
                // 5 s and 10 s intervals divide a minute: every node has as many probes.
                let share = 100.0 * (0..c.nodes).filter(|n| healthy(*n)).count() as f64 / f64::from(c.nodes);
                prop_assert!((percent - share).abs() < 1e-9, "minute {}: {} != {}", minute, percent, share);
            }
        }
    }
}
