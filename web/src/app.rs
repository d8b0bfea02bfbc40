//! The root component: the page frame every later panel is mounted in.

use yew::prelude::*;

/// The svcsim page.
#[function_component(App)]
pub fn app() -> Html {
    html! {
        <main class="app" data-testid="app-root">
            <header class="app-header">
                <h1 class="app-title">{ "svcsim" }</h1>
                <p class="app-tagline">
                    { "Kubernetes Service routing, simulated: follow a request from the cloud load balancer \
                       through kube-proxy's NAT to the pod, and see which client address the app prints." }
                </p>
            </header>
            <footer class="app-footer">
                { format!("svcsim-core {}", svcsim_core::VERSION) }
            </footer>
        </main>
    }
}
