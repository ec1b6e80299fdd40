//! One step of a scenario carried out: what each action does to the world
//! and the cluster state, and the log lines it writes.

use std::net::Ipv4Addr;

use super::apply::{apply_object, names};
use super::control::{ControlState, peers, sync_dataplane};
use super::judge::{SimObserver, judge};
use super::load::step_error;
use super::load::{Action, Endpoint, Scenario, Step};
use super::outcome::ExpectResult;
use super::show::render_show;
use crate::engine::ClusterState;
use crate::input::InputError;
use crate::k8s::{self, Object};
use crate::sim::probe::ProbeSpec;
use crate::sim::trace::LogKind;
use crate::sim::{DeviceRt, World};

/// Carries out `step`: its action on the world and the cluster state, its
/// log lines, and (an `expect` step) its expectations judged into `results`.
pub(super) fn execute(
    scn: &Scenario,
    step: &Step,
    world: &mut World,
    cluster: &mut ClusterState,
    seed: u64,
    results: &mut Vec<ExpectResult>,
    control: &mut ControlState,
) -> Result<(), InputError> {
    let proxy = &mut control.proxy;
    // Powering a node off alters no Service input (it stays Ready until
    // node-monitor-grace-period passes); every other step may.
    if !matches!(step.action, Action::Power { on: false, .. }) {
        proxy.invalidate();
    }
    match &step.action {
        Action::Apply { source, objects } => {
            world.record(
                LogKind::Step,
                "",
                format!("apply {source}: {}", names(objects)),
            );
            for obj in objects {
                apply_object(scn, step, world, cluster, seed, obj)?;
            }
            sync_dataplane(world, cluster, scn, Some(step), proxy)?;
        }
        Action::Delete { source, objects } => {
            world.record(
                LogKind::Step,
                "",
                format!("delete {source}: {}", names(objects)),
            );
            for obj in objects {
                let lines = match obj {
                    Object::Egress(e) => cluster.egress.delete_egress(&e.meta.name),
                    Object::Traceflow(t) => match cluster.traceflows.shift_remove(&t.meta.name) {
                        Some(_) => {
                            world.stop_traceflow(&t.meta.name);
                            vec![format!("Traceflow {} deleted", t.meta.name)]
                        }
                        None => vec![format!("Traceflow {} does not exist", t.meta.name)],
                    },
                    Object::ExternalIPPool(p) => cluster.egress.delete_pool(&p.meta.name),
                    Object::BgpPolicy(p) => cluster
                        .bgp_policies
                        .delete(&p.meta.name)
                        .unwrap_or_else(|| {
                            vec![format!("BGPPolicy {} does not exist", p.meta.name)]
                        }),
                    Object::ExternalNode(e) => cluster
                        .external_nodes
                        .delete(
                            e.meta.namespace.as_deref().unwrap_or("default"),
                            &e.meta.name,
                        )
                        .unwrap_or_else(|| {
                            vec![format!("ExternalNode {} does not exist", e.meta.name)]
                        }),
                    Object::TrafficControl(t) => cluster
                        .traffic_controls
                        .delete(&t.meta.name)
                        .unwrap_or_else(|| {
                            vec![format!("TrafficControl {} does not exist", t.meta.name)]
                        }),
                    Object::NetworkPolicy(_)
                    | Object::AntreaPolicy(_)
                    | Object::Tier(_)
                    | Object::Group(_) => {
                        let now = world.now().as_nanos() / 1_000_000_000;
                        cluster.apply_policy_object(obj, now, true).map_err(|e| {
                            step_error(
                                scn,
                                step,
                                format!("admission webhook \"validate.antrea.io\" denied the request: {e}"),
                            )
                        })?
                    }
                    Object::Service(s) => cluster.delete_service(&format!(
                        "{}/{}",
                        obj.namespace().unwrap_or("default"),
                        s.meta.name
                    )),
                    Object::Other { kind, meta, .. }
                        if kind == "DaemonSet" && meta.name == "kube-proxy" =>
                    {
                        cluster.proxy.kube_proxy = None;
                        // The blog then restarts every node to flush kube-proxy's
                        // rules; antlab removes them with the DaemonSet.
                        vec![
                            "kube-proxy DaemonSet deleted: its rules are gone from every node"
                                .to_string(),
                        ]
                    }
                    other => vec![format!(
                        "deleting {} is not modelled; ignored",
                        other.display_name()
                    )],
                };
                for l in lines {
                    world.record(LogKind::Engine, "antrea-controller", l);
                }
            }
            sync_dataplane(world, cluster, scn, Some(step), proxy)?;
        }
        Action::Label {
            node,
            edits,
            annotate,
        } => {
            let verb = if *annotate { "annotate" } else { "label" };
            let n = cluster.node_id(node).expect("checked at load");
            let map = if *annotate {
                cluster.node_annotations_mut(n)
            } else {
                cluster.node_labels_mut(n)
            };
            k8s::apply_label_edits(map, edits, true)
                .map_err(|e| step_error(scn, step, e.to_string()))?;
            let text: Vec<String> = edits
                .iter()
                .map(|e| match e {
                    k8s::LabelEdit::Set { key, value } => format!("{key}={value}"),
                    k8s::LabelEdit::Remove { key } => format!("{key}-"),
                })
                .collect();
            world.record(
                LogKind::Step,
                "",
                format!("kubectl {verb} node {node} {}", text.join(" ")),
            );
            sync_dataplane(world, cluster, scn, Some(step), proxy)?;
        }
        Action::Power { device, on } => {
            world.record(
                LogKind::Step,
                "",
                format!("power {} {device}", if *on { "on" } else { "off" }),
            );
            let id = world.device_id(device).expect("checked at load");
            world.set_power(id, *on);
            if let Some(n) = cluster.node_id(device) {
                cluster.set_node_up(n, *on);
                if *on {
                    // The agent starts again: it joins the others and
                    // re-applies its state from its (fresh) view.
                    // An empty view: the agent claims nothing until its join
                    // has synced the member list.
                    cluster.set_view(n, crate::engine::NodeSet::new());
                    cluster.egress.forget_agent(n);
                    let peers = peers(cluster);
                    world.start_agent(id, &peers);
                    // The kubelet re-creates the node's Pods.
                    control
                        .lifecycle
                        .power_on(world, cluster, device)
                        .map_err(|e| step_error(scn, step, e))?;
                    sync_dataplane(world, cluster, scn, Some(step), &mut control.proxy)?;
                }
            }
            // Any device's power can cut a kubelet off the API server.
            control.lifecycle.reevaluate(world, cluster);
        }
        Action::Link { port, up } => {
            world.record(
                LogKind::Step,
                "",
                format!("link {port} {}", if *up { "up" } else { "down" }),
            );
            let p = world
                .find_port(port)
                .ok_or_else(|| step_error(scn, step, format!("no port `{port}`")))?;
            world
                .set_link(p, *up)
                .map_err(|e| step_error(scn, step, e))?;
            control.lifecycle.reevaluate(world, cluster);
        }
        Action::StartProbe(p) => {
            let from = resolve_host(world, &p.from).map_err(|e| step_error(scn, step, e))?;
            let to = resolve_ip(world, &p.to).map_err(|e| step_error(scn, step, e))?;
            let spec = ProbeSpec {
                name: p.name.clone(),
                from,
                from_label: p.from.to_string(),
                to,
                to_label: p.to.to_string(),
                kind: p.kind.clone(),
                interval: p.interval,
                timeout: p.timeout,
                count: p.count,
                size: p.size,
            };
            world
                .start_probe(spec)
                .map_err(|e| step_error(scn, step, e))?;
        }
        Action::ClearArp(device) => {
            world.record(LogKind::Step, "", format!("clear ARP cache of {device}"));
            let id = world.device_id(device).expect("checked at load");
            world.flush_arp(id);
        }
        Action::Route {
            device,
            add,
            route,
            text,
        } => {
            world.record(
                LogKind::Step,
                "",
                format!(
                    "ip route {} {text} on {device}",
                    if *add { "add" } else { "del" }
                ),
            );
            let id = world.device_id(device).expect("checked at load");
            world
                .change_route(id, route, *add)
                .map_err(|e| step_error(scn, step, e))?;
        }
        Action::Vlan { port, mode, text } => {
            world.record(LogKind::Step, "", format!("reconfigure {port}: {text}"));
            let p = world
                .find_port(port)
                .ok_or_else(|| step_error(scn, step, format!("no port `{port}`")))?;
            world
                .set_port_vlan(p, mode.clone())
                .map_err(|e| step_error(scn, step, e))?;
        }
        Action::StopProbe(name) => world
            .stop_probe(name)
            .map_err(|e| step_error(scn, step, e))?,
        Action::Show(what) => {
            let text =
                render_show(world, cluster, scn, what).map_err(|e| step_error(scn, step, e))?;
            world.record(LogKind::Show, "", text.trim_end().to_string());
        }
        Action::Expect(list) => {
            for e in list {
                let judged = judge(
                    &SimObserver::of_run(world, cluster, control.agents()),
                    &e.kind,
                );
                let passed = judged.passed();
                let message = judged.into_message();
                world.record(
                    LogKind::Expect,
                    "",
                    format!("{} {message}", if passed { "PASS" } else { "FAIL" }),
                );
                results.push(ExpectResult {
                    time: world.now(),
                    line: e.line,
                    column: e.column,
                    passed,
                    message,
                });
            }
        }
        Action::Say(text) => world.record(LogKind::Step, "", format!("# {text}")),
        Action::Inline {
            nodes,
            from,
            inline,
        } => {
            let targets = super::step::inline_targets(nodes, cluster);
            let proto = |p: u8| match p {
                crate::wire::proto::TCP => "TCP",
                crate::wire::proto::UDP => "UDP",
                _ => "ICMP",
            };
            let what = match inline {
                Some(i) if i.drops.is_empty() => format!("forwards {from} -> {}", i.to),
                Some(i) => format!(
                    "forwards {from} -> {}, dropping {}",
                    i.to,
                    i.drops
                        .iter()
                        .map(|d| match d.dst_port {
                            Some(p) => format!("{}/{p}", proto(d.protocol)),
                            None => proto(d.protocol).to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!("on {from} stopped"),
            };
            world.record(
                LogKind::Step,
                "",
                format!("inline appliance {what} on {}", targets.join(", ")),
            );
            for n in &targets {
                if cluster.node_id(n).is_none() {
                    return Err(step_error(
                        scn,
                        step,
                        format!(
                            "`{n}` is not a Kubernetes node: TrafficControl ports are on nodes' br-int"
                        ),
                    ));
                }
                let id = world
                    .device_id(n)
                    .ok_or_else(|| step_error(scn, step, format!("no device `{n}`")))?;
                world.set_inline(id, from, inline.clone());
            }
        }
    }
    Ok(())
}

fn resolve_host(world: &World, e: &Endpoint) -> Result<crate::model::DeviceId, String> {
    match e {
        Endpoint::Pod { namespace, name } => world
            .device_id(&format!("{namespace}/{name}"))
            .ok_or_else(|| {
                format!("Pod {namespace}/{name} does not exist (apply it in an earlier step)")
            }),
        Endpoint::Device(d) => world
            .device_id(d)
            .ok_or_else(|| format!("no device called `{d}`")),
        Endpoint::Ip(ip) => {
            for (i, d) in world.devices().iter().enumerate() {
                if let Some(s) = d.stack()
                    && matches!(d, DeviceRt::Host(_))
                    && s.is_local(*ip)
                {
                    return Ok(crate::model::DeviceId(i as u32));
                }
            }
            Err(format!("no host owns {ip}"))
        }
    }
}

fn resolve_ip(world: &World, e: &Endpoint) -> Result<Ipv4Addr, String> {
    match e {
        Endpoint::Ip(ip) => Ok(*ip),
        other => {
            let id = resolve_host(world, other)?;
            world
                .host_ip(id)
                .ok_or_else(|| format!("{other} has no IPv4 address"))
        }
    }
}
