//! The node's rule tools for each of kube-proxy's modes and each IP family: how a lab loads a
//! node's rules, lists them back, applies a sync's input over them, and follows a packet through
//! them. Pure.

use svcsim_core::cluster::ProxyMode;
use svcsim_core::net::IpFamily;

use crate::setup::Cmd;

/// The tools of one proxy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool(pub ProxyMode);

impl Tool {
    /// Loads `rules` (what `svcsim rules --family` prints for `family`) into an empty namespace.
    pub fn load(self, family: IpFamily, ns: &str, rules: String) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, restore(family), &[]),
            ProxyMode::Nftables => Cmd::exec(ns, "nft", &["-f", "-"]),
        }
        .with_stdin(rules)
    }
    /// Applies a sync's input (`svcsim rules --format restore`) of `family` over what is loaded.
    pub fn apply(self, family: IpFamily, ns: &str, input: String) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, restore(family), &["--noflush", "--counters"]),
            ProxyMode::Nftables => Cmd::exec(ns, "nft", &["-f", "-"]),
        }
        .with_stdin(input)
    }
    /// Lists `family`'s rules as the node's own tool does.
    pub fn list(self, family: IpFamily, ns: &str) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, save(family), &[]),
            ProxyMode::Nftables => Cmd::exec(ns, "nft", &["list", "table", nft_family(family), "kube-proxy"]),
        }
    }
    /// The listing command's name, for reports.
    pub fn lister(self, family: IpFamily) -> &'static str {
        match (self.0, family) {
            (ProxyMode::Iptables, _) => save(family),
            (ProxyMode::Nftables, IpFamily::Ipv4) => "nft list table",
            (ProxyMode::Nftables, IpFamily::Ipv6) => "nft list table ip6",
        }
    }
    /// The loader's name, for reports.
    pub fn loader(self, family: IpFamily) -> &'static str {
        match (self.0, family) {
            (ProxyMode::Iptables, IpFamily::Ipv4) => "iptables-restore input",
            (ProxyMode::Iptables, IpFamily::Ipv6) => "ip6tables-restore input",
            (ProxyMode::Nftables, IpFamily::Ipv4) => "nft transaction",
            (ProxyMode::Nftables, IpFamily::Ipv6) => "nft transaction (ip6)",
        }
    }
    /// A listing without what changes with time and traffic: iptables-save's dated comments and
    /// chain counters (nft's listing has neither).
    pub fn normalized(self, text: &str) -> String {
        if self.0 == ProxyMode::Nftables {
            return text.to_string();
        }
        let mut out = String::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            match (line.starts_with(':'), line.rfind(" [")) {
                (true, Some(at)) => out.push_str(&format!("{} [0:0]\n", &line[..at])),
                _ => out.push_str(&format!("{line}\n")),
            }
        }
        out
    }
    /// The trace monitor of `family`'s packets (every family's when `None`): `xtables-monitor
    /// --trace` for iptables rules (`-4` for IPv4's alone), `nft monitor trace` for nftables ones
    /// (both follow the raw table's `-j TRACE`, which sets `meta nftrace`). IPv6's in iptables
    /// mode is `nft -a monitor trace`: xtables-monitor 1.8.9 exits on an ip6tables `-m tcp`
    /// match, and the rule handles let [`crate::trace`] find each rule in ip6tables-save's text.
    pub fn monitor(self, ns: &str, family: Option<IpFamily>) -> Cmd {
        match (self.0, family) {
            (ProxyMode::Iptables, None) => Cmd::exec(ns, "stdbuf", &["-oL", "xtables-monitor", "--trace"]),
            (ProxyMode::Iptables, Some(IpFamily::Ipv4)) => {
                Cmd::exec(ns, "stdbuf", &["-oL", "xtables-monitor", "--trace", "-4"])
            }
            (ProxyMode::Iptables, Some(IpFamily::Ipv6)) => {
                Cmd::exec(ns, "stdbuf", &["-oL", "nft", "-a", "monitor", "trace"])
            }
            (ProxyMode::Nftables, _) => Cmd::exec(ns, "stdbuf", &["-oL", "nft", "monitor", "trace"]),
        }
    }
}

/// `iptables-restore` or `ip6tables-restore`.
pub fn restore(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "iptables-restore",
        IpFamily::Ipv6 => "ip6tables-restore",
    }
}

/// `iptables-save` or `ip6tables-save`.
pub fn save(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "iptables-save",
        IpFamily::Ipv6 => "ip6tables-save",
    }
}

/// nft's name of the family: `ip` or `ip6`.
fn nft_family(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ip",
        IpFamily::Ipv6 => "ip6",
    }
}
