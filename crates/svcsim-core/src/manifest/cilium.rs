//! Cilium's Helm values in a Simulation: `spec.cluster.cilium`, spelled as in Cilium's chart
//! (`values.yaml`), so a user can paste theirs (`docs/scenarios.md#cilium`). Values svcsim does
//! not model are warnings, as unknown Kubernetes fields are.

use super::read::{self, Cx, Map};
use super::tree::{Node, Pos, Value};
use crate::cluster::{CiliumConfig, CiliumLbAlgorithm, CiliumLbMode, DsrDispatch, RoutingMode};

/// The block as read: Cilium's configuration when it replaces kube-proxy, `None` when
/// `kubeProxyReplacement` is false or absent (kube-proxy then handles Services).
#[derive(Debug, Clone)]
pub(super) struct CiliumSpec {
    pub config: Option<CiliumConfig>,
}

/// Reads `spec.cluster.cilium`.
pub(super) fn read(cx: &mut Cx<'_>, m: &mut Map<'_>) -> CiliumSpec {
    let path = m.path.clone();
    let pos = m.node.pos;
    let mut c = CiliumConfig::default();
    let given = m.peek("kubeProxyReplacement").is_some();
    let kpr = m
        .get(cx, "kubeProxyReplacement")
        .and_then(|n| kube_proxy_replacement(cx, n, &format!("{path}.kubeProxyReplacement")));
    if let Some(lb) = m.get(cx, "loadBalancer")
        && let Some(mut lm) = Map::new(cx, lb, &format!("{path}.loadBalancer"))
    {
        if let Some(n) = lm.get(cx, "mode") {
            let p = lm.child("mode");
            match read::string(cx, n, &p).as_deref() {
                Some("snat") => c.mode = CiliumLbMode::Snat,
                Some("dsr") => c.mode = CiliumLbMode::Dsr,
                Some("hybrid") => c.mode = CiliumLbMode::Hybrid,
                Some("annotation") => {
                    cx.error(&p, n.pos, "\"annotation\" (a mode per Service) is not simulated: use snat, dsr or hybrid")
                }
                Some(other) => cx.error(&p, n.pos, format!("{other:?} is not one of snat, dsr, hybrid")),
                None => {}
            }
        }
        if let Some(n) = lm.get(cx, "algorithm") {
            match read::one_of(cx, n, &lm.child("algorithm"), &["random", "maglev"]).as_deref() {
                Some("maglev") => c.algorithm = CiliumLbAlgorithm::Maglev,
                Some(_) => c.algorithm = CiliumLbAlgorithm::Random,
                None => {}
            }
        }
        if let Some(n) = lm.get(cx, "dsrDispatch") {
            let p = lm.child("dsrDispatch");
            match read::string(cx, n, &p).as_deref() {
                Some("opt") => c.dsr_dispatch = DsrDispatch::Opt,
                Some("geneve") => c.dsr_dispatch = DsrDispatch::Geneve,
                Some("ipip") => cx.error(&p, n.pos, "\"ipip\" is not simulated: use opt or geneve"),
                Some(other) => cx.error(&p, n.pos, format!("{other:?} is not one of opt, geneve, ipip")),
                None => {}
            }
        }
        lm.finish(cx);
    }
    if let Some(mg) = m.get(cx, "maglev")
        && let Some(mut mm) = Map::new(cx, mg, &format!("{path}.maglev"))
    {
        if let Some(n) = mm.get(cx, "tableSize")
            && let Some(size) = read::integer(cx, n, &mm.child("tableSize"), 1, i64::from(u32::MAX))
        {
            match CiliumConfig::MAGLEV_TABLE_SIZES.iter().find(|s| i64::from(**s) == size) {
                Some(s) => c.maglev_table_size = *s,
                None => {
                    let sizes: Vec<String> = CiliumConfig::MAGLEV_TABLE_SIZES.iter().map(|s| s.to_string()).collect();
                    cx.error(
                        &mm.child("tableSize"),
                        n.pos,
                        format!("{size} is not a Maglev table size Cilium accepts ({})", sizes.join(", ")),
                    );
                }
            }
        }
        if let Some(n) = mm.get(cx, "hashSeed")
            && let Some(seed) = read::string(cx, n, &mm.child("hashSeed"))
        {
            if crate::cilium::maglev::Seeds::from_hash_seed(&seed).is_some() {
                c.maglev_hash_seed = seed;
            } else {
                cx.error(
                    &mm.child("hashSeed"),
                    n.pos,
                    "not base64 of 12 bytes (`head -c12 /dev/urandom | base64 -w0` makes one)",
                );
            }
        }
        mm.finish(cx);
    }
    if let Some(s) = m.get(cx, "socketLB")
        && let Some(mut sm) = Map::new(cx, s, &format!("{path}.socketLB"))
    {
        if let Some(n) = sm.get(cx, "enabled") {
            c.socket_lb = read::boolean(cx, n, &sm.child("enabled")).unwrap_or(c.socket_lb);
        }
        if let Some(n) = sm.get(cx, "hostNamespaceOnly") {
            c.socket_lb_host_namespace_only = read::boolean(cx, n, &sm.child("hostNamespaceOnly")).unwrap_or(false);
        }
        sm.finish(cx);
    }
    if let Some(np) = m.get(cx, "nodePort")
        && let Some(mut nm) = Map::new(cx, np, &format!("{path}.nodePort"))
    {
        if let Some(n) = nm.get(cx, "enableHealthCheck") {
            c.health_check_node_port = read::boolean(cx, n, &nm.child("enableHealthCheck")).unwrap_or(true);
        }
        nm.finish(cx);
    }
    if let Some(n) = m.get(cx, "kubeProxyReplacementHealthzBindAddr") {
        c.healthz_bind = healthz_bind(cx, n, &format!("{path}.kubeProxyReplacementHealthzBindAddr"));
    }
    let mut tunnel_protocol = None;
    if let Some(n) = m.get(cx, "routingMode") {
        match read::one_of(cx, n, &format!("{path}.routingMode"), &["tunnel", "native"]).as_deref() {
            Some("native") => c.routing_mode = RoutingMode::Native,
            Some(_) => c.routing_mode = RoutingMode::Tunnel,
            None => {}
        }
    }
    if let Some(n) = m.get(cx, "tunnelProtocol") {
        tunnel_protocol =
            read::one_of(cx, n, &format!("{path}.tunnelProtocol"), &["vxlan", "geneve"]).map(|p| (p, n.pos));
    }
    if let Some(n) = m.get(cx, "serviceNoBackendResponse") {
        c.no_backend_reject = read::one_of(cx, n, &format!("{path}.serviceNoBackendResponse"), &["reject", "drop"])
            .as_deref()
            != Some("drop");
    }
    if let Some(b) = m.get(cx, "bpf")
        && let Some(mut bm) = Map::new(cx, b, &format!("{path}.bpf"))
    {
        if let Some(n) = bm.get(cx, "masquerade") {
            c.bpf_masquerade = read::boolean(cx, n, &bm.child("masquerade")).unwrap_or(false);
        }
        if let Some(n) = bm.get(cx, "lbExternalClusterIP") {
            c.external_cluster_ip = read::boolean(cx, n, &bm.child("lbExternalClusterIP")).unwrap_or(false);
        }
        bm.finish(cx);
    }
    check_dsr(cx, &path, pos, &c, tunnel_protocol);
    match kpr {
        Some(true) => CiliumSpec { config: Some(c) },
        Some(false) => {
            cx.warn(
                &format!("{path}.kubeProxyReplacement"),
                pos,
                "false: kube-proxy still handles Services, so svcsim runs kube-proxy and Cilium's other values here are not used",
            );
            CiliumSpec { config: None }
        }
        // An unreadable value has its error already.
        None if given => CiliumSpec { config: None },
        None => {
            cx.warn(
                &path,
                pos,
                "kubeProxyReplacement is not set (Cilium's default is false): kube-proxy handles Services, so svcsim runs kube-proxy; say kubeProxyReplacement: true to simulate Cilium's eBPF service handling",
            );
            CiliumSpec { config: None }
        }
    }
}

/// `kubeProxyReplacement`: `true` or `false` (as a boolean or a string, as Helm takes it); the
/// pre-1.14 `strict` means true and `disabled` false, `partial` is no longer a value.
fn kube_proxy_replacement(cx: &mut Cx<'_>, n: &Node, path: &str) -> Option<bool> {
    let Value::Scalar { text, .. } = &n.value else {
        cx.error(path, n.pos, format!("expected true or false, found {}", n.type_name()));
        return None;
    };
    match text.as_str() {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        "strict" => {
            cx.warn(path, n.pos, "\"strict\" is Cilium 1.13's spelling of true: read as true");
            Some(true)
        }
        "disabled" => {
            cx.warn(path, n.pos, "\"disabled\" is Cilium 1.13's spelling of false: read as false");
            Some(false)
        }
        other => {
            cx.error(path, n.pos, format!("{other:?} is not true or false (\"partial\" was removed in Cilium 1.14)"));
            None
        }
    }
}

/// `0.0.0.0:10256` or `[::]:10256`: the healthz port; empty for off.
fn healthz_bind(cx: &mut Cx<'_>, n: &Node, path: &str) -> Option<u16> {
    let text = read::string(cx, n, path)?;
    if text.is_empty() {
        return None;
    }
    match text.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).filter(|p| *p != 0) {
        Some(port) => Some(port),
        None => {
            cx.error(path, n.pos, format!("{text:?} is not an address and port like 0.0.0.0:10256"));
            None
        }
    }
}

/// DSR's dispatch needs a matching network: the IP option only crosses natively routed nodes,
/// and in tunnel mode the service address rides in a Geneve option, so the tunnel must be
/// Geneve (the agent refuses to start otherwise; `docs/fidelity.md#cilium-dsr`).
fn check_dsr(cx: &mut Cx<'_>, path: &str, pos: Pos, c: &CiliumConfig, tunnel: Option<(String, Pos)>) {
    if c.mode == CiliumLbMode::Snat || c.routing_mode == RoutingMode::Native {
        return;
    }
    let at = cx.pos_of(&format!("{path}.loadBalancer.mode")).unwrap_or(pos);
    match c.dsr_dispatch {
        DsrDispatch::Opt => cx.error(
            &format!("{path}.loadBalancer.dsrDispatch"),
            at,
            format!("loadBalancer.mode {} with dsrDispatch opt needs routingMode: native (in tunnel mode use dsrDispatch: geneve with tunnelProtocol: geneve)", c.mode),
        ),
        DsrDispatch::Geneve if tunnel.as_ref().is_none_or(|(p, _)| p != "geneve") => cx.error(
            &format!("{path}.tunnelProtocol"),
            tunnel.map_or(at, |(_, p)| p),
            "dsrDispatch geneve in tunnel mode needs tunnelProtocol: geneve (the Helm default is vxlan)",
        ),
        DsrDispatch::Geneve => {}
    }
}
