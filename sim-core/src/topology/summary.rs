//! A readable, deterministic listing of a [`Topology`]: what `antlab topology`
//! prints and what snapshot tests pin down. Devices are grouped by kind in
//! topology order; nothing depends on hashing or the clock.

use std::fmt::Write;

use crate::model::{
    ArpPolicy, Device, DeviceKind, HostRole, HostSpec, IfaceKind, PortRef, RouteSpec, RuleSpec,
    SwitchSpec, TABLE_LOCAL, TABLE_MAIN, Topology, VlanMode,
};

/// The whole topology as indented text, one fact per line.
pub fn summary(t: &Topology) -> String {
    let mut out = String::new();
    let count = |f: fn(&Device) -> bool| t.devices.iter().filter(|d| f(d)).count();
    let _ = writeln!(out, "topology {}", t.name);
    let mut cluster = Vec::new();
    if let Some(p) = t.cluster.pod_cidr {
        cluster.push(format!("podCIDR {p}"));
    }
    if let Some(s) = t.cluster.service_cidr {
        cluster.push(format!("serviceCIDR {s}"));
    }
    if !cluster.is_empty() {
        let _ = writeln!(out, "cluster: {}", cluster.join(", "));
    }
    let _ = writeln!(
        out,
        "devices: {} (nodes {}, hosts {}, routers {}, switches {}), links: {}",
        t.devices.len(),
        count(|d| matches!(host_role(d), Some(HostRole::Node(_)))),
        count(|d| matches!(
            host_role(d),
            Some(HostRole::External | HostRole::Pod { .. })
        )),
        count(|d| matches!(host_role(d), Some(HostRole::Router))),
        count(|d| matches!(d.kind, DeviceKind::Switch(_))),
        t.links.len()
    );
    // Same grouping as the file: nodes, hosts, routers, switches.
    let groups: [fn(&Device) -> bool; 4] = [
        |d| matches!(host_role(d), Some(HostRole::Node(_))),
        |d| {
            matches!(
                host_role(d),
                Some(HostRole::External | HostRole::Pod { .. })
            )
        },
        |d| matches!(host_role(d), Some(HostRole::Router)),
        |d| matches!(d.kind, DeviceKind::Switch(_)),
    ];
    for group in groups {
        for d in t.devices.iter().filter(|d| group(d)) {
            out.push('\n');
            match &d.kind {
                DeviceKind::Host(h) => host(&mut out, &d.name, h),
                DeviceKind::Switch(s) => switch(&mut out, &d.name, s),
            }
        }
    }
    if !t.links.is_empty() {
        out.push_str("\nlinks:\n");
        for l in &t.links {
            let _ = writeln!(
                out,
                "  {} <-> {} latency {}",
                port_name(t, l.a),
                port_name(t, l.b),
                l.latency
            );
        }
    }
    out
}

fn host_role(d: &Device) -> Option<&HostRole> {
    match &d.kind {
        DeviceKind::Host(h) => Some(&h.role),
        DeviceKind::Switch(_) => None,
    }
}

/// `device/interface` or `device/port` for a link end.
fn port_name(t: &Topology, p: PortRef) -> String {
    let Some(d) = t.devices.get(p.device.0 as usize) else {
        return format!("?{}/{}", p.device.0, p.port);
    };
    let port = match &d.kind {
        DeviceKind::Host(h) => h.interfaces.get(usize::from(p.port)).map(|i| &i.name),
        DeviceKind::Switch(s) => s.ports.get(usize::from(p.port)).map(|x| &x.name),
    };
    match port {
        Some(n) => format!("{}/{n}", d.name),
        None => format!("{}/#{}", d.name, p.port),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn arp(a: &ArpPolicy) -> String {
    match a {
        ArpPolicy::Linux => "linux".to_string(),
        ArpPolicy::Fixed { timeout } => format!("fixed {timeout}"),
    }
}

fn host(out: &mut String, name: &str, h: &HostSpec) {
    let role = match &h.role {
        HostRole::Node(n) => format!(
            "node {name}: {}, podCIDR {}, transport {}",
            if n.control_plane {
                "control-plane"
            } else {
                "worker"
            },
            n.pod_cidr,
            n.transport_interface
        ),
        HostRole::Pod { node, namespace } => format!("pod {name}: {namespace} on {node}"),
        HostRole::Router => format!("router {name}:"),
        HostRole::External => format!("host {name}:"),
    };
    let sep = if role.ends_with(':') { " " } else { ", " };
    let _ = writeln!(
        out,
        "{role}{sep}ip_forward {}, arp {}",
        on_off(h.ip_forward),
        arp(&h.arp)
    );
    if let HostRole::Node(n) = &h.role
        && !n.labels.is_empty()
    {
        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  labels {}", labels.join(","));
    }
    for i in &h.interfaces {
        let _ = write!(out, "  iface {} mac {}", i.name, i.mac);
        if let IfaceKind::Vlan { parent, vid } = &i.kind {
            let _ = write!(out, " vlan {vid} on {parent}");
        }
        for a in &i.addrs {
            let _ = write!(out, " {a}");
        }
        out.push('\n');
    }
    for r in &h.routes {
        let _ = writeln!(out, "  route {}", route(r));
    }
    for r in &h.rules {
        let _ = writeln!(out, "  rule {}", rule(r));
    }
    if !h.tcp_listen.is_empty() {
        let ports: Vec<String> = h.tcp_listen.iter().map(u16::to_string).collect();
        let _ = writeln!(out, "  tcp listen {}", ports.join(","));
    }
}

fn switch(out: &mut String, name: &str, s: &SwitchSpec) {
    let _ = writeln!(
        out,
        "switch {name}: mac aging {}, arp {}, bfd {}",
        s.mac_aging,
        arp(&s.arp),
        on_off(s.bfd)
    );
    for p in &s.ports {
        let _ = writeln!(out, "  port {} {}", p.name, vlan_mode(&p.vlan));
    }
    for v in &s.svis {
        let _ = writeln!(
            out,
            "  svi {} vlan {} mac {} {}",
            v.name, v.vlan, v.mac, v.addr
        );
    }
    for r in &s.routes {
        let _ = writeln!(out, "  route {}", route(r));
    }
    if let Some(b) = &s.bgp {
        let _ = writeln!(out, "  {}", bgp_router(b));
    }
}

/// `bgp as 65000 router-id 10.160.1.1 neighbors 10.160.1.25 (as 64512)
/// maximum-paths 8 timers 60s/180s connect 120s bfd off`.
fn bgp_router(b: &crate::model::bgp::BgpRouterSpec) -> String {
    use crate::model::bgp::{BgpPeers, RemoteAs};
    let remote = |r: RemoteAs| match r {
        RemoteAs::Asn(a) => format!("as {a}"),
        RemoteAs::External => "external".to_string(),
        RemoteAs::Internal => "internal".to_string(),
    };
    let peers = match &b.peers {
        BgpPeers::Listed(l) => {
            let each: Vec<String> = l
                .iter()
                .map(|n| format!("{} ({})", n.address, remote(n.remote_as)))
                .collect();
            format!("neighbors {}", each.join(", "))
        }
        BgpPeers::Range { prefix, remote_as } => {
            format!("listen range {prefix} ({})", remote(*remote_as))
        }
    };
    let bfd = match b.bfd {
        Some(f) => format!("{} x{}", f.interval, f.multiplier),
        None => "off".to_string(),
    };
    format!(
        "bgp as {} router-id {} {peers} maximum-paths {} timers {}/{} connect {} bfd {bfd}",
        b.asn, b.router_id, b.maximum_paths, b.keepalive, b.hold, b.connect_retry
    )
}

/// `access 216`, `trunk native 216 allowed 181,216`.
pub(crate) fn vlan_mode(m: &VlanMode) -> String {
    match m {
        VlanMode::Access(v) => format!("access {v}"),
        VlanMode::Trunk { native, allowed } => {
            let mut s = "trunk".to_string();
            if let Some(n) = native {
                let _ = write!(s, " native {n}");
            }
            let ids: Vec<String> = allowed.iter().map(u16::to_string).collect();
            let _ = write!(
                s,
                " allowed {}",
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(",")
                }
            );
            s
        }
    }
}

fn table_name(t: u32) -> String {
    match t {
        TABLE_MAIN => "main".to_string(),
        TABLE_LOCAL => "local".to_string(),
        253 => "default".to_string(),
        n => n.to_string(),
    }
}

/// `ip route` style: `default via 10.160.1.1 dev eth0`, metric and table only when set.
fn route(r: &RouteSpec) -> String {
    let mut s = if r.dst.prefix_len() == 0 {
        "default".to_string()
    } else {
        r.dst.to_string()
    };
    if let Some(v) = r.via {
        let _ = write!(s, " via {v}");
    }
    if let Some(d) = &r.dev {
        let _ = write!(s, " dev {d}");
    }
    if r.metric != 0 {
        let _ = write!(s, " metric {}", r.metric);
    }
    if r.table != TABLE_MAIN {
        let _ = write!(s, " table {}", table_name(r.table));
    }
    for nh in &r.nexthops {
        let _ = write!(s, " nexthop via {}", nh.via);
        if let Some(d) = &nh.dev {
            let _ = write!(s, " dev {d}");
        }
        if nh.weight != 1 {
            let _ = write!(s, " weight {}", nh.weight);
        }
    }
    s
}

/// `ip rule` style: `100: from all fwmark 0x1/0xff lookup 101`.
fn rule(r: &RuleSpec) -> String {
    let mut s = format!("{}: from ", r.priority);
    match r.from {
        Some(f) => {
            let _ = write!(s, "{f}");
        }
        None => s.push_str("all"),
    }
    if let Some((v, m)) = r.fwmark {
        if m == u32::MAX {
            let _ = write!(s, " fwmark {v:#x}");
        } else {
            let _ = write!(s, " fwmark {v:#x}/{m:#x}");
        }
    }
    let _ = write!(s, " lookup {}", table_name(r.table));
    s
}
