//! Golden traces: the full text trace of short runs, reviewed by eye and pinned. Update with
//! `UPDATE_EXPECT=1 cargo test -p svcsim-core --test it golden`.

use expect_test::{ExpectFile, expect_file};
use svcsim_core::cluster::*;
use svcsim_core::scenario::{Client, ClientKind, Scenario, Target};
use svcsim_core::sim::Sim;

use crate::fixtures::*;

#[track_caller]
fn check(scenario: Scenario, expect: ExpectFile) {
    let mut sim = Sim::new(scenario);
    expect.assert_eq(&sim.run().trace_text());
}

#[test]
fn seed_cluster_then_local() {
    // 70 s: the patch at 55 s, node-1's two failed probes, and the first requests after.
    check(seed(70, Some(55)), expect_file!["golden/seed-cluster-then-local.trace"]);
}

/// The tutorial's `curl node-n:nodePort` from outside, to each of the three nodes in turn (at 1, 2
/// and 3 s).
fn curl_each_node() -> Vec<Client> {
    (0..3)
        .map(|n| {
            external(
                &format!("curl-node-{n}"),
                CLIENT_IP,
                Target::NodePort {
                    node: NodeId(n),
                    svc: ServiceId(0),
                    port: 0,
                    family: svcsim_core::net::IpFamily::Ipv4,
                },
                at(&[u64::from(n) + 1]),
            )
        })
        .collect()
}

#[test]
fn tutorial_node_port_cluster() {
    let cluster = tutorial(ServiceType::NodePort, TrafficPolicy::Cluster);
    let clients = curl_each_node();
    check(scenario(cluster, clients, 4), expect_file!["golden/tutorial-nodeport-cluster.trace"]);
}

#[test]
fn tutorial_node_port_local() {
    let cluster = tutorial(ServiceType::NodePort, TrafficPolicy::Local);
    let clients = curl_each_node();
    check(scenario(cluster, clients, 4), expect_file!["golden/tutorial-nodeport-local.trace"]);
}

#[test]
fn tutorial_cluster_ip_from_a_pod() {
    let mut cluster = tutorial(ServiceType::ClusterIP, TrafficPolicy::Cluster);
    standalone_pod(&mut cluster, "busybox", 2, App::Echo);
    let to = Target::ClusterIp { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 };
    let clients = vec![client("busybox", ClientKind::Pod("busybox".into()), to, at(&[1]))];
    check(scenario(cluster, clients, 2), expect_file!["golden/tutorial-clusterip.trace"]);
}

#[test]
fn tutorial_load_balancer_cluster() {
    let cluster = tutorial(ServiceType::LoadBalancer, TrafficPolicy::Cluster);
    let clients = vec![external(
        "curl",
        CLIENT_IP,
        Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
        at(&[1, 2, 3, 4]),
    )];
    check(scenario(cluster, clients, 5), expect_file!["golden/tutorial-lb-cluster.trace"]);
}

#[test]
fn tutorial_load_balancer_local() {
    let cluster = tutorial(ServiceType::LoadBalancer, TrafficPolicy::Local);
    let clients = vec![external(
        "curl",
        CLIENT_IP,
        Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
        at(&[1, 2, 3, 4]),
    )];
    check(scenario(cluster, clients, 12), expect_file!["golden/tutorial-lb-local.trace"]);
}
