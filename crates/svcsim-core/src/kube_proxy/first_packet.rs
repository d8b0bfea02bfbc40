//! `svcsim packet` for a cluster that is not running: program one node and report every
//! decision its rules could make for one first packet.

use super::eval::every_outcome;
use super::program::program;
use crate::cluster::{Cluster, NodeId};
use crate::dataplane::{FirstPacket, NodeNet, Origin};
use crate::net::{Header, SockAddr};

/// Evaluates the TCP first packet `src → dst` on `node` as kube-proxy has programmed it for
/// `cluster` (which must be allocated). The source is the node itself when it is the node's IP
/// (nat OUTPUT), otherwise a pod or an external client arriving on the node (nat PREROUTING).
pub fn first_packet(cluster: &Cluster, node: NodeId, src: SockAddr, dst: SockAddr) -> FirstPacket {
    let net = NodeNet::of(cluster, node);
    let origin = Origin::of(&net, src.ip);
    FirstPacket::of(&every_outcome(&program(cluster, node), &net, origin, Header::tcp(src, dst)))
}
