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
