//! The reducer: every `Action` the page dispatches, applied to a copy of the model.

use super::*;

impl Model {
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
            Action::Dataplane(dataplane) => {
                m.shape.dataplane = Some(dataplane);
                m.rebuild();
            }
            Action::Family { dual_stack, family } => {
                m.shape.dual_stack = dual_stack;
                m.shape.family = family;
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
            Action::Compare(kind) => {
                if kind != m.twin.is_some().then_some(m.comparing) {
                    m.run(kind);
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
