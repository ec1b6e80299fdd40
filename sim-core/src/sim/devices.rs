//! Running devices: the model's hosts and switches with their live state.

use crate::model::{ArpPolicy, HostRole, HostSpec, IfaceKind, MacAddr, SwitchSpec, VlanMode};
use crate::rng;

use super::arp::ArpCache;
use super::routing::{Nexthop, Route};
use super::stack::{IpStack, L3Iface};
use super::switch::MacTable;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostIfaceKind {
    /// Sends and receives on `ports[port]`.
    Physical { port: u16 },
    /// 802.1Q sub-interface: frames leave tagged `vid` through the parent's port.
    Vlan { parent: usize, vid: u16 },
    /// A dummy device: holds addresses, sends nothing (Linux `dummy`, `NOARP`).
    Dummy,
}

pub struct HostRt {
    /// Shared, so that each stack call can name its device without a copy.
    pub(super) name: std::sync::Arc<str>,
    pub(super) role: HostRole,
    pub(super) powered: bool,
    /// Per interface (same index as `stack.ifaces`): how it reaches a wire.
    pub(super) iface_kinds: Vec<HostIfaceKind>,
    /// Port index → interface index.
    pub(super) ports: Vec<usize>,
    /// Administrative state per interface (`ip link set down`).
    pub(super) admin_up: Vec<bool>,
    pub(super) stack: IpStack,
    /// Static routes from the topology, re-applied after a power cycle.
    pub(super) static_routes: Vec<Route>,
}

pub struct SwitchPortRt {
    pub(super) name: String,
    pub(super) vlan: VlanMode,
}

pub struct SwitchRt {
    pub(super) name: std::sync::Arc<str>,
    pub(super) powered: bool,
    pub(super) ports: Vec<SwitchPortRt>,
    pub(super) macs: MacTable,
    /// The L3 part, if the switch has SVIs; interface i is SVI `svi_vlans[i]`.
    pub(super) l3: Option<IpStack>,
    pub(super) svi_vlans: Vec<u16>,
    pub(super) static_routes: Vec<Route>,
    pub(super) bfd: bool,
}

impl HostRt {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Node, Pod, router or external host.
    pub fn role(&self) -> &HostRole {
        &self.role
    }
    pub fn stack(&self) -> &IpStack {
        &self.stack
    }
}

impl SwitchPortRt {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn vlan(&self) -> &VlanMode {
        &self.vlan
    }
}

impl SwitchRt {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn ports(&self) -> &[SwitchPortRt] {
        &self.ports
    }
    /// The MAC address table (read it with [`MacTable::rows`]).
    pub fn macs(&self) -> &MacTable {
        &self.macs
    }
    /// The L3 part, if the switch has SVIs.
    pub fn l3(&self) -> Option<&IpStack> {
        self.l3.as_ref()
    }
}

pub enum DeviceRt {
    Host(HostRt),
    Switch(SwitchRt),
}

impl DeviceRt {
    pub fn name(&self) -> &str {
        self.shared_name()
    }
    /// [`DeviceRt::name`] as the allocation the device keeps.
    pub(super) fn shared_name(&self) -> &std::sync::Arc<str> {
        match self {
            DeviceRt::Host(h) => &h.name,
            DeviceRt::Switch(s) => &s.name,
        }
    }
    pub fn powered(&self) -> bool {
        match self {
            DeviceRt::Host(h) => h.powered,
            DeviceRt::Switch(s) => s.powered,
        }
    }
    pub fn stack(&self) -> Option<&IpStack> {
        match self {
            DeviceRt::Host(h) => Some(&h.stack),
            DeviceRt::Switch(s) => s.l3.as_ref(),
        }
    }
    pub(super) fn stack_mut(&mut self) -> Option<&mut IpStack> {
        match self {
            DeviceRt::Host(h) => Some(&mut h.stack),
            DeviceRt::Switch(s) => s.l3.as_mut(),
        }
    }
    /// The device's name beside its IP stack, borrowed together (no copy
    /// of the name for the stack's context).
    pub(super) fn name_and_stack_mut(&mut self) -> (&str, Option<&mut IpStack>) {
        match self {
            DeviceRt::Host(h) => (&h.name, Some(&mut h.stack)),
            DeviceRt::Switch(s) => (&s.name, s.l3.as_mut()),
        }
    }
    /// Every MAC address the device owns (a powered-off device still "owns" them).
    pub fn owns_mac(&self, mac: MacAddr) -> bool {
        self.stack()
            .is_some_and(|s| s.ifaces.iter().any(|i| i.mac == mac))
    }
}

/// Resolves a topology route (interface names) into a running route: each
/// next hop leaves by its `dev`, else by the interface whose subnet holds its
/// gateway. `None` when an interface is missing or no subnet holds a gateway.
pub fn resolve_route(
    spec: &crate::model::RouteSpec,
    ifaces: &[L3Iface],
    origin: &'static str,
) -> Option<Route> {
    let dev_of = |dev: &Option<String>, via: Option<std::net::Ipv4Addr>| match dev {
        Some(name) => ifaces.iter().position(|i| &i.name == name),
        None => {
            let via = via?;
            ifaces
                .iter()
                .position(|i| i.addrs.iter().any(|a| a.contains(&via)))
        }
    };
    let nexthops = if spec.nexthops.is_empty() {
        vec![Nexthop {
            via: spec.via,
            dev: dev_of(&spec.dev, spec.via)?,
            weight: 1,
        }]
    } else {
        spec.nexthops
            .iter()
            .map(|n| {
                Some(Nexthop {
                    via: Some(n.via),
                    dev: dev_of(&n.dev, Some(n.via))?,
                    weight: n.weight,
                })
            })
            .collect::<Option<Vec<_>>>()?
    };
    Some(Route {
        dst: spec.dst,
        nexthops,
        metric: spec.metric,
        table: spec.table,
        origin,
    })
}

/// The device's multipath hash seed: the kernel draws one at random per
/// network namespace; ours comes from the run's seed and the device's name.
fn multipath_seed(master_seed: u64, name: &str) -> u64 {
    rng::stream_seed(master_seed, &format!("multipath/{name}"))
}

pub fn build_host(name: &str, spec: &HostSpec, master_seed: u64) -> HostRt {
    let mut ifaces = Vec::new();
    let mut kinds = Vec::new();
    let mut ports = Vec::new();
    for (i, ifc) in spec.interfaces.iter().enumerate() {
        ifaces.push(L3Iface {
            name: ifc.name.clone(),
            mac: ifc.mac,
            addrs: ifc.addrs.clone(),
            up: true,
            has_link: true,
            mtu: crate::sim::stack::ETHERNET_MTU,
        });
        match &ifc.kind {
            IfaceKind::Physical => {
                kinds.push(HostIfaceKind::Physical {
                    port: ports.len() as u16,
                });
                ports.push(i);
            }
            IfaceKind::Vlan { parent, vid } => {
                let parent = spec
                    .iface_index(parent)
                    .expect("topology loader checked VLAN parents");
                kinds.push(HostIfaceKind::Vlan { parent, vid: *vid });
            }
        }
    }
    let arp = ArpCache::new(
        spec.arp.clone(),
        rng::stream(master_seed, &format!("arp/{name}")),
    );
    let mut stack = IpStack::new(ifaces, arp, spec.ip_forward, true);
    stack.tcp_listen = spec.tcp_listen.clone();
    stack
        .routes
        .set_ecmp(spec.ecmp, multipath_seed(master_seed, name));
    let static_routes: Vec<Route> = spec
        .routes
        .iter()
        .filter_map(|r| resolve_route(r, &stack.ifaces, "static"))
        .collect();
    for r in &static_routes {
        stack.routes.add_route(r.clone());
    }
    for rule in &spec.rules {
        stack.routes.add_rule(rule.clone());
    }
    let n = stack.ifaces.len();
    HostRt {
        name: name.into(),
        role: spec.role.clone(),
        powered: true,
        iface_kinds: kinds,
        ports,
        admin_up: vec![true; n],
        stack,
        static_routes,
    }
}

pub fn build_switch(name: &str, spec: &SwitchSpec, master_seed: u64) -> SwitchRt {
    let ports = spec
        .ports
        .iter()
        .map(|p| SwitchPortRt {
            name: p.name.clone(),
            vlan: p.vlan.clone(),
        })
        .collect();
    let (l3, svi_vlans, static_routes) = if spec.svis.is_empty() {
        (None, Vec::new(), Vec::new())
    } else {
        let ifaces: Vec<L3Iface> = spec
            .svis
            .iter()
            .map(|s| L3Iface {
                name: s.name.clone(),
                mac: s.mac,
                addrs: vec![s.addr],
                up: true,
                has_link: true,
                mtu: crate::sim::stack::ETHERNET_MTU,
            })
            .collect();
        let policy = match &spec.arp {
            ArpPolicy::Linux => ArpPolicy::Linux,
            fixed => fixed.clone(),
        };
        let arp = ArpCache::new(policy, rng::stream(master_seed, &format!("arp/{name}")));
        // A switch answers ARP only for the SVI address on that SVI.
        let mut stack = IpStack::new(ifaces, arp, true, false);
        stack
            .routes
            .set_ecmp(spec.ecmp, multipath_seed(master_seed, name));
        let routes: Vec<Route> = spec
            .routes
            .iter()
            .filter_map(|r| resolve_route(r, &stack.ifaces, "static"))
            .collect();
        for r in &routes {
            stack.routes.add_route(r.clone());
        }
        (
            Some(stack),
            spec.svis.iter().map(|s| s.vlan).collect(),
            routes,
        )
    };
    SwitchRt {
        name: name.into(),
        powered: true,
        ports,
        macs: MacTable::new(spec.mac_aging),
        l3,
        svi_vlans,
        static_routes,
        bfd: spec.bfd,
    }
}
