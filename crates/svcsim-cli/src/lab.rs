//! `svcsim lab`: the scenario as network namespaces with the real kernel's netfilter, to explore
//! with `curl`, `tcpdump`, `conntrack` and `iptables`, and the check that compares the kernel with
//! svcsim (docs/lab.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use svcsim_core::manifest::Overrides;
use svcsim_core::sim::Sim;
use svcsim_core::time::{Duration, Instant};
use svcsim_lab::plan::Plan;

use crate::input::{self, INVALID, RUNTIME};

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build the scenario at `--at` out of network namespaces and leave it running.
    Up(UpArgs),
    /// Remove a lab: every namespace named `PREFIX-…`, and its servers.
    Down {
        /// The lab's prefix.
        #[arg(long, default_value = "svcsim", value_parser = prefix)]
        prefix: String,
        /// Remove every lab namespace on this machine (`svcsim-…` and `svcheck-…`), left over
        /// from runs that were killed, any user's labs included.
        #[arg(long, conflicts_with = "prefix")]
        all: bool,
    },
    /// The servers of a running lab (started by `svcsim lab up`).
    #[command(hide = true)]
    Serve(Target),
    /// Compare the kernel with svcsim: build each scenario's lab at every moment its changes
    /// make, send every kind of traffic svcsim models through every node, and compare verdicts,
    /// endpoints, NAT, what the app prints and the rules the kernel's trace names.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files.
    files: Vec<PathBuf>,
    /// Also check this many random clusters.
    #[arg(long, default_value_t = 0)]
    random: u64,
    /// The first random cluster's seed; the others follow it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many labs run at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
    jobs: u64,
    /// kube-proxy's mode: iptables, nftables, or both (each scenario and random cluster
    /// checked in each mode, with the mode's defaults). Unset, each file runs in its own mode
    /// and random clusters in iptables mode.
    #[arg(long, value_enum)]
    proxy_mode: Option<Modes>,
}

/// The kube-proxy modes a check runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Modes {
    Iptables,
    Nftables,
    Both,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    target: Target,
    /// Print the commands that build the lab, as a shell script, and build nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A scenario at a moment, and the lab's name.
#[derive(Debug, Args)]
pub struct Target {
    file: PathBuf,
    /// The moment of the scenario to build, e.g. 60s.
    #[arg(long, value_parser = crate::duration, default_value = "0s")]
    at: Duration,
    /// Starts every namespace name (`svcsim-client`, `svcsim-node-0`, …).
    #[arg(long, default_value = "svcsim", value_parser = prefix)]
    prefix: String,
}

fn prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 24 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok { Ok(s.to_string()) } else { Err(format!("{s:?}: use up to 24 letters, digits and dashes")) }
}

pub fn run(command: LabCommand) -> Result<(), ExitCode> {
    match command {
        LabCommand::Up(args) => up(&args),
        LabCommand::Down { prefix, all: false } => down(&prefix),
        LabCommand::Down { all: true, .. } => down("svcsim").and_then(|()| down("svcheck")),
        LabCommand::Serve(target) => serve(&target),
        LabCommand::Check(args) => {
            crate::lab_check::run(&args.files, args.random, args.seed, args.proxy_mode, args.jobs as usize)
        }
    }
}

/// The scenario run to `--at`, and its lab plan.
fn plan(target: &Target) -> Result<(Sim, Plan), ExitCode> {
    let loaded = input::load(&target.file, &Overrides::default())?;
    if loaded.scenario.cluster.config.cilium.is_some() {
        eprintln!(
            "{}: error: this scenario cannot be built as a lab: {}",
            target.file.display(),
            crate::lab_check::CILIUM
        );
        return Err(ExitCode::from(INVALID));
    }
    let mut sim = Sim::new(loaded.scenario);
    sim.run_until(Instant::ZERO + target.at);
    match Plan::of(&sim, &target.prefix) {
        Ok(plan) => Ok((sim, plan)),
        Err(why) => {
            eprintln!("{}: error: this scenario cannot be built as a lab: {why}", target.file.display());
            Err(ExitCode::from(INVALID))
        }
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("svcsim lab: error: {message}");
    ExitCode::from(RUNTIME)
}

fn pid_file(prefix: &str) -> PathBuf {
    Path::new("/run/svcsim-lab").join(format!("{prefix}.pid"))
}

#[cfg(target_os = "linux")]
fn up(args: &UpArgs) -> Result<(), ExitCode> {
    use svcsim_lab::host;
    let (sim, plan) = plan(&args.target)?;
    if args.dry_run {
        println!(
            "#!/bin/sh -e\n# svcsim lab up {} --at {}ms",
            args.target.file.display(),
            args.target.at.as_micros() / 1000
        );
        for cmd in plan.setup() {
            println!("{cmd}");
        }
        return Ok(());
    }
    if let Some(why) = host::unavailable() {
        return Err(fail(why));
    }
    let lab = host::Lab::build(plan).map_err(|e| fail(format!("{e:#}")))?;
    start_servers(&args.target).map_err(fail)?;
    let plan = lab.keep();
    print!("{}", crate::lab_guide::guide(&sim, &plan));
    Ok(())
}

/// Starts the servers' daemon for the lab and waits until it listens.
#[cfg(target_os = "linux")]
fn start_servers(target: &Target) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| format!("finding the svcsim binary: {e}"))?;
    let pid_path = pid_file(&target.prefix);
    let _ = std::fs::remove_file(&pid_path);
    std::process::Command::new(exe)
        .args(["lab", "serve", "--at", &format!("{}ms", target.at.as_micros() / 1000), "--prefix", &target.prefix])
        .arg(&target.file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting the lab's servers: {e}"))?;
    for _ in 0..100 {
        if pid_path.exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err("the lab's servers did not start within 5 s".into())
}

#[cfg(target_os = "linux")]
fn serve(target: &Target) -> Result<(), ExitCode> {
    let (_, plan) = plan(target)?;
    let servers = svcsim_lab::server::Servers::start(&plan).map_err(|e| fail(format!("{e:#}")))?;
    let path = pid_file(&target.prefix);
    let written =
        std::fs::create_dir_all("/run/svcsim-lab").and_then(|()| std::fs::write(&path, std::process::id().to_string()));
    written.map_err(|e| fail(format!("writing {}: {e}", path.display())))?;
    servers.wait();
    Ok(())
}

#[cfg(target_os = "linux")]
fn down(prefix: &str) -> Result<(), ExitCode> {
    let path = pid_file(prefix);
    if let Some(pid) = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
        svcsim_lab::host::terminate(pid);
        let _ = std::fs::remove_file(&path);
    }
    let removed = svcsim_lab::host::remove(prefix).map_err(|e| fail(format!("{e:#}")))?;
    match removed {
        0 => println!("no lab named {prefix} is up"),
        n => println!("removed the lab {prefix}: {n} network namespaces"),
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn up(_: &UpArgs) -> Result<(), ExitCode> {
    Err(fail("the lab needs Linux network namespaces".into()))
}
#[cfg(not(target_os = "linux"))]
fn serve(_: &Target) -> Result<(), ExitCode> {
    Err(fail("the lab needs Linux network namespaces".into()))
}
#[cfg(not(target_os = "linux"))]
fn down(_: &str) -> Result<(), ExitCode> {
    Err(fail("the lab needs Linux network namespaces".into()))
}
