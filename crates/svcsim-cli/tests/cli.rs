//! The `svcsim` binary, run as a user runs it: every preset's summary (golden files under
//! tests/golden, `UPDATE_EXPECT=1` to refresh), the JSON output, determinism, and a corpus of bad
//! files (tests/bad, each with `# expect:` lines) that must fail with exit code 2 and a message
//! naming the place.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use expect_test::{expect, expect_file};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn svcsim() -> Command {
    let mut cmd = Command::cargo_bin("svcsim").expect("the svcsim binary is built");
    cmd.current_dir(root());
    cmd
}

fn presets() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("scenarios"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_preset_runs_and_its_summary_is_pinned() {
    let presets = presets();
    assert!(presets.len() >= 14, "the presets of issue 4 are all there: {presets:?}");
    for name in presets {
        let out = svcsim().args(["run", &format!("scenarios/{name}")]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let golden = root().join("crates/svcsim-cli/tests/golden").join(name.replace(".yaml", ".txt"));
        expect_file![golden].assert_eq(&stdout);
        // Every preset says what it teaches in a comment at the top.
        let text = fs::read_to_string(root().join("scenarios").join(&name)).unwrap();
        assert!(text.starts_with(&format!("# {}", name.trim_end_matches(".yaml"))), "{name} opens with its comment");
    }
}

#[test]
fn json_output_has_the_documented_shape_and_is_deterministic() {
    let run = || svcsim().args(["run", "scenarios/aks-blog.yaml", "--format", "json"]).output().unwrap();
    let a = run();
    let b = run();
    assert_eq!(a.status.code(), Some(0));
    assert!(a.stdout == b.stdout, "two runs give byte-identical JSON");
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["scenario"], "aks-blog");
    assert_eq!(v["seed"], 1);
    assert_eq!(v["duration"], 120.0);
    let first = &v["requests"][0];
    assert_eq!(first["t"], 0.5);
    assert_eq!(first["client"], "laptop");
    assert_eq!(first["from"], "198.51.100.79");
    assert_eq!(first["to"], "203.0.113.10:80");
    assert_eq!(first["outcome"], "answered");
    assert!(first["reason"].is_null());
    for key in ["ingressNode", "pod", "node", "sourceSeen", "appOutput"] {
        assert!(first[key].is_string(), "{key}: {first}");
    }
    assert_eq!(v["requests"].as_array().unwrap().len(), 120);
    assert_eq!(v["probes"]["percent"], 100.0);
    assert_eq!(v["probes"]["perNode"], serde_json::json!({"node-0": 100.0, "node-1": 100.0}));
    assert_eq!(v["probes"]["inRotation"], serde_json::json!(["node-0", "node-1"]));
    assert_eq!(v["probes"]["series"][0]["minute"], 0);
    let pods = v["pods"].as_object().unwrap();
    let (_, pod) = pods.iter().next().unwrap();
    assert_eq!(pod["hits"], 120);
    assert_eq!(pod["node"], "node-0");

    // Local: the client's address, one node in rotation, 50 %.
    let local = svcsim()
        .args(["run", "scenarios/aks-blog.yaml", "--format", "json", "--external-traffic-policy", "Local"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(v["requests"][0]["appOutput"], "::ffff:198.51.100.79");
    assert_eq!(v["probes"]["percent"], 50.0);
    assert_eq!(v["probes"]["inRotation"], serde_json::json!(["node-0"]));
}

#[test]
fn overrides_change_the_run_from_the_start() {
    let out = svcsim()
        .args([
            "run",
            "scenarios/aks-blog.yaml",
            "--seed",
            "7",
            "--duration",
            "30s",
            "--nodes",
            "3",
            "--replicas",
            "2",
            "--provider",
            "aws",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["seed"].as_u64(), v["duration"].as_f64()), (Some(7), Some(30.0)));
    assert_eq!(v["pods"].as_object().unwrap().len(), 2);
    assert_eq!(v["probes"]["perNode"].as_object().unwrap().len(), 3);
}

/// `--proxy-mode` switches kube-proxy's mode with the mode's defaults: in nftables mode an unset
/// nodePortAddresses means the node's primary IP, so the NodePort on 127.0.0.1 is refused while
/// the node IP still answers; iptables mode answers both. The rules say which mode ran.
#[test]
fn proxy_mode_switches_the_dataplane_and_its_node_port_default() {
    let run = |mode: &str| {
        let out = svcsim()
            .args(["run", "scenarios/nodeport-localhost.yaml", "--proxy-mode", mode, "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let by_client = |client: &str| -> Vec<String> {
            let requests = v["requests"].as_array().unwrap();
            let mine = requests.iter().filter(|r| r["client"] == client);
            mine.map(|r| r["outcome"].as_str().unwrap().to_string()).collect()
        };
        (by_client("curl-localhost"), by_client("curl-node-ip"))
    };
    let (localhost, node_ip) = run("iptables");
    assert!(localhost.iter().chain(&node_ip).all(|o| o == "answered"), "{localhost:?} {node_ip:?}");
    let (localhost, node_ip) = run("nftables");
    assert!(!localhost.is_empty() && localhost.iter().all(|o| o == "rejected"), "{localhost:?}");
    assert!(node_ip.iter().all(|o| o == "answered"), "{node_ip:?}");

    let out = svcsim()
        .args(["rules", "scenarios/aks-blog.yaml", "--node", "node-0", "--proxy-mode", "nftables"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# svcsim: kube-proxy nftables mode"), "{text}");
    assert!(text.contains("table ip kube-proxy {"), "{text}");
}

#[test]
fn trace_rules_packet_and_explain() {
    let out = svcsim().args(["run", "scenarios/source-ip-nodeport-local.yaml", "--trace"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("req#2 kubernetes-node-cx31 DROP: \"default/nodeport has no local endpoints\""), "{text}");

    let out = svcsim().args(["rules", "scenarios/aks-blog.yaml", "--node", "node-1"]).output().unwrap();
    expect_file!["golden/rules-aks-blog-node-1.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());
    // After node-1 fails, node-1's sync deletes its pod's KUBE-SEP chain and its KUBE-SVL.
    let out = svcsim()
        .args(["rules", "scenarios/node-failure.yaml", "--node", "node-1", "--at", "60s", "--format", "restore"])
        .output()
        .unwrap();
    expect_file!["golden/rules-node-failure-node-1-restore-60s.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());

    // nftables mode: the node's `nft list table ip kube-proxy` after the patch to Local, and the
    // packet it drops through its no-endpoint-services element.
    let out = svcsim()
        .args(["rules", "scenarios/aks-blog-nftables.yaml", "--node", "node-1", "--at", "100s"])
        .output()
        .unwrap();
    expect_file!["golden/rules-aks-blog-nftables-node-1-100s.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());
    let args = ["packet", "scenarios/aks-blog-nftables.yaml", "--node", "node-1", "--at", "100s"];
    let out = svcsim().args(args).args(["--src", "198.51.100.79:40000", "--dst", "203.0.113.10:80"]).output().unwrap();
    expect_file!["golden/packet-aks-blog-nftables-node-1-100s.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());

    let out = svcsim()
        .args([
            "packet",
            "scenarios/aks-blog.yaml",
            "--node",
            "node-1",
            "--src",
            "198.51.100.79",
            "--dst",
            "203.0.113.10:80",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "DNAT");
    assert_eq!(v["endpoints"], serde_json::json!(["10.244.0.2:8080"]));
    assert_eq!(v["masquerade"], true);
    assert!(v["rules"][1].as_str().unwrap().contains("default/node-service loadbalancer IP"));

    // --protocol: the DNS preset's 53/UDP has its own rules, and a TCP packet to a UDP-only
    // port matches none of them.
    let udp = ["packet", "scenarios/dns-udp.yaml", "--node", "node-1", "--src", "198.51.100.79"];
    let out = svcsim().args(udp).args(["--dst", "203.0.113.10:53", "--protocol", "udp"]).output().unwrap();
    expect_file!["golden/packet-dns-udp-node-1.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());
    let out = svcsim()
        .args(udp)
        .args(["--dst", "203.0.113.10:53", "--protocol", "sctp", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "NONE", "no SCTP port: {v}");

    // After the patch to Local, node-1 has no local endpoint: DROP, no masquerade.
    let out = svcsim()
        .args([
            "packet",
            "scenarios/aks-blog-switch.yaml",
            "--node",
            "node-1",
            "--src",
            "198.51.100.79:40000",
            "--dst",
            "203.0.113.10:80",
            "--at",
            "95s",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("first packet 198.51.100.79:40000 > 203.0.113.10:80 on node-1: DROP (\"default/node-service has no local endpoints\")"), "{text}");
    assert!(text.contains("masquerade (SNAT): no"));

    // A host's packet to its own NodePort leaves through nat POSTROUTING onto lo and comes back
    // in through filter INPUT, where the no-endpoints REJECT waits: the kernel's order.
    let out = svcsim()
        .args(["packet", "scenarios/no-endpoints.yaml", "--node", "node-0", "--src", "10.240.0.4"])
        .args(["--dst", "10.240.0.4:32089"])
        .output()
        .unwrap();
    expect_file!["golden/packet-host-own-nodeport.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());

    let out = svcsim().args(["explain", "scenarios/aks-blog.yaml", "--request", "2"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("MASQUERADE rewrites the source 198.51.100.79 to 10.240.0.5"), "{text}");
    assert!(text.contains("not the client's 198.51.100.79"), "{text}");
    assert!(text.contains("kube-proxy's iptables rules catch the packet"), "{text}");
    // In nftables mode the same request is told through the map element and each Service
    // chain's rule, and the masquerade that did the SNAT.
    let out = svcsim().args(["explain", "scenarios/aks-blog-nftables.yaml", "--request", "2"]).output().unwrap();
    expect_file!["golden/explain-aks-blog-nftables-2.txt"].assert_eq(&String::from_utf8(out.stdout).unwrap());
}

/// The lab's recipe, as `svcsim lab up --dry-run` prints it: runs anywhere, root or not.
#[test]
fn cilium_maps_packets_explanations_and_reply_paths() {
    let text = |args: &[&str]| String::from_utf8(svcsim().args(args).output().unwrap().stdout).unwrap();
    // The node's service and backend maps, as cilium-dbg lists them.
    expect_file!["golden/rules-aks-cilium-node-1.txt"].assert_eq(&text(&[
        "rules",
        "scenarios/aks-cilium.yaml",
        "--node",
        "node-1",
    ]));
    // An external client through node-1 in DSR mode: the option, no SNAT.
    let packet = [
        "packet",
        "scenarios/aks-cilium-dsr.yaml",
        "--node",
        "node-1",
        "--src",
        "198.51.100.79:40000",
        "--dst",
        "203.0.113.10:80",
    ];
    expect_file!["golden/packet-aks-cilium-dsr-node-1.txt"].assert_eq(&text(&packet));
    // A pod's connect() to the ClusterIP with socket-LB: translated before any packet exists.
    let out = text(&["run", "scenarios/gke-dataplane-v2.yaml", "--format", "json", "--duration", "11s"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let busybox = v["requests"].as_array().unwrap().iter().find(|r| r["client"] == "busybox").unwrap();
    let cluster_ip = busybox["to"].as_str().unwrap().to_string();
    let pod_ip = busybox["from"].as_str().unwrap().to_string();
    let connect = text(&[
        "packet",
        "scenarios/gke-dataplane-v2.yaml",
        "--node",
        "node-2",
        "--src",
        &format!("{pod_ip}:40000"),
        "--dst",
        &cluster_ip,
    ]);
    assert!(connect.starts_with(&format!("connect() from {pod_ip}:40000 to {cluster_ip} on node-2: translated by socket-LB before any packet exists\n")), "{connect}");
    assert!(connect.contains("then, for the socket's packets: first packet"), "{connect}");
    assert_eq!(busybox["connectedTo"].as_str().unwrap(), "10.244.0.2:8080", "the JSON says where the socket went");
    // The reply path: through node-1 under SNAT, straight from node-0 under DSR.
    for (file, via_node_1) in [("scenarios/aks-cilium.yaml", true), ("scenarios/aks-cilium-dsr.yaml", false)] {
        let v: serde_json::Value =
            serde_json::from_str(&text(&["run", file, "--format", "json", "--duration", "20s"])).unwrap();
        for r in v["requests"].as_array().unwrap().iter().filter(|r| r["ingressNode"] == "node-1") {
            let path: Vec<&str> = r["replyPath"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
            assert_eq!(path.contains(&"node-1"), via_node_1, "{file}: {path:?}");
            assert_eq!(path.last(), Some(&"laptop"));
        }
    }
    expect_file!["golden/explain-aks-cilium-dsr-2.txt"].assert_eq(&text(&[
        "explain",
        "scenarios/aks-cilium-dsr.yaml",
        "--request",
        "2",
    ]));
}

#[test]
fn the_lab_recipe_for_the_seed_story_is_pinned() {
    let out = svcsim().args(["lab", "up", "scenarios/aks-blog.yaml", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    expect_file!["golden/lab-up-aks-blog-dry-run.sh"].assert_eq(&String::from_utf8(out.stdout).unwrap());
    let bad = svcsim().args(["lab", "up", "scenarios/aks-blog.yaml", "--prefix", "no spaces"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_lab_recipe_for_a_dual_stack_story_has_both_families() {
    let out = svcsim().args(["lab", "up", "scenarios/aks-dual-stack.yaml", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    expect_file!["golden/lab-up-aks-dual-stack-dry-run.sh"].assert_eq(&String::from_utf8(out.stdout).unwrap());
}

#[test]
fn check_reports_ok_and_warnings() {
    let out = svcsim().args(["check", "scenarios/aks-blog.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "scenarios/aks-blog.yaml: ok — 2 nodes, 1 Services, 1 Deployments, 0 Pods, 1 clients, 0 events\n"
    );
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "", "the post's own files say nothing to warn about");
}

/// What `kubectl get` prints, pasted as is: a `kind: List` in YAML and in JSON, with every field
/// the API server fills in. It runs, and says only what matters.
#[test]
fn kubectl_dumps_run_and_say_only_what_matters() {
    for file in [
        "tests/dumps/kubectl-get-aks-story.yaml",
        "tests/dumps/kubectl-get-echo.json",
        "tests/dumps/kubectl-get-nodes-aks.yaml",
    ] {
        let out = svcsim().args(["check", &format!("crates/svcsim-cli/{file}")]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stderr).unwrap(), "", "{file}");
    }
    let out = svcsim()
        .args(["run", "crates/svcsim-cli/tests/dumps/kubectl-get-echo.json", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let printed = v["requests"][0]["appOutput"].as_str().unwrap().to_string();
    assert!(printed.starts_with("client_address="), "the echoserver image runs the echo app: {printed}");
    // Node objects give the cluster its nodes: their names and InternalIPs.
    let out = svcsim().args(["run", "crates/svcsim-cli/tests/dumps/kubectl-get-nodes-aks.yaml"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("on aks-nodepool1-12345678-vmss000000"), "{text}");
    assert!(text.contains("::ffff:10.224.0.5"), "node-1's InternalIP is the SNAT source: {text}");
    // Headless and ExternalName Services are noted and skipped; the rest runs.
    let out = svcsim().args(["check", "crates/svcsim-cli/tests/dumps/headless-and-alias.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    expect_file!["dumps/headless-and-alias.check.txt"].assert_eq(&String::from_utf8(out.stderr).unwrap());
    // Fields svcsim does not model, repeated over three Deployments: one line each, with a count;
    // --verbose lists every one.
    let file = "crates/svcsim-cli/tests/dumps/three-deployments.yaml";
    let out = svcsim().args(["check", file]).output().unwrap();
    expect_file!["dumps/three-deployments.check.txt"].assert_eq(&String::from_utf8(out.stderr).unwrap());
    let verbose = svcsim().args(["check", file, "--verbose"]).output().unwrap();
    assert_eq!(String::from_utf8(verbose.stderr).unwrap().lines().count(), 6);
    // A named targetPort no container port carries runs, and says why nothing answers.
    let out = svcsim().args(["check", "crates/svcsim-cli/tests/dumps/named-target-port.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    expect![[r#"
        crates/svcsim-cli/tests/dumps/named-target-port.yaml:8:34: warning: doc 1 (Service web) spec.ports[0].targetPort: http: no container port of Deployment web is named http, so the Service has no endpoints
    "#]]
    .assert_eq(&String::from_utf8(out.stderr).unwrap());
    // Legacy Endpoints are mirrored into EndpointSlices: the ready addresses are reachable, the
    // not-ready one is not.
    let file = "crates/svcsim-cli/tests/dumps/endpoints-mirrored.yaml";
    let args = ["packet", file, "--node", "node-0", "--src", "198.51.100.7", "--dst", "203.0.113.10:1"];
    let out = svcsim().args(args).args(["--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["endpoints"], serde_json::json!(["10.244.0.50:1", "10.244.1.51:1"]));
}

#[test]
fn every_bad_file_fails_with_exit_code_2_and_names_the_place() {
    let dir = root().join("crates/svcsim-cli/tests/bad");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expected.is_empty(), "{} has # expect: lines", file.display());
        for command in ["check", "run"] {
            let out = svcsim().arg(command).arg(&file).output().unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(out.status.code(), Some(2), "{} {command}: {stderr}", file.display());
            assert!(out.stdout.is_empty(), "nothing on stdout for an invalid scenario");
            for e in &expected {
                assert!(stderr.contains(e), "{}: expected {e:?} in:\n{stderr}", file.display());
            }
        }
    }
}

#[test]
fn huge_binary_and_missing_files_are_refused_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    // 50 MiB: refused without being read whole.
    let huge = tmp.path().join("huge.yaml");
    let f = fs::File::create(&huge).unwrap();
    f.set_len(50 << 20).unwrap();
    let out = svcsim().arg("run").arg(&huge).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("larger than 1048576 bytes (1 MiB)"));

    let garbage = tmp.path().join("garbage.yaml");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    fs::write(&garbage, bytes).unwrap();
    let out = svcsim().arg("check").arg(&garbage).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("not UTF-8 text"));

    let out = svcsim().args(["run", "does/not/exist.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a file that cannot be read is a runtime failure");
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("does/not/exist.yaml: error: cannot read the file"));
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        vec!["run"],
        vec!["run", "scenarios/aks-blog.yaml", "--external-traffic-policy", "local"],
        vec!["run", "scenarios/aks-blog.yaml", "--duration", "ten"],
        vec!["run", "scenarios/aks-blog.yaml", "--nodes", "999"],
        vec!["rules", "scenarios/aks-blog.yaml", "--node", "node-9"],
        vec!["explain", "scenarios/aks-blog.yaml", "--request", "500"],
        vec!["packet", "scenarios/aks-blog.yaml", "--node", "node-0", "--src", "nope", "--dst", "1.2.3.4:80"],
        vec!["frobnicate"],
    ] {
        let out = svcsim().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty());
    }
    let help = svcsim().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8(help.stdout)
            .unwrap()
            .contains("svcsim run scenarios/aks-blog.yaml --external-traffic-policy Local")
    );
}

/// 78 real manifests from public projects (tests/corpus/INDEX.md has each one's source, commit
/// and licence): none panics or hangs, and each one's outcome — runs, runs with named notes, or a
/// located error for a stated reason — is pinned, errors and notes included (warnings left out).
#[test]
fn the_corpus_of_real_manifests_gives_the_pinned_outcomes() {
    let dir = root().join("crates/svcsim-cli/tests/corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "{} files", files.len());
    let mut report = String::new();
    let mut outcomes = [0usize; 2];
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let out = svcsim().args(["check"]).arg(file).output().unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 2)), "{name}: exit {code:?}: {}", String::from_utf8_lossy(&out.stderr));
        outcomes[usize::from(code == Some(2))] += 1;
        let stderr = String::from_utf8(out.stderr).unwrap();
        let path = file.display().to_string();
        report.push_str(&format!("{name}: {}\n", if code == Some(0) { "runs" } else { "refused" }));
        for line in stderr.lines().filter(|l| l.contains(": error: ") || l.contains(": note: ")) {
            let line = line.strip_prefix(&path).unwrap_or(line);
            report.push_str(&format!("  {}\n", line.trim_start_matches(':').trim_start()));
        }
    }
    report.push_str(&format!("{} run, {} refused\n", outcomes[0], outcomes[1]));
    expect_file!["golden/corpus.txt"].assert_eq(&report);
}

/// `svcsim run … --trace | head` ends quietly when the reader stops, as Unix tools do: no panic
/// about a broken pipe.
#[cfg(unix)]
#[test]
fn a_reader_that_stops_early_gets_no_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("svcsim"))
        .current_dir(root())
        .args(["run", "scenarios/aks-blog-switch.yaml", "--trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe is closed here; the trace is far longer than the pipe's buffer.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The Kubernetes documentation's dual-stack Services run, on the dual-stack cluster their
/// IPv6 asks for, and each family's proxy programs exactly the families the API server gave
/// them; the LoadBalancer example answers over both families.
#[test]
fn the_kubernetes_docs_dual_stack_examples_run_over_both_families() {
    let out = |args: &[&str]| {
        let o = svcsim().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // Asking for nothing, the default example gets a single-stack cluster: no IPv6 side at all.
    let o = svcsim()
        .args(["rules", "crates/svcsim-cli/tests/corpus/k8s-website-dual-stack-default-svc.yaml", "--node", "node-0"])
        .args(["--family", "ipv6"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--family ipv6: the cluster is single-stack IPv4"));
    // (file, programmed on the IPv4 side, on the IPv6 side)
    for (file, v4, v6) in [
        ("dual-stack-ipfamilies-ipv6", false, true),
        ("dual-stack-preferred-svc", true, true),
        ("dual-stack-preferred-ipfamilies-svc", true, true),
        ("dual-stack-prefer-ipv6-lb-svc", true, true),
    ] {
        let path = format!("crates/svcsim-cli/tests/corpus/k8s-website-{file}.yaml");
        for (family, wanted) in [("ipv4", v4), ("ipv6", v6)] {
            let rules = out(&["rules", &path, "--node", "node-0", "--family", family]);
            assert_eq!(rules.contains("default/my-service"), wanted, "{file} --family {family}:\n{rules}");
        }
    }
    // An IPv6 destination needs its brackets and a port; the error says how to write it.
    let o = svcsim()
        .args(["packet", "scenarios/aks-dual-stack.yaml", "--node", "node-0", "--src", "2001:db8::79"])
        .args(["--dst", "2001:db8:113::10"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("write an IPv6 destination as [2001:db8:113::10]:PORT"));
    // The LoadBalancer example has no pods: behind GCP (whose probe of kube-proxy's :10256
    // passes), over each family its frontend's node refuses at once ("has no endpoints").
    let path = "crates/svcsim-cli/tests/corpus/k8s-website-dual-stack-prefer-ipv6-lb-svc.yaml";
    for (family, to) in [("ipv6", "[2001:db8:113::10]:80"), ("ipv4", "203.0.113.10:80")] {
        let v: serde_json::Value = serde_json::from_str(&out(&[
            "run",
            path,
            "--provider",
            "gcp",
            "--family",
            family,
            "--duration",
            "5s",
            "--format",
            "json",
        ]))
        .unwrap();
        let first = &v["requests"][0];
        assert_eq!(first["to"], to, "{family}");
        assert_eq!(first["outcome"], "rejected", "{family}: {first:#}");
    }
}
