//! The EndpointSlice controller: which Pods back a Service, on which ports,
//! in which state, with which zone hints.
//!
//! Follows `pkg/controller/endpointslice` (Kubernetes 1.28):
//! - a Pod is selected if it is in the Service's namespace and the Service's
//!   (non-empty) selector matches its labels; host-network Pods count too;
//! - conditions: `ready = podReady && !terminating`, `serving = podReady`,
//!   `terminating = deletionTimestamp set` (`pkg/controller/util/endpointslice`
//!   `podToEndpoint`);
//! - `targetPort`: a number is used as is; a name is looked up among the Pod's
//!   container ports with the same protocol (`podutil.FindPort`); a Pod without
//!   that port is left out of that Service port only;
//! - topology hints (`topologycache.AddHints`), when the Service has
//!   `service.kubernetes.io/topology-mode: Auto` (or the older
//!   `topology-aware-hints: auto`): each zone's share of ready endpoints is
//!   proportional to its allocatable CPU (control-plane and not-ready nodes
//!   excluded), every ready endpoint first gets its own zone, then zones above
//!   their share give endpoints to zones below it. No hints when a node lacks a
//!   zone, there are fewer than 2 zones, fewer ready endpoints than zones, an
//!   endpoint has no zone, or a zone's minimum (`desired / 1.2`, ceiling) cannot
//!   be met.
//!
//! Simplifications: one slice per Service (slices split at 100 endpoints in
//! reality; that does not change what proxies see); Go map order in the
//! redistribution is replaced by zone-name order, and endpoints are visited in
//! IP order.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{ProxyNode, TOPOLOGY_HINTS_ANNOTATION, TOPOLOGY_MODE_ANNOTATION};
use crate::engine::PodState;
use crate::k8s::{ContainerPort, Pod, Protocol, Service, TargetPort};

/// `topologycache.overloadThreshold`.
const OVERLOAD_THRESHOLD: f64 = 0.2;

/// What the controller needs to know about one Pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPod {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    /// The node's name, one allocation shared by its Pods and endpoints.
    pub(crate) node: Arc<str>,
    /// Zone of the Pod's node (`topology.kubernetes.io/zone`).
    pub(crate) zone: Option<String>,
    pub(crate) labels: IndexMap<String, String>,
    /// The Pod's Ready condition.
    pub(crate) ready: bool,
    /// `metadata.deletionTimestamp` is set.
    pub(crate) terminating: bool,
    /// Container ports, for named `targetPort`s.
    pub(crate) ports: Vec<ContainerPort>,
}

impl EndpointPod {
    /// From the engine's Pod state: ready, not terminating, its listening TCP
    /// ports as unnamed container ports.
    pub fn from_pod_state(p: &PodState, node: Arc<str>, zone: Option<String>) -> Self {
        EndpointPod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            ip: p.ip,
            node,
            zone,
            labels: p.labels.clone(),
            ready: true,
            terminating: false,
            ports: p
                .tcp_listen
                .iter()
                .map(|&port| ContainerPort {
                    name: None,
                    container_port: port,
                    protocol: Protocol::Tcp,
                })
                .collect(),
        }
    }

    /// From a parsed Pod manifest; None when it has no IP or no node yet
    /// (the controller skips such Pods).
    pub fn from_pod(p: &Pod, zone: Option<String>, ready: bool, terminating: bool) -> Option<Self> {
        Some(EndpointPod {
            namespace: p.meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: p.meta.name.clone(),
            ip: p.status.pod_ip?,
            node: p.spec.node_name.as_deref()?.into(),
            zone,
            labels: p.meta.labels.clone(),
            ready,
            terminating,
            ports: p
                .spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().cloned())
                .collect(),
        })
    }
}

/// One endpoint of one Service port, as an EndpointSlice lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `namespace/name` of the Pod.
    pub(crate) pod: String,
    pub(crate) ip: Ipv4Addr,
    /// The resolved target port.
    pub(crate) port: u16,
    pub(crate) node: Arc<str>,
    pub(crate) zone: Option<String>,
    pub(crate) ready: bool,
    pub(crate) serving: bool,
    pub(crate) terminating: bool,
    /// `hints.forZones`; empty = no hint.
    pub(crate) zone_hints: Vec<String>,
}

/// The endpoints of one Service port (same order as `Service::ports`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortEndpoints {
    pub(crate) port_name: Option<String>,
    pub(crate) protocol: Protocol,
    /// Sorted by IP.
    pub endpoints: Vec<Endpoint>,
}

/// Why a Service has (or has no) zone hints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintsOutcome {
    /// No topology annotation.
    NotRequested,
    /// Requested but not set; the reason as the controller's event says it.
    Removed(&'static str),
    /// Every ready endpoint carries one zone hint.
    Assigned,
}

/// All endpoints of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEndpoints {
    pub ports: Vec<PortEndpoints>,
    pub(crate) hints: HintsOutcome,
}

impl ServiceEndpoints {
    /// Endpoints of the port named `name` (None = the unnamed port), protocol `proto`.
    pub fn port(&self, name: Option<&str>, proto: Protocol) -> Option<&PortEndpoints> {
        self.ports
            .iter()
            .find(|p| p.port_name.as_deref() == name && p.protocol == proto)
    }
}

/// True if the Service asks for topology-aware routing.
pub fn hints_requested(svc: &Service) -> bool {
    let a = &svc.meta.annotations;
    // Antrea v1.15 reads topology-aware-hints first, then topology-mode.
    let v = a
        .get(TOPOLOGY_HINTS_ANNOTATION)
        .or_else(|| a.get(TOPOLOGY_MODE_ANNOTATION));
    matches!(v.map(String::as_str), Some("Auto") | Some("auto"))
}

/// What the EndpointSlice controller publishes for `svc`.
pub fn endpoint_slices(
    svc: &Service,
    pods: &[EndpointPod],
    nodes: &[ProxyNode],
) -> ServiceEndpoints {
    let ns = svc.meta.namespace.as_deref().unwrap_or("default");
    let mut selected: Vec<&EndpointPod> = if svc.selector.is_empty() {
        // No selector: Kubernetes manages no EndpointSlices for it.
        Vec::new()
    } else {
        pods.iter()
            .filter(|p| {
                p.namespace == ns && svc.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect()
    };
    selected.sort_by_key(|p| (p.ip, p.namespace.clone(), p.name.clone()));
    selected.dedup_by_key(|p| p.ip);

    let (hints, zone_of) = if hints_requested(svc) {
        compute_hints(&selected, nodes)
    } else {
        (HintsOutcome::NotRequested, BTreeMap::new())
    };

    let ports = svc
        .ports
        .iter()
        .map(|sp| {
            let endpoints = selected
                .iter()
                .filter_map(|p| {
                    let port = resolve_target_port(&sp.target_port, sp.protocol, &p.ports)?;
                    let ready = p.ready && !p.terminating;
                    Some(Endpoint {
                        pod: format!("{}/{}", p.namespace, p.name),
                        ip: p.ip,
                        port,
                        node: p.node.clone(),
                        zone: p.zone.clone(),
                        ready,
                        serving: p.ready,
                        terminating: p.terminating,
                        zone_hints: zone_of.get(&p.ip).cloned().into_iter().collect(),
                    })
                })
                .collect();
            PortEndpoints {
                port_name: sp.name.clone(),
                protocol: sp.protocol,
                endpoints,
            }
        })
        .collect();
    ServiceEndpoints { ports, hints }
}

/// `podutil.FindPort`: a number as is, a name among the container ports with
/// the same protocol.
pub fn resolve_target_port(
    t: &TargetPort,
    proto: Protocol,
    ports: &[ContainerPort],
) -> Option<u16> {
    match t {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => ports
            .iter()
            .find(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == proto)
            .map(|c| c.container_port),
    }
}

/// Zone hints per ready Pod IP, or why there are none.
fn compute_hints(
    pods: &[&EndpointPod],
    nodes: &[ProxyNode],
) -> (HintsOutcome, BTreeMap<Ipv4Addr, String>) {
    let none = |why| (HintsOutcome::Removed(why), BTreeMap::new());
    // SetNodes: CPU per zone over ready, non-control-plane nodes.
    let mut cpu_by_zone: BTreeMap<String, u64> = BTreeMap::new();
    for n in nodes.iter().filter(|n| !n.control_plane && n.ready) {
        match &n.zone {
            Some(z) if n.cpu_milli > 0 => {
                *cpu_by_zone.entry(z.clone()).or_default() += u64::from(n.cpu_milli)
            }
            _ => {
                return none(
                    "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes",
                );
            }
        }
    }
    let total_cpu: u64 = cpu_by_zone.values().sum();
    if total_cpu == 0 {
        return none(
            "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes",
        );
    }
    if cpu_by_zone.len() < 2 {
        return none("Nodes only ready in one zone");
    }
    let ready: Vec<&&EndpointPod> = pods.iter().filter(|p| p.ready && !p.terminating).collect();
    let n = ready.len();
    if cpu_by_zone.len() > n {
        return none("Insufficient number of endpoints");
    }
    // getAllocations.
    let mut desired: BTreeMap<&str, f64> = BTreeMap::new();
    let mut remaining = n as i64;
    for (zone, cpu) in &cpu_by_zone {
        let ratio = *cpu as f64 / total_cpu as f64;
        let d = ratio * n as f64;
        let minimum = (d * (1.0 / (1.0 + OVERLOAD_THRESHOLD))).ceil() as i64;
        remaining -= minimum;
        if remaining < 0 {
            return none(
                "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold",
            );
        }
        desired.insert(zone, d.max(minimum as f64));
    }
    // Step 1: every ready endpoint gets its own zone.
    let mut hint: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
    let mut allocated: BTreeMap<String, i64> = BTreeMap::new();
    for p in &ready {
        let Some(z) = p.zone.as_ref().filter(|z| !z.is_empty()) else {
            return none("One or more endpoints do not have a zone specified");
        };
        hint.insert(p.ip, z.clone());
        *allocated.entry(z.clone()).or_default() += 1;
    }
    // Step 2: getGivingAndReceivingZones.
    let mut giving_f: BTreeMap<&str, f64> = BTreeMap::new();
    let mut receiving_f: BTreeMap<&str, f64> = BTreeMap::new();
    for (zone, d) in &desired {
        let a = *allocated.get(*zone).unwrap_or(&0) as f64;
        if a > *d {
            giving_f.insert(zone, a - d);
        } else if a < *d {
            receiving_f.insert(zone, d - a);
        }
    }
    let most = |m: &BTreeMap<&str, f64>| -> Option<(String, f64)> {
        let mut best: Option<(String, f64)> = None;
        for (z, v) in m {
            if *v > best.as_ref().map_or(0.0, |b| b.1) {
                best = Some(((*z).to_string(), *v));
            }
        }
        best
    };
    let mut giving: BTreeMap<String, i64> = BTreeMap::new();
    let mut receiving: BTreeMap<String, i64> = BTreeMap::new();
    while let (Some((gz, gn)), Some((rz, rn))) = (most(&giving_f), most(&receiving_f)) {
        if (gn < 1.0 && rn < 1.0) || gn < 0.5 || rn < 0.5 {
            break;
        }
        *giving.entry(gz.clone()).or_default() += 1;
        *giving_f.get_mut(gz.as_str()).expect("present") -= 1.0;
        *receiving.entry(rz.clone()).or_default() += 1;
        *receiving_f.get_mut(rz.as_str()).expect("present") -= 1.0;
    }
    // Step 3: redistributeHints, endpoints in IP order.
    for p in &ready {
        if giving.is_empty() || receiving.is_empty() {
            break;
        }
        let own = p.zone.clone().unwrap_or_default();
        if giving.get(&own).copied().unwrap_or(0) > 0 {
            let Some(rz) = receiving
                .iter()
                .find(|(_, n)| **n > 0)
                .map(|(z, _)| z.clone())
            else {
                break;
            };
            hint.insert(p.ip, rz.clone());
            dec_or_remove(&mut giving, &own);
            dec_or_remove(&mut receiving, &rz);
        }
    }
    if hint.is_empty() {
        return none("No hints allocated for zones");
    }
    (HintsOutcome::Assigned, hint)
}

fn dec_or_remove(m: &mut BTreeMap<String, i64>, k: &str) {
    if let Some(v) = m.get_mut(k) {
        if *v <= 1 {
            m.remove(k);
        } else {
            *v -= 1;
        }
    }
}
