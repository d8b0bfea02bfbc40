//! Cilium's eBPF kube-proxy replacement.

pub mod maglev;
