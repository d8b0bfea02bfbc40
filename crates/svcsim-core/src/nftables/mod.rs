//! kube-proxy in nftables mode (v1.35), one implementation of the [`Dataplane`] seam: the table
//! it programs per node ([`program()`]), the walk of a first packet through it ([`evaluate`]),
//! its two text forms, and the health servers it shares with iptables mode
//! (`docs/fidelity.md#kube-proxy-nftables-rules`).

mod eval;
mod names;
mod program;
mod table;
mod text;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

pub use eval::{Chooser, ForcedPick, evaluate, every_outcome};
pub use names::{PortChains, endpoint_names, hash_and_truncate};
pub use program::{NftCache, node_port_ips, program, program_cached};
pub use table::{
    BaseChain, Chain, ChainType, Element, ElementVerdict, Hook, KeyKind, MASQ_MARK, Map, MapKey, Match, Name, Rule,
    Set, SetKind, SetOrMap, Statement, Table, is_service_chain,
};
pub use text::{Form, dump, listing, rule_text, transaction};

use crate::cluster::{Cluster, KubeProxyConfig, NodeId};
use crate::dataplane::{self, Dataplane, Decision, HealthResponse, NodeNet, Origin, PacketCx, RulesText, SyncReport};
use crate::id::IdVec;
use crate::kube_proxy::{ProgramCache, health};
use crate::net::{Header, SockAddr};
use crate::rng::SimRng;
use crate::time::{Duration, Instant};

/// The kube-proxy release whose nftables rules svcsim writes.
pub const MODELLED_VERSION: &str = "v1.35";

/// kube-proxy's nftables mode on every node of a cluster.
#[derive(Debug)]
pub struct Nftables {
    min_sync_period: Duration,
    nodes: IdVec<NodeId, NodeState>,
    cache: NftCache,
    /// For the health servers' local endpoint counts.
    health_cache: ProgramCache,
    epoch: Option<u64>,
}

/// kube-proxy's state on one node.
#[derive(Debug)]
struct NodeState {
    table: Rc<Table>,
    net: NodeNet,
    health: health::HealthServers,
    /// Session-affinity set elements: (set, source) → last update.
    affinity: BTreeMap<(Name, IpAddr), Instant>,
    /// The Service chains and affinity sets the last sync removed.
    gone: (Vec<Name>, Vec<Name>),
}

impl Nftables {
    pub fn new(config: &KubeProxyConfig) -> Nftables {
        Nftables {
            min_sync_period: config.min_sync_period,
            nodes: IdVec::new(),
            cache: NftCache::default(),
            health_cache: ProgramCache::default(),
            epoch: None,
        }
    }
    /// The table programmed on `node` at its last sync.
    ///
    /// # Panics
    /// If `node` was never synced.
    pub fn table(&self, node: NodeId) -> &Table {
        &self.nodes[node].table
    }
}

/// The Service chains and affinity sets of `before` that `after` lacks, in name order.
fn gone(before: &Table, after: &Table) -> (Vec<Name>, Vec<Name>) {
    let mut chains: Vec<Name> = before.service_chains().filter(|c| after.chain(c).is_none()).cloned().collect();
    crate::order::sort(&mut chains);
    let mut sets: Vec<Name> = before
        .sets
        .iter()
        .filter_map(|s| match s {
            SetOrMap::Set(set) if matches!(set.kind, SetKind::Affinity { .. }) && after.set(&set.name).is_none() => {
                Some(set.name.clone())
            }
            _ => None,
        })
        .collect();
    crate::order::sort(&mut sets);
    (chains, sets)
}

impl Dataplane for Nftables {
    fn agent(&self) -> &'static str {
        "kube-proxy"
    }
    fn describe(&self) -> String {
        format!("kube-proxy nftables mode ({MODELLED_VERSION})")
    }
    fn min_sync_period(&self) -> Duration {
        self.min_sync_period
    }

    fn sync(&mut self, cluster: &Cluster, epoch: u64, node: NodeId) -> Option<SyncReport> {
        if self.epoch != Some(epoch) {
            self.cache.clear();
            self.health_cache.clear();
            self.epoch = Some(epoch);
        }
        let mut table = program_cached(cluster, node, &mut self.cache);
        let health = health::HealthServers::of(cluster, node, &mut self.health_cache, node_port_ips(cluster, node));
        let report = SyncReport { rules: table.len() as u32, health_servers: health.report() };
        match self.nodes.get_mut(node) {
            Some(state) => {
                table.keep_order_of(&state.table);
                let changed = *state.table != table || state.health != health;
                state.gone = gone(&state.table, &table);
                state.table = Rc::new(table);
                state.net = NodeNet::of(cluster, node);
                state.health = health;
                changed.then_some(report)
            }
            None => {
                assert_eq!(node, self.nodes.next_id(), "nodes are first synced in order");
                self.nodes.push(NodeState {
                    table: Rc::new(table),
                    net: NodeNet::of(cluster, node),
                    health,
                    affinity: BTreeMap::new(),
                    gone: (Vec::new(), Vec::new()),
                });
                Some(report)
            }
        }
    }

    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, cx: PacketCx<'_>) -> Decision {
        let state = &mut self.nodes[node];
        let mut chooser = SimChooser { rng: cx.rng, affinity: &mut state.affinity, now: cx.now };
        evaluate(&state.table, &state.net, origin, header, &mut chooser)
    }

    fn every_decision(&self, node: NodeId, origin: Origin, header: Header) -> Vec<Decision> {
        let state = &self.nodes[node];
        every_outcome(&state.table, &state.net, origin, header)
    }

    fn serve(&self, cluster: &Cluster, node: NodeId, dst: SockAddr) -> Option<HealthResponse> {
        self.nodes[node].health.serve(cluster, node, dst)
    }

    fn render(&self, node: NodeId, form: RulesText) -> String {
        let state = &self.nodes[node];
        match form {
            RulesText::Save => listing(&state.table),
            RulesText::Restore => transaction(&state.table, &state.gone.0, &state.gone.1),
        }
    }

    fn sweep(&mut self, now: Instant) {
        for state in self.nodes.iter_mut() {
            let table = Rc::clone(&state.table);
            state.affinity.retain(|(set, _), seen| match table.set(set).map(|s| &s.kind) {
                Some(SetKind::Affinity { timeout_seconds }) => {
                    now.saturating_since(*seen) <= Duration::from_secs(u64::from(*timeout_seconds))
                }
                _ => false,
            });
        }
    }
}

/// The running simulation's choices: the flow's random stream and the node's affinity sets.
struct SimChooser<'a> {
    rng: &'a mut SimRng,
    affinity: &'a mut BTreeMap<(Name, IpAddr), Instant>,
    now: Instant,
}

impl Chooser for SimChooser<'_> {
    fn numgen(&mut self, n: u32) -> u32 {
        self.rng.below(u64::from(n)) as u32
    }
    fn affinity_has(&mut self, set: &Name, src: IpAddr, timeout_seconds: u32) -> bool {
        let key = (set.clone(), src);
        match self.affinity.get(&key) {
            Some(seen) if self.now.saturating_since(*seen) < Duration::from_secs(u64::from(timeout_seconds)) => true,
            Some(_) => {
                self.affinity.remove(&key);
                false
            }
            None => false,
        }
    }
    fn affinity_update(&mut self, set: &Name, src: IpAddr) {
        self.affinity.insert((set.clone(), src), self.now);
    }
}

/// Chains a packet's path names in the trace's `via A > B`: the ones that hold a Service's
/// rules, and the dispatch and check chains.
pub(crate) fn is_story(chain: &str) -> bool {
    !chain.starts_with("filter-")
        && !chain.starts_with("nat-")
        && chain != program::names::MARK_FOR_MASQUERADE
        && chain != program::names::MASQUERADING
}

/// `services: ip daddr . meta l4proto . th dport vmap @service-ips`, as the inspector lists it.
impl dataplane::Rule for Rule {
    fn fmt_native(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
    fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
    fn path_names(&self) -> [Option<&str>; 2] {
        let chain = Some(self.chain.as_str()).filter(|c| is_story(c));
        let to = self.statement.target().map(|t| t.as_str()).filter(|t| is_story(t));
        [chain, to]
    }
    /// `in service-…: numgen random mod 2 vmap { … }`: the rules of the Service's own chains,
    /// the commented ones, and the masquerade itself; the plumbing between them is left out.
    fn narrate(&self) -> Option<String> {
        let told = is_service_chain(self.chain.as_str())
            || self.comment.is_some()
            || matches!(self.statement, table::Statement::Masquerade);
        told.then(|| format!("in {}: {}", self.chain, rule_text(self, Form::Listing)))
    }
    fn listed(&self) -> Option<(&'static str, String)> {
        Some((text::table_name(self.family), format!("{} {}", self.chain, rule_text(self, Form::Listing))))
    }
}

/// `service-ips element 172.30.0.41 . tcp . 80 : goto service-…`: a map element the lookup found.
impl dataplane::Rule for Element {
    fn fmt_native(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
    fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
    fn path_names(&self) -> [Option<&str>; 2] {
        match &self.verdict {
            ElementVerdict::Goto(to) => [None, Some(to.as_str()).filter(|t| is_story(t))],
            ElementVerdict::Drop => [None, None],
        }
    }
    fn narrate(&self) -> Option<String> {
        Some(format!("{} element {}", self.map, text::element_text(self)))
    }
    /// The kernel's trace names the rule that looked the element up, not the element.
    fn listed(&self) -> Option<(&'static str, String)> {
        None
    }
}

#[cfg(test)]
mod tests;
