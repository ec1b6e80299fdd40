//! The flow record Antrea's agent exports, field for field (and, as a run keeps
//! it, with the exporting node and time: [`NodeFlowRecord`]), and the L7 `httpVals`
//! JSON.
//!
//! Field names (after serde's renames) are the IPFIX information element names,
//! so JSON lines read like Antrea's Flow Aggregator output. Element ids and types
//! live in [`super::ipfix`].

use std::net::Ipv4Addr;

use serde::{Serialize, Serializer};

use crate::time::SimTime;

/// IANA `flowEndReason` (IE 136) values (RFC 5102 §5.11.3 / IANA IPFIX registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum FlowEndReason {
    /// No packets for the idle timeout.
    IdleTimeout = 1,
    /// The flow is still alive; this is a periodic report.
    ActiveTimeout = 2,
    /// The connection ended (TCP `TIME_WAIT`/`CLOSE`, conntrack entry gone).
    EndOfFlow = 3,
    /// The exporter stopped the flow for another reason. IANA's value;
    /// Antrea's agent never sends it, so the simulator does not either.
    ForcedEnd = 4,
}

/// Antrea `flowType` (enterprise 56506, IE 137; go-ipfix `registry.FlowType*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum FlowType {
    /// Not classified (go-ipfix `FlowTypeUnspecified`).
    #[default]
    Unspecified = 0,
    IntraNode = 1,
    InterNode = 2,
    ToExternal = 3,
    FromExternal = 4,
}

impl Serialize for FlowEndReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl Serialize for FlowType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

/// One exported record. Strings Antrea leaves unset are empty; an unset
/// `destinationClusterIPv4` is `0.0.0.0`, as in Antrea's records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowRecord {
    /// Seconds since the Unix epoch (IPFIX `dateTimeSeconds`).
    pub(crate) flow_start_seconds: u32,
    pub(crate) flow_end_seconds: u32,
    pub(crate) flow_end_reason: FlowEndReason,
    #[serde(rename = "sourceIPv4Address")]
    pub(crate) source_ipv4_address: Ipv4Addr,
    #[serde(rename = "destinationIPv4Address")]
    pub(crate) destination_ipv4_address: Ipv4Addr,
    pub source_transport_port: u16,
    pub(crate) destination_transport_port: u16,
    pub(crate) protocol_identifier: u8,
    pub(crate) packet_total_count: u64,
    pub(crate) octet_total_count: u64,
    pub(crate) packet_delta_count: u64,
    pub(crate) octet_delta_count: u64,
    pub(crate) reverse_packet_total_count: u64,
    pub(crate) reverse_octet_total_count: u64,
    pub(crate) reverse_packet_delta_count: u64,
    pub(crate) reverse_octet_delta_count: u64,
    pub source_pod_name: String,
    pub source_pod_namespace: String,
    pub source_node_name: String,
    pub destination_pod_name: String,
    pub destination_pod_namespace: String,
    pub destination_node_name: String,
    #[serde(rename = "destinationClusterIPv4")]
    pub(crate) destination_cluster_ipv4: Ipv4Addr,
    pub(crate) destination_service_port: u16,
    pub destination_service_port_name: String,
    /// The NetworkPolicy elements (IEs 110-118, 139-142): the rules that
    /// allowed the connection in each direction, from its `ct_label`.
    #[serde(flatten)]
    pub policies: PolicyElements,
    /// Conntrack's TCP state (`ESTABLISHED`, `TIME_WAIT`, ...); empty for
    /// other protocols.
    pub tcp_state: String,
    pub(crate) flow_type: FlowType,
    pub egress_name: String,
    /// A string element in Antrea's registry (IE 154), not an address element.
    #[serde(rename = "egressIP")]
    pub egress_ip: String,
    pub egress_node_name: String,
    pub app_protocol_name: String,
    pub http_vals: String,
}

/// The policy rules a connection passed, as Antrea's flow records carry
/// them: name, Namespace, type (1 K8s NetworkPolicy, 2 Antrea
/// NetworkPolicy, 3 Antrea ClusterNetworkPolicy; 0 none), rule name and
/// action (1 Allow, 2 Drop, 3 Reject; 0 none), for ingress and egress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyElements {
    pub ingress_network_policy_name: String,
    pub ingress_network_policy_namespace: String,
    pub ingress_network_policy_type: u8,
    pub ingress_network_policy_rule_name: String,
    pub ingress_network_policy_rule_action: u8,
    pub egress_network_policy_name: String,
    pub egress_network_policy_namespace: String,
    pub egress_network_policy_type: u8,
    pub egress_network_policy_rule_name: String,
    pub egress_network_policy_rule_action: u8,
}

impl PolicyElements {
    /// Sets the ingress (or egress) policy's name, Namespace, type, rule
    /// name and rule action.
    pub fn set(
        &mut self,
        ingress: bool,
        name: String,
        namespace: String,
        kind: u8,
        rule: String,
        action: u8,
    ) {
        if ingress {
            self.ingress_network_policy_name = name;
            self.ingress_network_policy_namespace = namespace;
            self.ingress_network_policy_type = kind;
            self.ingress_network_policy_rule_name = rule;
            self.ingress_network_policy_rule_action = action;
        } else {
            self.egress_network_policy_name = name;
            self.egress_network_policy_namespace = namespace;
            self.egress_network_policy_type = kind;
            self.egress_network_policy_rule_name = rule;
            self.egress_network_policy_rule_action = action;
        }
    }
}

/// One HTTP/1.1 transaction as Suricata's EVE `http` event reports it; Antrea's
/// L7 listener copies these fields into `httpVals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HttpExchange {
    pub hostname: String,
    pub url: String,
    pub http_user_agent: String,
    pub http_content_type: String,
    pub http_method: String,
    pub protocol: String,
    pub status: u16,
    pub length: u64,
}

/// `httpVals` for exchanges keyed by their position (transaction ids 0, 1, …).
/// The key order inside each object is the one the blog shows (serde keeps
/// struct field order).
pub fn http_vals_json(exchanges: &[HttpExchange]) -> String {
    http_vals_json_with_ids(exchanges.iter().enumerate().map(|(i, e)| (i as u64, e)))
}

/// `httpVals` with explicit Suricata transaction ids: Antrea keys the map by
/// `tx_id`, which keeps counting across exports of one connection.
pub fn http_vals_json_with_ids<'a>(
    exchanges: impl IntoIterator<Item = (u64, &'a HttpExchange)>,
) -> String {
    let mut out = String::from("{");
    for (n, (id, e)) in exchanges.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&id.to_string());
        out.push_str("\":");
        // Serializing a plain struct of strings and integers cannot fail.
        out.push_str(&serde_json::to_string(e).unwrap_or_default());
    }
    out.push('}');
    out
}

/// One exported record and the node whose agent exported it (what a run
/// keeps and `antlab flows` lists).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFlowRecord {
    /// The exporting agent's node (its IPFIX observation domain).
    pub(crate) exporter_node: String,
    /// Simulated time of the export round that sent it (ns).
    #[serde(rename = "exportedAtNs")]
    pub(crate) exported_at: SimTime,
    #[serde(flatten)]
    pub(crate) record: FlowRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blog's httpVals (exploring-antrea-features, L7FlowExporter section).
    const BLOG: &str = r#"{"0":{"hostname":"www.vg.no","url":"/","http_user_agent":"curl/7.68.0","http_content_type":"","http_method":"GET","protocol":"HTTP/1.1","status":301,"length":0}}"#;

    fn blog_exchange() -> HttpExchange {
        HttpExchange {
            hostname: "www.vg.no".into(),
            url: "/".into(),
            http_user_agent: "curl/7.68.0".into(),
            http_content_type: String::new(),
            http_method: "GET".into(),
            protocol: "HTTP/1.1".into(),
            status: 301,
            length: 0,
        }
    }

    #[test]
    fn http_vals_matches_the_blog_byte_for_byte() {
        assert_eq!(http_vals_json(&[blog_exchange()]), BLOG);
    }

    #[test]
    fn http_vals_keys_follow_ids_and_escape_strings() {
        let mut second = blog_exchange();
        second.url = "/a\"b".into();
        let s = http_vals_json_with_ids([(3, &blog_exchange()), (4, &second)]);
        assert!(s.starts_with(r#"{"3":{"hostname""#), "{s}");
        assert!(s.contains(r#","4":{"#), "{s}");
        assert!(s.contains(r#""url":"/a\"b""#), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["4"]["status"], 301);
        assert_eq!(http_vals_json(&[]), "{}");
    }
}
