//! The lab as plain data: what exists and how it is wired, not how it behaves.
//!
//! `topology` builds a [`Topology`] from YAML; `sim` turns it into running
//! devices. Names are the identity users see; [`DeviceId`] and port indices are
//! dense indices into the vectors here, stable for a run.

pub mod bgp;
mod mac;
pub mod route;

pub use mac::MacAddr;
pub use route::{EcmpPolicy, MultipathHash, NexthopSpec, RouteSpec, TABLE_LOCAL, TABLE_MAIN};

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::time::SimDuration;

/// Index of a device in [`Topology::devices`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DeviceId(pub u32);

/// One end of a link: a device and the index of one of its ports.
/// For a host, ports are its physical interfaces (index into `HostSpec::interfaces`);
/// for a switch, its switch ports (index into `SwitchSpec::ports`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRef {
    pub device: DeviceId,
    pub port: u16,
}

/// The whole physical lab.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub name: String,
    pub devices: Vec<Device>,
    pub links: Vec<Link>,
    /// Cluster-wide settings for the Kubernetes part of the lab.
    pub cluster: ClusterSpec,
}

#[derive(Clone, Debug, Default)]
pub struct ClusterSpec {
    /// The cluster's Pod CIDR (e.g. 10.30.0.0/16); traffic from Pods to anything
    /// outside it and outside the node network is masqueraded to the node IP.
    pub(crate) pod_cidr: Option<Ipv4Net>,
    /// The Service ClusterIP range (e.g. 10.30.0.0/18 in kubeadm's style).
    pub(crate) service_cidr: Option<Ipv4Net>,
}

#[derive(Clone, Debug)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
}

#[derive(Clone, Debug)]
pub enum DeviceKind {
    Host(HostSpec),
    Switch(SwitchSpec),
}

/// What a host is in the story; it changes defaults and how tables show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostRole {
    /// A Kubernetes node VM.
    Node(NodeSpec),
    /// A Pod, created at run time on `node`.
    Pod { node: String, namespace: String },
    /// A router or firewall (forwards between its interfaces).
    Router,
    /// Any other machine, e.g. the external VM the pods ping.
    External,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub control_plane: bool,
    /// This node's Pod subnet; `.1` is `antrea-gw0`.
    pub pod_cidr: Ipv4Net,
    pub(crate) labels: Vec<(String, String)>,
    /// The interface that carries node traffic (Antrea's "transport interface").
    pub(crate) transport_interface: String,
}

#[derive(Clone, Debug)]
pub struct HostSpec {
    pub role: HostRole,
    /// Physical interfaces first (they are the ports), then VLAN sub-interfaces.
    pub interfaces: Vec<IfaceSpec>,
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
    /// Linux `net.ipv4.ip_forward`.
    pub ip_forward: bool,
    pub arp: ArpPolicy,
    /// TCP ports with a listener; a SYN to any other port gets a RST.
    pub tcp_listen: Vec<u16>,
    /// How equal routes and multipath routes share traffic.
    pub ecmp: EcmpPolicy,
}

#[derive(Clone, Debug)]
pub struct IfaceSpec {
    pub name: String,
    pub mac: MacAddr,
    pub addrs: Vec<Ipv4Net>,
    pub kind: IfaceKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfaceKind {
    /// Has a port; may be linked to a switch port or another host.
    Physical,
    /// An 802.1Q sub-interface (`eth0.181`, `antrea-ext.181`) of a physical one.
    Vlan { parent: String, vid: u16 },
}

/// An `ip rule`: packets matching `fwmark/mask` (and `from`) look up `table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub priority: u32,
    pub fwmark: Option<(u32, u32)>,
    pub from: Option<Ipv4Net>,
    pub table: u32,
}

/// How a device keeps its ARP cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArpPolicy {
    /// Linux neighbour state machine (INCOMPLETE/REACHABLE/STALE/DELAY/PROBE/FAILED)
    /// with the kernel's defaults (see `sim::arp`).
    Linux,
    /// A router/switch ARP table: an entry lives `timeout` after it was last
    /// learned and is never probed (Cisco's default is 4 h). This is what keeps
    /// forwarding to a dead next hop in the blog's warning.
    Fixed { timeout: SimDuration },
}

#[derive(Clone, Debug)]
pub struct SwitchSpec {
    pub ports: Vec<SwitchPortSpec>,
    /// Switched virtual interfaces: this switch's own L3 presence per VLAN.
    pub svis: Vec<SviSpec>,
    /// Static routes of the L3 part (needs at least one SVI).
    pub routes: Vec<RouteSpec>,
    /// MAC table aging (default 300 s, IEEE 802.1D's recommended value).
    pub mac_aging: SimDuration,
    pub arp: ArpPolicy,
    /// Bidirectional forwarding detection on static routes. Off unless configured.
    pub bfd: bool,
    /// How equal routes and multipath routes share traffic.
    pub ecmp: EcmpPolicy,
    /// A BGP speaker on the L3 part, if configured.
    pub bgp: Option<bgp::BgpRouterSpec>,
}

#[derive(Clone, Debug)]
pub struct SwitchPortSpec {
    pub name: String,
    pub vlan: VlanMode,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// Untagged in and out, member of one VLAN. Tagged frames are dropped.
    Access(u16),
    /// Tagged frames for `allowed` VLANs; untagged frames belong to `native`
    /// (if any) and leave untagged. Proxmox `tag=216,trunks=181;216` is
    /// `Trunk { native: Some(216), allowed: [181, 216] }`.
    Trunk {
        native: Option<u16>,
        allowed: Vec<u16>,
    },
}

impl VlanMode {
    /// The VLAN an arriving frame belongs to, or `None` if the port refuses it.
    pub fn ingress_vlan(&self, tag: Option<u16>) -> Option<u16> {
        match (self, tag) {
            (VlanMode::Access(v), None) => Some(*v),
            (VlanMode::Access(_), Some(_)) => None,
            (VlanMode::Trunk { native, .. }, None) => *native,
            (VlanMode::Trunk { allowed, .. }, Some(t)) => allowed.contains(&t).then_some(t),
        }
    }

    /// How a frame of `vlan` leaves this port: `None` = not allowed here,
    /// `Some(None)` = untagged, `Some(Some(v))` = tagged with v.
    pub fn egress_tag(&self, vlan: u16) -> Option<Option<u16>> {
        match self {
            VlanMode::Access(v) => (*v == vlan).then_some(None),
            VlanMode::Trunk { native, allowed } => {
                if *native == Some(vlan) {
                    Some(None)
                } else if allowed.contains(&vlan) {
                    Some(Some(vlan))
                } else {
                    None
                }
            }
        }
    }

    /// Every VLAN this port carries.
    pub fn vlans(&self) -> Vec<u16> {
        match self {
            VlanMode::Access(v) => vec![*v],
            VlanMode::Trunk { native, allowed } => {
                let mut v: Vec<u16> = allowed.clone();
                if let Some(n) = native
                    && !v.contains(n)
                {
                    v.push(*n);
                }
                v.sort_unstable();
                v
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct SviSpec {
    pub vlan: u16,
    pub name: String,
    pub mac: MacAddr,
    pub addr: Ipv4Net,
}

#[derive(Clone, Debug)]
pub struct Link {
    pub a: PortRef,
    pub b: PortRef,
    /// One-way propagation delay.
    pub latency: SimDuration,
}

impl Topology {
    pub fn device_id(&self, name: &str) -> Option<DeviceId> {
        self.devices
            .iter()
            .position(|d| d.name == name)
            .map(|i| DeviceId(i as u32))
    }
    pub fn device(&self, id: DeviceId) -> &Device {
        &self.devices[id.0 as usize]
    }
    pub fn host(&self, id: DeviceId) -> Option<&HostSpec> {
        match &self.device(id).kind {
            DeviceKind::Host(h) => Some(h),
            DeviceKind::Switch(_) => None,
        }
    }
    /// Kubernetes nodes in topology order.
    pub fn nodes(&self) -> impl Iterator<Item = (DeviceId, &Device, &NodeSpec)> {
        self.devices
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match &d.kind {
                DeviceKind::Host(HostSpec {
                    role: HostRole::Node(n),
                    ..
                }) => Some((DeviceId(i as u32), d, n)),
                _ => None,
            })
    }
    /// The link attached to a port, if any, and the far end.
    pub fn peer(&self, port: PortRef) -> Option<(usize, PortRef)> {
        self.links.iter().enumerate().find_map(|(i, l)| {
            if l.a == port {
                Some((i, l.b))
            } else if l.b == port {
                Some((i, l.a))
            } else {
                None
            }
        })
    }
}

impl HostSpec {
    pub fn iface_index(&self, name: &str) -> Option<usize> {
        self.interfaces.iter().position(|i| i.name == name)
    }
    /// The first IPv4 address of the interface called `name`.
    pub fn primary_ip(&self, name: &str) -> Option<Ipv4Addr> {
        self.interfaces
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.addrs.first())
            .map(|n| n.addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_trunk_semantics() {
        let p = VlanMode::Trunk {
            native: Some(216),
            allowed: vec![181, 216],
        };
        assert_eq!(p.ingress_vlan(None), Some(216));
        assert_eq!(p.ingress_vlan(Some(181)), Some(181));
        assert_eq!(p.ingress_vlan(Some(100)), None);
        assert_eq!(p.egress_tag(216), Some(None));
        assert_eq!(p.egress_tag(181), Some(Some(181)));
        assert_eq!(p.egress_tag(100), None);
        let a = VlanMode::Access(216);
        assert_eq!(a.ingress_vlan(Some(216)), None);
        assert_eq!(a.egress_tag(181), None);
    }
}
