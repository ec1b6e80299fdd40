//! A generated cluster with many policies, the shape `antlab bench
//! policies` measures: `nodes` nodes, `pods` Pods spread round-robin over
//! them and over 100 Namespaces (`team=t<k % 10>`), each labelled
//! `app=app<i % policies>`; and `policies` policies, alternately a Kubernetes
//! NetworkPolicy (Pods `app=appK` of a Namespace take TCP 80 from
//! `app=app<K+1>` of any Namespace) and an Antrea ClusterNetworkPolicy in the Application
//! Tier (Pods `app=appK` everywhere take TCP 8080-8089 from Namespaces
//! `team=t<K % 10>`, Drop for every third). The first
//! [`SHARED_SELECTORS`] policies also take traffic from Pods labelled
//! `role=shared`: [`shared_pod`] is a Pod that many policies select.

use ipnet::Ipv4Net;

use crate::engine::pipeline::{PipelineSpec, pods_by_ofport};
use crate::engine::{ClusterState, NodeState, PodId, PodState};
use crate::k8s::parse_manifests;
use crate::model::MacAddr;

/// How many policies select a `role=shared` Pod.
pub const SHARED_SELECTORS: usize = 100;

/// Namespaces of the generated cluster.
pub const NAMESPACES: usize = 100;

fn pod_cidr(node: usize) -> Ipv4Net {
    let n = node as u32;
    Ipv4Net::new(
        std::net::Ipv4Addr::from((10 << 24) | ((n >> 8 & 0xff) << 16) | ((n & 0xff) << 8)),
        24,
    )
    .expect("a /24")
}

/// The generated cluster (module docs), its policies admitted.
pub fn cluster(nodes: usize, pods: usize, policies: usize) -> Result<ClusterState, String> {
    let nodes = nodes.max(1);
    let mut c = ClusterState::default();
    for n in 0..nodes {
        c.add_node(NodeState::new(
            &format!("node-{n}"),
            std::net::Ipv4Addr::from(0xc0a8_0000 + n as u32 + 1),
            pod_cidr(n),
            "eth0",
        ));
    }
    for k in 0..NAMESPACES {
        c.namespaces.insert(
            format!("ns{k}"),
            [("team".to_string(), format!("t{}", k % 10))]
                .into_iter()
                .collect(),
        );
    }
    let apps = policies.max(1);
    for i in 0..pods {
        let node = i % nodes;
        add(
            &mut c,
            node,
            &format!("ns{}", i % NAMESPACES),
            &format!("pod-{i}"),
            &[("app", &format!("app{}", i % apps))],
        )?;
    }
    let mut text = String::new();
    for k in 0..policies {
        let shared = if k < SHARED_SELECTORS {
            "\n    - podSelector: {matchLabels: {role: shared}}\n      namespaceSelector: {}"
        } else {
            ""
        };
        if k % 2 == 0 {
            text.push_str(&format!(
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: np{k}, namespace: ns{}}}\nspec:\n  podSelector: {{matchLabels: {{app: app{k}}}}}\n  ingress:\n  - from:\n    - podSelector: {{matchLabels: {{app: app{}}}}}\n      namespaceSelector: {{}}{shared}\n    ports:\n    - {{protocol: TCP, port: 80}}\n",
                k % NAMESPACES,
                (k + 1) % apps
            ));
        } else {
            let action = if k % 3 == 0 { "Drop" } else { "Allow" };
            text.push_str(&format!(
                "---\napiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {{name: acnp{k}}}\nspec:\n  priority: {}\n  appliedTo:\n  - podSelector: {{matchLabels: {{app: app{k}}}}}\n  ingress:\n  - action: {action}\n    from:\n    - namespaceSelector: {{matchLabels: {{team: t{}}}}}{shared}\n    ports:\n    - {{protocol: TCP, port: 8080, endPort: 8089}}\n",
                1 + k % 50,
                k % 10
            ));
        }
    }
    for o in parse_manifests("generated-policies.yaml", &text).map_err(|e| e.to_string())? {
        c.apply_policy_object(&o, 0, false)?;
    }
    Ok(c)
}

fn add(
    c: &mut ClusterState,
    node: usize,
    ns: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Result<PodId, String> {
    let node_id = c.nodes().nth(node).map(|n| n.id).ok_or("no such node")?;
    let ip = c.allocate_pod_ip(node_id)?;
    c.add_pod(PodState {
        id: PodId(0),
        namespace: ns.into(),
        name: name.into(),
        node: node_id,
        ip,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tcp_listen: vec![80],
        named_ports: Vec::new(),
        l7_export: None,
        ready: true,
    })
}

/// Adds a Pod labelled `role=shared` (selected by [`SHARED_SELECTORS`]
/// policies) on node 0, named `shared-N`.
pub fn shared_pod(c: &mut ClusterState, n: usize) -> Result<PodId, String> {
    add(c, 0, "ns0", &format!("shared-{n}"), &[("role", "shared")])
}

/// Node `node`'s br-int spec without policies: its transport address, Pod
/// CIDR and Pods on their ofports (MACs from the names).
pub fn node_spec(c: &ClusterState, node: crate::engine::NodeId) -> PipelineSpec {
    let n = c.node(node);
    let mut spec = PipelineSpec::new(Ipv4Net::from(n.ip), n.pod_cidr, MacAddr::from_name(&n.name));
    for (port, p) in pods_by_ofport(c, node) {
        spec.add_pod_at(port, MacAddr::from_name(&p.name), p.ip);
    }
    spec
}
