//! The topology panel: the still picture ([`Scene`]) redrawn only when the cluster's state
//! changes, and over it the packets and their tags ([`tags`]) every frame.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::frame::Picture;
use crate::layout::{Orientation, Point};
use crate::model::{Action, Engine, Model};
use crate::scene::{Scene, Shape, Status, Text};
use crate::tags::{TAG_SIZE, Tag};
use crate::view::{self, SpriteKind};

use super::RunRef;

/// A packet's shape, as the legend draws it, centred at `at`.
pub fn shape(kind: SpriteKind, at: Point) -> Html {
    let (x, y) = (at.x, at.y);
    match kind {
        SpriteKind::Original => html! { <circle cx={x.to_string()} cy={y.to_string()} r="7" /> },
        SpriteKind::Dnat | SpriteKind::DnatSnat => {
            let pts = format!("{},{} {},{} {},{} {},{}", x, y - 9.0, x + 9.0, y, x, y + 9.0, x - 9.0, y);
            html! { <polygon points={pts} /> }
        }
        SpriteKind::Reply => {
            html! { <rect x={(x - 7.0).to_string()} y={(y - 7.0).to_string()} width="14" height="14" /> }
        }
        SpriteKind::Probe | SpriteKind::ProbeOk | SpriteKind::ProbeFailed => {
            let pts = format!("{},{} {},{} {},{}", x, y - 8.0, x + 8.0, y + 7.0, x - 8.0, y + 7.0);
            html! { <polygon points={pts} /> }
        }
        SpriteKind::Dropped | SpriteKind::Rejected => {
            let d = format!(
                "M{} {} L{} {} M{} {} L{} {}",
                x - 8.0,
                y - 8.0,
                x + 8.0,
                y + 8.0,
                x + 8.0,
                y - 8.0,
                x - 8.0,
                y + 8.0
            );
            html! { <path d={d} class="x" /> }
        }
    }
}

fn points(path: &[Point]) -> String {
    path.iter().map(|p| format!("{:.1},{:.1}", p.x, p.y)).collect::<Vec<_>>().join(" ")
}

fn text(t: &Text) -> Html {
    html! {
        <text x={format!("{:.1}", t.x)} y={format!("{:.1}", t.y)} font-size={t.size.to_string()} text-anchor={t.anchor.svg()} class={t.class}>
            if let Some(title) = &t.title { <title>{ title.clone() }</title> }
            { t.text.clone() }
        </text>
    }
}

/// What the still picture depends on: the run (its layout and cluster), the arrangement and the
/// state of pods, nodes and rotation.
#[derive(Properties, PartialEq)]
struct StillProps {
    run: RunRef,
    orientation: Orientation,
    status: Status,
}

/// The still picture: links, then each box with its texts. Redrawn only when its props change.
#[function_component(Still)]
fn still(p: &StillProps) -> Html {
    let e = p.run.0.borrow();
    let scene = Scene::new(e.layout(p.orientation), e.sim.scenario(), e.sim.cluster(), &p.status);
    html! {
        <g class="static">
            <g class="links">
                { for scene.links.iter().map(|l| html! { <polyline points={points(l)} /> }) }
            </g>
            { for scene.items.iter().map(|item| html! {
                <g class={item.class.clone()} data-testid={item.testid.clone()}>
                    { for item.shapes.iter().map(|s| match s {
                        Shape::Rect { rect, rx, class } => html! {
                            <rect class={*class} x={rect.x.to_string()} y={rect.y.to_string()} width={rect.w.to_string()} height={rect.h.to_string()} rx={rx.to_string()} />
                        },
                        Shape::Ellipse { center, rx, ry } => html! {
                            <ellipse cx={center.x.to_string()} cy={center.y.to_string()} rx={rx.to_string()} ry={ry.to_string()} />
                        },
                    }) }
                    { for item.texts.iter().map(text) }
                </g>
            }) }
        </g>
    }
}

/// A packet's tag: a leader line to the packet, a plate, and its two lines. The plate and its
/// text are drawn at the origin and moved as a whole, so a moving tag changes one transform and
/// its text is never laid out again.
fn tag(t: &Tag) -> Html {
    let (a, b) = t.leader;
    let class = format!("tag {}{}", t.kind.class(), if t.selected { " selected" } else { "" });
    let (x, y) = (t.rect.x, t.rect.y);
    html! {
        <g key={format!("{}-{}", t.flow.0, t.leg)} {class} data-testid="packet-tag" data-flow={t.flow.0.to_string()} data-leg={t.leg.to_string()}>
            <line class="leader" x1={format!("{:.1}", a.x)} y1={format!("{:.1}", a.y)} x2={format!("{:.1}", b.x)} y2={format!("{:.1}", b.y)} />
            <g transform={format!("translate({x:.1} {y:.1})")}>
                <rect class="plate" width={format!("{:.1}", t.rect.w)} height={format!("{:.1}", t.rect.h)} rx="4" />
                { for (0..2).filter(|i| !t.lines[*i].is_empty()).map(|i| html! {
                    <text x="4" y={format!("{:.1}", t.baseline(i) - y)} font-size={TAG_SIZE.to_string()}>
                        { for t.lines[i].iter().enumerate().map(|(k, s)| html! {
                            <>
                                { if k > 0 { " " } else { "" } }
                                <tspan class={s.class}>{ s.text.clone() }</tspan>
                            </>
                        }) }
                    </text>
                }) }
            </g>
        </g>
    }
}

/// The arrangement the topology is drawn in for this page and pane.
pub fn orientation(model: &Model, pane: bool) -> Orientation {
    if pane || model.narrow { Orientation::Tall } else { Orientation::Wide }
}

/// The topology of one run (`engine`: the page's, or the compare view's twin) as its frame's
/// `picture` has it.
pub fn topology(model: &Model, engine: &Rc<RefCell<Engine>>, picture: &Picture, dispatch: &Callback<Action>) -> Html {
    let e = engine.borrow();
    let o = picture.orientation;
    let l = e.layout(o);
    let (sprites, tags) = (&picture.sprites, &picture.tags);
    // A very crowded screen draws each kind of packet as one path (the selected one stays apart).
    let crowded = picture.crowded();
    // A click on a crowd selects the packet drawn under the pointer.
    let on_crowd_click = {
        let places: Vec<_> = if crowded { sprites.iter().map(|s| (s.flow, s.at)).collect() } else { Vec::new() };
        let (width, height) = (l.width, l.height);
        dispatch.reform(move |ev: MouseEvent| {
            let svg = ev.target_unchecked_into::<web_sys::Element>().closest("svg").ok().flatten();
            let at = svg.map(|svg| {
                // The viewBox is fitted into the element, centred (preserveAspectRatio's default).
                let r = svg.get_bounding_client_rect();
                let scale = (r.width() / width).min(r.height() / height);
                let x = (f64::from(ev.client_x()) - r.left() - (r.width() - width * scale) / 2.0) / scale;
                let y = (f64::from(ev.client_y()) - r.top() - (r.height() - height * scale) / 2.0) / scale;
                Point { x, y }
            });
            Action::Select(at.and_then(|at| view::nearest(&places, at, 12.0)))
        })
    };
    // Redrawn when what it shows changes, not every frame.
    let status = picture.status.clone();
    let class = if o == Orientation::Wide { "topology wide" } else { "topology tall" };
    let view_box = format!("0 0 {} {}", l.width, l.height);
    // Two layers with one viewBox: the still picture, painted again only when it changes, and
    // over it the packets and tags, which change every frame and are their own layer.
    html! {
        <div {class} role="img" data-testid="topology"
             aria-label="Topology: clients, internet, load balancer, nodes with their NIC, service proxy and pods, with packets moving between them">
            <svg class="still" viewBox={view_box.clone()}>
                <Still run={RunRef(Rc::clone(engine))} orientation={o} {status} />
            </svg>
            <svg class="moving" viewBox={view_box}>
            // Tags under the packets: a tag never hides the packet it names.
            <g class="tags">{ for tags.iter().map(tag) }</g>
            <g class="packets" data-packets={sprites.len().to_string()}>
                if crowded {
                    { for view::crowd(sprites, model.selected).into_iter().map(|c| {
                        let title = format!("{} × {}", c.count, c.kind.label());
                        let drop = matches!(c.kind, SpriteKind::Dropped | SpriteKind::Rejected);
                        html! {
                            <g class={format!("packet crowd {}", c.kind.class())} onclick={on_crowd_click.clone()}>
                                <title>{ title }</title>
                                <path class={if drop { "x" } else { "shapes" }} d={c.d} />
                            </g>
                        }
                    }) }
                }
                { for sprites.iter().filter(|s| !crowded || model.selected == Some(s.flow)).map(|s| {
                    let flow = s.flow;
                    let onclick = dispatch.reform(move |_| Action::Select(Some(flow)));
                    let selected = model.selected == Some(s.flow);
                    let cls = format!("packet {}{}", s.kind.class(), if selected { " selected" } else { "" });
                    // Drawn once at the origin and moved as a whole: one attribute changes per frame.
                    let transform = format!("translate({:.1} {:.1})", s.at.x, s.at.y);
                    html! {
                        <g key={flow.0} class={cls} {transform} {onclick}>
                            <title>{ format!("{}: {}", s.kind.label(), s.detail()) }</title>
                            { shape(s.kind, Point { x: 0.0, y: 0.0 }) }
                        </g>
                    }
                }) }
            </g>
            </svg>
        </div>
    }
}
