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

/// Where FRR's daemons keep a crash-log folder each (`<daemon>.<pid>`),
/// removed on a clean exit only.
pub const FRR_CRASHLOG_DIR: &str = "/var/tmp/frr";

/// Removes the crash-log folder FRR made for process `pid` (killed, so it
/// could not), and the parent folder once it is empty. The folder is named
/// after the pid before the daemon forked (`bfdd.9321`) and holds a buffer
/// named after the daemon's own (`logbuf.9322`), so either names it.
pub fn forget_frr_crashlog(pid: u32) {
    forget_frr_crashlog_in(std::path::Path::new(FRR_CRASHLOG_DIR), pid);
}

fn forget_frr_crashlog_in(dir: &std::path::Path, pid: u32) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let suffix = format!(".{pid}");
    let buffer = format!("logbuf.{pid}");
    for e in rd.flatten() {
        let named = e.file_name().to_string_lossy().ends_with(&suffix);
        if named || e.path().join(&buffer).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    // Only when empty: another run's daemons may still have theirs.
    let _ = std::fs::remove_dir(dir);
}

fn kill_ns_processes(ns: &str, out: &mut Cleanup) {
    let pids = sys::run("ip", &["netns", "pids", ns]).unwrap_or_default();
    for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if kill(pid) {
            wait_gone(pid);
            forget_frr_crashlog(pid);
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

/// A daemon of [`DAEMONS`] whose files live under the runs folder: one of
/// ours, whatever happened to its state file.
struct OvsDaemon {
    pid: u32,
    program: String,
    /// The run id, from the folder in its command line.
    run: String,
}

/// The daemons a run starts with its files under the runs folder: OVS's,
/// and for BGP FRR's and gobgpd (`crate::bgp`). A process of these named
/// with the runs folder in its command line is a run's.
const DAEMONS: [&str; 6] = [
    "ovsdb-server",
    "ovs-vswitchd",
    "zebra",
    "bgpd",
    "bfdd",
    "gobgpd",
];

/// Every process whose program is one of [`DAEMONS`], ours or not: (pid,
/// program, command line).
fn ovs_processes() -> Vec<(u32, String, String)> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cl = cmdline(pid);
            let program = cl.split(' ').next().unwrap_or("");
            let program = program.rsplit('/').next().unwrap_or(program).to_string();
            DAEMONS
                .contains(&program.as_str())
                .then_some((pid, program, cl))
        })
        .collect()
}

fn ovs_daemons() -> Vec<OvsDaemon> {
    let root = format!("{}/", state::runs_root().to_string_lossy());
    ovs_processes()
        .into_iter()
        .filter_map(|(pid, program, cl)| {
            let run: String = cl.split(root.as_str()).nth(1)?.chars().take(4).collect();
            Some(OvsDaemon { pid, program, run })
        })
        .collect()
}

/// The tap the userspace (netdev) datapath makes in the namespace its
/// `ovs-vswitchd` runs in. Every vswitchd of that namespace shares it, so
/// it belongs to whichever runs; once none does, it is a leftover (a killed
/// vswitchd leaves it behind).
pub const NETDEV_TAP: &str = "ovs-netdev";

/// Whether any `ovs-vswitchd` (ours, another run's, or a system one) runs.
fn any_vswitchd() -> bool {
    ovs_processes().iter().any(|(_, p, _)| p == "ovs-vswitchd")
}

/// Removes [`NETDEV_TAP`] when no `ovs-vswitchd` is left to own it.
fn remove_orphan_netdev_tap(out: &mut Cleanup) {
    if root_links().iter().any(|l| l == NETDEV_TAP) && !any_vswitchd() {
        remove_link(NETDEV_TAP, out);
    }
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
        if let Resource::Process { pid, what, start } = r
            && state::same_process(*pid, *start)
            && cmdline(*pid).contains(what.split(' ').next().unwrap_or(what))
            && kill(*pid)
        {
            wait_gone(*pid);
            forget_frr_crashlog(*pid);
            out.removed.push(format!("process {pid} ({what})"));
        }
    }
    remove_orphan_netdev_tap(&mut out);
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

/// Runs split by whether their owner still runs: (to remove, spared).
/// A run whose owner is alive (same pid *and* start time) is never taken,
/// whatever the flags: it is someone's lab in use.
pub fn split_by_owner(runs: Vec<RunState>) -> (Vec<RunState>, Vec<RunState>) {
    runs.into_iter().partition(|st| !st.owner_alive())
}

/// Every run whose owner has exited; with `strays`, also anything named
/// like ours that no live run owns: namespaces and links with an `al<id>-`
/// prefix and OVS daemons whose files live under the runs folder (a run
/// killed before it wrote its state).
pub fn down_all(strays: bool) -> Cleanup {
    let mut out = Cleanup::default();
    let (gone, live) = split_by_owner(RunState::all());
    for st in &gone {
        let c = down(st);
        out.removed.extend(c.removed);
        out.errors.extend(c.errors);
    }
    if !strays {
        return out;
    }
    let live_ids: Vec<&str> = live.iter().map(|st| st.id.as_str()).collect();
    let spared = |name: &str| live.iter().any(|st| name.starts_with(&st.prefix()));
    for d in ovs_daemons() {
        if !live_ids.contains(&d.run.as_str()) && kill(d.pid) {
            wait_gone(d.pid);
            forget_frr_crashlog(d.pid);
            out.removed
                .push(format!("process {} ({})", d.pid, d.program));
        }
    }
    remove_orphan_netdev_tap(&mut out);
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

/// What of a run still exists (for `status` and for tests), and the
/// netdev datapath's tap when no `ovs-vswitchd` is left to own it.
pub fn leftovers(prefix_filter: Option<&str>) -> Vec<String> {
    let keep = |n: &str| state::is_ours(n) && prefix_filter.is_none_or(|p| n.starts_with(p));
    let mut v: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| keep(n))
        .map(|n| format!("netns {n}"))
        .collect();
    let links = root_links();
    v.extend(
        links
            .iter()
            .filter(|n| keep(n))
            .map(|n| format!("link {n}")),
    );
    for d in ovs_daemons() {
        if prefix_filter.is_none_or(|p| p[2..6] == d.run) {
            v.push(format!("process {} {} (al{}-)", d.pid, d.program, d.run));
        }
    }
    if links.iter().any(|l| l == NETDEV_TAP) && !any_vswitchd() {
        v.push(format!("link {NETDEV_TAP} (no ovs-vswitchd owns it)"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_frr_daemons_crash_log_folder_is_found_by_either_pid() {
        let dir = std::env::temp_dir().join(format!("antlab-frr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (folder, buffer) in [
            ("bfdd.100", Some("logbuf.101")),
            ("bgpd.200", None),
            ("zebra.300", Some("logbuf.300")),
        ] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
            if let Some(b) = buffer {
                std::fs::write(dir.join(folder).join(b), b"").unwrap();
            }
        }
        // The daemon's own pid (after its fork) names the buffer only.
        forget_frr_crashlog_in(&dir, 101);
        assert!(!dir.join("bfdd.100").exists());
        // Another pid leaves the others alone, and the folder with them.
        forget_frr_crashlog_in(&dir, 999);
        assert!(dir.join("bgpd.200").exists() && dir.join("zebra.300").exists());
        forget_frr_crashlog_in(&dir, 200);
        assert!(!dir.join("bgpd.200").exists() && dir.exists());
        forget_frr_crashlog_in(&dir, 300);
        assert!(!dir.exists(), "the last one takes the empty folder along");
    }

    fn run_owned_by(pid: u32, start: Option<u64>) -> RunState {
        let json = serde_json::json!({
            "id": "0001", "source": "t", "owner_pid": pid, "owner_start": start, "resources": []
        });
        serde_json::from_value(json).expect("a state file")
    }

    #[test]
    fn runs_with_a_live_owner_are_spared_and_a_reused_pid_is_not_an_owner() {
        let me = std::process::id();
        let start = state::process_start(me);
        let live = run_owned_by(me, start);
        let reused = run_owned_by(me, start.map(|s| s + 7));
        let exited = run_owned_by(u32::MAX, None);
        let (gone, spared) = split_by_owner(vec![live, reused, exited]);
        let owners = |v: &[RunState]| -> Vec<(u32, Option<u64>)> {
            v.iter().map(|s| (s.owner_pid, s.owner_start)).collect()
        };
        assert_eq!(owners(&spared), vec![(me, start)]);
        assert_eq!(
            owners(&gone),
            vec![(me, start.map(|s| s + 7)), (u32::MAX, None)]
        );
    }
}
