//! kube-proxy's nftables packet-flow test tables as svcsim cases.
