//! `cargo xtask`: svcsim's developer commands — tool bootstrap, dev server, static build and the
//! test runner CI uses.
//!
//! Every command first installs what it needs, each tool only when it is missing or at the wrong
//! version (see [`bootstrap`]), so the README's two commands work on a fresh machine.

mod bootstrap;
mod cmd;
mod static_server;
mod test;
mod tidy;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "svcsim's developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install the web toolchain if needed, then run `trunk serve` and print the URL.
    Serve {
        /// Port to listen on (127.0.0.1 only).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Build with the size-tuned `wasm-release` profile and wasm-opt, as `dist` does.
        #[arg(long)]
        release: bool,
        /// Open the page in the default browser once it is built.
        #[arg(long)]
        open: bool,
    },
    /// Write a release build to dist/ that works from any sub-path of a plain static server.
    Dist,
    /// Run every check and test suite: fmt, clippy, unit and integration tests, the core's wasm
    /// build, the release web build and the browser end-to-end tests.
    Test,
    /// Only the browser tests: release build, then the e2e files given (all when none), e.g.
    /// `cargo xtask e2e embed` runs tests/embed.test.mjs. For iterating; `test` runs everything.
    E2e {
        /// Test file stems under web/e2e/tests (`embed`, `simulator`, …).
        names: Vec<String>,
    },
    /// Install every tool `test` needs, and nothing else.
    Bootstrap,
    /// Measure the web budgets (bundle size, first frame, frame times) and write them into
    /// docs/BENCHMARKS.md. Reports, not pass/fail.
    BenchWeb,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { port, release, open } => serve(port, release, open),
        Command::Dist => dist(),
        Command::Test => test::run(),
        Command::E2e { names } => test::e2e_only(&names),
        Command::Bootstrap => bootstrap::ensure(bootstrap::Needs::ALL).map(drop),
        Command::BenchWeb => bench_web(),
    };
    if let Err(err) = result {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn serve(port: u16, release: bool, open: bool) -> Result<()> {
    let env = bootstrap::ensure(bootstrap::Needs::WEB)?;
    let url = format!("http://127.0.0.1:{port}/");
    println!("[xtask] serving svcsim at {url}  (Ctrl-C to stop)");
    let mut trunk = env.command("trunk");
    trunk
        .current_dir(project_root())
        .args(["serve", "--address", "127.0.0.1", "--port", &port.to_string()])
        // The dev server answers at its root; dist/ keeps the relative public URL.
        .args(["--public-url", "/"]);
    if release {
        trunk.arg("--release");
    }
    if open {
        trunk.arg("--open");
    }
    cmd::run(&mut trunk)
}

fn dist() -> Result<()> {
    let env = bootstrap::ensure(bootstrap::Needs::WEB)?;
    trunk_build_release(&env)?;
    let dist = project_root().join("dist");
    println!("[xtask] wrote {}:", dist.display());
    let mut files: Vec<_> = std::fs::read_dir(&dist)?.filter_map(|e| e.ok()).collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        println!("  {:>10} B  {}", len, entry.file_name().to_string_lossy());
    }
    println!("[xtask] serve it from any path of any static file server, e.g. `python3 -m http.server -d dist`.");
    Ok(())
}

fn bench_web() -> Result<()> {
    let env = bootstrap::ensure(bootstrap::Needs::ALL)?;
    let root = project_root();
    trunk_build_release(&env)?;
    let server = static_server::StaticServer::start(&root.join("dist"), "/sub/svcsim/")?;
    println!("[xtask] measuring the web budgets against {}", server.url);
    let out = env
        .command("node")
        .current_dir(root.join("web/e2e"))
        .arg("bench/web.mjs")
        .env("SVCSIM_BASE_URL", &server.url)
        .env("SVCSIM_DIST", root.join("dist"))
        .env("CHROMIUM_PATH", &env.chromium)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    drop(server);
    anyhow::ensure!(out.status.success(), "the web benchmark failed ({})", out.status);
    let section = String::from_utf8(out.stdout)?;
    print!("{section}");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let chromium = cmd::stdout_of(std::process::Command::new(&env.chromium).arg("--version")).unwrap_or_default();
    let date = cmd::stdout_of(std::process::Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let block = format!(
        "{START}\n_Measured by `cargo xtask bench-web` on {date}: {cpu}, {} cores, {chromium}._\n\n{section}{END}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let path = root.join("docs/BENCHMARKS.md");
    let doc = std::fs::read_to_string(&path)?;
    let updated = match (doc.find(START), doc.find(END)) {
        (Some(a), Some(b)) => format!("{}{block}{}", &doc[..a], &doc[b + END.len()..]),
        _ => format!("{doc}\n## Web\n\n{block}\n"),
    };
    std::fs::write(&path, updated)?;
    println!("[xtask] wrote the web section of {}", path.display());
    Ok(())
}

const START: &str = "<!-- web-bench:start -->";
const END: &str = "<!-- web-bench:end -->";

/// `trunk build --release` into dist/.
fn trunk_build_release(env: &bootstrap::ToolEnv) -> Result<()> {
    cmd::run(env.command("trunk").current_dir(project_root()).args(["build", "--release"]))
}

/// The workspace root (the parent of xtask/).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
