//! Evaluating the first packet of a new connection against one node's kube-proxy [`Table`], the
//! way netfilter runs nftables base chains: every base chain on a hook in priority order, jumps
//! and gotos, verdict-map lookups, then the routing decision and the next hooks
//! (`docs/fidelity.md#nftables-walk`).

use std::net::IpAddr;
use std::rc::Rc;

use super::table::{Chain, ElementVerdict, Hook, KeyKind, MapKey, Match, Name, SetKind, Statement, Table};
use crate::dataplane::{Cause, Decision, Delivery, NodeNet, Origin, RulePath, RuleRef, Verdict};
use crate::net::{Header, SockAddr};

/// The choices a walk cannot make from the packet alone.
pub trait Chooser {
    /// `numgen random mod n`: a number below `n`.
    fn numgen(&mut self, n: u32) -> u32;
    /// `ip saddr @set`: whether `src` is in the session-affinity set and not timed out.
    fn affinity_has(&mut self, set: &Name, src: IpAddr, timeout_seconds: u32) -> bool;
    /// `update @set { ip saddr }`.
    fn affinity_update(&mut self, set: &Name, src: IpAddr);
}

/// A chooser that takes pick `k` at the numgen and finds no affinity entry: what
/// [`every_outcome`] enumerates with.
pub struct ForcedPick {
    k: u32,
    modulus: Option<u32>,
}

impl Chooser for ForcedPick {
    fn numgen(&mut self, n: u32) -> u32 {
        self.modulus = Some(n);
        self.k.min(n.saturating_sub(1))
    }
    fn affinity_has(&mut self, _: &Name, _: IpAddr, _: u32) -> bool {
        false
    }
    fn affinity_update(&mut self, _: &Name, _: IpAddr) {}
}

/// Every outcome of a first packet across the numgen's choices: one [`Decision`] per endpoint
/// it could pick (one when the walk meets no numgen).
pub fn every_outcome(table: &Table, net: &NodeNet, origin: Origin, pkt: Header) -> Vec<Decision> {
    let mut first = ForcedPick { k: 0, modulus: None };
    let mut out = vec![evaluate(table, net, origin, pkt, &mut first)];
    for k in 1..first.modulus.unwrap_or(1) {
        out.push(evaluate(table, net, origin, pkt, &mut ForcedPick { k, modulus: None }));
    }
    out
}

struct State<'a> {
    header: Header,
    mark: bool,
    dnat: Option<SockAddr>,
    masquerade: bool,
    hits: Vec<RuleRef>,
    /// Chains entered and not yet left, to stop a jump loop.
    depth: usize,
    net: &'a NodeNet,
}

/// What a chain's walk tells its caller.
enum Flow {
    /// Go on after the jump (the chain ended, returned, or went to a chain that did).
    Continue,
    /// This base chain accepts (DNAT, masquerade): the next base chain runs.
    Accept,
    Drop(Cause),
    Reject(Cause),
}

/// The deepest nesting a walk follows; kernel tables nest 16 jumps at most.
const MAX_DEPTH: usize = 64;

/// Walks the first packet with header `pkt` through `table` on the node described by `net`.
pub fn evaluate(table: &Table, net: &NodeNet, origin: Origin, pkt: Header, chooser: &mut dyn Chooser) -> Decision {
    let mut st =
        State { header: pkt, mark: false, dnat: None, masquerade: false, hits: Vec::with_capacity(8), depth: 0, net };
    let first = match origin {
        Origin::Routed => Hook::Prerouting,
        Origin::Host => Hook::Output,
    };
    let mut verdict = run_hook(table, first, &mut st, chooser);
    let marked = st.mark;
    let local = net.is_local(st.header.dst.ip);
    let rest: &[Hook] = match (origin, local) {
        (Origin::Routed, true) => &[Hook::Input],
        (Origin::Routed, false) => &[Hook::Forward, Hook::Postrouting],
        (Origin::Host, true) => &[Hook::Postrouting, Hook::Input],
        (Origin::Host, false) => &[Hook::Postrouting],
    };
    let mut snat = None;
    for &hook in rest {
        if verdict.is_some() {
            break;
        }
        verdict = run_hook(table, hook, &mut st, chooser);
        if hook == Hook::Postrouting && std::mem::take(&mut st.masquerade) {
            let to = net.masquerade_source(st.header.dst.ip);
            snat = (to != st.header.src.ip).then_some(to);
            st.header.src = SockAddr::new(to, crate::kube_proxy::random_port(&pkt));
        }
    }
    let delivery = if local { Delivery::Local } else { Delivery::Forward };
    let path = RulePath::new(st.hits);
    Decision {
        before: pkt,
        after: st.header,
        verdict: verdict.unwrap_or(Verdict::Accept),
        delivery,
        dnat: st.dnat,
        snat,
        marked,
        path,
        dsr: None,
    }
}

/// Runs every base chain on `hook` by priority; `Some` when one dropped or rejected.
fn run_hook(table: &Table, hook: Hook, st: &mut State<'_>, chooser: &mut dyn Chooser) -> Option<Verdict> {
    for chain in table.base_chains(hook) {
        match walk(table, chain, st, chooser) {
            Flow::Continue | Flow::Accept => {}
            Flow::Drop(c) => return Some(Verdict::Drop(c)),
            Flow::Reject(c) => return Some(Verdict::Reject(c)),
        }
    }
    None
}

fn walk(table: &Table, chain: &Chain, st: &mut State<'_>, chooser: &mut dyn Chooser) -> Flow {
    if st.depth >= MAX_DEPTH {
        return Flow::Drop(Cause::JumpLoop(Rc::from(chain.name.as_str())));
    }
    st.depth += 1;
    let flow = walk_rules(table, chain, st, chooser);
    st.depth -= 1;
    flow
}

fn walk_rules(table: &Table, chain: &Chain, st: &mut State<'_>, chooser: &mut dyn Chooser) -> Flow {
    for rule in &chain.rules {
        if !rule.matches.iter().all(|m| matches(table, m, st, chooser)) {
            continue;
        }
        let before = st.hits.len();
        match &rule.statement {
            Statement::Vmap { key, map } => {
                let Some(element) = lookup(table, *key, map, &st.header) else { continue };
                st.hits.push(Rc::clone(rule) as RuleRef);
                st.hits.push(Rc::clone(&element) as RuleRef);
                match &element.verdict {
                    ElementVerdict::Drop => return Flow::Drop(Cause::Rule),
                    ElementVerdict::Goto(c) => return enter(table, c, st, chooser),
                }
            }
            Statement::Jump(c) => {
                st.hits.push(Rc::clone(rule) as RuleRef);
                match enter(table, c, st, chooser) {
                    // A jump into a chain where nothing matched is left out of the path.
                    Flow::Continue if st.hits.len() == before + 1 => {
                        st.hits.truncate(before);
                    }
                    Flow::Continue => {}
                    other => return other,
                }
                continue;
            }
            _ => st.hits.push(Rc::clone(rule) as RuleRef),
        }
        match &rule.statement {
            Statement::Goto(c) => return enter(table, c, st, chooser),
            Statement::Numgen { targets } => {
                let Some(target) = targets.get(chooser.numgen(targets.len() as u32) as usize) else {
                    return Flow::Continue;
                };
                return enter(table, target, st, chooser);
            }
            Statement::Return => return Flow::Continue,
            Statement::Drop => return Flow::Drop(Cause::Rule),
            Statement::Reject => return Flow::Reject(Cause::Rule),
            Statement::MarkSet => st.mark = true,
            Statement::MarkClear => st.mark = false,
            Statement::Masquerade => {
                st.masquerade = true;
                return Flow::Accept;
            }
            Statement::UpdateSaddr(set) => chooser.affinity_update(set, st.header.src.ip),
            Statement::Dnat(to) => {
                st.dnat = Some(*to);
                st.header.dst = *to;
                return Flow::Accept;
            }
            Statement::Vmap { .. } | Statement::Jump(_) => unreachable!("handled above"),
        }
    }
    Flow::Continue
}

/// `jump chain` or `goto chain` (after which the caller returns what this gives): walks it. An
/// unknown chain is skipped; a table the kernel accepted has none.
fn enter(table: &Table, chain: &Name, st: &mut State<'_>, chooser: &mut dyn Chooser) -> Flow {
    match table.chain(chain) {
        Some(c) => walk(table, c, st, chooser),
        None => Flow::Continue,
    }
}

fn matches(table: &Table, m: &Match, st: &State<'_>, chooser: &mut dyn Chooser) -> bool {
    let h = &st.header;
    match m {
        Match::CtStateNew => true,
        Match::Daddr { cidr, negated } => cidr.contains(h.dst.ip) != *negated,
        Match::Saddr { cidr, negated } => cidr.contains(h.src.ip) != *negated,
        Match::DaddrIn { cidrs, negated } => cidrs.iter().any(|c| c.contains(h.dst.ip)) != *negated,
        Match::SaddrIn { cidrs, negated } => cidrs.iter().any(|c| c.contains(h.src.ip)) != *negated,
        Match::DaddrInSet(set) => table.set(set).is_some_and(|s| s.elements.contains(&h.dst.ip)),
        Match::SaddrInSet(set) => match table.set(set).map(|s| &s.kind) {
            Some(SetKind::Affinity { timeout_seconds }) => chooser.affinity_has(set, h.src.ip, *timeout_seconds),
            Some(SetKind::Plain { .. }) => table.set(set).is_some_and(|s| s.elements.contains(&h.src.ip)),
            None => false,
        },
        Match::FibSaddrLocal => st.net.is_local(h.src.ip),
        Match::FibDaddrLocal => st.net.is_local(h.dst.ip),
        Match::MarkUnset => !st.mark,
        Match::L4proto(p) => h.proto == *p,
    }
}

fn lookup(table: &Table, key: KeyKind, map: &Name, h: &Header) -> Option<Rc<super::table::Element>> {
    let k = match key {
        KeyKind::AddrProtoPort => MapKey::AddrProtoPort(h.dst.ip, h.proto, h.dst.port),
        KeyKind::ProtoPort => MapKey::ProtoPort(h.proto, h.dst.port),
    };
    table.map(map)?.elements.get(&k).cloned()
}
