//! The `antlab` binary end to end: determinism, golden timeline, bad input,
//! pcap output read back by tshark, and the DES benchmark's output shape.

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "../sim-core/tests/support/needs.rs"]
mod needs;

const SCENARIO: &str = "scenarios/blog-pod-ping.yaml";

fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}

/// That `o` exited 0, with its stderr shown when it did not.
fn assert_ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

/// `antlab get WHAT DEVICE -s SCENARIO --at AT` for each (what, device),
/// each expected to succeed; their outputs one after the other.
fn views(scn: &str, at: &str, views: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (what, device) in views {
        let o = antlab(&["get", what, device, "-s", scn, "--at", at]);
        assert_ok(&o);
        out.push_str(&stdout(&o));
    }
    out
}

/// Every scenario shipped in `scenarios/`.
fn all_scenarios() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("scenarios/{n}"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

#[test]
fn same_seed_gives_byte_identical_event_logs() {
    for scn in all_scenarios() {
        let a = antlab(&["run", &scn, "-o", "json", "--seed", "42"]);
        let b = antlab(&["run", &scn, "-o", "json", "--seed", "42"]);
        assert_eq!(
            a.status.code(),
            Some(0),
            "{scn}: {}",
            String::from_utf8_lossy(&a.stderr)
        );
        assert!(
            a.stdout.len() > 10_000,
            "{scn}: the JSON log carries every frame"
        );
        assert_eq!(
            a.stdout, b.stdout,
            "{scn}: two runs with one seed must be identical"
        );
        // The log is JSON lines: each line parses, the last is the summary.
        let text = stdout(&a);
        let last = text.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["summary"]["seed"], 42);
        assert_eq!(v["summary"]["passed"], true);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("every line is JSON");
        }
    }
}

#[test]
fn other_seeds_still_pass_and_change_the_log() {
    for scn in all_scenarios() {
        let base = antlab(&["run", &scn, "-o", "json", "--seed", "1"]);
        let mut differs = false;
        for seed in ["7", "1234567"] {
            let o = antlab(&["run", &scn, "-o", "json", "--seed", seed]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{scn} seed {seed}: {}",
                stdout(&o)
            );
            differs |= o.stdout != base.stdout;
        }
        // ARP reachable times (and more) are drawn from the seed, so logs differ.
        assert!(differs, "{scn}: the seed must influence the run");
    }
}

#[test]
fn timeline_snapshot() {
    let o = antlab(&["run", SCENARIO]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("blog_pod_ping_timeline", stdout(&o));
}

#[test]
fn egress_tables_snapshot() {
    let scn = "scenarios/egress-vlan-failover.yaml";
    let mut out = String::new();
    // 12 s: k8s-node-vm-2-cl-02 lost power at 10 s and memberlist has not
    // noticed yet: the status the agents wrote still names it.
    for (what, at) in [
        ("externalippools", "1s"),
        ("egress", "5s"),
        ("externalippools", "5s"),
        ("egress", "12s"),
        ("egress egress-vlan", "12s"),
        ("egress", "30s"),
        ("memberlist", "30s"),
        ("egress", "60s"),
    ] {
        let mut args = vec!["get"];
        args.extend(what.split(' '));
        args.extend(["-s", scn, "--at", at]);
        let o = antlab(&args);
        assert_ok(&o);
        out.push_str(&stdout(&o));
    }
    insta::assert_snapshot!("egress_tables", out);
}

/// `get conntrack` on the flow-export lab at 12 s: the client's node holds
/// the Egress ping and three Service connections in br-int's zone 65520,
/// DNATed to the endpoints br-int chose, in OVS's dump format; its host
/// conntrack holds the memberlist and Geneve UDP flows, none of the Pods'
/// (br-int carried them). The Egress node's br-int tracks the tunnelled
/// ping with Antrea's Egress mark, and its host SNATs it to the Egress IP.
#[test]
fn conntrack_snapshot() {
    let scn = "scenarios/flow-export.yaml";
    let out = views(
        scn,
        "12s",
        &[
            ("conntrack", "k8s-node-vm-1-cl-02"),
            ("conntrack", "k8s-node-vm-2-cl-02"),
        ],
    );
    for line in [
        "icmp,orig=(src=10.30.67.5,dst=10.200.0.10,id=16384,type=8,code=0),reply=(src=10.200.0.10,dst=10.30.67.5,id=16384,type=0,code=0),zone=65520,",
        ",zone=65520,timeout=29,mark=1\n",
        "icmp     1  29 src=10.30.67.5 dst=10.200.0.10 type=8 code=0 id=16384 src=10.200.0.10 dst=172.18.181.40 type=0 code=0 id=16384",
    ] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }
    let vm1 = out.split("# ").nth(1).unwrap();
    let (br_int, host) = vm1.split_once("(conntrack -L)").unwrap();
    assert_eq!(
        br_int
            .matches("tcp,orig=(src=10.30.67.3,dst=10.30.30.11,")
            .count(),
        3
    );
    assert!(
        !host.contains("10.30.67.3"),
        "the Pods' connections never reach the host:\n{host}"
    );
    insta::assert_snapshot!("conntrack", out);
    // An L2 switch has no conntrack.
    let switch = antlab(&["get", "conntrack", "vmbr0", "-s", scn]);
    assert_eq!(switch.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&switch.stderr).contains("vmbr0 has no IP stack"),
        "{}",
        String::from_utf8_lossy(&switch.stderr)
    );
}

/// `get iplink` / `get ipaddr` on the blog's Egress lab: at 5 s the Egress IP
/// is on k8s-node-vm-2-cl-02's `antrea-ext.181@eth0`, the Pods are on vm-1.
#[test]
fn ip_link_and_addr_snapshot() {
    let scn = "scenarios/egress-vlan-failover.yaml";
    let out = views(
        scn,
        "5s",
        &[
            ("iplink", "k8s-node-vm-2-cl-02"),
            ("ipaddr", "k8s-node-vm-2-cl-02"),
            ("ipaddr", "k8s-node-vm-1-cl-02"),
        ],
    );
    // The blog's lines (exploring-antrea-features.md, `ip link` / `ip addr` on the Egress node).
    for line in [
        "genev_sys_6081: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 65000 qdisc noqueue master ovs-system state UNKNOWN mode DEFAULT group default qlen 1000",
        "antrea-gw0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000",
        "antrea-ext.181@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default",
        "    link/ether bc:24:11:1d:82:f5 brd ff:ff:ff:ff:ff:ff",
        "    inet 172.18.181.40/24 brd 172.18.181.255 scope global antrea-ext.181",
    ] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }
    insta::assert_snapshot!("ip_link_and_addr", out);
    // Not a node, and a node without power: exit 2 with the reason.
    let bad = antlab(&["get", "iplink", "ext-vm", "-s", scn]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("`ext-vm` is not a Kubernetes node"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let off = antlab(&[
        "get",
        "ipaddr",
        "k8s-node-vm-2-cl-02",
        "-s",
        scn,
        "--at",
        "30s",
    ]);
    assert_eq!(off.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&off.stderr).contains("k8s-node-vm-2-cl-02 is powered off"));
}

#[test]
fn topology_summary_snapshot() {
    let o = antlab(&["topology", "show", "topologies/blog-lab.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("blog_lab_topology", stdout(&o));
}

#[test]
fn bad_input_exits_2_with_file_line_column() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["topology", "show", "tests/fixtures/bad/topo-syntax.yaml"],
            "tests/fixtures/bad/topo-syntax.yaml:4:",
        ),
        (
            &[
                "topology",
                "show",
                "tests/fixtures/bad/topo-unknown-key.yaml",
            ],
            "topo-unknown-key.yaml:6:9: unknown field `adresses`",
        ),
        (
            &["topology", "show", "tests/fixtures/bad/topo-bad-cidr.yaml"],
            "topo-bad-cidr.yaml:6:21: `10.0.0.300/24`",
        ),
        (
            &["topology", "show", "tests/fixtures/bad/topo-dangling.yaml"],
            "topo-dangling.yaml:11:18: no device named `vm2`",
        ),
        (
            &["run", "tests/fixtures/bad/scenario-unknown-key.yaml"],
            "scenario-unknown-key.yaml:5:5: unknown field `powr`",
        ),
        (
            &["run", "tests/fixtures/bad/scenario-bad-device.yaml"],
            "scenario-bad-device.yaml:5:21: no device called",
        ),
        (
            &["run", "tests/fixtures/bad/scenario-bad-manifest.yaml"],
            "scenario-bad-manifest.yaml:13:19: ExternalIPPool.crd.antrea.io \"pool\" is invalid: spec.ipRanges[0].cidr: Invalid value: \"172.18.181.0/33\"",
        ),
        (
            &[
                "run",
                "tests/fixtures/bad/scenario-egress-ip-outside-pool.yaml",
            ],
            "scenario-egress-ip-outside-pool.yaml:17:9: IP 172.18.181.99 is not within the IP range",
        ),
        (
            &["run", "tests/fixtures/bad/scenario-overlapping-pools.yaml"],
            "scenario-overlapping-pools.yaml:17:9: range [172.18.181.48/29] overlaps with range [172.18.181.40-172.18.181.50] of ExternalIPPool pool-a",
        ),
    ];
    for (args, want) in cases {
        let o = antlab(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            o.stdout.is_empty(),
            "nothing is run or printed on bad input"
        );
    }
    let missing = antlab(&["run", "no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/file.yaml"));
}

#[test]
fn failed_expectation_exits_1_and_names_its_place() {
    let dir = std::env::temp_dir().join(format!("antlab-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let topo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/blog-lab.yaml");
    std::fs::copy(&topo, dir.join("lab.yaml")).unwrap();
    let scn = dir.join("fail.yaml");
    std::fs::write(
        &scn,
        "name: wrong-source\ntopology: lab.yaml\nsteps:\n  - at: 0s\n    probe: {name: p, from: ext-vm, to: k8s-node-vm-1-cl-02}\n  - at: 2s\n    expect:\n      - {probe: p, last: ok, seenSource: 10.9.9.9}\n",
    )
    .unwrap();
    let o = antlab(&["run", scn.to_str().unwrap()]);
    let out = stdout(&o);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("fail.yaml:8:9"), "{out}");
    assert!(out.contains("destination saw 10.200.0.10"), "{out}");
    assert!(
        out.contains("--seed 1"),
        "a failure prints how to reproduce it: {out}"
    );
}

/// Runs the scenario with `--pcap` into a fresh folder and checks one
/// pcap per used switch port; returns the folder and the uplink's pcap.
fn write_pcaps(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("antlab-pcap-{tag}-{}", std::process::id()));
    let o = antlab(&["run", SCENARIO, "--pcap", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let uplink = dir.join("vmbr0_eno1.pcap");
    assert!(uplink.exists(), "one pcap per switch port");
    let ports = std::fs::read_dir(&dir).unwrap().count();
    assert!(
        ports >= 9,
        "every used switch port has a capture, got {ports}"
    );
    (dir, uplink)
}

#[test]
fn pcap_files_are_written_per_switch_port() {
    let (dir, uplink) = write_pcaps("ports");
    let bytes = std::fs::read(&uplink).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    // libpcap's nanosecond magic (little-endian), then frames.
    assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1], "a pcap file");
    assert!(bytes.len() > 24, "frames after the global header");
}

#[test]
fn tshark_is_here_under_ci() {
    needs::guard("tshark", needs::missing_tshark());
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn pcap_files_keep_vlan_tags_for_tshark() {
    needs::require(needs::missing_tshark());
    let (dir, uplink) = write_pcaps("tshark");
    let t = Command::new("tshark")
        .args([
            "-r",
            uplink.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "vlan.id",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&t.stdout);
    std::fs::remove_dir_all(&dir).ok();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    // The trunk to core-sw carries the node VLAN tagged, with SNATed Pod traffic.
    assert!(
        text.lines()
            .any(|l| l.starts_with("216\t10.160.1.25\t10.200.0.10")),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.trim().is_empty() || l.starts_with('\t')),
        "every frame on the trunk is tagged:\n{text}"
    );
}

/// The number after `key` in `line` (up to the next space, comma or `%`).
fn number_after(line: &str, key: &str) -> f64 {
    let rest = line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..]
        .trim_start();
    let end = rest.find([' ', ',', '%', ')']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {line}"))
}

#[test]
fn pipeline_bench_reports_both_rows_and_a_hit_rate() {
    let o = antlab(&[
        "bench",
        "pipeline",
        "--services",
        "20",
        "--endpoints",
        "3",
        "--packets",
        "2000",
    ]);
    assert_ok(&o);
    let out = stdout(&o);
    let head = out.lines().next().unwrap();
    assert!(
        head.starts_with("bench pipeline: 20 Services x 3 endpoints"),
        "{out}"
    );
    assert!(number_after(head, "proxyAll): ") > 20.0, "{out}");
    assert!(number_after(head, "flows, ") >= 20.0, "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {out}"))
    };
    for name in ["cache off:", "cache on:"] {
        let l = row(name);
        assert_eq!(number_after(l, ": ") as u64, 2000, "{l}");
        assert!(number_after(l, "s, ") > 0.0, "{l}");
        assert!(l.contains(" packets/s"), "{l}");
    }
    let on = row("cache on:");
    let rate = number_after(on, "hit rate ");
    assert!((0.0..=100.0).contains(&rate), "{on}");
    let (hits, misses) = (number_after(on, "% ("), number_after(on, "hits, "));
    assert_eq!(hits + misses, 2000.0, "{on}");
    // 20 flows of 100 packets: nearly all hits.
    assert!(rate > 50.0, "{on}");
    assert!(
        out.contains("counters with and without the cache: identical"),
        "{out}"
    );
    let off = antlab(&[
        "bench",
        "pipeline",
        "--services",
        "5",
        "--endpoints",
        "2",
        "--packets",
        "100",
        "--no-cache",
    ]);
    assert_eq!(off.status.code(), Some(0));
    let off = stdout(&off);
    assert!(
        off.contains("cache off:") && !off.contains("cache on:"),
        "{off}"
    );
}

#[test]
fn des_bench_reports_events_per_second_last() {
    let o = antlab(&[
        "bench",
        "des",
        "--population",
        "1000",
        "--events",
        "20000",
        "--runs",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let last = out.lines().last().unwrap();
    let rate: f64 = last
        .strip_prefix("events/s: ")
        .expect(&out)
        .parse()
        .unwrap();
    assert!(rate > 0.0);
    assert!(out.contains("20000 events"), "{out}");
    let badk = antlab(&["bench", "des", "--scheduler", "fifo"]);
    assert_eq!(badk.status.code(), Some(2));
}

#[test]
fn run_bench_times_the_phases_of_the_run_it_replays() {
    let scn = "scenarios/egress-vlan-failover.yaml";
    let o = antlab(&["bench", "run", scn, "--runs", "1"]);
    assert_ok(&o);
    let out = stdout(&o);
    let run_line = out.lines().find(|l| l.starts_with("run 1:")).expect(&out);
    for phase in [
        "load ",
        "admission ",
        "world at 0 s ",
        "0 s steps ",
        "simulation ",
    ] {
        assert!(run_line.contains(phase), "{run_line}");
    }
    assert!(run_line.ends_with("expectations passed"), "{run_line}");
    // Its events are the run's: those of the 0 s steps plus the simulation's.
    let count = |after: &str| -> u64 {
        let at = run_line.find(after).expect(after) + after.len();
        let rest = &run_line[at..];
        let open = rest.find('(').expect("a count") + 1;
        rest[open..].split(' ').next().unwrap().parse().unwrap()
    };
    let benched = count("0 s steps ") + count("simulation ");
    let run = stdout(&antlab(&["run", scn]));
    let simulated: u64 = run
        .lines()
        .last()
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split(' ').next())
        .expect(&run)
        .parse()
        .unwrap();
    assert_eq!(benched, simulated, "{run_line}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("simulation events/s: "),
        "{out}"
    );
    let missing = antlab(&["bench", "run", "scenarios/no-such.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn what_if_reads_a_kubectl_list_and_reports_moves() {
    let list = "tests/fixtures/whatif/blog-cluster-list.yaml";
    let o = antlab(&[
        "what-if",
        "-f",
        list,
        "--power-off",
        "k8s-node-vm-2-cl-02",
        "-o",
        "json",
    ]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let eg = v["egresses"].as_array().unwrap();
    assert_eq!(eg.len(), 2);
    // Antrea's ring: 172.18.181.40 is on node-vm-2 and goes to node-vm-1 when it fails.
    assert_eq!(eg[0]["name"], "egress-vlan");
    assert_eq!(eg[0]["egressIP"], "172.18.181.40");
    assert_eq!(eg[0]["before"], "k8s-node-vm-2-cl-02");
    assert_eq!(eg[0]["after"], "k8s-node-vm-1-cl-02");
    // The Egress without an IP gets the next free one; it does not move.
    assert_eq!(eg[1]["egressIP"], "172.18.181.41");
    assert_eq!(eg[1]["before"], eg[1]["after"]);
    assert_eq!(v["services"], serde_json::json!([]));

    let table = antlab(&["what-if", "-f", list, "--power-off", "k8s-node-vm-2-cl-02"]);
    insta::assert_snapshot!("what_if_table", stdout(&table));

    let bad = antlab(&["what-if", "-f", list, "--power-off", "no-such-node"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no Node called no-such-node"));
}

#[test]
fn what_if_reads_kubectl_json_as_it_reads_yaml() {
    let run = |file: &str| {
        antlab(&[
            "what-if",
            "-f",
            file,
            "--power-off",
            "k8s-node-vm-2-cl-02",
            "-o",
            "json",
        ])
    };
    let yaml = run("tests/fixtures/whatif/blog-cluster-list.yaml");
    let json = run("tests/fixtures/whatif/blog-cluster-list.json");
    assert_ok(&json);
    assert_eq!(stdout(&json), stdout(&yaml));
    assert!(stdout(&json).contains("\"after\": \"k8s-node-vm-1-cl-02\""));
}

#[test]
fn what_if_notes_an_egress_whose_pool_is_gone() {
    let dir = std::env::temp_dir().join(format!("antlab-whatif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("dump.yaml");
    std::fs::write(
        &dump,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n- apiVersion: crd.antrea.io/v1beta1\n  kind: Egress\n  metadata: {name: orphan}\n  spec:\n    appliedTo: {podSelector: {}}\n    egressIP: 10.0.0.5\n    externalIPPool: deleted-pool\n",
    )
    .unwrap();
    let o = antlab(&["what-if", "-f", dump.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("note: Egress orphan: ExternalIPPool deleted-pool does not exist"),
        "{err}"
    );
    assert!(stdout(&o).contains("orphan   <none>"), "{}", stdout(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_if_on_the_blog_manifests_needs_nodes_and_says_so() {
    let o = antlab(&[
        "what-if",
        "-f",
        "scenarios/manifests/blog-egress-vlan-pool.yaml",
        "-f",
        "scenarios/manifests/blog-egress-vlan.yaml",
        "-o",
        "yaml",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("egressIP: \"172.18.181.40\""), "{out}");
    assert!(out.contains("before: null"), "{out}");
}

#[test]
fn rules_and_service_tables_snapshot() {
    let scn = "scenarios/kube-proxy-ipvs-strictarp.yaml";
    let rules = antlab(&["rules", "k8s-node-vm-1-cl-02", "-s", scn]);
    assert_ok(&rules);
    let text = stdout(&rules);
    // The blog's IPVS dump shape: the VIPs on kube-ipvs0 and a NodePort per node address.
    assert!(text.contains("TCP  10.160.1.40:80 rr"), "{text}");
    assert!(
        text.contains("inet 10.160.1.40/32 scope global kube-ipvs0"),
        "{text}"
    );
    insta::assert_snapshot!("rules_node_vm_1", text);
    let mut tables = String::new();
    for what in ["svc", "endpoints", "serviceexternalip"] {
        let o = antlab(&["get", what, "-s", scn]);
        assert_eq!(o.status.code(), Some(0));
        tables.push_str(&stdout(&o));
    }
    insta::assert_snapshot!("service_tables", tables);
    let bad = antlab(&["rules", "ext-vm", "-s", scn]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn rules_compare_reports_counts_and_times() {
    let o = antlab(&[
        "rules",
        "--compare",
        "--services",
        "50",
        "--endpoints-per-service",
        "4",
        "--nodes",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("50 Services x 4 endpoints, 3 nodes"), "{out}");
    // kube-proxy iptables: several rules per endpoint; none without kube-proxy.
    let iptables: Vec<u64> = out
        .lines()
        .filter_map(|l| l.split("iptables rules ").nth(1))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert_eq!(iptables.len(), 2, "{out}");
    assert!(iptables[0] > 200 && iptables[1] == 0, "{out}");
    assert_eq!(out.matches("full compile").count(), 2);
}

#[test]
fn featuregates_reproduce_the_blog_tables_character_for_character() {
    // The two tables of the blog's `antctl get featuregates` (Antrea v1.15.1),
    // copied from the post into this fixture.
    let blog = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blog-featuregates.txt"),
    )
    .unwrap();
    let o = antlab(&[
        "get",
        "featuregates",
        "-f",
        "scenarios/manifests/blog-antrea-config-seip.yaml",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), blog);
    // Defaults differ from the blog's cluster: ServiceExternalIP is off.
    let d = stdout(&antlab(&["get", "featuregates"]));
    assert!(
        d.contains("ServiceExternalIP               Disabled     ALPHA"),
        "{d}"
    );
    let v2 = antlab(&["get", "featuregates", "--antrea-version", "v2.0.0"]);
    assert_eq!(v2.status.code(), Some(0));
    let bad = antlab(&["get", "featuregates", "--antrea-version", "v0.9"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn tui_bench_reports_frame_times() {
    let out = antlab(&[
        "bench",
        "tui",
        "--nodes",
        "12",
        "--frames",
        "6",
        "--frame-step",
        "100ms",
    ]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with("bench tui: 12 nodes, 6 frames of 100ms"),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    let (done, total) = last
        .strip_prefix("frames under 50 ms: ")
        .and_then(|r| r.split_once('/'))
        .expect("last line counts frames");
    assert_eq!(total, "6", "{text}");
    assert!(done.parse::<u32>().unwrap() <= 6);
    assert!(text.contains("other frames: median "), "{text}");
    let bad = antlab(&["bench", "tui", "--frame-step", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn kind_import_writes_a_lab_the_simulator_runs() {
    let dir = std::env::temp_dir().join(format!("antlab-kind-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fx = "datapath/tests/fixtures/kind";
    let o = antlab(&[
        "real",
        "import-kind",
        "--docker-inspect",
        &format!("{fx}/docker-inspect.json"),
        "--nodes",
        &format!("{fx}/nodes.yaml"),
        "--kubectl",
        &format!("{fx}/pods.yaml"),
        "--kubectl",
        &format!("{fx}/egress.yaml"),
        "--kubectl",
        &format!("{fx}/configmaps.yaml"),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("nodes on"), "{}", stdout(&o));
    let scn = dir.join("scenario.yaml");
    let run = antlab(&["run", scn.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}\n{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout(&run).contains("expect PASS"), "{}", stdout(&run));
    // A stopped node container is refused, naming the node.
    let bad = antlab(&[
        "real",
        "import-kind",
        "--docker-inspect",
        &format!("{fx}/docker-inspect-stopped.json"),
        "--nodes",
        &format!("{fx}/nodes.yaml"),
        "-o",
        dir.join("bad").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("antrea-lab"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names real mode cannot carry as Linux names are refused by `check`
/// (and every other command) where they are written, before anything runs.
#[test]
fn names_linux_cannot_carry_are_refused_at_file_line_column() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["check", "tests/fixtures/bad/scenario-long-ifname.yaml"],
            "topo-long-ifname.yaml:5:15: interface name `eth0-to-the-core` is 16 bytes long; a Linux interface name has at most 15",
        ),
        (
            &[
                "topology",
                "show",
                "tests/fixtures/bad/topo-long-ifname.yaml",
            ],
            "topo-long-ifname.yaml:5:15: interface name",
        ),
        (
            &[
                "topology",
                "show",
                "tests/fixtures/bad/topo-hostile-names.yaml",
            ],
            "topo-hostile-names.yaml:5:15: interface name `eth0:1` has `:`",
        ),
        (
            &[
                "topology",
                "show",
                "tests/fixtures/bad/topo-hash-device.yaml",
            ],
            "topo-hash-device.yaml:3:11: device name `vm#1` has `#`",
        ),
        (
            &["topology", "show", "tests/fixtures/bad/topo-lo-svi.yaml"],
            "topo-lo-svi.yaml:5:48: interface name `lo` is the loopback",
        ),
    ];
    for (args, want) in cases {
        let o = antlab(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn rules_prints_the_compiled_br_int_by_table_and_with_numbers() {
    let scn = "scenarios/clusterip-service.yaml";
    let node = "k8s-node-vm-1-cl-02";
    let all = antlab(&["rules", node, "-s", scn]);
    assert_ok(&all);
    let text = stdout(&all);
    let header = text.lines().next().unwrap();
    // "...: N flows, M groups (...)": the header counts what is printed.
    let n: usize = header
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{header}"));
    let flow_lines = text.lines().filter(|l| l.starts_with(" cookie=")).count();
    assert_eq!(flow_lines, n, "{header}");
    assert!(text.contains("table=ServiceLB"), "{text}");
    assert!(text.contains("group_id="), "{text}");

    let one = stdout(&antlab(&[
        "rules",
        node,
        "-s",
        scn,
        "--table",
        "L3Forwarding",
    ]));
    let lines: Vec<&str> = one.lines().filter(|l| l.starts_with(" cookie=")).collect();
    assert!(lines.len() >= 3, "{one}");
    assert!(
        lines.iter().all(|l| l.contains("table=L3Forwarding,")),
        "{one}"
    );
    assert!(!one.contains("group_id="), "{one}");

    let numeric = stdout(&antlab(&["rules", node, "-s", scn, "--numbers"]));
    assert!(numeric.contains(" table=0,"), "{numeric}");
    assert!(!numeric.contains("table=ServiceLB"), "{numeric}");

    let bad = antlab(&["rules", node, "-s", scn, "--table", "NoSuchTable"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no table `NoSuchTable`"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn trace_walks_a_pod_packet_to_a_service_table_by_table() {
    let scn = "scenarios/clusterip-service.yaml";
    let node = "k8s-node-vm-1-cl-02";
    let flow = "pod:egress/other-pod,tcp,nw_dst=10.30.48.237,tp_src=40000,tp_dst=80";
    let o = antlab(&["trace", node, flow, "-s", scn]);
    assert_ok(&o);
    let text = stdout(&o);
    // The Pod's fields were filled in, the Service's group chose a bucket,
    // the DNAT ct() recirculated, and the walk ended in an output.
    assert!(text.contains("nw_src=10.30.67.2"), "{text}");
    assert!(text.contains("ServiceLB"), "{text}");
    assert!(text.contains("-> bucket"), "{text}");
    assert!(text.contains("nat(dst=10.30."), "{text}");
    assert!(text.contains("recirc("), "{text}");
    let verdict = text.lines().last().unwrap();
    assert!(verdict.starts_with("Verdict: output:"), "{verdict}");

    // The same packet from a Pod of another node is refused with the node to use.
    let o = antlab(&["trace", "k8s-node-vm-2-cl-02", flow, "-s", scn]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("runs on k8s-node-vm-1-cl-02"), "{err}");
    let o = antlab(&["trace", node, "tcp,nw_dst=banana", "-s", scn]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_the_encap_failover_s_geneve_with_the_inner_pod_frames() {
    needs::require(needs::missing_tshark());
    let dir = std::env::temp_dir().join(format!("antlab-pcap-geneve-{}", std::process::id()));
    let o = antlab(&[
        "run",
        "scenarios/egress-vlan-failover.yaml",
        "--pcap",
        dir.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let fields = |file: &str| {
        let t = Command::new("tshark")
            .args([
                "-r",
                dir.join(file).to_str().unwrap(),
                "-Y",
                "geneve",
                "-T",
                "fields",
            ])
            .args([
                "-e",
                "ip.src",
                "-e",
                "ip.dst",
                "-e",
                "geneve.vni",
                "-e",
                "udp.dstport",
            ])
            .output()
            .unwrap();
        assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
        String::from_utf8_lossy(&t.stdout).into_owned()
    };
    let uplink = fields("vmbr0_eno1.pcap");
    let node1 = fields("vmbr0_node-vm-1.pcap");
    std::fs::remove_dir_all(&dir).ok();
    // Outer node IP -> Egress IP, inner Pod -> ext-vm, VNI 0, UDP 6081.
    let request = "10.160.1.25,10.30.67.5\t172.18.181.40,10.200.0.10\t0x000000\t6081";
    assert!(uplink.lines().any(|l| l == request), "{uplink}");
    // The replies come back from the Egress node's transport IP to the Pod.
    let reply = "10.160.1.26,10.200.0.10\t10.160.1.25,10.30.67.5\t0x000000\t6081";
    assert!(node1.lines().any(|l| l == reply), "{node1}");
}

#[test]
fn rules_show_the_run_s_counters_when_br_int_executes_the_program() {
    let node = "k8s-node-vm-1-cl-02";
    let o = antlab(&["rules", node, "-s", "scenarios/br-int-pipeline.yaml"]);
    assert_ok(&o);
    let text = stdout(&o);
    let counted = text
        .lines()
        .filter(|l| l.starts_with(" cookie=") && !l.contains("n_packets=0,"))
        .count();
    assert!(counted >= 10, "{counted} flows counted packets:\n{text}");
    // The ClusterIP's select group counted the probe's connection attempts.
    let stats = text
        .lines()
        .find(|l| l.starts_with(" group_id=1,packet_count="))
        .unwrap_or_else(|| panic!("{text}"));
    let packets: u64 = stats
        .split("packet_count=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(packets > 0, "{stats}");
    // dump-groups itself has no counters, as in ovs-ofctl.
    assert!(
        text.lines()
            .filter(|l| l.starts_with(" group_id=") && l.contains("type=select"))
            .all(|l| !l.contains("n_packets")),
        "{text}"
    );
    // With br-int a switch the same command notes that nothing was counted.
    let dir = std::env::temp_dir().join(format!("antlab-switch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let topo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/blog-lab.yaml");
    std::fs::copy(&topo, dir.join("lab.yaml")).unwrap();
    let scn = dir.join("switch.yaml");
    std::fs::write(
        &scn,
        "name: switch\ntopology: lab.yaml\nuntil: 2s\noptions: {brInt: switch}\nsteps:\n  - at: 0s\n    probe: {name: p, from: ext-vm, to: k8s-node-vm-1-cl-02}\n",
    )
    .unwrap();
    let o = antlab(&["rules", node, "-s", scn.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("n_packets/n_bytes are 0"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
