//! kube-proxy's configuration in a scenario: a `KubeProxyConfiguration` document, as kube-proxy
//! itself reads it (`kubeproxy.config.k8s.io/v1alpha1`), and the Simulation's
//! `spec.cluster.kubeProxy` block. Both give the same fields; a field set in both is an error at
//! the Simulation's line, so a scenario never says two things.

use super::read::{self, Cx, Map};
use super::tree::Pos;
use crate::cluster::{DetectLocalMode, KubeProxyConfig, NodePortAddresses, ProxyMode};
use crate::net::IpCidr;
use crate::time::Duration;

/// The API version of a `KubeProxyConfiguration`.
pub const API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";

/// The modes svcsim can run, as `mode:` spells them.
const MODES: &[&str] = &["iptables", "nftables"];

/// kube-proxy settings as written, each with where it was written.
#[derive(Debug, Clone, Default)]
pub(super) struct KubeProxySpec {
    pub mode: Option<(ProxyMode, Pos)>,
    pub masquerade_all: Option<(bool, Pos)>,
    pub detect_local: Option<(DetectLocalMode, Pos)>,
    /// `clusterCIDR`, one prefix per family (`10.244.0.0/16,fd12:3456:789a::/64`).
    pub cluster_cidr: Option<((IpCidr, Option<IpCidr>), Pos)>,
    pub min_sync_period: Option<(Duration, Pos)>,
    pub node_port_addresses: Option<(NodePortAddresses, Pos)>,
    /// `nftables.masqueradeAll` and `nftables.minSyncPeriod` of a KubeProxyConfiguration, which
    /// kube-proxy reads instead of the `iptables` ones in nftables mode.
    pub nftables: Option<Box<KubeProxySpec>>,
    /// Read from a KubeProxyConfiguration document (not the Simulation's block).
    from_configuration: bool,
}

impl KubeProxySpec {
    /// Applies the settings given to `config`, in `forced` mode if given (whatever `mode:`
    /// says). A KubeProxyConfiguration keeps `masqueradeAll` and `minSyncPeriod` per mode, and
    /// kube-proxy reads the block of the mode it runs; the Simulation's flat block applies to
    /// either mode.
    pub fn apply(&self, config: &mut KubeProxyConfig, forced: Option<ProxyMode>) {
        if let Some(m) = forced.or(self.mode.map(|(m, _)| m)) {
            config.mode = m;
        }
        let (masquerade_all, min_sync_period) = match (self.from_configuration, config.mode) {
            (true, ProxyMode::Nftables) => {
                self.nftables.as_deref().map_or((None, None), |n| (n.masquerade_all, n.min_sync_period))
            }
            _ => (self.masquerade_all, self.min_sync_period),
        };
        if let Some((m, _)) = masquerade_all {
            config.masquerade_all = m;
        }
        if let Some((d, _)) = min_sync_period {
            config.min_sync_period = d;
        }
        if let Some((d, _)) = self.detect_local {
            config.detect_local_mode = d;
        }
        if let Some(((c, second), _)) = self.cluster_cidr {
            config.cluster_cidr = Some(c);
            config.secondary_cluster_cidr = second;
        }
        if let Some((a, _)) = &self.node_port_addresses {
            config.node_port_addresses = a.clone();
        }
    }

    /// True if any field is set.
    pub fn is_set(&self) -> bool {
        self.mode.is_some()
            || self.masquerade_all.is_some()
            || self.detect_local.is_some()
            || self.cluster_cidr.is_some()
            || self.min_sync_period.is_some()
            || self.node_port_addresses.is_some()
            || self.nftables.is_some()
    }

    /// The fields set in both `self` and `other`, with `self`'s position and name.
    pub fn overlap(&self, other: &KubeProxySpec) -> Vec<(&'static str, Pos)> {
        let mut out = Vec::new();
        let mut both = |name, a: Option<Pos>, b: Option<Pos>| {
            if let (Some(pos), Some(_)) = (a, b) {
                out.push((name, pos));
            }
        };
        both("mode", self.mode.map(|m| m.1), other.mode.map(|m| m.1));
        both("masqueradeAll", self.masquerade_all.map(|m| m.1), other.masquerade_all.map(|m| m.1));
        both("detectLocalMode", self.detect_local.map(|m| m.1), other.detect_local.map(|m| m.1));
        both("clusterCIDR", self.cluster_cidr.map(|m| m.1), other.cluster_cidr.map(|m| m.1));
        both("minSyncPeriod", self.min_sync_period.map(|m| m.1), other.min_sync_period.map(|m| m.1));
        let (a, b) = (self.node_port_addresses.as_ref().map(|m| m.1), other.node_port_addresses.as_ref().map(|m| m.1));
        both("nodePortAddresses", a, b);
        out
    }
}

/// A `KubeProxyConfiguration` document: its `mode`, `clusterCIDR`, `detectLocalMode`,
/// `nodePortAddresses`, `iptables.{masqueradeAll,minSyncPeriod}` and
/// `nftables.{masqueradeAll,minSyncPeriod}`. Every other field is a "not
/// modelled" warning.
pub(super) fn read_configuration(cx: &mut Cx<'_>, m: &mut Map<'_>) -> KubeProxySpec {
    let mut s = KubeProxySpec { from_configuration: true, ..KubeProxySpec::default() };
    // A KubeProxyConfiguration has no name; metadata, if any, is ignored.
    let _ = m.get(cx, "metadata");
    read_common(cx, m, "", &mut s);
    s.cluster_cidr = m
        .get(cx, "clusterCIDR")
        .and_then(|n| Some((read::dual(cx, n, "clusterCIDR", read::parse_cidr, |c: &IpCidr| c.family())?, n.pos)));
    if let Some(ipt) = m.get(cx, "iptables")
        && let Some(mut im) = Map::new(cx, ipt, "iptables")
    {
        read_iptables(cx, &mut im, "iptables", &mut s);
        im.finish(cx);
    }
    if let Some(nft) = m.get(cx, "nftables")
        && let Some(mut nm) = Map::new(cx, nft, "nftables")
    {
        let mut n = KubeProxySpec::default();
        read_iptables(cx, &mut nm, "nftables", &mut n);
        nm.finish(cx);
        s.nftables = Some(Box::new(n));
    }
    s
}

/// The Simulation's `spec.cluster.kubeProxy` block: the same fields, flat.
pub(super) fn read_simulation_block(cx: &mut Cx<'_>, km: &mut Map<'_>) -> KubeProxySpec {
    let mut s = KubeProxySpec::default();
    let path = "spec.cluster.kubeProxy";
    read_common(cx, km, path, &mut s);
    read_iptables(cx, km, path, &mut s);
    s
}

fn child(base: &str, key: &str) -> String {
    if base.is_empty() { key.to_string() } else { format!("{base}.{key}") }
}

fn read_common(cx: &mut Cx<'_>, m: &mut Map<'_>, base: &str, s: &mut KubeProxySpec) {
    if let Some(n) = m.get(cx, "mode") {
        let path = child(base, "mode");
        match read::string(cx, n, &path).as_deref() {
            // An empty mode means the platform default: iptables on Linux.
            Some("" | "iptables") => s.mode = Some((ProxyMode::Iptables, n.pos)),
            Some("nftables") => s.mode = Some((ProxyMode::Nftables, n.pos)),
            Some(other @ ("ipvs" | "kernelspace")) => {
                cx.error(&path, n.pos, format!("{other:?} is not simulated yet: svcsim runs {}", MODES.join(", ")))
            }
            Some(other) => cx.error(&path, n.pos, format!("{other:?} is not a proxy mode (iptables, nftables, ipvs)")),
            None => {}
        }
    }
    if let Some(n) = m.get(cx, "detectLocalMode") {
        let path = child(base, "detectLocalMode");
        let mode = match read::string(cx, n, &path).as_deref() {
            Some("" | "ClusterCIDR") => Some(DetectLocalMode::ClusterCidr),
            Some("NodeCIDR") => Some(DetectLocalMode::NodeCidr),
            // svcsim's spelling of "no detector", which kube-proxy falls back to.
            Some("None") if !base.is_empty() => Some(DetectLocalMode::None),
            Some(other @ ("BridgeInterface" | "InterfaceNamePrefix")) => {
                cx.error(&path, n.pos, format!("{other:?} is not modelled by svcsim: use ClusterCIDR or NodeCIDR"));
                None
            }
            Some(other) => {
                let allowed = "ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix";
                cx.error(&path, n.pos, format!("{other:?} is not a detect-local mode ({allowed})"));
                None
            }
            None => None,
        };
        s.detect_local = mode.map(|m| (m, n.pos));
    }
    if let Some(n) = m.get(cx, "nodePortAddresses") {
        let path = child(base, "nodePortAddresses");
        s.node_port_addresses = node_port_addresses(cx, n, &path).map(|a| (a, n.pos));
    }
}

fn read_iptables(cx: &mut Cx<'_>, m: &mut Map<'_>, base: &str, s: &mut KubeProxySpec) {
    if let Some(n) = m.get(cx, "masqueradeAll") {
        s.masquerade_all = read::boolean(cx, n, &child(base, "masqueradeAll")).map(|b| (b, n.pos));
    }
    if let Some(n) = m.get(cx, "minSyncPeriod") {
        s.min_sync_period = read::duration(cx, n, &child(base, "minSyncPeriod")).map(|d| (d, n.pos));
    }
}

/// `["primary"]`, or a list of CIDRs; `primary` cannot be mixed with CIDRs (kube-proxy's
/// validation).
fn node_port_addresses(cx: &mut Cx<'_>, n: &super::tree::Node, path: &str) -> Option<NodePortAddresses> {
    let items = read::seq(cx, n, path);
    if items.is_empty() {
        return Some(NodePortAddresses::All);
    }
    let texts: Vec<Option<String>> =
        items.iter().enumerate().map(|(i, it)| read::string(cx, it, &format!("{path}[{i}]"))).collect();
    if texts.iter().any(|t| t.as_deref() == Some("primary")) {
        if texts.len() > 1 {
            cx.error(path, n.pos, "\"primary\" must be the only entry of nodePortAddresses");
            return None;
        }
        return Some(NodePortAddresses::Primary);
    }
    let cidrs: Vec<IpCidr> =
        items.iter().enumerate().filter_map(|(i, it)| read::cidr(cx, it, &format!("{path}[{i}]"))).collect();
    (cidrs.len() == items.len()).then_some(NodePortAddresses::Cidrs(cidrs))
}
