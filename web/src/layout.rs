//! Where everything is drawn: a deterministic layout of clients, the internet, the load balancer,
//! the VNet bus and the node boxes (each with its NIC, its service-proxy stage, its bridge, a
//! label band and its pods as boxes), computed from the run's names and pods so that it stays put
//! while the run plays; and the routes packets travel along it.
//!
//! Two arrangements share one node geometry: [`Orientation::Wide`] (left to right, for a wide
//! stage) and [`Orientation::Tall`] (top to bottom, for a phone or one compare pane), so text is
//! drawn at the same size in user units whichever fits the screen.

use std::collections::BTreeMap;

use svcsim_core::Place;
use svcsim_core::cluster::{Cluster, NodeId, PodId};
use svcsim_core::scenario::{ClientId, ClientKind, Scenario};

/// A point in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// A rectangle in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn center(&self) -> Point {
        Point { x: self.x + self.w / 2.0, y: self.y + self.h / 2.0 }
    }
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// True if the two share any area (touching edges do not count).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
    pub fn contains(&self, p: Point) -> bool {
        p.x >= self.x && p.x <= self.right() && p.y >= self.y && p.y <= self.bottom()
    }
    /// True if `o` lies wholly inside.
    pub fn encloses(&self, o: &Rect) -> bool {
        o.x >= self.x && o.y >= self.y && o.right() <= self.right() && o.bottom() <= self.bottom()
    }
}

/// How the drawing is arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Clients, internet and load balancer on the left, nodes in one or two columns on the right.
    Wide,
    /// Everything in one column, the nodes last: for a phone or a compare pane.
    Tall,
}

/// One node's box and the places inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeBox {
    pub rect: Rect,
    /// eth0.
    pub nic: Rect,
    /// The service proxy (kube-proxy's rules): where DNAT, SNAT and un-NAT happen.
    pub proxy: Rect,
    /// cbr0 (kubenet) or the CNI's attachment.
    pub bridge: Rect,
    /// Where the labels of packets inside this node are written (reserved: no other text).
    pub band: Rect,
    /// The column of nodes it is in (its VNet bus).
    pub column: usize,
}

impl NodeBox {
    /// Where the node meets its bus: the box's left edge at the NIC's height.
    pub fn door(&self) -> Point {
        Point { x: self.rect.x, y: self.nic.center().y }
    }
    /// Where a packet at the proxy stage stands: its right edge, beside its text.
    pub fn stage_point(&self) -> Point {
        Point { x: self.proxy.right(), y: self.proxy.center().y }
    }
}

/// The drawing's geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub orientation: Orientation,
    pub geometry: Geometry,
    pub width: f64,
    pub height: f64,
    /// Where the labels of packets outside the nodes are written (reserved: no other text).
    pub band: Rect,
    pub internet: Point,
    pub lb: Rect,
    pub clients: Vec<(ClientId, Rect)>,
    pub nodes: Vec<NodeBox>,
    /// Each pod's box inside its node (pods are never moved, only shown or hidden).
    pub pods: BTreeMap<PodId, Rect>,
    pub backends: Vec<Point>,
    /// Each column's VNet bus: its x, from `bus_top` down to its last node's door.
    pub buses: Vec<(f64, f64)>,
    pub bus_top: f64,
}

/// The title line's baseline, from the node box's top.
pub const TITLE_BASELINE: f64 = 18.0;
const STAGE_Y: f64 = 26.0;
/// A label band's height: two lines of packet label.
pub const BAND_H: f64 = 34.0;
const POD_GAP: f64 = 8.0;

/// The sizes that depend on the cluster's stack: a dual-stack cluster's boxes hold an address of
/// each family, so its stages and pods are a line taller and its nodes and LB wider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// A node box's width (both orientations).
    pub node_w: f64,
    /// The NIC's and the bridge's width; the proxy stage's is `proxy_w`.
    stage_w: f64,
    proxy_w: f64,
    stage_h: f64,
    band_y: f64,
    pods_y: f64,
    pub pod_h: f64,
    /// The internet's centre; its ellipse is 80 wide, between the clients (right edge 152) and
    /// the LB.
    internet_x: f64,
    lb_x: f64,
    lb_w: f64,
    /// How many address lines a stage and a pod hold.
    pub families: usize,
}

impl Geometry {
    pub const SINGLE_STACK: Geometry = Geometry {
        node_w: 356.0,
        stage_w: 100.0,
        proxy_w: 100.0,
        stage_h: 36.0,
        band_y: 66.0,
        pods_y: 104.0,
        pod_h: 48.0,
        internet_x: 212.0,
        lb_x: 268.0,
        lb_w: 168.0,
        families: 1,
    };
    /// Room for `fd12:3456:789a:0:1::1/80` in a stage (at 9.5 px) and `[2001:db8:113::10]:80`
    /// in the LB, which leaves 8 px on each side of the internet and 14 before the bus.
    pub const DUAL_STACK: Geometry = Geometry {
        node_w: 420.0,
        stage_w: 152.0,
        proxy_w: 84.0,
        stage_h: 50.0,
        band_y: 80.0,
        pods_y: 118.0,
        pod_h: 62.0,
        internet_x: 200.0,
        lb_x: 248.0,
        lb_w: 204.0,
        families: 2,
    };
    pub fn of(cluster: &Cluster) -> Geometry {
        if cluster.config.is_dual_stack() { Geometry::DUAL_STACK } else { Geometry::SINGLE_STACK }
    }
}
const PAD: f64 = 12.0;
/// Half the internet ellipse's width.
pub const INTERNET_RX: f64 = 40.0;
const NODE_GAP: f64 = 14.0;
const CLIENT_W: f64 = 140.0;
const CLIENT_H: f64 = 48.0;
/// The band above the left (wide) or top (tall) part of the drawing.
const TOP_BAND: Rect = Rect { x: 8.0, y: 6.0, w: 0.0, h: BAND_H };

impl Layout {
    /// Lays out `cluster` (with every pod the run ever had) for `scenario`'s clients.
    pub fn new(scenario: &Scenario, cluster: &Cluster, orientation: Orientation) -> Layout {
        let external: Vec<ClientId> = scenario
            .clients
            .iter_enumerated()
            .filter(|(_, c)| matches!(c.kind, ClientKind::External(_)))
            .map(|(i, _)| i)
            .collect();
        let frontends: usize = cluster.services.iter().map(|s| s.load_balancer_ingress.len()).sum();
        let lb_h = 40.0 + 18.0 * frontends.clamp(1, 3) as f64;
        let mut pods_per_node: Vec<Vec<PodId>> = vec![Vec::new(); cluster.nodes.len()];
        for (i, p) in cluster.pods.iter().enumerate() {
            pods_per_node[p.node.0 as usize].push(PodId(i as u32));
        }
        let g = Geometry::of(cluster);
        match orientation {
            Orientation::Wide => Self::wide(&g, &external, lb_h, &pods_per_node),
            Orientation::Tall => Self::tall(&g, &external, lb_h, &pods_per_node),
        }
    }

    fn wide(g: &Geometry, external: &[ClientId], lb_h: f64, pods_per_node: &[Vec<PodId>]) -> Layout {
        let columns = if pods_per_node.len() > 4 { 2 } else { 1 };
        let per_column = pods_per_node.len().div_ceil(columns).max(1);
        let x0 = 480.0;
        let mut pods = BTreeMap::new();
        let mut bottoms = vec![20.0f64; columns];
        let mut nodes = Vec::new();
        for (i, pod_ids) in pods_per_node.iter().enumerate() {
            let column = i / per_column;
            let x = x0 + column as f64 * (g.node_w + 30.0);
            let node = node_box(g, x, bottoms[column], column, pod_ids, &mut pods);
            bottoms[column] = node.rect.bottom() + NODE_GAP;
            nodes.push(node);
        }
        let clients_h = 44.0 + external.len() as f64 * (CLIENT_H + 10.0) + 10.0;
        let nodes_h = bottoms.iter().copied().fold(0.0, f64::max);
        let height = nodes_h.max(clients_h).max(lb_h + 64.0).max(240.0);
        let mid = (44.0 + height) / 2.0;
        let top = mid - external.len() as f64 * (CLIENT_H + 10.0) / 2.0 + 5.0;
        let clients = external
            .iter()
            .enumerate()
            .map(|(k, c)| (*c, client_rect(12.0, top + k as f64 * (CLIENT_H + 10.0))))
            .collect();
        let lb = Rect { x: g.lb_x, y: mid - lb_h / 2.0, w: g.lb_w, h: lb_h };
        let width = x0 + columns as f64 * (g.node_w + 30.0) - 30.0 + PAD;
        let buses = bus_columns(&nodes, columns);
        Layout {
            orientation: Orientation::Wide,
            geometry: *g,
            width,
            height,
            band: Rect { w: x0 - 30.0 - TOP_BAND.x, ..TOP_BAND },
            internet: Point { x: g.internet_x, y: mid },
            lb,
            clients,
            nodes,
            pods,
            backends: (0..4).map(|k| Point { x: g.internet_x, y: height - 16.0 - k as f64 * 22.0 }).collect(),
            buses,
            bus_top: 10.0,
        }
    }

    fn tall(g: &Geometry, external: &[ClientId], lb_h: f64, pods_per_node: &[Vec<PodId>]) -> Layout {
        let width = 24.0 + g.node_w + PAD;
        let rows = external.len().div_ceil(2).max(1);
        let clients = external
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let (row, col) = (k / 2, k % 2);
                (*c, client_rect(24.0 + col as f64 * (CLIENT_W + 20.0), 46.0 + row as f64 * (CLIENT_H + 10.0)))
            })
            .collect();
        let internet = Point { x: width / 2.0 + 40.0, y: 46.0 + rows as f64 * (CLIENT_H + 10.0) + 30.0 };
        let lb = Rect { x: width / 2.0 + 40.0 - g.lb_w / 2.0, y: internet.y + 40.0, w: g.lb_w, h: lb_h };
        let mut y = lb.bottom() + 24.0;
        let mut pods = BTreeMap::new();
        let mut nodes = Vec::new();
        for pod_ids in pods_per_node {
            let node = node_box(g, 24.0, y, 0, pod_ids, &mut pods);
            y = node.rect.bottom() + NODE_GAP;
            nodes.push(node);
        }
        let buses = bus_columns(&nodes, 1);
        Layout {
            orientation: Orientation::Tall,
            geometry: *g,
            width,
            height: y.max(lb.bottom() + 40.0),
            band: Rect { w: width - 2.0 * TOP_BAND.x, ..TOP_BAND },
            internet,
            lb,
            clients,
            nodes,
            pods,
            backends: (0..4).map(|k| Point { x: 24.0 + k as f64 * 22.0, y: internet.y }).collect(),
            buses,
            bus_top: lb.center().y,
        }
    }

    /// Where the load balancer meets the bus: its right side (wide) or its left side (tall).
    pub fn lb_port(&self) -> Point {
        let c = self.lb.center();
        match self.orientation {
            Orientation::Wide => Point { x: self.lb.right(), y: c.y },
            Orientation::Tall => Point { x: self.lb.x, y: c.y },
        }
    }

    fn bus_x(&self, column: usize) -> f64 {
        self.buses.get(column).map_or(self.lb_port().x, |b| b.0)
    }

    /// The anchor a packet at `place` is drawn at.
    pub fn anchor(&self, place: Place, scenario: &Scenario, cluster: &Cluster) -> Point {
        match place {
            Place::Client(c) => match scenario.clients.get(c).map(|c| &c.kind) {
                Some(ClientKind::HostNetwork(n)) => self.node_anchor(*n),
                Some(ClientKind::Pod(name)) => cluster.pod_by_name(name).map_or(self.internet, |p| self.pod_anchor(p)),
                _ => self
                    .clients
                    .iter()
                    .find(|(i, _)| *i == c)
                    .map_or(self.internet, |(_, r)| Point { x: r.right(), y: r.center().y }),
            },
            Place::Internet => Point { x: self.internet.x, y: self.internet.y + 11.0 },
            Place::Vnet => Point { x: self.bus_x(0), y: self.lb_port().y },
            // Right of its frontends' text, so a packet standing there covers none of it.
            Place::Lb => Point { x: self.lb.right() - 22.0, y: self.lb.center().y },
            Place::Node(n) => self.node_anchor(n),
            Place::Pod(p) => self.pod_anchor(p),
            Place::Backend(b) => self.backends.get(b.0 as usize).copied().unwrap_or(self.internet),
        }
    }

    /// A node's proxy stage, where a packet at the node is drawn: on the stage's right edge,
    /// beside its text.
    pub fn node_anchor(&self, n: NodeId) -> Point {
        self.nodes.get(n.0 as usize).map_or(self.internet, NodeBox::stage_point)
    }

    /// Just above a pod's box, clear of its name.
    pub fn pod_anchor(&self, p: PodId) -> Point {
        self.pods.get(&p).map_or(self.internet, |r| Point { x: r.center().x, y: r.y - 5.0 })
    }

    /// The node a place is inside of, if any (a host-network or pod client counts as its node's).
    fn node_of(&self, place: Place, scenario: &Scenario, cluster: &Cluster) -> Option<(NodeId, Option<PodId>)> {
        match place {
            Place::Node(n) => Some((n, None)),
            Place::Pod(p) => Some((cluster.pods.get(p)?.node, Some(p))),
            Place::Client(c) => match &scenario.clients.get(c)?.kind {
                ClientKind::HostNetwork(n) => Some((*n, None)),
                ClientKind::Pod(name) => {
                    let p = cluster.pod_by_name(name)?;
                    Some((cluster.pod(p).node, Some(p)))
                }
                ClientKind::External(_) => None,
            },
            _ => None,
        }
        .filter(|(n, _)| (n.0 as usize) < self.nodes.len())
    }

    /// From a place inside a node out to its bus: the pod, the bridge, the proxy stage, the NIC,
    /// the door and the bus.
    fn chain_out(&self, node: NodeId, pod: Option<PodId>) -> Vec<Point> {
        let b = &self.nodes[node.0 as usize];
        let mut out = Vec::with_capacity(6);
        if let Some(p) = pod {
            out.push(self.pod_anchor(p));
            out.push(b.bridge.center());
        }
        let door = b.door();
        out.extend([b.stage_point(), b.nic.center(), door, Point { x: self.bus_x(b.column), y: door.y }]);
        out
    }

    /// Along the buses from one point on a bus to another (through the top line between columns).
    fn along_buses(&self, from: Point, to: Point) -> Vec<Point> {
        if (from.x - to.x).abs() < 0.5 {
            return vec![from, to];
        }
        vec![from, Point { x: from.x, y: self.bus_top }, Point { x: to.x, y: self.bus_top }, to]
    }

    /// The path a packet travels from `from` to `to`: through NICs, the proxy stage and the
    /// bridge inside a node, along the VNet bus between nodes and the load balancer, and straight
    /// between places outside. It starts at `from`'s anchor and ends at `to`'s.
    pub fn route(&self, from: Place, to: Place, scenario: &Scenario, cluster: &Cluster) -> Vec<Point> {
        let (a, b) = (self.anchor(from, scenario, cluster), self.anchor(to, scenario, cluster));
        let inside = |p| self.node_of(p, scenario, cluster);
        let mut path = match (inside(from), inside(to)) {
            (Some((na, pa)), Some((nb, pb))) if na == nb => {
                let (ca, cb) = (self.chain_out(na, pa), self.chain_out(nb, pb));
                // Meet at the first place the two chains share (the bridge or the proxy stage).
                let i = ca.iter().position(|p| cb.contains(p)).unwrap_or(ca.len() - 1);
                let j = cb.iter().position(|p| *p == ca[i]).unwrap_or(0);
                let mut path = ca[..=i].to_vec();
                path.extend(cb[..j].iter().rev());
                path
            }
            (Some((na, pa)), Some((nb, pb))) => {
                let (ca, mut cb) = (self.chain_out(na, pa), self.chain_out(nb, pb));
                let mut path = ca.clone();
                path.extend(self.along_buses(ca[ca.len() - 1], cb[cb.len() - 1]).into_iter().skip(1));
                cb.pop();
                path.extend(cb.into_iter().rev());
                path
            }
            (Some((n, p)), None) => {
                let mut path = self.chain_out(n, p);
                path.extend(self.to_outside(path[path.len() - 1], to, b));
                path
            }
            (None, Some((n, p))) => {
                let mut path = self.chain_out(n, p);
                path.extend(self.to_outside(path[path.len() - 1], from, a));
                path.reverse();
                path
            }
            (None, None) => vec![a, b],
        };
        dedup(&mut path);
        path
    }

    /// From a point on a node's bus to a place outside the nodes: along the buses to the load
    /// balancer's port, then straight on (into the load balancer, or past it to the internet).
    fn to_outside(&self, bus: Point, place: Place, anchor: Point) -> Vec<Point> {
        let port = self.lb_port();
        let mut path = self.along_buses(bus, Point { x: self.bus_x(0), y: port.y });
        path.remove(0);
        if matches!(place, Place::Lb | Place::Internet | Place::Client(_)) {
            path.push(port);
        }
        path.push(anchor);
        path
    }
}

/// Drops repeated points (a path that meets itself at a corner).
fn dedup(path: &mut Vec<Point>) {
    path.dedup_by(|a, b| (a.x - b.x).abs() < 0.01 && (a.y - b.y).abs() < 0.01);
}

/// The point `frac` (0 to 1) of the way along `path`, by length.
pub fn along(path: &[Point], frac: f64) -> Point {
    let total: f64 = path.windows(2).map(|w| dist(w[0], w[1])).sum();
    let mut left = total * frac.clamp(0.0, 1.0);
    for w in path.windows(2) {
        let d = dist(w[0], w[1]);
        if left <= d && d > 0.0 {
            let f = left / d;
            return Point { x: w[0].x + (w[1].x - w[0].x) * f, y: w[0].y + (w[1].y - w[0].y) * f };
        }
        left -= d;
    }
    path.last().copied().unwrap_or(Point { x: 0.0, y: 0.0 })
}

fn dist(a: Point, b: Point) -> f64 {
    (b.x - a.x).hypot(b.y - a.y)
}

fn client_rect(x: f64, y: f64) -> Rect {
    Rect { x, y, w: CLIENT_W, h: CLIENT_H }
}

/// Each column's bus: a vertical line left of its nodes, from the top to its last door.
fn bus_columns(nodes: &[NodeBox], columns: usize) -> Vec<(f64, f64)> {
    (0..columns)
        .map(|c| {
            let col: Vec<&NodeBox> = nodes.iter().filter(|n| n.column == c).collect();
            let x = col.first().map_or(466.0, |n| n.rect.x - 14.0);
            (x, col.last().map_or(0.0, |n| n.door().y))
        })
        .collect()
}

/// A node's box at (`x`, `y`): title line, the stage row (NIC, proxy, bridge), the label band and
/// its pods in two columns; each pod's box is added to `pods`.
fn node_box(
    g: &Geometry,
    x: f64,
    y: f64,
    column: usize,
    pod_ids: &[PodId],
    pods: &mut BTreeMap<PodId, Rect>,
) -> NodeBox {
    let inner = g.node_w - 2.0 * PAD;
    let pod_w = (inner - POD_GAP) / 2.0;
    for (slot, pod) in pod_ids.iter().enumerate() {
        let (row, col) = (slot / 2, slot % 2);
        pods.insert(
            *pod,
            Rect {
                x: x + PAD + col as f64 * (pod_w + POD_GAP),
                y: y + g.pods_y + row as f64 * (g.pod_h + POD_GAP),
                w: pod_w,
                h: g.pod_h,
            },
        );
    }
    let rows = pod_ids.len().div_ceil(2).max(1) as f64;
    // NIC, proxy, bridge: spread over the inner width.
    let gap = (inner - 2.0 * g.stage_w - g.proxy_w) / 2.0;
    let stage = |k: f64| Rect {
        x: x + PAD + k * (g.stage_w + gap) + if k > 1.0 { g.proxy_w - g.stage_w } else { 0.0 },
        y: y + STAGE_Y,
        w: if k == 1.0 { g.proxy_w } else { g.stage_w },
        h: g.stage_h,
    };
    NodeBox {
        rect: Rect { x, y, w: g.node_w, h: g.pods_y + rows * (g.pod_h + POD_GAP) - POD_GAP + 10.0 },
        nic: stage(0.0),
        proxy: stage(1.0),
        bridge: stage(2.0),
        band: Rect { x: x + PAD, y: y + g.band_y, w: inner, h: BAND_H },
        column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use svcsim_core::manifest::{Overrides, load};
    use svcsim_core::sim::Sim;

    fn sim(yaml: &str) -> Sim {
        let mut sim = Sim::new(load(yaml, &Overrides::default()).unwrap().scenario);
        sim.run_until(svcsim_core::time::Instant::from_secs(1));
        sim
    }

    #[test]
    fn nodes_stack_without_overlap_and_their_parts_sit_inside_them() {
        let sim = sim(include_str!("../../scenarios/local-imbalance.yaml"));
        for o in [Orientation::Wide, Orientation::Tall] {
            let layout = Layout::new(sim.scenario(), sim.cluster(), o);
            assert_eq!(layout.nodes.len(), 2);
            let (a, b) = (layout.nodes[0].rect, layout.nodes[1].rect);
            assert!(a.bottom() <= b.y, "node boxes do not overlap");
            for n in &layout.nodes {
                for part in [n.nic, n.proxy, n.bridge, n.band] {
                    assert!(n.rect.encloses(&part), "{part:?} inside {:?}", n.rect);
                }
                assert!(!n.nic.overlaps(&n.proxy) && !n.proxy.overlaps(&n.bridge) && !n.bridge.overlaps(&n.band));
            }
            for (pod, r) in &layout.pods {
                let node = layout.nodes[sim.cluster().pod(*pod).node.0 as usize];
                assert!(node.rect.encloses(r), "pod box inside its node");
                assert!(!node.band.overlaps(r), "the band is kept free");
            }
            assert_eq!(layout.pods.len(), 4);
            assert!(layout.width >= layout.nodes[0].rect.right());
            assert!(!layout.band.overlaps(&layout.lb));
        }
    }

    /// The wide row reads client, internet, LB, bus with a gap between each, single- or
    /// dual-stack (whose LB is wider).
    #[test]
    fn the_left_row_has_a_gap_between_each_part() {
        for yaml in [include_str!("../../scenarios/aks-blog.yaml"), include_str!("../../scenarios/aks-dual-stack.yaml")]
        {
            let sim = sim(yaml);
            let l = Layout::new(sim.scenario(), sim.cluster(), Orientation::Wide);
            let client = l.clients.iter().map(|(_, r)| r.right()).fold(0.0, f64::max);
            let internet = (l.internet.x - INTERNET_RX, l.internet.x + INTERNET_RX);
            assert!(client < internet.0 && internet.1 < l.lb.x, "{client} < {internet:?} < {}", l.lb.x);
            assert!(l.lb.right() < l.buses[0].0, "the LB ends before the bus");
        }
    }

    #[test]
    fn a_request_enters_through_the_nic_and_crosses_to_another_node_along_the_bus() {
        let sim = sim(include_str!("../../scenarios/aks-blog.yaml"));
        let (s, c) = (sim.scenario(), sim.cluster());
        let l = Layout::new(s, c, Orientation::Wide);
        let n1 = &l.nodes[1];
        let path = l.route(Place::Lb, Place::Node(NodeId(1)), s, c);
        assert_eq!(path.first(), Some(&l.anchor(Place::Lb, s, c)));
        assert_eq!(path[1], l.lb_port());
        assert_eq!(&path[path.len() - 3..], [n1.door(), n1.nic.center(), n1.stage_point()]);
        // node-1's proxy stage to the pod on node-0: out through node-1's NIC, up the bus, in
        // through node-0's NIC and proxy stage, then the bridge.
        let pod = *l.pods.keys().next().unwrap();
        let n0 = &l.nodes[0];
        let path = l.route(Place::Node(NodeId(1)), Place::Pod(pod), s, c);
        let bus = l.buses[0].0;
        assert_eq!(path[..3], [n1.stage_point(), n1.nic.center(), n1.door()]);
        assert!(path.contains(&Point { x: bus, y: n1.door().y }) && path.contains(&Point { x: bus, y: n0.door().y }));
        assert_eq!(&path[path.len() - 3..], [n0.stage_point(), n0.bridge.center(), l.pod_anchor(pod)]);
        // Inside one node: proxy stage, bridge, pod.
        let path = l.route(Place::Node(NodeId(0)), Place::Pod(pod), s, c);
        assert_eq!(path, [n0.stage_point(), n0.bridge.center(), l.pod_anchor(pod)]);
        assert_eq!(along(&path, 0.0), path[0]);
        assert_eq!(along(&path, 1.0), path[2]);
    }
}
