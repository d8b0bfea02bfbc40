//! svcsim-lab: a svcsim scenario built out of Linux network namespaces, with exactly the rules
//! `svcsim rules` prints loaded into the kernel's netfilter — for learners who want to see the
//! story with the real tools, and as the oracle of the differential test that holds svcsim to
//! what the kernel does (docs/lab.md).
//!
//! Code map:
//! - [`plan`]: a lab as data, from a simulation at one moment (pure);
//! - [`setup`]: the commands that build a plan (pure);
//! - [`expect`], [`cases`]: what svcsim says of each kind of traffic on each node (pure);
//! - [`random`]: random clusters for the property test (pure);
//! - `host`: running them, checking the machine can, and removing every namespace again;
//! - `netns`: threads that work inside a namespace;
//! - `server`: the pods' apps and kube-proxy's health servers;
//! - `probe`: one client connection;
//! - `trace`, `conntrack`: the kernel's account of a connection (`probe` also watches the ICMPv6
//!   errors that come back about it);
//! - `judge`: the kernel's account against svcsim's; `check`: the differential test of one
//!   moment of one scenario.
//!
//! A dual-stack cluster's lab has both families: each node's IPv6 side ([`plan::NodeSide`]) is
//! built and loaded beside its IPv4 one, and the cases are tried in each family a Service has,
//! plus a check that a node does not forward a link-local source to a pod.
//!
//! Everything that touches the host is Linux-only; the pure modules build anywhere.

pub mod cases;
pub mod expect;
pub mod plan;
pub mod random;
pub mod setup;
pub mod tool;

#[cfg(target_os = "linux")]
pub mod check;
#[cfg(target_os = "linux")]
pub mod conntrack;
#[cfg(target_os = "linux")]
pub mod host;
#[cfg(target_os = "linux")]
pub mod judge;
#[cfg(target_os = "linux")]
pub mod netns;
#[cfg(target_os = "linux")]
pub mod probe;
#[cfg(target_os = "linux")]
pub mod server;
#[cfg(target_os = "linux")]
pub mod trace;
