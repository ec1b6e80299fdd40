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
