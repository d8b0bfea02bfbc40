//! Cloud load balancers (§3): how each provider delivers traffic to nodes, how it health-probes
//! them, when a node leaves and rejoins rotation, and the Health Probe Status metric (§3.7).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::cluster::{NodeId, Provider, Service, TrafficPolicy};
use crate::net::Header;
use crate::rng::fnv1a;
use crate::time::{Duration, Instant};

/// Azure's probe source address (§3.6); svcsim uses it for every provider's probes.
pub const PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// How a probe checks a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// A TCP handshake on the port: success when the SYN is answered.
    Tcp,
    /// `GET /healthz` on the port: success only on HTTP 200.
    Http,
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeKind::Tcp => "TCP",
            ProbeKind::Http => "HTTP",
        })
    }
}

/// Which port of the node a probe targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbePort {
    /// The Service's healthCheckNodePort (Local policy).
    HealthCheckNodePort,
    /// The first port's NodePort ("traffic-port").
    NodePort,
    /// kube-proxy's own `:10256/healthz` (GCE's Cluster-policy node health check).
    ProxyHealthz,
}

/// One provider's probe for one traffic policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    pub port: ProbePort,
    pub interval: Duration,
    /// How long an unanswered probe waits before it counts as failed.
    pub timeout: Duration,
    /// Consecutive failures that take a node out of rotation.
    pub unhealthy_threshold: u32,
    /// Consecutive successes that bring it back.
    pub healthy_threshold: u32,
}

/// How a provider's LB delivers a new flow to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The packet keeps the frontend IP:port as its destination (Azure floating IP, GCP target
    /// pools); replies go straight from the node to the client (§3.5, §3.6).
    FloatingIp,
    /// The LB rewrites the destination to nodeIP:nodePort, keeping the client's source (AWS NLB
    /// instance targets), and replies pass back through it (§3.11).
    InstanceTarget,
}

/// A provider's behaviour for one Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbProfile {
    pub delivery: Delivery,
    pub probe: ProbeSpec,
}

impl LbProfile {
    /// The profile `provider` uses for `svc` (§3.1–3.13, §6.3).
    pub fn for_service(provider: Provider, svc: &Service) -> Option<LbProfile> {
        let local = svc.external_traffic_policy == TrafficPolicy::Local;
        let s = Duration::from_secs;
        let spec = |kind, port, interval, timeout, unhealthy, healthy| ProbeSpec {
            kind,
            port,
            interval,
            timeout,
            unhealthy_threshold: unhealthy,
            healthy_threshold: healthy,
        };
        let profile = match provider {
            Provider::None => return None,
            // Azure: HTTP /healthz on healthCheckNodePort for Local; TCP on the NodePort for
            // Cluster (the default `servicenodeport` mode); every 5 s, threshold 2 (§3.1, §3.2).
            // A TCP probe fails if unanswered within the interval; HTTP waits 30 s (§3.6).
            Provider::Azure => LbProfile {
                delivery: Delivery::FloatingIp,
                probe: if local {
                    spec(ProbeKind::Http, ProbePort::HealthCheckNodePort, s(5), s(30), 2, 2)
                } else {
                    spec(ProbeKind::Tcp, ProbePort::NodePort, s(5), s(5), 2, 2)
                },
            },
            // AWS Load Balancer Controller, NLB instance targets (§3.10).
            Provider::Aws => LbProfile {
                delivery: Delivery::InstanceTarget,
                probe: if local {
                    spec(ProbeKind::Http, ProbePort::HealthCheckNodePort, s(10), s(6), 2, 2)
                } else {
                    spec(ProbeKind::Tcp, ProbePort::NodePort, s(10), s(10), 3, 3)
                },
            },
            // GCE target pool: 8 s interval, 1 s timeout, healthy 1, unhealthy 3; Cluster uses
            // the shared node check on kube-proxy's 10256 (§3.12).
            Provider::Gcp => LbProfile {
                delivery: Delivery::FloatingIp,
                probe: if local {
                    spec(ProbeKind::Http, ProbePort::HealthCheckNodePort, s(8), s(1), 3, 1)
                } else {
                    spec(ProbeKind::Http, ProbePort::ProxyHealthz, s(8), s(1), 3, 1)
                },
            },
        };
        Some(profile)
    }
}

/// The LB's view of one backend node for one frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHealth {
    pub in_rotation: bool,
    /// Consecutive results that disagree with `in_rotation`.
    pub streak: u32,
    /// The last probe's result, as shown in the UI ("HTTP 503", "TCP ok").
    pub last: Option<ProbeResult>,
    /// Why the node is out of rotation, e.g. "probe HTTP 503 ×2".
    pub reason: Option<String>,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// An HTTP probe got this status.
    Http(u16),
    /// A TCP probe's SYN was answered.
    TcpOk,
    /// The node or the rules refused the connection (RST / ICMP unreachable).
    Refused,
    /// No answer within the timeout.
    Timeout,
}

impl ProbeResult {
    pub fn success(&self) -> bool {
        matches!(self, ProbeResult::Http(200) | ProbeResult::TcpOk)
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeResult::Http(code) => write!(f, "HTTP {code}"),
            ProbeResult::TcpOk => f.write_str("TCP ok"),
            ProbeResult::Refused => f.write_str("refused"),
            ProbeResult::Timeout => f.write_str("timeout"),
        }
    }
}

/// A change of rotation caused by a probe result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationChange {
    Left { reason: String },
    Joined,
}

impl BackendHealth {
    pub fn new(in_rotation: bool) -> BackendHealth {
        BackendHealth {
            in_rotation,
            streak: 0,
            last: None,
            reason: (!in_rotation).then(|| "probe failing".to_string()),
        }
    }

    /// Applies one probe result under `spec`'s thresholds.
    pub fn observe(&mut self, result: ProbeResult, spec: &ProbeSpec) -> Option<RotationChange> {
        let ok = result.success();
        self.last = Some(result.clone());
        if ok == self.in_rotation {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let threshold = if self.in_rotation { spec.unhealthy_threshold } else { spec.healthy_threshold };
        if self.streak < threshold {
            return None;
        }
        self.streak = 0;
        self.in_rotation = ok;
        if ok {
            self.reason = None;
            Some(RotationChange::Joined)
        } else {
            let reason = format!("probe {result} ×{threshold}");
            self.reason = Some(reason.clone());
            Some(RotationChange::Left { reason })
        }
    }
}

/// Picks the backend for a new flow among `in_rotation` (sorted node ids): a hash of the 5-tuple
/// (Azure's default distribution), or of the source and destination IPs only when the Service
/// uses ClientIP affinity (`SourceIP` distribution, §3.5). `salt` is per run.
pub fn pick_backend(in_rotation: &[NodeId], header: Header, source_ip_affinity: bool, salt: u64) -> Option<NodeId> {
    if in_rotation.is_empty() {
        return None;
    }
    let (src, dst) = (header.src.ip().octets(), header.dst.ip().octets());
    let (sport, dport) = if source_ip_affinity { (0, 0) } else { (header.src.port(), header.dst.port()) };
    let mut key = [0u8; 13];
    key[..4].copy_from_slice(&src);
    key[4..8].copy_from_slice(&dst);
    key[8..10].copy_from_slice(&sport.to_be_bytes());
    key[10..12].copy_from_slice(&dport.to_be_bytes());
    key[12] = 6; // TCP
    let h = fnv1a(&key) ^ salt;
    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
    Some(in_rotation[(h % in_rotation.len() as u64) as usize])
}

/// Probe results per 1-minute window and backend: the Health Probe Status metric (§3.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMetric {
    /// (minute, node) → (successful probes, all probes).
    pub windows: BTreeMap<(u64, NodeId), (u32, u32)>,
}

impl ProbeMetric {
    pub fn record(&mut self, at: Instant, node: NodeId, ok: bool) {
        let w = self.windows.entry((at.minute(), node)).or_default();
        w.0 += u32::from(ok);
        w.1 += 1;
    }

    /// Average successful ÷ total probes of `minute`, over all backends: the portal's aggregate.
    pub fn percent(&self, minute: u64) -> Option<f64> {
        let (ok, all) = self
            .windows
            .range((minute, NodeId(0))..=(minute, NodeId(u32::MAX)))
            .fold((0, 0), |acc, (_, w)| (acc.0 + w.0, acc.1 + w.1));
        (all > 0).then(|| 100.0 * f64::from(ok) / f64::from(all))
    }

    /// The same, split per backend.
    pub fn per_node(&self, minute: u64) -> BTreeMap<NodeId, f64> {
        self.windows
            .range((minute, NodeId(0))..=(minute, NodeId(u32::MAX)))
            .map(|((_, n), (ok, all))| (*n, 100.0 * f64::from(*ok) / f64::from((*all).max(1))))
            .collect()
    }

    /// Minutes with at least one probe.
    pub fn minutes(&self) -> Vec<u64> {
        let mut m: Vec<u64> = self.windows.keys().map(|(m, _)| *m).collect();
        m.dedup();
        m
    }

    /// Drops windows before `minute` (the web app keeps 30 minutes).
    pub fn forget_before(&mut self, minute: u64) {
        self.windows = self.windows.split_off(&(minute, NodeId(0)));
    }
}

/// The frontend address of a Service port on the LB.
pub fn frontend(svc: &Service, port_idx: usize) -> Option<SocketAddrV4> {
    Some(SocketAddrV4::new(*svc.load_balancer_ingress.first()?, svc.ports.get(port_idx)?.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure_local() -> ProbeSpec {
        ProbeSpec {
            kind: ProbeKind::Http,
            port: ProbePort::HealthCheckNodePort,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
        }
    }

    #[test]
    fn a_node_leaves_after_threshold_failures_and_returns_after_threshold_successes() {
        let spec = azure_local();
        let mut b = BackendHealth::new(true);
        assert_eq!(b.observe(ProbeResult::Http(503), &spec), None);
        assert_eq!(
            b.observe(ProbeResult::Http(503), &spec),
            Some(RotationChange::Left { reason: "probe HTTP 503 ×2".into() })
        );
        assert_eq!(b.observe(ProbeResult::Http(200), &spec), None);
        assert_eq!(b.observe(ProbeResult::Http(503), &spec), None, "a failure resets the success streak");
        assert_eq!(b.observe(ProbeResult::Http(200), &spec), None);
        assert_eq!(b.observe(ProbeResult::Http(200), &spec), Some(RotationChange::Joined));
    }

    #[test]
    fn the_metric_averages_probes_in_each_minute_like_the_portal() {
        // §3.7: 7 healthy and 6 unhealthy samples in a window read 53.85 % for that pair; with
        // one node always up and one always down, a steady 50 %.
        let mut m = ProbeMetric::default();
        for i in 0..12 {
            m.record(Instant::from_secs(5 * i), NodeId(0), true);
            m.record(Instant::from_secs(5 * i + 1), NodeId(1), i < 2);
        }
        let p = m.percent(0).unwrap();
        assert!((p - 100.0 * 14.0 / 24.0).abs() < 1e-9, "{p}");
        assert_eq!(m.per_node(0)[&NodeId(1)], 100.0 * 2.0 / 12.0);
        assert_eq!(m.percent(1), None);
    }

    #[test]
    fn five_tuple_hashing_spreads_flows_and_source_ip_hashing_pins_a_client() {
        let nodes = [NodeId(0), NodeId(1)];
        let hdr = |port| {
            Header::new(
                SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 79), port),
                SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 10), 80),
            )
        };
        let picks: Vec<NodeId> = (40000..40100).map(|p| pick_backend(&nodes, hdr(p), false, 7).unwrap()).collect();
        let on0 = picks.iter().filter(|n| **n == NodeId(0)).count();
        assert!((30..70).contains(&on0), "{on0}");
        let sticky: Vec<NodeId> = (40000..40100).map(|p| pick_backend(&nodes, hdr(p), true, 7).unwrap()).collect();
        assert!(sticky.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(pick_backend(&[], hdr(1), false, 7), None);
    }
}
