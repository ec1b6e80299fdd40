//! # sim-core: antlab's pure core
//!
//! Everything here is deterministic and side-effect free: no wall clock, no file
//! system, no threads, no tokio. Callers hand in text and get back state, frames
//! and logs. The CLI and real mode (`datapath/`) do the I/O.
//!
//! ## Module map (start at `sim`)
//! - [`time`]: `SimTime`/`SimDuration`, integer nanoseconds, parse `200ms`.
//! - [`rng`]: the one PRNG (`SimRng` = PCG64 MCG), master seed, per-name streams.
//! - [`sched`]: the event queue: `Scheduler` trait, binary-heap and other impls, the
//!   ns-3-shaped DES benchmark.
//! - [`bgp`]: BGP-4 as the lab's speakers run it: the session state machine
//!   (`fsm`, RFC 4271 §8), a router's table (`rib`: best path, multipath,
//!   Graceful Restart's stale paths), the sessions' TCP (`tcp`, smoltcp's).
//! - [`conntrack_tcp`]: Linux conntrack's TCP state machine and timeouts, shared by
//!   the hosts' netfilter (`sim::nat`) and br-int's conntrack (`openflow::conntrack`).
//! - [`wire`]: real frame bytes: Ethernet II, 802.1Q, ARP, IPv4, ICMP, UDP, TCP;
//!   a pcap writer.
//! - [`model`]: the lab as data: devices, interfaces, switch ports and VLAN modes,
//!   links, routes and rules. Built by `topology`, run by `sim`.
//! - [`topology`]: the topology YAML format and its loader/validator.
//! - [`k8s`]: Kubernetes manifests accepted verbatim (multi-document YAML), label
//!   selectors.
//! - [`engine`]: the control-plane engine: cluster state in, per-node desired
//!   dataplane out. The simulator executes that output; real mode will apply it.
//! - [`sim`]: the discrete-event simulator: hosts (ARP, routing, NAT), switches
//!   (VLANs, MAC learning), links, power, probes, the event log, and each
//!   node's br-int executing its compiled OpenFlow program
//!   (`sim/world/br_int.rs`; `options.brInt: switch` makes it a plain switch).
//! - [`openflow`]: br-int as an OpenFlow program: flow text, the interpreter
//!   (tables, actions, conntrack with NAT, groups, learn), traces, counters.
//! - [`flows`]: Antrea's flow exporter (connection store, expire queue, export
//!   rounds, L7 `httpVals`), its flow record, and an RFC 7011 IPFIX exporting
//!   process (UDP or TCP).
//! - [`scenario`]: the scenario YAML format, its timeline runner and
//!   `scenario::judge`, what each expectation means (for the simulator and
//!   real mode alike); `scenario::flow_export` feeds each node's conntrack to
//!   its flow exporter.
//! - [`report`]: kubectl/antctl-like tables and the timeline printer.
//! - [`input`]: `file:line:column` errors shared by every loader.
//! - `keyhash`: the fixed word-at-a-time hasher of the hashed tables and keys.
//! - [`sweep`]: `antlab sweep`: a scenario run once per failure, each run's
//!   row (moves, outages split, black holes), shards and their merge.
//! - [`scale`]: `antlab gen`, a large generated cluster (racks, Pods, Services,
//!   Egresses) written as ordinary topology, manifest and scenario files.

// No unsafe code but one allowed prefetch hint (`sim::world::warm`).
#![deny(unsafe_code)]

pub mod bgp;
pub mod conntrack_tcp;
pub mod engine;
pub mod flows;
pub mod input;
pub mod k8s;
pub(crate) mod keyhash;
pub mod model;
pub mod openflow;
pub mod report;
pub mod rng;
pub mod scale;
pub mod scenario;
pub mod sched;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod topology;
pub mod wire;
