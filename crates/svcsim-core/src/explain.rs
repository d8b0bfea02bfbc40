//! One request's journey in plain words, hop by hop, each step naming the rule that acted: what a
//! teacher would say at the whiteboard. Used by `svcsim explain` and the web inspector.
//!
//! The terse prose of a hop (the trace's) is [`crate::record::Run::hop_prose`]; this is the
//! long form, built from the same typed facts: the hop's NAT, its rules and the flow's outcome.

use crate::cluster::{Cluster, NetworkPlugin, Provider};
use crate::net::Protocol;
use crate::record::{Action, FlowRecord, Hop, Initiator, Outcome, PacketKind, Run};
use crate::topology::Place;

/// The steps of request `flow`, numbered, one paragraph each, then the verdict.
pub fn explain(run: &Run, cluster: &Cluster, flow: &FlowRecord) -> Vec<String> {
    let names = &run.names;
    let client = match flow.initiator {
        Initiator::Client(c) => names.clients[c].clone(),
        Initiator::Probe { node, .. } => format!("the load balancer's health probe of {}", names.nodes[node]),
    };
    let mut steps = Vec::new();
    for packet in run.packets_of(flow) {
        for hop in &packet.hops {
            if let Some(text) = step(run, cluster, flow, &client, packet.kind, hop) {
                steps.push(format!("{:>3}. [{}s] {text}", steps.len() + 1, hop.time));
            }
        }
    }
    steps.push(format!("     {}", verdict(flow)));
    steps
}

fn verdict(flow: &FlowRecord) -> String {
    match &flow.outcome {
        Outcome::Answered => match (&flow.app_output, flow.source_seen) {
            (Some(out), Some(seen)) if seen == flow.header.src.ip => {
                format!(
                    "The app printed \"{out}\": the client's own address, because nothing rewrote the source on the way in."
                )
            }
            (Some(out), Some(seen)) => format!(
                "The app printed \"{out}\", not the client's {}: the source was rewritten to {seen} on the way in (SNAT), so the pod never saw the client.",
                flow.header.src.ip
            ),
            _ => "The connection was answered.".to_string(),
        },
        Outcome::Dropped(reason) => {
            format!("The packet was dropped silently ({reason}); the client hears nothing and times out.")
        }
        Outcome::Rejected(reason) => {
            format!("The connection was refused ({reason}); the client gets an error at once.")
        }
        Outcome::InFlight => "The run ended before the request finished.".to_string(),
    }
}

fn step(run: &Run, cluster: &Cluster, flow: &FlowRecord, client: &str, kind: PacketKind, h: &Hop) -> Option<String> {
    let names = &run.names;
    let place = |p: Place| names.place(p);
    let reply = matches!(kind, PacketKind::Reply | PacketKind::ProbeReply);
    let output = flow.app_output.as_deref().unwrap_or("");
    Some(match &h.action {
        Action::Sent if reply => return None,
        Action::Sent => {
            let opens = match h.before.proto {
                Protocol::Tcp => "opens a TCP connection",
                Protocol::Udp => "sends a UDP datagram",
                Protocol::Sctp => "opens an SCTP association",
            };
            format!("{client} {opens} from {} to {}.", h.before.src, h.before.dst)
        }
        Action::Connected { service } => format!(
            "{client} calls connect() to the Service at {service}. Before any packet exists, {}'s socket-LB program ({}) looks the address up in its service map and connects the socket straight to the backend {}: the packet leaves {} already addressed to the pod, so no node rewrites it and no NAT hop appears. The app still believes it talks to {service} (getpeername() is translated back).",
            place(h.at),
            h.rules.via().to_string().trim_start_matches(" via "),
            h.before.dst,
            h.before.src.ip,
        ),
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
            let delivery = match h.nat().and_then(|n| n.dnat) {
                None => {
                    format!(
                        "It forwards the packet unchanged (floating IP): the destination is still {}.",
                        h.after().dst
                    )
                }
                Some(to) => {
                    format!(
                        "It rewrites the destination to the node's NodePort, {to}, and keeps the client's source address."
                    )
                }
            };
            format!(
                "{lb} {how} and picks {} among the {in_rotation} of {total} nodes its health probes keep in rotation. {delivery}",
                names.nodes[*node]
            )
        }
        Action::Translated | Action::Forwarded if !reply => dataplane_step(cluster, &place(h.at), h),
        Action::Translated | Action::Forwarded => {
            format!("{} passes the reply on toward {}.", place(h.at), h.after().dst)
        }
        Action::UnNat if h.at == Place::Lb => {
            format!("The load balancer translates the reply back: {} becomes {}.", h.before, h.after())
        }
        Action::UnNat if cluster.config.cilium.is_some() => {
            if h.nat().is_some_and(|n| n.snat.is_some()) {
                format!(
                    "The reply reaches {}: tail_nodeport_nat_ingress_ipv4 reverses the SNAT from its cilium_snat_v4_external entry, then tail_nodeport_rev_dnat_ipv4 the DNAT through cilium_lb4_reverse_nat: {} becomes {}.",
                    place(h.at),
                    h.before,
                    h.after()
                )
            } else {
                format!(
                    "The reply leaves {} by its device, where nodeport_rev_dnat_fwd_ipv4 finds the connection's entry and puts the service address back as its source: {} becomes {}.",
                    place(h.at),
                    h.before,
                    h.after()
                )
            }
        }
        Action::UnNat => {
            let ct = h.conntrack.as_ref().map(|e| format!(" (entry: {e})")).unwrap_or_default();
            format!(
                "The reply reaches {}, where conntrack remembers the translation made on the way in and undoes it: {} becomes {}{ct}.",
                place(h.at),
                h.before,
                h.after()
            )
        }
        Action::App { .. } if kind.is_probe() => {
            format!("{} accepts the connection: the probe's handshake succeeds.", place(h.at))
        }
        Action::App { .. } | Action::Backend => format!(
            "{} receives the request with source address {} and its app answers \"{output}\".",
            place(h.at),
            h.before.src.ip
        ),
        Action::HealthServer { status } => format!(
            "kube-proxy's health server on {} answers HTTP {status} on port {}.",
            place(h.at),
            h.before.dst.port
        ),
        Action::Delivered => {
            let out = output.lines().next().unwrap_or("");
            format!("{} receives the answer from {}: \"{out}\".", place(h.at), h.before.src)
        }
        Action::Dropped(reason) => format!("{} drops the packet: {reason}.", place(h.at)),
        Action::Rejected(reason) => format!("{} refuses the connection: {reason}.", place(h.at)),
    })
}

/// What the node's dataplane did with the first packet, in order.
fn dataplane_step(cluster: &Cluster, node: &str, h: &Hop) -> String {
    if cluster.config.cilium.is_some() {
        return cilium_step(node, h);
    }
    let parts: Vec<String> = h.rules.rules().iter().filter_map(|r| r.narrate()).collect();
    let mut text = if parts.is_empty() {
        format!("On {node} no service rule matches the packet, so kube-proxy leaves it alone")
    } else {
        // An IPv6 packet meets the IPv6 side: ip6tables, or nftables' `ip6` table.
        let mode = match (cluster.config.kube_proxy.mode, h.before.family()) {
            (crate::cluster::ProxyMode::Iptables, crate::net::IpFamily::Ipv6) => "ip6tables".to_string(),
            (mode, _) => mode.to_string(),
        };
        format!("On {node}, kube-proxy's {mode} rules catch the packet: {}", parts.join("; "))
    };
    let nat = h.nat().unwrap_or_default();
    if let Some(to) = nat.dnat {
        text.push_str(&format!(". DNAT rewrites the destination {} to the pod endpoint {to}", h.before.dst));
    }
    if let Some(to) = nat.snat {
        let bridge = cluster.config.network_plugin == NetworkPlugin::Kubenet
            && cluster.nodes.iter().any(|n| n.bridge_ip() == to);
        let why = if bridge {
            "cbr0's address, because the pod runs on this node (kubenet)"
        } else {
            "the node's own IP, the address of the interface the packet leaves by"
        };
        text.push_str(&format!(". On the way out, MASQUERADE rewrites the source {} to {to} — {why}", h.before.src.ip));
    }
    if nat.is_none() && parts.is_empty() {
        text.push_str(&format!(" and forwards it to {}", h.after().dst));
    }
    text.push('.');
    text
}

/// A node's Cilium datapath deciding a packet, as a teacher would tell it: the programs and
/// map entries, then what they did to the packet.
fn cilium_step(node: &str, h: &Hop) -> String {
    let parts: Vec<String> = h.rules.rules().iter().filter_map(|r| r.narrate()).collect();
    let dsr_ingress = h.conntrack.as_ref().map(|e| e.original.dst).filter(|svc| *svc != h.before.dst);
    if parts.is_empty() {
        return format!(
            "On {node} the packet is for no Service frontend, so Cilium's eBPF programs let it through to {}.",
            h.after().dst
        );
    }
    let mut text = format!("On {node}, Cilium's eBPF datapath handles the packet: {}", parts.join("; "));
    let nat = h.nat().unwrap_or_default();
    if let Some(to) = nat.dnat {
        text.push_str(&format!(". The destination {} becomes the backend {to}", h.before.dst));
    }
    match nat.snat {
        Some(to) => text.push_str(&format!(
            ". The backend is on another node, so the source {} becomes {to} (SNAT): the reply must come back through {node} to be translated back",
            h.before.src.ip
        )),
        None if nat.dnat.is_some() && h.rules.rules().iter().any(|r| r.to_string().starts_with("tail_nodeport_ipv4_dsr")) => {
            text.push_str(". The backend is on another node, but in DSR mode the source stays the client's: the backend's node will answer the client itself")
        }
        None if nat.dnat.is_some() => text.push_str(". No SNAT: the client's address reaches the pod"),
        None => {}
    }
    if let Some(svc) = dsr_ingress {
        text.push_str(&format!(
            ". The request keeps the client's source address, and this node will send the pod's reply straight to the client with {svc} as its source"
        ));
    }
    text.push('.');
    text
}
