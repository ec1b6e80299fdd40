//! `antlab tui` in a real terminal: runs the binary inside a detached 80x24
//! tmux session, sends keys, and reads the screen back with `capture-pane`.
//! Needs tmux: ignored (with the reason) unless run with --include-ignored,
//! as CI does after installing it (see `needs.rs`).

use std::process::{Command, Output};
use std::thread::sleep;
use std::time::Duration;

#[path = "../sim-core/tests/support/needs.rs"]
mod needs;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "tui"]).stdout).into_owned()
    }
    /// Polls the screen until `pred` holds (the binary needs a moment to
    /// simulate before it draws); returns the last screen either way.
    fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        let mut screen = String::new();
        for _ in 0..150 {
            screen = self.screen();
            if pred(&screen) {
                break;
            }
            sleep(Duration::from_millis(100));
        }
        screen
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }
    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "tui"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn tmux_is_here_under_ci() {
    needs::guard("tmux", needs::missing_tmux());
}

#[test]
#[ignore = "needs tmux (apt-get install tmux); run with --include-ignored, as CI does"]
fn tui_in_tmux_plays_the_failover_and_quits() {
    needs::require(needs::missing_tmux());
    let tmux = Tmux {
        socket: format!("antlab-test-{}", std::process::id()),
    };
    let cmd = format!(
        "cd '{}' && '{}' tui scenarios/egress-vlan-failover.yaml",
        env!("CARGO_MANIFEST_DIR"),
        env!("CARGO_BIN_EXE_antlab")
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    let first = tmux.wait_for(|s| s.contains("Topology") && s.contains("t=0.000s"));
    assert!(first.contains("egress-vlan-failover"), "{first}");
    assert!(first.contains("1:Topology"), "tab bar: {first}");
    assert!(first.contains("k8s-node-vm-2-cl-02"), "{first}");
    assert!(first.contains("vmbr0"), "{first}");

    // Twelve one-second steps: vm-2 has lost power at 10 s.
    for _ in 0..12 {
        tmux.keys(&["s"]);
    }
    let later = tmux.wait_for(|s| s.contains("t=12.000s"));
    assert!(later.contains("t=12.000s"), "{later}");
    assert!(
        later.contains("○ k8s-node-vm-2-cl-02 worker OFF"),
        "vm-2 shown off: {later}"
    );

    // The help overlay, closed by any key; then the Probes tab.
    tmux.keys(&["?"]);
    let help = tmux.wait_for(|s| s.contains("Help"));
    assert!(help.contains("play / pause"), "{help}");
    tmux.keys(&["x", "5"]);
    // Wait for the pane itself: the topology tab's event lines also name
    // ping-ext, and may be on screen before `5` is handled.
    let probes = tmux.wait_for(|s| s.contains("Probes (2)") && !s.contains("Help"));
    assert!(probes.contains("Probes (2)"), "{probes}");
    assert!(probes.contains("ping-ext"), "{probes}");

    tmux.keys(&["q"]);
    let mut gone = false;
    for _ in 0..50 {
        if !tmux.alive() {
            gone = true;
            break;
        }
        sleep(Duration::from_millis(100));
    }
    assert!(gone, "the session ends after q: {}", tmux.screen());
}
