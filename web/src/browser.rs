//! The page's dealings with the browser outside Yew: the address (read and replaced), the
//! clipboard, the motion preference and the PNG download. Nothing here decides anything; the
//! reducer and the view models do.

use wasm_bindgen::JsCast;

pub fn reduced_motion() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-reduced-motion: reduce)").ok().flatten())
        .is_some_and(|m| m.matches())
}

/// The page's state from its URL: the fragment, plus `embed=1` when the query asks for it
/// (`page.html?embed=1#…`, the form an iframe snippet may use).
pub fn fragment() -> String {
    let location = web_sys::window().map(|w| w.location());
    let hash = location.as_ref().and_then(|l| l.hash().ok()).unwrap_or_default();
    let search = location.as_ref().and_then(|l| l.search().ok()).unwrap_or_default();
    let embed = search.trim_start_matches('?').split('&').any(|p| p == "embed=1");
    if embed { format!("{hash}&embed=1") } else { hash }
}

/// The page's address without its fragment.
pub fn page_url() -> String {
    let href = web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    href.split_once('#').map_or(href.clone(), |(base, _)| base.to_string())
}

/// Renders an SVG document to a PNG at twice its size and downloads it as `name`. Nothing is
/// sent anywhere: the image is drawn on a canvas in the page. Failures (no canvas, a refused
/// download) leave the page as it was.
pub fn download_png(svg: &str, name: String) {
    let Ok(img) = web_sys::HtmlImageElement::new() else { return };
    let loaded = img.clone();
    let onload = wasm_bindgen::closure::Closure::once(move || {
        let document = gloo::utils::document();
        let Ok(canvas) = document.create_element("canvas") else { return };
        let canvas: web_sys::HtmlCanvasElement = canvas.unchecked_into();
        let (w, h) = (loaded.natural_width(), loaded.natural_height());
        canvas.set_width(w * 2);
        canvas.set_height(h * 2);
        let Ok(Some(ctx)) = canvas.get_context("2d") else { return };
        let ctx: web_sys::CanvasRenderingContext2d = ctx.unchecked_into();
        let _ = ctx.scale(2.0, 2.0);
        let _ = ctx.draw_image_with_html_image_element(&loaded, 0.0, 0.0);
        let Ok(url) = canvas.to_data_url_with_type("image/png") else { return };
        let Ok(a) = document.create_element("a") else { return };
        let a: web_sys::HtmlAnchorElement = a.unchecked_into();
        a.set_href(&url);
        a.set_download(&name);
        a.click();
    });
    img.set_onload(Some(onload.as_ref().unchecked_ref()));
    // One closure per click, alive until the image has loaded.
    onload.forget();
    img.set_src(&crate::export::data_url("image/svg+xml", svg));
}

/// The full simulator's address: this page without its query or fragment.
pub fn full_page_url() -> String {
    let base = page_url();
    base.split_once('?').map_or(base.clone(), |(path, _)| path.to_string())
}

/// Puts a shared fragment in the address bar (without a history entry) and on the clipboard.
/// The clipboard may refuse (no permission, no focus): the link stays on screen to copy by hand.
pub fn publish(fragment: &str) {
    let Some(window) = web_sys::window() else { return };
    let url = format!("{}#{fragment}", page_url());
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
    let ignore = wasm_bindgen::closure::Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(|_| {});
    let _ = window.navigator().clipboard().write_text(&url).catch(&ignore);
    // One small closure per click of Share, kept alive for the promise.
    ignore.forget();
}
