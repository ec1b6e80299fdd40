//! BGPPolicy as Antrea's agent applies it (`pkg/agent/controller/bgp/controller.go`,
//! feature gate `BGPPolicy`): per Node, the one policy in effect, the BGP
//! speaker's router ID and peers, and the routes it advertises.
//!
//! - **Effective policy** (`getEffectiveBGPPolicy`): of the policies whose
//!   `nodeSelector` matches the Node's labels, the oldest. Antrea compares
//!   `creationTimestamp`s (one-second resolution) and leaves a tie to the
//!   informer's list order; antlab orders by when each policy was first
//!   applied, so the earlier of two applied in one step (document order)
//!   wins. An update keeps a policy's place, as its timestamp stays.
//! - **Router ID** (`getRouterID`, v2.2+): the Node annotation
//!   `node.antrea.io/bgp-router-id` if present (an error if it is not IPv4),
//!   else the Node's IPv4 address.
//! - **Peers**: the policy's IPv4 peers (an IPv4-only cluster's agent drops
//!   the others), keyed `<address>-<asn>`.
//! - **Routes** (`addServiceRoutes`, `addEgressRoutes`, `addPodRoutes`): see
//!   [`advertised_routes`].

use std::net::{IpAddr, Ipv4Addr};

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::cluster::ClusterState;
use super::ids::NodeId;
use crate::k8s::{BgpPeer, BgpPolicy, ServiceIpType, ServiceType, TrafficPolicy};

/// The agent feature gate.
pub const GATE: &str = "BGPPolicy";
/// `types.NodeBGPRouterIDAnnotationKey`.
pub const ROUTER_ID_ANNOTATION: &str = "node.antrea.io/bgp-router-id";

/// The BGPPolicies applied, each with its place in creation order.
#[derive(Clone, Debug, Default)]
pub struct BgpPolicies {
    by_name: IndexMap<String, (BgpPolicy, u64)>,
    next: u64,
}

impl BgpPolicies {
    /// Creates or updates a policy (`kubectl apply`); what antrea-agent's
    /// log would say.
    pub fn apply(&mut self, p: &BgpPolicy) -> Vec<String> {
        let name = p.meta.name.clone();
        let (verb, created) = match self.by_name.get(&name) {
            Some((_, created)) => ("updated", *created),
            None => {
                self.next += 1;
                ("created", self.next)
            }
        };
        self.by_name.insert(name.clone(), (p.clone(), created));
        vec![format!(
            "BGPPolicy {name} {verb}: local ASN {}",
            p.local_asn
        )]
    }

    pub fn delete(&mut self, name: &str) -> Option<Vec<String>> {
        self.by_name.shift_remove(name)?;
        Some(vec![format!("BGPPolicy {name} deleted")])
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Every policy, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &BgpPolicy> {
        let mut all: Vec<&(BgpPolicy, u64)> = self.by_name.values().collect();
        all.sort_by_key(|(_, created)| *created);
        all.into_iter().map(|(p, _)| p)
    }

    /// The policy in effect on a Node with these labels: the oldest that
    /// selects it.
    pub fn effective(&self, labels: &IndexMap<String, String>) -> Option<&BgpPolicy> {
        self.by_name
            .values()
            .filter(|(p, _)| p.node_selector.matches(labels))
            .min_by_key(|(_, created)| *created)
            .map(|(p, _)| p)
    }
}

/// What `antctl get bgproutes` calls a route's type (`AdvertisedRouteType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteType {
    EgressIP,
    ServiceLoadBalancerIP,
    ServiceExternalIP,
    ServiceClusterIP,
    NodeIPAMPodCIDR,
}

impl RouteType {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::EgressIP => "EgressIP",
            RouteType::ServiceLoadBalancerIP => "ServiceLoadBalancerIP",
            RouteType::ServiceExternalIP => "ServiceExternalIP",
            RouteType::ServiceClusterIP => "ServiceClusterIP",
            RouteType::NodeIPAMPodCIDR => "NodeIPAMPodCIDR",
        }
    }
}

/// One route a Node's speaker advertises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertisedRoute {
    pub prefix: Ipv4Net,
    pub kind: RouteType,
    /// `<namespace>/<name>` of a Service, an Egress's name, empty for the
    /// Pod CIDR.
    pub object: String,
}

/// A Node's BGP speaker as its agent configures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBgp<'a> {
    pub policy: &'a BgpPolicy,
    pub router_id: Ipv4Addr,
    /// IPv4 peers, each key once (the first written).
    pub peers: Vec<&'a BgpPeer>,
    pub routes: Vec<AdvertisedRoute>,
}

/// Why a Node runs no BGP speaker: antctl's answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoSpeaker {
    /// The agent's `BGPPolicy` gate is off (HTTP 503).
    GateOff,
    /// No BGPPolicy selects the Node (HTTP 404).
    NoPolicy,
    /// The sync fails (the agent retries, 5 s to 300 s apart); its error.
    SyncFails(String),
}

impl NoSpeaker {
    /// As `antctl get bgp...` prints it on stderr.
    pub fn antctl_error(&self) -> String {
        match self {
            NoSpeaker::GateOff => {
                "request to server failed: Service Unavailable: bgp is not enabled".into()
            }
            NoSpeaker::NoPolicy => "request to server failed: Not Found: there is no effective bgp policy applied to the Node".into(),
            NoSpeaker::SyncFails(why) => format!("BGPPolicy sync failed: {why}"),
        }
    }
}

/// Whether any node may run a speaker: the gate is on and a policy exists.
pub fn in_use(cluster: &ClusterState) -> bool {
    cluster.settings.agent_gate(GATE) && !cluster.bgp_policies.is_empty()
}

/// The configuration node `node`'s speaker runs with, if its agent
/// (`agent_runs`) runs one: both modes configure their speakers from it.
pub fn speaker_config(
    cluster: &ClusterState,
    node: NodeId,
    agent_runs: bool,
) -> Option<SpeakerConfig> {
    if !agent_runs {
        return None;
    }
    node_bgp(cluster, node).ok().map(|b| b.config())
}

/// Node `node`'s speaker: its effective policy, router ID, peers, routes.
pub fn node_bgp(cluster: &ClusterState, node: NodeId) -> Result<NodeBgp<'_>, NoSpeaker> {
    if !cluster.settings.agent_gate(GATE) {
        return Err(NoSpeaker::GateOff);
    }
    let n = cluster.node(node);
    let policy = cluster
        .bgp_policies
        .effective(&n.labels)
        .ok_or(NoSpeaker::NoPolicy)?;
    let router_id = match n.annotations.get(ROUTER_ID_ANNOTATION) {
        Some(v) => v.parse::<Ipv4Addr>().map_err(|_| {
            NoSpeaker::SyncFails("BGP router ID should be an IPv4 address string".into())
        })?,
        None => n.ip,
    };
    let mut peers: Vec<&BgpPeer> = Vec::new();
    for p in policy.peers.iter().filter(|p| p.address.is_ipv4()) {
        if !peers.iter().any(|q| q.same_key(p)) {
            peers.push(p);
        }
    }
    Ok(NodeBgp {
        policy,
        router_id,
        peers,
        routes: advertised_routes(cluster, node, policy),
    })
}

/// The routes `policy` makes node `node` advertise, each prefix once (a
/// later one of the same prefix takes its type and object, as Antrea's
/// route map keeps the last writer), in the order Antrea adds them:
/// Services, Egresses, the Pod CIDR.
///
/// - ClusterIP: every Service's ClusterIP, whatever its type; with
///   `internalTrafficPolicy: Local` only from Nodes with an endpoint.
/// - ExternalIP and LoadBalancerIP: `spec.externalIPs` (antlab reads none)
///   and a LoadBalancer Service's ingress IP (where ServiceExternalIP puts
///   its address); with `externalTrafficPolicy: Local` only from Nodes with
///   an endpoint.
/// - An endpoint is any Pod the Service selects on the Node, ready or not:
///   Antrea counts every endpoint of the EndpointSlices (issue #8347).
/// - Egress: the status IP of every Egress whose `status.egressNode` is the
///   Node, when the `Egress` gate is on too.
/// - Pod: the Node's Pod CIDR.
pub fn advertised_routes(
    cluster: &ClusterState,
    node: NodeId,
    policy: &BgpPolicy,
) -> Vec<AdvertisedRoute> {
    let mut routes: IndexMap<Ipv4Net, AdvertisedRoute> = IndexMap::new();
    let mut add = |ip: Ipv4Addr, kind: RouteType, object: String| {
        let prefix = Ipv4Net::new(ip, 32).expect("/32 is a valid prefix");
        routes.insert(
            prefix,
            AdvertisedRoute {
                prefix,
                kind,
                object,
            },
        );
    };
    let types = &policy.service_ip_types;
    if !types.is_empty() {
        for s in cluster.services.values() {
            let (internal, external) = (
                s.spec.internal_traffic_policy == TrafficPolicy::Local,
                s.spec.external_traffic_policy == TrafficPolicy::Local,
            );
            // Endpoints are looked up only for a Local policy, once.
            let local = (internal || external)
                && super::services::service_pods(cluster, s)
                    .iter()
                    .any(|p| p.node == node);
            let internal_ok = !internal || local;
            let external_ok = !external || local;
            if types.contains(&ServiceIpType::ClusterIP)
                && internal_ok
                && let Some(ip) = s.cluster_ip
            {
                add(ip, RouteType::ServiceClusterIP, s.key());
            }
            if types.contains(&ServiceIpType::LoadBalancerIP)
                && s.spec.service_type == ServiceType::LoadBalancer
                && external_ok
                && let Some(ip) = s.lb_ip
            {
                add(ip, RouteType::ServiceLoadBalancerIP, s.key());
            }
        }
    }
    if policy.advertise_egress && cluster.settings.agent_gate("Egress") {
        let name = &cluster.node(node).name;
        for (egress, e) in &cluster.egress.egresses {
            if e.status.egress_node.as_deref() == Some(name.as_str())
                && let Some(ip) = e.status.egress_ip
            {
                add(ip, RouteType::EgressIP, egress.clone());
            }
        }
    }
    let mut routes: Vec<AdvertisedRoute> = routes.into_values().collect();
    if policy.advertise_pod_cidr {
        routes.push(AdvertisedRoute {
            prefix: cluster.node(node).pod_cidr,
            kind: RouteType::NodeIPAMPodCIDR,
            object: String::new(),
        });
    }
    routes
}

/// A peer's address as antctl's `PEER` column prints it (`host:port`).
pub fn peer_column(p: &BgpPeer) -> String {
    match p.address {
        IpAddr::V4(a) => format!("{a}:{}", p.port),
        IpAddr::V6(a) => format!("[{a}]:{}", p.port),
    }
}

/// A confederation's identifier and member ASNs (a set: their order means
/// nothing).
pub type ConfederationSet = Option<(u32, std::collections::BTreeSet<u32>)>;

/// What a Node's agent configures its speaker with: everything the
/// controller compares between syncs (`syncBGPPolicy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// The effective policy's name (a change alone restarts nothing).
    pub policy: String,
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    pub listen_port: u16,
    pub confederation: ConfederationSet,
    pub peers: Vec<BgpPeer>,
    pub routes: Vec<AdvertisedRoute>,
}

impl NodeBgp<'_> {
    /// The speaker's configuration.
    pub fn config(&self) -> SpeakerConfig {
        SpeakerConfig {
            policy: self.policy.meta.name.clone(),
            local_asn: self.policy.local_asn,
            router_id: self.router_id,
            listen_port: self.policy.listen_port,
            confederation: self
                .policy
                .confederation
                .as_ref()
                .map(|c| (c.identifier, c.member_asns.iter().copied().collect())),
            peers: self.peers.iter().map(|p| (*p).clone()).collect(),
            routes: self.routes.clone(),
        }
    }
}

impl SpeakerConfig {
    /// What a new speaker is started for: a change of any of them stops
    /// the old one and starts another (`syncBGPPolicy`).
    fn global(&self) -> (u32, Ipv4Addr, u16, &ConfederationSet) {
        (
            self.local_asn,
            self.router_id,
            self.listen_port,
            &self.confederation,
        )
    }
}

/// One step of bringing a Node's speaker to a new configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpeakerChange {
    /// A new speaker with the configuration's global settings.
    Start,
    /// The speaker stops (its sessions close with a Cease).
    Stop,
    AddPeer(BgpPeer),
    /// Same key (`<address>-<asn>`), other settings.
    UpdatePeer(BgpPeer),
    RemovePeer(BgpPeer),
    Advertise(Ipv4Net),
    Withdraw(Ipv4Net),
}

/// The steps from `old` to `new` (`None`: no speaker), in the agent's
/// order: a restart when a global setting changed (then every peer and
/// route anew), else peers added, updated, removed, then routes advertised
/// and withdrawn. Antrea walks its route sets in map order; antlab walks
/// them in prefix order.
pub fn reconcile(old: Option<&SpeakerConfig>, new: Option<&SpeakerConfig>) -> Vec<SpeakerChange> {
    let mut steps = Vec::new();
    let Some(new) = new else {
        if old.is_some() {
            steps.push(SpeakerChange::Stop);
        }
        return steps;
    };
    let (old_peers, old_routes): (&[BgpPeer], &[AdvertisedRoute]) = match old {
        Some(o) if o.global() == new.global() => (&o.peers, &o.routes),
        Some(_) => {
            steps.push(SpeakerChange::Stop);
            steps.push(SpeakerChange::Start);
            (&[], &[])
        }
        None => {
            steps.push(SpeakerChange::Start);
            (&[], &[])
        }
    };
    let find = |peers: &'_ [BgpPeer], p: &BgpPeer| peers.iter().find(|q| q.same_key(p)).cloned();
    for p in &new.peers {
        if find(old_peers, p).is_none() {
            steps.push(SpeakerChange::AddPeer(p.clone()));
        }
    }
    for p in &new.peers {
        if find(old_peers, p).is_some_and(|o| o != *p) {
            steps.push(SpeakerChange::UpdatePeer(p.clone()));
        }
    }
    for p in old_peers {
        if find(&new.peers, p).is_none() {
            steps.push(SpeakerChange::RemovePeer(p.clone()));
        }
    }
    let prefixes = |routes: &[AdvertisedRoute]| -> std::collections::BTreeSet<Ipv4Net> {
        routes.iter().map(|r| r.prefix).collect()
    };
    let (was, now) = (prefixes(old_routes), prefixes(&new.routes));
    steps.extend(now.difference(&was).map(|p| SpeakerChange::Advertise(*p)));
    steps.extend(was.difference(&now).map(|p| SpeakerChange::Withdraw(*p)));
    steps
}

#[cfg(test)]
mod tests {
    //! Cases after Antrea's `pkg/agent/controller/bgp/controller_test.go`
    //! (TestBGPPolicyAdd, TestServiceLifecycle, TestEgressLifecycle,
    //! TestNodeUpdate), on the blog's lab.
    use super::*;
    use crate::engine::egress_status::EgressStatus;
    use crate::engine::fixtures::{WORKERS, blog_cluster};
    use crate::k8s::{Object, parse_manifests};

    fn policy(name: &str, selector: &str, extra: &str) -> BgpPolicy {
        let text = format!(
            "apiVersion: crd.antrea.io/v1alpha1\nkind: BGPPolicy\nmetadata:\n  name: {name}\nspec:\n  nodeSelector:\n{selector}  localASN: 64512\n{extra}"
        );
        match parse_manifests("bgp.yaml", &text)
            .expect("a valid BGPPolicy")
            .remove(0)
        {
            Object::BgpPolicy(p) => p,
            o => panic!("not a BGPPolicy: {o:?}"),
        }
    }

    const WORKERS_ONLY: &str = "    matchLabels:\n      egress-role: egress-node\n";
    const ALL: &str = "    matchLabels: {}\n";
    const EVERYTHING: &str = "  advertisements:\n    service:\n      ipTypes: [ClusterIP, LoadBalancerIP, ExternalIP]\n    pod: {}\n    egress: {}\n  bgpPeers:\n    - address: 10.30.67.1\n      asn: 65000\n    - address: 10.30.67.1\n      asn: 65000\n      port: 1179\n    - address: fec0::1\n      asn: 65000\n";

    /// The blog lab with the gate on, the policy applied, and the blog's
    /// Egress held by vm-2 as its status says.
    fn cluster_with(policies: &[BgpPolicy]) -> ClusterState {
        let mut c = blog_cluster();
        c.settings.agent_gates.insert(GATE.into(), true);
        c.settings.agent_gates.insert("Egress".into(), true);
        for p in policies {
            c.bgp_policies.apply(p);
        }
        let e = c
            .egress
            .egresses
            .get_mut("egress-vlan")
            .expect("the blog's Egress");
        e.status = EgressStatus {
            egress_node: Some(WORKERS[1].into()),
            ..EgressStatus::unassigned(None)
        };
        e.status.egress_ip = e.ip;
        c
    }

    fn routes_of(c: &ClusterState, node: &str) -> Vec<(String, &'static str, String)> {
        let bgp = node_bgp(c, c.node_id(node).expect("a node")).expect("a speaker");
        bgp.routes
            .iter()
            .map(|r| (r.prefix.to_string(), r.kind.as_str(), r.object.clone()))
            .collect()
    }

    #[test]
    fn every_selected_node_advertises_service_ips_and_only_the_holder_its_egress_ip() {
        let c = cluster_with(&[policy("p", WORKERS_ONLY, EVERYTHING)]);
        let svc = &c.services["yelb/yelb-ui"];
        let (cip, lb) = (
            svc.cluster_ip.expect("a ClusterIP"),
            svc.lb_ip.expect("an external IP"),
        );
        let egress_ip = c.egress.egresses["egress-vlan"].ip.expect("allocated");
        let vm2 = routes_of(&c, WORKERS[1]);
        assert_eq!(
            vm2,
            vec![
                (
                    format!("{cip}/32"),
                    "ServiceClusterIP",
                    "yelb/yelb-ui".into()
                ),
                (
                    format!("{lb}/32"),
                    "ServiceLoadBalancerIP",
                    "yelb/yelb-ui".into()
                ),
                (format!("{egress_ip}/32"), "EgressIP", "egress-vlan".into()),
                (
                    c.node(c.node_id(WORKERS[1]).unwrap()).pod_cidr.to_string(),
                    "NodeIPAMPodCIDR",
                    String::new()
                ),
            ]
        );
        // vm-1 does not hold the Egress: the same minus its route.
        let vm1 = routes_of(&c, WORKERS[0]);
        assert_eq!(vm1.len(), 3);
        assert!(vm1.iter().all(|(_, kind, _)| *kind != "EgressIP"));
        // The IPv4 peers, each key once.
        let bgp = node_bgp(&c, c.node_id(WORKERS[0]).unwrap()).unwrap();
        let keys: Vec<String> = bgp.peers.iter().map(|p| p.key()).collect();
        assert_eq!(keys, ["10.30.67.1-65000"]);
        assert_eq!(peer_column(bgp.peers[0]), "10.30.67.1:179");
        // The control plane is not selected.
        let cp = c.node_id("k8s-cp-vm-1-cl-02").expect("the control plane");
        assert_eq!(node_bgp(&c, cp), Err(NoSpeaker::NoPolicy));
    }

    #[test]
    fn local_traffic_policies_need_an_endpoint_on_the_node() {
        let mut c = cluster_with(&[policy("p", WORKERS_ONLY, EVERYTHING)]);
        // ETP Local, ITP Cluster, no yelb-ui Pod anywhere: the ClusterIP is
        // still advertised, the external IP is not (TestServiceLifecycle).
        let svc = c.services.get_mut("yelb/yelb-ui").unwrap();
        svc.spec.external_traffic_policy = TrafficPolicy::Local;
        let kinds: Vec<&str> = routes_of(&c, WORKERS[0]).into_iter().map(|r| r.1).collect();
        assert_eq!(kinds, ["ServiceClusterIP", "NodeIPAMPodCIDR"]);
        // ITP Local too: nothing of the Service.
        let svc = c.services.get_mut("yelb/yelb-ui").unwrap();
        svc.spec.internal_traffic_policy = TrafficPolicy::Local;
        let kinds: Vec<&str> = routes_of(&c, WORKERS[0]).into_iter().map(|r| r.1).collect();
        assert_eq!(kinds, ["NodeIPAMPodCIDR"]);
    }

    #[test]
    fn egress_ips_need_the_egress_gate_and_follow_the_status() {
        let mut c = cluster_with(&[policy("p", WORKERS_ONLY, EVERYTHING)]);
        // Moved to vm-3 (TestEgressLifecycle): vm-2 withdraws, vm-3 advertises.
        c.egress
            .egresses
            .get_mut("egress-vlan")
            .unwrap()
            .status
            .egress_node = Some(WORKERS[2].into());
        assert!(routes_of(&c, WORKERS[1]).iter().all(|r| r.1 != "EgressIP"));
        assert!(routes_of(&c, WORKERS[2]).iter().any(|r| r.1 == "EgressIP"));
        c.settings.agent_gates.insert("Egress".into(), false);
        assert!(routes_of(&c, WORKERS[2]).iter().all(|r| r.1 != "EgressIP"));
    }

    #[test]
    fn the_oldest_matching_policy_takes_effect() {
        let older = policy("older", WORKERS_ONLY, "  listenPort: 1179\n");
        let newer = policy("newer", ALL, EVERYTHING);
        let mut c = cluster_with(&[older, newer.clone()]);
        let vm1 = c.node_id(WORKERS[0]).unwrap();
        let cp = c.node_id("k8s-cp-vm-1-cl-02").unwrap();
        assert_eq!(node_bgp(&c, vm1).unwrap().policy.meta.name, "older");
        assert!(node_bgp(&c, vm1).unwrap().routes.is_empty());
        assert_eq!(node_bgp(&c, cp).unwrap().policy.meta.name, "newer");
        // An update keeps its place; a delete hands over to the alternative.
        c.bgp_policies.apply(&newer);
        assert_eq!(node_bgp(&c, vm1).unwrap().policy.meta.name, "older");
        assert_eq!(
            c.bgp_policies.delete("older"),
            Some(vec!["BGPPolicy older deleted".to_string()])
        );
        assert_eq!(node_bgp(&c, vm1).unwrap().policy.meta.name, "newer");
        assert_eq!(c.bgp_policies.delete("older"), None);
        let names: Vec<&str> = c
            .bgp_policies
            .iter()
            .map(|p| p.meta.name.as_str())
            .collect();
        assert_eq!(names, ["newer"]);
    }

    #[test]
    fn the_router_id_is_the_annotation_else_the_node_ip() {
        let mut c = cluster_with(&[policy("p", WORKERS_ONLY, "")]);
        let vm1 = c.node_id(WORKERS[0]).unwrap();
        assert_eq!(node_bgp(&c, vm1).unwrap().router_id, c.node(vm1).ip);
        c.node_annotations_mut(vm1)
            .insert(ROUTER_ID_ANNOTATION.into(), "10.255.0.1".into());
        assert_eq!(
            node_bgp(&c, vm1).unwrap().router_id,
            Ipv4Addr::new(10, 255, 0, 1)
        );
        c.node_annotations_mut(vm1)
            .insert(ROUTER_ID_ANNOTATION.into(), "fec0::1".into());
        assert_eq!(
            node_bgp(&c, vm1),
            Err(NoSpeaker::SyncFails(
                "BGP router ID should be an IPv4 address string".into()
            ))
        );
    }

    #[test]
    fn without_the_gate_no_node_runs_a_speaker() {
        let mut c = cluster_with(&[policy("p", ALL, EVERYTHING)]);
        c.settings.agent_gates.insert(GATE.into(), false);
        let vm1 = c.node_id(WORKERS[0]).unwrap();
        let e = node_bgp(&c, vm1).unwrap_err();
        assert_eq!(e, NoSpeaker::GateOff);
        assert_eq!(
            e.antctl_error(),
            "request to server failed: Service Unavailable: bgp is not enabled"
        );
    }

    /// antctl's tables: rows sorted as text, `<NONE>` for the Pod CIDR's
    /// object, the error when no policy applies.
    #[test]
    fn antctl_views() {
        let c = cluster_with(&[policy("advertise-all", WORKERS_ONLY, EVERYTHING)]);
        let routes = crate::report::bgp::routes(&c, WORKERS[1]).unwrap();
        let policy = crate::report::bgp::effective_policy(&c, WORKERS[1]).unwrap();
        let none = crate::report::bgp::routes(&c, "k8s-cp-vm-1-cl-02").unwrap();
        insta::assert_snapshot!(format!(
            "{}\n{routes}\n{policy}\n{none}",
            crate::report::bgp::policies(&c)
        ));
        assert!(crate::report::bgp::routes(&c, "nope").is_err());
    }

    /// After TestBGPPolicyUpdate and TestBGPPolicyDelete: what restarts the
    /// speaker and what is changed in place.
    #[test]
    fn a_new_configuration_restarts_the_speaker_only_for_global_settings() {
        let peers = "  bgpPeers:\n    - address: 10.160.1.1\n      asn: 65000\n    - address: 10.160.1.2\n      asn: 65000\n";
        let ads = "  advertisements:\n    pod: {}\n";
        let base = policy("p", WORKERS_ONLY, &format!("{ads}{peers}"));
        let c = cluster_with(&[base]);
        let vm1 = c.node_id(WORKERS[0]).unwrap();
        let first = node_bgp(&c, vm1).unwrap().config();
        let pod_cidr = c.node(vm1).pod_cidr;
        // A first sync starts a speaker with every peer and route.
        let start = reconcile(None, Some(&first));
        assert_eq!(start.len(), 4);
        assert_eq!(start[0], SpeakerChange::Start);
        assert_eq!(start[3], SpeakerChange::Advertise(pod_cidr));
        assert!(reconcile(Some(&first), Some(&first)).is_empty());
        // Peers: one added, one changed (its GR time), one removed; no restart.
        let mut changed = first.clone();
        changed.peers[0].graceful_restart_secs = 60;
        changed.peers.remove(1);
        let added = BgpPeer {
            address: "10.160.1.3".parse().unwrap(),
            port: 179,
            asn: 65001,
            multihop_ttl: 1,
            graceful_restart_secs: 120,
        };
        changed.peers.push(added.clone());
        assert_eq!(
            reconcile(Some(&first), Some(&changed)),
            vec![
                SpeakerChange::AddPeer(added),
                SpeakerChange::UpdatePeer(changed.peers[0].clone()),
                SpeakerChange::RemovePeer(first.peers[1].clone()),
            ]
        );
        // Advertisements changed: routes only.
        let mut fewer = first.clone();
        fewer.routes.clear();
        assert_eq!(
            reconcile(Some(&first), Some(&fewer)),
            vec![SpeakerChange::Withdraw(pod_cidr)]
        );
        // Another policy with the same global settings takes over: no restart.
        let mut renamed = first.clone();
        renamed.policy = "other".into();
        assert!(reconcile(Some(&first), Some(&renamed)).is_empty());
        // localASN, listenPort, router ID, confederation: a restart.
        for edit in [
            |c: &mut SpeakerConfig| c.local_asn = 64513,
            |c: &mut SpeakerConfig| c.listen_port = 1179,
            |c: &mut SpeakerConfig| c.router_id = Ipv4Addr::new(10, 255, 0, 1),
            |c: &mut SpeakerConfig| c.confederation = Some((65100, [64513].into())),
        ] {
            let mut other = first.clone();
            edit(&mut other);
            let steps = reconcile(Some(&first), Some(&other));
            assert_eq!(&steps[..2], &[SpeakerChange::Stop, SpeakerChange::Start]);
            assert_eq!(steps.len(), 5, "{steps:?}");
        }
        // No policy any more: the speaker stops.
        assert_eq!(reconcile(Some(&first), None), vec![SpeakerChange::Stop]);
        assert!(reconcile(None, None).is_empty());
    }
}
