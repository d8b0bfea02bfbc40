//! The discrete-event loop: events totally ordered by (time, seq), each moving a packet one hop,
//! sending a request or a probe, applying a timeline change, or re-syncing kube-proxy.
//!
//! [`Sim::run_until`] can be called repeatedly with later times: the browser extends an
//! open-ended run in chunks, and everything already recorded stays unchanged.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use crate::cluster::{Cluster, NodeId, PodId, ServiceId, ServiceType};
use crate::conntrack::{Conntrack, Entry};
use crate::endpoints::local_ready_endpoint_ips;
use crate::kube_proxy::{
    self, ChainName, Chooser, Delivery, NodeNet, Origin, RuleHit, Ruleset, Table, Verdict, chains,
};
use crate::lb::{self, BackendHealth, LbProfile, ProbeKind, ProbeMetric, ProbePort, ProbeResult, RotationChange};
use crate::net::Header;
pub use crate::record::Run;
use crate::record::{
    Action, FlowId, FlowRecord, Hop, Initiator, Names, Outcome, PacketId, PacketKind, PacketRecord, RotationEvent,
    StateEvent, TraceEntry, TraceLine,
};
use crate::rng::SimRng;
use crate::scenario::{Change, ClientKind, Scenario, Schedule, Target};
use crate::time::{Duration, Instant};
use crate::topology::{Latencies, POD_LINK, Place, Topology};

/// kube-proxy's own health port (§2.5).
pub const PROXY_HEALTHZ_PORT: u16 = 10256;
/// How long a deleted or scaled-down pod stays terminating before it is gone.
pub const TERMINATION: Duration = Duration::from_secs(1);
/// Most packets make five hops or fewer (sent, LB, ingress node, second node, pod): reserving
/// that many up front keeps a large run's record from doubling its hop vectors.
const HOPS_HINT: usize = 5;
/// The first ephemeral port clients use (Linux `ip_local_port_range`).
const EPHEMERAL: (u16, u16) = (32768, 60999);

#[derive(Debug, Clone)]
enum Event {
    Send { client: u32 },
    Arrive { packet: PacketId, at: Place, header: Header },
    Probe { svc: ServiceId, node: NodeId },
    ProbeTimeout { flow: FlowId },
    ProbeAnswered { flow: FlowId },
    Apply { change: usize },
    Sync { node: NodeId },
    PodGone { pod: PodId },
    Sweep,
}

/// A queued event. IMPORTANT: ordering is by (time, seq) only, and seq is unique, so the order
/// is total and independent of the event's contents.
#[derive(Debug)]
struct Queued {
    time: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// Pods as (ready, terminating, deleted) and nodes as (ready, kube-proxy healthy).
struct Snapshot {
    pods: Vec<(bool, bool, bool)>,
    nodes: Vec<(bool, bool)>,
}

/// kube-proxy's state on one node.
#[derive(Debug, Clone)]
struct NodeState {
    rules: Rc<Ruleset>,
    net: NodeNet,
    last_sync: Instant,
    sync_scheduled: bool,
    /// Health servers opened at the last sync: Service → (port, local endpoints then).
    health_servers: BTreeMap<ServiceId, (u16, usize)>,
    conntrack: Conntrack,
    /// `-m recent` lists: (list, source) → last seen.
    recent: BTreeMap<(ChainName, Ipv4Addr), Instant>,
}

#[derive(Debug, Clone)]
struct LbState {
    profile: LbProfile,
    backends: BTreeMap<NodeId, BackendHealth>,
}

/// The simulation of one scenario.
pub struct Sim {
    scenario: Scenario,
    cluster: Cluster,
    topology: Topology,
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    nodes: Vec<NodeState>,
    lbs: BTreeMap<ServiceId, LbState>,
    lb_salt: u64,
    client_rngs: Vec<SimRng>,
    client_ports: Vec<u32>,
    probe_rng: SimRng,
    names_rng: SimRng,
    /// AWS instance targets: node-side reply header → client-side reply header.
    lb_flows: BTreeMap<Header, Header>,
    pending_probe: BTreeMap<FlowId, ProbeResult>,
    /// EndpointSlice addresses that are no pod: (address, the node named by nodeName).
    backends: Vec<(Ipv4Addr, Option<NodeId>)>,
    /// Live pods by IP, rebuilt whenever pods come or go.
    pod_ips: BTreeMap<Ipv4Addr, PodId>,
    /// Routing tables, fixed for the run: node IPs, podCIDRs by network address, LB frontend
    /// IPs and external clients' IPs.
    routes: Routes,
    /// Shares identical chains between nodes' rulesets.
    interner: kube_proxy::Interner,
    /// Work shared by all nodes' syncs for the current state of the cluster.
    program_cache: kube_proxy::ProgramCache,
    run: Run,
}

struct SimChooser<'a> {
    rng: &'a mut SimRng,
    recent: &'a mut BTreeMap<(ChainName, Ipv4Addr), Instant>,
    now: Instant,
}

impl Chooser for SimChooser<'_> {
    fn statistic(&mut self, one_in: u32) -> bool {
        self.rng.one_in(u64::from(one_in))
    }
    fn recent_check(&mut self, name: &ChainName, src: Ipv4Addr, seconds: u32) -> bool {
        let key = (name.clone(), src);
        match self.recent.get(&key) {
            Some(seen) if self.now.saturating_since(*seen) <= Duration::from_secs(u64::from(seconds)) => true,
            Some(_) => {
                // `--reap`: the stale entry goes.
                self.recent.remove(&key);
                false
            }
            None => false,
        }
    }
    fn recent_set(&mut self, name: &ChainName, src: Ipv4Addr) {
        self.recent.insert((name.clone(), src), self.now);
    }
}

impl Sim {
    /// Prepares a run: allocates what the cluster leaves empty, schedules the initial pods,
    /// programs every node's rules and puts every backend in the state its probe would report.
    pub fn new(scenario: Scenario) -> Sim {
        let root = SimRng::new(scenario.seed);
        let mut cluster = scenario.cluster.clone();
        let mut names_rng = root.stream("names");
        cluster.allocate();
        cluster.reconcile_deployments(&mut names_rng);
        let topology = Topology::new(scenario.clients.len() as u32, cluster.nodes.len() as u32, Latencies::default());
        let client_rngs: Vec<SimRng> =
            scenario.clients.iter().map(|c| root.stream(&format!("client/{}", c.name))).collect();
        let client_ports =
            client_rngs.iter().map(|r| r.clone().below(u64::from(EPHEMERAL.1 - EPHEMERAL.0)) as u32).collect();
        let mut sim = Sim {
            topology,
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: Vec::new(),
            lbs: BTreeMap::new(),
            lb_salt: root.stream("lb/hash").next_u64(),
            client_rngs,
            client_ports,
            probe_rng: root.stream("lb/probes"),
            names_rng,
            lb_flows: BTreeMap::new(),
            pending_probe: BTreeMap::new(),
            backends: Vec::new(),
            pod_ips: BTreeMap::new(),
            routes: Routes::default(),
            interner: kube_proxy::Interner::default(),
            program_cache: kube_proxy::ProgramCache::default(),
            run: Run::default(),
            cluster,
            scenario,
        };
        sim.index_pods();
        for (i, p) in sim.cluster.pods.iter().enumerate().filter(|(_, p)| !p.deleted) {
            let id = PodId(i as u32);
            sim.run.states.push((Instant::ZERO, StateEvent::PodCreated(id)));
            if !p.ready || p.terminating {
                sim.run.states.push((Instant::ZERO, StateEvent::PodReady(id, false)));
            }
            if p.terminating {
                sim.run.states.push((Instant::ZERO, StateEvent::PodTerminating(id)));
            }
        }
        for n in 0..sim.cluster.nodes.len() {
            let node = NodeId(n as u32);
            let mut rules = kube_proxy::program_cached(&sim.cluster, node, &mut sim.program_cache);
            sim.interner.intern(&mut rules);
            let rules = Rc::new(rules);
            let mut state = NodeState {
                rules,
                net: NodeNet::of(&sim.cluster, node),
                last_sync: Instant::ZERO,
                sync_scheduled: false,
                health_servers: BTreeMap::new(),
                conntrack: Conntrack::default(),
                recent: BTreeMap::new(),
            };
            state.health_servers = health_servers(&sim.cluster, node);
            sim.nodes.push(state);
        }
        sim.backends = plain_backends(&sim.cluster);
        sim.routes = Routes::new(&sim.cluster, &sim.scenario);
        sim.run.names = Names {
            clients: sim.scenario.clients.iter().map(|c| c.name.clone()).collect(),
            nodes: sim.cluster.nodes.iter().map(|n| n.name.clone()).collect(),
            pods: std::mem::take(&mut sim.run.names.pods),
            backends: sim.backends.iter().map(|(ip, _)| *ip).collect(),
        };
        sim.trace_setup();
        let mut phase_rng = root.stream("lb/phase");
        for s in 0..sim.cluster.services.len() {
            let svc = ServiceId(s as u32);
            let service = sim.cluster.service(svc);
            if service.type_ != ServiceType::LoadBalancer {
                continue;
            }
            let Some(profile) = LbProfile::for_service(sim.cluster.config.provider, service) else { continue };
            let mut backends = BTreeMap::new();
            for n in 0..sim.cluster.nodes.len() {
                let node = NodeId(n as u32);
                backends.insert(node, BackendHealth::new(sim.steady_probe_ok(svc, node, &profile)));
                let phase = Duration::from_micros(phase_rng.below(profile.probe.interval.as_micros()));
                sim.schedule(Instant::ZERO + phase, Event::Probe { svc, node });
            }
            sim.run.initial_rotation.insert(svc, backends.iter().map(|(n, b)| (*n, b.in_rotation)).collect());
            sim.lbs.insert(svc, LbState { profile, backends });
            sim.run.probe_metric.insert(svc, ProbeMetric::default());
        }
        for c in 0..sim.scenario.clients.len() {
            match &sim.scenario.clients[c].schedule {
                Schedule::Every(period) => {
                    let first = Instant::from_micros(period.as_micros() / 2);
                    sim.schedule(first, Event::Send { client: c as u32 });
                }
                Schedule::At(times) => {
                    for t in times.clone() {
                        sim.schedule(t, Event::Send { client: c as u32 });
                    }
                }
            }
        }
        for i in 0..sim.scenario.changes.len() {
            let at = sim.scenario.changes[i].at;
            sim.schedule(at, Event::Apply { change: i });
        }
        sim.schedule(Instant::from_secs(30), Event::Sweep);
        sim
    }

    /// Runs every event up to and including `until`, then stops with the clock at `until`.
    pub fn run_until(&mut self, until: Instant) -> &Run {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.time > until {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            debug_assert!(q.time >= self.now, "time went backwards");
            self.now = q.time;
            self.run.events += 1;
            self.handle(q.event);
        }
        self.now = self.now.max(until);
        &self.run
    }

    /// Runs the scenario's whole duration.
    pub fn run(&mut self) -> &Run {
        let end = Instant::ZERO + self.scenario.duration;
        self.run_until(end)
    }

    /// Forgets history before `cutoff` (see [`Run::forget_before`]); the run goes on unchanged.
    ///
    /// # Panics
    /// If `cutoff` is less than a minute before now: in-flight state may still refer to it.
    pub fn forget_before(&mut self, cutoff: Instant) {
        assert!(cutoff + Duration::from_secs(60) <= self.now, "forget only history older than a minute");
        self.run.forget_before(cutoff);
    }

    /// The record so far.
    pub fn record(&self) -> &Run {
        &self.run
    }
    /// The cluster as it is now.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }
    pub fn topology(&self) -> &Topology {
        &self.topology
    }
    pub fn now(&self) -> Instant {
        self.now
    }
    /// The rules kube-proxy has programmed on `node` now.
    pub fn rules(&self, node: NodeId) -> &Ruleset {
        &self.nodes[node.0 as usize].rules
    }
    /// The addresses of `node` that its rules are evaluated with.
    pub fn node_net(&self, node: NodeId) -> NodeNet {
        self.nodes[node.0 as usize].net
    }
    /// Whether the LB of `svc` has `node` in rotation now.
    pub fn in_rotation(&self, svc: ServiceId, node: NodeId) -> Option<bool> {
        Some(self.lbs.get(&svc)?.backends.get(&node)?.in_rotation)
    }
    /// The LB's view of every backend of `svc` now.
    pub fn backends(&self, svc: ServiceId) -> Option<&BTreeMap<NodeId, BackendHealth>> {
        Some(&self.lbs.get(&svc)?.backends)
    }

    /// The live pod holding `ip`.
    fn pod_at(&self, ip: Ipv4Addr) -> Option<PodId> {
        self.pod_ips.get(&ip).copied()
    }

    /// Re-indexes pods by IP and names new pods for the trace; call whenever pods come or go.
    fn index_pods(&mut self) {
        self.pod_ips = self
            .cluster
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.deleted)
            .map(|(i, p)| (p.ip, PodId(i as u32)))
            .collect();
        let known = self.run.names.pods.len();
        self.run.names.pods.extend(self.cluster.pods[known..].iter().map(|p| p.name.clone()));
    }

    fn schedule(&mut self, time: Instant, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { time, seq: self.seq, event }));
    }

    /// A trace line that is not about one packet hop.
    fn note(&mut self, text: String) {
        self.run.trace.push(TraceLine { time: self.now, entry: TraceEntry::Note(text.into()) });
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Send { client } => self.send(client),
            Event::Arrive { packet, at, header } => self.arrive(packet, at, header),
            Event::Probe { svc, node } => self.probe(svc, node),
            Event::ProbeTimeout { flow } => self.finalize_probe(flow, ProbeResult::Timeout),
            Event::ProbeAnswered { flow } => {
                let result = self.pending_probe.remove(&flow).unwrap_or(ProbeResult::Timeout);
                self.finalize_probe(flow, result);
            }
            Event::Apply { change } => self.apply(change),
            Event::Sync { node } => self.sync(node),
            Event::PodGone { pod } => {
                let before = self.snapshot();
                self.cluster.pods[pod.0 as usize].deleted = true;
                self.record_state_changes(before);
                self.program_cache.clear();
                self.index_pods();
                let name = self.cluster.pod(pod).name.clone();
                self.note(format!("pod {name} is gone"));
                self.schedule_syncs();
            }
            Event::Sweep => {
                let now = self.now;
                for n in &mut self.nodes {
                    n.conntrack.expire(now);
                    n.recent.retain(|_, seen| now.saturating_since(*seen) <= Duration::from_secs(86_400));
                }
                self.schedule(now + Duration::from_secs(30), Event::Sweep);
            }
        }
    }

    // ----- names for the trace -----

    fn trace_setup(&mut self) {
        let c = &self.cluster;
        let mut lines = vec![format!(
            "cluster: {} nodes, provider {}, network plugin {}, clusterCIDR {}",
            c.nodes.len(),
            c.config.provider,
            c.config.network_plugin,
            c.config.cluster_cidr
        )];
        for n in &c.nodes {
            lines.push(format!("node {}: ip {}, podCIDR {}", n.name, n.ip, n.pod_cidr));
        }
        for p in c.pods.iter().filter(|p| !p.deleted) {
            lines.push(format!("pod {}: ip {} on {} ({})", p.name, p.ip, c.node(p.node).name, p.app));
        }
        for s in &c.services {
            let mut l = format!(
                "service {}: {} clusterIP {}",
                s.namespaced_name(),
                s.type_,
                s.cluster_ip.map_or("None".into(), |ip| ip.to_string())
            );
            for p in &s.ports {
                l.push_str(&format!(", port {} -> {}", p.port, p.target_port));
                if let Some(np) = p.node_port {
                    l.push_str(&format!(" nodePort {np}"));
                }
            }
            if let Some(ip) = s.load_balancer_ingress.first() {
                l.push_str(&format!(", LB {ip}"));
            }
            l.push_str(&format!(", externalTrafficPolicy {}", s.external_traffic_policy));
            if let Some(hc) = s.health_check_node_port {
                l.push_str(&format!(", healthCheckNodePort {hc}"));
            }
            lines.push(l);
        }
        for l in lines {
            self.note(l);
        }
    }

    // ----- packets -----

    fn new_flow(&mut self, initiator: Initiator, header: Header, kind: PacketKind) -> (FlowId, PacketId) {
        let flow = self.run.next_flow_id();
        let packet = self.run.next_packet_id();
        self.run.packets.push(PacketRecord { id: packet, kind, flow, hops: Vec::with_capacity(HOPS_HINT) });
        self.run.flows.push(FlowRecord {
            id: flow,
            initiator,
            start: self.now,
            header,
            request: packet,
            reply: None,
            outcome: Outcome::InFlight,
            ingress_node: None,
            pod: None,
            source_seen: None,
            app_output: None,
            probe_result: None,
            end: None,
        });
        (flow, packet)
    }

    fn new_reply(&mut self, flow: FlowId) -> PacketId {
        let packet = self.run.next_packet_id();
        let kind = match self.run.flow(flow).initiator {
            Initiator::Client(_) => PacketKind::Reply,
            Initiator::Probe { .. } => PacketKind::ProbeReply,
        };
        self.run.packets.push(PacketRecord { id: packet, kind, flow, hops: Vec::with_capacity(HOPS_HINT) });
        self.run.flow_mut(flow).reply = Some(packet);
        packet
    }

    fn packet(&self, id: PacketId) -> &PacketRecord {
        self.run.packet(id)
    }

    /// Records a hop at the current time where no rule or conntrack entry was involved.
    fn hop(&mut self, packet: PacketId, at: Place, before: Header, after: Header, action: Action) {
        self.push_hop(packet, Hop { at, time: self.now, before, after, action, rules: Vec::new(), conntrack: None });
    }

    fn push_hop(&mut self, packet: PacketId, hop: Hop) {
        self.run.packet_mut(packet).hops.push(hop);
    }

    fn is_probe(&self, packet: PacketId) -> bool {
        matches!(self.packet(packet).kind, PacketKind::Probe | PacketKind::ProbeReply)
    }

    /// Traces the hop just recorded for `packet`, except the hops of probes (their results are
    /// traced instead). The line is rendered from the hop when the trace is read.
    fn trace_hop(&mut self, packet: PacketId) {
        if !self.is_probe(packet) {
            let hop = self.packet(packet).hops.len() as u32 - 1;
            self.run.trace.push(TraceLine { time: self.now, entry: TraceEntry::Hop { packet, hop } });
        }
    }

    fn latency(&self, from: Place, to: Place) -> Duration {
        let (from_g, from_extra) = self.graph_place(from);
        let (to_g, to_extra) = self.graph_place(to);
        if from_g == to_g { from_extra + to_extra } else { self.topology.latency(from_g, to_g) + from_extra + to_extra }
    }

    fn graph_place(&self, place: Place) -> (Place, Duration) {
        match place {
            Place::Pod(p) => (Place::Node(self.cluster.pod(p).node), POD_LINK),
            Place::Backend(b) => match self.backends[b as usize].1 {
                Some(node) => (Place::Node(node), POD_LINK),
                None => (Place::Internet, Duration::ZERO),
            },
            other => (other, Duration::ZERO),
        }
    }

    fn forward(&mut self, packet: PacketId, from: Place, to: Place, header: Header) {
        let at = self.now + self.latency(from, to);
        self.schedule(at, Event::Arrive { packet, at: to, header });
    }

    fn end_flow(&mut self, packet: PacketId, outcome: Outcome) {
        let flow = self.packet(packet).flow;
        let now = self.now;
        let f = self.run.flow_mut(flow);
        if f.outcome == Outcome::InFlight {
            f.outcome = outcome;
            f.end = Some(now);
        }
    }

    fn drop_packet(&mut self, packet: PacketId, at: Place, header: Header, reason: String, rules: Vec<RuleHit>) {
        let action = Action::Dropped { reason: reason.clone() };
        self.push_hop(
            packet,
            Hop { at, time: self.now, before: header, after: header, action, rules, conntrack: None },
        );
        self.trace_hop(packet);
        self.end_flow(packet, Outcome::Dropped { reason: reason.clone() });
        self.fail_probe_later(packet, None);
    }

    fn reject_packet(&mut self, packet: PacketId, at: Place, header: Header, reason: String, rules: Vec<RuleHit>) {
        let action = Action::Rejected { reason: reason.clone() };
        self.push_hop(
            packet,
            Hop { at, time: self.now, before: header, after: header, action, rules, conntrack: None },
        );
        self.trace_hop(packet);
        self.end_flow(packet, Outcome::Rejected { reason });
        // The refusal travels back to the prober.
        let back = self.latency(at, Place::Lb);
        self.fail_probe_later(packet, Some((ProbeResult::Refused, back)));
    }

    /// A probe that was dropped fails at its timeout; one that was refused fails when the
    /// refusal gets back to the LB.
    fn fail_probe_later(&mut self, packet: PacketId, refused: Option<(ProbeResult, Duration)>) {
        if !self.is_probe(packet) {
            return;
        }
        let flow = self.packet(packet).flow;
        if let Some((result, back)) = refused {
            self.pending_probe.insert(flow, result);
            self.schedule(self.now + back, Event::ProbeAnswered { flow });
        }
        // A dropped probe is settled by its ProbeTimeout event.
    }

    fn send(&mut self, client: u32) {
        let c = self.scenario.clients[client as usize].clone();
        if let Schedule::Every(period) = &c.schedule {
            self.schedule(self.now + *period, Event::Send { client });
        }
        let Some(dst) = self.resolve_target(&c.target) else {
            self.note(format!("{} has nothing to send to: {:?} has no address yet", c.name, c.target));
            return;
        };
        let port = {
            let n = &mut self.client_ports[client as usize];
            *n += 1;
            EPHEMERAL.0 + (*n % u32::from(EPHEMERAL.1 - EPHEMERAL.0)) as u16
        };
        let (src_ip, place, origin_node) = match &c.kind {
            ClientKind::External(ip) => (*ip, Place::Client(client), None),
            ClientKind::Pod(name) => match self.cluster.pod_by_name(name) {
                Some(pod) => (self.cluster.pod(pod).ip, Place::Pod(pod), None),
                None => {
                    self.note(format!("{}: pod {name} does not exist, nothing sent", c.name));
                    return;
                }
            },
            ClientKind::HostNetwork(node) => (self.cluster.node(*node).ip, Place::Node(*node), Some(*node)),
        };
        let header = Header::new(SocketAddrV4::new(src_ip, port), dst);
        let (_, packet) = self.new_flow(Initiator::Client(client), header, PacketKind::Request);
        self.hop(packet, place, header, header, Action::Sent);
        self.trace_hop(packet);
        match (place, origin_node) {
            (_, Some(node)) => self.at_node(packet, node, header, Origin::Host),
            (Place::Pod(pod), _) => {
                let node = self.cluster.pod(pod).node;
                self.forward(packet, place, Place::Node(node), header);
            }
            _ => match self.route_from_outside(*dst.ip()) {
                Some(next) => self.forward(packet, place, next, header),
                None => self.drop_packet(
                    packet,
                    Place::Internet,
                    header,
                    format!("no route to {} from the internet", dst.ip()),
                    Vec::new(),
                ),
            },
        }
    }

    fn resolve_target(&self, target: &Target) -> Option<SocketAddrV4> {
        match *target {
            Target::LoadBalancer { svc, port } => lb::frontend(self.cluster.service(svc), port),
            Target::ClusterIp { svc, port } => {
                let s = self.cluster.service(svc);
                Some(SocketAddrV4::new(s.cluster_ip?, s.ports.get(port)?.port))
            }
            Target::NodePort { node, svc, port } => {
                let s = self.cluster.service(svc);
                Some(SocketAddrV4::new(self.cluster.node(node).ip, s.ports.get(port)?.node_port?))
            }
            Target::Addr(a) => Some(a),
        }
    }

    /// Where a packet from the internet to `dst` goes first.
    fn route_from_outside(&self, dst: Ipv4Addr) -> Option<Place> {
        if self.is_frontend(dst) {
            return Some(Place::Lb);
        }
        if let Some(b) = self.backends.iter().position(|(ip, node)| *ip == dst && node.is_none()) {
            return Some(Place::Backend(b as u32));
        }
        self.routes.node_ips.get(&dst).copied().map(Place::Node)
    }

    /// An EndpointSlice address that is no pod answers like the echoserver.
    fn at_backend(&mut self, packet: PacketId, b: u32, header: Header) {
        let place = Place::Backend(b);
        if !self.packet(packet).kind.is_forward() {
            return self.at_initiator(packet, place, header);
        }
        let flow = self.packet(packet).flow;
        let seen = *header.src.ip();
        let output = crate::cluster::App::Echo.respond(seen);
        self.hop(packet, place, header, header, Action::Backend { output: output.clone() });
        if self.is_probe(packet) {
            self.pending_probe.insert(flow, ProbeResult::TcpOk);
        } else {
            let f = self.run.flow_mut(flow);
            f.source_seen = Some(seen);
            f.app_output = Some(output);
            self.trace_hop(packet);
        }
        let reply = self.new_reply(flow);
        let back = header.reversed();
        self.hop(reply, place, back, back, Action::Sent);
        let dst = *back.dst.ip();
        let next = match self.backends[b as usize].1 {
            Some(node) => Some(Place::Node(node)),
            None => self
                .routes
                .node_ips
                .get(&dst)
                .copied()
                .map(Place::Node)
                .or_else(|| self.external_client_with(dst).map(Place::Client)),
        };
        match next {
            Some(next) => self.forward(reply, place, next, back),
            None => self.drop_packet(reply, place, back, format!("no route to {dst}"), Vec::new()),
        }
    }

    fn is_frontend(&self, ip: Ipv4Addr) -> bool {
        self.routes.frontends.contains(&ip)
    }

    fn arrive(&mut self, packet: PacketId, at: Place, header: Header) {
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

    fn at_lb(&mut self, packet: PacketId, header: Header) {
        match self.packet(packet).kind {
            PacketKind::ProbeReply => {
                self.hop(packet, Place::Lb, header, header, Action::Delivered);
                let flow = self.packet(packet).flow;
                let result = self.pending_probe.remove(&flow).unwrap_or(ProbeResult::Timeout);
                self.finalize_probe(flow, result);
            }
            PacketKind::Reply => {
                // AWS instance targets: the reply passes back through the NLB.
                match self.lb_flows.remove(&header) {
                    Some(out) => {
                        self.hop(packet, Place::Lb, header, out, Action::UnNat);
                        self.trace_hop(packet);
                        let client = self.flow_place(packet);
                        self.forward(packet, Place::Lb, client, out);
                    }
                    None => self.drop_packet(
                        packet,
                        Place::Lb,
                        header,
                        "no load balancer flow for this reply".into(),
                        Vec::new(),
                    ),
                }
            }
            PacketKind::Request | PacketKind::Probe => self.balance(packet, header),
        }
    }

    fn balance(&mut self, packet: PacketId, header: Header) {
        let found = self.lbs.keys().copied().find_map(|svc| {
            let s = self.cluster.service(svc);
            let ip_ok = s.load_balancer_ingress.contains(header.dst.ip());
            s.ports.iter().position(|p| p.port == header.dst.port()).filter(|_| ip_ok).map(|port| (svc, port))
        });
        let Some((svc, port)) = found else {
            return self.drop_packet(
                packet,
                Place::Lb,
                header,
                format!("no load-balancing rule for {}", header.dst),
                Vec::new(),
            );
        };
        let lb = &self.lbs[&svc];
        let in_rotation: Vec<NodeId> = lb.backends.iter().filter(|(_, b)| b.in_rotation).map(|(n, _)| *n).collect();
        let affinity = self.cluster.service(svc).session_affinity.is_some();
        let Some(node) = lb::pick_backend(&in_rotation, header, affinity, self.lb_salt) else {
            return self.drop_packet(
                packet,
                Place::Lb,
                header,
                "no healthy backend: every node fails its health probe".into(),
                Vec::new(),
            );
        };
        let total = lb.backends.len();
        let out = match lb.profile.delivery {
            lb::Delivery::FloatingIp => header,
            lb::Delivery::InstanceTarget => {
                let Some(node_port) = self.cluster.service(svc).ports[port].node_port else {
                    let reason = "the Service port has no nodePort for the load balancer's instance target".to_string();
                    return self.drop_packet(packet, Place::Lb, header, reason, Vec::new());
                };
                let out = Header::new(header.src, SocketAddrV4::new(self.cluster.node(node).ip, node_port));
                self.lb_flows.insert(out.reversed(), header.reversed());
                out
            }
        };
        let action = Action::Balanced {
            node,
            in_rotation: in_rotation.len() as u32,
            total: total as u32,
            by_source_ip: affinity,
        };
        self.hop(packet, Place::Lb, header, out, action);
        self.trace_hop(packet);
        self.forward(packet, Place::Lb, Place::Node(node), out);
    }

    /// The first packet of a connection at `node`: the rules decide.
    fn at_node(&mut self, packet: PacketId, node: NodeId, header: Header, origin: Origin) {
        let flow = self.packet(packet).flow;
        if self.run.flow(flow).ingress_node.is_none() {
            self.run.flow_mut(flow).ingress_node = Some(node);
        }
        let rules = Rc::clone(&self.nodes[node.0 as usize].rules);
        let net = self.nodes[node.0 as usize].net;
        let now = self.now;
        let rng = match self.run.flow(flow).initiator {
            Initiator::Client(c) => &mut self.client_rngs[c as usize],
            Initiator::Probe { .. } => &mut self.probe_rng,
        };
        let mut chooser = SimChooser { rng, recent: &mut self.nodes[node.0 as usize].recent, now };
        let walk = kube_proxy::evaluate(&rules, &net, origin, header, &mut chooser);
        let entry = Entry::new(header, walk.after, now);
        self.nodes[node.0 as usize].conntrack.insert(entry);
        let place = Place::Node(node);
        match walk.verdict {
            Verdict::Drop { reason } => {
                let reason = format!("\"{reason}\"{}", chain_path(&walk.hits));
                self.drop_packet(packet, place, header, reason, walk.hits)
            }
            Verdict::Reject { reason } => {
                let reason = format!("\"{reason}\"{}", chain_path(&walk.hits));
                self.reject_packet(packet, place, header, reason, walk.hits)
            }
            Verdict::Accept => {
                let nat = walk.dnat.is_some() || walk.masqueraded;
                let action = if nat { Action::Netfilter { nat } } else { Action::Forwarded };
                let hop = Hop {
                    at: place,
                    time: now,
                    before: header,
                    after: walk.after,
                    action,
                    rules: walk.hits,
                    conntrack: Some(Box::new(entry)),
                };
                self.push_hop(packet, hop);
                self.trace_hop(packet);
                match walk.delivery {
                    Delivery::Local => self.local_socket(packet, node, walk.after),
                    Delivery::Forward => self.route_from_node(packet, node, walk.after),
                }
            }
        }
    }

    /// A reply (or any later packet) at `node`: conntrack translates it.
    fn reply_at_node(&mut self, packet: PacketId, node: NodeId, header: Header) {
        let place = Place::Node(node);
        let entry = self.nodes[node.0 as usize].conntrack.lookup_reply(header).copied();
        let after = entry.map_or(header, |e| e.unnat_reply());
        let nat = entry.is_some_and(|e| e.is_nat());
        let action = if nat { Action::UnNat } else { Action::Forwarded };
        self.push_hop(
            packet,
            Hop {
                at: place,
                time: self.now,
                before: header,
                after,
                action,
                rules: Vec::new(),
                conntrack: entry.map(Box::new),
            },
        );
        if nat {
            self.trace_hop(packet);
        }
        self.route_from_node(packet, node, after);
    }

    fn flow_place(&self, packet: PacketId) -> Place {
        let flow = self.run.flow(self.packet(packet).flow);
        match flow.initiator {
            Initiator::Probe { .. } => Place::Lb,
            Initiator::Client(c) => match &self.scenario.clients[c as usize].kind {
                ClientKind::External(_) => Place::Client(c),
                ClientKind::HostNetwork(n) => Place::Node(*n),
                ClientKind::Pod(_) => self.pod_at(*flow.header.src.ip()).map_or(Place::Client(c), Place::Pod),
            },
        }
    }

    /// Routing out of `node` toward `header.dst`.
    fn route_from_node(&mut self, packet: PacketId, node: NodeId, header: Header) {
        let dst = *header.dst.ip();
        let here = Place::Node(node);
        // A reply to a client in this node's own host network namespace.
        if self.nodes[node.0 as usize].net.is_local(dst) && self.flow_place(packet) == here {
            return self.at_initiator(packet, here, header);
        }
        let next = if let Some(owner) = self.routes.pod_cidr_owner(dst) {
            if owner == node {
                match self.pod_at(dst) {
                    Some(pod) => Place::Pod(pod),
                    None => {
                        return self.drop_packet(
                            packet,
                            here,
                            header,
                            format!("no pod has {dst} (host unreachable)"),
                            Vec::new(),
                        );
                    }
                }
            } else {
                Place::Node(owner)
            }
        } else if let Some(other) = self.routes.node_ips.get(&dst).copied() {
            Place::Node(other)
        } else if dst == lb::PROBE_SOURCE || self.is_frontend(dst) || self.lb_flows.contains_key(&header) {
            Place::Lb
        } else if let Some(c) = self.external_client_for(packet, dst) {
            Place::Client(c)
        } else if let Some(b) = self.backends.iter().position(|(ip, _)| *ip == dst) {
            Place::Backend(b as u32)
        } else {
            return self.drop_packet(packet, here, header, format!("no route to {dst}"), Vec::new());
        };
        self.forward(packet, here, next, header);
    }

    /// The external client a packet to `ip` goes to: the packet's own client when it has that
    /// address (several clients may share one), else the first with it.
    fn external_client_for(&self, packet: PacketId, ip: Ipv4Addr) -> Option<u32> {
        match self.flow_place(packet) {
            Place::Client(c) if self.scenario.clients[c as usize].kind == ClientKind::External(ip) => Some(c),
            _ => self.external_client_with(ip),
        }
    }

    fn external_client_with(&self, ip: Ipv4Addr) -> Option<u32> {
        self.routes.clients.get(&ip).copied()
    }

    /// A packet for a socket in the node's host network namespace: kube-proxy's health servers.
    fn local_socket(&mut self, packet: PacketId, node: NodeId, header: Header) {
        let place = Place::Node(node);
        let port = header.dst.port();
        let state = &self.nodes[node.0 as usize];
        let response = if port == PROXY_HEALTHZ_PORT {
            Some(kube_proxy::health::proxy_healthz(&self.cluster, node))
        } else {
            state
                .health_servers
                .iter()
                .find(|(_, (p, _))| *p == port)
                .map(|(svc, (_, count))| kube_proxy::health::service_health(&self.cluster, *svc, node, *count))
        };
        let Some(response) = response else {
            return self.reject_packet(
                packet,
                place,
                header,
                format!("connection refused: nothing listens on {}", header.dst),
                Vec::new(),
            );
        };
        self.hop(packet, place, header, header, Action::HealthServer { status: response.status });
        let flow = self.packet(packet).flow;
        if self.is_probe(packet) {
            self.pending_probe.insert(flow, ProbeResult::Http(response.status));
        } else {
            let f = self.run.flow_mut(flow);
            f.app_output = Some(format!("HTTP {}\n{}", response.status, response.body));
            self.trace_hop(packet);
        }
        let reply = self.new_reply(flow);
        let back = header.reversed();
        self.hop(reply, place, back, back, Action::Sent);
        self.route_from_node(reply, node, back);
    }

    fn at_pod(&mut self, packet: PacketId, pod: PodId, header: Header) {
        let place = Place::Pod(pod);
        if !self.packet(packet).kind.is_forward() {
            return self.at_initiator(packet, place, header);
        }
        let p = self.cluster.pod(pod).clone();
        if p.deleted {
            return self.drop_packet(packet, place, header, format!("pod {} is gone", p.name), Vec::new());
        }
        if !p.ports.is_empty() && !p.ports.iter().any(|c| c.port == header.dst.port()) {
            return self.reject_packet(
                packet,
                place,
                header,
                format!("connection refused: {} does not listen on port {}", p.name, header.dst.port()),
                Vec::new(),
            );
        }
        let flow = self.packet(packet).flow;
        let seen = *header.src.ip();
        if self.is_probe(packet) {
            // A TCP probe only needs the handshake.
            self.pending_probe.insert(flow, ProbeResult::TcpOk);
            self.hop(packet, place, header, header, Action::App { pod, output: String::new() });
        } else {
            let output = p.app.respond(seen);
            let f = self.run.flow_mut(flow);
            f.pod = Some(pod);
            f.source_seen = Some(seen);
            f.app_output = Some(output.clone());
            self.hop(packet, place, header, header, Action::App { pod, output: output.clone() });
            self.trace_hop(packet);
        }
        let reply = self.new_reply(flow);
        let back = header.reversed();
        self.hop(reply, place, back, back, Action::Sent);
        self.forward(reply, place, Place::Node(p.node), back);
    }

    /// A reply reached the connection's initiator.
    fn at_initiator(&mut self, packet: PacketId, place: Place, header: Header) {
        let flow = self.packet(packet).flow;
        let expected = self.run.flow(flow).header.reversed();
        if header != expected {
            // The client connected to one address and hears from another: it resets.
            let reason =
                format!("reply from {} but the client connected to {}: connection reset", header.src, expected.src);
            return self.reject_packet(packet, place, header, reason, Vec::new());
        }
        self.hop(packet, place, header, header, Action::Delivered);
        self.trace_hop(packet);
        self.end_flow(packet, Outcome::Answered);
    }

    // ----- health probes -----

    fn probe(&mut self, svc: ServiceId, node: NodeId) {
        let Some(profile) = LbProfile::for_service(self.cluster.config.provider, self.cluster.service(svc)) else {
            return;
        };
        let lb = self.lbs.get_mut(&svc).expect("probes are scheduled for LB services");
        if lb.profile != profile {
            lb.profile = profile;
        }
        self.schedule(self.now + profile.probe.interval, Event::Probe { svc, node });
        let service = self.cluster.service(svc);
        let port = match profile.probe.port {
            ProbePort::HealthCheckNodePort => service.health_check_node_port,
            ProbePort::NodePort => service.ports.first().and_then(|p| p.node_port),
            ProbePort::ProxyHealthz => Some(PROXY_HEALTHZ_PORT),
        };
        let Some(port) = port else { return };
        let src_port = EPHEMERAL.0 + self.probe_rng.below(u64::from(EPHEMERAL.1 - EPHEMERAL.0)) as u16;
        let header = Header::new(
            SocketAddrV4::new(lb::PROBE_SOURCE, src_port),
            SocketAddrV4::new(self.cluster.node(node).ip, port),
        );
        let (flow, packet) = self.new_flow(Initiator::Probe { svc, node }, header, PacketKind::Probe);
        self.hop(packet, Place::Lb, header, header, Action::Sent);
        self.schedule(self.now + profile.probe.timeout, Event::ProbeTimeout { flow });
        self.forward(packet, Place::Lb, Place::Node(node), header);
    }

    fn finalize_probe(&mut self, flow: FlowId, result: ProbeResult) {
        let f = self.run.flow(flow);
        if f.probe_result.is_some() {
            return;
        }
        let Initiator::Probe { svc, node } = f.initiator else { return };
        let port = f.header.dst.port();
        let ok = result.success();
        let f = self.run.flow_mut(flow);
        f.probe_result = Some(result.clone());
        f.end = Some(self.now);
        if f.outcome == Outcome::InFlight {
            f.outcome = if ok { Outcome::Answered } else { Outcome::Dropped { reason: result.to_string() } };
        }
        let lb = self.lbs.get_mut(&svc).expect("probe of an LB service");
        let spec = lb.profile.probe;
        let change = lb.backends.get_mut(&node).expect("every node is a backend").observe(result.clone(), &spec);
        self.run.probe_metric.get_mut(&svc).expect("metric per LB service").record(self.now, node, ok);
        let node_name = self.cluster.node(node).name.clone();
        let svc_name = self.cluster.service(svc).namespaced_name();
        let what = match spec.kind {
            ProbeKind::Http => format!("HTTP :{port}/healthz"),
            ProbeKind::Tcp => format!("TCP :{port}"),
        };
        self.note(format!("lb probe {node_name} {what} for {svc_name}: {result}"));
        let time = self.now;
        match change {
            Some(RotationChange::Left { reason }) => {
                self.note(format!("lb: {node_name} leaves rotation for {svc_name} ({reason})"));
                self.run.rotation.push(RotationEvent { time, svc, node, in_rotation: false, reason: Some(reason) });
            }
            Some(RotationChange::Joined) => {
                self.note(format!("lb: {node_name} joins rotation for {svc_name}"));
                self.run.rotation.push(RotationEvent { time, svc, node, in_rotation: true, reason: None });
            }
            None => {}
        }
    }

    /// What a probe of `node` for `svc` would report in the cluster's current steady state.
    fn steady_probe_ok(&self, svc: ServiceId, node: NodeId, profile: &LbProfile) -> bool {
        let proxy_ok = self.cluster.node(node).kube_proxy_healthy;
        match profile.probe.port {
            ProbePort::HealthCheckNodePort => proxy_ok && local_ready_endpoint_ips(&self.cluster, svc, node) > 0,
            ProbePort::ProxyHealthz => proxy_ok,
            ProbePort::NodePort => {
                let eps = crate::endpoints::service_port_endpoints(&self.cluster, svc, 0);
                eps.iter().any(|e| e.ready) || eps.iter().any(|e| e.serving && e.terminating)
            }
        }
    }

    // ----- changes and kube-proxy syncs -----

    /// What the UI draws of pods and nodes, to diff before and after a change.
    fn snapshot(&self) -> Snapshot {
        let pods = self.cluster.pods.iter().map(|p| (p.ready && !p.terminating, p.terminating, p.deleted)).collect();
        let nodes = self.cluster.nodes.iter().map(|n| (n.ready, n.kube_proxy_healthy)).collect();
        Snapshot { pods, nodes }
    }

    fn record_state_changes(&mut self, before: Snapshot) {
        let now = self.now;
        let after = self.snapshot();
        for (i, p) in after.pods.iter().enumerate() {
            let id = PodId(i as u32);
            match before.pods.get(i) {
                None => {
                    self.run.states.push((now, StateEvent::PodCreated(id)));
                    if !p.0 {
                        self.run.states.push((now, StateEvent::PodReady(id, false)));
                    }
                }
                Some(old) => {
                    if old.0 != p.0 {
                        self.run.states.push((now, StateEvent::PodReady(id, p.0)));
                    }
                    if !old.1 && p.1 {
                        self.run.states.push((now, StateEvent::PodTerminating(id)));
                    }
                    if !old.2 && p.2 {
                        self.run.states.push((now, StateEvent::PodGone(id)));
                    }
                }
            }
        }
        for (i, n) in after.nodes.iter().enumerate() {
            let id = NodeId(i as u32);
            if before.nodes[i].0 != n.0 {
                self.run.states.push((now, StateEvent::NodeReady(id, n.0)));
            }
            if before.nodes[i].1 != n.1 {
                self.run.states.push((now, StateEvent::KubeProxyHealthy(id, n.1)));
            }
        }
    }

    fn apply(&mut self, idx: usize) {
        let before = self.snapshot();
        self.apply_change(idx);
        self.record_state_changes(before);
    }

    fn apply_change(&mut self, idx: usize) {
        let change = self.scenario.changes[idx].change.clone();
        self.program_cache.clear();
        let text = self.describe(&change);
        self.note(format!("change: {text}"));
        match change {
            Change::ExternalTrafficPolicy { svc, policy } => {
                self.cluster.services[svc.0 as usize].external_traffic_policy = policy
            }
            Change::InternalTrafficPolicy { svc, policy } => {
                self.cluster.services[svc.0 as usize].internal_traffic_policy = policy
            }
            Change::SessionAffinity { svc, timeout } => {
                self.cluster.services[svc.0 as usize].session_affinity = timeout
            }
            Change::Scale { deployment, replicas } => {
                self.cluster.deployments[deployment.0 as usize].replicas = replicas
            }
            Change::PodReady { pod, ready } => {
                if let Some(p) = self.cluster.pod_by_name(&pod) {
                    self.cluster.pods[p.0 as usize].ready = ready;
                }
            }
            Change::DeletePod { pod } => {
                if let Some(p) = self.cluster.pod_by_name(&pod) {
                    self.terminate(p);
                }
            }
            Change::NodeReady { node, ready } => {
                self.cluster.nodes[node.0 as usize].ready = ready;
                // The node lifecycle controller marks the node's pods (not) ready.
                for p in self.cluster.pods.iter_mut().filter(|p| p.node == node && !p.deleted && !p.terminating) {
                    p.ready = ready;
                }
            }
            Change::KubeProxyHealthy { node, healthy } => {
                self.cluster.nodes[node.0 as usize].kube_proxy_healthy = healthy
            }
        }
        let before_hc: Vec<Option<u16>> = self.cluster.services.iter().map(|s| s.health_check_node_port).collect();
        self.cluster.allocate();
        for (i, s) in self.cluster.services.iter().enumerate() {
            if let Some(hc) = s.health_check_node_port.filter(|_| s.health_check_node_port != before_hc[i]) {
                let line = format!("service {}: healthCheckNodePort {hc} allocated", s.namespaced_name());
                self.run.trace.push(TraceLine { time: self.now, entry: TraceEntry::Note(line.into()) });
            }
        }
        let changed = self.cluster.reconcile_deployments(&mut self.names_rng);
        self.index_pods();
        for pod in changed {
            let p = self.cluster.pod(pod);
            if p.terminating {
                let line = format!("pod {} is terminating", p.name);
                self.schedule(self.now + TERMINATION, Event::PodGone { pod });
                self.note(line);
            } else {
                let line = format!("pod {}: ip {} on {} ({})", p.name, p.ip, self.cluster.node(p.node).name, p.app);
                self.note(line);
            }
        }
        self.schedule_syncs();
    }

    fn terminate(&mut self, pod: PodId) {
        let p = &mut self.cluster.pods[pod.0 as usize];
        p.terminating = true;
        p.ready = false;
        self.schedule(self.now + TERMINATION, Event::PodGone { pod });
    }

    fn describe(&self, change: &Change) -> String {
        let svc = |s: &ServiceId| self.cluster.service(*s).namespaced_name();
        match change {
            Change::ExternalTrafficPolicy { svc: s, policy } => {
                format!("kubectl patch service {} -p '{{\"spec\":{{\"externalTrafficPolicy\":\"{policy}\"}}}}'", svc(s))
            }
            Change::InternalTrafficPolicy { svc: s, policy } => {
                format!("kubectl patch service {} -p '{{\"spec\":{{\"internalTrafficPolicy\":\"{policy}\"}}}}'", svc(s))
            }
            Change::SessionAffinity { svc: s, timeout } => match timeout {
                Some(t) => format!("kubectl patch service {} sessionAffinity=ClientIP (timeout {t})", svc(s)),
                None => format!("kubectl patch service {} sessionAffinity=None", svc(s)),
            },
            Change::Scale { deployment, replicas } => {
                format!(
                    "kubectl scale deployment {} --replicas={replicas}",
                    self.cluster.deployments[deployment.0 as usize].name
                )
            }
            Change::PodReady { pod, ready } => {
                format!("pod {pod} readiness probe {}", if *ready { "passes" } else { "fails" })
            }
            Change::DeletePod { pod } => format!("kubectl delete pod {pod}"),
            Change::NodeReady { node, ready } => {
                format!("node {} becomes {}", self.cluster.node(*node).name, if *ready { "Ready" } else { "NotReady" })
            }
            Change::KubeProxyHealthy { node, healthy } => {
                format!(
                    "kube-proxy on {} {}",
                    self.cluster.node(*node).name,
                    if *healthy { "recovers" } else { "stops syncing (unhealthy)" }
                )
            }
        }
    }

    /// kube-proxy syncs at most once per minSyncPeriod (BoundedFrequencyRunner, §1.18).
    fn schedule_syncs(&mut self) {
        let min = self.cluster.config.kube_proxy.min_sync_period;
        for n in 0..self.nodes.len() {
            if self.nodes[n].sync_scheduled {
                continue;
            }
            self.nodes[n].sync_scheduled = true;
            let at = self.now.max(self.nodes[n].last_sync + min);
            self.schedule(at, Event::Sync { node: NodeId(n as u32) });
        }
    }

    fn sync(&mut self, node: NodeId) {
        let n = node.0 as usize;
        self.nodes[n].sync_scheduled = false;
        if !self.cluster.node(node).kube_proxy_healthy {
            return;
        }
        let mut rules = kube_proxy::program_cached(&self.cluster, node, &mut self.program_cache);
        self.interner.intern(&mut rules);
        let changed = *self.nodes[n].rules != rules;
        let servers = health_servers(&self.cluster, node);
        let servers_changed = servers != self.nodes[n].health_servers;
        self.nodes[n].rules = Rc::new(rules);
        self.nodes[n].last_sync = self.now;
        self.nodes[n].health_servers = servers;
        if changed || servers_changed {
            let name = self.cluster.node(node).name.clone();
            let count = self.nodes[n].rules.nat.len() + self.nodes[n].rules.filter.len();
            let hc: Vec<String> =
                self.nodes[n].health_servers.iter().map(|(_, (p, c))| format!(":{p} localEndpoints={c}")).collect();
            let hc = if hc.is_empty() { String::new() } else { format!("; health servers {}", hc.join(", ")) };
            self.note(format!("{name} kube-proxy synced: {count} rules{hc}"));
        }
    }
}

/// Lookups the routing decisions make for every packet.
#[derive(Debug, Clone, Default)]
struct Routes {
    node_ips: BTreeMap<Ipv4Addr, NodeId>,
    /// podCIDR network address → (podCIDR, node).
    pod_cidrs: BTreeMap<Ipv4Addr, (crate::net::Ipv4Cidr, NodeId)>,
    frontends: std::collections::BTreeSet<Ipv4Addr>,
    /// The first external client with each address.
    clients: BTreeMap<Ipv4Addr, u32>,
}

impl Routes {
    fn new(cluster: &Cluster, scenario: &Scenario) -> Routes {
        let mut r = Routes::default();
        for (i, n) in cluster.nodes.iter().enumerate() {
            r.node_ips.entry(n.ip).or_insert(NodeId(i as u32));
            r.pod_cidrs.insert(n.pod_cidr.network(), (n.pod_cidr, NodeId(i as u32)));
        }
        for s in cluster.services.iter().filter(|s| s.type_ == ServiceType::LoadBalancer) {
            r.frontends.extend(s.load_balancer_ingress.iter().copied());
        }
        for (i, c) in scenario.clients.iter().enumerate() {
            if let ClientKind::External(ip) = c.kind {
                r.clients.entry(ip).or_insert(i as u32);
            }
        }
        r
    }

    /// The node whose podCIDR holds `ip`.
    fn pod_cidr_owner(&self, ip: Ipv4Addr) -> Option<NodeId> {
        let (_, (cidr, node)) = self.pod_cidrs.range(..=ip).next_back()?;
        cidr.contains(ip).then_some(*node)
    }
}

/// EndpointSlice addresses that belong to no pod, in slice order.
fn plain_backends(cluster: &Cluster) -> Vec<(Ipv4Addr, Option<NodeId>)> {
    let mut out: Vec<(Ipv4Addr, Option<NodeId>)> = Vec::new();
    for e in cluster.endpoint_slices.iter().flat_map(|s| &s.endpoints) {
        if cluster.pod_by_ip(e.ip).is_none() && !out.iter().any(|(ip, _)| *ip == e.ip) {
            out.push((e.ip, e.node));
        }
    }
    out
}

/// The healthCheckNodePort servers kube-proxy runs on `node` after a sync (§2.2, §2.3).
fn health_servers(cluster: &Cluster, node: NodeId) -> BTreeMap<ServiceId, (u16, usize)> {
    (0..cluster.services.len())
        .map(|s| ServiceId(s as u32))
        .filter_map(|svc| {
            let port = cluster.service(svc).health_check_node_port?;
            Some((svc, (port, local_ready_endpoint_ips(cluster, svc, node))))
        })
        .collect()
}

/// ` via KUBE-SERVICES > KUBE-EXT-… > KUBE-SVC-… > KUBE-SEP-…`: the kube-proxy chains a first
/// packet jumped through, in order, without the built-in hooks and the mark helpers.
pub fn chain_path(hits: &[RuleHit]) -> String {
    let mut path: Vec<&str> = Vec::new();
    // In nat, a jump into a chain is part of the story even when nothing inside it matches
    // (a Local KUBE-EXT without a KUBE-SVL rule); in filter, only chains where a rule matched.
    fn jumps(h: &RuleHit) -> Option<&str> {
        h.jump().filter(|_| h.table == Table::Nat).map(|j| j.as_str())
    }
    for c in hits.iter().flat_map(|h| std::iter::once(h.chain.as_str()).chain(jumps(h))) {
        let skip = matches!(
            c,
            chains::PREROUTING
                | chains::INPUT
                | chains::FORWARD
                | chains::OUTPUT
                | chains::POSTROUTING
                | chains::KUBE_MARK_MASQ
                | chains::KUBE_POSTROUTING
        );
        if !skip && !path.contains(&c) {
            path.push(c);
        }
    }
    if path.is_empty() { String::new() } else { format!(" via {}", path.join(" > ")) }
}
