//! The cloud load balancer in the loop: delivering a flow to a node, passing instance-target
//! replies back, and health-probing every node (`docs/fidelity.md#cloud-load-balancers`).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::Sim;
use super::client::EPHEMERAL;
use super::queue::Event;
use crate::cluster::{NodeId, ServiceId, ServiceType};
use crate::conntrack::Entry;
use crate::dataplane::RulePath;
use crate::endpoints::service_port_endpoints;
use crate::id::IdVec;
use crate::lb::{self, BackendHealth, LbProfile, ProbePort, ProbeResult, RotationChange};
use crate::net::{Header, Protocol, SockAddr};
use crate::record::{
    Action, FlowId, Hop, Initiator, Outcome, PacketId, PacketKind, ProbeLine, Reason, RotationEvent, TraceEntry,
};
use crate::rng::SimRng;
use crate::time::{Duration, Instant};
use crate::topology::Place;

/// One Service's load balancer.
#[derive(Debug, Clone)]
pub(super) struct LbState {
    pub profile: LbProfile,
    pub backends: BTreeMap<NodeId, BackendHealth>,
}

impl Sim {
    /// Sets up every LoadBalancer Service's load balancer with its backends in the state their
    /// probe would report, and starts the probes at random phases.
    pub(super) fn start_load_balancers(&mut self, root: &SimRng) {
        let mut phase_rng = root.stream("lb/phase");
        for svc in self.cluster.services.ids() {
            let service = self.cluster.service(svc);
            if service.type_ != ServiceType::LoadBalancer {
                continue;
            }
            let Some(profile) = LbProfile::for_service(self.cluster.config.provider, service) else { continue };
            let steady = self.steady_probe_ok(svc, &profile);
            let mut backends = BTreeMap::new();
            for node in self.cluster.nodes.ids() {
                backends.insert(node, BackendHealth::new(steady[node]));
                let phase = Duration::from_micros(phase_rng.below(profile.probe.interval.as_micros()));
                self.schedule(Instant::ZERO + phase, Event::Probe { svc, node });
            }
            self.run.initial_rotation.insert(svc, backends.iter().map(|(n, b)| (*n, b.in_rotation)).collect());
            self.lbs.insert(svc, LbState { profile, backends });
        }
    }

    pub(super) fn at_lb(&mut self, packet: PacketId, header: Header) {
        match self.packet(packet).kind {
            PacketKind::ProbeReply => {
                self.hop(packet, Place::Lb, header, Action::Delivered);
                let flow = self.flow_of(packet);
                let result = self.pending_probe.remove(&flow).unwrap_or(ProbeResult::Timeout);
                self.finalize_probe(flow, result);
            }
            // AWS instance targets: the reply passes back through the NLB.
            PacketKind::Reply => match self.lb_flows.take_reply(header) {
                Some(entry) => {
                    let out = entry.unnat_reply();
                    let hop = Hop {
                        at: Place::Lb,
                        time: self.now,
                        before: header,
                        action: Action::UnNat,
                        rules: RulePath::default(),
                        conntrack: Some(entry),
                    };
                    self.push_hop(packet, hop);
                    self.trace_hop(packet);
                    let client = self.flow_place(packet);
                    self.forward(packet, Place::Lb, client, out);
                }
                None => self.drop_packet(packet, Place::Lb, header, Reason::NoLbFlow, RulePath::default()),
            },
            PacketKind::Request | PacketKind::Probe => self.balance(packet, header),
        }
    }

    /// A new flow at the LB: pick a node in rotation and deliver to it.
    fn balance(&mut self, packet: PacketId, header: Header) {
        let found = self.lbs.keys().copied().find_map(|svc| {
            let s = self.cluster.service(svc);
            let ip_ok = s.load_balancer_ingress.contains(&header.dst.ip);
            // One load-balancing rule per port and protocol.
            let rule = s.ports.iter().position(|p| p.port == header.dst.port && p.protocol == header.proto);
            rule.filter(|_| ip_ok).map(|port| (svc, port))
        });
        let Some((svc, port)) = found else {
            return self.drop_packet(packet, Place::Lb, header, Reason::NoLbRule(header.dst), RulePath::default());
        };
        let lb = &self.lbs[&svc];
        let in_rotation: Vec<NodeId> = lb.backends.iter().filter(|(_, b)| b.in_rotation).map(|(n, _)| *n).collect();
        let affinity = self.cluster.service(svc).session_affinity.is_some();
        let Some(node) = lb::pick_backend(&in_rotation, header, affinity, self.lb_salt) else {
            return self.drop_packet(packet, Place::Lb, header, Reason::NoHealthyBackend, RulePath::default());
        };
        let total = lb.backends.len() as u32;
        let (out, flow_entry) = match lb.profile.delivery {
            lb::Delivery::FloatingIp => (header, None),
            lb::Delivery::InstanceTarget => {
                let Some(node_port) = self.cluster.service(svc).ports[port].node_port else {
                    let reason = Reason::NoInstanceTargetPort;
                    return self.drop_packet(packet, Place::Lb, header, reason, RulePath::default());
                };
                let out = Header { dst: SockAddr::new(self.cluster.node(node).ip, node_port), ..header };
                let entry = Rc::new(Entry::new(header, out, self.now));
                self.lb_flows.insert(Rc::clone(&entry));
                (out, Some(entry))
            }
        };
        let action = Action::Balanced { node, in_rotation: in_rotation.len() as u32, total, by_source_ip: affinity };
        let hop = Hop {
            at: Place::Lb,
            time: self.now,
            before: header,
            action,
            rules: RulePath::default(),
            conntrack: flow_entry,
        };
        self.push_hop(packet, hop);
        self.trace_hop(packet);
        self.forward(packet, Place::Lb, Place::Node(node), out);
    }

    /// The load balancer probes `node` for `svc`, and schedules the next probe.
    pub(super) fn probe(&mut self, svc: ServiceId, node: NodeId) {
        let Some(profile) = LbProfile::for_service(self.cluster.config.provider, self.cluster.service(svc)) else {
            return;
        };
        let lb = self.lbs.get_mut(&svc).expect("probes are scheduled for LB services");
        // A patch of externalTrafficPolicy changes the probe (the cloud controller reprograms it).
        lb.profile = profile;
        self.schedule(self.now + profile.probe.interval, Event::Probe { svc, node });
        let Some(port) = profile.probe.port.of(self.cluster.service(svc)) else {
            return self.unprobed(svc, node);
        };
        let src_port = EPHEMERAL.0 + self.probe_rng.below(u64::from(EPHEMERAL.1 - EPHEMERAL.0)) as u16;
        let header =
            Header::tcp(SockAddr::new(lb::PROBE_SOURCE, src_port), SockAddr::new(self.cluster.node(node).ip, port));
        let (flow, packet) = self.new_flow(Initiator::Probe { svc, node }, header, PacketKind::Probe);
        self.hop(packet, Place::Lb, header, Action::Sent);
        self.schedule(self.now + profile.probe.timeout, Event::ProbeTimeout { flow });
        self.forward(packet, Place::Lb, Place::Node(node), header);
    }

    /// The load balancer records a probe's result: the metric, the backend's health, and a
    /// rotation change when a threshold is crossed. Later results of the same probe are ignored.
    pub(super) fn finalize_probe(&mut self, flow: FlowId, result: ProbeResult) {
        let f = self.run.flow(flow);
        if f.probe_result.is_some() {
            return;
        }
        let Initiator::Probe { svc, node } = f.initiator else { return };
        let port = f.header.dst.port;
        let ok = result.success();
        let now = self.now;
        let f = self.run.flow_mut(flow);
        f.probe_result = Some(result);
        f.end = Some(now);
        if f.outcome == Outcome::InFlight {
            f.outcome = if ok { Outcome::Answered } else { Outcome::Dropped(Rc::new(Reason::Probe(result))) };
        }
        let lb = self.lbs.get_mut(&svc).expect("probe of an LB service");
        let spec = lb.profile.probe;
        let change = lb.backends.get_mut(&node).expect("every node is a backend").observe(result, &spec);
        self.run.probe_metric.record(now, node, ok);
        self.trace(TraceEntry::Probe(Box::new(ProbeLine { flow, node, svc, kind: spec.kind, port, result })));
        let (in_rotation, reason) = match change {
            Some(RotationChange::Left { reason }) => (false, Some(reason)),
            Some(RotationChange::Joined) => (true, None),
            None => return,
        };
        let index = self.run.rotation.len() as u32;
        self.run.rotation.push(RotationEvent { time: now, svc, node, in_rotation, reason });
        self.trace(TraceEntry::Rotation(index));
    }

    /// A Service the load balancer does not probe (an Azure Cluster Service with no TCP port)
    /// keeps every node in rotation: after a patch from Local, the nodes that were out return.
    fn unprobed(&mut self, svc: ServiceId, node: NodeId) {
        let backend =
            self.lbs.get_mut(&svc).and_then(|lb| lb.backends.get_mut(&node)).expect("every node is a backend");
        if backend.in_rotation {
            return;
        }
        *backend = BackendHealth::new(true);
        let index = self.run.rotation.len() as u32;
        self.run.rotation.push(RotationEvent { time: self.now, svc, node, in_rotation: true, reason: None });
        self.trace(TraceEntry::Rotation(index));
    }

    /// What a probe of each node for `svc` would report in the cluster's current steady state.
    fn steady_probe_ok(&self, svc: ServiceId, profile: &LbProfile) -> IdVec<NodeId, bool> {
        let service = self.cluster.service(svc);
        if profile.probe.port.of(service).is_none() {
            return self.cluster.nodes.iter().map(|_| true).collect();
        }
        // The port probed; a TCP probe of a UDP or SCTP port's NodePort finds no TCP listener.
        let probed = match profile.probe.port {
            ProbePort::TcpNodePort => service.ports.iter().position(|p| p.protocol == Protocol::Tcp).unwrap_or(0),
            _ => 0,
        };
        let tcp = service.ports[probed].protocol == Protocol::Tcp;
        let eps = service_port_endpoints(&self.cluster, svc, probed);
        let local: std::collections::BTreeSet<NodeId> = match profile.probe.port {
            ProbePort::HealthCheckNodePort => crate::order::set(
                (0..self.cluster.service(svc).ports.len())
                    .flat_map(|p| service_port_endpoints(&self.cluster, svc, p))
                    .filter(|e| e.ready)
                    .filter_map(|e| e.node),
            ),
            _ => Default::default(),
        };
        let serving = eps.iter().any(|e| e.ready) || eps.iter().any(|e| e.serving && e.terminating);
        let probe_ok = |(node, n): (NodeId, &crate::cluster::Node)| match profile.probe.port {
            ProbePort::HealthCheckNodePort => n.kube_proxy_healthy && local.contains(&node),
            ProbePort::ProxyHealthz => n.kube_proxy_healthy,
            ProbePort::NodePort => serving && tcp,
            ProbePort::TcpNodePort => serving,
        };
        self.cluster.nodes.iter_enumerated().map(probe_ok).collect()
    }
}
