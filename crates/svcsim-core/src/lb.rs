//! Cloud load balancers: how each provider delivers traffic to nodes, how it health-probes them,
//! when a node leaves and rejoins rotation, and the Health Probe Status metric
//! (`docs/fidelity.md#cloud-load-balancers`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::cluster::{NodeId, Provider, Service, ServiceId, TrafficPolicy};
use crate::net::{Header, IpFamily, Protocol, SockAddr};
use crate::rng::fnv1a;
use crate::time::{Duration, Instant};

/// Azure's probe source address (`docs/fidelity.md#azure-probes`); svcsim uses it for every
/// provider's IPv4 probes.
pub const PROBE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16));

/// Azure's IPv6 probe source: a link-local address, "Azure Load Balancer sends health probes to
/// IPv6 destinations from a link-local address" (`docs/fidelity.md#dual-stack-probes`).
pub const AZURE_PROBE_SOURCE_V6: IpAddr =
    IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x1234, 0x5678, 0x9abc));

/// An address of Google's IPv6 health-check range `2600:2d00:1:b029::/64`.
pub const GCP_PROBE_SOURCE_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2600, 0x2d00, 1, 0xb029, 0, 0, 0, 1));

/// Where `provider`'s probes of `family` come from.
pub fn probe_source(provider: Provider, family: IpFamily) -> IpAddr {
    match (family, provider) {
        (IpFamily::Ipv4, _) => PROBE_SOURCE,
        (IpFamily::Ipv6, Provider::Gcp) => GCP_PROBE_SOURCE_V6,
        (IpFamily::Ipv6, _) => AZURE_PROBE_SOURCE_V6,
    }
}

/// True if probes come from `ip` (replies to it go back to the load balancer).
pub fn is_probe_source(ip: IpAddr) -> bool {
    [PROBE_SOURCE, AZURE_PROBE_SOURCE_V6, GCP_PROBE_SOURCE_V6].contains(&ip)
}

/// One load balancer of a Service: its frontends of one family, and the backend pool and probes
/// behind them. Azure gives a dual-stack Service one per family (the `-IPv6` frontend, rule and
/// probe); an AWS NLB's IPv6 frontend shares the Service's IPv4 target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frontend {
    pub svc: ServiceId,
    /// The family of its probes and of the packets it delivers to the nodes.
    pub family: IpFamily,
}

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
    /// The first port's NodePort ("traffic-port"), probed over TCP whatever the port's protocol
    /// (AWS: a UDP-only NodePort refuses it).
    NodePort,
    /// The first TCP port's NodePort; a Service without one gets no probe, and every node stays
    /// in rotation (Azure: "UDP and SCTP ports get no probe").
    TcpNodePort,
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
    /// pools); replies go straight from the node to the client (`docs/fidelity.md#lb-delivery`).
    FloatingIp,
    /// The LB rewrites the destination to nodeIP:nodePort, keeping the client's source (AWS NLB
    /// instance targets), and replies pass back through it (`docs/fidelity.md#lb-delivery`).
    InstanceTarget,
}

/// A provider's behaviour for one Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbProfile {
    pub delivery: Delivery,
    pub probe: ProbeSpec,
}

impl LbProfile {
    /// The profile `provider` uses for `svc` (`docs/fidelity.md#probe-profiles`).
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
            // Cluster (the default `servicenodeport` mode), UDP and SCTP ports unprobed; every
            // 5 s, threshold 2 (cloud-provider-azure `azure_loadbalancer_healthprobe.go`). A TCP
            // probe fails if unanswered within the interval; HTTP waits 30 s (Azure's probe
            // overview).
            Provider::Azure => LbProfile {
                delivery: Delivery::FloatingIp,
                probe: if local {
                    spec(ProbeKind::Http, ProbePort::HealthCheckNodePort, s(5), s(30), 2, 2)
                } else {
                    spec(ProbeKind::Tcp, ProbePort::TcpNodePort, s(5), s(5), 2, 2)
                },
            },
            // AWS Load Balancer Controller, NLB instance targets (its `model_builder.go`
            // defaults: TCP on the traffic port, also for a UDP listener).
            Provider::Aws => LbProfile {
                delivery: Delivery::InstanceTarget,
                probe: if local {
                    spec(ProbeKind::Http, ProbePort::HealthCheckNodePort, s(10), s(6), 2, 2)
                } else {
                    spec(ProbeKind::Tcp, ProbePort::NodePort, s(10), s(10), 3, 3)
                },
            },
            // GCE target pool: 8 s interval, 1 s timeout, healthy 1, unhealthy 3; Cluster uses
            // the shared node check on kube-proxy's 10256 (legacy-cloud-providers/gce
            // `gce_healthchecks.go`).
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

impl ProbePort {
    /// The node port a probe of `svc` targets, or `None` when the Service gets no probe.
    pub fn of(self, svc: &Service) -> Option<u16> {
        match self {
            ProbePort::HealthCheckNodePort => svc.health_check_node_port,
            ProbePort::NodePort => svc.ports.first().and_then(|p| p.node_port),
            ProbePort::TcpNodePort => svc.ports.iter().find(|p| p.protocol == Protocol::Tcp).and_then(|p| p.node_port),
            ProbePort::ProxyHealthz => Some(crate::dataplane::PROXY_HEALTHZ_PORT),
        }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        self.last = Some(result);
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
/// uses ClientIP affinity (`SourceIP` distribution; `docs/fidelity.md#lb-delivery`). `salt` is per run.
pub fn pick_backend(in_rotation: &[NodeId], header: Header, source_ip_affinity: bool, salt: u64) -> Option<NodeId> {
    if in_rotation.is_empty() {
        return None;
    }
    let (sport, dport) = if source_ip_affinity { (0, 0) } else { (header.src.port, header.dst.port) };
    // src, dst, sport, dport, protocol: 13 bytes for IPv4, 37 for IPv6.
    let mut key = [0u8; 37];
    let mut len = push_ip(&mut key, 0, header.src.ip);
    len = push_ip(&mut key, len, header.dst.ip);
    key[len..len + 2].copy_from_slice(&sport.to_be_bytes());
    key[len + 2..len + 4].copy_from_slice(&dport.to_be_bytes());
    key[len + 4] = header.proto.number();
    let h = fnv1a(&key[..len + 5]) ^ salt;
    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
    Some(in_rotation[(h % in_rotation.len() as u64) as usize])
}

/// Writes `ip`'s octets at `at`; returns where the next field starts.
fn push_ip(key: &mut [u8; 37], at: usize, ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(v4) => {
            key[at..at + 4].copy_from_slice(&v4.octets());
            at + 4
        }
        IpAddr::V6(v6) => {
            key[at..at + 16].copy_from_slice(&v6.octets());
            at + 16
        }
    }
}

/// Probe results per 1-minute window, backend node and probe family, over every load balancer:
/// what the Health Probe Status metric averages (`docs/fidelity.md#health-probe-status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMetric {
    /// (minute, node, family) → (successful probes, all probes).
    pub windows: BTreeMap<(u64, NodeId, IpFamily), (u32, u32)>,
}

/// The Health Probe Status over some minutes: successful ÷ total probes, as the Azure portal
/// averages them, in all and per node.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStatus {
    pub percent: f64,
    pub per_node: BTreeMap<NodeId, f64>,
}

impl ProbeMetric {
    pub fn record(&mut self, at: Instant, node: NodeId, family: IpFamily, ok: bool) {
        let w = self.windows.entry((at.minute(), node, family)).or_default();
        w.0 += u32::from(ok);
        w.1 += 1;
    }

    /// The status over `minutes` of the probes of `family` (every family's when `None`), or
    /// `None` if no such probe finished in them.
    pub fn status(&self, minutes: std::ops::Range<u64>, family: Option<IpFamily>) -> Option<ProbeStatus> {
        let mut per_node: BTreeMap<NodeId, (u32, u32)> = BTreeMap::new();
        let range = (minutes.start, NodeId(0), IpFamily::Ipv4)..(minutes.end, NodeId(0), IpFamily::Ipv4);
        for ((_, node, f), (ok, n)) in self.windows.range(range) {
            if family.is_some_and(|family| family != *f) {
                continue;
            }
            let w = per_node.entry(*node).or_default();
            w.0 += ok;
            w.1 += n;
        }
        let (ok, n) = per_node.values().fold((0, 0), |a, w| (a.0 + w.0, a.1 + w.1));
        (n > 0).then(|| ProbeStatus {
            percent: pct(ok, n),
            per_node: crate::order::map(per_node.into_iter().map(|(k, (ok, n))| (k, pct(ok, n)))),
        })
    }

    /// Minutes with at least one probe.
    pub fn minutes(&self) -> Vec<u64> {
        let mut m: Vec<u64> = self.windows.keys().map(|(m, _, _)| *m).collect();
        m.dedup();
        m
    }

    /// The families probed.
    pub fn families(&self) -> Vec<IpFamily> {
        let set: std::collections::BTreeSet<IpFamily> = self.windows.keys().map(|(_, _, f)| *f).collect();
        set.into_iter().collect()
    }

    /// Drops windows before `minute` (the web app keeps 30 minutes).
    pub fn forget_before(&mut self, minute: u64) {
        self.windows = self.windows.split_off(&(minute, NodeId(0), IpFamily::Ipv4));
    }
}

fn pct(ok: u32, n: u32) -> f64 {
    100.0 * f64::from(ok) / f64::from(n.max(1))
}

/// The frontend address of a Service port on the LB, of `family`.
pub fn frontend(svc: &Service, port_idx: usize, family: IpFamily) -> Option<SockAddr> {
    let ip = svc.load_balancer_ingress.iter().find(|ip| IpFamily::of(**ip) == family)?;
    Some(SockAddr::new(*ip, svc.ports.get(port_idx)?.port))
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
        // Azure's troubleshooting guide: 7 healthy and 6 unhealthy samples in a window read 53.85 %
        // for that pair; with one node always up and one always down, a steady 50 %.
        let mut m = ProbeMetric::default();
        for i in 0..12 {
            m.record(Instant::from_secs(5 * i), NodeId(0), IpFamily::Ipv4, true);
            m.record(Instant::from_secs(5 * i + 1), NodeId(1), IpFamily::Ipv4, i < 2);
        }
        let s = m.status(0..1, None).unwrap();
        assert!((s.percent - 100.0 * 14.0 / 24.0).abs() < 1e-9, "{}", s.percent);
        assert_eq!(s.per_node[&NodeId(1)], 100.0 * 2.0 / 12.0);
        assert_eq!(m.status(1..2, None), None);
        assert_eq!(m.status(0..2, None).unwrap().percent, s.percent, "an empty minute adds nothing");
        assert_eq!(m.status(0..1, Some(IpFamily::Ipv6)), None, "no IPv6 probes");
    }

    #[test]
    fn five_tuple_hashing_spreads_flows_and_source_ip_hashing_pins_a_client() {
        let nodes = [NodeId(0), NodeId(1)];
        let hdr = |port| {
            Header::tcp(
                SockAddr::new(Ipv4Addr::new(198, 51, 100, 79), port),
                SockAddr::new(Ipv4Addr::new(203, 0, 113, 10), 80),
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
