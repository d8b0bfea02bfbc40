//! Simulated events per second: the seed story and a large cluster (100 nodes, 1,000 pods,
//! 5 Services, 1,000 requests/s for 60 simulated seconds). `cargo bench -p svcsim-core`.
//!
//! Before the timed runs, each scenario runs once under a counting allocator and prints its
//! event count and peak heap, the numbers docs/BENCHMARKS.md reports.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use divan::counter::ItemsCount;
use svcsim_core::cluster::*;
use svcsim_core::scenario::*;
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

/// Counts live and peak heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

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
            ports: vec![ContainerPort { name: None, port: 8080 }],
            app: App::NodeJs,
            node_name: None,
        },
    }
}

fn lb_service(name: &str) -> Service {
    Service::new(name, ServiceType::LoadBalancer, labels(name), 80, 8080)
}

/// `services` LoadBalancer Services, each with `pods / services` replicas, one client per Service
/// sending `rate / services` requests a second; the first Service switches to Local halfway.
fn scenario(nodes: u32, pods: u32, services: u32, rate: u64, seconds: u64) -> Scenario {
    let mut cluster = Cluster::with_nodes(ClusterConfig::default(), nodes);
    let mut clients = Vec::new();
    for s in 0..services {
        let name = format!("web-{s}");
        cluster.deployments.push(deployment(&name, pods / services));
        cluster.services.push(lb_service(&name));
        clients.push(Client {
            name: format!("client-{s}"),
            kind: ClientKind::External(Ipv4Addr::new(198, 51, 100, 10 + s as u8)),
            target: Target::LoadBalancer { svc: ServiceId(s), port: 0 },
            schedule: Schedule::Every(Duration::from_micros(1_000_000 * u64::from(services) / rate)),
        });
    }
    let changes = vec![TimedChange {
        at: Instant::from_secs(seconds / 2),
        change: Change::ExternalTrafficPolicy { svc: ServiceId(0), policy: TrafficPolicy::Local },
    }];
    Scenario { name: "bench".into(), seed: 1, duration: Duration::from_secs(seconds), cluster, clients, changes }
}

fn seed() -> Scenario {
    scenario(2, 1, 1, 1, 120)
}

fn large() -> Scenario {
    scenario(100, 1_000, 5, 1_000, 60)
}

fn events(s: Scenario) -> u64 {
    let mut sim = Sim::new(s);
    sim.run().events
}

fn main() {
    for (name, s) in [("seed", seed()), ("large", large()), ("large-idle", scenario(100, 1_000, 5, 5, 60))] {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let mut sim = Sim::new(s);
        let run = sim.run();
        let n = run.events;
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!("{name}: {n} events, peak heap {:.1} MB", peak as f64 / 1e6);
        if std::env::var_os("SVCSIM_BENCH_STATS").is_some() {
            let hops: usize = run.packets.iter().map(|p| p.hops.len()).sum();
            let hits: usize = run.packets.iter().flat_map(|p| &p.hops).map(|h| h.rules.len()).sum();
            let trace: usize = run.trace.iter().map(|l| run.render(l).len()).sum();
            use std::mem::size_of;
            use svcsim_core::record::*;
            println!(
                "  sizes: Hop {} RuleHit {} FlowRecord {} TraceLine {} PacketRecord {}",
                size_of::<Hop>(),
                size_of::<svcsim_core::kube_proxy::RuleHit>(),
                size_of::<FlowRecord>(),
                size_of::<TraceLine>(),
                size_of::<PacketRecord>()
            );
            println!(
                "  flows {} packets {} hops {hops} hits {hits} trace lines {} ({} text bytes)",
                run.flows.len(),
                run.packets.len(),
                run.trace.len(),
                trace
            );
        }
    }
    divan::main();
}

#[divan::bench(sample_count = 20)]
fn seed_story(bencher: divan::Bencher) {
    let n = events(seed());
    bencher.counter(ItemsCount::new(n)).with_inputs(seed).bench_values(|s| Sim::new(s).run().events);
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn large_cluster(bencher: divan::Bencher) {
    let n = events(large());
    bencher.counter(ItemsCount::new(n)).with_inputs(large).bench_values(|s| Sim::new(s).run().events);
}

/// Only the event loop of the large run: `Sim::new` (programming 100 nodes) is not timed.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn large_cluster_loop(bencher: divan::Bencher) {
    let n = events(large());
    bencher.counter(ItemsCount::new(n)).with_inputs(|| Sim::new(large())).bench_values(|mut sim| sim.run().events);
}

/// Programming every node's rules for the large cluster (what `Sim::new` and each sync cost).
#[divan::bench(sample_count = 3, sample_size = 1)]
fn large_cluster_setup(bencher: divan::Bencher) {
    bencher.with_inputs(large).bench_values(Sim::new);
}

/// Cost per request as the number of pods grows: one Service, 100 requests/s for 30 s, no
/// timeline change; setup is not timed.
#[divan::bench(args = [1, 10, 100, 1_000], sample_count = 5, sample_size = 1)]
fn per_request_by_pods(bencher: divan::Bencher, pods: u32) {
    let make = move || {
        let mut s = scenario(4, pods, 1, 100, 30);
        s.changes.clear();
        s
    };
    let requests = 100 * 30;
    bencher
        .counter(ItemsCount::new(requests as u64))
        .with_inputs(move || Sim::new(make()))
        .bench_values(|mut sim| sim.run().events);
}
