//! A packet at a node: the dataplane decides a connection's first packet, conntrack translates
//! its replies, and the node routes what it forwards — to a local pod, another node, the load
//! balancer or the internet.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::rc::Rc;

use super::Sim;
use crate::cluster::{Cluster, NodeId, ServiceType};
use crate::conntrack::{Conntrack, Entry};
use crate::dataplane::{Cause, Delivery, Dsr, NodeNet, Origin, PacketCx, RulePath, Verdict};
use crate::lb;
use crate::net::{Header, IpCidr, IpFamily, Protocol};
use crate::record::{Action, Hop, Initiator, PacketId, Reason};
use crate::scenario::{ClientId, ClientKind, Scenario};
use crate::time::Instant;
use crate::topology::Place;

/// The loop's view of one node: its addresses of each family, its conntrack table, and when its
/// dataplane last synced.
#[derive(Debug, Clone)]
pub(super) struct NodeRuntime {
    /// Its addresses of the cluster's first family, then of the second (dual-stack).
    pub nets: Vec<NodeNet>,
    pub conntrack: Conntrack,
    pub last_sync: Instant,
    pub sync_scheduled: bool,
}

impl NodeRuntime {
    pub fn new(nets: Vec<NodeNet>) -> NodeRuntime {
        NodeRuntime { nets, conntrack: Conntrack::default(), last_sync: Instant::ZERO, sync_scheduled: false }
    }
    /// Its addresses of `family` (of its first family if it has none of `family`).
    pub fn net(&self, family: IpFamily) -> &NodeNet {
        self.nets.iter().find(|n| IpFamily::of(n.node_ip) == family).unwrap_or(&self.nets[0])
    }
    /// `-m addrtype --type LOCAL` in any family.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.is_local(ip))
    }
}

/// Lookups the routing decisions make for every packet.
#[derive(Debug, Clone, Default)]
pub(super) struct Routes {
    node_ips: BTreeMap<IpAddr, NodeId>,
    /// podCIDR network address → (podCIDR, node).
    pod_cidrs: BTreeMap<IpAddr, (IpCidr, NodeId)>,
    frontends: BTreeSet<IpAddr>,
    /// The first external client with each address.
    pub clients: BTreeMap<IpAddr, ClientId>,
}

impl Routes {
    pub fn new(cluster: &Cluster, scenario: &Scenario) -> Routes {
        let mut r = Routes::default();
        for (id, n) in cluster.nodes.iter_enumerated() {
            for family in cluster.config.families() {
                if let Some(a) = n.addresses(family) {
                    r.node_ips.entry(a.ip).or_insert(id);
                    r.pod_cidrs.insert(a.pod_cidr.network(), (a.pod_cidr, id));
                }
            }
        }
        for s in cluster.services.iter().filter(|s| s.type_ == ServiceType::LoadBalancer) {
            r.frontends.extend(s.load_balancer_ingress.iter().copied());
        }
        for (id, c) in scenario.clients.iter_enumerated() {
            if let ClientKind::External(ip) = c.kind {
                r.clients.entry(ip).or_insert(id);
            }
        }
        r
    }

    /// The node whose podCIDR holds `ip`.
    fn pod_cidr_owner(&self, ip: IpAddr) -> Option<NodeId> {
        let (_, (cidr, node)) = self.pod_cidrs.range(..=ip).next_back()?;
        cidr.contains(ip).then_some(*node)
    }
}

impl Sim {
    pub(super) fn arrive(&mut self, packet: PacketId, at: Place, header: Header) {
        match at {
            Place::Lb => self.at_lb(packet, header),
            Place::Node(n) => {
                if self.packet(packet).kind.is_forward() {
                    self.at_node(packet, n, header, Origin::Routed)
                } else {
                    self.reply_at_node(packet, n, header)
                }
            }
            Place::Pod(p) => self.at_pod(packet, p, header),
            Place::Backend(b) => self.at_backend(packet, b, header),
            Place::Client(_) => self.at_initiator(packet, at, header),
            Place::Internet | Place::Vnet => unreachable!("packets are not scheduled to transit places"),
        }
    }

    /// The first packet of a connection at `node`: the dataplane decides.
    pub(super) fn at_node(&mut self, packet: PacketId, node: NodeId, header: Header, origin: Origin) {
        let flow = self.flow_of(packet);
        let f = self.run.flow_mut(flow);
        f.ingress_node.get_or_insert(node);
        let rng = match f.initiator {
            Initiator::Client(c) => &mut self.clients[c].rng,
            Initiator::Probe { .. } => &mut self.probe_rng,
        };
        let now = self.now;
        let dsr = self.dsr_options.remove(&packet);
        let mut d = self.dataplane.first_packet(node, origin, header, PacketCx { now, rng, dsr });
        if d.after.src != header.src {
            d.after = self.nodes[node].conntrack.unique_source(header, d.after);
        }
        // A DSR request's backend node remembers the connection as the client made it, to the
        // service address, so that its replies leave from that address.
        let original = match d.dsr {
            Some(Dsr::Ingress { service }) => Header { dst: service, ..header },
            _ => header,
        };
        let entry = Rc::new(Entry::new(original, d.after, now));
        match d.dsr {
            // The reply never passes here again: nothing to track (`nodeport_svc_lb4`).
            Some(Dsr::Dispatch { service, .. }) => {
                self.dsr_options.insert(packet, service);
            }
            _ => self.nodes[node].conntrack.insert(Rc::clone(&entry)),
        }
        let place = Place::Node(node);
        let reason = |cause: &Cause, path: &RulePath| match cause {
            Cause::Rule => Reason::Rule(path.clone()),
            Cause::JumpLoop(chain) => Reason::JumpLoop { chain: chain.clone(), path: path.clone() },
        };
        match &d.verdict {
            Verdict::Drop(cause) => self.drop_packet(packet, place, header, reason(cause, &d.path), d.path),
            Verdict::Reject(cause) => self.reject_packet(packet, place, header, reason(cause, &d.path), d.path),
            // The kernel forwards no packet from a link-local source to another interface
            // (`ip6_forward`): an IPv6 probe DNATed to a pod of this node never gets there,
            // while one DNATed to another node's pod leaves by eth0 again and does
            // (`docs/fidelity.md#dual-stack-probes`).
            Verdict::Accept
                if d.delivery == Delivery::Forward
                    && self.nodes[node].net(header.family()).refuses_link_local(header, d.after) =>
            {
                let reason = Reason::BeyondScope(header.src.ip);
                self.reject_packet(packet, place, header, reason, d.path)
            }
            Verdict::Accept => {
                let action = if d.nat().is_none() { Action::Forwarded } else { Action::Translated };
                let hop = Hop { at: place, time: now, before: header, action, rules: d.path, conntrack: Some(entry) };
                self.push_hop(packet, hop);
                self.trace_hop(packet);
                match d.delivery {
                    Delivery::Local => self.local_socket(packet, node, d.after),
                    Delivery::Forward => self.route_from_node(packet, node, d.after),
                }
            }
        }
    }

    /// A reply (or any later packet) at `node`: conntrack translates it.
    fn reply_at_node(&mut self, packet: PacketId, node: NodeId, header: Header) {
        let place = Place::Node(node);
        let entry = self.nodes[node].conntrack.lookup_reply(header).cloned();
        let after = entry.as_ref().map_or(header, |e| e.unnat_reply());
        let nat = entry.as_ref().is_some_and(|e| e.is_nat());
        let action = if nat { Action::UnNat } else { Action::Forwarded };
        let hop =
            Hop { at: place, time: self.now, before: header, action, rules: RulePath::default(), conntrack: entry };
        self.push_hop(packet, hop);
        if nat {
            self.trace_hop(packet);
        }
        self.route_from_node(packet, node, after);
    }

    /// Where a packet from the internet to `dst` goes first.
    pub(super) fn route_from_outside(&self, dst: IpAddr) -> Option<Place> {
        if self.routes.frontends.contains(&dst) {
            return Some(Place::Lb);
        }
        if let Some(b) = self.backends.position(|(ip, node)| *ip == dst && node.is_none()) {
            return Some(Place::Backend(b));
        }
        self.routes.node_ips.get(&dst).copied().map(Place::Node)
    }

    /// The node that owns address `dst` (its node IP).
    pub(super) fn node_with_ip(&self, dst: IpAddr) -> Option<NodeId> {
        self.routes.node_ips.get(&dst).copied()
    }

    /// Routing out of `node` toward `header.dst`.
    pub(super) fn route_from_node(&mut self, packet: PacketId, node: NodeId, header: Header) {
        let dst = header.dst.ip;
        let here = Place::Node(node);
        let drop = |reason| (reason, RulePath::default());
        // A reply to a client in this node's own host network namespace.
        if self.nodes[node].is_local(dst) && self.flow_place(packet) == here {
            return self.at_initiator(packet, here, header);
        }
        let next = if let Some(owner) = self.routes.pod_cidr_owner(dst) {
            if owner == node {
                match self.pod_at(dst) {
                    Some(pod) => Ok(Place::Pod(pod)),
                    None => Err(drop(Reason::HostUnreachable(dst))),
                }
            } else {
                Ok(Place::Node(owner))
            }
        } else if let Some(other) = self.node_with_ip(dst) {
            Ok(Place::Node(other))
        } else if lb::is_probe_source(dst)
            || self.routes.frontends.contains(&dst)
            || self.lb_flows.lookup_reply(header).is_some()
        {
            Ok(Place::Lb)
        } else if let Some(c) = self.external_client_for(packet, dst) {
            Ok(Place::Client(c))
        } else if let Some(b) = self.backends.position(|(ip, _)| *ip == dst) {
            Ok(Place::Backend(b))
        } else {
            Err(drop(Reason::NoRoute { to: dst, from_internet: false }))
        };
        match next {
            Ok(next) => self.forward(packet, here, next, header),
            Err((reason, rules)) => self.drop_packet(packet, here, header, reason, rules),
        }
    }

    /// A packet for a socket in the node's host network namespace: the dataplane's health
    /// servers, which are HTTP over TCP.
    fn local_socket(&mut self, packet: PacketId, node: NodeId, header: Header) {
        let place = Place::Node(node);
        let served = (header.proto == Protocol::Tcp).then(|| self.dataplane.serve(&self.cluster, node, header.dst));
        let Some(response) = served.flatten() else {
            let reason = Reason::NotListening(header.proto, header.dst);
            return self.reject_packet(packet, place, header, reason, RulePath::default());
        };
        self.hop(packet, place, header, Action::HealthServer { status: response.status });
        let flow = self.flow_of(packet);
        if self.is_probe(packet) {
            self.pending_probe.insert(flow, crate::lb::ProbeResult::Http(response.status));
        } else {
            self.run.flow_mut(flow).app_output = Some(response.to_string());
            self.trace_hop(packet);
        }
        let reply = self.new_reply(flow);
        let back = header.reversed();
        self.hop(reply, place, back, Action::Sent);
        self.route_from_node(reply, node, back);
    }
}
