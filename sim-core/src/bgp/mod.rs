//! BGP-4 as the lab's speakers run it (issue 17): the Antrea nodes' speakers
//! (gobgp in Antrea) and a router's (FRR's bgpd in real mode). Sans-I/O, like
//! `engine::memberlist`: time comes in, actions go out; the messages are
//! [`crate::wire::bgp`]'s.
//!
//! - [`fsm`]: one peering's session state machine (RFC 4271 §8): the host
//!   hands it TCP events, stream bytes and timer expiries and executes the
//!   actions it returns (connect, send, close, set a timer, report
//!   Established/Down and received UPDATEs).
//! - [`rib`]: a router's table: paths per peer, best path and multipath,
//!   Graceful Restart's stale paths, the forwarding changes they make.
//! - [`speaker`]: one speaker, a node's or a router's: its TCP, a session
//!   per peering, a router's RIB; packets and wakes in, packets, wakes,
//!   forwarding changes and log lines out.
//! - [`tcp`]: the sessions' TCP: smoltcp's, one in-memory IP interface per
//!   speaker, its packets carried by the simulated network.

pub mod fsm;
pub mod rib;
pub mod speaker;
pub mod tcp;
