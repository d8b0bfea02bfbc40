//! The event log and the packet inspector: every hop's headers, NAT, rules and conntrack entry.

use svcsim_core::explain::explain;
use svcsim_core::net::Header;
use svcsim_core::record::{FlowId, Initiator};
use yew::prelude::*;

use crate::model::Action;

use super::RunRef;
use crate::view;

use super::short;

/// What the log shows: the run's lines whose display time is at most `upto` (the last one
/// shown at the cursor), and the selection. While the clock runs (`playing`) it holds fewer
/// rows: each step of a fast run replaces all of them.
#[derive(Properties, PartialEq)]
pub(super) struct LogProps {
    pub run: RunRef,
    pub upto: f64,
    pub playing: bool,
    pub selected: Option<FlowId>,
    pub dispatch: Callback<Action>,
}

/// The log's length paused, and while the clock runs (about what its box shows).
const ROWS: usize = 120;
const LIVE_ROWS: usize = 24;

#[function_component(EventLog)]
pub(super) fn event_log(p: &LogProps) -> Html {
    let e = p.run.0.borrow();
    let run = e.sim.record();
    let dispatch = &p.dispatch;
    // Rows in true-time order, each shown once the animation has reached it; newest first.
    let end = run.trace.partition_point(|l| l.time.as_secs_f64() <= p.upto);
    let rows: Vec<(usize, f64)> = run.trace[..end]
        .iter()
        .enumerate()
        .rev()
        .map(|(i, l)| (i, view::display_time(run, l)))
        .filter(|(_, d)| *d <= p.upto)
        .take(if p.playing { LIVE_ROWS } else { ROWS })
        .collect();
    html! {
        <section class="panel log" aria-label="Event log">
            <h2>{ "Event log" }</h2>
            <ol class="log-rows" data-testid="event-log">
                { for rows.into_iter().map(|(i, d)| {
                    let line = &run.trace[i];
                    let flow = line.packet().map(|p| run.packet(p).flow);
                    let onclick = dispatch.reform(move |_| Action::SeekAndSelect(d, flow));
                    let selected = flow.is_some() && flow == p.selected;
                    // Keyed by trace line: a new line is one inserted row, not every row's text
                    // rewritten (at hundreds of requests a second that relaid out the whole log).
                    html! {
                        <li key={i} class={if selected { "selected" } else { "" }}>
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

pub(super) fn header_cells(before: Header, after: Header) -> Html {
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
pub(super) fn export_links(run: &svcsim_core::record::Run, flow: &svcsim_core::record::FlowRecord) -> Html {
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

/// What the inspector shows: the selected flow, and how far it has got (finished, replied,
/// hops), which grows while the run is computed.
#[derive(Properties, PartialEq)]
pub(super) struct InspectorProps {
    pub run: RunRef,
    pub selected: Option<FlowId>,
    pub progress: Option<(bool, bool, usize)>,
    pub dispatch: Callback<Action>,
}

#[function_component(Inspector)]
pub(super) fn inspector(p: &InspectorProps) -> Html {
    let e = p.run.0.borrow();
    let run = e.sim.record();
    let dispatch = &p.dispatch;
    let Some(flow) = p.selected.and_then(|f: FlowId| run.get_flow(f)) else {
        let config = &e.sim.cluster().config;
        let rules = match config.cilium {
            Some(_) => "Cilium's eBPF program steps and the map entries that decided".to_string(),
            None => format!("the {} rules that fired", config.kube_proxy.mode),
        };
        return html! {
            <section class="panel inspector" aria-label="Packet inspector">
                <h2>{ "Packet inspector" }</h2>
                <p class="muted">{ format!("Click a packet or an event-log row to see every hop: the headers before and after, the NAT that changed them, {rules}, and the conntrack entry.") }</p>
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
        <section class="panel inspector wide" aria-label="Packet inspector" data-testid="inspector">
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
                                    <td>{ format!("{:?}", p.kind).to_ascii_lowercase() }</td>
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
            <ol class="explain">{ for steps.iter().map(|s| html! { <li>{ unnumbered(s) }</li> }) }</ol>
        </section>
    }
}

/// An explanation step without the number `svcsim explain` puts before it: the list numbers it.
fn unnumbered(step: &str) -> String {
    let s = step.trim_start();
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match s[digits..].strip_prefix(". ") {
        Some(rest) if digits > 0 => rest.to_string(),
        _ => s.to_string(),
    }
}
