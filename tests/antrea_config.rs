//! `antrea-config` through the binary: Antrea's refusals at their place in
//! the file (exit 2, nothing run), `--antrea-version` on run, check, get and
//! `get featuregates`, and `get featuregates -f` without an antrea-config.

use std::process::{Command, Output};

fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn refused(args: &[&str], want: &str) {
    let o = antlab(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "{args:?}: nothing runs on bad input");
}

#[test]
fn antrea_refusals_point_into_the_file_and_nothing_runs() {
    // An inline antrea-config: the value inside the nested block, in the scenario file.
    for cmd in ["run", "check"] {
        refused(
            &[
                cmd,
                "tests/fixtures/antrea-config/inline-max-egress-ips.yaml",
            ],
            "inline-max-egress-ips.yaml:20:36: ConfigMap kube-system/antrea-config, antrea-agent.conf: \
             failed to validate egress config: maxEgressIPsPerNode cannot be greater than 255",
        );
    }
    // From a manifest file applied at 1 s: refused before the run starts.
    refused(
        &["run", "tests/fixtures/antrea-config/file-unknown-gate.yaml"],
        "antrea-config-bgp.yaml:10:7: ConfigMap kube-system/antrea-config, antrea-agent.conf: \
         unrecognized feature gate: BGPPolicy (Antrea v1.15.1 has no such gate; it was added in v2.1.0)",
    );
    // The blog's first proxyAll ConfigMap, verbatim: data values must be strings.
    refused(
        &[
            "get",
            "featuregates",
            "-f",
            "sim-core/src/k8s/testdata/blog-4-antrea-config-proxyall-mapping.yaml",
        ],
        "blog-4-antrea-config-proxyall-mapping.yaml:8:7: ConfigMap kube-system/antrea-config: \
         data.antreaProxy is not a string",
    );
}

#[test]
fn antrea_version_selects_gates_and_is_checked() {
    let ok = antlab(&[
        "check",
        "tests/fixtures/antrea-config/file-unknown-gate.yaml",
        "--antrea-version",
        "v2.1.0",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    refused(
        &[
            "check",
            "scenarios/l7-flow-export.yaml",
            "--antrea-version",
            "v2.6.0",
        ],
        "antrea-config-l7.yaml:15:7: ConfigMap kube-system/antrea-config, antrea-agent.conf: \
         unrecognized feature gate: L7FlowExporter (Antrea v2.6.0 has no such gate; it was removed in v2.6.0)",
    );
    refused(
        &["get", "featuregates", "--antrea-version", "v2.8.0"],
        "--antrea-version: antlab does not model Antrea v2.8.0",
    );
    refused(
        &[
            "run",
            "scenarios/blog-pod-ping.yaml",
            "--antrea-version",
            "1.15",
        ],
        "--antrea-version: `1.15` is not an Antrea release",
    );
    let v21 = stdout(&antlab(&[
        "get",
        "featuregates",
        "--antrea-version",
        "v2.1.0",
    ]));
    assert!(
        v21.contains("BGPPolicy                       Disabled     ALPHA"),
        "{v21}"
    );
    assert!(
        v21.contains("CleanupStaleUDPSvcConntrack     Enabled      BETA"),
        "{v21}"
    );
    let v115 = stdout(&antlab(&["get", "featuregates"]));
    assert!(!v115.contains("BGPPolicy"), "{v115}");
    let with_file = antlab(&[
        "get",
        "featuregates",
        "-f",
        "tests/fixtures/antrea-config/antrea-config-bgp.yaml",
        "--antrea-version",
        "v2.1.0",
    ]);
    assert_eq!(with_file.status.code(), Some(0), "{}", stderr(&with_file));
    assert!(
        stdout(&with_file).contains("BGPPolicy                       Enabled      ALPHA"),
        "{}",
        stdout(&with_file)
    );
}

#[test]
fn v2_1_proxy_all_precedence_follows_the_version() {
    // The shipped scenario models v2.1.0 (options.antreaVersion).
    let v21 = antlab(&["run", "scenarios/proxyall-with-kube-proxy.yaml"]);
    assert_eq!(v21.status.code(), Some(0), "{}", stdout(&v21));
    // --antrea-version overrides it: before v2.1 kube-proxy keeps NodePorts.
    let v20 = antlab(&[
        "run",
        "scenarios/proxyall-with-kube-proxy.yaml",
        "--antrea-version",
        "v2.0.1",
    ]);
    assert_eq!(v20.status.code(), Some(1));
    let out = stdout(&v20);
    assert!(out.contains("modelling Antrea v2.0.1"), "{out}");
    assert!(
        out.contains("expect FAIL probe ext-to-nodeport: last ok, load-balanced by AntreaProxy; but it was kube-proxy (iptables)"),
        "{out}"
    );
    // `get` takes it too.
    let probes = antlab(&[
        "get",
        "probes",
        "-s",
        "scenarios/proxyall-with-kube-proxy.yaml",
        "--antrea-version",
        "v2.0.1",
    ]);
    assert_eq!(probes.status.code(), Some(0), "{}", stderr(&probes));
}

#[test]
fn an_unknown_key_stops_v1_15_and_is_a_logged_warning_from_v2_0() {
    refused(
        &["run", "tests/fixtures/antrea-config/unknown-key.yaml"],
        "unknown-key.yaml:18:15: ConfigMap kube-system/antrea-config, antrea-agent.conf: \
         field maxEgressIpsPerNode not found in type agent.EgressConfig (did you mean maxEgressIPsPerNode?)",
    );
    let o = antlab(&[
        "run",
        "tests/fixtures/antrea-config/unknown-key.yaml",
        "--antrea-version",
        "v2.0.0",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains(
            "warn   tests/fixtures/antrea-config/unknown-key.yaml:18:15: ConfigMap kube-system/antrea-config, \
             antrea-agent.conf: field maxEgressIpsPerNode not found in type agent.EgressConfig"
        ),
        "{out}"
    );
    assert!(out.contains("Antrea v2.0.0 ignores it"), "{out}");
}

#[test]
fn featuregates_says_when_the_file_has_no_antrea_config() {
    refused(
        &[
            "get",
            "featuregates",
            "-f",
            "scenarios/manifests/yelb-ui.yaml",
        ],
        "scenarios/manifests/yelb-ui.yaml:1:1: no ConfigMap kube-system/antrea-config in this file; \
         antctl reads the feature gates from it",
    );
}

#[test]
fn except_cidrs_and_max_egress_ips_take_effect_in_the_shipped_scenario() {
    let o = antlab(&["run", "scenarios/egress-agent-options.yaml"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "expect PASS probe ping-firewall: last ok, destination saw source 10.160.1.25"
        ),
        "{out}"
    );
    assert!(
        out.contains("expect PASS Egress egress-other on k8s-node-vm-3-cl-02, IP 172.18.181.43"),
        "{out}"
    );
}
