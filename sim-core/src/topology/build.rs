//! Turns a parsed [`TopologyDoc`] into a validated [`Topology`].
//!
//! Two passes: first every device on its own (names, addresses, VLANs, routes),
//! then everything that refers across devices (links, duplicate addresses,
//! overlapping Pod CIDRs). The first problem found is returned, located at the
//! value that caused it.

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;
use serde_saphyr::{Location, Spanned};

use super::doc::RemoteAsDoc;
use super::doc::{
    ArpDoc, BgpDoc, HostDoc, IfaceDoc, LinkDoc, NodeDoc, PortDoc, RouteDoc, RuleDoc, SStr,
    SwitchDoc, TopologyDoc,
};
use super::l2::{self, L2Place};
use super::parse;
use crate::input::InputError;
use crate::model::bgp::BgpRouterSpec;
use crate::model::{
    ArpPolicy, ClusterSpec, Device, DeviceId, DeviceKind, EcmpPolicy, HostRole, HostSpec,
    IfaceKind, IfaceSpec, Link, MacAddr, MultipathHash, NexthopSpec, NodeSpec, PortRef, RouteSpec,
    RuleSpec, SviSpec, SwitchPortSpec, SwitchSpec, TABLE_MAIN, Topology, VlanMode,
};
use crate::time::SimDuration;

/// Link latency when neither the link nor `defaults.linkLatency` says otherwise:
/// 50 µs is a plausible one-way delay through a virtual bridge and a LAN switch.
pub const DEFAULT_LINK_LATENCY: SimDuration = SimDuration::from_micros(50);
/// IEEE 802.1D's recommended MAC table aging time.
pub const DEFAULT_MAC_AGING: SimDuration = SimDuration::from_secs(300);
/// Cisco IOS's default ARP cache timeout (4 hours), used for switch and `fixed` ARP tables.
pub const DEFAULT_FIXED_ARP_TIMEOUT: SimDuration = SimDuration::from_secs(4 * 3600);

/// Names on a device that exist but have no port, each with a phrase saying
/// what it is ("a VLAN 181 sub-interface of eth0", "the SVI of VLAN 216").
type Portless = Vec<(String, String)>;

/// What pass 2 needs to know about a device to resolve `<device>/<port>`.
struct PortNames {
    id: DeviceId,
    /// Names of connectable ports, in port-index order.
    ports: Vec<String>,
    portless: Portless,
    is_switch: bool,
}

struct Builder<'a> {
    file: &'a str,
    devices: Vec<Device>,
    names: IndexMap<String, PortNames>,
    /// Every assigned address and who holds it, to refuse duplicates.
    addrs: IndexMap<Ipv4Addr, String>,
    /// Node Pod CIDRs seen so far, to refuse overlaps.
    pod_cidrs: Vec<(Ipv4Net, String)>,
    cluster: ClusterSpec,
    default_latency: SimDuration,
    /// Where each MAC was written (or its interface/SVI named), for
    /// layer-2 messages: (device, interface or `vlanN` SVI key).
    mac_at: IndexMap<(String, String), Location>,
}

/// Validates `doc` and builds the model. `file` is only used in messages.
pub(crate) fn build(file: &str, doc: TopologyDoc) -> Result<Topology, InputError> {
    let mut b = Builder {
        file,
        devices: Vec::new(),
        names: IndexMap::new(),
        addrs: IndexMap::new(),
        pod_cidrs: Vec::new(),
        cluster: ClusterSpec::default(),
        default_latency: doc
            .defaults
            .as_ref()
            .and_then(|d| d.link_latency)
            .unwrap_or(DEFAULT_LINK_LATENCY),
        mac_at: IndexMap::new(),
    };
    if let Some(c) = &doc.cluster {
        if let Some(p) = &c.pod_cidr {
            b.cluster.pod_cidr = Some(b.val(p, parse::subnet)?);
        }
        if let Some(s) = &c.service_cidr {
            b.cluster.service_cidr = Some(b.val(s, parse::subnet)?);
        }
    }
    for n in &doc.nodes {
        b.node(n)?;
    }
    for h in &doc.hosts {
        b.host(h, HostRole::External, false)?;
    }
    for r in &doc.routers {
        b.host(r, HostRole::Router, true)?;
    }
    for s in &doc.switches {
        b.switch(s)?;
    }
    let mut link_at = Vec::new();
    let links = b.links(&doc, &mut link_at)?;
    let topology = Topology {
        name: doc.name,
        devices: b.devices,
        links,
        cluster: b.cluster,
    };
    l2::check(&topology).map_err(|e| {
        let at = match &e.place {
            L2Place::Link(i) => link_at.get(*i).copied(),
            L2Place::Iface { device, iface } => {
                b.mac_at.get(&(device.clone(), iface.clone())).copied()
            }
            L2Place::Svi { device, vlan } => b
                .mac_at
                .get(&(device.clone(), format!("vlan {vlan}")))
                .copied(),
        };
        match at {
            Some(loc) => InputError::at(file, &loc, e.message),
            None => InputError::new(file, 1, 1, e.message),
        }
    })?;
    Ok(topology)
}

impl Builder<'_> {
    fn err<T>(&self, at: &Spanned<T>, msg: impl Into<String>) -> InputError {
        InputError::at_value(self.file, at, msg)
    }

    /// Parses a located string, locating the parser's message.
    fn val<T>(&self, s: &SStr, f: impl Fn(&str) -> Result<T, String>) -> Result<T, InputError> {
        f(&s.value).map_err(|m| self.err(s, m))
    }

    /// Checks a name is usable in `<device>/<port>` references and as a
    /// Linux name in real mode (`super::names`).
    fn check_name(&self, s: &SStr, what: &str) -> Result<(), InputError> {
        let problem = match what {
            "device" => super::names::device_name_problem(&s.value),
            "interface" | "SVI" => super::names::interface_name_problem(&s.value),
            _ => super::names::port_name_problem(&s.value),
        };
        match problem {
            Some(p) => Err(self.err(s, p)),
            None => Ok(()),
        }
    }

    fn claim_device_name(&self, name: &SStr) -> Result<(), InputError> {
        self.check_name(name, "device")?;
        if self.names.contains_key(&name.value) {
            return Err(self.err(
                name,
                format!(
                    "duplicate device name `{}` (device names must be unique across nodes, hosts, routers and switches)",
                    name.value
                ),
            ));
        }
        Ok(())
    }

    fn claim_addr(&mut self, at: &SStr, addr: Ipv4Addr, owner: String) -> Result<(), InputError> {
        if let Some(prev) = self.addrs.get(&addr) {
            return Err(self.err(
                at,
                format!(
                    "address {addr} is already assigned to {prev} (each IP address must be unique)"
                ),
            ));
        }
        self.addrs.insert(addr, owner);
        Ok(())
    }

    fn next_id(&self) -> Result<DeviceId, InputError> {
        u32::try_from(self.devices.len())
            .map(DeviceId)
            .map_err(|_| InputError::new(self.file, 1, 1, "too many devices"))
    }

    fn node(&mut self, n: &NodeDoc) -> Result<(), InputError> {
        self.claim_device_name(&n.name)?;
        let dev = n.name.value.clone();
        let control_plane = match &n.role {
            None => false,
            Some(r) => match r.value.as_str() {
                "control-plane" => true,
                "worker" => false,
                other => {
                    return Err(self.err(
                        r,
                        format!("unknown role `{other}` (expected control-plane or worker)"),
                    ));
                }
            },
        };
        let Some(pc) = &n.pod_cidr else {
            return Err(self.err(
                &n.name,
                format!("node `{dev}` has no podCIDR (every node needs its Pod subnet, e.g. podCIDR: 10.30.64.0/24)"),
            ));
        };
        let pod_cidr = self.val(pc, parse::subnet)?;
        if let Some(cluster) = self.cluster.pod_cidr
            && !cluster.contains(&pod_cidr)
        {
            return Err(self.err(
                pc,
                format!("node podCIDR {pod_cidr} is not inside cluster.podCIDR {cluster}"),
            ));
        }
        if let Some((_, other)) = self
            .pod_cidrs
            .iter()
            .find(|(c, _)| c.contains(&pod_cidr) || pod_cidr.contains(c))
        {
            return Err(self.err(
                pc,
                format!("node podCIDR {pod_cidr} overlaps the podCIDR of node `{other}`"),
            ));
        }
        self.pod_cidrs.push((pod_cidr, dev.clone()));

        let (interfaces, portless) = self.interfaces(&dev, &n.interfaces)?;
        let transport_interface = match &n.transport_interface {
            Some(t) => {
                if !interfaces.iter().any(|i| i.name == t.value) {
                    return Err(self.err(
                        t,
                        format!(
                            "transportInterface `{}` is not an interface of `{dev}` (it has: {})",
                            t.value,
                            list(interfaces.iter().map(|i| i.name.as_str()))
                        ),
                    ));
                }
                t.value.clone()
            }
            None => match interfaces.first() {
                Some(i) if i.kind == IfaceKind::Physical => i.name.clone(),
                _ => {
                    return Err(self.err(
                        &n.name,
                        format!("node `{dev}` has no physical interface to carry node traffic"),
                    ));
                }
            },
        };
        let routes = self.host_routes(&dev, &interfaces, &n.routes, EcmpPolicy::default())?;
        let rules = self.rules(&n.rules)?;
        let spec = HostSpec {
            role: HostRole::Node(NodeSpec {
                control_plane,
                pod_cidr,
                labels: n
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                transport_interface,
            }),
            interfaces,
            routes,
            rules,
            // Kubernetes nodes forward between Pods and the network.
            ip_forward: true,
            arp: ArpPolicy::Linux,
            tcp_listen: n.tcp_listen.clone(),
            ecmp: EcmpPolicy::default(),
        };
        self.push_host(dev, spec, portless)
    }

    fn host(&mut self, h: &HostDoc, role: HostRole, forward: bool) -> Result<(), InputError> {
        self.claim_device_name(&h.name)?;
        let dev = h.name.value.clone();
        let (interfaces, portless) = self.interfaces(&dev, &h.interfaces)?;
        let ecmp = self.ecmp(h.maximum_paths.as_ref(), h.multipath_hash.as_ref())?;
        let routes = self.host_routes(&dev, &interfaces, &h.routes, ecmp)?;
        let rules = self.rules(&h.rules)?;
        let arp = match &h.arp {
            None => ArpPolicy::Linux,
            Some(a) => self.arp(a)?,
        };
        if let Some(m) = &h.maximum_paths
            && role != HostRole::Router
        {
            return Err(self.err(
                m,
                "`maximumPaths` is for routers and switches; a Linux host spreads traffic only over a route with `nexthops`",
            ));
        }
        let spec = HostSpec {
            role,
            interfaces,
            routes,
            rules,
            ip_forward: h.ip_forward.unwrap_or(forward),
            arp,
            tcp_listen: h.tcp_listen.clone(),
            ecmp,
        };
        self.push_host(dev, spec, portless)
    }

    fn push_host(
        &mut self,
        dev: String,
        spec: HostSpec,
        portless: Portless,
    ) -> Result<(), InputError> {
        let id = self.next_id()?;
        let ports = spec
            .interfaces
            .iter()
            .filter(|i| i.kind == IfaceKind::Physical)
            .map(|i| i.name.clone())
            .collect();
        self.names.insert(
            dev.clone(),
            PortNames {
                id,
                ports,
                portless,
                is_switch: false,
            },
        );
        self.devices.push(Device {
            name: dev,
            kind: DeviceKind::Host(spec),
        });
        Ok(())
    }

    fn arp(&self, a: &ArpDoc) -> Result<ArpPolicy, InputError> {
        match a.mode.value.as_str() {
            "linux" => {
                if let Some(t) = &a.timeout {
                    return Err(self.err(
                        t,
                        "arp timeout applies to mode fixed only (mode linux follows the kernel's neighbour timers)",
                    ));
                }
                Ok(ArpPolicy::Linux)
            }
            "fixed" => Ok(ArpPolicy::Fixed {
                timeout: a
                    .timeout
                    .as_ref()
                    .map(|t| t.value)
                    .unwrap_or(DEFAULT_FIXED_ARP_TIMEOUT),
            }),
            other => Err(self.err(
                &a.mode,
                format!("unknown arp mode `{other}` (expected linux or fixed)"),
            )),
        }
    }

    /// Builds a host's interfaces, physical ones first (they are its ports), and
    /// returns the port-less names (VLAN sub-interfaces) for link messages.
    fn interfaces(
        &mut self,
        dev: &str,
        docs: &[IfaceDoc],
    ) -> Result<(Vec<IfaceSpec>, Portless), InputError> {
        // Names first, so a VLAN parent may be declared after its child.
        let mut seen: IndexMap<&str, &IfaceDoc> = IndexMap::new();
        for i in docs {
            self.check_name(&i.name, "interface")?;
            if seen.contains_key(i.name.value.as_str()) {
                return Err(self.err(
                    &i.name,
                    format!("duplicate interface name `{}` on `{dev}`", i.name.value),
                ));
            }
            seen.insert(&i.name.value, i);
        }
        let mut out: Vec<IfaceSpec> = Vec::new();
        let mut vlan_keys: Vec<(String, u16)> = Vec::new();
        for i in docs {
            let kind = match &i.vlan {
                None => IfaceKind::Physical,
                Some(v) => {
                    let vid = self.val(&v.id, parse::vlan_id)?;
                    match seen.get(v.parent.value.as_str()) {
                        None => {
                            return Err(self.err(
                                &v.parent,
                                format!(
                                    "VLAN parent `{}` is not an interface of `{dev}` (it has: {})",
                                    v.parent.value,
                                    list(seen.keys().copied())
                                ),
                            ));
                        }
                        Some(p) if p.vlan.is_some() => {
                            return Err(self.err(
                                &v.parent,
                                format!(
                                    "VLAN parent `{}` is itself a VLAN sub-interface; the parent must be a physical interface",
                                    v.parent.value
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
                    let key = (v.parent.value.clone(), vid);
                    if vlan_keys.contains(&key) {
                        return Err(self.err(
                            &v.id,
                            format!(
                                "`{}` already has a VLAN {vid} sub-interface on `{dev}`",
                                v.parent.value
                            ),
                        ));
                    }
                    vlan_keys.push(key);
                    IfaceKind::Vlan {
                        parent: v.parent.value.clone(),
                        vid,
                    }
                }
            };
            let mut addrs = Vec::new();
            for a in &i.addresses {
                let net = self.val(a, parse::iface_addr)?;
                self.claim_addr(a, net.addr(), format!("{dev}/{}", i.name.value))?;
                addrs.push(net);
            }
            let at = i.mac.as_ref().unwrap_or(&i.name).referenced;
            self.mac_at
                .insert((dev.to_string(), i.name.value.clone()), at);
            let mac = match &i.mac {
                Some(m) => self.val(m, parse::mac)?,
                // Filled below for VLAN sub-interfaces, which share the parent's MAC.
                None => MacAddr::from_name(&format!("{dev}/{}", i.name.value)),
            };
            out.push(IfaceSpec {
                name: i.name.value.clone(),
                mac,
                addrs,
                kind,
            });
        }
        // Linux gives a VLAN sub-interface its parent's MAC unless told otherwise
        // (the blog's antrea-ext.181 shows eth0's bc:24:11:1d:82:f5).
        for (idx, i) in docs.iter().enumerate() {
            if let (Some(v), None) = (&i.vlan, &i.mac)
                && let Some(m) = out.iter().find(|o| o.name == v.parent.value).map(|o| o.mac)
            {
                out[idx].mac = m;
            }
        }
        let mut specs = out;
        // Stable: physical interfaces keep file order and come first, because
        // `PortRef::port` indexes them.
        specs.sort_by_key(|i| i.kind != IfaceKind::Physical);
        if specs
            .iter()
            .filter(|i| i.kind == IfaceKind::Physical)
            .count()
            > usize::from(u16::MAX)
        {
            return Err(self.err(&docs[0].name, format!("`{dev}` has too many interfaces")));
        }
        let portless = specs
            .iter()
            .filter_map(|i| match &i.kind {
                IfaceKind::Vlan { parent, vid } => Some((
                    i.name.clone(),
                    format!("a VLAN {vid} sub-interface of {parent}"),
                )),
                IfaceKind::Physical => None,
            })
            .collect();
        Ok((specs, portless))
    }

    /// Routes of a host: `dev` must be one of its interfaces; a gateway without
    /// `dev` must sit in one of its connected subnets, as the kernel requires.
    /// A second route with one prefix, metric and table is refused, as Linux's
    /// `ip route add` refuses it (`File exists`), unless the host is a router
    /// configured with `maximumPaths`.
    fn host_routes(
        &self,
        dev: &str,
        ifaces: &[IfaceSpec],
        docs: &[RouteDoc],
        ecmp: EcmpPolicy,
    ) -> Result<Vec<RouteSpec>, InputError> {
        let names: Vec<&str> = ifaces.iter().map(|i| i.name.as_str()).collect();
        let subnets: Vec<Ipv4Net> = ifaces
            .iter()
            .flat_map(|i| i.addrs.iter().map(|a| a.trunc()))
            .collect();
        let mut routes: Vec<RouteSpec> = Vec::new();
        for doc in docs {
            let r = self.route(dev, "interface", &names, &subnets, doc)?;
            if ecmp.maximum_paths == 1
                && routes
                    .iter()
                    .any(|o| o.dst == r.dst && o.metric == r.metric && o.table == r.table)
            {
                return Err(self.err(
                    &doc.to,
                    format!(
                        "`{dev}` already has a route to {} with metric {}: Linux refuses a second one \
                         (File exists) and never spreads traffic over separate routes; \
                         for ECMP write one route with `nexthops:`",
                        r.dst, r.metric
                    ),
                ));
            }
            routes.push(r);
        }
        Ok(routes)
    }

    fn route(
        &self,
        dev: &str,
        what: &str,
        names: &[&str],
        subnets: &[Ipv4Net],
        r: &RouteDoc,
    ) -> Result<RouteSpec, InputError> {
        let dst = self.val(&r.to, parse::route_dst)?;
        let table = match &r.table {
            Some(t) => self.val(t, parse::table)?,
            None => TABLE_MAIN,
        };
        if !r.nexthops.is_empty() {
            if let Some(at) = r.via.as_ref().or(r.dev.as_ref()) {
                return Err(self.err(
                    at,
                    "a route with `nexthops` names its gateways there, not in `via`/`dev`",
                ));
            }
            let mut nexthops = Vec::new();
            for nh in &r.nexthops {
                let (via, dev_name) =
                    self.next_hop(dev, what, names, subnets, Some(&nh.via), nh.dev.as_ref())?;
                let weight = match &nh.weight {
                    Some(w) if (1..=256).contains(&w.value) => w.value,
                    Some(w) => {
                        return Err(self.err(w, format!("weight {} is not 1..256", w.value)));
                    }
                    None => 1,
                };
                nexthops.push(NexthopSpec {
                    via: via.expect("a nexthop has via"),
                    dev: dev_name,
                    weight,
                });
            }
            let spec = RouteSpec {
                dst,
                via: None,
                dev: None,
                metric: r.metric,
                table,
                nexthops,
            };
            return Ok(spec.normalized());
        }
        if r.via.is_none() && r.dev.is_none() {
            return Err(self.err(&r.to, "route needs `via`, `dev`, both, or `nexthops`"));
        }
        let (via, dev_name) =
            self.next_hop(dev, what, names, subnets, r.via.as_ref(), r.dev.as_ref())?;
        Ok(RouteSpec {
            dst,
            via,
            dev: dev_name,
            metric: r.metric,
            table,
            nexthops: Vec::new(),
        })
    }

    /// A gateway and an interface of a route or of one of its next hops:
    /// `dev` must be one of the device's interfaces; a gateway without `dev`
    /// must sit in one of its connected subnets.
    fn next_hop(
        &self,
        dev: &str,
        what: &str,
        names: &[&str],
        subnets: &[Ipv4Net],
        via_doc: Option<&SStr>,
        dev_doc: Option<&SStr>,
    ) -> Result<(Option<Ipv4Addr>, Option<String>), InputError> {
        let via = match via_doc {
            Some(v) => Some(self.val(v, parse::ip)?),
            None => None,
        };
        if let Some(d) = dev_doc
            && !names.contains(&d.value.as_str())
        {
            return Err(self.err(
                d,
                format!(
                    "route dev `{}` is not an {what} of `{dev}` (it has: {})",
                    d.value,
                    list(names.iter().copied())
                ),
            ));
        }
        if let (Some(v), Some(gw), None) = (via_doc, via, dev_doc)
            && !subnets.iter().any(|s| s.contains(&gw))
        {
            return Err(self.err(
                v,
                format!(
                    "gateway {gw} is not in any connected subnet of `{dev}` ({}); add `dev` or fix the address",
                    if subnets.is_empty() {
                        "it has no addresses".to_string()
                    } else {
                        list(subnets.iter().map(|s| s.to_string()))
                    }
                ),
            ));
        }
        Ok((via, dev_doc.map(|d| d.value.clone())))
    }

    /// A device's `maximumPaths` and `multipathHash`.
    fn ecmp(
        &self,
        maximum_paths: Option<&Spanned<u64>>,
        hash: Option<&SStr>,
    ) -> Result<EcmpPolicy, InputError> {
        let mut policy = EcmpPolicy::default();
        if let Some(m) = maximum_paths {
            policy.maximum_paths =
                crate::model::route::parse_maximum_paths(m.value).map_err(|e| self.err(m, e))?;
        }
        if let Some(h) = hash {
            policy.hash = self.val(h, MultipathHash::parse)?;
        }
        Ok(policy)
    }

    fn rules(&self, docs: &[RuleDoc]) -> Result<Vec<RuleSpec>, InputError> {
        docs.iter()
            .map(|r| {
                Ok(RuleSpec {
                    priority: r.priority,
                    fwmark: match &r.fwmark {
                        Some(f) => Some(self.val(f, parse::fwmark)?),
                        None => None,
                    },
                    from: match &r.from {
                        Some(f) => Some(self.val(f, parse::route_dst)?),
                        None => None,
                    },
                    table: self.val(&r.table, parse::table)?,
                })
            })
            .collect()
    }

    fn switch(&mut self, s: &SwitchDoc) -> Result<(), InputError> {
        self.claim_device_name(&s.name)?;
        let dev = s.name.value.clone();
        // Ports and SVIs share one namespace: both are what `dev` and `connect` name.
        let mut taken: Vec<&str> = Vec::new();
        let mut ports = Vec::new();
        for p in &s.ports {
            self.check_name(&p.name, "port")?;
            if taken.contains(&p.name.value.as_str()) {
                return Err(self.err(
                    &p.name,
                    format!("duplicate port name `{}` on `{dev}`", p.name.value),
                ));
            }
            taken.push(&p.name.value);
            ports.push(SwitchPortSpec {
                name: p.name.value.clone(),
                vlan: self.port_vlan(&dev, p)?,
            });
        }
        if ports.len() > usize::from(u16::MAX) {
            return Err(self.err(&s.name, format!("`{dev}` has too many ports")));
        }
        let mut svis: Vec<SviSpec> = Vec::new();
        for v in &s.svis {
            let vlan = self.val(&v.vlan, parse::vlan_id)?;
            if svis.iter().any(|o| o.vlan == vlan) {
                return Err(self.err(
                    &v.vlan,
                    format!("duplicate SVI for VLAN {vlan} on `{dev}` (one SVI per VLAN)"),
                ));
            }
            let name = match &v.name {
                Some(n) => {
                    self.check_name(n, "SVI")?;
                    if taken.contains(&n.value.as_str()) {
                        return Err(self.err(
                            n,
                            format!("SVI name `{}` is already used on `{dev}`", n.value),
                        ));
                    }
                    n.value.clone()
                }
                None => {
                    let n = format!("vlan{vlan}");
                    if taken.contains(&n.as_str()) {
                        return Err(self.err(
                            &v.vlan,
                            format!("the SVI's default name `{n}` is already used on `{dev}`; set `name`"),
                        ));
                    }
                    n
                }
            };
            let addr = self.val(&v.address, parse::iface_addr)?;
            self.claim_addr(&v.address, addr.addr(), format!("{dev}/{name}"))?;
            let at = v.mac.as_ref().unwrap_or(&v.vlan).referenced;
            self.mac_at
                .insert((dev.clone(), format!("vlan {vlan}")), at);
            let mac = match &v.mac {
                Some(m) => self.val(m, parse::mac)?,
                None => MacAddr::from_name(&format!("{dev}/vlan{vlan}")),
            };
            svis.push(SviSpec {
                vlan,
                name,
                mac,
                addr,
            });
        }
        // Catch an explicit SVI name equal to a later default name, e.g. `vlan181` twice.
        for (i, a) in svis.iter().enumerate() {
            if svis[..i].iter().any(|b| b.name == a.name) {
                return Err(self.err(
                    &s.svis[i].vlan,
                    format!("SVI name `{}` is used twice on `{dev}`", a.name),
                ));
            }
        }
        if let Some(first) = s.routes.first()
            && svis.is_empty()
        {
            return Err(self.err(
                &first.to,
                format!("switch `{dev}` has routes but no SVIs; routing needs an SVI (svis: - vlan: ..., address: ...)"),
            ));
        }
        let svi_names: Vec<&str> = svis.iter().map(|v| v.name.as_str()).collect();
        let subnets: Vec<Ipv4Net> = svis.iter().map(|v| v.addr.trunc()).collect();
        let routes = s
            .routes
            .iter()
            .map(|r| self.route(&dev, "SVI", &svi_names, &subnets, r))
            .collect::<Result<Vec<_>, _>>()?;
        let ecmp = self.ecmp(s.maximum_paths.as_ref(), s.multipath_hash.as_ref())?;
        let bgp = match &s.bgp {
            Some(b) => Some(self.bgp_router(&dev, &svis, b)?),
            None => None,
        };
        let id = self.next_id()?;
        self.names.insert(
            dev.clone(),
            PortNames {
                id,
                ports: ports.iter().map(|p| p.name.clone()).collect(),
                portless: svis
                    .iter()
                    .map(|v| (v.name.clone(), format!("the SVI of VLAN {}", v.vlan)))
                    .collect(),
                is_switch: true,
            },
        );
        let timeout = s
            .arp
            .as_ref()
            .and_then(|a| a.timeout)
            .unwrap_or(DEFAULT_FIXED_ARP_TIMEOUT);
        let arp = match s.arp.as_ref().and_then(|a| a.mode.as_ref()) {
            None => ArpPolicy::Fixed { timeout },
            Some(m) if m.value == "fixed" => ArpPolicy::Fixed { timeout },
            Some(m) if m.value == "linux" => {
                if s.arp.as_ref().is_some_and(|a| a.timeout.is_some()) {
                    return Err(self.err(m, "`timeout` applies to `mode: fixed` only"));
                }
                ArpPolicy::Linux
            }
            Some(m) => {
                return Err(self.err(
                    m,
                    format!("unknown ARP mode `{}` (expected fixed or linux)", m.value),
                ));
            }
        };
        self.devices.push(Device {
            name: dev,
            kind: DeviceKind::Switch(SwitchSpec {
                ports,
                svis,
                routes,
                mac_aging: s.mac_aging.unwrap_or(DEFAULT_MAC_AGING),
                arp,
                bfd: s.bfd,
                ecmp,
                bgp,
            }),
        });
        Ok(())
    }

    /// A switch's BGP speaker: checked against its SVIs (sessions are
    /// single-hop, so a listed neighbour must be on an SVI's subnet) and
    /// the ranges FRR and RFC 4271 allow.
    fn bgp_router(
        &self,
        dev: &str,
        svis: &[SviSpec],
        doc: &Spanned<BgpDoc>,
    ) -> Result<BgpRouterSpec, InputError> {
        use crate::model::bgp::*;
        let b = &doc.value;
        // An AS number: 1 to 2^32 - 1 (RFC 6793; 0 is reserved, RFC 7607).
        let asn_of = |n: i64| u32::try_from(n).ok().filter(|a| *a != 0);
        let asn = asn_of(b.asn.value)
            .ok_or_else(|| self.err(&b.asn, "asn must be between 1 and 4294967295"))?;
        let Some(first) = svis.first() else {
            return Err(self.err(
                doc,
                format!("switch `{dev}` has bgp but no SVIs; BGP needs an SVI (svis: - vlan: ..., address: ...)"),
            ));
        };
        let router_id = match &b.router_id {
            Some(r) => self.val(r, |t| {
                t.parse::<Ipv4Addr>()
                    .map_err(|_| format!("routerId `{t}` is not an IPv4 address"))
            })?,
            None => first.addr.addr(),
        };
        let remote_as = |r: &Option<Spanned<RemoteAsDoc>>| -> Result<RemoteAs, InputError> {
            match r {
                None => Ok(RemoteAs::External),
                Some(r) => match &r.value {
                    RemoteAsDoc::Word(w) if w == "external" => Ok(RemoteAs::External),
                    RemoteAsDoc::Word(w) if w == "internal" => Ok(RemoteAs::Internal),
                    RemoteAsDoc::Asn(a) => asn_of(*a)
                        .map(RemoteAs::Asn)
                        .ok_or_else(|| self.err(r, "remoteAs must be between 1 and 4294967295")),
                    RemoteAsDoc::Word(w) => Err(self.err(
                        r,
                        format!("remoteAs `{w}`: expected an ASN, external or internal"),
                    )),
                },
            }
        };
        let peers = match (&b.listen_range, b.neighbors.is_empty()) {
            (Some(range), true) => BgpPeers::Range {
                prefix: self.val(range, |t| {
                    t.parse::<Ipv4Net>()
                        .map(|n| n.trunc())
                        .map_err(|_| format!("listenRange `{t}` is not an IPv4 prefix"))
                })?,
                remote_as: remote_as(&b.remote_as)?,
            },
            (None, false) => {
                if let Some(r) = &b.remote_as {
                    return Err(self.err(
                        r,
                        "remoteAs at the top goes with listenRange; give each neighbor its own",
                    ));
                }
                let mut listed = Vec::new();
                for n in &b.neighbors {
                    let address = self.val(&n.address, |t| {
                        t.parse::<Ipv4Addr>()
                            .map_err(|_| format!("neighbor `{t}` is not an IPv4 address"))
                    })?;
                    if !svis.iter().any(|v| v.addr.trunc().contains(&address)) {
                        return Err(self.err(
                            &n.address,
                            format!("neighbor {address} is on no SVI subnet of `{dev}` (antlab's BGP sessions are single-hop)"),
                        ));
                    }
                    if listed
                        .iter()
                        .any(|l: &BgpNeighborSpec| l.address == address)
                    {
                        return Err(
                            self.err(&n.address, format!("neighbor {address} is listed twice"))
                        );
                    }
                    listed.push(BgpNeighborSpec {
                        address,
                        remote_as: remote_as(&n.remote_as)?,
                    });
                }
                BgpPeers::Listed(listed)
            }
            _ => {
                return Err(self.err(
                    doc,
                    "bgp needs either neighbors or listenRange (one of them)",
                ));
            }
        };
        let maximum_paths = match &b.maximum_paths {
            None => 1,
            Some(m) => {
                crate::model::route::parse_maximum_paths(m.value).map_err(|e| self.err(m, e))?
            }
        };
        let whole_secs =
            |d: &Spanned<SimDuration>, what: &str| -> Result<SimDuration, InputError> {
                let ns = d.value.as_nanos();
                if !ns.is_multiple_of(1_000_000_000) || ns / 1_000_000_000 > 65_535 {
                    return Err(self.err(
                        d,
                        format!("{what} is whole seconds up to 65535 (BGP carries it in seconds)"),
                    ));
                }
                Ok(d.value)
            };
        let timers = b.timers.as_ref();
        let keepalive = match timers.and_then(|t| t.keepalive.as_ref()) {
            Some(k) => whole_secs(k, "keepalive")?,
            None => DEFAULT_KEEPALIVE,
        };
        let hold = match timers.and_then(|t| t.hold.as_ref()) {
            Some(h) => {
                let v = whole_secs(h, "hold")?;
                // RFC 4271 §4.2: zero, or at least three seconds.
                if v != SimDuration::ZERO && v < SimDuration::from_secs(3) {
                    return Err(self.err(h, "hold must be 0 or at least 3s (RFC 4271 §4.2)"));
                }
                if v != SimDuration::ZERO && keepalive >= v {
                    return Err(self.err(
                        h,
                        format!("hold must be longer than keepalive ({keepalive})"),
                    ));
                }
                v
            }
            None if keepalive >= DEFAULT_HOLD => {
                return Err(self.err(
                    timers
                        .and_then(|t| t.keepalive.as_ref())
                        .expect("a keepalive was given"),
                    "keepalive must be shorter than hold (180s unless given)",
                ));
            }
            None => DEFAULT_HOLD,
        };
        let connect_retry = match timers.and_then(|t| t.connect_retry.as_ref()) {
            Some(c) if c.value == SimDuration::ZERO => {
                return Err(self.err(c, "connectRetry must be at least 1s"));
            }
            Some(c) => whole_secs(c, "connectRetry")?,
            None => DEFAULT_CONNECT_RETRY,
        };
        let bfd = match &b.bfd {
            None => None,
            Some(f) => {
                let interval = match &f.value.interval {
                    None => DEFAULT_BFD_INTERVAL,
                    Some(i)
                        if i.value < SimDuration::from_millis(10)
                            || i.value > SimDuration::from_secs(60) =>
                    {
                        return Err(self.err(
                            i,
                            "bfd interval must be between 10ms and 60s (bfdd's range)",
                        ));
                    }
                    Some(i) => i.value,
                };
                let multiplier = match &f.value.multiplier {
                    None => DEFAULT_BFD_MULTIPLIER,
                    Some(m) => u8::try_from(m.value)
                        .ok()
                        .filter(|m| *m >= 2)
                        .ok_or_else(|| self.err(m, "bfd multiplier must be between 2 and 255"))?,
                };
                Some(BfdSpec {
                    interval,
                    multiplier,
                })
            }
        };
        Ok(BgpRouterSpec {
            asn,
            router_id,
            peers,
            maximum_paths,
            keepalive,
            hold,
            connect_retry,
            bfd,
        })
    }

    fn port_vlan(&self, dev: &str, p: &PortDoc) -> Result<VlanMode, InputError> {
        let given = usize::from(p.access.is_some())
            + usize::from(p.trunk.is_some())
            + usize::from(p.proxmox.is_some());
        if given != 1 {
            let msg = format!(
                "port `{}` of `{dev}` needs exactly one of access, trunk or proxmox (found {given})",
                p.name.value
            );
            // Point at the second form when there are several, else at the port.
            let at = [
                p.access.as_ref().map(|s| &s.referenced),
                p.trunk.as_ref().map(|s| &s.referenced),
                p.proxmox.as_ref().map(|s| &s.referenced),
            ]
            .into_iter()
            .flatten()
            .nth(1)
            .unwrap_or(&p.name.referenced);
            return Err(InputError::at(self.file, at, msg));
        }
        if let Some(a) = &p.access {
            return Ok(VlanMode::Access(self.val(a, parse::vlan_id)?));
        }
        if let Some(x) = &p.proxmox {
            return self.val(x, parse::proxmox);
        }
        let Some(t) = &p.trunk else {
            return Err(self.err(&p.name, "internal: port without VLAN form"));
        };
        let native = match &t.value.native {
            Some(n) => Some(self.val(n, parse::vlan_id)?),
            None => None,
        };
        let mut allowed = Vec::new();
        for a in &t.value.allowed {
            allowed.push(self.val(a, parse::vlan_id)?);
        }
        allowed.sort_unstable();
        allowed.dedup();
        if native.is_none() && allowed.is_empty() {
            return Err(self.err(
                t,
                format!(
                    "trunk port `{}` of `{dev}` carries no VLAN (give native, allowed or both)",
                    p.name.value
                ),
            ));
        }
        Ok(VlanMode::Trunk { native, allowed })
    }

    /// Pass 2: one link per connected switch port, then one per `links` entry.
    /// `link_at` gets where each link is written, in the same order.
    fn links(
        &self,
        doc: &TopologyDoc,
        link_at: &mut Vec<Location>,
    ) -> Result<Vec<Link>, InputError> {
        let mut links: Vec<Link> = Vec::new();
        // Who took each port first, for the "used by two links" message.
        let mut used: IndexMap<PortRef, String> = IndexMap::new();
        for s in &doc.switches {
            let Some(names) = self.names.get(&s.name.value) else {
                continue;
            };
            for (idx, p) in s.ports.iter().enumerate() {
                let Some(c) = &p.connect else { continue };
                let a = PortRef {
                    device: names.id,
                    port: port_index(idx),
                };
                let b = self.resolve(c)?;
                let here = format!(
                    "the connect of {}/{} at line {}",
                    s.name.value,
                    p.name.value,
                    c.referenced.line()
                );
                self.link_ends(&mut used, (a, b), c, c, &here)?;
                link_at.push(c.referenced);
                links.push(Link {
                    a,
                    b,
                    latency: p.latency.unwrap_or(self.default_latency),
                });
            }
        }
        for l in &doc.links {
            links.push(self.direct_link(&mut used, l)?);
            link_at.push(l.between.referenced);
        }
        Ok(links)
    }

    fn direct_link(
        &self,
        used: &mut IndexMap<PortRef, String>,
        l: &LinkDoc,
    ) -> Result<Link, InputError> {
        let [x, y] = l.between.value.as_slice() else {
            return Err(self.err(
                &l.between,
                format!(
                    "`between` needs exactly two ports, e.g. [firewall/eth1, ext-vm/eth0] (found {})",
                    l.between.value.len()
                ),
            ));
        };
        let a = self.resolve(x)?;
        let b = self.resolve(y)?;
        let here = format!("the link at line {}", l.between.referenced.line());
        self.link_ends(used, (a, b), x, y, &here)?;
        Ok(Link {
            a,
            b,
            latency: l.latency.unwrap_or(self.default_latency),
        })
    }

    /// Records both ends of a new link, refusing ports that already have one.
    fn link_ends(
        &self,
        used: &mut IndexMap<PortRef, String>,
        (a, b): (PortRef, PortRef),
        at_a: &SStr,
        at_b: &SStr,
        here: &str,
    ) -> Result<(), InputError> {
        if a == b {
            return Err(self.err(
                at_b,
                format!("{} cannot be linked to itself", self.port_name(a)),
            ));
        }
        for (port, at) in [(a, at_a), (b, at_b)] {
            if let Some(prev) = used.get(&port) {
                return Err(self.err(
                    at,
                    format!(
                        "{} is already linked by {prev}; a port takes one link",
                        self.port_name(port)
                    ),
                ));
            }
            used.insert(port, here.to_string());
        }
        Ok(())
    }

    fn port_name(&self, p: PortRef) -> String {
        self.names
            .iter()
            .find(|(_, n)| n.id == p.device)
            .map(|(d, n)| {
                let port = n
                    .ports
                    .get(usize::from(p.port))
                    .map(String::as_str)
                    .unwrap_or("?");
                format!("{d}/{port}")
            })
            .unwrap_or_default()
    }

    /// Resolves `<device>/<interface-or-port>` to a port.
    fn resolve(&self, s: &SStr) -> Result<PortRef, InputError> {
        let Some((dev, port)) = s.value.split_once('/') else {
            return Err(self.err(
                s,
                format!(
                    "`{}` is not a port reference (expected <device>/<interface-or-port>, e.g. k8s-node-vm-1-cl-02/eth0)",
                    s.value
                ),
            ));
        };
        let Some(names) = self.names.get(dev) else {
            return Err(self.err(
                s,
                format!(
                    "no device named `{dev}` (devices: {})",
                    list(self.names.keys().map(String::as_str))
                ),
            ));
        };
        if let Some(i) = names.ports.iter().position(|p| p == port) {
            return Ok(PortRef {
                device: names.id,
                port: port_index(i),
            });
        }
        let thing = if names.is_switch { "port" } else { "interface" };
        let what = if names.is_switch {
            "ports"
        } else {
            "physical interfaces"
        };
        let msg = match names.portless.iter().find(|(n, _)| n == port) {
            Some((_, desc)) => format!(
                "`{port}` on `{dev}` is {desc} and has no port to connect; connect its parent ({what}: {})",
                list(names.ports.iter().map(String::as_str))
            ),
            None => format!(
                "`{dev}` has no {thing} `{port}` ({what}: {})",
                list(names.ports.iter().map(String::as_str))
            ),
        };
        Err(self.err(s, msg))
    }
}

/// Port counts were checked to fit in u16 when the device was built.
fn port_index(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// `a, b, c`, or `none` for an empty list.
fn list<'a, S: AsRef<str> + 'a>(items: impl Iterator<Item = S>) -> String {
    let v: Vec<String> = items.map(|s| s.as_ref().to_string()).collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
