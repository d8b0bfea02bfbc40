//! The API server's rules that matter to routing, applied to a cluster before it runs: every
//! problem at once, each naming the object and the field, so the scenario layer can point at the
//! line.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::cluster::{Cluster, NodeId, PodId, ServiceId, ServiceType, TargetPort, TrafficPolicy};
use crate::id::Id;
use crate::net::Protocol;

/// The object a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    Cluster,
    Node(NodeId),
    Pod(PodId),
    Service(ServiceId),
}

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The cluster cannot run as described.
    Error,
    /// It runs, but probably not as meant (e.g. a selector that matches nothing).
    Warning,
}

/// One problem: `spec.ports[0].nodePort: 99999 is outside 30000-32767`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub object: Object,
    /// The field's path in Kubernetes' notation, e.g. `spec.ports[0].nodePort`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Checks the fields of `cluster` as given (before [`Cluster::allocate`] fills the gaps).
pub fn check(cluster: &Cluster) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut err = |object, field: String, message: String| {
        out.push(Problem { severity: Severity::Error, object, field, message })
    };
    let cfg = &cluster.config;
    let (lo, hi) = cfg.node_port_range;

    let mut node_ips: BTreeMap<IpAddr, NodeId> = BTreeMap::new();
    for (id, n) in cluster.nodes.iter_enumerated() {
        let object = Object::Node(id);
        if let Some(first) = node_ips.insert(n.ip, id) {
            err(object, "ip".into(), format!("{} is already the address of node {}", n.ip, cluster.nodes[first].name));
        }
        if !cfg.cluster_cidr.covers(n.pod_cidr) {
            err(
                object,
                "podCIDR".into(),
                format!("{} is not inside the cluster CIDR {}", n.pod_cidr, cfg.cluster_cidr),
            );
        }
        if let Some(other) = cluster
            .nodes
            .iter()
            .take(id.index())
            .find(|o| o.pod_cidr.covers(n.pod_cidr) || n.pod_cidr.covers(o.pod_cidr))
        {
            err(object, "podCIDR".into(), format!("{} overlaps node {}'s {}", n.pod_cidr, other.name, other.pod_cidr));
        }
    }

    let mut pod_ips: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for (id, p, ip) in cluster.pods.iter_enumerated().filter_map(|(id, p)| Some((id, p, p.ip?))) {
        let object = Object::Pod(id);
        let node = cluster.node(p.node);
        if !cfg.cluster_cidr.contains(ip) {
            err(object, "status.podIP".into(), format!("{} is outside the cluster CIDR {}", ip, cfg.cluster_cidr));
        } else if !node.pod_cidr.contains(ip) {
            err(
                object,
                "status.podIP".into(),
                format!("{} is outside the podCIDR {} of its node {}", ip, node.pod_cidr, node.name),
            );
        } else if ip == node.bridge_ip() || ip == node.pod_cidr.network() {
            err(
                object,
                "status.podIP".into(),
                format!("{} is reserved on node {} (network or bridge address)", ip, node.name),
            );
        }
        if let Some(other) = pod_ips.insert(ip, &p.name) {
            err(object, "status.podIP".into(), format!("{} is already the IP of pod {other}", ip));
        }
    }

    let mut cluster_ips: BTreeMap<IpAddr, String> = BTreeMap::new();
    // Who holds each node port, and over which protocols: one Service may use a number for
    // TCP and UDP alike, as a DNS Service does (the API server's `nodePorts` key).
    let mut node_ports: BTreeMap<u16, (String, Vec<Protocol>)> = BTreeMap::new();
    let mut ingress: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (id, s) in cluster.services.iter_enumerated() {
        let object = Object::Service(id);
        let who = s.namespaced_name();
        if let Some(ip) = s.cluster_ip {
            if !cfg.service_cidr.contains(ip) {
                err(object, "spec.clusterIP".into(), format!("{ip} is outside the service CIDR {}", cfg.service_cidr));
            }
            if let Some(other) = cluster_ips.insert(ip, who.clone()) {
                err(object, "spec.clusterIP".into(), format!("{ip} is already allocated to service {other}"));
            }
        }
        if s.ports.is_empty() {
            err(object, "spec.ports".into(), "a Service needs at least one port".into());
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut numbers: Vec<(u16, Protocol)> = Vec::new();
        for (p_idx, p) in s.ports.iter().enumerate() {
            let field = |f: &str| format!("spec.ports[{p_idx}].{f}");
            if p.port == 0 {
                err(object, field("port"), "0 is not a valid port (1-65535)".into());
            }
            if matches!(p.target_port, TargetPort::Number(0)) {
                err(object, field("targetPort"), "0 is not a valid port (1-65535)".into());
            }
            if s.ports.len() > 1 && p.name.is_empty() {
                err(object, field("name"), "every port of a multi-port Service needs a name".into());
            }
            if !p.name.is_empty() && names.insert(&p.name, p_idx).is_some() {
                err(object, field("name"), format!("the name {:?} is used by another port", p.name));
            }
            if numbers.contains(&(p.port, p.protocol)) {
                err(object, field("port"), format!("{}/{} is used by another port", p.port, p.protocol));
            }
            numbers.push((p.port, p.protocol));
            if let Some(np) = p.node_port {
                if s.type_ == ServiceType::ClusterIP {
                    err(object, field("nodePort"), "only NodePort and LoadBalancer Services have nodePorts".into());
                } else if !(lo..=hi).contains(&np) {
                    err(object, field("nodePort"), format!("{np} is outside {lo}-{hi}"));
                } else {
                    let (holder, protocols) = node_ports.entry(np).or_insert_with(|| (who.clone(), Vec::new()));
                    if *holder != who || protocols.contains(&p.protocol) {
                        err(object, field("nodePort"), format!("{np} is already allocated to {holder}"));
                    }
                    protocols.push(p.protocol);
                }
            }
            if let TargetPort::Name(name) = &p.target_port {
                let selected: Vec<_> =
                    cluster.pods.iter().filter(|pod| pod.matches(&s.namespace, &s.selector)).collect();
                if let Some(pod) =
                    selected.iter().find(|pod| pod.resolve_target_port(&p.target_port, p.protocol).is_none())
                {
                    err(
                        object,
                        field("targetPort"),
                        format!("no container port named {name:?} in selected pod {}", pod.name),
                    );
                }
            }
        }
        if let Some(hc) = s.health_check_node_port {
            let field = "spec.healthCheckNodePort".to_string();
            if s.type_ != ServiceType::LoadBalancer || s.external_traffic_policy != TrafficPolicy::Local {
                err(
                    object,
                    field,
                    "may only be set when type is LoadBalancer and externalTrafficPolicy is Local".into(),
                );
            } else if !(lo..=hi).contains(&hc) {
                err(object, field, format!("{hc} is outside {lo}-{hi}"));
            } else if let Some((other, _)) = node_ports.insert(hc, (who.clone(), vec![Protocol::Tcp])) {
                err(object, field, format!("{hc} is already allocated to {other}"));
            }
        }
        if let Some(t) = s.session_affinity {
            let secs = t.as_micros() / 1_000_000;
            if secs == 0 || secs > 86_400 {
                err(
                    object,
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds".into(),
                    format!("{secs} must be between 1 and 86400"),
                );
            }
        }
        for ip in &s.load_balancer_ingress {
            if let Some(other) = ingress.insert(*ip, who.clone()) {
                err(object, "status.loadBalancer.ingress".into(), format!("{ip} is already the ingress of {other}"));
            }
        }
        if !s.load_balancer_source_ranges.is_empty() && s.type_ != ServiceType::LoadBalancer {
            err(object, "spec.loadBalancerSourceRanges".into(), "only applies to LoadBalancer Services".into());
        }
    }

    // Warnings: legal, but probably not what was meant.
    for (id, s) in cluster.services.iter_enumerated() {
        let selects_deployment = cluster.deployments.iter().any(|d| {
            d.namespace == s.namespace
                && !s.selector.is_empty()
                && s.selector.iter().all(|(k, v)| d.template.labels.get(k) == Some(v))
        });
        let selects_pod = cluster.pods.iter().any(|p| p.matches(&s.namespace, &s.selector));
        if !s.selector.is_empty() && !selects_deployment && !selects_pod {
            out.push(Problem {
                severity: Severity::Warning,
                object: Object::Service(id),
                field: "spec.selector".into(),
                message: "matches no pod: the Service has no endpoints".into(),
            });
            continue;
        }
        named_target_ports(cluster, id, &mut out);
    }
    out
}

/// A named targetPort that no selected pod's container port carries: valid, and it routes
/// nowhere, as the EndpointSlice controller leaves those pods out.
fn named_target_ports(cluster: &Cluster, id: ServiceId, out: &mut Vec<Problem>) {
    let s = cluster.service(id);
    for (i, port) in s.ports.iter().enumerate() {
        let crate::cluster::TargetPort::Name(name) = &port.target_port else { continue };
        let has = |ports: &[crate::cluster::ContainerPort]| ports.iter().any(|p| p.name.as_deref() == Some(name));
        let selected: Vec<&crate::cluster::Deployment> = cluster
            .deployments
            .iter()
            .filter(|d| {
                d.namespace == s.namespace && s.selector.iter().all(|(k, v)| d.template.labels.get(k) == Some(v))
            })
            .collect();
        let deployments: Vec<&str> = selected.iter().map(|d| d.name.as_str()).collect();
        let reaches = selected.iter().any(|d| has(&d.template.ports))
            || cluster.pods.iter().any(|p| !p.deleted && p.matches(&s.namespace, &s.selector) && has(&p.ports));
        if !reaches {
            let of = match deployments.as_slice() {
                [] => "of its pods".to_string(),
                [one] => format!("of Deployment {one}"),
                many => format!("of Deployments {}", many.join(", ")),
            };
            out.push(Problem {
                severity: Severity::Warning,
                object: Object::Service(id),
                field: format!("spec.ports[{i}].targetPort"),
                message: format!("{name}: no container port {of} is named {name}, so the Service has no endpoints"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::*;

    fn svc(name: &str, type_: ServiceType) -> Service {
        Service::new(name, type_, [("app".to_string(), name.to_string())].into(), 80, 8080)
    }

    fn messages(c: &Cluster) -> Vec<String> {
        check(c).iter().map(|p| format!("{:?} {:?} {p}", p.severity, p.object)).collect()
    }

    #[test]
    fn reports_every_problem_with_its_field() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 2);
        let mut a = svc("a", ServiceType::NodePort);
        a.ports[0].node_port = Some(99);
        a.cluster_ip = Some(std::net::Ipv4Addr::new(10, 1, 0, 5).into());
        let mut b = svc("b", ServiceType::ClusterIP);
        b.health_check_node_port = Some(30001);
        b.cluster_ip = Some(std::net::Ipv4Addr::new(10, 1, 0, 5).into());
        b.ports.push(b.ports[0].clone());
        c.services = vec![a, b].into();
        c.add_pod(Pod {
            ip: Some(std::net::Ipv4Addr::new(10, 244, 1, 9).into()),
            ..Pod::new("p", [("app".to_string(), "a".to_string())].into(), NodeId(0), App::Echo)
        });
        expect_test::expect![[r#"
            [
                "Error Pod(PodId(0)) status.podIP: 10.244.1.9 is outside the podCIDR 10.244.0.0/24 of its node node-0",
                "Error Service(ServiceId(0)) spec.clusterIP: 10.1.0.5 is outside the service CIDR 10.0.0.0/16",
                "Error Service(ServiceId(0)) spec.ports[0].nodePort: 99 is outside 30000-32767",
                "Error Service(ServiceId(1)) spec.clusterIP: 10.1.0.5 is outside the service CIDR 10.0.0.0/16",
                "Error Service(ServiceId(1)) spec.clusterIP: 10.1.0.5 is already allocated to service default/a",
                "Error Service(ServiceId(1)) spec.ports[0].name: every port of a multi-port Service needs a name",
                "Error Service(ServiceId(1)) spec.ports[1].name: every port of a multi-port Service needs a name",
                "Error Service(ServiceId(1)) spec.ports[1].port: 80/TCP is used by another port",
                "Error Service(ServiceId(1)) spec.healthCheckNodePort: may only be set when type is LoadBalancer and externalTrafficPolicy is Local",
                "Warning Service(ServiceId(1)) spec.selector: matches no pod: the Service has no endpoints",
            ]
        "#]]
        .assert_debug_eq(&messages(&c));
    }

    #[test]
    fn a_valid_cluster_has_no_problem() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 2);
        let mut s = svc("web", ServiceType::LoadBalancer);
        s.external_traffic_policy = TrafficPolicy::Local;
        s.health_check_node_port = Some(32000);
        s.ports[0].node_port = Some(31000);
        c.services.push(s);
        c.deployments.push(Deployment {
            name: "web".into(),
            namespace: "default".into(),
            replicas: 1,
            template: PodTemplate {
                labels: [("app".to_string(), "web".to_string())].into(),
                ports: vec![],
                app: App::NodeJs,
                node_name: None,
            },
        });
        assert_eq!(check(&c), vec![]);
    }
}
