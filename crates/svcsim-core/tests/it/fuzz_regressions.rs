//! The fuzzers' tracked inputs — named seeds and every crash ever found — replayed through the
//! harnesses the fuzzer runs (`svcsim_core::fuzz`), so CI catches a regression on stable.

#[path = "../../../../fuzz/replay.rs"]
mod replay;

fn root() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn scenario_corpus_and_crashes() {
    let extra = [root().join("scenarios"), root().join("crates/svcsim-cli/tests/bad")];
    let extra: Vec<&std::path::Path> = extra.iter().map(|p| p.as_path()).collect();
    replay::replay(&root().join("fuzz"), "scenario", &extra, svcsim_core::fuzz::scenario);
}

#[test]
fn packet_corpus_and_crashes() {
    replay::replay(&root().join("fuzz"), "packet", &[], svcsim_core::fuzz::packet);
}

#[test]
fn iptables_save_corpus_and_crashes() {
    replay::replay(&root().join("fuzz"), "iptables_save", &[], svcsim_core::fuzz::iptables_save);
}

#[test]
fn nft_ruleset_corpus_and_crashes() {
    replay::replay(&root().join("fuzz"), "nft_ruleset", &[], svcsim_core::fuzz::nft_ruleset);
}
