//! What a run produces: the [`Outcome`] (final world and cluster, the
//! expectations' results, exported flows) and the options a run takes. A
//! room of its own so that the runner's parts (timeline, control, steps,
//! views) all depend on it and not on each other.

use super::flow_export::ExporterSession;
use crate::engine::ClusterState;
use crate::flows::NodeFlowRecord;
use crate::sim::World;

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Record every port's traffic for `--pcap`.
    pub capture: bool,
    /// Stop at this time instead of the scenario's end (steps after it are not
    /// run), to look at the state mid-way (`antlab get ... --at 12s`).
    pub stop_at: Option<crate::time::SimTime>,
}

/// An expectation's outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExpectResult {
    pub(crate) time: crate::time::SimTime,
    pub line: u64,
    pub column: u64,
    pub passed: bool,
    pub message: String,
}

pub struct Outcome {
    pub world: World,
    pub cluster: ClusterState,
    pub seed: u64,
    pub expectations: Vec<ExpectResult>,
    /// Flow records the agents exported (FlowExporter gate), in export
    /// order: the first `Runner::keep_flow_records` of them.
    pub flows: Vec<NodeFlowRecord>,
    /// The agents' connections to the collector (when each sent its template).
    pub flow_sessions: Vec<ExporterSession>,
    /// Flow records exported in all, kept or not.
    pub flows_exported: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed)
    }
}
