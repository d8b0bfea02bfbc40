//! Random clusters for the kernel property test: from a seed, one to three nodes on kubenet or
//! Azure CNI behind a random cloud, and one to three Services of random type, protocol (TCP or
//! UDP), traffic policies, session affinity, source ranges and externalIPs over Deployments of
//! zero to three pods. Pure
//! and deterministic: the same seed gives the same scenario.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use svcsim_core::cluster::{
    App, Cluster, ClusterConfig, ContainerPort, Deployment, NetworkPlugin, PodTemplate, Provider, Service, ServiceType,
    TrafficPolicy,
};
use svcsim_core::net::{IpCidr, Protocol};
use svcsim_core::rng::SimRng;
use svcsim_core::scenario::{Client, ClientKind, Scenario, Schedule, Target};
use svcsim_core::time::Duration;

/// The random cluster of `seed`.
pub fn scenario(seed: u64) -> Scenario {
    let mut rng = SimRng::new(seed).stream("lab/random");
    let pick = |rng: &mut SimRng, n: u64| rng.below(n) as usize;
    let config = ClusterConfig {
        provider: [Provider::Azure, Provider::Aws, Provider::Gcp][pick(&mut rng, 3)],
        network_plugin: if rng.one_in(2) { NetworkPlugin::Kubenet } else { NetworkPlugin::AzureCni },
        ..ClusterConfig::default()
    };
    let nodes = 1 + pick(&mut rng, 3) as u32;
    let mut cluster = Cluster::with_nodes(config, nodes);
    for s in 0..1 + pick(&mut rng, 3) {
        let name = format!("svc{s}");
        let labels = BTreeMap::from([("app".to_string(), name.clone())]);
        let app = if rng.one_in(2) { App::NodeJs } else { App::Echo };
        cluster.deployments.push(Deployment {
            name: format!("web{s}"),
            namespace: "default".into(),
            replicas: pick(&mut rng, 4) as u32,
            template: PodTemplate {
                labels: labels.clone(),
                ports: vec![ContainerPort::tcp(8080)],
                app,
                node_name: None,
            },
        });
        let type_ = [ServiceType::ClusterIP, ServiceType::NodePort, ServiceType::LoadBalancer][pick(&mut rng, 3)];
        let mut svc = Service::new(&name, type_, labels, 80 + s as u16, 8080);
        if type_ != ServiceType::ClusterIP && rng.one_in(2) {
            svc.external_traffic_policy = TrafficPolicy::Local;
        }
        if rng.one_in(5) {
            svc.internal_traffic_policy = TrafficPolicy::Local;
        }
        if rng.one_in(4) {
            svc.session_affinity = Some(Duration::from_secs(10_800));
        }
        if type_ == ServiceType::LoadBalancer && rng.one_in(3) {
            // Sometimes the client is inside the allowed range, sometimes not.
            let range = if rng.one_in(2) { "198.51.100.0/24" } else { "203.0.113.128/25" };
            svc.load_balancer_source_ranges = vec![range.parse::<IpCidr>().expect("a CIDR")];
        }
        if rng.one_in(4) {
            svc.external_ips = vec![Ipv4Addr::new(192, 0, 2, 10 + s as u8).into()];
        }
        if rng.one_in(4) {
            // A UDP Service, its pods listening on UDP.
            svc.ports[0].protocol = Protocol::Udp;
            if let Some(d) = cluster.deployments.last_mut() {
                d.template.ports[0].protocol = Protocol::Udp;
            }
        }
        cluster.services.push(svc);
    }
    let client = Client {
        name: "laptop".into(),
        kind: ClientKind::External(Ipv4Addr::new(198, 51, 100, 79).into()),
        target: Target::ClusterIp {
            svc: svcsim_core::cluster::ServiceId(0),
            port: 0,
            family: svcsim_core::net::IpFamily::Ipv4,
        },
        schedule: Schedule::At(vec![]),
        protocol: Protocol::Tcp,
    };
    Scenario {
        name: format!("random-{seed}"),
        seed,
        duration: Duration::from_secs(10),
        cluster,
        clients: vec![client].into(),
        changes: vec![],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_seed_gives_one_cluster() {
        let (a, b) = (super::scenario(7), super::scenario(7));
        assert_eq!(a.cluster, b.cluster);
        let sizes: Vec<usize> = (0..40).map(|s| super::scenario(s).cluster.services.len()).collect();
        assert!(sizes.contains(&1) && sizes.contains(&3), "{sizes:?}");
    }
}
