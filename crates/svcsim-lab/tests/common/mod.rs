//! What the lab's integration tests share: a random cluster's scenario run in one of
//! kube-proxy's modes.

use svcsim_core::cluster::{KubeProxyConfig, ProxyMode};
use svcsim_core::sim::Sim;
use svcsim_core::time::Instant;

/// `scenario` with kube-proxy in `mode` (its `randomFully` kept), synced at t = 0.
pub fn in_mode(scenario: &svcsim_core::scenario::Scenario, mode: ProxyMode) -> Sim {
    let mut s = scenario.clone();
    let random_fully = s.cluster.config.kube_proxy.random_fully;
    s.cluster.config.kube_proxy = KubeProxyConfig { random_fully, ..KubeProxyConfig::for_mode(mode) };
    let mut sim = Sim::new(s);
    sim.run_until(Instant::ZERO);
    sim
}
