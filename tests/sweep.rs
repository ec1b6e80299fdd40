//! `antlab sweep` end to end: the blog's Egress failover swept over every
//! node (node-vm-2's loss moves the Egress to node-vm-1, its outage split),
//! shards merged back into the one-machine output byte for byte, the
//! thread count changing nothing, and bad input refused at its place.

use std::path::PathBuf;

mod support {
    pub mod antlab;
}
use support::antlab::antlab;

const FAILOVER: &str = "scenarios/egress-vlan-failover.yaml";

/// stdout of a run that must succeed.
fn ok(args: &[&str]) -> String {
    let o = antlab(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

/// stderr of a run that must fail with exit code 2.
fn refused(args: &[&str]) -> String {
    let o = antlab(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}");
    String::from_utf8(o.stderr).expect("utf-8")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn each_node_shows_node_vm_2_s_loss_moving_the_egress_to_node_vm_1() {
    let table = ok(&["sweep", FAILOVER, "--fail", "each-node"]);
    insta::assert_snapshot!("egress_vlan_failover_each_node", table);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 7, "a header and six nodes:\n{table}");
    let vm2 = lines
        .iter()
        .find(|l| l.starts_with("power k8s-node-vm-2-cl-02 "))
        .expect("node-vm-2's row");
    assert!(
        vm2.contains(
            "egress egress-vlan 172.18.181.40: k8s-node-vm-2-cl-02 -> k8s-node-vm-1-cl-02"
        ),
        "{vm2}"
    );
    // Its outage has all three parts, and its expectations hold (the
    // scenario's own failure).
    let ping = vm2.split("ping-ext ").nth(1).expect("ping-ext's outage");
    let parts: Vec<&str> = ping.split(';').next().unwrap().split(['=', '+']).collect();
    assert_eq!(parts.len(), 4, "{vm2}");
    assert!(parts.iter().all(|p| p.trim() != "-"), "{vm2}");
    assert!(vm2.trim_end().ends_with("11/11"), "{vm2}");
    // A control-plane node's loss breaks no probe and moves nothing.
    let cp = lines
        .iter()
        .find(|l| l.starts_with("power k8s-cp-vm-1-cl-02 "))
        .expect("a control-plane row");
    assert!(cp.contains("ping-ext 0ns; other-pod 0ns"), "{cp}");

    // Worst first: node-vm-1 (the Pods' own node) or node-vm-2 leads.
    let worst = ok(&["sweep", FAILOVER, "--fail", "each-node", "--sort", "worst"]);
    let first = worst.lines().nth(1).expect("a row");
    assert!(first.starts_with("power k8s-node-vm-"), "{worst}");
    assert!(!first.contains(" 0ns "), "{worst}");
}

#[test]
fn shards_merge_into_the_one_machine_sweep_byte_for_byte() {
    let dir = scratch("sweep-shards");
    let args = ["sweep", FAILOVER, "--fail", "each-link", "--seeds", "2"];
    let whole_json = ok(&[&args[..], &["-o", "json"]].concat());
    let whole_table = ok(&args);
    let rows = whole_json.lines().count();
    assert!(rows >= 16, "two seeds per link: {rows}");
    let mut files = Vec::new();
    for i in 0..3 {
        let part = ok(&[&args[..], &["-o", "json", "--shard", &format!("{i}/3")]].concat());
        assert!(part.lines().count() < rows);
        let f = dir.join(format!("part-{i}.json"));
        std::fs::write(&f, part).expect("written");
        files.push(f.display().to_string());
    }
    // Given in any order.
    files.reverse();
    let merge: Vec<&str> = ["sweep", "merge"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    assert_eq!(ok(&[&merge[..], &["-o", "json"]].concat()), whole_json);
    assert_eq!(ok(&merge), whole_table);
    // One thread gives the same rows as every core.
    assert_eq!(ok(&[&args[..], &["--jobs", "1"]].concat()), whole_table);
    // A shard left out is named.
    let e = refused(&merge[..merge.len() - 1]);
    assert!(e.contains("are missing"), "{e}");
    // A shard of another sweep (another seed) is refused.
    let other = dir.join("other.json");
    let part = ok(&[&args[..], &["-o", "json", "--shard", "0/3", "--seed", "9"]].concat());
    std::fs::write(&other, part).expect("written");
    let mut mixed = merge[..merge.len() - 1].to_vec();
    mixed.push(other.to_str().unwrap());
    let e = refused(&mixed);
    assert!(e.contains("from another sweep"), "{e}");
}

#[test]
fn a_failures_file_and_bad_input() {
    let dir = scratch("sweep-files");
    let list = dir.join("failures.yaml");
    std::fs::write(
        &list,
        "- power: k8s-node-vm-2-cl-02\n- link: vmbr0/node-vm-2\n",
    )
    .expect("written");
    let out = ok(&["sweep", FAILOVER, "--fail", list.to_str().unwrap()]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("link vmbr0/node-vm-2 "), "{out}");

    std::fs::write(&list, "- power: k8s-node-vm-2-cl-02\n- power: node-9\n").expect("written");
    let e = refused(&["sweep", FAILOVER, "--fail", list.to_str().unwrap()]);
    assert!(e.contains("failures.yaml:2:10: no device `node-9`"), "{e}");
    let e = refused(&["sweep", FAILOVER, "--fail", "each-rack"]);
    assert!(
        e.contains("not each-node, each-link or each-switch-port"),
        "{e}"
    );
    let e = refused(&["sweep", FAILOVER, "--seeds", "4000000000"]);
    assert!(e.contains("a sweep holds at most 1000000"), "{e}");
    let e = refused(&["sweep", FAILOVER, "--shard", "3/3"]);
    assert!(e.contains("0 <= I < N"), "{e}");
    // A scenario that breaks nothing needs --at.
    let e = refused(&["sweep", "scenarios/clusterip-service.yaml"]);
    assert!(e.contains("marks no failure") && e.contains("--at"), "{e}");
    let out = ok(&[
        "sweep",
        "scenarios/clusterip-service.yaml",
        "--at",
        "2s",
        "--fail",
        "each-node",
    ]);
    assert!(out.lines().count() > 1, "{out}");
    let e = refused(&["sweep", "merge", list.to_str().unwrap()]);
    assert!(e.contains("failures.yaml:1:2: not a sweep row"), "{e}");
}

#[test]
fn plots_are_svg_with_the_failures_and_probes_named() {
    let dir = scratch("sweep-plots");
    let heat = dir.join("sweep.svg");
    ok(&[
        "sweep",
        FAILOVER,
        "--fail",
        "each-node",
        "--plot",
        heat.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&heat).expect("written");
    assert!(svg.starts_with("<svg"), "{svg}");
    for name in [
        "power k8s-node-vm-2-cl-02",
        "power k8s-cp-vm-1-cl-02",
        "ping-ext",
        "other-pod",
    ] {
        assert!(svg.contains(name), "{name}");
    }
    // Six failures, two probes: twelve cells beside the scale and the
    // background.
    assert_eq!(svg.matches("<rect").count(), 12 + 20 + 1);

    let timeline = dir.join("run.svg");
    let o = antlab(&["run", FAILOVER, "--plot", timeline.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let svg = std::fs::read_to_string(&timeline).expect("written");
    assert!(
        svg.contains("power off k8s-node-vm-2-cl-02 at 10.0s"),
        "{svg}"
    );
    assert!(svg.contains("power on k8s-node-vm-2-cl-02"), "{svg}");
    // ping-ext failed for a while after 10 s: red ticks.
    assert!(
        svg.lines()
            .any(|l| l.starts_with("<rect") && l.contains("#C62828"))
    );
    let e = refused(&["run", FAILOVER, "--mode", "real", "--plot", "x.svg"]);
    assert!(e.contains("--plot draws a simulator run"), "{e}");
}

/// The Job `--emit-job` writes is a valid `batch/v1` Indexed Job, and its
/// container's command line, run here once per completion index (with
/// `/lab` where the folder's `lab/` is, as the image puts it), gives the
/// rows a one-machine sweep gives once merged.
#[test]
fn the_emitted_job_s_shards_run_here_and_merge_into_the_sweep() {
    use k8s_openapi::api::batch::v1::Job;
    let dir = scratch("sweep-job");
    let out = ok(&[
        "sweep",
        FAILOVER,
        "--fail",
        "each-node",
        "--emit-job",
        dir.to_str().unwrap(),
        "--shards",
        "4",
    ]);
    assert!(out.contains("4 shards of 6 runs"), "{out}");
    for f in [
        "job.yaml",
        "Dockerfile",
        "README.md",
        "lab/scenarios/egress-vlan-failover.yaml",
        "lab/topologies/blog-lab.yaml",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let text = std::fs::read_to_string(dir.join("job.yaml")).expect("job.yaml");
    let job: Job = serde_saphyr::from_str(&text).expect("a batch/v1 Job");
    let spec = job.spec.expect("spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(4));
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let args = pod.containers[0].args.clone().expect("args");
    assert!(
        args.iter().any(|a| a == "$(JOB_COMPLETION_INDEX)/4"),
        "{args:?}"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README.md");
    assert!(readme.contains("antlab sweep merge"), "{readme}");

    let lab = format!("{}/lab/", dir.display());
    let mut files = Vec::new();
    for i in 0..4 {
        let local: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string())
                    .replacen("/lab/", &lab, 1)
            })
            .collect();
        let local: Vec<&str> = local.iter().map(String::as_str).collect();
        let f = dir.join(format!("shard-{i}.json"));
        std::fs::write(&f, ok(&local)).expect("written");
        files.push(f.display().to_string());
    }
    let mut merge = vec!["sweep", "merge", "-o", "json"];
    merge.extend(files.iter().map(String::as_str));
    assert_eq!(
        ok(&merge),
        ok(&["sweep", FAILOVER, "--fail", "each-node", "-o", "json"])
    );
}
