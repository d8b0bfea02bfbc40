//! The fuzzers' findings, kept: the minimized corpus and every crash ever found, replayed through
//! the harnesses the fuzzer runs (`svcsim_core::fuzz`), so CI catches a regression on stable.

#[path = "../../../../fuzz/replay.rs"]
mod replay;

fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn scenario_corpus_and_crashes() {
    replay::replay(&fuzz_dir(), "scenario", svcsim_core::fuzz::scenario);
}

#[test]
fn packet_corpus_and_crashes() {
    replay::replay(&fuzz_dir(), "packet", svcsim_core::fuzz::packet);
}
