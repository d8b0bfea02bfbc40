//! The link fuzzer's tracked inputs — named seeds and every crash ever found — replayed through
//! `svcsim_web::fragment::fuzz`, so CI catches a regression on stable.

#[path = "../../fuzz/replay.rs"]
mod replay;

#[test]
fn fragment_corpus_and_crashes() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    replay::replay(&fuzz, "fragment", &[], svcsim_web::fragment::fuzz);
}
