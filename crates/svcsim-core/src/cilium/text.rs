//! A node's Cilium maps as `cilium-dbg` prints them (`cilium-dbg/cmd/service_list.go`,
//! `bpf_lb_list.go`, Cilium 1.18): the agent's `service list` and the datapath's `bpf lb list`.
//! Upstream prints `bpf lb list` in map order, which is random; svcsim prints it by frontend id
//! and slot.

use super::maps::{FrontendKind, NodeMaps, Scope};
use crate::net::SockAddr;

/// `cilium-dbg service list`: a row per frontend (1.18 shows the NodePort wildcard, not the
/// per-address copies that only the BPF maps hold), its backends listed under it.
pub fn service_list(maps: &NodeMaps) -> String {
    let mut rows: Vec<Vec<String>> =
        vec![vec!["ID".into(), "Frontend".into(), "Service Type".into(), "Backend".into()]];
    for f in &maps.frontends {
        if f.kind == FrontendKind::NodePort && !f.addr.ip.is_unspecified() {
            continue;
        }
        let backends: Vec<String> = f
            .backends
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let b = maps.backend(*id);
                format!("{} => {b} ({})", i + 1, if b.terminating { "terminating" } else { "active" })
            })
            .collect();
        let first = backends.first().cloned().unwrap_or_default();
        rows.push(vec![f.id.to_string(), f.key(), f.kind.to_string(), first]);
        rows.extend(backends.iter().skip(1).map(|b| vec![String::new(), String::new(), String::new(), b.clone()]));
    }
    table(&rows)
}

/// `cilium-dbg bpf lb list`: a row per service map entry, slot 0 (the frontend, with its
/// rev-NAT id and flags) and one per backend slot.
pub fn bpf_lb_list(maps: &NodeMaps) -> String {
    let mut rows: Vec<Vec<String>> = vec![vec!["SERVICE ADDRESS".into(), "BACKEND ADDRESS (REVNAT_ID) (SLOT)".into()]];
    for f in &maps.frontends {
        let none = SockAddr::new(super::agent::unspecified(f.addr.ip), 0);
        rows.push(vec![format!("{} (0)", f.key()), format!("{none} ({}) (0) [{}]", f.id, f.flags())]);
        for (slot, id) in f.backends.iter().enumerate() {
            let b = maps.backend(*id);
            rows.push(vec![format!("{} ({})", f.key(), slot + 1), format!("{b} ({}) ({})", f.id, slot + 1)]);
        }
    }
    table(&rows)
}

/// Both listings, as `svcsim rules` prints a node's Cilium state.
pub fn listing(maps: &NodeMaps) -> String {
    let two = maps.frontends.iter().filter(|f| f.scope == Scope::Internal).count();
    let note = if two > 0 { "  (/i: the internal-scope entry east-west traffic uses)\n" } else { "" };
    format!("# cilium-dbg service list\n{}\n# cilium-dbg bpf lb list\n{note}{}", service_list(maps), bpf_lb_list(maps))
}

/// Go's `tabwriter` with Cilium's settings (minimum width 5, padding 3), trailing blanks trimmed.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0).max(2) + 3)
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                line.extend(std::iter::repeat_n(' ', widths[c] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
