//! An ExternalNode's VM in real mode: what antrea-agent does in
//! ExternalNode mode (pkg/agent/externalnode `createOVSPortsAndFlows`),
//! done in the VM's namespace. The VM gets its own OVS (daemons in its
//! namespace, as a node's) with `br-int`; its interface is renamed
//! `IFACE~` and added as the uplink (ofport 1); an internal port `IFACE`
//! (ofport 2) with the interface's MAC and MTU takes over its addresses and
//! static routes. The program is the one the simulator runs, loaded as one
//! bundle and replaced when it changes. Taking the ExternalNode away gives
//! the interface its name, addresses and routes back; the VM's OVS stays
//! (empty) for a later ExternalNode, and goes with the lab.
//!
//! One difference from the agent, because the lab's OVS is the userspace
//! datapath: there the kernel also sees what arrives on the uplink, and
//! with the VM's own MAC on it the kernel would take a packet for the VM
//! before br-int's policy does. So the uplink gets a MAC of its own (the
//! agent leaves both ports with the VM's MAC; the kernel datapath takes
//! every frame of an OVS port before the IP stack) and answers no ARP.
//!
//! A step that fails half way puts the interface back as it was, as the
//! agent's deferred rollbacks do.

use sim_core::engine::external_node::{HOST_OFPORT, UPLINK_OFPORT};

use super::build::{ADD_BR_INT, BR_INT, Lab, LabError, quiet_port};
use crate::ovs::Ovs;
use crate::sys;

/// The OVS of one ExternalNode's VM and what it holds.
pub struct ExtNodeSwitch {
    pub ovs: Ovs,
    /// The interface the agent holds (the internal port's name); None
    /// when it was given back.
    iface: Option<String>,
    /// The program loaded last (bundle text).
    bundle: String,
    /// What the interface had: addresses and static routes (`ip` lines).
    addrs: Vec<String>,
    routes: Vec<String>,
}

/// What an interface holds before the agent takes it.
struct Taken {
    mac: String,
    mtu: String,
    addrs: Vec<String>,
    routes: Vec<String>,
}

impl Lab {
    /// Moves VM `vm`'s interface `iface` onto a br-int of the VM's own
    /// OVS, as the agent does; false when it holds that interface already.
    pub fn external_node_up(&mut self, vm: &str, iface: &str) -> Result<bool, LabError> {
        if let Some(sw) = self.ext_nodes.get(vm) {
            match &sw.iface {
                Some(i) if i == iface => return Ok(false),
                Some(_) => self.external_node_down(vm)?,
                None => {}
            }
        }
        let ns = self
            .netns
            .get(vm)
            .cloned()
            .ok_or_else(|| LabError::Unsupported(format!("ExternalNode {vm}: no such host")))?;
        let read = |file: &str| -> Result<String, LabError> {
            Ok(
                sys::in_ns(&ns, "cat", &[&format!("/sys/class/net/{iface}/{file}")])?
                    .trim()
                    .to_string(),
            )
        };
        let taken = Taken {
            mac: read("address")?,
            mtu: read("mtu")?,
            addrs: addresses(&ns, iface)?,
            routes: sys::in_ns(&ns, "ip", &["-4", "route", "show", "dev", iface])?
                .lines()
                .filter(|l| !l.contains("proto kernel"))
                .map(|l| l.trim().to_string())
                .collect(),
        };
        if !self.ext_nodes.contains_key(vm) {
            let folder = format!("ovs-ext-{vm}");
            let ovs = Ovs::start_in(&mut self.state, &folder, &ns)?;
            ovs.vsctl(&ADD_BR_INT)?;
            self.ext_nodes.insert(
                vm.to_string(),
                ExtNodeSwitch {
                    ovs,
                    iface: None,
                    bundle: String::new(),
                    addrs: Vec::new(),
                    routes: Vec::new(),
                },
            );
        }
        if let Err(e) = self.take_interface(vm, &ns, iface, &taken) {
            // Back as it was: the ports go, the interface gets its name,
            // addresses and routes again.
            let _ = self.restore_interface(vm, &ns, iface, &taken.addrs, &taken.routes);
            return Err(e);
        }
        let sw = self.ext_nodes.get_mut(vm).expect("made above");
        sw.iface = Some(iface.to_string());
        sw.bundle.clear();
        sw.addrs = taken.addrs;
        sw.routes = taken.routes;
        Ok(true)
    }

    fn take_interface(&self, vm: &str, ns: &str, iface: &str, t: &Taken) -> Result<(), LabError> {
        let uplink = format!("{iface}~");
        sys::ip_batch(
            Some(ns),
            &[
                format!("link set dev {iface} down"),
                format!("addr flush dev {iface}"),
                format!("link set dev {iface} name {uplink}"),
                format!("link set dev {uplink} address {}", uplink_mac(vm)),
                format!("link set dev {uplink} up"),
            ],
        )?;
        quiet_port(ns, &uplink)?;
        let (up_req, host_req) = (
            format!("ofport_request={UPLINK_OFPORT}"),
            format!("ofport_request={HOST_OFPORT}"),
        );
        let mac_set = format!("mac=\"{}\"", t.mac);
        self.ext_nodes[vm].ovs.vsctl(&[
            "add-port",
            BR_INT,
            &uplink,
            "--",
            "set",
            "interface",
            &uplink,
            &up_req,
            "--",
            "add-port",
            BR_INT,
            iface,
            "--",
            "set",
            "interface",
            iface,
            "type=internal",
            &mac_set,
            &host_req,
        ])?;
        let mut lines = vec![
            format!("link set dev {iface} mtu {}", t.mtu),
            format!("link set dev {iface} up"),
        ];
        lines.extend(t.addrs.iter().map(|a| format!("addr add {a} dev {iface}")));
        lines.extend(
            t.routes
                .iter()
                .map(|r| format!("route add {r} dev {iface}")),
        );
        sys::ip_batch(Some(ns), &lines)?;
        Ok(())
    }

    /// The ports go; the uplink takes the interface's name, addresses and
    /// routes back.
    fn restore_interface(
        &self,
        vm: &str,
        ns: &str,
        iface: &str,
        addrs: &[String],
        routes: &[String],
    ) -> Result<(), LabError> {
        let uplink = format!("{iface}~");
        if let Some(sw) = self.ext_nodes.get(vm) {
            sw.ovs.vsctl(&[
                "--if-exists",
                "del-port",
                BR_INT,
                iface,
                "--",
                "--if-exists",
                "del-port",
                BR_INT,
                &uplink,
            ])?;
        }
        let renamed = sys::in_ns(ns, "ip", &["link", "show", "dev", &uplink]).is_ok();
        let mut lines = Vec::new();
        if renamed {
            lines.push(format!("link set dev {uplink} down"));
            lines.push(format!("link set dev {uplink} name {iface}"));
        }
        lines.push(format!("link set dev {iface} up"));
        lines.extend(
            addrs
                .iter()
                .map(|a| format!("addr replace {a} dev {iface}")),
        );
        lines.extend(
            routes
                .iter()
                .map(|r| format!("route replace {r} dev {iface}")),
        );
        sys::ip_batch(Some(ns), &lines)?;
        Ok(())
    }

    /// Loads `bundle` (an `ovs-ofctl bundle` input) into VM `vm`'s br-int
    /// unless it holds that program already; returns whether it loaded.
    pub fn external_node_load(&mut self, vm: &str, bundle: &str) -> Result<bool, LabError> {
        let Some(sw) = self.ext_nodes.get_mut(vm).filter(|s| s.iface.is_some()) else {
            return Ok(false);
        };
        if sw.bundle == bundle {
            return Ok(false);
        }
        sw.ovs.ofctl(&["bundle", BR_INT, "-"], Some(bundle))?;
        sw.bundle = bundle.to_string();
        Ok(true)
    }

    /// The VMs whose interface an agent holds.
    pub fn external_node_vms(&self) -> Vec<String> {
        self.ext_nodes
            .iter()
            .filter(|(_, s)| s.iface.is_some())
            .map(|(v, _)| v.clone())
            .collect()
    }

    /// Gives VM `vm`'s interface back (the agent's cleanup); its OVS
    /// stays, empty.
    pub fn external_node_down(&mut self, vm: &str) -> Result<(), LabError> {
        let Some(sw) = self.ext_nodes.get(vm) else {
            return Ok(());
        };
        let Some(iface) = sw.iface.clone() else {
            return Ok(());
        };
        let (addrs, routes) = (sw.addrs.clone(), sw.routes.clone());
        let ns = self.netns[vm].clone();
        sw.ovs.ofctl(&["del-flows", BR_INT], None)?;
        self.restore_interface(vm, &ns, &iface, &addrs, &routes)?;
        if let Some(sw) = self.ext_nodes.get_mut(vm) {
            sw.iface = None;
            sw.bundle.clear();
        }
        Ok(())
    }
}

/// The uplink's own MAC: locally administered, from the VM's name (see the
/// module docs).
fn uplink_mac(vm: &str) -> String {
    let h = vm.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let b = h.to_be_bytes();
    format!("0e:7e:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

/// The IPv4 addresses (`ADDR/PREFIX`) of interface `iface` in namespace `ns`.
fn addresses(ns: &str, iface: &str) -> Result<Vec<String>, LabError> {
    Ok(
        sys::in_ns(ns, "ip", &["-o", "-4", "addr", "show", "dev", iface])?
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.position(|x| x == "inet")?;
                w.next().map(str::to_string)
            })
            .collect(),
    )
}
