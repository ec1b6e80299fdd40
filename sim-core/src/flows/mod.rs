//! Flow export, as Antrea's FlowExporter does it: connection records with active
//! and idle timeouts, L7 (HTTP) details, and their encodings as IPFIX (RFC 7011)
//! messages and JSON lines.
//!
//! Everything here is sans-I/O: the simulator's conntrack dumps feed
//! [`FlowExporter::poll`] at simulated times, [`FlowExporter::export`] runs an
//! export round and hands back [`FlowRecord`]s, and an [`ExportingProcess`]
//! turns them into IPFIX messages the caller sends over UDP or TCP (or writes
//! to a pcap). Facts come from Antrea v1.15 and v2.7 (`pkg/agent/flowexporter`),
//! vmware/go-ipfix (`pkg/exporter/process.go`) and the IANA/Antrea IPFIX
//! registries; see `shared/docs/antrea-behaviour.md` §6.

pub mod exporter;
pub mod ipfix;
pub mod record;

pub use exporter::{DumpedConn, ExporterConfig, FlowExporter, FlowKey, FlowMeta};
pub use ipfix::{ExportingProcess, IpfixError, TimedMessage, Transport, to_json_lines};
pub use record::{
    FlowEndReason, FlowRecord, FlowType, HttpExchange, NodeFlowRecord, PolicyElements,
    http_vals_json,
};
