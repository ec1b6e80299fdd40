//! Building a topology out of kernel objects, and changing it at run time
//! (power, links, Pods, Antrea's `antrea-ext.<vlan>` legs).
//!
//! ## The design (see also the crate docs), `options.brInt: switch`
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
//!   routes "Pod CIDR via node IP"). Pods get the engine's MACs
//!   (`sim_core::engine::pipeline::pod_mac`, `gateway_mac`).
//!
//! ## `options.brInt: pipeline`: Antrea's program on each node's own OVS
//! - Each Kubernetes node runs its own `ovsdb-server` + `ovs-vswitchd`
//!   (userspace datapath, `crate::ovs::Ovs::start_in`), the daemon inside
//!   the node's namespace, so its taps, its conntrack (zones 65520/65521 are
//!   per node in Antrea's program) and its tunnel routes are the node's.
//! - **br-int** has Antrea's ports at Antrea's ofports: `antrea-tun0`
//!   (Geneve, `remote_ip=flow`) 1, `antrea-gw0` (an internal port, the
//!   engine's gateway MAC) 2, Pods from 3 in the engine's order
//!   (`pods_by_ofport`), each a veth whose host end sits in the node's
//!   namespace under the name `get iplink` shows. It runs the compiled
//!   program (`crate::apply::pipeline_bundle`): the same text the
//!   simulator's interpreter runs (plus, with DSR, the one flow
//!   `crate::apply` adds for OVS's userspace conntrack), replaced in one
//!   bundle when it changes.
//! - **The physical bridge** is named after the interface that holds the
//!   node IP (`eth0`): its internal port *is* the node's `eth0` (topology
//!   MAC and addresses, so routes and ARP need no renaming), and the
//!   underlay veth (`phy-eth0` in the node) is its uplink. OVS's userspace
//!   tunnels route the outer packet from the node's own kernel routes and
//!   must leave through a bridge port, hence the bridge.
//! - **VLANs are tagged by the node**, as a VLAN device would: the switch
//!   port is the topology's trunk, and each `antrea-ext.<vlan>` is a bridge
//!   of its own (its internal port is the leg, with eth0's MAC) patched to
//!   the physical bridge by a port with `tag=<vlan>`. A bridge of its own
//!   because OVS keeps tunnel neighbours per bridge and learns them from
//!   the outer headers of the tunnel packets it receives: a Geneve packet
//!   routed to an Egress IP on the leg carries the router's MAC, which must
//!   not become the sender's MAC on the node-IP bridge (seen: replies to
//!   the Pod's node went to the router's VLAN-181 MAC).
//! - Interfaces that are only OVS ports (Pod host ends, the uplink) are
//!   kept from the node's IP stack (`arp_ignore=8`, `forwarding=0`, no
//!   IPv6): the userspace datapath reads them with packet sockets, so the
//!   stack also sees their frames and would answer ARP for the node's
//!   addresses with the port's MAC (seen: a Pod learnt its gateway at its
//!   veth's MAC and the node's kernel forwarded its pings into br-int as
//!   gateway traffic).
//! - Power-on flushes the node's OVS conntrack and tunnel neighbours (a
//!   cold boot); power-off takes down the uplink and the Pods' host ends.
//! - OVS's userspace datapath does not carry `pkt_mark` into the kernel,
//!   so the node's nftables still mark Egress traffic by source address
//!   (the engine's `marks`); the SNAT that follows is the same.
//! - **Links between two hosts** are a veth pair straight between the two
//!   namespaces. Link latency is not emulated (no netem here).

mod build;
mod external_node;
pub mod routes;

pub use build::{BR_INT, IntBridge, Lab, LabError, NodeSwitch, PodLeg, PodPlug};
pub use external_node::ExtNodeSwitch;
