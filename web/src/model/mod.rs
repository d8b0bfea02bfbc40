//! The root reducer: one `Model`, changed only by `Action`s. The simulation is never changed in
//! place: controls append a timeline event at the cursor and re-run the scenario (the same seed
//! gives the same history up to that point), while playing, seeking and stepping only move the
//! cursor over the recorded run.
//!
//! [`link`] maps the model to and from a link's fragment, [`reduce`] is the reducer.

use std::cell::RefCell;
use std::rc::Rc;

use svcsim_core::cluster::{
    App, CiliumLbMode, DEFAULT_AFFINITY_TIMEOUT, NetworkPlugin, NodeId, Pod, Provider, ServiceId, ServiceType,
    TrafficPolicy,
};
use svcsim_core::dump::{DumpedRuleset, Facts, looks_like_dump};
use svcsim_core::manifest::{self, DataplaneOverride, Overrides};
use svcsim_core::net::{IpFamily, Protocol};
use svcsim_core::order;
use svcsim_core::record::FlowId;
use svcsim_core::scenario::{Change, ClientKind, Scenario, TimedChange};
use svcsim_core::time::Instant;
use yew::Reducible;

pub use crate::editor::{Editor, Trace, TraceField, join_files};
pub use crate::engine::{EVENT_BUDGET, Engine, LOOKAHEAD, Marker, MarkerKind};
pub use crate::fragment::CompareKind;
use crate::fragment::{self, Fragment, LinkChange, LinkChangeKind, SPEEDS};
use crate::lesson::{self, Lesson, Step};

mod link;
mod reduce;
#[cfg(test)]
mod tests;

include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// The preset the page opens with.
pub const DEFAULT_PRESET: &str = "aks-blog";

/// Cluster-shape choices that re-run the scenario from the start (the cursor stays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub nodes: Option<u32>,
    pub provider: Option<Provider>,
    pub plugin: Option<NetworkPlugin>,
    /// The dataplane: kube-proxy in a mode, with that mode's defaults, or Cilium with its mode
    /// and algorithm (a link's `mode=`, `lbmode=`, `lbalg=`).
    pub dataplane: Option<DataplaneOverride>,
    /// Move the external clients into a pod on the last node.
    pub client_inside: bool,
    /// Make the cluster dual-stack, its Services PreferDualStack (a link's `stack=dual`).
    pub dual_stack: bool,
    /// The family the clients use on a dual-stack cluster (a link's `family=`).
    pub family: Option<IpFamily>,
    /// externalTrafficPolicy from the start (a link's `etp=`): the scenario as if written so.
    pub etp: Option<TrafficPolicy>,
    /// The scenario's seed, replaced (a link's `seed=`).
    pub seed: Option<u64>,
}

/// The whole page's state.
#[derive(Clone)]
pub struct Model {
    pub engine: Rc<RefCell<Engine>>,
    /// The preset shown, or `None` for the user's own YAML.
    pub preset: Option<String>,
    pub yaml: Rc<str>,
    /// The scenario as loaded, before user changes.
    pub base: Rc<Scenario>,
    pub user_changes: Vec<TimedChange>,
    pub shape: Shape,
    /// The cursor, in scenario seconds.
    pub t: f64,
    pub playing: bool,
    pub speed: f64,
    pub selected: Option<FlowId>,
    /// Shared: a frame clones the model, not the YAML in the editor.
    pub editor: Rc<Editor>,
    /// Messages for the user (a bad link, a change that could not be made).
    pub notices: Vec<String>,
    pub reduced_motion: bool,
    /// The viewport is narrow (a phone): the topology is drawn tall.
    pub narrow: bool,
    /// The fragment last shared (the Share button's result), shown for copying.
    pub shared: Option<String>,
    /// What the address bar shows, kept current as the user changes the page ([`Model::address`]);
    /// `None` until a change, and in the embed.
    pub address: Option<Rc<str>>,
    /// The compact layout for an iframe (`docs/embedding.md`).
    pub embed: bool,
    /// The guided lesson being followed, if any.
    pub lesson: Option<LessonState>,
    /// Compare mode: `engine` runs the scenario one way and this twin the other ([`Model::comparing`]),
    /// on the same seed, so both panes share one cursor (the fragment's `compare=`).
    pub twin: Option<Rc<RefCell<Engine>>>,
    /// What the twin differs in: Cluster | Local, or Cilium's SNAT | DSR under Cluster.
    pub comparing: CompareKind,
}

/// Where the learner is in a lesson.
#[derive(Debug, Clone, Copy)]
pub struct LessonState {
    pub lesson: &'static Lesson,
    pub step: usize,
    /// The choice made in this step's quiz, once made.
    pub answer: Option<usize>,
}

impl LessonState {
    pub fn current(&self) -> &'static Step {
        &self.lesson.steps[self.step]
    }
}

/// Everything that can happen on the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An animation frame, `dt` wall-clock milliseconds after the previous one.
    Frame(f64),
    TogglePlay,
    Seek(f64),
    /// An event-log row: go to its moment and inspect its flow.
    SeekAndSelect(f64, Option<FlowId>),
    /// To the next (+1) or previous (−1) event.
    Step(i32),
    Speed(f64),
    Policy(TrafficPolicy),
    Replicas(i32),
    Affinity(bool),
    Nodes(i32),
    Provider(Provider),
    Plugin(NetworkPlugin),
    Dataplane(DataplaneOverride),
    /// The IP family control: dual-stack or not, and the clients' family.
    Family {
        dual_stack: bool,
        family: Option<IpFamily>,
    },
    ClientInside(bool),
    Select(Option<FlowId>),
    LoadPreset(String),
    EditorOpen(bool),
    EditYaml(String),
    ApplyYaml,
    /// Files dropped on the editor, each (name, text or why it could not be read): joined into
    /// one scenario and run.
    DropFiles(Vec<(String, Result<String, String>)>),
    /// A field of the trace form, typed.
    TraceInput(TraceField, String),
    TraceProtocol(Protocol),
    /// Trace the typed packet through the dump in the editor.
    TraceDump,
    DismissNotices,
    /// Pause on the frame and put it in the URL (the app copies it to the clipboard).
    Share,
    /// Start a lesson by id, or close it (`None`; the simulator stays as it is).
    Lesson(Option<String>),
    /// To the next (+1) or previous (−1) step of the lesson.
    LessonStep(i32),
    /// A quiz choice: judged, then the simulator moves to the reveal.
    LessonAnswer(usize),
    /// Two runs side by side (Cluster | Local, or SNAT | DSR), or back to one run (`None`).
    Compare(Option<CompareKind>),
    /// The viewport became narrow (true) or wide.
    Narrow(bool),
}

impl Model {
    fn editor_mut(&mut self) -> &mut Editor {
        Rc::make_mut(&mut self.editor)
    }

    /// The Service the policy and affinity controls act on: the first LoadBalancer, else the
    /// first Service.
    pub fn main_service(&self) -> ServiceId {
        let c = &self.base.cluster;
        (0..c.services.len() as u32)
            .map(ServiceId)
            .find(|s| c.service(*s).type_ == ServiceType::LoadBalancer)
            .unwrap_or(ServiceId(0))
    }

    /// All timeline changes in force: the scenario's own and the user's, in time order.
    fn changes(&self) -> Vec<TimedChange> {
        let mut all: Vec<TimedChange> = self.base.changes.iter().chain(&self.user_changes).cloned().collect();
        order::sort_by_key(&mut all, |c| c.at);
        all
    }

    /// externalTrafficPolicy of the main Service at the cursor.
    pub fn policy_at(&self) -> TrafficPolicy {
        let svc = self.main_service();
        let mut p = self.engine.borrow().sim.scenario().cluster.service(svc).external_traffic_policy;
        for c in self.changes().iter().filter(|c| c.at.as_secs_f64() <= self.t) {
            if let Change::ExternalTrafficPolicy { svc: s, policy } = c.change
                && s == svc
            {
                p = policy;
            }
        }
        p
    }

    /// sessionAffinity: ClientIP on the main Service at the cursor.
    pub fn affinity_at(&self) -> bool {
        let svc = self.main_service();
        let mut a = self.engine.borrow().sim.scenario().cluster.service(svc).session_affinity.is_some();
        for c in self.changes().iter().filter(|c| c.at.as_secs_f64() <= self.t) {
            if let Change::SessionAffinity { svc: s, timeout } = &c.change
                && *s == svc
            {
                a = timeout.is_some();
            }
        }
        a
    }

    /// Replicas of the first Deployment at the cursor, if there is one.
    pub fn replicas_at(&self) -> Option<u32> {
        let d = self.base.cluster.deployments.first()?;
        let mut r = d.replicas;
        for c in self.changes().iter().filter(|c| c.at.as_secs_f64() <= self.t) {
            if let Change::Scale { deployment, replicas } = c.change
                && deployment.0 == 0
            {
                r = replicas;
            }
        }
        Some(r)
    }

    /// The cursor on the simulation's microsecond grid.
    fn cursor(&self) -> Instant {
        Instant::from_micros((self.t * 1e6).round() as u64)
    }

    /// Adds a timeline event at the cursor and re-runs.
    fn add_change(&mut self, change: Change) {
        let at = self.cursor();
        self.user_changes
            .retain(|c| !(c.at == at && std::mem::discriminant(&c.change) == std::mem::discriminant(&change)));
        self.user_changes.push(TimedChange { at, change });
        self.rebuild();
    }

    /// The scenario with the user's shape and changes.
    fn scenario(&self) -> Result<Scenario, Vec<String>> {
        self.scenario_with(None, None)
    }

    /// The scenario; with `forced`, externalTrafficPolicy is that on every external Service for
    /// the whole run (compare mode: no timeline change switches it back), and with `dataplane`
    /// that dataplane instead of the shape's.
    fn scenario_with(
        &self,
        forced: Option<TrafficPolicy>,
        dataplane: Option<DataplaneOverride>,
    ) -> Result<Scenario, Vec<String>> {
        let overrides = Overrides {
            nodes: self.shape.nodes,
            provider: self.shape.provider,
            external_traffic_policy: forced.or(self.shape.etp),
            seed: self.shape.seed,
            dataplane: dataplane.or(self.shape.dataplane),
            dual_stack: self.shape.dual_stack,
            family: self.shape.family,
            ..Overrides::default()
        };
        let mut s = match manifest::load(&self.yaml, &overrides) {
            Ok(l) => l.scenario,
            Err(d) => return Err(d.iter().map(|d| d.to_string()).collect()),
        };
        if let Some(p) = self.shape.plugin {
            s.cluster.config.network_plugin = p;
        }
        if self.shape.client_inside {
            let node = NodeId(s.cluster.nodes.len() as u32 - 1);
            let name = "client-pod";
            if s.cluster.pod_by_name(name).is_none() {
                s.cluster.pods.push(Pod::new(name, [("run".to_string(), name.to_string())].into(), node, App::Echo));
            }
            for c in &mut s.clients {
                if matches!(c.kind, ClientKind::External(_)) {
                    c.kind = ClientKind::Pod(name.into());
                }
            }
        }
        s.changes = self.base.changes.clone();
        s.changes.extend(self.user_changes.iter().cloned());
        if forced.is_some() {
            s.changes.retain(|c| !matches!(c.change, Change::ExternalTrafficPolicy { .. }));
        }
        order::sort_by_key(&mut s.changes, |c| c.at);
        Ok(s)
    }

    /// Re-runs the scenario as it now stands, as one run or as the compare pair.
    fn rebuild(&mut self) {
        self.run(self.twin.is_some().then_some(self.comparing));
    }

    /// Starts the run (`compare`: a pair, the Cluster run and its Local twin, or Cilium's SNAT
    /// run and its DSR twin under Cluster) from the scenario. If the scenario cannot be built,
    /// the page keeps what it shows and the problems become notices.
    fn run(&mut self, compare: Option<CompareKind>) {
        let cluster = Some(TrafficPolicy::Cluster);
        let cilium = |mode| {
            let algorithm = match self.shape.dataplane {
                Some(DataplaneOverride::Cilium { algorithm, .. }) => algorithm,
                _ => None,
            };
            Some(DataplaneOverride::Cilium { mode: Some(mode), algorithm })
        };
        let runs = match compare {
            Some(CompareKind::Policy) => self
                .scenario_with(cluster, None)
                .and_then(|main| Ok((main, Some(self.scenario_with(Some(TrafficPolicy::Local), None)?)))),
            Some(CompareKind::Dsr) => self
                .scenario_with(cluster, cilium(CiliumLbMode::Snat))
                .and_then(|main| Ok((main, Some(self.scenario_with(cluster, cilium(CiliumLbMode::Dsr))?)))),
            None => self.scenario().map(|s| (s, None)),
        };
        match runs {
            Ok((main, twin)) => {
                self.engine = Rc::new(RefCell::new(Engine::new(main)));
                self.twin = twin.map(|s| Rc::new(RefCell::new(Engine::new(s))));
                self.comparing = compare.unwrap_or(CompareKind::Policy);
            }
            Err(errors) => self.notices.extend(errors),
        }
    }

    /// Computes the run (and its twin) toward the cursor and [`LOOKAHEAD`] beyond, within one
    /// call's event budget; true if anything was computed. The app calls it from an effect after
    /// each render, and again while it returns true; the reducer never does, so reducing is pure
    /// over the recorded run.
    pub fn advance(&self) -> bool {
        let mut progressed = self.engine.borrow_mut().extend(self.t + LOOKAHEAD);
        if let Some(twin) = &self.twin {
            progressed |= twin.borrow_mut().extend(self.t + LOOKAHEAD);
        }
        progressed
    }

    /// The model with its run computed as far as the app's effect would take it.
    #[cfg(test)]
    pub fn settled(self) -> Model {
        while self.advance() {}
        self
    }

    /// True while the run (or its twin) has not been computed up to the cursor yet.
    pub fn computing(&self) -> bool {
        self.engine.borrow().computed() < self.t || self.twin.as_ref().is_some_and(|t| t.borrow().computed() < self.t)
    }

    /// The next (dir > 0) or previous event time from the cursor.
    fn step_target(&self, dir: i32) -> Option<f64> {
        let e = self.engine.borrow();
        let eps = 1e-6;
        if dir > 0 {
            e.log.iter().map(|(t, _)| *t).find(|t| *t > self.t + eps)
        } else {
            e.log.iter().rev().map(|(t, _)| *t).find(|t| *t < self.t - eps)
        }
    }
}
