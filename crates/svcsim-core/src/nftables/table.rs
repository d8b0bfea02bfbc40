//! kube-proxy's nftables table as data: chains with their hooks, rules made of matches and one
//! statement, named sets, and verdict maps whose elements are rules of their own. Rendering is
//! in `text.rs`; the walk of a packet in `eval.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

use crate::net::{IpCidr, IpFamily, Protocol, SockAddr};

/// The masquerade mark: `masqueradeBit` 14, which kube-proxy writes as `0x4000`.
pub const MASQ_MARK: u32 = 0x4000;

/// A chain, set or map name: the interned name type the iptables model uses too, which carries
/// its hash and compares equal names by pointer, so a walk that follows a jump or looks up a map
/// never compares strings.
pub type Name = crate::kube_proxy::ChainName;

/// Names to positions, hashed by the hash each name carries.
type NameIndex = indexmap::IndexMap<Name, usize, std::hash::BuildHasherDefault<crate::kube_proxy::ChainHasher>>;

/// A netfilter hook a base chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

/// A base chain's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainType {
    Filter,
    Nat,
}

/// What makes a chain a base chain: its type, hook and priority (lower runs first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseChain {
    pub type_: ChainType,
    pub hook: Hook,
    pub priority: i32,
}

/// The standard priorities, as nft names them (`dstnat` −100, `filter` 0, `srcnat` 100).
pub mod priority {
    pub const DSTNAT: i32 = -100;
    pub const FILTER: i32 = 0;
    pub const SRCNAT: i32 = 100;
}

/// One chain: its rules in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: Name,
    pub base: Option<BaseChain>,
    pub comment: Option<Rc<str>>,
    pub rules: Vec<Rc<Rule>>,
}

/// One rule: every match must hold, then the statement runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The family of its table: `ip` or `ip6` in the text of its address matches.
    pub family: IpFamily,
    /// The chain that holds the rule.
    pub chain: Name,
    pub matches: Vec<Match>,
    pub statement: Statement,
    pub comment: Option<Rc<str>>,
}

/// A condition on the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `ct state new`: always true for a connection's first packet.
    CtStateNew,
    /// `ip daddr X` / `ip daddr != X`.
    Daddr { cidr: IpCidr, negated: bool },
    /// `ip saddr X` / `ip saddr != X`.
    Saddr { cidr: IpCidr, negated: bool },
    /// `ip daddr { A , B }` (an anonymous set).
    DaddrIn { cidrs: Vec<IpCidr>, negated: bool },
    /// `ip saddr != { A , B }`.
    SaddrIn { cidrs: Vec<IpCidr>, negated: bool },
    /// `ip daddr @set`.
    DaddrInSet(Name),
    /// `ip saddr @set` (a session-affinity set).
    SaddrInSet(Name),
    /// `fib saddr type local`: the source is one of the node's own addresses.
    FibSaddrLocal,
    /// `fib daddr type local`: the destination is one of the node's own addresses.
    FibDaddrLocal,
    /// `mark and 0x4000 == 0`: the packet was not marked for masquerade.
    MarkUnset,
    /// `meta l4proto tcp`.
    L4proto(Protocol),
}

/// A verdict map's key: what the packet is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `ip daddr . meta l4proto . th dport`.
    AddrProtoPort,
    /// `meta l4proto . th dport`.
    ProtoPort,
}

/// What a rule does once its matches hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Jump(Name),
    Goto(Name),
    Return,
    Drop,
    Reject,
    /// `… vmap @map`: the element found decides; none found, the rule does not match.
    Vmap {
        key: KeyKind,
        map: Name,
    },
    /// `numgen random mod N vmap { 0 : goto A , 1 : goto B … }`.
    Numgen {
        targets: Vec<Name>,
    },
    /// `mark set mark or 0x4000`.
    MarkSet,
    /// `mark set mark xor 0x4000`.
    MarkClear,
    /// `masquerade fully-random`.
    Masquerade,
    /// `update @set { ip saddr }`.
    UpdateSaddr(Name),
    /// `dnat to 10.180.0.1:80`.
    Dnat(SockAddr),
}

impl Statement {
    /// The chain this statement can send the packet to, if any.
    pub fn target(&self) -> Option<&Name> {
        match self {
            Statement::Jump(c) | Statement::Goto(c) => Some(c),
            _ => None,
        }
    }
}

/// A named set of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: Name,
    pub kind: SetKind,
    pub elements: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetKind {
    /// A plain `ipv4_addr` set with a comment.
    Plain { comment: Rc<str> },
    /// A session-affinity set: `flags dynamic,timeout ; timeout <N>s`, filled by the packets.
    Affinity { timeout_seconds: u32 },
}

/// A verdict map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    pub name: Name,
    pub key: KeyKind,
    pub comment: Rc<str>,
    pub elements: BTreeMap<MapKey, Rc<Element>>,
}

/// One key of a verdict map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MapKey {
    /// `172.30.0.41 . tcp . 80`.
    AddrProtoPort(IpAddr, Protocol, u16),
    /// `tcp . 3001`.
    ProtoPort(Protocol, u16),
}

/// A map element's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementVerdict {
    Goto(Name),
    Drop,
}

/// One element of a verdict map: a rule of its own in a packet's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub map: Name,
    pub key: MapKey,
    pub comment: Option<Rc<str>>,
    pub verdict: ElementVerdict,
}

/// The table `ip kube-proxy` (or `ip6 kube-proxy`) on one node, in the order kube-proxy created
/// its objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// `ip` or `ip6`: the family of every address in it.
    pub family: IpFamily,
    /// Sets and maps, in creation order.
    pub sets: Vec<SetOrMap>,
    pub chains: Vec<Rc<Chain>>,
    chain_index: NameIndex,
    /// The base chains' indices, by hook and priority.
    base: Vec<usize>,
    set_index: NameIndex,
}

/// A set or a map, as the table lists them: in one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOrMap {
    Set(Set),
    Map(Map),
}

impl SetOrMap {
    pub fn name(&self) -> &Name {
        match self {
            SetOrMap::Set(s) => &s.name,
            SetOrMap::Map(m) => &m.name,
        }
    }
}

impl Table {
    /// The chain named `name`.
    pub fn chain(&self, name: &Name) -> Option<&Rc<Chain>> {
        self.chain_index.get(name).map(|&i| &self.chains[i])
    }
    /// The chain named `name`, to add rules to.
    pub fn chain_mut(&mut self, name: &Name) -> Option<&mut Chain> {
        let i = *self.chain_index.get(name)?;
        Some(Rc::make_mut(&mut self.chains[i]))
    }
    /// Adds `chain`, or replaces the one of the same name in place.
    pub fn add_chain(&mut self, chain: Rc<Chain>) {
        match self.chain_index.get(&chain.name) {
            Some(&i) => {
                self.chains[i] = chain;
                self.index_base_chains();
            }
            None => {
                self.chain_index.insert(chain.name.clone(), self.chains.len());
                let base = chain.base.is_some();
                self.chains.push(chain);
                if base {
                    self.index_base_chains();
                }
            }
        }
    }
    /// Adds a set or map; one already there of the same name is kept.
    pub fn add_set(&mut self, set: SetOrMap) {
        if !self.set_index.contains_key(set.name()) {
            self.set_index.insert(set.name().clone(), self.sets.len());
            self.sets.push(set);
        }
    }
    pub fn set(&self, name: &Name) -> Option<&Set> {
        match self.set_index.get(name).map(|&i| &self.sets[i]) {
            Some(SetOrMap::Set(s)) => Some(s),
            _ => None,
        }
    }
    pub fn set_mut(&mut self, name: &Name) -> Option<&mut Set> {
        match self.set_index.get(name).map(|&i| &mut self.sets[i]) {
            Some(SetOrMap::Set(s)) => Some(s),
            _ => None,
        }
    }
    pub fn map(&self, name: &Name) -> Option<&Map> {
        match self.set_index.get(name).map(|&i| &self.sets[i]) {
            Some(SetOrMap::Map(m)) => Some(m),
            _ => None,
        }
    }
    pub fn map_mut(&mut self, name: &Name) -> Option<&mut Map> {
        match self.set_index.get(name).map(|&i| &mut self.sets[i]) {
            Some(SetOrMap::Map(m)) => Some(m),
            _ => None,
        }
    }
    /// Adds `element` to its map.
    ///
    /// # Panics
    /// If the map does not exist: kube-proxy creates every map before it fills any.
    pub fn add_element(&mut self, element: Element) {
        let map = self.map_mut(&element.map).expect("maps are created before their elements");
        map.elements.insert(element.key, Rc::new(element));
    }
    /// The base chains on `hook`, in the order the kernel runs them (by priority).
    pub fn base_chains(&self, hook: Hook) -> impl Iterator<Item = &Rc<Chain>> {
        self.base.iter().map(|&i| &self.chains[i]).filter(move |c| c.base.is_some_and(|b| b.hook == hook))
    }
    /// Indexes the base chains by (hook, priority): every packet's walk starts there.
    fn index_base_chains(&mut self) {
        let mut base: Vec<usize> = (0..self.chains.len()).filter(|&i| self.chains[i].base.is_some()).collect();
        crate::order::sort_by_key(&mut base, |&i| self.chains[i].base.map(|b| (b.hook, b.priority)));
        self.base = base;
    }
    /// How many rules, set elements and map elements the table holds.
    pub fn len(&self) -> usize {
        let rules: usize = self.chains.iter().map(|c| c.rules.len()).sum();
        let elements: usize = self
            .sets
            .iter()
            .map(|s| match s {
                SetOrMap::Set(s) => s.elements.len(),
                SetOrMap::Map(m) => m.elements.len(),
            })
            .sum();
        rules + elements
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reorders the chains and sets the way the kernel keeps them when this table is written over
    /// `previous`: what existed keeps its place, what is new follows in creation order.
    pub fn keep_order_of(&mut self, previous: &Table) {
        let rank = |index: &NameIndex, name: &Name, own: usize| match index.get(name) {
            Some(&i) => (0, i),
            None => (1, own),
        };
        let mut chains: Vec<(usize, Rc<Chain>)> = std::mem::take(&mut self.chains).into_iter().enumerate().collect();
        crate::order::sort_by_cached_key(&mut chains, |(own, c)| rank(&previous.chain_index, &c.name, *own));
        let mut sets: Vec<(usize, SetOrMap)> = std::mem::take(&mut self.sets).into_iter().enumerate().collect();
        crate::order::sort_by_cached_key(&mut sets, |(own, s)| rank(&previous.set_index, s.name(), *own));
        self.chains = chains.into_iter().map(|(_, c)| c).collect();
        self.sets = sets.into_iter().map(|(_, s)| s).collect();
        self.chain_index = self.chains.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        self.index_base_chains();
        self.set_index = self.sets.iter().enumerate().map(|(i, s)| (s.name().clone(), i)).collect();
    }
    /// The names of the chains that hold a Service's rules (their names contain `/`).
    pub fn service_chains(&self) -> impl Iterator<Item = &Name> {
        self.chains.iter().map(|c| &c.name).filter(|n| is_service_chain(n.as_str()))
    }
}

/// `isServiceChainName`: kube-proxy's per-Service chains are the ones whose names contain `/`.
pub fn is_service_chain(name: &str) -> bool {
    name.contains('/')
}
