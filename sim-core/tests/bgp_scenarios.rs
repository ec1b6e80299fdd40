//! The BGPPolicy scenarios (issue 17) in the simulator: which next hops
//! core-sw's BGP table and routing table hold, and when they change: the
//! hold timer, BFD, externalTrafficPolicy Local, an Egress failover.

mod support;

use std::net::Ipv4Addr;

use sim_core::report;
use sim_core::scenario::run::Runner;
use sim_core::time::{SimDuration, SimTime};
use support::scenarios::shipped;

fn runner(name: &str) -> Runner {
    Runner::start(shipped(name), 1, false).expect("starts")
}

fn at(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}

/// core-sw's next hops for `prefix`: its BGP table's, checked against the
/// route of origin `bgp` it forwards by.
fn next_hops(r: &Runner, prefix: &str) -> Vec<u8> {
    let w = &r.outcome().world;
    let id = w.device_id("core-sw").unwrap();
    let net = prefix.parse().unwrap();
    let rib = w.bgp_speaker(id).expect("core-sw runs BGP").rib().unwrap();
    let hops = rib.next_hops(net);
    let installed: Vec<Ipv4Addr> = w
        .device(id)
        .stack()
        .unwrap()
        .routes()
        .routes()
        .into_iter()
        .filter(|x| x.origin == "bgp" && x.dst == net)
        .flat_map(|x| x.nexthops.into_iter().filter_map(|n| n.via))
        .collect();
    assert_eq!(hops, installed, "the BGP table and the FIB agree");
    hops.iter().map(|a| a.octets()[3]).collect()
}

const LB: &str = "10.169.1.40/32";

/// When the log says `line` happened on `device`, in ms.
fn logged_at(r: &Runner, device: &str, line: &str) -> Vec<u64> {
    r.outcome()
        .world
        .log()
        .iter()
        .filter(|e| e.device == device && e.message == line)
        .map(|e| e.time.as_nanos() / 1_000_000)
        .collect()
}

#[test]
fn etp_cluster_paths_outlive_a_dead_node_until_the_hold_timer_then_etp_local_narrows_them() {
    let mut r = runner("service-external-ip-l3-bgp.yaml");
    r.advance_to(at(4_900)).unwrap();
    assert!(next_hops(&r, LB).is_empty(), "gobgp waits 5 s at least");
    r.advance_to(at(10_000)).unwrap();
    // ETP Cluster: every node the policy selects advertises the IP.
    assert_eq!(next_hops(&r, LB), [21, 22, 23, 25, 26, 27]);
    // vm-2 (.26) is off from 20 s: its path stays until the router's hold
    // timer, 90 s after the last message, the KEEPALIVE of the OPEN
    // exchange (the next would have come 30 s after the session did).
    r.advance_to(at(105_000)).unwrap();
    let up = logged_at(
        &r,
        "core-sw",
        "BGP session with 10.160.1.26 (AS 64512, router ID 10.160.1.26) Established, hold time 90s",
    );
    let down = logged_at(
        &r,
        "core-sw",
        "BGP session with 10.160.1.26 down: Hold Timer Expired sent",
    );
    assert_eq!((up.len(), down.len()), (1, 1), "{up:?} {down:?}");
    assert!((5_000..10_000).contains(&up[0]), "{up:?}");
    assert!(
        down[0] - up[0] <= 90_000 && down[0] - up[0] > 89_990,
        "{up:?} {down:?}"
    );
    assert_eq!(next_hops(&r, LB), [21, 22, 23, 25, 27]);
    // ETP Local at 130 s: the control-plane nodes run no yelb-ui Pod (and
    // vm-2 is still off).
    r.advance_to(at(131_000)).unwrap();
    assert_eq!(next_hops(&r, LB), [25, 27]);
    let w = &r.outcome().world;
    let shown = report::bgp::router(w, "core-sw").unwrap();
    assert!(shown.contains("B>* 10.169.1.40/32 [20/0] via 10.160.1.25, vlan216, weight 1, 00:00:00\n  *                       via 10.160.1.27, vlan216"), "{shown}");
    // vm-3 (.27) is off from 150 s; its path goes 210 s after its session
    // came up (its last KEEPALIVE was at 120 s of the session's life).
    r.advance_to(at(225_000)).unwrap();
    let up = logged_at(
        &r,
        "core-sw",
        "BGP session with 10.160.1.27 (AS 64512, router ID 10.160.1.27) Established, hold time 90s",
    );
    let down = logged_at(
        &r,
        "core-sw",
        "BGP session with 10.160.1.27 down: Hold Timer Expired sent",
    );
    assert_eq!((up.len(), down.len()), (1, 1), "{up:?} {down:?}");
    // Within a delayed ACK (10 ms) of it.
    assert!(
        (209_990..=210_020).contains(&(down[0] - up[0])),
        "{up:?} {down:?}"
    );
    assert_eq!(next_hops(&r, LB), [25]);
}

#[test]
fn bfd_takes_the_dead_nodes_path_out_within_a_second() {
    let mut r = runner("service-external-ip-l3-bgp-bfd.yaml");
    r.advance_to(at(20_600)).unwrap();
    assert_eq!(next_hops(&r, LB), [21, 22, 23, 25, 26, 27]);
    // Heard at 19.8 s, missed at 20.1, 20.4 and 20.7 s (300 ms x 3).
    r.advance_to(at(20_700)).unwrap();
    assert_eq!(next_hops(&r, LB), [21, 22, 23, 25, 27]);
}

#[test]
fn a_moved_egress_ip_has_two_paths_until_the_old_holders_hold_timer_expires() {
    let eip = "10.170.1.40/32";
    let mut r = runner("egress-bgp.yaml");
    r.advance_to(at(15_000)).unwrap();
    assert_eq!(next_hops(&r, eip), [26], "only the holder advertises");
    r.advance_to(at(40_000)).unwrap();
    assert_eq!(
        next_hops(&r, eip),
        [26, 27],
        "the new holder advertises; the old path stays"
    );
    r.advance_to(at(102_000)).unwrap();
    assert_eq!(next_hops(&r, eip), [27]);
}

#[test]
fn views_of_a_node_and_of_the_router() {
    let mut r = runner("service-external-ip-l3-bgp.yaml");
    r.advance_to(at(30_000)).unwrap();
    let o = r.outcome();
    let peers = report::bgp::peers(&o.world, &o.cluster, "k8s-node-vm-1-cl-02").unwrap();
    let off = report::bgp::peers(&o.world, &o.cluster, "k8s-node-vm-2-cl-02").unwrap();
    let router = report::bgp::router(&o.world, "core-sw").unwrap();
    insta::assert_snapshot!(
        "bgp_views_at_30s",
        format!("{peers}---\n{off}---\n{router}")
    );
}
