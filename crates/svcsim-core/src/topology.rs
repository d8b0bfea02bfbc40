//! The network: the internet, clients, the cloud load balancer, the VNet and the nodes, as a
//! graph whose links carry latencies. Routes between every pair of places are computed once.
//!
//! petgraph stays inside this module: the rest of the crate speaks [`Place`] and [`Link`].
//! Pods are not graph nodes: they sit behind their node's cbr0 ([`POD_LINK`]) and come and go
//! during a run, while the graph does not change.

use std::collections::BTreeMap;
use std::fmt;

use petgraph::algo::dijkstra;
use petgraph::graph::{NodeIndex, UnGraph};

use crate::cluster::{NodeId, PodId};
use crate::id::define_id;
use crate::scenario::ClientId;
use crate::time::Duration;

define_id!(
    /// Index of an EndpointSlice address that is no pod, in the order the run found them.
    BackendId
);

/// A place a packet can be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// An external client.
    Client(ClientId),
    /// The public internet between clients and the cloud.
    Internet,
    /// The cloud load balancer (all frontends).
    Lb,
    /// The cloud virtual network the nodes are attached to.
    Vnet,
    /// A node's host network namespace (eth0, netfilter, kube-proxy).
    Node(NodeId),
    /// A pod, behind its node's cbr0.
    Pod(PodId),
    /// An EndpointSlice address that is no pod: a plain echo server, on a node or outside the
    /// cluster.
    Backend(BackendId),
}

/// The latency of the veth/cbr0 hop between a pod and its node.
pub const POD_LINK: Duration = Duration::from_micros(50);

/// A link of the topology, for drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub a: Place,
    pub b: Place,
    pub latency: Duration,
}

/// The graph and its precomputed routes.
#[derive(Debug, Clone)]
pub struct Topology {
    graph: UnGraph<Place, Duration>,
    index: BTreeMap<Place, NodeIndex>,
    clients: u32,
    /// One-way latency between every pair of graph places, a row per place (see `slot`): the
    /// loop asks for one per packet hop, so it is a plain lookup.
    latency: Vec<Duration>,
}

/// Link latencies of the default topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    pub client_internet: Duration,
    pub internet_lb: Duration,
    pub internet_vnet: Duration,
    pub lb_vnet: Duration,
    pub vnet_node: Duration,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies {
            client_internet: Duration::from_millis(10),
            internet_lb: Duration::from_millis(1),
            internet_vnet: Duration::from_millis(1),
            lb_vnet: Duration::from_micros(200),
            vnet_node: Duration::from_micros(100),
        }
    }
}

impl Topology {
    /// Builds the graph for `clients` external clients and `nodes` nodes, and its routes.
    pub fn new(clients: u32, nodes: u32, lat: Latencies) -> Topology {
        let mut graph = UnGraph::new_undirected();
        let mut index = BTreeMap::new();
        let mut add = |g: &mut UnGraph<Place, Duration>, p: Place| {
            let i = g.add_node(p);
            index.insert(p, i);
            i
        };
        let internet = add(&mut graph, Place::Internet);
        let lb = add(&mut graph, Place::Lb);
        let vnet = add(&mut graph, Place::Vnet);
        graph.add_edge(internet, lb, lat.internet_lb);
        graph.add_edge(internet, vnet, lat.internet_vnet);
        graph.add_edge(lb, vnet, lat.lb_vnet);
        for c in 0..clients {
            let i = add(&mut graph, Place::Client(ClientId(c)));
            graph.add_edge(i, internet, lat.client_internet);
        }
        for n in 0..nodes {
            let i = add(&mut graph, Place::Node(NodeId(n)));
            graph.add_edge(i, vnet, lat.vnet_node);
        }
        let places = index.len();
        let mut topology = Topology { graph, index, clients, latency: vec![Duration::ZERO; places * places] };
        for (&from, &i) in &topology.index {
            for (j, cost) in dijkstra(&topology.graph, i, None, |e| *e.weight()) {
                let (a, b) = (topology.slot(from), topology.slot(topology.graph[j]));
                topology.latency[a * places + b] = cost;
            }
        }
        topology
    }

    /// The row of a graph place in the latency table.
    ///
    /// # Panics
    /// If the place is not a graph place (a pod or a backend).
    fn slot(&self, place: Place) -> usize {
        match place {
            Place::Internet => 0,
            Place::Lb => 1,
            Place::Vnet => 2,
            Place::Client(c) => 3 + c.0 as usize,
            Place::Node(n) => 3 + self.clients as usize + n.0 as usize,
            other => panic!("{other} is not a place of the graph"),
        }
    }

    /// One-way latency between two graph places (not pods: see [`POD_LINK`]).
    ///
    /// # Panics
    /// If either place is not in the graph.
    pub fn latency(&self, from: Place, to: Place) -> Duration {
        let places = self.index.len();
        let (a, b) = (self.slot(from), self.slot(to));
        assert!(a < places && b < places, "no route {from} -> {to}");
        self.latency[a * places + b]
    }

    /// Every link, for the UI's drawing.
    pub fn links(&self) -> Vec<Link> {
        self.graph
            .edge_indices()
            .map(|e| {
                let (a, b) = self.graph.edge_endpoints(e).expect("edge index is valid");
                Link { a: self.graph[a], b: self.graph[b], latency: self.graph[e] }
            })
            .collect()
    }

    /// Every place of the graph, in a stable order.
    pub fn places(&self) -> Vec<Place> {
        self.index.keys().copied().collect()
    }
}

impl std::ops::AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Client(c) => write!(f, "client#{}", c.0),
            Place::Internet => f.write_str("internet"),
            Place::Lb => f.write_str("lb"),
            Place::Vnet => f.write_str("vnet"),
            Place::Node(n) => write!(f, "node#{}", n.0),
            Place::Pod(p) => write!(f, "pod#{}", p.0),
            Place::Backend(b) => write!(f, "backend#{}", b.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_add_link_latencies_along_the_shortest_path() {
        let t = Topology::new(1, 2, Latencies::default());
        assert_eq!(t.latency(Place::Client(ClientId(0)), Place::Lb), Duration::from_millis(11));
        assert_eq!(t.latency(Place::Lb, Place::Node(NodeId(1))), Duration::from_micros(300));
        assert_eq!(t.latency(Place::Node(NodeId(0)), Place::Node(NodeId(1))), Duration::from_micros(200));
        // Direct server return: node -> vnet -> internet -> client.
        assert_eq!(t.latency(Place::Node(NodeId(0)), Place::Client(ClientId(0))), Duration::from_micros(11_100));
        assert_eq!(t.links().len(), 3 + 1 + 2);
    }
}
