//! Every key of `antrea-agent.conf` and `antrea-controller.conf` per release
//! (the `yaml` tags of `pkg/config/agent/config.go` and
//! `pkg/config/controller/config.go` at each tag; a field without a `yaml`
//! tag is its lower-cased Go name, as the YAML decoder does, e.g.
//! `clientConnection.kubeconfig`), and what Antrea does with a key it does
//! not know:
//!
//! - v1.15 decodes the file with `yaml.UnmarshalStrict`
//!   (`cmd/antrea-agent/options.go`@v1.15.0): an unknown key stops the agent
//!   ("field X not found in type agent.AgentConfig"), so antlab refuses it.
//! - From v2.0 (antrea#6156, `pkg/util/yaml.UnmarshalLenient`) it logs
//!   "Used lenient decoding as strict decoding failed" and carries on without
//!   the key; antlab logs a warning.
//!
//! `sim-core/examples/antrea_source.rs` (a maintenance check run by hand) diffs these tables against the Go source.

use super::embedded::{Embedded, Node};
use super::version::*;
use crate::input::InputError;

/// What a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value (string, number, bool, list of scalars).
    Leaf,
    /// A struct: its own keys are checked (Go type for messages).
    Struct(&'static str),
    /// A list of structs.
    StructList(&'static str),
    /// A free map (`featureGates`).
    Map,
}

/// One key, present from `since` until before `until`.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub path: &'static str,
    pub kind: Kind,
    pub(crate) since: AntreaVersion,
    pub(crate) until: Option<AntreaVersion>,
}

impl Key {
    pub fn in_version(&self, v: AntreaVersion) -> bool {
        self.since <= v && self.until.is_none_or(|u| v < u)
    }
}

const fn v(major: u8, minor: u8, patch: u8) -> AntreaVersion {
    AntreaVersion {
        major,
        minor,
        patch,
    }
}

const fn key(
    path: &'static str,
    kind: Kind,
    since: AntreaVersion,
    until: Option<AntreaVersion>,
) -> Key {
    Key {
        path,
        kind,
        since,
        until,
    }
}

use Kind::*;

/// Which file a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Agent,
    Controller,
}

impl Component {
    pub fn keys(self) -> &'static [Key] {
        match self {
            Component::Agent => AGENT_KEYS,
            Component::Controller => CONTROLLER_KEYS,
        }
    }

    fn root_type(self) -> &'static str {
        match self {
            Component::Agent => "agent.AgentConfig",
            Component::Controller => "controller.ControllerConfig",
        }
    }
}

/// The keys of `component`'s file in `version`, as dotted paths (`[]` for
/// the items of a list of structs).
pub fn paths(component: Component, version: AntreaVersion) -> Vec<&'static str> {
    component
        .keys()
        .iter()
        .filter(|k| k.in_version(version))
        .map(|k| k.path)
        .collect()
}

/// Checks every mapping key of `doc` against the release's schema: an
/// unknown key is an error under v1.15's strict decoding, a warning (its
/// text, located) from v2.0 on.
pub(super) fn check_unknown(
    doc: &Node,
    component: Component,
    version: AntreaVersion,
    conf: &Embedded<'_>,
) -> Result<Vec<String>, InputError> {
    let mut unknown = Vec::new();
    walk(
        doc,
        "",
        component.root_type(),
        component,
        version,
        &mut unknown,
    );
    let strict = version < V2_0_0;
    let mut warnings = Vec::new();
    for (loc, message) in unknown {
        if strict {
            return Err(conf.error(
                &loc,
                format!(
                    "{message} (Antrea {version} decodes this file strictly; the {} would not start)",
                    match component {
                        Component::Agent => "agent",
                        Component::Controller => "controller",
                    }
                ),
            ));
        }
        warnings.push(
            conf.error(
                &loc,
                format!("{message}; Antrea {version} ignores it (\"Used lenient decoding as strict decoding failed\")"),
            )
            .to_string(),
        );
    }
    Ok(warnings)
}

fn walk(
    node: &Node,
    prefix: &str,
    go_type: &str,
    component: Component,
    version: AntreaVersion,
    unknown: &mut Vec<(serde_saphyr::Location, String)>,
) {
    let Node::Map(entries) = node else { return };
    let known: Vec<&Key> = component
        .keys()
        .iter()
        .filter(|k| k.in_version(version))
        .filter(|k| {
            k.path
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.contains('.'))
        })
        .collect();
    for (name, value) in entries {
        let Some(k) = known.iter().find(|k| k.path[prefix.len()..] == name.value) else {
            let mut message = format!("field {} not found in type {go_type}", name.value);
            if let Some(close) = known
                .iter()
                .find(|k| k.path[prefix.len()..].eq_ignore_ascii_case(&name.value))
            {
                message.push_str(&format!(" (did you mean {}?)", &close.path[prefix.len()..]));
            }
            unknown.push((name.referenced, message));
            continue;
        };
        match (k.kind, value) {
            (Struct(t), _) => walk(
                value,
                &format!("{}.", k.path),
                t,
                component,
                version,
                unknown,
            ),
            (StructList(t), Node::Seq(items)) => {
                for item in items {
                    walk(
                        item,
                        &format!("{}[].", k.path),
                        t,
                        component,
                        version,
                        unknown,
                    );
                }
            }
            _ => {}
        }
    }
}

static AGENT_KEYS: &[Key] = &[
    key("featureGates", Map, v(1, 15, 0), None),
    key("cniSocket", Leaf, v(1, 15, 0), None),
    key(
        "clientConnection",
        Struct("config.ClientConnectionConfiguration"),
        v(1, 15, 0),
        None,
    ),
    key("clientConnection.kubeconfig", Leaf, v(1, 15, 0), None),
    key(
        "clientConnection.acceptcontenttypes",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("clientConnection.contenttype", Leaf, v(1, 15, 0), None),
    key("clientConnection.qps", Leaf, v(1, 15, 0), None),
    key("clientConnection.burst", Leaf, v(1, 15, 0), None),
    key(
        "antreaClientConnection",
        Struct("config.ClientConnectionConfiguration"),
        v(1, 15, 0),
        None,
    ),
    key("antreaClientConnection.kubeconfig", Leaf, v(1, 15, 0), None),
    key(
        "antreaClientConnection.acceptcontenttypes",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "antreaClientConnection.contenttype",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("antreaClientConnection.qps", Leaf, v(1, 15, 0), None),
    key("antreaClientConnection.burst", Leaf, v(1, 15, 0), None),
    key("ovsBridge", Leaf, v(1, 15, 0), None),
    key("ovsDatapathType", Leaf, v(1, 15, 0), None),
    key("ovsRunDir", Leaf, v(1, 15, 0), None),
    key("hostGateway", Leaf, v(1, 15, 0), None),
    key("trafficEncapMode", Leaf, v(1, 15, 0), None),
    key("noSNAT", Leaf, v(1, 15, 0), None),
    key("tunnelType", Leaf, v(1, 15, 0), None),
    key("tunnelPort", Leaf, v(1, 15, 0), None),
    key("tunnelCsum", Leaf, v(1, 15, 0), None),
    key("defaultMTU", Leaf, v(1, 15, 0), None),
    key("hostProcPathPrefix", Leaf, v(1, 15, 0), None),
    key("serviceCIDR", Leaf, v(1, 15, 0), None),
    key("serviceCIDRv6", Leaf, v(1, 15, 0), None),
    key("enableIPSecTunnel", Leaf, v(1, 15, 0), Some(v(2, 0, 0))),
    key("trafficEncryptionMode", Leaf, v(1, 15, 0), None),
    key(
        "wireGuard",
        Struct("agent.WireGuardConfig"),
        v(1, 15, 0),
        None,
    ),
    key("wireGuard.port", Leaf, v(1, 15, 0), None),
    key("enableBridgingMode", Leaf, v(1, 15, 0), None),
    key("disableTXChecksumOffload", Leaf, v(1, 15, 0), None),
    key("apiPort", Leaf, v(1, 15, 0), None),
    key("clusterPort", Leaf, v(1, 15, 0), None),
    key("enablePrometheusMetrics", Leaf, v(1, 15, 0), None),
    key("flowCollectorAddr", Leaf, v(1, 15, 0), None),
    key("flowPollInterval", Leaf, v(1, 15, 0), None),
    key("activeFlowExportTimeout", Leaf, v(1, 15, 0), None),
    key("idleFlowExportTimeout", Leaf, v(1, 15, 0), None),
    key("nplPortRange", Leaf, v(1, 15, 0), Some(v(2, 0, 0))),
    key(
        "nodePortLocal",
        Struct("agent.NodePortLocalConfig"),
        v(1, 15, 0),
        None,
    ),
    key("nodePortLocal.enable", Leaf, v(1, 15, 0), None),
    key("nodePortLocal.portRange", Leaf, v(1, 15, 0), None),
    key(
        "flowExporter",
        Struct("agent.FlowExporterConfig"),
        v(1, 15, 0),
        None,
    ),
    key("flowExporter.enable", Leaf, v(1, 15, 0), None),
    key("flowExporter.flowCollectorAddr", Leaf, v(1, 15, 0), None),
    key("flowExporter.flowPollInterval", Leaf, v(1, 15, 0), None),
    key(
        "flowExporter.activeFlowExportTimeout",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "flowExporter.idleFlowExportTimeout",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("kubeAPIServerOverride", Leaf, v(1, 15, 0), None),
    key("dnsServerOverride", Leaf, v(1, 15, 0), None),
    key("tlsCipherSuites", Leaf, v(1, 15, 0), None),
    key("tlsMinVersion", Leaf, v(1, 15, 0), None),
    key("transportInterface", Leaf, v(1, 15, 0), None),
    key("transportInterfaceCIDRs", Leaf, v(1, 15, 0), None),
    key("multicastInterfaces", Leaf, v(1, 15, 0), Some(v(2, 0, 0))),
    key(
        "multicast",
        Struct("agent.MulticastConfig"),
        v(1, 15, 0),
        None,
    ),
    key("multicast.enable", Leaf, v(1, 15, 0), None),
    key("multicast.multicastInterfaces", Leaf, v(1, 15, 0), None),
    key("multicast.igmpQueryInterval", Leaf, v(1, 15, 0), None),
    key("multicast.igmpQueryVersions", Leaf, v(1, 15, 0), None),
    key(
        "antreaProxy",
        Struct("agent.AntreaProxyConfig"),
        v(1, 15, 0),
        None,
    ),
    key("antreaProxy.enable", Leaf, v(1, 15, 0), None),
    key("antreaProxy.proxyAll", Leaf, v(1, 15, 0), None),
    key("antreaProxy.nodePortAddresses", Leaf, v(1, 15, 0), None),
    key("antreaProxy.skipServices", Leaf, v(1, 15, 0), None),
    key("antreaProxy.proxyLoadBalancerIPs", Leaf, v(1, 15, 0), None),
    key("antreaProxy.serviceProxyName", Leaf, v(1, 15, 0), None),
    key(
        "antreaProxy.defaultLoadBalancerMode",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("egress", Struct("agent.EgressConfig"), v(1, 15, 0), None),
    key("egress.exceptCIDRs", Leaf, v(1, 15, 0), None),
    key("egress.maxEgressIPsPerNode", Leaf, v(1, 15, 0), None),
    key("ipsec", Struct("agent.IPsecConfig"), v(1, 15, 0), None),
    key("ipsec.authenticationMode", Leaf, v(1, 15, 0), None),
    key(
        "multicluster",
        Struct("agent.MulticlusterConfig"),
        v(1, 15, 0),
        None,
    ),
    key("multicluster.enable", Leaf, v(1, 15, 0), Some(v(2, 0, 0))),
    key("multicluster.enableGateway", Leaf, v(1, 15, 0), None),
    key("multicluster.namespace", Leaf, v(1, 15, 0), None),
    key(
        "multicluster.enableStretchedNetworkPolicy",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "multicluster.enablePodToPodConnectivity",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "multicluster.wireGuard",
        Struct("agent.WireGuardConfig"),
        v(1, 15, 0),
        None,
    ),
    key("multicluster.wireGuard.port", Leaf, v(1, 15, 0), None),
    key(
        "multicluster.trafficEncryptionMode",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("nodeType", Leaf, v(1, 15, 0), None),
    key(
        "externalNode",
        Struct("agent.ExternalNodeConfig"),
        v(1, 15, 0),
        None,
    ),
    key(
        "externalNode.externalNodeNamespace",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "externalNode.policyBypassRules",
        StructList("agent.PolicyBypassRule"),
        v(1, 15, 0),
        None,
    ),
    key(
        "externalNode.policyBypassRules[].direction",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "externalNode.policyBypassRules[].protocol",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "externalNode.policyBypassRules[].cidr",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "externalNode.policyBypassRules[].port",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "auditLogging",
        Struct("agent.AuditLoggingConfig"),
        v(1, 15, 0),
        None,
    ),
    key("auditLogging.maxSize", Leaf, v(1, 15, 0), None),
    key("auditLogging.maxBackups", Leaf, v(1, 15, 0), None),
    key("auditLogging.maxAge", Leaf, v(1, 15, 0), None),
    key("auditLogging.compress", Leaf, v(1, 15, 0), None),
    key(
        "secondaryNetwork",
        Struct("agent.SecondaryNetworkConfig"),
        v(1, 15, 0),
        None,
    ),
    key(
        "secondaryNetwork.ovsBridges",
        StructList("agent.OVSBridgeConfig"),
        v(1, 15, 0),
        None,
    ),
    key(
        "secondaryNetwork.ovsBridges[].bridgeName",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key(
        "secondaryNetwork.ovsBridges[].physicalInterfaces",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("packetInRate", Leaf, v(1, 15, 0), None),
    key("snatFullyRandomPorts", Leaf, v(2, 2, 0), None),
    key("egress.snatFullyRandomPorts", Leaf, v(2, 2, 0), None),
    key("fqdnCacheMinTTL", Leaf, v(2, 3, 0), None),
    key(
        "antreaProxy.disableServiceHealthCheckServer",
        Leaf,
        v(2, 3, 0),
        None,
    ),
    key("flowExporter.protocols", Leaf, v(2, 4, 0), Some(v(2, 4, 1))),
    key(
        "secondaryNetwork.ovsBridges[].enableMulticastSnooping",
        Leaf,
        v(2, 4, 0),
        None,
    ),
    key("flowExporter.protocolFilter", Leaf, v(2, 4, 1), None),
    key("podCIDRs", Leaf, v(2, 5, 0), None),
    key(
        "antreaProxy.serviceHealthCheckServerBindAddress",
        Leaf,
        v(2, 5, 0),
        None,
    ),
    key("egress.uniqueMACForSubInterfaces", Leaf, v(2, 5, 0), None),
    key(
        "hostNetworkAcceleration",
        Struct("agent.HostNetworkAccelerationConfig"),
        v(2, 5, 0),
        None,
    ),
    key("hostNetworkAcceleration.enable", Leaf, v(2, 5, 0), None),
    key("hostNetworkMode", Leaf, v(2, 5, 0), None),
    key(
        "memberlist",
        Struct("agent.MemberlistConfig"),
        v(2, 7, 0),
        None,
    ),
    key("memberlist.gossipVerifyOutgoing", Leaf, v(2, 7, 0), None),
    key("memberlist.gossipVerifyIncoming", Leaf, v(2, 7, 0), None),
];
static CONTROLLER_KEYS: &[Key] = &[
    key("featureGates", Map, v(1, 15, 0), None),
    key(
        "clientConnection",
        Struct("config.ClientConnectionConfiguration"),
        v(1, 15, 0),
        None,
    ),
    key("clientConnection.kubeconfig", Leaf, v(1, 15, 0), None),
    key(
        "clientConnection.acceptcontenttypes",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("clientConnection.contenttype", Leaf, v(1, 15, 0), None),
    key("clientConnection.qps", Leaf, v(1, 15, 0), None),
    key("clientConnection.burst", Leaf, v(1, 15, 0), None),
    key("apiPort", Leaf, v(1, 15, 0), None),
    key("enablePrometheusMetrics", Leaf, v(1, 15, 0), None),
    key("selfSignedCert", Leaf, v(1, 15, 0), None),
    key("tlsCipherSuites", Leaf, v(1, 15, 0), None),
    key("tlsMinVersion", Leaf, v(1, 15, 0), None),
    key("clientCAFile", Leaf, v(1, 15, 0), None),
    key("legacyCRDMirroring", Leaf, v(1, 15, 0), Some(v(2, 0, 0))),
    key("kubeAPIServerOverride", Leaf, v(1, 15, 0), None),
    key(
        "nodeIPAM",
        Struct("controller.NodeIPAMConfig"),
        v(1, 15, 0),
        None,
    ),
    key("nodeIPAM.enableNodeIPAM", Leaf, v(1, 15, 0), None),
    key("nodeIPAM.clusterCIDRs", Leaf, v(1, 15, 0), None),
    key("nodeIPAM.serviceCIDR", Leaf, v(1, 15, 0), None),
    key("nodeIPAM.serviceCIDRv6", Leaf, v(1, 15, 0), None),
    key("nodeIPAM.nodeCIDRMaskSizeIPv4", Leaf, v(1, 15, 0), None),
    key("nodeIPAM.nodeCIDRMaskSizeIPv6", Leaf, v(1, 15, 0), None),
    key(
        "ipsecCSRSigner",
        Struct("controller.IPsecCSRSignerConfig"),
        v(1, 15, 0),
        None,
    ),
    key("ipsecCSRSigner.selfSignedCA", Leaf, v(1, 15, 0), None),
    key("ipsecCSRSigner.autoApprove", Leaf, v(1, 15, 0), None),
    key(
        "multicluster",
        Struct("controller.MulticlusterConfig"),
        v(1, 15, 0),
        None,
    ),
    key(
        "multicluster.enableStretchedNetworkPolicy",
        Leaf,
        v(1, 15, 0),
        None,
    ),
    key("multicluster.namespace", Leaf, v(1, 15, 0), None),
];
