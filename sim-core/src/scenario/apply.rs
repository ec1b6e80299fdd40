//! Kubernetes objects applied to the cluster state (Namespaces, Nodes,
//! pools, Egresses, Services, ConfigMaps, kube-proxy) and Pods created in
//! the world, from Pod manifests and Deployments.

use std::net::Ipv4Addr;

use super::load::{Scenario, Step};
use crate::engine::{self, ClusterState, PodState};
use crate::input::InputError;
use crate::k8s::{self, Object};
use crate::rng;
use crate::sim::World;
use crate::sim::trace::LogKind;

/// The objects of an `apply` or `delete` step, as the log names them.
pub(super) fn names(objects: &[Object]) -> String {
    objects
        .iter()
        .map(Object::display_name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies one object of an `apply` step.
pub(super) fn apply_object(
    scn: &Scenario,
    step: &Step,
    world: &mut World,
    cluster: &mut ClusterState,
    seed: u64,
    obj: &Object,
) -> Result<(), InputError> {
    let at = |msg: String| obj.meta().origin.error(msg);
    match obj {
        Object::Namespace(ns) => {
            cluster
                .namespaces
                .insert(ns.meta.name.clone(), ns.meta.labels.clone());
            cluster
                .namespace_annotations
                .insert(ns.meta.name.clone(), ns.meta.annotations.clone());
        }
        Object::Node(n) => {
            let node = cluster
                .node_id(&n.meta.name)
                .ok_or_else(|| at(format!("node `{}` is not in the topology", n.meta.name)))?;
            for (k, v) in &n.meta.labels {
                cluster.node_labels_mut(node).insert(k.clone(), v.clone());
            }
            for (k, v) in &n.meta.annotations {
                cluster
                    .node_annotations_mut(node)
                    .insert(k.clone(), v.clone());
            }
        }
        Object::Pod(p) => {
            let ns = obj.namespace().unwrap_or("default").to_string();
            create_pod(
                world,
                cluster,
                NewPod {
                    ns: &ns,
                    name: &p.meta.name,
                    labels: &p.meta.labels,
                    annotations: &p.meta.annotations,
                    spec: &p.spec,
                    ip: p.status.pod_ip,
                },
            )
            .map_err(at)?;
        }
        Object::Deployment(d) => {
            let ns = obj.namespace().unwrap_or("default").to_string();
            // Pod names as the ReplicaSet controller makes them:
            // <deployment>-<pod-template-hash>-<5 random chars>.
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            let mut r = rng::stream(seed, &format!("deployment/{ns}/{}", d.meta.name));
            let hash: String = (0..10)
                .map(|_| ALPHABET[rng::below(&mut r, ALPHABET.len() as u64) as usize] as char)
                .collect();
            for _ in 0..d.replicas {
                let suffix: String = (0..5)
                    .map(|_| ALPHABET[rng::below(&mut r, ALPHABET.len() as u64) as usize] as char)
                    .collect();
                let name = format!("{}-{hash}-{suffix}", d.meta.name);
                create_pod(
                    world,
                    cluster,
                    NewPod {
                        ns: &ns,
                        name: &name,
                        labels: &d.template.labels,
                        annotations: &d.template.annotations,
                        spec: &d.template.spec,
                        ip: None,
                    },
                )
                .map_err(at)?;
            }
        }
        Object::ExternalIPPool(pool) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster
                .egress
                .apply_pool(pool, now)
                .map_err(|e| at(e.to_string()))?;
            for l in lines {
                world.record(LogKind::Engine, "antrea-controller", l);
            }
        }
        Object::Egress(egress) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster.egress.apply_egress(egress, now).map_err(at)?;
            for l in lines {
                world.record(LogKind::Engine, "antrea-controller", l);
            }
        }
        Object::ConfigMap(cm) if engine::config::is_antrea_config(obj) => {
            let applied = engine::config::apply_antrea_config(cluster, cm)?;
            // The agents restart with the new config: their Egress mark
            // and route table allocators start over.
            cluster.egress.forget_all_agents();
            for l in applied.lines {
                world.record(LogKind::Engine, "", l);
            }
            for w in applied.warnings {
                world.record(LogKind::Warn, "", w);
            }
        }
        Object::Service(svc) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster.apply_service(svc, now).map_err(at)?;
            for l in lines {
                world.record(LogKind::Engine, "", l);
            }
        }
        Object::ConfigMap(cm) if engine::config::is_kube_proxy_config(obj) => {
            let lines = engine::config::kube_proxy::apply(cluster, cm)?;
            for l in lines {
                world.record(LogKind::Engine, "", l);
            }
        }
        Object::ConfigMap(_) => {
            // Stored for the engine features that read them; say plainly that
            // they do not change the dataplane yet.
            world.record(
                LogKind::Warn,
                "",
                format!(
                    "{} accepted; antlab does not act on {} yet",
                    obj.display_name(),
                    obj.kind_name()
                ),
            );
        }
        Object::Other { kind, meta, .. } if kind == "DaemonSet" && meta.name == "kube-proxy" => {
            if cluster.proxy.kube_proxy.is_none() {
                cluster.proxy.kube_proxy = scn
                    .kube_proxy
                    .or(Some(crate::engine::proxy::KubeProxyMode::Iptables));
            }
            world.record(
                LogKind::Engine,
                "",
                "kube-proxy DaemonSet running on every node",
            );
        }
        Object::Traceflow(tf) => {
            super::traceflow::apply(world, cluster, tf)
                .map_err(|e| at(format!("Traceflow {}: {e}", tf.meta.name)))?;
        }
        Object::NetworkPolicy(_) | Object::AntreaPolicy(_) | Object::Tier(_) | Object::Group(_) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster.apply_policy_object(obj, now, false).map_err(|e| {
                at(format!(
                    "admission webhook \"validate.antrea.io\" denied the request: {e}"
                ))
            })?;
            for l in lines {
                world.record(LogKind::Engine, "antrea-controller", l);
            }
            if let Object::AntreaPolicy(p) = obj
                && p.applies_to_nodes()
                && !cluster.settings.agent_gate("NodeNetworkPolicy")
            {
                world.record(
                    LogKind::Warn,
                    "",
                    format!(
                        "{} applies to Nodes (a NodeNetworkPolicy) and is not enforced: the antrea-agent feature gate NodeNetworkPolicy is off",
                        obj.display_name()
                    ),
                );
            }
            if cluster.br_int_mode() == engine::dataplane::BrIntMode::Switch
                && matches!(obj, Object::NetworkPolicy(_) | Object::AntreaPolicy(_))
            {
                world.record(
                    LogKind::Warn,
                    "",
                    format!(
                        "{} is not enforced: with options.brInt: switch, br-int holds no program and no policy rules",
                        obj.display_name()
                    ),
                );
            }
        }
        Object::ExternalNode(en) => {
            let iface = external_node_iface(scn, cluster, en).map_err(at)?;
            let lines = cluster.external_nodes.apply(en, iface).map_err(at)?;
            let on = cluster.settings.agent_gate("ExternalNode")
                && cluster.settings.controller_gate("ExternalNode");
            for l in lines.into_iter().take(if on { 2 } else { 0 }) {
                world.record(LogKind::Engine, "antrea-agent", l);
            }
            if !on {
                world.record(
                    LogKind::Warn,
                    "",
                    format!(
                        "{} is not realized: the ExternalNode feature gate is off (antrea-controller and the VM's antrea-agent need it)",
                        obj.display_name()
                    ),
                );
            }
        }
        Object::TrafficControl(tc) => {
            let lines = cluster.traffic_controls.apply(tc).map_err(at)?;
            let unrealized = if !cluster.settings.agent_gate("TrafficControl") {
                Some("the antrea-agent feature gate TrafficControl is off")
            } else if cluster.br_int_mode() == engine::dataplane::BrIntMode::Switch {
                Some("with options.brInt: switch, br-int holds no program")
            } else {
                None
            };
            // Ports are only made where the controller runs.
            let shown = if unrealized.is_none() { lines.len() } else { 1 };
            for l in lines.into_iter().take(shown) {
                world.record(LogKind::Engine, "antrea-agent", l);
            }
            if let Some(why) = unrealized {
                world.record(
                    LogKind::Warn,
                    "",
                    format!("{} is not realized: {why}", obj.display_name()),
                );
            }
        }
        Object::BgpPolicy(p) => {
            for l in cluster.bgp_policies.apply(p) {
                world.record(LogKind::Engine, "antrea-agent", l);
            }
            if !cluster.settings.agent_gate(engine::bgp_policy::GATE) {
                world.record(
                    LogKind::Warn,
                    "",
                    format!(
                        "{} is not realized: the antrea-agent feature gate BGPPolicy is off",
                        obj.display_name()
                    ),
                );
            }
        }
        Object::Other { kind, .. } => {
            world.record(
                LogKind::Warn,
                "",
                format!(
                    "{} ignored: kind {kind} is not modelled",
                    obj.display_name()
                ),
            );
        }
    }
    let _ = (scn, step);
    Ok(())
}

/// The interface the agent on ExternalNode `en`'s VM takes: the one that
/// holds its IPs, found by the IPs only (pkg/agent/externalnode
/// `getHostInterfaceName`; the CR's interface name names the
/// ExternalEntity, not the device), with the agent's errors when none or
/// two different ones hold them. The VM is the topology host named as the
/// ExternalNode, and not a Kubernetes node.
fn external_node_iface(
    scn: &Scenario,
    cluster: &ClusterState,
    en: &k8s::ExternalNode,
) -> Result<String, String> {
    use crate::model::{DeviceKind, IfaceKind};
    let name = &en.meta.name;
    let host = scn
        .topology
        .device_id(name)
        .map(|id| scn.topology.device(id))
        .and_then(|d| match &d.kind {
            DeviceKind::Host(h) => Some(h),
            DeviceKind::Switch(_) => None,
        })
        .ok_or_else(|| {
            format!("ExternalNode {name}: antlab runs its agent on the topology host `{name}`, and there is none")
        })?;
    if cluster.node_id(name).is_some() {
        return Err(format!(
            "ExternalNode {name}: `{name}` is a Kubernetes node; an ExternalNode is a machine outside the cluster"
        ));
    }
    let mut found: Option<&str> = None;
    for ip in &en.ips {
        let Some(i) = host
            .interfaces
            .iter()
            .find(|i| i.addrs.iter().any(|a| a.addr() == *ip))
        else {
            continue;
        };
        match found {
            None => found = Some(&i.name),
            Some(f) if f != i.name => {
                return Err(format!(
                    "ExternalNode {name}: find different interfaces by IPs, ifName {f}, linkName {}",
                    i.name
                ));
            }
            Some(_) => {}
        }
    }
    let ips: Vec<String> = en.ips.iter().map(ToString::to_string).collect();
    let iface = found.ok_or_else(|| {
        format!(
            "ExternalNode {name}: cannot find interface via IPs [{}]",
            ips.join(" ")
        )
    })?;
    // The agent moves a NIC; a VLAN sub-interface is not one in antlab.
    let physical = host
        .interfaces
        .iter()
        .any(|i| i.name == iface && i.kind == IfaceKind::Physical);
    if !physical {
        return Err(format!(
            "ExternalNode {name}: {iface} is a VLAN sub-interface; antlab moves physical interfaces only"
        ));
    }
    Ok(iface.to_string())
}

/// A Pod to create, from a Pod manifest or a Deployment's template.
struct NewPod<'a> {
    ns: &'a str,
    name: &'a str,
    labels: &'a indexmap::IndexMap<String, String>,
    annotations: &'a indexmap::IndexMap<String, String>,
    spec: &'a k8s::PodSpec,
    ip: Option<Ipv4Addr>,
}

fn create_pod(world: &mut World, cluster: &mut ClusterState, new: NewPod) -> Result<(), String> {
    let NewPod {
        ns,
        name,
        labels,
        annotations,
        spec,
        ip,
    } = new;
    // The Pod's annotation wins over its Namespace's (Antrea's L7 flow exporter).
    let l7 = annotations
        .get(L7_EXPORT_ANNOTATION)
        .or_else(|| {
            cluster
                .namespace_annotations
                .get(ns)
                .and_then(|a| a.get(L7_EXPORT_ANNOTATION))
        })
        .map(|v| parse_l7_direction(v))
        .transpose()?;
    // Every Pod in the cluster state is a device named `ns/name` (and the
    // world's name index answers without scanning every Pod).
    if world.device_id(&format!("{ns}/{name}")).is_some() {
        return Err(format!("Pod {ns}/{name} already exists"));
    }
    if spec.host_network {
        world.record(
            LogKind::Warn,
            "",
            format!(
                "Pod {ns}/{name} uses the host network; it is its node, not a separate endpoint"
            ),
        );
        return Ok(());
    }
    let node = match &spec.node_name {
        Some(n) => cluster
            .node_id(n)
            .ok_or_else(|| format!("spec.nodeName `{n}` is not a node of the topology"))?,
        None => cluster.schedule_pod().ok_or("no node can run Pods")?,
    };
    let ip = match ip {
        Some(ip) => {
            if cluster.pod_ip_in_use(ip) {
                return Err(format!("status.podIP {ip} is already used by another Pod"));
            }
            ip
        }
        None => cluster.allocate_pod_ip(node)?,
    };
    let listen: Vec<u16> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().map(|p| p.container_port))
        .collect();
    let named_ports: Vec<(String, k8s::Protocol, u16)> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| Some((p.name.clone()?, p.protocol, p.container_port)))
        .collect();
    let device = cluster
        .node(node)
        .device
        .expect("cluster nodes exist in the world");
    let pod = world.add_pod(device, ns, name, ip, listen.clone())?;
    // The CNI sets the Pod's interface MTU when it plugs it, and, where
    // br-int executes Antrea's program, the node's subnet on it.
    world.set_mtu(pod, "eth0", cluster.pod_mtu());
    if cluster.br_int_mode() == crate::engine::dataplane::BrIntMode::Pipeline {
        world.put_pod_on_subnet(pod, cluster.node(node).pod_cidr.prefix_len());
    }
    // Running at once (no image pull or readiness probe is modelled) if its
    // node is up and Ready.
    let ready = cluster.node(node).up && cluster.node(node).ready;
    cluster.add_pod(PodState {
        id: crate::engine::PodId(0),
        ready,
        namespace: ns.to_string(),
        name: name.to_string(),
        node,
        ip,
        labels: labels.clone(),
        tcp_listen: listen,
        named_ports,
        l7_export: l7,
    })?;
    Ok(())
}

/// `visibility.antrea.io/l7-export` (pkg/agent/types/annotations.go).
pub const L7_EXPORT_ANNOTATION: &str = "visibility.antrea.io/l7-export";

/// ingress / egress / both, case-insensitive, as (egress, ingress).
fn parse_l7_direction(v: &str) -> Result<(bool, bool), String> {
    match v.to_ascii_lowercase().as_str() {
        "ingress" => Ok((false, true)),
        "egress" => Ok((true, false)),
        "both" => Ok((true, true)),
        _ => Err(format!(
            "annotation key {L7_EXPORT_ANNOTATION} can only have values (Ingress/Egress/Both), not {v:?}"
        )),
    }
}
