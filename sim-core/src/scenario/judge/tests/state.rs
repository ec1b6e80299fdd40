//! ARP, MAC table, Egress and ServiceExternalIP expectations, and the
//! observations both sides compare.

use super::*;

const NODE_MAC: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0, 0, 1]);
const OTHER_MAC: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0, 0, 2]);

fn arp_lab(entry: Option<ArpSeen>) -> FakeLab {
    let mut lab = FakeLab::default();
    lab.ifaces
        .insert(("node-1".into(), "eth0".into()), NODE_MAC);
    lab.arp.insert(
        "core-sw".into(),
        entry.into_iter().map(|e| (ip("10.0.0.5"), e)).collect(),
    );
    lab
}

fn arp_expect(mac: Option<&str>, state: Option<&str>) -> ExpectKind {
    ExpectKind::Arp {
        device: "core-sw".into(),
        ip: ip("10.0.0.5"),
        mac: mac.map(|m| MacRef::Iface(m.into())),
        state: state.map(str::to_string),
    }
}

#[test]
fn arp_entries_by_mac_and_state() {
    let reachable = ArpSeen {
        mac: Some(NODE_MAC),
        state: Seen::Is("REACHABLE".into()),
    };
    let lab = arp_lab(Some(reachable.clone()));
    let j = judge(&lab, &arp_expect(Some("node-1/eth0"), Some("reachable")));
    assert_eq!(
        (j.passed, j.message.as_str()),
        (true, "core-sw ARP 10.0.0.5 -> bc:24:11:00:00:01 reachable")
    );
    assert_eq!(
        j.observed,
        vec![Observed {
            what: "core-sw ARP 10.0.0.5".into(),
            value: "bc:24:11:00:00:01".into()
        }]
    );
    assert_eq!(
        verdict(&lab, &arp_expect(None, Some("stale"))),
        (
            false,
            "core-sw ARP 10.0.0.5 stale; but found bc:24:11:00:00:01 REACHABLE".into()
        )
    );
    assert!(judge(&lab, &arp_expect(None, Some("present"))).passed);
    assert_eq!(
        verdict(&lab, &arp_expect(None, Some("absent"))).1,
        "core-sw ARP 10.0.0.5 absent; but found bc:24:11:00:00:01 REACHABLE"
    );
    let other = arp_lab(Some(ArpSeen {
        mac: Some(OTHER_MAC),
        ..reachable.clone()
    }));
    assert_eq!(
        verdict(&other, &arp_expect(Some("node-1/eth0"), None)),
        (
            false,
            "core-sw ARP 10.0.0.5 -> bc:24:11:00:00:01; but found bc:24:11:00:00:02 REACHABLE"
                .into()
        )
    );
    let incomplete = arp_lab(Some(ArpSeen {
        mac: None,
        state: Seen::Is("INCOMPLETE".into()),
    }));
    assert!(!judge(&incomplete, &arp_expect(Some("node-1/eth0"), None)).passed);
    assert_eq!(
        judge(&incomplete, &arp_expect(None, None)).observed[0].value,
        "(none)"
    );
    let none = arp_lab(None);
    assert_eq!(
        verdict(&none, &arp_expect(None, None)),
        (false, "core-sw ARP 10.0.0.5; but found no entry".into())
    );
    assert!(judge(&none, &arp_expect(None, Some("absent"))).passed);
    assert_eq!(
        judge(&none, &arp_expect(None, None)).observed[0].value,
        "no entry"
    );
}

#[test]
fn arp_state_a_side_cannot_compare_is_said_and_not_judged() {
    let lab = FakeLab {
        name: Some("real"),
        ..arp_lab(Some(ArpSeen {
            mac: Some(NODE_MAC),
            state: Seen::Unobservable("timers differ"),
        }))
    };
    assert_eq!(
        verdict(&lab, &arp_expect(Some("node-1/eth0"), Some("stale"))),
        (
            true,
            "core-sw ARP 10.0.0.5 -> bc:24:11:00:00:01 stale (not observable for real: ARP state (timers differ))".into()
        )
    );
    let lab = FakeLab {
        name: Some("real"),
        ..arp_lab(Some(ArpSeen {
            mac: Some(OTHER_MAC),
            state: Seen::Unobservable("timers differ"),
        }))
    };
    assert_eq!(
        verdict(&lab, &arp_expect(Some("node-1/eth0"), Some("stale"))).1,
        "core-sw ARP 10.0.0.5 -> bc:24:11:00:00:01 stale; but found bc:24:11:00:00:02 (not observable for real: ARP state (timers differ))"
    );
}

#[test]
fn arp_and_mac_refuse_what_is_not_there() {
    let lab = arp_lab(None);
    let mut on_router = arp_expect(None, None);
    if let ExpectKind::Arp { device, .. } = &mut on_router {
        *device = "router".into();
    }
    assert_eq!(
        verdict(&lab, &on_router),
        (false, "no device router".into())
    );
    assert_eq!(
        verdict(&lab, &arp_expect(Some("node-1/eth9"), None)),
        (false, "node-1 has no interface eth9".into())
    );
    assert_eq!(
        verdict(&lab, &arp_expect(Some("eth0"), None)),
        (false, "expected device/iface".into())
    );
    let mac = ExpectKind::Mac {
        switch: "vmbr9".into(),
        vlan: 181,
        mac: MacRef::Literal(NODE_MAC),
        port: None,
        absent: false,
    };
    assert_eq!(verdict(&lab, &mac), (false, "no device vmbr9".into()));
}

#[test]
fn mac_table_entries_by_port_or_absence() {
    let mut lab = FakeLab {
        switches: vec!["vmbr0"],
        ..FakeLab::default()
    };
    lab.ifaces
        .insert(("node-2".into(), "eth0".into()), NODE_MAC);
    let mac = |port: Option<&str>, absent: bool| ExpectKind::Mac {
        switch: "vmbr0".into(),
        vlan: 181,
        mac: MacRef::Iface("node-2/eth0".into()),
        port: port.map(str::to_string),
        absent,
    };
    assert_eq!(
        verdict(&lab, &mac(Some("node-vm-2"), false)),
        (
            false,
            "vmbr0 MAC table vlan 181 bc:24:11:00:00:01 on node-vm-2; but found no entry".into()
        )
    );
    assert!(judge(&lab, &mac(None, true)).passed);
    lab.macs
        .insert(("vmbr0".into(), 181, NODE_MAC), "node-vm-2".into());
    assert!(judge(&lab, &mac(Some("node-vm-2"), false)).passed);
    assert!(judge(&lab, &mac(None, false)).passed);
    assert_eq!(
        verdict(&lab, &mac(Some("node-vm-1"), false)).1,
        "vmbr0 MAC table vlan 181 bc:24:11:00:00:01 on node-vm-1; but found node-vm-2"
    );
    assert_eq!(
        verdict(&lab, &mac(None, true)),
        (
            false,
            "vmbr0 MAC table vlan 181 bc:24:11:00:00:01 absent; but found node-vm-2".into()
        )
    );
    // Another VLAN's entry is not this one.
    let mut other_vlan = mac(None, false);
    if let ExpectKind::Mac { vlan, .. } = &mut other_vlan {
        *vlan = 216;
    }
    assert!(!judge(&lab, &other_vlan).passed);
}

fn egress_lab(node: EgressNode, holders: &[&str]) -> FakeLab {
    let mut lab = FakeLab {
        nodes: vec!["vm-1", "vm-2", "vm-3"],
        ..FakeLab::default()
    };
    lab.egresses.insert(
        "eg".into(),
        EgressSeen {
            held: HeldIp {
                ip: Some(ip("172.18.181.40")),
                holders: holders.iter().map(|h| h.to_string()).collect(),
            },
            status_ip: Some(ip("172.18.181.40")),
            node,
        },
    );
    lab
}

fn egress_expect(node: Option<Option<&str>>, egress_ip: Option<Option<&str>>) -> ExpectKind {
    ExpectKind::Egress {
        name: "eg".into(),
        node: node.map(|n| n.map(str::to_string)),
        ip: egress_ip.map(|i| i.map(ip)),
        held_by: None,
    }
}

#[test]
fn egress_node_is_the_status_where_the_side_has_one() {
    // The holder died; the status still names it until another takes it.
    let lab = egress_lab(EgressNode::Status(Some("vm-2".into())), &[]);
    let j = judge(
        &lab,
        &egress_expect(Some(Some("vm-2")), Some(Some("172.18.181.40"))),
    );
    assert_eq!(
        (j.passed, j.message.as_str()),
        (true, "Egress eg on vm-2, IP 172.18.181.40")
    );
    let fields: Vec<(&str, &str)> = j
        .observed
        .iter()
        .map(|o| (o.what.as_str(), o.value.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("Egress eg IP", "172.18.181.40"),
            ("Egress eg node", "none")
        ]
    );
    assert_eq!(
        verdict(&lab, &egress_expect(Some(Some("vm-1")), Some(None))),
        (
            false,
            "Egress eg on vm-1, IP none; but status.egressNode is vm-2; status.egressIP is 172.18.181.40".into()
        )
    );
    let empty = egress_lab(EgressNode::Status(None), &[]);
    assert!(judge(&empty, &egress_expect(Some(None), None)).passed);
    assert_eq!(
        verdict(&empty, &egress_expect(Some(Some("vm-1")), None)).1,
        "Egress eg on vm-1; but status.egressNode is empty"
    );
}

#[test]
fn egress_node_is_the_holder_where_the_side_has_no_status() {
    let lab = egress_lab(EgressNode::Holders, &["vm-1"]);
    assert!(judge(&lab, &egress_expect(Some(Some("vm-1")), None)).passed);
    assert_eq!(
        verdict(&lab, &egress_expect(Some(None), None)),
        (false, "Egress eg on no node; but IP held by vm-1".into())
    );
    let split = egress_lab(EgressNode::Holders, &["vm-1", "vm-3"]);
    assert_eq!(
        verdict(&split, &egress_expect(Some(Some("vm-1")), None)).1,
        "Egress eg on vm-1; but IP held by vm-1, vm-3"
    );
    let none = egress_lab(EgressNode::Holders, &[]);
    assert!(judge(&none, &egress_expect(Some(None), None)).passed);
    assert_eq!(
        verdict(&none, &egress_expect(Some(Some("vm-2")), None)).1,
        "Egress eg on vm-2; but IP held by none"
    );
}

/// `heldBy` is the exact set of holders on either side: two nodes holding
/// one IP (a split brain) is what it is for.
#[test]
fn held_by_is_every_holder_whatever_the_status_says() {
    let held_by = |nodes: &[&str]| ExpectKind::Egress {
        name: "eg".into(),
        node: None,
        ip: None,
        held_by: Some(nodes.iter().map(|n| n.to_string()).collect()),
    };
    for node in [EgressNode::Status(Some("vm-1".into())), EgressNode::Holders] {
        let split = egress_lab(node, &["vm-3", "vm-1"]);
        assert_eq!(
            verdict(&split, &held_by(&["vm-1", "vm-3"])),
            (true, "Egress eg held by vm-1, vm-3".into())
        );
        assert_eq!(
            verdict(&split, &held_by(&["vm-1"])),
            (
                false,
                "Egress eg held by vm-1; but IP held by vm-1, vm-3".into()
            )
        );
        assert_eq!(
            verdict(&split, &held_by(&[])).1,
            "Egress eg held by none; but IP held by vm-1, vm-3"
        );
    }
}

/// Both sides refuse an Egress that does not exist and a node that is not
/// in the topology, whatever they observe (real mode used to judge a
/// missing Egress by its holders: none).
#[test]
fn an_egress_or_node_that_does_not_exist_is_refused_on_every_side() {
    for node in [EgressNode::Status(None), EgressNode::Holders] {
        let lab = egress_lab(node, &[]);
        let mut missing = egress_expect(Some(None), None);
        if let ExpectKind::Egress { name, .. } = &mut missing {
            *name = "nope".into();
        }
        assert_eq!(
            verdict(&lab, &missing),
            (false, "Egress nope does not exist".into())
        );
        assert_eq!(
            verdict(&lab, &egress_expect(Some(Some("vm-9")), None)),
            (
                false,
                "Egress eg: `vm-9` is not a Kubernetes node of the topology".into()
            )
        );
        assert!(
            judge(&lab, &egress_expect(Some(Some("vm-9")), None))
                .observed
                .is_empty()
        );
    }
}

#[test]
fn service_external_ip_owner_and_address() {
    let mut lab = FakeLab::default();
    lab.services.insert(
        "yelb/yelb-ui".into(),
        HeldIp {
            ip: Some(ip("10.160.1.40")),
            holders: vec!["cp-1".into()],
        },
    );
    let expect =
        |node: Option<Option<&str>>, i: Option<Option<&str>>| ExpectKind::ServiceExternalIp {
            service: "yelb/yelb-ui".into(),
            node: node.map(|n| n.map(str::to_string)),
            ip: i.map(|i| i.map(ip)),
        };
    let j = judge(&lab, &expect(Some(Some("cp-1")), Some(Some("10.160.1.40"))));
    assert_eq!(
        (j.passed, j.message.as_str()),
        (
            true,
            "ServiceExternalIP of yelb/yelb-ui owned by cp-1, external IP 10.160.1.40"
        )
    );
    assert_eq!(j.observed.len(), 2);
    assert_eq!(j.observed[1].value, "cp-1");
    assert_eq!(
        verdict(&lab, &expect(Some(None), Some(None))).1,
        "ServiceExternalIP of yelb/yelb-ui owned by no node, external IP none; but owned by cp-1; external IP is 10.160.1.40"
    );
    lab.services.get_mut("yelb/yelb-ui").unwrap().holders = vec!["cp-1".into(), "vm-2".into()];
    assert_eq!(
        verdict(&lab, &expect(Some(Some("cp-1")), None)).1,
        "ServiceExternalIP of yelb/yelb-ui owned by cp-1; but owned by cp-1 and vm-2"
    );
    lab.services.get_mut("yelb/yelb-ui").unwrap().holders = Vec::new();
    assert_eq!(
        verdict(&lab, &expect(Some(Some("cp-1")), None)).1,
        "ServiceExternalIP of yelb/yelb-ui owned by cp-1; but owned by no node"
    );
    assert_eq!(
        verdict(
            &lab,
            &ExpectKind::ServiceExternalIp {
                service: "yelb/none".into(),
                node: None,
                ip: None
            }
        ),
        (false, "Service yelb/none does not exist".into())
    );
}

#[test]
fn observations_are_what_both_sides_compare() {
    // The same expectation over two sides that differ only in who holds
    // the Egress IP: the same fields, one value apart.
    let sim = egress_lab(EgressNode::Status(Some("vm-2".into())), &["vm-2"]);
    let real = egress_lab(EgressNode::Holders, &["vm-1"]);
    let e = egress_expect(Some(Some("vm-2")), None);
    let (s, r) = (judge(&sim, &e), judge(&real, &e));
    assert!(s.passed && !r.passed);
    let differ: Vec<&str> = s
        .observed
        .iter()
        .zip(&r.observed)
        .filter(|(a, b)| {
            assert_eq!(a.what, b.what);
            a.value != b.value
        })
        .map(|(a, _)| a.what.as_str())
        .collect();
    assert_eq!(differ, vec!["Egress eg node"]);
}

#[test]
fn a_route_expectation_compares_the_whole_set_of_next_hops() {
    let mut lab = FakeLab::default();
    let to: ipnet::Ipv4Net = "10.169.1.40/32".parse().unwrap();
    lab.routes.insert(
        "core-sw".into(),
        BTreeMap::from([(to, vec![ip("10.160.1.25"), ip("10.160.1.26")])]),
    );
    let expect = |via: &[&str]| ExpectKind::Route {
        device: "core-sw".into(),
        to,
        via: via.iter().map(|v| ip(v)).collect(),
    };
    let (ok, msg) = verdict(&lab, &expect(&["10.160.1.25", "10.160.1.26"]));
    assert!(ok, "{msg}");
    assert_eq!(
        msg,
        "core-sw routes 10.169.1.40/32 via 10.160.1.25, 10.160.1.26"
    );
    // One next hop too few, or too many: the set is what is judged.
    let (ok, msg) = verdict(&lab, &expect(&["10.160.1.25"]));
    assert!(!ok);
    assert!(msg.ends_with("found 10.160.1.25, 10.160.1.26"), "{msg}");
    let (ok, msg) = verdict(&lab, &expect(&[]));
    assert!(!ok);
    assert!(
        msg.starts_with("core-sw has no route to 10.169.1.40/32"),
        "{msg}"
    );
    // No such prefix: no route; no such device: refused.
    let other: ipnet::Ipv4Net = "10.9.0.0/16".parse().unwrap();
    let none = ExpectKind::Route {
        device: "core-sw".into(),
        to: other,
        via: Vec::new(),
    };
    assert!(verdict(&lab, &none).0);
    let missing = ExpectKind::Route {
        device: "nope".into(),
        to,
        via: Vec::new(),
    };
    let (ok, msg) = verdict(&lab, &missing);
    assert!(!ok && msg.contains("no device nope"), "{msg}");
}
