//! What real mode refuses to run, decided from the scenario alone, before
//! anything is built: each refusal says where (the step's line) and why,
//! and the CLI exits 2. A scenario real mode accepts is one it can carry
//! out faithfully; a refused one would only produce differences that say
//! nothing about the simulator.

use sim_core::engine::proxy::KubeProxyMode;
use sim_core::model::DeviceKind;
use sim_core::scenario::{Action, Scenario};
use sim_core::sim::probe::ProbeKind;

/// One reason a scenario cannot run for real.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `file:line:column` of the step, or the file alone for options.
    pub at: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// Every reason `scn` cannot run in real mode; empty when it can.
pub fn refusals(scn: &Scenario) -> Vec<Refusal> {
    let mut out = Vec::new();
    if scn.kube_proxy == Some(KubeProxyMode::Ipvs { strict_arp: false }) {
        out.push(Refusal {
            at: scn.file.clone(),
            reason: "options.kubeProxy: ipvs needs IPVS, which this kernel does not have: kube-proxy binds every Service IP to its kube-ipvs0 dummy device on every node and, without strictARP, every node's kernel answers ARP for them; real mode has neither IPVS nor dummy devices, and which node's answer a switch keeps is a race the simulator does not share (the simulator models it; `ipvs-strict-arp` runs for real)".into(),
        });
    }
    // A BGP router's FRR is started once, with the lab.
    let routers: Vec<&str> = scn
        .topology
        .devices
        .iter()
        .filter(|d| matches!(&d.kind, DeviceKind::Switch(s) if s.bgp.is_some()))
        .map(|d| d.name.as_str())
        .collect();
    for step in scn.steps.iter() {
        if let Action::Power { device, .. } = &step.action
            && routers.contains(&device.as_str())
        {
            out.push(Refusal {
                at: format!("{}:{}:{}", scn.file, step.line, step.column),
                reason: format!(
                    "{device} is a BGP router: real mode starts its FRR once with the lab and does not power-cycle it"
                ),
            });
        }
    }
    // ExternalNode VMs: their interface is renamed while the agent holds
    // it, and a power or link step acts on the interface by name.
    let vms: Vec<&str> = scn
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Apply { objects, .. } => Some(objects),
            _ => None,
        })
        .flatten()
        .filter_map(|o| match o {
            sim_core::k8s::Object::ExternalNode(en) => Some(en.meta.name.as_str()),
            _ => None,
        })
        .collect();
    for step in scn.steps.iter() {
        let at = format!("{}:{}:{}", scn.file, step.line, step.column);
        let on_vm = match &step.action {
            Action::Power { device, .. } => {
                vms.contains(&device.as_str()).then_some(device.as_str())
            }
            Action::Link { port, .. } => port
                .split_once('/')
                .map(|(d, _)| d)
                .filter(|d| vms.contains(d)),
            _ => None,
        };
        if let Some(vm) = on_vm {
            out.push(Refusal {
                at: at.clone(),
                reason: format!(
                    "{vm} is an ExternalNode: real mode renames its interface for the agent, and power and link steps on it are not carried out there"
                ),
            });
        }
        match &step.action {
            Action::Route { device, route, .. } => {
                if let Some(reason) = route_problem(scn, device, route.dev.as_deref()) {
                    out.push(Refusal { at, reason });
                }
            }
            Action::StartProbe(p) => {
                if let ProbeKind::Http { host, path, .. } = &p.kind {
                    for (what, v) in [("host", host), ("path", path)] {
                        if v.is_empty() || v.chars().any(|c| !c.is_ascii_graphic()) {
                            out.push(Refusal {
                                at: at.clone(),
                                reason: format!(
                                    "probe {}: HTTP {what} {:?} must be printable ASCII without spaces to go into a request line",
                                    p.name, v
                                ),
                            });
                        }
                    }
                }
            }
            Action::Apply { objects, .. } => {
                for o in objects {
                    let sim_core::k8s::Object::TrafficControl(tc) = o else {
                        continue;
                    };
                    for p in std::iter::once(&tc.target).chain(&tc.return_port) {
                        if let sim_core::k8s::TcPort::Device(name) = p {
                            out.push(Refusal {
                                at: at.clone(),
                                reason: format!(
                                    "TrafficControl {}: a device port ({name}) attaches a node's own NIC to br-int; the lab's nodes have none to spare",
                                    tc.meta.name
                                ),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Why a `route:` step on `device` with output interface `dev` cannot be
/// made real, or None.
fn route_problem(scn: &Scenario, device: &str, dev: Option<&str>) -> Option<String> {
    let id = scn.topology.device_id(device)?;
    let names: Vec<&str> = match &scn.topology.device(id).kind {
        DeviceKind::Host(h) => h.interfaces.iter().map(|i| i.name.as_str()).collect(),
        DeviceKind::Switch(s) if !s.svis.is_empty() => {
            s.svis.iter().map(|v| v.name.as_str()).collect()
        }
        DeviceKind::Switch(_) => {
            return Some(format!(
                "{device} is a layer-2 switch: it has no SVI, so nothing routes there"
            ));
        }
    };
    let dev = dev?;
    (!names.contains(&dev)).then(|| {
        format!(
            "route on {device} via dev `{}`, which is not one of its interfaces ({})",
            dev.escape_debug(),
            names.join(", ")
        )
    })
}
