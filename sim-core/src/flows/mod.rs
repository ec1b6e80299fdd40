//! Flow export, as Antrea's FlowExporter does it: connection records with active
//! and idle timeouts, L7 (HTTP) details, and their encodings as IPFIX (RFC 7011)
//! messages and JSON lines.
//!
//! Everything here is sans-I/O: the simulator's conntrack feeds observations into
//! [`FlowExporter`] with simulated times, [`FlowExporter::poll`] hands back
//! [`FlowRecord`]s, and [`IpfixEncoder::encode`] turns them into UDP payloads the
//! caller sends (or writes to a pcap). Facts come from Antrea v1.15
//! (`pkg/agent/flowexporter`) and the IANA/Antrea IPFIX registries; see
//! `shared/docs/antrea-behaviour.md` §6.

pub mod exporter;
pub mod ipfix;
pub mod record;

pub use exporter::{Direction, ExporterConfig, FlowError, FlowExporter, FlowKey, FlowMeta};
pub use ipfix::{IpfixEncoder, IpfixError, TemplateRefresh, to_json_lines};
pub use record::{FlowEndReason, FlowRecord, FlowType, HttpExchange, http_vals_json};
