//! Cluster-wide settings a manifest does not carry: the cloud, the network plugin, the CIDRs and
//! kube-proxy's configuration.

use std::fmt;
use std::net::Ipv4Addr;

use crate::net::{IpCidr, IpFamily};
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
    /// Its `clusterCIDR`'s second prefix, of the other family (`clusterCIDR: a,b`).
    pub secondary_cluster_cidr: Option<IpCidr>,
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
            secondary_cluster_cidr: None,
            min_sync_period: Duration::from_secs(1),
            node_port_addresses: NodePortAddresses::All,
            random_fully: true,
        }
    }
}

/// Cilium's `loadBalancer.mode`: how a node forwards north-south traffic to a backend on
/// another node (`docs/fidelity.md#cilium-north-south`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CiliumLbMode {
    /// SNAT to the node's address; replies come back through it (the default).
    #[default]
    Snat,
    /// Direct server return: the backend's node answers the client itself.
    Dsr,
    /// DSR for TCP, SNAT for UDP and SCTP.
    Hybrid,
}

/// Cilium's `loadBalancer.algorithm`: how a node picks a backend for north-south traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CiliumLbAlgorithm {
    /// A uniform random pick per new connection (the default).
    #[default]
    Random,
    /// Maglev consistent hashing: the same 5-tuple picks the same backend on every node.
    Maglev,
}

/// Cilium's `loadBalancer.dsrDispatch`: how a DSR request carries the service address to the
/// backend's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DsrDispatch {
    /// An IPv4 option (IPv6: a Destination Option) on the request; native routing only.
    #[default]
    Opt,
    /// A Geneve tunnel option.
    Geneve,
}

/// Cilium's `routingMode`: how pod traffic crosses between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingMode {
    /// Encapsulated between nodes (VXLAN or Geneve): Helm's default.
    #[default]
    Tunnel,
    /// Routed as is, the way AKS runs it.
    Native,
}

/// Cilium's configuration, by its Helm value names, when it replaces kube-proxy
/// (`kubeProxyReplacement: true`; `docs/fidelity.md#cilium`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumConfig {
    /// `loadBalancer.mode`.
    pub mode: CiliumLbMode,
    /// `loadBalancer.algorithm`.
    pub algorithm: CiliumLbAlgorithm,
    /// `maglev.tableSize`: a prime from Cilium's list, 16381 by default.
    pub maglev_table_size: u32,
    /// `maglev.hashSeed`: base64 of 12 bytes, Cilium's built-in seed by default.
    pub maglev_hash_seed: String,
    /// `loadBalancer.dsrDispatch`.
    pub dsr_dispatch: DsrDispatch,
    /// `routingMode`.
    pub routing_mode: RoutingMode,
    /// `socketLB.enabled`: translate a pod's or host's `connect()` to a service (true by
    /// default with kube-proxy replacement).
    pub socket_lb: bool,
    /// `socketLB.hostNamespaceOnly`: only host processes get socket-LB; pods go per packet.
    pub socket_lb_host_namespace_only: bool,
    /// `nodePort.enableHealthCheck`: Cilium serves healthCheckNodePort.
    pub health_check_node_port: bool,
    /// `kubeProxyReplacementHealthzBindAddr` (`0.0.0.0:10256`): the kube-proxy-style healthz;
    /// empty (off) by default.
    pub healthz_bind: Option<u16>,
    /// `serviceNoBackendResponse`: `reject` (ICMP port unreachable, the default) or `drop`.
    pub no_backend_reject: bool,
    /// `bpf.lbExternalClusterIP`: ClusterIPs answer traffic from outside the cluster.
    pub external_cluster_ip: bool,
    /// `bpf.masquerade`: pod egress masquerading in eBPF instead of iptables (recorded; pod
    /// egress to the internet is not simulated).
    pub bpf_masquerade: bool,
}

impl CiliumConfig {
    /// Cilium's own defaults for the values svcsim reads (Helm chart 1.18).
    pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 16381;
    /// `maglev.hashSeed` when unset (`pkg/maglev`'s `DefaultHashSeed`).
    pub const DEFAULT_HASH_SEED: &str = "JLfvgnHc2kaSUFaI";
    /// The table sizes Cilium accepts.
    pub const MAGLEV_TABLE_SIZES: [u32; 10] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

    /// True when a TCP (`tcp`) or other connection to a remote backend goes by DSR.
    pub fn uses_dsr(&self, tcp: bool) -> bool {
        match self.mode {
            CiliumLbMode::Snat => false,
            CiliumLbMode::Dsr => true,
            CiliumLbMode::Hybrid => tcp,
        }
    }
}

impl Default for CiliumConfig {
    fn default() -> CiliumConfig {
        CiliumConfig {
            mode: CiliumLbMode::Snat,
            algorithm: CiliumLbAlgorithm::Random,
            maglev_table_size: CiliumConfig::DEFAULT_MAGLEV_TABLE_SIZE,
            maglev_hash_seed: CiliumConfig::DEFAULT_HASH_SEED.into(),
            dsr_dispatch: DsrDispatch::Opt,
            routing_mode: RoutingMode::Tunnel,
            socket_lb: true,
            socket_lb_host_namespace_only: false,
            health_check_node_port: true,
            healthz_bind: None,
            no_backend_reject: true,
            external_cluster_ip: false,
            bpf_masquerade: false,
        }
    }
}

impl fmt::Display for CiliumLbMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CiliumLbMode::Snat => "snat",
            CiliumLbMode::Dsr => "dsr",
            CiliumLbMode::Hybrid => "hybrid",
        })
    }
}

impl fmt::Display for CiliumLbAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CiliumLbAlgorithm::Random => "random",
            CiliumLbAlgorithm::Maglev => "maglev",
        })
    }
}

impl fmt::Display for DsrDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DsrDispatch::Opt => "opt",
            DsrDispatch::Geneve => "geneve",
        })
    }
}

impl fmt::Display for RoutingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoutingMode::Tunnel => "tunnel",
            RoutingMode::Native => "native",
        })
    }
}

/// Which implementation of the dataplane seam programs the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataplaneKind {
    /// kube-proxy, in its configured mode.
    KubeProxy(ProxyMode),
    /// Cilium's kube-proxy replacement.
    Cilium,
}

impl fmt::Display for DataplaneKind {
    /// `kube-proxy iptables`, `kube-proxy nftables`, `Cilium eBPF`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataplaneKind::KubeProxy(mode) => write!(f, "kube-proxy {mode}"),
            DataplaneKind::Cilium => f.write_str("Cilium eBPF"),
        }
    }
}

/// The second IP family's ranges of a dual-stack cluster: `clusterCIDR: 10.244.0.0/16,fd12::/64`
/// and `serviceCIDR: 10.0.0.0/16,fd12:1::/108`, as kube-controller-manager's and the API server's
/// flags take them (`docs/fidelity.md#dual-stack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondaryCidrs {
    pub cluster_cidr: IpCidr,
    pub service_cidr: IpCidr,
}

/// Cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub provider: Provider,
    pub network_plugin: NetworkPlugin,
    /// The pod CIDR of the cluster's first IP family.
    pub cluster_cidr: IpCidr,
    /// The service CIDR of the first family: a Service's default family.
    pub service_cidr: IpCidr,
    /// The second family's CIDRs on a dual-stack cluster.
    pub secondary: Option<SecondaryCidrs>,
    /// `--service-node-port-range`, inclusive.
    pub node_port_range: (u16, u16),
    pub kube_proxy: KubeProxyConfig,
    /// Cilium replacing kube-proxy (`cilium: {kubeProxyReplacement: true}`), or `None` when
    /// kube-proxy runs.
    pub cilium: Option<CiliumConfig>,
}

impl ClusterConfig {
    /// The cluster's IP families, the default (first) first.
    pub fn families(&self) -> Vec<IpFamily> {
        let mut out = vec![self.service_cidr.family()];
        out.extend(self.secondary.map(|s| s.service_cidr.family()));
        out
    }
    pub fn is_dual_stack(&self) -> bool {
        self.secondary.is_some()
    }
    /// The service CIDR of `family`, if the cluster has that family.
    pub fn service_cidr_of(&self, family: IpFamily) -> Option<IpCidr> {
        std::iter::once(self.service_cidr).chain(self.secondary.map(|s| s.service_cidr)).find(|c| c.family() == family)
    }
    /// The pod CIDR of `family`, if the cluster has that family.
    pub fn cluster_cidr_of(&self, family: IpFamily) -> Option<IpCidr> {
        std::iter::once(self.cluster_cidr).chain(self.secondary.map(|s| s.cluster_cidr)).find(|c| c.family() == family)
    }
    /// The cluster's first family: a Service's default.
    pub fn primary_family(&self) -> IpFamily {
        self.service_cidr.family()
    }
    /// Node `i` as the cluster's defaults make it: `node-<i>`, an address of each family, its
    /// podCIDRs the `i`-th of each cluster CIDR (`None` where a CIDR has no `i`-th).
    pub fn default_node(&self, i: u32) -> super::Node {
        use super::{FamilyAddresses, default_node_ip, nth_pod_cidr};
        let mut node = super::default_node(i);
        let primary = self.cluster_cidr.family();
        node.ip = default_node_ip(i, primary);
        if let Some(c) = nth_pod_cidr(self.cluster_cidr, i) {
            node.pod_cidr = c;
        } else if primary == IpFamily::Ipv6 {
            node.pod_cidr = IpCidr::new(self.cluster_cidr.network(), 128);
        }
        node.secondary = self.secondary.map(|s| {
            let family = s.cluster_cidr.family();
            let pod_cidr = nth_pod_cidr(s.cluster_cidr, i).unwrap_or(IpCidr::new(s.cluster_cidr.network(), 128));
            FamilyAddresses { ip: default_node_ip(i, family), pod_cidr }
        });
        node
    }
    /// The dataplane the nodes run.
    pub fn dataplane(&self) -> DataplaneKind {
        match self.cilium {
            Some(_) => DataplaneKind::Cilium,
            None => DataplaneKind::KubeProxy(self.kube_proxy.mode),
        }
    }
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
            cilium: None,
            secondary: None,
        }
    }
}
