//! The YAML editor's state: its text and errors, and the trace form for a pasted node dump
//! (`iptables-save`, `nft list ruleset`); and dropped files joined into one YAML stream.

use svcsim_core::dump::{DumpedRuleset, Facts, Report};
use svcsim_core::net::{Header, Protocol, SockAddr};

/// The YAML editor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Editor {
    pub open: bool,
    pub text: String,
    /// The last attempt's problems, `LINE:COL: error: …`.
    pub errors: Vec<String>,
    /// The editor holds a node's dump (`iptables-save`, `nft list ruleset`): the packet to trace
    /// through it, and the last answer.
    pub trace: Option<Trace>,
}

/// A packet typed to trace through a pasted dump, as `svcsim trace` takes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub src: String,
    pub dst: String,
    /// The node's own addresses, comma-separated.
    pub node_ips: String,
    pub in_interface: String,
    pub out_interface: String,
    pub protocol: Protocol,
    /// The last trace, or why the packet typed could not be traced.
    pub report: Option<Result<Report, String>>,
    /// Bumped by every change, so the editor's view is redrawn only when the trace changed.
    pub revision: u32,
}

/// One field of the trace form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceField {
    Src,
    Dst,
    NodeIps,
    InInterface,
    OutInterface,
}

impl Trace {
    /// Traces the packet typed through `dump`.
    pub(crate) fn run(&mut self, dump: &str) {
        self.report = Some(self.report_for(dump));
    }

    fn report_for(&self, dump: &str) -> Result<Report, String> {
        let sock = |what: &str, s: &str, default_port: Option<u16>| -> Result<SockAddr, String> {
            let s = s.trim();
            if let Ok(a) = s.parse::<std::net::SocketAddrV4>() {
                return Ok(a.into());
            }
            match (s.parse::<std::net::Ipv4Addr>(), default_port) {
                (Ok(ip), Some(port)) => Ok(SockAddr::new(ip, port)),
                _ => Err(format!(
                    "{what}: {s:?} is not {}",
                    if default_port.is_some() { "an IPv4 address or IP:PORT" } else { "IP:PORT" }
                )),
            }
        };
        let src = sock("source", &self.src, Some(40000))?;
        let dst = sock("destination", &self.dst, None)?;
        let mut node_ips = Vec::new();
        for ip in self.node_ips.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            node_ips
                .push(ip.parse::<std::net::IpAddr>().map_err(|_| format!("node IPs: {ip:?} is not an IP address"))?);
        }
        let iface = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let facts = Facts {
            node_ips: (!node_ips.is_empty()).then_some(node_ips),
            in_interface: iface(&self.in_interface),
            out_interface: iface(&self.out_interface),
            ipsets: None,
        };
        let dump = DumpedRuleset::parse(dump, facts).map_err(|e| format!("the dump: {}", e[0]))?;
        Ok(dump.report(Header::new(self.protocol, src, dst)))
    }
}

/// Dropped files as one YAML stream, in the order dropped: each after a `# file: NAME` comment
/// and a `---`, so a line in an error points into the file it came from. JSON is YAML, so a
/// `kubectl get -o json` dump joins like the rest. Files that could not be read are left out
/// and named.
pub fn join_files(files: &[(String, Result<String, String>)]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut problems = Vec::new();
    for (name, read) in files {
        match read {
            Ok(body) => {
                text.push_str(&format!("---\n# file: {name}\n{body}"));
                if !body.ends_with('\n') {
                    text.push('\n');
                }
            }
            Err(why) => problems.push(format!("{name} was not read: {why}")),
        }
    }
    (text, problems)
}
