//! The engine's desired per-node dataplane applied as a diff against what
//! was applied before: VLAN and dummy interfaces, addresses (with a
//! gratuitous ARP for each new announced one), routes and rules, SNAT,
//! marks, the ARP responder and Service rules.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::World;
use crate::engine::dataplane::NodeDataplane;
use crate::model::{DeviceId, MacAddr};
use crate::sim::devices::{DeviceRt, HostIfaceKind};
use crate::sim::routing::{PeerBlock, Route};
use crate::sim::stack::L3Iface;
use crate::sim::trace::LogKind;

/// Engine-owned state applied to a host, remembered so the next desired state
/// can be diffed against it.
#[derive(Default)]
pub(super) struct Applied {
    addrs: Vec<(usize, Ipv4Net)>,
    rules: Vec<crate::model::RuleSpec>,
    /// The VLAN sub-interfaces the engine created (deleted ones keep their
    /// slot, down); the topology's own are never the engine's to delete.
    vlans: Vec<String>,
}

/// `ip route`-style text.
pub fn describe_route(r: &Route, ifaces: &[L3Iface]) -> String {
    let dst = if r.dst.prefix_len() == 0 {
        "default".to_string()
    } else {
        r.dst.to_string()
    };
    let dev_name = |i: usize| ifaces.get(i).map_or("?", |f| f.name.as_str());
    let hops = if r.is_multipath() {
        r.nexthops
            .iter()
            .map(|n| {
                let via = n.via.map_or(String::new(), |v| format!(" via {v}"));
                format!(" nexthop{via} dev {} weight {}", dev_name(n.dev), n.weight)
            })
            .collect::<String>()
    } else {
        let via = r.via().map_or(String::new(), |v| format!(" via {v}"));
        format!("{via} dev {}", dev_name(r.dev()))
    };
    let table = if r.table == crate::model::TABLE_MAIN {
        String::new()
    } else {
        format!(" table {}", crate::sim::routing::table_name(r.table))
    };
    let metric = if r.metric != 0 {
        format!(" metric {}", r.metric)
    } else {
        String::new()
    };
    if r.is_multipath() {
        format!("{dst}{table}{metric}{hops}")
    } else {
        format!("{dst}{hops}{table}{metric}")
    }
}

impl World {
    /// Drops everything the engine configured on host `id` (a cold boot: none
    /// of it is persistent) and brings its connected routes back in line.
    pub(super) fn forget_dataplane(&mut self, id: DeviceId) {
        let DeviceRt::Host(h) = &mut self.devices[id.0 as usize] else {
            return;
        };
        if let Some(applied) = self.applied.remove(&id) {
            for (i, net) in applied.addrs {
                h.stack.ifaces[i].addrs.retain(|a| *a != net);
            }
            for r in applied.rules {
                h.stack.routes.remove_rules_for_table(r.table);
            }
            // The engine's VLAN legs do not survive a reboot either; their
            // slots stay the engine's, to come back when asked for.
            for name in &applied.vlans {
                if let Some(i) = h.stack.iface_index(name) {
                    h.admin_up[i] = false;
                    h.stack.ifaces[i].addrs.clear();
                }
            }
            self.applied.insert(
                id,
                Applied {
                    vlans: applied.vlans,
                    ..Applied::default()
                },
            );
        }
        h.stack.routes.remove_origin("engine");
        h.stack.sync_connected_routes();
        h.stack.snat.clear();
        h.stack.marks.clear();
        h.stack.arp_responder.clear();
        h.stack.services.set_north_south_in_br_int(false);
    }

    /// Whether `apply_dataplane` logs each change (the scenario runner turns it
    /// off while it sets up the lab's initial state, and logs a summary).
    pub fn set_dataplane_logging(&mut self, on: bool) {
        self.log_dataplane = on;
    }

    /// Makes a node's engine-owned dataplane equal to `desired`, logging each
    /// change and sending one gratuitous ARP per newly announced address.
    pub fn apply_dataplane(
        &mut self,
        node: DeviceId,
        desired: &NodeDataplane,
    ) -> Result<(), String> {
        let name = self.device(node).name().to_string();
        let powered = self.device(node).powered();
        // Lines are only worth formatting when they will be logged (the
        // initial dataplane is applied unlogged: a route per peer per node).
        let log = self.log_dataplane;
        let mut lines: Vec<(LogKind, String)> = Vec::new();
        let mut garps: Vec<(usize, Ipv4Addr)> = Vec::new();
        let applied = self.applied.entry(node).or_default();
        let DeviceRt::Host(h) = &mut self.devices[node.0 as usize] else {
            return Err(format!("{name} is not a host"));
        };
        // 1. VLAN sub-interfaces. Antrea deletes one when its last address
        // goes (ipassigner `unassign`, v1.15+); the simulator keeps its slot
        // (routes name interfaces by index) and takes it down, and a frame
        // for its VLAN is then dropped as Linux drops one for a VLAN it has
        // no sub-interface for.
        for i in 0..h.iface_kinds.len() {
            let name = &h.stack.ifaces[i].name;
            if matches!(h.iface_kinds[i], HostIfaceKind::Vlan { .. })
                && h.admin_up[i]
                && applied.vlans.contains(name)
                && !desired.vlan_ifaces.iter().any(|v| &v.name == name)
            {
                h.admin_up[i] = false;
                h.stack.ifaces[i].addrs.clear();
                let name = h.stack.ifaces[i].name.clone();
                lines.push((LogKind::Engine, format!("ip link del {name}")));
            }
        }
        for v in &desired.vlan_ifaces {
            // One the engine created and deleted comes back.
            if let Some(i) = h.stack.iface_index(&v.name)
                && !h.admin_up[i]
                && applied.vlans.contains(&v.name)
            {
                h.admin_up[i] = true;
                lines.push((
                    LogKind::Engine,
                    format!(
                        "ip link add link {} name {} type vlan id {}",
                        v.parent, v.name, v.vid
                    ),
                ));
            }
            if h.stack.iface_index(&v.name).is_none() {
                let parent = h
                    .stack
                    .iface_index(&v.parent)
                    .ok_or_else(|| format!("{name} has no interface {}", v.parent))?;
                let mac = h.stack.ifaces[parent].mac;
                let up = h.stack.ifaces[parent].up;
                h.stack.ifaces.push(L3Iface {
                    name: v.name.clone(),
                    mac,
                    addrs: Vec::new(),
                    up,
                    has_link: true,
                    mtu: crate::sim::stack::ETHERNET_MTU,
                });
                h.iface_kinds
                    .push(HostIfaceKind::Vlan { parent, vid: v.vid });
                h.admin_up.push(true);
                applied.vlans.push(v.name.clone());
                lines.push((
                    LogKind::Engine,
                    format!(
                        "ip link add link {} name {} type vlan id {}",
                        v.parent, v.name, v.vid
                    ),
                ));
            }
        }
        for d in &desired.dummy_ifaces {
            if h.stack.iface_index(d).is_none() {
                let mac = MacAddr::from_name(&format!("{name}/{d}"));
                // Antrea never sets antrea-egress0 up: it is DOWN and NOARP.
                h.stack.ifaces.push(L3Iface {
                    name: d.clone(),
                    mac,
                    addrs: Vec::new(),
                    up: false,
                    has_link: false,
                    mtu: crate::sim::stack::ETHERNET_MTU,
                });
                h.iface_kinds.push(HostIfaceKind::Dummy);
                h.admin_up.push(false);
                lines.push((LogKind::Engine, format!("ip link add {d} type dummy")));
            }
        }
        // 2. Addresses.
        let mut want: Vec<(usize, Ipv4Net, bool)> = Vec::new();
        let mut announce_on: Vec<(usize, usize)> = Vec::new();
        for a in &desired.addrs {
            let i = h
                .stack
                .iface_index(&a.iface)
                .ok_or_else(|| format!("{name} has no interface {}", a.iface))?;
            want.push((i, a.addr, a.announce));
            if let Some(t) = &a.announce_on {
                let ti = h
                    .stack
                    .iface_index(t)
                    .ok_or_else(|| format!("{name} has no interface {t}"))?;
                announce_on.push((i, ti));
            }
        }
        for &(i, net) in &applied.addrs {
            if !want.iter().any(|w| w.0 == i && w.1 == net) {
                h.stack.ifaces[i].addrs.retain(|x| *x != net);
                h.stack.ct.flush_translated_to(net.addr());
                lines.push((
                    LogKind::Engine,
                    format!("ip addr del {net} dev {}", h.stack.ifaces[i].name),
                ));
            }
        }
        for &(i, net, announce) in &want {
            if !h.stack.ifaces[i].addrs.contains(&net) {
                h.stack.ifaces[i].addrs.push(net);
                lines.push((
                    LogKind::Engine,
                    format!("ip addr add {net} dev {}", h.stack.ifaces[i].name),
                ));
                if announce {
                    let via = announce_on
                        .iter()
                        .find(|(a, _)| *a == i)
                        .map_or(i, |&(_, t)| t);
                    garps.push((via, net.addr()));
                }
            }
        }
        applied.addrs = want.iter().map(|w| (w.0, w.1)).collect();
        h.stack.sync_connected_routes();
        // 3. Routes and rules.
        let route_of = |r: &crate::engine::dataplane::DesiredRoute| -> Result<Route, String> {
            let dev = h
                .stack
                .iface_index(&r.dev)
                .ok_or_else(|| format!("{name} has no interface {}", r.dev))?;
            Ok(Route::single(
                r.dst, r.via, dev, r.metric, r.table, "engine",
            ))
        };
        let new_routes: Vec<Route> = desired
            .routes
            .iter()
            .map(route_of)
            .collect::<Result<_, _>>()?;
        let peers = match &desired.peer_routes {
            Some(p) => Some(PeerBlock {
                set: p.set.clone(),
                except: p.except,
                dev: h
                    .stack
                    .iface_index(&p.dev)
                    .ok_or_else(|| format!("{name} has no interface {}", p.dev))?,
                at: p.at,
            }),
            None => None,
        };
        let routes = &h.stack.routes;
        let old_routes = routes.own_routes().iter().filter(|r| r.origin == "engine");
        let routes_changed =
            !old_routes.clone().eq(new_routes.iter()) || routes.peer_routes() != peers.as_ref();
        if routes_changed && log {
            // Every route in order, the peer routes in their place; when
            // the peer routes stay, neither list needs them.
            let same_peers = PeerBlock::same_routes(routes.peer_routes(), peers.as_ref());
            let (old_all, new_all): (Vec<Route>, Vec<Route>) = if same_peers {
                (old_routes.cloned().collect(), new_routes.clone())
            } else {
                (
                    routes
                        .routes()
                        .into_iter()
                        .filter(|r| r.origin == "engine")
                        .collect(),
                    desired
                        .all_routes()
                        .iter()
                        .map(route_of)
                        .collect::<Result<_, _>>()?,
                )
            };
            let old_set: std::collections::BTreeSet<&Route> = old_all.iter().collect();
            let new_set: std::collections::BTreeSet<&Route> = new_all.iter().collect();
            for r in new_all.iter().filter(|r| !old_set.contains(r)) {
                lines.push((
                    LogKind::Route,
                    format!("ip route add {}", describe_route(r, &h.stack.ifaces)),
                ));
            }
            for r in old_all.iter().filter(|r| !new_set.contains(*r)) {
                lines.push((
                    LogKind::Route,
                    format!("ip route del {}", describe_route(r, &h.stack.ifaces)),
                ));
            }
        }
        if routes_changed {
            h.stack.routes.remove_origin("engine");
            h.stack.routes.add_routes(&new_routes);
            h.stack.routes.set_peer_routes(peers);
        }
        let new_rules: Vec<crate::model::RuleSpec> =
            desired.rules.iter().map(|r| r.to_spec()).collect();
        if new_rules != applied.rules {
            for r in applied.rules.iter().filter(|r| !new_rules.contains(r)) {
                h.stack.routes.remove_rules_for_table(r.table);
                lines.push((
                    LogKind::Route,
                    format!("ip rule del pref {} lookup {}", r.priority, r.table),
                ));
            }
            for r in new_rules.iter().filter(|r| !applied.rules.contains(r)) {
                h.stack.routes.add_rule(r.clone());
                let mark = r
                    .fwmark
                    .map_or(String::new(), |(v, m)| format!(" fwmark {v:#x}/{m:#x}"));
                lines.push((
                    LogKind::Route,
                    format!("ip rule add pref {}{mark} lookup {}", r.priority, r.table),
                ));
            }
            applied.rules = new_rules;
        }
        // 4. SNAT, marks, ARP responder: replaced wholesale (like an atomic
        //    `nft -f` / OpenFlow bundle).
        let mut snat = Vec::new();
        // `-o`/`! -o` name an interface; the rule keeps its index.
        let iface = |n: &Option<String>| -> Result<Option<usize>, String> {
            n.as_ref()
                .map(|n| {
                    h.stack
                        .iface_index(n)
                        .ok_or_else(|| format!("{name} has no interface {n}"))
                })
                .transpose()
        };
        for s in &desired.snat {
            snat.push(crate::sim::nat::SnatRule {
                src: s.src,
                not_dst: s.not_dst.clone(),
                not_out_iface: iface(&s.not_out_iface)?,
                out_iface: iface(&s.out_iface)?,
                src_local_elsewhere: s.src_local_elsewhere,
                mark: s.mark,
                to: s.to.clone(),
                comment: s.comment.clone(),
            });
        }
        let mut nat_changed = false;
        if snat != h.stack.snat {
            lines.push((
                LogKind::Nat,
                format!("{} SNAT rule(s) installed", snat.len()),
            ));
            h.stack.snat = snat;
            nat_changed = true;
        }
        let marks: Vec<crate::sim::stack::MarkRule> = desired
            .marks
            .iter()
            .map(|m| crate::sim::stack::MarkRule {
                src: m.src,
                not_dst: m.not_dst.clone(),
                mark: m.mark,
                comment: m.comment.clone(),
            })
            .collect();
        nat_changed |= marks != h.stack.marks.rules();
        h.stack.marks.set(marks);
        if nat_changed {
            let local: Vec<Ipv4Addr> = h
                .stack
                .ifaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
                .collect();
            h.stack
                .ct
                .flush_untranslated(|ip| ip.is_loopback() || local.contains(&ip));
        }
        let mut responder = Vec::new();
        for (iface, ip) in &desired.arp_responder {
            let i = h
                .stack
                .iface_index(iface)
                .ok_or_else(|| format!("{name} has no interface {iface}"))?;
            responder.push((i, *ip));
        }
        let new_responders: Vec<(usize, Ipv4Addr)> = responder
            .iter()
            .filter(|r| !h.stack.arp_responder.contains(r))
            .copied()
            .collect();
        if responder != h.stack.arp_responder {
            let text: Vec<String> = responder
                .iter()
                .map(|(i, ip)| format!("{ip} on {}", h.stack.ifaces[*i].name))
                .collect();
            lines.push((
                LogKind::Arp,
                format!("ARP responder answers for [{}]", text.join(", ")),
            ));
        }
        h.stack.arp_responder = responder;
        garps.extend(new_responders);
        h.stack.arp_any_iface = !desired.strict_arp;
        if desired.gateway_mtu != 0
            && let Some(gw) = h.stack.iface_index(crate::engine::GATEWAY_IFACE)
        {
            h.stack.ifaces[gw].mtu = desired.gateway_mtu;
        }
        h.stack.l7_export = desired.l7_export.clone();
        if h.stack.firewall != desired.host_firewall {
            let fw = &desired.host_firewall;
            lines.push((
                LogKind::Engine,
                format!(
                    "NodeNetworkPolicy: {} ingress and {} egress rules in the ANTREA-POL chains",
                    fw.ingress.len(),
                    fw.egress.len()
                ),
            ));
            h.stack.firewall = fw.clone();
        }
        let mut neighbors = Vec::new();
        for n in &desired.neighbors {
            let i = h
                .stack
                .iface_index(&n.iface)
                .ok_or_else(|| format!("{name} has no interface {}", n.iface))?;
            neighbors.push((i, n.ip, n.mac));
        }
        if neighbors != h.stack.arp.permanent() {
            h.stack.arp.retain_permanent(&neighbors);
            for &(i, ip, mac) in &neighbors {
                h.stack.arp.set_permanent(self.now, i, ip, mac);
            }
            let text: Vec<String> = neighbors
                .iter()
                .map(|(i, ip, mac)| format!("{ip} lladdr {mac} dev {}", h.stack.ifaces[*i].name))
                .collect();
            lines.push((
                LogKind::Arp,
                format!("permanent neighbours [{}]", text.join(", ")),
            ));
        }
        h.stack
            .services
            .set_north_south_in_br_int(desired.proxy_all_in_br_int);
        let same_rules = match (&desired.service_rules, h.stack.services.shared_rules()) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        };
        if !same_rules {
            let n = desired.service_rules.as_ref().map_or(0, |r| r.port_count());
            lines.push((
                LogKind::Engine,
                format!("Service rules installed for {n} Service port(s)"),
            ));
            h.stack.services.set(desired.service_rules.clone());
        }
        if self.log_dataplane {
            for (kind, l) in lines {
                self.record(kind, &name, l);
            }
        }
        if powered {
            for (iface, ip) in garps {
                self.send_garp(node, iface, ip);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{THREE_HOSTS, dataplane, id, ip, messages, world};
    use super::describe_route;
    use crate::engine::dataplane::{NodeDataplane, VlanIface};
    use crate::sim::routing::{Nexthop, Route};
    use crate::sim::stack::L3Iface;
    use crate::sim::trace::LogKind;

    fn engine_routes(w: &super::World, host: &str) -> Vec<String> {
        let s = w.device(id(w, host)).stack().unwrap();
        s.routes()
            .routes()
            .iter()
            .filter(|r| r.origin == "engine")
            .map(|r| describe_route(r, s.ifaces()))
            .collect()
    }

    #[test]
    fn a_route_is_added_then_removed_as_the_desired_state_changes() {
        let mut w = world(THREE_HOSTS);
        let h1 = id(&w, "h1");
        let with_route = dataplane(&[], &[("10.9.0.0/16", "10.0.0.2", "eth0")]);
        w.apply_dataplane(h1, &with_route).unwrap();
        assert_eq!(
            engine_routes(&w, "h1"),
            ["10.9.0.0/16 via 10.0.0.2 dev eth0"]
        );
        assert_eq!(
            messages(&w, LogKind::Route),
            ["ip route add 10.9.0.0/16 via 10.0.0.2 dev eth0"]
        );
        // The same state again is no change.
        w.apply_dataplane(h1, &with_route).unwrap();
        assert_eq!(messages(&w, LogKind::Route).len(), 1);
        w.apply_dataplane(h1, &NodeDataplane::default()).unwrap();
        assert!(engine_routes(&w, "h1").is_empty());
        assert_eq!(
            messages(&w, LogKind::Route)[1],
            "ip route del 10.9.0.0/16 via 10.0.0.2 dev eth0"
        );
        // The kernel's own routes are left alone.
        let s = w.device(h1).stack().unwrap();
        assert!(s.routes().lookup(ip("10.0.0.3"), None, 0).is_some());
    }

    #[test]
    fn an_announced_address_gets_one_gratuitous_arp_and_goes_away_with_the_state() {
        let mut w = world(THREE_HOSTS);
        let h1 = id(&w, "h1");
        let with_ip = dataplane(&[("eth0", "10.0.0.41/24", true)], &[]);
        w.apply_dataplane(h1, &with_ip).unwrap();
        w.apply_dataplane(h1, &with_ip).unwrap();
        assert_eq!(
            messages(&w, LogKind::Engine),
            ["ip addr add 10.0.0.41/24 dev eth0"]
        );
        assert_eq!(
            messages(&w, LogKind::Arp),
            ["gratuitous ARP for 10.0.0.41 on eth0"]
        );
        assert!(w.device(h1).stack().unwrap().is_local(ip("10.0.0.41")));
        w.apply_dataplane(h1, &NodeDataplane::default()).unwrap();
        assert!(!w.device(h1).stack().unwrap().is_local(ip("10.0.0.41")));
        assert_eq!(
            messages(&w, LogKind::Engine)[1],
            "ip addr del 10.0.0.41/24 dev eth0"
        );
    }

    #[test]
    fn with_logging_off_changes_apply_silently() {
        let mut w = world(THREE_HOSTS);
        w.set_dataplane_logging(false);
        let h1 = id(&w, "h1");
        let desired = dataplane(&[], &[("10.9.0.0/16", "10.0.0.2", "eth0")]);
        w.apply_dataplane(h1, &desired).unwrap();
        assert_eq!(engine_routes(&w, "h1").len(), 1);
        assert!(w.log().is_empty(), "{:?}", w.log());
    }

    #[test]
    fn vlan_sub_interfaces_are_created_and_unknown_interfaces_refused() {
        let mut w = world(THREE_HOSTS);
        let h1 = id(&w, "h1");
        let desired = NodeDataplane {
            vlan_ifaces: vec![VlanIface {
                name: "eth0.181".into(),
                parent: "eth0".into(),
                vid: 181,
            }],
            ..dataplane(&[("eth0.181", "172.18.181.5/24", false)], &[])
        };
        w.apply_dataplane(h1, &desired).unwrap();
        assert_eq!(
            messages(&w, LogKind::Engine),
            [
                "ip link add link eth0 name eth0.181 type vlan id 181",
                "ip addr add 172.18.181.5/24 dev eth0.181"
            ]
        );
        let s = w.device(h1).stack().unwrap();
        let sub = &s.ifaces()[s.iface_index("eth0.181").expect("created")];
        assert_eq!(
            sub.mac(),
            s.ifaces()[0].mac(),
            "a VLAN shares its parent's MAC"
        );
        let bad = dataplane(&[], &[("10.9.0.0/16", "10.0.0.2", "eth9")]);
        assert_eq!(
            w.apply_dataplane(h1, &bad).unwrap_err(),
            "h1 has no interface eth9"
        );
        assert_eq!(
            w.apply_dataplane(id(&w, "sw"), &bad).unwrap_err(),
            "sw is not a host"
        );
    }

    #[test]
    fn routes_read_like_ip_route() {
        let iface = |name: &str| L3Iface {
            name: name.into(),
            mac: crate::model::MacAddr::from_name(name),
            addrs: Vec::new(),
            up: true,
            has_link: true,
            mtu: crate::sim::stack::ETHERNET_MTU,
        };
        let ifaces = [iface("eth0"), iface("eth1")];
        let default = Route::single(
            "0.0.0.0/0".parse().unwrap(),
            Some(ip("10.0.0.1")),
            0,
            0,
            crate::model::TABLE_MAIN,
            "static",
        );
        assert_eq!(
            describe_route(&default, &ifaces),
            "default via 10.0.0.1 dev eth0"
        );
        let other = Route::single("10.9.0.0/16".parse().unwrap(), None, 1, 5, 101, "engine");
        assert_eq!(
            describe_route(&other, &ifaces),
            "10.9.0.0/16 dev eth1 table 101 metric 5"
        );
        let multipath = Route {
            nexthops: vec![
                Nexthop {
                    via: Some(ip("10.0.0.1")),
                    dev: 0,
                    weight: 1,
                },
                Nexthop {
                    via: Some(ip("10.1.0.1")),
                    dev: 1,
                    weight: 2,
                },
            ],
            ..other
        };
        assert_eq!(
            describe_route(&multipath, &ifaces),
            "10.9.0.0/16 table 101 metric 5 nexthop via 10.0.0.1 dev eth0 weight 1 \
             nexthop via 10.1.0.1 dev eth1 weight 2"
        );
    }
}
