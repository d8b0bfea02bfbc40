//! The view model: what is on screen at scenario time `t`, as a pure function of the recorded run.
//!
//! **The time mapping.** The scenario clock runs in true simulated time (at 1× a simulated second
//! is a second on screen; 16× makes a probe minute last under 4 s), so health probes, timeouts and
//! the per-minute metric keep their real rhythm. Packets are drawn in slow motion: whatever its
//! real latency (50 µs to 11 ms), every hop of a flow takes [`HOP`] seconds of the scenario clock,
//! starting when the flow really starts. The inspector shows the true hop times.

use std::collections::BTreeMap;

use svcsim_core::Place;
use svcsim_core::cluster::{Cluster, NodeId, PodId};
use svcsim_core::lb::ProbeResult;
use svcsim_core::net::{Header, IpFamily};
use svcsim_core::order;
use svcsim_core::record::{
    Action, FlowId, FlowRecord, Initiator, Outcome, PacketKind, PacketRecord, Run, StateEvent, TraceEntry, TraceLine,
};
use svcsim_core::scenario::{Scenario, Target};

use crate::layout::{Layout, Point, along};

/// Scenario seconds each hop takes on screen.
pub const HOP: f64 = 0.35;
/// How long a drop or refusal stays marked where it happened.
pub const LINGER: f64 = 1.5;
/// No flow is drawn longer than this after it starts (its hops plus the linger).
const MAX_VISIBLE: f64 = 30.0;

/// What a packet sprite shows, by colour and by label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpriteKind {
    /// The request as the client sent it.
    Original,
    /// Its destination rewritten to a pod.
    Dnat,
    /// Destination and source rewritten.
    DnatSnat,
    /// A reply, before or after conntrack undid the NAT.
    Reply,
    /// A health probe on its way, or coming back.
    Probe,
    ProbeOk,
    ProbeFailed,
    Dropped,
    Rejected,
}

impl SpriteKind {
    pub fn label(self) -> &'static str {
        match self {
            SpriteKind::Original => "REQ",
            SpriteKind::Dnat => "DNAT",
            SpriteKind::DnatSnat => "DNAT+SNAT",
            SpriteKind::Reply => "REPLY",
            SpriteKind::Probe => "PROBE",
            SpriteKind::ProbeOk => "PROBE ✓",
            SpriteKind::ProbeFailed => "PROBE ✗",
            SpriteKind::Dropped => "DROP",
            SpriteKind::Rejected => "REJECT",
        }
    }
    /// The CSS class that colours it.
    pub fn class(self) -> &'static str {
        match self {
            SpriteKind::Original => "pk-orig",
            SpriteKind::Dnat => "pk-dnat",
            SpriteKind::DnatSnat => "pk-snat",
            SpriteKind::Reply => "pk-reply",
            SpriteKind::Probe => "pk-probe",
            SpriteKind::ProbeOk => "pk-probe-ok",
            SpriteKind::ProbeFailed => "pk-probe-bad",
            SpriteKind::Dropped => "pk-drop",
            SpriteKind::Rejected => "pk-drop",
        }
    }
}

/// One leg of a flow on screen: from one place to the next, carrying `header`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub from: Place,
    pub to: Place,
    pub header: Header,
    /// The header as it reached the hop this leg leaves, when that hop rewrote it (NAT, un-NAT).
    pub was: Option<Header>,
    pub kind: SpriteKind,
}

impl Segment {
    fn of(flow: &FlowRecord, p: &PacketRecord, k: usize) -> Segment {
        let (a, b) = (&p.hops[k], &p.hops[k + 1]);
        let header = a.after();
        let was = (a.before != header).then_some(a.before);
        Segment { from: a.at, to: b.at, header, was, kind: sprite_kind(flow, p, k) }
    }
}

/// The legs of a flow, request then reply, built independently of [`segment_at`] (the test
/// oracle for it).
#[cfg(test)]
pub fn segments(run: &Run, flow: &FlowRecord) -> Vec<Segment> {
    let mut out = Vec::new();
    for p in run.packets_of(flow) {
        for k in 0..p.hops.len().saturating_sub(1) {
            out.push(Segment::of(flow, p, k));
        }
    }
    out
}

/// How a packet of `flow` is drawn on the leg that leaves its hop `k`: a request by the NAT its
/// hops so far applied.
fn sprite_kind(flow: &FlowRecord, p: &PacketRecord, k: usize) -> SpriteKind {
    let probe = matches!(flow.initiator, Initiator::Probe { .. });
    match p.kind {
        PacketKind::Request | PacketKind::Probe if probe => SpriteKind::Probe,
        PacketKind::Request | PacketKind::Probe => {
            let nat = p.hops[..=k].iter().filter_map(|h| h.nat());
            let (dnat, snat) = nat.fold((false, false), |(d, s), n| (d || n.dnat.is_some(), s || n.snat.is_some()));
            match (dnat, snat) {
                (false, false) => SpriteKind::Original,
                (true, false) => SpriteKind::Dnat,
                (_, true) => SpriteKind::DnatSnat,
            }
        }
        PacketKind::ProbeReply => match &flow.probe_result {
            Some(r) if r.success() => SpriteKind::ProbeOk,
            Some(_) => SpriteKind::ProbeFailed,
            None => SpriteKind::Probe,
        },
        PacketKind::Reply => SpriteKind::Reply,
    }
}

/// Leg `k` of a flow, without building the others (what a frame needs for each packet).
pub fn segment_at(run: &Run, flow: &FlowRecord, k: usize) -> Option<Segment> {
    let mut k = k;
    for p in run.packets_of(flow) {
        let legs = p.hops.len().saturating_sub(1);
        if k < legs {
            return Some(Segment::of(flow, p, k));
        }
        k -= legs;
    }
    None
}

/// When a flow's last leg ends on screen.
pub fn display_end(run: &Run, flow: &FlowRecord) -> f64 {
    flow.start.as_secs_f64() + segment_count(run, flow) as f64 * HOP
}

fn segment_count(run: &Run, flow: &FlowRecord) -> usize {
    std::iter::once(flow.request).chain(flow.reply).map(|p| run.packet(p).hops.len().saturating_sub(1)).sum()
}

/// When a trace line is shown: at its true time for notes, at the slow-motion time of its hop for
/// packet lines (so the log, the narration and the animation agree).
pub fn display_time(run: &Run, line: &TraceLine) -> f64 {
    match line.entry {
        TraceEntry::Hop { packet, hop } => {
            let p = run.packet(packet);
            let flow = run.flow(p.flow);
            let offset = if p.kind.is_forward() {
                hop as usize
            } else {
                run.packet(flow.request).hops.len().saturating_sub(1) + hop as usize
            };
            flow.start.as_secs_f64() + offset as f64 * HOP
        }
        _ => line.time.as_secs_f64(),
    }
}

/// A packet on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Sprite {
    pub flow: FlowId,
    /// Which leg of its flow it is on (a drop's mark: its last).
    pub leg: u32,
    pub at: Point,
    pub kind: SpriteKind,
    /// The header it carries (none for a drop's mark).
    pub header: Option<Header>,
    /// The header before the rewrite at the hop it is leaving, if that hop rewrote it.
    pub was: Option<Header>,
    /// Why it was dropped or refused (a drop's mark only).
    pub reason: Option<String>,
}

impl Sprite {
    /// The header it carries, or the reason it was dropped: its tooltip. Written only for the
    /// few packets drawn one by one, not for every packet of a crowd each frame.
    pub fn detail(&self) -> String {
        match (&self.reason, self.header) {
            (Some(reason), _) => reason.clone(),
            (None, Some(h)) => h.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Above this many packets on screen the topology draws them as a crowd: one path per kind
/// (see [`crowd`]) instead of one element each, so a frame stays cheap to diff and paint.
pub const CROWD_FROM: usize = 60;

/// One kind of packet in a crowd, all drawn by one SVG path.
#[derive(Debug, Clone, PartialEq)]
pub struct Crowd {
    pub kind: SpriteKind,
    pub count: usize,
    /// The path: each packet's shape (the legend's) at its place, as one subpath.
    pub d: String,
}

/// `sprites` as crowds, one per kind in order of first appearance, leaving out `except` (the
/// selected flow, drawn on its own). The shapes are the individual sprites' shapes.
pub fn crowd(sprites: &[Sprite], except: Option<FlowId>) -> Vec<Crowd> {
    use std::fmt::Write as _;
    let mut out: Vec<Crowd> = Vec::new();
    for s in sprites.iter().filter(|s| Some(s.flow) != except) {
        let i = match out.iter().position(|c| c.kind == s.kind) {
            Some(i) => i,
            None => {
                out.push(Crowd { kind: s.kind, count: 0, d: String::new() });
                out.len() - 1
            }
        };
        let c = &mut out[i];
        c.count += 1;
        let (x, y) = (s.at.x, s.at.y);
        let _ = match s.kind {
            SpriteKind::Original => write!(c.d, "M{:.1} {y:.1}a7 7 0 1 0 14 0a7 7 0 1 0-14 0", x - 7.0),
            SpriteKind::Dnat | SpriteKind::DnatSnat => write!(c.d, "M{x:.1} {:.1}l9 9-9 9-9-9z", y - 9.0),
            SpriteKind::Reply => write!(c.d, "M{:.1} {:.1}h14v14h-14z", x - 7.0, y - 7.0),
            SpriteKind::Probe | SpriteKind::ProbeOk | SpriteKind::ProbeFailed => {
                write!(c.d, "M{x:.1} {:.1}l8 15h-16z", y - 8.0)
            }
            SpriteKind::Dropped | SpriteKind::Rejected => {
                write!(c.d, "M{:.1} {:.1}l16 16m0-16l-16 16", x - 8.0, y - 8.0)
            }
        };
    }
    out
}

/// The packet nearest to `at` within `radius`, of packets at `places` (a click on a crowd
/// selects the packet under it).
pub fn nearest(places: &[(FlowId, Point)], at: Point, radius: f64) -> Option<FlowId> {
    places
        .iter()
        .map(|(flow, p)| (*flow, (p.x - at.x).hypot(p.y - at.y)))
        .filter(|(_, d)| *d <= radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(flow, _)| flow)
}

/// The first flow that may still be visible at `t`.
fn first_visible(run: &Run, t: f64) -> usize {
    run.flows.partition_point(|f| f.start.as_secs_f64() < t - MAX_VISIBLE)
}

/// Flows that started by `t`.
fn started(run: &Run, t: f64) -> usize {
    run.flows.partition_point(|f| f.start.as_secs_f64() <= t)
}

/// The packets on screen at `t`. With `reduced_motion` packets jump from place to place.
pub fn sprites(
    run: &Run,
    layout: &Layout,
    scenario: &Scenario,
    cluster: &Cluster,
    t: f64,
    reduced_motion: bool,
) -> Vec<Sprite> {
    let mut out = Vec::new();
    // A crowd travels a few legs many times over: each leg's route is computed once per frame.
    // (A few dozen legs at most: a list, not another B-tree's code in the bundle.)
    let mut routes: Vec<((Place, Place), Vec<Point>)> = Vec::new();
    for flow in &run.flows[first_visible(run, t)..started(run, t)] {
        let legs = segment_count(run, flow);
        let elapsed = t - flow.start.as_secs_f64();
        let end = legs as f64 * HOP;
        if elapsed < end {
            let k = ((elapsed / HOP) as usize).min(legs - 1);
            let mut frac = (elapsed - k as f64 * HOP) / HOP;
            if reduced_motion {
                frac = if frac < 0.5 { 0.0 } else { 1.0 };
            }
            let Some(s) = segment_at(run, flow, k) else { continue };
            let i = match routes.iter().position(|(leg, _)| *leg == (s.from, s.to)) {
                Some(i) => i,
                None => {
                    routes.push(((s.from, s.to), layout.route(s.from, s.to, scenario, cluster)));
                    routes.len() - 1
                }
            };
            let at = along(&routes[i].1, frac);
            out.push(Sprite {
                flow: flow.id,
                leg: k as u32,
                at,
                kind: s.kind,
                header: Some(s.header),
                was: s.was,
                reason: None,
            });
        } else if elapsed < end + LINGER {
            // A drop or refusal stays marked where it happened.
            let last =
                std::iter::once(flow.request).chain(flow.reply).filter_map(|p| run.packet(p).hops.last()).next_back();
            if let Some(h) = last {
                let (kind, reason) = match &h.action {
                    Action::Dropped(reason) => (SpriteKind::Dropped, reason.to_string()),
                    Action::Rejected(reason) => (SpriteKind::Rejected, reason.to_string()),
                    _ => continue,
                };
                let at = layout.anchor(h.at, scenario, cluster);
                out.push(Sprite {
                    flow: flow.id,
                    leg: legs as u32,
                    at,
                    kind,
                    header: None,
                    was: None,
                    reason: Some(reason),
                });
            }
        }
    }
    out
}

/// What the app showed the client last, as of `t`: (client, output, flow).
pub fn app_output(run: &Run, t: f64) -> Option<(String, String, FlowId)> {
    run.flows[..started(run, t)].iter().rev().find_map(|f| {
        let Initiator::Client(c) = f.initiator else { return None };
        (f.outcome == Outcome::Answered && display_end(run, f) <= t)
            .then(|| (run.names.clients[c].clone(), f.app_output.clone().unwrap_or_default(), f.id))
    })
}

/// One row of the compare view: what differs between the Cluster and the Local run at `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub label: &'static str,
    pub cluster: String,
    pub local: String,
}

impl CompareRow {
    pub fn differs(&self) -> bool {
        self.cluster != self.local
    }
}

/// A run as the compare view reads it: the record, its cluster and its probe panel at the cursor.
pub type Compared<'a> = (&'a Run, &'a Cluster, Option<&'a ProbePanel>);

/// The facts the compare view sets side by side, each computed the same way from both runs:
/// the latest answer, the address the pod saw, its hop count and SNAT, probe status, rotation,
/// load per pod and drops.
pub fn compare_rows(cluster: Compared, local: Compared, t: f64) -> Vec<CompareRow> {
    let facts = |(run, c, probes): Compared| -> Vec<String> {
        let latest = app_output(run, t).and_then(|(_, _, id)| run.get_flow(id));
        let hops = latest
            .map_or(0, |f| std::iter::once(f.request).chain(f.reply).map(|p| run.packet(p).hops.len()).sum::<usize>());
        let snat = latest.map(|f| run.packet(f.request).hops.iter().any(|h| h.snat()));
        let per_pod = seen_by_pod(run, t)
            .iter()
            .map(|(pod, seen)| {
                let name = &c.pod(*pod).name;
                let short: String = name.chars().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
                format!("…{short} {}", seen.values().sum::<usize>())
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let (mut answered, mut extra_hop) = (0, 0);
        for f in &run.flows[..started(run, t)] {
            if matches!(f.initiator, Initiator::Client(_)) && f.outcome == Outcome::Answered && display_end(run, f) <= t
            {
                answered += 1;
                if let (Some(n), Some(p)) = (f.ingress_node, f.pod)
                    && c.pod(p).node != n
                {
                    extra_hop += 1;
                }
            }
        }
        let dropped = run.flows[..started(run, t)]
            .iter()
            .filter(|f| {
                matches!(f.initiator, Initiator::Client(_))
                    && matches!(f.outcome, Outcome::Dropped { .. } | Outcome::Rejected { .. })
                    && display_end(run, f) <= t
            })
            .count();
        vec![
            latest
                .and_then(|f| f.app_output.clone())
                .map_or("—".into(), |o| o.lines().next().unwrap_or("").to_string()),
            latest.and_then(|f| f.source_seen).map_or("—".into(), |ip| ip.to_string()),
            if hops == 0 { "—".into() } else { hops.to_string() },
            format!("{extra_hop} of {answered}"),
            snat.map_or("—".into(), |s| if s { "yes".into() } else { "no".into() }),
            latest.map(|f| run.reply_path(f)).filter(|p| !p.is_empty()).map_or("—".into(), |p| {
                p.into_iter().map(|place| run.names.place(place)).collect::<Vec<_>>().join(" → ")
            }),
            probes.and_then(|p| p.last_minute).map_or("—".into(), |(_, v)| pct(v)),
            probes.map_or("—".into(), |p| {
                format!("{}/{}", p.in_rotation.iter().filter(|u| **u).count(), p.in_rotation.len())
            }),
            if per_pod.is_empty() { "—".into() } else { per_pod },
            dropped.to_string(),
        ]
    };
    const LABELS: [&str; 10] = [
        "the app prints",
        "the pod sees the source",
        "hops of that request (there and back)",
        "answers that crossed to another node",
        "SNAT on the way in",
        "its reply's path",
        "Health Probe Status, last complete minute",
        "nodes in rotation",
        "requests per pod",
        "requests dropped",
    ];
    let (a, b) = (facts(cluster), facts(local));
    LABELS
        .iter()
        .zip(a.into_iter().zip(b))
        .map(|(label, (cluster, local))| CompareRow { label, cluster, local })
        .collect()
}

/// Source addresses each pod has seen by `t`, with counts.
pub fn seen_by_pod(run: &Run, t: f64) -> BTreeMap<PodId, BTreeMap<String, usize>> {
    let mut out: BTreeMap<PodId, BTreeMap<String, usize>> = BTreeMap::new();
    for f in &run.flows[..started(run, t)] {
        if let (Initiator::Client(_), Some(pod), Some(src)) = (f.initiator, f.pod, f.source_seen)
            && (display_end(run, f) <= t || f.outcome == Outcome::Answered && f.start.as_secs_f64() + 2.0 * HOP <= t)
        {
            *out.entry(pod).or_default().entry(src.to_string()).or_default() += 1;
        }
    }
    out
}

/// The health probe panel at `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePanel {
    /// The last complete minute and its Health Probe Status, if a minute has completed.
    pub last_minute: Option<(u64, f64)>,
    pub in_rotation: Vec<bool>,
    /// Why each node out of rotation left ("probe HTTP 503 ×2").
    pub reasons: Vec<Option<String>>,
    /// Each node's last probe result by `t`.
    pub last_probe: Vec<Option<ProbeResult>>,
    /// (minute, aggregate %, per-node %) for the 30 minutes before `t`.
    pub series: Vec<(u64, f64, Vec<Option<f64>>)>,
    /// On a dual-stack cluster, the family whose frontend the panel shows.
    pub family: Option<IpFamily>,
}

/// The family whose load balancers the page shows on a dual-stack cluster: the one its first
/// client's target uses. `None` on a single-stack cluster, where there is one.
pub fn shown_family(scenario: &Scenario, cluster: &Cluster) -> Option<IpFamily> {
    if !cluster.config.is_dual_stack() {
        return None;
    }
    let family = scenario.clients.iter().next().map(|c| match c.target {
        Target::LoadBalancer { family, .. } | Target::ClusterIp { family, .. } | Target::NodePort { family, .. } => {
            family
        }
        Target::Addr(a) => a.family(),
    });
    Some(family.unwrap_or(cluster.config.primary_family()))
}

/// How a browser's address bar writes `addr`: `http://203.0.113.10/`, `http://[2001:db8::10]:8080/`.
pub fn url(addr: svcsim_core::net::SockAddr) -> String {
    let host = match addr.ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    if addr.port == 80 { format!("http://{host}/") } else { format!("http://{host}:{}/", addr.port) }
}

/// `50%`, `46.15%`.
pub fn pct(p: f64) -> String {
    let r = (p * 100.0).round() / 100.0;
    if r.fract() == 0.0 { format!("{r:.0}%") } else { format!("{}%", format!("{r:.2}").trim_end_matches('0')) }
}

/// `None` when no Service has a cloud load balancer. With `family`, only that family's load
/// balancers and probes count (a dual-stack Service's IPv6 frontend apart from its IPv4 one).
pub fn probe_panel(run: &Run, nodes: usize, t: f64, family: Option<IpFamily>) -> Option<ProbePanel> {
    let ours = |f: IpFamily| family.is_none_or(|family| family == f);
    if !run.initial_rotation.keys().any(|lb| ours(lb.family)) {
        return None;
    }
    let mut in_rotation = vec![false; nodes];
    let mut per_lb: BTreeMap<_, BTreeMap<NodeId, bool>> = order::map(
        run.initial_rotation.iter().filter(|(lb, _)| ours(lb.family)).map(|(s, v)| (*s, order::map(v.iter().copied()))),
    );
    let mut reasons = vec![None; nodes];
    for r in run.rotation.iter().take_while(|r| r.time.as_secs_f64() <= t).filter(|r| ours(r.family)) {
        per_lb
            .entry(svcsim_core::lb::Frontend { svc: r.svc, family: r.family })
            .or_default()
            .insert(r.node, r.in_rotation);
        reasons[r.node.0 as usize] = r.reason.clone();
    }
    for lb in per_lb.values() {
        for (n, up) in lb {
            in_rotation[n.0 as usize] |= *up;
        }
    }
    for (i, r) in reasons.iter_mut().enumerate() {
        if in_rotation[i] {
            *r = None;
        }
    }
    let mut last_probe: Vec<Option<ProbeResult>> = vec![None; nodes];
    let mut missing = nodes;
    for f in run.flows[..started(run, t)].iter().rev() {
        if missing == 0 {
            break;
        }
        if let (Initiator::Probe { node, family: f_family, .. }, Some(r), Some(end)) =
            (f.initiator, &f.probe_result, f.end)
            && ours(f_family)
        {
            let slot = &mut last_probe[node.0 as usize];
            if slot.is_none() && end.as_secs_f64() <= t {
                *slot = Some(*r);
                missing -= 1;
            }
        }
    }
    let complete = (t / 60.0).floor() as u64;
    let status = |m: u64| match family {
        Some(f) => run.probe_status_of(m..m + 1, f),
        None => run.probe_status(m..m + 1),
    };
    let last_minute = complete.checked_sub(1).and_then(|m| status(m).map(|s| (m, s.percent)));
    let series = (complete.saturating_sub(30)..complete)
        .filter_map(|m| {
            let s = status(m)?;
            Some((m, s.percent, (0..nodes).map(|n| s.per_node.get(&NodeId(n as u32)).copied()).collect()))
        })
        .collect();
    Some(ProbePanel { last_minute, in_rotation, reasons, last_probe, series, family })
}

/// A pod as drawn at `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    Absent,
    Ready,
    NotReady,
    Terminating,
}

/// Pods' and nodes' states at `t`: (pods, node ready, kube-proxy healthy).
pub fn states(run: &Run, pods: usize, nodes: usize, t: f64) -> (Vec<PodState>, Vec<bool>, Vec<bool>) {
    let mut pod = vec![PodState::Absent; pods];
    let mut ready = vec![true; nodes];
    let mut proxy = vec![true; nodes];
    for (time, e) in run.states.iter().take_while(|(time, _)| time.as_secs_f64() <= t) {
        let _ = time;
        match e {
            StateEvent::PodCreated(p) => set(&mut pod, *p, PodState::Ready),
            StateEvent::PodReady(p, r) => {
                if pod.get(p.0 as usize) != Some(&PodState::Terminating) {
                    set(&mut pod, *p, if *r { PodState::Ready } else { PodState::NotReady });
                }
            }
            StateEvent::PodTerminating(p) => set(&mut pod, *p, PodState::Terminating),
            StateEvent::PodGone(p) => set(&mut pod, *p, PodState::Absent),
            StateEvent::NodeReady(n, r) => ready[n.0 as usize] = *r,
            StateEvent::KubeProxyHealthy(n, h) => proxy[n.0 as usize] = *h,
        }
    }
    (pod, ready, proxy)
}

fn set(v: &mut [PodState], p: PodId, s: PodState) {
    if let Some(slot) = v.get_mut(p.0 as usize) {
        *slot = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use svcsim_core::manifest::{Overrides, load};
    use svcsim_core::sim::Sim;
    use svcsim_core::time::Instant;

    #[test]
    fn a_crowd_draws_each_kind_as_one_path_of_legend_shapes_leaving_out_the_selected() {
        let sprite = |flow: u32, kind: SpriteKind, x: f64| Sprite {
            flow: FlowId(flow),
            leg: 0,
            at: Point { x, y: 20.0 },
            kind,
            header: None,
            was: None,
            reason: None,
        };
        let sprites = [
            sprite(1, SpriteKind::Original, 10.0),
            sprite(2, SpriteKind::Reply, 30.0),
            sprite(3, SpriteKind::Original, 50.0),
            sprite(4, SpriteKind::Dropped, 70.0),
            sprite(5, SpriteKind::Original, 90.0),
        ];
        let crowds = crowd(&sprites, Some(FlowId(5)));
        let summary: Vec<(SpriteKind, usize, &str)> = crowds.iter().map(|c| (c.kind, c.count, c.d.as_str())).collect();
        assert_eq!(
            summary,
            [
                (
                    SpriteKind::Original,
                    2,
                    "M3.0 20.0a7 7 0 1 0 14 0a7 7 0 1 0-14 0M43.0 20.0a7 7 0 1 0 14 0a7 7 0 1 0-14 0"
                ),
                (SpriteKind::Reply, 1, "M23.0 13.0h14v14h-14z"),
                (SpriteKind::Dropped, 1, "M62.0 12.0l16 16m0-16l-16 16"),
            ]
        );
    }

    #[test]
    fn a_click_on_a_crowd_selects_the_nearest_packet_under_it() {
        let sprites = [0.0, 10.0, 30.0].map(|x| (FlowId(x as u32), Point { x, y: 0.0 }));
        assert_eq!(nearest(&sprites, Point { x: 7.0, y: 1.0 }, 9.0), Some(FlowId(10)));
        assert_eq!(nearest(&sprites, Point { x: 20.0, y: 0.0 }, 9.0), None, "between packets");
    }

    fn seed_sim(yaml: &str, until: u64) -> Sim {
        let mut sim = Sim::new(load(yaml, &Overrides::default()).unwrap().scenario);
        sim.run_until(Instant::from_secs(until));
        sim
    }

    #[test]
    fn a_request_moves_hop_by_hop_in_slow_motion_and_changes_kind_at_the_nat() {
        let sim = seed_sim(include_str!("../../scenarios/aks-blog.yaml"), 5);
        let run = sim.record();
        let layout = Layout::new(sim.scenario(), sim.cluster(), crate::layout::Orientation::Wide);
        let first = &run.flows.iter().find(|f| matches!(f.initiator, Initiator::Client(_))).unwrap();
        let start = first.start.as_secs_f64();
        let kinds: Vec<SpriteKind> = segments(run, first).iter().map(|s| s.kind).collect();
        // laptop -> lb -> node -> pod, then the reply pod -> node -> laptop.
        assert_eq!(
            kinds,
            [SpriteKind::Original, SpriteKind::Original, SpriteKind::DnatSnat, SpriteKind::Reply, SpriteKind::Reply]
        );
        let at = |t: f64| {
            sprites(run, &layout, sim.scenario(), sim.cluster(), t, false).into_iter().find(|s| s.flow == first.id)
        };
        let s0 = at(start).unwrap();
        let s_half = at(start + HOP / 2.0).unwrap();
        assert!(s_half.at.x > s0.at.x, "it glides toward the load balancer");
        assert_eq!(at(start + 2.5 * HOP).unwrap().kind, SpriteKind::DnatSnat);
        assert!(at(start + 5.0 * HOP + 0.01).is_none(), "gone once its five legs are done");
        // With reduced motion it jumps from place to place.
        let reduced = sprites(run, &layout, sim.scenario(), sim.cluster(), start + HOP * 0.25, true);
        assert_eq!(reduced.iter().find(|s| s.flow == first.id).unwrap().at, s0.at);
    }

    #[test]
    fn compare_rows_call_out_what_local_changes() {
        let run = |etp| {
            let yaml = include_str!("../../scenarios/aks-blog.yaml");
            let o = svcsim_core::manifest::Overrides { external_traffic_policy: Some(etp), ..Default::default() };
            let mut sim = svcsim_core::sim::Sim::new(svcsim_core::manifest::load(yaml, &o).unwrap().scenario);
            sim.run_until(svcsim_core::time::Instant::from_secs(200));
            sim
        };
        let (c, l) =
            (run(svcsim_core::cluster::TrafficPolicy::Cluster), run(svcsim_core::cluster::TrafficPolicy::Local));
        let (pc, pl) = (probe_panel(c.record(), 2, 190.0, None), probe_panel(l.record(), 2, 190.0, None));
        let rows = compare_rows((c.record(), c.cluster(), pc.as_ref()), (l.record(), l.cluster(), pl.as_ref()), 190.0);
        let text: Vec<String> = rows
            .iter()
            .map(|r| format!("{}{}: {} | {}", if r.differs() { "≠ " } else { "  " }, r.label, r.cluster, r.local))
            .collect();
        expect_test::expect![[r#"
            ≠ the app prints: ::ffff:10.244.0.1 | ::ffff:198.51.100.79
            ≠ the pod sees the source: 10.244.0.1 | 198.51.100.79
              hops of that request (there and back): 7 | 7
            ≠ answers that crossed to another node: 83 of 188 | 0 of 188
            ≠ SNAT on the way in: yes | no
              its reply's path: pod node-deployment-p9sfq9jkfn-6wnqr → node-0 → laptop | pod node-deployment-p9sfq9jkfn-6wnqr → node-0 → laptop
            ≠ Health Probe Status, last complete minute: 100% | 50%
            ≠ nodes in rotation: 2/2 | 1/2
              requests per pod: …6wnqr 189 | …6wnqr 189
              requests dropped: 0 | 0"#]]
        .assert_eq(&text.join("\n"));
    }

    #[test]
    fn segment_at_agrees_with_segments() {
        let sim = seed_sim(include_str!("../../scenarios/aks-blog-switch.yaml"), 100);
        let run = sim.record();
        for f in &run.flows {
            let all = segments(run, f);
            for (k, s) in all.iter().enumerate() {
                assert_eq!(segment_at(run, f, k).as_ref(), Some(s));
            }
            assert_eq!(segment_at(run, f, all.len()), None);
        }
    }

    #[test]
    fn the_app_output_is_the_last_answer_the_client_has_seen() {
        let sim = seed_sim(include_str!("../../scenarios/aks-blog.yaml"), 10);
        let run = sim.record();
        assert_eq!(app_output(run, 0.4), None);
        let (client, output, _) = app_output(run, 0.5 + 5.0 * HOP).unwrap();
        assert_eq!(client, "laptop");
        assert!(output == "::ffff:10.244.0.1" || output == "::ffff:10.240.0.5", "{output}");
    }

    #[test]
    fn the_probe_panel_follows_the_local_switch() {
        let sim = seed_sim(include_str!("../../scenarios/aks-blog-switch.yaml"), 240);
        let run = sim.record();
        let before = probe_panel(run, 2, 89.0, None).unwrap();
        assert_eq!(before.in_rotation, [true, true]);
        assert_eq!(before.last_minute, Some((0, 100.0)));
        let after = probe_panel(run, 2, 200.0, None).unwrap();
        assert_eq!(after.in_rotation, [true, false]);
        assert_eq!(after.reasons[1].as_deref(), Some("probe HTTP 503 ×2"));
        assert_eq!(after.last_probe[1], Some(ProbeResult::Http(503)));
        assert_eq!(after.last_probe[0], Some(ProbeResult::Http(200)));
        assert_eq!(after.last_minute, Some((2, 50.0)));
        assert_eq!(after.series.len(), 3);
        assert!(after.series[1].1 > 50.0 && after.series[1].1 < 100.0, "the transition minute");
    }

    #[test]
    fn log_lines_are_shown_when_their_hop_is() {
        let sim = seed_sim(include_str!("../../scenarios/aks-blog.yaml"), 3);
        let run = sim.record();
        let send = run.trace.iter().find(|l| matches!(l.entry, TraceEntry::Hop { .. })).unwrap();
        assert_eq!(display_time(run, send), 0.5);
        let pod_line = run.trace.iter().find(|l| run.render(l).contains("prints")).unwrap();
        assert!((display_time(run, pod_line) - (0.5 + 3.0 * HOP)).abs() < 1e-9);
    }

    #[test]
    fn pods_appear_and_go_as_the_run_scales() {
        let yaml = include_str!("../../scenarios/aks-blog.yaml").replace("  clients:", "  events:\n    - {at: 10s, scale: {deployment/node-deployment: 2}}\n    - {at: 20s, scale: {deployment/node-deployment: 1}}\n  clients:");
        let sim = seed_sim(&yaml, 30);
        let (pods, _, _) = states(sim.record(), 2, 2, 5.0);
        assert_eq!(pods, [PodState::Ready, PodState::Absent]);
        let (pods, _, _) = states(sim.record(), 2, 2, 15.0);
        assert_eq!(pods, [PodState::Ready, PodState::Ready]);
        let (pods, _, _) = states(sim.record(), 2, 2, 20.5);
        assert_eq!(pods[1], PodState::Terminating);
        let (pods, _, _) = states(sim.record(), 2, 2, 25.0);
        assert_eq!(pods[1], PodState::Absent);
    }
}
