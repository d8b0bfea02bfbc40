//! `cargo xtask`: svcsim's developer commands — tool bootstrap, dev server, static build and the
//! test runner CI uses.
//!
//! Every command first installs what it needs, each tool only when it is missing or at the wrong
//! version (see [`bootstrap`]), so the README's two commands work on a fresh machine.

mod bench;
mod bootstrap;
mod cmd;
mod dumps;
mod fuzz;
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
    /// Only the kernel-made dumps: rebuild `svcsim`, remake each dump under
    /// crates/svcsim-cli/tests/dumps/ in a network namespace and compare (`UPDATE_EXPECT=1`
    /// rewrites them). Linux, root; `test` runs this too.
    Dumps,
    /// Install every tool `test` needs, and nothing else.
    Bootstrap,
    /// Run the cargo-fuzz targets (nightly) for a while each and minimize their corpus in
    /// fuzz/corpus/; failing inputs land in fuzz/artifacts/. CI replays the corpus on stable.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 600)]
        seconds: u32,
        /// Targets to run (scenario, fragment, packet); all when none.
        targets: Vec<String>,
    },
    /// Measure the core (natively, and in wasm as a ratio) and the web app (bundle, first frame,
    /// frame times, memory over a soak), and rewrite docs/BENCHMARKS.md's tables. Reports, not
    /// pass/fail. Both parts unless one is chosen.
    Bench {
        /// Only the core's workloads (native and wasm).
        #[arg(long, conflicts_with = "web")]
        core: bool,
        /// Only the web app.
        #[arg(long)]
        web: bool,
        /// Wall-clock minutes of the web soak (played at 16×).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=120))]
        soak_minutes: u32,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { port, release, open } => serve(port, release, open),
        Command::Dist => dist(),
        Command::Test => test::run(),
        Command::E2e { names } => test::e2e_only(&names),
        Command::Dumps => dumps::only(),
        Command::Bootstrap => bootstrap::ensure(bootstrap::Needs::ALL).map(drop),
        Command::Fuzz { seconds, targets } => fuzz::run(seconds, &targets),
        Command::Bench { core, web, soak_minutes } => {
            bench::run(&bench::Options { core: core || !web, web: web || !core, soak_minutes })
        }
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
