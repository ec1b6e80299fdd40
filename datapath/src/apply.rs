//! Applying one node's `NodeDataplane` (the engine's output) to Linux.
//!
//! | engine field        | real mode                                              |
//! |---------------------|--------------------------------------------------------|
//! | `vlan_ifaces`       | the node's `antrea-ext.<vid>` leg (see `lab`), up      |
//! | `dummy_ifaces`      | `lo`: no dummy module here; Linux answers ARP for an  |
//! |                     | address on `lo` as it does for one on a dummy device  |
//! | `addrs`             | `ip addr`, one `arping -U` when `announce` is set      |
//! | `routes`, `rules`   | `ip route replace ... [onlink] table T`, `ip rule`     |
//! | `marks`, `snat`     | one nftables table `ip antlab`, replaced atomically   |
//! | `arp_responder`     | the address on `lo` (the kernel answers ARP for it), |
//! |                     | or a proxy ARP entry where it is routed into br-int  |
//! | `neighbors`         | `ip neigh replace ... nud permanent`                  |
//! | `service_rules`     | from Pods: OpenFlow 1.5 `select` groups with          |
//! |                     | `ct(commit,nat(dst=...))` buckets on the node's br-int|
//! |                     | for ClusterIP, LoadBalancer/external IPs and NodePort,|
//! |                     | loaded with one `ovs-ofctl bundle`; from outside the  |
//! |                     | node: nftables DNAT + masquerade in the node          |
//! | `strict_arp`        | `arp_ignore=1`                                         |
//! | `host_firewall`     | NodeNetworkPolicy: chains `nodepolicy_input` and      |
//! |                     | `nodepolicy_output` (filter, input/output hooks) in   |
//! |                     | the `ip antlab` table, rules in the engine's order    |
//!
//! With `options.brInt: pipeline` br-int runs Antrea's program instead of
//! the `service_rules` bundle above: [`pipeline_bundle`] compiles it from
//! the cluster state and the node's dataplane exactly as the simulator
//! does (`sim_core::engine::pipeline::lab_spec`), and it replaces br-int's
//! flows and groups in one `ovs-ofctl bundle` on the node's own OVS (see
//! `crate::lab`); `antrea-gw0` gets the agent's MTU (1450 in Geneve). With
//! the `LoadBalancerModeDSR` gate the bundle carries one flow more than the
//! simulator's program ([`userspace_dsr_flow`]: OVS's userspace conntrack
//! is not Linux's); `antlab real diff-pipeline` compares the program
//! without it.
//!
//! With proxyAll and the program, outside traffic AntreaProxy serves takes
//! Antrea's path: the engine's routes send LoadBalancer and external IPs
//! (and 169.254.0.252) into antrea-gw0, nftables DNATs NodePorts to
//! 169.254.0.252, and br-int load-balances (NAT or DSR). The node's own
//! Service traffic, and outside traffic kube-proxy handles or no program
//! runs for, takes nftables DNAT instead of kube-proxy's iptables chains or
//! AntreaProxy's host routes; it is installed only when the engine says
//! someone handles that traffic (kube-proxy runs, or proxyAll), and the
//! endpoint set is the engine's either way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sim_core::engine::ClusterState;
use sim_core::engine::dataplane::SnatTo;
use sim_core::engine::dataplane::{DesiredRoute, NodeDataplane};
use sim_core::engine::policy::host::{HostAction, HostFirewall};
use sim_core::engine::policy::rules::ServiceMatch;
use sim_core::engine::proxy::{self, ProxyKind, TrafficOrigin, VIRTUAL_NODEPORT_DNAT_IP};
use sim_core::engine::traffic_control::TcPortPlan;
use sim_core::k8s::Protocol;
use sim_core::k8s::TcPort;

use crate::lab::{Lab, LabError};
use crate::sys;

/// What was last applied to each node, so the next apply changes only what
/// differs (addresses and routes) or replaces in one transaction (nft, OVS).
#[derive(Default)]
pub struct Applied {
    dataplane: BTreeMap<String, NodeDataplane>,
    nft: BTreeMap<String, String>,
    flows: BTreeMap<String, String>,
    /// `antrea-gw0`'s MTU per node, in pipeline mode.
    mtu: BTreeMap<String, u32>,
    /// (node, interface) pairs whose `proxy_delay` is already 0.
    proxy_arp_ifaces: std::collections::BTreeSet<(String, String)>,
    /// What each node's loaded program was compiled from: a sync whose
    /// spec is unchanged skips compiling (it runs every 250 ms).
    specs: BTreeMap<String, sim_core::engine::pipeline::PipelineSpec>,
    /// Each ExternalNode VM's program spec, as loaded.
    ext_specs: BTreeMap<String, sim_core::engine::pipeline::PipelineSpec>,
    /// Each node's TrafficControl ports on br-int, as made.
    tc_ports: BTreeMap<String, Vec<TcPortPlan>>,
}

/// The Linux backend: a lab plus what it has applied, and the cluster
/// state the dataplanes were compiled from (a node's br-int program is
/// compiled from both, `sim_core::engine::pipeline::lab_spec`).
pub struct LinuxBackend<'a> {
    pub lab: &'a mut Lab,
    pub applied: &'a mut Applied,
    pub cluster: &'a ClusterState,
    /// One line per change made, for the run log.
    pub log: Vec<String>,
}

impl crate::NodeBackend for LinuxBackend<'_> {
    type Error = LabError;

    fn apply(&mut self, node: &str, desired: &NodeDataplane) -> Result<(), LabError> {
        let last = self
            .applied
            .dataplane
            .get(node)
            .cloned()
            .unwrap_or_default();
        let ns = self.lab.netns[node].clone();
        // Dummy devices: `lo`, or in pipeline mode a device of the node's
        // own OVS (see `Lab::ensure_dummy`).
        let mut dummies: BTreeMap<String, String> = BTreeMap::new();
        for name in desired.dummy_ifaces.iter().chain(&last.dummy_ifaces) {
            if !dummies.contains_key(name) {
                let on = self.lab.ensure_dummy(node, name)?;
                dummies.insert(name.clone(), on);
            }
        }
        let dev = |d: &NodeDataplane, name: &str| -> String {
            match dummies.get(name) {
                Some(on) if d.dummy_ifaces.iter().any(|x| x == name) => on.clone(),
                _ => name.to_string(),
            }
        };
        let mut cmds: Vec<String> = Vec::new();
        let mut announce: Vec<(String, std::net::Ipv4Addr)> = Vec::new();
        // VLAN legs.
        for v in &desired.vlan_ifaces {
            let name = self.lab.ensure_ext_leg(node, &v.parent, v.vid)?;
            if !last.vlan_ifaces.contains(v) {
                cmds.push(format!("link set dev {name} up"));
            }
        }
        for v in &last.vlan_ifaces {
            if !desired.vlan_ifaces.iter().any(|d| d.name == v.name) {
                cmds.push(format!("addr flush dev {}", v.name));
                cmds.push(format!("link set dev {} down", v.name));
            }
        }
        // Addresses (a /32 on lo: a wider prefix there would claim the subnet).
        let addr_of = |d: &NodeDataplane, a: &sim_core::engine::dataplane::AddrAssignment| {
            let on = dev(d, &a.iface);
            let net = if on == "lo" || d.dummy_ifaces.contains(&a.iface) {
                format!("{}/32", a.addr.addr())
            } else {
                a.addr.to_string()
            };
            (on, net)
        };
        let want: Vec<(String, String)> =
            desired.addrs.iter().map(|a| addr_of(desired, a)).collect();
        let had: Vec<(String, String)> = last.addrs.iter().map(|a| addr_of(&last, a)).collect();
        for (on, net) in &had {
            if !want.contains(&(on.clone(), net.clone())) {
                cmds.push(format!("addr del {net} dev {on}"));
            }
        }
        for (a, (on, net)) in desired.addrs.iter().zip(&want) {
            if !had.contains(&(on.clone(), net.clone())) {
                cmds.push(format!("addr replace {net} dev {on}"));
                if a.announce {
                    let via = if on == "lo" || desired.dummy_ifaces.contains(&a.iface) {
                        a.announce_on.clone().unwrap_or("eth0".into())
                    } else {
                        on.clone()
                    };
                    announce.push((via, a.addr.addr()));
                }
            }
        }
        // ServiceExternalIP: the owner answers ARP (see `Responder`).
        let had_resp = responders(&last);
        let want_resp = responders(desired);
        let mut proxy_arp_adds = Vec::new();
        for r in &had_resp {
            if !want_resp.contains(r) {
                cmds.push(r.remove());
            }
        }
        for r in &want_resp {
            if !had_resp.contains(r) {
                match r {
                    Responder::Lo { .. } => cmds.push(r.add()),
                    // After the route it answers by.
                    Responder::Proxy { iface, .. } => {
                        let key = (node.to_string(), iface.clone());
                        if !self.applied.proxy_arp_ifaces.contains(&key) {
                            // The `/` form: a VLAN leg's name has a dot.
                            sys::in_ns(
                                &ns,
                                "sysctl",
                                &["-qw", &format!("net/ipv4/neigh/{iface}/proxy_delay=0")],
                            )?;
                            self.applied.proxy_arp_ifaces.insert(key);
                        }
                        proxy_arp_adds.push(r.add());
                    }
                }
                let (iface, ip) = r.key();
                announce.push((iface.to_string(), ip));
            }
        }
        // Rules and routes.
        for r in &last.rules {
            if !desired.rules.contains(r) {
                cmds.push(format!("rule del {}", rule_args(r)));
            }
        }
        // The peer routes are held shared; here every route is one command.
        let (last_routes, desired_routes) = (last.all_routes(), desired.all_routes());
        for r in &last_routes {
            if !desired_routes
                .iter()
                .any(|d| d.dst == r.dst && d.table == r.table && d.metric == r.metric)
            {
                cmds.push(format!(
                    "route del {} table {} metric {}",
                    r.dst, r.table, r.metric
                ));
            }
        }
        // Permanent neighbours (the virtual Service IP's on antrea-gw0).
        for n in &last.neighbors {
            if !desired.neighbors.contains(n) {
                cmds.push(format!("neigh del {} dev {}", n.ip, n.iface));
            }
        }
        // Routes after addresses: a `via` must be reachable when added.
        let mut route_cmds = Vec::new();
        for n in &desired.neighbors {
            if !last.neighbors.contains(n) {
                route_cmds.push(format!(
                    "neigh replace {} lladdr {} dev {} nud permanent",
                    n.ip, n.mac, n.iface
                ));
            }
        }
        for r in &desired_routes {
            if !last_routes.contains(r) {
                route_cmds.push(route_replace(r, &dev(desired, &r.dev)));
            }
        }
        for r in &desired.rules {
            if !last.rules.contains(r) {
                route_cmds.push(format!("rule add {}", rule_args(r)));
            }
        }
        route_cmds.extend(proxy_arp_adds);
        // Deletions may race with a flush (a leg going down takes its
        // addresses and routes): apply one by one and ignore "not there".
        for c in cmds {
            let tolerant = c.starts_with("addr del")
                || c.starts_with("neigh del")
                || c.starts_with("route del")
                || c.starts_with("rule del");
            match sys::ip_batch(Some(&ns), std::slice::from_ref(&c)) {
                Ok(()) => self.log.push(format!("{node}: ip {c}")),
                Err(_) if tolerant => {}
                Err(e) => return Err(e.into()),
            }
        }
        for c in route_cmds {
            sys::ip_batch(Some(&ns), std::slice::from_ref(&c))?;
            self.log.push(format!("{node}: ip {c}"));
        }
        if desired.strict_arp != last.strict_arp {
            let v = if desired.strict_arp { 1 } else { 0 };
            sys::in_ns(
                &ns,
                "sysctl",
                &["-qw", &format!("net.ipv4.conf.all.arp_ignore={v}")],
            )?;
        }
        // nftables: marks, SNAT, north-south Services, one transaction.
        let nft = nft_ruleset(desired, &self.lab.node_addrs());
        if self.applied.nft.get(node) != Some(&nft) {
            sys::run_with_input("ip", &["netns", "exec", &ns, "nft", "-f", "-"], Some(&nft))?;
            self.log.push(format!(
                "{node}: nft table ip antlab replaced ({} rules)",
                nft.matches(';').count()
            ));
            self.applied.nft.insert(node.to_string(), nft);
            // NAT is decided on a flow's first packet. A Pod's flows that
            // crossed this node before the change (routed to another Egress
            // node, unSNATed) keep their old conntrack entry, and a ping
            // reuses its ICMP id forever; in Antrea those packets were
            // tunnelled and never had a host entry here. So forget them.
            // Also forget flows *from* an SNAT address: while the old Egress
            // node still held a translation, packets already carrying the
            // Egress IP can reach the new one and leave an entry whose reply
            // side (destination -> Egress IP, same ICMP id) makes the next
            // SNAT pick another id.
            let snat_addrs = last
                .snat
                .iter()
                .chain(&desired.snat)
                .filter_map(|s| match s.to {
                    SnatTo::Addr(a) => Some(a.to_string()),
                    SnatTo::Masquerade => None,
                });
            let mut srcs: Vec<String> = last
                .marks
                .iter()
                .chain(&desired.marks)
                .map(|m| m.src.addr().to_string())
                .chain(snat_addrs)
                .collect();
            srcs.sort();
            srcs.dedup();
            for src in srcs {
                // Exit status 1 = nothing to delete.
                let _ = sys::in_ns(&ns, "conntrack", &["-D", "-s", &src]);
            }
        }
        // Gratuitous ARP, once per new address (Antrea's ip_assigner).
        for (iface, ip) in announce {
            // Fire and forget: arping waits for answers that never come to a
            // gratuitous request; the change must not wait with it.
            sys::spawn_in_ns(
                &ns,
                "arping",
                &["-U", "-c", "1", "-w", "1", "-I", &iface, &ip.to_string()],
            );
            self.log
                .push(format!("{node}: gratuitous ARP for {ip} on {iface}"));
        }
        self.program_flows(node, desired)?;
        self.applied
            .dataplane
            .insert(node.to_string(), desired.clone());
        Ok(())
    }
}

impl LinuxBackend<'_> {
    /// The node's br-int. In pipeline mode, Antrea's program as the engine
    /// compiles it (the very text the simulator's interpreter runs); else
    /// real mode's own small program: ARP by MAC learning, IP through
    /// conntrack, ClusterIP groups, then delivery to a local Pod or the
    /// gateway.
    pub fn program_flows(&mut self, node: &str, desired: &NodeDataplane) -> Result<(), LabError> {
        let Some(ib) = self.lab.int_bridges.get(node).cloned() else {
            return Ok(());
        };
        if self.lab.node_switches.contains_key(node) {
            return self.load_pipeline(node, desired);
        }
        let pods: Vec<_> = self
            .lab
            .pods
            .values()
            .filter(|p| p.node == node)
            .cloned()
            .collect();
        let text = int_bridge_bundle(&ib, &pods, desired);
        if self.applied.flows.get(node) != Some(&text) {
            self.lab
                .ovs
                .ofctl(&["bundle", &ib.bridge, "-"], Some(&text))?;
            self.log.push(format!(
                "{node}: ovs-ofctl bundle {} ({} flows, {} groups)",
                ib.bridge,
                text.matches("flow add").count(),
                text.matches("group add").count()
            ));
            self.applied.flows.insert(node.to_string(), text);
        }
        Ok(())
    }
}

impl LinuxBackend<'_> {
    /// Pipeline mode: `antrea-gw0`'s MTU as the agent sets it, then the
    /// compiled program replacing the old one in one bundle.
    fn load_pipeline(&mut self, node: &str, desired: &NodeDataplane) -> Result<(), LabError> {
        let mtu = desired.gateway_mtu;
        if mtu != 0 && self.applied.mtu.get(node) != Some(&mtu) {
            let ns = self.lab.netns[node].clone();
            let c = format!("link set dev antrea-gw0 mtu {mtu}");
            sys::ip_batch(Some(&ns), std::slice::from_ref(&c))?;
            self.log.push(format!("{node}: ip {c}"));
            self.applied.mtu.insert(node.to_string(), mtu);
        }
        let id = self
            .cluster
            .node_id(node)
            .ok_or_else(|| LabError::Unsupported(format!("{node} is not a Kubernetes node")))?;
        let spec = sim_core::engine::pipeline::lab_spec(self.cluster, id, desired);
        if self.applied.specs.get(node) == Some(&spec) {
            return Ok(());
        }
        self.sync_tc_ports(node, spec.traffic_control_ports())?;
        let mut text = bundle_of(&spec)?;
        text.push_str(&userspace_dsr_flow(&spec));
        self.applied.specs.insert(node.to_string(), spec);
        if self.applied.flows.get(node) != Some(&text) {
            self.lab
                .int_bridge_ovs(node)
                .ofctl(&["bundle", crate::lab::BR_INT, "-"], Some(&text))?;
            self.log.push(format!(
                "{node}: ovs-ofctl bundle br-int: Antrea's program ({} flows, {} groups)",
                text.matches("flow add").count(),
                text.matches("group add").count()
            ));
            self.applied.flows.insert(node.to_string(), text);
        }
        Ok(())
    }
}

impl Applied {
    /// The ExternalNode programs' specs, as loaded.
    pub fn external_specs(
        &mut self,
    ) -> &mut BTreeMap<String, sim_core::engine::pipeline::PipelineSpec> {
        &mut self.ext_specs
    }
}

impl LinuxBackend<'_> {
    /// Makes node `node`'s br-int hold exactly the TrafficControl ports
    /// `want`, as Antrea's TrafficControl controller makes them
    /// (`getOrCreateTrafficControlPort`): an OVS internal port, brought up;
    /// a tunnel port with the CR's options; every new port `no-flood`. A
    /// port no longer wanted, or wanted with other options, is deleted
    /// (`releaseTrafficControlPort`). Ports are asked for at the engine's
    /// ofports, so the program's flows name them without a round trip.
    fn sync_tc_ports(&mut self, node: &str, want: &[TcPortPlan]) -> Result<(), LabError> {
        let have = self.applied.tc_ports.get(node).cloned().unwrap_or_default();
        if have.as_slice() == want {
            return Ok(());
        }
        let ns = self.lab.netns[node].clone();
        for old in have.iter().filter(|o| !want.iter().any(|w| o.same_port(w))) {
            self.lab.int_bridge_ovs(node).vsctl(&[
                "--if-exists",
                "del-port",
                crate::lab::BR_INT,
                &old.name,
            ])?;
            self.log
                .push(format!("{node}: ovs-vsctl del-port br-int {}", old.name));
        }
        for new in want.iter().filter(|w| !have.iter().any(|o| o.same_port(w))) {
            let mut args: Vec<String> = [
                "add-port",
                crate::lab::BR_INT,
                &new.name,
                "--",
                "set",
                "interface",
                &new.name,
            ]
            .map(String::from)
            .to_vec();
            args.push(format!("ofport_request={}", new.ofport));
            args.extend(tc_port_options(&new.port)?);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let ovs = self.lab.int_bridge_ovs(node);
            ovs.vsctl(&refs)?;
            // The agent sets the port no-flood so ARP floods skip it.
            ovs.ofctl(
                &["mod-port", crate::lab::BR_INT, &new.name, "no-flood"],
                None,
            )?;
            if matches!(new.port, TcPort::OvsInternal(_)) {
                let up = format!("link set dev {} up", new.name);
                sys::ip_batch(Some(&ns), std::slice::from_ref(&up))?;
            }
            self.log.push(format!(
                "{node}: ovs-vsctl add-port br-int {} ({}, ofport {})",
                new.name,
                new.port.kind(),
                new.ofport
            ));
        }
        self.applied
            .tc_ports
            .insert(node.to_string(), want.to_vec());
        Ok(())
    }
}

/// The `ovs-vsctl set interface` settings of a TrafficControl port, as the
/// agent's `createOVSInternalPort`, `createUDPTunnelPort`, `createGREPort`
/// and `createERSPANPort` give them (an option only when the CR sets it).
fn tc_port_options(port: &TcPort) -> Result<Vec<String>, LabError> {
    let mut o = Vec::new();
    match port {
        TcPort::OvsInternal(_) => o.push("type=internal".to_string()),
        TcPort::Device(name) => {
            return Err(LabError::Unsupported(format!(
                "TrafficControl device port {name}: the lab's nodes have no spare device to attach"
            )));
        }
        TcPort::Geneve {
            remote_ip,
            vni,
            dst_port,
        }
        | TcPort::Vxlan {
            remote_ip,
            vni,
            dst_port,
        } => {
            o.push(format!("type={}", port.kind()));
            o.push(format!("options:remote_ip={remote_ip}"));
            if let Some(p) = dst_port {
                o.push(format!("options:dst_port={p}"));
            }
            if let Some(v) = vni {
                o.push(format!("options:key={v}"));
            }
        }
        TcPort::Gre { remote_ip, key } => {
            o.push("type=gre".into());
            o.push(format!("options:remote_ip={remote_ip}"));
            if let Some(k) = key {
                o.push(format!("options:key={k}"));
            }
        }
        TcPort::Erspan {
            remote_ip,
            session_id,
            version,
            index,
            dir,
            hardware_id,
        } => {
            o.push("type=erspan".into());
            o.push(format!("options:remote_ip={remote_ip}"));
            o.push(format!("options:erspan_ver={version}"));
            if let Some(s) = session_id {
                o.push(format!("options:key={s}"));
            }
            if *version == 1 {
                if let Some(i) = index {
                    // The agent writes the index in hex (strconv.FormatInt(.., 16)).
                    o.push(format!("options:erspan_idx={i:x}"));
                }
            } else {
                if let Some(d) = dir {
                    o.push(format!("options:erspan_dir={d}"));
                }
                if let Some(h) = hardware_id {
                    o.push(format!("options:erspan_hwid={h}"));
                }
            }
        }
    }
    Ok(o)
}

/// Node `node`'s compiled br-int program as one `ovs-ofctl bundle` input
/// that replaces whatever br-int held: the groups and flows the simulator
/// loads (`sim_core::engine::pipeline::inspect::program`), groups first.
pub fn pipeline_bundle(
    cluster: &ClusterState,
    node: &str,
    desired: &NodeDataplane,
) -> Result<String, LabError> {
    let id = cluster
        .node_id(node)
        .ok_or_else(|| LabError::Unsupported(format!("{node} is not a Kubernetes node")))?;
    bundle_of(&sim_core::engine::pipeline::lab_spec(cluster, id, desired))
}

/// Every ExternalNode's agent in the lab: the VM's interface on its own
/// br-int (`crate::lab::Lab::external_node_up`) with the program the
/// simulator runs there; a VM whose ExternalNode went gets its interface
/// back. Returns the log lines.
pub fn sync_external_nodes(
    lab: &mut Lab,
    cluster: &ClusterState,
    specs: &mut BTreeMap<String, sim_core::engine::pipeline::PipelineSpec>,
) -> Result<Vec<String>, LabError> {
    use sim_core::engine::pipeline::external_node_spec;
    let mut log = Vec::new();
    if cluster.external_nodes.is_empty() && lab.external_node_vms().is_empty() {
        return Ok(log);
    }
    let policies = sim_core::engine::policy::index::PolicyIndex::build(cluster);
    let mut wanted = Vec::new();
    for st in cluster.external_nodes.iter() {
        let Some(spec) = external_node_spec(cluster, st.name(), &policies) else {
            continue;
        };
        let vm = st.name().to_string();
        if lab.external_node_up(&vm, &st.iface)? {
            specs.remove(&vm);
            log.push(format!(
                "{vm}: antrea-agent (ExternalNode): {} renamed {}, uplink on br-int, internal port {} holds its addresses",
                st.iface,
                st.uplink(),
                st.iface
            ));
        }
        wanted.push(vm.clone());
        // Compiled again only when what it is compiled from changed.
        if specs.get(&vm) == Some(&spec) {
            continue;
        }
        let bundle = external_bundle(&spec)?;
        if lab.external_node_load(&vm, &bundle)? {
            log.push(format!(
                "{vm}: ovs-ofctl bundle br-int: the ExternalNode program ({} flows)",
                bundle.matches("flow add").count()
            ));
        }
        specs.insert(vm, spec);
    }
    for vm in lab.external_node_vms() {
        if !wanted.contains(&vm) {
            lab.external_node_down(&vm)?;
            specs.remove(&vm);
            log.push(format!("{vm}: the agent gave its interface back"));
        }
    }
    Ok(log)
}

/// The bundle input of an external Node's program (no tunnel port).
fn external_bundle(spec: &sim_core::engine::pipeline::PipelineSpec) -> Result<String, LabError> {
    use sim_core::engine::pipeline::{compile, inspect};
    let program = inspect::external_program(&compile(spec)).map_err(LabError::Unsupported)?;
    let text = format!(
        "group delete group_id=all\nflow delete\n{}",
        program.bundle_text()
    );
    crate::oftrace::bridge::bundle_for_ovs(&text).map_err(|e| LabError::Unsupported(e.to_string()))
}

/// The bundle input of the program compiled from `spec`.
fn bundle_of(spec: &sim_core::engine::pipeline::PipelineSpec) -> Result<String, LabError> {
    use sim_core::engine::pipeline::{compile, inspect};
    let program = inspect::program(&compile(spec)).map_err(LabError::Unsupported)?;
    let text = format!(
        "group delete group_id=all\nflow delete\n{}",
        program.bundle_text()
    );
    crate::oftrace::bridge::bundle_for_ovs(&text).map_err(|e| LabError::Unsupported(e.to_string()))
}

/// The one flow real mode adds to Antrea's program, with the
/// `LoadBalancerModeDSR` gate. On the ingress node a DSR connection never
/// shows its replies. Linux's conntrack, which Antrea's kernel datapath
/// uses, marks the connection's later packets `+inv` (an ACK in SYN_SENT,
/// nf_conntrack_proto_tcp.c), and ConntrackState's DSR flow sends invalid
/// external packets back to PreRouting, where the learned flow keeps them
/// on their endpoint. OVS's userspace conntrack (conntrack-tcp.c) takes
/// them as `+est` instead, so ConntrackState would skip PreRouting and the
/// packets would go back to the gateway. This flow sends those packets
/// (external, original direction, not a Service connection DNATed here) to
/// PreRouting too; for any other such packet PreRouting changes nothing.
fn userspace_dsr_flow(spec: &sim_core::engine::pipeline::PipelineSpec) -> String {
    if !spec.features().dsr || !spec.features().antrea_proxy {
        return String::new();
    }
    let tables = sim_core::engine::pipeline::tables(spec);
    let id = |name: &str| tables.iter().find(|(_, n)| *n == name).map(|(i, _)| *i);
    match (id("ConntrackState"), id("PreRoutingClassifier")) {
        (Some(cs), Some(pre)) => format!(
            "flow add table={cs},priority=210,ct_state=+est-rpl+trk,ct_mark=0/0x10,reg4=0x8000000/0x8000000,ip actions=goto_table:{pre}\n"
        ),
        _ => String::new(),
    }
}

/// How a node answers ARP for a ServiceExternalIP it owns. Antrea's
/// agent answers from userspace and puts the address on no interface
/// (docs: ServiceExternalIP). Real mode lets the kernel answer:
/// - `Lo`: the address on `lo`, which makes it local; fine while the host
///   DNATs that traffic before routing (kube-proxy, or AntreaProxy's
///   north-south traffic without br-int's program);
/// - `Proxy`: where the node routes the address into `antrea-gw0`
///   (`NodeDataplane::proxy_all_in_br_int`), a local address would swallow
///   the traffic, so a proxy ARP entry (`ip neigh add proxy IP dev IFACE`)
///   answers instead: Linux answers for it on `IFACE` because the route to
///   it leaves by another device (arp.c `arp_process`), at once with
///   `proxy_delay=0`. Its gratuitous ARP needs `ip_nonlocal_bind` (the
///   lab's node namespaces set it).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Responder {
    Lo {
        iface: String,
        ip: std::net::Ipv4Addr,
    },
    Proxy {
        iface: String,
        ip: std::net::Ipv4Addr,
    },
}

impl Responder {
    fn key(&self) -> (&str, std::net::Ipv4Addr) {
        match self {
            Responder::Lo { iface, ip } | Responder::Proxy { iface, ip } => (iface, *ip),
        }
    }
    fn add(&self) -> String {
        match self {
            Responder::Lo { ip, .. } => format!("addr replace {ip}/32 dev lo"),
            Responder::Proxy { iface, ip } => format!("neigh replace proxy {ip} dev {iface}"),
        }
    }
    fn remove(&self) -> String {
        match self {
            Responder::Lo { ip, .. } => format!("addr del {ip}/32 dev lo"),
            Responder::Proxy { iface, ip } => format!("neigh del proxy {ip} dev {iface}"),
        }
    }
}

fn responders(d: &NodeDataplane) -> Vec<Responder> {
    d.arp_responder
        .iter()
        .map(|(iface, ip)| {
            let into_br_int = d.proxy_all_in_br_int
                && d.routes.iter().any(|r| {
                    r.dst.prefix_len() == 32
                        && r.dst.addr() == *ip
                        && &*r.dev == sim_core::engine::GATEWAY_IFACE
                });
            let (iface, ip) = (iface.clone(), *ip);
            if into_br_int {
                Responder::Proxy { iface, ip }
            } else {
                Responder::Lo { iface, ip }
            }
        })
        .collect()
}

fn rule_args(r: &sim_core::engine::dataplane::DesiredRule) -> String {
    let mut s = format!("pref {}", r.priority);
    if let Some((v, m)) = r.fwmark {
        let _ = write!(s, " fwmark {v:#x}/{m:#x}");
    }
    let _ = write!(s, " lookup {}", r.table);
    s
}

/// Antrea's conntrack zone for Service traffic (`CtZone`, 0xfff0).
const CT_ZONE: u32 = 65520;
/// Antrea's conntrack zone for SNAT (`SNATCtZone`, 0xfff1).
const SNAT_CT_ZONE: u32 = 65521;
/// The address a hairpin connection is SNATed to (Antrea's
/// `VirtualServiceIPv4`, pkg/agent/config/node_config.go, v2.7.0).
const HAIRPIN_IP: &str = "169.254.0.253";

/// The whole br-int program as one `ovs-ofctl bundle` input: delete
/// everything, then add groups and flows, applied atomically.
pub fn int_bridge_bundle(
    ib: &crate::lab::IntBridge,
    pods: &[crate::lab::PodLeg],
    desired: &NodeDataplane,
) -> String {
    let mut t = String::new();
    t.push_str("flow delete\n");
    t.push_str("group delete group_id=all\n");
    let mut group = 0u32;
    let mut svc_flows = String::new();
    if let Some(rules) = &desired.service_rules {
        for p in rules.ports() {
            let Some(a) = &p.antrea else { continue };
            let proto = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => continue,
            };
            group += 1;
            let eps = a.cluster_group.clone().unwrap_or_default();
            let _ = write!(t, "group add group_id={group},type=select");
            for (i, ep) in eps.iter().filter(|e| e.ready).enumerate() {
                let _ = write!(
                    t,
                    ",bucket=bucket_id:{i},weight:100,actions=ct(commit,table=2,zone={CT_ZONE},nat(dst={}:{}))",
                    ep.ip, ep.port
                );
            }
            t.push('\n');
            // Pod-originated traffic to every address the Service answers
            // on: its ClusterIP, LoadBalancer and external IPs on the Service
            // port, and the node addresses AntreaProxy serves on the NodePort.
            let vips = std::iter::once(p.cluster_ip)
                .chain(p.lb_ips.iter().copied())
                .chain(p.external_ips.iter().copied())
                .map(|ip| (ip, p.port))
                .chain(p.node_port.into_iter().flat_map(|np| {
                    rules
                        .antrea_nodeport_addresses
                        .iter()
                        .map(move |ip| (*ip, np))
                }));
            for (ip, port) in vips {
                let _ = writeln!(
                    svc_flows,
                    "flow add table=1,priority=200,ct_state=+new+trk,{proto},nw_dst={ip},tp_dst={port},actions=group:{group}"
                );
            }
        }
    }
    t.push_str("flow add table=0,priority=200,arp,actions=NORMAL\n");
    // Hairpin replies (a Pod that reached itself through a Service): undo
    // the SNAT, then the DNAT, as Antrea's UnSNAT table does
    // (pkg/agent/openflow/service_test.go, v2.7.0).
    let _ = writeln!(
        t,
        "flow add table=0,priority=210,ip,nw_dst={HAIRPIN_IP},actions=ct(table=3,zone={SNAT_CT_ZONE},nat)"
    );
    let _ = writeln!(
        t,
        "flow add table=3,priority=100,ip,actions=ct(table=1,zone={CT_ZONE},nat)"
    );
    let _ = writeln!(
        t,
        "flow add table=0,priority=100,ip,actions=ct(table=1,zone={CT_ZONE},nat)"
    );
    t.push_str("flow add table=0,priority=0,actions=NORMAL\n");
    t.push_str(&svc_flows);
    t.push_str("flow add table=1,priority=0,actions=resubmit(,2)\n");
    for p in pods {
        let _ = writeln!(
            t,
            "flow add table=2,priority=200,ip,nw_dst={},actions=mod_dl_dst:{},output:{}",
            p.ip, p.mac, p.ofport
        );
        // Hairpin: the Pod was picked as the endpoint of its own Service
        // call. The request is SNATed to the virtual IP, so the Pod answers
        // it through the gateway, and both directions go back out of the
        // port they came in by (OVS never outputs to in_port by itself).
        let _ = writeln!(
            t,
            "flow add table=2,priority=220,ip,in_port={port},nw_src={ip},nw_dst={ip},actions=ct(commit,table=4,zone={SNAT_CT_ZONE},nat(src={HAIRPIN_IP}))",
            port = p.ofport,
            ip = p.ip
        );
        let back = format!(
            "ip,in_port={},nw_dst={},actions=mod_dl_src:{},mod_dl_dst:{},output:in_port",
            p.ofport, p.ip, ib.gw_mac, p.mac
        );
        let _ = writeln!(t, "flow add table=4,priority=200,{back}");
        let _ = writeln!(t, "flow add table=2,priority=210,{back}");
    }
    let _ = writeln!(
        t,
        "flow add table=2,priority=100,ip,actions=mod_dl_dst:{},output:{}",
        ib.gw_mac, ib.gw_ofport
    );
    t
}

/// The `ip` command (without `ip`) that installs `r` through `dev`.
/// `onlink` sends to a `via` outside `dev`'s subnets, as the engine asks for
/// a static Egress IP no node has (see `sim_core::engine::egress_static`).
pub fn route_replace(r: &DesiredRoute, dev: &str) -> String {
    let mut c = format!("route replace {}", r.dst);
    if let Some(v) = r.via {
        let _ = write!(c, " via {v}");
    }
    if r.onlink {
        c.push_str(" onlink");
    }
    let _ = write!(c, " dev {dev} table {} metric {}", r.table, r.metric);
    c
}

/// The node's nftables table: marks (prerouting), north-south Service DNAT,
/// SNAT (postrouting) in the engine's order, and NodeNetworkPolicy (input
/// and output, `nodepolicy_chains`) when the node has any.
pub fn nft_ruleset(d: &NodeDataplane, nodes: &crate::dsr::NodeAddrs) -> String {
    let mut t = String::new();
    // Create-then-delete makes the delete succeed on the first apply too.
    t.push_str("table ip antlab {}\ndelete table ip antlab\ntable ip antlab {\n");
    t.push_str(
        "  chain egress_mark {\n    type filter hook prerouting priority mangle; policy accept;\n",
    );
    for m in &d.marks {
        let _ = write!(t, "    ip saddr {}", m.src);
        if !m.not_dst.is_empty() {
            let _ = write!(t, " ip daddr != {{ {} }}", join(&m.not_dst));
        }
        let _ = writeln!(
            t,
            " meta mark set meta mark | {:#x} comment {};",
            m.mark,
            crate::script::nft_string(&m.comment)
        );
    }
    t.push_str("  }\n");
    // Service traffic the node's kernel sees: from outside to LoadBalancer
    // and external IPs and to NodePorts (prerouting), and from the node
    // itself to any of them or to a ClusterIP (output), where br-int does
    // not load-balance it. Pods' own Service traffic never gets here:
    // br-int already DNATed it.
    let mut inbound = String::new();
    let mut local = String::new();
    let mut chains = String::new();
    let mut dsr_forward = String::new();
    let mut external = false;
    if let Some(rules) = &d.service_rules {
        for (i, p) in rules.ports().enumerate() {
            let Some(a) = &p.antrea else { continue };
            // Node and outside traffic is kube-proxy's while it runs, and
            // AntreaProxy's only with proxyAll; with neither, nobody's.
            if p.kube.is_none() && !rules.cfg.proxy_all {
                continue;
            }
            let proto = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => continue,
            };
            let ready = |g: &Option<Vec<sim_core::engine::proxy::EndpointRef>>| -> Vec<_> {
                g.clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| e.ready)
                    .collect()
            };
            // externalTrafficPolicy: Local keeps outside traffic on local endpoints.
            let outside = ready(if p.etp_local {
                &a.local_group
            } else {
                &a.cluster_group
            });
            let inside = ready(&a.cluster_group);
            // Direct server return for outside traffic: see `dsr`.
            let is_dsr =
                |ip: &std::net::Ipv4Addr| a.vips.iter().any(|v| v.dsr && v.ip == Some(*ip));
            let dsr_ips: Vec<std::net::Ipv4Addr> = p
                .lb_ips
                .iter()
                .chain(&p.external_ips)
                .copied()
                .filter(is_dsr)
                .collect();
            // With proxyAll and br-int executing Antrea's program, what
            // AntreaProxy serves from outside and from the node goes to
            // br-int: the routes take ClusterIPs, LoadBalancer and external
            // IPs into antrea-gw0, NodePorts are DNATed to 169.254.0.252
            // first (as the simulator's `sim::services` does,
            // `NodeDataplane::proxy_all_in_br_int`).
            let in_br_int = |origin: TrafficOrigin, ip: std::net::Ipv4Addr, port: u16| {
                d.proxy_all_in_br_int
                    && proxy::handled_by(rules, origin, ip, port, p.protocol)
                        == Some(ProxyKind::AntreaProxy)
            };
            let to_br_int = |ip, port| in_br_int(TrafficOrigin::External, ip, port);
            let from_node_to_br_int = |ip, port| in_br_int(TrafficOrigin::Node, ip, port);
            let dsr_ips: Vec<std::net::Ipv4Addr> = dsr_ips
                .into_iter()
                .filter(|ip| !to_br_int(*ip, p.port))
                .collect();
            if !dsr_ips.is_empty() {
                let r = crate::dsr::rules(i, proto, &dsr_ips, p.port, &outside, nodes);
                inbound.push_str(&r.nat);
                dsr_forward.push_str(&r.forward);
                chains.push_str(&r.chains);
            }
            for ip in p.lb_ips.iter().chain(&p.external_ips) {
                if !is_dsr(ip) && !to_br_int(*ip, p.port) {
                    external = true;
                    let _ = writeln!(
                        inbound,
                        "    ip daddr {ip} {proto} dport {} jump svc{i}x;",
                        p.port
                    );
                }
                if !from_node_to_br_int(*ip, p.port) {
                    let _ = writeln!(
                        local,
                        "    ip daddr {ip} {proto} dport {} jump svc{i}c;",
                        p.port
                    );
                }
            }
            if let Some(np) = p.node_port {
                let addrs = &rules.antrea_nodeport_addresses;
                // To br-int: the ANTREA-NODEPORT-IP ipset's DNAT
                // (route_linux.go v2.1.0); else to this port's chain.
                let rule = |into_br_int: bool, chain: &str| {
                    if into_br_int {
                        format!(
                            "    ip daddr {{ {} }} {proto} dport {np} dnat to {VIRTUAL_NODEPORT_DNAT_IP};\n",
                            join(addrs)
                        )
                    } else {
                        format!("    fib daddr type local {proto} dport {np} jump {chain};\n")
                    }
                };
                let from_outside = addrs.first().is_some_and(|a| to_br_int(*a, np));
                external |= !from_outside;
                inbound.push_str(&rule(from_outside, &format!("svc{i}x")));
                let from_node = addrs.first().is_some_and(|a| from_node_to_br_int(*a, np));
                local.push_str(&rule(from_node, &format!("svc{i}c")));
            }
            if !from_node_to_br_int(p.cluster_ip, p.port) {
                let _ = writeln!(
                    local,
                    "    ip daddr {} {proto} dport {} jump svc{i}c;",
                    p.cluster_ip, p.port
                );
            }
            for (suffix, eps) in [("x", &outside), ("c", &inside)] {
                let _ = writeln!(chains, "  chain svc{i}{suffix} {{");
                if eps.is_empty() {
                    chains.push_str("    drop;\n");
                } else {
                    let map: Vec<String> = (0..eps.len())
                        .map(|k| format!("{k} : jump svc{i}{suffix}{k}"))
                        .collect();
                    if suffix == "x" {
                        // Remembered for the masquerade on the way out.
                        chains.push_str("    ct mark set 0x5e;\n");
                    }
                    let _ = writeln!(
                        chains,
                        "    numgen random mod {} vmap {{ {} }};",
                        eps.len(),
                        map.join(", ")
                    );
                }
                chains.push_str("  }\n");
                for (k, e) in eps.iter().enumerate() {
                    let _ = writeln!(
                        chains,
                        "  chain svc{i}{suffix}{k} {{\n    meta l4proto {proto} dnat to {}:{};\n  }}",
                        e.ip, e.port
                    );
                }
            }
        }
    }
    t.push_str(
        "  chain service_dnat {\n    type nat hook prerouting priority dstnat; policy accept;\n",
    );
    t.push_str(&inbound);
    t.push_str("  }\n");
    t.push_str("  chain service_local {\n    type nat hook output priority -100; policy accept;\n");
    t.push_str(&local);
    t.push_str("  }\n");
    if !dsr_forward.is_empty() {
        t.push_str(
            "  chain dsr_forward {\n    type filter hook prerouting priority mangle; policy accept;\n",
        );
        t.push_str(&dsr_forward);
        t.push_str("  }\n");
    }
    t.push_str(&chains);
    t.push_str(
        "  chain snat_post {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    if external {
        // The endpoint may be on another node: its reply must come back here
        // to be un-DNATed (externalTrafficPolicy Cluster's SNAT).
        t.push_str("    ct mark 0x5e masquerade comment \"north-south Service traffic\";\n");
    }
    for s in &d.snat {
        t.push_str("   ");
        if let Some(src) = s.src {
            let _ = write!(t, " ip saddr {src}");
        }
        if !s.not_dst.is_empty() {
            let _ = write!(t, " ip daddr != {{ {} }}", join(&s.not_dst));
        }
        if let Some(o) = &s.not_out_iface {
            let _ = write!(t, " oifname != {}", crate::script::nft_string(o));
        }
        if let Some(o) = &s.out_iface {
            let _ = write!(t, " oifname {}", crate::script::nft_string(o));
        }
        if s.src_local_elsewhere {
            // iptables' `-m addrtype --src-type LOCAL ! --src-type LOCAL
            // --limit-iface-out`.
            t.push_str(" fib saddr type local fib saddr . oif type != local");
        }
        if let Some((v, m)) = s.mark {
            let _ = write!(t, " meta mark & {m:#x} == {v:#x}");
        }
        match s.to {
            SnatTo::Masquerade => t.push_str(" masquerade"),
            SnatTo::Addr(a) => {
                let _ = write!(t, " snat to {a}");
            }
        }
        let _ = writeln!(t, " comment {};", crate::script::nft_string(&s.comment));
    }
    t.push_str("  }\n");
    if !d.host_firewall.is_empty() {
        t.push_str(&nodepolicy_chains(&d.host_firewall));
    }
    t.push_str("}\n");
    t
}

/// NodeNetworkPolicy as nftables chains of the `antlab` table, evaluated as
/// the simulator's host stack evaluates [`HostFirewall`] (and Antrea's
/// iptables chains do): established/related and loopback accepted first,
/// then the rules in order, the first match deciding; no match accepts.
/// A rule with several services is one line per service (same action, same
/// place: iptables' service chain `ANTREA-POL-RULE<ID>`); one whose peers
/// hold no address matches nothing and installs nothing.
fn nodepolicy_chains(fw: &HostFirewall) -> String {
    let mut t = String::new();
    for (chain, hook, iface, side, rules) in [
        ("nodepolicy_input", "input", "iifname", "saddr", &fw.ingress),
        (
            "nodepolicy_output",
            "output",
            "oifname",
            "daddr",
            &fw.egress,
        ),
    ] {
        let _ = writeln!(
            t,
            "  chain {chain} {{\n    type filter hook {hook} priority filter; policy accept;"
        );
        t.push_str("    ct state established,related accept;\n");
        let _ = writeln!(t, "    {iface} \"lo\" accept;");
        for r in rules {
            let Some(peers) = nft_peers(&r.peers) else {
                continue;
            };
            let addr = match peers.as_slice() {
                [] => String::new(),
                [one] => format!(" ip {side} {one}"),
                many => format!(" ip {side} {{ {} }}", join(many)),
            };
            let action = match r.action {
                HostAction::Accept => "accept",
                HostAction::Drop => "drop",
                HostAction::Reject => "reject",
            };
            let comment = crate::script::nft_string(&format!(
                "Antrea: for rule {}, policy {}",
                r.rule, r.policy
            ));
            let services: Vec<String> = if r.services.is_empty() {
                vec![String::new()]
            } else {
                r.services.iter().map(nft_service).collect()
            };
            for svc in services {
                // enableLogging: Antrea's LOG rule before the verdict.
                if let Some(p) = &r.log_prefix {
                    let prefix = crate::script::nft_string(p);
                    let _ = writeln!(t, "   {addr}{svc} log prefix {prefix};");
                }
                let _ = writeln!(t, "   {addr}{svc} {action} comment {comment};");
            }
        }
        t.push_str("  }\n");
    }
    t
}

/// A rule's peers for an nftables match: `Some(vec![])` for any address
/// (`0.0.0.0/0`), `None` for none. Networks inside another one are left
/// out: an interval set rejects overlapping elements.
fn nft_peers(peers: &[ipnet::Ipv4Net]) -> Option<Vec<ipnet::Ipv4Net>> {
    if peers.is_empty() {
        return None;
    }
    let nets: Vec<ipnet::Ipv4Net> = peers.iter().map(|n| n.trunc()).collect();
    if nets.iter().any(|n| n.prefix_len() == 0) {
        return Some(Vec::new());
    }
    let mut out: Vec<ipnet::Ipv4Net> = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        let covered = nets
            .iter()
            .enumerate()
            .any(|(j, m)| m.contains(n) && (m != n || j < i));
        if !covered {
            out.push(*n);
        }
    }
    out.sort();
    Some(out)
}

/// ` tcp dport 80`-style text for one service (empty for none).
fn nft_service(s: &ServiceMatch) -> String {
    let range = |(a, b): (u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    };
    match s {
        ServiceMatch::L4 { protocol, dst, src } => {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            let mut t = String::new();
            if let Some(r) = dst {
                let _ = write!(t, " {proto} dport {}", range(*r));
            }
            if let Some(r) = src {
                let _ = write!(t, " {proto} sport {}", range(*r));
            }
            if t.is_empty() {
                t = format!(" meta l4proto {proto}");
            }
            t
        }
        ServiceMatch::Icmp { icmp_type, code } => {
            let mut t = String::new();
            if let Some(v) = icmp_type {
                let _ = write!(t, " icmp type {v}");
            }
            if let Some(c) = code {
                let _ = write!(t, " icmp code {c}");
            }
            if t.is_empty() {
                t = " meta l4proto icmp".to_string();
            }
            t
        }
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::engine::pipeline::{EncapMode, Features, PipelineSpec};

    fn spec(dsr: bool) -> PipelineSpec {
        PipelineSpec::new(
            "192.168.77.100/24".parse().unwrap(),
            "10.10.0.0/24".parse().unwrap(),
            "0a:00:00:00:00:01".parse().unwrap(),
        )
        .with_encap(EncapMode::Encap)
        .with_features(Features {
            dsr,
            ..Features::default()
        })
    }

    #[test]
    fn the_userspace_dsr_flow_is_added_only_with_dsr_and_names_antrea_s_tables() {
        assert_eq!(userspace_dsr_flow(&spec(false)), "");
        let tables = sim_core::engine::pipeline::tables(&spec(true));
        let id = |name: &str| tables.iter().find(|(_, n)| *n == name).unwrap().0;
        assert_eq!(
            userspace_dsr_flow(&spec(true)),
            format!(
                "flow add table={},priority=210,ct_state=+est-rpl+trk,ct_mark=0/0x10,reg4=0x8000000/0x8000000,ip actions=goto_table:{}\n",
                id("ConntrackState"),
                id("PreRoutingClassifier")
            )
        );
        // Antrea's own priority-210 ConntrackState flow matches +inv, this
        // one +est: no packet matches both.
        assert_eq!((id("ConntrackState"), id("PreRoutingClassifier")), (7, 8));
    }

    fn host_rule(
        id: u32,
        rule: &str,
        peers: &[&str],
        services: Vec<ServiceMatch>,
        action: HostAction,
    ) -> sim_core::engine::policy::host::HostRule {
        sim_core::engine::policy::host::HostRule {
            id,
            policy: "AntreaClusterNetworkPolicy:node-policy".into(),
            rule: rule.into(),
            peers: peers.iter().map(|p| p.parse().unwrap()).collect(),
            services,
            action,
            log_prefix: None,
        }
    }

    #[test]
    fn node_network_policy_becomes_input_and_output_chains_in_rule_order() {
        let mut d = NodeDataplane::default();
        let nodes = crate::dsr::NodeAddrs::new();
        assert!(!nft_ruleset(&d, &nodes).contains("nodepolicy"));
        let port = |protocol| ServiceMatch::L4 {
            protocol,
            dst: Some((10351, 10351)),
            src: None,
        };
        d.host_firewall = HostFirewall {
            ingress: vec![
                host_rule(
                    3,
                    "deny-gossip",
                    &["192.168.77.101/32", "192.168.77.102/32"],
                    vec![port(Protocol::Tcp), port(Protocol::Udp)],
                    HostAction::Drop,
                ),
                host_rule(4, "allow-rest", &["0.0.0.0/0"], vec![], HostAction::Accept),
            ],
            egress: vec![host_rule(
                5,
                "no-web",
                // Overlapping peers: the /32 inside the /24 is left out.
                &["10.0.0.0/24", "10.0.0.7/32", "10.1.0.0/16"],
                vec![
                    ServiceMatch::L4 {
                        protocol: Protocol::Tcp,
                        dst: Some((8000, 8080)),
                        src: Some((1024, 1024)),
                    },
                    ServiceMatch::L4 {
                        protocol: Protocol::Sctp,
                        dst: None,
                        src: None,
                    },
                    ServiceMatch::Icmp {
                        icmp_type: Some(8),
                        code: Some(0),
                    },
                ],
                HostAction::Reject,
            )],
        };
        let t = nft_ruleset(&d, &nodes);
        let chains = &t[t.find("  chain nodepolicy_input").expect(&t)..];
        assert_eq!(
            chains,
            "  chain nodepolicy_input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept;
    iifname \"lo\" accept;
    ip saddr { 192.168.77.101/32, 192.168.77.102/32 } tcp dport 10351 drop comment \"Antrea: for rule deny-gossip, policy AntreaClusterNetworkPolicy:node-policy\";
    ip saddr { 192.168.77.101/32, 192.168.77.102/32 } udp dport 10351 drop comment \"Antrea: for rule deny-gossip, policy AntreaClusterNetworkPolicy:node-policy\";
    accept comment \"Antrea: for rule allow-rest, policy AntreaClusterNetworkPolicy:node-policy\";
  }
  chain nodepolicy_output {
    type filter hook output priority filter; policy accept;
    ct state established,related accept;
    oifname \"lo\" accept;
    ip daddr { 10.0.0.0/24, 10.1.0.0/16 } tcp dport 8000-8080 tcp sport 1024 reject comment \"Antrea: for rule no-web, policy AntreaClusterNetworkPolicy:node-policy\";
    ip daddr { 10.0.0.0/24, 10.1.0.0/16 } meta l4proto sctp reject comment \"Antrea: for rule no-web, policy AntreaClusterNetworkPolicy:node-policy\";
    ip daddr { 10.0.0.0/24, 10.1.0.0/16 } icmp type 8 icmp code 0 reject comment \"Antrea: for rule no-web, policy AntreaClusterNetworkPolicy:node-policy\";
  }
}
"
        );
        // One peer: matched directly; no address: nothing installed.
        d.host_firewall = HostFirewall {
            ingress: vec![
                host_rule(6, "one", &["10.0.0.5/24"], vec![], HostAction::Drop),
                host_rule(7, "none", &[], vec![], HostAction::Drop),
            ],
            egress: vec![],
        };
        let t = nft_ruleset(&d, &nodes);
        assert!(t.contains("\n    ip saddr 10.0.0.0/24 drop comment"), "{t}");
        assert!(!t.contains("rule none"), "{t}");
    }
}
