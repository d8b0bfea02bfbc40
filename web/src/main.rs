//! The svcsim web app's entry point: a panic hook that replaces a blank page with an error panel,
//! then the root component.

use svcsim_web::app;
use wasm_bindgen::JsCast;

fn main() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_error_panel(&info.to_string());
    }));
    yew::Renderer::<app::App>::new().render();
}

/// Errors never blank the page: whatever broke, say so and offer a reload.
fn show_error_panel(message: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let Ok(panel) = document.create_element("div") else { return };
    panel.set_class_name("error-panel");
    panel.set_attribute("role", "alert").ok();
    let heading = document.create_element("h2").ok();
    let text = document.create_element("pre").ok();
    let button = document.create_element("button").ok();
    if let (Some(h), Some(p), Some(b)) = (heading, text, button) {
        h.set_text_content(Some("svcsim stopped because of a bug"));
        p.set_text_content(Some(message));
        b.set_text_content(Some("Reload the page"));
        b.set_attribute("onclick", "location.reload()").ok();
        panel.append_child(&h).ok();
        panel.append_child(&p).ok();
        panel.append_child(&b).ok();
    }
    if let Some(body) = document.body() {
        body.append_child(panel.unchecked_ref()).ok();
    }
}
