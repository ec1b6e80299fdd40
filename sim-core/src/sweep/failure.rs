//! What a sweep breaks: the candidate failures of a topology (`each-node`,
//! `each-link`, `each-switch-port`) or a list the user wrote, each a
//! device losing power or a port's link going down.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::input::InputError;
use crate::model::{DeviceKind, PortRef, Topology};

/// One failure a sweep injects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The device loses power (a node, a router, a switch).
    Power(String),
    /// The link on this port (`device/port`) goes down.
    Link(String),
}

impl Failure {
    /// How rows and seeds name it: `power NAME` or `link DEVICE/PORT`.
    pub fn name(&self) -> String {
        match self {
            Failure::Power(d) => format!("power {d}"),
            Failure::Link(p) => format!("link {p}"),
        }
    }
}

/// The generated sets of failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureSet {
    /// Every Kubernetes node of the topology loses power.
    EachNode,
    /// Every link goes down once (named by its switch-side port when it has
    /// one).
    EachLink,
    /// Every cabled switch port goes down once (a link between two
    /// switches is two entries).
    EachSwitchPort,
}

impl FailureSet {
    /// `each-node`, `each-link`, `each-switch-port`.
    pub fn parse(text: &str) -> Option<FailureSet> {
        match text {
            "each-node" => Some(FailureSet::EachNode),
            "each-link" => Some(FailureSet::EachLink),
            "each-switch-port" => Some(FailureSet::EachSwitchPort),
            _ => None,
        }
    }
}

/// `device/port` of a port of the topology.
pub fn port_name(topology: &Topology, p: PortRef) -> String {
    let dev = &topology.devices[p.device.0 as usize];
    let port = match &dev.kind {
        DeviceKind::Host(h) => h
            .interfaces
            .get(usize::from(p.port))
            .map(|i| i.name.clone()),
        DeviceKind::Switch(s) => s.ports.get(usize::from(p.port)).map(|x| x.name.clone()),
    };
    format!("{}/{}", dev.name, port.unwrap_or_else(|| "?".into()))
}

fn is_switch(topology: &Topology, p: PortRef) -> bool {
    matches!(
        topology.devices[p.device.0 as usize].kind,
        DeviceKind::Switch(_)
    )
}

/// The failures of `set` in `topology`, in the topology's order.
pub fn generate(topology: &Topology, set: FailureSet) -> Vec<Failure> {
    match set {
        FailureSet::EachNode => topology
            .nodes()
            .map(|(_, d, _)| Failure::Power(d.name.clone()))
            .collect(),
        FailureSet::EachLink => topology
            .links
            .iter()
            .map(|l| {
                let end = if !is_switch(topology, l.a) && is_switch(topology, l.b) {
                    l.b
                } else {
                    l.a
                };
                Failure::Link(port_name(topology, end))
            })
            .collect(),
        FailureSet::EachSwitchPort => {
            let mut ports: Vec<PortRef> = topology
                .links
                .iter()
                .flat_map(|l| [l.a, l.b])
                .filter(|p| is_switch(topology, *p))
                .collect();
            ports.sort();
            ports
                .into_iter()
                .map(|p| Failure::Link(port_name(topology, p)))
                .collect()
        }
    }
}

/// One entry of a failures file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    power: Option<Spanned<String>>,
    link: Option<Spanned<String>>,
}

/// The failures a file lists, one per entry, `- power: DEVICE` or
/// `- link: DEVICE/PORT`, checked against `topology` (an unknown device or
/// port is an error at its place).
pub fn parse_file(file: &str, text: &str, topology: &Topology) -> Result<Vec<Failure>, InputError> {
    let entries: Vec<Spanned<Entry>> = crate::input::parse_yaml(file, text)?;
    if entries.is_empty() {
        return Err(InputError::new(
            file,
            1,
            1,
            "the file lists no failure (`- power: DEVICE` or `- link: DEVICE/PORT`)",
        ));
    }
    let ports: Vec<String> = topology
        .links
        .iter()
        .flat_map(|l| [l.a, l.b])
        .map(|p| port_name(topology, p))
        .collect();
    let mut out = Vec::new();
    for e in &entries {
        match (&e.value.power, &e.value.link) {
            (Some(d), None) => {
                if topology.device_id(&d.value).is_none() {
                    return Err(InputError::at_value(
                        file,
                        d,
                        format!("no device `{}` in topology {}", d.value, topology.name),
                    ));
                }
                out.push(Failure::Power(d.value.clone()));
            }
            (None, Some(p)) => {
                if !ports.contains(&p.value) {
                    return Err(InputError::at_value(
                        file,
                        p,
                        format!(
                            "no linked port `{}` in topology {} (DEVICE/PORT, as `link:` steps name it)",
                            p.value, topology.name
                        ),
                    ));
                }
                out.push(Failure::Link(p.value.clone()));
            }
            _ => {
                return Err(InputError::at_value(
                    file,
                    e,
                    "each entry is one of `power: DEVICE` or `link: DEVICE/PORT`",
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: &str = include_str!("../../../topologies/blog-lab.yaml");

    fn blog_lab() -> Topology {
        crate::topology::load_topology("blog-lab.yaml", TOPOLOGY).expect("topology")
    }

    #[test]
    fn each_node_is_every_kubernetes_node_in_topology_order() {
        let t = blog_lab();
        let names: Vec<String> = generate(&t, FailureSet::EachNode)
            .iter()
            .map(Failure::name)
            .collect();
        let nodes: Vec<String> = t
            .nodes()
            .map(|(_, d, _)| format!("power {}", d.name))
            .collect();
        assert_eq!(names, nodes);
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(!names.iter().any(|n| n.contains("ext-vm")), "not a node");
    }

    #[test]
    fn each_link_names_a_link_once_by_its_switch_end() {
        let t = blog_lab();
        let links = generate(&t, FailureSet::EachLink);
        assert_eq!(links.len(), t.links.len());
        assert!(
            links.contains(&Failure::Link("vmbr0/node-vm-2".into())),
            "{links:?}"
        );
        // firewall/eth1 -- ext-vm/eth0 has no switch: its first end.
        assert!(
            links.contains(&Failure::Link("firewall/eth1".into())),
            "{links:?}"
        );
        // Every switch port with a cable, once each: at least one per link
        // that has a switch end.
        let ports = generate(&t, FailureSet::EachSwitchPort);
        let with_switch = t
            .links
            .iter()
            .filter(|l| is_switch(&t, l.a) || is_switch(&t, l.b))
            .count();
        assert!(ports.len() >= with_switch, "{ports:?}");
        let mut dedup = ports.clone();
        dedup.dedup();
        assert_eq!(dedup, ports, "sorted, no repeats");
    }

    #[test]
    fn a_file_lists_failures_and_a_bad_entry_is_refused_at_its_place() {
        let t = blog_lab();
        let ok = parse_file(
            "f.yaml",
            "- power: k8s-node-vm-2-cl-02\n- link: vmbr0/node-vm-1\n",
            &t,
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                Failure::Power("k8s-node-vm-2-cl-02".into()),
                Failure::Link("vmbr0/node-vm-1".into())
            ]
        );
        let e = parse_file("f.yaml", "- power: ext-vm\n- power: nope\n", &t).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("f.yaml", 2, 10),
            "{e}"
        );
        assert!(e.message.contains("no device `nope`"), "{e}");
        let e = parse_file("f.yaml", "- link: vmbr0/nowhere\n", &t).unwrap_err();
        assert_eq!((e.line, e.column), (1, 9), "{e}");
        let e = parse_file("f.yaml", "- {power: ext-vm, link: vmbr0/node-vm-1}\n", &t).unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        assert!(e.message.contains("one of"), "{e}");
        let e = parse_file("f.yaml", "- cable: x\n", &t).unwrap_err();
        assert!(e.message.contains("cable"), "{e}");
        let e = parse_file("f.yaml", "[]\n", &t).unwrap_err();
        assert!(e.message.contains("no failure"), "{e}");
    }
}
