//! `svcsim trace --iptables-save` and `--nft-ruleset`, on dumps the real `iptables-save` and
//! `nft list ruleset` printed (`tests/dumps/`, made by `cargo xtask test`'s kernel lab from what
//! `svcsim rules` prints, alone and with Docker's, a CNI's and a firewall's rules): on
//! kube-proxy's own chains its answer is `svcsim packet`'s, and around them it walks everyone
//! else's rules as the kernel does.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use svcsim_core::cluster::{NodeId, ProxyMode};
use svcsim_core::dataplane::{FirstPacket, NodeNet, Origin, RulesText};
use svcsim_core::dump::{DumpedRuleset, Facts, Format};
use svcsim_core::manifest::{self, Overrides};
use svcsim_core::net::IpFamily;
use svcsim_core::net::{Header, SockAddr};
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn svcsim(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("svcsim").unwrap().current_dir(root()).args(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = svcsim(&[args, &["--format", "json"]].concat());
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap()
}

const DUMPS: &str = "crates/svcsim-cli/tests/dumps/iptables";

/// (dump, scenario, node, time, `--node-ip`, packets as (src, dst)).
type Case =
    (&'static str, &'static str, &'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

/// The same first packets through `svcsim packet` on the scenario and `svcsim trace` on the
/// node's dump: the same verdict, endpoints, masquerade and reason, and as many rules.
#[test]
fn on_kube_proxys_own_chains_trace_answers_as_packet_does() {
    let cases: &[Case] = &[
        (
            "aks-blog-node-0.txt",
            "scenarios/aks-blog.yaml",
            "node-0",
            "0s",
            "10.240.0.4,10.244.0.1",
            &[
                ("198.51.100.79:40000", "203.0.113.10:80"),
                ("10.244.0.5:40000", "10.0.223.151:80"),
                ("198.51.100.79:40000", "10.240.0.4:32547"),
                ("10.240.0.4:40000", "10.0.223.151:80"),
                ("10.244.0.5:40000", "10.0.223.151:81"),
            ],
        ),
        (
            "aks-blog-switch-node-1-100s.txt",
            "scenarios/aks-blog-switch.yaml",
            "node-1",
            "100s",
            "10.240.0.5,10.244.1.1",
            &[("198.51.100.79:40000", "203.0.113.10:80"), ("10.244.1.5:40000", "10.0.223.151:80")],
        ),
    ];
    for (dump, scenario, node, at, node_ips, packets) in cases {
        let dump = format!("{DUMPS}/{dump}");
        for (src, dst) in *packets {
            let packet = json(&["packet", scenario, "--node", node, "--at", at, "--src", src, "--dst", dst]);
            let trace = json(&["trace", "--iptables-save", &dump, "--src", src, "--dst", dst, "--node-ip", node_ips]);
            for key in ["verdict", "endpoints", "masquerade", "reason"] {
                assert_eq!(trace[key], packet[key], "{dump} {src} > {dst}: {key}\n{trace:#}\n{packet:#}");
            }
            let count = |v: &Value| v["rules"].as_array().unwrap().len();
            assert_eq!(count(&trace), count(&packet), "{dump} {src} > {dst}\n{trace:#}\n{packet:#}");
            assert_eq!(trace["undecided"], serde_json::json!([]), "{dump} {src} > {dst}");
            assert_eq!(trace["unusual"], serde_json::json!([]), "{dump}: kube-proxy's own rules are not unusual");
        }
    }
}

/// kubernetes/kubernetes#40182: Docker sets FORWARD's policy to DROP, and a pod's connection to
/// a ClusterIP, DNATed to a pod, is forwarded but no rule accepts it: dropped by the policy. A
/// CNI that accepts its pods' traffic in FORWARD lets it through.
#[test]
fn dockers_forward_policy_drops_pod_to_cluster_ip_traffic_until_the_cni_accepts_it() {
    let args = |dump: &str| -> Vec<String> {
        ["trace", "--iptables-save", &format!("{DUMPS}/{dump}"), "--src", "10.244.0.5", "--dst", "10.0.223.151:80"]
            .iter()
            .map(|s| s.to_string())
            .chain(
                ["--node-ip", "10.240.0.4,10.244.0.1", "--in-interface", "cbr0", "--out-interface", "cbr0"]
                    .map(String::from),
            )
            .collect()
    };
    let docker = args("aks-blog-node-0-docker.txt");
    let (code, text, _) = svcsim(&docker.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("first packet 10.244.0.5:40000 > 10.0.223.151:80 on crates/svcsim-cli/tests/dumps/iptables/aks-blog-node-0-docker.txt: DROP (\"FORWARD's policy is DROP: no rule accepted the packet\")"),
        "{text}"
    );
    assert!(text.contains("-t filter -A FORWARD -j DOCKER-ISOLATION-STAGE-1\n"), "{text}");
    assert!(text.contains("    # default/node-service"), "kube-proxy's chains name their Service:\n{text}");
    let cni = args("aks-blog-node-0-docker-cni.txt");
    let v = json(&cni.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(v["verdict"], "DNAT", "{v:#}");
    assert!(
        v["rules"].as_array().unwrap().iter().any(|r| r == "-t filter -A CNI-FORWARD -s 10.244.0.0/16 -j ACCEPT"),
        "{v:#}"
    );
    assert_eq!(v["services"]["KUBE-SVC-IXNP3UPK7A3TOQ6U"], "default/node-service");
}

/// A dump does not say which addresses are the node's, nor the packet's interfaces: without
/// them the walk stops at the first match that needs one, and says which option gives it.
#[test]
fn what_the_dump_cannot_say_is_named_not_guessed() {
    let dump = format!("{DUMPS}/aks-blog-node-0-docker.txt");
    let v = json(&["trace", "--iptables-save", &dump, "--src", "10.244.0.5", "--dst", "10.0.223.151:80"]);
    // kube-proxy's jump comes first in PREROUTING and DNATs; then INPUT or FORWARD is the
    // question, and the node's addresses answer it.
    let routing = "whether 10.244.0.2 is this node's own address decides INPUT or FORWARD: give --node-ip";
    assert_eq!(v["undecided"], serde_json::json!([routing]), "{v:#}");
    let v = json(&["trace", "--iptables-save", &dump, "--src", "198.51.100.79", "--dst", "10.240.0.4:8080"]);
    // The last rule of KUBE-SERVICES, kube-proxy's jump to its NodePorts, asks the same of the node IP.
    let addrtype =
        "line 75: -m addrtype --dst-type LOCAL: whether 10.240.0.4 is this node's own address (give --node-ip)";
    assert_eq!(v["undecided"], serde_json::json!([addrtype]), "{v:#}");
    let v = json(&[
        "trace",
        "--iptables-save",
        &dump,
        "--src",
        "10.244.0.5",
        "--dst",
        "10.0.223.151:80",
        "--node-ip",
        "10.240.0.4",
    ]);
    let undecided = v["undecided"].as_array().unwrap();
    assert!(
        undecided[0]
            .as_str()
            .unwrap()
            .ends_with("-i docker0: the interface the packet came in on is not in the dump (give --in-interface)"),
        "{v:#}"
    );
    assert_eq!(v["endpoints"], serde_json::json!(["10.244.0.2:8080"]), "what was decided before is still said");
}

#[test]
fn a_file_that_is_no_dump_is_an_error_at_its_line() {
    let (code, _, err) =
        svcsim(&["trace", "--iptables-save", "scenarios/aks-blog.yaml", "--src", "10.0.0.1", "--dst", "10.0.0.2:80"]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("scenarios/aks-blog.yaml:7: error: \"apiVersion: apps/v1\" is not iptables-save output"),
        "{err}"
    );
    assert!(err.ends_with("— nothing was traced\n"), "{err}");
}

#[test]
fn an_ipset_file_that_is_no_ipset_save_is_an_error_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = tmp.path().join("sets.txt");
    std::fs::write(&sets, "create KUBE-X hash:ip,port family inet\nadd KUBE-Y 10.0.0.1,tcp:80\nflush\n").unwrap();
    let dump = format!("{DUMPS}/aks-blog-node-0.txt");
    let sets = sets.to_str().unwrap();
    let (code, _, err) =
        svcsim(&["trace", "--iptables-save", &dump, "--ipset", sets, "--src", "10.0.0.1", "--dst", "10.0.0.2:80"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("sets.txt:2: error: add to KUBE-Y, which no create line made"), "{err}");
    assert!(err.contains("sets.txt:3: error: \"flush\" is not ipset save output (create, add)"), "{err}");
}

fn presets() -> Vec<(String, String)> {
    let dir = root().join("scenarios");
    let mut out: Vec<(String, String)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Each Service port's frontends a packet on `node` can be sent to.
fn frontends(sim: &Sim, net: &NodeNet) -> Vec<(svcsim_core::net::Protocol, SockAddr)> {
    let family = IpFamily::of(net.node_ip);
    let mut out = Vec::new();
    for s in sim.cluster().services.iter() {
        for p in &s.ports {
            let ips = s
                .cluster_ip_of(family)
                .into_iter()
                .chain(s.load_balancer_ingress.iter().copied())
                .chain(s.external_ips.iter().copied());
            for ip in ips.filter(|ip| IpFamily::of(*ip) == family) {
                out.push((p.protocol, SockAddr::new(ip, p.port)));
            }
            if let Some(np) = p.node_port {
                out.push((p.protocol, SockAddr::new(net.node_ip, np)));
            }
        }
    }
    out
}

/// A client outside, a pod on the node (or in its pod CIDR) and the node itself, in `net`'s family.
fn sources(sim: &Sim, node: NodeId, net: &NodeNet) -> Vec<IpAddr> {
    let family = IpFamily::of(net.node_ip);
    let pod = sim
        .cluster()
        .pods
        .iter()
        .filter(|p| p.node == node)
        .find_map(|p| p.ip_of(family))
        .or_else(|| net.pod_cidr.nth(5))
        .unwrap();
    let client = if family == IpFamily::Ipv4 { "198.51.100.79" } else { "2001:db8::79" };
    vec![client.parse().unwrap(), pod, net.node_ip]
}

/// `ip kube-proxy services: …` → `services: …`, as svcsim's single-table listing names it.
fn unprefixed(rule: &str) -> &str {
    rule.strip_prefix("ip kube-proxy ").or_else(|| rule.strip_prefix("ip6 kube-proxy ")).unwrap_or(rule)
}

const NFT: &str = "crates/svcsim-cli/tests/dumps/nft";

/// The same first packets through `svcsim packet --proxy-mode nftables` and `svcsim trace
/// --nft-ruleset` on what the real `nft list ruleset` printed for the node: the same answer.
#[test]
fn on_kube_proxys_nftables_table_trace_answers_as_packet_does() {
    let cases: &[Case] = &[
        (
            "aks-blog-node-0.nft",
            "scenarios/aks-blog.yaml",
            "node-0",
            "0s",
            "10.240.0.4,10.244.0.1",
            &[
                ("198.51.100.79:40000", "203.0.113.10:80"),
                ("10.244.0.5:40000", "10.0.223.151:80"),
                ("198.51.100.79:40000", "10.240.0.4:32547"),
                ("10.240.0.4:40000", "10.0.223.151:80"),
                ("10.244.0.5:40000", "10.0.223.151:81"),
                ("10.244.0.5:40000", "10.0.99.99:80"),
            ],
        ),
        (
            "aks-blog-switch-node-1-100s.nft",
            "scenarios/aks-blog-switch.yaml",
            "node-1",
            "100s",
            "10.240.0.5,10.244.1.1",
            &[("198.51.100.79:40000", "203.0.113.10:80"), ("10.244.1.5:40000", "10.0.223.151:80")],
        ),
    ];
    for (dump, scenario, node, at, node_ips, packets) in cases {
        let dump = format!("{NFT}/{dump}");
        for (src, dst) in *packets {
            let packet = json(&[
                "packet",
                scenario,
                "--node",
                node,
                "--at",
                at,
                "--src",
                src,
                "--dst",
                dst,
                "--proxy-mode",
                "nftables",
            ]);
            let trace = json(&["trace", "--nft-ruleset", &dump, "--src", src, "--dst", dst, "--node-ip", node_ips]);
            for key in ["verdict", "endpoints", "masquerade", "reason"] {
                assert_eq!(trace[key], packet[key], "{dump} {src} > {dst}: {key}\n{trace:#}\n{packet:#}");
            }
            let rules = |v: &Value| -> Vec<String> {
                let all = v["rules"].as_array().unwrap().iter().map(|r| r.as_str().unwrap());
                all.map(|r| r.strip_prefix("ip kube-proxy ").unwrap_or(r).to_string()).collect()
            };
            assert_eq!(rules(&trace), rules(&packet), "{dump} {src} > {dst}");
            assert_eq!(trace["undecided"], serde_json::json!([]), "{dump} {src} > {dst}");
            assert_eq!(trace["unusual"], serde_json::json!([]), "{dump}: kube-proxy's own rules are not unusual");
        }
    }
}

/// In nftables mode kube-proxy writes no accept for the traffic it DNATs (an accept in its
/// table could not overrule another table's drop), so Docker's FORWARD policy, kept by
/// iptables-nft in `table ip filter`, drops an external client's packet to a LoadBalancer IP;
/// the CNI's accept for its pod range saves a pod's packet. A firewall's own `inet filter`
/// table with `policy drop` does the same, unless the packet comes from the pod bridge.
#[test]
fn another_tables_drop_policy_drops_what_kube_proxys_nftables_rules_dnat() {
    let trace = |dump: &str, src: &str, dst: &str, iif: &str| {
        let dump = format!("{NFT}/{dump}");
        let args = ["trace", "--nft-ruleset", &dump, "--src", src, "--dst", dst, "--node-ip", "10.240.0.4,10.244.0.1"];
        json(&[&args[..], &["--in-interface", iif, "--out-interface", "cbr0"]].concat())
    };
    let v = trace("aks-blog-node-0-docker.nft", "198.51.100.79", "203.0.113.10:80", "eth0");
    assert_eq!(v["verdict"], "DROP", "{v:#}");
    assert_eq!(v["reason"], "FORWARD's policy is drop: no rule accepted the packet");
    assert_eq!(v["services"]["external-POY56EFC-default/node-service/tcp/"], "default/node-service");
    assert!(v["rules"].as_array().unwrap().iter().any(|r| r == "ip filter FORWARD: policy drop"), "{v:#}");
    let v = trace("aks-blog-node-0-docker.nft", "10.244.0.5", "10.0.223.151:80", "cbr0");
    assert_eq!(v["verdict"], "DNAT", "{v:#}");
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "ip filter CNI-FORWARD: ip saddr 10.244.0.0/16 counter packets 0 bytes 0 accept"),
        "{v:#}"
    );
    let v = trace("aks-blog-node-0-firewall.nft", "198.51.100.79", "203.0.113.10:80", "eth0");
    assert_eq!(v["reason"], "forward's policy is drop: no rule accepted the packet", "{v:#}");
    let v = trace("aks-blog-node-0-firewall.nft", "10.244.0.5", "10.0.223.151:80", "cbr0");
    assert_eq!(v["verdict"], "DNAT", "{v:#}");
    // The text form says the same, each kube-proxy rule with its Service.
    let dump = format!("{NFT}/aks-blog-node-0-firewall.nft");
    let (code, text, _) = svcsim(&[
        "trace",
        "--nft-ruleset",
        &dump,
        "--src",
        "198.51.100.79",
        "--dst",
        "203.0.113.10:80",
        "--node-ip",
        "10.240.0.4",
        "--in-interface",
        "eth0",
    ]);
    assert_eq!(code, Some(0));
    assert!(text.starts_with(&format!("first packet 198.51.100.79:40000 > 203.0.113.10:80 on {dump}: DROP (\"forward's policy is drop: no rule accepted the packet\")")), "{text}");
    assert!(text.contains("  inet filter forward: policy drop\n"), "{text}");
    assert!(text.contains("dnat to 10.244.0.2:8080    # default/node-service\n"), "{text}");
}

#[test]
fn a_file_that_is_no_nft_listing_is_an_error_at_its_line() {
    let (code, _, err) =
        svcsim(&["trace", "--nft-ruleset", "scenarios/aks-blog.yaml", "--src", "10.0.0.1", "--dst", "10.0.0.2:80"]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("scenarios/aks-blog.yaml:"), "{err}");
    assert!(err.contains(": error: expected `table <family> <name> {`"), "{err}");
    assert!(err.ends_with("— nothing was traced\n"), "{err}");
    let (code, _, err) = svcsim(&["trace", "--src", "10.0.0.1", "--dst", "10.0.0.2:80"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--iptables-save <FILE>|--nft-ruleset <FILE>"), "{err}");
}

/// A dump of svcsim's own rules answers as svcsim does: every preset, in both of kube-proxy's
/// modes, on every node, is listed as the node's tool lists it (`iptables-save`, `nft list
/// table`, which the kernel lab checks byte for byte against the real tools) and read back as a
/// dump; each first packet to each of the node's Service frontends, from outside, from a pod and
/// from the node, gets the same verdict, endpoints, masquerade, reason and rules.
#[test]
fn a_dump_of_svcsims_rules_walks_as_svcsim_does() {
    let mut checked = 0;
    for (name, text) in presets() {
        for (mode, format) in [(ProxyMode::Iptables, Format::IptablesSave), (ProxyMode::Nftables, Format::NftRuleset)] {
            let overrides = Overrides {
                dataplane: Some(svcsim_core::manifest::DataplaneOverride::KubeProxy(mode)),
                ..Overrides::default()
            };
            let loaded = manifest::load(&text, &overrides).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let mut sim = Sim::new(loaded.scenario);
            // At the start, and after the presets' changes (a policy switch, a node failing).
            for at in [1, 100] {
                sim.run_until(Instant::ZERO + Duration::from_secs(at));
                for (node, family) in sim
                    .cluster()
                    .nodes
                    .ids()
                    .flat_map(|n| sim.cluster().config.families().into_iter().map(move |f| (n, f)))
                {
                    let net = sim.node_net(node, family);
                    let listing = sim.dataplane().render_family(node, RulesText::Save, family).unwrap();
                    let node_ips = Some([Some(net.node_ip), net.bridge_ip].into_iter().flatten().collect());
                    let dump = DumpedRuleset::parse_as(format, &listing, Facts { node_ips, ..Facts::default() })
                        .unwrap_or_else(|e| panic!("{name} {mode:?}: {e:?}\n{listing}"));
                    for (proto, dst) in frontends(&sim, &net) {
                        for src in sources(&sim, node, &net) {
                            let header = Header::new(proto, SockAddr::new(src, 40000), dst);
                            let at = format!("{name} {mode:?} at {at}s, node {node:?}: {header}");
                            let origin = Origin::of(&net, src);
                            let svcsim = FirstPacket::of(&sim.dataplane().every_decision(node, origin, header));
                            let walks = dump.walk(header);
                            let undecided: Vec<_> = walks.iter().filter_map(|w| w.undecided.clone()).collect();
                            assert_eq!(undecided, Vec::<String>::new(), "{at}");
                            let traced = FirstPacket::of(&walks.into_iter().map(|w| w.decision).collect::<Vec<_>>());
                            assert_eq!(traced.verdict, svcsim.verdict, "{at}\n{traced:#?}\n{svcsim:#?}");
                            assert_eq!(traced.endpoints, svcsim.endpoints, "{at}");
                            assert_eq!(traced.masquerade, svcsim.masquerade, "{at}");
                            assert_eq!(traced.reason, svcsim.reason, "{at}");
                            // nftables rules read back as listed; iptables-save normalizes a rule's
                            // argument order, so there only the count is the same.
                            if format == Format::NftRuleset {
                                let rules: Vec<&str> = traced.rules.iter().map(|r| unprefixed(r)).collect();
                                assert_eq!(rules, svcsim.rules, "{at}");
                            } else {
                                assert_eq!(traced.rules.len(), svcsim.rules.len(), "{at}\n{traced:#?}\n{svcsim:#?}");
                            }
                            checked += 1;
                        }
                    }
                    assert_eq!(
                        dump.flags(),
                        Vec::<String>::new(),
                        "{name} {mode:?}: kube-proxy's own rules are not unusual"
                    );
                }
            }
        }
    }
    eprintln!("{checked} first packets walked alike");
    assert!(checked > 1000, "only {checked} packets were checked");
}
