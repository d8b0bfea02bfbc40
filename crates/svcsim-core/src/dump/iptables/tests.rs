//! Hand-written dumps for the corners real nodes have and kube-proxy never writes: `-m set`,
//! targets svcsim does not evaluate, a cascade in the wrong order, missing jumps, and text that
//! is no dump at all.

use std::net::IpAddr;

use expect_test::expect;

use super::*;
use crate::dataplane::{FirstPacket, Verdict};
use crate::dump::{Facts, Ipsets};
use crate::net::{Header, SockAddr};

fn sock(s: &str) -> SockAddr {
    s.parse::<std::net::SocketAddrV4>().unwrap().into()
}

fn node_ips() -> Option<Vec<IpAddr>> {
    Some(vec!["10.240.0.4".parse().unwrap()])
}

fn dump(text: &str, facts: Facts) -> SavedRuleset {
    SavedRuleset::parse(text, facts).unwrap_or_else(|e| panic!("{e:?}"))
}

fn first(d: &SavedRuleset, src: &str, dst: &str) -> (FirstPacket, Vec<String>) {
    let walks = d.walk(Header::tcp(sock(src), sock(dst)));
    let undecided = walks.iter().filter_map(|w| w.undecided.clone()).collect();
    (FirstPacket::of(&walks.into_iter().map(|w| w.decision).collect::<Vec<_>>()), undecided)
}

const SERVICE: &str = r#"*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.0.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -m comment --comment "default/web:http -> 10.244.0.2:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
-A KUBE-SVC-A -m comment --comment "default/web:http -> 10.244.1.2:8080" -j KUBE-SEP-2
-A KUBE-SEP-1 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SEP-2 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.2:8080
COMMIT
"#;

#[test]
fn a_random_cascade_is_walked_both_ways_and_its_chains_name_their_service() {
    let d = dump(SERVICE, Facts { node_ips: node_ips(), ..Facts::default() });
    let (r, undecided) = first(&d, "10.244.0.5:40000", "10.0.0.10:80");
    assert_eq!(r.endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["10.244.0.2:8080", "10.244.1.2:8080"]);
    assert!(undecided.is_empty(), "{undecided:?}");
    let services = d.services();
    assert_eq!(services.get("KUBE-SVC-A").map(String::as_str), Some("default/web:http"));
    assert_eq!(services.get("KUBE-SEP-2").map(String::as_str), Some("default/web:http"));
    assert!(d.flags().is_empty(), "{:?}", d.flags());
}

#[test]
fn a_cascade_whose_last_pick_is_random_is_flagged_and_can_fall_through() {
    let text = SERVICE.replace(
        r#"-A KUBE-SVC-A -m comment --comment "default/web:http -> 10.244.1.2:8080" -j KUBE-SEP-2"#,
        r#"-A KUBE-SVC-A -m comment --comment "default/web:http -> 10.244.1.2:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2"#,
    );
    let d = dump(&text, Facts { node_ips: node_ips(), ..Facts::default() });
    let walks = d.walk(Header::tcp(sock("10.244.0.5:40000"), sock("10.0.0.10:80")));
    assert_eq!(walks.len(), 3, "pick 1, pick 2, or neither");
    assert!(walks.iter().any(|w| w.decision.dnat.is_none()), "one path falls through every pick");
    expect![[r#"
        [
            "line 12: KUBE-SVC-A (default/web:http)'s last endpoint rule is random: a packet can fall through every pick, an order kube-proxy does not write",
        ]
    "#]]
    .assert_debug_eq(&d.flags());
}

#[test]
fn a_missing_jump_and_an_external_chain_without_masquerade_are_flagged() {
    let text = SERVICE
        .replace("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n", "")
        .replace(":KUBE-SEP-1 - [0:0]", ":KUBE-SEP-1 - [0:0]\n:KUBE-EXT-A - [0:0]")
        .replace("COMMIT", "-A KUBE-EXT-A -j KUBE-SVC-A\n-A KUBE-SERVICES -i eth9 -j ACCEPT\nCOMMIT");
    let d = dump(&text, Facts::default());
    expect![[r#"
        [
            "nat PREROUTING has no jump to KUBE-SERVICES: no Service is reachable from the network or a pod",
            "KUBE-EXT-A (default/web:http) has no masquerade rule (-j KUBE-MARK-MASQ) and no Local chain: under Cluster kube-proxy writes one, so this Service's external traffic keeps the client's address",
            "line 16: a rule kube-proxy does not write, in its chain KUBE-SERVICES: -A KUBE-SERVICES -i eth9 -j ACCEPT",
        ]
    "#]]
    .assert_debug_eq(&d.flags());
}

#[test]
fn a_set_match_needs_the_ipset_file_and_is_then_decided() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set BLOCKED src -j DROP\nCOMMIT\n";
    let undecided =
        first(&dump(text, Facts { node_ips: node_ips(), ..Facts::default() }), "192.0.2.7:40000", "10.240.0.4:22").1;
    expect![[r#"
        [
            "line 3: -m set --match-set BLOCKED: the set's members are not in the dump (give --ipset)",
        ]
    "#]]
    .assert_debug_eq(&undecided);
    let sets =
        Ipsets::parse("create BLOCKED hash:net family inet hashsize 1024 maxelem 65536\nadd BLOCKED 192.0.2.0/24\n")
            .unwrap();
    let d = dump(text, Facts { node_ips: node_ips(), ipsets: Some(sets), ..Facts::default() });
    let walks = d.walk(Header::tcp(sock("192.0.2.7:40000"), sock("10.240.0.4:22")));
    assert!(matches!(walks[0].decision.verdict, Verdict::Drop(_)), "{walks:?}");
    assert_eq!(
        FirstPacket::of(&[walks[0].decision.clone()]).reason.as_deref(),
        Some("line 3: -A INPUT -m set --match-set BLOCKED src -j DROP")
    );
    let walks = d.walk(Header::tcp(sock("198.51.100.1:40000"), sock("10.240.0.4:22")));
    assert_eq!((walks[0].decision.verdict.clone(), walks[0].undecided.clone()), (Verdict::Accept, None));
}

#[test]
fn targets_and_matches_svcsim_does_not_evaluate_stop_the_walk_by_name() {
    let text = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 80 -m physdev --physdev-is-bridged -j ACCEPT\n-A PREROUTING -p tcp -m tcp --dport 81 -j CONNMARK --set-mark 1\nCOMMIT\n";
    let d = dump(text, Facts { node_ips: node_ips(), ..Facts::default() });
    let facts = |port| first(&d, "192.0.2.7:40000", &format!("10.240.0.4:{port}")).1;
    expect![[r#"
        (
            [
                "line 3: -m physdev --physdev-is-bridged is a match svcsim does not evaluate",
            ],
            [
                "line 4: -j CONNMARK --set-mark 1 is a target svcsim does not evaluate",
            ],
            [],
        )
    "#]]
    .assert_debug_eq(&(facts(80), facts(81), facts(82)));
}

#[test]
fn a_goto_returns_past_its_chain_and_marks_are_tracked() {
    let text = "*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j MARK --set-xmark 0x4000/0x4000\n-A FORWARD -g A\n-A FORWARD -j ACCEPT\n-A A -m mark --mark 0x4000/0x4000 -j B\n-A B -j RETURN\nCOMMIT\n";
    let d = dump(text, Facts { node_ips: node_ips(), ..Facts::default() });
    let (r, undecided) = first(&d, "10.244.0.5:40000", "10.244.1.2:8080");
    // The goto's chain returned, so FORWARD ends there: its policy, not its ACCEPT.
    assert_eq!((r.verdict.to_string(), undecided.len()), ("DROP".into(), 0));
    assert_eq!(r.reason.as_deref(), Some("FORWARD's policy is DROP: no rule accepted the packet"));
}

#[test]
fn text_that_is_no_dump_is_refused_line_by_line() {
    let errors = SavedRuleset::parse(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"open -j ACCEPT\n-A INPUT -x\nhello\n:OUTPUT MAYBE [0:0]\n",
        Facts::default(),
    )
    .err()
    .unwrap();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    expect![[r#"
        [
            "line 3: a quote is not closed",
            "line 4: \"-x\" is not an option iptables-save writes",
            "line 5: \"hello\" is not iptables-save output (tables, :chains, -A rules, COMMIT)",
            "line 6: chain OUTPUT: \"MAYBE\" is not a policy (ACCEPT, DROP or -)",
        ]
    "#]]
    .assert_debug_eq(&text);
    let empty = SavedRuleset::parse("", Facts::default()).err().unwrap();
    assert_eq!(empty[0].to_string(), "line 1: no tables: this is not iptables-save output");
}
