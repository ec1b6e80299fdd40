//! `antlab gen` end to end at small sizes: the files it writes load and
//! check, the run converges (every Egress the powered-off node held is on
//! its next node and the core switch's ARP follows), generating twice gives
//! the same bytes, and running twice gives the same log. Also the other
//! scale commands' output shape (`antlab bench egress`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf-8 output")
}

fn text_of(o: &Output) -> String {
    text(&o.stdout)
}

/// A fresh directory under the target dir (cleaned first).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const SMALL: &[&str] = &[
    "--nodes",
    "24",
    "--pods",
    "96",
    "--services",
    "12",
    "--endpoints-per-service",
    "4",
    "--egresses",
    "12",
    "--pools",
    "3",
];

fn gen_into(dir: &Path) {
    let mut args = vec!["gen"];
    args.extend_from_slice(SMALL);
    let d = dir.to_str().expect("utf-8 path");
    args.extend_from_slice(&["-o", d]);
    let o = antlab(&args);
    assert!(o.status.success(), "gen failed: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("holds the most Egress IPs"), "{out}");
}

#[test]
fn generated_lab_loads_runs_and_converges() {
    let dir = scratch("gen-small");
    gen_into(&dir);
    let scn = dir.join("scenario.yaml");
    let scn = scn.to_str().expect("utf-8 path");
    let check = antlab(&["check", scn]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains(": ok"),
        "{}",
        text(&check.stdout)
    );

    let run = antlab(&["run", scn]);
    let out = text(&run.stdout);
    assert!(
        run.status.success(),
        "run failed:\n{out}\n{}",
        text(&run.stderr)
    );
    // Expectations exist (the victim held Egresses) and all passed.
    assert!(out.contains("expect PASS Egress egress-"), "{out}");
    assert!(out.contains("expect PASS core ARP"), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(!out.contains("expect FAIL"), "{out}");
    assert!(
        out.contains("warm start: 24 antrea-agents running"),
        "{out}"
    );
    assert!(out.contains("ARP entries filled"), "{out}");
    // Warm: nobody joins everyone at start, and no frame lines are kept.
    let json = antlab(&["run", scn, "-o", "json"]);
    let log = text(&json.stdout);
    assert!(
        !log.contains("memberlist joining"),
        "warm agents do not join"
    );
    assert!(!log.contains("\"kind\":\"frame\""), "frameLog: false");
}

/// The generated lab runs on Antrea's program like every scenario (no
/// `brInt` option): a Pod-to-Pod probe added to it is tunnelled by node-0's
/// br-int to node-1 (Geneve, `tun_dst` = node-1's IP), and `antlab rules`
/// prints that program with the probe's packets counted on its flows.
#[test]
fn generated_lab_runs_on_the_compiled_program() {
    let dir = scratch("gen-pipeline");
    gen_into(&dir);
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).expect("written");
    assert!(!text.contains("brInt"), "{text}");
    let probed = text.replace(
        "  - at: 2s\n    power:",
        "  - at: 1s
    probe: {name: pod-to-pod, from: pod/app-0/pod-0, to: 10.128.1.2, kind: tcp, port: 8080, interval: 200ms}
  - at: 1900ms
    expect:
      - {probe: pod-to-pod, last: ok, seenSource: 10.128.0.2}
  - at: 2s\n    power:",
    );
    assert_ne!(probed, text, "the probe went in");
    let scn = dir.join("probed.yaml");
    std::fs::write(&scn, probed).expect("written");
    let scn = scn.to_str().expect("utf-8 path");
    let run = antlab(&["run", scn]);
    let out = text_of(&run);
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains("expect PASS probe pod-to-pod"), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");

    let rules = antlab(&["rules", "node-0", "--scenario", scn, "--at", "1900ms"]);
    let flows = text_of(&rules);
    assert!(rules.status.success(), "{flows}");
    // node-1 is 10.0.0.11 (rack 0 numbers nodes from .10).
    let tunnel = flows
        .lines()
        .find(|l| {
            l.contains("table=L3Forwarding")
                && l.contains("nw_dst=10.128.1.0/24")
                && l.contains("set_field:10.0.0.11->tun_dst")
        })
        .unwrap_or_else(|| panic!("no tunnel route to node-1's Pods:\n{flows}"));
    assert!(!tunnel.contains("n_packets=0,"), "{tunnel}");
}

#[test]
fn generating_and_running_twice_gives_the_same_bytes() {
    let (a, b) = (scratch("gen-a"), scratch("gen-b"));
    gen_into(&a);
    gen_into(&b);
    for f in ["topology.yaml", "manifests.yaml", "scenario.yaml"] {
        let x = std::fs::read(a.join(f)).expect("written");
        let y = std::fs::read(b.join(f)).expect("written");
        assert!(x == y, "{f} differs between two gen runs");
    }
    let scn = a.join("scenario.yaml");
    let scn = scn.to_str().expect("utf-8 path");
    let r1 = antlab(&["run", scn, "-o", "json"]);
    let r2 = antlab(&["run", scn, "-o", "json"]);
    assert!(r1.status.success());
    assert!(
        r1.stdout == r2.stdout,
        "two runs of the generated lab differ"
    );
}

#[test]
fn gen_refuses_sizes_that_do_not_fit() {
    let dir = scratch("gen-bad");
    let d = dir.to_str().expect("utf-8 path");
    let o = antlab(&[
        "gen",
        "--nodes",
        "10",
        "--pods",
        "10000",
        "--egresses",
        "0",
        "--pools",
        "0",
        "-o",
        d,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("Pods per node"));
}

#[test]
fn egress_bench_reports_a_replacement_time() {
    let o = antlab(&[
        "bench",
        "egress",
        "--nodes",
        "200",
        "--egresses",
        "40",
        "--pools",
        "4",
        "--runs",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("re-placement of 40 Egresses"), "{out}");
    assert!(out.contains("median"), "{out}");
}
