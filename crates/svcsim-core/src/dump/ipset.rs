//! Reading `ipset save` output, for the `-m set --match-set` matches of a dumped ruleset: the
//! set types kube-proxy's IPVS mode and CNIs write (`hash:ip`, `hash:net`, `hash:ip,port`,
//! `hash:ip,port,ip`, `hash:ip,port,net`, `bitmap:port`). A set of another type is known by name
//! and type, and a match against it is reported as one svcsim cannot decide.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::DumpError;
use crate::net::{IpCidr, Protocol};

/// One member: the parts of the packet it names, in the set type's order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Ip(IpCidr),
    Port(Option<Protocol>, u16),
}

/// A set: its type's dimensions and its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    pub kind: String,
    members: Vec<Vec<Part>>,
}

/// Every set of an `ipset save` dump, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipsets {
    pub sets: BTreeMap<String, Set>,
}

/// What `-m set` asks of one dimension: an address, or a port with its protocol.
#[derive(Debug, Clone, Copy)]
pub enum Asked {
    Ip(IpAddr),
    Port(Protocol, u16),
}

impl Ipsets {
    pub fn parse(text: &str) -> Result<Ipsets, Vec<DumpError>> {
        let mut out = Ipsets::default();
        let mut errors = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let line = i + 1;
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [] => {}
                [c, ..] if c.starts_with('#') => {}
                ["create", name, kind, ..] => {
                    out.sets.insert(name.to_string(), Set { kind: kind.to_string(), members: Vec::new() });
                }
                ["add", name, member, ..] => {
                    let Some(set) = out.sets.get_mut(*name) else {
                        errors.push(DumpError { line, message: format!("add to {name}, which no create line made") });
                        continue;
                    };
                    match member_parts(&set.kind, member) {
                        Some(parts) => set.members.push(parts),
                        None if known(&set.kind) => errors.push(DumpError {
                            line,
                            message: format!("{member:?} is not a member of a {} set", set.kind),
                        }),
                        None => {}
                    }
                }
                _ => errors.push(DumpError { line, message: format!("{l:?} is not ipset save output (create, add)") }),
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(errors) }
    }

    /// Whether `asked` is in set `name`: `None` when there is no such set, or svcsim does not
    /// read its type.
    pub fn contains(&self, name: &str, asked: &[Asked]) -> Option<bool> {
        let set = self.sets.get(name)?;
        if !known(&set.kind) {
            return None;
        }
        Some(
            set.members.iter().any(|m| m.len() == asked.len() && m.iter().zip(asked).all(|(p, a)| part_matches(p, *a))),
        )
    }

    /// How many dimensions a set's type has (`hash:ip,port` has 2).
    pub fn dimensions(&self, name: &str) -> Option<usize> {
        let set = self.sets.get(name)?;
        Some(set.kind.split_once(':')?.1.split(',').count())
    }
}

fn known(kind: &str) -> bool {
    matches!(kind, "hash:ip" | "hash:net" | "hash:ip,port" | "hash:ip,port,ip" | "hash:ip,port,net" | "bitmap:port")
}

fn member_parts(kind: &str, member: &str) -> Option<Vec<Part>> {
    let dims: Vec<&str> = kind.split_once(':')?.1.split(',').collect();
    let values: Vec<&str> = member.split(',').collect();
    if dims.len() != values.len() {
        return None;
    }
    dims.iter()
        .zip(values)
        .map(|(d, v)| match *d {
            "ip" | "net" => {
                v.parse::<IpCidr>().ok().or_else(|| v.parse::<IpAddr>().ok().map(IpCidr::host)).map(Part::Ip)
            }
            "port" => {
                let (proto, port) = match v.split_once(':') {
                    Some((p, n)) => (Some(protocol(p)?), n),
                    None => (None, v),
                };
                Some(Part::Port(proto, port.parse().ok()?))
            }
            _ => None,
        })
        .collect()
}

fn protocol(s: &str) -> Option<Protocol> {
    match s {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

fn part_matches(p: &Part, a: Asked) -> bool {
    match (p, a) {
        (Part::Ip(c), Asked::Ip(ip)) => c.contains(ip),
        (Part::Port(proto, n), Asked::Port(ap, an)) => *n == an && proto.is_none_or(|p| p == ap),
        _ => false,
    }
}
