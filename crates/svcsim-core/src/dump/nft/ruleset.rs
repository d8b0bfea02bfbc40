//! An `nft list ruleset` listing as data: tables of a family, their chains (a base chain with its
//! type, hook, priority and policy), named sets and verdict maps, and each rule as the sequence
//! of expressions nft evaluates left to right. What svcsim does not evaluate is kept as text, by
//! name, for the walk to report.

use std::net::IpAddr;

use crate::net::IpCidr;

/// The families `nft` lists tables of.
pub const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// A table's family: which packets its base chains see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ip,
    Ip6,
    Inet,
    /// `arp`, `bridge` and `netdev`: hooks an IP packet's routed walk does not pass.
    Other,
}

impl Family {
    pub fn of(word: &str) -> Option<Family> {
        Some(match word {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "arp" | "bridge" | "netdev" => Family::Other,
            _ => return None,
        })
    }
    /// Whether a packet of this IP version passes this family's hooks.
    pub fn sees(self, v6: bool) -> bool {
        match self {
            Family::Ip => !v6,
            Family::Ip6 => v6,
            Family::Inet => true,
            Family::Other => false,
        }
    }
}

/// A hook an IP packet passes (`ingress` and `egress` are `netdev`'s and not walked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Other,
}

impl Hook {
    pub fn of(word: &str) -> Hook {
        match word {
            "prerouting" => Hook::Prerouting,
            "input" => Hook::Input,
            "forward" => Hook::Forward,
            "output" => Hook::Output,
            "postrouting" => Hook::Postrouting,
            _ => Hook::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainType {
    Filter,
    Nat,
    /// `type route`: an output chain after which the kernel routes again; walked as a filter.
    Route,
}

/// What makes a chain a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base {
    pub type_: ChainType,
    pub hook: Hook,
    pub priority: i32,
    pub policy_drop: bool,
}

impl Base {
    /// Where the chain runs among the hook's others. A nat chain runs inside netfilter's NAT
    /// hook, which sits at `dstnat` (−100) in prerouting and output and at `srcnat` (100) in
    /// input and postrouting whatever the chain's own priority, which orders only the nat
    /// chains among themselves (`nf_nat_register_fn`, docs/fidelity.md#nftables-dumps).
    pub fn runs_at(&self) -> (i32, i32) {
        match (self.type_, self.hook) {
            (ChainType::Nat, Hook::Prerouting | Hook::Output) => (-100, self.priority),
            (ChainType::Nat, _) => (100, self.priority),
            _ => (self.priority, 0),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub family: Family,
    /// `ip`, `inet`…, as written.
    pub family_name: String,
    pub name: String,
    /// `flags dormant`: the table's hooks are not registered.
    pub dormant: bool,
    pub chains: Vec<Chain>,
    pub sets: Vec<Set>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub name: String,
    pub base: Option<Base>,
    pub rules: Vec<Rule>,
    pub line: usize,
}

/// A named set or map. A map to verdicts has a verdict on each element; a map to data (`type
/// ipv4_addr : ipv4_addr`) is kept but not looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub name: String,
    /// Each key component's kind; `None` for one svcsim does not read.
    pub key: Vec<Option<Kind>>,
    pub is_map: bool,
    pub verdict_map: bool,
    pub elements: Vec<Element>,
}

/// One element of a set or map: its key (a value per concatenated component) and, in a verdict
/// map, its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub key: Vec<Val>,
    pub verdict: Option<Verdict>,
    pub comment: Option<String>,
    /// The element as listed (`10.0.0.10 . tcp . 80 : goto service-…`).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub line: usize,
    /// The rule as listed.
    pub text: String,
    pub comment: Option<String>,
    pub exprs: Vec<Expr>,
}

impl Rule {
    /// The chain a `jump`, `goto` or element verdict of this rule names, if one does.
    pub fn jump(&self) -> Option<&str> {
        self.exprs.iter().find_map(|e| match e {
            Expr::Stmt(Stmt::Verdict(Verdict::Jump(c) | Verdict::Goto(c))) => Some(c.as_str()),
            _ => None,
        })
    }
}

/// A rule's expressions, evaluated in order: a match that fails ends the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Match(Match),
    Stmt(Stmt),
}

/// What a packet's field is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `ip saddr` (`v6: false`) or `ip6 saddr`: a packet of the other version does not match.
    Saddr {
        v6: bool,
    },
    Daddr {
        v6: bool,
    },
    /// `meta l4proto`, `ip protocol`.
    L4proto,
    /// `tcp sport` (`proto: Some(6)`, which also requires TCP) or `th sport`.
    Sport {
        proto: Option<u8>,
    },
    Dport {
        proto: Option<u8>,
    },
    Iifname,
    Oifname,
    Iif,
    Oif,
    Mark,
    CtState,
    CtStatus,
    Nfproto,
    /// `fib saddr type`: `local` when the address is the node's own.
    FibSaddrType,
    FibDaddrType,
}

impl Field {
    /// How a value compared with this field is written.
    pub fn kind(self) -> Kind {
        match self {
            Field::Saddr { .. } | Field::Daddr { .. } => Kind::Addr,
            Field::L4proto => Kind::Proto,
            Field::Sport { .. } | Field::Dport { .. } => Kind::Port,
            Field::Iifname | Field::Oifname | Field::Iif | Field::Oif => Kind::Iface,
            Field::Mark => Kind::Int,
            Field::CtState | Field::CtStatus | Field::Nfproto | Field::FibSaddrType | Field::FibDaddrType => Kind::Flag,
        }
    }
}

/// How a value is written: what a set's `type` or a field decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Addr,
    Proto,
    Port,
    Iface,
    Int,
    Flag,
}

impl Kind {
    /// A set's `type` component (`ipv4_addr`, `inet_service`…).
    pub fn of_type(name: &str) -> Option<Kind> {
        Some(match name {
            "ipv4_addr" | "ipv6_addr" => Kind::Addr,
            "inet_proto" => Kind::Proto,
            "inet_service" => Kind::Port,
            "ifname" | "iface_index" => Kind::Iface,
            "mark" => Kind::Int,
            "ct_state" | "ct_status" | "nf_proto" | "fib_addrtype" => Kind::Flag,
            _ => return None,
        })
    }
}

/// A value on the rule's side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Cidr(IpCidr),
    AddrRange(IpAddr, IpAddr),
    Ports(u16, u16),
    Proto(u8),
    /// An interface name; `eth*` matches every name starting `eth`.
    Iface(String),
    Ints(u32, u32),
    Flag(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// One value per concatenated field; flags listed `a,b` hold when any does.
    One(Vec<Vec<Val>>),
    /// `{ a, b }`: an anonymous set.
    Set(Vec<Vec<Val>>),
    /// `@name`.
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    Cmp {
        fields: Vec<Field>,
        op: Op,
        rhs: Rhs,
    },
    /// `meta mark & 0x00004000 == 0x00000000`.
    Masked {
        mask: u32,
        op: Op,
        value: u32,
    },
    /// True or false whatever the packet (`limit rate`: a first packet is within any limit).
    Const(bool),
    /// An expression svcsim does not evaluate, as written.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    Return,
    Continue,
    Jump(String),
    Goto(String),
}

/// A map looked up by a rule: named, or written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum MapRef {
    Named(String),
    Anon(Vec<Element>),
}

/// How `meta mark set` combines the mark with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    Set,
    Or,
    Xor,
    And,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Verdict(Verdict),
    /// `<fields> vmap <map>`: the element found decides; none found, the rule ends.
    Vmap {
        fields: Vec<Field>,
        map: MapRef,
    },
    /// `numgen random mod N vmap { 0 : goto A, … }`.
    Numgen {
        modulus: u32,
        offset: u32,
        map: Vec<Element>,
    },
    Masquerade,
    Snat(Option<IpAddr>),
    Dnat {
        ip: Option<IpAddr>,
        port: Option<u16>,
    },
    Redirect(Option<u16>),
    MarkSet {
        op: BitOp,
        value: u32,
    },
    /// `update @set { ip saddr … }`: session affinity, which a first packet only fills.
    Update(String),
    /// `counter`, `log`, `notrack`…: nothing a first packet's verdict or NAT depends on.
    Pass,
    /// A statement svcsim does not evaluate, as written.
    Unknown(String),
}
