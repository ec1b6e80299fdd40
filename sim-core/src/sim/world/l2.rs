//! Switches: a frame's VLAN on ingress, MAC learning per VLAN, forwarding to
//! the learned port or flooding, tagging on egress, and hand-off to the
//! switch's own SVIs (its L3 part).

use super::World;
use crate::model::{DeviceId, PortRef, VlanMode};
use crate::sim::devices::DeviceRt;
use crate::sim::trace::{DropReason, LogKind, TraceTag};
use crate::time::SimTime;
use crate::wire;

impl World {
    /// L2 forwarding. `in_port` None = from the switch's own L3 part on `cpu_vlan`.
    pub(super) fn switch_receive(
        &mut self,
        id: DeviceId,
        in_port: Option<u16>,
        cpu_vlan: Option<u16>,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        let now = self.now;
        let DeviceRt::Switch(sw) = &mut self.devices[id.0 as usize] else {
            return;
        };
        let (vlan, inner) = match in_port {
            Some(p) => {
                let t = wire::vlan_of(&frame);
                match sw.ports[p as usize].vlan.ingress_vlan(t) {
                    Some(v) => (v, wire::pop_vlan(frame).1),
                    None => {
                        let (switch, port) =
                            (sw.name.to_string(), sw.ports[p as usize].name.clone());
                        let reason = DropReason::VlanNotAllowed {
                            switch,
                            port,
                            vlan: t,
                        };
                        self.note_arp_drop(&frame, &reason);
                        self.drop_packet(tag, reason);
                        return;
                    }
                }
            }
            None => (cpu_vlan.expect("CPU frames carry their VLAN"), frame),
        };
        let Ok((eth, _)) = wire::parse_eth(&inner) else {
            return;
        };
        let mut learned = None;
        if let Some(p) = in_port
            && sw.macs.learn(now, vlan, eth.src, p)
        {
            learned = Some(format!(
                "learned {} on vlan {vlan} port {}",
                eth.src, sw.ports[p as usize].name
            ));
        }
        let svi = sw.svi_vlans.iter().position(|&v| v == vlan);
        let to_cpu = svi.filter(|&i| {
            in_port.is_some()
                && sw
                    .l3
                    .as_ref()
                    .is_some_and(|l3| eth.dst.is_multicast() || l3.ifaces[i].mac == eth.dst)
        });
        let unicast_out = if eth.dst.is_multicast() {
            None
        } else {
            sw.macs.lookup(now, vlan, eth.dst)
        };
        // Each output port with the tag it puts on the frame (`None`: the
        // port is not in the VLAN).
        let mut outs: Vec<(u16, Option<Option<u16>>)> = Vec::new();
        let is_cpu_unicast = to_cpu.is_some() && !eth.dst.is_multicast();
        if !is_cpu_unicast {
            match unicast_out {
                Some(p) if Some(p) != in_port => {
                    outs.push((p, sw.ports[p as usize].vlan.egress_tag(vlan)));
                }
                Some(_) => {} // destination is behind the port it came from: filter
                None => {
                    for (i, port) in sw.ports.iter().enumerate() {
                        if Some(i as u16) != in_port {
                            let egress = port.vlan.egress_tag(vlan);
                            if egress.is_some() {
                                outs.push((i as u16, egress));
                            }
                        }
                    }
                }
            }
        }
        let flooding = unicast_out.is_none();
        // Names are copied only for what is logged or traced.
        let names = (learned.is_some() || tag.is_some()).then(|| {
            let port_names: Vec<String> = outs
                .iter()
                .map(|&(p, _)| sw.ports[p as usize].name.clone())
                .collect();
            (sw.name.clone(), port_names)
        });
        if let (Some(msg), Some((name, _))) = (learned, &names) {
            self.record(LogKind::Mac, name, msg);
        }
        if let (Some(t), Some((name, port_names))) = (tag, &names) {
            let inp = in_port.map_or("(cpu)".to_string(), |p| {
                self.port_label(PortRef {
                    device: id,
                    port: p,
                })
            });
            let outs_txt = if is_cpu_unicast {
                "to its own SVI".to_string()
            } else if port_names.is_empty() {
                "nowhere".to_string()
            } else if flooding {
                format!("flood to {}", port_names.join(","))
            } else {
                format!("out {}", port_names[0])
            };
            self.add_hop(
                t,
                name,
                format!("in {inp} vlan {vlan} {} -> {outs_txt}", eth.dst),
                Some(vlan),
            );
        }
        // The last port takes the frame itself unless the switch's own L3
        // part still reads it; the others get copies.
        let mut inner = Some(inner);
        let last = outs.len().checked_sub(usize::from(to_cpu.is_none()));
        for (k, (p, egress)) in outs.into_iter().enumerate() {
            let Some(egress) = egress else { continue };
            let frame = if Some(k) == last {
                inner.take()
            } else {
                inner.clone()
            }
            .expect("the frame is held until the last port takes it");
            let out_frame = match egress {
                None => frame,
                Some(v) => wire::push_vlan(frame, v),
            };
            self.transmit(
                PortRef {
                    device: id,
                    port: p,
                },
                out_frame,
                tag,
                flooding,
            );
        }
        if let (Some(i), Some(inner)) = (to_cpu, inner) {
            self.call_stack(id, |l3, cx| l3.receive(cx, i, &inner, tag));
        }
    }

    /// MAC table rows of a switch at `now` with port names; `None` if not a
    /// switch. Entries aged out by `now` are not shown.
    pub fn mac_rows(
        &self,
        id: DeviceId,
        now: SimTime,
    ) -> Option<Vec<(crate::sim::switch::MacRow, String)>> {
        let DeviceRt::Switch(s) = &self.devices[id.0 as usize] else {
            return None;
        };
        let rows = s.macs.rows(now);
        Some(
            rows.into_iter()
                .map(|r| {
                    let p = s.ports[r.port as usize].name.clone();
                    (r, p)
                })
                .collect(),
        )
    }

    /// Changes a switch port's VLAN mode (someone edits the trunk). MACs
    /// learned on VLANs the port no longer carries are forgotten.
    pub fn set_port_vlan(&mut self, port: PortRef, mode: VlanMode) -> Result<(), String> {
        let name = self.port_name(port);
        let DeviceRt::Switch(s) = &mut self.devices[port.device.0 as usize] else {
            return Err(format!("{name} is not a switch port"));
        };
        let p = s
            .ports
            .get_mut(port.port as usize)
            .ok_or_else(|| format!("{name} does not exist"))?;
        p.vlan = mode;
        s.macs.flush_port(port.port);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{
        THREE_HOSTS, entries, id, mac, messages, ms, port, raw_frame, received, world,
    };
    use crate::model::{MacAddr, VlanMode};
    use crate::sim::trace::LogKind;

    /// (VLAN, MAC, port name) rows of a switch's MAC table now.
    fn table(w: &super::World, switch: &str) -> Vec<(u16, MacAddr, String)> {
        w.mac_rows(id(w, switch), w.now())
            .expect("a switch")
            .into_iter()
            .map(|(r, p)| (r.vlan, r.mac, p))
            .collect()
    }

    #[test]
    fn floods_an_unknown_destination_then_forwards_to_the_learned_port() {
        let mut w = world(THREE_HOSTS);
        let (h1, h2) = (mac(&w, "h1"), mac(&w, "h2"));
        w.transmit(port(&w, "h1/eth0"), raw_frame(h1, h2), None, false);
        w.run_until(ms(10));
        // h2 is unknown: every other port of VLAN 10 gets a copy.
        assert_eq!((received(&w, "h2"), received(&w, "h3")), (1, 1));
        assert_eq!(received(&w, "h1"), 0, "never back out of its ingress port");
        assert_eq!(table(&w, "sw"), [(10, h1, "p1".to_string())]);
        assert_eq!(
            messages(&w, LogKind::Mac),
            [format!("learned {h1} on vlan 10 port p1")]
        );

        // h2 answers: h1 is known, so only p1 gets it, and h2 is learned.
        w.transmit(port(&w, "h2/eth0"), raw_frame(h2, h1), None, false);
        w.run_until(ms(20));
        assert_eq!((received(&w, "h1"), received(&w, "h3")), (1, 1));
        let mut want = vec![(10, h1, "p1".to_string()), (10, h2, "p2".to_string())];
        want.sort();
        assert_eq!(table(&w, "sw"), want);

        // Now h1 -> h2 is unicast too: h3 hears nothing more.
        w.transmit(port(&w, "h1/eth0"), raw_frame(h1, h2), None, false);
        w.run_until(ms(30));
        assert_eq!((received(&w, "h2"), received(&w, "h3")), (2, 1));
        assert_eq!(entries(&w, LogKind::Mac).len(), 2, "a refresh is not news");
    }

    #[test]
    fn broadcasts_reach_every_other_port_and_are_never_learned_as_sources() {
        let mut w = world(THREE_HOSTS);
        let h3 = mac(&w, "h3");
        w.transmit(
            port(&w, "h3/eth0"),
            raw_frame(h3, MacAddr::BROADCAST),
            None,
            false,
        );
        w.transmit(
            port(&w, "h1/eth0"),
            raw_frame(MacAddr::BROADCAST, h3),
            None,
            false,
        );
        w.run_until(ms(10));
        assert_eq!(received(&w, "h1"), 1);
        assert_eq!(received(&w, "h2"), 1);
        // The second frame went to h3 alone: its source was learned by the first.
        assert_eq!(received(&w, "h3"), 1);
        assert_eq!(table(&w, "sw"), [(10, h3, "p3".to_string())]);
    }

    #[test]
    fn a_port_moved_to_another_vlan_forgets_its_macs_and_leaves_the_flood() {
        let mut w = world(THREE_HOSTS);
        let (h1, h3) = (mac(&w, "h1"), mac(&w, "h3"));
        w.transmit(port(&w, "h3/eth0"), raw_frame(h3, h1), None, false);
        w.run_until(ms(10));
        assert_eq!(table(&w, "sw").len(), 1);
        w.set_port_vlan(port(&w, "sw/p3"), VlanMode::Access(20))
            .unwrap();
        assert!(table(&w, "sw").is_empty());
        w.transmit(
            port(&w, "h1/eth0"),
            raw_frame(h1, MacAddr::BROADCAST),
            None,
            false,
        );
        w.run_until(ms(20));
        // h2 had the first frame flooded to it, and now the broadcast.
        assert_eq!(received(&w, "h2"), 2);
        assert_eq!(received(&w, "h3"), 0, "VLAN 20 does not hear VLAN 10");
        assert!(
            w.set_port_vlan(port(&w, "h1/eth0"), VlanMode::Access(20))
                .is_err()
        );
    }

    #[test]
    fn an_untagged_frame_on_a_trunk_without_native_vlan_is_dropped_at_ingress() {
        let mut w = world(THREE_HOSTS);
        let trunk = VlanMode::Trunk {
            native: None,
            allowed: vec![10],
        };
        w.set_port_vlan(port(&w, "sw/p3"), trunk).unwrap();
        let (h1, h3) = (mac(&w, "h1"), mac(&w, "h3"));
        w.transmit(port(&w, "h3/eth0"), raw_frame(h3, h1), None, false);
        w.run_until(ms(10));
        assert_eq!(received(&w, "h1"), 0);
        assert!(table(&w, "sw").is_empty());
        assert_eq!(
            messages(&w, LogKind::Drop),
            ["untagged frame refused on sw port p3 (no native VLAN)"]
        );
    }

    #[test]
    fn mac_rows_are_none_for_a_host_and_reading_them_changes_nothing() {
        let mut w = world(THREE_HOSTS);
        assert!(w.mac_rows(id(&w, "h1"), w.now()).is_none());
        let (h1, h2) = (mac(&w, "h1"), mac(&w, "h2"));
        w.transmit(port(&w, "h1/eth0"), raw_frame(h1, h2), None, false);
        w.run_until(ms(10));
        let sw = id(&w, "sw");
        // Past the 300 s aging time the row is gone from every read.
        let late = ms(301_000);
        assert!(w.mac_rows(sw, late).expect("a switch").is_empty());
        assert_eq!(w.mac_rows(sw, w.now()).expect("a switch").len(), 1);
    }
}
