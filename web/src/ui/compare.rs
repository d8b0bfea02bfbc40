//! The compare view: Cluster and Local side by side on one cursor, and the table of what differs.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::frame::Frame;
use crate::model::{Action, Engine, Model};
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
    html! {
        <div class="compare" data-testid="compare">
            <div class="compare-panes">
                <div class="pane" data-testid="pane-cluster" data-t={t.clone()}>
                    <h2>{ "externalTrafficPolicy: Cluster" }</h2>
                    { topology(model, &model.engine, &frame.picture, dispatch) }
                </div>
                <div class="pane" data-testid="pane-local" data-t={t}>
                    <h2>{ "externalTrafficPolicy: Local" }</h2>
                    { topology(model, twin, &twin_frame.picture, dispatch) }
                </div>
            </div>
            <table class="compare-table" data-testid="compare-table">
                <caption>{ format!("At t = {}: the same seed and traffic, one policy each. ≠ marks a difference.", clock(model.t)) }</caption>
                <thead><tr><th scope="col">{ "" }</th><th scope="col">{ "Cluster" }</th><th scope="col">{ "Local" }</th></tr></thead>
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
            <button class="btn small" data-testid="compare-off" onclick={dispatch.reform(|_| Action::Compare(false))}>{ "Back to one run" }</button>
        </div>
    }
}
