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

use std::net::Ipv4Addr;

use netflow_parser::variable_versions::field_value::DurationValue;
use netflow_parser::variable_versions::ipfix::lookup::IPFixField;
use netflow_parser::variable_versions::ipfix::{FlowSetBody, IPFix};
use netflow_parser::{
    DataNumber, EnterpriseFieldDef, FieldDataType, FieldValue, NetflowPacket, NetflowParser,
};
use serde_json::{Value, json};
use sim_core::flows::ipfix::{ANTREA_ENTERPRISE, ELEMENTS, TEMPLATE_ID, VARLEN};
use sim_core::flows::{
    Direction, ExporterConfig, FlowExporter, FlowKey, FlowMeta, FlowRecord, FlowType, HttpExchange,
    IpfixEncoder, TemplateRefresh, to_json_lines,
};
use sim_core::time::{SimDuration, SimTime};

fn t(ms: u64) -> SimTime {
    SimTime(SimDuration::from_millis(ms).as_nanos())
}

/// The blog's L7 flow: the ubuntu Pod curls www.vg.no (301) through an Egress,
/// plus an inter-node flow through a Service ClusterIP.
fn records() -> Vec<FlowRecord> {
    let mut e = FlowExporter::new(ExporterConfig {
        epoch_base_secs: 1_714_723_200,
        ..ExporterConfig::default()
    });
    let web = FlowKey {
        src: Ipv4Addr::new(10, 30, 67, 5),
        dst: Ipv4Addr::new(195, 88, 54, 16),
        src_port: 51234,
        dst_port: 80,
        protocol: 6,
    };
    e.open(
        t(0),
        web,
        FlowMeta {
            source_pod_name: "ubuntu-20-04-59d474f9df-dv9ms".into(),
            source_pod_namespace: "egress".into(),
            source_node_name: "k8s-node-vm-1-cl-02".into(),
            flow_type: FlowType::ToExternal,
            egress_name: "egress-vlan-181".into(),
            egress_ip: "172.18.181.40".into(),
            egress_node_name: "k8s-node-vm-2-cl-02".into(),
            ..FlowMeta::default()
        },
    )
    .unwrap();
    e.add(t(10), &web, Direction::Forward, 4, 300).unwrap();
    e.add(t(30), &web, Direction::Reverse, 3, 700).unwrap();
    e.add_http(
        t(30),
        &web,
        HttpExchange {
            hostname: "www.vg.no".into(),
            url: "/".into(),
            http_user_agent: "curl/7.68.0".into(),
            http_content_type: String::new(),
            http_method: "GET".into(),
            protocol: "HTTP/1.1".into(),
            status: 301,
            length: 0,
        },
    )
    .unwrap();
    e.close(t(40), &web).unwrap();

    let svc = FlowKey {
        src: Ipv4Addr::new(10, 30, 67, 6),
        dst: Ipv4Addr::new(10, 30, 68, 9),
        src_port: 40000,
        dst_port: 8080,
        protocol: 6,
    };
    e.open(
        t(1_000),
        svc,
        FlowMeta {
            source_pod_name: "client".into(),
            source_pod_namespace: "default".into(),
            source_node_name: "node-1".into(),
            destination_pod_name: "web-0".into(),
            destination_pod_namespace: "default".into(),
            destination_node_name: "node-2".into(),
            destination_cluster_ipv4: Some(Ipv4Addr::new(10, 96, 0, 50)),
            destination_service_port: 80,
            destination_service_port_name: "default/web:http".into(),
            flow_type: FlowType::InterNode,
            ..FlowMeta::default()
        },
    )
    .unwrap();
    e.add(t(1_200), &svc, Direction::Forward, 9, 1234).unwrap();
    e.add(t(1_300), &svc, Direction::Reverse, 7, 98765).unwrap();
    let mut out = e.poll(t(6_000));
    assert_eq!(out.len(), 2, "end-of-flow record and one active report");
    out.extend(e.flush(t(6_000)));
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

#[test]
fn netflow_parser_decodes_every_element() {
    let recs = records();
    let mut enc = IpfixEncoder::new(7, TemplateRefresh::default());
    let msgs = enc.encode(1_714_723_206, &recs).unwrap();
    assert_eq!(msgs.len(), 1);

    let mut p = parser();
    let res = p.parse_bytes(&msgs[0]);
    assert!(res.error.is_none(), "parse error: {:?}", res.error);
    let [NetflowPacket::IPFix(IPFix { header, flowsets })] = res.packets.as_slice() else {
        panic!("expected one IPFIX packet, got {:?}", res.packets);
    };
    assert_eq!(header.version, 10);
    assert_eq!(usize::from(header.length), msgs[0].len());
    assert_eq!(header.export_time, 1_714_723_206);
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

    let data = flowsets
        .iter()
        .find_map(|fs| match &fs.body {
            FlowSetBody::Data(d) => Some(d.clone()),
            _ => None,
        })
        .expect("data set decoded");
    assert_eq!(data.fields.len(), recs.len(), "{flowsets:#?}");

    let expected: Vec<serde_json::Map<String, Value>> = to_json_lines(&recs)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (decoded, want) in data.fields.iter().zip(&expected) {
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

#[test]
fn parser_remembers_the_template_across_messages() {
    let recs = records();
    let mut enc = IpfixEncoder::new(7, TemplateRefresh::default());
    let first = enc.encode(100, &recs[..1]).unwrap();
    let second = enc.encode(101, &recs[1..]).unwrap();
    // The second message carries data only: the template is not due yet.
    assert_eq!(
        u16::from_be_bytes([second[0][16], second[0][17]]),
        TEMPLATE_ID
    );
    let mut p = parser();
    assert!(p.parse_bytes(&first[0]).error.is_none());
    let res = p.parse_bytes(&second[0]);
    assert!(res.error.is_none(), "{:?}", res.error);
    let [NetflowPacket::IPFix(m)] = res.packets.as_slice() else {
        panic!("expected one IPFIX packet");
    };
    assert_eq!(m.header.sequence_number, 1);
    let n: usize = m
        .flowsets
        .iter()
        .map(|fs| match &fs.body {
            FlowSetBody::Data(d) => d.fields.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(n, recs.len() - 1);
}
