//! The running lab: the [`World`] struct, its construction from a topology,
//! the event queue and the loop that dispatches each [`Event`] to the room
//! that owns it, and the event log.
//!
//! The rest of `World` is spread over rooms by concern (each an `impl World`
//! block over the fields declared here, private to this module):
//! - [`links`]: wires between ports: carrying frames, link up/down, port
//!   names, pcap capture.
//! - [`l2`]: switches: VLAN ingress/egress, MAC learning, flooding.
//! - [`host`]: IP stacks: frames into a host, what a stack asks for (frames,
//!   timers, notes) back out, route changes between events.
//! - [`drops`]: lost packets and traced hops, with hints on dropped ARP.
//! - [`probes`]: ping/TCP/HTTP probes: sending attempts, verdicts.
//! - [`power`]: power cycles and the epochs that void a previous life's timers.
//! - [`pods`]: each node's `br-int` and the Pods plugged into it.
//! - [`br_int`]: a br-int that executes its node's compiled OpenFlow program
//!   (opt-in, `options.brInt: pipeline`): ports ↔ ofports, conntrack, Geneve
//!   through the node's stack.
//! - [`dataplane`]: applying the engine's per-node dataplane as a diff.
//! - [`dense`]: tables by device and port that the event loop reads by index.
//! - [`garp`]: gratuitous ARP and warm-start ARP caches.
//! - [`bfd`]: BFD sessions of L3 switches guarding static routes.
//! - [`bgp`]: BGP speakers: a router's from the topology, each node's as
//!   the control plane configures it; their packets, wakes and routes.
//! - [`agents`]: the antrea-agent memberlist instances the nodes run.
//! - [`audit`]: NetworkPolicy audit log lines (`enableLogging`) from the
//!   packet-ins br-int sends the agent.
//! - [`warm`]: loading what the next event will read while this one runs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::engine::memberlist::{Agent, AgentTimer, MemberEvent};
use crate::model::{DeviceId, DeviceKind, PortRef, Topology};
use crate::sched::{HeapScheduler, Scheduler};
use crate::sim::devices::{self, DeviceRt};
use crate::sim::log::{EventLog, LogSink};
use crate::sim::probe::Probe;
use crate::sim::stack::StackTimer;
use crate::sim::trace::{LogEntry, LogKind, TraceTag};
use crate::time::SimTime;
use crate::wire::pcap::PcapWriter;
use dataplane::Applied;
use links::LinkRt;

mod agents;
mod audit;
mod bfd;
mod bgp;
mod br_int;
mod dataplane;
mod dense;
mod drops;
mod external_node;
mod garp;
mod host;
mod l2;
mod links;
mod live_traceflow;
mod pods;
mod power;
mod probes;
#[cfg(test)]
mod testlab;
mod traffic_control;
mod warm;

pub use agents::MEMBERLIST_PORT;
pub use audit::DeniedPacket;
pub use bfd::{BFD_INTERVAL, BFD_MULTIPLIER};
pub use br_int::{GATEWAY_OFPORT, TUNNEL_OFPORT};
pub use dataplane::describe_route;
pub use links::{CAPTURE_BUDGET, LinkState};
pub use live_traceflow::{LiveCapture, LiveWatch, TagAt};
pub use traffic_control::{INLINE_DELAY, Inline, InlineDrop};

/// What the queue holds: each is handled at its time by the room that owns it.
enum Event {
    /// A frame reaches `port` over link `link` ([`links`]).
    Arrive {
        port: PortRef,
        link: u32,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    },
    /// A timer an IP stack set ([`host`]); `epoch` is the device's life it belongs to.
    Timer {
        device: DeviceId,
        epoch: u32,
        timer: StackTimer,
    },
    /// A probe's next attempt is due ([`probes`]).
    ProbeSend { probe: u32 },
    /// An attempt's timeout ([`probes`]).
    ProbeTimeout { probe: u32, seq: u32 },
    /// A memberlist agent's timer ([`agents`]).
    AgentTimer {
        device: DeviceId,
        epoch: u32,
        timer: AgentTimer,
    },
    /// A timer the control plane (scenario runner) asked for.
    Control { token: u64 },
    /// A BFD transmit interval of a switch's sessions.
    Bfd { device: DeviceId },
    /// A BGP speaker's wake ([`bgp`]): its device's life and which
    /// speaker of it asked.
    Bgp {
        device: DeviceId,
        epoch: u32,
        instance: u32,
        wake: crate::bgp::speaker::Wake,
    },
    /// A BFD interval of a BGP router's sessions ([`bgp`]).
    BgpBfd { device: DeviceId },
    /// An inline appliance sends a frame back into br-int `br` by its
    /// TrafficControl port `port` ([`traffic_control`]).
    TcReturn {
        br: DeviceId,
        port: String,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    },
}

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
    /// A node's br-int reported a live-traffic Traceflow's packet
    /// ([`World::traceflow_capture`]).
    Traceflow(String),
}

/// The running lab: devices, links, the event queue, probes, agents and the log.
pub struct World {
    now: SimTime,
    seed: u64,
    queue: HeapScheduler<Event>,
    devices: Vec<DeviceRt>,
    /// Device ids by name (the first device of a name, as a scan would
    /// find): lookups by name happen per node per change, and a cluster
    /// with a hundred thousand Pods has as many devices.
    by_name: indexmap::IndexMap<String, DeviceId, crate::keyhash::KeyBuild>,
    links: Vec<LinkRt>,
    port_link: dense::PortLinks,
    log: EventLog,
    probes: Vec<Probe>,
    captures: Option<BTreeMap<PortRef, PcapWriter>>,
    /// Captures of ports that are no switch port (TrafficControl ports), by file stem.
    named_captures: BTreeMap<String, PcapWriter>,
    /// Bytes in `captures` so far, and how many they may reach.
    capture_bytes: usize,
    capture_budget: usize,
    /// Bumped at every power cycle so timers of the previous life are ignored.
    epochs: Vec<u32>,
    applied: BTreeMap<DeviceId, Applied>,
    /// Node → its `br-int` switch.
    br_int: BTreeMap<DeviceId, DeviceId>,
    /// br-int switch → the program it executes (none: a MAC-learning switch).
    br_int_programs: BTreeMap<DeviceId, br_int::BrIntRt>,
    /// br-int switch → its TrafficControl ports by ofport.
    tc_ports: BTreeMap<DeviceId, BTreeMap<u32, traffic_control::TcPortRt>>,
    /// A VM interface → the ExternalNode agent's br-int on it.
    ext_agents: external_node::ExtAgents,
    /// (node, port) → the inline appliance forwarding from that port.
    inline: BTreeMap<(DeviceId, String), traffic_control::Inline>,
    /// One parse of each br-int flow line the programs hold alike.
    flow_interner: crate::openflow::FlowInterner,
    /// What names a policy verdict: every rule by conjunction id, and
    /// which Kubernetes NetworkPolicies isolate each Pod.
    policy_catalog: std::sync::Arc<crate::engine::policy::PolicyCatalog>,
    /// Live-traffic Traceflows watched for ([`live_traceflow`]).
    live_traceflows: Vec<live_traceflow::LiveRt>,
    events: u64,
    log_frames: bool,
    /// The antrea-agent memberlist instance of each running node.
    agents: dense::ByDevice<Agent>,
    /// How many times each node's agent has started (names its PRNG stream).
    agent_boots: BTreeMap<DeviceId, u32>,
    /// Audit lines of drops written in the last second (deduplication).
    audit_seen: audit::AuditSeen,
    /// Packets each node's br-int sent its agent to store as denied.
    denied: BTreeMap<DeviceId, Vec<audit::DeniedPacket>>,
    /// The next local port a memberlist TCP exchange opens from.
    next_stream_port: u16,
    /// The TCP exchange an agent is answering: the peer, its port, and the
    /// address the request was sent to (the answer's source).
    stream_peer: Option<(Ipv4Addr, u16, Ipv4Addr)>,
    control: Vec<ControlEvent>,
    /// (sender device, target IP) → why its last ARP request was dropped.
    arp_drop_hints: BTreeMap<(String, Ipv4Addr), String>,
    /// Log each dataplane change (off while the lab boots).
    log_dataplane: bool,
    /// BFD sessions: (switch, next hop) → (missed intervals, up).
    bfd: BTreeMap<(DeviceId, Ipv4Addr), (u8, bool)>,
    /// BGP speakers ([`bgp`]).
    bgp: bgp::Speakers,
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
            by_name: Default::default(),
            links: Vec::new(),
            port_link: dense::PortLinks::default(),
            log: EventLog::default(),
            probes: Vec::new(),
            captures: None,
            named_captures: BTreeMap::new(),
            capture_bytes: 0,
            capture_budget: CAPTURE_BUDGET,
            epochs: Vec::new(),
            applied: BTreeMap::new(),
            br_int: BTreeMap::new(),
            br_int_programs: BTreeMap::new(),
            tc_ports: BTreeMap::new(),
            ext_agents: BTreeMap::new(),
            inline: BTreeMap::new(),
            flow_interner: Default::default(),
            policy_catalog: Default::default(),
            live_traceflows: Vec::new(),
            events: 0,
            log_frames: true,
            agents: dense::ByDevice::default(),
            agent_boots: BTreeMap::new(),
            audit_seen: BTreeMap::new(),
            denied: BTreeMap::new(),
            next_stream_port: agents::FIRST_EPHEMERAL_PORT,
            stream_peer: None,
            control: Vec::new(),
            arp_drop_hints: BTreeMap::new(),
            log_dataplane: true,
            bfd: BTreeMap::new(),
            bgp: bgp::Speakers::default(),
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
        w.start_bgp_routers(topology);
        w
    }

    fn add_device(&mut self, d: DeviceRt) -> DeviceId {
        let id = DeviceId(self.devices.len() as u32);
        self.by_name.entry(d.name().to_string()).or_insert(id);
        self.devices.push(d);
        self.epochs.push(0);
        id
    }

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

    /// Device `id`'s name as the allocation it keeps, for a log line or a
    /// hop written while `self` is borrowed mutably. Read only when one is
    /// written: on a large lab the read is a cache miss.
    fn shared_name_of(&self, id: DeviceId) -> std::sync::Arc<str> {
        self.devices[id.0 as usize].shared_name().clone()
    }

    /// Stop recording every frame in the log (large runs).
    pub fn set_frame_logging(&mut self, on: bool) {
        self.log_frames = on;
    }

    pub fn record(&mut self, kind: LogKind, device: &str, message: impl Into<String>) {
        self.log.push(LogEntry {
            time: self.now,
            kind,
            device: device.to_string(),
            message: message.into(),
        });
    }

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
            self.warm_next();
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
            } => self.stack_timer(device, epoch, timer),
            Event::ProbeSend { probe } => self.probe_send(probe),
            Event::ProbeTimeout { probe, seq } => self.probe_timeout(probe, seq),
            Event::AgentTimer {
                device,
                epoch,
                timer,
            } => self.agent_timer(device, epoch, timer),
            Event::Control { token } => self.control.push(ControlEvent::Timer(token)),
            Event::Bfd { device } => self.bfd_tick(device),
            Event::Bgp {
                device,
                epoch,
                instance,
                wake,
            } => self.bgp_wake(device, epoch, instance, wake),
            Event::BgpBfd { device } => self.bgp_bfd_tick(device),
            Event::TcReturn {
                br,
                port,
                frame,
                tag,
            } => self.tc_return(br, &port, frame, tag),
        }
    }

    /// Asks for `ControlEvent::Timer(token)` at `at`.
    pub fn control_timer(&mut self, at: SimTime, token: u64) {
        self.queue.push(at, Event::Control { token });
    }
}

#[cfg(test)]
mod tests {
    use super::testlab::{THREE_HOSTS, TWO_NODES, id, ms, world};
    use super::{ControlEvent, DeviceRt};
    use crate::sim::log::Discard;
    use crate::sim::trace::LogKind;

    #[test]
    fn new_builds_every_device_with_a_br_int_per_node() {
        let w = world(TWO_NODES);
        let names: Vec<&str> = w.devices().iter().map(DeviceRt::name).collect();
        assert_eq!(names, ["n1", "n2", "sw", "br-int@n1", "br-int@n2"]);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(id(&w, name).0 as usize, i);
        }
        assert!(w.device_id("nope").is_none());
        assert_eq!(w.links().len(), 4, "two cables and two antrea-gw0 links");
        assert_eq!((w.now(), w.seed(), w.events_processed()), (ms(0), 1, 0));
    }

    #[test]
    fn run_to_stops_at_each_control_event_in_time_order() {
        let mut w = world(THREE_HOSTS);
        w.control_timer(ms(300), 3);
        w.control_timer(ms(100), 1);
        w.control_timer(ms(200), 2);
        w.control_timer(ms(200), 22);
        assert_eq!(w.next_event_time(), Some(ms(100)));
        assert_eq!(w.run_to(ms(1_000)), [ControlEvent::Timer(1)]);
        assert_eq!(w.now(), ms(100));
        // Same time: in the order asked for, one stop each.
        assert_eq!(w.run_to(ms(1_000)), [ControlEvent::Timer(2)]);
        assert_eq!(w.run_to(ms(1_000)), [ControlEvent::Timer(22)]);
        assert_eq!(w.run_to(ms(250)), []);
        assert_eq!(w.now(), ms(250), "the clock moves to `until`");
        assert_eq!(w.run_to(ms(1_000)), [ControlEvent::Timer(3)]);
        assert_eq!(w.run_to(ms(1_000)), []);
        assert_eq!((w.now(), w.events_processed()), (ms(1_000), 4));
        assert_eq!(w.step(), None, "idle");
    }

    #[test]
    fn step_runs_one_event_and_run_until_never_goes_back_in_time() {
        let mut w = world(THREE_HOSTS);
        w.control_timer(ms(5), 1);
        w.control_timer(ms(7), 2);
        assert_eq!(w.step(), Some(ms(5)));
        assert_eq!(w.events_processed(), 1);
        w.run_until(ms(6));
        assert_eq!((w.now(), w.events_processed()), (ms(6), 1));
        w.run_until(ms(3));
        assert_eq!(w.now(), ms(6));
        w.run_until(ms(10));
        assert_eq!(w.events_processed(), 2);
    }

    #[test]
    fn the_log_is_kept_until_it_streams_to_a_sink() {
        let mut w = world(THREE_HOSTS);
        w.record(LogKind::Step, "h1", "one");
        assert_eq!(w.log().len(), 1);
        assert_eq!(
            (w.log()[0].device.as_str(), w.log()[0].message.as_str()),
            ("h1", "one")
        );
        w.stream_log(Box::new(Discard));
        w.record(LogKind::Step, "", "two");
        assert!(w.log().is_empty());
        assert_eq!(w.log_entries(), 2);
        assert!(w.flush_log().is_ok() && w.log_error().is_none());
    }
}
