//! The differential check of one node's br-int program: the same sample
//! packets walked by the simulator's OpenFlow interpreter
//! (`sim_core::openflow`) and traced by real OVS (`ofproto/trace` on a
//! [`TraceBridge`] holding the same program), verdict against verdict.
//!
//! Both sides resume each `ct()` with the same scripted states
//! (`--ct-next`); the interpreter takes the select-group buckets OVS chose
//! (OVS hashes with its own function, and which endpoint a connection gets
//! is not what this compares); the verdicts — output ports, tunnel
//! destinations, the headers at each output, controller, NORMAL, every
//! `ct()` with its zone, commit, NAT and table — must be equal.

use std::collections::BTreeMap;

use sim_core::engine::pipeline::NodePipeline;
use sim_core::engine::pipeline::packets::{SamplePacket, TrafficClass};
use sim_core::openflow::{Conntrack, CtMode, CtState, Packet, Program, Verdict};

use super::bridge::{OfTraceError, TraceBridge};

/// A packet on which the two sides disagreed.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub class: TrafficClass,
    pub flow: String,
    pub ct_next: Vec<&'static str>,
    pub sim: Verdict,
    pub real: Verdict,
    /// The interpreter's walk, for the report.
    pub sim_trace: String,
}

/// What one node's check found.
#[derive(Debug, Clone, Default)]
pub struct NodeDiff {
    pub node: String,
    pub flows: usize,
    pub groups: usize,
    /// Per traffic class: (packets, agreed).
    pub by_class: BTreeMap<TrafficClass, (usize, usize)>,
    /// Per traffic class: how many packets each side did not forward (no
    /// output and no `NORMAL`: dropped, or only sent to the agent as a
    /// policy's logged or denied packet is); the same when they agree.
    pub drops: BTreeMap<TrafficClass, usize>,
    pub mismatches: Vec<Mismatch>,
}

impl NodeDiff {
    pub fn packets(&self) -> usize {
        self.by_class.values().map(|(n, _)| n).sum()
    }
    pub fn agreed(&self) -> usize {
        self.by_class.values().map(|(_, a)| a).sum()
    }
}

/// The interpreter's side: the program as `antlab rules`/`trace` load it.
pub fn sim_program(pipeline: &NodePipeline) -> Result<Program, String> {
    sim_core::engine::pipeline::inspect::program(pipeline)
}

fn scripted(ct_next: &[&str]) -> Result<CtMode, String> {
    let states = ct_next
        .iter()
        .map(|s| CtState::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CtMode::Scripted(states))
}

/// Loads `pipeline` into `bridge` and checks every sample on both sides.
pub fn diff_node(
    bridge: &mut TraceBridge,
    node: &str,
    pipeline: &NodePipeline,
    samples: &[SamplePacket],
) -> Result<NodeDiff, OfTraceError> {
    let program = sim_program(pipeline).map_err(OfTraceError::BadInput)?;
    diff_programs(
        bridge,
        node,
        &program,
        &program.bundle_text(),
        pipeline.tables(),
        samples,
    )
}

/// The check itself, with the interpreter's program and the text real OVS
/// loads given apart (the same in [`diff_node`]; a test gives them apart to
/// see that a difference is found).
pub fn diff_programs(
    bridge: &mut TraceBridge,
    node: &str,
    program: &Program,
    real_text: &str,
    tables: &[(u8, &'static str)],
    samples: &[SamplePacket],
) -> Result<NodeDiff, OfTraceError> {
    bridge.load(real_text, tables)?;
    let mut out = NodeDiff {
        node: node.to_string(),
        flows: program.flow_count(),
        groups: program.group_count(),
        ..NodeDiff::default()
    };
    for s in samples {
        let real = bridge.trace_detailed(&s.flow, &s.ct_next)?;
        let pins: Vec<(u32, u32)> = real.buckets.iter().map(|b| (b.group, b.bucket)).collect();
        let packet = Packet::parse_trace_flow(&s.flow).map_err(OfTraceError::BadInput)?;
        let mode = scripted(&s.ct_next).map_err(OfTraceError::BadInput)?;
        let walk = program.simulate(&mut Conntrack::new(), &mode, &packet, &pins);
        let entry = out.by_class.entry(s.class).or_default();
        entry.0 += 1;
        if walk.verdict == real.verdict {
            entry.1 += 1;
            if walk.verdict.outputs.is_empty() && !walk.verdict.normal {
                *out.drops.entry(s.class).or_default() += 1;
            }
        } else {
            out.mismatches.push(Mismatch {
                class: s.class,
                flow: s.flow.clone(),
                ct_next: s.ct_next.clone(),
                sim: walk.verdict.clone(),
                real: real.verdict,
                sim_trace: walk.render(),
            });
        }
    }
    Ok(out)
}
