//! Hand-written listings for the corners real nodes have and kube-proxy never writes: several
//! tables on one hook, a policy drop in someone else's table, nat chains racing, expressions
//! svcsim does not evaluate, a `numgen` with a gap, and text that is no listing at all.

use std::net::IpAddr;

use super::ListedRuleset;
use crate::dataplane::{FirstPacket, FirstPacketVerdict};
use crate::dump::Facts;
use crate::net::{Header, SockAddr};

fn sock(s: &str) -> SockAddr {
    s.parse::<std::net::SocketAddrV4>().unwrap().into()
}

fn facts() -> Facts {
    Facts { node_ips: Some(vec!["10.240.0.4".parse::<IpAddr>().unwrap()]), ..Facts::default() }
}

fn listed(text: &str, facts: Facts) -> ListedRuleset {
    ListedRuleset::parse(text, facts).unwrap_or_else(|e| panic!("{e:?}"))
}

fn first(d: &ListedRuleset, src: &str, dst: &str) -> (FirstPacket, Vec<String>) {
    let walks = d.walk(Header::tcp(sock(src), sock(dst)));
    let undecided = walks.iter().filter_map(|w| w.undecided.clone()).collect();
    (FirstPacket::of(&walks.into_iter().map(|w| w.decision).collect::<Vec<_>>()), undecided)
}

/// kube-proxy's shape, cut down: a Service with two endpoints behind a numgen.
const SERVICE: &str = r#"table ip kube-proxy {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.0.0.10 . tcp . 80 : goto service-AAAAAAAA-default/web/tcp/http }
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
	}

	chain service-AAAAAAAA-default/web/tcp/http {
		numgen random mod 2 vmap { 0 : goto endpoint-BBBBBBBB-default/web/tcp/http__10.244.0.2/8080, 1 : goto endpoint-CCCCCCCC-default/web/tcp/http__10.244.1.2/8080 }
	}

	chain endpoint-BBBBBBBB-default/web/tcp/http__10.244.0.2/8080 {
		meta l4proto tcp dnat to 10.244.0.2:8080
	}

	chain endpoint-CCCCCCCC-default/web/tcp/http__10.244.1.2/8080 {
		meta l4proto tcp dnat to 10.244.1.2:8080
	}
}
"#;

#[test]
fn a_numgen_is_walked_once_per_pick_and_chains_name_their_service() {
    let d = listed(SERVICE, facts());
    let (r, undecided) = first(&d, "10.244.0.5:40000", "10.0.0.10:80");
    assert_eq!(r.endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["10.244.0.2:8080", "10.244.1.2:8080"]);
    assert!(undecided.is_empty(), "{undecided:?}");
    let services = d.services();
    assert_eq!(services["service-AAAAAAAA-default/web/tcp/http"], "default/web:http");
    assert_eq!(services["endpoint-CCCCCCCC-default/web/tcp/http__10.244.1.2/8080"], "default/web:http");
}

#[test]
fn a_drop_policy_in_another_table_drops_what_kube_proxy_dnatted() {
    let firewall = "table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tct state established,related accept\n\t\tiifname \"cbr0\" accept\n\t}\n}\n";
    let d = listed(&format!("{SERVICE}{firewall}"), Facts { in_interface: Some("eth0".into()), ..facts() });
    let (r, _) = first(&d, "198.51.100.79:40000", "10.0.0.10:80");
    assert_eq!(r.verdict, FirstPacketVerdict::Drop);
    assert_eq!(r.reason.as_deref(), Some("forward's policy is drop: no rule accepted the packet"));
    assert!(r.rules.iter().any(|rule| rule == "inet filter forward: policy drop"), "{r:#?}");
    // An accept in one table does not spare the packet another table's drop, but from the
    // bridge the firewall accepts, and the walk goes on.
    let d = listed(&format!("{SERVICE}{firewall}"), Facts { in_interface: Some("cbr0".into()), ..facts() });
    let (r, _) = first(&d, "10.244.0.5:40000", "10.0.0.10:80");
    assert_eq!(r.verdict, FirstPacketVerdict::Dnat);
}

/// Netfilter runs every nat chain of a hook inside its one NAT hook, at `dstnat` in prerouting,
/// so a filter chain at `mangle` (−150) still sees the address a nat chain at −190 will
/// rewrite; and once one nat chain has NATed the connection, the next is not consulted
/// (checked against the kernel by `cargo xtask test`, docs/fidelity.md#nftables-dumps).
#[test]
fn nat_chains_run_at_the_nat_hook_and_the_first_nat_wins() {
    let text = r#"table ip a {
	chain nat-early {
		type nat hook prerouting priority -190; policy accept;
		ip daddr 10.0.0.1 meta l4proto tcp dnat to 10.244.0.9:8080
	}
	chain nat-late {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.244.0.9 meta l4proto tcp dnat to 10.244.0.7:8080
	}
	chain watch {
		type filter hook prerouting priority mangle; policy accept;
		ip daddr 10.244.0.9 drop
	}
}
"#;
    let d = listed(text, facts());
    let (r, undecided) = first(&d, "198.51.100.79:40000", "10.0.0.1:80");
    assert!(undecided.is_empty(), "{undecided:?}");
    assert_eq!(r.verdict, FirstPacketVerdict::Dnat, "{r:#?}");
    assert_eq!(r.endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["10.244.0.9:8080"]);
}

#[test]
fn what_the_listing_cannot_say_is_named_not_guessed() {
    let text = "table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\toifname \"docker0\" drop\n\t\tct state invalid xt match nfacct counter packets 0 bytes 0 drop\n\t\tmeta skuid 0 queue num 1\n\t}\n}\n";
    let d = listed(text, facts());
    let (_, undecided) = first(&d, "198.51.100.79:40000", "10.244.0.9:80");
    assert_eq!(
        undecided,
        [
            "line 4: oifname \"docker0\": the interface the packet leaves by is not in the listing (give --out-interface)"
        ]
    );
    let d = listed(text, Facts { out_interface: Some("cbr0".into()), ..facts() });
    let (_, undecided) = first(&d, "198.51.100.79:40000", "10.244.0.9:80");
    // `ct state invalid` is false for a first packet, so iptables-nft's `xt match` never
    // matters; the unknown `meta skuid` stops the walk by name.
    assert_eq!(undecided, ["line 6: `meta skuid 0` is a match svcsim does not evaluate"]);
    let d = ListedRuleset::parse(SERVICE, Facts::default()).unwrap();
    let (_, undecided) = first(&d, "198.51.100.79:40000", "10.0.0.10:80");
    assert_eq!(
        undecided,
        [
            "whether 10.244.0.2 is this node's own address decides input or forward: give --node-ip",
            "whether 10.244.1.2 is this node's own address decides input or forward: give --node-ip",
        ]
    );
}

#[test]
fn what_kube_proxy_would_not_write_is_flagged() {
    let text = SERVICE
        .replace(
            "numgen random mod 2 vmap { 0 : goto endpoint-BBBBBBBB-default/web/tcp/http__10.244.0.2/8080, 1",
            "numgen random mod 3 vmap { 0 : goto endpoint-BBBBBBBB-default/web/tcp/http__10.244.0.2/8080, 1",
        )
        .replace("\t\tjump services\n", "\t\ttcp dport 22 accept\n");
    let flags = listed(&text, facts()).flags();
    assert_eq!(
        flags,
        [
            "ip kube-proxy: nat-prerouting has no jump to services: no Service is reachable from the network or a pod",
            "ip kube-proxy: nat-output has no jump to services: no Service is reachable from the node's own processes",
            "line 9: a rule kube-proxy does not write, in its chain nat-prerouting: tcp dport 22 accept",
            "line 17: service-AAAAAAAA-default/web/tcp/http (default/web:http)'s numgen picks 2, which its map does not list: the packet falls through, an order kube-proxy does not write",
        ]
    );
}

#[test]
fn text_that_is_no_listing_is_an_error_with_its_line() {
    let e = ListedRuleset::parse(
        "table ip t {\n\tchain c {\n\t\ttype nat hook prerouting priority soon; policy accept;\n\t}\n}\n",
        facts(),
    )
    .err()
    .unwrap();
    assert_eq!(e[0].to_string(), "line 3: `soon` is not a priority");
    let e = ListedRuleset::parse("table ipx t {\n}\n", facts()).err().unwrap();
    assert_eq!(e[0].to_string(), "line 1: ipx is not a table family (ip, ip6, inet, arp, bridge, netdev)");
}
