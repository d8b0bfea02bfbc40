//! The seed story (the AKS blog): Cluster shows a node-side address and 100 % probes; Local
//! shows the client's address, the pod-less node leaves rotation, and probes fall to 50 %.

use std::collections::BTreeSet;

use svcsim_core::cluster::{NodeId, ServiceId};
use svcsim_core::record::Run;
use svcsim_core::record::{Initiator, Outcome};
use svcsim_core::sim::Sim;
use svcsim_core::time::Instant;

use crate::fixtures::*;

/// The answered requests' app outputs, for requests sent in `[from, to)` seconds.
fn outputs(run: &Run, from: u64, to: u64) -> BTreeSet<String> {
    requests(run, from, to).filter(|f| f.outcome == Outcome::Answered).filter_map(|f| f.app_output.clone()).collect()
}

fn requests(run: &Run, from: u64, to: u64) -> impl Iterator<Item = &svcsim_core::record::FlowRecord> {
    run.flows
        .iter()
        .filter(|f| matches!(f.initiator, Initiator::Client(_)))
        .filter(move |f| f.start >= Instant::from_secs(from) && f.start < Instant::from_secs(to))
}

#[test]
fn cluster_policy_shows_a_node_side_address_and_probes_stay_at_100() {
    let mut sim = Sim::new(seed(120, None));
    let run = sim.run();
    // The pod runs on node-0 (podCIDR 10.244.0.0/24): when the LB picks node-0 the pod sees
    // cbr0's address; when it picks node-1 it sees node-1's IP (docs/fidelity.md#snat-source-address).
    // Both happen.
    assert_eq!(
        outputs(run, 0, 120),
        BTreeSet::from(["::ffff:10.244.0.1".to_string(), "::ffff:10.240.0.5".to_string()])
    );
    assert!(requests(run, 0, 119).all(|f| f.outcome == Outcome::Answered), "every request is answered");
    let percent = |m: u64| run.probe_status(m..m + 1).map(|s| s.percent);
    assert_eq!(percent(0), Some(100.0));
    assert_eq!(percent(1), Some(100.0));
    assert!(run.rotation.is_empty());
}

#[test]
fn local_policy_shows_the_client_ip_and_probes_fall_to_50() {
    // Patched mid-minute, so minute 1 straddles the change, as it does for a real user.
    let mut sim = Sim::new(seed(240, Some(90)));
    let run = sim.run();
    assert_eq!(outputs(run, 0, 90).len(), 2, "before the patch: node-side addresses");
    assert_eq!(outputs(run, 91, 240), BTreeSet::from(["::ffff:198.51.100.79".to_string()]));

    // About 10 s after the patch (sync ≤ 1 s, then two failed probes 5 s apart), node-1 leaves.
    let left = &run.rotation[0];
    assert_eq!((left.node, left.in_rotation), (NodeId(1), false));
    assert_eq!(left.reason.as_deref(), Some("probe HTTP 503 ×2"));
    let after = left.time.saturating_since(Instant::from_secs(90)).as_secs_f64();
    assert!((5.0..=12.0).contains(&after), "left rotation {after} s after the patch");
    assert_eq!(run.rotation.len(), 1);

    // Until then the LB still sends some requests to node-1, which drops them silently
    // (docs/fidelity.md#no-endpoints).
    for f in requests(run, 90, 240).filter(|f| f.outcome != Outcome::Answered) {
        assert!(f.start < left.time, "no drop once node-1 is out of rotation: {f:?}");
        assert_eq!(f.ingress_node, Some(NodeId(1)));
        let reason = f.outcome.reason().unwrap().to_string();
        assert!(reason.starts_with("\"default/node-service has no local endpoints\""), "{reason}");
        assert_eq!(f.outcome.label(), "dropped");
    }

    let percent = |m: u64| run.probe_status(m..m + 1).map(|s| s.percent);
    assert_eq!(percent(0), Some(100.0));
    let transition = percent(1).unwrap();
    assert!(transition > 50.0 && transition < 100.0, "the transition minute reads {transition}");
    assert_eq!(percent(2), Some(50.0));
    assert_eq!(percent(3), Some(50.0));
    let minute3 = run.probe_status(3..4).unwrap();
    assert_eq!(minute3.per_node[&NodeId(0)], 100.0);
    assert_eq!(minute3.per_node[&NodeId(1)], 0.0);
    assert_eq!(sim.in_rotation(ServiceId(0), NodeId(1)), Some(false));
}
