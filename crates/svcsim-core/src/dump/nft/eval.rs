//! The walk of a first packet through a listed nftables ruleset, as netfilter runs it: on each
//! hook every table's base chains in priority order (a nat chain inside the NAT hook, and only
//! until one NATs the connection), jumps, gotos and verdict maps, a base chain's policy when it
//! falls off its end, then the routing decision and the next hooks. A match that needs a fact
//! the listing does not hold stops the walk by name; a `numgen` forks it, once per pick.

use std::net::IpAddr;

use super::ListedRuleset;
use super::ruleset::{BitOp, ChainType, Element, Expr, Field, Hook, MapRef, Match, Op, Rhs, Stmt, Val, Verdict};
use crate::dataplane::{Delivery, Origin};
use crate::dump::Walked;
use crate::dump::walk::{End, Packet, Picks, every_path, stop};
use crate::net::{Header, SockAddr};

/// What one rule did.
enum Step {
    /// It did not match, or it let the packet go on to the next rule.
    Next,
    End(End),
}

/// Deeper jumps than this are a loop the kernel would have refused to load.
const MAX_DEPTH: usize = 64;

struct Walk<'a> {
    d: &'a ListedRuleset,
    origin: Origin,
    v6: bool,
    p: Packet,
    picks: Picks,
    in_iface: Option<String>,
}

/// Every path a first packet can take through `d`, one per `numgen` pick.
pub fn walk_all(d: &ListedRuleset, origin: Origin, header: Header) -> Vec<Walked> {
    every_path(|picks| {
        let in_iface = match origin {
            Origin::Routed => d.facts.in_interface.clone(),
            Origin::Host => None,
        };
        let mut w = Walk { d, origin, v6: header.dst.ip.is_ipv6(), p: Packet::new(header), picks, in_iface };
        let (end, delivery) = w.run();
        (w.p.finish(end, delivery), w.picks)
    })
}

impl Walk<'_> {
    /// The hooks in the kernel's order for the packet's origin.
    fn run(&mut self) -> (End, Delivery) {
        let first = match self.origin {
            Origin::Routed => Hook::Prerouting,
            Origin::Host => Hook::Output,
        };
        if let Some(end) = stop(self.hook(first)) {
            return (end, Delivery::Forward);
        }
        let Some(local) = self.d.facts.is_local(self.p.header.dst.ip) else {
            let why = format!(
                "whether {} is this node's own address decides input or forward: give --node-ip",
                self.p.header.dst.ip
            );
            return (End::Undecided(why), Delivery::Forward);
        };
        let delivery = if local { Delivery::Local } else { Delivery::Forward };
        let hooks: &[Hook] = match (self.origin, local) {
            (Origin::Routed, true) => &[Hook::Input],
            (Origin::Routed, false) => &[Hook::Forward, Hook::Postrouting],
            // A host's packet to its own address leaves through postrouting onto lo and comes
            // back in through input.
            (Origin::Host, true) => &[Hook::Postrouting, Hook::Input],
            (Origin::Host, false) => &[Hook::Postrouting],
        };
        for &hook in hooks {
            if (self.origin, hook) == (Origin::Host, Hook::Input) {
                self.in_iface = Some("lo".into());
            }
            if let Some(end) = stop(self.hook(hook)) {
                return (end, delivery);
            }
        }
        (End::Accept, delivery)
    }

    /// Every base chain on `hook` the packet's family passes, in the order they run. Once a nat
    /// chain has NATed the connection, the hook's later nat chains are not consulted.
    fn hook(&mut self, hook: Hook) -> End {
        let mut nat_done = false;
        for &(t, c) in self.d.base_chains(hook) {
            let table = &self.d.tables[t];
            if !table.family.sees(self.v6) {
                continue;
            }
            let base = table.chains[c].base.expect("base_chains lists base chains");
            let nat = base.type_ == ChainType::Nat;
            if nat && nat_done {
                continue;
            }
            let before = (self.p.dnat, self.p.snat, self.p.masquerade);
            match self.chain(t, c, 0) {
                End::Return if base.policy_drop => {
                    self.p.path.push(self.d.policy_ref(t, c));
                    return End::Drop;
                }
                End::Return | End::Accept => {}
                other => return other,
            }
            nat_done |= nat && (self.p.dnat, self.p.snat, self.p.masquerade) != before;
        }
        End::Accept
    }

    fn chain(&mut self, t: usize, c: usize, depth: usize) -> End {
        let chain = &self.d.tables[t].chains[c];
        if depth > MAX_DEPTH {
            return End::Undecided(format!("jumps nest deeper than {MAX_DEPTH} at {}: a loop", chain.name));
        }
        for r in 0..chain.rules.len() {
            if let Step::End(end) = self.rule(t, c, r, depth) {
                return end;
            }
        }
        End::Return
    }

    /// `jump` or `goto`: the named chain of the same table, walked.
    fn enter(&mut self, t: usize, name: &str, depth: usize) -> End {
        match self.d.chain_index(t, name) {
            Some(c) => self.chain(t, c, depth + 1),
            None => End::Undecided(format!("a jump to {name}, which table {} does not declare", self.d.tables[t].name)),
        }
    }

    fn rule(&mut self, t: usize, c: usize, r: usize, depth: usize) -> Step {
        let rule = &self.d.tables[t].chains[c].rules[r];
        let mut undecided: Option<String> = None;
        let mut pushed = false;
        for e in &rule.exprs {
            let stmt = match e {
                Expr::Match(m) => {
                    match self.test(t, m) {
                        Ok(true) => {}
                        Ok(false) => return Step::Next,
                        Err(why) => {
                            undecided.get_or_insert(why);
                        }
                    }
                    continue;
                }
                Expr::Stmt(s) => s,
            };
            if let Some(why) = undecided.take() {
                return Step::End(End::Undecided(format!("line {}: {why}", rule.line)));
            }
            if matches!(stmt, Stmt::Pass) {
                continue;
            }
            let looked_up = matches!(stmt, Stmt::Vmap { .. } | Stmt::Numgen { .. });
            if !pushed && !looked_up {
                self.p.path.push(self.d.rule_ref(t, c, r));
                pushed = true;
            }
            let step = match stmt {
                Stmt::Verdict(v) => self.verdict(t, v, depth),
                Stmt::Vmap { fields, map } => {
                    let Some(element) = self.lookup(t, fields, map) else { return Step::Next };
                    self.p.path.push(self.d.rule_ref(t, c, r));
                    self.p.path.push(self.d.element_ref(t, c, r, &element));
                    pushed = true;
                    self.verdict(t, element.verdict.as_ref().unwrap_or(&Verdict::Continue), depth)
                }
                Stmt::Numgen { modulus, offset, map } => {
                    let pick = self.picks.pick(*modulus) + offset;
                    let Some(element) =
                        map.iter().find(|e| matches!(e.key[..], [Val::Ints(a, b)] if (a..=b).contains(&pick)))
                    else {
                        return Step::Next;
                    };
                    self.p.path.push(self.d.rule_ref(t, c, r));
                    pushed = true;
                    self.verdict(t, element.verdict.as_ref().unwrap_or(&Verdict::Continue), depth)
                }
                Stmt::Masquerade => {
                    self.p.snat_to(self.d.facts.node_ips.as_ref().and_then(|ips| ips.first().copied()));
                    Step::End(End::Accept)
                }
                Stmt::Snat(ip) => {
                    self.p.snat_to(*ip);
                    Step::End(End::Accept)
                }
                Stmt::Dnat { ip, port } => {
                    let to = SockAddr::new(ip.unwrap_or(self.p.header.dst.ip), port.unwrap_or(self.p.header.dst.port));
                    self.p.dnat_to(to);
                    Step::End(End::Accept)
                }
                Stmt::Redirect(port) => {
                    let ip = self.d.facts.node_ips.as_ref().and_then(|ips| ips.first().copied());
                    let to = SockAddr::new(ip.unwrap_or(self.p.header.dst.ip), port.unwrap_or(self.p.header.dst.port));
                    self.p.dnat_to(to);
                    Step::End(End::Accept)
                }
                Stmt::MarkSet { op, value } => {
                    self.p.mark = match op {
                        BitOp::Set => *value,
                        BitOp::Or => self.p.mark | value,
                        BitOp::Xor => self.p.mark ^ value,
                        BitOp::And => self.p.mark & value,
                    };
                    Step::Next
                }
                Stmt::Update(_) | Stmt::Pass => Step::Next,
                Stmt::Unknown(text) => Step::End(End::Undecided(format!(
                    "line {}: `{text}` is a statement svcsim does not evaluate",
                    rule.line
                ))),
            };
            if let Step::End(end) = step {
                return Step::End(end);
            }
            if matches!(
                stmt,
                Stmt::Verdict(Verdict::Continue | Verdict::Jump(_)) | Stmt::Vmap { .. } | Stmt::Numgen { .. }
            ) {
                // A verdict that came back: the rule is done, the next one runs.
                return Step::Next;
            }
        }
        match undecided {
            Some(why) => Step::End(End::Undecided(format!("line {}: {why}", rule.line))),
            None => Step::Next,
        }
    }

    fn verdict(&mut self, t: usize, v: &Verdict, depth: usize) -> Step {
        match v {
            Verdict::Accept => Step::End(End::Accept),
            Verdict::Drop => Step::End(End::Drop),
            Verdict::Reject => Step::End(End::Reject),
            Verdict::Return => Step::End(End::Return),
            Verdict::Continue => Step::Next,
            Verdict::Jump(to) => {
                let before = self.p.path.len();
                match self.enter(t, to, depth) {
                    End::Return => {
                        // A jump into a chain where nothing fired is left out of the path, as
                        // svcsim's nftables walk leaves it (docs/fidelity.md#nftables-walk).
                        if self.p.path.len() == before {
                            self.p.path.pop();
                        }
                        Step::Next
                    }
                    end => Step::End(end),
                }
            }
            Verdict::Goto(to) => Step::End(self.enter(t, to, depth)),
        }
    }

    /// The element of `map` the packet's `fields` find, if one.
    fn lookup(&self, t: usize, fields: &[Field], map: &MapRef) -> Option<Element> {
        let elements = match map {
            MapRef::Named(name) => &self.d.set(t, name)?.elements,
            MapRef::Anon(elements) => elements,
        };
        elements.iter().find(|e| self.key_matches(fields, &e.key) == Ok(true)).cloned()
    }

    /// Whether the match holds; `Err` names what the listing does not say.
    fn test(&self, t: usize, m: &Match) -> Result<bool, String> {
        match m {
            Match::Const(b) => Ok(*b),
            Match::Unknown(text) => Err(format!("`{text}` is a match svcsim does not evaluate")),
            Match::Masked { mask, op, value } => Ok((self.p.mark & mask == *value) == (*op == Op::Eq)),
            Match::Cmp { fields, op, rhs } => {
                // `tcp dport 80` also requires TCP, and `ip saddr` an IPv4 packet.
                for f in fields {
                    if !self.applies(*f) {
                        return Ok(false);
                    }
                }
                let any = match rhs {
                    Rhs::One(keys) | Rhs::Set(keys) => self.any_key(fields, keys.iter())?,
                    Rhs::Named(name) => match self.d.set(t, name) {
                        Some(set) => self.any_key(fields, set.elements.iter().map(|e| &e.key))?,
                        None => return Err(format!("@{name} is a set the table does not declare")),
                    },
                };
                Ok(any == (*op == Op::Eq))
            }
        }
    }

    fn any_key<'k>(&self, fields: &[Field], mut keys: impl Iterator<Item = &'k Vec<Val>>) -> Result<bool, String> {
        keys.try_fold(false, |found, key| Ok(found || self.key_matches(fields, key)?))
    }

    /// Whether the packet has the field at all (a TCP port on a TCP packet, an IPv4 address on
    /// an IPv4 packet).
    fn applies(&self, f: Field) -> bool {
        match f {
            Field::Saddr { v6 } | Field::Daddr { v6 } => v6 == self.v6,
            Field::Sport { proto: Some(p) } | Field::Dport { proto: Some(p) } => self.p.header.proto.number() == p,
            _ => true,
        }
    }

    fn key_matches(&self, fields: &[Field], key: &[Val]) -> Result<bool, String> {
        if key.len() != fields.len() {
            return Ok(false);
        }
        for (f, v) in fields.iter().zip(key) {
            if !self.value_matches(*f, v)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn value_matches(&self, f: Field, v: &Val) -> Result<bool, String> {
        let h = self.p.header;
        Ok(match (f, v) {
            (Field::Saddr { .. }, v) => addr_in(h.src.ip, v),
            (Field::Daddr { .. }, v) => addr_in(h.dst.ip, v),
            (Field::L4proto, Val::Proto(p)) => h.proto.number() == *p,
            (Field::Sport { .. }, Val::Ports(a, b)) => (*a..=*b).contains(&h.src.port),
            (Field::Dport { .. }, Val::Ports(a, b)) => (*a..=*b).contains(&h.dst.port),
            (Field::Mark, Val::Ints(a, b)) => (*a..=*b).contains(&self.p.mark),
            (Field::Iifname | Field::Iif, Val::Iface(name)) => match &self.in_iface {
                Some(iface) => iface_matches(name, iface),
                None => {
                    return Err(format!(
                        "iifname \"{name}\": the interface the packet came in on is not in the listing (give --in-interface)"
                    ));
                }
            },
            (Field::Oifname | Field::Oif, Val::Iface(name)) => match self.d.facts.out_iface(self.origin, h.dst.ip) {
                Some(iface) => iface_matches(name, &iface),
                None => {
                    return Err(format!(
                        "oifname \"{name}\": the interface the packet leaves by is not in the listing (give --out-interface)"
                    ));
                }
            },
            // A first packet is new; `dnat` and `snat` are the NAT already applied to it.
            (Field::CtState, Val::Flag(s)) => s == "new",
            (Field::CtStatus, Val::Flag(s)) => match s.as_str() {
                "dnat" => self.p.dnat.is_some(),
                "snat" => self.p.snat.is_some() || self.p.masquerade,
                _ => false,
            },
            (Field::Nfproto, Val::Flag(s)) => s == if self.v6 { "ipv6" } else { "ipv4" },
            (Field::FibSaddrType | Field::FibDaddrType, Val::Flag(kind)) => {
                let (ip, which) = if f == Field::FibSaddrType { (h.src.ip, "saddr") } else { (h.dst.ip, "daddr") };
                match (kind.as_str(), self.d.facts.is_local(ip)) {
                    ("local", Some(local)) => local,
                    ("local", None) => {
                        return Err(format!(
                            "fib {which} type local: whether {ip} is this node's own address (give --node-ip)"
                        ));
                    }
                    (other, _) => return Err(format!("fib {which} type {other} is not evaluated by svcsim")),
                }
            }
            _ => false,
        })
    }
}

fn addr_in(ip: IpAddr, v: &Val) -> bool {
    match v {
        Val::Cidr(c) => c.contains(ip),
        Val::AddrRange(a, b) => ip.is_ipv6() == a.is_ipv6() && (*a..=*b).contains(&ip),
        _ => false,
    }
}

/// nft writes an interface wildcard as `eth*`.
fn iface_matches(pattern: &str, iface: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => iface.starts_with(prefix),
        None => pattern == iface,
    }
}
