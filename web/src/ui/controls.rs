//! The cluster controls: externalTrafficPolicy, affinity, replicas and the shape (nodes, provider, CNI, mode, client).

use svcsim_core::cluster::{NetworkPlugin, Provider, ProxyMode, TrafficPolicy};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::model::{Action, Shape};

use super::RunRef;

/// The externalTrafficPolicy radio group, shared by the full page and the embed.
pub(super) fn policy_radios(policy: TrafficPolicy, dispatch: &Callback<Action>) -> Html {
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

/// What the controls show: the run's cluster, and the controls' state at the cursor.
#[derive(Properties, PartialEq)]
pub(super) struct ControlsProps {
    pub run: RunRef,
    pub policy: TrafficPolicy,
    pub replicas: Option<u32>,
    pub affinity: bool,
    pub shape: Shape,
    pub compare: bool,
    pub dispatch: Callback<Action>,
}

#[function_component(Controls)]
pub(super) fn controls(p: &ControlsProps) -> Html {
    let e = p.run.0.borrow();
    let dispatch = &p.dispatch;
    let cluster = e.sim.cluster();
    let replicas = p.replicas;
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
    let inside = p.shape.client_inside;
    let affinity = p.affinity;
    html! {
        <section class="panel controls" aria-label="Controls">
            <h2>{ "Change the cluster" }</h2>
            <p class="muted small">{ "Policy, replicas and affinity apply at the current time, like kubectl patch: watch the transition." }</p>
            if p.compare {
                <p class="small">{ "Comparing both policies side by side: go back to one run to switch it." }</p>
            } else {
                { policy_radios(p.policy, dispatch) }
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
