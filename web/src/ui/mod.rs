//! The page's panels, drawn from the model and the view model: topology with packets, controls,
//! what the app sees, health probes, time controls, event log, inspector, legend and the YAML
//! editor. Every name from a scenario is rendered as text, never as markup.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::frame::Frame;
use crate::model::{Action, CompareKind, Engine, Model, PRESETS};
#[cfg(test)]
use crate::view::pct;

mod compare;
mod controls;
mod editor;
mod inspect;
mod lesson;
mod probes;
mod seen;
mod time;
mod topology;
use compare::compare_view;
use controls::{Controls, policy_radios};
use editor::EditorPanel;
use inspect::{EventLog, Inspector};
use lesson::lesson_panel;
use probes::{EmbedProbes, Probes};
use seen::AppSeen;
use time::{Legend, time_controls};
use topology::{orientation, topology};

/// The page's run, compared by identity: a panel given one is redrawn when the run is replaced
/// or its own narrow props change, not on every animation frame.
#[derive(Clone)]
pub struct RunRef(pub Rc<RefCell<Engine>>);

impl PartialEq for RunRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// The scenario clock as shown: `75.40 s`.
pub fn clock(t: f64) -> String {
    format!("{t:.2} s")
}

/// While playing, the event log moves on every quarter of a second of wall time (at any speed);
/// paused, it shows every event up to the cursor.
const LOG_EVERY: f64 = 0.25;

/// The frame each view of the page draws at the cursor: the page's run, drawn as its topology
/// is arranged (tall in the compare view's panes and on a phone).
fn frame_of(model: &Model, e: &Engine, pane: bool) -> Frame {
    let log_every = if model.playing { LOG_EVERY * model.speed } else { 0.0 };
    Frame::at(e, model.t, orientation(model, pane), model.selected, model.reduced_motion, log_every)
}

pub fn page(model: &Model, dispatch: &Callback<Action>) -> Html {
    if model.embed {
        return embed_page(model, dispatch);
    }
    let e = model.engine.borrow();
    let frame = frame_of(model, &e, model.twin.is_some());
    let rr = RunRef(model.engine.clone());
    let answered = frame.answer.as_ref().map_or(0.0, |a| a.at);
    html! {
        <div class="app" data-testid="app-root">
            { header(model, dispatch) }
            { notices(model, dispatch) }
            <div class="layout">
                <div class="main-col">
                <section class="stage" aria-label="Topology and time">
                    if let Some(twin) = &model.twin {
                        { compare_view(model, &frame, twin, dispatch) }
                    } else {
                        { topology(model, &model.engine, &frame.picture, dispatch) }
                    }
                    { time_controls(model, &e, &frame.narration, dispatch) }
                    <Legend />
                </section>
                // The log and the inspector continue the left column, so it is as long as the side.
                <div class="lower">
                    <EventLog run={rr.clone()} upto={frame.log_upto} playing={model.playing} selected={model.selected} dispatch={dispatch.clone()} />
                    <Inspector run={rr.clone()} selected={model.selected} progress={frame.progress} dispatch={dispatch.clone()} />
                </div>
                </div>
                <aside class="side">
                    { lesson_panel(model, dispatch) }
                    // In compare mode the table beside the panes says this for both runs.
                    if model.twin.is_none() {
                        <AppSeen run={rr.clone()} at={answered} dispatch={dispatch.clone()} />
                        <Probes run={rr.clone()} panel={frame.probes.clone()} changes={frame.changes} t={frame.t} />
                    }
                    <Controls run={rr.clone()} policy={model.policy_at()} replicas={model.replicas_at()} affinity={model.affinity_at()}
                              shape={model.shape.clone()} compare={model.twin.is_some()} dispatch={dispatch.clone()} />
                </aside>
            </div>
            <EditorPanel editor={model.editor.clone()} dispatch={dispatch.clone()} />
            <footer class="app-footer">{ format!("svcsim-core {}", svcsim_core::VERSION) }</footer>
        </div>
    }
}

/// A header button that turns a compare view of `kind` on, or off when it is showing.
fn compare_button(
    model: &Model,
    kind: CompareKind,
    label: &'static str,
    title: &'static str,
    dispatch: &Callback<Action>,
) -> Html {
    let on = model.twin.is_some() && model.comparing == kind;
    let testid = if kind == CompareKind::Policy { "compare-toggle" } else { "compare-dsr" };
    html! {
        <button class="btn" data-testid={testid} aria-pressed={on.to_string()} {title}
            onclick={dispatch.reform(move |_| Action::Compare((!on).then_some(kind)))}>{ label }</button>
    }
}

/// The compact layout for an iframe (`embed=1`): the topology, what the app prints, the probe
/// status with its chart, the policy toggle and play, in 700×450 and down to 360 px wide.
fn embed_page(model: &Model, dispatch: &Callback<Action>) -> Html {
    let e = model.engine.borrow();
    let frame = frame_of(model, &e, false);
    let text = frame.answer.as_ref().map_or("…", |a| a.first_line()).to_string();
    let full = format!("{}#{}", crate::browser::full_page_url(), model.full_page_fragment());
    let title = model.preset.clone().unwrap_or_else(|| "your YAML".into());
    html! {
        <div class="app embed" data-testid="app-root">
            <div class="embed-bar">
                <span><strong>{ "svcsim" }</strong>{ format!(" · {title}") }</span>
                <a href={full} target="_blank" rel="noopener" data-testid="open-full">{ "Open in full simulator ↗" }</a>
            </div>
            { notices(model, dispatch) }
            { topology(model, &model.engine, &frame.picture, dispatch) }
            <div class="embed-panel">
                <div class="embed-controls">
                <div class="embed-time">
                    <button class="btn play" data-testid="play" aria-label={if model.playing { "Pause (Space)" } else { "Play (Space)" }} onclick={dispatch.reform(|_| Action::TogglePlay)}>
                        { if model.playing { "Pause" } else { "Play" } }
                    </button>
                    <span class="clock" data-testid="clock">{ format!("t = {}", clock(frame.t)) }</span>
                </div>
                { policy_radios(model.policy_at(), dispatch) }
                <div class="embed-out">
                    <span class="muted small">{ "the app prints" }</span>
                    <span class="app-output" data-testid="app-output">{ text }</span>
                </div>
                </div>
                <EmbedProbes run={RunRef(model.engine.clone())} panel={frame.probes.clone()} changes={frame.changes} t={frame.t} />
            </div>
            <p class="narration" aria-live="polite" data-testid="narration">{ frame.narration.clone() }</p>
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
                    { "Kubernetes Service routing, simulated: a request crosses the cloud load balancer and the node's service proxy — kube-proxy's DNAT (and SNAT under externalTrafficPolicy: Cluster), or Cilium's eBPF — and reaches the pod, whose app prints the address it sees." }
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
                { compare_button(model, CompareKind::Policy, "Compare Cluster | Local", "Cluster and Local side by side, on the same traffic", dispatch) }
                if model.engine.borrow().sim.cluster().config.cilium.is_some() || model.comparing == CompareKind::Dsr && model.twin.is_some() {
                    { compare_button(model, CompareKind::Dsr, "Compare SNAT | DSR", "Cilium's SNAT and DSR modes side by side under Cluster, on the same traffic", dispatch) }
                }
                <button class="btn" data-testid="share" title="Pause here and copy a link that opens this exact frame"
                    onclick={dispatch.reform(|_| Action::Share)}>{ "Share this frame" }</button>
            </div>
            if let Some(fragment) = &model.shared {
                <div class="share" role="status" data-testid="share-panel">
                    <label for="share-url">{ "Link to this frame (copied to the clipboard when the browser allows):" }</label>
                    <input id="share-url" data-testid="share-url" readonly=true
                        value={format!("{}#{fragment}", crate::browser::page_url())} />
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
