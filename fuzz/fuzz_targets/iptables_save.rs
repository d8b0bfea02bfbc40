//! libFuzzer target `iptables_save`: see `svcsim_core::fuzz::iptables_save` for what it feeds and the contracts it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcsim_core::fuzz::iptables_save(data));
