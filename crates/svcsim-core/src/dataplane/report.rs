//! What a node's dataplane does with the first packet of a new connection over every choice its
//! random pick could make: the answer `svcsim packet` prints, for any dataplane.

use std::fmt;

use super::{Cause, Decision, Verdict};
use crate::net::SockAddr;

/// The decision for a first packet, summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPacketVerdict {
    /// A service rule DNATed it to an endpoint.
    Dnat,
    /// Dropped silently (no local endpoints, or not allowed by loadBalancerSourceRanges).
    Drop,
    /// Rejected (the Service has no endpoints).
    Reject,
    /// No service rule matched: the packet goes on unchanged.
    None,
}

impl fmt::Display for FirstPacketVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FirstPacketVerdict::Dnat => "DNAT",
            FirstPacketVerdict::Drop => "DROP",
            FirstPacketVerdict::Reject => "REJECT",
            FirstPacketVerdict::None => "NONE",
        })
    }
}

/// The report for one first packet on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPacket {
    pub verdict: FirstPacketVerdict,
    /// Every endpoint the random choice (or affinity) could pick, in rule order.
    pub endpoints: Vec<SockAddr>,
    /// True when the packet is marked for SNAT for at least one of those picks.
    pub masquerade: bool,
    /// The rules that matched, as the dataplane lists them, first-seen order over all picks.
    pub rules: Vec<String>,
    /// The comment of the DROP or REJECT rule.
    pub reason: Option<String>,
}

impl FirstPacket {
    /// Folds the decisions of every pick into one report.
    pub fn of(decisions: &[Decision]) -> FirstPacket {
        let mut report = FirstPacket {
            verdict: FirstPacketVerdict::None,
            endpoints: Vec::new(),
            masquerade: false,
            rules: Vec::new(),
            reason: None,
        };
        for d in decisions {
            match &d.verdict {
                Verdict::Drop(cause) | Verdict::Reject(cause) => {
                    report.verdict = d.summary();
                    report.reason = Some(match cause {
                        Cause::Rule => d.path.reason().to_string(),
                        Cause::JumpLoop(chain) => jump_loop_message(chain),
                    });
                }
                Verdict::Accept => {
                    if let Some(to) = d.dnat {
                        report.verdict = FirstPacketVerdict::Dnat;
                        if !report.endpoints.contains(&to) {
                            report.endpoints.push(to);
                        }
                    }
                }
            }
            // Marked for SNAT: masqueraded on the way out, or marked before local delivery.
            report.masquerade |= d.snat.is_some() || d.marked;
            for rule in d.path.rules() {
                let line = rule.to_string();
                if !report.rules.contains(&line) {
                    report.rules.push(line);
                }
            }
        }
        report
    }
}

/// What a jump loop is called wherever it is reported.
pub(crate) fn jump_loop_message(chain: &str) -> String {
    format!("jump loop through {chain}: the kernel would refuse this table (ELOOP)")
}
