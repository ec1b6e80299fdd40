//! What neighbours learn without asking: gratuitous ARP sent on behalf of a
//! host, and ARP caches filled as a long-running network has them (a
//! scenario's `warmStart`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::World;
use super::host::Detached;
use crate::model::{DeviceId, HostRole, MacAddr};
use crate::sim::devices::DeviceRt;
use crate::sim::trace::LogKind;
use crate::wire::{self, ArpMsg, EthHeader};

impl World {
    /// One gratuitous ARP (request, SPA = TPA = ip), as Antrea's arping sends.
    pub fn send_garp(&mut self, node: DeviceId, iface: usize, ip: Ipv4Addr) {
        let name = self.device(node).name().to_string();
        let DeviceRt::Host(h) = &self.devices[node.0 as usize] else {
            return;
        };
        let mac = h.stack.ifaces[iface].mac;
        let ifname = h.stack.ifaces[iface].name.clone();
        let msg = ArpMsg::gratuitous(mac, ip);
        let frame = wire::build_eth(
            &EthHeader {
                dst: MacAddr::BROADCAST,
                src: mac,
                vlan: None,
                ethertype: wire::ethertype::ARP,
            },
            &msg.to_bytes(),
        );
        self.record(
            LogKind::Arp,
            &name,
            format!("gratuitous ARP for {ip} on {ifname}"),
        );
        self.finish(node, Detached::frame(iface, frame));
    }

    /// Fills ARP caches as a long-running network has them (a scenario's
    /// `warmStart`): every gateway (a switch with SVIs, or a router) knows
    /// every address of every powered host on its subnets (Egress IPs on a
    /// dummy device answer with the MAC of the interface on their subnet, as
    /// Linux's `arp_ignore=0` does), and every host knows the gateway
    /// addresses on its subnets. Same subnet is taken as same L2 segment.
    /// Entries are made as if an ARP reply had just arrived; nothing is
    /// logged per entry. Returns how many entries were filled.
    pub fn warm_arp(&mut self) -> usize {
        use crate::sim::arp::ArpSeen;
        // (device, iface, subnet, MAC) of every gateway interface.
        let mut gateways: Vec<(usize, usize, Ipv4Net, MacAddr)> = Vec::new();
        // (device, linked iface, address, MAC) of every host address.
        let mut addrs: Vec<(usize, usize, Ipv4Addr, MacAddr)> = Vec::new();
        for (d, dev) in self.devices.iter().enumerate() {
            if !dev.powered() {
                continue;
            }
            let Some(st) = dev.stack() else { continue };
            let gateway = match dev {
                DeviceRt::Switch(_) => true,
                DeviceRt::Host(h) => h.role == HostRole::Router,
            };
            for (i, ifc) in st.ifaces.iter().enumerate() {
                for net in &ifc.addrs {
                    if gateway && ifc.has_link {
                        gateways.push((d, i, *net, ifc.mac));
                    }
                    if matches!(dev, DeviceRt::Host(_)) {
                        let ip = net.addr();
                        let linked = st.ifaces.iter().position(|o| {
                            o.has_link && o.up && o.addrs.iter().any(|n| n.contains(&ip))
                        });
                        if let Some(j) = linked {
                            addrs.push((d, j, ip, st.ifaces[j].mac));
                        }
                    }
                }
            }
        }
        let now = self.now;
        let mut filled = 0;
        let mut sink = Vec::new();
        let mut learn = |dev: &mut DeviceRt, iface: usize, ip: Ipv4Addr, mac: MacAddr| {
            if let Some(st) = dev.stack_mut() {
                let seen = ArpSeen {
                    spa: ip,
                    sha: mac,
                    reply_to_us: true,
                    request_for_us: false,
                };
                st.arp.on_arp(now, iface, seen, &mut sink);
                sink.clear();
                filled += 1;
            }
        };
        for &(gd, gi, net, gmac) in &gateways {
            for &(hd, hi, ip, hmac) in &addrs {
                if hd == gd || !net.contains(&ip) || ip == net.addr() {
                    continue;
                }
                learn(&mut self.devices[gd], gi, ip, hmac);
                let host_net = self.devices[hd]
                    .stack()
                    .is_some_and(|st| st.ifaces[hi].addrs.iter().any(|n| n.contains(&net.addr())));
                if host_net {
                    learn(&mut self.devices[hd], hi, net.addr(), gmac);
                }
            }
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{L3_SWITCH, THREE_HOSTS, id, ip, mac, messages, ms, probe, world};
    use crate::model::MacAddr;
    use crate::sim::arp::NeighState;
    use crate::sim::probe::ProbeKind;
    use crate::sim::trace::LogKind;
    use std::net::Ipv4Addr;

    /// What `device`'s ARP cache says about `ip`.
    fn neigh(
        w: &super::World,
        device: &str,
        ip: Ipv4Addr,
    ) -> Option<(Option<MacAddr>, NeighState)> {
        let s = w.device(id(w, device)).stack()?;
        s.arp().lookup(w.now(), ip).map(|r| (r.mac, r.state))
    }

    #[test]
    fn a_gratuitous_arp_moves_a_peer_s_entry_and_teaches_the_switch() {
        let mut w = world(THREE_HOSTS);
        let (h1, h3) = (mac(&w, "h1"), mac(&w, "h3"));
        w.start_probe(probe(&w, "ping", "h2", "10.0.0.3", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(50));
        w.stop_probe("ping").unwrap();
        assert_eq!(
            neigh(&w, "h2", ip("10.0.0.3")),
            Some((Some(h3), NeighState::Reachable))
        );
        let sw = id(&w, "sw");
        let macs = |w: &super::World| -> Vec<(MacAddr, String)> {
            w.mac_rows(sw, w.now())
                .unwrap()
                .into_iter()
                .map(|(r, p)| (r.mac, p))
                .collect()
        };
        assert!(!macs(&w).iter().any(|(m, _)| *m == h1));

        // h1 takes over 10.0.0.3 and announces it.
        w.send_garp(id(&w, "h1"), 0, ip("10.0.0.3"));
        w.run_until(ms(60));
        let arp = messages(&w, LogKind::Arp);
        let n = arp.len();
        assert_eq!(
            arp[n - 2..],
            [
                "gratuitous ARP for 10.0.0.3 on eth0".to_string(),
                format!("neigh 10.0.0.3 dev eth0 lladdr {h1} STALE"),
            ]
        );
        assert_eq!(
            neigh(&w, "h2", ip("10.0.0.3")),
            Some((Some(h1), NeighState::Stale))
        );
        assert!(macs(&w).contains(&(h1, "p1".to_string())));
        // A host with no entry for the address does not create one.
        assert_eq!(neigh(&w, "h1", ip("10.0.0.3")), None);
        assert_eq!(neigh(&w, "h3", ip("10.0.0.3")), None);
    }

    #[test]
    fn warm_arp_fills_gateway_and_host_caches_for_powered_hosts() {
        let mut w = world(L3_SWITCH);
        let nh_mac = mac(&w, "nh");
        assert_eq!(w.warm_arp(), 2);
        assert_eq!(
            neigh(&w, "l3", ip("10.0.0.2")),
            Some((Some(nh_mac), NeighState::Reachable))
        );
        let svi = w.device(id(&w, "l3")).stack().unwrap().ifaces()[0].mac();
        assert_eq!(
            neigh(&w, "nh", ip("10.0.0.1")),
            Some((Some(svi), NeighState::Reachable))
        );
        assert!(w.log().is_empty(), "nothing is logged per entry");

        let mut cold = world(L3_SWITCH);
        cold.set_power(id(&cold, "nh"), false);
        assert_eq!(cold.warm_arp(), 0);
        assert_eq!(neigh(&cold, "l3", ip("10.0.0.2")), None);
    }
}
