//! Static Egress: `spec.egressIP` without `spec.externalIPPool`, an IP the
//! user configured on a node's interface by hand.
//!
//! Antrea calls such an Egress not schedulable (`isEgressSchedulable`,
//! `pkg/agent/controller/egress/egress_controller.go`, same in v1.15.0 and
//! v2.7.0) and leaves its IP alone. In every agent's `syncEgress` the
//! desired IP is `spec.egressIP` and there is no desired node, so:
//! - no agent assigns the IP to a device or announces it: `AssignIP` (and
//!   with it the gratuitous ARP) runs only for the node the scheduler chose;
//!   `UnassignIP` removes only what the agent assigned itself;
//! - nothing places it: the scheduler (`egress_ip_scheduler.go`) skips it, so
//!   it counts against no `maxEgressIPsPerNode` and nothing fails it over;
//! - `realizeEgressIP` asks `localIPDetector.IsLocalIP` (every address on the
//!   node's interfaces but `kube-ipvs0`'s, `local_ip_detector_linux.go`): the
//!   agent of a node that has the IP gives it a mark, installs the SNAT mark
//!   flows and the `SNAT --to <egressIP>` rule; its traffic uses the main
//!   routing table (`installPolicyRoute` does nothing without subnetInfo);
//! - every other agent installs the selected Pods' flows with mark 0, which
//!   tunnel their packets to the Egress IP itself (`snatRuleFlow`,
//!   `pkg/agent/openflow/pipeline.go`, `SetTunnelDst(snatIP)`): whichever node
//!   has the IP receives them; if none does, they are lost. They are not
//!   masqueraded to the Pod's own node IP;
//! - status (`updateEgressStatus`): only an agent whose node has the IP
//!   writes, `{egressNode: itself, egressIP}` without the `IPAssigned`
//!   condition (that one is for schedulable Egresses); any other agent "does
//!   nothing". So nobody ever clears it: when the node powers off,
//!   `kubectl get egress` keeps naming it. The controller writes no
//!   `IPAllocated` condition either (`updateEgressAllocatedCondition`,
//!   `pkg/controller/egress/controller.go`, pool Egresses only).
//!
//! The lab routes instead of tunnelling (see [`super::egress`]): a node whose
//! Pods use a static Egress it does not have routes their traffic through the
//! same per-next-hop mark and table as for a pool Egress placed elsewhere,
//! to the node that has the IP configured, or, when no node has it, to the
//! Egress IP itself, on-link on the transport interface, where nobody
//! answers ARP.

use std::net::Ipv4Addr;

use super::{ClusterState, NodeState};
use crate::k8s;

/// Whether the Egress has no pool, so that its IP is the user's to put on a
/// node (not schedulable, in Antrea's words).
pub fn is_static(spec: &k8s::Egress) -> bool {
    spec.external_ip_pool.is_none()
}

/// `localIPDetector.IsLocalIP`: `ip` is configured on one of the node's
/// interfaces. The lab's nodes have the addresses their topology gives them;
/// addresses Antrea itself puts on `antrea-egress0` or `antrea-ext.<vlan>`
/// for a pool Egress are not counted (see the report's known differences).
pub fn is_local(node: &NodeState, ip: Ipv4Addr) -> bool {
    node.host_addrs.iter().any(|(_, a)| *a == ip)
}

/// Where a node that does not have a static Egress IP sends the selected
/// Pods' traffic (Antrea tunnels it to the IP itself).
#[derive(Clone, Copy, Debug)]
pub enum StaticTarget<'a> {
    /// The node that has the IP configured (the first in node order, should
    /// the user have put it on more than one), powered or not: a tunnel to
    /// the IP of a dead node goes nowhere, and so does this route.
    Node(&'a NodeState),
    /// No node has the IP: the traffic is sent to the IP and lost.
    Nowhere(Ipv4Addr),
}

/// [`StaticTarget`] of `ip`.
pub fn target(cluster: &ClusterState, ip: Ipv4Addr) -> StaticTarget<'_> {
    match cluster.nodes().find(|n| is_local(n, ip)) {
        Some(n) => StaticTarget::Node(n),
        None => StaticTarget::Nowhere(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, addrs: &[&str]) -> NodeState {
        let mut n = NodeState::new(
            name,
            addrs[0].parse().unwrap(),
            "10.30.64.0/24".parse().unwrap(),
            "eth0",
        );
        n.host_addrs = addrs
            .iter()
            .map(|a| ("eth0".to_string(), a.parse().unwrap()))
            .collect();
        n
    }

    #[test]
    fn the_node_with_the_address_is_the_target_powered_or_not() {
        let mut c = ClusterState::default();
        let a = c.add_node(node("a", &["10.0.0.1"]));
        let b = c.add_node(node("b", &["10.0.0.2", "10.0.0.50"]));
        let ip: Ipv4Addr = "10.0.0.50".parse().unwrap();
        assert!(!is_local(c.node(a), ip));
        assert!(is_local(c.node(b), ip));
        let name = |t: StaticTarget| match t {
            StaticTarget::Node(n) => n.name.clone(),
            StaticTarget::Nowhere(ip) => format!("nowhere {ip}"),
        };
        assert_eq!(name(target(&c, ip)), "b");
        // A tunnel to the IP of a dead node goes nowhere: no failover.
        c.set_node_up(b, false);
        assert_eq!(name(target(&c, ip)), "b");
        assert_eq!(
            name(target(&c, "10.0.0.99".parse().unwrap())),
            "nowhere 10.0.0.99"
        );
    }
}
