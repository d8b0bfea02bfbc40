//! kube-proxy in iptables mode, one implementation of the [`Dataplane`] seam: the rules it
//! programs per node ([`program()`]), the walk of a first packet through them ([`evaluate`]),
//! and its health servers ([`health`]).

mod eval;
mod first_packet;
pub mod health;
mod program;
mod rules;
mod text;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

pub use eval::{Chooser, ForcedPick, evaluate, every_outcome, random_port};
pub use first_packet::first_packet;
pub(crate) use program::detect_local_cidr;
pub use program::{PortChains, ProgramCache, endpoint_chain, node_port_ips, program, program_cached};
pub use rules::{
    Chain, ChainHasher, ChainName, CtStates, Interner, MASQ_MARK, Match, Rule, Ruleset, Table, TableRules, Target,
    chains,
};

use crate::cluster::{Cluster, KubeProxyConfig, NodeId};
use crate::dataplane::{Dataplane, Decision, HealthResponse, NodeNet, Origin, PacketCx, RulesText, SyncReport};
use crate::id::IdVec;
use crate::net::{Header, SockAddr};
use crate::rng::SimRng;
use crate::time::{Duration, Instant};

/// The kube-proxy release whose iptables rules svcsim writes.
pub const MODELLED_VERSION: &str = "v1.35";

/// How long an affinity entry of `-m recent` is kept at most: the longest `timeoutSeconds`.
const RECENT_KEPT: Duration = Duration::from_secs(86_400);

/// kube-proxy's iptables mode on every node of a cluster.
#[derive(Debug)]
pub struct Iptables {
    min_sync_period: Duration,
    nodes: IdVec<NodeId, NodeState>,
    /// Shares identical chains between nodes' rulesets.
    interner: Interner,
    /// Work shared by all nodes' syncs of one epoch of the cluster.
    cache: ProgramCache,
    epoch: Option<u64>,
}

/// kube-proxy's state on one node.
#[derive(Debug)]
struct NodeState {
    rules: Rc<Ruleset>,
    net: NodeNet,
    /// Health servers opened at the last sync.
    health: health::HealthServers,
    /// `-m recent` lists: (list, source) → last seen.
    recent: BTreeMap<(ChainName, IpAddr), Instant>,
    /// The service chains the last sync deleted (`-X`), by name.
    deleted: Vec<ChainName>,
}

impl Iptables {
    pub fn new(config: &KubeProxyConfig) -> Iptables {
        Iptables {
            min_sync_period: config.min_sync_period,
            nodes: IdVec::new(),
            interner: Interner::default(),
            cache: ProgramCache::default(),
            epoch: None,
        }
    }
    /// The rules programmed on `node` at its last sync.
    ///
    /// # Panics
    /// If `node` was never synced.
    pub fn rules(&self, node: NodeId) -> &Ruleset {
        &self.nodes[node].rules
    }
}

impl Default for Iptables {
    fn default() -> Iptables {
        Iptables::new(&KubeProxyConfig::default())
    }
}

/// The service chains of `before` that `after` no longer has, in name order: what a sync deletes
/// with `-X` (nat only, and only chains with the five service prefixes).
fn deleted_chains(before: &Ruleset, after: &Ruleset) -> Vec<ChainName> {
    const SERVICE_PREFIXES: [&str; 5] = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"];
    let mut gone: Vec<ChainName> = before
        .nat
        .chains
        .keys()
        .filter(|c| SERVICE_PREFIXES.iter().any(|p| c.as_str().starts_with(p)) && !after.nat.chains.contains_key(*c))
        .cloned()
        .collect();
    crate::order::sort(&mut gone);
    gone
}

impl Dataplane for Iptables {
    fn agent(&self) -> &'static str {
        "kube-proxy"
    }
    fn describe(&self) -> String {
        format!("kube-proxy iptables mode ({MODELLED_VERSION})")
    }
    fn min_sync_period(&self) -> Duration {
        self.min_sync_period
    }

    fn sync(&mut self, cluster: &Cluster, epoch: u64, node: NodeId) -> Option<SyncReport> {
        if self.epoch != Some(epoch) {
            self.cache.clear();
            self.epoch = Some(epoch);
        }
        let mut rules = program_cached(cluster, node, &mut self.cache);
        self.interner.intern(&mut rules);
        let health = health::HealthServers::of(cluster, node, &mut self.cache, node_port_ips(cluster, node));
        let report = SyncReport { rules: rules.len() as u32, health_servers: health.report() };
        let fresh = NodeState {
            rules: Rc::new(rules),
            net: NodeNet::of(cluster, node),
            health,
            recent: BTreeMap::new(),
            deleted: Vec::new(),
        };
        match self.nodes.get_mut(node) {
            Some(state) => {
                let changed = state.rules != fresh.rules || state.health != fresh.health;
                let recent = std::mem::take(&mut state.recent);
                let deleted = deleted_chains(&state.rules, &fresh.rules);
                *state = NodeState { recent, deleted, ..fresh };
                changed.then_some(report)
            }
            None => {
                assert_eq!(node, self.nodes.next_id(), "nodes are first synced in order");
                self.nodes.push(fresh);
                Some(report)
            }
        }
    }

    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, cx: PacketCx<'_>) -> Decision {
        let state = &mut self.nodes[node];
        let mut chooser = SimChooser { rng: cx.rng, recent: &mut state.recent, now: cx.now };
        evaluate(&state.rules, &state.net, origin, header, &mut chooser)
    }

    fn every_decision(&self, node: NodeId, origin: Origin, header: Header) -> Vec<Decision> {
        let state = &self.nodes[node];
        every_outcome(&state.rules, &state.net, origin, header)
    }

    fn serve(&self, cluster: &Cluster, node: NodeId, dst: SockAddr) -> Option<HealthResponse> {
        self.nodes[node].health.serve(cluster, node, dst)
    }

    fn render(&self, node: NodeId, form: RulesText) -> String {
        let state = &self.nodes[node];
        match form {
            RulesText::Save => state.rules.save(),
            RulesText::Restore => state.rules.restore(&state.deleted),
        }
    }

    fn sweep(&mut self, now: Instant) {
        for state in self.nodes.iter_mut() {
            state.recent.retain(|_, seen| now.saturating_since(*seen) <= RECENT_KEPT);
        }
    }
}

/// The running simulation's choices: the flow's random stream and the node's `-m recent` lists.
struct SimChooser<'a> {
    rng: &'a mut SimRng,
    recent: &'a mut BTreeMap<(ChainName, IpAddr), Instant>,
    now: Instant,
}

impl Chooser for SimChooser<'_> {
    fn statistic(&mut self, one_in: u32) -> bool {
        self.rng.one_in(u64::from(one_in))
    }
    fn recent_check(&mut self, name: &ChainName, src: IpAddr, seconds: u32) -> bool {
        let key = (name.clone(), src);
        match self.recent.get(&key) {
            Some(seen) if self.now.saturating_since(*seen) <= Duration::from_secs(u64::from(seconds)) => true,
            Some(_) => {
                // `--reap`: the stale entry goes.
                self.recent.remove(&key);
                false
            }
            None => false,
        }
    }
    fn recent_set(&mut self, name: &ChainName, src: IpAddr) {
        self.recent.insert((name.clone(), src), self.now);
    }
}

#[cfg(test)]
pub(crate) mod tests;
