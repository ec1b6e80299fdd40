//! `show` steps and `antlab get`: which table each view prints.

use super::load::{Scenario, Show};
use super::outcome::Outcome;
use crate::engine::{self, ClusterState};
use crate::report;
use crate::report::iplink::IpView;
use crate::sim::World;

impl Outcome {
    /// Renders a `show` view of the final state.
    pub fn show(&self, scn: &Scenario, what: &Show) -> Result<String, String> {
        render_show(&self.world, &self.cluster, scn, what)
    }
}

/// The text of a `show` step, also used by `antlab get`.
pub fn render_show(
    world: &World,
    cluster: &ClusterState,
    scn: &Scenario,
    what: &Show,
) -> Result<String, String> {
    Ok(match what {
        Show::Nodes => format!("kubectl get nodes\n{}", report::nodes(cluster)),
        Show::Pods => format!(
            "kubectl get pods -A -o wide\n{}",
            report::pods(cluster, world)
        ),
        Show::Probes => report::probes(world),
        Show::Links => report::links(world),
        Show::Topology => crate::topology::summary(&scn.topology),
        Show::Arp(d) => report::arp(world, d)?,
        Show::Mac(d) => report::mac(world, d)?,
        Show::Routes(d) => report::routes(world, d)?,
        Show::Dataplane(node) => {
            let all = engine::compile(cluster);
            let dp = all
                .get(node)
                .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
            format!(
                "desired dataplane of {node} (engine output)\n{}",
                serde_json::to_string_pretty(&dp.expanded()).map_err(|e| e.to_string())?
            )
        }
        Show::Traceflow(Some(name)) => cluster
            .traceflows
            .get(name)
            .map(|r| r.to_yaml())
            .ok_or_else(|| format!("no Traceflow `{name}` has been applied"))?,
        Show::Traceflow(None) => {
            let mut t = String::from(
                "NAME                           PHASE       SOURCE-POD        DESTINATION\n",
            );
            for r in cluster.traceflows.values() {
                t.push_str(&format!(
                    "{:<30} {:<11} {:<17} {}\n",
                    r.name, r.phase, r.source, r.destination
                ));
            }
            t
        }
        Show::TrafficControls => traffic_controls(world, cluster),
        Show::ExternalNodes => external_nodes(cluster),
        Show::Iptables(node) => {
            let id = cluster
                .node_id(node)
                .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
            let fw = engine::policy::host::host_firewall(cluster, id);
            format!(
                "iptables-save on {node}: NodeNetworkPolicy chains ({} ingress, {} egress rules)\n{}",
                fw.ingress.len(),
                fw.egress.len(),
                fw.iptables_save()
            )
        }
        Show::Trace(p) => report::trace(
            world
                .probe(p)
                .ok_or_else(|| format!("no probe called `{p}`"))?,
        ),
        Show::Egress(None) => format!(
            "kubectl get egress\n{}",
            report::egresses(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::Egress(Some(name)) => report::egress_status(cluster, name)?,
        Show::ExternalIpPools => format!(
            "kubectl get externalippools\n{}",
            report::external_ip_pools(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::Services => format!(
            "kubectl get svc -A\n{}",
            report::services(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::ServiceExternalIps => format!(
            "antctl get serviceexternalip\n{}",
            report::service_external_ips(cluster)
        ),
        Show::Endpoints => format!("kubectl get endpoints -A\n{}", report::endpoints(cluster)),
        Show::NetworkPolicies => format!(
            "kubectl get networkpolicy -A\n{}",
            report::policy::network_policies(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::ClusterNetworkPolicies => format!(
            "kubectl get acnp\n{}",
            report::policy::antrea_policies(cluster, true, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::AntreaNetworkPolicies => format!(
            "kubectl get anp -A\n{}",
            report::policy::antrea_policies(cluster, false, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::Tiers => format!(
            "kubectl get tiers\n{}",
            report::policy::tiers(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::Memberlist(node) => report::memberlist(world, cluster, node.as_deref())?,
        Show::IpLink(node) => {
            report::iplink::ip_view(world, cluster, &scn.topology, node, IpView::Link)?
        }
        Show::IpAddr(node) => {
            report::iplink::ip_view(world, cluster, &scn.topology, node, IpView::Addr)?
        }
        Show::Conntrack(device) => report::conntrack::conntrack(world, device)?,
        Show::BgpPolicies(None) => format!(
            "kubectl get bgppolicies\n{}",
            report::bgp::policies(cluster)
        ),
        Show::BgpPolicies(Some(node)) => format!(
            "antctl get bgppolicy (agent on {node})\n{}",
            report::bgp::effective_policy(cluster, node)?
        ),
        Show::BgpRoutes(node) => format!(
            "antctl get bgproutes (agent on {node})\n{}",
            report::bgp::routes(cluster, node)?
        ),
        Show::BgpPeers(node) => format!(
            "antctl get bgppeers (agent on {node})\n{}",
            report::bgp::peers(world, cluster, node)?
        ),
        Show::BgpRouter(device) => report::bgp::router(world, device)?,
    })
}

/// `kubectl get trafficcontrols` (its printer columns, AGE left out), then
/// each node's TrafficControl ports as `ovs-ofctl dump-ports br-int` counts
/// them: the frames br-int sent to each.
fn traffic_controls(world: &World, cluster: &ClusterState) -> String {
    let mut t = String::from(
        "kubectl get trafficcontrols\nNAME                        DIRECTION   ACTION     TARGET           RETURN\n",
    );
    for tc in cluster.traffic_controls.iter() {
        let ret = tc
            .return_port
            .as_ref()
            .map_or("<none>".to_string(), |p| p.port_name());
        t.push_str(&format!(
            "{:<27} {:<11} {:<10} {:<16} {ret}\n",
            tc.meta.name,
            format!("{:?}", tc.direction),
            format!("{:?}", tc.action),
            tc.target.port_name(),
        ));
    }
    if !cluster.settings.agent_gate("TrafficControl") {
        t.push_str("(the antrea-agent feature gate TrafficControl is off: no ports, no flows)\n");
        return t;
    }
    t.push_str("\nNODE                       PORT           OFPORT   TX-PACKETS\n");
    for node in cluster.nodes() {
        let Some(dev) = node.device else { continue };
        for p in engine::traffic_control::node_ports(cluster) {
            let tx = world
                .tc_port_tx(dev, &p.0)
                .map_or("-".to_string(), |n| n.to_string());
            t.push_str(&format!("{:<26} {:<14} {:<8} {tx}\n", node.name, p.0, p.1));
        }
    }
    t
}

/// `kubectl get externalnodes -A` and `kubectl get externalentities -A`
/// (AGE left out), with the interface each VM's agent took.
fn external_nodes(cluster: &ClusterState) -> String {
    let mut t =
        String::from("kubectl get externalnodes -A\nNAMESPACE   NAME        INTERFACE   IPS\n");
    for en in cluster.external_nodes.iter() {
        let ips: Vec<String> = en.spec.ips.iter().map(|i| i.to_string()).collect();
        t.push_str(&format!(
            "{:<11} {:<11} {:<11} {}\n",
            en.namespace(),
            en.name(),
            en.iface,
            ips.join(",")
        ));
    }
    t.push_str(
        "\nkubectl get externalentities -A\nNAMESPACE   NAME        EXTERNALNODE   LABELS\n",
    );
    for ee in cluster.external_entities() {
        let labels: Vec<String> = ee.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.push_str(&format!(
            "{:<11} {:<11} {:<14} {}\n",
            ee.namespace,
            ee.name,
            ee.external_node,
            labels.join(",")
        ));
    }
    t
}
