//! Every case of the Kubernetes tutorial "Using Source IP", with its echoserver printing
//! `client_address=…`.

use std::net::Ipv4Addr;

use svcsim_core::net::SockAddr;

use svcsim_core::cluster::*;
use svcsim_core::record::Run;
use svcsim_core::record::{FlowRecord, Initiator, Outcome};
use svcsim_core::scenario::{Client, ClientKind, Target};
use svcsim_core::sim::Sim;

use crate::fixtures::*;

fn client_flows(run: &Run) -> Vec<&FlowRecord> {
    run.flows.iter().filter(|f| matches!(f.initiator, Initiator::Client(_))).collect()
}

/// `(client, what the echoserver printed, or the outcome)` per request, in send order.
fn results(sim: &Sim) -> Vec<(String, String)> {
    let run = sim.record();
    client_flows(run)
        .iter()
        .map(|f| {
            let Initiator::Client(c) = f.initiator else { unreachable!() };
            let who = sim.scenario().clients[c].name.clone();
            let what = match &f.outcome {
                Outcome::Answered => f.app_output.clone().unwrap(),
                other => format!("{}: {}", other.label(), other.reason().map(|r| r.to_string()).unwrap_or_default()),
            };
            (who, what)
        })
        .collect()
}

fn run(scenario: svcsim_core::scenario::Scenario) -> Sim {
    let mut sim = Sim::new(scenario);
    sim.run();
    sim
}

fn pair(who: &str, what: &str) -> (String, String) {
    (who.to_string(), what.to_string())
}

#[test]
fn a_cluster_ip_from_a_pod_shows_the_client_pods_ip() {
    let mut cluster = tutorial(ServiceType::ClusterIP, TrafficPolicy::Cluster);
    standalone_pod(&mut cluster, "busybox", 2, App::Echo);
    standalone_pod(&mut cluster, "neighbour", 0, App::Echo);
    let to = Target::ClusterIp { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 };
    let clients = vec![
        client("busybox", ClientKind::Pod("busybox".into()), to, at(&[1])),
        client("neighbour", ClientKind::Pod("neighbour".into()), to, at(&[2])),
    ];
    let sim = run(scenario(cluster, clients, 5));
    // "The client_address is always the client pod's IP address, whether the client pod and
    // server pod are in the same node or in different nodes."
    let busybox = sim.cluster().pod(sim.cluster().pod_by_name("busybox").unwrap()).ip.unwrap();
    let neighbour = sim.cluster().pod(sim.cluster().pod_by_name("neighbour").unwrap()).ip.unwrap();
    assert_eq!(
        results(&sim),
        [
            pair("busybox", &format!("client_address={busybox}")),
            pair("neighbour", &format!("client_address={neighbour}"))
        ]
    );
}

fn to_each_node(cluster: &Cluster) -> Vec<Client> {
    (0..3)
        .map(|n| {
            let target = Target::NodePort {
                node: NodeId(n),
                svc: ServiceId(0),
                port: 0,
                family: svcsim_core::net::IpFamily::Ipv4,
            };
            external(&format!("curl-node-{n}"), CLIENT_IP, target, at(&[u64::from(n) + 1]))
        })
        .filter(|_| cluster.services[0].ports[0].node_port.is_some())
        .collect()
}

#[test]
fn b_node_port_cluster_every_node_answers_with_a_cluster_internal_address() {
    let cluster = tutorial(ServiceType::NodePort, TrafficPolicy::Cluster);
    let clients = to_each_node(&cluster);
    let sim = run(scenario(cluster, clients, 5));
    // The pod's own node masquerades to its cbr0 address; the others to their node IPs.
    assert_eq!(
        results(&sim),
        [
            pair("curl-node-0", "client_address=10.244.0.1"),
            pair("curl-node-1", "client_address=10.240.0.5"),
            pair("curl-node-2", "client_address=10.240.0.6"),
        ]
    );
}

#[test]
fn c_node_port_local_only_the_pods_node_answers_with_the_client_ip() {
    let cluster = tutorial(ServiceType::NodePort, TrafficPolicy::Local);
    let clients = to_each_node(&cluster);
    let sim = run(scenario(cluster, clients, 5));
    // KUBE-EXT has no KUBE-SVL rule on these nodes, so the packet leaves nat un-DNATed and the
    // filter table drops it (docs/fidelity.md#no-endpoints).
    let drop = "dropped: \"default/source-ip has no local endpoints\" via KUBE-SERVICES > KUBE-NODEPORTS > KUBE-EXT-";
    let got = results(&sim);
    assert_eq!(got[0], pair("curl-node-0", "client_address=198.51.100.79"));
    for (who, what) in &got[1..] {
        assert!(what.starts_with(drop) && what.ends_with(" > KUBE-EXTERNAL-SERVICES"), "{who}: {what}");
    }
    assert_eq!(got.len(), 3);
}

#[test]
fn d_load_balancer_cluster_shows_a_node_address() {
    let cluster = tutorial(ServiceType::LoadBalancer, TrafficPolicy::Cluster);
    let clients = vec![external(
        "curl",
        CLIENT_IP,
        Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
        every_second(),
    )];
    let sim = run(scenario(cluster, clients, 30));
    let seen: std::collections::BTreeSet<String> = results(&sim).into_iter().map(|(_, w)| w).collect();
    let node_side = ["client_address=10.244.0.1", "client_address=10.240.0.5", "client_address=10.240.0.6"];
    assert!(seen.iter().all(|s| node_side.contains(&s.as_str())), "{seen:?}");
    assert!(seen.len() >= 2, "the LB spreads over all nodes: {seen:?}");
}

#[test]
fn e_load_balancer_local_health_checks_and_the_real_client_ip() {
    let cluster = tutorial(ServiceType::LoadBalancer, TrafficPolicy::Local);
    let hc = cluster.services[0].health_check_node_port.expect("allocated immediately for LoadBalancer + Local");
    let mut clients: Vec<Client> = (0..3)
        .map(|n| {
            let target = Target::Addr(SockAddr::new(Ipv4Addr::LOCALHOST, hc));
            client(&format!("healthz-node-{n}"), ClientKind::HostNetwork(NodeId(n)), target, at(&[1]))
        })
        .collect();
    clients.push(external(
        "curl",
        CLIENT_IP,
        Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
        every_second(),
    ));
    let sim = run(scenario(cluster, clients, 120));
    let got = results(&sim);
    let health: Vec<String> = got.iter().filter(|(w, _)| w.starts_with("healthz")).map(|(_, o)| o.clone()).collect();
    // `curl localhost:<healthCheckNodePort>/healthz` on each node.
    assert_eq!(
        health[0],
        "HTTP 200\n{\n  \"service\": {\n    \"namespace\": \"default\",\n    \"name\": \"source-ip\"\n  },\n  \"localEndpoints\": 1,\n  \"serviceProxyHealthy\": true\n}"
    );
    assert!(health[1].starts_with("HTTP 503\n") && health[1].contains("\"localEndpoints\": 0"), "{}", health[1]);
    assert!(health[2].starts_with("HTTP 503\n"));
    // Nodes without the pod fail their health checks, so every request reaches the pod's node
    // and the echoserver sees the real client.
    let curls: Vec<&String> = got.iter().filter(|(w, _)| w == "curl").map(|(_, o)| o).collect();
    assert!(curls.len() >= 100);
    assert!(curls.iter().all(|o| *o == "client_address=198.51.100.79"), "{curls:?}");
    let percent = sim.record().probe_status(1..2).unwrap().percent;
    assert!((percent - 100.0 / 3.0).abs() < 1e-9, "one node of three probes up: {percent}");
}
