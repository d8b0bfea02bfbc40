//! libFuzzer target `fragment`: see `svcsim_web::fragment::fuzz` for what it feeds and the contracts it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcsim_web::fragment::fuzz(data));
