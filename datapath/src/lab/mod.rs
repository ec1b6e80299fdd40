//! Building a topology out of kernel objects, and changing it at run time
//! (power, links, Pods, Antrea's `antrea-ext.<vlan>` legs).
//!
//! ## The design (see also the crate docs)
//! - **Hosts** (Kubernetes nodes, routers, external hosts) are network
//!   namespaces `al<id>-<device>`. Each topology interface is one veth end
//!   inside, with the topology's name, MAC and addresses.
//! - **Switches** are OVS bridges `al<id>-s<n>` (userspace datapath), served
//!   by an `ovs-vswitchd` in the run's switch namespace `al<id>-.ovs`, where
//!   every switch-side veth end lives (nothing is in the root namespace). An
//!   access port is `tag=V`; a trunk between two switches is a veth pair
//!   with `trunks=` on both ends.
//! - **SVIs** (an L3 switch's gateway addresses) live in one namespace per
//!   switch, `al<id>-<switch>`, with one leg `vlan<V>` per SVI, each an access
//!   port of its VLAN. That namespace routes between its VLANs.
//! - **Tagged node ports.** This kernel has no 802.1Q module, so a node cannot
//!   tag frames itself. A Proxmox `tag=216,trunks=181;216` port becomes: eth0
//!   as an access port of the native VLAN 216, plus one leg per other allowed
//!   VLAN created when Antrea asks for `antrea-ext.181`: a veth named
//!   `antrea-ext.181` in the node with eth0's MAC (as a VLAN sub-interface
//!   has), whose switch end is an access port with `tag=181`. A VLAN the trunk
//!   does not allow still gets its leg, but the leg is left out of the bridge:
//!   frames vanish, as they do on the real misconfigured trunk.
//! - **Pods** are namespaces `al<id>-pod<k>` with eth0 on the node's own OVS
//!   bridge `al<id>-i<k>` (Antrea's br-int); the node reaches that bridge
//!   through its `antrea-gw0` veth, which holds the Pod CIDR's first address.
//!   Between nodes, Pod traffic is routed without encapsulation (the engine's
//!   routes "Pod CIDR via node IP"), because this kernel has no Geneve.
//! - **Links between two hosts** are a veth pair straight between the two
//!   namespaces. Link latency is not emulated (no netem here).

mod build;
pub mod routes;

pub use build::{IntBridge, Lab, LabError, PodLeg, pod_mac};
