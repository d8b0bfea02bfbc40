//! The cloud load balancer in the loop: delivering a flow to a node, passing instance-target
//! replies back, and health-probing every node (`docs/fidelity.md#cloud-load-balancers`).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::Sim;
use super::client::EPHEMERAL;
use super::queue::Event;
use std::net::IpAddr;

use crate::cluster::{NodeId, Provider, ServiceId, ServiceType};
use crate::conntrack::Entry;
use crate::dataplane::RulePath;
use crate::endpoints::service_port_endpoints;
use crate::id::IdVec;
use crate::lb::{self, BackendHealth, Frontend, LbProfile, ProbePort, ProbeResult, RotationChange};
use crate::net::{Header, IpFamily, Protocol, SockAddr};
use crate::record::{
    Action, FlowId, Hop, Initiator, Outcome, PacketId, PacketKind, ProbeLine, Reason, RotationEvent, TraceEntry,
};
use crate::rng::SimRng;
use crate::time::Duration;
use crate::topology::Place;

/// One load balancer of a Service (one per family on Azure and GCP, one per Service on AWS).
#[derive(Debug, Clone)]
pub(super) struct LbState {
    pub profile: LbProfile,
    pub backends: BTreeMap<NodeId, BackendHealth>,
    /// The ingress addresses it answers on.
    pub frontends: Vec<IpAddr>,
}

impl Sim {
    /// The load balancers of LoadBalancer Service `svc` and the frontend addresses of each: one
    /// per family of its ingress (Azure's `-IPv6` frontend, rule and probe; GCP alike), or on AWS
    /// one NLB whose IPv6 frontend shares the IPv4 instance target group
    /// (`docs/fidelity.md#dual-stack-load-balancers`).
    fn frontends_of(&self, svc: ServiceId) -> Vec<(Frontend, Vec<IpAddr>)> {
        let service = self.cluster.service(svc);
        let ingress = &service.load_balancer_ingress;
        let families = service.families(&self.cluster.config);
        if self.cluster.config.provider == Provider::Aws {
            return vec![(Frontend { svc, family: families[0] }, ingress.clone())];
        }
        families
            .into_iter()
            .map(|family| {
                let ips: Vec<IpAddr> = ingress.iter().copied().filter(|ip| IpFamily::of(*ip) == family).collect();
                (Frontend { svc, family }, ips)
            })
            .filter(|(_, ips)| !ips.is_empty())
            .collect()
    }

    /// Sets up every LoadBalancer Service's load balancers with their backends in the state
    /// their probe would report, and starts the probes at random phases.
    pub(super) fn start_load_balancers(&mut self, root: &SimRng) {
        let mut phase_rng = root.stream("lb/phase");
        for (lb, profile, frontends) in self.wanted_load_balancers() {
            self.open_load_balancer(lb, profile, frontends, &mut phase_rng);
        }
    }

    /// After a change, the load balancers follow the Services' families, as the cloud
    /// controller does: a family patched in gets its frontend (probed from now on, at random
    /// phases), a family patched out loses it (its pending probes end, its address answers no
    /// more). `docs/fidelity.md#dual-stack-updates`.
    pub(super) fn reconcile_load_balancers(&mut self) {
        let wanted = self.wanted_load_balancers();
        // Rebuilt rather than `retain`ed: the bundle already carries this map's insert.
        for (lb, state) in std::mem::take(&mut self.lbs) {
            if wanted.iter().any(|(w, _, _)| *w == lb) {
                self.lbs.insert(lb, state);
            }
        }
        let mut phase_rng = self.probe_rng.stream("lb/phase");
        for (lb, profile, frontends) in wanted {
            match self.lbs.get_mut(&lb) {
                Some(state) => state.frontends = frontends,
                None => self.open_load_balancer(lb, profile, frontends, &mut phase_rng),
            }
        }
    }

    /// Every load balancer the cluster's LoadBalancer Services have now, with its profile and
    /// frontend addresses.
    fn wanted_load_balancers(&self) -> Vec<(Frontend, LbProfile, Vec<IpAddr>)> {
        let mut out = Vec::new();
        for svc in self.cluster.services.ids() {
            let service = self.cluster.service(svc);
            if service.type_ != ServiceType::LoadBalancer {
                continue;
            }
            let Some(profile) = LbProfile::for_service(self.cluster.config.provider, service) else { continue };
            out.extend(self.frontends_of(svc).into_iter().map(|(lb, frontends)| (lb, profile, frontends)));
        }
        out
    }

    /// A new load balancer: its backends as their probe would report them, its rotation recorded,
    /// each node's first probe within one interval from now.
    fn open_load_balancer(&mut self, lb: Frontend, profile: LbProfile, frontends: Vec<IpAddr>, phase_rng: &mut SimRng) {
        let steady = self.steady_probe_ok(lb, &profile);
        let mut backends = BTreeMap::new();
        for node in self.cluster.nodes.ids() {
            backends.insert(node, BackendHealth::new(steady[node]));
            let phase = Duration::from_micros(phase_rng.below(profile.probe.interval.as_micros()));
            self.schedule(self.now + phase, Event::Probe { lb, node });
        }
        self.run.initial_rotation.insert(lb, backends.iter().map(|(n, b)| (*n, b.in_rotation)).collect());
        self.lbs.insert(lb, LbState { profile, backends, frontends });
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
        let found = self.lbs.iter().find_map(|(lb, state)| {
            let s = self.cluster.service(lb.svc);
            let ip_ok = state.frontends.contains(&header.dst.ip);
            // One load-balancing rule per port and protocol.
            let rule = s.ports.iter().position(|p| p.port == header.dst.port && p.protocol == header.proto);
            rule.filter(|_| ip_ok).map(|port| (*lb, port))
        });
        let Some((frontend, port)) = found else {
            return self.drop_packet(packet, Place::Lb, header, Reason::NoLbRule(header.dst), RulePath::default());
        };
        let svc = frontend.svc;
        let lb = &self.lbs[&frontend];
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
                let Some(target) = self.cluster.node(node).addresses(frontend.family) else {
                    let reason = Reason::NoInstanceTargetPort;
                    return self.drop_packet(packet, Place::Lb, header, reason, RulePath::default());
                };
                let mut out = Header { dst: SockAddr::new(target.ip, node_port), ..header };
                // An IPv6 client through a dual-stack NLB to IPv4 instance targets: the NLB
                // speaks IPv4 to the node from its own private address; the client's address
                // is not preserved across families.
                if header.family() != frontend.family {
                    out.src = SockAddr::new(nlb_private_address(target.ip), header.src.port);
                }
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

    /// The load balancer `lb` probes `node`, and schedules the next probe.
    pub(super) fn probe(&mut self, lb: Frontend, node: NodeId) {
        let Frontend { svc, family } = lb;
        let provider = self.cluster.config.provider;
        let Some(profile) = LbProfile::for_service(provider, self.cluster.service(svc)) else {
            return;
        };
        // A frontend patched out of the Service probes no more.
        let Some(state) = self.lbs.get_mut(&lb) else { return };
        // A patch of externalTrafficPolicy changes the probe (the cloud controller reprograms it).
        state.profile = profile;
        self.schedule(self.now + profile.probe.interval, Event::Probe { lb, node });
        let port = profile.probe.port.of(self.cluster.service(svc));
        let target = self.cluster.node(node).addresses(family);
        let (Some(port), Some(target)) = (port, target) else {
            return self.unprobed(lb, node);
        };
        let src_port = EPHEMERAL.0 + self.probe_rng.below(u64::from(EPHEMERAL.1 - EPHEMERAL.0)) as u16;
        let src = SockAddr::new(lb::probe_source(provider, family), src_port);
        let header = Header::tcp(src, SockAddr::new(target.ip, port));
        let (flow, packet) = self.new_flow(Initiator::Probe { svc, node, family }, header, PacketKind::Probe);
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
        let Initiator::Probe { svc, node, family } = f.initiator else { return };
        let frontend = Frontend { svc, family };
        let port = f.header.dst.port;
        let ok = result.success();
        let now = self.now;
        let f = self.run.flow_mut(flow);
        f.probe_result = Some(result);
        f.end = Some(now);
        if f.outcome == Outcome::InFlight {
            f.outcome = if ok { Outcome::Answered } else { Outcome::Dropped(Rc::new(Reason::Probe(result))) };
        }
        // A probe in flight when its frontend was patched out counts for nothing.
        let Some(lb) = self.lbs.get_mut(&frontend) else { return };
        let spec = lb.profile.probe;
        let change = lb.backends.get_mut(&node).expect("every node is a backend").observe(result, &spec);
        self.run.probe_metric.record(now, node, family, ok);
        self.trace(TraceEntry::Probe(Box::new(ProbeLine { flow, node, svc, family, kind: spec.kind, port, result })));
        let (in_rotation, reason) = match change {
            Some(RotationChange::Left { reason }) => (false, Some(reason)),
            Some(RotationChange::Joined) => (true, None),
            None => return,
        };
        let index = self.run.rotation.len() as u32;
        self.run.rotation.push(RotationEvent { time: now, svc, family, node, in_rotation, reason });
        self.trace(TraceEntry::Rotation(index));
    }

    /// A Service the load balancer does not probe (an Azure Cluster Service with no TCP port)
    /// keeps every node in rotation: after a patch from Local, the nodes that were out return.
    fn unprobed(&mut self, lb: Frontend, node: NodeId) {
        let Frontend { svc, family } = lb;
        let Some(backend) = self.lbs.get_mut(&lb).and_then(|lb| lb.backends.get_mut(&node)) else { return };
        if backend.in_rotation {
            return;
        }
        *backend = BackendHealth::new(true);
        let index = self.run.rotation.len() as u32;
        self.run.rotation.push(RotationEvent { time: self.now, svc, family, node, in_rotation: true, reason: None });
        self.trace(TraceEntry::Rotation(index));
    }

    /// What a probe of each node by `lb` would report in the cluster's current steady state.
    fn steady_probe_ok(&self, lb: Frontend, profile: &LbProfile) -> IdVec<NodeId, bool> {
        let svc = lb.svc;
        let service = self.cluster.service(svc);
        // A link-local probe of a NodePort DNATed to a pod of the probed node is refused there
        // (another interface); one DNATed to another node's pod is forwarded. A node with
        // endpoints of both kinds passes or fails as each probe's pick goes: start it in
        // rotation if some pick passes.
        let link_local = crate::net::is_link_local(lb::probe_source(self.cluster.config.provider, lb.family));
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
        let forwarded = |node: NodeId| !link_local || eps.iter().any(|e| e.ready && e.node != Some(node));
        let probe_ok = |(node, n): (NodeId, &crate::cluster::Node)| match profile.probe.port {
            ProbePort::HealthCheckNodePort => n.kube_proxy_healthy && local.contains(&node),
            ProbePort::ProxyHealthz => n.kube_proxy_healthy,
            ProbePort::NodePort => serving && tcp && forwarded(node),
            ProbePort::TcpNodePort => serving && forwarded(node),
        };
        self.cluster.nodes.iter_enumerated().map(probe_ok).collect()
    }
}

/// The private address an NLB speaks from to a target at `target`: the target's subnet, host
/// part 250 (an illustration: AWS picks one of the subnet's free addresses).
fn nlb_private_address(target: IpAddr) -> IpAddr {
    match target {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            std::net::Ipv4Addr::new(a, b, c, 250).into()
        }
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[7] = 0x250;
            std::net::Ipv6Addr::from(seg).into()
        }
    }
}
