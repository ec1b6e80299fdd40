//! `antlab check` accepts nothing that `antlab run` then refuses: over the
//! bad-input corpus (`tests/fixtures/bad/scenario-*.yaml`, whoever adds to
//! it), whenever check says ok, run does not exit 2; every fixture there is
//! in fact refused by check, with the same message run gives, and run
//! prints nothing on stdout before refusing.

use std::path::Path;
use std::process::{Command, Output};

fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("scenario-") && n.ends_with(".yaml"))
        .map(|n| format!("tests/fixtures/bad/{n}"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "the corpus is there");
    v
}

#[test]
fn whatever_check_accepts_run_does_not_refuse() {
    for f in corpus() {
        let check = antlab(&["check", &f]);
        let run = antlab(&["run", &f]);
        let (c, r) = (check.status.code(), run.status.code());
        let (cerr, rerr) = (
            String::from_utf8_lossy(&check.stderr),
            String::from_utf8_lossy(&run.stderr),
        );
        if c == Some(0) {
            assert_ne!(r, Some(2), "check accepted {f}, run refused it:\n{rerr}");
        }
        assert_eq!(c, Some(2), "{f} is bad input, yet check said:\n{cerr}");
        assert_eq!(r, Some(2), "{f}: run");
        assert_eq!(cerr, rerr, "{f}: check and run say the same");
        // The position is in the scenario or in a file it names.
        assert!(
            cerr.starts_with("error: tests/fixtures/bad/") || cerr.contains(".yaml:"),
            "{cerr}"
        );
        assert!(run.stdout.is_empty(), "{f}: run printed before refusing");
        assert!(!cerr.contains("panicked"), "{cerr}");
    }
}

#[test]
fn every_shipped_scenario_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        let f = format!("scenarios/{name}");
        let o = antlab(&["check", &f]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains(": ok (") && out.contains(" MiB a run may take)"),
            "{out}"
        );
    }
}

#[test]
fn every_bad_topology_is_refused_at_a_position() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("topo-") && name.ends_with(".yaml")) {
            continue;
        }
        n += 1;
        let f = format!("tests/fixtures/bad/{name}");
        let o = antlab(&["topology", "show", &f]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{f}: {err}");
        assert!(err.starts_with(&format!("error: {f}:")), "{f}: {err}");
        assert!(o.stdout.is_empty());
    }
    assert!(n >= 6);
    let o = antlab(&["topology", "show", "tests/fixtures/bad/topo-l2-loop.yaml"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "topo-l2-loop.yaml:15:28: layer-2 loop on VLAN 216: c/a -> a/c, a/b -> b/a, b/c -> c/b"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
