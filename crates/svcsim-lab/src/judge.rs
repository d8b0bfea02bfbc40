//! Comparing what the kernel did with what svcsim says: for each traced connection the verdict,
//! the endpoint, the NAT from conntrack, what the app printed and the rules the kernel's trace
//! names; for each case the set of endpoints reached. Pure, given the observations.
//!
//! A connection from a link-local source that svcsim's rules send on to a pod of the node (out
//! of another interface than it came in by) is judged by svcsim's other claim: the node does not
//! forward it (`ip6_forward` answers with an ICMPv6 destination unreachable, code 2, "beyond
//! scope of source address"), so the kernel's trace ends with the prerouting rules, conntrack
//! keeps nothing and the client's connect() fails. Sent on to another node, it is forwarded and
//! judged like any connection.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use svcsim_core::dataplane::FirstPacketVerdict;

use crate::cases::{Case, Source};
use crate::conntrack::Entry;
use crate::expect::Expected;
use crate::probe::{Icmp6Error, Outcome};
use crate::trace::Hit;

/// What the lab saw of one connection.
#[derive(Debug, Clone)]
pub struct Observed {
    pub outcome: Outcome,
    /// The connection's source address.
    pub local: SocketAddr,
    pub conntrack: Option<Entry>,
    /// The rules the kernel's trace names, for a traced connection it saw.
    pub hits: Option<Vec<Hit>>,
    /// The ICMPv6 errors that came back about it (watched for link-local sources only).
    pub icmp6: Vec<Icmp6Error>,
}

/// ICMPv6 destination unreachable (type 1), beyond scope of source address (code 2): what
/// `ip6_forward` sends for a packet with a link-local source it will not forward.
pub const BEYOND_SCOPE: (u8, u8) = (1, 2);

/// A case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Agree,
    Disagree(Vec<String>),
    Skipped(String),
}

/// Judges a case from its traced connections and its bulk connections (outcomes only). A traced
/// connection's rule path is compared when `paths[i]` is true (not after an earlier connection
/// of the same source left a session-affinity entry).
pub fn case(case: &Case, traced: &[Observed], paths: &[bool], bulk: &[Outcome]) -> Judgement {
    let mut problems = Vec::new();
    let mut reached = BTreeSet::new();
    for (seen, &path) in traced.iter().zip(paths) {
        match connection(case, seen, path) {
            Ok(Some(pod)) => {
                reached.insert(pod);
            }
            Ok(None) => {}
            Err(mut p) => problems.append(&mut p),
        }
    }
    for outcome in bulk {
        match bulk_pod(case, outcome) {
            Ok(Some(pod)) => {
                reached.insert(pod);
            }
            Ok(None) => {}
            Err(p) => problems.push(p),
        }
    }
    // svcsim says a link-local source's connection refused on the way reaches no pod.
    let allowed: BTreeSet<String> =
        case.expected.iter().filter(|e| !e.beyond_scope).filter_map(|e| e.pod.clone()).collect();
    let all_pods = case.expected.iter().all(|e| e.verdict != FirstPacketVerdict::Dnat || e.pod.is_some());
    if case.affinity && reached.len() > 1 {
        problems.push(format!("ClientIP affinity, yet the kernel sent one client to {}", list(&reached)));
    } else if !case.affinity && all_pods && problems.is_empty() && !allowed.is_empty() && reached != allowed {
        problems.push(format!("the kernel reached {}; svcsim's rules reach {}", list(&reached), list(&allowed)));
    }
    if problems.is_empty() { Judgement::Agree } else { Judgement::Disagree(dedup(problems)) }
}

fn list(pods: &BTreeSet<String>) -> String {
    if pods.is_empty() { "no pod".into() } else { pods.iter().cloned().collect::<Vec<_>>().join(", ") }
}

fn dedup(mut problems: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    problems
}

/// The pod a bulk connection reached, checked against svcsim's outcomes.
fn bulk_pod(case: &Case, outcome: &Outcome) -> Result<Option<String>, String> {
    match outcome {
        Outcome::Answered { pod: Some(pod), .. } => {
            if case.expected.iter().any(|e| e.pod.as_deref() == Some(pod)) {
                Ok(Some(pod.clone()))
            } else {
                Err(format!("a connection reached pod {pod}, which svcsim's rules never pick"))
            }
        }
        // A pick the node refuses to forward (a link-local source toward its own pod).
        Outcome::Unreachable if case.expected.iter().any(|e| e.beyond_scope) => Ok(None),
        other => {
            let kind = kind_of_outcome(other);
            if case.expected.iter().any(|e| allows(e.verdict, kind)) {
                Ok(None)
            } else {
                Err(format!("a connection was {}, which svcsim never has it", describe(other)))
            }
        }
    }
}

/// The kernel's verdict as svcsim names verdicts: from the trace's last DROP/REJECT, else from
/// conntrack's DNAT.
fn kernel_verdict(seen: &Observed) -> (FirstPacketVerdict, Option<String>) {
    // REJECT sends its ICMP and then drops: the trace's verdict is DROP, the rule says REJECT.
    let last_fatal = seen.hits.as_ref().and_then(|h| h.iter().rev().find(|h| h.verdict == "DROP"));
    let rejects = |rule: &str| rule.contains("-j REJECT") || rule == "reject" || rule.contains(" reject");
    match last_fatal {
        Some(h) if rejects(&h.rule) => (FirstPacketVerdict::Reject, comment(&h.rule)),
        Some(h) => (FirstPacketVerdict::Drop, comment(&h.rule)),
        None => match (seen.conntrack.and_then(|c| c.dnat()), &seen.outcome) {
            (Some(_), _) => (FirstPacketVerdict::Dnat, None),
            (None, Outcome::TimedOut) if seen.hits.is_none() => (FirstPacketVerdict::Drop, None),
            _ => (FirstPacketVerdict::None, None),
        },
    }
}

/// The comment of a rule as iptables-save (`--comment "…"`) or nft (`comment "…"`) prints it.
fn comment(rule: &str) -> Option<String> {
    let rest = rule.split_once("comment \"")?.1;
    Some(rest.split_once('"')?.0.to_string())
}

/// One traced connection: `Ok(Some(pod))` when it reached a pod as svcsim allows.
fn connection(case: &Case, seen: &Observed, compare_path: bool) -> Result<Option<String>, Vec<String>> {
    // Refused as svcsim says when every pick is (or this connection's was, as its outcome shows).
    let refused = case.expected.iter().any(|e| e.beyond_scope)
        && (case.expected.iter().all(|e| e.beyond_scope) || seen.outcome == Outcome::Unreachable);
    if refused {
        return not_forwarded(case, seen, compare_path).map(|()| None);
    }
    let mut problems = Vec::new();
    if matches!(case.source, Source::Host(_)) && seen.local.ip() != case.header.src.ip {
        let (kernel, svcsim) = (seen.local.ip(), case.header.src.ip);
        problems.push(format!("the host's stack chose the source {kernel}; svcsim picks {svcsim}"));
    }
    if seen.hits.is_none() {
        problems.push("the kernel's trace of the first packet was lost".into());
    }
    let (verdict, reason) = kernel_verdict(seen);
    let dnat = seen.conntrack.and_then(|c| c.dnat()).map(svcsim_core::net::SockAddr::from);
    let candidates: Vec<&Expected> = case
        .expected
        .iter()
        .filter(|e| e.verdict == verdict && (verdict != FirstPacketVerdict::Dnat || e.dnat == dnat))
        .collect();
    let Some(expected) = candidates.first() else {
        let allowed: Vec<String> = case.expected.iter().map(summary).collect();
        problems.push(format!(
            "the kernel's verdict is {}; svcsim's is {}",
            match dnat {
                Some(to) if verdict == FirstPacketVerdict::Dnat => format!("DNAT to {to}"),
                _ => verdict.to_string(),
            },
            allowed.join(" or ")
        ));
        return Err(problems);
    };
    if !allows(verdict, kind_of_outcome(&seen.outcome)) {
        problems.push(format!("the client's connection was {} after a {verdict}", describe(&seen.outcome)));
    }
    if matches!(verdict, FirstPacketVerdict::Drop | FirstPacketVerdict::Reject) && reason != expected.reason {
        problems.push(format!("the kernel's {verdict} rule says {reason:?}; svcsim's says {:?}", expected.reason));
    }
    let translated = matches!(verdict, FirstPacketVerdict::Dnat | FirstPacketVerdict::None);
    if let Some(snat) = seen.conntrack.map(|c| c.snat()).filter(|snat| translated && *snat != expected.snat) {
        problems.push(format!("the kernel's SNAT is {}; svcsim's is {}", show(snat), show(expected.snat)));
    }
    let mut reached = None;
    if let Outcome::Answered { status, pod, body } = &seen.outcome {
        match (&case.health, pod) {
            (Some((want_status, want_body)), _) => {
                if (status, body) != (want_status, want_body) {
                    problems.push(format!(
                        "the health server said {status} {body:?}; svcsim says {want_status} {want_body:?}"
                    ));
                }
            }
            (None, Some(pod)) => {
                if expected.pod.as_ref() != Some(pod) {
                    problems.push(format!("pod {pod} answered; svcsim's DNAT goes to {:?}", expected.pod));
                }
                if expected.prints.as_ref() != Some(body) {
                    problems.push(format!("the app printed {body:?}; svcsim says it prints {:?}", expected.prints));
                }
                reached = Some(pod.clone());
            }
            (None, None) => {}
        }
    }
    if let Some(kernel) = seen.hits.as_deref().map(normalized).filter(|k| compare_path && *k != expected.rules) {
        problems.push(path_difference(&kernel, &expected.rules));
    }
    if problems.is_empty() { Ok(reached) } else { Err(problems) }
}

/// A link-local source's connection that svcsim's rules DNAT to a pod: the kernel must refuse to
/// forward it — an ICMPv6 "beyond scope" error back, the client's connect() failing as
/// unreachable, no conntrack entry (it is confirmed only as a packet leaves), and a trace that
/// is svcsim's path up to its DNAT rule (prerouting) and no further.
fn not_forwarded(case: &Case, seen: &Observed, compare_path: bool) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let src = case.header.src.ip;
    if let Outcome::Answered { pod, .. } = &seen.outcome {
        let by = pod.as_deref().unwrap_or("a server");
        problems.push(format!(
            "{by} answered: the node forwarded a packet from link-local {src}; svcsim says it never does"
        ));
    } else if seen.outcome != Outcome::Unreachable {
        problems.push(format!(
            "the client's connection was {}; after ICMPv6 beyond scope it fails as unreachable",
            describe(&seen.outcome)
        ));
    }
    let (kind, code) = BEYOND_SCOPE;
    if !seen.icmp6.iter().any(|e| (e.kind, e.code) == BEYOND_SCOPE) {
        let got: Vec<String> =
            seen.icmp6.iter().map(|e| format!("type {} code {} from {}", e.kind, e.code, e.from)).collect();
        problems.push(format!(
            "the kernel sent {}; svcsim says ICMPv6 type {kind} code {code} (beyond scope of source address)",
            if got.is_empty() { "no ICMPv6 error".to_string() } else { got.join(", ") }
        ));
    }
    if let Some(entry) = seen.conntrack {
        problems.push(format!("conntrack kept {entry:?}: the connection left the node"));
    }
    if seen.hits.is_none() {
        problems.push("the kernel's trace of the first packet was lost".into());
    }
    let expected = case.expected.iter().find(|e| e.beyond_scope).map(|e| prerouting(&e.rules)).unwrap_or_default();
    if let Some(kernel) = seen.hits.as_deref().map(normalized).filter(|k| compare_path && *k != expected) {
        problems.push(path_difference(&kernel, &expected));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The rules of a path up to its DNAT rule: what the prerouting hook runs before routing.
fn prerouting(rules: &[(String, String)]) -> Vec<(String, String)> {
    let dnat = rules.iter().rposition(|(_, r)| r.contains("-j DNAT") || r.contains(" dnat to "));
    dnat.map_or_else(Vec::new, |at| rules[..=at].to_vec())
}

fn show(ip: Option<std::net::IpAddr>) -> String {
    ip.map_or("none".into(), |ip| ip.to_string())
}

fn summary(e: &Expected) -> String {
    match (e.verdict, e.dnat) {
        (FirstPacketVerdict::Dnat, Some(to)) => format!("DNAT to {to}"),
        (v, _) => v.to_string(),
    }
}

/// What a client saw, in the terms of a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Answered,
    Refused,
    TimedOut,
    Other,
}

fn kind_of_outcome(o: &Outcome) -> Seen {
    match o {
        Outcome::Answered { .. } => Seen::Answered,
        Outcome::Refused => Seen::Refused,
        Outcome::TimedOut => Seen::TimedOut,
        Outcome::Unreachable | Outcome::Failed(_) => Seen::Other,
    }
}

/// Whether a client can see `seen` after the node's rules decided `verdict`.
fn allows(verdict: FirstPacketVerdict, seen: Seen) -> bool {
    match verdict {
        FirstPacketVerdict::Drop => seen == Seen::TimedOut,
        FirstPacketVerdict::Reject => seen == Seen::Refused,
        // Reached an endpoint, or a port nobody listens on.
        FirstPacketVerdict::Dnat | FirstPacketVerdict::None => matches!(seen, Seen::Answered | Seen::Refused),
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Answered { status, pod: Some(p), .. } => format!("answered {status} by pod {p}"),
        Outcome::Answered { status, .. } => format!("answered {status}"),
        Outcome::Refused => "refused".into(),
        Outcome::TimedOut => "timed out".into(),
        Outcome::Unreachable => "unreachable".into(),
        Outcome::Failed(why) => format!("failed ({why})"),
    }
}

/// The kernel's hits as svcsim records a path: (table, `-A CHAIN rule`) for iptables, (`ip
/// kube-proxy` or `ip6 kube-proxy`, `CHAIN rule`) for nftables, leaving out a jump into a chain in which nothing
/// matched (svcsim leaves those out of its paths too: in iptables' filter table, and anywhere in
/// nftables).
pub fn normalized(hits: &[Hit]) -> Vec<(String, String)> {
    let nft = |h: &Hit| h.table.starts_with("ip ") || h.table.starts_with("ip6 ");
    let mut kept: Vec<&Hit> = hits.iter().collect();
    loop {
        let empty_jump = (0..kept.len()).find(|&i| {
            let h = kept[i];
            (h.table == "filter" || nft(h))
                && h.verdict == "JUMP"
                && kept.get(i + 1).is_none_or(|next| Some(&next.chain) != h.target.as_ref())
        });
        match empty_jump {
            Some(i) => {
                kept.remove(i);
            }
            None => break,
        }
    }
    kept.iter()
        .map(|h| {
            let rule = if nft(h) { format!("{} {}", h.chain, h.rule) } else { format!("-A {} {}", h.chain, h.rule) };
            (h.table.clone(), rule)
        })
        .collect()
}

/// Where two rule paths part, for the report.
fn path_difference(kernel: &[(String, String)], svcsim: &[(String, String)]) -> String {
    let at = kernel.iter().zip(svcsim).take_while(|(a, b)| a == b).count();
    let show = |p: Option<&(String, String)>| p.map_or("(the path ends)".into(), |(t, r)| format!("-t {t} {r}"));
    format!(
        "the rule paths part after {at} rules: the kernel's next is {}, svcsim's is {}",
        show(kernel.get(at)),
        show(svcsim.get(at))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(table: &str, chain: &str, verdict: &str, target: Option<&str>) -> Hit {
        Hit {
            table: table.into(),
            chain: chain.into(),
            verdict: verdict.into(),
            target: target.map(str::to_string),
            rule: format!("-j {}", target.unwrap_or(verdict)),
        }
    }

    #[test]
    fn filter_jumps_into_chains_where_nothing_matched_are_left_out() {
        let hits = [
            hit("nat", "PREROUTING", "JUMP", Some("KUBE-SERVICES")),
            hit("filter", "FORWARD", "JUMP", Some("KUBE-PROXY-FIREWALL")),
            hit("filter", "FORWARD", "JUMP", Some("KUBE-FORWARD")),
            hit("filter", "KUBE-FORWARD", "ACCEPT", None),
        ];
        let kept: Vec<String> = normalized(&hits).into_iter().map(|(t, r)| format!("{t} {r}")).collect();
        assert_eq!(
            kept,
            [
                "nat -A PREROUTING -j KUBE-SERVICES",
                "filter -A FORWARD -j KUBE-FORWARD",
                "filter -A KUBE-FORWARD -j ACCEPT"
            ]
        );
    }

    #[test]
    fn a_path_before_routing_ends_with_its_dnat_rule() {
        let rule = |t: &str, r: &str| (t.to_string(), r.to_string());
        let path = [
            rule("nat", "-A PREROUTING -j KUBE-SERVICES"),
            rule("nat", "-A KUBE-SEP-X -p tcp -m tcp -j DNAT --to-destination [fd00::2]:8080"),
            rule("filter", "-A FORWARD -j KUBE-FORWARD"),
        ];
        assert_eq!(prerouting(&path), path[..2]);
        let nft = [rule("ip6 kube-proxy", "endpoint-X meta l4proto tcp dnat to [fd00::2]:8080"), path[2].clone()];
        assert_eq!(prerouting(&nft), nft[..1]);
        assert!(prerouting(&path[2..]).is_empty());
    }

    #[test]
    fn a_rule_comment_is_read_from_the_saved_form() {
        assert_eq!(
            comment(r#"-p tcp -m comment --comment "default/web has no endpoints" -j REJECT"#).as_deref(),
            Some("default/web has no endpoints")
        );
        assert_eq!(comment("-j DROP"), None);
    }
}
