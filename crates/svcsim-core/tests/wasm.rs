//! The same scenario and seed give the same trace in wasm as natively: the seed golden that the
//! native tests pin, recomputed in WebAssembly. Run by `cargo xtask test` through
//! wasm-bindgen-test-runner (node); natively it runs as a plain test.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "it/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[test]
fn the_seed_trace_is_byte_identical_to_the_native_golden() {
    let mut sim = svcsim_core::sim::Sim::new(fixtures::seed(70, Some(55)));
    let trace = sim.run().trace_text();
    let golden = include_str!("it/golden/seed-cluster-then-local.trace");
    assert!(trace == golden, "the trace differs from the native golden ({} vs {} bytes)", trace.len(), golden.len());
}
