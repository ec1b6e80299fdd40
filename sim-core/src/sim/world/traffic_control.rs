//! TrafficControl ports on a br-int that executes its program, and the
//! inline appliances (an IPS) that users run between a redirect's target
//! and return ports.
//!
//! A TrafficControl port is not a switch port: br-int's program outputs to
//! its ofport and this room takes the frame.
//! - An OVS internal port or a device: the frame reaches the node's host
//!   side of that port. It is recorded in the port's capture
//!   (`NODE_tc_PORT.pcap` with `--pcap`) and counted. If an inline appliance
//!   forwards from that port, the frame enters br-int again by the
//!   appliance's other port [`INLINE_DELAY`] later, unless one of its drop
//!   rules matches; if nothing forwards it, a mirrored copy simply ends
//!   there, and a redirected packet (one whose only outputs are
//!   TrafficControl ports) is a drop that says so.
//! - A tunnel port: the frame is encapsulated as OVS encapsulates it
//!   (`wire::mirror`) and the outer packet goes out through the node's own
//!   stack to the tunnel's remote address, as antrea-tun0's Geneve does.
//!
//! Ports are installed with the program ([`World::defer_br_int_program`])
//! and stay while the engine keeps them; counters start at zero for a new
//! port and after a cold boot, as OVS's do. A mirrored copy leaves without
//! the probe's trace tag: only the packet itself is followed and judged.
//! A Geneve packet from a TrafficControl Geneve port's remote address
//! enters by that port, not antrea-tun0 (OVS matches the exact
//! `remote_ip` first), and the program drops it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::World;
use crate::engine::traffic_control::TcPortPlan;
use crate::k8s::TcPort;
use crate::model::DeviceId;
use crate::openflow::Packet;
use crate::sched::Scheduler;
use crate::sim::devices::DeviceRt;
use crate::sim::trace::{DropReason, TraceTag};
use crate::time::SimDuration;
use crate::wire::{self, Ipv4Pkt, L4, mirror};

/// How long an inline appliance takes to send a frame back: a userspace
/// program reading one tap and writing another (antlab's choice).
pub const INLINE_DELAY: SimDuration = SimDuration::from_micros(20);

/// One TrafficControl port of a br-int.
pub(super) struct TcPortRt {
    /// The port as the engine planned it (ofport, name, kind).
    plan: TcPortPlan,
    /// Frames br-int output to it (OVS's `tx_packets`).
    tx_packets: u64,
    /// The GRE sequence number of an ERSPAN port.
    seq: u32,
}

/// An inline appliance on a node: what arrives on one port leaves by another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inline {
    pub to: String,
    pub drops: Vec<InlineDrop>,
}

/// What an inline appliance drops: IPv4 packets of this protocol (and,
/// for TCP and UDP, to this destination port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InlineDrop {
    pub protocol: u8,
    pub dst_port: Option<u16>,
}

impl InlineDrop {
    fn matches(&self, frame: &[u8]) -> bool {
        let Ok((_, bytes)) = wire::parse_eth(frame) else {
            return false;
        };
        let Ok(ip) = Ipv4Pkt::parse(bytes) else {
            return false;
        };
        if ip.l4.protocol() != self.protocol {
            return false;
        }
        match (self.dst_port, &ip.l4) {
            (None, _) => true,
            (Some(p), L4::Tcp { dst_port, .. } | L4::Udp { dst_port, .. }) => *dst_port == p,
            (Some(_), _) => false,
        }
    }
}

impl World {
    /// Sets br-int `br`'s TrafficControl ports; a port kept (same ofport,
    /// name and kind) keeps its counters.
    pub(super) fn set_tc_ports(&mut self, br: DeviceId, ports: &[TcPortPlan]) {
        let old = self.tc_ports.remove(&br).unwrap_or_default();
        let mut new = BTreeMap::new();
        for p in ports {
            let (tx_packets, seq) = match old.get(&p.ofport) {
                Some(o) if o.plan.same_port(p) => (o.tx_packets, o.seq),
                _ => (0, 0),
            };
            let rt = TcPortRt {
                plan: p.clone(),
                tx_packets,
                seq,
            };
            new.insert(p.ofport, rt);
        }
        if !new.is_empty() {
            self.tc_ports.insert(br, new);
        }
    }

    /// A cold boot: OVS comes back and counts from zero.
    pub(super) fn reset_tc_counters(&mut self, br: DeviceId) {
        for p in self
            .tc_ports
            .get_mut(&br)
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            p.tx_packets = 0;
            p.seq = 0;
        }
    }

    /// The ofport of br-int `br`'s TrafficControl Geneve port whose remote
    /// address is `src`, if it has one.
    pub(super) fn tc_geneve_port_from(&self, br: DeviceId, src: Ipv4Addr) -> Option<u32> {
        self.tc_ports.get(&br)?.iter().find_map(|(o, p)| {
            matches!(&p.plan.port, TcPort::Geneve { remote_ip, .. } if *remote_ip == src)
                .then_some(*o)
        })
    }

    /// The name of br-int `br`'s TrafficControl port on `ofport`.
    pub(super) fn tc_port_name(&self, br: DeviceId, ofport: u32) -> Option<&str> {
        Some(self.tc_ports.get(&br)?.get(&ofport)?.plan.name.as_str())
    }

    /// Frames br-int output to node `node`'s TrafficControl port `name`
    /// (`ovs-ofctl dump-ports br-int NAME`'s tx packets); `None` when the
    /// node has no such port.
    pub fn tc_port_tx(&self, node: DeviceId, name: &str) -> Option<u64> {
        let br = self.br_int.get(&node)?;
        self.tc_ports
            .get(br)?
            .values()
            .find(|p| p.plan.name == name)
            .map(|p| p.tx_packets)
    }

    /// Runs (or with `None` stops) an inline appliance on node `node` that
    /// sends what arrives on its port `from` back into br-int by port `to`.
    pub fn set_inline(&mut self, node: DeviceId, from: &str, inline: Option<Inline>) {
        let key = (node, from.to_string());
        match inline {
            Some(i) => {
                self.inline.insert(key, i);
            }
            None => {
                self.inline.remove(&key);
            }
        }
    }

    /// br-int `br` output `frame` to its TrafficControl port `ofport`;
    /// `redirected` when that was the packet's only way out. Returns false
    /// when `ofport` is no TrafficControl port.
    pub(super) fn tc_output(
        &mut self,
        (br, node, local_ip): (DeviceId, DeviceId, Ipv4Addr),
        ofport: u32,
        frame: Vec<u8>,
        redirected: bool,
        tag: Option<TraceTag>,
    ) -> bool {
        let Some(p) = self.tc_ports.get_mut(&br).and_then(|m| m.get_mut(&ofport)) else {
            return false;
        };
        p.tx_packets += 1;
        // ERSPAN numbers a port's packets from 0 (OVS and Linux alike).
        let seq = p.seq;
        p.seq = p.seq.wrapping_add(1);
        let (name, port) = (p.plan.name.clone(), p.plan.port.clone());
        // A mirrored copy is not the probe's packet: it is traced by the
        // br-int hop that made it, not followed or judged.
        let tag = if redirected { tag } else { None };
        let node_name = self.device(node).name().to_string();
        self.capture_named(&format!("{node_name}_tc_{name}"), &frame);
        let switch = self.device(br).name().to_string();
        match port {
            TcPort::OvsInternal(_) | TcPort::Device(_) => {
                let Some(inline) = self.inline.get(&(node, name.clone())).cloned() else {
                    if redirected {
                        let why = format!(
                            "redirected to TrafficControl port {name}, where nothing sends it back"
                        );
                        self.drop_packet(tag, DropReason::BrInt { switch, why });
                    }
                    return true;
                };
                if let Some(d) = inline.drops.iter().find(|d| d.matches(&frame)) {
                    let proto = match d.protocol {
                        wire::proto::TCP => "TCP",
                        wire::proto::UDP => "UDP",
                        _ => "ICMP",
                    };
                    let what = match d.dst_port {
                        Some(p) => format!("{proto} port {p}"),
                        None => proto.to_string(),
                    };
                    let why = format!("dropped by the inline appliance on {name} ({what})");
                    self.drop_packet(tag, DropReason::BrInt { switch, why });
                    return true;
                }
                self.queue.push(
                    self.now + INLINE_DELAY,
                    super::Event::TcReturn {
                        br,
                        port: inline.to,
                        frame,
                        tag,
                    },
                );
            }
            tunnel => {
                let remote = tunnel.remote_ip().expect("a tunnel has a remote address");
                self.tc_tunnel_send((br, node), &tunnel, (local_ip, remote), seq, &frame, tag);
            }
        }
        true
    }

    /// An inline appliance sends `frame` back into br-int `br` by its port
    /// `port` (the [`super::Event::TcReturn`] event).
    pub(super) fn tc_return(
        &mut self,
        br: DeviceId,
        port: &str,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        let switch = self.device(br).name().to_string();
        let ofport = self
            .tc_ports
            .get(&br)
            .and_then(|m| m.iter().find(|(_, p)| p.plan.name == port).map(|(o, _)| *o));
        // A machine powered off meanwhile takes nothing back.
        let powered = self
            .br_int_node(br)
            .is_some_and(|n| self.device(n).powered());
        if !powered {
            return;
        }
        let Some(ofport) = ofport.filter(|_| self.runs_program(br)) else {
            let why = format!("sent back by {port}, which is not a port of br-int");
            self.drop_packet(tag, DropReason::BrInt { switch, why });
            return;
        };
        self.realize_br_int(br);
        match Packet::from_frame(ofport, &frame) {
            Ok(packet) => self.run_program(br, packet, frame, None, tag),
            Err(e) => {
                let why = format!("unreadable frame on ofport {ofport}: {e}");
                self.drop_packet(tag, DropReason::BrInt { switch, why });
            }
        }
    }

    /// Encapsulates `inner` for a TrafficControl tunnel port and sends the
    /// outer packet from the node's stack, from its transport address (the
    /// address OVS's userspace tunnel takes from the node's route).
    fn tc_tunnel_send(
        &mut self,
        (br, node): (DeviceId, DeviceId),
        port: &TcPort,
        (src, remote): (Ipv4Addr, Ipv4Addr),
        seq: u32,
        inner: &[u8],
        tag: Option<TraceTag>,
    ) {
        let switch = self.device(br).name().to_string();
        let tunnel = match *port {
            TcPort::Geneve { vni, dst_port, .. } => mirror::MirrorTunnel::Geneve {
                vni: vni.unwrap_or(0),
                dst_port: dst_port.unwrap_or(crate::k8s::DEFAULT_GENEVE_PORT),
            },
            TcPort::Vxlan { vni, dst_port, .. } => mirror::MirrorTunnel::Vxlan {
                vni: vni.unwrap_or(0),
                dst_port: dst_port.unwrap_or(crate::k8s::DEFAULT_VXLAN_PORT),
            },
            TcPort::Gre { key, .. } => mirror::MirrorTunnel::Gre { key },
            TcPort::Erspan {
                session_id,
                version,
                index,
                dir,
                hardware_id,
                ..
            } => mirror::MirrorTunnel::Erspan(mirror::ErspanSpec {
                version,
                session_id: session_id.unwrap_or(0),
                index: index.unwrap_or(0),
                dir: dir.unwrap_or(0),
                hardware_id: hardware_id.unwrap_or(0),
            }),
            TcPort::OvsInternal(_) | TcPort::Device(_) => return,
        };
        if !matches!(self.device(node), DeviceRt::Host(_)) {
            return;
        }
        match mirror::outer_l4(&tunnel, inner, seq) {
            Ok(l4) => {
                let mut pkt = Ipv4Pkt::new(src, remote, l4);
                pkt.ident = 0;
                self.call_stack(node, |stack, cx| stack.send(cx, pkt, tag));
            }
            Err(e) => {
                let why = format!("cannot encapsulate to {remote}: {e}");
                self.drop_packet(tag, DropReason::BrInt { switch, why });
            }
        }
    }
}
