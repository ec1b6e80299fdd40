//! `antlab real down`: remove everything a run made, from its state file and
//! then by name, so a run that crashed before writing its state still goes.
//!
//! Order matters: processes first (an agent or probe inside a namespace keeps
//! nothing alive, but OVS holds its ports open), then root-namespace links,
//! then namespaces (deleting a namespace deletes its veth ends and so their
//! peers), then the run folder with the OVS database.

use crate::state::{self, Resource, RunState};
use crate::sys;

#[derive(Debug, Default)]
pub struct Cleanup {
    /// What was removed, one line each (`netns al3f2a-ext-vm`).
    pub removed: Vec<String>,
    /// What could not be removed and why.
    pub errors: Vec<String>,
}

fn kill(pid: u32) -> bool {
    // SAFETY: kill(2) with a plain pid and signal has no memory effects.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) == 0 }
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn wait_gone(pid: u32) {
    for _ in 0..100 {
        if !state::pid_alive(pid) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Namespaces that exist now (`ip netns list`).
pub fn netns_list() -> Vec<String> {
    sys::run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Root-namespace links by name (`ip -o link show`), `veth@peer` trimmed.
pub fn root_links() -> Vec<String> {
    sys::run("ip", &["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn kill_ns_processes(ns: &str, out: &mut Cleanup) {
    let pids = sys::run("ip", &["netns", "pids", ns]).unwrap_or_default();
    for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if kill(pid) {
            wait_gone(pid);
            out.removed.push(format!("process {pid} in {ns}"));
        }
    }
}

fn remove_netns(ns: &str, out: &mut Cleanup) {
    kill_ns_processes(ns, out);
    match sys::run("ip", &["netns", "del", ns]) {
        Ok(_) => out.removed.push(format!("netns {ns}")),
        Err(e) => out.errors.push(e.to_string()),
    }
}

fn remove_link(name: &str, out: &mut Cleanup) {
    match sys::run("ip", &["link", "del", name]) {
        Ok(_) => out.removed.push(format!("link {name}")),
        // The other end of a veth pair already went, taking this one along.
        Err(e) if e.to_string().contains("Cannot find device") => {}
        Err(e) => out.errors.push(e.to_string()),
    }
}

/// An `ovsdb-server` or `ovs-vswitchd` whose files live under the runs
/// folder: one of ours, whatever happened to its state file.
struct OvsDaemon {
    pid: u32,
    program: String,
    /// The run id, from the folder in its command line.
    run: String,
}

fn ovs_daemons() -> Vec<OvsDaemon> {
    let root = format!("{}/", state::runs_root().to_string_lossy());
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cl = cmdline(pid);
            let program = cl.split(' ').next().unwrap_or("").to_string();
            if program != "ovsdb-server" && program != "ovs-vswitchd" {
                return None;
            }
            let run: String = cl.split(root.as_str()).nth(1)?.chars().take(4).collect();
            Some(OvsDaemon { pid, program, run })
        })
        .collect()
}

/// Removes one run's objects as its state file lists them.
pub fn down(st: &RunState) -> Cleanup {
    let mut out = Cleanup::default();
    let namespaces = netns_list();
    let links = root_links();
    for r in &st.resources {
        if let Resource::Netns { name } = r
            && namespaces.contains(name)
        {
            kill_ns_processes(name, &mut out);
        }
    }
    for r in st.resources.iter().rev() {
        if let Resource::Process { pid, what } = r
            && state::pid_alive(*pid)
            && cmdline(*pid).contains(what.split(' ').next().unwrap_or(what))
            && kill(*pid)
        {
            wait_gone(*pid);
            out.removed.push(format!("process {pid} ({what})"));
        }
    }
    for r in st.resources.iter().rev() {
        if let Resource::Link { name } = r
            && links.contains(name)
        {
            remove_link(name, &mut out);
        }
    }
    for r in st.resources.iter().rev() {
        if let Resource::Netns { name } = r
            && namespaces.contains(name)
        {
            remove_netns(name, &mut out);
        }
    }
    match std::fs::remove_dir_all(st.dir()) {
        Ok(()) => out.removed.push(format!("folder {}", st.dir().display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => out.errors.push(format!("{}: {e}", st.dir().display())),
    }
    out
}

/// Every run's objects, then anything else named like ours: namespaces and
/// links with an `al<id>-` prefix and OVS daemons whose files live under the
/// runs folder. `live_too` also takes runs whose owner is still running.
pub fn down_all(live_too: bool) -> Cleanup {
    let mut out = Cleanup::default();
    let mut skipped = Vec::new();
    for st in RunState::all() {
        if !live_too && st.owner_pid != std::process::id() && state::pid_alive(st.owner_pid) {
            skipped.push(st.prefix());
            continue;
        }
        let c = down(&st);
        out.removed.extend(c.removed);
        out.errors.extend(c.errors);
    }
    let spared = |name: &str| skipped.iter().any(|p| name.starts_with(p.as_str()));
    // Daemons of runs whose state file is gone: found by their folder.
    for d in ovs_daemons() {
        if !skipped.iter().any(|p| p[2..6] == d.run) && kill(d.pid) {
            wait_gone(d.pid);
            out.removed
                .push(format!("process {} ({})", d.pid, d.program));
        }
    }
    for l in root_links() {
        if state::is_ours(&l) && !spared(&l) {
            remove_link(&l, &mut out);
        }
    }
    for ns in netns_list() {
        if state::is_ours(&ns) && !spared(&ns) {
            remove_netns(&ns, &mut out);
        }
    }
    out
}

/// What of a run still exists (for `status` and for tests).
pub fn leftovers(prefix_filter: Option<&str>) -> Vec<String> {
    let keep = |n: &str| state::is_ours(n) && prefix_filter.is_none_or(|p| n.starts_with(p));
    let mut v: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| keep(n))
        .map(|n| format!("netns {n}"))
        .collect();
    v.extend(
        root_links()
            .into_iter()
            .filter(|n| keep(n))
            .map(|n| format!("link {n}")),
    );
    for d in ovs_daemons() {
        if prefix_filter.is_none_or(|p| p[2..6] == d.run) {
            v.push(format!("process {} {} (al{}-)", d.pid, d.program, d.run));
        }
    }
    v
}
