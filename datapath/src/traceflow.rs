//! Traceflow in real mode: the same question the simulator answers
//! (`engine::pipeline::traceflow`), walked by each node's own Open vSwitch
//! (`ovs-appctl ofproto/trace` on its br-int, which holds the program the
//! engine compiled) instead of the simulator's interpreter. The
//! observations are read from OVS's answer by the engine's code, so a
//! difference between the two results is a difference between the
//! datapaths, never between two readers.
//!
//! Like Antrea's Traceflow packet, the traced packet is a new connection:
//! every conntrack recirculation resumes with `ct_state=trk|new`. A
//! live-traffic Traceflow's packets are the ones the simulator's br-ints
//! captured (the first packet of a new connection too), each walked by its
//! node's OVS as it entered that node's br-int.

use sim_core::engine::ClusterState;
use sim_core::engine::pipeline::spec::TUNNEL_OFPORT;
use sim_core::engine::pipeline::traceflow::{
    NodeTrace, NodeTracer, OutPacket, TraceflowResult, traceflow_with,
};
use sim_core::openflow::{PacketIn, Program};

use crate::lab::{BR_INT, Lab};
use crate::oftrace::parse_trace;

/// Recirculations given `trk|new` (more than any Antrea walk makes).
const CT_PASSES: usize = 8;

/// Walks packets through the lab's nodes' br-int.
pub struct LabTracer<'a> {
    lab: &'a Lab,
}

impl<'a> LabTracer<'a> {
    pub fn new(lab: &'a Lab) -> LabTracer<'a> {
        LabTracer { lab }
    }
}

impl NodeTracer for LabTracer<'_> {
    fn trace(&mut self, node: &str, _program: &Program, flow: &str) -> Result<NodeTrace, String> {
        if !self.lab.node_switches.contains_key(node) {
            return Err(format!(
                "{node} has no br-int of its own in this lab (brInt: switch), so it holds no program to trace"
            ));
        }
        let ovs = self.lab.int_bridge_ovs(node);
        let mut args = vec!["ofproto/trace", BR_INT, flow];
        for _ in 0..CT_PASSES {
            args.extend(["--ct-next", "trk,new"]);
        }
        let text = ovs
            .appctl(&args)
            .map_err(|e| format!("{node}: ofproto/trace: {e}"))?;
        let t = parse_trace(&text, &[TUNNEL_OFPORT]).map_err(|e| format!("{node}: {e}"))?;
        let out = t
            .verdict
            .outputs
            .first()
            .zip(t.output_meta.first())
            .map(|(e, m)| OutPacket {
                headers: e.headers.clone(),
                pkt_mark: m.pkt_mark,
                tun_id: m.tun_id,
                nw_proto: m.nw_proto,
                icmp: m.icmp,
            });
        Ok(NodeTrace {
            tables: t.tables,
            last_match: t.last_match,
            conjunctions: t.conjunctions,
            verdict: t.verdict,
            packet_ins: t
                .packet_ins
                .into_iter()
                .map(|(args, regs)| PacketIn { args, regs })
                .collect(),
            out,
        })
    }
}

/// The Traceflow `name` (applied earlier in the run) asked again of the
/// lab's OVS.
pub fn rerun(
    lab: &Lab,
    cluster: &ClusterState,
    sim: &TraceflowResult,
) -> Result<TraceflowResult, String> {
    let mut r = traceflow_with(cluster, &sim.request, &mut LabTracer::new(lab))?;
    r.name = sim.name.clone();
    if sim.request.live.is_some() {
        // A live-traffic Traceflow: real OVS walks the packets the
        // simulator captured; what was asked and caught is the same.
        r.phase = sim.phase;
        r.reason = sim.reason.clone();
        r.source = sim.source.clone();
        r.destination = sim.destination.clone();
        r.captured_packet = sim.captured_packet.clone();
    }
    Ok(r)
}

/// The differences between the simulator's result and real OVS's, one line
/// each (timestamps aside: each side stamps its own clock).
pub fn differences(sim: &TraceflowResult, real: &TraceflowResult) -> Vec<String> {
    let mut out = Vec::new();
    let n = sim.results.len().max(real.results.len());
    for i in 0..n {
        match (sim.results.get(i), real.results.get(i)) {
            (Some(s), Some(r)) if s.node != r.node => out.push(format!(
                "node {}: the simulator's is {}, real OVS's {}",
                i + 1,
                s.node,
                r.node
            )),
            (Some(s), Some(r)) => {
                let m = s.observations.len().max(r.observations.len());
                for j in 0..m {
                    let (a, b) = (s.observations.get(j), r.observations.get(j));
                    if a != b {
                        out.push(format!(
                            "{} observation {}: simulator {}, real OVS {}",
                            s.node,
                            j + 1,
                            describe(a),
                            describe(b)
                        ));
                    }
                }
            }
            (Some(s), None) => out.push(format!("{}: real OVS has no result for it", s.node)),
            (None, Some(r)) => out.push(format!("{}: the simulator has no result for it", r.node)),
            (None, None) => {}
        }
    }
    out
}

fn describe(o: Option<&sim_core::engine::pipeline::traceflow::Observation>) -> String {
    match o {
        None => "(none)".into(),
        Some(o) => {
            let mut s = format!("{} {}", o.component, o.action);
            for v in [
                &o.component_info,
                &o.network_policy,
                &o.network_policy_rule,
                &o.tunnel_dst_ip,
                &o.translated_dst_ip,
                &o.pod,
                &o.egress_ip,
            ]
            .into_iter()
            .flatten()
            {
                s.push_str(&format!(" {v}"));
            }
            s
        }
    }
}
