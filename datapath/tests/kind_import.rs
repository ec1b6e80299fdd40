//! The kind import against recorded `docker inspect` and `kubectl get -o yaml`
//! output (see `tests/fixtures/kind/README.md`): parsing, every refusal with
//! its position, and the generated lab running in the simulator.

use std::path::{Path, PathBuf};

use datapath::kind::{self, KindError};
use sim_core::scenario::{self, run::RunOptions};

fn fixture(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kind")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (name.to_string(), text)
}

fn inputs() -> Vec<(String, String)> {
    [
        "docker-inspect.json",
        "nodes.yaml",
        "pods.yaml",
        "egress.yaml",
        "configmaps.yaml",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}

fn import_all() -> kind::KindImport {
    let i = inputs();
    let others: Vec<(&str, &str)> = i[2..]
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    kind::import((&i[0].0, &i[0].1), (&i[1].0, &i[1].1), &others).unwrap()
}

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

#[test]
fn docker_inspect_gives_pid_netns_and_kind_address() {
    let (f, t) = fixture("docker-inspect.json");
    let cs = kind::parse_docker_inspect(&f, &t).unwrap();
    let names: Vec<&str> = cs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "antrea-lab-control-plane",
            "antrea-lab-worker",
            "antrea-lab-worker2"
        ]
    );
    let cp = &cs[0];
    assert_eq!(
        (cp.cluster.as_str(), cp.role.as_str()),
        ("antrea-lab", "control-plane")
    );
    assert!(cp.running);
    assert_eq!(cp.pid, 41237);
    assert_eq!(cp.netns_path(), Some(PathBuf::from("/proc/41237/ns/net")));
    let net = cp.network.as_ref().unwrap();
    assert_eq!(net.address.to_string(), "172.18.0.3/16");
    assert_eq!(net.mac.to_string(), "02:42:ac:12:00:03");
    assert_eq!(net.gateway.to_string(), "172.18.0.1");
    assert_eq!(cs[2].role, "worker");
}

#[test]
fn stopped_container_parses_and_is_refused_by_the_import() {
    let (f, t) = fixture("docker-inspect-stopped.json");
    let cs = kind::parse_docker_inspect(&f, &t).unwrap();
    let w2 = &cs[2];
    assert!(!w2.running);
    assert_eq!((w2.status.as_str(), w2.pid), ("exited", 0));
    assert_eq!(w2.netns_path(), None);
    // Docker clears a stopped container's address but keeps the network entry.
    assert_eq!(w2.network, None);

    let (nf, nt) = fixture("nodes.yaml");
    let err = kind::import((&f, &t), (&nf, &nt), &[]).unwrap_err();
    assert_eq!(
        err,
        KindError::NotRunning {
            node: "antrea-lab-worker2".into(),
            container: "antrea-lab-worker2".into(),
            status: "exited".into()
        }
    );
    assert!(
        err.to_string().contains("docker start antrea-lab-worker2"),
        "{err}"
    );
}

#[test]
fn running_container_without_pid_is_refused() {
    let (f, t) = fixture("docker-inspect.json");
    let t = t.replace("\"Pid\": 41251,", "\"Pid\": 0,");
    let (nf, nt) = fixture("nodes.yaml");
    let err = kind::import((&f, &t), (&nf, &nt), &[]).unwrap_err();
    assert!(
        matches!(&err, KindError::NoPid { node, .. } if node == "antrea-lab-worker"),
        "{err}"
    );
}

#[test]
fn node_without_container_names_the_node_and_its_line() {
    let (f, t) = fixture("docker-inspect.json");
    let mut v: serde_json::Value = serde_json::from_str(&t).unwrap();
    v.as_array_mut().unwrap().pop();
    let t = serde_json::to_string_pretty(&v).unwrap();
    let (nf, nt) = fixture("nodes.yaml");
    let err = kind::import((&f, &t), (&nf, &nt), &[]).unwrap_err();
    let KindError::NoContainer { node, origin, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(node, "antrea-lab-worker2");
    // The third `- apiVersion: v1` item of the list.
    let item = nt
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("- apiVersion"))
        .nth(2)
        .unwrap()
        .0
        + 1;
    assert!(
        origin.starts_with(&format!("nodes.yaml:{item}:")),
        "{origin}"
    );
    assert!(
        err.to_string()
            .contains("found: antrea-lab-control-plane, antrea-lab-worker")
    );
}

#[test]
fn internal_ip_must_be_the_containers_address() {
    let (f, t) = fixture("docker-inspect.json");
    let (nf, nt) = fixture("nodes.yaml");
    let nt = nt.replace("address: 172.18.0.2\n", "address: 172.18.0.9\n");
    let err = kind::import((&f, &t), (&nf, &nt), &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("has InternalIP 172.18.0.9, but its container has 172.18.0.2"),
        "{err}"
    );
}

#[test]
fn broken_docker_json_has_line_and_column() {
    let (f, t) = fixture("docker-inspect.json");
    // A syntax error: a missing comma after "Running": true in the second container.
    let at = t.match_indices("\"Running\": true,").nth(1).unwrap().0;
    let mut broken = t.clone();
    broken.replace_range(at..at + 16, "\"Running\": true");
    let err = kind::parse_docker_inspect(&f, &broken).unwrap_err();
    let KindError::Json { line, column, .. } = &err else {
        panic!("{err}")
    };
    // serde_json stops at the next token, `"Paused"`, on the following line.
    let running_line = t[..at].lines().count();
    assert_eq!(*line, running_line + 1);
    assert!(*column > 1);
    assert!(
        err.to_string()
            .starts_with(&format!("docker-inspect.json:{line}:")),
        "{err}"
    );

    // A type error is located too: Pid as a string.
    let typed = t.replace("\"Pid\": 41251,", "\"Pid\": \"41251\",");
    let err = kind::parse_docker_inspect(&f, &typed).unwrap_err();
    assert!(
        matches!(err, KindError::Json { line, .. } if line as u64 == line_of(&t, "\"Pid\": 41251")),
        "{err}"
    );
}

#[test]
fn container_without_kind_labels_is_refused() {
    let (f, t) = fixture("docker-inspect.json");
    let t = t.replacen(
        "\"io.x-k8s.kind.role\": \"control-plane\"",
        "\"app\": \"x\"",
        1,
    );
    let err = kind::parse_docker_inspect(&f, &t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "docker-inspect.json: container #0 `antrea-lab-control-plane`: not a kind node container: \
         labels io.x-k8s.kind.cluster and io.x-k8s.kind.role are missing"
    );
}

#[test]
fn nodes_give_internal_ip_pod_cidr_and_labels() {
    let (f, t) = fixture("nodes.yaml");
    let nodes = kind::parse_nodes(&f, &t).unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0].name, "antrea-lab-control-plane");
    assert!(nodes[0].is_control_plane());
    assert!(!nodes[1].is_control_plane());
    assert_eq!(nodes[1].internal_ip.to_string(), "172.18.0.2");
    assert_eq!(nodes[2].pod_cidr.to_string(), "10.244.2.0/24");
    assert_eq!(
        nodes[2].labels.get("egress-gateway").map(String::as_str),
        Some("true")
    );
    assert_eq!(nodes[0].origin.line, 3);
}

#[test]
fn node_yaml_errors_name_file_line_column_and_expectation() {
    let (f, t) = fixture("nodes.yaml");

    let bad = t.replace("podCIDR: 10.244.1.0/24", "podCIDR: 10.244.1.0/33");
    let err = kind::parse_nodes(&f, &bad).unwrap_err();
    assert_eq!(err.line, line_of(&t, "podCIDR: 10.244.1.0/24"));
    assert_eq!(err.column, 14);
    assert!(err.message.contains("is not an IPv4 CIDR"), "{err}");

    let no_ip = t.replace(
        "address: 172.18.0.4\n      type: InternalIP",
        "address: 172.18.0.4\n      type: ExternalIP",
    );
    let err = kind::parse_nodes(&f, &no_ip).unwrap_err();
    assert!(
        err.to_string()
            .contains("node `antrea-lab-worker2` has no IPv4 InternalIP"),
        "{err}"
    );

    // A YAML syntax error: a flow mapping that never closes.
    let syntax = t.replace("    podCIDR: 10.244.0.0/24", "    podCIDR: {10.244.0.0/24");
    let err = kind::parse_nodes(&f, &syntax).unwrap_err();
    assert!(err.line >= line_of(&t, "podCIDR: 10.244.0.0/24"), "{err}");
    assert!(err.to_string().starts_with("nodes.yaml:"), "{err}");

    let wrong = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n";
    let err = kind::parse_nodes("pods.yaml", wrong).unwrap_err();
    assert_eq!((err.line, err.column), (2, 7));
    assert!(
        err.message
            .contains("expected `kubectl get nodes -o yaml` output"),
        "{err}"
    );
}

#[test]
fn bad_egress_in_a_list_points_into_the_file() {
    let i = inputs();
    // spec.egressIP only; status.egressIP further down stays valid.
    let bad = i[3].1.replacen(
        "    egressIP: 172.18.255.200",
        "    egressIP: 172.18.255.300",
        1,
    );
    let err = kind::import(
        (&i[0].0, &i[0].1),
        (&i[1].0, &i[1].1),
        &[("egress.yaml", &bad)],
    )
    .unwrap_err();
    let KindError::Input(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.file, "egress.yaml");
    assert_eq!(e.line, line_of(&bad, "    egressIP: 172.18.255.300"));
    // The API server's CRD schema check, in its words.
    assert!(
        e.message
            .contains("spec.egressIP in body must be of type ipv4: \"172.18.255.300\""),
        "{err}"
    );
}

#[test]
fn import_builds_target_topology_and_manifests() {
    let imp = import_all();
    let t = &imp.target;
    assert_eq!(t.cluster, "antrea-lab");
    assert_eq!(t.subnet.to_string(), "172.18.0.0/16");
    assert_eq!(t.gateway.to_string(), "172.18.0.1");
    let w = t.node("antrea-lab-worker").unwrap();
    assert_eq!(w.container, "antrea-lab-worker");
    assert_eq!(w.netns, PathBuf::from("/proc/41251/ns/net"));
    assert_eq!(w.address.to_string(), "172.18.0.2/16");
    assert_eq!(w.pod_cidr.to_string(), "10.244.1.0/24");
    assert_eq!(imp.bridge, "br-5d3c7a1e9b0f");
    assert_eq!(
        imp.cluster_pod_cidr.map(|c| c.to_string()).as_deref(),
        Some("10.244.0.0/16")
    );
    assert_eq!(
        imp.service_cidr.map(|c| c.to_string()).as_deref(),
        Some("10.96.0.0/16")
    );

    let files: Vec<&str> = imp.manifests.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        files,
        [
            "manifests/configmaps.yaml",
            "manifests/externalippools.yaml",
            "manifests/pods.yaml",
            "manifests/egresses.yaml"
        ]
    );
    assert_eq!(
        imp.manifests[2].objects,
        [
            "Pod/default/web-7c5ddbdf54-2bqxl",
            "Pod/default/web-7c5ddbdf54-k8w2n",
            "Pod/default/toolbox",
            "Pod/kube-system/coredns-7c65d6cfc9-4k2xq",
            "Pod/kube-system/coredns-7c65d6cfc9-9zj7m",
        ]
    );
    // Host-network Pods (3 agents, the controller, etcd, the controller
    // manager, 3 kube-proxies) and the finished Job Pod are left out, each with why.
    assert_eq!(
        imp.skipped
            .iter()
            .filter(|s| s.contains("host network"))
            .count(),
        9
    );
    let job: Vec<&String> = imp
        .skipped
        .iter()
        .filter(|s| s.contains("migrate-db"))
        .collect();
    assert_eq!(job.len(), 1);
    assert!(
        job[0].starts_with("pods.yaml:3:3: ") && job[0].contains("phase Succeeded"),
        "{}",
        job[0]
    );
    // The manifests are the cluster's own text, re-parseable on their own.
    for m in &imp.manifests {
        let objs = sim_core::k8s::parse_manifests(&m.path, &m.text).unwrap();
        assert_eq!(objs.len(), m.objects.len(), "{}", m.path);
    }
    assert!(
        imp.manifests[3]
            .text
            .contains("egressNode: antrea-lab-worker2")
    );

    // The topology is antlab's format; it loads (import checks that too) and
    // has the kind network's addresses and MACs.
    let topo = sim_core::topology::load_topology("topology.yaml", &imp.topology_yaml).unwrap();
    let summary = sim_core::topology::summary(&topo);
    for needle in [
        "antrea-lab-worker2",
        "172.18.0.4/16",
        "docker-host",
        "172.18.0.1/16",
    ] {
        assert!(summary.contains(needle), "{needle} missing from\n{summary}");
    }
    assert!(
        imp.topology_yaml.contains("mac: 02:42:ac:12:00:04"),
        "{}",
        imp.topology_yaml
    );
    assert!(
        imp.target_yaml.contains("netns: /proc/41265/ns/net"),
        "{}",
        imp.target_yaml
    );
}

#[test]
fn written_scenario_loads_runs_and_places_the_egress_on_a_kind_worker() {
    let imp = import_all();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kind-import-lab");
    let _ = std::fs::remove_dir_all(&dir);
    let written = imp.write_to(&dir).unwrap();
    assert_eq!(written.len(), 7);
    assert!(
        !std::fs::read_to_string(dir.join("scenario.yaml"))
            .unwrap()
            .contains("kubeProxy")
    );

    let path = dir.join("scenario.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let p = dir.join(rel);
        let t = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
        Ok((p.display().to_string(), t))
    };
    let scn = scenario::load(&path.display().to_string(), &text, &mut read).unwrap();
    let out = scenario::run::run(&scn, 1, &RunOptions::default()).unwrap();
    // The generated expectation: a web Pod's ping reaches the Docker host
    // from the Egress IP.
    assert!(text.contains("seenSource: 172.18.255.200"), "{text}");
    assert_eq!(out.expectations.len(), 1);
    assert!(out.passed(), "{:?}", out.expectations);
    // ...and the expectation can fail: the node's own address is not what the host sees.
    let wrong = text.replace("seenSource: 172.18.255.200", "seenSource: 172.18.0.2");
    let scn_wrong = scenario::load(&path.display().to_string(), &wrong, &mut read).unwrap();
    let out_wrong = scenario::run::run(&scn_wrong, 1, &RunOptions::default()).unwrap();
    assert!(!out_wrong.passed(), "{:?}", out_wrong.expectations);

    // The pool selects `egress-gateway: "true"`, which only the workers carry.
    let holders = sim_core::engine::holders::egress_holders(&out.cluster, "egress-web");
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(
        ["antrea-lab-worker", "antrea-lab-worker2"].contains(&holders[0].as_str()),
        "{holders:?}"
    );
    let table = sim_core::report::egresses(&out.cluster, 10);
    assert!(table.contains("172.18.255.200"), "{table}");
    // Pods kept the IPs the cluster gave them.
    let pods: Vec<String> = out
        .cluster
        .pods()
        .map(|p| format!("{} {}", p.name, p.ip))
        .collect();
    assert!(
        pods.contains(&"web-7c5ddbdf54-2bqxl 10.244.1.3".to_string()),
        "{pods:?}"
    );
    assert!(
        pods.contains(&"web-7c5ddbdf54-k8w2n 10.244.2.4".to_string()),
        "{pods:?}"
    );
}

#[test]
fn a_cluster_without_kube_proxy_pods_runs_without_kube_proxy() {
    let i = inputs();
    let pods = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: solo\n    labels: {app: web}\n  spec:\n    nodeName: antrea-lab-worker\n    containers: [{name: c, image: nginx}]\n  status:\n    phase: Running\n    podIP: 10.244.1.9\n";
    let imp = kind::import(
        (&i[0].0, &i[0].1),
        (&i[1].0, &i[1].1),
        &[("pods.yaml", pods)],
    )
    .unwrap();
    // The scenario loads with that option (files served from memory).
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let text = match rel {
            "topology.yaml" => imp.topology_yaml.clone(),
            _ => imp
                .manifests
                .iter()
                .find(|m| m.path == rel)
                .map(|m| m.text.clone())
                .ok_or_else(|| format!("no {rel}"))?,
        };
        Ok((rel.to_string(), text))
    };
    let scn = scenario::load("scenario.yaml", &imp.scenario_yaml, &mut read).unwrap();
    assert_eq!(scn.kube_proxy, None);
    assert!(
        imp.scenario_yaml.contains("kubeProxy: none"),
        "{}",
        imp.scenario_yaml
    );
    // Nothing else to apply, so no probe either.
    assert!(
        !imp.scenario_yaml.contains("probe:"),
        "{}",
        imp.scenario_yaml
    );
}

#[test]
fn other_configmaps_and_kinds_are_skipped_with_a_reason() {
    let i = inputs();
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: coredns, namespace: kube-system}\ndata: {Corefile: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
    let imp = kind::import(
        (&i[0].0, &i[0].1),
        (&i[1].0, &i[1].1),
        &[("extra.yaml", extra)],
    )
    .unwrap();
    assert!(imp.manifests.is_empty());
    assert_eq!(
        imp.skipped,
        [
            "extra.yaml:1:1: ConfigMap/kube-system/coredns: kind ConfigMap is not imported",
            "extra.yaml:6:1: Secret/s: kind Secret is not imported",
        ]
    );
}

#[test]
fn an_object_given_twice_is_applied_once() {
    let i = inputs();
    let imp = kind::import(
        (&i[0].0, &i[0].1),
        (&i[1].0, &i[1].1),
        &[("egress.yaml", &i[3].1), ("again.yaml", &i[3].1)],
    )
    .unwrap();
    let egresses = imp
        .manifests
        .iter()
        .find(|m| m.path == "manifests/egresses.yaml")
        .unwrap();
    assert_eq!(egresses.objects, ["Egress/egress-web"]);
    assert_eq!(
        imp.skipped,
        [
            "again.yaml:3:3: Egress/egress-web: given twice; the first copy is used",
            "again.yaml:35:3: ExternalIPPool/kind-egress-pool: given twice; the first copy is used",
        ]
    );
}

#[test]
fn a_pod_field_only_the_import_reads_is_located_in_the_list() {
    let i = inputs();
    let pods = &i[2].1;
    let toolbox = pods.find("name: toolbox\n").unwrap();
    let at = toolbox
        + pods[toolbox..]
            .find("    - command:\n      - sleep\n      - infinity\n")
            .unwrap();
    let mut bad = pods.clone();
    bad.replace_range(
        at..at + "    - command:\n      - sleep\n      - infinity\n".len(),
        "    - command: {sleep: infinity}\n",
    );
    let err = kind::import(
        (&i[0].0, &i[0].1),
        (&i[1].0, &i[1].1),
        &[("pods.yaml", &bad)],
    )
    .unwrap_err();
    let KindError::Input(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.file, "pods.yaml");
    assert_eq!(e.line, bad[..at].lines().count() as u64 + 1, "{err}");
    // `{` of the flow mapping, in the file's own columns (the List item is indented by 2).
    assert_eq!(e.column, 16, "{err}");
}

#[test]
fn target_nodes_give_the_argv_to_enter_their_namespace() {
    let imp = import_all();
    let w2 = imp.target.node("antrea-lab-worker2").unwrap();
    assert_eq!(
        w2.nsenter(&["ip", "-j", "addr"]),
        [
            "nsenter",
            "--net=/proc/41265/ns/net",
            "--",
            "ip",
            "-j",
            "addr"
        ]
    );
    assert_eq!(
        w2.netns_attach("antlab-antrea-lab-worker2"),
        [
            "ip",
            "netns",
            "attach",
            "antlab-antrea-lab-worker2",
            "41265"
        ]
    );
}

#[test]
fn nodes_that_disagree_are_refused_with_what_disagrees() {
    let i = inputs();
    let nodes = i[1].1.replace("10.244.2.0/24", "10.244.1.0/24");
    let err = kind::import((&i[0].0, &i[0].1), ("nodes.yaml", &nodes), &[]).unwrap_err();
    assert!(
        matches!(&err, KindError::Topology(m) if m.contains("overlaps the podCIDR of node `antrea-lab-worker`")),
        "{err}"
    );
}
