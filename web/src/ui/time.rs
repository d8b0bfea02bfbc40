//! The time controls under the topology (play, step, speed, the scrubber and its markers), the narration line and the legend.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::fragment::SPEEDS;
use crate::layout::Point;
use crate::model::{Action, Engine, MarkerKind, Model};
use crate::view::{self, SpriteKind};

use super::topology::shape;
use super::{RunRef, clock};

/// `narration` is the frame's latest event in words.
pub(super) fn time_controls(model: &Model, e: &Engine, narration: &str, dispatch: &Callback<Action>) -> Html {
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
                <Markers run={RunRef(model.engine.clone())} count={e.markers.len()} {horizon} kept_from={e.kept_from} />
                <input type="range" aria-label="Time (scenario seconds)" data-testid="scrubber" min={format!("{:.2}", e.kept_from)} max={format!("{horizon:.2}")} step="0.05"
                       value={format!("{:.2}", model.t)} oninput={on_scrub} />
            </div>
            <p class="narration" aria-live="polite" data-testid="narration">{ narration.to_string() }</p>
            <p class="muted small">
                { format!("Time-lapse and slow motion: the clock, health probes and the per-minute metric run in true time (at 1× a second is a second; 16× squeezes a minute into 4 s), while every packet hop is drawn over {} s of the clock whatever its real latency — the inspector shows the true times.", view::HOP) }
            </p>
        </div>
    }
}

/// The scrubber's markers: redrawn when there are more of them or the scale changes.
#[derive(Properties, PartialEq)]
pub(super) struct MarkersProps {
    pub run: RunRef,
    pub count: usize,
    pub horizon: f64,
    pub kept_from: f64,
}

#[function_component(Markers)]
pub(super) fn markers(p: &MarkersProps) -> Html {
    let e = p.run.0.borrow();
    let horizon = p.horizon;
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

/// The legend: the same every frame, so drawn once.
#[function_component(Legend)]
pub(super) fn legend() -> Html {
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
