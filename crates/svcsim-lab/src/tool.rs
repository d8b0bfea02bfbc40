//! The node's rule tools for each of kube-proxy's modes: how a lab loads a node's rules, lists
//! them back, applies a sync's input over them, and follows a packet through them. Pure.

use svcsim_core::cluster::ProxyMode;

use crate::setup::Cmd;

/// The tools of one proxy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool(pub ProxyMode);

impl Tool {
    /// Loads `rules` (what `svcsim rules` prints) into an empty namespace.
    pub fn load(self, ns: &str, rules: String) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, "iptables-restore", &[]),
            ProxyMode::Nftables => Cmd::exec(ns, "nft", &["-f", "-"]),
        }
        .with_stdin(rules)
    }
    /// Applies a sync's input (`svcsim rules --format restore`) over what is loaded.
    pub fn apply(self, ns: &str, input: String) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, "iptables-restore", &["--noflush", "--counters"]),
            ProxyMode::Nftables => Cmd::exec(ns, "nft", &["-f", "-"]),
        }
        .with_stdin(input)
    }
    /// Lists the rules as the node's own tool does.
    pub fn list(self, ns: &str) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, "iptables-save", &[]),
            ProxyMode::Nftables => Cmd::exec(ns, "nft", &["list", "table", "ip", "kube-proxy"]),
        }
    }
    /// The listing command's name, for reports.
    pub fn lister(self) -> &'static str {
        match self.0 {
            ProxyMode::Iptables => "iptables-save",
            ProxyMode::Nftables => "nft list table",
        }
    }
    /// The loader's name, for reports.
    pub fn loader(self) -> &'static str {
        match self.0 {
            ProxyMode::Iptables => "iptables-restore input",
            ProxyMode::Nftables => "nft transaction",
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
    /// The trace monitor: `xtables-monitor --trace` for iptables rules, `nft monitor trace` for
    /// nftables ones (both follow the raw table's `-j TRACE`, which sets `meta nftrace`).
    pub fn monitor(self, ns: &str) -> Cmd {
        match self.0 {
            ProxyMode::Iptables => Cmd::exec(ns, "stdbuf", &["-oL", "xtables-monitor", "--trace"]),
            ProxyMode::Nftables => Cmd::exec(ns, "stdbuf", &["-oL", "nft", "monitor", "trace"]),
        }
    }
}
