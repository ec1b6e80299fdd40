//! # datapath: real mode (Linux network namespaces, Open vSwitch, nftables)
//!
//! Real mode applies the engine's decisions, unchanged, to kernel objects, so a
//! scenario can run both in the simulator and for real and the results can be
//! compared. The contract is [`NodeBackend`]: it receives exactly the
//! `sim_core::engine::dataplane::NodeDataplane` values the simulator executes.
//!
//! Status: the Linux backend (netns per node/pod/host, veth links, an OVS
//! `datapath_type=netdev` bridge with `tag=`/`trunks=` ports, nft SNAT, `ip rule`)
//! is not written yet; it is tracked as issue 5. Nothing in this crate claims to
//! do more than define the seam.
//!
//! ## Module map
//! - [`kind`]: a kind cluster as a target: node containers from `docker
//!   inspect` (PID, `/proc/PID/ns/net`, `kind` network address), nodes and
//!   objects from `kubectl get -o yaml`, and an antlab lab generated from them.

pub mod kind;

use sim_core::engine::dataplane::NodeDataplane;

/// Something that can make one node's dataplane equal to a desired state.
/// `apply` must be idempotent and atomic per call (all or nothing), like the
/// simulator's `World::apply_dataplane` and an `ovs-ofctl --bundle` / `nft -f`
/// transaction.
pub trait NodeBackend {
    type Error: std::error::Error;

    fn apply(&mut self, node: &str, desired: &NodeDataplane) -> Result<(), Self::Error>;
}
