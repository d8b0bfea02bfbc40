//! `cargo xtask test`: every check and test suite, in CI order, ending in one
//! `N passed, N failed, N skipped` line that counts the tests of every suite (a check such as fmt
//! or the wasm build counts as one test). A test that cannot run on this machine (the kernel lab
//! without root) is skipped, says why, and never counts as passed.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::bootstrap::{self, ToolEnv};
use crate::static_server::StaticServer;
use crate::{cmd, project_root};

/// Passed, failed and skipped test counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, rhs: Tally) {
        self.passed += rhs.passed;
        self.failed += rhs.failed;
        self.skipped += rhs.skipped;
    }
}

pub const PASS: Tally = Tally { passed: 1, failed: 0, skipped: 0 };
pub const FAIL: Tally = Tally { passed: 0, failed: 1, skipped: 0 };

pub fn run() -> Result<()> {
    let env = bootstrap::ensure(bootstrap::Needs::ALL)?;
    let root = project_root();
    let mut total = Tally::default();
    let mut failures = Vec::new();
    let mut record = |name: &str, tally: Tally| {
        println!("[xtask] {name}: {} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.skipped);
        if tally.failed > 0 {
            failures.push(name.to_string());
        }
        total += tally;
    };

    let cargo = |args: &[&str]| {
        let mut c = env.command("cargo");
        c.current_dir(&root).args(args);
        c
    };
    record("cargo fmt --check", gate(&mut cargo(&["fmt", "--all", "--check"])));
    record("cargo clippy", gate(&mut cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])));
    record("cargo test", cargo_test(&mut cargo(&["test", "--workspace"])));
    record(
        "core builds for wasm32",
        gate(&mut cargo(&["check", "-p", "svcsim-core", "--target", "wasm32-unknown-unknown"])),
    );
    // The determinism invariant across targets: the seed's trace, computed in wasm under node,
    // must equal the golden the native tests pin.
    let mut wasm_test = cargo(&["test", "-p", "svcsim-core", "--target", "wasm32-unknown-unknown", "--test", "wasm"]);
    wasm_test.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner");
    record("core trace in wasm = native", cargo_test(&mut wasm_test));
    record("kernel lab (netfilter)", kernel_lab(&env, &root));
    let build = gate(env.command("trunk").current_dir(&root).args(["build", "--release"]));
    record("trunk build --release", build);
    if build == PASS {
        record("bundle size budget", bundle_budget(&root.join("dist")));
    }
    if build == PASS {
        record(
            "browser e2e",
            e2e(&env, &root).unwrap_or_else(|err| {
                eprintln!("[xtask] browser e2e could not run: {err:#}");
                FAIL
            }),
        );
    } else {
        eprintln!("[xtask] browser e2e not run: the release build failed");
        record("browser e2e", FAIL);
    }

    if !failures.is_empty() {
        println!("[xtask] failed: {}", failures.join(", "));
    }
    println!("{} passed, {} failed, {} skipped", total.passed, total.failed, total.skipped);
    if total.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The download-size ceiling CI enforces on `dist/`, gzip-compressed file by file, in bytes.
/// Deterministic, unlike timings: the same sources and Cargo.lock give the same bytes.
/// docs/BENCHMARKS.md reports the measured size against the 250 KB goal.
pub const BUNDLE_BUDGET_GZIP: usize = BUNDLE_BUDGET_KB * 1024;
// Raised from 360 for issue 14's readers (kubectl Lists, Nodes, Endpoints, the inferred CIDRs,
// folded warnings: +8.7 KB gzip), from 368 for the page's nftables mode (the second
// dataplane, its lesson and preset: +23.6 KB gzip), from 392 for UDP Services, the dns-udp
// preset and dropped files (+4.2 KB gzip), from 396 for tracing a pasted iptables-save dump on
// the page (+21.9 KB gzip), from 418 for reading nft list ruleset there too (+18.3 KB gzip),
// from 436 for the readable probe chart and the address bar that follows the page (+6.2
// KB gzip), and from 442 for issue 15's topology (scene, tags, routes: +8.3 KB) and panels as
// function components (+10.4 KB, less 3.5 KB from wasm-opt --converge), from 456 for the
// frame view model and the embed's compact probe chart (+5.9 KB), and from 462 for Cilium's
// kube-proxy replacement in the page (the third dataplane, its Helm-values reader, the dataplane
// and Cilium controls, the SNAT | DSR compare, its lesson and three presets: +32 KB), and from
// 492 for dual-stack (each family's addresses and proxy, the API server's family defaulting,
// per-family load balancers, the IP family control, the lesson's IPv6 steps and three presets:
// +21.4 KB), each measured in docs/BENCHMARKS.md. Replacing data-encoding by base64 and a
// base32 of the chain-name digests took 1.9 KB back out (514.2 → 512.3 KB), and ASCII-only case
// mapping in the page 8.3 KB more, less 2.5 KB for Service family updates (506.0 KB): lowered
// to 510.
const BUNDLE_BUDGET_KB: usize = 510;

/// Fails when the release build's files, each gzip-compressed (level 9), add up to more than
/// [`BUNDLE_BUDGET_GZIP`]; prints each file either way.
fn bundle_budget(dist: &Path) -> Tally {
    match bundle_size(dist) {
        Ok((files, total)) => {
            for (name, raw, gz) in &files {
                println!("[xtask]   {name}: {raw} B, {gz} B gzip");
            }
            let kb = total as f64 / 1024.0;
            if total <= BUNDLE_BUDGET_GZIP {
                println!("[xtask] bundle: {kb:.1} KB gzip, within the {BUNDLE_BUDGET_KB} KB budget");
                PASS
            } else {
                eprintln!("[xtask] bundle: {kb:.1} KB gzip is over the {BUNDLE_BUDGET_KB} KB budget");
                FAIL
            }
        }
        Err(err) => {
            eprintln!("[xtask] bundle size: {err:#}");
            FAIL
        }
    }
}

/// A file's name, raw size and gzip size.
type Sized = (String, usize, usize);

/// Each file of `dist` with its raw and gzip size (gzip's 18 bytes of framing around miniz_oxide's
/// level-9 DEFLATE), and the gzip total.
pub fn bundle_size(dist: &Path) -> Result<(Vec<Sized>, usize)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let bytes = fs::read(entry.path())?;
            let gz = miniz_oxide::deflate::compress_to_vec(&bytes, 9).len() + 18;
            files.push((entry.file_name().to_string_lossy().into_owned(), bytes.len(), gz));
        }
    }
    files.sort();
    let total = files.iter().map(|f| f.2).sum();
    Ok((files, total))
}

/// A check that passes or fails as a whole.
fn gate(cmd: &mut Command) -> Tally {
    match cmd::run(cmd) {
        Ok(()) => PASS,
        Err(err) => {
            eprintln!("[xtask] {err:#}");
            FAIL
        }
    }
}

/// `cargo test`, streaming its output and summing its `test result:` lines.
fn cargo_test(cmd: &mut Command) -> Tally {
    println!("[xtask] $ {}", cmd::display(cmd));
    let mut child = match cmd.stdout(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(err) => {
            eprintln!("[xtask] could not start cargo test: {err}");
            return FAIL;
        }
    };
    let mut tally = Tally::default();
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        println!("{line}");
        if let Some(t) = parse_cargo_test_result(&line) {
            tally += t;
        }
    }
    let ok = child.wait().is_ok_and(|s| s.success());
    if !ok && tally.failed == 0 {
        // It failed before or outside any test (a compile error, a crashed test binary).
        tally += FAIL;
    }
    tally
}

/// `test result: ok. 12 passed; 0 failed; 0 ignored; …` → 12 passed, 0 failed.
fn parse_cargo_test_result(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let count = |word: &str| -> Option<u64> {
        rest.split(';').find_map(|part| {
            part.trim().trim_start_matches(|c: char| !c.is_ascii_digit()).strip_suffix(word)?.trim().parse().ok()
        })
    };
    Some(Tally { passed: count("passed")?, failed: count("failed")?, skipped: 0 })
}

/// The browser tests: dist/ served under a sub-path on a loopback port, node's test runner
/// driving Chromium through playwright-core.
/// `cargo xtask e2e [names…]`: the release build and the browser tests named (all when none).
pub fn e2e_only(names: &[String]) -> Result<()> {
    let env = bootstrap::ensure(bootstrap::Needs::ALL)?;
    let root = crate::project_root();
    crate::trunk_build_release(&env)?;
    let tally = e2e_files(&env, &root, names)?;
    println!("{} passed, {} failed", tally.passed, tally.failed);
    anyhow::ensure!(tally.failed == 0, "{} browser test(s) failed", tally.failed);
    Ok(())
}

fn e2e(env: &ToolEnv, root: &Path) -> Result<Tally> {
    e2e_files(env, root, &[])
}

fn e2e_files(env: &ToolEnv, root: &Path, names: &[String]) -> Result<Tally> {
    let out = root.join("target").join("e2e");
    fs::create_dir_all(&out).context("creating target/e2e")?;
    let server = StaticServer::start(&root.join("dist"), "/sub/svcsim/")?;
    println!("[xtask] serving dist/ at {}", server.url);

    let e2e = root.join("web").join("e2e");
    let mut files: Vec<String> = fs::read_dir(e2e.join("tests"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.mjs"))
        .filter(|name| names.is_empty() || names.iter().any(|n| name.trim_end_matches(".test.mjs") == n))
        .map(|name| format!("tests/{name}"))
        .collect();
    files.sort();
    let tap = out.join("results.tap");
    let _ = fs::remove_file(&tap);
    let mut node = env.command("node");
    node.current_dir(&e2e)
        .args(["--test", "--test-concurrency=1"])
        .args(["--test-reporter=spec", "--test-reporter-destination=stdout"])
        .arg("--test-reporter=tap")
        .arg(format!("--test-reporter-destination={}", tap.display()))
        .args(&files)
        .env("SVCSIM_BASE_URL", &server.url)
        .env("SVCSIM_E2E_OUT", &out)
        .env("SVCSIM_DIST", root.join("dist"))
        .env("CHROMIUM_PATH", &env.chromium);
    let status = cmd::run(&mut node);
    drop(server);
    let tally = fs::read_to_string(&tap).ok().and_then(|t| parse_tap_summary(&t));
    Ok(match (tally, status) {
        (Some(t), Ok(())) => t,
        (Some(t), Err(_)) if t.failed > 0 => t,
        (Some(t), Err(_)) => Tally { failed: t.failed + 1, ..t },
        (None, _) => FAIL,
    })
}

/// Random clusters the kernel differential test adds to the presets in CI
/// (`svcsim lab check --random N` runs more).
const LAB_RANDOM_CLUSTERS: u64 = 10;

/// The kernel differential test (docs/lab.md): every preset, and random clusters from a fixed
/// seed, built as network namespaces and compared with svcsim, case by case. Its summary line
/// `netfilter: N cases agree, M skipped` is printed as it is; cases the machine cannot run (no
/// root, no netns) are skipped, never passed.
fn kernel_lab(env: &ToolEnv, root: &Path) -> Tally {
    let build =
        gate(env.command("cargo").current_dir(root).args(["build", "-q", "-p", "svcsim-cli", "--bin", "svcsim"]));
    if build != PASS {
        return build;
    }
    let svcsim = root.join("target").join("debug").join("svcsim");
    let checked = lab_check(&svcsim, root);
    // When the lab cannot run here, neither can `lab up`, nor the dumps be made.
    let cannot = checked.passed == 0 && checked.skipped > 0;
    let up = if cannot { Tally { skipped: 6, ..Tally::default() } } else { lab_up_down(&svcsim, root) };
    let dumps = if cannot {
        Tally { skipped: crate::dumps::CHECKS, ..Tally::default() }
    } else {
        crate::dumps::check(&svcsim, root)
    };
    let mut total = checked;
    total += up;
    total += dumps;
    total
}

/// `svcsim lab check` on every preset and on random clusters.
fn lab_check(svcsim: &Path, root: &Path) -> Tally {
    let mut presets: Vec<String> = match fs::read_dir(root.join("scenarios")) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| p.display().to_string())
            .collect(),
        Err(err) => {
            eprintln!("[xtask] kernel lab: reading scenarios/: {err}");
            return FAIL;
        }
    };
    presets.sort();
    let mut cmd = Command::new(svcsim);
    cmd.current_dir(root).args(["lab", "check"]);
    cmd.args(&presets).args([
        "--random",
        &LAB_RANDOM_CLUSTERS.to_string(),
        "--seed",
        "1",
        "--proxy-mode",
        "both",
        "--jobs",
        "2",
    ]);
    println!("[xtask] $ {}", cmd::display(&cmd));
    let out = match cmd.stderr(Stdio::inherit()).output() {
        Ok(out) => out,
        Err(err) => {
            eprintln!("[xtask] kernel lab could not run: {err}");
            return FAIL;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    match text.lines().rev().find_map(parse_netfilter_summary) {
        Some(t) if out.status.success() || t.failed > 0 => t,
        Some(t) => Tally { failed: t.failed + 1, ..t },
        None => FAIL,
    }
}

/// `svcsim lab up` and `lab down` as a learner uses them: the namespaces exist, a `curl` from the
/// client namespace prints what `svcsim run` says the app prints — for the seed under Cluster
/// and, after the patch, under Local — and after `lab down` no namespace remains.
fn lab_up_down(svcsim: &Path, root: &Path) -> Tally {
    let mut tally = Tally::default();
    for (file, at, from_s) in
        [("scenarios/aks-blog.yaml", "0s", 0.0), ("scenarios/aks-blog-switch.yaml", "120s", 120.0)]
    {
        let prefix = format!("svtest{}", std::process::id());
        let mut check = |what: &str, ok: bool, detail: String| {
            println!("[xtask] lab up {file} --at {at}: {what}: {}{detail}", if ok { "ok" } else { "FAILED" });
            tally += if ok { PASS } else { FAIL };
        };
        let expected = app_outputs(svcsim, root, file, from_s);
        let up =
            Command::new(svcsim).current_dir(root).args(["lab", "up", file, "--at", at, "--prefix", &prefix]).output();
        let namespaces = |p: &str| -> Vec<String> {
            fs::read_dir("/run/netns")
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .filter(|n| n.starts_with(&format!("{p}-")))
                        .collect()
                })
                .unwrap_or_default()
        };
        let made = namespaces(&prefix);
        let up_ok = up.as_ref().is_ok_and(|o| o.status.success()) && made.contains(&format!("{prefix}-client"));
        check("its namespaces exist", up_ok, format!(" ({} namespaces)", made.len()));
        let mut printed = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let curl = Command::new("ip")
                .args(["netns", "exec", &format!("{prefix}-client"), "curl", "-s", "-m", "3", "http://203.0.113.10/"])
                .output();
            printed.insert(curl.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default());
        }
        let agrees = !printed.is_empty() && printed.is_subset(&expected);
        check("curl prints what svcsim run says", agrees, format!(" (printed {printed:?}; svcsim: {expected:?})"));
        let _ = Command::new(svcsim).args(["lab", "down", "--prefix", &prefix]).output();
        let left = namespaces(&prefix);
        check("lab down leaves no namespace", left.is_empty(), format!(" ({} left)", left.len()));
    }
    tally
}

/// What `svcsim run` says the app printed for the requests sent from `from_s` seconds on.
fn app_outputs(svcsim: &Path, root: &Path, file: &str, from_s: f64) -> std::collections::BTreeSet<String> {
    let out = Command::new(svcsim).current_dir(root).args(["run", file, "--format", "json"]).output();
    let json: serde_json::Value =
        out.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or(serde_json::Value::Null);
    json["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["t"].as_f64().is_some_and(|t| t >= from_s) && r["outcome"] == "answered")
        .filter_map(|r| r["appOutput"].as_str().map(str::to_string))
        .collect()
}

/// `netfilter: 412 cases agree, 2 disagree, 3 skipped` → 412 passed, 2 failed, 3 skipped.
fn parse_netfilter_summary(line: &str) -> Option<Tally> {
    let rest = line.strip_prefix("netfilter: ")?;
    let count =
        |word: &str| rest.split(", ").find_map(|part| part.strip_suffix(word)?.split_whitespace().next()?.parse().ok());
    Some(Tally { passed: count(" agree")?, failed: count(" disagree").unwrap_or(0), skipped: count(" skipped")? })
}

/// The `# pass N` / `# fail N` summary of node's TAP reporter.
fn parse_tap_summary(tap: &str) -> Option<Tally> {
    let count = |key: &str| tap.lines().rev().find_map(|l| l.strip_prefix(key)?.trim().parse().ok());
    Some(Tally { passed: count("# pass ")?, failed: count("# fail ")?, skipped: count("# skipped ").unwrap_or(0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_measured_file_by_file_compressed() {
        let dir = std::env::temp_dir().join(format!("svcsim-bundle-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("a.wasm"), vec![7u8; 10_000]).unwrap();
        fs::write(dir.join("b.js"), "let x = 1;").unwrap();
        let (files, total) = bundle_size(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["a.wasm", "b.js"], "files only, in order");
        assert_eq!(files[0].1, 10_000);
        assert!(files[0].2 < 200, "repetitive bytes compress: {}", files[0].2);
        assert_eq!(total, files[0].2 + files[1].2);
    }

    #[test]
    fn cargo_test_result_lines_are_counted() {
        let ok = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(parse_cargo_test_result(ok), Some(Tally { passed: 12, failed: 0, skipped: 0 }));
        let bad = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(parse_cargo_test_result(bad), Some(Tally { passed: 3, failed: 2, skipped: 0 }));
        assert_eq!(parse_cargo_test_result("running 3 tests"), None);
    }

    #[test]
    fn the_kernel_labs_summary_is_counted() {
        let ok = parse_netfilter_summary("netfilter: 412 cases agree, 3 skipped");
        assert_eq!(ok, Some(Tally { passed: 412, failed: 0, skipped: 3 }));
        let bad = parse_netfilter_summary("netfilter: 410 cases agree, 2 disagree, 0 skipped");
        assert_eq!(bad, Some(Tally { passed: 410, failed: 2, skipped: 0 }));
        assert_eq!(parse_netfilter_summary("random cluster 1 at 0s: 35 agree"), None);
    }

    #[test]
    fn tap_summary_is_read_from_the_end() {
        let tap = "TAP version 13\nok 1 - page loads\n# tests 2\n# suites 0\n# pass 1\n# fail 1\n# cancelled 0\n";
        assert_eq!(parse_tap_summary(tap), Some(Tally { passed: 1, failed: 1, skipped: 0 }));
        assert_eq!(parse_tap_summary("TAP version 13\n"), None);
    }
}
