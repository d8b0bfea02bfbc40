//! Dual-stack behaviours, each asserted through what a user sees: what the app prints over each
//! family, the IPv6 probes of each cloud, and what each family's proxy programs
//! (`docs/fidelity.md#dual-stack`).

use std::collections::BTreeMap;

use svcsim_core::cluster::{Provider, TrafficPolicy};
use svcsim_core::dataplane::RulesText;
use svcsim_core::manifest::{Overrides, load};
use svcsim_core::net::IpFamily;
use svcsim_core::record::{Action, Initiator, Outcome, Reason, Run};
use svcsim_core::sim::Sim;

/// The AKS story on a dual-stack kubenet cluster: one Node.js pod (on node-0) behind a
/// PreferDualStack LoadBalancer Service, a laptop with an address of each family.
const DUAL_STACK: &str = include_str!("../../../../scenarios/aks-dual-stack.yaml");

fn run(provider: Provider, policy: TrafficPolicy, family: IpFamily) -> Sim {
    let overrides = Overrides {
        provider: Some(provider),
        external_traffic_policy: Some(policy),
        family: Some(family),
        ..Overrides::default()
    };
    let loaded = load(DUAL_STACK, &overrides).unwrap_or_else(|d| panic!("{d:?}"));
    let mut sim = Sim::new(loaded.scenario);
    sim.run();
    sim
}

/// What the app printed, with how often, in text order.
fn printed(run: &Run) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in run.requests().filter(|f| f.outcome == Outcome::Answered) {
        *out.entry(f.app_output.clone().unwrap_or_default()).or_default() += 1;
    }
    out
}

fn texts(run: &Run) -> Vec<String> {
    printed(run).into_keys().collect()
}

#[test]
fn over_each_family_the_app_prints_what_node_js_prints_for_that_peer() {
    // GCP probes IPv6 from a routable range and checks kube-proxy's :10256 under Cluster, so
    // both families carry traffic and the story shows.
    let v4 = run(Provider::Gcp, TrafficPolicy::Cluster, IpFamily::Ipv4);
    assert_eq!(texts(v4.record()), ["::ffff:10.240.0.5", "::ffff:10.244.0.1"], "IPv4: ::ffff: and a node's address");
    let v6 = run(Provider::Gcp, TrafficPolicy::Cluster, IpFamily::Ipv6);
    // Masquerade picks the egress device's IPv6 address: cbr0's toward the local pod, eth0's
    // (node-1's) toward the other node's pod.
    assert_eq!(texts(v6.record()), ["2001:1234:5678:9abc::5", "fd12:3456:789a::1"], "IPv6: plain, compressed");
    for family in [IpFamily::Ipv4, IpFamily::Ipv6] {
        let local = run(Provider::Gcp, TrafficPolicy::Local, family);
        let client = if family == IpFamily::Ipv4 { "::ffff:198.51.100.79" } else { "2001:db8::79" };
        assert_eq!(texts(local.record()), [client], "{family} under Local: the client's own address");
    }
}

#[test]
fn azure_probes_ipv6_from_a_link_local_address_that_no_node_forwards_to_its_own_pod() {
    let sim = run(Provider::Azure, TrafficPolicy::Cluster, IpFamily::Ipv6);
    let run_ = sim.record();
    // The IPv4 frontend's probes pass on both nodes. Over IPv6 the pod's node (node-0) fails:
    // its probe is DNATed to its own pod behind cbr0. node-1 sends its probe back out of eth0
    // to node-0's pod, which the kernel allows, and passes: the reverse of Local.
    assert_eq!(run_.probe_status_of(1..2, IpFamily::Ipv4).unwrap().percent, 100.0);
    let v6 = run_.probe_status_of(1..2, IpFamily::Ipv6).unwrap();
    assert_eq!(v6.per_node.values().copied().collect::<Vec<_>>(), [0.0, 100.0], "node-0 fails, node-1 passes");
    let refused = |node: u32| {
        let probe = run_
            .flows
            .iter()
            .find(|f| matches!(f.initiator, Initiator::Probe { node: n, family: IpFamily::Ipv6, .. } if n.0 == node))
            .expect("an IPv6 probe of the node");
        assert_eq!(probe.header.src.ip.to_string(), "fe80::1234:5678:9abc");
        run_.packet(probe.request).hops.iter().find_map(|h| match &h.action {
            Action::Rejected(r) => Some((**r).clone()),
            _ => None,
        })
    };
    assert!(matches!(refused(0), Some(Reason::BeyondScope(_))), "{:?}", refused(0));
    assert_eq!(refused(1), None, "forwarded out of eth0 again");
    // So every IPv6 request goes through node-1, and the pod sees node-1's IPv6 address.
    assert_eq!(texts(run_), ["2001:1234:5678:9abc::5"]);
    // On one node every probe is refused: the LB drops everything, as AKS documents.
    let one = Overrides {
        provider: Some(Provider::Azure),
        nodes: Some(1),
        family: Some(IpFamily::Ipv6),
        ..Overrides::default()
    };
    let mut single = Sim::new(load(DUAL_STACK, &one).unwrap().scenario);
    single.run();
    assert_eq!(single.record().probe_status_of(1..2, IpFamily::Ipv6).unwrap().percent, 0.0);
    assert!(single.record().requests().all(|f| f.outcome.label() == "dropped"));
    // Under Local the probe goes to healthCheckNodePort, which kube-proxy serves on the node.
    let local = run(Provider::Azure, TrafficPolicy::Local, IpFamily::Ipv6);
    assert_eq!(local.record().probe_status_of(1..2, IpFamily::Ipv6).unwrap().percent, 50.0);
    assert_eq!(texts(local.record()), ["2001:db8::79"]);
}

#[test]
fn an_aws_nlb_speaks_ipv4_to_its_targets_so_an_ipv6_client_s_address_is_lost() {
    let sim = run(Provider::Aws, TrafficPolicy::Local, IpFamily::Ipv6);
    let run_ = sim.record();
    let answered: Vec<_> = run_.requests().filter(|f| f.outcome == Outcome::Answered).collect();
    assert!(!answered.is_empty());
    for f in answered {
        assert_eq!(f.header.family(), IpFamily::Ipv6, "the client connected over IPv6");
        let seen = f.source_seen.expect("the pod saw a source");
        assert_eq!(seen.to_string(), "10.240.0.250", "the NLB's private IPv4 address, even under Local");
    }
}

#[test]
fn each_family_s_proxy_programs_only_the_services_of_its_family() {
    let yaml = DUAL_STACK.replace("  ipFamilyPolicy: PreferDualStack\n", "");
    let loaded = load(&yaml, &Overrides::default()).unwrap_or_else(|d| panic!("{d:?}"));
    let sim = Sim::new(loaded.scenario);
    let svc = &sim.cluster().services[0];
    assert_eq!(svc.families(&sim.cluster().config), [IpFamily::Ipv4], "SingleStack: the cluster's first family");
    let node = svcsim_core::cluster::NodeId(0);
    let v4 = sim.dataplane().render_family(node, RulesText::Save, IpFamily::Ipv4).unwrap();
    let v6 = sim.dataplane().render_family(node, RulesText::Save, IpFamily::Ipv6).unwrap();
    assert!(v4.contains("default/node-service"), "{v4}");
    // No rules at all for it on the IPv6 side: not even its NodePort.
    assert!(!v6.contains("default/node-service"), "{v6}");
    assert!(v6.contains("! -d ::1/128"), "{v6}");
}

#[test]
fn a_target_of_a_family_the_service_lacks_is_an_error_at_the_client() {
    let yaml = DUAL_STACK
        .replace("  ipFamilyPolicy: PreferDualStack\n", "")
        .replace("target: service/node-service,", "target: service/node-service:ipv6,");
    let errors = load(&yaml, &Overrides::default()).unwrap_err();
    let messages: Vec<String> = errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect();
    assert_eq!(messages, ["spec.clients[0].target: service node-service has no IPv6 address (its ipFamilies: IPv4)"]);
}

#[test]
fn a_kube_proxy_cluster_cidr_of_one_family_leaves_the_other_without_a_local_detector() {
    let config =
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\n---\n";
    let loaded = load(&format!("{config}{DUAL_STACK}"), &Overrides::default()).unwrap_or_else(|d| panic!("{d:?}"));
    let warned = loaded
        .warnings
        .iter()
        .any(|d| d.message.contains("has no IPv6 prefix: its IPv6 side has no local-traffic detector"));
    assert!(warned, "{:?}", loaded.warnings);
    let sim = Sim::new(loaded.scenario);
    let node = svcsim_core::cluster::NodeId(0);
    let v4 = sim.dataplane().render_family(node, RulesText::Save, IpFamily::Ipv4).unwrap();
    let v6 = sim.dataplane().render_family(node, RulesText::Save, IpFamily::Ipv6).unwrap();
    assert!(v4.contains("! -s 10.244.0.0/16"), "{v4}");
    assert!(!v6.contains("! -s fd12"), "no IPv6 detector: {v6}");
    // Both families given: both detect.
    let both = config.replace("10.244.0.0/16", "10.244.0.0/16,fd12:3456:789a::/64");
    let sim = Sim::new(load(&format!("{both}{DUAL_STACK}"), &Overrides::default()).unwrap().scenario);
    let v6 = sim.dataplane().render_family(node, RulesText::Save, IpFamily::Ipv6).unwrap();
    assert!(v6.contains("! -s fd12:3456:789a::/64"), "{v6}");
}

#[test]
fn an_ipv6_only_cluster_runs_the_story_over_ipv6() {
    let loaded = load(include_str!("v6only.yaml"), &Overrides::default()).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(!loaded.scenario.cluster.config.is_dual_stack());
    let mut sim = Sim::new(loaded.scenario);
    sim.run();
    let node = &sim.cluster().nodes[svcsim_core::cluster::NodeId(1)];
    assert_eq!(
        (node.ip.to_string(), node.pod_cidr.to_string()),
        ("2001:1234:5678:9abc::5".into(), "fd12:3456:789a:0:1::/80".into())
    );
    // Local over IPv6 on an IPv6-only cluster: the client's own address, 50 % as over IPv4.
    assert_eq!(texts(sim.record()), ["2001:db8::79"]);
    assert_eq!(sim.record().probe_status(0..1).unwrap().percent, 50.0);
}

/// A SingleStack Service patched to PreferDualStack at 30 s and back at 90 s, as the Kubernetes
/// docs' "switching Services between single-stack and dual-stack" does it.
#[test]
fn a_patch_upgrades_a_service_to_dual_stack_and_back() {
    let yaml = DUAL_STACK.replace("  ipFamilyPolicy: PreferDualStack\n", "").replace(
        "  clients:",
        "  events:\n    - {at: 30s, patch: {service/node-service: {spec: {ipFamilyPolicy: PreferDualStack}}}}\n    - {at: 90s, patch: {service/node-service: {spec: {ipFamilyPolicy: SingleStack}}}}\n  clients:",
    );
    let loaded = load(&yaml, &Overrides::default()).unwrap_or_else(|d| panic!("{d:?}"));
    let mut sim = Sim::new(loaded.scenario);
    let node = svcsim_core::cluster::NodeId(0);
    let ipv6_rules = |sim: &Sim| sim.dataplane().render_family(node, RulesText::Save, IpFamily::Ipv6).unwrap();
    let addresses = |sim: &Sim| {
        let s = &sim.cluster().services[0];
        (
            s.families(&sim.cluster().config),
            s.secondary_cluster_ip.map(|ip| ip.to_string()),
            s.load_balancer_ingress.clone(),
        )
    };

    sim.run_until(svcsim_core::time::Instant::from_secs(20));
    assert!(!ipv6_rules(&sim).contains("default/node-service"));
    assert_eq!(addresses(&sim).0, [IpFamily::Ipv4]);

    // The upgrade: an IPv6 clusterIP from the second service CIDR, an IPv6 frontend, and
    // ip6tables rules for the Service once each node has synced.
    sim.run_until(svcsim_core::time::Instant::from_secs(40));
    let (families, secondary, ingress) = addresses(&sim);
    assert_eq!(families, [IpFamily::Ipv4, IpFamily::Ipv6]);
    let secondary = secondary.expect("an IPv6 clusterIP");
    assert!(secondary.starts_with("fd12:3456:789a:1::"), "{secondary}");
    assert_eq!(ingress.iter().map(ToString::to_string).collect::<Vec<_>>(), ["203.0.113.10", "2001:db8:113::10"]);
    let rules = ipv6_rules(&sim);
    assert!(rules.contains(&format!("-d {secondary}/128")), "{rules}");

    // The downgrade releases both; the IPv6 frontend's probes stop.
    sim.run_until(svcsim_core::time::Instant::from_secs(100));
    assert_eq!(addresses(&sim), (vec![IpFamily::Ipv4], None, vec!["203.0.113.10".parse().unwrap()]));
    assert!(!ipv6_rules(&sim).contains("default/node-service"));
    sim.run();
    let run_ = sim.record();
    let v6_probes: Vec<f64> = run_
        .flows
        .iter()
        .filter(|f| matches!(f.initiator, Initiator::Probe { family: IpFamily::Ipv6, .. }))
        .map(|f| f.start.as_secs_f64())
        .collect();
    assert!(!v6_probes.is_empty(), "the IPv6 frontend was probed");
    assert!(v6_probes.iter().all(|t| (30.0..90.0).contains(t)), "IPv6 probes only while dual-stack: {v6_probes:?}");
    let trace = run_.trace_text();
    assert!(
        trace.contains(r#"kubectl patch service default/node-service -p '{"spec":{"ipFamilyPolicy":"PreferDualStack"}}' (now PreferDualStack IPv4,IPv6)"#),
        "the trace names the patch and its result"
    );
    assert!(trace.contains(r#"-p '{"spec":{"ipFamilyPolicy":"SingleStack"}}' (now SingleStack IPv4)"#));
}

#[test]
fn the_api_server_refuses_a_patch_of_the_primary_family_or_a_silent_release() {
    let patch = |spec: &str| {
        let yaml = DUAL_STACK.replace(
            "  clients:",
            &format!("  events:\n    - {{at: 30s, patch: {{service/node-service: {{spec: {spec}}}}}}}\n  clients:"),
        );
        let errors = load(&yaml, &Overrides::default()).unwrap_err();
        errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect::<Vec<_>>()
    };
    assert_eq!(
        patch("{ipFamilies: [IPv6, IPv4]}"),
        [
            r#"spec.events[0]: the API server refuses the patch: spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6", "IPv4"}: may not change once set"#
        ]
    );
    assert_eq!(
        patch("{ipFamilies: [IPv4]}"),
        [
            r#"spec.events[0]: the API server refuses the patch: spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be 'SingleStack' to release the secondary IP family"#
        ]
    );
    assert_eq!(
        patch("{ipFamilyPolicy: Dual}"),
        [
            r#"spec.events[0].patch.service/node-service.spec.ipFamilyPolicy: "Dual" is not one of SingleStack, PreferDualStack, RequireDualStack"#
        ]
    );
    assert_eq!(
        patch("{clusterIPs: [fd12:3456:789a:1::10]}"),
        [
            "spec.events[0].patch.service/node-service.spec.clusterIPs: svcsim can patch externalTrafficPolicy, internalTrafficPolicy, sessionAffinity, ipFamilyPolicy and ipFamilies"
        ]
    );
}
