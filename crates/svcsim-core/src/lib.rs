//! svcsim-core: a deterministic discrete-event simulation of Kubernetes Service routing.
//!
//! The crate owns everything users see in svcsim — which pod a request reaches, the address
//! the app prints, the rules that fired, the load balancer's probe percentage — and nothing
//! about how it is shown.
//!
//! Code map, from the wire up:
//! - [`time`], [`rng`], [`id`]: integer-microsecond time, seeded named random streams, typed
//!   indices; [`order`]: stable sorting through one compiled routine (bundle size).
//! - [`net`]: IP families, CIDRs, socket addresses, protocols and packet headers.
//! - [`cluster`]: nodes, pods, Deployments, Services, EndpointSlices; deterministic allocation.
//! - [`endpoints`]: EndpointSlices as a service proxy reads and categorizes them.
//! - [`dataplane`]: the seam a node's service proxy sits behind; [`kube_proxy`] is its
//!   iptables-mode implementation, [`nftables`] its nftables-mode one, [`dump`] a real node's
//!   `iptables-save` output, evaluated as it stands.
//! - [`conntrack`]: NAT remembered per connection, replies translated back.
//! - [`lb`]: cloud load balancers, their health probes and the Health Probe Status metric.
//! - `topology`: the network graph (petgraph stays inside) and its precomputed routes.
//! - [`scenario`]: what a run takes: cluster, clients, timeline of changes.
//! - [`sim`]: the event loop; [`record`]: what it records — packets, hops, flows, the trace.
//! - [`explain`]: one request's journey in plain words, for `svcsim explain` and the inspector.
//! - [`manifest`]: the scenario edge: Kubernetes YAML to a [`scenario::Scenario`], with located
//!   problems.
//! - [`validate`]: the API server's rules that matter to routing, every problem with its field.
//! - `fuzz`: the fuzzers' entry points, shared by `fuzz/` and the regression tests.
//!
//! Architecture invariants (checked in CI, see ARCHITECTURE.md):
//! - no IO, no wall clock, no OS randomness and no web dependencies: the crate builds for
//!   `wasm32-unknown-unknown`;
//! - the same scenario and seed give a byte-identical trace, natively and in wasm;
//! - every modelled behaviour is listed in `docs/fidelity.md` with its upstream source and the
//!   test that pins it; doc comments cite that file or the upstream source.

#![forbid(unsafe_code)]

pub mod cilium;
pub mod cluster;
pub mod conntrack;
pub mod dataplane;
mod digest;
pub mod dump;
pub mod endpoints;
pub mod explain;
#[doc(hidden)]
pub mod fuzz;
pub mod id;
pub mod kube_proxy;
pub mod lb;
pub mod manifest;
pub mod net;
pub mod nftables;
pub mod order;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod time;
mod topology;
pub mod validate;

pub use topology::{BackendId, Latencies, Link, POD_LINK, Place, Topology};

/// The version of the simulation model, shown by the CLI and the web app so a trace
/// or a screenshot can be matched to the code that produced it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
