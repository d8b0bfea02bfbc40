//! What one node's rules do with the first packet of a new TCP connection, over every choice the
//! random cascade could make: the answer `svcsim packet` prints.

use std::fmt;
use std::net::SocketAddrV4;

use super::eval::{NodeNet, Origin, Verdict, every_outcome};
use super::program::program;
use super::rules::Ruleset;
use crate::cluster::{Cluster, NodeId};
use crate::net::Header;

/// The decision for a first packet.
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
    /// Every endpoint the cascade (or affinity) could pick, in rule order.
    pub endpoints: Vec<SocketAddrV4>,
    /// True when the packet is marked for SNAT for at least one of those picks.
    pub masquerade: bool,
    /// The rules that matched, `-t <table> -A <chain> …`, first-seen order over all picks.
    pub rules: Vec<String>,
    /// The comment of the DROP or REJECT rule.
    pub reason: Option<String>,
}

/// Evaluates the first packet `src → dst` on `node` as kube-proxy has programmed it for
/// `cluster` (which must be allocated). The source is the node itself when it is the node's IP
/// (nat OUTPUT), otherwise a pod or an external client arriving on the node (nat PREROUTING).
pub fn first_packet(cluster: &Cluster, node: NodeId, src: SocketAddrV4, dst: SocketAddrV4) -> FirstPacket {
    first_packet_on(&program(cluster, node), &NodeNet::of(cluster, node), src, dst)
}

/// [`first_packet`] against rules already programmed (a running simulation's, at some time).
pub fn first_packet_on(rules: &Ruleset, net: &NodeNet, src: SocketAddrV4, dst: SocketAddrV4) -> FirstPacket {
    let origin = if *src.ip() == net.node_ip { Origin::Host } else { Origin::Routed };
    let walks = every_outcome(rules, net, origin, Header::new(src, dst));
    let mut report = FirstPacket {
        verdict: FirstPacketVerdict::None,
        endpoints: Vec::new(),
        masquerade: false,
        rules: Vec::new(),
        reason: None,
    };
    for walk in &walks {
        match &walk.verdict {
            Verdict::Drop { reason } => {
                report.verdict = FirstPacketVerdict::Drop;
                report.reason = Some(reason.clone());
            }
            Verdict::Reject { reason } => {
                report.verdict = FirstPacketVerdict::Reject;
                report.reason = Some(reason.clone());
            }
            Verdict::Accept => {
                if let Some(to) = walk.dnat {
                    report.verdict = FirstPacketVerdict::Dnat;
                    if !report.endpoints.contains(&to) {
                        report.endpoints.push(to);
                    }
                }
            }
        }
        // Marked for SNAT: masqueraded on the way out, or marked before local delivery.
        report.masquerade |= walk.masqueraded || walk.marked;
        for hit in &walk.hits {
            let line = hit.to_string();
            if !report.rules.contains(&line) {
                report.rules.push(line);
            }
        }
    }
    report
}
