//! The names kube-proxy's nftables mode gives its per-Service chains and sets:
//! `servicePortChainNameBase` and `servicePortEndpointChainNameBase` of
//! `pkg/proxy/nftables/proxier.go` (`docs/fidelity.md#nftables-names`).

use std::net::IpAddr;

use super::table::Name;
use crate::cluster::Service;
use crate::net::{Protocol, SockAddr};

/// knftables' longest name (256) less the longest prefix kube-proxy puts before a base (16).
const BASE_LENGTH_MAX: usize = 256 - 16;

/// `hashAndTruncate`: the first 8 characters of base32(sha256(`name`)), a dash, then `name`,
/// cut to 240 characters with a trailing `...` if longer.
pub fn hash_and_truncate(name: &str) -> String {
    let mut out = format!("{}-{name}", crate::digest::sha256_base32(&[name.as_bytes()], 8));
    if out.len() > BASE_LENGTH_MAX {
        let mut cut = BASE_LENGTH_MAX - 3;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

/// The chain names of one Service port: `service-…`, `local-…`, `external-…`, `firewall-…`,
/// each followed by the same base, `<hash>-<namespace>/<name>/<protocol>/<port name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChains {
    pub cluster: Name,
    pub local: Name,
    pub external: Name,
    pub firewall: Name,
}

impl PortChains {
    pub fn new(svc: &Service, port_idx: usize) -> PortChains {
        let port = &svc.ports[port_idx];
        let base =
            hash_and_truncate(&format!("{}/{}/{}/{}", svc.namespace, svc.name, port.protocol.as_lower(), port.name));
        let named = |prefix: &str| -> Name { Name::new(&format!("{prefix}{base}")) };
        PortChains {
            cluster: named("service-"),
            local: named("local-"),
            external: named("external-"),
            firewall: named("firewall-"),
        }
    }
}

/// The base of one endpoint's names: `<hash>-<ns>/<svc>/<protocol>/<port name>__<ip>/<port>`,
/// with an IPv6 address's colons made dots.
fn endpoint_base(svc: &Service, port_idx: usize, protocol: Protocol, endpoint: SockAddr) -> String {
    let ip = match endpoint.ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_string().replace(':', "."),
    };
    let port = &svc.ports[port_idx];
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{ip}/{}",
        svc.namespace,
        svc.name,
        protocol.as_lower(),
        port.name,
        endpoint.port
    ))
}

/// One endpoint's chain (`endpoint-…`) and session-affinity set (`affinity-…`).
pub fn endpoint_names(svc: &Service, port_idx: usize, endpoint: SockAddr) -> (Name, Name) {
    let base = endpoint_base(svc, port_idx, svc.ports[port_idx].protocol, endpoint);
    (Name::new(&format!("endpoint-{base}")), Name::new(&format!("affinity-{base}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ServiceType;

    /// The endpoint chains of `TestNodePorts`' IPv6 Service: the colons become dots before the
    /// hash. (`Test_servicePortEndpointChainNameBase`'s IPv6 case feeds a literal that is not in
    /// canonical form, `fd80:abcd:12::a1b2:…`, which kube-proxy hashes as written; svcsim's
    /// addresses are typed, and always written canonically, as the API server writes pod IPs:
    /// `docs/fidelity.md#dual-stack`.)
    #[test]
    fn ipv6_endpoint_names_replace_colons_before_hashing() {
        let mut svc1 = Service::new("svc1", ServiceType::NodePort, Default::default(), 80, 80);
        svc1.namespace = "ns1".into();
        svc1.ports[0].name = "p80".into();
        let names: Vec<String> = ["[fd00:10:180::1]:80", "[fd00:10:180::2:1]:80"]
            .iter()
            .map(|e| endpoint_names(&svc1, 0, e.parse().unwrap()).0.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "endpoint-ZVRFLKHO-ns1/svc1/tcp/p80__fd00.10.180..1/80",
                "endpoint-2CRNCTTE-ns1/svc1/tcp/p80__fd00.10.180..2.1/80"
            ]
        );
    }
}
