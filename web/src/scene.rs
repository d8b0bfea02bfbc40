//! The topology's still picture as data: every box, link and line of text drawn under the
//! packets, placed from the [`Layout`] and the cluster's state at `t`. Each text's extent is
//! estimated from its length in the monospace face the topology uses, so tests can prove that no
//! two texts overlap, for any cluster, before a browser checks the real glyphs.

use svcsim_core::cluster::{Cluster, NetworkPlugin, NodeId, Provider};
use svcsim_core::net::SockAddr;
use svcsim_core::record::Run;
use svcsim_core::scenario::{ClientKind, Scenario};

use crate::layout::{Layout, Point, Rect, TITLE_BASELINE};
use crate::view::{self, PodState};

/// The advance of one character, in ems, of the monospace faces the topology names
/// (DejaVu Sans Mono and Menlo 0.602, SF Mono and Liberation Mono 0.600, Consolas 0.55), rounded
/// up.
pub const CHAR_W: f64 = 0.62;
/// A line's ascent and descent, in ems, as browsers measure a text's box (DejaVu: 0.93 + 0.24).
const ASCENT: f64 = 0.93;
const DESCENT: f64 = 0.24;

/// Where a text's `x` is: its start, its middle or its end (SVG's `text-anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    pub fn svg(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// One line of text: `y` is its baseline, `size` its font size in user units.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub x: f64,
    pub y: f64,
    pub size: f64,
    pub anchor: Anchor,
    /// CSS classes (`strong`, `muted`, `badge ok`, …).
    pub class: &'static str,
    pub text: String,
    /// The whole text when `text` had to be shortened, shown on hover.
    pub title: Option<String>,
}

impl Text {
    fn new(x: f64, y: f64, size: f64, class: &'static str, text: impl Into<String>) -> Text {
        Text { x, y, size, anchor: Anchor::Start, class, text: text.into(), title: None }
    }
    fn anchored(mut self, anchor: Anchor) -> Text {
        self.anchor = anchor;
        self
    }
    /// Shortens the text to `width` user units, keeping its start and its end (a pod's name ends
    /// in the part that tells replicas apart).
    fn fit(mut self, width: f64) -> Text {
        let max = ((width / (self.size * CHAR_W)) as usize).max(4);
        if self.text.chars().count() > max {
            let chars: Vec<char> = self.text.chars().collect();
            let head = (max - 1) / 2;
            let tail = max - 1 - head;
            let short: String = chars[..head].iter().chain(['…'].iter()).chain(&chars[chars.len() - tail..]).collect();
            self.title = Some(std::mem::replace(&mut self.text, short));
        }
        self
    }
    /// Shortens the text to `width` user units, keeping its start (a badge's first words say
    /// what it means).
    fn fit_end(mut self, width: f64) -> Text {
        let max = ((width / (self.size * CHAR_W)) as usize).max(4);
        if self.text.chars().count() > max {
            let short: String = self.text.chars().take(max - 1).chain(['…']).collect();
            self.title = Some(std::mem::replace(&mut self.text, short));
        }
        self
    }
    /// The box the text is estimated to cover.
    pub fn extent(&self) -> Rect {
        extent(self.x, self.y, self.size, self.anchor, self.text.chars().count())
    }
}

/// The box `chars` characters at (`x`, baseline `y`) cover in the topology's face.
pub fn extent(x: f64, y: f64, size: f64, anchor: Anchor, chars: usize) -> Rect {
    let w = chars as f64 * size * CHAR_W;
    let x = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - w / 2.0,
        Anchor::End => x - w,
    };
    Rect { x, y: y - ASCENT * size, w, h: (ASCENT + DESCENT) * size }
}

/// A shape of the picture.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Rect { rect: Rect, rx: f64, class: &'static str },
    Ellipse { center: Point, rx: f64, ry: f64 },
}

/// One thing drawn: its shapes and texts, styled by its classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub class: String,
    pub testid: Option<String>,
    pub shapes: Vec<Shape>,
    pub texts: Vec<Text>,
}

impl Item {
    fn new(class: impl Into<String>) -> Item {
        Item { class: class.into(), testid: None, shapes: Vec::new(), texts: Vec::new() }
    }
}

/// What the still picture depends on at `t`: each pod's, node's and proxy's state and each node's
/// rotation. The topology redraws its still part only when this changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub pods: Vec<PodState>,
    pub ready: Vec<bool>,
    pub proxy: Vec<bool>,
    /// Per node: in rotation, and why not. `None` without a cloud load balancer.
    pub rotation: Option<(Vec<bool>, Vec<Option<String>>)>,
}

impl Status {
    /// The state at `t`; `probes` is the probe panel at `t`, whose rotation the nodes are drawn in.
    pub fn new(run: &Run, cluster: &Cluster, t: f64, probes: Option<&view::ProbePanel>) -> Status {
        let (pods, ready, proxy) = view::states(run, cluster.pods.len(), cluster.nodes.len(), t);
        let rotation = probes.map(|p| (p.in_rotation.clone(), p.reasons.clone()));
        Status { pods, ready, proxy, rotation }
    }

    /// The state at `t`, with the probe panel computed for it.
    #[cfg(test)]
    pub fn at(run: &Run, cluster: &Cluster, t: f64) -> Status {
        Status::new(run, cluster, t, view::probe_panel(run, cluster.nodes.len(), t, None).as_ref())
    }
}

/// The still picture: links first (drawn under everything), then the boxes with their texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub links: Vec<Vec<Point>>,
    pub items: Vec<Item>,
}

/// The cloud load balancer's name, as its provider calls it.
pub fn lb_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Azure => "Azure LB",
        Provider::Aws => "AWS NLB",
        Provider::Gcp => "Google Cloud LB",
        Provider::None => "no cloud LB",
    }
}

impl Scene {
    pub fn new(l: &Layout, scenario: &Scenario, cluster: &Cluster, status: &Status) -> Scene {
        let mut scene = Scene { links: links(l, cluster), items: Vec::new() };
        let mut internet = Item::new("internet");
        internet.shapes.push(Shape::Ellipse { center: l.internet, rx: crate::layout::INTERNET_RX, ry: 24.0 });
        internet.texts.push(Text::new(l.internet.x, l.internet.y - 3.0, 12.0, "", "internet").anchored(Anchor::Middle));
        scene.items.push(internet);
        for (c, r) in &l.clients {
            let client = &scenario.clients[*c];
            let mut item = Item::new("client");
            item.shapes.push(Shape::Rect { rect: *r, rx: 6.0, class: "" });
            item.texts.push(Text::new(r.x + 8.0, r.y + 19.0, 13.0, "strong", client.name.clone()).fit(r.w - 16.0));
            if let ClientKind::External(ip) = &client.kind {
                item.texts.push(Text::new(r.x + 8.0, r.y + 37.0, 12.0, "", ip.to_string()).fit(r.w - 16.0));
            }
            scene.items.push(item);
        }
        scene.items.push(lb(l, cluster));
        for (i, _) in cluster.nodes.iter().enumerate() {
            scene.items.push(node(l, cluster, status, NodeId(i as u32)));
        }
        for (p, r) in &l.pods {
            let state = status.pods.get(p.0 as usize).copied().unwrap_or(PodState::Absent);
            if state == PodState::Absent {
                continue;
            }
            let pod = cluster.pod(*p);
            let (word, cls) = match state {
                PodState::Ready => ("Ready", "pod"),
                PodState::NotReady => ("NotReady", "pod notready"),
                PodState::Terminating => ("Terminating", "pod terminating"),
                PodState::Absent => ("", "pod"),
            };
            let mut item = Item::new(cls);
            item.testid = Some(format!("pod-{}", p.0));
            item.shapes.push(Shape::Rect { rect: *r, rx: 4.0, class: "" });
            let w = r.w - 16.0;
            item.texts.push(Text::new(r.x + 8.0, r.y + 14.0, 11.0, "strong", pod.name.clone()).fit(w));
            // status.podIPs: one line per family.
            let ips: Vec<String> = match pod.ip {
                None => vec!["no IP".to_string()],
                Some(ip) => std::iter::once(ip).chain(pod.secondary_ip).map(|ip| ip.to_string()).collect(),
            };
            let mut y = r.y + 28.0;
            for ip in ips.into_iter().take(l.geometry.families) {
                item.texts.push(Text::new(r.x + 8.0, y, 11.0, "", ip).fit(w));
                y += 14.0;
            }
            item.texts.push(Text::new(r.x + 8.0, r.y + r.h - 6.0, 10.0, "muted state", word));
            scene.items.push(item);
        }
        scene
    }

    /// Every text, with the item it belongs to.
    pub fn texts(&self) -> impl Iterator<Item = &Text> {
        self.items.iter().flat_map(|i| i.texts.iter())
    }
}

/// The load balancer: its name and up to three frontends.
fn lb(l: &Layout, cluster: &Cluster) -> Item {
    let r = l.lb;
    let mut item = Item::new("lb");
    item.shapes.push(Shape::Rect { rect: r, rx: 8.0, class: "" });
    item.texts.push(Text::new(r.x + 10.0, r.y + 22.0, 13.0, "strong", lb_name(cluster.config.provider)));
    // Each Service's frontend of each family (Azure's `-IPv6` frontend beside the IPv4 one).
    let frontends: Vec<String> = cluster
        .services
        .iter()
        .filter_map(|s| Some((s.ports.first()?.port, &s.load_balancer_ingress)))
        .flat_map(|(port, ips)| ips.iter().map(move |ip| SockAddr::new(*ip, port).to_string()))
        .collect();
    let shown = if frontends.len() > 3 { 2 } else { frontends.len() };
    for (i, f) in frontends.iter().take(shown).enumerate() {
        item.texts.push(Text::new(r.x + 10.0, r.y + 42.0 + 18.0 * i as f64, 12.0, "", f.clone()).fit(r.w - 20.0));
    }
    if frontends.len() > shown {
        let more = format!("+{} more", frontends.len() - shown);
        item.texts.push(Text::new(r.x + 10.0, r.y + 42.0 + 18.0 * shown as f64, 12.0, "muted", more));
    }
    item
}

/// A node: its title and rotation badge, and the stage row (NIC, service proxy, bridge).
fn node(l: &Layout, cluster: &Cluster, status: &Status, id: NodeId) -> Item {
    let i = id.0 as usize;
    let (b, n) = (&l.nodes[i], &cluster.nodes[id]);
    let r = b.rect;
    let ready = status.ready.get(i).copied().unwrap_or(true);
    let in_rotation = status.rotation.as_ref().map(|(up, _)| up[i]);
    let class = if !ready {
        "node notready"
    } else if in_rotation == Some(false) {
        "node out"
    } else {
        "node"
    };
    let mut item = Item::new(class);
    item.testid = Some(format!("node-{i}"));
    item.shapes.push(Shape::Rect { rect: r, rx: 8.0, class: "frame" });
    let y = r.y + TITLE_BASELINE;
    let badge = match in_rotation {
        Some(true) => Some(("in rotation".to_string(), "badge ok")),
        Some(false) => {
            let reason = status.rotation.as_ref().and_then(|(_, why)| why[i].clone());
            Some((format!("out of rotation{}", reason.map(|r| format!(": {r}")).unwrap_or_default()), "badge bad"))
        }
        None => None,
    };
    // The title (with "(NotReady)", which must not be lost) gets up to half the line; the badge
    // the rest, shortened at its end if it must be ("out of rotation: probe HT…").
    let suffix = if ready { "" } else { " (NotReady)" };
    let wanted = (n.name.chars().count() + suffix.chars().count()) as f64 * 13.0 * CHAR_W;
    let line = r.w - 24.0;
    let mut room = line;
    if let Some((text, class)) = badge {
        let badge_room = line - 12.0 - wanted.min(line * 0.5);
        let badge = Text::new(r.right() - 10.0, y, 11.0, class, text).anchored(Anchor::End).fit_end(badge_room);
        room -= badge.extent().w + 12.0;
        item.texts.push(badge);
    }
    let suffix_w = suffix.chars().count() as f64 * 13.0 * CHAR_W;
    let mut title = Text::new(r.x + 12.0, y, 13.0, "strong", n.name.clone()).fit(room - suffix_w);
    if !ready {
        title.title.get_or_insert_with(|| n.name.clone());
        title.text.push_str(suffix);
    }
    item.texts.push(title);
    // The service-proxy stage names its dataplane: kube-proxy's mode, or Cilium's eBPF with
    // its load-balancing mode (and Maglev when it picks the backends).
    let (agent, mode) = match &cluster.config.cilium {
        Some(c) if c.algorithm == svcsim_core::cluster::CiliumLbAlgorithm::Maglev => {
            ("cilium eBPF", format!("{} maglev", c.mode))
        }
        Some(c) => ("cilium eBPF", c.mode.to_string()),
        None => ("kube-proxy", cluster.config.kube_proxy.mode.to_string()),
    };
    let proxy = if status.proxy.get(i).copied().unwrap_or(true) { mode } else { "UNHEALTHY".to_string() };
    // The pods' side: the bridge's (or cilium_host's) first address of each pod range, or the
    // Azure CNI's pod range. Each family's addresses, one line each (a dual-stack node has two).
    let families = std::iter::once((n.ip, n.pod_cidr)).chain(n.secondary.map(|s| (s.ip, s.pod_cidr)));
    let (bridge, mut nic_lines, mut bridge_lines) = (bridge_name(cluster), Vec::new(), Vec::new());
    for (ip, cidr) in families.take(l.geometry.families) {
        nic_lines.push(ip.to_string());
        bridge_lines.push(match (cluster.config.cilium.is_some(), cluster.config.network_plugin) {
            (false, NetworkPlugin::AzureCni) => cidr.to_string(),
            _ => cidr.nth(1).map_or_else(|| cidr.to_string(), |first| format!("{first}/{}", cidr.prefix())),
        });
    }
    for (stage, class) in [(b.nic, "stage-box nic"), (b.proxy, "stage-box proxy"), (b.bridge, "stage-box bridge")] {
        item.shapes.push(Shape::Rect { rect: stage, rx: 5.0, class });
    }
    for (stage, (name, values), class) in [
        (b.nic, ("eth0", nic_lines), "stage nic"),
        (b.proxy, (agent, vec![proxy]), "stage proxy"),
        (b.bridge, (bridge, bridge_lines), "stage bridge"),
    ] {
        let c = stage.center().x;
        item.texts.push(Text::new(c, stage.y + 14.0, 10.5, class, name).anchored(Anchor::Middle).fit(stage.w - 8.0));
        // Two families' addresses take a smaller size, so an IPv6 one fits whole.
        let size = if l.geometry.families > 1 { 9.5 } else { 10.5 };
        for (k, value) in values.into_iter().enumerate() {
            let y = stage.y + 29.0 + 14.0 * k as f64;
            item.texts.push(Text::new(c, y, size, "", value).anchored(Anchor::Middle).fit(stage.w - 8.0));
        }
    }
    let live = (0..cluster.pods.len())
        .any(|p| cluster.pods[p].node == id && status.pods.get(p).is_some_and(|s| *s != PodState::Absent));
    if !live {
        item.texts.push(Text::new(r.x + 12.0, b.band.bottom() + 24.0, 11.0, "muted", "no pod"));
    }
    item
}

/// The pods' side of a node: Cilium's cilium_host router, kubenet's cbr0, or the Azure CNI.
fn bridge_name(cluster: &Cluster) -> &'static str {
    match (cluster.config.cilium.is_some(), cluster.config.network_plugin) {
        (true, _) => "cilium_host",
        (false, NetworkPlugin::Kubenet) => "cbr0",
        (false, NetworkPlugin::AzureCni) => "azure-cni",
    }
}

/// The wires: clients to the internet to the load balancer, the load balancer to the VNet bus,
/// the bus to each node's NIC, and inside each node NIC, proxy stage, bridge and pods.
fn links(l: &Layout, cluster: &Cluster) -> Vec<Vec<Point>> {
    let mut out = Vec::new();
    for (_, r) in &l.clients {
        out.push(vec![Point { x: r.right(), y: r.center().y }, l.internet]);
    }
    out.push(vec![l.internet, l.lb.center()]);
    let port = l.lb_port();
    let bus0 = l.buses.first().map_or(port.x, |b| b.0);
    out.push(vec![port, Point { x: bus0, y: port.y }]);
    for (x, bottom) in &l.buses {
        out.push(vec![Point { x: *x, y: l.bus_top.min(port.y) }, Point { x: *x, y: bottom.max(port.y) }]);
    }
    if l.buses.len() > 1 {
        out.push(l.buses.iter().map(|(x, _)| Point { x: *x, y: l.bus_top }).collect());
    }
    for b in &l.nodes {
        let door = b.door();
        let bus = l.buses.get(b.column).map_or(door.x, |c| c.0);
        out.push(vec![Point { x: bus, y: door.y }, door, b.nic.center()]);
        out.push(vec![b.nic.center(), b.stage_point(), b.bridge.center()]);
    }
    for (p, r) in &l.pods {
        if let Some(b) = cluster.pods.get(*p).and_then(|pod| l.nodes.get(pod.node.0 as usize)) {
            out.push(vec![
                b.bridge.center(),
                Point { x: r.center().x, y: r.y - 5.0 },
                Point { x: r.center().x, y: r.y },
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Orientation;
    use svcsim_core::manifest::{Overrides, load};
    use svcsim_core::sim::Sim;

    /// Every pair of texts that overlap, and every text outside the drawing.
    pub fn collisions(scene: &Scene, l: &Layout) -> Vec<String> {
        let texts: Vec<&Text> = scene.texts().collect();
        let page = Rect { x: 0.0, y: 0.0, w: l.width, h: l.height };
        let mut out = Vec::new();
        for (i, a) in texts.iter().enumerate() {
            if !page.encloses(&a.extent()) {
                out.push(format!("{:?} leaves the drawing", a.text));
            }
            for b in &texts[i + 1..] {
                if a.extent().overlaps(&b.extent()) {
                    out.push(format!("{:?} overlaps {:?}", a.text, b.text));
                }
            }
            for band in std::iter::once(l.band).chain(l.nodes.iter().map(|n| n.band)) {
                if a.extent().overlaps(&band) {
                    out.push(format!("{:?} is in a label band", a.text));
                }
            }
        }
        out
    }

    fn scene_of(yaml: &str, at: u64, o: Orientation) -> (Scene, Layout) {
        let mut sim = Sim::new(load(yaml, &Overrides::default()).unwrap().scenario);
        sim.run_until(svcsim_core::time::Instant::from_secs(at));
        let l = Layout::new(sim.scenario(), sim.cluster(), o);
        let status = Status::at(sim.record(), sim.cluster(), at as f64);
        (Scene::new(&l, sim.scenario(), sim.cluster(), &status), l)
    }

    #[test]
    fn no_text_overlaps_another_in_any_preset_either_way_round() {
        for (name, yaml) in crate::model::PRESETS {
            for o in [Orientation::Wide, Orientation::Tall] {
                // 200 s: after the presets' switches, with nodes out of rotation and their reasons.
                let (scene, l) = scene_of(yaml, 200, o);
                assert_eq!(collisions(&scene, &l), Vec::<String>::new(), "{name} {o:?}");
            }
        }
    }

    /// A cluster of `nodes` nodes and `pods` replicas with long AKS names.
    pub fn big_cluster(nodes: usize, pods: usize) -> String {
        let names: Vec<String> =
            (0..nodes).map(|i| format!("    - {{name: aks-nodepool1-12345678-vmss{i:06}}}")).collect();
        format!(
            "apiVersion: svcsim.dev/v1alpha1\nkind: Simulation\nmetadata: {{name: big}}\nspec:\n  cluster:\n    provider: azure\n    nodes:\n{}\n  \
             clients:\n    - {{name: laptop, ip: 198.51.100.79, target: service/web, rate: 1/s}}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web-frontend-deployment}}\nspec:\n  replicas: {pods}\n  \
             selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      \
             containers: [{{name: web, image: nginx, ports: [{{containerPort: 80}}]}}]\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  type: LoadBalancer\n  \
             externalTrafficPolicy: Local\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 80}}]\n",
            names.join("\n")
        )
    }

    #[test]
    fn no_text_overlaps_another_in_clusters_up_to_ten_nodes_and_thirty_pods() {
        for (nodes, pods) in [(1, 1), (3, 7), (5, 12), (10, 30), (2, 30)] {
            let yaml = big_cluster(nodes, pods);
            for o in [Orientation::Wide, Orientation::Tall] {
                let (scene, l) = scene_of(&yaml, 200, o);
                assert_eq!(collisions(&scene, &l), Vec::<String>::new(), "{nodes}×{pods} {o:?}");
                assert_eq!(scene.items.iter().filter(|i| i.class.starts_with("pod")).count(), pods);
            }
        }
    }

    #[test]
    fn a_node_that_is_not_ready_says_so_whole_beside_a_shortened_badge() {
        let (scene, _) = scene_of(include_str!("../../scenarios/node-failure.yaml"), 200, Orientation::Wide);
        let texts: Vec<&str> = scene.texts().map(|t| t.text.as_str()).collect();
        assert!(texts.contains(&"node-1 (NotReady)"), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("out of rotation")), "{texts:?}");
    }

    #[test]
    fn long_names_are_shortened_in_the_middle_and_kept_whole_in_their_title() {
        let t = Text::new(0.0, 10.0, 11.0, "", "node-deployment-p9sfq9jkfn-6wnqr").fit(146.0);
        assert_eq!(t.text, "node-deplo…jkfn-6wnqr");
        assert_eq!(t.title.as_deref(), Some("node-deployment-p9sfq9jkfn-6wnqr"));
        assert!(t.extent().w <= 146.0);
        let (scene, _) = scene_of(include_str!("../../scenarios/aks-blog-switch.yaml"), 200, Orientation::Wide);
        let node1 = scene.items.iter().find(|i| i.testid.as_deref() == Some("node-1")).unwrap();
        let texts: Vec<&str> = node1.texts.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "out of rotation: probe HTTP 503 ×2",
                "node-1",
                "eth0",
                "10.240.0.5",
                "kube-proxy",
                "iptables",
                "cbr0",
                "10.244.1.1/24",
                "no pod"
            ]
        );
    }
}
