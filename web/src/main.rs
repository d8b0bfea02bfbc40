//! The svcsim web app's entry point: installs the panic hook and mounts the root component.

mod app;

fn main() {
    console_error_panic_hook::set_once();
    yew::Renderer::<app::App>::new().render();
}
