//! The compiler: a [`PipelineSpec`] in, the node's whole br-int program out
//! ([`NodePipeline`]) — what Antrea's agent has installed once it has
//! initialized (default flows, then each feature's init flows; client.go
//! `initialize`) and then realized every Pod, peer node, Service and Egress
//! of the spec.
//!
//! Order is stable: tables in pipeline order, then priority descending,
//! then text; groups by id. A flow with the same table, priority and match
//! as an earlier one replaces it (an OpenFlow add), so e.g. ConntrackState's
//! default miss flow gives way to PodConnectivity's.

use std::collections::BTreeMap;

use super::flow::{FlowSet, Group};
use super::spec::NodeType;
use super::spec::PipelineSpec;
use super::tables::Layout;
use super::{
    egress, external_node, network_policy, pod_connectivity, root, service, traffic_control,
};

/// One node's compiled br-int program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePipeline {
    tables: Vec<(u8, &'static str)>,
    flows: Vec<String>,
    groups: Vec<String>,
}

impl NodePipeline {
    /// `(id, name)` of every table, in pipeline order.
    pub fn tables(&self) -> &[(u8, &'static str)] {
        &self.tables
    }
    /// Flow lines in Antrea's unit-test form.
    pub fn flows(&self) -> &[String] {
        &self.flows
    }
    /// Group lines (`group_id=N,type=select,bucket=...`).
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
    /// Flows then groups, one a line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in self.flows.iter().chain(&self.groups) {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Compiles the node `spec` describes.
pub fn compile(spec: &PipelineSpec) -> NodePipeline {
    let layout = Layout::new(spec);
    let mut out = FlowSet::new(&layout);
    let mut groups: Vec<Group> = Vec::new();
    let f = spec.features;

    root::default_flows(&mut out);
    if let NodeType::External {
        host_ofport,
        uplink_ofport,
    } = spec.node_type
    {
        external_node::init_flows(&mut out);
        external_node::uplink_flows(&mut out, host_ofport, uplink_ofport);
        network_policy::init_flows(spec, &mut out);
        if let Some(rules) = &spec.policy {
            network_policy::rule_flows(spec, rules, &mut out, &mut groups);
        }
        return finish(&layout, out, groups);
    }
    pod_connectivity::init_flows(spec, &mut out);
    service::init_flows(spec, &mut out);
    network_policy::init_flows(spec, &mut out);
    if f.egress {
        egress::init_flows(spec, &mut out);
        egress::service_bypass(spec, &mut out);
    }
    for peer in spec.peers.iter() {
        pod_connectivity::node_flows(spec, &peer, &mut out);
        if f.egress {
            egress::peer_bypass(&mut out, peer.node_ip);
        }
    }
    for pod in &spec.pods {
        pod_connectivity::pod_flows(spec, pod, &mut out);
    }
    if let Some(rules) = &spec.services {
        service::rules_flows(spec, rules, &mut out, &mut groups);
    }
    if let Some(rules) = &spec.policy {
        network_policy::rule_flows(spec, rules, &mut out, &mut groups);
    }
    if f.traffic_control {
        traffic_control::init_flows(&mut out);
        traffic_control::rule_flows(spec, &mut out);
    }
    if f.egress {
        for (ip, mark) in &spec.snat_marks {
            egress::snat_mark(&mut out, *ip, *mark);
        }
        for s in &spec.pod_snat {
            egress::pod_snat(spec, &mut out, s.ofport, s.egress_ip, s.how);
        }
    }
    finish(&layout, out, groups)
}

/// The program: flows installed in order (a later add replaces an earlier
/// flow with the same table, priority and match), then sorted.
fn finish(layout: &Layout, out: FlowSet, mut groups: Vec<Group>) -> NodePipeline {
    // Install: later adds replace earlier flows with the same key.
    let mut installed: BTreeMap<(u8, std::cmp::Reverse<u16>, String), String> = BTreeMap::new();
    for fl in out.flows {
        let key = (
            layout.id(fl.table),
            std::cmp::Reverse(fl.priority),
            fl.matches.clone(),
        );
        installed.insert(key, fl.text());
    }
    // Order: table, priority descending, then text.
    let mut lines: Vec<((u8, std::cmp::Reverse<u16>), String)> = installed
        .into_iter()
        .map(|((t, p, _), text)| ((t, p), text))
        .collect();
    lines.sort();
    groups.sort_by_key(|g| g.id);
    NodePipeline {
        tables: layout.list(),
        flows: lines.into_iter().map(|(_, t)| t).collect(),
        groups: groups.iter().map(Group::text).collect(),
    }
}
