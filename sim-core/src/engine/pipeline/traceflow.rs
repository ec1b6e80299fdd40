//! Traceflow (`crd.antrea.io/v1beta1` Traceflow, `antctl traceflow`): a
//! synthetic packet from a Pod walked through its node's br-int program and,
//! when it leaves by the tunnel, through the receiving node's, with each
//! node's observations as Antrea's agent reports them
//! (pkg/agent/controller/traceflow/packetin.go): SpoofGuard, LB (the
//! translated destination), NetworkPolicy (the rule that allowed, or the
//! metric or default table that dropped, with the policy and rule name),
//! and Forwarding (Output: Forwarded with the tunnel destination, Delivered,
//! ForwardedOutOfNetwork, Dropped; Received on the receiving node).
//!
//! Who walks the packet is a [`NodeTracer`]: [`SimTracer`] runs the
//! programs the simulator executes, with a fresh conntrack (the packet is a
//! new connection, as Traceflow's is); real mode's tracer asks each node's
//! own OVS (`ofproto/trace`) and the observations are read from its answer
//! by the same code, so the two can be compared.
//!
//! A live-traffic Traceflow injects nothing: the simulator's br-int tags
//! the first matching packet of a new connection and keeps each node's walk
//! of it ([`LiveHop`], `sim::world::live_traceflow`); its observations are
//! read from those walks ([`RecordedTracer`]) by the same code, and real
//! mode walks the same packets through its own OVS.

use std::net::Ipv4Addr;

use super::inspect::{self, expand_flow};
use super::network_policy::PolicyPacketIn;
use super::node_pipeline;
use super::spec::{GATEWAY_OFPORT, TUNNEL_OFPORT};
use crate::engine::ClusterState;
use crate::engine::policy::PolicyCatalog;
use crate::engine::policy::rules::catalog;
use crate::k8s::RuleAction;
use crate::openflow::{
    Conntrack, CtMode, Field, Headers, Packet, PacketIn, Program, Verdict, Walk,
};

/// Where the packet goes: the Traceflow CR's destination.
pub use crate::k8s::TraceflowDestination as Destination;

/// One observation, with the fields antctl prints when they are set.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub component: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_info: Option<String>,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translated_dst_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_dst_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_policy_rule: Option<String>,
    #[serde(rename = "egressIP", skip_serializing_if = "Option::is_none")]
    pub egress_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_node: Option<String>,
}

/// One node's part.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeResult {
    pub node: String,
    pub timestamp: u64,
    pub observations: Vec<Observation>,
}

/// The Traceflow's status as antctl prints it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TraceflowResult {
    pub name: String,
    /// What was asked, so that real mode can ask its own OVS the same.
    #[serde(skip)]
    pub request: TraceflowRequest,
    pub phase: &'static str,
    /// Why it failed (`Traceflow timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub source: String,
    pub destination: String,
    /// A live-traffic Traceflow's packet (`status.capturedPacket`).
    #[serde(rename = "capturedPacket", skip_serializing_if = "Option::is_none")]
    pub captured_packet: Option<CapturedPacket>,
    pub results: Vec<NodeResult>,
}

/// `status.capturedPacket` of a live-traffic Traceflow: the packet as the
/// agent's packet-in carried it (pkg/agent/controller/traceflow/packetin.go,
/// parseCapturedPacket).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturedPacket {
    #[serde(rename = "srcIP")]
    pub src_ip: Ipv4Addr,
    #[serde(rename = "dstIP")]
    pub dst_ip: Ipv4Addr,
    /// The IP total length.
    pub length: u16,
    pub protocol: u8,
    pub ttl: u8,
    /// The IP header's flags (DF is 2).
    pub flags: u8,
    /// TCP/UDP ports, or the ICMP echo id and sequence.
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP flags (TCP only).
    pub tcp_flags: Option<u8>,
}

impl CapturedPacket {
    fn to_yaml(&self) -> String {
        let mut s = format!(
            "capturedPacket:\n  srcIP: {}\n  dstIP: {}\n  length: {}\n  ipHeader:\n    protocol: {}\n    ttl: {}\n    flags: {}\n",
            self.src_ip, self.dst_ip, self.length, self.protocol, self.ttl, self.flags
        );
        match self.protocol {
            6 => s.push_str(&format!(
                "  transportHeader:\n    tcp:\n      srcPort: {}\n      dstPort: {}\n      flags: {}\n",
                self.src_port,
                self.dst_port,
                self.tcp_flags.unwrap_or(0)
            )),
            17 => s.push_str(&format!(
                "  transportHeader:\n    udp:\n      srcPort: {}\n      dstPort: {}\n",
                self.src_port, self.dst_port
            )),
            1 => s.push_str(&format!(
                "  transportHeader:\n    icmp:\n      id: {}\n      sequence: {}\n",
                self.src_port, self.dst_port
            )),
            _ => {}
        }
        s
    }
}

impl TraceflowResult {
    /// antctl's YAML.
    pub fn to_yaml(&self) -> String {
        let mut s = format!("name: {}\nphase: {}\n", self.name, self.phase);
        if let Some(r) = &self.reason {
            s.push_str(&format!("reason: {r}\n"));
        }
        s.push_str(&format!(
            "source: {}\ndestination: {}\n",
            self.source, self.destination
        ));
        if let Some(p) = &self.captured_packet {
            s.push_str(&p.to_yaml());
        }
        s.push_str("results:\n");
        for r in &self.results {
            s.push_str(&format!(
                "- node: {}\n  timestamp: {}\n  observations:\n",
                r.node, r.timestamp
            ));
            for o in &r.observations {
                s.push_str(&format!("  - component: {}\n", o.component));
                let fields = [
                    ("componentInfo", &o.component_info),
                    ("pod", &o.pod),
                    ("translatedDstIP", &o.translated_dst_ip),
                    ("tunnelDstIP", &o.tunnel_dst_ip),
                    ("networkPolicy", &o.network_policy),
                    ("networkPolicyRule", &o.network_policy_rule),
                    ("egressIP", &o.egress_ip),
                    ("egress", &o.egress),
                    ("egressNode", &o.egress_node),
                ];
                for (k, v) in fields.iter().take(1) {
                    if let Some(v) = v {
                        s.push_str(&format!("    {k}: {v}\n"));
                    }
                }
                s.push_str(&format!("    action: {}\n", o.action));
                for (k, v) in fields.iter().skip(1) {
                    if let Some(v) = v {
                        s.push_str(&format!("    {k}: {v}\n"));
                    }
                }
            }
        }
        s
    }
}

/// A Traceflow's question: from Pod `source` (namespace, name) to
/// `destination` with the protocol part `flow` (`icmp`, `tcp,tcp_dst=80`,
/// `udp,udp_dst=53`; ICMP echo when empty), at sim second `at_s`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceflowRequest {
    pub source: (String, String),
    pub destination: Option<Destination>,
    pub flow: String,
    pub at_s: u64,
    /// The rules as they were when it ran: a later walk (real mode's, after
    /// the other steps of the same instant) names the same rules.
    pub catalog: Option<std::sync::Arc<PolicyCatalog>>,
    /// A live-traffic Traceflow's captured packet as each node's br-int
    /// took it, in order; empty for an injected packet.
    pub hops: Vec<LiveHop>,
    /// `Some` for a live-traffic Traceflow.
    pub live: Option<LiveRequest>,
}

/// What a live-traffic Traceflow asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveRequest {
    pub dropped_only: bool,
    /// Whether it named a source Pod (else only the receiver reports).
    pub has_source_pod: bool,
    /// When it fails with `Traceflow timeout` if still Running.
    pub deadline: crate::time::SimTime,
}

/// One node's part of a live-traffic Traceflow: the packet as it entered
/// that node's br-int.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveHop {
    pub node: String,
    /// The packet as an `ofproto/trace` flow (`in_port=...`).
    pub flow: String,
    /// The node that tagged it from its source Pod (observations start
    /// with SpoofGuard), not one that received it.
    pub sender: bool,
    pub at_s: u64,
}

/// What one node's br-int did with the packet: the facts the observations
/// are read from, whoever walked it.
#[derive(Clone, Debug, Default)]
pub struct NodeTrace {
    /// The tables visited, in order (a table that missed included).
    pub tables: Vec<u8>,
    /// The table of the last flow that matched.
    pub last_match: Option<u8>,
    /// `(table, conj_id)` of each conjunction matched, in walk order.
    pub conjunctions: Vec<(u8, u32)>,
    pub verdict: Verdict,
    /// Each `controller` action with the registers as it ran.
    pub packet_ins: Vec<PacketIn>,
    /// The packet at the walk's first output.
    pub out: Option<OutPacket>,
}

/// A packet as it left br-int.
#[derive(Clone, Debug)]
pub struct OutPacket {
    pub headers: Headers,
    pub pkt_mark: u32,
    pub tun_id: u64,
    pub nw_proto: u8,
    /// ICMP type and code (ICMP only).
    pub icmp: Option<(u8, u8)>,
}

impl OutPacket {
    fn of(p: &Packet) -> OutPacket {
        let nw_proto = p.get(Field::NwProto) as u8;
        OutPacket {
            headers: p.headers(),
            pkt_mark: p.get(Field::PktMark) as u32,
            tun_id: p.get(Field::TunId) as u64,
            nw_proto,
            icmp: (nw_proto == 1).then(|| (p.get(Field::TpSrc) as u8, p.get(Field::TpDst) as u8)),
        }
    }
}

/// Walks a packet through one node's br-int.
pub trait NodeTracer {
    /// `flow` is an `ofproto/trace` flow; `program` is the node's program
    /// as the engine compiled it (what both modes load).
    fn trace(&mut self, node: &str, program: &Program, flow: &str) -> Result<NodeTrace, String>;
}

/// The simulator's interpreter, with a fresh conntrack per walk.
pub struct SimTracer;

impl NodeTracer for SimTracer {
    fn trace(&mut self, _node: &str, program: &Program, flow: &str) -> Result<NodeTrace, String> {
        let packet = Packet::parse_trace_flow(flow).map_err(|e| format!("flow `{flow}`: {e}"))?;
        let mut ct = Conntrack::new();
        let walk = program.simulate(&mut ct, &CtMode::Tracked, &packet, &[]);
        Ok(NodeTrace::of_walk(walk))
    }
}

/// The walks the simulator's br-ints made of a live-traffic Traceflow's
/// packet, handed out in the order of the request's hops.
pub struct RecordedTracer {
    walks: std::collections::VecDeque<NodeTrace>,
}

impl RecordedTracer {
    pub fn new(walks: Vec<NodeTrace>) -> RecordedTracer {
        RecordedTracer {
            walks: walks.into(),
        }
    }
}

impl NodeTracer for RecordedTracer {
    fn trace(&mut self, node: &str, _program: &Program, _flow: &str) -> Result<NodeTrace, String> {
        self.walks
            .pop_front()
            .ok_or_else(|| format!("no recorded walk of the packet on {node}"))
    }
}

impl NodeTrace {
    /// What the walk `walk` (recorded with its trace) did.
    pub fn of_walk(walk: Walk) -> NodeTrace {
        NodeTrace {
            tables: walk
                .trace
                .as_ref()
                .map(|t| t.tables().into_iter().map(|(n, _)| n).collect())
                .unwrap_or_default(),
            last_match: walk.last_match.map(|(t, _)| t),
            conjunctions: walk.conjunctions,
            out: walk.emitted.first().map(OutPacket::of),
            verdict: walk.verdict,
            packet_ins: walk.packet_ins,
        }
    }
}

/// Runs a Traceflow on the simulator's programs (see [`traceflow_with`]).
pub fn traceflow(
    cluster: &ClusterState,
    src: (&str, &str),
    dst: &Destination,
    flow: &str,
    now_s: u64,
) -> Result<TraceflowResult, String> {
    let request = TraceflowRequest {
        source: (src.0.to_string(), src.1.to_string()),
        destination: Some(dst.clone()),
        flow: flow.to_string(),
        at_s: now_s,
        catalog: Some(std::sync::Arc::new(catalog(cluster))),
        hops: Vec::new(),
        live: None,
    };
    traceflow_with(cluster, &request, &mut SimTracer)
}

/// Runs the Traceflow `request` with `tracer` walking each node's br-int.
pub fn traceflow_with(
    cluster: &ClusterState,
    request: &TraceflowRequest,
    tracer: &mut dyn NodeTracer,
) -> Result<TraceflowResult, String> {
    if request.live.is_some() || !request.hops.is_empty() {
        return live_with(cluster, request, tracer);
    }
    let (sns, sname) = (request.source.0.as_str(), request.source.1.as_str());
    let dst = request
        .destination
        .as_ref()
        .ok_or_else(|| "the Traceflow has no destination".to_string())?;
    let (flow, now_s) = (request.flow.as_str(), request.at_s);
    let pod = cluster
        .pod_by_name(sns, sname)
        .ok_or_else(|| format!("no Pod {sns}/{sname}"))?;
    let dst_ip = destination_ip(cluster, dst)?;
    let dst_text = destination_text(dst);
    let l4 = match flow.trim() {
        "" | "icmp" => "icmp,icmp_type=8,icmp_code=0".to_string(),
        f => f
            .replace("tcp_dst", "tp_dst")
            .replace("tcp_src", "tp_src")
            .replace("udp_dst", "tp_dst")
            .replace("udp_src", "tp_src"),
    };
    let l4 = if (l4.starts_with("tcp") || l4.starts_with("udp")) && !l4.contains("tp_src") {
        format!("{l4},tp_src=10000")
    } else {
        l4
    };
    let cat = match &request.catalog {
        Some(c) => c.clone(),
        None => std::sync::Arc::new(catalog(cluster)),
    };
    let src_node = cluster.node(pod.node).name.clone();
    let flow = expand_flow(
        cluster,
        &src_node,
        &format!("pod:{sns}/{sname},{l4},nw_dst={dst_ip}"),
    )?;
    let mut results = Vec::new();
    let (obs, next) = walk_node(cluster, &src_node, &flow, &cat, true, tracer)?;
    results.push(NodeResult {
        node: src_node,
        timestamp: now_s,
        observations: obs,
    });
    // The receiving node: the tunnel's destination node, or, for a packet
    // tunnelled to an Egress IP, the node that holds it.
    let egress_node = results[0]
        .observations
        .iter()
        .find_map(|o| o.egress_node.clone());
    if let Some((tun_dst, inner)) = next
        && let Some(name) = cluster
            .nodes()
            .find(|n| n.ip == tun_dst)
            .map(|n| n.name.clone())
            .or(egress_node)
            .filter(|n| cluster.node_by_name(n).is_some())
    {
        let (obs, _) = walk_node(cluster, &name, &inner, &cat, false, tracer)?;
        results.push(NodeResult {
            node: name,
            timestamp: now_s,
            observations: obs,
        });
    }
    let name = format!(
        "{sname}-to-{}-{:08x}",
        dst_text.rsplit('/').next().unwrap_or(&dst_text),
        crate::rng::fnv1a64(format!("{sns}/{sname}>{dst_text}@{now_s}").as_bytes()) as u32
    );
    Ok(TraceflowResult {
        name,
        request: request.clone(),
        phase: "Succeeded",
        reason: None,
        source: format!("{sns}/{sname}"),
        destination: dst_text,
        captured_packet: None,
        results,
    })
}

/// The address a Traceflow to `dst` goes to: the Pod's, the Service's
/// ClusterIP, or the IP itself.
pub fn destination_ip(cluster: &ClusterState, dst: &Destination) -> Result<Ipv4Addr, String> {
    Ok(match dst {
        Destination::Pod { namespace, name } => {
            cluster
                .pod_by_name(namespace, name)
                .ok_or_else(|| format!("no Pod {namespace}/{name}"))?
                .ip
        }
        Destination::Service { namespace, name } => cluster
            .services
            .get(&format!("{namespace}/{name}"))
            .and_then(|s| s.cluster_ip)
            .ok_or_else(|| format!("no Service {namespace}/{name} with a ClusterIP"))?,
        Destination::Ip(ip) => *ip,
    })
}

/// `dst` as the result names it (`namespace/name`, or the IP).
pub fn destination_text(dst: &Destination) -> String {
    match dst {
        Destination::Pod { namespace, name } | Destination::Service { namespace, name } => {
            format!("{namespace}/{name}")
        }
        Destination::Ip(ip) => ip.to_string(),
    }
}

/// A live-traffic Traceflow's observations: each hop's walk (by `tracer`)
/// read as [`traceflow_with`] reads an injected packet's. The phase,
/// source, destination and captured packet are the caller's.
fn live_with(
    cluster: &ClusterState,
    request: &TraceflowRequest,
    tracer: &mut dyn NodeTracer,
) -> Result<TraceflowResult, String> {
    let cat = match &request.catalog {
        Some(c) => c.clone(),
        None => std::sync::Arc::new(catalog(cluster)),
    };
    let mut results = Vec::new();
    for hop in &request.hops {
        let (observations, _) = walk_node(cluster, &hop.node, &hop.flow, &cat, hop.sender, tracer)?;
        results.push(NodeResult {
            node: hop.node.clone(),
            timestamp: hop.at_s,
            observations,
        });
    }
    Ok(TraceflowResult {
        name: String::new(),
        request: request.clone(),
        phase: "Running",
        reason: None,
        source: String::new(),
        destination: String::new(),
        captured_packet: None,
        results,
    })
}

/// Antrea's controller's judgement of a Traceflow's results
/// (pkg/controller/traceflow/controller.go, checkTraceflowStatus): a
/// droppedOnly one is done with any result; otherwise it needs the sender's
/// (SpoofGuard) and a final observation (Delivered, Dropped, Rejected,
/// ForwardedOutOfNetwork), or only the latter when no source Pod was given.
pub fn succeeded(results: &[NodeResult], dropped_only: bool, has_source_pod: bool) -> bool {
    if dropped_only {
        return !results.is_empty();
    }
    let obs = || results.iter().flat_map(|r| &r.observations);
    let sender = obs().any(|o| o.component == "SpoofGuard");
    let receiver = obs().any(|o| {
        matches!(
            o.action,
            "Delivered" | "Dropped" | "Rejected" | "ForwardedOutOfNetwork"
        )
    });
    receiver && (sender || !has_source_pod)
}

/// A node's observations, and the tunnel destination with the packet as
/// the next node receives it.
type NodeWalk = (Vec<Observation>, Option<(Ipv4Addr, String)>);

/// One node's walk and its observations; the packet as it enters the next
/// node when it leaves by the tunnel.
fn walk_node(
    cluster: &ClusterState,
    node: &str,
    flow: &str,
    cat: &PolicyCatalog,
    sender: bool,
    tracer: &mut dyn NodeTracer,
) -> Result<NodeWalk, String> {
    let np = node_pipeline(cluster, node)?;
    let prog = inspect::program(&np)?;
    let walk = tracer.trace(node, &prog, flow)?;
    let names = prog.table_names();
    let tables: Vec<&str> = walk.tables.iter().filter_map(|t| names.name(*t)).collect();
    // The packet as it entered (its source decides the Egress).
    let nw_src = flow
        .split(',')
        .find_map(|f| f.strip_prefix("nw_src="))
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
    let mut obs = Vec::new();
    if sender {
        if tables.contains(&"SpoofGuard") {
            obs.push(Observation {
                component: "SpoofGuard",
                action: "Forwarded",
                ..Observation::default()
            });
        }
        if let Some(nat) = walk
            .verdict
            .cts
            .iter()
            .filter_map(|c| c.nat.as_deref()?.strip_prefix("dst="))
            .next()
        {
            obs.push(Observation {
                component: "LB",
                action: "Forwarded",
                translated_dst_ip: Some(nat.split(':').next().unwrap_or(nat).to_string()),
                ..Observation::default()
            });
        }
    } else {
        obs.push(Observation {
            component: "Forwarding",
            action: "Received",
            ..Observation::default()
        });
    }
    // Rules that let it through, in walk order.
    for (_, id) in &walk.conjunctions {
        let Some(info) = cat.rule(*id) else { continue };
        if matches!(info.action, RuleAction::Allow) {
            let ingress = info.direction == crate::k8s::Direction::Ingress;
            obs.push(Observation {
                component: "NetworkPolicy",
                component_info: Some(if ingress { "IngressRule" } else { "EgressRule" }.into()),
                action: "Forwarded",
                network_policy: Some(info.reference()),
                network_policy_rule: Some(info.rule.clone()),
                ..Observation::default()
            });
        }
    }
    // The table that ended the packet: the last flow's, or the one that
    // sent it to the agent (a policy packet-in's PacketInTableField, reg2).
    let np_packet_in = walk.packet_ins.iter().rev().find_map(PolicyPacketIn::of);
    let last_table = match np_packet_in {
        Some(p) => names.name(p.table),
        None => walk.last_match.and_then(|t| names.name(t)),
    }
    .map(str::to_string);
    // A logged Allow goes to the agent and on: only a packet with no output
    // ends here.
    if walk.verdict.ends_packet() {
        let denied = walk
            .conjunctions
            .iter()
            .filter_map(|(_, id)| cat.rule(*id))
            .find(|r| matches!(r.action, RuleAction::Drop | RuleAction::Reject));
        match (denied, last_table.as_deref()) {
            (Some(r), _) => obs.push(Observation {
                component: "NetworkPolicy",
                component_info: Some(
                    if r.direction == crate::k8s::Direction::Ingress {
                        "IngressMetric"
                    } else {
                        "EgressMetric"
                    }
                    .into(),
                ),
                action: if r.action == RuleAction::Reject {
                    "Rejected"
                } else {
                    "Dropped"
                },
                network_policy: Some(r.reference()),
                network_policy_rule: Some(r.rule.clone()),
                ..Observation::default()
            }),
            (None, Some(t @ ("IngressDefaultRule" | "EgressDefaultRule"))) => {
                obs.push(Observation {
                    component: "NetworkPolicy",
                    component_info: Some(t.to_string()),
                    action: "Dropped",
                    ..Observation::default()
                })
            }
            (None, t) => obs.push(Observation {
                component: "Forwarding",
                component_info: t.map(str::to_string),
                action: "Dropped",
                ..Observation::default()
            }),
        }
        return Ok((obs, None));
    }
    let Some(out) = walk.verdict.outputs.first() else {
        return Ok((obs, None));
    };
    let emitted = walk.out.clone();
    // Egress (getEgressObservation): the Pod's packet marked for SNAT here
    // (on its own node or the Egress node it was tunnelled to), or
    // tunnelled from its node to the Egress IP that another node holds.
    if let Some(p) = emitted.as_ref()
        && let Some(src) = nw_src.and_then(|ip| cluster.pod_with_ip(ip))
        && let Some((name, ip, egress_node)) = crate::engine::egress::egress_of_pod(cluster, src)
    {
        let marked = p.pkt_mark != 0;
        let to_egress_ip = sender
            && out.port == TUNNEL_OFPORT
            && out.tun_dst.map(|d| d.to_string()) == Some(ip.clone());
        if marked || to_egress_ip {
            obs.push(Observation {
                component: "Egress",
                action: if marked {
                    "MarkedForSNAT"
                } else {
                    "ForwardedToEgressNode"
                },
                egress_ip: Some(ip),
                egress: Some(name),
                egress_node: Some(egress_node),
                ..Observation::default()
            });
        }
    }
    let mut ob = Observation {
        component: "Forwarding",
        component_info: Some("Output".into()),
        action: "Delivered",
        ..Observation::default()
    };
    let mut next = None;
    match out.port {
        TUNNEL_OFPORT => {
            ob.action = "Forwarded";
            if let Some(dst) = out.tun_dst {
                ob.tunnel_dst_ip = Some(dst.to_string());
                if let Some(p) = emitted {
                    let me = cluster
                        .node_by_name(node)
                        .map(|n| n.ip)
                        .unwrap_or(Ipv4Addr::UNSPECIFIED);
                    next = Some((dst, arriving(&p, me, dst)?));
                }
            }
        }
        GATEWAY_OFPORT => {
            let to_pod = emitted
                .as_ref()
                .and_then(|p| p.headers.nw_dst)
                .is_some_and(|ip| cluster.pod_with_ip(ip).is_some());
            ob.action = if to_pod {
                "Forwarded"
            } else {
                "ForwardedOutOfNetwork"
            };
        }
        _ => {
            if let Some(ip) = emitted.as_ref().and_then(|p| p.headers.nw_dst)
                && let Some(p) = cluster.pod_with_ip(ip)
            {
                ob.pod = Some(format!("{}/{}", p.namespace, p.name));
            }
        }
    }
    obs.push(ob);
    Ok((obs, next))
}

/// The packet `p` (as it left by the tunnel from `src` to `dst`) as the
/// receiving br-int sees it: its headers and tunnel metadata only, no
/// registers or conntrack state of the sender.
fn arriving(p: &OutPacket, src: Ipv4Addr, dst: Ipv4Addr) -> Result<String, String> {
    let h = &p.headers;
    let (Some(nw_src), Some(nw_dst)) = (h.nw_src, h.nw_dst) else {
        return Err("the tunnelled packet is not IPv4".into());
    };
    let (sp, dp) = (h.tp_src.unwrap_or(0), h.tp_dst.unwrap_or(0));
    let l4 = match p.nw_proto {
        6 => format!("tcp,tp_src={sp},tp_dst={dp}"),
        17 => format!("udp,udp_src={sp},udp_dst={dp}"),
        132 => format!("sctp,sctp_src={sp},sctp_dst={dp}"),
        1 => {
            let (t, c) = p.icmp.unwrap_or((8, 0));
            format!("icmp,icmp_type={t},icmp_code={c}")
        }
        other => format!("ip,nw_proto={other}"),
    };
    let (proto, rest) = l4.split_once(',').unwrap_or((&l4, ""));
    let flow = format!(
        "tun_id={},tun_src={src},tun_dst={dst},in_port={TUNNEL_OFPORT},{proto},dl_src={},dl_dst={},nw_src={nw_src},nw_dst={nw_dst},nw_ttl={},{rest}",
        p.tun_id,
        crate::model::MacAddr(h.eth_src),
        crate::model::MacAddr(h.eth_dst),
        h.nw_ttl.unwrap_or(64),
    );
    Ok(flow.trim_end_matches(',').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_reads_like_antctl() {
        let r = TraceflowResult {
            name: "a-to-b-00000001".into(),
            request: TraceflowRequest::default(),
            phase: "Succeeded",
            reason: None,
            captured_packet: None,
            source: "default/a".into(),
            destination: "default/b".into(),
            results: vec![NodeResult {
                node: "n1".into(),
                timestamp: 5,
                observations: vec![
                    Observation {
                        component: "SpoofGuard",
                        action: "Forwarded",
                        ..Observation::default()
                    },
                    Observation {
                        component: "Forwarding",
                        component_info: Some("Output".into()),
                        action: "Delivered",
                        ..Observation::default()
                    },
                ],
            }],
        };
        assert_eq!(
            r.to_yaml(),
            "name: a-to-b-00000001\nphase: Succeeded\nsource: default/a\ndestination: default/b\nresults:\n- node: n1\n  timestamp: 5\n  observations:\n  - component: SpoofGuard\n    action: Forwarded\n  - component: Forwarding\n    componentInfo: Output\n    action: Delivered\n"
        );
    }

    fn ob(component: &'static str, action: &'static str) -> Observation {
        Observation {
            component,
            action,
            ..Observation::default()
        }
    }

    fn node(observations: Vec<Observation>) -> NodeResult {
        NodeResult {
            node: "n".into(),
            timestamp: 0,
            observations,
        }
    }

    /// checkTraceflowStatus's rule: the sender and a final observation;
    /// only the final one without a source Pod; anything for droppedOnly.
    #[test]
    fn a_traceflow_succeeds_as_antrea_s_controller_judges_it() {
        let sender = node(vec![
            ob("SpoofGuard", "Forwarded"),
            ob("Forwarding", "Forwarded"),
        ]);
        let receiver = node(vec![
            ob("Forwarding", "Received"),
            ob("Forwarding", "Delivered"),
        ]);
        assert!(!succeeded(std::slice::from_ref(&sender), false, true));
        assert!(succeeded(&[sender.clone(), receiver.clone()], false, true));
        assert!(!succeeded(std::slice::from_ref(&receiver), false, true));
        assert!(succeeded(std::slice::from_ref(&receiver), false, false));
        for last in ["Dropped", "Rejected", "ForwardedOutOfNetwork"] {
            let one = node(vec![ob("SpoofGuard", "Forwarded"), ob("Forwarding", last)]);
            assert!(succeeded(&[one], false, true), "{last}");
        }
        assert!(!succeeded(&[], true, true));
        assert!(succeeded(&[sender], true, true));
    }
}
