//! An IPFIX (RFC 7011) exporting process for [`FlowRecord`]s, as Antrea's
//! agent drives go-ipfix, and JSON lines.
//!
//! One template (id 256: go-ipfix starts at 255 and `NewTemplateID` hands out
//! 256 first) holds Antrea v1.15's element list in Antrea's order
//! (`pkg/agent/flowexporter/exporter/exporter.go`@v1.15.0: IANA common + IPv4
//! addresses, IANA reverse, Antrea common + `destinationClusterIPv4`), its
//! NetworkPolicy elements included, plus `egressNodeName` (exported from
//! v2.0). Enterprise elements set the E bit
//! and carry the enterprise number (§3.2): 29305 for reverse elements (RFC
//! 5103), 56506 for Antrea's.
//!
//! Messages as the agent sends them ([`ExportingProcess`]):
//! - on connecting, the template set alone in one message
//!   (`initFlowExporter` then `sendTemplateSet`);
//! - each data record alone in one message (`exportConn`: one record per
//!   set, one set per `SendSet`, v1.15.0 and v2.7.0 alike);
//! - over UDP the template again every 1800 s from connecting (Antrea v1.15
//!   sets `TempRefTimeout` 1800 for UDP; go-ipfix's `InitExportingProcess`
//!   ticks `sendRefreshedTemplates` for UDP only; Antrea v2.7 passes 0, the
//!   go-ipfix default of 600 s); over TCP never again (a stream keeps it);
//! - the header's sequence number counts the data records sent before the
//!   message (RFC 7011 §3.1; go-ipfix v0.17, Antrea v2.7's, adds after
//!   sending).

use std::net::Ipv4Addr;

use super::record::FlowRecord;

/// Antrea's private enterprise number (go-ipfix `registry.AntreaEnterpriseID`).
pub const ANTREA_ENTERPRISE: u32 = 56506;
/// RFC 5103 reverse information element PEN.
pub const REVERSE_ENTERPRISE: u32 = 29305;
/// The data template's id; set ids 0–255 are reserved (RFC 7011 §3.3.2).
pub const TEMPLATE_ID: u16 = 256;
/// Set id of a template set (RFC 7011 §3.3.2).
pub const TEMPLATE_SET_ID: u16 = 2;
/// Field length meaning "variable length" (RFC 7011 §7).
pub const VARLEN: u16 = 65535;
/// IPFIX message header length (RFC 7011 §3.1).
pub const HEADER_LEN: usize = 16;

/// One template field: IE name, element id, enterprise (0 = IANA) and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoElement {
    pub name: &'static str,
    pub id: u16,
    pub enterprise: u32,
    pub length: u16,
}

const fn iana(name: &'static str, id: u16, length: u16) -> InfoElement {
    InfoElement {
        name,
        id,
        enterprise: 0,
        length,
    }
}
const fn rev(name: &'static str, id: u16) -> InfoElement {
    InfoElement {
        name,
        id,
        enterprise: REVERSE_ENTERPRISE,
        length: 8,
    }
}
const fn antrea(name: &'static str, id: u16, length: u16) -> InfoElement {
    InfoElement {
        name,
        id,
        enterprise: ANTREA_ENTERPRISE,
        length,
    }
}

/// Number of fields in the template.
pub const FIELD_COUNT: usize = 42;

/// The template's fields in order. Ids and types: IANA IPFIX registry and Antrea's
/// `registry_antrea.csv` (unsigned64 counters, dateTimeSeconds 4 bytes, strings
/// variable length, ipv4Address 4 bytes).
pub const ELEMENTS: [InfoElement; FIELD_COUNT] = [
    iana("flowStartSeconds", 150, 4),
    iana("flowEndSeconds", 151, 4),
    iana("flowEndReason", 136, 1),
    iana("sourceTransportPort", 7, 2),
    iana("destinationTransportPort", 11, 2),
    iana("protocolIdentifier", 4, 1),
    iana("packetTotalCount", 86, 8),
    iana("octetTotalCount", 85, 8),
    iana("packetDeltaCount", 2, 8),
    iana("octetDeltaCount", 1, 8),
    iana("sourceIPv4Address", 8, 4),
    iana("destinationIPv4Address", 12, 4),
    rev("reversePacketTotalCount", 86),
    rev("reverseOctetTotalCount", 85),
    rev("reversePacketDeltaCount", 2),
    rev("reverseOctetDeltaCount", 1),
    antrea("sourcePodName", 101, VARLEN),
    antrea("sourcePodNamespace", 100, VARLEN),
    antrea("sourceNodeName", 104, VARLEN),
    antrea("destinationPodName", 103, VARLEN),
    antrea("destinationPodNamespace", 102, VARLEN),
    antrea("destinationNodeName", 105, VARLEN),
    antrea("destinationServicePort", 108, 2),
    antrea("destinationServicePortName", 109, VARLEN),
    antrea("ingressNetworkPolicyName", 110, VARLEN),
    antrea("ingressNetworkPolicyNamespace", 111, VARLEN),
    antrea("ingressNetworkPolicyType", 115, 1),
    antrea("ingressNetworkPolicyRuleName", 141, VARLEN),
    antrea("ingressNetworkPolicyRuleAction", 139, 1),
    antrea("egressNetworkPolicyName", 112, VARLEN),
    antrea("egressNetworkPolicyNamespace", 113, VARLEN),
    antrea("egressNetworkPolicyType", 118, 1),
    antrea("egressNetworkPolicyRuleName", 142, VARLEN),
    antrea("egressNetworkPolicyRuleAction", 140, 1),
    antrea("tcpState", 136, VARLEN),
    antrea("flowType", 137, 1),
    antrea("egressName", 153, VARLEN),
    antrea("egressIP", 154, VARLEN),
    antrea("egressNodeName", 157, VARLEN),
    antrea("appProtocolName", 155, VARLEN),
    antrea("httpVals", 156, VARLEN),
    antrea("destinationClusterIPv4", 106, 4),
];

/// A field value, typed so a mismatch with [`ELEMENTS`] is caught by tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value<'a> {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Ip(Ipv4Addr),
    Str(&'a str),
}

/// The record's values in [`ELEMENTS`] order.
fn values(r: &FlowRecord) -> [Value<'_>; FIELD_COUNT] {
    use Value::*;
    [
        U32(r.flow_start_seconds),
        U32(r.flow_end_seconds),
        U8(r.flow_end_reason as u8),
        U16(r.source_transport_port),
        U16(r.destination_transport_port),
        U8(r.protocol_identifier),
        U64(r.packet_total_count),
        U64(r.octet_total_count),
        U64(r.packet_delta_count),
        U64(r.octet_delta_count),
        Ip(r.source_ipv4_address),
        Ip(r.destination_ipv4_address),
        U64(r.reverse_packet_total_count),
        U64(r.reverse_octet_total_count),
        U64(r.reverse_packet_delta_count),
        U64(r.reverse_octet_delta_count),
        Str(&r.source_pod_name),
        Str(&r.source_pod_namespace),
        Str(&r.source_node_name),
        Str(&r.destination_pod_name),
        Str(&r.destination_pod_namespace),
        Str(&r.destination_node_name),
        U16(r.destination_service_port),
        Str(&r.destination_service_port_name),
        Str(&r.policies.ingress_network_policy_name),
        Str(&r.policies.ingress_network_policy_namespace),
        U8(r.policies.ingress_network_policy_type),
        Str(&r.policies.ingress_network_policy_rule_name),
        U8(r.policies.ingress_network_policy_rule_action),
        Str(&r.policies.egress_network_policy_name),
        Str(&r.policies.egress_network_policy_namespace),
        U8(r.policies.egress_network_policy_type),
        Str(&r.policies.egress_network_policy_rule_name),
        U8(r.policies.egress_network_policy_rule_action),
        Str(&r.tcp_state),
        U8(r.flow_type as u8),
        Str(&r.egress_name),
        Str(&r.egress_ip),
        Str(&r.egress_node_name),
        Str(&r.app_protocol_name),
        Str(&r.http_vals),
        Ip(r.destination_cluster_ipv4),
    ]
}

/// Appends a variable-length field (RFC 7011 §7): one length byte below 255,
/// else 255 followed by a 2-byte length.
pub fn put_varlen(out: &mut Vec<u8>, data: &[u8]) -> Result<(), IpfixError> {
    if data.len() < 255 {
        out.push(data.len() as u8);
    } else {
        let len =
            u16::try_from(data.len()).map_err(|_| IpfixError::FieldTooLong { len: data.len() })?;
        out.push(255);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(())
}

/// Encodes one data record (no set header).
pub fn encode_record(r: &FlowRecord) -> Result<Vec<u8>, IpfixError> {
    let mut out = Vec::with_capacity(160);
    for v in values(r) {
        match v {
            Value::U8(x) => out.push(x),
            Value::U16(x) => out.extend_from_slice(&x.to_be_bytes()),
            Value::U32(x) => out.extend_from_slice(&x.to_be_bytes()),
            Value::U64(x) => out.extend_from_slice(&x.to_be_bytes()),
            Value::Ip(a) => out.extend_from_slice(&a.octets()),
            Value::Str(s) => put_varlen(&mut out, s.as_bytes())?,
        }
    }
    Ok(out)
}

/// The template set (set header, template record header, field specifiers).
pub fn template_set() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&TEMPLATE_ID.to_be_bytes());
    body.extend_from_slice(&(FIELD_COUNT as u16).to_be_bytes());
    for ie in ELEMENTS {
        if ie.enterprise == 0 {
            body.extend_from_slice(&ie.id.to_be_bytes());
            body.extend_from_slice(&ie.length.to_be_bytes());
        } else {
            body.extend_from_slice(&(ie.id | 0x8000).to_be_bytes());
            body.extend_from_slice(&ie.length.to_be_bytes());
            body.extend_from_slice(&ie.enterprise.to_be_bytes());
        }
    }
    let mut set = Vec::with_capacity(body.len() + 4);
    set.extend_from_slice(&TEMPLATE_SET_ID.to_be_bytes());
    set.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    set.extend_from_slice(&body);
    set
}

/// Encoding failures: only strings too long for IPFIX's 16-bit lengths.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpfixError {
    #[error("a string field of {len} bytes exceeds IPFIX's 65535-byte limit")]
    FieldTooLong { len: usize },
    #[error("a data record of {len} bytes does not fit in one IPFIX message")]
    RecordTooLarge { len: usize },
}

/// How the agent reaches the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Antrea v1.15's template refresh for UDP (`TempRefTimeout`, seconds).
pub const UDP_TEMPLATE_REFRESH_SECS: u32 = 1800;

impl Transport {
    /// Seconds between template refreshes: UDP only.
    pub fn template_refresh_secs(self) -> Option<u32> {
        match self {
            Transport::Udp => Some(UDP_TEMPLATE_REFRESH_SECS),
            Transport::Tcp => None,
        }
    }
}

/// One agent's exporting process: one observation domain over one
/// connection to the collector, from connecting to closing.
#[derive(Clone, Debug)]
pub struct ExportingProcess {
    observation_domain: u32,
    transport: Transport,
    /// Data records sent so far, modulo 2^32 (the next header's sequence number).
    sequence: u32,
    next_refresh: Option<u32>,
}

/// A message and the Unix second it is sent at.
pub type TimedMessage = (u32, Vec<u8>);

impl ExportingProcess {
    /// Connects at `now_secs`: the process and the template message it sends
    /// first.
    pub fn connect(
        observation_domain: u32,
        transport: Transport,
        now_secs: u32,
    ) -> (Self, Vec<u8>) {
        let p = ExportingProcess {
            observation_domain,
            transport,
            sequence: 0,
            next_refresh: transport
                .template_refresh_secs()
                .map(|every| now_secs.saturating_add(every)),
        };
        let template = p.message(now_secs, &template_set());
        (p, template)
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Data records sent so far (the next message's sequence number).
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// The template refreshes due at or before `now_secs` (UDP), each its
    /// own message, in time order.
    pub fn refreshes_until(&mut self, now_secs: u32) -> Vec<TimedMessage> {
        let mut out = Vec::new();
        let Some(every) = self.transport.template_refresh_secs() else {
            return out;
        };
        while let Some(at) = self.next_refresh.filter(|at| *at <= now_secs) {
            out.push((at, self.message(at, &template_set())));
            self.next_refresh = at.checked_add(every);
        }
        out
    }

    /// One data record in its own message at `now_secs`, after any template
    /// refresh due by then.
    pub fn export(
        &mut self,
        now_secs: u32,
        record: &FlowRecord,
    ) -> Result<Vec<TimedMessage>, IpfixError> {
        let rec = encode_record(record)?;
        let mut set = Vec::with_capacity(rec.len() + 4);
        set.extend_from_slice(&TEMPLATE_ID.to_be_bytes());
        let set_len = u16::try_from(rec.len() + 4)
            .ok()
            .filter(|l| usize::from(*l) + HEADER_LEN <= usize::from(u16::MAX))
            .ok_or(IpfixError::RecordTooLarge { len: rec.len() })?;
        set.extend_from_slice(&set_len.to_be_bytes());
        set.extend_from_slice(&rec);
        let mut out = self.refreshes_until(now_secs);
        out.push((now_secs, self.message(now_secs, &set)));
        self.sequence = self.sequence.wrapping_add(1);
        Ok(out)
    }

    fn message(&self, now_secs: u32, set: &[u8]) -> Vec<u8> {
        let len = HEADER_LEN + set.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&10u16.to_be_bytes());
        msg.extend_from_slice(&(len as u16).to_be_bytes());
        msg.extend_from_slice(&now_secs.to_be_bytes());
        msg.extend_from_slice(&self.sequence.to_be_bytes());
        msg.extend_from_slice(&self.observation_domain.to_be_bytes());
        msg.extend_from_slice(set);
        msg
    }
}

/// One JSON object per record, keys the IE names, fields in template order.
pub fn to_json_lines(records: &[FlowRecord]) -> String {
    let mut out = String::new();
    for r in records {
        // A struct of strings, integers and addresses always serializes.
        out.push_str(&serde_json::to_string(r).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::record::{FlowEndReason, FlowType};

    pub(crate) fn sample() -> FlowRecord {
        FlowRecord {
            flow_start_seconds: 1_714_723_200,
            flow_end_seconds: 1_714_723_205,
            flow_end_reason: FlowEndReason::ActiveTimeout,
            source_ipv4_address: Ipv4Addr::new(10, 40, 0, 5),
            destination_ipv4_address: Ipv4Addr::new(10, 40, 1, 7),
            source_transport_port: 40000,
            destination_transport_port: 80,
            protocol_identifier: 6,
            packet_total_count: 10,
            octet_total_count: 1000,
            packet_delta_count: 4,
            octet_delta_count: 400,
            reverse_packet_total_count: 8,
            reverse_octet_total_count: 8000,
            reverse_packet_delta_count: 3,
            reverse_octet_delta_count: 3000,
            source_pod_name: "ubuntu-20-04".into(),
            source_pod_namespace: "egress".into(),
            source_node_name: "k8s-node-vm-1-cl-02".into(),
            destination_pod_name: String::new(),
            destination_pod_namespace: String::new(),
            destination_node_name: String::new(),
            destination_cluster_ipv4: Ipv4Addr::UNSPECIFIED,
            destination_service_port: 0,
            destination_service_port_name: String::new(),
            policies: crate::flows::PolicyElements {
                egress_network_policy_name: "allow-web".into(),
                egress_network_policy_namespace: "egress".into(),
                egress_network_policy_type: 2,
                egress_network_policy_rule_name: "to-web".into(),
                egress_network_policy_rule_action: 1,
                ..Default::default()
            },
            flow_type: FlowType::ToExternal,
            egress_name: "egress-vlan-181".into(),
            egress_ip: "172.18.181.40".into(),
            egress_node_name: "k8s-node-vm-2-cl-02".into(),
            app_protocol_name: "http".into(),
            http_vals: String::new(),
            tcp_state: "TIME_WAIT".into(),
        }
    }

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_be_bytes([b[i], b[i + 1]])
    }
    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    #[test]
    fn connect_sends_the_template_alone_then_one_record_per_message() {
        let (mut p, t) = ExportingProcess::connect(0xabcd, Transport::Udp, 70);
        assert_eq!(u16_at(&t, 0), 10);
        assert_eq!(usize::from(u16_at(&t, 2)), t.len());
        assert_eq!(u32_at(&t, 4), 70);
        assert_eq!(u32_at(&t, 12), 0xabcd);
        assert_eq!(
            &t[16..],
            &template_set()[..],
            "a template set and nothing else"
        );
        let m = p.export(77, &sample()).unwrap();
        assert_eq!(m.len(), 1);
        let (at, b) = &m[0];
        assert_eq!(*at, 77);
        assert_eq!(u32_at(b, 4), 77);
        assert_eq!(
            u32_at(b, 8),
            0,
            "sequence counts records before this message"
        );
        assert_eq!(u16_at(b, 16), 256, "a data set of the template");
        let rec = encode_record(&sample()).unwrap();
        assert_eq!(usize::from(u16_at(b, 18)), rec.len() + 4, "one record");
        assert_eq!(&b[20..], &rec[..]);
        let m2 = p.export(78, &sample()).unwrap();
        assert_eq!(u32_at(&m2[0].1, 8), 1);
        assert_eq!(p.sequence(), 2);
    }

    #[test]
    fn udp_refreshes_the_template_every_1800_s_tcp_never() {
        let is_template = |m: &[u8]| u16_at(m, 16) == TEMPLATE_SET_ID;
        let (mut udp, _) = ExportingProcess::connect(1, Transport::Udp, 1000);
        assert!(udp.refreshes_until(2799).is_empty());
        let m = udp.export(2800, &sample()).unwrap();
        assert_eq!(m.len(), 2, "the refresh first, then the record");
        assert!(is_template(&m[0].1) && m[0].0 == 2800);
        assert!(!is_template(&m[1].1));
        // Two more due by 6400 s, at their own times.
        let r = udp.refreshes_until(6400);
        assert_eq!(r.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [4600, 6400]);
        assert!(r.iter().all(|(_, m)| is_template(m)));
        // A refresh carries the sequence number of the data sent so far.
        assert_eq!(u32_at(&r[0].1, 8), 1);

        let (mut tcp, t) = ExportingProcess::connect(1, Transport::Tcp, 1000);
        assert!(is_template(&t));
        assert!(tcp.refreshes_until(1_000_000).is_empty());
        assert_eq!(tcp.export(100_000, &sample()).unwrap().len(), 1);
    }

    #[test]
    fn oversized_records_are_errors() {
        let (mut p, _) = ExportingProcess::connect(1, Transport::Tcp, 0);
        let mut big = sample();
        big.http_vals = "y".repeat(3000);
        assert!(p.export(0, &big).unwrap()[0].1.len() > 3000);
        big.http_vals = "y".repeat(65_500);
        assert!(matches!(
            p.export(1, &big),
            Err(IpfixError::RecordTooLarge { .. })
        ));
        big.http_vals = "y".repeat(70_000);
        assert!(matches!(
            p.export(1, &big),
            Err(IpfixError::FieldTooLong { len: 70_000 })
        ));
        assert_eq!(p.sequence(), 1);
    }

    #[test]
    fn template_layout_bytes() {
        let t = template_set();
        assert_eq!(u16_at(&t, 0), 2);
        assert_eq!(usize::from(u16_at(&t, 2)), t.len());
        assert_eq!(u16_at(&t, 4), 256);
        assert_eq!(u16_at(&t, 6), 42);
        // First field: flowStartSeconds, IANA, 4 bytes, no E bit.
        assert_eq!(&t[8..12], &[0x00, 150, 0x00, 4]);
        // 12 IANA fields x 4 bytes, then reversePacketTotalCount: E bit + 86, len 8, PEN 29305.
        let r = 8 + 12 * 4;
        assert_eq!(&t[r..r + 8], &[0x80, 86, 0, 8, 0x00, 0x00, 0x72, 0x79]);
        // 4 reverse fields x 8, then sourcePodName: E bit + 101, varlen, PEN 56506.
        let a = r + 4 * 8;
        assert_eq!(
            &t[a..a + 8],
            &[0x80, 101, 0xff, 0xff, 0x00, 0x00, 0xdc, 0xba]
        );
        // Total: 4 set header + 4 template header + 12*4 + 30*8.
        assert_eq!(t.len(), 8 + 12 * 4 + 30 * 8);
        // Every Antrea element carries 56506 and the E bit.
        let mut i = 8;
        for ie in ELEMENTS {
            let id = u16_at(&t, i);
            if ie.enterprise == 0 {
                assert_eq!(id, ie.id);
                i += 4;
            } else {
                assert_eq!(id, ie.id | 0x8000, "{}", ie.name);
                assert_eq!(u32_at(&t, i + 4), ie.enterprise, "{}", ie.name);
                i += 8;
            }
        }
    }

    #[test]
    fn antrea_element_ids_from_the_registry() {
        let find = |n: &str| ELEMENTS.iter().find(|e| e.name == n).copied().unwrap();
        for (name, id) in [
            ("egressName", 153),
            ("egressIP", 154),
            ("appProtocolName", 155),
            ("httpVals", 156),
            ("egressNodeName", 157),
            ("flowType", 137),
            ("tcpState", 136),
            ("destinationClusterIPv4", 106),
            ("ingressNetworkPolicyName", 110),
            ("ingressNetworkPolicyNamespace", 111),
            ("egressNetworkPolicyName", 112),
            ("egressNetworkPolicyNamespace", 113),
            ("ingressNetworkPolicyType", 115),
            ("egressNetworkPolicyType", 118),
            ("ingressNetworkPolicyRuleAction", 139),
            ("egressNetworkPolicyRuleAction", 140),
            ("ingressNetworkPolicyRuleName", 141),
            ("egressNetworkPolicyRuleName", 142),
        ] {
            let e = find(name);
            assert_eq!((e.id, e.enterprise), (id, ANTREA_ENTERPRISE), "{name}");
        }
    }

    #[test]
    fn record_layout_and_varlen_of_300_bytes() {
        let mut r = sample();
        r.http_vals = "x".repeat(300);
        let b = encode_record(&r).unwrap();
        let fixed: usize = ELEMENTS
            .iter()
            .filter(|e| e.length != VARLEN)
            .map(|e| usize::from(e.length))
            .sum();
        let strings = [
            &r.source_pod_name,
            &r.source_pod_namespace,
            &r.source_node_name,
            &r.destination_pod_name,
            &r.destination_pod_namespace,
            &r.destination_node_name,
            &r.destination_service_port_name,
            &r.policies.ingress_network_policy_name,
            &r.policies.ingress_network_policy_namespace,
            &r.policies.ingress_network_policy_rule_name,
            &r.policies.egress_network_policy_name,
            &r.policies.egress_network_policy_namespace,
            &r.policies.egress_network_policy_rule_name,
            &r.tcp_state,
            &r.egress_name,
            &r.egress_ip,
            &r.egress_node_name,
            &r.app_protocol_name,
        ];
        let short: usize = strings.iter().map(|s| 1 + s.len()).sum();
        assert_eq!(b.len(), fixed + short + 3 + 300);
        // httpVals is the second-to-last field, followed by the 4-byte ClusterIP.
        let h = b.len() - 4 - 300 - 3;
        assert_eq!(&b[h..h + 3], &[255, 0x01, 0x2c]);
        assert!(b[h + 3..h + 303].iter().all(|&c| c == b'x'));
        // Addresses are 4 raw bytes right after the eight counters.
        let ip = 4 + 4 + 1 + 2 + 2 + 1 + 4 * 8;
        assert_eq!(&b[ip..ip + 8], &[10, 40, 0, 5, 10, 40, 1, 7]);

        let mut v = Vec::new();
        put_varlen(&mut v, &[7; 254]).unwrap();
        assert_eq!((v[0], v.len()), (254, 255));
        let mut v = Vec::new();
        put_varlen(&mut v, &[7; 255]).unwrap();
        assert_eq!(&v[..3], &[255, 0, 255]);
    }

    #[test]
    fn json_lines_use_ie_names() {
        let mut r = sample();
        r.http_vals = r#"{"0":{"status":301}}"#.into();
        let text = to_json_lines(&[r.clone(), r]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(r#"{"flowStartSeconds":1714723200,"flowEndSeconds":1714723205,"flowEndReason":2,"sourceIPv4Address":"10.40.0.5""#), "{}", lines[0]);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut names: Vec<&str> = ELEMENTS.iter().map(|e| e.name).collect();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names);
        assert_eq!(obj["flowType"], 3);
        assert_eq!(obj["egressIP"], "172.18.181.40");
        assert_eq!(obj["httpVals"], r#"{"0":{"status":301}}"#);
    }
}
