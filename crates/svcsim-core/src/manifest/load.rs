//! Reading Kubernetes objects and the `Simulation` document into a [`Scenario`]: defaults,
//! references, the API server's checks ([`crate::validate`]) and svcsim's limits.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::cilium;
use super::kube_proxy::{self, KubeProxySpec};
use super::read::{self, Cx, Diagnostic, Map, Severity};
use super::tree::{self, Node as YNode, Pos};
use crate::cluster::families::{FamilyPatch, FamilyRequest};
use crate::cluster::*;
use crate::net::{IpCidr, IpFamily, Protocol};
use crate::scenario::Scenario;
use crate::time::{Duration, Instant};

/// Limits that keep a browser tab alive; each has an error that names it.
pub mod limits {
    pub const MAX_YAML_BYTES: usize = 1 << 20;
    pub const MAX_NODES: usize = 256;
    pub const MAX_PODS: u64 = 10_000;
    pub const MAX_DURATION_S: u64 = 3_600;
    pub const MAX_REQUESTS: u64 = 10_000_000;
}

/// The laptop of the seed story, the default external client.
pub(super) const DEFAULT_CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 79));
/// The default client's IPv6 address, a documentation address (`2001:db8::/32`).
pub(super) const DEFAULT_CLIENT_IP_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x79));

fn ip_family(ip: &IpAddr) -> IpFamily {
    IpFamily::of(*ip)
}

fn cidr_family(c: &IpCidr) -> IpFamily {
    c.family()
}

/// The annotation that chooses a pod's app.
pub const APP_ANNOTATION: &str = "svcsim.dev/app";

/// Command-line overrides, applied from t = 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub duration: Option<Duration>,
    /// Sets externalTrafficPolicy on every externally reachable Service.
    pub external_traffic_policy: Option<TrafficPolicy>,
    /// Sets every Deployment's replicas.
    pub replicas: Option<u32>,
    /// Replaces the node count (only when nodes are given as a count).
    pub nodes: Option<u32>,
    pub provider: Option<Provider>,
    /// Replaces the dataplane the scenario names (the page's and the CLI's dataplane choice).
    pub dataplane: Option<DataplaneOverride>,
    /// The family the clients use, where the Service has it (over a target's own `:ipv6`): the
    /// page's and the CLI's family choice on a dual-stack cluster.
    /// A client whose `ip:` has no address of that family speaks it from its twin address
    /// (198.51.100.79 → 2001:db8::79).
    pub family: Option<IpFamily>,
    /// Make a single-stack cluster dual-stack (AKS's ranges for the missing family), and every
    /// Service that does not set `ipFamilyPolicy` PreferDualStack, as `kubectl patch` would.
    pub dual_stack: bool,
}

/// The dataplane chosen outside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataplaneOverride {
    /// kube-proxy in this mode, as if `mode:` said so: the mode's own defaults follow it
    /// (`nodePortAddresses`, and a KubeProxyConfiguration's per-mode block). A file's Cilium
    /// block is then not used.
    KubeProxy(ProxyMode),
    /// Cilium replacing kube-proxy, with the file's `cilium:` values (or Cilium's defaults) and
    /// these replacing theirs.
    Cilium { mode: Option<crate::cluster::CiliumLbMode>, algorithm: Option<crate::cluster::CiliumLbAlgorithm> },
}

impl Overrides {
    /// The kube-proxy mode the overrides force, if they force one.
    pub fn proxy_mode(&self) -> Option<ProxyMode> {
        match self.dataplane {
            Some(DataplaneOverride::KubeProxy(m)) => Some(m),
            _ => None,
        }
    }
}

/// A scenario that loaded, with the warnings it raised.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub warnings: Vec<Diagnostic>,
}

/// Where each object came from, to point problems at their document.
#[derive(Clone)]
pub(super) struct Origin {
    pub(super) doc: usize,
    pub(super) label: String,
    pub(super) positions: BTreeMap<String, Pos>,
}

/// Every document read from a file, by kind, each with where it came from.
#[derive(Default)]
pub(super) struct Docs {
    pub(super) sim: Option<(SimSpec, Origin, String)>,
    pub(super) kube_proxy: Option<(KubeProxySpec, Origin)>,
    pub(super) deployments: Vec<(Option<DeploymentDoc>, Origin)>,
    pub(super) services: Vec<(Option<ServiceDoc>, Origin)>,
    pub(super) pods: Vec<(Option<PodDoc>, Origin)>,
    pub(super) slices: Vec<(Option<SliceDoc>, Origin)>,
    /// Services kube-proxy programs nothing for (headless, ExternalName): (namespace, name).
    pub(super) skipped_services: Vec<(String, String)>,
    /// Node objects (`kubectl get nodes -o yaml`).
    pub(super) nodes: Vec<NodeDoc>,
}

/// `pos`, or the end of `text` if `pos` lies past it: the parser places the end of a text
/// without a final newline (an unexpected end, a mapping that ends there) on the line after the
/// last, which an editor does not have.
/// Lines break at CR LF, LF and a lone CR, as in YAML.
fn clamp_to_text(text: &str, pos: Pos) -> Pos {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split(['\n', '\r']).collect();
    match lines.last() {
        Some(last) if pos.line > lines.len() => Pos { line: lines.len(), col: last.chars().count() + 1 },
        _ => pos,
    }
}

/// Loads a scenario: every error at once in `Err`, warnings included.
pub fn load(text: &str, overrides: &Overrides) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let fail = |message: String, pos: Option<Pos>| {
        vec![Diagnostic { severity: Severity::Error, doc: None, object: None, path: String::new(), pos, message }]
    };
    if text.len() > limits::MAX_YAML_BYTES {
        return Err(fail(
            format!("the file is {} bytes; the limit is {} (1 MiB)", text.len(), limits::MAX_YAML_BYTES),
            None,
        ));
    }
    let docs = match tree::parse(text, tree::Limits::default()) {
        Ok(d) => d,
        Err(e) => return Err(fail(format!("YAML syntax: {}", e.message), Some(clamp_to_text(text, e.pos)))),
    };

    let mut read = Docs::default();
    for (i, node) in docs.iter().enumerate() {
        if node.is_null() {
            continue;
        }
        let mut cx = Cx::new(&mut diags, Some(i + 1));
        read_document(&mut cx, node, i + 1, &mut read, None);
    }
    if read.services.is_empty() {
        diags.push(Diagnostic {
            severity: Severity::Error,
            doc: None,
            object: None,
            path: String::new(),
            pos: None,
            message: "the file has no Service: svcsim routes traffic to Services, add one (kind: Service)".into(),
        });
    }

    let scenario = super::assemble::assemble(&mut diags, read, overrides);
    for d in &mut diags {
        d.pos = d.pos.map(|pos| clamp_to_text(text, pos));
    }
    crate::order::sort_by_key(&mut diags, |d| (d.severity, d.doc, d.pos));
    match scenario {
        Some(scenario) if !diags.iter().any(|d| d.severity == Severity::Error) => {
            Ok(Loaded { scenario, warnings: diags })
        }
        _ => Err(diags),
    }
}

/// One document, or each item of a `kind: List` (what `kubectl get -o yaml|json` prints), into
/// `read`. `item_kind` is the kind of a typed list's items (`NodeList` → `Node`), which a client
/// library prints without `kind` and `apiVersion`.
fn read_document(cx: &mut Cx<'_>, node: &YNode, doc: usize, read: &mut Docs, item_kind: Option<&str>) {
    let Some(mut m) = Map::new(cx, node, "") else { return };
    let kind_node = m.get(cx, "kind");
    let kind = kind_node.and_then(|n| read::string(cx, n, "kind")).or_else(|| item_kind.map(str::to_string));
    let api_node = m.get(cx, "apiVersion");
    let api = api_node.and_then(|n| read::string(cx, n, "apiVersion"));
    let Some(kind) = kind else {
        cx.error(
            "kind",
            node.pos,
            "every document needs a kind (Deployment, Service, Pod, EndpointSlice or Simulation)",
        );
        return;
    };
    // `kind: List`, and the typed lists (`ServiceList`, `PodList`, …) a client library dumps.
    if kind == "List" || (kind.ends_with("List") && m.peek("items").is_some()) {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string);
        read_list(cx, m, doc, read, item_kind.as_deref());
        return;
    }
    let expected_api = match kind.as_str() {
        "Deployment" => "apps/v1",
        "Service" | "Pod" => "v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        "Endpoints" | "Node" => "v1",
        "Simulation" => "svcsim.dev/v1alpha1",
        "KubeProxyConfiguration" => kube_proxy::API_VERSION,
        other => {
            cx.object = Some(format!("{other} {}", peek_name(node)));
            let pos = kind_node.map_or(node.pos, |n| n.pos);
            cx.warn("kind", pos, format!("kind {other} is not modelled by svcsim: document ignored"));
            cx.object = None;
            return;
        }
    };
    match &api {
        Some(a) if a == expected_api => {}
        Some(a) => cx.error(
            "apiVersion",
            api_node.map_or(node.pos, |n| n.pos),
            format!("{a:?}: svcsim reads {kind} as {expected_api}"),
        ),
        None if item_kind.is_some() => {}
        None => cx.error("apiVersion", node.pos, format!("missing; {kind} is {expected_api}")),
    }
    if kind == "KubeProxyConfiguration" {
        cx.object = Some(kind);
        let spec = kube_proxy::read_configuration(cx, &mut m);
        m.finish(cx);
        if read.kube_proxy.is_some() {
            cx.error("kind", node.pos, "only one KubeProxyConfiguration document is allowed");
        }
        read.kube_proxy = Some((spec, origin(doc, cx)));
        cx.object = None;
        return;
    }
    let (name, namespace) = metadata(cx, &mut m, &kind);
    cx.object = Some(format!("{kind} {name}"));
    enum Read {
        Deployment(Option<DeploymentDoc>),
        Service(Option<ServiceDoc>),
        Pod(Option<PodDoc>),
        Slice(Option<SliceDoc>),
        Slices(Vec<SliceDoc>),
        Node(NodeDoc),
        Simulation(SimSpec),
    }
    let one = match kind.as_str() {
        "Deployment" => Read::Deployment(read_deployment(cx, &mut m, name.clone(), namespace)),
        "Service" => {
            let mut skipped = false;
            let svc = read_service(cx, &mut m, name.clone(), namespace.clone(), &mut skipped);
            if skipped {
                read.skipped_services.push((namespace, name.clone()));
            }
            Read::Service(svc)
        }
        "Pod" => Read::Pod(read_pod(cx, &mut m, name.clone(), namespace)),
        "EndpointSlice" => Read::Slice(read_slice(cx, &mut m, name.clone(), namespace)),
        "Endpoints" => Read::Slices(read_endpoints(cx, &mut m, &name, namespace)),
        "Node" => Read::Node(read_node(cx, &mut m, &name)),
        _ => Read::Simulation(read_simulation(cx, &mut m)),
    };
    m.finish(cx);
    let o = origin(doc, cx);
    match one {
        Read::Deployment(d) => read.deployments.push((d, o)),
        Read::Service(s) => read.services.push((s, o)),
        Read::Pod(p) => read.pods.push((p, o)),
        Read::Slice(s) => read.slices.push((s, o)),
        Read::Slices(slices) => read.slices.extend(slices.into_iter().map(|s| (Some(s), o.clone()))),
        Read::Node(n) => read.nodes.push(n),
        Read::Simulation(spec) => {
            if read.sim.is_some() {
                cx.error("kind", node.pos, "only one Simulation document is allowed");
            }
            read.sim = Some((spec, o, name));
        }
    }
    // The next item of a List starts without this one's object.
    cx.object = None;
    cx.positions.clear();
}

/// `kind: List` (`apiVersion: v1`): its `items`, each read as a document of its own; its
/// `metadata` (`resourceVersion`, `selfLink`) says nothing svcsim uses.
fn read_list(cx: &mut Cx<'_>, mut m: Map<'_>, doc: usize, read: &mut Docs, item_kind: Option<&str>) {
    let _ = m.get(cx, "metadata");
    let items = m.get(cx, "items");
    let pos = m.node.pos;
    m.finish(cx);
    let Some(items) = items else {
        cx.error("items", pos, "a List needs items (what kubectl get -o yaml prints)");
        return;
    };
    for item in read::seq(cx, items, "items") {
        if item.is_null() {
            continue;
        }
        // Each item is an object of its own: its fields' positions start afresh.
        cx.positions.clear();
        read_document(cx, item, doc, read, item_kind);
    }
}

/// The value at `key` of a mapping, without reporting anything.
fn child<'n>(node: &'n YNode, key: &str) -> Option<&'n YNode> {
    match &node.value {
        tree::Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(&k.value, tree::Value::Scalar { text, .. } if text == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The scalar at `key` of a mapping, without reporting anything.
fn scalar_at(node: &YNode, key: &str) -> Option<String> {
    match &child(node, key)?.value {
        tree::Value::Scalar { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// `metadata.name` of a document, without reporting anything.
fn peek_name(doc: &YNode) -> String {
    child(doc, "metadata").and_then(|md| scalar_at(md, "name")).unwrap_or_default()
}

fn origin(doc: usize, cx: &Cx<'_>) -> Origin {
    Origin { doc, label: cx.object.clone().unwrap_or_default(), positions: cx.positions.clone() }
}

fn metadata(cx: &mut Cx<'_>, m: &mut Map<'_>, kind: &str) -> (String, String) {
    let Some(node) = m.get(cx, "metadata") else {
        cx.error("metadata", m.node.pos, format!("a {kind} needs metadata.name"));
        return (String::new(), "default".into());
    };
    let Some(mut md) = Map::new(cx, node, "metadata") else { return (String::new(), "default".into()) };
    let name = md.get(cx, "name").and_then(|n| read::string(cx, n, "metadata.name"));
    if name.is_none() && kind != "Simulation" {
        cx.error("metadata.name", node.pos, "missing");
    }
    if let Some(n) = &name
        && !is_dns_label(n)
        && kind != "Simulation"
    {
        let pos = cx.pos_of("metadata.name").unwrap_or(node.pos);
        cx.error(
            "metadata.name",
            pos,
            format!("{n:?} is not a valid {kind} name (lowercase letters, digits and '-', at most 63 characters)"),
        );
    }
    let namespace = md
        .get(cx, "namespace")
        .and_then(|n| read::string(cx, n, "metadata.namespace"))
        .unwrap_or_else(|| "default".into());
    // Read elsewhere by the kinds that use them.
    let _ = md.get(cx, "labels");
    let _ = md.get(cx, "annotations");
    let _ = md.get(cx, "deletionTimestamp");
    server_metadata(cx, &mut md);
    md.finish(cx);
    (name.unwrap_or_default(), namespace)
}

/// What the API server writes into every object's metadata, and `kubectl get -o yaml` prints:
/// read without a word, since it never changes how a packet is routed.
const SERVER_METADATA: [&str; 8] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "ownerReferences",
    "generateName",
];

fn server_metadata(cx: &mut Cx<'_>, md: &mut Map<'_>) {
    for key in SERVER_METADATA {
        let _ = md.get(cx, key);
    }
}

/// Fields the API server fills in with its defaults, which every `kubectl get -o yaml` carries:
/// (field, read without a word only when empty, as `resources: {}` is). None changes a route.
type Defaults = &'static [(&'static str, bool)];
const DEPLOYMENT_DEFAULTS: Defaults =
    &[("progressDeadlineSeconds", false), ("revisionHistoryLimit", false), ("strategy", false)];
const POD_SPEC_DEFAULTS: Defaults = &[
    ("dnsPolicy", false),
    ("restartPolicy", false),
    ("schedulerName", false),
    ("terminationGracePeriodSeconds", false),
    ("enableServiceLinks", false),
    ("preemptionPolicy", false),
    ("priority", false),
    ("securityContext", true),
];
const CONTAINER_DEFAULTS: Defaults = &[
    ("imagePullPolicy", false),
    ("terminationMessagePath", false),
    ("terminationMessagePolicy", false),
    ("resources", true),
];
const SERVICE_DEFAULTS: Defaults = &[("allocateLoadBalancerNodePorts", false)];

fn server_defaults(cx: &mut Cx<'_>, m: &mut Map<'_>, defaults: Defaults) {
    for &(key, only_empty) in defaults {
        if !only_empty || m.peek(key).is_some_and(|v| matches!(&v.value, tree::Value::Map(e) if e.is_empty())) {
            let _ = m.get(cx, key);
        }
    }
}

fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_subdomain(s)
}

/// A DNS-1123 subdomain, as Kubernetes requires of node names: at most 253 characters of
/// lowercase letters, digits, '-' and '.', starting and ending with a letter or digit.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

fn labels(cx: &mut Cx<'_>, node: Option<&YNode>, path: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return out };
    let Some(mut m) = Map::new(cx, node, path) else { return out };
    for (k, _, v) in m.entries() {
        if let Some(v) = read::string(cx, v, &format!("{path}.{k}")) {
            out.insert(k, v);
        }
    }
    out
}

/// `metadata.labels`, `metadata.annotations` of the document root.
fn meta_map(cx: &mut Cx<'_>, m: &mut Map<'_>, field: &str) -> BTreeMap<String, String> {
    let Some(md) = m.get(cx, "metadata") else { return BTreeMap::new() };
    let Some(mut md) = Map::new(cx, md, "metadata") else { return BTreeMap::new() };
    let node = md.get(cx, field);
    let out = labels(cx, node, &format!("metadata.{field}"));
    // The other metadata keys were reported by `metadata`.
    md.entries();
    out
}

/// The app a pod runs: the `svcsim.dev/app` annotation if given, else what its image is known
/// to be (`from_image`), else nodejs, the seed's app.
fn app(cx: &mut Cx<'_>, annotations: &BTreeMap<String, String>, path: &str, from_image: Option<App>) -> App {
    match annotations.get(APP_ANNOTATION).map(String::as_str) {
        None => from_image.unwrap_or(App::NodeJs),
        Some("nodejs") => App::NodeJs,
        Some("echo") => App::Echo,
        Some(other) => {
            let pos = cx.pos_of(path).unwrap_or_default();
            cx.error(path, pos, format!("{other:?} is not an app svcsim runs: nodejs or echo"));
            App::NodeJs
        }
    }
}

/// The app an image is known to be: the AKS post's `nfranssens/nodejs-ip` prints the peer the
/// Node.js way, the "Using Source IP" tutorial's echoserver prints `client_address=`.
fn known_image(image: &str) -> Option<App> {
    let repository = image.split(['@']).next().unwrap_or(image);
    // A tag follows the last `:` after the last `/` (a registry port comes before a `/`).
    let repository = match repository.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repository,
    };
    if repository == "nfranssens/nodejs-ip" || repository.ends_with("/nfranssens/nodejs-ip") {
        Some(App::NodeJs)
    } else if repository.rsplit('/').next() == Some("echoserver") {
        Some(App::Echo)
    } else {
        None
    }
}

/// `spec.containers[].ports[]` of a pod spec, and the app the first known image is.
fn container_ports(cx: &mut Cx<'_>, spec: &mut Map<'_>, base: &str) -> (Vec<ContainerPort>, Option<App>) {
    let mut out = Vec::new();
    let mut known = None;
    let Some(containers) = spec.get(cx, "containers") else {
        cx.error(&format!("{base}.containers"), spec.node.pos, "a pod needs at least one container");
        return (out, None);
    };
    for (ci, c) in read::seq(cx, containers, &format!("{base}.containers")).iter().enumerate() {
        let cpath = format!("{base}.containers[{ci}]");
        let Some(mut cm) = Map::new(cx, c, &cpath) else { continue };
        let _ = cm.get(cx, "name");
        if let Some(image) = cm.get(cx, "image")
            && let Some(img) = read::string(cx, image, &format!("{cpath}.image"))
        {
            match known_image(&img) {
                Some(app) => {
                    known.get_or_insert(app);
                }
                None => cx.note(&format!("{cpath}.image"), image.pos, format!("{img}{}", super::read::UNKNOWN_IMAGE)),
            }
        }
        if let Some(ports) = cm.get(cx, "ports") {
            for (pi, p) in read::seq(cx, ports, &format!("{cpath}.ports")).iter().enumerate() {
                let ppath = format!("{cpath}.ports[{pi}]");
                let Some(mut pm) = Map::new(cx, p, &ppath) else { continue };
                let name = pm.get(cx, "name").and_then(|n| read::string(cx, n, &format!("{ppath}.name")));
                let port =
                    pm.get(cx, "containerPort").and_then(|n| read::port(cx, n, &format!("{ppath}.containerPort")));
                let protocol = protocol(cx, &mut pm, &ppath);
                match port {
                    Some(port) => out.push(ContainerPort { name, port, protocol }),
                    None if pm.node.pos != Pos::default() => {
                        cx.error(&format!("{ppath}.containerPort"), p.pos, "missing")
                    }
                    None => {}
                }
                pm.finish(cx);
            }
        }
        server_defaults(cx, &mut cm, CONTAINER_DEFAULTS);
        cm.finish(cx);
    }
    server_defaults(cx, spec, POD_SPEC_DEFAULTS);
    (out, known)
}

pub(super) struct DeploymentDoc {
    pub(super) deployment: Deployment,
}

fn read_deployment(cx: &mut Cx<'_>, m: &mut Map<'_>, name: String, namespace: String) -> Option<DeploymentDoc> {
    // The controller's report of the rollout: svcsim schedules the replicas itself.
    let _ = m.get(cx, "status");
    let spec_node = m.get(cx, "spec")?;
    let mut spec = Map::new(cx, spec_node, "spec")?;
    let replicas = spec
        .get(cx, "replicas")
        .and_then(|n| read::integer(cx, n, "spec.replicas", 0, limits::MAX_PODS as i64))
        .unwrap_or(1) as u32;
    let selector = spec.get(cx, "selector").and_then(|sel| {
        let mut sm = Map::new(cx, sel, "spec.selector")?;
        let node = sm.get(cx, "matchLabels");
        let l = labels(cx, node, "spec.selector.matchLabels");
        sm.finish(cx);
        Some(l)
    });
    let template = spec.get(cx, "template")?;
    let mut tm = Map::new(cx, template, "spec.template")?;
    let (tlabels, annotations) = match tm.get(cx, "metadata") {
        Some(md) => {
            let mut mdm = Map::new(cx, md, "spec.template.metadata")?;
            let l = mdm.get(cx, "labels");
            let l = labels(cx, l, "spec.template.metadata.labels");
            let a = mdm.get(cx, "annotations");
            let a = labels(cx, a, "spec.template.metadata.annotations");
            // kubectl prints `creationTimestamp: null` here.
            server_metadata(cx, &mut mdm);
            mdm.finish(cx);
            (l, a)
        }
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    let mut ports = Vec::new();
    let mut image_app = None;
    let mut node_name = None;
    if let Some(ps) = tm.get(cx, "spec")
        && let Some(mut psm) = Map::new(cx, ps, "spec.template.spec")
    {
        (ports, image_app) = container_ports(cx, &mut psm, "spec.template.spec");
        node_name = psm.get(cx, "nodeName").and_then(|n| read::string(cx, n, "spec.template.spec.nodeName"));
        psm.finish(cx);
    }
    tm.finish(cx);
    server_defaults(cx, &mut spec, DEPLOYMENT_DEFAULTS);
    let app = app(cx, &annotations, &format!("spec.template.metadata.annotations.{APP_ANNOTATION}"), image_app);
    match &selector {
        None => cx.error("spec.selector", spec_node.pos, "missing: apps/v1 Deployments need spec.selector.matchLabels"),
        Some(sel) if sel.is_empty() || !sel.iter().all(|(k, v)| tlabels.get(k) == Some(v)) => {
            let pos = cx.pos_of("spec.selector").unwrap_or(spec_node.pos);
            cx.error("spec.selector", pos, "`selector` does not match template `labels`");
        }
        Some(_) => {}
    }
    spec.finish(cx);
    Some(DeploymentDoc {
        deployment: Deployment {
            name,
            namespace,
            replicas,
            template: PodTemplate { labels: tlabels, ports, app, node_name },
        },
    })
}

/// A Service, and its nodePorts that are not even ports (checked against the node port range once
/// the Simulation document is known).
pub(super) struct ServiceDoc {
    pub(super) service: Service,
    pub(super) bad_node_ports: Vec<(String, Pos, i64)>,
    /// Its IP family fields as written, defaulted once the cluster's families are known.
    pub(super) families: FamilyRequest,
}

/// A Service, or `None`; `skipped` is set for one kube-proxy programs nothing for.
fn read_service(
    cx: &mut Cx<'_>,
    m: &mut Map<'_>,
    name: String,
    namespace: String,
    skipped: &mut bool,
) -> Option<ServiceDoc> {
    let mut bad_node_ports = Vec::new();
    let spec_node = m.get(cx, "spec")?;
    let mut spec = Map::new(cx, spec_node, "spec")?;
    if let Some(note) = programs_nothing(cx, &mut spec) {
        // Read no further: nothing else about it routes a packet.
        let _ = m.get(cx, "status");
        spec.skip_rest();
        cx.note(&note.0, note.1, note.2);
        *skipped = true;
        return None;
    }
    let type_ = match spec
        .get(cx, "type")
        .and_then(|n| read::one_of(cx, n, "spec.type", &["ClusterIP", "NodePort", "LoadBalancer"]))
    {
        Some(t) if t == "NodePort" => ServiceType::NodePort,
        Some(t) if t == "LoadBalancer" => ServiceType::LoadBalancer,
        _ => ServiceType::ClusterIP,
    };
    let selector = spec.get(cx, "selector");
    let selector = labels(cx, selector, "spec.selector");
    let mut ports = Vec::new();
    match spec.get(cx, "ports") {
        None => cx.error("spec.ports", spec_node.pos, "a Service needs at least one port"),
        Some(list) => {
            for (i, p) in read::seq(cx, list, "spec.ports").iter().enumerate() {
                let path = format!("spec.ports[{i}]");
                let Some(mut pm) = Map::new(cx, p, &path) else { continue };
                let pname =
                    pm.get(cx, "name").and_then(|n| read::string(cx, n, &format!("{path}.name"))).unwrap_or_default();
                let port = pm.get(cx, "port").and_then(|n| read::port(cx, n, &format!("{path}.port")));
                if port.is_none() && pm.get(cx, "port").is_none() {
                    cx.error(&format!("{path}.port"), p.pos, "missing");
                }
                let target = match pm.get(cx, "targetPort") {
                    None => port.map(TargetPort::Number),
                    Some(t) => match &t.value {
                        tree::Value::Scalar { text, quoted: false } if text.parse::<i64>().is_ok() => {
                            read::port(cx, t, &format!("{path}.targetPort")).map(TargetPort::Number)
                        }
                        _ => read::string(cx, t, &format!("{path}.targetPort")).map(TargetPort::Name),
                    },
                };
                let node_port = pm.get(cx, "nodePort").and_then(|n| {
                    let v = read::integer(cx, n, &format!("{path}.nodePort"), i64::MIN, i64::MAX)?;
                    match u16::try_from(v) {
                        Ok(p) if p > 0 => Some(p),
                        _ => {
                            bad_node_ports.push((format!("{path}.nodePort"), n.pos, v));
                            None
                        }
                    }
                });
                let protocol = protocol(cx, &mut pm, &path);
                pm.finish(cx);
                if let (Some(port), Some(target_port)) = (port, target) {
                    ports.push(ServicePort { name: pname, port, target_port, node_port, protocol });
                }
            }
        }
    }
    let families = family_request(cx, &mut spec);
    let policy = |cx: &mut Cx<'_>, spec: &mut Map<'_>, key: &str| {
        let path = format!("spec.{key}");
        spec.get(cx, key).map(|n| (read::one_of(cx, n, &path, &["Cluster", "Local"]), n.pos))
    };
    let etp = policy(cx, &mut spec, "externalTrafficPolicy");
    let itp = policy(cx, &mut spec, "internalTrafficPolicy");
    let health_check_node_port =
        spec.get(cx, "healthCheckNodePort").and_then(|n| read::port(cx, n, "spec.healthCheckNodePort"));
    let affinity = spec
        .get(cx, "sessionAffinity")
        .and_then(|n| read::one_of(cx, n, "spec.sessionAffinity", &["None", "ClientIP"]));
    let mut timeout = DEFAULT_AFFINITY_TIMEOUT;
    if let Some(cfg) = spec.get(cx, "sessionAffinityConfig")
        && let Some(mut cm) = Map::new(cx, cfg, "spec.sessionAffinityConfig")
    {
        if let Some(cip) = cm.get(cx, "clientIP")
            && let Some(mut cim) = Map::new(cx, cip, "spec.sessionAffinityConfig.clientIP")
        {
            if let Some(t) = cim.get(cx, "timeoutSeconds")
                && let Some(s) = read::integer(cx, t, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 1, 86_400)
            {
                timeout = Duration::from_secs(s as u64);
            }
            cim.finish(cx);
        }
        cm.finish(cx);
    }
    let mut external_ips = Vec::new();
    if let Some(list) = spec.get(cx, "externalIPs") {
        for (i, n) in read::seq(cx, list, "spec.externalIPs").iter().enumerate() {
            external_ips.extend(read::ip(cx, n, &format!("spec.externalIPs[{i}]")));
        }
    }
    let mut ranges = Vec::new();
    if let Some(list) = spec.get(cx, "loadBalancerSourceRanges") {
        for (i, n) in read::seq(cx, list, "spec.loadBalancerSourceRanges").iter().enumerate() {
            ranges.extend(read::cidr(cx, n, &format!("spec.loadBalancerSourceRanges[{i}]")));
        }
    }
    server_defaults(cx, &mut spec, SERVICE_DEFAULTS);
    spec.finish(cx);
    let mut ingress = Vec::new();
    if let Some(status) = m.get(cx, "status")
        && let Some(mut sm) = Map::new(cx, status, "status")
    {
        if let Some(lb) = sm.get(cx, "loadBalancer")
            && let Some(mut lbm) = Map::new(cx, lb, "status.loadBalancer")
        {
            if let Some(list) = lbm.get(cx, "ingress") {
                for (i, n) in read::seq(cx, list, "status.loadBalancer.ingress").iter().enumerate() {
                    let path = format!("status.loadBalancer.ingress[{i}]");
                    if let Some(mut im) = Map::new(cx, n, &path) {
                        if let Some(ipn) = im.get(cx, "ip") {
                            ingress.extend(read::ip(cx, ipn, &format!("{path}.ip")));
                        }
                        if let Some(mode) = im.get(cx, "ipMode")
                            && read::one_of(cx, mode, &format!("{path}.ipMode"), &["VIP", "Proxy"]).as_deref()
                                == Some("Proxy")
                        {
                            let note = "Proxy: not modelled by svcsim: the address is treated as ipMode VIP";
                            cx.warn(&format!("{path}.ipMode"), mode.pos, note);
                        }
                        im.finish(cx);
                    }
                }
            }
            lbm.finish(cx);
        }
        sm.finish(cx);
    }
    let externally_reachable = type_ != ServiceType::ClusterIP || !external_ips.is_empty();
    if let Some((Some(_), pos)) = &etp
        && !externally_reachable
    {
        cx.error(
            "spec.externalTrafficPolicy",
            *pos,
            "may only be set for externally-accessible services (NodePort, LoadBalancer or externalIPs)",
        );
    }
    let to_policy = |p: Option<(Option<String>, Pos)>| match p {
        Some((Some(s), _)) if s == "Local" => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    };
    Some(ServiceDoc {
        service: Service {
            name,
            namespace,
            type_,
            selector,
            ports,
            cluster_ip: families.cluster_ips.first().copied(),
            secondary_cluster_ip: families.cluster_ips.get(1).copied(),
            // Defaulted with the cluster's families during the assembly.
            ip_family_policy: families.policy.unwrap_or_default(),
            ip_families: Vec::new(),
            external_traffic_policy: to_policy(etp),
            internal_traffic_policy: to_policy(itp),
            health_check_node_port,
            session_affinity: (affinity.as_deref() == Some("ClientIP")).then_some(timeout),
            external_ips,
            load_balancer_source_ranges: ranges,
            load_balancer_ingress: ingress,
        },
        bad_node_ports,
        families,
    })
}

/// A Service kube-proxy programs nothing for — headless (`clusterIP: None`) or ExternalName —
/// as (path, position, the note saying so), or `None` for one it routes.
fn programs_nothing(cx: &mut Cx<'_>, spec: &mut Map<'_>) -> Option<(String, Pos, String)> {
    if let Some(t) = spec.get(cx, "type")
        && let tree::Value::Scalar { text, .. } = &t.value
        && text == "ExternalName"
    {
        let note = "ExternalName: a DNS alias; kube-proxy programs nothing for it, so svcsim skips it";
        return Some(("spec.type".into(), t.pos, note.into()));
    }
    let ip = spec.get(cx, "clusterIP")?;
    match &ip.value {
        tree::Value::Scalar { text, .. } if text == "None" => {
            let note = "None: a headless Service; kube-proxy programs nothing for it (clients resolve the pods \
                        through DNS), so svcsim skips it";
            Some(("spec.clusterIP".into(), ip.pos, note.into()))
        }
        _ => None,
    }
}

/// `clusterIP`, `clusterIPs`, `ipFamilies` and `ipFamilyPolicy` as written, each problem of
/// form at its field. Defaulting them needs the cluster's families, so it waits for the assembly
/// (`crate::cluster::families`).
fn family_request(cx: &mut Cx<'_>, spec: &mut Map<'_>) -> FamilyRequest {
    let mut request = FamilyRequest::default();
    let cluster_ip = spec.get(cx, "clusterIP").and_then(|n| read::ip(cx, n, "spec.clusterIP"));
    if let Some(list) = spec.get(cx, "clusterIPs") {
        for (i, n) in read::seq(cx, list, "spec.clusterIPs").iter().enumerate() {
            let path = format!("spec.clusterIPs[{i}]");
            match read::ip(cx, n, &path) {
                Some(ip) if i == 0 && cluster_ip.is_some_and(|c| c != ip) => {
                    cx.error(&path, n.pos, format!("{ip} is not spec.clusterIP: the first clusterIPs entry must be"))
                }
                Some(ip) => request.cluster_ips.push(ip),
                None => {}
            }
        }
    }
    if request.cluster_ips.is_empty() {
        request.cluster_ips.extend(cluster_ip);
    }
    if let Some(list) = spec.get(cx, "ipFamilies") {
        request.families = ip_families(cx, list, "spec.ipFamilies");
    }
    request.policy = spec.get(cx, "ipFamilyPolicy").and_then(|n| ip_family_policy(cx, n, "spec.ipFamilyPolicy"));
    request
}

/// `ipFamilies` at `path`: the families read, each bad entry reported at its index.
fn ip_families(cx: &mut Cx<'_>, list: &YNode, path: &str) -> Vec<IpFamily> {
    let mut families = Vec::new();
    for (i, n) in read::seq(cx, list, path).iter().enumerate() {
        match read::one_of(cx, n, &format!("{path}[{i}]"), &["IPv4", "IPv6"]).as_deref() {
            Some("IPv4") => families.push(IpFamily::Ipv4),
            Some(_) => families.push(IpFamily::Ipv6),
            None => {}
        }
    }
    families
}

/// `ipFamilyPolicy` at `path`.
fn ip_family_policy(cx: &mut Cx<'_>, n: &YNode, path: &str) -> Option<IpFamilyPolicy> {
    let allowed = ["SingleStack", "PreferDualStack", "RequireDualStack"];
    match read::one_of(cx, n, path, &allowed).as_deref() {
        Some("SingleStack") => Some(IpFamilyPolicy::SingleStack),
        Some("PreferDualStack") => Some(IpFamilyPolicy::PreferDualStack),
        Some(_) => Some(IpFamilyPolicy::RequireDualStack),
        None => None,
    }
}

pub(super) struct PodDoc {
    pub(super) pod: Pod,
    pub(super) node_name: Option<(String, Pos)>,
}

fn read_pod(cx: &mut Cx<'_>, m: &mut Map<'_>, name: String, namespace: String) -> Option<PodDoc> {
    let labels_ = meta_map(cx, m, "labels");
    let annotations = meta_map(cx, m, "annotations");
    let terminating = {
        let md = m.get(cx, "metadata");
        md.and_then(|md| match &md.value {
            tree::Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, tree::Value::Scalar { text, .. } if text == "deletionTimestamp"))
                .map(|(_, v)| !v.is_null()),
            _ => None,
        })
        .unwrap_or(false)
    };
    let spec_node = m.get(cx, "spec")?;
    let mut spec = Map::new(cx, spec_node, "spec")?;
    let (ports, image_app) = container_ports(cx, &mut spec, "spec");
    let app = app(cx, &annotations, &format!("metadata.annotations.{APP_ANNOTATION}"), image_app);
    let node_name = spec.get(cx, "nodeName").and_then(|n| read::string(cx, n, "spec.nodeName").map(|s| (s, n.pos)));
    if spec.get(cx, "hostNetwork").is_some() {
        let pos = cx.pos_of("spec.hostNetwork").unwrap_or(spec_node.pos);
        cx.warn(
            "spec.hostNetwork",
            pos,
            "not modelled: use a Simulation client with hostNetwork: <node> for host-network traffic",
        );
    }
    spec.finish(cx);
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut ready = true;
    if let Some(status) = m.get(cx, "status")
        && let Some(mut sm) = Map::new(cx, status, "status")
    {
        let pod_ip = sm.get(cx, "podIP").and_then(|n| read::ip(cx, n, "status.podIP"));
        // `status.podIPs`: one per family, `podIP` first.
        if let Some(list) = sm.get(cx, "podIPs") {
            for (i, n) in read::seq(cx, list, "status.podIPs").iter().enumerate() {
                let path = format!("status.podIPs[{i}]");
                let Some(mut im) = Map::new(cx, n, &path) else { continue };
                let ip = im.get(cx, "ip").and_then(|n| read::ip(cx, n, &format!("{path}.ip")));
                im.finish(cx);
                match ip {
                    Some(ip) if i == 0 && pod_ip.is_some_and(|p| p != ip) => {
                        cx.error(&format!("{path}.ip"), n.pos, format!("{ip} is not status.podIP: podIPs[0] must be"));
                    }
                    Some(ip) if ips.iter().any(|x| IpFamily::of(*x) == IpFamily::of(ip)) => {
                        cx.error(
                            &format!("{path}.ip"),
                            n.pos,
                            format!("{ip}: a second {} address; a pod has at most one per family", IpFamily::of(ip)),
                        );
                    }
                    Some(ip) => ips.push(ip),
                    None => {}
                }
            }
        }
        if ips.is_empty() {
            ips.extend(pod_ip);
        }
        if let Some(conds) = sm.get(cx, "conditions") {
            for (i, c) in read::seq(cx, conds, "status.conditions").iter().enumerate() {
                let path = format!("status.conditions[{i}]");
                let Some(mut cm) = Map::new(cx, c, &path) else { continue };
                let t = cm.get(cx, "type").and_then(|n| read::string(cx, n, &format!("{path}.type")));
                let s = cm
                    .get(cx, "status")
                    .and_then(|n| read::one_of(cx, n, &format!("{path}.status"), &["True", "False", "Unknown"]));
                if t.as_deref() == Some("Ready") {
                    ready = s.as_deref() == Some("True");
                }
                cm.entries();
            }
        }
        sm.finish(cx);
    }
    let pod = Pod {
        name,
        namespace,
        labels: labels_,
        node: NodeId(0),
        ip: ips.first().copied(),
        secondary_ip: ips.get(1).copied(),
        ready,
        terminating,
        deleted: false,
        ports,
        app,
        owner: None,
    };
    Some(PodDoc { pod, node_name })
}

pub(super) struct SliceDoc {
    /// Mirrored from a legacy Endpoints object.
    pub(super) mirrored: bool,
    pub(super) service: Option<(String, Pos)>,
    pub(super) namespace: String,
    pub(super) endpoints: Vec<(SliceEndpoint, Option<(String, Pos)>)>,
    pub(super) ports: Vec<(String, u16)>,
    /// `addressType`: the family of every endpoint address in it.
    pub(super) address_type: IpFamily,
}

fn read_slice(cx: &mut Cx<'_>, m: &mut Map<'_>, _name: String, namespace: String) -> Option<SliceDoc> {
    let labels_ = meta_map(cx, m, "labels");
    let service = labels_
        .get("kubernetes.io/service-name")
        .cloned()
        .map(|s| (s, cx.pos_of("metadata.labels.kubernetes.io/service-name").unwrap_or_default()));
    if service.is_none() {
        cx.error(
            "metadata.labels",
            m.node.pos,
            "an EndpointSlice names its Service with the label kubernetes.io/service-name",
        );
    }
    let mut address_type = IpFamily::Ipv4;
    match m.get(cx, "addressType") {
        None => cx.error("addressType", m.node.pos, "missing: IPv4 or IPv6"),
        Some(t) => match read::one_of(cx, t, "addressType", &["IPv4", "IPv6", "FQDN"]).as_deref() {
            Some("IPv6") => address_type = IpFamily::Ipv6,
            Some("FQDN") => {
                // Deprecated, and no proxy reads it; the rest of the Service still runs.
                let note = "FQDN: no service proxy reads an FQDN slice, so svcsim skips it";
                cx.note("addressType", t.pos, note);
                m.skip_rest();
                return None;
            }
            _ => {}
        },
    }
    let mut endpoints = Vec::new();
    if let Some(list) = m.get(cx, "endpoints") {
        for (i, e) in read::seq(cx, list, "endpoints").iter().enumerate() {
            let path = format!("endpoints[{i}]");
            let Some(mut em) = Map::new(cx, e, &path) else { continue };
            let mut ip = None;
            if let Some(addrs) = em.get(cx, "addresses") {
                let items = read::seq(cx, addrs, &format!("{path}.addresses"));
                ip = items.first().and_then(|a| read::ip(cx, a, &format!("{path}.addresses[0]")));
                if items.len() > 1 {
                    cx.warn(
                        &format!("{path}.addresses"),
                        addrs.pos,
                        "kube-proxy uses only the first address of an endpoint",
                    );
                }
            }
            if ip.is_none() {
                cx.error(&format!("{path}.addresses"), e.pos, "an endpoint needs an address");
            }
            if let Some(a) = ip
                && IpFamily::of(a) != address_type
            {
                let pos = cx.pos_of(&format!("{path}.addresses[0]")).unwrap_or(e.pos);
                cx.error(
                    &format!("{path}.addresses[0]"),
                    pos,
                    format!("{a} is not an {address_type} address, as the slice's addressType says"),
                );
                ip = None;
            }
            // nil means ready; serving defaults to ready; terminating to false (discovery/v1).
            let (mut ready, mut serving, mut terminating) = (None, None, false);
            if let Some(c) = em.get(cx, "conditions")
                && let Some(mut cm) = Map::new(cx, c, &format!("{path}.conditions"))
            {
                ready = cm.get(cx, "ready").and_then(|n| read::boolean(cx, n, &format!("{path}.conditions.ready")));
                serving =
                    cm.get(cx, "serving").and_then(|n| read::boolean(cx, n, &format!("{path}.conditions.serving")));
                terminating = cm
                    .get(cx, "terminating")
                    .and_then(|n| read::boolean(cx, n, &format!("{path}.conditions.terminating")))
                    .unwrap_or(false);
                cm.finish(cx);
            }
            let ready = ready.unwrap_or(true);
            let node = em
                .get(cx, "nodeName")
                .and_then(|n| read::string(cx, n, &format!("{path}.nodeName")).map(|s| (s, n.pos)));
            em.finish(cx);
            if let Some(ip) = ip {
                endpoints.push((
                    SliceEndpoint { ip, node: None, ready, serving: serving.unwrap_or(ready), terminating },
                    node,
                ));
            }
        }
    }
    let mut ports = Vec::new();
    if let Some(list) = m.get(cx, "ports") {
        for (i, p) in read::seq(cx, list, "ports").iter().enumerate() {
            let path = format!("ports[{i}]");
            let Some(mut pm) = Map::new(cx, p, &path) else { continue };
            let name =
                pm.get(cx, "name").and_then(|n| read::string(cx, n, &format!("{path}.name"))).unwrap_or_default();
            let port = pm.get(cx, "port").and_then(|n| read::port(cx, n, &format!("{path}.port")));
            // The slice's port is matched to the Service's by name, which is unique per Service.
            let _ = protocol(cx, &mut pm, &path);
            pm.finish(cx);
            ports.extend(port.map(|p| (name, p)));
        }
    }
    Some(SliceDoc { mirrored: false, service, namespace, endpoints, ports, address_type })
}

/// A Node object, as `kubectl get nodes -o yaml` prints it.
pub(super) struct NodeDoc {
    pub(super) name: String,
    /// `status.addresses[type=InternalIP]`: the first of each family, in the order listed.
    pub(super) ips: Vec<IpAddr>,
    /// `spec.podCIDRs` (or `spec.podCIDR`): the first of each family, in the order listed.
    pub(super) pod_cidrs: Vec<IpCidr>,
    /// `status.conditions[type=Ready].status`; a Node without one counts as Ready.
    pub(super) ready: bool,
}

/// Pushes `v` unless `list` already holds a value of its family: the first of each family wins.
fn push_first_of_family<T: Copy>(list: &mut Vec<T>, v: T, family: impl Fn(&T) -> IpFamily) {
    if list.len() < 2 && !list.iter().any(|x| family(x) == family(&v)) {
        list.push(v);
    }
}

/// A Node: its name, InternalIPs, podCIDRs and Ready condition. The rest — capacity, images,
/// taints, the zone label (topology is not modelled) — is read without a word: it is the kubelet's
/// report, and routes nothing.
fn read_node(cx: &mut Cx<'_>, m: &mut Map<'_>, name: &str) -> NodeDoc {
    let mut doc = NodeDoc { name: name.to_string(), ips: Vec::new(), pod_cidrs: Vec::new(), ready: true };
    if let Some(spec) = m.get(cx, "spec")
        && let Some(mut sm) = Map::new(cx, spec, "spec")
    {
        let single_node = sm.get(cx, "podCIDR");
        let single = single_node.and_then(|n| read::cidr(cx, n, "spec.podCIDR"));
        if let Some(list) = sm.get(cx, "podCIDRs") {
            for (i, n) in read::seq(cx, list, "spec.podCIDRs").iter().enumerate() {
                // `podCIDRs[0]` is `podCIDR`: one cause, one message.
                let c = match (i, single_node) {
                    (0, Some(_)) => single,
                    _ => read::cidr(cx, n, &format!("spec.podCIDRs[{i}]")),
                };
                if let Some(c) = c {
                    push_first_of_family(&mut doc.pod_cidrs, c, cidr_family);
                }
            }
        }
        // `podCIDR` is `podCIDRs[0]`.
        if doc.pod_cidrs.is_empty() {
            doc.pod_cidrs.extend(single);
        }
        sm.skip_rest();
    }
    if let Some(status) = m.get(cx, "status")
        && let Some(mut st) = Map::new(cx, status, "status")
    {
        if let Some(list) = st.get(cx, "addresses") {
            for a in read::seq(cx, list, "status.addresses") {
                if scalar_at(a, "type").as_deref() == Some("InternalIP")
                    && let Some(Ok(ip)) = scalar_at(a, "address").map(|t| t.parse::<IpAddr>())
                {
                    push_first_of_family(&mut doc.ips, ip, ip_family);
                }
            }
        }
        if let Some(list) = st.get(cx, "conditions") {
            for c in read::seq(cx, list, "status.conditions") {
                if scalar_at(c, "type").as_deref() == Some("Ready") {
                    doc.ready = scalar_at(c, "status").as_deref() == Some("True");
                }
            }
        }
        st.skip_rest();
    }
    doc
}

/// A legacy `Endpoints` object, mirrored into EndpointSlices as the EndpointSlice mirroring
/// controller does: one slice per subset, `addresses` ready and `notReadyAddresses` not, for the
/// Service of the same name (mirrored only when that Service has no selector, checked with the
/// slices; `endpointslice.kubernetes.io/skip-mirror: "true"` opts out).
fn read_endpoints(cx: &mut Cx<'_>, m: &mut Map<'_>, name: &str, namespace: String) -> Vec<SliceDoc> {
    let labels_ = meta_map(cx, m, "labels");
    let service = Some((name.to_string(), cx.pos_of("metadata.name").unwrap_or_default()));
    let subsets = m.get(cx, "subsets");
    if labels_.get("endpointslice.kubernetes.io/skip-mirror").map(String::as_str) == Some("true") {
        return Vec::new();
    }
    let Some(subsets) = subsets else { return Vec::new() };
    let mut out = Vec::new();
    for (i, s) in read::seq(cx, subsets, "subsets").iter().enumerate() {
        let spath = format!("subsets[{i}]");
        let Some(mut sm) = Map::new(cx, s, &spath) else { continue };
        let mut endpoints = Vec::new();
        for (key, ready) in [("addresses", true), ("notReadyAddresses", false)] {
            let Some(list) = sm.get(cx, key) else { continue };
            for (j, a) in read::seq(cx, list, &format!("{spath}.{key}")).iter().enumerate() {
                let apath = format!("{spath}.{key}[{j}]");
                let Some(mut am) = Map::new(cx, a, &apath) else { continue };
                let ip = am.get(cx, "ip").and_then(|n| read::ip(cx, n, &format!("{apath}.ip")));
                let node = am
                    .get(cx, "nodeName")
                    .and_then(|n| read::string(cx, n, &format!("{apath}.nodeName")).map(|s| (s, n.pos)));
                // Which pod the address is: svcsim finds the pod by its IP.
                let _ = (am.get(cx, "targetRef"), am.get(cx, "hostname"));
                am.finish(cx);
                if let Some(ip) = ip {
                    endpoints.push((SliceEndpoint { ip, node: None, ready, serving: ready, terminating: false }, node));
                }
            }
        }
        let mut ports = Vec::new();
        if let Some(list) = sm.get(cx, "ports") {
            for (j, p) in read::seq(cx, list, &format!("{spath}.ports")).iter().enumerate() {
                let ppath = format!("{spath}.ports[{j}]");
                let Some(mut pm) = Map::new(cx, p, &ppath) else { continue };
                let pname =
                    pm.get(cx, "name").and_then(|n| read::string(cx, n, &format!("{ppath}.name"))).unwrap_or_default();
                let port = pm.get(cx, "port").and_then(|n| read::port(cx, n, &format!("{ppath}.port")));
                let _ = protocol(cx, &mut pm, &ppath);
                let _ = pm.get(cx, "appProtocol");
                pm.finish(cx);
                ports.extend(port.map(|p| (pname, p)));
            }
        }
        sm.finish(cx);
        // The mirroring controller writes one slice per address family.
        for family in [IpFamily::Ipv4, IpFamily::Ipv6] {
            let of_family: Vec<_> = endpoints.iter().filter(|(e, _)| IpFamily::of(e.ip) == family).cloned().collect();
            if of_family.is_empty() && (family == IpFamily::Ipv6 || !endpoints.is_empty()) {
                continue;
            }
            out.push(SliceDoc {
                mirrored: true,
                service: service.clone(),
                namespace: namespace.clone(),
                endpoints: of_family,
                ports: ports.clone(),
                address_type: family,
            });
        }
    }
    out
}

/// One value, or one per IP family: `10.240.0.4` or `10.240.0.4,2001:db8::4`.
pub(super) type Dual<T> = (T, Option<T>);

/// One entry of `spec.cluster.nodes`: its name, its IPs and podCIDRs as given (one per family),
/// and where it was written.
#[derive(Debug, Clone)]
pub(super) struct NodeSpec {
    pub(super) name: String,
    pub(super) ip: Option<Dual<IpAddr>>,
    pub(super) pod_cidr: Option<Dual<IpCidr>>,
    pub(super) pos: Pos,
}

/// The `Simulation` document, unresolved.
#[derive(Debug, Clone, Default)]
pub(super) struct SimSpec {
    pub(super) seed: Option<u64>,
    pub(super) duration: Option<Duration>,
    pub(super) provider: Option<Provider>,
    pub(super) plugin: Option<NetworkPlugin>,
    /// `clusterCIDR`, one prefix per family, the first family's first.
    pub(super) cluster_cidr: Option<Dual<IpCidr>>,
    /// `serviceCIDR`, likewise: its first family is a Service's default.
    pub(super) service_cidr: Option<Dual<IpCidr>>,
    pub(super) node_count: Option<(u32, Pos)>,
    pub(super) node_list: Option<Vec<NodeSpec>>,
    pub(super) node_port_range: Option<(u16, u16)>,
    pub(super) kube_proxy: KubeProxySpec,
    pub(super) cilium: Option<cilium::CiliumSpec>,
    pub(super) clients: Vec<ClientSpec>,
    pub(super) events: Vec<EventSpec>,
}

#[derive(Debug, Clone)]
pub(super) struct ClientSpec {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) pos: Pos,
    pub(super) kind: Option<(String, String)>,
    pub(super) target: Option<(String, Pos)>,
    pub(super) rate: Option<(f64, Pos)>,
    pub(super) at: Vec<Instant>,
    /// `protocol:` TCP (default), UDP or SCTP: what the client sends, and which of the
    /// Service's ports a `service/…` or `node/…` target means.
    pub(super) protocol: Protocol,
}

#[derive(Debug, Clone)]
pub(super) struct EventSpec {
    pub(super) at: Instant,
    pub(super) path: String,
    pub(super) pos: Pos,
    pub(super) action: EventAction,
}

#[derive(Debug, Clone)]
pub(super) enum EventAction {
    Patch {
        service: String,
        etp: Option<TrafficPolicy>,
        itp: Option<TrafficPolicy>,
        affinity: Option<Option<Duration>>,
        /// `ipFamilyPolicy` and `ipFamilies`, when the patch sets either.
        families: Option<FamilyPatch>,
    },
    Scale {
        deployment: String,
        replicas: u32,
    },
    Pod {
        name: String,
        ready: Option<bool>,
        deleted: bool,
    },
    Node {
        name: String,
        ready: Option<bool>,
        kube_proxy_healthy: Option<bool>,
    },
}

fn read_simulation(cx: &mut Cx<'_>, m: &mut Map<'_>) -> SimSpec {
    let mut s = SimSpec::default();
    let Some(spec_node) = m.get(cx, "spec") else { return s };
    let Some(mut spec) = Map::new(cx, spec_node, "spec") else { return s };
    s.seed = spec.get(cx, "seed").and_then(|n| read::integer(cx, n, "spec.seed", 0, i64::MAX)).map(|n| n as u64);
    s.duration = spec.get(cx, "duration").and_then(|n| read::duration(cx, n, "spec.duration"));
    if let Some(c) = spec.get(cx, "cluster")
        && let Some(mut cm) = Map::new(cx, c, "spec.cluster")
    {
        s.provider = cm
            .get(cx, "provider")
            .and_then(|n| read::one_of(cx, n, "spec.cluster.provider", &["azure", "aws", "gcp", "none"]))
            .map(|p| parse_provider(&p));
        s.plugin = cm
            .get(cx, "networkPlugin")
            .and_then(|n| read::one_of(cx, n, "spec.cluster.networkPlugin", &["kubenet", "azure-cni"]))
            .map(|p| if p == "kubenet" { NetworkPlugin::Kubenet } else { NetworkPlugin::AzureCni });
        s.cluster_cidr = cm
            .get(cx, "clusterCIDR")
            .and_then(|n| read::dual(cx, n, "spec.cluster.clusterCIDR", read::parse_cidr, cidr_family));
        s.service_cidr = cm
            .get(cx, "serviceCIDR")
            .and_then(|n| read::dual(cx, n, "spec.cluster.serviceCIDR", read::parse_cidr, cidr_family));
        if let Some(nodes) = cm.get(cx, "nodes") {
            match &nodes.value {
                tree::Value::Seq(items) => {
                    let mut list = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let path = format!("spec.cluster.nodes[{i}]");
                        let Some(mut nm) = Map::new(cx, item, &path) else { continue };
                        let name = nm.get(cx, "name").and_then(|n| read::string(cx, n, &format!("{path}.name")));
                        let ip = nm
                            .get(cx, "ip")
                            .and_then(|n| read::dual(cx, n, &format!("{path}.ip"), read::parse_ip, ip_family));
                        let pod_cidr = nm
                            .get(cx, "podCIDR")
                            .and_then(|n| read::dual(cx, n, &format!("{path}.podCIDR"), read::parse_cidr, cidr_family));
                        nm.finish(cx);
                        match name {
                            Some(name) if !is_dns_subdomain(&name) => {
                                let pos = cx.pos_of(&format!("{path}.name")).unwrap_or(item.pos);
                                cx.error(
                                    &format!("{path}.name"),
                                    pos,
                                    format!(
                                        "{name:?} is not a valid node name (lowercase letters, digits, '-' and '.')"
                                    ),
                                );
                            }
                            Some(name) => list.push(NodeSpec { name, ip, pod_cidr, pos: item.pos }),
                            None => cx.error(&format!("{path}.name"), item.pos, "missing"),
                        }
                    }
                    s.node_list = Some(list);
                }
                _ => {
                    s.node_count = read::integer(cx, nodes, "spec.cluster.nodes", 1, limits::MAX_NODES as i64)
                        .map(|n| (n as u32, nodes.pos));
                }
            }
        }
        if let Some(r) = cm.get(cx, "nodePortRange")
            && let Some(text) = read::string(cx, r, "spec.cluster.nodePortRange")
        {
            let parsed = text
                .split_once('-')
                .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)));
            match parsed {
                Some((a, b)) if a >= 1 && a <= b => s.node_port_range = Some((a, b)),
                _ => cx.error(
                    "spec.cluster.nodePortRange",
                    r.pos,
                    format!("{text:?} is not a port range like 30000-32767"),
                ),
            }
        }
        if let Some(kp) = cm.get(cx, "kubeProxy")
            && let Some(mut km) = Map::new(cx, kp, "spec.cluster.kubeProxy")
        {
            s.kube_proxy = kube_proxy::read_simulation_block(cx, &mut km);
            km.finish(cx);
        }
        if let Some(c) = cm.get(cx, "cilium")
            && let Some(mut ci) = Map::new(cx, c, "spec.cluster.cilium")
        {
            s.cilium = Some(cilium::read(cx, &mut ci));
            ci.finish(cx);
        }
        cm.finish(cx);
    }
    if let Some(list) = spec.get(cx, "clients") {
        for (i, c) in read::seq(cx, list, "spec.clients").iter().enumerate() {
            let path = format!("spec.clients[{i}]");
            let Some(mut cm) = Map::new(cx, c, &path) else { continue };
            let name = cm
                .get(cx, "name")
                .and_then(|n| read::string(cx, n, &format!("{path}.name")))
                .unwrap_or_else(|| format!("client-{i}"));
            let mut kinds = Vec::new();
            for key in ["ip", "pod", "hostNetwork"] {
                if let Some(n) = cm.get(cx, key)
                    && let Some(v) = read::string(cx, n, &format!("{path}.{key}"))
                {
                    kinds.push((key.to_string(), v));
                }
            }
            if kinds.len() > 1 {
                cx.error(&path, c.pos, "a client is one of ip, pod or hostNetwork, not several");
            }
            let target =
                cm.get(cx, "target").and_then(|n| read::string(cx, n, &format!("{path}.target")).map(|t| (t, n.pos)));
            if target.is_none() {
                cx.error(
                    &format!("{path}.target"),
                    c.pos,
                    "missing: e.g. service/<name>, service/<name>:clusterIP, node/<name>:nodePort or 1.2.3.4:80",
                );
            }
            let rate = cm.get(cx, "rate").and_then(|n| {
                let text = read::string(cx, n, &format!("{path}.rate"))?;
                match parse_rate(&text) {
                    Some(r) => Some((r, n.pos)),
                    None => {
                        cx.error(
                            &format!("{path}.rate"),
                            n.pos,
                            format!("{text:?} is not a rate like 1/s, 0.5/s or 30/m"),
                        );
                        None
                    }
                }
            });
            let mut at = Vec::new();
            if let Some(list) = cm.get(cx, "at") {
                for (j, t) in read::seq(cx, list, &format!("{path}.at")).iter().enumerate() {
                    at.extend(read::duration(cx, t, &format!("{path}.at[{j}]")).map(|d| Instant::ZERO + d));
                }
            }
            if rate.is_none() && at.is_empty() && cm.get(cx, "rate").is_none() && cm.get(cx, "at").is_none() {
                cx.error(&path, c.pos, "a client needs rate (e.g. 1/s) or at (e.g. [5s, 10s])");
            }
            let protocol = protocol(cx, &mut cm, &path);
            cm.finish(cx);
            let kind = kinds.into_iter().next();
            s.clients.push(ClientSpec { name, path, pos: c.pos, kind, target, rate, at, protocol });
        }
    }
    if let Some(list) = spec.get(cx, "events") {
        for (i, e) in read::seq(cx, list, "spec.events").iter().enumerate() {
            let path = format!("spec.events[{i}]");
            let Some(mut em) = Map::new(cx, e, &path) else { continue };
            let at = em.get(cx, "at").and_then(|n| read::duration(cx, n, &format!("{path}.at")));
            if at.is_none() && em.get(cx, "at").is_none() {
                cx.error(&format!("{path}.at"), e.pos, "missing: when the event happens, e.g. 60s");
            }
            let action = read_event_action(cx, &mut em, &path, e.pos);
            em.finish(cx);
            if let (Some(at), Some(action)) = (at, action) {
                s.events.push(EventSpec { at: Instant::ZERO + at, path, pos: e.pos, action });
            }
        }
    }
    spec.finish(cx);
    s
}

/// A timeline action's one-entry map `{<kind>/<name>: value}`: (key, name, value), or an error
/// saying `usage` (not exactly one entry) or `only` (another kind).
fn one_target<'n>(
    cx: &mut Cx<'_>,
    node: &'n YNode,
    path: &str,
    prefix: &str,
    usage: &str,
    only: &str,
) -> Option<(String, String, &'n YNode)> {
    let mut m = Map::new(cx, node, path)?;
    let entries = m.entries();
    let [(target, _, value)] = entries.as_slice() else {
        cx.error(path, node.pos, usage);
        return None;
    };
    let Some(name) = target.strip_prefix(prefix) else {
        cx.error(path, node.pos, format!("{target:?}: {only}"));
        return None;
    };
    Some((target.clone(), name.to_string(), value))
}

fn read_event_action(cx: &mut Cx<'_>, em: &mut Map<'_>, path: &str, pos: Pos) -> Option<EventAction> {
    if let Some(p) = em.get(cx, "patch") {
        let (target, service, body) = one_target(
            cx,
            p,
            &format!("{path}.patch"),
            "service/",
            "patch one object: {service/<name>: {spec: {...}}}",
            "only Services can be patched (service/<name>)",
        )?;
        let bpath = format!("{path}.patch.{target}");
        let mut bm = Map::new(cx, body, &bpath)?;
        let spec = bm.get(cx, "spec");
        bm.finish(cx);
        let spec = spec?;
        let mut sm = Map::new(cx, spec, &format!("{bpath}.spec"))?;
        let pol = |cx: &mut Cx<'_>, sm: &mut Map<'_>, key: &str| {
            sm.get(cx, key)
                .and_then(|n| read::one_of(cx, n, &format!("{bpath}.spec.{key}"), &["Cluster", "Local"]))
                .map(|s| if s == "Local" { TrafficPolicy::Local } else { TrafficPolicy::Cluster })
        };
        let etp = pol(cx, &mut sm, "externalTrafficPolicy");
        let itp = pol(cx, &mut sm, "internalTrafficPolicy");
        let affinity = sm
            .get(cx, "sessionAffinity")
            .and_then(|n| read::one_of(cx, n, &format!("{bpath}.spec.sessionAffinity"), &["None", "ClientIP"]))
            .map(|a| (a == "ClientIP").then_some(DEFAULT_AFFINITY_TIMEOUT));
        let families = FamilyPatch {
            policy: sm
                .get(cx, "ipFamilyPolicy")
                .and_then(|n| ip_family_policy(cx, n, &format!("{bpath}.spec.ipFamilyPolicy"))),
            families: sm.get(cx, "ipFamilies").map(|n| ip_families(cx, n, &format!("{bpath}.spec.ipFamilies"))),
        };
        for (key, k, _) in sm.entries() {
            let known =
                ["externalTrafficPolicy", "internalTrafficPolicy", "sessionAffinity", "ipFamilyPolicy", "ipFamilies"];
            if !known.contains(&key.as_str()) {
                cx.error(
                    &format!("{bpath}.spec.{key}"),
                    k.pos,
                    "svcsim can patch externalTrafficPolicy, internalTrafficPolicy, sessionAffinity, ipFamilyPolicy and ipFamilies",
                );
            }
        }
        let families = (families != FamilyPatch::default()).then_some(families);
        return Some(EventAction::Patch { service: service.to_string(), etp, itp, affinity, families });
    }
    if let Some(s) = em.get(cx, "scale") {
        let (target, deployment, n) = one_target(
            cx,
            s,
            &format!("{path}.scale"),
            "deployment/",
            "scale one Deployment: {deployment/<name>: <replicas>}",
            "only Deployments scale (deployment/<name>)",
        )?;
        let replicas = read::integer(cx, n, &format!("{path}.scale.{target}"), 0, limits::MAX_PODS as i64)? as u32;
        return Some(EventAction::Scale { deployment: deployment.to_string(), replicas });
    }
    if let Some(p) = em.get(cx, "pod") {
        let mut pm = Map::new(cx, p, &format!("{path}.pod"))?;
        let name = pm.get(cx, "name").and_then(|n| read::string(cx, n, &format!("{path}.pod.name")));
        let ready = pm.get(cx, "ready").and_then(|n| read::boolean(cx, n, &format!("{path}.pod.ready")));
        let deleted =
            pm.get(cx, "deleted").and_then(|n| read::boolean(cx, n, &format!("{path}.pod.deleted"))).unwrap_or(false);
        pm.finish(cx);
        let Some(name) = name else {
            cx.error(&format!("{path}.pod.name"), p.pos, "missing");
            return None;
        };
        if ready.is_none() && !deleted {
            cx.error(&format!("{path}.pod"), p.pos, "say what changes: ready: true|false or deleted: true");
        }
        return Some(EventAction::Pod { name, ready, deleted });
    }
    if let Some(n) = em.get(cx, "node") {
        let mut nm = Map::new(cx, n, &format!("{path}.node"))?;
        let name = nm.get(cx, "name").and_then(|x| read::string(cx, x, &format!("{path}.node.name")));
        let ready = nm.get(cx, "ready").and_then(|x| read::boolean(cx, x, &format!("{path}.node.ready")));
        let kube_proxy_healthy = nm
            .get(cx, "kubeProxy")
            .and_then(|x| read::one_of(cx, x, &format!("{path}.node.kubeProxy"), &["healthy", "unhealthy"]))
            .map(|s| s == "healthy");
        nm.finish(cx);
        let Some(name) = name else {
            cx.error(&format!("{path}.node.name"), n.pos, "missing");
            return None;
        };
        if ready.is_none() && kube_proxy_healthy.is_none() {
            cx.error(
                &format!("{path}.node"),
                n.pos,
                "say what changes: ready: true|false or kubeProxy: healthy|unhealthy",
            );
        }
        return Some(EventAction::Node { name, ready, kube_proxy_healthy });
    }
    cx.error(path, pos, "an event is one of patch, scale, pod or node");
    None
}

fn parse_provider(p: &str) -> Provider {
    match p {
        "aws" => Provider::Aws,
        "gcp" => Provider::Gcp,
        "none" => Provider::None,
        _ => Provider::Azure,
    }
}

/// `1/s`, `0.5/s`, `30/m`, `30/min` → requests per second.
fn parse_rate(text: &str) -> Option<f64> {
    let (n, unit) = text.split_once('/')?;
    let n: f64 = n.trim().parse().ok()?;
    let per = match unit.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    (n > 0.0 && n.is_finite()).then_some(n / per)
}

/// A port's `protocol`: TCP (the API's default), UDP or SCTP.
fn protocol(cx: &mut Cx<'_>, m: &mut Map<'_>, path: &str) -> Protocol {
    let given =
        m.get(cx, "protocol").and_then(|n| read::one_of(cx, n, &format!("{path}.protocol"), &["TCP", "UDP", "SCTP"]));
    match given.as_deref() {
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}
