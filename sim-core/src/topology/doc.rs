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
    pub(crate) name: String,
    #[serde(default)]
    #[allow(dead_code)] // Free text for readers of the file; not part of the model.
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) cluster: Option<ClusterDoc>,
    #[serde(default)]
    pub(crate) defaults: Option<DefaultsDoc>,
    #[serde(default)]
    pub(crate) nodes: Vec<NodeDoc>,
    #[serde(default)]
    pub(crate) hosts: Vec<HostDoc>,
    #[serde(default)]
    pub(crate) routers: Vec<HostDoc>,
    #[serde(default)]
    pub(crate) switches: Vec<SwitchDoc>,
    #[serde(default)]
    pub(crate) links: Vec<LinkDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ClusterDoc {
    #[serde(default, rename = "podCIDR")]
    pub(crate) pod_cidr: Option<SStr>,
    #[serde(default, rename = "serviceCIDR")]
    pub(crate) service_cidr: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DefaultsDoc {
    #[serde(default)]
    pub(crate) link_latency: Option<SimDuration>,
}

/// A Kubernetes node VM.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NodeDoc {
    pub(crate) name: SStr,
    #[serde(default)]
    pub(crate) role: Option<SStr>,
    #[serde(default, rename = "podCIDR")]
    pub(crate) pod_cidr: Option<SStr>,
    #[serde(default)]
    pub(crate) labels: IndexMap<String, String>,
    #[serde(default)]
    pub(crate) transport_interface: Option<SStr>,
    #[serde(default)]
    pub(crate) interfaces: Vec<IfaceDoc>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteDoc>,
    #[serde(default)]
    pub(crate) rules: Vec<RuleDoc>,
    #[serde(default)]
    pub(crate) tcp_listen: Vec<u16>,
}

/// An external machine or a router: a host without Kubernetes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HostDoc {
    pub(crate) name: SStr,
    #[serde(default)]
    pub(crate) interfaces: Vec<IfaceDoc>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteDoc>,
    #[serde(default)]
    pub(crate) rules: Vec<RuleDoc>,
    #[serde(default)]
    pub(crate) tcp_listen: Vec<u16>,
    #[serde(default)]
    pub(crate) ip_forward: Option<bool>,
    #[serde(default)]
    pub(crate) arp: Option<ArpDoc>,
    /// Routers only: equal static routes used together, up to this many.
    #[serde(default)]
    pub(crate) maximum_paths: Option<Spanned<u64>>,
    /// `l3` (default) or `l4`: Linux `fib_multipath_hash_policy` 0 or 1.
    #[serde(default)]
    pub(crate) multipath_hash: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IfaceDoc {
    pub(crate) name: SStr,
    #[serde(default)]
    pub(crate) mac: Option<SStr>,
    #[serde(default)]
    pub(crate) addresses: Vec<SStr>,
    #[serde(default)]
    pub(crate) vlan: Option<VlanDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VlanDoc {
    pub(crate) parent: SStr,
    pub(crate) id: SStr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RouteDoc {
    pub(crate) to: SStr,
    #[serde(default)]
    pub(crate) via: Option<SStr>,
    #[serde(default)]
    pub(crate) dev: Option<SStr>,
    #[serde(default)]
    pub(crate) metric: u32,
    #[serde(default)]
    pub(crate) table: Option<SStr>,
    /// A multipath route (`ip route add TO nexthop via A nexthop via B`),
    /// instead of `via`/`dev`.
    #[serde(default)]
    pub(crate) nexthops: Vec<NexthopDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NexthopDoc {
    pub(crate) via: SStr,
    #[serde(default)]
    pub(crate) dev: Option<SStr>,
    #[serde(default)]
    pub(crate) weight: Option<Spanned<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RuleDoc {
    pub(crate) priority: u32,
    #[serde(default)]
    pub(crate) fwmark: Option<SStr>,
    #[serde(default)]
    pub(crate) from: Option<SStr>,
    pub(crate) table: SStr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ArpDoc {
    pub(crate) mode: SStr,
    #[serde(default)]
    pub(crate) timeout: Option<Spanned<SimDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SwitchDoc {
    pub(crate) name: SStr,
    #[serde(default)]
    pub(crate) mac_aging: Option<SimDuration>,
    #[serde(default)]
    pub(crate) arp: Option<SwitchArpDoc>,
    #[serde(default)]
    pub(crate) bfd: bool,
    /// Equal static routes used together, up to this many (`maximum-paths`).
    #[serde(default)]
    pub(crate) maximum_paths: Option<Spanned<u64>>,
    /// `l3` (default) or `l4`: what the per-flow ECMP hash covers.
    #[serde(default)]
    pub(crate) multipath_hash: Option<SStr>,
    #[serde(default)]
    pub(crate) svis: Vec<SviDoc>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteDoc>,
    #[serde(default)]
    pub(crate) ports: Vec<PortDoc>,
    /// A BGP speaker on the switch's L3 part (`model::bgp`).
    #[serde(default)]
    pub(crate) bgp: Option<Spanned<BgpDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BgpDoc {
    pub(crate) asn: Spanned<i64>,
    #[serde(default)]
    pub(crate) router_id: Option<SStr>,
    #[serde(default)]
    pub(crate) neighbors: Vec<BgpNeighborDoc>,
    #[serde(default)]
    pub(crate) listen_range: Option<SStr>,
    /// With `listenRange`: the peers' AS (default `external`).
    #[serde(default)]
    pub(crate) remote_as: Option<Spanned<RemoteAsDoc>>,
    #[serde(default)]
    pub(crate) maximum_paths: Option<Spanned<u64>>,
    #[serde(default)]
    pub(crate) timers: Option<BgpTimersDoc>,
    #[serde(default)]
    pub(crate) bfd: Option<Spanned<BfdDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BgpNeighborDoc {
    pub(crate) address: SStr,
    #[serde(default)]
    pub(crate) remote_as: Option<Spanned<RemoteAsDoc>>,
}

/// `remoteAs: 64512`, `external` or `internal`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RemoteAsDoc {
    Asn(i64),
    Word(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BgpTimersDoc {
    #[serde(default)]
    pub(crate) keepalive: Option<Spanned<SimDuration>>,
    #[serde(default)]
    pub(crate) hold: Option<Spanned<SimDuration>>,
    #[serde(default)]
    pub(crate) connect_retry: Option<Spanned<SimDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BfdDoc {
    #[serde(default)]
    pub(crate) interval: Option<Spanned<SimDuration>>,
    #[serde(default)]
    pub(crate) multiplier: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SwitchArpDoc {
    /// `fixed` (default: a router's table, entries live `timeout`) or `linux`
    /// (a Linux-based switch: the kernel's neighbour state machine).
    #[serde(default)]
    pub(crate) mode: Option<SStr>,
    #[serde(default)]
    pub(crate) timeout: Option<SimDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SviDoc {
    pub(crate) vlan: SStr,
    pub(crate) address: SStr,
    #[serde(default)]
    pub(crate) mac: Option<SStr>,
    #[serde(default)]
    pub(crate) name: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PortDoc {
    pub(crate) name: SStr,
    #[serde(default)]
    pub(crate) connect: Option<SStr>,
    #[serde(default)]
    pub(crate) latency: Option<SimDuration>,
    #[serde(default)]
    pub(crate) access: Option<SStr>,
    #[serde(default)]
    pub(crate) trunk: Option<Spanned<TrunkDoc>>,
    #[serde(default)]
    pub(crate) proxmox: Option<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TrunkDoc {
    #[serde(default)]
    pub(crate) native: Option<SStr>,
    #[serde(default)]
    pub(crate) allowed: Vec<SStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LinkDoc {
    pub(crate) between: Spanned<Vec<SStr>>,
    #[serde(default)]
    pub(crate) latency: Option<SimDuration>,
}
