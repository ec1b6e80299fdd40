//! Round trip of `sim_core::flows` IPFIX through an independent decoder, the
//! `netflow_parser` crate: records from the exporter, encoded by our encoder,
//! must decode to the same values, Antrea's enterprise elements included (the
//! parser decodes unknown enterprises once their types are registered; reverse
//! elements, PEN 29305, it knows itself).
//!
//! netflow_parser 1.0.6 rejects zero-length variable-length fields (its
//! `parse_field_length` returns a Verify error for length 0 and then yields a data
//! set with no records). Antrea (go-ipfix) sends empty strings exactly that way,
//! one 0 length byte, and so do we; the records decoded here therefore have every
//! string set. Empty strings are checked with tshark in `ipfix_tshark.rs`.

mod support;

use netflow_parser::variable_versions::field_value::DurationValue;
use netflow_parser::variable_versions::ipfix::lookup::IPFixField;
use netflow_parser::variable_versions::ipfix::{FlowSetBody, IPFix};
use netflow_parser::{
    DataNumber, EnterpriseFieldDef, FieldDataType, FieldValue, NetflowPacket, NetflowParser,
};
use serde_json::{Value, json};
use sim_core::flows::ipfix::{ANTREA_ENTERPRISE, ELEMENTS, TEMPLATE_ID, VARLEN};
use sim_core::flows::{ExportingProcess, FlowRecord, Transport, to_json_lines};

/// The blog's L7 flow (curl to www.vg.no through an Egress, closed) and a
/// live Service call, from the exporter, every string filled.
fn records() -> Vec<FlowRecord> {
    let mut out = support::sample_records();
    for r in &mut out {
        fill_empty(r);
    }
    // A string of 300 bytes takes the 3-byte length prefix (RFC 7011 §7).
    out[1].http_vals = "h".repeat(300);
    out
}

/// Gives every empty string field a value (see the module doc for why).
fn fill_empty(r: &mut FlowRecord) {
    for s in [
        &mut r.source_pod_name,
        &mut r.source_pod_namespace,
        &mut r.source_node_name,
        &mut r.destination_pod_name,
        &mut r.destination_pod_namespace,
        &mut r.destination_node_name,
        &mut r.destination_service_port_name,
        &mut r.policies.ingress_network_policy_name,
        &mut r.policies.ingress_network_policy_namespace,
        &mut r.policies.ingress_network_policy_rule_name,
        &mut r.policies.egress_network_policy_name,
        &mut r.policies.egress_network_policy_namespace,
        &mut r.policies.egress_network_policy_rule_name,
        &mut r.tcp_state,
        &mut r.egress_name,
        &mut r.egress_ip,
        &mut r.egress_node_name,
        &mut r.app_protocol_name,
        &mut r.http_vals,
    ] {
        if s.is_empty() {
            *s = "n/a".to_string();
        }
    }
}

fn parser() -> NetflowParser {
    let defs = ELEMENTS
        .iter()
        .filter(|ie| ie.enterprise == ANTREA_ENTERPRISE)
        .map(|ie| {
            let ty = match (ie.length, ie.name) {
                (VARLEN, _) => FieldDataType::String,
                (_, "destinationClusterIPv4") => FieldDataType::Ip4Addr,
                _ => FieldDataType::UnsignedDataNumber,
            };
            EnterpriseFieldDef::new(ie.enterprise, ie.id, ie.name, ty)
        })
        .collect::<Vec<_>>();
    NetflowParser::builder()
        .register_enterprise_fields(defs)
        .build()
        .expect("parser config")
}

/// A decoded value in the shape our JSON lines use.
fn as_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::DataNumber(d) => match d {
            DataNumber::U8(x) => json!(x),
            DataNumber::U16(x) => json!(x),
            DataNumber::U24(x) | DataNumber::U32(x) => json!(x),
            DataNumber::U64(x) => json!(x),
            other => panic!("unexpected number {other:?}"),
        },
        FieldValue::String(s) => json!(s.value),
        FieldValue::Ip4Addr(a) => json!(a.to_string()),
        FieldValue::Duration(DurationValue::Seconds { value, width: 4 }) => json!(value),
        FieldValue::FlowEndReason(r) => json!(u8::from(*r)),
        FieldValue::ProtocolType(p) => json!(u8::from(*p)),
        other => panic!("unexpected value {other:?}"),
    }
}

/// The messages of one UDP session: the template, then one record each.
fn messages(recs: &[FlowRecord]) -> Vec<Vec<u8>> {
    let (mut p, template) = ExportingProcess::connect(7, Transport::Udp, 1_714_723_205);
    let mut out = vec![template];
    for r in recs {
        out.extend(
            p.export(1_714_723_206, r)
                .unwrap()
                .into_iter()
                .map(|(_, m)| m),
        );
    }
    out
}

#[test]
fn netflow_parser_decodes_every_element() {
    let recs = records();
    let msgs = messages(&recs);
    assert_eq!(
        msgs.len(),
        1 + recs.len(),
        "the template, then a message per record"
    );

    let mut p = parser();
    let res = p.parse_bytes(&msgs[0]);
    assert!(res.error.is_none(), "parse error: {:?}", res.error);
    let [NetflowPacket::IPFix(IPFix { header, flowsets })] = res.packets.as_slice() else {
        panic!("expected one IPFIX packet, got {:?}", res.packets);
    };
    assert_eq!(header.version, 10);
    assert_eq!(usize::from(header.length), msgs[0].len());
    assert_eq!(header.export_time, 1_714_723_205);
    assert_eq!(header.sequence_number, 0);
    assert_eq!(header.observation_domain_id, 7);
    let template = flowsets
        .iter()
        .find_map(|fs| match &fs.body {
            FlowSetBody::Template(t) => Some(t.clone()),
            FlowSetBody::Templates(ts) => ts.first().cloned(),
            _ => None,
        })
        .expect("template set decoded");
    assert_eq!(template.template_id, TEMPLATE_ID);
    assert_eq!(template.fields.len(), ELEMENTS.len());
    for (f, ie) in template.fields.iter().zip(ELEMENTS) {
        assert_eq!(f.field_type_number, ie.id, "{}", ie.name);
        assert_eq!(f.field_length, ie.length, "{}", ie.name);
        let pen = (ie.enterprise != 0).then_some(ie.enterprise);
        assert_eq!(f.enterprise_number, pen, "{}", ie.name);
    }
    assert!(
        !flowsets
            .iter()
            .any(|fs| matches!(fs.body, FlowSetBody::Data(_))),
        "the template goes alone"
    );

    let expected: Vec<serde_json::Map<String, Value>> = to_json_lines(&recs)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, (msg, want)) in msgs[1..].iter().zip(&expected).enumerate() {
        let res = p.parse_bytes(msg);
        assert!(res.error.is_none(), "parse error: {:?}", res.error);
        let [NetflowPacket::IPFix(IPFix { header, flowsets })] = res.packets.as_slice() else {
            panic!("expected one IPFIX packet, got {:?}", res.packets);
        };
        assert_eq!(header.sequence_number, i as u32, "records sent before");
        let data: Vec<_> = flowsets
            .iter()
            .filter_map(|fs| match &fs.body {
                FlowSetBody::Data(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(data.len(), 1, "{flowsets:#?}");
        assert_eq!(data[0].fields.len(), 1, "one record per message");
        let decoded = &data[0].fields[0];
        assert_eq!(decoded.len(), ELEMENTS.len());
        for ie in ELEMENTS {
            let pen = (ie.enterprise != 0).then_some(ie.enterprise);
            let key = IPFixField::new(ie.id, pen);
            let (_, v) = decoded
                .iter()
                .find(|(k, _)| *k == key)
                .unwrap_or_else(|| panic!("{} not decoded", ie.name));
            assert_eq!(as_json(v), want[ie.name], "{}", ie.name);
        }
    }
    // Spot checks on values that matter for the blog's scenario.
    let web = &expected[0];
    assert_eq!(web["flowEndReason"], 3);
    assert_eq!(web["tcpState"], "TIME_WAIT");
    assert_eq!(web["egressIP"], "172.18.181.40");
    assert_eq!(web["appProtocolName"], "http");
    assert_eq!(
        web["httpVals"],
        r#"{"0":{"hostname":"www.vg.no","url":"/","http_user_agent":"curl/7.68.0","http_content_type":"","http_method":"GET","protocol":"HTTP/1.1","status":301,"length":0}}"#
    );
    let svc = &expected[1];
    assert_eq!(svc["destinationClusterIPv4"], "10.96.0.50");
    assert_eq!(svc["reverseOctetTotalCount"], 98765);
    assert_eq!(svc["flowEndReason"], 2);
}
