//! The compare view: two runs side by side on one cursor (Cluster | Local, or Cilium's SNAT | DSR),
//! and the table of what differs.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::frame::Frame;
use crate::model::{Action, CompareKind, Engine, Model};
use crate::view;

use super::clock;
use super::topology::topology;

/// Cluster and Local side by side on one cursor, and what differs between them.
/// `frame` is the page's run (under Cluster) at the cursor, drawn tall; the twin's is computed here.
pub(super) fn compare_view(
    model: &Model,
    frame: &Frame,
    twin: &Rc<RefCell<Engine>>,
    dispatch: &Callback<Action>,
) -> Html {
    let (e, tw) = (model.engine.borrow(), twin.borrow());
    let twin_frame = super::frame_of(model, &tw, true);
    let rows = view::compare_rows(
        (e.sim.record(), e.sim.cluster(), frame.probes.as_ref()),
        (tw.sim.record(), tw.sim.cluster(), twin_frame.probes.as_ref()),
        model.t,
    );
    let t = format!("{:.2}", model.t);
    let (a, b, each) = match model.comparing {
        CompareKind::Policy => (
            ("externalTrafficPolicy: Cluster", "Cluster"),
            ("externalTrafficPolicy: Local", "Local"),
            "one policy each",
        ),
        CompareKind::Dsr => (
            ("Cilium loadBalancer.mode: snat", "SNAT"),
            ("Cilium loadBalancer.mode: dsr", "DSR"),
            "both under Cluster, one mode each",
        ),
    };
    html! {
        <div class="compare" data-testid="compare">
            <div class="compare-panes">
                <div class="pane" data-testid="pane-cluster" data-t={t.clone()}>
                    <h2>{ a.0 }</h2>
                    { topology(model, &model.engine, &frame.picture, dispatch) }
                </div>
                <div class="pane" data-testid="pane-local" data-t={t}>
                    <h2>{ b.0 }</h2>
                    { topology(model, twin, &twin_frame.picture, dispatch) }
                </div>
            </div>
            <table class="compare-table" data-testid="compare-table">
                <caption>{ format!("At t = {}: the same seed and traffic, {each}. ≠ marks a difference.", clock(model.t)) }</caption>
                <thead><tr><th scope="col">{ "" }</th><th scope="col">{ a.1 }</th><th scope="col">{ b.1 }</th></tr></thead>
                <tbody>
                    { for rows.iter().map(|r| html! {
                        <tr class={if r.differs() { "differs" } else { "" }}>
                            <th scope="row">{ if r.differs() { "≠ " } else { "" } }{ r.label }</th>
                            <td class="mono">{ r.cluster.clone() }</td>
                            <td class="mono">{ r.local.clone() }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <button class="btn small" data-testid="compare-off" onclick={dispatch.reform(|_| Action::Compare(None))}>{ "Back to one run" }</button>
        </div>
    }
}
