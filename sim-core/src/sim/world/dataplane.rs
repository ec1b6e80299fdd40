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
use crate::sim::routing::Route;
use crate::sim::stack::L3Iface;
use crate::sim::trace::LogKind;

/// Engine-owned state applied to a host, remembered so the next desired state
/// can be diffed against it.
#[derive(Default)]
pub(super) struct Applied {
    addrs: Vec<(usize, Ipv4Net)>,
    rules: Vec<crate::model::RuleSpec>,
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
        }
        h.stack.routes.remove_origin("engine");
        h.stack.sync_connected_routes();
        h.stack.snat.clear();
        h.stack.marks.clear();
        h.stack.arp_responder.clear();
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
        // 1. VLAN sub-interfaces (kept once created; an unused one has no address).
        for v in &desired.vlan_ifaces {
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
                });
                h.iface_kinds
                    .push(HostIfaceKind::Vlan { parent, vid: v.vid });
                h.admin_up.push(true);
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
        let mut new_routes = Vec::new();
        for r in &desired.routes {
            let dev = h
                .stack
                .iface_index(&r.dev)
                .ok_or_else(|| format!("{name} has no interface {}", r.dev))?;
            new_routes.push(Route::single(
                r.dst, r.via, dev, r.metric, r.table, "engine",
            ));
        }
        let old_routes: Vec<Route> = h
            .stack
            .routes
            .routes()
            .iter()
            .filter(|r| r.origin == "engine")
            .cloned()
            .collect();
        if old_routes != new_routes {
            h.stack.routes.remove_origin("engine");
            h.stack.routes.add_routes(&new_routes);
        }
        if old_routes != new_routes && log {
            let old_set: std::collections::BTreeSet<&Route> = old_routes.iter().collect();
            let new_set: std::collections::BTreeSet<&Route> = new_routes.iter().collect();
            for r in new_routes.iter().filter(|r| !old_set.contains(r)) {
                lines.push((
                    LogKind::Route,
                    format!("ip route add {}", describe_route(r, &h.stack.ifaces)),
                ));
            }
            for r in old_routes.iter().filter(|r| !new_set.contains(r)) {
                lines.push((
                    LogKind::Route,
                    format!("ip route del {}", describe_route(r, &h.stack.ifaces)),
                ));
            }
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
        for s in &desired.snat {
            let not_out = match &s.not_out_iface {
                Some(n) => Some(
                    h.stack
                        .iface_index(n)
                        .ok_or_else(|| format!("{name} has no interface {n}"))?,
                ),
                None => None,
            };
            snat.push(crate::sim::nat::SnatRule {
                src: s.src,
                not_dst: s.not_dst.clone(),
                not_out_iface: not_out,
                out_iface: None,
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
        nat_changed |= marks != h.stack.marks;
        h.stack.marks = marks;
        if nat_changed {
            h.stack.ct.flush_untranslated();
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
        h.stack.l7_export = desired.l7_export.clone();
        let same_rules = match (&desired.service_rules, h.stack.services.shared_rules()) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        };
        if !same_rules {
            let n = desired
                .service_rules
                .as_ref()
                .map_or(0, |r| r.ports().count());
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
