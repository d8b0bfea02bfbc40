//! The benchmark workloads and their measurement, shared by the native report
//! (`benches/report.rs`) and the same code compiled to wasm (`tests/wasm_bench.rs`), so the
//! wasm/native ratio compares identical work. Each case prints one line,
//! `BENCH <case> events=<n> requests=<n> setup_ms=<f> run_ms=<f>`, that `cargo xtask bench` reads.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use svcsim_core::cluster::*;
use svcsim_core::scenario::*;
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), app.to_string())])
}

fn deployment(name: &str, replicas: u32) -> Deployment {
    Deployment {
        name: name.into(),
        namespace: "default".into(),
        replicas,
        template: PodTemplate {
            labels: labels(name),
            ports: vec![ContainerPort::tcp(8080)],
            app: App::NodeJs,
            node_name: None,
        },
    }
}

/// `services` LoadBalancer Services, each with `pods / services` replicas, one client per Service
/// sending `rate / services` requests a second; with `switch`, the first Service is patched to
/// Local halfway.
pub fn scenario(nodes: u32, pods: u32, services: u32, rate: u64, seconds: u64, switch: bool) -> Scenario {
    let mut cluster = Cluster::with_nodes(ClusterConfig::default(), nodes);
    let mut clients = Vec::new();
    for s in 0..services {
        let name = format!("web-{s}");
        cluster.deployments.push(deployment(&name, pods / services));
        cluster.services.push(Service::new(&name, ServiceType::LoadBalancer, labels(&name), 80, 8080));
        clients.push(Client {
            name: format!("client-{s}"),
            kind: ClientKind::External(Ipv4Addr::new(198, 51, 100, 10 + s as u8).into()),
            target: Target::LoadBalancer { svc: ServiceId(s), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
            schedule: Schedule::Every(Duration::from_micros(1_000_000 * u64::from(services) / rate)),
            protocol: svcsim_core::net::Protocol::Tcp,
        });
    }
    let changes = if switch {
        vec![TimedChange {
            at: Instant::from_secs(seconds / 2),
            change: Change::ExternalTrafficPolicy { svc: ServiceId(0), policy: TrafficPolicy::Local },
        }]
    } else {
        Vec::new()
    };
    let duration = Duration::from_secs(seconds);
    Scenario { name: "bench".into(), seed: 1, duration, cluster, clients: clients.into(), changes }
}

/// The `aks-blog` preset, as the CLI and the page load it: 2 nodes, 1 pod, 1 request/s for 120 s.
pub fn aks_blog() -> Scenario {
    let yaml = include_str!("../../../../scenarios/aks-blog.yaml");
    svcsim_core::manifest::load(yaml, &svcsim_core::manifest::Overrides::default()).expect("the preset loads").scenario
}

/// The large cluster of issue 7: 100 nodes, 1,000 pods, 5 Services, 1,000 requests/s for 60 s.
pub fn large() -> Scenario {
    scenario(100, 1_000, 5, 1_000, 60, true)
}

/// The large cluster with kube-proxy in nftables mode.
pub fn large_nftables() -> Scenario {
    let mut s = large();
    let mode = svcsim_core::cluster::ProxyMode::Nftables;
    s.cluster.config.kube_proxy = svcsim_core::cluster::KubeProxyConfig::for_mode(mode);
    s
}

/// The large cluster with Cilium replacing kube-proxy (its defaults: SNAT, random, socket-LB).
pub fn large_cilium() -> Scenario {
    let mut s = large();
    s.cluster.config.cilium = Some(svcsim_core::cluster::CiliumConfig::default());
    s
}

/// The large cluster made dual-stack (AKS's IPv6 ranges, every Service PreferDualStack), its
/// clients still over IPv4: the same traffic, each node programmed for both families.
pub fn large_dual_stack() -> Scenario {
    let mut s = large();
    s.cluster.config.secondary = Some(svcsim_core::cluster::SecondaryCidrs {
        cluster_cidr: "fd12:3456:789a::/64".parse().expect("a CIDR"),
        service_cidr: "fd12:3456:789a:1::/108".parse().expect("a CIDR"),
    });
    let secondary = s.cluster.config.secondary;
    for (i, node) in s.cluster.nodes.iter_mut().enumerate() {
        let default = ClusterConfig { secondary, ..ClusterConfig::default() }.default_node(i as u32);
        node.secondary = default.secondary;
    }
    for svc in s.cluster.services.iter_mut() {
        svc.ip_family_policy = svcsim_core::cluster::IpFamilyPolicy::PreferDualStack;
        svc.ip_families = vec![svcsim_core::net::IpFamily::Ipv4, svcsim_core::net::IpFamily::Ipv6];
    }
    s
}

/// A named workload: its scenario builder and the argument it is built with.
pub type Case = (String, fn(u64) -> Scenario, u64);

/// Every case, by name: the two headline scenarios (the `aks-blog` preset and the large cluster), then the scaling curves over nodes (100
/// pods, 100 requests/s), pods (100 nodes, 100 requests/s) and request rate (10 nodes, 100
/// pods), 20 simulated seconds each, one Service, no change.
pub fn cases() -> Vec<Case> {
    let mut out: Vec<Case> = vec![
        ("aks-blog".into(), |_| aks_blog(), 0),
        ("large".into(), |_| large(), 0),
        ("large-nftables".into(), |_| large_nftables(), 0),
        ("large-cilium".into(), |_| large_cilium(), 0),
        ("large-dual-stack".into(), |_| large_dual_stack(), 0),
    ];
    for n in [2, 4, 8, 16, 32, 64, 128, 256] {
        out.push((format!("nodes-{n}"), |n| scenario(n as u32, 100, 1, 100, 20, false), n));
    }
    for p in [1, 10, 100, 1_000, 10_000] {
        out.push((format!("pods-{p}"), |p| scenario(100, p as u32, 1, 100, 20, false), p));
    }
    for r in [10, 100, 1_000, 10_000] {
        out.push((format!("rate-{r}"), |r| scenario(10, 100, 1, r, 20, false), r));
    }
    out
}

/// One measured case: medians over the samples taken.
pub struct Measured {
    pub events: u64,
    pub requests: usize,
    pub setup_ms: f64,
    pub run_ms: f64,
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "events={} requests={} setup_ms={:.3} run_ms={:.3}",
            self.events, self.requests, self.setup_ms, self.run_ms
        )
    }
}

/// Times `Sim::new` and `Sim::run` on fresh copies of `make()`, with `now_ms` as the clock,
/// until about `budget_ms` has been spent (at least one and at most 15 samples); short runs are
/// repeated to fill about 50 ms per sample, so a millisecond clock (wasm's) is good to 2 %.
pub fn measure(now_ms: &dyn Fn() -> f64, make: &dyn Fn() -> Scenario, budget_ms: f64) -> Measured {
    let probe = Sim::new(make()).run().clone();
    let (events, requests) = (probe.events, probe.requests().count());
    // The time of one run, over as many runs as fill 10 ms: a clock with millisecond
    // resolution (wasm's) cannot time a sub-millisecond run once.
    let once = {
        let (t, mut n) = (now_ms(), 0);
        while n == 0 || now_ms() - t < 10.0 {
            Sim::new(make()).run();
            n += 1;
        }
        (now_ms() - t) / f64::from(n)
    };
    let repeat = (50.0 / once).ceil().clamp(1.0, 1_000.0) as usize;
    let (mut setups, mut runs) = (Vec::new(), Vec::new());
    let started = now_ms();
    while setups.len() < 15 && (setups.is_empty() || now_ms() - started < budget_ms) {
        let scenarios: Vec<Scenario> = (0..repeat).map(|_| make()).collect();
        let t = now_ms();
        let mut sims: Vec<Sim> = scenarios.into_iter().map(Sim::new).collect();
        let t_setup = now_ms();
        for sim in &mut sims {
            sim.run();
        }
        let t_run = now_ms();
        setups.push((t_setup - t) / repeat as f64);
        runs.push((t_run - t_setup) / repeat as f64);
    }
    Measured { events, requests, setup_ms: median(&mut setups), run_ms: median(&mut runs) }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
