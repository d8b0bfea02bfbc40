//! Health Probe Status: the last minute, nodes in rotation, each node's last probe and the chart.

use std::rc::Rc;

use yew::prelude::*;

use crate::model::Engine;
use crate::view::{self, ProbePanel, pct};

use super::RunRef;

/// What the panel shows: the probe panel at the cursor and how many changes the chart marks.
/// `t` is the cursor the chart is drawn at; it is not compared, because between changes of
/// `panel` and `changes` the drawing does not depend on it.
#[derive(Properties)]
pub(super) struct ProbesProps {
    pub run: RunRef,
    pub panel: Option<ProbePanel>,
    pub changes: usize,
    pub t: f64,
}

impl PartialEq for ProbesProps {
    fn eq(&self, other: &Self) -> bool {
        (&self.run, &self.panel, self.changes) == (&other.run, &other.panel, other.changes)
    }
}

#[function_component(Probes)]
pub(super) fn probes(props: &ProbesProps) -> Html {
    let e = props.run.0.borrow();
    let cluster = e.sim.cluster();
    let Some(p) = props.panel.clone() else {
        return html! { <section class="panel"><h2>{ "Health probes" }</h2><p class="muted">{ "No cloud load balancer in this scenario." }</p></section> };
    };
    let up = p.in_rotation.iter().filter(|u| **u).count();
    let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let (percent, minute) = match p.last_minute {
        Some((m, v)) => (pct(v), format!("minute {m}")),
        None => ("—".to_string(), "no complete minute yet".to_string()),
    };
    // A dual-stack Service has a frontend (and probes) per family: the panel shows the one the
    // traffic uses.
    let frontend = p.family.map(|f| format!(" · {f} frontend")).unwrap_or_default();
    html! {
        <section class="panel probes" aria-label="Load balancer health probes">
            <h2>{ "Health Probe Status" }<span class="muted small" data-testid="probe-family">{ frontend }</span></h2>
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
            <ProbeChartView chart={Rc::new(crate::chart::probe_chart(&p, &names, e.sim.record(), props.t, crate::chart::FULL))} />
            { chart_exports(&p, &e, props.t) }
        </section>
    }
}

/// Downloads of the probe chart: SVG, and PNG drawn from it in the page.
pub(super) fn chart_exports(p: &view::ProbePanel, e: &Engine, t: f64) -> Html {
    let names: Vec<String> = e.sim.cluster().nodes.iter().map(|n| n.name.clone()).collect();
    let svg = crate::export::probe_chart_svg(p, &names, t);
    let minute = (t / 60.0).floor();
    let png = {
        let svg = svg.clone();
        Callback::from(move |_: MouseEvent| {
            crate::browser::download_png(&svg, format!("svcsim-probes-minute-{minute}.png"))
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

/// The embed's Health Probe Status: the last minute, the nodes in rotation and the compact
/// chart. Compared as [`Probes`] is: `t` alone does not redraw it.
#[function_component(EmbedProbes)]
pub(super) fn embed_probes(props: &ProbesProps) -> Html {
    let Some(p) = &props.panel else { return html! {} };
    let e = props.run.0.borrow();
    let names: Vec<String> = e.sim.cluster().nodes.iter().map(|n| n.name.clone()).collect();
    let up = p.in_rotation.iter().filter(|u| **u).count();
    let percent = p.last_minute.map_or("—".to_string(), |(_, v)| pct(v));
    let chart = crate::chart::probe_chart(p, &names, e.sim.record(), props.t, crate::chart::COMPACT);
    html! {
        <div class="embed-probe">
            <span class="muted small">{ format!("Health Probe Status{}", p.family.map(|f| format!(" ({f})")).unwrap_or_default()) }</span>
            <span><strong data-testid="probe-percent">{ percent }</strong>{ " · in rotation " }<strong data-testid="in-rotation">{ format!("{up}/{}", p.in_rotation.len()) }</strong></span>
            <ProbeChartView chart={Rc::new(chart)} />
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
    let readout = use_state(|| None::<String>);
    let c = &props.chart;
    let crate::chart::Size { width, height, left: x0, right: x1, top: y0, bottom: y1, titled } = c.size;
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
            <svg class="chart" viewBox={format!("0 0 {width} {height}")} width={width.to_string()} height={height.to_string()} role="group" aria-label={c.summary.clone()} data-testid="probe-chart">
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
                if titled {
                    <text x={((x0 + x1) / 2.0).to_string()} y={(height - 6.0).to_string()} text-anchor="middle" class="axis-title">{ "minute of the run" }</text>
                } else {
                    <text x={(x0 - 8.0).to_string()} y={(y1 + 13.0).to_string()} text-anchor="end" class="axis-title">{ "minute" }</text>
                }
                if titled {
                    <text transform={format!("translate(10 {}) rotate(-90)", (y0 + y1) / 2.0)} text-anchor="middle" class="axis-title">{ "probes answered" }</text>
                }
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
                if titled {
                    { "Thick: all nodes; thin, named: each node" }
                    { if c.transitions.is_empty() { "." } else { "; dashed: a change." } }
                }
            </figcaption>
        </figure>
    }
}
