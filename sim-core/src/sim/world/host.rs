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
        let name = self.device(id).name().to_string();
        let mut cx = Cx::new(self.now, &name);
        if let Some(stack) = self.devices[id.0 as usize].stack_mut() {
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
        let (vid, inner) = wire::pop_vlan(&frame);
        let iface = match vid {
            None => Some(phys),
            Some(v) => h.iface_kinds.iter().position(|k| {
                *k == HostIfaceKind::Vlan {
                    parent: phys,
                    vid: v,
                }
            }),
        };
        let Some(iface) = iface else {
            // Linux drops frames for VLANs it has no sub-interface for.
            let device = h.name.clone();
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
        let name = self.device(id).name().to_string();
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
                        self.agent_receive(id, pkt.src, payload);
                    } else {
                        self.local_delivery(id, &pkt, tag);
                    }
                }
                Note::Hop { tag, text } => self.add_hop(tag, &name, text, None),
                Note::Log { kind, text } => self.record(kind, &name, text),
            }
        }
        for out in cx.out {
            match &self.devices[id.0 as usize] {
                DeviceRt::Host(h) => {
                    let (port, frame) = match h.iface_kinds[out.iface] {
                        HostIfaceKind::Physical { port } => (port, out.frame),
                        HostIfaceKind::Vlan { parent, vid } => match h.iface_kinds[parent] {
                            HostIfaceKind::Physical { port } => {
                                (port, wire::push_vlan(&out.frame, vid))
                            }
                            HostIfaceKind::Vlan { .. } | HostIfaceKind::Dummy => continue,
                        },
                        HostIfaceKind::Dummy => continue,
                    };
                    self.transmit(PortRef { device: id, port }, frame, out.tag, false);
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
