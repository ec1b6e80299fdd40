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

// ----- limits -------------------------------------------------------------

use sim_core::scenario::limits::{self, Footprint};

fn err_of(scenario_text: &str) -> InputError {
    match load(scenario_text) {
        Ok(_) => panic!("expected a limit error:\n{scenario_text}"),
        Err(e) => e,
    }
}

/// 1-based line and column of the first `needle` in `text`.
fn pos(text: &str, needle: &str) -> (u64, u64) {
    let at = text.find(needle).expect("needle in fixture");
    let before = &text[..at];
    (
        before.matches('\n').count() as u64 + 1,
        before.rsplit('\n').next().unwrap().chars().count() as u64 + 1,
    )
}

#[test]
fn until_and_step_times_stay_within_a_day() {
    let text = "name: s\ntopology: t.yaml\nuntil: 25h\nsteps: []\n";
    let e = err_of(text);
    assert_eq!((e.line, e.column), pos(text, "25h"));
    assert_eq!(
        e.message,
        "until 25h is past the limit of 24h of sim time a run may last"
    );
    let text = "name: s\ntopology: t.yaml\nsteps:\n  - {at: 86401s, say: late}\n";
    let e = err_of(text);
    assert_eq!((e.line, e.column), pos(text, "86401s"));
    assert!(e.message.starts_with("at 86401s is past the limit"), "{e}");
    // The last step at the limit: the run ends there, not a second later.
    let s = load("name: s\ntopology: t.yaml\nsteps:\n  - {at: 24h, say: last}\n").unwrap();
    assert_eq!(
        s.until.since(sim_core::time::SimTime::ZERO),
        limits::MAX_SIM_TIME
    );
}

const PROBE: &str = "name: s
topology: t.yaml
until: 24h
steps:
  - at: 0s
    probe: {name: p, from: h1, to: 10.0.0.9, interval: INTERVAL}
";

#[test]
fn probe_intervals_and_attempts_are_bounded() {
    let text = PROBE.replace("INTERVAL", "999us");
    let e = err_of(&text);
    assert_eq!((e.line, e.column), pos(&text, "999us"));
    assert_eq!(
        e.message,
        "probe interval 999us is below the limit of 1ms between attempts"
    );
    // Every 50 ms for a day: 1,728,001 attempts.
    let text = PROBE.replace("INTERVAL", "50ms");
    let e = err_of(&text);
    assert_eq!((e.line, e.column), (5, 5));
    assert_eq!(
        e.message,
        "with this probe (1728001 attempts, every 50ms) the probes would send 1728001 attempts; at most 1000000 fit a run (a longer interval, a `count` or a stopProbe)"
    );
    // A count, or a stop an hour later, bounds it.
    load(&PROBE.replace("INTERVAL", "50ms, count: 1000")).unwrap();
    load(&format!(
        "{}  - {{at: 1h, stopProbe: p}}\n",
        PROBE.replace("INTERVAL", "50ms")
    ))
    .unwrap();
    // Restarted after the stop, it counts again.
    let restarted = format!(
        "{}  - {{at: 1h, stopProbe: p}}\n  - at: 2h\n    probe: {{name: p, from: h1, to: 10.0.0.9, interval: 50ms}}\n",
        PROBE.replace("INTERVAL", "50ms")
    );
    let e = err_of(&restarted);
    assert_eq!(e.line, 9, "{e}");
}

#[test]
fn at_most_a_thousand_probes() {
    let mut text = String::from("name: s\ntopology: t.yaml\nuntil: 1s\nsteps:\n");
    for i in 0..=limits::MAX_PROBES {
        text.push_str(&format!(
            "  - at: 0s\n    probe: {{name: p{i}, from: h1, to: 10.0.0.9, count: 1}}\n"
        ));
    }
    let e = err_of(&text);
    assert_eq!(e.line, pos(&text, "name: p1000,").0 - 1, "{e}");
    assert_eq!(
        e.message,
        "more than 1000 probes are started; that is the limit"
    );
}

/// A topology of `n` bare nodes on one /16.
fn nodes_topology(n: u32) -> String {
    let mut topo = String::from("name: big\nnodes:\n");
    for i in 0..n {
        topo.push_str(&format!(
            "  - {{name: n{i}, podCIDR: 10.{}.{}.0/24, interfaces: [{{name: eth0, addresses: [192.168.{}.{}/16]}}]}}\n",
            64 + i / 256,
            i % 256,
            i / 250,
            i % 250 + 1
        ));
    }
    topo
}

#[test]
fn a_cluster_too_big_for_2_gib_is_refused_where_it_grows() {
    // 12,000 bare nodes: the nodes alone are past the budget (what every
    // node holds alike is held once, so 5,000 fit with their Pods).
    let topo = nodes_topology(12000);
    let text = "name: s\ntopology: t.yaml\noptions:\n  brInt: switch\nsteps: []\n";
    let e = load_with(text, &topo).unwrap_err();
    assert_eq!((e.line, e.column), pos(text, "t.yaml"));
    assert!(
        e.message.starts_with("the topology alone is 12000 nodes, 12000 devices and Pods, 0 Services with up to 0 endpoints, 0 Egresses: about"),
        "{e}"
    );
    // Pods: a Deployment of 300,000 replicas, at its apply step.
    let text = "name: s
topology: t.yaml
steps:
  - at: 1s
    say: fine so far
  - at: 2s
    apply:
      inline: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 300000
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: c, image: nginx}]}
";
    let e = err_of(text);
    assert_eq!((e.line, e.column), (6, 5), "{e}");
    assert!(
        e.message
            .starts_with("with this step the scenario has 0 nodes, 300003 devices and Pods"),
        "{e}"
    );
}

/// br-int builds its program when traffic first crosses it: 1,400 nodes
/// fit without a probe, and the probe that would make every node build its
/// program (two flows per peer each) is refused where it starts, naming
/// the flows and the lab that holds none.
#[test]
fn a_probe_that_makes_every_br_int_build_its_program_is_counted() {
    let topo = nodes_topology(1400);
    let quiet = "name: s\ntopology: t.yaml\nsteps:\n  - at: 1s\n    say: no traffic\n";
    let fits = load_with(quiet, &topo).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fits.footprint.pipeline_flows(), 0);
    let probed = format!("{quiet}  - at: 2s\n    probe: {{name: p, from: n0, to: 192.168.0.2}}\n");
    let e = load_with(&probed, &topo).unwrap_err();
    assert_eq!((e.line, e.column), (6, 5), "{e}");
    assert!(
        e.message.starts_with(
            "with this probe the br-ints build their programs, and the scenario has 1400 nodes"
        ),
        "{e}"
    );
    assert!(
        e.message
            .contains("br-int flows (`options.brInt: switch` holds none)"),
        "{e}"
    );
    let switch = probed.replace("steps:", "options:\n  brInt: switch\nsteps:");
    load_with(&switch, &topo).unwrap_or_else(|e| panic!("{e}"));
}

/// The estimate against the peaks measured with `/usr/bin/time` on
/// `antlab gen` labs, the larger of `check` (admission) and `run` (limits'
/// module doc, BENCHMARKS.md "Scale (issue 16)"): never below a peak,
/// never more than 35 % above it.
#[test]
fn the_memory_estimate_covers_every_measured_run() {
    // (nodes, devices + Pods, Services, endpoints, Egresses, peak in KiB),
    // `antlab gen --nodes N --pods P --services S --endpoints-per-service E
    // --egresses G --pools 10` (E = 1 where endpoints are fewer than
    // Services: the lab has fewer Pods).
    let runs = [
        (100, 2_111, 200, 2_000, 20, 38_716),
        (1000, 1_021, 0, 0, 0, 58_264),
        (500, 10_511, 1_000, 10_000, 100, 141_808),
        (400, 100_411, 0, 0, 0, 599_504),
        (200, 4_211, 20_000, 4_000, 0, 190_268),
        (200, 20_211, 2_000, 20_000, 0, 209_176),
        (200, 20_211, 0, 0, 0, 139_052),
        (250, 5_261, 22_000, 5_000, 0, 211_480),
        (1000, 21_021, 2_000, 20_000, 200, 280_136),
        (2000, 42_041, 4_000, 40_000, 400, 566_308),
        (3000, 63_061, 6_000, 60_000, 600, 839_204),
        (5000, 105_101, 10_000, 100_000, 1_000, 1_511_616),
    ];
    for (nodes, devices, services, endpoints, egresses, kib) in runs {
        let f = Footprint {
            nodes,
            devices,
            services,
            node_port_services: 0,
            endpoints,
            egresses,
            br_int_programs: false,
        };
        let measured = kib * 1024;
        assert!(f.bytes() >= measured, "{f} is below the measured {kib} KiB");
        assert!(
            f.bytes() <= measured * 27 / 20,
            "{f} is far above the measured {kib} KiB"
        );
    }
    // The 5,000-node lab fits; 5,200 nodes in its ratios do not.
    let lab = |n: u64| Footprint {
        nodes: n,
        devices: 21 * n + 101,
        services: 2 * n,
        node_port_services: 0,
        endpoints: 20 * n,
        egresses: n / 5,
        br_int_programs: false,
    };
    assert!(lab(5000).bytes() <= limits::MEMORY_BUDGET);
    assert!(lab(5200).bytes() > limits::MEMORY_BUDGET);
    // NodePort Services count once per node too (IPVS compiles them per node).
    let with_node_ports = Footprint {
        node_port_services: 10_000,
        ..lab(5000)
    };
    assert!(with_node_ports.bytes() > limits::MEMORY_BUDGET);
}

/// br-int's programs are counted: the 100- and 300-node generated labs with
/// every node's program built (`brInt: pipeline`, measured when every
/// br-int built its program at once) against their measured peaks,
/// and the 1,000-node lab, which fits as a switch, refused as a
/// pipeline.
#[test]
fn the_memory_estimate_counts_br_int_programs() {
    let generated = |n: u64, measured_kib: u64| {
        let f = Footprint {
            nodes: n,
            devices: 21 * n + 3,
            services: 2 * n,
            node_port_services: 0,
            endpoints: 20 * n,
            egresses: n / 5,
            br_int_programs: true,
        };
        let measured = measured_kib * 1024;
        assert!(f.bytes() >= measured, "{f}");
        assert!(f.bytes() <= measured * 7 / 5, "{f}");
        assert!(f.to_string().contains("br-int flows"), "{f}");
    };
    // `/usr/bin/time -f %M antlab run` of `antlab gen --nodes N --pods 20N
    // --services 2N --endpoints-per-service 10 --egresses N/5 --pools 10`
    // with `brInt: pipeline` (BENCHMARKS.md).
    generated(100, 170_556);
    generated(300, 1_068_092);
    let lab = |br_int_programs| Footprint {
        nodes: 1000,
        devices: 21_021,
        services: 2_000,
        node_port_services: 0,
        endpoints: 20_000,
        egresses: 200,
        br_int_programs,
    };
    assert!(lab(false).bytes() <= limits::MEMORY_BUDGET);
    assert!(lab(true).bytes() > limits::MEMORY_BUDGET);
    assert_eq!(lab(false).pipeline_flows(), 0);
}

#[test]
fn a_route_expectation_is_checked_where_written() {
    let expect = |body: &str| {
        format!(
            "name: s\ntopology: t.yaml\nsteps:\n  - at: 1s\n    expect:\n      - route: {body}\n"
        )
    };
    let fine = expect("{device: h1, to: 10.1.0.0/16, via: [10.0.0.2, 10.0.0.1]}");
    load(&fine).unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        (
            "{device: nope, to: 10.1.0.0/16, via: []}",
            "nope",
            "no device called `nope` in the topology",
        ),
        (
            "{device: h1, to: 10.1.0.0, via: []}",
            "10.1.0.0,",
            "`10.1.0.0` is not an IPv4 prefix (like 10.169.1.40/32)",
        ),
        (
            "{device: h1, to: 10.1.0.1/16, via: []}",
            "10.1.0.1/16",
            "`10.1.0.1/16` has host bits set; a route's prefix is `10.1.0.0/16`",
        ),
        (
            "{device: h1, to: 10.1.0.0/16, via: [gw]}",
            "[gw]",
            "`gw` is not an IPv4 address",
        ),
    ];
    for (body, at, message) in cases {
        let text = expect(body);
        let e = err_of(&text);
        assert_eq!((e.line, e.column), pos(&text, at), "{e}");
        assert_eq!(e.message, message);
    }
    let both = expect("{device: h1, to: 10.1.0.0/16, via: []}\n        probe: p");
    assert!(
        err_of(&both).message.contains("exactly one of"),
        "two kinds in one expectation"
    );
}
