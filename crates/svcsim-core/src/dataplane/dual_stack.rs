//! A dual-stack node's service proxy: one dataplane per IP family, each programmed from the
//! cluster as its family sees it ([`Cluster::family_view`]), and each packet decided by the side
//! of its own family. kube-proxy works this way (one proxier per family behind its MetaProxier,
//! `ip6tables` beside `iptables`, `table ip6` beside `table ip`), and so does Cilium (`lb6` beside
//! `lb4`). No packet changes family on its way through (`docs/fidelity.md#dual-stack`).

use super::{Connect, ConnectCx, Dataplane, Decision, HealthResponse, Origin, PacketCx, RulesText, SyncReport};
use crate::cluster::{Cluster, NodeId};
use crate::id::IdVec;
use crate::net::{Header, IpFamily, Protocol, SockAddr};
use crate::time::{Duration, Instant};

/// One side: its family, its dataplane, the cluster as the family sees it (for the health
/// servers), and each node's last sync report.
struct Side {
    family: IpFamily,
    dataplane: Box<dyn Dataplane>,
    view: Cluster,
    reports: IdVec<NodeId, Option<SyncReport>>,
}

/// The dataplanes of a dual-stack cluster's two families, the cluster's first family first.
pub struct DualStack {
    sides: Vec<Side>,
    epoch: Option<u64>,
}

impl DualStack {
    /// One dataplane per family of `cluster`, each made by `make` from that family's view.
    pub fn new(cluster: &Cluster, make: impl Fn(&Cluster) -> Box<dyn Dataplane>) -> DualStack {
        let sides = cluster
            .config
            .families()
            .into_iter()
            .map(|family| {
                let view = cluster.family_view(family);
                let dataplane = make(&view);
                Side { family, dataplane, view, reports: IdVec::default() }
            })
            .collect();
        DualStack { sides, epoch: None }
    }

    fn side(&self, family: IpFamily) -> &Side {
        self.sides.iter().find(|s| s.family == family).unwrap_or(&self.sides[0])
    }

    fn side_mut(&mut self, family: IpFamily) -> &mut Side {
        let i = self.sides.iter().position(|s| s.family == family).unwrap_or(0);
        &mut self.sides[i]
    }
}

/// Both sides' reports as one: their rules added up, their health servers merged by port (both
/// families' proxiers answer the one healthCheckNodePort).
fn merged(reports: impl Iterator<Item = SyncReport>) -> SyncReport {
    let mut out = SyncReport { rules: 0, health_servers: Vec::new() };
    for r in reports {
        out.rules += r.rules;
        for (port, local) in r.health_servers {
            if !out.health_servers.iter().any(|(p, _)| *p == port) {
                out.health_servers.push((port, local));
            }
        }
    }
    out
}

impl Dataplane for DualStack {
    fn agent(&self) -> &'static str {
        self.sides[0].dataplane.agent()
    }

    fn describe(&self) -> String {
        let families: Vec<String> = self.sides.iter().map(|s| s.family.to_string()).collect();
        format!("{}, dual-stack ({})", self.sides[0].dataplane.describe(), families.join(" and "))
    }

    fn min_sync_period(&self) -> Duration {
        self.sides[0].dataplane.min_sync_period()
    }

    fn sync(&mut self, cluster: &Cluster, epoch: u64, node: NodeId) -> Option<SyncReport> {
        if self.epoch != Some(epoch) {
            for side in &mut self.sides {
                side.view = cluster.family_view(side.family);
            }
            self.epoch = Some(epoch);
        }
        let mut changed = false;
        for side in &mut self.sides {
            while side.reports.len() <= node.0 as usize {
                side.reports.push(None);
            }
            if let Some(report) = side.dataplane.sync(&side.view, epoch, node) {
                side.reports[node] = Some(report);
                changed = true;
            }
        }
        changed.then(|| merged(self.sides.iter().filter_map(|s| s.reports[node].clone())))
    }

    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, cx: PacketCx<'_>) -> Decision {
        self.side_mut(header.family()).dataplane.first_packet(node, origin, header, cx)
    }

    fn every_decision(&self, node: NodeId, origin: Origin, header: Header) -> Vec<Decision> {
        self.side(header.family()).dataplane.every_decision(node, origin, header)
    }

    fn serve(&self, _cluster: &Cluster, node: NodeId, dst: SockAddr) -> Option<HealthResponse> {
        let side = self.side(dst.family());
        side.dataplane.serve(&side.view, node, dst)
    }

    fn render(&self, node: NodeId, form: RulesText) -> String {
        self.sides[0].dataplane.render(node, form)
    }

    fn render_family(&self, node: NodeId, form: RulesText, family: IpFamily) -> Option<String> {
        let side = self.sides.iter().find(|s| s.family == family)?;
        Some(side.dataplane.render(node, form))
    }

    fn sweep(&mut self, now: Instant) {
        for side in &mut self.sides {
            side.dataplane.sweep(now);
        }
    }

    fn connect(
        &mut self,
        node: NodeId,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        cx: ConnectCx<'_>,
    ) -> Option<Connect> {
        self.side_mut(dst.family()).dataplane.connect(node, from_pod, src, dst, cx)
    }

    fn every_connect(
        &self,
        node: NodeId,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        proto: Protocol,
    ) -> Vec<Connect> {
        self.side(dst.family()).dataplane.every_connect(node, from_pod, src, dst, proto)
    }
}
