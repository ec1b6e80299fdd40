//! Antrea's br-int OpenFlow pipeline, compiled per node as flow text in
//! Antrea's own unit-test form (pkg/agent/openflow/*_test.go, v1.15.1):
//! the program the simulator's OpenFlow interpreter executes and real mode
//! loads into OVS (issue 14's contract, section 1).
//!
//! Module map:
//! - [`spec`]: the input, [`PipelineSpec`]: encap mode, features, the
//!   gateway, local Pods, peer nodes, Service rules, Egress; port numbers.
//! - [`tables`]: which tables exist and their ids ([`tables()`]), next
//!   tables, stages and miss actions, as pipeline.go/client.go assign them.
//! - `flow`: a flow's and a group's text, cookies (round 1).
//! - `root`: default (table-miss) flows and PipelineRootClassifier.
//! - `pod_connectivity`: gateway, tunnel, conntrack, Pod and peer-node flows.
//! - `service`: AntreaProxy's init flows, groups, ServiceLB/learn/EndpointDNAT.
//! - `network_policy`: the policy feature's init flows and each node's
//!   policy rules (conjunctive clauses, actions, metrics, default drops).
//! - `egress`: Egress init, SNAT-mark and per-Pod flows.
//! - `external_node`: the program of an external Node's agent (the VM's
//!   interface pair, conntrack, the non-IP pipeline).
//! - `traffic_control`: TrafficControl's table, its mark, return and
//!   output flows.
//! - [`compile`](compile()): spec in, [`NodePipeline`] out, in stable order.
//! - [`packets`]: sample packets of every traffic class for a node's program
//!   (the differential test and `antlab bench pipeline`).
//! - [`inspect`]: a node's program as users look at it: loaded into the
//!   interpreter, dump-flows lines (one table or all), an `ofproto/trace`-like
//!   walk of one flow string (with the `pod:NS/NAME` shorthand).
//! - [`traceflow`]: Antrea's Traceflow: a synthetic packet through the
//!   source node's program and the receiving node's, with antctl's
//!   observations per node.
//! - [`synthetic`]: [`synthetic_spec`], one node of a generated cluster with
//!   N Services x M endpoints (the benchmarks' shape).
//! - [`from_cluster`]: [`spec_for_node`], a spec from the engine's cluster state;
//!   [`node_pipeline`], a node's program from the cluster state; the lab's MAC
//!   rule ([`gateway_mac`], [`pod_mac`]).

mod compile;
mod egress;
mod external_node;
mod flow;
pub mod from_cluster;
pub mod inspect;
mod network_policy;
pub mod packets;
mod pod_connectivity;
mod root;
mod service;
pub mod spec;
pub mod synthetic;
pub mod tables;
pub mod traceflow;
mod traffic_control;

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;

pub use compile::{NodePipeline, compile};
pub use from_cluster::{
    external_node_spec, gateway_mac, lab_spec, lab_spec_indexed, node_pipeline, pod_mac,
    pods_by_ofport, spec_for_node,
};
pub use network_policy::{
    PACKET_IN_LOGGING, PACKET_IN_REJECT, PACKET_IN_STORE_DENY, PolicyPacketIn,
};
/// The conntrack zone of Pod traffic and AntreaProxy's DNAT (`CtZone`), the one Antrea's flow exporter dumps.
pub use pod_connectivity::{CT_ZONE, GLOBAL_VIRTUAL_MAC};
pub use spec::{EncapMode, Features, PipelineSpec, PodEgress};
pub use synthetic::synthetic_spec;
pub use tables::tables;
