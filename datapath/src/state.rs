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
    /// A process antlab started (OVS daemons, agents, probes, servers).
    Process { pid: u32, what: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub id: String,
    /// What was brought up (a topology or scenario path), for `status`.
    pub source: String,
    /// The antlab process that owns the run; a dead owner means leftovers.
    pub owner_pid: u32,
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
                    resources: Vec::new(),
                    dir,
                };
                st.save()?;
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

    /// Whether the process that owns this run is still alive.
    pub fn owner_alive(&self) -> bool {
        self.owner_pid == std::process::id() || pid_alive(self.owner_pid)
    }
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
}
