//! The commands that build a [`Plan`] out of namespaces: `ip`, `sysctl`, `nfacct`, and
//! `iptables-restore` or `nft -f`, each run inside one of the lab's namespaces. Pure: the list is data, so
//! `svcsim lab up --dry-run` can print it and a test can pin it.

use std::fmt;
use std::net::IpAddr;

use svcsim_core::net::IpFamily;

use crate::plan::{AZURE_CNI_GATEWAY, AZURE_CNI_GATEWAY_V6, LINK_LOCAL_CLIENT, LbDelivery, NodeSide, Plan, Plugin};

/// One command, run inside a lab namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: &'static str,
    pub args: Vec<String>,
    /// Fed to the command's standard input (iptables-restore's rules).
    pub stdin: Option<String>,
}

impl Cmd {
    /// `ip -n NS ARGS…`.
    pub fn ip(ns: &str, args: &str) -> Cmd {
        let mut all = vec!["-n".to_string(), ns.to_string()];
        all.extend(args.split_whitespace().map(str::to_string));
        Cmd { program: "ip", args: all, stdin: None }
    }
    /// `ip ARGS…`, for `ip netns` itself.
    pub fn ip_root(args: &str) -> Cmd {
        Cmd { program: "ip", args: args.split_whitespace().map(str::to_string).collect(), stdin: None }
    }
    /// `ip netns exec NS PROGRAM ARGS…`.
    pub fn exec(ns: &str, program: &str, args: &[&str]) -> Cmd {
        let mut all: Vec<String> = ["netns", "exec", ns, program].iter().map(|s| s.to_string()).collect();
        all.extend(args.iter().map(|s| s.to_string()));
        Cmd { program: "ip", args: all, stdin: None }
    }
    pub fn with_stdin(mut self, stdin: String) -> Cmd {
        self.stdin = Some(stdin);
        self
    }
}

/// The command as a shell line; standard input becomes a here-document.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for a in &self.args {
            if a.contains([' ', '"']) { write!(f, " '{a}'")? } else { write!(f, " {a}")? }
        }
        if let Some(input) = &self.stdin {
            write!(f, " <<'EOF'\n{input}EOF")?;
        }
        Ok(())
    }
}

/// The sysctls kube-proxy and the CNI set on a node, plus loose reverse-path filtering, and no
/// rate limit on the ICMP errors REJECT sends: a node answers at most about one a second per
/// destination after a burst of six, and the lab's tests come faster than that (svcsim does not
/// model the limit, see docs/fidelity.md).
const NODE_SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward=1",
    "net.ipv4.conf.all.route_localnet=1",
    "net.bridge.bridge-nf-call-iptables=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
    "net.ipv4.icmp_ratelimit=0",
];

/// The same for a dual-stack node's IPv6 side: forwarding, bridged IPv6 through ip6tables (the
/// hairpin and same-node replies need conntrack), and no rate limit on ICMPv6 errors (REJECT's
/// port unreachable, and the "beyond scope" error of a link-local source).
const NODE_SYSCTLS_V6: &[&str] =
    &["net.ipv6.conf.all.forwarding=1", "net.bridge.bridge-nf-call-ip6tables=1", "net.ipv6.icmp.ratelimit=0"];

/// No duplicate address detection in a dual-stack lab's namespaces, so every IPv6 address, the
/// link-local ones the kernel adds included, is usable at once rather than after a second.
/// Set before any link exists: a new link takes `default`'s value.
const NO_DAD: &[&str] = &["-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"];

impl Plan {
    /// Every command that builds the lab, in order. The root namespace is only ever asked to
    /// add the lab's namespaces; links are made from inside them.
    pub fn setup(&self) -> Vec<Cmd> {
        let mut out: Vec<Cmd> = self.namespaces().iter().map(|ns| Cmd::ip_root(&format!("netns add {ns}"))).collect();
        out.extend(self.namespaces().iter().map(|ns| Cmd::ip(ns, "link set lo up")));
        if self.ipv6.is_some() {
            out.extend(self.namespaces().iter().map(|ns| Cmd::exec(ns, "sysctl", NO_DAD)));
        }
        self.vnet_commands(&mut out);
        self.client_commands(&mut out);
        for node in 0..self.nodes.len() {
            self.node_commands(node, &mut out);
        }
        for pod in 0..self.pods.len() {
            self.pod_commands(pod, &mut out);
        }
        out
    }

    /// The commands that remove the lab: every namespace, which takes its links with it.
    pub fn teardown(&self) -> Vec<Cmd> {
        self.namespaces().iter().rev().map(|ns| Cmd::ip_root(&format!("netns del {ns}"))).collect()
    }

    fn vnet_commands(&self, out: &mut Vec<Cmd>) {
        let vnet = self.vnet_ns();
        out.push(Cmd::ip(&vnet, "link add br0 type bridge"));
        out.push(Cmd::ip(&vnet, "link set br0 up"));
    }

    fn client_commands(&self, out: &mut Vec<Cmd>) {
        let (client, vnet) = (self.client_ns(), self.vnet_ns());
        out.push(Cmd::ip(&client, &format!("link add eth0 type veth peer name client netns {vnet}")));
        out.push(Cmd::ip(&vnet, "link set client master br0 up"));
        out.push(Cmd::ip(&client, &format!("addr add {}/{} dev eth0", self.gateway, self.vnet.prefix())));
        if let Some(v6) = &self.ipv6 {
            out.push(Cmd::ip(&client, &format!("addr add {}/{} dev eth0 nodad", v6.gateway, v6.vnet.prefix())));
            // Azure's IPv6 probe source, on the nodes' link: the lab's link-local check sends from it.
            out.push(Cmd::ip(&client, &format!("addr add {LINK_LOCAL_CLIENT}/64 dev eth0 nodad")));
        }
        out.push(Cmd::ip(&client, "link set eth0 up"));
        for ip in &self.client_ips {
            out.push(Cmd::ip(&client, &format!("addr add {ip}/{} dev lo", IpFamily::of(*ip).bits())));
        }
        // A plain `curl` from the client namespace leaves from the first client's address (of
        // each family), as that client's requests do in the scenario.
        for family in self.families() {
            let first = self.client_ips.iter().find(|ip| IpFamily::of(**ip) == family);
            // IPv6's connected route has metric 256: the replacement must have it too.
            let metric = if family == IpFamily::Ipv6 { " metric 256" } else { "" };
            if let (Some(first), Some((vnet, _))) = (first, self.vnet_of(family)) {
                let route = format!("{}route replace {vnet} dev eth0 src {first}{metric}", six(family));
                out.push(Cmd::ip(&client, &route));
            }
        }
        out.push(Cmd::exec(
            &client,
            "sysctl",
            &["-q", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.fib_multipath_hash_policy=1"],
        ));
        if self.ipv6.is_some() {
            out.push(Cmd::exec(&client, "sysctl", &["-q", "-w", "net.ipv6.fib_multipath_hash_policy=1"]));
        }
        let mut dnat = [String::new(), String::new()];
        for fe in &self.frontends {
            match fe.delivery {
                LbDelivery::FloatingIp => out.push(Cmd::ip(&client, &self.frontend_route(fe.addr.ip, &fe.targets))),
                LbDelivery::InstanceTarget => {
                    dnat[usize::from(fe.addr.family() == IpFamily::Ipv6)].push_str(&instance_target_rules(fe))
                }
            }
        }
        for (rules, restore) in dnat.iter().zip(["iptables-restore", "ip6tables-restore"]) {
            if !rules.is_empty() {
                let rules = format!("*nat\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n");
                out.push(Cmd::exec(&client, restore, &[]).with_stdin(rules));
            }
        }
    }

    /// A floating-IP frontend: routed to the nodes in rotation, spread by a 5-tuple hash as the
    /// cloud load balancer spreads it; unreachable when no node is in rotation.
    fn frontend_route(&self, lb: IpAddr, targets: &[(usize, svcsim_core::net::SockAddr)]) -> String {
        let family = IpFamily::of(lb);
        let (v6, len) = (six(family), family.bits());
        let src = self
            .client_ips
            .iter()
            .find(|ip| IpFamily::of(**ip) == family)
            .map(|ip| format!(" src {ip}"))
            .unwrap_or_default();
        let via = |node: usize| self.node_ip(node, family).map_or("?".to_string(), |ip| ip.to_string());
        match targets {
            [] => format!("{v6}route add unreachable {lb}/{len}"),
            [(node, _)] => format!("{v6}route add {lb}/{len} via {}{src}", via(*node)),
            many => {
                let hops: Vec<String> = many.iter().map(|(node, _)| format!("nexthop via {}", via(*node))).collect();
                format!("{v6}route add {lb}/{len}{src} {}", hops.join(" "))
            }
        }
    }

    fn node_commands(&self, node: usize, out: &mut Vec<Cmd>) {
        let (ns, vnet) = (self.node_ns(node), self.vnet_ns());
        let n = &self.nodes[node];
        out.push(Cmd::ip(&vnet, &format!("link add n{node} type veth peer name eth0 netns {ns}")));
        out.push(Cmd::ip(&vnet, &format!("link set n{node} master br0 up")));
        out.push(Cmd::ip(&ns, &format!("addr add {}/{} dev eth0", n.v4.ip, self.vnet.prefix())));
        if let (Some(side), Some(v6)) = (&n.ipv6, &self.ipv6) {
            out.push(Cmd::ip(&ns, &format!("addr add {}/{} dev eth0 nodad", side.ip, v6.vnet.prefix())));
        }
        out.push(Cmd::ip(&ns, "link set eth0 up"));
        out.push(Cmd::ip(&ns, &format!("route add default via {}", self.gateway)));
        if let Some(v6) = &self.ipv6 {
            out.push(Cmd::ip(&ns, &format!("-6 route add default via {}", v6.gateway)));
        }
        if let Some(bridge) = n.v4.bridge {
            out.push(Cmd::ip(&ns, "link add cbr0 type bridge"));
            out.push(Cmd::ip(&ns, &format!("addr add {bridge}/{} dev cbr0", n.v4.pod_cidr.prefix())));
            if let Some(NodeSide { bridge: Some(bridge6), pod_cidr, .. }) = &n.ipv6 {
                out.push(Cmd::ip(&ns, &format!("addr add {bridge6}/{} dev cbr0 nodad", pod_cidr.prefix())));
            }
            out.push(Cmd::ip(&ns, "link set cbr0 up"));
        }
        for (cidr, via) in n.v4.routes.iter().chain(n.ipv6.iter().flat_map(|s| &s.routes)) {
            out.push(Cmd::ip(&ns, &format!("{}route add {cidr} via {via}", six(cidr.family()))));
        }
        let mut sysctl = vec!["-q", "-w"];
        sysctl.extend(NODE_SYSCTLS);
        out.push(Cmd::exec(&ns, "sysctl", &sysctl));
        if n.ipv6.is_some() {
            let mut sysctl = vec!["-q", "-w"];
            sysctl.extend(NODE_SYSCTLS_V6);
            out.push(Cmd::exec(&ns, "sysctl", &sysctl));
        }
        // nfacct's counters count packets of both families: each is made once.
        let all_rules = format!("{}{}", n.v4.rules, n.ipv6.as_ref().map_or("", |s| s.rules.as_str()));
        for counter in nfacct_counters(&all_rules) {
            out.push(Cmd::exec(&ns, "nfacct", &["add", counter]));
        }
        out.push(self.tool.load(IpFamily::Ipv4, &ns, n.v4.rules.clone()));
        if let Some(side) = &n.ipv6 {
            out.push(self.tool.load(IpFamily::Ipv6, &ns, side.rules.clone()));
        }
    }

    fn pod_commands(&self, pod: usize, out: &mut Vec<Cmd>) {
        let p = &self.pods[pod];
        let (ns, node_ns) = (self.pod_ns(pod), self.node_ns(p.node));
        let node = &self.nodes[p.node];
        let side6 = node.ipv6.as_ref().zip(p.ip6);
        let veth = &p.host_if;
        out.push(Cmd::ip(&node_ns, &format!("link add {veth} type veth peer name eth0 netns {ns}")));
        match (self.network_plugin, node.v4.bridge) {
            (Plugin::Kubenet, Some(bridge)) => {
                out.push(Cmd::ip(&node_ns, &format!("link set {veth} master cbr0")));
                out.push(Cmd::ip(&node_ns, &format!("link set {veth} type bridge_slave hairpin on")));
                out.push(Cmd::ip(&node_ns, &format!("link set {veth} up")));
                out.push(Cmd::ip(&ns, &format!("addr add {}/{} dev eth0", p.ip, node.v4.pod_cidr.prefix())));
                if let Some((side, ip6)) = side6 {
                    out.push(Cmd::ip(&ns, &format!("addr add {ip6}/{} dev eth0 nodad", side.pod_cidr.prefix())));
                }
                out.push(Cmd::ip(&ns, "link set eth0 up"));
                out.push(Cmd::ip(&ns, &format!("route add default via {bridge}")));
                if let Some(bridge6) = side6.and_then(|(side, _)| side.bridge) {
                    out.push(Cmd::ip(&ns, &format!("-6 route add default via {bridge6}")));
                }
            }
            _ => {
                out.push(Cmd::ip(&node_ns, &format!("link set {veth} up")));
                out.push(Cmd::ip(&node_ns, &format!("route add {}/32 dev {veth}", p.ip)));
                out.push(Cmd::exec(&node_ns, "sysctl", &["-q", "-w", &format!("net.ipv4.conf.{veth}.proxy_arp=1")]));
                if let Some((_, ip6)) = side6 {
                    out.push(Cmd::ip(&node_ns, &format!("addr add {AZURE_CNI_GATEWAY_V6}/64 dev {veth} nodad")));
                    out.push(Cmd::ip(&node_ns, &format!("-6 route add {ip6}/128 dev {veth}")));
                }
                out.push(Cmd::ip(&ns, &format!("addr add {}/32 dev eth0", p.ip)));
                if let Some((_, ip6)) = side6 {
                    out.push(Cmd::ip(&ns, &format!("addr add {ip6}/128 dev eth0 nodad")));
                }
                out.push(Cmd::ip(&ns, "link set eth0 up"));
                out.push(Cmd::ip(&ns, &format!("route add {AZURE_CNI_GATEWAY} dev eth0 scope link")));
                out.push(Cmd::ip(&ns, &format!("route add default via {AZURE_CNI_GATEWAY} dev eth0")));
                if side6.is_some() {
                    out.push(Cmd::ip(&ns, &format!("-6 route add default via {AZURE_CNI_GATEWAY_V6} dev eth0")));
                }
            }
        }
    }
}

/// `-6 ` before an `ip` command of IPv6 (where iproute2 cannot tell the family from `default`).
fn six(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "",
        IpFamily::Ipv6 => "-6 ",
    }
}

/// An instance-target frontend in the client namespace: DNAT to a node's NodePort, spread over
/// the nodes in rotation by the same 1/(n−i) cascade kube-proxy uses.
fn instance_target_rules(fe: &crate::plan::Frontend) -> String {
    let mut out = String::new();
    let count = fe.targets.len();
    for (i, (_, to)) in fe.targets.iter().enumerate() {
        let pick = if i + 1 < count {
            format!(" -m statistic --mode random --probability {:.10}", 1.0 / (count - i) as f64)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "-A OUTPUT -d {}/{} -p {proto} -m {proto} --dport {}{pick} -j DNAT --to-destination {to}\n",
            fe.addr.ip,
            fe.addr.family().bits(),
            fe.addr.port,
            proto = fe.proto.as_lower()
        ));
    }
    out
}

/// The nfacct counters `rules` counts into: they must exist before the rules load.
fn nfacct_counters(rules: &str) -> Vec<&str> {
    let mut names: Vec<&str> =
        rules.split("--nfacct-name").skip(1).filter_map(|rest| rest.split_whitespace().next()).collect();
    names.sort_unstable();
    names.dedup();
    names
}
