//! A probe's first packet through its source node's br-int program: what
//! the TUI's Trace pane shows beside the probe's hops, and what `antlab
//! trace` prints for the same flow. The walk is the interpreter's, on the
//! program the engine compiles for the node at the cluster's current state,
//! with conntrack seeing a new connection (`--ct-next` left empty).

use crate::engine::ClusterState;
use crate::engine::pipeline::{inspect, node_pipeline};
use crate::sim::World;
use crate::sim::probe::{Probe, ProbeKind};

/// The source port the walk uses for TCP probes (any ephemeral port takes
/// the same flows; the probe's own ports are chosen per attempt).
pub const WALK_SOURCE_PORT: u16 = 40000;

/// The ofproto/trace flow of `probe`'s first packet, with the `pod:` shorthand
/// for its source Pod, and the node that Pod runs on. Err when the probe does
/// not start in a Pod (its packets reach br-int only after the host routes
/// them).
pub fn probe_flow(
    world: &World,
    cluster: &ClusterState,
    probe: &Probe,
) -> Result<(String, String), String> {
    let spec = probe.spec();
    let from = world.device(spec.from).name();
    let pod = from
        .split_once('/')
        .and_then(|(ns, name)| cluster.pod_by_name(ns, name))
        .ok_or_else(|| {
            format!(
                "{} starts on {from}, not in a Pod: br-int sees its packets after the host routes them (antlab trace NODE 'in_port=2,...' walks one)",
                spec.name
            )
        })?;
    let l4 = match &spec.kind {
        ProbeKind::Ping => "icmp,icmp_type=8,icmp_code=0".to_string(),
        ProbeKind::Tcp { port } | ProbeKind::Http { port, .. } => {
            format!("tcp,tp_src={WALK_SOURCE_PORT},tp_dst={port}")
        }
    };
    let node = cluster.node(pod.node).name.clone();
    let flow = format!("pod:{}/{},{l4},nw_dst={}", pod.namespace, pod.name, spec.to);
    Ok((node, flow))
}

/// The walk of `probe`'s first packet through its node's br-int, as
/// `ofproto/trace` prints it, after a one-line heading.
pub fn probe_walk(world: &World, cluster: &ClusterState, probe: &Probe) -> Result<String, String> {
    let (node, flow) = probe_flow(world, cluster, probe)?;
    let pipeline = node_pipeline(cluster, &node)?;
    let mut program = inspect::program(&pipeline)?;
    let expanded = inspect::expand_flow(cluster, &node, &flow)?;
    let walk = inspect::trace(&mut program, &expanded, &[])?;
    Ok(format!(
        "br-int of {node}, first packet of {} (new connection):\n{}",
        probe.spec().name,
        walk.render()
    ))
}
