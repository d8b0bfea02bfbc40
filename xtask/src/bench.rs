//! `cargo xtask bench`: measures the core (natively and in wasm) and the web app, and rewrites
//! the generated sections of docs/BENCHMARKS.md. Reports with the machine and date, never
//! pass/fail: CI enforces only the deterministic budgets (see `test.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::{bootstrap, cmd, project_root, static_server, trunk_build_release};

/// What to measure.
pub struct Options {
    pub core: bool,
    pub web: bool,
    /// Wall-clock minutes of the web soak.
    pub soak_minutes: u32,
}

pub fn run(opts: &Options) -> Result<()> {
    let env = bootstrap::ensure(if opts.web { bootstrap::Needs::ALL } else { bootstrap::Needs::WEB })?;
    let root = project_root();
    let machine = machine();
    if opts.core {
        let native = core_native(&env, &root)?;
        let wasm = core_wasm(&env, &root)?;
        let section = core_section(&native, &wasm);
        print!("{section}");
        write_section(&root, "core-bench", &format!("_Measured by `cargo xtask bench` on {machine}._\n\n{section}"))?;
    }
    if opts.web {
        trunk_build_release(&env)?;
        let server = static_server::StaticServer::start(&root.join("dist"), "/sub/svcsim/")?;
        println!("[xtask] measuring the web budgets against {} ({} min soak)", server.url, opts.soak_minutes);
        let out = env
            .command("node")
            .current_dir(root.join("web/e2e"))
            .arg("bench/web.mjs")
            .env("SVCSIM_BASE_URL", &server.url)
            .env("SVCSIM_DIST", root.join("dist"))
            .env("SVCSIM_SOAK_MINUTES", opts.soak_minutes.to_string())
            .env("CHROMIUM_PATH", &env.chromium)
            .stderr(Stdio::inherit())
            .output()?;
        drop(server);
        anyhow::ensure!(out.status.success(), "the web benchmark failed ({})", out.status);
        let section = String::from_utf8(out.stdout)?;
        print!("{section}");
        let chromium = cmd::stdout_of(Command::new(&env.chromium).arg("--version")).unwrap_or_default();
        write_section(
            &root,
            "web-bench",
            &format!("_Measured by `cargo xtask bench` on {machine}, {chromium}._\n\n{section}"),
        )?;
    }
    Ok(())
}

/// One `BENCH <case> key=value …` line.
type Cases = BTreeMap<String, BTreeMap<String, f64>>;

fn parse(output: &str) -> Cases {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("BENCH "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_string();
            let fields = words
                .filter_map(|w| w.split_once('='))
                .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
                .collect();
            Some((name, fields))
        })
        .collect()
}

fn core_native(env: &bootstrap::ToolEnv, root: &Path) -> Result<Cases> {
    println!("[xtask] core, native (cargo bench --bench report)");
    let out = env
        .command("cargo")
        .current_dir(root)
        .args(["bench", "-q", "-p", "svcsim-core", "--bench", "report"])
        .stderr(Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "the native core benchmark failed ({})", out.status);
    Ok(parse(&String::from_utf8(out.stdout)?))
}

fn core_wasm(env: &bootstrap::ToolEnv, root: &Path) -> Result<Cases> {
    println!("[xtask] core, wasm in node (tests/wasm_bench.rs, release)");
    let out = env
        .command("cargo")
        .current_dir(root)
        .args(["test", "--release", "-p", "svcsim-core", "--target", "wasm32-unknown-unknown", "--test", "wasm_bench"])
        .args(["--", "--nocapture"])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner")
        .stderr(Stdio::inherit())
        .output()
        .context("running the core's workloads in wasm")?;
    anyhow::ensure!(out.status.success(), "the wasm core benchmark failed ({})", out.status);
    Ok(parse(&String::from_utf8(out.stdout)?))
}

/// Millions of events per second over setup and run.
fn mevents(c: &BTreeMap<String, f64>) -> f64 {
    c["events"] / (c["setup_ms"] + c["run_ms"]) / 1e3
}

/// Microseconds of run time per request.
fn per_request(c: &BTreeMap<String, f64>) -> f64 {
    c["run_ms"] * 1e3 / c["requests"].max(1.0)
}

fn core_section(native: &Cases, wasm: &Cases) -> String {
    let mut s = String::new();
    let ratio = |name: &str| -> Option<f64> {
        let (n, w) = (native.get(name)?, wasm.get(name)?);
        Some((n["setup_ms"] + n["run_ms"]) / (w["setup_ms"] + w["run_ms"]))
    };
    let fmt_ratio = |name: &str| ratio(name).map_or("–".into(), |r| format!("{r:.2}×"));
    s.push_str("### Headline scenarios\n\n");
    s.push_str("| scenario | events | setup | run | events/s | peak heap | wasm events/s | wasm ÷ native |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (name, label) in [
        ("aks-blog", "`aks-blog` preset (2 nodes, 1 pod, 1 request/s for 120 s)"),
        ("large", "large (100 nodes, 1,000 pods, 5 Services, 1,000 requests/s for 60 s)"),
        ("large-nftables", "the same, kube-proxy in nftables mode"),
        ("large-cilium", "the same, Cilium replacing kube-proxy (SNAT, random, socket-LB)"),
        ("large-dual-stack", "the same, dual-stack (every Service of both families), clients over IPv4"),
    ] {
        let Some(n) = native.get(name) else { continue };
        let w = wasm.get(name).map_or("–".into(), |w| format!("{:.2} M", mevents(w)));
        let _ = writeln!(
            s,
            "| {label} | {} | {:.2} ms | {:.2} ms | **{:.2} M** | {:.1} MB | {w} | {} |",
            n["events"],
            n["setup_ms"],
            n["run_ms"],
            mevents(n),
            n["peak_mb"],
            fmt_ratio(name)
        );
    }
    s.push_str(
        "\nSetup is `Sim::new` (allocation, scheduling, programming every node's rules); events/s counts both.\n",
    );

    for (prefix, title, what) in [
        ("nodes", "nodes", "100 pods, one Service, 100 requests/s for 20 s"),
        ("pods", "pods", "100 nodes, one Service, 100 requests/s for 20 s"),
        ("rate", "requests/s", "10 nodes, 100 pods, one Service, 20 s"),
    ] {
        let _ = write!(
            s,
            "\n### Scaling: {title}\n\n{what}.\n\n| {title} | events | setup | run | per request | events/s | wasm setup | wasm run | wasm ÷ native |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        );
        let mut rows: Vec<(u64, &String)> =
            native.keys().filter_map(|k| Some((k.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()?, k))).collect();
        rows.sort();
        for (x, name) in rows {
            let n = &native[name];
            let (ws, wr) = wasm.get(name).map_or(("–".into(), "–".into()), |w| {
                (format!("{:.1} ms", w["setup_ms"]), format!("{:.1} ms", w["run_ms"]))
            });
            let _ = writeln!(
                s,
                "| {x} | {} | {:.1} ms | {:.1} ms | {:.1} µs | {:.2} M | {ws} | {wr} | {} |",
                n["events"],
                n["setup_ms"],
                n["run_ms"],
                per_request(n),
                mevents(n),
                fmt_ratio(name)
            );
        }
    }

    s.push_str("\n### Against the goals\n\n");
    if let (Some(seed), Some(large)) = (native.get("aks-blog"), native.get("large")) {
        let met = |ok: bool| if ok { "met" } else { "not met" };
        let (ms, ml) = (mevents(seed), mevents(large));
        let _ = writeln!(
            s,
            "- ≥ 2 M events/s native: aks-blog {ms:.2} M ({}), large {ml:.2} M ({}).",
            met(ms >= 2.0),
            met(ml >= 2.0)
        );
        let ratios: Vec<f64> = native.keys().filter_map(|k| ratio(k)).collect();
        if !ratios.is_empty() {
            let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
            let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let _ = writeln!(
                s,
                "- wasm ≥ 0.6× native: large {}, geometric mean over all {} cases {geo:.2}×, lowest {min:.2}× ({}).",
                fmt_ratio("large"),
                ratios.len(),
                met(min >= 0.6)
            );
        }
        let pods: Vec<f64> =
            ["pods-1", "pods-10", "pods-100"].iter().filter_map(|k| native.get(*k)).map(per_request).collect();
        if let (Some(lo), Some(hi)) = (pods.iter().copied().reduce(f64::min), pods.iter().copied().reduce(f64::max)) {
            let _ = writeln!(
                s,
                "- cost per request flat in pods: {lo:.1}–{hi:.1} µs from 1 to 100 pods; beyond, the first packet walks kube-proxy's 1/(n−i) statistic cascade (n/2 rules on average), as a real packet does.",
            );
        }
        let _ = writeln!(
            s,
            "- peak heap of the large run < 200 MB: {:.1} MB ({}).",
            large["peak_mb"],
            met(large["peak_mb"] < 200.0)
        );
    }
    s
}

/// "2026-11-26, AMD EPYC …, 2 cores"
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = cmd::stdout_of(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let rustc = cmd::stdout_of(Command::new("rustc").arg("--version")).unwrap_or_default();
    let node = cmd::stdout_of(Command::new("node").arg("--version")).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{date}: {cpu}, {cores} cores, {rustc}, node {node}")
}

/// Replaces what lies between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` in
/// docs/BENCHMARKS.md (appending the markers if missing).
fn write_section(root: &Path, marker: &str, body: &str) -> Result<()> {
    let (start, end) = (format!("<!-- {marker}:start -->"), format!("<!-- {marker}:end -->"));
    let block = format!("{start}\n{body}{end}");
    let path = root.join("docs/BENCHMARKS.md");
    let doc = std::fs::read_to_string(&path)?;
    let updated = match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) => format!("{}{block}{}", &doc[..a], &doc[b + end.len()..]),
        _ => format!("{doc}\n{block}\n"),
    };
    std::fs::write(&path, updated)?;
    println!("[xtask] wrote the {marker} section of {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lines_are_read_and_other_output_ignored() {
        let out = "running 1 test\nBENCH seed events=1035 requests=120 setup_ms=0.039 run_ms=0.365 peak_mb=0.4\nok\n";
        let cases = parse(out);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases["seed"]["events"], 1035.0);
        assert!((mevents(&cases["seed"]) - 1035.0 / 0.404 / 1e3).abs() < 1e-9);
    }
}
