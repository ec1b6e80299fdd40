//! The discrete-event simulator: the lab's devices running, frames on links,
//! timers, power and link failures, probes, and the event log.
//!
//! Start here: [`World::new`] builds running devices from a `model::Topology`;
//! the scenario runner (or a test) calls [`World::run_until`] and the control
//! operations ([`World::set_power`], [`World::set_link`], [`World::add_pod`],
//! [`World::apply_dataplane`], [`World::start_probe`]) between runs.
//!
//! Module map:
//! - `world`: the [`World`] and its event loop; its rooms (links, L2
//!   switching, hosts, drops, probes, power, Pods, br-int executing its
//!   OpenFlow program, dataplane, GARP, BFD, agents) each hold one
//!   `impl World` block (see `world/mod.rs`).
//! - [`stack`]: a host/router/SVI IPv4 stack (ARP, routing, NAT, ICMP, TCP SYN).
//! - [`arp`]: the neighbour cache (Linux state machine or fixed router timeout).
//! - [`routing`]: route tables and `ip rule` policy routing.
//! - [`nat`]: SNAT rules and conntrack.
//! - [`switch`]: MAC learning per VLAN.
//! - [`probe`]: ping/TCP probes and their verdicts.
//! - [`trace`]: log entries, drop reasons, trace tags.
//! - [`log`]: the event log's memory: kept, or streamed to a sink as it grows.
//!
//! Every event is ordered by (time, insertion sequence), so a run is a pure
//! function of the topology, the scenario and the seed.

pub mod arp;
pub mod log;
pub mod nat;
pub mod probe;
pub mod reach;
pub mod route_change;
pub mod routing;
pub mod services;
pub mod stack;
pub mod switch;
pub mod tcp_close;
pub mod trace;

mod devices;
mod world;

pub use devices::{DeviceRt, HostIfaceKind, HostRt, SwitchRt};
pub use world::{
    BFD_INTERVAL, BFD_MULTIPLIER, CAPTURE_BUDGET, ControlEvent, DeniedPacket, GATEWAY_OFPORT,
    INLINE_DELAY, Inline, InlineDrop, LinkState, LiveCapture, LiveWatch, MEMBERLIST_PORT,
    TUNNEL_OFPORT, TagAt, World, describe_route,
};
