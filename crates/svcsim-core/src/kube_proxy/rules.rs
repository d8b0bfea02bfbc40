//! kube-proxy's iptables rules as data: tables, chains, matches and targets. Each rule renders
//! its arguments as kube-proxy writes them; `text.rs` lays whole rulesets out.

use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::dataplane;
use crate::net::{IpCidr, IpFamily, Protocol, SockAddr};

/// The masquerade mark: `masqueradeBit` 14.
pub const MASQ_MARK: u32 = 0x4000;

/// An iptables table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Filter,
    Nat,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        })
    }
}

/// A chain name such as `KUBE-SVC-CDGGSHYLG3RE2FKL`. Cheap to clone, and cheap to look up: it
/// carries its hash, so a rule walk that follows a jump never rehashes the name.
#[derive(Debug, Clone)]
pub struct ChainName {
    name: Rc<str>,
    hash: u64,
}

thread_local! {
    /// Every chain name made so far, so that equal names share one allocation and compare by
    /// pointer. It only ever changes how names are stored, never what they are.
    static NAMES: std::cell::RefCell<std::collections::BTreeSet<Rc<str>>> = Default::default();
}

impl ChainName {
    pub fn new(name: &str) -> ChainName {
        let name = NAMES.with_borrow_mut(|names| match names.get(name) {
            Some(known) => Rc::clone(known),
            None => {
                let fresh: Rc<str> = name.into();
                names.insert(Rc::clone(&fresh));
                fresh
            }
        });
        let hash = crate::rng::fnv1a(name.as_bytes());
        ChainName { name, hash }
    }
    /// The name of a built-in chain (`chains::PREROUTING`, …), made once per thread: every
    /// first packet's walk starts from these, and [`ChainName::new`] would search the interner.
    pub fn builtin(name: &str) -> ChainName {
        use chains::*;
        thread_local! {
            static BUILTINS: [ChainName; 5] = [PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING].map(ChainName::new);
        }
        BUILTINS.with(|b| b.iter().find(|c| c.as_str() == name).cloned()).unwrap_or_else(|| ChainName::new(name))
    }
    pub fn as_str(&self) -> &str {
        &self.name
    }
    /// `prefix` + the first 16 characters of base32(sha256(`servicePortName` + `protocol`
    /// [+ `endpoint`])), as kube-proxy names its per-service chains
    /// (`servicePortChainNameBase` in `pkg/proxy/iptables/proxier.go`).
    pub fn hashed(prefix: &str, service_port_name: &str, protocol: &str, endpoint: Option<&str>) -> ChainName {
        let parts = [service_port_name.as_bytes(), protocol.as_bytes(), endpoint.unwrap_or_default().as_bytes()];
        ChainName::new(&format!("{prefix}{}", crate::digest::sha256_base32(&parts, 16)))
    }
}

impl fmt::Display for ChainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq for ChainName {
    fn eq(&self, other: &ChainName) -> bool {
        self.hash == other.hash && (Rc::ptr_eq(&self.name, &other.name) || self.name == other.name)
    }
}

impl Eq for ChainName {}

impl PartialOrd for ChainName {
    fn partial_cmp(&self, other: &ChainName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By name, as iptables-save sorts them.
impl Ord for ChainName {
    fn cmp(&self, other: &ChainName) -> std::cmp::Ordering {
        self.name.cmp(&other.name)
    }
}

impl std::hash::Hash for ChainName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Hashes a [`ChainName`] by the hash it carries, without rehashing (only chain names are
/// keyed with it).
#[derive(Default)]
pub struct ChainHasher(u64);

impl std::hash::Hasher for ChainHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by ChainName; this keeps the hasher total.
        self.0 = crate::rng::fnv1a(bytes) ^ self.0.rotate_left(5);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ChainMap = IndexMap<ChainName, Chain, std::hash::BuildHasherDefault<ChainHasher>>;

/// The well-known chains.
pub mod chains {
    pub const PREROUTING: &str = "PREROUTING";
    pub const INPUT: &str = "INPUT";
    pub const FORWARD: &str = "FORWARD";
    pub const OUTPUT: &str = "OUTPUT";
    pub const POSTROUTING: &str = "POSTROUTING";
    pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
    pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
    pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
    pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
    pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
    /// kubelet's chain, which kube-proxy also ensures: it blocks martian localnet traffic.
    pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";
    pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
    pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";

    /// The chains the kernel provides; kube-proxy only adds jumps to them.
    pub fn is_builtin(chain: &str) -> bool {
        matches!(chain, PREROUTING | INPUT | FORWARD | OUTPUT | POSTROUTING)
    }
}

/// Conntrack states a rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtStates {
    New,
    Invalid,
    RelatedEstablished,
    /// `RELATED,ESTABLISHED,DNAT`: KUBE-FIREWALL's exemption.
    RelatedEstablishedDnat,
}

impl CtStates {
    fn as_str(self) -> &'static str {
        match self {
            CtStates::New => "NEW",
            CtStates::Invalid => "INVALID",
            CtStates::RelatedEstablished => "RELATED,ESTABLISHED",
            CtStates::RelatedEstablishedDnat => "RELATED,ESTABLISHED,DNAT",
        }
    }
}

/// The nfacct counters kube-proxy creates at startup and counts in two rules
/// (`docs/fidelity.md#kube-proxy-iptables-rules`).
pub mod nfacct {
    /// Counted by KUBE-FORWARD's INVALID drop.
    pub const CT_STATE_INVALID_DROPPED: &str = "ct_state_invalid_dropped_pkts";
    /// Counted by each NodePort's localhost rule.
    pub const LOCALHOST_NODEPORTS_ACCEPTED: &str = "localhost_nps_accepted_pkts";
}

/// One match of a rule, rendered exactly as kube-proxy writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `-m tcp -p tcp` (or udp, sctp).
    Proto(Protocol),
    /// `[!] -s <cidr>`; a host prefix renders as a bare address, as kube-proxy writes it.
    Src { cidr: IpCidr, negated: bool },
    /// `[!] -d <cidr>`, likewise.
    Dst { cidr: IpCidr, negated: bool },
    /// `--dport <port>`.
    DstPort(u16),
    /// `! -d ::1/128` (or `! -d 127.0.0.0/8`): not to loopback, written with its prefix length
    /// as kube-proxy writes it on the NodePorts jump.
    NotLoopback(IpFamily),
    /// `-m addrtype --src-type LOCAL`: the source is an address of this node.
    SrcTypeLocal,
    /// `-m addrtype --dst-type LOCAL`: the destination is an address of this node.
    DstTypeLocal,
    /// `-m mark --mark 0x4000/0x4000`, or `! --mark` when negated.
    Mark { negated: bool },
    /// `-m conntrack [!] --ctstate …`.
    CtState { states: CtStates, negated: bool },
    /// `-m statistic --mode random --probability 1/n`, printed `%0.10f`.
    Statistic { one_in: u32 },
    /// `-m recent --name <chain> --rcheck --seconds <s> --reap`, over addresses of `family`
    /// (iptables-save prints its all-ones mask).
    RecentCheck { name: ChainName, seconds: u32, family: IpFamily },
    /// `-m recent --name <chain> --set`, likewise.
    RecentSet { name: ChainName, family: IpFamily },
    /// `-m nfacct --nfacct-name <counter>`: counts the packet, always matches.
    Nfacct(&'static str),
}

impl Match {
    /// `-d <ip>`: the destination is exactly `ip`.
    pub fn dst(ip: IpAddr) -> Match {
        Match::Dst { cidr: IpCidr::host(ip), negated: false }
    }
    /// `-m conntrack --ctstate <states>`.
    pub fn ctstate(states: CtStates) -> Match {
        Match::CtState { states, negated: false }
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Jump(ChainName),
    Return,
    Accept,
    Drop,
    /// `-j REJECT`: ICMP port unreachable, ICMPv6 on the IPv6 side.
    Reject(IpFamily),
    /// `-j DNAT --to-destination ip:port`.
    Dnat(SockAddr),
    /// `-j MARK --or-mark 0x4000`.
    MarkMasq,
    /// `-j MARK --xor-mark 0x4000`.
    ClearMasq,
    /// `-j MASQUERADE`, with `--random-fully` when the node's iptables has it.
    Masquerade {
        random_fully: bool,
    },
    /// No `-j`: the rule counts the packet, which goes on to the next rule (KUBE-FW's last rule,
    /// a comment on what happens next).
    None,
}

/// One rule of one chain. `text` is its iptables-restore line without `-A <chain>`, computed
/// once so traces can keep it cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: Table,
    pub chain: ChainName,
    pub comment: Option<String>,
    /// How many of `matches` come before `-m comment`: none in the rules kube-proxy restores,
    /// its extra arguments in the jumps it ensures from the built-in chains.
    pub comment_at: usize,
    pub matches: Vec<Match>,
    pub target: Target,
    text: Box<str>,
}

impl Rule {
    /// A rule with its comment (if any) first, as kube-proxy writes the rules it restores.
    pub fn new(table: Table, chain: &ChainName, comment: Option<String>, matches: Vec<Match>, target: Target) -> Rule {
        Rule::commented_at(table, chain, comment, 0, matches, target)
    }
    /// A rule whose comment comes after its first `comment_at` matches.
    pub fn commented_at(
        table: Table,
        chain: &ChainName,
        comment: Option<String>,
        comment_at: usize,
        matches: Vec<Match>,
        target: Target,
    ) -> Rule {
        let comment_at = comment_at.min(matches.len());
        let mut rule = Rule { table, chain: chain.clone(), comment, comment_at, matches, target, text: Box::default() };
        rule.text = rule.render().into();
        rule
    }
    /// The rule's arguments after `-A <chain>`.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// The chain this rule jumps to, if its target is a jump.
    pub fn jump(&self) -> Option<&ChainName> {
        match &self.target {
            Target::Jump(next) => Some(next),
            _ => None,
        }
    }

    fn render(&self) -> String {
        let mut parts: Vec<String> = self.matches.iter().map(Match::to_string).collect();
        if let Some(c) = &self.comment {
            parts.insert(self.comment_at, format!("-m comment --comment {}", quote(c)));
        }
        if self.target != Target::None {
            parts.push(self.target.to_string());
        }
        parts.join(" ")
    }

    /// Part of a first packet's story, for the trace's path: not a built-in hook nor the
    /// masquerade helpers.
    fn is_story(chain: &str) -> bool {
        !chains::is_builtin(chain) && chain != chains::KUBE_MARK_MASQ && chain != chains::KUBE_POSTROUTING
    }
}

/// `-t nat -A KUBE-SERVICES <rule>`: the rule as `svcsim packet` and the inspector list it.
impl dataplane::Rule for Rule {
    fn fmt_native(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-t {} -A {} {}", self.table, self.chain, self.text)
    }
    fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
    /// The chain, and in nat the chain it jumps to: in nat a jump is part of the story even when
    /// nothing inside matches (a Local KUBE-EXT without a KUBE-SVL rule); in filter a jump that
    /// matched nothing was left out of the path by the walk.
    fn path_names(&self) -> [Option<&str>; 2] {
        let chain = Some(self.chain.as_str()).filter(|c| Rule::is_story(c));
        let jump = self.jump().map(ChainName::as_str).filter(|c| self.table == Table::Nat && Rule::is_story(c));
        [chain, jump]
    }
    fn listed(&self) -> Option<(&'static str, String)> {
        let table = match self.table {
            Table::Filter => "filter",
            Table::Nat => "nat",
        };
        Some((table, format!("-A {} {}", self.chain, super::text::saved(self))))
    }
    fn narrate(&self) -> Option<String> {
        let comment = self.comment.as_deref()?;
        if self.table != Table::Nat || matches!(comment, "kubernetes service portals" | "kubernetes postrouting rules")
        {
            return None;
        }
        let to = self.jump().map(|j| format!(" → {j}")).unwrap_or_default();
        Some(format!("\"{comment}\" in {}{to}", self.chain))
    }
}

fn quote(s: &str) -> String {
    if s.contains(' ') { format!("\"{s}\"") } else { s.to_string() }
}

/// The loopback range of `family`: 127.0.0.0/8 or ::1/128.
pub fn loopback(family: IpFamily) -> IpCidr {
    match family {
        IpFamily::Ipv4 => IpCidr::V4_LOOPBACK,
        IpFamily::Ipv6 => IpCidr::host(std::net::Ipv6Addr::LOCALHOST),
    }
}

fn cidr_arg(cidr: &IpCidr) -> String {
    if cidr.is_host() { cidr.network().to_string() } else { cidr.to_string() }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::Proto(p) => write!(f, "-m {0} -p {0}", p.as_lower()),
            Match::Src { cidr, negated } => {
                write!(f, "{}-s {}", if *negated { "! " } else { "" }, cidr_arg(cidr))
            }
            Match::Dst { cidr, negated } => {
                write!(f, "{}-d {}", if *negated { "! " } else { "" }, cidr_arg(cidr))
            }
            Match::DstPort(p) => write!(f, "--dport {p}"),
            Match::NotLoopback(family) => write!(f, "! -d {}", loopback(*family)),
            Match::SrcTypeLocal => f.write_str("-m addrtype --src-type LOCAL"),
            Match::DstTypeLocal => f.write_str("-m addrtype --dst-type LOCAL"),
            Match::Mark { negated: false } => write!(f, "-m mark --mark {MASQ_MARK:#x}/{MASQ_MARK:#x}"),
            Match::Mark { negated: true } => write!(f, "-m mark ! --mark {MASQ_MARK:#x}/{MASQ_MARK:#x}"),
            Match::CtState { states, negated } => {
                write!(f, "-m conntrack {}--ctstate {}", if *negated { "! " } else { "" }, states.as_str())
            }
            Match::Statistic { one_in } => {
                write!(f, "-m statistic --mode random --probability {:.10}", 1.0 / f64::from(*one_in))
            }
            Match::RecentCheck { name, seconds, .. } => {
                write!(f, "-m recent --name {name} --rcheck --seconds {seconds} --reap")
            }
            Match::RecentSet { name, .. } => write!(f, "-m recent --name {name} --set"),
            Match::Nfacct(counter) => write!(f, "-m nfacct --nfacct-name {counter}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Jump(c) => write!(f, "-j {c}"),
            Target::Return => f.write_str("-j RETURN"),
            Target::Accept => f.write_str("-j ACCEPT"),
            Target::Drop => f.write_str("-j DROP"),
            Target::Reject(_) => f.write_str("-j REJECT"),
            Target::Dnat(to) => write!(f, "-j DNAT --to-destination {to}"),
            Target::MarkMasq => write!(f, "-j MARK --or-mark {MASQ_MARK:#x}"),
            Target::ClearMasq => write!(f, "-j MARK --xor-mark {MASQ_MARK:#x}"),
            Target::Masquerade { random_fully: false } => f.write_str("-j MASQUERADE"),
            Target::Masquerade { random_fully: true } => f.write_str("-j MASQUERADE --random-fully"),
            Target::None => Ok(()),
        }
    }
}

/// A chain's rules, shared: identical chains of different nodes are one allocation.
pub type Chain = Rc<Vec<Rc<Rule>>>;

/// A table's chains in the order they were created; each chain's rules in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRules {
    /// Each chain's rules behind an `Rc`, so identical chains of different nodes can share one
    /// allocation (see [`Interner`]).
    pub chains: ChainMap,
}

impl TableRules {
    /// Declares `chain` (idempotent) and returns its rules for appending.
    pub fn chain(&mut self, chain: &ChainName) -> &mut Vec<Rc<Rule>> {
        Rc::make_mut(self.chains.entry(chain.clone()).or_default())
    }
    /// Appends `rule` to the chain it names.
    pub fn append(&mut self, rule: Rc<Rule>) {
        let chain = rule.chain.clone();
        self.chain(&chain).push(rule);
    }
    pub fn get(&self, chain: &str) -> Option<&[Rc<Rule>]> {
        self.chains.get(&ChainName::new(chain)).map(|rules| rules.as_slice())
    }
    /// The rules of `chain`.
    pub fn rules_of(&self, chain: &ChainName) -> Option<&[Rc<Rule>]> {
        self.chains.get(chain).map(|rules| rules.as_slice())
    }
    /// How many rules the table holds.
    pub fn len(&self) -> usize {
        self.chains.values().map(|rules| rules.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Shares identical chains between the rulesets of different nodes: most KUBE-SVC-* and
/// KUBE-SEP-* chains do not depend on the node, and a large cluster would otherwise hold one copy
/// per node.
#[derive(Debug, Default)]
pub struct Interner {
    seen: [ChainMap; 2],
}

impl Interner {
    /// Replaces each chain of `rules` by an equal one seen before, if any.
    pub fn intern(&mut self, rules: &mut Ruleset) {
        for (seen, t) in self.seen.iter_mut().zip([&mut rules.filter, &mut rules.nat]) {
            for (name, chain) in t.chains.iter_mut() {
                match seen.get(name) {
                    // Chains the program cache shares are already one allocation.
                    Some(shared) if Rc::ptr_eq(shared, chain) => {}
                    Some(shared) if shared == chain => *chain = Rc::clone(shared),
                    _ => {
                        seen.insert(name.clone(), Rc::clone(chain));
                    }
                }
            }
        }
    }
}

/// Everything kube-proxy programs on one node, plus the jumps from the built-in chains that it
/// ensures separately (`iptablesJumpChains`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub filter: TableRules,
    pub nat: TableRules,
}

impl Ruleset {
    pub fn table(&self, table: Table) -> &TableRules {
        match table {
            Table::Filter => &self.filter,
            Table::Nat => &self.nat,
        }
    }
    pub fn table_mut(&mut self, table: Table) -> &mut TableRules {
        match table {
            Table::Filter => &mut self.filter,
            Table::Nat => &mut self.nat,
        }
    }
    /// Appends `rule` to its table and chain.
    pub fn append(&mut self, rule: Rc<Rule>) {
        self.table_mut(rule.table).append(rule);
    }
    /// How many rules both tables hold.
    pub fn len(&self) -> usize {
        self.nat.len() + self.filter.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn chain_names_match_kube_proxy() {
        // The example of the issue and of our research notes.
        assert_eq!(
            ChainName::hashed("KUBE-SVC-", "default/web:http", "tcp", None).as_str(),
            "KUBE-SVC-CDGGSHYLG3RE2FKL"
        );
        // From kube-proxy's proxier_test.go: ns1/svc1:p80.
        assert_eq!(ChainName::hashed("KUBE-SVC-", "ns1/svc1:p80", "tcp", None).as_str(), "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(
            ChainName::hashed("KUBE-SEP-", "ns1/svc1:p80", "tcp", Some("10.180.0.1:80")).as_str(),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
        assert_eq!(
            ChainName::hashed("KUBE-SEP-", "ns1/svc1:p80", "tcp", Some("10.180.2.1:80")).as_str(),
            "KUBE-SEP-ZX7GRIZKSNUQ3LAJ"
        );
    }

    #[test]
    fn rules_render_in_kube_proxy_argument_order() {
        let svc = ChainName::new("KUBE-SVC-X");
        let rule = Rule::new(
            Table::Nat,
            &svc,
            Some("ns1/svc1:p80 cluster IP".into()),
            vec![
                Match::Proto(Protocol::Tcp),
                Match::dst(Ipv4Addr::new(172, 30, 0, 41).into()),
                Match::DstPort(80),
                Match::Src { cidr: "10.0.0.0/8".parse().unwrap(), negated: true },
            ],
            Target::Jump(ChainName::new(chains::KUBE_MARK_MASQ)),
        );
        assert_eq!(
            rule.text(),
            r#"-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ"#
        );
        let stat = Rule::new(
            Table::Nat,
            &svc,
            Some("ns1/svc1:p80 -> 10.180.0.1:80".into()),
            vec![Match::Statistic { one_in: 3 }],
            Target::Jump(svc.clone()),
        );
        assert_eq!(
            stat.text(),
            r#"-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SVC-X"#
        );
        let sep = Rule::new(
            Table::Nat,
            &svc,
            Some("ns1/svc1:p80".into()),
            vec![Match::Src { cidr: IpCidr::host(Ipv4Addr::new(10, 180, 0, 1)), negated: false }],
            Target::Jump(ChainName::new(chains::KUBE_MARK_MASQ)),
        );
        assert_eq!(sep.text(), "-m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ");
        let mark = Rule::new(Table::Nat, &ChainName::new(chains::KUBE_MARK_MASQ), None, vec![], Target::MarkMasq);
        assert_eq!(mark.text(), "-j MARK --or-mark 0x4000");
        let udp = Rule::new(Table::Nat, &svc, None, vec![Match::Proto(Protocol::Udp)], Target::Accept);
        assert_eq!(udp.text(), "-m udp -p udp -j ACCEPT");
    }
}
