//! A private Open vSwitch for one run: its own `ovsdb-server` and
//! `ovs-vswitchd` in `/run/antlab/<id>/ovs`, bridges with the userspace
//! datapath (`datapath_type=netdev`: this kernel has no openvswitch module,
//! see `../shared/docs/real-mode-recipe.md`).
//!
//! `ovs-vswitchd` runs inside the run's own namespace `al<id>-.ovs` (a name
//! no device can have: device names never start with `.`), where every
//! switch-side veth end lives. The netdev datapath makes one tap,
//! `ovs-netdev`, in its daemon's namespace: one per namespace, shared by
//! every vswitchd there. In the root namespace two runs' daemons fought over
//! it (the second could not open its bridges) and a killed daemon left it
//! behind; in the run's namespace it is the run's own and goes with it.
//!
//! Nothing here touches a system OVS: every command names the private
//! database socket, and `ovs-ofctl`/`ovs-appctl` find the bridge through
//! `OVS_RUNDIR`.

use std::path::{Path, PathBuf};

use crate::state::{Resource, RunState};
use crate::sys::{self, SysError};

#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{what} did not write its pidfile {path} within 10 s; see its log in the same folder")]
    NoPid { what: String, path: String },
}

pub struct Ovs {
    dir: PathBuf,
    /// The namespace `ovs-vswitchd` and the switch-side ports live in.
    ns: String,
}

/// The run's switch namespace: `al<id>-.ovs`.
pub fn switch_netns(prefix: &str) -> String {
    format!("{prefix}.ovs")
}

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

impl Ovs {
    /// Starts the two daemons of the run's switch namespace (made here);
    /// their pids go into the state file as soon as they exist.
    pub fn start(state: &mut RunState) -> Result<Ovs, OvsError> {
        let ns = switch_netns(&state.prefix());
        state.record(Resource::Netns { name: ns.clone() })?;
        sys::run("ip", &["netns", "add", &ns])?;
        sys::run("ip", &["-n", &ns, "link", "set", "dev", "lo", "up"])?;
        Ovs::start_in(state, "ovs", &ns)
    }

    /// Starts a daemon pair whose `ovs-vswitchd` runs in the existing
    /// namespace `ns` (a node's own, for its br-int and physical bridge),
    /// with its database, sockets and logs in the run folder's `folder`.
    pub fn start_in(state: &mut RunState, folder: &str, ns: &str) -> Result<Ovs, OvsError> {
        let dir = state.dir().join(folder);
        std::fs::create_dir_all(&dir)?;
        let d = dir.to_string_lossy().to_string();
        let db = format!("{d}/conf.db");
        sys::run("ovsdb-tool", &["create", &db, SCHEMA])?;
        let ovs = Ovs {
            dir,
            ns: ns.to_string(),
        };
        ovs.env_run(
            "ovsdb-server",
            &[
                &format!("--remote=punix:{d}/db.sock"),
                &format!("--pidfile={d}/ovsdb.pid"),
                "--detach",
                &format!("--log-file={d}/ovsdb.log"),
                &db,
            ],
        )?;
        let pid = ovs.wait_pid("ovsdb.pid", "ovsdb-server")?;
        state.record(Resource::Process {
            pid,
            what: "ovsdb-server".into(),
            start: crate::state::process_start(pid),
        })?;
        ovs.vsctl(&["--no-wait", "init"])?;
        ovs.env_run_in_netns(
            "ovs-vswitchd",
            &[
                &format!("unix:{d}/db.sock"),
                &format!("--pidfile={d}/vsw.pid"),
                "--detach",
                &format!("--log-file={d}/vsw.log"),
            ],
        )?;
        let pid = ovs.wait_pid("vsw.pid", "ovs-vswitchd")?;
        state.record(Resource::Process {
            pid,
            what: "ovs-vswitchd".into(),
            start: crate::state::process_start(pid),
        })?;
        Ok(ovs)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The namespace of the switch-side ports (see the module docs).
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// `env_run` inside the switch namespace.
    fn env_run_in_netns(&self, prog: &str, args: &[&str]) -> Result<String, SysError> {
        let d = self.dir.to_string_lossy().to_string();
        let mut all = vec![
            "netns".to_string(),
            "exec".to_string(),
            self.ns.clone(),
            "env".to_string(),
            format!("OVS_RUNDIR={d}"),
            format!("OVS_DBDIR={d}"),
            format!("OVS_LOGDIR={d}"),
            prog.to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        sys::run("ip", &refs)
    }

    fn env_run(&self, prog: &str, args: &[&str]) -> Result<String, SysError> {
        // The daemons and ofctl look for their sockets and pidfiles in
        // OVS_RUNDIR; set it only for our children, never globally.
        let d = self.dir.to_string_lossy().to_string();
        let mut all = vec![
            format!("OVS_RUNDIR={d}"),
            format!("OVS_DBDIR={d}"),
            format!("OVS_LOGDIR={d}"),
            prog.to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        sys::run("env", &refs)
    }

    fn wait_pid(&self, file: &str, what: &str) -> Result<u32, OvsError> {
        let path = self.dir.join(file);
        for _ in 0..200 {
            if let Ok(t) = std::fs::read_to_string(&path)
                && let Ok(pid) = t.trim().parse()
            {
                return Ok(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(OvsError::NoPid {
            what: what.into(),
            path: path.display().to_string(),
        })
    }

    /// `ovs-vsctl` against the private database.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, SysError> {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        let mut all = vec![db.as_str(), "--timeout=20"];
        all.extend_from_slice(args);
        sys::run("ovs-vsctl", &all)
    }

    /// `ovs-ofctl -O OpenFlow15` on one bridge, optionally with stdin.
    pub fn ofctl(&self, args: &[&str], input: Option<&str>) -> Result<String, SysError> {
        let d = self.dir.to_string_lossy().to_string();
        let mut all = vec![
            format!("OVS_RUNDIR={d}"),
            "ovs-ofctl".to_string(),
            "-O".to_string(),
            "OpenFlow15".to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        // A busy ovs-vswitchd may not have opened a new bridge's management
        // socket yet (seen under load: "is not a bridge or a socket"): wait
        // for it rather than fail the run, for at most 10 s.
        let mut tries = 0;
        loop {
            match sys::run_with_input("env", &refs, input) {
                Err(e) if tries < 100 && e.to_string().contains("is not a bridge or a socket") => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    pub fn add_bridge(&self, name: &str) -> Result<(), SysError> {
        self.add_bridge_with(name, &["protocols=OpenFlow10,OpenFlow13,OpenFlow15"])
    }

    /// A bridge with the userspace datapath and other `column=value`
    /// bridge settings (`other-config:hwaddr=...`).
    pub fn add_bridge_with(&self, name: &str, settings: &[&str]) -> Result<(), SysError> {
        let mut args = vec![
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=netdev",
        ];
        args.extend_from_slice(settings);
        self.vsctl(&args).map(|_| ())
    }

    /// Adds `port` to `bridge` as OpenFlow port `ofport` (asked for with
    /// `ofport_request`, so flows can name it without a round trip and
    /// without racing ovs-vswitchd), with extra `column=value` port settings
    /// (`tag=181`, `trunks=100,181`, `vlan_mode=native-untagged`).
    pub fn add_port(
        &self,
        bridge: &str,
        port: &str,
        ofport: u32,
        settings: &[String],
    ) -> Result<(), SysError> {
        let req = format!("ofport_request={ofport}");
        let mut args = vec![
            "add-port",
            bridge,
            port,
            "--",
            "set",
            "interface",
            port,
            &req,
        ];
        if !settings.is_empty() {
            args.extend(["--", "set", "port", port]);
            args.extend(settings.iter().map(String::as_str));
        }
        self.vsctl(&args).map(|_| ())
    }
}

impl Ovs {
    /// The control socket of our `ovs-vswitchd` (`ovs-appctl -t`).
    pub fn vswitchd_ctl(&self) -> Option<String> {
        let pid = std::fs::read_to_string(self.dir.join("vsw.pid")).ok()?;
        Some(format!(
            "{}/ovs-vswitchd.{}.ctl",
            self.dir.display(),
            pid.trim()
        ))
    }
}

impl Ovs {
    /// `ovs-appctl -t <our ovs-vswitchd> ARGS`.
    pub fn appctl(&self, args: &[&str]) -> Result<String, SysError> {
        let ctl = self.vswitchd_ctl().unwrap_or_default();
        let mut all = vec!["-t", ctl.as_str()];
        all.extend_from_slice(args);
        sys::run("ovs-appctl", &all)
    }
}
