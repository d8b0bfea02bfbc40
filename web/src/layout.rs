//! Where everything is drawn: a deterministic layout of clients, the internet, the load balancer,
//! node boxes and the pod rows inside them, computed from the run's names and pods so that it
//! stays put while the run plays.

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
}

/// The drawing's geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub internet: Point,
    pub lb: Rect,
    pub clients: Vec<(ClientId, Rect)>,
    pub nodes: Vec<Rect>,
    /// Each pod's row inside its node box (pods are never moved, only shown or hidden).
    pub pods: BTreeMap<PodId, Rect>,
    pub backends: Vec<Point>,
}

pub const NODE_HEADER: f64 = 58.0;
pub const POD_ROW: f64 = 24.0;
const NODE_W: f64 = 330.0;
const GAP: f64 = 14.0;

impl Layout {
    /// Lays out `cluster` (with every pod the run ever had) for `scenario`'s clients.
    pub fn new(scenario: &Scenario, cluster: &Cluster) -> Layout {
        let n_nodes = cluster.nodes.len().max(1);
        let columns = if n_nodes > 6 { 2 } else { 1 };
        let per_column = n_nodes.div_ceil(columns);
        let mut pods_per_node: Vec<Vec<PodId>> = vec![Vec::new(); cluster.nodes.len()];
        for (i, p) in cluster.pods.iter().enumerate() {
            pods_per_node[p.node.0 as usize].push(PodId(i as u32));
        }
        // Node boxes, top to bottom, then the next column.
        let x0 = 470.0;
        let mut nodes = Vec::new();
        let mut pods = BTreeMap::new();
        let mut column_bottom = vec![20.0f64; columns];
        for (i, pod_ids) in pods_per_node.iter().enumerate() {
            let col = i / per_column;
            let h = NODE_HEADER + POD_ROW * pod_ids.len().max(1) as f64 + 8.0;
            let rect = Rect { x: x0 + col as f64 * (NODE_W + 20.0), y: column_bottom[col], w: NODE_W, h };
            column_bottom[col] += h + GAP;
            for (slot, pod) in pod_ids.iter().enumerate() {
                pods.insert(
                    *pod,
                    Rect {
                        x: rect.x + 14.0,
                        y: rect.y + NODE_HEADER + slot as f64 * POD_ROW,
                        w: rect.w - 28.0,
                        h: POD_ROW - 4.0,
                    },
                );
            }
            nodes.push(rect);
        }
        let height = column_bottom.iter().cloned().fold(260.0f64, f64::max) + 10.0;
        let width = x0 + columns as f64 * (NODE_W + 20.0);
        let mid = height / 2.0;
        let external: Vec<ClientId> = scenario
            .clients
            .iter_enumerated()
            .filter(|(_, c)| matches!(c.kind, ClientKind::External(_)))
            .map(|(i, _)| i)
            .collect();
        let span = (external.len() as f64 * 64.0).min(height - 40.0);
        let clients = external
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let y = mid - span / 2.0 + k as f64 * (span / external.len().max(1) as f64);
                (*c, Rect { x: 12.0, y, w: 120.0, h: 48.0 })
            })
            .collect();
        let backends = (0..4).map(|k| Point { x: 210.0, y: height - 30.0 - k as f64 * 30.0 }).collect();
        Layout {
            width,
            height,
            internet: Point { x: 190.0, y: mid },
            lb: Rect { x: 270.0, y: mid - 50.0, w: 150.0, h: 100.0 },
            clients,
            nodes,
            pods,
            backends,
        }
    }

    /// The anchor a packet at `place` is drawn at.
    pub fn anchor(&self, place: Place, scenario: &Scenario, cluster: &Cluster) -> Point {
        match place {
            Place::Client(c) => match &scenario.clients.get(c).map(|c| &c.kind) {
                Some(ClientKind::HostNetwork(n)) => self.node_anchor(*n),
                Some(ClientKind::Pod(name)) => cluster.pod_by_name(name).map_or(self.internet, |p| self.pod_anchor(p)),
                _ => self
                    .clients
                    .iter()
                    .find(|(i, _)| *i == c)
                    .map_or(self.internet, |(_, r)| Point { x: r.x + r.w, y: r.y + r.h / 2.0 }),
            },
            Place::Internet | Place::Vnet => self.internet,
            Place::Lb => Point { x: self.lb.x + self.lb.w / 2.0, y: self.lb.y + self.lb.h / 2.0 },
            Place::Node(n) => self.node_anchor(n),
            Place::Pod(p) => self.pod_anchor(p),
            Place::Backend(b) => self.backends.get(b.0 as usize).copied().unwrap_or(self.internet),
        }
    }

    pub fn node_anchor(&self, n: NodeId) -> Point {
        let r = self.nodes[n.0 as usize];
        Point { x: r.x, y: r.y + 26.0 }
    }

    pub fn pod_anchor(&self, p: PodId) -> Point {
        self.pods.get(&p).map_or(Point { x: 0.0, y: 0.0 }, |r| Point { x: r.x + 8.0, y: r.y + r.h / 2.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use svcsim_core::manifest::{Overrides, load};
    use svcsim_core::sim::Sim;

    #[test]
    fn nodes_stack_without_overlap_and_pods_sit_inside_their_node() {
        let yaml = include_str!("../../scenarios/local-imbalance.yaml");
        let mut sim = Sim::new(load(yaml, &Overrides::default()).unwrap().scenario);
        sim.run_until(svcsim_core::time::Instant::from_secs(1));
        let layout = Layout::new(sim.scenario(), sim.cluster());
        assert_eq!(layout.nodes.len(), 2);
        let (a, b) = (layout.nodes[0], layout.nodes[1]);
        assert!(a.y + a.h <= b.y, "node boxes do not overlap");
        for (pod, row) in &layout.pods {
            let node = layout.nodes[sim.cluster().pod(*pod).node.0 as usize];
            assert!(row.y >= node.y && row.y + row.h <= node.y + node.h, "pod row inside its node");
        }
        assert_eq!(layout.pods.len(), 4);
        assert!(layout.width > layout.lb.x + layout.lb.w);
    }
}
