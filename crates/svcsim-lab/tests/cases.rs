//! The differential test's cases for the seed story, pinned: a change to what the lab tries (or
//! to what svcsim expects of it) shows up here first, without root.

use expect_test::expect;
use svcsim_core::manifest::{self, Overrides};
use svcsim_core::sim::Sim;
use svcsim_lab::cases;
use svcsim_lab::plan::Plan;

fn seed() -> Sim {
    let yaml = include_str!("../../../scenarios/aks-blog.yaml");
    Sim::new(manifest::load(yaml, &Overrides::default()).expect("the preset loads").scenario)
}

#[test]
fn the_seed_story_is_tried_every_way_on_every_node() {
    let sim = seed();
    let mut plan = Plan::of(&sim, "t").unwrap();
    plan.add_probe_pods();
    let listed: Vec<String> = cases::of(&sim, &mut plan)
        .iter()
        .map(|c| {
            let outcomes: Vec<String> = c
                .expected
                .iter()
                .map(|e| match (&e.prints, &e.reason) {
                    (Some(p), _) => format!("{} {p}", e.verdict),
                    (None, Some(r)) => format!("{} ({r})", e.verdict),
                    (None, None) => e.verdict.to_string(),
                })
                .collect();
            format!("{}: {}", c.name, outcomes.join(" | "))
        })
        .collect();
    expect![[r#"
        default/node-service: load balancer 203.0.113.10:80 from the internet → node-0: DNAT ::ffff:10.244.0.1
        default/node-service: load balancer 203.0.113.10:80 from the internet → node-1: DNAT ::ffff:10.240.0.5
        default/node-service: NodePort 10.240.0.4:32547 from the internet: DNAT ::ffff:10.244.0.1
        default/node-service: NodePort 10.240.0.5:32547 from the internet: DNAT ::ffff:10.240.0.5
        default/node-service: clusterIP 10.0.223.151:80 from pod node-deployment-p9sfq9jkfn-6wnqr: DNAT ::ffff:10.244.0.1
        default/node-service: load balancer IP 203.0.113.10:80 from pod node-deployment-p9sfq9jkfn-6wnqr: DNAT ::ffff:10.244.0.1
        default/node-service: clusterIP 10.0.223.151:80 from node-0's host: DNAT ::ffff:10.244.0.1
        default/node-service: node-0's host to its own NodePort 10.240.0.4:32547: DNAT ::ffff:10.244.0.1
        default/node-service: node-0's host to 127.0.0.1:32547: DNAT ::ffff:10.244.0.1
        default/node-service: clusterIP 10.0.223.151:80 from pod probe-node-1: DNAT ::ffff:10.244.1.254
        default/node-service: load balancer IP 203.0.113.10:80 from pod probe-node-1: DNAT ::ffff:10.240.0.5
        default/node-service: clusterIP 10.0.223.151:80 from node-1's host: DNAT ::ffff:10.240.0.5
        default/node-service: node-1's host to its own NodePort 10.240.0.5:32547: DNAT ::ffff:10.240.0.5
        default/node-service: node-1's host to 127.0.0.1:32547: DNAT ::ffff:10.240.0.5
        kube-proxy's /healthz 10.240.0.4:10256 on node-0: NONE
        kube-proxy's /healthz 10.240.0.5:10256 on node-1: NONE
    "#]]
    .assert_eq(&(listed.join("\n") + "\n"));
}

#[test]
fn the_lab_adds_a_client_pod_where_a_node_has_none() {
    let sim = seed();
    let mut plan = Plan::of(&sim, "t").unwrap();
    assert_eq!(plan.pods.len(), 1);
    plan.add_probe_pods();
    let probe = plan.pods.iter().find(|p| p.probe).expect("node-1 gets a client pod");
    assert_eq!((probe.name.as_str(), probe.ip.to_string().as_str()), ("probe-node-1", "10.244.1.254"));
    assert_eq!(plan.namespaces()[..2], ["t-vnet".to_string(), "t-client".to_string()]);
}

fn dual_stack() -> Sim {
    let yaml = include_str!("../../../scenarios/aks-dual-stack.yaml");
    Sim::new(manifest::load(yaml, &Overrides::default()).expect("the preset loads").scenario)
}

#[test]
fn a_dual_stack_lab_has_both_families_on_every_node_and_pod() {
    let sim = dual_stack();
    let mut plan = Plan::of(&sim, "t").unwrap();
    plan.add_probe_pods();
    let v6 = plan.ipv6.as_ref().expect("an IPv6 side");
    assert_eq!(
        (v6.vnet.to_string(), v6.gateway.to_string()),
        ("2001:1234:5678:9abc::/64".into(), "2001:1234:5678:9abc::1".into())
    );
    let nodes: Vec<String> = plan
        .nodes
        .iter()
        .map(|n| {
            let s = n.ipv6.as_ref().expect("each node has an IPv6 side");
            let routes: Vec<String> = s.routes.iter().map(|(c, via)| format!("{c} via {via}")).collect();
            format!("{} {} cbr0 {:?} {}", n.name, s.ip, s.bridge.map(|b| b.to_string()), routes.join(", "))
        })
        .collect();
    expect![[r#"
        node-0 2001:1234:5678:9abc::4 cbr0 Some("fd12:3456:789a::1") fd12:3456:789a:0:1::/80 via 2001:1234:5678:9abc::5
        node-1 2001:1234:5678:9abc::5 cbr0 Some("fd12:3456:789a:0:1::1") fd12:3456:789a::/80 via 2001:1234:5678:9abc::4"#]]
    .assert_eq(&nodes.join("\n"));
    let pods: Vec<String> =
        plan.pods.iter().map(|p| format!("{} {} {:?}", p.name, p.ip, p.ip6.map(|ip| ip.to_string()))).collect();
    expect![[r#"
        node-deployment-p9sfq9jkfn-6wnqr 10.244.0.2 Some("fd12:3456:789a::2")
        probe-node-1 10.244.1.254 Some("fd12:3456:789a:0:1:ffff:ffff:fffe")"#]]
    .assert_eq(&pods.join("\n"));
    let rules = &plan.nodes[0].ipv6.as_ref().unwrap().rules;
    assert!(rules.contains("-j DNAT --to-destination [fd12:3456:789a::2]:8080"), "the IPv6 rules are ip6tables-save's");
}

#[test]
fn the_dual_stack_story_is_tried_in_both_families() {
    let sim = dual_stack();
    let mut plan = Plan::of(&sim, "t").unwrap();
    plan.add_probe_pods();
    let listed: Vec<String> = cases::of(&sim, &mut plan)
        .iter()
        .filter(|c| c.header.family() == svcsim_core::net::IpFamily::Ipv6)
        .map(|c| {
            let outcomes: Vec<String> = c
                .expected
                .iter()
                .map(|e| match (&e.prints, &e.reason) {
                    (Some(p), _) => format!("{} {p}", e.verdict),
                    (None, Some(r)) => format!("{} ({r})", e.verdict),
                    (None, None) => e.verdict.to_string(),
                })
                .collect();
            format!("{} [{}]: {}", c.name, c.header.src.ip, outcomes.join(" | "))
        })
        .collect();
    expect![[r#"
        default/node-service: load balancer [2001:db8:113::10]:80 from the internet → node-0 [2001:2::1]: DNAT fd12:3456:789a::1
        default/node-service: load balancer [2001:db8:113::10]:80 from the internet → node-1 [2001:2::1]: DNAT 2001:1234:5678:9abc::5
        default/node-service: NodePort [2001:1234:5678:9abc::4]:32547 from the internet [2001:2::2]: DNAT fd12:3456:789a::1
        default/node-service: NodePort [2001:1234:5678:9abc::5]:32547 from the internet [2001:2::3]: DNAT 2001:1234:5678:9abc::5
        default/node-service: clusterIP [fd12:3456:789a:1::4:520e]:80 from pod node-deployment-p9sfq9jkfn-6wnqr [fd12:3456:789a::2]: DNAT fd12:3456:789a::1
        default/node-service: load balancer IP [2001:db8:113::10]:80 from pod node-deployment-p9sfq9jkfn-6wnqr [fd12:3456:789a::2]: DNAT fd12:3456:789a::1
        default/node-service: clusterIP [fd12:3456:789a:1::4:520e]:80 from node-0's host [2001:1234:5678:9abc::4]: DNAT fd12:3456:789a::1
        default/node-service: node-0's host to its own NodePort [2001:1234:5678:9abc::4]:32547 [2001:1234:5678:9abc::4]: DNAT fd12:3456:789a::1
        default/node-service: node-0's host to [::1]:32547 [::1]: NONE
        default/node-service: clusterIP [fd12:3456:789a:1::4:520e]:80 from pod probe-node-1 [fd12:3456:789a:0:1:ffff:ffff:fffe]: DNAT fd12:3456:789a:0:1:ffff:ffff:fffe
        default/node-service: load balancer IP [2001:db8:113::10]:80 from pod probe-node-1 [fd12:3456:789a:0:1:ffff:ffff:fffe]: DNAT 2001:1234:5678:9abc::5
        default/node-service: clusterIP [fd12:3456:789a:1::4:520e]:80 from node-1's host [2001:1234:5678:9abc::5]: DNAT 2001:1234:5678:9abc::5
        default/node-service: node-1's host to its own NodePort [2001:1234:5678:9abc::5]:32547 [2001:1234:5678:9abc::5]: DNAT 2001:1234:5678:9abc::5
        default/node-service: node-1's host to [::1]:32547 [::1]: NONE
        kube-proxy's /healthz [2001:1234:5678:9abc::4]:10256 on node-0 [2001:2::4]: NONE
        kube-proxy's /healthz [2001:1234:5678:9abc::5]:10256 on node-1 [2001:2::4]: NONE
        default/node-service: NodePort [2001:1234:5678:9abc::4]:32547 from link-local fe80::1234:5678:9abc (Azure's IPv6 probe source) [fe80::1234:5678:9abc]: DNAT fd12:3456:789a::1
        default/node-service: NodePort [2001:1234:5678:9abc::5]:32547 from link-local fe80::1234:5678:9abc (Azure's IPv6 probe source) [fe80::1234:5678:9abc]: DNAT 2001:1234:5678:9abc::5
    "#]]
    .assert_eq(&(listed.join("\n") + "\n"));
}

#[test]
fn a_dual_stack_lab_routes_each_family_by_its_own_addresses() {
    let sim = dual_stack();
    let plan = Plan::of(&sim, "t").unwrap();
    let family =
        |text: &str| text.split('/').next().and_then(|ip| ip.parse::<std::net::IpAddr>().ok()).map(|ip| ip.is_ipv6());
    let mut routes = 0;
    for cmd in plan.setup() {
        let args = cmd.args.join(" ");
        let Some((_, rest)) = args.split_once("route add ") else { continue };
        let words: Vec<&str> = rest.split_whitespace().collect();
        for via in words.windows(2).filter(|w| w[0] == "via").map(|w| w[1]) {
            routes += 1;
            // `default` is IPv6's when the command says `-6`.
            let dst = if words[0] == "default" { Some(args.contains("-6 ")) } else { family(words[0]) };
            assert_eq!(dst, family(via), "{args}");
        }
    }
    assert!(routes >= 6, "only {routes} routes with a next hop");
    let loads: Vec<String> = plan.setup().iter().filter(|c| c.stdin.is_some()).map(|c| c.args[3].clone()).collect();
    assert_eq!(loads, ["iptables-restore", "ip6tables-restore", "iptables-restore", "ip6tables-restore"]);
}
