//! The topology YAML format: loader, validator and a readable summary.
//!
//! A topology file lists Kubernetes node VMs, other hosts, routers, switches
//! (with access/trunk/Proxmox VLAN ports and SVIs) and the links between them;
//! see `topologies/blog-lab.yaml` for a commented example. [`load_topology`]
//! parses it with serde-saphyr (so syntax errors and unknown keys are located),
//! then checks every cross-reference and the layer-2 graph ([`l2`]: no loop
//! within a VLAN, no MAC twice in a broadcast domain) and returns a
//! [`Topology`] or the first [`InputError`], always at `file:line:column`.

mod build;
mod doc;
pub mod l2;
pub mod names;
mod parse;
mod summary;

#[cfg(test)]
mod l2_tests;
#[cfg(test)]
mod tests;

pub use build::{DEFAULT_FIXED_ARP_TIMEOUT, DEFAULT_LINK_LATENCY, DEFAULT_MAC_AGING};
pub use summary::summary;

use crate::input::{InputError, parse_yaml};
use crate::model::Topology;

/// Parses and validates a topology file. `file` is the path shown in messages.
///
/// Devices come out in file order of sections: nodes, hosts, routers, switches.
/// Links come out as one per connected switch port (switches and ports in file
/// order), then one per `links` entry.
pub fn load_topology(file: &str, text: &str) -> Result<Topology, InputError> {
    let doc: doc::TopologyDoc = parse_yaml(file, text)?;
    build::build(file, doc)
}

/// Parses a Proxmox VM network option (`tag=216,trunks=181;216`) into a VLAN
/// mode; scenarios use it to reconfigure a port at run time.
pub fn parse_proxmox(text: &str) -> Result<crate::model::VlanMode, String> {
    parse::proxmox(text)
}
