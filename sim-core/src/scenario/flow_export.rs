//! The agents' flow exporters during a run: every `flowPollInterval` each
//! node's conntrack is read (as Antrea's agent dumps it) and the changes since
//! the last poll feed that node's [`FlowExporter`].
//!
//! What each node reports follows Antrea v1.15's `pkg/agent/flowexporter`:
//! - only connections with a Pod of this node at one end (conntrack zone of the
//!   Pods; the Node's own connections are not exported);
//! - Pod, Node and Service context from the interface store and AntreaProxy:
//!   the ClusterIP and `namespace/name:port` when the flow was DNATed;
//! - `flowType` from where the two ends live; Egress name, IP and Node for
//!   Pod-to-external flows an Egress applies to;
//! - a connection missing from conntrack is exported as ended (`flowEndReason` 3);
//! - L7: the HTTP/1.1 messages conntrack captured for annotated Pods (the
//!   simulator's stand-in for Suricata's EVE events) become `httpVals`.
//!
//! Observations carry conntrack's own first/last-seen times, so records' idle
//! expiries count from the last packet, not from the poll that noticed it.
//! When the run stops, still-tracked connections export with `flowEndReason` 4
//! (forced end) so nothing the run saw is lost.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::engine::{ClusterState, PodState, egress};
use crate::flows::{
    Direction, ExporterConfig, FlowExporter, FlowKey, FlowMeta, FlowRecord, FlowType, HttpExchange,
};
use crate::sim::World;
use crate::sim::nat::CtEntry;
use crate::time::SimTime;

/// One exported record and the node whose agent exported it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFlowRecord {
    /// The exporting agent's node (its IPFIX observation domain).
    pub exporter_node: String,
    /// Simulated time the record was exported (ns): the poll that found it due.
    #[serde(rename = "exportedAtNs")]
    pub exported_at: SimTime,
    #[serde(flatten)]
    pub record: FlowRecord,
}

/// What one node's agent remembers between polls.
struct NodeFlows {
    exporter: FlowExporter,
    /// Counters and HTTP messages already reported, per connection.
    seen: BTreeMap<FlowKey, Seen>,
}

#[derive(Clone, Copy, Default)]
struct Seen {
    packets: u64,
    bytes: u64,
    reverse_packets: u64,
    reverse_bytes: u64,
    http: usize,
}

/// All nodes' exporters plus every record exported so far.
#[derive(Default)]
pub struct FlowExport {
    nodes: BTreeMap<String, NodeFlows>,
    /// The records exported so far, the first [`FlowExport::keep`] of them.
    pub records: Vec<NodeFlowRecord>,
    /// Records exported in all, kept or not.
    pub exported: u64,
    /// How many records to keep (`None`: [`MAX_KEPT_FLOW_RECORDS`]). A
    /// TCP probe every 100 ms exports about 240,000 records an hour (about
    /// 850 bytes each in memory), so a long run keeps only so many.
    pub keep: Option<usize>,
    /// Whether the next poll is already scheduled.
    pub scheduled: bool,
}

/// Flow records a run keeps by default (about 425 MB).
pub const MAX_KEPT_FLOW_RECORDS: usize = 500_000;

/// One thing to tell an exporter, ordered by time.
enum Obs {
    Open(FlowMeta),
    Count {
        dir: Direction,
        packets: u64,
        bytes: u64,
    },
    Http(HttpExchange),
}

impl FlowExport {
    /// Reads every node's conntrack at `now` and exports what became due.
    pub fn poll(&mut self, world: &World, cluster: &ClusterState, now: SimTime) {
        let settings = &cluster.settings.flow_exporter;
        for node in &cluster.nodes {
            let Some(id) = world.device_id(&node.name) else {
                continue;
            };
            let dev = world.device(id);
            // A node without power has no agent: its connections are gone with it.
            if !dev.powered() {
                self.nodes.remove(&node.name);
                continue;
            }
            let Some(stack) = dev.stack() else { continue };
            let nf = self
                .nodes
                .entry(node.name.clone())
                .or_insert_with(|| NodeFlows {
                    exporter: FlowExporter::new(ExporterConfig {
                        active_timeout: settings.active_timeout,
                        idle_timeout: settings.idle_timeout,
                        epoch_base_secs: 0,
                    }),
                    seen: BTreeMap::new(),
                });
            let rows: Vec<CtEntry> = stack
                .ct
                .rows(now)
                .into_iter()
                .filter(|e| local_end(cluster, &node.name, e))
                .collect();
            let mut obs: Vec<(SimTime, FlowKey, Obs)> = Vec::new();
            let mut present: BTreeMap<FlowKey, Seen> = BTreeMap::new();
            for e in &rows {
                let key = key_of(e);
                let before = nf.seen.get(&key).copied();
                if before.is_none() {
                    obs.push((e.first_seen, key, Obs::Open(meta(cluster, e))));
                }
                let b = before.unwrap_or_default();
                if e.packets > b.packets {
                    obs.push((
                        e.last_seen,
                        key,
                        Obs::Count {
                            dir: Direction::Forward,
                            packets: e.packets - b.packets,
                            bytes: e.bytes.saturating_sub(b.bytes),
                        },
                    ));
                }
                if e.reverse_packets > b.reverse_packets {
                    obs.push((
                        e.last_seen,
                        key,
                        Obs::Count {
                            dir: Direction::Reverse,
                            packets: e.reverse_packets - b.reverse_packets,
                            bytes: e.reverse_bytes.saturating_sub(b.reverse_bytes),
                        },
                    ));
                }
                // HTTP: an exchange is a request followed by its response.
                let mut consumed = b.http;
                let msgs = &e.http;
                while consumed + 1 < msgs.len() {
                    if let Some(x) = exchange(&msgs[consumed], &msgs[consumed + 1]) {
                        obs.push((e.last_seen, key, Obs::Http(x)));
                        consumed += 2;
                    } else {
                        consumed += 1; // an unpaired message: skip it
                    }
                }
                present.insert(
                    key,
                    Seen {
                        packets: e.packets,
                        bytes: e.bytes,
                        reverse_packets: e.reverse_packets,
                        reverse_bytes: e.reverse_bytes,
                        http: consumed,
                    },
                );
            }
            // A stable order: by time, then tuple, then opens before counts.
            obs.sort_by_key(|(t, k, o)| {
                (
                    *t,
                    *k,
                    match o {
                        Obs::Open(_) => 0,
                        Obs::Count { .. } => 1,
                        Obs::Http(_) => 2,
                    },
                )
            });
            for (t, key, o) in obs {
                // The exporter forgets idle connections; one that wakes up again
                // (conntrack still has it) is a new flow record from here on.
                // Other errors mean an observation raced an expiry at the same
                // instant; the counters still reach the next record.
                let _ = match o {
                    Obs::Open(m) => nf.exporter.open(t, key, m),
                    Obs::Count {
                        dir,
                        packets,
                        bytes,
                    } => {
                        let r = nf.exporter.add(t, &key, dir, packets, bytes);
                        if r.is_err()
                            && let Some(e) = rows.iter().find(|e| key_of(e) == key)
                        {
                            let _ = nf.exporter.open(t, key, meta(cluster, e));
                            nf.exporter.add(t, &key, dir, packets, bytes)
                        } else {
                            r
                        }
                    }
                    Obs::Http(x) => nf.exporter.add_http(t, &key, x),
                };
            }
            // Connections conntrack no longer has ended.
            let gone: Vec<FlowKey> = nf
                .seen
                .keys()
                .filter(|k| !present.contains_key(k))
                .copied()
                .collect();
            for k in gone {
                let _ = nf.exporter.close(now, &k);
            }
            nf.seen = present;
            for record in nf.exporter.poll(now) {
                Self::keep_record(
                    &mut self.records,
                    &mut self.exported,
                    self.keep,
                    NodeFlowRecord {
                        exporter_node: node.name.clone(),
                        exported_at: now,
                        record,
                    },
                );
            }
        }
    }

    /// Counts an exported record and keeps it if there is room.
    fn keep_record(
        records: &mut Vec<NodeFlowRecord>,
        exported: &mut u64,
        keep: Option<usize>,
        r: NodeFlowRecord,
    ) {
        *exported += 1;
        if records.len() < keep.unwrap_or(MAX_KEPT_FLOW_RECORDS) {
            records.push(r);
        }
    }

    /// The run stopped: export everything still tracked (`flowEndReason` 4).
    pub fn finish(&mut self, now: SimTime) {
        for (name, nf) in self.nodes.iter_mut() {
            for record in nf.exporter.flush(now) {
                Self::keep_record(
                    &mut self.records,
                    &mut self.exported,
                    self.keep,
                    NodeFlowRecord {
                        exporter_node: name.clone(),
                        exported_at: now,
                        record,
                    },
                );
            }
        }
    }
}

/// The exporter's 5-tuple: the original source and the real destination (the
/// endpoint after DNAT; Antrea takes it from the reply tuple and keeps the
/// Service VIP in `destinationClusterIPv4`).
fn key_of(e: &CtEntry) -> FlowKey {
    let k = &e.original;
    let (dst, dst_port) = e.dnat.unwrap_or((k.dst, k.dport));
    FlowKey {
        src: k.src,
        dst,
        src_port: k.sport,
        dst_port,
        protocol: k.proto,
    }
}

/// The IPFIX observation domain a node's agent exports under: the 32-bit FNV-1
/// hash of its name (`genObservationID`, `pkg/agent/flowexporter/exporter`).
pub fn observation_domain_id(node: &str) -> u32 {
    node.bytes().fold(0x811c_9dc5u32, |h, b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(b)
    })
}

fn pod_by_ip(cluster: &ClusterState, ip: Ipv4Addr) -> Option<&PodState> {
    cluster.pods.iter().find(|p| p.ip == ip)
}

/// Where the connection really goes: the endpoint after DNAT.
fn real_dst(e: &CtEntry) -> Ipv4Addr {
    e.dnat.map_or(e.original.dst, |(ip, _)| ip)
}

/// Whether a Pod on `node` is at either end of the connection.
fn local_end(cluster: &ClusterState, node: &str, e: &CtEntry) -> bool {
    [e.original.src, real_dst(e)]
        .iter()
        .any(|ip| pod_by_ip(cluster, *ip).is_some_and(|p| p.node == node))
}

/// The Pod/Node/Service/Egress context Antrea attaches to a connection.
fn meta(cluster: &ClusterState, e: &CtEntry) -> FlowMeta {
    let src = pod_by_ip(cluster, e.original.src);
    let dst = pod_by_ip(cluster, real_dst(e));
    let mut m = FlowMeta::default();
    if let Some(p) = src {
        m.source_pod_name = p.name.clone();
        m.source_pod_namespace = p.namespace.clone();
        m.source_node_name = p.node.clone();
    }
    if let Some(p) = dst {
        m.destination_pod_name = p.name.clone();
        m.destination_pod_namespace = p.namespace.clone();
        m.destination_node_name = p.node.clone();
    }
    m.flow_type = match (src, dst) {
        (Some(a), Some(b)) if a.node == b.node => FlowType::IntraNode,
        (Some(_), Some(_)) => FlowType::InterNode,
        (Some(_), None) => FlowType::ToExternal,
        (None, Some(_)) => FlowType::FromExternal,
        (None, None) => FlowType::Unspecified,
    };
    if e.dnat.is_some() {
        let vip = e.original.dst;
        let port = e.original.dport;
        for (key, svc) in &cluster.services {
            let ips = [svc.cluster_ip, svc.lb_ip];
            if !ips.contains(&Some(vip)) {
                continue;
            }
            if let Some(sp) = svc.spec.ports.iter().find(|p| p.port == port) {
                m.destination_cluster_ipv4 = svc.cluster_ip;
                m.destination_service_port = port;
                // kube-proxy's ServicePortName: `ns/name`, plus `:port-name`
                // when the port has a name (`fmtPortName`).
                m.destination_service_port_name = match sp.name.as_deref() {
                    Some(n) if !n.is_empty() => format!("{key}:{n}"),
                    _ => key.clone(),
                };
                break;
            }
        }
    }
    if m.flow_type == FlowType::ToExternal
        && let Some(p) = src
        && let Some((name, ip, node)) = egress_of(cluster, p)
    {
        m.egress_name = name;
        m.egress_ip = ip.to_string();
        m.egress_node_name = node;
    }
    m
}

/// The Egress that applies to `pod` (the oldest that selects it and has an IP)
/// and where the Pod's node believes it is placed.
fn egress_of(cluster: &ClusterState, pod: &PodState) -> Option<(String, Ipv4Addr, String)> {
    if !cluster.egress.config.enabled {
        return None;
    }
    let mut candidates: Vec<(&String, &crate::engine::egress::EgressState)> = cluster
        .egress
        .egresses
        .iter()
        .filter(|(_, e)| e.ip.is_some())
        .filter(|(_, e)| {
            egress::selected_pods(cluster, &e.spec)
                .iter()
                .any(|p| p.ip == pod.ip)
        })
        .collect();
    candidates.sort_by_key(|(name, e)| (e.created, (*name).clone()));
    let (name, e) = candidates.first()?;
    let placed = egress::placement(cluster, &cluster.view_of(&pod.node));
    let node = placed.get(*name).cloned().flatten()?;
    Some(((*name).clone(), e.ip?, node))
}

/// A request and its response as Suricata's EVE `http` event describes them.
fn exchange(request: &str, response: &str) -> Option<HttpExchange> {
    let (req_line, req_headers) = split_head(request)?;
    let mut parts = req_line.split(' ');
    let method = parts.next()?.to_string();
    let url = parts.next()?.to_string();
    let protocol = parts.next()?.to_string();
    let (status_line, resp_headers) = split_head(response)?;
    if !status_line.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let header = |hs: &[(String, String)], name: &str| {
        hs.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Some(HttpExchange {
        hostname: header(&req_headers, "Host"),
        url,
        http_user_agent: header(&req_headers, "User-Agent"),
        http_content_type: header(&resp_headers, "Content-Type"),
        http_method: method,
        protocol,
        status,
        length: header(&resp_headers, "Content-Length").parse().unwrap_or(0),
    })
}

/// The first line and the headers of an HTTP/1.1 message.
fn split_head(msg: &str) -> Option<(&str, Vec<(String, String)>)> {
    let head = msg.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some((first, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curl_exchange_reads_like_suricata_eve() {
        let req =
            "GET / HTTP/1.1\r\nHost: www.vg.no\r\nUser-Agent: curl/7.68.0\r\nAccept: */*\r\n\r\n";
        let resp = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://www.vg.no/\r\nContent-Length: 0\r\n\r\n";
        let x = exchange(req, resp).expect("a request and a response");
        assert_eq!(x.hostname, "www.vg.no");
        assert_eq!(x.url, "/");
        assert_eq!(x.http_user_agent, "curl/7.68.0");
        assert_eq!(x.http_method, "GET");
        assert_eq!(x.protocol, "HTTP/1.1");
        assert_eq!(x.status, 301);
        assert_eq!(x.length, 0);
        assert_eq!(x.http_content_type, "");
    }

    #[test]
    fn observation_ids_are_fnv1_of_the_node_name() {
        // FNV-1 32 of "" is the offset basis; of "a" it is 0x050c5d7e.
        assert_eq!(observation_domain_id(""), 0x811c_9dc5);
        assert_eq!(observation_domain_id("a"), 0x050c_5d7e);
    }

    #[test]
    fn two_requests_are_not_an_exchange() {
        let req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(exchange(req, req).is_none());
    }
}
