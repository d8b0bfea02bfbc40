//! Packet tags: the `src`/`dst` a packet carries, written beside it in the label band of the
//! node it is in (or the band above the load balancer), with a leader line to the packet. A tag
//! on the leg after a rewrite shows it: the old address struck through, the new one marked, and
//! the words DNAT, SNAT, un-DNAT or un-SNAT. Bands hold no other text, so a tag never covers a
//! name or an address; tags that would cover each other are left out, the selected packet's
//! first.

use svcsim_core::record::{FlowId, Initiator, Run};

use crate::layout::{BAND_H, Layout, Point, Rect};
use crate::scene::{Anchor, CHAR_W, extent};
use crate::view::{Sprite, SpriteKind};

/// The font size of a tag's text.
pub const TAG_SIZE: f64 = 10.5;
/// At most this many tags are drawn at once (the selected packet's and the newest others').
pub const MAX_TAGS: usize = 4;
const PAD: f64 = 4.0;

/// One run of text in a tag, styled by its class: `tag` (the field's word), `old` (struck
/// through), `new` (the rewritten value) or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub class: &'static str,
    pub text: String,
}

fn span(class: &'static str, text: impl Into<String>) -> Span {
    Span { class, text: text.into() }
}

/// A packet's tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub flow: FlowId,
    pub leg: u32,
    pub kind: SpriteKind,
    pub selected: bool,
    pub rect: Rect,
    /// Two lines, each a run of spans separated by spaces.
    pub lines: [Vec<Span>; 2],
    /// From the packet to the tag.
    pub leader: (Point, Point),
}

impl Tag {
    /// A line's text as drawn (spans joined by spaces).
    pub fn line_text(&self, i: usize) -> String {
        self.lines[i].iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ")
    }
    /// The baseline of line `i`.
    pub fn baseline(&self, i: usize) -> f64 {
        self.rect.y + 13.0 + 15.0 * i as f64
    }
    /// The box each line's text is estimated to cover.
    pub fn extents(&self) -> [Rect; 2] {
        [0, 1].map(|i| {
            extent(self.rect.x + PAD, self.baseline(i), TAG_SIZE, Anchor::Start, self.line_text(i).chars().count())
        })
    }
}

/// What a sprite's tag says.
fn lines(run: &Run, s: &Sprite) -> [Vec<Span>; 2] {
    let flow = run.get_flow(s.flow);
    match (s.kind, s.header) {
        (SpriteKind::Dropped | SpriteKind::Rejected, _) | (_, None) => {
            let word = if s.kind == SpriteKind::Rejected { "REJECT" } else { "DROP" };
            let detail = s.detail();
            let (a, b) = split(&detail, 44);
            [vec![span("tag drop", word), span("", a)], vec![span("", b)]]
        }
        (SpriteKind::Probe, Some(h)) => [
            vec![span("tag", "probe"), span("", h.dst.to_string())],
            vec![span("tag", "from"), span("", h.src.to_string())],
        ],
        (SpriteKind::ProbeOk | SpriteKind::ProbeFailed, Some(h)) => {
            let result = flow.and_then(|f| f.probe_result).map_or("…".to_string(), |r| r.to_string());
            let class = if s.kind == SpriteKind::ProbeOk { "new ok" } else { "new bad" };
            [vec![span("tag", "probe"), span("", h.src.to_string())], vec![span("tag", "result"), span(class, result)]]
        }
        (_, Some(h)) => {
            let forward = s.kind != SpriteKind::Reply;
            let (src_word, dst_word) = if forward { ("SNAT", "DNAT") } else { ("un-DNAT", "un-SNAT") };
            let (src_class, dst_class) = if forward { ("snat", "dnat") } else { ("dnat", "snat") };
            let field =
                |name: &'static str, now: String, was: Option<String>, word: &'static str, class: &'static str| {
                    match was {
                        Some(old) if old != now => {
                            vec![span(tag_class(class), word), span("old", old), span(new_class(class), now)]
                        }
                        _ => vec![span("tag", name), span("", now)],
                    }
                };
            [
                field("src", h.src.to_string(), s.was.map(|w| w.src.to_string()), src_word, src_class),
                field("dst", h.dst.to_string(), s.was.map(|w| w.dst.to_string()), dst_word, dst_class),
            ]
        }
    }
}

fn tag_class(class: &str) -> &'static str {
    if class == "snat" { "tag snat" } else { "tag dnat" }
}

fn new_class(class: &str) -> &'static str {
    if class == "snat" { "new snat" } else { "new dnat" }
}

/// `text` in two lines of at most `width` characters, broken at a space where it can be.
fn split(text: &str, width: usize) -> (String, String) {
    if text.chars().count() <= width {
        return (text.to_string(), String::new());
    }
    let head: String = text.chars().take(width).collect();
    let cut = head.rfind(' ').filter(|i| *i > width / 2).unwrap_or(head.len());
    let (a, b) = text.split_at(cut);
    (a.trim_end().to_string(), b.trim_start().to_string())
}

/// The band a packet at `at` is labelled in: its node's (a node box, with the bus beside it), or
/// the band above the load balancer.
pub fn band_at(l: &Layout, at: Point) -> Rect {
    l.nodes
        .iter()
        .filter(|n| at.x >= n.rect.x - 20.0 && at.x <= n.rect.right())
        .map(|n| (n, (n.rect.y - at.y).max(at.y - n.rect.bottom()).max(0.0)))
        .filter(|(_, d)| *d <= 30.0)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(l.band, |(n, _)| n.band)
}

/// Shortens a line's last span so the line fits `chars` characters.
fn fit(line: &mut [Span], chars: usize) {
    let total: usize = line.iter().map(|s| s.text.chars().count()).sum::<usize>() + line.len().saturating_sub(1);
    if total > chars
        && let Some(last) = line.last_mut()
    {
        let keep = last.text.chars().count().saturating_sub(total - chars + 1);
        last.text = format!("{}…", last.text.chars().take(keep).collect::<String>());
    }
}

/// The tags drawn at this frame: the selected packet's first, then the newest others', up to
/// [`MAX_TAGS`], each in its band and none over another.
pub fn tags(run: &Run, l: &Layout, sprites: &[Sprite], selected: Option<FlowId>) -> Vec<Tag> {
    let order = sprites
        .iter()
        .filter(|s| Some(s.flow) == selected)
        .chain(sprites.iter().rev().filter(|s| Some(s.flow) != selected));
    let mut out: Vec<Tag> = Vec::new();
    for s in order {
        if out.len() == MAX_TAGS {
            break;
        }
        // Probes are tagged only when asked for: there is one per node every few seconds.
        if matches!(run.get_flow(s.flow).map(|f| f.initiator), Some(Initiator::Probe { .. }))
            && Some(s.flow) != selected
            && s.kind == SpriteKind::Probe
        {
            continue;
        }
        let band = band_at(l, s.at);
        let chars = ((band.w - 2.0 * PAD) / (TAG_SIZE * CHAR_W)) as usize;
        let mut lines = lines(run, s);
        for line in &mut lines {
            fit(line, chars);
        }
        let longest = lines
            .iter()
            .map(|l| l.iter().map(|s| s.text.chars().count()).sum::<usize>() + l.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        let w = longest as f64 * TAG_SIZE * CHAR_W + 2.0 * PAD;
        let x = (s.at.x - w / 2.0).clamp(band.x, band.right() - w);
        let rect = Rect { x, y: band.y, w, h: BAND_H };
        if out.iter().any(|t| t.rect.overlaps(&rect)) {
            continue;
        }
        let end =
            Point { x: s.at.x.clamp(rect.x, rect.right()), y: if s.at.y < rect.y { rect.y } else { rect.bottom() } };
        out.push(Tag {
            flow: s.flow,
            leg: s.leg,
            kind: s.kind,
            selected: Some(s.flow) == selected,
            rect,
            lines,
            leader: (s.at, end),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Orientation;
    use crate::view::{HOP, sprites};
    use svcsim_core::cluster::TrafficPolicy;
    use svcsim_core::manifest::{Overrides, load};
    use svcsim_core::sim::Sim;

    fn run(etp: TrafficPolicy) -> Sim {
        let o = Overrides { external_traffic_policy: Some(etp), ..Default::default() };
        let mut sim = Sim::new(load(include_str!("../../scenarios/aks-blog.yaml"), &o).unwrap().scenario);
        sim.run_until(svcsim_core::time::Instant::from_secs(5));
        sim
    }

    /// The first request's tag, leg by leg, as text.
    fn story(sim: &Sim) -> Vec<String> {
        let run = sim.record();
        let l = Layout::new(sim.scenario(), sim.cluster(), Orientation::Wide);
        let first = run.flows.iter().find(|f| matches!(f.initiator, Initiator::Client(_))).unwrap();
        (0..5)
            .map(|leg| {
                let t = first.start.as_secs_f64() + (leg as f64 + 0.5) * HOP;
                let s = sprites(run, &l, sim.scenario(), sim.cluster(), t, false);
                let tag = tags(run, &l, &s, Some(first.id)).into_iter().find(|t| t.flow == first.id).unwrap();
                let spans = |i: usize| {
                    tag.lines[i]
                        .iter()
                        .map(|s| if s.class.is_empty() { s.text.clone() } else { format!("[{}]{}", s.class, s.text) })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                format!("leg {leg}: {} | {}", spans(0), spans(1))
            })
            .collect()
    }

    #[test]
    fn under_cluster_the_tag_reads_the_client_before_the_proxy_stage_and_the_node_after() {
        expect_test::expect![[r#"
            leg 0: [tag]src 198.51.100.79:46126 | [tag]dst 203.0.113.10:80
            leg 1: [tag]src 198.51.100.79:46126 | [tag]dst 203.0.113.10:80
            leg 2: [tag snat]SNAT [old]198.51.100.79:46126 [new snat]10.244.0.1:51329 | [tag dnat]DNAT [old]203.0.113.10:80 [new dnat]10.244.0.2:8080
            leg 3: [tag]src 10.244.0.2:8080 | [tag]dst 10.244.0.1:51329
            leg 4: [tag dnat]un-DNAT [old]10.244.0.2:8080 [new dnat]203.0.113.10:80 | [tag snat]un-SNAT [old]10.244.0.1:51329 [new snat]198.51.100.79:46126"#]]
        .assert_eq(&story(&run(TrafficPolicy::Cluster)).join("\n"));
    }

    #[test]
    fn under_local_the_clients_address_reaches_the_pod() {
        let story = story(&run(TrafficPolicy::Local));
        assert!(story[2].contains("[tag]src 198.51.100.79:46126"), "{}", story[2]);
        assert!(story[2].contains("[tag dnat]DNAT"), "{}", story[2]);
    }

    #[test]
    fn tags_stay_in_their_bands_and_never_cover_each_other_or_the_pictures_text() {
        let sim = {
            let mut sim = Sim::new(
                load(include_str!("../../scenarios/local-imbalance.yaml"), &Overrides::default()).unwrap().scenario,
            );
            sim.run_until(svcsim_core::time::Instant::from_secs(30));
            sim
        };
        let run = sim.record();
        for o in [Orientation::Wide, Orientation::Tall] {
            let l = Layout::new(sim.scenario(), sim.cluster(), o);
            let status = crate::scene::Status::at(run, sim.cluster(), 20.0);
            let scene = crate::scene::Scene::new(&l, sim.scenario(), sim.cluster(), &status);
            let mut drawn = 0;
            for step in 0..200 {
                let t = 10.0 + step as f64 * 0.05;
                let s = sprites(run, &l, sim.scenario(), sim.cluster(), t, false);
                let tags = tags(run, &l, &s, None);
                drawn += tags.len();
                for (i, a) in tags.iter().enumerate() {
                    let band = band_at(&l, a.leader.0);
                    assert!(band.encloses(&a.rect), "{o:?} t={t}: a tag inside its band");
                    for e in a.extents() {
                        assert!(a.rect.encloses(&e) || e.w == 0.0, "{o:?} t={t}: {e:?} inside {:?}", a.rect);
                        assert!(
                            scene.texts().all(|s| !s.extent().overlaps(&e)),
                            "{o:?} t={t}: a tag over the picture's text"
                        );
                    }
                    assert!(tags[i + 1..].iter().all(|b| !b.rect.overlaps(&a.rect)));
                }
            }
            assert!(drawn > 200, "{o:?}: tags were drawn ({drawn})");
        }
    }
}
