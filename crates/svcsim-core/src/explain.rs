//! One request's journey in plain words, hop by hop, each step naming the rule that acted: what a
//! teacher would say at the whiteboard. Used by `svcsim explain` and the web inspector.

use crate::cluster::{Cluster, NetworkPlugin, Provider};
use crate::kube_proxy::{RuleHit, Table};
use crate::record::{Action, FlowRecord, Hop, Initiator, Outcome, PacketKind, Run};
use crate::topology::Place;

/// The steps of request `flow`, numbered, one paragraph each.
pub fn explain(run: &Run, cluster: &Cluster, flow: &FlowRecord) -> Vec<String> {
    let names = &run.names;
    let client = match flow.initiator {
        Initiator::Client(c) => names.clients[c as usize].clone(),
        Initiator::Probe { node, .. } => {
            format!("the load balancer's health probe of {}", names.nodes[node.0 as usize])
        }
    };
    let mut steps = Vec::new();
    let packets = std::iter::once(flow.request).chain(flow.reply);
    for id in packets {
        let packet = run.packet(id);
        for hop in &packet.hops {
            if let Some(text) = step(run, cluster, flow, &client, packet.kind, hop) {
                steps.push(format!("{:>3}. [{}s] {text}", steps.len() + 1, hop.time));
            }
        }
    }
    let verdict = match &flow.outcome {
        Outcome::Answered => match (&flow.app_output, flow.source_seen) {
            (Some(out), Some(seen)) if seen == *flow.header.src.ip() => {
                format!(
                    "The app printed \"{out}\": the client's own address, because nothing rewrote the source on the way in."
                )
            }
            (Some(out), Some(seen)) => format!(
                "The app printed \"{out}\", not the client's {}: the source was rewritten to {seen} on the way in (SNAT), so the pod never saw the client.",
                flow.header.src.ip()
            ),
            _ => "The connection was answered.".to_string(),
        },
        Outcome::Dropped { reason } => {
            format!("The packet was dropped silently ({reason}); the client hears nothing and times out.")
        }
        Outcome::Rejected { reason } => {
            format!("The connection was refused ({reason}); the client gets an error at once.")
        }
        Outcome::InFlight => "The run ended before the request finished.".to_string(),
    };
    steps.push(format!("     {verdict}"));
    steps
}

fn step(run: &Run, cluster: &Cluster, flow: &FlowRecord, client: &str, kind: PacketKind, h: &Hop) -> Option<String> {
    let names = &run.names;
    let place = |p: Place| match p {
        Place::Client(c) => names.clients[c as usize].clone(),
        Place::Node(n) => names.nodes[n.0 as usize].clone(),
        Place::Pod(p) => format!("pod {}", names.pods[p.0 as usize]),
        Place::Backend(b) => format!("the server at {}", names.backends[b as usize]),
        other => other.to_string(),
    };
    let reply = matches!(kind, PacketKind::Reply | PacketKind::ProbeReply);
    Some(match &h.action {
        Action::Sent if reply => return None,
        Action::Sent => format!("{client} opens a TCP connection from {} to {}.", h.before.src, h.before.dst),
        Action::Balanced { node, in_rotation, total, by_source_ip } => {
            let lb = match cluster.config.provider {
                Provider::Azure => "The Azure load balancer",
                Provider::Aws => "The AWS Network Load Balancer",
                Provider::Gcp => "The Google Cloud load balancer",
                Provider::None => "The load balancer",
            };
            let how = if *by_source_ip {
                "hashes the client's IP (sessionAffinity: ClientIP)"
            } else {
                "hashes the connection's 5-tuple"
            };
            let delivery = if h.after == h.before {
                format!("It forwards the packet unchanged (floating IP): the destination is still {}.", h.after.dst)
            } else {
                format!(
                    "It rewrites the destination to the node's NodePort, {}, and keeps the client's source address.",
                    h.after.dst
                )
            };
            format!(
                "{lb} {how} and picks {} among the {in_rotation} of {total} nodes its health probes keep in rotation. {delivery}",
                names.nodes[node.0 as usize]
            )
        }
        Action::Netfilter { .. } | Action::Forwarded if !reply => netfilter(cluster, &place(h.at), h),
        Action::Netfilter { .. } | Action::Forwarded => {
            format!("{} passes the reply on toward {}.", place(h.at), h.after.dst)
        }
        Action::UnNat if h.at == Place::Lb => {
            format!("The load balancer translates the reply back: {} becomes {}.", h.before, h.after)
        }
        Action::UnNat => {
            let ct = h.conntrack.as_ref().map(|e| format!(" (entry: {e})")).unwrap_or_default();
            format!(
                "The reply reaches {}, where conntrack remembers the translation made on the way in and undoes it: {} becomes {}{ct}.",
                place(h.at),
                h.before,
                h.after
            )
        }
        Action::App { output, .. } if output.is_empty() => {
            format!("{} accepts the connection: the probe's handshake succeeds.", place(h.at))
        }
        Action::App { output, .. } | Action::Backend { output } => format!(
            "{} receives the request with source address {} and its app answers \"{output}\".",
            place(h.at),
            h.before.src.ip()
        ),
        Action::HealthServer { status } => format!(
            "kube-proxy's health server on {} answers HTTP {status} on port {}.",
            place(h.at),
            h.before.dst.port()
        ),
        Action::Delivered => {
            let out = flow.app_output.as_deref().and_then(|o| o.lines().next()).unwrap_or("");
            format!("{} receives the answer from {}: \"{out}\".", place(h.at), h.before.src)
        }
        Action::Dropped { reason } => format!("{} drops the packet: {reason}.", place(h.at)),
        Action::Rejected { reason } => format!("{} refuses the connection: {reason}.", place(h.at)),
    })
}

/// What kube-proxy's rules did with the first packet on a node, in order.
fn netfilter(cluster: &Cluster, node: &str, h: &Hop) -> String {
    let nat: Vec<&RuleHit> = h.rules.iter().filter(|r| r.table == Table::Nat && r.rule.comment.is_some()).collect();
    let mut parts = Vec::new();
    for r in &nat {
        let comment = r.rule.comment.as_deref().unwrap_or("");
        let to = r.jump().map(|j| format!(" → {j}")).unwrap_or_default();
        if comment == "kubernetes service portals" || comment == "kubernetes postrouting rules" {
            continue;
        }
        parts.push(format!("\"{comment}\" in {}{to}", r.chain));
    }
    let mut text = if parts.is_empty() {
        format!("On {node} no service rule matches the packet, so kube-proxy leaves it alone")
    } else {
        format!("On {node}, kube-proxy's rules catch the packet: {}", parts.join("; "))
    };
    if h.after.dst != h.before.dst {
        text.push_str(&format!(". DNAT rewrites the destination {} to the pod endpoint {}", h.before.dst, h.after.dst));
    }
    if h.after.src.ip() != h.before.src.ip() {
        let why = if cluster.config.network_plugin == NetworkPlugin::Kubenet && is_bridge(cluster, *h.after.src.ip()) {
            "cbr0's address, because the pod runs on this node (kubenet)"
        } else {
            "the node's own IP, the address of the interface the packet leaves by"
        };
        text.push_str(&format!(
            ". On the way out, MASQUERADE rewrites the source {} to {} — {why}",
            h.before.src.ip(),
            h.after.src.ip()
        ));
    }
    if h.after == h.before && parts.is_empty() {
        text.push_str(&format!(" and forwards it to {}", h.after.dst));
    }
    text.push('.');
    text
}

fn is_bridge(cluster: &Cluster, ip: std::net::Ipv4Addr) -> bool {
    cluster.nodes.iter().any(|n| n.bridge_ip() == ip)
}
