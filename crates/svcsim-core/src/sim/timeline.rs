//! The cluster over time: the setup lines of the trace, timeline changes as `kubectl` would make
//! them, pods terminating and going, and the dataplane re-syncing each node at most once per
//! `minSyncPeriod` after a change.

use super::Sim;
use super::queue::Event;
use crate::cluster::{NodeId, PodId, ServiceId};
use crate::id::IdVec;
use crate::net::IpFamily;
use crate::record::{ClusterLine, NodeLine, PodLine, StateEvent, SyncLine, TraceEntry};
use crate::scenario::Change;
use crate::time::Instant;

/// What the UI draws of pods and nodes, to diff before and after a change: pods as (ready,
/// terminating, deleted), nodes as (ready, kube-proxy healthy).
struct Snapshot {
    pods: Vec<(bool, bool, bool)>,
    nodes: Vec<(bool, bool)>,
}

impl Sim {
    /// The cluster as it starts, one trace line per object.
    pub(super) fn trace_setup(&mut self) {
        let c = &self.cluster;
        let mut lines = vec![TraceEntry::Cluster(Box::new(ClusterLine {
            nodes: c.nodes.len() as u32,
            provider: c.config.provider,
            network_plugin: c.config.network_plugin,
            cluster_cidr: c.config.cluster_cidr,
            secondary_cluster_cidr: c.config.secondary.map(|s| s.cluster_cidr),
        }))];
        for (node, n) in c.nodes.iter_enumerated() {
            let line = NodeLine { node, ip: n.ip, pod_cidr: n.pod_cidr, secondary: n.secondary };
            lines.push(TraceEntry::Node(Box::new(line)));
        }
        for (pod, p) in c.pods.iter_enumerated().filter(|(_, p)| !p.deleted) {
            let line = PodLine { pod, ip: p.ip, secondary_ip: p.secondary_ip, node: p.node, app: p.app };
            lines.push(TraceEntry::PodRunning(Box::new(line)));
        }
        for (svc, s) in c.services.iter_enumerated() {
            lines.push(TraceEntry::Service(Box::new((svc, s.clone()))));
        }
        for l in lines {
            self.trace(l);
        }
    }

    /// Pods as they exist at t = 0, for the page's drawing.
    pub(super) fn record_initial_states(&mut self) {
        for (id, p) in self.cluster.pods.iter_enumerated().filter(|(_, p)| !p.deleted) {
            self.run.states.push((Instant::ZERO, StateEvent::PodCreated(id)));
            if !p.ready || p.terminating {
                self.run.states.push((Instant::ZERO, StateEvent::PodReady(id, false)));
            }
            if p.terminating {
                self.run.states.push((Instant::ZERO, StateEvent::PodTerminating(id)));
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let pods = self.cluster.pods.iter().map(|p| (p.ready && !p.terminating, p.terminating, p.deleted)).collect();
        let nodes = self.cluster.nodes.iter().map(|n| (n.ready, n.kube_proxy_healthy)).collect();
        Snapshot { pods, nodes }
    }

    fn record_state_changes(&mut self, before: Snapshot) {
        let now = self.now;
        let after = self.snapshot();
        let mut push = |e| self.run.states.push((now, e));
        for (i, p) in after.pods.iter().enumerate() {
            let id = PodId(i as u32);
            match before.pods.get(i) {
                None => {
                    push(StateEvent::PodCreated(id));
                    if !p.0 {
                        push(StateEvent::PodReady(id, false));
                    }
                }
                Some(old) => {
                    if old.0 != p.0 {
                        push(StateEvent::PodReady(id, p.0));
                    }
                    if !old.1 && p.1 {
                        push(StateEvent::PodTerminating(id));
                    }
                    if !old.2 && p.2 {
                        push(StateEvent::PodGone(id));
                    }
                }
            }
        }
        for (i, n) in after.nodes.iter().enumerate() {
            let id = NodeId(i as u32);
            if before.nodes[i].0 != n.0 {
                push(StateEvent::NodeReady(id, n.0));
            }
            if before.nodes[i].1 != n.1 {
                push(StateEvent::KubeProxyHealthy(id, n.1));
            }
        }
    }

    /// The cluster changed: a dataplane's work cached for the old state no longer applies.
    fn cluster_changed(&mut self) {
        self.epoch += 1;
    }

    pub(super) fn apply(&mut self, idx: usize) {
        let before = self.snapshot();
        self.apply_change(idx);
        self.record_state_changes(before);
    }

    fn apply_change(&mut self, idx: usize) {
        let change = self.scenario.changes[idx].change.clone();
        self.cluster_changed();
        self.trace(TraceEntry::Change(Box::new(change.clone())));
        let c = &mut self.cluster;
        match change {
            Change::ExternalTrafficPolicy { svc, policy } => c.services[svc].external_traffic_policy = policy,
            Change::InternalTrafficPolicy { svc, policy } => c.services[svc].internal_traffic_policy = policy,
            Change::SessionAffinity { svc, timeout } => c.services[svc].session_affinity = timeout,
            Change::IpFamilies { svc, result, .. } => {
                // A downgrade releases the secondary clusterIP and the cloud deletes that family's
                // frontend; an upgrade's are allocated below (`docs/fidelity.md#dual-stack-updates`).
                let s = &mut c.services[svc];
                for dropped in s.families(&c.config).into_iter().filter(|f| !result.families.contains(f)) {
                    if s.secondary_cluster_ip.is_some_and(|ip| IpFamily::of(ip) == dropped) {
                        s.secondary_cluster_ip = None;
                    }
                    s.load_balancer_ingress.retain(|ip| IpFamily::of(*ip) != dropped);
                }
                s.ip_family_policy = result.policy;
                s.ip_families = result.families;
            }
            Change::Scale { deployment, replicas } => c.deployments[deployment].replicas = replicas,
            Change::PodReady { pod, ready } => {
                if let Some(p) = c.pod_by_name(&pod) {
                    c.pods[p].ready = ready;
                }
            }
            Change::DeletePod { pod } => {
                if let Some(p) = c.pod_by_name(&pod) {
                    c.pods[p].terminating = true;
                    c.pods[p].ready = false;
                    self.queue.schedule(self.now + super::TERMINATION, Event::PodGone { pod: p });
                }
            }
            Change::NodeReady { node, ready } => {
                c.nodes[node].ready = ready;
                // The node lifecycle controller marks the node's pods (not) ready.
                for p in c.pods.iter_mut().filter(|p| p.node == node && !p.deleted && !p.terminating) {
                    p.ready = ready;
                }
            }
            Change::KubeProxyHealthy { node, healthy } => c.nodes[node].kube_proxy_healthy = healthy,
        }
        let before_hc: IdVec<ServiceId, Option<u16>> =
            self.cluster.services.iter().map(|s| s.health_check_node_port).collect();
        self.cluster.allocate();
        let allocated: Vec<TraceEntry> = self
            .cluster
            .services
            .iter_enumerated()
            .filter_map(|(svc, s)| {
                let port = s.health_check_node_port.filter(|p| Some(*p) != before_hc[svc])?;
                Some(TraceEntry::HealthCheckNodePort { svc, port })
            })
            .collect();
        for entry in allocated {
            self.trace(entry);
        }
        self.reconcile_load_balancers();
        let changed = self.cluster.reconcile_deployments(&mut self.names_rng);
        self.index_pods();
        for pod in changed {
            let p = self.cluster.pod(pod);
            if p.terminating {
                self.schedule(self.now + super::TERMINATION, Event::PodGone { pod });
                self.trace(TraceEntry::PodTerminating(pod));
            } else {
                let line = PodLine { pod, ip: p.ip, secondary_ip: p.secondary_ip, node: p.node, app: p.app };
                self.trace(TraceEntry::PodRunning(Box::new(line)));
            }
        }
        self.schedule_syncs();
    }

    pub(super) fn pod_gone(&mut self, pod: PodId) {
        let before = self.snapshot();
        self.cluster.pods[pod].deleted = true;
        self.record_state_changes(before);
        self.cluster_changed();
        self.index_pods();
        self.trace(TraceEntry::PodGone(pod));
        self.schedule_syncs();
    }

    /// The dataplane syncs each node at most once per minSyncPeriod (kube-proxy's
    /// BoundedFrequencyRunner; `docs/fidelity.md#syncs`).
    fn schedule_syncs(&mut self) {
        let min = self.dataplane.min_sync_period();
        for node in self.cluster.nodes.ids() {
            let n = &mut self.nodes[node];
            if n.sync_scheduled {
                continue;
            }
            n.sync_scheduled = true;
            let at = self.now.max(n.last_sync + min);
            self.schedule(at, Event::Sync { node });
        }
    }

    /// A node's dataplane syncs, unless its agent has stopped (it then keeps the rules it has).
    pub(super) fn sync(&mut self, node: NodeId) {
        self.nodes[node].sync_scheduled = false;
        if !self.cluster.node(node).kube_proxy_healthy {
            return;
        }
        let report = self.dataplane.sync(&self.cluster, self.epoch, node);
        self.nodes[node].last_sync = self.now;
        if let Some(report) = report {
            let agent = self.dataplane.agent();
            self.trace(TraceEntry::Synced(Box::new(SyncLine { node, agent, report })));
        }
    }
}
