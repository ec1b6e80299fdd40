//! `antlab gen`: a large cluster written as ordinary lab files (topology,
//! manifests, scenario), for scale runs and benchmarks.
//!
//! The shape, chosen so that the work grows with the cluster and not with
//! its square:
//! - Racks of up to 50 worker nodes. Rack `r` is VLAN `100 + r` and subnet
//!   `10.0.r.0/24`: gateway `.1` (an SVI on the L3 switch `core`), nodes from
//!   `.10`, Egress IPs from `.100` to `.254`. Each rack has a ToR switch
//!   `tor-r` whose uplink trunks only its VLAN, so an ARP broadcast reaches
//!   one rack, not the whole cluster. Nodes route everything else via `.1`.
//! - Pod CIDR `10.128.0.0/9`, node `i` gets `10.(128 + i/256).(i%256).0/24`;
//!   Pods are placed round-robin (`nodeName` and `status.podIP` given, so no
//!   scheduler runs). Service CIDR `10.96.0.0/12`.
//! - Services `svc-s` in namespaces of 100 Services each (`app-k`), each
//!   selecting `endpoints-per-service` Pods (label `app: svc-s`), TCP 80 →
//!   8080. Pods beyond `services × endpoints` back no Service.
//! - ExternalIPPools `pool-k` for racks `0..pools`: each selects up to ten
//!   nodes of its rack (label `antlab.io/egress-pool: pool-k`) and hands out
//!   that rack's `.100-.254`. Egress `egress-g` uses `pool-(g % pools)` and
//!   applies to the Pods labelled `egress: egress-g` (Pod `p` has
//!   `egress-(p % egresses)`).
//! - The scenario (options `warmStart: true`, `frameLog: false`,
//!   `kubeProxy: none`) applies everything at 0 s, powers off at 2 s the
//!   node holding the most Egress IPs (as the engine places them; ties: the
//!   first by name), and expects at the end that every Egress it held is on
//!   the node Antrea's ring picks next and that `core`'s ARP entry for the
//!   IP points at that node.
//!
//! br-int is Antrea's program, as in every scenario (Geneve between the
//! nodes, a program per node). The generated scenario measures the control
//! plane (placement, failover, ARP) and sends no Pod traffic, so no br-int
//! builds its program (`sim::World::defer_br_int_program`): a program per
//! node holds a tunnel flow per peer and the Services' flows, tens of
//! millions of flows at 1,000 nodes. A probe added to the scenario builds
//! the programs of the br-ints its frames cross.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::engine::{self, ClusterState};
use crate::k8s::{self, Object};

/// Nodes per rack at most.
pub const RACK_SIZE: usize = 50;
/// Egress-capable nodes per pool at most.
pub const EGRESS_NODES_PER_POOL: usize = 10;
/// Egress IPs per rack: `.100` to `.254`.
pub const EGRESS_IPS_PER_RACK: usize = 155;
/// When the egress node is powered off.
pub const POWER_OFF_AT_SECS: u64 = 2;
/// How long the scenario runs after that: memberlist's suspicion timeout
/// for a few thousand members is about 11-15 s, so this leaves room.
pub const RUN_AFTER_SECS: u64 = 25;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenParams {
    pub nodes: usize,
    pub pods: usize,
    pub services: usize,
    pub endpoints_per_service: usize,
    pub egresses: usize,
    pub pools: usize,
    pub seed: u64,
}

/// The generated files, named as the scenario refers to them.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `topology.yaml`
    pub topology: String,
    /// `manifests.yaml`
    pub manifests: String,
    /// `scenario.yaml`
    pub scenario: String,
    /// The node powered off, and how many Egress IPs it held.
    pub victim: Option<(String, usize)>,
    /// Egresses that move: (name, IP, new node).
    pub moves: Vec<(String, Ipv4Addr, String)>,
}

pub const TOPOLOGY_FILE: &str = "topology.yaml";
pub const MANIFESTS_FILE: &str = "manifests.yaml";
pub const SCENARIO_FILE: &str = "scenario.yaml";

struct Layout {
    rack_size: usize,
    racks: usize,
}

impl Layout {
    fn new(p: &GenParams) -> Layout {
        // With pools, every pool needs a rack of its own.
        let rack_size = p
            .nodes
            .checked_div(p.pools)
            .map_or(RACK_SIZE, |n| n.clamp(1, RACK_SIZE));
        Layout {
            rack_size,
            racks: p.nodes.div_ceil(rack_size),
        }
    }
    fn rack(&self, node: usize) -> usize {
        node / self.rack_size
    }
}

fn node_name(i: usize) -> String {
    format!("node-{i}")
}

fn node_ip(l: &Layout, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, l.rack(i) as u8, 10 + (i % l.rack_size) as u8)
}

fn pod_cidr_base(i: usize) -> (u8, u8) {
    ((128 + i / 256) as u8, (i % 256) as u8)
}

/// Checks the sizes fit the address plan.
/// The largest lab `antlab gen` writes: the 5,000-node target of the scale
/// work, a hundred thousand Pods, fifty thousand Services of at most a
/// hundred endpoints. At these sizes gen itself stays far under 2 GiB
/// (BENCHMARKS.md); whether the simulator can *run* the lab is for
/// `antlab check` to say (`scenario::limits`).
pub const MAX_NODES: usize = 5_000;
pub const MAX_PODS: usize = 100_000;
pub const MAX_SERVICES: usize = 50_000;
pub const MAX_ENDPOINTS_PER_SERVICE: usize = 100;

fn check(p: &GenParams, l: &Layout) -> Result<(), String> {
    if p.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    for (flag, value, max) in [
        ("--nodes", p.nodes, MAX_NODES),
        ("--pods", p.pods, MAX_PODS),
        ("--services", p.services, MAX_SERVICES),
        (
            "--endpoints-per-service",
            p.endpoints_per_service,
            MAX_ENDPOINTS_PER_SERVICE,
        ),
    ] {
        if value > max {
            return Err(format!("{flag} {value} is over the limit of {max}"));
        }
    }
    if l.racks > 256 {
        return Err(format!(
            "{} racks of {} nodes do not fit 10.0.0.0/16 (at most 256 racks)",
            l.racks, l.rack_size
        ));
    }
    if p.nodes > 128 * 256 {
        return Err("at most 32768 nodes fit the Pod CIDR 10.128.0.0/9".into());
    }
    if p.pods.div_ceil(p.nodes) > 253 {
        return Err("at most 253 Pods per node fit a node's /24".into());
    }
    if p.pools > l.racks {
        return Err(format!("{} pools need {} racks", p.pools, p.pools));
    }
    if p.egresses > 0 && p.pools == 0 {
        return Err("Egresses need at least one pool".into());
    }
    if p.pools > 0 && p.egresses.div_ceil(p.pools) > EGRESS_IPS_PER_RACK {
        return Err(format!(
            "at most {EGRESS_IPS_PER_RACK} Egresses per pool (one rack's .100-.254)"
        ));
    }
    if p.services > 1 << 20 {
        return Err("at most 2^20 Services fit the Service CIDR 10.96.0.0/12".into());
    }
    Ok(())
}

fn topology(p: &GenParams, l: &Layout) -> String {
    let mut t = String::with_capacity(p.nodes * 220 + l.racks * 200);
    let _ = writeln!(
        t,
        "name: gen-{}\ndescription: generated by antlab gen ({} nodes in {} racks)\ncluster: {{podCIDR: 10.128.0.0/9, serviceCIDR: 10.96.0.0/12}}\nnodes:",
        p.nodes, p.nodes, l.racks
    );
    for i in 0..p.nodes {
        let r = l.rack(i);
        let (a, b) = pod_cidr_base(i);
        let _ = write!(
            t,
            "  - name: {}\n    role: worker\n    podCIDR: 10.{a}.{b}.0/24\n",
            node_name(i)
        );
        if r < p.pools && i % l.rack_size < EGRESS_NODES_PER_POOL {
            let _ = writeln!(t, "    labels: {{antlab.io/egress-pool: pool-{r}}}");
        }
        let _ = write!(
            t,
            "    interfaces: [{{name: eth0, addresses: [{}/24]}}]\n    routes: [{{to: default, via: 10.0.{r}.1}}]\n",
            node_ip(l, i)
        );
    }
    t.push_str("switches:\n");
    for r in 0..l.racks {
        let _ = writeln!(t, "  - name: tor-{r}\n    ports:");
        let first = r * l.rack_size;
        let last = ((r + 1) * l.rack_size).min(p.nodes);
        for i in first..last {
            let _ = writeln!(
                t,
                "      - {{name: p{}, connect: {}/eth0, access: {}}}",
                i - first,
                node_name(i),
                100 + r
            );
        }
        let _ = writeln!(t, "      - {{name: up, trunk: {{allowed: [{}]}}}}", 100 + r);
    }
    t.push_str("  - name: core\n    svis:\n");
    for r in 0..l.racks {
        let _ = writeln!(t, "      - {{vlan: {}, address: 10.0.{r}.1/24}}", 100 + r);
    }
    t.push_str("    ports:\n");
    for r in 0..l.racks {
        let _ = writeln!(
            t,
            "      - {{name: tor-{r}, connect: tor-{r}/up, trunk: {{allowed: [{}]}}}}",
            100 + r
        );
    }
    t
}

fn manifests(p: &GenParams) -> String {
    let mut m = String::with_capacity(p.pods * 330 + p.services * 300);
    let namespaces = p.services.div_ceil(100).max(1);
    for k in 0..namespaces {
        let _ = write!(
            m,
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: app-{k}}}\n---\n"
        );
    }
    for k in 0..p.pools {
        let _ = write!(
            m,
            "apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {{name: pool-{k}}}\nspec:\n  ipRanges: [{{start: 10.0.{k}.100, end: 10.0.{k}.254}}]\n  nodeSelector: {{matchLabels: {{antlab.io/egress-pool: pool-{k}}}}}\n---\n"
        );
    }
    for g in 0..p.egresses {
        let _ = write!(
            m,
            "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {{name: egress-{g}}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{egress: egress-{g}}}}}}}\n  externalIPPool: pool-{}\n---\n",
            g % p.pools.max(1)
        );
    }
    for s in 0..p.services {
        let _ = write!(
            m,
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{s}, namespace: app-{}}}\nspec:\n  selector: {{app: svc-{s}}}\n  ports: [{{name: http, port: 80, targetPort: 8080, protocol: TCP}}]\n---\n",
            s / 100
        );
    }
    let backed = p.services * p.endpoints_per_service;
    for i in 0..p.pods {
        let node = i % p.nodes;
        let slot = i / p.nodes;
        let (a, b) = pod_cidr_base(node);
        let (ns, app) = if i < backed {
            let s = i / p.endpoints_per_service;
            (s / 100, format!("svc-{s}"))
        } else {
            (0, "none".to_string())
        };
        let mut labels = format!("app: {app}");
        if p.egresses > 0 {
            let _ = write!(labels, ", egress: egress-{}", i % p.egresses);
        }
        let _ = write!(
            m,
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{i}, namespace: app-{ns}, labels: {{{labels}}}}}\nspec:\n  nodeName: {}\n  containers: [{{name: web, image: nginx, ports: [{{containerPort: 8080}}]}}]\nstatus: {{podIP: 10.{a}.{b}.{}}}\n---\n",
            node_name(node),
            2 + slot
        );
    }
    m
}

/// The engine's cluster state with the generated nodes, pools and Egresses
/// (IPs allocated), no Pods or Services: what Egress placement reads.
/// `antlab bench egress` and the criterion benches time placement on it.
pub fn egress_cluster(p: &GenParams) -> Result<ClusterState, String> {
    let l = Layout::new(p);
    check(p, &l)?;
    let topo = crate::topology::load_topology(TOPOLOGY_FILE, &topology(p, &l))
        .map_err(|e| e.to_string())?;
    let objects = egress_objects(&manifests(&GenParams {
        pods: 0,
        services: 0,
        ..p.clone()
    }))?;
    cluster_with(&topo, &objects)
}

fn egress_objects(manifests: &str) -> Result<Vec<Object>, String> {
    // Only the Egress objects matter here; parse those.
    let docs: String = manifests
        .split("---\n")
        .filter(|d| d.contains("kind: ExternalIPPool") || d.contains("kind: Egress\n"))
        .collect::<Vec<_>>()
        .join("---\n");
    k8s::parse_manifests(MANIFESTS_FILE, &docs).map_err(|e| e.to_string())
}

fn cluster_with(topo: &crate::model::Topology, objects: &[Object]) -> Result<ClusterState, String> {
    let mut cluster = ClusterState::from_topology(topo);
    for o in objects {
        match o {
            Object::ExternalIPPool(pool) => {
                cluster
                    .egress
                    .apply_pool(pool, 0)
                    .map_err(|e| e.to_string())?;
            }
            Object::Egress(e) => {
                cluster.egress.apply_egress(e, 0)?;
            }
            _ => {}
        }
    }
    Ok(cluster)
}

/// Where the engine places every Egress with all nodes alive and with
/// `gone` removed: (name, IP, node).
#[allow(clippy::type_complexity)]
fn placements(
    topo: &crate::model::Topology,
    objects: &[Object],
    gone: Option<&str>,
) -> Result<Vec<(String, Ipv4Addr, Option<String>)>, String> {
    let cluster = cluster_with(topo, objects)?;
    let alive: engine::NodeSet = cluster
        .nodes()
        .filter(|n| Some(n.name.as_str()) != gone)
        .map(|n| n.id)
        .collect();
    let placed = engine::egress::placement(&cluster, &alive);
    Ok(placed
        .into_iter()
        .filter_map(|(name, node)| {
            let ip = cluster.egress.egresses[&name].ip?;
            Some((name, ip, node.map(|id| cluster.node(id).name.clone())))
        })
        .collect())
}

/// Writes the lab for `p`. Pure: the caller writes the files.
pub fn generate(p: &GenParams) -> Result<Generated, String> {
    let l = Layout::new(p);
    check(p, &l)?;
    let topology = topology(p, &l);
    let manifests = manifests(p);
    let topo =
        crate::topology::load_topology(TOPOLOGY_FILE, &topology).map_err(|e| e.to_string())?;
    let objects = egress_objects(&manifests)?;
    let before = placements(&topo, &objects, None)?;
    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, node) in &before {
        if let Some(n) = node {
            *held.entry(n.as_str()).or_default() += 1;
        }
    }
    // Most IPs first; ties go to the first name (BTreeMap order, stable max).
    let victim = held
        .iter()
        .fold(None::<(&str, usize)>, |best, (n, c)| match best {
            Some((_, bc)) if bc >= *c => best,
            _ => Some((n, *c)),
        })
        .map(|(n, c)| (n.to_string(), c));
    let mut moves = Vec::new();
    if let Some((v, _)) = &victim {
        let after = placements(&topo, &objects, Some(v))?;
        for ((name, ip, old), (_, _, new)) in before.iter().zip(&after) {
            if old.as_deref() == Some(v.as_str())
                && let Some(new) = new
            {
                moves.push((name.clone(), *ip, new.clone()));
            }
        }
    }
    let scenario = scenario(p, victim.as_ref().map(|v| v.0.as_str()), &moves);
    Ok(Generated {
        topology,
        manifests,
        scenario,
        victim,
        moves,
    })
}

fn scenario(p: &GenParams, victim: Option<&str>, moves: &[(String, Ipv4Addr, String)]) -> String {
    let until = POWER_OFF_AT_SECS + RUN_AFTER_SECS;
    let mut s = format!(
        "name: gen-{n}\ndescription: |\n  Generated by `antlab gen --nodes {n} --pods {pods} --services {svcs} --endpoints-per-service {eps} --egresses {eg} --pools {pools} --seed {seed}`.\n  A warm cluster (converged memberlist, warm ARP caches); at {off}s the node\n  holding the most Egress IPs loses power; every Egress it held must be placed\n  again and the core switch's ARP entry for its IP must follow.\ntopology: {TOPOLOGY_FILE}\nseed: {seed}\nuntil: {until}s\noptions:\n  warmStart: true\n  frameLog: false\n  kubeProxy: none\nsteps:\n  - at: 0s\n    apply: {{file: {MANIFESTS_FILE}}}\n",
        n = p.nodes,
        pods = p.pods,
        svcs = p.services,
        eps = p.endpoints_per_service,
        eg = p.egresses,
        pools = p.pools,
        seed = p.seed,
        off = POWER_OFF_AT_SECS,
    );
    if let Some(v) = victim {
        let _ = write!(
            s,
            "  - at: {POWER_OFF_AT_SECS}s\n    power: {{device: {v}, state: off}}\n"
        );
    }
    if !moves.is_empty() {
        let _ = writeln!(s, "  - at: {until}s\n    expect:");
        for (name, ip, node) in moves {
            let _ = writeln!(
                s,
                "      - egress: {{name: {name}, node: {node}}}\n      - arp: {{device: core, ip: {ip}, mac: {node}/eth0}}"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GenParams {
        GenParams {
            nodes: 20,
            pods: 60,
            services: 10,
            endpoints_per_service: 3,
            egresses: 8,
            pools: 2,
            seed: 1,
        }
    }

    #[test]
    fn same_params_same_files() {
        let a = generate(&small()).expect("generates");
        let b = generate(&small()).expect("generates");
        assert_eq!(a.topology, b.topology);
        assert_eq!(a.manifests, b.manifests);
        assert_eq!(a.scenario, b.scenario);
    }

    #[test]
    fn victim_holds_the_most_ips_and_its_egresses_move() {
        let g = generate(&small()).expect("generates");
        let (victim, held) = g.victim.expect("a node holds Egress IPs");
        assert!(held >= 1);
        assert_eq!(g.moves.len(), held, "every Egress it held moves");
        assert!(g.moves.iter().all(|(_, _, n)| *n != victim));
    }

    /// After the generated failover every running agent's view is taken
    /// from its roster at a few members (the roster is the cluster's own),
    /// and gives the node set the member-by-member walk gives; the dead
    /// node is one of the roster places left out.
    #[test]
    fn views_after_the_failover_come_from_the_roster() {
        let g = generate(&small()).expect("generates");
        let (victim, _) = g.victim.clone().expect("a victim");
        let mut read = |name: &str| -> Result<(String, String), String> {
            match name {
                TOPOLOGY_FILE => Ok((name.to_string(), g.topology.clone())),
                MANIFESTS_FILE => Ok((name.to_string(), g.manifests.clone())),
                _ => Err(format!("no file {name}")),
            }
        };
        let scn = crate::scenario::load("scenario.yaml", &g.scenario, &mut read).expect("loads");
        let until = scn.until;
        let mut runner = crate::scenario::run::Runner::start(scn, 1, false).expect("starts");
        runner.advance_to(until).expect("runs");
        let o = runner.finish();
        assert!(o.passed());
        let victim = o.cluster.node_id(&victim).expect("the victim is a node");
        let mut saw_it_gone = 0;
        for n in o.cluster.nodes().filter(|n| n.id != victim) {
            let agent = o
                .world
                .agent(n.device.expect("a device"))
                .expect("an agent");
            let split = agent
                .alive_members_split()
                .expect("started from the roster");
            let fast = o
                .cluster
                .node_set_split(&split)
                .expect("the cluster's roster");
            assert_eq!(
                fast,
                o.cluster.node_set_placed(agent.alive_members_placed())
            );
            if !fast.contains(victim) {
                assert!(split.absent.contains(&victim.index()));
                saw_it_gone += 1;
            }
        }
        assert!(saw_it_gone > 0, "some agent saw the victim die");
    }

    #[test]
    fn sizes_that_do_not_fit_are_refused() {
        let mut p = small();
        p.egresses = 400;
        assert!(generate(&p).unwrap_err().contains("Egresses per pool"));
        let mut p = small();
        p.pods = 20 * 300;
        assert!(generate(&p).unwrap_err().contains("Pods per node"));
    }
}
