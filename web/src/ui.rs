//! The page's panels, drawn from the model and the view model: topology with packets, controls,
//! what the app sees, health probes, time controls, event log, inspector, legend and the YAML
//! editor. Every name from a scenario is rendered as text, never as markup.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use svcsim_core::cluster::{NetworkPlugin, Provider, ProxyMode, TrafficPolicy};
use svcsim_core::dump::{Format, Report};
use svcsim_core::explain::explain;
use svcsim_core::net::{Header, Protocol};
use svcsim_core::record::{FlowId, Initiator};
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::fragment::SPEEDS;
use crate::layout::Point;
use crate::model::{Action, Engine, MarkerKind, Model, PRESETS, Trace, TraceField};
use crate::view::pct;
use crate::view::{self, SpriteKind};

mod topology;
use topology::{shape, topology};

/// Props of [`Memo`]: equal when their stamps are, whatever the closure.
#[derive(Properties)]
pub struct MemoProps {
    pub stamp: u64,
    pub view: Rc<dyn Fn() -> Html>,
}

impl PartialEq for MemoProps {
    fn eq(&self, other: &Self) -> bool {
        self.stamp == other.stamp
    }
}

/// Renders its closure again only when its stamp changes: the page is re-rendered every animation
/// frame, but most panels change far less often than packets move.
#[function_component(Memo)]
pub fn memo_view(props: &MemoProps) -> Html {
    (props.view)()
}

fn memo(stamp: u64, view: impl Fn() -> Html + 'static) -> Html {
    html! { <Memo {stamp} view={Rc::new(view) as Rc<dyn Fn() -> Html>} /> }
}

/// A stamp for what a panel shows (a hash; only ever compared within one page's life).
fn stamp(what: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    what.hash(&mut h);
    h.finish()
}

/// The scenario clock as shown: `75.40 s`.
pub fn clock(t: f64) -> String {
    format!("{t:.2} s")
}

pub fn page(model: &Model, dispatch: &Callback<Action>) -> Html {
    if model.embed {
        return embed_page(model, dispatch);
    }
    let e = model.engine.borrow();
    let run = e.sim.record();
    let engine = Rc::as_ptr(&model.engine) as usize;
    let t = model.t;
    // What each panel shows, cheaply: it is redrawn only when this changes.
    let log_stamp = stamp(&(engine, e.log.partition_point(|(d, _)| *d <= t), model.selected));
    let inspected = model
        .selected
        .and_then(|f| run.get_flow(f))
        .map(|f| (f.end.is_some(), f.reply.is_some(), run.packet(f.request).hops.len()));
    let inspector_stamp = stamp(&(engine, model.selected, inspected));
    // The pod table changes when an answer completes, and so does the latest answer.
    let seen_stamp = stamp(&(engine, view::app_output(run, t).map(|o| o.2.0)));
    let probes_stamp = stamp(&(engine, format!("{:?}", view::probe_panel(run, e.sim.cluster().nodes.len(), t))));
    let cluster = e.sim.cluster();
    let controls_stamp = stamp(&(
        engine,
        format!("{:?}{:?}{:?}", model.policy_at(), model.replicas_at(), model.affinity_at()),
        format!("{:?}{:?}{}", cluster.config.provider, cluster.config.network_plugin, cluster.nodes.len()),
        model.shape.client_inside,
    ));
    let trace = model.editor.trace.as_ref().map(|t| t.revision);
    let editor_stamp = stamp(&(model.editor.open, &model.editor.text, &model.editor.errors, trace));
    let with = |f: fn(&Model, &Engine, &Callback<Action>) -> Html| {
        let (model, dispatch) = (model.clone(), dispatch.clone());
        move || f(&model, &model.engine.borrow(), &dispatch)
    };
    html! {
        <div class="app" data-testid="app-root">
            { header(model, dispatch) }
            { notices(model, dispatch) }
            <div class="layout">
                <div class="main-col">
                <section class="stage" aria-label="Topology and time">
                    if let Some(twin) = &model.twin {
                        { compare_view(model, &e, twin, dispatch) }
                    } else {
                        { topology(model, &model.engine, false, dispatch) }
                    }
                    { time_controls(model, &e, dispatch) }
                    { memo(0, legend) }
                </section>
                // The log and the inspector continue the left column, so it is as long as the side.
                <div class="lower">
                    { memo(log_stamp, with(event_log)) }
                    { memo(inspector_stamp, with(inspector)) }
                </div>
                </div>
                <aside class="side">
                    { lesson_panel(model, dispatch) }
                    // In compare mode the table beside the panes says this for both runs.
                    if model.twin.is_none() {
                        { memo(seen_stamp, with(app_seen)) }
                        { memo(probes_stamp, with(|m, e, _| probes(m, e))) }
                    }
                    { memo(controls_stamp, with(controls)) }
                </aside>
            </div>
            { memo(editor_stamp, { let (m, d) = (model.clone(), dispatch.clone()); move || editor(&m, &d) }) }
            <footer class="app-footer">{ format!("svcsim-core {}", svcsim_core::VERSION) }</footer>
        </div>
    }
}

/// The compact layout for an iframe (`embed=1`): the topology, what the app prints, the probe
/// status, the policy toggle and play, in 700×450 and down to 360 px wide.
fn embed_page(model: &Model, dispatch: &Callback<Action>) -> Html {
    let e = model.engine.borrow();
    let run = e.sim.record();
    let t = model.t;
    let text =
        view::app_output(run, t).map_or("…".to_string(), |(_, o, _)| o.lines().next().unwrap_or("").to_string());
    let probe = view::probe_panel(run, e.sim.cluster().nodes.len(), t).map(|p| {
        let up = p.in_rotation.iter().filter(|u| **u).count();
        (p.last_minute.map_or("—".to_string(), |(_, v)| pct(v)), format!("{up}/{}", p.in_rotation.len()))
    });
    let full = format!("{}#{}", crate::app::full_page_url(), model.full_page_fragment());
    let narration = narration(model, &e);
    let title = model.preset.clone().unwrap_or_else(|| "your YAML".into());
    html! {
        <div class="app embed" data-testid="app-root">
            <div class="embed-bar">
                <span><strong>{ "svcsim" }</strong>{ format!(" · {title}") }</span>
                <a href={full} target="_blank" rel="noopener" data-testid="open-full">{ "Open in full simulator ↗" }</a>
            </div>
            { notices(model, dispatch) }
            { topology(model, &model.engine, false, dispatch) }
            <div class="embed-panel">
                <div class="embed-time">
                    <button class="btn play" data-testid="play" aria-label={if model.playing { "Pause (Space)" } else { "Play (Space)" }} onclick={dispatch.reform(|_| Action::TogglePlay)}>
                        { if model.playing { "Pause" } else { "Play" } }
                    </button>
                    <span class="clock" data-testid="clock">{ format!("t = {}", clock(t)) }</span>
                </div>
                { policy_radios(model, dispatch) }
                <div class="embed-out">
                    <span class="muted small">{ "the app prints" }</span>
                    <span class="app-output" data-testid="app-output">{ text }</span>
                </div>
                if let Some((percent, up)) = probe {
                    <div class="embed-probe">
                        <span class="muted small">{ "Health Probe Status" }</span>
                        <span><strong data-testid="probe-percent">{ percent }</strong>{ " · in rotation " }<strong data-testid="in-rotation">{ up }</strong></span>
                    </div>
                }
            </div>
            <p class="narration" aria-live="polite" data-testid="narration">{ narration }</p>
        </div>
    }
}

/// The lesson beside the simulator: the step's text, its quiz (predict, then reveal), back/next.
fn lesson_panel(model: &Model, dispatch: &Callback<Action>) -> Html {
    let Some(state) = model.lesson else { return html! {} };
    let step = state.current();
    let n = state.lesson.steps.len();
    let quiz = step.quiz.as_ref().map(|q| {
        let verdict = state.answer.map(|a| {
            if a == q.answer {
                html! { <p class="verdict ok" role="status" data-testid="verdict">{ "✓ Right." }</p> }
            } else {
                html! { <p class="verdict bad" role="status" data-testid="verdict">{ format!("✗ Not quite: the answer is “{}”.", q.choices[q.answer]) }</p> }
            }
        });
        html! {
            <div class="quiz">
                <fieldset>
                    <legend>{ q.question }</legend>
                    { for q.choices.iter().enumerate().map(|(k, c)| {
                        let class = match state.answer {
                            Some(_) if k == q.answer => "choice right",
                            Some(a) if a == k => "choice wrong",
                            _ => "choice",
                        };
                        html! {
                            <button class={class} data-testid={format!("choice-{k}")} disabled={state.answer.is_some()}
                                onclick={dispatch.reform(move |_| Action::LessonAnswer(k))}>{ *c }</button>
                        }
                    }) }
                </fieldset>
                if state.answer.is_none() {
                    <p class="muted small">{ "Choose an answer: the simulator then shows what happens." }</p>
                }
                { for verdict }
                if state.answer.is_some() {
                    <p class="why" data-testid="why">{ q.why }</p>
                }
            </div>
        }
    });
    html! {
        <section class="panel lesson" aria-label="Lesson" data-testid="lesson">
            <p class="muted small" data-testid="lesson-progress">{ format!("{} · step {} of {n}", state.lesson.title, state.step + 1) }</p>
            <h2>{ step.title }</h2>
            { for step.text.split("\n\n").map(|p| html! { <p>{ p }</p> }) }
            { for quiz }
            <div class="lesson-nav">
                <button class="btn" data-testid="lesson-back" disabled={state.step == 0} onclick={dispatch.reform(|_| Action::LessonStep(-1))}>{ "‹ Previous step" }</button>
                <button class="btn" data-testid="lesson-next" disabled={state.step + 1 == n} onclick={dispatch.reform(|_| Action::LessonStep(1))}>{ "Next step ›" }</button>
                <button class="btn small" onclick={dispatch.reform(|_| Action::Lesson(None))}>{ "Close the lesson" }</button>
            </div>
        </section>
    }
}

/// Cluster and Local side by side on one cursor, and what differs between them.
fn compare_view(model: &Model, e: &Engine, twin: &Rc<RefCell<Engine>>, dispatch: &Callback<Action>) -> Html {
    let tw = twin.borrow();
    let rows = view::compare_rows((e.sim.record(), e.sim.cluster()), (tw.sim.record(), tw.sim.cluster()), model.t);
    let t = format!("{:.2}", model.t);
    html! {
        <div class="compare" data-testid="compare">
            <div class="compare-panes">
                <div class="pane" data-testid="pane-cluster" data-t={t.clone()}>
                    <h2>{ "externalTrafficPolicy: Cluster" }</h2>
                    { topology(model, &model.engine, true, dispatch) }
                </div>
                <div class="pane" data-testid="pane-local" data-t={t}>
                    <h2>{ "externalTrafficPolicy: Local" }</h2>
                    { topology(model, twin, true, dispatch) }
                </div>
            </div>
            <table class="compare-table" data-testid="compare-table">
                <caption>{ format!("At t = {}: the same seed and traffic, one policy each. ≠ marks a difference.", clock(model.t)) }</caption>
                <thead><tr><th scope="col">{ "" }</th><th scope="col">{ "Cluster" }</th><th scope="col">{ "Local" }</th></tr></thead>
                <tbody>
                    { for rows.iter().map(|r| html! {
                        <tr class={if r.differs() { "differs" } else { "" }}>
                            <th scope="row">{ if r.differs() { "≠ " } else { "" } }{ r.label }</th>
                            <td class="mono">{ r.cluster.clone() }</td>
                            <td class="mono">{ r.local.clone() }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <button class="btn small" data-testid="compare-off" onclick={dispatch.reform(|_| Action::Compare(false))}>{ "Back to one run" }</button>
        </div>
    }
}

fn header(model: &Model, dispatch: &Callback<Action>) -> Html {
    let on_preset = dispatch.reform(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        Action::LoadPreset(sel.value())
    });
    let on_lesson = dispatch.reform(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        let id = sel.value();
        Action::Lesson((!id.is_empty()).then_some(id))
    });
    let toggle_editor = {
        let open = model.editor.open;
        dispatch.reform(move |_| Action::EditorOpen(!open))
    };
    html! {
        <header class="app-header">
            <div>
                <h1 class="app-title">{ "svcsim" }</h1>
                <p class="app-tagline">
                    { "Kubernetes Service routing, simulated: a request crosses the cloud load balancer, kube-proxy's DNAT (and SNAT under externalTrafficPolicy: Cluster) and reaches the pod, whose app prints the address it sees." }
                </p>
            </div>
            <div class="scenario-pick">
                <label for="preset">{ "Scenario" }</label>
                <select id="preset" aria-label="Scenario" onchange={on_preset}>
                    { for PRESETS.iter().map(|(name, _)| html! {
                        <option value={*name} selected={model.preset.as_deref() == Some(*name)}>{ *name }</option>
                    }) }
                    if model.preset.is_none() { <option value="" selected=true disabled=true>{ "your YAML" }</option> }
                </select>
                <button class="btn" onclick={toggle_editor} aria-expanded={model.editor.open.to_string()}>
                    { if model.editor.open { "Close the YAML" } else { "Edit the YAML" } }
                </button>
                <label for="lesson" class="sr-only">{ "Lesson" }</label>
                <select id="lesson" data-testid="lesson-pick" aria-label="Lesson" onchange={on_lesson}>
                    <option value="" selected={model.lesson.is_none()}>{ "Lessons…" }</option>
                    { for crate::lesson::LESSONS.iter().map(|l| html! {
                        <option value={l.id} selected={model.lesson.is_some_and(|s| s.lesson.id == l.id)}>{ l.title }</option>
                    }) }
                </select>
                <button class="btn" data-testid="compare-toggle" aria-pressed={model.twin.is_some().to_string()}
                    title="Cluster and Local side by side, on the same traffic"
                    onclick={{ let on = model.twin.is_none(); dispatch.reform(move |_| Action::Compare(on)) }}>{ "Compare Cluster | Local" }</button>
                <button class="btn" data-testid="share" title="Pause here and copy a link that opens this exact frame"
                    onclick={dispatch.reform(|_| Action::Share)}>{ "Share this frame" }</button>
            </div>
            if let Some(fragment) = &model.shared {
                <div class="share" role="status" data-testid="share-panel">
                    <label for="share-url">{ "Link to this frame (copied to the clipboard when the browser allows):" }</label>
                    <input id="share-url" data-testid="share-url" readonly=true
                        value={format!("{}#{fragment}", crate::app::page_url())} />
                </div>
            }
        </header>
    }
}

fn notices(model: &Model, dispatch: &Callback<Action>) -> Html {
    if model.notices.is_empty() {
        return html! {};
    }
    html! {
        <div class="notice" role="status" data-testid="notice">
            <ul>{ for model.notices.iter().map(|n| html! { <li>{ n.clone() }</li> }) }</ul>
            <button class="btn small" onclick={dispatch.reform(|_| Action::DismissNotices)}>{ "Dismiss" }</button>
        </div>
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

fn time_controls(model: &Model, e: &Engine, dispatch: &Callback<Action>) -> Html {
    // Whole minutes, so the markers move only when the scale does.
    let horizon = ((e.computed().max(model.t) / 60.0).ceil() * 60.0).max(e.sim.scenario().duration.as_secs_f64());
    let on_scrub = dispatch.reform(|ev: InputEvent| {
        let input: HtmlInputElement = ev.target_unchecked_into();
        Action::Seek(input.value().parse().unwrap_or(0.0))
    });
    let on_speed = dispatch.reform(|ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        Action::Speed(sel.value().parse().unwrap_or(1.0))
    });
    let narration = narration(model, e);
    html! {
        <div class="time">
            <div class="time-buttons">
                <button class="btn" data-testid="step-back" aria-label="Back: previous event (←)" title="Previous event (←)" onclick={dispatch.reform(|_| Action::Step(-1))}>{ "‹ Back" }</button>
                <button class="btn play" data-testid="play" aria-label={if model.playing { "Pause (Space)" } else { "Play (Space)" }} onclick={dispatch.reform(|_| Action::TogglePlay)}>
                    { if model.playing { "Pause" } else { "Play" } }
                </button>
                <button class="btn" data-testid="step" aria-label="Next event (→)" title="Next event (→)" onclick={dispatch.reform(|_| Action::Step(1))}>{ "Next ›" }</button>
                <label for="speed" class="sr-only">{ "Speed" }</label>
                <select id="speed" aria-label="Speed" onchange={on_speed}>
                    { for SPEEDS.iter().map(|s| html! { <option value={s.to_string()} selected={*s == model.speed}>{ format!("{s}×") }</option> }) }
                </select>
                <span class="clock" data-testid="clock">{ format!("t = {} · minute {}", clock(model.t), (model.t / 60.0).floor()) }</span>
                if model.computing() {
                    <span class="muted small" role="status">{ format!("computing… {} of {}", clock(e.computed()), clock(model.t)) }</span>
                }
            </div>
            <div class="scrubber">
                { memo(stamp(&(Rc::as_ptr(&model.engine) as usize, e.markers.len(), horizon.to_bits(), e.kept_from.to_bits())), {
                    let model = model.clone();
                    move || markers(&model.engine.borrow(), horizon)
                }) }
                <input type="range" aria-label="Time (scenario seconds)" data-testid="scrubber" min={format!("{:.2}", e.kept_from)} max={format!("{horizon:.2}")} step="0.05"
                       value={format!("{:.2}", model.t)} oninput={on_scrub} />
            </div>
            <p class="narration" aria-live="polite" data-testid="narration">{ narration }</p>
            <p class="muted small">
                { format!("Time-lapse and slow motion: the clock, health probes and the per-minute metric run in true time (at 1× a second is a second; 16× squeezes a minute into 4 s), while every packet hop is drawn over {} s of the clock whatever its real latency — the inspector shows the true times.", view::HOP) }
            </p>
        </div>
    }
}

/// The latest event at the cursor, as the trace says it: read out by screen readers.
fn narration(model: &Model, e: &Engine) -> String {
    let shown = e.log.partition_point(|(d, _)| *d <= model.t);
    match shown.checked_sub(1) {
        Some(i) => e.sim.record().render(&e.sim.record().trace[e.log[i].1 as usize]),
        None => "Press Play (or Space) to run the scenario.".into(),
    }
}

fn markers(e: &Engine, horizon: f64) -> Html {
    html! {
        <div class="markers" aria-hidden="true">
            { for e.markers.iter().take(300).map(|m| {
                let left = 100.0 * (m.t - e.kept_from) / (horizon - e.kept_from).max(1.0);
                let cls = match m.kind { MarkerKind::Change => "mk change", MarkerKind::FirstSnat => "mk snat", MarkerKind::ProbeFailure => "mk probe", MarkerKind::Drop => "mk drop" };
                html! { <span class={cls} style={format!("left: {left:.3}%")} title={m.label.clone()} /> }
            }) }
        </div>
    }
}

fn legend() -> Html {
    let item = |kind: SpriteKind, text: &str| {
        html! {
            <li>
                <svg width="22" height="20" viewBox="0 0 22 20" aria-hidden="true"><g class={format!("packet {}", kind.class())}>{ shape(kind, Point { x: 11.0, y: 10.0 }) }</g></svg>
                <span>{ format!("{} — {text}", kind.label()) }</span>
            </li>
        }
    };
    html! {
        <details class="legend" open=true>
            <summary>{ "Legend" }</summary>
            <ul>
                { item(SpriteKind::Original, "the request as the client sent it") }
                { item(SpriteKind::Dnat, "destination rewritten to a pod (DNAT)") }
                { item(SpriteKind::DnatSnat, "destination and source rewritten (DNAT + SNAT)") }
                { item(SpriteKind::Reply, "the reply, translated back by conntrack") }
                { item(SpriteKind::ProbeOk, "a load balancer health probe (✓ answered, ✗ failed)") }
                { item(SpriteKind::Dropped, "dropped or refused, with the rule that did it") }
            </ul>
        </details>
    }
}

fn app_seen(model: &Model, e: &Engine, dispatch: &Callback<Action>) -> Html {
    let run = e.sim.record();
    let out = view::app_output(run, model.t);
    let seen = view::seen_by_pod(run, model.t);
    let url = e
        .sim
        .scenario()
        .cluster
        .services
        .iter()
        .find_map(|s| s.load_balancer_ingress.first().map(|ip| format!("http://{ip}/")))
        .unwrap_or_else(|| "http://service/".into());
    let (client, text, flow) = match &out {
        Some((c, o, f)) => (c.clone(), o.lines().next().unwrap_or("").to_string(), Some(*f)),
        None => (String::new(), "…".to_string(), None),
    };
    let inspect = dispatch.reform(move |_| Action::Select(flow));
    html! {
        <section class="panel app-seen" aria-label="What the app sees">
            <h2>{ "What the app sees" }</h2>
            <div class="browser">
                <div class="browser-bar mono">{ url }</div>
                <div class="browser-page">
                    <span class="app-output" data-testid="app-output">{ text }</span>
                </div>
            </div>
            <p class="muted small">
                if flow.is_some() {
                    { format!("The app's answer to {client}'s latest request. ") }
                    <button class="link" onclick={inspect}>{ "Inspect it" }</button>
                } else {
                    { "No answer yet." }
                }
            </p>
            <table class="seen">
                <caption class="sr-only">{ "Source addresses each pod has seen" }</caption>
                <thead><tr><th>{ "pod" }</th><th>{ "source addresses seen" }</th></tr></thead>
                <tbody>
                    { for seen.iter().map(|(pod, m)| {
                        let mut s = String::new();
                        for (ip, k) in m { let _ = write!(s, "{ip} ×{k}  "); }
                        html! { <tr><td>{ short(&e.sim.cluster().pod(*pod).name, 30) }</td><td class="mono">{ s }</td></tr> }
                    }) }
                </tbody>
            </table>
        </section>
    }
}

fn probes(model: &Model, e: &Engine) -> Html {
    let cluster = e.sim.cluster();
    let Some(p) = view::probe_panel(e.sim.record(), cluster.nodes.len(), model.t) else {
        return html! { <section class="panel"><h2>{ "Health probes" }</h2><p class="muted">{ "No cloud load balancer in this scenario." }</p></section> };
    };
    let up = p.in_rotation.iter().filter(|u| **u).count();
    let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let (percent, minute) = match p.last_minute {
        Some((m, v)) => (pct(v), format!("minute {m}")),
        None => ("—".to_string(), "no complete minute yet".to_string()),
    };
    html! {
        <section class="panel probes" aria-label="Load balancer health probes">
            <h2>{ "Health Probe Status" }</h2>
            <p class="big">
                <span data-testid="probe-percent">{ percent }</span>
                <span class="muted small">{ format!(" last complete minute ({minute})") }</span>
            </p>
            <p>{ "Nodes in rotation: " }<strong data-testid="in-rotation">{ format!("{up}/{}", p.in_rotation.len()) }</strong></p>
            <ul class="node-probes">
                { for cluster.nodes.iter().enumerate().map(|(i, n)| {
                    let last = p.last_probe[i].as_ref().map_or("no probe yet".to_string(), |r| r.to_string());
                    let cls = match &p.last_probe[i] { Some(r) if r.success() => "ok", Some(_) => "bad", None => "none" };
                    html! { <li class={cls}>{ format!("{}: last probe {last}{}", n.name, if p.in_rotation[i] { "" } else { " — out of rotation" }) }</li> }
                }) }
            </ul>
            <ProbeChartView chart={Rc::new(crate::chart::probe_chart(&p, &names, e.sim.record(), model.t))} />
            { chart_exports(&p, e, model.t) }
        </section>
    }
}

/// Downloads of the probe chart: SVG, and PNG drawn from it in the page.
fn chart_exports(p: &view::ProbePanel, e: &Engine, t: f64) -> Html {
    let names: Vec<String> = e.sim.cluster().nodes.iter().map(|n| n.name.clone()).collect();
    let svg = crate::export::probe_chart_svg(p, &names, t);
    let minute = (t / 60.0).floor();
    let png = {
        let svg = svg.clone();
        Callback::from(move |_: MouseEvent| {
            crate::app::download_png(&svg, format!("svcsim-probes-minute-{minute}.png"))
        })
    };
    html! {
        <div class="export">
            <span class="muted small">{ "Export the chart:" }</span>
            <a class="btn small" data-testid="export-chart-svg" download={format!("svcsim-probes-minute-{minute}.svg")}
               href={crate::export::data_url("image/svg+xml", &svg)}>{ "SVG" }</a>
            <button class="btn small" data-testid="export-chart-png" onclick={png}>{ "PNG" }</button>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct ChartProps {
    chart: Rc<crate::chart::ProbeChart>,
}

/// The Health Probe Status chart ([`crate::chart`]): each minute's point can be hovered or
/// focused (Tab) to read its value, announced to screen readers.
#[function_component(ProbeChartView)]
fn probe_chart_view(props: &ChartProps) -> Html {
    use crate::chart::{HEIGHT, PLOT, WIDTH};
    let readout = use_state(|| None::<String>);
    let c = &props.chart;
    let (x0, y0, x1, y1) = PLOT;
    let polyline = |pts: &[(f64, f64)]| pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
    let agg: Vec<(f64, f64)> = c.aggregate.iter().map(|p| (p.x, p.y)).collect();
    let read = |text: String| -> (Callback<MouseEvent>, Callback<FocusEvent>) {
        let (on_hover, on_focus) = (readout.clone(), readout.clone());
        let again = text.clone();
        (
            Callback::from(move |_| on_hover.set(Some(text.clone()))),
            Callback::from(move |_| on_focus.set(Some(again.clone()))),
        )
    };
    html! {
        <figure class="chart-figure">
            <svg class="chart" viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="group" aria-label={c.summary.clone()} data-testid="probe-chart">
                { for c.y_ticks.iter().map(|(y, label)| html! {
                    <g>
                        <line x1={x0.to_string()} y1={y.to_string()} x2={x1.to_string()} y2={y.to_string()} class="grid" />
                        <text x={(x0 - 4.0).to_string()} y={(y + 3.5).to_string()} text-anchor="end">{ *label }</text>
                    </g>
                }) }
                { for c.x_ticks.iter().map(|(x, label)| html! {
                    <g>
                        <line x1={x.to_string()} y1={y1.to_string()} x2={x.to_string()} y2={(y1 + 3.0).to_string()} class="grid" />
                        <text x={x.to_string()} y={(y1 + 13.0).to_string()} text-anchor="middle">{ label.clone() }</text>
                    </g>
                }) }
                <text x={((x0 + x1) / 2.0).to_string()} y={(HEIGHT - 6.0).to_string()} text-anchor="middle" class="axis-title">{ "minute of the run" }</text>
                <text transform={format!("translate(10 {}) rotate(-90)", (y0 + y1) / 2.0)} text-anchor="middle" class="axis-title">{ "probes answered" }</text>
                { for c.transitions.iter().map(|(x, what)| html! {
                    <line x1={x.to_string()} y1={y0.to_string()} x2={x.to_string()} y2={y1.to_string()} class="transition">
                        <title>{ what.clone() }</title>
                    </line>
                }) }
                { for c.nodes.iter().enumerate().map(|(n, line)| html! {
                    <g class={format!("node-series n{}", n % 6)}>
                        <polyline points={polyline(&line.points)} class="node-line" />
                        if let Some(y) = line.label_y {
                            <text x={(x1 + 6.0).to_string()} y={(y + 3.5).to_string()} class="node-label">{ line.label.clone() }</text>
                        }
                    </g>
                }) }
                <polyline points={polyline(&agg)} class="agg-line" />
                { for c.aggregate.iter().map(|p| {
                    let (onmouseenter, onfocus) = read(p.readout.clone());
                    html! {
                        <circle cx={p.x.to_string()} cy={p.y.to_string()} r="3" class="agg-dot" tabindex="0"
                                role="img" aria-label={p.readout.clone()} {onmouseenter} {onfocus} />
                    }
                }) }
            </svg>
            <figcaption class="small muted">
                <span class="readout" aria-live="polite" data-testid="chart-readout">
                    { readout.as_ref().cloned().unwrap_or_else(|| "Hover or Tab to a minute to read it.".into()) }
                </span>
                { "Thick: all nodes; thin, named: each node" }
                { if c.transitions.is_empty() { "." } else { "; dashed: a change." } }
            </figcaption>
        </figure>
    }
}

/// The externalTrafficPolicy radio group, shared by the full page and the embed.
fn policy_radios(model: &Model, dispatch: &Callback<Action>) -> Html {
    let policy = model.policy_at();
    let radio = |p: TrafficPolicy, label: &'static str| {
        let onchange = dispatch.reform(move |_| Action::Policy(p));
        html! {
            <label class="radio">
                <input type="radio" name="etp" value={label} checked={policy == p} {onchange} />
                { label }
            </label>
        }
    };
    html! {
        <fieldset role="radiogroup" aria-label="externalTrafficPolicy">
            <legend>{ "externalTrafficPolicy" }</legend>
            { radio(TrafficPolicy::Cluster, "Cluster") }
            { radio(TrafficPolicy::Local, "Local") }
        </fieldset>
    }
}

fn controls(model: &Model, e: &Engine, dispatch: &Callback<Action>) -> Html {
    let cluster = e.sim.cluster();
    let replicas = model.replicas_at();
    let on_provider = dispatch.reform(|ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        Action::Provider(match sel.value().as_str() {
            "aws" => Provider::Aws,
            "gcp" => Provider::Gcp,
            _ => Provider::Azure,
        })
    });
    let on_plugin = dispatch.reform(|ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        Action::Plugin(if sel.value() == "azure-cni" { NetworkPlugin::AzureCni } else { NetworkPlugin::Kubenet })
    });
    let on_mode = dispatch.reform(|ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        Action::ProxyMode(if sel.value() == "nftables" { ProxyMode::Nftables } else { ProxyMode::Iptables })
    });
    let mode = cluster.config.kube_proxy.mode;
    let inside = model.shape.client_inside;
    let affinity = model.affinity_at();
    html! {
        <section class="panel controls" aria-label="Controls">
            <h2>{ "Change the cluster" }</h2>
            <p class="muted small">{ "Policy, replicas and affinity apply at the current time, like kubectl patch: watch the transition." }</p>
            if model.twin.is_some() {
                <p class="small">{ "Comparing both policies side by side: go back to one run to switch it." }</p>
            } else {
                { policy_radios(model, dispatch) }
            }
            <label class="check">
                <input type="checkbox" checked={affinity} onchange={dispatch.reform(move |_| Action::Affinity(!affinity))} />
                { "sessionAffinity: ClientIP" }
            </label>
            if let Some(r) = replicas {
                <div class="stepper">
                    <span>{ "replicas" }</span>
                    <button class="btn small" aria-label="Fewer replicas" onclick={dispatch.reform(|_| Action::Replicas(-1))}>{ "−" }</button>
                    <output aria-live="polite" data-testid="replicas">{ r }</output>
                    <button class="btn small" aria-label="More replicas" onclick={dispatch.reform(|_| Action::Replicas(1))}>{ "+" }</button>
                </div>
            }
            <p class="muted small">{ "These re-run the scenario from the start with the new shape; the cursor stays:" }</p>
            <div class="stepper">
                <span>{ "nodes" }</span>
                <button class="btn small" aria-label="Fewer nodes" onclick={dispatch.reform(|_| Action::Nodes(-1))}>{ "−" }</button>
                <output data-testid="nodes">{ cluster.nodes.len() }</output>
                <button class="btn small" aria-label="More nodes" onclick={dispatch.reform(|_| Action::Nodes(1))}>{ "+" }</button>
            </div>
            <label class="row">{ "cloud provider " }
                <select aria-label="Cloud provider" onchange={on_provider}>
                    <option value="azure" selected={cluster.config.provider == Provider::Azure}>{ "Azure" }</option>
                    <option value="aws" selected={cluster.config.provider == Provider::Aws}>{ "AWS (NLB)" }</option>
                    <option value="gcp" selected={cluster.config.provider == Provider::Gcp}>{ "Google Cloud" }</option>
                </select>
            </label>
            <label class="row">{ "network plugin " }
                <select aria-label="Network plugin" onchange={on_plugin}>
                    <option value="kubenet" selected={cluster.config.network_plugin == NetworkPlugin::Kubenet}>{ "kubenet" }</option>
                    <option value="azure-cni" selected={cluster.config.network_plugin == NetworkPlugin::AzureCni}>{ "azure-cni" }</option>
                </select>
            </label>
            <label class="row">{ "kube-proxy mode " }
                <select aria-label="kube-proxy mode" onchange={on_mode}>
                    <option value="iptables" selected={mode == ProxyMode::Iptables}>{ "iptables" }</option>
                    <option value="nftables" selected={mode == ProxyMode::Nftables}>{ "nftables" }</option>
                </select>
            </label>
            <fieldset role="radiogroup" aria-label="Client">
                <legend>{ "client" }</legend>
                <label class="radio"><input type="radio" name="client" checked={!inside} onchange={dispatch.reform(|_| Action::ClientInside(false))} />{ "outside the cluster" }</label>
                <label class="radio"><input type="radio" name="client" checked={inside} onchange={dispatch.reform(|_| Action::ClientInside(true))} />{ "in a pod" }</label>
            </fieldset>
        </section>
    }
}

fn event_log(model: &Model, e: &Engine, dispatch: &Callback<Action>) -> Html {
    let run = e.sim.record();
    // Rows in true-time order, each shown once the animation has reached it; newest first.
    let end = run.trace.partition_point(|l| l.time.as_secs_f64() <= model.t);
    let rows: Vec<(usize, f64)> = run.trace[..end]
        .iter()
        .enumerate()
        .rev()
        .map(|(i, l)| (i, view::display_time(run, l)))
        .filter(|(_, d)| *d <= model.t)
        .take(120)
        .collect();
    html! {
        <section class="panel log" aria-label="Event log">
            <h2>{ "Event log" }</h2>
            <ol class="log-rows" data-testid="event-log">
                { for rows.into_iter().map(|(i, d)| {
                    let line = &run.trace[i];
                    let flow = line.packet().map(|p| run.packet(p).flow);
                    let onclick = dispatch.reform(move |_| Action::SeekAndSelect(d, flow));
                    let selected = flow.is_some() && flow == model.selected;
                    html! {
                        <li class={if selected { "selected" } else { "" }}>
                            <button class="log-row" {onclick} title="Go to this moment and inspect it">
                                <span class="mono t">{ format!("{:>10}", line.time.to_string()) }</span>
                                <span class="mono">{ run.render(line) }</span>
                            </button>
                        </li>
                    }
                }) }
            </ol>
        </section>
    }
}

fn header_cells(before: Header, after: Header) -> Html {
    let cell = |a: String, b: String| -> Html {
        if a == b {
            html! { <span>{ b }</span> }
        } else {
            html! { <><del>{ a }</del>{ " → " }<mark>{ b }</mark></> }
        }
    };
    html! {
        <>
            <td class="mono">{ cell(before.src.to_string(), after.src.to_string()) }</td>
            <td class="mono">{ cell(before.dst.to_string(), after.dst.to_string()) }</td>
        </>
    }
}

/// Downloads of the inspected flow as a sequence diagram (`export`).
fn export_links(run: &svcsim_core::record::Run, flow: &svcsim_core::record::FlowRecord) -> Html {
    let seq = crate::export::Sequence::of(run, flow);
    let mermaid = seq.mermaid();
    let id = flow.id.0;
    html! {
        <div class="export">
            <span class="muted small">{ "Export:" }</span>
            <a class="btn small" data-testid="export-svg" download={format!("svcsim-flow-{id}.svg")}
               href={crate::export::data_url("image/svg+xml", &seq.svg())}>{ "sequence diagram (SVG)" }</a>
            <a class="btn small" data-testid="export-mermaid" download={format!("svcsim-flow-{id}.mmd")}
               href={crate::export::data_url("text/plain", &mermaid)}>{ "Mermaid" }</a>
            <details>
                <summary class="small">{ "Mermaid text" }</summary>
                <pre class="mono small" data-testid="mermaid-text">{ mermaid }</pre>
            </details>
        </div>
    }
}

fn inspector(model: &Model, e: &Engine, dispatch: &Callback<Action>) -> Html {
    let run = e.sim.record();
    let Some(flow) = model.selected.and_then(|f: FlowId| run.get_flow(f)) else {
        let mode = e.sim.cluster().config.kube_proxy.mode;
        return html! {
            <section class="panel inspector" aria-label="Packet inspector">
                <h2>{ "Packet inspector" }</h2>
                <p class="muted">{ format!("Click a packet or an event-log row to see every hop: the headers before and after, the NAT that changed them, the {mode} rules that fired and the conntrack entry.") }</p>
            </section>
        };
    };
    let names = &run.names;
    let who = match flow.initiator {
        Initiator::Client(c) => names.clients[c].clone(),
        Initiator::Probe { node, .. } => format!("health probe of {}", names.nodes[node]),
    };
    let steps = explain(run, e.sim.cluster(), flow);
    html! {
        <section class="panel inspector" aria-label="Packet inspector" data-testid="inspector">
            <h2>{ format!("Flow #{} — {who}", flow.id.0) }</h2>
            <p class="mono">{ format!("{} {} · {} · started {} s", flow.header.proto, flow.header, flow.outcome.label(), flow.start) }</p>
            <button class="btn small" onclick={dispatch.reform(|_| Action::Select(None))}>{ "Close" }</button>
            { export_links(run, flow) }
            <table class="hops">
                <thead><tr><th>{ "true time (s)" }</th><th>{ "packet" }</th><th>{ "at" }</th><th>{ "source" }</th><th>{ "destination" }</th><th>{ "what happened" }</th></tr></thead>
                <tbody>
                    { for run.packets_of(flow).flat_map(|p| p.hops.iter().map(move |h| (p, h))).map(|(p, h)| {
                        let prose = run.hop_prose(p, h);
                        html! {
                            <>
                                <tr>
                                    <td class="mono">{ h.time.to_string() }</td>
                                    <td>{ format!("{:?}", p.kind).to_lowercase() }</td>
                                    <td>{ short(&names.place(h.at), 28) }</td>
                                    { header_cells(h.before, h.after()) }
                                    <td>{ prose.predicate }</td>
                                </tr>
                                if !h.rules.is_empty() || h.conntrack.is_some() {
                                    <tr class="rules"><td colspan="6">
                                        <ol class="mono small">{ for h.rules.rules().iter().map(|r| html! { <li>{ r.to_string() }</li> }) }</ol>
                                        if let Some(ct) = &h.conntrack { <p class="mono small">{ format!("conntrack: {ct}") }</p> }
                                    </td></tr>
                                }
                            </>
                        }
                    }) }
                </tbody>
            </table>
            <ol class="explain">{ for steps.iter().map(|s| html! { <li>{ s.trim_start().to_string() }</li> }) }</ol>
        </section>
    }
}

fn editor(model: &Model, dispatch: &Callback<Action>) -> Html {
    if !model.editor.open {
        return html! {};
    }
    let on_input = dispatch.reform(|ev: InputEvent| {
        let area: HtmlTextAreaElement = ev.target_unchecked_into();
        Action::EditYaml(area.value())
    });
    html! {
        <section class="panel editor" aria-label="Scenario YAML" ondragover={Callback::from(|e: DragEvent| e.prevent_default())} ondrop={on_drop(dispatch)}>
            <h2>{ "Your scenario" }</h2>
            <p class="muted small">{ "Paste Kubernetes YAML (Deployments, Services, Pods, EndpointSlices), or what kubectl get nodes,svc,deploy -o yaml (or -o json) prints for your cluster, and optionally a kind: Simulation document; or drop one or more files here. A node's iptables-save or nft list ruleset output opens a form to trace a packet through it. Problems are listed with their line; the current run stays until the YAML is valid." }</p>
            <textarea aria-label="Scenario YAML" data-testid="yaml" spellcheck="false" rows="18" value={model.editor.text.clone()} oninput={on_input} />
            <div class="editor-actions">
                <button class="btn" data-testid="apply-yaml" onclick={dispatch.reform(|_| Action::ApplyYaml)}>
                    { if svcsim_core::dump::looks_like_dump(&model.editor.text) { "Read this dump" } else { "Run this YAML" } }
                </button>
            </div>
            if !model.editor.errors.is_empty() {
                <ul class="yaml-errors" data-testid="yaml-errors" role="alert">
                    { for model.editor.errors.iter().map(|e| html! { <li class="mono">{ e.clone() }</li> }) }
                </ul>
            }
            if let Some(t) = &model.editor.trace { { trace_form(t, Format::of(&model.editor.text), dispatch) } }
        </section>
    }
}

/// A pasted dump (`iptables-save`, `nft list ruleset`): a packet to type, and its walk through
/// the node's rules, as `svcsim trace` prints it (docs/cli.md).
fn trace_form(t: &Trace, format: Option<Format>, dispatch: &Callback<Action>) -> Html {
    let tool = format.unwrap_or(Format::IptablesSave).tool();
    let field = |f: TraceField, label: &'static str, value: &str, hint: &'static str| {
        let oninput = dispatch.reform(move |ev: InputEvent| {
            let input: HtmlInputElement = ev.target_unchecked_into();
            Action::TraceInput(f, input.value())
        });
        html! {
            <label class="row">{ label }
                <input class="mono" aria-label={label} placeholder={hint} value={value.to_string()} {oninput} />
            </label>
        }
    };
    let on_proto = dispatch.reform(|ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        Action::TraceProtocol(match sel.value().as_str() {
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => Protocol::Tcp,
        })
    });
    html! {
        <div class="trace" data-testid="trace">
            <h3>{ "Trace a packet through these rules" }</h3>
            <p class="muted small">{ format!("This is a node's {tool} output: it is walked as the kernel walks it, every chain of every table included. The dump does not say which addresses are the node's, nor the packet's interfaces; give them, or the trace names what it could not decide.") }</p>
            { field(TraceField::Src, "source ", &t.src, "10.244.1.5 or IP:PORT") }
            { field(TraceField::Dst, "destination ", &t.dst, "10.0.0.10:80") }
            <label class="row">{ "protocol " }
                <select aria-label="Protocol" onchange={on_proto}>
                    <option value="tcp" selected={t.protocol == Protocol::Tcp}>{ "TCP" }</option>
                    <option value="udp" selected={t.protocol == Protocol::Udp}>{ "UDP" }</option>
                    <option value="sctp" selected={t.protocol == Protocol::Sctp}>{ "SCTP" }</option>
                </select>
            </label>
            { field(TraceField::NodeIps, "node IPs ", &t.node_ips, "10.240.0.5,10.244.1.1") }
            { field(TraceField::InInterface, "in interface ", &t.in_interface, "eth0, cbr0") }
            { field(TraceField::OutInterface, "out interface ", &t.out_interface, "eth0, cbr0") }
            <button class="btn" data-testid="trace-run" onclick={dispatch.reform(|_| Action::TraceDump)}>{ "Trace" }</button>
            { match &t.report {
                None => html! {},
                Some(Err(why)) => html! { <p class="yaml-errors mono" role="alert">{ why.clone() }</p> },
                Some(Ok(r)) => trace_report(r),
            } }
        </div>
    }
}

fn trace_report(r: &Report) -> Html {
    let p = &r.packet;
    let verdict = match &p.reason {
        Some(reason) => format!("{} (\"{reason}\")", p.verdict),
        None => p.verdict.to_string(),
    };
    let eps: Vec<String> = p.endpoints.iter().map(|e| e.to_string()).collect();
    let list = |title: &'static str, items: &[String]| {
        if items.is_empty() {
            return html! {};
        }
        html! { <><h4>{ title }</h4><ul class="mono small">{ for items.iter().map(|i| html! { <li>{ i.clone() }</li> }) }</ul></> }
    };
    let services: Vec<String> = r.services.iter().map(|(c, s)| format!("{c} → {s}")).collect();
    html! {
        <div class="trace-result" data-testid="trace-result" aria-live="polite">
            <p class="mono"><strong>{ verdict }</strong></p>
            if !eps.is_empty() { <p class="mono small">{ format!("endpoints the rules can pick: {}", eps.join(", ")) }</p> }
            <p class="mono small">{ format!("masquerade (SNAT): {}", if p.masquerade { "yes" } else { "no" }) }</p>
            <h4>{ "Rules that matched" }</h4>
            <ol class="mono small">{ for p.rules.iter().zip(&r.rule_services).map(|(rule, svc)| html! {
                <li>{ rule.clone() }if let Some(s) = svc { <span class="muted">{ format!("  # {s}") }</span> }</li>
            }) }</ol>
            { list("kube-proxy's chains and their Services", &services) }
            { list("Not decided (the walk stopped here)", &r.undecided) }
            { list("Unusual for a node kube-proxy programs", &r.unusual) }
            { list("Not walked", &r.not_walked) }
        </div>
    }
}

/// Files dropped on the editor, read as text (in the order dropped) and run as one scenario.
fn on_drop(dispatch: &Callback<Action>) -> Callback<DragEvent> {
    let dispatch = dispatch.clone();
    Callback::from(move |ev: DragEvent| {
        ev.prevent_default();
        let Some(list) = ev.data_transfer().and_then(|dt| dt.files()) else { return };
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        let dispatch = dispatch.clone();
        yew::platform::spawn_local(async move {
            let mut read = Vec::new();
            for f in files {
                read.push((f.name(), read_text(&f).await));
            }
            dispatch.emit(Action::DropFiles(read));
        });
    })
}

async fn read_text(f: &web_sys::File) -> Result<String, String> {
    let limit = svcsim_core::manifest::limits::MAX_YAML_BYTES;
    if f.size() > limit as f64 {
        return Err(format!("larger than {limit} bytes (1 MiB), svcsim's limit for a scenario"));
    }
    // The bytes, decoded here as the CLI decodes a file: the browser's own text() would sniff a
    // UTF-16 byte-order mark and turn a binary file into text.
    let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(f.array_buffer()).await else {
        return Err("the browser could not read it".into());
    };
    String::from_utf8(js_sys::Uint8Array::new(&buffer).to_vec())
        .map_err(|e| format!("not UTF-8 text at byte {} (is it a binary file?)", e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_like_the_portal() {
        assert_eq!(pct(50.0), "50%");
        assert_eq!(pct(46.153846), "46.15%");
        assert_eq!(pct(83.3333), "83.33%");
        assert_eq!(pct(37.5), "37.5%");
        assert_eq!(clock(75.4), "75.40 s");
    }
}
