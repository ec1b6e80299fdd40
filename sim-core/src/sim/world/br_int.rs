//! A node's `br-int` that executes its compiled OpenFlow program
//! (`options.brInt: pipeline`, the default; with `switch` br-int is a
//! MAC-learning switch).
//!
//! A program is installed ([`World::defer_br_int_program`]) with what it
//! is built from and built when br-int first needs it: a frame arrives, or
//! [`World::br_int_program`] is read. A later install replaces an unbuilt
//! one, so a br-int no traffic crosses never builds anything (a large lab
//! that measures the control plane holds no flows), and building late
//! gives the same program, since the install captured all it depends on.
//!
//! What such a br-int holds ([`BrIntRt`]): the node's
//! [`crate::openflow::Program`] (as `engine::pipeline` compiled it), a
//! [`crate::openflow::Conntrack`] of its own run in `Tracked` mode, and the
//! map between OpenFlow ports and the switch's ports: ofport 1 is the tunnel
//! (no switch port), ofport 2 is `antrea-gw0` (switch port 0), Pods have the
//! ofports the engine gave them, mapped to the switch port each Pod's `eth0`
//! is wired to (by the Pod's identity, never by creation order).
//!
//! A frame arriving on a port is read into a [`crate::openflow::Packet`]
//! (`in_port` = its ofport) and walked through the program at the current
//! sim time in integer ns (the program keeps its flow and group counters).
//! Then, in the order the walk produced them:
//! - each output is the arriving frame with the output's headers written
//!   into it, sent on the mapped switch port;
//! - an output to the tunnel port with a `tun_dst` is Geneve-encapsulated
//!   (outer source the node's transport IP, destination `tun_dst`, UDP 6081,
//!   VNI from `tun_id`, OVS's defaults as `wire::geneve` has them) and the
//!   outer IPv4 packet is handed to the node's own IP stack, which routes and
//!   ARPs for it like any packet the node originates (OVS's userspace
//!   tunnelling resolves the outer route and neighbour in the host);
//! - `NORMAL` hands the frame to the switch's MAC learning, as OVS's NORMAL
//!   action does L2 switching;
//! - a packet-in (`controller`: today only EndpointDNAT's, for a Service
//!   with no endpoint) is answered as the agent answers it, with a TCP
//!   reset or ICMP unreachable out of the port the packet came in by
//!   ([`DropReason::NoEndpoints`] for the packet itself); a walk with no
//!   output is a logged drop ([`DropReason::BrInt`]).
//!
//! On the receiving side, the node's stack delivers UDP 6081 addressed to
//! itself here ([`World::tunnel_receive`]): the frame is decapsulated and its
//! inner frame walked from ofport 1 with `tun_src`, `tun_dst` and `tun_id`
//! set, as OVS's tunnel port sets them.
//!
//! Decisions: a replaced program keeps the br-int's conntrack (OVS's
//! conntrack outlives flow changes) but starts its counters from zero (the
//! caller replaces a program only when its rules or port map changed). A
//! cold boot is different ([`World::br_int_cold_boot`], from `power.rs` when
//! the node powers on): a powered-off machine keeps neither OVS's flows nor
//! its conntrack, so the br-int comes up with no flows (it drops every
//! frame) and an empty conntrack, and the next install puts the program
//! from scratch, as the agent does when it starts, even when its rules are
//! those loaded before the power cycle: counters from zero, learned flows
//! gone. The host's conntrack also sees the tunnel's UDP packets, as the
//! kernel's does for OVS's userspace tunnel traffic.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::World;
use crate::engine::pipeline::{
    CT_ZONE, PACKET_IN_LOGGING, PACKET_IN_REJECT, PACKET_IN_STORE_DENY, PolicyPacketIn,
};
use crate::engine::policy::PolicyCatalog;
use crate::k8s::{Direction, RuleAction};
use crate::model::{DeviceId, MacAddr, PortRef};
use crate::openflow::conntrack::CtRow;
use crate::openflow::program::ProgramRules;
use crate::openflow::{Conntrack, CtMode, Field, FlowInterner, Packet, Program, Walk};
use crate::sim::devices::DeviceRt;
use crate::sim::stack::l7_message;
use crate::sim::trace::{DropReason, LogKind, TraceTag};
use crate::wire::{self, EthHeader, Ipv4Pkt, geneve};

/// The ofport of the tunnel (`antrea-tun0`).
pub const TUNNEL_OFPORT: u32 = 1;
/// The ofport of `antrea-gw0`.
pub const GATEWAY_OFPORT: u32 = 2;

/// The switch port of `antrea-gw0` on every br-int (pods.rs plugs it first).
const GATEWAY_SWITCH_PORT: u16 = 0;

/// The VLAN NORMAL switches on (pods.rs's untagged br-int segment).
const NORMAL_VLAN: u16 = 1;

/// A br-int's program, its conntrack and its port map.
pub(super) struct BrIntRt {
    /// The node whose br-int this is (its stack carries the tunnel).
    node: DeviceId,
    program: Program,
    /// The program installed since, built when br-int first needs it.
    pending: Option<Pending>,
    /// Whether `program` has walked a frame since it was built: then it
    /// holds counters and learned flows that a replacement would drop, so
    /// a pending program is built before another install replaces it.
    walked: bool,
    /// Whether the last build failed (the runner then installs again).
    build_failed: bool,
    /// The rules `program` was loaded with (what it learned or expired
    /// since aside), to tell whether a new program differs; an empty
    /// program's after a cold boot.
    loaded: ProgramRules,
    ct: Conntrack,
    /// The tunnel's local address (the node's transport IP).
    local_ip: Ipv4Addr,
    /// ofport → switch port.
    to_switch: BTreeMap<u32, u16>,
    /// switch port → ofport.
    to_ofport: BTreeMap<u16, u32>,
}

/// How a br-int's next program is built when a packet first needs it: the
/// caller's compile, given the world's one copy of the flow lines the
/// nodes hold alike.
pub type ProgramBuild = Box<dyn FnOnce(&mut FlowInterner) -> Result<Program, String> + Send>;

/// A program the agent has installed that br-int has not needed yet.
struct Pending {
    build: ProgramBuild,
    local_ip: Ipv4Addr,
    to_switch: BTreeMap<u32, u16>,
}

impl World {
    /// The frame a program's output `out` leaves `ofport` with (its header
    /// writes applied to `frame`); None, with the packet dropped and the
    /// reason named on `switch`, when they cannot be written.
    pub(super) fn output_frame(
        &mut self,
        out: &Packet,
        frame: &[u8],
        ofport: u32,
        switch: &str,
        tag: Option<TraceTag>,
    ) -> Option<Vec<u8>> {
        match out.apply_to_frame(frame) {
            Ok(b) => Some(b),
            Err(e) => {
                let why = format!("cannot write output to ofport {ofport}: {e}");
                self.drop_packet(
                    tag,
                    DropReason::BrInt {
                        switch: switch.to_string(),
                        why,
                    },
                );
                None
            }
        }
    }

    /// Loads (or replaces) node `node`'s br-int program now: as
    /// [`World::defer_br_int_program`] with a program already built, and
    /// realised at once. Returns whether anything changed: a program with
    /// the same rules as the running one ([`ProgramRules::same_as`]) and
    /// the same port map keeps the running one, its counters and what it
    /// learned (after a cold boot nothing runs, so the program is installed
    /// again).
    pub fn load_br_int_program(
        &mut self,
        node: DeviceId,
        program: Program,
        local_ip: Ipv4Addr,
        pods: &[(u32, String)],
    ) -> Result<bool, String> {
        self.defer_br_int_program(node, Box::new(move |_| Ok(program)), local_ip, pods, &[])?;
        let br = self.br_int_of(node)?;
        Ok(self.realize_br_int(br))
    }

    /// Installs node `node`'s next br-int program, to be built by `build`
    /// when br-int first needs it: a frame arrives, or
    /// [`World::br_int_program`] is read. Until then nothing is compiled
    /// (a large lab whose br-ints carry no traffic compiles no program) and
    /// a later install replaces this one unbuilt. What a program does
    /// depends only on what `build` captured, so building it later gives
    /// the walk the same program. `pods` gives each Pod's ofport and its
    /// device name (`namespace/name`); the Pod's port is found by the link
    /// from its `eth0`, and a Pod that is not plugged into this br-int is an
    /// error now. `local_ip` is the tunnel's source address. `tc_ports` are
    /// the TrafficControl ports (`traffic_control`), which take effect now.
    pub fn defer_br_int_program(
        &mut self,
        node: DeviceId,
        build: ProgramBuild,
        local_ip: Ipv4Addr,
        pods: &[(u32, String)],
        tc_ports: &[crate::engine::traffic_control::TcPortPlan],
    ) -> Result<(), String> {
        let node_name = self.device(node).name().to_string();
        let br = self.br_int_of(node)?;
        self.set_tc_ports(br, tc_ports);
        let mut to_switch = BTreeMap::new();
        to_switch.insert(GATEWAY_OFPORT, GATEWAY_SWITCH_PORT);
        for (ofport, pod) in pods {
            let dev = self
                .device_id(pod)
                .ok_or_else(|| format!("no Pod {pod} on {node_name}"))?;
            let li = self
                .port_link
                .get(PortRef {
                    device: dev,
                    port: 0,
                })
                .ok_or_else(|| format!("Pod {pod} has no link"))?;
            let peer = self.links[li].peer_of(PortRef {
                device: dev,
                port: 0,
            });
            if peer.device != br {
                return Err(format!("Pod {pod} is not plugged into br-int@{node_name}"));
            }
            if *ofport <= GATEWAY_OFPORT || to_switch.insert(*ofport, peer.port).is_some() {
                return Err(format!("ofport {ofport} of Pod {pod} is taken"));
            }
        }
        let pending = Pending {
            build,
            local_ip,
            to_switch,
        };
        // A program that walked frames keeps state a replacement drops: the
        // pending program it would have been replaced by is built first, so
        // an install that a later one undoes still resets it, as it does
        // when the agent installs both (only a program no frame crossed
        // since may skip the one in between: nothing tells them apart).
        if self
            .br_int_programs
            .get(&br)
            .is_some_and(|rt| rt.walked && rt.pending.is_some())
        {
            self.realize_br_int(br);
        }
        match self.br_int_programs.get_mut(&br) {
            Some(rt) => rt.pending = Some(pending),
            None => {
                let empty = Program::new(Default::default());
                self.br_int_programs.insert(
                    br,
                    BrIntRt {
                        node,
                        loaded: empty.rules(),
                        program: empty,
                        pending: Some(pending),
                        walked: false,
                        build_failed: false,
                        ct: Conntrack::new(),
                        local_ip,
                        to_switch: BTreeMap::new(),
                        to_ofport: BTreeMap::new(),
                    },
                );
            }
        }
        let msg = format!(
            "br-int program installed: {} Pod port{}",
            pods.len(),
            if pods.len() == 1 { "" } else { "s" }
        );
        self.record(LogKind::Engine, &format!("br-int@{node_name}"), msg);
        Ok(())
    }

    /// Builds br-int `br`'s pending program, if it has one, and runs it in
    /// place of the current one unless it has the same rules and port map
    /// (the current one then keeps its counters and what it learned).
    /// Returns whether the running program changed. A program that does not
    /// build leaves the current one running, and says so in the log.
    pub(super) fn realize_br_int(&mut self, br: DeviceId) -> bool {
        let Some(pending) = self
            .br_int_programs
            .get_mut(&br)
            .and_then(|rt| rt.pending.take())
        else {
            return false;
        };
        let program = match (pending.build)(&mut self.flow_interner) {
            Ok(p) => p,
            Err(e) => {
                let name = self.device(br).name().to_string();
                self.record(
                    LogKind::Engine,
                    &name,
                    format!("br-int program not built: {e}"),
                );
                if let Some(rt) = self.br_int_programs.get_mut(&br) {
                    rt.build_failed = true;
                }
                return false;
            }
        };
        let rt = self
            .br_int_programs
            .get_mut(&br)
            .expect("a pending program has its br-int");
        rt.build_failed = false;
        let rules = program.rules();
        // The same rules (an empty program after a cold boot is not).
        if rt.loaded.same_as(&rules)
            && rt.to_switch == pending.to_switch
            && rt.local_ip == pending.local_ip
        {
            return false;
        }
        rt.program = program;
        rt.loaded = rules;
        rt.walked = false;
        rt.local_ip = pending.local_ip;
        rt.to_ofport = pending.to_switch.iter().map(|(o, s)| (*s, *o)).collect();
        rt.to_switch = pending.to_switch;
        true
    }

    /// The program node `node`'s br-int executes, with its counters so far
    /// (a program installed since is built now); `None` when that br-int is
    /// a plain switch.
    pub fn br_int_program(&mut self, node: DeviceId) -> Option<&Program> {
        let br = *self.br_int.get(&node)?;
        self.realize_br_int(br);
        self.br_int_programs.get(&br).map(|rt| &rt.program)
    }

    /// Whether node `node`'s br-int has a program installed, built or not
    /// (false for a plain switch, after a cold boot until the next install,
    /// and after a build failed, so the runner installs it again).
    pub fn br_int_runs_program(&self, node: DeviceId) -> bool {
        self.br_int
            .get(&node)
            .and_then(|br| self.br_int_programs.get(br))
            .is_some_and(|rt| {
                !rt.build_failed && (rt.pending.is_some() || rt.program.flow_count() > 0)
            })
    }

    /// How many connections node `node`'s br-int conntrack holds (every
    /// zone); `None` when that br-int is a plain switch.
    pub fn br_int_conntrack_len(&self, node: DeviceId) -> Option<usize> {
        let br = self.br_int.get(&node)?;
        let now = self.now.as_nanos();
        self.br_int_programs.get(br).map(|rt| rt.ct.len_at(now))
    }

    /// The connections of `zone` in node `node`'s br-int conntrack now, as
    /// `conntrack -L -w ZONE` lists them; `None` when that br-int is a plain
    /// switch.
    pub fn br_int_conntrack_rows(&self, node: DeviceId, zone: u16) -> Option<Vec<CtRow>> {
        let br = self.br_int.get(&node)?;
        let now = self.now.as_nanos();
        self.br_int_programs.get(br).map(|rt| rt.ct.rows(zone, now))
    }

    /// Every zone's connections in node `node`'s br-int conntrack, as
    /// `ovs-appctl dpctl/dump-conntrack` lists them; `None` when that br-int
    /// is a plain switch.
    pub fn br_int_conntrack_dump(&self, node: DeviceId) -> Option<Vec<CtRow>> {
        let br = self.br_int.get(&node)?;
        let now = self.now.as_nanos();
        self.br_int_programs.get(br).map(|rt| rt.ct.all_rows(now))
    }

    /// After a walk of `frame` through br-int `sw`: an HTTP/1.1 message on a
    /// connection whose Pod asked for L7 export (the node's dataplane lists
    /// them) is kept on the connection the walk counted in Antrea's
    /// `CtZone`, as the packets Antrea mirrors to Suricata would show it.
    fn capture_l7(&mut self, sw: DeviceId, node: DeviceId, frame: &[u8]) {
        let DeviceRt::Host(h) = self.device(node) else {
            return;
        };
        if h.stack.l7_export().is_empty() {
            return;
        }
        let Ok((_, ip)) = wire::parse_eth(frame) else {
            return;
        };
        let Ok(pkt) = Ipv4Pkt::parse(ip) else {
            return;
        };
        let zone = CT_ZONE as u16;
        let rt = &self.br_int_programs[&sw];
        let Some((src, dst)) = rt.ct.counted_in(zone) else {
            return;
        };
        if let Some(msg) = l7_message(h.stack.l7_export(), src, dst, &pkt)
            && let Some(rt) = self.br_int_programs.get_mut(&sw)
        {
            rt.ct.capture_http(zone, msg);
        }
    }

    /// A cold boot of switch `br` (see the module doc): if it is a br-int
    /// that executes a program, it comes up with no flows and an empty
    /// conntrack, its port map kept, until the next install
    /// ([`World::defer_br_int_program`]) puts a program in again.
    pub(super) fn br_int_cold_boot(&mut self, br: DeviceId) {
        let Some(rt) = self.br_int_programs.get_mut(&br) else {
            return;
        };
        rt.program = Program::new(rt.program.table_names().clone());
        rt.loaded = rt.program.rules();
        rt.pending = None;
        rt.walked = false;
        rt.ct = Conntrack::new();
        // OVS starts again: its TrafficControl ports count from zero.
        self.reset_tc_counters(br);
    }

    /// The node whose br-int `br` is, when it executes a program.
    pub(super) fn br_int_node(&self, br: DeviceId) -> Option<DeviceId> {
        self.br_int_programs.get(&br).map(|rt| rt.node)
    }

    /// Whether switch `sw` is a br-int that executes a program.
    pub(super) fn runs_program(&self, sw: DeviceId) -> bool {
        self.br_int_programs.contains_key(&sw)
    }

    /// A frame arrived on switch port `port` of a br-int that executes a program.
    pub(super) fn br_int_receive(
        &mut self,
        sw: DeviceId,
        port: u16,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        self.realize_br_int(sw);
        let name = self.device(sw).name().to_string();
        let Some(&ofport) = self.br_int_programs[&sw].to_ofport.get(&port) else {
            let why = format!(
                "port {} is not in the program",
                self.port_label(PortRef { device: sw, port })
            );
            self.drop_packet(tag, DropReason::BrInt { switch: name, why });
            return;
        };
        let packet = match Packet::from_frame(ofport, &frame) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("unreadable frame on ofport {ofport}: {e}");
                self.drop_packet(tag, DropReason::BrInt { switch: name, why });
                return;
            }
        };
        self.run_program(sw, packet, frame, Some(port), tag);
    }

    /// The node's stack got UDP `pkt` addressed to itself: if it is Geneve
    /// and the node's br-int executes a program, the inner frame enters
    /// br-int at the tunnel port. Returns whether it was taken.
    pub(super) fn tunnel_receive(
        &mut self,
        node: DeviceId,
        pkt: &Ipv4Pkt,
        tag: Option<TraceTag>,
    ) -> bool {
        let Some(&br) = self.br_int.get(&node) else {
            return false;
        };
        if !self.runs_program(br) {
            return false;
        }
        self.realize_br_int(br);
        let name = self.device(br).name().to_string();
        let zero = MacAddr([0; 6]);
        let outer = wire::build_eth(
            &EthHeader::new(zero, zero, wire::ethertype::IPV4),
            &pkt.to_bytes(),
        );
        let (inner, packet) = match geneve::decapsulate(&outer).and_then(|d| {
            // A TrafficControl Geneve port whose remote is the sender takes
            // the packet (OVS prefers a port with that exact remote_ip to
            // antrea-tun0's remote_ip=flow); the program has no flow for
            // it, so it is dropped there, as in OVS.
            let in_port = self
                .tc_geneve_port_from(br, d.outer_src)
                .unwrap_or(TUNNEL_OFPORT);
            let mut p = Packet::from_frame(in_port, d.inner)?;
            p.set(Field::TunSrc, u32::from(d.outer_src).into());
            p.set(Field::TunDst, u32::from(d.outer_dst).into());
            p.set(Field::TunId, d.geneve.vni.into());
            Ok((d.inner.to_vec(), p))
        }) {
            Ok(x) => x,
            Err(e) => {
                let why = format!("bad Geneve packet from {}: {e}", pkt.src);
                self.drop_packet(tag, DropReason::BrInt { switch: name, why });
                return true;
            }
        };
        self.run_program(br, packet, inner, None, tag);
        true
    }

    /// Walks `packet` (read from `frame`) through br-int `sw`'s program and
    /// carries out the verdict. `in_port` is the switch port it came in on
    /// (none for the tunnel).
    pub(super) fn run_program(
        &mut self,
        sw: DeviceId,
        packet: Packet,
        frame: Vec<u8>,
        in_port: Option<u16>,
        tag: Option<TraceTag>,
    ) {
        let now = self.now.as_nanos();
        let live = !self.live_traceflows.is_empty()
            && self.live_wants(self.br_int_programs[&sw].node, &packet);
        let rt = self
            .br_int_programs
            .get_mut(&sw)
            .expect("only br-ints with a program run one");
        rt.walked = true;
        let mut walk = rt
            .program
            .run(&mut rt.ct, &CtMode::Tracked, &packet, now, live);
        let (local_ip, node) = (rt.local_ip, rt.node);
        if live {
            self.live_walked(node, local_ip, &packet, &frame, &walk);
        }
        let rt = &self.br_int_programs[&sw];
        let emitted = std::mem::take(&mut walk.emitted);
        let outs: Vec<(u32, Option<u16>, Option<Ipv4Addr>, Packet)> = walk
            .verdict
            .outputs
            .iter()
            .zip(emitted)
            .map(|(e, p)| (e.port, rt.to_switch.get(&e.port).copied(), e.tun_dst, p))
            .collect();
        let dnats: Vec<String> = walk
            .verdict
            .cts
            .iter()
            .filter_map(|c| c.nat.as_deref()?.strip_prefix("dst=").map(str::to_string))
            .collect();
        self.capture_l7(sw, node, &frame);
        let name = self.device(sw).name().to_string();
        let dropped = walk.verdict.is_drop();
        // NetworkPolicy packet-ins (a packet and its recirculated copy can
        // each send one): the operations the agent is asked for.
        let np_ins: Vec<PolicyPacketIn> = walk
            .packet_ins
            .iter()
            .filter_map(PolicyPacketIn::of)
            .collect();
        let rejected = np_ins.iter().any(|p| p.ops & PACKET_IN_REJECT != 0);
        let verdicts = if dropped || !np_ins.is_empty() || tag.is_some() {
            self.policy_verdicts(sw, &walk, &packet)
        } else {
            PolicyVerdicts::default()
        };
        // The agent handles them only while it runs.
        let ip = wire::parse_eth(&frame)
            .ok()
            .and_then(|(_, bytes)| Some((Ipv4Pkt::parse(bytes).ok()?, bytes.len())));
        if let Some((ip, len)) = ip.filter(|_| self.agents.contains(node)) {
            for p in &np_ins {
                let table = self.br_int_programs[&sw]
                    .program
                    .table_names()
                    .name(p.table)
                    .unwrap_or("?")
                    .to_string();
                if p.ops & PACKET_IN_LOGGING != 0 {
                    self.audit_log(node, &table, p, &ip, len);
                }
                if p.ops & PACKET_IN_STORE_DENY != 0 {
                    self.store_denied(node, &table, p, &ip, len);
                }
            }
        }
        if let Some(t) = tag {
            for allowed in &verdicts.allowed {
                self.add_hop(t, &name, format!("NetworkPolicy: {allowed}"), None);
            }
            // Ports by name as `ofproto/trace` prints them, `N(name)`; the
            // tunnel's with its destination.
            let label = |w: &World, ofport: u32, to: Option<u16>| -> String {
                match to {
                    Some(p) => format!(
                        "{ofport}({})",
                        w.port_label(PortRef {
                            device: sw,
                            port: p
                        })
                    ),
                    None if ofport == TUNNEL_OFPORT => format!("{ofport}(antrea-tun0)"),
                    None => match w.tc_port_name(sw, ofport) {
                        Some(n) => format!("{ofport}({n})"),
                        None => ofport.to_string(),
                    },
                }
            };
            let in_port = packet.in_port();
            let in_switch = self.br_int_programs[&sw].to_switch.get(&in_port).copied();
            let from = label(self, in_port, in_switch);
            let mut what: Vec<String> = outs
                .iter()
                .map(|o| match o.2 {
                    Some(dst) => format!("output:{} to {dst}", label(self, o.0, o.1)),
                    None => format!("output:{}", label(self, o.0, o.1)),
                })
                .collect();
            if walk.verdict.normal {
                what.push("NORMAL".into());
            }
            if walk.verdict.controller {
                what.push("CONTROLLER".into());
            }
            let what = if what.is_empty() {
                "drop".to_string()
            } else {
                what.join(",")
            };
            self.add_hop(t, &name, format!("in {from} program -> {what}"), None);
            // AntreaProxy's flows chose an endpoint (EndpointDNAT's
            // ct(commit,nat(dst=...))): said as the host's proxies say it.
            for nat in dnats {
                let to = packet.headers();
                let (ip, port) = (to.nw_dst, to.tp_dst);
                let svc = match (ip, port) {
                    (Some(ip), Some(port)) => format!("{ip}:{port}"),
                    (Some(ip), None) => ip.to_string(),
                    _ => "?".to_string(),
                };
                self.add_hop(
                    t,
                    &name,
                    format!("AntreaProxy: Service {svc} DNAT to {nat} in br-int"),
                    None,
                );
            }
            // A DSR packet (DSRServiceRegMark, reg4[25]) leaves for the
            // endpoint's node with its Service address: reg3 and reg4[0..15]
            // hold the endpoint the ingress node picked.
            for (_, _, _, out) in outs.iter().filter(|o| o.0 == TUNNEL_OFPORT) {
                let reg4 = out.get(Field::Reg(4));
                if reg4 & (1 << 25) == 0 {
                    continue;
                }
                let h = out.headers();
                let (Some(ip), Some(port)) = (h.nw_dst, h.tp_dst) else {
                    continue;
                };
                let ep = Ipv4Addr::from(u32::try_from(out.get(Field::Reg(3))).unwrap_or(0));
                let ep_port = reg4 & 0xffff;
                self.add_hop(
                    t,
                    &name,
                    format!(
                        "AntreaProxy: Service {ip}:{port} -> endpoint {ep}:{ep_port} (DSR: tunnelled to its node without DNAT)"
                    ),
                    None,
                );
            }
        }
        // Only TrafficControl ports: a redirect (a mirror also outputs to
        // the packet's own port).
        let redirected = !outs.is_empty()
            && outs
                .iter()
                .all(|o| o.1.is_none() && self.tc_port_name(sw, o.0).is_some());
        for (ofport, switch_port, tun_dst, out) in outs {
            let Some(bytes) = self.output_frame(&out, &frame, ofport, &name, tag) else {
                continue;
            };
            match (ofport, switch_port, tun_dst) {
                (TUNNEL_OFPORT, _, Some(dst)) => {
                    let vni = u32::try_from(out.get(Field::TunId)).unwrap_or(0) & geneve::VNI_MAX;
                    self.tunnel_send(node, local_ip, dst, vni, &bytes, tag);
                }
                (_, Some(p), _) => self.transmit(
                    PortRef {
                        device: sw,
                        port: p,
                    },
                    bytes,
                    tag,
                    false,
                ),
                (_, None, _) if self.tc_port_name(sw, ofport).is_some() => {
                    self.tc_output((sw, node, local_ip), ofport, bytes, redirected, tag);
                }
                _ => {
                    let why = format!("output to ofport {ofport}, which has no port here");
                    self.drop_packet(
                        tag,
                        DropReason::BrInt {
                            switch: name.clone(),
                            why,
                        },
                    );
                }
            }
        }
        if walk.verdict.normal {
            match in_port {
                Some(p) => self.switch_receive(sw, Some(p), None, frame, tag),
                None => self.switch_receive(sw, None, Some(NORMAL_VLAN), frame, tag),
            }
        } else if walk.verdict.controller && (rejected || np_ins.is_empty()) {
            let reject = if rejected { verdicts.denied } else { None };
            self.answer_packet_in(sw, &packet, &frame, in_port, tag, reject);
        } else if walk.verdict.outputs.is_empty() {
            match verdicts.denied {
                Some(verdict) => self.drop_packet(
                    tag,
                    DropReason::Policy {
                        switch: name,
                        verdict,
                    },
                ),
                None => {
                    let why = format!("dropped by the program ({})", packet.to_trace_flow());
                    self.drop_packet(tag, DropReason::BrInt { switch: name, why });
                }
            }
        }
    }

    /// Installs what names policy verdicts: the cluster's rules by
    /// conjunction id and its isolated Pods (`engine::policy::catalog`).
    pub fn set_policy_catalog(&mut self, catalog: Arc<PolicyCatalog>) {
        self.policy_catalog = catalog;
    }

    /// The catalog installed at the last sync.
    pub fn policy_catalog(&self) -> &PolicyCatalog {
        &self.policy_catalog
    }

    /// Which policies decided `walk` on br-int `sw`: the rules that allowed
    /// or passed it, and the one that dropped or rejected it, or the
    /// Kubernetes NetworkPolicy isolation that dropped it for want of an
    /// allowing rule (a default-rule table's priority-200 drop).
    fn policy_verdicts(&self, sw: DeviceId, walk: &Walk, packet: &Packet) -> PolicyVerdicts {
        let cat = &self.policy_catalog;
        if cat.is_empty() {
            return PolicyVerdicts::default();
        }
        let mut out = PolicyVerdicts::of_rules(cat, &walk.conjunctions);
        // The default drop's table: the walk's last flow, or, when the drop
        // went to the agent first (deny tracking), the table of the
        // packet-in that is one (`isK8sDefaultDeny`: Drop disposition, no
        // rule's deny mark).
        let sent_default_drop = walk
            .packet_ins
            .iter()
            .filter_map(PolicyPacketIn::of)
            .find(PolicyPacketIn::is_default_drop)
            .map(|p| p.table);
        let default_drop = match (sent_default_drop, walk.last_match) {
            (Some(table), _) => Some(table),
            (None, Some((table, 200))) if walk.verdict.is_drop() => Some(table),
            _ => None,
        };
        if out.denied.is_none()
            && let Some(table) = default_drop
        {
            let names = self.br_int_programs[&sw].program.table_names();
            let h = packet.headers();
            let (dir, ip) = match names.name(table) {
                Some("IngressDefaultRule") => (Direction::Ingress, h.nw_dst),
                Some("EgressDefaultRule") => (Direction::Egress, h.nw_src),
                _ => return out,
            };
            let by = ip
                .map(|ip| cat.isolating(ip, dir).join(", "))
                .filter(|s| !s.is_empty())
                .map(|s| format!(" by K8sNetworkPolicy {s}"))
                .unwrap_or_default();
            let who = ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "the Pod".into());
            out.denied = Some(format!(
                "dropped: {who} is isolated for {}{by} and no rule allows this packet",
                dir.as_str().to_lowercase()
            ));
        }
        out
    }

    /// The agent's answer to a packet-in: EndpointDNAT's for a Service with
    /// no endpoint (`userdata=04`), or a policy rule's Reject
    /// (`userdata=01.02`, `reject` says which rule). Either way the agent
    /// sends a TCP RST+ACK, or ICMP unreachable code 10, from the
    /// destination back to the sender
    /// (pkg/agent/controller/networkpolicy/reject.go, v2.1.0). The answer
    /// leaves by the port the packet came in on, back into the tunnel to
    /// its source node when it came from one (Antrea sends its packet-out
    /// through the pipeline, which takes it the same way).
    fn answer_packet_in(
        &mut self,
        sw: DeviceId,
        packet: &Packet,
        frame: &[u8],
        in_port: Option<u16>,
        tag: Option<TraceTag>,
        reject: Option<String>,
    ) {
        let name = self.device(sw).name().to_string();
        let rt = &self.br_int_programs[&sw];
        let (node, local_ip) = (rt.node, rt.local_ip);
        let parsed = wire::parse_eth(frame)
            .ok()
            .and_then(|(eth, ip)| Some((eth, Ipv4Pkt::parse(ip).ok()?)));
        let Some((eth, ip)) = parsed else {
            let why = format!("packet-in to the controller ({})", packet.to_trace_flow());
            self.drop_packet(tag, DropReason::BrInt { switch: name, why });
            return;
        };
        let service = match &ip.l4 {
            wire::L4::Tcp { dst_port, .. } | wire::L4::Udp { dst_port, .. } => {
                format!("{}:{dst_port}", ip.dst)
            }
            _ => ip.dst.to_string(),
        };
        let reason = match reject {
            Some(verdict) => DropReason::Policy {
                switch: name,
                verdict,
            },
            None => DropReason::NoEndpoints {
                device: name,
                service,
                by: "AntreaProxy".into(),
            },
        };
        self.drop_packet(tag, reason);
        let Some(bytes) = reject_frame(&eth, &ip) else {
            return;
        };
        let reply_tag = tag.map(TraceTag::as_reply);
        match in_port {
            Some(p) => self.transmit(
                PortRef {
                    device: sw,
                    port: p,
                },
                bytes,
                reply_tag,
                false,
            ),
            None => {
                let back = Ipv4Addr::from(u32::try_from(packet.get(Field::TunSrc)).unwrap_or(0));
                let vni = u32::try_from(packet.get(Field::TunId)).unwrap_or(0) & geneve::VNI_MAX;
                self.tunnel_send(node, local_ip, back, vni, &bytes, reply_tag);
            }
        }
    }

    /// Wraps `inner` in Geneve to `dst` and sends the outer packet from
    /// `node` through its IP stack.
    fn tunnel_send(
        &mut self,
        node: DeviceId,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        vni: u32,
        inner: &[u8],
        tag: Option<TraceTag>,
    ) {
        let zero = MacAddr([0; 6]);
        let outer = geneve::TunnelOuter::new(zero, zero, src, dst);
        // The outer packet and its IPv4 length, read off the frame.
        let pkt = geneve::encapsulate(&outer, vni, inner).and_then(|f| {
            let (_, ip) = wire::parse_eth(&f)?;
            Ok((Ipv4Pkt::parse(ip)?, ip.len()))
        });
        match pkt {
            Ok((mut p, len)) => {
                p.ident = 0; // the stack numbers what it sends
                let DeviceRt::Host(h) = self.device(node) else {
                    return;
                };
                // The encapsulated frame must fit the underlay: OVS drops
                // one that does not, and nobody hears of it (no ICMP goes
                // back to the Pod, whose packet fitted its own MTU).
                if let Some((iface, mtu)) = h.stack.mtu_towards(dst)
                    && len > mtu as usize
                {
                    let switch = format!("br-int@{}", self.device(node).name());
                    let why = format!(
                        "the {len}-byte Geneve packet to {dst} does not fit {iface} (mtu {mtu}): dropped, no ICMP"
                    );
                    self.drop_packet(tag, DropReason::BrInt { switch, why });
                    return;
                }
                self.call_stack(node, |stack, cx| stack.send(cx, p, tag));
            }
            Err(e) => {
                let switch = format!("br-int@{}", self.device(node).name());
                let why = format!("cannot encapsulate to {dst}: {e}");
                self.drop_packet(tag, DropReason::BrInt { switch, why });
            }
        }
    }
}

/// The agent's reject answer to `ip` (in a frame with header `eth`): a
/// TCP reset, or ICMP unreachable, from the destination back to the
/// source, in a frame with the MACs swapped; None when nothing answers.
pub(super) fn reject_frame(eth: &EthHeader, ip: &Ipv4Pkt) -> Option<Vec<u8>> {
    let reply =
        crate::sim::stack::reject_reply(ip, crate::engine::proxy::NoEndpointsAction::TcpReset)?;
    Some(wire::build_eth(
        &EthHeader {
            dst: eth.src,
            src: eth.dst,
            vlan: None,
            ethertype: wire::ethertype::IPV4,
        },
        &reply.to_bytes(),
    ))
}

/// What the policies decided for one walk ([`World::policy_verdicts`]).
#[derive(Default)]
pub(super) struct PolicyVerdicts {
    /// `allowed by ...` / `passed on by ...`, in walk order.
    pub(super) allowed: Vec<String>,
    /// `dropped by ...` / `rejected by ...`.
    pub(super) denied: Option<String>,
}

impl PolicyVerdicts {
    /// What the rules a walk's conjunctions name decided, in walk order
    /// (the last Drop or Reject is the denial).
    pub(super) fn of_rules(cat: &PolicyCatalog, conjunctions: &[(u8, u32)]) -> PolicyVerdicts {
        let mut out = PolicyVerdicts::default();
        for (_, id) in conjunctions {
            let Some(info) = cat.rule(*id) else {
                continue;
            };
            match info.action {
                RuleAction::Allow => out.allowed.push(format!("allowed by {}", info.describe())),
                RuleAction::Pass => out
                    .allowed
                    .push(format!("passed on by {}", info.describe())),
                RuleAction::Drop => out.denied = Some(format!("dropped by {}", info.describe())),
                RuleAction::Reject => out.denied = Some(format!("rejected by {}", info.describe())),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_policy_packet_in_says_its_operations() {
        use crate::engine::pipeline::PolicyPacketIn;
        use crate::openflow::PacketIn;
        let ops = |a: &str| {
            PolicyPacketIn::of(&PacketIn {
                args: a.into(),
                regs: [0; 8],
            })
            .map(|p| p.ops)
        };
        assert_eq!(
            ops("id=32776,reason=no_match,userdata=01.05,max_len=65535"),
            Some(5)
        );
        assert_eq!(ops("id=32776,reason=no_match,userdata=01.02"), Some(2));
        // EndpointDNAT's packet-in for a Service without endpoints.
        assert_eq!(
            ops("id=32776,reason=no_match,userdata=04,max_len=65535"),
            None
        );
    }

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::testlab::{TWO_NODES, id, ip, ms, probe, world};
    use super::ProgramBuild;
    use crate::openflow::{Program, TableMap};
    use crate::sim::probe::ProbeKind;

    /// A build that counts its calls into `built` and switches everything
    /// with NORMAL (`priority` tells two programs apart).
    fn counting(built: &Arc<AtomicUsize>, priority: u16) -> ProgramBuild {
        let built = Arc::clone(built);
        Box::new(move |_| {
            built.fetch_add(1, Ordering::SeqCst);
            let text = format!("table=0,priority={priority},actions=NORMAL\n");
            Program::from_text(TableMap::new(&[(0, "Classifier")]), &text)
        })
    }

    #[test]
    fn an_installed_program_is_built_when_a_frame_first_needs_it() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        w.add_pod(n1, "ns", "web", ip("10.30.1.5"), vec![]).unwrap();
        let pods = [(3, "ns/web".to_string())];
        let node_ip = ip("10.0.0.11");
        let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        w.defer_br_int_program(n1, counting(&first, 5), node_ip, &pods, &[])
            .unwrap();
        // Replaced before anything needed it: never built.
        w.defer_br_int_program(n1, counting(&second, 6), node_ip, &pods, &[])
            .unwrap();
        assert!(w.br_int_runs_program(n1), "installed counts as running");
        w.run_until(ms(20));
        assert_eq!(
            (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
            (0, 0),
            "no frame crossed br-int"
        );
        // The Pod pings its gateway: the first frame builds the program,
        // which switches it (NORMAL) and counts it.
        w.start_probe(probe(&w, "ping", "ns/web", "10.30.1.1", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(60));
        assert_eq!(
            (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
            (0, 1)
        );
        let p = w.br_int_program(n1).unwrap();
        assert!(
            p.flows().any(|(_, n, _)| n > 0),
            "the program counted frames"
        );
        assert!(
            p.dump_flows(crate::openflow::Style::Names)
                .contains("priority=6")
        );
        assert_eq!(second.load(Ordering::SeqCst), 1, "built once");
        // Reading the program builds one installed since; the same rules keep
        // the running one and its counters.
        w.defer_br_int_program(n1, counting(&second, 6), node_ip, &pods, &[])
            .unwrap();
        let p = w.br_int_program(n1).unwrap();
        assert!(p.flows().any(|(_, n, _)| n > 0), "counters kept");
        assert_eq!(second.load(Ordering::SeqCst), 2);
        // More frames; then another program, undone by the next install
        // before any frame: as when the agent installs both, the second
        // resets the running program (the one in between is built).
        w.run_until(ms(100));
        let third = Arc::new(AtomicUsize::new(0));
        w.defer_br_int_program(n1, counting(&third, 7), node_ip, &pods, &[])
            .unwrap();
        w.defer_br_int_program(n1, counting(&second, 6), node_ip, &pods, &[])
            .unwrap();
        assert_eq!(
            third.load(Ordering::SeqCst),
            1,
            "built before it was replaced"
        );
        let p = w.br_int_program(n1).unwrap();
        assert!(
            p.dump_flows(crate::openflow::Style::Names)
                .contains("priority=6")
        );
        assert!(p.flows().all(|(_, n, _)| n == 0), "counters from zero");
    }

    #[test]
    fn a_program_that_does_not_build_keeps_the_running_one_and_is_logged() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        let node_ip = ip("10.0.0.11");
        let built = Arc::new(AtomicUsize::new(0));
        w.defer_br_int_program(n1, counting(&built, 5), node_ip, &[], &[])
            .unwrap();
        assert_eq!(w.br_int_program(n1).unwrap().flow_count(), 1);
        w.defer_br_int_program(
            n1,
            Box::new(|_| Err("no table 9".into())),
            node_ip,
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(w.br_int_program(n1).unwrap().flow_count(), 1);
        assert!(
            w.log()
                .iter()
                .any(|e| e.message == "br-int program not built: no table 9"),
            "{:?}",
            w.log()
        );
    }

    #[test]
    fn a_pod_not_on_this_br_int_is_refused_when_installed() {
        let mut w = world(TWO_NODES);
        let (n1, n2) = (id(&w, "n1"), id(&w, "n2"));
        w.add_pod(n2, "ns", "db", ip("10.30.2.5"), vec![]).unwrap();
        let built = Arc::new(AtomicUsize::new(0));
        let pods = [(3, "ns/db".to_string())];
        let e = w
            .defer_br_int_program(n1, counting(&built, 5), ip("10.0.0.11"), &pods, &[])
            .unwrap_err();
        assert_eq!(e, "Pod ns/db is not plugged into br-int@n1");
        assert!(!w.br_int_runs_program(n1));
    }
}
