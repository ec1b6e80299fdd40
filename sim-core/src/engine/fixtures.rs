//! Test fixtures shared by the engine's tests: the blog's lab with its
//! Egress, pools and yelb-ui Service applied.

use super::ClusterState;
use crate::k8s::{Object, parse_manifests};

pub(crate) const TOPOLOGY: &str = include_str!("../../../topologies/blog-lab.yaml");
const EGRESS_POOL: &str = include_str!("../../../scenarios/manifests/blog-egress-vlan-pool.yaml");
const EGRESS: &str = include_str!("../../../scenarios/manifests/blog-egress-vlan.yaml");
const SERVICE_POOL: &str = include_str!("../../../scenarios/manifests/service-pool-l2.yaml");
const SERVICE: &str = include_str!("../../../scenarios/manifests/yelb-ui.yaml");
pub(crate) const WORKERS: [&str; 3] = [
    "k8s-node-vm-1-cl-02",
    "k8s-node-vm-2-cl-02",
    "k8s-node-vm-3-cl-02",
];

/// The blog lab with the blog's Egress on VLAN 181 (its three workers
/// labelled for the pool) and yelb-ui's external IP, every view converged.
pub(crate) fn blog_cluster() -> ClusterState {
    let topo = crate::topology::load_topology("blog-lab.yaml", TOPOLOGY).expect("topology");
    let mut c = ClusterState::from_topology(&topo);
    c.settings
        .controller_gates
        .insert("ServiceExternalIP".into(), true);
    for w in WORKERS {
        let id = c.node_id(w).expect("a worker");
        c.node_labels_mut(id)
            .insert("egress-role".into(), "egress-node".into());
    }
    let text = [EGRESS_POOL, EGRESS, SERVICE_POOL, SERVICE].join("\n---\n");
    for o in parse_manifests("objects.yaml", &text).expect("manifests") {
        match o {
            Object::ExternalIPPool(p) => {
                c.egress.apply_pool(&p, 0).expect("valid pool");
            }
            Object::Egress(e) => {
                c.egress.apply_egress(&e, 0).expect("valid Egress");
            }
            Object::Service(s) => {
                c.apply_service(&s, 0).expect("valid Service");
            }
            _ => {}
        }
    }
    c
}
