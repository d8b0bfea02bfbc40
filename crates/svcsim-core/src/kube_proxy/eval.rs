//! Evaluating the first packet of a new connection against one node's [`Ruleset`], the way
//! netfilter walks it: nat PREROUTING (or OUTPUT for host-originated packets), the routing
//! decision, filter INPUT / FORWARD / OUTPUT, then nat POSTROUTING
//! (`docs/fidelity.md#netfilter-walk`).
//!
//! Only the first packet is evaluated: later packets and replies follow conntrack.

use std::net::IpAddr;
use std::rc::Rc;

use super::rules::{ChainName, CtStates, Match, Rule, Ruleset, Table, Target, chains};
use crate::dataplane::{Cause, Decision, Delivery, NodeNet, Origin, RulePath, RuleRef, Verdict};
use crate::net::{Header, SockAddr};

/// The decisions a rule walk cannot make from the packet alone.
pub trait Chooser {
    /// `-m statistic --mode random --probability 1/one_in`.
    fn statistic(&mut self, one_in: u32) -> bool;
    /// `-m recent --name <name> --rcheck --seconds <s> --reap` for source `src`.
    fn recent_check(&mut self, name: &ChainName, src: IpAddr, seconds: u32) -> bool;
    /// `-m recent --name <name> --set` for source `src`.
    fn recent_set(&mut self, name: &ChainName, src: IpAddr);
}

struct State<'a> {
    header: Header,
    original_src: IpAddr,
    mark: bool,
    dnat: Option<SockAddr>,
    net: &'a NodeNet,
    hits: Vec<Rc<Rule>>,
    /// Chains entered and not yet left, to stop a jump loop.
    depth: usize,
    /// The MASQUERADE that fired asked for `--random-fully`.
    random_fully: bool,
}

enum Flow {
    /// Keep walking the calling chain.
    Continue,
    /// Stop walking this table: ACCEPT, DNAT or MASQUERADE.
    Accept,
    Drop(Cause),
    Reject(Cause),
}

/// Walks the first packet with header `pkt` through `rules` on the node described by `net`.
pub fn evaluate(rules: &Ruleset, net: &NodeNet, origin: Origin, pkt: Header, chooser: &mut dyn Chooser) -> Decision {
    let mut st = State {
        header: pkt,
        original_src: pkt.src.ip,
        mark: false,
        dnat: None,
        net,
        hits: Vec::with_capacity(8),
        depth: 0,
        random_fully: false,
    };
    let hook = ChainName::builtin;
    let nat_hook = match origin {
        Origin::Routed => hook(chains::PREROUTING),
        Origin::Host => hook(chains::OUTPUT),
    };
    // The nat table has no terminal verdicts besides DNAT/MASQUERADE.
    walk(rules, Table::Nat, &nat_hook, &mut st, chooser);

    let marked = st.mark;
    let local = net.is_local(st.header.dst.ip);
    let delivery = if local { Delivery::Local } else { Delivery::Forward };
    let mut verdict = Verdict::Accept;
    let mut snat = None;
    for &(table, name) in hooks_after_routing(origin, local) {
        if table == Table::Nat {
            // POSTROUTING: MASQUERADE rewrites the source of a packet that was marked.
            let was_marked = st.mark;
            walk(rules, Table::Nat, &hook(name), &mut st, chooser);
            if was_marked && !st.mark {
                let to = net.masquerade_source(st.header.dst.ip);
                // MASQUERADE to the address the packet already has (a host's own traffic)
                // rewrites nothing a user can see: the source did not change.
                snat = (to != st.header.src.ip).then_some(to);
                let port = if st.random_fully { random_port(&pkt) } else { st.header.src.port };
                st.header.src = SockAddr::new(to, port);
            }
            continue;
        }
        match walk(rules, Table::Filter, &hook(name), &mut st, chooser) {
            Flow::Drop(cause) => verdict = Verdict::Drop(cause),
            Flow::Reject(cause) => verdict = Verdict::Reject(cause),
            Flow::Continue | Flow::Accept => continue,
        }
        break;
    }
    let path = RulePath::new(st.hits.into_iter().map(|r| r as RuleRef).collect());
    Decision { before: pkt, after: st.header, verdict, delivery, dnat: st.dnat, snat, marked, path, dsr: None }
}

/// The source port `MASQUERADE --random-fully` gives a connection: the kernel draws it at random
/// from 1024–65535; svcsim derives it from the connection's original header, so runs stay
/// deterministic (`docs/fidelity.md#masquerade`). The simulation moves it on if the reply tuple
/// is taken, as the kernel's search for a unique tuple does.
pub fn random_port(original: &Header) -> u16 {
    let mut bytes = [0u8; 36];
    for (at, ip) in [(0, original.src.ip), (16, original.dst.ip)] {
        let octets = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        bytes[at..at + 16].copy_from_slice(&octets);
    }
    bytes[32..34].copy_from_slice(&original.src.port.to_be_bytes());
    bytes[34..36].copy_from_slice(&original.dst.port.to_be_bytes());
    1024 + (crate::rng::fnv1a(&bytes) % 64_512) as u16
}

/// The hooks a first packet passes after its nat PREROUTING or OUTPUT walk and the routing
/// decision, in the kernel's order (`docs/fidelity.md#netfilter-walk`). A host's packet to one
/// of its own addresses leaves through POSTROUTING onto `lo` and comes back in through INPUT.
fn hooks_after_routing(origin: Origin, local: bool) -> &'static [(Table, &'static str)] {
    match (origin, local) {
        (Origin::Routed, true) => &[(Table::Filter, chains::INPUT)],
        (Origin::Routed, false) => &[(Table::Filter, chains::FORWARD), (Table::Nat, chains::POSTROUTING)],
        (Origin::Host, true) => {
            &[(Table::Filter, chains::OUTPUT), (Table::Nat, chains::POSTROUTING), (Table::Filter, chains::INPUT)]
        }
        (Origin::Host, false) => &[(Table::Filter, chains::OUTPUT), (Table::Nat, chains::POSTROUTING)],
    }
}

/// Walks `chain` of `table`, jumping as its rules say.
///
/// A walk nested deeper than the table has chains has entered some chain twice: a jump loop.
/// The kernel refuses to load such a table (`iptables-restore` fails with ELOOP) and kube-proxy
/// never writes one, so this only guards hand-made rulesets: the walk stops instead of recursing
/// forever. In filter the packet is dropped with the reason; in nat, which takes no filtering
/// verdict, the translation walk just ends there.
fn walk(rules: &Ruleset, table: Table, chain: &ChainName, st: &mut State<'_>, chooser: &mut dyn Chooser) -> Flow {
    let Some(chain_rules) = rules.table(table).rules_of(chain) else {
        return Flow::Continue;
    };
    if st.depth > rules.table(table).chains.len() {
        return Flow::Drop(Cause::JumpLoop(chain.as_str().into()));
    }
    st.depth += 1;
    let flow = walk_rules(rules, table, chain_rules, st, chooser);
    st.depth -= 1;
    flow
}

fn walk_rules(
    rules: &Ruleset,
    table: Table,
    chain_rules: &[Rc<Rule>],
    st: &mut State<'_>,
    chooser: &mut dyn Chooser,
) -> Flow {
    for rule in chain_rules {
        if !rule.matches.iter().all(|m| matches(m, st, chooser)) {
            continue;
        }
        let hit_at = st.hits.len();
        st.hits.push(Rc::clone(rule));
        for m in &rule.matches {
            if let Match::RecentSet { name, .. } = m {
                chooser.recent_set(name, st.original_src);
            }
        }
        match &rule.target {
            Target::Jump(next) => match walk(rules, table, next, st, chooser) {
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
            Target::Drop => return Flow::Drop(Cause::Rule),
            Target::Reject(_) => return Flow::Reject(Cause::Rule),
            Target::Dnat(to) => {
                st.header.dst = *to;
                st.dnat = Some(*to);
                return Flow::Accept;
            }
            Target::MarkMasq => st.mark = true,
            Target::ClearMasq => st.mark = false,
            Target::Masquerade { random_fully } => {
                st.random_fully = *random_fully;
                return Flow::Accept;
            }
            Target::None => {}
        }
    }
    Flow::Continue
}

fn matches(m: &Match, st: &State<'_>, chooser: &mut dyn Chooser) -> bool {
    match m {
        Match::Proto(p) => st.header.proto == *p,
        Match::Src { cidr, negated } => cidr.contains(st.header.src.ip) != *negated,
        Match::Dst { cidr, negated } => cidr.contains(st.header.dst.ip) != *negated,
        Match::NotLoopback(family) => !super::rules::loopback(*family).contains(st.header.dst.ip),
        Match::DstPort(p) => st.header.dst.port == *p,
        Match::SrcTypeLocal => st.net.is_local(st.header.src.ip),
        Match::DstTypeLocal => st.net.is_local(st.header.dst.ip),
        Match::Mark { negated } => st.mark != *negated,
        Match::CtState { states, negated } => ct_state(*states, st) != *negated,
        Match::Statistic { one_in } => chooser.statistic(*one_in),
        Match::RecentCheck { name, seconds, .. } => chooser.recent_check(name, st.original_src, *seconds),
        Match::RecentSet { .. } | Match::Nfacct(_) => true,
    }
}

/// Whether a first packet is in `states`. It is NEW, never INVALID or ESTABLISHED; it carries
/// conntrack's DNAT status once a DNAT rule rewrote it.
fn ct_state(states: CtStates, st: &State<'_>) -> bool {
    match states {
        CtStates::New => true,
        CtStates::Invalid | CtStates::RelatedEstablished => false,
        CtStates::RelatedEstablishedDnat => st.dnat.is_some(),
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
    fn recent_check(&mut self, _: &ChainName, _: IpAddr, _: u32) -> bool {
        false
    }
    fn recent_set(&mut self, _: &ChainName, _: IpAddr) {}
}

/// Every distinct outcome of a first packet across the random cascade: one [`Decision`] per
/// endpoint it could pick (one when no statistic rule is involved).
pub fn every_outcome(rules: &Ruleset, net: &NodeNet, origin: Origin, pkt: Header) -> Vec<Decision> {
    let mut out = Vec::new();
    for k in 0.. {
        let mut chooser = ForcedPick::new(k);
        let decision = evaluate(rules, net, origin, pkt, &mut chooser);
        let more = chooser.consulted() > k;
        out.push(decision);
        // The last rule of a cascade has no statistic match: when the k-th did not exist, the
        // walk took the final, unconditional endpoint and there is nothing left to force.
        if !more {
            break;
        }
    }
    out.dedup_by(|a, b| a.dnat == b.dnat && a.verdict == b.verdict && a.snat == b.snat);
    out
}
