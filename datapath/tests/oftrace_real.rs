//! The real-OVS oracle against a real `ovs-vswitchd`: a small Antrea-like
//! program (classifier, `ct(zone=65520,table=..,nat)`, a select group whose
//! buckets `ct(commit,nat(dst=..))`, L3 forwarding with `eth_dst` and
//! `dec_ttl`, `output:NXM_NX_REG1[]`, a tunnel output with `tun_dst`, a
//! controller action, `NORMAL`, a table miss) loaded into a `TraceBridge`,
//! and the verdicts `ofproto/trace` gives for packets that hit each.
//!
//! These need root and Open vSwitch: they are `#[ignore]`d with that reason
//! and fail, when run, if either is missing (`needs.rs`); under `CI=true`
//! the guard below fails when they could not run. They run one at a time
//! and each removes only what it made.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use datapath::oftrace::{
    BucketChoice, CtCall, Emitted, Headers, TraceBridge, TraceMethod, Verdict,
};

#[path = "../../sim-core/tests/support/needs.rs"]
mod needs;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// None when a private OVS can run here; else what is missing.
fn missing_ovs() -> Option<String> {
    let mut missing = Vec::new();
    if !datapath::sys::is_root() {
        missing.push("root (OVS daemons and network namespaces)".to_string());
    }
    for prog in [
        "ovsdb-tool",
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ovs-ofctl",
        "ovs-appctl",
    ] {
        if let Some(m) = needs::missing_program(prog, &["--version"], "openvswitch-switch") {
            missing.push(m);
        }
    }
    if let Some(m) = needs::missing_program("ip", &["-V"], "iproute2") {
        missing.push(m);
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

#[test]
fn trace_bridge_prerequisites_are_here_under_ci() {
    needs::guard("the ofproto/trace oracle", missing_ovs());
}

macro_rules! need_ovs {
    () => {{
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        needs::require(missing_ovs());
        guard
    }};
}

const GW_MAC: &str = "0a:58:0a:0a:00:01";
const REMOTE_GW_MAC: &str = "aa:bb:cc:dd:ee:ff";
const TUNNEL_PEER: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 101);

/// Table ids and names (Antrea's names; the ids are this test's own).
const TABLES: [(u8, &str); 8] = [
    (0, "Classifier"),
    (10, "ConntrackZone"),
    (11, "ConntrackState"),
    (12, "ServiceLB"),
    (14, "L3Forwarding"),
    (15, "L3DecTTL"),
    (16, "L2ForwardingCalc"),
    (17, "Output"),
];

/// Pods 10.10.0.3 (ofport 3) and 10.10.0.4 (ofport 4) here, 10.10.1.0/24
/// behind the tunnel; Service 10.96.0.10:80 with Endpoints 10.10.0.3:8080
/// (local) and 10.10.1.5:8080 (remote); 10.96.0.20:80 has none (the agent
/// rejects through the controller). Nothing matches in_port=5 in table 0.
/// The group comes last on purpose: `load` puts groups first.
const PROGRAM: &str = "\
flow add table=0,priority=210,arp actions=NORMAL
flow add table=0,priority=200,in_port=1 actions=set_field:0x1/0xf->reg0,goto_table:10
flow add table=0,priority=200,in_port=2 actions=set_field:0x2/0xf->reg0,goto_table:10
flow add table=0,priority=200,in_port=3 actions=set_field:0x3/0xf->reg0,goto_table:10
flow add table=0,priority=200,in_port=4 actions=set_field:0x3/0xf->reg0,goto_table:10
flow add table=10,priority=200,ip actions=ct(table=11,zone=65520,nat)
flow add table=11,priority=190,ct_state=+inv+trk,ip actions=drop
flow add table=11,priority=0 actions=goto_table:12
flow add table=12,priority=200,tcp,nw_dst=10.96.0.10,tp_dst=80 actions=set_field:0x200/0x200->reg0,group:10
flow add table=12,priority=200,tcp,nw_dst=10.96.0.20,tp_dst=80 actions=controller(reason=no_match,id=32776,userdata=01.01,max_len=128)
flow add table=12,priority=0 actions=goto_table:14
flow add table=14,priority=200,ip,nw_dst=10.10.0.3 actions=set_field:0a:58:0a:0a:00:01->eth_src,set_field:0a:58:0a:0a:00:03->eth_dst,goto_table:15
flow add table=14,priority=200,ip,nw_dst=10.10.0.4 actions=set_field:0a:58:0a:0a:00:01->eth_src,set_field:0a:58:0a:0a:00:04->eth_dst,goto_table:15
flow add table=14,priority=200,ip,nw_dst=10.10.1.0/24 actions=set_field:0a:58:0a:0a:00:01->eth_src,set_field:aa:bb:cc:dd:ee:ff->eth_dst,set_field:192.168.77.101->tun_dst,goto_table:15
flow add table=14,priority=0 actions=goto_table:16
flow add table=15,priority=200,ip actions=dec_ttl,goto_table:16
flow add table=16,priority=200,dl_dst=0a:58:0a:0a:00:03 actions=set_field:0x3->reg1,set_field:0x200000/0x600000->reg0,goto_table:17
flow add table=16,priority=200,dl_dst=0a:58:0a:0a:00:04 actions=set_field:0x4->reg1,set_field:0x200000/0x600000->reg0,goto_table:17
flow add table=16,priority=200,dl_dst=aa:bb:cc:dd:ee:ff actions=set_field:0x1->reg1,set_field:0x200000/0x600000->reg0,goto_table:17
flow add table=17,priority=210,in_port=3,reg1=0x3,reg0=0x200000/0x600000 actions=IN_PORT
flow add table=17,priority=200,reg0=0x200000/0x600000 actions=output:NXM_NX_REG1[]
group add group_id=10,type=select,bucket=bucket_id:0,weight:100,actions=ct(commit,table=14,zone=65520,nat(dst=10.10.0.3:8080)),bucket=bucket_id:1,weight:100,actions=ct(commit,table=14,zone=65520,nat(dst=10.10.1.5:8080))
";

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn tcp_from_pod3(dst: &str, tp_src: u16, tp_dst: u16) -> String {
    format!(
        "in_port=3,tcp,dl_src=0a:58:0a:0a:00:03,dl_dst={GW_MAC},nw_src=10.10.0.3,nw_dst={dst},nw_ttl=64,tp_src={tp_src},tp_dst={tp_dst}"
    )
}

fn headers(eth_dst: &str, nw_dst: [u8; 4], ttl: u8, tp_src: u16, tp_dst: u16) -> Headers {
    Headers {
        eth_src: mac(GW_MAC),
        eth_dst: mac(eth_dst),
        nw_src: Some(Ipv4Addr::new(10, 10, 0, 3)),
        nw_dst: Some(nw_dst.into()),
        nw_ttl: Some(ttl),
        tp_src: Some(tp_src),
        tp_dst: Some(tp_dst),
    }
}

/// The first ct() every IP packet meets: ConntrackZone's.
fn zone_ct() -> CtCall {
    CtCall {
        zone: 65520,
        commit: false,
        nat: Some(String::new()),
        table: Some(11),
    }
}

fn loaded_bridge() -> TraceBridge {
    let mut br = TraceBridge::start(2).expect("a private OVS starts");
    br.load(PROGRAM, &TABLES).expect("the program loads");
    br
}

#[test]
#[ignore = "needs root and OVS"]
fn traces_of_an_antrea_like_program_parse_into_verdicts() {
    let _g = need_ovs!();
    let mut br = loaded_bridge();
    let new = ["trk,new", "trk,new"];

    // The program is in, with Antrea's table names, and OVS's default
    // NORMAL flow is gone.
    let flows = br.dump_flows().unwrap();
    assert!(flows.contains("table=L3Forwarding"), "{flows}");
    assert!(
        flows.contains("goto_table:ConntrackState") || flows.contains("table=ConntrackState"),
        "{flows}"
    );
    assert_eq!(
        flows.lines().filter(|l| l.contains("actions=")).count(),
        21,
        "{flows}"
    );
    let groups = br.dump_groups().unwrap();
    assert!(
        groups.contains("group_id=10,type=select,selection_method=hash"),
        "{groups}"
    );

    // Local Pod to local Pod: L3 forwarding rewrites the MACs, decrements
    // the TTL, and Output sends it to NXM_NX_REG1[] = 4.
    let v = br
        .trace(&tcp_from_pod3("10.10.0.4", 40000, 80), &new)
        .unwrap();
    assert_eq!(
        v,
        Verdict {
            outputs: vec![Emitted {
                port: 4,
                tun_dst: None,
                headers: headers("0a:58:0a:0a:00:04", [10, 10, 0, 4], 63, 40000, 80),
            }],
            controller: false,
            normal: false,
            cts: vec![zone_ct()],
        }
    );

    // Remote Pod: out of the tunnel port with tun_dst set.
    let v = br
        .trace(&tcp_from_pod3("10.10.1.7", 40000, 80), &new)
        .unwrap();
    assert_eq!(
        v.outputs,
        vec![Emitted {
            port: 1,
            tun_dst: Some(TUNNEL_PEER),
            headers: headers(REMOTE_GW_MAC, [10, 10, 1, 7], 63, 40000, 80),
        }]
    );

    // The Service: OVS's hash picks a bucket per connection; find a source
    // port for each and check what each bucket does. ofproto/trace applies
    // the bucket's nat(dst=..) to the recirculated flow (OVS 3.1), so the
    // packet leaves with the Endpoint's address and port.
    let mut seen = [false, false];
    for tp_src in 40000..40100u16 {
        let t = br
            .trace_detailed(&tcp_from_pod3("10.96.0.10", tp_src, 80), &new)
            .unwrap();
        assert_eq!(t.buckets.len(), 1, "{t:?}");
        let BucketChoice { group, bucket } = t.buckets[0];
        assert_eq!(group, 10);
        let (endpoint, out) = match bucket {
            // Endpoint on this Pod itself: hairpin, IN_PORT resolved to 3.
            0 => (
                "dst=10.10.0.3:8080",
                Emitted {
                    port: 3,
                    tun_dst: None,
                    headers: headers("0a:58:0a:0a:00:03", [10, 10, 0, 3], 63, tp_src, 8080),
                },
            ),
            1 => (
                "dst=10.10.1.5:8080",
                Emitted {
                    port: 1,
                    tun_dst: Some(TUNNEL_PEER),
                    headers: headers(REMOTE_GW_MAC, [10, 10, 1, 5], 63, tp_src, 8080),
                },
            ),
            b => panic!("bucket {b} does not exist"),
        };
        assert_eq!(
            t.verdict,
            Verdict {
                outputs: vec![out],
                controller: false,
                normal: false,
                cts: vec![
                    zone_ct(),
                    CtCall {
                        zone: 65520,
                        commit: true,
                        nat: Some(endpoint.to_string()),
                        table: Some(14),
                    },
                ],
            },
            "source port {tp_src}"
        );
        assert_eq!(t.tables, vec![0, 10, 11, 12, 14, 15, 16, 17]);
        seen[bucket as usize] = true;
        if seen == [true, true] {
            break;
        }
    }
    assert_eq!(
        seen,
        [true, true],
        "100 source ports never hit both buckets"
    );

    // A Service without Endpoints: a packet-in to the agent, nothing out.
    let v = br
        .trace(&tcp_from_pod3("10.96.0.20", 40000, 80), &new)
        .unwrap();
    assert_eq!(
        v,
        Verdict {
            outputs: vec![],
            controller: true,
            normal: false,
            cts: vec![zone_ct()],
        }
    );

    // ARP goes to NORMAL.
    let v = br
        .trace(
            &format!("in_port=2,arp,arp_op=1,arp_spa=10.10.0.1,arp_tpa=10.10.0.3,arp_sha={GW_MAC},dl_src={GW_MAC},dl_dst=ff:ff:ff:ff:ff:ff"),
            &[],
        )
        .unwrap();
    assert_eq!(
        v,
        Verdict {
            outputs: vec![],
            controller: false,
            normal: true,
            cts: vec![],
        }
    );

    // Table miss in table 0: a drop, and the walk saw table 0 only.
    let t = br
        .trace_detailed("in_port=5,ip,nw_src=10.10.0.9,nw_dst=10.10.0.3", &[])
        .unwrap();
    assert_eq!(t.verdict, Verdict::default());
    assert_eq!(t.tables, vec![0]);

    // An invalid connection is dropped by ConntrackState after the ct.
    let v = br
        .trace(&tcp_from_pod3("10.10.0.4", 40000, 80), &["trk,inv"])
        .unwrap();
    assert_eq!(
        v,
        Verdict {
            outputs: vec![],
            controller: false,
            normal: false,
            cts: vec![zone_ct()],
        }
    );
}

/// Everything a bridge made, to check it is gone.
struct Footprint {
    pids: Vec<u32>,
    netns: String,
    dir: std::path::PathBuf,
}

fn footprint(br: &TraceBridge) -> Footprint {
    Footprint {
        pids: br.daemon_pids(),
        netns: br.netns().to_string(),
        dir: br.run_dir().to_path_buf(),
    }
}

fn assert_gone(f: &Footprint) {
    for pid in &f.pids {
        assert!(!datapath::state::pid_alive(*pid), "daemon {pid} still runs");
    }
    assert!(
        !datapath::cleanup::netns_list().contains(&f.netns),
        "namespace {} is left",
        f.netns
    );
    assert!(!f.dir.exists(), "{} is left", f.dir.display());
}

#[test]
#[ignore = "needs root and OVS"]
fn dropping_the_bridge_removes_daemons_namespace_and_folder_even_in_a_panic() {
    let _g = need_ovs!();
    let br = loaded_bridge();
    let f = footprint(&br);
    assert_eq!(f.pids.len(), 2);
    assert!(f.pids.iter().all(|p| datapath::state::pid_alive(*p)));
    assert!(datapath::cleanup::netns_list().contains(&f.netns));
    drop(br);
    assert_gone(&f);

    let seen: Mutex<Option<Footprint>> = Mutex::new(None);
    let unwound = std::panic::catch_unwind(|| {
        let br = loaded_bridge();
        *seen.lock().unwrap() = Some(footprint(&br));
        panic!("a failing differential test");
    });
    assert!(unwound.is_err());
    assert_gone(seen.lock().unwrap().as_ref().expect("the bridge started"));
}

#[test]
#[ignore = "needs root and OVS"]
fn a_persistent_control_connection_traces_faster_than_ovs_appctl_and_agrees() {
    let _g = need_ovs!();
    let mut br = loaded_bridge();
    let packets: Vec<String> = (0..300u16)
        .map(|i| match i % 3 {
            0 => tcp_from_pod3("10.96.0.10", 30000 + i, 80),
            1 => tcp_from_pod3("10.10.1.7", 30000 + i, 80),
            _ => tcp_from_pod3("10.10.0.4", 30000 + i, 80),
        })
        .collect();
    let new = ["trk,new", "trk,new"];
    let mut rate = |method| {
        let t0 = datapath::clock::now();
        let out: Vec<_> = packets
            .iter()
            .map(|p| br.trace_detailed_by(p, &new, method).unwrap())
            .collect();
        (packets.len() as f64 / t0.elapsed().as_secs_f64(), out)
    };
    let (spawned, by_appctl) = rate(TraceMethod::Spawn);
    let (persistent, by_socket) = rate(TraceMethod::Persistent);
    eprintln!(
        "ofproto/trace rate: ovs-appctl per trace {spawned:.0}/s, persistent unixctl {persistent:.0}/s ({:.1}x)",
        persistent / spawned
    );
    assert_eq!(by_appctl, by_socket);
    assert!(persistent > spawned, "{persistent:.0}/s vs {spawned:.0}/s");
}

/// A node's compiled program: two Pods, one peer node, encap (the default).
fn compiled_node() -> (
    sim_core::engine::pipeline::NodePipeline,
    Vec<sim_core::engine::pipeline::packets::SamplePacket>,
) {
    use sim_core::engine::pipeline::{PipelineSpec, compile, packets::sample_packets};
    use sim_core::model::MacAddr;
    let mut spec = PipelineSpec::new(
        "192.168.77.100/24".parse().unwrap(),
        "10.10.0.0/24".parse().unwrap(),
        MacAddr::from_name("gw"),
    )
    .with_gateway_ip("10.10.0.1".parse().unwrap());
    spec.add_pod(MacAddr::from_name("a"), "10.10.0.2".parse().unwrap());
    spec.add_pod(MacAddr::from_name("b"), "10.10.0.3".parse().unwrap());
    spec.add_peer(
        "10.10.1.0/24".parse().unwrap(),
        TUNNEL_PEER,
        "10.10.1.1".parse().unwrap(),
    );
    let samples = sample_packets(&spec, 300, 11);
    (compile(&spec), samples)
}

#[test]
#[ignore = "needs root and OVS"]
fn the_differential_check_agrees_on_a_compiled_node_and_finds_a_missing_route() {
    use sim_core::engine::pipeline::packets::TrafficClass;
    let _g = need_ovs!();
    let (pipeline, samples) = compiled_node();
    let mut br = TraceBridge::start(2).expect("a private OVS starts");

    let same = datapath::oftrace::diff_node(&mut br, "node-a", &pipeline, &samples).unwrap();
    assert_eq!(same.packets(), 300);
    assert_eq!(same.agreed(), 300, "{:#?}", same.mismatches.first());
    assert!(same.by_class.contains_key(&TrafficClass::TunnelToLocalPod));

    // Real OVS without the L3Forwarding flow that tunnels the peer's Pod CIDR:
    // every packet to a remote Pod must now differ, and nothing else.
    let program = datapath::oftrace::sim_program(&pipeline).unwrap();
    let full = program.bundle_text();
    let cut: String = full
        .lines()
        .filter(|l| !(l.contains("nw_dst=10.10.1.0/24") && l.contains("->tun_dst")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(cut.len() < full.len(), "the route flow was not found");
    let diff = datapath::oftrace::diff_programs(
        &mut br,
        "node-a",
        &program,
        &cut,
        pipeline.tables(),
        &samples,
    )
    .unwrap();
    let remote = [TrafficClass::PodToRemotePod, TrafficClass::NodeToRemotePod];
    let sent_remote: usize = remote.iter().map(|c| same.by_class[c].0).sum();
    assert!(sent_remote > 0);
    assert!(
        diff.mismatches.len() >= sent_remote,
        "{} mismatches, {sent_remote} packets to remote Pods",
        diff.mismatches.len()
    );
    for m in &diff.mismatches {
        assert!(
            remote.contains(&m.class) || m.class == TrafficClass::Reply,
            "unexpected mismatch {:?}: {}",
            m.class,
            m.flow
        );
        let tunnelled = |v: &Verdict| v.outputs.iter().any(|o| o.tun_dst == Some(TUNNEL_PEER));
        assert!(tunnelled(&m.sim), "{:?}", m.sim);
        assert!(!tunnelled(&m.real), "{:?}", m.real);
    }
}
