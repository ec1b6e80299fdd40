//! Pods: every Kubernetes node's `antrea-gw0` on its internal `br-int`
//! switch, and the Pods plugged into it as hosts of their own.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::World;
use crate::model::{ArpPolicy, DeviceId, HostRole, PortRef, VlanMode};
use crate::sim::devices::{self, DeviceRt, HostIfaceKind, SwitchPortRt, SwitchRt};
use crate::sim::stack::L3Iface;
use crate::sim::switch::MacTable;
use crate::sim::trace::LogKind;
use crate::time::SimDuration;

/// The VLAN every port of a node's internal `br-int` uses: Pods and
/// `antrea-gw0` share one untagged segment.
const BR_INT_VLAN: u16 = 1;

/// Latency of the veth/OVS internal hop between a Pod and its node.
const INTERNAL_LATENCY: SimDuration = SimDuration::from_micros(1);

/// The first usable address of a subnet (`.1` of a /24).
pub fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

impl World {
    pub(super) fn add_pod_network(&mut self, node: DeviceId, name: &str, pod_cidr: Ipv4Net) {
        let gw_ip = first_host(pod_cidr);
        let gw_mac = crate::engine::pipeline::gateway_mac(name);
        let DeviceRt::Host(h) = &mut self.devices[node.0 as usize] else {
            return;
        };
        let port = h.ports.len() as u16;
        let idx = h.stack.ifaces.len();
        h.stack.ifaces.push(L3Iface {
            name: "antrea-gw0".into(),
            mac: gw_mac,
            addrs: vec![
                Ipv4Net::new(gw_ip, pod_cidr.prefix_len()).expect("prefix from a valid net"),
            ],
            up: true,
            has_link: true,
            mtu: crate::sim::stack::ETHERNET_MTU,
        });
        h.iface_kinds.push(HostIfaceKind::Physical { port });
        h.ports.push(idx);
        h.admin_up.push(true);
        h.stack.sync_connected_routes();
        let br = SwitchRt {
            name: format!("br-int@{name}").into(),
            powered: true,
            ports: vec![SwitchPortRt {
                name: "antrea-gw0".into(),
                vlan: VlanMode::Access(BR_INT_VLAN),
            }],
            macs: MacTable::new(SimDuration::from_secs(300)),
            l3: None,
            svi_vlans: Vec::new(),
            static_routes: Vec::new(),
            bfd: false,
        };
        let br_id = self.add_device(DeviceRt::Switch(br));
        self.add_link(
            PortRef { device: node, port },
            PortRef {
                device: br_id,
                port: 0,
            },
            INTERNAL_LATENCY,
        );
        self.br_int.insert(node, br_id);
    }

    /// Node `node`'s br-int switch; an error names a device that is not a
    /// Kubernetes node.
    pub(super) fn br_int_of(&self, node: DeviceId) -> Result<DeviceId, String> {
        self.br_int
            .get(&node)
            .copied()
            .ok_or_else(|| format!("{} is not a Kubernetes node", self.device(node).name()))
    }

    /// A re-created Pod sandbox: the same Pod device gets `ip` as its only
    /// address on `eth0`, and forgets its neighbours and connections.
    pub fn readdress_pod(&mut self, pod: DeviceId, ip: Ipv4Addr) {
        let Some(stack) = self.devices[pod.0 as usize].stack_mut() else {
            return;
        };
        if let Some(eth0) = stack.ifaces.first_mut() {
            eth0.addrs = vec![Ipv4Net::from(ip)];
        }
        stack.sync_connected_routes();
        stack.arp.clear();
        stack.ct.clear();
    }

    /// Sets the MTU of host `dev`'s interface `iface` (`ip link set mtu`);
    /// nothing for a device or interface that does not exist.
    pub fn set_mtu(&mut self, dev: DeviceId, iface: &str, mtu: u32) {
        if let DeviceRt::Host(h) = &mut self.devices[dev.0 as usize]
            && let Some(i) = h.stack.iface_index(iface)
        {
            h.stack.ifaces[i].mtu = mtu;
        }
    }

    /// Gives Pod `pod` its node's whole Pod subnet on eth0 (`10.30.67.5/24`),
    /// as Antrea's CNI does: Pods of one node then reach each other at L2,
    /// by ARP, and br-int forwards by destination MAC. Used when br-int
    /// executes Antrea's program; with a MAC-learning br-int the Pod keeps
    /// its /32 so that all its traffic crosses the node's stack (see
    /// [`World::add_pod`]).
    pub fn put_pod_on_subnet(&mut self, pod: DeviceId, prefix_len: u8) {
        if let DeviceRt::Host(h) = &mut self.devices[pod.0 as usize]
            && let Some(eth0) = h.stack.iface_index("eth0")
            && let Some(a) = h.stack.ifaces[eth0].addrs.first().copied()
            && let Ok(net) = Ipv4Net::new(a.addr(), prefix_len)
        {
            h.stack.ifaces[eth0].addrs[0] = net;
            h.stack.sync_connected_routes();
        }
    }

    /// Plugs a Pod into its node's `br-int`: a host with `eth0` = `ip` in the
    /// node's Pod subnet and a default route via `antrea-gw0`.
    pub fn add_pod(
        &mut self,
        node: DeviceId,
        namespace: &str,
        name: &str,
        ip: Ipv4Addr,
        tcp_listen: Vec<u16>,
    ) -> Result<DeviceId, String> {
        let node_name = self.device(node).name().to_string();
        let br = self.br_int_of(node)?;
        let DeviceRt::Host(nh) = self.device(node) else {
            unreachable!("br-int exists only for hosts")
        };
        let gw = nh
            .stack
            .ifaces
            .iter()
            .find(|i| i.name == "antrea-gw0")
            .expect("every node has antrea-gw0");
        let gw_net = gw.addrs[0];
        if !gw_net.contains(&ip) {
            return Err(format!(
                "Pod IP {ip} is outside {node_name}'s Pod subnet {}",
                gw_net.trunc()
            ));
        }
        let full = format!("{namespace}/{name}");
        if self.device_id(&full).is_some() {
            return Err(format!("Pod {full} already exists"));
        }
        let spec = crate::model::HostSpec {
            role: HostRole::Pod {
                node: node_name.clone(),
                namespace: namespace.to_string(),
            },
            interfaces: vec![crate::model::IfaceSpec {
                name: "eth0".into(),
                mac: crate::engine::pipeline::pod_mac(namespace, name),
                // A /32 with everything via antrea-gw0: Antrea's OVS pipeline
                // (and its conntrack) sees all Pod traffic, even to Pods on
                // the same node; the lab gets the same by making the node the
                // Pod's only next hop.
                addrs: vec![Ipv4Net::from(ip)],
                kind: crate::model::IfaceKind::Physical,
            }],
            routes: vec![
                crate::model::RouteSpec::new(Ipv4Net::from(gw_net.addr()), None, Some("eth0")),
                crate::model::RouteSpec::new(Ipv4Net::default(), Some(gw_net.addr()), Some("eth0")),
            ],
            rules: Vec::new(),
            ip_forward: false,
            arp: ArpPolicy::Linux,
            tcp_listen,
            ecmp: crate::model::EcmpPolicy::default(),
        };
        let host = devices::build_host(&full, &spec, self.seed);
        let pod = self.add_device(DeviceRt::Host(host));
        let DeviceRt::Switch(sw) = &mut self.devices[br.0 as usize] else {
            unreachable!()
        };
        let port = sw.ports.len() as u16;
        // Antrea names the host side of a Pod's veth after the Pod, cut to 15 chars.
        let veth: String = name.chars().take(15).collect();
        sw.ports.push(SwitchPortRt {
            name: veth,
            vlan: VlanMode::Access(BR_INT_VLAN),
        });
        self.add_link(
            PortRef {
                device: pod,
                port: 0,
            },
            PortRef { device: br, port },
            INTERNAL_LATENCY,
        );
        self.record(
            LogKind::Engine,
            &node_name,
            format!("Pod {full} up with IP {ip}"),
        );
        Ok(pod)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{TWO_NODES, id, ip, messages, ms, probe, world};
    use crate::sim::probe::ProbeKind;
    use crate::sim::trace::LogKind;

    #[test]
    fn every_node_gets_antrea_gw0_on_its_own_br_int() {
        let w = world(TWO_NODES);
        let n2 = w.device(id(&w, "n2")).stack().unwrap();
        let gw = n2
            .ifaces()
            .iter()
            .find(|i| i.name() == "antrea-gw0")
            .expect("gw");
        assert_eq!(gw.addrs()[0].to_string(), "10.30.2.1/24");
        assert_eq!(
            w.port_name(w.find_port("br-int@n2/antrea-gw0").unwrap()),
            "br-int@n2/antrea-gw0"
        );
        assert!(w.device_id("br-int@sw").is_none(), "switches are not nodes");
        assert_eq!(
            super::first_host("10.30.2.0/24".parse().unwrap()),
            ip("10.30.2.1")
        );
    }

    #[test]
    fn a_pod_plugs_into_br_int_and_reaches_its_gateway() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        let pod = w
            .add_pod(n1, "ns", "a-very-long-pod-name", ip("10.30.1.5"), vec![80])
            .unwrap();
        assert_eq!(w.device(pod).name(), "ns/a-very-long-pod-name");
        assert_eq!(w.device_id("ns/a-very-long-pod-name"), Some(pod));
        // The veth's host side is named after the Pod, cut to 15 characters.
        assert!(w.find_port("br-int@n1/a-very-long-pod").is_some());
        assert_eq!(
            messages(&w, LogKind::Engine),
            ["Pod ns/a-very-long-pod-name up with IP 10.30.1.5"]
        );
        w.start_probe(probe(
            &w,
            "gw",
            "ns/a-very-long-pod-name",
            "10.30.1.1",
            ProbeKind::Ping,
        ))
        .unwrap();
        w.run_until(ms(50));
        let a = w.probe("gw").unwrap().last_finished().expect("an answer");
        assert!(a.ok(), "{:?}", a.verdict);
        assert_eq!(a.seen_by.as_deref(), Some("n1"));
    }

    #[test]
    fn a_pod_outside_the_node_subnet_or_twice_or_on_a_non_node_is_refused() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        assert_eq!(
            w.add_pod(n1, "ns", "web", ip("10.30.2.5"), vec![])
                .unwrap_err(),
            "Pod IP 10.30.2.5 is outside n1's Pod subnet 10.30.1.0/24"
        );
        w.add_pod(n1, "ns", "web", ip("10.30.1.5"), vec![]).unwrap();
        assert_eq!(
            w.add_pod(n1, "ns", "web", ip("10.30.1.6"), vec![])
                .unwrap_err(),
            "Pod ns/web already exists"
        );
        let sw = id(&w, "sw");
        assert_eq!(
            w.add_pod(sw, "ns", "x", ip("10.30.1.7"), vec![])
                .unwrap_err(),
            "sw is not a Kubernetes node"
        );
    }

    #[test]
    fn a_readdressed_pod_has_only_its_new_address_and_forgets_neighbours() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        let pod = w.add_pod(n1, "ns", "web", ip("10.30.1.5"), vec![]).unwrap();
        w.start_probe(probe(&w, "gw", "ns/web", "10.30.1.1", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(50));
        w.stop_probe("gw").unwrap();
        let arp_rows = |w: &super::World| w.device(pod).stack().unwrap().arp().rows(w.now()).len();
        assert_eq!(arp_rows(&w), 1);
        w.readdress_pod(pod, ip("10.30.1.9"));
        assert_eq!(w.host_ip(pod), Some(ip("10.30.1.9")));
        let eth0 = &w.device(pod).stack().unwrap().ifaces()[0];
        assert_eq!(eth0.addrs().len(), 1);
        assert_eq!(arp_rows(&w), 0);
        // Still reaches its gateway from the new address.
        w.start_probe(probe(&w, "again", "ns/web", "10.30.1.1", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(100));
        let a = w
            .probe("again")
            .unwrap()
            .last_finished()
            .expect("an answer");
        assert!(a.ok(), "{:?}", a.verdict);
        assert_eq!(a.seen_src, Some(ip("10.30.1.9")));
    }
}
