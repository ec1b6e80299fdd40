//! Antrea's ExternalIPPool and Egress CRDs (`crd.antrea.io/v1beta1`, also `v1alpha2`).
//!
//! By the time a document gets here the API server's checks have passed
//! ([`super::crd`]: CRD schema, strict fields), so the shape is right; this turns it
//! into typed values. What Antrea's webhooks check (`pkg/controller/externalippool/
//! validate.go`: prefixLength < 32, ranges inside subnetInfo, start <= end, overlaps;
//! `pkg/controller/egress/validate.go`) is left to admission in the engine
//! (`engine::ippool::PoolSet::validate`, `engine::admission`), which words it as Antrea
//! does. Addresses the CRD accepts but Go's strict parser refuses (leading zeros) get
//! the webhook's message here; IPv6 gets antlab's (IPv4 only).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_saphyr::{Location, Spanned};

use super::selector::RawLabelSelector;
use super::{Ctx, LabelSelector, ObjectMeta};
use crate::input::InputError;

/// An ExternalIPPool: where Egress and LoadBalancer IPs come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIPPool {
    pub(crate) meta: ObjectMeta,
    /// In spec order (Antrea allocates from the first range with a free IP).
    pub(crate) ip_ranges: Vec<IpRange>,
    pub(crate) subnet_info: Option<SubnetInfo>,
    /// Nodes that may hold this pool's IPs; empty selects all Nodes.
    pub(crate) node_selector: LabelSelector,
}

/// One `spec.ipRanges` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpRange {
    /// Host bits are cleared, as Go's `net.ParseCIDR` does. Which addresses of it are
    /// allocatable (Antrea skips the network and broadcast address) is the allocator's call.
    Cidr(Ipv4Net),
    /// Both ends inclusive.
    Range { start: Ipv4Addr, end: Ipv4Addr },
}

impl IpRange {
    /// First and last address covered (inclusive).
    pub fn bounds(&self) -> (Ipv4Addr, Ipv4Addr) {
        match *self {
            IpRange::Cidr(net) => (net.network(), net.broadcast()),
            IpRange::Range { start, end } => (start, end),
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let (first, last) = self.bounds();
        first <= ip && ip <= last
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpRange::Cidr(net) => write!(f, "{net}"),
            IpRange::Range { start, end } => write!(f, "{start}-{end}"),
        }
    }
}

/// `spec.subnetInfo` (EgressSeparateSubnet): the subnet Egress IPs of this pool live in,
/// its gateway, and the VLAN to tag them with (0 = untagged on the transport interface).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubnetInfo {
    pub(crate) gateway: Ipv4Addr,
    pub(crate) prefix_length: u8,
    pub(crate) vlan: u16,
}

impl SubnetInfo {
    /// The subnet `gateway/prefixLength`, host bits cleared.
    pub fn subnet(&self) -> Ipv4Net {
        // prefix_length is checked to be 1..=31 when parsed, so this cannot fail.
        Ipv4Net::new(self.gateway, self.prefix_length)
            .map(|n| n.trunc())
            .unwrap_or_default()
    }
}

/// An Antrea Egress: SNAT the selected Pods' external traffic to one IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    pub meta: ObjectMeta,
    pub applied_to: AppliedTo,
    /// A fixed IP; with `external_ip_pool` it must be in that pool, without it the user
    /// puts it on a Node ("static" Egress).
    pub egress_ip: Option<Ipv4Addr>,
    pub(crate) external_ip_pool: Option<String>,
    /// `spec.egressIPs` / `spec.externalIPPools` as written: the webhook refuses them
    /// ("not supported yet"), so they are kept only to be refused there.
    pub(crate) egress_ips: Vec<String>,
    pub(crate) external_ip_pools: Vec<String>,
    /// `spec.bandwidth` (EgressTrafficShaping), validated by the webhook; antlab does not
    /// shape traffic.
    pub(crate) bandwidth: Option<Bandwidth>,
    /// Kept as given (the blog's manifest carries one); the engine computes its own.
    pub status: EgressStatus,
}

/// `spec.bandwidth`: Kubernetes quantities as written (`500k`, `10M`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bandwidth {
    pub(crate) rate: String,
    pub(crate) burst: String,
}

/// `spec.appliedTo`. Both `None` selects nothing; `pod_selector` alone selects Pods in
/// every Namespace; `namespace_selector` alone selects all Pods of those Namespaces
/// (Antrea docs/egress.md §AppliedTo). `Some(empty)` means "all".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedTo {
    pub pod_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressStatus {
    pub egress_node: Option<String>,
    pub egress_ip: Option<Ipv4Addr>,
}

// ---- raw YAML shapes -------------------------------------------------------------

#[derive(Debug, serde::Deserialize)]
struct RawPoolDoc {
    spec: Option<Spanned<RawPoolSpec>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPoolSpec {
    ip_ranges: Option<Vec<Spanned<RawIpRange>>>,
    subnet_info: Option<Spanned<RawSubnetInfo>>,
    node_selector: Option<Spanned<RawLabelSelector>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawIpRange {
    cidr: Option<Spanned<String>>,
    start: Option<Spanned<String>>,
    end: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSubnetInfo {
    gateway: Option<Spanned<String>>,
    prefix_length: Option<Spanned<i64>>,
    vlan: Option<Spanned<i64>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawEgressDoc {
    spec: Option<Spanned<RawEgressSpec>>,
    status: Option<RawEgressStatus>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEgressSpec {
    applied_to: Option<RawAppliedTo>,
    #[serde(rename = "egressIP")]
    egress_ip: Option<Spanned<String>>,
    #[serde(rename = "externalIPPool")]
    external_ip_pool: Option<String>,
    #[serde(rename = "egressIPs")]
    egress_ips: Option<Vec<String>>,
    #[serde(rename = "externalIPPools")]
    external_ip_pools: Option<Vec<String>>,
    bandwidth: Option<RawBandwidth>,
}

#[derive(Debug, serde::Deserialize)]
struct RawBandwidth {
    rate: String,
    burst: String,
}

/// An Egress's or a TrafficControl's `appliedTo` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawAppliedTo {
    pod_selector: Option<Spanned<RawLabelSelector>>,
    namespace_selector: Option<Spanned<RawLabelSelector>>,
}

/// Its two selectors, each checked where written.
pub(super) fn applied_to(ctx: &Ctx<'_>, raw: RawAppliedTo) -> Result<AppliedTo, InputError> {
    Ok(AppliedTo {
        pod_selector: raw
            .pod_selector
            .map(|s| ctx.selector(s, "appliedTo.podSelector"))
            .transpose()?,
        namespace_selector: raw
            .namespace_selector
            .map(|s| ctx.selector(s, "appliedTo.namespaceSelector"))
            .transpose()?,
    })
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEgressStatus {
    egress_node: Option<String>,
    #[serde(rename = "egressIP")]
    egress_ip: Option<Spanned<String>>,
}

// ---- conversion ------------------------------------------------------------------

/// An IP the CRD's `format` accepted: IPv6 is refused in antlab's words, anything else
/// Go's `netip.ParseAddr` would refuse gets the webhook's message `{what} {value}`.
fn webhook_ipv4(ctx: &Ctx<'_>, v: &Spanned<String>, what: &str) -> Result<Ipv4Addr, InputError> {
    if v.value.contains(':') {
        return ctx.ipv4(v, what);
    }
    v.value
        .parse()
        .map_err(|_| ctx.error(v, format!("{what} {}", v.value)))
}

fn ip_range(ctx: &Ctx<'_>, raw: Spanned<RawIpRange>) -> Result<IpRange, InputError> {
    let at = raw.referenced;
    let r = raw.value;
    // Antrea's normalizeRange: a non-empty cidr wins over start/end.
    match (r.cidr.filter(|c| !c.value.is_empty()), r.start, r.end) {
        (Some(cidr), _, _) => {
            if cidr.value.contains(':') {
                return Err(ctx.error(
                    &cidr,
                    format!(
                        "cidr {:?} is IPv6; antlab models IPv4 networks only",
                        cidr.value
                    ),
                ));
            }
            // Go's netip.ParsePrefix: a strict address (no leading zeros), bits 0..=32.
            let net = cidr
                .value
                .split_once('/')
                .and_then(|(ip, bits)| {
                    let ip: Ipv4Addr = ip.parse().ok()?;
                    let bits: u8 = bits.parse().ok().filter(|_| !bits.starts_with('+'))?;
                    Ipv4Net::new(ip, bits).ok()
                })
                .ok_or_else(|| ctx.error(&cidr, format!("invalid cidr {}", cidr.value)))?;
            Ok(IpRange::Cidr(net.trunc()))
        }
        (None, Some(start), Some(end)) => {
            let s = webhook_ipv4(ctx, &start, "invalid start ip address")?;
            let e = webhook_ipv4(ctx, &end, "invalid end ip address")?;
            Ok(IpRange::Range { start: s, end: e })
        }
        // The CRD's oneOf makes these unreachable; keep a located error regardless.
        _ => Err(ctx.error_at(&at, "an ipRange needs cidr, or start and end")),
    }
}

fn subnet_info(ctx: &Ctx<'_>, raw: Spanned<RawSubnetInfo>) -> Result<SubnetInfo, InputError> {
    let at = raw.referenced;
    let r = raw.value;
    let gateway = r
        .gateway
        .ok_or_else(|| ctx.error_at(&at, "subnetInfo needs gateway"))?;
    let gateway = webhook_ipv4(ctx, &gateway, "invalid gateway address")?;
    let prefix = r
        .prefix_length
        .ok_or_else(|| ctx.error_at(&at, "subnetInfo needs prefixLength"))?;
    // The CRD keeps it within 1..=127; the webhook refuses 32 and more for IPv4.
    let prefix_length = u8::try_from(prefix.value).map_err(|_| {
        ctx.error(
            &prefix,
            format!(
                "prefixLength must be between 1 and 127, got {}",
                prefix.value
            ),
        )
    })?;
    let vlan = match &r.vlan {
        None => 0,
        Some(v) => u16::try_from(v.value).map_err(|_| {
            ctx.error(
                v,
                format!("vlan must be between 0 and 4094, got {}", v.value),
            )
        })?,
    };
    Ok(SubnetInfo {
        gateway,
        prefix_length,
        vlan,
    })
}

pub(super) fn parse_external_ip_pool(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<ExternalIPPool, InputError> {
    let raw: RawPoolDoc = ctx.reparse(doc)?;
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, "ExternalIPPool needs spec.ipRanges"))?;
    let spec_at = spec.referenced;
    let spec = spec.value;
    let raw_ranges = spec
        .ip_ranges
        .ok_or_else(|| ctx.error_at(&spec_at, "ExternalIPPool needs spec.ipRanges"))?;
    let subnet_info = spec.subnet_info.map(|s| subnet_info(ctx, s)).transpose()?;
    let ip_ranges = raw_ranges
        .into_iter()
        .map(|r| ip_range(ctx, r))
        .collect::<Result<Vec<_>, _>>()?;
    let node_selector = match spec.node_selector {
        Some(s) => ctx.selector(s, "nodeSelector")?,
        None => LabelSelector::default(),
    };
    Ok(ExternalIPPool {
        meta,
        ip_ranges,
        subnet_info,
        node_selector,
    })
}

pub(super) fn parse_egress(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<Egress, InputError> {
    let raw: RawEgressDoc = ctx.reparse(doc)?;
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, "Egress needs spec.appliedTo"))?;
    let spec_at = spec.referenced;
    let spec = spec.value;
    let applied = spec
        .applied_to
        .ok_or_else(|| ctx.error_at(&spec_at, "Egress needs spec.appliedTo"))?;
    let applied_to = applied_to(ctx, applied)?;
    let status = match raw.status {
        Some(s) => EgressStatus {
            egress_node: s.egress_node.filter(|n| !n.is_empty()),
            egress_ip: ctx.opt_ipv4(&s.egress_ip, "status.egressIP")?,
        },
        None => EgressStatus::default(),
    };
    Ok(Egress {
        meta,
        applied_to,
        egress_ip: ctx.opt_ipv4(&spec.egress_ip, "egressIP")?,
        external_ip_pool: spec.external_ip_pool.filter(|p| !p.is_empty()),
        egress_ips: spec.egress_ips.unwrap_or_default(),
        external_ip_pools: spec.external_ip_pools.unwrap_or_default(),
        bandwidth: spec.bandwidth.map(|b| Bandwidth {
            rate: b.rate,
            burst: b.burst,
        }),
        status,
    })
}
