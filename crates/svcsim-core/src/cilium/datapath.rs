//! Cilium's datapath deciding a connection: at the node's device for traffic from outside
//! (`nodeport_lb4`), at a pod's veth per packet (`__per_packet_lb_svc_xlate_4`), and at
//! `connect()` for sockets in the cluster (socket-LB, `__sock4_xlate_fwd`), with the backend
//! picked at random or by Maglev (`lb4_local`) (`docs/fidelity.md#cilium`).

use std::net::{IpAddr, Ipv4Addr};

use super::maglev::{self, Seeds};
use super::maps::{Backend, BackendId, Frontend, FrontendKind, NodeMaps};
use super::step::Step;
use crate::cluster::{CiliumConfig, NodeId, RoutingMode};
use crate::dataplane::{Cause, Connect, Decision, Delivery, Dsr, NodeNet, Origin, RulePath, RuleRef, Verdict};
use crate::net::{Header, IpFamily, Protocol, SockAddr};

/// `ipv4-service-loopback-address`: the source a pod's packet gets when a Service sends it
/// back to the pod itself.
pub const SERVICE_LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 42, 1));

/// The same for IPv6: `fe80::1` (`docs/fidelity.md#dual-stack`).
pub const SERVICE_LOOPBACK_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));

/// The hairpin source of `ip`'s family, and what Cilium calls it.
fn service_loopback(ip: IpAddr) -> (IpAddr, &'static str) {
    match ip {
        IpAddr::V4(_) => (SERVICE_LOOPBACK, "ipv4-service-loopback-address"),
        IpAddr::V6(_) => (SERVICE_LOOPBACK_V6, "the IPv6 service loopback address"),
    }
}

/// What one node's datapath reads.
pub struct Datapath<'a> {
    pub node: NodeId,
    pub maps: &'a NodeMaps,
    pub net: &'a NodeNet,
    pub config: &'a CiliumConfig,
    pub seeds: Seeds,
    /// Every node's address (a NodePort on another node reached from a socket here).
    pub node_ips: &'a [IpAddr],
    /// The node's NodePort range, for the wildcard lookup.
    pub node_port_range: (u16, u16),
}

/// The choices only a running connection can supply: a random slot, and ClientIP affinity.
pub trait Picker {
    /// A slot in `0..n`.
    fn slot(&mut self, n: u32) -> u32;
    /// The backend this client was last sent to through `frontend`, if still remembered.
    fn affinity(&mut self, frontend: u16, client: IpAddr) -> Option<BackendId>;
    /// Remembers the backend a client was sent to.
    fn remember(&mut self, frontend: u16, client: IpAddr, backend: BackendId);
}

/// The picker `svcsim packet` uses to see every decision: it always takes slot `i` (modulo the
/// backend count) and remembers nothing.
pub struct ForcedSlot(pub u32);

impl Picker for ForcedSlot {
    fn slot(&mut self, n: u32) -> u32 {
        self.0 % n
    }
    fn affinity(&mut self, _: u16, _: IpAddr) -> Option<BackendId> {
        None
    }
    fn remember(&mut self, _: u16, _: IpAddr, _: BackendId) {}
}

/// A first packet's walk: the steps so far, of a packet of `family`.
struct Walk {
    family: IpFamily,
    steps: Vec<RuleRef>,
}

impl Walk {
    fn new(family: IpFamily, first: Option<Step>) -> Walk {
        let mut w = Walk { family, steps: Vec::new() };
        w.extend(first);
        w
    }
    fn extend(&mut self, step: Option<Step>) {
        if let Some(step) = step {
            self.push(step);
        }
    }
    /// Adds `step`, named for the family: an IPv6 packet meets the `lb6` programs and maps
    /// that mirror the `lb4` ones (`nodeport_lb6`, `cilium_lb6_services_v2`).
    fn push(&mut self, mut step: Step) {
        if self.family == IpFamily::Ipv6 {
            step.program = ipv6_program(step.program);
            step.detail =
                step.detail.replace("cilium_lb4_", "cilium_lb6_").replace("cilium_snat_v4_", "cilium_snat_v6_");
        }
        self.steps.push(step.into_ref());
    }
}

/// The IPv6 twin of an IPv4 program of `bpf/lib/lb.h` and `nodeport.h`.
fn ipv6_program(program: &'static str) -> &'static str {
    match program {
        "nodeport_lb4" => "nodeport_lb6",
        "lb4_src_range_ok" => "lb6_src_range_ok",
        "lb4_svc_is_routable" => "lb6_svc_is_routable",
        "nodeport_svc_lb4" => "nodeport_svc_lb6",
        "tail_nodeport_nat_egress_ipv4" => "tail_nodeport_nat_egress_ipv6",
        "nodeport_extract_dsr_v4" => "nodeport_extract_dsr_v6",
        "nodeport_dsr_ingress_ipv4" => "nodeport_dsr_ingress_ipv6",
        "__per_packet_lb_svc_xlate_4" => "__per_packet_lb_svc_xlate_6",
        "lb4_local" => "lb6_local",
        "tail_no_service_ipv4" => "tail_no_service_ipv6",
        "cil_sock4_connect" => "cil_sock6_connect",
        "cil_sock4_sendmsg" => "cil_sock6_sendmsg",
        other => other,
    }
}

impl Datapath<'_> {
    /// The first packet of a connection arriving at this node from `origin`; `dsr` is the
    /// service address a DSR option on it carries.
    pub fn first_packet(
        &self,
        origin: Origin,
        header: Header,
        dsr: Option<SockAddr>,
        picker: &mut dyn Picker,
    ) -> Decision {
        let from_local_pod = origin == Origin::Routed && self.is_local_pod(header.src.ip);
        if origin == Origin::Host || from_local_pod {
            return self.east_west(origin, header, picker);
        }
        self.north_south(header, dsr, picker)
    }

    /// How many decisions [`Datapath::first_packet`] can make for `header`: one per backend a
    /// random pick could take, one when Maglev or nothing decides.
    pub fn picks(&self, origin: Origin, header: Header) -> u32 {
        let from_local_pod = origin == Origin::Routed && self.is_local_pod(header.src.ip);
        let fe = if origin == Origin::Host || from_local_pod {
            self.balances_per_packet(origin).then(|| self.maps.lookup_east_west(header.dst, header.proto)).flatten()
        } else {
            self.maps.lookup(header.dst, header.proto, super::maps::Scope::External)
        };
        match fe {
            Some(f) if f.maglev.is_none() || origin == Origin::Host || from_local_pod => f.backends.len().max(1) as u32,
            _ => 1,
        }
    }

    fn is_local_pod(&self, ip: IpAddr) -> bool {
        self.net.is_pod_side(ip)
    }

    /// Whether a packet from a pod (or the host) is balanced as it leaves: socket-LB did not
    /// already translate its `connect()` — it is off, or (for pods) only serves the host's
    /// namespace.
    fn balances_per_packet(&self, origin: Origin) -> bool {
        match origin {
            Origin::Host => !self.config.socket_lb,
            Origin::Routed => !self.config.socket_lb || self.config.socket_lb_host_namespace_only,
        }
    }

    /// `cil_from_netdev` → `nodeport_lb4`: traffic that arrived on the node's device.
    fn north_south(&self, header: Header, dsr: Option<SockAddr>, picker: &mut dyn Picker) -> Decision {
        let mut w = Walk::new(header.family(), Some(Step::plumbing("cil_from_netdev", "from-network")));
        let Some(fe) = self.maps.lookup(header.dst, header.proto, super::maps::Scope::External) else {
            if let Some(service) = dsr {
                return self.dsr_ingress(header, service, w);
            }
            return self.pass(header);
        };
        w.push(Step::new(
            "nodeport_lb4",
            format!("cilium_lb4_services_v2 {} (0) [{}]: {}", fe.key(), fe.flags(), count(fe)),
        ));
        if !fe.source_ranges.is_empty() && !fe.source_ranges.iter().any(|c| c.contains(header.src.ip)) {
            w.push(
                Step::new("lb4_src_range_ok", format!("{} is not in cilium_lb4_source_range", header.src.ip))
                    .ends("Denied by LB src range check"),
            );
            return drop(header, w, false);
        }
        if !fe.routable {
            w.push(
                Step::new("lb4_svc_is_routable", format!("{} answers only traffic from inside the cluster", fe.key()))
                    .ends("Is a ClusterIP"),
            );
            return drop(header, w, false);
        }
        let Some(backend) = self.select(fe, header, true, picker, &mut w) else {
            return self.no_backend(header, w);
        };
        let after_dnat = Header { dst: backend.addr, ..header };
        if backend.node == Some(self.node) {
            w.push(Step::new(
                "nodeport_svc_lb4",
                format!("{backend} is on this node: DNAT and deliver, no SNAT (CT NodePort entry)"),
            ));
            return accept(header, after_dnat, Some(backend.addr), None, w, None);
        }
        let tcp = header.proto == Protocol::Tcp;
        if self.config.uses_dsr(tcp) {
            let how = match self.config.dsr_dispatch {
                crate::cluster::DsrDispatch::Opt => format!("dsr_set_opt4: IPv4 option 0x9a carries {}", header.dst),
                crate::cluster::DsrDispatch::Geneve => {
                    format!("encap_geneve_dsr_opt4: Geneve option 0x014B/0x81 carries {}", header.dst)
                }
            };
            w.push(Step::new(
                "tail_nodeport_ipv4_dsr",
                format!("{how}; the reply will not come back here (no CT entry)"),
            ));
            let dsr = Dsr::Dispatch { service: header.dst, dispatch: self.config.dsr_dispatch };
            return accept(header, after_dnat, Some(backend.addr), None, w, Some(dsr));
        }
        let source = self.snat_source();
        let after = Header { src: SockAddr::new(source, header.src.port), ..after_dnat };
        w.push(Step::new(
            "tail_nodeport_nat_egress_ipv4",
            format!(
                "cilium_snat_v4_external {} OUT {} -> {} XLATE_SRC {}",
                header.proto, header.src, backend.addr, after.src
            ),
        ));
        accept(header, after, Some(backend.addr), Some(source), w, None)
    }

    /// The address a NodePort SNAT gives a packet to a remote backend: the direct-routing
    /// device's (the node IP) in native routing, `cilium_host`'s in tunnel mode.
    fn snat_source(&self) -> IpAddr {
        match self.config.routing_mode {
            RoutingMode::Native => self.net.node_ip,
            RoutingMode::Tunnel => cilium_host_ip(self.net),
        }
    }

    /// `nodeport_extract_dsr_v4` → `nodeport_dsr_ingress_ipv4`: a DSR request reached the
    /// backend's node; its replies are to leave as the service.
    fn dsr_ingress(&self, header: Header, service: SockAddr, mut w: Walk) -> Decision {
        let option = match self.config.dsr_dispatch {
            crate::cluster::DsrDispatch::Opt => "the IPv4 option 0x9a",
            crate::cluster::DsrDispatch::Geneve => "the Geneve option",
        };
        w.push(Step::new("nodeport_extract_dsr_v4", format!("{option} carries {service}")));
        w.push(Step::new(
            "nodeport_dsr_ingress_ipv4",
            format!(
                "CT {} OUT {} -> {} [ DSRInternal ]; snat_v4_create_dsr: cilium_snat_v4_external {} OUT {} -> {} XLATE_SRC {service}",
                header.proto, header.src, header.dst, header.proto, header.dst, header.src
            ),
        ));
        let delivery = if self.net.is_local(header.dst.ip) { Delivery::Local } else { Delivery::Forward };
        let mut d = accept(header, header, None, None, w, Some(Dsr::Ingress { service }));
        d.delivery = delivery;
        d
    }

    /// A pod's (or, without socket-LB, the host's) packet: balanced at its interface.
    fn east_west(&self, origin: Origin, header: Header, picker: &mut dyn Picker) -> Decision {
        if !self.balances_per_packet(origin) {
            // socket-LB translated the connect() already: the packet needs nothing more.
            return self.pass(header);
        }
        let Some(fe) = self.maps.lookup_east_west(header.dst, header.proto) else { return self.pass(header) };
        let entry = if origin == Origin::Host { "cil_from_host" } else { "cil_from_container" };
        let from = if origin == Origin::Host { "from-host" } else { "from-endpoint" };
        let mut w = Walk::new(header.family(), Some(Step::plumbing(entry, from)));
        w.push(Step::new(
            "__per_packet_lb_svc_xlate_4",
            format!("cilium_lb4_services_v2 {} (0) [{}]: {}", fe.key(), fe.flags(), count(fe)),
        ));
        let Some(backend) = self.select(fe, header, false, picker, &mut w) else {
            return self.no_backend(header, w);
        };
        let mut after = Header { dst: backend.addr, ..header };
        let mut snat = None;
        if backend.addr.ip == header.src.ip {
            // The pod reaches itself through the Service: hairpin SNAT.
            let (loopback, what) = service_loopback(header.src.ip);
            after.src.ip = loopback;
            snat = Some(loopback);
            w.push(Step::new("lb4_local", format!("the backend is the client itself: SNAT to {loopback} ({what})")));
        }
        accept(header, after, Some(backend.addr), snat, w, None)
    }

    /// socket-LB: a process in the cluster connects to `dst`.
    pub fn connect(
        &self,
        from_pod: bool,
        src: SockAddr,
        dst: SockAddr,
        proto: Protocol,
        picker: &mut dyn Picker,
    ) -> Option<Connect> {
        if !self.config.socket_lb || (from_pod && self.config.socket_lb_host_namespace_only) {
            return None;
        }
        let fe = self.sock_frontend(dst, proto)?;
        let hook = if proto == Protocol::Tcp { "cil_sock4_connect" } else { "cil_sock4_sendmsg" };
        let mut w = Walk::new(dst.family(), None);
        w.push(Step::new(
            hook,
            format!(
                "pre-xlate-fwd {dst} {proto}: cilium_lb4_services_v2 {} (0) [{}]: {}",
                fe.key(),
                fe.flags(),
                count(fe)
            ),
        ));
        let header = Header::new(proto, src, dst);
        let Some(backend) = self.select(fe, header, false, picker, &mut w) else {
            let reason = format!("connect() fails with EHOSTUNREACH: {} has no backend", fe.key());
            w.push(Step::new(hook, "svc->count == 0").ends(reason));
            return Some(Connect { to: Err(Cause::Rule), path: RulePath::new(w.steps) });
        };
        w.push(Step::new(
            hook,
            format!("post-xlate-fwd {} {proto}; cilium_lb4_reverse_sk remembers {dst} for getpeername()", backend.addr),
        ));
        Some(Connect { to: Ok(backend.addr), path: RulePath::new(w.steps) })
    }

    /// The frontend socket-LB translates a `connect()` to `dst` through: the exact entry (its
    /// internal twin for a two-scope Service), else for a NodePort on a node's or a loopback
    /// address the `0.0.0.0:<nodePort>` wildcard. External IPs that are not this host's are
    /// left alone (the CVE-2020-8554 mitigation).
    pub fn sock_frontend(&self, dst: SockAddr, proto: Protocol) -> Option<&Frontend> {
        let fe = self.maps.lookup_east_west(dst, proto).or_else(|| {
            let (lo, hi) = self.node_port_range;
            let node_address = dst.ip.is_loopback() || self.node_ips.contains(&dst.ip);
            (node_address && (lo..=hi).contains(&dst.port))
                .then(|| self.maps.lookup_wildcard(dst.port, proto, dst.family()))
                .flatten()
        })?;
        (fe.kind != FrontendKind::ExternalIPs || self.net.is_local(dst.ip)).then_some(fe)
    }

    /// `lb4_local`: the backend for a new connection through `fe` — the client's affinity entry,
    /// else Maglev's table (north-south only), else a random slot.
    fn select(
        &self,
        fe: &Frontend,
        header: Header,
        north_south: bool,
        picker: &mut dyn Picker,
        w: &mut Walk,
    ) -> Option<&Backend> {
        if fe.backends.is_empty() {
            return None;
        }
        let n = fe.backends.len() as u32;
        let client = header.src.ip;
        if fe.affinity.is_some()
            && let Some(id) = picker.affinity(fe.id, client).filter(|id| fe.backends.contains(id))
        {
            let b = self.maps.backend(id);
            w.push(Step::new(
                "lb4_local",
                format!("cilium_lb4_affinity {client} (rev-NAT {}) → backend {} {b}", fe.id, id.0),
            ));
            return Some(b);
        }
        let (id, how) = match (&fe.maglev, north_south) {
            (Some(table), true) => {
                let size = table.len() as u32;
                let slot =
                    maglev::slot(header.src, header.dst.port, header.proto, fe.affinity.is_some(), self.seeds, size);
                (table[slot as usize], format!("maglev: cilium_lb4_maglev[{}][{slot}]", fe.id))
            }
            _ => {
                let slot = picker.slot(n);
                (fe.backends[slot as usize], format!("random: slot {} of {n}", slot + 1))
            }
        };
        if fe.affinity.is_some() {
            picker.remember(fe.id, client, id);
        }
        let b = self.maps.backend(id);
        w.push(Step::new("lb4_local", format!("{how} → backend {} {b} (CT SVC entry, rev-NAT {})", id.0, fe.id)));
        Some(b)
    }

    /// `DROP_NO_SERVICE`: the frontend has no backend. Refused with ICMP port unreachable
    /// (`serviceNoBackendResponse: reject`, the default), or dropped.
    fn no_backend(&self, header: Header, mut w: Walk) -> Decision {
        if self.config.no_backend_reject {
            w.push(
                Step::new("tail_no_service_ipv4", "no backend: ICMP port unreachable back to the client")
                    .ends("Service backend not found"),
            );
        } else {
            w.push(Step::new("lb4_local", "no backend: DROP_NO_SERVICE").ends("Service backend not found"));
        }
        drop(header, w, self.config.no_backend_reject)
    }

    /// Not a service: the packet goes on as it came, to the host or routed on.
    fn pass(&self, header: Header) -> Decision {
        let delivery = if self.net.is_local(header.dst.ip) { Delivery::Local } else { Delivery::Forward };
        Decision {
            before: header,
            after: header,
            verdict: Verdict::Accept,
            delivery,
            dnat: None,
            snat: None,
            marked: false,
            path: RulePath::default(),
            dsr: None,
        }
    }
}

/// `cilium_host`'s address in tunnel mode: the router address the agent takes from the node's
/// pod range (svcsim: its first address).
pub fn cilium_host_ip(net: &NodeNet) -> IpAddr {
    net.pod_cidr.nth(1).unwrap_or(net.node_ip)
}

/// `2 backends, rev-NAT 3`.
fn count(fe: &Frontend) -> String {
    let n = fe.backends.len();
    format!("{n} backend{}, rev-NAT {}", if n == 1 { "" } else { "s" }, fe.id)
}

fn accept(
    before: Header,
    after: Header,
    dnat: Option<SockAddr>,
    snat: Option<IpAddr>,
    w: Walk,
    dsr: Option<Dsr>,
) -> Decision {
    Decision {
        before,
        after,
        verdict: Verdict::Accept,
        delivery: Delivery::Forward,
        dnat,
        snat,
        marked: snat.is_some(),
        path: RulePath::new(w.steps),
        dsr,
    }
}

fn drop(header: Header, w: Walk, reject: bool) -> Decision {
    Decision {
        before: header,
        after: header,
        verdict: if reject { Verdict::Reject(Cause::Rule) } else { Verdict::Drop(Cause::Rule) },
        delivery: Delivery::Forward,
        dnat: None,
        snat: None,
        marked: false,
        path: RulePath::new(w.steps),
        dsr: None,
    }
}
