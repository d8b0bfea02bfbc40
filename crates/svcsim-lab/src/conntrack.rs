//! The kernel's conntrack table in a lab namespace, read with `conntrack -L`: for one connection,
//! the NAT the kernel applied, from its original and reply tuples.

use std::net::{IpAddr, SocketAddr};

use anyhow::Result;

use crate::host;
use crate::setup::Cmd;

/// One conntrack entry's two directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The first packet as it arrived: source, destination.
    pub original: (SocketAddr, SocketAddr),
    /// What a reply looks like: from the endpoint, to the (possibly SNATed) source.
    pub reply: (SocketAddr, SocketAddr),
}

impl Entry {
    /// Where the kernel sent the connection (the reply's source), if it rewrote the destination.
    pub fn dnat(&self) -> Option<SocketAddr> {
        (self.reply.0 != self.original.1).then_some(self.reply.0)
    }
    /// The source address the endpoint saw, if the kernel rewrote it.
    pub fn snat(&self) -> Option<IpAddr> {
        (self.reply.1.ip() != self.original.0.ip()).then_some(self.reply.1.ip())
    }
}

/// The `proto` entry in `ns` whose original direction came from `src`.
pub fn lookup(ns: &str, proto: svcsim_core::net::Protocol, src: SocketAddr) -> Result<Option<Entry>> {
    let (ip, port) = (src.ip().to_string(), src.port().to_string());
    let cmd = Cmd::exec(ns, "conntrack", &["-L", "-p", proto.as_lower(), "--orig-src", &ip, "--sport", &port]);
    Ok(host::run(&cmd)?.lines().find_map(parse))
}

/// `tcp 6 119 TIME_WAIT src=… dst=… sport=… dport=… src=… dst=… sport=… dport=… [ASSURED] …`.
pub fn parse(line: &str) -> Option<Entry> {
    let value = |key: &'static str| line.split_whitespace().filter_map(move |w| w.strip_prefix(key));
    let ips: Vec<IpAddr> =
        value("src=").zip(value("dst=")).flat_map(|(s, d)| [s, d]).filter_map(|a| a.parse().ok()).collect();
    let ports: Vec<u16> =
        value("sport=").zip(value("dport=")).flat_map(|(s, d)| [s, d]).filter_map(|p| p.parse().ok()).collect();
    let [os, od, rs, rd] = ips.get(..4)?.try_into().ok()?;
    let [osp, odp, rsp, rdp] = ports.get(..4)?.try_into().ok()?;
    let sock = SocketAddr::new;
    Some(Entry { original: (sock(os, osp), sock(od, odp)), reply: (sock(rs, rsp), sock(rd, rdp)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_the_nat_the_kernel_applied() {
        let line = "tcp      6 119 TIME_WAIT src=198.51.100.79 dst=203.0.113.10 sport=40001 dport=80 \
                    src=10.244.0.2 dst=10.240.0.5 sport=8080 dport=40001 [ASSURED] mark=0 use=1";
        let e = parse(line).unwrap();
        assert_eq!(e.dnat(), Some("10.244.0.2:8080".parse().unwrap()));
        assert_eq!(e.snat(), Some("10.240.0.5".parse().unwrap()));
        let plain = "tcp 6 119 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=40001 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40001";
        assert_eq!((parse(plain).unwrap().dnat(), parse(plain).unwrap().snat()), (None, None));
        assert_eq!(parse("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown."), None);
    }
}
