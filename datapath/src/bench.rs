//! Real-mode benchmarks (`antlab bench real-lab`, `antlab bench ovs-services`):
//! how long a lab takes to build and remove, and loading Service rules into
//! OVS as one bundle versus one `ovs-ofctl` call per flow or group.

use std::time::Duration;

use sim_core::engine::dataplane::NodeDataplane;
use sim_core::engine::proxy::{self, ProxyConfig};

use crate::apply::int_bridge_bundle;
use crate::lab::{IntBridge, Lab, LabError};
use crate::ovs::Ovs;
use crate::state::{Resource, RunState};

/// One build-and-remove of a lab.
#[derive(Clone, Debug)]
pub struct LabCycle {
    pub up: Duration,
    pub down: Duration,
    pub namespaces: usize,
    pub leftovers: Vec<String>,
}

pub fn lab_cycle(
    topology: &sim_core::model::Topology,
    source: &str,
    br_int: sim_core::engine::dataplane::BrIntMode,
) -> Result<LabCycle, LabError> {
    let t0 = crate::clock::now();
    let mut lab = Lab::up_with(topology, source, br_int)?;
    let up = t0.elapsed();
    let namespaces = lab.netns.len();
    let t1 = crate::clock::now();
    let c = lab.down();
    let down = t1.elapsed();
    let mut leftovers = crate::cleanup::leftovers(Some(&lab.prefix()));
    leftovers.extend(c.errors);
    Ok(LabCycle {
        up,
        down,
        namespaces,
        leftovers,
    })
}

#[derive(Clone, Debug)]
pub struct OvsProgramming {
    pub services: usize,
    pub flows: usize,
    pub groups: usize,
    pub bundle: Duration,
    pub per_call: Duration,
    pub calls: usize,
    /// `dump-flows`/`dump-groups` counts after each method (flows, groups).
    pub installed_bundle: (usize, usize),
    pub installed_per_call: (usize, usize),
}

fn installed(ovs: &Ovs, br: &str) -> Result<(usize, usize), LabError> {
    let flows = ovs.ofctl(&["dump-flows", br], None)?;
    let groups = ovs.ofctl(&["dump-groups", br], None)?;
    let count = |t: &str, needle: &str| t.lines().filter(|l| l.contains(needle)).count();
    Ok((count(&flows, "actions="), count(&groups, "group_id=")))
}

/// Programs the AntreaProxy ClusterIP groups and flows of `services`
/// synthetic Services (`endpoints` each) into a fresh OVS bridge, first as
/// one `ovs-ofctl bundle`, then flow by flow, and checks both installed all.
pub fn ovs_services(services: usize, endpoints: usize) -> Result<OvsProgramming, LabError> {
    let mut st = RunState::create("bench ovs-services")?;
    let result = (|| {
        let ovs = Ovs::start(&mut st)?;
        let br = format!("{}b0", st.prefix());
        st.record(Resource::Link { name: br.clone() })?;
        ovs.add_bridge(&br)?;
        let cluster =
            proxy::synthetic_services(services, endpoints, 10, sim_core::rng::DEFAULT_SEED);
        let rules = proxy::compile_node(
            &cluster.nodes[0],
            &cluster.services,
            &cluster.nodes,
            &ProxyConfig::default(),
        );
        let dp = NodeDataplane {
            service_rules: Some(std::sync::Arc::new(rules)),
            ..NodeDataplane::default()
        };
        let gw_ip = std::net::Ipv4Addr::new(10, 100, 0, 1);
        let ib = IntBridge {
            bridge: br.clone(),
            gw_link: String::new(),
            gw_ofport: 1,
            gw_mac: sim_core::engine::pipeline::gateway_mac("bench"),
            gw_ip,
        };
        let text = int_bridge_bundle(&ib, &[], &dp);
        let flows = text.lines().filter(|l| l.starts_with("flow add ")).count();
        let groups = text.lines().filter(|l| l.starts_with("group add ")).count();
        let t0 = crate::clock::now();
        ovs.ofctl(&["bundle", &br, "-"], Some(&text))?;
        let bundle = t0.elapsed();
        let installed_bundle = installed(&ovs, &br)?;
        ovs.ofctl(&["del-flows", &br], None)?;
        ovs.ofctl(&["del-groups", &br], None)?;
        let mut calls = 0;
        let t1 = crate::clock::now();
        for l in text.lines() {
            if let Some(g) = l.strip_prefix("group add ") {
                ovs.ofctl(&["add-group", &br, g], None)?;
                calls += 1;
            } else if let Some(f) = l.strip_prefix("flow add ") {
                ovs.ofctl(&["add-flow", &br, f], None)?;
                calls += 1;
            }
        }
        let per_call = t1.elapsed();
        let installed_per_call = installed(&ovs, &br)?;
        Ok(OvsProgramming {
            services,
            flows,
            groups,
            bundle,
            per_call,
            calls,
            installed_bundle,
            installed_per_call,
        })
    })();
    crate::cleanup::down(&st);
    result
}
