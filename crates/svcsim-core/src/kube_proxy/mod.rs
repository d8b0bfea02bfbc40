//! kube-proxy in iptables mode: the rules it programs per node ([`program()`]), the walk of a
//! first packet through them ([`evaluate`]), and its health servers ([`health`]).

mod eval;
mod first_packet;
pub mod health;
mod program;
mod rules;

pub use eval::{Chooser, Delivery, ForcedPick, NodeNet, Origin, RuleHit, Verdict, Walk, evaluate, every_outcome};
pub use first_packet::{FirstPacket, FirstPacketVerdict, first_packet, first_packet_on};
pub use program::{PortChains, ProgramCache, endpoint_chain, program, program_cached};
pub use rules::{
    Chain, ChainName, CtStates, Interner, MASQ_MARK, Match, Rule, Ruleset, Table, TableRules, Target, chains,
};

#[cfg(test)]
mod tests;
