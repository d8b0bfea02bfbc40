//! The `svcsim` command: svcsim scenarios, headless.
//!
//! This is the only crate of the workspace that reads files; the simulation itself
//! lives in `svcsim-core`.

use clap::Parser;

/// Simulate Kubernetes Service routing: kube-proxy, conntrack, cloud load balancers
/// and their health probes.
#[derive(Debug, Parser)]
#[command(name = "svcsim", version = svcsim_core::VERSION)]
struct Cli {}

fn main() {
    let Cli {} = Cli::parse();
    println!(
        "svcsim {}: the scenario commands (run, rules, packet, check, explain) are not built yet; see README.md.",
        svcsim_core::VERSION
    );
}
