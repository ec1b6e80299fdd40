//! The topology file as written: serde structs that mirror the YAML one to one.
//!
//! Everything that needs checking after parsing (names, addresses, VLAN ids,
//! references between devices) is kept as a `Spanned` string or number, so the
//! validator in `build` can point at the exact line and column. Values whose
//! type alone says everything (durations, booleans, port numbers) are plain and
//! get serde-saphyr's own located errors.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::time::SimDuration;

/// A located string. YAML scalars of any type (`101`, `0x1`) arrive as text,
/// which lets us give one clear message per field instead of serde's type errors.
pub(crate) type SStr = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TopologyDoc {
    pub name: String,
    #[serde(default)]
    #[allow(dead_code)] // Free text for readers of the file; not part of the model.
    pub description: Option<String>,
    #[serde(default)]
    pub cluster: Option<ClusterDoc>,
    #[serde(default)]
    pub defaults: Option<DefaultsDoc>,
    #[serde(default)]
    pub nodes: Vec<NodeDoc>,
    #[serde(default)]
    pub hosts: Vec<HostDoc>,
    #[serde(default)]
    pub routers: Vec<HostDoc>,
    #[serde(default)]
    pub switches: Vec<SwitchDoc>,
    #[serde(default)]
    pub links: Vec<LinkDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ClusterDoc {
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: Option<SStr>,
    #[serde(default, rename = "serviceCIDR")]
    pub service_cidr: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DefaultsDoc {
    #[serde(default)]
    pub link_latency: Option<SimDuration>,
}

/// A Kubernetes node VM.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NodeDoc {
    pub name: SStr,
    #[serde(default)]
    pub role: Option<SStr>,
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: Option<SStr>,
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    #[serde(default)]
    pub transport_interface: Option<SStr>,
    #[serde(default)]
    pub interfaces: Vec<IfaceDoc>,
    #[serde(default)]
    pub routes: Vec<RouteDoc>,
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    #[serde(default)]
    pub tcp_listen: Vec<u16>,
}

/// An external machine or a router: a host without Kubernetes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HostDoc {
    pub name: SStr,
    #[serde(default)]
    pub interfaces: Vec<IfaceDoc>,
    #[serde(default)]
    pub routes: Vec<RouteDoc>,
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    #[serde(default)]
    pub tcp_listen: Vec<u16>,
    #[serde(default)]
    pub ip_forward: Option<bool>,
    #[serde(default)]
    pub arp: Option<ArpDoc>,
    /// Routers only: equal static routes used together, up to this many.
    #[serde(default)]
    pub maximum_paths: Option<Spanned<u64>>,
    /// `l3` (default) or `l4`: Linux `fib_multipath_hash_policy` 0 or 1.
    #[serde(default)]
    pub multipath_hash: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IfaceDoc {
    pub name: SStr,
    #[serde(default)]
    pub mac: Option<SStr>,
    #[serde(default)]
    pub addresses: Vec<SStr>,
    #[serde(default)]
    pub vlan: Option<VlanDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VlanDoc {
    pub parent: SStr,
    pub id: SStr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RouteDoc {
    pub to: SStr,
    #[serde(default)]
    pub via: Option<SStr>,
    #[serde(default)]
    pub dev: Option<SStr>,
    #[serde(default)]
    pub metric: u32,
    #[serde(default)]
    pub table: Option<SStr>,
    /// A multipath route (`ip route add TO nexthop via A nexthop via B`),
    /// instead of `via`/`dev`.
    #[serde(default)]
    pub nexthops: Vec<NexthopDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NexthopDoc {
    pub via: SStr,
    #[serde(default)]
    pub dev: Option<SStr>,
    #[serde(default)]
    pub weight: Option<Spanned<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RuleDoc {
    pub priority: u32,
    #[serde(default)]
    pub fwmark: Option<SStr>,
    #[serde(default)]
    pub from: Option<SStr>,
    pub table: SStr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ArpDoc {
    pub mode: SStr,
    #[serde(default)]
    pub timeout: Option<Spanned<SimDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SwitchDoc {
    pub name: SStr,
    #[serde(default)]
    pub mac_aging: Option<SimDuration>,
    #[serde(default)]
    pub arp: Option<SwitchArpDoc>,
    #[serde(default)]
    pub bfd: bool,
    /// Equal static routes used together, up to this many (`maximum-paths`).
    #[serde(default)]
    pub maximum_paths: Option<Spanned<u64>>,
    /// `l3` (default) or `l4`: what the per-flow ECMP hash covers.
    #[serde(default)]
    pub multipath_hash: Option<SStr>,
    #[serde(default)]
    pub svis: Vec<SviDoc>,
    #[serde(default)]
    pub routes: Vec<RouteDoc>,
    #[serde(default)]
    pub ports: Vec<PortDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SwitchArpDoc {
    /// `fixed` (default: a router's table, entries live `timeout`) or `linux`
    /// (a Linux-based switch: the kernel's neighbour state machine).
    #[serde(default)]
    pub mode: Option<SStr>,
    #[serde(default)]
    pub timeout: Option<SimDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SviDoc {
    pub vlan: SStr,
    pub address: SStr,
    #[serde(default)]
    pub mac: Option<SStr>,
    #[serde(default)]
    pub name: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PortDoc {
    pub name: SStr,
    #[serde(default)]
    pub connect: Option<SStr>,
    #[serde(default)]
    pub latency: Option<SimDuration>,
    #[serde(default)]
    pub access: Option<SStr>,
    #[serde(default)]
    pub trunk: Option<Spanned<TrunkDoc>>,
    #[serde(default)]
    pub proxmox: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TrunkDoc {
    #[serde(default)]
    pub native: Option<SStr>,
    #[serde(default)]
    pub allowed: Vec<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LinkDoc {
    pub between: Spanned<Vec<SStr>>,
    #[serde(default)]
    pub latency: Option<SimDuration>,
}
