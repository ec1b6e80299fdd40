//! `antlab traceflow`: Antrea's Traceflow over the scenario's programs,
//! printed as `antctl traceflow` prints it.

mod support {
    pub mod antlab;
}

use support::antlab::antlab;

fn traceflow(args: &[&str]) -> String {
    let mut all = vec!["traceflow", "-s", "scenarios/network-policy.yaml"];
    all.extend_from_slice(args);
    let out = antlab(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_securityops_drop_is_observed_on_the_receiving_node() {
    let yaml = traceflow(&[
        "--at",
        "7s",
        "-S",
        "shop/client",
        "-D",
        "shop/web",
        "-f",
        "tcp,tcp_dst=80",
    ]);
    insta::assert_snapshot!("traceflow_client_to_web_at_7s", yaml);
}

#[test]
fn an_allow_a_reject_and_the_isolation_are_named() {
    // 7 s: the Application Tier Allow lets the guest in.
    let allowed = traceflow(&[
        "--at",
        "7s",
        "-S",
        "shop/guest",
        "-D",
        "shop/web",
        "-f",
        "tcp,tcp_dst=80",
    ]);
    assert!(
        allowed.contains("networkPolicy: AntreaClusterNetworkPolicy:web-allow-visitors\n    networkPolicyRule: allow-visitors"),
        "{allowed}"
    );
    assert!(
        allowed.contains("action: Delivered\n    pod: shop/web"),
        "{allowed}"
    );
    // 11 s: the SecurityOps Pass hands the guest to the NetworkPolicies,
    // which isolate the web Pod.
    let isolated = traceflow(&[
        "--at",
        "11s",
        "-S",
        "shop/guest",
        "-D",
        "shop/web",
        "-f",
        "tcp,tcp_dst=80",
    ]);
    assert!(
        isolated.contains("componentInfo: IngressDefaultRule\n    action: Dropped"),
        "{isolated}"
    );
    // The end: the client's web connection out of the cluster is rejected
    // on its own node, in JSON as well.
    let out = antlab(&[
        "traceflow",
        "-s",
        "scenarios/network-policy.yaml",
        "-S",
        "shop/client",
        "-D",
        "10.200.0.10",
        "-f",
        "tcp,tcp_dst=80",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let obs = &v["results"][0]["observations"];
    let last = &obs[obs.as_array().expect("list").len() - 1];
    assert_eq!(last["action"], "Rejected", "{v}");
    assert_eq!(
        last["networkPolicy"],
        "AntreaNetworkPolicy:shop/no-external-web"
    );
    assert_eq!(last["componentInfo"], "EgressMetric");
}

#[test]
fn a_missing_pod_is_bad_input() {
    let out = antlab(&[
        "traceflow",
        "-s",
        "scenarios/network-policy.yaml",
        "-S",
        "shop/nobody",
        "-D",
        "shop/web",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Pod shop/nobody"));
}

#[test]
fn the_blog_s_egress_is_observed_on_both_nodes() {
    // The blog's ubuntu Pod on node-vm-1, its Egress IP held by node-vm-2.
    let out = antlab(&[
        "traceflow",
        "-s",
        "scenarios/egress-vlan-failover.yaml",
        "--at",
        "3s",
        "-S",
        "egress/ubuntu-20-04-59d474f9df-dv9ms",
        "-D",
        "10.200.0.10",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("utf-8");
    let (first, second) = yaml
        .split_once("- node: k8s-node-vm-2-cl-02")
        .expect("a second node");
    assert!(first.contains("- node: k8s-node-vm-1-cl-02"), "{yaml}");
    assert!(
        first.contains("component: Egress\n    action: ForwardedToEgressNode\n    egressIP: 172.18.181.40\n    egress: egress-vlan\n    egressNode: k8s-node-vm-2-cl-02"),
        "{yaml}"
    );
    assert!(first.contains("tunnelDstIP: 172.18.181.40"), "{yaml}");
    assert!(
        second.contains("component: Egress\n    action: MarkedForSNAT"),
        "{yaml}"
    );
    assert!(second.contains("action: ForwardedOutOfNetwork"), "{yaml}");
}

/// A Traceflow CR applied in a scenario runs when it is applied and keeps
/// its result: `show: traceflow NAME` prints what `antlab traceflow` prints
/// for the same policies (the same engine), under the CR's name. (The CR
/// runs at 8 s before that second's delete of the Drop; the command at 7 s
/// sees the same policies.)
#[test]
fn the_traceflow_cr_shows_what_the_command_prints() {
    let out = antlab(&["run", "scenarios/network-policy.yaml", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let shown = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["kind"] == "show"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("name: client-to-web\n"))
        })
        .expect("show: traceflow client-to-web")["message"]
        .as_str()
        .expect("text")
        .to_string();
    let cli = traceflow(&[
        "--at",
        "7s",
        "-S",
        "shop/client",
        "-D",
        "shop/web",
        "-f",
        "tcp,tcp_src=10000,tcp_dst=80",
    ]);
    let body = |s: &str| {
        s.lines()
            .skip(1)
            .filter(|l| !l.trim_start().starts_with("timestamp:"))
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&shown), body(&cli));
    assert!(shown.contains("networkPolicyRule: drop-clients"), "{shown}");
}

#[test]
fn a_live_traffic_traceflow_is_refused_where_it_is_written() {
    let dir = std::env::temp_dir().join(format!("antlab-tf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        dir.join("live.yaml"),
        "apiVersion: crd.antrea.io/v1beta1\nkind: Traceflow\nmetadata: {name: live}\nspec:\n  liveTraffic: true\n  source: {namespace: shop, pod: client}\n  destination: {namespace: shop, pod: web}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("s.yaml"),
        format!(
            "name: live\ntopology: {root}/topologies/blog-lab.yaml\nuntil: 2s\nsteps:\n  - at: 1s\n    apply: {{file: live.yaml}}\n"
        ),
    )
    .expect("write");
    let s = dir.join("s.yaml");
    let out = antlab(&["run", s.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("live.yaml:5:16: ")
            && err.contains("live-traffic Traceflow (`liveTraffic: true`) is not modelled"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
