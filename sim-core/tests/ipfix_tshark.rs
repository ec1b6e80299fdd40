//! Cross-checks `sim_core::flows::IpfixEncoder` against Wireshark's IPFIX
//! dissector (`cflow`): messages go as UDP payloads to port 4739 in a pcap built
//! with `sim_core::wire`, and tshark must decode the template and the flows
//! (addresses, ports, counters, reverse and Antrea enterprise elements) with
//! nothing flagged malformed. Records keep Antrea's empty strings (zero-length
//! variable-length fields).
//!
//! Skips (loudly) when `tshark` is not installed.

mod support;

use std::net::Ipv4Addr;

use sim_core::flows::{
    Direction, ExporterConfig, FlowExporter, FlowKey, FlowMeta, FlowRecord, FlowType, HttpExchange,
    IpfixEncoder, TemplateRefresh,
};
use sim_core::time::{SimDuration, SimTime};
use support::{TempFile, ipfix_capture, needs, tshark_ipfix};

fn t(ms: u64) -> SimTime {
    SimTime(SimDuration::from_millis(ms).as_nanos())
}

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
    e.add(t(30), &web, Direction::Reverse, 3, 777).unwrap();
    e.add_http(
        t(30),
        &web,
        HttpExchange {
            hostname: "www.vg.no".into(),
            url: "/".into(),
            http_user_agent: "curl/7.68.0".into(),
            http_method: "GET".into(),
            protocol: "HTTP/1.1".into(),
            status: 301,
            ..HttpExchange::default()
        },
    )
    .unwrap();
    e.close(t(40), &web).unwrap();
    let mut out = e.poll(t(40));
    // A record with a 300-byte string exercises the 3-byte length prefix.
    let mut long = out[0].clone();
    long.http_vals = format!("{{\"0\":{{\"url\":\"/{}\"}}}}", "a".repeat(300));
    long.source_transport_port = 51235;
    out.push(long);
    out
}

#[test]
fn tshark_is_here_under_ci() {
    needs::guard("tshark", needs::missing_tshark());
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_our_ipfix() {
    needs::require(needs::missing_tshark());
    let recs = records();
    let mut enc = IpfixEncoder::new(
        42,
        TemplateRefresh {
            every_messages: 2,
            every_secs: 600,
        },
    );
    let mut msgs = enc.encode(1_714_723_200, &recs[..1]).unwrap();
    msgs.extend(enc.encode(1_714_723_201, &recs[1..]).unwrap());
    msgs.extend(enc.encode(1_714_723_202, &recs[..1]).unwrap());
    assert_eq!(msgs.len(), 3);

    let file = TempFile::write("ipfix", &ipfix_capture(&msgs));

    let verbose = tshark_ipfix(&file.0, &["-V"]);
    assert!(!verbose.contains("Malformed"), "{verbose}");
    assert!(!verbose.contains("Expert Info (Error"), "{verbose}");
    assert!(verbose.contains("Version: 10"), "{verbose}");
    assert!(verbose.contains("Observation Domain Id: 42"), "{verbose}");
    // Enterprise elements with their PENs: Wireshark names 56506 "Project Antrea"
    // and decodes reverse (29305) counters as such.
    assert!(verbose.contains("56506"), "{verbose}");
    assert!(verbose.contains("29305"), "{verbose}");
    assert!(verbose.contains("(Project Antrea) Type 154"), "{verbose}");
    assert!(
        verbose.contains("Octets: 777 (Reverse Type 85"),
        "{verbose}"
    );
    assert!(
        verbose.contains("Flow End Reason: End of Flow detected (3)"),
        "{verbose}"
    );
    assert!(
        verbose.contains("StartTime: May  3, 2024 08:00:00"),
        "{verbose}"
    );
    // The 300+-byte httpVals went with the 3-byte length prefix (255, then 317).
    assert!(verbose.contains("String_len_short: 317"), "{verbose}");

    let fields = tshark_ipfix(
        &file.0,
        &[
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "cflow.version",
            "-e",
            "cflow.sequence",
            "-e",
            "cflow.template_id",
            "-e",
            "cflow.srcaddr",
            "-e",
            "cflow.dstaddr",
            "-e",
            "cflow.srcport",
            "-e",
            "cflow.dstport",
            "-e",
            "cflow.permanent_octets",
            "-e",
            "cflow.octets",
        ],
    );
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), 3, "{fields}");
    // Message 1: template + one record; message 2: one record, no template;
    // message 3: template again (every 2 messages) + one record.
    assert!(lines[0].starts_with("10;0;256"), "{fields}");
    assert!(lines[1].starts_with("10;1;;"), "{fields}");
    assert!(lines[2].starts_with("10;2;256"), "{fields}");
    // Addresses, ports, then octetTotalCount and octetDeltaCount: tshark lists the
    // forward value and the reverse (PEN 29305) one under the same field.
    assert_eq!(
        lines[0], "10;0;256;10.30.67.5;195.88.54.16;51234;80;300,777;300,777",
        "{fields}"
    );
    assert_eq!(
        lines[1], "10;1;;10.30.67.5;195.88.54.16;51235;80;300,777;300,777",
        "{fields}"
    );
    assert!(lines[2].starts_with("10;2;256;10.30.67.5;"), "{fields}");
}
