//! `iptables-save` output (and, for `-m set`, an `ipset save` file) evaluated for one first
//! packet: kube-proxy's chains, Docker's, a CNI's and anyone's custom rules are walked as the
//! kernel walks them, and each kube-proxy chain is mapped back to the Service it stands for from
//! its comments (`docs/fidelity.md#dumped-rulesets`).

mod eval;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use parse::{Match, SavedRule, Target};
pub use parse::{Policy, Saved};

use super::{DumpError, Facts, Report, Walked};
use crate::dataplane::{self, Decision, Origin, RuleRef};
use crate::net::Header;

/// An `iptables-save` dump, ready to walk.
pub struct SavedRuleset {
    saved: Saved,
    facts: Facts,
    /// Each rule as the path's rules are kept.
    refs: Vec<RuleRef>,
    /// (table, chain) → its rules' indices, in order.
    index: BTreeMap<(String, String), Vec<usize>>,
    /// Built-in chains' policies, each with the pseudo-rule a policy drop shows.
    policies: BTreeMap<(String, String), (Policy, RuleRef)>,
}

impl SavedRuleset {
    /// Reads an `iptables-save` dump.
    pub fn parse(text: &str, facts: Facts) -> Result<SavedRuleset, Vec<DumpError>> {
        let saved = parse::parse(text)?;
        let refs = saved.rules.iter().map(|r| Rc::new(DumpRule::of(r)) as RuleRef).collect();
        let mut index: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for c in &saved.chains {
            index.entry((c.table.clone(), c.name.clone())).or_default();
        }
        for (i, r) in saved.rules.iter().enumerate() {
            index.entry((r.table.clone(), r.chain.clone())).or_default().push(i);
        }
        // Built by insertion (`crate::order::map`): collecting would compile another sort.
        let policies = crate::order::map(saved.chains.iter().filter_map(|c| {
            let p = c.policy?;
            let rule = Rc::new(DumpRule::policy(&c.table, &c.name, p)) as RuleRef;
            Some(((c.table.clone(), c.name.clone()), (p, rule)))
        }));
        Ok(SavedRuleset { saved, facts, refs, index, policies })
    }

    fn chain_rules(&self, table: &str, chain: &str) -> Option<&[usize]> {
        self.index.get(&(table.to_string(), chain.to_string())).map(Vec::as_slice)
    }
    fn policy(&self, table: &str, chain: &str) -> Option<(Policy, RuleRef)> {
        self.policies.get(&(table.to_string(), chain.to_string())).map(|(p, r)| (*p, Rc::clone(r)))
    }
    fn rule_ref(&self, i: usize) -> RuleRef {
        Rc::clone(&self.refs[i])
    }

    /// Every path the first packet can take, with why a path stopped short, if one did.
    pub fn walk(&self, header: Header) -> Vec<Walked> {
        eval::walk_all(self, self.facts.origin_of(header.src.ip), header)
    }

    /// The first packet's walk, summed up.
    pub fn report(&self, header: Header) -> Report {
        let all = self.services();
        // The Service of the chain that holds each rule.
        let service = |rule: &RuleRef| rule.path_names()[0].and_then(|chain| all.get(chain).cloned());
        Report::of(self.walk(header), &all, service, self.flags(), self.unwalked_tables())
    }

    /// The Service each kube-proxy chain stands for, from kube-proxy's comments: the comment of
    /// a rule in the chain, or of a rule jumping to it (`"default/web:http cluster IP"` →
    /// `default/web:http`). A Service port's KUBE-SVC, KUBE-SVL, KUBE-EXT and KUBE-FW chains
    /// share one hash, so one named chain names the others.
    pub fn services(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in &self.saved.rules {
            let Some(service) = r.comment.as_deref().and_then(service_of) else { continue };
            for chain in std::iter::once(r.chain.as_str()).chain(jump(r)) {
                if is_service_chain(chain) {
                    out.entry(chain.to_string()).or_insert_with(|| service.to_string());
                }
            }
        }
        const PORT_CHAINS: [&str; 4] = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-"];
        for c in &self.saved.chains {
            let Some(hash) = PORT_CHAINS.iter().find_map(|p| c.name.strip_prefix(p)) else { continue };
            let known = PORT_CHAINS.iter().find_map(|p| out.get(&format!("{p}{hash}")).cloned());
            if let Some(service) = known {
                out.entry(c.name.clone()).or_insert(service);
            }
        }
        out
    }

    /// What is unusual, for a node kube-proxy programs: missing jumps into its chains, an
    /// external chain without its masquerade rule, a cascade whose last pick is random, and
    /// rules kube-proxy would not write in its own chains.
    pub fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.saved.chains.iter().any(|c| c.name.starts_with("KUBE-")) {
            return out;
        }
        let has_jump = |table: &str, chain: &str, to: &str| {
            self.chain_rules(table, chain).is_some_and(|rs| rs.iter().any(|&i| jump(&self.saved.rules[i]) == Some(to)))
        };
        for (table, chain, to, what) in [
            ("nat", "PREROUTING", "KUBE-SERVICES", "no Service is reachable from the network or a pod"),
            ("nat", "OUTPUT", "KUBE-SERVICES", "no Service is reachable from the node's own processes"),
            ("nat", "POSTROUTING", "KUBE-POSTROUTING", "nothing kube-proxy marks is masqueraded"),
            ("filter", "FORWARD", "KUBE-FORWARD", "marked and established Service traffic is not accepted in FORWARD"),
        ] {
            if self.chain_rules(table, to).is_some() && !has_jump(table, chain, to) {
                out.push(format!("{table} {chain} has no jump to {to}: {what}"));
            }
        }
        let services = self.services();
        for ((table, chain), rules) in &self.index {
            let rules: Vec<&SavedRule> = rules.iter().map(|&i| &self.saved.rules[i]).collect();
            let svc = services.get(chain).map(|s| format!(" ({s})")).unwrap_or_default();
            if chain.starts_with("KUBE-EXT-")
                && !rules.iter().any(|r| jump(r).is_some_and(|j| j == "KUBE-MARK-MASQ" || j.starts_with("KUBE-SVL-")))
            {
                out.push(format!(
                    "{chain}{svc} has no masquerade rule (-j KUBE-MARK-MASQ) and no Local chain: under Cluster kube-proxy writes one, so this Service's external traffic keeps the client's address"
                ));
            }
            if chain.starts_with("KUBE-SVC-") || chain.starts_with("KUBE-SVL-") {
                let picks: Vec<&&SavedRule> =
                    rules.iter().filter(|r| jump(r).is_some_and(|j| j.starts_with("KUBE-SEP-"))).collect();
                if let Some(last) = picks.last()
                    && last.matches.iter().any(|m| matches!(m, Match::Random(_)))
                {
                    out.push(format!(
                        "line {}: {chain}{svc}'s last endpoint rule is random: a packet can fall through every pick, an order kube-proxy does not write",
                        last.line
                    ));
                }
            }
            if table != "raw" && table != "mangle" && chain.starts_with("KUBE-") && chain != "KUBE-FIREWALL" {
                for r in rules.iter().filter(|r| !kube_proxy_writes(r)) {
                    out.push(format!(
                        "line {}: a rule kube-proxy does not write, in its chain {chain}: -A {chain} {}",
                        r.line, r.text
                    ));
                }
            }
        }
        out
    }

    /// The tables the walk leaves out, when they hold rules: their effect is not shown.
    pub fn unwalked_tables(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.saved.rules {
            if r.table != "nat" && r.table != "filter" && !out.contains(&r.table) {
                out.push(r.table.clone());
            }
        }
        out
    }
}

fn jump(r: &SavedRule) -> Option<&str> {
    match &r.target {
        Target::Jump { chain, .. } => Some(chain),
        _ => None,
    }
}

fn is_service_chain(chain: &str) -> bool {
    ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"].iter().any(|p| chain.starts_with(p))
}

/// `default/web:http cluster IP` → `default/web:http`.
fn service_of(comment: &str) -> Option<&str> {
    let first = comment.split_whitespace().next()?;
    first.contains('/').then_some(first)
}

/// The matches and targets kube-proxy's iptables mode writes in its chains.
fn kube_proxy_writes(r: &SavedRule) -> bool {
    let matches_ok = r.matches.iter().all(|m| {
        !matches!(
            m,
            Match::InIface(..) | Match::OutIface(..) | Match::Set { .. } | Match::Unknown(_) | Match::DstPorts(..)
        )
    });
    let target_ok = match &r.target {
        Target::Jump { chain, goto } => !goto && chain.starts_with("KUBE-"),
        Target::Accept | Target::Drop | Target::Reject | Target::Return | Target::Dnat(_) => true,
        Target::Xmark { .. } | Target::Masquerade => true,
        Target::Continue => r.comment.is_some(),
        _ => false,
    };
    matches_ok && target_ok
}

/// A rule of the dump, as a first packet's path keeps it.
struct DumpRule {
    table: String,
    chain: String,
    text: String,
    comment: Option<String>,
    /// Why a packet that ends here was dropped or refused, when the rule carries no comment.
    why: Option<String>,
    jump: Option<String>,
    /// A built-in chain's policy, shown as `-P`.
    policy: bool,
}

impl DumpRule {
    fn of(r: &SavedRule) -> DumpRule {
        let terminal = matches!(r.target, Target::Drop | Target::Reject);
        DumpRule {
            table: r.table.clone(),
            chain: r.chain.clone(),
            text: r.text.clone(),
            comment: r.comment.clone(),
            why: (terminal && r.comment.is_none()).then(|| format!("line {}: -A {} {}", r.line, r.chain, r.text)),
            jump: jump(r).map(str::to_string),
            policy: false,
        }
    }
    fn policy(table: &str, chain: &str, p: Policy) -> DumpRule {
        let name = match p {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        };
        DumpRule {
            table: table.into(),
            chain: chain.into(),
            text: name.into(),
            comment: None,
            why: Some(format!("{chain}'s policy is {name}: no rule accepted the packet")),
            jump: None,
            policy: true,
        }
    }
    fn is_story(chain: &str) -> bool {
        !crate::kube_proxy::chains::is_builtin(chain) && chain != "KUBE-MARK-MASQ" && chain != "KUBE-POSTROUTING"
    }
}

/// `-t nat -A KUBE-SERVICES <rule as saved>`, and `-t filter -P FORWARD DROP` for a policy.
impl dataplane::Rule for DumpRule {
    fn fmt_native(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.policy {
            write!(f, "-t {} -P {} {}", self.table, self.chain, self.text)
        } else {
            write!(f, "-t {} -A {} {}", self.table, self.chain, self.text)
        }
    }
    fn comment(&self) -> Option<&str> {
        self.comment.as_deref().or(self.why.as_deref())
    }
    fn path_names(&self) -> [Option<&str>; 2] {
        let chain = Some(self.chain.as_str()).filter(|c| !self.policy && DumpRule::is_story(c));
        let to = self.jump.as_deref().filter(|c| self.table == "nat" && DumpRule::is_story(c));
        [chain, to]
    }
    fn narrate(&self) -> Option<String> {
        let comment = self.comment.as_deref()?;
        let to = self.jump.as_deref().map(|j| format!(" → {j}")).unwrap_or_default();
        Some(format!("\"{comment}\" in {}{to}", self.chain))
    }
    fn listed(&self) -> Option<(&'static str, String)> {
        let table = match self.table.as_str() {
            "nat" => "nat",
            "filter" => "filter",
            _ => return None,
        };
        (!self.policy).then(|| (table, format!("-A {} {}", self.chain, self.text)))
    }
}

impl SavedRuleset {
    /// Every decision the first packet can meet, one per path.
    pub fn decisions(&self, origin: Origin, header: Header) -> Vec<Decision> {
        eval::walk_all(self, origin, header).into_iter().map(|w| w.decision).collect()
    }
    /// The rules as read, each table's chains then rules, as iptables-save lists them.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        let mut tables: Vec<&str> = self.saved.chains.iter().map(|c| c.table.as_str()).collect();
        tables.dedup();
        for t in tables {
            out.push_str(&format!("*{t}\n"));
            for c in self.saved.chains.iter().filter(|c| c.table == t) {
                let policy = match c.policy {
                    None => "-",
                    Some(Policy::Accept) => "ACCEPT",
                    Some(Policy::Drop) => "DROP",
                };
                out.push_str(&format!(":{} {policy} [0:0]\n", c.name));
            }
            for r in self.saved.rules.iter().filter(|r| r.table == t) {
                out.push_str(&format!("-A {} {}\n", r.chain, r.text));
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}
