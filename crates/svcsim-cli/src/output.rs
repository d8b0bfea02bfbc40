//! What `svcsim` prints: the run summary (text and the JSON documented in docs/cli.md) and the
//! first-packet report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{Value, json};
use svcsim_core::cluster::{NodeId, ServiceId};
use svcsim_core::dataplane::{Connect, FirstPacket};
use svcsim_core::net::{Header, IpCidr, IpFamily, Protocol};
use svcsim_core::record::{Initiator, Outcome};
use svcsim_core::sim::Sim;

/// Rounds a percentage to two decimals, as the Azure portal shows it.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The minutes `probes.percent` covers: the last complete minute, or the whole run if shorter.
fn summary_minutes(sim: &Sim) -> std::ops::Range<u64> {
    let complete = sim.scenario().duration.as_micros() / 60_000_000;
    if complete == 0 { 0..1 } else { complete - 1..complete }
}

fn node_name(sim: &Sim, n: NodeId) -> String {
    sim.cluster().node(n).name.clone()
}

/// Nodes in rotation at the end, over every load balancer of `family` (every family's when
/// `None`): a node counts if any of them keeps it.
fn in_rotation(sim: &Sim, family: Option<IpFamily>) -> (Vec<String>, usize) {
    let lbs: Vec<_> = sim
        .cluster()
        .services
        .ids()
        .flat_map(|s: ServiceId| sim.load_balancers(s))
        .filter(|(lb, _)| family.is_none_or(|f| lb.family == f))
        .map(|(_, b)| b)
        .collect();
    let mut names = Vec::new();
    for (id, n) in sim.cluster().nodes.iter_enumerated() {
        if lbs.iter().any(|b| b.get(&id).is_some_and(|h| h.in_rotation)) {
            names.push(n.name.clone());
        }
    }
    let total = if lbs.is_empty() { 0 } else { sim.cluster().nodes.len() };
    (names, total)
}

/// The text summary.
pub fn summary(sim: &Sim) -> String {
    let run = sim.record();
    let s = sim.scenario();
    let c = sim.cluster();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {}: seed {}, {}, provider {}, {}, {} nodes",
        s.name,
        s.seed,
        s.duration,
        c.config.provider,
        c.config.network_plugin,
        c.nodes.len()
    );
    if c.config.is_dual_stack() {
        let pair = |a: IpCidr, b: Option<IpCidr>| b.map_or(a.to_string(), |b| format!("{a},{b}"));
        let second = c.config.secondary;
        let _ = writeln!(
            out,
            "dual-stack: clusterCIDR {}, serviceCIDR {}",
            pair(c.config.cluster_cidr, second.map(|s| s.cluster_cidr)),
            pair(c.config.service_cidr, second.map(|s| s.service_cidr)),
        );
    }
    // The dataplane, when it is not kube-proxy (whose mode the nftables presets name).
    if let Some(cilium) = &c.config.cilium {
        let socket_lb = if cilium.socket_lb { "on" } else { "off" };
        let _ = writeln!(
            out,
            "dataplane: Cilium kube-proxy replacement, loadBalancer.mode {}, algorithm {}, socket-LB {socket_lb}",
            cilium.mode, cilium.algorithm
        );
    }
    let mut by_outcome: BTreeMap<&str, usize> = BTreeMap::new();
    for f in run.requests() {
        *by_outcome.entry(f.outcome.label()).or_default() += 1;
    }
    let n = run.requests().count();
    let outcomes: Vec<String> = ["answered", "dropped", "rejected", "in-flight"]
        .iter()
        .filter_map(|k| by_outcome.get(k).map(|v| format!("{v} {k}")))
        .collect();
    let _ = writeln!(out, "requests: {n} sent{}{}", if outcomes.is_empty() { "" } else { ", " }, outcomes.join(", "));
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for f in run.requests() {
        if let Some(r) = f.outcome.reason() {
            *reasons.entry(format!("{}: {r}", f.outcome.label())).or_default() += 1;
        }
    }
    for (r, k) in &reasons {
        let _ = writeln!(out, "  {k:>5} × {r}");
    }
    let mut printed: BTreeMap<&str, usize> = BTreeMap::new();
    for f in run.requests().filter(|f| f.outcome == Outcome::Answered) {
        *printed.entry(f.app_output.as_deref().unwrap_or("")).or_default() += 1;
    }
    if !printed.is_empty() {
        let _ = writeln!(out, "the app printed:");
        let mut rows: Vec<(&&str, &usize)> = printed.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (text, k) in rows {
            let _ = writeln!(out, "  {k:>5} × {}", text.lines().next().unwrap_or(""));
        }
    }
    let hits = run.hits_per_pod();
    let seen = run.sources_seen();
    if !hits.is_empty() {
        let _ = writeln!(out, "hits per pod:");
        for (pod, k) in &hits {
            let p = c.pod(*pod);
            let sources: Vec<String> = seen
                .get(pod)
                .map(|m| {
                    let mut v: Vec<(&IpAddr, &usize)> = m.iter().collect();
                    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                    v.into_iter().map(|(ip, k)| format!("{ip} ×{k}")).collect()
                })
                .unwrap_or_default();
            let _ = writeln!(out, "  {k:>5}   {} on {} — saw {}", p.name, c.node(p.node).name, sources.join(", "));
        }
    }
    let minutes = summary_minutes(sim);
    match run.probe_status(minutes.clone()) {
        Some(status) => {
            let (pct, per_node) = (status.percent, status.per_node);
            let which = if minutes.start == 0 && s.duration.as_micros() < 60_000_000 {
                "whole run".to_string()
            } else {
                format!("minute {}", minutes.start)
            };
            let nodes: Vec<String> =
                per_node.iter().map(|(n, p)| format!("{} {}%", node_name(sim, *n), round2(*p))).collect();
            let _ = writeln!(out, "health probe status ({which}): {}%   {}", round2(pct), nodes.join(", "));
            let series: Vec<String> = run
                .probe_minutes()
                .iter()
                .filter_map(|m| run.probe_status(*m..*m + 1).map(|s| format!("{}%", round2(s.percent))))
                .collect();
            let _ = writeln!(out, "  per minute: {}", series.join(" → "));
            let families = run.probe_metric.families();
            if families.len() > 1 {
                for f in &families {
                    let Some(status) = run.probe_status_of(minutes.clone(), *f) else { continue };
                    let nodes: Vec<String> = status
                        .per_node
                        .iter()
                        .map(|(n, p)| format!("{} {}%", node_name(sim, *n), round2(*p)))
                        .collect();
                    let _ = writeln!(out, "  {f} probes: {}%   {}", round2(status.percent), nodes.join(", "));
                }
            }
            let (rot, total) = in_rotation(sim, None);
            let _ = writeln!(out, "nodes in rotation at the end: {}/{total} ({})", rot.len(), rot.join(", "));
            if families.len() > 1 {
                for f in &families {
                    let (rot, total) = in_rotation(sim, Some(*f));
                    if total == 0 {
                        // Its Service was patched to the other family alone.
                        let _ = writeln!(out, "  {f} frontend: none at the end");
                    } else {
                        let _ = writeln!(out, "  {f} frontend: {}/{total} ({})", rot.len(), rot.join(", "));
                    }
                }
            }
        }
        None => {
            let _ = writeln!(out, "health probes: none (no LoadBalancer Service, or provider none)");
        }
    }
    out
}

/// The JSON summary (docs/cli.md).
pub fn json(sim: &Sim) -> Value {
    let run = sim.record();
    let c = sim.cluster();
    let s = sim.scenario();
    let requests: Vec<Value> = run
        .requests()
        .map(|f| {
            let Initiator::Client(client) = f.initiator else { unreachable!("requests are client flows") };
            let asked = run.asked(f);
            json!({
                "t": f.start.as_secs_f64(),
                "client": s.clients[client].name,
                "protocol": f.header.proto.to_string(),
                "from": f.header.src.ip.to_string(),
                "to": asked.to_string(),
                "connectedTo": (asked != f.header.dst).then(|| f.header.dst.to_string()),
                "ingressNode": f.ingress_node.map(|n| node_name(sim, n)),
                "pod": f.pod.map(|p| c.pod(p).name.clone()),
                "node": f.pod.map(|p| node_name(sim, c.pod(p).node)),
                "sourceSeen": f.source_seen.map(|a| a.to_string()),
                "appOutput": f.app_output,
                "outcome": f.outcome.label(),
                "reason": f.outcome.reason().map(|r| r.to_string()),
                "replyPath": run.reply_path(f).into_iter().map(|p| run.names.place(p)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let per_node = |m: &BTreeMap<NodeId, f64>| -> Value {
        m.iter()
            .map(|(n, p)| (node_name(sim, *n), json!(round2(*p))))
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let minutes = summary_minutes(sim);
    let (percent, nodes) = match run.probe_status(minutes) {
        Some(s) => (json!(round2(s.percent)), per_node(&s.per_node)),
        None => (Value::Null, json!({})),
    };
    let series: Vec<Value> = run
        .probe_minutes()
        .iter()
        .filter_map(|m| {
            run.probe_status(*m..*m + 1)
                .map(|s| json!({"minute": m, "percent": round2(s.percent), "perNode": per_node(&s.per_node)}))
        })
        .collect();
    let hits = run.hits_per_pod();
    let seen = run.sources_seen();
    let mut pods = serde_json::Map::new();
    for (pod, k) in &hits {
        let p = c.pod(*pod);
        let sources: serde_json::Map<String, Value> =
            seen.get(pod).map(|m| m.iter().map(|(ip, k)| (ip.to_string(), json!(k))).collect()).unwrap_or_default();
        pods.insert(p.name.clone(), json!({"node": node_name(sim, p.node), "hits": k, "sourcesSeen": sources}));
    }
    json!({
        "scenario": s.name,
        "seed": s.seed,
        "duration": s.duration.as_secs_f64(),
        "requests": requests,
        "probes": {"percent": percent, "perNode": nodes, "inRotation": in_rotation(sim, None).0, "series": series},
        "pods": pods,
    })
}

/// The first-packet report as text; `notes[i]`, when given, follows rule `i` as a comment.
/// `steps` says the path is a dataplane's program steps (Cilium), not rules.
pub fn packet_text(r: &FirstPacket, header: Header, node: &str, notes: &[Option<String>], steps: bool) -> String {
    // TCP, the default, goes unsaid.
    let proto = if header.proto == Protocol::Tcp { String::new() } else { format!(" ({})", header.proto) };
    let mut out = format!("first packet {} > {}{proto} on {node}: {}", header.src, header.dst, r.verdict);
    if let Some(reason) = &r.reason {
        let _ = write!(out, " (\"{reason}\")");
    }
    out.push('\n');
    if !r.endpoints.is_empty() {
        let eps: Vec<String> = r.endpoints.iter().map(|e| e.to_string()).collect();
        let what = if steps { "endpoints the datapath can pick" } else { "endpoints the rules can pick" };
        let _ = writeln!(out, "{what}: {}", eps.join(", "));
    }
    let _ = writeln!(out, "masquerade (SNAT): {}", if r.masquerade { "yes" } else { "no" });
    let _ = writeln!(out, "{}", if steps { "program steps and map entries:" } else { "rules that matched:" });
    for (i, rule) in r.rules.iter().enumerate() {
        match notes.get(i).and_then(Option::as_deref) {
            Some(note) => _ = writeln!(out, "  {rule}    # {note}"),
            None => _ = writeln!(out, "  {rule}"),
        }
    }
    out
}

/// What socket-LB does with a `connect()`: every backend it could connect the socket to, and
/// its steps (those of the first pick).
pub fn connect_text(connects: &[Connect], asked: Header, node: &str) -> String {
    let mut out = format!("connect() from {} to {} on {node}: ", asked.src, asked.dst);
    match connects[0].to {
        Ok(_) => {
            let backends: Vec<String> =
                connects.iter().filter_map(|c| c.to.as_ref().ok()).map(|b| b.to_string()).collect();
            let _ = writeln!(out, "translated by socket-LB before any packet exists");
            let _ = writeln!(out, "backends the socket can be connected to: {}", backends.join(", "));
        }
        Err(_) => {
            let _ = writeln!(out, "fails (\"{}\")", connects[0].path.reason());
        }
    }
    let _ = writeln!(out, "steps:");
    for step in connects[0].path.rules() {
        let _ = writeln!(out, "  {step}");
    }
    out.push_str("then, for the socket's packets: ");
    out
}

/// The socket-LB part of `svcsim packet --format json`.
pub fn connect_json(connects: &[Connect]) -> Value {
    json!({
        "backends": connects.iter().filter_map(|c| c.to.as_ref().ok()).map(|b| b.to_string()).collect::<Vec<_>>(),
        "error": connects[0].to.is_err().then(|| connects[0].path.reason().to_string()),
        "steps": connects[0].path.rules().iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    })
}

/// The first-packet report as JSON (docs/cli.md).
pub fn packet_json(r: &FirstPacket) -> Value {
    json!({
        "verdict": r.verdict.to_string(),
        "endpoints": r.endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "masquerade": r.masquerade,
        "rules": r.rules,
        "reason": r.reason,
    })
}
