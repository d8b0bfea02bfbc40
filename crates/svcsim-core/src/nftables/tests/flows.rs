//! kube-proxy's nftables packet-flow tests (`pkg/proxy/nftables/proxier_test.go`, v1.35) as
//! svcsim cases: each upstream setup built as a cluster on `NewFakeProxier`'s node, each case
//! walked through the table svcsim programs, and its result put the way kube-proxy's tracer puts
//! it — the endpoints (in numgen order), `DROP`, `REJECT` or nothing, and whether the packet was
//! marked for masquerade. The expected values are upstream's, verbatim.
//!
//! Left out, and why (`docs/fidelity.md#nftables-packet-flows`): the cases addressed to the fake
//! node's secondary IPs of one family (192.168.1.2, 192.168.99.11 as a node address,
//! 2001:db8:1::2): an svcsim node has one address per family.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::super::*;
use crate::cluster::*;
use crate::dataplane::{NodeNet, Origin, Verdict};
use crate::net::{Header, Protocol, SockAddr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `NewFakeProxier(IPv4)`'s node: test-node, 192.168.0.2, pod CIDR 10.0.0.0/8, service CIDR
/// 172.30.0.0/16, NodePorts on the node IP.
fn fake() -> Cluster {
    let config = ClusterConfig {
        cluster_cidr: "10.0.0.0/8".parse().unwrap(),
        service_cidr: "172.30.0.0/16".parse().unwrap(),
        network_plugin: NetworkPlugin::AzureCni,
        kube_proxy: KubeProxyConfig::for_mode(ProxyMode::Nftables),
        ..ClusterConfig::default()
    };
    let mut cluster = Cluster::with_nodes(config, 1);
    cluster.nodes[0].name = "test-node".into();
    cluster.nodes[0].ip = ip("192.168.0.2");
    cluster
}

/// A selector-less Service `ns/name` with the given ports: (name, protocol, port, nodePort).
fn service(
    ns: &str,
    name: &str,
    type_: ServiceType,
    cluster_ip: &str,
    ports: &[(&str, Protocol, u16, Option<u16>)],
) -> Service {
    Service {
        name: name.into(),
        namespace: ns.into(),
        type_,
        selector: BTreeMap::new(),
        ports: ports
            .iter()
            .map(|(n, protocol, port, node_port)| ServicePort {
                name: (*n).into(),
                port: *port,
                target_port: TargetPort::Number(*port),
                node_port: *node_port,
                protocol: *protocol,
            })
            .collect(),
        cluster_ip: Some(ip(cluster_ip)),
        external_traffic_policy: TrafficPolicy::Cluster,
        internal_traffic_policy: TrafficPolicy::Cluster,
        health_check_node_port: None,
        session_affinity: None,
        external_ips: vec![],
        load_balancer_source_ranges: vec![],
        load_balancer_ingress: vec![],
        ip_family_policy: IpFamilyPolicy::SingleStack,
        ip_families: vec![],
        secondary_cluster_ip: None,
    }
}

/// An endpoint: (address, on test-node, ready, serving, terminating).
type Ep = (&'static str, bool, bool, bool, bool);

fn ready(addr: &'static str, local: bool) -> Ep {
    (addr, local, true, true, false)
}

/// The EndpointSlice of the last Service added, with the given endpoints and ports.
fn slice(cluster: &mut Cluster, endpoints: &[Ep], ports: &[(&str, u16)]) {
    let service = ServiceId(cluster.services.len() as u32 - 1);
    let address_type = endpoints.first().map_or(crate::net::IpFamily::Ipv4, |e| crate::net::IpFamily::of(ip(e.0)));
    cluster.endpoint_slices.push(EndpointSlice {
        service,
        address_type,
        endpoints: endpoints
            .iter()
            .map(|&(a, local, ready, serving, terminating)| SliceEndpoint {
                ip: ip(a),
                node: local.then_some(NodeId(0)),
                ready,
                serving,
                terminating,
            })
            .collect(),
        ports: ports.iter().map(|(n, p)| ((*n).into(), *p)).collect(),
    });
}

/// One upstream case: name, source, protocol, destination, expected output, expected masq.
struct Case(&'static str, &'static str, Protocol, &'static str, &'static str, bool);

const TCP: Protocol = Protocol::Tcp;

/// What kube-proxy's tracer reports for a packet: the endpoints joined by `, `, `DROP`,
/// `REJECT` or empty, and whether any pick was marked for masquerade.
fn trace(cluster: &Cluster, src: &str, proto: Protocol, dst: &str) -> (String, bool) {
    let table = program(cluster, NodeId(0));
    let net = NodeNet::of(cluster, NodeId(0));
    let dst: SockAddr = dst.parse().unwrap();
    let src = SockAddr::new(ip(src), 40000);
    let decisions = every_outcome(&table, &net, Origin::of(&net, src.ip), Header::new(proto, src, dst));
    let marked = decisions.iter().any(|d| d.marked);
    let output = match &decisions[0].verdict {
        Verdict::Drop(_) => "DROP".to_string(),
        Verdict::Reject(_) => "REJECT".to_string(),
        Verdict::Accept => {
            decisions.iter().filter_map(|d| d.dnat).map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
        }
    };
    (output, marked)
}

/// Runs `cases` of upstream test `test` against `cluster`; panics listing every disagreement.
#[track_caller]
fn run(test: &str, cluster: &Cluster, cases: &[Case]) {
    let mut wrong = Vec::new();
    for Case(name, src, proto, dst, output, masq) in cases {
        let got = trace(cluster, src, *proto, dst);
        if got != (output.to_string(), *masq) {
            wrong.push(format!("{test} / {name:?}: expected {output:?} masq {masq}, got {:?} masq {}", got.0, got.1));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases disagree:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn test_cluster_ip_general() {
    let mut c = fake();
    c.services.push(service("ns1", "svc1", ServiceType::ClusterIP, "172.30.0.41", &[("http", TCP, 80, None)]));
    slice(&mut c, &[ready("10.180.0.1", true)], &[("http", 80)]);
    let ports = [
        ("http", TCP, 80, None),
        ("https", TCP, 443, None),
        ("dns-udp", Protocol::Udp, 53, None),
        ("dns-tcp", TCP, 53, None),
        ("dns-sctp", Protocol::Sctp, 53, None),
    ];
    let mut svc2 = service("ns2", "svc2", ServiceType::ClusterIP, "172.30.0.42", &ports);
    svc2.ports[1].target_port = TargetPort::Number(8443);
    svc2.ports[3].target_port = TargetPort::Number(5353);
    c.services.push(svc2);
    let eps = [ready("10.180.0.1", true), ready("10.180.2.1", false)];
    slice(&mut c, &eps, &[("http", 80), ("https", 8443), ("dns-udp", 53), ("dns-tcp", 5353), ("dns-sctp", 53)]);
    run(
        "TestClusterIPGeneral",
        &c,
        &[
            Case("simple clusterIP", "10.180.0.2", TCP, "172.30.0.41:80", "10.180.0.1:80", false),
            Case("hairpin to cluster IP", "10.180.0.1", TCP, "172.30.0.41:80", "10.180.0.1:80", true),
            Case(
                "clusterIP with multiple endpoints",
                "10.180.0.2",
                TCP,
                "172.30.0.42:80",
                "10.180.0.1:80, 10.180.2.1:80",
                false,
            ),
            Case(
                "clusterIP with TargetPort",
                "10.180.0.2",
                TCP,
                "172.30.0.42:443",
                "10.180.0.1:8443, 10.180.2.1:8443",
                false,
            ),
            Case(
                "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
                "10.180.0.2",
                TCP,
                "172.30.0.42:53",
                "10.180.0.1:5353, 10.180.2.1:5353",
                false,
            ),
            // Upstream names this UDP case "(TCP)" too.
            Case(
                "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
                "10.180.0.2",
                Protocol::Udp,
                "172.30.0.42:53",
                "10.180.0.1:53, 10.180.2.1:53",
                false,
            ),
            Case(
                "clusterIP with TCP, UDP, and SCTP on same port (SCTP)",
                "10.180.0.2",
                Protocol::Sctp,
                "172.30.0.42:53",
                "10.180.0.1:53, 10.180.2.1:53",
                false,
            ),
            Case(
                "TCP-only port does not match UDP traffic",
                "10.180.0.2",
                Protocol::Udp,
                "172.30.0.42:80",
                "REJECT",
                false,
            ),
            Case("svc1 does not accept svc2's ports", "10.180.0.2", TCP, "172.30.0.41:443", "REJECT", false),
            Case("packet to unallocated cluster ip", "10.180.0.2", TCP, "172.30.0.50:80", "DROP", false),
        ],
    );
}

#[test]
fn test_load_balancer() {
    let mut c = fake();
    let mut svc = service("ns1", "svc1", ServiceType::LoadBalancer, "172.30.0.41", &[("p80", TCP, 80, Some(3001))]);
    svc.load_balancer_ingress = vec![ip("1.2.3.4"), ip("5.6.7.8")];
    svc.load_balancer_source_ranges = vec!["192.168.0.0/24".parse().unwrap(), "203.0.113.0/25".parse().unwrap()];
    c.services.push(svc);
    slice(&mut c, &[ready("10.180.0.1", false)], &[("p80", 80)]);
    let ep = "10.180.0.1:80";
    run(
        "TestLoadBalancer",
        &c,
        &[
            Case("pod to cluster IP", "10.0.0.2", TCP, "172.30.0.41:80", ep, false),
            Case("external to nodePort", "203.0.113.2", TCP, "192.168.0.2:3001", ep, true),
            Case("nodePort bypasses LoadBalancerSourceRanges", "203.0.113.130", TCP, "192.168.0.2:3001", ep, true),
            Case("accepted external to LB1", "203.0.113.2", TCP, "1.2.3.4:80", ep, true),
            Case("accepted external to LB2", "203.0.113.2", TCP, "5.6.7.8:80", ep, true),
            Case("blocked external to LB1", "203.0.113.130", TCP, "1.2.3.4:80", "DROP", false),
            Case("blocked external to LB2", "203.0.113.130", TCP, "5.6.7.8:80", "DROP", false),
            Case("pod to LB1 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", TCP, "1.2.3.4:80", "DROP", false),
            Case("pod to LB2 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", TCP, "5.6.7.8:80", "DROP", false),
            Case("node to LB1 (allowed by LoadBalancerSourceRanges)", "192.168.0.2", TCP, "1.2.3.4:80", ep, true),
            Case("node to LB2 (allowed by LoadBalancerSourceRanges)", "192.168.0.2", TCP, "5.6.7.8:80", ep, true),
            Case("same node to LB1, SNATted to LB1 (implicitly allowed)", "1.2.3.4", TCP, "1.2.3.4:80", ep, true),
            Case("same node to LB2, SNATted to LB2 (implicitly allowed)", "5.6.7.8", TCP, "5.6.7.8:80", ep, true),
        ],
    );
}

#[test]
fn test_node_ports_ipv4() {
    let mut c = fake();
    c.services.push(service("ns1", "svc1", ServiceType::NodePort, "172.30.0.41", &[("p80", TCP, 80, Some(3001))]));
    slice(&mut c, &[ready("10.180.0.1", false), ready("10.180.2.1", true)], &[("p80", 80)]);
    let both = "10.180.0.1:80, 10.180.2.1:80";
    run(
        "TestNodePorts/ipv4",
        &c,
        &[
            Case("pod to cluster IP", "10.0.0.2", TCP, "172.30.0.41:80", both, false),
            Case("external to nodePort", "203.0.113.2", TCP, "192.168.0.2:3001", both, true),
            Case("node to nodePort", "192.168.0.2", TCP, "192.168.0.2:3001", both, true),
        ],
    );
}

/// `NewFakeProxier(IPv6)`'s node: test-node, 2001:db8::1, pod CIDR fd00:10::/64, service CIDR
/// fd00:10:96::/112, `nodePortAddresses` 192.168.0.2/32 and 2001:db8::1/128, on an IPv6-only
/// cluster (the IPv6 side of a dual-stack one programs the same table).
fn fake_v6(node_port_addresses: &[&str]) -> Cluster {
    let cidrs = node_port_addresses.iter().map(|c| c.parse().unwrap()).collect();
    let config = ClusterConfig {
        cluster_cidr: "fd00:10::/64".parse().unwrap(),
        service_cidr: "fd00:10:96::/112".parse().unwrap(),
        network_plugin: NetworkPlugin::AzureCni,
        kube_proxy: KubeProxyConfig {
            node_port_addresses: NodePortAddresses::Cidrs(cidrs),
            ..KubeProxyConfig::for_mode(ProxyMode::Nftables)
        },
        ..ClusterConfig::default()
    };
    let mut cluster = Cluster::with_nodes(config, 1);
    cluster.nodes[0].name = "test-node".into();
    cluster.nodes[0].ip = ip("2001:db8::1");
    cluster
}

/// `TestNodePorts`' IPv6 subtests: its Service and endpoints, each node-port address setting,
/// and the cases that do not address the fake node's second IPv6 address.
#[test]
fn test_node_ports_ipv6() {
    let both = "[fd00:10:180::1]:80, [fd00:10:180::2:1]:80";
    for (test, addresses) in [
        ("TestNodePorts/ipv6", &["192.168.0.2/32", "2001:db8::1/128"][..]),
        (
            "TestNodePorts/ipv6, multiple nodeport-addresses",
            &["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64", "2001:db8:1::2/128"][..],
        ),
    ] {
        let mut c = fake_v6(addresses);
        c.services.push(service(
            "ns1",
            "svc1",
            ServiceType::NodePort,
            "fd00:172:30::41",
            &[("p80", TCP, 80, Some(3001))],
        ));
        slice(&mut c, &[ready("fd00:10:180::1", false), ready("fd00:10:180::2:1", true)], &[("p80", 80)]);
        run(
            test,
            &c,
            &[
                Case("pod to cluster IP", "fd00:10::2", TCP, "[fd00:172:30::41]:80", both, false),
                Case("external to nodePort", "2600:5200::1", TCP, "[2001:db8::1]:3001", both, true),
                Case("node to nodePort", "2001:db8::1", TCP, "[2001:db8::1]:3001", both, true),
            ],
        );
    }
}

#[test]
fn test_no_endpoints_reject() {
    let mut c = fake();
    let mut svc = service("ns1", "svc1", ServiceType::LoadBalancer, "172.30.0.41", &[("p80", TCP, 80, Some(3001))]);
    svc.external_ips = vec![ip("192.168.99.11")];
    svc.load_balancer_ingress = vec![ip("1.2.3.4")];
    c.services.push(svc);
    run(
        "TestNoEndpointsReject",
        &c,
        &[
            Case("pod to cluster IP with no endpoints", "10.0.0.2", TCP, "172.30.0.41:80", "REJECT", false),
            Case("external to external IP with no endpoints", "203.0.113.2", TCP, "192.168.99.11:80", "REJECT", false),
            Case("pod to NodePort with no endpoints", "10.0.0.2", TCP, "192.168.0.2:3001", "REJECT", false),
            Case("external to NodePort with no endpoints", "203.0.113.2", TCP, "192.168.0.2:3001", "REJECT", false),
            Case("pod to LoadBalancer IP with no endpoints", "10.0.0.2", TCP, "1.2.3.4:80", "REJECT", false),
            Case("external to LoadBalancer IP with no endpoints", "203.0.113.2", TCP, "1.2.3.4:80", "REJECT", false),
        ],
    );
}

/// `TestExternalTrafficPolicyLocal` / `…Cluster`'s Service with `policy`.
fn etp(policy: TrafficPolicy) -> Cluster {
    let mut c = fake();
    let mut svc = service("ns1", "svc1", ServiceType::LoadBalancer, "172.30.0.41", &[("p80", TCP, 80, Some(3001))]);
    svc.external_traffic_policy = policy;
    svc.external_ips = vec![ip("192.168.99.11")];
    svc.load_balancer_ingress = vec![ip("1.2.3.4")];
    if policy == TrafficPolicy::Local {
        svc.health_check_node_port = Some(30000);
    }
    c.services.push(svc);
    slice(&mut c, &[ready("10.180.0.1", false), ready("10.180.2.1", true)], &[("p80", 80)]);
    c
}

#[test]
fn test_external_traffic_policy_local() {
    let both = "10.180.0.1:80, 10.180.2.1:80";
    let local = "10.180.2.1:80";
    run(
        "TestExternalTrafficPolicyLocal",
        &etp(TrafficPolicy::Local),
        &[
            Case(
                "pod to cluster IP hits both endpoints, unmasqueraded",
                "10.0.0.2",
                TCP,
                "172.30.0.41:80",
                both,
                false,
            ),
            Case(
                "pod to external IP hits both endpoints, unmasqueraded",
                "10.0.0.2",
                TCP,
                "192.168.99.11:80",
                both,
                false,
            ),
            Case(
                "external to external IP hits only local endpoint, unmasqueraded",
                "203.0.113.2",
                TCP,
                "192.168.99.11:80",
                local,
                false,
            ),
            Case("pod to LB IP hits only both endpoints, unmasqueraded", "10.0.0.2", TCP, "1.2.3.4:80", both, false),
            Case(
                "external to LB IP hits only local endpoint, unmasqueraded",
                "203.0.113.2",
                TCP,
                "1.2.3.4:80",
                local,
                false,
            ),
            Case(
                "pod to NodePort hits both endpoints, unmasqueraded",
                "10.0.0.2",
                TCP,
                "192.168.0.2:3001",
                both,
                false,
            ),
            Case(
                "external to NodePort hits only local endpoint, unmasqueraded",
                "203.0.113.2",
                TCP,
                "192.168.0.2:3001",
                local,
                false,
            ),
        ],
    );
}

#[test]
fn test_external_traffic_policy_cluster() {
    let both = "10.180.0.1:80, 10.180.2.1:80";
    run(
        "TestExternalTrafficPolicyCluster",
        &etp(TrafficPolicy::Cluster),
        &[
            Case(
                "pod to cluster IP hits both endpoints, unmasqueraded",
                "10.0.0.2",
                TCP,
                "172.30.0.41:80",
                both,
                false,
            ),
            Case(
                "pod to external IP hits both endpoints, masqueraded",
                "10.0.0.2",
                TCP,
                "192.168.99.11:80",
                both,
                true,
            ),
            Case(
                "external to external IP hits both endpoints, masqueraded",
                "203.0.113.2",
                TCP,
                "192.168.99.11:80",
                both,
                true,
            ),
            Case("pod to LB IP hits both endpoints, masqueraded", "10.0.0.2", TCP, "1.2.3.4:80", both, true),
            Case("external to LB IP hits both endpoints, masqueraded", "203.0.113.2", TCP, "1.2.3.4:80", both, true),
            Case("pod to NodePort hits both endpoints, masqueraded", "10.0.0.2", TCP, "192.168.0.2:3001", both, true),
            Case(
                "external to NodePort hits both endpoints, masqueraded",
                "203.0.113.2",
                TCP,
                "192.168.0.2:3001",
                both,
                true,
            ),
        ],
    );
}

#[test]
fn test_internal_traffic_policy() {
    let subtests: [(&str, TrafficPolicy, [Ep; 3], &str); 4] = [
        (
            "internalTrafficPolicy is cluster",
            TrafficPolicy::Cluster,
            [ready("10.0.1.1", true), ready("10.0.1.2", false), ready("10.0.1.3", false)],
            "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80",
        ),
        (
            "internalTrafficPolicy is local and there is one local endpoint",
            TrafficPolicy::Local,
            [ready("10.0.1.1", true), ready("10.0.1.2", false), ready("10.0.1.3", false)],
            "10.0.1.1:80",
        ),
        (
            "internalTrafficPolicy is local and there are multiple local endpoints",
            TrafficPolicy::Local,
            [ready("10.0.1.1", true), ready("10.0.1.2", true), ready("10.0.1.3", false)],
            "10.0.1.1:80, 10.0.1.2:80",
        ),
        (
            "internalTrafficPolicy is local and there are no local endpoints",
            TrafficPolicy::Local,
            [ready("10.0.1.1", false), ready("10.0.1.2", false), ready("10.0.1.3", false)],
            "DROP",
        ),
    ];
    for (subtest, policy, endpoints, output) in subtests {
        let mut c = fake();
        let mut svc = service("ns1", "svc1", ServiceType::ClusterIP, "172.30.1.1", &[("", TCP, 80, None)]);
        svc.internal_traffic_policy = policy;
        c.services.push(svc);
        slice(&mut c, &endpoints, &[("", 80)]);
        let test = format!("TestInternalTrafficPolicy/{subtest}");
        run(&test, &c, &[Case("pod to ClusterIP", "10.0.0.2", TCP, "172.30.1.1:80", output, false)]);
        c.endpoint_slices.clear();
        run(&test, &c, &[Case("endpoints deleted", "10.0.0.2", TCP, "172.30.1.1:80", "REJECT", false)]);
    }
}

/// `TestTerminatingEndpointsTrafficPolicyLocal` / `…Cluster`: (subtest, endpoints, pod to
/// clusterIP, external to LB, external masq).
type Terminating = (&'static str, &'static [Ep], &'static str, &'static str, bool);

fn terminating(test: &str, policy: TrafficPolicy, subtests: &[Terminating]) {
    for (subtest, endpoints, to_cluster_ip, to_lb, masq) in subtests {
        let mut c = fake();
        let mut svc = service("ns1", "svc1", ServiceType::LoadBalancer, "172.30.1.1", &[("", TCP, 80, None)]);
        svc.external_traffic_policy = policy;
        svc.health_check_node_port = Some(30000);
        svc.load_balancer_ingress = vec![ip("1.2.3.4")];
        c.services.push(svc);
        slice(&mut c, endpoints, &[("", 80)]);
        let test = format!("{test}/{subtest}");
        let masq = *masq && !to_lb.contains("DROP") && !to_lb.contains("REJECT");
        run(
            &test,
            &c,
            &[
                Case("pod to clusterIP", "10.0.0.2", TCP, "172.30.1.1:80", to_cluster_ip, false),
                Case("external to LB", "203.0.113.2", TCP, "1.2.3.4:80", to_lb, masq),
            ],
        );
        c.endpoint_slices.clear();
        run(
            &test,
            &c,
            &[
                Case("pod to clusterIP after endpoints deleted", "10.0.0.2", TCP, "172.30.1.1:80", "REJECT", false),
                Case("external to LB after endpoints deleted", "203.0.113.2", TCP, "1.2.3.4:80", "REJECT", false),
            ],
        );
    }
}

#[test]
fn test_terminating_endpoints_traffic_policy_local() {
    terminating(
        "TestTerminatingEndpointsTrafficPolicyLocal",
        TrafficPolicy::Local,
        &[
            (
                "ready endpoints exist",
                &[
                    ("10.0.1.1", true, true, true, false),
                    ("10.0.1.2", true, true, true, false),
                    ("10.0.1.3", true, false, true, true),
                    ("10.0.1.4", true, false, false, true),
                    ("10.0.1.5", false, true, true, false),
                ],
                "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
                "10.0.1.1:80, 10.0.1.2:80",
                false,
            ),
            (
                "only terminating endpoints exist",
                &[
                    ("10.0.1.2", true, false, true, true),
                    ("10.0.1.3", true, false, true, true),
                    ("10.0.1.4", true, false, false, true),
                    ("10.0.1.5", false, true, true, false),
                ],
                "10.0.1.5:80",
                "10.0.1.2:80, 10.0.1.3:80",
                false,
            ),
            (
                "terminating endpoints on remote node",
                &[("10.0.1.5", false, false, true, true)],
                "10.0.1.5:80",
                "DROP",
                false,
            ),
            (
                "no usable endpoints on any node",
                &[("10.0.1.5", true, false, false, true), ("10.0.1.5", false, false, false, true)],
                "REJECT",
                "REJECT",
                false,
            ),
        ],
    );
}

#[test]
fn test_terminating_endpoints_traffic_policy_cluster() {
    terminating(
        "TestTerminatingEndpointsTrafficPolicyCluster",
        TrafficPolicy::Cluster,
        &[
            (
                "ready endpoints exist",
                &[
                    ("10.0.1.1", true, true, true, false),
                    ("10.0.1.2", true, true, true, false),
                    ("10.0.1.3", false, false, true, true),
                    ("10.0.1.4", false, false, false, true),
                    ("10.0.1.5", false, true, true, false),
                ],
                "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
                "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
                true,
            ),
            (
                "only terminating endpoints exist",
                &[
                    ("10.0.1.2", true, false, true, true),
                    ("10.0.1.3", true, false, true, true),
                    ("10.0.1.4", false, false, false, true),
                    ("10.0.1.5", false, false, true, true),
                ],
                "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
                "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
                true,
            ),
            (
                "terminating endpoints on remote node",
                &[("10.0.1.5", false, false, true, true)],
                "10.0.1.5:80",
                "10.0.1.5:80",
                true,
            ),
            (
                "no usable endpoints on any node",
                &[("10.0.1.5", true, false, false, true), ("10.0.1.5", false, false, false, true)],
                "REJECT",
                "REJECT",
                false,
            ),
        ],
    );
}

/// `TestInternalExternalMasquerade`: three LoadBalancer Services (eTP Cluster, eTP Local, iTP
/// Local) with a local and a remote endpoint each, under one of the test's four variants.
fn internal_external(masquerade_all: bool, detector: bool) -> Cluster {
    let mut c = fake();
    c.config.kube_proxy.masquerade_all = masquerade_all;
    if !detector {
        c.config.kube_proxy.detect_local_mode = DetectLocalMode::None;
    }
    let lbs = [
        ("ns1", "svc1", "172.30.0.41", 3001, "1.2.3.4"),
        ("ns2", "svc2", "172.30.0.42", 3002, "5.6.7.8"),
        ("ns3", "svc3", "172.30.0.43", 3003, "9.10.11.12"),
    ];
    let eps: [[&'static str; 2]; 3] =
        [["10.180.0.1", "10.180.1.1"], ["10.180.0.2", "10.180.1.2"], ["10.180.0.3", "10.180.1.3"]];
    for (i, (ns, name, cip, np, lb)) in lbs.into_iter().enumerate() {
        let mut svc = service(ns, name, ServiceType::LoadBalancer, cip, &[("p80", TCP, 80, Some(np))]);
        svc.load_balancer_ingress = vec![ip(lb)];
        match i {
            1 => {
                svc.external_traffic_policy = TrafficPolicy::Local;
                svc.health_check_node_port = Some(30002);
            }
            2 => svc.internal_traffic_policy = TrafficPolicy::Local,
            _ => {}
        }
        c.services.push(svc);
        slice(&mut c, &[ready(eps[i][0], true), ready(eps[i][1], false)], &[("p80", 80)]);
    }
    c
}

#[test]
fn test_internal_external_masquerade() {
    const S1: &str = "10.180.0.1:80, 10.180.1.1:80";
    const S2: &str = "10.180.0.2:80, 10.180.1.2:80";
    const S3: &str = "10.180.0.3:80, 10.180.1.3:80";
    let (pod, node, ext) = ("10.0.0.2", "192.168.0.2", "203.0.113.2");
    // (case, source, destination, output, masq) under `base`.
    let base: [(&str, &str, &str, &str, bool); 27] = [
        ("pod to ClusterIP", pod, "172.30.0.41:80", S1, false),
        ("pod to NodePort", pod, "192.168.0.2:3001", S1, true),
        ("pod to LB", pod, "1.2.3.4:80", S1, true),
        ("node to ClusterIP", node, "172.30.0.41:80", S1, true),
        ("node to NodePort", node, "192.168.0.2:3001", S1, true),
        ("node to LB", node, "1.2.3.4:80", S1, true),
        ("external to ClusterIP", ext, "172.30.0.41:80", S1, true),
        ("external to NodePort", ext, "192.168.0.2:3001", S1, true),
        ("external to LB", ext, "1.2.3.4:80", S1, true),
        ("pod to ClusterIP with eTP:Local", pod, "172.30.0.42:80", S2, false),
        ("pod to NodePort with eTP:Local", pod, "192.168.0.2:3002", S2, false),
        ("pod to LB with eTP:Local", pod, "5.6.7.8:80", S2, false),
        ("node to ClusterIP with eTP:Local", node, "172.30.0.42:80", S2, true),
        // Upstream sends this one to svc1's NodePort.
        ("node to NodePort with eTP:Local", node, "192.168.0.2:3001", S1, true),
        ("node to LB with eTP:Local", node, "5.6.7.8:80", S2, true),
        ("external to ClusterIP with eTP:Local", ext, "172.30.0.42:80", S2, true),
        ("external to NodePort with eTP:Local", ext, "192.168.0.2:3002", "10.180.0.2:80", false),
        ("external to LB with eTP:Local", ext, "5.6.7.8:80", "10.180.0.2:80", false),
        ("pod to ClusterIP with iTP:Local", pod, "172.30.0.43:80", "10.180.0.3:80", false),
        ("pod to NodePort with iTP:Local", pod, "192.168.0.2:3003", S3, true),
        ("pod to LB with iTP:Local", pod, "9.10.11.12:80", S3, true),
        ("node to ClusterIP with iTP:Local", node, "172.30.0.43:80", "10.180.0.3:80", true),
        ("node to NodePort with iTP:Local", node, "192.168.0.2:3003", S3, true),
        ("node to LB with iTP:Local", node, "9.10.11.12:80", S3, true),
        ("external to ClusterIP with iTP:Local", ext, "172.30.0.43:80", "10.180.0.3:80", true),
        ("external to NodePort with iTP:Local", ext, "192.168.0.2:3003", S3, true),
        ("external to LB with iTP:Local", ext, "9.10.11.12:80", S3, true),
    ];
    let to_cluster_ip_from_outside = [
        "node to ClusterIP",
        "node to ClusterIP with eTP:Local",
        "node to ClusterIP with iTP:Local",
        "external to ClusterIP",
        "external to ClusterIP with eTP:Local",
        "external to ClusterIP with iTP:Local",
    ];
    let pod_to_cluster_ip = ["pod to ClusterIP", "pod to ClusterIP with eTP:Local", "pod to ClusterIP with iTP:Local"];
    let pod_to_external_local = ["pod to NodePort with eTP:Local", "pod to LB with eTP:Local"];
    // (subtest, masqueradeAll, a local-traffic detector)
    for (subtest, masquerade_all, detector) in [
        ("base", false, true),
        ("no LocalTrafficDetector", false, false),
        ("masqueradeAll", true, true),
        ("masqueradeAll, no LocalTrafficDetector", true, false),
    ] {
        let cases: Vec<Case> = base
            .iter()
            .map(|&(name, src, dst, output, masq)| {
                // The test's overrides, as its comments give them.
                let masq = if masquerade_all && pod_to_cluster_ip.contains(&name) {
                    true
                } else if !detector && !masquerade_all && to_cluster_ip_from_outside.contains(&name) {
                    false
                } else {
                    masq
                };
                let output = if !detector && pod_to_external_local.contains(&name) { "10.180.0.2:80" } else { output };
                Case(name, src, TCP, dst, output, masq)
            })
            .collect();
        run(&format!("TestInternalExternalMasquerade/{subtest}"), &internal_external(masquerade_all, detector), &cases);
    }
}
