//! Real mode end to end: labs of namespaces, OVS and nftables, compared with
//! the simulator; cleanup after a kill, SIGINT and SIGTERM; scenarios real
//! mode refuses before building anything.
//!
//! Tests that build labs need root and the packages `.ci/run` installs: they
//! are `#[ignore]`d with that reason, so a plain `cargo test` lists them as
//! ignored; `cargo test -- --include-ignored` (CI) runs them, and then a
//! missing prerequisite fails them (`needs.rs`). They run one at a time
//! (their OVS daemons share the netdev datapath's tap), and each removes
//! only the lab it made: no test calls `antlab real down --all`, which
//! would take other people's finished labs too.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

#[path = "../sim-core/tests/support/needs.rs"]
mod needs;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn antlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
}

/// None = real mode can run here; else what is missing.
fn missing_real_mode() -> Option<String> {
    let missing = datapath::sys::missing_prerequisites();
    (!missing.is_empty()).then(|| missing.join(", "))
}

#[test]
fn real_mode_prerequisites_are_here_under_ci() {
    needs::guard("real mode", missing_real_mode());
}

/// Takes the one-at-a-time lock and evaluates to its guard; fails the test
/// when real mode cannot run here (it only runs when asked for).
macro_rules! need_real_mode {
    () => {{
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        needs::require(missing_real_mode());
        guard
    }};
}

fn namespaces_with(prefix: &str) -> Vec<String> {
    datapath::cleanup::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Runs `scenario` in both modes. Real failure detection is random in
/// timing: about one run in 30-50 here, the agent of the node that should
/// take over an address is a memberlist laggard (it misses every rumour
/// about the dead node and waits out its own suspicion timer, as memberlist
/// does) and an expectation placed 15 s after the power cut sees nobody
/// holding the address. Such a run exits 1 with MISMATCH lines; it is run
/// once more, loudly. A second difference fails the test, so a real
/// disagreement (which repeats) still fails, and errors (exit 2) or anything
/// left behind are never retried.
fn both(scenario: &str) -> String {
    let run = || {
        antlab()
            .args(["run", "--mode", "both", scenario])
            .output()
            .expect("antlab runs")
    };
    let mut out = run();
    let first = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.code() == Some(1) && first.contains("MISMATCH") && !first.contains("LEFT BEHIND")
    {
        eprintln!(
            "\n!!!!!!!! RETRYING {scenario}: the first run differed from the simulator:\n{}\n!!!!!!!!\n",
            first
                .lines()
                .filter(|l| l.contains("MISMATCH") || l.contains("memberlist") && l.contains("left"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        out = run();
    }
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The measured outages are part of what CI reports.
    for l in stdout
        .lines()
        .filter(|l| l.contains("longest outage") || l.contains("bring-up"))
    {
        eprintln!("{scenario}: {l}");
    }
    assert!(
        out.status.success(),
        "{scenario} in both modes failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains(" 0 differ"), "{stdout}");
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    assert!(!stdout.contains("LEFT BEHIND"), "{stdout}");
    stdout
}

fn held(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("real: ") && l.contains("expectations held"))
        .expect("summary line");
    let w: Vec<&str> = line.split_whitespace().collect();
    (w[1].parse().unwrap(), w[3].parse().unwrap())
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn egress_failover_matches_the_simulator() {
    let _g = need_real_mode!();
    let out = both("scenarios/egress-vlan-failover.yaml");
    assert_eq!(held(&out), (11, 11), "{out}");
    // Geneve with each node's br-int running the compiled program on the
    // node's own OVS: real mode loaded Antrea's program, not a bundle of
    // its own.
    assert!(
        out.contains("ovs-ofctl bundle br-int: Antrea's program"),
        "{out}"
    );
    // The failover happened for real: a memberlist Leave and the move.
    assert!(
        out.contains("memberlist: k8s-node-vm-2-cl-02 left"),
        "{out}"
    );
    assert!(
        out.contains("k8s-node-vm-1-cl-02: gratuitous ARP for 172.18.181.40"),
        "{out}"
    );
    assert!(out.contains("probe ping-ext UP again after"), "{out}");
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn clusterip_service_matches_the_simulator() {
    let _g = need_real_mode!();
    let out = both("scenarios/clusterip-service.yaml");
    assert_eq!(held(&out), (1, 1), "{out}");
    // The Service's select group was loaded into the client node's br-int.
    assert!(
        out.lines()
            .any(|l| l.contains("k8s-node-vm-1-cl-02: ovs-ofctl bundle")
                && l.contains(", 1 groups)")),
        "{out}"
    );
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn service_external_ip_l2_matches_the_simulator() {
    let _g = need_real_mode!();
    let out = both("scenarios/service-external-ip-l2.yaml");
    assert_eq!(held(&out), (9, 9), "{out}");
    assert!(
        out.contains("k8s-node-vm-1-cl-02: gratuitous ARP for 10.160.1.40"),
        "{out}"
    );
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn static_egress_matches_the_simulator() {
    let _g = need_real_mode!();
    let out = both("scenarios/egress-static-ip.yaml");
    assert_eq!(held(&out), (7, 7), "{out}");
    // The IP a node has is used, not assigned or announced; the IP no node
    // has is routed to on-link, and the kernel took that route.
    assert!(!out.contains("gratuitous ARP"), "{out}");
    assert!(!out.contains("addr replace"), "{out}");
    assert!(
        out.contains(
            "k8s-node-vm-1-cl-02: ip route replace 0.0.0.0/0 via 10.160.1.99 onlink dev eth0 table 202"
        ),
        "{out}"
    );
    // No failover: the outage lasts until the node is back.
    assert!(out.contains("probe ping-static UP again after"), "{out}");
}

/// Starts a real run and returns it once its lab is up, with the lab prefix.
fn start_run() -> (std::process::Child, String) {
    let mut child = antlab()
        .args([
            "run",
            "--mode",
            "real",
            "scenarios/egress-vlan-failover.yaml",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("antlab starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let prefix = loop {
        let line = lines.next().expect("a line").expect("utf-8");
        if let Some(rest) = line.strip_prefix("real: lab ") {
            break format!("{}-", rest.split_whitespace().next().unwrap());
        }
    };
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    // Let agents, Pods and the Egress come up.
    std::thread::sleep(Duration::from_secs(4));
    (child, prefix)
}

fn state_dir(prefix: &str) -> std::path::PathBuf {
    datapath::state::runs_root().join(&prefix[2..6])
}

fn pids_of(st: &datapath::state::RunState) -> Vec<u32> {
    st.resources
        .iter()
        .filter_map(|r| match r {
            datapath::state::Resource::Process { pid, .. } => Some(*pid),
            _ => None,
        })
        .collect()
}

/// A run killed with SIGKILL cleans nothing; `antlab real down ID` then
/// removes that lab, and nothing of it is left: namespaces, links, OVS
/// daemons, the run folder, and the netdev datapath's `ovs-netdev` tap
/// once no `ovs-vswitchd` owns it. While the owner lives, `down ID`
/// refuses to touch its lab.
#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn a_killed_run_is_removed_by_its_id() {
    let _g = need_real_mode!();
    let (mut child, prefix) = start_run();
    let id = prefix[2..6].to_string();
    assert!(
        !namespaces_with(&prefix).is_empty(),
        "the lab exists while running"
    );
    // Everything is inside the run's namespaces: OVS and the switch-side
    // veth ends live in al<id>-.ovs, not in the root namespace.
    let in_root: Vec<String> = datapath::cleanup::root_links()
        .into_iter()
        .filter(|l| l.starts_with(&prefix))
        .collect();
    assert_eq!(in_root, Vec::<String>::new());
    assert!(namespaces_with(&prefix).contains(&format!("{prefix}.ovs")));
    let st = datapath::state::RunState::load(&state_dir(&prefix)).expect("state file");
    let daemons = pids_of(&st);
    // The switches' ovsdb-server and ovs-vswitchd, and a pair for each of
    // the blog lab's six nodes (br-int runs Antrea's program on the node's
    // own OVS).
    assert_eq!(
        daemons.len(),
        2 + 2 * 6,
        "every ovsdb-server and ovs-vswitchd is recorded"
    );
    let busy = antlab().args(["real", "down", &id]).output().unwrap();
    let err = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by antlab pid"), "{err}");
    assert!(!namespaces_with(&prefix).is_empty(), "a live lab is kept");
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // A killed controller cleans nothing: everything is still there.
    assert!(!namespaces_with(&prefix).is_empty());
    assert!(daemons.iter().all(|p| datapath::state::pid_alive(*p)));
    let out = antlab().args(["real", "down", &id]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(namespaces_with(&prefix), Vec::<String>::new());
    assert_eq!(
        datapath::cleanup::leftovers(Some(&prefix)),
        Vec::<String>::new()
    );
    assert!(
        daemons.iter().all(|p| !datapath::state::pid_alive(*p)),
        "OVS daemons stopped"
    );
    assert!(
        !state_dir(&prefix).exists(),
        "run folder and OVS database removed"
    );
}

/// SIGINT and SIGTERM both remove the lab; each is named in the message
/// and gives the shell's exit status (128 + signal).
fn interrupted_run_removes_the_lab(signal: &str, code: i32, named: &str) {
    let (mut child, prefix) = start_run();
    assert!(!namespaces_with(&prefix).is_empty());
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(code), "{signal}: {err}");
    assert!(
        err.contains(&format!("interrupted by {named}; the lab was removed")),
        "{signal}: {err}"
    );
    assert_eq!(
        datapath::cleanup::leftovers(Some(&prefix)),
        Vec::<String>::new()
    );
    assert!(!state_dir(&prefix).exists());
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn ctrl_c_removes_the_lab() {
    let _g = need_real_mode!();
    interrupted_run_removes_the_lab("INT", 130, "SIGINT (Ctrl-C)");
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn sigterm_removes_the_lab_and_says_sigterm() {
    let _g = need_real_mode!();
    interrupted_run_removes_the_lab("TERM", 143, "SIGTERM");
}

#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn real_up_builds_a_lab_that_forwards_and_down_removes_it() {
    let _g = need_real_mode!();
    let out = antlab()
        .args(["real", "up", "topologies/blog-lab.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = text.split_whitespace().nth(1).expect("lab ID").to_string();
    let prefix = format!("al{id}-");
    // A node reaches the external VM through vmbr0 (VLAN 216), core-sw and
    // the firewall: every hop of the topology is real.
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{prefix}k8s-node-vm-1-cl-02"),
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "10.200.0.10",
        ])
        .output()
        .unwrap();
    // VLAN isolation: ext-vm's network is not on VLAN 216, and a node cannot
    // reach core-sw's VLAN 181 address directly on its untagged eth0.
    let arp = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{prefix}k8s-node-vm-1-cl-02"),
            "arping",
            "-c",
            "1",
            "-w",
            "1",
            "-I",
            "eth0",
            "172.18.181.1",
        ])
        .output()
        .unwrap();
    let status = antlab().args(["real", "status"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    let down = antlab().args(["real", "down", &id]).output().unwrap();
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert!(
        !arp.status.success(),
        "VLAN 181's gateway answered ARP on VLAN 216"
    );
    assert!(status.contains(&id), "{status}");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_eq!(
        datapath::cleanup::leftovers(Some(&prefix)),
        Vec::<String>::new()
    );
}

#[test]
fn without_root_real_mode_refuses_with_a_clear_error() {
    // As root, drop to `nobody` for this one command; otherwise we already
    // are a normal user.
    let out = if datapath::sys::is_root() && datapath::sys::have("setpriv") {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_antlab"),
            ])
            .args([
                "run",
                "--mode",
                "real",
                "scenarios/egress-vlan-failover.yaml",
            ])
            .output()
            .unwrap()
    } else if datapath::sys::is_root() {
        // As root the only way to test this is to drop privileges.
        needs::require(Some("`setpriv` (apt-get install util-linux)".into()));
        unreachable!()
    } else {
        antlab()
            .args([
                "run",
                "--mode",
                "real",
                "scenarios/egress-vlan-failover.yaml",
            ])
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Scenarios real mode cannot carry out are refused before anything is
/// built (no root needed to see it): exit 2, the reason, the place.
#[test]
fn scenarios_real_mode_cannot_carry_are_refused_before_the_lab_is_built() {
    for (scenario, want) in [
        (
            "scenarios/kube-proxy-ipvs-strictarp.yaml",
            "options.kubeProxy: ipvs needs IPVS, which this kernel does not have",
        ),
        (
            "tests/fixtures/real/refused-route-and-http.yaml",
            "refused-route-and-http.yaml:8:5: route on core-sw via dev `eth7`, which is not one of its interfaces",
        ),
        (
            "tests/fixtures/real/refused-route-and-http.yaml",
            "refused-route-and-http.yaml:10:5: probe web: HTTP path \"/a b\\r\\nX-Evil: 1\" must be printable ASCII",
        ),
    ] {
        for mode in ["real", "both"] {
            let out = antlab()
                .args(["run", "--mode", mode, scenario])
                .output()
                .unwrap();
            let (o, e) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(2), "{scenario}: {o}{e}");
            assert!(
                e.contains("real mode refuses this scenario (nothing was built)"),
                "{e}"
            );
            assert!(e.contains(want), "{scenario}: expected `{want}` in {e}");
            assert!(!o.contains("real: lab"), "no lab was built: {o}");
        }
    }
}

/// Every other shipped scenario real mode accepts, compared in both modes
/// (the three above check more than agreement). CI runs them all: together
/// they take about the sum of their `until`s in wall time (README, "Real
/// mode").
macro_rules! agrees_with_the_simulator {
    ($($test:ident => $file:literal),* $(,)?) => {
        /// The scenarios the tests compare, for the coverage check below.
        const COMPARED: &[&str] = &[
            "egress-vlan-failover.yaml",
            "clusterip-service.yaml",
            "service-external-ip-l2.yaml",
            "egress-static-ip.yaml",
            "flow-export.yaml",
            "l7-flow-export.yaml",
            "traffic-control.yaml",
            "network-policy.yaml",
            $($file),*
        ];
        $(
            #[test]
            #[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
            fn $test() {
                let _g = need_real_mode!();
                both(concat!("scenarios/", $file));
            }
        )*
    };
}

agrees_with_the_simulator! {
    blog_pod_ping_agrees => "blog-pod-ping.yaml",
    dsr_agrees => "dsr.yaml",
    egress_agent_options_agrees => "egress-agent-options.yaml",
    egress_garp_agrees => "egress-garp.yaml",
    egress_no_garp_agrees => "egress-no-garp.yaml",
    egress_pool_exhaustion_agrees => "egress-pool-exhaustion.yaml",
    egress_trunk_misconfig_agrees => "egress-trunk-misconfig.yaml",
    feature_gates_agrees => "feature-gates.yaml",
    mtu_agrees => "mtu.yaml",
    mtu_misconfigured_agrees => "mtu-misconfigured.yaml",
    memberlist_split_brain_agrees => "memberlist-split-brain.yaml",
    node_network_policy_agrees => "node-network-policy.yaml",
    proxyall_migration_agrees => "proxyall-migration.yaml",
    proxyall_with_kube_proxy_agrees => "proxyall-with-kube-proxy.yaml",
    readme_example_agrees => "readme-example.yaml",
    service_external_ip_l3_bfd_agrees => "service-external-ip-l3-bfd.yaml",
    service_external_ip_l3_bgp_agrees => "service-external-ip-l3-bgp.yaml",
    service_external_ip_l3_bgp_bfd_agrees => "service-external-ip-l3-bgp-bfd.yaml",
    egress_bgp_agrees => "egress-bgp.yaml",
    service_external_ip_l3_ecmp_agrees => "service-external-ip-l3-ecmp.yaml",
    service_external_ip_l3_static_route_agrees => "service-external-ip-l3-static-route.yaml",
    service_external_ip_l3_two_routes_agrees => "service-external-ip-l3-two-routes.yaml",
    topology_aware_hints_agrees => "topology-aware-hints.yaml",
    br_int_pipeline_agrees => "br-int-pipeline.yaml",
    external_node_agrees => "external-node.yaml",
}

/// The flow export scenarios: the probes agree, and the run says that the
/// flow records are not compared, and why.
#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn flow_export_probes_agree_and_records_are_said_to_be_not_compared() {
    let _g = need_real_mode!();
    for s in [
        "scenarios/flow-export.yaml",
        "scenarios/l7-flow-export.yaml",
    ] {
        let out = both(s);
        assert!(
            out.contains("not compared: FlowExporter records") && out.contains("no flow exporter"),
            "{s}: {out}"
        );
    }
}

/// The YAML real OVS's walk of Traceflow `name` printed in a run's output.
fn real_traceflow<'a>(out: &'a str, name: &str) -> &'a str {
    let after = out
        .split(&format!("Traceflow {name} from the nodes' OVS"))
        .nth(1)
        .unwrap_or_else(|| panic!("Traceflow {name} was not walked by real OVS: {out}"));
    after.split('[').next().unwrap_or(after)
}

/// network-policy agrees, and its Traceflows, walked again by each
/// node's own OVS (`ofproto/trace`), give the simulator's observations: the
/// first dropped on the web node by the SecurityOps rule, the second
/// delivered to shop/web by the Application Tier's; the live-traffic ones
/// (the probe's own SYNs, caught by the simulator) read the same.
#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn network_policy_agrees_and_real_ovs_traceflows_match() {
    let _g = need_real_mode!();
    let out = both("scenarios/network-policy.yaml");
    for name in [
        "client-to-web",
        "client-to-web-again",
        "client-web-live-dropped",
        "client-web-live",
    ] {
        assert!(
            out.contains(&format!(
                "Traceflow {name}: real OVS's observations are the simulator's"
            )),
            "{name}: {out}"
        );
    }
    let first = real_traceflow(&out, "client-to-web");
    assert!(
        first.contains("action: Dropped") && first.contains("networkPolicyRule: drop-clients"),
        "{first}"
    );
    let again = real_traceflow(&out, "client-to-web-again");
    assert!(
        again.contains("action: Delivered") && again.contains("pod: shop/web"),
        "{again}"
    );
    // The live-traffic ones: the packets the simulator caught, walked by
    // real OVS.
    let dropped = real_traceflow(&out, "client-web-live-dropped");
    assert!(
        dropped.contains("action: Received") && dropped.contains("networkPolicyRule: drop-clients"),
        "{dropped}"
    );
    let live = real_traceflow(&out, "client-web-live");
    assert!(
        live.contains("component: SpoofGuard") && live.contains("pod: shop/web"),
        "{live}"
    );
}

/// TrafficControl for real: the ports are made in each node's OVS, the
/// inline appliance is tc on tap0, both modes agree, and the Mirror's
/// Geneve port counts frames on the web Pod's node only.
#[test]
#[ignore = "needs root + openvswitch-switch and the real-mode packages; run with --include-ignored, as CI does"]
fn traffic_control_agrees_and_mirrors_on_the_web_node_only() {
    let _g = need_real_mode!();
    let out = both("scenarios/traffic-control.yaml");
    assert!(
        out.contains("ovs-vsctl add-port br-int tap0 (ovsInternal, ofport 60001)"),
        "{out}"
    );
    let tx: Vec<(String, u64)> = out
        .lines()
        .filter_map(|l| {
            let (node, rest) = l
                .split_once(" real] ")?
                .1
                .split_once(": br-int port geneve-2a00c0 tx_packets=")?;
            Some((node.to_string(), rest.trim().parse().ok()?))
        })
        .collect();
    assert_eq!(tx.len(), 12, "two shows of six nodes: {out}");
    for (node, n) in &tx {
        if node == "k8s-node-vm-1-cl-02" {
            assert!(*n > 0, "{node}: {n}");
        } else {
            assert_eq!(*n, 0, "{node}");
        }
    }
}

/// Every scenario in `scenarios/` is either compared by a test above or
/// refused by real mode before anything is built: a new scenario cannot
/// slip through untested.
#[test]
fn every_shipped_scenario_is_compared_or_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut read = |rel: &str| -> Result<(String, String), String> {
            let p = dir.join(rel);
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| e.to_string())
        };
        let scn = sim_core::scenario::load(&name, &text, &mut read).unwrap();
        let refused = !datapath::preflight::refusals(&scn).is_empty();
        let compared = COMPARED.contains(&name.as_str());
        assert!(
            refused != compared,
            "{name}: compared by a test: {compared}, refused by real mode: {refused} (exactly one must hold)"
        );
    }
}
