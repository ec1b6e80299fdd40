//! The bad-input corpus (`tests/fixtures/bad/`): one CLI run per file. Each must exit
//! 2 with `error: file:line:column: message`, print nothing on stdout, never panic,
//! and never echo the file's content (no line of the file appears in the message).

// The wall clock only bounds how long a refusal may take (a FIFO must not block).
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DIR: &str = "tests/fixtures/bad";

fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}

/// Runs `args` and checks the contract; `at` is the `file:line:column` prefix (or
/// just the file), `message` a part of what follows.
#[track_caller]
fn refused(args: &[&str], at: &str, message: &str) -> String {
    let o = antlab(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let want = format!("error: {at}");
    assert!(err.starts_with(&want), "expected `{want}` first in: {err}");
    assert!(err.contains(message), "expected `{message}` in: {err}");
    for arg in args.iter().filter(|a| a.starts_with(DIR)) {
        assert_no_line_echoed(arg, &err);
    }
    err
}

/// No line of the file (trimmed, 16 characters or more) appears in the message.
#[track_caller]
fn assert_no_line_echoed(file: &str, err: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let Ok(bytes) = std::fs::read(&path) else {
        return; // a directory
    };
    for line in String::from_utf8_lossy(&bytes).lines() {
        let line = line.trim();
        if line.len() >= 16 && !line.starts_with("topology:") {
            assert!(
                !err.contains(line),
                "{file}: the line `{line}` is echoed in: {err}"
            );
        }
    }
}

fn f(name: &str) -> String {
    format!("{DIR}/{name}")
}

#[test]
fn topology_that_is_not_yaml_is_not_shown() {
    let err = refused(
        &["run", &f("scenario-topology-not-yaml.yaml")],
        &format!("{DIR}/not-yaml-secret.txt:1:1: "),
        "unknown field (the file is not shown",
    );
    assert!(
        !err.contains("SeCrEtHaSh") && !err.contains("root:"),
        "{err}"
    );
    assert_no_line_echoed(&f("not-yaml-secret.txt"), &err);
}

#[test]
fn topology_dev_zero_is_refused_at_once() {
    let t = Instant::now();
    refused(
        &["run", &f("scenario-topology-dev-zero.yaml")],
        &format!("{DIR}/scenario-topology-dev-zero.yaml:2:11: "),
        "cannot read topology: /dev/zero: is a character device, not a regular file",
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = std::env::temp_dir().join(format!("antlab-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("topo.yaml");
    // mkfifo is coreutils: every machine that runs the suite has it.
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
    let scn = dir.join("scn.yaml");
    std::fs::write(&scn, "name: fifo\ntopology: topo.yaml\nsteps: []\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(["check", scn.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("antlab blocked on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("scn.yaml:2:11: cannot read topology:"),
        "{err}"
    );
    assert!(
        err.contains("is a FIFO (named pipe), not a regular file"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_on_the_command_line() {
    refused(
        &["what-if", "-f", DIR],
        &format!("{DIR}: "),
        "is a directory, not a file",
    );
}

#[test]
fn duplicate_key_in_antlabs_words() {
    let err = refused(
        &["run", &f("scenario-duplicate-key.yaml")],
        &format!("{DIR}/scenario-duplicate-key.yaml:3:1: "),
        "duplicate key `name`: a mapping names each key once",
    );
    assert!(!err.contains("DuplicateKeyPolicy"), "{err}");
}

#[test]
fn held_by_names_a_node_the_topology_does_not_have() {
    refused(
        &["run", &f("scenario-held-by-unknown-node.yaml")],
        &format!("{DIR}/scenario-held-by-unknown-node.yaml:7:36: "),
        "`k8s-node-vm-9` is not a Kubernetes node of the topology",
    );
}

#[test]
fn negative_until() {
    refused(
        &["run", &f("scenario-until-negative.yaml")],
        &format!("{DIR}/scenario-until-negative.yaml:3:8: "),
        "duration `-5s` is negative",
    );
}

#[test]
fn ping_size_past_an_ipv4_packet() {
    refused(
        &["run", &f("scenario-ping-size-huge.yaml")],
        &format!("{DIR}/scenario-ping-size-huge.yaml:6:61: "),
        "a ping's `size` is at most 65507 bytes",
    );
}

#[test]
fn size_on_a_tcp_probe() {
    refused(
        &["check", &f("scenario-tcp-size.yaml")],
        &format!("{DIR}/scenario-tcp-size.yaml:6:12: "),
        "`size` is only for `kind: ping`",
    );
}

#[test]
fn overflowing_until() {
    refused(
        &["run", &f("scenario-until-huge.yaml")],
        &format!("{DIR}/scenario-until-huge.yaml:3:8: "),
        "duration `999999999999h` is too large",
    );
}

#[test]
fn two_documents_in_a_scenario() {
    refused(
        &["check", &f("scenario-two-documents.yaml")],
        &format!("{DIR}/scenario-two-documents.yaml:5:1: "),
        "more than one YAML document",
    );
}

#[test]
fn unknown_manifest_field_in_a_scenario() {
    refused(
        &["run", &f("scenario-manifest-unknown-field.yaml")],
        &format!("{DIR}/scenario-manifest-unknown-field.yaml:15:11: "),
        "strict decoding error: unknown field \"spec.subnetinfo\" (did you mean \"subnetInfo\"?)",
    );
}

#[test]
fn unknown_pod_field_in_a_scenario() {
    refused(
        &["check", &f("scenario-pod-unknown-field.yaml")],
        &format!("{DIR}/scenario-pod-unknown-field.yaml:17:13: "),
        "strict decoding error: unknown field \"spec.containers[0].imagePullPolcy\"",
    );
}

#[test]
fn label_value_that_is_a_number() {
    refused(
        &["run", &f("scenario-label-number.yaml")],
        &format!("{DIR}/scenario-label-number.yaml:12:19: "),
        "metadata.labels.tier: expected a string, found a number (quote it",
    );
}

#[test]
fn pool_prefix_length_refused_by_antreas_webhook() {
    refused(
        &["run", &f("scenario-pool-prefix-length.yaml")],
        &format!("{DIR}/scenario-pool-prefix-length.yaml:7:9: "),
        "invalid prefixLength 40",
    );
}

#[test]
fn egress_bandwidth_refused_by_antreas_webhook() {
    refused(
        &["run", &f("scenario-egress-bandwidth.yaml")],
        &format!("{DIR}/scenario-egress-bandwidth.yaml:16:9: "),
        "Rate 500A in Egress shaped is invalid: quantities must match the regular expression",
    );
}

#[test]
fn what_if_unknown_field_in_a_list_item() {
    refused(
        &["what-if", "-f", &f("whatif-unknown-field.yaml")],
        &format!("{DIR}/whatif-unknown-field.yaml:12:5: "),
        "strict decoding error: unknown field \"spec.egresIP\" (did you mean \"egressIP\"?)",
    );
}

#[test]
fn what_if_items_that_are_not_a_list() {
    refused(
        &["what-if", "-f", &f("whatif-items-not-a-list.yaml")],
        &format!("{DIR}/whatif-items-not-a-list.yaml:3:8: "),
        "items of a List must be a list of Kubernetes objects, found a number",
    );
}

#[test]
fn what_if_duplicate_names() {
    refused(
        &["what-if", "-f", &f("whatif-duplicate-names.yaml")],
        &format!("{DIR}/whatif-duplicate-names.yaml:8:3: "),
        "Node node-a is already in the input",
    );
}

#[test]
fn what_if_bad_ip_in_a_json_list() {
    refused(
        &["what-if", "-f", &f("whatif-bad-ip.json")],
        &format!("{DIR}/whatif-bad-ip.json:14:29: "),
        "spec.egressIP in body must be of type ipv4: \"10.0.0.300\"",
    );
}

#[test]
fn what_if_truncated_json() {
    refused(
        &["what-if", "-f", &f("whatif-truncated.json")],
        &format!("{DIR}/whatif-truncated.json:7:25: "),
        "YAML syntax error: unclosed bracket",
    );
}

#[test]
fn what_if_file_that_is_not_utf8() {
    refused(
        &["what-if", "-f", &f("whatif-not-utf8.yaml")],
        &format!("{DIR}/whatif-not-utf8.yaml:4:9: "),
        "is not UTF-8 text",
    );
}

#[test]
fn deep_nesting_in_antlabs_words() {
    let err = refused(
        &["what-if", "-f", &f("whatif-deep-nesting.yaml")],
        &format!("{DIR}/whatif-deep-nesting.yaml:5:"),
        "the YAML nests deeper than 64 levels",
    );
    assert!(!err.contains("budget") && !err.contains("Depth {"), "{err}");
}

#[test]
fn alias_bomb_in_antlabs_words() {
    let err = refused(
        &["what-if", "-f", &f("whatif-alias-bomb.yaml")],
        &format!("{DIR}/whatif-alias-bomb.yaml:"),
        "YAML anchors and aliases (`&name`, `*name`) expand to more than antlab reads",
    );
    assert!(!err.contains("budget breached"), "{err}");
}
