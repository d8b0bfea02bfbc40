//! One frame's view model: every fact the page shows at the cursor, computed once per frame from
//! the run and handed to the panels (`ui`), which only draw it.
//!
//! `view = f(run, t)`: [`Frame::at`] is that `f`. A panel takes the narrow part of a frame it
//! draws as its props, so it is redrawn only when that part changes.

use svcsim_core::record::FlowId;

use crate::engine::Engine;
use crate::layout::Orientation;
use crate::model::MarkerKind;
use crate::scene::Status;
use crate::tags::{Tag, tags};
use crate::view::{self, ProbePanel, Sprite};

/// What the app printed last: the client that asked, the output, the flow, and the moment the
/// answer reached the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub client: String,
    pub output: String,
    pub flow: FlowId,
    pub at: f64,
}

impl Answer {
    /// The output's first line, as the compact views print it.
    pub fn first_line(&self) -> &str {
        self.output.lines().next().unwrap_or("")
    }
}

/// The topology at the cursor: the arrangement, the packets in flight with their tags, and the
/// state the still picture is drawn from.
#[derive(Debug)]
pub struct Picture {
    pub orientation: Orientation,
    pub sprites: Vec<Sprite>,
    pub tags: Vec<Tag>,
    pub status: Status,
}

impl Picture {
    /// More packets than this are drawn as one path per kind (the selected one stays apart).
    pub fn crowded(&self) -> bool {
        self.sprites.len() > view::CROWD_FROM
    }
}

/// Everything one run shows at `t`.
#[derive(Debug)]
pub struct Frame {
    pub t: f64,
    /// The time of the last event the log shows (`-1` before the first): the last at `t`, or
    /// while playing the last at the start of its [`Frame::at`] `log_every` step.
    pub log_upto: f64,
    /// The latest event, in the trace's words: the narration line screen readers read out.
    pub narration: String,
    /// The selected flow's progress: (ended, replied, hops of its request).
    pub progress: Option<(bool, bool, usize)>,
    pub answer: Option<Answer>,
    /// Health Probe Status, `None` without a cloud load balancer.
    pub probes: Option<ProbePanel>,
    /// How many changes (the user's and the scenario's) the run has made by `t`.
    pub changes: usize,
    pub picture: Picture,
}

/// Said before the first event.
pub const NO_EVENT_YET: &str = "Press Play (or Space) to run the scenario.";

impl Frame {
    /// The frame of `e`'s run at `t`, drawn in `orientation`; `selected` is the packet the user
    /// picked, and `reduced_motion` makes packets jump from place to place.
    ///
    /// `log_every` (seconds of the run, 0 for every frame) is how often the event log moves on:
    /// at hundreds of events a second nobody reads a log redrawn sixty times a second, and
    /// redrawing it was a quarter of a frame's work.
    pub fn at(
        e: &Engine,
        t: f64,
        orientation: Orientation,
        selected: Option<FlowId>,
        reduced_motion: bool,
        log_every: f64,
    ) -> Frame {
        let run = e.sim.record();
        let cluster = e.sim.cluster();
        let shown = e.log.partition_point(|(d, _)| *d <= t);
        let last = shown.checked_sub(1).map(|i| e.log[i]);
        let log_t = if log_every > 0.0 { (t / log_every).floor() * log_every } else { t };
        let log_upto = e.log[..shown].iter().rev().find(|(d, _)| *d <= log_t).map_or(-1.0, |(d, _)| *d);
        let narration = last.map_or(NO_EVENT_YET.to_string(), |(_, i)| run.render(&run.trace[i as usize]));
        let progress = selected
            .and_then(|f| run.get_flow(f))
            .map(|f| (f.end.is_some(), f.reply.is_some(), run.packet(f.request).hops.len()));
        let answer = view::app_output(run, t).map(|(client, output, flow)| {
            let at = run.get_flow(flow).map_or(0.0, |f| view::display_end(run, f));
            Answer { client, output, flow, at }
        });
        let probes = view::probe_panel(run, cluster.nodes.len(), t, view::shown_family(e.sim.scenario(), cluster));
        let changes = e.markers.iter().filter(|m| m.kind == MarkerKind::Change && m.t <= t).count();
        let layout = e.layout(orientation);
        let sprites = view::sprites(run, layout, e.sim.scenario(), cluster, t, reduced_motion);
        let tags = tags(run, layout, &sprites, selected);
        let status = Status::new(run, cluster, t, probes.as_ref());
        let picture = Picture { orientation, sprites, tags, status };
        Frame { t, log_upto, narration, progress, answer, probes, changes, picture }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    /// The frame a link opens at, with its run computed as the app's effect would.
    fn frame(fragment: &str) -> Frame {
        let m = Model::from_fragment(fragment, false).settled();
        let e = m.engine.borrow();
        Frame::at(&e, m.t, Orientation::Wide, m.selected, m.reduced_motion, 0.0)
    }

    #[test]
    fn while_playing_the_log_moves_on_in_steps_and_paused_it_is_exact() {
        let m = Model::from_fragment("preset=aks-blog&t=30.9s", false).settled();
        let e = m.engine.borrow();
        let at = |t: f64, every: f64| Frame::at(&e, t, Orientation::Wide, None, false, every).log_upto;
        assert!(at(30.9, 0.0) > 30.5, "paused: the last event up to the cursor, {}", at(30.9, 0.0));
        assert!(at(30.9, 1.0) <= 30.0, "playing: the last event up to the step's start, {}", at(30.9, 1.0));
        assert_eq!(at(30.9, 1.0), at(30.1, 1.0), "one step, one log");
    }

    #[test]
    fn at_the_start_the_frame_narrates_the_service_and_draws_no_packet() {
        let f = frame("preset=aks-blog&t=0s");
        assert!(f.narration.starts_with("service default/node-service: LoadBalancer"), "{}", f.narration);
        assert_eq!((f.log_upto, f.answer.as_ref(), f.changes), (0.0, None, 0));
        assert!(f.picture.sprites.is_empty() && f.picture.tags.is_empty());
    }

    #[test]
    fn the_topology_and_the_probe_panel_agree_on_rotation() {
        // After the switch to Local the node without a pod leaves rotation: the panel's count and the node
        // drawn out of rotation come from the one computation.
        let f = frame("preset=aks-blog-switch&t=300s");
        let probes = f.probes.as_ref().expect("aks-blog-switch has an Azure LB");
        let (drawn, reasons) = f.picture.status.rotation.clone().expect("and so a rotation");
        assert_eq!(drawn, [true, false]);
        assert_eq!((drawn, reasons), (probes.in_rotation.clone(), probes.reasons.clone()));
        assert!(probes.reasons[1].as_deref().is_some_and(|r| r.contains("503")), "{:?}", probes.reasons);
        assert_eq!(f.changes, 1);
    }

    #[test]
    fn an_answer_is_what_the_app_printed_and_when_it_arrived() {
        let f = frame("preset=aks-blog&etp=Local&t=120s");
        let a = f.answer.expect("answered by 120 s");
        assert_eq!((a.first_line(), a.client.as_str()), ("::ffff:198.51.100.79", "laptop"));
        assert!(a.at > 100.0 && a.at <= 120.0, "{a:?}");
        assert!(f.log_upto >= a.at && f.log_upto <= 120.0, "{} {}", f.log_upto, a.at);
        assert_ne!(f.narration, NO_EVENT_YET);
    }
}
