//! Evaluating the first packet of a new connection against one node's [`Ruleset`], the way
//! netfilter walks it: nat PREROUTING (or OUTPUT for host-originated packets), the routing
//! decision, filter INPUT / FORWARD / OUTPUT, then nat POSTROUTING (§1.1, §1.17).
//!
//! Only the first packet is evaluated: later packets and replies follow conntrack (§1.17).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use super::rules::{ChainName, CtStates, Match, Rule, Ruleset, Table, Target, chains};
use crate::cluster::{Cluster, NetworkPlugin, NodeId};
use crate::net::{Header, Ipv4Cidr};

/// Where a first packet enters the node's netfilter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Arrived on eth0 from the network, or from a local pod over cbr0: nat PREROUTING.
    Routed,
    /// Sent by a process in the node's host network namespace: nat OUTPUT.
    Host,
}

/// The node's own addresses and the facts the routing decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeNet {
    pub node_ip: Ipv4Addr,
    /// cbr0's address with kubenet; `None` with azure-cni (§5.3).
    pub bridge_ip: Option<Ipv4Addr>,
    pub pod_cidr: Ipv4Cidr,
}

impl NodeNet {
    pub fn of(cluster: &Cluster, node: NodeId) -> NodeNet {
        let n = cluster.node(node);
        let bridge_ip = (cluster.config.network_plugin == NetworkPlugin::Kubenet).then(|| n.bridge_ip());
        NodeNet { node_ip: n.ip, bridge_ip, pod_cidr: n.pod_cidr }
    }
    /// `-m addrtype --*-type LOCAL`: an address configured on this node.
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == self.node_ip || Some(ip) == self.bridge_ip || ip.is_loopback()
    }
    /// The address MASQUERADE picks for a packet to `dst`: the egress interface's address —
    /// cbr0's toward a pod on this node (kubenet), the node IP otherwise (§1.8, §5.2, §5.3).
    pub fn masquerade_source(&self, dst: Ipv4Addr) -> Ipv4Addr {
        match self.bridge_ip {
            Some(bridge) if self.pod_cidr.contains(dst) => bridge,
            _ => self.node_ip,
        }
    }
}

/// The decisions a rule walk cannot make from the packet alone.
pub trait Chooser {
    /// `-m statistic --mode random --probability 1/one_in`.
    fn statistic(&mut self, one_in: u32) -> bool;
    /// `-m recent --name <name> --rcheck --seconds <s> --reap` for source `src`.
    fn recent_check(&mut self, name: &ChainName, src: Ipv4Addr, seconds: u32) -> bool;
    /// `-m recent --name <name> --set` for source `src`.
    fn recent_set(&mut self, name: &ChainName, src: Ipv4Addr);
}

/// One rule that matched, in the order they fired. It shares the rule with the ruleset it came
/// from, so recording it is cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    pub table: Table,
    pub chain: ChainName,
    pub rule: Rc<Rule>,
}

impl RuleHit {
    /// The chain the rule jumped to, if it was a jump.
    pub fn jump(&self) -> Option<&ChainName> {
        self.rule.jump()
    }
}

impl fmt::Display for RuleHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-t {} -A {} {}", self.table, self.chain, self.rule.text())
    }
}

/// What the rules decided for a first packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: delivered to a local socket or forwarded.
    Accept,
    /// Silently dropped by the rule with this comment: the client times out.
    Drop { reason: String },
    /// Rejected by the rule with this comment: the client gets a refusal at once.
    Reject { reason: String },
}

/// Where an accepted packet goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// To a socket in the node's host network namespace (filter INPUT).
    Local,
    /// Out of the node toward the (possibly rewritten) destination (filter FORWARD or OUTPUT).
    Forward,
}

/// The outcome of walking one first packet through one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub before: Header,
    pub after: Header,
    pub verdict: Verdict,
    pub delivery: Delivery,
    /// The DNAT target, if a KUBE-SEP rule fired.
    pub dnat: Option<SocketAddrV4>,
    /// The packet carried the 0x4000 mark into POSTROUTING and was masqueraded.
    pub masqueraded: bool,
    /// The nat rules marked the packet for SNAT (KUBE-MARK-MASQ), whether or not it then left
    /// through POSTROUTING.
    pub marked: bool,
    pub hits: Vec<RuleHit>,
}

struct State<'a> {
    header: Header,
    original_src: Ipv4Addr,
    mark: bool,
    dnat: Option<SocketAddrV4>,
    net: &'a NodeNet,
    hits: Vec<RuleHit>,
    /// Chains entered and not yet left, to stop a jump loop.
    depth: usize,
}

enum Flow {
    /// Keep walking the calling chain.
    Continue,
    /// Stop walking this table: ACCEPT, DNAT or MASQUERADE.
    Accept,
    Drop(String),
    Reject(String),
}

/// Walks the first packet with header `pkt` through `rules` on the node described by `net`.
pub fn evaluate(rules: &Ruleset, net: &NodeNet, origin: Origin, pkt: Header, chooser: &mut dyn Chooser) -> Walk {
    let mut st = State {
        header: pkt,
        original_src: *pkt.src.ip(),
        mark: false,
        dnat: None,
        net,
        hits: Vec::with_capacity(8),
        depth: 0,
    };
    let nat_hook = match origin {
        Origin::Routed => chains::PREROUTING,
        Origin::Host => chains::OUTPUT,
    };
    // The nat table has no terminal verdicts besides DNAT/MASQUERADE.
    walk(rules, Table::Nat, nat_hook, &mut st, chooser);

    let marked = st.mark;
    let local = net.is_local(*st.header.dst.ip());
    let filter_hooks: &[&str] = match (origin, local) {
        (Origin::Routed, true) => &[chains::INPUT],
        (Origin::Routed, false) => &[chains::FORWARD],
        (Origin::Host, true) => &[chains::OUTPUT, chains::INPUT],
        (Origin::Host, false) => &[chains::OUTPUT],
    };
    let mut verdict = Verdict::Accept;
    for hook in filter_hooks {
        match walk(rules, Table::Filter, hook, &mut st, chooser) {
            Flow::Drop(reason) => verdict = Verdict::Drop { reason },
            Flow::Reject(reason) => verdict = Verdict::Reject { reason },
            Flow::Continue | Flow::Accept => continue,
        }
        break;
    }
    let delivery = if local { Delivery::Local } else { Delivery::Forward };
    let mut masqueraded = false;
    if verdict == Verdict::Accept && delivery == Delivery::Forward {
        let marked = st.mark;
        walk(rules, Table::Nat, chains::POSTROUTING, &mut st, chooser);
        masqueraded = marked && !st.mark;
        if masqueraded {
            let to = net.masquerade_source(*st.header.dst.ip());
            st.header.src = SocketAddrV4::new(to, st.header.src.port());
        }
    }
    Walk { before: pkt, after: st.header, verdict, delivery, dnat: st.dnat, masqueraded, marked, hits: st.hits }
}

/// Walks `chain` of `table`, jumping as its rules say.
///
/// A walk nested deeper than the table has chains has entered some chain twice: a jump loop.
/// The kernel refuses to load such a table (`iptables-restore` fails with ELOOP) and kube-proxy
/// never writes one, so this only guards hand-made rulesets: the walk stops instead of recursing
/// forever. In filter the packet is dropped with the reason; in nat, which takes no filtering
/// verdict, the translation walk just ends there.
fn walk(rules: &Ruleset, table: Table, chain: &str, st: &mut State<'_>, chooser: &mut dyn Chooser) -> Flow {
    let Some((chain_name, chain_rules)) = rules.table(table).get_key_value(chain) else {
        return Flow::Continue;
    };
    if st.depth > rules.table(table).chains.len() {
        return Flow::Drop(format!("jump loop through {chain_name}: the kernel would refuse this table (ELOOP)"));
    }
    st.depth += 1;
    let flow = walk_rules(rules, table, chain_name, chain_rules, st, chooser);
    st.depth -= 1;
    flow
}

fn walk_rules(
    rules: &Ruleset,
    table: Table,
    chain_name: &ChainName,
    chain_rules: &[Rc<Rule>],
    st: &mut State<'_>,
    chooser: &mut dyn Chooser,
) -> Flow {
    for rule in chain_rules {
        if !rule.matches.iter().all(|m| matches(m, st, chooser)) {
            continue;
        }
        let hit_at = st.hits.len();
        st.hits.push(RuleHit { table, chain: chain_name.clone(), rule: Rc::clone(rule) });
        for m in &rule.matches {
            if let Match::RecentSet { name } = m {
                chooser.recent_set(name, st.original_src);
            }
        }
        let comment = || rule.comment.clone().unwrap_or_default();
        match &rule.target {
            Target::Jump(next) => match walk(rules, table, next.as_str(), st, chooser) {
                // A filter jump into a chain where nothing matched changed nothing: leave it out
                // of the record. (In nat it stays: a Local KUBE-EXT without a KUBE-SVL rule is
                // exactly the story of a drop.)
                Flow::Continue if table == Table::Filter && st.hits.len() == hit_at + 1 => {
                    st.hits.pop();
                }
                Flow::Continue => {}
                other => return other,
            },
            Target::Return => return Flow::Continue,
            Target::Accept => return Flow::Accept,
            Target::Drop => return Flow::Drop(comment()),
            Target::Reject => return Flow::Reject(comment()),
            Target::Dnat(to) => {
                st.header.dst = *to;
                st.dnat = Some(*to);
                return Flow::Accept;
            }
            Target::MarkMasq => st.mark = true,
            Target::ClearMasq => st.mark = false,
            Target::Masquerade => return Flow::Accept,
        }
    }
    Flow::Continue
}

fn matches(m: &Match, st: &State<'_>, chooser: &mut dyn Chooser) -> bool {
    match m {
        Match::Tcp => true,
        Match::Src { cidr, negated } => cidr.contains(*st.header.src.ip()) != *negated,
        Match::Dst(ip) => st.header.dst.ip() == ip,
        Match::DstPort(p) => st.header.dst.port() == *p,
        Match::SrcTypeLocal => st.net.is_local(*st.header.src.ip()),
        Match::DstTypeLocal => st.net.is_local(*st.header.dst.ip()),
        Match::Mark { negated } => st.mark != *negated,
        // Only first packets are evaluated: they are NEW, never INVALID or ESTABLISHED.
        Match::CtState(CtStates::New) => true,
        Match::CtState(CtStates::Invalid | CtStates::RelatedEstablished) => false,
        Match::Statistic { one_in } => chooser.statistic(*one_in),
        Match::RecentCheck { name, seconds } => chooser.recent_check(name, st.original_src, *seconds),
        Match::RecentSet { .. } => true,
    }
}

/// A [`Chooser`] that makes the `k`-th statistic rule the first to match and sees no affinity
/// history: walking with k = 0, 1, … visits every endpoint the cascade could pick.
#[derive(Debug, Clone, Copy)]
pub struct ForcedPick {
    pub k: u32,
    seen: u32,
}

impl ForcedPick {
    pub fn new(k: u32) -> ForcedPick {
        ForcedPick { k, seen: 0 }
    }
    /// How many statistic rules the walk consulted.
    pub fn consulted(&self) -> u32 {
        self.seen
    }
}

impl Chooser for ForcedPick {
    fn statistic(&mut self, _one_in: u32) -> bool {
        let hit = self.seen == self.k;
        self.seen += 1;
        hit
    }
    fn recent_check(&mut self, _: &ChainName, _: Ipv4Addr, _: u32) -> bool {
        false
    }
    fn recent_set(&mut self, _: &ChainName, _: Ipv4Addr) {}
}

/// Every distinct outcome of a first packet across the random cascade: one [`Walk`] per
/// endpoint it could pick (one walk when no statistic rule is involved).
pub fn every_outcome(rules: &Ruleset, net: &NodeNet, origin: Origin, pkt: Header) -> Vec<Walk> {
    let mut out = Vec::new();
    for k in 0.. {
        let mut chooser = ForcedPick::new(k);
        let walk = evaluate(rules, net, origin, pkt, &mut chooser);
        let more = chooser.consulted() > k;
        out.push(walk);
        // The last rule of a cascade has no statistic match: when the k-th did not exist, the
        // walk took the final, unconditional endpoint and there is nothing left to force.
        if !more {
            break;
        }
    }
    out.dedup_by(|a, b| a.dnat == b.dnat && a.verdict == b.verdict && a.masqueraded == b.masqueraded);
    out
}
