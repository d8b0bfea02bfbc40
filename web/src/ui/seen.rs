//! What the app sees: the browser's answer and the source addresses each pod has seen.

use std::fmt::Write as _;

use yew::prelude::*;

use crate::model::Action;

use super::RunRef;
use crate::view;

use super::short;

/// What the panel shows: the run as of `at`, the moment its latest answer reached the client.
#[derive(Properties, PartialEq)]
pub(super) struct SeenProps {
    pub run: RunRef,
    pub at: f64,
    pub dispatch: Callback<Action>,
}

#[function_component(AppSeen)]
pub(super) fn app_seen(p: &SeenProps) -> Html {
    let e = p.run.0.borrow();
    let run = e.sim.record();
    let out = view::app_output(run, p.at);
    let seen = view::seen_by_pod(run, p.at);
    let dispatch = &p.dispatch;
    // The address the client asked for: the latest answer's request, else the first request
    // (an IPv6 frontend is `http://[2001:db8:113::10]/`).
    let asked = out.as_ref().and_then(|(_, _, f)| run.get_flow(*f)).or_else(|| run.requests().next());
    let url = asked.map_or_else(|| "http://service/".into(), |f| view::url(run.asked(f)));
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
                    // An IPv6 address fits one line at a smaller size rather than breaking.
                    <span class={classes!("app-output", (text.chars().count() > 21).then_some("long"))} data-testid="app-output">{ text }</span>
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
