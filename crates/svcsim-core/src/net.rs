//! Wire-level vocabulary: IPv4 CIDRs, socket addresses and packet headers, each with `Display`
//! in the notation iptables and kubectl use.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

/// An IPv4 prefix such as `10.244.0.0/16`. The address is stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// # Panics
    /// If `prefix > 32`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Cidr {
        assert!(prefix <= 32, "prefix /{prefix} is longer than 32 bits");
        Ipv4Cidr { network: Ipv4Addr::from(u32::from(addr) & mask(prefix)), prefix }
    }
    /// The /32 holding exactly `addr`.
    pub fn host(addr: Ipv4Addr) -> Ipv4Cidr {
        Ipv4Cidr::new(addr, 32)
    }
    pub fn network(self) -> Ipv4Addr {
        self.network
    }
    pub fn prefix(self) -> u8 {
        self.prefix
    }
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == u32::from(self.network)
    }
    /// True if every address of `other` is in `self`.
    pub fn covers(self, other: Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }
    /// The address `n` places after the network address, if it is inside the prefix.
    pub fn nth(self, n: u32) -> Option<Ipv4Addr> {
        let size = self.size();
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.network) + n))
    }
    /// How many addresses the prefix holds.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a CIDR string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrParseError(pub String);

impl fmt::Display for CidrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;
    /// Accepts `a.b.c.d/n` with host bits cleared, as the API server does for CIDR fields.
    fn from_str(s: &str) -> Result<Ipv4Cidr, CidrParseError> {
        let (addr, prefix) =
            s.split_once('/').ok_or_else(|| CidrParseError(format!("{s:?} is not a CIDR (expected a.b.c.d/n)")))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrParseError(format!("{addr:?} is not an IPv4 address")))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| CidrParseError(format!("/{prefix} is not a prefix length (0-32)")))?;
        let cidr = Ipv4Cidr::new(addr, prefix);
        if cidr.network != addr {
            return Err(CidrParseError(format!("{s} has host bits set (did you mean {cidr}?)")));
        }
        Ok(cidr)
    }
}

/// The transport protocol. svcsim models TCP, as the seed story and the tutorial use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
}

impl Protocol {
    /// The lowercase name kube-proxy hashes into chain names and writes after `-p`.
    pub fn as_lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
        })
    }
}

/// The addresses a packet carries: what NAT rewrites and conntrack remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Header {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

impl Header {
    pub fn new(src: SocketAddrV4, dst: SocketAddrV4) -> Header {
        Header { src, dst }
    }
    /// The header of a reply to this packet.
    pub fn reversed(self) -> Header {
        Header { src: self.dst, dst: self.src }
    }
}

/// tcpdump style: `198.51.100.79:40123 > 203.0.113.10:80`.
impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {}", self.src, self.dst)
    }
}

/// How a Node.js server listening on `::` prints an IPv4 peer: `::ffff:a.b.c.d` (§5.1).
pub fn ipv4_mapped(addr: Ipv4Addr) -> String {
    format!("::ffff:{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_names_the_problem() {
        assert_eq!("10.244.0.0/16".parse::<Ipv4Cidr>().unwrap().to_string(), "10.244.0.0/16");
        assert_eq!(
            "10.244.1.0/16".parse::<Ipv4Cidr>().unwrap_err().to_string(),
            "10.244.1.0/16 has host bits set (did you mean 10.244.0.0/16?)"
        );
        assert!("10.244.0.0/33".parse::<Ipv4Cidr>().unwrap_err().to_string().contains("/33"));
        assert!("banana".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn contains_and_nth() {
        let c: Ipv4Cidr = "10.244.1.0/24".parse().unwrap();
        assert!(c.contains(Ipv4Addr::new(10, 244, 1, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 244, 2, 1)));
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 244, 1, 1)));
        assert_eq!(c.nth(256), None);
        let wide: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        assert!(wide.covers(c));
        assert!(!c.covers(wide));
    }

    #[test]
    fn node_js_prints_ipv4_mapped_ipv6() {
        assert_eq!(ipv4_mapped(Ipv4Addr::new(198, 51, 100, 79)), "::ffff:198.51.100.79");
    }
}
