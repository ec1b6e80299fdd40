//! Antrea's Traceflow CR (`crd.antrea.io/v1beta1`, cluster-scoped): a Pod
//! source, a destination (a Pod, a Service or an IP), and the packet to
//! inject (`packet.ipHeader.protocol`, `packet.transportHeader` TCP, UDP or
//! ICMP). antlab runs it when it is applied (`engine::pipeline::traceflow`)
//! and keeps the result as the Traceflow's status. A live-traffic
//! Traceflow (`liveTraffic: true`) injects nothing: it watches for the first
//! packet of a new connection that matches (`sim::world::live_traceflow`).

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

/// Antrea's default Traceflow timeout (`DefaultTraceflowTimeout`,
/// pkg/apis/crd/v1beta1/types.go), in seconds.
pub const DEFAULT_TRACEFLOW_TIMEOUT_S: u32 = 20;

/// What a live-traffic Traceflow watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveTraffic {
    /// Only a packet that is dropped is reported (`droppedOnly`).
    pub dropped_only: bool,
}

/// A Traceflow as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traceflow {
    pub meta: ObjectMeta,
    /// `namespace`, `pod`: always there for an injected packet; a
    /// live-traffic Traceflow may name only its destination Pod.
    pub source: Option<(String, String)>,
    /// A live-traffic Traceflow's source address (with a destination Pod
    /// and no source Pod).
    pub source_ip: Option<std::net::Ipv4Addr>,
    /// Always there for an injected packet; a live-traffic Traceflow from a
    /// Pod may leave it out (any destination).
    pub destination: Option<TraceflowDestination>,
    /// `Some` for a live-traffic Traceflow.
    pub live: Option<LiveTraffic>,
    /// Seconds (`spec.timeout`, Antrea's default 20).
    pub timeout_s: u32,
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

#[derive(Debug, Default, serde::Deserialize)]
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
    // droppedOnly matters only for live traffic (the agent ignores it
    // otherwise); timeout: the CRD allows 1-300 s.
    let live = s
        .live_traffic
        .as_ref()
        .is_some_and(|l| l.value)
        .then(|| LiveTraffic {
            dropped_only: s.dropped_only.as_ref().is_some_and(|d| d.value),
        });
    if let Some(t) = s.timeout.as_ref().filter(|t| !(1..=300).contains(&t.value)) {
        return Err(ctx.error(
            t,
            format!(
                "spec.timeout: Invalid value: {}: spec.timeout in body should be between 1 and 300",
                t.value
            ),
        ));
    }
    let source = match (s.source, live) {
        (Some(source), _) => source,
        (None, Some(_)) => Spanned {
            value: RawEnd::default(),
            referenced: at,
            defined: at,
        },
        (None, None) => {
            return Err(ctx.error_at(&at, "Traceflow needs spec.source (namespace and pod)"));
        }
    };
    let src_at = source.referenced;
    let src = source.value;
    if src.service.is_some() {
        return Err(ctx.error_at(
            &src_at,
            "the source of a Traceflow is a Pod or, for live traffic, an IP",
        ));
    }
    let (source, source_ip) = match (live, &src.namespace, &src.pod, &src.ip) {
        (_, Some(ns), Some(pod), None) => (Some((ns.clone(), pod.clone())), None),
        (None, _, _, Some(ip)) => {
            return Err(ctx.error(
                ip,
                "IP as the source is supported only for live-traffic Traceflow",
            ));
        }
        (None, _, _, None) => {
            return Err(ctx.error_at(
                &src_at,
                "source Pod must be specified in non-live-traffic Traceflow",
            ));
        }
        (Some(_), _, Some(_), Some(ip)) => {
            return Err(ctx.error(ip, "the source names a Pod and an IP: give one of them"));
        }
        (Some(_), None, Some(_), None) => {
            return Err(ctx.error_at(&src_at, "a source Pod needs its namespace"));
        }
        (Some(_), _, None, ip) => {
            let ip = match ip {
                Some(ip) => Some(ip.value.parse().map_err(|_| {
                    ctx.error(
                        ip,
                        format!("source IP {:?} is not an IPv4 address", ip.value),
                    )
                })?),
                None => None,
            };
            (None, ip)
        }
    };
    let need_ns = |d: &RawEnd, at: &Location| {
        d.namespace
            .clone()
            .ok_or_else(|| ctx.error_at(at, "a destination Pod or Service needs its namespace"))
    };
    let destination = match s.destination {
        None if live.is_some() => None,
        None => return Err(ctx.error_at(&at, "Traceflow needs spec.destination")),
        Some(dest) => {
            let d = &dest.value;
            let at = &dest.referenced;
            Some(match (&d.pod, &d.service, &d.ip) {
                (Some(pod), None, None) => TraceflowDestination::Pod {
                    namespace: need_ns(d, at)?,
                    name: pod.clone(),
                },
                (None, Some(svc), None) => TraceflowDestination::Service {
                    namespace: need_ns(d, at)?,
                    name: svc.clone(),
                },
                (None, None, Some(ip)) => {
                    TraceflowDestination::Ip(ip.value.parse().map_err(|_| {
                        ctx.error(
                            ip,
                            format!("destination IP {:?} is not an IPv4 address", ip.value),
                        )
                    })?)
                }
                (None, None, None) if live.is_some() => {
                    return Err(ctx.error_at(
                        at,
                        "destination must name one of pod, service or ip (or leave destination out)",
                    ));
                }
                _ => {
                    return Err(ctx.error_at(
                        at,
                        "destination must name exactly one of pod, service or ip",
                    ));
                }
            })
        }
    };
    // pkg/controller/traceflow/validate.go
    let dest_pod = matches!(destination, Some(TraceflowDestination::Pod { .. }));
    if source.is_none() && !dest_pod {
        return Err(ctx.error_at(
            &at,
            format!(
                "Traceflow {} has neither source nor destination Pod specified",
                meta.name
            ),
        ));
    }
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
        source,
        source_ip,
        destination,
        live,
        timeout_s: s.timeout.map_or(DEFAULT_TRACEFLOW_TIMEOUT_S, |t| t.value),
        flow,
    })
}
