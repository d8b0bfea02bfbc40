//! The walk of a first packet through a dumped ruleset's nat and filter chains, hook by hook as
//! the kernel orders them, built-in chains' policies included. A match that needs a fact the
//! dump does not hold (the node's addresses, the interfaces, an ipset) stops the walk by name
//! rather than guess; a random match forks it, so every endpoint the rules could pick is found.

use std::net::IpAddr;

use super::SavedRuleset;
use super::parse::{Match, Policy, Target};
use crate::dataplane::{Delivery, Origin};
use crate::dump::walk::{End, Packet, Picks, every_path, stop};
use crate::dump::{Asked, Walked};
use crate::net::{Header, Protocol, SockAddr};

/// Deeper jumps than this are a loop the kernel would have refused to load.
const MAX_DEPTH: usize = 64;

struct Walk<'a> {
    d: &'a SavedRuleset,
    origin: Origin,
    p: Packet,
    /// At each random match, 0 is "matches" and 1 "does not".
    picks: Picks,
    /// The interface the packet is on in the current hook (`lo` for a host's packet to itself).
    in_iface: Option<String>,
}

/// Every path a first packet can take through `d`, one per random choice.
pub fn walk_all(d: &SavedRuleset, origin: Origin, header: Header) -> Vec<Walked> {
    every_path(|picks| {
        let in_iface = match origin {
            Origin::Routed => d.facts.in_interface.clone(),
            Origin::Host => None,
        };
        let mut w = Walk { d, origin, p: Packet::new(header), picks, in_iface };
        let (end, delivery) = w.run();
        (w.p.finish(end, delivery), w.picks)
    })
}

impl Walk<'_> {
    /// The hooks in the kernel's order for the packet's origin.
    fn run(&mut self) -> (End, Delivery) {
        let first = match self.origin {
            Origin::Routed => ("nat", "PREROUTING"),
            Origin::Host => ("nat", "OUTPUT"),
        };
        if let Some(end) = stop(self.hook(first.0, first.1)) {
            return (end, Delivery::Forward);
        }
        let local = match self.is_local(self.p.header.dst.ip) {
            Some(local) => local,
            None => {
                let why = format!(
                    "whether {} is this node's own address decides INPUT or FORWARD: give --node-ip",
                    self.p.header.dst.ip
                );
                return (End::Undecided(why), Delivery::Forward);
            }
        };
        let delivery = if local { Delivery::Local } else { Delivery::Forward };
        let hooks: &[(&str, &str)] = match (self.origin, local) {
            (Origin::Routed, true) => &[("filter", "INPUT")],
            (Origin::Routed, false) => &[("filter", "FORWARD"), ("nat", "POSTROUTING")],
            // A host's packet to its own address leaves through POSTROUTING onto lo and comes
            // back in through INPUT (docs/fidelity.md#the-kernel-differential-test).
            (Origin::Host, true) => &[("filter", "OUTPUT"), ("nat", "POSTROUTING"), ("filter", "INPUT")],
            (Origin::Host, false) => &[("filter", "OUTPUT"), ("nat", "POSTROUTING")],
        };
        for &(table, chain) in hooks {
            if (self.origin, table, chain) == (Origin::Host, "filter", "INPUT") {
                self.in_iface = Some("lo".into());
            }
            if let Some(end) = stop(self.hook(table, chain)) {
                return (end, delivery);
            }
        }
        (End::Accept, delivery)
    }

    /// A built-in chain, ending in its policy when nothing decided.
    fn hook(&mut self, table: &str, chain: &str) -> End {
        match self.chain(table, chain, 0) {
            End::Return => match self.d.policy(table, chain) {
                Some((Policy::Drop, rule)) => {
                    self.p.path.push(rule);
                    End::Drop
                }
                _ => End::Accept,
            },
            other => other,
        }
    }

    fn chain(&mut self, table: &str, chain: &str, depth: usize) -> End {
        if depth > MAX_DEPTH {
            return End::Undecided(format!("jumps nest deeper than {MAX_DEPTH} at {chain}: a loop"));
        }
        let Some(rules) = self.d.chain_rules(table, chain) else {
            return if depth == 0 {
                End::Return
            } else {
                End::Undecided(format!("a jump to {chain}, which the dump's {table} table does not declare"))
            };
        };
        for &i in rules {
            let rule = &self.d.saved.rules[i];
            match self.matches(&rule.matches) {
                Some(Ok(false)) | None => continue,
                Some(Err(why)) => {
                    return End::Undecided(format!("line {}: {why}", rule.line));
                }
                Some(Ok(true)) => {}
            }
            self.p.path.push(self.d.rule_ref(i));
            let end = match &rule.target {
                Target::Continue => continue,
                Target::Jump { chain: next, goto } => {
                    let before = self.p.path.len();
                    let end = self.chain(table, next, depth + 1);
                    // A filter jump into a chain where nothing matched is left out of the path,
                    // as svcsim's kube-proxy walk leaves it (docs/fidelity.md#netfilter-walk).
                    if end == End::Return && table == "filter" && self.p.path.len() == before {
                        self.p.path.pop();
                    }
                    match (end, goto) {
                        (End::Return, false) => continue,
                        (end, _) => end,
                    }
                }
                Target::Accept => End::Accept,
                Target::Drop => End::Drop,
                Target::Reject => End::Reject,
                Target::Return => End::Return,
                Target::Dnat(to) => self.dnat_to(*to),
                Target::DnatAddr(ip) => self.dnat_to(SockAddr::new(*ip, self.p.header.dst.port)),
                Target::Snat(ip) => {
                    self.snat_to(Some(*ip));
                    End::Accept
                }
                Target::Masquerade => {
                    // The egress interface's address: with --node-ip, the first one given.
                    self.snat_to(self.d.facts.node_ips.as_ref().and_then(|ips| ips.first().copied()));
                    End::Accept
                }
                Target::Xmark { value, mask } => {
                    self.p.mark = (self.p.mark & !mask) ^ value;
                    continue;
                }
                Target::Unknown(text) => {
                    End::Undecided(format!("line {}: {text} is a target svcsim does not evaluate", rule.line))
                }
            };
            return end;
        }
        End::Return
    }

    fn dnat_to(&mut self, to: SockAddr) -> End {
        self.p.dnat_to(to);
        End::Accept
    }

    fn snat_to(&mut self, ip: Option<IpAddr>) {
        self.p.snat_to(ip);
    }

    /// `None` is "no": a rule whose matches cannot all hold; `Some(Err)` names the first match
    /// that could not be decided when every decidable one holds.
    fn matches(&mut self, ms: &[Match]) -> Option<Result<bool, String>> {
        let mut undecided = None;
        for m in ms {
            match self.one(m) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(why) => {
                    undecided.get_or_insert(why);
                }
            }
        }
        Some(undecided.map_or(Ok(true), Err))
    }

    fn one(&mut self, m: &Match) -> Result<bool, String> {
        let h = self.p.header;
        let yes = |b: bool, negated: bool| Ok(b != negated);
        match m {
            Match::Proto(p, n) => yes(h.proto == *p, *n),
            Match::Src(c, n) => yes(c.contains(h.src.ip), *n),
            Match::Dst(c, n) => yes(c.contains(h.dst.ip), *n),
            Match::InIface(name, n) => match &self.in_iface {
                Some(iface) => yes(iface_matches(name, iface), *n),
                None => Err(format!(
                    "-i {name}: the interface the packet came in on is not in the dump (give --in-interface)"
                )),
            },
            Match::OutIface(name, n) => match self.out_iface() {
                Some(iface) => yes(iface_matches(name, &iface), *n),
                None => Err(format!(
                    "-o {name}: the interface the packet leaves by is not in the dump (give --out-interface)"
                )),
            },
            Match::DstPort(p, n) => yes(p.contains(h.dst.port), *n),
            Match::SrcPort(p, n) => yes(p.contains(h.src.port), *n),
            Match::DstPorts(list, n) => yes(list.iter().any(|p| p.contains(h.dst.port)), *n),
            Match::FirstSyn(n) => yes(h.proto == Protocol::Tcp, *n),
            Match::AddrType { dst, kind, negated } => {
                let ip = if *dst { h.dst.ip } else { h.src.ip };
                let which = if *dst { "--dst-type" } else { "--src-type" };
                match (kind.as_str(), self.is_local(ip)) {
                    ("LOCAL", Some(local)) => yes(local, *negated),
                    ("LOCAL", None) => Err(format!(
                        "-m addrtype {which} LOCAL: whether {ip} is this node's own address (give --node-ip)"
                    )),
                    (other, _) => Err(format!("-m addrtype {which} {other} is not evaluated by svcsim")),
                }
            }
            Match::Mark { value, mask, negated } => yes(self.p.mark & mask == *value, *negated),
            // A first packet is NEW; DNAT and SNAT are the NAT already applied to it.
            Match::CtState(states, n) => {
                let holds = states.iter().any(|s| match s.as_str() {
                    "NEW" => true,
                    "DNAT" => self.p.dnat.is_some(),
                    "SNAT" => self.p.snat.is_some(),
                    _ => false,
                });
                yes(holds, *n)
            }
            Match::Random(_) => Ok(self.picks.pick(2) == 0),
            // A first packet from a client with no affinity entry yet.
            Match::Recent { set } => Ok(*set),
            Match::Set { name, flags, negated } => self.in_set(name, flags).map(|b| b != *negated),
            Match::Always => Ok(true),
            Match::Unknown(text) => Err(format!("{text} is a match svcsim does not evaluate")),
        }
    }

    fn is_local(&self, ip: IpAddr) -> Option<bool> {
        self.d.facts.is_local(ip)
    }

    fn out_iface(&self) -> Option<String> {
        self.d.facts.out_iface(self.origin, self.p.header.dst.ip)
    }

    fn in_set(&self, name: &str, flags: &[bool]) -> Result<bool, String> {
        let Some(sets) = &self.d.facts.ipsets else {
            return Err(format!("-m set --match-set {name}: the set's members are not in the dump (give --ipset)"));
        };
        let Some(dims) = sets.dimensions(name) else {
            return Err(format!("-m set --match-set {name}: no such set in the --ipset file"));
        };
        let kinds: Vec<&str> = sets.sets[name].kind.split_once(':').map_or(vec![], |(_, k)| k.split(',').collect());
        let h = self.p.header;
        let asked: Vec<Asked> = flags
            .iter()
            .take(dims)
            .zip(kinds)
            .map(|(dst, kind)| {
                let addr = if *dst { h.dst } else { h.src };
                if kind == "port" { Asked::Port(h.proto, addr.port) } else { Asked::Ip(addr.ip) }
            })
            .collect();
        sets.contains(name, &asked).ok_or_else(|| {
            format!("-m set --match-set {name}: svcsim does not read sets of type {}", sets.sets[name].kind)
        })
    }
}

/// `eth+` matches every name starting `eth`.
fn iface_matches(pattern: &str, iface: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => iface.starts_with(prefix),
        None => pattern == iface,
    }
}
