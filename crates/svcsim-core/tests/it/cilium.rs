//! Cilium's kube-proxy replacement, one documented behaviour per test
//! (`docs/fidelity.md#cilium`): what the pod sees and where the reply goes in SNAT, DSR and
//! hybrid mode, under both traffic policies and from both nodes; socket-LB on and off; Maglev
//! across nodes; no backends; the health servers.

use std::collections::BTreeSet;

use svcsim_core::Place;
use svcsim_core::dataplane::{FirstPacket, Origin};
use svcsim_core::manifest::{Overrides, load};
use svcsim_core::net::{Header, SockAddr};
use svcsim_core::record::{Action, FlowRecord, Initiator, Outcome, Run};
use svcsim_core::sim::Sim;
use svcsim_core::time::Instant;

/// The AKS story on two nodes with one Node.js pod (on node-0), Cilium replacing kube-proxy
/// with `cilium` (extra Helm values, inline YAML), `policy` and `clients` (inline YAML).
fn aks(cilium: &str, policy: &str, clients: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}, annotations: {{svcsim.dev/app: nodejs}}}}
    spec: {{containers: [{{name: web, ports: [{{containerPort: 8080}}]}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{type: LoadBalancer, externalTrafficPolicy: {policy}, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}
---
apiVersion: svcsim.dev/v1alpha1
kind: Simulation
metadata: {{name: cilium}}
spec:
  seed: 1
  duration: 90s
  cluster:
    provider: azure
    networkPlugin: azure-cni
    nodes: 2
    cilium: {{kubeProxyReplacement: true, routingMode: native{cilium}}}
  clients:
{clients}"
    )
}

const LAPTOP: &str = "    - {name: laptop, ip: 198.51.100.79, target: service/web, rate: 1/s}";

fn run(yaml: &str, secs: u64) -> Sim {
    let loaded = load(yaml, &Overrides::default()).unwrap_or_else(|d| panic!("{d:?}"));
    let mut sim = Sim::new(loaded.scenario);
    sim.run_until(Instant::from_secs(secs));
    sim
}

fn answered(run: &Run) -> Vec<&FlowRecord> {
    run.requests().filter(|f| f.outcome == Outcome::Answered).collect()
}

/// (ingress node, what the app saw, the reply's places by name) of every answered request.
fn journeys(sim: &Sim) -> BTreeSet<(String, String, Vec<String>)> {
    let run = sim.record();
    answered(run)
        .iter()
        .map(|f| {
            let ingress = f.ingress_node.map_or("-".into(), |n| run.names.place(Place::Node(n)));
            let path = run.reply_path(f).into_iter().map(|p| run.names.place(p)).collect();
            (ingress, f.source_seen.unwrap().to_string(), path)
        })
        .collect()
}

fn pod_path(sim: &Sim, via: &[&str]) -> Vec<String> {
    let pod = sim.record().names.pods[0].clone();
    std::iter::once(format!("pod {pod}")).chain(via.iter().map(|s| s.to_string())).collect()
}

#[test]
fn snat_under_cluster_keeps_the_client_ip_on_the_pod_s_node_and_snats_through_the_other() {
    let sim = run(&aks("", "Cluster", LAPTOP), 30);
    let expect: BTreeSet<_> = [
        ("node-0".to_string(), "198.51.100.79".to_string(), pod_path(&sim, &["node-0", "laptop"])),
        ("node-1".to_string(), "10.240.0.5".to_string(), pod_path(&sim, &["node-0", "node-1", "laptop"])),
    ]
    .into();
    assert_eq!(journeys(&sim), expect);
}

#[test]
fn dsr_under_cluster_keeps_the_client_ip_and_the_backend_s_node_answers_the_client() {
    let sim = run(&aks(", loadBalancer: {mode: dsr}", "Cluster", LAPTOP), 30);
    let expect: BTreeSet<_> = ["node-0", "node-1"]
        .map(|n| (n.to_string(), "198.51.100.79".to_string(), pod_path(&sim, &["node-0", "laptop"])))
        .into();
    assert_eq!(journeys(&sim), expect, "the reply never touches node-1");
    // The request from node-1 carries the service address in an IPv4 option, and node-0's reply
    // leaves as the service.
    let run = sim.record();
    let f = answered(run).into_iter().find(|f| f.ingress_node.is_some_and(|n| n.0 == 1)).unwrap();
    let hops = &run.packet(f.request).hops;
    let dispatch = hops.iter().find(|h| h.at == Place::Node(svcsim_core::cluster::NodeId(1))).unwrap();
    assert!(
        dispatch.rules.rules().iter().any(|r| r.to_string() == "tail_nodeport_ipv4_dsr: dsr_set_opt4: IPv4 option 0x9a carries 203.0.113.10:80; the reply will not come back here (no CT entry)"),
        "{:?}",
        dispatch.rules
    );
    let reply = &run.packet(f.reply.unwrap()).hops;
    assert_eq!(reply.last().unwrap().before.src.to_string(), "203.0.113.10:80", "the client hears from the service");
}

#[test]
fn under_local_only_the_pod_s_node_takes_traffic_and_the_client_ip_survives_in_both_modes() {
    for mode in ["snat", "dsr"] {
        let sim = run(&aks(&format!(", loadBalancer: {{mode: {mode}}}"), "Local", LAPTOP), 60);
        let j = journeys(&sim);
        assert!(j.iter().all(|(_, seen, _)| seen == "198.51.100.79"), "{mode}: {j:?}");
        let status = sim.record().probe_status(0..1).unwrap();
        assert_eq!(status.percent, 50.0, "{mode}: Cilium's health server answers 503 on node-1");
    }
}

#[test]
fn hybrid_returns_tcp_directly_and_udp_through_the_balancing_node() {
    let yaml = aks(", loadBalancer: {mode: hybrid}", "Cluster", LAPTOP)
        .replace(
            "ports: [{port: 80, targetPort: 8080}]",
            "ports: [{name: tcp, port: 80, targetPort: 8080}, {name: udp, port: 80, targetPort: 8080, protocol: UDP}]",
        )
        .replace(
            "ports: [{containerPort: 8080}]",
            "ports: [{containerPort: 8080}, {containerPort: 8080, protocol: UDP}]",
        )
        .replace("provider: azure", "provider: none");
    let clients = "    - {name: tcp, ip: 198.51.100.79, target: node/node-1:nodePort, rate: 1/s}\n    - {name: udp, ip: 198.51.100.80, target: node/node-1:nodePort, protocol: UDP, rate: 1/s}";
    let sim = run(&yaml.replace(LAPTOP, clients), 10);
    let run = sim.record();
    let by = |client: &str| -> BTreeSet<(String, Vec<String>)> {
        answered(run)
            .into_iter()
            .filter(|f| matches!(f.initiator, Initiator::Client(c) if run.names.clients[c] == client))
            .map(|f| {
                (
                    f.source_seen.unwrap().to_string(),
                    run.reply_path(f).into_iter().map(|p| run.names.place(p)).collect(),
                )
            })
            .collect()
    };
    assert_eq!(by("tcp"), [("198.51.100.79".to_string(), pod_path(&sim, &["node-0", "tcp"]))].into());
    assert_eq!(by("udp"), [("10.240.0.5".to_string(), pod_path(&sim, &["node-0", "node-1", "udp"]))].into());
}

#[test]
fn with_socket_lb_a_pod_s_connect_is_translated_and_no_node_rewrites_its_packets() {
    let clients = "    - {name: caller, pod: caller, target: service/web:clusterIP, rate: 1/s}";
    let caller = "\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: caller}\nspec: {nodeName: node-1, containers: [{name: c}]}\n";
    for (socket_lb, connected) in [("true", true), ("false", false)] {
        let yaml = aks(&format!(", socketLB: {{enabled: {socket_lb}}}"), "Cluster", clients) + caller;
        let sim = run(&yaml, 5);
        let run = sim.record();
        let f = answered(run)[0];
        let hops = &run.packet(f.request).hops;
        let first = &hops[0].action;
        assert_eq!(matches!(first, Action::Connected { .. }), connected, "socketLB {socket_lb}: {first:?}");
        let translated: Vec<String> =
            hops.iter().filter(|h| h.action == Action::Translated).map(|h| run.names.place(h.at)).collect();
        let expect: &[&str] = if connected { &[] } else { &["node-1"] };
        assert_eq!(translated, expect, "socketLB {socket_lb}: where the packet is rewritten");
        let caller_ip = sim.cluster().pods.iter().find(|p| p.name == "caller").unwrap().ip.unwrap();
        assert_eq!(f.source_seen, Some(caller_ip), "east-west traffic is never SNATed");
        let asked = run.asked(f);
        assert_eq!(asked.ip, sim.cluster().services[0].cluster_ip.unwrap(), "the app asked for the ClusterIP");
    }
}

#[test]
fn maglev_picks_the_same_backend_on_every_node_and_random_does_not_have_to() {
    let yaml = aks(", loadBalancer: {algorithm: maglev}", "Cluster", LAPTOP).replace("replicas: 1", "replicas: 6");
    let sim = run(&yaml, 1);
    let lb: SockAddr = "203.0.113.10:80".parse().unwrap();
    let mut disagreements = 0;
    for port in 40000..40200 {
        let h = Header::tcp(SockAddr::new("198.51.100.79".parse::<std::net::IpAddr>().unwrap(), port), lb);
        let picks: Vec<FirstPacket> = (0..2)
            .map(|n| {
                FirstPacket::of(&sim.dataplane().every_decision(svcsim_core::cluster::NodeId(n), Origin::Routed, h))
            })
            .collect();
        assert_eq!(picks[0].endpoints.len(), 1, "Maglev decides one backend");
        if picks[0].endpoints != picks[1].endpoints {
            disagreements += 1;
        }
    }
    assert_eq!(disagreements, 0, "every node agrees on every 5-tuple");
    let random = run(&aks("", "Cluster", LAPTOP).replace("replicas: 1", "replicas: 6"), 1);
    let h = Header::tcp("198.51.100.79:40000".parse().unwrap(), lb);
    let r = FirstPacket::of(&random.dataplane().every_decision(svcsim_core::cluster::NodeId(0), Origin::Routed, h));
    assert_eq!(r.endpoints.len(), 6, "random: any of the six");
}

#[test]
fn maglev_moves_only_the_removed_backend_s_connections_when_one_goes() {
    let base = aks(", loadBalancer: {algorithm: maglev}", "Cluster", LAPTOP).replace("replicas: 1", "replicas: 10");
    let before = run(&base, 1);
    // Scaling down removes the newest pod; every other keeps its address.
    let after =
        run(&base.replace("rate: 1/s}", "rate: 1/s}\n  events:\n    - {at: 500ms, scale: {deployment/web: 9}}"), 3);
    let lb: SockAddr = "203.0.113.10:80".parse().unwrap();
    let pick = |sim: &Sim, port: u16| {
        let h = Header::tcp(SockAddr::new("198.51.100.79".parse::<std::net::IpAddr>().unwrap(), port), lb);
        FirstPacket::of(&sim.dataplane().every_decision(svcsim_core::cluster::NodeId(0), Origin::Routed, h)).endpoints
            [0]
    };
    let live: BTreeSet<SockAddr> =
        after.cluster().pods.iter().filter(|p| !p.deleted).map(|p| SockAddr::new(p.ip.unwrap(), 8080)).collect();
    let (mut kept, mut moved_from_live) = (0, 0);
    for port in 32768..34768 {
        let (b, a) = (pick(&before, port), pick(&after, port));
        if b == a {
            kept += 1;
        } else if live.contains(&b) {
            moved_from_live += 1;
        }
    }
    assert!(moved_from_live * 100 < 2000, "{moved_from_live} of 2000 connections to surviving backends moved");
    assert!(kept > 1700, "about 9 in 10 connections keep their backend: {kept}");
}

#[test]
fn with_no_backends_cilium_answers_icmp_port_unreachable_or_drops_as_configured() {
    // Straight to a NodePort: behind the Azure LB the probes fail on every node first.
    let to_node = "    - {name: laptop, ip: 198.51.100.79, target: node/node-1:nodePort, rate: 1/s}";
    let yaml = aks("", "Cluster", to_node).replace("replicas: 1", "replicas: 0");
    let sim = run(&yaml, 3);
    let f = sim.record().requests().next().unwrap();
    match &f.outcome {
        Outcome::Rejected(r) => assert!(r.to_string().starts_with("\"Service backend not found\" via"), "{r}"),
        other => panic!("{other:?}"),
    }
    let sim =
        run(&aks(", serviceNoBackendResponse: drop", "Cluster", to_node).replace("replicas: 1", "replicas: 0"), 3);
    assert_eq!(sim.record().requests().next().unwrap().outcome.label(), "dropped");
    // A pod's connect() to the Service fails at once: EHOSTUNREACH.
    let clients = "    - {name: caller, pod: caller, target: service/web:clusterIP, at: [1s]}";
    let caller = "\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: caller}\nspec: {nodeName: node-1, containers: [{name: c}]}\n";
    let sim = run(&(aks("", "Cluster", clients).replace("replicas: 1", "replicas: 0") + caller), 3);
    let f = sim.record().requests().next().unwrap();
    assert_eq!(
        f.outcome.reason().unwrap().to_string(),
        format!(
            "\"connect() fails with EHOSTUNREACH: {}:80/TCP has no backend\" via cil_sock4_connect",
            sim.cluster().services[0].cluster_ip.unwrap()
        )
    );
}

#[test]
fn cilium_s_health_check_node_port_answers_200_with_a_local_backend_and_503_without() {
    let sim = run(&aks("", "Local", LAPTOP), 1);
    let svc = &sim.cluster().services[0];
    let port = svc.health_check_node_port.unwrap();
    let answer = |n: u32| {
        let node = svcsim_core::cluster::NodeId(n);
        sim.dataplane().serve(sim.cluster(), node, SockAddr::new(sim.cluster().node(node).ip, port)).unwrap()
    };
    assert_eq!(answer(0).status, 200);
    assert_eq!(answer(0).body, "{\"service\":{\"namespace\":\"default\",\"name\":\"web\"},\"localEndpoints\":1}\n");
    assert_eq!(answer(1).status, 503);
    assert_eq!(answer(1).body, "{\"service\":{\"namespace\":\"default\",\"name\":\"web\"},\"localEndpoints\":0}\n");
    // Under Cluster Cilium serves no healthCheckNodePort (and the API server allocates none).
    let cluster = run(&aks("", "Cluster", LAPTOP), 1);
    assert_eq!(cluster.cluster().services[0].health_check_node_port, None);
}

#[test]
fn the_kube_proxy_replacement_healthz_answers_only_when_bound() {
    let bound = run(&aks(", kubeProxyReplacementHealthzBindAddr: \"0.0.0.0:10256\"", "Cluster", LAPTOP), 1);
    let node = svcsim_core::cluster::NodeId(0);
    let at = SockAddr::new(bound.cluster().node(node).ip, 10256);
    let r = bound.dataplane().serve(bound.cluster(), node, at).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("{\"lastUpdated\": \""), "{}", r.body);
    let unbound = run(&aks("", "Cluster", LAPTOP), 1);
    assert_eq!(unbound.dataplane().serve(unbound.cluster(), node, at), None, "off by default: nothing listens");
}

#[test]
fn a_client_behind_a_node_without_backends_under_local_is_refused_like_cilium_refuses_it() {
    let sim =
        run(&aks("", "Local", "    - {name: laptop, ip: 198.51.100.79, target: node/node-1:nodePort, rate: 1/s}"), 3);
    let f = sim.record().requests().next().unwrap();
    assert_eq!(f.outcome.label(), "rejected", "ICMP port unreachable, not a silent drop as kube-proxy's");
}
