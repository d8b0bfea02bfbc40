//! libFuzzer target `nft_ruleset`: see `svcsim_core::fuzz::nft_ruleset` for what it feeds and the contracts it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcsim_core::fuzz::nft_ruleset(data));
