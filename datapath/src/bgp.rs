//! BGP speakers for real (issue 17): FRR on a topology's BGP router (zebra,
//! bgpd, and bfdd when its sessions have BFD) in the switch's namespace,
//! and gobgpd, the speaker Antrea's agent embeds, in each node whose
//! effective BGPPolicy selects it, configured from the same
//! `SpeakerConfig` the simulator's speakers are, step by step as
//! `reconcile` gives the steps. When the router has BFD, each node also
//! runs FRR's bfdd alone as its BFD responder: gobgp has none.
//!
//! The recipe is the one verified by hand before this was written (FRR
//! 8.4, gobgp 3.10, Debian bookworm):
//! - every FRR path is the run's: pid files, vty sockets, the zebra API
//!   socket and bfdd's control socket live in the run folder, so two runs
//!   never share one; `-P 0` opens no TCP vty;
//! - the daemons start as root and drop to user `frr`, so their folder is
//!   `frr`'s;
//! - gobgpd's API listens on the node namespace's own loopback only, and
//!   routes are added with ORIGIN IGP, as Antrea's agent adds them (the
//!   CLI's default is incomplete);
//! - gobgpd reads its peers from its config file and takes changes of it
//!   on SIGHUP, without resetting the sessions it keeps.
//!
//! Every process runs in one of the run's namespaces, so `antlab real
//! down` finds and kills it with the namespace. A normal end stops FRR with
//! SIGTERM, which also removes its crash-log folder in `/var/tmp/frr`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sim_core::engine::bgp_policy::{SpeakerChange, SpeakerConfig, reconcile};
use sim_core::model::bgp::{BfdSpec, BgpPeers, BgpRouterSpec, RemoteAs};
use sim_core::model::{DeviceKind, Topology};

use crate::lab::Lab;
use crate::state::Resource;
use crate::sys;

/// FRR's daemons (Debian's `frr` package).
const FRR_DIR: &str = "/usr/lib/frr";
/// gobgpd's API, on each node namespace's own loopback.
const GOBGP_API: &str = "127.0.0.1:50051";
/// How long gobgpd's API may take to answer after it starts.
const API_WAIT: Duration = Duration::from_secs(5);

/// A router running FRR: its folder (configuration, pid files, sockets).
struct RouterRt {
    dir: PathBuf,
}

/// A node's gobgpd (and bfdd).
struct NodeRt {
    ns: String,
    dir: PathBuf,
    config: SpeakerConfig,
    gobgpd: Child,
}

/// The run's BGP speakers.
#[derive(Default)]
pub struct Speakers {
    routers: BTreeMap<String, RouterRt>,
    nodes: BTreeMap<String, NodeRt>,
    /// (address the nodes peer with, BFD) of each router, for the nodes'
    /// bfdd.
    bfd_peers: Vec<(Ipv4Addr, BfdSpec)>,
}

/// Whether the topology has a BGP router (real mode then needs FRR and
/// gobgpd).
pub fn needed(topology: &Topology) -> bool {
    topology
        .devices
        .iter()
        .any(|d| matches!(&d.kind, DeviceKind::Switch(s) if s.bgp.is_some()))
}

/// What a lab with a BGP router needs besides real mode's usual packages:
/// Debian's `frr` (zebra, bgpd, bfdd) and `gobgpd` (gobgpd, gobgp).
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    for d in ["zebra", "bgpd", "bfdd"] {
        if !Path::new(FRR_DIR).join(d).exists() {
            missing.push(format!("{FRR_DIR}/{d} (apt-get install frr)"));
        }
    }
    for p in ["gobgpd", "gobgp"] {
        if !sys::have(p) {
            missing.push(format!("{p} (apt-get install gobgpd)"));
        }
    }
    missing
}

fn millis(d: sim_core::time::SimDuration) -> u64 {
    d.as_nanos() / 1_000_000
}

fn secs(d: sim_core::time::SimDuration) -> u64 {
    d.as_nanos() / 1_000_000_000
}

fn remote_as(r: RemoteAs) -> String {
    match r {
        RemoteAs::Asn(a) => a.to_string(),
        RemoteAs::External => "external".into(),
        RemoteAs::Internal => "internal".into(),
    }
}

/// bgpd's configuration for `spec` (FRR 8.4 syntax). The router waits for
/// its neighbours to connect, as the simulator's does.
pub fn bgpd_conf(name: &str, spec: &BgpRouterSpec, bfd: Option<BfdSpec>) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "hostname {name}");
    let _ = writeln!(c, "router bgp {}", spec.asn);
    let _ = writeln!(c, " bgp router-id {}", spec.router_id);
    // FRR 7.4+ refuses eBGP routes without a policy unless told not to.
    let _ = writeln!(c, " no bgp ebgp-requires-policy");
    let _ = writeln!(c, " bgp log-neighbor-changes");
    let _ = writeln!(c, " neighbor NODES peer-group");
    let group_as = match &spec.peers {
        BgpPeers::Range { remote_as, .. } => *remote_as,
        BgpPeers::Listed(_) => RemoteAs::External,
    };
    let _ = writeln!(c, " neighbor NODES remote-as {}", remote_as(group_as));
    let _ = writeln!(c, " neighbor NODES passive");
    let _ = writeln!(
        c,
        " neighbor NODES timers {} {}",
        secs(spec.keepalive),
        secs(spec.hold)
    );
    let _ = writeln!(
        c,
        " neighbor NODES timers connect {}",
        secs(spec.connect_retry)
    );
    if bfd.is_some() {
        let _ = writeln!(c, " neighbor NODES bfd");
        let _ = writeln!(c, " neighbor NODES bfd profile lab");
    }
    match &spec.peers {
        BgpPeers::Range { prefix, .. } => {
            let _ = writeln!(c, " bgp listen range {prefix} peer-group NODES");
        }
        BgpPeers::Listed(list) => {
            for n in list {
                let _ = writeln!(c, " neighbor {} peer-group NODES", n.address);
                let _ = writeln!(
                    c,
                    " neighbor {} remote-as {}",
                    n.address,
                    remote_as(n.remote_as)
                );
            }
        }
    }
    let _ = writeln!(c, " address-family ipv4 unicast");
    let _ = writeln!(c, "  maximum-paths {}", spec.maximum_paths);
    let _ = writeln!(c, " exit-address-family");
    c
}

/// bfdd's profile for a router's sessions.
fn router_bfdd_conf(bfd: BfdSpec) -> String {
    format!(
        "bfd\n profile lab\n  transmit-interval {ms}\n  receive-interval {ms}\n  detect-multiplier {m}\n",
        ms = millis(bfd.interval),
        m = bfd.multiplier
    )
}

/// A node's bfdd: one single-hop peer, the router.
fn node_bfdd_conf(router: Ipv4Addr, local: Ipv4Addr, bfd: BfdSpec) -> String {
    format!(
        "bfd\n peer {router} local-address {local}\n  transmit-interval {ms}\n  receive-interval {ms}\n  detect-multiplier {m}\n",
        ms = millis(bfd.interval),
        m = bfd.multiplier
    )
}

/// gobgpd's configuration as Antrea's agent sets it up
/// (`pkg/agent/bgp/gobgp/gobgp.go`): the global AS, router ID and listen
/// port, and each IPv4 peer with Graceful Restart for IPv4 unicast. No
/// timers: gobgp's defaults.
pub fn gobgpd_conf(c: &SpeakerConfig) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "[global.config]");
    let _ = writeln!(t, "  as = {}", c.local_asn);
    let _ = writeln!(t, "  router-id = \"{}\"", c.router_id);
    let _ = writeln!(t, "  port = {}", c.listen_port);
    for p in &c.peers {
        let std::net::IpAddr::V4(addr) = p.address else {
            continue;
        };
        let _ = writeln!(t, "[[neighbors]]");
        let _ = writeln!(t, "  [neighbors.config]");
        let _ = writeln!(t, "    neighbor-address = \"{addr}\"");
        let _ = writeln!(t, "    peer-as = {}", p.asn);
        let _ = writeln!(t, "  [neighbors.transport.config]");
        let _ = writeln!(t, "    remote-port = {}", p.port);
        if p.multihop_ttl > 1 {
            let _ = writeln!(t, "  [neighbors.ebgp-multihop.config]");
            let _ = writeln!(t, "    enabled = true");
            let _ = writeln!(t, "    multihop-ttl = {}", p.multihop_ttl);
        }
        let _ = writeln!(t, "  [neighbors.graceful-restart.config]");
        let _ = writeln!(t, "    enabled = true");
        let _ = writeln!(t, "    restart-time = {}", p.graceful_restart_secs);
        let _ = writeln!(t, "  [[neighbors.afi-safis]]");
        let _ = writeln!(t, "    [neighbors.afi-safis.config]");
        let _ = writeln!(t, "      afi-safi-name = \"ipv4-unicast\"");
        let _ = writeln!(t, "    [neighbors.afi-safis.mp-graceful-restart.config]");
        let _ = writeln!(t, "      enabled = true");
    }
    t
}

/// Makes `dir` (and what is in it) user `frr`'s.
fn give_to_frr(dir: &Path) -> std::io::Result<()> {
    sys::run("chown", &["-R", "frr:frr", &dir.to_string_lossy()])
        .map(|_| ())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Starts FRR daemon `daemon` in `ns` with everything under `dir`; its pid.
fn start_frr(lab: &mut Lab, ns: &str, dir: &Path, daemon: &str) -> Result<u32, String> {
    let d = dir.to_string_lossy().to_string();
    let prog = format!("{FRR_DIR}/{daemon}");
    let mut args: Vec<String> = vec![
        "-d".into(),
        "-P".into(),
        "0".into(),
        "-i".into(),
        format!("{d}/{daemon}.pid"),
        "-z".into(),
        format!("{d}/zserv.api"),
        "--vty_socket".into(),
        d.clone(),
        "--log".into(),
        format!("file:{d}/{daemon}.log"),
        "-f".into(),
        format!("{d}/{daemon}.conf"),
    ];
    if daemon == "bfdd" {
        args.push("--bfdctl".into());
        args.push(format!("{d}/bfdd.sock"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sys::in_ns(ns, &prog, &refs).map_err(|e| e.to_string())?;
    let pid_file = dir.join(format!("{daemon}.pid"));
    let pid = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
    })
    .ok_or_else(|| {
        format!(
            "{daemon} in {ns} wrote no pid file ({})",
            pid_file.display()
        )
    })?;
    lab.state
        .record(Resource::Process {
            pid,
            what: format!("{FRR_DIR}/{daemon}"),
            start: crate::state::process_start(pid),
        })
        .map_err(|e| e.to_string())?;
    Ok(pid)
}

/// Polls `f` every 20 ms until it gives something or `limit` passes.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = crate::clock::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to the pid in `file`, if there is one; the pid.
fn signal_pid_file(file: &Path, signal: libc::c_int) -> Option<u32> {
    let pid = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())?;
    // SAFETY: kill(2) with a plain pid and signal has no memory effects.
    unsafe {
        libc::kill(pid as i32, signal);
    }
    Some(pid)
}

/// Waits (a second at most) for FRR daemon `pid` to be gone, then removes
/// the crash-log folder it leaves when killed.
fn reap_frr(pid: u32) {
    let _ = wait_for(Duration::from_secs(1), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    crate::cleanup::forget_frr_crashlog(pid);
}

impl Speakers {
    /// Starts FRR on every BGP router of the lab's topology.
    pub fn start_routers(&mut self, lab: &mut Lab) -> Result<Vec<String>, String> {
        let mut log = Vec::new();
        let routers: Vec<(String, BgpRouterSpec, bool)> = lab
            .topology
            .devices
            .iter()
            .filter_map(|d| match &d.kind {
                DeviceKind::Switch(s) => s.bgp.clone().map(|b| (d.name.clone(), b, s.bfd)),
                DeviceKind::Host(_) => None,
            })
            .collect();
        for (name, spec, switch_bfd) in routers {
            let ns = lab
                .netns
                .get(&name)
                .cloned()
                .ok_or_else(|| format!("BGP router {name} has no namespace (no SVI?)"))?;
            let dir = lab.state.dir().join(format!("frr-{name}"));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let bfd = spec.bfd_with(switch_bfd);
            std::fs::write(dir.join("zebra.conf"), format!("hostname {name}\n"))
                .map_err(|e| e.to_string())?;
            std::fs::write(dir.join("bgpd.conf"), bgpd_conf(&name, &spec, bfd))
                .map_err(|e| e.to_string())?;
            let mut daemons = vec!["zebra", "bgpd"];
            if let Some(b) = bfd {
                std::fs::write(dir.join("bfdd.conf"), router_bfdd_conf(b))
                    .map_err(|e| e.to_string())?;
                daemons.push("bfdd");
            }
            give_to_frr(&dir).map_err(|e| e.to_string())?;
            for d in &daemons {
                start_frr(lab, &ns, &dir, d)?;
            }
            let svis = match lab
                .topology
                .device_id(&name)
                .map(|id| &lab.topology.device(id).kind)
            {
                Some(DeviceKind::Switch(s)) => &s.svis[..],
                _ => &[],
            };
            let local = spec.peering_address(svis.iter().map(|v| &v.addr));
            if let Some(b) = bfd {
                self.bfd_peers.push((local, b));
            }
            log.push(format!(
                "{name}: FRR {} started (AS {}, router ID {})",
                daemons.join(", "),
                spec.asn,
                spec.router_id
            ));
            self.routers.insert(name, RouterRt { dir });
        }
        Ok(log)
    }

    /// Brings node `node`'s speaker to `config` (`None`: none), as the
    /// simulator's control plane does; lines for the run's log.
    pub fn configure(
        &mut self,
        lab: &mut Lab,
        node: &str,
        local: Ipv4Addr,
        config: Option<&SpeakerConfig>,
    ) -> Result<Vec<String>, String> {
        let old = self.nodes.get(node).map(|n| n.config.clone());
        let steps = reconcile(old.as_ref(), config);
        let mut log = Vec::new();
        if steps.is_empty() {
            return Ok(log);
        }
        let mut peers_changed = false;
        for step in &steps {
            match (step, config) {
                (SpeakerChange::Stop, _) => {
                    self.stop_node(node, libc::SIGTERM);
                    log.push(format!("{node}: gobgpd stopped"));
                }
                (SpeakerChange::Start, Some(c)) => {
                    self.start_node(lab, node, local, c)?;
                    log.push(format!(
                        "{node}: gobgpd started (AS {}, router ID {}, {} peer(s))",
                        c.local_asn,
                        c.router_id,
                        c.peers.len()
                    ));
                }
                (
                    SpeakerChange::AddPeer(_)
                    | SpeakerChange::UpdatePeer(_)
                    | SpeakerChange::RemovePeer(_),
                    Some(_),
                ) => peers_changed = true,
                (SpeakerChange::Advertise(p), Some(_)) => {
                    self.rib(node, "add", *p)?;
                    log.push(format!("{node}: gobgp global rib add {p} origin igp"));
                }
                (SpeakerChange::Withdraw(p), Some(_)) => {
                    self.rib(node, "del", *p)?;
                    log.push(format!("{node}: gobgp global rib del {p}"));
                }
                _ => {}
            }
        }
        if let (Some(c), Some(n)) = (config, self.nodes.get_mut(node)) {
            n.config = c.clone();
            if peers_changed && !steps.contains(&SpeakerChange::Start) {
                std::fs::write(n.dir.join("gobgpd.toml"), gobgpd_conf(c))
                    .map_err(|e| e.to_string())?;
                // SAFETY: kill(2) with a plain pid and signal has no memory effects.
                unsafe {
                    libc::kill(n.gobgpd.id() as i32, libc::SIGHUP);
                }
                log.push(format!("{node}: gobgpd peers reloaded (SIGHUP)"));
            }
        }
        Ok(log)
    }

    fn start_node(
        &mut self,
        lab: &mut Lab,
        node: &str,
        local: Ipv4Addr,
        c: &SpeakerConfig,
    ) -> Result<(), String> {
        let ns = lab
            .netns
            .get(node)
            .cloned()
            .ok_or_else(|| format!("no namespace for {node}"))?;
        let dir = lab.state.dir().join(format!("gobgp-{node}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // The node's own loopback carries gobgp's API.
        let _ = sys::ip_batch(Some(&ns), &["link set lo up".to_string()]);
        std::fs::write(dir.join("gobgpd.toml"), gobgpd_conf(c)).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("gobgpd.log")).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let toml = dir.join("gobgpd.toml").to_string_lossy().to_string();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "gobgpd",
                    "-f",
                    &toml,
                    "-l",
                    "info",
                    "-p",
                    "--api-hosts",
                    GOBGP_API,
                    "--pprof-disable",
                ])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .process_group(0)
                .spawn()
                .map_err(|e| format!("gobgpd in {ns}: {e}"))?
        };
        let pid = child.id();
        lab.state
            .record(Resource::Process {
                pid,
                what: "gobgpd".into(),
                start: crate::state::process_start(pid),
            })
            .map_err(|e| e.to_string())?;
        let api_up = wait_for(API_WAIT, || {
            sys::in_ns(&ns, "gobgp", &["-u", "127.0.0.1", "global"])
                .ok()
                .map(|_| ())
        });
        if api_up.is_none() {
            return Err(format!(
                "gobgpd in {ns}: its API did not answer within {} s (log {})",
                API_WAIT.as_secs(),
                dir.join("gobgpd.log").display()
            ));
        }
        // The router's BFD needs a responder on the node.
        if let Some((router, bfd)) = self.bfd_peers.first().copied() {
            let fdir = dir.join("frr");
            std::fs::create_dir_all(&fdir).map_err(|e| e.to_string())?;
            std::fs::write(fdir.join("bfdd.conf"), node_bfdd_conf(router, local, bfd))
                .map_err(|e| e.to_string())?;
            give_to_frr(&fdir).map_err(|e| e.to_string())?;
            start_frr(lab, &ns, &fdir, "bfdd")?;
        }
        self.nodes.insert(
            node.to_string(),
            NodeRt {
                ns,
                dir,
                config: c.clone(),
                gobgpd: child,
            },
        );
        Ok(())
    }

    /// `gobgp global rib add|del PREFIX` in `node`, ORIGIN IGP as Antrea's
    /// paths have it.
    fn rib(&self, node: &str, verb: &str, prefix: ipnet::Ipv4Net) -> Result<(), String> {
        let n = self
            .nodes
            .get(node)
            .ok_or_else(|| format!("{node} runs no gobgpd"))?;
        let p = prefix.to_string();
        let mut args = vec!["-u", "127.0.0.1", "global", "rib", verb, &p, "-a", "ipv4"];
        if verb == "add" {
            args.extend(["origin", "igp"]);
        }
        sys::in_ns(&n.ns, "gobgp", &args)
            .map(|_| ())
            .map_err(|e| format!("{node}: {e}"))
    }

    /// Ends node `node`'s speaker with `signal` (SIGTERM: gobgpd sends a
    /// Cease; SIGKILL: the machine lost power) and its bfdd.
    fn stop_node(&mut self, node: &str, signal: libc::c_int) {
        if let Some(mut n) = self.nodes.remove(node) {
            // SAFETY: kill(2) with a plain pid and signal has no memory effects.
            unsafe {
                libc::kill(n.gobgpd.id() as i32, signal);
            }
            let _ = n.gobgpd.wait();
            if let Some(pid) = signal_pid_file(&n.dir.join("frr/bfdd.pid"), signal) {
                reap_frr(pid);
            }
        }
    }

    /// Node `node` lost power: its speaker dies without a word (its links
    /// are already down).
    pub fn power_off(&mut self, node: &str) {
        self.stop_node(node, libc::SIGKILL);
    }

    /// Stops everything (the run ends): FRR with SIGTERM, so it removes its
    /// crash-log folders, gobgpd likewise.
    pub fn stop_all(&mut self) {
        let nodes: Vec<String> = self.nodes.keys().cloned().collect();
        for n in nodes {
            self.stop_node(&n, libc::SIGTERM);
        }
        let mut pids = Vec::new();
        for r in std::mem::take(&mut self.routers).into_values() {
            for d in ["bfdd", "bgpd", "zebra"] {
                pids.extend(signal_pid_file(
                    &r.dir.join(format!("{d}.pid")),
                    libc::SIGTERM,
                ));
            }
        }
        for pid in pids {
            reap_frr(pid);
        }
    }

    /// Whether any node runs gobgpd.
    pub fn runs_nodes(&self) -> bool {
        !self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::time::SimDuration;

    fn spec() -> BgpRouterSpec {
        BgpRouterSpec {
            asn: 65000,
            router_id: "10.160.1.1".parse().unwrap(),
            peers: BgpPeers::Range {
                prefix: "10.160.1.0/24".parse().unwrap(),
                remote_as: RemoteAs::External,
            },
            maximum_paths: 8,
            keepalive: SimDuration::from_secs(60),
            hold: SimDuration::from_secs(180),
            connect_retry: SimDuration::from_secs(120),
            bfd: None,
        }
    }

    #[test]
    fn bgpd_gets_the_topologys_router() {
        let c = bgpd_conf("core-sw", &spec(), None);
        assert_eq!(
            c,
            "hostname core-sw\nrouter bgp 65000\n bgp router-id 10.160.1.1\n no bgp ebgp-requires-policy\n bgp log-neighbor-changes\n neighbor NODES peer-group\n neighbor NODES remote-as external\n neighbor NODES passive\n neighbor NODES timers 60 180\n neighbor NODES timers connect 120\n bgp listen range 10.160.1.0/24 peer-group NODES\n address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n"
        );
        let bfd = spec()
            .bfd_with(true)
            .expect("the switch's BFD gives bfdd's defaults");
        assert_eq!((millis(bfd.interval), bfd.multiplier), (300, 3));
        let c = bgpd_conf("core-sw", &spec(), Some(bfd));
        assert!(c.contains(" neighbor NODES bfd\n neighbor NODES bfd profile lab\n"));
        assert_eq!(
            router_bfdd_conf(bfd),
            "bfd\n profile lab\n  transmit-interval 300\n  receive-interval 300\n  detect-multiplier 3\n"
        );
        assert!(spec().bfd_with(false).is_none());
    }

    #[test]
    fn gobgpd_gets_the_engines_speaker_config() {
        let config = SpeakerConfig {
            policy: "p".into(),
            local_asn: 64512,
            router_id: "10.160.1.25".parse().unwrap(),
            listen_port: 179,
            confederation: None,
            peers: vec![sim_core::k8s::BgpPeer {
                address: "10.160.1.1".parse().unwrap(),
                port: 179,
                asn: 65000,
                multihop_ttl: 1,
                graceful_restart_secs: 120,
            }],
            routes: Vec::new(),
        };
        let t = gobgpd_conf(&config);
        assert!(t.starts_with("[global.config]\n  as = 64512\n  router-id = \"10.160.1.25\"\n  port = 179\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"10.160.1.1\"\n    peer-as = 65000\n"), "{t}");
        assert!(t.contains(
            "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n"
        ));
        assert!(!t.contains("ebgp-multihop"), "TTL 1 is gobgp's default");
    }
}
