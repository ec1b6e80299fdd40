//! Scenarios: a topology, a seed and a timeline of steps, in YAML.
//!
//! ```yaml
//! name: blog-ping
//! topology: ../topologies/blog-lab.yaml   # relative to this file
//! seed: 1                                 # optional; --seed overrides
//! until: 30s                              # optional; default: last step + 1s
//! steps:
//!   - at: 0s
//!     apply: {file: manifests/ubuntu-pod.yaml}   # or {inline: "<multi-doc YAML>"}
//!   - at: 1s
//!     probe: {name: ping-ext, from: pod/egress/ubuntu, to: ext-vm, interval: 200ms}
//!   - at: 5s
//!     power: {device: k8s-node-vm-1-cl-02, state: off}
//!   - at: 6s
//!     expect:
//!       - {probe: ping-ext, last: fail, reason: powered off}
//! ```
//! One action per step, from [`STEP_ACTIONS`]. Unknown keys are errors with line and
//! column. [`load`] parses and checks everything it can before anything runs
//! (within [`limits`]); [`admit::admit`] applies every step without time
//! passing, to find what only applying can refuse; [`run::run`] plays the
//! timeline; [`judge`] decides what each expectation means, for the
//! simulator and real mode alike.

pub mod admit;
mod apply;
mod control;
mod doc;
mod ecmp_options;
mod execute;
mod failover;
pub mod flow_export;
pub mod judge;
pub mod limits;
mod load;
pub mod node_lifecycle;
mod outcome;
pub mod run;
mod show;
pub mod start_time;
mod step;
mod traceflow;
mod vlan_steps;

/// Every action a step can take, as the scenario file spells it (the README
/// documents each; `tests/readme.rs` checks that it does).
pub const STEP_ACTIONS: &[&str] = &[
    "apply",
    "delete",
    "label",
    "annotate",
    "power",
    "link",
    "vlan",
    "route",
    "clearArp",
    "probe",
    "stopProbe",
    "show",
    "expect",
    "say",
    "inline",
];

pub use failover::ControlNews;
pub use load::{FileReader, Scenario, load, load_for_version, parse_show};
pub use step::{
    Action, Endpoint, ExpectKind, Expectation, MacRef, ProbeStep, Show, Step, inline_targets,
};
