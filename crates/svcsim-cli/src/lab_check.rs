//! `svcsim lab check`: the differential test over scenario files and random clusters, a few labs
//! at a time, reported per moment and summed up in one line:
//! `netfilter: N cases agree, M skipped` (`, D disagree` when any do).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use svcsim_core::manifest::{DataplaneOverride, Overrides};
use svcsim_core::scenario::Scenario;
use svcsim_core::sim::Sim;
use svcsim_lab::cases;

use crate::input::{self, RUNTIME};
use crate::lab::Modes;
use svcsim_core::cluster::{KubeProxyConfig, ProxyMode};

/// One moment's checks: (name, agreed, or the differences, or why skipped).
type Moment = (String, Vec<(String, Verdict)>);

#[derive(Debug, Clone)]
enum Verdict {
    Agree,
    Disagree(Vec<String>),
    Skipped(String),
}

pub fn run(files: &[PathBuf], random: u64, seed: u64, modes: Option<Modes>, jobs: usize) -> Result<(), ExitCode> {
    let modes: Option<&[ProxyMode]> = modes.map(|m| match m {
        Modes::Iptables => &[ProxyMode::Iptables][..],
        Modes::Nftables => &[ProxyMode::Nftables][..],
        Modes::Both => &[ProxyMode::Iptables, ProxyMode::Nftables][..],
    });
    // Every file is read first: a bad one stops the check before any lab is built.
    let mut work: Vec<(String, Scenario)> = Vec::new();
    for file in files {
        let Some(modes) = modes else {
            work.push((file.display().to_string(), input::load(file, &Overrides::default())?.scenario));
            continue;
        };
        for &mode in modes {
            let overrides = Overrides { dataplane: Some(DataplaneOverride::KubeProxy(mode)), ..Overrides::default() };
            work.push((format!("{} ({mode})", file.display()), input::load(file, &overrides)?.scenario));
        }
    }
    let modes = modes.unwrap_or(&[ProxyMode::Iptables]);
    for s in seed..seed.saturating_add(random) {
        for &mode in modes {
            let mut scenario = svcsim_lab::random::scenario(s);
            let random_fully = scenario.cluster.config.kube_proxy.random_fully;
            scenario.cluster.config.kube_proxy = KubeProxyConfig { random_fully, ..KubeProxyConfig::for_mode(mode) };
            work.push((format!("random cluster {s} ({mode})"), scenario));
        }
    }
    if work.is_empty() {
        eprintln!("svcsim lab check: error: give scenario files or --random N");
        return Err(ExitCode::from(input::INVALID));
    }
    if let Some(why) = unavailable() {
        let planned: usize = work.iter().map(|(_, s)| planned(s)).sum();
        println!("the kernel lab cannot run here: {why}");
        println!("netfilter: 0 cases agree, {planned} skipped");
        return Ok(());
    }
    let moments = run_all(work, jobs);
    wait_if_interrupted();
    report(&moments)
}

/// How many checks a scenario makes across its moments.
fn planned(scenario: &Scenario) -> usize {
    let moments = cases::moments(scenario);
    let mut sim = Sim::new(scenario.clone());
    let mut total = 0;
    for (i, t) in moments.iter().enumerate() {
        sim.run_until(*t);
        let restores = sim.cluster().nodes.len() * sim.cluster().config.families().len();
        total += cases::count(&sim) + if i > 0 { restores } else { 0 };
    }
    total
}

/// Why a Cilium scenario is not checked against the kernel.
pub const CILIUM: &str = "Cilium's datapath is eBPF programs, which the lab does not load (it loads netfilter rules); check this cluster under kube-proxy with --proxy-mode";

#[cfg(target_os = "linux")]
fn unavailable() -> Option<String> {
    svcsim_lab::host::unavailable()
}

/// After Ctrl-C the checks fail with "interrupted"; they are not verdicts. The signal handler
/// removes the labs and exits with 130, so this thread only waits for it.
#[cfg(target_os = "linux")]
fn wait_if_interrupted() {
    while svcsim_lab::host::interrupted() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(not(target_os = "linux"))]
fn wait_if_interrupted() {}

#[cfg(not(target_os = "linux"))]
fn unavailable() -> Option<String> {
    Some("the kernel lab needs Linux network namespaces".into())
}

/// Runs every scenario, `jobs` at a time; results come back in the order given.
fn run_all(work: Vec<(String, Scenario)>, jobs: usize) -> Vec<Moment> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Vec<Moment>>>> = Mutex::new((0..work.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for worker in 0..jobs.min(work.len()) {
            let (work, next, results) = (&work, &next, &results);
            scope.spawn(move || {
                // Not `svcsim-…`: `svcsim lab down` must not remove a running check's labs.
                let prefix = format!("svcheck-{}-{worker}", std::process::id());
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((label, scenario)) = work.get(i) else { break };
                    let moments = check_scenario(label, scenario.clone(), &prefix);
                    results.lock().expect("results")[i] = Some(moments);
                }
            });
        }
    });
    results.into_inner().expect("results").into_iter().flatten().flatten().collect()
}

#[cfg(target_os = "linux")]
fn check_scenario(label: &str, scenario: Scenario, prefix: &str) -> Vec<Moment> {
    use svcsim_core::dataplane::RulesText;
    use svcsim_lab::check::{self, Checked};
    use svcsim_lab::judge::Judgement;
    let verdict = |j: Judgement| match j {
        Judgement::Agree => Verdict::Agree,
        Judgement::Disagree(d) => Verdict::Disagree(d),
        Judgement::Skipped(s) => Verdict::Skipped(s),
    };
    if scenario.cluster.config.cilium.is_some() {
        return vec![(label.to_string(), vec![("Cilium's datapath".into(), Verdict::Skipped(CILIUM.into()))])];
    }
    let moments = cases::moments(&scenario);
    let mut sim = Sim::new(scenario);
    let mut before: Option<Vec<Vec<Option<String>>>> = None;
    let mut out = Vec::new();
    for t in moments {
        sim.run_until(t);
        let mut checked: Vec<Checked> = match check::check(&sim, prefix) {
            Ok(c) => c,
            Err(e) => vec![Checked {
                name: "building the lab".into(),
                judgement: Judgement::Disagree(vec![format!("{e:#}")]),
            }],
        };
        // Each node's rules of each family: (family, node's listing), first family first.
        let families = sim.cluster().config.families();
        let saves: Vec<Vec<Option<String>>> = sim
            .cluster()
            .nodes
            .ids()
            .map(|n| families.iter().map(|f| sim.dataplane().render_family(n, RulesText::Save, *f)).collect())
            .collect();
        if let Some(before) = &before {
            let tool = svcsim_lab::tool::Tool(sim.cluster().config.kube_proxy.mode);
            for (n, id) in sim.cluster().nodes.ids().enumerate() {
                let name = &sim.cluster().node(id).name;
                for (f, family) in families.iter().enumerate() {
                    let restore = sim.dataplane().render_family(id, RulesText::Restore, *family);
                    let (Some(earlier), Some(restore), Some(later)) = (&before[n][f], restore, &saves[n][f]) else {
                        continue;
                    };
                    let texts = [earlier.as_str(), restore.as_str(), later.as_str()];
                    checked.push(check::restore_after_change(tool, *family, prefix, name, texts));
                }
            }
        }
        before = Some(saves);
        let name = format!("{label} at {}s", t.as_secs_f64());
        out.push((name, checked.into_iter().map(|c| (c.name, verdict(c.judgement))).collect()));
    }
    out
}

#[cfg(not(target_os = "linux"))]
fn check_scenario(_: &str, _: Scenario, _: &str) -> Vec<Moment> {
    Vec::new()
}

/// Prints each moment's tally and every disagreement, then the summary line.
fn report(moments: &[Moment]) -> Result<(), ExitCode> {
    let (mut agree, mut disagree, mut skipped) = (0, 0, 0);
    for (name, checks) in moments {
        let count = |f: fn(&Verdict) -> bool| checks.iter().filter(|(_, v)| f(v)).count();
        let (a, d, s) = (
            count(|v| matches!(v, Verdict::Agree)),
            count(|v| matches!(v, Verdict::Disagree(_))),
            count(|v| matches!(v, Verdict::Skipped(_))),
        );
        println!("{name}: {a} agree{}{}", plural(d, "disagree"), plural(s, "skipped"));
        for (check, v) in checks {
            match v {
                Verdict::Disagree(why) => {
                    println!("  ✗ {check}");
                    for w in why {
                        println!("      {w}");
                    }
                }
                Verdict::Skipped(why) => println!("  - {check}: skipped: {why}"),
                Verdict::Agree => {}
            }
        }
        (agree, disagree, skipped) = (agree + a, disagree + d, skipped + s);
    }
    let disagreeing = if disagree > 0 { format!(", {disagree} disagree") } else { String::new() };
    println!("netfilter: {agree} cases agree{disagreeing}, {skipped} skipped");
    if disagree > 0 { Err(ExitCode::from(RUNTIME)) } else { Ok(()) }
}

fn plural(n: usize, what: &str) -> String {
    if n == 0 { String::new() } else { format!(", {n} {what}") }
}
