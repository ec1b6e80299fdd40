//! Service invariants on the whole simulator: whatever the proxy setup and
//! wherever the client and the endpoints are, a connection to a Service
//! address is answered by one of its endpoints and the reply reaches the
//! client from the address it connected to (conntrack undid every NAT).

use proptest::prelude::*;
use sim_core::scenario::{self, run::RunOptions};

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const WORKERS: [&str; 3] = [
    "k8s-node-vm-1-cl-02",
    "k8s-node-vm-2-cl-02",
    "k8s-node-vm-3-cl-02",
];
const NODE_IPS: [&str; 3] = ["10.160.1.25", "10.160.1.26", "10.160.1.27"];

fn manifests(endpoint_nodes: &[usize], affinity: bool) -> String {
    let mut docs = vec!["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n".to_string()];
    for (i, n) in endpoint_nodes.iter().enumerate() {
        docs.push(format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-{i}\n  namespace: app\n  labels: {{app: web}}\nspec:\n  nodeName: {}\n  containers:\n  - name: web\n    ports:\n    - containerPort: 8080\n",
            WORKERS[*n]
        ));
    }
    docs.push("apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\n  namespace: app\n  labels: {app: client}\nspec:\n  nodeName: k8s-node-vm-1-cl-02\n  containers:\n  - name: c\n".into());
    let aff = if affinity {
        "  sessionAffinity: ClientIP\n"
    } else {
        ""
    };
    docs.push(format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: app\nspec:\n  type: NodePort\n  clusterIP: 10.30.20.20\n{aff}  selector: {{app: web}}\n  ports:\n  - port: 80\n    targetPort: 8080\n    nodePort: 31000\n"
    ));
    docs.join("---\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn service_connections_are_answered_by_an_endpoint_from_the_vip(
        endpoint_nodes in proptest::collection::vec(0usize..3, 1..4),
        proxy in prop_oneof![Just("iptables"), Just("ipvs"), Just("ipvs-strict-arp"), Just("none")],
        client in 0usize..3,
        affinity in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let text_manifests = manifests(&endpoint_nodes, affinity);
        let proxy_all = proxy == "none";
        let config = if proxy_all {
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: antrea-config\n  namespace: kube-system\ndata:\n  antrea-agent.conf: |\n    antreaProxy:\n      proxyAll: true\n"
        } else {
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\n  namespace: default\ndata: {}\n"
        };
        // 0: a Pod to the ClusterIP; 1: a node to the ClusterIP; 2: the external VM to a NodePort.
        let (from, to, port) = match client {
            0 => ("pod/app/client".to_string(), "10.30.20.20".to_string(), 80),
            1 => (WORKERS[2].to_string(), "10.30.20.20".to_string(), 80),
            _ => ("ext-vm".to_string(), NODE_IPS[endpoint_nodes[0]].to_string(), 31000),
        };
        let text = format!(
            "name: svc-prop\ntopology: lab.yaml\nuntil: 8s\noptions:\n  kubeProxy: {proxy}\nsteps:\n  - at: 0s\n    apply: {{file: config.yaml}}\n  - at: 0s\n    apply: {{file: app.yaml}}\n  - at: 1s\n    probe: {{name: p, from: {from}, to: {to}, kind: tcp, port: {port}, interval: 250ms}}\n"
        );
        let mut read = |name: &str| -> Result<(String, String), String> {
            match name {
                "lab.yaml" => Ok((name.into(), TOPOLOGY.into())),
                "app.yaml" => Ok((name.into(), text_manifests.clone())),
                "config.yaml" => Ok((name.into(), config.into())),
                other => Err(format!("no file {other}")),
            }
        };
        let scn = scenario::load("prop.yaml", &text, &mut read).unwrap();
        let out = scenario::run::run(&scn, seed, &RunOptions::default()).unwrap();
        let probe = out.world.probe("p").unwrap();
        let endpoints: Vec<String> = (0..endpoint_nodes.len()).map(|i| format!("app/web-{i}")).collect();
        let finished: Vec<_> = probe.attempts().iter().filter(|a| a.verdict != sim_core::sim::probe::Verdict::Pending).collect();
        prop_assert!(finished.len() >= 20);
        for a in &finished {
            // ok() also means the reply came from `to`: the probe fails otherwise.
            prop_assert!(a.ok(), "attempt {} failed: {:?}\n{:#?}", a.seq, a.verdict, a.path);
            let by = a.seen_by.clone().unwrap_or_default();
            prop_assert!(endpoints.contains(&by), "answered by {} (endpoints {:?})", by, endpoints);
        }
        if affinity {
            let answered: std::collections::BTreeSet<_> = finished.iter().filter_map(|a| a.seen_by.clone()).collect();
            prop_assert_eq!(answered.len(), 1, "ClientIP affinity pins one client to one endpoint");
        }
    }
}
