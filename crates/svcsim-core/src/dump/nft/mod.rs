//! `nft list ruleset` output evaluated for one first packet: kube-proxy's `ip kube-proxy`
//! table, the tables iptables-nft keeps for Docker and kubelet, a distribution's `inet filter`
//! and anyone's own, walked hook by hook as netfilter runs their base chains; each kube-proxy
//! chain is mapped back to the Service its name carries (`docs/fidelity.md#nftables-dumps`).

mod eval;
mod expr;
mod lex;
mod parse;
mod ruleset;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

pub use ruleset::FAMILIES;
use ruleset::{Element, Expr, Family, Field, Hook, Match, Rule, Set, Stmt, Table, Verdict};

use super::{DumpError, Facts, Report, Walked};
use crate::dataplane::{self, Decision, Origin, RuleRef};
use crate::net::Header;

/// kube-proxy's table name, in the `ip` and `ip6` families.
const KUBE_PROXY: &str = "kube-proxy";

/// A listed ruleset, ready to walk.
pub struct ListedRuleset {
    tables: Vec<Table>,
    facts: Facts,
    text: String,
    /// Per hook, the base chains as (table, chain), in the order netfilter runs them.
    order: [Vec<(usize, usize)>; 5],
    /// Each rule as a path keeps it, by table, chain and rule.
    refs: Vec<Vec<Vec<RuleRef>>>,
}

impl ListedRuleset {
    /// Reads `nft list ruleset` output.
    pub fn parse(text: &str, facts: Facts) -> Result<ListedRuleset, Vec<DumpError>> {
        let tables = parse::parse(text)?;
        let mut order: [Vec<(usize, usize)>; 5] = Default::default();
        let mut refs = Vec::new();
        for (t, table) in tables.iter().enumerate() {
            let mut by_chain = Vec::new();
            for (c, chain) in table.chains.iter().enumerate() {
                by_chain
                    .push(chain.rules.iter().map(|r| Rc::new(NftRule::of(table, &chain.name, r)) as RuleRef).collect());
                let Some(base) = chain.base.filter(|_| !table.dormant) else { continue };
                if let Some(i) = hook_slot(base.hook) {
                    order[i].push((t, c));
                }
            }
            refs.push(by_chain);
        }
        for hook in &mut order {
            // Stable: equal priorities keep the listing's order.
            crate::order::sort_by_key(hook, |&(t, c)| tables[t].chains[c].base.map(|b| b.runs_at()));
        }
        Ok(ListedRuleset { tables, facts, text: text.to_string(), order, refs })
    }

    fn base_chains(&self, hook: Hook) -> &[(usize, usize)] {
        hook_slot(hook).map_or(&[], |i| &self.order[i])
    }
    /// A jump's target: found by name, as the walk meets only a few jumps per packet.
    fn chain_index(&self, t: usize, name: &str) -> Option<usize> {
        self.tables[t].chains.iter().position(|c| c.name == name)
    }
    fn set(&self, t: usize, name: &str) -> Option<&Set> {
        self.tables[t].sets.iter().find(|s| s.name == name)
    }
    fn rule_ref(&self, t: usize, c: usize, r: usize) -> RuleRef {
        Rc::clone(&self.refs[t][c][r])
    }
    fn element_ref(&self, t: usize, c: usize, r: usize, e: &Element) -> RuleRef {
        let table = &self.tables[t];
        let rule = &table.chains[c].rules[r];
        let map = rule.exprs.iter().find_map(|x| match x {
            Expr::Stmt(Stmt::Vmap { map: ruleset::MapRef::Named(m), .. }) => Some(m.as_str()),
            _ => None,
        });
        let jump = match &e.verdict {
            Some(Verdict::Goto(to) | Verdict::Jump(to)) => Some(to.clone()),
            _ => None,
        };
        Rc::new(NftRule {
            table: format!("{} {}", table.family_name, table.name),
            chain: table.chains[c].name.clone(),
            text: format!("{} element {}", map.unwrap_or("vmap"), e.text),
            comment: e.comment.clone(),
            why: None,
            jump_story: jump.as_deref().is_some_and(|j| is_story(table, j)),
            jump,
            kind: RuleKind::Element,
            chain_story: false,
            kube_proxy: table.name == KUBE_PROXY,
        })
    }
    fn policy_ref(&self, t: usize, c: usize) -> RuleRef {
        let table = &self.tables[t];
        let chain = &table.chains[c].name;
        Rc::new(NftRule {
            table: format!("{} {}", table.family_name, table.name),
            chain: chain.clone(),
            text: "policy drop".into(),
            comment: None,
            why: Some(format!("{chain}'s policy is drop: no rule accepted the packet")),
            jump: None,
            kind: RuleKind::Policy,
            chain_story: false,
            jump_story: false,
            kube_proxy: table.name == KUBE_PROXY,
        })
    }

    /// Every path the first packet can take, with why a path stopped short, if one did.
    pub fn walk(&self, header: Header) -> Vec<Walked> {
        eval::walk_all(self, self.facts.origin_of(header.src.ip), header)
    }

    /// Every decision the first packet can meet, one per path.
    pub fn decisions(&self, origin: Origin, header: Header) -> Vec<Decision> {
        eval::walk_all(self, origin, header).into_iter().map(|w| w.decision).collect()
    }

    /// The first packet's walk, summed up.
    pub fn report(&self, header: Header) -> Report {
        let all = self.services();
        let service = |rule: &RuleRef| rule.path_names().into_iter().flatten().find_map(|c| all.get(c).cloned());
        Report::of(self.walk(header), &all, service, self.flags(), self.unwalked_tables())
    }

    /// The Service each of kube-proxy's per-Service chains stands for, from its name:
    /// `service-<hash>-default/web/tcp/http` → `default/web:http`.
    pub fn services(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for table in self.tables.iter().filter(|t| t.name == KUBE_PROXY) {
            for chain in &table.chains {
                if let Some(service) = service_of(&chain.name) {
                    out.insert(chain.name.clone(), service);
                }
            }
        }
        out
    }

    /// What is unusual for a node kube-proxy programs: a base chain without its jump into
    /// kube-proxy's chains, an external chain without its masquerade jump, a `numgen` that
    /// can pick no endpoint, and rules kube-proxy does not write in its own table.
    pub fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for table in self.tables.iter().filter(|t| t.name == KUBE_PROXY) {
            let t = format!("{} {}", table.family_name, table.name);
            let chain = |name: &str| table.chains.iter().find(|c| c.name == name);
            for (base, to, what) in [
                ("nat-prerouting", "services", "no Service is reachable from the network or a pod"),
                ("nat-output", "services", "no Service is reachable from the node's own processes"),
                ("nat-postrouting", "masquerading", "nothing kube-proxy marks is masqueraded"),
            ] {
                let jumps = chain(base).is_some_and(|c| c.rules.iter().any(|r| r.jump() == Some(to)));
                if chain(to).is_some() && !jumps {
                    out.push(format!("{t}: {base} has no jump to {to}: {what}"));
                }
            }
            let services = self.services();
            for c in &table.chains {
                let svc = services.get(&c.name).map(|s| format!(" ({s})")).unwrap_or_default();
                if c.name.starts_with("external-") && !c.rules.iter().any(|r| r.jump() == Some("mark-for-masquerade")) {
                    out.push(format!(
                        "{t}: {}{svc} has no jump to mark-for-masquerade: kube-proxy writes one (for every packet under Cluster, for the node's own under Local), so this Service's traffic keeps the client's address",
                        c.name
                    ));
                }
                for r in &c.rules {
                    if let Some(missing) = numgen_gap(r) {
                        out.push(format!(
                            "line {}: {}{svc}'s numgen picks {missing}, which its map does not list: the packet falls through, an order kube-proxy does not write",
                            r.line, c.name
                        ));
                    }
                    if !kube_proxy_writes(r) {
                        out.push(format!(
                            "line {}: a rule kube-proxy does not write, in its chain {}: {}",
                            r.line, c.name, r.text
                        ));
                    }
                }
            }
        }
        out
    }

    /// The tables whose hooks an IP packet's routed walk does not pass (`netdev`, `bridge`,
    /// `arp`), and dormant ones, when they hold rules: their effect is not shown.
    pub fn unwalked_tables(&self) -> Vec<String> {
        self.tables
            .iter()
            .filter(|t| (t.family == Family::Other || t.dormant) && t.chains.iter().any(|c| !c.rules.is_empty()))
            .map(|t| format!("{} {}{}", t.family_name, t.name, if t.dormant { " (dormant)" } else { "" }))
            .collect()
    }

    /// The listing as read.
    pub fn listing(&self) -> String {
        self.text.clone()
    }
}

fn hook_slot(hook: Hook) -> Option<usize> {
    Some(match hook {
        Hook::Prerouting => 0,
        Hook::Input => 1,
        Hook::Forward => 2,
        Hook::Output => 3,
        Hook::Postrouting => 4,
        Hook::Other => return None,
    })
}

/// `service-<hash>-<ns>/<name>/<protocol>/<port name>[__<ip>/<port>]` → `ns/name:port name`.
fn service_of(chain: &str) -> Option<String> {
    let base =
        ["service-", "external-", "local-", "firewall-", "endpoint-"].iter().find_map(|p| chain.strip_prefix(p))?;
    let (_hash, rest) = base.split_once('-')?;
    let rest = rest.split("__").next()?;
    let mut parts = rest.splitn(4, '/');
    let (ns, name, _proto, port) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(if port.is_empty() { format!("{ns}/{name}") } else { format!("{ns}/{name}:{port}") })
}

/// The first pick of a `numgen random mod N` that its map has no element for.
fn numgen_gap(r: &Rule) -> Option<u32> {
    r.exprs.iter().find_map(|e| match e {
        Expr::Stmt(Stmt::Numgen { modulus, offset, map }) => (0..*modulus)
            .map(|k| k + offset)
            .find(|k| !map.iter().any(|e| matches!(e.key[..], [ruleset::Val::Ints(a, b)] if (a..=b).contains(k)))),
        _ => None,
    })
}

/// The matches and statements kube-proxy's nftables mode writes in its table.
fn kube_proxy_writes(r: &Rule) -> bool {
    r.exprs.iter().all(|e| match e {
        Expr::Match(Match::Cmp { fields, .. }) => fields.iter().all(|f| {
            matches!(
                f,
                Field::Saddr { .. }
                    | Field::Daddr { .. }
                    | Field::L4proto
                    | Field::Dport { proto: None }
                    | Field::CtState
                    | Field::FibSaddrType
                    | Field::FibDaddrType
            )
        }),
        Expr::Match(Match::Masked { .. }) => true,
        Expr::Match(_) => false,
        Expr::Stmt(s) => matches!(
            s,
            Stmt::Verdict(Verdict::Drop | Verdict::Reject | Verdict::Return | Verdict::Jump(_) | Verdict::Goto(_))
                | Stmt::Vmap { .. }
                | Stmt::Numgen { .. }
                | Stmt::Masquerade
                | Stmt::Dnat { .. }
                | Stmt::MarkSet { .. }
                | Stmt::Update(_)
        ),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    Rule,
    Element,
    Policy,
}

/// A rule, map element or base-chain policy of the listing, as a first packet's path keeps it.
pub struct NftRule {
    /// `ip kube-proxy`.
    table: String,
    chain: String,
    text: String,
    comment: Option<String>,
    /// Why a packet that ends here was dropped or refused, when the rule carries no comment.
    why: Option<String>,
    jump: Option<String>,
    kind: RuleKind,
    /// Whether the chain, and the chain jumped to, are part of the story ([`is_story`]).
    chain_story: bool,
    jump_story: bool,
    kube_proxy: bool,
}

impl NftRule {
    fn of(table: &Table, chain: &str, r: &Rule) -> NftRule {
        let terminal = r.exprs.iter().any(|e| matches!(e, Expr::Stmt(Stmt::Verdict(Verdict::Drop | Verdict::Reject))));
        NftRule {
            table: format!("{} {}", table.family_name, table.name),
            chain: chain.into(),
            text: r.text.clone(),
            comment: r.comment.clone(),
            // kube-proxy names the Service on the map element that led here (`reject-chain`'s
            // own rule has no comment); anyone else's bare drop is named by its line.
            why: (terminal && r.comment.is_none() && table.name != KUBE_PROXY)
                .then(|| format!("line {}: {chain}: {}", r.line, r.text)),
            jump: r.jump().map(str::to_string),
            kind: RuleKind::Rule,
            chain_story: is_story(table, chain),
            jump_story: r.jump().is_some_and(|j| is_story(table, j)),
            kube_proxy: table.name == KUBE_PROXY,
        }
    }
}

/// Whether `chain` of `table` is part of a packet's story: kube-proxy's per-Service and check
/// chains (not its hooks and helpers), and any other table's regular chains.
fn is_story(table: &Table, chain: &str) -> bool {
    if table.name == KUBE_PROXY {
        crate::nftables::is_story(chain)
    } else {
        table.chains.iter().any(|c| c.name == chain && c.base.is_none())
    }
}

/// `ip kube-proxy services: ip daddr . meta l4proto . th dport vmap @service-ips`, an element
/// as `ip kube-proxy service-ips element 10.0.0.10 . tcp . 80 : goto service-…`, and
/// a policy as `ip filter FORWARD: policy drop`.
impl dataplane::Rule for NftRule {
    fn fmt_native(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RuleKind::Element => write!(f, "{} {}", self.table, self.text),
            RuleKind::Rule | RuleKind::Policy => write!(f, "{} {}: {}", self.table, self.chain, self.text),
        }
    }
    fn comment(&self) -> Option<&str> {
        self.comment.as_deref().or(self.why.as_deref())
    }
    fn path_names(&self) -> [Option<&str>; 2] {
        let chain = Some(self.chain.as_str()).filter(|_| self.kind == RuleKind::Rule && self.chain_story);
        let to = self.jump.as_deref().filter(|_| self.jump_story);
        [chain, to]
    }
    fn narrate(&self) -> Option<String> {
        let told = self.comment.is_some() || (self.kube_proxy && self.chain_story);
        told.then(|| format!("in {}: {}", self.chain, self.text))
    }
    fn listed(&self) -> Option<(&'static str, String)> {
        None
    }
}

impl fmt::Debug for NftRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dataplane::Rule::fmt_native(self, f)
    }
}
