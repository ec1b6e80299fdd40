//! Services at the cluster level: what the API server and the controllers
//! add to a Service manifest (ClusterIP, NodePorts), and Antrea's
//! ServiceExternalIP (`pkg/controller/serviceexternalip`,
//! `pkg/agent/controller/serviceexternalip`).
//!
//! - ClusterIP: the manifest's, else a free address of the Service CIDR
//!   chosen by a hash of `namespace/name` and probing upwards (the API server
//!   picks at random; a hash keeps runs repeatable). The CIDR's first address
//!   is left for the `kubernetes` Service, as the API server does.
//! - NodePort: the manifest's, else 30000-32767 by the same hash-and-probe.
//! - ServiceExternalIP (gate `ServiceExternalIP`, Alpha in v1.15): a
//!   LoadBalancer Service annotated `service.antrea.io/external-ip-pool` gets
//!   `spec.loadBalancerIP` or the lowest free IP from that ExternalIPPool —
//!   the same allocator as Egress — as `status.loadBalancer.ingress[0].ip`.
//!   Its owner node is picked by every agent on the pool's consistent-hash
//!   ring with no capacity limit; with `externalTrafficPolicy: Local` only
//!   nodes with a ready local endpoint qualify. The owner answers ARP for the
//!   IP from userspace and sends one gratuitous ARP when it takes it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::ClusterState;
use super::ids::{NodeId, NodeSet};
use super::placement::HashRing;
use super::proxy;
use crate::k8s::{self, ClusterIp, ServiceType};
use crate::rng::fnv1a64;

pub const EXTERNAL_IP_POOL_ANNOTATION: &str = "service.antrea.io/external-ip-pool";
pub const NODE_PORT_RANGE: (u16, u16) = (30000, 32767);

#[derive(Clone, Debug)]
pub struct ServiceState {
    pub(crate) spec: k8s::Service,
    pub(crate) cluster_ip: Option<Ipv4Addr>,
    /// Per spec port, its NodePort (NodePort and LoadBalancer Services).
    pub(crate) node_ports: Vec<Option<u16>>,
    /// `status.loadBalancer.ingress[0].ip`.
    pub lb_ip: Option<Ipv4Addr>,
    /// The ExternalIPPool the IP came from.
    pub(crate) lb_pool: Option<String>,
    /// Why the Service has no external IP (`<pending>`), if it should have one.
    pub(crate) lb_error: Option<String>,
    pub(crate) created: u64,
}

impl ServiceState {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace(), self.spec.meta.name)
    }
    pub fn namespace(&self) -> &str {
        self.spec.meta.namespace.as_deref().unwrap_or("default")
    }
    pub fn external_ip_pool(&self) -> Option<&str> {
        if self.spec.service_type != ServiceType::LoadBalancer {
            return None;
        }
        self.spec
            .meta
            .annotations
            .get(EXTERNAL_IP_POOL_ANNOTATION)
            .map(String::as_str)
    }
}

/// The address after probing upwards from a hash of `key` in `0..size`.
fn probe(key: &str, size: u64, used: impl Fn(u64) -> bool) -> Option<u64> {
    let start = fnv1a64(key.as_bytes()) % size;
    (0..size).map(|i| (start + i) % size).find(|&i| !used(i))
}

impl ClusterState {
    /// Admits a Service (create or update): allocates its ClusterIP and
    /// NodePorts, and its external IP when ServiceExternalIP applies.
    pub fn apply_service(
        &mut self,
        svc: &k8s::Service,
        now_secs: u64,
    ) -> Result<Vec<String>, String> {
        let ns = svc
            .meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let key = format!("{ns}/{}", svc.meta.name);
        let old = self.services.shift_remove(&key);
        if let Some(o) = &old
            && let (Some(ip), Some(pool)) = (o.lb_ip, o.lb_pool.as_deref())
        {
            let _ = self.egress.pools.release(pool, ip);
        }
        let cluster_ip = match svc.cluster_ip {
            Some(ClusterIp::Headless) => None,
            Some(ClusterIp::Ip(ip)) => {
                if let Some(cidr) = self.service_cidr
                    && !cidr.contains(&ip)
                {
                    return Err(format!(
                        "Service \"{}\" is invalid: spec.clusterIPs: Invalid value: \"{ip}\": provided IP is not in the valid range. The range of valid IPs is {cidr}",
                        svc.meta.name
                    ));
                }
                if self.services.values().any(|s| s.cluster_ip == Some(ip)) {
                    return Err(format!(
                        "Service \"{}\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated",
                        svc.meta.name
                    ));
                }
                Some(ip)
            }
            None => match old.as_ref().and_then(|o| o.cluster_ip) {
                Some(ip) => Some(ip),
                None => Some(self.allocate_cluster_ip(&key)?),
            },
        };
        let mut node_ports = Vec::new();
        for (i, p) in svc.ports.iter().enumerate() {
            if svc.service_type == ServiceType::ClusterIp {
                node_ports.push(None);
                continue;
            }
            let port = match p.node_port.or_else(|| {
                old.as_ref()
                    .and_then(|o| o.node_ports.get(i).copied().flatten())
            }) {
                Some(n) => n,
                None => self.allocate_node_port(&format!("{key}:{i}"), &node_ports)?,
            };
            node_ports.push(Some(port));
        }
        let created = old.as_ref().map_or(now_secs, |o| o.created);
        let mut st = ServiceState {
            spec: svc.clone(),
            cluster_ip,
            node_ports,
            lb_ip: None,
            lb_pool: None,
            lb_error: None,
            created,
        };
        let mut lines = Vec::new();
        if let Some(pool) = st.external_ip_pool().map(str::to_string) {
            if !self.settings.controller_gate("ServiceExternalIP") {
                lines.push(format!(
                    "Service {key}: annotation {EXTERNAL_IP_POOL_ANNOTATION} ignored, gate ServiceExternalIP is off"
                ));
            } else {
                let result = match svc.load_balancer_ip {
                    Some(ip) => self
                        .egress
                        .pools
                        .allocate_ip(&pool, ip)
                        .map(|_| ip)
                        .map_err(|e| e.to_string()),
                    None => self
                        .egress
                        .pools
                        .allocate_next(&pool)
                        .map_err(|e| e.to_string()),
                };
                match result {
                    Ok(ip) => {
                        st.lb_ip = Some(ip);
                        st.lb_pool = Some(pool.clone());
                        lines.push(format!(
                            "Service {key}: external IP {ip} from ExternalIPPool {pool}"
                        ));
                    }
                    Err(e) => {
                        let msg = format!(
                            "error when allocating IP from ExternalIPPool {pool} for Service {key}: {e}"
                        );
                        lines.push(msg.clone());
                        st.lb_error = Some(msg);
                    }
                }
            }
        }
        self.services.insert(key, st);
        Ok(lines)
    }

    pub fn delete_service(&mut self, key: &str) -> Vec<String> {
        match self.services.shift_remove(key) {
            Some(s) => {
                if let (Some(ip), Some(pool)) = (s.lb_ip, s.lb_pool.as_deref()) {
                    let _ = self.egress.pools.release(pool, ip);
                }
                vec![format!("Service {key} deleted")]
            }
            None => Vec::new(),
        }
    }

    fn allocate_cluster_ip(&self, key: &str) -> Result<Ipv4Addr, String> {
        let cidr: Ipv4Net = self
            .service_cidr
            .ok_or("the topology has no cluster.serviceCIDR to allocate ClusterIPs from")?;
        let base = u32::from(cidr.network());
        let size = u64::from(u32::from(cidr.broadcast()) - base);
        // Offsets 2..size-1: skip the network, the `kubernetes` Service (.1) and broadcast.
        let used: Vec<Ipv4Addr> = self
            .services
            .values()
            .filter_map(|s| s.cluster_ip)
            .collect();
        let room = size.saturating_sub(2);
        if room == 0 {
            return Err(format!("Service CIDR {cidr} is full"));
        }
        probe(key, room, |i| {
            used.contains(&Ipv4Addr::from(base + 2 + i as u32))
        })
        .map(|i| Ipv4Addr::from(base + 2 + i as u32))
        .ok_or_else(|| format!("Service CIDR {cidr} is full"))
    }

    fn allocate_node_port(&self, key: &str, taken_here: &[Option<u16>]) -> Result<u16, String> {
        let (lo, hi) = NODE_PORT_RANGE;
        let used: Vec<u16> = self
            .services
            .values()
            .flat_map(|s| s.node_ports.iter().flatten().copied())
            .chain(taken_here.iter().flatten().copied())
            .collect();
        probe(key, u64::from(hi - lo) + 1, |i| {
            used.contains(&(lo + i as u16))
        })
        .map(|i| lo + i as u16)
        .ok_or_else(|| "no NodePort left in 30000-32767".to_string())
    }

    /// The node that owns a Service's external IP in the view `alive`:
    /// the pool's ring (alive ∩ Linux ∩ nodeSelector: the same memberlist
    /// cluster as Egress, which only Linux nodes join), filtered for
    /// `externalTrafficPolicy: Local` by nodes with a ready local endpoint.
    pub fn external_ip_owner(
        &self,
        svc: &ServiceState,
        alive: &NodeSet,
        nodes_with_endpoints: &NodeSet,
    ) -> Option<NodeId> {
        let ip = svc.lb_ip?;
        let pool = self.egress.pools.get(svc.lb_pool.as_deref()?)?;
        // The ring's members in name order (its insertion order).
        let members = self
            .nodes_by_name()
            .filter(|n| alive.contains(n.id))
            .filter(|n| n.joins_memberlist())
            .filter(|n| pool.node_selector.matches(&n.labels))
            .map(|n| (n.id, self.ring_hashes(n.id)));
        let ring = HashRing::from_hashed(members);
        let local = svc.spec.external_traffic_policy == k8s::TrafficPolicy::Local;
        ring.find(&ip.to_string(), |&n| {
            !local || nodes_with_endpoints.contains(n)
        })
        .copied()
    }
}

/// Services by `namespace/name`.
pub type Services = IndexMap<String, ServiceState>;

/// The Pods a Service selects (same namespace, every selector label equal);
/// a Service without a selector selects none.
pub fn service_pods<'a>(cluster: &'a ClusterState, svc: &ServiceState) -> Vec<&'a super::PodState> {
    if svc.spec.selector.is_empty() {
        return Vec::new();
    }
    cluster
        .pods()
        .filter(|p| p.namespace == svc.namespace())
        .filter(|p| {
            svc.spec
                .selector
                .iter()
                .all(|(k, v)| p.labels.get(k) == Some(v))
        })
        .collect()
}

/// Nodes with at least one ready endpoint of the Service (a Ready Pod):
/// the ServiceExternalIP filter for externalTrafficPolicy Local.
pub fn nodes_with_ready_endpoints(cluster: &ClusterState, svc: &ServiceState) -> NodeSet {
    service_pods(cluster, svc)
        .into_iter()
        .filter(|p| p.ready)
        .map(|p| p.node)
        .collect()
}

/// The proxy engine's inputs: every node (in [`NodeId`] order, so a node's
/// id is its index), and every Service with its EndpointSlices (only Ready
/// Pods are ready endpoints) and its ServiceExternalIP as the LoadBalancer
/// ingress.
pub fn proxy_inputs(cluster: &ClusterState) -> (Vec<proxy::ProxyNode>, Vec<proxy::ProxyService>) {
    let pnodes: Vec<proxy::ProxyNode> = cluster.nodes().map(proxy::ProxyNode::from_state).collect();
    // Each Pod becomes an EndpointPod once, grouped by namespace: a Service
    // only selects Pods of its own namespace. (Converting every Pod once per
    // Service made this quadratic in a large cluster.)
    let mut pods_by_ns: BTreeMap<&str, Vec<proxy::EndpointPod>> = BTreeMap::new();
    if !cluster.services.is_empty() {
        // One copy of each node's name, shared by its Pods' endpoints.
        let names: Vec<std::sync::Arc<str>> =
            pnodes.iter().map(|n| n.name.as_str().into()).collect();
        for p in cluster.pods() {
            let node = &pnodes[p.node.index()];
            let name = names[p.node.index()].clone();
            let mut e = proxy::EndpointPod::from_pod_state(p, name, node.zone.clone());
            // The Pod's Ready condition (the node controller clears it on
            // a NotReady node's Pods).
            e.ready = p.ready;
            pods_by_ns.entry(p.namespace.as_str()).or_default().push(e);
        }
    }
    let psvcs = cluster
        .services
        .values()
        .map(|s| {
            let mut svc = s.spec.clone();
            svc.cluster_ip = s.cluster_ip.map(ClusterIp::Ip);
            for (p, np) in svc.ports.iter_mut().zip(&s.node_ports) {
                p.node_port = *np;
            }
            let pods = pods_by_ns.get(s.namespace()).map_or(&[][..], Vec::as_slice);
            let endpoints = proxy::endpoint_slices(&svc, pods, &pnodes);
            let mut ps = proxy::ProxyService::new(svc, endpoints);
            ps.load_balancer_ingress = s.lb_ip.into_iter().collect();
            ps
        })
        .collect();
    (pnodes, psvcs)
}

/// The Service part of one node's desired dataplane: its proxy rules, the
/// addresses kube-proxy IPVS binds to `kube-ipvs0`, `strictARP`, and the
/// ServiceExternalIP addresses this node's agent answers ARP for.
pub fn dataplane(
    cluster: &ClusterState,
    node: &super::NodeState,
    pnodes: &[proxy::ProxyNode],
    psvcs: &[proxy::ProxyService],
    dp: &mut super::dataplane::NodeDataplane,
) {
    proxy_dataplane(
        cluster,
        node,
        pnodes,
        psvcs,
        &mut proxy::ServiceMemo::default(),
        dp,
    );
    external_ip_dataplane(cluster, node, dp);
}

/// The proxy part of [`dataplane`]: the node's Service rules and what
/// kube-proxy IPVS binds. It depends on Services, Pods, nodes and proxy
/// settings, not on any agent's memberlist view.
pub fn proxy_dataplane(
    cluster: &ClusterState,
    node: &super::NodeState,
    pnodes: &[proxy::ProxyNode],
    psvcs: &[proxy::ProxyService],
    memo: &mut proxy::ServiceMemo,
    dp: &mut super::dataplane::NodeDataplane,
) {
    if cluster.services.is_empty() {
        return;
    }
    // `pnodes` are in id order ([`proxy_inputs`]).
    let Some(me) = pnodes.get(node.id.index()) else {
        return;
    };
    let rules = proxy::compile_node_with(me, psvcs, pnodes, &cluster.proxy, memo);
    if let Some(proxy::KubeProxyMode::Ipvs { strict_arp }) = cluster.proxy.kube_proxy {
        dp.dummy_ifaces.push(KUBE_IPVS0.into());
        for ip in rules.kube_ipvs0_addresses() {
            dp.addrs.push(super::dataplane::AddrAssignment {
                iface: KUBE_IPVS0.into(),
                addr: Ipv4Net::from(ip),
                announce: false,
                announce_on: None,
            });
        }
        dp.strict_arp = strict_arp;
    }
    dp.service_rules = Some(std::sync::Arc::new(rules));
}

/// The ServiceExternalIP part of [`dataplane`]: the external IPs this node's
/// agent answers ARP for, which depends on its memberlist view.
pub fn external_ip_dataplane(
    cluster: &ClusterState,
    node: &super::NodeState,
    dp: &mut super::dataplane::NodeDataplane,
) {
    if cluster.services.is_empty() {
        return;
    }
    if cluster.settings.agent_gate("ServiceExternalIP") {
        let view = cluster.view_of(node.id);
        for s in cluster.services.values() {
            let Some(ip) = s.lb_ip else { continue };
            let with_eps = nodes_with_ready_endpoints(cluster, s);
            if cluster.external_ip_owner(s, &view, &with_eps) == Some(node.id) {
                dp.arp_responder.push((node.transport_iface.clone(), ip));
            }
        }
    }
}

/// AntreaProxy's proxyAll routes when br-int executes Antrea's program
/// (pkg/agent/route/route_linux.go v2.1.0): the virtual Service IP
/// 169.254.0.253 on `antrea-gw0` with a permanent neighbour entry
/// (`addVirtualServiceIPRoute`), the NodePort DNAT address 169.254.0.252
/// through it (`addVirtualNodePortDNATIPRoute`), and every LoadBalancer and
/// external IP AntreaProxy serves through it (`AddExternalIPConfigs`, LB IPs
/// only with proxyAll: proxier.go `installLoadBalancerService`), and the
/// Service CIDR through it (`addServiceCIDRRoute`). The
/// simulator's routes need `onlink` to take a gateway outside the
/// interface's subnets; Linux takes one reachable by a link route.
pub fn proxy_all_dataplane(cluster: &ClusterState, dp: &mut super::dataplane::NodeDataplane) {
    use super::dataplane::{DesiredNeighbor, DesiredRoute};
    use crate::engine::proxy::{VIRTUAL_NODEPORT_DNAT_IP, VIRTUAL_SERVICE_IP};
    // Installed when the agent starts with proxyAll, Services or not
    // (`initServiceIPRoutes`).
    if cluster.br_int_mode() != super::dataplane::BrIntMode::Pipeline
        || !cluster.proxy.antrea_proxy
        || !cluster.proxy.proxy_all
    {
        return;
    }
    let gw: std::sync::Arc<str> = super::GATEWAY_IFACE.into();
    let route = |dst: Ipv4Addr, via: Option<Ipv4Addr>| DesiredRoute {
        dst: ipnet::Ipv4Net::from(dst),
        via,
        dev: gw.clone(),
        table: crate::model::TABLE_MAIN,
        metric: 0,
        onlink: via.is_some(),
    };
    dp.neighbors.push(DesiredNeighbor {
        iface: super::GATEWAY_IFACE.to_string(),
        ip: VIRTUAL_SERVICE_IP,
        mac: crate::engine::pipeline::GLOBAL_VIRTUAL_MAC,
    });
    dp.routes.push(route(VIRTUAL_SERVICE_IP, None));
    dp.routes
        .push(route(VIRTUAL_NODEPORT_DNAT_IP, Some(VIRTUAL_SERVICE_IP)));
    // `addServiceCIDRRoute`: the node's own ClusterIP traffic.
    if let Some(cidr) = cluster.service_cidr {
        dp.routes.push(DesiredRoute {
            dst: cidr,
            ..route(VIRTUAL_SERVICE_IP, Some(VIRTUAL_SERVICE_IP))
        });
    }
    let rules = dp.service_rules.clone();
    let mut external: Vec<Ipv4Addr> = rules
        .iter()
        .flat_map(|r| r.ports())
        .filter_map(|p| p.antrea.as_ref())
        .flat_map(|a| a.vips.iter())
        // LoadBalancer and external IPs (a NodePort has no address of its own).
        .filter(|v| v.kind.is_external())
        .filter_map(|v| v.ip)
        .collect();
    external.sort();
    external.dedup();
    for ip in external {
        dp.routes.push(route(ip, Some(VIRTUAL_SERVICE_IP)));
    }
    dp.proxy_all_in_br_int = true;
}

/// kube-proxy IPVS's dummy device holding every Service VIP.
pub const KUBE_IPVS0: &str = "kube-ipvs0";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::{Object, parse_manifests};

    const TOPOLOGY: &str = include_str!("../../../topologies/blog-lab.yaml");
    const POOL: &str = include_str!("../../../scenarios/manifests/service-pool-l2.yaml");
    const SERVICE: &str = include_str!("../../../scenarios/manifests/yelb-ui.yaml");

    /// The blog lab with the L2 pool and yelb-ui (10.160.1.40), every node
    /// alive, ServiceExternalIP on.
    fn blog_cluster() -> (ClusterState, NodeSet) {
        let topo = crate::topology::load_topology("blog-lab.yaml", TOPOLOGY).expect("topology");
        let mut c = ClusterState::from_topology(&topo);
        c.settings
            .controller_gates
            .insert("ServiceExternalIP".into(), true);
        for o in parse_manifests("pool.yaml", POOL).expect("pool") {
            if let Object::ExternalIPPool(p) = o {
                c.egress.apply_pool(&p, 0).expect("valid pool");
            }
        }
        for o in parse_manifests("svc.yaml", SERVICE).expect("manifests") {
            if let Object::Service(s) = o {
                c.apply_service(&s, 0).expect("valid Service");
            }
        }
        let all = c.nodes().map(|n| n.id).collect();
        (c, all)
    }

    #[test]
    fn external_ip_owners_are_linux_nodes_only() {
        let (mut c, all) = blog_cluster();
        let svc = c.services["yelb/yelb-ui"].clone();
        assert_eq!(svc.lb_ip, Some("10.160.1.40".parse().unwrap()));
        let none = NodeSet::new();
        let cp = c.node_id("k8s-cp-vm-1-cl-02").unwrap();
        let owner = c.external_ip_owner(&svc, &all, &none);
        // The blog's owner (scenario service-external-ip-l2).
        assert_eq!(owner, Some(cp));
        // A Windows node never joins Antrea's memberlist cluster, so it is
        // never on the ring, whatever the pool's nodeSelector says.
        c.node_labels_mut(cp)
            .insert(crate::engine::OS_LABEL.into(), "windows".into());
        let owner = c.external_ip_owner(&svc, &all, &none);
        assert!(owner.is_some());
        assert_ne!(owner, Some(cp));
        // The same node the pool's ring picks once that node is gone.
        let mut without = all.clone();
        without.remove(cp);
        assert_eq!(owner, c.external_ip_owner(&svc, &without, &none));
    }
}
