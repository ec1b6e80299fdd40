//! Which br-int tables exist for a node and their ids, assigned as
//! Antrea's `generatePipelines` assigns them (pkg/agent/openflow/client.go,
//! v1.15.1): every activated feature names the tables it needs
//! (`getRequiredTables`, framework.go); pipelines are realized in id order
//! (root, ARP, IP), each keeping the tables it needs in declaration order
//! (pipeline.go), and ids count up from 0 across them (`NextTableID`).
//! A table's miss action is `drop` when it is declared `defaultDrop` or is
//! the last of its pipeline, else "go to the next table" (`realizePipelines`).

use super::spec::PipelineSpec;

/// Stages (framework.go), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Start,
    Classifier,
    Validation,
    ConntrackState,
    PreRouting,
    EgressSecurity,
    Routing,
    PostRouting,
    Switching,
    IngressSecurity,
    Conntrack,
    Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pipe {
    Root,
    Arp,
    Ip,
    /// Non-IP packets on an external Node (`pipelineNonIP`).
    NonIp,
}

/// Every table antlab can realize, in pipeline.go's declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum T {
    PipelineRootClassifier,
    ArpSpoofGuard,
    ArpResponder,
    Classifier,
    SpoofGuard,
    UnSnat,
    ConntrackZone,
    ConntrackState,
    PreRoutingClassifier,
    NodePortMark,
    SessionAffinity,
    ServiceLb,
    DsrServiceMark,
    EndpointDnat,
    Dnat,
    EgressSecurityClassifier,
    AntreaPolicyEgressRule,
    EgressRule,
    EgressDefaultRule,
    EgressMetric,
    L3Forwarding,
    EgressMark,
    L3DecTtl,
    SnatMark,
    Snat,
    L2ForwardingCalc,
    TrafficControl,
    IngressSecurityClassifier,
    AntreaPolicyIngressRule,
    IngressRule,
    IngressDefaultRule,
    IngressMetric,
    ConntrackCommit,
    Output,
    NonIp,
}

const ALL: [T; 35] = [
    T::PipelineRootClassifier,
    T::ArpSpoofGuard,
    T::ArpResponder,
    T::Classifier,
    T::SpoofGuard,
    T::UnSnat,
    T::ConntrackZone,
    T::ConntrackState,
    T::PreRoutingClassifier,
    T::NodePortMark,
    T::SessionAffinity,
    T::ServiceLb,
    T::DsrServiceMark,
    T::EndpointDnat,
    T::Dnat,
    T::EgressSecurityClassifier,
    T::AntreaPolicyEgressRule,
    T::EgressRule,
    T::EgressDefaultRule,
    T::EgressMetric,
    T::L3Forwarding,
    T::EgressMark,
    T::L3DecTtl,
    T::SnatMark,
    T::Snat,
    T::L2ForwardingCalc,
    T::TrafficControl,
    T::IngressSecurityClassifier,
    T::AntreaPolicyIngressRule,
    T::IngressRule,
    T::IngressDefaultRule,
    T::IngressMetric,
    T::ConntrackCommit,
    T::Output,
    T::NonIp,
];

impl T {
    /// The name Antrea gives the table (`newTable`, pipeline.go).
    pub(crate) fn name(self) -> &'static str {
        match self {
            T::PipelineRootClassifier => "PipelineRootClassifier",
            T::ArpSpoofGuard => "ARPSpoofGuard",
            T::ArpResponder => "ARPResponder",
            T::Classifier => "Classifier",
            T::SpoofGuard => "SpoofGuard",
            T::UnSnat => "UnSNAT",
            T::ConntrackZone => "ConntrackZone",
            T::ConntrackState => "ConntrackState",
            T::PreRoutingClassifier => "PreRoutingClassifier",
            T::NodePortMark => "NodePortMark",
            T::SessionAffinity => "SessionAffinity",
            T::ServiceLb => "ServiceLB",
            T::DsrServiceMark => "DSRServiceMark",
            T::EndpointDnat => "EndpointDNAT",
            T::Dnat => "DNAT",
            T::EgressSecurityClassifier => "EgressSecurityClassifier",
            T::AntreaPolicyEgressRule => "AntreaPolicyEgressRule",
            T::EgressRule => "EgressRule",
            T::EgressDefaultRule => "EgressDefaultRule",
            T::EgressMetric => "EgressMetric",
            T::L3Forwarding => "L3Forwarding",
            T::EgressMark => "EgressMark",
            T::L3DecTtl => "L3DecTTL",
            T::SnatMark => "SNATMark",
            T::Snat => "SNAT",
            T::L2ForwardingCalc => "L2ForwardingCalc",
            T::TrafficControl => "TrafficControl",
            T::IngressSecurityClassifier => "IngressSecurityClassifier",
            T::AntreaPolicyIngressRule => "AntreaPolicyIngressRule",
            T::IngressRule => "IngressRule",
            T::IngressDefaultRule => "IngressDefaultRule",
            T::IngressMetric => "IngressMetric",
            T::ConntrackCommit => "ConntrackCommit",
            T::Output => "Output",
            T::NonIp => "NonIP",
        }
    }

    fn stage(self) -> Stage {
        match self {
            T::PipelineRootClassifier => Stage::Start,
            T::ArpSpoofGuard | T::SpoofGuard => Stage::Validation,
            T::ArpResponder | T::Output => Stage::Output,
            T::Classifier | T::NonIp => Stage::Classifier,
            T::UnSnat | T::ConntrackZone | T::ConntrackState => Stage::ConntrackState,
            T::PreRoutingClassifier
            | T::NodePortMark
            | T::SessionAffinity
            | T::ServiceLb
            | T::DsrServiceMark
            | T::EndpointDnat
            | T::Dnat => Stage::PreRouting,
            T::EgressSecurityClassifier
            | T::AntreaPolicyEgressRule
            | T::EgressRule
            | T::EgressDefaultRule
            | T::EgressMetric => Stage::EgressSecurity,
            T::L3Forwarding | T::EgressMark | T::L3DecTtl => Stage::Routing,
            T::SnatMark | T::Snat => Stage::PostRouting,
            T::L2ForwardingCalc | T::TrafficControl => Stage::Switching,
            T::IngressSecurityClassifier
            | T::AntreaPolicyIngressRule
            | T::IngressRule
            | T::IngressDefaultRule
            | T::IngressMetric => Stage::IngressSecurity,
            T::ConntrackCommit => Stage::Conntrack,
        }
    }

    fn pipe(self) -> Pipe {
        match self {
            T::PipelineRootClassifier => Pipe::Root,
            T::ArpSpoofGuard | T::ArpResponder => Pipe::Arp,
            T::NonIp => Pipe::NonIp,
            _ => Pipe::Ip,
        }
    }

    /// Declared with `defaultDrop`.
    fn default_drop(self) -> bool {
        matches!(
            self,
            T::PipelineRootClassifier | T::ArpSpoofGuard | T::Classifier | T::SpoofGuard | T::NonIp
        )
    }
}

/// The miss action of a realized table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    Drop,
    Next(T),
}

/// The realized tables of one node: ids, next tables, stage entries.
/// featureNetworkPolicy's tables on either kind of Node (an external
/// Node adds EgressSecurityClassifier).
const NETWORK_POLICY_TABLES: [T; 7] = [
    T::EgressRule,
    T::EgressDefaultRule,
    T::EgressMetric,
    T::IngressSecurityClassifier,
    T::IngressRule,
    T::IngressDefaultRule,
    T::IngressMetric,
];

/// The Antrea-native policy tables, with the AntreaPolicy feature gate.
const ANTREA_POLICY_TABLES: [T; 2] = [T::AntreaPolicyEgressRule, T::AntreaPolicyIngressRule];

#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Realized tables in id order (the index is the id).
    order: Vec<T>,
    /// Id of each table by its `T` discriminant; None = not realized.
    ids: [Option<u8>; ALL.len()],
}

impl Layout {
    pub(crate) fn new(spec: &PipelineSpec) -> Layout {
        let f = spec.features();
        let mut need = [false; ALL.len()];
        let mut want = |ts: &[T]| {
            for t in ts {
                need[*t as usize] = true;
            }
        };
        want(&[T::PipelineRootClassifier]);
        if spec.is_external_node() {
            // featureExternalNodeConnectivity, then featureNetworkPolicy on
            // an external Node (with EgressSecurityClassifier); no Service,
            // Egress or Pod tables (client.go generatePipelines).
            want(&[
                T::ConntrackZone,
                T::ConntrackState,
                T::L2ForwardingCalc,
                T::ConntrackCommit,
                T::Output,
                T::NonIp,
                T::EgressSecurityClassifier,
            ]);
            want(&NETWORK_POLICY_TABLES);
            if f.antrea_policy {
                want(&ANTREA_POLICY_TABLES);
            }
            return Self::realize(need);
        }
        // featurePodConnectivity (IPv4; no Multicast, uplink).
        want(&[
            T::Classifier,
            T::SpoofGuard,
            T::ConntrackZone,
            T::ConntrackState,
            T::L3Forwarding,
            T::L3DecTtl,
            T::L2ForwardingCalc,
            T::ConntrackCommit,
            T::Output,
            T::ArpSpoofGuard,
            T::ArpResponder,
        ]);
        if f.traffic_control {
            want(&[T::TrafficControl]);
        }
        // featureService.
        if f.antrea_proxy {
            want(&[
                T::UnSnat,
                T::PreRoutingClassifier,
                T::SessionAffinity,
                T::ServiceLb,
                T::EndpointDnat,
                T::L3Forwarding,
                T::SnatMark,
                T::Snat,
                T::ConntrackCommit,
                T::Output,
            ]);
            if f.proxy_all {
                want(&[T::NodePortMark]);
            }
            if f.dsr {
                want(&[T::DsrServiceMark]);
            }
        } else {
            want(&[T::Dnat]);
        }
        // featureNetworkPolicy (K8s Node).
        want(&NETWORK_POLICY_TABLES);
        if f.antrea_policy {
            want(&ANTREA_POLICY_TABLES);
        }
        // featureEgress.
        if f.egress {
            want(&[T::L3Forwarding, T::EgressMark]);
        }
        Self::realize(need)
    }

    /// Ids for the `need`ed tables: pipelines in id order, each its tables
    /// in declaration order, counting up from 0.
    fn realize(need: [bool; ALL.len()]) -> Layout {
        let mut order = Vec::new();
        let mut ids = [None; ALL.len()];
        for pipe in [Pipe::Root, Pipe::Arp, Pipe::Ip, Pipe::NonIp] {
            for t in ALL
                .iter()
                .filter(|t| t.pipe() == pipe && need[**t as usize])
            {
                ids[*t as usize] = Some(order.len() as u8);
                order.push(*t);
            }
        }
        Layout { order, ids }
    }

    /// `(id, name)` of every realized table, in id order.
    pub(crate) fn list(&self) -> Vec<(u8, &'static str)> {
        self.order
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u8, t.name()))
            .collect()
    }

    pub(crate) fn tables(&self) -> &[T] {
        &self.order
    }

    /// The table's id; flows are only built for realized tables.
    pub(crate) fn id(&self, t: T) -> u8 {
        self.ids[t as usize].expect("flow for a table the pipeline does not realize")
    }

    /// The next table in the same pipeline (`GetNext`), None for the last.
    pub(crate) fn next(&self, t: T) -> Option<T> {
        let i = self.id(t) as usize;
        self.order
            .get(i + 1)
            .copied()
            .filter(|n| n.pipe() == t.pipe())
    }

    /// `GotoStage`: the first realized IP-pipeline table of `stage`.
    pub(crate) fn stage(&self, stage: Stage) -> T {
        *self
            .order
            .iter()
            .find(|t| t.pipe() == Pipe::Ip && t.stage() == stage)
            .expect("every stage used has a table")
    }

    /// The first table of the ARP, IP and non-IP pipelines (None: the
    /// pipeline has no table, so it is not realized).
    pub(crate) fn first_arp(&self) -> Option<T> {
        self.first_of(Pipe::Arp)
    }
    pub(crate) fn first_ip(&self) -> Option<T> {
        self.first_of(Pipe::Ip)
    }
    pub(crate) fn first_non_ip(&self) -> Option<T> {
        self.first_of(Pipe::NonIp)
    }
    fn first_of(&self, pipe: Pipe) -> Option<T> {
        self.order.iter().copied().find(|t| t.pipe() == pipe)
    }

    pub(crate) fn miss(&self, t: T) -> Miss {
        match self.next(t) {
            Some(n) if !t.default_drop() => Miss::Next(n),
            _ => Miss::Drop,
        }
    }
}

/// The tables realized on the node `spec` describes, `(id, name)` in
/// pipeline order.
pub fn tables(spec: &PipelineSpec) -> Vec<(u8, &'static str)> {
    Layout::new(spec).list()
}
