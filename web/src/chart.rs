//! The Health Probe Status chart, laid out: axes with their ticks and titles, the aggregate and
//! one line per node with the node's name at its end (names never overlap), the minutes a change
//! was made, and each point's readout. Every position is computed here, from the typed probe
//! panel; the markup only draws it.

use svcsim_core::record::{Run, TraceEntry};

use crate::view::{ProbePanel, pct};

/// A chart's drawing size and plot area, in the SVG's user units (drawn one to one with CSS
/// pixels, so its text keeps the page's size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub width: f64,
    pub height: f64,
    /// The plot area's edges: room for the y ticks (and title) on the left, the node names on
    /// the right, the x ticks and title below.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// The y axis is titled and the caption says which line is which; in the compact chart
    /// the ticks (`100%`, `0%`) and the lines' names say it alone.
    pub titled: bool,
}

/// The full page's chart: at least 320×160 wherever the page shows it.
pub const FULL: Size =
    Size { width: 360.0, height: 190.0, left: 40.0, right: 286.0, top: 12.0, bottom: 152.0, titled: true };
/// The embed's: beside the controls in a 700×450 frame, its text at the full chart's size; the
/// x axis is titled at the start of its tick row.
pub const COMPACT: Size =
    Size { width: 300.0, height: 86.0, left: 48.0, right: 226.0, top: 8.0, bottom: 68.0, titled: false };

/// A label's height: node names closer than this are moved apart.
const LABEL_GAP: f64 = 11.0;
/// How many minutes the chart shows.
const WINDOW: f64 = 30.0;

/// One node's line and its name at the end of it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLine {
    /// The node's name, cut to fit the margin.
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Where the name is written: beside the line's last point, moved off its neighbours.
    pub label_y: Option<f64>,
}

/// One minute of the aggregate: where it is drawn and what it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// `minute 3: 50% (node-0 100%, node-1 0%)`.
    pub readout: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeChart {
    pub x_ticks: Vec<(f64, String)>,
    pub y_ticks: Vec<(f64, &'static str)>,
    pub aggregate: Vec<Point>,
    pub nodes: Vec<NodeLine>,
    /// Each change in the window: (x, `minute 1: externalTrafficPolicy Local`).
    pub transitions: Vec<(f64, String)>,
    /// The whole chart in words, for a screen reader.
    pub summary: String,
    pub size: Size,
}

/// Lays out the chart of `p` at scenario time `t` in `size`; `names` are the nodes' names, and
/// the run's changes mark their minutes.
pub fn probe_chart(p: &ProbePanel, names: &[String], run: &Run, t: f64, size: Size) -> ProbeChart {
    let Size { left, right, top, bottom, .. } = size;
    let last = (t / 60.0).floor().max(1.0);
    let first = (last - WINDOW).max(0.0);
    // The minutes so far fill the width, at least five of them, at most the window.
    let span = (last - first).max(5.0);
    let x = |minute: f64| left + (minute - first) / span * (right - left);
    let y = |v: f64| top + (100.0 - v) / 100.0 * (bottom - top);
    // A minute's point sits in the middle of its minute.
    let at = |m: u64| x(m as f64 + 0.5);
    let step = if last - first > 15.0 {
        5.0
    } else if last - first > 6.0 {
        2.0
    } else {
        1.0
    };
    let x_ticks = (0..)
        .map(|i| (first / step).ceil() * step + f64::from(i) * step)
        .take_while(|m| *m <= last)
        .map(|m| (x(m), format!("{m}")))
        .collect();
    let y_ticks = vec![(y(100.0), "100%"), (y(50.0), "50%"), (y(0.0), "0%")];
    let aggregate: Vec<Point> = p
        .series
        .iter()
        .map(|(m, v, per)| {
            let nodes: Vec<String> =
                per.iter().zip(names).filter_map(|(v, n)| v.map(|v| format!("{n} {}", pct(v)))).collect();
            Point { x: at(*m), y: y(*v), readout: format!("minute {m}: {} ({})", pct(*v), nodes.join(", ")) }
        })
        .collect();
    let mut nodes: Vec<NodeLine> = names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let points: Vec<(f64, f64)> = p
                .series
                .iter()
                .filter_map(|(m, _, per)| per.get(n).copied().flatten().map(|v| (at(*m), y(v))))
                .collect();
            NodeLine { label: short_name(name), label_y: points.last().map(|(_, y)| *y), points }
        })
        .collect();
    spread_labels(&mut nodes, bottom);
    let transitions = run
        .trace
        .iter()
        .filter_map(|l| {
            let TraceEntry::Change(c) = &l.entry else { return None };
            let s = l.time.as_secs_f64();
            let minute = s / 60.0;
            (minute >= first && s <= t)
                .then(|| (x(minute), format!("minute {}: {}", minute.floor(), run.names.change(c))))
        })
        .collect();
    let summary = format!(
        "Health Probe Status per minute, minutes {first} to {last}: {}",
        if aggregate.is_empty() {
            "no complete minute yet".to_string()
        } else {
            aggregate.iter().map(|p| p.readout.clone()).collect::<Vec<_>>().join("; ")
        }
    );
    ProbeChart { x_ticks, y_ticks, aggregate, nodes, transitions, summary, size }
}

/// `aks-nodepool1-1234…`: a name cut to the right margin's 11 characters.
fn short_name(name: &str) -> String {
    if name.chars().count() <= 11 {
        name.to_string()
    } else {
        format!("{}…", name.chars().take(10).collect::<String>())
    }
}

/// Moves the names at the lines' ends apart, keeping their order by height, so that no two are
/// closer than a label's height and all stay within the plot's height (`bottom`).
fn spread_labels(nodes: &mut [NodeLine], bottom: f64) {
    let mut order: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].label_y.is_some()).collect();
    // Through the core's one sort routine (a slice sort would compile another into the bundle).
    svcsim_core::order::sort_by(&mut order, |&a, &b| {
        nodes[a].label_y.partial_cmp(&nodes[b].label_y).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b))
    });
    let mut ys: Vec<f64> = order.iter().map(|&i| nodes[i].label_y.unwrap_or(0.0)).collect();
    for k in 1..ys.len() {
        ys[k] = ys[k].max(ys[k - 1] + LABEL_GAP);
    }
    // Pushed past the bottom: slide the stack up, still a label apart.
    let bottom = bottom + 4.0;
    if let Some(&overflow) = ys.last().filter(|y| **y > bottom) {
        let shift = overflow - bottom;
        for y in ys.iter_mut() {
            *y -= shift;
        }
        for k in (0..ys.len().saturating_sub(1)).rev() {
            ys[k] = ys[k].min(ys[k + 1] - LABEL_GAP);
        }
    }
    for (&i, y) in order.iter().zip(ys) {
        nodes[i].label_y = Some(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(label: &str, y: f64) -> NodeLine {
        NodeLine { label: label.into(), points: vec![(0.0, y)], label_y: Some(y) }
    }

    #[test]
    fn node_names_at_one_value_are_moved_a_label_apart_and_stay_in_the_plot() {
        const BOTTOM: f64 = FULL.bottom;
        const TOP: f64 = FULL.top;
        let mut nodes: Vec<NodeLine> = (0..10).map(|i| line(&format!("node-{i}"), BOTTOM)).collect();
        spread_labels(&mut nodes, BOTTOM);
        let mut ys: Vec<f64> = nodes.iter().map(|n| n.label_y.unwrap()).collect();
        ys.sort_by(f64::total_cmp);
        for w in ys.windows(2) {
            assert!(w[1] - w[0] >= LABEL_GAP - 1e-9, "{ys:?}");
        }
        assert!(*ys.last().unwrap() <= BOTTOM + 4.0, "{ys:?}");
        let mut two = vec![line("node-0", TOP), line("node-1", BOTTOM)];
        spread_labels(&mut two, BOTTOM);
        assert_eq!((two[0].label_y, two[1].label_y), (Some(TOP), Some(BOTTOM)), "names far apart stay put");
    }

    #[test]
    fn the_switch_to_local_is_marked_and_each_minute_reads_its_nodes() {
        let m = crate::model::Model::from_fragment("preset=aks-blog-switch&t=300s", false).settled();
        let e = m.engine.borrow();
        let names: Vec<String> = e.sim.cluster().nodes.iter().map(|n| n.name.clone()).collect();
        let p = crate::view::probe_panel(e.sim.record(), names.len(), m.t, None).unwrap();
        let c = probe_chart(&p, &names, e.sim.record(), m.t, FULL);
        assert_eq!(c.transitions.len(), 1, "{:?}", c.transitions);
        assert!(c.transitions[0].1.starts_with("minute 1: "), "{:?}", c.transitions);
        assert_eq!(c.aggregate.first().unwrap().readout, "minute 0: 100% (node-0 100%, node-1 100%)");
        assert_eq!(c.aggregate.last().unwrap().readout, "minute 4: 50% (node-0 100%, node-1 0%)");
        let ticks: Vec<&str> = c.x_ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(ticks, ["0", "1", "2", "3", "4", "5"]);
        assert_eq!(c.x_ticks.last().unwrap().0, FULL.right, "five minutes fill the width");
        // The compact chart says the same, in less room.
        let small = probe_chart(&p, &names, e.sim.record(), m.t, COMPACT);
        assert_eq!(
            small.aggregate.iter().map(|p| &p.readout).collect::<Vec<_>>(),
            c.aggregate.iter().map(|p| &p.readout).collect::<Vec<_>>()
        );
        assert_eq!(small.x_ticks.last().unwrap().0, COMPACT.right);
    }

    #[test]
    fn a_long_node_name_is_cut_to_the_margin() {
        assert_eq!(short_name("node-0"), "node-0");
        assert_eq!(short_name("aks-nodepool1-12345678-vmss000000"), "aks-nodepo…");
    }
}
