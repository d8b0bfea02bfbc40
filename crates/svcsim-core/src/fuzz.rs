//! Fuzzing entry points: each takes arbitrary bytes, must never panic or hang, and asserts the
//! contracts a user relies on.
//!
//! `fuzz/` drives them with cargo-fuzz (libFuzzer, nightly); `tests/it/fuzz_regressions.rs` replays
//! the kept corpus and every crash ever found through the same functions on stable, in CI. They
//! live in the crate, not in `fuzz/`, so the regression tests and the fuzzer run the same code.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use crate::dataplane::{Delivery, NodeNet, Origin, Verdict};
use crate::kube_proxy::{self as eval, ChainName, Chooser, CtStates, Match, Rule, Ruleset, Table, Target, chains};
use crate::manifest::{self, Overrides, Severity};
use crate::net::{Header, IpCidr, Protocol, SockAddr};
use crate::sim::Sim;
use crate::time::{Duration, Instant};

/// The scenario edge: any text through [`manifest::load`] (which validates), then a short run of
/// what loaded.
///
/// Contracts: a rejected file has at least one error, and every located problem points inside
/// the text; a file that loads runs, deterministically, and every request it sent is accounted
/// for with an outcome.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = match manifest::load(text, &Overrides::default()) {
        Ok(loaded) => loaded,
        Err(diags) => {
            assert!(diags.iter().any(|d| d.severity == Severity::Error), "rejected without an error: {diags:?}");
            // YAML breaks lines at CR LF, LF and a lone CR (as most editors do).
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
            for d in &diags {
                if let Some(pos) = d.pos {
                    assert!(pos.line >= 1 && pos.line <= lines, "{d} points outside a {lines}-line text");
                }
            }
            return;
        }
    };
    let mut scenario = loaded.scenario;
    // Big clusters are the benchmarks' business; the fuzzer wants many small runs.
    if scenario.cluster.nodes.len() > 16 || scenario.cluster.deployments.iter().map(|d| d.replicas).sum::<u32>() > 64 {
        return;
    }
    scenario.duration = scenario.duration.min(Duration::from_secs(3));
    let until = Instant::ZERO + scenario.duration;
    let first = Sim::new(scenario.clone()).run_until(until).trace_text();
    let mut sim = Sim::new(scenario);
    let run = sim.run_until(until);
    assert_eq!(first, run.trace_text(), "the same scenario gave two different traces");
}

/// The packet evaluator on random rule sets: the bytes choose the chains, rules, packet and the
/// random choices of `-m statistic` / `-m recent`.
///
/// Contracts: the walk ends (jump loops included, which the kernel itself would refuse to load);
/// it is deterministic; the packet's source changes only by MASQUERADE, to the node's address
/// for the destination, and its destination only by the DNAT recorded; a DNAT or a drop is
/// explained by a rule that fired.
pub fn packet(data: &[u8]) {
    let PacketCase { rules, net, origin, pkt, choices } = packet_case(data);

    let walk = eval::evaluate(&rules, &net, origin, pkt, &mut ByteChooser(Bytes(choices)));
    let again = eval::evaluate(&rules, &net, origin, pkt, &mut ByteChooser(Bytes(choices)));
    assert_eq!(walk, again, "the same packet and choices walked two ways");

    assert_eq!(walk.before, pkt);
    let listed: Vec<String> = walk.path.rules().iter().map(|r| r.to_string()).collect();
    // MASQUERADE --random-fully picks a new port even when the address stays.
    let fully = listed.iter().any(|r| r.contains("--random-fully"));
    match walk.snat {
        Some(to) => {
            assert!(
                walk.delivery == Delivery::Forward || origin == Origin::Host,
                "MASQUERADE happens in POSTROUTING, which a routed packet passes only on its way out"
            );
            assert_eq!(to, net.masquerade_source(walk.after.dst.ip));
            assert_eq!(walk.after.src.ip, to, "MASQUERADE's address");
            if !fully {
                assert_eq!(walk.after.src.port, pkt.src.port, "MASQUERADE without --random-fully keeps the port");
            }
        }
        None => {
            assert_eq!(walk.after.src.ip, pkt.src.ip, "the source address changed without MASQUERADE");
            if !fully {
                assert_eq!(walk.after.src.port, pkt.src.port, "the source port changed without MASQUERADE");
            }
        }
    }
    match walk.dnat {
        Some(to) => {
            assert_eq!(walk.after.dst, to, "the destination is not the DNAT target");
            assert!(listed.iter().any(|r| r.contains(" -j DNAT ")), "DNAT without a DNAT rule");
        }
        None => assert_eq!(walk.after.dst, pkt.dst, "the destination changed without DNAT"),
    }
    if let Verdict::Drop(_) | Verdict::Reject(_) = walk.verdict {
        assert!(walk.snat.is_none(), "a dropped packet never reaches POSTROUTING");
    }
    let all: BTreeSet<String> = [Table::Filter, Table::Nat]
        .iter()
        .flat_map(|t| rules.table(*t).chains.values().flat_map(|c| c.iter()))
        .map(|r| (r.clone() as crate::dataplane::RuleRef).to_string())
        .collect();
    for rule in &listed {
        assert!(all.contains(rule), "the path names a rule of the ruleset: {rule}");
    }
}

/// What the packet harness reads from its input: a ruleset, the node, the packet, and the
/// bytes left over, which decide `-m statistic` / `-m recent`.
struct PacketCase<'a> {
    rules: Ruleset,
    net: NodeNet,
    origin: Origin,
    pkt: Header,
    choices: &'a [u8],
}

fn packet_case(data: &[u8]) -> PacketCase<'_> {
    let mut b = Bytes(data);
    let rules = ruleset(&mut b);
    let net = NodeNet {
        node_ip: ADDRS[0].into(),
        bridge_ip: b.bool().then_some(ADDRS[1].into()),
        pod_cidr: IpCidr::new(ADDRS[2], 24),
    };
    let origin = if b.bool() { Origin::Routed } else { Origin::Host };
    let pkt = Header::tcp(SockAddr::new(b.pick(&ADDRS), b.u16()), SockAddr::new(b.pick(&ADDRS), b.pick(&PORTS)));
    PacketCase { rules, net, origin, pkt, choices: b.0 }
}

/// A short name for what `data` makes the packet harness do (`routed-dnat-snat`, `host-drop`,
/// `routed-loop`…), for naming seed inputs by the path they cover.
pub fn describe_packet(data: &[u8]) -> String {
    let PacketCase { rules, net, origin, pkt, choices } = packet_case(data);
    let walk = eval::evaluate(&rules, &net, origin, pkt, &mut ByteChooser(Bytes(choices)));
    let mut name = vec![if origin == Origin::Routed { "routed" } else { "host" }];
    match &walk.verdict {
        Verdict::Accept => name.push(if walk.delivery == Delivery::Local { "local" } else { "forward" }),
        Verdict::Drop(crate::dataplane::Cause::JumpLoop(_)) | Verdict::Reject(crate::dataplane::Cause::JumpLoop(_)) => {
            name.push("loop")
        }
        Verdict::Drop(_) => name.push("drop"),
        Verdict::Reject(_) => name.push("reject"),
    }
    if walk.dnat.is_some() {
        name.push("dnat");
    }
    if walk.snat.is_some() {
        name.push("snat");
    }
    if walk.marked {
        name.push("marked");
    }
    name.join("-")
}

/// Addresses the random rules and packets draw from: the node, its cbr0, a local pod, a remote
/// pod, a client, a load balancer, a ClusterIP and loopback.
const ADDRS: [Ipv4Addr; 8] = [
    Ipv4Addr::new(10, 240, 0, 4),
    Ipv4Addr::new(10, 244, 0, 1),
    Ipv4Addr::new(10, 244, 0, 5),
    Ipv4Addr::new(10, 244, 1, 7),
    Ipv4Addr::new(203, 0, 113, 9),
    Ipv4Addr::new(20, 1, 2, 3),
    Ipv4Addr::new(10, 0, 0, 10),
    Ipv4Addr::new(127, 0, 0, 1),
];
const PORTS: [u16; 4] = [80, 8080, 30080, 10256];
const CHAINS: [&str; 10] = [
    chains::PREROUTING,
    chains::OUTPUT,
    chains::INPUT,
    chains::FORWARD,
    chains::POSTROUTING,
    chains::KUBE_SERVICES,
    chains::KUBE_MARK_MASQ,
    chains::KUBE_POSTROUTING,
    "KUBE-SVC-FUZZAAAAAAAAAAAA",
    "KUBE-SEP-FUZZBBBBBBBBBBBB",
];

fn ruleset(b: &mut Bytes<'_>) -> Ruleset {
    let mut rules = Ruleset::default();
    for _ in 0..b.u8() % 48 {
        let table = if b.bool() { Table::Nat } else { Table::Filter };
        let chain = ChainName::new(b.pick(&CHAINS));
        let matches = (0..b.u8() % 4).map(|_| a_match(b)).collect();
        let target = match b.u8() % 9 {
            0 => Target::Jump(ChainName::new(b.pick(&CHAINS))),
            1 => Target::Return,
            2 => Target::Accept,
            3 => Target::Drop,
            4 => Target::Reject(crate::net::IpFamily::Ipv4),
            5 => Target::Dnat(SockAddr::new(b.pick(&ADDRS), b.pick(&PORTS))),
            6 => Target::MarkMasq,
            7 => Target::ClearMasq,
            _ => Target::Masquerade { random_fully: b.bool() },
        };
        let comment = b.bool().then(|| "fuzz rule".to_string());
        rules.append(Rc::new(Rule::new(table, &chain, comment, matches, target)));
    }
    rules
}

fn a_match(b: &mut Bytes<'_>) -> Match {
    let name = || ChainName::new("KUBE-SEP-FUZZBBBBBBBBBBBB");
    match b.u8() % 11 {
        0 => Match::Proto(Protocol::Tcp),
        1 => Match::Src { cidr: IpCidr::new(b.pick(&ADDRS), b.u8() % 33), negated: b.bool() },
        2 => Match::dst(b.pick(&ADDRS).into()),
        3 => Match::DstPort(b.pick(&PORTS)),
        4 => Match::SrcTypeLocal,
        5 => Match::DstTypeLocal,
        6 => Match::Mark { negated: b.bool() },
        7 => Match::ctstate(*b.pick_ref(&[CtStates::New, CtStates::Invalid, CtStates::RelatedEstablished])),
        8 => Match::Statistic { one_in: u32::from(b.u8() % 4) + 1 },
        9 => Match::RecentCheck { name: name(), seconds: 10_800, family: crate::net::IpFamily::Ipv4 },
        _ => Match::RecentSet { name: name(), family: crate::net::IpFamily::Ipv4 },
    }
}

/// `-m statistic` and `-m recent` decided by the remaining bytes (then: never matches).
struct ByteChooser<'a>(Bytes<'a>);

impl Chooser for ByteChooser<'_> {
    fn statistic(&mut self, one_in: u32) -> bool {
        u32::from(self.0.u8()) % one_in == 0
    }
    fn recent_check(&mut self, _: &ChainName, _: IpAddr, _: u32) -> bool {
        self.0.bool()
    }
    fn recent_set(&mut self, _: &ChainName, _: IpAddr) {}
}

/// Reads choices off the fuzzer's bytes; past the end every read is zero.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *self.pick_ref(items)
    }
    fn pick_ref<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[usize::from(self.u8()) % items.len()]
    }
}

/// The `iptables-save` reader and the dumped-ruleset walk (`svcsim trace`) on any text: the
/// first line of the input gives the packet (`src dst`, else a default one), the rest is the
/// dump. Contracts: [`dumped`]'s.
pub fn iptables_save(data: &[u8]) {
    dumped(crate::dump::Format::IptablesSave, data);
}

/// The `nft list ruleset` reader and its walk, as [`iptables_save`] for the other format.
pub fn nft_ruleset(data: &[u8]) {
    dumped(crate::dump::Format::NftRuleset, data);
}

/// Contracts: a refused dump has at least one error, each at a line of the text; a dump that
/// reads is walked to an end (loops, random picks and undecidable matches included), each
/// path's DNAT is its final destination, and the walk is deterministic.
fn dumped(format: crate::dump::Format, data: &[u8]) {
    use crate::dump::{DumpedRuleset, Facts};
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (first, dump) = text.split_once('\n').unwrap_or((text, ""));
    let mut addrs = first.split_whitespace().filter_map(|w| w.parse::<std::net::SocketAddrV4>().ok());
    let src = addrs.next().unwrap_or_else(|| "10.244.0.5:40000".parse().unwrap());
    let dst = addrs.next().unwrap_or_else(|| "10.0.0.10:80".parse().unwrap());
    let header = crate::net::Header::tcp(src.into(), dst.into());
    let facts = Facts { node_ips: Some(vec!["10.240.0.4".parse().unwrap()]), ..Facts::default() };
    let d = match DumpedRuleset::parse_as(format, dump, facts) {
        Ok(d) => d,
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without an error");
            let lines = dump.lines().count().max(1);
            for e in &errors {
                assert!(e.line >= 1 && e.line <= lines, "{e} points outside a {lines}-line dump");
            }
            return;
        }
    };
    let walks = d.walk(header);
    assert!(!walks.is_empty(), "a walk gives at least one path");
    for w in &walks {
        if let Some(to) = w.decision.dnat {
            assert_eq!(w.decision.after.dst, to, "the DNAT recorded is the destination");
        }
    }
    let again: Vec<_> = d.walk(header).into_iter().map(|w| (w.decision, w.undecided)).collect();
    assert_eq!(
        walks.into_iter().map(|w| (w.decision, w.undecided)).collect::<Vec<_>>(),
        again,
        "the walk is deterministic"
    );
    let _ = (d.services(), d.flags());
}
