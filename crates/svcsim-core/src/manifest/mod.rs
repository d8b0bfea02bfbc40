//! The scenario edge: Kubernetes YAML (and a `Simulation` document) in, a [`Scenario`] out, with
//! every problem reported at once by document, YAML path and line:column.
//!
//! The format is documented in `docs/scenarios.md`. This is the only place that parses text; the
//! CLI reads files and hands their text here, and so does the web app's editor.
//!
//! [`Scenario`]: crate::scenario::Scenario

mod assemble;
mod cilium;
mod kube_proxy;
mod load;
mod read;
mod summary;
pub mod tree;

pub use load::{APP_ANNOTATION, DataplaneOverride, Loaded, Overrides, limits, load};
pub use read::{Diagnostic, NOT_MODELLED, Severity, parse_duration};
pub use summary::grouped;

#[cfg(test)]
mod tests;
