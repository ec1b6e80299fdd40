//! The agents' flow exporters during a run: each node's agent polls its
//! conntrack every `flowPollInterval` and runs export rounds on its own
//! timer, as Antrea's agent does (`pkg/agent/flowexporter`, see
//! [`crate::flows::exporter`] for the rules). The conntrack is br-int's
//! zone 65520 where br-int executes the program, as Antrea dumps it, and the
//! host's in the `brInt: switch` lab ([`dump`]).
//!
//! An agent starts when the FlowExporter gate is on and its node is powered
//! (the simulator starts it at the first tick that finds it so): its first
//! poll comes `flowPollInterval` later, its first export round
//! `activeFlowExportTimeout` later, when it also connects to the collector
//! and sends its template ([`ExporterSession`]). At one instant polls run
//! before rounds. A node without power has no agent: its store is gone.
//!
//! What each agent reports follows Antrea (v1.15 and v2.7 alike):
//! - only connections with a Pod of *this* node at one end; only local Pods
//!   are named, and `sourceNodeName`/`destinationNodeName` is the agent's
//!   node when that end's Pod is named (the Flow Aggregator correlates the
//!   two ends' records);
//! - Service context from AntreaProxy: the ClusterIP and `namespace/name:port`
//!   when the flow was DNATed;
//! - `flowType` from where the ends are (`findFlowType`); a Pod-to-external
//!   flow is exported by its source Pod's node only, with the Egress name, IP
//!   and node the source node knows at export time (`fillEgressInfo`);
//! - L7: the HTTP/1.1 exchanges conntrack captured for annotated Pods (the
//!   simulator's stand-in for Suricata's EVE events) are consumed at each
//!   poll and become `httpVals`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::engine::pipeline::CT_ZONE;
use crate::engine::policy::{PolicyCatalog, PolicyKind, RuleInfo};
use crate::engine::{ClusterState, PodState};
use crate::flows::{
    DumpedConn, ExporterConfig, ExportingProcess, FlowExporter, FlowKey, FlowMeta, FlowRecord,
    FlowType, HttpExchange, IpfixError, NodeFlowRecord, PolicyElements, TimedMessage, Transport,
};
use crate::k8s::RuleAction;
use crate::sim::nat::CtEntry;
use crate::sim::{DeniedPacket, World};
use crate::time::SimTime;

/// One agent's connection to the collector: it connects (and sends its
/// template) at its first export round and is gone when its node loses power
/// or the run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExporterSession {
    pub(crate) node: String,
    pub(crate) connected_at: SimTime,
    pub(crate) closed_at: Option<SimTime>,
}

/// One node's agent.
struct Agent {
    exporter: FlowExporter,
    next_poll: SimTime,
    next_round: SimTime,
    /// Index into [`FlowExport::sessions`] once connected.
    session: Option<usize>,
    /// HTTP messages of each connection already turned into L7 events, and
    /// the next Suricata transaction id.
    l7_seen: BTreeMap<FlowKey, (usize, u64)>,
}

/// All nodes' agents plus everything they exported so far.
#[derive(Default)]
pub struct FlowExport {
    agents: BTreeMap<String, Agent>,
    /// The records exported so far, the first [`FlowExport::keep`] of them.
    pub(crate) records: Vec<NodeFlowRecord>,
    /// Records exported in all, kept or not.
    pub(crate) exported: u64,
    /// How many records to keep (`None`: [`MAX_KEPT_FLOW_RECORDS`]). A TCP
    /// probe every 100 ms exports tens of thousands of records an hour
    /// (about 850 bytes each in memory), so a long run keeps only so many.
    pub(crate) keep: Option<usize>,
    pub(crate) sessions: Vec<ExporterSession>,
    /// Whether the next tick is already scheduled.
    pub(crate) scheduled: bool,
    /// Unix seconds of simulated time zero (the scenario's `startTime`).
    pub(crate) epoch_base_secs: u64,
}

/// Flow records a run keeps by default (about 425 MB).
pub const MAX_KEPT_FLOW_RECORDS: usize = 500_000;

impl FlowExport {
    pub fn new(epoch_base_secs: u64) -> Self {
        FlowExport {
            epoch_base_secs,
            ..FlowExport::default()
        }
    }

    /// Runs what is due at `now`: agents of nodes that lost power go, agents
    /// of powered nodes start, then due polls, then due export rounds.
    pub fn tick(&mut self, world: &mut World, cluster: &ClusterState, now: SimTime) {
        let settings = &cluster.settings.flow_exporter;
        for node in cluster.nodes() {
            let powered = world
                .device_id(&node.name)
                .is_some_and(|id| world.device(id).powered());
            if !powered {
                // What its br-int sent a dead agent is lost with it.
                if let Some(id) = world.device_id(&node.name) {
                    world.take_denied_packets(id);
                }
                if let Some(a) = self.agents.remove(&node.name)
                    && let Some(s) = a.session
                {
                    self.sessions[s].closed_at = Some(now);
                }
                continue;
            }
            self.agents
                .entry(node.name.clone())
                .or_insert_with(|| Agent {
                    exporter: FlowExporter::new(ExporterConfig::new(
                        settings.active_timeout,
                        settings.idle_timeout,
                        self.epoch_base_secs,
                    )),
                    next_poll: now + settings.poll_interval,
                    next_round: now + settings.active_timeout,
                    session: None,
                    l7_seen: BTreeMap::new(),
                });
        }
        // Denied packets reach the agent as packet-ins, between polls.
        for (name, agent) in self.agents.iter_mut() {
            let denied = world
                .device_id(name)
                .map(|id| world.take_denied_packets(id))
                .unwrap_or_default();
            store_denied(agent, cluster, name, &denied);
        }
        for (name, agent) in self.agents.iter_mut() {
            if agent.next_poll <= now {
                poll(agent, world, cluster, name, now);
                agent.next_poll = now + settings.poll_interval;
            }
        }
        for (name, agent) in self.agents.iter_mut() {
            if agent.next_round > now {
                continue;
            }
            if agent.session.is_none() {
                agent.session = Some(self.sessions.len());
                self.sessions.push(ExporterSession {
                    node: name.clone(),
                    connected_at: now,
                    closed_at: None,
                });
            }
            for mut record in agent.exporter.export(now) {
                self.exported += 1;
                if self.records.len() >= self.keep.unwrap_or(MAX_KEPT_FLOW_RECORDS) {
                    continue;
                }
                fill_egress(cluster, name, &mut record);
                self.records.push(NodeFlowRecord {
                    exporter_node: name.clone(),
                    exported_at: now,
                    record,
                });
            }
            agent.next_round = agent.exporter.next_round(now);
        }
    }

    /// When the next tick is due: the earliest poll or round of any agent;
    /// `fallback` when no agent runs yet.
    pub fn next_tick(&self, fallback: SimTime) -> SimTime {
        self.agents
            .values()
            .flat_map(|a| [a.next_poll, a.next_round])
            .min()
            .unwrap_or(fallback)
    }

    /// The run stopped: the agents' connections close. Connections still in
    /// the stores are not exported (an agent exports only on its timer).
    pub fn finish(&mut self, now: SimTime) {
        for a in std::mem::take(&mut self.agents).into_values() {
            if let Some(s) = a.session {
                self.sessions[s].closed_at = Some(now);
            }
        }
    }
}

/// Unix seconds of a simulated instant.
pub fn unix_secs(epoch_base_secs: u64, t: SimTime) -> u32 {
    u32::try_from(epoch_base_secs + t.as_nanos() / 1_000_000_000).unwrap_or(u32::MAX)
}

/// Everything one agent's session sends to the collector, in order: the
/// template on connecting, one message per record (template refreshes
/// between them over UDP), and the refreshes due until the session closed
/// (`end` if it never did).
pub fn session_messages(
    session: &ExporterSession,
    records: &[NodeFlowRecord],
    transport: Transport,
    epoch_base_secs: u64,
    end: SimTime,
) -> Result<Vec<TimedMessage>, IpfixError> {
    let secs = |t| unix_secs(epoch_base_secs, t);
    let closed = session.closed_at.unwrap_or(end);
    let (mut process, template) = ExportingProcess::connect(
        observation_domain_id(&session.node),
        transport,
        secs(session.connected_at),
    );
    let mut out = vec![(secs(session.connected_at), template)];
    for r in records.iter().filter(|r| {
        r.exporter_node == session.node
            && r.exported_at >= session.connected_at
            && r.exported_at <= closed
    }) {
        out.extend(process.export(secs(r.exported_at), &r.record)?);
    }
    out.extend(process.refreshes_until(secs(closed)));
    Ok(out)
}

/// One connection of a node's conntrack dump, from either conntrack.
struct Seen {
    dumped: DumpedConn,
    /// The Service address and port the client dialled, when the connection
    /// was DNATed to an endpoint.
    dialled: Option<(Ipv4Addr, u16)>,
    /// HTTP/1.1 messages captured on it, in order.
    http: Vec<String>,
    /// br-int's `ct_label` for it: the rules that allowed it (0 on the host).
    label: u128,
}

/// What `node`'s agent dumps. Where br-int executes the program, Antrea's
/// dump: br-int's conntrack zone `CtZone` (65520), without connections from
/// or to the node's `antrea-gw0`, and, with kube-proxy in AntreaProxy's
/// place, without the ClusterIP duplicates of Pod-to-Service connections
/// (`filterAntreaConns`, `pkg/agent/flowexporter/connections/conntrack.go`
/// v2.1.0). In the `brInt: switch` lab, Pod traffic is routed by the host,
/// and the host's conntrack is dumped instead.
fn dump(world: &World, cluster: &ClusterState, node: &str, now: SimTime) -> Option<Vec<Seen>> {
    let id = world.device_id(node)?;
    if let Some(rows) = world.br_int_conntrack_rows(id, CT_ZONE as u16) {
        let gateway = cluster
            .nodes()
            .find(|n| n.name == node)
            .map(|n| Ipv4Addr::from(u32::from(n.pod_cidr.network()) + 1));
        let svc_cidr = cluster.service_cidr.filter(|_| !cluster.proxy.antrea_proxy);
        return Some(
            rows.iter()
                .filter(|r| gateway.is_none_or(|gw| r.src != gw && r.dst != gw))
                .filter(|r| svc_cidr.is_none_or(|c| !c.contains(&r.dst)))
                .map(|r| {
                    let (dst, dst_port) = r.dnat.unwrap_or((r.dst, r.dport));
                    Seen {
                        dumped: DumpedConn {
                            key: FlowKey {
                                src: r.src,
                                dst,
                                src_port: r.sport,
                                dst_port,
                                protocol: r.proto,
                            },
                            start: SimTime(r.first_seen_ns),
                            packets: r.packets,
                            bytes: r.bytes,
                            reverse_packets: r.reverse_packets,
                            reverse_bytes: r.reverse_bytes,
                            tcp_state: r.tcp_state,
                        },
                        dialled: r.dnat.map(|_| (r.dst, r.dport)),
                        http: r.http.clone(),
                        label: r.label,
                    }
                })
                .collect(),
        );
    }
    let stack = world.device(id).stack()?;
    let rows: Vec<CtEntry> = stack.conntrack().rows(now);
    Some(
        rows.iter()
            .map(|e| Seen {
                dumped: dumped(e),
                dialled: e.dnat.map(|_| (e.original.dst, e.original.dport)),
                http: e.http().to_vec(),
                label: 0,
            })
            .collect(),
    )
}

/// One conntrack poll of `node`'s agent, with the L7 events since the last.
fn poll(agent: &mut Agent, world: &World, cluster: &ClusterState, node: &str, now: SimTime) {
    let Some(seen) = dump(world, cluster, node, now) else {
        return;
    };
    let dump: Vec<DumpedConn> = seen.iter().map(|s| s.dumped.clone()).collect();
    // The catalog the runner installed at its last sync (every policy
    // change is a step, and every step syncs).
    let catalog = world.policy_catalog();
    agent
        .exporter
        .poll(now, &dump, |d| resolve(cluster, catalog, node, &seen, d));
    // L7 events: each request and its response make one exchange.
    for e in &seen {
        let key = e.dumped.key;
        let (consumed, next_id) = agent.l7_seen.get(&key).copied().unwrap_or((0, 0));
        let mut consumed = consumed;
        let mut id = next_id;
        let mut new = Vec::new();
        while consumed + 1 < e.http.len() {
            match exchange(&e.http[consumed], &e.http[consumed + 1]) {
                Some(x) => {
                    new.push((id, x));
                    id += 1;
                    consumed += 2;
                }
                None => consumed += 1, // an unpaired message: skip it
            }
        }
        if !e.http.is_empty() {
            agent.l7_seen.insert(key, (consumed, id));
        }
        agent.exporter.add_http(now, &key, &new);
    }
    agent
        .l7_seen
        .retain(|k, _| seen.iter().any(|e| e.dumped.key == *k));
}

/// The packets `node`'s br-int denied since the agent last looked, added
/// to its deny connection store (`storeDenyConnection`): the Pods at either
/// end as the agent knows them, and the rule that denied it from the
/// packet-in's table, disposition and rule id (a default drop: a
/// Kubernetes NetworkPolicy, no name).
fn store_denied(agent: &mut Agent, cluster: &ClusterState, node: &str, denied: &[DeniedPacket]) {
    for d in denied {
        let key = FlowKey {
            src: d.src,
            dst: d.dst,
            src_port: d.src_port,
            dst_port: d.dst_port,
            protocol: d.protocol,
        };
        agent.exporter.add_denied(d.at, key, d.ip_len, || {
            let (mut m, src, dst) = pod_ends(cluster, node, d.src, d.dst)?;
            m.flow_type = match (src.is_some(), dst.is_some()) {
                (true, true) => FlowType::IntraNode,
                _ if in_pod_subnets(cluster, d.src) && in_pod_subnets(cluster, d.dst) => {
                    FlowType::InterNode
                }
                (true, false) => FlowType::ToExternal,
                (false, _) => FlowType::FromExternal,
            };
            m.policies = denied_policy(d);
            Some(m)
        });
    }
}

/// The NetworkPolicy elements of a denied packet (flowexporter's
/// `RuleActionToUint8`: Drop 2, Reject 3; a Kubernetes NetworkPolicy's
/// default drop has type 1 and no name).
fn denied_policy(d: &DeniedPacket) -> PolicyElements {
    let mut out = PolicyElements::default();
    let action = match d.disposition {
        2 => 3,
        _ => 2,
    };
    let ingress = d.table.contains("Ingress");
    let (name, namespace, kind, rule) = match d.table.as_str() {
        "IngressDefaultRule" | "EgressDefaultRule" if d.rule_id == 0 => (
            String::new(),
            String::new(),
            PolicyKind::K8s.ipfix_type(),
            String::new(),
        ),
        _ => match &d.rule {
            Some(r) => (
                r.policy.clone(),
                r.namespace.clone().unwrap_or_default(),
                r.kind.ipfix_type(),
                r.rule.clone(),
            ),
            // The policy is gone: Antrea ignores the packet's policy.
            None => return out,
        },
    };
    out.set(ingress, name, namespace, kind, rule, action);
    out
}

/// The dump's view of a host conntrack entry.
fn dumped(e: &CtEntry) -> DumpedConn {
    DumpedConn {
        key: key_of(e),
        start: e.first_seen,
        packets: e.packets,
        bytes: e.bytes,
        reverse_packets: e.reverse_packets,
        reverse_bytes: e.reverse_bytes,
        tcp_state: e.tcp_state.map_or("", |s| s.name()),
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

/// The Pod with `ip` if it runs on `node` (the agent's local Pod store).
fn local_pod<'a>(cluster: &'a ClusterState, node: &str, ip: Ipv4Addr) -> Option<&'a PodState> {
    cluster
        .pod_with_ip(ip)
        .filter(|p| cluster.node(p.node).name == node)
}

/// The agent's own Pods at either end of a connection (`fillPodInfo`), as
/// the record's Pod and node names; `None` when neither end is one.
fn pod_ends<'a>(
    cluster: &'a ClusterState,
    node: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Option<(FlowMeta, Option<&'a PodState>, Option<&'a PodState>)> {
    let src = local_pod(cluster, node, src);
    let dst = local_pod(cluster, node, dst);
    if src.is_none() && dst.is_none() {
        return None;
    }
    let mut m = FlowMeta::default();
    if let Some(p) = src {
        m.source_pod_name = p.name.clone();
        m.source_pod_namespace = p.namespace.clone();
        m.source_node_name = node.to_string();
    }
    if let Some(p) = dst {
        m.destination_pod_name = p.name.clone();
        m.destination_pod_namespace = p.namespace.clone();
        m.destination_node_name = node.to_string();
    }
    Some((m, src, dst))
}

/// Whether `ip` is in a node's Pod CIDR (`IPInPodSubnets`).
fn in_pod_subnets(cluster: &ClusterState, ip: Ipv4Addr) -> bool {
    cluster.nodes().any(|n| n.pod_cidr.contains(&ip))
}

/// The context Antrea attaches to a new connection on `node`
/// (`AddOrUpdateConn`, `findFlowType`), or `None` when it is not exported
/// there: no local Pod at either end, or a Pod-to-external flow whose source
/// Pod lives elsewhere (`exportConn` skips it at the Egress node).
fn resolve(
    cluster: &ClusterState,
    catalog: &PolicyCatalog,
    node: &str,
    seen: &[Seen],
    d: &DumpedConn,
) -> Option<FlowMeta> {
    let e = seen.iter().find(|e| e.dumped.key == d.key)?;
    let (mut m, src, dst) = pod_ends(cluster, node, d.key.src, d.key.dst)?;
    if let Some((vip, port)) = e.dialled {
        service_context(cluster, vip, port, &mut m);
    }
    m.policies = policy_elements(catalog, e.label);
    let service = !m.destination_service_port_name.is_empty();
    m.flow_type = if in_pod_subnets(cluster, d.key.src) {
        if service || in_pod_subnets(cluster, d.key.dst) {
            if src.is_some() && dst.is_some() {
                FlowType::IntraNode
            } else {
                FlowType::InterNode
            }
        } else {
            FlowType::ToExternal
        }
    } else if dst.is_some() {
        FlowType::FromExternal
    } else {
        FlowType::Unspecified
    };
    if m.flow_type == FlowType::ToExternal && src.is_none() {
        return None;
    }
    Some(m)
}

/// The NetworkPolicy elements of a connection whose `ct_label` is `label`:
/// the ingress rule's id in its low 32 bits, the egress rule's in the next
/// 32 (Antrea's `IngressRuleCTLabel`/`EgressRuleCTLabel`), looked up as the
/// agent looks them up (`GetNetworkPolicyByRuleFlowID`). Kubernetes
/// NetworkPolicy rules carry no name and act as Allow.
fn policy_elements(catalog: &PolicyCatalog, label: u128) -> PolicyElements {
    let mut out = PolicyElements::default();
    let rule = |bits: u128| {
        u32::try_from(bits & 0xffff_ffff)
            .ok()
            .filter(|id| *id != 0)
            .and_then(|id| catalog.rule(id))
    };
    let name = |r: &RuleInfo| {
        if r.kind == PolicyKind::K8s {
            String::new()
        } else {
            r.rule.clone()
        }
    };
    // flowexporter's RuleActionToUint8: Allow 1, Drop 2, Reject 3.
    let action = |r: &RuleInfo| match r.action {
        RuleAction::Allow | RuleAction::Pass => 1,
        RuleAction::Drop => 2,
        RuleAction::Reject => 3,
    };
    for (ingress, bits) in [(true, label), (false, label >> 32)] {
        if let Some(r) = rule(bits) {
            let ns = r.namespace.clone().unwrap_or_default();
            out.set(
                ingress,
                r.policy.clone(),
                ns,
                r.kind.ipfix_type(),
                name(r),
                action(r),
            );
        }
    }
    out
}

/// ClusterIP, port and `namespace/name:port` of the Service a DNATed
/// connection went through.
fn service_context(cluster: &ClusterState, vip: Ipv4Addr, port: u16, m: &mut FlowMeta) {
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
            return;
        }
    }
}

/// `fillEgressInfo` at export time: a Pod-to-external record carries the
/// Egress that applies to its source Pod, as the exporting node sees it now.
fn fill_egress(cluster: &ClusterState, node: &str, r: &mut FlowRecord) {
    if r.flow_type != FlowType::ToExternal {
        return;
    }
    let Some(pod) = local_pod(cluster, node, r.source_ipv4_address) else {
        return;
    };
    if let Some((name, ip, egress_node)) = crate::engine::egress::egress_of_pod(cluster, pod) {
        r.egress_name = name;
        r.egress_ip = ip;
        r.egress_node_name = egress_node;
    }
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
    fn policy_elements_come_from_the_rule_ids_in_ct_label() {
        let mut c = ClusterState::default();
        let text = "\
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: web-in}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  ingress: [{name: from-clients, action: Allow}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: shop}
spec:
  podSelector: {}
  egress: [{}]
";
        for o in crate::k8s::parse_manifests("p.yaml", text).expect("manifest") {
            c.apply_policy_object(&o, 0, false).expect("admitted");
        }
        let cat = crate::engine::policy::rules::catalog(&c);
        let (ingress_id, egress_id) = (1u128, 2u128);
        let e = policy_elements(&cat, ingress_id | (egress_id << 32));
        assert_eq!(e.ingress_network_policy_name, "web-in");
        assert_eq!(e.ingress_network_policy_namespace, "");
        assert_eq!(e.ingress_network_policy_type, 3);
        assert_eq!(e.ingress_network_policy_rule_name, "from-clients");
        assert_eq!(e.ingress_network_policy_rule_action, 1);
        assert_eq!(e.egress_network_policy_name, "out");
        assert_eq!(e.egress_network_policy_namespace, "shop");
        assert_eq!(e.egress_network_policy_type, 1);
        assert_eq!(e.egress_network_policy_rule_name, "");
        assert_eq!(e.egress_network_policy_rule_action, 1);
        // No label: nothing.
        assert_eq!(policy_elements(&cat, 0), PolicyElements::default());
    }

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

    /// `GetEgress` reports a static Egress from its status: the node that
    /// has the IP, or nothing yet when no node has it.
    #[test]
    fn a_static_egress_is_reported_from_its_status() {
        let text = "name: s\ntopology: lab.yaml\nuntil: 3s\nsteps:\n  - at: 0s\n    apply: {file: pod.yaml}\n  - at: 0s\n    apply: {file: other.yaml}\n  - at: 1s\n    apply: {file: static.yaml}\n";
        let mut read = |name: &str| -> Result<(String, String), String> {
            let body = match name {
                "lab.yaml" => include_str!("../../../topologies/blog-lab.yaml"),
                "pod.yaml" => include_str!("../../../scenarios/manifests/egress-ubuntu-pod.yaml"),
                "other.yaml" => include_str!("../../../scenarios/manifests/unselected-pod.yaml"),
                "static.yaml" => include_str!("../../../scenarios/manifests/static-egress.yaml"),
                other => return Err(format!("no file {other}")),
            };
            Ok((name.into(), body.to_string()))
        };
        let scn = crate::scenario::load("s.yaml", text, &mut read).expect("valid scenario");
        let out = crate::scenario::run::run(&scn, 1, &Default::default()).expect("runs");
        let c = &out.cluster;
        let pod = |name: &str| c.pod_by_name("egress", name).expect("the Pod exists");
        assert_eq!(
            crate::engine::egress::egress_of_pod(c, pod("ubuntu-20-04-59d474f9df-dv9ms")),
            Some((
                "egress-static".into(),
                "10.160.1.27".into(),
                "k8s-node-vm-3-cl-02".into()
            ))
        );
        assert_eq!(
            crate::engine::egress::egress_of_pod(c, pod("other-pod")),
            Some(("egress-static-nowhere".into(), String::new(), String::new()))
        );
    }

    #[test]
    fn two_requests_are_not_an_exchange() {
        let req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(exchange(req, req).is_none());
    }
}
