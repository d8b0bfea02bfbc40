//! One IP family's side of a dual-stack cluster: the cluster as that family's service proxy sees
//! it. kube-proxy runs one proxier per family and Cilium one set of maps (`lb4`, `lb6`); each
//! programs only the addresses of its own family (`docs/fidelity.md#dual-stack`).

use super::{Cluster, DetectLocalMode, FamilyAddresses, NodePortAddresses};
use crate::net::IpFamily;

impl Cluster {
    /// The cluster as the service proxy of `family` sees it:
    /// - nodes and pods carry their address and podCIDR of `family` as their only one;
    /// - a Service carries its `clusterIPs` entry of `family` as its clusterIP, or none (then it
    ///   gets no rules in that family, NodePorts included: kube-proxy's `newBaseServiceInfo`
    ///   drops it);
    /// - externalIPs, LoadBalancer ingress and `loadBalancerSourceRanges` keep only `family`'s
    ///   entries (`MapIPsByIPFamily`), so IPv4-only source ranges leave the IPv6 frontend open;
    /// - EndpointSlices keep only those of `addressType: family`;
    /// - the cluster and service CIDRs are `family`'s, and kube-proxy's own `clusterCIDR` and
    ///   `nodePortAddresses` keep their `family` entries (none left: every address, as
    ///   `NewNodePortAddresses` defaults them).
    ///
    /// Ids (nodes, pods, Services) are the same as in `self`. On a single-stack cluster the view
    /// of its family is the cluster itself.
    pub fn family_view(&self, family: IpFamily) -> Cluster {
        let mut view = self.clone();
        let config = &mut view.config;
        if let Some(s) = config.secondary.take() {
            if s.cluster_cidr.family() == family {
                config.cluster_cidr = s.cluster_cidr;
            }
            if s.service_cidr.family() == family {
                config.service_cidr = s.service_cidr;
            }
        }
        // kube-proxy's own clusterCIDR of this family; given, but none of this family, the
        // family's ClusterCIDR detector is a no-op (`getLocalDetectors`).
        let kp = &mut config.kube_proxy;
        let given = [kp.cluster_cidr, kp.secondary_cluster_cidr];
        let own = given.iter().flatten().copied().find(|c| c.family() == family);
        if given.iter().any(Option::is_some) && own.is_none() && kp.detect_local_mode == DetectLocalMode::ClusterCidr {
            kp.detect_local_mode = DetectLocalMode::None;
        }
        kp.cluster_cidr = own;
        kp.secondary_cluster_cidr = None;
        if let NodePortAddresses::Cidrs(cidrs) = &mut config.kube_proxy.node_port_addresses {
            cidrs.retain(|c| c.family() == family);
            if cidrs.is_empty() {
                config.kube_proxy.node_port_addresses = NodePortAddresses::All;
            }
        }
        for node in view.nodes.iter_mut() {
            if let Some(FamilyAddresses { ip, pod_cidr }) = node.addresses(family) {
                node.ip = ip;
                node.pod_cidr = pod_cidr;
            }
            node.secondary = None;
        }
        for pod in view.pods.iter_mut() {
            pod.ip = pod.ip_of(family);
            pod.secondary_ip = None;
        }
        for svc in view.services.iter_mut() {
            svc.cluster_ip = svc.cluster_ip_of(family);
            svc.secondary_cluster_ip = None;
            svc.ip_families = vec![family];
            svc.external_ips.retain(|ip| IpFamily::of(*ip) == family);
            svc.load_balancer_ingress.retain(|ip| IpFamily::of(*ip) == family);
            svc.load_balancer_source_ranges.retain(|c| c.family() == family);
        }
        view.endpoint_slices.retain(|s| s.address_type == family);
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ClusterConfig, SecondaryCidrs, Service, ServiceType};

    fn dual_stack() -> Cluster {
        let config = ClusterConfig {
            secondary: Some(SecondaryCidrs {
                cluster_cidr: "fd12:3456:789a::/64".parse().unwrap(),
                service_cidr: "fd12:3456:789a:1::/108".parse().unwrap(),
            }),
            ..ClusterConfig::default()
        };
        let mut c = Cluster::with_nodes(config, 2);
        let mut v4_only = Service::new("v4", ServiceType::LoadBalancer, Default::default(), 80, 8080);
        v4_only.cluster_ip = Some("10.0.0.10".parse().unwrap());
        let mut dual = Service::new("dual", ServiceType::LoadBalancer, Default::default(), 80, 8080);
        dual.cluster_ip = Some("10.0.0.11".parse().unwrap());
        dual.secondary_cluster_ip = Some("fd12:3456:789a:1::11".parse().unwrap());
        dual.load_balancer_ingress = vec!["203.0.113.11".parse().unwrap(), "2001:db8:113::11".parse().unwrap()];
        dual.load_balancer_source_ranges = vec!["198.51.100.0/24".parse().unwrap()];
        c.services.push(v4_only);
        c.services.push(dual);
        c
    }

    #[test]
    fn each_family_sees_its_own_addresses_and_only_its_services() {
        let c = dual_stack();
        let describe = |v: &Cluster| {
            let nodes: Vec<String> = v.nodes.iter().map(|n| format!("{} {} {}", n.name, n.ip, n.pod_cidr)).collect();
            let svcs: Vec<String> = v
                .services
                .iter()
                .map(|s| {
                    let ingress: Vec<String> = s.load_balancer_ingress.iter().map(ToString::to_string).collect();
                    let ranges = s.load_balancer_source_ranges.len();
                    format!("{} {:?} lb={} ranges={ranges}", s.name, s.cluster_ip, ingress.join(","))
                })
                .collect();
            format!("{} {}\n{}\n{}", v.config.cluster_cidr, v.config.service_cidr, nodes.join("\n"), svcs.join("\n"))
        };
        expect_test::expect![[r#"
            10.244.0.0/16 10.0.0.0/16
            node-0 10.240.0.4 10.244.0.0/24
            node-1 10.240.0.5 10.244.1.0/24
            v4 Some(10.0.0.10) lb= ranges=0
            dual Some(10.0.0.11) lb=203.0.113.11 ranges=1"#]]
        .assert_eq(&describe(&c.family_view(IpFamily::Ipv4)));
        expect_test::expect![[r#"
            fd12:3456:789a::/64 fd12:3456:789a:1::/108
            node-0 2001:1234:5678:9abc::4 fd12:3456:789a::/80
            node-1 2001:1234:5678:9abc::5 fd12:3456:789a:0:1::/80
            v4 None lb= ranges=0
            dual Some(fd12:3456:789a:1::11) lb=2001:db8:113::11 ranges=0"#]]
        .assert_eq(&describe(&c.family_view(IpFamily::Ipv6)));
    }
}
