//! The discrete-event loop: events totally ordered by (time, seq), each moving a packet one hop,
//! sending a request or a probe, applying a timeline change, or re-syncing a node's dataplane.
//!
//! [`Sim::run_until`] can be called repeatedly with later times: the browser extends an
//! open-ended run in chunks, and everything already recorded stays unchanged.
//!
//! The loop reaches a node's service proxy only through [`Dataplane`]. Its concerns, one module
//! each: `queue` (the event order), `packets` (flows, hops and the trace lines about them),
//! `client` (sending and receiving), `lb` (delivery and probes), `node` (the dataplane hop and
//! routing), `pod` (the app), `timeline` (changes, syncs, the cluster's state).

mod client;
mod lb;
mod node;
mod packets;
mod pod;
mod queue;
mod timeline;

use std::collections::BTreeMap;
use std::net::IpAddr;

use self::lb::LbState;
use self::node::{NodeRuntime, Routes};
use self::queue::{Event, EventQueue};
use crate::cluster::{Cluster, NodeId, PodId, ServiceId};
use crate::conntrack::Conntrack;
use crate::dataplane::{self, Dataplane, NodeNet};
use crate::id::IdVec;
use crate::lb::{BackendHealth, ProbeResult};
use crate::net::IpFamily;
use crate::record::{FlowId, Names, PacketId, Run};
use crate::rng::SimRng;
use crate::scenario::{ClientId, Scenario, Schedule};
use crate::time::{Duration, Instant};
use crate::topology::{BackendId, Latencies, Topology};

/// How long a deleted or scaled-down pod stays terminating before it is gone.
pub const TERMINATION: Duration = Duration::from_secs(1);
/// How often conntrack and affinity entries are expired.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// A client's own state: its random stream and the last ephemeral port it used.
struct ClientState {
    rng: SimRng,
    port: u32,
}

/// The simulation of one scenario.
pub struct Sim {
    scenario: Scenario,
    cluster: Cluster,
    /// Bumped whenever the cluster changes (see [`Dataplane::sync`]'s contract).
    epoch: u64,
    topology: Topology,
    now: Instant,
    queue: EventQueue,
    dataplane: Box<dyn Dataplane>,
    nodes: IdVec<NodeId, NodeRuntime>,
    lbs: BTreeMap<crate::lb::Frontend, LbState>,
    lb_salt: u64,
    /// AWS instance targets: the NLB's flows, keyed by the node-side reply.
    lb_flows: Conntrack,
    clients: IdVec<ClientId, ClientState>,
    probe_rng: SimRng,
    names_rng: SimRng,
    pending_probe: BTreeMap<FlowId, ProbeResult>,
    /// Requests in flight that carry a DSR option: the service address it holds.
    dsr_options: BTreeMap<PacketId, crate::net::SockAddr>,
    /// EndpointSlice addresses that are no pod: (address, the node named by nodeName).
    backends: IdVec<BackendId, (IpAddr, Option<NodeId>)>,
    /// Live pods by IP, rebuilt whenever pods come or go.
    pod_ips: BTreeMap<IpAddr, PodId>,
    /// Routing tables, fixed for the run.
    routes: Routes,
    run: Run,
}

impl Sim {
    /// Prepares a run of `scenario` on the dataplane its cluster configures.
    pub fn new(scenario: Scenario) -> Sim {
        let dataplane = dataplane::for_cluster(&scenario.cluster);
        Sim::with_dataplane(scenario, dataplane)
    }

    /// Prepares a run on `dataplane`: allocates what the cluster leaves empty, schedules the
    /// initial pods, programs every node and puts every backend in the state its probe would
    /// report.
    pub fn with_dataplane(scenario: Scenario, dataplane: Box<dyn Dataplane>) -> Sim {
        let root = SimRng::new(scenario.seed);
        let mut cluster = scenario.cluster.clone();
        let mut names_rng = root.stream("names");
        cluster.allocate();
        cluster.reconcile_deployments(&mut names_rng);
        let topology = Topology::new(scenario.clients.len() as u32, cluster.nodes.len() as u32, Latencies::default());
        let clients = scenario
            .clients
            .iter()
            .map(|c| {
                let rng = root.stream(&format!("client/{}", c.name));
                let port = rng.clone().below(u64::from(client::EPHEMERAL.1 - client::EPHEMERAL.0)) as u32;
                ClientState { rng, port }
            })
            .collect();
        let mut sim = Sim {
            topology,
            epoch: 0,
            now: Instant::ZERO,
            queue: EventQueue::default(),
            nodes: IdVec::new(),
            lbs: BTreeMap::new(),
            lb_salt: root.stream("lb/hash").next_u64(),
            lb_flows: Conntrack::default(),
            clients,
            probe_rng: root.stream("lb/probes"),
            names_rng,
            pending_probe: BTreeMap::new(),
            dsr_options: BTreeMap::new(),
            backends: IdVec::new(),
            pod_ips: BTreeMap::new(),
            routes: Routes::default(),
            run: Run::default(),
            dataplane,
            cluster,
            scenario,
        };
        sim.run.names = Names::of(&sim.scenario, &sim.cluster);
        sim.run.dataplane = sim.dataplane.describe();
        sim.index_pods();
        sim.record_initial_states();
        for node in sim.cluster.nodes.ids() {
            // The first sync programs the node; like kube-proxy's start, it is not traced.
            sim.dataplane.sync(&sim.cluster, sim.epoch, node);
            let nets =
                sim.cluster.config.families().into_iter().filter_map(|f| NodeNet::of_family(&sim.cluster, node, f));
            sim.nodes.push(NodeRuntime::new(nets.collect()));
        }
        sim.backends = pod::plain_backends(&sim.cluster);
        sim.run.names.backends = sim.backends.iter().map(|(ip, _)| *ip).collect();
        sim.routes = Routes::new(&sim.cluster, &sim.scenario);
        sim.trace_setup();
        sim.start_load_balancers(&root);
        sim.schedule_clients();
        for i in 0..sim.scenario.changes.len() {
            let at = sim.scenario.changes[i].at;
            sim.schedule(at, Event::Apply { change: i });
        }
        sim.schedule(Instant::ZERO + SWEEP_EVERY, Event::Sweep);
        sim
    }

    fn schedule_clients(&mut self) {
        for (c, client) in self.scenario.clients.iter_enumerated() {
            match &client.schedule {
                Schedule::Every(period) => {
                    let first = Instant::from_micros(period.as_micros() / 2);
                    self.queue.schedule(first, Event::Send { client: c });
                }
                Schedule::At(times) => {
                    for t in times {
                        self.queue.schedule(*t, Event::Send { client: c });
                    }
                }
            }
        }
    }

    /// Runs every event up to and including `until`, then stops with the clock at `until`.
    pub fn run_until(&mut self, until: Instant) -> &Run {
        while let Some((time, event)) = self.queue.pop_until(until) {
            debug_assert!(time >= self.now, "time went backwards");
            self.now = time;
            self.run.events += 1;
            self.handle(event);
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
    /// The dataplane programming the nodes, as it is now.
    pub fn dataplane(&self) -> &dyn Dataplane {
        self.dataplane.as_ref()
    }
    /// The addresses of `node` of `family` that routing and its dataplane use.
    pub fn node_net(&self, node: NodeId, family: IpFamily) -> NodeNet {
        *self.nodes[node].net(family)
    }
    /// Whether the LB of `svc`'s first family has `node` in rotation now.
    pub fn in_rotation(&self, svc: ServiceId, node: NodeId) -> Option<bool> {
        Some(self.backends(svc)?.get(&node)?.in_rotation)
    }
    /// The view of every backend of `svc` now, by the LB of its first family.
    pub fn backends(&self, svc: ServiceId) -> Option<&BTreeMap<NodeId, BackendHealth>> {
        self.lbs
            .range(crate::lb::Frontend { svc, family: IpFamily::Ipv4 }..)
            .next()
            .filter(|(lb, _)| lb.svc == svc)
            .map(|(_, s)| &s.backends)
    }
    /// The Service's load balancers (one per family on a dual-stack Azure Service) and each one's
    /// view of every backend now.
    pub fn load_balancers(
        &self,
        svc: ServiceId,
    ) -> impl Iterator<Item = (crate::lb::Frontend, &BTreeMap<NodeId, BackendHealth>)> {
        self.lbs.iter().filter(move |(lb, _)| lb.svc == svc).map(|(lb, s)| (*lb, &s.backends))
    }

    fn schedule(&mut self, time: Instant, event: Event) {
        self.queue.schedule(time, event);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Send { client } => self.send(client),
            Event::Arrive { packet, at, header } => self.arrive(packet, at, header),
            Event::Probe { lb, node } => self.probe(lb, node),
            Event::ProbeTimeout { flow } => self.finalize_probe(flow, ProbeResult::Timeout),
            Event::ProbeAnswered { flow } => {
                let result = self.pending_probe.remove(&flow).unwrap_or(ProbeResult::Timeout);
                self.finalize_probe(flow, result);
            }
            Event::Apply { change } => self.apply(change),
            Event::Sync { node } => self.sync(node),
            Event::PodGone { pod } => self.pod_gone(pod),
            Event::Sweep => {
                let now = self.now;
                for n in self.nodes.iter_mut() {
                    n.conntrack.expire(now);
                }
                self.dataplane.sweep(now);
                self.schedule(now + SWEEP_EVERY, Event::Sweep);
            }
        }
    }
}
