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
