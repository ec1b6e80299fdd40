//! `antrea-config`: the agent's and controller's settings, for one Antrea
//! release.
//!
//! `antrea-agent.conf` and `antrea-controller.conf` are YAML documents inside
//! string values of the `kube-system/antrea-config` ConfigMap. antlab reads
//! them as the release it models ([`version`]; default v1.15.1, the blog's)
//! would: the gates that release defines ([`gates`]), the keys its config
//! structs have ([`keys`]: unknown keys stop a v1.15 agent, later ones ignore
//! them), and the checks of `cmd/antrea-agent/options.go` ([`agent`],
//! [`flow_exporter`]). Problems are reported at their place in the file,
//! inside the embedded document (`embedded`).
//!
//! Rooms: `version` (which release), `gates` (gate tables per release),
//! `keys` (config keys per release), `embedded` (documents inside ConfigMap
//! values), `agent`, `flow_exporter`, `controller` (the two files),
//! `tunnel` (tunnel type, port, checksum and the MTU the agent derives),
//! `kube_proxy` (kube-proxy's ConfigMap), `featuregates` (antctl's table).
//!
//! Antrea reads the ConfigMap at start; the blog restarts the controller and
//! agents after editing it. antlab applies the new settings when the
//! ConfigMap is applied and says so in the log. A new `antrea-config`
//! replaces the old one whole: a key it leaves out is back to its default.

pub mod agent;
mod controller;
mod embedded;
pub mod featuregates;
pub mod flow_exporter;
pub mod gates;
pub mod keys;
pub mod kube_proxy;
pub mod tunnel;
pub mod version;

use indexmap::IndexMap;

pub use agent::{AgentConf, AgentSettings, EncapMode};
pub use controller::ControllerConf;
pub use featuregates::GateSettings;
pub use flow_exporter::FlowExporterSettings;
pub use tunnel::{TunnelSettings, TunnelType};
pub use version::AntreaVersion;

use super::ClusterState;
use crate::input::InputError;
use crate::k8s::{ConfigMap, Object};
use embedded::Embedded;

/// Where Antrea runs and reads its ConfigMaps (`env.GetAntreaNamespace`).
pub const ANTREA_NAMESPACE: &str = "kube-system";
pub const ANTREA_CONFIG: &str = "antrea-config";
const WINDOWS_CONFIG_PREFIX: &str = "antrea-windows-config";

/// What the cluster runs with: the release and its `antrea-config`.
#[derive(Clone, Debug, Default)]
pub struct AntreaSettings {
    pub(crate) version: AntreaVersion,
    /// `featureGates` of `antrea-agent.conf` as written.
    pub(crate) agent_gates: IndexMap<String, bool>,
    /// `featureGates` of `antrea-controller.conf` as written.
    pub(crate) controller_gates: IndexMap<String, bool>,
    pub(crate) agent: AgentSettings,
    pub(crate) flow_exporter: FlowExporterSettings,
}

impl AntreaSettings {
    /// Defaults of `version`, before any `antrea-config`.
    pub fn for_version(version: AntreaVersion) -> Self {
        AntreaSettings {
            version,
            ..Default::default()
        }
    }

    fn gate(&self, set: &IndexMap<String, bool>, name: &str) -> bool {
        set.get(name)
            .copied()
            .or_else(|| gates::gate(self.version, name).map(|g| g.default))
            .unwrap_or(false)
    }

    /// An agent gate: as written, else the release's default (false for a
    /// gate the release does not have).
    pub fn agent_gate(&self, name: &str) -> bool {
        self.gate(&self.agent_gates, name)
    }

    pub fn controller_gate(&self, name: &str) -> bool {
        self.gate(&self.controller_gates, name)
    }

    /// Whether agents export flow records: the `FlowExporter` gate and
    /// `flowExporter.enable` (`cmd/antrea-agent/agent.go`).
    pub fn flow_export_on(&self) -> bool {
        self.agent_gate("FlowExporter") && self.flow_exporter.enable
    }

    /// `trafficEncapMode` (default encap). The simulator's forwarding
    /// depends on it only with `options.brInt: pipeline`
    /// (`ClusterState::tunnels_pod_traffic`); else Pod traffic is routed
    /// natively in every mode.
    pub fn encap_mode(&self) -> EncapMode {
        self.agent.traffic_encap_mode
    }

    /// `tunnelType`, `tunnelPort`, `tunnelCsum`, `defaultMTU`.
    pub fn tunnel(&self) -> &TunnelSettings {
        &self.agent.tunnel
    }

    /// The MTU the agent gives `antrea-gw0` and Pod interfaces on a node
    /// whose transport link has MTU `transport_mtu` (1450 on a 1500 link with
    /// Geneve, the blog's `antrea-gw0 ... mtu 1450`).
    pub fn interface_mtu(&self, transport_mtu: u32) -> u32 {
        self.agent
            .tunnel
            .interface_mtu(self.agent.traffic_encap_mode, transport_mtu)
    }

    /// The kernel device of the tunnel port (`genev_sys_6081` by default),
    /// None in modes without a tunnel.
    pub fn tunnel_device(&self) -> Option<String> {
        self.agent
            .tunnel
            .kernel_device(self.agent.traffic_encap_mode)
    }

    /// Whether agents run Egress: the gate, in a traffic mode that supports
    /// it (`validateEgressConfig`).
    pub fn egress_runs(&self) -> bool {
        self.agent_gate("Egress") && self.agent.traffic_encap_mode.runs_egress(self.version)
    }
}

/// `antrea-config` as one release reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AntreaConfig {
    pub(crate) agent: AgentConf,
    pub(crate) controller: ControllerConf,
}

impl AntreaConfig {
    /// Keys the release ignores, located (v2.0+ lenient decoding).
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.agent.warnings.iter().chain(&self.controller.warnings)
    }
}

/// Reads `antrea-agent.conf` and `antrea-controller.conf` of `cm` for
/// `version`; the first problem either would have stops everything.
pub fn read_antrea_config(
    cm: &ConfigMap,
    version: AntreaVersion,
) -> Result<AntreaConfig, InputError> {
    let agent_conf = Embedded::of(cm, "antrea-agent.conf");
    let controller_conf = Embedded::of(cm, "antrea-controller.conf");
    Ok(AntreaConfig {
        agent: agent::read(agent_conf.as_ref(), version)?,
        controller: controller::read(controller_conf.as_ref(), version)?,
    })
}

/// What applying a ConfigMap did: story lines and warnings for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub(crate) lines: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// Applies `antrea-config` (as after the blog's `kubectl rollout restart`).
pub fn apply_antrea_config(
    cluster: &mut ClusterState,
    cm: &ConfigMap,
) -> Result<Applied, InputError> {
    let conf = read_antrea_config(cm, cluster.settings.version)?;
    let warnings = conf.warnings().cloned().collect();
    let s = &mut cluster.settings;
    s.agent_gates = conf.agent.gates;
    s.controller_gates = conf.controller.gates;
    s.agent = conf.agent.settings;
    s.flow_exporter = conf.agent.flow_exporter;
    sync_engine(cluster);
    let s = &cluster.settings;
    let on = |b: bool| if b { "Enabled" } else { "Disabled" };
    let line = format!(
        "antrea-config applied (as after `kubectl rollout restart` of the controller and agents): Egress {}, EgressSeparateSubnet {}, ServiceExternalIP {}, proxyAll {}",
        on(s.agent_gate("Egress")),
        on(s.agent_gate("EgressSeparateSubnet")),
        on(s.agent_gate("ServiceExternalIP")),
        cluster.proxy.proxy_all
    );
    Ok(Applied {
        lines: vec![line],
        warnings,
    })
}

/// Models `version` from now on, with its defaults (a cluster installed
/// with that release and no `antrea-config` edits yet).
pub fn set_version(cluster: &mut ClusterState, version: AntreaVersion) {
    cluster.settings = AntreaSettings::for_version(version);
    sync_engine(cluster);
}

/// Pushes the settings into the engine parts that act on them.
fn sync_engine(cluster: &mut ClusterState) {
    let s = &cluster.settings;
    let eg = &mut cluster.egress.config;
    eg.enabled = s.egress_runs();
    eg.separate_subnet = s.agent_gate("EgressSeparateSubnet");
    eg.max_egress_ips_per_node = s.agent.max_egress_ips_per_node;
    eg.except_cidrs = s.agent.egress_except_cidrs.clone();
    let p = &mut cluster.proxy;
    p.antrea_proxy = s.agent.antrea_proxy_enable && s.agent_gate("AntreaProxy");
    p.proxy_all = s.agent.proxy_all;
    p.node_port_addresses = s.agent.node_port_addresses.clone();
    p.skip_services = s.agent.skip_services.clone();
    p.proxy_load_balancer_ips = s.agent.proxy_load_balancer_ips;
    p.default_load_balancer_mode = s.agent.default_load_balancer_mode;
    p.dsr_enabled = s.agent_gate("LoadBalancerModeDSR");
    p.topology_aware_hints = s.agent_gate("TopologyAwareHints");
    // antrea#6308 (v2.1.0): with proxyAll, Antrea's host rules go before
    // kube-proxy's (docs/antrea-proxy.md@v2.1.0 "Starting with Antrea v2.1").
    p.antrea_first_with_proxy_all = s.version >= version::V2_1_0;
}

/// Whether `obj` is a ConfigMap the engine reads: `kube-system/antrea-config`
/// or `kube-system/kube-proxy`.
pub fn is_antrea_config(obj: &Object) -> bool {
    matches!(obj, Object::ConfigMap(cm) if cm.meta.name == ANTREA_CONFIG)
        && obj.namespace() == Some(ANTREA_NAMESPACE)
}

pub fn is_kube_proxy_config(obj: &Object) -> bool {
    matches!(obj, Object::ConfigMap(cm) if cm.meta.name == "kube-proxy")
        && obj.namespace() == Some(ANTREA_NAMESPACE)
}

/// Checks, before a scenario runs, a ConfigMap it applies: Antrea's and
/// kube-proxy's settings must be what `version` (and kube-proxy) accept.
pub fn check_object(obj: &Object, version: AntreaVersion) -> Result<(), InputError> {
    match obj {
        Object::ConfigMap(cm) if is_antrea_config(obj) => {
            read_antrea_config(cm, version).map(|_| ())
        }
        Object::ConfigMap(cm) if is_kube_proxy_config(obj) => kube_proxy::read(cm).map(|_| ()),
        _ => Ok(()),
    }
}

/// `antctl get featuregates` for the manifests in `file`: its
/// `kube-system/antrea-config` (required: antctl fails without it) and the
/// newest `antrea-windows-config*` labelled `app=antrea`, if any.
pub fn featuregates_from_manifests(
    file: &str,
    objects: &[Object],
    version: AntreaVersion,
) -> Result<String, InputError> {
    let Some(cm) = objects.iter().rev().find_map(|o| match o {
        Object::ConfigMap(cm) if is_antrea_config(o) => Some(cm),
        _ => None,
    }) else {
        let elsewhere = objects
            .iter()
            .find(|o| matches!(o, Object::ConfigMap(cm) if cm.meta.name == ANTREA_CONFIG))
            .map(|o| {
                format!(
                    " (it has {}; Antrea reads the one in {ANTREA_NAMESPACE})",
                    o.display_name()
                )
            })
            .unwrap_or_default();
        return Err(InputError::new(
            file,
            1,
            1,
            format!(
                "no ConfigMap {ANTREA_NAMESPACE}/{ANTREA_CONFIG} in this file{elsewhere}; \
                 antctl reads the feature gates from it"
            ),
        ));
    };
    let conf = read_antrea_config(cm, version)?;
    let mut windows: Option<&ConfigMap> = None;
    for o in objects {
        let Object::ConfigMap(w) = o else { continue };
        if !w.meta.name.starts_with(WINDOWS_CONFIG_PREFIX)
            || o.namespace() != Some(ANTREA_NAMESPACE)
            || w.meta.labels.get("app").map(String::as_str) != Some("antrea")
        {
            continue;
        }
        // Newest first; RFC 3339 timestamps order as strings.
        if windows.is_none_or(|cur| w.meta.creation_timestamp > cur.meta.creation_timestamp) {
            windows = Some(w);
        }
    }
    let windows_agent = match windows {
        Some(w) => Some(agent::read(Embedded::of(w, "antrea-agent.conf").as_ref(), version)?.gates),
        None => None,
    };
    Ok(featuregates::text(
        version,
        &GateSettings {
            agent: conf.agent.gates,
            controller: conf.controller.gates,
            windows_agent,
        },
    ))
}

#[cfg(test)]
mod tests;
