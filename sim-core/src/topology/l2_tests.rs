//! Layer-2 checks through the loader: loops (with the ports in order and
//! the position of the link that closes them), duplicate MACs per broadcast
//! domain, and a property over random trees of switches.

use super::load_topology;
use crate::input::InputError;

/// Three switches, each with one host, cabled in a triangle; `pruned` is
/// the trunk of the c-a link.
fn triangle(c_to_a: &str) -> String {
    format!(
        "name: tri
hosts:
  - {{name: h1, interfaces: [{{name: eth0, addresses: [10.0.0.1/24]}}]}}
  - {{name: h2, interfaces: [{{name: eth0, addresses: [10.0.0.2/24]}}]}}
switches:
  - name: a
    ports:
      - {{name: h, connect: h1/eth0, access: 10}}
      - {{name: to-b, trunk: {{allowed: [10, 20]}}}}
      - {{name: to-c, trunk: {{allowed: [10, 20]}}}}
  - name: b
    ports:
      - {{name: h, connect: h2/eth0, access: 10}}
      - {{name: to-a, connect: a/to-b, trunk: {{allowed: [10, 20]}}}}
      - {{name: to-c, trunk: {{allowed: [10, 20]}}}}
  - name: c
    ports:
      - {{name: to-b, connect: b/to-c, trunk: {{allowed: [10, 20]}}}}
      - {{name: to-a, connect: a/to-c, {c_to_a}}}
"
    )
}

fn load_err(text: &str) -> InputError {
    match load_topology("t.yaml", text) {
        Ok(_) => panic!("expected a layer-2 error"),
        Err(e) => e,
    }
}

fn line_of(text: &str, needle: &str) -> u64 {
    let at = text.find(needle).expect("needle in fixture");
    text[..at].matches('\n').count() as u64 + 1
}

#[test]
fn a_triangle_of_switches_on_one_vlan_is_a_loop() {
    let text = triangle("trunk: {allowed: [10, 20]}");
    let e = load_err(&text);
    // Both VLANs loop; the first found is VLAN 10, closed by the last link.
    assert_eq!(
        e.message,
        "layer-2 loop on VLAN 10: c/to-a -> a/to-c, a/to-b -> b/to-a, b/to-c -> c/to-b \
         (no spanning tree here, so a broadcast would circulate forever; prune the VLAN \
         from one of these links or remove one)"
    );
    assert_eq!(e.line, line_of(&text, "{name: to-a, connect: a/to-c"));
    assert_eq!(e.file, "t.yaml");
}

#[test]
fn the_same_triangle_with_the_vlan_pruned_on_one_link_is_not_a_loop_on_it() {
    // With VLAN 20 pruned from c-a only VLAN 10 goes round, and the other way.
    let e = load_err(&triangle("trunk: {allowed: [10]}"));
    assert!(e.message.starts_with("layer-2 loop on VLAN 10:"), "{e}");
    let e = load_err(&triangle("trunk: {allowed: [20]}"));
    assert!(e.message.starts_with("layer-2 loop on VLAN 20:"), "{e}");
    // Pruned of both, or an access port of a VLAN the other end does not carry.
    load_topology("t.yaml", &triangle("access: 30")).unwrap_or_else(|e| panic!("{e}"));
    // An access port of VLAN 10 against a trunk: only untagged frames cross, and
    // the trunk has no native VLAN, so nothing does.
    load_topology("t.yaml", &triangle("access: 10")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn two_cables_between_two_switches_are_a_loop() {
    let text = "name: two
switches:
  - name: a
    ports:
      - {name: p1, trunk: {allowed: [216]}}
      - {name: p2, proxmox: \"tag=216\"}
  - name: b
    ports:
      - {name: p1, connect: a/p1, trunk: {allowed: [181, 216]}}
      - {name: p2, connect: a/p2, access: 216}
";
    let e = load_err(text);
    assert!(
        e.message
            .starts_with("layer-2 loop on VLAN 216: b/p2 -> a/p2, a/p1 -> b/p1 ("),
        "{e}"
    );
    assert_eq!((e.line, e.column), (10, 29));
}

#[test]
fn a_port_cabled_to_its_own_switch_is_a_loop_unless_the_vlans_differ() {
    let looped = "name: self
switches:
  - name: a
    ports:
      - {name: p1, access: 5}
      - {name: p2, connect: a/p1, access: 5}
";
    let e = load_err(looped);
    assert!(
        e.message
            .starts_with("layer-2 loop on VLAN 5: a/p2 -> a/p1 ("),
        "{e}"
    );
    // Two access VLANs joined by a cable: one domain, but no cycle.
    let joined = looped.replace(
        "access: 5}\n      - {name: p2",
        "access: 6}\n      - {name: p2",
    );
    load_topology("t.yaml", &joined).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_vm_with_two_nics_on_one_vlan_is_not_a_loop() {
    let text = "name: vm
hosts:
  - name: vm
    interfaces:
      - {name: eth0, addresses: [10.0.0.1/24]}
      - {name: eth1, addresses: [10.0.0.2/24]}
switches:
  - name: a
    ports:
      - {name: p1, connect: vm/eth0, access: 5}
      - {name: p2, connect: vm/eth1, access: 5}
";
    load_topology("t.yaml", text).unwrap_or_else(|e| panic!("{e}"));
}

/// Two hosts on switch `a` (VLAN 216 untagged, `second_port`'s mode for h2).
fn two_hosts(mac1: &str, mac2: &str, second_port: &str) -> String {
    format!(
        "name: macs
hosts:
  - name: h1
    interfaces:
      - {{name: eth0, mac: \"{mac1}\", addresses: [10.0.0.1/24]}}
  - name: h2
    interfaces:
      - {{name: eth0, mac: \"{mac2}\", addresses: [10.0.0.2/24]}}
      - {{name: eth0.181, vlan: {{parent: eth0, id: 181}}, addresses: [10.1.0.2/24]}}
switches:
  - name: a
    ports:
      - {{name: p1, connect: h1/eth0, proxmox: \"tag=216,trunks=181;216\"}}
      - {{name: p2, connect: h2/eth0, {second_port}}}
"
    )
}

#[test]
fn a_mac_used_twice_on_one_vlan_is_refused_at_the_second() {
    let text = two_hosts("bc:24:11:00:00:01", "bc:24:11:00:00:01", "access: 216");
    let e = load_err(&text);
    assert_eq!(
        e.message,
        "MAC bc:24:11:00:00:01 of h2/eth0 is already used by h1/eth0 on VLAN 216 \
         (one MAC per layer-2 domain, or switches flap between their ports)"
    );
    let want = text.rfind("\"bc:24:11:00:00:01\"").unwrap();
    assert_eq!(e.line, text[..want].matches('\n').count() as u64 + 1);
    // Across a second switch and a trunk it is the same domain.
    let via_trunk = text.replace(
        "      - {name: p2, connect: h2/eth0, access: 216}\n",
        "      - {name: up, trunk: {native: 216}}\n  - name: b\n    ports:\n      - {name: down, connect: a/up, trunk: {native: 216}}\n      - {name: p2, connect: h2/eth0, access: 216}\n",
    );
    let e = load_err(&via_trunk);
    assert!(
        e.message.contains("already used by h1/eth0 on VLAN 216"),
        "{e}"
    );
}

#[test]
fn one_mac_on_different_vlans_or_unconnected_segments_is_fine() {
    // h2's untagged frames land in VLAN 100: another domain.
    load_topology(
        "t.yaml",
        &two_hosts("bc:24:11:00:00:01", "bc:24:11:00:00:01", "access: 100"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // h2 untagged in 216 and tagged 181 with the parent's MAC (Linux's
    // default for a VLAN sub-interface), h1 elsewhere: fine.
    load_topology(
        "t.yaml",
        &two_hosts(
            "bc:24:11:00:00:01",
            "bc:24:11:00:00:02",
            "proxmox: \"tag=216,trunks=181;216\"",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // h2's VLAN 181 sub-interface with h1's MAC: h1's port also carries 181
    // tagged, but h1 sends nothing tagged there, so no clash.
    let text = two_hosts(
        "bc:24:11:00:00:01",
        "bc:24:11:00:00:02",
        "proxmox: \"tag=216,trunks=181;216\"",
    )
    .replace(
        "{name: eth0.181, vlan: {parent: eth0, id: 181},",
        "{name: eth0.181, mac: \"bc:24:11:00:00:01\", vlan: {parent: eth0, id: 181},",
    );
    load_topology("t.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_svi_mac_taken_by_a_host_on_its_vlan_is_refused() {
    let text = "name: svi
hosts:
  - name: h1
    interfaces:
      - {name: eth0, mac: \"02:00:00:00:00:09\", addresses: [10.0.0.1/24]}
switches:
  - name: a
    svis: [{vlan: 5, address: 10.0.0.254/24, mac: \"02:00:00:00:00:09\"}]
    ports:
      - {name: p1, connect: h1/eth0, access: 5}
";
    let e = load_err(text);
    assert!(
        e.message
            .starts_with("MAC 02:00:00:00:00:09 of a/vlan5 is already used by h1/eth0 on VLAN 5"),
        "{e}"
    );
    assert_eq!(e.line, 8);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Write;

    /// A tree of `n` switches: switch `i > 0` hangs off `parent[i] < i`
    /// through a trunk carrying `vlans[i]` (a subset of 1..=4, bit mask),
    /// and each switch has a host on VLAN 1..=4 untagged.
    fn tree(parent: &[usize], vlans: &[u8], host_vlan: &[u16]) -> String {
        let n = parent.len();
        let mut t = String::from("name: tree\nhosts:\n");
        for i in 0..n {
            let _ = writeln!(
                t,
                "  - {{name: h{i}, interfaces: [{{name: eth0, addresses: [10.0.{}.{}/16]}}]}}",
                i / 200,
                i % 200 + 1
            );
        }
        t.push_str("switches:\n");
        for i in 0..n {
            let _ = writeln!(t, "  - name: s{i}\n    ports:");
            let _ = writeln!(
                t,
                "      - {{name: host, connect: h{i}/eth0, access: {}}}",
                host_vlan[i]
            );
            if i > 0 {
                let _ = writeln!(
                    t,
                    "      - {{name: up, connect: s{}/down{i}, trunk: {{allowed: [{}]}}}}",
                    parent[i],
                    allowed(vlans[i])
                );
            }
            for (c, p) in parent.iter().enumerate().skip(1) {
                if *p == i {
                    let _ = writeln!(
                        t,
                        "      - {{name: down{c}, trunk: {{allowed: [{}]}}}}",
                        allowed(vlans[c])
                    );
                }
            }
        }
        t
    }

    fn allowed(mask: u8) -> String {
        (1..=4u16)
            .filter(|v| mask & (1 << (v - 1)) != 0)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn arb_tree() -> impl Strategy<Value = (Vec<usize>, Vec<u8>, Vec<u16>)> {
        (2usize..12).prop_flat_map(|n| {
            (
                (0..n)
                    .map(|i| {
                        if i == 0 {
                            Just(0).boxed()
                        } else {
                            (0..i).boxed()
                        }
                    })
                    .collect::<Vec<_>>(),
                prop::collection::vec(1u8..16, n),
                prop::collection::vec(1u16..=4, n),
            )
        })
    }

    /// The VLAN masks of the tree links between switches `x` and `y`.
    fn path_masks(parent: &[usize], vlans: &[u8], x: usize, y: usize) -> Vec<u8> {
        let ancestors = |mut i: usize| {
            let mut v = vec![i];
            while i != 0 {
                i = parent[i];
                v.push(i);
            }
            v
        };
        let (ax, ay) = (ancestors(x), ancestors(y));
        let meet = *ax.iter().find(|a| ay.contains(a)).expect("root is common");
        ax.iter()
            .chain(ay.iter())
            .filter(|&&i| i != meet && (ax.contains(&i) != ay.contains(&i)))
            .map(|&i| vlans[i])
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// However the trunks prune VLANs, a tree has no loop (and its hosts'
        /// name-derived MACs never clash).
        #[test]
        fn any_tree_topology_passes((parent, vlans, host_vlan) in arb_tree()) {
            let text = tree(&parent, &vlans, &host_vlan);
            if let Err(e) = load_topology("t.yaml", &text) {
                return Err(TestCaseError::fail(format!("{e}\n{text}")));
            }
        }

        /// One extra cable between two switches of the tree loops exactly
        /// when some VLAN it carries is carried by every link of the tree
        /// path between them.
        #[test]
        fn one_extra_link_loops_iff_a_vlan_goes_all_the_way_round(
            (parent, vlans, host_vlan) in arb_tree(),
            pick in (0usize..1000, 0usize..1000),
            extra in 1u8..16,
        ) {
            let n = parent.len();
            let (x, y) = (pick.0 % n, pick.1 % n);
            prop_assume!(x != y);
            let mut text = tree(&parent, &vlans, &host_vlan);
            let _ = writeln!(text, "links:\n  - {{between: [s{x}/extra, s{y}/extra]}}");
            // Give both switches an `extra` port carrying `extra`'s VLANs.
            for s in [x, y] {
                let head = format!("  - name: s{s}\n    ports:\n");
                let port = format!(
                    "{head}      - {{name: extra, trunk: {{allowed: [{}]}}}}\n",
                    allowed(extra)
                );
                text = text.replacen(&head, &port, 1);
            }
            let round = path_masks(&parent, &vlans, x, y)
                .iter()
                .fold(extra, |m, v| m & v);
            match load_topology("t.yaml", &text) {
                Ok(_) => prop_assert_eq!(round, 0, "a loop on mask {:b} was missed\n{}", round, text),
                Err(e) => {
                    prop_assert!(round != 0, "no VLAN goes round, yet: {}\n{}", e, text);
                    prop_assert!(e.message.starts_with("layer-2 loop on VLAN "), "{}", e);
                    prop_assert!(e.message.contains(&format!("s{x}/extra")), "{}", e);
                }
            }
        }
    }
}
