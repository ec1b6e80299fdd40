//! Egress invariants on the whole simulator (memberlist agents, engine,
//! dataplane), under random power failures of the egress-eligible nodes.

use proptest::prelude::*;
use sim_core::scenario::{self, run::RunOptions};
use sim_core::sim::DeviceRt;

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const POOL: &str = include_str!("../../scenarios/manifests/blog-egress-vlan-pool.yaml");
const CONFIG: &str = include_str!("../../scenarios/manifests/blog-antrea-config.yaml");
const POD: &str = include_str!("../../scenarios/manifests/egress-ubuntu-pod.yaml");

const WORKERS: [&str; 3] = [
    "k8s-node-vm-1-cl-02",
    "k8s-node-vm-2-cl-02",
    "k8s-node-vm-3-cl-02",
];

/// `n` Egresses selecting the test Pod, each from the blog's VLAN pool.
fn egresses(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: eg-{i}\nspec:\n  appliedTo:\n    podSelector:\n      matchLabels:\n        app: egress-1\n  externalIPPool: egress-vlan-external-ip-pool\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn scenario(events: &[(u64, usize, bool)]) -> String {
    let mut steps = String::from(
        "  - at: 0s\n    apply: {file: config.yaml}\n  - at: 0s\n    apply: {file: pod.yaml}\n  - at: 0s\n    apply: {file: pool.yaml}\n",
    );
    for w in WORKERS {
        steps.push_str(&format!(
            "  - at: 0s\n    label: {{node: {w}, set: egress-role=egress-node}}\n"
        ));
    }
    steps.push_str("  - at: 1s\n    apply: {file: egresses.yaml}\n");
    for (at, node, on) in events {
        steps.push_str(&format!(
            "  - at: {}s\n    power: {{device: {}, state: {}}}\n",
            at,
            WORKERS[*node],
            if *on { "on" } else { "off" }
        ));
    }
    // 40 s of quiet after the last event: memberlist views converge.
    let last = events.iter().map(|e| e.0).max().unwrap_or(1);
    format!(
        "name: prop\ntopology: lab.yaml\nuntil: {}s\nsteps:\n{steps}",
        last + 40
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Once the views have converged, every Egress IP is on exactly one
    /// powered, eligible node (none only if no eligible node is up), and the
    /// controller never handed one IP to two Egresses; the status names the
    /// node holding the IP.
    #[test]
    fn no_egress_ip_is_owned_twice_once_views_converge(
        n_egress in 1usize..4,
        seed in 0u64..1000,
        raw in proptest::collection::vec((2u64..30, 0usize..3, any::<bool>()), 0..5),
    ) {
        let mut events = raw.clone();
        events.sort();
        let egress_text = egresses(n_egress);
        let text = scenario(&events);
        let mut read = |name: &str| -> Result<(String, String), String> {
            let body = match name {
                "lab.yaml" => TOPOLOGY.to_string(),
                "pool.yaml" => POOL.to_string(),
                "config.yaml" => CONFIG.to_string(),
                "pod.yaml" => POD.to_string(),
                "egresses.yaml" => egress_text.clone(),
                other => return Err(format!("no file {other}")),
            };
            Ok((name.to_string(), body))
        };
        let scn = scenario::load("prop.yaml", &text, &mut read).unwrap();
        let out = scenario::run::run(&scn, seed, &RunOptions::default()).unwrap();
        let ips: Vec<_> = out.cluster.egress.egresses.values().filter_map(|e| e.ip).collect();
        let mut unique = ips.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), ips.len(), "an IP was allocated twice");
        let any_worker_up = WORKERS.iter().any(|w| {
            let id = out.world.device_id(w).unwrap();
            out.world.device(id).powered()
        });
        for ip in &ips {
            let owners: Vec<&str> = out
                .world
                .devices()
                .iter()
                .filter(|d| d.powered())
                .filter(|d| matches!(d, DeviceRt::Host(_)))
                .filter(|d| d.stack().is_some_and(|s| s.is_local(*ip)))
                .map(|d| d.name())
                .collect();
            prop_assert!(owners.len() <= 1, "{ip} is on {:?}", owners);
            if any_worker_up {
                prop_assert_eq!(owners.len(), 1, "{} is on no node although a worker is up", ip);
                prop_assert!(WORKERS.contains(&owners[0]), "{} is on a non-eligible node {}", ip, owners[0]);
            }
        }
        // The status the agents wrote agrees with the dataplane once views
        // have converged: the node holding the IP, or no node at all.
        for (name, e) in &out.cluster.egress.egresses {
            let Some(ip) = e.ip else { continue };
            let holder = out
                .world
                .devices()
                .iter()
                .filter(|d| d.powered() && matches!(d, DeviceRt::Host(_)))
                .find(|d| d.stack().is_some_and(|s| s.is_local(ip)))
                .map(|d| d.name().to_string());
            prop_assert_eq!(&e.status.egress_node, &holder, "status of {}", name);
            prop_assert_eq!(e.status.egress_ip, holder.as_ref().map(|_| ip), "status IP of {}", name);
        }
    }
}
