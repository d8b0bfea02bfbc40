//! A dump of a random cluster's rules answers as svcsim does: every first packet the kernel lab
//! sends (through the load balancer, to NodePorts, hairpin, source ranges, affinity, UDP…),
//! walked through the node's listing read back as an `iptables-save` or `nft list ruleset`
//! dump, gets the verdict, endpoints, masquerade and reason of svcsim's own dataplane
//! (`docs/fidelity.md#nftables-dumps`).

mod common;

use svcsim_core::cluster::{NodeId, ProxyMode};
use svcsim_core::dataplane::{FirstPacket, RulesText};
use svcsim_core::dump::{DumpedRuleset, Facts, Format};
use svcsim_lab::cases;
use svcsim_lab::plan::Plan;

use common::in_mode;

#[test]
fn a_dump_of_a_random_clusters_rules_walks_as_svcsim_does() {
    let mut compared = 0;
    let mut wrong = Vec::new();
    for seed in 0..60 {
        let scenario = svcsim_lab::random::scenario(seed);
        for (mode, format) in [(ProxyMode::Iptables, Format::IptablesSave), (ProxyMode::Nftables, Format::NftRuleset)] {
            let sim = in_mode(&scenario, mode);
            let Ok(mut plan) = Plan::of(&sim, "dumps") else { continue };
            plan.add_probe_pods();
            let probes = cases::of(&sim, &mut plan).into_iter().filter(|c| c.health.is_none());
            let mut dumps = std::collections::BTreeMap::new();
            for c in probes {
                let node = NodeId(c.ingress as u32);
                let dump = dumps.entry(node).or_insert_with(|| {
                    let net = sim.node_net(node, svcsim_core::net::IpFamily::Ipv4);
                    let listing = sim.dataplane().render(node, RulesText::Save);
                    let node_ips = Some([Some(net.node_ip), net.bridge_ip].into_iter().flatten().collect());
                    DumpedRuleset::parse_as(format, &listing, Facts { node_ips, ..Facts::default() })
                        .unwrap_or_else(|e| panic!("seed {seed} {mode:?}: {e:?}"))
                });
                let svcsim = FirstPacket::of(&sim.dataplane().every_decision(node, c.origin, c.header));
                let walks = dump.walk(c.header);
                let undecided: Vec<String> = walks.iter().filter_map(|w| w.undecided.clone()).collect();
                let traced = FirstPacket::of(&walks.into_iter().map(|w| w.decision).collect::<Vec<_>>());
                compared += 1;
                let same = (&traced.verdict, &traced.endpoints, traced.masquerade, &traced.reason)
                    == (&svcsim.verdict, &svcsim.endpoints, svcsim.masquerade, &svcsim.reason);
                if !same || !undecided.is_empty() || traced.rules.len() != svcsim.rules.len() {
                    wrong
                        .push(format!("seed {seed} {mode:?} {}: {traced:?} {undecided:?}\nsvcsim: {svcsim:?}", c.name));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {compared} first packets differ:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("{compared} first packets walked alike");
    assert!(compared > 2000, "only {compared} first packets compared");
}
