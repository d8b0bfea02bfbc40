//! Scenarios built in Rust for the core's tests: the seed story and the "Using Source IP"
//! tutorial's cases.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use svcsim_core::cluster::*;
use svcsim_core::net::Protocol;
use svcsim_core::scenario::*;
use svcsim_core::time::{Duration, Instant};

pub const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 79));

pub fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn deployment(name: &str, replicas: u32, app: App, port: u16) -> Deployment {
    Deployment {
        name: name.into(),
        namespace: "default".into(),
        replicas,
        template: PodTemplate {
            labels: labels(&[("app", name)]),
            ports: vec![ContainerPort { name: Some("http".into()), port, protocol: svcsim_core::net::Protocol::Tcp }],
            app,
            node_name: None,
        },
    }
}

pub fn service(name: &str, selects: &str, type_: ServiceType, policy: TrafficPolicy) -> Service {
    Service { external_traffic_policy: policy, ..Service::new(name, type_, labels(&[("app", selects)]), 80, 8080) }
}

/// A TCP client.
pub fn client(name: &str, kind: ClientKind, target: Target, schedule: Schedule) -> Client {
    Client { name: name.into(), kind, target, schedule, protocol: Protocol::Tcp }
}

pub fn external(name: &str, ip: IpAddr, target: Target, schedule: Schedule) -> Client {
    client(name, ClientKind::External(ip), target, schedule)
}

pub fn every_second() -> Schedule {
    Schedule::Every(Duration::from_secs(1))
}

/// The AKS blog: 2 nodes, kubenet, Azure, one Node.js pod behind a LoadBalancer Service
/// (80 → 8080), one laptop sending a request a second; `patch_at` switches the Service to Local.
pub fn seed(duration_s: u64, patch_at: Option<u64>) -> Scenario {
    let mut cluster = Cluster::with_nodes(ClusterConfig::default(), 2);
    cluster.deployments.push(deployment("node-deployment", 1, App::NodeJs, 8080));
    let mut svc = service("node-service", "node-deployment", ServiceType::LoadBalancer, TrafficPolicy::Cluster);
    svc.ports[0].protocol = Protocol::Tcp;
    cluster.services.push(svc);
    let changes = patch_at
        .map(|t| TimedChange {
            at: Instant::from_secs(t),
            change: Change::ExternalTrafficPolicy { svc: ServiceId(0), policy: TrafficPolicy::Local },
        })
        .into_iter()
        .collect();
    Scenario {
        name: "aks-blog".into(),
        seed: 1,
        duration: Duration::from_secs(duration_s),
        cluster,
        clients: vec![external(
            "laptop",
            CLIENT_IP,
            Target::LoadBalancer { svc: ServiceId(0), port: 0, family: svcsim_core::net::IpFamily::Ipv4 },
            every_second(),
        )]
        .into(),
        changes,
    }
}

/// A pod that no Deployment owns, like the tutorial's busybox.
pub fn standalone_pod(cluster: &mut Cluster, name: &str, node: u32, app: App) {
    cluster.add_pod(Pod::new(name, labels(&[("run", name)]), NodeId(node), app));
}

/// The "Using Source IP" tutorial's cluster: 3 nodes, one echoserver pod (on node-0),
/// one Service of `type_` with `policy`, exposed as `kubectl expose --port=80 --target-port=8080`.
pub fn tutorial(type_: ServiceType, policy: TrafficPolicy) -> Cluster {
    let mut cluster = Cluster::with_nodes(ClusterConfig::default(), 3);
    cluster.deployments.push(deployment("source-ip-app", 1, App::Echo, 8080));
    cluster.services.push(service("source-ip", "source-ip-app", type_, policy));
    cluster.allocate();
    cluster
}

pub fn scenario(cluster: Cluster, clients: Vec<Client>, seconds: u64) -> Scenario {
    let duration = Duration::from_secs(seconds);
    Scenario { name: "test".into(), seed: 1, duration, cluster, clients: clients.into(), changes: vec![] }
}

pub fn at(seconds: &[u64]) -> Schedule {
    Schedule::At(seconds.iter().map(|s| Instant::from_secs(*s)).collect())
}
