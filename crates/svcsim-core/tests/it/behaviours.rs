//! The rest of the model, one behaviour per test: what the rules decide for a first packet, and
//! what whole runs show for affinity, providers and timeline changes.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use svcsim_core::cluster::*;
use svcsim_core::dataplane::{FirstPacket, FirstPacketVerdict};
use svcsim_core::kube_proxy::first_packet;
use svcsim_core::net::SockAddr;
use svcsim_core::record::Reason;
use svcsim_core::record::{Initiator, Outcome};
use svcsim_core::scenario::{Change, Client, ClientKind, Scenario, Target, TimedChange};
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

use crate::fixtures::*;

fn sock(ip: impl Into<IpAddr>, port: u16) -> SockAddr {
    SockAddr::new(ip, port)
}

/// 2 nodes, `replicas` echo pods of `web`, a LoadBalancer Service `web` with `policy`.
fn two_nodes(replicas: u32, policy: TrafficPolicy) -> Cluster {
    let mut cluster = Cluster::with_nodes(ClusterConfig::default(), 2);
    cluster.deployments.push(deployment("web", replicas, App::Echo, 8080));
    cluster.services.push(service("web", "web", ServiceType::LoadBalancer, policy));
    cluster.allocate();
    cluster.reconcile_deployments(&mut svcsim_core::rng::SimRng::new(1));
    cluster
}

fn lb(cluster: &Cluster) -> SockAddr {
    sock(cluster.services[0].load_balancer_ingress[0], 80)
}

fn cluster_ip(cluster: &Cluster) -> SockAddr {
    sock(cluster.services[0].cluster_ip.unwrap(), 80)
}

fn pod_ip(cluster: &Cluster, i: usize) -> IpAddr {
    cluster.pods[i].ip.unwrap()
}

fn node_ip(n: u32) -> IpAddr {
    Ipv4Addr::new(10, 240, 0, 4 + n as u8).into()
}

fn endpoints(r: &FirstPacket) -> Vec<String> {
    r.endpoints.iter().map(|e| e.to_string()).collect()
}

#[test]
fn no_endpoints_at_all_is_an_immediate_reject() {
    let c = two_nodes(0, TrafficPolicy::Cluster);
    for dst in [lb(&c), cluster_ip(&c)] {
        let r = first_packet(&c, NodeId(0), sock(CLIENT_IP, 40000), dst);
        assert_eq!(r.verdict, FirstPacketVerdict::Reject, "{dst}");
        assert_eq!(r.reason.as_deref(), Some("default/web has no endpoints"));
    }
}

#[test]
fn local_without_local_endpoints_drops_external_but_short_circuits_pods_and_the_host() {
    let mut c = two_nodes(1, TrafficPolicy::Local);
    standalone_pod(&mut c, "client", 1, App::Echo);
    let server = pod_ip(&c, 0);
    assert_eq!(c.pods[0].node, NodeId(0));
    // External → node-1, which has no endpoint: silent DROP.
    let ext = first_packet(&c, NodeId(1), sock(CLIENT_IP, 40000), lb(&c));
    assert_eq!(
        (ext.verdict, ext.reason.as_deref()),
        (FirstPacketVerdict::Drop, Some("default/web has no local endpoints"))
    );
    // A pod on node-1 → LB IP: "pod traffic for … external destinations", no SNAT.
    let pod = first_packet(&c, NodeId(1), sock(pod_ip(&c, 1), 40000), lb(&c));
    assert_eq!((pod.verdict, pod.masquerade), (FirstPacketVerdict::Dnat, false));
    assert_eq!(endpoints(&pod), [format!("{server}:8080")]);
    // node-1's host network → LB IP: masquerade LOCAL traffic, route to KUBE-SVC.
    let host = first_packet(&c, NodeId(1), sock(node_ip(1), 40000), lb(&c));
    assert_eq!((host.verdict, host.masquerade), (FirstPacketVerdict::Dnat, true));
    assert!(host.rules.iter().any(|r| r.contains("masquerade LOCAL traffic for default/web external destinations")));
}

#[test]
fn cluster_policy_always_masquerades_external_traffic() {
    let c = two_nodes(1, TrafficPolicy::Cluster);
    let r = first_packet(&c, NodeId(0), sock(CLIENT_IP, 40000), lb(&c));
    assert_eq!((r.verdict, r.masquerade), (FirstPacketVerdict::Dnat, true));
    assert!(r.rules.iter().any(|l| l.contains("masquerade traffic for default/web external destinations")));
}

#[test]
fn the_cascade_can_pick_every_endpoint_and_a_hairpin_is_masqueraded() {
    let c = two_nodes(3, TrafficPolicy::Cluster);
    let ips: Vec<String> = c.pods.iter().map(|p| format!("{}:8080", p.ip.unwrap())).collect();
    let from_pod = first_packet(&c, NodeId(0), sock(pod_ip(&c, 0), 40000), cluster_ip(&c));
    let mut got = endpoints(&from_pod);
    got.sort();
    let mut want = ips.clone();
    want.sort();
    assert_eq!(got, want);
    // One of the picks is the client pod itself: KUBE-SEP's `-s <ep>` rule marks it.
    assert!(from_pod.masquerade);
    assert!(from_pod.rules.iter().any(|r| r.contains("--probability 0.3333333333")));
    // A pod that is not an endpoint reaches the ClusterIP unmasqueraded.
    let mut c2 = c.clone();
    standalone_pod(&mut c2, "client", 1, App::Echo);
    let other = first_packet(&c2, NodeId(1), sock(pod_ip(&c2, 3), 40000), cluster_ip(&c2));
    assert!(!other.masquerade);
}

#[test]
fn masquerade_all_snats_pod_traffic_to_cluster_ips() {
    let mut c = two_nodes(1, TrafficPolicy::Cluster);
    c.config.kube_proxy.masquerade_all = true;
    standalone_pod(&mut c, "client", 1, App::Echo);
    let r = first_packet(&c, NodeId(1), sock(pod_ip(&c, 1), 40000), cluster_ip(&c));
    assert_eq!((r.verdict, r.masquerade), (FirstPacketVerdict::Dnat, true));
}

#[test]
fn internal_traffic_policy_local_drops_on_nodes_without_an_endpoint() {
    let mut c = two_nodes(1, TrafficPolicy::Cluster);
    c.services[0].internal_traffic_policy = TrafficPolicy::Local;
    standalone_pod(&mut c, "client", 1, App::Echo);
    let r = first_packet(&c, NodeId(1), sock(pod_ip(&c, 1), 40000), cluster_ip(&c));
    assert_eq!(
        (r.verdict, r.reason.as_deref()),
        (FirstPacketVerdict::Drop, Some("default/web has no local endpoints"))
    );
    let on0 = first_packet(&c, NodeId(0), sock(Ipv4Addr::new(10, 244, 0, 77), 40000), cluster_ip(&c));
    assert_eq!(on0.verdict, FirstPacketVerdict::Dnat);
    // External traffic still follows externalTrafficPolicy (Cluster).
    assert_eq!(first_packet(&c, NodeId(1), sock(CLIENT_IP, 1), lb(&c)).verdict, FirstPacketVerdict::Dnat);
}

#[test]
fn load_balancer_source_ranges_drop_other_sources_at_the_firewall() {
    let mut c = two_nodes(1, TrafficPolicy::Cluster);
    c.services[0].load_balancer_source_ranges = vec!["203.0.113.0/24".parse().unwrap()];
    let denied = first_packet(&c, NodeId(0), sock(CLIENT_IP, 40000), lb(&c));
    assert_eq!(denied.verdict, FirstPacketVerdict::Drop);
    assert!(denied.reason.unwrap().starts_with("default/web traffic not accepted by KUBE-FW-"));
    let allowed = first_packet(&c, NodeId(0), sock(Ipv4Addr::new(203, 0, 113, 7), 40000), lb(&c));
    assert_eq!(allowed.verdict, FirstPacketVerdict::Dnat);
    // NodePorts are not subject to loadBalancerSourceRanges.
    let np = sock(node_ip(0), c.services[0].ports[0].node_port.unwrap());
    assert_eq!(first_packet(&c, NodeId(0), sock(CLIENT_IP, 40000), np).verdict, FirstPacketVerdict::Dnat);
}

#[test]
fn terminating_but_serving_local_endpoints_still_take_traffic_while_the_health_check_fails() {
    let mut c = two_nodes(1, TrafficPolicy::Local);
    c.pods[0].terminating = true; // ready condition still true: serving
    let r = first_packet(&c, NodeId(0), sock(CLIENT_IP, 40000), lb(&c));
    assert_eq!(r.verdict, FirstPacketVerdict::Dnat);
    let local = svcsim_core::endpoints::local_ready_endpoint_ips(&c, ServiceId(0), NodeId(0));
    let health = svcsim_core::kube_proxy::health::service_health(&c, ServiceId(0), NodeId(0), local);
    assert_eq!(health.status, 503, "only ready endpoints count");
}

fn run(cluster: Cluster, clients: Vec<Client>, seconds: u64, changes: Vec<TimedChange>) -> Sim {
    let mut sim = Sim::new(Scenario {
        name: "t".into(),
        seed: 3,
        duration: Duration::from_secs(seconds),
        cluster,
        clients: clients.into(),
        changes,
    });
    sim.run();
    sim
}

fn laptop() -> Client {
    external(
        "laptop",
        CLIENT_IP,
        Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
        every_second(),
    )
}

fn answered_pods(sim: &Sim) -> BTreeSet<String> {
    sim.record()
        .flows
        .iter()
        .filter(|f| f.outcome == Outcome::Answered && matches!(f.initiator, Initiator::Client(_)))
        .filter_map(|f| f.pod)
        .map(|p| sim.cluster().pod(p).name.clone())
        .collect()
}

#[test]
fn session_affinity_pins_a_client_to_one_pod() {
    let spread = run(two_nodes(4, TrafficPolicy::Cluster), vec![laptop()], 40, vec![]);
    assert!(answered_pods(&spread).len() > 1);
    let mut c = two_nodes(4, TrafficPolicy::Cluster);
    c.services[0].session_affinity = Some(DEFAULT_AFFINITY_TIMEOUT);
    let sticky = run(c, vec![laptop()], 40, vec![]);
    assert_eq!(answered_pods(&sticky).len(), 1, "ClientIP affinity: source-IP LB distribution and `-m recent`");
}

#[test]
fn aws_nlb_instance_targets_preserve_the_client_under_local_and_reply_through_the_lb() {
    let mut c = two_nodes(1, TrafficPolicy::Local);
    c.config.provider = Provider::Aws;
    let sim = run(c, vec![laptop()], 40, vec![]);
    let flows: Vec<_> = sim.record().flows.iter().filter(|f| matches!(f.initiator, Initiator::Client(_))).collect();
    assert!(
        flows.iter().all(|f| f.outcome == Outcome::Answered),
        "the pod-less node fails its HTTP probe from the start"
    );
    assert!(flows.iter().all(|f| f.app_output.as_deref() == Some("client_address=198.51.100.79")));
    // The NLB rewrote the destination to the node's NodePort; the reply passes back through it.
    let reply = sim.record().packet(flows[0].reply.unwrap());
    assert!(reply.hops.iter().any(|h| h.at == svcsim_core::Place::Lb));
}

#[test]
fn gcp_cluster_policy_probes_kube_proxy_and_keeps_every_node() {
    let mut c = two_nodes(1, TrafficPolicy::Cluster);
    c.config.provider = Provider::Gcp;
    let sim = run(c, vec![laptop()], 130, vec![]);
    assert_eq!(sim.record().probe_status(1..2).map(|s| s.percent), Some(100.0));
    let probe = sim.record().flows.iter().find(|f| matches!(f.initiator, Initiator::Probe { .. })).unwrap();
    assert_eq!(probe.header.dst.port, 10256, "the shared node health check on kube-proxy's healthz");
}

#[test]
fn scaling_up_under_local_brings_the_second_node_back_into_rotation() {
    let c = two_nodes(1, TrafficPolicy::Local);
    let scale =
        TimedChange { at: Instant::from_secs(30), change: Change::Scale { deployment: DeploymentId(0), replicas: 2 } };
    let sim = run(c, vec![laptop()], 90, vec![scale]);
    let joined = sim.record().rotation.iter().find(|r| r.in_rotation).expect("node-1 rejoins");
    assert_eq!(joined.node, NodeId(1));
    let after = joined.time.saturating_since(Instant::from_secs(30)).as_secs_f64();
    assert!((5.0..=12.0).contains(&after), "two successful probes after the sync: {after}");
    let percent = |m: u64| sim.record().probe_status(m..m + 1).map(|s| s.percent);
    let first = percent(0).unwrap();
    assert!(first > 50.0 && first < 100.0, "minute 0 straddles the scale-up: {first}");
    assert_eq!(percent(1), Some(100.0));
}

#[test]
fn unhealthy_kube_proxy_fails_local_probes_and_an_lb_with_no_backend_drops() {
    let c = two_nodes(1, TrafficPolicy::Local);
    let sick = TimedChange {
        at: Instant::from_secs(20),
        change: Change::KubeProxyHealthy { node: NodeId(0), healthy: false },
    };
    let sim = run(c, vec![laptop()], 60, vec![sick]);
    let left = &sim.record().rotation[0];
    assert_eq!((left.node, left.in_rotation), (NodeId(0), false));
    let last = sim.record().flows.iter().rfind(|f| matches!(f.initiator, Initiator::Client(_))).unwrap();
    assert_eq!(last.outcome, Outcome::Dropped(std::rc::Rc::new(Reason::NoHealthyBackend)));
    assert_eq!(Reason::NoHealthyBackend.to_string(), "no healthy backend: every node fails its health probe");
}

#[test]
fn a_host_network_client_reaches_a_local_service_from_a_pod_less_node() {
    let c = two_nodes(1, TrafficPolicy::Local);
    let host = client(
        "host",
        ClientKind::HostNetwork(NodeId(1)),
        Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
        at(&[1]),
    );
    let sim = run(c, vec![host], 3, vec![]);
    let f = &sim.record().flows.iter().find(|f| matches!(f.initiator, Initiator::Client(_))).unwrap();
    assert_eq!(f.outcome, Outcome::Answered);
    // Masqueraded toward the remote pod: the pod sees node-1's IP.
    assert_eq!(f.app_output.as_deref(), Some("client_address=10.240.0.5"));
}

#[test]
fn an_endpoint_slice_address_outside_the_cluster_answers_like_an_echo_server() {
    // A Service without a selector, its EndpointSlice naming a server outside the cluster.
    let mut c = Cluster::with_nodes(ClusterConfig::default(), 2);
    let mut svc = service("external-db", "unused", ServiceType::LoadBalancer, TrafficPolicy::Cluster);
    svc.selector.clear();
    svc.ports[0].name = "http".into();
    c.services.push(svc);
    let ep = SliceEndpoint {
        ip: Ipv4Addr::new(192, 168, 99, 22).into(),
        node: None,
        ready: true,
        serving: true,
        terminating: false,
    };
    c.endpoint_slices.push(EndpointSlice {
        address_type: svcsim_core::net::IpFamily::Ipv4,
        service: ServiceId(0),
        endpoints: vec![ep],
        ports: vec![("http".into(), 8080)],
    });
    let sim = run(c, vec![laptop()], 5, vec![]);
    let outputs: BTreeSet<String> = sim.record().requests().filter_map(|f| f.app_output.clone()).collect();
    assert!(sim.record().requests().all(|f| f.outcome == Outcome::Answered));
    // Masqueraded by the ingress node (Cluster policy): the server sees a node IP.
    assert!(
        outputs.iter().all(|o| o == "client_address=10.240.0.4" || o == "client_address=10.240.0.5"),
        "{outputs:?}"
    );
}

#[test]
fn a_not_ready_node_takes_its_pods_out_of_the_endpoints() {
    let c = two_nodes(1, TrafficPolicy::Local);
    let down = TimedChange { at: Instant::from_secs(10), change: Change::NodeReady { node: NodeId(0), ready: false } };
    let sim = run(c, vec![laptop()], 40, vec![down]);
    assert!(!sim.cluster().pods[0].ready, "the node lifecycle controller marks its pods not ready");
    assert_eq!(sim.in_rotation(ServiceId(0), NodeId(0)), Some(false));
    let late = sim.record().requests().filter(|f| f.start > Instant::from_secs(30)).collect::<Vec<_>>();
    assert!(late.iter().all(|f| f.outcome.label() == "dropped"), "no node left in rotation");
}

#[test]
fn the_run_counts_hits_and_sources_per_pod() {
    let sim = run(two_nodes(1, TrafficPolicy::Cluster), vec![laptop()], 20, vec![]);
    let hits = sim.record().hits_per_pod();
    assert_eq!(hits.values().sum::<usize>(), 20);
    let seen = &sim.record().sources_seen()[&PodId(0)];
    let addrs: BTreeSet<String> = seen.keys().map(|a| a.to_string()).collect();
    assert_eq!(addrs, BTreeSet::from(["10.244.0.1".to_string(), "10.240.0.5".to_string()]));
    assert_eq!(seen.values().sum::<usize>(), 20);
}
