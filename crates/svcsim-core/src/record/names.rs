//! The names a record is rendered with, and the one place that turns places and changes into
//! words: the trace, `svcsim explain`, the page and the exports all name things through here.

use std::net::IpAddr;

use crate::cluster::{Cluster, DeploymentId, NodeId, PodId, ServiceId};
use crate::id::IdVec;
use crate::scenario::{Change, ClientId, Scenario, Target};
use crate::topology::{BackendId, Place};

/// The names of everything a run's record refers to by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub clients: IdVec<ClientId, String>,
    pub nodes: IdVec<NodeId, String>,
    /// Every pod that ever existed, by [`PodId`].
    pub pods: IdVec<PodId, String>,
    /// `namespace/name` of every Service.
    pub services: IdVec<ServiceId, String>,
    pub deployments: IdVec<DeploymentId, String>,
    /// EndpointSlice addresses that are no pod, by backend index.
    pub backends: IdVec<BackendId, IpAddr>,
}

impl Names {
    /// The names of a scenario's objects before it runs (no backends: the run finds those).
    pub fn of(scenario: &Scenario, cluster: &Cluster) -> Names {
        Names {
            clients: scenario.clients.iter().map(|c| c.name.clone()).collect(),
            nodes: cluster.nodes.iter().map(|n| n.name.clone()).collect(),
            pods: cluster.pods.iter().map(|p| p.name.clone()).collect(),
            services: cluster.services.iter().map(|s| s.namespaced_name()).collect(),
            deployments: cluster.deployments.iter().map(|d| d.name.clone()).collect(),
            backends: IdVec::new(),
        }
    }

    /// A place as every view names it: `laptop`, `node-0`, `pod web-…`, `backend 10.0.0.9`,
    /// `lb`, `internet`, `vnet`.
    pub fn place(&self, place: Place) -> String {
        match place {
            Place::Client(c) => self.clients[c].clone(),
            Place::Node(n) => self.nodes[n].clone(),
            Place::Pod(p) => format!("pod {}", self.pods[p]),
            Place::Backend(b) => format!("backend {}", self.backends[b]),
            Place::Lb => "lb".into(),
            Place::Internet => "internet".into(),
            Place::Vnet => "vnet".into(),
        }
    }

    /// A change as the command or event it stands for:
    /// `kubectl patch service default/web -p '{"spec":{"externalTrafficPolicy":"Local"}}'`.
    pub fn change(&self, change: &Change) -> String {
        let svc = |s: &ServiceId| &self.services[*s];
        match change {
            Change::ExternalTrafficPolicy { svc: s, policy } => {
                format!("kubectl patch service {} -p '{{\"spec\":{{\"externalTrafficPolicy\":\"{policy}\"}}}}'", svc(s))
            }
            Change::InternalTrafficPolicy { svc: s, policy } => {
                format!("kubectl patch service {} -p '{{\"spec\":{{\"internalTrafficPolicy\":\"{policy}\"}}}}'", svc(s))
            }
            Change::SessionAffinity { svc: s, timeout: Some(t) } => {
                format!("kubectl patch service {} sessionAffinity=ClientIP (timeout {t})", svc(s))
            }
            Change::SessionAffinity { svc: s, timeout: None } => {
                format!("kubectl patch service {} sessionAffinity=None", svc(s))
            }
            Change::IpFamilies { svc: s, patch, result } => {
                let mut fields = Vec::new();
                if let Some(p) = patch.policy {
                    fields.push(format!("\"ipFamilyPolicy\":\"{p}\""));
                }
                if let Some(f) = &patch.families {
                    let list = f.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(",");
                    fields.push(format!("\"ipFamilies\":[{list}]"));
                }
                let now = result.families.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
                format!(
                    "kubectl patch service {} -p '{{\"spec\":{{{}}}}}' (now {} {now})",
                    svc(s),
                    fields.join(","),
                    result.policy
                )
            }
            Change::Scale { deployment, replicas } => {
                format!("kubectl scale deployment {} --replicas={replicas}", self.deployments[*deployment])
            }
            Change::PodReady { pod, ready } => {
                format!("pod {pod} readiness probe {}", if *ready { "passes" } else { "fails" })
            }
            Change::DeletePod { pod } => format!("kubectl delete pod {pod}"),
            Change::NodeReady { node, ready } => {
                format!("node {} becomes {}", self.nodes[*node], if *ready { "Ready" } else { "NotReady" })
            }
            Change::KubeProxyHealthy { node, healthy } => {
                let what = if *healthy { "recovers" } else { "stops syncing (unhealthy)" };
                format!("kube-proxy on {} {what}", self.nodes[*node])
            }
        }
    }

    /// What a client's target is: `service default/web's load balancer`, `node-0's nodePort`.
    pub fn target(&self, target: &Target) -> String {
        match target {
            Target::LoadBalancer { svc, .. } => format!("the load balancer of service {}", self.services[*svc]),
            Target::ClusterIp { svc, .. } => format!("the clusterIP of service {}", self.services[*svc]),
            Target::NodePort { node, svc, .. } => {
                format!("the nodePort of service {} on {}", self.services[*svc], self.nodes[*node])
            }
            Target::Addr(a) => a.to_string(),
        }
    }
}
