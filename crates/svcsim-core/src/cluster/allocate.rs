//! What the API server and the controllers assign when a manifest leaves it empty — pod IPs,
//! clusterIPs, nodePorts, healthCheckNodePorts, LoadBalancer ingress IPs — and the Deployment
//! controller's scheduling, all deterministic and linear in the number of objects.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use super::{Cluster, Deployment, DeploymentId, NodeId, Pod, PodId, Provider, ServiceType};
use crate::id::IdVec;
use crate::net::{IpCidr, IpFamily};
use crate::rng::{SimRng, fnv1a};

/// host-local IPAM over every node's podCIDRs: the addresses in use, and per node and family
/// where the next search starts, so allocating n pods costs n log n rather than n².
struct Ipam {
    used: BTreeSet<IpAddr>,
    /// Per node and family, the offset in its podCIDR where the search resumes.
    cursor: BTreeMap<(NodeId, IpFamily), u128>,
}

impl Ipam {
    fn of(cluster: &Cluster) -> Ipam {
        let live = cluster.pods.iter().filter(|p| !p.deleted);
        Ipam {
            used: crate::order::set(live.flat_map(|p| p.ip.into_iter().chain(p.secondary_ip))),
            cursor: BTreeMap::new(),
        }
    }

    /// The next free address of `node`'s podCIDR of `family`: host-local starts at .2 (.1 is the
    /// bridge) and never hands out the last address (IPv4's broadcast).
    fn next(&mut self, cluster: &Cluster, node: NodeId, family: IpFamily) -> Option<IpAddr> {
        let cidr = cluster.node(node).addresses(family)?.pod_cidr;
        let end = cidr.size().saturating_sub(1);
        let start = self.cursor.get(&(node, family)).copied().unwrap_or(2);
        let found = (start..end).find_map(|n| cidr.nth(n).filter(|ip| !self.used.contains(ip)).map(|ip| (n, ip)));
        let (n, ip) = found?;
        self.used.insert(ip);
        self.cursor.insert((node, family), n + 1);
        Some(ip)
    }

    /// A new pod's `status.podIPs` on `node`: one of each of the cluster's families, or `None`
    /// if a podCIDR is full (the pod stays Pending).
    fn pod_ips(&mut self, cluster: &Cluster, node: NodeId) -> Option<(IpAddr, Option<IpAddr>)> {
        let families = cluster.config.families();
        let first = self.next(cluster, node, families[0])?;
        let second = match families.get(1) {
            Some(f) => Some(self.next(cluster, node, *f)?),
            None => None,
        };
        Some((first, second))
    }
}

impl Cluster {
    /// Adds a pod on `node` with the next free address of the node's podCIDR (host-local IPAM
    /// starts at .2: .1 is the bridge); `None` if the podCIDR is full (the pod stays Pending).
    pub fn add_pod(&mut self, mut pod: Pod) -> Option<PodId> {
        if pod.ip.is_none() {
            let (ip, secondary) = Ipam::of(self).pod_ips(self, pod.node)?;
            pod.ip = Some(ip);
            pod.secondary_ip = secondary;
        }
        Some(self.pods.push(pod))
    }

    /// Brings each Deployment to its replica count: schedules missing pods on Ready nodes
    /// (spreading: the node with the fewest of this Deployment's pods, then the fewest pods, then
    /// the lowest index; `nodeName` pins), and marks surplus pods terminating, newest first.
    /// `rng` names the pods' random suffixes. Returns the pods created or marked terminating.
    pub fn reconcile_deployments(&mut self, rng: &mut SimRng) -> Vec<PodId> {
        let mut changed = Vec::new();
        let mut ipam = Ipam::of(self);
        // Running pods per node: all of them, and per Deployment.
        let mut per_node: IdVec<NodeId, usize> = vec![0usize; self.nodes.len()].into();
        // Pods per node of each Deployment.
        let mut per_node_owned: IdVec<DeploymentId, IdVec<NodeId, usize>> =
            self.deployments.iter().map(|_| vec![0usize; self.nodes.len()].into()).collect();
        let mut live: BTreeMap<DeploymentId, Vec<PodId>> = BTreeMap::new();
        for (id, p) in self.pods.iter_enumerated().filter(|(_, p)| !p.deleted && !p.terminating) {
            per_node[p.node] += 1;
            if let Some(owner) = p.owner {
                per_node_owned[owner][p.node] += 1;
                live.entry(owner).or_default().push(id);
            }
        }
        for id in self.deployments.ids() {
            let live = live.remove(&id).unwrap_or_default();
            let want = self.deployments[id].replicas as usize;
            if live.len() > want {
                for pod in live.iter().rev().take(live.len() - want) {
                    let p = &mut self.pods[*pod];
                    p.terminating = true;
                    p.ready = false;
                    per_node[p.node] -= 1;
                    per_node_owned[id][p.node] -= 1;
                    changed.push(*pod);
                }
            }
            for _ in live.len()..want {
                let Some(node) = self.schedule(id, &per_node, &per_node_owned[id]) else { break };
                // The node's podCIDR is full: the pod stays Pending.
                let Some((ip, secondary_ip)) = ipam.pod_ips(self, node) else { break };
                per_node[node] += 1;
                per_node_owned[id][node] += 1;
                let d = &self.deployments[id];
                let pod = Pod {
                    name: format!("{}-{}-{}", d.name, template_hash(d), pod_suffix(rng)),
                    namespace: d.namespace.clone(),
                    labels: d.template.labels.clone(),
                    node,
                    ip: Some(ip),
                    secondary_ip,
                    ready: true,
                    terminating: false,
                    deleted: false,
                    ports: d.template.ports.clone(),
                    app: d.template.app,
                    owner: Some(id),
                };
                changed.push(self.pods.push(pod));
            }
        }
        changed
    }

    fn schedule(
        &self,
        id: DeploymentId,
        per_node: &IdVec<NodeId, usize>,
        owned: &IdVec<NodeId, usize>,
    ) -> Option<NodeId> {
        let d = &self.deployments[id];
        if let Some(name) = &d.template.node_name {
            return self.node_by_name(name);
        }
        self.nodes
            .iter_enumerated()
            .filter(|(_, n)| n.ready)
            .map(|(n, _)| n)
            .min_by_key(|n| (owned[*n], per_node[*n], n.0))
    }

    /// Fills in what the API server and controllers would assign: pod IPs, clusterIPs, nodePorts,
    /// healthCheckNodePorts and LoadBalancer ingress IPs, deterministically and without
    /// disturbing values that were given.
    ///
    /// Returns what could not be allocated (a full podCIDR, service CIDR or node port range); the
    /// fields concerned stay empty.
    pub fn allocate(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        let range = self.config.node_port_range;
        let mut used_ports: BTreeSet<u16> = crate::order::set(
            self.services
                .iter()
                .flat_map(|s| s.ports.iter().filter_map(|p| p.node_port).chain(s.health_check_node_port)),
        );
        let mut used_ips: BTreeSet<IpAddr> = crate::order::set(
            self.services.iter().flat_map(|s| s.cluster_ip.into_iter().chain(s.secondary_cluster_ip)),
        );
        // Pods given without status.podIP get the next free address of their node's podCIDR,
        // after every given address is known.
        let mut ipam = Ipam::of(self);
        let families = self.config.families();
        for id in self.pods.ids() {
            let pod = &self.pods[id];
            if pod.deleted {
                continue;
            }
            // The first family's address, then the second's: each given one kept.
            let missing: Vec<IpFamily> = families.iter().copied().filter(|f| pod.ip_of(*f).is_none()).collect();
            for family in missing {
                match ipam.next(self, self.pods[id].node, family) {
                    Some(ip) if self.pods[id].ip.is_none() => self.pods[id].ip = Some(ip),
                    Some(ip) => self.pods[id].secondary_ip = Some(ip),
                    None => {
                        failures.push(format!("pod {}: the {family} podCIDR of its node is full", self.pods[id].name))
                    }
                }
            }
        }
        let mut next_lb = 10u8;
        for s in self.services.ids() {
            let key = self.services[s].namespaced_name();
            // `clusterIPs` in `ipFamilies` order, the first family's hashed from the name alone.
            for (i, family) in self.services[s].families(&self.config).into_iter().enumerate() {
                if self.services[s].cluster_ip_of(family).is_some() {
                    continue;
                }
                let Some(cidr) = self.config.service_cidr_of(family) else { continue };
                let hashed = if i == 0 { key.clone() } else { format!("{key}/{family}") };
                match allocate_cluster_ip(&hashed, cidr, &used_ips) {
                    Some(ip) => {
                        used_ips.insert(ip);
                        let svc = &mut self.services[s];
                        if i == 0 {
                            svc.cluster_ip = Some(ip);
                        } else {
                            svc.secondary_cluster_ip = Some(ip);
                        }
                    }
                    None => failures.push(format!("service {key}: the service CIDR {cidr} is full")),
                }
            }
            let provider = self.config.provider;
            let svc = &mut self.services[s];
            let full = || format!("service {key}: the node port range {}-{} is full", range.0, range.1);
            if svc.has_node_ports() {
                // Ports with one number and different protocols (DNS's 53/TCP and 53/UDP) share
                // one nodePort, as the API server's allocator gives them (`initNodePorts`).
                let mut by_number: Vec<(u16, u16)> =
                    svc.ports.iter().filter_map(|p| Some((p.port, p.node_port?))).collect();
                for (p_idx, port) in svc.ports.iter_mut().enumerate() {
                    if port.node_port.is_none()
                        && let Some(&(_, np)) = by_number.iter().find(|(n, _)| *n == port.port)
                    {
                        port.node_port = Some(np);
                    }
                    if port.node_port.is_none() {
                        match allocate_port(&format!("{key}:{p_idx}"), range, &used_ports) {
                            Some(p) => {
                                used_ports.insert(p);
                                port.node_port = Some(p);
                                by_number.push((port.port, p));
                            }
                            None => failures.push(full()),
                        }
                    }
                }
            }
            if svc.needs_health_check() && svc.health_check_node_port.is_none() {
                match allocate_port(&format!("{key}:healthz"), range, &used_ports) {
                    Some(p) => {
                        used_ports.insert(p);
                        svc.health_check_node_port = Some(p);
                    }
                    None => failures.push(full()),
                }
            }
            if !svc.needs_health_check() {
                // "This field will be wiped when updating a Service to no longer need it"
                // (the API's ServiceSpec docs).
                svc.health_check_node_port = None;
            }
            // One frontend per family (Azure's `-IPv6` frontend of a dual-stack Service).
            if svc.type_ == ServiceType::LoadBalancer && provider != Provider::None {
                for family in svc.families(&self.config) {
                    if !svc.load_balancer_ingress.iter().any(|ip| IpFamily::of(*ip) == family) {
                        svc.load_balancer_ingress.push(default_ingress(family, next_lb));
                    }
                }
            }
            if svc.type_ == ServiceType::LoadBalancer {
                next_lb = next_lb.saturating_add(1);
            }
        }
        failures
    }
}

/// A free address of `cidr` for the Service hashed as `key`.
fn allocate_cluster_ip(key: &str, cidr: IpCidr, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    // Skip the network address, .1 (the `kubernetes` Service) and the last address.
    // Offsets are hashed in 64 bits (no 128-bit division in the wasm bundle): an IPv6 range
    // wider than /64 is searched in its first 2^64 addresses. kube-apiserver's bitmap
    // allocator caps IPv6 Service CIDRs at /108 anyway.
    let usable = u64::try_from(cidr.size().saturating_sub(3)).unwrap_or(u64::MAX);
    let mut h = fnv1a(key.as_bytes());
    for _ in 0..usable.min(u64::from(u32::MAX)) {
        let ip = cidr.nth(2 + u128::from(h % usable))?;
        if !used.contains(&ip) {
            return Some(ip);
        }
        h = h.wrapping_add(1);
    }
    None
}

/// The address the cloud gives the `n`-th LoadBalancer Service's frontend of `family`:
/// 203.0.113.n or 2001:db8:113::n, documentation ranges (`docs/fidelity.md#dual-stack`).
fn default_ingress(family: IpFamily, n: u8) -> IpAddr {
    match family {
        IpFamily::Ipv4 => Ipv4Addr::new(203, 0, 113, n).into(),
        IpFamily::Ipv6 => {
            std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, crate::net::decimal_as_hex(u16::from(n))).into()
        }
    }
}

fn allocate_port(key: &str, (lo, hi): (u16, u16), used: &BTreeSet<u16>) -> Option<u16> {
    let span = u64::from(hi.saturating_sub(lo)) + 1;
    let mut h = fnv1a(key.as_bytes());
    for _ in 0..span {
        let p = lo + (h % span) as u16;
        if !used.contains(&p) {
            return Some(p);
        }
        h = h.wrapping_add(1);
    }
    None
}

/// The characters Kubernetes uses in generated names (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable pod-template-hash for the Deployment, as the ReplicaSet name carries.
fn template_hash(d: &Deployment) -> String {
    let mut h = fnv1a(format!("{}/{}", d.namespace, d.name).as_bytes());
    (0..10)
        .map(|_| {
            let c = NAME_ALPHABET[(h % NAME_ALPHABET.len() as u64) as usize] as char;
            h /= NAME_ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn pod_suffix(rng: &mut SimRng) -> String {
    (0..5).map(|_| NAME_ALPHABET[rng.below(NAME_ALPHABET.len() as u64) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::rng::SimRng;

    fn labels(kv: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn deployment(replicas: u32) -> Deployment {
        Deployment {
            name: "node-deployment".into(),
            namespace: "default".into(),
            replicas,
            template: PodTemplate {
                labels: labels(&[("app", "node")]),
                ports: vec![ContainerPort::tcp(8080)],
                app: App::NodeJs,
                node_name: None,
            },
        }
    }

    #[test]
    fn default_nodes_follow_the_documented_addressing() {
        let c = Cluster::with_nodes(ClusterConfig::default(), 3);
        let got: Vec<String> =
            c.nodes.iter().map(|n| format!("{} {} {} cbr0={}", n.name, n.ip, n.pod_cidr, n.bridge_ip())).collect();
        assert_eq!(
            got,
            [
                "node-0 10.240.0.4 10.244.0.0/24 cbr0=10.244.0.1",
                "node-1 10.240.0.5 10.244.1.0/24 cbr0=10.244.1.1",
                "node-2 10.240.0.6 10.244.2.0/24 cbr0=10.244.2.1"
            ]
        );
    }

    #[test]
    fn scheduling_spreads_over_ready_nodes_and_scale_down_terminates_newest() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 3);
        c.nodes[1].ready = false;
        c.deployments.push(deployment(4));
        let mut rng = SimRng::new(1);
        c.reconcile_deployments(&mut rng);
        let placed: Vec<(&str, String)> =
            c.pods.iter().map(|p| (c.node(p.node).name.as_str(), p.ip.unwrap().to_string())).collect();
        assert_eq!(
            placed,
            [
                ("node-0", "10.244.0.2".into()),
                ("node-2", "10.244.2.2".into()),
                ("node-0", "10.244.0.3".into()),
                ("node-2", "10.244.2.3".into())
            ]
        );
        assert!(
            c.pods[0].name.starts_with("node-deployment-")
                && c.pods[0].name.len() == "node-deployment-".len() + 10 + 1 + 5
        );

        c.deployments[0].replicas = 3;
        c.reconcile_deployments(&mut rng);
        let terminating: Vec<usize> =
            c.pods.iter().enumerate().filter(|(_, p)| p.terminating).map(|(i, _)| i).collect();
        assert_eq!(terminating, [3]);
    }

    #[test]
    fn node_name_pins_replicas() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 2);
        let mut d = deployment(2);
        d.template.node_name = Some("node-1".into());
        c.deployments.push(d);
        c.reconcile_deployments(&mut SimRng::new(1));
        assert!(c.pods.iter().all(|p| p.node == NodeId(1)));
    }

    #[test]
    fn a_full_pod_cidr_leaves_the_rest_pending() {
        let mut c = Cluster::with_nodes(ClusterConfig::default(), 1);
        c.nodes[0].pod_cidr = "10.244.0.0/29".parse().unwrap();
        c.deployments.push(deployment(9));
        c.reconcile_deployments(&mut SimRng::new(1));
        // .2 to .6: .0 is the network, .1 the bridge, .7 the broadcast address.
        let ips: Vec<String> = c.pods.iter().map(|p| p.ip.unwrap().to_string()).collect();
        assert_eq!(ips, ["10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5", "10.244.0.6"]);
    }
}
