//! svcsim-core's integration tests: whole runs, asserted through what users see.

mod fixtures;
mod seed;
mod tutorial;
