//! Antrea's TrafficControl controller (pkg/agent/controller/trafficcontrol,
//! v1.15): which OVS ports every agent adds to br-int for the
//! TrafficControls applied, and which local Pods' packets each one marks.
//!
//! What the agent does, and antlab with it:
//! - Every agent runs the controller (gate `TrafficControl`) and makes each
//!   TrafficControl's target port, and its return port, on its own br-int,
//!   whether or not one of its Pods is selected. A port used by several
//!   TrafficControls is made once and removed with its last user
//!   (`portToTCBindings`).
//! - A Pod selected by several TrafficControls has one effective
//!   TrafficControl, the one that bound it first (`bindPodToTrafficControl`);
//!   antlab binds in apply order, so the effective one is the earliest
//!   applied that selects the Pod, and when it goes or stops selecting the
//!   Pod the next one takes over (`podsResync`).
//! - Pods are selected as Egress selects them: both selectors, a nil
//!   selector meaning all, an empty appliedTo nothing (`filterPods`).
//!
//! Port numbers: OVS gives a new port the lowest free ofport. antlab gives
//! a TrafficControl port the lowest ofport from [`FIRST_TC_OFPORT`] no
//! other TrafficControl port holds, the same on every node, so that adding
//! a Pod never renumbers them (README, Known differences).
//!
//! Where antlab is simpler than the agent (README, Known differences):
//! the effective TrafficControl of a Pod is recomputed at every sync as the
//! earliest applied one that selects it, where Antrea keeps the binding of
//! the one that bound the Pod first until it stops selecting it; and ports
//! always follow the TrafficControls applied (a return port gets its
//! classifier flow whenever it is one), where the agent's controller can
//! leave an old return port behind on update.

use indexmap::IndexMap;

use crate::engine::ClusterState;
use crate::engine::ids::NodeId;
use crate::k8s::{TcAction, TcDirection, TcPort, TrafficControl};

/// The first ofport antlab gives a TrafficControl port.
pub const FIRST_TC_OFPORT: u32 = 60000;

/// br-int ports the agent makes itself (`antrea-tun0`, `antrea-gw0`).
const RESERVED_PORTS: &[&str] = &["antrea-tun0", "antrea-gw0"];

/// The TrafficControls applied, in apply order, and the ports they use.
#[derive(Clone, Debug, Default)]
pub struct TrafficControls {
    by_name: IndexMap<String, TrafficControl>,
    /// Port name → (ofport, the port); kept while a TrafficControl uses it.
    ports: IndexMap<String, (u32, TcPort)>,
}

/// One br-int port a TrafficControl made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcPortPlan {
    pub ofport: u32,
    pub name: String,
    pub port: TcPort,
    /// Some TrafficControl sends packets back through it.
    pub is_return: bool,
}

impl TcPortPlan {
    /// The same OVS port: ofport, name and kind with its options (whether
    /// some TrafficControl returns by it only changes flows).
    pub fn same_port(&self, other: &TcPortPlan) -> bool {
        self.ofport == other.ofport && self.name == other.name && self.port == other.port
    }
}

/// One TrafficControl's marks on a node (`InstallTrafficControlMarkFlows`):
/// the local Pods it is effective for, by ofport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcMarks {
    pub name: String,
    pub pod_ofports: Vec<u32>,
    pub target_ofport: u32,
    pub direction: TcDirection,
    pub action: TcAction,
}

/// What a node's br-int holds for TrafficControl.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeTrafficControl {
    pub ports: Vec<TcPortPlan>,
    pub marks: Vec<TcMarks>,
}

impl TrafficControls {
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TrafficControl> {
        self.by_name.values()
    }

    pub fn get(&self, name: &str) -> Option<&TrafficControl> {
        self.by_name.get(name)
    }

    /// Creates or updates a TrafficControl; returns what the agents log
    /// (the first line says what changed, the rest which ports were made
    /// or removed). An update keeps its place in the binding order. A port
    /// named as one of Antrea's own (`antrea-gw0`, `antrea-tun0`) is
    /// refused: the agent would take that port over as the target.
    pub fn apply(&mut self, tc: &TrafficControl) -> Result<Vec<String>, String> {
        for p in std::iter::once(&tc.target).chain(&tc.return_port) {
            let name = p.port_name();
            if RESERVED_PORTS.contains(&name.as_str()) {
                return Err(format!(
                    "TrafficControl {}: port {name} is Antrea's own br-int port; antlab does not reuse it as a TrafficControl port",
                    tc.meta.name
                ));
            }
        }
        let name = tc.meta.name.clone();
        let verb = if self.by_name.contains_key(&name) {
            "updated"
        } else {
            "created"
        };
        self.by_name.insert(name.clone(), tc.clone());
        let mut lines = vec![format!(
            "TrafficControl {name} {verb}: {:?} {:?} to {} port {}",
            tc.action,
            tc.direction,
            tc.target.kind(),
            tc.target.port_name()
        )];
        lines.extend(self.sync_ports());
        Ok(lines)
    }

    /// Deletes one; false when there was none of that name.
    pub fn delete(&mut self, name: &str) -> Option<Vec<String>> {
        self.by_name.shift_remove(name)?;
        let mut lines = vec![format!("TrafficControl {name} deleted")];
        lines.extend(self.sync_ports());
        Some(lines)
    }

    /// Adds the ports a TrafficControl now uses and removes those none
    /// uses; says which.
    fn sync_ports(&mut self) -> Vec<String> {
        let mut wanted: IndexMap<String, TcPort> = IndexMap::new();
        for tc in self.by_name.values() {
            for p in std::iter::once(&tc.target).chain(&tc.return_port) {
                wanted.entry(p.port_name()).or_insert_with(|| p.clone());
            }
        }
        let mut lines = Vec::new();
        let gone: Vec<String> = self
            .ports
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for n in gone {
            self.ports.shift_remove(&n);
            lines.push(format!("OVS port {n} removed from br-int on every Node"));
        }
        for (n, p) in wanted {
            if self.ports.contains_key(&n) {
                continue;
            }
            let ofport = (FIRST_TC_OFPORT..)
                .find(|o| !self.ports.values().any(|(used, _)| used == o))
                .expect("ofports left");
            lines.push(format!(
                "OVS port {n} ({}) added to br-int on every Node, ofport {ofport}",
                p.kind()
            ));
            self.ports.insert(n, (ofport, p));
        }
        lines
    }

    fn ofport(&self, port: &TcPort) -> u32 {
        self.ports[&port.port_name()].0
    }
}

/// Every node's TrafficControl ports, `(name, ofport)` in ofport order.
pub fn node_ports(cluster: &ClusterState) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = cluster
        .traffic_controls
        .ports
        .iter()
        .map(|(n, (o, _))| (n.clone(), *o))
        .collect();
    v.sort_by_key(|p| p.1);
    v
}

/// Node `node`'s TrafficControl ports and marks; `ofport_of` gives a local
/// Pod's ofport. `None` when the gate is off or nothing is applied.
pub fn node_plan(
    cluster: &ClusterState,
    node: NodeId,
    ofport_of: impl Fn(crate::engine::ids::PodId) -> Option<u32>,
) -> Option<NodeTrafficControl> {
    let tcs = &cluster.traffic_controls;
    if tcs.is_empty() || !cluster.settings.agent_gate("TrafficControl") {
        return None;
    }
    let returns: Vec<String> = tcs
        .iter()
        .filter_map(|t| t.return_port.as_ref().map(TcPort::port_name))
        .collect();
    let ports = tcs
        .ports
        .iter()
        .map(|(name, (ofport, port))| TcPortPlan {
            ofport: *ofport,
            name: name.clone(),
            port: port.clone(),
            is_return: returns.contains(name),
        })
        .collect();
    let mut bound = std::collections::BTreeSet::new();
    let mut marks = Vec::new();
    for tc in tcs.iter() {
        let mut pod_ofports: Vec<u32> =
            crate::engine::egress::pods_applied_to(cluster, &tc.applied_to)
                .into_iter()
                .filter(|id| cluster.pod(*id).node == node)
                .filter(|id| bound.insert(*id))
                .filter_map(&ofport_of)
                .collect();
        pod_ofports.sort_unstable();
        marks.push(TcMarks {
            name: tc.meta.name.clone(),
            pod_ofports,
            target_ofport: tcs.ofport(&tc.target),
            direction: tc.direction,
            action: tc.action,
        });
    }
    Some(NodeTrafficControl { ports, marks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::{ObjectMeta, TcPort};

    fn tc(name: &str, target: &str, ret: Option<&str>) -> TrafficControl {
        TrafficControl {
            meta: ObjectMeta::named(name),
            applied_to: Default::default(),
            direction: TcDirection::Both,
            action: if ret.is_some() {
                TcAction::Redirect
            } else {
                TcAction::Mirror
            },
            target: TcPort::OvsInternal(target.into()),
            return_port: ret.map(|r| TcPort::OvsInternal(r.into())),
        }
    }

    fn ports(t: &TrafficControls) -> Vec<(String, u32)> {
        t.ports.iter().map(|(n, (o, _))| (n.clone(), *o)).collect()
    }

    #[test]
    fn shared_ports_are_made_once_and_go_with_their_last_user() {
        let mut t = TrafficControls::default();
        t.apply(&tc("a", "tap0", Some("tap1"))).unwrap();
        t.apply(&tc("b", "tap0", None)).unwrap();
        assert_eq!(
            ports(&t),
            [("tap0".to_string(), 60000), ("tap1".to_string(), 60001)]
        );
        // tap0 is still b's; tap1 was only a's.
        let lines = t.delete("a").unwrap();
        assert_eq!(ports(&t), [("tap0".to_string(), 60000)]);
        assert!(
            lines.iter().any(|l| l.contains("tap1 removed")),
            "{lines:?}"
        );
        // The freed number is the lowest free one again.
        t.apply(&tc("c", "tap2", None)).unwrap();
        assert_eq!(
            ports(&t),
            [("tap0".to_string(), 60000), ("tap2".to_string(), 60001)]
        );
        assert!(t.delete("a").is_none());
        t.delete("b").unwrap();
        t.delete("c").unwrap();
        assert!(ports(&t).is_empty() && t.is_empty());
    }

    #[test]
    fn an_update_keeps_its_place_and_moves_its_port() {
        let mut t = TrafficControls::default();
        t.apply(&tc("a", "tap0", None)).unwrap();
        t.apply(&tc("b", "tap5", None)).unwrap();
        let lines = t.apply(&tc("a", "tap9", None)).unwrap();
        assert!(lines[0].contains("TrafficControl a updated"), "{lines:?}");
        let order: Vec<&str> = t.iter().map(|c| c.meta.name.as_str()).collect();
        assert_eq!(order, ["a", "b"]);
        assert_eq!(
            ports(&t),
            [("tap5".to_string(), 60001), ("tap9".to_string(), 60000)]
        );
    }

    #[test]
    fn antreas_own_ports_are_refused() {
        let mut t = TrafficControls::default();
        let e = t.apply(&tc("a", "antrea-gw0", None)).unwrap_err();
        assert!(e.contains("antrea-gw0 is Antrea's own br-int port"), "{e}");
        assert!(t.is_empty());
    }
}
