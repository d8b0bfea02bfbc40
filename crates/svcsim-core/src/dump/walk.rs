//! What the two dump walks share: how a chain ends, the packet a walk rewrites (its NAT, mark
//! and the rules it met), the picks it made at random matches or `numgen`, replayed to find
//! every path, and the decision a walk ends in.

use std::net::IpAddr;

use super::Walked;
use crate::dataplane::{Cause, Decision, Delivery, RulePath, RuleRef, Verdict};
use crate::net::{Header, SockAddr};

/// How a chain (or a hook) ended for the packet.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Fell off the chain's end, or returned.
    Return,
    Accept,
    Drop,
    Reject,
    Undecided(String),
}

/// `Some` when a hook ended the packet's walk.
pub fn stop(end: End) -> Option<End> {
    match end {
        End::Accept | End::Return => None,
        other => Some(other),
    }
}

/// At most this many paths (an iptables cascade of 63 endpoints, a `numgen` of 64).
const MAX_WALKS: usize = 64;

/// The picks one walk makes, in the order met, each (pick, out of): a prefix to replay, then
/// the first choice (0) at every pick beyond it.
#[derive(Debug, Default)]
pub struct Picks {
    made: Vec<(u32, u32)>,
    at: usize,
}

impl Picks {
    /// A pick among `of` choices.
    pub fn pick(&mut self, of: u32) -> u32 {
        let k = self.made.get(self.at).map_or(0, |c| c.0);
        if self.at == self.made.len() {
            self.made.push((k, of));
        }
        self.at += 1;
        k
    }
}

/// Every path: `one` walks with the picks given and hands them back as it made them; each pick
/// made beyond the replayed prefix is then tried with each other choice.
pub fn every_path(mut one: impl FnMut(Picks) -> (Walked, Picks)) -> Vec<Walked> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<(u32, u32)>> = vec![Vec::new()];
    while let Some(prefix) = todo.pop() {
        if out.len() == MAX_WALKS {
            break;
        }
        let replayed = prefix.len();
        let (walked, mut picks) = one(Picks { made: prefix, at: 0 });
        picks.made.truncate(picks.at);
        for j in (replayed..picks.made.len()).rev() {
            for k in (1..picks.made[j].1).rev() {
                let mut next = picks.made[..j].to_vec();
                next.push((k, picks.made[j].1));
                todo.push(next);
            }
        }
        out.push(walked);
    }
    out
}

/// The packet as a walk rewrites it, and the rules it met.
#[derive(Debug)]
pub struct Packet {
    pub before: Header,
    pub header: Header,
    pub mark: u32,
    pub dnat: Option<SockAddr>,
    pub snat: Option<IpAddr>,
    pub masquerade: bool,
    pub path: Vec<RuleRef>,
}

impl Packet {
    pub fn new(header: Header) -> Packet {
        Packet { before: header, header, mark: 0, dnat: None, snat: None, masquerade: false, path: Vec::new() }
    }
    pub fn dnat_to(&mut self, to: SockAddr) {
        self.dnat = Some(to);
        self.header.dst = to;
    }
    /// MASQUERADE or SNAT: to `ip` when known (MASQUERADE's is the first `--node-ip`).
    pub fn snat_to(&mut self, ip: Option<IpAddr>) {
        self.masquerade = true;
        if let Some(ip) = ip {
            self.snat = Some(ip);
            self.header.src.ip = ip;
        }
    }
    /// The walk's answer, once it ended with `end`.
    pub fn finish(self, end: End, delivery: Delivery) -> Walked {
        let verdict = match &end {
            End::Drop => Verdict::Drop(Cause::Rule),
            End::Reject => Verdict::Reject(Cause::Rule),
            _ => Verdict::Accept,
        };
        let decision = Decision {
            before: self.before,
            after: self.header,
            verdict,
            delivery,
            dnat: self.dnat,
            snat: self.snat,
            marked: self.masquerade,
            path: RulePath::new(self.path),
            dsr: None,
        };
        Walked { decision, undecided: if let End::Undecided(why) = end { Some(why) } else { None } }
    }
}
