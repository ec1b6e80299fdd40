//! Cross-checks `sim_core::flows::ExportingProcess` against Wireshark's IPFIX
//! dissector (`cflow`): a session's messages go into a pcap built with
//! `sim_core::wire`, as UDP datagrams to port 4739 or as one TCP stream, and
//! tshark must decode the template and the flows (addresses, ports,
//! counters, reverse and Antrea enterprise elements) with nothing flagged
//! malformed. Records keep Antrea's empty strings (zero-length
//! variable-length fields). The session sends the template alone on
//! connecting, one record per message, and, over UDP only, the template
//! again every 1800 s.
//!
//! Needs `tshark`: ignored (with the reason) unless run with
//! `--include-ignored`, as CI does; see `support::needs`.

mod support;

use sim_core::flows::{ExportingProcess, FlowRecord, Transport};
use support::{
    TempFile, ipfix_capture, ipfix_tcp_capture, needs, sample_records, tshark_ipfix,
    tshark_ipfix_tcp,
};

const START: u32 = 1_714_723_200;

fn records() -> Vec<FlowRecord> {
    let mut out = sample_records();
    // A record with a 300-byte string exercises the 3-byte length prefix.
    let mut long = out[0].clone();
    long.http_vals = format!("{{\"0\":{{\"url\":\"/{}\"}}}}", "a".repeat(300));
    long.source_transport_port = 51235;
    out.push(long);
    out
}

/// A session connecting at START that exports the records at 6 s, 7 s and
/// 2000 s (past the first template refresh at 1800 s), then closes at 4000 s.
fn session(transport: Transport) -> Vec<Vec<u8>> {
    let recs = records();
    let (mut p, template) = ExportingProcess::connect(42, transport, START);
    let mut msgs = vec![template];
    for (r, at) in recs.iter().zip([6, 7, 2000]) {
        msgs.extend(p.export(START + at, r).unwrap().into_iter().map(|(_, m)| m));
    }
    msgs.extend(p.refreshes_until(START + 4000).into_iter().map(|(_, m)| m));
    msgs
}

fn fields(verbose_fields: &str) -> Vec<String> {
    verbose_fields
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

const FIELD_ARGS: [&str; 18] = [
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
    "cflow.srcport",
    "-e",
    "cflow.octets",
    "-e",
    "cflow.timestamp",
];

#[test]
fn tshark_is_here_under_ci() {
    needs::guard("tshark", needs::missing_tshark());
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_a_udp_session_with_template_refreshes() {
    needs::require(needs::missing_tshark());
    let msgs = session(Transport::Udp);
    // Template, 3 records with a refresh (1800 s) before the third, and the
    // refresh at 3600 s before closing at 4000 s.
    assert_eq!(msgs.len(), 1 + 3 + 2);
    let file = TempFile::write("ipfix-udp", &ipfix_capture(&msgs));

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
    // tcpState (136) as hex bytes: "TIME_WAIT".
    assert!(
        verbose
            .contains("(Project Antrea) Type 136: Value (hex bytes): 54 49 4d 45 5f 57 41 49 54"),
        "{verbose}"
    );
    assert!(
        verbose.contains("Octets: 777 (Reverse Type 85"),
        "{verbose}"
    );
    assert!(
        verbose.contains("Flow End Reason: End of Flow detected (3)"),
        "{verbose}"
    );
    assert!(
        verbose.contains("Flow End Reason: Active timeout (2)"),
        "{verbose}"
    );
    assert!(
        verbose.contains("StartTime: May  3, 2024 08:00:00"),
        "{verbose}"
    );
    // The 300+-byte httpVals went with the 3-byte length prefix (255, then 317).
    assert!(verbose.contains("String_len_short: 317"), "{verbose}");

    let lines = fields(&tshark_ipfix(&file.0, &FIELD_ARGS));
    assert_eq!(lines.len(), 6, "{lines:#?}");
    // version;sequence;template id;src;sport;octets;export time. Templates
    // alone (no data fields), each record alone; the sequence counts the
    // records sent before the message, templates included.
    // tshark prints the header's export time as a UTC date.
    let export_time = |s: u32| {
        let t = 8 * 3600 + s;
        format!(
            "May  3, 2024 {:02}:{:02}:{:02}.000000000 UTC",
            t / 3600,
            t / 60 % 60,
            t % 60
        )
    };
    let expect_template = |l: &str, seq: u32, at: u32| {
        assert!(
            l.starts_with(&format!("10;{seq};256;;;;")) && l.ends_with(&export_time(at)),
            "template message: {l}"
        );
    };
    expect_template(&lines[0], 0, 0);
    assert!(
        lines[1].starts_with("10;0;;10.30.67.5;51234;300,777;"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("10;1;;10.30.67.6;40000;"),
        "{}",
        lines[2]
    );
    expect_template(&lines[3], 2, 1800);
    assert!(
        lines[4].starts_with("10;2;;10.30.67.5;51235;"),
        "{}",
        lines[4]
    );
    assert!(lines[4].ends_with(&export_time(2000)), "{}", lines[4]);
    expect_template(&lines[5], 3, 3600);
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_a_tcp_session_with_one_template() {
    needs::require(needs::missing_tshark());
    let msgs = session(Transport::Tcp);
    assert_eq!(msgs.len(), 1 + 3, "TCP: the template once, never refreshed");
    let file = TempFile::write("ipfix-tcp", &ipfix_tcp_capture(&msgs));
    let verbose = tshark_ipfix_tcp(&file.0, &["-V"]);
    assert!(!verbose.contains("Malformed"), "{verbose}");
    assert!(!verbose.contains("Expert Info (Error"), "{verbose}");
    assert!(verbose.contains("Observation Domain Id: 42"), "{verbose}");
    assert!(
        verbose.contains("Octets: 777 (Reverse Type 85"),
        "{verbose}"
    );
    let srcaddrs = tshark_ipfix_tcp(&file.0, &["-T", "fields", "-e", "cflow.srcaddr"]);
    let decoded: Vec<&str> = srcaddrs
        .lines()
        .flat_map(|l| l.split(','))
        .filter(|s| !s.trim().is_empty())
        .collect();
    assert_eq!(
        decoded,
        ["10.30.67.5", "10.30.67.6", "10.30.67.5"],
        "{srcaddrs}"
    );
    let templates = tshark_ipfix_tcp(&file.0, &["-T", "fields", "-e", "cflow.template_id"]);
    let n = templates
        .lines()
        .flat_map(|l| l.split(','))
        .filter(|s| *s == "256")
        .count();
    assert_eq!(n, 1, "{templates}");
}
