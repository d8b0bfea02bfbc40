//! References to a dataplane's own rules: what a first packet's path is made of. Each dataplane
//! defines its rules; the record keeps them behind [`RuleRef`] and renders them through
//! [`Rule`], so it never needs to know which dataplane wrote them.

use std::fmt;
use std::rc::Rc;

/// One rule (or set element, or map entry) of a dataplane, as it acted on a packet.
///
/// `Debug` is not a supertrait on purpose: in a `dyn Rule` vtable it would keep every
/// dataplane's derived `Debug` code in the wasm bundle. `dyn Rule` prints its native form for
/// both `Display` and `Debug`.
pub trait Rule {
    /// The rule as the dataplane's own tools list it: `-t nat -A KUBE-SERVICES …` for iptables.
    fn fmt_native(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    /// The comment the dataplane wrote on the rule, if any.
    fn comment(&self) -> Option<&str>;
    /// The names this rule adds to a packet's path in the trace's `via A > B`: the chain that
    /// holds it and the chain it sends the packet to, each when it is part of the story (not
    /// a built-in hook or a helper).
    fn path_names(&self) -> [Option<&str>; 2];
    /// The rule in words for `svcsim explain` (`"<comment>" in <chain> → <target>`), or `None`
    /// for plumbing that a teacher would skip.
    fn narrate(&self) -> Option<String>;
    /// The rule as the node's listing tool prints it, where it is: (table, the rule) —
    /// `("nat", "-A KUBE-SERVICES -d 10.0.0.1/32 -p tcp …")` for iptables-save. What the kernel's
    /// trace of a packet names, so the two can be compared; `None` for what the trace does not
    /// name (an nftables map element: the trace names the rule that looked it up).
    fn listed(&self) -> Option<(&'static str, String)>;
}

/// A shared reference to a rule; cloning it is a reference-count increment.
pub type RuleRef = Rc<dyn Rule>;

impl fmt::Display for dyn Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_native(f)
    }
}

impl fmt::Debug for dyn Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_native(f)
    }
}

/// The rules a first packet met, in the order they fired. Cheap to clone and to keep empty.
#[derive(Clone, Default)]
pub struct RulePath(Option<Rc<[RuleRef]>>);

impl RulePath {
    pub fn new(rules: Vec<RuleRef>) -> RulePath {
        if rules.is_empty() { RulePath(None) } else { RulePath(Some(rules.into())) }
    }
    pub fn rules(&self) -> &[RuleRef] {
        self.0.as_deref().unwrap_or(&[])
    }
    pub fn is_empty(&self) -> bool {
        self.rules().is_empty()
    }
    /// The rule that decided a drop or a refusal: the last that fired.
    pub fn last(&self) -> Option<&RuleRef> {
        self.rules().last()
    }
    /// Why the packet was dropped or refused, in the dataplane's words: the comment of the last
    /// rule that has one (an nftables drop may end in a comment-less rule after the map element
    /// that carries the Service's name).
    pub fn reason(&self) -> &str {
        self.rules().iter().rev().find_map(|r| r.comment()).unwrap_or_default()
    }
    /// ` via KUBE-SERVICES > KUBE-EXT-… > KUBE-SVC-…`, or nothing when no rule named a chain.
    pub fn via(&self) -> Via<'_> {
        Via(self)
    }
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.rules().iter().flat_map(|r| r.path_names()).flatten() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// The path as the trace appends it to a hop: ` via A > B`, or nothing.
pub struct Via<'a>(&'a RulePath);

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.0.names();
        if names.is_empty() { Ok(()) } else { write!(f, " via {}", names.join(" > ")) }
    }
}

impl fmt::Debug for RulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rules().iter().map(|r| r.to_string())).finish()
    }
}

/// Two paths are equal when they list the same rules, as their dataplane renders them.
impl PartialEq for RulePath {
    fn eq(&self, other: &RulePath) -> bool {
        let (a, b) = (self.rules(), other.rules());
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Rc::ptr_eq(x, y) || x.to_string() == y.to_string())
    }
}

impl Eq for RulePath {}
