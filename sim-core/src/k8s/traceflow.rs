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
    /// `tcp,tcp_dst=80`, `udp,udp_src=5353,udp_dst=53`); `None` when the
    /// packet says neither a transport header nor a protocol (Antrea then
    /// sends ICMP, or to a Service its first port's protocol and port).
    pub flow: Option<String>,
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
    // droppedOnly matters only for live traffic (the agent ignores it
    // otherwise); timeout: the CRD allows 1-300 s.
    let _ = s.dropped_only;
    if let Some(t) = s.timeout.as_ref().filter(|t| !(1..=300).contains(&t.value)) {
        return Err(ctx.error(
            t,
            format!(
                "spec.timeout: Invalid value: {}: spec.timeout in body should be between 1 and 300",
                t.value
            ),
        ));
    }
    let source = s
        .source
        .ok_or_else(|| ctx.error_at(&at, "Traceflow needs spec.source (namespace and pod)"))?;
    let src_at = source.referenced;
    if source.value.service.is_some() || source.value.ip.is_some() {
        return Err(ctx.error_at(
            &src_at,
            "the source of a non-live-traffic Traceflow is a Pod (namespace and pod)",
        ));
    }
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
    let need_ns = || {
        d.namespace.clone().ok_or_else(|| {
            ctx.error_at(
                &dest.referenced,
                "a destination Pod or Service needs its namespace",
            )
        })
    };
    let destination = match (&d.pod, &d.service, &d.ip) {
        (Some(pod), None, None) => TraceflowDestination::Pod {
            namespace: need_ns()?,
            name: pod.clone(),
        },
        (None, Some(svc), None) => TraceflowDestination::Service {
            namespace: need_ns()?,
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
    let mut protocol = 0;
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
            if !matches!(protocol, 0 | 1 | 6 | 17) {
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
        if let Some(s) = p.src_port.filter(|p| *p != 0) {
            f.push_str(&format!(",{name}_src={s}"));
        }
        if let Some(d) = p.dst_port.filter(|p| *p != 0) {
            f.push_str(&format!(",{name}_dst={d}"));
        }
        f
    };
    // preparePacket: the transport header decides (TCP, then UDP, then
    // ICMP), else ipHeader.protocol when above 0.
    let t = transport.as_ref().map(|t| &t.value);
    let flow = match t {
        Some(RawTransport { tcp: Some(tcp), .. }) => Some(ports("tcp", &tcp.value)),
        Some(RawTransport { udp: Some(udp), .. }) => Some(ports("udp", &udp.value)),
        Some(RawTransport { icmp: Some(i), .. }) => {
            let _ = (i.value.id, i.value.sequence);
            Some("icmp".to_string())
        }
        _ => match protocol {
            6 => Some("tcp".to_string()),
            17 => Some("udp".to_string()),
            1 => Some("icmp".to_string()),
            _ => None,
        },
    };
    Ok(Traceflow {
        meta,
        source: (sns, spod),
        destination,
        flow,
    })
}
