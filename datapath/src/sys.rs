//! Running the Linux tools real mode drives (`ip`, `nft`, `ovs-vsctl`,
//! `ovs-ofctl`, `ethtool`, `arping`).
//!
//! Every call goes through [`run`], so an error always says which command
//! failed and what it printed. Shelling out (instead of netlink) keeps the
//! dependency tree lean and makes every step reproducible by hand: `--verbose`
//! prints the commands.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Unsafe(String),
    #[error("cannot start `{command}`: {source} (is the package installed? see README, real mode)")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
}

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Print every command before it runs (for `--verbose`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

fn show(prog: &str, args: &[&str]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&crate::script::shell_quote(a));
    }
    s
}

/// Runs a command to completion; its stdout on success.
pub fn run(prog: &str, args: &[&str]) -> Result<String, SysError> {
    run_with_input(prog, args, None)
}

/// Runs a command with `input` on its stdin (`nft -f -`, `ip -batch -`,
/// `ovs-ofctl --bundle ... -`).
pub fn run_with_input(prog: &str, args: &[&str], input: Option<&str>) -> Result<String, SysError> {
    let command = show(prog, args);
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("+ {command}");
    }
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SysError::Spawn {
            command: command.clone(),
            source,
        })?;
    if let Some(text) = input
        && let Some(mut stdin) = child.stdin.take()
    {
        // A write error shows up as the command's own failure below.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|source| SysError::Spawn {
        command: command.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(SysError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `prog args` inside network namespace `ns` (`ip netns exec`).
pub fn in_ns(ns: &str, prog: &str, args: &[&str]) -> Result<String, SysError> {
    let mut all = vec!["netns", "exec", ns, prog];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// Starts `prog args` inside network namespace `ns` without waiting for it
/// (output discarded; a thread reaps it). For one-shot probes such as an
/// `arping` whose answers nobody waits for.
pub fn spawn_in_ns(ns: &str, prog: &str, args: &[&str]) {
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", ns, prog])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut c) = child {
        std::thread::spawn(move || c.wait());
    }
}

/// `ip -n NS -batch -`: many `ip` commands in one process (bring-up speed).
pub fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), SysError> {
    if lines.is_empty() {
        return Ok(());
    }
    if let Some(p) = lines
        .iter()
        .find_map(|l| crate::script::ip_batch_line_problem(l))
    {
        return Err(SysError::Unsafe(p));
    }
    let text = lines.join("\n") + "\n";
    match ns {
        Some(ns) => run_with_input("ip", &["-n", ns, "-batch", "-"], Some(&text)),
        None => run_with_input("ip", &["-batch", "-"], Some(&text)),
    }
    .map(|_| ())
}

/// Whether a program can be found on `PATH`.
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
}

/// Effective user id 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// What real mode needs and is missing, in words; empty when all is there.
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces and OVS need CAP_NET_ADMIN; run with sudo)".into());
    }
    for (prog, pkg) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("ovs-vsctl", "openvswitch-switch"),
        ("ovs-vswitchd", "openvswitch-switch"),
        ("ovsdb-server", "openvswitch-switch"),
        ("ovsdb-tool", "openvswitch-switch"),
        ("ovs-ofctl", "openvswitch-switch"),
        ("ethtool", "ethtool"),
        ("ping", "iputils-ping"),
        ("arping", "iputils-arping"),
        ("conntrack", "conntrack"),
    ] {
        let found = have(prog)
            || ["/usr/sbin", "/sbin", "/usr/bin"]
                .iter()
                .any(|d| std::path::Path::new(d).join(prog).is_file());
        if !found {
            missing.push(format!("`{prog}` (apt-get install {pkg})"));
        }
    }
    missing
}
