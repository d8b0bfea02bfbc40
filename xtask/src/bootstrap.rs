//! Tool bootstrap: installs each external tool svcsim's build and tests need, only when it is
//! missing or at the wrong version, and says what it did and how long it took.
//!
//! | tool | wanted | installed by |
//! |---|---|---|
//! | `wasm32-unknown-unknown` | present | `rustup target add` |
//! | trunk | [`TRUNK_VERSION`] | `cargo install --locked` |
//! | wasm-bindgen CLI | the `wasm-bindgen` version in Cargo.lock | `cargo install` (not `--locked`) |
//! | wasm-opt | binaryen [`BINARYEN_VERSION`] | npm, into `target/tools/binaryen` |
//! | Chromium | any | `apt-get` when root |
//! | e2e packages | web/e2e/package-lock.json | `npm ci` |

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::project_root;

/// Trunk's version: 0.22 needs a newer rustc than the toolchain here.
pub const TRUNK_VERSION: &str = "0.21.14";
/// binaryen's version on npm; Trunk.toml's `[tools] wasm_opt` must say `version_<this>`.
pub const BINARYEN_VERSION: u32 = 132;
/// Where Debian puts Chromium; `CHROMIUM_PATH` overrides it.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// cargo-fuzz, for `cargo xtask fuzz` only (the fuzz regression tests run on stable).
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// What `cargo xtask fuzz` needs: a nightly toolchain (libFuzzer's sanitizer flags) and
/// cargo-fuzz. Nightly cannot be installed here, only found.
pub fn ensure_fuzz(env: &ToolEnv) -> Result<()> {
    let toolchains = cmd::stdout_of(Command::new("rustup").args(["toolchain", "list"])).unwrap_or_default();
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        bail!(
            "the fuzzers need a nightly toolchain (`rustup toolchain install nightly`); \
             their regression tests run on stable in `cargo xtask test`"
        );
    }
    step(
        &format!("cargo-fuzz {CARGO_FUZZ_VERSION}"),
        CARGO_FUZZ_VERSION,
        || tool_version(env, "cargo-fuzz"),
        || cmd::run(env.command("cargo").args(["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION, "--locked"])),
    )
}

/// Which groups of tools a command needs.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// The wasm target, trunk, wasm-bindgen and wasm-opt.
    pub web: bool,
    /// Chromium and the e2e npm packages.
    pub browser: bool,
    /// The kernel lab's tools: iproute2, iptables, nftables, conntrack, ipset, nfacct, curl.
    pub lab: bool,
}

impl Needs {
    /// What `serve` and `dist` need.
    pub const WEB: Needs = Needs { web: true, browser: false, lab: false };
    /// What `test` needs.
    pub const ALL: Needs = Needs { web: true, browser: true, lab: true };
}

/// The environment installed tools run in: `PATH` with cargo's bin dir and the tools folder first.
#[derive(Debug, Clone)]
pub struct ToolEnv {
    path: OsString,
    /// The Chromium binary the e2e tests drive.
    pub chromium: PathBuf,
}

impl ToolEnv {
    /// A command for `program`, resolved against this environment's `PATH`.
    pub fn command(&self, program: &str) -> Command {
        let resolved = env::split_paths(&self.path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(program));
        let mut cmd = Command::new(resolved);
        cmd.env("PATH", &self.path);
        cmd
    }
}

/// Installs what `needs` asks for and returns the environment to run the tools in.
pub fn ensure(needs: Needs) -> Result<ToolEnv> {
    let root = project_root();
    let tools = root.join("target").join("tools");
    let binaryen_bin = tools.join("binaryen").join("node_modules").join(".bin");
    let mut dirs = vec![cargo_bin_dir(), binaryen_bin.clone()];
    dirs.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    let env = ToolEnv {
        path: env::join_paths(dirs).context("PATH contains a character that cannot be joined")?,
        chromium: env::var_os("CHROMIUM_PATH").map_or_else(|| DEFAULT_CHROMIUM.into(), PathBuf::from),
    };

    if needs.web {
        step(
            "rust target wasm32-unknown-unknown",
            "installed",
            || wasm_target_installed().then(|| "installed".into()),
            || cmd::run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"])),
        )?;
        step(
            &format!("trunk {TRUNK_VERSION}"),
            TRUNK_VERSION,
            || tool_version(&env, "trunk"),
            || cmd::run(env.command("cargo").args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"])),
        )?;
        let lock = fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
        let wbg = lockfile_version(&lock, "wasm-bindgen").context("Cargo.lock has no wasm-bindgen package")?;
        // Not `--locked`: its lockfile names a transitive version the registry no longer serves.
        step(
            &format!("wasm-bindgen-cli {wbg}"),
            &wbg,
            || tool_version(&env, "wasm-bindgen"),
            || cmd::run(env.command("cargo").args(["install", "wasm-bindgen-cli", "--version", &wbg])),
        )?;
        check_trunk_toml_wasm_opt(&root)?;
        let wanted = BINARYEN_VERSION.to_string();
        step(
            &format!("wasm-opt (binaryen {BINARYEN_VERSION}, npm)"),
            &wanted,
            || wasm_opt_version(&binaryen_bin),
            || {
                let prefix = tools.join("binaryen");
                fs::create_dir_all(&prefix)?;
                cmd::run(env.command("npm").current_dir(&prefix).args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    "--prefix",
                    ".",
                    &format!("binaryen@{BINARYEN_VERSION}"),
                ]))
            },
        )?;
    }

    if needs.lab {
        lab_tools();
    }
    if needs.browser {
        let chromium = env.chromium.clone();
        step("chromium", "any", || chromium_version(&chromium).map(|_| "any".into()), || install_chromium(&chromium))?;
        let e2e = root.join("web").join("e2e");
        let lock = fs::read_to_string(e2e.join("package-lock.json")).context("reading web/e2e/package-lock.json")?;
        let stamp = e2e.join("node_modules").join(".svcsim-installed-lock");
        step(
            "e2e npm packages (web/e2e)",
            "current",
            || (fs::read_to_string(&stamp).ok()? == lock).then(|| "current".into()),
            || {
                cmd::run(env.command("npm").current_dir(&e2e).args(["ci", "--no-audit", "--no-fund"]))?;
                fs::write(&stamp, &lock).context("writing the e2e install stamp")
            },
        )?;
    }
    Ok(env)
}

/// One install step: probe, and install only when the probe does not report `wanted`.
fn step(
    what: &str,
    wanted: &str,
    probe: impl Fn() -> Option<String>,
    install: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let found = probe();
    if found.as_deref() == Some(wanted) {
        println!("[bootstrap] {what}: present, skipped");
        return Ok(());
    }
    let why = match found {
        Some(v) => format!("found {v}"),
        None => "missing".to_string(),
    };
    println!("[bootstrap] {what}: {why}, installing…");
    let (result, took) = cmd::timed(install);
    result.with_context(|| format!("installing {what}"))?;
    match probe() {
        Some(v) if v == wanted => {
            println!("[bootstrap] {what}: installed in {}", cmd::human(took));
            Ok(())
        }
        other => bail!("installed {what}, but it still reports {other:?}"),
    }
}

fn cargo_bin_dir() -> PathBuf {
    match env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home).join("bin"),
        None => PathBuf::from(env::var_os("HOME").unwrap_or_default()).join(".cargo").join("bin"),
    }
}

fn wasm_target_installed() -> bool {
    let sysroot = cmd::stdout_of(Command::new("rustc").args(["--print", "sysroot"]));
    sysroot.is_some_and(|s| Path::new(&s).join("lib/rustlib/wasm32-unknown-unknown/lib").is_dir())
}

/// `<tool> --version` reduced to its version number (`trunk 0.21.14` → `0.21.14`).
fn tool_version(env: &ToolEnv, tool: &str) -> Option<String> {
    cmd::stdout_of(env.command(tool).arg("--version")).and_then(|out| last_word(&out))
}

fn last_word(version_line: &str) -> Option<String> {
    version_line.lines().next()?.split_whitespace().last().map(str::to_string)
}

fn wasm_opt_version(bin_dir: &Path) -> Option<String> {
    let out = cmd::stdout_of(Command::new(bin_dir.join("wasm-opt")).arg("--version"))?;
    parse_wasm_opt_version(&out).map(|v| v.to_string())
}

/// `wasm-opt version 132 (version_132)` → 132.
fn parse_wasm_opt_version(out: &str) -> Option<u32> {
    let rest = out.split("version ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The version of package `name` in a Cargo.lock; `None` if absent.
fn lockfile_version(lock: &str, name: &str) -> Option<String> {
    let mut in_package = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            in_package = false;
        } else if line == format!("name = \"{name}\"") {
            in_package = true;
        } else if in_package && let Some(v) = line.strip_prefix("version = \"") {
            return v.strip_suffix('"').map(str::to_string);
        }
    }
    None
}

/// Trunk downloads wasm-opt unless the configured version is on PATH, and downloads fail here:
/// the version in Trunk.toml and the one installed must agree.
fn check_trunk_toml_wasm_opt(root: &Path) -> Result<()> {
    let trunk_toml = fs::read_to_string(root.join("Trunk.toml")).context("reading Trunk.toml")?;
    let expected = format!("wasm_opt = \"version_{BINARYEN_VERSION}\"");
    if !trunk_toml.lines().any(|l| l.trim() == expected) {
        bail!("Trunk.toml must say `{expected}` under [tools], matching the binaryen that xtask installs");
    }
    Ok(())
}

fn chromium_version(chromium: &Path) -> Option<String> {
    cmd::stdout_of(Command::new(chromium).arg("--version"))
}

/// The kernel lab's commands and the Debian package of each.
const LAB_TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("iptables-restore", "iptables"),
    ("xtables-monitor", "iptables"),
    ("nft", "nftables"),
    ("conntrack", "conntrack"),
    ("ipset", "ipset"),
    ("nfacct", "nfacct"),
    ("curl", "curl"),
];

/// Installs the kernel lab's tools from Debian's packages when root can; otherwise says what is
/// missing and goes on: the lab's cases are then skipped, with the reason.
fn lab_tools() {
    let on_path = |tool: &str| {
        env::split_paths(&env::var_os("PATH").unwrap_or_default())
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join(tool).is_file())
    };
    let missing: Vec<&str> = LAB_TOOLS.iter().filter(|(t, _)| !on_path(t)).map(|(_, p)| *p).collect();
    if missing.is_empty() {
        println!(
            "[bootstrap] kernel lab tools (iproute2, iptables, nftables, conntrack, ipset, nfacct): present, skipped"
        );
        return;
    }
    let mut packages = missing.clone();
    packages.dedup();
    let is_root = cmd::stdout_of(Command::new("id").arg("-u")).as_deref() == Some("0");
    if !is_root {
        println!(
            "[bootstrap] kernel lab tools: missing {} and not root: the lab's cases will be skipped",
            packages.join(", ")
        );
        return;
    }
    let apt = |args: &[&str]| cmd::run(Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive"));
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&packages);
    match apt(&["update"]).and_then(|()| apt(&install)) {
        Ok(()) => println!("[bootstrap] kernel lab tools: installed {}", packages.join(", ")),
        Err(e) => println!(
            "[bootstrap] kernel lab tools: could not install {} ({e:#}): the lab's cases will be skipped",
            packages.join(", ")
        ),
    }
}

fn install_chromium(chromium: &Path) -> Result<()> {
    let is_root = cmd::stdout_of(Command::new("id").arg("-u")).as_deref() == Some("0");
    if !is_root || chromium != Path::new(DEFAULT_CHROMIUM) {
        bail!(
            "Chromium is not installed at {}. Install Debian's packages as root:\n    \
             apt-get update && apt-get install -y chromium chromium-driver\n\
             or set CHROMIUM_PATH to a Chromium binary.",
            chromium.display()
        );
    }
    cmd::run(Command::new("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive"))?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_probes_reduce_to_the_number() {
        assert_eq!(last_word("trunk 0.21.14\n").as_deref(), Some("0.21.14"));
        assert_eq!(last_word("wasm-bindgen 0.2.130").as_deref(), Some("0.2.130"));
        assert_eq!(parse_wasm_opt_version("wasm-opt version 132 (version_132)"), Some(132));
        assert_eq!(parse_wasm_opt_version("wasm-opt version 116"), Some(116));
        assert_eq!(parse_wasm_opt_version("garbage"), None);
    }

    #[test]
    fn lockfile_version_finds_the_named_package_only() {
        let lock = r#"
[[package]]
name = "wasm-bindgen-macro"
version = "0.2.999"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(lockfile_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(lockfile_version(lock, "yew"), None);
    }

    #[test]
    fn the_workspace_lockfile_pins_wasm_bindgen_to_the_manifest_version() {
        let root = project_root();
        let lock = fs::read_to_string(root.join("Cargo.lock")).unwrap();
        let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let locked = lockfile_version(&lock, "wasm-bindgen").unwrap();
        assert!(
            manifest.contains(&format!("wasm-bindgen = \"={locked}\"")),
            "Cargo.toml must pin wasm-bindgen with `=` to the locked {locked}"
        );
        check_trunk_toml_wasm_opt(&root).unwrap();
    }
}
