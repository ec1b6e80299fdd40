//! # datapath: real mode (Linux network namespaces, Open vSwitch, nftables)
//!
//! Real mode builds a scenario's lab out of kernel objects and applies the
//! engine's decisions, unchanged, to it: the same `NodeDataplane` values the
//! simulator executes, computed from the *real* memberlist views of agents
//! that probe each other over real UDP. Then it observes what happened (which
//! namespace holds the Egress IP, what source the external host saw, the
//! gateway's ARP entry) so a scenario can be compared with the simulator.
//!
//! ## Module map
//! - [`bench`]: lab bring-up/tear-down and OVS programming benchmarks.
//! - [`bfd`]: BFD on a switch's static routes (ICMP probes with BFD's timers).
//! - [`bgp`]: BGP speakers: FRR on a topology's BGP router, gobgpd (and a
//!   bfdd) on each node a BGPPolicy selects, configured from the engine.
//! - [`clock`]: the wall clock (the only place this crate reads it).
//! - [`sys`]: running `ip`, `nft`, `ovs-*`, with errors that name the command.
//! - [`script`]: words written into `ip -batch`/`nft -f` scripts and shell hints.
//! - [`state`]: the per-run state file; everything is recorded before it exists.
//! - [`cleanup`]: `antlab real down [--all]`, from the state file and by name.
//! - [`ovs`]: a private `ovsdb-server` + `ovs-vswitchd` (userspace datapath).
//! - [`oftrace`]: a private br-int that loads a program's flow text and
//!   parses `ofproto/trace` into a verdict (the differential test's oracle).
//! - [`lab`]: topology → namespaces, veths, OVS bridges and ports; power, links,
//!   Pods and `antrea-ext.<vlan>` legs at run time. The design is in its docs.
//! - [`neigh`]: ageing OVS's tunnel neighbours as the kernel ages its own
//!   (nodes with their own OVS).
//! - [`apply`]: [`NodeBackend`] for Linux: addresses, routes, rules, nftables
//!   (marks, SNAT, north-south Service DNAT) and OpenFlow Service groups,
//!   and the TrafficControl ports on each node's br-int.
//! - [`inline`]: the `inline` step's appliance between TrafficControl ports
//!   (tc ingress filters and `mirred` on the port's tap device).
//! - [`dsr`]: AntreaProxy's direct server return in a node's nftables, for
//!   the `brInt: switch` lab (with the program, br-int does it).
//! - [`agent`]: the engine's sans-I/O memberlist agent on a real UDP socket and TCP listener (port 10351), with Antrea's 60 s RejoinNodes.
//! - [`traceflow`]: Traceflow walked by each node's own OVS (`ofproto/trace`),
//!   read by the engine's observation code and compared with the simulator's.
//! - [`traffic`]: probes (ping, TCP, HTTP) and the HTTP servers of Pods and hosts.
//! - [`observe`]: reading outcomes back from the kernel and OVS.
//! - [`observer`]: the expectation judge's observer for real mode, over `observe`
//!   and the probes.
//! - [`preflight`]: what real mode refuses before building anything, and why.
//! - [`compare`]: one expectation judged for real and in the simulator, and the
//!   observations of both side by side.
//! - [`run`]: playing a scenario's timeline for real, and the comparison with
//!   the simulator (`antlab run --mode real|both`).
//! - [`signals`]: SIGINT/SIGTERM during a run (named, exit 128 + signal).
//! - [`netns`]: entering a namespace from a thread (`setns`).
//! - [`kind`]: a kind cluster as a target: node containers from `docker
//!   inspect` (PID, `/proc/PID/ns/net`, `kind` network address), nodes and
//!   objects from `kubectl get -o yaml`, and an antlab lab generated from them.
//!
//! Everything here needs root, and the packages listed by
//! [`sys::missing_prerequisites`].

pub mod agent;
pub mod apply;
pub mod bench;
pub mod bfd;
pub mod bgp;
pub mod cleanup;
pub mod clock;
pub mod compare;
pub mod dsr;
pub mod inline;
pub mod kind;
pub mod lab;
pub mod neigh;
pub mod netns;
pub mod observe;
pub mod observer;
pub mod oftrace;
pub mod ovs;
pub mod preflight;
pub mod run;
pub mod script;
pub mod signals;
pub mod state;
pub mod sys;
pub mod traceflow;
pub mod traffic;

use sim_core::engine::dataplane::NodeDataplane;

/// Something that can make one node's dataplane equal to a desired state.
/// `apply` must be idempotent, like the simulator's
/// `World::apply_dataplane`; the Linux backend applies nftables and OpenFlow
/// changes as single transactions (`nft -f`, `ovs-ofctl bundle`).
pub trait NodeBackend {
    type Error: std::error::Error;

    fn apply(&mut self, node: &str, desired: &NodeDataplane) -> Result<(), Self::Error>;
}
