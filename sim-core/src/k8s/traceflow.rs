//! Antrea's Traceflow CR (`crd.antrea.io/v1beta1`, cluster-scoped): a Pod
//! source, a destination (a Pod, a Service or an IP), and the packet to
//! inject (`packet.ipHeader.protocol`, `packet.transportHeader` TCP, UDP or
//! ICMP). antlab runs it when it is applied (`engine::pipeline::traceflow`)
//! and keeps the result as the Traceflow's status. Live-traffic Traceflow
//! is refused as not modelled.

use serde_saphyr::{Location, Spanned};

use super::{Ctx, ObjectMeta};
use crate::input::InputError;

/// Where the traced packet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceflowDestination {
    Pod { namespace: String, name: String },
    Service { namespace: String, name: String },
    Ip(std::net::Ipv4Addr),
}

/// A Traceflow as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traceflow {
    pub meta: ObjectMeta,
    /// `namespace`, `pod`.
    pub source: (String, String),
    pub destination: TraceflowDestination,
    /// The protocol part of the injected packet as a flow (`icmp`,
    /// `tcp,tcp_dst=80`, `udp,udp_src=5353,udp_dst=53`).
    pub flow: String,
}

#[derive(Debug, serde::Deserialize)]
struct RawDoc {
    spec: Option<Spanned<RawSpec>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSpec {
    source: Option<Spanned<RawEnd>>,
    destination: Option<Spanned<RawEnd>>,
    packet: Option<Spanned<RawPacket>>,
    live_traffic: Option<Spanned<bool>>,
    dropped_only: Option<Spanned<bool>>,
    timeout: Option<Spanned<u32>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEnd {
    namespace: Option<String>,
    pod: Option<String>,
    service: Option<String>,
    ip: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPacket {
    ip_header: Option<Spanned<RawIpHeader>>,
    ipv6_header: Option<Spanned<serde::de::IgnoredAny>>,
    transport_header: Option<Spanned<RawTransport>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawIpHeader {
    protocol: Option<Spanned<u8>>,
    ttl: Option<u8>,
    flags: Option<u16>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTransport {
    icmp: Option<Spanned<RawIcmp>>,
    udp: Option<Spanned<RawPorts>>,
    tcp: Option<Spanned<RawPorts>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawIcmp {
    id: Option<u16>,
    sequence: Option<u16>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPorts {
    src_port: Option<u16>,
    dst_port: Option<u16>,
    flags: Option<u8>,
}

pub(super) fn parse_traceflow(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<Traceflow, InputError> {
    let raw: RawDoc = ctx.reparse(doc)?;
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, "Traceflow needs spec.source and spec.destination"))?;
    let at = spec.referenced;
    let s = spec.value;
    if let Some(live) = s.live_traffic.as_ref().filter(|l| l.value) {
        return Err(ctx.error(
            live,
            "live-traffic Traceflow (`liveTraffic: true`) is not modelled by antlab",
        ));
    }
    if let Some(d) = s.dropped_only.as_ref().filter(|d| d.value) {
        // Antrea's webhook: droppedOnly needs liveTraffic.
        return Err(ctx.error(d, "droppedOnly can only be used for live-traffic Traceflow"));
    }
    let _ = s.timeout;
    let source = s
        .source
        .ok_or_else(|| ctx.error_at(&at, "Traceflow needs spec.source (namespace and pod)"))?;
    let src_at = source.referenced;
    let (Some(sns), Some(spod)) = (source.value.namespace.clone(), source.value.pod.clone()) else {
        return Err(ctx.error_at(
            &src_at,
            "source Pod must be specified in non-live-traffic Traceflow",
        ));
    };
    let dest = s
        .destination
        .ok_or_else(|| ctx.error_at(&at, "Traceflow needs spec.destination"))?;
    let d = dest.value;
    let destination = match (&d.pod, &d.service, &d.ip) {
        (Some(pod), None, None) => TraceflowDestination::Pod {
            namespace: d.namespace.clone().unwrap_or_else(|| "default".into()),
            name: pod.clone(),
        },
        (None, Some(svc), None) => TraceflowDestination::Service {
            namespace: d.namespace.clone().unwrap_or_else(|| "default".into()),
            name: svc.clone(),
        },
        (None, None, Some(ip)) => TraceflowDestination::Ip(ip.value.parse().map_err(|_| {
            ctx.error(
                ip,
                format!("destination IP {:?} is not an IPv4 address", ip.value),
            )
        })?),
        _ => {
            return Err(ctx.error_at(
                &dest.referenced,
                "destination must name exactly one of pod, service or ip",
            ));
        }
    };
    let mut protocol = 1;
    let mut transport = None;
    if let Some(p) = s.packet {
        let p = p.value;
        if let Some(v6) = &p.ipv6_header {
            return Err(ctx.error(v6, "ipv6Header: antlab's lab is IPv4 only"));
        }
        if let Some(h) = p.ip_header
            && let Some(proto) = h.value.protocol
        {
            protocol = proto.value;
            let _ = (h.value.ttl, h.value.flags);
            if !matches!(protocol, 1 | 6 | 17) {
                return Err(ctx.error(
                    &proto,
                    format!("ipHeader.protocol {protocol} is not ICMP (1), TCP (6) or UDP (17)"),
                ));
            }
        }
        transport = p.transport_header;
    }
    let ports = |name: &str, p: &RawPorts| {
        let _ = p.flags;
        let mut f = name.to_string();
        if let Some(s) = p.src_port {
            f.push_str(&format!(",{name}_src={s}"));
        }
        if let Some(d) = p.dst_port {
            f.push_str(&format!(",{name}_dst={d}"));
        }
        f
    };
    let flow = match (protocol, transport.as_ref().map(|t| &t.value)) {
        (6, Some(RawTransport { tcp: Some(t), .. })) => ports("tcp", &t.value),
        (17, Some(RawTransport { udp: Some(u), .. })) => ports("udp", &u.value),
        (6, _) => "tcp".to_string(),
        (17, _) => "udp".to_string(),
        (_, t) => {
            if let Some(RawTransport { icmp: Some(i), .. }) = t {
                let _ = (i.value.id, i.value.sequence);
            }
            "icmp".to_string()
        }
    };
    Ok(Traceflow {
        meta,
        source: (sns, spod),
        destination,
        flow,
    })
}
