//! The root component: owns the one reducer, drives it with animation frames and the keyboard,
//! computes the run in an effect (never in the reducer), and lays out the panels (drawn by `ui`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use gloo::render::{AnimationFrame, request_animation_frame};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::browser;
use crate::model::{Action, Model};
use crate::ui;

/// Drives `Action::Frame` from `requestAnimationFrame`, cancelled when the page goes away.
struct Ticker {
    frame: RefCell<Option<AnimationFrame>>,
    last: Cell<Option<f64>>,
    dispatch: Callback<Action>,
}

impl Ticker {
    fn start(self: &Rc<Self>) {
        let me = Rc::clone(self);
        *self.frame.borrow_mut() = Some(request_animation_frame(move |ts| {
            let dt = me.last.get().map_or(0.0, |last| ts - last);
            me.last.set(Some(ts));
            me.dispatch.emit(Action::Frame(dt));
            me.start();
        }));
    }
}

/// The svcsim page.
#[function_component(App)]
pub fn app() -> Html {
    let model = use_reducer(|| Model::from_fragment(&browser::fragment(), browser::reduced_motion()));

    {
        let dispatch = {
            let model = model.clone();
            Callback::from(move |a| model.dispatch(a))
        };
        use_effect_with((), move |_| {
            let ticker = Rc::new(Ticker { frame: RefCell::new(None), last: Cell::new(None), dispatch });
            ticker.start();
            move || {
                ticker.frame.borrow_mut().take();
            }
        });
    }

    {
        let model = model.clone();
        use_effect_with((), move |_| {
            let document = web_sys::window().and_then(|w| w.document()).expect("a page has a document");
            // Not passive: Space must not also scroll the page.
            let options = EventListenerOptions::enable_prevent_default();
            let listener = EventListener::new_with_options(&document, "keydown", options, move |event| {
                let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else { return };
                let typing = event
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT" | "BUTTON"))
                    .unwrap_or(false);
                if typing || key.ctrl_key() || key.meta_key() || key.alt_key() {
                    return;
                }
                let action = match key.key().as_str() {
                    " " => Action::TogglePlay,
                    "ArrowRight" => Action::Step(1),
                    "ArrowLeft" => Action::Step(-1),
                    _ => return,
                };
                event.prevent_default();
                model.dispatch(action);
            });
            move || drop(listener)
        });
    }

    // A narrow viewport (a phone) gets the topology drawn tall, so its text stays readable.
    {
        let model = model.clone();
        use_effect_with(model.embed, move |embed| {
            let query = if *embed { "(max-width: 599px)" } else { "(max-width: 759px)" };
            let list = web_sys::window().and_then(|w| w.match_media(query).ok().flatten());
            let listener = list.map(|list| {
                model.dispatch(Action::Narrow(list.matches()));
                let changed = list.clone();
                EventListener::new(&list, "change", move |_| model.dispatch(Action::Narrow(changed.matches())))
            });
            move || drop(listener)
        });
    }

    // The address bar follows the page (a lesson's step included), so a reload or a shared
    // address returns to it; no history entry is made per change.
    use_effect_with(model.address.clone(), |address| {
        if let (Some(fragment), Some(window)) = (address, web_sys::window())
            && let Ok(history) = window.history()
        {
            let url = format!("{}#{fragment}", browser::page_url());
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    });

    use_effect_with(model.shared.clone(), |shared| {
        if let Some(fragment) = shared {
            browser::publish(fragment);
        }
    });

    // The run is computed here, after the render, never in the reducer: toward the cursor in
    // budgeted chunks. When the clock is not running, a chunk that computed something bumps
    // `generation`, which redraws the page and runs this again until the run is ahead of the
    // cursor; while it runs, every frame does.
    let generation = use_state(|| 0u64);
    {
        let (model, generation) = (model.clone(), generation.clone());
        let engines = (Rc::as_ptr(&model.engine) as usize, model.twin.as_ref().map(|t| Rc::as_ptr(t) as usize));
        use_effect_with((engines, model.t.to_bits(), *generation), move |_| {
            // While the clock runs, the next frame draws what was computed; otherwise (paused,
            // or the cursor waiting for the run) a redraw is asked for.
            if model.advance() && (!model.playing || model.computing()) {
                generation.set(*generation + 1);
            }
        });
    }

    // One callback for the page's life, so panels' props compare equal from frame to frame.
    let dispatch = {
        let dispatcher = model.dispatcher();
        use_memo((), move |_| Callback::from(move |a: Action| dispatcher.dispatch(a)))
    };
    ui::page(&model, &dispatch)
}
