//! Exports of one request: a sequence diagram as Mermaid text and as a standalone SVG, built from
//! the recorded hops (client, load balancer, nodes and pod as lifelines; the header on the wire
//! on each arrow; the NAT that changed it as a note). Pure functions of the run.

use std::fmt::Write;

use svcsim_core::Place;
use svcsim_core::net::Header;
use svcsim_core::record::{Action, FlowRecord, PacketKind, Run};

/// One row of the diagram, in time order.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    /// A packet crossing from one lifeline to another, with the header on the wire.
    Message { from: usize, to: usize, text: String, reply: bool },
    /// What happened at a lifeline: NAT, the app's answer, a drop.
    Note { at: usize, text: String },
}

/// The diagram of one flow: its lifelines (names, in order of appearance) and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub title: String,
    lifelines: Vec<String>,
    rows: Vec<Row>,
}

impl Sequence {
    pub fn of(run: &Run, flow: &FlowRecord) -> Sequence {
        let mut lifelines: Vec<(Place, String)> = Vec::new();
        let mut lane = |place: Place| -> usize {
            if let Some(i) = lifelines.iter().position(|(p, _)| *p == place) {
                return i;
            }
            lifelines.push((place, run.names.place(place)));
            lifelines.len() - 1
        };
        let mut rows = Vec::new();
        let mut previous: Option<(usize, Header)> = None;
        for packet in run.packets_of(flow) {
            let reply = packet.kind == PacketKind::Reply;
            for hop in &packet.hops {
                let here = lane(hop.at);
                if let Some((from, wire)) = previous
                    && from != here
                {
                    rows.push(Row::Message { from, to: here, text: wire.to_string(), reply });
                }
                // What happened here, in the trace's words; a packet leaving, passing through
                // unchanged or arriving is the arrow itself.
                let note = match hop.action {
                    Action::Sent | Action::Forwarded | Action::Delivered => None,
                    _ => Some(run.hop_prose(packet, hop).predicate),
                };
                if let Some(text) = note {
                    rows.push(Row::Note { at: here, text });
                }
                previous = Some((here, hop.after()));
            }
        }
        Sequence {
            title: format!("Flow #{} · {} · started {} s", flow.id.0, flow.header, flow.start),
            lifelines: lifelines.into_iter().map(|(_, n)| n).collect(),
            rows,
        }
    }

    /// Mermaid `sequenceDiagram` text. Names and notes are escaped with Mermaid's entity codes,
    /// so text from a scenario cannot end a line or start a directive.
    pub fn mermaid(&self) -> String {
        let esc = |s: &str| {
            s.chars()
                .map(|c| match c {
                    ';' => "#59;".to_string(),
                    '#' => "#35;".to_string(),
                    '\n' | '\r' => " ".to_string(),
                    c => c.to_string(),
                })
                .collect::<String>()
        };
        let mut out = String::from("sequenceDiagram\n");
        let _ = writeln!(out, "    title {}", esc(&self.title));
        for (i, name) in self.lifelines.iter().enumerate() {
            let _ = writeln!(out, "    participant L{i} as {}", esc(name));
        }
        for row in &self.rows {
            let _ = match row {
                Row::Message { from, to, text, reply } => {
                    writeln!(out, "    L{from}{}L{to}: {}", if *reply { "-->>" } else { "->>" }, esc(text))
                }
                Row::Note { at, text } => writeln!(out, "    Note over L{at}: {}", esc(text)),
            };
        }
        out
    }

    /// A standalone SVG document (no external styles or fonts).
    pub fn svg(&self) -> String {
        const COL: f64 = 190.0;
        const ROW: f64 = 30.0;
        const TOP: f64 = 70.0;
        /// Roughly how wide 11 px system-ui text is, per character: enough to size the canvas.
        const CHAR: f64 = 6.4;
        let x = |i: usize| 20.0 + COL * (i as f64 + 0.5);
        // Notes start at their lifeline and may run past the last one: widen the canvas for them.
        let notes_right = self
            .rows
            .iter()
            .filter_map(|r| match r {
                Row::Note { at, text } => Some(x(*at) + 6.0 + CHAR * text.chars().count() as f64 + 20.0),
                Row::Message { .. } => None,
            })
            .fold(0.0, f64::max);
        let title_right = 20.0 + 7.5 * self.title.chars().count() as f64;
        let width = (40.0 + COL * self.lifelines.len().max(1) as f64).max(notes_right).max(title_right).ceil();
        let height = TOP + ROW * (self.rows.len() as f64 + 1.0) + 20.0;
        let mut out = String::new();
        let _ = write!(
            out,
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="system-ui, sans-serif" font-size="12">"##
        );
        let _ =
            write!(out, r##"<title>{}</title><rect width="100%" height="100%" fill="#ffffff"/>"##, xml(&self.title));
        let _ = write!(out, r##"<text x="20" y="22" font-weight="600">{}</text>"##, xml(&self.title));
        out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1b1f24"/></marker></defs>"##);
        for (i, name) in self.lifelines.iter().enumerate() {
            let cx = x(i);
            let _ = write!(
                out,
                r##"<rect x="{}" y="34" width="{}" height="24" rx="4" fill="#f6f8fa" stroke="#57606a"/><text x="{cx}" y="50" text-anchor="middle" font-weight="600">{}</text><line x1="{cx}" y1="58" x2="{cx}" y2="{}" stroke="#d0d7de" stroke-dasharray="4 3"/>"##,
                cx - COL / 2.0 + 8.0,
                COL - 16.0,
                xml(&short(name, 22)),
                height - 10.0
            );
        }
        for (r, row) in self.rows.iter().enumerate() {
            let y = TOP + ROW * (r as f64 + 0.5);
            match row {
                Row::Message { from, to, text, reply } => {
                    let (x1, x2) = (x(*from), x(*to));
                    let dash = if *reply { r##" stroke-dasharray="5 3""## } else { "" };
                    let _ = write!(
                        out,
                        r##"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#1b1f24"{dash} marker-end="url(#arrow)"/><text x="{}" y="{}" text-anchor="middle" font-family="ui-monospace, monospace" font-size="10">{}</text>"##,
                        (x1 + x2) / 2.0,
                        y - 4.0,
                        xml(text)
                    );
                }
                Row::Note { at, text } => {
                    let _ = write!(
                        out,
                        r##"<text x="{}" y="{}" font-size="11" fill="#7a3ea8">{}</text>"##,
                        x(*at) + 6.0,
                        y + 4.0,
                        xml(text)
                    );
                }
            }
        }
        out.push_str("</svg>\n");
        out
    }
}

/// Colours of the per-node lines in exports: the light theme's `--node0`… (`style.css`),
/// identities rather than verdicts, so no green or red.
const NODE_COLOURS: [&str; 6] = ["#7a3ea8", "#0b7285", "#a61e4d", "#5c6f00", "#b35900", "#3f4e5e"];

/// The Health Probe Status chart as a standalone SVG: the aggregate per minute (thick, with its
/// values) and each node's share (thin, dashed), last 30 minutes up to `t`, with a legend.
pub fn probe_chart_svg(p: &crate::view::ProbePanel, node_names: &[String], t: f64) -> String {
    let (w, h) = (680.0, 300.0);
    let (left, right, top, bottom) = (50.0, 20.0, 40.0, 60.0);
    let last = (t / 60.0).floor().max(1.0);
    let first = (last - 30.0).max(0.0);
    let x = |m: u64| left + (m as f64 + 0.5 - first) / 30.0 * (w - left - right);
    let y = |v: f64| top + (100.0 - v) / 100.0 * (h - top - bottom);
    let points = |pts: &[(u64, f64)]| {
        pts.iter().map(|(m, v)| format!("{:.1},{:.1}", x(*m), y(*v))).collect::<Vec<_>>().join(" ")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="system-ui, sans-serif" font-size="12"><title>Health Probe Status</title><rect width="100%" height="100%" fill="#ffffff"/><text x="{left}" y="22" font-weight="600" font-size="14">Health Probe Status · per minute, the 30 minutes before minute {last}</text>"##
    );
    for v in [0.0, 50.0, 100.0] {
        let _ = write!(
            out,
            r##"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="#d0d7de"/><text x="{2}" y="{3}" text-anchor="end" fill="#57606a">{v}%</text>"##,
            y(v),
            w - right,
            left - 6.0,
            y(v) + 4.0
        );
    }
    for (n, name) in node_names.iter().enumerate() {
        let pts: Vec<(u64, f64)> =
            p.series.iter().filter_map(|(m, _, per)| per.get(n).copied().flatten().map(|v| (*m, v))).collect();
        let colour = NODE_COLOURS[n % NODE_COLOURS.len()];
        let _ = write!(
            out,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 2"/>"##,
            points(&pts)
        );
        let lx = left + 150.0 * (n % 4) as f64;
        let ly = h - 28.0 + 14.0 * (n / 4) as f64;
        let _ = write!(
            out,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 2"/><text x="{}" y="{}">{}</text>"##,
            lx + 20.0,
            lx + 24.0,
            ly + 4.0,
            xml(&short(name, 18))
        );
    }
    let agg: Vec<(u64, f64)> = p.series.iter().map(|(m, v, _)| (*m, *v)).collect();
    let _ = write!(out, r##"<polyline points="{}" fill="none" stroke="#1b1f24" stroke-width="3"/>"##, points(&agg));
    for (m, v) in &agg {
        let _ = write!(
            out,
            r##"<circle cx="{0:.1}" cy="{1:.1}" r="3" fill="#1b1f24"><title>minute {m}: {2}</title></circle>"##,
            x(*m),
            y(*v),
            crate::view::pct(*v)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#57606a">aggregate: thick · nodes: dashed</text>"##,
        w - right,
        h - 28.0
    );
    out.push_str("</svg>\n");
    out
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}

/// Text escaped for XML content and attribute values.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A `data:` URL for a download link: percent-encoded, so any text is safe in `href`.
pub fn data_url(mime: &str, text: &str) -> String {
    let mut out = format!("data:{mime};charset=utf-8,");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~ ".contains(&b) {
            out.push(if b == b' ' { ' ' } else { b as char });
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out.replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use svcsim_core::manifest::{self, Overrides};
    use svcsim_core::sim::Sim;
    use svcsim_core::time::Instant;

    fn seed_run() -> Sim {
        let yaml = include_str!("../../scenarios/aks-blog.yaml");
        let mut sim = Sim::new(manifest::load(yaml, &Overrides::default()).unwrap().scenario);
        sim.run_until(Instant::from_secs(5));
        sim
    }

    #[test]
    fn the_seed_request_as_mermaid_names_the_nat_and_the_answer() {
        let sim = seed_run();
        let run = sim.record();
        let flow = run
            .flows
            .iter()
            .find(|f| matches!(f.initiator, svcsim_core::record::Initiator::Client(_)) && f.reply.is_some())
            .unwrap();
        expect_test::expect![[r#"
            sequenceDiagram
                title Flow #35;0 · 198.51.100.79:46126 > 203.0.113.10:80 · started 0.500000 s
                participant L0 as laptop
                participant L1 as lb
                participant L2 as node-0
                participant L3 as pod node-deployment-p9sfq9jkfn-6wnqr
                L0->>L1: 198.51.100.79:46126 > 203.0.113.10:80
                Note over L1: -> node-0 (5-tuple hash, 2/2 nodes in rotation)
                L1->>L2: 198.51.100.79:46126 > 203.0.113.10:80
                Note over L2: DNAT 203.0.113.10:80 -> 10.244.0.2:8080, SNAT 198.51.100.79 -> 10.244.0.1 via KUBE-SERVICES > KUBE-EXT-IXNP3UPK7A3TOQ6U > KUBE-SVC-IXNP3UPK7A3TOQ6U > KUBE-SEP-7FZMHNWKZJJYAHLJ > KUBE-FORWARD
                L2->>L3: 10.244.0.1:51329 > 10.244.0.2:8080
                Note over L3: sees 10.244.0.1, prints "::ffff:10.244.0.1"
                L3-->>L2: 10.244.0.2:8080 > 10.244.0.1:51329
                Note over L2: un-NAT 10.244.0.2:8080 > 10.244.0.1:51329 => 203.0.113.10:80 > 198.51.100.79:46126 (conntrack)
                L2-->>L0: 203.0.113.10:80 > 198.51.100.79:46126
        "#]]
        .assert_eq(&Sequence::of(run, flow).mermaid());
    }

    #[test]
    fn the_probe_chart_plots_the_local_switch_and_escapes_node_names() {
        let yaml = include_str!("../../scenarios/aks-blog-switch.yaml");
        let mut sim = Sim::new(manifest::load(yaml, &Overrides::default()).unwrap().scenario);
        sim.run_until(Instant::from_secs(240));
        let p = crate::view::probe_panel(sim.record(), 2, 240.0, None).unwrap();
        let svg = probe_chart_svg(&p, &["node-0".into(), "<b>node-1</b>".into()], 240.0);
        let dots: Vec<&str> = svg
            .match_indices("<title>minute ")
            .map(|(i, _)| &svg[i + 7..i + 7 + svg[i + 7..].find('<').unwrap()])
            .collect();
        expect_test::expect![[r#"["minute 0: 100%", "minute 1: 75%", "minute 2: 50%", "minute 3: 50%"]"#]]
            .assert_eq(&format!("{dots:?}"));
        assert!(svg.contains("&lt;b&gt;node-1&lt;/b&gt;") && !svg.contains("<b>"), "{svg}");
    }

    #[test]
    fn hostile_names_stay_text_in_svg_mermaid_and_links() {
        assert_eq!(
            xml(r#"<img src=x onerror="alert(1)">&'"#),
            "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&apos;"
        );
        let seq = Sequence {
            title: "t".into(),
            lifelines: vec!["a;b\nNote over L0: x#".into()],
            rows: vec![Row::Note { at: 0, text: "<script>".into() }],
        };
        let m = seq.mermaid();
        assert!(m.contains("participant L0 as a#59;b Note over L0: x#35;\n"), "{m}");
        assert_eq!(m.lines().count(), 4, "{m}");
        let svg = seq.svg();
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"), "{svg}");
        assert_eq!(data_url("text/plain", "a b<#>\"é"), "data:text/plain;charset=utf-8,a%20b%3C%23%3E%22%C3%A9");
    }
}
