//! Tiny labs and helpers for the rooms' unit tests: topologies written in the
//! topology YAML and loaded by the real loader, frames built by hand, and
//! readers of the event log.

use std::net::Ipv4Addr;

use super::World;
use crate::engine::dataplane::{AddrAssignment, DesiredRoute, NodeDataplane};
use crate::model::{DeviceId, MacAddr, PortRef, TABLE_MAIN};
use crate::sim::probe::{ProbeKind, ProbeSpec};
use crate::sim::trace::{LogEntry, LogKind};
use crate::time::{SimDuration, SimTime};
use crate::topology::load_topology;
use crate::wire::{self, EthHeader};

/// Three hosts on one switch, all in access VLAN 10 and subnet 10.0.0.0/24.
pub(super) const THREE_HOSTS: &str = "\
name: three-hosts
hosts:
  - name: h1
    interfaces: [{name: eth0, addresses: [10.0.0.1/24]}]
  - name: h2
    interfaces: [{name: eth0, addresses: [10.0.0.2/24]}]
    tcpListen: [80]
  - name: h3
    interfaces: [{name: eth0, addresses: [10.0.0.3/24]}]
switches:
  - name: sw
    ports:
      - {name: p1, connect: h1/eth0, access: 10}
      - {name: p2, connect: h2/eth0, access: 10}
      - {name: p3, connect: h3/eth0, access: 10}
";

/// h1 -- r -- h2, r forwarding between two subnets (VLANs 1 and 2).
pub(super) const ROUTED: &str = "\
name: routed
hosts:
  - name: h1
    interfaces: [{name: eth0, addresses: [10.0.1.1/24]}]
    routes: [{to: default, via: 10.0.1.254}]
  - name: r
    ipForward: true
    interfaces:
      - {name: eth0, addresses: [10.0.1.254/24]}
      - {name: eth1, addresses: [10.0.2.254/24]}
  - name: h2
    interfaces: [{name: eth0, addresses: [10.0.2.2/24]}]
    routes: [{to: default, via: 10.0.2.254}]
switches:
  - name: sw
    ports:
      - {name: p1, connect: h1/eth0, access: 1}
      - {name: p2, connect: r/eth0, access: 1}
      - {name: p3, connect: r/eth1, access: 2}
      - {name: p4, connect: h2/eth0, access: 2}
";

/// Two Kubernetes nodes on one switch (each gets `antrea-gw0` and a
/// `br-int@<node>` for its Pods).
pub(super) const TWO_NODES: &str = "\
name: two-nodes
nodes:
  - name: n1
    podCIDR: 10.30.1.0/24
    interfaces: [{name: eth0, addresses: [10.0.0.11/24]}]
  - name: n2
    podCIDR: 10.30.2.0/24
    interfaces: [{name: eth0, addresses: [10.0.0.12/24]}]
switches:
  - name: sw
    ports:
      - {name: p1, connect: n1/eth0, access: 10}
      - {name: p2, connect: n2/eth0, access: 10}
";

/// A host behind an L3 switch with an SVI and a static route via the host,
/// guarded by BFD.
pub(super) const L3_SWITCH: &str = "\
name: l3-switch
hosts:
  - name: nh
    interfaces: [{name: eth0, addresses: [10.0.0.2/24]}]
switches:
  - name: l3
    bfd: true
    svis:
      - {vlan: 10, address: 10.0.0.1/24}
    routes:
      - {to: 10.9.0.0/16, via: 10.0.0.2}
    ports:
      - {name: p1, connect: nh/eth0, access: 10}
";

pub(super) fn world(yaml: &str) -> World {
    let topology = load_topology("t.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    World::new(&topology, 1)
}

pub(super) fn id(w: &World, name: &str) -> DeviceId {
    w.device_id(name)
        .unwrap_or_else(|| panic!("no device {name}"))
}

pub(super) fn port(w: &World, reference: &str) -> PortRef {
    w.find_port(reference)
        .unwrap_or_else(|| panic!("no port {reference}"))
}

/// The MAC of a device's first interface.
pub(super) fn mac(w: &World, name: &str) -> MacAddr {
    w.device(id(w, name)).stack().expect("an IP stack").ifaces()[0].mac()
}

pub(super) fn ip(text: &str) -> Ipv4Addr {
    text.parse().expect("an IPv4 address")
}

pub(super) fn ms(n: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(n)
}

/// An Ethernet frame of a local experimental ethertype (no stack answers it).
pub(super) fn raw_frame(src: MacAddr, dst: MacAddr) -> Vec<u8> {
    wire::build_eth(
        &EthHeader {
            dst,
            src,
            vlan: None,
            ethertype: 0x88b5,
        },
        &[0; 46],
    )
}

/// Log entries of one kind, oldest first.
pub(super) fn entries(w: &World, kind: LogKind) -> Vec<&LogEntry> {
    w.log().iter().filter(|e| e.kind == kind).collect()
}

/// The messages of the log entries of one kind.
pub(super) fn messages(w: &World, kind: LogKind) -> Vec<String> {
    entries(w, kind)
        .into_iter()
        .map(|e| e.message.clone())
        .collect()
}

/// How many frames `device` received (its `rx` log lines).
pub(super) fn received(w: &World, device: &str) -> usize {
    entries(w, LogKind::Frame)
        .iter()
        .filter(|e| e.device == device)
        .count()
}

/// A probe from `from` to `to` every 100 ms with a 500 ms timeout.
pub(super) fn probe(w: &World, name: &str, from: &str, to: &str, kind: ProbeKind) -> ProbeSpec {
    ProbeSpec {
        name: name.into(),
        from: id(w, from),
        from_label: from.into(),
        to: ip(to),
        to_label: to.into(),
        kind,
        interval: SimDuration::from_millis(100),
        timeout: SimDuration::from_millis(500),
        count: None,
        size: None,
    }
}

/// A desired dataplane with `addrs` (interface, address, announce) and
/// `routes` (destination, via, dev) in table main.
pub(super) fn dataplane(
    addrs: &[(&str, &str, bool)],
    routes: &[(&str, &str, &str)],
) -> NodeDataplane {
    NodeDataplane {
        addrs: addrs
            .iter()
            .map(|&(iface, addr, announce)| AddrAssignment {
                iface: iface.into(),
                addr: addr.parse().expect("an address with prefix"),
                announce,
                announce_on: None,
            })
            .collect(),
        routes: routes
            .iter()
            .map(|&(dst, via, dev)| DesiredRoute {
                dst: dst.parse().expect("a destination"),
                via: Some(ip(via)),
                dev: dev.into(),
                table: TABLE_MAIN,
                metric: 0,
                onlink: false,
            })
            .collect(),
        ..NodeDataplane::default()
    }
}
