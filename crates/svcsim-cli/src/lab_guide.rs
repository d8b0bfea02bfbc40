//! What `svcsim lab up` prints once the lab runs: its namespaces, the commands worth trying
//! there, what svcsim says a `curl` prints, and what the lab leaves out. A dual-stack lab's
//! rows name both addresses, and its IPv6 side gets its own NodePort and listing commands.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use svcsim_core::cluster::NodeId;
use svcsim_core::dataplane::Origin;
use svcsim_core::net::{Header, IpFamily, SockAddr};
use svcsim_core::sim::Sim;
use svcsim_lab::expect::outcomes;
use svcsim_lab::plan::{LbDelivery, Plan};

/// The guide to a lab that is up.
pub fn guide(sim: &Sim, plan: &Plan) -> String {
    let mut out = String::new();
    let p = &plan.prefix;
    let _ = writeln!(
        out,
        "The lab {p} is up: {} at t={}s, in {} network namespaces.\n",
        sim.scenario().name,
        sim.now().as_secs_f64(),
        plan.namespaces().len()
    );
    let clients: Vec<String> = plan.client_ips.iter().map(|ip| ip.to_string()).collect();
    let mut rows = vec![(plan.client_ns(), format!("the internet and the load balancer ({})", clients.join(", ")))];
    for (i, n) in plan.nodes.iter().enumerate() {
        let v6 = n.ipv6.as_ref();
        let mut cbr0 = n.v4.bridge.map(|b| format!(", cbr0 {b}/{}", n.v4.pod_cidr.prefix())).unwrap_or_default();
        if let Some((b, cidr)) = v6.and_then(|s| Some((s.bridge?, s.pod_cidr))).filter(|_| !cbr0.is_empty()) {
            cbr0.push_str(&format!(" {b}/{}", cidr.prefix()));
        }
        let ip6 = v6.map(|s| format!(" {}", s.ip)).unwrap_or_default();
        rows.push((plan.node_ns(i), format!("{} {}{ip6}{cbr0}, kube-proxy's rules loaded", n.name, n.v4.ip)));
    }
    for (i, pod) in plan.pods.iter().enumerate() {
        // `8080`, and `5353/UDP` for a port that is not TCP.
        let ports: Vec<String> = pod
            .ports
            .iter()
            .map(|(proto, p)| if proto.as_lower() == "tcp" { p.to_string() } else { format!("{p}/{proto}") })
            .collect();
        let on = &plan.nodes[pod.node].name;
        let ip6 = pod.ip6.map(|ip| format!(" {ip}")).unwrap_or_default();
        let what = format!("{}{ip6} on {on}, {} app on port {}", pod.ip, pod.app.app(), ports.join(", "));
        rows.push((plan.pod_ns(i), what));
    }
    // Pod namespaces are long: each row's description goes on its own line when it would not fit.
    let width = rows.iter().map(|(ns, _)| ns.len()).filter(|&w| w <= 28).max().unwrap_or(0);
    for (ns, what) in rows {
        if ns.len() <= width {
            let _ = writeln!(out, "  {ns:<width$}  {what}");
        } else {
            let _ = writeln!(out, "  {ns}\n  {:width$}  {what}", "");
        }
    }
    let _ = writeln!(out, "\nTry:");
    let client = plan.client_ns();
    for fe in &plan.frontends {
        let prints = lb_prints(sim, plan, fe);
        let url = format!("http://{}/", fe.addr);
        let _ = writeln!(out, "  ip netns exec {client} curl -s {url}");
        let _ = writeln!(out, "      {} through its load balancer; svcsim says the app prints {prints}", fe.service);
    }
    if let (Some(node), Some(np)) = (plan.nodes.first(), first_node_port(sim)) {
        let _ = writeln!(
            out,
            "  ip netns exec {client} curl -s http://{}:{np}/      # a NodePort on {}",
            node.v4.ip, node.name
        );
        if let Some(side) = &node.ipv6 {
            let _ =
                writeln!(out, "  ip netns exec {client} curl -s http://[{}]:{np}/      # the same over IPv6", side.ip);
        }
    }
    let node0 = plan.node_ns(0);
    let _ = writeln!(
        out,
        "  ip netns exec {node0} tcpdump -ni eth0 tcp           # packets arriving at {}",
        plan.nodes[0].name
    );
    let _ = writeln!(out, "  ip netns exec {node0} conntrack -L                    # the NAT it remembers");
    let listing = match plan.tool.0 {
        svcsim_core::cluster::ProxyMode::Iptables => {
            let _ = writeln!(
                out,
                "  ip netns exec {node0} iptables -t nat -L -v -n        # rules and their packet counters"
            );
            "iptables-save                  "
        }
        svcsim_core::cluster::ProxyMode::Nftables => "nft list table ip kube-proxy   ",
    };
    let _ = writeln!(
        out,
        "  ip netns exec {node0} {listing} # = svcsim rules FILE --node {} --at {}ms",
        plan.nodes[0].name,
        sim.now().as_micros() / 1000
    );
    if plan.ipv6.is_some() {
        let listing = match plan.tool.0 {
            svcsim_core::cluster::ProxyMode::Iptables => "ip6tables-save                 ",
            svcsim_core::cluster::ProxyMode::Nftables => "nft list table ip6 kube-proxy  ",
        };
        let _ = writeln!(
            out,
            "  ip netns exec {node0} {listing} # = svcsim rules FILE --node {} --at {}ms --family ipv6",
            plan.nodes[0].name,
            sim.now().as_micros() / 1000
        );
    }
    let _ = writeln!(
        out,
        "\nWhen done: svcsim lab down{}",
        if p == "svcsim" { String::new() } else { format!(" --prefix {p}") }
    );
    let _ = writeln!(
        out,
        "\nNot in the lab: the cloud load balancer's health probes (it sends to the nodes in rotation at t={}s, \
         by a 5-tuple hash), and kube-proxy itself: its health servers are stand-ins that answer as svcsim says. \
         See docs/lab.md.",
        sim.now().as_secs_f64()
    );
    out
}

/// What the app may print for a `curl` through `fe` from the client namespace, over the nodes it
/// goes to: from the first client's address of `fe`'s family, or else, over IPv6, from the
/// namespace's own address on the nodes' network, as the kernel would pick.
fn lb_prints(sim: &Sim, plan: &Plan, fe: &svcsim_lab::plan::Frontend) -> String {
    let family = IpFamily::of(fe.addr.ip);
    let first = plan.client_ips.iter().find(|ip| IpFamily::of(**ip) == family).copied();
    let own = plan.ipv6.as_ref().map(|v6| v6.gateway).filter(|_| family == IpFamily::Ipv6);
    let Some(client) = first.or(own) else { return "nothing (no client)".into() };
    let mut prints = BTreeSet::new();
    for (node, to) in &fe.targets {
        let dst = match fe.delivery {
            LbDelivery::FloatingIp => fe.addr,
            LbDelivery::InstanceTarget => *to,
        };
        let header = Header::tcp(SockAddr::new(client, 40000), dst);
        for e in outcomes(sim, NodeId(*node as u32), Origin::Routed, header) {
            prints.insert(e.prints.map(|p| format!("{p:?}")).unwrap_or_else(|| e.verdict.to_string()));
        }
    }
    match prints.len() {
        0 => "nothing: no node is in rotation".into(),
        _ => prints.into_iter().collect::<Vec<_>>().join(" or "),
    }
}

fn first_node_port(sim: &Sim) -> Option<u16> {
    sim.cluster().services.iter().filter(|s| s.has_node_ports()).find_map(|s| s.ports.first()?.node_port)
}
