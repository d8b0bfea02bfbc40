//! The reducer's tests: links, lessons, shape controls and the run's budget.

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
    let trace: String = run.trace.iter().filter(|l| l.time <= upto).map(|l| format!("{}\n", run.render(l))).collect();
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
    m = reduce(m, Action::Dataplane(DataplaneOverride::KubeProxy(svcsim_core::cluster::ProxyMode::Nftables)));
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
    let dump = include_str!("../../../crates/svcsim-cli/tests/dumps/iptables/aks-blog-node-0-docker.txt");
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
    let dump = include_str!("../../../crates/svcsim-cli/tests/dumps/nft/aks-blog-node-0-docker.nft");
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
            // The panel as the page shows it: a dual-stack run's traffic family.
            let family = view::shown_family(e.sim.scenario(), e.sim.cluster());
            let got = view::probe_panel(run, nodes, m.t, family).and_then(|p| p.last_minute).map(|(_, v)| view::pct(v));
            (got.as_deref() == Some(*want)).then_some(()).ok_or(format!("probe status {got:?}"))
        }
        lesson::Check::ReplyPath(want) => {
            let latest = view::app_output(run, m.t).and_then(|(_, _, f)| run.get_flow(f));
            let got: Vec<String> = latest
                .map(|f| run.reply_path(f).into_iter().skip(1).map(|p| run.names.place(p)).collect())
                .unwrap_or_default();
            (got == *want).then_some(()).ok_or(format!("the reply went {got:?}"))
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
    m = reduce(m, Action::Compare(Some(CompareKind::Policy)));
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
    m = reduce(m, Action::Compare(None));
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
    let panel = view::probe_panel(e.sim.record(), 2, m.t, None).unwrap();
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
    let panel = view::probe_panel(e.sim.record(), 2, m.t, None).unwrap();
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
    let panel = view::probe_panel(run, 2, t, None).unwrap();
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
