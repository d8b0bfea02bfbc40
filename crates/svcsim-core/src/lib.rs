//! svcsim-core: a deterministic discrete-event simulation of Kubernetes Service routing.
//!
//! The crate owns everything users see in svcsim — which pod a request reaches, the
//! address the app prints, the iptables rules that fired, the load balancer's probe
//! percentage — and nothing about how it is shown.
//!
//! Architecture invariants (checked in CI, see ARCHITECTURE.md):
//! - no IO, no wall clock, no OS randomness and no web dependencies: the crate builds
//!   for `wasm32-unknown-unknown`;
//! - the same scenario and seed give a byte-identical trace, natively and in wasm.

#![forbid(unsafe_code)]

/// The version of the simulation model, shown by the CLI and the web app so a trace
/// or a screenshot can be matched to the code that produced it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
