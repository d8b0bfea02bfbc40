//! kube-proxy's rules as text, in the two forms a node shows them: the iptables-restore input
//! kube-proxy hands the kernel on a sync ([`Ruleset::restore`]), and what `iptables-save` lists on
//! the node afterwards ([`Ruleset::save`]) (`docs/fidelity.md#rules-as-text`).

use std::fmt::Write;

use super::rules::{ChainName, Match, Rule, Ruleset, Table, TableRules, Target, chains};
use crate::net::IpFamily;

/// 2^31: the kernel's scale for `-m statistic` probabilities.
const TWO_31: f64 = 2_147_483_648.0;

/// The built-in chains of each table, in the order iptables-save lists them.
const BUILTIN: [(Table, &[&str]); 2] = [
    (Table::Filter, &[chains::INPUT, chains::FORWARD, chains::OUTPUT]),
    (Table::Nat, &[chains::PREROUTING, chains::INPUT, chains::OUTPUT, chains::POSTROUTING]),
];

impl Ruleset {
    /// The iptables-restore input of a sync (`iptables-restore --noflush --counters`): filter, then
    /// nat, each declaring kube-proxy's chains and then their rules, and in nat the `-X` of each
    /// chain in `deleted` (chains of an earlier sync that are gone).
    ///
    /// kube-proxy writes Services in Go's map order, which changes from sync to sync; this is the
    /// canonical order its own golden tests compare in (`sortIPTablesRules`): KUBE-NODEPORTS and
    /// KUBE-SERVICES first, then the other chains by name, and in KUBE-NODEPORTS and KUBE-SERVICES
    /// the rules by Service, the NodePort tail last. The built-in chains are not in it: kube-proxy
    /// ensures their jumps separately, and [`Ruleset::save`] shows them.
    pub fn restore(&self, deleted: &[ChainName]) -> String {
        let mut out = String::new();
        for (table, rules) in [(Table::Filter, &self.filter), (Table::Nat, &self.nat)] {
            let _ = writeln!(out, "*{table}");
            let owned = restored_chains(rules);
            let stale: Vec<&ChainName> = if table == Table::Nat { deleted.iter().collect() } else { Vec::new() };
            let mut declared: Vec<&ChainName> = owned.iter().copied().chain(stale.iter().copied()).collect();
            crate::order::sort_by(&mut declared, |a, b| chain_order(a.as_str()).cmp(&chain_order(b.as_str())));
            for chain in &declared {
                let _ = writeln!(out, ":{chain} - [0:0]");
            }
            for chain in declared.iter().filter(|c| rules.chains.contains_key(**c)) {
                for rule in sorted_rules(table, chain, &rules.chains[*chain]) {
                    let _ = writeln!(out, "-A {chain} {}", rule.text());
                }
            }
            for chain in &stale {
                let _ = writeln!(out, "-X {chain}");
            }
            out.push_str("COMMIT\n");
        }
        out
    }

    /// The node's tables as `iptables-save` (1.8, nf_tables) prints them once kube-proxy has
    /// synced: the built-in chains with their policies and kube-proxy's jumps, then every chain by
    /// name, each rule in the form the kernel hands back (`-d 10.0.0.1/32 -p tcp -m comment …`).
    /// Without counters and without the dated `# Generated` lines, which would make the output
    /// depend on the clock.
    pub fn save(&self) -> String {
        let mut out = String::new();
        for (table, builtin) in BUILTIN {
            let rules = self.table(table);
            let _ = writeln!(out, "*{table}");
            for chain in builtin {
                let _ = writeln!(out, ":{chain} ACCEPT [0:0]");
            }
            let mut owned: Vec<&ChainName> = rules.chains.keys().filter(|c| !chains::is_builtin(c.as_str())).collect();
            crate::order::sort(&mut owned);
            for chain in &owned {
                let _ = writeln!(out, ":{chain} - [0:0]");
            }
            let listed = builtin.iter().filter_map(|b| rules.chains.get_key_value(&ChainName::builtin(b)));
            for (chain, chain_rules) in listed.chain(owned.iter().map(|c| (*c, &rules.chains[*c]))) {
                for rule in chain_rules.iter() {
                    let _ = writeln!(out, "-A {chain} {}", saved(rule));
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// The chains kube-proxy declares in its restore input: all of its own, except kubelet's
/// KUBE-FIREWALL when kube-proxy writes no rule in it.
fn restored_chains(rules: &TableRules) -> Vec<&ChainName> {
    rules
        .chains
        .iter()
        .filter(|(c, r)| {
            let unwritten_kubelet_chain = c.as_str() == chains::KUBE_FIREWALL && r.is_empty();
            !chains::is_builtin(c.as_str()) && !unwritten_kubelet_chain
        })
        .map(|(c, _)| c)
        .collect()
}

/// `sortIPTablesRules`' chain order: KUBE-NODEPORTS, KUBE-SERVICES, the other KUBE- chains by
/// name, then any other chain by name.
fn chain_order(chain: &str) -> (u8, &str) {
    let group = match chain {
        chains::KUBE_NODEPORTS => 0,
        chains::KUBE_SERVICES => 1,
        c if c.starts_with("KUBE-") => 2,
        _ => 3,
    };
    (group, chain)
}

/// `sortIPTablesRules`' rule order within a chain: by Service in KUBE-NODEPORTS and KUBE-SERVICES
/// (nat's NodePort tail last), as written everywhere else.
fn sorted_rules<'a>(table: Table, chain: &ChainName, rules: &'a [std::rc::Rc<Rule>]) -> Vec<&'a Rule> {
    let mut sorted: Vec<&Rule> = rules.iter().map(|r| &**r).collect();
    let by_service = chain.as_str() == chains::KUBE_NODEPORTS || chain.as_str() == chains::KUBE_SERVICES;
    if by_service {
        let tail =
            |r: &Rule| table == Table::Nat && r.comment.as_deref().is_some_and(|c| c.contains("must be the last rule"));
        crate::order::sort_by_key(&mut sorted, |r| (tail(r), service_of(r)));
    }
    sorted
}

/// The Service a rule's comment names: the comment up to its first space or colon.
fn service_of(rule: &Rule) -> &str {
    let comment = rule.comment.as_deref().unwrap_or_default();
    comment.split([' ', ':']).next().unwrap_or_default()
}

/// One rule as iptables-save prints it: the addresses and protocol first (they live in the rule's
/// fixed header, not in a match), then each `-m` match in the order it was given, with `-m tcp`
/// holding the port, then the target with its options spelled out.
pub(super) fn saved(rule: &Rule) -> String {
    let mut head = Vec::new();
    for m in &rule.matches {
        if let Match::Src { cidr, negated } = m {
            head.push(format!("{}-s {cidr}", not(*negated)));
        }
    }
    for m in &rule.matches {
        match m {
            Match::Dst { cidr, negated } => head.push(format!("{}-d {cidr}", not(*negated))),
            Match::NotLoopback(family) => head.push(format!("! -d {}", super::rules::loopback(*family))),
            _ => {}
        }
    }
    for m in &rule.matches {
        if let Match::Proto(p) = m {
            head.push(format!("-p {}", p.as_lower()));
        }
    }
    let port = rule.matches.iter().find_map(|m| if let Match::DstPort(p) = m { Some(*p) } else { None });
    let mut modules: Vec<String> = rule.matches.iter().filter_map(|m| saved_match(m, port)).collect();
    if let Some(c) = &rule.comment {
        // The comment keeps its place among the modules.
        let at = rule.matches[..rule.comment_at].iter().filter(|m| saved_match(m, port).is_some()).count();
        modules.insert(at, format!("-m comment --comment \"{c}\""));
    }
    let target = saved_target(&rule.target);
    head.into_iter().chain(modules).chain(target).collect::<Vec<_>>().join(" ")
}

/// `-m recent`'s default mask as iptables-save prints it: every bit of the family's address.
fn all_ones(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "255.255.255.255",
        IpFamily::Ipv6 => "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    }
}

fn not(negated: bool) -> &'static str {
    if negated { "! " } else { "" }
}

/// A match module as iptables-save prints it, or `None` for what the rule's header holds.
fn saved_match(m: &Match, port: Option<u16>) -> Option<String> {
    Some(match m {
        Match::Src { .. } | Match::Dst { .. } | Match::NotLoopback(_) | Match::DstPort(_) => return None,
        Match::Proto(p) => match port {
            Some(port) => format!("-m {} --dport {port}", p.as_lower()),
            None => format!("-m {}", p.as_lower()),
        },
        // iptables parses kube-proxy's 10-decimal probability into the kernel's 31-bit fraction
        // (`lround(2^31 * p)`) and prints that back with 11 decimals (libxt_statistic).
        Match::Statistic { one_in } => {
            let written: f64 = format!("{:.10}", 1.0 / f64::from(*one_in)).parse().unwrap_or(0.0);
            let stored = (written * TWO_31).round();
            format!("-m statistic --mode random --probability {:.11}", stored / TWO_31)
        }
        Match::RecentCheck { name, seconds, family } => {
            let mask = all_ones(*family);
            format!("-m recent --rcheck --seconds {seconds} --reap --name {name} --mask {mask} --rsource")
        }
        Match::RecentSet { name, family } => {
            format!("-m recent --set --name {name} --mask {} --rsource", all_ones(*family))
        }
        // libxt_nfacct prints its option with a doubled space.
        Match::Nfacct(counter) => format!("-m nfacct --nfacct-name  {counter}"),
        other => other.to_string(),
    })
}

fn saved_target(target: &Target) -> Option<String> {
    use super::rules::MASQ_MARK;
    Some(match target {
        Target::None => return None,
        Target::Reject(IpFamily::Ipv4) => "-j REJECT --reject-with icmp-port-unreachable".to_string(),
        Target::Reject(IpFamily::Ipv6) => "-j REJECT --reject-with icmp6-port-unreachable".to_string(),
        Target::MarkMasq => format!("-j MARK --set-xmark {MASQ_MARK:#x}/{MASQ_MARK:#x}"),
        Target::ClearMasq => format!("-j MARK --set-xmark {MASQ_MARK:#x}/0x0"),
        other => other.to_string(),
    })
}
