//! A node's rules as they really are, read from a dump and evaluated for one first packet: the
//! dataplane seam's implementation that programs nothing. Two readers share one report —
//! `iptables-save` output ([`iptables`]) and `nft list ruleset` output ([`nft`]) — and each
//! maps kube-proxy's chains back to the Service they stand for
//! (`docs/fidelity.md#dumped-rulesets`).

mod ipset;
mod iptables;
mod nft;
mod walk;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

pub use ipset::{Asked, Ipsets};
pub use iptables::{Policy, Saved};

use crate::cluster::{Cluster, NodeId};
use crate::dataplane::{self, Dataplane, Decision, HealthResponse, Origin, PacketCx, RuleRef, RulesText, SyncReport};
use crate::net::{Header, SockAddr};
use crate::time::{Duration, Instant};

/// One problem with a dump's text, at its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Which tool printed a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `iptables-save` (or `iptables-nft-save`, `iptables-legacy-save`).
    IptablesSave,
    /// `nft list ruleset`.
    NftRuleset,
}

impl Format {
    /// The tool's name, as the user ran it.
    pub fn tool(self) -> &'static str {
        match self {
            Format::IptablesSave => "iptables-save",
            Format::NftRuleset => "nft list ruleset",
        }
    }

    /// The format `text` reads as, from its first line that is not a comment: `*nat` opens an
    /// `iptables-save` table, `table ip kube-proxy {` an nftables one; `None` for anything else
    /// (YAML, say).
    pub fn of(text: &str) -> Option<Format> {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))?;
        if first.len() > 1 && first.starts_with('*') && first[1..].chars().all(|c| c.is_ascii_lowercase()) {
            return Some(Format::IptablesSave);
        }
        let mut words = first.split_whitespace();
        let table = words.next() == Some("table")
            && words.next().is_some_and(|f| nft::FAMILIES.contains(&f))
            && words.next().is_some()
            && words.next() == Some("{");
        table.then_some(Format::NftRuleset)
    }
}

/// True when `text` reads as a dump of either kind rather than YAML.
pub fn looks_like_dump(text: &str) -> bool {
    Format::of(text).is_some()
}

/// What the dump cannot say and the user may: which addresses are the node's, the packet's
/// interfaces, the ipsets.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The node's own addresses (`--node-ip`): they decide `--dst-type LOCAL` (`fib daddr type
    /// local`) and INPUT vs FORWARD, and the first is MASQUERADE's source.
    pub node_ips: Option<Vec<IpAddr>>,
    pub in_interface: Option<String>,
    pub out_interface: Option<String>,
    /// `ipset save` output, for iptables' `-m set`.
    pub ipsets: Option<Ipsets>,
}

impl Facts {
    /// Whether `ip` is the node's own: loopback always is; otherwise only `--node-ip` knows.
    fn is_local(&self, ip: IpAddr) -> Option<bool> {
        if ip.is_loopback() {
            return Some(true);
        }
        self.node_ips.as_ref().map(|ips| ips.contains(&ip))
    }

    /// Where a packet from `src` enters: the node's own socket when `src` is one of its
    /// addresses, else arriving from the network or a pod.
    fn origin_of(&self, src: IpAddr) -> Origin {
        if self.is_local(src) == Some(true) { Origin::Host } else { Origin::Routed }
    }

    /// The interface a packet leaves by: `lo` to a local address, else `--out-interface`.
    fn out_iface(&self, origin: Origin, dst: IpAddr) -> Option<String> {
        if dst.is_loopback() || (origin == Origin::Host && self.is_local(dst) == Some(true)) {
            return Some("lo".into());
        }
        self.out_interface.clone()
    }
}

/// One walk's answer: the decision so far, and why it stopped short, if it did.
#[derive(Debug, Clone)]
pub struct Walked {
    pub decision: Decision,
    pub undecided: Option<String>,
}

/// What `svcsim trace` and the page show for one first packet through a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Verdict, endpoints, masquerade, rules and reason over every path, as `svcsim packet`.
    pub packet: dataplane::FirstPacket,
    /// For each of `packet.rules`, the Service of the kube-proxy chain that holds it.
    pub rule_services: Vec<Option<String>>,
    /// Why a path stopped short, each reason once, in the order met.
    pub undecided: Vec<String>,
    /// Each kube-proxy chain on the paths, with the Service it stands for.
    pub services: Vec<(String, String)>,
    /// What kube-proxy would not have written ([`DumpedRuleset::flags`]).
    pub unusual: Vec<String>,
    /// Tables holding rules the walk does not follow.
    pub not_walked: Vec<String>,
}

impl Report {
    /// Sums up every path's walk; `all` maps kube-proxy's chains to their Services, and
    /// `service` names the Service a rule on the path belongs to.
    fn of(
        walks: Vec<Walked>,
        all: &BTreeMap<String, String>,
        service: impl Fn(&RuleRef) -> Option<String>,
        unusual: Vec<String>,
        not_walked: Vec<String>,
    ) -> Report {
        let decisions: Vec<Decision> = walks.iter().map(|w| w.decision.clone()).collect();
        let mut undecided: Vec<String> = Vec::new();
        for why in walks.into_iter().filter_map(|w| w.undecided) {
            if !undecided.contains(&why) {
                undecided.push(why);
            }
        }
        let mut services: Vec<(String, String)> = Vec::new();
        for rule in decisions.iter().flat_map(|d| d.path.rules()) {
            for chain in rule.path_names().into_iter().flatten() {
                if let Some(s) = all.get(chain)
                    && !services.iter().any(|(c, _)| c == chain)
                {
                    services.push((chain.to_string(), s.clone()));
                }
            }
        }
        let packet = dataplane::FirstPacket::of(&decisions);
        // The rules in `packet.rules`' order (first seen over every path), each with its Service.
        let mut seen: Vec<String> = Vec::new();
        let mut rule_services = Vec::new();
        for rule in decisions.iter().flat_map(|d| d.path.rules()) {
            let line = rule.to_string();
            if !seen.contains(&line) {
                seen.push(line);
                rule_services.push(service(rule));
            }
        }
        Report { packet, rule_services, undecided, services, unusual, not_walked }
    }
}

/// A dumped ruleset of either kind, ready to walk.
pub struct DumpedRuleset(Inner);

enum Inner {
    Iptables(iptables::SavedRuleset),
    Nft(nft::ListedRuleset),
}

impl DumpedRuleset {
    /// Reads a dump of the format its text reads as ([`Format::of`]); text of neither kind is
    /// read as `iptables-save`, whose errors say what a line should be.
    pub fn parse(text: &str, facts: Facts) -> Result<DumpedRuleset, Vec<DumpError>> {
        DumpedRuleset::parse_as(Format::of(text).unwrap_or(Format::IptablesSave), text, facts)
    }

    /// Reads `text` as `format`'s output.
    pub fn parse_as(format: Format, text: &str, facts: Facts) -> Result<DumpedRuleset, Vec<DumpError>> {
        Ok(DumpedRuleset(match format {
            Format::IptablesSave => Inner::Iptables(iptables::SavedRuleset::parse(text, facts)?),
            Format::NftRuleset => Inner::Nft(nft::ListedRuleset::parse(text, facts)?),
        }))
    }

    pub fn format(&self) -> Format {
        match &self.0 {
            Inner::Iptables(_) => Format::IptablesSave,
            Inner::Nft(_) => Format::NftRuleset,
        }
    }

    /// Every path the first packet can take, with why a path stopped short, if one did.
    pub fn walk(&self, header: Header) -> Vec<Walked> {
        match &self.0 {
            Inner::Iptables(d) => d.walk(header),
            Inner::Nft(d) => d.walk(header),
        }
    }

    /// The first packet's walk, summed up.
    pub fn report(&self, header: Header) -> Report {
        match &self.0 {
            Inner::Iptables(d) => d.report(header),
            Inner::Nft(d) => d.report(header),
        }
    }

    /// The Service each kube-proxy chain stands for.
    pub fn services(&self) -> BTreeMap<String, String> {
        match &self.0 {
            Inner::Iptables(d) => d.services(),
            Inner::Nft(d) => d.services(),
        }
    }

    /// What is unusual for a node kube-proxy programs.
    pub fn flags(&self) -> Vec<String> {
        match &self.0 {
            Inner::Iptables(d) => d.flags(),
            Inner::Nft(d) => d.flags(),
        }
    }
}

/// The seam, for a ruleset nobody programs: every sync changes nothing, and every node is the
/// dumped one.
impl Dataplane for DumpedRuleset {
    fn agent(&self) -> &'static str {
        self.format().tool()
    }
    fn describe(&self) -> String {
        format!("a dumped ruleset ({})", self.format().tool())
    }
    fn min_sync_period(&self) -> Duration {
        Duration::ZERO
    }
    fn sync(&mut self, _: &Cluster, _: u64, _: NodeId) -> Option<SyncReport> {
        None
    }
    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, cx: PacketCx<'_>) -> Decision {
        let all = self.every_decision(node, origin, header);
        let pick = cx.rng.below(all.len() as u64) as usize;
        all.into_iter().nth(pick).expect("a walk gives at least one decision")
    }
    fn every_decision(&self, _: NodeId, origin: Origin, header: Header) -> Vec<Decision> {
        match &self.0 {
            Inner::Iptables(d) => d.decisions(origin, header),
            Inner::Nft(d) => d.decisions(origin, header),
        }
    }
    fn serve(&self, _: &Cluster, _: NodeId, _: SockAddr) -> Option<HealthResponse> {
        None
    }
    /// The rules as read, as the tool lists them.
    fn render(&self, _: NodeId, _: RulesText) -> String {
        match &self.0 {
            Inner::Iptables(d) => d.listing(),
            Inner::Nft(d) => d.listing(),
        }
    }
    fn sweep(&mut self, _: Instant) {}
}
