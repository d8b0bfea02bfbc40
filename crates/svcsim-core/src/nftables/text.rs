//! kube-proxy's nftables table as text, in its two forms: the listing `nft list table ip
//! kube-proxy` prints on a node (`docs/fidelity.md#nftables-listing`), and the transaction
//! kube-proxy hands `nft -f` at a full sync, as knftables writes it.

use std::fmt::{self, Write};
use std::net::IpAddr;

use super::table::{
    BaseChain, Chain, ChainType, Element, ElementVerdict, Hook, KeyKind, MASQ_MARK, Map, MapKey, Match, Name, Rule,
    Set, SetKind, SetOrMap, Statement, Table,
};
use crate::net::{IpCidr, IpFamily};

/// The family and name every line names: `ip kube-proxy` or `ip6 kube-proxy`.
pub fn table_name(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ip kube-proxy",
        IpFamily::Ipv6 => "ip6 kube-proxy",
    }
}

/// `ip` or `ip6`: the payload expression of a family's addresses.
fn ip_expr(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ip",
        IpFamily::Ipv6 => "ip6",
    }
}

/// A family's address type in a set or map declaration.
fn addr_type(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ipv4_addr",
        IpFamily::Ipv6 => "ipv6_addr",
    }
}

/// How a rule is spelt: as knftables writes it into a transaction, or as `nft list` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Transaction,
    Listing,
}

/// An address or a CIDR as nft writes it: a host route is the bare address.
fn addr(cidr: &IpCidr) -> String {
    if cidr.is_host() { cidr.network().to_string() } else { cidr.to_string() }
}

fn cidr_expr(cidr: &IpCidr) -> &'static str {
    ip_expr(cidr.family())
}

/// An anonymous set: `{ a , b }` in a transaction; listed, one element stands alone and more
/// are sorted and joined by `, `.
fn anonymous(cidrs: &[IpCidr], form: Form) -> String {
    match (form, cidrs) {
        (Form::Listing, [one]) => addr(one),
        (Form::Listing, _) => {
            let mut sorted = cidrs.to_vec();
            crate::order::sort_by_key(&mut sorted, |c| (crate::net::to_bits(c.network()), c.prefix()));
            format!("{{ {} }}", sorted.iter().map(addr).collect::<Vec<_>>().join(", "))
        }
        (Form::Transaction, _) => format!("{{ {} }}", cidrs.iter().map(addr).collect::<Vec<_>>().join(" , ")),
    }
}

fn not(negated: bool) -> &'static str {
    if negated { "!= " } else { "" }
}

/// One match of a rule of `family`'s table, in `form`.
pub fn write_match(out: &mut String, m: &Match, form: Form, family: IpFamily) {
    let ip = ip_expr(family);
    let _ = match m {
        Match::CtStateNew => write!(out, "ct state new"),
        Match::Daddr { cidr, negated } => write!(out, "{} daddr {}{}", cidr_expr(cidr), not(*negated), addr(cidr)),
        Match::Saddr { cidr, negated } => write!(out, "{} saddr {}{}", cidr_expr(cidr), not(*negated), addr(cidr)),
        Match::DaddrIn { cidrs, negated } => write!(out, "{ip} daddr {}{}", not(*negated), anonymous(cidrs, form)),
        Match::SaddrIn { cidrs, negated } => write!(out, "{ip} saddr {}{}", not(*negated), anonymous(cidrs, form)),
        Match::DaddrInSet(set) => write!(out, "{ip} daddr @{set}"),
        Match::SaddrInSet(set) => write!(out, "{ip} saddr @{set}"),
        Match::FibSaddrLocal => write!(out, "fib saddr type local"),
        Match::FibDaddrLocal => write!(out, "fib daddr type local"),
        Match::MarkUnset => match form {
            Form::Transaction => write!(out, "mark and {MASQ_MARK:#x} == 0"),
            Form::Listing => write!(out, "meta mark & {MASQ_MARK:#010x} == 0x00000000"),
        },
        Match::L4proto(p) => write!(out, "meta l4proto {}", p.as_lower()),
    };
}

fn key_expr(key: KeyKind, family: IpFamily) -> String {
    match key {
        KeyKind::AddrProtoPort => format!("{} daddr . meta l4proto . th dport", ip_expr(family)),
        KeyKind::ProtoPort => "meta l4proto . th dport".to_string(),
    }
}

/// A map's key type: `ipv4_addr . inet_proto . inet_service`.
fn key_type(key: KeyKind, family: IpFamily) -> String {
    match key {
        KeyKind::AddrProtoPort => format!("{} . inet_proto . inet_service", addr_type(family)),
        KeyKind::ProtoPort => "inet_proto . inet_service".to_string(),
    }
}

/// One statement of a rule of `family`'s table, in `form`.
pub fn write_statement(out: &mut String, s: &Statement, form: Form, family: IpFamily) {
    let _ = match s {
        Statement::Jump(c) => write!(out, "jump {c}"),
        Statement::Goto(c) => write!(out, "goto {c}"),
        Statement::Return => write!(out, "return"),
        Statement::Drop => write!(out, "drop"),
        Statement::Reject => write!(out, "reject"),
        Statement::Vmap { key, map } => write!(out, "{} vmap @{map}", key_expr(*key, family)),
        Statement::Numgen { targets } => {
            let sep = if form == Form::Transaction { " , " } else { ", " };
            let entries: Vec<String> = targets.iter().enumerate().map(|(i, t)| format!("{i} : goto {t}")).collect();
            write!(out, "numgen random mod {} vmap {{ {} }}", targets.len(), entries.join(sep))
        }
        Statement::MarkSet => match form {
            Form::Transaction => write!(out, "mark set mark or {MASQ_MARK:#x}"),
            Form::Listing => write!(out, "meta mark set meta mark | {MASQ_MARK:#010x}"),
        },
        Statement::MarkClear => match form {
            Form::Transaction => write!(out, "mark set mark xor {MASQ_MARK:#x}"),
            Form::Listing => write!(out, "meta mark set meta mark ^ {MASQ_MARK:#010x}"),
        },
        Statement::Masquerade => write!(out, "masquerade fully-random"),
        Statement::UpdateSaddr(set) => write!(out, "update @{set} {{ {} saddr }}", ip_expr(family)),
        Statement::Dnat(to) => write!(out, "dnat to {to}"),
    };
}

/// A rule's text after its chain name, in `form`.
pub fn rule_text(rule: &Rule, form: Form) -> String {
    let mut out = String::with_capacity(64);
    for m in &rule.matches {
        write_match(&mut out, m, form, rule.family);
        out.push(' ');
    }
    write_statement(&mut out, &rule.statement, form, rule.family);
    if let Some(c) = &rule.comment {
        let _ = write!(out, " comment \"{c}\"");
    }
    out
}

fn write_key(out: &mut String, key: &MapKey) {
    let _ = match key {
        MapKey::AddrProtoPort(ip, proto, port) => write!(out, "{ip} . {} . {port}", proto.as_lower()),
        MapKey::ProtoPort(proto, port) => write!(out, "{} . {port}", proto.as_lower()),
    };
}

/// A map element: `172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain`.
pub fn element_text(e: &Element) -> String {
    let mut out = String::with_capacity(64);
    write_key(&mut out, &e.key);
    if let Some(c) = &e.comment {
        let _ = write!(out, " comment \"{c}\"");
    }
    out.push_str(" : ");
    match &e.verdict {
        ElementVerdict::Goto(c) => {
            let _ = write!(out, "goto {c}");
        }
        ElementVerdict::Drop => out.push_str("drop"),
    }
    out
}

/// The order `nft list` prints a map's elements in: by the key's register bytes read as one
/// little-endian number, which for `addr . proto . port` puts the port's low byte first and
/// the address's first octet last (`docs/fidelity.md#nftables-listing`).
fn listing_order(key: &MapKey) -> Vec<u8> {
    let (ip, proto, port) = match *key {
        MapKey::AddrProtoPort(ip, proto, port) => (Some(ip), proto, port),
        MapKey::ProtoPort(proto, port) => (None, proto, port),
    };
    let mut bytes: Vec<u8> = Vec::with_capacity(24);
    if let Some(ip) = ip {
        match ip {
            IpAddr::V4(v4) => bytes.extend(v4.octets()),
            IpAddr::V6(v6) => bytes.extend(v6.octets()),
        }
    }
    bytes.extend([proto.number(), 0, 0, 0]);
    bytes.extend(port.to_be_bytes());
    bytes.extend([0, 0]);
    bytes.reverse();
    bytes
}

/// The base chain's line: `type filter hook prerouting priority dstnat - 10; policy accept;`.
fn base_line(b: &BaseChain) -> String {
    let type_ = match b.type_ {
        ChainType::Filter => "filter",
        ChainType::Nat => "nat",
    };
    format!("type {type_} hook {} priority {}; policy accept;", b.hook.as_str(), priority_name(b.hook, b.priority))
}

/// A priority as nft lists it: the nearest standard priority valid for the hook, within 10
/// (`dstnat - 10`), else the number.
fn priority_name(hook: Hook, priority: i32) -> String {
    const STANDARD: [(&str, i32); 6] =
        [("raw", -300), ("mangle", -150), ("dstnat", -100), ("filter", 0), ("security", 50), ("srcnat", 100)];
    let valid = |name: &str| match name {
        "dstnat" => hook == Hook::Prerouting,
        "srcnat" => hook == Hook::Postrouting,
        _ => true,
    };
    let mut best: Option<(&str, i32)> = None;
    for (name, value) in STANDARD.into_iter().filter(|(n, _)| valid(n)) {
        let offset = priority - value;
        let better = match best {
            None => true,
            Some((_, o)) => offset.abs() < o.abs() || (offset.abs() == o.abs() && offset > 0),
        };
        if better {
            best = Some((name, offset));
        }
    }
    match best {
        Some((name, 0)) => name.to_string(),
        Some((name, o)) if (1..=10).contains(&o) => format!("{name} + {o}"),
        Some((name, o)) if (-10..0).contains(&o) => format!("{name} - {}", -o),
        _ => priority.to_string(),
    }
}

/// A timeout as nft lists it: `3h`, `1h30m`, `10s`.
fn duration(seconds: u32) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// `nft list table ip kube-proxy`.
pub fn listing(table: &Table) -> String {
    let mut blocks: Vec<String> = Vec::new();
    for s in &table.sets {
        blocks.push(match s {
            SetOrMap::Set(set) => list_set(set, table.family),
            SetOrMap::Map(map) => list_map(map, table.family),
        });
    }
    for c in &table.chains {
        blocks.push(list_chain(c));
    }
    format!("table {} {{\n\tcomment \"rules for kube-proxy\"\n{}}}\n", table_name(table.family), blocks.join("\n"))
}

fn list_set(set: &Set, family: IpFamily) -> String {
    let mut out = format!("\tset {} {{\n\t\ttype {}\n", set.name, addr_type(family));
    match &set.kind {
        SetKind::Plain { comment } => {
            let _ = writeln!(out, "\t\tcomment \"{comment}\"");
        }
        SetKind::Affinity { timeout_seconds } => {
            let _ =
                write!(out, "\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout {}\n", duration(*timeout_seconds));
        }
    }
    if !set.elements.is_empty() {
        let mut sorted = set.elements.clone();
        crate::order::sort_by_key(&mut sorted, |ip| crate::net::to_bits(*ip));
        let items: Vec<String> = sorted.iter().map(IpAddr::to_string).collect();
        // Two addresses to a line.
        let lines: Vec<String> = items.chunks(2).map(|pair| pair.join(", ")).collect();
        let _ = writeln!(out, "\t\telements = {{ {} }}", lines.join(",\n\t\t\t     "));
    }
    out.push_str("\t}\n");
    out
}

fn list_map(map: &Map, family: IpFamily) -> String {
    let key = key_type(map.key, family);
    let mut out = format!("\tmap {} {{\n\t\ttype {key} : verdict\n\t\tcomment \"{}\"\n", map.name, map.comment);
    if !map.elements.is_empty() {
        let mut sorted: Vec<&Element> = map.elements.values().map(|e| &**e).collect();
        crate::order::sort_by_cached_key(&mut sorted, |e| listing_order(&e.key));
        let items: Vec<String> = sorted.into_iter().map(element_text).collect();
        let _ = writeln!(out, "\t\telements = {{ {} }}", items.join(",\n\t\t\t     "));
    }
    out.push_str("\t}\n");
    out
}

fn list_chain(chain: &Chain) -> String {
    let mut out = format!("\tchain {} {{\n", chain.name);
    if let Some(c) = &chain.comment {
        let _ = writeln!(out, "\t\tcomment \"{c}\"");
    }
    if let Some(b) = &chain.base {
        let _ = writeln!(out, "\t\t{}", base_line(b));
    }
    for r in &chain.rules {
        let _ = writeln!(out, "\t\t{}", rule_text(r, Form::Listing));
    }
    out.push_str("\t}\n");
    out
}

/// The transaction of a full sync: every object added and flushed, then the rules, then the
/// elements; `gone` are the Service chains and affinity sets the previous sync had and this one
/// does not, flushed and deleted at the end.
pub fn transaction(table: &Table, gone_chains: &[Name], gone_sets: &[Name]) -> String {
    #[allow(non_snake_case)]
    let TABLE = table_name(table.family);
    let addr = addr_type(table.family);
    let mut out = String::new();
    let _ = writeln!(out, "add table {TABLE} {{ comment \"rules for kube-proxy\" ; }}");
    for c in &table.chains {
        let opts = match (&c.base, &c.comment) {
            (Some(b), _) => {
                let type_ = if b.type_ == ChainType::Nat { "nat" } else { "filter" };
                format!(" {{ type {type_} hook {} priority {} ; }}", b.hook.as_str(), b.priority)
            }
            (None, Some(comment)) => format!(" {{ comment \"{comment}\" ; }}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(out, "add chain {TABLE} {}{opts}", c.name);
        let _ = writeln!(out, "flush chain {TABLE} {}", c.name);
    }
    for s in &table.sets {
        match s {
            SetOrMap::Set(set) => match &set.kind {
                SetKind::Plain { comment } => {
                    let _ = writeln!(out, "add set {TABLE} {} {{ type {addr} ; comment \"{comment}\" ; }}", set.name);
                    let _ = writeln!(out, "flush set {TABLE} {}", set.name);
                }
                SetKind::Affinity { timeout_seconds } => {
                    let _ = writeln!(
                        out,
                        "add set {TABLE} {} {{ type {addr} ; flags dynamic,timeout ; timeout {timeout_seconds}s ; }}",
                        set.name
                    );
                }
            },
            SetOrMap::Map(map) => {
                let key = key_type(map.key, table.family);
                let _ = writeln!(
                    out,
                    "add map {TABLE} {} {{ type {key} : verdict ; comment \"{}\" ; }}",
                    map.name, map.comment
                );
                let _ = writeln!(out, "flush map {TABLE} {}", map.name);
            }
        }
    }
    for c in &table.chains {
        for r in &c.rules {
            let _ = writeln!(out, "add rule {TABLE} {} {}", c.name, rule_text(r, Form::Transaction));
        }
    }
    for s in &table.sets {
        match s {
            SetOrMap::Set(set) => {
                for ip in &set.elements {
                    let _ = writeln!(out, "add element {TABLE} {} {{ {ip} }}", set.name);
                }
            }
            SetOrMap::Map(map) => {
                for e in map.elements.values() {
                    let _ = writeln!(out, "add element {TABLE} {} {{ {} }}", map.name, element_text(e));
                }
            }
        }
    }
    for c in gone_chains {
        let _ = writeln!(out, "flush chain {TABLE} {c}");
    }
    for c in gone_chains {
        let _ = writeln!(out, "delete chain {TABLE} {c}");
    }
    for s in gone_sets {
        let _ = writeln!(out, "delete set {TABLE} {s}");
    }
    out
}

/// The table as knftables' fake `Dump()` writes it: the `add` lines only, which kube-proxy's
/// `TestOverallNFTablesRules` compares after sorting.
pub fn dump(table: &Table) -> String {
    transaction(table, &[], &[]).lines().filter(|l| l.starts_with("add ")).map(|l| format!("{l}\n")).collect()
}

impl fmt::Display for Rule {
    /// The rule as `nft list` prints it, after its chain: `services: ip daddr . … vmap @service-ips`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.chain, rule_text(self, Form::Listing))
    }
}

impl fmt::Display for Element {
    /// `service-ips element 172.30.0.41 . tcp . 80 : goto service-…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} element {}", self.map, element_text(self))
    }
}
