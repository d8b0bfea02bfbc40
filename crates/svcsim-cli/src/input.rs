//! Reading a scenario file: size and encoding checks before parsing, diagnostics printed to
//! stderr as `FILE:LINE:COL: error: …`, and the exit code each failure maps to.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use svcsim_core::cluster::NodeId;
use svcsim_core::manifest::{self, Loaded, Overrides, Severity, limits};
use svcsim_core::sim::Sim;

/// Exit code for a scenario that is not valid (or a usage error).
pub const INVALID: u8 = 2;
/// Exit code for a runtime failure, such as a file that cannot be read.
pub const RUNTIME: u8 = 1;

/// Reads and loads `path`, printing its diagnostics (the repeated "not modelled" warnings folded,
/// see [`manifest::grouped`]); warnings do not fail.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Loaded, ExitCode> {
    load_with(path, overrides, false)
}

/// [`load`], printing every diagnostic one by one when `verbose`.
pub fn load_with(path: &Path, overrides: &Overrides, verbose: bool) -> Result<Loaded, ExitCode> {
    let text = read(path)?;
    let shown = |diags: &[manifest::Diagnostic]| if verbose { diags.to_vec() } else { manifest::grouped(diags) };
    match manifest::load(&text, overrides) {
        Ok(loaded) => {
            for w in shown(&loaded.warnings) {
                eprintln!("{}", located(path, &w));
            }
            Ok(loaded)
        }
        Err(diags) => {
            for d in shown(&diags) {
                eprintln!("{}", located(path, &d));
            }
            let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
            eprintln!("{}: {errors} error{} — nothing was run", path.display(), if errors == 1 { "" } else { "s" });
            Err(ExitCode::from(INVALID))
        }
    }
}

/// `file:12:17: error: …` when the diagnostic has a position, `file: error: …` otherwise.
fn located(path: &Path, d: &manifest::Diagnostic) -> String {
    if d.pos.is_some() { format!("{}:{d}", path.display()) } else { format!("{}: {d}", path.display()) }
}

/// The file's text, refusing what cannot be a scenario before reading all of it.
fn read(path: &Path) -> Result<String, ExitCode> {
    read_limited(path, (limits::MAX_YAML_BYTES, "1 MiB", "a scenario"), "scenarios are YAML or JSON")
}

/// A text file of at most `limit.0` bytes (`limit.1` in words, for `limit.2`); `kind` says what
/// text was expected, for a file that is not UTF-8.
pub fn read_limited(path: &Path, limit: (usize, &str, &str), kind: &str) -> Result<String, ExitCode> {
    let (max, size, what) = limit;
    let fail = |code: u8, message: String| {
        eprintln!("{}: error: {message}", path.display());
        ExitCode::from(code)
    };
    let file = fs::File::open(path).map_err(|e| fail(RUNTIME, format!("cannot read the file: {e}")))?;
    let mut bytes = Vec::new();
    // Read at most one byte past the limit: a 50 MiB file is refused without loading it.
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(RUNTIME, format!("cannot read the file: {e}")))?;
    if bytes.len() > max {
        return Err(fail(INVALID, format!("the file is larger than {max} bytes ({size}), svcsim's limit for {what}")));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        fail(INVALID, format!("not UTF-8 text at byte {at} (is it a binary file?); {kind}"))
    })
}

/// A ready-to-run simulation and the node called `node`.
pub fn sim_with_node(path: &Path, node: &str, overrides: &Overrides) -> Result<(Sim, NodeId), ExitCode> {
    let loaded = load(path, overrides)?;
    let sim = Sim::new(loaded.scenario);
    match sim.cluster().node_by_name(node) {
        Some(id) => Ok((sim, id)),
        None => {
            let names: Vec<&str> = sim.cluster().nodes.iter().map(|n| n.name.as_str()).collect();
            eprintln!("error: --node {node}: no such node (the nodes are {})", names.join(", "));
            Err(ExitCode::from(INVALID))
        }
    }
}
