//! Antrea's feature gates per release (`pkg/features/antrea_features.go` at
//! each tag): name, default, stage, whether the default is locked, which
//! component reads it (`AgentGates` / `ControllerGates`) and whether a
//! Windows agent supports it (`unsupportedFeaturesOnWindows`).
//!
//! The table is a history: one row per gate with the releases where its spec
//! changed. `sim-core/examples/antrea_source.rs` (a maintenance check run by hand) diffs it against the Go source
//! of every tag when Antrea's repository is at hand.

use super::version::*;

/// A gate's maturity, as antctl prints it (`features.GetVersion`: the
/// `PreRelease` string, `GA` when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Alpha,
    Beta,
    Ga,
    Deprecated,
}

impl Stage {
    pub fn word(self) -> &'static str {
        match self {
            Stage::Alpha => "ALPHA",
            Stage::Beta => "BETA",
            Stage::Ga => "GA",
            Stage::Deprecated => "DEPRECATED",
        }
    }
}

/// A gate as one release defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    pub name: &'static str,
    pub default: bool,
    pub stage: Stage,
    /// `LockToDefault`: setting it to the other value is refused.
    pub locked: bool,
    /// In `AgentGates`.
    pub agent: bool,
    /// In `ControllerGates`.
    pub controller: bool,
    /// An agent gate a Windows agent supports.
    pub windows: bool,
}

#[derive(Clone, Copy)]
struct Spec {
    default: bool,
    stage: Stage,
    locked: bool,
    windows: bool,
}

/// One gate's history: from each listed release on, its spec (None: removed).
struct History {
    name: &'static str,
    agent: bool,
    controller: bool,
    changes: &'static [(AntreaVersion, Option<Spec>)],
}

const fn s(default: bool, stage: Stage, windows: bool) -> Option<Spec> {
    Some(Spec {
        default,
        stage,
        locked: false,
        windows,
    })
}

const fn locked(default: bool, stage: Stage, windows: bool) -> Option<Spec> {
    Some(Spec {
        default,
        stage,
        locked: true,
        windows,
    })
}

const A: (bool, bool) = (true, false);
const C: (bool, bool) = (false, true);
const AC: (bool, bool) = (true, true);

const fn h(
    name: &'static str,
    comp: (bool, bool),
    changes: &'static [(AntreaVersion, Option<Spec>)],
) -> History {
    History {
        name,
        agent: comp.0,
        controller: comp.1,
        changes,
    }
}

use Stage::*;
const W: bool = true; // supported on Windows
const L: bool = false; // Linux only

static HISTORY: &[History] = &[
    h(
        "AdminNetworkPolicy",
        C,
        &[
            (V1_15_0, s(false, Alpha, L)),
            (V2_7_0, s(false, Deprecated, L)),
        ],
    ),
    h("AntreaIPAM", AC, &[(V1_15_0, s(false, Alpha, L))]),
    h("AntreaNodeConfig", A, &[(V2_7_0, s(true, Beta, L))]),
    h("AntreaPolicy", AC, &[(V1_15_0, s(true, Beta, W))]),
    h("AntreaProxy", A, &[(V1_15_0, s(true, Ga, W))]),
    h("BGPPolicy", A, &[(V2_1_0, s(false, Alpha, L))]),
    h(
        "CleanupStaleUDPSvcConntrack",
        A,
        &[(V1_15_0, s(false, Alpha, L)), (V2_1_0, s(true, Beta, L))],
    ),
    h("ClusterNetworkPolicy", C, &[(V2_7_0, s(false, Alpha, L))]),
    h("Egress", AC, &[(V1_15_0, s(true, Beta, L))]),
    h(
        "EgressSeparateSubnet",
        A,
        &[(V1_15_0, s(false, Alpha, L)), (V2_3_0, s(true, Beta, L))],
    ),
    h("EgressTrafficShaping", A, &[(V1_15_0, s(false, Alpha, L))]),
    h(
        "EndpointSlice",
        A,
        &[(V1_15_0, s(true, Ga, W)), (V2_5_0, locked(true, Ga, W))],
    ),
    h("ExternalNode", A, &[(V1_15_0, s(false, Alpha, W))]),
    h(
        "FlowExporter",
        A,
        &[(V1_15_0, s(false, Alpha, W)), (V2_5_0, s(false, Alpha, L))],
    ),
    h("IPsecCertAuth", AC, &[(V1_15_0, s(false, Alpha, L))]),
    h(
        "L7FlowExporter",
        A,
        &[
            (V1_15_0, s(false, Alpha, L)),
            (V2_5_0, s(false, Deprecated, L)),
            (V2_6_0, None),
        ],
    ),
    h("L7NetworkPolicy", AC, &[(V1_15_0, s(false, Alpha, L))]),
    h("LoadBalancerModeDSR", A, &[(V1_15_0, s(false, Alpha, L))]),
    h("Multicast", AC, &[(V1_15_0, s(true, Beta, L))]),
    h("Multicluster", AC, &[(V1_15_0, s(false, Alpha, L))]),
    h(
        "NFTablesHostNetworkMode",
        A,
        &[(V2_5_0, s(false, Alpha, L))],
    ),
    h("NetworkPolicyStats", AC, &[(V1_15_0, s(true, Beta, W))]),
    h("NodeIPAM", C, &[(V1_15_0, s(true, Beta, L))]),
    h("NodeLatencyMonitor", A, &[(V2_1_0, s(false, Alpha, L))]),
    h("NodeNetworkPolicy", A, &[(V1_15_0, s(false, Alpha, L))]),
    h("NodePortLocal", A, &[(V1_15_0, s(true, Ga, W))]),
    h("PacketCapture", A, &[(V2_2_0, s(false, Alpha, L))]),
    h(
        "PreferSameTrafficDistribution",
        A,
        &[(V2_5_0, s(false, Alpha, W))],
    ),
    h("SecondaryNetwork", A, &[(V1_15_0, s(false, Alpha, L))]),
    h(
        "ServiceExternalIP",
        AC,
        &[(V1_15_0, s(false, Alpha, L)), (V2_3_0, s(true, Beta, L))],
    ),
    h(
        "ServiceTrafficDistribution",
        A,
        &[
            (V2_2_0, s(true, Beta, W)),
            (V2_5_0, s(true, Ga, W)),
            (V2_5_1, locked(true, Ga, W)),
        ],
    ),
    h(
        "SupportBundleCollection",
        AC,
        &[(V1_15_0, s(false, Alpha, W))],
    ),
    h(
        "TopologyAwareHints",
        A,
        &[
            (V1_15_0, s(true, Beta, W)),
            (V2_5_0, s(true, Ga, W)),
            (V2_5_1, locked(true, Ga, W)),
        ],
    ),
    h("Traceflow", AC, &[(V1_15_0, s(true, Beta, W))]),
    h("TrafficControl", A, &[(V1_15_0, s(false, Alpha, W))]),
];

impl History {
    fn at(&self, version: AntreaVersion) -> Option<Gate> {
        let spec = self
            .changes
            .iter()
            .take_while(|(since, _)| *since <= version)
            .last()?
            .1?;
        Some(Gate {
            name: self.name,
            default: spec.default,
            stage: spec.stage,
            locked: spec.locked,
            agent: self.agent,
            controller: self.controller,
            windows: self.agent && spec.windows,
        })
    }
}

/// Every gate `version` defines (`DefaultAntreaFeatureGates`), sorted by name.
pub fn gates(version: AntreaVersion) -> Vec<Gate> {
    let mut out: Vec<Gate> = HISTORY.iter().filter_map(|h| h.at(version)).collect();
    out.sort_by(|a, b| a.name.cmp(b.name));
    out
}

/// The gate called `name` in `version`.
pub fn gate(version: AntreaVersion, name: &str) -> Option<Gate> {
    HISTORY
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| h.at(version))
}

/// Why `name` is not a gate of `version`, for the error message: the release
/// that added it, or the one that removed it, when there is one.
fn absence(version: AntreaVersion, name: &str) -> String {
    let Some(h) = HISTORY.iter().find(|h| h.name == name) else {
        return format!("Antrea {version} has no such gate");
    };
    let first = h.changes[0].0;
    if version < first {
        return format!("Antrea {version} has no such gate; it was added in {first}");
    }
    match h.changes.iter().find(|(_, spec)| spec.is_none()) {
        Some((gone, _)) => {
            format!("Antrea {version} has no such gate; it was removed in {gone}")
        }
        None => format!("Antrea {version} has no such gate"),
    }
}

/// What `FeatureGate.SetFromMap` refuses (k8s.io/component-base
/// `featuregate`): a name the release does not define, or a locked gate set
/// to the other value. Every Antrea binary registers every Antrea gate, so an
/// agent accepts a controller-only gate (and ignores it).
pub fn check_setting(version: AntreaVersion, name: &str, value: bool) -> Result<(), String> {
    let Some(g) = gate(version, name) else {
        return Err(format!(
            "unrecognized feature gate: {name} ({})",
            absence(version, name)
        ));
    };
    if g.locked && value != g.default {
        return Err(format!(
            "cannot set feature gate {name} to {value}, feature is locked to {}",
            g.default
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: AntreaVersion, pick: impl Fn(&Gate) -> bool) -> Vec<&'static str> {
        gates(v).into_iter().filter(pick).map(|g| g.name).collect()
    }

    #[test]
    fn v1_15_agent_and_controller_gates_are_the_blogs() {
        // The blog's two `antctl get featuregates` tables (Antrea v1.15.1).
        assert_eq!(
            names(V1_15_1, |g| g.agent),
            [
                "AntreaIPAM",
                "AntreaPolicy",
                "AntreaProxy",
                "CleanupStaleUDPSvcConntrack",
                "Egress",
                "EgressSeparateSubnet",
                "EgressTrafficShaping",
                "EndpointSlice",
                "ExternalNode",
                "FlowExporter",
                "IPsecCertAuth",
                "L7FlowExporter",
                "L7NetworkPolicy",
                "LoadBalancerModeDSR",
                "Multicast",
                "Multicluster",
                "NetworkPolicyStats",
                "NodeNetworkPolicy",
                "NodePortLocal",
                "SecondaryNetwork",
                "ServiceExternalIP",
                "SupportBundleCollection",
                "TopologyAwareHints",
                "Traceflow",
                "TrafficControl",
            ]
        );
        assert_eq!(
            names(V1_15_1, |g| g.controller),
            [
                "AdminNetworkPolicy",
                "AntreaIPAM",
                "AntreaPolicy",
                "Egress",
                "IPsecCertAuth",
                "L7NetworkPolicy",
                "Multicast",
                "Multicluster",
                "NetworkPolicyStats",
                "NodeIPAM",
                "ServiceExternalIP",
                "SupportBundleCollection",
                "Traceflow",
            ]
        );
    }

    #[test]
    fn v2_3_promotes_service_external_ip_and_egress_separate_subnet() {
        for name in ["ServiceExternalIP", "EgressSeparateSubnet"] {
            let before = gate("v2.2.2".parse().unwrap(), name).unwrap();
            let after = gate(V2_3_0, name).unwrap();
            assert_eq!((before.default, before.stage), (false, Alpha), "{name}");
            assert_eq!((after.default, after.stage), (true, Beta), "{name}");
        }
    }

    #[test]
    fn unknown_removed_and_locked_gates_are_refused_with_the_version() {
        assert_eq!(
            check_setting(V1_15_1, "BGPPolicy", true).unwrap_err(),
            "unrecognized feature gate: BGPPolicy (Antrea v1.15.1 has no such gate; it was added in v2.1.0)"
        );
        assert!(check_setting(V2_1_0, "BGPPolicy", true).is_ok());
        assert_eq!(
            check_setting(V2_6_0, "L7FlowExporter", true).unwrap_err(),
            "unrecognized feature gate: L7FlowExporter (Antrea v2.6.0 has no such gate; it was removed in v2.6.0)"
        );
        assert_eq!(
            check_setting(V1_15_1, "Egres", true).unwrap_err(),
            "unrecognized feature gate: Egres (Antrea v1.15.1 has no such gate)"
        );
        assert_eq!(
            check_setting(V2_5_1, "TopologyAwareHints", false).unwrap_err(),
            "cannot set feature gate TopologyAwareHints to false, feature is locked to true"
        );
        // v2.5.0 had it GA but not yet locked.
        assert!(check_setting(V2_5_0, "TopologyAwareHints", false).is_ok());
        // Agents register every gate, controller-only ones included.
        assert!(check_setting(V1_15_1, "NodeIPAM", true).is_ok());
    }
}
