//! The event loop and everything that happens between devices.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::devices::{self, DeviceRt, HostIfaceKind, SwitchPortRt, SwitchRt};
use super::log::{EventLog, LogSink};
use super::probe::{Attempt, Hop, Probe, ProbeKind, ProbeSpec, Verdict};
use super::routing::Route;
use super::stack::{Cx, L3Iface, Note, StackTimer};
use super::switch::MacTable;
use super::trace::{DropReason, LogEntry, LogKind, TraceTag};
use crate::engine::dataplane::NodeDataplane;
use crate::engine::memberlist::{
    self, Action as AgentAction, Agent, AgentTimer, MemberConfig, MemberEvent, Msg,
};
use crate::model::{
    ArpPolicy, DeviceId, DeviceKind, HostRole, MacAddr, PortRef, Topology, VlanMode,
};
use crate::sched::{HeapScheduler, Scheduler};
use crate::time::{SimDuration, SimTime};
use crate::wire::pcap::PcapWriter;
use crate::wire::{self, ArpMsg, EthHeader, Ipv4Pkt, L4};

/// The VLAN every port of a node's internal `br-int` uses: Pods and
/// `antrea-gw0` share one untagged segment.
const BR_INT_VLAN: u16 = 1;
/// Latency of the veth/OVS internal hop between a Pod and its node.
const INTERNAL_LATENCY: SimDuration = SimDuration::from_micros(1);

#[derive(Clone, Debug)]
struct LinkRt {
    a: PortRef,
    b: PortRef,
    latency: SimDuration,
    up: bool,
}

/// A link as tables show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinkState {
    pub a: String,
    pub b: String,
    pub up: bool,
    pub latency: SimDuration,
}

enum Event {
    Arrive {
        port: PortRef,
        link: u32,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    },
    Timer {
        device: DeviceId,
        epoch: u32,
        timer: StackTimer,
    },
    ProbeSend {
        probe: u32,
    },
    ProbeTimeout {
        probe: u32,
        seq: u32,
    },
    AgentTimer {
        device: DeviceId,
        epoch: u32,
        timer: AgentTimer,
    },
    /// A timer the control plane (scenario runner) asked for.
    Control {
        token: u64,
    },
    /// A BFD transmit interval of a switch's sessions.
    Bfd {
        device: DeviceId,
    },
}

/// BFD timing: 300 ms intervals, detect multiplier 3 (common defaults on
/// switches, e.g. Cisco's `bfd interval 300 min_rx 300 multiplier 3`).
pub const BFD_INTERVAL: SimDuration = SimDuration::from_millis(300);
pub const BFD_MULTIPLIER: u8 = 3;

/// Something the control plane must react to: the simulator stops `run_to`
/// right after the event that produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlEvent {
    /// An agent's memberlist saw a node join or leave.
    Member {
        observer: String,
        event: MemberEvent,
    },
    /// A timer set with [`World::control_timer`] fired.
    Timer(u64),
}

pub use crate::engine::memberlist::MEMBERLIST_PORT;

/// Engine-owned state applied to a host, remembered so the next desired state
/// can be diffed against it.
#[derive(Default)]
struct Applied {
    addrs: Vec<(usize, Ipv4Net)>,
    rules: Vec<crate::model::RuleSpec>,
}

/// How much `--pcap` capture a run keeps in memory (all ports together).
pub const CAPTURE_BUDGET: usize = 128 << 20;

pub struct World {
    now: SimTime,
    seed: u64,
    queue: HeapScheduler<Event>,
    devices: Vec<DeviceRt>,
    /// Device ids by name (the first device of a name, as a scan would
    /// find): lookups by name happen per node per change, and a cluster
    /// with a hundred thousand Pods has as many devices.
    by_name: BTreeMap<String, DeviceId>,
    links: Vec<LinkRt>,
    port_link: BTreeMap<PortRef, usize>,
    log: EventLog,
    probes: Vec<Probe>,
    captures: Option<BTreeMap<PortRef, PcapWriter>>,
    /// Bytes in `captures` so far, and how many they may reach.
    capture_bytes: usize,
    capture_budget: usize,
    /// Bumped at every power cycle so timers of the previous life are ignored.
    epochs: Vec<u32>,
    applied: BTreeMap<DeviceId, Applied>,
    /// Node → its `br-int` switch.
    br_int: BTreeMap<DeviceId, DeviceId>,
    events: u64,
    log_frames: bool,
    /// The antrea-agent memberlist instance of each running node.
    agents: BTreeMap<DeviceId, Agent>,
    /// How many times each node's agent has started (names its PRNG stream).
    agent_boots: BTreeMap<DeviceId, u32>,
    control: Vec<ControlEvent>,
    /// (sender device, target IP) → why its last ARP request was dropped.
    arp_drop_hints: BTreeMap<(String, Ipv4Addr), String>,
    /// Log each dataplane change (off while the lab boots).
    log_dataplane: bool,
    /// BFD sessions: (switch, next hop) → (missed intervals, up).
    bfd: BTreeMap<(DeviceId, Ipv4Addr), (u8, bool)>,
}

impl World {
    /// Builds the running lab. Every Kubernetes node gets an `antrea-gw0`
    /// interface (the first address of its Pod CIDR) on an internal switch
    /// `br-int@<node>` where its Pods will plug in, as Antrea's OVS bridge does.
    pub fn new(topology: &Topology, seed: u64) -> World {
        let mut w = World {
            now: SimTime::ZERO,
            seed,
            queue: HeapScheduler::new(),
            devices: Vec::new(),
            by_name: BTreeMap::new(),
            links: Vec::new(),
            port_link: BTreeMap::new(),
            log: EventLog::default(),
            probes: Vec::new(),
            captures: None,
            capture_bytes: 0,
            capture_budget: CAPTURE_BUDGET,
            epochs: Vec::new(),
            applied: BTreeMap::new(),
            br_int: BTreeMap::new(),
            events: 0,
            log_frames: true,
            agents: BTreeMap::new(),
            agent_boots: BTreeMap::new(),
            control: Vec::new(),
            arp_drop_hints: BTreeMap::new(),
            log_dataplane: true,
            bfd: BTreeMap::new(),
        };
        for d in &topology.devices {
            let rt = match &d.kind {
                DeviceKind::Host(h) => DeviceRt::Host(devices::build_host(&d.name, h, seed)),
                DeviceKind::Switch(s) => DeviceRt::Switch(devices::build_switch(&d.name, s, seed)),
            };
            w.add_device(rt);
        }
        for l in &topology.links {
            w.add_link(l.a, l.b, l.latency);
        }
        for (i, d) in topology.devices.iter().enumerate() {
            if let DeviceKind::Switch(s) = &d.kind
                && s.bfd
            {
                w.enable_bfd(DeviceId(i as u32));
            }
        }
        let nodes: Vec<(DeviceId, String, Ipv4Net)> = topology
            .nodes()
            .map(|(id, d, n)| (id, d.name.clone(), n.pod_cidr))
            .collect();
        for (id, name, pod_cidr) in nodes {
            w.add_pod_network(id, &name, pod_cidr);
        }
        w
    }

    fn add_link(&mut self, a: PortRef, b: PortRef, latency: SimDuration) {
        let i = self.links.len();
        self.links.push(LinkRt {
            a,
            b,
            latency,
            up: true,
        });
        self.port_link.insert(a, i);
        self.port_link.insert(b, i);
    }

    fn add_device(&mut self, d: DeviceRt) -> DeviceId {
        let id = DeviceId(self.devices.len() as u32);
        self.by_name.entry(d.name().to_string()).or_insert(id);
        self.devices.push(d);
        self.epochs.push(0);
        id
    }

    fn add_pod_network(&mut self, node: DeviceId, name: &str, pod_cidr: Ipv4Net) {
        let gw_ip = first_host(pod_cidr);
        let gw_mac = MacAddr::from_name(&format!("{name}/antrea-gw0"));
        let DeviceRt::Host(h) = &mut self.devices[node.0 as usize] else {
            return;
        };
        let port = h.ports.len() as u16;
        let idx = h.stack.ifaces.len();
        h.stack.ifaces.push(L3Iface {
            name: "antrea-gw0".into(),
            mac: gw_mac,
            addrs: vec![
                Ipv4Net::new(gw_ip, pod_cidr.prefix_len()).expect("prefix from a valid net"),
            ],
            up: true,
            has_link: true,
        });
        h.iface_kinds.push(HostIfaceKind::Physical { port });
        h.ports.push(idx);
        h.admin_up.push(true);
        h.stack.sync_connected_routes();
        let br = SwitchRt {
            name: format!("br-int@{name}"),
            powered: true,
            ports: vec![SwitchPortRt {
                name: "antrea-gw0".into(),
                vlan: VlanMode::Access(BR_INT_VLAN),
            }],
            macs: MacTable::new(SimDuration::from_secs(300)),
            l3: None,
            svi_vlans: Vec::new(),
            static_routes: Vec::new(),
            bfd: false,
        };
        let br_id = self.add_device(DeviceRt::Switch(br));
        self.add_link(
            PortRef { device: node, port },
            PortRef {
                device: br_id,
                port: 0,
            },
            INTERNAL_LATENCY,
        );
        self.br_int.insert(node, br_id);
    }

    // ----- inspection -------------------------------------------------------

    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn events_processed(&self) -> u64 {
        self.events
    }
    /// The log entries kept in memory: every one, unless the log streams
    /// to a sink ([`World::stream_log`]), then none.
    pub fn log(&self) -> &[LogEntry] {
        self.log.kept()
    }
    /// Sends every log entry to `sink` as it is recorded instead of keeping
    /// it (the entries kept so far first).
    pub fn stream_log(&mut self, sink: Box<dyn LogSink>) {
        self.log.stream_to(sink);
    }
    /// Flushes the log's sink; the first write error the sink hit, if any.
    pub fn flush_log(&mut self) -> std::io::Result<()> {
        self.log.flush()
    }
    /// The write error that stopped the log's sink, if one did.
    pub fn log_error(&self) -> Option<&std::io::Error> {
        self.log.error()
    }
    /// Log entries recorded so far, kept or streamed.
    pub fn log_entries(&self) -> u64 {
        self.log.recorded()
    }
    pub fn devices(&self) -> &[DeviceRt] {
        &self.devices
    }
    pub fn device(&self, id: DeviceId) -> &DeviceRt {
        &self.devices[id.0 as usize]
    }
    pub fn device_id(&self, name: &str) -> Option<DeviceId> {
        self.by_name.get(name).copied()
    }
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }
    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.spec.name == name)
    }
    /// MAC table rows of a switch with port names; `None` if not a switch.
    pub fn mac_rows(
        &mut self,
        id: DeviceId,
        now: SimTime,
    ) -> Option<Vec<(super::switch::MacRow, String)>> {
        let DeviceRt::Switch(s) = &mut self.devices[id.0 as usize] else {
            return None;
        };
        let rows = s.macs.rows(now);
        Some(
            rows.into_iter()
                .map(|r| {
                    let p = s.ports[r.port as usize].name.clone();
                    (r, p)
                })
                .collect(),
        )
    }

    /// Whether `apply_dataplane` logs each change (the scenario runner turns it
    /// off while it sets up the lab's initial state, and logs a summary).
    pub fn set_dataplane_logging(&mut self, on: bool) {
        self.log_dataplane = on;
    }

    /// Stop recording every frame in the log (large runs).
    pub fn set_frame_logging(&mut self, on: bool) {
        self.log_frames = on;
    }

    /// Name of a port: `device/iface` for hosts, `switch/port` for switches.
    pub fn port_name(&self, p: PortRef) -> String {
        format!("{}/{}", self.device(p.device).name(), self.port_label(p))
    }
    fn port_label(&self, p: PortRef) -> String {
        match self.device(p.device) {
            DeviceRt::Host(h) => h
                .ports
                .get(p.port as usize)
                .map_or("?".into(), |&i| h.stack.ifaces[i].name.clone()),
            DeviceRt::Switch(s) => s
                .ports
                .get(p.port as usize)
                .map_or("?".into(), |x| x.name.clone()),
        }
    }

    /// Finds a port by `device/iface-or-port` (the last `/` separates them, so
    /// Pod names like `ns/pod/eth0` work).
    pub fn find_port(&self, reference: &str) -> Option<PortRef> {
        let (dev, port) = reference.rsplit_once('/')?;
        let id = self.device_id(dev)?;
        let idx = match self.device(id) {
            DeviceRt::Host(h) => h
                .ports
                .iter()
                .position(|&i| h.stack.ifaces[i].name == port)?,
            DeviceRt::Switch(s) => s.ports.iter().position(|x| x.name == port)?,
        };
        Some(PortRef {
            device: id,
            port: idx as u16,
        })
    }

    pub fn links(&self) -> Vec<LinkState> {
        self.links
            .iter()
            .map(|l| LinkState {
                a: self.port_name(l.a),
                b: self.port_name(l.b),
                up: l.up,
                latency: l.latency,
            })
            .collect()
    }

    /// Every address of every host, for resolving endpoint names.
    pub fn host_ip(&self, id: DeviceId) -> Option<Ipv4Addr> {
        let DeviceRt::Host(h) = self.device(id) else {
            return None;
        };
        h.stack
            .ifaces
            .iter()
            .find(|i| i.name != "antrea-gw0")
            .and_then(|i| i.addrs.first())
            .map(|a| a.addr())
    }

    /// pcap captures, one per port that saw traffic, named `device_port.pcap`.
    pub fn captures(&self) -> Vec<(String, &[u8])> {
        let Some(c) = &self.captures else {
            return Vec::new();
        };
        c.iter()
            .map(|(p, w)| {
                let name = self.port_name(*p).replace(['/', '@'], "_");
                (format!("{name}.pcap"), w.bytes())
            })
            .collect()
    }
    pub fn enable_capture(&mut self) {
        self.captures.get_or_insert_with(BTreeMap::new);
    }

    /// Lowers (or raises) how much capture the run keeps (default
    /// [`CAPTURE_BUDGET`]).
    pub fn set_capture_budget(&mut self, bytes: usize) {
        self.capture_budget = bytes;
    }

    /// Records `frame` in `port`'s capture, while the captures together
    /// stay under the capture budget (they are held in memory until the run
    /// ends); past it, capture stops and the log says so once.
    fn capture(&mut self, port: PortRef, frame: &[u8]) {
        let Some(c) = &mut self.captures else {
            return;
        };
        if self.capture_bytes >= self.capture_budget {
            return;
        }
        let w = c.entry(port).or_default();
        let before = w.bytes().len();
        w.record(self.now, frame);
        self.capture_bytes += w.bytes().len() - before;
        if self.capture_bytes >= self.capture_budget {
            self.record(
                LogKind::Warn,
                "",
                format!(
                    "pcap capture stopped: the captures reached {} KiB, all a run keeps; later frames are not in the files",
                    self.capture_budget >> 10
                ),
            );
        }
    }

    // ----- logging ----------------------------------------------------------

    pub fn record(&mut self, kind: LogKind, device: &str, message: impl Into<String>) {
        self.log.push(LogEntry {
            time: self.now,
            kind,
            device: device.to_string(),
            message: message.into(),
        });
    }

    // ----- running ----------------------------------------------------------

    /// Processes every event up to and including `until`, then sets the clock
    /// to `until`.
    pub fn run_until(&mut self, until: SimTime) {
        while let Some(at) = self.queue.peek_time() {
            if at > until {
                break;
            }
            let (at, ev) = self.queue.pop().expect("peeked");
            self.now = at;
            self.events += 1;
            self.dispatch(ev);
        }
        if until > self.now {
            self.now = until;
        }
    }

    /// Processes exactly one event; returns its time, or `None` if idle.
    pub fn step(&mut self) -> Option<SimTime> {
        let (at, ev) = self.queue.pop()?;
        self.now = at;
        self.events += 1;
        self.dispatch(ev);
        Some(at)
    }

    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Arrive {
                port,
                link,
                frame,
                tag,
            } => self.arrive(port, link as usize, frame, tag),
            Event::Timer {
                device,
                epoch,
                timer,
            } => {
                if self.epochs[device.0 as usize] != epoch || !self.device(device).powered() {
                    return;
                }
                let name = self.device(device).name().to_string();
                let mut cx = Cx::new(self.now, &name);
                if let Some(stack) = self.devices[device.0 as usize].stack_mut() {
                    stack.on_timer(&mut cx, timer);
                }
                let cx = detach(cx);
                self.finish(device, cx);
            }
            Event::ProbeSend { probe } => self.probe_send(probe),
            Event::ProbeTimeout { probe, seq } => self.probe_timeout(probe, seq),
            Event::AgentTimer {
                device,
                epoch,
                timer,
            } => {
                if self.epochs[device.0 as usize] != epoch {
                    return;
                }
                let now = self.now;
                let actions = match self.agents.get_mut(&device) {
                    Some(a) => a.on_timer(now, timer),
                    None => return,
                };
                self.run_agent_actions(device, actions);
            }
            Event::Control { token } => self.control.push(ControlEvent::Timer(token)),
            Event::Bfd { device } => self.bfd_tick(device),
        }
    }

    /// Puts a frame on the wire at `from`.
    fn transmit(&mut self, from: PortRef, frame: Vec<u8>, tag: Option<TraceTag>, flooding: bool) {
        let Some(&li) = self.port_link.get(&from) else {
            return;
        };
        let link = self.links[li].clone();
        if !link.up {
            // A flooded copy matters only if it was heading to the owner of
            // the destination MAC (the switch forgot the port when it went down).
            let peer = if link.a == from { link.b } else { link.a };
            let for_peer = flooding
                && wire::parse_eth(&frame).is_ok_and(|(eth, _)| {
                    !eth.dst.is_multicast() && self.device(peer.device).owns_mac(eth.dst)
                });
            if !flooding || for_peer {
                let (device, port) = (
                    self.device(from.device).name().to_string(),
                    self.port_label(from),
                );
                self.drop_packet(tag, DropReason::LinkDown { device, port });
            }
            return;
        }
        self.capture(from, &frame);
        let to = if link.a == from { link.b } else { link.a };
        self.queue.push(
            self.now + link.latency,
            Event::Arrive {
                port: to,
                link: li as u32,
                frame,
                tag,
            },
        );
    }

    fn arrive(&mut self, port: PortRef, link: usize, frame: Vec<u8>, tag: Option<TraceTag>) {
        if !self.links[link].up {
            let (device, name) = (
                self.device(port.device).name().to_string(),
                self.port_label(port),
            );
            self.drop_packet(tag, DropReason::LinkDown { device, port: name });
            return;
        }
        self.capture(port, &frame);
        if self.log_frames {
            let msg = format!("rx {} {}", self.port_label(port), wire::summarize(&frame));
            let dev = self.device(port.device).name().to_string();
            self.record(LogKind::Frame, &dev, msg);
        }
        let powered = self.device(port.device).powered();
        if !powered {
            // Only a frame meant for this device is "lost because it is off";
            // flooded copies for others are not a verdict.
            if let Ok((eth, _)) = wire::parse_eth(&frame)
                && self.device(port.device).owns_mac(eth.dst)
            {
                let device = self.device(port.device).name().to_string();
                self.drop_packet(tag, DropReason::PoweredOff { device });
            }
            return;
        }
        match &self.devices[port.device.0 as usize] {
            DeviceRt::Host(_) => self.host_receive(port, frame, tag),
            DeviceRt::Switch(_) => {
                self.switch_receive(port.device, Some(port.port), None, frame, tag)
            }
        }
    }

    fn host_receive(&mut self, port: PortRef, frame: Vec<u8>, tag: Option<TraceTag>) {
        let id = port.device;
        let DeviceRt::Host(h) = &self.devices[id.0 as usize] else {
            return;
        };
        let phys = h.ports[port.port as usize];
        let (vid, inner) = wire::pop_vlan(&frame);
        let iface = match vid {
            None => Some(phys),
            Some(v) => h.iface_kinds.iter().position(|k| {
                *k == HostIfaceKind::Vlan {
                    parent: phys,
                    vid: v,
                }
            }),
        };
        let Some(iface) = iface else {
            // Linux drops frames for VLANs it has no sub-interface for.
            let device = h.name.clone();
            if let (Some(v), Ok((eth, _))) = (vid, wire::parse_eth(&inner))
                && self.device(id).owns_mac(eth.dst)
            {
                self.drop_packet(tag, DropReason::NoVlanInterface { device, vid: v });
            }
            return;
        };
        if !h.admin_up[iface] || !h.stack.ifaces[iface].up {
            return;
        }
        if let Some(t) = tag {
            let ifname = h.stack.ifaces[iface].name.clone();
            let name = h.name.clone();
            self.add_hop(t, &name, format!("in {ifname}"), vid);
        }
        let name = self.device(id).name().to_string();
        let mut cx = Cx::new(self.now, &name);
        if let DeviceRt::Host(h) = &mut self.devices[id.0 as usize] {
            h.stack.receive(&mut cx, iface, &inner, tag);
        }
        let cx = detach(cx);
        self.finish(id, cx);
    }

    /// L2 forwarding. `in_port` None = from the switch's own L3 part on `cpu_vlan`.
    fn switch_receive(
        &mut self,
        id: DeviceId,
        in_port: Option<u16>,
        cpu_vlan: Option<u16>,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        let now = self.now;
        let DeviceRt::Switch(sw) = &mut self.devices[id.0 as usize] else {
            return;
        };
        let (vlan, inner) = match in_port {
            Some(p) => {
                let (t, inner) = wire::pop_vlan(&frame);
                match sw.ports[p as usize].vlan.ingress_vlan(t) {
                    Some(v) => (v, inner),
                    None => {
                        let (switch, port) = (sw.name.clone(), sw.ports[p as usize].name.clone());
                        let reason = DropReason::VlanNotAllowed {
                            switch,
                            port,
                            vlan: t,
                        };
                        self.note_arp_drop(&frame, &reason);
                        self.drop_packet(tag, reason);
                        return;
                    }
                }
            }
            None => (cpu_vlan.expect("CPU frames carry their VLAN"), frame),
        };
        let Ok((eth, _)) = wire::parse_eth(&inner) else {
            return;
        };
        let mut learned = None;
        if let Some(p) = in_port
            && sw.macs.learn(now, vlan, eth.src, p)
        {
            learned = Some(format!(
                "learned {} on vlan {vlan} port {}",
                eth.src, sw.ports[p as usize].name
            ));
        }
        let svi = sw.svi_vlans.iter().position(|&v| v == vlan);
        let to_cpu = svi.filter(|&i| {
            in_port.is_some()
                && sw
                    .l3
                    .as_ref()
                    .is_some_and(|l3| eth.dst.is_multicast() || l3.ifaces[i].mac == eth.dst)
        });
        let unicast_out = if eth.dst.is_multicast() {
            None
        } else {
            sw.macs.lookup(now, vlan, eth.dst)
        };
        let name = sw.name.clone();
        let mut outs: Vec<u16> = Vec::new();
        let is_cpu_unicast = to_cpu.is_some() && !eth.dst.is_multicast();
        if !is_cpu_unicast {
            match unicast_out {
                Some(p) if Some(p) != in_port => outs.push(p),
                Some(_) => {} // destination is behind the port it came from: filter
                None => {
                    for (i, port) in sw.ports.iter().enumerate() {
                        if Some(i as u16) != in_port && port.vlan.egress_tag(vlan).is_some() {
                            outs.push(i as u16);
                        }
                    }
                }
            }
        }
        let flooding = unicast_out.is_none();
        let port_names: Vec<(u16, String, Option<Option<u16>>)> = outs
            .iter()
            .map(|&p| {
                (
                    p,
                    sw.ports[p as usize].name.clone(),
                    sw.ports[p as usize].vlan.egress_tag(vlan),
                )
            })
            .collect();
        if let Some(msg) = learned {
            self.record(LogKind::Mac, &name, msg);
        }
        if let Some(t) = tag {
            let inp = in_port.map_or("(cpu)".to_string(), |p| {
                self.port_label(PortRef {
                    device: id,
                    port: p,
                })
            });
            let outs_txt = if is_cpu_unicast {
                "to its own SVI".to_string()
            } else if port_names.is_empty() {
                "nowhere".to_string()
            } else if flooding {
                format!(
                    "flood to {}",
                    port_names
                        .iter()
                        .map(|p| p.1.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            } else {
                format!("out {}", port_names[0].1)
            };
            self.add_hop(
                t,
                &name,
                format!("in {inp} vlan {vlan} {} -> {outs_txt}", eth.dst),
                Some(vlan),
            );
        }
        for (p, _, egress) in port_names {
            let Some(egress) = egress else { continue };
            let out_frame = match egress {
                None => inner.clone(),
                Some(v) => wire::push_vlan(&inner, v),
            };
            self.transmit(
                PortRef {
                    device: id,
                    port: p,
                },
                out_frame,
                tag,
                flooding,
            );
        }
        if let Some(i) = to_cpu {
            let mut cx = Cx::new(self.now, &name);
            if let DeviceRt::Switch(sw) = &mut self.devices[id.0 as usize]
                && let Some(l3) = &mut sw.l3
            {
                l3.receive(&mut cx, i, &inner, tag);
            }
            let cx = detach(cx);
            self.finish(id, cx);
        }
    }

    /// Executes what a stack asked for: frames, timers, notes.
    fn finish(&mut self, id: DeviceId, cx: Detached) {
        for (at, timer) in cx.timers {
            let epoch = self.epochs[id.0 as usize];
            self.queue.push(
                at,
                Event::Timer {
                    device: id,
                    epoch,
                    timer,
                },
            );
        }
        let name = self.device(id).name().to_string();
        for note in cx.notes {
            match note {
                Note::Drop { tag, reason } => self.drop_packet(tag, reason),
                Note::Local { pkt, tag } => {
                    if let L4::Udp {
                        dst_port: MEMBERLIST_PORT,
                        payload,
                        ..
                    } = &pkt.l4
                    {
                        self.agent_receive(id, pkt.src, payload);
                    } else {
                        self.local_delivery(id, &pkt, tag);
                    }
                }
                Note::Hop { tag, text } => self.add_hop(tag, &name, text, None),
                Note::Log { kind, text } => self.record(kind, &name, text),
            }
        }
        for out in cx.out {
            match &self.devices[id.0 as usize] {
                DeviceRt::Host(h) => {
                    let (port, frame) = match h.iface_kinds[out.iface] {
                        HostIfaceKind::Physical { port } => (port, out.frame),
                        HostIfaceKind::Vlan { parent, vid } => match h.iface_kinds[parent] {
                            HostIfaceKind::Physical { port } => {
                                (port, wire::push_vlan(&out.frame, vid))
                            }
                            HostIfaceKind::Vlan { .. } | HostIfaceKind::Dummy => continue,
                        },
                        HostIfaceKind::Dummy => continue,
                    };
                    self.transmit(PortRef { device: id, port }, frame, out.tag, false);
                }
                DeviceRt::Switch(sw) => {
                    let vlan = sw.svi_vlans[out.iface];
                    self.switch_receive(id, None, Some(vlan), out.frame, out.tag);
                }
            }
        }
    }

    // ----- probes -------------------------------------------------------------

    fn add_hop(&mut self, tag: TraceTag, device: &str, text: String, vlan: Option<u16>) {
        let now = self.now;
        if let Some(p) = self.probes.get_mut(tag.probe as usize)
            && let Some(a) = p.attempt_mut(tag.attempt)
        {
            let finished = a.verdict != Verdict::Pending;
            if !p.keeps_path_of(tag.attempt, finished) {
                return;
            }
            let Some(a) = p.attempt_mut(tag.attempt) else {
                return;
            };
            a.path.push(Hop {
                time: now,
                device: device.to_string(),
                text,
                vlan,
                reply: tag.reply,
            });
        }
    }

    /// Remembers why the network dropped an ARP request, so the sender's
    /// later "ARP incomplete" can say so.
    fn note_arp_drop(&mut self, frame: &[u8], reason: &DropReason) {
        let Ok((eth, payload)) = wire::parse_eth(frame) else {
            return;
        };
        if eth.ethertype != wire::ethertype::ARP {
            return;
        }
        let Ok(msg) = ArpMsg::parse(payload) else {
            return;
        };
        if msg.op != wire::ArpOp::Request {
            return;
        }
        if let Some(owner) = self.devices.iter().find(|d| d.owns_mac(msg.sha)) {
            let key = (owner.name().to_string(), msg.tpa);
            self.arp_drop_hints.insert(key, reason.to_string());
        }
    }

    fn drop_packet(&mut self, tag: Option<TraceTag>, reason: DropReason) {
        let reason = match reason {
            DropReason::ArpIncomplete {
                device,
                ip,
                cause: None,
            } => {
                let cause = self.arp_drop_hints.get(&(device.clone(), ip)).cloned();
                DropReason::ArpIncomplete { device, ip, cause }
            }
            other => other,
        };
        let Some(tag) = tag else {
            self.record(LogKind::Drop, "", reason.to_string());
            return;
        };
        let probe_name = self
            .probes
            .get(tag.probe as usize)
            .map(|p| p.spec.name.clone())
            .unwrap_or_default();
        self.record(
            LogKind::Drop,
            "",
            format!("{probe_name}#{}: {reason}", tag.attempt),
        );
        if let Some(p) = self.probes.get_mut(tag.probe as usize)
            && let Some(a) = p.attempt_mut(tag.attempt)
        {
            let finished = a.verdict != Verdict::Pending;
            if p.keeps_path_of(tag.attempt, finished)
                && let Some(a) = p.attempt_mut(tag.attempt)
            {
                a.drops.push(reason);
            }
        }
    }

    fn local_delivery(&mut self, at: DeviceId, pkt: &Ipv4Pkt, tag: Option<TraceTag>) {
        let Some(tag) = tag else { return };
        let Some(probe) = self.probes.get(tag.probe as usize) else {
            return;
        };
        let host = self.device(at).name().to_string();
        if !tag.reply {
            if let Some(a) = self.probes[tag.probe as usize].attempt_mut(tag.attempt) {
                a.seen_src = Some(pkt.src);
                a.seen_by = Some(host);
            }
            return;
        }
        if at != probe.spec.from {
            return;
        }
        let answer = matches!(&pkt.l4, L4::IcmpEcho { request: false, .. })
            || matches!(&pkt.l4, L4::Tcp { flags, .. } if flags.syn && flags.ack);
        if answer && pkt.src != probe.spec.to {
            // A reply must come back from the address the client talked to
            // (a Service VIP, not the endpoint): a real client would drop it.
            let reason = DropReason::WrongReplySource {
                device: host,
                expected: probe.spec.to,
                got: pkt.src,
            };
            self.drop_packet(Some(tag), reason);
            self.finish_attempt(tag.probe, tag.attempt, false);
            return;
        }
        if let ProbeKind::Http { host, path, .. } = &probe.spec.kind {
            match &pkt.l4 {
                // Connected: send the request, like curl.
                L4::Tcp {
                    flags,
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    ..
                } if flags.syn && flags.ack => {
                    let request = format!(
                        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.68.0\r\nAccept: */*\r\n\r\n"
                    );
                    let req = Ipv4Pkt {
                        src: pkt.dst,
                        dst: pkt.src,
                        ttl: 64,
                        ident: 0,
                        l4: L4::Tcp {
                            src_port: *dst_port,
                            dst_port: *src_port,
                            seq: *ack,
                            ack: seq.wrapping_add(1),
                            flags: wire::TcpFlags {
                                ack: true,
                                psh: true,
                                ..Default::default()
                            },
                            window: 64240,
                            payload: request.into_bytes(),
                        },
                    };
                    let from = probe.spec.from;
                    let name = self.device(from).name().to_string();
                    let mut cx = Cx::new(self.now, &name);
                    if let Some(stack) = self.devices[from.0 as usize].stack_mut() {
                        stack.send(
                            &mut cx,
                            req,
                            Some(TraceTag {
                                reply: false,
                                ..tag
                            }),
                        );
                    }
                    let cx = detach(cx);
                    self.finish(from, cx);
                    return;
                }
                L4::Tcp { payload, .. } if payload.starts_with(b"HTTP/1.1 ") => {
                    let from = probe.spec.from;
                    let status = std::str::from_utf8(&payload[9..])
                        .ok()
                        .and_then(|s| s.get(..3))
                        .and_then(|c| c.parse().ok());
                    if let Some(a) = self.probes[tag.probe as usize].attempt_mut(tag.attempt) {
                        a.http_status = status;
                    }
                    self.finish_attempt(tag.probe, tag.attempt, true);
                    // curl exits and its socket closes.
                    let fin = super::tcp_close::close_after_response(pkt);
                    self.send_untraced(from, fin.into_iter().collect());
                    return;
                }
                _ => {}
            }
        }
        let verdict = match &pkt.l4 {
            L4::IcmpEcho { request: false, .. } => Some(true),
            L4::Tcp { flags, .. } if flags.syn && flags.ack => Some(true),
            L4::Tcp { flags, .. } if flags.rst => Some(false),
            L4::IcmpDestUnreachable { .. } | L4::IcmpTimeExceeded { .. } => Some(false),
            _ => None,
        };
        if let Some(ok) = verdict {
            let from = probe.spec.from;
            let connected = ok && matches!(pkt.l4, L4::Tcp { .. });
            self.finish_attempt(tag.probe, tag.attempt, ok);
            if connected {
                // A TCP probe is connect() then close().
                self.send_untraced(from, super::tcp_close::connect_then_close(pkt));
            }
        }
    }

    /// Sends packets `from` a host outside any probe's trace (the segments
    /// that close a probe's connection).
    fn send_untraced(&mut self, from: DeviceId, pkts: Vec<Ipv4Pkt>) {
        if pkts.is_empty() {
            return;
        }
        let name = self.device(from).name().to_string();
        let mut cx = Cx::new(self.now, &name);
        if let Some(stack) = self.devices[from.0 as usize].stack_mut() {
            for p in pkts {
                stack.send(&mut cx, p, None);
            }
        }
        let cx = detach(cx);
        self.finish(from, cx);
    }

    /// Starts a probe; its first attempt is sent now.
    pub fn start_probe(&mut self, spec: ProbeSpec) -> Result<(), String> {
        if let Some(p) = self.probes.iter_mut().find(|p| p.spec.name == spec.name) {
            if p.running {
                return Err(format!("probe `{}` is already running", spec.name));
            }
            p.spec = spec;
            p.running = true;
            let id = p.id;
            self.queue.push(self.now, Event::ProbeSend { probe: id });
            return Ok(());
        }
        let id = self.probes.len() as u32;
        let msg = format!(
            "start {} {} -> {} ({}), every {}",
            spec.name,
            spec.from_label,
            spec.to_label,
            match &spec.kind {
                ProbeKind::Ping => "ping".to_string(),
                ProbeKind::Tcp { port } => format!("tcp/{port}"),
                ProbeKind::Http { port, host, path } => format!("http://{host}:{port}{path}"),
            },
            spec.interval
        );
        self.probes.push(Probe {
            id,
            spec,
            running: true,
            attempts: Vec::new(),
            last_ok: None,
            down_since: None,
            last_seq: 0,
            newest_finished: 0,
            forgotten: 0,
        });
        self.record(LogKind::Probe, "", msg);
        self.queue.push(self.now, Event::ProbeSend { probe: id });
        Ok(())
    }

    pub fn stop_probe(&mut self, name: &str) -> Result<(), String> {
        let p = self
            .probes
            .iter_mut()
            .find(|p| p.spec.name == name)
            .ok_or_else(|| format!("no probe called `{name}`"))?;
        p.running = false;
        let stats = p.stats();
        let msg = format!(
            "stop {name}: {} sent, {} ok, {} failed",
            stats.sent, stats.ok, stats.failed
        );
        self.record(LogKind::Probe, "", msg);
        Ok(())
    }

    fn probe_send(&mut self, id: u32) {
        let now = self.now;
        let p = &mut self.probes[id as usize];
        if !p.running {
            return;
        }
        let seq = p.attempts.len() as u32 + 1;
        if let Some(max) = p.spec.count
            && seq > max
        {
            p.running = false;
            return;
        }
        p.attempts.push(Attempt {
            seq,
            sent: now,
            verdict: Verdict::Pending,
            seen_src: None,
            seen_by: None,
            path: Vec::new(),
            drops: Vec::new(),
            http_status: None,
        });
        let spec = p.spec.clone();
        self.queue
            .push(now + spec.interval, Event::ProbeSend { probe: id });
        self.queue
            .push(now + spec.timeout, Event::ProbeTimeout { probe: id, seq });
        let tag = TraceTag {
            probe: id,
            attempt: seq,
            reply: false,
        };
        if !self.device(spec.from).powered() {
            let device = self.device(spec.from).name().to_string();
            self.drop_packet(Some(tag), DropReason::PoweredOff { device });
            self.finish_attempt(id, seq, false);
            return;
        }
        let l4 = match spec.kind {
            ProbeKind::Ping => L4::IcmpEcho {
                request: true,
                // ping uses its process id as identifier; ours is stable per probe.
                ident: 0x4000 + id as u16,
                seq: seq as u16,
                data: b"antlab-probe".to_vec(),
            },
            ProbeKind::Tcp { port } | ProbeKind::Http { port, .. } => {
                let flags = wire::TcpFlags {
                    syn: true,
                    ..Default::default()
                };
                L4::Tcp {
                    // Linux's default ephemeral range starts at 32768.
                    src_port: 32768 + ((id * 1000 + seq) % 28000) as u16,
                    dst_port: port,
                    seq: seq.wrapping_mul(0x9e37_79b9),
                    ack: 0,
                    flags,
                    window: 64240,
                    payload: Vec::new(),
                }
            }
        };
        let pkt = Ipv4Pkt {
            src: Ipv4Addr::UNSPECIFIED,
            dst: spec.to,
            ttl: 64,
            ident: 0,
            l4,
        };
        let name = self.device(spec.from).name().to_string();
        let mut cx = Cx::new(now, &name);
        if let Some(stack) = self.devices[spec.from.0 as usize].stack_mut() {
            stack.send(&mut cx, pkt, Some(tag));
        }
        let cx = detach(cx);
        self.finish(spec.from, cx);
    }

    fn probe_timeout(&mut self, id: u32, seq: u32) {
        let pending = self.probes[id as usize]
            .attempt_mut(seq)
            .is_some_and(|a| a.verdict == Verdict::Pending);
        if pending {
            self.finish_attempt(id, seq, false);
        }
    }

    fn finish_attempt(&mut self, id: u32, seq: u32, ok: bool) {
        let now = self.now;
        let p = &mut self.probes[id as usize];
        let timeout = p.spec.timeout;
        let pname = p.spec.name.clone();
        let Some(a) = p.attempt_mut(seq) else { return };
        if a.verdict != Verdict::Pending {
            return;
        }
        a.verdict = if ok {
            Verdict::Ok {
                rtt_ns: now.since(a.sent).as_nanos(),
            }
        } else {
            let reason = a
                .drops
                .first()
                .map_or_else(|| format!("no reply within {timeout}"), |d| d.to_string());
            Verdict::Fail { reason }
        };
        let sent = a.sent;
        let line = match &a.verdict {
            Verdict::Ok { rtt_ns } => {
                let src = a
                    .seen_src
                    .map_or(String::new(), |s| format!(", seen from {s}"));
                format!("{pname}#{seq} ok rtt {}{src}", SimDuration(*rtt_ns))
            }
            Verdict::Fail { reason } => format!("{pname}#{seq} FAILED: {reason}"),
            Verdict::Pending => unreachable!(),
        };
        // Transitions are what people read; each attempt is kept for -o json.
        let in_order = seq > p.last_seq;
        let transition = match (p.last_ok, ok) {
            _ if !in_order => None,
            (Some(true) | None, false) => {
                p.down_since = Some(sent);
                Some(format!(
                    "{} DOWN: {}",
                    p.spec.name,
                    line.split_once(": ").map_or("", |x| x.1)
                ))
            }
            (Some(false), true) => {
                let since = p.down_since.take().unwrap_or(sent);
                Some(format!(
                    "{} UP again after {} outage",
                    p.spec.name,
                    sent.since(since)
                ))
            }
            (None, true) => Some(format!("{} UP", p.spec.name)),
            _ => None,
        };
        if in_order {
            p.last_ok = Some(ok);
            p.last_seq = seq;
        }
        p.finished(seq);
        self.record(LogKind::Probe, "", line);
        if let Some(t) = transition {
            self.record(LogKind::Probe, "", t);
        }
    }

    // ----- control operations ---------------------------------------------

    pub fn set_power(&mut self, id: DeviceId, on: bool) {
        let i = id.0 as usize;
        let name = self.device(id).name().to_string();
        if self.device(id).powered() == on {
            return;
        }
        self.epochs[i] += 1;
        match &mut self.devices[i] {
            DeviceRt::Host(h) => {
                h.powered = on;
                if on {
                    // A cold boot: caches, connection state and everything the
                    // agent configured are gone (none of it is persistent); the
                    // static configuration comes back. The agent re-applies its
                    // state when it starts again.
                    h.stack.arp.clear();
                    h.stack.ct.clear();
                    if let Some(applied) = self.applied.remove(&id) {
                        for (i, net) in applied.addrs {
                            h.stack.ifaces[i].addrs.retain(|a| *a != net);
                        }
                        for r in applied.rules {
                            h.stack.routes.remove_rules_for_table(r.table);
                        }
                    }
                    h.stack.routes.remove_origin("engine");
                    h.stack.sync_connected_routes();
                    h.stack.snat.clear();
                    h.stack.marks.clear();
                    h.stack.arp_responder.clear();
                }
            }
            DeviceRt::Switch(s) => {
                s.powered = on;
                if on {
                    s.macs.clear();
                    if let Some(l3) = &mut s.l3 {
                        l3.arp.clear();
                        l3.ct.clear();
                    }
                }
            }
        }
        self.record(
            LogKind::Power,
            &name,
            if on { "powered on" } else { "powered off" },
        );
        if !on {
            // The agent dies with the machine: no leave message, peers must
            // detect the failure.
            self.agents.remove(&id);
        }
        // Pods live and die with their node.
        if let Some(&br) = self.br_int.get(&id) {
            let pods: Vec<DeviceId> = (0..self.devices.len())
                .map(|d| DeviceId(d as u32))
                .filter(|&d| matches!(self.device(d), DeviceRt::Host(h) if matches!(&h.role, HostRole::Pod { node, .. } if *node == name)))
                .collect();
            self.set_power_quiet(br, on);
            for p in pods {
                self.set_power_quiet(p, on);
            }
        }
    }

    fn set_power_quiet(&mut self, id: DeviceId, on: bool) {
        self.epochs[id.0 as usize] += 1;
        match &mut self.devices[id.0 as usize] {
            DeviceRt::Host(h) => {
                h.powered = on;
                if on {
                    h.stack.arp.clear();
                    h.stack.ct.clear();
                }
            }
            DeviceRt::Switch(s) => {
                s.powered = on;
                if on {
                    s.macs.clear();
                }
            }
        }
    }

    /// Takes the link at `port` down or up. Both ends lose carrier; switches
    /// flush the MACs learned on it.
    pub fn set_link(&mut self, port: PortRef, up: bool) -> Result<(), String> {
        let li = *self
            .port_link
            .get(&port)
            .ok_or_else(|| format!("{} has no link", self.port_name(port)))?;
        if self.links[li].up == up {
            return Ok(());
        }
        self.links[li].up = up;
        let (a, b) = (self.links[li].a, self.links[li].b);
        for end in [a, b] {
            match &mut self.devices[end.device.0 as usize] {
                DeviceRt::Host(h) => {
                    let iface = h.ports[end.port as usize];
                    h.stack.ifaces[iface].up = up;
                    // VLAN sub-interfaces follow their parent's carrier.
                    for (i, k) in h.iface_kinds.iter().enumerate() {
                        if *k
                            == (HostIfaceKind::Vlan {
                                parent: iface,
                                vid: vid_of(k),
                            })
                        {
                            h.stack.ifaces[i].up = up;
                        }
                    }
                }
                DeviceRt::Switch(s) => {
                    if !up {
                        s.macs.flush_port(end.port);
                    }
                }
            }
        }
        let msg = format!(
            "link {} <-> {} {}",
            self.port_name(a),
            self.port_name(b),
            if up { "up" } else { "down" }
        );
        self.record(LogKind::Link, "", msg);
        Ok(())
    }

    /// A device's IP stack, to change it between events (scenario steps).
    pub fn stack_mut(&mut self, id: DeviceId) -> Option<&mut super::stack::IpStack> {
        self.devices[id.0 as usize].stack_mut()
    }

    /// `ip route add/del` on a host or an L3 switch (a static route).
    pub fn change_route(
        &mut self,
        id: DeviceId,
        spec: &crate::model::RouteSpec,
        add: bool,
    ) -> Result<(), String> {
        let name = self.device(id).name().to_string();
        let is_host = matches!(self.device(id), DeviceRt::Host(_));
        let stack = self.devices[id.0 as usize]
            .stack_mut()
            .ok_or_else(|| format!("{name} has no IP stack"))?;
        let r = devices::resolve_route(spec, &stack.ifaces, "static")
            .ok_or_else(|| format!("{name}: no interface reaches the route's next hop"))?;
        // Hosts run Linux, unless configured as routers with `maximumPaths`;
        // switches run a router OS.
        let linux = is_host && stack.routes.ecmp().maximum_paths == 1;
        super::route_change::apply(stack, linux, r, add)
            .map_err(|e| format!("{name}: ip route {}: {e}", if add { "add" } else { "del" }))
    }

    /// Changes a switch port's VLAN mode (someone edits the trunk). MACs
    /// learned on VLANs the port no longer carries are forgotten.
    pub fn set_port_vlan(&mut self, port: PortRef, mode: VlanMode) -> Result<(), String> {
        let name = self.port_name(port);
        let DeviceRt::Switch(s) = &mut self.devices[port.device.0 as usize] else {
            return Err(format!("{name} is not a switch port"));
        };
        let p = s
            .ports
            .get_mut(port.port as usize)
            .ok_or_else(|| format!("{name} does not exist"))?;
        p.vlan = mode;
        s.macs.flush_port(port.port);
        Ok(())
    }

    /// Plugs a Pod into its node's `br-int`: a host with `eth0` = `ip` in the
    /// node's Pod subnet and a default route via `antrea-gw0`.
    pub fn add_pod(
        &mut self,
        node: DeviceId,
        namespace: &str,
        name: &str,
        ip: Ipv4Addr,
        tcp_listen: Vec<u16>,
    ) -> Result<DeviceId, String> {
        let node_name = self.device(node).name().to_string();
        let br = *self
            .br_int
            .get(&node)
            .ok_or_else(|| format!("{node_name} is not a Kubernetes node"))?;
        let DeviceRt::Host(nh) = self.device(node) else {
            unreachable!("br-int exists only for hosts")
        };
        let gw = nh
            .stack
            .ifaces
            .iter()
            .find(|i| i.name == "antrea-gw0")
            .expect("every node has antrea-gw0");
        let gw_net = gw.addrs[0];
        if !gw_net.contains(&ip) {
            return Err(format!(
                "Pod IP {ip} is outside {node_name}'s Pod subnet {}",
                gw_net.trunc()
            ));
        }
        let full = format!("{namespace}/{name}");
        if self.device_id(&full).is_some() {
            return Err(format!("Pod {full} already exists"));
        }
        let spec = crate::model::HostSpec {
            role: HostRole::Pod {
                node: node_name.clone(),
                namespace: namespace.to_string(),
            },
            interfaces: vec![crate::model::IfaceSpec {
                name: "eth0".into(),
                mac: MacAddr::from_name(&full),
                // A /32 with everything via antrea-gw0: Antrea's OVS pipeline
                // (and its conntrack) sees all Pod traffic, even to Pods on
                // the same node; the lab gets the same by making the node the
                // Pod's only next hop.
                addrs: vec![Ipv4Net::from(ip)],
                kind: crate::model::IfaceKind::Physical,
            }],
            routes: vec![
                crate::model::RouteSpec::new(Ipv4Net::from(gw_net.addr()), None, Some("eth0")),
                crate::model::RouteSpec::new(Ipv4Net::default(), Some(gw_net.addr()), Some("eth0")),
            ],
            rules: Vec::new(),
            ip_forward: false,
            arp: ArpPolicy::Linux,
            tcp_listen,
            ecmp: crate::model::EcmpPolicy::default(),
        };
        let host = devices::build_host(&full, &spec, self.seed);
        let pod = self.add_device(DeviceRt::Host(host));
        let DeviceRt::Switch(sw) = &mut self.devices[br.0 as usize] else {
            unreachable!()
        };
        let port = sw.ports.len() as u16;
        // Antrea names the host side of a Pod's veth after the Pod, cut to 15 chars.
        let veth: String = name.chars().take(15).collect();
        sw.ports.push(SwitchPortRt {
            name: veth,
            vlan: VlanMode::Access(BR_INT_VLAN),
        });
        self.add_link(
            PortRef {
                device: pod,
                port: 0,
            },
            PortRef { device: br, port },
            INTERNAL_LATENCY,
        );
        self.record(
            LogKind::Engine,
            &node_name,
            format!("Pod {full} up with IP {ip}"),
        );
        Ok(pod)
    }

    /// Makes a node's engine-owned dataplane equal to `desired`, logging each
    /// change and sending one gratuitous ARP per newly announced address.
    pub fn apply_dataplane(
        &mut self,
        node: DeviceId,
        desired: &NodeDataplane,
    ) -> Result<(), String> {
        let name = self.device(node).name().to_string();
        let powered = self.device(node).powered();
        // Lines are only worth formatting when they will be logged (the
        // initial dataplane is applied unlogged: a route per peer per node).
        let log = self.log_dataplane;
        let mut lines: Vec<(LogKind, String)> = Vec::new();
        let mut garps: Vec<(usize, Ipv4Addr)> = Vec::new();
        let applied = self.applied.entry(node).or_default();
        let DeviceRt::Host(h) = &mut self.devices[node.0 as usize] else {
            return Err(format!("{name} is not a host"));
        };
        // 1. VLAN sub-interfaces (kept once created; an unused one has no address).
        for v in &desired.vlan_ifaces {
            if h.stack.iface_index(&v.name).is_none() {
                let parent = h
                    .stack
                    .iface_index(&v.parent)
                    .ok_or_else(|| format!("{name} has no interface {}", v.parent))?;
                let mac = h.stack.ifaces[parent].mac;
                let up = h.stack.ifaces[parent].up;
                h.stack.ifaces.push(L3Iface {
                    name: v.name.clone(),
                    mac,
                    addrs: Vec::new(),
                    up,
                    has_link: true,
                });
                h.iface_kinds
                    .push(HostIfaceKind::Vlan { parent, vid: v.vid });
                h.admin_up.push(true);
                lines.push((
                    LogKind::Engine,
                    format!(
                        "ip link add link {} name {} type vlan id {}",
                        v.parent, v.name, v.vid
                    ),
                ));
            }
        }
        for d in &desired.dummy_ifaces {
            if h.stack.iface_index(d).is_none() {
                let mac = MacAddr::from_name(&format!("{name}/{d}"));
                // Antrea never sets antrea-egress0 up: it is DOWN and NOARP.
                h.stack.ifaces.push(L3Iface {
                    name: d.clone(),
                    mac,
                    addrs: Vec::new(),
                    up: false,
                    has_link: false,
                });
                h.iface_kinds.push(HostIfaceKind::Dummy);
                h.admin_up.push(false);
                lines.push((LogKind::Engine, format!("ip link add {d} type dummy")));
            }
        }
        // 2. Addresses.
        let mut want: Vec<(usize, Ipv4Net, bool)> = Vec::new();
        let mut announce_on: Vec<(usize, usize)> = Vec::new();
        for a in &desired.addrs {
            let i = h
                .stack
                .iface_index(&a.iface)
                .ok_or_else(|| format!("{name} has no interface {}", a.iface))?;
            want.push((i, a.addr, a.announce));
            if let Some(t) = &a.announce_on {
                let ti = h
                    .stack
                    .iface_index(t)
                    .ok_or_else(|| format!("{name} has no interface {t}"))?;
                announce_on.push((i, ti));
            }
        }
        for &(i, net) in &applied.addrs {
            if !want.iter().any(|w| w.0 == i && w.1 == net) {
                h.stack.ifaces[i].addrs.retain(|x| *x != net);
                h.stack.ct.flush_translated_to(net.addr());
                lines.push((
                    LogKind::Engine,
                    format!("ip addr del {net} dev {}", h.stack.ifaces[i].name),
                ));
            }
        }
        for &(i, net, announce) in &want {
            if !h.stack.ifaces[i].addrs.contains(&net) {
                h.stack.ifaces[i].addrs.push(net);
                lines.push((
                    LogKind::Engine,
                    format!("ip addr add {net} dev {}", h.stack.ifaces[i].name),
                ));
                if announce {
                    let via = announce_on
                        .iter()
                        .find(|(a, _)| *a == i)
                        .map_or(i, |&(_, t)| t);
                    garps.push((via, net.addr()));
                }
            }
        }
        applied.addrs = want.iter().map(|w| (w.0, w.1)).collect();
        h.stack.sync_connected_routes();
        // 3. Routes and rules.
        let mut new_routes = Vec::new();
        for r in &desired.routes {
            let dev = h
                .stack
                .iface_index(&r.dev)
                .ok_or_else(|| format!("{name} has no interface {}", r.dev))?;
            new_routes.push(Route::single(
                r.dst, r.via, dev, r.metric, r.table, "engine",
            ));
        }
        let old_routes: Vec<Route> = h
            .stack
            .routes
            .routes()
            .iter()
            .filter(|r| r.origin == "engine")
            .cloned()
            .collect();
        if old_routes != new_routes {
            h.stack.routes.remove_origin("engine");
            h.stack.routes.add_routes(&new_routes);
        }
        if old_routes != new_routes && log {
            let old_set: std::collections::BTreeSet<&Route> = old_routes.iter().collect();
            let new_set: std::collections::BTreeSet<&Route> = new_routes.iter().collect();
            for r in new_routes.iter().filter(|r| !old_set.contains(r)) {
                lines.push((
                    LogKind::Route,
                    format!("ip route add {}", describe_route(r, &h.stack.ifaces)),
                ));
            }
            for r in old_routes.iter().filter(|r| !new_set.contains(r)) {
                lines.push((
                    LogKind::Route,
                    format!("ip route del {}", describe_route(r, &h.stack.ifaces)),
                ));
            }
        }
        let new_rules: Vec<crate::model::RuleSpec> =
            desired.rules.iter().map(|r| r.to_spec()).collect();
        if new_rules != applied.rules {
            for r in applied.rules.iter().filter(|r| !new_rules.contains(r)) {
                h.stack.routes.remove_rules_for_table(r.table);
                lines.push((
                    LogKind::Route,
                    format!("ip rule del pref {} lookup {}", r.priority, r.table),
                ));
            }
            for r in new_rules.iter().filter(|r| !applied.rules.contains(r)) {
                h.stack.routes.add_rule(r.clone());
                let mark = r
                    .fwmark
                    .map_or(String::new(), |(v, m)| format!(" fwmark {v:#x}/{m:#x}"));
                lines.push((
                    LogKind::Route,
                    format!("ip rule add pref {}{mark} lookup {}", r.priority, r.table),
                ));
            }
            applied.rules = new_rules;
        }
        // 4. SNAT, marks, ARP responder: replaced wholesale (like an atomic
        //    `nft -f` / OpenFlow bundle).
        let mut snat = Vec::new();
        for s in &desired.snat {
            let not_out = match &s.not_out_iface {
                Some(n) => Some(
                    h.stack
                        .iface_index(n)
                        .ok_or_else(|| format!("{name} has no interface {n}"))?,
                ),
                None => None,
            };
            snat.push(super::nat::SnatRule {
                src: s.src,
                not_dst: s.not_dst.clone(),
                not_out_iface: not_out,
                out_iface: None,
                mark: s.mark,
                to: s.to.clone(),
                comment: s.comment.clone(),
            });
        }
        let mut nat_changed = false;
        if snat != h.stack.snat {
            lines.push((
                LogKind::Nat,
                format!("{} SNAT rule(s) installed", snat.len()),
            ));
            h.stack.snat = snat;
            nat_changed = true;
        }
        let marks: Vec<super::stack::MarkRule> = desired
            .marks
            .iter()
            .map(|m| super::stack::MarkRule {
                src: m.src,
                not_dst: m.not_dst.clone(),
                mark: m.mark,
                comment: m.comment.clone(),
            })
            .collect();
        nat_changed |= marks != h.stack.marks;
        h.stack.marks = marks;
        if nat_changed {
            h.stack.ct.flush_untranslated();
        }
        let mut responder = Vec::new();
        for (iface, ip) in &desired.arp_responder {
            let i = h
                .stack
                .iface_index(iface)
                .ok_or_else(|| format!("{name} has no interface {iface}"))?;
            responder.push((i, *ip));
        }
        let new_responders: Vec<(usize, Ipv4Addr)> = responder
            .iter()
            .filter(|r| !h.stack.arp_responder.contains(r))
            .copied()
            .collect();
        if responder != h.stack.arp_responder {
            let text: Vec<String> = responder
                .iter()
                .map(|(i, ip)| format!("{ip} on {}", h.stack.ifaces[*i].name))
                .collect();
            lines.push((
                LogKind::Arp,
                format!("ARP responder answers for [{}]", text.join(", ")),
            ));
        }
        h.stack.arp_responder = responder;
        garps.extend(new_responders);
        h.stack.arp_any_iface = !desired.strict_arp;
        h.stack.l7_export = desired.l7_export.clone();
        let same_rules = match (&desired.service_rules, h.stack.services.shared_rules()) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        };
        if !same_rules {
            let n = desired
                .service_rules
                .as_ref()
                .map_or(0, |r| r.ports().count());
            lines.push((
                LogKind::Engine,
                format!("Service rules installed for {n} Service port(s)"),
            ));
            h.stack.services.set(desired.service_rules.clone());
        }
        if self.log_dataplane {
            for (kind, l) in lines {
                self.record(kind, &name, l);
            }
        }
        if powered {
            for (iface, ip) in garps {
                self.send_garp(node, iface, ip);
            }
        }
        Ok(())
    }

    /// One gratuitous ARP (request, SPA = TPA = ip), as Antrea's arping sends.
    pub fn send_garp(&mut self, node: DeviceId, iface: usize, ip: Ipv4Addr) {
        let name = self.device(node).name().to_string();
        let DeviceRt::Host(h) = &self.devices[node.0 as usize] else {
            return;
        };
        let mac = h.stack.ifaces[iface].mac;
        let ifname = h.stack.ifaces[iface].name.clone();
        let msg = ArpMsg::gratuitous(mac, ip);
        let frame = wire::build_eth(
            &EthHeader {
                dst: MacAddr::BROADCAST,
                src: mac,
                vlan: None,
                ethertype: wire::ethertype::ARP,
            },
            &msg.to_bytes(),
        );
        self.record(
            LogKind::Arp,
            &name,
            format!("gratuitous ARP for {ip} on {ifname}"),
        );
        let cx = Detached {
            out: vec![super::stack::Out {
                iface,
                frame,
                tag: None,
            }],
            timers: Vec::new(),
            notes: Vec::new(),
        };
        self.finish(node, cx);
    }

    /// The static routes of a host, for the power-cycle path and tables.
    pub fn static_routes(&self, id: DeviceId) -> &[Route] {
        match self.device(id) {
            DeviceRt::Host(h) => &h.static_routes,
            DeviceRt::Switch(s) => &s.static_routes,
        }
    }
}

impl World {
    /// Processes events up to `until` like [`World::run_until`], but returns
    /// as soon as an event produced control events, so the control plane can
    /// react at that instant; an empty result means `until` was reached.
    pub fn run_to(&mut self, until: SimTime) -> Vec<ControlEvent> {
        while let Some(at) = self.queue.peek_time() {
            if at > until {
                break;
            }
            let (at, ev) = self.queue.pop().expect("peeked");
            self.now = at;
            self.events += 1;
            self.dispatch(ev);
            if !self.control.is_empty() {
                return std::mem::take(&mut self.control);
            }
        }
        if until > self.now {
            self.now = until;
        }
        std::mem::take(&mut self.control)
    }

    /// Turns BFD on for a switch's static routes (sessions to every next hop).
    pub fn enable_bfd(&mut self, switch: DeviceId) {
        if let DeviceRt::Switch(s) = &mut self.devices[switch.0 as usize] {
            s.bfd = true;
        }
        self.queue
            .push(self.now + BFD_INTERVAL, Event::Bfd { device: switch });
    }

    /// One BFD interval. Modelled without packets: a session hears its peer
    /// when the device owning the next hop is powered and its link is up; three
    /// missed intervals take the session down and withdraw the routes.
    fn bfd_tick(&mut self, id: DeviceId) {
        let DeviceRt::Switch(s) = &self.devices[id.0 as usize] else {
            return;
        };
        if !s.bfd || !s.powered {
            self.queue
                .push(self.now + BFD_INTERVAL, Event::Bfd { device: id });
            return;
        }
        let hops =
            s.l3.as_ref()
                .map(|l| l.routes.static_next_hops())
                .unwrap_or_default();
        let name = s.name.clone();
        for nh in hops {
            let heard = self.devices.iter().enumerate().any(|(i, d)| {
                matches!(d, DeviceRt::Host(h) if h.powered
                    && h.stack.ifaces.iter().any(|f| f.up && f.addrs.iter().any(|a| a.addr() == nh)))
                    && self.port_link.iter().any(|(p, li)| p.device.0 as usize == i && self.links[*li].up)
            });
            let entry = self.bfd.entry((id, nh)).or_insert((0, true));
            let was_up = entry.1;
            if heard {
                entry.0 = 0;
                entry.1 = true;
            } else {
                entry.0 = entry.0.saturating_add(1);
                if entry.0 >= BFD_MULTIPLIER {
                    entry.1 = false;
                }
            }
            let now_up = entry.1;
            if was_up != now_up {
                if let DeviceRt::Switch(s) = &mut self.devices[id.0 as usize]
                    && let Some(l3) = &mut s.l3
                {
                    l3.routes.set_next_hop_alive(nh, now_up);
                }
                let msg = if now_up {
                    format!("BFD session to {nh} up: static routes via it restored")
                } else {
                    format!("BFD session to {nh} down: static routes via it withdrawn")
                };
                self.record(LogKind::Route, &name, msg);
            }
        }
        self.queue
            .push(self.now + BFD_INTERVAL, Event::Bfd { device: id });
    }

    /// Asks for `ControlEvent::Timer(token)` at `at`.
    pub fn control_timer(&mut self, at: SimTime, token: u64) {
        self.queue.push(at, Event::Control { token });
    }

    /// Starts (or restarts) the antrea-agent's memberlist on `node`, joining
    /// `peers` (Antrea joins every Node it learns about).
    pub fn start_agent(&mut self, node: DeviceId, peers: &[(String, Ipv4Addr)]) {
        let name = self.device(node).name().to_string();
        let Some(ip) = self.host_ip(node) else { return };
        let boot = self.agent_boots.entry(node).or_insert(0);
        *boot += 1;
        let rng = memberlist::agent_rng(self.seed, &name, *boot);
        let mut agent = Agent::new(&name, ip, MemberConfig::default(), rng);
        let actions = agent.join(self.now, peers);
        self.agents.insert(node, agent);
        self.record(
            LogKind::Engine,
            &name,
            "antrea-agent started, memberlist joining",
        );
        self.run_agent_actions(node, actions);
    }

    /// [`World::start_agent`] for a warm start: the agent's member list is
    /// already converged on `peers` and it sends nothing to join.
    pub fn start_agent_converged(&mut self, node: DeviceId, peers: &[(String, Ipv4Addr)]) {
        let name = self.device(node).name().to_string();
        let Some(ip) = self.host_ip(node) else { return };
        let boot = self.agent_boots.entry(node).or_insert(0);
        *boot += 1;
        let rng = memberlist::agent_rng(self.seed, &name, *boot);
        let mut agent = Agent::new(&name, ip, MemberConfig::default(), rng);
        let actions = agent.start_converged(self.now, peers);
        self.agents.insert(node, agent);
        self.run_agent_actions(node, actions);
    }

    /// Fills ARP caches as a long-running network has them (a scenario's
    /// `warmStart`): every gateway (a switch with SVIs, or a router) knows
    /// every address of every powered host on its subnets (Egress IPs on a
    /// dummy device answer with the MAC of the interface on their subnet, as
    /// Linux's `arp_ignore=0` does), and every host knows the gateway
    /// addresses on its subnets. Same subnet is taken as same L2 segment.
    /// Entries are made as if an ARP reply had just arrived; nothing is
    /// logged per entry. Returns how many entries were filled.
    pub fn warm_arp(&mut self) -> usize {
        use super::arp::ArpSeen;
        // (device, iface, subnet, MAC) of every gateway interface.
        let mut gateways: Vec<(usize, usize, Ipv4Net, MacAddr)> = Vec::new();
        // (device, linked iface, address, MAC) of every host address.
        let mut addrs: Vec<(usize, usize, Ipv4Addr, MacAddr)> = Vec::new();
        for (d, dev) in self.devices.iter().enumerate() {
            if !dev.powered() {
                continue;
            }
            let Some(st) = dev.stack() else { continue };
            let gateway = match dev {
                DeviceRt::Switch(_) => true,
                DeviceRt::Host(h) => h.role == HostRole::Router,
            };
            for (i, ifc) in st.ifaces.iter().enumerate() {
                for net in &ifc.addrs {
                    if gateway && ifc.has_link {
                        gateways.push((d, i, *net, ifc.mac));
                    }
                    if matches!(dev, DeviceRt::Host(_)) {
                        let ip = net.addr();
                        let linked = st.ifaces.iter().position(|o| {
                            o.has_link && o.up && o.addrs.iter().any(|n| n.contains(&ip))
                        });
                        if let Some(j) = linked {
                            addrs.push((d, j, ip, st.ifaces[j].mac));
                        }
                    }
                }
            }
        }
        let now = self.now;
        let mut filled = 0;
        let mut sink = Vec::new();
        let mut learn = |dev: &mut DeviceRt, iface: usize, ip: Ipv4Addr, mac: MacAddr| {
            if let Some(st) = dev.stack_mut() {
                let seen = ArpSeen {
                    spa: ip,
                    sha: mac,
                    reply_to_us: true,
                    request_for_us: false,
                };
                st.arp.on_arp(now, iface, seen, &mut sink);
                sink.clear();
                filled += 1;
            }
        };
        for &(gd, gi, net, gmac) in &gateways {
            for &(hd, hi, ip, hmac) in &addrs {
                if hd == gd || !net.contains(&ip) || ip == net.addr() {
                    continue;
                }
                learn(&mut self.devices[gd], gi, ip, hmac);
                let host_net = self.devices[hd]
                    .stack()
                    .is_some_and(|st| st.ifaces[hi].addrs.iter().any(|n| n.contains(&net.addr())));
                if host_net {
                    learn(&mut self.devices[hd], hi, net.addr(), gmac);
                }
            }
        }
        filled
    }

    /// Stops an agent. `graceful`: it leaves the memberlist cluster first
    /// (peers see it go at once), as on `kubectl delete pod`.
    pub fn stop_agent(&mut self, node: DeviceId, graceful: bool) {
        let now = self.now;
        if graceful && let Some(a) = self.agents.get_mut(&node) {
            let actions = a.leave(now);
            self.run_agent_actions(node, actions);
        }
        self.agents.remove(&node);
        let name = self.device(node).name().to_string();
        self.record(LogKind::Engine, &name, "antrea-agent stopped");
    }

    /// Antrea's `RejoinNodes` (every 60 s): re-join the listed nodes.
    pub fn rejoin(&mut self, node: DeviceId, peers: &[(String, Ipv4Addr)]) {
        let now = self.now;
        if let Some(a) = self.agents.get_mut(&node) {
            let actions = a.rejoin(now, peers);
            self.run_agent_actions(node, actions);
        }
    }

    /// The nodes `node`'s agent sees alive, or `None` if no agent runs there.
    pub fn agent_view(&self, node: DeviceId) -> Option<Vec<String>> {
        self.agents.get(&node).map(Agent::alive_members)
    }

    pub fn agent(&self, node: DeviceId) -> Option<&Agent> {
        self.agents.get(&node)
    }

    fn agent_receive(&mut self, node: DeviceId, from: Ipv4Addr, payload: &[u8]) {
        let now = self.now;
        let Ok(msg) = Msg::decode(payload) else {
            let name = self.device(node).name().to_string();
            self.record(
                LogKind::Warn,
                &name,
                "undecodable memberlist message dropped",
            );
            return;
        };
        let actions = match self.agents.get_mut(&node) {
            Some(a) => a.on_message(now, from, msg),
            None => return,
        };
        self.run_agent_actions(node, actions);
    }

    fn run_agent_actions(&mut self, node: DeviceId, actions: Vec<AgentAction>) {
        let name = self.device(node).name().to_string();
        for a in actions {
            match a {
                AgentAction::Send { to, msg } => {
                    let pkt = Ipv4Pkt {
                        src: Ipv4Addr::UNSPECIFIED,
                        dst: to,
                        ttl: 64,
                        ident: 0,
                        l4: L4::Udp {
                            src_port: MEMBERLIST_PORT,
                            dst_port: MEMBERLIST_PORT,
                            payload: msg.encode(),
                        },
                    };
                    let mut cx = Cx::new(self.now, &name);
                    if let Some(stack) = self.devices[node.0 as usize].stack_mut() {
                        stack.send(&mut cx, pkt, None);
                    }
                    let cx = detach(cx);
                    self.finish(node, cx);
                }
                AgentAction::Timer { at, timer } => {
                    let epoch = self.epochs[node.0 as usize];
                    self.queue.push(
                        at,
                        Event::AgentTimer {
                            device: node,
                            epoch,
                            timer,
                        },
                    );
                }
                AgentAction::Event(event) => {
                    let text = match &event {
                        MemberEvent::Join(n) => format!("memberlist: {n} joined"),
                        MemberEvent::Leave(n) => format!("memberlist: {n} left (dead or gone)"),
                    };
                    self.record(LogKind::Engine, &name, text);
                    self.control.push(ControlEvent::Member {
                        observer: name.clone(),
                        event,
                    });
                }
            }
        }
    }
}

/// The owned parts of a `Cx`, so the world can be borrowed again.
struct Detached {
    out: Vec<super::stack::Out>,
    timers: Vec<(SimTime, StackTimer)>,
    notes: Vec<Note>,
}

fn detach(cx: Cx) -> Detached {
    Detached {
        out: cx.out,
        timers: cx.timers,
        notes: cx.notes,
    }
}

fn vid_of(k: &HostIfaceKind) -> u16 {
    match k {
        HostIfaceKind::Vlan { vid, .. } => *vid,
        HostIfaceKind::Physical { .. } | HostIfaceKind::Dummy => 0,
    }
}

/// `ip route`-style text.
pub fn describe_route(r: &Route, ifaces: &[L3Iface]) -> String {
    let dst = if r.dst.prefix_len() == 0 {
        "default".to_string()
    } else {
        r.dst.to_string()
    };
    let dev_name = |i: usize| ifaces.get(i).map_or("?", |f| f.name.as_str());
    let hops = if r.is_multipath() {
        r.nexthops
            .iter()
            .map(|n| {
                let via = n.via.map_or(String::new(), |v| format!(" via {v}"));
                format!(" nexthop{via} dev {} weight {}", dev_name(n.dev), n.weight)
            })
            .collect::<String>()
    } else {
        let via = r.via().map_or(String::new(), |v| format!(" via {v}"));
        format!("{via} dev {}", dev_name(r.dev()))
    };
    let table = if r.table == crate::model::TABLE_MAIN {
        String::new()
    } else {
        format!(" table {}", super::routing::table_name(r.table))
    };
    let metric = if r.metric != 0 {
        format!(" metric {}", r.metric)
    } else {
        String::new()
    };
    if r.is_multipath() {
        format!("{dst}{table}{metric}{hops}")
    } else {
        format!("{dst}{hops}{table}{metric}")
    }
}

/// The first usable address of a subnet (`.1` of a /24).
pub fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}
