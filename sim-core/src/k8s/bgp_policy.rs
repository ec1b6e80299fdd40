//! Antrea's BGPPolicy CR (`crd.antrea.io/v1alpha1`, cluster-scoped, feature
//! gate `BGPPolicy`, Antrea v2.1+; `pkg/apis/crd/v1alpha1/types.go`): the
//! Nodes it selects run one BGP speaker each, with its local ASN and port,
//! its peers, and what it advertises (Service IPs, the Node's Pod CIDR, the
//! Egress IPs the Node holds).
//!
//! The CRD's OpenAPI schema (`crd::bgp_policy`) is the only validation the
//! API server applies, and it runs before this parse; the defaults here are
//! the schema's (`listenPort` and a peer's `port` 179, `multihopTTL` 1,
//! `gracefulRestartTimeSeconds` 120), which the API server writes into the
//! object. A BGPPolicy has no status.

use std::net::IpAddr;

use serde_saphyr::{Location, Spanned};

use super::selector::RawLabelSelector;
use super::{Ctx, LabelSelector, ObjectMeta};
use crate::input::InputError;

/// The BGP port, RFC 4271 §8.2.1 (the schema's default for both ends).
pub const BGP_PORT: u16 = 179;
/// The schema's `multihopTTL` default: directly connected peers.
pub const DEFAULT_MULTIHOP_TTL: u8 = 1;
/// The schema's `gracefulRestartTimeSeconds` default.
pub const DEFAULT_GRACEFUL_RESTART_SECS: u16 = 120;

/// A BGPPolicy as the API server stores it (defaults filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPolicy {
    pub meta: ObjectMeta,
    pub node_selector: LabelSelector,
    pub local_asn: u32,
    pub listen_port: u16,
    pub confederation: Option<Confederation>,
    /// `advertisements.service.ipTypes`, as written (repeats kept).
    pub service_ip_types: Vec<ServiceIpType>,
    /// `advertisements.pod: {}`: the Node's Pod CIDR.
    pub advertise_pod_cidr: bool,
    /// `advertisements.egress: {}`: the Egress IPs the Node holds.
    pub advertise_egress: bool,
    pub peers: Vec<BgpPeer>,
}

/// `spec.confederation`. An identifier left out stays 0, as in Antrea.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confederation {
    pub identifier: u32,
    pub member_asns: Vec<u32>,
}

/// Which Service IPs `advertisements.service.ipTypes` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceIpType {
    ClusterIP,
    LoadBalancerIP,
    ExternalIP,
}

/// One of `spec.bgpPeers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPeer {
    /// IPv4 or IPv6, as the schema allows; antlab's IPv4 agents leave IPv6
    /// peers out, as Antrea's agent does for a disabled IP family.
    pub address: IpAddr,
    pub port: u16,
    pub asn: u32,
    pub multihop_ttl: u8,
    pub graceful_restart_secs: u16,
}

impl BgpPeer {
    /// Antrea's peer key (`generateBGPPeerKey`): `<address>-<asn>`.
    pub fn key(&self) -> String {
        format!("{}-{}", self.address, self.asn)
    }

    /// Whether two peers have the same [`BgpPeer::key`] (without making it).
    pub fn same_key(&self, other: &BgpPeer) -> bool {
        self.address == other.address && self.asn == other.asn
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    node_selector: Option<Spanned<RawLabelSelector>>,
    #[serde(rename = "localASN")]
    local_asn: Option<i64>,
    listen_port: Option<i64>,
    confederation: Option<RawConfederation>,
    advertisements: Option<RawAdvertisements>,
    bgp_peers: Option<Vec<Spanned<RawPeer>>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfederation {
    identifier: Option<i64>,
    #[serde(rename = "memberASNs")]
    member_asns: Option<Vec<i64>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawAdvertisements {
    service: Option<RawServiceAdvertisement>,
    pod: Option<serde::de::IgnoredAny>,
    egress: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServiceAdvertisement {
    ip_types: Option<Vec<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPeer {
    address: Option<Spanned<String>>,
    port: Option<i64>,
    asn: Option<i64>,
    #[serde(rename = "multihopTTL")]
    multihop_ttl: Option<i64>,
    graceful_restart_time_seconds: Option<i64>,
}

/// The number at `what`, or `default` when left out. The schema bounds
/// each one first; a document read without it (not applied) still gets
/// an error rather than a wrapped value.
fn number<T: TryFrom<i64>>(
    ctx: &Ctx<'_>,
    at: &Location,
    v: Option<i64>,
    default: T,
    what: &str,
) -> Result<T, InputError> {
    match v {
        None => Ok(default),
        Some(n) => T::try_from(n)
            .ok()
            .filter(|_| n >= 0)
            .ok_or_else(|| ctx.error_at(at, format!("{what} {n} is out of range"))),
    }
}

pub(super) fn parse_bgp_policy(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<BgpPolicy, InputError> {
    // The schema requires spec, nodeSelector and localASN; these hold
    // whenever the schema ran (a scenario's own steps may skip it).
    let needs = "BGPPolicy needs spec.nodeSelector and spec.localASN";
    let (at, spec): (_, RawSpec) = ctx.spec_of(doc, doc_at, needs)?;
    let (Some(selector), Some(local_asn)) = (spec.node_selector, spec.local_asn) else {
        return Err(ctx.error_at(&at, needs));
    };
    let node_selector = ctx.selector(selector, "spec.nodeSelector")?;
    let ads = spec.advertisements;
    let service_ip_types = ads
        .as_ref()
        .and_then(|a| a.service.as_ref())
        .and_then(|s| s.ip_types.as_ref())
        .map(|types| {
            types
                .iter()
                .map(|t| match t.as_str() {
                    "ClusterIP" => ServiceIpType::ClusterIP,
                    "LoadBalancerIP" => ServiceIpType::LoadBalancerIP,
                    _ => ServiceIpType::ExternalIP,
                })
                .collect()
        })
        .unwrap_or_default();
    let peers = spec
        .bgp_peers
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let (p_at, p) = (p.referenced, p.value);
            let address = p
                .address
                .ok_or_else(|| ctx.error_at(&p_at, "a BGPPolicy peer needs address and asn"))?;
            let ip = address.value.parse::<IpAddr>().map_err(|_| {
                ctx.error(
                    &address,
                    format!("bgpPeers address {:?} is not an IP address", address.value),
                )
            })?;
            Ok(BgpPeer {
                address: ip,
                port: number(ctx, &p_at, p.port, BGP_PORT, "bgpPeers port")?,
                asn: number(ctx, &p_at, p.asn, 0, "bgpPeers asn")?,
                multihop_ttl: number(
                    ctx,
                    &p_at,
                    p.multihop_ttl,
                    DEFAULT_MULTIHOP_TTL,
                    "bgpPeers multihopTTL",
                )?,
                graceful_restart_secs: number(
                    ctx,
                    &p_at,
                    p.graceful_restart_time_seconds,
                    DEFAULT_GRACEFUL_RESTART_SECS,
                    "bgpPeers gracefulRestartTimeSeconds",
                )?,
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let confederation = match spec.confederation {
        None => None,
        Some(c) => Some(Confederation {
            identifier: number(ctx, &at, c.identifier, 0, "confederation identifier")?,
            member_asns: c
                .member_asns
                .unwrap_or_default()
                .into_iter()
                .map(|a| number(ctx, &at, Some(a), 0, "confederation memberASNs"))
                .collect::<Result<_, _>>()?,
        }),
    };
    Ok(BgpPolicy {
        meta,
        node_selector,
        local_asn: number(ctx, &at, Some(local_asn), 0, "localASN")?,
        listen_port: number(ctx, &at, spec.listen_port, BGP_PORT, "listenPort")?,
        confederation,
        service_ip_types,
        advertise_pod_cidr: ads.as_ref().is_some_and(|a| a.pod.is_some()),
        advertise_egress: ads.as_ref().is_some_and(|a| a.egress.is_some()),
        peers,
    })
}
