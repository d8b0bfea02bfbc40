//! `svcsim trace`: a first packet through a real node's rules, read from its `iptables-save`
//! output (and `ipset save`, for `-m set`) or its `nft list ruleset` output, with the Service each kube-proxy chain stands for,
//! what could not be decided without a fact the dump lacks, and what is unusual.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};
use svcsim_core::dump::{DumpError, DumpedRuleset, Facts, Format, Ipsets, Report};
use svcsim_core::net::Header;

use crate::input::{INVALID, read_limited};
use crate::output;

/// A node's dump may be large: 10,000 Services write about 30 MiB.
const MAX_DUMP_BYTES: usize = 64 << 20;

/// What the command was asked.
pub struct Asked<'a> {
    /// The dump and the tool that printed it.
    pub dump: (Format, &'a Path),
    pub ipset: Option<&'a PathBuf>,
    pub node_ips: Option<Vec<IpAddr>>,
    pub in_interface: Option<String>,
    pub out_interface: Option<String>,
    pub header: Header,
    pub json: bool,
}

pub fn run(a: Asked<'_>) -> Result<(), ExitCode> {
    let ipsets = match a.ipset {
        Some(path) => Some(Ipsets::parse(&read(path)?).map_err(|e| report(path, &e))?),
        None => None,
    };
    let facts = Facts { node_ips: a.node_ips, in_interface: a.in_interface, out_interface: a.out_interface, ipsets };
    let (format, path) = a.dump;
    let dump = DumpedRuleset::parse_as(format, &read(path)?, facts).map_err(|e| report(path, &e))?;
    let Report { packet: report, rule_services, undecided, services: on_path, unusual: flags, not_walked: unwalked } =
        dump.report(a.header);
    if a.json {
        let mut v = output::packet_json(&report);
        v["services"] =
            on_path.iter().map(|(c, s)| (c.clone(), Value::from(s.clone()))).collect::<serde_json::Map<_, _>>().into();
        v["undecided"] = json!(undecided);
        v["unusual"] = json!(flags);
        v["notWalked"] = json!(unwalked);
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON values serialize"));
        return Ok(());
    }
    let name = path.display().to_string();
    // Each kube-proxy rule's Service, after it.
    print!("{}", output::packet_text(&report, a.header, &name, &rule_services, false));
    if !undecided.is_empty() {
        println!("not decided (the walk stopped here; the verdict above is what it found before):");
        for u in &undecided {
            println!("  {u}");
        }
    }
    if !flags.is_empty() {
        println!("unusual for a node kube-proxy programs:");
        for f in &flags {
            println!("  {f}");
        }
    }
    if !unwalked.is_empty() {
        println!(
            "not walked: the {} table{} ({})",
            unwalked.join(" and "),
            if unwalked.len() == 1 { "" } else { "s" },
            match format {
                Format::IptablesSave => "svcsim walks nat and filter",
                Format::NftRuleset => "an IP packet's routed path does not pass their hooks",
            }
        );
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, ExitCode> {
    read_limited(
        path,
        (MAX_DUMP_BYTES, "64 MiB", "a dump"),
        "dumps are iptables-save, nft list ruleset or ipset save text",
    )
}

fn report(path: &Path, errors: &[DumpError]) -> ExitCode {
    for e in errors.iter().take(20) {
        eprintln!("{}:{}: error: {}", path.display(), e.line, e.message);
    }
    if errors.len() > 20 {
        eprintln!("{}: … and {} more errors", path.display(), errors.len() - 20);
    }
    eprintln!(
        "{}: {} error{} — nothing was traced",
        path.display(),
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(INVALID)
}
