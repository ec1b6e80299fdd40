//! A real-OVS oracle for differential testing (issue 14, part D): a private
//! `ovsdb-server` + `ovs-vswitchd` with one netdev bridge `br-int` laid out as
//! Antrea's, loaded with a program's bundle text, asked `ofproto/trace`
//! questions, the answers parsed into the normalised verdict the
//! simulator's interpreter also produces.
//!
//! ## Module map
//! - [`bridge`]: [`TraceBridge`]: start, ports, `load` (one `ovs-ofctl
//!   bundle`, table names in OVSDB), `dump_flows`/`dump_groups`, `trace`,
//!   cleanup on drop.
//! - [`parse`]: `ofproto/trace` text → [`Traced`] (verdict, select-group
//!   bucket choices, tables visited).
//! - [`diff`]: one node's program checked packet by packet against the
//!   simulator's interpreter ([`diff_node`]).
//! - [`unixctl`]: a persistent JSON-RPC client for the daemon's control
//!   socket (what `ovs-appctl` speaks, without a process per trace).

pub mod bridge;
pub mod diff;
pub mod parse;
pub mod unixctl;

pub use bridge::{OfTraceError, TraceBridge, TraceMethod};
pub use diff::{Mismatch, NodeDiff, diff_node, diff_programs, sim_program};
pub use parse::{BucketChoice, OutputMeta, Traced, parse_trace};
pub use sim_core::openflow::{CtCall, Emitted, Headers, Verdict};
