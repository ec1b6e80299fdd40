//! IP stacks in the world: a frame reaching a host (its VLAN sub-interface,
//! admin state), what a stack asks for after a call (frames to put on ports,
//! timers, drops, local deliveries, log lines), and changes to a stack made
//! between events (routes, the HTTP status, flushing caches).

use std::net::Ipv4Addr;

use super::{Event, MEMBERLIST_PORT, World};
use crate::model::{DeviceId, PortRef};
use crate::sched::Scheduler;
use crate::sim::devices::{self, DeviceRt, HostIfaceKind};
use crate::sim::routing::Route;
use crate::sim::stack::{Cx, IpStack, Note, Out, StackTimer};
use crate::sim::trace::{DropReason, TraceTag};
use crate::time::SimTime;
use crate::wire::{self, Ipv4Pkt, L4};

/// The owned parts of a `Cx`, so the world can be borrowed again.
pub(super) struct Detached {
    out: Vec<crate::sim::stack::Out>,
    timers: Vec<(SimTime, StackTimer)>,
    notes: Vec<Note>,
}

impl Detached {
    /// One frame to send on interface `iface`, nothing else.
    pub(super) fn frame(iface: usize, frame: Vec<u8>) -> Detached {
        Detached {
            out: vec![Out {
                iface,
                frame,
                tag: None,
            }],
            timers: Vec::new(),
            notes: Vec::new(),
        }
    }
}

fn detach(cx: Cx) -> Detached {
    Detached {
        out: cx.out,
        timers: cx.timers,
        notes: cx.notes,
    }
}

impl World {
    /// Calls into device `id`'s IP stack (if it has one) with a fresh
    /// context, then carries out what the stack asked for.
    pub(super) fn call_stack(&mut self, id: DeviceId, call: impl FnOnce(&mut IpStack, &mut Cx)) {
        let (name, stack) = self.devices[id.0 as usize].name_and_stack_mut();
        let mut cx = Cx::new(self.now, name);
        if let Some(stack) = stack {
            call(stack, &mut cx);
        }
        let cx = detach(cx);
        self.finish(id, cx);
    }

    /// A stack timer fires, unless it was set in a previous life of the
    /// device (another epoch) or the device is off.
    pub(super) fn stack_timer(&mut self, device: DeviceId, epoch: u32, timer: StackTimer) {
        if self.epochs[device.0 as usize] != epoch || !self.device(device).powered() {
            return;
        }
        self.call_stack(device, |stack, cx| stack.on_timer(cx, timer));
    }

    pub(super) fn host_receive(&mut self, port: PortRef, frame: Vec<u8>, tag: Option<TraceTag>) {
        let id = port.device;
        let DeviceRt::Host(h) = &self.devices[id.0 as usize] else {
            return;
        };
        let phys = h.ports[port.port as usize];
        let (vid, inner) = wire::pop_vlan(frame);
        let iface = match vid {
            None => Some(phys),
            // A deleted sub-interface keeps its slot, taken down
            // (dataplane.rs): it is not there for its VLAN.
            Some(v) => h.iface_kinds.iter().enumerate().position(|(i, k)| {
                *k == HostIfaceKind::Vlan {
                    parent: phys,
                    vid: v,
                } && h.admin_up[i]
            }),
        };
        let Some(iface) = iface else {
            // Linux drops frames for VLANs it has no sub-interface for.
            let device = h.name.to_string();
            if let (Some(v), Ok((eth, _))) = (vid, wire::parse_eth(&inner))
                && self.device(id).owns_mac(eth.dst)
            {
                self.drop_packet(tag, DropReason::NoVlanInterface { device, vid: v });
            }
            return;
        };
        if !h.admin_up[iface] || !h.stack.ifaces[iface].up {
            return;
        }
        if let Some(t) = tag {
            let ifname = h.stack.ifaces[iface].name.clone();
            let name = h.name.clone();
            self.add_hop(t, &name, format!("in {ifname}"), vid);
        }
        self.call_stack(id, |stack, cx| stack.receive(cx, iface, &inner, tag));
    }

    /// Executes what a stack asked for: frames, timers, notes.
    pub(super) fn finish(&mut self, id: DeviceId, cx: Detached) {
        for (at, timer) in cx.timers {
            let epoch = self.epochs[id.0 as usize];
            self.queue.push(
                at,
                Event::Timer {
                    device: id,
                    epoch,
                    timer,
                },
            );
        }
        for note in cx.notes {
            match note {
                Note::Drop { tag, reason } => self.drop_packet(tag, reason),
                Note::Local { pkt, tag } => {
                    if let L4::Udp {
                        dst_port: MEMBERLIST_PORT,
                        payload,
                        ..
                    } = &pkt.l4
                    {
                        self.agent_receive(id, pkt.src, None, payload);
                    } else if let Some((port, payload)) = memberlist_stream(&pkt) {
                        self.agent_receive(id, pkt.src, Some((port, pkt.dst)), payload);
                    } else if matches!(
                        &pkt.l4,
                        L4::Udp {
                            dst_port: wire::geneve::GENEVE_UDP_PORT,
                            ..
                        }
                    ) && self.tunnel_receive(id, &pkt, tag)
                    {
                        // Geneve for this node's br-int (br_int.rs).
                    } else {
                        self.local_delivery(id, &pkt, tag);
                    }
                }
                Note::App { pkt } => self.bgp_receive(id, &pkt),
                Note::Hop { tag, text } => {
                    let name = self.shared_name_of(id);
                    self.add_hop(tag, &name, text, None);
                }
                Note::Log { kind, text } => {
                    let name = self.shared_name_of(id);
                    self.record(kind, &name, text);
                }
            }
        }
        for out in cx.out {
            match &self.devices[id.0 as usize] {
                DeviceRt::Host(h) => {
                    let (port, frame, physical) = match h.iface_kinds[out.iface] {
                        HostIfaceKind::Physical { port } => (port, out.frame, true),
                        HostIfaceKind::Vlan { parent, vid } => match h.iface_kinds[parent] {
                            HostIfaceKind::Physical { port } => {
                                (port, wire::push_vlan(out.frame, vid), false)
                            }
                            HostIfaceKind::Vlan { .. } | HostIfaceKind::Dummy => continue,
                        },
                        HostIfaceKind::Dummy => continue,
                    };
                    let port = PortRef { device: id, port };
                    // Through the ExternalNode agent's br-int first; a VLAN
                    // sub-interface stays on the uplink device and bypasses
                    // OVS, as Linux delivers it before OVS's hook.
                    if physical && self.has_external_agent(port) {
                        self.external_agent_out(port, frame, out.tag);
                    } else {
                        self.transmit(port, frame, out.tag, false);
                    }
                }
                DeviceRt::Switch(sw) => {
                    let vlan = sw.svi_vlans[out.iface];
                    self.switch_receive(id, None, Some(vlan), out.frame, out.tag);
                }
            }
        }
    }

    /// Sends packets `from` a host outside any probe's trace (the segments
    /// that close a probe's connection).
    pub(super) fn send_untraced(&mut self, from: DeviceId, pkts: Vec<Ipv4Pkt>) {
        if pkts.is_empty() {
            return;
        }
        self.call_stack(from, |stack, cx| {
            for p in pkts {
                stack.send(cx, p, None);
            }
        });
    }

    /// Every address of every host, for resolving endpoint names.
    pub fn host_ip(&self, id: DeviceId) -> Option<Ipv4Addr> {
        let DeviceRt::Host(h) = self.device(id) else {
            return None;
        };
        h.stack
            .ifaces
            .iter()
            .find(|i| i.name != "antrea-gw0")
            .and_then(|i| i.addrs.first())
            .map(|a| a.addr())
    }

    /// Makes the HTTP server of host `id` answer every GET with `code` (a
    /// device without an IP stack has no server: nothing changes).
    pub fn set_http_status(&mut self, id: DeviceId, code: u16) {
        if let Some(stack) = self.devices[id.0 as usize].stack_mut() {
            stack.set_http_status(code);
        }
    }

    /// `ip neigh flush all` on device `id` (nothing for an L2-only switch).
    pub fn flush_arp(&mut self, id: DeviceId) {
        if let Some(stack) = self.devices[id.0 as usize].stack_mut() {
            stack.flush_arp();
        }
    }

    /// `ip route add/del` on a host or an L3 switch (a static route).
    pub fn change_route(
        &mut self,
        id: DeviceId,
        spec: &crate::model::RouteSpec,
        add: bool,
    ) -> Result<(), String> {
        let name = self.device(id).name().to_string();
        let is_host = matches!(self.device(id), DeviceRt::Host(_));
        let stack = self.devices[id.0 as usize]
            .stack_mut()
            .ok_or_else(|| format!("{name} has no IP stack"))?;
        let r = devices::resolve_route(spec, &stack.ifaces, "static")
            .ok_or_else(|| format!("{name}: no interface reaches the route's next hop"))?;
        // Hosts run Linux, unless configured as routers with `maximumPaths`;
        // switches run a router OS.
        let linux = is_host && stack.routes.ecmp().maximum_paths == 1;
        crate::sim::route_change::apply(stack, linux, r, add)
            .map_err(|e| format!("{name}: ip route {}: {e}", if add { "add" } else { "del" }))
    }

    /// The static routes of a host, for the power-cycle path and tables.
    pub fn static_routes(&self, id: DeviceId) -> &[Route] {
        match self.device(id) {
            DeviceRt::Host(h) => &h.static_routes,
            DeviceRt::Switch(s) => &s.static_routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{
        THREE_HOSTS, TWO_NODES, id, ip, mac, messages, ms, port, probe, raw_frame, world,
    };
    use crate::model::RouteSpec;
    use crate::sim::probe::ProbeKind;
    use crate::sim::trace::LogKind;
    use crate::wire;

    fn arp_ips(w: &super::World, device: &str) -> Vec<std::net::Ipv4Addr> {
        let stack = w.device(id(w, device)).stack().unwrap();
        stack.arp().rows(w.now()).iter().map(|r| r.ip).collect()
    }

    #[test]
    fn a_ping_fills_the_arp_cache_and_flush_arp_empties_it() {
        let mut w = world(THREE_HOSTS);
        w.start_probe(probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(50));
        assert_eq!(arp_ips(&w, "h1"), [ip("10.0.0.2")]);
        assert_eq!(arp_ips(&w, "h2"), [ip("10.0.0.1")]);
        w.flush_arp(id(&w, "h1"));
        assert!(arp_ips(&w, "h1").is_empty());
        assert_eq!(arp_ips(&w, "h2").len(), 1, "only h1 flushed");
        // An L2-only switch has no cache: nothing happens.
        w.flush_arp(id(&w, "sw"));
    }

    #[test]
    fn the_http_status_set_on_a_host_is_what_an_http_probe_reads() {
        let mut w = world(THREE_HOSTS);
        let h2 = id(&w, "h2");
        assert_eq!(w.device(h2).stack().unwrap().http_status(), 200);
        w.set_http_status(h2, 404);
        assert_eq!(w.device(h2).stack().unwrap().http_status(), 404);
        let kind = ProbeKind::Http {
            port: 80,
            host: "h2".into(),
            path: "/".into(),
        };
        w.start_probe(probe(&w, "curl", "h1", "10.0.0.2", kind))
            .unwrap();
        w.run_until(ms(50));
        let a = w.probe("curl").unwrap().last_finished().expect("an answer");
        assert!(a.ok(), "{:?}", a.verdict);
        assert_eq!(a.http_status, Some(404));
    }

    #[test]
    fn a_tagged_frame_for_a_vlan_without_sub_interface_is_dropped() {
        let mut w = world(THREE_HOSTS);
        let (h1, h2) = (mac(&w, "h1"), mac(&w, "h2"));
        let tagged = wire::push_vlan(raw_frame(h2, h1), 99);
        w.host_receive(port(&w, "h1/eth0"), tagged, None);
        assert_eq!(
            messages(&w, LogKind::Drop),
            ["h1 has no interface for VLAN 99"]
        );
        // One for another host's MAC is not this host's loss.
        let tagged = wire::push_vlan(raw_frame(h1, h2), 99);
        w.host_receive(port(&w, "h1/eth0"), tagged, None);
        assert_eq!(messages(&w, LogKind::Drop).len(), 1);
    }

    #[test]
    fn route_changes_add_and_delete_a_static_route() {
        let mut w = world(THREE_HOSTS);
        let h1 = id(&w, "h1");
        let spec = RouteSpec::new("10.9.0.0/16".parse().unwrap(), Some(ip("10.0.0.2")), None);
        let lookup = |w: &super::World| {
            let stack = w.device(h1).stack().unwrap();
            stack
                .routes()
                .lookup(ip("10.9.1.1"), None, 0)
                .map(|h| h.neighbor)
        };
        assert_eq!(lookup(&w), None);
        w.change_route(h1, &spec, true).unwrap();
        assert_eq!(lookup(&w), Some(ip("10.0.0.2")));
        assert!(w.change_route(h1, &spec, true).is_err(), "already there");
        w.change_route(h1, &spec, false).unwrap();
        assert_eq!(lookup(&w), None);
        let far = RouteSpec::new("10.8.0.0/16".parse().unwrap(), Some(ip("192.0.2.1")), None);
        let err = w.change_route(h1, &far, true).unwrap_err();
        assert!(err.contains("no interface reaches"), "{err}");
        assert!(w.change_route(id(&w, "sw"), &spec, true).is_err());
    }

    #[test]
    fn host_ip_is_the_first_address_outside_the_pod_network() {
        let w = world(TWO_NODES);
        assert_eq!(w.host_ip(id(&w, "n2")), Some(ip("10.0.0.12")));
        assert_eq!(w.host_ip(id(&w, "sw")), None);
        assert_eq!(w.static_routes(id(&w, "n1")), &[]);
    }
}

#[cfg(test)]
mod mtu_tests {
    //! MTU: every packet the lab sends has DF set, so a router drops an
    //! oversized one and answers ICMP need-frag with its next-hop MTU, and a
    //! sender's own oversized packet never leaves (EMSGSIZE).
    use super::super::testlab::{ROUTED, id, ms, probe, world};
    use crate::sim::probe::{ProbeKind, Verdict};
    use crate::sim::trace::DropReason;

    fn ping(size: u16) -> (Verdict, Vec<DropReason>) {
        let mut w = world(ROUTED);
        let r = id(&w, "r");
        w.set_mtu(r, "eth1", 1400);
        let mut p = probe(&w, "big", "h1", "10.0.2.2", ProbeKind::Ping);
        p.size = Some(size);
        p.count = Some(1);
        w.start_probe(p).unwrap();
        // Well before the probe's 500 ms timeout: the echo reply, or the
        // ICMP error, decides the attempt.
        w.run_until(ms(50));
        let a = &w.probes()[0].attempts()[0];
        (a.verdict.clone(), a.drops.clone())
    }

    #[test]
    fn a_router_answers_need_frag_for_a_packet_over_its_next_hop_mtu() {
        // 1372 + 8 + 20 = 1400 bytes: fits exactly.
        let (ok, drops) = ping(1372);
        assert!(matches!(ok, Verdict::Ok { .. }), "{ok:?} {drops:?}");
        // One byte more: r drops it and says why; the ICMP error ends the
        // attempt at once rather than at its timeout.
        let (v, drops) = ping(1373);
        let Verdict::Fail { reason } = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            reason,
            "r cannot forward a 1401-byte packet out eth1 (mtu 1400, DF set): ICMP need-frag sent"
        );
        assert!(matches!(
            drops[..],
            [DropReason::TooBig {
                len: 1401,
                mtu: 1400,
                forwarded: true,
                ..
            }]
        ));
    }

    #[test]
    fn a_senders_own_packet_over_its_mtu_never_leaves() {
        let mut w = world(ROUTED);
        let h1 = id(&w, "h1");
        w.set_mtu(h1, "eth0", 1450);
        let mut p = probe(&w, "big", "h1", "10.0.2.2", ProbeKind::Ping);
        p.size = Some(1423);
        p.count = Some(1);
        w.start_probe(p).unwrap();
        w.run_until(ms(1_000));
        let a = &w.probes()[0].attempts()[0];
        assert_eq!(
            a.verdict,
            Verdict::Fail {
                reason: "local error: message too long, mtu=1450 (1451-byte packet out eth0 on h1)"
                    .into()
            }
        );
        // Nothing reached the router.
        assert!(a.path.iter().all(|h| h.device == "h1"), "{:?}", a.path);
    }
}

/// A memberlist TCP segment (a request to port 10351 or an answer from it)
/// with the sender's port.
fn memberlist_stream(pkt: &Ipv4Pkt) -> Option<(u16, &[u8])> {
    match &pkt.l4 {
        L4::Tcp {
            src_port,
            dst_port,
            payload,
            ..
        } if !payload.is_empty()
            && (*dst_port == MEMBERLIST_PORT || *src_port == MEMBERLIST_PORT) =>
        {
            Some((*src_port, payload))
        }
        _ => None,
    }
}
