//! How the binary's output behaves beyond its content: a closed stdout
//! (`antlab ... | head`) never makes a command panic; a long run streams its
//! timeline while it runs and shows its progress on stderr, never on
//! stdout; `--at` cannot run past a scenario's end.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn antlab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_antlab"));
    c.current_dir(ROOT);
    c
}

/// Runs `args` with stdout a pipe whose reader is already gone, so every
/// write fails with EPIPE; returns the exit code and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = antlab()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("antlab runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn no_command_panics_when_its_reader_is_gone() {
    let gen_dir = scratch("closed-pipe-gen");
    let gen_dir = gen_dir.to_str().unwrap();
    let scn = "scenarios/blog-pod-ping.yaml";
    let svc = "scenarios/kube-proxy-ipvs-strictarp.yaml";
    let cases: &[&[&str]] = &[
        &["run", scn],
        &["run", scn, "-o", "json"],
        &["get", "pods", "-s", scn],
        &["get", "featuregates"],
        &["flows", "scenarios/flow-export.yaml"],
        &["flows", "scenarios/flow-export.yaml", "-o", "json"],
        &["rules", "k8s-node-vm-1-cl-02", "-s", svc],
        &["rules", "--compare", "--services", "20"],
        &[
            "what-if",
            "-f",
            "tests/fixtures/whatif/blog-cluster-list.yaml",
        ],
        &["topology", "show", "topologies/blog-lab.yaml"],
        &["check", scn],
        &[
            "gen",
            "--nodes",
            "4",
            "--pods",
            "8",
            "--services",
            "2",
            "--endpoints-per-service",
            "2",
            "--egresses",
            "1",
            "--pools",
            "1",
            "-o",
            gen_dir,
        ],
        &[
            "bench",
            "des",
            "--population",
            "100",
            "--events",
            "1000",
            "--runs",
            "1",
        ],
        &[
            "bench",
            "egress",
            "--nodes",
            "20",
            "--egresses",
            "5",
            "--pools",
            "1",
            "--runs",
            "1",
        ],
        &["bench", "tui", "--nodes", "4", "--frames", "2"],
    ];
    for args in cases {
        let (code, err) = with_closed_stdout(args);
        assert!(
            !err.contains("panicked"),
            "antlab {args:?} panicked:\n{err}"
        );
        assert_eq!(code, Some(0), "antlab {args:?}: {err}");
    }
}

/// The blog's pod-ping scenario made to last a day of sim time (far longer
/// than any test waits for).
fn day_long_scenario() -> PathBuf {
    let dir = scratch("day-long");
    let root = Path::new(ROOT);
    let text = std::fs::read_to_string(root.join("scenarios/blog-pod-ping.yaml"))
        .unwrap()
        .replace("until: 30s", "until: 24h")
        .replace(
            "../topologies/blog-lab.yaml",
            root.join("topologies/blog-lab.yaml").to_str().unwrap(),
        )
        .replace(
            "manifests/egress-ubuntu-pod.yaml",
            root.join("scenarios/manifests/egress-ubuntu-pod.yaml")
                .to_str()
                .unwrap(),
        );
    assert!(text.contains("until: 24h"));
    let path = dir.join("day.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends each line of `r` down a channel, from a thread.
fn lines_of(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_long_run_streams_its_timeline_and_shows_progress_on_stderr_only() {
    let scn = day_long_scenario();
    let mut child = Killed(
        antlab()
            .args(["run", scn.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines_of(child.0.stdout.take().unwrap());
    let err = lines_of(child.0.stderr.take().unwrap());
    // The first lines arrive while the day is still being simulated.
    let first = out.recv_timeout(Duration::from_secs(120)).unwrap();
    assert!(first.starts_with("antlab: scenario "), "{first}");
    let story: Vec<String> = (0..40)
        .map(|_| out.recv_timeout(Duration::from_secs(120)).unwrap())
        .collect();
    assert!(
        story.iter().any(|l| l.contains("start pod-to-ext")),
        "{story:?}"
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the run is still going"
    );
    // stderr is not a terminal here: after two seconds, a plain line.
    let progress = err.recv_timeout(Duration::from_secs(120)).unwrap();
    assert!(
        progress.starts_with("antlab: simulated ") && progress.contains(" of 24h"),
        "{progress}"
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the run is still going"
    );
    drop(child);
    // Nothing of the progress reached stdout.
    let rest: Vec<String> = out.try_iter().collect();
    assert!(
        story.iter().chain(&rest).all(|l| !l.contains("simulated")),
        "progress on stdout"
    );
}

#[test]
fn at_cannot_go_past_the_end_of_the_scenario() {
    let o = antlab()
        .args([
            "get",
            "pods",
            "-s",
            "scenarios/blog-pod-ping.yaml",
            "--at",
            "31s",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--at 31s is after the end of scenarios/blog-pod-ping.yaml (until 30s)"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    let at_end = antlab()
        .args([
            "get",
            "pods",
            "-s",
            "scenarios/blog-pod-ping.yaml",
            "--at",
            "30s",
        ])
        .output()
        .unwrap();
    assert_eq!(at_end.status.code(), Some(0));
}
