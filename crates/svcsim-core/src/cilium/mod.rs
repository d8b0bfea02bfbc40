//! Cilium's eBPF kube-proxy replacement (Cilium 1.18), one implementation of the [`Dataplane`]
//! seam: the maps its agent writes per node ([`agent`], [`maps`]), the datapath that reads them
//! — at the node's device, at a pod's veth and at `connect()` ([`datapath`]) — Maglev
//! ([`maglev`]), its health servers and its `cilium-dbg` listings (`docs/fidelity.md#cilium`).

pub mod agent;
pub mod datapath;
pub mod health;
pub mod maglev;
pub mod maps;
mod step;
pub mod text;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

pub use datapath::{Datapath, ForcedSlot, Picker, SERVICE_LOOPBACK};
pub use maps::{Backend, BackendId, Frontend, FrontendKind, NodeMaps, Scope};
pub use step::Step;

use crate::cluster::{CiliumConfig, Cluster, NodeId, ServiceId};
use crate::dataplane::{
    Connect, ConnectCx, Dataplane, Decision, HealthResponse, NodeNet, Origin, PacketCx, RulesText, SyncReport,
};
use crate::id::IdVec;
use crate::net::{Header, SockAddr};
use crate::rng::SimRng;
use crate::time::{Duration, Instant};

/// The Cilium release whose datapath svcsim models.
pub const MODELLED_VERSION: &str = "1.18";

/// Cilium's kube-proxy replacement on every node of a cluster.
#[derive(Debug)]
pub struct Cilium {
    config: CiliumConfig,
    seeds: maglev::Seeds,
    nodes: IdVec<NodeId, NodeState>,
    /// Every node's address, and the NodePort range (socket-LB's wildcard lookup).
    node_ips: Vec<IpAddr>,
    node_port_range: (u16, u16),
    /// The cluster's backends and Service ports as of an epoch: every node's agent sees them alike.
    catalog: Option<(u64, Rc<agent::Catalog>)>,
}

/// One node's agent and datapath state.
#[derive(Debug)]
struct NodeState {
    maps: Rc<NodeMaps>,
    net: NodeNet,
    /// (Service, healthCheckNodePort, active local backends).
    health: Vec<(ServiceId, u16, u32)>,
    /// `cilium_lb4_affinity`: (frontend, client) → (backend, last use).
    affinity: BTreeMap<(u16, IpAddr), (BackendId, Instant)>,
}

impl Cilium {
    /// Cilium as `cluster` configures it (its defaults when the cluster says nothing).
    pub fn new(cluster: &Cluster) -> Cilium {
        let config = cluster.config.cilium.clone().unwrap_or_default();
        let seeds = maglev::Seeds::from_hash_seed(&config.maglev_hash_seed)
            .or_else(|| maglev::Seeds::from_hash_seed(CiliumConfig::DEFAULT_HASH_SEED))
            .expect("the default seed is 12 bytes");
        Cilium {
            config,
            seeds,
            nodes: IdVec::new(),
            node_ips: Vec::new(),
            node_port_range: cluster.config.node_port_range,
            catalog: None,
        }
    }
    /// The maps `node` holds since its last sync.
    ///
    /// # Panics
    /// If `node` was never synced.
    pub fn maps(&self, node: NodeId) -> &NodeMaps {
        &self.nodes[node].maps
    }
    fn datapath(&self, node: NodeId) -> Datapath<'_> {
        let state = &self.nodes[node];
        Datapath {
            node,
            maps: &state.maps,
            net: &state.net,
            config: &self.config,
            seeds: self.seeds,
            node_ips: &self.node_ips,
            node_port_range: self.node_port_range,
        }
    }
}

impl Dataplane for Cilium {
    fn agent(&self) -> &'static str {
        "cilium-agent"
    }
    fn describe(&self) -> String {
        format!(
            "Cilium {MODELLED_VERSION} kube-proxy replacement (eBPF; loadBalancer.mode {}, algorithm {}, socket-LB {})",
            self.config.mode,
            self.config.algorithm,
            if self.config.socket_lb { "on" } else { "off" }
        )
    }
    /// The agent's reconciler writes the maps as changes arrive; svcsim applies them at once.
    fn min_sync_period(&self) -> Duration {
        Duration::ZERO
    }

    fn sync(&mut self, cluster: &Cluster, epoch: u64, node: NodeId) -> Option<SyncReport> {
        let catalog = match &self.catalog {
            Some((e, c)) if *e == epoch => Rc::clone(c),
            _ => {
                let c = Rc::new(agent::Catalog::of(cluster));
                self.catalog = Some((epoch, Rc::clone(&c)));
                self.node_ips = cluster.nodes.iter().map(|n| n.ip).collect();
                c
            }
        };
        let maps = agent::program(cluster, node, &catalog, &self.config);
        let health =
            if self.config.health_check_node_port { agent::health_ports(cluster, node, &maps) } else { Vec::new() };
        let report = SyncReport {
            rules: maps.entries() as u32,
            health_servers: health.iter().map(|(_, port, n)| (*port, *n)).collect(),
        };
        match self.nodes.get_mut(node) {
            Some(state) => {
                let changed = *state.maps != maps || state.health != health;
                state.maps = Rc::new(maps);
                state.net = NodeNet::of(cluster, node);
                state.health = health;
                changed.then_some(report)
            }
            None => {
                assert_eq!(node, self.nodes.next_id(), "nodes are first synced in order");
                let net = NodeNet::of(cluster, node);
                self.nodes.push(NodeState { maps: Rc::new(maps), net, health, affinity: BTreeMap::new() });
                Some(report)
            }
        }
    }

    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, cx: PacketCx<'_>) -> Decision {
        // The affinity map is taken out while the datapath reads the rest of the node's state.
        let mut affinity = std::mem::take(&mut self.nodes[node].affinity);
        let d = {
            let dp = self.datapath(node);
            let timeout = affinity_timeout(dp.maps);
            let mut picker = SimPicker { rng: cx.rng, affinity: &mut affinity, now: cx.now, timeout };
            dp.first_packet(origin, header, cx.dsr, &mut picker)
        };
        self.nodes[node].affinity = affinity;
        d
    }

    fn every_decision(&self, node: NodeId, origin: Origin, header: Header) -> Vec<Decision> {
        let dp = self.datapath(node);
        (0..dp.picks(origin, header)).map(|i| dp.first_packet(origin, header, None, &mut ForcedSlot(i))).collect()
    }

    fn serve(&self, cluster: &Cluster, node: NodeId, dst: SockAddr) -> Option<HealthResponse> {
        if self.config.healthz_bind == Some(dst.port) {
            return Some(health::healthz(cluster, node));
        }
        let (svc, _, local) = self.nodes[node].health.iter().find(|(_, port, _)| *port == dst.port)?;
        Some(health::service_health(cluster, *svc, *local))
    }

    fn render(&self, node: NodeId, _form: RulesText) -> String {
        text::listing(&self.nodes[node].maps)
    }

    fn sweep(&mut self, now: Instant) {
        for state in self.nodes.iter_mut() {
            let timeout = affinity_timeout(&state.maps);
            state.affinity.retain(|(fe, _), (_, seen)| timeout(*fe).is_some_and(|t| now.saturating_since(*seen) <= t));
        }
    }

    fn every_connect(
        &self,
        node: NodeId,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        proto: crate::net::Protocol,
    ) -> Vec<Connect> {
        let dp = self.datapath(node);
        let n = dp.sock_frontend(dst, proto).map_or(1, |f| f.backends.len().max(1) as u32);
        (0..n).filter_map(|i| dp.connect(from_pod, src, dst, proto, &mut ForcedSlot(i))).collect()
    }

    fn connect(
        &mut self,
        node: NodeId,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        cx: ConnectCx<'_>,
    ) -> Option<Connect> {
        let mut affinity = std::mem::take(&mut self.nodes[node].affinity);
        let c = {
            let dp = self.datapath(node);
            let timeout = affinity_timeout(dp.maps);
            let mut picker = SimPicker { rng: cx.rng, affinity: &mut affinity, now: cx.now, timeout };
            dp.connect(from_pod, src, dst, cx.proto, &mut picker)
        };
        self.nodes[node].affinity = affinity;
        c
    }
}

/// Each frontend's affinity timeout, looked up by id.
fn affinity_timeout(maps: &NodeMaps) -> impl Fn(u16) -> Option<Duration> + '_ {
    move |id| maps.frontends.iter().find(|f| f.id == id).and_then(|f| f.affinity)
}

/// The running simulation's choices: the flow's random stream and the node's affinity map.
struct SimPicker<'a, F: Fn(u16) -> Option<Duration>> {
    rng: &'a mut SimRng,
    affinity: &'a mut BTreeMap<(u16, IpAddr), (BackendId, Instant)>,
    now: Instant,
    timeout: F,
}

impl<F: Fn(u16) -> Option<Duration>> Picker for SimPicker<'_, F> {
    fn slot(&mut self, n: u32) -> u32 {
        self.rng.below(u64::from(n)) as u32
    }
    fn affinity(&mut self, frontend: u16, client: IpAddr) -> Option<BackendId> {
        let (backend, seen) = *self.affinity.get(&(frontend, client))?;
        let timeout = (self.timeout)(frontend)?;
        (self.now.saturating_since(seen) <= timeout).then_some(backend)
    }
    fn remember(&mut self, frontend: u16, client: IpAddr, backend: BackendId) {
        self.affinity.insert((frontend, client), (backend, self.now));
    }
}
