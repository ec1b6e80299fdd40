//! Checks a scenario file and everything it references before anything runs,
//! so a bad step is reported at its line and column and nothing is half-applied.

use std::net::Ipv4Addr;

use serde_saphyr::Spanned;

use super::doc::{ExpectDoc, ScenarioDoc, StepDoc};
use super::limits;
// Also re-exported to the scenario module: `run` still names them through
// `load` (they lived here before `step` took them).
pub(super) use super::step::{
    Action, Endpoint, ExpectKind, Expectation, MacRef, ProbeStep, Show, Step,
};
use crate::input::{InputError, parse_yaml};
use crate::k8s::{self, Object};
use crate::model::{DeviceKind, MacAddr, Topology};
use crate::sim::probe::ProbeKind;
use crate::time::{SimDuration, SimTime};
use crate::topology::load_topology;

/// A checked scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
    pub topology_file: String,
    pub topology: Topology,
    pub seed: Option<u64>,
    pub until: SimTime,
    /// Shared: admission and the run each hold the scenario, and a large
    /// lab's manifests are most of it. `Arc::make_mut` before changing them.
    pub steps: std::sync::Arc<Vec<Step>>,
    /// `options.egressGratuitousArp` (default true).
    pub(crate) egress_gratuitous_arp: bool,
    /// `options.warmStart`: converged memberlist and warm ARP caches at 0 s.
    pub(crate) warm_start: bool,
    /// `options.frameLog` (default true): a log line per frame.
    pub(crate) frame_log: bool,
    /// `options.kubeProxy`.
    pub kube_proxy: Option<crate::engine::proxy::KubeProxyMode>,
    /// `options.httpStatus`: device → status its web server answers.
    pub http_status: Vec<(String, u16)>,
    /// `options.antreaVersion` or `--antrea-version`; `None`: the default
    /// (v1.15.1, the blog's).
    pub(crate) antrea_version: Option<crate::engine::config::AntreaVersion>,
    /// `options.brInt` (default `pipeline`).
    pub br_int: crate::engine::dataplane::BrIntMode,
    /// `startTime` in Unix seconds: the wall-clock instant of sim time zero.
    pub start_unix: u64,
    /// Whether the scenario wrote `startTime` (else the default).
    pub start_time_set: bool,
    /// What the run will hold, within [`limits::MEMORY_BUDGET`].
    pub footprint: limits::Footprint,
}

/// The largest ICMP payload in one IPv4 packet (`ping -s`): 65535 - 20 - 8.
const MAX_PING_SIZE: u32 = 65_507;

/// `ip route` arguments, multipath included (`model::RouteSpec::parse`).
fn parse_route(text: &str) -> Result<crate::model::RouteSpec, String> {
    crate::model::RouteSpec::parse(text)
}

/// `linux` or `fixed <duration>` (e.g. `fixed 4h`).
fn parse_arp_policy(text: &str) -> Result<crate::model::ArpPolicy, String> {
    let mut w = text.split_whitespace();
    match (w.next(), w.next(), w.next()) {
        (Some("linux"), None, None) => Ok(crate::model::ArpPolicy::Linux),
        (Some("fixed"), Some(d), None) => Ok(crate::model::ArpPolicy::Fixed {
            timeout: SimDuration::parse(d)?,
        }),
        _ => Err(format!(
            "ARP policy must be `linux` or `fixed <duration>` (e.g. `fixed 4h`), not `{text}`"
        )),
    }
}

/// Reads a file named relative to the scenario: `Ok((name to show, text))`.
pub type FileReader<'a> = dyn FnMut(&str) -> Result<(String, String), String> + 'a;

const ARP_STATES: [&str; 7] = [
    "reachable",
    "stale",
    "delay",
    "probe",
    "incomplete",
    "present",
    "absent",
];

/// Parses and checks a scenario. `read` returns the text of a file named
/// relative to the scenario (the topology, manifest files) and the name to
/// show for it in messages; sim-core itself never touches the file system.
pub fn load(file: &str, text: &str, read: &mut FileReader) -> Result<Scenario, InputError> {
    load_for_version(file, text, read, None)
}

/// [`load`], modelling `antrea_version` when given (`--antrea-version`)
/// instead of the scenario's `options.antreaVersion`. The `antrea-config`
/// and kube-proxy ConfigMaps the scenario applies are checked as that
/// release reads them, so a bad one is refused before anything runs.
pub fn load_for_version(
    file: &str,
    text: &str,
    read: &mut FileReader,
    antrea_version: Option<crate::engine::config::AntreaVersion>,
) -> Result<Scenario, InputError> {
    let doc: ScenarioDoc = parse_yaml(file, text)?;
    let (topo_name, topo_text) = read(&doc.topology.value).map_err(|e| {
        InputError::at_value(file, &doc.topology, format!("cannot read topology: {e}"))
    })?;
    let mut topology = load_topology(&topo_name, &topo_text)?;
    let opts = doc.options.unwrap_or_default();
    let antrea_version = match (antrea_version, &opts.antrea_version) {
        (Some(v), _) => Some(v),
        (None, Some(v)) => Some(v.value.parse().map_err(|e: String| err(file, v, e))?),
        (None, None) => None,
    };
    for dev in opts.http_status.keys() {
        if topology.device_id(dev).is_none() {
            return Err(InputError::new(
                file,
                1,
                1,
                format!("options.httpStatus: no device called `{dev}` in the topology"),
            ));
        }
    }
    use crate::engine::proxy::KubeProxyMode;
    let kube_proxy = match opts.kube_proxy.as_ref().map(|k| (k, k.value.as_str())) {
        None | Some((_, "iptables")) => Some(KubeProxyMode::Iptables),
        Some((_, "ipvs")) => Some(KubeProxyMode::Ipvs { strict_arp: false }),
        Some((_, "ipvs-strict-arp")) => Some(KubeProxyMode::Ipvs { strict_arp: true }),
        Some((_, "none")) => None,
        Some((k, other)) => {
            return Err(err(
                file,
                k,
                format!(
                    "options.kubeProxy must be iptables, ipvs, ipvs-strict-arp or none, not `{other}`"
                ),
            ));
        }
    };
    let br_int = match &opts.br_int {
        None => crate::engine::dataplane::BrIntMode::default(),
        Some(b) => crate::engine::dataplane::BrIntMode::parse(&b.value).ok_or_else(|| {
            err(
                file,
                b,
                format!(
                    "options.brInt must be switch or pipeline, not `{}`",
                    b.value
                ),
            )
        })?,
    };
    for sw in &opts.bfd {
        match topology
            .device_id(&sw.value)
            .map(|id| &mut topology.devices[id.0 as usize].kind)
        {
            Some(crate::model::DeviceKind::Switch(s)) => s.bfd = true,
            _ => {
                return Err(err(
                    file,
                    sw,
                    format!(
                        "options.bfd: `{}` is not a switch of the topology",
                        sw.value
                    ),
                ));
            }
        }
    }
    for (dev, policy) in &opts.arp {
        let Some(id) = topology.device_id(dev) else {
            return Err(err(
                file,
                policy,
                format!("options.arp: no device called `{dev}` in the topology"),
            ));
        };
        let p = parse_arp_policy(&policy.value).map_err(|e| err(file, policy, e))?;
        match &mut topology.devices[id.0 as usize].kind {
            crate::model::DeviceKind::Host(h) => h.arp = p,
            crate::model::DeviceKind::Switch(s) => s.arp = p,
        }
    }
    super::ecmp_options::apply(file, &opts, &mut topology)?;
    let start_unix = match &doc.start_time {
        Some(t) => super::start_time::parse(&t.value).map_err(|e| err(file, t, e))?,
        None => super::start_time::DEFAULT_START_UNIX,
    };
    let mut steps = Vec::new();
    let mut probe_names: Vec<String> = Vec::new();
    for s in &doc.steps {
        let step = load_step(
            file,
            text,
            &s.value,
            &s.referenced,
            &topology,
            read,
            &mut probe_names,
        )?;
        steps.push(step);
    }
    for step in &steps {
        if let Action::Apply { objects, .. } = &step.action {
            for o in objects {
                crate::engine::config::check_object(o, antrea_version.unwrap_or_default())?;
            }
        }
    }
    // Steps run in time order; equal times keep file order.
    steps.sort_by_key(|s| s.at);
    super::vlan_steps::check(file, &topology, &steps)?;
    let last = steps.last().map_or(SimTime::ZERO, |s| s.at);
    let until = match &doc.until {
        Some(u) => {
            limits::sim_time(file, "until", u)?;
            let t = SimTime::ZERO + u.value;
            if t < last {
                return Err(InputError::at_value(
                    file,
                    u,
                    format!(
                        "`until` ({}) is before the last step (at {})",
                        u.value,
                        last.since(SimTime::ZERO)
                    ),
                ));
            }
            t
        }
        // A second after the last step, within the limit.
        None => (last + SimDuration::from_secs(1)).min(SimTime::ZERO + limits::MAX_SIM_TIME),
    };
    let footprint = limits::totals(file, &topology, &doc.topology, &steps, until, br_int)?;
    Ok(Scenario {
        name: doc.name,
        description: doc.description,
        file: file.to_string(),
        topology_file: topo_name,
        topology,
        seed: doc.seed,
        until,
        steps: std::sync::Arc::new(steps),
        egress_gratuitous_arp: opts.egress_gratuitous_arp.unwrap_or(true),
        warm_start: opts.warm_start.unwrap_or(false),
        frame_log: opts.frame_log.unwrap_or(true),
        http_status: opts
            .http_status
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        kube_proxy,
        antrea_version,
        br_int,
        start_unix,
        start_time_set: doc.start_time.is_some(),
        footprint,
    })
}

fn err<T>(file: &str, v: &Spanned<T>, msg: impl Into<String>) -> InputError {
    InputError::at_value(file, v, msg)
}

/// Maps positions inside an inline block scalar to the scenario file: the
/// block's lines start where its first line appears at or after `from_line`,
/// indented by that line's indentation. Returns (line offset, column offset).
fn inline_offsets(text: &str, from_line: u64, inline: &str) -> (u64, u64) {
    let Some((first_k, first)) = inline
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
    else {
        return (0, 0);
    };
    let start = text
        .lines()
        .enumerate()
        .skip(from_line.saturating_sub(1) as usize)
        .find(|(_, l)| l.trim() == first.trim() && !l.trim().is_empty());
    match start {
        Some((idx, line)) => {
            let indent = (line.len() - line.trim_start().len()) as u64;
            ((idx as u64).saturating_sub(first_k as u64), indent)
        }
        None => (0, 0),
    }
}

fn load_step(
    file: &str,
    text: &str,
    s: &StepDoc,
    loc: &serde_saphyr::Location,
    topo: &Topology,
    read: &mut FileReader,
    probes: &mut Vec<String>,
) -> Result<Step, InputError> {
    let present = [
        s.apply.is_some(),
        s.delete.is_some(),
        s.label.is_some(),
        s.annotate.is_some(),
        s.power.is_some(),
        s.link.is_some(),
        s.probe.is_some(),
        s.stop_probe.is_some(),
        s.show.is_some(),
        s.expect.is_some(),
        s.say.is_some(),
        s.vlan.is_some(),
        s.route.is_some(),
        s.clear_arp.is_some(),
        s.inline.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if present != 1 {
        return Err(InputError::at(
            file,
            loc,
            format!(
                "a step needs exactly one action ({}), found {present}",
                super::STEP_ACTIONS.join(", ")
            ),
        ));
    }
    let device_exists = |name: &str| topo.device_id(name).is_some();
    let action = if let Some(a) = s.apply.as_ref().or(s.delete.as_ref()) {
        let deleting = s.delete.is_some();
        let make = |source: String, objects: Vec<Object>| {
            if deleting {
                Action::Delete { source, objects }
            } else {
                Action::Apply { source, objects }
            }
        };
        match (&a.value.file, &a.value.inline) {
            (Some(f), None) => {
                let (name, text) = read(&f.value)
                    .map_err(|e| err(file, f, format!("cannot read manifest: {e}")))?;
                let objects = if deleting {
                    k8s::parse_manifests_to_delete(&name, &text)?
                } else {
                    k8s::parse_manifests(&name, &text)?
                };
                make(name, objects)
            }
            (None, Some(inline)) => {
                // Inline manifests report positions inside the scenario file.
                let (dl, dc) = inline_offsets(text, inline.referenced.line(), &inline.value);
                let parse = if deleting {
                    k8s::parse_manifests_to_delete
                } else {
                    k8s::parse_manifests
                };
                let mut objects = parse(file, &inline.value).map_err(|mut e| {
                    e.line += dl;
                    e.column += dc;
                    e
                })?;
                for o in &mut objects {
                    o.shift_origins(dl, dc);
                }
                make(format!("{file} (inline)"), objects)
            }
            _ => {
                return Err(err(
                    file,
                    a,
                    "apply and delete need exactly one of `file` or `inline`",
                ));
            }
        }
    } else if let Some(l) = s.label.as_ref().or(s.annotate.as_ref()) {
        let node = &l.value.node;
        if topo.nodes().all(|(_, d, _)| d.name != node.value) {
            return Err(err(
                file,
                node,
                format!("`{}` is not a Kubernetes node of the topology", node.value),
            ));
        }
        let edits = k8s::parse_label_assignments(&l.value.set.value)
            .map_err(|e| err(file, &l.value.set, e.to_string()))?;
        Action::Label {
            node: node.value.clone(),
            edits,
            annotate: s.annotate.is_some(),
        }
    } else if let Some(p) = &s.power {
        let dev = p
            .value
            .device
            .as_ref()
            .ok_or_else(|| err(file, p, "power needs `device`"))?;
        if p.value.port.is_some() {
            return Err(err(file, p, "power takes `device`, not `port`"));
        }
        if !device_exists(&dev.value) {
            return Err(err(
                file,
                dev,
                format!("no device called `{}` in the topology", dev.value),
            ));
        }
        let on = match p.value.state.value.as_str() {
            "on" => true,
            "off" => false,
            other => {
                return Err(err(
                    file,
                    &p.value.state,
                    format!("power state must be `on` or `off`, not `{other}`"),
                ));
            }
        };
        Action::Power {
            device: dev.value.clone(),
            on,
        }
    } else if let Some(l) = &s.link {
        let port = l
            .value
            .port
            .as_ref()
            .ok_or_else(|| err(file, l, "link needs `port: <device>/<interface or port>`"))?;
        let Some((dev, _)) = port.value.rsplit_once('/') else {
            return Err(err(
                file,
                port,
                "a port is written `<device>/<interface or port>`",
            ));
        };
        if !device_exists(dev) {
            return Err(err(
                file,
                port,
                format!("no device called `{dev}` in the topology"),
            ));
        }
        let up = match l.value.state.value.as_str() {
            "up" => true,
            "down" => false,
            other => {
                return Err(err(
                    file,
                    &l.value.state,
                    format!("link state must be `up` or `down`, not `{other}`"),
                ));
            }
        };
        Action::Link {
            port: port.value.clone(),
            up,
        }
    } else if let Some(p) = &s.probe {
        let d = &p.value;
        let kind = match d.kind.as_ref().map(|k| k.value.as_str()) {
            None | Some("ping") => {
                if d.port.is_some() {
                    return Err(err(file, p, "`port` is only for `kind: tcp`"));
                }
                ProbeKind::Ping
            }
            Some("tcp") => ProbeKind::Tcp {
                port: d
                    .port
                    .ok_or_else(|| err(file, p, "a tcp probe needs `port`"))?,
            },
            Some("http") => ProbeKind::Http {
                port: d.port.unwrap_or(80),
                host: d.host.clone().unwrap_or_else(|| d.to.value.clone()),
                path: d.path.clone().unwrap_or_else(|| "/".into()),
            },
            Some(other) => {
                return Err(err(
                    file,
                    d.kind.as_ref().expect("matched Some"),
                    format!("probe kind must be `ping`, `tcp` or `http`, not `{other}`"),
                ));
            }
        };
        if probes.contains(&d.name.value) {
            return Err(err(
                file,
                &d.name,
                format!("a probe called `{}` was already started", d.name.value),
            ));
        }
        let size = match &d.size {
            None => None,
            Some(_) if kind != ProbeKind::Ping => {
                return Err(err(file, p, "`size` is only for `kind: ping`"));
            }
            // ping -s: 65535 less the IPv4 and ICMP headers.
            Some(s) if s.value > MAX_PING_SIZE => {
                return Err(err(
                    file,
                    s,
                    format!(
                        "a ping's `size` is at most {MAX_PING_SIZE} bytes (65535 less the IPv4 and ICMP headers), not {}",
                        s.value
                    ),
                ));
            }
            Some(s) => Some(s.value as u16),
        };
        probes.push(d.name.value.clone());
        let interval = match &d.interval {
            Some(i) => {
                limits::probe_interval(file, i)?;
                i.value
            }
            None => SimDuration::from_secs(1),
        };
        Action::StartProbe(ProbeStep {
            name: d.name.value.clone(),
            from: endpoint(file, &d.from, topo)?,
            to: endpoint(file, &d.to, topo)?,
            kind,
            interval,
            timeout: d.timeout.unwrap_or(SimDuration::from_secs(1)),
            count: d.count,
            size,
        })
    } else if let Some(n) = &s.stop_probe {
        if !probes.contains(&n.value) {
            return Err(err(
                file,
                n,
                format!("no probe called `{}` was started before this step", n.value),
            ));
        }
        Action::StopProbe(n.value.clone())
    } else if let Some(sh) = &s.show {
        Action::Show(show(file, sh, topo)?)
    } else if let Some(list) = &s.expect {
        let mut out = Vec::new();
        for e in list {
            out.push(expectation(file, e, topo, probes)?);
        }
        Action::Expect(out)
    } else if let Some(text) = &s.say {
        Action::Say(text.value.clone())
    } else if let Some(d) = &s.clear_arp {
        if topo.device_id(&d.value).is_none() {
            return Err(err(
                file,
                d,
                format!("no device called `{}` in the topology", d.value),
            ));
        }
        Action::ClearArp(d.value.clone())
    } else if let Some(r) = &s.route {
        let r = &r.value;
        if topo.device_id(&r.device.value).is_none() {
            return Err(err(
                file,
                &r.device,
                format!("no device called `{}` in the topology", r.device.value),
            ));
        }
        let (add, text) = match (&r.add, &r.del) {
            (Some(a), None) => (true, a),
            (None, Some(d)) => (false, d),
            _ => {
                return Err(err(
                    file,
                    &r.device,
                    "a route step needs exactly one of `add` or `del`",
                ));
            }
        };
        let route = parse_route(&text.value).map_err(|e| err(file, text, e))?;
        Action::Route {
            device: r.device.value.clone(),
            add,
            route,
            text: text.value.clone(),
        }
    } else if let Some(v) = &s.vlan {
        let port = &v.value.port;
        let Some((dev, _)) = port.value.rsplit_once('/') else {
            return Err(err(file, port, "a port is written `<switch>/<port>`"));
        };
        match topo.device_id(dev).map(|id| &topo.device(id).kind) {
            Some(DeviceKind::Switch(_)) => {}
            _ => {
                return Err(err(
                    file,
                    port,
                    format!("`{dev}` is not a switch of the topology"),
                ));
            }
        }
        let mode = crate::topology::parse_proxmox(&v.value.proxmox.value)
            .map_err(|e| err(file, &v.value.proxmox, e))?;
        Action::Vlan {
            port: port.value.clone(),
            mode,
            text: v.value.proxmox.value.clone(),
        }
    } else if let Some(i) = &s.inline {
        inline_step(file, i, topo)?
    } else {
        unreachable!("exactly one action was counted")
    };
    limits::sim_time(file, "at", &s.at)?;
    Ok(Step {
        at: SimTime::ZERO + s.at.value,
        line: loc.line(),
        column: loc.column(),
        action,
    })
}

/// `pod/<ns>/<name>`, a device name, or an IPv4 address.
fn endpoint(file: &str, v: &Spanned<String>, topo: &Topology) -> Result<Endpoint, InputError> {
    let t = v.value.trim();
    if let Some(rest) = t.strip_prefix("pod/") {
        let (ns, name) = rest.split_once('/').unwrap_or(("default", rest));
        if name.is_empty() || name.contains('/') {
            return Err(err(file, v, "a Pod is written `pod/<namespace>/<name>`"));
        }
        return Ok(Endpoint::Pod {
            namespace: ns.to_string(),
            name: name.to_string(),
        });
    }
    if let Ok(ip) = t.parse::<Ipv4Addr>() {
        return Ok(Endpoint::Ip(ip));
    }
    match topo.device_id(t) {
        Some(id) if matches!(topo.device(id).kind, DeviceKind::Host(_)) => {
            Ok(Endpoint::Device(t.to_string()))
        }
        Some(_) => Err(err(
            file,
            v,
            format!("`{t}` is a switch; probes run between hosts, Pods and addresses"),
        )),
        None => Err(err(
            file,
            v,
            format!(
                "`{t}` is not a host of the topology, a `pod/<namespace>/<name>` or an IPv4 address"
            ),
        )),
    }
}

/// An `inline` step: the appliance's nodes (hosts of the topology), its
/// ports, and what it drops (`protocol` TCP, UDP or ICMP, `port` only with
/// TCP and UDP).
fn inline_step(
    file: &str,
    i: &Spanned<super::doc::InlineDoc>,
    topo: &Topology,
) -> Result<Action, InputError> {
    use crate::sim::{Inline, InlineDrop};
    let d = &i.value;
    let mut nodes = Vec::new();
    for n in d.nodes.iter().flatten() {
        match topo.device_id(&n.value).map(|id| &topo.device(id).kind) {
            Some(DeviceKind::Host(_)) => nodes.push(n.value.clone()),
            _ => {
                return Err(err(
                    file,
                    n,
                    format!("`{}` is not a host of the topology", n.value),
                ));
            }
        }
    }
    let inline = match (&d.to, d.stop) {
        (Some(to), false) => {
            let mut drops = Vec::new();
            for dr in &d.drop {
                let protocol = match dr.value.protocol.value.as_str() {
                    "TCP" => crate::wire::proto::TCP,
                    "UDP" => crate::wire::proto::UDP,
                    "ICMP" => crate::wire::proto::ICMP,
                    other => {
                        return Err(err(
                            file,
                            &dr.value.protocol,
                            format!("protocol must be TCP, UDP or ICMP, not {other:?}"),
                        ));
                    }
                };
                if dr.value.port.is_some() && protocol == crate::wire::proto::ICMP {
                    return Err(err(file, dr, "`port` is only for TCP and UDP"));
                }
                drops.push(InlineDrop {
                    protocol,
                    dst_port: dr.value.port,
                });
            }
            Some(Inline {
                to: to.value.clone(),
                drops,
            })
        }
        (None, true) if d.drop.is_empty() => None,
        _ => {
            return Err(err(
                file,
                i,
                "an `inline` step has `to` (and optionally `drop`) to start an appliance, or `stop: true` alone to stop it",
            ));
        }
    };
    Ok(Action::Inline {
        nodes,
        from: d.from.value.clone(),
        inline,
    })
}

/// Parses a view name as written after `show` (or `antlab get`), without
/// checking device names against a topology.
pub fn parse_show(text: &str) -> Result<Show, String> {
    let mut words = text.split_whitespace();
    let what = words.next().unwrap_or("");
    let arg = words.next().map(str::to_string);
    let need = |arg: Option<String>| arg.ok_or_else(|| format!("`{what}` needs a name after it"));
    Ok(match what {
        "nodes" => Show::Nodes,
        "pods" => Show::Pods,
        "probes" => Show::Probes,
        "links" => Show::Links,
        "topology" => Show::Topology,
        "arp" => Show::Arp(need(arg)?),
        "mac" => Show::Mac(need(arg)?),
        "routes" => Show::Routes(need(arg)?),
        "dataplane" => Show::Dataplane(need(arg)?),
        "trace" => Show::Trace(need(arg)?),
        "egress" | "egresses" | "eg" => Show::Egress(arg),
        "externalippools" | "externalippool" | "eip" => Show::ExternalIpPools,
        "memberlist" | "ml" => Show::Memberlist(arg),
        "svc" | "services" | "service" => Show::Services,
        "serviceexternalip" | "seip" => Show::ServiceExternalIps,
        "endpoints" | "ep" => Show::Endpoints,
        "netpol" | "networkpolicy" | "networkpolicies" => Show::NetworkPolicies,
        "acnp" | "clusternetworkpolicy" | "clusternetworkpolicies" => Show::ClusterNetworkPolicies,
        "anp" | "antreanetworkpolicy" | "antreanetworkpolicies" => Show::AntreaNetworkPolicies,
        "tiers" | "tier" | "tr" => Show::Tiers,
        "traceflow" | "traceflows" | "tf" => Show::Traceflow(arg),
        "iplink" => Show::IpLink(need(arg)?),
        "ipaddr" => Show::IpAddr(need(arg)?),
        "conntrack" | "ct" => Show::Conntrack(need(arg)?),
        "iptables" | "iptables-save" => Show::Iptables(need(arg)?),
        "trafficcontrol" | "trafficcontrols" | "tc" => Show::TrafficControls,
        "externalnodes" | "externalnode" | "en" | "externalentities" | "ee" => Show::ExternalNodes,
        "bgppolicies" | "bgppolicy" => Show::BgpPolicies(arg),
        "bgproutes" | "bgproute" => Show::BgpRoutes(need(arg)?),
        "bgppeers" | "bgppeer" => Show::BgpPeers(need(arg)?),
        "bgp" => Show::BgpRouter(need(arg)?),
        other => return Err(format!("cannot show `{other}`; {SHOW_CHOICES}")),
    })
}

const SHOW_CHOICES: &str = "expected nodes, pods, probes, links, topology, svc, endpoints, serviceexternalip, egress [NAME], externalippools, netpol, acnp, anp, tiers, traceflow [NAME], memberlist [NODE], arp DEVICE, mac SWITCH, routes DEVICE, dataplane NODE, iplink NODE, ipaddr NODE, iptables NODE, trafficcontrols, externalnodes, bgppolicies [NODE], bgproutes NODE, bgppeers NODE, bgp ROUTER, conntrack DEVICE or trace PROBE";

fn show(file: &str, v: &Spanned<String>, topo: &Topology) -> Result<Show, InputError> {
    let view = parse_show(&v.value).map_err(|e| err(file, v, e))?;
    if let Show::Arp(d)
    | Show::Mac(d)
    | Show::Routes(d)
    | Show::Dataplane(d)
    | Show::IpLink(d)
    | Show::IpAddr(d)
    | Show::Iptables(d)
    | Show::BgpRoutes(d)
    | Show::BgpPeers(d)
    | Show::BgpRouter(d)
    | Show::BgpPolicies(Some(d))
    | Show::Conntrack(d) = &view
    {
        // Pods and br-int switches appear at run time; only topology names are checked here.
        if topo.device_id(d).is_none() && !d.contains('/') && !d.contains('@') {
            return Err(err(
                file,
                v,
                format!("no device called `{d}` in the topology"),
            ));
        }
    }
    Ok(view)
}

fn expectation(
    file: &str,
    e: &Spanned<ExpectDoc>,
    topo: &Topology,
    probes: &[String],
) -> Result<Expectation, InputError> {
    let d = &e.value;
    let (line, column) = (e.referenced.line(), e.referenced.column());
    let kinds = [
        d.probe.is_some(),
        d.arp.is_some(),
        d.mac.is_some(),
        d.egress.is_some(),
        d.service_external_ip.is_some(),
        d.route.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if kinds != 1 {
        return Err(err(
            file,
            e,
            "an expectation is about exactly one of `probe`, `arp`, `mac`, `egress`, `serviceExternalIP` or `route`",
        ));
    }
    let kind = if let Some(p) = &d.probe {
        if !probes.contains(&p.value) {
            return Err(err(
                file,
                p,
                format!("no probe called `{}` was started before this step", p.value),
            ));
        }
        let last_ok = match &d.last {
            None => None,
            Some(l) => match l.value.as_str() {
                "ok" => Some(true),
                "fail" => Some(false),
                other => {
                    return Err(err(
                        file,
                        l,
                        format!("`last` must be `ok` or `fail`, not `{other}`"),
                    ));
                }
            },
        };
        let seen_source = match &d.seen_source {
            None => None,
            Some(s) => Some(
                s.value
                    .parse::<Ipv4Addr>()
                    .map_err(|_| err(file, s, format!("`{}` is not an IPv4 address", s.value)))?,
            ),
        };
        ExpectKind::Probe {
            probe: p.value.clone(),
            last_ok,
            reason: d.reason.clone(),
            seen_source,
            via_vlan: d.via_vlan,
            not_via_vlan: d.not_via_vlan,
            max_outage: d.max_outage,
            min_outage: d.min_outage,
            handled_by: d.handled_by.clone(),
            only_answered_by: d.only_answered_by.clone(),
            min_answerers: d.min_answerers,
            reply_avoids: d.reply_avoids.clone(),
            http_status: d.http_status,
        }
    } else {
        let probe_only = d.last.is_some()
            || d.reason.is_some()
            || d.seen_source.is_some()
            || d.via_vlan.is_some()
            || d.not_via_vlan.is_some()
            || d.max_outage.is_some()
            || d.min_outage.is_some()
            || d.handled_by.is_some()
            || d.only_answered_by.is_some()
            || d.min_answerers.is_some()
            || d.reply_avoids.is_some()
            || d.http_status.is_some();
        if probe_only {
            return Err(err(
                file,
                e,
                "last, reason, seenSource, viaVlan, notViaVlan, maxOutage and minOutage belong to a `probe` expectation",
            ));
        }
        if let Some(a) = &d.arp {
            let a = &a.value;
            check_device(file, &a.device, topo)?;
            let ip = a.ip.value.parse::<Ipv4Addr>().map_err(|_| {
                err(
                    file,
                    &a.ip,
                    format!("`{}` is not an IPv4 address", a.ip.value),
                )
            })?;
            let state = match &a.state {
                None => None,
                Some(s) => {
                    let low = s.value.to_ascii_lowercase();
                    if !ARP_STATES.contains(&low.as_str()) {
                        return Err(err(
                            file,
                            s,
                            format!("ARP state must be one of {}", ARP_STATES.join(", ")),
                        ));
                    }
                    Some(low)
                }
            };
            ExpectKind::Arp {
                device: a.device.value.clone(),
                ip,
                mac: a.mac.as_ref().map(|m| mac_ref(file, m)).transpose()?,
                state,
            }
        } else if let Some(r) = &d.route {
            let r = &r.value;
            check_device(file, &r.device, topo)?;
            let to = r.to.value.parse::<ipnet::Ipv4Net>().map_err(|_| {
                err(
                    file,
                    &r.to,
                    format!(
                        "`{}` is not an IPv4 prefix (like 10.169.1.40/32)",
                        r.to.value
                    ),
                )
            })?;
            if to.trunc() != to {
                return Err(err(
                    file,
                    &r.to,
                    format!(
                        "`{to}` has host bits set; a route's prefix is `{}`",
                        to.trunc()
                    ),
                ));
            }
            let mut via = Vec::new();
            for v in &r.via.value {
                via.push(
                    v.parse::<Ipv4Addr>()
                        .map_err(|_| err(file, &r.via, format!("`{v}` is not an IPv4 address")))?,
                );
            }
            via.sort();
            via.dedup();
            ExpectKind::Route {
                device: r.device.value.clone(),
                to,
                via,
            }
        } else if let Some(se) = &d.service_external_ip {
            let se = &se.value;
            let node = se
                .node
                .as_ref()
                .map(|n| (n.value != "none").then(|| n.value.clone()));
            let ip = match &se.ip {
                None => None,
                Some(v) if v.value == "none" => Some(None),
                Some(v) => Some(Some(v.value.parse::<Ipv4Addr>().map_err(|_| {
                    err(
                        file,
                        v,
                        format!("`{}` is not an IPv4 address (or `none`)", v.value),
                    )
                })?)),
            };
            ExpectKind::ServiceExternalIp {
                service: se.service.value.clone(),
                node,
                ip,
            }
        } else if let Some(eg) = &d.egress {
            let eg = &eg.value;
            let node = eg.node.as_ref().map(|n| {
                if n.value == "none" {
                    None
                } else {
                    Some(n.value.clone())
                }
            });
            if let Some(Some(n)) = &node
                && topo.nodes().all(|(_, d, _)| &d.name != n)
            {
                let at = eg.node.as_ref().expect("node given");
                return Err(err(
                    file,
                    at,
                    format!("`{n}` is not a Kubernetes node of the topology (or `none`)"),
                ));
            }
            let ip = match &eg.ip {
                None => None,
                Some(v) if v.value == "none" => Some(None),
                Some(v) => Some(Some(v.value.parse::<Ipv4Addr>().map_err(|_| {
                    err(
                        file,
                        v,
                        format!("`{}` is not an IPv4 address (or `none`)", v.value),
                    )
                })?)),
            };
            let held_by = match &eg.held_by {
                None => None,
                Some(v) => {
                    if let Some(n) = v
                        .value
                        .iter()
                        .find(|n| topo.nodes().all(|(_, d, _)| &d.name != *n))
                    {
                        return Err(err(
                            file,
                            v,
                            format!("`{n}` is not a Kubernetes node of the topology"),
                        ));
                    }
                    let mut nodes = v.value.clone();
                    nodes.sort();
                    nodes.dedup();
                    Some(nodes)
                }
            };
            ExpectKind::Egress {
                name: eg.name.value.clone(),
                node,
                ip,
                held_by,
            }
        } else {
            let m = &d.mac.as_ref().expect("counted").value;
            check_device(file, &m.switch, topo)?;
            ExpectKind::Mac {
                switch: m.switch.value.clone(),
                vlan: m.vlan,
                mac: mac_ref(file, &m.mac)?,
                port: m.port.as_ref().map(|p| p.value.clone()),
                absent: m.absent,
            }
        }
    };
    Ok(Expectation { line, column, kind })
}

fn check_device(file: &str, v: &Spanned<String>, topo: &Topology) -> Result<(), InputError> {
    if topo.device_id(&v.value).is_none() && !v.value.contains('@') {
        return Err(err(
            file,
            v,
            format!("no device called `{}` in the topology", v.value),
        ));
    }
    Ok(())
}

fn mac_ref(file: &str, v: &Spanned<String>) -> Result<MacRef, InputError> {
    if v.value.contains('/') {
        return Ok(MacRef::Iface(v.value.clone()));
    }
    v.value
        .parse::<MacAddr>()
        .map(MacRef::Literal)
        .map_err(|e| err(file, v, e))
}

/// An error at a step's place in the scenario file.
pub(super) fn step_error(scn: &Scenario, step: &Step, msg: impl Into<String>) -> InputError {
    InputError::new(&scn.file, step.line, step.column, msg)
}
