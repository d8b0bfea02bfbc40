//! `cargo xtask fuzz`: runs the cargo-fuzz targets in `fuzz/` for a while each, growing the local
//! corpus `fuzz/corpus/<target>` (ignored by git) from the tracked seeds and regressions, then
//! minimizes that corpus. It never writes a tracked file. Not part of `cargo xtask test`: CI
//! replays the seeds and every crash on stable instead (`fuzz/replay.rs`).

use anyhow::{Result, bail};

use crate::{bootstrap, cmd, project_root};

/// Every target, in the order they run.
pub const TARGETS: [&str; 5] = ["scenario", "fragment", "packet", "iptables_save", "nft_ruleset"];

pub fn run(seconds: u32, targets: &[String]) -> Result<()> {
    let env = bootstrap::ensure(bootstrap::Needs { web: false, browser: false, lab: false })?;
    bootstrap::ensure_fuzz(&env)?;
    let fuzz = project_root().join("fuzz");
    let chosen: Vec<&str> =
        if targets.is_empty() { TARGETS.to_vec() } else { targets.iter().map(String::as_str).collect() };
    if let Some(unknown) = chosen.iter().find(|t| !TARGETS.contains(t)) {
        bail!("no fuzz target {unknown:?}: the targets are {}", TARGETS.join(", "));
    }
    let mut crashed = Vec::new();
    for target in chosen {
        println!("[xtask] fuzzing {target} for {seconds} s");
        // The first corpus folder is where libFuzzer writes; the others only seed it.
        let corpus = fuzz.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let mut seeds = vec![fuzz.join("seeds").join(target), fuzz.join("regressions").join(target)];
        if target == "scenario" {
            seeds.extend([project_root().join("scenarios"), project_root().join("crates/svcsim-cli/tests/bad")]);
        }
        if target == "iptables_save" {
            seeds.push(project_root().join("crates/svcsim-cli/tests/dumps/iptables"));
        }
        if target == "nft_ruleset" {
            seeds.push(project_root().join("crates/svcsim-cli/tests/dumps/nft"));
        }
        seeds.retain(|dir| dir.exists());
        let run = cmd::run(
            env.command("cargo")
                .current_dir(&fuzz)
                .args(["+nightly", "fuzz", "run", target])
                .arg(&corpus)
                .args(&seeds)
                .arg("--")
                .args([format!("-max_total_time={seconds}"), "-timeout=10".into(), "-print_final_stats=1".into()]),
        );
        if run.is_err() {
            println!(
                "[xtask] {target} found a failing input in fuzz/artifacts/{target}/: fix it, then keep it as \
                 fuzz/regressions/{target}/<what-it-broke>"
            );
            crashed.push(target);
        }
        cmd::run(env.command("cargo").current_dir(&fuzz).args(["+nightly", "fuzz", "cmin", target]).arg(&corpus))?;
    }
    if !crashed.is_empty() {
        bail!("failing inputs found by: {}", crashed.join(", "));
    }
    Ok(())
}
