//! NetworkPolicy audit logging (`enableLogging`): the lines the agents
//! write to np.log, as `antlab run -o json` logs them (kind `audit`).

mod support {
    pub mod antlab;
}

use support::antlab::antlab;

/// (time ns, node, line) of every audit entry of the policy scenario.
fn audit_lines() -> Vec<(u64, String, String)> {
    let out = antlab(&["run", "scenarios/network-policy.yaml", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "audit")
        .map(|v| {
            (
                v["time"].as_u64().expect("time"),
                v["device"].as_str().expect("device").to_string(),
                v["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

#[test]
fn logged_rules_write_antreas_np_log_lines() {
    let lines = audit_lines();
    let node = "k8s-node-vm-1-cl-02";
    // The SecurityOps Drop with its label: a ping has no ports.
    let drop = "AntreaPolicyIngressRule AntreaClusterNetworkPolicy:quarantine-clients drop-clients Ingress Drop 44980 shop/web 10.30.68.2 <nil> 10.30.67.2 <nil> ICMP 40 quarantine";
    assert!(
        lines.iter().any(|(_, n, l)| n == node && l == drop),
        "{lines:#?}"
    );
    // The Application Allow without a label: the first packet (a SYN).
    let allow = lines
        .iter()
        .find(|(_, _, l)| l.contains(" allow-visitors Ingress Allow "))
        .expect("an allowed connection is logged");
    assert!(
        allow.2.starts_with("AntreaPolicyIngressRule AntreaClusterNetworkPolicy:web-allow-visitors allow-visitors Ingress Allow 14500 shop/web ")
            && allow.2.ends_with(" 10.30.67.2 80 TCP 40 <nil>"),
        "{}",
        allow.2
    );
    // Nothing from rules without enableLogging (the Reject, the Pass).
    assert!(
        !lines
            .iter()
            .any(|(_, _, l)| l.contains("Reject") || l.contains("Pass"))
    );
}

#[test]
fn a_drop_is_logged_once_a_second() {
    let lines = audit_lines();
    let drops: Vec<&(u64, String, String)> = lines
        .iter()
        .filter(|(_, _, l)| l.contains(" Drop ") && l.contains(" ICMP "))
        .collect();
    assert!(drops.len() >= 2, "{drops:#?}");
    for w in drops.windows(2) {
        if w[0].2 == w[1].2 {
            assert!(
                w[1].0 - w[0].0 >= 1_000_000_000,
                "the same drop logged twice within 1 s: {w:#?}"
            );
        }
    }
}
