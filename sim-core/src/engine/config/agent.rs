//! `antrea-agent.conf`: the keys antlab reads, spelled exactly as Antrea's
//! `pkg/config/agent/config.go` tags them, and checked as
//! `cmd/antrea-agent/options.go` checks them (`complete`, then
//! `validateK8sNodeOptions` in its order; the first problem stops the agent,
//! so it is the one reported, in Antrea's words and wrapping).
//!
//! Read: `featureGates`, `trafficEncapMode`, `noSNAT`, `tunnelType`,
//! `tunnelPort`, `tunnelCsum`, `defaultMTU` (see `tunnel.rs`), `kubeAPIServerOverride`,
//! `antreaProxy.{enable, proxyAll, nodePortAddresses, skipServices,
//! proxyLoadBalancerIPs, defaultLoadBalancerMode}`, `egress.{exceptCIDRs,
//! maxEgressIPsPerNode}`, `flowExporter.*` (and its deprecated top-level
//! spellings). Every other key Antrea knows is accepted and not modelled;
//! a key Antrea does not know is handled in `keys.rs`.

use indexmap::IndexMap;
use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::embedded::{Embedded, Node, SpannedMap};
use super::flow_exporter::{self, DeprecatedFlowKeys, FlowExporterDoc, FlowExporterSettings};
use super::gates;
use super::keys::{self, Component};
use super::tunnel::{TunnelSettings, TunnelType};
use super::version::*;
use crate::engine::proxy::LbMode;
use crate::input::InputError;

/// `trafficEncapMode` (`pkg/agent/config/traffic_encap_mode.go`; matched
/// case-insensitively, default encap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncapMode {
    #[default]
    Encap,
    NoEncap,
    Hybrid,
    NetworkPolicyOnly,
}

impl EncapMode {
    const ALL: [EncapMode; 4] = [
        EncapMode::Encap,
        EncapMode::NoEncap,
        EncapMode::Hybrid,
        EncapMode::NetworkPolicyOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EncapMode::Encap => "encap",
            EncapMode::NoEncap => "noEncap",
            EncapMode::Hybrid => "hybrid",
            EncapMode::NetworkPolicyOnly => "networkPolicyOnly",
        }
    }

    /// `GetTrafficEncapModeFromStr`: `strings.EqualFold` against each name.
    pub fn parse(text: &str) -> Option<EncapMode> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(text))
    }

    /// `SupportsEncap`: the modes with a tunnel (encap, hybrid).
    pub fn supports_encap(self) -> bool {
        matches!(self, EncapMode::Encap | EncapMode::Hybrid)
    }

    fn supports_no_encap(self) -> bool {
        matches!(
            self,
            EncapMode::NoEncap | EncapMode::Hybrid | EncapMode::NetworkPolicyOnly
        )
    }

    /// Whether Egress runs in this mode: encap only up to v2.4, encap or
    /// hybrid from v2.5 (`validateEgressConfig`).
    pub fn runs_egress(self, version: AntreaVersion) -> bool {
        match self {
            EncapMode::Encap => true,
            EncapMode::Hybrid => version >= V2_5_0,
            EncapMode::NoEncap | EncapMode::NetworkPolicyOnly => false,
        }
    }
}

/// What the agent runs with (besides gates and the flow exporter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    pub(crate) traffic_encap_mode: EncapMode,
    /// `tunnelType`, `tunnelPort`, `tunnelCsum`, `defaultMTU`.
    pub(crate) tunnel: TunnelSettings,
    /// `noSNAT` (noEncap and networkPolicyOnly only; Antrea sets it in
    /// networkPolicyOnly). Read and checked; the simulator does not act on it.
    pub(crate) no_snat: bool,
    pub(crate) kube_api_server_override: Option<String>,
    /// `antreaProxy.enable` (default true).
    pub(crate) antrea_proxy_enable: bool,
    pub(crate) proxy_all: bool,
    /// `antreaProxy.nodePortAddresses` (IPv4 ones; read with proxyAll only,
    /// as Antrea uses them only then).
    pub(crate) node_port_addresses: Vec<Ipv4Net>,
    pub(crate) skip_services: Vec<String>,
    pub(crate) proxy_load_balancer_ips: bool,
    pub(crate) default_load_balancer_mode: LbMode,
    /// `egress.exceptCIDRs` (IPv4 ones): Egress-selected Pods reach these
    /// without the Egress SNAT.
    pub(crate) egress_except_cidrs: Vec<Ipv4Net>,
    /// `egress.maxEgressIPsPerNode` after defaulting (0 → 255).
    pub(crate) max_egress_ips_per_node: u32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            traffic_encap_mode: EncapMode::Encap,
            tunnel: TunnelSettings::default(),
            no_snat: false,
            kube_api_server_override: None,
            antrea_proxy_enable: true,
            proxy_all: false,
            node_port_addresses: Vec::new(),
            skip_services: Vec::new(),
            proxy_load_balancer_ips: true,
            default_load_balancer_mode: LbMode::Nat,
            egress_except_cidrs: Vec::new(),
            max_egress_ips_per_node: MAX_EGRESS_IPS_PER_NODE,
        }
    }
}

/// `defaultMaxEgressIPsPerNode`, also the upper bound.
const MAX_EGRESS_IPS_PER_NODE: u32 = 255;

/// `antrea-agent.conf` as written: each key under its exact Antrea spelling.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AgentDoc {
    #[serde(rename = "featureGates", default)]
    pub(super) feature_gates: SpannedMap<Spanned<bool>>,
    #[serde(rename = "trafficEncapMode", default)]
    pub(super) traffic_encap_mode: Option<Spanned<String>>,
    #[serde(rename = "noSNAT", default)]
    pub(super) no_snat: Option<Spanned<bool>>,
    #[serde(rename = "tunnelType", default)]
    pub(super) tunnel_type: Option<Spanned<String>>,
    #[serde(rename = "tunnelPort", default)]
    pub(super) tunnel_port: Option<Spanned<i64>>,
    #[serde(rename = "tunnelCsum", default)]
    pub(super) tunnel_csum: Option<bool>,
    #[serde(rename = "defaultMTU", default)]
    pub(super) default_mtu: Option<Spanned<i64>>,
    #[serde(rename = "kubeAPIServerOverride", default)]
    pub(super) kube_api_server_override: Option<Spanned<String>>,
    #[serde(rename = "antreaProxy", default)]
    pub(super) antrea_proxy: Option<ProxyDoc>,
    #[serde(rename = "egress", default)]
    pub(super) egress: Option<EgressDoc>,
    #[serde(rename = "flowExporter", default)]
    pub(super) flow_exporter: Option<FlowExporterDoc>,
    #[serde(rename = "flowCollectorAddr", default)]
    pub(super) flow_collector_addr: Option<Spanned<String>>,
    #[serde(rename = "flowPollInterval", default)]
    pub(super) flow_poll_interval: Option<Spanned<String>>,
    #[serde(rename = "activeFlowExportTimeout", default)]
    pub(super) active_flow_export_timeout: Option<Spanned<String>>,
    #[serde(rename = "idleFlowExportTimeout", default)]
    pub(super) idle_flow_export_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ProxyDoc {
    #[serde(rename = "enable", default)]
    pub(super) enable: Option<bool>,
    #[serde(rename = "proxyAll", default)]
    pub(super) proxy_all: Option<bool>,
    #[serde(rename = "nodePortAddresses", default)]
    pub(super) node_port_addresses: Option<Vec<Spanned<String>>>,
    #[serde(rename = "skipServices", default)]
    pub(super) skip_services: Option<Vec<String>>,
    #[serde(rename = "proxyLoadBalancerIPs", default)]
    pub(super) proxy_load_balancer_ips: Option<bool>,
    #[serde(rename = "defaultLoadBalancerMode", default)]
    pub(super) default_load_balancer_mode: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct EgressDoc {
    #[serde(rename = "exceptCIDRs", default)]
    pub(super) except_cidrs: Option<Vec<Spanned<String>>>,
    #[serde(rename = "maxEgressIPsPerNode", default)]
    pub(super) max_egress_ips_per_node: Option<Spanned<i64>>,
}

/// Everything read from `antrea-agent.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentConf {
    /// `featureGates` as written.
    pub(crate) gates: IndexMap<String, bool>,
    pub(crate) settings: AgentSettings,
    pub(crate) flow_exporter: FlowExporterSettings,
    /// Keys Antrea ≥ v2.0 ignores (lenient decoding), located.
    pub(crate) warnings: Vec<String>,
}

/// Reads `antrea-agent.conf` (absent: every default) for `version`.
pub(super) fn read(
    conf: Option<&Embedded<'_>>,
    version: AntreaVersion,
) -> Result<AgentConf, InputError> {
    let Some(conf) = conf else {
        return Ok(AgentConf::default());
    };
    let mut warnings = Vec::new();
    if let Some(tree) = conf.parse::<Node>()? {
        warnings = keys::check_unknown(&tree, Component::Agent, version, conf)?;
    }
    let doc: AgentDoc = conf.parse()?.unwrap_or_default();

    // complete(): the gates first.
    let mut gates = IndexMap::new();
    for (name, value) in &doc.feature_gates.0 {
        gates::check_setting(version, &name.value, value.value)
            .map_err(|m| conf.error_on(name, m))?;
        gates.insert(name.value.clone(), value.value);
    }
    let gate = |name: &str| {
        gates
            .get(name)
            .copied()
            .or_else(|| gates::gate(version, name).map(|g| g.default))
            .unwrap_or(false)
    };

    // validateK8sNodeOptions(), in its order.
    let tunnel = tunnel_settings(&doc, conf);
    let mut out = AgentSettings::default();
    if let Some(o) = doc.kube_api_server_override.filter(|o| !o.value.is_empty()) {
        if version >= V2_4_0 {
            check_api_server_override(&o.value).map_err(|m| conf.error_on(&o, m))?;
        }
        out.kube_api_server_override = Some(o.value);
    }
    out.tunnel = tunnel?;
    let encap_text = doc
        .traffic_encap_mode
        .as_ref()
        .map(|m| m.value.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| EncapMode::Encap.as_str().to_string());
    if let Some(m) = &doc.traffic_encap_mode {
        out.traffic_encap_mode = EncapMode::parse(&encap_text)
            .ok_or_else(|| conf.error_on(m, format!("TrafficEncapMode {} is unknown", m.value)))?;
    }
    let encap = out.traffic_encap_mode;
    let proxy = doc.antrea_proxy.unwrap_or_default();
    proxy_settings(proxy, encap, &gate, conf, &mut out)?;
    if encap.supports_no_encap() && !(out.antrea_proxy_enable && gate("AntreaProxy")) {
        let at = doc
            .traffic_encap_mode
            .as_ref()
            .expect("not the default mode");
        return Err(conf.error_on(
            at,
            format!("TrafficEncapMode {encap_text} requires AntreaProxy to be enabled"),
        ));
    }
    let no_snat_mode = matches!(encap, EncapMode::NoEncap | EncapMode::NetworkPolicyOnly);
    if let Some(no_snat) = doc.no_snat.as_ref().filter(|n| n.value && !no_snat_mode) {
        return Err(conf.error_on(
            no_snat,
            "noSNAT is only applicable to the noEncap mode".to_string(),
        ));
    }
    // "In the NetworkPolicyOnly mode, Antrea will not perform SNAT".
    out.no_snat = encap == EncapMode::NetworkPolicyOnly || doc.no_snat.is_some_and(|n| n.value);
    let flow_exporter = flow_exporter::settings(
        doc.flow_exporter,
        DeprecatedFlowKeys {
            flow_collector_addr: doc.flow_collector_addr,
            flow_poll_interval: doc.flow_poll_interval,
            active_flow_export_timeout: doc.active_flow_export_timeout,
            idle_flow_export_timeout: doc.idle_flow_export_timeout,
        },
        gate("FlowExporter"),
        version,
        conf,
    )?;
    if gate("Egress") && encap.runs_egress(version) {
        egress_settings(doc.egress.unwrap_or_default(), conf, &mut out)?;
    }
    Ok(AgentConf {
        gates,
        settings: out,
        flow_exporter,
        warnings,
    })
}

/// `tunnelType` (checked first by `validateK8sNodeOptions`, exact spelling,
/// empty means geneve), `tunnelPort`, `tunnelCsum` and `defaultMTU`. Antrea
/// does not check the last two's ranges at start-up, it fails later creating
/// the tunnel port or setting the MTU; antlab refuses them here instead.
fn tunnel_settings(doc: &AgentDoc, conf: &Embedded<'_>) -> Result<TunnelSettings, InputError> {
    let mut t = TunnelSettings::default();
    if let Some(ty) = doc.tunnel_type.as_ref().filter(|t| !t.value.is_empty()) {
        t.tunnel_type = TunnelType::parse(&ty.value)
            .ok_or_else(|| conf.error_on(ty, format!("tunnel type {} is invalid", ty.value)))?;
    }
    if let Some(p) = &doc.tunnel_port {
        t.tunnel_port = u16::try_from(p.value).map_err(|_| {
            conf.error_on(
                p,
                format!(
                    "tunnelPort {} is not a port (0-65535): antrea-agent would fail to create its tunnel port",
                    p.value
                ),
            )
        })?;
    }
    t.tunnel_csum = doc.tunnel_csum.unwrap_or(false);
    if let Some(m) = doc.default_mtu.as_ref().filter(|m| m.value != 0) {
        t.default_mtu = u32::try_from(m.value)
            .ok()
            .filter(|v| (MIN_MTU..=MAX_MTU).contains(v))
            .ok_or_else(|| {
                conf.error_on(
                    m,
                    format!(
                        "defaultMTU {} is outside {MIN_MTU}-{MAX_MTU}: antrea-agent would fail to set it on antrea-gw0",
                        m.value
                    ),
                )
            })?;
    }
    Ok(t)
}

/// Linux's bounds on an Ethernet/veth MTU (`ETH_MIN_MTU` 68 for IPv4, and
/// the 16-bit IPv4 total length).
const MIN_MTU: u32 = 68;
const MAX_MTU: u32 = 65535;

/// `validateAntreaProxyConfig`.
fn proxy_settings(
    p: ProxyDoc,
    encap: EncapMode,
    gate: &dyn Fn(&str) -> bool,
    conf: &Embedded<'_>,
    out: &mut AgentSettings,
) -> Result<(), InputError> {
    let fail = |at: &Spanned<String>, m: String| {
        conf.error_on(at, format!("proxy config is invalid: {m}"))
    };
    out.antrea_proxy_enable = p.enable.unwrap_or(true);
    out.proxy_all = p.proxy_all.unwrap_or(false);
    out.skip_services = p.skip_services.unwrap_or_default();
    out.proxy_load_balancer_ips = p.proxy_load_balancer_ips.unwrap_or(true);
    if out.proxy_all {
        for a in p.node_port_addresses.iter().flatten() {
            match a.value.parse::<IpNet>() {
                Ok(IpNet::V4(net)) => out.node_port_addresses.push(net),
                // Valid for Antrea; antlab's lab has no IPv6 addresses.
                Ok(IpNet::V6(_)) => {}
                Err(_) => {
                    return Err(fail(
                        a,
                        format!(
                            "invalid NodePort IP address `{0}`: invalid CIDR address: {0}",
                            a.value
                        ),
                    ));
                }
            }
        }
    }
    if let Some(m) = p.default_load_balancer_mode.filter(|m| !m.value.is_empty()) {
        let mode = LbMode::from_antrea_str(&m.value)
            .ok_or_else(|| fail(&m, format!("LoadBalancerMode {} is unknown", m.value)))?;
        if mode == LbMode::Dsr {
            if !gate("LoadBalancerModeDSR") {
                return Err(fail(
                    &m,
                    "LoadBalancerMode DSR requires feature gate LoadBalancerModeDSR to be enabled"
                        .into(),
                ));
            }
            if encap != EncapMode::Encap {
                return Err(fail(&m, "LoadBalancerMode DSR requires encap mode".into()));
            }
        }
        out.default_load_balancer_mode = mode;
    }
    Ok(())
}

/// `validateEgressConfig` (run only with the Egress gate on, in a mode that
/// supports Egress) and `setK8sNodeDefaultOptions` (0 means 255).
fn egress_settings(
    e: EgressDoc,
    conf: &Embedded<'_>,
    out: &mut AgentSettings,
) -> Result<(), InputError> {
    let fail = |at: &Spanned<String>, m: String| {
        conf.error_on(at, format!("failed to validate egress config: {m}"))
    };
    for c in e.except_cidrs.iter().flatten() {
        match c.value.parse::<IpNet>() {
            Ok(IpNet::V4(net)) => out.egress_except_cidrs.push(net),
            Ok(IpNet::V6(_)) => {}
            Err(_) => {
                return Err(fail(
                    c,
                    format!("Egress Except CIDR {} is invalid", c.value),
                ));
            }
        }
    }
    if let Some(m) = e.max_egress_ips_per_node {
        if m.value > i64::from(MAX_EGRESS_IPS_PER_NODE) {
            return Err(conf.error_on(
                &m,
                format!(
                    "failed to validate egress config: maxEgressIPsPerNode cannot be greater than {MAX_EGRESS_IPS_PER_NODE}"
                ),
            ));
        }
        // 0 is "unset"; a negative capacity fits no Egress IP anywhere.
        out.max_egress_ips_per_node = match m.value {
            0 => MAX_EGRESS_IPS_PER_NODE,
            n => u32::try_from(n).unwrap_or(0),
        };
    }
    Ok(())
}

/// `k8s.ParseKubeAPIServerOverride` then `validation.ValidatePortString`
/// (v2.4+): the port after `https://host:` must be 1-65535.
fn check_api_server_override(value: &str) -> Result<(), String> {
    let host_port = value.replace("https://", "");
    let port = match host_port.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").map(|(_, p)| p.to_string()),
        None => match host_port.split(':').collect::<Vec<_>>().as_slice() {
            [_, p] => Some(p.to_string()),
            _ => None,
        },
    };
    let Some(port) = port else { return Ok(()) };
    let bad = |why: String| format!("error in kubeAPIServerOverride '{value}': {why}");
    match port.parse::<i64>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(()),
        Ok(n) => Err(bad(format!(
            "port {n} is out of range, valid range is 1-65535"
        ))),
        Err(_) => Err(bad(format!(
            "invalid port {port}: strconv.Atoi: parsing {port:?}: invalid syntax"
        ))),
    }
}
