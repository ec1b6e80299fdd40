//! The IPv4 stack of a host, a router, or the L3 part of a switch.
//!
//! Sans-I/O: the stack gets frames and timer callbacks with the current time
//! and answers through a [`Cx`]: frames to send per interface, timers to set,
//! and notes (drops, local deliveries, hops, log lines). The device around it
//! (host NIC with VLAN sub-interfaces, or switch SVIs) decides what "send on
//! interface i" means.
//!
//! Linux behaviour kept: weak host model (any local address is accepted on any
//! interface), `arp_ignore=0` (ARP answered for any local address) on hosts,
//! PREROUTING de-NAT → routing with fwmark rules → POSTROUTING SNAT, TTL
//! decrement on forward with ICMP time exceeded, ICMP host unreachable to the
//! sender when ARP for a forwarded packet fails, echo replies, SYN-ACK on
//! listening TCP ports and RST on closed ones, and each interface's MTU with
//! DF set on everything: a forwarded packet too big for its next hop gets
//! ICMP need-frag with that MTU (RFC 1191), a sender's own fails with
//! EMSGSIZE. Not kept: fragmentation and a path-MTU cache.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::arp::{ArpAction, ArpCache, ArpSeen, Resolve};
use super::nat::{Conntrack, FlowKey, Seen, SnatRule};
use super::routing::{FlowPath, NextHop, Route, RoutingTable};
use super::services::{Decision, Origin, ServiceTable};
use super::trace::{DropReason, LogKind, TraceTag};
use crate::engine::dataplane::SnatTo;
use crate::engine::policy::host::{HostAction, HostFirewall, PacketL4};
use crate::engine::proxy::NoEndpointsAction;
use crate::k8s::{Direction, Protocol};
use crate::model::{MacAddr, TABLE_MAIN};
use crate::time::SimTime;
use crate::wire::{self, ArpMsg, ArpOp, EthHeader, Ipv4Pkt, L4};

#[derive(Clone, Debug)]
pub struct L3Iface {
    pub(super) name: String,
    pub(super) mac: MacAddr,
    pub(super) addrs: Vec<Ipv4Net>,
    /// Carrier and admin state together: a down interface sends nothing.
    pub(super) up: bool,
    /// A port the device can put frames on (false for e.g. a dummy device).
    pub(super) has_link: bool,
    /// The largest IPv4 packet it sends, in bytes (`ip link ... mtu`).
    pub(super) mtu: u32,
}

/// Linux's default MTU for an Ethernet device (and a veth).
pub const ETHERNET_MTU: u32 = 1500;

impl L3Iface {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn mac(&self) -> MacAddr {
        self.mac
    }
    /// Its addresses with their prefix, in the order they were added.
    pub fn addrs(&self) -> &[Ipv4Net] {
        &self.addrs
    }
    /// Carrier and admin state together.
    pub fn is_up(&self) -> bool {
        self.up
    }
    /// Whether it has a port to put frames on (false for a dummy device).
    pub fn has_link(&self) -> bool {
        self.has_link
    }
    /// The largest IPv4 packet it sends.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }
}

/// A packet waiting for ARP, with what is needed to report its fate.
#[derive(Clone, Debug)]
pub struct Pending {
    pub(super) pkt: Ipv4Pkt,
    pub(super) tag: Option<TraceTag>,
    /// Forwarded (not originated here): failure sends ICMP host unreachable.
    pub(super) forwarded: bool,
}

/// `iptables -t mangle` style marking: packets from `src` arriving (or
/// originating) get `mark`. Antrea sets the Egress mark in OVS; the effect on
/// routing and SNAT is the same.
#[derive(Clone, Debug, Eq)]
pub struct MarkRule {
    pub(super) src: Ipv4Net,
    /// Shared with the engine's desired mark (and the node's other marks).
    pub(super) not_dst: std::sync::Arc<[Ipv4Net]>,
    pub(super) mark: u32,
    pub(super) comment: String,
}

/// A node's mark rules in order (the first that matches marks the packet),
/// with the rules' sources indexed when every one is a single address (one
/// per selected Pod, the usual case) so a packet meets only its own
/// source's rules, not every rule.
#[derive(Clone, Debug, Default)]
pub(super) struct MarkRules {
    rules: Vec<MarkRule>,
    /// (source address, rule index), sorted; `None` when some rule's
    /// source is wider than one address.
    by_src: Option<Vec<(u32, usize)>>,
    /// The lowest and highest indexed source: most packets a node sends
    /// (its own, from its node address) fall outside, and are known to take
    /// no mark without a search through a large index.
    src_span: (u32, u32),
}

impl MarkRules {
    pub(super) fn rules(&self) -> &[MarkRule] {
        &self.rules
    }

    pub(super) fn set(&mut self, rules: Vec<MarkRule>) {
        self.by_src = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.src.prefix_len() == 32).then(|| (r.src.addr().to_bits(), i)))
            .collect::<Option<Vec<_>>>()
            .map(|mut v| {
                v.sort_unstable();
                v
            });
        self.src_span = match self.by_src.as_deref() {
            Some([first, .., last]) => (first.0, last.0),
            Some([only]) => (only.0, only.0),
            // Nothing indexed: an empty span (no key is at least 1 and at most 0).
            _ => (1, 0),
        };
        self.rules = rules;
    }

    pub(super) fn clear(&mut self) {
        self.set(Vec::new());
    }

    /// The mark of the first rule taking a packet from `src` to `dst`, 0
    /// for none.
    fn mark_for(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let takes =
            |m: &MarkRule| m.src.contains(&src) && !m.not_dst.iter().any(|n| n.contains(&dst));
        match &self.by_src {
            Some(index) => {
                let key = src.to_bits();
                if key < self.src_span.0 || key > self.src_span.1 {
                    return 0;
                }
                let from = index.partition_point(|(a, _)| *a < key);
                index[from..]
                    .iter()
                    .take_while(|(a, _)| *a == key)
                    .map(|&(_, i)| &self.rules[i])
                    .find(|m| takes(m))
                    .map_or(0, |m| m.mark)
            }
            None => self.rules.iter().find(|m| takes(m)).map_or(0, |m| m.mark),
        }
    }
}

impl PartialEq for MarkRule {
    /// As derived, but the shared exempt list is compared by pointer first
    /// (`Arc`'s own shortcut is for sized contents only): applying a
    /// node's marks again compares n-entry lists only when they differ.
    fn eq(&self, other: &MarkRule) -> bool {
        self.src == other.src
            && self.mark == other.mark
            && (std::sync::Arc::ptr_eq(&self.not_dst, &other.not_dst)
                || self.not_dst == other.not_dst)
            && self.comment == other.comment
    }
}

/// What conntrack knows about a packet between PREROUTING and POSTROUTING.
#[derive(Clone, Debug)]
enum CtState {
    /// Not a flow conntrack follows (no ports).
    Untracked,
    /// The first packet: `dnat` was applied; POSTROUTING decides SNAT and
    /// commits the entry.
    New {
        orig: FlowKey,
        dnat: Option<(Ipv4Addr, u16)>,
        masquerade: bool,
        by: String,
        /// DSR: route towards this endpoint without DNAT.
        via: Option<Ipv4Addr>,
    },
    /// A later packet of a known flow: its recorded SNAT applies.
    Established {
        snat: Option<(Ipv4Addr, u16)>,
        via: Option<Ipv4Addr>,
    },
    /// A reply, already un-NATed.
    Reply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackTimer {
    Arp {
        iface: usize,
        ip: Ipv4Addr,
        generation: u64,
    },
}

/// Things the stack tells its device and the world.
#[derive(Clone, Debug)]
pub enum Note {
    Drop {
        tag: Option<TraceTag>,
        reason: DropReason,
    },
    /// A packet addressed to this host arrived (after de-NAT).
    Local {
        pkt: Ipv4Pkt,
        tag: Option<TraceTag>,
    },
    /// A TCP segment for a port an application's own TCP owns
    /// ([`IpStack::set_app_ports`]): the stack neither answers nor closes
    /// it, the world hands it to that TCP (a BGP speaker's).
    App {
        pkt: Ipv4Pkt,
    },
    /// A step of a traced packet's path inside this device.
    Hop {
        tag: TraceTag,
        text: String,
    },
    Log {
        kind: LogKind,
        text: String,
    },
}

pub struct Out {
    pub(super) iface: usize,
    pub(super) frame: Vec<u8>,
    pub(super) tag: Option<TraceTag>,
}

/// The context of one call into a stack.
pub struct Cx<'a> {
    pub(super) now: SimTime,
    pub(super) device: &'a str,
    pub(super) out: Vec<Out>,
    pub(super) timers: Vec<(SimTime, StackTimer)>,
    pub(super) notes: Vec<Note>,
}

impl<'a> Cx<'a> {
    pub fn new(now: SimTime, device: &'a str) -> Self {
        Cx {
            now,
            device,
            out: Vec::new(),
            timers: Vec::new(),
            notes: Vec::new(),
        }
    }
    fn drop(&mut self, tag: Option<TraceTag>, reason: DropReason) {
        self.notes.push(Note::Drop { tag, reason });
    }
    fn hop(&mut self, tag: Option<TraceTag>, text: impl FnOnce() -> String) {
        if let Some(tag) = tag {
            self.notes.push(Note::Hop { tag, text: text() });
        }
    }
}

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const DEFAULT_TTL: u8 = 64;

pub struct IpStack {
    pub(super) ifaces: Vec<L3Iface>,
    pub(super) routes: RoutingTable,
    pub(super) arp: ArpCache<Pending>,
    forward: bool,
    /// Answer ARP for any local address, whatever the interface (Linux `arp_ignore=0`).
    pub(super) arp_any_iface: bool,
    /// Extra addresses answered by a userspace ARP responder (not local addresses).
    pub(super) arp_responder: Vec<(usize, Ipv4Addr)>,
    pub(super) tcp_listen: Vec<u16>,
    /// Local TCP ports an application's own TCP serves (see [`Note::App`]).
    app_ports: Vec<u16>,
    pub(super) snat: Vec<SnatRule>,
    pub(super) marks: MarkRules,
    pub(super) ct: Conntrack,
    /// Service load balancing (AntreaProxy / kube-proxy rules of this node).
    pub(super) services: ServiceTable,
    /// Pods whose HTTP exchanges are recorded for L7 flow export
    /// (`visibility.antrea.io/l7-export`): (Pod IP, egress, ingress).
    pub(super) l7_export: Vec<(Ipv4Addr, bool, bool)>,
    /// NodeNetworkPolicy rules on INPUT and OUTPUT (`engine::policy::host`).
    pub(super) firewall: HostFirewall,
    /// The status this host's HTTP server answers with.
    http_status: u16,
    next_ident: u16,
}

impl IpStack {
    pub fn new(
        ifaces: Vec<L3Iface>,
        arp: ArpCache<Pending>,
        forward: bool,
        arp_any_iface: bool,
    ) -> Self {
        let mut s = IpStack {
            ifaces,
            routes: RoutingTable::new(),
            arp,
            forward,
            arp_any_iface,
            arp_responder: Vec::new(),
            tcp_listen: Vec::new(),
            app_ports: Vec::new(),
            snat: Vec::new(),
            marks: MarkRules::default(),
            ct: Conntrack::default(),
            services: ServiceTable::default(),
            l7_export: Vec::new(),
            firewall: HostFirewall::default(),
            http_status: 200,
            next_ident: 1,
        };
        s.sync_connected_routes();
        s
    }

    /// The interfaces, in `ip link` order (routes and ARP rows name them by
    /// index).
    pub fn ifaces(&self) -> &[L3Iface] {
        &self.ifaces
    }

    /// Routes and `ip rule`s.
    pub fn routes(&self) -> &RoutingTable {
        &self.routes
    }

    /// The neighbour cache.
    pub fn arp(&self) -> &ArpCache<Pending> {
        &self.arp
    }

    /// Forgets every learned neighbour (`ip neigh flush all`; permanent
    /// entries stay); packets waiting for an answer are dropped with their
    /// entries.
    pub fn flush_arp(&mut self) {
        self.arp.flush();
    }

    /// The POSTROUTING SNAT rules, in order.
    pub fn snat_rules(&self) -> &[SnatRule] {
        &self.snat
    }

    /// The connection tracking table.
    pub fn conntrack(&self) -> &Conntrack {
        &self.ct
    }

    /// The node's Service load-balancing rules.
    pub fn services(&self) -> &ServiceTable {
        &self.services
    }

    /// The status this host's HTTP server answers every GET with.
    pub fn http_status(&self) -> u16 {
        self.http_status
    }

    /// Makes this host's HTTP server answer every GET with `code`.
    /// The local TCP ports whose segments go to an application's own TCP
    /// ([`Note::App`]) instead of the stack's answers.
    pub fn set_app_ports(&mut self, ports: Vec<u16>) {
        self.app_ports = ports;
    }

    pub fn set_http_status(&mut self, code: u16) {
        self.http_status = code;
    }

    /// Brings the kernel's connected routes in line with the interface
    /// addresses, as Linux does when an address is added or removed: routes of
    /// addresses that went away are deleted, routes of new ones are appended
    /// after the existing routes (`fib_add_ifaddr`), and the others keep their
    /// place, so an earlier interface's subnet route stays first.
    pub fn sync_connected_routes(&mut self) {
        let wanted: Vec<Route> = self
            .ifaces
            .iter()
            .enumerate()
            .flat_map(|(i, ifc)| {
                ifc.addrs
                    .iter()
                    .map(move |a| Route::single(a.trunc(), None, i, 0, TABLE_MAIN, "kernel"))
            })
            .collect();
        self.routes.retain_origin("kernel", |r| wanted.contains(r));
        for r in wanted {
            self.routes.add_route(r);
        }
    }

    pub fn iface_index(&self, name: &str) -> Option<usize> {
        self.ifaces.iter().position(|i| i.name == name)
    }

    /// An address of one of this host's interfaces, or a loopback address
    /// (every host has `lo` with 127.0.0.0/8, Linux's `local` route).
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.is_loopback_dst(ip)
            || self
                .ifaces
                .iter()
                .any(|i| i.addrs.iter().any(|a| a.addr() == ip))
    }

    /// A 127.0.0.0/8 address that goes to `lo`: any, unless the lab put a
    /// subnet holding it on an interface (a topology may use 127.x as an
    /// ordinary network).
    fn is_loopback_dst(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback()
            && !self
                .ifaces
                .iter()
                .any(|i| i.addrs.iter().any(|a| a.contains(&ip)))
    }

    /// The interface a packet to `dst` leaves by and its MTU.
    pub fn mtu_towards(&self, dst: Ipv4Addr) -> Option<(&str, u32)> {
        let hop = self.routes.lookup(dst, None, 0)?;
        let i = &self.ifaces[hop.dev];
        Some((&i.name, i.mtu))
    }

    /// Where `src` lives on this host, for a packet leaving on `out`.
    fn src_at(&self, src: Ipv4Addr, out: usize) -> crate::sim::nat::SrcAddrType {
        use crate::sim::nat::SrcAddrType;
        if self.local_on(out, src) {
            SrcAddrType::OnOutIface
        } else if self.is_local(src) {
            SrcAddrType::LocalElsewhere
        } else {
            SrcAddrType::Foreign
        }
    }

    fn local_on(&self, iface: usize, ip: Ipv4Addr) -> bool {
        self.ifaces[iface].addrs.iter().any(|a| a.addr() == ip)
    }

    /// The source address Linux would pick on `iface` towards `dst`: an address
    /// whose subnet holds `dst`, else the interface's first address.
    fn source_for(&self, iface: usize, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let addrs = &self.ifaces[iface].addrs;
        addrs
            .iter()
            .find(|a| a.contains(&dst))
            .or(addrs.first())
            .map(|a| a.addr())
    }

    /// Sends a packet this host originates. A zero source is filled in.
    pub fn send(&mut self, cx: &mut Cx, mut pkt: Ipv4Pkt, tag: Option<TraceTag>) {
        if pkt.ident == 0 {
            pkt.ident = self.next_ident;
            self.next_ident = self.next_ident.wrapping_add(1).max(1);
        }
        if self.is_loopback_dst(pkt.dst) {
            // To `lo` (127.0.0.0/8): the source is 127.0.0.1; a Service DNAT
            // (a NodePort on 127.0.0.1) may still send it out.
            if pkt.src.is_unspecified() {
                pkt.src = Ipv4Addr::LOCALHOST;
            }
            let Some(ct) = self.prerouting(cx, &mut pkt, Origin::Node, tag) else {
                return;
            };
            if self.is_local(pkt.dst) {
                self.local_deliver(cx, pkt, tag, ct);
            } else if self.host_firewall_allows(cx, &pkt, &ct, tag, false) {
                let dst = pkt.dst;
                self.route_out(cx, pkt, dst, tag, false, ct);
            }
            return;
        }
        let src_hint = (!pkt.src.is_unspecified()).then_some(pkt.src);
        let mark = self.mark_for(&pkt);
        // The source address comes from the route to the original destination.
        let Some(hop) = self.routes.lookup(pkt.dst, src_hint, mark) else {
            cx.drop(
                tag,
                DropReason::NoRoute {
                    device: cx.device.to_string(),
                    dst: pkt.dst,
                },
            );
            return;
        };
        if pkt.src.is_unspecified() {
            match self.source_for(hop.dev, hop.neighbor) {
                Some(s) => pkt.src = s,
                None => {
                    cx.drop(
                        tag,
                        DropReason::NoRoute {
                            device: cx.device.to_string(),
                            dst: pkt.dst,
                        },
                    );
                    return;
                }
            }
        }
        // OUTPUT: conntrack and Service DNAT for host-originated traffic.
        let Some(ct) = self.prerouting(cx, &mut pkt, Origin::Node, tag) else {
            return;
        };
        if !self.is_local(pkt.dst) && !self.host_firewall_allows(cx, &pkt, &ct, tag, false) {
            return;
        }
        if self.is_local(pkt.dst) {
            // Loopback: deliver to ourselves without touching a wire.
            self.local_deliver(cx, pkt, tag, ct);
            return;
        }
        let dst = pkt.dst;
        self.route_out(cx, pkt, dst, tag, false, ct);
    }

    /// Conntrack at PREROUTING/OUTPUT: un-NAT replies, keep known flows on
    /// their translation, and let the Service table decide for new ones.
    /// `None` = the packet was consumed (rejected).
    fn prerouting(
        &mut self,
        cx: &mut Cx,
        pkt: &mut Ipv4Pkt,
        origin: Origin,
        tag: Option<TraceTag>,
    ) -> Option<CtState> {
        let Some(key) = flow_key(pkt) else {
            return Some(CtState::Untracked);
        };
        let size = ip_len(pkt);
        let l7 = &self.l7_export;
        let seen = self.ct.see(cx.now, key, size, tcp_flags(pkt), |orig| {
            l7_message(l7, orig.src, orig.dst, pkt)
        });
        if let Seen::Reply(back) = seen {
            let (before_src, before_dst) = (pkt.src, pkt.dst);
            set_src(pkt, back.src, back.sport);
            set_dst(pkt, back.dst, back.dport);
            let changed = before_src != back.src || before_dst != back.dst;
            cx.hop(tag.filter(|_| changed), || {
                let mut parts = Vec::new();
                if before_src != back.src {
                    parts.push(format!("src {before_src} -> {}", back.src));
                }
                if before_dst != back.dst {
                    parts.push(format!("dst {before_dst} -> {}", back.dst));
                }
                format!("conntrack reply: un-NAT {}", parts.join(", "))
            });
            return Some(CtState::Reply);
        }
        if let Seen::Original(e) = seen {
            if let Some((ip, port)) = e.dnat {
                set_dst(pkt, ip, port);
                cx.hop(tag, || {
                    format!(
                        "conntrack: {} DNAT {} -> {ip}:{port} (established)",
                        e.by(),
                        key.dst
                    )
                });
            }
            return Some(CtState::Established {
                snat: e.snat,
                via: e.via(),
            });
        }
        let local_pods = self
            .ifaces
            .iter()
            .find(|i| i.name == crate::engine::GATEWAY_IFACE)
            .and_then(|i| i.addrs.first())
            .map(|a| a.trunc());
        match self.services.decide(cx.now, origin, key, local_pods) {
            Decision::NotAService => Some(CtState::New {
                orig: key,
                dnat: None,
                masquerade: false,
                by: String::new(),
                via: None,
            }),
            Decision::Dnat {
                to,
                by,
                service,
                dsr: true,
                ..
            } => {
                cx.hop(tag, || {
                    format!(
                        "{by}: Service {service} {}:{} -> endpoint {}:{} (DSR: forwarded to its node without DNAT)",
                        key.dst, key.dport, to.0, to.1
                    )
                });
                Some(CtState::New {
                    orig: key,
                    dnat: None,
                    masquerade: false,
                    by,
                    via: Some(to.0),
                })
            }
            Decision::Dnat {
                to,
                by,
                masquerade,
                service,
                ..
            } => {
                cx.hop(tag, || {
                    format!(
                        "{by}: Service {service} {}:{} -> endpoint {}:{}",
                        key.dst, key.dport, to.0, to.1
                    )
                });
                Some(dnat_new(pkt, key, to, by, masquerade))
            }
            Decision::NodePortToBrInt { to, by, service } => {
                cx.hop(tag, || {
                    format!(
                        "{by}: NodePort {}:{} of Service {service} DNAT to {}:{} (br-int load-balances it)",
                        key.dst, key.dport, to.0, to.1
                    )
                });
                Some(dnat_new(pkt, key, to, by, false))
            }
            Decision::Reject {
                by,
                service,
                action,
            } => {
                cx.drop(
                    tag,
                    DropReason::NoEndpoints {
                        device: cx.device.to_string(),
                        service: service.clone(),
                        by: by.clone(),
                    },
                );
                // AntreaProxy answers through packet-in (RST+ACK for TCP, ICMP
                // unreachable otherwise); kube-proxy's REJECT is ICMP port
                // unreachable; a DROP answers nothing (engine::proxy::handler).
                if let Some(reply) = reject_reply(pkt, action) {
                    self.send(cx, reply, tag.map(TraceTag::as_reply));
                }
                None
            }
        }
    }

    /// An HTTP/1.1 message on a connection whose Pod asked for L7 export.
    fn l7_capture(&self, orig: FlowKey, pkt: &Ipv4Pkt) -> Option<String> {
        l7_message(&self.l7_export, orig.src, orig.dst, pkt)
    }

    /// The Pods whose connections are captured for L7 flow export: (Pod IP,
    /// egress, ingress), as the node's dataplane lists them.
    pub(super) fn l7_export(&self) -> &[(Ipv4Addr, bool, bool)] {
        &self.l7_export
    }

    fn mark_for(&self, pkt: &Ipv4Pkt) -> u32 {
        self.marks.mark_for(pkt.src, pkt.dst)
    }

    /// A frame arrived on interface `iface` (already stripped of its VLAN tag).
    pub fn receive(&mut self, cx: &mut Cx, iface: usize, frame: &[u8], tag: Option<TraceTag>) {
        let Ok((eth, payload)) = wire::parse_eth(frame) else {
            cx.notes.push(Note::Log {
                kind: LogKind::Drop,
                text: "malformed Ethernet frame".into(),
            });
            return;
        };
        let me = self.ifaces[iface].mac;
        if eth.dst != me && !eth.dst.is_multicast() {
            return; // someone else's unicast, flooded to us: the NIC filters it
        }
        match eth.ethertype {
            wire::ethertype::ARP => self.receive_arp(cx, iface, payload),
            wire::ethertype::IPV4 => match Ipv4Pkt::parse(payload) {
                Ok(pkt) => self.receive_ipv4(cx, iface, pkt, tag),
                Err(e) => cx.notes.push(Note::Log {
                    kind: LogKind::Drop,
                    text: format!("bad IPv4 packet: {e}"),
                }),
            },
            _ => {}
        }
    }

    fn receive_arp(&mut self, cx: &mut Cx, iface: usize, payload: &[u8]) {
        let Ok(msg) = ArpMsg::parse(payload) else {
            return;
        };
        let ours = |s: &Self, ip: Ipv4Addr| {
            let local = if s.arp_any_iface {
                s.is_local(ip)
            } else {
                s.local_on(iface, ip)
            };
            local || s.arp_responder.contains(&(iface, ip))
        };
        let for_us = ours(self, msg.tpa) && msg.spa != msg.tpa;
        let request_for_us = msg.op == ArpOp::Request && for_us;
        let reply_to_us = msg.op == ArpOp::Reply && self.local_on(iface, msg.tpa);
        let mut actions = Vec::new();
        let seen = ArpSeen {
            spa: msg.spa,
            sha: msg.sha,
            reply_to_us,
            request_for_us,
        };
        self.arp.on_arp(cx.now, iface, seen, &mut actions);
        self.run_arp_actions(cx, actions);
        if request_for_us {
            let mac = self.ifaces[iface].mac;
            let reply = ArpMsg {
                op: ArpOp::Reply,
                sha: mac,
                spa: msg.tpa,
                tha: msg.sha,
                tpa: msg.spa,
            };
            let frame = wire::build_eth(
                &EthHeader {
                    dst: msg.sha,
                    src: mac,
                    vlan: None,
                    ethertype: wire::ethertype::ARP,
                },
                &reply.to_bytes(),
            );
            cx.out.push(Out {
                iface,
                frame,
                tag: None,
            });
        }
    }

    fn receive_ipv4(&mut self, cx: &mut Cx, iface: usize, mut pkt: Ipv4Pkt, tag: Option<TraceTag>) {
        let origin = if self.ifaces[iface].name == crate::engine::GATEWAY_IFACE {
            Origin::Pod
        } else {
            Origin::External
        };
        let Some(ct) = self.prerouting(cx, &mut pkt, origin, tag) else {
            return;
        };
        if self.is_local(pkt.dst) || pkt.dst.is_broadcast() {
            self.local_deliver(cx, pkt, tag, ct);
            return;
        }
        if !self.forward {
            cx.drop(
                tag,
                DropReason::NotForwarding {
                    device: cx.device.to_string(),
                    dst: pkt.dst,
                },
            );
            return;
        }
        if pkt.ttl <= 1 {
            cx.drop(
                tag,
                DropReason::TtlExceeded {
                    device: cx.device.to_string(),
                },
            );
            let original = pkt.to_bytes();
            self.send_icmp_error(
                cx,
                &pkt,
                L4::IcmpTimeExceeded {
                    original: quote(&original),
                },
                iface,
            );
            return;
        }
        pkt.ttl -= 1;
        // DSR: route towards the chosen endpoint's node, the packet unchanged.
        let target = match &ct {
            CtState::New { via: Some(v), .. } | CtState::Established { via: Some(v), .. } => *v,
            _ => pkt.dst,
        };
        self.route_out(cx, pkt, target, tag, true, ct);
    }

    /// Routes `pkt` towards `target` (policy rules by fwmark, ECMP by flow
    /// hash) and hands it to POSTROUTING; no route drops it.
    fn route_out(
        &mut self,
        cx: &mut Cx,
        pkt: Ipv4Pkt,
        target: Ipv4Addr,
        tag: Option<TraceTag>,
        forwarded: bool,
        ct: CtState,
    ) {
        let mark = self.mark_for(&pkt);
        let path = match flow_key(&pkt) {
            Some(k) => FlowPath {
                src: k.src,
                dst: k.dst,
                proto: k.proto,
                sport: k.sport,
                dport: k.dport,
            },
            None => FlowPath::l3(pkt.src, pkt.dst),
        };
        let Some(hop) = self.routes.lookup_flow(target, Some(pkt.src), mark, &path) else {
            cx.drop(
                tag,
                DropReason::NoRoute {
                    device: cx.device.to_string(),
                    dst: pkt.dst,
                },
            );
            return;
        };
        self.output(cx, pkt, hop, tag, forwarded, ct);
    }

    /// POSTROUTING (SNAT), then neighbour resolution and transmission.
    fn output(
        &mut self,
        cx: &mut Cx,
        mut pkt: Ipv4Pkt,
        hop: NextHop,
        tag: Option<TraceTag>,
        forwarded: bool,
        ct: CtState,
    ) {
        let mark = self.mark_for(&pkt);
        let name = &self.ifaces[hop.dev].name;
        cx.hop(tag, || {
            let via = if hop.neighbor == pkt.dst {
                String::new()
            } else {
                format!(" via {}", hop.neighbor)
            };
            let table = super::routing::table_name(hop.table);
            let mark = if mark != 0 {
                format!(" (fwmark {mark:#x})")
            } else {
                String::new()
            };
            format!("route {}{via} dev {name} table {table}{mark}", pkt.dst)
        });
        // DF is set on everything the lab sends (Linux's path MTU discovery
        // for TCP, `ping -M do` for sized pings), so nothing is fragmented: a
        // router drops an oversized packet and tells the source the MTU
        // (RFC 1191, ICMP type 3 code 4), a sender's own packet fails
        // with EMSGSIZE. Checked before SNAT, as ip_forward does.
        let len = ip_len(&pkt);
        let mtu = self.ifaces[hop.dev].mtu;
        if len > mtu as usize {
            cx.drop(
                tag,
                DropReason::TooBig {
                    device: cx.device.to_string(),
                    iface: self.ifaces[hop.dev].name.clone(),
                    len,
                    mtu,
                    forwarded,
                },
            );
            if forwarded {
                let error = Ipv4Pkt {
                    // Filled in by routing towards the source, as Linux
                    // picks it (icmp_errors_use_inbound_ifaddr=0).
                    src: Ipv4Addr::UNSPECIFIED,
                    dst: pkt.src,
                    ttl: DEFAULT_TTL,
                    ident: 0,
                    l4: L4::IcmpFragNeeded {
                        mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
                        original: quote(&pkt.to_bytes()),
                    },
                };
                // Traced as the attempt's answer: its sender learns at once.
                self.send(cx, error, tag.map(TraceTag::as_reply));
            }
            return;
        }
        // POSTROUTING: SNAT for new flows (rules, or the Service masquerade),
        // the recorded SNAT for known ones, nothing for replies.
        let snat = match ct {
            CtState::Reply | CtState::Untracked => None,
            CtState::Established { snat, .. } => snat,
            CtState::New {
                orig,
                dnat,
                masquerade,
                by,
                via,
            } => {
                let hairpin = dnat.is_some_and(|(ip, _)| ip == orig.src);
                let rule_to = if hairpin {
                    // A Pod reaching itself through a Service: SNAT to the
                    // virtual Service IP so its reply comes back to OVS.
                    Some(crate::engine::proxy::VIRTUAL_SERVICE_IP)
                } else if masquerade {
                    self.source_for(hop.dev, hop.neighbor)
                } else {
                    self.snat
                        .iter()
                        .find(|r| {
                            r.matches(
                                pkt.src,
                                pkt.dst,
                                hop.dev,
                                mark,
                                self.src_at(pkt.src, hop.dev),
                            )
                        })
                        .and_then(|r| match r.to {
                            SnatTo::Addr(a) => Some(a),
                            SnatTo::Masquerade => self.source_for(hop.dev, hop.neighbor),
                        })
                };
                let by = if by.is_empty() {
                    Cow::Borrowed("SNAT")
                } else {
                    Cow::Owned(by)
                };
                let http = self.l7_capture(orig, &pkt);
                let (size, tcp) = (ip_len(&pkt), tcp_flags(&pkt));
                let snat = self
                    .ct
                    .commit_counted(cx.now, orig, dnat, rule_to, by, size, tcp, http);
                if let Some(v) = via {
                    self.ct.set_via(orig, v);
                }
                snat
            }
        };
        if let Some((src, sport)) = snat
            && let Some(key) = flow_key(&pkt)
            && (src, sport) != (pkt.src, key.sport)
        {
            let before = pkt.src;
            set_src(&mut pkt, src, sport);
            cx.hop(tag, || format!("SNAT {before} -> {src}"));
        }
        if !self.ifaces[hop.dev].up {
            let port = self.ifaces[hop.dev].name.clone();
            cx.drop(
                tag,
                DropReason::LinkDown {
                    device: cx.device.to_string(),
                    port,
                },
            );
            return;
        }
        let mut actions = Vec::new();
        let pending = Pending {
            pkt,
            tag,
            forwarded,
        };
        match self
            .arp
            .resolve(cx.now, hop.dev, hop.neighbor, pending, &mut actions)
        {
            Resolve::Ready(mac, p) => {
                self.run_arp_actions(cx, actions);
                self.emit(cx, hop.dev, mac, &p);
            }
            Resolve::Queued => {
                cx.hop(tag, || {
                    format!(
                        "ARP: waiting for {} on {}",
                        hop.neighbor, self.ifaces[hop.dev].name
                    )
                });
                self.run_arp_actions(cx, actions);
            }
        }
    }

    fn emit(&self, cx: &mut Cx, iface: usize, dst: MacAddr, p: &Pending) {
        let src = self.ifaces[iface].mac;
        let frame = wire::build_eth_ipv4(
            &EthHeader {
                dst,
                src,
                vlan: None,
                ethertype: wire::ethertype::IPV4,
            },
            &p.pkt,
        );
        cx.out.push(Out {
            iface,
            frame,
            tag: p.tag,
        });
    }

    fn run_arp_actions(&mut self, cx: &mut Cx, actions: Vec<ArpAction<Pending>>) {
        for a in actions {
            match a {
                ArpAction::Request {
                    iface,
                    target,
                    unicast,
                } => {
                    let mac = self.ifaces[iface].mac;
                    // Linux's arp_solicit: the waiting packet's source if it
                    // is ours (an Egress IP after SNAT), else the interface's.
                    let waiting = self
                        .arp
                        .waiting(iface, target)
                        .map(|p| p.pkt.src)
                        .filter(|src| self.is_local(*src));
                    let Some(spa) = waiting.or_else(|| self.source_for(iface, target)) else {
                        continue;
                    };
                    let msg = ArpMsg {
                        op: ArpOp::Request,
                        sha: mac,
                        spa,
                        tha: MacAddr::ZERO,
                        tpa: target,
                    };
                    let frame = wire::build_eth(
                        &EthHeader {
                            dst: unicast.unwrap_or(MacAddr::BROADCAST),
                            src: mac,
                            vlan: None,
                            ethertype: wire::ethertype::ARP,
                        },
                        &msg.to_bytes(),
                    );
                    cx.out.push(Out {
                        iface,
                        frame,
                        tag: None,
                    });
                }
                ArpAction::Timer {
                    at,
                    iface,
                    ip,
                    generation,
                } => {
                    cx.timers.push((
                        at,
                        StackTimer::Arp {
                            iface,
                            ip,
                            generation,
                        },
                    ));
                }
                ArpAction::Release {
                    iface,
                    mac,
                    packets,
                    ..
                } => {
                    for p in &packets {
                        if self.ifaces[iface].up {
                            self.emit(cx, iface, mac, p);
                        }
                    }
                }
                ArpAction::Fail { iface, ip, packets } => {
                    for p in packets {
                        cx.drop(
                            p.tag,
                            DropReason::ArpIncomplete {
                                device: cx.device.to_string(),
                                ip,
                                cause: None,
                            },
                        );
                        if p.forwarded {
                            // RFC 1812 §5.2.7.1: host unreachable back to the sender.
                            let original = p.pkt.to_bytes();
                            self.send_icmp_error(
                                cx,
                                &p.pkt,
                                L4::IcmpDestUnreachable {
                                    code: 1,
                                    original: quote(&original),
                                },
                                iface,
                            );
                        }
                    }
                }
                ArpAction::Changed {
                    iface,
                    ip,
                    mac,
                    state,
                } => {
                    let name = &self.ifaces[iface].name;
                    let mac = mac.map_or_else(|| "(none)".to_string(), |m| m.to_string());
                    cx.notes.push(Note::Log {
                        kind: LogKind::Arp,
                        text: format!("neigh {ip} dev {name} lladdr {mac} {}", state.name()),
                    });
                }
            }
        }
    }

    pub fn on_timer(&mut self, cx: &mut Cx, timer: StackTimer) {
        match timer {
            StackTimer::Arp {
                iface,
                ip,
                generation,
            } => {
                let mut actions = Vec::new();
                self.arp
                    .on_timer(cx.now, iface, ip, generation, &mut actions);
                self.run_arp_actions(cx, actions);
            }
        }
    }

    /// NodeNetworkPolicy on a packet of this host (Antrea's ANTREA-POL
    /// chains, `engine::policy::host`): established and related packets and
    /// loopback pass; a new one goes through the rules of its direction
    /// (`inbound`: INPUT, else OUTPUT). A Drop or Reject consumes it;
    /// a Reject of an inbound packet answers ICMP port unreachable.
    fn host_firewall_allows(
        &mut self,
        cx: &mut Cx,
        pkt: &Ipv4Pkt,
        ct: &CtState,
        tag: Option<TraceTag>,
        inbound: bool,
    ) -> bool {
        if self.firewall.is_empty() {
            return true;
        }
        let new = match ct {
            CtState::New { .. } => true,
            CtState::Established { .. } | CtState::Reply => false,
            // ICMP errors are RELATED to the flow they quote.
            CtState::Untracked => !matches!(
                pkt.l4,
                L4::IcmpDestUnreachable { .. }
                    | L4::IcmpFragNeeded { .. }
                    | L4::IcmpTimeExceeded { .. }
            ),
        };
        let (direction, peer) = if inbound {
            (Direction::Ingress, pkt.src)
        } else {
            (Direction::Egress, pkt.dst)
        };
        if !new || self.is_local(peer) {
            return true;
        }
        let Some(v) = self.firewall.judge(direction, peer, &packet_l4(pkt)) else {
            return true;
        };
        let (rule, chain) = (v.rule.clone(), v.chain);
        let verdict = match rule.action {
            HostAction::Accept => {
                cx.hop(tag, || {
                    format!(
                        "NodeNetworkPolicy: allowed by {} rule {} ({chain})",
                        rule.policy, rule.rule
                    )
                });
                return true;
            }
            HostAction::Drop => "dropped",
            HostAction::Reject => "rejected",
        };
        cx.drop(
            tag,
            DropReason::Policy {
                switch: cx.device.to_string(),
                verdict: format!(
                    "{verdict} by NodeNetworkPolicy {} rule {} ({chain}): {}",
                    rule.policy
                        .trim_start_matches("AntreaClusterNetworkPolicy:"),
                    rule.rule,
                    rule.action.target()
                ),
            },
        );
        // REJECT answers ICMP port unreachable (iptables' default), never
        // about a broadcast or multicast packet (Linux's icmp_send). On
        // OUTPUT the error goes straight back to the local sender.
        if rule.action == HostAction::Reject && !pkt.dst.is_broadcast() && !pkt.dst.is_multicast() {
            let original = pkt.to_bytes();
            // From the address the packet was for; on OUTPUT from this
            // host itself (icmp_send picks a local source).
            let error = Ipv4Pkt {
                src: if inbound { pkt.dst } else { pkt.src },
                dst: pkt.src,
                ttl: DEFAULT_TTL,
                ident: 0,
                l4: L4::IcmpDestUnreachable {
                    code: 3,
                    original: quote(&original),
                },
            };
            let reply_tag = tag.map(TraceTag::as_reply);
            if inbound {
                self.send(cx, error, reply_tag);
            } else {
                self.local_deliver(cx, error, reply_tag, CtState::Untracked);
            }
        }
        false
    }

    fn local_deliver(&mut self, cx: &mut Cx, pkt: Ipv4Pkt, tag: Option<TraceTag>, ct: CtState) {
        if !self.host_firewall_allows(cx, &pkt, &ct, tag, true) {
            return;
        }
        if let CtState::New { orig, dnat, by, .. } = ct {
            let http = self.l7_capture(orig, &pkt);
            let (size, tcp) = (ip_len(&pkt), tcp_flags(&pkt));
            self.ct
                .commit_counted(cx.now, orig, dnat, None, Cow::Owned(by), size, tcp, http);
        }
        if let L4::Tcp { dst_port, .. } = &pkt.l4
            && self.app_ports.contains(dst_port)
        {
            cx.notes.push(Note::App { pkt });
            return;
        }
        let reply_tag = tag.map(TraceTag::as_reply);
        match &pkt.l4 {
            L4::IcmpEcho {
                request: true,
                ident,
                seq,
                data,
            } => {
                let reply = Ipv4Pkt {
                    src: pkt.dst,
                    dst: pkt.src,
                    ttl: DEFAULT_TTL,
                    ident: 0,
                    l4: L4::IcmpEcho {
                        request: false,
                        ident: *ident,
                        seq: *seq,
                        data: data.clone(),
                    },
                };
                cx.notes.push(Note::Local { pkt, tag });
                self.send(cx, reply, reply_tag);
            }
            L4::Tcp {
                src_port,
                dst_port,
                seq,
                payload,
                ..
            } if payload.starts_with(b"GET ") && self.tcp_listen.contains(dst_port) => {
                // A tiny HTTP/1.1 server: every GET gets the host's status.
                let status = self.http_status;
                let reason = match status {
                    200 => "OK",
                    301 => "Moved Permanently",
                    302 => "Found",
                    404 => "Not Found",
                    _ => "Status",
                };
                let location = if (300..400).contains(&status) {
                    "Location: https://www.vg.no/\r\n"
                } else {
                    ""
                };
                let body =
                    format!("HTTP/1.1 {status} {reason}\r\n{location}Content-Length: 0\r\n\r\n");
                let reply = Ipv4Pkt {
                    src: pkt.dst,
                    dst: pkt.src,
                    ttl: DEFAULT_TTL,
                    ident: 0,
                    l4: L4::Tcp {
                        src_port: *dst_port,
                        dst_port: *src_port,
                        seq: 0x1000_0001,
                        ack: seq.wrapping_add(payload.len() as u32),
                        flags: wire::TcpFlags {
                            ack: true,
                            psh: true,
                            ..Default::default()
                        },
                        window: 64240,
                        payload: body.into_bytes(),
                    },
                };
                cx.notes.push(Note::Local {
                    pkt: pkt.clone(),
                    tag,
                });
                self.send(cx, reply, reply_tag);
            }
            L4::Tcp {
                dst_port: crate::engine::memberlist::MEMBERLIST_PORT,
                payload,
                ..
            } if !payload.is_empty() => {
                // A memberlist TCP request: the agent answers it (sim::world::agents).
                cx.notes.push(Note::Local { pkt, tag });
            }
            L4::Tcp {
                src_port,
                dst_port,
                seq,
                flags,
                ..
            } if flags.syn && !flags.ack => {
                let open = self.tcp_listen.contains(dst_port);
                let rflags = wire::TcpFlags {
                    syn: open,
                    ack: true,
                    rst: !open,
                    ..Default::default()
                };
                let reply = Ipv4Pkt {
                    src: pkt.dst,
                    dst: pkt.src,
                    ttl: DEFAULT_TTL,
                    ident: 0,
                    l4: L4::Tcp {
                        src_port: *dst_port,
                        dst_port: *src_port,
                        seq: if open { 0x1000_0000 } else { 0 },
                        ack: seq.wrapping_add(1),
                        flags: rflags,
                        window: if open { 64240 } else { 0 },
                        payload: Vec::new(),
                    },
                };
                if !open {
                    cx.drop(
                        tag,
                        DropReason::PortUnreachable {
                            device: cx.device.to_string(),
                            port: *dst_port,
                        },
                    );
                }
                cx.notes.push(Note::Local { pkt, tag });
                self.send(cx, reply, reply_tag);
            }
            L4::Tcp {
                dst_port, flags, ..
            } if flags.fin => {
                // The listener's application closes on EOF; the end that
                // closed first acknowledges (super::tcp_close).
                let server = self.tcp_listen.contains(dst_port);
                let answer = super::tcp_close::answer_fin(&pkt, server);
                cx.notes.push(Note::Local { pkt, tag });
                if let Some(a) = answer {
                    self.send(cx, a, reply_tag);
                }
            }
            _ => cx.notes.push(Note::Local { pkt, tag }),
        }
    }

    fn send_icmp_error(&mut self, cx: &mut Cx, offending: &Ipv4Pkt, l4: L4, in_iface: usize) {
        // Never answer an ICMP error with an error (RFC 1122 §3.2.2).
        if matches!(
            offending.l4,
            L4::IcmpDestUnreachable { .. }
                | L4::IcmpFragNeeded { .. }
                | L4::IcmpTimeExceeded { .. }
        ) {
            return;
        }
        let Some(src) = self.source_for(in_iface, offending.src) else {
            return;
        };
        let pkt = Ipv4Pkt {
            src,
            dst: offending.src,
            ttl: DEFAULT_TTL,
            ident: 0,
            l4,
        };
        self.send(cx, pkt, None);
    }
}

/// A TCP segment's flags, for conntrack's state machine.
fn tcp_flags(pkt: &Ipv4Pkt) -> Option<wire::TcpFlags> {
    match &pkt.l4 {
        L4::Tcp { flags, .. } => Some(*flags),
        _ => None,
    }
}

/// `pkt`'s TCP payload if it is an HTTP/1.1 message on a connection from
/// `orig_src` to `orig_dst` that `wanted` (Pod IP, egress, ingress) asks to
/// capture for L7 flow export.
pub(super) fn l7_message(
    wanted: &[(Ipv4Addr, bool, bool)],
    orig_src: Ipv4Addr,
    orig_dst: Ipv4Addr,
    pkt: &Ipv4Pkt,
) -> Option<String> {
    if wanted.is_empty() {
        return None;
    }
    let L4::Tcp { payload, .. } = &pkt.l4 else {
        return None;
    };
    let asked = wanted
        .iter()
        .any(|&(ip, egress, ingress)| (egress && orig_src == ip) || (ingress && orig_dst == ip));
    let text = std::str::from_utf8(payload).ok()?;
    let http = ["GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "HTTP/1.1 "]
        .iter()
        .any(|p| text.starts_with(p));
    (asked && http).then(|| text.to_string())
}

/// The IPv4 length of a packet without encoding it.
fn ip_len(pkt: &Ipv4Pkt) -> usize {
    20 + match &pkt.l4 {
        L4::IcmpEcho { data, .. } => 8 + data.len(),
        L4::IcmpDestUnreachable { original, .. }
        | L4::IcmpFragNeeded { original, .. }
        | L4::IcmpTimeExceeded { original } => 8 + original.len(),
        L4::Udp { payload, .. } => 8 + payload.len(),
        L4::Tcp { payload, .. } => 20 + payload.len(),
        L4::Other { payload, .. } => payload.len(),
    }
}

/// The first 28 bytes of a packet: IP header plus 8 bytes, what ICMP errors quote.
fn quote(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(28)].to_vec()
}

/// The conntrack tuple of a packet. ICMP echo keeps the identifier on the
/// requester's side only (request: `sport = ident, dport = 0`; reply:
/// `sport = 0, dport = ident`), so a request and its reply are each other's
/// reverse and never mistaken for one another, as Linux's ICMP tuple (which
/// includes the type) ensures.
pub fn flow_key(pkt: &Ipv4Pkt) -> Option<FlowKey> {
    let (proto, sport, dport) = match &pkt.l4 {
        L4::IcmpEcho {
            ident,
            request: true,
            ..
        } => (PROTO_ICMP, *ident, 0),
        L4::IcmpEcho {
            ident,
            request: false,
            ..
        } => (PROTO_ICMP, 0, *ident),
        L4::Tcp {
            src_port, dst_port, ..
        } => (PROTO_TCP, *src_port, *dst_port),
        L4::Udp {
            src_port, dst_port, ..
        } => (PROTO_UDP, *src_port, *dst_port),
        _ => return None,
    };
    Some(FlowKey {
        proto,
        src: pkt.src,
        sport,
        dst: pkt.dst,
        dport,
    })
}

fn set_src(pkt: &mut Ipv4Pkt, ip: Ipv4Addr, port: u16) {
    pkt.src = ip;
    match &mut pkt.l4 {
        L4::IcmpEcho {
            ident,
            request: true,
            ..
        } => *ident = port,
        L4::IcmpEcho { .. } => {}
        L4::Tcp { src_port, .. } | L4::Udp { src_port, .. } => *src_port = port,
        _ => {}
    }
}

fn set_dst(pkt: &mut Ipv4Pkt, ip: Ipv4Addr, port: u16) {
    pkt.dst = ip;
    match &mut pkt.l4 {
        L4::IcmpEcho {
            ident,
            request: false,
            ..
        } => *ident = port,
        L4::IcmpEcho { .. } => {}
        L4::Tcp { dst_port, .. } | L4::Udp { dst_port, .. } => *dst_port = port,
        _ => {}
    }
}

/// A new connection DNATed to `to`: the packet rewritten, the state to
/// commit at POSTROUTING.
fn dnat_new(
    pkt: &mut Ipv4Pkt,
    key: FlowKey,
    to: (Ipv4Addr, u16),
    by: String,
    masquerade: bool,
) -> CtState {
    set_dst(pkt, to.0, to.1);
    CtState::New {
        orig: key,
        dnat: Some(to),
        masquerade,
        by,
        via: None,
    }
}

/// The answer a proxy gives a connection it cannot serve: AntreaProxy's
/// agent answers its packet-in with RST+ACK for TCP and ICMP unreachable
/// (code 10) otherwise; kube-proxy's REJECT is ICMP port unreachable; a
/// DROP answers nothing (engine::proxy::handler).
pub(crate) fn reject_reply(pkt: &Ipv4Pkt, action: NoEndpointsAction) -> Option<Ipv4Pkt> {
    let l4 = match (action, &pkt.l4) {
        (NoEndpointsAction::Drop, _) => return None,
        (
            NoEndpointsAction::TcpReset,
            L4::Tcp {
                src_port,
                dst_port,
                seq,
                ..
            },
        ) => L4::Tcp {
            src_port: *dst_port,
            dst_port: *src_port,
            seq: 0,
            ack: seq.wrapping_add(1),
            flags: wire::TcpFlags {
                rst: true,
                ack: true,
                ..Default::default()
            },
            window: 0,
            payload: Vec::new(),
        },
        (NoEndpointsAction::IcmpUnreachable { code }, _) => L4::IcmpDestUnreachable {
            code,
            original: quote(&pkt.to_bytes()),
        },
        (NoEndpointsAction::TcpReset, _) => L4::IcmpDestUnreachable {
            code: 10,
            original: quote(&pkt.to_bytes()),
        },
    };
    Some(Ipv4Pkt {
        src: pkt.dst,
        dst: pkt.src,
        ttl: DEFAULT_TTL,
        ident: 0,
        l4,
    })
}

/// The transport header as the host firewall's matches read it.
fn packet_l4(pkt: &Ipv4Pkt) -> PacketL4 {
    match &pkt.l4 {
        L4::Tcp {
            src_port, dst_port, ..
        } => PacketL4::Ports {
            protocol: Protocol::Tcp,
            src: *src_port,
            dst: *dst_port,
        },
        L4::Udp {
            src_port, dst_port, ..
        } => PacketL4::Ports {
            protocol: Protocol::Udp,
            src: *src_port,
            dst: *dst_port,
        },
        L4::IcmpEcho { request, .. } => PacketL4::Icmp {
            icmp_type: if *request { 8 } else { 0 },
            code: 0,
        },
        L4::IcmpDestUnreachable { code, .. } => PacketL4::Icmp {
            icmp_type: 3,
            code: *code,
        },
        L4::IcmpFragNeeded { .. } => PacketL4::Icmp {
            icmp_type: 3,
            code: 4,
        },
        L4::IcmpTimeExceeded { .. } => PacketL4::Icmp {
            icmp_type: 11,
            code: 0,
        },
        _ => PacketL4::Other,
    }
}

#[cfg(test)]
mod mark_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Looking a packet's source up in the index finds the mark the
        /// first matching rule in order gives, as scanning every rule does,
        /// with single-address sources (indexed) or some wider (scanned).
        #[test]
        fn indexed_marks_mark_as_the_first_matching_rule(
            rules in proptest::collection::vec((0u32..6, prop_oneof![Just(32u8), 30u8..32], 0u32..4, 1u32..9), 0..10),
            packets in proptest::collection::vec((0u32..8, 0u32..4), 1..16),
        ) {
            let net = |host: u32, len: u8| Ipv4Net::new(Ipv4Addr::from_bits(0x0a00_0000 | host), len).unwrap().trunc();
            let rules: Vec<MarkRule> = rules
                .into_iter()
                .map(|(host, len, not, mark)| MarkRule {
                    src: net(host, len),
                    not_dst: (0..not).map(|d| net(0x100 + d, 32)).collect::<Vec<_>>().into(),
                    mark,
                    comment: String::new(),
                })
                .collect();
            let mut table = MarkRules::default();
            table.set(rules.clone());
            for (src, dst) in packets {
                let (src, dst) = (Ipv4Addr::from_bits(0x0a00_0000 | src), Ipv4Addr::from_bits(0x0a00_0100 | dst));
                let scanned = rules
                    .iter()
                    .find(|m| m.src.contains(&src) && !m.not_dst.iter().any(|n| n.contains(&dst)))
                    .map_or(0, |m| m.mark);
                prop_assert_eq!(table.mark_for(src, dst), scanned);
            }
        }
    }
}
