//! Wire-level vocabulary: IP families, CIDRs, socket addresses, transport protocols and packet
//! headers, each with `Display` in the notation iptables, nft and kubectl use.
//!
//! Every type here is family-generic: an address is IPv4 or IPv6, and nothing in the core assumes
//! which. A connection never changes family (no dataplane translates between them).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// `n`'s decimal digits read as hex: 79 → 0x79, so an IPv6 address ending in it reads like the
/// IPv4 one (`203.0.113.10` ↔ `2001:db8:113::10`). `n` is at most 999.
pub fn decimal_as_hex(n: u16) -> u16 {
    ((n / 100) << 8) | ((n / 10 % 10) << 4) | (n % 10)
}

/// The inverse of [`decimal_as_hex`]: 0x79 → 79.
pub fn hex_as_decimal(h: u16) -> u16 {
    (h >> 8) * 100 + ((h >> 4) & 0xf) * 10 + (h & 0xf)
}

/// True for an IPv6 link-local address (`fe80::/10`), which the kernel never forwards from.
pub fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// An IP family, as Kubernetes names them in `ipFamilies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum IpFamily {
    #[default]
    Ipv4,
    Ipv6,
}

impl IpFamily {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::Ipv4,
            IpAddr::V6(_) => IpFamily::Ipv6,
        }
    }
    /// Address length in bits: 32 or 128.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::Ipv4 => 32,
            IpFamily::Ipv6 => 128,
        }
    }
}

/// `IPv4` or `IPv6`.
impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::Ipv4 => "IPv4",
            IpFamily::Ipv6 => "IPv6",
        })
    }
}

pub(crate) fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(family: IpFamily, bits: u128) -> IpAddr {
    match family {
        IpFamily::Ipv4 => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        IpFamily::Ipv6 => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// The netmask of a `prefix`-bit prefix in a `width`-bit address, right-aligned in a u128.
fn mask(width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    // 0 < prefix ≤ width, so the host part has at most 127 bits.
    all & !((1u128 << (width - prefix)) - 1)
}

/// A prefix such as `10.244.0.0/16` or `fd12:3456:789a::/64`. The address is stored with its
/// host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

impl IpCidr {
    /// IPv4's loopback block, 127.0.0.0/8.
    pub const V4_LOOPBACK: IpCidr = IpCidr { network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), prefix: 8 };

    /// # Panics
    /// If `prefix` is longer than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(addr: impl Into<IpAddr>, prefix: u8) -> IpCidr {
        let addr = addr.into();
        let family = IpFamily::of(addr);
        assert!(prefix <= family.bits(), "prefix /{prefix} is longer than {} bits", family.bits());
        let network = from_bits(family, to_bits(addr) & mask(family.bits(), prefix));
        IpCidr { network, prefix }
    }
    /// The /32 or /128 holding exactly `addr`.
    pub fn host(addr: impl Into<IpAddr>) -> IpCidr {
        let addr = addr.into();
        IpCidr::new(addr, IpFamily::of(addr).bits())
    }
    pub fn network(self) -> IpAddr {
        self.network
    }
    pub fn prefix(self) -> u8 {
        self.prefix
    }
    pub fn family(self) -> IpFamily {
        IpFamily::of(self.network)
    }
    /// True if this prefix holds exactly one address.
    pub fn is_host(self) -> bool {
        self.prefix == self.family().bits()
    }
    /// True if `addr` is inside the prefix (never for an address of the other family).
    pub fn contains(self, addr: IpAddr) -> bool {
        IpFamily::of(addr) == self.family()
            && to_bits(addr) & mask(self.family().bits(), self.prefix) == to_bits(self.network)
    }
    /// True if every address of `other` is in `self`.
    pub fn covers(self, other: IpCidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }
    /// The address `n` places after the network address, if it is inside the prefix.
    pub fn nth(self, n: u128) -> Option<IpAddr> {
        (n < self.size()).then(|| from_bits(self.family(), to_bits(self.network) + n))
    }
    /// How many addresses the prefix holds (`u128::MAX` for `::/0`, which holds one more).
    pub fn size(self) -> u128 {
        let host_bits = u32::from(self.family().bits() - self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why an address or CIDR string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for IpCidr {
    type Err = ParseError;
    /// Accepts `a.b.c.d/n` or `v6::/n` with host bits cleared, as the API server does for CIDR
    /// fields.
    fn from_str(s: &str) -> Result<IpCidr, ParseError> {
        let (addr, prefix) =
            s.split_once('/').ok_or_else(|| ParseError(format!("{s:?} is not a CIDR (expected a.b.c.d/n)")))?;
        let addr: IpAddr = addr.parse().map_err(|_| ParseError(format!("{addr:?} is not an IP address")))?;
        let bits = IpFamily::of(addr).bits();
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| ParseError(format!("/{prefix} is not a prefix length (0-{bits})")))?;
        let cidr = IpCidr::new(addr, prefix);
        if cidr.network != addr {
            return Err(ParseError(format!("{s} has host bits set (did you mean {cidr}?)")));
        }
        Ok(cidr)
    }
}

/// An IP address and a port: one end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockAddr {
    pub ip: IpAddr,
    pub port: u16,
}

impl SockAddr {
    pub fn new(ip: impl Into<IpAddr>, port: u16) -> SockAddr {
        SockAddr { ip: ip.into(), port }
    }
    pub fn family(self) -> IpFamily {
        IpFamily::of(self.ip)
    }
}

/// `10.0.0.1:80`, or `[fd00::1]:80` for IPv6, as iptables' `--to-destination` and kubectl
/// write them.
impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl FromStr for SockAddr {
    type Err = ParseError;
    /// `a.b.c.d:port` or `[v6]:port`.
    fn from_str(s: &str) -> Result<SockAddr, ParseError> {
        let addr: SocketAddr = s.parse().map_err(|_| {
            ParseError(format!("{s:?} is not an address with a port (a.b.c.d:port or [2001:db8::1]:port)"))
        })?;
        Ok(SockAddr::new(addr.ip(), addr.port()))
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(a: SocketAddr) -> SockAddr {
        SockAddr::new(a.ip(), a.port())
    }
}

impl From<SockAddr> for SocketAddr {
    fn from(a: SockAddr) -> SocketAddr {
        SocketAddr::new(a.ip, a.port)
    }
}

impl From<std::net::SocketAddrV4> for SockAddr {
    fn from(a: std::net::SocketAddrV4) -> SockAddr {
        SockAddr::new(*a.ip(), a.port())
    }
}

/// A Service port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The lowercase name kube-proxy hashes into chain names and writes after `-p`.
    pub fn as_lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
    /// The IANA protocol number (6, 17, 132), which a load balancer hashes into its 5-tuple.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

/// `TCP`, `UDP`, `SCTP`, as a Service spells it.
impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// The addresses a packet carries: what NAT rewrites and conntrack remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Header {
    pub proto: Protocol,
    pub src: SockAddr,
    pub dst: SockAddr,
}

impl Header {
    pub fn new(proto: Protocol, src: SockAddr, dst: SockAddr) -> Header {
        Header { proto, src, dst }
    }
    /// A TCP header.
    pub fn tcp(src: SockAddr, dst: SockAddr) -> Header {
        Header::new(Protocol::Tcp, src, dst)
    }
    /// The header of a reply to this packet.
    pub fn reversed(self) -> Header {
        Header { proto: self.proto, src: self.dst, dst: self.src }
    }
    pub fn family(self) -> IpFamily {
        self.src.family()
    }
}

/// tcpdump style: `198.51.100.79:40123 > 203.0.113.10:80`.
impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {}", self.src, self.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_names_the_problem() {
        assert_eq!("10.244.0.0/16".parse::<IpCidr>().unwrap().to_string(), "10.244.0.0/16");
        assert_eq!(
            "10.244.1.0/16".parse::<IpCidr>().unwrap_err().to_string(),
            "10.244.1.0/16 has host bits set (did you mean 10.244.0.0/16?)"
        );
        assert!("10.244.0.0/33".parse::<IpCidr>().unwrap_err().to_string().contains("/33"));
        assert!("banana".parse::<IpCidr>().is_err());
        assert_eq!("fd12:3456:789a::/64".parse::<IpCidr>().unwrap().to_string(), "fd12:3456:789a::/64");
        assert!("fd12::1/64".parse::<IpCidr>().unwrap_err().to_string().contains("did you mean fd12::/64"));
    }

    #[test]
    fn contains_and_nth_in_both_families() {
        let c: IpCidr = "10.244.1.0/24".parse().unwrap();
        assert!(c.contains(Ipv4Addr::new(10, 244, 1, 200).into()));
        assert!(!c.contains(Ipv4Addr::new(10, 244, 2, 1).into()));
        assert!(!c.contains("::ffff:10.244.1.1".parse().unwrap()), "never across families");
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 244, 1, 1).into()));
        assert_eq!(c.nth(256), None);
        let wide: IpCidr = "10.244.0.0/16".parse().unwrap();
        assert!(wide.covers(c) && !c.covers(wide));
        let v6: IpCidr = "fd12:3456:789a::/80".parse().unwrap();
        assert_eq!(v6.nth(1).unwrap().to_string(), "fd12:3456:789a::1");
        assert_eq!(v6.size(), 1 << 48);
        assert_eq!("::/0".parse::<IpCidr>().unwrap().size(), u128::MAX);
        assert_eq!("0.0.0.0/0".parse::<IpCidr>().unwrap().size(), 1 << 32);
    }

    #[test]
    fn socket_addresses_print_as_iptables_writes_them() {
        assert_eq!(SockAddr::new(Ipv4Addr::new(10, 0, 0, 1), 80).to_string(), "10.0.0.1:80");
        let v6: SockAddr = "[fd00:10:180::1]:80".parse().unwrap();
        assert_eq!(v6.to_string(), "[fd00:10:180::1]:80");
        assert!("10.0.0.1".parse::<SockAddr>().is_err());
    }
}
