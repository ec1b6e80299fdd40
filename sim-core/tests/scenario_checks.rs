//! What `scenario::load` refuses before anything runs (each at its
//! `file:line:column`): `vlan` steps that would make a layer-2 loop or name
//! a missing port, and the limits that keep every run bounded.

use sim_core::input::InputError;
use sim_core::scenario::{self, Scenario};

/// Two switches: `p1` trunks VLAN 10 between them; `p2` on both sides is an
/// access port of VLAN 20 (a second cable, harmless while the VLANs differ).
const TWO_SWITCHES: &str = "name: two
hosts:
  - {name: h1, interfaces: [{name: eth0, addresses: [10.0.0.1/24]}]}
switches:
  - name: a
    ports:
      - {name: h, connect: h1/eth0, access: 10}
      - {name: p1, trunk: {allowed: [10]}}
      - {name: p2, access: 20}
  - name: b
    ports:
      - {name: p1, connect: a/p1, trunk: {allowed: [10]}}
      - {name: p2, connect: a/p2, access: 20}
";

fn load_with(scenario_text: &str, topology: &str) -> Result<Scenario, InputError> {
    let mut read = |rel: &str| -> Result<(String, String), String> {
        match rel {
            "t.yaml" => Ok(("t.yaml".to_string(), topology.to_string())),
            other => Err(format!("{other}: no such file")),
        }
    };
    scenario::load("s.yaml", scenario_text, &mut read)
}

fn load(scenario_text: &str) -> Result<Scenario, InputError> {
    load_with(scenario_text, TWO_SWITCHES)
}

#[test]
fn a_vlan_step_that_closes_a_loop_is_refused_at_that_step() {
    let fine = "name: s
topology: t.yaml
steps:
  - at: 1s
    vlan: {port: a/p2, proxmox: \"tag=10\"}
";
    load(fine).unwrap_or_else(|e| panic!("{e}"));
    let looped = format!("{fine}  - at: 2s\n    vlan: {{port: b/p2, proxmox: \"tag=10\"}}\n");
    let e = load(&looped).unwrap_err();
    assert_eq!((e.file.as_str(), e.line, e.column), ("s.yaml", 6, 5), "{e}");
    assert!(
        e.message.starts_with(
            "after `b/p2: tag=10`: layer-2 loop on VLAN 10: b/p2 -> a/p2, a/p1 -> b/p1"
        ),
        "{e}"
    );
    // Steps are replayed in time order, not file order: a/p2 is back on
    // VLAN 20 (at 2s) before b/p2 joins VLAN 10 (at 3s).
    let reordered = "name: s
topology: t.yaml
steps:
  - at: 1s
    vlan: {port: a/p2, proxmox: \"tag=10\"}
  - at: 3s
    vlan: {port: b/p2, proxmox: \"tag=10\"}
  - at: 2s
    vlan: {port: a/p2, proxmox: \"tag=20\"}
";
    load(reordered).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_vlan_step_on_a_missing_port_is_refused_at_load() {
    let e = load("name: s\ntopology: t.yaml\nsteps:\n  - at: 1s\n    vlan: {port: a/p9, proxmox: \"tag=10\"}\n")
        .unwrap_err();
    assert_eq!((e.line, e.column), (4, 5), "{e}");
    assert_eq!(e.message, "`a` has no port `p9` (ports: h, p1, p2)");
}
