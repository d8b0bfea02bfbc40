//! Cluster-wide settings a manifest does not carry: the cloud, the network plugin, the CIDRs and
//! kube-proxy's configuration.

use std::fmt;
use std::net::Ipv4Addr;

use crate::net::IpCidr;
use crate::time::Duration;

/// The cloud whose load balancer fronts `type: LoadBalancer` Services
/// (`docs/fidelity.md#cloud-load-balancers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// Azure Standard LB with floating IP, as AKS programs it.
    #[default]
    Azure,
    /// AWS NLB with instance targets.
    Aws,
    /// GCP target-pool network LB.
    Gcp,
    /// No cloud load balancer: LoadBalancer Services get no ingress traffic from one.
    None,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Azure => "azure",
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::None => "none",
        })
    }
}

/// The CNI flavour, which decides the address MASQUERADE picks toward a local pod
/// (`docs/fidelity.md#snat-source-address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkPlugin {
    /// Bridge `cbr0` holds the first address of the node's podCIDR.
    #[default]
    Kubenet,
    /// Pods on VNet addresses, no bridge address: SNAT always picks the node IP.
    AzureCni,
}

impl fmt::Display for NetworkPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkPlugin::Kubenet => "kubenet",
            NetworkPlugin::AzureCni => "azure-cni",
        })
    }
}

/// kube-proxy's `--proxy-mode`: which implementation of the dataplane seam programs the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// iptables mode, kube-proxy's default on Linux.
    #[default]
    Iptables,
    /// nftables mode, GA since v1.33.
    Nftables,
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
        })
    }
}

/// kube-proxy's `--detect-local-mode`, reduced to the modes svcsim models
/// (`docs/fidelity.md#detect-local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectLocalMode {
    /// `-s <clusterCIDR>` marks pod traffic.
    #[default]
    ClusterCidr,
    /// `-s <node podCIDR>` marks pod traffic of this node only.
    NodeCidr,
    /// No detector (ClusterCIDR mode without a cluster CIDR): only host-originated traffic is
    /// short-circuited.
    None,
}

impl fmt::Display for DetectLocalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DetectLocalMode::ClusterCidr => "ClusterCIDR",
            DetectLocalMode::NodeCidr => "NodeCIDR",
            DetectLocalMode::None => "None",
        })
    }
}

/// kube-proxy's `--nodeport-addresses`: which of the node's addresses accept NodePort traffic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NodePortAddresses {
    /// Every local address, loopback included: iptables mode's default when unset (nftables
    /// mode's default is [`NodePortAddresses::Primary`], see [`KubeProxyConfig::for_mode`]).
    #[default]
    All,
    /// `primary`: the node's primary IP of each family.
    Primary,
    /// The node's addresses inside these CIDRs.
    Cidrs(Vec<IpCidr>),
}

/// kube-proxy's configuration: the fields of a `KubeProxyConfiguration` that change what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeProxyConfig {
    pub mode: ProxyMode,
    /// `iptables.masqueradeAll`.
    pub masquerade_all: bool,
    pub detect_local_mode: DetectLocalMode,
    /// kube-proxy's own `clusterCIDR`, when it differs from the cluster's (a misconfiguration
    /// svcsim can show); `None` means the cluster's.
    pub cluster_cidr: Option<IpCidr>,
    /// `iptables.minSyncPeriod`, default 1 s.
    pub min_sync_period: Duration,
    pub node_port_addresses: NodePortAddresses,
    /// Whether the node's iptables has `MASQUERADE --random-fully` (1.6.2 and later, every
    /// current distribution): kube-proxy then asks for it, and masqueraded connections get a
    /// random source port. Off only to match kube-proxy's own unit tests, whose fake lacks it.
    pub random_fully: bool,
}

impl KubeProxyConfig {
    /// The defaults kube-proxy applies in `mode`: nftables mode serves NodePorts on the node's
    /// primary IP only (`platformApplyDefaults` of `cmd/kube-proxy/app/server_linux.go`).
    pub fn for_mode(mode: ProxyMode) -> KubeProxyConfig {
        let node_port_addresses = match mode {
            ProxyMode::Iptables => NodePortAddresses::All,
            ProxyMode::Nftables => NodePortAddresses::Primary,
        };
        KubeProxyConfig { mode, node_port_addresses, ..KubeProxyConfig::default() }
    }
}

impl Default for KubeProxyConfig {
    fn default() -> KubeProxyConfig {
        KubeProxyConfig {
            mode: ProxyMode::Iptables,
            masquerade_all: false,
            detect_local_mode: DetectLocalMode::ClusterCidr,
            cluster_cidr: None,
            min_sync_period: Duration::from_secs(1),
            node_port_addresses: NodePortAddresses::All,
            random_fully: true,
        }
    }
}

/// Cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub provider: Provider,
    pub network_plugin: NetworkPlugin,
    pub cluster_cidr: IpCidr,
    pub service_cidr: IpCidr,
    /// `--service-node-port-range`, inclusive.
    pub node_port_range: (u16, u16),
    pub kube_proxy: KubeProxyConfig,
}

impl ClusterConfig {
    /// The cluster CIDR kube-proxy's detect-local uses: its own if configured, else the cluster's.
    pub fn proxy_cluster_cidr(&self) -> IpCidr {
        self.kube_proxy.cluster_cidr.unwrap_or(self.cluster_cidr)
    }
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            provider: Provider::Azure,
            network_plugin: NetworkPlugin::Kubenet,
            cluster_cidr: IpCidr::new(Ipv4Addr::new(10, 244, 0, 0), 16),
            service_cidr: IpCidr::new(Ipv4Addr::new(10, 0, 0, 0), 16),
            node_port_range: (30000, 32767),
            kube_proxy: KubeProxyConfig::default(),
        }
    }
}
