//! Joining `docker inspect` and `kubectl get` output into a [`KindTarget`] and
//! an antlab lab (topology, scenario, manifests).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use sim_core::input::InputError;
use sim_core::k8s::{Object, parse_manifests};
use sim_core::model::MacAddr;

use super::KindError;
use super::docker::{KindContainer, parse_docker_inspect};
use super::kube::{DocText, KubeNode, cut_documents, parse_nodes};

/// The device standing for the Docker host (the `kind` bridge's address).
pub const HOST_DEVICE: &str = "docker-host";
/// The switch standing for the `kind` Docker bridge network.
pub const SWITCH: &str = "kind";

/// Where each Kubernetes node of a kind cluster lives on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindTarget {
    /// `io.x-k8s.kind.cluster`.
    pub cluster: String,
    /// The `kind` network's subnet and the Docker bridge's address on it.
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// In `kubectl get nodes` order.
    pub nodes: Vec<TargetNode>,
}

/// One node: its container, the process whose network namespace is the node's,
/// and its address on the `kind` network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetNode {
    pub node: String,
    pub container: String,
    pub container_id: String,
    /// kind's role label: `control-plane` or `worker`.
    pub role: String,
    pub pid: u32,
    /// `/proc/PID/ns/net`; valid only while that process lives (a restarted
    /// container has a new PID, so a target is re-imported, not cached).
    pub netns: PathBuf,
    /// `eth0` inside the container: address with prefix, and MAC.
    pub address: Ipv4Net,
    pub mac: MacAddr,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Ipv4Net,
}

impl TargetNode {
    /// The argv that runs `cmd` in this node's network namespace. Only the
    /// network namespace is entered, so the host's `ip`, `nft` and `tcpdump`
    /// run, not whatever the kind node image carries.
    pub fn nsenter(&self, cmd: &[&str]) -> Vec<String> {
        let mut argv = vec![
            "nsenter".to_string(),
            format!("--net={}", self.netns.display()),
            "--".to_string(),
        ];
        argv.extend(cmd.iter().map(|c| c.to_string()));
        argv
    }

    /// The argv that names this node's namespace `name` for `ip -n name ...`
    /// (`ip netns delete name` undoes it without touching the namespace).
    pub fn netns_attach(&self, name: &str) -> Vec<String> {
        ["ip", "netns", "attach", name]
            .into_iter()
            .map(String::from)
            .chain([self.pid.to_string()])
            .collect()
    }
}

impl KindTarget {
    pub fn node(&self, name: &str) -> Option<&TargetNode> {
        self.nodes.iter().find(|n| n.node == name)
    }

    /// Matches nodes to containers by name (kind names each container after
    /// its node's hostname, and the kubelet registers that hostname). Every
    /// node needs a running container with a PID and a `kind` network address
    /// equal to its InternalIP; containers without a node (kind's
    /// `external-load-balancer`, other clusters) are left out.
    pub fn resolve(containers: &[KindContainer], nodes: &[KubeNode]) -> Result<Self, KindError> {
        let mut out: Vec<TargetNode> = Vec::new();
        let mut first: Option<(String, Ipv4Net, Ipv4Addr)> = None;
        for n in nodes {
            let Some(c) = containers.iter().find(|c| c.name == n.name) else {
                return Err(KindError::NoContainer {
                    node: n.name.clone(),
                    origin: n.origin.to_string(),
                    containers: containers.iter().map(|c| c.name.clone()).collect(),
                });
            };
            if !c.running {
                return Err(KindError::NotRunning {
                    node: n.name.clone(),
                    container: c.name.clone(),
                    status: c.status.clone(),
                });
            }
            if c.pid == 0 {
                return Err(KindError::NoPid {
                    node: n.name.clone(),
                    container: c.name.clone(),
                });
            }
            let Some(net) = &c.network else {
                return Err(KindError::NoKindNetwork {
                    node: n.name.clone(),
                    container: c.name.clone(),
                });
            };
            if net.address.addr() != n.internal_ip {
                return Err(KindError::AddressMismatch {
                    node: n.name.clone(),
                    origin: n.origin.to_string(),
                    internal_ip: n.internal_ip,
                    container_ip: net.address.addr(),
                });
            }
            let here = (c.cluster.clone(), net.address.trunc(), net.gateway);
            match &first {
                None => first = Some(here),
                Some(f) if *f != here => {
                    return Err(KindError::MixedClusters {
                        first: format!("{} on {} via {}", f.0, f.1, f.2),
                        other: format!(
                            "{} on {} via {} (container {})",
                            here.0, here.1, here.2, c.name
                        ),
                    });
                }
                Some(_) => {}
            }
            out.push(TargetNode {
                node: n.name.clone(),
                container: c.name.clone(),
                container_id: c.id.clone(),
                role: c.role.clone(),
                pid: c.pid,
                netns: c.netns_path().expect("pid is non-zero, checked above"),
                address: net.address,
                mac: net.mac,
                pod_cidr: n.pod_cidr,
            });
        }
        let (cluster, subnet, gateway) = first.expect("parse_nodes refuses an empty list");
        Ok(KindTarget {
            cluster,
            subnet,
            gateway,
            nodes: out,
        })
    }
}

/// A manifest file of the generated lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    /// Relative to the lab folder: `manifests/egresses.yaml`.
    pub path: String,
    pub text: String,
    /// `Kind/name` or `Kind/namespace/name` of every object in it, in order.
    pub objects: Vec<String>,
}

/// Everything the import made: the target for real mode, and a lab for the
/// simulator.
#[derive(Clone, Debug)]
pub struct KindImport {
    pub target: KindTarget,
    /// The Docker bridge's name on the host (`br-` + 12 hex digits of the
    /// network id), for real mode's captures.
    pub bridge: String,
    /// From kube-controller-manager's `--cluster-cidr` and
    /// `--service-cluster-ip-range`, when its Pod was among the inputs.
    pub cluster_pod_cidr: Option<Ipv4Net>,
    pub service_cidr: Option<Ipv4Net>,
    pub topology_yaml: String,
    pub scenario_yaml: String,
    pub target_yaml: String,
    /// Only the non-empty ones, in apply order.
    pub manifests: Vec<ManifestFile>,
    /// Objects left out and why, one line each.
    pub skipped: Vec<String>,
}

/// One input file: `(name shown in messages, contents)`.
pub type Input<'a> = (&'a str, &'a str);

/// Imports a kind cluster: `docker inspect` of its node containers, `kubectl
/// get nodes -o yaml`, and any number of `kubectl get ... -o yaml` outputs or
/// manifests (Pods, Egresses, ExternalIPPools, Namespaces and the
/// `antrea-config`/`kube-proxy` ConfigMaps are carried over; the rest is listed
/// in [`KindImport::skipped`]).
pub fn import(
    docker_inspect: Input<'_>,
    nodes: Input<'_>,
    others: &[Input<'_>],
) -> Result<KindImport, KindError> {
    let containers = parse_docker_inspect(docker_inspect.0, docker_inspect.1)?;
    let kube_nodes = parse_nodes(nodes.0, nodes.1)?;
    let target = KindTarget::resolve(&containers, &kube_nodes)?;
    let network_id = containers
        .iter()
        .find(|c| c.name == target.nodes[0].container)
        .and_then(|c| c.network.as_ref())
        .map(|n| n.network_id.clone())
        .unwrap_or_default();
    let bridge = bridge_name(&network_id);

    let mut buckets = Buckets::default();
    for (file, text) in others {
        collect(file, text, &target, &mut buckets)?;
    }

    let topology_yaml = topology_yaml(
        &target,
        &kube_nodes,
        &bridge,
        buckets.cluster_cidr,
        buckets.service_cidr,
    )?;
    // The generated topology must load. It does not when the cluster's own
    // data disagrees (two nodes with one Pod CIDR, a node's Pod CIDR outside
    // --cluster-cidr): say so rather than write a lab that cannot run.
    sim_core::topology::load_topology("topology.yaml", &topology_yaml)
        .map_err(|e| KindError::Topology(e.message))?;

    let mut manifests = Vec::new();
    for (name, docs) in [
        ("configmaps", &buckets.configmaps),
        ("namespaces", &buckets.namespaces),
        ("externalippools", &buckets.pools),
        ("pods", &buckets.pods),
        ("egresses", &buckets.egresses),
    ] {
        if docs.is_empty() {
            continue;
        }
        let mut text = format!(
            "# {name} of kind cluster {}, as kubectl returned them.\n",
            target.cluster
        );
        for d in docs {
            text.push_str(&format!("---\n# from {}\n{}", d.from, d.text));
        }
        manifests.push(ManifestFile {
            path: format!("manifests/{name}.yaml"),
            text,
            objects: docs.iter().map(|d| d.object.clone()).collect(),
        });
    }
    let probes = egress_probes(&buckets);
    // Without kube-proxy Pods (Antrea's proxyAll, kind's `kubeProxyMode: none`)
    // the simulator must not assume kubeadm's iptables kube-proxy.
    let no_kube_proxy = buckets.saw_pods && !buckets.kube_proxy;
    let scenario_yaml = scenario_yaml(
        &target,
        &manifests,
        &probes,
        no_kube_proxy,
        &buckets.skipped,
    );
    let target_yaml = format!(
        "# Where the nodes of kind cluster {} live; PIDs change when a container restarts.\n{}",
        target.cluster,
        serde_saphyr::to_string(&target).map_err(|e| KindError::Render(e.to_string()))?
    );
    Ok(KindImport {
        target,
        bridge,
        cluster_pod_cidr: buckets.cluster_cidr,
        service_cidr: buckets.service_cidr,
        topology_yaml,
        scenario_yaml,
        target_yaml,
        manifests,
        skipped: buckets.skipped,
    })
}

impl KindImport {
    /// Writes `topology.yaml`, `scenario.yaml`, `kind-target.yaml` and
    /// `manifests/*.yaml` into `dir` (created if missing; existing files with
    /// those names are replaced). Returns the paths written.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, KindError> {
        let io = |path: &Path, e: std::io::Error| KindError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mdir = dir.join("manifests");
        std::fs::create_dir_all(&mdir).map_err(|e| io(&mdir, e))?;
        let mut files: Vec<(PathBuf, &str)> = vec![
            (dir.join("topology.yaml"), &self.topology_yaml),
            (dir.join("scenario.yaml"), &self.scenario_yaml),
            (dir.join("kind-target.yaml"), &self.target_yaml),
        ];
        for m in &self.manifests {
            files.push((dir.join(&m.path), &m.text));
        }
        for (path, text) in &files {
            std::fs::write(path, text).map_err(|e| io(path, e))?;
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

fn bridge_name(network_id: &str) -> String {
    match network_id.get(..12) {
        Some(short) => format!("br-{short}"),
        None => "br-kind".to_string(),
    }
}

// ---- sorting the cluster's objects ------------------------------------------------

struct Doc {
    object: String,
    from: String,
    text: String,
}

#[derive(Default)]
struct Buckets {
    configmaps: Vec<Doc>,
    namespaces: Vec<Doc>,
    pools: Vec<Doc>,
    pods: Vec<Doc>,
    egresses: Vec<Doc>,
    skipped: Vec<String>,
    /// Display names already imported, to drop a second copy.
    seen: indexmap::IndexSet<String>,
    /// The imported Pods and Egresses as antlab reads them, for the probes.
    pod_objects: Vec<sim_core::k8s::Pod>,
    egress_objects: Vec<sim_core::k8s::Egress>,
    /// Some Pods were given, and whether kubeadm's kube-proxy DaemonSet Pods
    /// (`k8s-app: kube-proxy`) were among them.
    saw_pods: bool,
    kube_proxy: bool,
    cluster_cidr: Option<Ipv4Net>,
    service_cidr: Option<Ipv4Net>,
}

fn collect(file: &str, text: &str, target: &KindTarget, b: &mut Buckets) -> Result<(), KindError> {
    let objects = parse_manifests(file, text)?;
    let docs = cut_documents(text);
    for obj in objects {
        let origin = &obj.meta().origin;
        let name = obj.display_name();
        let doc = docs
            .iter()
            .find(|d| d.first_line <= origin.line && origin.line <= d.last_line)
            .ok_or_else(|| {
                // parse_manifests and cut_documents split files the same way;
                // a miss means they disagree, which only a bug can cause.
                KindError::Input(origin.error(format!(
                    "internal: could not cut {name} out of the file as text"
                )))
            })?;
        if !b.seen.insert(name.clone()) {
            b.skipped.push(format!(
                "{origin}: {name}: given twice; the first copy is used"
            ));
            continue;
        }
        let entry = |d: &DocText| Doc {
            object: name.clone(),
            from: format!("{file}:{}", d.first_line),
            text: d.text.clone(),
        };
        match &obj {
            Object::Namespace(_) => b.namespaces.push(entry(doc)),
            // The two ConfigMaps antlab's engine reads: Antrea's feature gates
            // and Egress options, and kube-proxy's mode.
            Object::ConfigMap(cm)
                if obj.namespace() == Some("kube-system")
                    && (cm.meta.name == "antrea-config" || cm.meta.name == "kube-proxy") =>
            {
                b.configmaps.push(entry(doc))
            }
            Object::ExternalIPPool(_) => b.pools.push(entry(doc)),
            Object::Egress(e) => {
                b.egresses.push(entry(doc));
                b.egress_objects.push(e.clone());
            }
            Object::Pod(p) => {
                let bits: RawPodBits =
                    sim_core::input::parse_yaml(file, &doc.text).map_err(|e| shift(e, doc))?;
                bits.controller_flags(b);
                b.saw_pods = true;
                if p.meta.labels.get("k8s-app").map(String::as_str) == Some("kube-proxy") {
                    b.kube_proxy = true;
                }
                let phase = bits.status.and_then(|s| s.phase).unwrap_or_default();
                if p.spec.host_network {
                    b.skipped.push(format!(
                        "{origin}: {name}: host network; in antlab it is its node, not a Pod"
                    ));
                } else if phase == "Succeeded" || phase == "Failed" {
                    b.skipped.push(format!(
                        "{origin}: {name}: phase {phase}; its IP is free for other Pods"
                    ));
                } else if let Some(node) = &p.spec.node_name {
                    if target.node(node).is_none() {
                        return Err(KindError::Input(origin.error(format!(
                            "{name} runs on node `{node}`, which is not in the node list"
                        ))));
                    }
                    b.pods.push(entry(doc));
                    b.pod_objects.push(p.clone());
                } else {
                    b.skipped.push(format!(
                        "{origin}: {name}: not scheduled (no spec.nodeName)"
                    ));
                }
            }
            Object::Node(_) => b.skipped.push(format!(
                "{origin}: {name}: nodes come from the node list and the containers"
            )),
            other => b.skipped.push(format!(
                "{origin}: {name}: kind {} is not imported",
                other.kind_name()
            )),
        }
    }
    Ok(())
}

/// A YAML error in a document cut out of a file, moved to where it is in the file.
fn shift(mut e: InputError, doc: &DocText) -> InputError {
    e.line += doc.first_line - 1;
    e.column += doc.indent;
    e
}

/// The parts of a Pod `sim_core::k8s::Pod` does not keep.
#[derive(Deserialize)]
struct RawPodBits {
    spec: Option<RawPodSpec>,
    status: Option<RawPodStatus>,
}

#[derive(Deserialize)]
struct RawPodSpec {
    #[serde(default)]
    containers: Vec<RawContainer>,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize)]
struct RawPodStatus {
    phase: Option<String>,
}

impl RawPodBits {
    /// kube-controller-manager's `--cluster-cidr` and
    /// `--service-cluster-ip-range` (kubeadm passes both as `--flag=value`).
    fn controller_flags(&self, b: &mut Buckets) {
        let Some(spec) = &self.spec else { return };
        for c in &spec.containers {
            for arg in c.command.iter().chain(&c.args) {
                let value = |flag: &str| {
                    arg.strip_prefix(flag)
                        .and_then(|v| v.parse::<Ipv4Net>().ok())
                };
                if let Some(v) = value("--cluster-cidr=") {
                    b.cluster_cidr = Some(v);
                }
                if let Some(v) = value("--service-cluster-ip-range=") {
                    b.service_cidr = Some(v);
                }
            }
        }
    }
}

// ---- the topology ---------------------------------------------------------------

#[derive(Serialize)]
struct TopologyOut {
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterOut>,
    nodes: Vec<NodeOut>,
    routers: Vec<HostOut>,
    switches: Vec<SwitchOut>,
}

#[derive(Serialize)]
struct ClusterOut {
    #[serde(rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pod_cidr: Option<String>,
    #[serde(rename = "serviceCIDR", skip_serializing_if = "Option::is_none")]
    service_cidr: Option<String>,
}

#[derive(Serialize)]
struct NodeOut {
    name: String,
    role: String,
    #[serde(rename = "podCIDR")]
    pod_cidr: String,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    labels: IndexMap<String, String>,
    interfaces: Vec<IfaceOut>,
    routes: Vec<RouteOut>,
}

#[derive(Serialize)]
struct HostOut {
    name: String,
    interfaces: Vec<IfaceOut>,
}

#[derive(Serialize)]
struct IfaceOut {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    addresses: Vec<String>,
}

#[derive(Serialize)]
struct RouteOut {
    to: String,
    via: String,
}

#[derive(Serialize)]
struct SwitchOut {
    name: String,
    ports: Vec<PortOut>,
}

#[derive(Serialize)]
struct PortOut {
    name: String,
    connect: String,
    access: u16,
}

fn topology_yaml(
    target: &KindTarget,
    nodes: &[KubeNode],
    bridge: &str,
    cluster_cidr: Option<Ipv4Net>,
    service_cidr: Option<Ipv4Net>,
) -> Result<String, KindError> {
    let mut ports: Vec<PortOut> = target
        .nodes
        .iter()
        .map(|n| PortOut {
            name: n.node.clone(),
            connect: format!("{}/eth0", n.node),
            // A Docker bridge has no VLANs; everything is untagged, VLAN 1.
            access: 1,
        })
        .collect();
    ports.push(PortOut {
        name: HOST_DEVICE.to_string(),
        connect: format!("{HOST_DEVICE}/{bridge}"),
        access: 1,
    });
    let gateway = Ipv4Net::new(target.gateway, target.subnet.prefix_len())
        .expect("the prefix length comes from a valid Ipv4Net");
    let doc = TopologyOut {
        name: format!("kind-{}", target.cluster),
        description: format!(
            "kind cluster {}: its node containers on the `kind` Docker network {}, imported by antlab",
            target.cluster, target.subnet
        ),
        cluster: (cluster_cidr.is_some() || service_cidr.is_some()).then(|| ClusterOut {
            pod_cidr: cluster_cidr.map(|c| c.to_string()),
            service_cidr: service_cidr.map(|c| c.to_string()),
        }),
        nodes: target
            .nodes
            .iter()
            .map(|n| {
                let labels = nodes
                    .iter()
                    .find(|k| k.name == n.node)
                    .map(|k| k.labels.clone())
                    .unwrap_or_default();
                NodeOut {
                    name: n.node.clone(),
                    role: if n.role == "control-plane" {
                        "control-plane".to_string()
                    } else {
                        "worker".to_string()
                    },
                    pod_cidr: n.pod_cidr.to_string(),
                    labels,
                    interfaces: vec![IfaceOut {
                        name: "eth0".to_string(),
                        mac: Some(n.mac.to_string()),
                        addresses: vec![n.address.to_string()],
                    }],
                    routes: vec![RouteOut {
                        to: "default".to_string(),
                        via: target.gateway.to_string(),
                    }],
                }
            })
            .collect(),
        // The Docker host forwards (and masquerades) for its containers, so it
        // is a router; antlab models it only as the nodes' gateway.
        routers: vec![HostOut {
            name: HOST_DEVICE.to_string(),
            interfaces: vec![IfaceOut {
                name: bridge.to_string(),
                mac: None,
                addresses: vec![gateway.to_string()],
            }],
        }],
        switches: vec![SwitchOut {
            name: SWITCH.to_string(),
            ports,
        }],
    };
    let body = serde_saphyr::to_string(&doc).map_err(|e| KindError::Render(e.to_string()))?;
    Ok(format!(
        "# Generated by antlab from a kind cluster: each node is a Docker container\n\
         # whose eth0 sits on the `kind` bridge network ({bridge} on the host).\n\
         {body}"
    ))
}

// ---- the scenario ---------------------------------------------------------------

/// A ping from one Pod an Egress selects to the Docker host, which must see
/// the Egress IP as source.
struct EgressProbe {
    egress: String,
    pod: String,
    ip: Option<Ipv4Addr>,
}

/// One probe per Egress that selects an imported Pod by `podSelector` alone
/// (a `namespaceSelector` needs Namespace labels the import may not have).
fn egress_probes(b: &Buckets) -> Vec<EgressProbe> {
    b.egress_objects
        .iter()
        .filter(|e| e.applied_to.namespace_selector.is_none())
        .filter_map(|e| {
            let sel = e.applied_to.pod_selector.as_ref()?;
            let pod = b.pod_objects.iter().find(|p| sel.matches(&p.meta.labels))?;
            Some(EgressProbe {
                egress: e.meta.name.clone(),
                pod: format!(
                    "pod/{}/{}",
                    pod.meta.namespace.as_deref().unwrap_or("default"),
                    pod.meta.name
                ),
                // spec.egressIP is what the controller allocated (or the user asked for).
                ip: e.egress_ip.or(e.status.egress_ip),
            })
        })
        .collect()
}

fn scenario_yaml(
    target: &KindTarget,
    manifests: &[ManifestFile],
    probes: &[EgressProbe],
    no_kube_proxy: bool,
    skipped: &[String],
) -> String {
    let mut s = format!(
        "# Generated by antlab from kind cluster {}: its objects applied at 0s, then\n\
         # the state once the agents have found each other.\n",
        target.cluster
    );
    for line in skipped {
        // File names come from the caller; keep each note on its comment line.
        s.push_str(&format!("# skipped {}\n", line.replace(['\n', '\r'], " ")));
    }
    s.push_str(&format!(
        "name: kind-{}\ntopology: topology.yaml\nseed: 1\nuntil: 10s\n",
        target.cluster
    ));
    if no_kube_proxy {
        s.push_str("options:\n  kubeProxy: none   # no kube-proxy Pods in the cluster\n");
    }
    s.push_str("steps:\n");
    for m in manifests {
        s.push_str(&format!("  - at: 0s\n    apply: {{file: {}}}\n", m.path));
    }
    for view in ["nodes", "pods", "egress", "externalippools"] {
        s.push_str(&format!("  - at: 5s\n    show: {view}\n"));
    }
    // Probes start once the agents agree on the Egress node (a few seconds
    // of memberlist), and the expectation leaves room for a few pings.
    for p in probes {
        s.push_str(&format!(
            "  - at: 6s\n    probe: {{name: egress-{e}, from: {from}, to: {HOST_DEVICE}, interval: 500ms}}\n",
            e = p.egress,
            from = p.pod
        ));
    }
    for p in probes {
        let seen =
            p.ip.map(|ip| format!(", seenSource: {ip}"))
                .unwrap_or_default();
        s.push_str(&format!(
            "  - at: 9s\n    expect:\n      - {{probe: egress-{}, last: ok{seen}}}\n",
            p.egress
        ));
    }
    s
}
