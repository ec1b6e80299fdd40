//! Egress marks and route tables keep their numbers until released, as
//! Antrea's agent allocates them (`idAllocator`,
//! `pkg/agent/controller/egress/egress_controller.go` v2.7.0): a scenario
//! adds and deletes Egresses on one node and reads the numbers the engine
//! gives that node's dataplane (what the simulator and real mode apply).

use sim_core::engine::dataplane::SnatTo;
use sim_core::engine::{self, dataplane::NodeDataplane};
use sim_core::scenario::{self, run::RunOptions};

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const CONFIG: &str = include_str!("../../scenarios/manifests/blog-antrea-config.yaml");
const POD: &str = include_str!("../../scenarios/manifests/egress-ubuntu-pod.yaml");
const POOL: &str = include_str!("../../scenarios/manifests/blog-egress-vlan-pool.yaml");
const NODE: &str = "k8s-node-vm-3-cl-02";

fn egress(name: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: {name}\nspec:\n  appliedTo:\n    podSelector:\n      matchLabels:\n        app: egress-1\n  externalIPPool: egress-vlan-external-ip-pool\n"
    )
}

/// Runs `steps` (after the config, the Pod, the pool and only `NODE`
/// labelled egress-eligible) and returns `NODE`'s desired dataplane.
fn run(steps: &str, until: &str) -> NodeDataplane {
    let text = format!(
        "name: numbering\ntopology: lab.yaml\nuntil: {until}\nsteps:\n  - at: 0s\n    apply: {{file: config.yaml}}\n  - at: 0s\n    apply: {{file: pod.yaml}}\n  - at: 0s\n    apply: {{file: pool.yaml}}\n  - at: 0s\n    label: {{node: {NODE}, set: egress-role=egress-node}}\n{steps}"
    );
    let mut read = |name: &str| -> Result<(String, String), String> {
        let body = match name {
            "lab.yaml" => TOPOLOGY.to_string(),
            "config.yaml" => CONFIG.to_string(),
            "pod.yaml" => POD.to_string(),
            "pool.yaml" => POOL.to_string(),
            other => match other.strip_suffix(".yaml") {
                Some(e) if e.starts_with("eg-") || e.starts_with("zeta") || e == "alpha" => {
                    egress(e)
                }
                _ => return Err(format!("no file {other}")),
            },
        };
        Ok((name.into(), body))
    };
    let scn = scenario::load("numbering.yaml", &text, &mut read).expect("valid scenario");
    let out = scenario::run::run(&scn, 1, &RunOptions::default()).expect("runs");
    engine::compile(&out.cluster).remove(NODE).expect("a node")
}

/// The mark of the first Pod mark rule of `egress`, and the table its
/// `ip rule` looks up.
fn numbers(dp: &NodeDataplane, egress: &str) -> (u32, u32) {
    let mark = dp
        .marks
        .iter()
        .find(|m| m.comment.starts_with(&format!("Egress {egress}:")))
        .unwrap_or_else(|| panic!("no mark for {egress}: {:#?}", dp.marks))
        .mark;
    let table = dp
        .rules
        .iter()
        .find(|r| r.fwmark == Some((mark, 0xff)))
        .unwrap_or_else(|| panic!("no rule for mark {mark}"))
        .table;
    (mark, table)
}

#[test]
fn an_egress_scheduled_first_does_not_renumber_an_older_one() {
    // Both created in second 0: the scheduler orders them by name, so
    // `alpha` comes before `zeta`, but `zeta` took mark 1 first.
    let dp = run(
        "  - at: 0s\n    apply: {file: zeta.yaml}\n  - at: 500ms\n    apply: {file: alpha.yaml}\n",
        "2s",
    );
    assert_eq!(numbers(&dp, "zeta"), (1, 101));
    assert_eq!(numbers(&dp, "alpha"), (2, 101));
}

#[test]
fn a_deleted_egress_frees_its_mark_for_the_next_one_only() {
    let dp = run(
        "  - at: 1s\n    apply: {file: eg-a.yaml}\n  - at: 2s\n    apply: {file: eg-b.yaml}\n  - at: 3s\n    delete: {file: eg-a.yaml}\n  - at: 4s\n    apply: {file: eg-c.yaml}\n",
        "5s",
    );
    // eg-b keeps 2; eg-c gets the 1 eg-a released; both share table 101.
    assert_eq!(numbers(&dp, "eg-b"), (2, 101));
    assert_eq!(numbers(&dp, "eg-c"), (1, 101));
    // The SNAT rule of each IP uses the same mark as its Pods' mark.
    for (egress, ip) in [("eg-b", "172.18.181.41"), ("eg-c", "172.18.181.40")] {
        let (mark, _) = numbers(&dp, egress);
        assert!(
            dp.snat
                .iter()
                .any(|s| s.mark == Some((mark, 0xff)) && s.to == SnatTo::Addr(ip.parse().unwrap())),
            "no SNAT to {ip} for mark {mark}: {:#?}",
            dp.snat
        );
    }
}
