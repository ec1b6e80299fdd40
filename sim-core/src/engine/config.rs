//! `antrea-config`: the agent's and controller's settings, as the blog edits them.
//!
//! `antrea-agent.conf` and `antrea-controller.conf` are YAML documents inside
//! string values of the ConfigMap. Read here: `featureGates` (names checked
//! against Antrea v1.15.1's gates, as the blog's `antctl get featuregates`
//! lists them), `egress.maxEgressIPsPerNode`, `antreaProxy.proxyAll` and
//! `kubeAPIServerOverride` (kept for later features). Other keys are accepted
//! as Antrea does not reject them either.
//!
//! Antrea reads the ConfigMap at start; the blog restarts the controller and
//! agents after editing it. antlab applies the new settings when the
//! ConfigMap is applied and says so in the log.

use indexmap::IndexMap;

use super::ClusterState;
use crate::input::InputError;
use crate::k8s::ConfigMap;
use crate::time::SimDuration;

/// Agent feature gates of Antrea v1.15.1 with their defaults
/// (`pkg/features/antrea_features.go` at v1.15.1; the blog's table shows the
/// same names).
pub const AGENT_GATES_V1_15: &[(&str, bool)] = &[
    ("AntreaIPAM", false),
    ("AntreaPolicy", true),
    ("AntreaProxy", true),
    ("CleanupStaleUDPSvcConntrack", false),
    ("Egress", true),
    ("EgressSeparateSubnet", false),
    ("EgressTrafficShaping", false),
    ("EndpointSlice", true),
    ("ExternalNode", false),
    ("FlowExporter", false),
    ("IPsecCertAuth", false),
    ("L7FlowExporter", false),
    ("L7NetworkPolicy", false),
    ("LoadBalancerModeDSR", false),
    ("Multicast", true),
    ("Multicluster", false),
    ("NetworkPolicyStats", true),
    ("NodeNetworkPolicy", false),
    ("NodePortLocal", true),
    ("SecondaryNetwork", false),
    ("ServiceExternalIP", false),
    ("SupportBundleCollection", false),
    ("TopologyAwareHints", true),
    ("Traceflow", true),
    ("TrafficControl", false),
];

/// Controller feature gates of Antrea v1.15.1 with their defaults.
pub const CONTROLLER_GATES_V1_15: &[(&str, bool)] = &[
    ("AdminNetworkPolicy", false),
    ("AntreaIPAM", false),
    ("AntreaPolicy", true),
    ("Egress", true),
    ("IPsecCertAuth", false),
    ("L7NetworkPolicy", false),
    ("Multicast", true),
    ("Multicluster", false),
    ("NetworkPolicyStats", true),
    ("NodeIPAM", true),
    ("ServiceExternalIP", false),
    ("SupportBundleCollection", false),
    ("Traceflow", true),
];

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfDoc {
    #[serde(default)]
    feature_gates: IndexMap<String, bool>,
    #[serde(default)]
    egress: Option<EgressConf>,
    #[serde(default)]
    antrea_proxy: Option<ProxyConf>,
    #[serde(default, rename = "kubeAPIServerOverride")]
    kube_api_server_override: Option<String>,
    #[serde(default)]
    flow_exporter: Option<FlowExporterConf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlowExporterConf {
    #[serde(default)]
    enable: Option<bool>,
    #[serde(default)]
    flow_collector_addr: Option<String>,
    #[serde(default)]
    flow_poll_interval: Option<String>,
    #[serde(default)]
    active_flow_export_timeout: Option<String>,
    #[serde(default)]
    idle_flow_export_timeout: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EgressConf {
    #[serde(default)]
    max_egress_ips_per_node: Option<u32>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProxyConf {
    #[serde(default)]
    proxy_all: Option<bool>,
    #[serde(default)]
    skip_services: Option<Vec<String>>,
    #[serde(default)]
    node_port_addresses: Option<Vec<String>>,
    #[serde(default, rename = "proxyLoadBalancerIPs")]
    proxy_load_balancer_ips: Option<bool>,
    #[serde(default)]
    default_load_balancer_mode: Option<String>,
}

/// Settings read from `antrea-config`.
#[derive(Clone, Debug, Default)]
pub struct AntreaSettings {
    pub agent_gates: IndexMap<String, bool>,
    pub controller_gates: IndexMap<String, bool>,
    pub proxy_all: bool,
    pub kube_api_server_override: Option<String>,
    pub flow_exporter: FlowExporterSettings,
}

/// The agent's `flowExporter` section (`cmd/antrea-agent/options.go`@v1.15.0):
/// poll conntrack every 5 s, export live connections every 5 s and idle ones
/// after 15 s; the active and idle timeouts are raised to at least the poll
/// interval, which is at least 1 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowExporterSettings {
    /// `flowExporter.enable`: absent in v1.15 configs (the gate alone decides);
    /// an explicit `false` turns the exporter off.
    pub enable: Option<bool>,
    pub collector_addr: String,
    pub poll_interval: SimDuration,
    pub active_timeout: SimDuration,
    pub idle_timeout: SimDuration,
}

impl Default for FlowExporterSettings {
    fn default() -> Self {
        FlowExporterSettings {
            enable: None,
            collector_addr: "flow-aggregator/flow-aggregator:4739:tls".into(),
            poll_interval: SimDuration::from_secs(5),
            active_timeout: SimDuration::from_secs(5),
            idle_timeout: SimDuration::from_secs(15),
        }
    }
}

impl AntreaSettings {
    pub fn controller_gate(&self, name: &str) -> bool {
        self.controller_gates
            .get(name)
            .copied()
            .or_else(|| {
                CONTROLLER_GATES_V1_15
                    .iter()
                    .find(|g| g.0 == name)
                    .map(|g| g.1)
            })
            .unwrap_or(false)
    }

    /// Whether agents export flow records: the `FlowExporter` gate, unless
    /// `flowExporter.enable` says `false`.
    pub fn flow_export_on(&self) -> bool {
        self.agent_gate("FlowExporter") && self.flow_exporter.enable != Some(false)
    }

    pub fn agent_gate(&self, name: &str) -> bool {
        self.agent_gates
            .get(name)
            .copied()
            .or_else(|| AGENT_GATES_V1_15.iter().find(|g| g.0 == name).map(|g| g.1))
            .unwrap_or(false)
    }
}

fn parse_conf(
    cm: &ConfigMap,
    key: &str,
    gates: &[(&str, bool)],
) -> Result<Option<ConfDoc>, InputError> {
    let Some(text) = cm.get(key)? else {
        return Ok(None);
    };
    let origin = &cm.meta.origin;
    let doc: ConfDoc = match serde_saphyr::from_str::<Option<ConfDoc>>(text) {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => {
            let inner = InputError::from_yaml(key, &e);
            return Err(origin.error(format!(
                "ConfigMap antrea-config, {key} line {} column {}: {}",
                inner.line, inner.column, inner.message
            )));
        }
    };
    for name in doc.feature_gates.keys() {
        if !gates.iter().any(|g| g.0 == name) {
            return Err(origin.error(format!(
                "ConfigMap antrea-config, {key}: unrecognized feature gate: {name}"
            )));
        }
    }
    Ok(Some(doc))
}

/// Applies `antrea-config`; returns log lines describing what changed.
pub fn apply_antrea_config(
    cluster: &mut ClusterState,
    cm: &ConfigMap,
) -> Result<Vec<String>, InputError> {
    let agent = parse_conf(cm, "antrea-agent.conf", AGENT_GATES_V1_15)?;
    let controller = parse_conf(cm, "antrea-controller.conf", CONTROLLER_GATES_V1_15)?;
    let mut lines = Vec::new();
    let s = &mut cluster.settings;
    if let Some(a) = agent {
        s.agent_gates = a.feature_gates;
        if let Some(p) = a.antrea_proxy {
            if let Some(all) = p.proxy_all {
                s.proxy_all = all;
            }
            let proxy = &mut cluster.proxy;
            if let Some(skip) = p.skip_services {
                proxy.skip_services = skip;
            }
            if let Some(addrs) = p.node_port_addresses {
                let mut nets = Vec::new();
                for a in addrs {
                    let net = a
                        .parse::<ipnet::Ipv4Net>()
                        .or_else(|_| a.parse::<std::net::Ipv4Addr>().map(ipnet::Ipv4Net::from))
                        .map_err(|_| {
                            cm.meta.origin.error(format!(
                                "antreaProxy.nodePortAddresses: `{a}` is not a CIDR"
                            ))
                        })?;
                    nets.push(net);
                }
                proxy.node_port_addresses = nets;
            }
            if let Some(v) = p.proxy_load_balancer_ips {
                proxy.proxy_load_balancer_ips = v;
            }
            match p.default_load_balancer_mode.as_deref() {
                None => {}
                Some("nat") => proxy.default_load_balancer_mode = super::proxy::LbMode::Nat,
                Some("dsr") => proxy.default_load_balancer_mode = super::proxy::LbMode::Dsr,
                Some(other) => {
                    return Err(cm.meta.origin.error(format!(
                        "antreaProxy.defaultLoadBalancerMode must be nat or dsr, not `{other}`"
                    )));
                }
            }
        }
        s.kube_api_server_override = a.kube_api_server_override;
        s.flow_exporter = flow_exporter_settings(cm, a.flow_exporter)?;
        if let Some(m) = a.egress.and_then(|e| e.max_egress_ips_per_node) {
            cluster.egress.config.max_egress_ips_per_node = m.min(255);
        }
    }
    if let Some(c) = controller {
        s.controller_gates = c.feature_gates;
    }
    cluster.proxy.proxy_all = cluster.settings.proxy_all;
    cluster.proxy.antrea_proxy = cluster.settings.agent_gate("AntreaProxy");
    cluster.proxy.dsr_enabled = cluster.settings.agent_gate("LoadBalancerModeDSR");
    cluster.proxy.topology_aware_hints = cluster.settings.agent_gate("TopologyAwareHints");
    let s = &cluster.settings;
    let egress = s.agent_gate("Egress");
    let separate = s.agent_gate("EgressSeparateSubnet");
    cluster.egress.config.enabled = egress;
    cluster.egress.config.separate_subnet = separate;
    let on = |b: bool| if b { "Enabled" } else { "Disabled" };
    lines.push(format!(
        "antrea-config applied (as after `kubectl rollout restart` of the controller and agents): Egress {}, EgressSeparateSubnet {}, ServiceExternalIP {}, proxyAll {}",
        on(egress),
        on(separate),
        on(cluster.settings.agent_gate("ServiceExternalIP")),
        cluster.proxy.proxy_all
    ));
    Ok(lines)
}

fn flow_exporter_settings(
    cm: &ConfigMap,
    conf: Option<FlowExporterConf>,
) -> Result<FlowExporterSettings, InputError> {
    let mut out = FlowExporterSettings::default();
    let Some(c) = conf else { return Ok(out) };
    let dur = |field: &str, v: &Option<String>, into: &mut SimDuration| -> Result<(), InputError> {
        if let Some(text) = v {
            *into = SimDuration::parse(text).map_err(|e| {
                cm.meta.origin.error(format!(
                    "flowExporter.{field}: `{text}` is not a duration ({e})"
                ))
            })?;
        }
        Ok(())
    };
    dur(
        "flowPollInterval",
        &c.flow_poll_interval,
        &mut out.poll_interval,
    )?;
    dur(
        "activeFlowExportTimeout",
        &c.active_flow_export_timeout,
        &mut out.active_timeout,
    )?;
    dur(
        "idleFlowExportTimeout",
        &c.idle_flow_export_timeout,
        &mut out.idle_timeout,
    )?;
    // Antrea rejects a poll interval under 1 s and raises the timeouts to it.
    if out.poll_interval < SimDuration::from_secs(1) {
        return Err(cm.meta.origin.error(format!(
            "flowExporter.flowPollInterval must be at least 1s, not {}",
            out.poll_interval.human()
        )));
    }
    out.active_timeout = out.active_timeout.max(out.poll_interval);
    out.idle_timeout = out.idle_timeout.max(out.poll_interval);
    out.enable = c.enable;
    if let Some(a) = c.flow_collector_addr {
        out.collector_addr = a;
    }
    Ok(out)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KubeProxyConf {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    ipvs: Option<IpvsConf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpvsConf {
    #[serde(default, rename = "strictARP")]
    strict_arp: Option<bool>,
}

/// Applies the `kube-proxy` ConfigMap (`config.conf`, a
/// KubeProxyConfiguration): its `mode` and `ipvs.strictARP`. kube-proxy
/// re-reads it when its Pods restart, which antlab applies at once.
pub fn apply_kube_proxy_config(
    cluster: &mut ClusterState,
    cm: &ConfigMap,
) -> Result<Vec<String>, InputError> {
    let Some(text) = cm.get("config.conf")? else {
        return Ok(vec![
            "ConfigMap kube-system/kube-proxy has no config.conf; nothing changes".into(),
        ]);
    };
    let conf: KubeProxyConf = match serde_saphyr::from_str::<Option<KubeProxyConf>>(text) {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => {
            let inner = InputError::from_yaml("config.conf", &e);
            return Err(cm.meta.origin.error(format!(
                "ConfigMap kube-proxy, config.conf line {} column {}: {}",
                inner.line, inner.column, inner.message
            )));
        }
    };
    use super::proxy::KubeProxyMode;
    let strict = conf.ipvs.and_then(|i| i.strict_arp).unwrap_or(false);
    let mode = match conf.mode.as_deref() {
        Some("ipvs") => KubeProxyMode::Ipvs { strict_arp: strict },
        Some("iptables") | Some("") | None => KubeProxyMode::Iptables,
        Some(other) => {
            return Err(cm.meta.origin.error(format!(
                "ConfigMap kube-proxy: mode `{other}` is not modelled (iptables or ipvs)"
            )));
        }
    };
    if cluster.proxy.kube_proxy.is_none() {
        return Ok(vec![
            "kube-proxy ConfigMap stored; kube-proxy is not running".into(),
        ]);
    }
    cluster.proxy.kube_proxy = Some(mode);
    Ok(vec![format!("kube-proxy restarted with mode {mode:?}")])
}

/// A feature gate's maturity, as antctl prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Maturity {
    Alpha,
    Beta,
    Ga,
}

impl Maturity {
    fn word(self) -> &'static str {
        match self {
            Maturity::Alpha => "ALPHA",
            Maturity::Beta => "BETA",
            Maturity::Ga => "GA",
        }
    }
}

/// One gate row: (name, default, maturity).
pub type Gate = (&'static str, bool, Maturity);

/// (name, default, maturity) per component for an Antrea version
/// (`pkg/features/antrea_features.go`; v1.15.x and v2.0.x have the same gates
/// and values, see docs/antrea-behaviour.md §5.1).
pub fn gate_table(version: &str) -> Result<(Vec<Gate>, Vec<Gate>), String> {
    use Maturity::*;
    let v = version.trim_start_matches('v');
    if !(v.starts_with("1.15") || v.starts_with("2.0")) {
        return Err(format!(
            "antlab knows the feature gates of Antrea v1.15.x and v2.0.x, not `{version}`"
        ));
    }
    let maturity = |name: &str| -> Maturity {
        match name {
            "AntreaProxy" | "EndpointSlice" | "NodePortLocal" => Ga,
            "AntreaPolicy" | "Egress" | "TopologyAwareHints" | "Traceflow"
            | "NetworkPolicyStats" | "NodeIPAM" | "Multicast" => Beta,
            _ => Alpha,
        }
    };
    let agent = AGENT_GATES_V1_15
        .iter()
        .map(|&(n, d)| (n, d, maturity(n)))
        .collect();
    let controller = CONTROLLER_GATES_V1_15
        .iter()
        .map(|&(n, d)| (n, d, maturity(n)))
        .collect();
    Ok((agent, controller))
}

/// `antctl get featuregates` as it prints from the `antrea-config` ConfigMap
/// (`pkg/antctl/raw/featuregates/command.go`): an agent and a controller
/// section, rows sorted by name, columns `%-<maxName+5>s%-<maxStatus+5>s%s`.
pub fn featuregates_text(settings: &AntreaSettings, version: &str) -> Result<String, String> {
    let (agent, controller) = gate_table(version)?;
    let section =
        |title: &str, gates: &[(&'static str, bool, Maturity)], set: &IndexMap<String, bool>| {
            let mut rows: Vec<(String, &str, &str)> = gates
                .iter()
                .map(|&(n, d, m)| {
                    let on = set.get(n).copied().unwrap_or(d);
                    (
                        n.to_string(),
                        if on { "Enabled" } else { "Disabled" },
                        m.word(),
                    )
                })
                .collect();
            rows.sort();
            let name_w = rows
                .iter()
                .map(|r| r.0.len())
                .chain(["FEATUREGATE".len()])
                .max()
                .unwrap_or(0)
                + 5;
            let status_w = rows
                .iter()
                .map(|r| r.1.len())
                .chain(["STATUS".len()])
                .max()
                .unwrap_or(0)
                + 5;
            let mut out = format!(
                "{title}\n{:<name_w$}{:<status_w$}{}\n",
                "FEATUREGATE", "STATUS", "VERSION"
            );
            for (n, s, v) in rows {
                out.push_str(&format!("{n:<name_w$}{s:<status_w$}{v}\n"));
            }
            out
        };
    Ok(format!(
        "{}\n{}",
        section("Antrea Agent Feature Gates", &agent, &settings.agent_gates),
        section(
            "Antrea Controller Feature Gates",
            &controller,
            &settings.controller_gates
        )
    ))
}

/// Reads `antrea-config` (any multi-document manifest file holding it) into
/// settings, for `antlab get featuregates -f`.
pub fn settings_from_manifests(
    objects: &[crate::k8s::Object],
) -> Result<AntreaSettings, InputError> {
    let mut cluster = ClusterState::default();
    for o in objects {
        if let crate::k8s::Object::ConfigMap(cm) = o
            && cm.meta.name == "antrea-config"
        {
            apply_antrea_config(&mut cluster, cm)?;
        }
    }
    Ok(cluster.settings)
}

#[cfg(test)]
mod flow_exporter_tests {
    use super::*;
    use crate::k8s::{Object, parse_manifests};

    fn apply(agent_conf: &str) -> Result<ClusterState, InputError> {
        let indented: String = agent_conf.lines().map(|l| format!("    {l}\n")).collect();
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: antrea-config, namespace: kube-system}}\ndata:\n  antrea-agent.conf: |\n{indented}"
        );
        let objs = parse_manifests("cm.yaml", &text).expect("valid manifest");
        let Some(Object::ConfigMap(cm)) = objs.first() else {
            panic!("a ConfigMap")
        };
        let mut c = ClusterState::default();
        apply_antrea_config(&mut c, cm)?;
        Ok(c)
    }

    #[test]
    fn the_gate_alone_turns_the_exporter_on_with_v1_15_defaults() {
        let c = apply("featureGates:\n  FlowExporter: true").unwrap();
        assert!(c.settings.flow_export_on());
        assert_eq!(c.settings.flow_exporter, FlowExporterSettings::default());
        assert_eq!(
            c.settings.flow_exporter.idle_timeout,
            SimDuration::from_secs(15)
        );
        let off = apply("featureGates:\n  Egress: true").unwrap();
        assert!(!off.settings.flow_export_on());
    }

    #[test]
    fn enable_false_wins_and_timeouts_rise_to_the_poll_interval() {
        let c = apply(
            "featureGates:\n  FlowExporter: true\nflowExporter:\n  enable: false\n  flowPollInterval: 10s\n  activeFlowExportTimeout: 2s",
        )
        .unwrap();
        assert!(!c.settings.flow_export_on());
        let fe = &c.settings.flow_exporter;
        assert_eq!(fe.poll_interval, SimDuration::from_secs(10));
        assert_eq!(fe.active_timeout, SimDuration::from_secs(10));
        assert_eq!(fe.idle_timeout, SimDuration::from_secs(15));
    }

    #[test]
    fn a_sub_second_poll_or_a_bad_duration_is_an_error() {
        let e = apply("flowExporter:\n  flowPollInterval: 500ms").unwrap_err();
        assert!(e.message.contains("at least 1s"), "{}", e.message);
        let e = apply("flowExporter:\n  idleFlowExportTimeout: soon").unwrap_err();
        assert!(e.message.contains("idleFlowExportTimeout"), "{}", e.message);
        assert_eq!(e.file, "cm.yaml");
    }
}
