//! svcsim-core's integration tests: whole runs, asserted through what users see.

mod behaviours;
mod cilium;
mod determinism;
mod dual_stack;
mod fixtures;
mod fuzz_regressions;
mod golden;
mod properties;
mod seam;
mod seed;
mod tutorial;
mod udp;
