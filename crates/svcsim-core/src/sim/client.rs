//! The clients: sending a request from the internet, a pod or a node's host network, and a
//! reply reaching the connection's initiator.

use std::net::IpAddr;

use super::Sim;
use super::queue::Event;
use crate::dataplane::{Connect, ConnectCx, Origin, RulePath};
use crate::lb;
use crate::net::{Header, SockAddr};
use crate::record::{Action, Hop, Initiator, Outcome, PacketId, PacketKind, Reason, TraceEntry};
use crate::scenario::{ClientId, ClientKind, Schedule, Target};
use crate::topology::Place;

/// The ephemeral ports clients use (Linux `ip_local_port_range`).
pub(super) const EPHEMERAL: (u16, u16) = (32768, 60999);

impl Sim {
    pub(super) fn send(&mut self, client: ClientId) {
        let c = &self.scenario.clients[client];
        let (target, protocol) = (c.target, c.protocol);
        if let Schedule::Every(period) = &c.schedule {
            let next = self.now + *period;
            self.schedule(next, Event::Send { client });
        }
        let Some(dst) = self.resolve_target(&target) else {
            return self.trace(TraceEntry::NothingToSend(Box::new((client, target))));
        };
        let port = {
            let n = &mut self.clients[client].port;
            *n += 1;
            EPHEMERAL.0 + (*n % u32::from(EPHEMERAL.1 - EPHEMERAL.0)) as u16
        };
        let from = match &self.scenario.clients[client].kind {
            ClientKind::External(ip) => Ok((*ip, Place::Client(client), None)),
            ClientKind::Pod(name) => {
                let family = dst.family();
                match self.cluster.pod_by_name(name).and_then(|p| Some((p, self.cluster.pod(p).ip_of(family)?))) {
                    Some((pod, ip)) => Ok((ip, Place::Pod(pod), None)),
                    None => Err(name.as_str().into()),
                }
            }
            ClientKind::HostNetwork(node) => {
                Ok((self.node_net(*node, dst.family()).source_for(dst.ip), Place::Node(*node), Some(*node)))
            }
        };
        let (mut src_ip, place, host) = match from {
            Ok(from) => from,
            Err(pod) => return self.trace(TraceEntry::NoClientPod { client, pod }),
        };
        // A socket in the cluster may be connected elsewhere before any packet exists.
        let connect = self.connect(client, place, SockAddr::new(src_ip, port), dst);
        let (dst, action, path) = match connect {
            None => (dst, Action::Sent, RulePath::default()),
            Some(Connect { to: Ok(to), path }) => (to, Action::Connected { service: dst }, path),
            Some(Connect { to: Err(_), path }) => {
                let header = Header::new(protocol, SockAddr::new(src_ip, port), dst);
                let (_, packet) = self.new_flow(Initiator::Client(client), header, PacketKind::Request);
                return self.reject_packet(packet, place, header, Reason::Rule(path.clone()), path);
            }
        };
        if let Some(node) = host {
            src_ip = self.node_net(node, dst.family()).source_for(dst.ip);
        }
        let header = Header::new(protocol, SockAddr::new(src_ip, port), dst);
        let (_, packet) = self.new_flow(Initiator::Client(client), header, PacketKind::Request);
        self.push_hop(packet, Hop { at: place, time: self.now, before: header, action, rules: path, conntrack: None });
        self.trace_hop(packet);
        match (place, host) {
            (_, Some(node)) => self.at_node(packet, node, header, Origin::Host),
            (Place::Pod(pod), _) => {
                let node = self.cluster.pod(pod).node;
                self.forward(packet, place, Place::Node(node), header);
            }
            _ => match self.route_from_outside(dst.ip) {
                Some(next) => self.forward(packet, place, next, header),
                None => {
                    let reason = Reason::NoRoute { to: dst.ip, from_internet: true };
                    self.drop_packet(packet, Place::Internet, header, reason, RulePath::default())
                }
            },
        }
    }

    /// The dataplane's say on a client's `connect()` from a pod or a node (socket-LB).
    fn connect(&mut self, client: ClientId, place: Place, src: SockAddr, dst: SockAddr) -> Option<Connect> {
        let (node, from_pod) = match place {
            Place::Pod(pod) => (self.cluster.pod(pod).node, true),
            Place::Node(node) => (node, false),
            _ => return None,
        };
        let proto = self.scenario.clients[client].protocol;
        let cx = ConnectCx { now: self.now, proto, rng: &mut self.clients[client].rng };
        self.dataplane.connect(node, from_pod, src, dst, cx)
    }

    fn resolve_target(&self, target: &Target) -> Option<SockAddr> {
        match *target {
            Target::LoadBalancer { svc, port, family } => lb::frontend(self.cluster.service(svc), port, family),
            Target::ClusterIp { svc, port, family } => {
                let s = self.cluster.service(svc);
                Some(SockAddr::new(s.cluster_ip_of(family)?, s.ports.get(port)?.port))
            }
            Target::NodePort { node, svc, port, family } => {
                let s = self.cluster.service(svc);
                Some(SockAddr::new(self.cluster.node(node).addresses(family)?.ip, s.ports.get(port)?.node_port?))
            }
            Target::Addr(a) => Some(a),
        }
    }

    /// A reply reached the connection's initiator.
    pub(super) fn at_initiator(&mut self, packet: PacketId, place: Place, header: Header) {
        let flow = self.flow_of(packet);
        let expected = self.run.flow(flow).header.reversed();
        if header != expected {
            // The client connected to one address and hears from another: it resets.
            let reason = Reason::Reset(Box::new((header.src, expected.src)));
            return self.reject_packet(packet, place, header, reason, RulePath::default());
        }
        self.hop(packet, place, header, Action::Delivered);
        self.trace_hop(packet);
        self.end_flow(packet, Outcome::Answered);
    }

    /// Where the initiator of `packet`'s flow is.
    pub(super) fn flow_place(&self, packet: PacketId) -> Place {
        let flow = self.run.flow(self.flow_of(packet));
        match flow.initiator {
            Initiator::Probe { .. } => Place::Lb,
            Initiator::Client(c) => match &self.scenario.clients[c].kind {
                ClientKind::External(_) => Place::Client(c),
                ClientKind::HostNetwork(n) => Place::Node(*n),
                ClientKind::Pod(_) => self.pod_at(flow.header.src.ip).map_or(Place::Client(c), Place::Pod),
            },
        }
    }

    /// The external client a packet to `ip` goes to: the packet's own client when it has that
    /// address (several clients may share one), else the first with it.
    pub(super) fn external_client_for(&self, packet: PacketId, ip: IpAddr) -> Option<ClientId> {
        match self.flow_place(packet) {
            Place::Client(c) if self.scenario.clients[c].kind == ClientKind::External(ip) => Some(c),
            _ => self.external_client_with(ip),
        }
    }

    pub(super) fn external_client_with(&self, ip: IpAddr) -> Option<ClientId> {
        self.routes.clients.get(&ip).copied()
    }
}
