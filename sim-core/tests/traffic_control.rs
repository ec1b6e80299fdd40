//! TrafficControl in the shipped scenario: the Mirror's Geneve copies reach
//! the analyzer (ext-vm) one for one and carry the web Pod's own frames;
//! the Redirect sends the shop Pods' traffic to tap0, except the web Pod's,
//! which the Mirror (applied first) is effective for.

mod support;

use std::net::Ipv4Addr;

use sim_core::scenario::{self, run::RunOptions};
use sim_core::time::{SimDuration, SimTime};
use sim_core::wire::{self, Ipv4Pkt, L4, mirror};
use support::pcap_frames;

fn run_until(secs: u64) -> scenario::run::Outcome {
    let scn = support::scenarios::shipped("traffic-control.yaml");
    scenario::run::run(
        &scn,
        1,
        &RunOptions {
            capture: true,
            stop_at: Some(SimTime::ZERO + SimDuration::from_secs(secs)),
        },
    )
    .unwrap()
}

fn capture<'a>(o: &'a scenario::run::Outcome, name: &str) -> Option<&'a [u8]> {
    o.world
        .captures()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
}

#[test]
fn mirrored_frames_reach_the_analyzer_one_for_one() {
    let o = run_until(5);
    let node = o.world.device_id("k8s-node-vm-1-cl-02").unwrap();
    let port = "geneve-2a00c0";
    let sent = o.world.tc_port_tx(node, port).expect("the Mirror's port");
    assert!(sent > 20, "{sent}");
    let web: Ipv4Addr = o.cluster.pods().find(|p| p.name == "web").unwrap().ip;
    let analyzer: Ipv4Addr = "10.200.0.10".parse().unwrap();
    let frames = pcap_frames(capture(&o, "ext-vm_eth0.pcap").expect("ext-vm saw traffic"));
    let mut copies = 0;
    for f in frames {
        let Ok((_, ip)) = wire::parse_eth(f) else {
            continue;
        };
        let Ok(pkt) = Ipv4Pkt::parse(ip) else {
            continue;
        };
        let L4::Udp {
            dst_port, payload, ..
        } = &pkt.l4
        else {
            continue;
        };
        if pkt.dst != analyzer {
            continue;
        }
        let d = mirror::decapsulate_l4(wire::proto::UDP, Some(*dst_port), payload)
            .expect("a Geneve copy");
        assert_eq!(
            d.tunnel,
            mirror::MirrorTunnel::Geneve {
                vni: 1,
                dst_port: 6081
            }
        );
        // The copy is a frame to or from the web Pod.
        let (_, inner_ip) = wire::parse_eth(d.inner).unwrap();
        let inner = Ipv4Pkt::parse(inner_ip).unwrap();
        assert!(inner.src == web || inner.dst == web, "{inner:?}");
        copies += 1;
    }
    assert_eq!(
        copies, sent,
        "every mirrored frame arrives, no other Geneve"
    );
    // Only web's node has a selected Pod; the port exists everywhere.
    let other = o.world.device_id("k8s-node-vm-2-cl-02").unwrap();
    assert_eq!(o.world.tc_port_tx(other, port), Some(0));
}

#[test]
fn the_redirect_spares_the_pod_the_mirror_binds_first() {
    // At 8 s the appliance (from 7 s) has let the shop's traffic through
    // tap0 for a second: probes cross both nodes' ports.
    let o = run_until(8);
    let client_node = o.world.device_id("k8s-node-vm-2-cl-02").unwrap();
    let web_node = o.world.device_id("k8s-node-vm-1-cl-02").unwrap();
    let redirected = o.world.tc_port_tx(client_node, "tap0").unwrap();
    assert!(redirected > 0);
    // web is selected by both; the Mirror, applied first, is effective.
    assert_eq!(o.world.tc_port_tx(web_node, "tap0"), Some(0));
    assert!(o.world.tc_port_tx(web_node, "geneve-2a00c0").unwrap() > 0);
    let tap0 = pcap_frames(capture(&o, "k8s-node-vm-2-cl-02_tc_tap0.pcap").unwrap());
    assert_eq!(tap0.len() as u64, redirected);
}
