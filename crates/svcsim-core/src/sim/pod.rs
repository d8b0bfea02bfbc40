//! The servers at the end of a request: the app in a pod, and EndpointSlice addresses that are
//! no pod (plain echo servers), each answering with the source address it saw.

use std::net::IpAddr;

use super::Sim;
use crate::cluster::{App, Cluster, NodeId, PodId};
use crate::dataplane::RulePath;
use crate::id::IdVec;
use crate::lb::ProbeResult;
use crate::net::Header;
use crate::record::{Action, PacketId, Reason};
use crate::topology::{BackendId, Place};

/// EndpointSlice addresses that belong to no pod, in slice order.
pub(super) fn plain_backends(cluster: &Cluster) -> IdVec<BackendId, (IpAddr, Option<NodeId>)> {
    let mut out: IdVec<BackendId, (IpAddr, Option<NodeId>)> = IdVec::new();
    for e in cluster.endpoint_slices.iter().flat_map(|s| &s.endpoints) {
        if cluster.pod_by_ip(e.ip).is_none() && !out.iter().any(|(ip, _)| *ip == e.ip) {
            out.push((e.ip, e.node));
        }
    }
    out
}

impl Sim {
    /// The live pod holding `ip`.
    pub(super) fn pod_at(&self, ip: IpAddr) -> Option<PodId> {
        self.pod_ips.get(&ip).copied()
    }

    /// Re-indexes pods by IP and names new pods for the trace; call whenever pods come or go.
    pub(super) fn index_pods(&mut self) {
        self.pod_ips = crate::order::map(
            self.cluster
                .pods
                .iter_enumerated()
                .filter(|(_, p)| !p.deleted)
                .flat_map(|(id, p)| p.ip.into_iter().chain(p.secondary_ip).map(move |ip| (ip, id))),
        );
        let known = self.run.names.pods.len();
        self.run.names.pods.extend(self.cluster.pods.iter().skip(known).map(|p| p.name.clone()));
    }

    pub(super) fn at_pod(&mut self, packet: PacketId, pod: PodId, header: Header) {
        let place = Place::Pod(pod);
        if !self.packet(packet).kind.is_forward() {
            return self.at_initiator(packet, place, header);
        }
        let p = self.cluster.pod(pod);
        if p.deleted {
            let reason = Reason::PodGone { pod, name: p.name.as_str().into() };
            return self.drop_packet(packet, place, header, reason, RulePath::default());
        }
        if !p.listens(header.proto, header.dst.port) {
            let (name, proto, port) = (p.name.as_str().into(), header.proto, header.dst.port);
            let reason = Reason::PodNotListening { pod, name, proto, port };
            return self.reject_packet(packet, place, header, reason, RulePath::default());
        }
        let (app, node) = (p.app, p.node);
        let flow = self.flow_of(packet);
        let seen = header.src.ip;
        if self.is_probe(packet) {
            // A TCP probe only needs the handshake.
            self.pending_probe.insert(flow, ProbeResult::TcpOk);
            self.hop(packet, place, header, Action::App { pod });
        } else {
            let f = self.run.flow_mut(flow);
            f.pod = Some(pod);
            f.source_seen = Some(seen);
            f.app_output = Some(app.respond(seen));
            self.hop(packet, place, header, Action::App { pod });
            self.trace_hop(packet);
        }
        let reply = self.new_reply(flow);
        let back = header.reversed();
        self.hop(reply, place, back, Action::Sent);
        self.forward(reply, place, Place::Node(node), back);
    }

    /// An EndpointSlice address that is no pod answers like the echoserver.
    pub(super) fn at_backend(&mut self, packet: PacketId, b: BackendId, header: Header) {
        let place = Place::Backend(b);
        if !self.packet(packet).kind.is_forward() {
            return self.at_initiator(packet, place, header);
        }
        let flow = self.flow_of(packet);
        let seen = header.src.ip;
        self.hop(packet, place, header, Action::Backend);
        if self.is_probe(packet) {
            self.pending_probe.insert(flow, ProbeResult::TcpOk);
        } else {
            let f = self.run.flow_mut(flow);
            f.source_seen = Some(seen);
            f.app_output = Some(App::Echo.respond(seen));
            self.trace_hop(packet);
        }
        let reply = self.new_reply(flow);
        let back = header.reversed();
        self.hop(reply, place, back, Action::Sent);
        let dst = back.dst.ip;
        let next = match self.backends[b].1 {
            Some(node) => Some(Place::Node(node)),
            None => {
                self.node_with_ip(dst).map(Place::Node).or_else(|| self.external_client_with(dst).map(Place::Client))
            }
        };
        match next {
            Some(next) => self.forward(reply, place, next, back),
            None => {
                let reason = Reason::NoRoute { to: dst, from_internet: false };
                self.drop_packet(reply, place, back, reason, RulePath::default())
            }
        }
    }
}
