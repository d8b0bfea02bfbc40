//! The kernel's own account of a packet's walk: `-j TRACE` rules in the raw table and
//! `xtables-monitor --trace` listening in a node's namespace, parsed into the rules each first
//! packet matched. Both families alike: the same rules go into ip6tables' raw table, and an
//! IPv6 packet (which has no IP ID) is followed to a new buffer by its source port alone.
//!
//! `xtables-monitor` 1.8.9 cannot print an ip6tables rule with a `-m tcp`/`-m udp` match (it
//! fails with "unsupported layer 4 protocol value" and exits), so in iptables mode the IPv6
//! side is followed with `nft -a monitor trace`, each rule it names found again by its handle
//! in `ip6tables-save`'s listing ([`XtRules`]), while `xtables-monitor --trace -4` follows IPv4.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use svcsim_core::cluster::ProxyMode;
use svcsim_core::net::IpFamily;

use crate::setup::Cmd;

/// The source ports whose SYNs are traced; connections meant to be traced use them, bulk
/// connections (for the endpoint set) use others and leave no trace to lose.
pub const TRACED_PORTS: (u16, u16) = (40000, 44999);

/// The raw-table rules that mark traced SYNs and datagrams, routed and host-originated alike, for
/// `iptables-restore` or `ip6tables-restore`. A case sends one datagram per traced port, so
/// every UDP packet from those ports is a first.
pub fn trace_rules() -> String {
    let (lo, hi) = TRACED_PORTS;
    let tcp = format!("-p tcp -m tcp --sport {lo}:{hi} --tcp-flags SYN,ACK SYN -j TRACE");
    let udp = format!("-p udp -m udp --sport {lo}:{hi} -j TRACE");
    let mut out = String::from("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for m in [tcp, udp] {
        out.push_str(&format!("-A PREROUTING {m}\n-A OUTPUT {m}\n"));
    }
    out.push_str("COMMIT\n");
    out
}

/// How long a monitor may take to subscribe to the kernel's trace events.
pub const SUBSCRIBE: std::time::Duration = std::time::Duration::from_millis(300);

/// One rule a traced packet matched: `table`, `chain`, and the rule as iptables-save prints it
/// (without `-A <chain>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub table: String,
    pub chain: String,
    /// `ACCEPT`, `DROP`, `JUMP`, `CONTINUE`, `RETURN`, …
    pub verdict: String,
    /// The chain a JUMP went to.
    pub target: Option<String>,
    pub rule: String,
}

/// Every traced packet of one namespace so far, in the order they arrived: the (source address,
/// source port) of its first sighting and the rules it matched, in order.
#[derive(Debug, Default)]
pub struct Traces {
    /// For `nft -a monitor trace` over ip6tables' rules: each rule as ip6tables-save prints it,
    /// by table and handle; events of other families are left out.
    xt: Option<XtRules>,
    packets: Vec<Packet>,
    /// The monitor's packet id → index into `packets`. Ids are reused once a packet is gone; a
    /// packet's trace always starts with the raw table's TRACE rule, which starts a new entry.
    by_id: BTreeMap<String, usize>,
    /// What each id's latest PACKET line said.
    last_seen: BTreeMap<String, Header>,
}

/// One traced packet.
#[derive(Debug)]
struct Packet {
    /// Its source address and port when first seen.
    key: (IpAddr, u16),
    /// Its source port and IP ID: they stay the same when the kernel moves the packet to a new
    /// buffer (a bridged packet that is then routed), which gives it a new trace id.
    ident: (u16, u16),
    /// It met the TRACE rule in OUTPUT (a host's own packet) and has not yet come back in.
    from_host: bool,
    hits: Vec<Hit>,
}

/// The fields of a PACKET line the traces are keyed by.
#[derive(Debug, Clone, Copy)]
struct Header {
    src: IpAddr,
    sport: u16,
    ip_id: u16,
}

impl Traces {
    /// Takes one line of `xtables-monitor --trace` or `nft monitor trace` output.
    pub fn line(&mut self, line: &str) {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("trace id ") {
            self.nft_line(rest);
        } else if let Some(rest) = line.strip_prefix("PACKET: ") {
            let mut words = rest.split_whitespace();
            let (_, Some(id)) = (words.next(), words.next()) else { return };
            let field = |name: &str| rest.split_whitespace().find_map(|w| w.strip_prefix(name));
            let (Some(src), Some(sport)) = (field("SRC="), field("SPORT=")) else { return };
            let (Ok(src), Ok(sport)) = (src.parse(), sport.parse()) else { return };
            let ip_id = field("ID=").and_then(|i| i.parse().ok()).unwrap_or(0);
            self.last_seen.insert(id.to_string(), Header { src, sport, ip_id });
            if !self.by_id.contains_key(id) {
                // A packet that moved to a new buffer carries on under a new id.
                let earlier = self.packets.iter().rposition(|p| p.ident == (sport, ip_id));
                if let Some(at) = earlier {
                    self.by_id.insert(id.to_string(), at);
                }
            }
        } else if let Some(rest) = line.strip_prefix("TRACE: ") {
            let mut words = rest.splitn(3, ' ');
            let (_, Some(id), Some(event)) = (words.next(), words.next(), words.next()) else { return };
            let Some(hit) = parse_event(event) else { return };
            self.hit(id, hit);
        }
    }

    /// `nft monitor trace`: `<id> ip <table> <chain> packet: … ip saddr A … ip id N … tcp sport P`
    /// (`ip6 saddr A`, and no IP ID, for IPv6) and `<id> ip <table> <chain> rule <rule> (verdict
    /// <v> [<chain>])`.
    fn nft_line(&mut self, rest: &str) {
        let mut words = rest.splitn(5, ' ');
        let (Some(id), Some(family), Some(table), Some(chain), Some(event)) =
            (words.next(), words.next(), words.next(), words.next(), words.next())
        else {
            return;
        };
        if let Some(fields) = event.strip_prefix("packet: ") {
            let field = |name: &str| fields.split(name).nth(1).and_then(|r| r.split_whitespace().next());
            let sport = field("tcp sport ").or_else(|| field("udp sport "));
            let src = field("ip saddr ").or_else(|| field("ip6 saddr "));
            let (Some(src), Some(sport)) = (src, sport) else { return };
            let (Ok(src), Ok(sport)) = (src.parse(), sport.parse()) else { return };
            let ip_id = field("ip id ").and_then(|i| i.parse().ok()).unwrap_or(0);
            self.last_seen.insert(id.to_string(), Header { src, sport, ip_id });
            if !self.by_id.contains_key(id)
                && let Some(at) = self.packets.iter().rposition(|p| p.ident == (sport, ip_id))
            {
                self.by_id.insert(id.to_string(), at);
            }
        } else if let Some(text) = event.strip_prefix("rule ") {
            let Some((rule, verdict)) = text.rsplit_once(" (verdict ") else { return };
            let mut v = verdict.trim_end_matches(')').split_whitespace();
            let verdict = v.next().unwrap_or_default().to_uppercase();
            let target = v.next().map(str::to_string);
            let (table, rule) = match &self.xt {
                Some(_) if family != "ip6" => return,
                Some(xt) if table != "raw" => xt_rule(xt, table, chain, rule),
                _ if table == "raw" => ("raw".to_string(), rule.to_string()),
                _ => (format!("{family} {table}"), rule.to_string()),
            };
            self.hit(id, Hit { table, chain: chain.to_string(), verdict, target, rule });
        }
    }

    /// One rule a packet matched: the raw table's trace rule starts a packet, the rest are its
    /// hits.
    fn hit(&mut self, id: &str, hit: Hit) {
        if hit.table == "raw" {
            let Some(h) = self.last_seen.get(id).copied() else { return };
            // A host's packet to itself meets the TRACE rule twice: in OUTPUT, and again in
            // PREROUTING when it comes back in over lo. It is still the same packet. (A SYN sent
            // again under the same trace id is not: IPv6 has no IP ID to tell them apart.)
            let current = self.by_id.get(id).copied();
            let back_in = current.filter(|&at| {
                let p = &self.packets[at];
                p.ident == (h.sport, h.ip_id) && p.from_host && hit.chain == "PREROUTING"
            });
            if let Some(at) = back_in {
                self.packets[at].from_host = false;
                return;
            }
            self.by_id.insert(id.to_string(), self.packets.len());
            let from_host = hit.chain == "OUTPUT";
            let (key, ident) = ((h.src, h.sport), (h.sport, h.ip_id));
            self.packets.push(Packet { key, ident, from_host, hits: Vec::new() });
        } else if let Some(&at) = self.by_id.get(id) {
            self.packets[at].hits.push(hit);
        }
    }
    /// The rules the first traced SYN from `src:sport` matched, outside the raw table.
    pub fn of(&self, src: IpAddr, sport: u16) -> Option<Vec<Hit>> {
        self.packets.iter().find(|p| p.key == (src, sport)).map(|p| p.hits.clone())
    }
}

/// ip6tables' rules by nft handle: (table, handle) → (chain, the rule as ip6tables-save prints
/// it, without `-A <chain>`).
pub type XtRules = BTreeMap<(String, u64), (String, String)>;

/// The table and ip6tables-save text of the rule `nft -a monitor trace` printed as `rule` (ending
/// `# handle N`) in `table`; nft's own text when the handle is not known.
fn xt_rule(xt: &XtRules, table: &str, chain: &str, rule: &str) -> (String, String) {
    let handle = rule.rsplit_once("# handle ").and_then(|(_, h)| h.trim().parse::<u64>().ok());
    let found = handle.and_then(|h| xt.get(&(table.to_string(), h))).filter(|(c, _)| c == chain);
    (table.to_string(), found.map_or_else(|| rule.to_string(), |(_, r)| r.clone()))
}

/// Pairs `nft -a list table ip6 <table>`'s rules with `ip6tables-save -t <table>`'s, chain by
/// chain in order (both list a chain's rules in the kernel's order). A chain whose two listings
/// have different lengths is left out.
pub fn pair_handles(table: &str, nft_listing: &str, save: &str) -> XtRules {
    let mut nft: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut chain = None;
    for line in nft_listing.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().map(str::to_string);
        } else if let (Some(c), Some((_, h))) = (&chain, line.rsplit_once("# handle "))
            && let Ok(h) = h.trim().parse()
        {
            nft.entry(c.clone()).or_default().push(h);
        }
    }
    let mut saved: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in save.lines() {
        let Some(rest) = line.strip_prefix("-A ") else { continue };
        let Some((c, rule)) = rest.split_once(' ') else { continue };
        saved.entry(c.to_string()).or_default().push(rule.to_string());
    }
    let mut out = XtRules::new();
    for (c, handles) in nft {
        let Some(rules) = saved.get(&c).filter(|r| r.len() == handles.len()) else { continue };
        for (h, rule) in handles.into_iter().zip(rules) {
            out.insert((table.to_string(), h), (c.clone(), rule.clone()));
        }
    }
    out
}

/// The ip6tables rules loaded in `ns`, by handle, for every table that exists there.
pub fn xt_rules(ns: &str) -> XtRules {
    let mut out = XtRules::new();
    for table in ["raw", "mangle", "nat", "filter"] {
        let listing = crate::host::run(&Cmd::exec(ns, "nft", &["-a", "list", "table", "ip6", table]));
        let save = crate::host::run(&Cmd::exec(ns, "ip6tables-save", &["-t", table]));
        if let (Ok(listing), Ok(save)) = (listing, save) {
            out.extend(pair_handles(table, &listing, &save));
        }
    }
    out
}

/// `nat:KUBE-SERVICES:rule:0x12:JUMP:KUBE-SVC-X  -4 -t nat -A KUBE-SERVICES -d …` → a hit;
/// policy and return events are not rules and give `None`.
fn parse_event(event: &str) -> Option<Hit> {
    let (head, text) = event.split_once("  ").unwrap_or((event, ""));
    let mut parts = head.split(':');
    let (table, chain, kind) = (parts.next()?, parts.next()?, parts.next()?);
    if kind != "rule" {
        return None;
    }
    let verdict = parts.nth(1)?.to_string();
    let target = parts.next().map(str::to_string);
    let prefix = format!("-A {chain} ");
    let rule = text.trim().split_once(&prefix).map(|(_, r)| r.to_string())?;
    Some(Hit { table: table.to_string(), chain: chain.to_string(), verdict, target, rule })
}

/// A trace monitor running in a namespace, its output collected as it comes.
pub struct Monitor {
    child: Child,
    traces: Arc<Mutex<Traces>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts the monitor of `family`'s packets in `ns` (of every family's when `None`); events
    /// are kept from the moment it has subscribed, which takes up to [`SUBSCRIBE`]. In iptables
    /// mode, IPv6's is `nft -a monitor trace`, read through the ip6tables rules loaded now.
    pub fn start(tool: crate::tool::Tool, ns: &str, family: Option<IpFamily>) -> Result<Monitor> {
        let xt = (tool.0 == ProxyMode::Iptables && family == Some(IpFamily::Ipv6)).then(|| xt_rules(ns));
        let traces = Traces { xt, ..Traces::default() };
        // Line-buffered: into a pipe, stdio would hold the last events back until more came.
        let cmd = tool.monitor(ns, family);
        let mut child = Command::new(cmd.program)
            .args(&cmd.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting the trace monitor in {ns}"))?;
        let out = child.stdout.take().context("the trace monitor's output")?;
        let traces = Arc::new(Mutex::new(traces));
        let sink = Arc::clone(&traces);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(mut t) = sink.lock() {
                    t.line(&line);
                }
            }
        });
        Ok(Monitor { child, traces, reader: Some(reader) })
    }
    /// The rules the first traced SYN from `src:sport` matched, if the monitor saw it.
    pub fn hits(&self, src: IpAddr, sport: u16) -> Option<Vec<Hit>> {
        self.traces.lock().ok()?.of(src, sport)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_become_hits_per_packet() {
        let mut t = Traces::default();
        for line in [
            "PACKET: 2 bd96ef5b IN=eth0 MACSRC=22:2d:b:cb:d6:40 SRC=10.9.0.2 DST=10.9.0.1 LEN=60 TTL=64 DF SPORT=40001 DPORT=80 SYN ",
            " TRACE: 2 bd96ef5b raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m tcp --dport 80 -j TRACE",
            " TRACE: 2 bd96ef5b raw:PREROUTING:policy:ACCEPT ",
            "PACKET: 2 bd96ef5b IN=eth0 SRC=10.9.0.2 DST=10.9.0.1 SPORT=40001 DPORT=80 SYN ",
            r#" TRACE: 2 bd96ef5b nat:PREROUTING:rule:0x3:JUMP:KUBE-TEST  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-TEST"#,
            " TRACE: 2 bd96ef5b nat:KUBE-TEST:rule:0x4:ACCEPT  -4 -t nat -A KUBE-TEST -d 10.9.0.1/32 -p tcp -j DNAT --to-destination 10.9.0.1:8080",
        ] {
            t.line(line);
        }
        let hits = t.of("10.9.0.2".parse().unwrap(), 40001).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].rule, r#"-m comment --comment "kubernetes service portals" -j KUBE-TEST"#);
        assert_eq!(
            (hits[1].table.as_str(), hits[1].chain.as_str(), hits[1].verdict.as_str()),
            ("nat", "KUBE-TEST", "ACCEPT")
        );
        assert!(t.of("10.9.0.2".parse().unwrap(), 40002).is_none());
    }

    #[test]
    fn nft_trace_lines_of_ip6tables_rules_read_as_ip6tables_save_prints_them() {
        let listing = "table ip6 nat { # handle 3\n\tchain PREROUTING { # handle 1\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tcounter packets 0 bytes 0 jump KUBE-SERVICES # handle 12\n\t}\n\tchain KUBE-SERVICES { # handle 5\n\t\tip6 daddr fd00::10 meta l4proto tcp tcp dport 80 counter packets 0 bytes 0 jump KUBE-SVC-X # handle 20\n\t}\n}\n";
        let save = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A KUBE-SERVICES -d fd00::10/128 -p tcp -m tcp --dport 80 -j KUBE-SVC-X\nCOMMIT\n";
        let mut t = Traces { xt: Some(pair_handles("nat", listing, save)), ..Traces::default() };
        for line in [
            "trace id 44e7c0d8 ip6 raw PREROUTING packet: iif \"eth0\" ip6 saddr 2001:db8::79 ip6 daddr fd00::10 ip6 hoplimit 64 tcp sport 40001 tcp dport 80 tcp flags == syn",
            "trace id 44e7c0d8 ip6 raw PREROUTING rule meta l4proto tcp counter packets 1 bytes 80 meta nftrace set 1 # handle 7 (verdict continue)",
            "trace id 44e7c0d8 ip6 nat PREROUTING packet: iif \"eth0\" ip6 saddr 2001:db8::79 ip6 daddr fd00::10 tcp sport 40001 tcp dport 80",
            "trace id 44e7c0d8 ip6 nat PREROUTING rule  counter packets 5 bytes 400 jump KUBE-SERVICES # handle 12 (verdict jump KUBE-SERVICES)",
            "trace id 44e7c0d8 ip6 nat KUBE-SERVICES rule ip6 daddr fd00::10 meta l4proto tcp tcp dport 80 counter packets 1 bytes 80 jump KUBE-SVC-X # handle 20 (verdict jump KUBE-SVC-X)",
            "trace id 9 ip nat PREROUTING rule  counter packets 5 bytes 400 jump KUBE-SERVICES # handle 12 (verdict jump KUBE-SERVICES)",
        ] {
            t.line(line);
        }
        let hits = t.of("2001:db8::79".parse().unwrap(), 40001).unwrap();
        let listed: Vec<String> =
            hits.iter().map(|h| format!("{} {} {} {}", h.table, h.chain, h.verdict, h.rule)).collect();
        assert_eq!(
            listed,
            [
                r#"nat PREROUTING JUMP -m comment --comment "kubernetes service portals" -j KUBE-SERVICES"#,
                "nat KUBE-SERVICES JUMP -d fd00::10/128 -p tcp -m tcp --dport 80 -j KUBE-SVC-X"
            ]
        );
    }
}
