//! The root reducer: one `Model`, changed only by `Action`s. The simulation is never changed in
//! place: controls append a timeline event at the cursor and re-run the scenario (the same seed
//! gives the same history up to that point), while playing, seeking and stepping only move the
//! cursor over the recorded run.

use std::cell::RefCell;
use std::rc::Rc;

use svcsim_core::cluster::{
    App, DEFAULT_AFFINITY_TIMEOUT, NetworkPlugin, NodeId, Pod, Provider, ProxyMode, ServiceId, ServiceType,
    TrafficPolicy,
};
use svcsim_core::dump::{DumpedRuleset, Facts, looks_like_dump};
use svcsim_core::manifest::{self, Overrides};
use svcsim_core::net::Protocol;
use svcsim_core::order;
use svcsim_core::record::FlowId;
use svcsim_core::scenario::{Change, ClientKind, Scenario, TimedChange};
use svcsim_core::time::Instant;
use yew::Reducible;

pub use crate::editor::{Editor, Trace, TraceField, join_files};
pub use crate::engine::{EVENT_BUDGET, Engine, LOOKAHEAD, Marker, MarkerKind};
use crate::fragment::{self, Fragment, LinkChange, LinkChangeKind, SPEEDS};
use crate::lesson::{self, Lesson, Step};

include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// The preset the page opens with.
pub const DEFAULT_PRESET: &str = "aks-blog";

/// Cluster-shape choices that re-run the scenario from the start (the cursor stays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub nodes: Option<u32>,
    pub provider: Option<Provider>,
    pub plugin: Option<NetworkPlugin>,
    /// kube-proxy's mode, with that mode's defaults (a link's `mode=`).
    pub mode: Option<ProxyMode>,
    /// Move the external clients into a pod on the last node.
    pub client_inside: bool,
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
    /// Compare mode: `engine` runs the scenario under Cluster and this twin under Local, on the
    /// same seed, so both panes share one cursor (the fragment's `compare=1`).
    pub twin: Option<Rc<RefCell<Engine>>>,
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
    ProxyMode(ProxyMode),
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
    /// Cluster and Local side by side (true), or back to one run (false).
    Compare(bool),
    /// The viewport became narrow (true) or wide.
    Narrow(bool),
}

impl Model {
    /// The page as a link opens it.
    pub fn from_fragment(fragment: &str, reduced_motion: bool) -> Model {
        let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        let f = fragment::parse(fragment, &names);
        if let Some((id, step)) = &f.lesson
            && let Some(l) = lesson::find(id)
        {
            let mut m = Model::at_lesson_step(l, (*step as usize).saturating_sub(1), reduced_motion, f.embed);
            m.notices.splice(0..0, f.problems.iter().map(|p| format!("Link: {p}.")));
            return m;
        }
        let preset = f.preset.clone().unwrap_or_else(|| DEFAULT_PRESET.to_string());
        let mut m = Model::with_preset(&preset, reduced_motion);
        m.notices = f.problems.iter().map(|p| format!("Link: {p}.")).collect();
        if let Some((id, _)) = &f.lesson {
            m.notices.push(format!("Link: no lesson is called {:?}.", id.chars().take(40).collect::<String>()));
        }
        if let Some(yaml) = &f.yaml {
            match manifest::load(yaml, &Overrides::default()) {
                Ok(loaded) => {
                    m.preset = None;
                    m.yaml = yaml.as_str().into();
                    m.base = Rc::new(loaded.scenario.clone());
                    m.editor_mut().text = yaml.clone();
                    m.editor_mut().errors =
                        svcsim_core::manifest::grouped(&loaded.warnings).iter().map(|w| w.to_string()).collect();
                    m.engine = Rc::new(RefCell::new(Engine::new(loaded.scenario)));
                }
                Err(diags) => {
                    m.notices.push(format!("Link: the YAML in the link has problems, so {preset} is shown instead:"));
                    m.notices.extend(diags.iter().take(20).map(|d| d.to_string()));
                    // The link's YAML stays in the editor, to fix and apply.
                    m.editor_mut().text = yaml.clone();
                    m.editor_mut().errors = diags.iter().map(|d| d.to_string()).collect();
                    m.editor_mut().open = true;
                }
            }
        }
        if let Some(speed) = f.speed {
            m.speed = speed;
        }
        // A link's `etp=` describes a state, not a change: the scenario as if written with it.
        m.shape = Shape {
            nodes: f.nodes,
            provider: f.provider,
            plugin: f.plugin,
            mode: f.mode,
            client_inside: f.client_inside,
            etp: f.etp,
            seed: f.seed,
        };
        let svc = m.main_service();
        for c in &f.changes {
            let change = match c.what {
                LinkChangeKind::Policy(policy) => Change::ExternalTrafficPolicy { svc, policy },
                LinkChangeKind::Affinity(on) => {
                    Change::SessionAffinity { svc, timeout: on.then_some(DEFAULT_AFFINITY_TIMEOUT) }
                }
                LinkChangeKind::Replicas(_) if m.base.cluster.deployments.is_empty() => {
                    m.notices.push("Link: this scenario has no Deployment to scale; replicas ignored.".into());
                    continue;
                }
                LinkChangeKind::Replicas(replicas) => {
                    Change::Scale { deployment: svcsim_core::cluster::DeploymentId(0), replicas }
                }
            };
            m.user_changes.push(TimedChange { at: Instant::from_micros(c.at), change });
        }
        if m.shape != Shape::default() || !m.user_changes.is_empty() {
            m.rebuild();
        }
        m.editor_mut().open |= f.editor;
        m.embed = f.embed;
        if f.compare {
            m.run(true);
        }
        if let Some(t) = f.t {
            m.t = t as f64 / 1e6;
            m.playing = false;
        }
        m.selected = f.sel.and_then(|s| u32::try_from(s).ok()).map(FlowId);
        m
    }

    /// The simulator as step `step` (0-based, clamped) of `lesson` sets it.
    pub fn at_lesson_step(lesson: &'static Lesson, step: usize, reduced_motion: bool, embed: bool) -> Model {
        let step = step.min(lesson.steps.len() - 1);
        let mut m = Model::from_fragment(lesson.steps[step].state, reduced_motion);
        m.embed = embed;
        m.lesson = Some(LessonState { lesson, step, answer: None });
        m
    }

    /// This page in the full simulator: the embed's "Open in full simulator" link. The cursor
    /// is carried as it is now, so the full page opens paused on the same frame.
    pub fn full_page_fragment(&self) -> String {
        let mut full = self.clone();
        full.embed = false;
        full.to_fragment()
    }

    /// The fragment the address bar keeps while the user explores, so a reload or Back returns
    /// to it: this page as a link, the time only while paused (a link with a time opens paused;
    /// a playing page reopens playing). `None` in the embed, whose address its author chose,
    /// and for a page too large for a link.
    pub fn address(&self) -> Option<String> {
        if self.embed {
            return None;
        }
        let link = self.fragment_with_time(!self.playing);
        (link.len() <= fragment::MAX_FRAGMENT).then_some(link)
    }

    /// This page as a link: what the Share button copies. The user's own YAML travels in it,
    /// compressed; [`fragment::MAX_FRAGMENT`] bounds how long a link may be.
    pub fn to_fragment(&self) -> String {
        self.fragment_with_time(true)
    }

    fn fragment_with_time(&self, with_time: bool) -> String {
        if let Some(l) = &self.lesson {
            // A lesson link returns to its step, which sets everything else.
            let f = Fragment {
                lesson: Some((l.lesson.id.to_string(), l.step as u32 + 1)),
                embed: self.embed,
                ..Fragment::default()
            };
            return fragment::encode(&f);
        }
        let svc = self.main_service();
        let changes = self
            .user_changes
            .iter()
            .filter_map(|c| {
                let what = match &c.change {
                    Change::ExternalTrafficPolicy { svc: s, policy } if *s == svc => LinkChangeKind::Policy(*policy),
                    Change::SessionAffinity { svc: s, timeout } if *s == svc => {
                        LinkChangeKind::Affinity(timeout.is_some())
                    }
                    Change::Scale { deployment, replicas } if deployment.0 == 0 => LinkChangeKind::Replicas(*replicas),
                    _ => return None,
                };
                Some(LinkChange { at: c.at.as_micros(), what })
            })
            .collect();
        let f = Fragment {
            preset: self.preset.clone(),
            yaml: self.preset.is_none().then(|| self.yaml.to_string()),
            etp: self.shape.etp,
            nodes: self.shape.nodes,
            provider: self.shape.provider,
            plugin: self.shape.plugin,
            mode: self.shape.mode,
            client_inside: self.shape.client_inside,
            seed: self.shape.seed,
            changes,
            t: with_time.then(|| self.cursor().as_micros()),
            speed: (self.speed != 1.0).then_some(self.speed),
            sel: self.selected.map(|f| u64::from(f.0)),
            editor: self.editor.open,
            embed: self.embed,
            lesson: None,
            compare: self.twin.is_some(),
            problems: Vec::new(),
        };
        fragment::encode(&f)
    }

    pub fn with_preset(name: &str, reduced_motion: bool) -> Model {
        let yaml = PRESETS.iter().find(|(n, _)| *n == name).map_or(PRESETS[0].1, |(_, y)| *y);
        let base = manifest::load(yaml, &Overrides::default()).expect("presets are valid (tested)").scenario;
        let engine = Engine::new(base.clone());
        Model {
            engine: Rc::new(RefCell::new(engine)),
            preset: Some(name.to_string()),
            yaml: yaml.into(),
            base: Rc::new(base),
            user_changes: Vec::new(),
            shape: Shape::default(),
            t: 0.0,
            playing: true,
            speed: 1.0,
            selected: None,
            editor: Rc::new(Editor { open: false, text: yaml.to_string(), errors: Vec::new(), trace: None }),
            notices: Vec::new(),
            reduced_motion,
            narrow: false,
            shared: None,
            address: None,
            embed: false,
            lesson: None,
            twin: None,
        }
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
        self.scenario_with(None)
    }

    /// The scenario; with `forced`, externalTrafficPolicy is that on every external Service for
    /// the whole run (compare mode: no timeline change switches it back).
    fn scenario_with(&self, forced: Option<TrafficPolicy>) -> Result<Scenario, Vec<String>> {
        let overrides = Overrides {
            nodes: self.shape.nodes,
            provider: self.shape.provider,
            external_traffic_policy: forced.or(self.shape.etp),
            seed: self.shape.seed,
            proxy_mode: self.shape.mode,
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
        self.run(self.twin.is_some());
    }

    /// Starts the run (`compare`: the Cluster run and its Local twin) from the scenario. If the
    /// scenario cannot be built, the page keeps what it shows and the problems become notices.
    fn run(&mut self, compare: bool) {
        let runs = if compare {
            self.scenario_with(Some(TrafficPolicy::Cluster))
                .and_then(|cluster| Ok((cluster, Some(self.scenario_with(Some(TrafficPolicy::Local))?))))
        } else {
            self.scenario().map(|s| (s, None))
        };
        match runs {
            Ok((main, twin)) => {
                self.engine = Rc::new(RefCell::new(Engine::new(main)));
                self.twin = twin.map(|s| Rc::new(RefCell::new(Engine::new(s))));
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

impl Model {
    fn editor_mut(&mut self) -> &mut Editor {
        Rc::make_mut(&mut self.editor)
    }

    /// Runs the editor's YAML; on errors the previous run stays on screen, the errors beside it.
    /// A node's dump (`iptables-save`, `nft list ruleset`) is not run: it opens the trace form.
    fn apply_yaml(&mut self) {
        if looks_like_dump(&self.editor.text) {
            return self.open_dump();
        }
        self.editor_mut().trace = None;
        match manifest::load(&self.editor.text, &Overrides::default()) {
            Ok(loaded) => {
                self.preset = None;
                self.yaml = self.editor.text.as_str().into();
                self.base = Rc::new(loaded.scenario.clone());
                self.user_changes.clear();
                self.shape = Shape::default();
                self.editor_mut().errors =
                    svcsim_core::manifest::grouped(&loaded.warnings).iter().map(|w| w.to_string()).collect();
                self.selected = None;
                self.t = 0.0;
                self.playing = true;
                self.engine = Rc::new(RefCell::new(Engine::new(loaded.scenario)));
            }
            Err(diags) => self.editor_mut().errors = diags.iter().map(|d| d.to_string()).collect(),
        }
    }
}

impl Model {
    /// The editor holds a dump: it is read, and the trace form opens (keeping what was typed).
    fn open_dump(&mut self) {
        match DumpedRuleset::parse(&self.editor.text, Facts::default()) {
            Ok(_) => {
                self.editor_mut().errors.clear();
                let trace = self.editor_mut().trace.get_or_insert_with(Trace::default);
                trace.report = None;
                trace.revision += 1;
            }
            Err(errors) => {
                self.editor_mut().trace = None;
                self.editor_mut().errors = errors.iter().map(|e| format!("{}: error: {}", e.line, e.message)).collect();
            }
        }
    }
}

impl Reducible for Model {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Model> {
        // A frame while paused (or while the run catches up) changes nothing: the same state, so
        // nothing is cloned or redrawn.
        if matches!(action, Action::Frame(_)) && (!self.playing || self.computing()) {
            return self;
        }
        // A cheap clone: the run, the scenario and the editor are shared.
        let mut m = (*self).clone();
        // A frame only moves the clock; Share writes its own exact link.
        let moves_address = !matches!(action, Action::Frame(_) | Action::Share | Action::Narrow(_));
        // The viewport outlives any model an action builds afresh (a preset, a lesson's step).
        let narrow = if let Action::Narrow(n) = action { n } else { self.narrow };
        if !matches!(action, Action::Frame(_) | Action::Share | Action::DismissNotices) {
            // The shown link no longer describes the page.
            m.shared = None;
        }
        match action {
            Action::Frame(dt_ms) => {
                // A stalled tab does not jump the clock by minutes.
                m.t += dt_ms.clamp(0.0, 250.0) / 1000.0 * m.speed;
            }
            Action::TogglePlay => m.playing = !m.playing,
            Action::Seek(t) => {
                m.t = t.max(m.engine.borrow().kept_from);
            }
            Action::SeekAndSelect(t, flow) => {
                m.t = t.max(m.engine.borrow().kept_from);
                m.playing = false;
                if flow.is_some() {
                    m.selected = flow;
                }
            }
            Action::Step(dir) => {
                m.playing = false;
                if let Some(t) = m.step_target(dir) {
                    m.t = t;
                }
            }
            Action::Speed(s) if SPEEDS.contains(&s) => m.speed = s,
            Action::Speed(_) => {}
            Action::Policy(policy) => {
                let svc = m.main_service();
                if m.policy_at() != policy {
                    m.add_change(Change::ExternalTrafficPolicy { svc, policy });
                }
            }
            Action::Affinity(on) => {
                let svc = m.main_service();
                if m.affinity_at() != on {
                    m.add_change(Change::SessionAffinity { svc, timeout: on.then_some(DEFAULT_AFFINITY_TIMEOUT) });
                }
            }
            Action::Replicas(delta) => {
                if let Some(r) = m.replicas_at() {
                    let target = (i64::from(r) + i64::from(delta)).clamp(0, 50) as u32;
                    if target != r {
                        m.add_change(Change::Scale {
                            deployment: svcsim_core::cluster::DeploymentId(0),
                            replicas: target,
                        });
                    }
                }
            }
            Action::Nodes(delta) => {
                let now = m.engine.borrow().sim.cluster().nodes.len() as i64;
                let target = (now + i64::from(delta)).clamp(1, 8) as u32;
                if i64::from(target) != now {
                    m.shape.nodes = Some(target);
                    m.rebuild();
                }
            }
            Action::Provider(p) => {
                m.shape.provider = Some(p);
                m.rebuild();
            }
            Action::Plugin(p) => {
                m.shape.plugin = Some(p);
                m.rebuild();
            }
            Action::ProxyMode(mode) => {
                m.shape.mode = Some(mode);
                m.rebuild();
            }
            Action::ClientInside(inside) => {
                m.shape.client_inside = inside;
                m.rebuild();
            }
            Action::Select(flow) => m.selected = flow,
            Action::LoadPreset(name) => {
                let (reduced, editor_open, embed) = (m.reduced_motion, m.editor.open, m.embed);
                m = Model::with_preset(&name, reduced);
                m.editor_mut().open = editor_open;
                m.embed = embed;
            }
            Action::EditorOpen(open) => m.editor_mut().open = open,
            Action::EditYaml(text) => m.editor_mut().text = text,
            Action::ApplyYaml => m.apply_yaml(),
            Action::DropFiles(files) => {
                let (text, problems) = join_files(&files);
                m.notices.extend(problems);
                if !text.is_empty() {
                    m.editor_mut().open = true;
                    m.editor_mut().text = text;
                    m.apply_yaml();
                }
            }
            Action::TraceInput(field, value) => {
                if let Some(t) = &mut m.editor_mut().trace {
                    let slot = match field {
                        TraceField::Src => &mut t.src,
                        TraceField::Dst => &mut t.dst,
                        TraceField::NodeIps => &mut t.node_ips,
                        TraceField::InInterface => &mut t.in_interface,
                        TraceField::OutInterface => &mut t.out_interface,
                    };
                    *slot = value;
                    t.revision += 1;
                }
            }
            Action::TraceProtocol(p) => {
                if let Some(t) = &mut m.editor_mut().trace {
                    t.protocol = p;
                    t.revision += 1;
                }
            }
            Action::TraceDump => {
                let dump = m.editor.text.clone();
                if let Some(t) = &mut m.editor_mut().trace {
                    t.run(&dump);
                    t.revision += 1;
                }
            }
            Action::DismissNotices => m.notices.clear(),
            Action::Lesson(Some(id)) => {
                if let Some(l) = lesson::find(&id) {
                    m = Model::at_lesson_step(l, 0, m.reduced_motion, m.embed);
                }
            }
            Action::Lesson(None) => m.lesson = None,
            Action::Compare(on) => {
                if on != m.twin.is_some() {
                    m.run(on);
                }
            }
            Action::Narrow(_) => {}
            Action::LessonStep(dir) => {
                if let Some(l) = m.lesson {
                    let step = (l.step as i64 + i64::from(dir)).clamp(0, l.lesson.steps.len() as i64 - 1) as usize;
                    if step != l.step {
                        m = Model::at_lesson_step(l.lesson, step, m.reduced_motion, m.embed);
                    }
                }
            }
            Action::LessonAnswer(choice) => {
                if let Some(l) = m.lesson
                    && l.answer.is_none()
                    && let Some(quiz) = &l.current().quiz
                    && choice < quiz.choices.len()
                {
                    let embed = m.embed;
                    m = Model::from_fragment(quiz.reveal, m.reduced_motion);
                    m.embed = embed;
                    m.lesson = Some(LessonState { answer: Some(choice), ..l });
                }
            }
            Action::Share => {
                // A link names a microsecond: snap to it so this frame and the link's are one.
                m.playing = false;
                m.t = m.cursor().as_micros() as f64 / 1e6;
                let link = m.to_fragment();
                if link.len() > fragment::MAX_FRAGMENT {
                    m.notices.push(format!(
                        "This scenario is too large for a link: {} characters after compression (limit {}). Copy the YAML instead.",
                        link.len(),
                        fragment::MAX_FRAGMENT
                    ));
                    m.shared = None;
                } else {
                    m.shared = Some(link);
                }
            }
        }
        m.narrow = narrow;
        if moves_address {
            let address = m.address();
            if address.as_deref() != m.address.as_deref() {
                m.address = address.map(Rc::from);
            }
        }
        Rc::new(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view;
    use svcsim_core::record::Initiator;
    use svcsim_core::sim::Sim;

    /// Reduces, then computes the run as the app's effect would.
    fn reduce(m: Model, a: Action) -> Model {
        (*Rc::new(m).reduce(a)).clone().settled()
    }

    /// What a user would compare: the frame's time, the run up to it, the controls' state.
    fn frame(m: &Model) -> (String, u64, Option<FlowId>, TrafficPolicy, Option<u32>, bool, usize, bool) {
        let e = m.engine.borrow();
        let run = e.sim.record();
        let upto = m.cursor();
        let trace: String =
            run.trace.iter().filter(|l| l.time <= upto).map(|l| format!("{}\n", run.render(l))).collect();
        (
            trace,
            m.cursor().as_micros(),
            m.selected,
            m.policy_at(),
            m.replicas_at(),
            m.affinity_at(),
            e.sim.cluster().nodes.len(),
            m.editor.open,
        )
    }

    #[test]
    fn a_shared_link_reopens_the_same_frame() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::Nodes(1));
        m = reduce(m, Action::Plugin(NetworkPlugin::AzureCni));
        m = reduce(m, Action::ProxyMode(ProxyMode::Nftables));
        m = reduce(m, Action::Seek(30.25));
        m = reduce(m, Action::Policy(TrafficPolicy::Local));
        m = reduce(m, Action::Seek(47.5));
        m = reduce(m, Action::Replicas(1));
        m = reduce(m, Action::Affinity(true));
        m = reduce(m, Action::Speed(4.0));
        for _ in 0..60 {
            m = reduce(m, Action::Frame(16.7));
        }
        m = reduce(m, Action::Select(Some(FlowId(40))));
        m = reduce(m, Action::EditorOpen(true));
        m = reduce(m, Action::Share);
        assert!(!m.playing, "sharing pauses on the frame");
        let link = m.shared.clone().expect("a preset can be shared");
        expect_test::expect![[r#"preset=aks-blog&nodes=3&plugin=azure-cni&mode=nftables&ch=30.25s:etp:Local,47.5s:replicas:2,47.5s:affinity:on&t=51.508s&speed=4&sel=40&editor=open"#]]
            .assert_eq(&link);
        let reopened = Model::from_fragment(&format!("#{link}"), false).settled();
        assert!(reopened.notices.is_empty(), "{:?}", reopened.notices);
        assert_eq!(frame(&reopened), frame(&m));
        assert_eq!(reopened.speed, 4.0);
        assert_eq!(reopened.to_fragment(), link);
    }

    #[test]
    fn an_embed_links_to_the_full_page_in_the_same_state() {
        let m = Model::from_fragment("#preset=gke&etp=Local&embed=1&t=30s", false).settled();
        assert!(m.embed);
        assert!(m.notices.is_empty(), "{:?}", m.notices);
        let m = reduce(m, Action::Replicas(1));
        assert_eq!(m.full_page_fragment(), "preset=gke&etp=Local&ch=30s:replicas:2&t=30s");
        assert_eq!(m.to_fragment(), "preset=gke&etp=Local&ch=30s:replicas:2&t=30s&embed=1");
        let m = reduce(m, Action::LoadPreset("aks-blog".into()));
        assert!(m.embed, "picking another preset stays embedded");
    }

    #[test]
    fn a_scenario_too_large_for_a_link_is_refused_with_a_message_and_the_page_keeps_going() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        // 30,000 characters of comment that do not compress: more than a link may carry.
        let mut x: u32 = 1;
        let noise: String = (0..30_000)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 100 == 99 { '\n' } else { char::from(b'a' + (x >> 16) as u8 % 26) }
            })
            .collect();
        let yaml = format!("{}\n#{}\n", m.editor.text, noise.replace('\n', "\n#"));
        m = reduce(m, Action::EditYaml(yaml));
        m = reduce(m, Action::ApplyYaml);
        assert!(m.editor.errors.iter().all(|e| !e.contains("error")), "{:?}", m.editor.errors);
        m = reduce(m, Action::Share);
        assert_eq!(m.shared, None);
        assert!(m.notices.last().unwrap().starts_with("This scenario is too large for a link"), "{:?}", m.notices);
        assert!(m.notices.last().unwrap().contains("(limit 16384). Copy the YAML instead."));
    }

    #[test]
    fn own_yaml_travels_in_the_link() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        let yaml = PRESETS.iter().find(|(n, _)| *n == "gke").unwrap().1.replace("seed: ", "seed: 4");
        m = reduce(m, Action::EditYaml(yaml.clone()));
        m = reduce(m, Action::ApplyYaml);
        m = reduce(m, Action::Seek(12.0));
        m = reduce(m, Action::Policy(TrafficPolicy::Local));
        m = reduce(m, Action::Share);
        let link = m.shared.clone().expect("own YAML can be shared");
        assert!(link.starts_with("yaml=") && link.ends_with("&ch=12s:etp:Local&t=12s"), "{link}");
        let reopened = Model::from_fragment(&link, false).settled();
        assert!(reopened.notices.is_empty(), "{:?}", reopened.notices);
        assert_eq!(reopened.preset, None);
        assert_eq!(reopened.editor.text, yaml);
        assert_eq!(frame(&reopened), frame(&m));
    }

    /// Several files dropped on the editor run as one scenario, JSON beside YAML; one that
    /// could not be read is named, and an error's line points into the file it came from.
    #[test]
    fn dropped_files_run_together_and_errors_point_into_their_file() {
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}\n";
        let service = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
 "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}"#;
        let files = vec![
            ("deploy.yaml".to_string(), Ok(deploy.to_string())),
            ("svc.json".to_string(), Ok(service.to_string())),
            ("logo.png".to_string(), Err("not UTF-8 text at byte 0".to_string())),
        ];
        let m = reduce(Model::with_preset("aks-blog", false).settled(), Action::DropFiles(files));
        assert_eq!(m.preset, None, "{:?}", m.editor.errors);
        assert_eq!(m.notices, ["logo.png was not read: not UTF-8 text at byte 0"]);
        assert!(m.editor.text.contains("# file: svc.json\n{\"apiVersion\""), "{}", m.editor.text);
        assert_eq!(m.engine.borrow().sim.cluster().services[0].name, "web");

        let bad = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 99999}]\n";
        let files =
            vec![("deploy.yaml".to_string(), Ok(deploy.to_string())), ("bad.yaml".to_string(), Ok(bad.to_string()))];
        let m = reduce(Model::with_preset("aks-blog", false).settled(), Action::DropFiles(files));
        assert_eq!(m.preset.as_deref(), Some("aks-blog"), "the run stays");
        let error = m.editor.errors.iter().find(|e| e.contains("99999")).expect("the port's error");
        let line: usize = error.split(':').next().unwrap().parse().unwrap();
        let lines: Vec<&str> = m.editor.text.lines().collect();
        let header = lines[..line].iter().rev().find(|l| l.starts_with("# file: ")).unwrap();
        assert_eq!((*header, lines[line - 1]), ("# file: bad.yaml", "  ports: [{port: 99999}]"));
    }

    /// A node's iptables-save output in the editor is not run as a scenario: it opens the trace
    /// form, and the packet typed is walked through it as `svcsim trace` walks it.
    #[test]
    fn a_pasted_dump_opens_the_trace_form_and_traces_the_packet_typed() {
        let dump = include_str!("../../crates/svcsim-cli/tests/dumps/iptables/aks-blog-node-0-docker.txt");
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::EditorOpen(true));
        m = reduce(m, Action::EditYaml(dump.to_string()));
        m = reduce(m, Action::ApplyYaml);
        assert_eq!(m.preset.as_deref(), Some("aks-blog"), "the simulator stays as it was");
        assert!(m.editor.errors.is_empty(), "{:?}", m.editor.errors);
        for (f, v) in [
            (TraceField::Src, "10.244.0.5"),
            (TraceField::Dst, "10.0.223.151:80"),
            (TraceField::NodeIps, "10.240.0.4, 10.244.0.1"),
            (TraceField::InInterface, "cbr0"),
            (TraceField::OutInterface, "cbr0"),
        ] {
            m = reduce(m, Action::TraceInput(f, v.into()));
        }
        m = reduce(m, Action::TraceDump);
        let report = m.editor.trace.as_ref().unwrap().report.clone().unwrap().unwrap();
        assert_eq!(report.packet.verdict.to_string(), "DROP");
        assert_eq!(report.packet.reason.as_deref(), Some("FORWARD's policy is DROP: no rule accepted the packet"));
        assert!(report.services.contains(&("KUBE-SVC-IXNP3UPK7A3TOQ6U".into(), "default/node-service".into())));
        m = reduce(m, Action::TraceInput(TraceField::Dst, "10.0.223.151".into()));
        m = reduce(m, Action::TraceDump);
        let report = m.editor.trace.as_ref().unwrap().report.clone().unwrap();
        assert_eq!(report, Err("destination: \"10.0.223.151\" is not IP:PORT".into()));
        // A broken dump is an error at its line, as YAML is.
        m = reduce(m, Action::EditYaml("*filter\n-A INPUT -x\n".into()));
        m = reduce(m, Action::ApplyYaml);
        assert_eq!(m.editor.errors, ["2: error: \"-x\" is not an option iptables-save writes"]);
        assert!(m.editor.trace.is_none());
    }

    /// The address bar follows the page: a change is in it at once (without a time while
    /// playing, so a reload plays on from the start), a pause adds the frame, and what it says
    /// reopens the same page. Frames and the Share button leave it alone.
    #[test]
    fn the_address_follows_the_page_and_reopens_it() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        assert_eq!(m.address, None, "an unchanged page keeps the address it was opened with");
        m = reduce(m, Action::Frame(500.0));
        assert_eq!(m.address, None);
        m = reduce(m, Action::Policy(TrafficPolicy::Local));
        let playing = m.address.clone().unwrap();
        assert!(playing.starts_with("preset=aks-blog&ch=") && playing.contains(":etp:Local"), "{playing}");
        assert!(!playing.contains("&t="), "{playing}");
        m = reduce(m, Action::Frame(500.0));
        assert_eq!(m.address.as_deref(), Some(&*playing), "frames do not rewrite the address");
        m = reduce(m, Action::TogglePlay);
        let paused = m.address.clone().unwrap();
        assert!(paused.contains("&t="), "{paused}");
        let reopened = Model::from_fragment(&paused, false).settled();
        assert_eq!(reopened.to_fragment(), m.to_fragment(), "the address reopens the same frame");
        assert!(!reopened.playing);
        m = reduce(m, Action::Share);
        assert_eq!(m.address.as_deref(), Some(&*paused), "Share writes its own link");
        m = reduce(m, Action::Lesson(Some("aks".into())));
        assert_eq!(m.address.as_deref(), Some("lesson=aks&step=1"));
        let mut e = Model::from_fragment("preset=gke&embed=1", false).settled();
        e = reduce(e, Action::Policy(TrafficPolicy::Local));
        assert_eq!(e.address, None, "the embed's address is its author's");
    }

    /// `nft list ruleset` output opens the same form; kube-proxy's nftables chains name their
    /// Service, and Docker's iptables-nft FORWARD policy drops the external client's packet
    /// that kube-proxy DNATed (nftables mode writes no accept that could save it).
    #[test]
    fn a_pasted_nft_ruleset_opens_the_trace_form_too() {
        let dump = include_str!("../../crates/svcsim-cli/tests/dumps/nft/aks-blog-node-0-docker.nft");
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::EditorOpen(true));
        m = reduce(m, Action::EditYaml(dump.to_string()));
        m = reduce(m, Action::ApplyYaml);
        assert!(m.editor.errors.is_empty(), "{:?}", m.editor.errors);
        for (f, v) in [
            (TraceField::Src, "198.51.100.79"),
            (TraceField::Dst, "203.0.113.10:80"),
            (TraceField::NodeIps, "10.240.0.4, 10.244.0.1"),
            (TraceField::InInterface, "eth0"),
            (TraceField::OutInterface, "cbr0"),
        ] {
            m = reduce(m, Action::TraceInput(f, v.into()));
        }
        m = reduce(m, Action::TraceDump);
        let report = m.editor.trace.as_ref().unwrap().report.clone().unwrap().unwrap();
        assert_eq!(report.packet.reason.as_deref(), Some("FORWARD's policy is drop: no rule accepted the packet"));
        assert!(report.services.iter().any(|(_, s)| s == "default/node-service"), "{:?}", report.services);
    }

    #[test]
    fn a_link_with_invalid_yaml_opens_the_preset_and_the_yaml_in_the_editor() {
        let bad = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 99999}]\n";
        let link = fragment::encode(&Fragment { yaml: Some(bad.into()), ..Fragment::default() });
        let m = Model::from_fragment(&link, false).settled();
        assert_eq!(m.preset.as_deref(), Some(DEFAULT_PRESET));
        assert!(m.notices[0].starts_with("Link: the YAML in the link has problems"), "{:?}", m.notices);
        assert!(m.notices[1].contains("6:32: error:"), "{:?}", m.notices);
        assert!(m.editor.open);
        assert_eq!(m.editor.text, bad);
    }

    #[test]
    fn a_tampered_link_opens_the_default_with_a_message() {
        let m = Model::from_fragment("#preset=aks-blog&ch=10s:etp:Locale&nodes=900&sel=x", false).settled();
        assert_eq!(m.user_changes, []);
        assert_eq!(m.engine.borrow().sim.cluster().nodes.len(), 2);
        assert_eq!(m.notices.len(), 3, "{:?}", m.notices);
        assert!(m.notices[0].starts_with("Link: ch:"), "{:?}", m.notices);
    }

    /// What the revealed frame shows, in the terms of a lesson's check.
    fn check_holds(m: &Model, check: &lesson::Check) -> Result<(), String> {
        let e = m.engine.borrow();
        let run = e.sim.record();
        let nodes = e.sim.cluster().nodes.len();
        match check {
            lesson::Check::AppPrints(prefixes) => {
                let out = view::app_output(run, m.t).map(|o| o.1).unwrap_or_default();
                prefixes.iter().any(|p| out.starts_with(p)).then_some(()).ok_or(format!("the app printed {out:?}"))
            }
            lesson::Check::ProbePercent(want) => {
                let got = view::probe_panel(run, nodes, m.t).and_then(|p| p.last_minute).map(|(_, v)| view::pct(v));
                (got.as_deref() == Some(*want)).then_some(()).ok_or(format!("probe status {got:?}"))
            }
            lesson::Check::Refused(client) => {
                let latest = run
                    .flows
                    .iter()
                    .filter(|f| f.start.as_secs_f64() <= m.t)
                    .rfind(|f| matches!(f.initiator, Initiator::Client(c) if run.names.clients[c] == *client));
                let got = latest.map(|f| f.outcome.label());
                (got == Some("rejected")).then_some(()).ok_or(format!("{client}'s latest request: {got:?}"))
            }
        }
    }

    #[test]
    fn every_lesson_step_opens_cleanly_and_every_quiz_answer_is_what_the_simulation_shows() {
        for l in lesson::LESSONS {
            let steps = match l.id {
                "aks" => 6..=10,
                // A short lesson, on what differs (issue 13).
                "nftables" => 3..=5,
                _ => 1..=10,
            };
            assert!(steps.contains(&l.steps.len()), "{}: {} steps", l.id, l.steps.len());
            for (i, step) in l.steps.iter().enumerate() {
                let m = Model::at_lesson_step(l, i, false, false).settled();
                assert!(m.notices.is_empty(), "{} step {}: {:?}", l.id, i + 1, m.notices);
                let Some(quiz) = &step.quiz else { continue };
                assert!(quiz.answer < quiz.choices.len());
                // A prediction is asked before its answer can be seen.
                assert!(
                    check_holds(&m, &quiz.check).is_err(),
                    "{} step {}: the answer shows before the reveal",
                    l.id,
                    i + 1
                );
                let wrong = (quiz.answer + 1) % quiz.choices.len();
                let judged = reduce(m.clone(), Action::LessonAnswer(wrong));
                assert_eq!(judged.lesson.unwrap().answer, Some(wrong));
                let revealed = reduce(m, Action::LessonAnswer(quiz.answer));
                assert!(revealed.notices.is_empty(), "{} step {}: {:?}", l.id, i + 1, revealed.notices);
                assert_eq!(revealed.lesson.unwrap().step, i);
                if let Err(e) = check_holds(&revealed, &quiz.check) {
                    panic!(
                        "{} step {} ({}): the answer is {:?}, but {e}",
                        l.id,
                        i + 1,
                        step.title,
                        quiz.choices[quiz.answer]
                    );
                }
            }
        }
    }

    #[test]
    fn compare_runs_cluster_and_local_on_one_cursor_and_comes_back() {
        let policy = |e: &Rc<RefCell<Engine>>| e.borrow().sim.scenario().cluster.services[0].external_traffic_policy;
        let mut m = Model::from_fragment("#preset=aks-blog-switch&t=150s", false).settled();
        m = reduce(m, Action::Compare(true));
        let twin = m.twin.clone().expect("compare mode");
        assert_eq!((policy(&m.engine), policy(&twin)), (TrafficPolicy::Cluster, TrafficPolicy::Local));
        assert!(
            m.engine
                .borrow()
                .sim
                .scenario()
                .changes
                .iter()
                .all(|c| !matches!(c.change, Change::ExternalTrafficPolicy { .. })),
            "the preset's own switch to Local at 90 s is dropped from the Cluster side"
        );
        m = reduce(m, Action::Seek(200.0));
        assert!(m.engine.borrow().computed() >= 200.0 && twin.borrow().computed() >= 200.0, "one cursor drives both");
        assert_eq!(m.to_fragment(), "preset=aks-blog-switch&t=200s&compare=1");
        assert!(Model::from_fragment(&m.to_fragment(), false).settled().twin.is_some(), "a link reopens compare mode");
        m = reduce(m, Action::Compare(false));
        assert!(m.twin.is_none());
        assert_eq!(m.policy_at(), TrafficPolicy::Local, "one run again, with the preset's own switch");
    }

    #[test]
    fn lesson_progress_lives_in_the_link() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::Lesson(Some("aks".into())));
        m = reduce(m, Action::LessonStep(1));
        m = reduce(m, Action::LessonStep(1));
        assert_eq!(m.to_fragment(), "lesson=aks&step=3");
        let reopened = Model::from_fragment("#lesson=aks&step=3", false).settled();
        assert_eq!(reopened.lesson.unwrap().step, 2);
        assert_eq!(frame(&reopened), frame(&m));
        let m = reduce(m, Action::LessonStep(-5));
        assert_eq!(m.lesson.unwrap().step, 0, "back stops at the first step");
        let m = Model::from_fragment("#lesson=nope&step=2", false).settled();
        assert!(m.lesson.is_none());
        assert_eq!(m.notices, ["Link: no lesson is called \"nope\"."]);
        let m = Model::from_fragment("#lesson=source-ip&step=99", false).settled();
        assert_eq!(m.lesson.unwrap().step, 4, "a step past the end opens the last");
    }

    #[test]
    fn every_preset_loads_and_the_default_is_the_seed() {
        for (name, _) in PRESETS {
            let m = Model::with_preset(name, false).settled();
            assert!(m.engine.borrow().computed() >= LOOKAHEAD, "{name}");
        }
        let m = Model::from_fragment("", false).settled();
        assert_eq!(m.preset.as_deref(), Some("aks-blog"));
        assert!(m.playing);
    }

    #[test]
    fn switching_to_local_is_a_timeline_event_at_the_cursor() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::Seek(30.0));
        assert_eq!(m.policy_at(), TrafficPolicy::Cluster);
        m = reduce(m, Action::Policy(TrafficPolicy::Local));
        assert_eq!(m.user_changes.len(), 1);
        assert_eq!(m.user_changes[0].at, Instant::from_secs(30));
        assert_eq!(m.policy_at(), TrafficPolicy::Local);
        // History before the change is the same run: the same requests at the same times.
        let early_answers = |m: &Model| -> Vec<Option<String>> {
            let e = m.engine.borrow();
            e.sim.record().requests().filter(|f| f.start.as_secs_f64() < 3.0).map(|f| f.app_output.clone()).collect()
        };
        assert_eq!(early_answers(&Model::with_preset("aks-blog", false).settled()), early_answers(&m));
        // Played on past the probe threshold, the pod-less node is out of rotation.
        for _ in 0..200 {
            m = reduce(m, Action::Frame(100.0));
        }
        let e = m.engine.borrow();
        let panel = view::probe_panel(e.sim.record(), 2, m.t).unwrap();
        assert_eq!(panel.in_rotation, [true, false]);
        assert!(e.markers.iter().any(|mk| mk.kind == MarkerKind::Change));
    }

    #[test]
    fn a_link_opens_paused_at_its_time_with_its_policy() {
        let m = Model::from_fragment("#preset=aks-blog&etp=Local&t=120s&speed=4", false).settled();
        assert_eq!((m.t, m.playing, m.speed), (120.0, false, 4.0));
        assert_eq!(m.policy_at(), TrafficPolicy::Local);
        let e = m.engine.borrow();
        assert!(e.computed() >= 120.0);
        let (_, output, _) = view::app_output(e.sim.record(), m.t).unwrap();
        assert_eq!(output, "::ffff:198.51.100.79");
        let panel = view::probe_panel(e.sim.record(), 2, m.t).unwrap();
        assert_eq!(panel.last_minute, Some((1, 50.0)));
    }

    #[test]
    fn a_change_at_any_fractional_time_terminates() {
        // Regression: extending to a time that is not a whole microsecond looped forever.
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::Seek(31.123_456_789_1));
        m = reduce(m, Action::Policy(TrafficPolicy::Local));
        assert!(m.engine.borrow().computed() >= 31.123_456_789_1 + LOOKAHEAD);
    }

    #[test]
    fn an_open_ended_run_forgets_history_beyond_the_chart_window() {
        let mut e = Engine::new(Model::with_preset("aks-blog", false).settled().base.as_ref().clone());
        while e.extend(3.0 * 3600.0) {}
        let run = e.sim.record();
        // Three hours computed, but only ~33 minutes of flows, packets and trace kept.
        assert!(e.kept_from > 2.0 * 3600.0, "{}", e.kept_from);
        assert!(run.flows.len() < 40 * 60 * 3, "{} flows kept", run.flows.len());
        assert!(run.trace.first().unwrap().time.as_secs_f64() >= e.kept_from);
        assert_eq!(e.log.len(), run.trace.len());
        // What remains still draws: the chart's last 30 minutes and the app's answer.
        let t = e.computed() - 10.0;
        let panel = view::probe_panel(run, 2, t).unwrap();
        assert_eq!(panel.series.len(), 30);
        assert!(view::app_output(run, t).is_some());
        // The run is the same as one that never forgot.
        let mut whole = Sim::new(Model::with_preset("aks-blog", false).settled().base.as_ref().clone());
        whole.run_until(e.sim.now());
        assert_eq!(whole.record().requests().last().unwrap().app_output, run.requests().last().unwrap().app_output);
    }

    #[test]
    fn one_call_computes_at_most_the_event_budget_so_a_frame_never_freezes() {
        let mut e = Engine::new(Model::with_preset("aks-blog", false).settled().base.as_ref().clone());
        let before = e.sim.record().events;
        // Ten hours ahead in one call (a seek far into an open-ended run) stops after the
        // budget, give or take the one step that crossed it; later calls carry on.
        assert!(e.extend(36_000.0));
        let ran = e.sim.record().events - before;
        assert!((EVENT_BUDGET..EVENT_BUDGET * 2).contains(&ran), "{ran} events in one call");
        assert!(e.computed() < 36_000.0);
        let reached = e.computed();
        assert!(e.extend(36_000.0));
        assert!(e.computed() > reached);
    }

    #[test]
    fn stepping_moves_between_events_and_pauses() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::Step(1));
        assert!(!m.playing);
        let first = m.t;
        assert!(first > 0.0);
        m = reduce(m, Action::Step(1));
        assert!(m.t > first);
        m = reduce(m, Action::Step(-1));
        assert_eq!(m.t, first);
    }

    #[test]
    fn a_bad_yaml_keeps_the_previous_run_and_says_where() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        let before = Rc::clone(&m.engine);
        m = reduce(
            m,
            Action::EditYaml(
                "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 99999}]\n".into(),
            ),
        );
        m = reduce(m, Action::ApplyYaml);
        assert!(Rc::ptr_eq(&before, &m.engine), "the old run stays");
        assert_eq!(m.editor.errors[0], "5:18: error: doc 1 (Service x) spec.ports[0].port: 99999 is outside 1-65535");
        assert_eq!(m.preset.as_deref(), Some("aks-blog"));
    }

    #[test]
    fn shape_controls_re_run_with_the_new_cluster() {
        let mut m = Model::with_preset("aks-blog", false).settled();
        m = reduce(m, Action::Nodes(1));
        assert_eq!(m.engine.borrow().sim.cluster().nodes.len(), 3);
        m = reduce(m, Action::Replicas(2));
        assert_eq!(m.replicas_at(), Some(3));
        m = reduce(m, Action::ClientInside(true));
        let e = m.engine.borrow();
        assert!(matches!(e.sim.scenario().clients[0].kind, ClientKind::Pod(_)));
    }
}
