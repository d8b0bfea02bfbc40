//! The YAML editor, dropped files, and the trace form for a pasted node dump.

use std::rc::Rc;

use svcsim_core::dump::{Format, Report};
use svcsim_core::net::Protocol;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::model::{Action, Editor, Trace, TraceField};

#[derive(Properties, PartialEq)]
pub(super) struct EditorProps {
    pub editor: Rc<Editor>,
    pub dispatch: Callback<Action>,
}

/// The editor panel, redrawn only when the editor's state changes.
#[function_component(EditorPanel)]
pub(super) fn editor(p: &EditorProps) -> Html {
    let (editor, dispatch) = (&p.editor, &p.dispatch);
    if !editor.open {
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
            <textarea aria-label="Scenario YAML" data-testid="yaml" spellcheck="false" rows="18" value={editor.text.clone()} oninput={on_input} />
            <div class="editor-actions">
                <button class="btn" data-testid="apply-yaml" onclick={dispatch.reform(|_| Action::ApplyYaml)}>
                    { if svcsim_core::dump::looks_like_dump(&editor.text) { "Read this dump" } else { "Run this YAML" } }
                </button>
            </div>
            if !editor.errors.is_empty() {
                <ul class="yaml-errors" data-testid="yaml-errors" role="alert">
                    { for editor.errors.iter().map(|e| html! { <li class="mono">{ e.clone() }</li> }) }
                </ul>
            }
            if let Some(t) = &editor.trace { { trace_form(t, Format::of(&editor.text), dispatch) } }
        </section>
    }
}

/// A pasted dump (`iptables-save`, `nft list ruleset`): a packet to type, and its walk through
/// the node's rules, as `svcsim trace` prints it (docs/cli.md).
pub(super) fn trace_form(t: &Trace, format: Option<Format>, dispatch: &Callback<Action>) -> Html {
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

pub(super) fn trace_report(r: &Report) -> Html {
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
pub(super) fn on_drop(dispatch: &Callback<Action>) -> Callback<DragEvent> {
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
