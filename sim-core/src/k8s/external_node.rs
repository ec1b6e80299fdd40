//! Antrea's ExternalNode CR (`crd.antrea.io/v1alpha1`, namespaced): a VM
//! or bare-metal server that runs antrea-agent in ExternalNode mode, and
//! the interface of it that Antrea NetworkPolicies protect. The schema
//! checks (`crd::external_node`) run first: one interface, with at least
//! one IP.

use std::net::Ipv4Addr;

use serde_saphyr::{Location, Spanned};

use super::{Ctx, ObjectMeta};
use crate::input::InputError;

/// An ExternalNode as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalNode {
    pub meta: ObjectMeta,
    /// `interfaces[0].name`: empty when not given.
    pub interface: String,
    /// `interfaces[0].ips`.
    pub ips: Vec<Ipv4Addr>,
}

#[derive(Debug, serde::Deserialize)]
struct RawSpec {
    interfaces: Option<Vec<Spanned<RawInterface>>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawInterface {
    name: Option<String>,
    ips: Option<Vec<Spanned<String>>>,
}

pub(super) fn parse_external_node(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<ExternalNode, InputError> {
    let needs = "ExternalNode needs spec.interfaces with one interface and its ips";
    let (at, spec): (_, RawSpec) = ctx.spec_of(doc, doc_at, needs)?;
    let ifaces = spec.interfaces.unwrap_or_default();
    // The schema allows exactly one (Antrea v1.8+: "Only one interface is supported").
    let [iface] = ifaces.as_slice() else {
        return Err(ctx.error_at(&at, needs));
    };
    let ips = iface.value.ips.as_deref().unwrap_or_default();
    if ips.is_empty() {
        // The controller's words (genExternalEntity).
        return Err(ctx.error_at(
            &iface.referenced,
            format!(
                "failed to get IPs form Interfaces[0] from ExternalNode {}",
                meta.name
            ),
        ));
    }
    let ips = ips
        .iter()
        .map(|ip| ctx.ipv4(ip, "interfaces[0].ips"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ExternalNode {
        meta,
        interface: iface.value.name.clone().unwrap_or_default(),
        ips,
    })
}
