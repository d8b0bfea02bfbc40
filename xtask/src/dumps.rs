//! The dumps `svcsim trace` is tested on, made by the real kernel: a network namespace is loaded
//! with what `svcsim rules` prints (in iptables or nftables mode) plus other software's rules
//! (Docker's and a CNI's through iptables, a firewall's own nftables table), and the real
//! `iptables-save` or `nft list ruleset` lists it. The committed files under
//! `crates/svcsim-cli/tests/dumps/{iptables,nft}/` must equal that listing (`UPDATE_EXPECT=1`
//! rewrites them), so the CLI's tests, which run anywhere, read what a real node prints.
//!
//! It also pins one kernel fact the nftables walk relies on: nat chains run inside the NAT hook
//! (at `dstnat` in output), whatever their own priority, and the first that NATs wins.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::test::{FAIL, PASS, Tally};

/// (fixture under `iptables/` or `nft/`, scenario, node, time, other rules loaded on top: `.rules`
/// through `iptables-restore`, `.nft` through `nft -f`).
const DUMPS: &[(&str, &str, &str, &str, &[&str])] = &[
    ("iptables/aks-blog-node-0.txt", "scenarios/aks-blog.yaml", "node-0", "0s", &[]),
    ("iptables/aks-blog-switch-node-1-100s.txt", "scenarios/aks-blog-switch.yaml", "node-1", "100s", &[]),
    ("iptables/aks-blog-node-0-docker.txt", "scenarios/aks-blog.yaml", "node-0", "0s", &["docker.rules"]),
    (
        "iptables/aks-blog-node-0-docker-cni.txt",
        "scenarios/aks-blog.yaml",
        "node-0",
        "0s",
        &["docker.rules", "cni.rules"],
    ),
    ("nft/aks-blog-node-0.nft", "scenarios/aks-blog.yaml", "node-0", "0s", &[]),
    ("nft/aks-blog-switch-node-1-100s.nft", "scenarios/aks-blog-switch.yaml", "node-1", "100s", &[]),
    ("nft/aks-blog-node-0-docker.nft", "scenarios/aks-blog.yaml", "node-0", "0s", &["docker.rules", "cni.rules"]),
    ("nft/aks-blog-node-0-firewall.nft", "scenarios/aks-blog.yaml", "node-0", "0s", &["firewall.nft"]),
];

/// How many checks [`check`] makes: one per dump, and the NAT hook's order.
pub const CHECKS: u64 = DUMPS.len() as u64 + 1;

/// `cargo xtask dumps`: builds `svcsim`, then [`check`].
pub fn only() -> anyhow::Result<()> {
    let root = crate::project_root();
    crate::cmd::run(Command::new("cargo").current_dir(&root).args(["build", "-q", "-p", "svcsim-cli"]))?;
    let tally = check(&root.join("target/debug/svcsim"), &root);
    anyhow::ensure!(tally.failed == 0, "{} dump check(s) failed", tally.failed);
    Ok(())
}

/// Rebuilds each dump in a namespace of its own and compares it with the committed file.
pub fn check(svcsim: &Path, root: &Path) -> Tally {
    let dir = root.join("crates/svcsim-cli/tests/dumps");
    let mut tally = Tally::default();
    for (i, (fixture, scenario, node, at, layers)) in DUMPS.iter().enumerate() {
        let ns = format!("svdump{}-{i}", std::process::id());
        let nft = fixture.starts_with("nft/");
        let made = make(svcsim, root, &dir, &ns, (scenario, node, at, nft), layers);
        let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
        let path = dir.join(fixture);
        let ok = match made {
            Err(e) => {
                eprintln!("[xtask] dump {fixture}: could not make it: {e}");
                false
            }
            Ok(text) if std::env::var_os("UPDATE_EXPECT").is_some() => fs::write(&path, text).is_ok(),
            Ok(text) => match fs::read_to_string(&path) {
                Ok(committed) if committed == text => true,
                Ok(_) => {
                    eprintln!(
                        "[xtask] dump {fixture}: the kernel lists it differently now (UPDATE_EXPECT=1 rewrites it)"
                    );
                    false
                }
                Err(e) => {
                    eprintln!("[xtask] dump {fixture}: {e}");
                    false
                }
            },
        };
        let lister = if fixture.starts_with("nft/") { "nft list ruleset" } else { "iptables-save" };
        println!("[xtask] dump {fixture} is what {lister} prints: {}", if ok { "ok" } else { "FAILED" });
        tally += if ok { PASS } else { FAIL };
    }
    let ns = format!("svdump{}-nat", std::process::id());
    let ok = nat_hook_order(&ns);
    let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
    match &ok {
        Ok(()) => println!("[xtask] nat chains run at the NAT hook's priority and the first NAT wins: ok"),
        Err(e) => println!("[xtask] nat chains run at the NAT hook's priority and the first NAT wins: FAILED ({e})"),
    }
    tally += if ok.is_ok() { PASS } else { FAIL };
    tally
}

/// Runs `args`, feeding it `stdin`; its stdout, or why it failed.
fn run(root: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if let Some(text) = stdin {
        child.stdin.take().expect("piped").write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A nat chain at priority −190 in output DNATs 10.0.0.1 to 10.244.0.9:8080; a filter chain
/// at `mangle` (−150) must still see 10.0.0.1 (the NAT hook runs at −100), and a second nat
/// chain that would DNAT 10.244.0.9 again must not run: the SYN leaves for 10.244.0.9:8080.
fn nat_hook_order(ns: &str) -> Result<(), String> {
    const RULES: &str = "table ip t {
	chain nat-early {
		type nat hook output priority -190; policy accept;
		ip daddr 10.0.0.1 meta l4proto tcp dnat to 10.244.0.9:8080
	}
	chain nat-late {
		type nat hook output priority -100; policy accept;
		ip daddr 10.244.0.9 meta l4proto tcp dnat to 10.244.0.7:8080
	}
	chain watch-mangle {
		type filter hook output priority mangle; policy accept;
		ip daddr 10.0.0.1 tcp flags syn counter
		ip daddr 10.244.0.9 tcp flags syn counter
	}
	chain watch-out {
		type filter hook postrouting priority srcnat + 10; policy accept;
		ip daddr 10.244.0.9 tcp dport 8080 tcp flags syn counter
	}
}
";
    let root = Path::new(".");
    let exec = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["ip", "netns", "exec", ns];
        all.extend(args);
        run(root, &all, stdin)
    };
    run(root, &["ip", "netns", "add", ns], None)?;
    exec(&["ip", "link", "set", "lo", "up"], None)?;
    exec(&["ip", "addr", "add", "10.244.0.9/32", "dev", "lo"], None)?;
    exec(&["ip", "route", "add", "10.0.0.0/24", "dev", "lo"], None)?;
    exec(&["nft", "-f", "-"], Some(RULES))?;
    // Nobody listens: the SYN is answered by a reset, and the connect fails at once.
    let _ = exec(&["timeout", "2", "bash", "-c", "echo > /dev/tcp/10.0.0.1/80"], None);
    let listing = exec(&["nft", "list", "table", "ip", "t"], None)?;
    let packets = |rule: &str| -> Option<u32> {
        let line = listing.lines().find(|l| l.trim_start().starts_with(rule))?;
        line.split("packets ").nth(1)?.split_whitespace().next()?.parse().ok()
    };
    let seen = [
        packets("ip daddr 10.0.0.1 tcp flags syn"),
        packets("ip daddr 10.244.0.9 tcp flags syn"),
        packets("ip daddr 10.244.0.9 tcp dport 8080"),
    ];
    if seen == [Some(1), Some(0), Some(1)] {
        Ok(())
    } else {
        Err(format!(
            "SYNs counted (to 10.0.0.1 at mangle, to 10.244.0.9 at mangle, leaving for 10.244.0.9:8080): {seen:?}"
        ))
    }
}

fn make(
    svcsim: &Path,
    root: &Path,
    dir: &Path,
    ns: &str,
    (scenario, node, at, nft): (&str, &str, &str, bool),
    layers: &[&str],
) -> Result<String, String> {
    let run = |args: &[&str], stdin: Option<&str>| run(root, args, stdin);
    let svcsim = svcsim.to_str().ok_or("the svcsim path is not UTF-8")?;
    let mode = if nft { "nftables" } else { "iptables" };
    let rules = run(&[svcsim, "rules", scenario, "--node", node, "--at", at, "--proxy-mode", mode], None)?;
    run(&["ip", "netns", "add", ns], None)?;
    for counter in ["ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"] {
        run(&["ip", "netns", "exec", ns, "nfacct", "add", counter], None)?;
    }
    let loader: &[&str] = if nft { &["nft", "-f", "-"] } else { &["iptables-restore"] };
    run(&[&["ip", "netns", "exec", ns], loader].concat(), Some(&rules))?;
    for layer in layers {
        let text = fs::read_to_string(dir.join(layer)).map_err(|e| format!("{layer}: {e}"))?;
        let loader: &[&str] =
            if layer.ends_with(".nft") { &["nft", "-f", "-"] } else { &["iptables-restore", "--noflush"] };
        run(&[&["ip", "netns", "exec", ns], loader].concat(), Some(&text))?;
    }
    let lister: &[&str] = if nft { &["nft", "list", "ruleset"] } else { &["iptables-save"] };
    let saved = run(&[&["ip", "netns", "exec", ns], lister].concat(), None)?;
    // iptables-save's dated `# Generated by` and `# Completed on` lines differ on every run.
    let mut out = format!(
        "# {} of {scenario}, {node} at {at}, kube-proxy's {mode} rules as svcsim prints them",
        lister.join(" ")
    );
    if !layers.is_empty() {
        out.push_str(&format!(" plus {}", layers.join(" and ")));
    }
    out.push('\n');
    for line in saved.lines().filter(|l| !l.starts_with("# ")) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}
