//! Live-traffic Traceflow in the simulator's br-ints: Antrea's agent tags
//! the first packet of a new connection that matches the Traceflow
//! (pkg/agent/openflow/pipeline.go, `flowsToTrace`) and each node reports
//! what its br-int did with the tagged packet; here br-int keeps its walk of
//! that packet on each node, and the control plane reads the observations
//! from those walks (`engine::pipeline::traceflow::RecordedTracer`).
//!
//! Where the tag is set, as in Antrea:
//! - **a source Pod**: on the source Pod's node, a packet from the Pod's
//!   ofport whose first conntrack pass says `+trk+new`, to the destination
//!   address when one is given (a Service's ClusterIP before DNAT), with
//!   the protocol and ports asked for;
//! - **only a destination Pod**: on its node, a `+trk+new` packet for the
//!   Pod (its address, or DNAT to it), from the source IP when one is
//!   given; only that node reports (receiver only).
//!
//! The tagged packet is followed across the tunnel by its headers (Antrea
//! carries the tag in the IP DSCP bits; antlab leaves the packet's bytes
//! alone). Without `droppedOnly` the first tagged packet is the one
//! traced, and tagging stops (the agent removes its flows at the first
//! packet-in); with `droppedOnly` every matching packet is tagged until one
//! is dropped, and only the node that dropped it reports.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{ControlEvent, World};
use crate::engine::pipeline::traceflow::{CapturedPacket, LiveHop, NodeTrace};
use crate::engine::policy::PolicyCatalog;
use crate::model::DeviceId;
use crate::openflow::field::ct_bits;
use crate::openflow::trace::TraceLine;
use crate::openflow::{Packet, Walk};
use crate::wire;

use super::br_int::TUNNEL_OFPORT;

/// Tagged packets followed across tunnels at once, per Traceflow (a
/// `droppedOnly` Traceflow tags every match until one is dropped).
const MAX_IN_FLIGHT: usize = 64;

/// What a live-traffic Traceflow watches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveWatch {
    pub name: String,
    /// The node that tags: the source Pod's, or the destination Pod's.
    pub node: DeviceId,
    pub at: TagAt,
    pub nw_proto: Option<u8>,
    pub tp_src: Option<u16>,
    pub tp_dst: Option<u16>,
    pub dropped_only: bool,
}

/// Which packets the tagging node tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagAt {
    /// Packets the source Pod sends from `ofport`, to `nw_dst` if given.
    Sender {
        ofport: u32,
        nw_dst: Option<Ipv4Addr>,
    },
    /// Packets for the destination Pod at `pod_ip`, from `nw_src` if given.
    Receiver {
        pod_ip: Ipv4Addr,
        nw_src: Option<Ipv4Addr>,
    },
}

/// What a live-traffic Traceflow has captured so far.
#[derive(Clone, Debug, Default)]
pub struct LiveCapture {
    /// Each reporting node's hop and its br-int's walk, in order.
    pub hops: Vec<(LiveHop, NodeTrace)>,
    pub packet: Option<CapturedPacket>,
    /// The rules as they were at the first hop.
    pub catalog: Option<Arc<PolicyCatalog>>,
}

/// A tagged packet that left by the tunnel.
#[derive(Clone, Debug)]
struct InFlight {
    tun_src: Ipv4Addr,
    tun_dst: Ipv4Addr,
    key: (u32, u32, u8, u16, u16),
}

#[derive(Debug)]
pub(super) struct LiveRt {
    watch: LiveWatch,
    /// No more packets are tagged.
    closed: bool,
    in_flight: Vec<InFlight>,
    capture: LiveCapture,
}

/// A packet's inner addresses, protocol and ports.
fn key_of(p: &Packet) -> (u32, u32, u8, u16, u16) {
    let h = p.headers();
    (
        h.nw_src.map_or(0, u32::from),
        h.nw_dst.map_or(0, u32::from),
        p.get(crate::openflow::Field::NwProto) as u8,
        h.tp_src.unwrap_or(0),
        h.tp_dst.unwrap_or(0),
    )
}

/// The conntrack state the walk's first recirculation resumed with
/// (what Antrea's tag flow in ConntrackStateTable matches on).
fn first_ct_state(walk: &Walk) -> Option<u8> {
    walk.trace.as_ref()?.lines().iter().find_map(|l| match l {
        TraceLine::Pass { n, ct_state, .. } if *n >= 1 => Some(*ct_state),
        _ => None,
    })
}

/// The addresses a walk's DNATs translated to.
fn dnat_targets(walk: &Walk) -> impl Iterator<Item = Ipv4Addr> + '_ {
    walk.verdict.cts.iter().filter_map(|c| {
        let to = c.nat.as_deref()?.strip_prefix("dst=")?;
        to.split(':').next()?.parse().ok()
    })
}

impl LiveWatch {
    fn ports_match(&self, p: &Packet) -> bool {
        let key = key_of(p);
        self.nw_proto.is_none_or(|n| n == key.2)
            && self.tp_src.is_none_or(|s| s == key.3)
            && self.tp_dst.is_none_or(|d| d == key.4)
    }

    /// Whether the tagging node tags `packet`, walked as `walk`.
    fn tags(&self, packet: &Packet, walk: &Walk) -> bool {
        if !packet.is_ipv4() || first_ct_state(walk).is_none_or(|s| s & ct_bits::NEW == 0) {
            return false;
        }
        let key = key_of(packet);
        match &self.at {
            TagAt::Sender { ofport, nw_dst } => {
                packet.in_port() == *ofport
                    && nw_dst.is_none_or(|d| u32::from(d) == key.1)
                    && self.ports_match(packet)
            }
            TagAt::Receiver { pod_ip, nw_src } => {
                let out = walk.emitted.first().unwrap_or(packet);
                (key.1 == u32::from(*pod_ip) || dnat_targets(walk).any(|ip| ip == *pod_ip))
                    && nw_src.is_none_or(|s| u32::from(s) == key.0)
                    && self.ports_match(out)
            }
        }
    }
}

/// `status.capturedPacket`: the packet as it left (or, dropped, as it
/// came), with the IP header's length and flags from its frame.
fn captured(packet: &Packet, walk: &Walk, frame: &[u8]) -> CapturedPacket {
    let p = walk.emitted.first().unwrap_or(packet);
    let h = p.headers();
    let ip = wire::parse_eth(frame).map(|(_, b)| b).unwrap_or(&[]);
    let byte = |i: usize| ip.get(i).copied().unwrap_or(0);
    let ihl = usize::from(byte(0) & 0x0f) * 4;
    let l4 = |i: usize| byte(ihl + i);
    let protocol = p.get(crate::openflow::Field::NwProto) as u8;
    let (src_port, dst_port) = match protocol {
        6 | 17 => (h.tp_src.unwrap_or(0), h.tp_dst.unwrap_or(0)),
        1 => (
            u16::from_be_bytes([l4(4), l4(5)]),
            u16::from_be_bytes([l4(6), l4(7)]),
        ),
        _ => (0, 0),
    };
    CapturedPacket {
        src_ip: h.nw_src.unwrap_or(Ipv4Addr::UNSPECIFIED),
        dst_ip: h.nw_dst.unwrap_or(Ipv4Addr::UNSPECIFIED),
        length: u16::from_be_bytes([byte(2), byte(3)]),
        protocol,
        ttl: h.nw_ttl.unwrap_or(0),
        flags: byte(6) >> 5,
        src_port,
        dst_port,
        tcp_flags: (protocol == 6).then(|| l4(13)),
    }
}

impl World {
    /// Starts watching for a live-traffic Traceflow's packet (one watch
    /// per name: a new one replaces the old).
    pub fn watch_traceflow(&mut self, watch: LiveWatch) {
        self.stop_traceflow(&watch.name);
        self.live_traceflows.push(LiveRt {
            watch,
            closed: false,
            in_flight: Vec::new(),
            capture: LiveCapture::default(),
        });
    }

    /// Stops watching (timed out or deleted) and forgets what was captured.
    pub fn stop_traceflow(&mut self, name: &str) {
        self.live_traceflows.retain(|l| l.watch.name != name);
    }

    /// What the live-traffic Traceflow `name` captured so far.
    pub fn traceflow_capture(&self, name: &str) -> Option<&LiveCapture> {
        self.live_traceflows
            .iter()
            .find(|l| l.watch.name == name)
            .map(|l| &l.capture)
    }

    /// Whether br-int on `node` must keep its walk of `packet` (a cheap
    /// test before the walk: the walk is then traced).
    pub(super) fn live_wants(&self, node: DeviceId, packet: &Packet) -> bool {
        self.live_traceflows.iter().any(|l| {
            (!l.closed && l.watch.node == node)
                || (packet.in_port() == TUNNEL_OFPORT && !l.in_flight.is_empty())
        })
    }

    /// br-int on `node` (whose tunnel address is `local_ip`) walked
    /// `packet` (read from `frame`) as `walk`, traced: tags and records it
    /// where a live-traffic Traceflow asks.
    pub(super) fn live_walked(
        &mut self,
        node: DeviceId,
        local_ip: Ipv4Addr,
        packet: &Packet,
        frame: &[u8],
        walk: &Walk,
    ) {
        let now = self.now;
        let node_name = self.device(node).name().to_string();
        let catalog = self.policy_catalog.clone();
        let key = key_of(packet);
        let tun_src = Ipv4Addr::from(packet.get(crate::openflow::Field::TunSrc) as u32);
        let tunnelled_to = walk
            .verdict
            .outputs
            .iter()
            .find(|o| o.port == TUNNEL_OFPORT)
            .and_then(|o| o.tun_dst);
        let out_key = walk.emitted.first().map(key_of);
        let mut reported = Vec::new();
        for l in &mut self.live_traceflows {
            // The tagged packet arriving from another node.
            let followed = packet.in_port() == TUNNEL_OFPORT
                && l.in_flight
                    .iter()
                    .position(|f| f.key == key && f.tun_src == tun_src && f.tun_dst == local_ip)
                    .map(|i| l.in_flight.remove(i))
                    .is_some();
            let tagged =
                !followed && !l.closed && l.watch.node == node && l.watch.tags(packet, walk);
            if !followed && !tagged {
                continue;
            }
            let sender = tagged && matches!(l.watch.at, TagAt::Sender { .. });
            let dropped = walk.verdict.ends_packet();
            let reports = !l.watch.dropped_only || dropped;
            if tagged && !l.watch.dropped_only {
                l.closed = true;
            }
            if let (Some(dst), Some(k), false) = (tunnelled_to, out_key, dropped) {
                if l.in_flight.len() >= MAX_IN_FLIGHT {
                    l.in_flight.remove(0);
                }
                l.in_flight.push(InFlight {
                    tun_src: local_ip,
                    tun_dst: dst,
                    key: k,
                });
            }
            if !reports {
                continue;
            }
            if l.watch.dropped_only {
                l.closed = true;
                l.in_flight.clear();
            }
            let hop = LiveHop {
                node: node_name.clone(),
                flow: packet.to_trace_flow(),
                sender,
                at_s: now.as_nanos() / 1_000_000_000,
            };
            if l.capture.packet.is_none() && (tagged || l.watch.dropped_only) {
                l.capture.packet = Some(captured(packet, walk, frame));
            }
            if l.capture.catalog.is_none() {
                l.capture.catalog = Some(catalog.clone());
            }
            l.capture.hops.push((hop, NodeTrace::of_walk(walk.clone())));
            reported.push(l.watch.name.clone());
        }
        for name in reported {
            self.record(
                crate::sim::trace::LogKind::Engine,
                &node_name,
                format!("antrea-agent: Traceflow {name}: packet-in of the live packet, observations reported"),
            );
            self.control.push(ControlEvent::Traceflow(name));
        }
    }
}
