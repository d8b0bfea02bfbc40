//! The differential test on one moment of one scenario: build its lab, confirm the kernel lists
//! the loaded rules back exactly as svcsim prints them (each family's, on a dual-stack
//! cluster), try every case — traced connections spaced so the monitor keeps up, then untraced
//! ones for the endpoint set — and judge each against svcsim.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use svcsim_core::net::{IpFamily, Protocol};
use svcsim_core::sim::Sim;

use crate::cases::{self, Case, Source, Steer};
use crate::conntrack;
use crate::host::{self, Lab};
use crate::judge::{self, Judgement, Observed};
use crate::netns;
use crate::plan::Plan;
use crate::probe::{self, Icmp6Error, Outcome};
use crate::server::Servers;
use crate::setup::Cmd;
use crate::tool::Tool;
use crate::trace::{self, Monitor};

/// How far apart a node's traced SYNs are sent: xtables-monitor loses events in bursts.
const TRACE_SPACING: Duration = Duration::from_millis(150);
/// The most cases one lab runs (its source ports are handed out in blocks).
const MAX_CASES: usize = 150;
/// Ports per case: traced connections from `40000 + TRACED * k`, bulk ones from
/// `45000 + BULK * k`.
const TRACED: u16 = 16;
const BULK: u16 = 130;

/// One check's result: what was compared and how it came out.
#[derive(Debug, Clone)]
pub struct Checked {
    pub name: String,
    pub judgement: Judgement,
}

/// Checks the lab of `sim` as it is now, with namespaces named `{prefix}-…`.
pub fn check(sim: &Sim, prefix: &str) -> Result<Vec<Checked>> {
    let mut plan = match Plan::of(sim, prefix) {
        Ok(plan) => plan,
        Err(why) => return Ok(vec![Checked { name: "the lab".into(), judgement: Judgement::Skipped(why.0) }]),
    };
    plan.add_probe_pods();
    let mut cases = cases::of(sim, &mut plan);
    let mut out = Vec::new();
    // SCTP is in the rules and in svcsim, but not in the lab's clients and servers.
    let (sctp, rest): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(|c| c.header.proto == Protocol::Sctp);
    cases = rest;
    for c in sctp {
        out.push(Checked { name: c.name, judgement: Judgement::Skipped(no_sctp()) });
    }
    let (skipped, rest): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(|c| c.skip.is_some());
    cases = rest;
    for c in skipped {
        out.push(Checked { name: c.name, judgement: Judgement::Skipped(c.skip.unwrap_or_default()) });
    }
    if cases.len() > MAX_CASES {
        for c in cases.drain(MAX_CASES..) {
            out.push(Checked {
                name: c.name,
                judgement: Judgement::Skipped(format!("more than {MAX_CASES} cases in one lab")),
            });
        }
    }
    // The cases steer each connection themselves.
    plan.frontends.clear();
    plan.client_ips.sort();
    plan.client_ips.dedup();
    let lab = Lab::build(plan)?;
    out.extend(rules_listed_back(&lab.plan)?);
    steer(&lab.plan, &cases)?;
    for n in 0..lab.plan.nodes.len() {
        for family in lab.plan.families() {
            let restore = crate::tool::restore(family);
            host::run(&Cmd::exec(&lab.plan.node_ns(n), restore, &["--noflush"]).with_stdin(trace::trace_rules()))?;
        }
    }
    let servers = Servers::start(&lab.plan)?;
    let monitors: Vec<Vec<Monitor>> =
        (0..lab.plan.nodes.len()).map(|n| start_monitors(&lab.plan, n)).collect::<Result<_>>()?;
    std::thread::sleep(trace::SUBSCRIBE);
    let runs = run_cases(&lab.plan, &cases)?;
    // Let the monitors print the last events.
    std::thread::sleep(Duration::from_millis(400));
    for (k, (case, run)) in cases.iter().zip(runs).enumerate() {
        let traced: Vec<Observed> = run
            .traced
            .into_iter()
            .map(|(outcome, local, icmp6)| {
                let ns = lab.plan.node_ns(case.ingress);
                let conntrack = conntrack::lookup(&ns, case.header.proto, local).ok().flatten();
                let hits = monitors[case.ingress].iter().find_map(|m| m.hits(local.ip(), local.port()));
                Observed { outcome, local, conntrack, hits, icmp6 }
            })
            .collect();
        let judgement = judge::case(case, &traced, &run.paths, &run.bulk);
        out.push(Checked { name: format!("{} [case {k}]", case.name), judgement });
    }
    drop(monitors);
    drop(servers);
    drop(lab);
    Ok(out)
}

/// The trace monitors of node `n`: one for every family, but in iptables mode on a dual-stack
/// cluster one per family (see [`crate::trace`]).
fn start_monitors(plan: &Plan, n: usize) -> Result<Vec<Monitor>> {
    let ns = plan.node_ns(n);
    if plan.tool.0 == svcsim_core::cluster::ProxyMode::Iptables && plan.ipv6.is_some() {
        plan.families().into_iter().map(|f| Monitor::start(plan.tool, &ns, Some(f))).collect()
    } else {
        Ok(vec![Monitor::start(plan.tool, &ns, None)?])
    }
}

/// Why SCTP cases are not run here.
fn no_sctp() -> String {
    match socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(socket2::Protocol::from(132))) {
        Err(e) => format!("SCTP: this kernel opens no SCTP socket ({e})"),
        Ok(_) => "SCTP: the lab's clients and servers speak TCP and UDP only".into(),
    }
}

/// One node's rules of one family after a change, reached the way kube-proxy reaches them: the
/// earlier rules loaded, then the sync's input applied over them (`iptables-restore --noflush`
/// or `ip6tables-restore --noflush`, or the nft transaction). The kernel's listing must be the
/// later rules exactly — stale chains deleted (`-X`, `delete chain`), or they would be left
/// behind.
pub fn restore_after_change(tool: Tool, family: IpFamily, prefix: &str, node: &str, texts: [&str; 3]) -> Checked {
    let [before, restore, after] = texts;
    let name = format!("{node}: the sync's {}, applied to the earlier rules, gives the new rules", tool.loader(family));
    let ns = format!("{prefix}-restore");
    let result = (|| -> Result<String> {
        host::remove(&ns)?;
        host::run(&Cmd::ip_root(&format!("netns add {ns}-node")))?;
        let node_ns = format!("{ns}-node");
        if tool.0 == svcsim_core::cluster::ProxyMode::Iptables {
            for counter in ["ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"] {
                host::run(&Cmd::exec(&node_ns, "nfacct", &["add", counter]))?;
            }
        }
        host::run(&tool.load(family, &node_ns, before.to_string()))?;
        host::run(&tool.apply(family, &node_ns, restore.to_string()))?;
        host::run(&tool.list(family, &node_ns))
    })();
    let _ = host::remove(&ns);
    let judgement = match result {
        Ok(listed) => same_listing(
            tool.normalized(&listed),
            tool.normalized(after),
            "the kernel lists",
            "svcsim's new rules have",
        ),
        Err(e) => Judgement::Disagree(vec![format!("{e:#}")]),
    };
    Checked { name, judgement }
}

/// Agree when the two listings are equal, else name the first line where they part.
fn same_listing(kernel: String, svcsim: String, kernel_says: &str, svcsim_says: &str) -> Judgement {
    if kernel == svcsim {
        return Judgement::Agree;
    }
    let at = kernel.lines().zip(svcsim.lines()).take_while(|(a, b)| a == b).count();
    let line = |t: &str| t.lines().nth(at).unwrap_or("(the end)").to_string();
    Judgement::Disagree(vec![format!(
        "line {}: {kernel_says} {:?}; {svcsim_says} {:?}",
        at + 1,
        line(&kernel),
        line(&svcsim)
    )])
}

/// The kernel's listing of each node's rules of each family, against svcsim's text it was
/// loaded from.
fn rules_listed_back(plan: &Plan) -> Result<Vec<Checked>> {
    let mut out = Vec::new();
    let tool = plan.tool;
    for (n, node) in plan.nodes.iter().enumerate() {
        for family in plan.families() {
            let Some(side) = plan.node_side(n, family) else { continue };
            let listed = host::run(&tool.list(family, &plan.node_ns(n)))?;
            let lister = tool.lister(family);
            let says = format!("{lister} lists");
            let judgement =
                same_listing(tool.normalized(&listed), tool.normalized(&side.rules), &says, "svcsim prints");
            out.push(Checked {
                name: format!("{}: {lister} lists the loaded rules back unchanged", node.name),
                judgement,
            });
        }
    }
    Ok(out)
}

/// The source ports of case `k`: its traced block and its bulk block.
fn ports(k: usize) -> (u16, u16) {
    (40000 + TRACED * k as u16, 45000 + BULK * k as u16)
}

/// Routes each client case's connections to its ingress node: a routing table per case, chosen
/// by source address and port, and for instance-target frontends a DNAT to the node's NodePort.
fn steer(plan: &Plan, cases: &[Case]) -> Result<()> {
    let client = plan.client_ns();
    let mut dnat = [String::new(), String::new()];
    for (k, case) in cases.iter().enumerate() {
        let (Source::Client(ip), Some(steer)) = (case.source, case.steer) else { continue };
        let (traced, bulk) = ports(k);
        let ranges = [(traced, traced + TRACED - 1), (bulk, bulk + BULK - 1)];
        // A routing table of its own, chosen by source address and port. An instance-target
        // frontend needs a route too: the socket routes the LB address before OUTPUT's DNAT.
        let node = match steer {
            Steer::Via(node) => node,
            Steer::Dnat(to) => to.ip(),
        };
        let table = 1000 + k;
        let dst = case.dst.ip();
        let family = IpFamily::of(dst);
        let (v6, len) = (if family == IpFamily::Ipv6 { "-6 " } else { "" }, family.bits());
        host::run(&Cmd::ip(&client, &format!("{v6}route add {dst}/{len} via {node} src {ip} table {table}")))?;
        for (lo, hi) in ranges {
            let proto = case.header.proto.as_lower();
            let rule = format!("{v6}rule add from {ip} ipproto {proto} sport {lo}-{hi} lookup {table} pref {table}");
            host::run(&Cmd::ip(&client, &rule))?;
        }
        match steer {
            Steer::Via(_) => {}
            Steer::Dnat(to) => {
                for (lo, hi) in ranges {
                    dnat[usize::from(family == IpFamily::Ipv6)].push_str(&format!(
                        "-A OUTPUT -s {ip}/{len} -d {dst}/{len} -p {proto} -m {proto} --sport {lo}:{hi} --dport {} -j DNAT --to-destination {to}\n",
                        case.dst.port(),
                        proto = case.header.proto.as_lower()
                    ));
                }
            }
        }
    }
    for (family, rules) in [IpFamily::Ipv4, IpFamily::Ipv6].into_iter().zip(dnat) {
        if !rules.is_empty() {
            let rules = format!("*nat\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n");
            host::run(&Cmd::exec(&client, crate::tool::restore(family), &["--noflush"]).with_stdin(rules))?;
        }
    }
    Ok(())
}

/// What one case's connections did.
struct Run {
    /// Each traced connection: what happened, its source, and the ICMPv6 errors about it.
    traced: Vec<(Outcome, SocketAddr, Vec<Icmp6Error>)>,
    /// Whether each traced connection's rule path can be compared.
    paths: Vec<bool>,
    bulk: Vec<Outcome>,
}

/// Runs every case, the cases of one ingress node in order on one thread, nodes in parallel.
fn run_cases(plan: &Plan, cases: &[Case]) -> Result<Vec<Run>> {
    let nodes: BTreeSet<usize> = cases.iter().map(|c| c.ingress).collect();
    let mut runs: Vec<Option<Run>> = (0..cases.len()).map(|_| None).collect();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = nodes
            .iter()
            .map(|&node| {
                scope.spawn(move || -> Result<Vec<(usize, Run)>> {
                    // Affinity entries left by earlier connections: (source, service rule set).
                    let mut affinity_sources = BTreeSet::new();
                    let mut done = Vec::new();
                    for (k, case) in cases.iter().enumerate().filter(|(_, c)| c.ingress == node) {
                        done.push((k, run_case(plan, k, case, &mut affinity_sources)?));
                    }
                    Ok(done)
                })
            })
            .collect();
        for h in handles {
            let done = h.join().map_err(|_| anyhow::anyhow!("a case runner panicked"))??;
            for (k, run) in done {
                runs[k] = Some(run);
            }
        }
        Ok(())
    })?;
    Ok(runs.into_iter().map(|r| r.expect("every case ran")).collect())
}

/// How many connections it takes to reach each of `m` equally likely endpoints with a chance of
/// missing one below one in a billion: m·(ln m + 21).
fn connections_for(m: usize) -> usize {
    if m <= 1 { 1 } else { (m as f64 * ((m as f64).ln() + 21.0)).ceil() as usize }
}

fn run_case(plan: &Plan, k: usize, case: &Case, affinity_sources: &mut BTreeSet<(IpAddr, String)>) -> Result<Run> {
    let (traced_base, bulk_base) = ports(k);
    let endpoints = case.expected.iter().filter(|e| e.dnat.is_some()).count();
    // A link-local source's connection waits for the kernel's SYN retransmission: one is enough.
    let traced_count = if endpoints > 1 && !case.link_local() { endpoints.min(4) } else { 1 };
    let mut run = Run { traced: Vec::new(), paths: Vec::new(), bulk: Vec::new() };
    for i in 0..traced_count {
        let port = traced_base + i as u16;
        let (ns, src) = source(plan, case, port);
        let (proto, dst, path) = (case.header.proto, case.dst, case.path);
        let (outcome, local, icmp6) = if case.link_local() {
            netns::run_in(&ns, move || Ok(probe::request_watching_icmp6(proto, src, dst, path)))?
        } else {
            let (outcome, local) = netns::run_in(&ns, move || Ok(probe::request(proto, src, dst, path)))?;
            (outcome, local, Vec::new())
        };
        // A session-affinity entry from an earlier connection changes the path's first rules.
        let key = (local.ip(), case.service.clone());
        run.paths.push(!case.affinity || affinity_sources.insert(key));
        run.traced.push((outcome, local, icmp6));
        std::thread::sleep(TRACE_SPACING);
    }
    let wanted = if case.affinity { 10 } else { connections_for(endpoints) };
    let bulk = wanted.saturating_sub(traced_count).min(BULK as usize);
    if bulk > 0 && run.traced.iter().all(|(o, _, _)| matches!(o, Outcome::Answered { .. })) {
        let sources: Vec<(String, SocketAddr)> = (0..bulk).map(|i| source(plan, case, bulk_base + i as u16)).collect();
        let ns = sources[0].0.clone();
        let (proto, dst, path) = (case.header.proto, case.dst, case.path);
        let addrs: Vec<SocketAddr> = sources.into_iter().map(|(_, a)| a).collect();
        let bulk = move || Ok(addrs.into_iter().map(|a| probe::request(proto, a, dst, path).0).collect());
        run.bulk = netns::run_in(&ns, bulk).context("bulk connections")?;
    }
    Ok(run)
}

/// The namespace and source address a case's connection on `port` starts from, in the family
/// of its destination.
fn source(plan: &Plan, case: &Case, port: u16) -> (String, SocketAddr) {
    let family = IpFamily::of(case.dst.ip());
    match case.source {
        Source::Client(ip) => (plan.client_ns(), SocketAddr::new(ip, port)),
        Source::Pod(p) => (plan.pod_ns(p), SocketAddr::new(plan.pod_ip(p, family).unwrap_or(plan.pods[p].ip), port)),
        // The host's stack picks the address, as it would for any program.
        Source::Host(n) => {
            let any: IpAddr = match family {
                IpFamily::Ipv4 => Ipv4Addr::UNSPECIFIED.into(),
                IpFamily::Ipv6 => Ipv6Addr::UNSPECIFIED.into(),
            };
            (plan.node_ns(n), SocketAddr::new(any, port))
        }
    }
}
