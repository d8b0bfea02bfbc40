//! The recorded run: the `Sim`, extended ahead of the cursor in budgeted steps, with the
//! indexes the page needs (the log by display time, the scrubber's markers) and its layouts.

use svcsim_core::cluster::NodeId;
use svcsim_core::id::IdVec;
use svcsim_core::order;
use svcsim_core::record::{Action as HopAction, Initiator, TraceEntry};
use svcsim_core::scenario::Scenario;
use svcsim_core::sim::Sim;
use svcsim_core::time::Instant;

use crate::layout::{Layout, Orientation};
use crate::view;

/// How far ahead of the cursor the run is computed, in scenario seconds.
pub const LOOKAHEAD: f64 = 5.0;
/// Scenario time computed per step of [`Engine::extend`].
const STEP: f64 = 1.0;
/// The most simulation events computed per call (per animation frame, or per user action), so
/// the page never freezes: tens of milliseconds in wasm at worst; the rest follows on later frames.
pub const EVENT_BUDGET: u64 = 40_000;
/// History kept behind the newest computed time: the 30-minute chart window and a margin.
const KEEP: f64 = 31.0 * 60.0;
/// How often old history is forgotten, in scenario seconds.
const FORGET_EVERY: f64 = 120.0;

/// A notable moment, marked on the scrubber.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub t: f64,
    pub kind: MarkerKind,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Change,
    FirstSnat,
    ProbeFailure,
    Drop,
}

/// The recorded run, grown in chunks, with the indexes the view needs.
pub struct Engine {
    pub sim: Sim,
    /// The drawing, arranged wide and tall ([`Engine::layout`]).
    layouts: [Layout; 2],
    /// Trace lines by the time they are shown: (display time, line index), sorted.
    pub log: Vec<(f64, u32)>,
    pub markers: Vec<Marker>,
    indexed_lines: usize,
    indexed_flows: usize,
    /// Nothing before this scenario time is kept (an open-ended run forgets its oldest history).
    pub kept_from: f64,
    seen_snat: bool,
    probe_ok: IdVec<NodeId, bool>,
}

impl Engine {
    pub fn new(scenario: Scenario) -> Engine {
        let sim = Sim::new(scenario);
        let layouts = Self::lay_out(&sim);
        let nodes = sim.cluster().nodes.len();
        let mut e = Engine {
            sim,
            layouts,
            log: Vec::new(),
            markers: Vec::new(),
            indexed_lines: 0,
            indexed_flows: 0,
            kept_from: 0.0,
            seen_snat: false,
            probe_ok: vec![true; nodes].into(),
        };
        e.index();
        e
    }

    fn lay_out(sim: &Sim) -> [Layout; 2] {
        [Orientation::Wide, Orientation::Tall].map(|o| Layout::new(sim.scenario(), sim.cluster(), o))
    }

    /// The drawing arranged `o`.
    pub fn layout(&self, o: Orientation) -> &Layout {
        &self.layouts[match o {
            Orientation::Wide => 0,
            Orientation::Tall => 1,
        }]
    }

    /// Scenario seconds computed so far.
    pub fn computed(&self) -> f64 {
        self.sim.now().as_secs_f64()
    }

    /// Computes toward `until` in [`STEP`]s until it gets there or [`EVENT_BUDGET`] events have
    /// run; true if anything was computed. Compared in whole microseconds, the simulation's unit,
    /// so repeated calls always converge.
    pub fn extend(&mut self, until: f64) -> bool {
        let target = (until.max(0.0) * 1e6).ceil() as u64;
        let start_events = self.sim.record().events;
        let mut progressed = false;
        while self.sim.now().as_micros() < target && self.sim.record().events - start_events < EVENT_BUDGET {
            let to = target.min(self.sim.now().as_micros() + (STEP * 1e6) as u64);
            self.sim.run_until(Instant::from_micros(to));
            progressed = true;
        }
        if progressed {
            self.index();
            self.forget_old();
        }
        progressed
    }

    /// Keeps memory bounded on an open-ended run: history older than [`KEEP`] behind the newest
    /// computed time is forgotten, every [`FORGET_EVERY`] seconds.
    fn forget_old(&mut self) {
        let cutoff = self.computed() - KEEP;
        if cutoff < self.kept_from + FORGET_EVERY {
            return;
        }
        let flows_before = self.sim.record().flow_base;
        self.sim.forget_before(Instant::from_micros((cutoff * 1e6) as u64));
        let forgotten = (self.sim.record().flow_base - flows_before) as usize;
        self.indexed_flows = self.indexed_flows.saturating_sub(forgotten);
        self.kept_from = cutoff;
        // Trace lines moved: rebuild the display index over what is left.
        let run = self.sim.record();
        self.log = run.trace.iter().enumerate().map(|(i, l)| (view::display_time(run, l), i as u32)).collect();
        order::sort_by(&mut self.log, |a, b| a.0.total_cmp(&b.0));
        self.indexed_lines = run.trace.len();
        self.markers.retain(|m| m.t >= cutoff);
    }

    fn index(&mut self) {
        let run = self.sim.record();
        if run.names.pods.len() != self.layouts[0].pods.len() {
            self.layouts = Self::lay_out(&self.sim);
        }
        let run = self.sim.record();
        for i in self.indexed_lines..run.trace.len() {
            let line = &run.trace[i];
            let t = view::display_time(run, line);
            let at = self.log.partition_point(|(d, _)| *d <= t);
            self.log.insert(at, (t, i as u32));
            if let TraceEntry::Change(change) = &line.entry {
                self.markers.push(Marker { t, kind: MarkerKind::Change, label: run.names.change(change) });
            }
        }
        self.indexed_lines = run.trace.len();
        // Flows are finished in order but not all at once: index those whose outcome is known.
        while let Some(f) = run.flows.get(self.indexed_flows) {
            if f.end.is_none() && f.start.as_secs_f64() + 60.0 > self.sim.now().as_secs_f64() {
                break;
            }
            self.indexed_flows += 1;
            match f.initiator {
                Initiator::Probe { node, .. } => {
                    let ok = f.probe_result.as_ref().is_some_and(|r| r.success());
                    let was = &mut self.probe_ok[node];
                    if *was && !ok {
                        let name = &run.names.nodes[node];
                        let what = f.probe_result.as_ref().map_or("no answer".to_string(), |r| r.to_string());
                        self.markers.push(Marker {
                            t: f.end.map_or(f.start, |e| e).as_secs_f64(),
                            kind: MarkerKind::ProbeFailure,
                            label: format!("{name} probe failed: {what}"),
                        });
                    }
                    *was = ok;
                }
                Initiator::Client(_) => {
                    let req = run.packet(f.request);
                    if !self.seen_snat
                        && let Some(k) = req.hops.iter().position(|h| h.snat())
                    {
                        self.seen_snat = true;
                        self.markers.push(Marker {
                            t: f.start.as_secs_f64() + k as f64 * view::HOP,
                            kind: MarkerKind::FirstSnat,
                            label: "first SNAT".into(),
                        });
                    }
                    if let Some(h) = req.hops.last()
                        && let HopAction::Dropped(reason) | HopAction::Rejected(reason) = &h.action
                    {
                        let t = f.start.as_secs_f64() + (req.hops.len() - 1) as f64 * view::HOP;
                        self.markers.push(Marker { t, kind: MarkerKind::Drop, label: reason.to_string() });
                    }
                }
            }
        }
        order::sort_by(&mut self.markers, |a, b| a.t.total_cmp(&b.t));
    }
}
