//! The wires between ports: a frame put on a link arrives at the other end
//! after the link's latency, unless the link is down; links go down and up;
//! ports have names; and every frame on a port can be captured to pcap.

use std::collections::BTreeMap;

use super::{Event, World};
use crate::model::{DeviceId, PortRef};
use crate::sched::Scheduler;
use crate::sim::devices::{DeviceRt, HostIfaceKind};
use crate::sim::trace::{DropReason, LogKind, TraceTag};
use crate::time::SimDuration;
use crate::wire;

#[derive(Clone, Debug)]
pub(super) struct LinkRt {
    a: PortRef,
    b: PortRef,
    latency: SimDuration,
    up: bool,
}

impl LinkRt {
    /// The other end of the link from `end`.
    pub(super) fn peer_of(&self, end: PortRef) -> PortRef {
        if self.a == end { self.b } else { self.a }
    }
}

/// A link as tables show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinkState {
    pub(crate) a: String,
    pub(crate) b: String,
    pub up: bool,
    pub(crate) latency: SimDuration,
}

/// How much `--pcap` capture a run keeps in memory (all ports together).
pub const CAPTURE_BUDGET: usize = 128 << 20;

fn vid_of(k: &HostIfaceKind) -> u16 {
    match k {
        HostIfaceKind::Vlan { vid, .. } => *vid,
        HostIfaceKind::Physical { .. } | HostIfaceKind::Dummy => 0,
    }
}

impl World {
    /// Connects ports `a` and `b` with a link that is up.
    pub(super) fn add_link(&mut self, a: PortRef, b: PortRef, latency: SimDuration) {
        let i = self.links.len();
        self.links.push(LinkRt {
            a,
            b,
            latency,
            up: true,
        });
        self.port_link.insert(a, i);
        self.port_link.insert(b, i);
    }

    /// Whether any port of `device` has a link that is up.
    pub(super) fn has_live_link(&self, device: DeviceId) -> bool {
        self.port_link.of_device(device).any(|li| self.links[li].up)
    }

    /// Puts a frame on the wire at `from`.
    pub(super) fn transmit(
        &mut self,
        from: PortRef,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
        flooding: bool,
    ) {
        let Some(li) = self.port_link.get(from) else {
            return;
        };
        let link = self.links[li].clone();
        if !link.up {
            // A flooded copy matters only if it was heading to the owner of
            // the destination MAC (the switch forgot the port when it went down).
            let peer = if link.a == from { link.b } else { link.a };
            let for_peer = flooding
                && wire::parse_eth(&frame).is_ok_and(|(eth, _)| {
                    !eth.dst.is_multicast() && self.device(peer.device).owns_mac(eth.dst)
                });
            if !flooding || for_peer {
                let (device, port) = (
                    self.device(from.device).name().to_string(),
                    self.port_label(from),
                );
                self.drop_packet(tag, DropReason::LinkDown { device, port });
            }
            return;
        }
        self.capture(from, &frame);
        let to = if link.a == from { link.b } else { link.a };
        self.queue.push(
            self.now + link.latency,
            Event::Arrive {
                port: to,
                link: li as u32,
                frame,
                tag,
            },
        );
    }

    pub(super) fn arrive(
        &mut self,
        port: PortRef,
        link: usize,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        if !self.links[link].up {
            let (device, name) = (
                self.device(port.device).name().to_string(),
                self.port_label(port),
            );
            self.drop_packet(tag, DropReason::LinkDown { device, port: name });
            return;
        }
        self.capture(port, &frame);
        if self.log_frames {
            let msg = format!("rx {} {}", self.port_label(port), wire::summarize(&frame));
            let dev = self.device(port.device).name().to_string();
            self.record(LogKind::Frame, &dev, msg);
        }
        let powered = self.device(port.device).powered();
        if !powered {
            // Only a frame meant for this device is "lost because it is off";
            // flooded copies for others are not a verdict.
            if let Ok((eth, _)) = wire::parse_eth(&frame)
                && self.device(port.device).owns_mac(eth.dst)
            {
                let device = self.device(port.device).name().to_string();
                self.drop_packet(tag, DropReason::PoweredOff { device });
            }
            return;
        }
        match &self.devices[port.device.0 as usize] {
            // Tagged frames go to the uplink's VLAN sub-interfaces, not OVS.
            DeviceRt::Host(_)
                if self.has_external_agent(port) && wire::vlan_of(&frame).is_none() =>
            {
                self.external_agent_in(port, frame, tag)
            }
            DeviceRt::Host(_) => self.host_receive(port, frame, tag),
            DeviceRt::Switch(_) if self.runs_program(port.device) => {
                self.br_int_receive(port.device, port.port, frame, tag)
            }
            DeviceRt::Switch(_) => {
                self.switch_receive(port.device, Some(port.port), None, frame, tag)
            }
        }
    }

    /// Name of a port: `device/iface` for hosts, `switch/port` for switches.
    pub fn port_name(&self, p: PortRef) -> String {
        format!("{}/{}", self.device(p.device).name(), self.port_label(p))
    }

    pub(super) fn port_label(&self, p: PortRef) -> String {
        match self.device(p.device) {
            DeviceRt::Host(h) => h
                .ports
                .get(p.port as usize)
                .map_or("?".into(), |&i| h.stack.ifaces[i].name.clone()),
            DeviceRt::Switch(s) => s
                .ports
                .get(p.port as usize)
                .map_or("?".into(), |x| x.name.clone()),
        }
    }

    /// Finds a port by `device/iface-or-port` (the last `/` separates them, so
    /// Pod names like `ns/pod/eth0` work).
    pub fn find_port(&self, reference: &str) -> Option<PortRef> {
        let (dev, port) = reference.rsplit_once('/')?;
        let id = self.device_id(dev)?;
        let idx = match self.device(id) {
            DeviceRt::Host(h) => h
                .ports
                .iter()
                .position(|&i| h.stack.ifaces[i].name == port)?,
            DeviceRt::Switch(s) => s.ports.iter().position(|x| x.name == port)?,
        };
        Some(PortRef {
            device: id,
            port: idx as u16,
        })
    }

    pub fn links(&self) -> Vec<LinkState> {
        self.links
            .iter()
            .map(|l| LinkState {
                a: self.port_name(l.a),
                b: self.port_name(l.b),
                up: l.up,
                latency: l.latency,
            })
            .collect()
    }

    /// Takes the link at `port` down or up. Both ends lose carrier; switches
    /// flush the MACs learned on it.
    pub fn set_link(&mut self, port: PortRef, up: bool) -> Result<(), String> {
        let li = self
            .port_link
            .get(port)
            .ok_or_else(|| format!("{} has no link", self.port_name(port)))?;
        if self.links[li].up == up {
            return Ok(());
        }
        self.links[li].up = up;
        let (a, b) = (self.links[li].a, self.links[li].b);
        for end in [a, b] {
            match &mut self.devices[end.device.0 as usize] {
                DeviceRt::Host(h) => {
                    let iface = h.ports[end.port as usize];
                    h.stack.ifaces[iface].up = up;
                    // VLAN sub-interfaces follow their parent's carrier.
                    for (i, k) in h.iface_kinds.iter().enumerate() {
                        if *k
                            == (HostIfaceKind::Vlan {
                                parent: iface,
                                vid: vid_of(k),
                            })
                        {
                            h.stack.ifaces[i].up = up;
                        }
                    }
                }
                DeviceRt::Switch(s) => {
                    if !up {
                        s.macs.flush_port(end.port);
                    }
                }
            }
        }
        let msg = format!(
            "link {} <-> {} {}",
            self.port_name(a),
            self.port_name(b),
            if up { "up" } else { "down" }
        );
        self.record(LogKind::Link, "", msg);
        Ok(())
    }

    /// pcap captures, one per port that saw traffic, named `device_port.pcap`
    /// (a TrafficControl port's `node_tc_port.pcap`).
    pub fn captures(&self) -> Vec<(String, &[u8])> {
        let Some(c) = &self.captures else {
            return Vec::new();
        };
        let mut all: Vec<(String, &[u8])> = c
            .iter()
            .map(|(p, w)| {
                let name = self.port_name(*p).replace(['/', '@'], "_");
                (format!("{name}.pcap"), w.bytes())
            })
            .collect();
        all.extend(
            self.named_captures
                .iter()
                .map(|(n, w)| (format!("{}.pcap", n.replace(['/', '@'], "_")), w.bytes())),
        );
        all
    }

    /// Records `frame` in the capture called `name` (a port with no link).
    pub(super) fn capture_named(&mut self, name: &str, frame: &[u8]) {
        if self.captures.is_none() || self.capture_bytes >= self.capture_budget {
            return;
        }
        let w = self.named_captures.entry(name.to_string()).or_default();
        let before = w.bytes().len();
        w.record(self.now, frame);
        let added = w.bytes().len() - before;
        self.count_capture(added);
    }

    /// Adds `bytes` to what the captures hold; crossing the budget stops
    /// them, and the log says so once.
    fn count_capture(&mut self, bytes: usize) {
        self.capture_bytes += bytes;
        if self.capture_bytes >= self.capture_budget {
            self.record(
                LogKind::Warn,
                "",
                format!(
                    "pcap capture stopped: the captures reached {} KiB, all a run keeps; later frames are not in the files",
                    self.capture_budget >> 10
                ),
            );
        }
    }

    pub fn enable_capture(&mut self) {
        self.captures.get_or_insert_with(BTreeMap::new);
    }

    /// Lowers (or raises) how much capture the run keeps (default
    /// [`CAPTURE_BUDGET`]).
    pub fn set_capture_budget(&mut self, bytes: usize) {
        self.capture_budget = bytes;
    }

    /// Records `frame` in `port`'s capture, while the captures together
    /// stay under the capture budget (they are held in memory until the run
    /// ends); past it, capture stops and the log says so once.
    fn capture(&mut self, port: PortRef, frame: &[u8]) {
        let Some(c) = &mut self.captures else {
            return;
        };
        if self.capture_bytes >= self.capture_budget {
            return;
        }
        let w = c.entry(port).or_default();
        let before = w.bytes().len();
        w.record(self.now, frame);
        let added = w.bytes().len() - before;
        self.count_capture(added);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{
        THREE_HOSTS, entries, id, mac, messages, ms, port, raw_frame, received, world,
    };
    use crate::model::MacAddr;
    use crate::sim::trace::LogKind;

    #[test]
    fn a_frame_arrives_after_the_link_latency_and_ports_have_names() {
        let mut w = world(THREE_HOSTS);
        let p = port(&w, "h1/eth0");
        assert_eq!(w.port_name(p), "h1/eth0");
        assert_eq!(
            w.find_port("sw/p2").map(|q| w.port_name(q)).as_deref(),
            Some("sw/p2")
        );
        assert!(w.find_port("sw/p9").is_none());
        let links = w.links();
        let first = &links[0];
        assert_eq!(
            (first.a.as_str(), first.b.as_str(), first.up),
            ("sw/p1", "h1/eth0", true)
        );
        let (h1, h2) = (mac(&w, "h1"), mac(&w, "h2"));
        w.transmit(p, raw_frame(h1, h2), None, false);
        w.run_until(ms(10));
        let rx = entries(&w, LogKind::Frame);
        assert_eq!(rx[0].device, "sw");
        assert_eq!(rx[0].time.as_nanos(), first.latency.as_nanos());
        assert!(rx[0].message.starts_with("rx p1 "), "{}", rx[0].message);
    }

    #[test]
    fn a_link_down_drops_frames_clears_carrier_and_flushes_its_macs() {
        let mut w = world(THREE_HOSTS);
        let (h1, h2) = (mac(&w, "h1"), mac(&w, "h2"));
        let p = port(&w, "h1/eth0");
        w.transmit(p, raw_frame(h1, h2), None, false);
        w.run_until(ms(10));
        let sw = id(&w, "sw");
        assert_eq!(w.mac_rows(sw, w.now()).unwrap().len(), 1);

        w.set_link(p, false).unwrap();
        assert_eq!(messages(&w, LogKind::Link), ["link sw/p1 <-> h1/eth0 down"]);
        assert!(w.mac_rows(sw, w.now()).unwrap().is_empty());
        let h1_stack = w.device(id(&w, "h1")).stack().unwrap();
        assert!(!h1_stack.ifaces()[0].is_up());
        assert!(!w.links()[0].up);
        // Nothing crosses: the sender's copy is dropped and logged.
        w.transmit(p, raw_frame(h1, h2), None, false);
        w.run_until(ms(20));
        assert_eq!(received(&w, "h2"), 1);
        assert_eq!(messages(&w, LogKind::Drop), ["link down at h1/eth0"]);
        // A flooded copy for someone else is not a loss worth logging.
        w.transmit(
            port(&w, "sw/p1"),
            raw_frame(h2, MacAddr::BROADCAST),
            None,
            true,
        );
        assert_eq!(entries(&w, LogKind::Drop).len(), 1);

        // Setting the same state again changes nothing; a port without a
        // link is refused.
        w.set_link(p, false).unwrap();
        assert_eq!(entries(&w, LogKind::Link).len(), 1);
        w.set_link(p, true).unwrap();
        assert!(w.links()[0].up);
        assert!(w.device(id(&w, "h1")).stack().unwrap().ifaces()[0].is_up());
        w.transmit(p, raw_frame(h1, h2), None, false);
        w.run_until(ms(30));
        assert_eq!(received(&w, "h2"), 2);
    }

    #[test]
    fn a_device_with_an_unlinked_port_reports_it() {
        let mut w = world(super::super::testlab::L3_SWITCH);
        assert!(w.has_live_link(id(&w, "nh")));
        w.set_link(port(&w, "nh/eth0"), false).unwrap();
        assert!(!w.has_live_link(id(&w, "nh")));
    }

    #[test]
    fn captures_stop_at_the_budget_and_say_so_once() {
        let mut w = world(THREE_HOSTS);
        assert!(w.captures().is_empty(), "capture is off by default");
        w.enable_capture();
        w.set_capture_budget(200);
        let (h1, h2) = (mac(&w, "h1"), mac(&w, "h2"));
        for _ in 0..4 {
            w.transmit(port(&w, "h1/eth0"), raw_frame(h1, h2), None, false);
        }
        w.run_until(ms(10));
        let names: Vec<String> = w.captures().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["h1_eth0.pcap"], "the budget ran out on the sender");
        let warnings = messages(&w, LogKind::Warn);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("pcap capture stopped"));
        // Every frame still crossed.
        assert_eq!(received(&w, "sw"), 4);
    }
}
