//! BFD on L3 switches: a session per static next hop, checked every
//! interval; missed intervals take the session down and withdraw the routes
//! via that next hop until it is heard again.

use super::{Event, World};
use crate::model::DeviceId;
use crate::sched::Scheduler;
use crate::sim::devices::DeviceRt;
use crate::sim::trace::LogKind;
use crate::time::SimDuration;

/// BFD timing: 300 ms intervals, detect multiplier 3 (common defaults on
/// switches, e.g. Cisco's `bfd interval 300 min_rx 300 multiplier 3`).
const BFD_INTERVAL: SimDuration = SimDuration::from_millis(300);
const BFD_MULTIPLIER: u8 = 3;

impl World {
    /// Turns BFD on for a switch's static routes (sessions to every next hop).
    pub fn enable_bfd(&mut self, switch: DeviceId) {
        if let DeviceRt::Switch(s) = &mut self.devices[switch.0 as usize] {
            s.bfd = true;
        }
        self.queue
            .push(self.now + BFD_INTERVAL, Event::Bfd { device: switch });
    }

    /// One BFD interval. Modelled without packets: a session hears its peer
    /// when the device owning the next hop is powered and its link is up; three
    /// missed intervals take the session down and withdraw the routes.
    pub(super) fn bfd_tick(&mut self, id: DeviceId) {
        let DeviceRt::Switch(s) = &self.devices[id.0 as usize] else {
            return;
        };
        if !s.bfd || !s.powered {
            self.queue
                .push(self.now + BFD_INTERVAL, Event::Bfd { device: id });
            return;
        }
        let hops =
            s.l3.as_ref()
                .map(|l| l.routes.static_next_hops())
                .unwrap_or_default();
        let name = s.name.clone();
        for nh in hops {
            let heard = self.devices.iter().enumerate().any(|(i, d)| {
                matches!(d, DeviceRt::Host(h) if h.powered
                    && h.stack.ifaces.iter().any(|f| f.up && f.addrs.iter().any(|a| a.addr() == nh)))
                    && self.has_live_link(DeviceId(i as u32))
            });
            let entry = self.bfd.entry((id, nh)).or_insert((0, true));
            let was_up = entry.1;
            if heard {
                entry.0 = 0;
                entry.1 = true;
            } else {
                entry.0 = entry.0.saturating_add(1);
                if entry.0 >= BFD_MULTIPLIER {
                    entry.1 = false;
                }
            }
            let now_up = entry.1;
            if was_up != now_up {
                if let DeviceRt::Switch(s) = &mut self.devices[id.0 as usize]
                    && let Some(l3) = &mut s.l3
                {
                    l3.routes.set_next_hop_alive(nh, now_up);
                }
                let msg = if now_up {
                    format!("BFD session to {nh} up: static routes via it restored")
                } else {
                    format!("BFD session to {nh} down: static routes via it withdrawn")
                };
                self.record(LogKind::Route, &name, msg);
            }
        }
        self.queue
            .push(self.now + BFD_INTERVAL, Event::Bfd { device: id });
    }
}
