//! Conntrack: the NAT decided on a connection's first packet, remembered so that replies are
//! translated back without consulting the rules again (`docs/fidelity.md#conntrack`).

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use crate::dataplane::Nat;
use crate::net::Header;
use crate::time::{Duration, Instant};

/// How long an entry outlives its connection: TCP's TIME_WAIT timeout in Linux conntrack.
pub const TIME_WAIT: Duration = Duration::from_secs(120);

/// One tracked connection, as the kernel keeps it: the tuple of each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The first packet as it arrived.
    pub original: Header,
    /// The header a reply carries when it arrives: the first packet as it left, reversed.
    pub reply: Header,
    pub expires: Instant,
}

impl Entry {
    /// The entry for a first packet that arrived as `before` and left as `after`.
    pub fn new(before: Header, after: Header, now: Instant) -> Entry {
        Entry { original: before, reply: after.reversed(), expires: now + TIME_WAIT }
    }
    /// The translation the two tuples record, as the kernel's `IPS_DST_NAT` / `IPS_SRC_NAT`
    /// status does: the destination became the reply's source, the source the reply's
    /// destination address.
    pub fn nat(&self) -> Nat {
        let dnat = (self.reply.src != self.original.dst).then_some(self.reply.src);
        let snat = (self.reply.dst.ip != self.original.src.ip).then_some(self.reply.dst.ip);
        Nat { dnat, snat }
    }
    /// True if the connection is rewritten: DNAT, SNAT, or only its source port
    /// (`MASQUERADE --random-fully` of a host's own connection).
    pub fn is_nat(&self) -> bool {
        self.reply != self.original.reversed()
    }
    /// The header of a reply after this entry's NAT is undone.
    pub fn unnat_reply(&self) -> Header {
        self.original.reversed()
    }
}

/// `conntrack -L` style: `tcp src=198.51.100.79 dst=203.0.113.10 sport=40001 dport=80 src=10.244.0.2 dst=10.240.0.5 sport=8080 dport=40001`.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.original;
        let r = self.reply;
        write!(
            f,
            "{} src={} dst={} sport={} dport={} src={} dst={} sport={} dport={}{}",
            o.proto.as_lower(),
            o.src.ip,
            o.dst.ip,
            o.src.port,
            o.dst.port,
            r.src.ip,
            r.dst.ip,
            r.src.port,
            r.dst.port,
            if self.is_nat() { "" } else { " [no NAT]" }
        )
    }
}

/// One node's conntrack table, keyed by the reply direction. Entries are shared with the hops
/// that recorded them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conntrack {
    by_reply: BTreeMap<Header, Rc<Entry>>,
}

impl Conntrack {
    /// Records a connection; a new connection with the same reply tuple replaces the old one,
    /// as a SYN reusing a TIME_WAIT tuple does.
    pub fn insert(&mut self, entry: Rc<Entry>) {
        self.by_reply.insert(entry.reply, entry);
    }
    /// `after` with its source port moved on, as the kernel's NAT does, until no other
    /// connection's entry has the same reply tuple (two connections masqueraded to one address and
    /// port toward one endpoint could not be told apart). `original` is the connection's own
    /// first header: an entry of the same connection (a reused tuple) is no clash.
    pub fn unique_source(&self, original: Header, mut after: Header) -> Header {
        for _ in 0..64_512 {
            match self.by_reply.get(&after.reversed()) {
                Some(e) if e.original != original => {
                    let next = after.src.port.wrapping_add(1);
                    after.src.port = if next < 1024 { 1024 } else { next };
                }
                _ => break,
            }
        }
        after
    }
    /// The entry a reply with header `reply` belongs to.
    pub fn lookup_reply(&self, reply: Header) -> Option<&Rc<Entry>> {
        self.by_reply.get(&reply)
    }
    /// Removes and returns the entry a reply belongs to (a load balancer's flow, used once).
    pub fn take_reply(&mut self, reply: Header) -> Option<Rc<Entry>> {
        self.by_reply.remove(&reply)
    }
    /// Drops entries expired at `now`.
    pub fn expire(&mut self, now: Instant) {
        self.by_reply.retain(|_, e| e.expires > now);
    }
    pub fn len(&self) -> usize {
        self.by_reply.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_reply.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::SockAddr;

    fn sock(s: &str) -> SockAddr {
        s.parse().unwrap()
    }

    #[test]
    fn replies_are_translated_back_exactly() {
        let before = Header::tcp(sock("198.51.100.79:40001"), sock("203.0.113.10:80"));
        let after = Header::tcp(sock("10.240.0.5:40001"), sock("10.244.0.2:8080"));
        let mut ct = Conntrack::default();
        ct.insert(Rc::new(Entry::new(before, after, Instant::ZERO)));
        let reply = Header::tcp(sock("10.244.0.2:8080"), sock("10.240.0.5:40001"));
        let e = ct.lookup_reply(reply).unwrap();
        assert_eq!(e.nat(), Nat { dnat: Some(after.dst), snat: Some(after.src.ip) });
        assert_eq!(e.unnat_reply().to_string(), "203.0.113.10:80 > 198.51.100.79:40001");
        assert_eq!(
            e.to_string(),
            "tcp src=198.51.100.79 dst=203.0.113.10 sport=40001 dport=80 src=10.244.0.2 dst=10.240.0.5 sport=8080 dport=40001"
        );
        ct.expire(Instant::ZERO + TIME_WAIT);
        assert!(ct.is_empty());
    }
}
