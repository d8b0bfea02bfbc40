//! The dataplane seam: the seed story run through a second, trivial dataplane defined here, with
//! no change to the loop, the record or the trace. It DNATs a Service's frontends to the first
//! ready endpoint and never SNATs, so the pod sees the laptop even under Cluster — and a request
//! that entered the other node breaks on the way back, the asymmetric route kube-proxy's SNAT
//! exists to avoid. Both show that the loop took the toy's decisions, not kube-proxy's.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;

use svcsim_core::cluster::{Cluster, NodeId};
use svcsim_core::dataplane::{
    Dataplane, Decision, Delivery, HealthResponse, NodeNet, Origin, PacketCx, Rule, RulePath, RuleRef, RulesText,
    SyncReport, Verdict,
};
use svcsim_core::endpoints::service_port_endpoints;
use svcsim_core::net::{Header, SockAddr};
use svcsim_core::record::Outcome;
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};

use crate::fixtures::*;

/// One toy rule: "frontend → endpoint".
#[derive(Debug)]
struct ToyRule {
    frontend: SockAddr,
    endpoint: SockAddr,
}

impl Rule for ToyRule {
    fn fmt_native(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "toy {} => {}", self.frontend, self.endpoint)
    }
    fn comment(&self) -> Option<&str> {
        None
    }
    fn path_names(&self) -> [Option<&str>; 2] {
        [Some("toy-services"), None]
    }
    fn narrate(&self) -> Option<String> {
        Some(format!("the toy maps {} to {}", self.frontend, self.endpoint))
    }
    fn listed(&self) -> Option<(&'static str, String)> {
        Some(("toy", format!("map {} {}", self.frontend, self.endpoint)))
    }
}

#[derive(Default)]
struct Toy {
    /// Per node: frontends → their rule, and the node's addresses.
    nodes: BTreeMap<NodeId, (BTreeMap<SockAddr, Rc<ToyRule>>, NodeNet)>,
}

impl Dataplane for Toy {
    fn agent(&self) -> &'static str {
        "toy-proxy"
    }
    fn describe(&self) -> String {
        "a toy proxy".into()
    }
    fn min_sync_period(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn sync(&mut self, cluster: &Cluster, _epoch: u64, node: NodeId) -> Option<SyncReport> {
        let mut rules = BTreeMap::new();
        for (svc, s) in cluster.services.iter_enumerated() {
            let Some(ep) = service_port_endpoints(cluster, svc, 0).into_iter().find(|e| e.ready) else { continue };
            for ip in s.cluster_ip.iter().chain(&s.load_balancer_ingress) {
                let frontend = SockAddr::new(*ip, s.ports[0].port);
                rules.insert(frontend, Rc::new(ToyRule { frontend, endpoint: ep.addr }));
            }
        }
        let report = SyncReport { rules: rules.len() as u32, health_servers: vec![] };
        self.nodes.insert(node, (rules, NodeNet::of(cluster, node)));
        Some(report)
    }
    fn first_packet(&mut self, node: NodeId, origin: Origin, header: Header, _cx: PacketCx<'_>) -> Decision {
        self.every_decision(node, origin, header).remove(0)
    }
    fn every_decision(&self, node: NodeId, _origin: Origin, header: Header) -> Vec<Decision> {
        let (rules, net) = &self.nodes[&node];
        let rule = rules.get(&header.dst);
        let after = Header { dst: rule.map_or(header.dst, |r| r.endpoint), ..header };
        let local = net.is_local(after.dst.ip);
        vec![Decision {
            before: header,
            after,
            verdict: Verdict::Accept,
            delivery: if local { Delivery::Local } else { Delivery::Forward },
            dnat: rule.map(|r| r.endpoint),
            snat: None,
            marked: false,
            path: RulePath::new(rule.map(|r| Rc::clone(r) as RuleRef).into_iter().collect()),
            dsr: None,
        }]
    }
    fn serve(&self, _cluster: &Cluster, _node: NodeId, _dst: SockAddr) -> Option<HealthResponse> {
        Some(HealthResponse { status: 200, body: "toy".into() })
    }
    fn render(&self, node: NodeId, _form: RulesText) -> String {
        self.nodes[&node].0.values().map(|r| format!("{}\n", &**r as &dyn Rule)).collect()
    }
    fn sweep(&mut self, _now: Instant) {}
}

#[test]
fn the_seed_story_runs_on_a_dataplane_defined_outside_the_crate() {
    let mut sim = Sim::with_dataplane(seed(30, None), Box::new(Toy::default()));
    let run = sim.run();
    assert_eq!(run.dataplane, "a toy proxy");
    let done: Vec<_> = run.requests().filter(|f| f.outcome != Outcome::InFlight).collect();
    assert_eq!(done.len(), 30, "every request has an outcome");
    // The toy never SNATs: the laptop's own address reaches the pod, whichever node it entered.
    assert!(done.iter().all(|f| f.source_seen == Some(CLIENT_IP)));
    for f in &done {
        match f.ingress_node {
            // The pod's own node un-DNATs the reply: answered.
            Some(NodeId(0)) => assert_eq!(f.outcome, Outcome::Answered),
            // node-0 has no entry for a flow node-1 translated: the reply keeps the pod's address
            // and the laptop resets it.
            _ => assert_eq!(
                f.outcome.reason().map(|r| r.to_string()).as_deref(),
                Some("reply from 10.244.0.2:8080 but the client connected to 203.0.113.10:80: connection reset")
            ),
        }
    }
    assert!(done.iter().any(|f| f.ingress_node == Some(NodeId(1))), "the LB used both nodes");
    // The trace renders the toy's own rules, through the same record.
    let trace = run.trace_text();
    assert!(trace.contains("node-1 DNAT 203.0.113.10:80 -> 10.244.0.2:8080 via toy-services"), "{trace}");
    assert!(trace.contains("prints \"::ffff:198.51.100.79\""));
    let lb_ip: IpAddr = sim.cluster().services[0].load_balancer_ingress[0];
    assert!(sim.dataplane().render(NodeId(0), RulesText::Save).contains(&format!("toy {lb_ip}:80 => 10.244.0.2:8080")));
}
