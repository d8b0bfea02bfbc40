//! The model as a link carries it: opening the page from a fragment, and the fragment of the
//! page as it is (`docs/links.md`).

use std::cell::RefCell;
use std::rc::Rc;

use super::*;

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
            dataplane: f.dataplane,
            client_inside: f.client_inside,
            dual_stack: f.dual_stack,
            family: f.family,
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
        if f.compare.is_some() {
            m.run(f.compare);
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
            dataplane: self.shape.dataplane,
            client_inside: self.shape.client_inside,
            dual_stack: self.shape.dual_stack,
            family: self.shape.family,
            seed: self.shape.seed,
            changes,
            t: with_time.then(|| self.cursor().as_micros()),
            speed: (self.speed != 1.0).then_some(self.speed),
            sel: self.selected.map(|f| u64::from(f.0)),
            editor: self.editor.open,
            embed: self.embed,
            lesson: None,
            compare: self.twin.is_some().then_some(self.comparing),
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
            comparing: CompareKind::Policy,
        }
    }
}
