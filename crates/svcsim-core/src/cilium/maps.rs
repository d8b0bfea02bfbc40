//! A node's load-balancing maps as Cilium's agent writes them and its datapath reads them:
//! frontends (`cilium_lb4_services_v2`: one entry per address, port, protocol and scope),
//! backends (`cilium_lb4_backends_v3`), reverse NAT (`cilium_lb4_reverse_nat`) and the Maglev
//! tables (`cilium_lb4_maglev`) (`docs/fidelity.md#cilium-maps`).

use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;

use crate::cluster::{NodeId, ServiceId};
use crate::net::{IpCidr, Protocol, SockAddr};
use crate::time::Duration;

/// A backend's id in `cilium_lb4_backends_v3`, assigned by the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendId(pub u32);

/// A backend: an endpoint of some Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub id: BackendId,
    pub addr: SockAddr,
    pub proto: Protocol,
    /// The node its pod runs on (`NodeName`), `None` outside the cluster.
    pub node: Option<NodeId>,
    /// `active`, or `terminating` (still draining connections, picked only when no backend is
    /// active).
    pub terminating: bool,
}

/// `10.244.0.2:8080/TCP`, as Cilium 1.17+ prints a backend.
impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.proto)
    }
}

/// Which lookup a frontend answers: external (north-south, and east-west unless the Service
/// has two scopes) or internal (east-west, `/i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    External,
    Internal,
}

/// The Kubernetes frontend type, as Cilium's flags name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FrontendKind {
    ClusterIP,
    NodePort,
    LoadBalancer,
    ExternalIPs,
}

impl fmt::Display for FrontendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One entry of the service map: a frontend with its slot 0 (flags, backend count, rev-NAT id)
/// and its slots 1..=n (the active backends, in the agent's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// The service and rev-NAT id (Cilium gives a frontend one id for both).
    pub id: u16,
    /// The address and port; `0.0.0.0:<nodePort>` for the NodePort wildcard.
    pub addr: SockAddr,
    pub proto: Protocol,
    pub scope: Scope,
    pub kind: FrontendKind,
    /// Traffic from outside the cluster may use it (not a ClusterIP, not the wildcard).
    pub routable: bool,
    /// `externalTrafficPolicy: Local` (`Local`), `internalTrafficPolicy: Local`
    /// (`InternalLocal`).
    pub local: bool,
    pub internal_local: bool,
    /// The Service has an external and an internal entry (exactly one policy is Local).
    pub two_scopes: bool,
    /// The backends it balances over: slots 1..=n.
    pub backends: Vec<BackendId>,
    /// The Service and port it was made from.
    pub service: ServiceId,
    pub port_idx: usize,
    /// `sessionAffinity: ClientIP`'s timeout.
    pub affinity: Option<Duration>,
    /// `loadBalancerSourceRanges` (LoadBalancer frontends only).
    pub source_ranges: Vec<IpCidr>,
    /// The Maglev lookup table, when this frontend uses Maglev.
    pub maglev: Option<Rc<[BackendId]>>,
}

impl Frontend {
    /// `203.0.113.10:80/TCP`, `0.0.0.0:30080/TCP/i`: the key as `cilium-dbg` prints it.
    pub fn key(&self) -> String {
        let scope = if self.scope == Scope::Internal { "/i" } else { "" };
        format!("{}/{}{scope}", self.addr, self.proto)
    }
    /// The slot-0 flags, as `cilium-dbg bpf lb list` prints them: `LoadBalancer, Local,
    /// two-scopes`.
    pub fn flags(&self) -> String {
        let mut flags = vec![self.kind.to_string()];
        if self.local {
            flags.push("Local".into());
        }
        if self.internal_local {
            flags.push("InternalLocal".into());
        }
        if self.two_scopes {
            flags.push("two-scopes".into());
        }
        if self.affinity.is_some() {
            flags.push("sessionAffinity".into());
        }
        if !self.routable {
            flags.push("non-routable".into());
        }
        if !self.source_ranges.is_empty() {
            flags.push("check source-range".into());
        }
        flags.join(", ")
    }
}

/// Everything the datapath of one node reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMaps {
    pub frontends: Vec<Frontend>,
    /// By id: `backends[i].id == BackendId(i + 1)`; the same on every node, shared.
    pub backends: Rc<[Backend]>,
}

impl NodeMaps {
    /// `lb4_lookup_service`: the frontend for (address, port, protocol) in `scope`.
    pub fn lookup(&self, addr: SockAddr, proto: Protocol, scope: Scope) -> Option<&Frontend> {
        self.frontends.iter().find(|f| f.addr == addr && f.proto == proto && f.scope == scope)
    }
    /// The lookup of east-west traffic (`scope_switch`): the external entry, or its internal
    /// twin when the Service has two scopes.
    pub fn lookup_east_west(&self, addr: SockAddr, proto: Protocol) -> Option<&Frontend> {
        let ext = self.lookup(addr, proto, Scope::External)?;
        if ext.two_scopes { self.lookup(addr, proto, Scope::Internal) } else { Some(ext) }
    }
    /// `sock4_wildcard_lookup`: a NodePort reached on one of the node's own (or loopback)
    /// addresses, through the `0.0.0.0:<nodePort>` entry.
    pub fn lookup_wildcard(&self, port: u16, proto: Protocol, family: crate::net::IpFamily) -> Option<&Frontend> {
        let unspecified = match family {
            crate::net::IpFamily::Ipv4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            crate::net::IpFamily::Ipv6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        let any = SockAddr::new(unspecified, port);
        let ext = self.lookup(any, proto, Scope::External)?;
        if ext.two_scopes { self.lookup(any, proto, Scope::Internal) } else { Some(ext) }
    }
    pub fn backend(&self, id: BackendId) -> &Backend {
        &self.backends[id.0 as usize - 1]
    }
    /// How many entries the service map holds: each frontend's slot 0 and its slots.
    pub fn entries(&self) -> usize {
        self.frontends.iter().map(|f| 1 + f.backends.len()).sum()
    }
}
