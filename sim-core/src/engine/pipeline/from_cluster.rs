//! [`spec_for_node`]: a [`PipelineSpec`] from what the engine knows about
//! one node — the cluster state (nodes, Pods, settings) and the node's
//! compiled [`NodeDataplane`] (its Service rules, its Egress SNAT marks and
//! Pod marks).
//!
//! MACs: [`gateway_mac`] and [`pod_mac`] are the one rule for the MACs of
//! `antrea-gw0` and of Pods' `eth0` (the simulator plugs them in with these,
//! sim/world/pods.rs); [`spec_for_node`] takes them as functions so a test
//! can pass others, and [`node_pipeline`] uses the rule.
//!
//! Egress: a local Pod whose Egress IP this node holds is marked with the
//! IP's SNAT mark; a local Pod whose Egress is held elsewhere is tunnelled
//! to the Egress IP itself, as Antrea does (the outer packet reaches the
//! Egress node through the physical network; that node's EgressMark table
//! matches `tun_dst` = its Egress IP, pkg/agent/openflow/pipeline.go).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::compile::{NodePipeline, compile};
use super::spec::{FIRST_POD_OFPORT, Features, PipelineSpec, PodEgress};
use crate::engine::dataplane::{NodeDataplane, SnatTo};
use crate::engine::egress::REMOTE_MARK_SHIFT;
use crate::engine::policy::index::PolicyIndex;
use crate::engine::{ClusterState, NodeId, PodState};
use crate::model::MacAddr;

/// The MAC of `node`'s `antrea-gw0`, derived from the node's name.
pub fn gateway_mac(node: &str) -> MacAddr {
    MacAddr::from_name(&format!("{node}/antrea-gw0"))
}

/// The MAC of a Pod's `eth0`, derived from `namespace/name`.
pub fn pod_mac(namespace: &str, name: &str) -> MacAddr {
    MacAddr::from_name(&format!("{namespace}/{name}"))
}

/// Node `node`'s br-int program as the cluster state says it should be:
/// the engine's dataplane for the node ([`crate::engine::compile`]) turned
/// into a spec with the lab's MACs and compiled. Errors name a node that
/// is not a Kubernetes node.
pub fn node_pipeline(cluster: &ClusterState, node: &str) -> Result<NodePipeline, String> {
    let id = cluster
        .node_id(node)
        .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
    let dps = crate::engine::compile_nodes(cluster, |n| n.id == id);
    let dp = dps
        .get(node)
        .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
    Ok(compile(&lab_spec(cluster, id, dp)))
}

/// Every Pod of `node` with its br-int ofport, in ofport order: Pods take
/// ofports from [`FIRST_POD_OFPORT`] in the cluster's Pod order on the node.
/// The one statement of that rule: the spec, the simulator's port map and
/// `antlab trace`'s `pod:` shorthand all read it here.
pub fn pods_by_ofport(
    cluster: &ClusterState,
    node: NodeId,
) -> impl Iterator<Item = (u32, &PodState)> {
    cluster
        .pods_on(node)
        .enumerate()
        .map(|(i, p)| (FIRST_POD_OFPORT + i as u32, p))
}

/// [`spec_for_node`] with the lab's MAC rule ([`gateway_mac`], [`pod_mac`]):
/// the spec the simulator, `antlab rules`/`trace` and the differential test
/// compile, so the program's MACs are the ones on the simulated wire.
pub fn lab_spec(cluster: &ClusterState, node: NodeId, dp: &NodeDataplane) -> PipelineSpec {
    spec_for_node(cluster, node, dp, gateway_mac, |p| {
        pod_mac(&p.namespace, &p.name)
    })
    .with_policy(crate::engine::policy::node_rules(cluster, node))
}

/// [`lab_spec`] with the policy rules read from an index built once for
/// every node (the runner's sync).
pub fn lab_spec_indexed(
    cluster: &ClusterState,
    node: NodeId,
    dp: &NodeDataplane,
    policies: &PolicyIndex,
) -> PipelineSpec {
    spec_for_node(cluster, node, dp, gateway_mac, |p| {
        pod_mac(&p.namespace, &p.name)
    })
    .with_policy(policies.node_rules(cluster, node))
}

/// The spec of node `node` in the cluster's `trafficEncapMode`, without
/// its policy rules ([`lab_spec`] adds them). `dp` is the node's dataplane as
/// [`crate::engine::compile`] made it; `gateway_mac(node name)` and
/// `pod_mac(pod)` are the MACs the simulator gives them. Pods get ofports
/// from 3 in the cluster's Pod order on the node, peers come in node order.
pub fn spec_for_node(
    cluster: &ClusterState,
    node: NodeId,
    dp: &NodeDataplane,
    gateway_mac: impl Fn(&str) -> MacAddr,
    pod_mac: impl Fn(&PodState) -> MacAddr,
) -> PipelineSpec {
    let me = cluster.node(node);
    let features = Features {
        antrea_proxy: cluster.proxy.antrea_proxy,
        proxy_all: cluster.proxy.proxy_all,
        dsr: cluster.proxy.dsr_enabled,
        egress: cluster.egress.config.enabled,
        antrea_policy: cluster.settings.agent_gate("AntreaPolicy"),
        deny_tracking: cluster.settings.flow_export_on(),
        traffic_control: cluster.settings.agent_gate("TrafficControl"),
        ..Features::default()
    };
    // The transport subnet is not modelled per node: a /32 makes hybrid
    // mode tunnel to every peer.
    let mut spec = PipelineSpec::new(Ipv4Net::from(me.ip), me.pod_cidr, gateway_mac(&me.name))
        .with_encap(cluster.settings.encap_mode())
        .with_features(features)
        .with_service_cidr(cluster.service_cidr)
        .with_egress_except(cluster.egress.config.except_cidrs.clone())
        .with_services(dp.service_rules.clone());
    if let Some(rules) = &dp.service_rules {
        spec = spec.with_nodeport_addresses(rules.antrea_nodeport_addresses.clone());
    }
    let mut ofport_of_ip: BTreeMap<Ipv4Addr, u32> = BTreeMap::new();
    let mut ofport_of_pod = BTreeMap::new();
    for (port, pod) in pods_by_ofport(cluster, node) {
        spec.add_pod_at(port, pod_mac(pod), pod.ip);
        ofport_of_ip.insert(pod.ip, port);
        ofport_of_pod.insert(pod.id, port);
    }
    let tc = crate::engine::traffic_control::node_plan(cluster, node, |id| {
        ofport_of_pod.get(&id).copied()
    });
    spec = spec.with_traffic_control(tc.map(std::sync::Arc::new));
    // The compile's one list of the cluster's nodes, when the dataplane
    // came from one; else the list of this spec's own.
    match &dp.peer_routes {
        Some(p) => spec = spec.with_shared_peers(p.set.clone(), p.except),
        None => {
            for other in cluster.nodes().filter(|o| o.id != node) {
                let gw = Ipv4Addr::from(u32::from(other.pod_cidr.network()) + 1);
                spec.add_peer(other.pod_cidr, other.ip, gw);
            }
        }
    }
    // Egress IPs held here: the SNAT rules' (mark, IP).
    let mut held: Vec<(u32, Ipv4Addr)> = Vec::new();
    for s in &dp.snat {
        if let (Some((mark, _)), SnatTo::Addr(ip)) = (s.mark, &s.to)
            && !held.iter().any(|(m, _)| *m == mark)
        {
            held.push((mark, *ip));
            spec.add_snat_mark(*ip, mark);
        }
    }
    for m in &dp.marks {
        let Some(&port) = ofport_of_ip.get(&m.src.addr()) else {
            continue;
        };
        if m.mark >> REMOTE_MARK_SHIFT == 0 {
            if let Some(&(mark, ip)) = held.iter().find(|(mk, _)| *mk == m.mark) {
                spec.add_pod_egress(port, ip, PodEgress::Local { mark });
            }
        } else {
            spec.add_pod_egress(port, m.egress_ip, PodEgress::Remote);
        }
    }
    spec
}

/// The program spec of the agent on external Node `vm` (its ExternalNode's
/// name), with the rules whose appliedTo selects its ExternalEntity; None
/// when `vm` is no ExternalNode or the gate is off.
pub fn external_node_spec(
    cluster: &ClusterState,
    vm: &str,
    policies: &crate::engine::policy::index::PolicyIndex,
) -> Option<PipelineSpec> {
    use crate::engine::external_node::{HOST_OFPORT, UPLINK_OFPORT};
    if !cluster.settings.agent_gate("ExternalNode")
        || !cluster.settings.controller_gate("ExternalNode")
    {
        return None;
    }
    let st = cluster.external_nodes.get(vm)?;
    let ip = *st.spec.ips.first()?;
    let mut spec = PipelineSpec::external(ip, HOST_OFPORT, UPLINK_OFPORT);
    spec.features.antrea_policy = cluster.settings.agent_gate("AntreaPolicy");
    Some(spec.with_policy(policies.external_node_rules(cluster, vm)))
}
