//! The run's state file: everything real mode creates is written here
//! *before* it is created, so `antlab real down --all` can remove it even
//! after a crash, a `kill -9` or a power cut of the controller.
//!
//! Layout: `/run/antlab/<id>/state.json` (tmpfs: it vanishes on reboot, as
//! network namespaces do), the private OVS database and sockets in
//! `/run/antlab/<id>/ovs/`. Every kernel object is named with the run's
//! prefix `al<id>-` (`al3f2a-k8s-node-vm-1-cl-02`, `al3f2a-12`), four hex
//! digits so interface names stay within Linux's 15 characters.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where every run keeps its folder. `ANTLAB_RUN_ROOT` overrides it (tests).
pub fn runs_root() -> PathBuf {
    std::env::var_os("ANTLAB_RUN_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/antlab"))
}

/// True for names real mode makes: `al` + 4 lowercase hex digits + `-`.
pub fn is_ours(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 7
        && b.starts_with(b"al")
        && b[2..6]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && b[6] == b'-'
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Resource {
    /// A network namespace (`ip netns add`).
    Netns { name: String },
    /// A link in the root namespace (one end of a veth pair).
    Link { name: String },
    /// A process antlab started (the OVS daemons). `start` is its start
    /// time (see [`process_start`]), so a reused pid is not mistaken for it.
    Process {
        pid: u32,
        what: String,
        #[serde(default)]
        start: Option<u64>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub id: String,
    /// What was brought up (a topology or scenario path), for `status`.
    pub source: String,
    /// The antlab process that owns the run; a dead owner means leftovers.
    pub owner_pid: u32,
    /// The owner's start time (see [`process_start`]): a pid that is alive
    /// but started at another time is a new process that reused the pid.
    #[serde(default)]
    pub owner_start: Option<u64>,
    pub resources: Vec<Resource>,
    #[serde(skip)]
    dir: PathBuf,
}

impl RunState {
    /// Creates a fresh run folder with an unused id.
    pub fn create(source: &str) -> std::io::Result<RunState> {
        let root = runs_root();
        std::fs::create_dir_all(&root)?;
        // Not determinism-relevant: only needs to differ between live runs.
        let mut seed = std::process::id()
            ^ std::time::SystemTime::UNIX_EPOCH
                .elapsed()
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
        for _ in 0..0x1_0000 {
            let id = format!("{:04x}", seed & 0xffff);
            let dir = root.join(&id);
            if std::fs::create_dir(&dir).is_ok() {
                let st = RunState {
                    id,
                    source: source.to_string(),
                    owner_pid: std::process::id(),
                    owner_start: process_start(std::process::id()),
                    resources: Vec::new(),
                    dir,
                };
                // A folder without a state file would be nobody's to remove.
                if let Err(e) = st.save() {
                    let _ = std::fs::remove_dir_all(st.dir());
                    return Err(e);
                }
                return Ok(st);
            }
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        }
        Err(std::io::Error::other(
            "no free run id under the runs folder",
        ))
    }

    pub fn load(dir: &Path) -> std::io::Result<RunState> {
        let text = std::fs::read_to_string(dir.join("state.json"))?;
        let mut st: RunState = serde_json::from_str(&text).map_err(std::io::Error::other)?;
        st.dir = dir.to_path_buf();
        Ok(st)
    }

    /// Every run folder under the runs root, oldest id order.
    pub fn all() -> Vec<RunState> {
        let mut v: Vec<RunState> = std::fs::read_dir(runs_root())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| RunState::load(&e.path()).ok())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn prefix(&self) -> String {
        format!("al{}-", self.id)
    }

    /// Records `r` durably; call before creating the object.
    pub fn record(&mut self, r: Resource) -> std::io::Result<()> {
        if !self.resources.contains(&r) {
            self.resources.push(r);
            self.save()?;
        }
        Ok(())
    }

    /// Forgets `r` after it was removed on purpose.
    pub fn forget(&mut self, r: &Resource) -> std::io::Result<()> {
        self.resources.retain(|x| x != r);
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        let tmp = self.dir.join("state.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, self.dir.join("state.json"))
    }

    /// Whether the process that owns this run is still alive: its pid
    /// runs, and (when recorded) started when the owner did.
    pub fn owner_alive(&self) -> bool {
        same_process(self.owner_pid, self.owner_start)
    }
}

/// The start time of process `pid`, in clock ticks after boot (field 22 of
/// `/proc/PID/stat`); None when there is no such process.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields after its closing one. Field 3 is the state.
    let after = stat.rsplit_once(')')?.1;
    after
        .split_whitespace()
        .nth(22 - 3)
        .and_then(|f| f.parse().ok())
}

/// Whether `pid` is alive and is the process that started at `start`
/// (unknown start: any live process with that pid).
pub fn same_process(pid: u32, start: Option<u64>) -> bool {
    pid_alive(pid) && start.is_none_or(|s| process_start(pid) == Some(s))
}

pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised_by_their_prefix() {
        assert!(is_ours("al3f2a-k8s-node-vm-1"));
        assert!(is_ours("al0000-12"));
        assert!(!is_ours("al3f2a"));
        assert!(!is_ours("alpha-1"));
        assert!(!is_ours("al3F2a-x"));
        assert!(!is_ours("eth0"));
    }

    #[test]
    fn an_owner_is_alive_only_with_its_own_start_time() {
        let me = std::process::id();
        let start = process_start(me).expect("our own start time");
        let owned = |owner_start| RunState {
            id: "0000".into(),
            source: "test".into(),
            owner_pid: me,
            owner_start,
            resources: Vec::new(),
            dir: PathBuf::new(),
        };
        assert!(owned(Some(start)).owner_alive());
        // The pid is alive but started at another time: a reused pid, so
        // the run's owner is gone.
        assert!(!owned(Some(start + 1)).owner_alive());
        // State files written before start times were recorded.
        assert!(owned(None).owner_alive());
    }

    #[test]
    fn start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // pid 1 always exists; the parse must not depend on its name.
        assert!(process_start(1).is_some());
        assert_eq!(process_start(u32::MAX), None);
    }
}
