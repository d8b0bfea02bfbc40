//! Tests of the scenario edge: what loads, what it becomes, and how problems are reported.

use expect_test::{Expect, expect};

use super::*;
use crate::cluster::{NodeId, ServiceType, TrafficPolicy};
use crate::scenario::{ClientKind, Schedule, Target};
use crate::sim::Sim;

#[track_caller]
fn check_errors(yaml: &str, expect: Expect) {
    let diags = match load(yaml, &Overrides::default()) {
        Ok(l) => l.warnings,
        Err(d) => d,
    };
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    expect.assert_eq(&(text.join("\n") + "\n"));
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";

#[test]
fn the_aks_blog_preset_loads_and_tells_the_story() {
    let loaded = load(include_str!("../../../../scenarios/aks-blog.yaml"), &Overrides::default()).unwrap();
    let s = &loaded.scenario;
    assert_eq!((s.name.as_str(), s.seed, s.duration.to_string()), ("aks-blog", 1, "2m".to_string()));
    assert_eq!(s.cluster.nodes.len(), 2);
    assert_eq!(s.cluster.services[0].load_balancer_ingress, ["203.0.113.10".parse::<std::net::Ipv4Addr>().unwrap()]);
    let warnings: Vec<String> = loaded.warnings.iter().map(|d| d.to_string()).collect();
    // The post's own image is the Node.js app that prints the peer address: nothing to say.
    assert_eq!(warnings, Vec::<String>::new());
    let mut sim = Sim::new(loaded.scenario);
    let outputs: std::collections::BTreeSet<String> =
        sim.run().requests().filter_map(|f| f.app_output.clone()).collect();
    assert_eq!(outputs, ["::ffff:10.240.0.5".to_string(), "::ffff:10.244.0.1".to_string()].into());

    let local = Overrides { external_traffic_policy: Some(TrafficPolicy::Local), ..Overrides::default() };
    let mut sim = Sim::new(load(include_str!("../../../../scenarios/aks-blog.yaml"), &local).unwrap().scenario);
    let outputs: std::collections::BTreeSet<String> =
        sim.run().requests().filter_map(|f| f.app_output.clone()).collect();
    assert_eq!(outputs, ["::ffff:198.51.100.79".to_string()].into());
}

#[test]
fn the_issue_example_simulation_document_loads_every_kind_of_client_and_event() {
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: node-deployment}
spec:
  replicas: 1
  selector: {matchLabels: {app: node}}
  template:
    metadata: {labels: {app: node}}
    spec: {containers: [{name: node, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: node-service}
spec: {type: LoadBalancer, selector: {app: node}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: busybox, labels: {run: busybox}}
spec: {nodeName: node-1, containers: [{name: busybox}]}
---
apiVersion: svcsim.dev/v1alpha1
kind: Simulation
metadata: {name: aks-blog}
spec:
  seed: 1
  duration: 120s
  cluster:
    provider: azure            # azure | aws | gcp | none
    networkPlugin: kubenet     # kubenet | azure-cni
    clusterCIDR: 10.244.0.0/16
    serviceCIDR: 10.0.0.0/16
    nodes: 2                   # a count, or a list of {name, ip, podCIDR}
    nodePortRange: 30000-32767   # --service-node-port-range
    kubeProxy: {masqueradeAll: false, detectLocalMode: ClusterCIDR}   # or None
  clients:
    - {name: laptop, ip: 198.51.100.79, target: service/node-service, rate: 1/s}   # the LB frontend
    - {name: busybox, pod: busybox, target: service/node-service:clusterIP, at: [5s, 10s]}
    - {name: probe-nodes, ip: 198.51.100.80, target: node/node-1:nodePort, rate: 1/s}
    - {name: raw, ip: 198.51.100.81, target: 192.168.99.22:80, at: [1s]}   # any address:port
    - {name: from-host, hostNetwork: node-0, target: service/node-service, at: [3s]}
  events:
    - {at: 60s, patch: {service/node-service: {spec: {externalTrafficPolicy: Local}}}}
    - {at: 90s, scale: {deployment/node-deployment: 3}}
    - {at: 100s, pod: {name: busybox, ready: false}}
    - {at: 110s, node: {name: node-1, ready: false}}
"#;
    let loaded = load(yaml, &Overrides::default()).unwrap();
    let s = &loaded.scenario;
    let kinds: Vec<String> = s
        .clients
        .iter()
        .map(|c| {
            let kind = match &c.kind {
                ClientKind::External(ip) => format!("ip {ip}"),
                ClientKind::Pod(p) => format!("pod {p}"),
                ClientKind::HostNetwork(n) => format!("host {}", n.0),
            };
            let target = match c.target {
                Target::LoadBalancer { .. } => "lb".to_string(),
                Target::ClusterIp { .. } => "clusterIP".to_string(),
                Target::NodePort { node, .. } => format!("nodePort@{}", node.0),
                Target::Addr(a) => a.to_string(),
            };
            let when = match &c.schedule {
                Schedule::Every(d) => format!("every {d}"),
                Schedule::At(t) => format!("at {}", t.len()),
            };
            format!("{} {kind} -> {target} {when}", c.name)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "laptop ip 198.51.100.79 -> lb every 1s",
            "busybox pod busybox -> clusterIP at 2",
            "probe-nodes ip 198.51.100.80 -> nodePort@1 every 1s",
            "raw ip 198.51.100.81 -> 192.168.99.22:80 at 1",
            "from-host host 0 -> lb at 1",
        ]
    );
    let names = crate::record::Names::of(s, &s.cluster);
    let changes: Vec<String> = s.changes.iter().map(|c| format!("{} {}", c.at, names.change(&c.change))).collect();
    assert_eq!(
        changes,
        [
            r#"60.000000 kubectl patch service default/node-service -p '{"spec":{"externalTrafficPolicy":"Local"}}'"#,
            "90.000000 kubectl scale deployment node-deployment --replicas=3",
            "100.000000 pod busybox readiness probe fails",
            "110.000000 node node-1 becomes NotReady",
        ]
    );
    // It runs to the end.
    let mut sim = Sim::new(loaded.scenario);
    assert!(sim.run().requests().count() > 200);
}

#[test]
fn json_documents_are_yaml_too() {
    let json = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
      "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "nodePort": 31000}]}}"#;
    let loaded = load(json, &Overrides::default()).unwrap();
    let svc = &loaded.scenario.cluster.services[0];
    assert_eq!((svc.type_, svc.ports[0].node_port), (ServiceType::NodePort, Some(31000)));
}

#[test]
fn defaults_without_a_simulation_document() {
    let loaded = load(SERVICE, &Overrides::default()).unwrap();
    let s = &loaded.scenario;
    assert_eq!((s.cluster.nodes.len(), s.duration.to_string(), s.seed), (2, "2m".to_string(), 1));
    assert_eq!(s.clients.len(), 1);
    assert_eq!(s.clients[0].kind, ClientKind::External("198.51.100.79".parse().unwrap()));
    assert_eq!(s.cluster.nodes[1].ip.to_string(), "10.240.0.5");
    // The selector matches nothing: a warning, not an error.
    assert_eq!(
        loaded.warnings[0].to_string(),
        "6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints"
    );
}

#[test]
fn overrides_apply_from_the_start() {
    let o = Overrides {
        seed: Some(9),
        nodes: Some(5),
        replicas: None,
        provider: Some(crate::cluster::Provider::Gcp),
        duration: Some(crate::time::Duration::from_secs(30)),
        external_traffic_policy: Some(TrafficPolicy::Local),
        dataplane: None,
        family: None,
        dual_stack: false,
    };
    let s = load(SERVICE, &o).unwrap().scenario;
    assert_eq!((s.seed, s.cluster.nodes.len(), s.duration.to_string()), (9, 5, "30s".to_string()));
    assert_eq!(s.cluster.config.provider, crate::cluster::Provider::Gcp);
    assert_eq!(s.cluster.services[0].external_traffic_policy, TrafficPolicy::Local);
    assert!(s.cluster.services[0].health_check_node_port.is_some());
    assert_eq!(s.cluster.nodes[4].name, "node-4");
    let _ = NodeId(0);
}

#[test]
fn problems_name_document_path_and_line() {
    check_errors(
        r#"apiVersion: v1
kind: Service
metadata: {name: node-service}
spec:
  type: LoadBalancer
  selector: {app: node}
  ports:
    - port: 80
      targetPort: 8080
      nodePort: 99999
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: svcsim.dev/v1alpha1
kind: Simulation
metadata: {name: x}
spec:
  duration: 2 minutes
  clients:
    - {name: a, target: service/nope, rate: 1/s}
  events:
    - {at: 5s, scale: {deployment/ghost: 2}}
"#,
        expect![[r#"
            10:17: error: doc 1 (Service node-service) spec.ports[0].nodePort: 99999 is outside 30000-32767
            20:13: error: doc 3 (Simulation x) spec.duration: "2 minutes" is not a duration (e.g. 90s, 2m, 1m30s, 500ms)
            22:25: error: doc 3 (Simulation x) spec.clients[0].target: no Service named "nope"
            24:7: error: doc 3 (Simulation x) spec.events[0]: no Deployment named "ghost"
            6:13: warning: doc 1 (Service node-service) spec.selector: matches no pod: the Service has no endpoints
            13:7: warning: doc 2 (ConfigMap settings) kind: kind ConfigMap is not modelled by svcsim: document ignored
        "#]],
    );
    check_errors(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, nodePort: 29999}]\n",
        expect![[r#"
            7:32: error: doc 1 (Service web) spec.ports[0].nodePort: 29999 is outside 30000-32767
            warning: no LoadBalancer Service and no Simulation clients: nothing sends traffic (add a Simulation document with clients)
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
        "#]],
    );
}

#[test]
fn references_to_unknown_objects_are_errors_with_their_place() {
    check_errors(
        &format!(
            "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec:\n  clients:\n    - {{name: a, target: service/nope, rate: 1/s}}\n    - {{name: b, pod: ghost, target: service/web, at: [1s]}}\n  events:\n    - {{at: 5s, scale: {{deployment/ghost: 2}}}}\n    - {{at: 6s, node: {{name: node-9, ready: false}}}}\n"
        ),
        expect![[r#"
            14:25: error: doc 2 (Simulation x) spec.clients[0].target: no Service named "nope"
            15:7: error: doc 2 (Simulation x) spec.clients[1].pod: no Pod named "ghost" (name a Pod document)
            17:7: error: doc 2 (Simulation x) spec.events[0]: no Deployment named "ghost"
            18:7: error: doc 2 (Simulation x) spec.events[1]: no node is named "node-9" (nodes are node-0, node-1)
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
        "#]],
    );
}

#[test]
fn a_file_without_a_service_and_broken_yaml_are_errors() {
    check_errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
        expect![[r#"
            error: the file has no Service: svcsim routes traffic to Services, add one (kind: Service)
        "#]],
    );
    check_errors(
        "kind: Service\nspec: [unclosed\n",
        expect![[r#"
            3:1: error: YAML syntax: while parsing a flow sequence, expected ',' or ']'
        "#]],
    );
    // Without a final newline the end of the text is on the last line, not past it.
    check_errors(
        "kind: Service\nmetadata: {name",
        expect![[r#"
            2:16: error: YAML syntax: while parsing a flow mapping, did not find expected ',' or '}'
        "#]],
    );
}

#[test]
fn limits_have_errors_that_name_them() {
    let big = format!("{SERVICE}#{}\n", "x".repeat(limits::MAX_YAML_BYTES));
    let err = load(&big, &Overrides::default()).unwrap_err();
    assert!(err[0].to_string().contains("the limit is 1048576 (1 MiB)"), "{}", err[0]);
    let many = format!(
        "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec: {{cluster: {{nodes: 300}}}}\n"
    );
    let err = load(&many, &Overrides::default()).unwrap_err();
    assert!(err.iter().any(|d| d.to_string().contains("300 is outside 1-256")), "{err:?}");
    let long = format!(
        "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec: {{duration: 2h}}\n"
    );
    let err = load(&long, &Overrides::default()).unwrap_err();
    assert!(err.iter().any(|d| d.to_string().contains("the limit is 1 hour")), "{err:?}");
    let flood = format!(
        "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec:\n  duration: 1h\n  clients: [{{target: service/web, rate: 5000/s}}]\n"
    );
    let err = load(&flood, &Overrides::default()).unwrap_err();
    assert!(err.iter().any(|d| d.to_string().contains("the limit is 10000000")), "{err:?}");
    let pods = format!(
        "{SERVICE}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 10001\n  selector: {{matchLabels: {{app: web}}}}\n  template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: c}}]}}}}\n"
    );
    let err = load(&pods, &Overrides::default()).unwrap_err();
    assert!(err.iter().any(|d| d.to_string().contains("10001 is outside 0-10000")), "{err:?}");
    let none = format!(
        "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec: {{cluster: {{nodes: []}}}}\n"
    );
    let err = load(&none, &Overrides::default()).unwrap_err();
    assert!(err.iter().any(|d| d.to_string().contains("no usable node: a cluster needs at least one")), "{err:?}");
    // Pods of all Deployments together.
    let deployment = |name: &str| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 6000\n  selector: {{matchLabels: {{app: web}}}}\n  template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: c}}]}}}}\n"
        )
    };
    let total = format!("{SERVICE}{}{}", deployment("a"), deployment("b"));
    let err = load(&total, &Overrides::default()).unwrap_err();
    assert!(
        err.iter().any(|d| d.to_string().contains("12000 pods (replicas and Pods): the limit is 10000")),
        "{err:?}"
    );
    // Nesting deeper than any manifest needs.
    let deep = format!("{SERVICE}---\nx: {}{}\n", "[".repeat(100), "]".repeat(100));
    let err = load(&deep, &Overrides::default()).unwrap_err();
    assert!(err.iter().any(|d| d.to_string().contains("nesting deeper than 64 levels")), "{err:?}");
}

#[test]
fn names_that_kubernetes_refuses_are_refused_and_quoted() {
    check_errors(
        "apiVersion: v1\nkind: Service\nmetadata: {name: \"<b>web</b>\"}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {name: x}\nspec:\n  cluster: {nodes: [{name: \"Node_0\"}, {name: node-1.example}]}\n",
        expect![[r#"
            3:18: error: doc 1 metadata.name: "<b>web</b>" is not a valid Service name (lowercase letters, digits and '-', at most 63 characters)
            10:28: error: doc 2 (Simulation x) spec.cluster.nodes[0].name: "Node_0" is not a valid node name (lowercase letters, digits, '-' and '.')
            warning: no LoadBalancer Service and no Simulation clients: nothing sends traffic (add a Simulation document with clients)
            4:18: warning: doc 1 (Service <b>web</b>) spec.selector: matches no pod: the Service has no endpoints
        "#]],
    );
}

#[test]
fn nftables_mode_reads_its_own_block_and_defaults_node_ports_to_the_primary_ip() {
    let yaml = format!(
        "{SERVICE}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\niptables:\n  masqueradeAll: true\nnftables:\n  minSyncPeriod: 3s\n"
    );
    let loaded = load(&yaml, &Overrides::default()).unwrap();
    let kp = &loaded.scenario.cluster.config.kube_proxy;
    assert_eq!(kp.mode, crate::cluster::ProxyMode::Nftables);
    assert_eq!(kp.node_port_addresses, crate::cluster::NodePortAddresses::Primary, "nftables mode's default");
    assert!(!kp.masquerade_all, "iptables.masqueradeAll is not read in nftables mode");
    assert_eq!(kp.min_sync_period, crate::time::Duration::from_secs(3));
    // Set explicitly, nodePortAddresses is kept.
    let sim = "---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {name: x}\nspec:\n  cluster: {kubeProxy: {mode: nftables, nodePortAddresses: [0.0.0.0/0]}}\n";
    let loaded = load(&format!("{SERVICE}{sim}"), &Overrides::default()).unwrap();
    let kp = &loaded.scenario.cluster.config.kube_proxy;
    assert_eq!(kp.node_port_addresses, crate::cluster::NodePortAddresses::Cidrs(vec!["0.0.0.0/0".parse().unwrap()]));
}

/// `--proxy-mode` and the page's mode control: the file's mode is replaced, and that mode's
/// defaults follow, as if the file said it.
#[test]
fn a_proxy_mode_override_brings_the_modes_defaults() {
    use crate::cluster::{NodePortAddresses, ProxyMode};
    let nft = Overrides { dataplane: Some(DataplaneOverride::KubeProxy(ProxyMode::Nftables)), ..Overrides::default() };
    let kp = load(SERVICE, &nft).unwrap().scenario.cluster.config.kube_proxy;
    assert_eq!((kp.mode, kp.node_port_addresses), (ProxyMode::Nftables, NodePortAddresses::Primary));
    // A KubeProxyConfiguration's nftables block is read once the mode is nftables.
    let yaml = format!(
        "{SERVICE}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nnftables:\n  masqueradeAll: true\n"
    );
    let kp = load(&yaml, &nft).unwrap().scenario.cluster.config.kube_proxy;
    assert!(kp.masquerade_all, "nftables.masqueradeAll applies in nftables mode");
    let ipt = Overrides { dataplane: Some(DataplaneOverride::KubeProxy(ProxyMode::Iptables)), ..Overrides::default() };
    let kp = load(&yaml, &ipt).unwrap().scenario.cluster.config.kube_proxy;
    assert_eq!(
        (kp.mode, kp.node_port_addresses, kp.masquerade_all),
        (ProxyMode::Iptables, NodePortAddresses::All, false)
    );
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}\n";

#[test]
fn a_kube_proxy_configuration_sets_what_kube_proxy_reads() {
    let yaml = format!(
        "{SERVICE}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nclusterCIDR: 10.244.0.0/16\ndetectLocalMode: NodeCIDR\nnodePortAddresses: [primary]\niptables:\n  masqueradeAll: true\n  minSyncPeriod: 5s\n  syncPeriod: 30s\nconntrack: {{maxPerCore: 32768}}\n"
    );
    let loaded = load(&yaml, &Overrides::default()).unwrap();
    let kp = &loaded.scenario.cluster.config.kube_proxy;
    assert_eq!(kp.mode, crate::cluster::ProxyMode::Iptables);
    assert_eq!(kp.detect_local_mode, crate::cluster::DetectLocalMode::NodeCidr);
    assert_eq!(kp.node_port_addresses, crate::cluster::NodePortAddresses::Primary);
    assert!(kp.masquerade_all);
    assert_eq!(kp.min_sync_period, crate::time::Duration::from_secs(5));
    assert_eq!(kp.cluster_cidr, None, "the same as the cluster's");
    let warnings: Vec<String> = loaded.warnings.iter().map(|d| d.to_string()).collect();
    expect![[r#"
        [
            "6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints",
            "18:3: warning: doc 2 (KubeProxyConfiguration) iptables.syncPeriod: not modelled by svcsim: ignored",
            "19:1: warning: doc 2 (KubeProxyConfiguration) conntrack: not modelled by svcsim: ignored",
        ]
    "#]]
    .assert_debug_eq(&warnings);
}

#[test]
fn kube_proxy_settings_have_located_errors() {
    check_errors(
        &format!(
            "{SERVICE}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\ndetectLocalMode: BridgeInterface\nnodePortAddresses: [primary, 10.0.0.0/8]\niptables: {{minSyncPeriod: soon, masqueradeAll: yes}}\n---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec:\n  cluster:\n    kubeProxy: {{mode: warp, detectLocalMode: Sometimes, nodePortAddresses: [10.0.0.0/33]}}\n"
        ),
        expect![[r#"
            11:7: error: doc 2 (KubeProxyConfiguration) mode: "ipvs" is not simulated yet: svcsim runs iptables, nftables
            12:18: error: doc 2 (KubeProxyConfiguration) detectLocalMode: "BridgeInterface" is not modelled by svcsim: use ClusterCIDR or NodeCIDR
            13:20: error: doc 2 (KubeProxyConfiguration) nodePortAddresses: "primary" must be the only entry of nodePortAddresses
            14:27: error: doc 2 (KubeProxyConfiguration) iptables.minSyncPeriod: "soon" is not a duration (e.g. 90s, 2m, 1m30s, 500ms)
            14:48: error: doc 2 (KubeProxyConfiguration) iptables.masqueradeAll: expected true or false, found a string
            21:23: error: doc 3 (Simulation x) spec.cluster.kubeProxy.mode: "warp" is not a proxy mode (iptables, nftables, ipvs)
            21:46: error: doc 3 (Simulation x) spec.cluster.kubeProxy.detectLocalMode: "Sometimes" is not a detect-local mode (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)
            21:77: error: doc 3 (Simulation x) spec.cluster.kubeProxy.nodePortAddresses[0]: /33 is not a prefix length (0-32)
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
        "#]],
    );
}

#[test]
fn a_setting_given_twice_is_an_error_and_a_different_cluster_cidr_a_warning() {
    check_errors(
        &format!(
            "{SERVICE}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\niptables: {{masqueradeAll: true}}\n---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec:\n  cluster:\n    clusterCIDR: 10.244.0.0/16\n    kubeProxy: {{masqueradeAll: false}}\n"
        ),
        expect![[r#"
            20:32: error: doc 3 (Simulation x) spec.cluster.kubeProxy.masqueradeAll: masqueradeAll is also set in the KubeProxyConfiguration (doc 2): set it in one place
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
            11:14: warning: doc 2 (KubeProxyConfiguration) clusterCIDR: kube-proxy's clusterCIDR 10.0.0.0/8 is not the cluster's 10.244.0.0/16: pods outside 10.0.0.0/8 count as off-cluster traffic
        "#]],
    );
}

#[test]
fn kube_proxy_settings_change_what_it_does() {
    // nodePortAddresses: [primary] — no NodePort on loopback; minSyncPeriod delays the sync.
    let yaml = format!(
        "{SERVICE}---\n{DEPLOYMENT}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nnodePortAddresses: [primary]\niptables: {{minSyncPeriod: 8s}}\n---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: x}}\nspec:\n  duration: 40s\n  events: [{{at: 3s, patch: {{service/web: {{spec: {{externalTrafficPolicy: Local}}}}}}}}]\n"
    );
    let mut sim = Sim::new(load(&yaml, &Overrides::default()).unwrap().scenario);
    sim.run_until(crate::time::Instant::from_secs(1));
    let np = sim.cluster().services[0].ports[0].node_port.unwrap();
    let node = NodeId(0);
    let net = sim.node_net(node, crate::net::IpFamily::Ipv4);
    let probe = |sim: &Sim, dst: std::net::IpAddr| {
        let header =
            crate::net::Header::tcp(crate::net::SockAddr::new(net.node_ip, 40000), crate::net::SockAddr::new(dst, np));
        crate::dataplane::FirstPacket::of(&sim.dataplane().every_decision(node, crate::dataplane::Origin::Host, header))
            .verdict
    };
    assert_eq!(probe(&sim, net.node_ip), crate::dataplane::FirstPacketVerdict::Dnat);
    assert_eq!(probe(&sim, std::net::Ipv4Addr::LOCALHOST.into()), crate::dataplane::FirstPacketVerdict::None);
    assert!(
        sim.dataplane()
            .render(node, crate::dataplane::RulesText::Restore)
            .contains(&format!("-d {} -j KUBE-NODEPORTS", net.node_ip))
    );
    // The patch at 3 s: the nodes synced at 0 s, so with an 8 s period they re-sync at 8 s, not
    // at once.
    let run = sim.run();
    let synced: Vec<String> =
        run.trace.iter().filter(|l| run.render(l).contains("synced")).map(|l| l.time.to_string()).collect();
    assert_eq!(synced, ["8.000000", "8.000000"]);
}

fn with_cilium(cilium: &str) -> String {
    format!(
        "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: c}}\nspec:\n  cluster:\n    cilium: {cilium}\n"
    )
}

#[test]
fn cilium_values_are_read_by_their_helm_names_and_only_kube_proxy_replacement_switches_it_on() {
    let c = load(&with_cilium("{kubeProxyReplacement: true, loadBalancer: {mode: dsr, algorithm: maglev}, routingMode: native, maglev: {tableSize: 65521}, socketLB: {enabled: false}}"), &Overrides::default()).unwrap();
    let cilium = c.scenario.cluster.config.cilium.clone().expect("Cilium replaces kube-proxy");
    use crate::cluster::{CiliumLbAlgorithm, CiliumLbMode, RoutingMode};
    assert_eq!(
        (cilium.mode, cilium.algorithm, cilium.maglev_table_size, cilium.routing_mode, cilium.socket_lb),
        (CiliumLbMode::Dsr, CiliumLbAlgorithm::Maglev, 65521, RoutingMode::Native, false)
    );
    // Without kubeProxyReplacement: true, kube-proxy handles Services, and svcsim says so.
    check_errors(
        &with_cilium("{loadBalancer: {mode: snat}}"),
        expect![[r#"
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
            14:13: warning: doc 2 (Simulation c) spec.cluster.cilium: kubeProxyReplacement is not set (Cilium's default is false): kube-proxy handles Services, so svcsim runs kube-proxy; say kubeProxyReplacement: true to simulate Cilium's eBPF service handling
        "#]],
    );
    assert!(
        load(&with_cilium("{loadBalancer: {mode: snat}}"), &Overrides::default())
            .unwrap()
            .scenario
            .cluster
            .config
            .cilium
            .is_none()
    );
}

#[test]
fn cilium_values_cilium_would_refuse_are_located_errors() {
    check_errors(
        &with_cilium("{kubeProxyReplacement: partial, loadBalancer: {mode: annotation, dsrDispatch: ipip}}"),
        expect![[r#"
            14:36: error: doc 2 (Simulation c) spec.cluster.cilium.kubeProxyReplacement: "partial" is not true or false ("partial" was removed in Cilium 1.14)
            14:66: error: doc 2 (Simulation c) spec.cluster.cilium.loadBalancer.mode: "annotation" (a mode per Service) is not simulated: use snat, dsr or hybrid
            14:91: error: doc 2 (Simulation c) spec.cluster.cilium.loadBalancer.dsrDispatch: "ipip" is not simulated: use opt or geneve
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
        "#]],
    );
    // DSR in tunnel mode needs Geneve dispatch over a Geneve tunnel.
    check_errors(
        &with_cilium(
            "{kubeProxyReplacement: true, loadBalancer: {mode: hybrid, dsrDispatch: geneve}, tunnelProtocol: vxlan}",
        ),
        expect![[r#"
            14:109: error: doc 2 (Simulation c) spec.cluster.cilium.tunnelProtocol: dsrDispatch geneve in tunnel mode needs tunnelProtocol: geneve (the Helm default is vxlan)
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
        "#]],
    );
    check_errors(
        &with_cilium("{kubeProxyReplacement: strict, kubeProxyReplacementHealthzBindAddr: \"10256\"}"),
        expect![[r#"
            14:81: error: doc 2 (Simulation c) spec.cluster.cilium.kubeProxyReplacementHealthzBindAddr: "10256" is not an address and port like 0.0.0.0:10256
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
            14:36: warning: doc 2 (Simulation c) spec.cluster.cilium.kubeProxyReplacement: "strict" is Cilium 1.13's spelling of true: read as true
        "#]],
    );
}

#[test]
fn kube_proxy_settings_beside_cilium_are_said_to_be_unused() {
    let yaml = format!(
        "{SERVICE}---\napiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: c}}\nspec:\n  cluster:\n    kubeProxy: {{mode: nftables}}\n    cilium: {{kubeProxyReplacement: true}}\n"
    );
    check_errors(
        &yaml,
        expect![[r#"
            6:13: warning: doc 1 (Service web) spec.selector: matches no pod: the Service has no endpoints
            14:16: warning: doc 2 (Simulation c) spec.cluster.kubeProxy: Cilium replaces kube-proxy (kubeProxyReplacement: true): kube-proxy's settings are not used
        "#]],
    );
}
