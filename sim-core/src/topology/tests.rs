//! Tests of the topology loader: the blog lab, every validation error (message
//! and position), the summary snapshot, and that no input makes it panic.

use super::*;
use crate::input::InputError;
use crate::model::{
    ArpPolicy, DeviceKind, HostRole, HostSpec, IfaceKind, MacAddr, PortRef, SwitchSpec, VlanMode,
};
use crate::time::SimDuration;

const BLOG_LAB: &str = include_str!("../../../topologies/blog-lab.yaml");

fn blog() -> Topology {
    load_topology("topologies/blog-lab.yaml", BLOG_LAB).unwrap_or_else(|e| panic!("{e}"))
}

fn host<'a>(t: &'a Topology, name: &str) -> &'a HostSpec {
    let id = t.device_id(name).unwrap_or_else(|| panic!("no {name}"));
    t.host(id).unwrap_or_else(|| panic!("{name} is not a host"))
}

fn switch<'a>(t: &'a Topology, name: &str) -> &'a SwitchSpec {
    let id = t.device_id(name).unwrap_or_else(|| panic!("no {name}"));
    match &t.device(id).kind {
        DeviceKind::Switch(s) => s,
        DeviceKind::Host(_) => panic!("{name} is not a switch"),
    }
}

fn port(t: &Topology, dev: &str, port: u16) -> PortRef {
    PortRef {
        device: t.device_id(dev).unwrap(),
        port,
    }
}

/// 1-based line and column of the first (or last) occurrence of `needle` in `text`.
fn pos_of(text: &str, needle: &str, last: bool) -> (u64, u64) {
    let found = if last {
        text.rfind(needle)
    } else {
        text.find(needle)
    };
    let at = found.unwrap_or_else(|| panic!("`{needle}` not in fixture"));
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
    (line, col)
}

/// Loads `text`, expecting an error whose message contains `msg` and which
/// sits at the first occurrence of `at`.
fn assert_err(text: &str, at: &str, msg: &str) -> InputError {
    check_err(text, pos_of(text, at, false), msg)
}

/// Like [`assert_err`], at the last occurrence of `at`.
fn assert_err_last(text: &str, at: &str, msg: &str) -> InputError {
    check_err(text, pos_of(text, at, true), msg)
}

fn check_err(text: &str, at: (u64, u64), msg: &str) -> InputError {
    let e = match load_topology("t.yaml", text) {
        Ok(_) => panic!("expected an error containing `{msg}`"),
        Err(e) => e,
    };
    assert!(
        e.message.contains(msg),
        "message `{}` lacks `{msg}`",
        e.message
    );
    assert_eq!((e.line, e.column), at, "position of {e}");
    assert_eq!(e.file, "t.yaml");
    e
}

#[test]
fn blog_lab_devices_in_file_order() {
    let t = blog();
    assert_eq!(t.name, "blog-lab");
    let names: Vec<&str> = t.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "k8s-cp-vm-1-cl-02",
            "k8s-cp-vm-2-cl-02",
            "k8s-cp-vm-3-cl-02",
            "k8s-node-vm-1-cl-02",
            "k8s-node-vm-2-cl-02",
            "k8s-node-vm-3-cl-02",
            "ext-vm",
            "firewall",
            "vmbr0",
            "core-sw",
        ]
    );
    assert_eq!(
        t.cluster.pod_cidr.map(|c| c.to_string()).as_deref(),
        Some("10.30.64.0/18")
    );
    assert_eq!(
        t.cluster.service_cidr.map(|c| c.to_string()).as_deref(),
        Some("10.30.0.0/18")
    );
}

#[test]
fn blog_lab_nodes() {
    let t = blog();
    let nodes: Vec<(String, bool, String, String)> = t
        .nodes()
        .map(|(id, d, n)| {
            let h = t.host(id).unwrap();
            (
                d.name.clone(),
                n.control_plane,
                n.pod_cidr.to_string(),
                h.primary_ip(&n.transport_interface).unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("k8s-cp-vm-1-cl-02", true, "10.30.64.0/24", "10.160.1.21"),
        ("k8s-cp-vm-2-cl-02", true, "10.30.65.0/24", "10.160.1.22"),
        ("k8s-cp-vm-3-cl-02", true, "10.30.66.0/24", "10.160.1.23"),
        ("k8s-node-vm-1-cl-02", false, "10.30.67.0/24", "10.160.1.25"),
        ("k8s-node-vm-2-cl-02", false, "10.30.68.0/24", "10.160.1.26"),
        ("k8s-node-vm-3-cl-02", false, "10.30.69.0/24", "10.160.1.27"),
    ];
    assert_eq!(nodes.len(), expect.len());
    for (got, want) in nodes.iter().zip(expect) {
        assert_eq!(
            (got.0.as_str(), got.1, got.2.as_str(), got.3.as_str()),
            want
        );
    }
    let n2 = host(&t, "k8s-node-vm-2-cl-02");
    assert_eq!(n2.interfaces[0].mac.to_string(), "bc:24:11:1d:82:f5");
    assert!(n2.ip_forward);
    assert_eq!(n2.arp, ArpPolicy::Linux);
    assert_eq!(n2.routes.len(), 1);
    assert_eq!(n2.routes[0].dst.prefix_len(), 0);
    assert_eq!(n2.routes[0].via, Some("10.160.1.1".parse().unwrap()));
    // Every node MAC is in Proxmox's OUI and unique.
    let macs: Vec<MacAddr> = t
        .nodes()
        .map(|(id, _, _)| t.host(id).unwrap().interfaces[0].mac)
        .collect();
    for (i, m) in macs.iter().enumerate() {
        assert_eq!(&m.0[..3], &[0xbc, 0x24, 0x11]);
        assert!(!macs[..i].contains(m));
    }
}

#[test]
fn blog_lab_switches_routers_and_hosts() {
    let t = blog();
    let vmbr0 = switch(&t, "vmbr0");
    let proxmox = VlanMode::Trunk {
        native: Some(216),
        allowed: vec![181, 216],
    };
    assert_eq!(vmbr0.ports.len(), 7);
    for p in &vmbr0.ports[..6] {
        assert_eq!(p.vlan, proxmox, "{}", p.name);
    }
    assert_eq!(
        vmbr0.ports[6].vlan,
        VlanMode::Trunk {
            native: None,
            allowed: vec![100, 181, 216]
        }
    );
    let core = switch(&t, "core-sw");
    let svis: Vec<(u16, String, String)> = core
        .svis
        .iter()
        .map(|s| (s.vlan, s.name.clone(), s.addr.to_string()))
        .collect();
    assert_eq!(
        svis,
        [
            (216, "vlan216".into(), "10.160.1.1/24".into()),
            (181, "vlan181".into(), "172.18.181.1/24".into()),
            (100, "vlan100".into(), "10.100.0.2/30".into()),
        ]
    );
    assert_eq!(core.routes[0].via, Some("10.100.0.1".parse().unwrap()));
    assert_eq!(core.ports[1].vlan, VlanMode::Access(100));
    assert_eq!(
        core.arp,
        ArpPolicy::Fixed {
            timeout: SimDuration::from_secs(4 * 3600)
        }
    );
    assert_eq!(core.mac_aging, SimDuration::from_secs(300));
    assert!(!core.bfd);

    let fw = host(&t, "firewall");
    assert_eq!(fw.role, HostRole::Router);
    assert!(fw.ip_forward);
    let dsts: Vec<String> = fw.routes.iter().map(|r| r.dst.to_string()).collect();
    assert_eq!(dsts, ["10.160.1.0/24", "172.18.181.0/24"]);
    let ext = host(&t, "ext-vm");
    assert_eq!(ext.role, HostRole::External);
    assert!(!ext.ip_forward);
    assert_eq!(ext.tcp_listen, [80]);
}

#[test]
fn blog_lab_links() {
    let t = blog();
    // Six VM ports + the vmbr0 uplink + core-sw to firewall + the direct cable.
    assert_eq!(t.links.len(), 9);
    for (i, node) in [
        "k8s-cp-vm-1-cl-02",
        "k8s-cp-vm-2-cl-02",
        "k8s-cp-vm-3-cl-02",
        "k8s-node-vm-1-cl-02",
        "k8s-node-vm-2-cl-02",
        "k8s-node-vm-3-cl-02",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(t.links[i].a, port(&t, "vmbr0", i as u16));
        assert_eq!(t.links[i].b, port(&t, node, 0));
    }
    assert_eq!(t.links[6].a, port(&t, "vmbr0", 6));
    assert_eq!(t.links[6].b, port(&t, "core-sw", 0));
    assert_eq!(t.links[7].a, port(&t, "core-sw", 1));
    assert_eq!(t.links[7].b, port(&t, "firewall", 0));
    assert_eq!(t.links[8].a, port(&t, "firewall", 1));
    assert_eq!(t.links[8].b, port(&t, "ext-vm", 0));
    assert!(
        t.links
            .iter()
            .all(|l| l.latency == SimDuration::from_micros(50))
    );
    assert_eq!(
        t.peer(port(&t, "k8s-node-vm-2-cl-02", 0)).map(|(_, p)| p),
        Some(port(&t, "vmbr0", 4))
    );
}

#[test]
fn blog_lab_summary_snapshot() {
    insta::assert_snapshot!("blog_lab_summary", summary(&blog()));
}

#[test]
fn summary_is_deterministic() {
    assert_eq!(summary(&blog()), summary(&blog()));
}

/// A small valid lab most error fixtures start from.
const SMALL: &str = "\
name: small
nodes:
  - name: n1
    podCIDR: 10.30.64.0/24
    interfaces:
      - name: eth0
        addresses: [10.0.0.11/24]
switches:
  - name: sw
    ports:
      - name: p1
        connect: n1/eth0
        access: 216
";

#[test]
fn small_fixture_is_valid() {
    let t = load_topology("t.yaml", SMALL).unwrap();
    assert_eq!(t.links.len(), 1);
    assert_eq!(
        host(&t, "n1").interfaces[0].mac,
        MacAddr::from_name("n1/eth0")
    );
    assert!(matches!(
        host(&t, "n1").role,
        HostRole::Node(ref n) if !n.control_plane && n.transport_interface == "eth0"
    ));
}

#[test]
fn physical_interfaces_come_first_and_vlans_share_parent_mac() {
    let text = "\
name: x
hosts:
  - name: h
    interfaces:
      - name: eth0.181
        vlan: {parent: eth0, id: 181}
        addresses: [172.18.181.40/24]
      - name: eth0
        mac: bc:24:11:1d:82:f5
      - name: eth1
links:
  - between: [h/eth1, h2/eth0]
    latency: 1ms
routers:
  - name: h2
    interfaces: [{name: eth0}]
";
    let t = load_topology("t.yaml", text).unwrap();
    let h = host(&t, "h");
    let names: Vec<&str> = h.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth0", "eth1", "eth0.181"]);
    assert_eq!(
        h.interfaces[2].kind,
        IfaceKind::Vlan {
            parent: "eth0".into(),
            vid: 181
        }
    );
    assert_eq!(h.interfaces[2].mac, h.interfaces[0].mac);
    assert_eq!(t.links[0].a, port(&t, "h", 1));
    assert_eq!(t.links[0].latency, SimDuration::from_millis(1));
}

#[test]
fn defaults_and_overrides() {
    let text = "\
name: x
defaults: {linkLatency: 2ms}
hosts:
  - name: a
    interfaces: [{name: eth0, addresses: [10.0.0.1/24]}]
    arp: {mode: fixed}
    ipForward: true
    rules:
      - {priority: 100, fwmark: 0x1/0xff, from: 10.30.67.0/24, table: 101}
    routes:
      - {to: 10.9.0.0/16, via: 10.0.0.2, metric: 5, table: 101}
switches:
  - name: sw
    macAging: 30s
    arp: {timeout: 1m}
    bfd: true
    ports:
      - {name: p1, connect: a/eth0, proxmox: tag=216}
      - {name: p2, trunk: {native: 5}, latency: 7us}
";
    let t = load_topology("t.yaml", text).unwrap();
    let a = host(&t, "a");
    assert!(a.ip_forward);
    assert_eq!(
        a.arp,
        ArpPolicy::Fixed {
            timeout: SimDuration::from_secs(4 * 3600)
        }
    );
    assert_eq!(a.rules[0].fwmark, Some((1, 0xff)));
    assert_eq!(a.rules[0].table, 101);
    assert_eq!(a.routes[0].metric, 5);
    assert_eq!(a.routes[0].table, 101);
    let sw = switch(&t, "sw");
    assert_eq!(sw.mac_aging, SimDuration::from_secs(30));
    assert_eq!(
        sw.arp,
        ArpPolicy::Fixed {
            timeout: SimDuration::from_secs(60)
        }
    );
    assert!(sw.bfd);
    assert_eq!(sw.ports[0].vlan, VlanMode::Access(216));
    assert_eq!(
        sw.ports[1].vlan,
        VlanMode::Trunk {
            native: Some(5),
            allowed: vec![]
        }
    );
    assert_eq!(t.links[0].latency, SimDuration::from_millis(2));
}

#[test]
fn node_labels_and_transport_interface() {
    let text = SMALL.replace(
        "    podCIDR:",
        "    role: control-plane\n    labels: {zone: a, tier: \"1\"}\n    transportInterface: eth0\n    podCIDR:",
    );
    let t = load_topology("t.yaml", &text).unwrap();
    let (_, _, n) = t.nodes().next().unwrap();
    assert!(n.control_plane);
    assert_eq!(
        n.labels,
        [("zone".into(), "a".into()), ("tier".into(), "1".into())]
    );
    assert_eq!(n.transport_interface, "eth0");
    let text = text.replace("transportInterface: eth0", "transportInterface: ens18");
    assert_err(
        &text,
        "ens18",
        "transportInterface `ens18` is not an interface of `n1` (it has: eth0)",
    );
}

#[test]
fn err_duplicate_device_across_sections() {
    let text = format!("{SMALL}hosts:\n  - name: sw\n");
    // Hosts are checked before switches, so the switch is the duplicate.
    assert_err(&text, "sw\n    ports", "duplicate device name `sw`");
}

#[test]
fn err_duplicate_interface() {
    let text = SMALL.replace(
        "        addresses: [10.0.0.11/24]\n",
        "        addresses: [10.0.0.11/24]\n      - name: eth0\n",
    );
    assert_err(
        &text,
        "eth0\nswitches",
        "duplicate interface name `eth0` on `n1`",
    );
}

#[test]
fn err_duplicate_port() {
    let text = format!("{SMALL}      - name: p1\n        access: 1\n");
    assert_err(
        &text,
        "p1\n        access: 1",
        "duplicate port name `p1` on `sw`",
    );
}

#[test]
fn err_bad_cidr() {
    let text = SMALL.replace("10.0.0.11/24", "10.0.0.311/24");
    assert_err(
        &text,
        "10.0.0.311/24",
        "is not an IPv4 address with prefix length",
    );
    let text = SMALL.replace("10.30.64.0/24", "10.30.64.0/33");
    assert_err(&text, "10.30.64.0/33", "is not an IPv4 CIDR");
}

#[test]
fn err_bad_ip() {
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - {to: default, via: 10.0.0.x}\nswitches:",
    );
    assert_err(
        &text,
        "10.0.0.x",
        "is not an IPv4 address (expected e.g. 10.160.1.1)",
    );
}

#[test]
fn err_bad_mac() {
    let text = SMALL.replace(
        "        addresses:",
        "        mac: bc:24:11\n        addresses:",
    );
    assert_err(&text, "bc:24:11", "is not a MAC address");
}

#[test]
fn err_vlan_out_of_range() {
    let text = SMALL.replace("access: 216", "access: 4095");
    assert_err(
        &text,
        "4095",
        "VLAN id 4095 is out of range (expected 1..=4094",
    );
    let text = SMALL.replace(
        "        addresses: [10.0.0.11/24]\n",
        "        addresses: [10.0.0.11/24]\n      - name: eth0.0\n        vlan: {parent: eth0, id: 0}\n",
    );
    assert_err(&text, "0}", "VLAN id 0 is out of range");
}

#[test]
fn err_port_without_vlan_form() {
    let text = SMALL.replace("        access: 216\n", "");
    assert_err(
        &text,
        "p1",
        "port `p1` of `sw` needs exactly one of access, trunk or proxmox (found 0)",
    );
}

#[test]
fn err_port_with_two_vlan_forms() {
    let text = format!("{SMALL}        proxmox: tag=216\n");
    assert_err(
        &text,
        "tag=216",
        "needs exactly one of access, trunk or proxmox (found 2)",
    );
}

#[test]
fn err_malformed_proxmox() {
    let text = SMALL.replace("access: 216", "proxmox: \"tag=216,trunks=181,216\"");
    assert_err(
        &text,
        "\"tag=",
        "proxmox option `216` in `tag=216,trunks=181,216` is not key=value",
    );
    let text = SMALL.replace("access: 216", "proxmox: bridge=vmbr0");
    assert_err(&text, "bridge", "proxmox option `bridge` is not modelled");
}

#[test]
fn err_connect_missing_device() {
    let text = SMALL.replace("connect: n1/eth0", "connect: n9/eth0");
    assert_err(&text, "n9/eth0", "no device named `n9` (devices: n1, sw)");
}

#[test]
fn err_connect_missing_interface() {
    let text = SMALL.replace("connect: n1/eth0", "connect: n1/eth7");
    assert_err(
        &text,
        "n1/eth7",
        "`n1` has no interface `eth7` (physical interfaces: eth0)",
    );
    let text = SMALL.replace("connect: n1/eth0", "connect: n1");
    assert_err_last(
        &text,
        "n1\n",
        "is not a port reference (expected <device>/<interface-or-port>",
    );
}

#[test]
fn err_connect_vlan_subinterface() {
    let text = SMALL
        .replace(
            "        addresses: [10.0.0.11/24]\n",
            "        addresses: [10.0.0.11/24]\n      - name: eth0.181\n        vlan: {parent: eth0, id: 181}\n",
        )
        .replace("connect: n1/eth0", "connect: n1/eth0.181");
    assert_err(
        &text,
        "n1/eth0.181",
        "`eth0.181` on `n1` is a VLAN 181 sub-interface of eth0 and has no port to connect",
    );
}

#[test]
fn err_port_used_by_two_links() {
    let text = format!("{SMALL}      - name: p2\n        connect: n1/eth0\n        access: 216\n");
    let e = assert_err_last(&text, "n1/eth0", "already linked");
    // The whole message, once, to pin its wording.
    assert_eq!(
        e.message,
        "n1/eth0 is already linked by the connect of sw/p1 at line 12; a port takes one link"
    );
    assert_eq!((e.line, e.column), (15, 18));
    // The same through a `links` entry.
    let text = format!("{SMALL}links:\n  - between: [sw/p1, n1/eth0]\n");
    assert_err(
        &text,
        "sw/p1,",
        "sw/p1 is already linked by the connect of sw/p1 at line 12",
    );
}

#[test]
fn err_self_link_and_bad_between() {
    let text = format!("{SMALL}links:\n  - between: [sw/p2, sw/p2]\n").replace(
        "        access: 216\n",
        "        access: 216\n      - name: p2\n        access: 1\n",
    );
    assert_err(&text, "sw/p2]", "sw/p2 cannot be linked to itself");
    let text = format!("{SMALL}links:\n  - between: [sw/p1]\n");
    assert_err(&text, "[sw/p1]", "`between` needs exactly two ports");
}

#[test]
fn err_vlan_parent_missing_or_not_physical() {
    let text = SMALL.replace(
        "        addresses: [10.0.0.11/24]\n",
        "        addresses: [10.0.0.11/24]\n      - name: v1\n        vlan: {parent: eth9, id: 181}\n",
    );
    assert_err(
        &text,
        "eth9",
        "VLAN parent `eth9` is not an interface of `n1` (it has: eth0, v1)",
    );
    let text = SMALL.replace(
        "        addresses: [10.0.0.11/24]\n",
        "        addresses: [10.0.0.11/24]\n      - name: v1\n        vlan: {parent: eth0, id: 181}\n      - name: v2\n        vlan: {parent: v1, id: 182}\n",
    );
    assert_err(
        &text,
        "v1, id: 182",
        "VLAN parent `v1` is itself a VLAN sub-interface",
    );
}

#[test]
fn err_route_dev_not_interface() {
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - {to: 10.9.0.0/16, dev: eth5}\nswitches:",
    );
    assert_err(
        &text,
        "eth5",
        "route dev `eth5` is not an interface of `n1` (it has: eth0)",
    );
}

#[test]
fn err_route_via_outside_subnets() {
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - {to: default, via: 10.9.9.9}\nswitches:",
    );
    assert_err(
        &text,
        "10.9.9.9",
        "gateway 10.9.9.9 is not in any connected subnet of `n1` (10.0.0.0/24)",
    );
    // With `dev` the gateway is taken as on-link there.
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - {to: default, via: 10.9.9.9, dev: eth0}\nswitches:",
    );
    assert!(load_topology("t.yaml", &text).is_ok());
}

#[test]
fn err_switch_route_via_outside_svis() {
    let text = format!(
        "{SMALL}    svis:\n      - {{vlan: 216, address: 10.0.0.1/24}}\n    routes:\n      - {{to: default, via: 10.1.0.1}}\n"
    );
    assert_err(
        &text,
        "10.1.0.1",
        "gateway 10.1.0.1 is not in any connected subnet of `sw` (10.0.0.0/24)",
    );
    let text = text.replace("via: 10.1.0.1", "dev: eth0");
    assert_err(
        &text,
        "eth0}",
        "route dev `eth0` is not an SVI of `sw` (it has: vlan216)",
    );
}

#[test]
fn err_duplicate_svi_vlan() {
    let text = format!(
        "{SMALL}    svis:\n      - {{vlan: 216, address: 10.0.0.1/24}}\n      - {{vlan: 216, address: 10.0.1.1/24}}\n"
    );
    assert_err(
        &text,
        "216, address: 10.0.1.1",
        "duplicate SVI for VLAN 216 on `sw`",
    );
}

#[test]
fn err_switch_routes_without_svis() {
    let text = format!("{SMALL}    routes:\n      - {{to: default, via: 10.0.0.1}}\n");
    assert_err(&text, "default, via", "switch `sw` has routes but no SVIs");
}

#[test]
fn err_node_without_pod_cidr() {
    let text = SMALL.replace("    podCIDR: 10.30.64.0/24\n", "");
    assert_err(&text, "n1", "node `n1` has no podCIDR");
}

#[test]
fn err_node_pod_cidr_outside_cluster() {
    let text = SMALL
        .replace("nodes:", "cluster: {podCIDR: 10.30.64.0/18}\nnodes:")
        .replace("10.30.64.0/24", "10.31.0.0/24");
    assert_err(
        &text,
        "10.31.0.0/24",
        "node podCIDR 10.31.0.0/24 is not inside cluster.podCIDR 10.30.64.0/18",
    );
}

#[test]
fn err_overlapping_node_pod_cidrs() {
    let text = SMALL.replace(
        "switches:",
        "  - name: n2\n    podCIDR: 10.30.64.128/25\n    interfaces: [{name: eth0}]\nswitches:",
    );
    assert_err(
        &text,
        "10.30.64.128/25",
        "overlaps the podCIDR of node `n1`",
    );
}

#[test]
fn err_duplicate_ip() {
    let text = format!("{SMALL}    svis:\n      - {{vlan: 216, address: 10.0.0.11/24}}\n");
    assert_err(
        &text,
        "10.0.0.11/24}",
        "address 10.0.0.11 is already assigned to n1/eth0",
    );
}

#[test]
fn err_unknown_role() {
    let text = SMALL.replace("    podCIDR:", "    role: master\n    podCIDR:");
    assert_err(
        &text,
        "master",
        "unknown role `master` (expected control-plane or worker)",
    );
}

#[test]
fn err_unknown_arp_mode() {
    let text = "name: x\nhosts:\n  - name: h\n    arp: {mode: static}\n";
    assert_err(
        text,
        "static",
        "unknown arp mode `static` (expected linux or fixed)",
    );
}

#[test]
fn err_unknown_key_located() {
    let text = SMALL.replace("    podCIDR:", "    podCidr: 10.30.64.0/24\n    podCIDR:");
    assert_err(&text, "podCidr", "unknown field `podCidr`");
}

#[test]
fn err_yaml_syntax_located() {
    let text = "name: x\nnodes:\n  - name: [unclosed\n";
    let e = load_topology("t.yaml", text).unwrap_err();
    assert!(e.line >= 3, "{e}");
    assert_eq!(e.file, "t.yaml");
}

#[test]
fn err_duration_located() {
    let text = SMALL.replace("access: 216", "access: 216\n        latency: 5");
    assert_err(&text, "5\n", "duration 5 has no unit");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = load_topology("f.yaml", &text);
        }

        #[test]
        fn yamlish_text_never_panics(text in "[a-z0-9:/\\-\\[\\]{},.; =\n]{0,300}") {
            let _ = load_topology("f.yaml", &text);
        }

        /// Replace one line of the blog lab with junk or another line: this
        /// reaches the validator, not just the YAML parser.
        #[test]
        fn mutated_blog_lab_never_panics(
            line in 0usize..200,
            donor in 0usize..200,
            junk in "[a-z0-9:/\\-\\[\\] ]{0,20}",
            use_donor in any::<bool>(),
        ) {
            let lines: Vec<&str> = BLOG_LAB.lines().collect();
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let i = line % out.len();
            let replacement = if use_donor {
                lines[donor % lines.len()].to_string()
            } else {
                let indent: String = out[i].chars().take_while(|c| *c == ' ').collect();
                format!("{indent}{junk}")
            };
            out[i] = replacement;
            let _ = load_topology("f.yaml", &out.join("\n"));
        }
    }
}

#[test]
fn multipath_routes_and_ecmp_options() {
    let text = format!(
        "{SMALL}    maximumPaths: 4\n    multipathHash: l4\n    svis:\n      - {{vlan: 216, address: 10.0.0.1/24}}\n    routes:\n      - to: 10.169.1.40/32\n        nexthops:\n          - {{via: 10.0.0.26}}\n          - {{via: 10.0.0.27, weight: 3}}\n      - {{to: 10.9.0.0/16, via: 10.0.0.26}}\n      - {{to: 10.9.0.0/16, via: 10.0.0.27}}\n"
    );
    let t = load_topology("t.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let sw = switch(&t, "sw");
    assert_eq!(sw.ecmp.maximum_paths, 4);
    assert_eq!(sw.ecmp.hash, crate::model::MultipathHash::L4);
    assert_eq!(
        sw.routes[0].ip_route_args(),
        "10.169.1.40/32 nexthop via 10.0.0.26 nexthop via 10.0.0.27 weight 3"
    );
    // A router OS keeps separate equal routes (used together up to maximumPaths).
    assert_eq!(sw.routes.len(), 3);
    let summary = crate::topology::summary(&t);
    assert!(
        summary.contains("10.169.1.40/32 nexthop via 10.0.0.26 nexthop via 10.0.0.27 weight 3"),
        "{summary}"
    );
}

#[test]
fn err_linux_host_equal_routes_and_bad_nexthops() {
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - {to: 10.9.0.0/16, via: 10.0.0.1}\n      - {to: 10.9.0.0/16, via: 10.0.0.2}\nswitches:",
    );
    assert_err_last(
        &text,
        "10.9.0.0/16",
        "`n1` already has a route to 10.9.0.0/16 with metric 0: Linux refuses a second one",
    );
    // Another metric is fine.
    let ok = text.replace("via: 10.0.0.2}", "via: 10.0.0.2, metric: 5}");
    assert!(load_topology("t.yaml", &ok).is_ok());
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - to: 10.9.0.0/16\n        via: 10.0.0.1\n        nexthops: [{via: 10.0.0.2}, {via: 10.0.0.3}]\nswitches:",
    );
    assert_err(
        &text,
        "10.0.0.1\n",
        "a route with `nexthops` names its gateways there, not in `via`/`dev`",
    );
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - to: 10.9.0.0/16\n        nexthops: [{via: 10.0.0.2}, {via: 10.7.0.3}]\nswitches:",
    );
    assert_err(
        &text,
        "10.7.0.3",
        "gateway 10.7.0.3 is not in any connected subnet of `n1`",
    );
    let text = SMALL.replace(
        "switches:",
        "    routes:\n      - to: 10.9.0.0/16\n        nexthops: [{via: 10.0.0.2, weight: 0}, {via: 10.0.0.3}]\nswitches:",
    );
    assert_err(&text, "0}", "weight 0 is not 1..256");
}

#[test]
fn err_maximum_paths_on_a_linux_host_and_bad_hash() {
    let text = "\
name: t
hosts:
  - name: h
    maximumPaths: 2
    interfaces: [{name: eth0, addresses: [10.0.0.2/24]}]
";
    assert_err(text, "2\n", "`maximumPaths` is for routers and switches");
    let text = text.replace("maximumPaths: 2", "multipathHash: l7");
    assert_err(
        &text,
        "l7",
        "`l7` is not a multipath hash (expected l3 or l4",
    );
    let text = "\
name: t
routers:
  - name: r
    maximumPaths: 0
    interfaces: [{name: eth0, addresses: [10.0.0.2/24]}]
";
    assert_err(text, "0\n", "maximumPaths must be 1..=64, not 0");
}

/// A switch with a BGP speaker: FRR's defaults unless given.
const BGP_SWITCH: &str = "\
name: x
switches:
  - name: core-sw
    svis:
      - {vlan: 216, address: 10.160.1.1/24}
    bgp:
      asn: 65000
      neighbors:
        - {address: 10.160.1.25, remoteAs: 64512}
        - {address: 10.160.1.26}
      maximumPaths: 8
    ports:
      - {name: p1, access: 216}
";

#[test]
fn a_switch_speaks_bgp_with_frr_defaults() {
    use crate::model::bgp::*;
    use std::net::Ipv4Addr;
    let t = load_topology("t.yaml", BGP_SWITCH).unwrap();
    let b = switch(&t, "core-sw").bgp.clone().expect("a BGP speaker");
    assert_eq!((b.asn, b.router_id), (65000, Ipv4Addr::new(10, 160, 1, 1)));
    assert_eq!(
        b.peers,
        BgpPeers::Listed(vec![
            BgpNeighborSpec {
                address: Ipv4Addr::new(10, 160, 1, 25),
                remote_as: RemoteAs::Asn(64512)
            },
            BgpNeighborSpec {
                address: Ipv4Addr::new(10, 160, 1, 26),
                remote_as: RemoteAs::External
            },
        ])
    );
    assert_eq!(b.maximum_paths, 8);
    assert_eq!((b.keepalive, b.hold), (DEFAULT_KEEPALIVE, DEFAULT_HOLD));
    assert_eq!(b.connect_retry, SimDuration::from_secs(120));
    assert_eq!(b.bfd, None);
    assert!(crate::topology::summary(&t).contains(
        "  bgp as 65000 router-id 10.160.1.1 neighbors 10.160.1.25 (as 64512), 10.160.1.26 (external) maximum-paths 8 timers 60s/180s connect 120s bfd off\n"
    ), "{}", crate::topology::summary(&t));
    assert!(RemoteAs::External.accepts(65000, 64512) && !RemoteAs::External.accepts(65000, 65000));
    assert!(RemoteAs::Internal.accepts(65000, 65000));
    // Dynamic neighbours, fast timers and BFD.
    let dynamic = BGP_SWITCH
        .replace(
            "      neighbors:\n        - {address: 10.160.1.25, remoteAs: 64512}\n        - {address: 10.160.1.26}\n",
            "      listenRange: 10.160.1.0/24\n      timers: {keepalive: 1s, hold: 3s}\n      bfd: {interval: 100ms}\n",
        )
        .replace("      maximumPaths: 8\n", "      routerId: 192.0.2.1\n");
    let t = load_topology("t.yaml", &dynamic).unwrap();
    let b = switch(&t, "core-sw").bgp.clone().unwrap();
    assert_eq!(
        b.peers,
        BgpPeers::Range {
            prefix: "10.160.1.0/24".parse().unwrap(),
            remote_as: RemoteAs::External
        }
    );
    assert_eq!(b.router_id, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(b.maximum_paths, 1);
    assert_eq!(
        (b.keepalive, b.hold),
        (SimDuration::from_secs(1), SimDuration::from_secs(3))
    );
    let bfd = b.bfd.expect("BFD on");
    assert_eq!(
        (bfd.interval, bfd.multiplier),
        (SimDuration::from_millis(100), 3)
    );
    assert_eq!(bfd.detection_time(), SimDuration::from_millis(300));
}

#[test]
fn bad_bgp_settings_are_refused_where_written() {
    let with = |from: &str, to: &str| BGP_SWITCH.replace(from, to);
    assert_err(
        &with("asn: 65000", "asn: 0"),
        "0\n",
        "asn must be between 1 and 4294967295",
    );
    assert_err(
        &with("10.160.1.26}", "10.9.9.9}"),
        "10.9.9.9",
        "neighbor 10.9.9.9 is on no SVI subnet of `core-sw`",
    );
    assert_err_last(
        &with("10.160.1.26}", "10.160.1.25}"),
        "10.160.1.25",
        "listed twice",
    );
    assert_err(
        &with("remoteAs: 64512", "remoteAs: outside"),
        "outside",
        "remoteAs `outside`: expected an ASN, external or internal",
    );
    assert_err_last(
        &with("maximumPaths: 8", "maximumPaths: 65"),
        "65",
        "maximumPaths must be 1..=64, not 65",
    );
    let timers = |t: &str| with("      maximumPaths: 8\n", &format!("      timers: {t}\n"));
    assert_err(
        &timers("{hold: 2s}"),
        "2s",
        "hold must be 0 or at least 3s (RFC 4271 §4.2)",
    );
    assert_err(
        &timers("{keepalive: 10s, hold: 9s}"),
        "9s",
        "hold must be longer than keepalive",
    );
    assert_err(
        &timers("{keepalive: 500ms}"),
        "500ms",
        "keepalive is whole seconds",
    );
    assert_err(
        &timers("{keepalive: 200s}"),
        "200s",
        "keepalive must be shorter than hold",
    );
    let bfd = |b: &str| with("      maximumPaths: 8\n", &format!("      bfd: {b}\n"));
    assert_err(
        &bfd("{multiplier: 1}"),
        "1}",
        "bfd multiplier must be between 2 and 255",
    );
    assert_err(
        &bfd("{interval: 5ms}"),
        "5ms",
        "bfd interval must be between 10ms and 60s",
    );
    let both = with(
        "      maximumPaths: 8\n",
        "      listenRange: 10.160.1.0/24\n",
    );
    assert_err(&both, "asn", "bgp needs either neighbors or listenRange");
    let no_svi = with(
        "    svis:\n      - {vlan: 216, address: 10.160.1.1/24}\n",
        "",
    );
    assert_err(&no_svi, "asn", "switch `core-sw` has bgp but no SVIs");
    assert_err(
        &with("asn: 65000", "asn: 65000\n      holdTime: 3"),
        "holdTime",
        "unknown field",
    );
}
