//! One step of Cilium's datapath as a packet met it: the program (or tail call) that ran and
//! the map entry it read or wrote. A decision's path is a list of these, rendered through the
//! seam's [`Rule`](crate::dataplane::Rule) like any dataplane's rules.

use std::fmt;
use std::rc::Rc;

use crate::dataplane::{Rule, RuleRef};

/// A program step: where it ran, what it did, and for a drop or refusal, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The BPF program or function: `cil_from_netdev`, `nodeport_lb4`, `lb4_local`, …
    pub program: &'static str,
    /// What it did, with the map entry it used: `cilium_lb4_services_v2 203.0.113.10:80/TCP (0)
    /// [LoadBalancer] → 2 backends, rev-NAT 3`.
    pub detail: String,
    /// Why the packet went no further (Cilium's drop reason text), for the last step of a drop.
    pub reason: Option<String>,
    /// Whether `svcsim explain` tells this step (false for plumbing).
    pub told: bool,
}

impl Step {
    pub fn new(program: &'static str, detail: impl Into<String>) -> Step {
        Step { program, detail: detail.into(), reason: None, told: true }
    }
    /// A step explain leaves out.
    pub fn plumbing(program: &'static str, detail: impl Into<String>) -> Step {
        Step { told: false, ..Step::new(program, detail) }
    }
    /// A step that ended the packet, with Cilium's words for why.
    pub fn ends(mut self, reason: impl Into<String>) -> Step {
        self.reason = Some(reason.into());
        self
    }
    pub fn into_ref(self) -> RuleRef {
        Rc::new(self)
    }
}

impl Rule for Step {
    /// `nodeport_lb4: cilium_lb4_services_v2 203.0.113.10:80/TCP (0) [LoadBalancer] …`
    fn fmt_native(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.program, self.detail)
    }
    fn comment(&self) -> Option<&str> {
        self.reason.as_deref()
    }
    fn path_names(&self) -> [Option<&str>; 2] {
        [Some(self.program), None]
    }
    fn narrate(&self) -> Option<String> {
        self.told.then(|| format!("{}: {}", self.program, self.detail))
    }
    fn listed(&self) -> Option<(&'static str, String)> {
        None
    }
}
