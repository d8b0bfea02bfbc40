//! The numbers docs/BENCHMARKS.md reports for the core, natively: each workload's events,
//! setup and run time, and peak heap (through a counting allocator). `cargo xtask bench` runs
//! it, runs the same workloads in wasm (`tests/wasm_bench.rs`) and writes the tables.
//! Arguments filter cases by name prefix, or by exact name after `=`:
//! `cargo bench -p svcsim-core --bench report -- pods =large`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/workloads.rs"]
mod workloads;

/// Counts live and peak heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    // A benchmark's clock, outside the simulation: the lint guards the library.
    #[allow(clippy::disallowed_types)]
    let epoch = std::time::Instant::now();
    let now_ms = move || epoch.elapsed().as_secs_f64() * 1e3;
    for (name, make, arg) in workloads::cases() {
        let wanted = |f: &String| match f.strip_prefix('=') {
            Some(exact) => name == exact,
            None => name.starts_with(f.as_str()),
        };
        if !filters.is_empty() && !filters.iter().any(wanted) {
            continue;
        }
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let mut sim = svcsim_core::sim::Sim::new(make(arg));
        sim.run();
        let peak = PEAK.load(Ordering::Relaxed) - before;
        drop(sim);
        let m = workloads::measure(&now_ms, &|| make(arg), 2_000.0);
        println!("BENCH {name} {m} peak_mb={:.1}", peak as f64 / 1e6);
    }
}
