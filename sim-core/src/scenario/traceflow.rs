//! Traceflow CRs in a scenario. An injected packet runs when its Traceflow
//! is applied. A live-traffic Traceflow starts Running: the world's br-ints
//! watch for its packet (`sim::world::live_traceflow`), each report comes
//! back as a control event and is read into observations here, and the
//! Traceflow succeeds as Antrea's controller judges it
//! (`engine::pipeline::traceflow::succeeded`) or fails with
//! `Traceflow timeout` when its timeout passes.
//!
//! Antrea's controller checks for timeouts every 10 s
//! (pkg/controller/traceflow/controller.go, `timeoutCheckInterval`); antlab
//! fails a live Traceflow at its timeout exactly.

use crate::engine::pipeline::inspect::pod_ofport;
use crate::engine::pipeline::traceflow::{
    LiveRequest, RecordedTracer, TraceflowRequest, TraceflowResult, destination_ip,
    destination_text, succeeded, traceflow, traceflow_with,
};
use crate::engine::{ClusterState, PodState};
use crate::k8s::{self, TraceflowDestination as D};
use crate::sim::trace::LogKind;
use crate::sim::{LiveWatch, TagAt, World};
use crate::time::SimDuration;

/// The control timer that checks live Traceflows' timeouts.
pub(super) const TIMEOUT_TOKEN: u64 = 4;

fn pod<'a>(cluster: &'a ClusterState, ns: &str, name: &str) -> Result<&'a PodState, String> {
    cluster
        .pod_by_name(ns, name)
        .ok_or_else(|| format!("no Pod {ns}/{name}"))
}

/// Applies Traceflow `tf`: runs an injected packet, or starts watching.
pub(super) fn apply(
    world: &mut World,
    cluster: &mut ClusterState,
    tf: &k8s::Traceflow,
) -> Result<(), String> {
    match tf.live {
        None => inject(world, cluster, tf),
        Some(live) => watch(world, cluster, tf, live),
    }
}

fn inject(
    world: &mut World,
    cluster: &mut ClusterState,
    tf: &k8s::Traceflow,
) -> Result<(), String> {
    let (Some((ns, pod)), Some(dst)) = (&tf.source, &tf.destination) else {
        return Err("an injected packet needs a source Pod and a destination".into());
    };
    // No packet given: ICMP, or a Service's first port (Antrea's
    // preparePacket).
    let flow = tf.flow.clone().unwrap_or_else(|| match dst {
        D::Service { namespace, name } => cluster
            .services
            .get(&format!("{namespace}/{name}"))
            .and_then(|s| s.spec.ports.first())
            .map_or("icmp".to_string(), |p| match p.protocol {
                k8s::Protocol::Udp => format!("udp,udp_dst={}", p.port),
                _ => format!("tcp,tcp_dst={}", p.port),
            }),
        _ => "icmp".to_string(),
    });
    let now = world.now().as_nanos() / 1_000_000_000;
    let mut result = traceflow(cluster, (ns, pod), dst, &flow, now)?;
    result.name = tf.meta.name.clone();
    let summary = last_observation(&result);
    world.record(
        LogKind::Engine,
        "antrea-controller",
        format!(
            "Traceflow {} {}: {} -> {} ({}){summary}",
            result.name, result.phase, result.source, result.destination, flow
        ),
    );
    cluster.traceflows.insert(result.name.clone(), result);
    Ok(())
}

/// `; last observation on NODE: COMPONENT ACTION`, or nothing.
fn last_observation(r: &TraceflowResult) -> String {
    r.results
        .last()
        .and_then(|n| n.observations.last().map(|o| (n.node.as_str(), o)))
        .map_or(String::new(), |(node, o)| {
            format!("; last observation on {node}: {} {}", o.component, o.action)
        })
}

/// The protocol and ports a live Traceflow's packet spec asks for, from
/// its flow (`tcp,tcp_dst=80`); none: any IP packet.
fn packet_match(flow: Option<&str>) -> (Option<u8>, Option<u16>, Option<u16>) {
    let Some(flow) = flow else {
        return (None, None, None);
    };
    let mut parts = flow.split(',');
    let proto = match parts.next() {
        Some("tcp") => Some(6),
        Some("udp") => Some(17),
        Some("icmp") => Some(1),
        _ => None,
    };
    let (mut src, mut dst) = (None, None);
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.parse().ok();
            if k.ends_with("_src") {
                src = v;
            } else if k.ends_with("_dst") {
                dst = v;
            }
        }
    }
    (proto, src, dst)
}

fn watch(
    world: &mut World,
    cluster: &mut ClusterState,
    tf: &k8s::Traceflow,
    live: k8s::LiveTraffic,
) -> Result<(), String> {
    let name = tf.meta.name.clone();
    let (node, at) = match (&tf.source, &tf.destination) {
        (Some((ns, p)), dst) => {
            let src = pod(cluster, ns, p)?;
            let nw_dst = dst
                .as_ref()
                .map(|d| destination_ip(cluster, d))
                .transpose()?;
            let at = TagAt::Sender {
                ofport: pod_ofport(cluster, src),
                nw_dst,
            };
            (src.node, at)
        }
        (None, Some(D::Pod { namespace, name })) => {
            let p = pod(cluster, namespace, name)?;
            let at = TagAt::Receiver {
                pod_ip: p.ip,
                nw_src: tf.source_ip,
            };
            (p.node, at)
        }
        (None, _) => {
            return Err("a live-traffic Traceflow needs a source or a destination Pod".into());
        }
    };
    let node_name = cluster.node(node).name.clone();
    let device = cluster
        .node(node)
        .device
        .ok_or_else(|| format!("{node_name} is not in the lab"))?;
    let (nw_proto, tp_src, tp_dst) = packet_match(tf.flow.as_deref());
    world.watch_traceflow(LiveWatch {
        name: name.clone(),
        node: device,
        at,
        nw_proto,
        tp_src,
        tp_dst,
        dropped_only: live.dropped_only,
    });
    let deadline = world.now() + SimDuration::from_secs(u64::from(tf.timeout_s));
    world.control_timer(deadline, TIMEOUT_TOKEN);
    let source = match (&tf.source, tf.source_ip) {
        (Some((ns, p)), _) => format!("{ns}/{p}"),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => String::new(),
    };
    let dest = tf
        .destination
        .as_ref()
        .map(destination_text)
        .unwrap_or_default();
    let flow = tf.flow.clone().unwrap_or_default();
    world.record(
        LogKind::Engine,
        "antrea-controller",
        format!(
            "Traceflow {name} Running: live traffic {} -> {} ({}){}: the first packet of a new connection is traced (timeout {} s)",
            if source.is_empty() { "*" } else { &source },
            if dest.is_empty() { "*" } else { &dest },
            if flow.is_empty() { "any protocol" } else { &flow },
            if live.dropped_only { ", dropped only" } else { "" },
            tf.timeout_s
        ),
    );
    let request = TraceflowRequest {
        source: tf.source.clone().unwrap_or_default(),
        destination: tf.destination.clone(),
        flow,
        at_s: world.now().as_nanos() / 1_000_000_000,
        catalog: None,
        hops: Vec::new(),
        live: Some(LiveRequest {
            dropped_only: live.dropped_only,
            has_source_pod: tf.source.is_some(),
            deadline,
        }),
    };
    cluster.traceflows.insert(
        name.clone(),
        TraceflowResult {
            name,
            request,
            phase: "Running",
            reason: None,
            source,
            destination: dest,
            captured_packet: None,
            results: Vec::new(),
        },
    );
    Ok(())
}

/// A node reported live Traceflow `name`'s packet: its observations so
/// far, and Succeeded once Antrea's controller would say so.
pub(super) fn reported(world: &mut World, cluster: &mut ClusterState, name: &str) {
    let Some(cap) = world.traceflow_capture(name) else {
        return;
    };
    let Some(tf) = cluster
        .traceflows
        .get(name)
        .filter(|t| t.phase == "Running")
    else {
        return;
    };
    let mut request = tf.request.clone();
    request.hops = cap.hops.iter().map(|(h, _)| h.clone()).collect();
    request.catalog = cap.catalog.clone();
    let walks = cap.hops.iter().map(|(_, w)| w.clone()).collect();
    let packet = cap.packet.clone();
    let read = traceflow_with(cluster, &request, &mut RecordedTracer::new(walks));
    let live = request.live.clone().unwrap_or_default();
    let r = match read {
        Ok(r) => r,
        Err(e) => {
            world.record(
                LogKind::Warn,
                "antrea-controller",
                format!("Traceflow {name}: its packet's walk could not be read: {e}"),
            );
            return;
        }
    };
    let done = succeeded(&r.results, live.dropped_only, live.has_source_pod);
    let Some(tf) = cluster.traceflows.get_mut(name) else {
        return;
    };
    tf.request = request;
    tf.results = r.results;
    tf.captured_packet = packet;
    if done {
        tf.phase = "Succeeded";
        let summary = last_observation(tf);
        world.stop_traceflow(name);
        world.record(
            LogKind::Engine,
            "antrea-controller",
            format!(
                "Traceflow {name} Succeeded: live traffic {} -> {}{summary}",
                tf.source, tf.destination
            ),
        );
    }
}

/// The timeout check: every live Traceflow still Running past its
/// deadline fails.
pub(super) fn check_timeouts(world: &mut World, cluster: &mut ClusterState) {
    let now = world.now();
    for tf in cluster.traceflows.values_mut() {
        let expired =
            tf.phase == "Running" && tf.request.live.as_ref().is_some_and(|l| l.deadline <= now);
        if expired {
            tf.phase = "Failed";
            tf.reason = Some("Traceflow timeout".into());
            world.stop_traceflow(&tf.name);
            world.record(
                LogKind::Engine,
                "antrea-controller",
                format!(
                    "Traceflow {} Failed: Traceflow timeout ({} node result(s) reported)",
                    tf.name,
                    tf.results.len()
                ),
            );
        }
    }
}
