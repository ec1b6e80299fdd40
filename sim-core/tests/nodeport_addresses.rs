//! A NodePort answers on every host address (`lo`'s 127.0.0.1 and every NIC),
//! not only the node's primary IP, minus the devices Antrea excludes
//! (`cmd/antrea-agent/util.go` `getAvailableNodePortAddresses`, v2.7.0).
//! The same addresses reach the simulator and the engine's dataplane (what
//! real mode renders).

use sim_core::engine;
use sim_core::scenario::{self, run::RunOptions};

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const NODE: &str = "k8s-node-vm-1-cl-02";
/// A second NIC on NODE, on no wire: only the node itself can reach it.
const SECOND_NIC: &str = "192.168.50.25";

/// The blog lab with `eth1` (SECOND_NIC/24) on NODE.
fn topology() -> String {
    let eth0 =
        "      - name: eth0\n        mac: bc:24:11:4a:10:25\n        addresses: [10.160.1.25/24]\n";
    assert!(TOPOLOGY.contains(eth0), "blog-lab.yaml changed");
    TOPOLOGY.replace(
        eth0,
        &format!("{eth0}      - name: eth1\n        mac: bc:24:11:4a:10:99\n        addresses: [{SECOND_NIC}/24]\n"),
    )
}

fn manifests(endpoint_node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: app\n  labels: {{app: web}}\nspec:\n  nodeName: {endpoint_node}\n  containers:\n  - name: web\n    ports:\n    - containerPort: 8080\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: app\nspec:\n  type: NodePort\n  selector: {{app: web}}\n  ports:\n  - port: 80\n    targetPort: 8080\n    nodePort: 31000\n"
    )
}

const PROXY_ALL: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: antrea-config\n  namespace: kube-system\ndata:\n  antrea-agent.conf: |\n    antreaProxy:\n      proxyAll: true\n";

/// Probes NODE's own NodePort on SECOND_NIC and on 127.0.0.1 from NODE.
fn run(kube_proxy: &str, config: &str, endpoint_node: &str) -> scenario::run::Outcome {
    let text = format!(
        "name: nodeport\ntopology: lab.yaml\nuntil: 6s\noptions:\n  kubeProxy: {kube_proxy}\nsteps:\n  - at: 0s\n    apply: {{file: config.yaml}}\n  - at: 0s\n    apply: {{file: app.yaml}}\n  - at: 1s\n    probe: {{name: nic, from: {NODE}, to: {SECOND_NIC}, kind: tcp, port: 31000, interval: 500ms}}\n  - at: 1s\n    probe: {{name: lo, from: {NODE}, to: 127.0.0.1, kind: tcp, port: 31000, interval: 500ms}}\n  - at: 1s\n    probe: {{name: primary, from: {NODE}, to: 10.160.1.25, kind: tcp, port: 31000, interval: 500ms}}\n"
    );
    let topo = topology();
    let app = manifests(endpoint_node);
    let config = config.to_string();
    let mut read = |name: &str| -> Result<(String, String), String> {
        let body = match name {
            "lab.yaml" => topo.clone(),
            "app.yaml" => app.clone(),
            "config.yaml" => config.clone(),
            other => return Err(format!("no file {other}")),
        };
        Ok((name.into(), body))
    };
    let scn = scenario::load("nodeport.yaml", &text, &mut read).expect("valid scenario");
    scenario::run::run(&scn, 1, &RunOptions::default()).expect("runs")
}

/// Every probe's attempts all succeeded, and the last was load-balanced by
/// `by`.
fn assert_answered(out: &scenario::run::Outcome, by: &str) {
    for name in ["nic", "lo", "primary"] {
        let p = out.world.probe(name).unwrap();
        let done: Vec<_> = p
            .attempts()
            .iter()
            .filter(|a| a.verdict != sim_core::sim::probe::Verdict::Pending)
            .collect();
        assert!(done.len() >= 8, "{name}: {} attempts", done.len());
        for a in &done {
            assert!(
                a.ok(),
                "{name} attempt {}: {:?}\n{:#?}",
                a.seq,
                a.verdict,
                a.path
            );
        }
        let last = done.last().unwrap();
        assert!(
            last.path
                .iter()
                .any(|h| h.text.starts_with(&format!("{by}: "))
                    && h.text.contains("Service app/web")),
            "{name} not load-balanced by {by}: {:#?}",
            last.path
        );
    }
}

#[test]
fn antreaproxy_serves_nodeports_on_every_nic_and_localhost() {
    // AntreaProxy alone (proxyAll, no kube-proxy), endpoint on the node.
    let out = run("none", PROXY_ALL, NODE);
    assert_answered(&out, "AntreaProxy");
    // The engine's dataplane lists the same addresses, gateway excluded.
    let dp = engine::compile(&out.cluster).remove(NODE).unwrap();
    let rules = dp.service_rules.expect("Service rules");
    assert_eq!(
        rules.antrea_nodeport_addresses,
        vec![
            "127.0.0.1".parse::<std::net::Ipv4Addr>().unwrap(),
            "10.160.1.25".parse().unwrap(),
            SECOND_NIC.parse().unwrap()
        ]
    );
    // `antlab rules`: a NodePortMark flow per address.
    let flows = engine::proxy::render::render_antrea(&rules);
    for ip in ["127.0.0.1", "10.160.1.25", SECOND_NIC] {
        assert!(
            flows
                .lines()
                .any(|f| f.contains("table=NodePortMark") && f.contains(&format!("nw_dst={ip} "))),
            "no NodePortMark flow for {ip}:\n{flows}"
        );
    }
    assert!(
        !flows.contains("nw_dst=10.30.67.1 "),
        "antrea-gw0 is excluded"
    );
}

#[test]
fn localhost_nodeport_traffic_to_a_remote_endpoint_is_masqueraded() {
    let out = run("none", PROXY_ALL, "k8s-node-vm-2-cl-02");
    assert_answered(&out, "AntreaProxy");
    let lo = out.world.probe("lo").unwrap();
    let last = lo.attempts().iter().rev().find(|a| a.ok()).unwrap();
    assert!(
        last.path
            .iter()
            .any(|h| h.text.starts_with("SNAT 127.0.0.1 -> ")),
        "{:#?}",
        last.path
    );
}

#[test]
fn kube_proxy_serves_nodeports_on_every_nic_and_localhost() {
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\n  namespace: default\ndata: {}\n";
    let out = run("iptables", config, NODE);
    assert_answered(&out, "kube-proxy (iptables)");
}
