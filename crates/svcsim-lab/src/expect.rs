//! What svcsim says one connection's first packet meets on a node, in the terms the kernel can be
//! asked about: the verdict, the endpoint, the NAT, what the app prints and the rules that fired,
//! one [`Expected`] per endpoint the rules could pick. Pure.

use std::net::IpAddr;

use svcsim_core::cluster::NodeId;
use svcsim_core::dataplane::{Decision, Delivery, FirstPacketVerdict, Origin, Verdict};
use svcsim_core::net::{Header, IpFamily, SockAddr};
use svcsim_core::sim::Sim;

/// One outcome svcsim allows for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub verdict: FirstPacketVerdict,
    pub dnat: Option<SockAddr>,
    pub snat: Option<IpAddr>,
    /// The pod behind the endpoint, if one is.
    pub pod: Option<String>,
    /// What that pod's app prints for this connection.
    pub prints: Option<String>,
    /// The rules that fired, as the kernel's trace names them: (table, `-A CHAIN …`).
    pub rules: Vec<(String, String)>,
    /// The comment of the rule that dropped or refused the packet.
    pub reason: Option<String>,
    /// The rules accept the packet and the node routes it on (to a pod or another node), rather
    /// than to a socket of its own.
    pub forwarded: bool,
    /// The node then refuses to forward it: its source is link-local and it would leave by
    /// another interface (`NodeNet::refuses_link_local`, ICMPv6 beyond scope).
    pub beyond_scope: bool,
}

/// Every outcome svcsim allows for `header` entering `node`'s rules from `origin`.
pub fn outcomes(sim: &Sim, node: NodeId, origin: Origin, header: Header) -> Vec<Expected> {
    let net = sim.node_net(node, header.family());
    sim.dataplane()
        .every_decision(node, origin, header)
        .iter()
        .map(|d| {
            let mut e = expected(sim, d);
            e.beyond_scope = e.forwarded && net.refuses_link_local(d.before, d.after);
            e
        })
        .collect()
}

fn expected(sim: &Sim, d: &Decision) -> Expected {
    let cluster = sim.cluster();
    let pod =
        d.dnat.and_then(|to| cluster.pods.iter().find(|p| !p.deleted && p.ip_of(IpFamily::of(to.ip)) == Some(to.ip)));
    let rules = d
        .path
        .rules()
        .iter()
        .filter_map(|r| {
            let (table, rule) = r.listed()?;
            Some((table.to_string(), rule))
        })
        .collect();
    let reason = match d.verdict {
        // The comment of the last rule the kernel's trace names (an nftables map element is not).
        Verdict::Drop(_) | Verdict::Reject(_) => {
            d.path.rules().iter().rev().find(|r| r.listed().is_some()).and_then(|r| r.comment()).map(str::to_string)
        }
        Verdict::Accept => None,
    };
    Expected {
        verdict: d.summary(),
        dnat: d.dnat,
        snat: d.snat,
        pod: pod.map(|p| p.name.clone()),
        prints: pod.map(|p| p.app.respond(d.after.src.ip)),
        rules,
        reason,
        forwarded: matches!(d.verdict, Verdict::Accept) && d.delivery == Delivery::Forward,
        beyond_scope: false,
    }
}
