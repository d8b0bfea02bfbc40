//! The cluster controls: externalTrafficPolicy, affinity, replicas and the shape (nodes, provider, CNI, dataplane, IP family, client).

use svcsim_core::cluster::{
    CiliumLbAlgorithm, CiliumLbMode, DataplaneKind, NetworkPlugin, Provider, ProxyMode, TrafficPolicy,
};
use svcsim_core::manifest::DataplaneOverride;
use svcsim_core::net::IpFamily;
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
    let dataplane = cluster.config.dataplane();
    let cilium = cluster.config.cilium.as_ref().map(|c| (c.mode, c.algorithm));
    let on_dataplane = dispatch.reform(|ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        Action::Dataplane(match sel.value().as_str() {
            "nftables" => DataplaneOverride::KubeProxy(ProxyMode::Nftables),
            "cilium" => DataplaneOverride::Cilium { mode: None, algorithm: None },
            _ => DataplaneOverride::KubeProxy(ProxyMode::Iptables),
        })
    });
    let on_cilium = |field: &'static str| {
        let (mode, algorithm) = cilium.unwrap_or_default();
        dispatch.reform(move |ev: Event| {
            let value = ev.target_unchecked_into::<HtmlSelectElement>().value();
            let (mut mode, mut algorithm) = (mode, algorithm);
            match (field, value.as_str()) {
                ("mode", "dsr") => mode = CiliumLbMode::Dsr,
                ("mode", "hybrid") => mode = CiliumLbMode::Hybrid,
                ("mode", _) => mode = CiliumLbMode::Snat,
                (_, "maglev") => algorithm = CiliumLbAlgorithm::Maglev,
                _ => algorithm = CiliumLbAlgorithm::Random,
            }
            Action::Dataplane(DataplaneOverride::Cilium { mode: Some(mode), algorithm: Some(algorithm) })
        })
    };
    // The IP family: the file's own stack, or dual-stack as if patched so; and over which
    // family the clients connect.
    let file_dual = cluster.config.is_dual_stack() && !p.shape.dual_stack;
    let stack = match crate::view::shown_family(e.sim.scenario(), cluster) {
        None => "single",
        Some(IpFamily::Ipv4) => "ipv4",
        Some(IpFamily::Ipv6) => "ipv6",
    };
    let on_family = dispatch.reform(move |ev: Event| {
        let sel: HtmlSelectElement = ev.target_unchecked_into();
        match sel.value().as_str() {
            "ipv4" => Action::Family { dual_stack: !file_dual, family: Some(IpFamily::Ipv4) },
            "ipv6" => Action::Family { dual_stack: !file_dual, family: Some(IpFamily::Ipv6) },
            _ => Action::Family { dual_stack: false, family: None },
        }
    });
    let single = cluster.config.primary_family();
    let inside = p.shape.client_inside;
    let affinity = p.affinity;
    html! {
        <section class="panel controls" aria-label="Controls">
            <h2>{ "Change the cluster" }</h2>
            <p class="muted small">{ "Policy, replicas and affinity apply at the current time, like kubectl patch: watch the transition." }</p>
            if p.compare {
                <p class="small">{ "Comparing two runs side by side: go back to one run to switch the policy." }</p>
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
            <label class="row">{ "dataplane " }
                <select aria-label="Dataplane" data-testid="dataplane" onchange={on_dataplane}>
                    <option value="iptables" selected={dataplane == DataplaneKind::KubeProxy(ProxyMode::Iptables)}>{ "kube-proxy iptables" }</option>
                    <option value="nftables" selected={dataplane == DataplaneKind::KubeProxy(ProxyMode::Nftables)}>{ "kube-proxy nftables" }</option>
                    <option value="cilium" selected={dataplane == DataplaneKind::Cilium}>{ "Cilium eBPF" }</option>
                </select>
            </label>
            if let Some((mode, algorithm)) = cilium {
                <label class="row">{ "Cilium mode " }
                    <select aria-label="Cilium loadBalancer.mode" data-testid="cilium-mode" onchange={on_cilium("mode")}>
                        <option value="snat" selected={mode == CiliumLbMode::Snat}>{ "snat" }</option>
                        <option value="dsr" selected={mode == CiliumLbMode::Dsr}>{ "dsr" }</option>
                        <option value="hybrid" selected={mode == CiliumLbMode::Hybrid}>{ "hybrid (DSR for TCP)" }</option>
                    </select>
                </label>
                <label class="row">{ "algorithm " }
                    <select aria-label="Cilium loadBalancer.algorithm" data-testid="cilium-algorithm" onchange={on_cilium("algorithm")}>
                        <option value="random" selected={algorithm == CiliumLbAlgorithm::Random}>{ "random" }</option>
                        <option value="maglev" selected={algorithm == CiliumLbAlgorithm::Maglev}>{ "maglev" }</option>
                    </select>
                </label>
            }
            <label class="row">{ "IP family " }
                <select aria-label="IP family" data-testid="family" onchange={on_family}>
                    if !file_dual {
                        <option value="single" selected={stack == "single"}>{ format!("{single} only") }</option>
                    }
                    <option value="ipv4" selected={stack == "ipv4"}>{ "dual-stack, clients over IPv4" }</option>
                    <option value="ipv6" selected={stack == "ipv6"}>{ "dual-stack, clients over IPv6" }</option>
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
