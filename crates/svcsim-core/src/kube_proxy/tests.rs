//! kube-proxy conformance: the rules svcsim programs, compared with kube-proxy's own goldens, and
//! first-packet walks for kube-proxy's packet-flow cases.

use std::collections::BTreeMap;
use std::net::IpAddr;

use expect_test::{Expect, expect};

pub(crate) mod overall;

use super::*;
use crate::cluster::*;
use crate::dataplane::{Cause, NodeNet, Origin, Verdict};
use crate::net::{Header, Protocol, SockAddr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SockAddr {
    s.parse().unwrap()
}

/// kube-proxy's `TestOnlyLocalExternalIPs` fixture: a selector-less NodePort Service with
/// `externalTrafficPolicy: Local`, an externalIP, and two endpoints, one on this node.
fn only_local_external_ips() -> (Cluster, NodeId) {
    // azure-cni: the fixture's endpoint 10.180.2.1 would be kubenet's cbr0 address.
    let config = ClusterConfig {
        cluster_cidr: "10.0.0.0/8".parse().unwrap(),
        network_plugin: NetworkPlugin::AzureCni,
        kube_proxy: KubeProxyConfig { random_fully: false, ..KubeProxyConfig::default() },
        ..ClusterConfig::default()
    };
    let mut cluster = Cluster::with_nodes(config, 1);
    cluster.nodes[0].pod_cidr = "10.180.2.0/24".parse().unwrap();
    cluster.services.push(Service {
        name: "svc1".into(),
        namespace: "ns1".into(),
        type_: ServiceType::NodePort,
        selector: BTreeMap::new(),
        ports: vec![ServicePort {
            name: "p80".into(),
            port: 80,
            target_port: TargetPort::Number(80),
            node_port: None,
            protocol: Protocol::Tcp,
        }],
        cluster_ip: Some(ip("172.30.0.41")),
        external_traffic_policy: TrafficPolicy::Local,
        internal_traffic_policy: TrafficPolicy::Cluster,
        health_check_node_port: None,
        session_affinity: None,
        external_ips: vec![ip("192.168.99.11")],
        load_balancer_source_ranges: vec![],
        load_balancer_ingress: vec![],
        ip_family_policy: IpFamilyPolicy::SingleStack,
        ip_families: vec![],
        secondary_cluster_ip: None,
    });
    let ep = |addr: &str, node: Option<NodeId>| SliceEndpoint {
        ip: ip(addr),
        node,
        ready: true,
        serving: true,
        terminating: false,
    };
    cluster.endpoint_slices.push(EndpointSlice {
        address_type: crate::net::IpFamily::Ipv4,
        service: ServiceId(0),
        endpoints: vec![ep("10.180.0.1", None), ep("10.180.2.1", Some(NodeId(0)))],
        ports: vec![("p80".into(), 80)],
    });
    (cluster, NodeId(0))
}

#[test]
fn matches_kube_proxy_golden_for_only_local_external_ips() {
    let (cluster, node) = only_local_external_ips();
    // kube-proxy's golden, plus the KUBE-PROXY-FIREWALL chain that current releases always declare.
    expect![[r#"
        *filter
        :KUBE-NODEPORTS - [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-EXTERNAL-SERVICES - [0:0]
        :KUBE-FIREWALL - [0:0]
        :KUBE-FORWARD - [0:0]
        :KUBE-PROXY-FIREWALL - [0:0]
        -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
        -A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        COMMIT
        *nat
        :KUBE-NODEPORTS - [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
        :KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]
        :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
        :KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]
        -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
        -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O
        -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
        -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O
        -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
        -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O
        -A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
        -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
        -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
        -A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ
        -A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80
        -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
        -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ
        -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
        -A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
        COMMIT
    "#]]
    .assert_eq(&program(&cluster, node).restore(&[]));
}

/// Renders every outcome of a first packet as kube-proxy's packet-flow tests state them:
/// the verdict, the endpoints, whether it was masqueraded.
#[track_caller]
fn check_flow(cluster: &Cluster, node: NodeId, origin: Origin, src: &str, dst: &str, expect: Expect) {
    let rules = program(cluster, node);
    let net = NodeNet::of(cluster, node);
    let pkt = Header::tcp(sock(src), sock(dst));
    let decisions = every_outcome(&rules, &net, origin, pkt);
    let lines: Vec<String> = decisions
        .iter()
        .map(|d| {
            let comment = || d.path.last().and_then(|r| r.comment()).unwrap_or_default().to_string();
            let verdict = match &d.verdict {
                Verdict::Accept => match d.dnat {
                    Some(to) => format!("DNAT {to}"),
                    None => "ACCEPT (no service rule)".to_string(),
                },
                Verdict::Drop(_) => format!("DROP \"{}\"", comment()),
                Verdict::Reject(_) => format!("REJECT \"{}\"", comment()),
            };
            format!("{verdict}{} => {}", if d.snat.is_some() { " +MASQUERADE" } else { "" }, d.after)
        })
        .collect();
    expect.assert_eq(&(lines.join("\n") + "\n"));
}

#[test]
fn packet_flows_of_only_local_external_ips() {
    let (cluster, node) = only_local_external_ips();
    // kube-proxy: "cluster IP hits both endpoints", unmasqueraded from a pod.
    check_flow(
        &cluster,
        node,
        Origin::Routed,
        "10.0.0.2:40000",
        "172.30.0.41:80",
        expect![[r#"
        DNAT 10.180.0.1:80 => 10.0.0.2:40000 > 10.180.0.1:80
        DNAT 10.180.2.1:80 => 10.0.0.2:40000 > 10.180.2.1:80
    "#]],
    );
    // kube-proxy: "external IP hits only local endpoint, unmasqueraded".
    check_flow(
        &cluster,
        node,
        Origin::Routed,
        "203.0.113.2:40000",
        "192.168.99.11:80",
        expect![[r#"
        DNAT 10.180.2.1:80 => 203.0.113.2:40000 > 10.180.2.1:80
    "#]],
    );
    // An off-cluster source reaching the ClusterIP is masqueraded; with azure-cni the node IP is
    // the source toward local and remote endpoints alike (docs/fidelity.md#snat-source-address).
    check_flow(
        &cluster,
        node,
        Origin::Routed,
        "203.0.113.2:40000",
        "172.30.0.41:80",
        expect![[r#"
        DNAT 10.180.0.1:80 +MASQUERADE => 10.240.0.4:40000 > 10.180.0.1:80
        DNAT 10.180.2.1:80 +MASQUERADE => 10.240.0.4:40000 > 10.180.2.1:80
    "#]],
    );
}

#[test]
fn a_jump_loop_drops_the_packet_and_names_the_loop() {
    // kube-proxy never writes one and the kernel refuses one (ELOOP); a hand-made ruleset may.
    let mut rules = Ruleset::default();
    let input = ChainName::new(chains::INPUT);
    rules.append(std::rc::Rc::new(Rule::new(Table::Filter, &input, None, vec![], Target::Jump(input.clone()))));
    let net = NodeNet { node_ip: ip("10.240.0.4"), bridge_ip: None, pod_cidr: "10.244.0.0/24".parse().unwrap() };
    let pkt = Header::tcp(sock("203.0.113.2:40000"), sock("10.240.0.4:80"));
    let d = evaluate(&rules, &net, Origin::Routed, pkt, &mut ForcedPick::new(0));
    assert_eq!(d.verdict, Verdict::Drop(Cause::JumpLoop("INPUT".into())));
    let report = crate::dataplane::FirstPacket::of(&[d]);
    assert_eq!(report.reason.as_deref(), Some("jump loop through INPUT: the kernel would refuse this table (ELOOP)"));
}

/// kube-proxy's IPv6 fake (`NewFakeProxier` over `NewIPv6Fake`): test-node at 2001:db8::1, pod
/// CIDR fd00:10::/64, and `TestNodePorts`' Service ns1/svc1 (NodePort 3001, clusterIP
/// fd00:172:30::41) with one remote endpoint and one on this node.
fn node_ports_v6(node_port_addresses: Option<&[&str]>) -> Cluster {
    let mut kube_proxy = KubeProxyConfig::default();
    if let Some(cidrs) = node_port_addresses {
        kube_proxy.node_port_addresses = NodePortAddresses::Cidrs(cidrs.iter().map(|c| c.parse().unwrap()).collect());
    }
    let config = ClusterConfig {
        cluster_cidr: "fd00:10::/64".parse().unwrap(),
        service_cidr: "fd00:172:30::/112".parse().unwrap(),
        network_plugin: NetworkPlugin::AzureCni,
        kube_proxy,
        ..ClusterConfig::default()
    };
    let mut cluster = Cluster::with_nodes(config, 1);
    cluster.nodes[0].ip = ip("2001:db8::1");
    let mut svc = Service::new("svc1", ServiceType::NodePort, BTreeMap::new(), 80, 80);
    svc.namespace = "ns1".into();
    svc.ports[0].name = "p80".into();
    svc.ports[0].node_port = Some(3001);
    svc.cluster_ip = Some(ip("fd00:172:30::41"));
    cluster.services.push(svc);
    let ep = |addr: &str, node| SliceEndpoint { ip: ip(addr), node, ready: true, serving: true, terminating: false };
    cluster.endpoint_slices.push(EndpointSlice {
        address_type: crate::net::IpFamily::Ipv6,
        service: ServiceId(0),
        endpoints: vec![ep("fd00:10:180::1", None), ep("fd00:10:180::2:1", Some(NodeId(0)))],
        ports: vec![("p80".into(), 80)],
    });
    cluster
}

/// What kube-proxy's tracer reports: the endpoints joined by `, ` (empty when no service rule
/// matched), and whether the packet was masqueraded.
fn trace(cluster: &Cluster, src: &str, dst: &str) -> (String, bool) {
    let rules = program(cluster, NodeId(0));
    let net = NodeNet::of(cluster, NodeId(0));
    let src = SockAddr::new(ip(src), 40000);
    let decisions = every_outcome(&rules, &net, Origin::of(&net, src.ip), Header::tcp(src, sock(dst)));
    let endpoints: Vec<String> = decisions.iter().filter_map(|d| d.dnat).map(|a| a.to_string()).collect();
    (endpoints.join(", "), decisions.iter().any(|d| d.marked))
}

/// `TestNodePorts`' three IPv6 subtests, verbatim (`pkg/proxy/iptables/proxier_test.go`): name,
/// source, destination, endpoints, masquerade. The cases sent to the fake node's second IPv6
/// address, 2001:db8:1::2, are left out: an svcsim node has one address per family.
#[test]
fn test_node_ports_ipv6() {
    let both = "[fd00:10:180::1]:80, [fd00:10:180::2:1]:80";
    let cases = [
        ("pod to cluster IP", "fd00:10::2", "[fd00:172:30::41]:80", both, false),
        ("external to nodePort", "2600:5200::1", "[2001:db8::1]:3001", both, true),
        ("node to nodePort", "2001:db8::1", "[2001:db8::1]:3001", both, true),
        ("localhost to nodePort is ignored", "::1", "[::1]:3001", "", false),
    ];
    let multiple = ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"];
    let mut wrong = Vec::new();
    for (test, addresses) in [
        ("ipv6, localhost-nodeports enabled", None),
        ("ipv6, localhost-nodeports disabled", None),
        ("ipv6, localhost-nodeports disabled, multiple nodeport-addresses", Some(&multiple[..])),
    ] {
        let cluster = node_ports_v6(addresses);
        for (name, src, dst, output, masq) in cases {
            let got = trace(&cluster, src, dst);
            if got != (output.to_string(), masq) {
                wrong.push(format!("{test} / {name}: expected {output:?} masq {masq}, got {got:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The IPv6 side's rules differ from IPv4's only where kube-proxy's do: no NodePorts on ::1, and
/// no localnet-blocking rule (it exists for `route_localnet`, an IPv4 setting).
#[test]
fn the_ipv6_nodeports_jump_leaves_out_loopback() {
    let rules = program(&node_ports_v6(None), NodeId(0)).restore(&[]);
    let tail: Vec<&str> = rules.lines().filter(|l| l.contains("kubernetes service nodeports")).collect();
    expect![[r#"-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS"#]]
    .assert_eq(&tail.join("\n"));
    assert!(!rules.contains("block incoming localnet connections"), "{rules}");
    assert!(rules.contains("-j DNAT --to-destination [fd00:10:180::2:1]:80"), "{rules}");
}
