//! The core/apps kinds antlab reads: Namespace, Node, Pod, Deployment, Service
//! (ConfigMap has its own module).
//!
//! Defaults and checks follow the Kubernetes API (`k8s.io/api/core/v1`, `apps/v1` types,
//! `pkg/apis/core/validation`): Service `type` defaults to ClusterIP, port `protocol` to
//! TCP, `targetPort` to `port`, Deployment `replicas` to 1, ClientIP affinity timeout to
//! 10800 s.

use std::fmt;
use std::net::Ipv4Addr;

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

use super::selector::RawLabelSelector;
use super::{Ctx, LabelSelector, ObjectMeta};
use crate::input::InputError;

/// A `v1/Namespace`; only its metadata (labels matter to Egress namespaceSelector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub(crate) meta: ObjectMeta,
}

/// A `v1/Node`; only its metadata (labels matter to ExternalIPPool nodeSelector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub(crate) meta: ObjectMeta,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub meta: ObjectMeta,
    pub spec: PodSpec,
    pub(crate) status: PodStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSpec {
    /// Set by the scheduler in real clusters; a manifest may pin it.
    pub node_name: Option<String>,
    /// Host-network Pods share the node's IP and are ignored by Egress.
    pub host_network: bool,
    pub(crate) containers: Vec<Container>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub(crate) name: String,
    pub(crate) ports: Vec<ContainerPort>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    pub(crate) name: Option<String>,
    pub(crate) container_port: u16,
    pub(crate) protocol: Protocol,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodStatus {
    pub(crate) pod_ip: Option<Ipv4Addr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// An `apps/v1/Deployment`: how many Pods of which template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub(crate) meta: ObjectMeta,
    pub(crate) replicas: u32,
    pub(crate) selector: LabelSelector,
    pub(crate) template: PodTemplate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodTemplate {
    pub(crate) labels: IndexMap<String, String>,
    pub(crate) annotations: IndexMap<String, String>,
    pub(crate) spec: PodSpec,
}

/// A `v1/Service`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub(crate) meta: ObjectMeta,
    pub(crate) service_type: ServiceType,
    /// `None` when not given (allocated later) or given as `""`.
    pub(crate) cluster_ip: Option<ClusterIp>,
    pub(crate) ports: Vec<ServicePort>,
    /// Empty means "no selector": Kubernetes then manages no endpoints for it.
    pub(crate) selector: IndexMap<String, String>,
    pub(crate) load_balancer_ip: Option<Ipv4Addr>,
    pub(crate) external_traffic_policy: TrafficPolicy,
    pub(crate) internal_traffic_policy: TrafficPolicy,
    pub(crate) session_affinity: SessionAffinity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterIp {
    Ip(Ipv4Addr),
    /// `clusterIP: None`, a headless Service.
    Headless,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub(crate) name: Option<String>,
    pub(crate) port: u16,
    /// Defaults to `port`, as the API server does.
    pub(crate) target_port: TargetPort,
    /// `None` when absent or 0 (allocated later).
    pub(crate) node_port: Option<u16>,
    pub(crate) protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    /// A named container port.
    Name(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionAffinity {
    #[default]
    None,
    ClientIp {
        timeout_seconds: u32,
    },
}

/// Kubernetes' default ClientIP affinity timeout (`DefaultClientIPServiceAffinitySeconds`).
const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;
/// Upper bound the API server enforces on that timeout (`MaxClientIPServiceAffinitySeconds`).
const MAX_AFFINITY_TIMEOUT: i64 = 86400;

// ---- raw YAML shapes -------------------------------------------------------------

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPodSpec {
    node_name: Option<String>,
    host_network: Option<bool>,
    containers: Option<Vec<RawContainer>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainer {
    name: Option<String>,
    ports: Option<Vec<RawContainerPort>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainerPort {
    name: Option<String>,
    container_port: Spanned<i64>,
    protocol: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawPodDoc {
    spec: Option<RawPodSpec>,
    status: Option<RawPodStatus>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPodStatus {
    #[serde(rename = "podIP")]
    pod_ip: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawDeploymentDoc {
    spec: Option<Spanned<RawDeploymentSpec>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawDeploymentSpec {
    replicas: Option<Spanned<i64>>,
    selector: Option<Spanned<RawLabelSelector>>,
    template: Option<Spanned<RawPodTemplate>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawPodTemplate {
    metadata: Option<RawTemplateMeta>,
    spec: Option<RawPodSpec>,
}

#[derive(Debug, serde::Deserialize)]
struct RawTemplateMeta {
    labels: Option<IndexMap<String, String>>,
    annotations: Option<IndexMap<String, String>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawServiceDoc {
    spec: Option<RawServiceSpec>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServiceSpec {
    #[serde(rename = "type")]
    service_type: Option<Spanned<String>>,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<Spanned<String>>,
    ports: Option<Vec<Spanned<RawServicePort>>>,
    selector: Option<IndexMap<String, String>>,
    #[serde(rename = "loadBalancerIP")]
    load_balancer_ip: Option<Spanned<String>>,
    external_traffic_policy: Option<Spanned<String>>,
    internal_traffic_policy: Option<Spanned<String>>,
    session_affinity: Option<Spanned<String>>,
    session_affinity_config: Option<RawSessionAffinityConfig>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServicePort {
    name: Option<String>,
    port: Spanned<i64>,
    target_port: Option<Spanned<RawIntOrString>>,
    node_port: Option<Spanned<i64>>,
    protocol: Option<Spanned<String>>,
}

/// `intstr.IntOrString`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum RawIntOrString {
    Int(i64),
    Str(String),
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSessionAffinityConfig {
    #[serde(rename = "clientIP")]
    client_ip: Option<RawClientIpConfig>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawClientIpConfig {
    timeout_seconds: Option<Spanned<i64>>,
}

// ---- conversion ------------------------------------------------------------------

pub(super) fn protocol(ctx: &Ctx<'_>, v: &Option<Spanned<String>>) -> Result<Protocol, InputError> {
    let Some(v) = v else {
        return Ok(Protocol::Tcp);
    };
    match v.value.as_str() {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        "SCTP" => Ok(Protocol::Sctp),
        other => Err(ctx.error(
            v,
            format!("unsupported protocol {other:?} (expected TCP, UDP or SCTP)"),
        )),
    }
}

fn pod_spec(ctx: &Ctx<'_>, raw: Option<RawPodSpec>) -> Result<PodSpec, InputError> {
    let raw = raw.unwrap_or_default();
    let mut containers = Vec::new();
    for c in raw.containers.unwrap_or_default() {
        let mut ports = Vec::new();
        for p in c.ports.unwrap_or_default() {
            ports.push(ContainerPort {
                name: p.name,
                container_port: ctx.port(&p.container_port, "containerPort")?,
                protocol: protocol(ctx, &p.protocol)?,
            });
        }
        containers.push(Container {
            name: c.name.unwrap_or_default(),
            ports,
        });
    }
    Ok(PodSpec {
        node_name: raw.node_name.filter(|n| !n.is_empty()),
        host_network: raw.host_network.unwrap_or(false),
        containers,
    })
}

pub(super) fn parse_pod(ctx: &Ctx<'_>, doc: &str, meta: ObjectMeta) -> Result<Pod, InputError> {
    let raw: RawPodDoc = ctx.reparse(doc)?;
    let pod_ip = match raw.status {
        Some(s) => ctx.opt_ipv4(&s.pod_ip, "status.podIP")?,
        None => None,
    };
    Ok(Pod {
        meta,
        spec: pod_spec(ctx, raw.spec)?,
        status: PodStatus { pod_ip },
    })
}

pub(super) fn parse_deployment(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<Deployment, InputError> {
    let raw: RawDeploymentDoc = ctx.reparse(doc)?;
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, "Deployment needs spec.selector and spec.template"))?;
    let spec_at = spec.referenced;
    let spec = spec.value;
    let replicas = match &spec.replicas {
        None => 1,
        Some(r) => u32::try_from(r.value)
            .map_err(|_| ctx.error(r, format!("replicas must be 0 or more, got {}", r.value)))?,
    };
    let raw_selector = spec
        .selector
        .ok_or_else(|| ctx.error_at(&spec_at, "Deployment needs spec.selector"))?;
    let selector_at = raw_selector.referenced;
    let selector = ctx.selector(raw_selector, "spec.selector")?;
    if selector.is_empty() {
        return Err(ctx.error_at(&selector_at, "empty selector is invalid for a Deployment"));
    }
    let template = spec
        .template
        .ok_or_else(|| ctx.error_at(&spec_at, "Deployment needs spec.template"))?;
    let template_at = template.referenced;
    let template = template.value;
    let (labels, annotations) = match template.metadata {
        Some(m) => (
            m.labels.unwrap_or_default(),
            m.annotations.unwrap_or_default(),
        ),
        None => Default::default(),
    };
    // The API server refuses a template its own selector would not pick.
    if !selector.matches(&labels) {
        return Err(ctx.error_at(
            &template_at,
            format!("spec.selector ({selector}) does not match the template's labels"),
        ));
    }
    Ok(Deployment {
        meta,
        replicas,
        selector,
        template: PodTemplate {
            labels,
            annotations,
            spec: pod_spec(ctx, template.spec)?,
        },
    })
}

fn traffic_policy(
    ctx: &Ctx<'_>,
    v: &Option<Spanned<String>>,
    field: &str,
) -> Result<TrafficPolicy, InputError> {
    match v {
        None => Ok(TrafficPolicy::Cluster),
        Some(s) => match s.value.as_str() {
            "Cluster" | "" => Ok(TrafficPolicy::Cluster),
            "Local" => Ok(TrafficPolicy::Local),
            other => Err(ctx.error(
                s,
                format!("unknown {field} {other:?} (expected Cluster or Local)"),
            )),
        },
    }
}

pub(super) fn parse_service(
    ctx: &Ctx<'_>,
    doc: &str,
    meta: ObjectMeta,
) -> Result<Service, InputError> {
    let raw: RawServiceDoc = ctx.reparse(doc)?;
    let Some(spec) = raw.spec else {
        let at = &meta.origin;
        return Err(at.error("Service needs a spec with ports"));
    };
    let service_type = match &spec.service_type {
        None => ServiceType::ClusterIp,
        Some(t) => match t.value.as_str() {
            "ClusterIP" | "" => ServiceType::ClusterIp,
            "NodePort" => ServiceType::NodePort,
            "LoadBalancer" => ServiceType::LoadBalancer,
            "ExternalName" => {
                return Err(ctx.error(t, "Service type ExternalName is not modelled by antlab"));
            }
            other => {
                return Err(ctx.error(
                    t,
                    format!(
                        "unknown Service type {other:?} (expected ClusterIP, NodePort or LoadBalancer)"
                    ),
                ));
            }
        },
    };
    let cluster_ip = match &spec.cluster_ip {
        Some(c) if c.value == "None" => Some(ClusterIp::Headless),
        c => ctx.opt_ipv4(c, "clusterIP")?.map(ClusterIp::Ip),
    };
    let mut ports = Vec::new();
    for p in spec.ports.unwrap_or_default() {
        let p = p.value;
        let port = ctx.port(&p.port, "port")?;
        let target_port = match &p.target_port {
            None => TargetPort::Number(port),
            Some(t) => match &t.value {
                RawIntOrString::Int(n) => {
                    let n = Spanned {
                        value: *n,
                        referenced: t.referenced,
                        defined: t.defined,
                    };
                    TargetPort::Number(ctx.port(&n, "targetPort")?)
                }
                RawIntOrString::Str(s) => {
                    if s.is_empty() || !s.chars().any(|c| c.is_ascii_alphabetic()) {
                        return Err(ctx.error(
                            t,
                            format!(
                                "targetPort {s:?} is neither a port number nor a port name \
                                 (a name must contain a letter; write numbers unquoted)"
                            ),
                        ));
                    }
                    TargetPort::Name(s.clone())
                }
            },
        };
        let node_port = match &p.node_port {
            None => None,
            Some(n) if n.value == 0 => None,
            Some(n) => {
                if service_type == ServiceType::ClusterIp {
                    return Err(ctx.error(
                        n,
                        "nodePort may not be used when the Service type is ClusterIP",
                    ));
                }
                Some(ctx.port(n, "nodePort")?)
            }
        };
        ports.push(ServicePort {
            name: p.name,
            port,
            target_port,
            node_port,
            protocol: protocol(ctx, &p.protocol)?,
        });
    }
    let session_affinity = match &spec.session_affinity {
        None => SessionAffinity::None,
        Some(s) => match s.value.as_str() {
            "None" | "" => SessionAffinity::None,
            "ClientIP" => {
                let timeout = spec
                    .session_affinity_config
                    .and_then(|c| c.client_ip)
                    .and_then(|c| c.timeout_seconds);
                let timeout_seconds = match timeout {
                    None => DEFAULT_AFFINITY_TIMEOUT,
                    Some(t) if (1..=MAX_AFFINITY_TIMEOUT).contains(&t.value) => t.value as u32,
                    Some(t) => {
                        return Err(ctx.error(
                            &t,
                            format!(
                                "timeoutSeconds must be between 1 and {MAX_AFFINITY_TIMEOUT}, got {}",
                                t.value
                            ),
                        ));
                    }
                };
                SessionAffinity::ClientIp { timeout_seconds }
            }
            other => {
                return Err(ctx.error(
                    s,
                    format!("unknown sessionAffinity {other:?} (expected None or ClientIP)"),
                ));
            }
        },
    };
    Ok(Service {
        meta,
        service_type,
        cluster_ip,
        ports,
        selector: spec.selector.unwrap_or_default(),
        load_balancer_ip: ctx.opt_ipv4(&spec.load_balancer_ip, "loadBalancerIP")?,
        external_traffic_policy: traffic_policy(
            ctx,
            &spec.external_traffic_policy,
            "externalTrafficPolicy",
        )?,
        internal_traffic_policy: traffic_policy(
            ctx,
            &spec.internal_traffic_policy,
            "internalTrafficPolicy",
        )?,
        session_affinity,
    })
}
