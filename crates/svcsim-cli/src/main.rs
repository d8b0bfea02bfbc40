//! The `svcsim` command: svcsim scenarios, headless — summaries, JSON, traces, the rules a node
//! programs, what they do with one packet, and one request explained.
//!
//! This is the only crate of the workspace that reads files; parsing and simulation live in
//! `svcsim-core`. Exit codes: 0 success, 1 runtime failure (a file that cannot be read), 2 usage
//! error or invalid scenario. Every diagnostic goes to stderr.

mod input;
mod lab;
mod lab_check;
mod lab_guide;
mod output;
mod trace;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use svcsim_core::cluster::{CiliumLbAlgorithm, CiliumLbMode, Provider, ProxyMode, TrafficPolicy};
use svcsim_core::dataplane::{FirstPacket, Origin, RulesText};
use svcsim_core::manifest::{DataplaneOverride, Overrides};
use svcsim_core::net::{Header, IpFamily, Protocol, SockAddr};
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  svcsim run scenarios/aks-blog.yaml
  svcsim run scenarios/aks-blog.yaml --external-traffic-policy Local --format json
  svcsim run scenarios/aks-blog-switch.yaml --trace
  svcsim rules scenarios/aks-blog.yaml --node node-1
  svcsim packet scenarios/aks-blog.yaml --node node-1 --src 198.51.100.79 --dst 203.0.113.10:80
  svcsim check my-deploy.yaml
  svcsim explain scenarios/aks-blog.yaml --request 2
  svcsim trace --iptables-save node-1.rules --src 10.244.1.5 --dst 10.0.0.10:80 --node-ip 10.240.0.5

Scenario files are Kubernetes YAML (Deployment, Service, Pod, EndpointSlice) plus an optional
`kind: Simulation` document; see docs/scenarios.md. Exit codes: 0 ok, 1 runtime failure,
2 usage error or invalid scenario.";

/// Simulate Kubernetes Service routing: kube-proxy's iptables and nftables rules, conntrack,
/// cloud load balancers and their health probes.
#[derive(Debug, Parser)]
#[command(name = "svcsim", version = svcsim_core::VERSION, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and summarise it: requests by outcome, what the app printed, hits per pod,
    /// health probe status, nodes in rotation.
    Run(RunArgs),
    /// Print one node's kube-proxy rules: as the node lists them (iptables-save, or `nft list table
    /// ip kube-proxy` in nftables mode; the default), or as the input kube-proxy handed its loader
    /// at its last sync.
    Rules {
        file: PathBuf,
        /// The node, e.g. node-0.
        #[arg(long)]
        node: String,
        /// The time to look at, e.g. 60s (kube-proxy re-syncs after changes).
        #[arg(long, value_parser = duration, default_value = "0s")]
        at: Duration,
        /// `save`: what `iptables-save` prints on the node, built-in chains and their jumps
        /// included, which `iptables-restore` loads as is (nftables mode: what `nft list table ip
        /// kube-proxy` prints, which `nft -f` loads). `restore`: the input kube-proxy handed
        /// `iptables-restore --noflush` at its last sync, with `-X` for the chains that sync
        /// deleted (nftables mode: the sync's `nft -f` transaction, stale chains deleted).
        #[arg(long, value_enum, default_value_t = RulesFormat::Save)]
        format: RulesFormat,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Show what one node's rules do with the first packet of a new connection (TCP unless
    /// --protocol says otherwise).
    Packet {
        file: PathBuf,
        #[arg(long)]
        node: String,
        #[command(flatten)]
        packet: PacketArgs,
        #[arg(long, value_parser = duration, default_value = "0s")]
        at: Duration,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Validate a scenario: print its warnings and errors, run nothing.
    Check {
        file: PathBuf,
        /// Every warning on its own line: fields svcsim does not model are otherwise folded, one
        /// line per field and kind of object, with a count.
        #[arg(long)]
        verbose: bool,
    },
    /// The scenario in network namespaces with the kernel's own netfilter (Linux, root):
    /// `lab up`, `lab down`, and `lab check`, which compares the kernel with svcsim.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Walk a first packet through a real node's rules, from its iptables-save or nft list ruleset output: the
    /// verdict, the endpoints, the rules that matched and the Service each kube-proxy chain
    /// stands for; what needs a fact the dump lacks is named, never guessed.
    #[command(group(clap::ArgGroup::new("dump").required(true).args(["iptables_save", "nft_ruleset"])))]
    Trace {
        /// The node's `iptables-save` output.
        #[arg(long, value_name = "FILE")]
        iptables_save: Option<PathBuf>,
        /// The node's `nft list ruleset` output.
        #[arg(long, value_name = "FILE")]
        nft_ruleset: Option<PathBuf>,
        #[command(flatten)]
        packet: PacketArgs,
        /// The node's own addresses, comma-separated: they decide `--dst-type LOCAL` (`fib daddr
        /// type local`) and INPUT vs FORWARD, and a packet from one of them starts in OUTPUT.
        #[arg(long, value_delimiter = ',', value_name = "IP,…")]
        node_ip: Option<Vec<IpAddr>>,
        /// The node's `ipset save` output, for `-m set` matches.
        #[arg(long, value_name = "FILE")]
        ipset: Option<PathBuf>,
        /// The interface the packet arrives on (`eth0`, `cbr0`, `docker0`), for `-i` (`iifname`)
        /// matches.
        #[arg(long, value_name = "IF")]
        in_interface: Option<String>,
        /// The interface the packet leaves by, for `-o` (`oifname`) matches.
        #[arg(long, value_name = "IF")]
        out_interface: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Explain one request's journey in plain words, hop by hop.
    Explain {
        file: PathBuf,
        /// Which request, counting from 1 in the order they were sent.
        #[arg(long, default_value_t = 1)]
        request: usize,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
}

/// A first packet: `--src`, `--dst`, `--protocol`.
#[derive(Debug, Args)]
struct PacketArgs {
    /// Source address: IP or IP:PORT, an IPv6 one as [IP]:PORT (port defaults to 40000).
    #[arg(long, value_parser = source)]
    src: SocketAddr,
    /// Destination IP:PORT, or [IPv6]:PORT.
    #[arg(long, value_parser = destination)]
    dst: SocketAddr,
    /// The packet's protocol.
    #[arg(long, value_enum, default_value_t = Proto::Tcp)]
    protocol: Proto,
}

impl PacketArgs {
    fn header(&self) -> Header {
        let addr = |a: SocketAddr| SockAddr::new(a.ip(), a.port());
        Header::new(self.protocol.into(), addr(self.src), addr(self.dst))
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    file: PathBuf,
    #[command(flatten)]
    overrides: OverrideArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also print the trace, one line per event.
    #[arg(long)]
    trace: bool,
}

/// Changes to the scenario, applied from t = 0.
#[derive(Debug, Args, Default)]
struct OverrideArgs {
    /// Override the Simulation's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the duration, e.g. 90s or 5m (at most 1h).
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
    /// Set externalTrafficPolicy on every externally reachable Service.
    #[arg(long, value_enum)]
    external_traffic_policy: Option<Policy>,
    /// Set every Deployment's replicas.
    #[arg(long)]
    replicas: Option<u32>,
    /// Set the number of nodes (when the file gives a count).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    nodes: Option<u32>,
    /// Set the cloud provider.
    #[arg(long, value_enum)]
    provider: Option<CloudProvider>,
    /// Set kube-proxy's mode, with that mode's defaults (nftables: NodePorts on the node's IP only).
    #[arg(long, value_enum, conflicts_with = "dataplane")]
    proxy_mode: Option<Mode>,
    /// Run this dataplane on the nodes: kube-proxy in either mode, or Cilium's kube-proxy
    /// replacement (with the file's cilium values, or Cilium's defaults).
    #[arg(long, value_enum)]
    dataplane: Option<DataplaneArg>,
    /// With Cilium: loadBalancer.mode.
    #[arg(long, value_enum)]
    cilium_mode: Option<CiliumModeArg>,
    /// With Cilium: loadBalancer.algorithm.
    #[arg(long, value_enum)]
    cilium_algorithm: Option<CiliumAlgorithmArg>,
    /// On a dual-stack cluster: the family every client uses where its Service has it (`run`),
    /// and the side of the rules to print (`rules`: iptables or ip6tables, table ip or ip6).
    /// Default: each target's own, and the cluster's first family.
    #[arg(long, value_enum)]
    family: Option<FamilyArg>,
    /// Make a single-stack cluster dual-stack (AKS's ranges for the other family), every Service
    /// that sets no ipFamilyPolicy PreferDualStack: the scenario as if patched so.
    #[arg(long)]
    dual_stack: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FamilyArg {
    Ipv4,
    Ipv6,
}

impl From<FamilyArg> for IpFamily {
    fn from(f: FamilyArg) -> IpFamily {
        match f {
            FamilyArg::Ipv4 => IpFamily::Ipv4,
            FamilyArg::Ipv6 => IpFamily::Ipv6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DataplaneArg {
    Iptables,
    Nftables,
    Cilium,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CiliumModeArg {
    Snat,
    Dsr,
    Hybrid,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CiliumAlgorithmArg {
    Random,
    Maglev,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RulesFormat {
    Save,
    Restore,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Policy {
    #[value(name = "Cluster")]
    Cluster,
    #[value(name = "Local")]
    Local,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl From<Proto> for Protocol {
    fn from(p: Proto) -> Protocol {
        match p {
            Proto::Tcp => Protocol::Tcp,
            Proto::Udp => Protocol::Udp,
            Proto::Sctp => Protocol::Sctp,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Iptables,
    Nftables,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CloudProvider {
    Azure,
    Aws,
    Gcp,
}

impl OverrideArgs {
    fn to_overrides(&self) -> Overrides {
        Overrides {
            seed: self.seed,
            duration: self.duration,
            external_traffic_policy: self.external_traffic_policy.map(|p| match p {
                Policy::Cluster => TrafficPolicy::Cluster,
                Policy::Local => TrafficPolicy::Local,
            }),
            replicas: self.replicas,
            nodes: self.nodes,
            provider: self.provider.map(|p| match p {
                CloudProvider::Azure => Provider::Azure,
                CloudProvider::Aws => Provider::Aws,
                CloudProvider::Gcp => Provider::Gcp,
            }),
            dataplane: self.dataplane(),
            family: self.family.map(IpFamily::from),
            dual_stack: self.dual_stack,
        }
    }

    /// `--proxy-mode`, `--dataplane` and the Cilium flags as one choice. A Cilium flag alone
    /// means Cilium.
    fn dataplane(&self) -> Option<DataplaneOverride> {
        let cilium_flags = self.cilium_mode.is_some() || self.cilium_algorithm.is_some();
        let dataplane = self.dataplane.or(self.proxy_mode.map(|m| match m {
            Mode::Iptables => DataplaneArg::Iptables,
            Mode::Nftables => DataplaneArg::Nftables,
        }));
        match dataplane {
            Some(DataplaneArg::Iptables) => Some(DataplaneOverride::KubeProxy(ProxyMode::Iptables)),
            Some(DataplaneArg::Nftables) => Some(DataplaneOverride::KubeProxy(ProxyMode::Nftables)),
            Some(DataplaneArg::Cilium) | None if cilium_flags || dataplane.is_some() => {
                Some(DataplaneOverride::Cilium {
                    mode: self.cilium_mode.map(|m| match m {
                        CiliumModeArg::Snat => CiliumLbMode::Snat,
                        CiliumModeArg::Dsr => CiliumLbMode::Dsr,
                        CiliumModeArg::Hybrid => CiliumLbMode::Hybrid,
                    }),
                    algorithm: self.cilium_algorithm.map(|a| match a {
                        CiliumAlgorithmArg::Random => CiliumLbAlgorithm::Random,
                        CiliumAlgorithmArg::Maglev => CiliumLbAlgorithm::Maglev,
                    }),
                })
            }
            _ => None,
        }
    }
}

pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    svcsim_core::manifest::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration (e.g. 90s, 2m, 1m30s)"))
}

fn source(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 40000))
        .map_err(|_| format!("{s:?} is not an address: IP or IP:PORT, an IPv6 one as [2001:db8::7]:40000"))
}

fn destination(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().map_err(|_| match s.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("{s:?}: write an IPv6 destination as [{s}]:PORT"),
        Err(_) => format!("{s:?} is not IP:PORT (an IPv6 one as [2001:db8::10]:80)"),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Rust ignores SIGPIPE, so printing to a closed pipe (`svcsim run … | head`) would panic;
    // the default action ends the process quietly, as every Unix filter does. Not for the lab:
    // it writes to its tools' stdin, and a tool that exits early must not kill it before it
    // has removed its namespaces.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Lab(_)) {
        // SAFETY: before any thread exists, and SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn run(command: Command) -> Result<(), ExitCode> {
    match command {
        Command::Run(args) => {
            let loaded = input::load(&args.file, &args.overrides.to_overrides())?;
            let mut sim = Sim::new(loaded.scenario);
            sim.run();
            match args.format {
                Format::Text => {
                    if args.trace {
                        print!("{}", sim.record().trace_text());
                        println!();
                    }
                    print!("{}", output::summary(&sim));
                }
                Format::Json => {
                    let mut json = output::json(&sim);
                    if args.trace {
                        json["trace"] = sim
                            .record()
                            .trace
                            .iter()
                            .map(|l| format!("{} {}", l.time, sim.record().render(l)))
                            .collect();
                    }
                    println!("{}", serde_json::to_string_pretty(&json).expect("JSON values serialize"));
                }
            }
            Ok(())
        }
        Command::Rules { file, node, at, format, overrides } => {
            let (mut sim, node) = input::sim_with_node(&file, &node, &overrides.to_overrides())?;
            sim.run_until(Instant::ZERO + at);
            let form = match format {
                RulesFormat::Save => RulesText::Save,
                RulesFormat::Restore => RulesText::Restore,
            };
            let families = sim.cluster().config.families();
            let family = overrides.family.map_or(families[0], IpFamily::from);
            if !families.contains(&family) {
                eprintln!(
                    "error: --family {}: the cluster is single-stack {} (give clusterCIDR and serviceCIDR one prefix per family for a dual-stack cluster)",
                    family.to_string().to_lowercase(),
                    families[0]
                );
                return Err(ExitCode::from(2));
            }
            let text = sim.dataplane().render_family(node, form, family).unwrap_or_default();
            // A comment line both loaders skip: which proxy, release, family and moment this is.
            let name = &sim.cluster().node(node).name;
            let side = if families.len() > 1 { format!(", {family} side") } else { String::new() };
            println!("# svcsim: {}{side} on {name} at {at}", sim.dataplane().describe());
            print!("{text}");
            Ok(())
        }
        Command::Packet { file, node, packet, at, format, overrides } => {
            let (mut sim, node) = input::sim_with_node(&file, &node, &overrides.to_overrides())?;
            sim.run_until(Instant::ZERO + at);
            let asked = packet.header();
            let net = sim.node_net(node, asked.family());
            let origin = Origin::of(&net, asked.src.ip);
            // A socket in a pod or the host may be connected elsewhere before any packet exists.
            let from_pod = net.is_pod_side(asked.src.ip);
            let connects = if from_pod || origin == Origin::Host {
                sim.dataplane().every_connect(node, from_pod, asked.src, asked.dst, asked.proto)
            } else {
                Vec::new()
            };
            let header = match connects.first().map(|c| &c.to) {
                Some(Ok(backend)) => Header { dst: *backend, ..asked },
                _ => asked,
            };
            let report = FirstPacket::of(&sim.dataplane().every_decision(node, origin, header));
            let name = &sim.cluster().node(node).name;
            match format {
                Format::Text => {
                    if !connects.is_empty() {
                        print!("{}", output::connect_text(&connects, asked, name));
                    }
                    if connects.iter().all(|c| c.to.is_ok()) {
                        let steps = sim.cluster().config.cilium.is_some();
                        print!("{}", output::packet_text(&report, header, name, &[], steps));
                    }
                }
                Format::Json => {
                    let mut json = output::packet_json(&report);
                    if !connects.is_empty() {
                        json["connect"] = output::connect_json(&connects);
                    }
                    println!("{}", serde_json::to_string_pretty(&json).expect("JSON values serialize"))
                }
            }
            Ok(())
        }
        Command::Check { file, verbose } => {
            let loaded = input::load_with(&file, &Overrides::default(), verbose)?;
            let s = &loaded.scenario;
            println!(
                "{}: ok — {} nodes, {} Services, {} Deployments, {} Pods, {} clients, {} events",
                file.display(),
                s.cluster.nodes.len(),
                s.cluster.services.len(),
                s.cluster.deployments.len(),
                s.cluster.pods.len(),
                s.clients.len(),
                s.changes.len()
            );
            Ok(())
        }
        Command::Lab(command) => lab::run(command),
        Command::Trace { iptables_save, nft_ruleset, packet, node_ip, ipset, in_interface, out_interface, format } => {
            let dump = match (&iptables_save, &nft_ruleset) {
                (Some(path), _) => (svcsim_core::dump::Format::IptablesSave, path.as_path()),
                (None, Some(path)) => (svcsim_core::dump::Format::NftRuleset, path.as_path()),
                (None, None) => unreachable!("clap requires one of --iptables-save and --nft-ruleset"),
            };
            trace::run(trace::Asked {
                dump,
                ipset: ipset.as_ref(),
                node_ips: node_ip,
                in_interface,
                out_interface,
                header: packet.header(),
                json: format == Format::Json,
            })
        }
        Command::Explain { file, request, overrides } => {
            let loaded = input::load(&file, &overrides.to_overrides())?;
            let mut sim = Sim::new(loaded.scenario);
            sim.run();
            let run = sim.record();
            let count = run.requests().count();
            let Some(flow) = run.requests().nth(request.wrapping_sub(1)) else {
                eprintln!("error: --request {request}: the run has {count} requests (1-{count})");
                return Err(ExitCode::from(2));
            };
            println!("Request {request} of {count}, sent at {}s: {}", flow.start, flow.header);
            for line in svcsim_core::explain::explain(run, sim.cluster(), flow) {
                println!("{line}");
            }
            Ok(())
        }
    }
}
