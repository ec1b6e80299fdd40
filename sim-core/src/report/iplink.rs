//! `ip link` and `ip addr` of a Kubernetes node, in the shape the blog's nodes
//! print them (`exploring-antrea-features.md`: `lo`, `eth0`, `kube-ipvs0`,
//! `ovs-system`, `genev_sys_6081`, `antrea-gw0 ... mtu 1450`,
//! `antrea-egress0`, the Pods' `yelb-db--81d702@if2`, `antrea-ext.181@eth0`).
//!
//! What is listed, and where it comes from:
//! - `lo`, always.
//! - The node's interfaces from the topology (physical ones, then VLAN
//!   sub-interfaces), with the state and addresses the simulator has now.
//! - `kube-ipvs0` when kube-proxy runs in IPVS mode (the engine creates it).
//! - `ovs-system` (the OVS kernel datapath's device, always DOWN).
//! - The tunnel's kernel device (`genev_sys_6081`, `vxlan_sys_4789`, ...) when
//!   `trafficEncapMode` has a tunnel, MTU 65000 (OVS's tunnel MTU; Antrea's
//!   `ovsTunnelMaxMTU` comment in pkg/agent/agent.go v1.15.1).
//! - `antrea-gw0` with the MTU the agent derives (`AntreaSettings::interface_mtu`).
//! - `antrea-egress0` when the engine created it (Egress running).
//! - One host-side veth per running Pod of the node, named as Antrea's
//!   `GenerateContainerInterfaceName` (pkg/agent/util/net.go v1.15.1): the
//!   first 8 characters of the Pod name with leading `-` trimmed, `-`, then 6
//!   hex digits of a hash of the container ID. The simulator has no container
//!   IDs and no SHA-1, so the hex digits are SHA-256 of `namespace/name`: the
//!   shape is Antrea's, the digits are not. Its peer is `@if2` (the Pod's
//!   `eth0` after its `lo`), in a netns named `cni-` + a UUID made the same way.
//!   Its MTU is the Pod's `eth0`'s (the CNI set it when it plugged the Pod).
//! - The 802.1Q sub-interfaces the engine created (`antrea-ext.181@eth0`).
//!
//! Interface indexes are positions in that order, from 1: deterministic, and
//! the same as a node where kube-proxy, then OVS, then the agent, then the
//! Pods, then Egress started in that order (the blog's numbering). A real
//! node numbers by creation time, so a Pod created after `antrea-ext.181`
//! would get a higher index there.
//!
//! Not modelled: IPv6 (no `inet6` lines), `altname`, qdisc details beyond the
//! name, and MACs of devices the simulator does not have (`ovs-system`, the
//! tunnel device, Pod veths), which are derived from their names.

use std::fmt::Write as _;

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use crate::engine::config::tunnel::{OVS_TUNNEL_MAX_MTU, TRANSPORT_MTU};
use crate::engine::egress::EGRESS_DUMMY;
use crate::engine::services::KUBE_IPVS0;
use crate::engine::{ClusterState, GATEWAY_IFACE};
use crate::model::{DeviceKind, HostRole, IfaceKind, MacAddr, Topology};
use crate::sim::World;
use crate::sim::stack::L3Iface;

/// `ip link` or `ip addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpView {
    Link,
    Addr,
}

/// Linux's loopback MTU.
const LOOPBACK_MTU: u32 = 65536;
/// Characters of the Pod name Antrea keeps (`interfacePrefixLength`).
const POD_PREFIX_LEN: usize = 8;
/// Hex digits of the key (`interfaceNameLength` 15 - prefix 8 - 1).
const POD_KEY_LEN: usize = 6;
/// The Pod's `eth0` in its own netns (after `lo`).
const POD_PEER_IFINDEX: u32 = 2;

/// How an interface shows up: its flags, state and queueing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Loopback,
    /// Ethernet with a carrier (physical, VLAN, veth, gateway, tunnel).
    Ether {
        up: bool,
        carrier: bool,
    },
    /// `dummy` devices Antrea and kube-proxy never set up (`NOARP`, DOWN).
    Dummy,
    /// `ovs-system`: BROADCAST,MULTICAST and DOWN.
    OvsSystem,
}

/// One line pair of `ip link` (plus addresses for `ip addr`).
#[derive(Clone, Debug)]
struct Row {
    name: String,
    /// `@eth0`, `@if2`.
    at: Option<String>,
    kind: Kind,
    mtu: u32,
    qdisc: &'static str,
    /// Enslaved to `ovs-system` (OVS ports).
    ovs_port: bool,
    /// `state UNKNOWN` (devices without a real carrier: lo, gateway, tunnel).
    unknown_state: bool,
    /// `qlen 1000`: devices with a transmit queue length set.
    qlen: bool,
    mac: MacAddr,
    netns: Option<String>,
    addrs: Vec<Ipv4Net>,
}

impl Row {
    fn ether(name: &str, iface: &L3Iface, mtu: u32) -> Row {
        Row {
            name: name.to_string(),
            at: None,
            kind: Kind::Ether {
                up: iface.is_up(),
                carrier: iface.has_link(),
            },
            mtu,
            qdisc: "noqueue",
            ovs_port: false,
            unknown_state: false,
            qlen: false,
            mac: iface.mac(),
            netns: None,
            addrs: iface.addrs().to_vec(),
        }
    }

    fn dummy(iface: &L3Iface) -> Row {
        Row {
            kind: Kind::Dummy,
            qdisc: "noop",
            ..Row::ether(iface.name(), iface, TRANSPORT_MTU)
        }
    }

    fn flags(&self) -> &'static str {
        match self.kind {
            Kind::Loopback => "LOOPBACK,UP,LOWER_UP",
            Kind::Ether {
                up: true,
                carrier: true,
            } => "BROADCAST,MULTICAST,UP,LOWER_UP",
            Kind::Ether {
                up: true,
                carrier: false,
            } => "NO-CARRIER,BROADCAST,MULTICAST,UP",
            Kind::Ether { up: false, .. } | Kind::OvsSystem => "BROADCAST,MULTICAST",
            Kind::Dummy => "BROADCAST,NOARP",
        }
    }

    fn state(&self) -> &'static str {
        let running = matches!(
            self.kind,
            Kind::Loopback
                | Kind::Ether {
                    up: true,
                    carrier: true
                }
        );
        match (running, self.unknown_state) {
            (true, true) => "UNKNOWN",
            (true, false) => "UP",
            (false, _) => "DOWN",
        }
    }

    fn render(&self, index: usize, view: IpView, out: &mut String) {
        let at = self
            .at
            .as_deref()
            .map_or(String::new(), |a| format!("@{a}"));
        let master = if self.ovs_port {
            " master ovs-system"
        } else {
            ""
        };
        let mode = match view {
            IpView::Link => " mode DEFAULT",
            IpView::Addr => "",
        };
        let qlen = if self.qlen { " qlen 1000" } else { "" };
        let _ = writeln!(
            out,
            "{index}: {}{at}: <{}> mtu {} qdisc {}{master} state {}{mode} group default{qlen}",
            self.name,
            self.flags(),
            self.mtu,
            self.qdisc,
            self.state()
        );
        let netns = self
            .netns
            .as_deref()
            .map_or(String::new(), |n| format!(" link-netns {n}"));
        if self.kind == Kind::Loopback {
            let _ = writeln!(
                out,
                "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"
            );
        } else {
            let _ = writeln!(
                out,
                "    link/ether {} brd ff:ff:ff:ff:ff:ff{netns}",
                self.mac
            );
        }
        if view == IpView::Addr {
            self.render_addrs(out);
        }
    }

    /// `inet` lines: `brd` for prefixes shorter than /31 (not on `lo`),
    /// `scope host` on `lo`, `secondary` for a second address in an already present subnet.
    fn render_addrs(&self, out: &mut String) {
        for (i, a) in self.addrs.iter().enumerate() {
            let brd = if a.prefix_len() < 31 && self.kind != Kind::Loopback {
                format!(" brd {}", a.broadcast())
            } else {
                String::new()
            };
            let scope = if self.kind == Kind::Loopback {
                "host"
            } else {
                "global"
            };
            let secondary = if self.addrs[..i].iter().any(|b| b.trunc() == a.trunc()) {
                " secondary"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    inet {a}{brd} scope {scope}{secondary} {}",
                self.name
            );
            let _ = writeln!(out, "       valid_lft forever preferred_lft forever");
        }
    }
}

/// `ip link` / `ip addr` of node `node` (see the module doc for what is listed).
pub fn ip_view(
    world: &World,
    cluster: &ClusterState,
    topology: &Topology,
    node: &str,
    view: IpView,
) -> Result<String, String> {
    let id = world
        .device_id(node)
        .ok_or_else(|| format!("no device called `{node}`"))?;
    let dev = world.device(id);
    let not_a_node = || format!("`{node}` is not a Kubernetes node");
    let topo_id = topology.device_id(node).ok_or_else(not_a_node)?;
    let spec = match &topology.device(topo_id).kind {
        DeviceKind::Host(h) if matches!(h.role, HostRole::Node(_)) => h,
        _ => return Err(not_a_node()),
    };
    if !dev.powered() {
        return Err(format!("{node} is powered off"));
    }
    let stack = dev
        .stack()
        .ok_or_else(|| format!("{node} has no IP stack"))?;
    let settings = &cluster.settings;
    let pod_mtu = cluster.pod_mtu();
    let iface = |name: &str| stack.ifaces().iter().find(|i| i.name() == name);

    let mut rows = vec![Row {
        name: "lo".into(),
        at: None,
        kind: Kind::Loopback,
        mtu: LOOPBACK_MTU,
        qdisc: "noqueue",
        ovs_port: false,
        unknown_state: true,
        qlen: true,
        mac: MacAddr::ZERO,
        netns: None,
        addrs: vec![Ipv4Net::new(std::net::Ipv4Addr::LOCALHOST, 8).expect("/8 is a prefix")],
    }];
    // The topology's interfaces: physical first, then its VLAN sub-interfaces.
    let mut topo_vlans = Vec::new();
    for s in &spec.interfaces {
        let Some(i) = iface(&s.name) else { continue };
        match &s.kind {
            IfaceKind::Physical => rows.push(Row {
                qdisc: "fq_codel",
                qlen: true,
                ..Row::ether(&s.name, i, TRANSPORT_MTU)
            }),
            IfaceKind::Vlan { parent, .. } => topo_vlans.push(Row {
                at: Some(parent.clone()),
                ..Row::ether(&s.name, i, TRANSPORT_MTU)
            }),
        }
    }
    rows.extend(topo_vlans);
    if let Some(i) = iface(KUBE_IPVS0) {
        rows.push(Row::dummy(i));
    }
    rows.push(Row {
        name: "ovs-system".into(),
        kind: Kind::OvsSystem,
        qdisc: "noop",
        qlen: true,
        mac: MacAddr::from_name(&format!("{node}/ovs-system")),
        ..synthetic(TRANSPORT_MTU)
    });
    if let Some(tunnel) = settings.tunnel_device() {
        rows.push(Row {
            mac: MacAddr::from_name(&format!("{node}/{tunnel}")),
            name: tunnel,
            ovs_port: true,
            unknown_state: true,
            qlen: true,
            ..synthetic(OVS_TUNNEL_MAX_MTU)
        });
    }
    if let Some(i) = iface(GATEWAY_IFACE) {
        rows.push(Row {
            unknown_state: true,
            qlen: true,
            ..Row::ether(GATEWAY_IFACE, i, i.mtu())
        });
    }
    if let Some(i) = iface(EGRESS_DUMMY) {
        rows.push(Row::dummy(i));
    }
    if let Some(node_id) = cluster.node_id(node) {
        for pod in cluster.pods_on(node_id) {
            let full = format!("{}/{}", pod.namespace, pod.name);
            let Some(dev) = world.device_id(&full) else {
                continue;
            };
            // A veth's two ends have one MTU: the one the Pod's eth0 has.
            let mtu = world
                .device(dev)
                .stack()
                .and_then(|s| s.ifaces().iter().find(|i| i.name() == "eth0"))
                .map_or(pod_mtu, L3Iface::mtu);
            rows.push(Row {
                name: pod_interface_name(&pod.namespace, &pod.name),
                at: Some(format!("if{POD_PEER_IFINDEX}")),
                ovs_port: true,
                mac: MacAddr::from_name(&format!("{full}/host-veth")),
                netns: Some(netns_name(&full)),
                ..synthetic(mtu)
            });
        }
    }
    // 802.1Q sub-interfaces the engine added (not in the topology).
    let engine_vlans = crate::engine::compile(cluster)
        .remove(node)
        .map(|dp| dp.vlan_ifaces)
        .unwrap_or_default();
    for v in &engine_vlans {
        if spec.interfaces.iter().any(|s| s.name == v.name) {
            continue;
        }
        let Some(i) = iface(&v.name) else { continue };
        rows.push(Row {
            at: Some(v.parent.clone()),
            ..Row::ether(&v.name, i, TRANSPORT_MTU)
        });
    }

    let mut out = match view {
        IpView::Link => format!("ip link of {node}\n"),
        IpView::Addr => format!("ip addr of {node} (IPv4 only: the lab has no IPv6)\n"),
    };
    for (n, row) in rows.iter().enumerate() {
        row.render(n + 1, view, &mut out);
    }
    Ok(out)
}

/// A device the simulator does not model as an interface of its own: up,
/// with a carrier, no addresses.
fn synthetic(mtu: u32) -> Row {
    Row {
        name: String::new(),
        at: None,
        kind: Kind::Ether {
            up: true,
            carrier: true,
        },
        mtu,
        qdisc: "noqueue",
        ovs_port: false,
        unknown_state: false,
        qlen: false,
        mac: MacAddr::ZERO,
        netns: None,
        addrs: Vec::new(),
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Antrea's host-side interface name for a Pod (see the module doc).
pub fn pod_interface_name(namespace: &str, name: &str) -> String {
    let prefix = if name.len() > POD_PREFIX_LEN {
        name[..POD_PREFIX_LEN].trim_start_matches('-')
    } else {
        name
    };
    let key = sha256_hex(&format!("{namespace}/{name}"));
    format!("{prefix}-{}", &key[..POD_KEY_LEN])
}

/// `cni-` and a UUID-shaped name, as the container runtime names Pod netns.
fn netns_name(full: &str) -> String {
    let h = sha256_hex(&format!("netns/{full}"));
    format!(
        "cni-{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_interface_names_have_antreas_shape() {
        // The blog's `yelb-db--81d702`: 8 characters kept, then `-` and 6 hex digits.
        let n = pod_interface_name("yelb", "yelb-db-6d8c5d7b8c-x2xzq");
        assert!(n.starts_with("yelb-db--"), "{n}");
        assert_eq!(n.len(), 15);
        assert!(n[9..].chars().all(|c| c.is_ascii_hexdigit()), "{n}");
        // Short names are kept whole; leading hyphens of the prefix go.
        let short = pod_interface_name("default", "web");
        assert!(short.starts_with("web-") && short.len() == 10, "{short}");
        // Differing Pods differ; the same Pod always gets the same name.
        assert_ne!(
            pod_interface_name("a", "yelb-app-1"),
            pod_interface_name("a", "yelb-app-2")
        );
        assert_eq!(
            pod_interface_name("a", "yelb-app-1"),
            pod_interface_name("a", "yelb-app-1")
        );
        assert!(netns_name("a/b").starts_with("cni-"));
        assert_eq!(netns_name("a/b").len(), 4 + 36);
    }

    fn row(addrs: &[&str]) -> Row {
        Row {
            name: "eth0".into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ..synthetic(1500)
        }
    }

    #[test]
    fn addresses_print_like_ip_addr() {
        let mut out = String::new();
        row(&["10.160.1.26/24", "10.160.1.40/24", "10.169.1.40/32"]).render_addrs(&mut out);
        assert_eq!(
            out,
            "    inet 10.160.1.26/24 brd 10.160.1.255 scope global eth0\n\
             \x20      valid_lft forever preferred_lft forever\n\
             \x20   inet 10.160.1.40/24 brd 10.160.1.255 scope global secondary eth0\n\
             \x20      valid_lft forever preferred_lft forever\n\
             \x20   inet 10.169.1.40/32 scope global eth0\n\
             \x20      valid_lft forever preferred_lft forever\n"
        );
    }

    #[test]
    fn link_lines_follow_state() {
        let mut out = String::new();
        let mut r = row(&[]);
        r.kind = Kind::Ether {
            up: true,
            carrier: false,
        };
        r.render(4, IpView::Link, &mut out);
        assert!(
            out.starts_with("4: eth0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default\n"),
            "{out}"
        );
        let mut out = String::new();
        r.kind = Kind::Dummy;
        r.render(7, IpView::Addr, &mut out);
        assert!(
            out.starts_with(
                "7: eth0: <BROADCAST,NOARP> mtu 1500 qdisc noqueue state DOWN group default\n"
            ),
            "{out}"
        );
    }
}
