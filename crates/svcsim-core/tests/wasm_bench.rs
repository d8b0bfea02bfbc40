//! The core's benchmark workloads (`benches/support/workloads.rs`) compiled to wasm and run in node, for
//! the wasm/native ratio in docs/BENCHMARKS.md. Only `cargo xtask bench` runs it (release
//! build, through wasm-bindgen-test-runner); natively, and in `cargo xtask test`, it is empty.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[path = "../benches/support/workloads.rs"]
#[allow(dead_code)]
mod workloads;

#[wasm_bindgen_test]
fn workloads_in_wasm() {
    let now_ms = || js_sys::Date::now();
    for (name, make, arg) in workloads::cases() {
        let m = workloads::measure(&now_ms, &|| make(arg), 2_000.0);
        console_log!("BENCH {name} {m}");
    }
}
