//! UDP Services, as a user writes them: a DNS-style Service with 53/UDP and 53/TCP, clients
//! that send UDP, pods that do not listen on a protocol, and what each cloud's load balancer
//! probes when a port is not TCP.

use svcsim_core::cluster::Provider;
use svcsim_core::lb::ProbeResult;
use svcsim_core::manifest::{Overrides, load};
use svcsim_core::net::Protocol;
use svcsim_core::record::{Initiator, Outcome, Run};
use svcsim_core::sim::Sim;

/// A CoreDNS-like Deployment and a LoadBalancer Service on port 53 over UDP and TCP; `ports`
/// replaces the Service's ports, `clients` the Simulation's.
fn dns(ports: &str, container_ports: &str, clients: &str, events: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: dns}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: dns}}}}\n  template:\n    metadata: {{labels: {{app: dns}}, annotations: {{svcsim.dev/app: echo}}}}\n    spec:\n      containers:\n        - name: dns\n          ports: {container_ports}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: dns}}\nspec:\n  type: LoadBalancer\n  selector: {{app: dns}}\n  ports: {ports}\n---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: dns}}\nspec:\n  seed: 1\n  duration: 120s\n  cluster: {{provider: azure, networkPlugin: kubenet, nodes: 2}}\n  clients: {clients}\n{events}"
    )
}

const BOTH_PORTS: &str = "[{name: dns, protocol: UDP, port: 53, targetPort: dns}, {name: dns-tcp, protocol: TCP, port: 53, targetPort: dns-tcp}]";
const BOTH_CONTAINER_PORTS: &str =
    "[{name: dns, containerPort: 5353, protocol: UDP}, {name: dns-tcp, containerPort: 5353, protocol: TCP}]";
const DIG: &str = "[{name: dig, ip: 198.51.100.79, target: service/dns, protocol: UDP, rate: 1/s}, {name: dig-tcp, ip: 198.51.100.80, target: service/dns, rate: 1/s}]";

fn run(yaml: &str, provider: Provider) -> Sim {
    let overrides = Overrides { provider: Some(provider), ..Overrides::default() };
    let loaded = load(yaml, &overrides).unwrap_or_else(|d| panic!("{d:?}"));
    let mut sim = Sim::new(loaded.scenario);
    sim.run();
    sim
}

/// Each client's requests' outcomes, as labels.
fn outcomes(run: &Run, client: &str) -> Vec<&'static str> {
    run.requests()
        .filter(|f| matches!(f.initiator, Initiator::Client(c) if run.names.clients[c] == client))
        .map(|f| f.outcome.label())
        .collect()
}

fn probes(run: &Run) -> Vec<(f64, ProbeResult)> {
    run.flows
        .iter()
        .filter(|f| matches!(f.initiator, Initiator::Probe { .. }))
        .filter_map(|f| Some((f.start.as_secs_f64(), f.probe_result?)))
        .collect()
}

#[test]
fn a_dns_service_answers_udp_and_tcp_on_port_53_through_one_node_port() {
    let sim = run(&dns(BOTH_PORTS, BOTH_CONTAINER_PORTS, DIG, ""), Provider::Azure);
    let svc = &sim.cluster().services[0];
    assert_eq!(svc.ports.iter().map(|p| p.protocol).collect::<Vec<_>>(), [Protocol::Udp, Protocol::Tcp]);
    // The API server's allocator gives both protocols of one port number the same nodePort.
    assert_eq!(svc.ports[0].node_port, svc.ports[1].node_port);
    let run = sim.record();
    for client in ["dig", "dig-tcp"] {
        let o = outcomes(run, client);
        assert!(!o.is_empty() && o.iter().all(|o| *o == "answered"), "{client}: {o:?}");
    }
    let udp = run.requests().find(|f| f.header.proto == Protocol::Udp).unwrap();
    assert_eq!(udp.header.dst.port, 53);
    let text = run.trace_text();
    assert!(text.contains("port 53/UDP -> dns nodePort"), "{text}");
    assert!(text.contains("dig sends udp 198.51.100.79:"), "{text}");
    // Under Cluster, Azure probes the TCP port's NodePort only.
    assert!(text.contains(&format!("TCP :{}", svc.ports[1].node_port.unwrap())), "{text}");
}

#[test]
fn a_datagram_to_a_pod_that_listens_only_on_tcp_is_port_unreachable() {
    let ports = "[{name: dns, protocol: UDP, port: 53, targetPort: 5353}]";
    let container = "[{name: dns-tcp, containerPort: 5353, protocol: TCP}]";
    let clients = "[{name: dig, ip: 198.51.100.79, target: service/dns, protocol: UDP, at: [1s]}]";
    let sim = run(&dns(ports, container, clients, ""), Provider::Azure);
    let run = sim.record();
    let f = run.requests().next().unwrap();
    match &f.outcome {
        Outcome::Rejected(reason) => assert_eq!(
            reason.to_string(),
            format!("port unreachable: {} does not listen on UDP port 5353", sim.cluster().pods[0].name)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn azure_probes_no_udp_port_under_cluster_and_the_health_check_node_port_under_local() {
    let ports = "[{name: dns, protocol: UDP, port: 53, targetPort: 5353}]";
    let container = "[{name: dns, containerPort: 5353, protocol: UDP}]";
    let clients = "[{name: dig, ip: 198.51.100.79, target: service/dns, protocol: UDP, rate: 1/s}]";
    let events = "  events:\n    - {at: 30s, patch: {service/dns: {spec: {externalTrafficPolicy: Local}}}}\n";
    let sim = run(&dns(ports, container, clients, events), Provider::Azure);
    let run = sim.record();
    let probes = probes(run);
    assert!(probes.iter().all(|(t, _)| *t >= 30.0), "no probe before the patch: {probes:?}");
    assert!(probes.iter().any(|(_, r)| *r == ProbeResult::Http(503)), "Local's HTTP probe: {probes:?}");
    // Unprobed, both nodes stay in rotation: node-1, without the pod, answers until Local.
    let before: Vec<_> = run.requests().filter(|f| f.start.as_secs_f64() < 30.0).collect();
    assert!(before.iter().all(|f| f.outcome == Outcome::Answered), "{:?}", before.len());
    assert!(before.iter().any(|f| f.ingress_node.is_some_and(|n| n.0 == 1)));
    let after: Vec<_> = run.requests().filter(|f| f.start.as_secs_f64() > 60.0).collect();
    assert!(after.iter().all(|f| f.ingress_node.is_some_and(|n| n.0 == 0)), "only node-0 is in rotation");
    assert!(after.iter().all(|f| f.source_seen.is_some_and(|ip| ip.to_string() == "198.51.100.79")));
}

/// The AWS Load Balancer Controller's default health check is TCP on the traffic port, also for
/// a UDP listener; a NodePort kube-proxy programs for UDP only refuses it.
#[test]
fn aws_probes_a_udp_node_port_over_tcp_and_every_node_fails() {
    let ports = "[{name: dns, protocol: UDP, port: 53, targetPort: 5353}]";
    let container = "[{name: dns, containerPort: 5353, protocol: UDP}]";
    let clients = "[{name: dig, ip: 198.51.100.79, target: service/dns, protocol: UDP, rate: 1/s}]";
    let sim = run(&dns(ports, container, clients, ""), Provider::Aws);
    let run = sim.record();
    assert!(probes(run).iter().all(|(_, r)| !r.success()), "{:?}", probes(run));
    let o = outcomes(run, "dig");
    assert!(!o.is_empty() && o.iter().all(|o| *o == "dropped"), "{o:?}");
}

#[test]
fn a_udp_client_needs_a_udp_port_and_one_port_number_per_protocol_is_allowed_once() {
    let ports = "[{name: web, protocol: TCP, port: 80, targetPort: 8080}]";
    let container = "[{containerPort: 8080}]";
    let clients = "[{name: dig, ip: 198.51.100.79, target: service/dns, protocol: UDP, at: [1s]}]";
    let errors = load(&dns(ports, container, clients, ""), &Overrides::default()).unwrap_err();
    let text: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter().any(|e| e.ends_with(
            "spec.clients[0].target: service dns has no UDP port (its ports: 80/TCP): set the client's protocol"
        )),
        "{text:?}"
    );
    let twice = "[{name: a, protocol: UDP, port: 53}, {name: b, protocol: UDP, port: 53}]";
    let errors = load(&dns(twice, container, "[]", ""), &Overrides::default()).unwrap_err();
    let text: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
    assert!(text.iter().any(|e| e.ends_with("spec.ports[1].port: 53/UDP is used by another port")), "{text:?}");
}
