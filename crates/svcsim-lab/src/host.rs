//! Running a lab on this machine: the commands of a [`Plan`], the checks that say whether a lab
//! can run here at all, and removal of every namespace a lab made — on drop, on Ctrl-C, and by
//! `svcsim lab down`. Only the lab's own namespaces are ever touched.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use crate::plan::Plan;
use crate::setup::Cmd;

/// The tools a lab needs, with the Debian package that has each.
pub const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("iptables-restore", "iptables"),
    ("iptables-save", "iptables"),
    ("ip6tables-restore", "iptables"),
    ("ip6tables-save", "iptables"),
    ("xtables-monitor", "iptables"),
    ("conntrack", "conntrack"),
    ("nfacct", "nfacct"),
    ("sysctl", "procps"),
    ("stdbuf", "coreutils"),
];

/// Set once Ctrl-C or SIGTERM arrived: no further command starts, so nothing is built while the
/// lab is being removed.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C or SIGTERM arrived. The handler is removing the labs and will exit the
/// process; results gathered after that are partial and must not be reported as verdicts.
pub fn interrupted() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Runs `cmd`, returning its standard output; a failure names the command and what it printed.
pub fn run(cmd: &Cmd) -> Result<String> {
    if STOPPING.load(std::sync::atomic::Ordering::SeqCst) && !is_removal(cmd) {
        bail!("interrupted");
    }
    let mut child = Command::new(cmd.program)
        .args(&cmd.args)
        .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{}`", cmd.program))?;
    if let (Some(input), Some(mut pipe)) = (&cmd.stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).with_context(|| format!("feeding `{}`", one_line(cmd)))?;
    }
    let out = child.wait_with_output().with_context(|| format!("running `{}`", one_line(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed ({}): {}", one_line(cmd), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip netns del …` and `ip netns pids …`: what removing a lab runs.
fn is_removal(cmd: &Cmd) -> bool {
    cmd.program == "ip"
        && cmd.args.first().is_some_and(|a| a == "netns")
        && cmd.args.get(1).is_some_and(|a| a == "del" || a == "pids")
}

/// The command without its here-document.
fn one_line(cmd: &Cmd) -> String {
    Cmd { stdin: None, ..cmd.clone() }.to_string()
}

/// Why no lab can run on this machine, if none can: not root, a tool missing, or namespaces or
/// netfilter not working. A caller counts its cases as skipped with this reason.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the kernel lab needs root (it creates network namespaces)".into());
    }
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(tool, package)| format!("{tool} (Debian package {package})"))
        .collect();
    if !missing.is_empty() {
        return Some(format!("the kernel lab needs {}", missing.join(", ")));
    }
    let ns = format!("svcsim-preflight-{}", std::process::id());
    let probe = [
        Cmd::ip_root(&format!("netns add {ns}")),
        Cmd::exec(&ns, "nfacct", &["add", "svcsim_preflight"]),
        Cmd::exec(&ns, "iptables-restore", &[]).with_stdin(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m nfacct --nfacct-name svcsim_preflight\nCOMMIT\n".into(),
        ),
    ];
    let failed = probe.iter().find_map(|c| run(c).err());
    let _ = run(&Cmd::ip_root(&format!("netns del {ns}")));
    failed.map(|e| format!("network namespaces or netfilter do not work here: {e:#}"))
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).any(|dir| dir.join(tool).is_file())
}

/// The lab namespaces that exist now whose names start with `{prefix}-`.
pub fn namespaces_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let dir = Path::new("/run/netns");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .context("listing /run/netns")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    names.sort();
    Ok(names)
}

/// Removes every namespace named `{prefix}-…`, after stopping the processes inside; returns how
/// many there were. It goes on past a namespace it cannot remove, and one that another thread
/// removed meanwhile (Ctrl-C arriving while a lab is being taken down) is not an error.
pub fn remove(prefix: &str) -> Result<usize> {
    let names = namespaces_with_prefix(prefix)?;
    let mut first_error = None;
    for ns in &names {
        stop_processes(ns);
        let deleted = run(&Cmd::ip_root(&format!("netns del {ns}")));
        if let Err(e) = deleted
            && Path::new("/run/netns").join(ns).exists()
        {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(names.len()),
    }
}

/// Terminates what runs inside `ns` (the lab's servers and monitors), then kills what is left.
fn stop_processes(ns: &str) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pids = || -> Vec<Pid> {
        run(&Cmd::ip_root(&format!("netns pids {ns}")))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .map(Pid::from_raw)
            .filter(|p| *p != Pid::this())
            .collect()
    };
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        let running = pids();
        if running.is_empty() {
            return;
        }
        for pid in running {
            let _ = kill(pid, signal);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Asks process `pid` (a lab's server daemon) to stop.
pub fn terminate(pid: i32) {
    use nix::sys::signal::{Signal, kill};
    let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
}

/// The prefixes of the labs this process has up, for the Ctrl-C handler.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Installs, once, a handler that removes this process's labs on Ctrl-C or SIGTERM and exits.
pub fn clean_up_on_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
            // Let a command already running finish: it may be adding a namespace.
            std::thread::sleep(std::time::Duration::from_millis(300));
            let prefixes: Vec<String> = LIVE.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
            for prefix in prefixes {
                let _ = remove(&prefix);
            }
            eprintln!("svcsim lab: interrupted; the lab's namespaces are removed");
            std::process::exit(130);
        });
    });
}

/// A lab that exists: building it runs the plan's setup, and dropping it removes every namespace
/// again (unless [`Lab::keep`] was called).
#[derive(Debug)]
pub struct Lab {
    pub plan: Plan,
    keep: bool,
}

impl Lab {
    /// Builds `plan`. A lab left over with the same prefix is removed first; if a step fails,
    /// what was made is removed and the error names the step.
    pub fn build(plan: Plan) -> Result<Lab> {
        clean_up_on_signals();
        remove(&plan.prefix)?;
        LIVE.lock().map(|mut l| l.insert(plan.prefix.clone())).ok();
        let lab = Lab { plan, keep: false };
        for cmd in lab.plan.setup() {
            run(&cmd).context("building the lab")?;
        }
        Ok(lab)
    }
    /// Leaves the lab running when this value goes away (`svcsim lab up`).
    pub fn keep(mut self) -> Plan {
        self.keep = true;
        LIVE.lock().map(|mut l| l.remove(&self.plan.prefix)).ok();
        self.plan.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(e) = remove(&self.plan.prefix) {
                eprintln!("svcsim lab: could not remove the lab {}: {e:#}", self.plan.prefix);
            }
            LIVE.lock().map(|mut l| l.remove(&self.plan.prefix)).ok();
        }
    }
}
