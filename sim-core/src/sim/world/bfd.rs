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
/// BFD's transmit interval in the lab (real mode's prober uses it too).
pub const BFD_INTERVAL: SimDuration = SimDuration::from_millis(300);
/// Missed intervals before a session goes down (BFD's detect multiplier).
pub const BFD_MULTIPLIER: u8 = 3;

/// One interval of a BFD session kept as (missed intervals, up): a heard
/// peer resets the count and brings the session up; `multiplier` missed
/// intervals in a row take it down. (Up before, up now.)
pub(super) fn bfd_interval(session: &mut (u8, bool), heard: bool, multiplier: u8) -> (bool, bool) {
    let was_up = session.1;
    if heard {
        *session = (0, true);
    } else {
        session.0 = session.0.saturating_add(1);
        if session.0 >= multiplier {
            session.1 = false;
        }
    }
    (was_up, session.1)
}

impl World {
    /// Turns BFD on for a switch's static routes (sessions to every next hop).
    pub fn enable_bfd(&mut self, switch: DeviceId) {
        if let DeviceRt::Switch(s) = &mut self.devices[switch.0 as usize] {
            s.bfd = true;
        }
        self.queue
            .push(self.now + BFD_INTERVAL, Event::Bfd { device: switch });
        // A BGP router's sessions get BFD too (`neighbor ... bfd`).
        self.start_bgp_bfd(switch);
    }

    /// Whether a BFD session to `addr` hears its peer: a powered host has
    /// the address on an interface that is up, with a live link.
    pub(super) fn bfd_hears(&self, addr: std::net::Ipv4Addr) -> bool {
        self.devices.iter().enumerate().any(|(i, d)| {
            matches!(d, DeviceRt::Host(h) if h.powered
                && h.stack.ifaces.iter().any(|f| f.up && f.addrs.iter().any(|a| a.addr() == addr)))
                && self.has_live_link(DeviceId(i as u32))
        })
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
            let heard = self.bfd_hears(nh);
            let entry = self.bfd.entry((id, nh)).or_insert((0, true));
            let (was_up, now_up) = bfd_interval(entry, heard, BFD_MULTIPLIER);
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

#[cfg(test)]
mod tests {
    use super::super::testlab::{L3_SWITCH, entries, id, ip, ms, port, world};
    use crate::sim::trace::LogKind;

    fn route_to_far_net(w: &super::World) -> Option<std::net::Ipv4Addr> {
        let l3 = w.device(id(w, "l3")).stack().unwrap();
        l3.routes()
            .lookup(ip("10.9.1.1"), None, 0)
            .map(|h| h.neighbor)
    }

    /// (time in ms, message) of the BFD lines.
    fn bfd_lines(w: &super::World) -> Vec<(u64, String)> {
        entries(w, LogKind::Route)
            .into_iter()
            .filter(|e| e.device == "l3")
            .map(|e| (e.time.as_nanos() / 1_000_000, e.message.clone()))
            .collect()
    }

    #[test]
    fn three_missed_intervals_withdraw_the_routes_and_one_heard_restores_them() {
        let mut w = world(L3_SWITCH);
        w.run_until(ms(1_000));
        assert!(bfd_lines(&w).is_empty());
        assert_eq!(route_to_far_net(&w), Some(ip("10.0.0.2")));
        let nh = id(&w, "nh");
        w.set_power(nh, false);
        w.run_until(ms(1_700));
        assert_eq!(
            route_to_far_net(&w),
            Some(ip("10.0.0.2")),
            "two misses only"
        );
        w.run_until(ms(2_000));
        assert_eq!(
            bfd_lines(&w),
            [(
                1_800,
                "BFD session to 10.0.0.2 down: static routes via it withdrawn".to_string()
            )]
        );
        assert_eq!(route_to_far_net(&w), None);
        w.set_power(nh, true);
        w.run_until(ms(2_500));
        assert_eq!(
            bfd_lines(&w)[1],
            (
                2_100,
                "BFD session to 10.0.0.2 up: static routes via it restored".to_string()
            )
        );
        assert_eq!(route_to_far_net(&w), Some(ip("10.0.0.2")));
    }

    #[test]
    fn a_next_hop_whose_link_is_down_is_not_heard() {
        let mut w = world(L3_SWITCH);
        w.set_link(port(&w, "nh/eth0"), false).unwrap();
        w.run_until(ms(1_000));
        assert_eq!(bfd_lines(&w).len(), 1, "{:?}", bfd_lines(&w));
        assert_eq!(bfd_lines(&w)[0].0, 900);
        assert_eq!(route_to_far_net(&w), None);
    }
}
