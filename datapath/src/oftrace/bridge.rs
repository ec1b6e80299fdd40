//! [`TraceBridge`]: a private Open vSwitch with one netdev bridge `br-int`
//! laid out as Antrea lays out a node's (tunnel at OpenFlow port 1, gateway
//! at 2, Pods from 3), which loads a program as bundle text and answers
//! `ofproto/trace` questions about it.
//!
//! The daemons are [`crate::ovs::Ovs`]'s: their pids and the switch
//! namespace go into a run state file (`/run/antlab/<id>/state.json`) before
//! they exist, so `antlab real down` finds a bridge whose owner was killed,
//! and dropping a `TraceBridge` (also while a panic unwinds) removes all of
//! it through [`crate::cleanup::down`].
//!
//! Ports:
//! - `antrea-tun0`, ofport 1: `type=geneve options:key=flow
//!   options:remote_ip=flow`, as Antrea v1.15.1 makes its default tunnel
//!   (`pkg/agent/agent.go` setupDefaultTunnelInterface calls
//!   `CreateTunnelPortExt(.., config.DefaultTunOFPort, ..)` with no remote IP,
//!   and `pkg/ovs/ovsconfig/ovs_client.go` createTunnelPort then sets
//!   `options["key"] = "flow"` and `options["remote_ip"] = "flow"`; no
//!   `local_ip` on Linux, `agent_linux.go` getTunnelPortLocalIP returns nil;
//!   `csum`/`dst_port` only when configured, which the defaults are not).
//! - `antrea-gw0`, ofport 2: `type=internal`, as Antrea's gateway.
//! - `pod<N>`, ofport N = 3, 4, ...: `type=internal` too. An internal port
//!   of the netdev datapath is a tap in the switch namespace, needs no kernel
//!   module and no peer, and works with the stock daemon; `type=dummy`
//!   works as well but only when `ovs-vswitchd` runs with `--enable-dummy`
//!   (a test-mode daemon). Measured here: 30 internal ports in one
//!   `ovs-vsctl` call 23 ms, 30 dummy ports 15 ms; both let
//!   `ofproto/trace in_port=N` run. Internal it is, so the daemon is the one
//!   real mode runs.
//!
//! Select groups: Antrea leaves `selection_method` unset, and OVS 3.1 then
//! picks the bucket by the datapath's `dp_hash` after a recirculation that
//! `ofproto/trace` does not follow (it prints `no live bucket` and stops at
//! `Datapath actions: hash(sym_l4(0)),recirc(..)`). [`TraceBridge::load`]
//! therefore loads such groups with `selection_method=hash,fields(..)`: OVS
//! hashes in userspace, the trace prints `-> using bucket N` and continues
//! into the bucket. Which bucket is OVS's choice either way (the
//! interpreter's hash differs), so [`Traced::buckets`] reports it.

use std::path::{Path, PathBuf};

use crate::cleanup::{self, Cleanup};
use crate::ovs::{Ovs, OvsError};
use crate::state::{Resource, RunState};
use crate::sys::{self, SysError};

use super::parse::{TraceParseError, Traced, parse_trace};
use super::unixctl::{Unixctl, UnixctlError};
use sim_core::openflow::Verdict;

/// The bridge's name, as Antrea's.
pub const BRIDGE: &str = "br-int";
/// Antrea's `config.DefaultTunOFPort` (`pkg/agent/config/node_config.go`).
pub const TUNNEL_OFPORT: u32 = 1;
/// Antrea's `config.HostGatewayOFPort`.
pub const GATEWAY_OFPORT: u32 = 2;
/// The first Pod's port (contract §2).
pub const FIRST_POD_OFPORT: u32 = 3;

/// What a select group's bucket is chosen by when the program does not say
/// (see the module docs). Fields a packet lacks are skipped by OVS.
const SELECT_BY: &str = "selection_method=hash,fields(eth_src,eth_dst,ip_src,ip_dst,tcp_src,tcp_dst,udp_src,udp_dst,sctp_src,sctp_dst)";

#[derive(Debug, thiserror::Error)]
pub enum OfTraceError {
    #[error(transparent)]
    Ovs(#[from] OvsError),
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Unixctl(#[from] UnixctlError),
    #[error("{error}\n--- the trace was:\n{text}")]
    Parse {
        error: TraceParseError,
        text: String,
    },
    #[error("{0}")]
    BadInput(String),
}

/// How a trace reaches `ovs-vswitchd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMethod {
    /// One JSON-RPC connection to the control socket, kept open.
    Persistent,
    /// One `ovs-appctl` process per trace.
    Spawn,
}

/// A private OVS with Antrea's br-int port layout; see the module docs.
pub struct TraceBridge {
    state: RunState,
    ovs: Ovs,
    ctl_path: PathBuf,
    ctl: Option<Unixctl>,
    pods: u32,
    /// Further ports (TrafficControl's) as `(ofport, name)`.
    extra: Vec<(u32, String)>,
    removed: bool,
}

impl Drop for TraceBridge {
    /// A panic unwinding through a test removes the bridge too.
    fn drop(&mut self) {
        if !self.removed {
            self.removed = true;
            cleanup::down(&self.state);
        }
    }
}

/// The text of `bundle` as `ovs-ofctl bundle` takes it: groups before the
/// flows that name them (a bundle is applied in order and a flow naming a
/// missing group fails with OFPBAC_BAD_OUT_GROUP), select groups with a
/// selection method `ofproto/trace` can follow.
pub fn bundle_for_ovs(bundle: &str) -> Result<String, OfTraceError> {
    let mut groups = Vec::new();
    let mut flows = Vec::new();
    for (i, raw) in bundle.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with("group ") {
            let select = l.contains("type=select") && !l.contains("selection_method=");
            groups.push(if select {
                l.replacen("type=select", &format!("type=select,{SELECT_BY}"), 1)
            } else {
                l.to_string()
            });
        } else if l.starts_with("flow ") {
            flows.push(l.to_string());
        } else {
            return Err(OfTraceError::BadInput(format!(
                "bundle line {}: `{l}` is neither `flow ...` nor `group ...`",
                i + 1
            )));
        }
    }
    let mut text = groups.join("\n");
    for f in flows {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&f);
    }
    text.push('\n');
    Ok(text)
}

impl TraceBridge {
    /// Starts the daemons and builds br-int with the tunnel, the gateway and
    /// `pods` Pod ports (ofports 3..3+pods).
    pub fn start(pods: u32) -> Result<TraceBridge, OfTraceError> {
        Self::start_with(pods, &[])
    }

    /// As [`TraceBridge::start`], with further internal ports at the given
    /// ofports (a program's TrafficControl ports: `ofproto/trace` drops an
    /// output to a port the bridge does not have).
    pub fn start_with(pods: u32, extra: &[(u32, String)]) -> Result<TraceBridge, OfTraceError> {
        if pods > 1000 {
            return Err(OfTraceError::BadInput(format!(
                "{pods} Pod ports asked for; at most 1000"
            )));
        }
        if extra.len() > 100 {
            return Err(OfTraceError::BadInput(format!(
                "{} further ports asked for; at most 100",
                extra.len()
            )));
        }
        let mut state = RunState::create("trace bridge (ofproto/trace oracle)")?;
        let ovs = match Ovs::start(&mut state) {
            Ok(o) => o,
            Err(e) => {
                cleanup::down(&state);
                return Err(e.into());
            }
        };
        let ctl_path = ovs.vswitchd_ctl().map(PathBuf::from).unwrap_or_default();
        let mut bridge = TraceBridge {
            state,
            ovs,
            ctl_path,
            ctl: None,
            pods,
            extra: extra.to_vec(),
            removed: false,
        };
        bridge.build()?;
        Ok(bridge)
    }

    fn build(&mut self) -> Result<(), OfTraceError> {
        // The bridge's tap and the internal ports' taps live in the switch
        // namespace, with the daemon (crate::ovs), and go with it: nothing
        // is made in the root namespace.
        self.ovs.vsctl(&[
            "add-br",
            BRIDGE,
            "--",
            "set",
            "bridge",
            BRIDGE,
            "datapath_type=netdev",
            "protocols=OpenFlow15",
        ])?;
        let mut args: Vec<String> = Vec::new();
        let mut port = |name: &str, ofport: u32, settings: &[&str]| {
            args.extend(
                [
                    "--",
                    "add-port",
                    BRIDGE,
                    name,
                    "--",
                    "set",
                    "interface",
                    name,
                ]
                .map(String::from),
            );
            args.push(format!("ofport_request={ofport}"));
            args.extend(settings.iter().map(|s| s.to_string()));
        };
        port(
            "antrea-tun0",
            TUNNEL_OFPORT,
            &["type=geneve", "options:key=flow", "options:remote_ip=flow"],
        );
        port("antrea-gw0", GATEWAY_OFPORT, &["type=internal"]);
        for n in 0..self.pods {
            let ofport = FIRST_POD_OFPORT + n;
            port(&format!("pod{ofport}"), ofport, &["type=internal"]);
        }
        for (ofport, name) in &self.extra {
            port(name, *ofport, &["type=internal"]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ovs.vsctl(&refs)?;
        // ovs-vsctl waited for ovs-vswitchd to apply it: every port has its
        // number now, or an error saying why not.
        let listing = self.ovs.vsctl(&[
            "--format=csv",
            "--no-headings",
            "--columns=name,ofport,error",
            "list",
            "interface",
        ])?;
        for l in listing.lines() {
            let cols: Vec<&str> = l.split(',').collect();
            let (name, ofport) = (
                cols[0].trim_matches('"'),
                cols.get(1).copied().unwrap_or(""),
            );
            let want = match name {
                "antrea-tun0" => TUNNEL_OFPORT,
                "antrea-gw0" => GATEWAY_OFPORT,
                n => match n.strip_prefix("pod").and_then(|p| p.parse().ok()) {
                    Some(p) => p,
                    None => continue,
                },
            };
            if ofport.parse::<u32>().ok() != Some(want) {
                return Err(OfTraceError::BadInput(format!(
                    "port {name} got ofport {ofport}, not {want}: {l}"
                )));
            }
        }
        Ok(())
    }

    /// The run's prefix `al<id>-` (its namespace is `al<id>-.ovs`).
    pub fn prefix(&self) -> String {
        self.state.prefix()
    }

    /// The namespace `ovs-vswitchd` and its taps live in.
    pub fn netns(&self) -> &str {
        self.ovs.netns()
    }

    /// The run folder (state file, OVS database, sockets, logs).
    pub fn run_dir(&self) -> &Path {
        self.state.dir()
    }

    /// The pids of `ovsdb-server` and `ovs-vswitchd`.
    pub fn daemon_pids(&self) -> Vec<u32> {
        self.state
            .resources
            .iter()
            .filter_map(|r| match r {
                Resource::Process { pid, .. } => Some(*pid),
                _ => None,
            })
            .collect()
    }

    /// The OpenFlow ports outputs to which carry a tunnel destination.
    pub fn tunnel_ports(&self) -> &'static [u32] {
        &[TUNNEL_OFPORT]
    }

    /// Replaces the bridge's program with `bundle` (`flow add ...` and
    /// `group add ...` lines, numeric tables) in one `ovs-ofctl bundle`, and
    /// names the tables in OVSDB (`Flow_Table` rows) so `dump_flows` shows
    /// `table=Classifier`.
    pub fn load(&mut self, bundle: &str, tables: &[(u8, &str)]) -> Result<(), OfTraceError> {
        let text = bundle_for_ovs(bundle)?;
        // A new bridge has OVS's `priority=0 actions=NORMAL` in table 0; a
        // program is the whole table set, so start from nothing.
        self.ovs.ofctl(&["del-flows", BRIDGE], None)?;
        self.ovs.ofctl(&["del-groups", BRIDGE], None)?;
        self.ovs.ofctl(&["bundle", BRIDGE, "-"], Some(&text))?;
        self.name_tables(tables)
    }

    fn name_tables(&self, tables: &[(u8, &str)]) -> Result<(), OfTraceError> {
        let mut args: Vec<String> = ["--", "clear", "Bridge", BRIDGE, "flow_tables"]
            .map(String::from)
            .to_vec();
        let mut set = vec![
            "--".to_string(),
            "set".into(),
            "Bridge".into(),
            BRIDGE.into(),
        ];
        for (id, name) in tables {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '"') {
                return Err(OfTraceError::BadInput(format!(
                    "table {id}: `{name}` is not a table name"
                )));
            }
            args.extend([
                "--".into(),
                format!("--id=@t{id}"),
                "create".into(),
                "Flow_Table".into(),
                format!("name={name}"),
            ]);
            set.push(format!("flow_tables:{id}=@t{id}"));
        }
        if !tables.is_empty() {
            args.extend(set);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ovs.vsctl(&refs)?;
        Ok(())
    }

    /// `ovs-ofctl dump-flows --names br-int` (tables and ports by name).
    pub fn dump_flows(&self) -> Result<String, OfTraceError> {
        Ok(self.ovs.ofctl(&["dump-flows", "--names", BRIDGE], None)?)
    }

    /// `ovs-ofctl dump-groups br-int`.
    pub fn dump_groups(&self) -> Result<String, OfTraceError> {
        Ok(self.ovs.ofctl(&["dump-groups", BRIDGE], None)?)
    }

    fn trace_params<'a>(flow: &'a str, ct_next: &[&'a str]) -> Vec<&'a str> {
        let mut params = vec![BRIDGE, flow];
        for c in ct_next {
            params.extend(["--ct-next", c]);
        }
        params
    }

    /// The raw `ofproto/trace` text, over `method`.
    pub fn trace_text(
        &mut self,
        flow: &str,
        ct_next: &[&str],
        method: TraceMethod,
    ) -> Result<String, OfTraceError> {
        let params = Self::trace_params(flow, ct_next);
        match method {
            TraceMethod::Spawn => {
                let mut args = vec!["-t", self.ctl_path.to_str().unwrap_or(""), "ofproto/trace"];
                args.extend(&params[..]);
                Ok(sys::run("ovs-appctl", &args)?)
            }
            TraceMethod::Persistent => {
                // One reconnect: a daemon that restarted its unixctl server
                // (or a dropped connection) is not a failed trace.
                for attempt in 0..2 {
                    if self.ctl.is_none() {
                        self.ctl = Some(Unixctl::connect(&self.ctl_path)?);
                    }
                    let ctl = self.ctl.as_mut().expect("connected above");
                    match ctl.call("ofproto/trace", &params) {
                        Err(UnixctlError::Io { .. }) if attempt == 0 => self.ctl = None,
                        other => return Ok(other?),
                    }
                }
                unreachable!("the second attempt returns")
            }
        }
    }

    /// The trace of `flow` (the form `ofproto/trace` takes, contract §5),
    /// with `ct_next` as the states of successive conntrack recirculations,
    /// parsed, with the bucket choices; over the persistent connection.
    pub fn trace_detailed(&mut self, flow: &str, ct_next: &[&str]) -> Result<Traced, OfTraceError> {
        self.trace_detailed_by(flow, ct_next, TraceMethod::Persistent)
    }

    /// [`Self::trace_detailed`] over a chosen method.
    pub fn trace_detailed_by(
        &mut self,
        flow: &str,
        ct_next: &[&str],
        method: TraceMethod,
    ) -> Result<Traced, OfTraceError> {
        let text = self.trace_text(flow, ct_next, method)?;
        parse_trace(&text, self.tunnel_ports()).map_err(|error| OfTraceError::Parse { error, text })
    }

    /// The normalised verdict of `flow` (contract §3).
    pub fn trace(&mut self, flow: &str, ct_next: &[&str]) -> Result<Verdict, OfTraceError> {
        Ok(self.trace_detailed(flow, ct_next)?.verdict)
    }

    /// Removes the daemons, the namespace and the run folder now.
    pub fn down(mut self) -> Cleanup {
        self.removed = true;
        self.ctl = None;
        cleanup::down(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_go_first_and_default_select_groups_get_a_traceable_method() {
        let text = bundle_for_ovs(
            "flow add table=0,priority=1 actions=group:1\n\
             \n\
             group add group_id=1,type=select,bucket=bucket_id:0,actions=output:3\n\
             group add group_id=2,type=select,selection_method=dp_hash,bucket=bucket_id:0,actions=output:3\n\
             group add group_id=3,type=all,bucket=bucket_id:0,actions=output:3\n",
        )
        .unwrap();
        assert_eq!(
            text,
            format!(
                "group add group_id=1,type=select,{SELECT_BY},bucket=bucket_id:0,actions=output:3\n\
                 group add group_id=2,type=select,selection_method=dp_hash,bucket=bucket_id:0,actions=output:3\n\
                 group add group_id=3,type=all,bucket=bucket_id:0,actions=output:3\n\
                 flow add table=0,priority=1 actions=group:1\n"
            )
        );
    }

    #[test]
    fn a_line_that_is_not_a_flow_or_group_is_refused() {
        let e = bundle_for_ovs("flow add table=0 actions=drop\nadd-flow table=0 actions=drop\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bundle line 2: `add-flow table=0 actions=drop` is neither `flow ...` nor `group ...`"
        );
    }
}
