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
    refused(
        &["-S", "shop/nobody", "-D", "shop/web"],
        "no Pod shop/nobody",
    );
}

/// `antlab traceflow` on network-policy.yaml with `args` exits 2 with
/// `needle` in its message.
fn refused(args: &[&str], needle: &str) {
    let mut all = vec!["traceflow", "-s", "scenarios/network-policy.yaml"];
    all.extend_from_slice(args);
    let out = antlab(&all);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
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

/// The shown results of a run's `show: traceflow NAME`, by name.
fn shown_traceflow(run: &str, name: &str) -> String {
    run.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "show")
        .filter_map(|v| v["message"].as_str().map(str::to_string))
        .find(|m| m.starts_with(&format!("name: {name}\n")))
        .map(|m| format!("{}\n", m.trim_end()))
        .unwrap_or_else(|| panic!("no show of {name}: {run}"))
}

fn run_json(path: &str) -> String {
    let out = antlab(&["run", path, "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Live traffic in network-policy.yaml: the droppedOnly Traceflow catches
/// the client probe's next SYN where the SecurityOps Drop takes it (only
/// that node reports), and the plain one, once the Drop is gone, follows
/// the next SYN across both nodes to the web Pod; both carry the packet
/// they caught, a probe SYN from Linux's ephemeral range to port 80.
#[test]
fn live_traffic_traceflows_catch_the_probe_s_own_connections() {
    let run = run_json("scenarios/network-policy.yaml");
    let dropped = shown_traceflow(&run, "client-web-live-dropped");
    let (head, results) = dropped.split_once("results:\n").expect("results");
    assert!(head.contains("phase: Succeeded\n"), "{dropped}");
    assert_eq!(results.matches("- node: ").count(), 1, "{dropped}");
    assert!(
        results.starts_with("- node: k8s-node-vm-1-cl-02\n  timestamp: 7\n"),
        "{dropped}"
    );
    assert!(
        results.contains("  - component: Forwarding\n    action: Received\n  - component: NetworkPolicy\n    componentInfo: IngressMetric\n    action: Dropped\n    networkPolicy: AntreaClusterNetworkPolicy:quarantine-clients\n    networkPolicyRule: drop-clients\n"),
        "{dropped}"
    );
    let port = |text: &str| -> u16 {
        text.split("srcPort: ")
            .nth(1)
            .and_then(|r| r.lines().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no srcPort: {text}"))
    };
    for text in [&dropped, &shown_traceflow(&run, "client-web-live")] {
        assert!(
            text.contains("dstPort: 80\n      flags: 2\n"),
            "a SYN: {text}"
        );
        assert!(port(text) >= 32768, "{text}");
    }
    let live = shown_traceflow(&run, "client-web-live");
    let nodes: Vec<&str> = live
        .lines()
        .filter_map(|l| l.strip_prefix("- node: "))
        .collect();
    assert_eq!(
        nodes,
        ["k8s-node-vm-2-cl-02", "k8s-node-vm-1-cl-02"],
        "{live}"
    );
    assert!(live.contains("  - component: SpoofGuard\n"), "{live}");
    assert!(
        live.contains("networkPolicyRule: allow-visitors\n")
            && live.ends_with("action: Delivered\n    pod: shop/web\n"),
        "{live}"
    );
    // Caught after it was applied (9 s), not before.
    assert!(port(&live) > port(&dropped), "{live}");
}

/// A live Traceflow with only a destination Pod is reported by that Pod's
/// node alone; one that nothing matches fails at its timeout with Antrea's
/// reason; a deleted one catches nothing more.
#[test]
fn a_live_traceflow_reports_from_the_receiver_or_times_out() {
    let dir = std::env::temp_dir().join(format!("antlab-tf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let root = env!("CARGO_MANIFEST_DIR");
    let tf = |name: &str, spec: &str| {
        format!(
            "---\napiVersion: crd.antrea.io/v1beta1\nkind: Traceflow\nmetadata: {{name: {name}}}\nspec:\n  liveTraffic: true\n{spec}"
        )
    };
    std::fs::write(
        dir.join("live.yaml"),
        [
            tf(
                "to-web",
                "  destination: {namespace: shop, pod: web}\n  packet: {transportHeader: {tcp: {dstPort: 80}}}\n",
            ),
            tf(
                "nobody",
                "  source: {namespace: shop, pod: client}\n  destination: {ip: 192.0.2.1}\n  timeout: 2\n",
            ),
            tf(
                "deleted",
                "  source: {namespace: shop, pod: guest}\n  destination: {namespace: shop, pod: web}\n",
            ),
        ]
        .concat(),
    )
    .expect("write");
    std::fs::write(
        dir.join("deleted.yaml"),
        tf(
            "deleted",
            "  source: {namespace: shop, pod: guest}\n  destination: {namespace: shop, pod: web}\n",
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("s.yaml"),
        format!(
            "name: live\ntopology: {root}/topologies/blog-lab.yaml\nuntil: 5s\nsteps:\n  - at: 0s\n    apply: {{file: {root}/scenarios/manifests/shop.yaml}}\n  - at: 1s\n    apply: {{file: live.yaml}}\n  - at: 1s\n    delete: {{file: deleted.yaml}}\n  - at: 2s\n    probe: {{name: guest-web, from: pod/shop/guest, to: pod/shop/web, kind: tcp, port: 80, interval: 250ms, timeout: 500ms}}\n  - at: 4s\n    show: traceflow to-web\n  - at: 4s\n    show: traceflow nobody\n  - at: 4s\n    show: traceflows\n"
        ),
    )
    .expect("write");
    let run = run_json(dir.join("s.yaml").to_str().expect("utf-8"));
    let to_web = shown_traceflow(&run, "to-web");
    assert!(to_web.contains("phase: Succeeded\nsource: \n"), "{to_web}");
    assert_eq!(to_web.matches("- node: ").count(), 1, "{to_web}");
    assert!(
        to_web.contains("  - component: Forwarding\n    action: Received\n")
            && !to_web.contains("SpoofGuard")
            && to_web.ends_with("action: Delivered\n    pod: shop/web\n"),
        "{to_web}"
    );
    assert!(
        to_web.contains("timestamp: 2\n"),
        "caught at the probe's start: {to_web}"
    );
    let nobody = shown_traceflow(&run, "nobody");
    assert!(
        nobody.starts_with("name: nobody\nphase: Failed\nreason: Traceflow timeout\n")
            && nobody.ends_with("results:\n"),
        "{nobody}"
    );
    assert!(
        run.contains("Traceflow nobody Failed: Traceflow timeout"),
        "{run}"
    );
    assert!(
        !run.contains("Traceflow deleted Succeeded")
            && !run.contains("Traceflow deleted: packet-in"),
        "{run}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `antlab traceflow -L`: the scenario runs to --at and the next matching
/// connection is traced; one nothing matches fails at --timeout; an
/// injected packet still needs both ends (exit 2).
#[test]
fn the_command_traces_live_traffic_from_at() {
    let live = traceflow(&[
        "-L",
        "--at",
        "9s",
        "-S",
        "shop/client",
        "-D",
        "shop/web",
        "-f",
        "tcp,tcp_dst=80",
    ]);
    assert!(
        live.starts_with("name: live-traffic\nphase: Succeeded\n"),
        "{live}"
    );
    assert!(
        live.contains("timestamp: 9\n") && live.contains("pod: shop/web"),
        "{live}"
    );
    let out = antlab(&[
        "traceflow",
        "-s",
        "scenarios/network-policy.yaml",
        "-L",
        "--dropped-only",
        "--at",
        "7s",
        "-D",
        "shop/web",
        "-f",
        "tcp,tcp_dst=80",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["phase"], "Succeeded", "{v}");
    assert_eq!(
        v["capturedPacket"]["srcIP"], "10.30.68.2",
        "the client: {v}"
    );
    assert_eq!(v["results"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(
        v["results"][0]["observations"][1]["networkPolicyRule"],
        "drop-clients"
    );
    let none = traceflow(&[
        "-L",
        "--at",
        "14s",
        "-S",
        "shop/client",
        "-D",
        "192.0.2.9",
        "--timeout",
        "1s",
    ]);
    assert!(
        none.starts_with("name: live-traffic\nphase: Failed\nreason: Traceflow timeout\n"),
        "{none}"
    );
    refused(&["-D", "shop/web"], "an injected packet needs -S");
}
