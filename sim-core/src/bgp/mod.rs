//! BGP-4 as the lab's speakers run it (issue 17): the Antrea nodes' speakers
//! (gobgp in Antrea) and a router's (FRR's bgpd in real mode). Sans-I/O, like
//! `engine::memberlist`: time comes in, actions go out; the messages are
//! `wire::bgp`'s.
//!
//! - [`rib`]: a router's table: paths per peer, best path and multipath,
//!   Graceful Restart's stale paths, the forwarding changes they make.
//! - [`tcp`]: the sessions' TCP: smoltcp's, one in-memory IP interface per
//!   speaker, its packets carried by the simulated network.

pub mod rib;
pub mod tcp;
