use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::engine::dataplane::BrIntMode;
use sim_core::model::{
    ArpPolicy, DeviceKind, HostRole, IfaceKind, MacAddr, RouteSpec, Topology, VlanMode,
};

use super::routes::{Multipath, StaticRoutes};
use crate::ovs::{Ovs, OvsError};
use crate::state::{Resource, RunState};
use crate::sys::{self, SysError};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Ovs(#[from] OvsError),
    #[error("state file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Unsupported(String),
}

/// Where one host interface is plugged in.
#[derive(Clone, Debug)]
struct SwitchAttach {
    bridge: String,
    port: String,
    mode: VlanMode,
}

/// A Pod's namespace and its ports.
#[derive(Clone, Debug)]
pub struct PodLeg {
    pub netns: String,
    pub node: String,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// The br-int end of its veth: in the switch namespace with the shared
    /// OVS, in the node's namespace with the node's own (`node_switches`).
    pub root_link: String,
    pub ofport: u32,
}

/// How a Pod is plugged in: the engine's MAC and br-int ofport for it
/// (`sim_core::engine::pipeline::from_cluster`), and its interface MTU.
#[derive(Clone, Copy, Debug)]
pub struct PodPlug {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub mac: MacAddr,
    pub ofport: u32,
    pub mtu: u16,
}

/// A node's own Open vSwitch (`options.brInt: pipeline`, module docs): its
/// daemons in the node's namespace, br-int, and the physical bridge named
/// after the interface that holds the node IP.
pub struct NodeSwitch {
    pub ovs: Ovs,
    /// The physical bridge: its internal port carries the node's
    /// interface name, MAC and addresses.
    pub phy: String,
    /// The node's end of the underlay veth, the physical bridge's uplink.
    pub uplink: String,
}

/// The bridge Antrea's agent names br-int, and its tunnel port (at
/// Antrea's fixed ofports, as in `crate::oftrace::bridge`).
pub const BR_INT: &str = "br-int";

/// `ovs-vsctl` words that add an empty br-int on the userspace datapath,
/// speaking the OpenFlow versions Antrea's agent uses (a node's and an
/// ExternalNode VM's alike).
pub(super) const ADD_BR_INT: [&str; 8] = [
    "add-br",
    BR_INT,
    "--",
    "set",
    "bridge",
    BR_INT,
    "datapath_type=netdev",
    "protocols=OpenFlow10,OpenFlow13,OpenFlow15",
];
const TUNNEL_PORT: &str = "antrea-tun0";
use crate::oftrace::bridge::{GATEWAY_OFPORT, TUNNEL_OFPORT};

/// A node's Antrea bridge (br-int) and gateway.
#[derive(Clone, Debug)]
pub struct IntBridge {
    pub bridge: String,
    pub gw_link: String,
    pub gw_ofport: u32,
    pub gw_mac: MacAddr,
    pub gw_ip: Ipv4Addr,
}

pub struct Lab {
    pub state: RunState,
    pub ovs: Ovs,
    pub topology: Topology,
    /// Host or SVI-switch name → its namespace.
    pub netns: BTreeMap<String, String>,
    /// (device, iface) → the root-namespace end of its veth, if plugged into
    /// a switch, or the peer namespace's end for a host-to-host link.
    pub iface_link: BTreeMap<(String, String), String>,
    /// The switch a (device, iface) is plugged into.
    attach: BTreeMap<(String, String), SwitchAttach>,
    /// Root links (or namespace ends) a power-off takes down, per host.
    power_links: BTreeMap<String, Vec<(Option<String>, String)>>,
    pub int_bridges: BTreeMap<String, IntBridge>,
    /// What br-int is: a switch on the shared OVS, or Antrea's program on
    /// each node's own OVS (`node_switches`).
    pub br_int: BrIntMode,
    /// Node → its own OVS, in pipeline mode.
    pub node_switches: BTreeMap<String, NodeSwitch>,
    /// ExternalNode VM → its agent's OVS (`external_node`).
    pub(super) ext_nodes: BTreeMap<String, super::external_node::ExtNodeSwitch>,
    /// (node, name) of the dummy devices made on nodes' own OVS.
    dummies: std::collections::BTreeSet<(String, String)>,
    /// `namespace/name` → leg.
    pub pods: BTreeMap<String, PodLeg>,
    /// (node, vid) → root end of its `antrea-ext.<vid>` leg.
    pub ext_legs: BTreeMap<(String, u16), String>,
    /// `switch/port` → (bridge, switch-side link) for link up/down and MAC
    /// tables (two switches may both have a port `p1`).
    pub switch_ports: BTreeMap<String, (String, String)>,
    /// Root end of an `antrea-ext` leg → the switch port of its parent
    /// interface: in the topology the leg's frames cross that port, tagged.
    pub leg_port: BTreeMap<String, String>,
    /// Root link → its OpenFlow port number (see [`Lab::plug`]).
    pub ofports: BTreeMap<String, u32>,
    /// Last OpenFlow port number handed out per bridge.
    next_ofport: BTreeMap<String, u32>,
    /// Switch name → its OVS bridge.
    pub bridges: BTreeMap<String, String>,
    next_link: u32,
    next_pod: u32,
    pub powered_off: Vec<String>,
    /// Each router's, host's and SVI namespace's static routes.
    static_routes: BTreeMap<String, StaticRoutes>,
    /// Leave the lab up when this value goes (`antlab real up`).
    pub keep: bool,
    removed: bool,
}

impl Drop for Lab {
    /// A panic unwinding through the run removes the lab too.
    fn drop(&mut self) {
        if !self.keep && !self.removed {
            self.down();
        }
    }
}

fn ns_of(prefix: &str, device: &str) -> String {
    format!("{prefix}{device}")
}

/// Gives a namespace's interfaces the topology's ARP policy. `linux` keeps
/// the kernel's timers (REACHABLE for 15-45 s, then re-confirmed on use);
/// `fixed T` (a router's or switch's table, the simulator's default for
/// switches) keeps an entry REACHABLE for at least T/2, so within a scenario
/// it is never re-probed and never fails, as in the simulator, while a
/// gratuitous ARP still replaces it (Linux overrides an entry after its 1 s
/// locktime). Per interface: a namespace other than the first has no
/// `neigh/default` to inherit from.
fn set_arp_policy(ns: &str, ifaces: &[&str], policy: &ArpPolicy) -> Result<(), SysError> {
    let ArpPolicy::Fixed { timeout } = policy else {
        return Ok(());
    };
    let ms = (timeout.0 / 1_000_000).clamp(1_000, i32::MAX as u64);
    // The `/` form, so an interface name with a `.` stays one component.
    let keys: Vec<String> = ifaces
        .iter()
        .map(|i| format!("net/ipv4/neigh/{i}/base_reachable_time_ms={ms}"))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let mut args = vec!["-qw"];
    args.extend(keys.iter().map(String::as_str));
    sys::in_ns(ns, "sysctl", &args).map(|_| ())
}

/// A host's own port: its native VLAN (untagged) only; the tagged VLANs of
/// a trunk get their own legs on demand (no 802.1Q in this kernel).
fn host_port_settings(mode: &VlanMode) -> Vec<String> {
    match mode {
        VlanMode::Trunk {
            native: Some(n), ..
        } => vec![format!("tag={n}")],
        VlanMode::Trunk { native: None, .. } => vec!["tag=4095".to_string()],
        m => vlan_settings(m),
    }
}

fn vlan_settings(mode: &VlanMode) -> Vec<String> {
    match mode {
        VlanMode::Access(v) => vec![format!("tag={v}")],
        VlanMode::Trunk { native, allowed } => {
            let mut all: Vec<u16> = allowed.clone();
            let mut s = Vec::new();
            if let Some(n) = native {
                if !all.contains(n) {
                    all.push(*n);
                }
                s.push(format!("tag={n}"));
                s.push("vlan_mode=native-untagged".into());
            }
            all.sort_unstable();
            let list: Vec<String> = all.iter().map(u16::to_string).collect();
            s.push(format!("trunks={}", list.join(",")));
            s
        }
    }
}

/// The name of the node's end of its underlay veth once the interface's
/// own name belongs to the physical bridge (`phy-eth0`).
fn uplink_name(iface: &str) -> String {
    let mut n = format!("phy-{iface}");
    n.truncate(15);
    n
}

/// Keeps a node's kernel away from an interface that is only an OVS port
/// (a Pod's veth end, the physical bridge's uplink). The kernel datapath
/// takes such frames before the IP stack sees them; with the userspace
/// datapath the stack sees them too, so it would answer ARP for the node's
/// addresses with the port's own MAC and route what is sent to it. Seen:
/// a Pod that learnt its gateway at the veth's MAC had its pings forwarded
/// by the node's kernel into antrea-gw0 and committed by br-int as
/// gateway traffic. `arp_ignore=8`: never answer ARP on it;
/// `forwarding=0`: never route what arrives on it; no IPv6 on it.
pub(super) fn quiet_port(ns: &str, iface: &str) -> Result<(), SysError> {
    sys::in_ns(
        ns,
        "sysctl",
        &[
            "-qw",
            &format!("net/ipv4/conf/{iface}/arp_ignore=8"),
            &format!("net/ipv4/conf/{iface}/forwarding=0"),
            &format!("net/ipv6/conf/{iface}/disable_ipv6=1"),
        ],
    )
    .map(|_| ())
}

impl Lab {
    /// Builds every namespace, veth, bridge and port of `topology`, with
    /// br-int as a switch.
    pub fn up(topology: &Topology, source: &str) -> Result<Lab, LabError> {
        Lab::up_with(topology, source, BrIntMode::Switch)
    }

    /// Builds the lab with br-int as `br_int` says (module docs).
    pub fn up_with(topology: &Topology, source: &str, br_int: BrIntMode) -> Result<Lab, LabError> {
        let mut state = RunState::create(source)?;
        let ovs = match Ovs::start(&mut state) {
            Ok(o) => o,
            Err(e) => {
                crate::cleanup::down(&state);
                return Err(e.into());
            }
        };
        let mut lab = Lab {
            state,
            ovs,
            topology: topology.clone(),
            netns: BTreeMap::new(),
            iface_link: BTreeMap::new(),
            attach: BTreeMap::new(),
            power_links: BTreeMap::new(),
            int_bridges: BTreeMap::new(),
            br_int,
            node_switches: BTreeMap::new(),
            ext_nodes: BTreeMap::new(),
            dummies: Default::default(),
            pods: BTreeMap::new(),
            ext_legs: BTreeMap::new(),
            switch_ports: BTreeMap::new(),
            bridges: BTreeMap::new(),
            leg_port: BTreeMap::new(),
            ofports: BTreeMap::new(),
            next_ofport: BTreeMap::new(),
            next_link: 0,
            next_pod: 0,
            powered_off: Vec::new(),
            static_routes: BTreeMap::new(),
            keep: false,
            removed: false,
        };
        if let Err(e) = lab.build() {
            lab.down();
            return Err(e);
        }
        Ok(lab)
    }

    pub fn prefix(&self) -> String {
        self.state.prefix()
    }

    /// Removes everything this lab made.
    pub fn down(&mut self) -> crate::cleanup::Cleanup {
        self.removed = true;
        crate::cleanup::down(&self.state)
    }

    /// `ip -n <switch namespace> ARGS`: where the switch-side veth ends are.
    fn switch_ip(&self, args: &[&str]) -> Result<String, SysError> {
        let mut all = vec!["-n", self.ovs.netns()];
        all.extend_from_slice(args);
        sys::run("ip", &all)
    }

    fn new_link_name(&mut self) -> String {
        self.next_link += 1;
        format!("{}{}", self.prefix(), self.next_link)
    }

    /// Plugs root link `link` into `bridge` with the next port number.
    fn plug(&mut self, bridge: &str, link: &str, settings: &[String]) -> Result<u32, LabError> {
        let n = self.next_ofport.entry(bridge.to_string()).or_insert(0);
        *n += 1;
        let ofport = *n;
        self.ovs.add_port(bridge, link, ofport, settings)?;
        self.ofports.insert(link.to_string(), ofport);
        Ok(ofport)
    }

    fn add_netns(&mut self, device: &str) -> Result<String, LabError> {
        let ns = ns_of(&self.prefix(), device);
        self.state.record(Resource::Netns { name: ns.clone() })?;
        sys::run("ip", &["netns", "add", &ns])?;
        sys::ip_batch(Some(&ns), &["link set lo up".to_string()])?;
        self.netns.insert(device.to_string(), ns.clone());
        Ok(ns)
    }

    /// A veth with one end `inner` in `ns` (MAC set, up, checksum offload off
    /// because OVS's userspace conntrack drops TCP with partial checksums)
    /// and the other end up in the switch namespace; returns that end.
    fn veth_to_root(
        &mut self,
        ns: &str,
        inner: &str,
        mac: Option<MacAddr>,
    ) -> Result<String, LabError> {
        let root = self.new_link_name();
        self.state.record(Resource::Link { name: root.clone() })?;
        self.switch_ip(&[
            "link", "add", "name", &root, "type", "veth", "peer", "name", inner, "netns", ns,
        ])?;
        let mut cmds = Vec::new();
        if let Some(m) = mac {
            cmds.push(format!("link set dev {inner} address {m}"));
        }
        cmds.push(format!("link set dev {inner} up"));
        sys::ip_batch(Some(ns), &cmds)?;
        self.switch_ip(&["link", "set", "dev", &root, "up"])?;
        sys::in_ns(ns, "ethtool", &["-K", inner, "tx", "off"])?;
        Ok(root)
    }

    fn build(&mut self) -> Result<(), LabError> {
        let topo = self.topology.clone();
        // Bridges for switches first, so ports can be added as hosts come.
        let mut bridge_of = BTreeMap::new();
        for (i, d) in topo.devices.iter().enumerate() {
            if let DeviceKind::Switch(_) = &d.kind {
                let br = format!("{}s{i}", self.prefix());
                // A netdev bridge's own port is a tap of the same name, which
                // outlives a killed ovs-vswitchd: record it as a link.
                self.state.record(Resource::Link { name: br.clone() })?;
                self.ovs.add_bridge(&br)?;
                bridge_of.insert(d.name.clone(), br);
            }
        }
        self.bridges = bridge_of.clone();
        // Hosts: a namespace each, interfaces wired below by link.
        for d in &topo.devices {
            if let DeviceKind::Host(h) = &d.kind {
                if matches!(h.role, HostRole::Pod { .. }) {
                    continue;
                }
                let ns = self.add_netns(&d.name)?;
                let fwd = if h.ip_forward { "1" } else { "0" };
                let multipath = self.multipath_of(&d.name);
                let fwd = format!("net.ipv4.ip_forward={fwd}");
                let hash = format!(
                    "net.ipv4.fib_multipath_hash_policy={}",
                    multipath.hash_policy()
                );
                let mut sysctls = vec![
                    "-qw",
                    fwd.as_str(),
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                    hash.as_str(),
                ];
                if matches!(h.role, HostRole::Node(_)) {
                    // A gratuitous ARP for a proxy-ARP address
                    // (`apply::Responder::Proxy`) binds to it.
                    sysctls.push("net.ipv4.ip_nonlocal_bind=1");
                }
                sys::in_ns(&ns, "sysctl", &sysctls)?;
                if self.br_int == BrIntMode::Pipeline && matches!(h.role, HostRole::Node(_)) {
                    self.start_node_switch(&d.name, h)?;
                }
            }
        }
        // Links: host-switch, switch-switch, host-host.
        for link in &topo.links {
            let (da, db) = (topo.device(link.a.device), topo.device(link.b.device));
            let end = |d: &sim_core::model::Device,
                       port: u16|
             -> (String, Option<VlanMode>, Option<String>) {
                match &d.kind {
                    DeviceKind::Host(h) => (h.interfaces[port as usize].name.clone(), None, None),
                    DeviceKind::Switch(s) => {
                        let p = &s.ports[port as usize];
                        (p.name.clone(), Some(p.vlan.clone()), Some(d.name.clone()))
                    }
                }
            };
            let (na, ma, sa) = end(da, link.a.port);
            let (nb, mb, sb) = end(db, link.b.port);
            match (ma, mb) {
                (None, None) => self.host_to_host(&da.name, &na, &db.name, &nb)?,
                (Some(mode), None) => {
                    let br = bridge_of[sa.as_deref().unwrap_or("")].clone();
                    let port = format!("{}/{na}", sa.as_deref().unwrap_or(""));
                    self.host_to_switch(&db.name, &nb, &br, &port, mode)?
                }
                (None, Some(mode)) => {
                    let br = bridge_of[sb.as_deref().unwrap_or("")].clone();
                    let port = format!("{}/{nb}", sb.as_deref().unwrap_or(""));
                    self.host_to_switch(&da.name, &na, &br, &port, mode)?
                }
                (Some(m1), Some(m2)) => {
                    let b1 = bridge_of[sa.as_deref().unwrap_or("")].clone();
                    let b2 = bridge_of[sb.as_deref().unwrap_or("")].clone();
                    let l1 = self.new_link_name();
                    let l2 = self.new_link_name();
                    self.state.record(Resource::Link { name: l1.clone() })?;
                    self.state.record(Resource::Link { name: l2.clone() })?;
                    self.switch_ip(&[
                        "link", "add", "name", &l1, "type", "veth", "peer", "name", &l2,
                    ])?;
                    self.switch_ip(&["link", "set", "dev", &l1, "up"])?;
                    self.switch_ip(&["link", "set", "dev", &l2, "up"])?;
                    self.plug(&b1, &l1, &vlan_settings(&m1))?;
                    self.plug(&b2, &l2, &vlan_settings(&m2))?;
                    let (sa, sb) = (sa.unwrap_or_default(), sb.unwrap_or_default());
                    self.switch_ports.insert(format!("{sa}/{na}"), (b1, l1));
                    self.switch_ports.insert(format!("{sb}/{nb}"), (b2, l2));
                }
            }
        }
        // SVIs: one namespace per L3 switch, a leg per VLAN.
        for d in &topo.devices {
            if let DeviceKind::Switch(s) = &d.kind
                && !s.svis.is_empty()
            {
                let ns = self.add_netns(&d.name)?;
                let hash = format!(
                    "net.ipv4.fib_multipath_hash_policy={}",
                    self.multipath_of(&d.name).hash_policy()
                );
                sys::in_ns(
                    &ns,
                    "sysctl",
                    &[
                        "-qw",
                        &hash,
                        "net.ipv4.ip_forward=1",
                        "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.conf.default.rp_filter=0",
                        // An SVI answers ARP only for its own VLAN's address,
                        // as a switch does (Linux would answer for any).
                        "net.ipv4.conf.all.arp_ignore=1",
                    ],
                )?;
                let br = bridge_of[&d.name].clone();
                for svi in &s.svis {
                    let root = self.veth_to_root(&ns, &svi.name, Some(svi.mac))?;
                    self.plug(&br, &root, &[format!("tag={}", svi.vlan)])?;
                    sys::ip_batch(
                        Some(&ns),
                        &[format!("addr add {} dev {}", svi.addr, svi.name)],
                    )?;
                    self.iface_link
                        .insert((d.name.clone(), svi.name.clone()), root);
                }
                let svis: Vec<&str> = s.svis.iter().map(|v| v.name.as_str()).collect();
                set_arp_policy(&ns, &svis, &s.arp)?;
                let routes = self.static_route_cmds(&d.name, &s.routes);
                sys::ip_batch(Some(&ns), &routes)?;
            }
        }
        // Addresses, routes and rules of hosts, now that interfaces exist.
        for d in &topo.devices {
            if let DeviceKind::Host(h) = &d.kind {
                if matches!(h.role, HostRole::Pod { .. }) {
                    continue;
                }
                let ns = self.netns[&d.name].clone();
                let mut cmds = Vec::new();
                if let Some(sw) = self.node_switches.get(&d.name) {
                    // The physical bridge's internal port: up before its
                    // addresses and the routes through it.
                    cmds.push(format!("link set dev {} up", sw.phy));
                }
                for i in &h.interfaces {
                    if let IfaceKind::Vlan { .. } = i.kind {
                        return Err(LabError::Unsupported(format!(
                            "{}: VLAN sub-interface {} in the topology: real mode has no 802.1Q devices; Antrea's antrea-ext legs are made at run time instead",
                            d.name, i.name
                        )));
                    }
                    if !self
                        .iface_link
                        .contains_key(&(d.name.clone(), i.name.clone()))
                    {
                        return Err(LabError::Unsupported(format!(
                            "{}/{} is not connected to anything",
                            d.name, i.name
                        )));
                    }
                    for a in &i.addrs {
                        cmds.push(format!("addr add {a} dev {}", i.name));
                    }
                }
                cmds.extend(self.static_route_cmds(&d.name, &h.routes));
                let names: Vec<&str> = h.interfaces.iter().map(|i| i.name.as_str()).collect();
                set_arp_policy(&ns, &names, &h.arp)?;
                for r in &h.rules {
                    let mut c = format!("rule add pref {}", r.priority);
                    if let Some((v, m)) = r.fwmark {
                        c.push_str(&format!(" fwmark {v:#x}/{m:#x}"));
                    }
                    if let Some(f) = r.from {
                        c.push_str(&format!(" from {f}"));
                    }
                    c.push_str(&format!(" lookup {}", r.table));
                    cmds.push(c);
                }
                sys::ip_batch(Some(&ns), &cmds)?;
                if let HostRole::Node(spec) = &h.role {
                    self.add_int_bridge(&d.name, spec.pod_cidr)?;
                }
            }
        }
        let nodes: Vec<String> = self.node_switches.keys().cloned().collect();
        for node in nodes {
            self.prime_tunnel_neighbours(&node)?;
        }
        Ok(())
    }

    /// Pipeline mode: tells `node`'s OVS the MACs of the addresses its
    /// tunnels' outer packets go to first — every address on the subnets of
    /// its physical bridge (peer nodes, its gateways) — as the topology
    /// states them. The kernel datapath would resolve a missing neighbour
    /// by queueing the packet behind an ARP request; OVS's userspace
    /// tunnels drop it and ask, so the first packet to each peer would be
    /// lost for real and not in the simulator (seen: a ClusterIP probe's
    /// first attempt). OVS still learns and replaces entries from what it
    /// sees, as before.
    fn prime_tunnel_neighbours(&mut self, node: &str) -> Result<(), LabError> {
        let Some(sw) = self.node_switches.get(node) else {
            return Ok(());
        };
        let Some(id) = self.topology.device_id(node) else {
            return Ok(());
        };
        let Some(host) = self.topology.host(id) else {
            return Ok(());
        };
        let subnets: Vec<Ipv4Net> = host
            .interfaces
            .iter()
            .filter(|i| i.name == sw.phy)
            .flat_map(|i| i.addrs.iter().map(|a| a.trunc()))
            .collect();
        let mut neighbours: BTreeMap<Ipv4Addr, MacAddr> = BTreeMap::new();
        for d in &self.topology.devices {
            let owned: Vec<(Ipv4Addr, MacAddr)> = match &d.kind {
                DeviceKind::Host(h) if d.name != node => h
                    .interfaces
                    .iter()
                    .flat_map(|i| i.addrs.iter().map(move |a| (a.addr(), i.mac)))
                    .collect(),
                DeviceKind::Switch(s) => s.svis.iter().map(|v| (v.addr.addr(), v.mac)).collect(),
                DeviceKind::Host(_) => Vec::new(),
            };
            for (ip, mac) in owned {
                if subnets.iter().any(|n| n.contains(&ip)) {
                    neighbours.insert(ip, mac);
                }
            }
        }
        for (ip, mac) in neighbours {
            sw.ovs
                .appctl(&["tnl/neigh/set", &sw.phy, &ip.to_string(), &mac.to_string()])?;
        }
        Ok(())
    }

    /// Every Kubernetes node's address (its first interface address), the
    /// next hop that reaches it on the node network.
    pub fn node_addrs(&self) -> crate::dsr::NodeAddrs {
        self.topology
            .devices
            .iter()
            .filter_map(|d| match &d.kind {
                DeviceKind::Host(h) if matches!(h.role, HostRole::Node(_)) => h
                    .interfaces
                    .iter()
                    .flat_map(|i| &i.addrs)
                    .next()
                    .map(|a| (d.name.clone(), a.addr())),
                _ => None,
            })
            .collect()
    }

    /// How `device` shares flows among equal routes (see `routes`).
    fn multipath_of(&self, device: &str) -> Multipath {
        let policy = self
            .topology
            .device_id(device)
            .map(|id| match &self.topology.device(id).kind {
                DeviceKind::Host(h) => h.ecmp,
                DeviceKind::Switch(s) => s.ecmp,
            })
            .unwrap_or_default();
        Multipath::of(policy)
    }

    /// Records a device's topology routes and returns the commands.
    fn static_route_cmds(&mut self, device: &str, routes: &[RouteSpec]) -> Vec<String> {
        let policy = self.multipath_of(device);
        let table = self
            .static_routes
            .entry(device.to_string())
            .or_insert_with(|| StaticRoutes::new(policy));
        routes.iter().flat_map(|r| table.add(r)).collect()
    }

    /// A scenario's `route:` step on `device`, translated (see `routes`).
    pub fn change_route(
        &mut self,
        device: &str,
        add: bool,
        route: &RouteSpec,
    ) -> Result<Vec<String>, LabError> {
        let ns = self.netns.get(device).cloned().ok_or_else(|| {
            LabError::Unsupported(format!("{device} has no namespace to route in"))
        })?;
        let policy = self.multipath_of(device);
        let table = self
            .static_routes
            .entry(device.to_string())
            .or_insert_with(|| StaticRoutes::new(policy));
        let cmds = if add {
            table.add(route)
        } else {
            table.del(route)
        };
        sys::ip_batch(Some(&ns), &cmds)?;
        Ok(cmds)
    }

    /// BFD's verdict on `via` for `device`'s static routes; the commands run.
    pub fn set_next_hop_up(
        &mut self,
        device: &str,
        via: std::net::Ipv4Addr,
        up: bool,
    ) -> Result<Vec<String>, LabError> {
        let (Some(ns), Some(table)) = (
            self.netns.get(device).cloned(),
            self.static_routes.get_mut(device),
        ) else {
            return Ok(Vec::new());
        };
        let cmds = table.set_next_hop_up(via, up);
        sys::ip_batch(Some(&ns), &cmds)?;
        Ok(cmds)
    }

    /// The gateways of `device`'s static routes (BFD's peers).
    pub fn static_next_hops(&self, device: &str) -> Vec<std::net::Ipv4Addr> {
        self.static_routes
            .get(device)
            .map(|t| t.next_hops())
            .unwrap_or_default()
    }

    fn host_to_host(&mut self, a: &str, ia: &str, b: &str, ib: &str) -> Result<(), LabError> {
        for (dev, i) in [(a, ia), (b, ib)] {
            if self.node_switches.get(dev).is_some_and(|s| s.phy == i) {
                return Err(LabError::Unsupported(format!(
                    "{dev}/{i} holds the node IP and is cabled straight to another host: with options.brInt: pipeline real mode needs it on a switch (its physical bridge's uplink)"
                )));
            }
        }
        let (nsa, nsb) = (self.netns[a].clone(), self.netns[b].clone());
        let (ta, tb) = (self.new_link_name(), self.new_link_name());
        self.state.record(Resource::Link { name: ta.clone() })?;
        self.state.record(Resource::Link { name: tb.clone() })?;
        self.switch_ip(&[
            "link", "add", "name", &ta, "type", "veth", "peer", "name", &tb,
        ])?;
        self.switch_ip(&["link", "set", "dev", &ta, "netns", &nsa, "name", ia])?;
        self.switch_ip(&["link", "set", "dev", &tb, "netns", &nsb, "name", ib])?;
        for (dev, ns, i) in [(a, &nsa, ia), (b, &nsb, ib)] {
            let mac = self.host_mac(dev, i);
            let mut cmds = Vec::new();
            if let Some(m) = mac {
                cmds.push(format!("link set dev {i} address {m}"));
            }
            cmds.push(format!("link set dev {i} up"));
            sys::ip_batch(Some(ns), &cmds)?;
            sys::in_ns(ns, "ethtool", &["-K", i, "tx", "off"])?;
        }
        self.iface_link
            .insert((a.into(), ia.into()), format!("{nsb}:{ib}"));
        self.iface_link
            .insert((b.into(), ib.into()), format!("{nsa}:{ia}"));
        self.power_links
            .entry(a.into())
            .or_default()
            .push((Some(nsa.clone()), ia.into()));
        self.power_links
            .entry(b.into())
            .or_default()
            .push((Some(nsb.clone()), ib.into()));
        Ok(())
    }

    fn host_mac(&self, dev: &str, iface: &str) -> Option<MacAddr> {
        let id = self.topology.device_id(dev)?;
        let h = self.topology.host(id)?;
        h.interfaces.iter().find(|i| i.name == iface).map(|i| i.mac)
    }

    fn host_to_switch(
        &mut self,
        host: &str,
        iface: &str,
        bridge: &str,
        port: &str,
        mode: VlanMode,
    ) -> Result<(), LabError> {
        // `port` is `switch/port`.
        let ns = self.netns[host].clone();
        let root = match self.node_switches.get(host).filter(|s| s.phy == iface) {
            // Pipeline mode: the veth is the physical bridge's uplink, and
            // the node tags frames itself (its `antrea-ext` legs are ports
            // of that bridge), so the switch port is the topology's, trunk
            // and all.
            Some(sw) => {
                let uplink = sw.uplink.clone();
                let root = self.veth_to_root(&ns, &uplink, None)?;
                quiet_port(&ns, &uplink)?;
                self.node_switches[host]
                    .ovs
                    .vsctl(&["add-port", iface, &uplink])?;
                self.plug(bridge, &root, &vlan_settings(&mode))?;
                root
            }
            None => {
                let mac = self.host_mac(host, iface);
                let root = self.veth_to_root(&ns, iface, mac)?;
                // A trunk to a host carries its native VLAN on eth0; the
                // tagged VLANs get their own legs on demand (no 802.1Q in
                // this kernel).
                self.plug(bridge, &root, &host_port_settings(&mode))?;
                root
            }
        };
        self.iface_link
            .insert((host.into(), iface.into()), root.clone());
        self.switch_ports
            .insert(port.into(), (bridge.into(), root.clone()));
        self.attach.insert(
            (host.into(), iface.into()),
            SwitchAttach {
                bridge: bridge.into(),
                port: port.into(),
                mode,
            },
        );
        self.power_links
            .entry(host.into())
            .or_default()
            .push((None, root));
        Ok(())
    }

    /// Pipeline mode: the node's own OVS (daemons in its namespace), its
    /// physical bridge named after the interface with the node IP (MAC and
    /// addresses go on that bridge's internal port; the underlay veth is its
    /// uplink, see [`Lab::host_to_switch`]), and an empty br-int.
    fn start_node_switch(
        &mut self,
        node: &str,
        host: &sim_core::model::HostSpec,
    ) -> Result<(), LabError> {
        let Some(iface) = host.interfaces.iter().find(|i| !i.addrs.is_empty()) else {
            return Err(LabError::Unsupported(format!(
                "{node}: a Kubernetes node needs an interface with an address (its node IP)"
            )));
        };
        let ns = self.netns[node].clone();
        let folder = format!("ovs-{}", self.node_switches.len());
        let ovs = Ovs::start_in(&mut self.state, &folder, &ns)?;
        let hwaddr = format!("other-config:hwaddr=\"{}\"", iface.mac);
        let mut args = vec![
            "add-br",
            &iface.name,
            "--",
            "set",
            "bridge",
            &iface.name,
            "datapath_type=netdev",
            &hwaddr,
            "--",
        ];
        args.extend(ADD_BR_INT);
        ovs.vsctl(&args)?;
        self.node_switches.insert(
            node.to_string(),
            NodeSwitch {
                ovs,
                phy: iface.name.clone(),
                uplink: uplink_name(&iface.name),
            },
        );
        Ok(())
    }

    /// The OVS that serves `node`'s br-int: its own in pipeline mode, the
    /// shared one otherwise.
    pub fn int_bridge_ovs(&self, node: &str) -> &Ovs {
        self.node_switches.get(node).map_or(&self.ovs, |s| &s.ovs)
    }

    fn add_int_bridge(&mut self, node: &str, pod_cidr: Ipv4Net) -> Result<(), LabError> {
        if self.node_switches.contains_key(node) {
            return self.add_node_int_bridge(node, pod_cidr);
        }
        let idx = self.int_bridges.len();
        let br = format!("{}i{idx}", self.prefix());
        self.state.record(Resource::Link { name: br.clone() })?;
        self.ovs.add_bridge(&br)?;
        let ns = self.netns[node].clone();
        let gw_ip = pod_cidr.hosts().next().unwrap_or(pod_cidr.addr());
        let gw_mac = sim_core::engine::pipeline::gateway_mac(node);
        let root = self.veth_to_root(&ns, "antrea-gw0", Some(gw_mac))?;
        let gw_ofport = self.plug(&br, &root, &[])?;
        sys::ip_batch(
            Some(&ns),
            &[format!(
                "addr add {gw_ip}/{} dev antrea-gw0",
                pod_cidr.prefix_len()
            )],
        )?;
        self.power_links
            .entry(node.into())
            .or_default()
            .push((None, root.clone()));
        self.int_bridges.insert(
            node.into(),
            IntBridge {
                bridge: br,
                gw_link: root,
                gw_ofport,
                gw_mac,
                gw_ip,
            },
        );
        Ok(())
    }

    /// Pipeline mode's br-int ports: the Geneve tunnel (`remote_ip=flow`:
    /// L3Forwarding sets `tun_dst`) and `antrea-gw0`, an internal port in
    /// the node's namespace with the engine's gateway MAC, at Antrea's
    /// ofports.
    fn add_node_int_bridge(&mut self, node: &str, pod_cidr: Ipv4Net) -> Result<(), LabError> {
        let ns = self.netns[node].clone();
        let gw_ip = pod_cidr.hosts().next().unwrap_or(pod_cidr.addr());
        let gw_mac = sim_core::engine::pipeline::gateway_mac(node);
        let sw = &self.node_switches[node];
        let (tun_req, gw_req) = (
            format!("ofport_request={TUNNEL_OFPORT}"),
            format!("ofport_request={GATEWAY_OFPORT}"),
        );
        let gw_mac_set = format!("mac=\"{gw_mac}\"");
        sw.ovs.vsctl(&[
            "add-port",
            BR_INT,
            TUNNEL_PORT,
            "--",
            "set",
            "interface",
            TUNNEL_PORT,
            "type=geneve",
            "options:remote_ip=flow",
            "options:key=flow",
            &tun_req,
            "--",
            "add-port",
            BR_INT,
            "antrea-gw0",
            "--",
            "set",
            "interface",
            "antrea-gw0",
            "type=internal",
            &gw_mac_set,
            &gw_req,
        ])?;
        sys::ip_batch(
            Some(&ns),
            &[
                "link set dev antrea-gw0 up".to_string(),
                format!("addr add {gw_ip}/{} dev antrea-gw0", pod_cidr.prefix_len()),
            ],
        )?;
        self.int_bridges.insert(
            node.into(),
            IntBridge {
                bridge: BR_INT.to_string(),
                gw_link: "antrea-gw0".to_string(),
                gw_ofport: GATEWAY_OFPORT,
                gw_mac,
                gw_ip,
            },
        );
        Ok(())
    }

    /// The Pod (`namespace/name` and leg) whose address is `ip`.
    pub fn pod_with_ip(&self, ip: Ipv4Addr) -> Option<(&String, &PodLeg)> {
        self.pods.iter().find(|(_, leg)| leg.ip == ip)
    }

    /// Creates a Pod's namespace on `node`'s bridge, with the engine's MAC
    /// and, on a node's own OVS, the engine's ofport (the shared OVS hands
    /// out its own numbers). False when the Pod was there already.
    pub fn add_pod(&mut self, key: &str, node: &str, plug: PodPlug) -> Result<bool, LabError> {
        if self.pods.contains_key(key) {
            return Ok(false);
        }
        let ib = self.int_bridges.get(node).cloned().ok_or_else(|| {
            LabError::Unsupported(format!("Pod {key} on {node}, which is not a node"))
        })?;
        self.next_pod += 1;
        let dev = format!("pod{}", self.next_pod);
        let ns = self.add_netns(&dev)?;
        let PodPlug {
            ip,
            prefix_len,
            mac,
            ..
        } = plug;
        let (root, ofport) = if self.node_switches.contains_key(node) {
            let (pod_ns, pod_name) = key.split_once('/').unwrap_or(("", key));
            // The name `get iplink` shows for it (one rule for both modes).
            let host_end = sim_core::report::iplink::pod_interface_name(pod_ns, pod_name);
            let node_ns = self.netns[node].clone();
            self.veth_between(&node_ns, &host_end, &ns, "eth0", mac)?;
            quiet_port(&node_ns, &host_end)?;
            let req = format!("ofport_request={}", plug.ofport);
            self.node_switches[node].ovs.vsctl(&[
                "add-port",
                BR_INT,
                &host_end,
                "--",
                "set",
                "interface",
                &host_end,
                &req,
            ])?;
            self.power_links
                .entry(node.into())
                .or_default()
                .push((Some(node_ns), host_end.clone()));
            (host_end, plug.ofport)
        } else {
            let root = self.veth_to_root(&ns, "eth0", Some(mac))?;
            let ofport = self.plug(&ib.bridge, &root, &[])?;
            self.power_links
                .entry(node.into())
                .or_default()
                .push((None, root.clone()));
            (root, ofport)
        };
        sys::ip_batch(
            Some(&ns),
            &[
                format!("link set dev eth0 mtu {}", plug.mtu),
                format!("addr add {ip}/{prefix_len} dev eth0"),
                format!("route add default via {} dev eth0", ib.gw_ip),
            ],
        )?;
        self.pods.insert(
            key.into(),
            PodLeg {
                netns: ns,
                node: node.into(),
                ip,
                mac,
                root_link: root,
                ofport,
            },
        );
        Ok(true)
    }

    /// Where the addresses of the engine's dummy device `name` go on
    /// `node`: `lo` (no dummy module here; Linux answers ARP for an address
    /// on `lo` as for one on a dummy device), or in pipeline mode a bridge
    /// of that name on the node's own OVS, whose internal port is as inert
    /// as a dummy device. There, and not on `lo`, because OVS's userspace
    /// tunnels end only at addresses of its own ports: a Geneve packet to
    /// an Egress IP on the node subnet (on `antrea-egress0` in Antrea) must
    /// be decapsulated, not handed to the kernel as UDP 6081. It takes the
    /// physical interface's MAC: OVS ends a tunnel at (address, MAC of the
    /// device that holds it), and the packet arrives addressed to the MAC
    /// the node answers ARP with, eth0's.
    pub fn ensure_dummy(&mut self, node: &str, name: &str) -> Result<String, LabError> {
        let Some(sw) = self.node_switches.get(node) else {
            return Ok("lo".to_string());
        };
        let ns = self.netns[node].clone();
        if self.dummies.insert((node.to_string(), name.to_string())) {
            let mac = self.host_mac(node, &sw.phy).unwrap_or_default();
            sw.ovs
                .add_bridge_with(name, &[&format!("other-config:hwaddr=\"{mac}\"")])?;
            sys::ip_batch(Some(&ns), &[format!("link set dev {name} up")])?;
        }
        Ok(name.to_string())
    }

    /// Gives Pod `key` br-int ofport `ofport` on its node's own OVS, when
    /// the engine renumbered the node's Pods (one was deleted).
    pub fn renumber_pod(&mut self, key: &str, ofport: u32) -> Result<(), LabError> {
        let Some(leg) = self.pods.get(key) else {
            return Ok(());
        };
        let Some(sw) = self.node_switches.get(&leg.node) else {
            return Ok(());
        };
        if leg.ofport == ofport {
            return Ok(());
        }
        let req = format!("ofport_request={ofport}");
        sw.ovs.vsctl(&["set", "interface", &leg.root_link, &req])?;
        if let Some(leg) = self.pods.get_mut(key) {
            leg.ofport = ofport;
        }
        Ok(())
    }

    /// A veth between two namespaces: `a_end` in `ns_a` (up, on a node's
    /// OVS) and `b_end` in `ns_b` with MAC `mac`; checksum offload off on
    /// both (see [`Lab::veth_to_root`]).
    fn veth_between(
        &mut self,
        ns_a: &str,
        a_end: &str,
        ns_b: &str,
        b_end: &str,
        mac: MacAddr,
    ) -> Result<(), LabError> {
        sys::run(
            "ip",
            &[
                "-n", ns_a, "link", "add", "name", a_end, "type", "veth", "peer", "name", b_end,
                "netns", ns_b,
            ],
        )?;
        sys::ip_batch(Some(ns_a), &[format!("link set dev {a_end} up")])?;
        sys::ip_batch(
            Some(ns_b),
            &[
                format!("link set dev {b_end} address {mac}"),
                format!("link set dev {b_end} up"),
            ],
        )?;
        sys::in_ns(ns_a, "ethtool", &["-K", a_end, "tx", "off"])?;
        sys::in_ns(ns_b, "ethtool", &["-K", b_end, "tx", "off"])?;
        Ok(())
    }

    /// Makes sure `node` has its `antrea-ext.<vid>` leg (see module docs).
    pub fn ensure_ext_leg(
        &mut self,
        node: &str,
        parent: &str,
        vid: u16,
    ) -> Result<String, LabError> {
        let name = format!("antrea-ext.{vid}");
        if self.ext_legs.contains_key(&(node.to_string(), vid)) {
            return Ok(name);
        }
        let ns = self.netns[node].clone();
        let mac = self.host_mac(node, parent);
        if let Some(sw) = self.node_switches.get(node).filter(|s| s.phy == parent) {
            // Pipeline mode: a bridge of its own (its internal port is the
            // leg, with the parent's MAC, as a VLAN device has), patched to
            // the physical bridge by a port that tags its frames. Its own
            // bridge, not an internal port of the physical one: OVS's
            // userspace tunnels keep their neighbour cache per bridge and
            // learn it from the outer headers of tunnel packets they
            // receive; a Geneve packet routed to an Egress IP on this leg
            // arrives with the router's MAC, which must not become the
            // sending node's MAC for the node-IP bridge (the kernel keeps
            // neighbours per device the same way).
            let (up, down) = (format!("patch-{vid}-phy"), format!("patch-{vid}-leg"));
            let mut args: Vec<String> = [
                "add-br",
                name.as_str(),
                "--",
                "set",
                "bridge",
                name.as_str(),
                "datapath_type=netdev",
            ]
            .map(String::from)
            .to_vec();
            if let Some(m) = mac {
                args.push(format!("other-config:hwaddr=\"{m}\""));
            }
            args.extend(
                [
                    "--",
                    "add-port",
                    &name,
                    &down,
                    "--",
                    "set",
                    "interface",
                    &down,
                    "type=patch",
                ]
                .map(String::from),
            );
            args.push(format!("options:peer={up}"));
            args.extend(
                [
                    "--",
                    "add-port",
                    parent,
                    &up,
                    "--",
                    "set",
                    "interface",
                    &up,
                    "type=patch",
                ]
                .map(String::from),
            );
            args.push(format!("options:peer={down}"));
            args.extend(["--", "set", "port", &up].map(String::from));
            args.push(format!("tag={vid}"));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            sw.ovs.vsctl(&refs)?;
            self.ext_legs.insert((node.into(), vid), name.clone());
            return Ok(name);
        }
        let attach = self
            .attach
            .get(&(node.to_string(), parent.to_string()))
            .cloned();
        let root = self.veth_to_root(&ns, &name, mac)?;
        if let Some(a) = attach {
            self.leg_port.insert(root.clone(), a.port.clone());
            if a.mode.egress_tag(vid).is_some() {
                self.plug(&a.bridge, &root, &[format!("tag={vid}")])?;
            }
        }
        if self.powered_off.iter().any(|n| n == node) {
            self.switch_ip(&["link", "set", "dev", &root, "down"])?;
        }
        self.power_links
            .entry(node.into())
            .or_default()
            .push((None, root.clone()));
        self.ext_legs.insert((node.into(), vid), root);
        Ok(name)
    }

    /// Power: every link of the host goes down (or up). The caller stops or
    /// restarts the node's agent.
    pub fn set_power(&mut self, device: &str, on: bool) -> Result<(), LabError> {
        let state = if on { "up" } else { "down" };
        for (ns, link) in self.power_links.get(device).cloned().unwrap_or_default() {
            match ns {
                Some(ns) => sys::ip_batch(Some(&ns), &[format!("link set dev {link} {state}")])?,
                None => {
                    self.switch_ip(&["link", "set", "dev", &link, state])?;
                }
            }
        }
        if on {
            // A cold boot: OVS starts with an empty conntrack and neighbour
            // cache.
            if let Some(sw) = self.node_switches.get(device) {
                sw.ovs.appctl(&["dpctl/flush-conntrack"])?;
                sw.ovs.appctl(&["tnl/neigh/flush"])?;
                self.prime_tunnel_neighbours(device)?;
            }
            self.powered_off.retain(|d| d != device);
        } else if !self.powered_off.iter().any(|d| d == device) {
            self.powered_off.push(device.to_string());
        }
        Ok(())
    }

    /// Re-tags switch port `port` (`switch/port`), as a `vlan:` step does.
    /// A host's port gets its new native VLAN, and each of the host's
    /// `antrea-ext` legs on it is plugged in or out as the new mode allows
    /// its VLAN; a port between switches gets the new tag and trunks.
    pub fn set_port_vlan(&mut self, port: &str, mode: &VlanMode) -> Result<(), LabError> {
        let (bridge, link) =
            self.switch_ports.get(port).cloned().ok_or_else(|| {
                LabError::Unsupported(format!("no switch port {port} in the lab"))
            })?;
        let host = self
            .attach
            .iter()
            .find(|(_, a)| a.port == port)
            .map(|(k, _)| k.clone());
        // A node that tags its own frames (pipeline mode) gets the port as
        // the topology says; its legs are its own business.
        let tags_itself = host
            .as_ref()
            .is_some_and(|(h, i)| self.node_switches.get(h).is_some_and(|s| &s.phy == i));
        let settings = match &host {
            Some(_) if !tags_itself => host_port_settings(mode),
            _ => vlan_settings(mode),
        };
        let mut args: Vec<String> = ["set", "port", &link, "tag=[]", "trunks=[]", "vlan_mode=[]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(settings);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ovs.vsctl(&refs)?;
        let Some((host, iface)) = host else {
            return Ok(());
        };
        if let Some(a) = self.attach.get_mut(&(host.clone(), iface.clone())) {
            a.mode = mode.clone();
        }
        if tags_itself {
            return Ok(());
        }
        let legs: Vec<(u16, String)> = self
            .ext_legs
            .iter()
            .filter(|((n, _), _)| *n == host)
            .map(|((_, vid), root)| (*vid, root.clone()))
            .collect();
        for (vid, root) in legs {
            let allowed = mode.egress_tag(vid).is_some();
            let plugged = self.ofports.contains_key(&root);
            if allowed && !plugged {
                self.plug(&bridge, &root, &[format!("tag={vid}")])?;
            } else if !allowed && plugged {
                self.ovs.vsctl(&["del-port", &bridge, &root])?;
                self.ofports.remove(&root);
            }
        }
        Ok(())
    }

    /// A link's carrier up or down, named by either end: a switch port
    /// (`vmbr0/node-vm-2`) or a host interface (`k8s-node-vm-1-cl-02/eth0`).
    pub fn set_link(&mut self, port: &str, up: bool) -> Result<(), LabError> {
        let state = if up { "up" } else { "down" };
        let (dev, name) = port.rsplit_once('/').unwrap_or(("", port));
        if let Some(link) = self
            .iface_link
            .get(&(dev.to_string(), name.to_string()))
            .cloned()
        {
            match link.split_once(':') {
                // A host-to-host cable: the peer end lives in a namespace.
                Some((ns, iface)) => {
                    sys::ip_batch(Some(ns), &[format!("link set dev {iface} {state}")])?
                }
                None => {
                    self.switch_ip(&["link", "set", "dev", &link, state])?;
                }
            }
            return Ok(());
        }
        let (_, link) = self.switch_ports.get(port).cloned().ok_or_else(|| {
            LabError::Unsupported(format!("no port or interface {port} in the lab"))
        })?;
        self.switch_ip(&["link", "set", "dev", &link, state])?;
        Ok(())
    }
}
