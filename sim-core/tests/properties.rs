//! Property tests of the simulator's layer-2/ARP invariants on random small labs.
//!
//! Each property builds a random `model::Topology` (hosts on access or trunk
//! ports of one or two switches, VLAN sub-interfaces, one shared /24), runs it,
//! and checks the outcome against an oracle written here, independently of the
//! simulator's own VLAN code:
//! - VLAN isolation: a ping succeeds exactly when the 802.1Q semantics say the
//!   ARP and ICMP exchanges can reach each other, and every frame a host
//!   receives came from a host interface whose VLAN reaches the host's port.
//! - MAC learning: every MAC-table row is explained by a frame captured arriving
//!   on that port, and every such frame left a row.
//! - ARP convergence between two hosts on one segment.
//! - Determinism: same topology and seed, same log and same pcap bytes.
//!
//! Frame direction in a capture: a port's pcap holds what it sent and what it
//! received. A frame received at time t on one end of a link was sent at
//! t - latency by the other end, so the two pcaps of a link tell them apart.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use proptest::prelude::*;
use proptest::sample::Index;

use sim_core::model::{
    ArpPolicy, Device, DeviceId, DeviceKind, HostRole, HostSpec, IfaceKind, IfaceSpec, Link,
    MacAddr, PortRef, SwitchPortSpec, SwitchSpec, Topology, VlanMode,
};
use sim_core::sim::arp::NeighState;
use sim_core::sim::probe::{ProbeKind, ProbeSpec, Verdict};
use sim_core::sim::trace::LogKind;
use sim_core::sim::{DeviceRt, World};
use sim_core::time::{SimDuration, SimTime};
use sim_core::wire;

/// `n` cases, or `PROPTEST_CASES` if set (for a longer hunt: the explicit
/// count in a config would otherwise override the environment).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

// ----- the oracle's own 802.1Q port semantics ------------------------------

/// A switch port's VLAN configuration, mirrored here so the oracle does not
/// rely on `VlanMode`'s methods (IEEE 802.1Q: access = untagged member of one
/// VLAN; trunk = tagged `allowed`, untagged = `native`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    Access(u16),
    Trunk {
        native: Option<u16>,
        allowed: Vec<u16>,
    },
}

impl Mode {
    /// The VLAN a frame arriving with `tag` is put in, or `None` if refused.
    fn ingress(&self, tag: Option<u16>) -> Option<u16> {
        match (self, tag) {
            (Mode::Access(v), None) => Some(*v),
            (Mode::Access(_), Some(_)) => None,
            (Mode::Trunk { native, .. }, None) => *native,
            (Mode::Trunk { allowed, .. }, Some(t)) => allowed.contains(&t).then_some(t),
        }
    }
    /// How a frame of `vlan` leaves: `None` = not at all, `Some(tag)` otherwise.
    fn egress(&self, vlan: u16) -> Option<Option<u16>> {
        match self {
            Mode::Access(v) => (*v == vlan).then_some(None),
            Mode::Trunk { native, allowed } => {
                if *native == Some(vlan) {
                    Some(None)
                } else if allowed.contains(&vlan) {
                    Some(Some(vlan))
                } else {
                    None
                }
            }
        }
    }
    /// The VLAN whose frames leave this port with `tag` (what a host interface
    /// with that tag hears).
    fn delivers(&self, tag: Option<u16>) -> Option<u16> {
        ALL_VIDS
            .iter()
            .copied()
            .find(|&v| self.egress(v) == Some(tag))
    }
    fn to_model(&self) -> VlanMode {
        match self {
            Mode::Access(v) => VlanMode::Access(*v),
            Mode::Trunk { native, allowed } => VlanMode::Trunk {
                native: *native,
                allowed: allowed.clone(),
            },
        }
    }
}

/// VLANs switch ports may carry.
const PORT_VIDS: [u16; 3] = [10, 20, 30];
/// VLANs hosts may tag; 40 is never allowed on any port.
const ALL_VIDS: [u16; 4] = [10, 20, 30, 40];

// ----- generated labs --------------------------------------------------------

#[derive(Clone, Debug)]
struct HostGen {
    /// Which switch (0 or 1) the host's eth0 is plugged into.
    sw: usize,
    mode: Mode,
    /// VIDs of the host's VLAN sub-interfaces `eth0.<vid>`.
    subs: Vec<u16>,
    /// The interface holding the host's address: 0 = eth0, k = `subs[k-1]`.
    addr_iface: usize,
    ip: Ipv4Addr,
    mac: MacAddr,
    powered: bool,
}

impl HostGen {
    /// The tag each interface sends with (`None` for eth0).
    fn tags(&self) -> Vec<Option<u16>> {
        std::iter::once(None)
            .chain(self.subs.iter().map(|&v| Some(v)))
            .collect()
    }
}

#[derive(Clone, Debug)]
struct L2Gen {
    two_switches: bool,
    /// The inter-switch trunk as configured on sw0 and on sw1 (natives may differ).
    uplink: [Mode; 2],
    hosts: Vec<HostGen>,
    /// (from host, to host, start in ms).
    pings: Vec<(usize, usize, u64)>,
    host_latency: SimDuration,
    uplink_latency: SimDuration,
    seed: u64,
}

/// A (switch, VLAN) broadcast domain on one switch.
type Node = (usize, u16);

impl L2Gen {
    fn host_name(i: usize) -> String {
        format!("h{i}")
    }
    fn switch_count(&self) -> usize {
        if self.two_switches { 2 } else { 1 }
    }

    /// Where frames sent by interface `i` of host `h` land: its (switch, VLAN).
    fn node_in(&self, h: usize, i: usize) -> Option<Node> {
        let host = &self.hosts[h];
        host.mode.ingress(host.tags()[i]).map(|v| (host.sw, v))
    }
    /// Which (switch, VLAN) interface `i` of host `h` hears.
    fn node_out(&self, h: usize, i: usize) -> Option<Node> {
        let host = &self.hosts[h];
        host.mode.delivers(host.tags()[i]).map(|v| (host.sw, v))
    }
    /// A frame in `from` reaches `to`: same domain, or across the trunk.
    fn reach(&self, from: Option<Node>, to: Option<Node>) -> bool {
        let (Some(from), Some(to)) = (from, to) else {
            return false;
        };
        if from == to {
            return true;
        }
        if !self.two_switches || from.0 == to.0 {
            return false;
        }
        match self.uplink[from.0].egress(from.1) {
            Some(tag) => self.uplink[to.0].ingress(tag) == Some(to.1),
            None => false,
        }
    }
    /// Two-way reachability between interface `i` of `h` and `j` of `g`.
    fn talk(&self, h: usize, i: usize, g: usize, j: usize) -> bool {
        self.reach(self.node_in(h, i), self.node_out(g, j))
            && self.reach(self.node_in(g, j), self.node_out(h, i))
    }

    /// Whether `a` pinging `b` must succeed, under Linux's weak host model with
    /// `arp_ignore=0` (any interface answers ARP for any local address, and
    /// accepts packets for any local address):
    /// - `b` answers `a`'s ARP request on some interface x that hears `a`'s
    ///   addressed interface and whose reply reaches it back (a reply counts
    ///   only on the interface that asked);
    /// - `b` routes its echo reply out of its own addressed interface, so some
    ///   interface y of `a` must answer `b`'s ARP from there and be heard back.
    fn ping_works(&self, a: usize, b: usize) -> bool {
        let (ha, hb) = (&self.hosts[a], &self.hosts[b]);
        if !ha.powered || !hb.powered {
            return false;
        }
        let request = (0..=hb.subs.len()).any(|x| self.talk(a, ha.addr_iface, b, x));
        let reply = (0..=ha.subs.len()).any(|y| self.talk(b, hb.addr_iface, a, y));
        request && reply
    }

    /// Whether `a` and `b` have interfaces in a common segment at all.
    fn share_segment(&self, a: usize, b: usize) -> bool {
        (0..=self.hosts[a].subs.len())
            .any(|i| (0..=self.hosts[b].subs.len()).any(|j| self.talk(a, i, b, j)))
    }

    fn topology(&self) -> Topology {
        let mut devices = Vec::new();
        let mut links = Vec::new();
        let net = |ip: Ipv4Addr| Ipv4Net::new(ip, 24).expect("/24 is valid");
        for (i, h) in self.hosts.iter().enumerate() {
            let mut interfaces = vec![IfaceSpec {
                name: "eth0".into(),
                mac: h.mac,
                addrs: if h.addr_iface == 0 {
                    vec![net(h.ip)]
                } else {
                    vec![]
                },
                kind: IfaceKind::Physical,
            }];
            for (k, &vid) in h.subs.iter().enumerate() {
                interfaces.push(IfaceSpec {
                    name: format!("eth0.{vid}"),
                    // Linux VLAN devices inherit the parent's MAC.
                    mac: h.mac,
                    addrs: if h.addr_iface == k + 1 {
                        vec![net(h.ip)]
                    } else {
                        vec![]
                    },
                    kind: IfaceKind::Vlan {
                        parent: "eth0".into(),
                        vid,
                    },
                });
            }
            devices.push(Device {
                name: Self::host_name(i),
                kind: DeviceKind::Host(HostSpec {
                    role: HostRole::External,
                    interfaces,
                    routes: vec![],
                    rules: vec![],
                    ip_forward: false,
                    arp: ArpPolicy::Linux,
                    tcp_listen: vec![],
                    ecmp: Default::default(),
                }),
            });
        }
        let n = self.hosts.len() as u32;
        for s in 0..self.switch_count() {
            let mut ports = Vec::new();
            for (i, h) in self.hosts.iter().enumerate().filter(|(_, h)| h.sw == s) {
                links.push(Link {
                    a: PortRef {
                        device: DeviceId(i as u32),
                        port: 0,
                    },
                    b: PortRef {
                        device: DeviceId(n + s as u32),
                        port: ports.len() as u16,
                    },
                    latency: self.host_latency,
                });
                ports.push(SwitchPortSpec {
                    name: format!("p{i}"),
                    vlan: h.mode.to_model(),
                });
            }
            if self.two_switches {
                ports.push(SwitchPortSpec {
                    name: "up".into(),
                    vlan: self.uplink[s].to_model(),
                });
            }
            devices.push(Device {
                name: format!("sw{s}"),
                kind: DeviceKind::Switch(SwitchSpec {
                    ports,
                    svis: vec![],
                    routes: vec![],
                    mac_aging: SimDuration::from_secs(300),
                    arp: ArpPolicy::Linux,
                    bfd: false,
                    ecmp: Default::default(),
                    bgp: None,
                }),
            });
        }
        if self.two_switches {
            let up = |s: usize| PortRef {
                device: DeviceId(n + s as u32),
                port: self.hosts.iter().filter(|h| h.sw == s).count() as u16,
            };
            links.push(Link {
                a: up(0),
                b: up(1),
                latency: self.uplink_latency,
            });
        }
        Topology {
            name: "prop-l2".into(),
            devices,
            links,
            cluster: Default::default(),
        }
    }

    fn switch_id(&self, s: usize) -> DeviceId {
        DeviceId((self.hosts.len() + s) as u32)
    }
}

fn vid() -> impl Strategy<Value = u16> {
    prop::sample::select(PORT_VIDS.to_vec())
}

/// Port modes, biased towards VLAN 10 so that a fair share of pings have a
/// path (a uniform choice makes almost every pair isolated).
fn mode() -> impl Strategy<Value = Mode> {
    let common = prop::sample::select(vec![10u16, 10, 10, 20, 30]);
    prop_oneof![
        3 => common.clone().prop_map(Mode::Access),
        2 => (
            prop::option::weighted(0.7, common),
            prop::sample::subsequence(PORT_VIDS.to_vec(), 0..=3)
        )
            .prop_map(|(native, allowed)| Mode::Trunk { native, allowed }),
    ]
}

/// (switch, port mode, sub-interface VIDs, addressed interface, MAC bytes, powered).
type HostParts = (usize, Mode, Vec<u16>, Option<Index>, [u8; 4], bool);

/// Any host; half of them keep their address on eth0. Half of them are
/// multi-homed (a trunk carrying most VLANs, with sub-interfaces on them), so
/// that Linux's weak host model (ARP answered and packets accepted on any
/// interface) decides some pings.
fn host_gen() -> impl Strategy<Value = HostParts> {
    let any_host = (
        0..2usize,
        mode(),
        prop::sample::subsequence(ALL_VIDS.to_vec(), 0..=2),
        prop::option::of(any::<Index>()),
        any::<[u8; 4]>(),
        prop::bool::weighted(0.9),
    );
    let multi_homed = (
        0..2usize,
        (
            prop::option::weighted(0.8, vid()),
            prop::sample::subsequence(PORT_VIDS.to_vec(), 2..=3),
        )
            .prop_map(|(native, allowed)| Mode::Trunk { native, allowed }),
        prop::sample::subsequence(PORT_VIDS.to_vec(), 1..=2),
        prop::option::of(any::<Index>()),
        any::<[u8; 4]>(),
        prop::bool::weighted(0.9),
    );
    prop_oneof![1 => any_host, 1 => multi_homed]
}

fn ms(n: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(n)
}

fn l2_gen() -> impl Strategy<Value = L2Gen> {
    (
        prop::collection::btree_set(1u8..=254, 2..=8),
        any::<bool>(),
        [mode(), mode()],
        1u64..=200,
        1u64..=200,
        any::<u64>(),
    )
        .prop_flat_map(|(octets, two, uplink, hl, ul, seed)| {
            let n = octets.len();
            let octets: Vec<u8> = octets.into_iter().collect();
            (
                Just(octets).prop_shuffle(),
                prop::collection::vec(host_gen(), n),
                prop::collection::vec((any::<Index>(), any::<Index>(), 0u64..1000), 1..=10),
                Just((two, uplink, hl, ul, seed)),
            )
        })
        .prop_map(|(octets, hosts, pings, (two, uplink, hl, ul, seed))| {
            let n = hosts.len();
            let hosts = hosts
                .into_iter()
                .zip(octets)
                .enumerate()
                .map(|(i, ((sw, mode, subs, addr, r, powered), octet))| HostGen {
                    sw: if two { sw } else { 0 },
                    mode,
                    addr_iface: addr.map_or(0, |a| a.index(subs.len() + 1)),
                    subs,
                    ip: Ipv4Addr::new(10, 0, 0, octet),
                    // Locally administered unicast; the last byte keeps them distinct.
                    mac: MacAddr([0x02, r[0], r[1], r[2], r[3], i as u8]),
                    powered,
                })
                .collect();
            let pings = pings
                .into_iter()
                .map(|(a, b, start)| {
                    let from = a.index(n);
                    (from, (from + 1 + b.index(n - 1)) % n, start)
                })
                .collect();
            L2Gen {
                two_switches: two,
                uplink,
                hosts,
                pings,
                host_latency: SimDuration::from_micros(hl),
                uplink_latency: SimDuration::from_micros(ul),
                seed,
            }
        })
}

fn ping_spec(w: &World, name: &str, from: &str, to: Ipv4Addr) -> ProbeSpec {
    ProbeSpec {
        name: name.into(),
        from: w.device_id(from).expect("generated host"),
        from_label: from.into(),
        to,
        to_label: to.to_string(),
        kind: ProbeKind::Ping,
        interval: SimDuration::from_millis(200),
        timeout: SimDuration::from_secs(1),
        count: None,
        size: None,
    }
}

/// How long the L2 properties run: the last ping starts before 1 s, so every
/// probe has attempts that finished (success or 1 s timeout) by then.
const L2_RUN_MS: u64 = 3500;

/// A link taken down at `down` ms and brought back at `up` ms (index into
/// `Topology::links`).
#[derive(Clone, Copy, Debug)]
struct Flap {
    link: usize,
    down: u64,
    up: u64,
}

/// Powers off the generated hosts, then starts each ping and applies each
/// flap at its time (control operations at t run after the events at t).
fn run_l2(g: &L2Gen, flaps: &[Flap]) -> World {
    let topo = g.topology();
    let mut w = World::new(&topo, g.seed);
    w.enable_capture();
    for (i, h) in g.hosts.iter().enumerate() {
        if !h.powered {
            w.set_power(DeviceId(i as u32), false);
        }
    }
    // (time ms, kind: 0 = ping k, 1 = link l down, 2 = link l up, index)
    let mut ops: Vec<(u64, u8, usize)> = g
        .pings
        .iter()
        .enumerate()
        .map(|(k, p)| (p.2, 0, k))
        .collect();
    for f in flaps {
        ops.push((f.down, 1, f.link));
        ops.push((f.up, 2, f.link));
    }
    ops.sort();
    for (t, kind, i) in ops {
        w.run_until(ms(t));
        if kind == 0 {
            let (a, b, _) = g.pings[i];
            let spec = ping_spec(&w, &format!("ping{i}"), &L2Gen::host_name(a), g.hosts[b].ip);
            w.start_probe(spec).expect("fresh probe name");
        } else {
            w.set_link(topo.links[i].a, kind == 2).expect("linked port");
        }
    }
    w.run_until(ms(L2_RUN_MS));
    w
}

// ----- reading captures ------------------------------------------------------

/// One pcap record: capture time in ns and the frame bytes.
type Rec = (u64, Vec<u8>);

/// Parses a classic pcap with the nanosecond magic (what `PcapWriter` writes).
fn parse_pcap(bytes: &[u8]) -> Vec<Rec> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert!(bytes.len() >= 24, "pcap shorter than its file header");
    assert_eq!(u32_at(0), 0xa1b2_3c4d, "nanosecond pcap magic");
    assert_eq!(u32_at(20), 1, "LINKTYPE_ETHERNET");
    let mut out = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let secs = u64::from(u32_at(at));
        let nanos = u64::from(u32_at(at + 4));
        let incl = u32_at(at + 8) as usize;
        let orig = u32_at(at + 12) as usize;
        assert_eq!(incl, orig, "no frame is cut at this size");
        let frame = bytes[at + 16..at + 16 + incl].to_vec();
        out.push((secs * 1_000_000_000 + nanos, frame));
        at += 16 + incl;
    }
    out
}

/// Every linked port's capture (empty if it saw nothing).
fn captures_by_port(w: &World, topo: &Topology) -> BTreeMap<PortRef, Vec<Rec>> {
    let files: BTreeMap<String, &[u8]> = w.captures().into_iter().collect();
    let mut out = BTreeMap::new();
    for l in &topo.links {
        for end in [l.a, l.b] {
            // The documented naming: `device_port.pcap`, with '/' and '@' as '_'.
            let name = format!("{}.pcap", w.port_name(end).replace(['/', '@'], "_"));
            let recs = files.get(&name).map_or_else(Vec::new, |b| parse_pcap(b));
            out.insert(end, recs);
        }
    }
    out
}

/// A port's capture split into (sent, received).
type Directions = (Vec<Rec>, Vec<Rec>);

/// Splits each port's capture into (sent, received) using the far end's
/// capture and the link latency. Every record must be exactly one of the two
/// (frames still in flight at `now`, or lost to a flap, count as sent).
fn directions(
    topo: &Topology,
    caps: &BTreeMap<PortRef, Vec<Rec>>,
    now: SimTime,
    flaps: &[Flap],
) -> Result<BTreeMap<PortRef, Directions>, TestCaseError> {
    let mut out = BTreeMap::new();
    for (li, l) in topo.links.iter().enumerate() {
        let lat = l.latency.as_nanos();
        // A frame arriving at `at` ns is lost if the link is down then.
        let lost = |at: u64| {
            flaps
                .iter()
                .any(|f| f.link == li && ms(f.down).as_nanos() < at && at <= ms(f.up).as_nanos())
        };
        for (me, peer) in [(l.a, l.b), (l.b, l.a)] {
            let mut peer_set: BTreeMap<(u64, &[u8]), usize> = BTreeMap::new();
            for (t, f) in &caps[&peer] {
                *peer_set.entry((*t, f.as_slice())).or_default() += 1;
            }
            let (mut tx, mut rx) = (Vec::new(), Vec::new());
            for (t, f) in &caps[&me] {
                let got = *t >= lat && peer_set.contains_key(&(t - lat, f.as_slice()));
                // Still on the wire when the run stopped, or lost to a link
                // going down: sent, never arrived.
                let vanished = (t + lat > now.as_nanos() || lost(t + lat)) && !got;
                let sent = vanished || peer_set.contains_key(&(t + lat, f.as_slice()));
                prop_assert!(
                    sent != got,
                    "frame at {t} ns on {me:?} is {} (sent: {sent}, received: {got}): {}",
                    if sent { "ambiguous" } else { "unexplained" },
                    wire::summarize(f)
                );
                if sent {
                    tx.push((*t, f.clone()));
                } else {
                    rx.push((*t, f.clone()));
                }
            }
            out.insert(me, (tx, rx));
        }
    }
    Ok(out)
}

// ----- property 1: VLAN isolation ---------------------------------------------

fn check_vlan_isolation(g: &L2Gen) -> Result<(), TestCaseError> {
    let w = run_l2(g, &[]);
    let topo = g.topology();
    // (a) Probe verdicts match the oracle exactly.
    for (k, &(a, b, _)) in g.pings.iter().enumerate() {
        let p = w.probe(&format!("ping{k}")).expect("started");
        let finished: Vec<_> = p
            .attempts()
            .iter()
            .filter(|x| x.verdict != Verdict::Pending)
            .collect();
        prop_assert!(!finished.is_empty(), "ping{k} has no finished attempt");
        let expect = g.ping_works(a, b);

        if expect {
            prop_assert!(g.share_segment(a, b), "oracle inconsistent");
        }
        for att in &finished {
            prop_assert_eq!(
                att.ok(),
                expect,
                "ping{} h{} -> h{} ({}) attempt {}: {:?}\npath: {:#?}",
                k,
                a,
                b,
                g.hosts[b].ip,
                att.seq,
                att.verdict,
                att.path
            );
        }
    }
    // (b) Every frame a host receives is on a VLAN its switch port carries and
    //     was sent by a host interface whose VLAN reaches that one.
    let caps = captures_by_port(&w, &topo);
    let dirs = directions(&topo, &caps, w.now(), &[])?;
    for (h, host) in g.hosts.iter().enumerate() {
        let port = PortRef {
            device: DeviceId(h as u32),
            port: 0,
        };
        for (t, f) in &dirs[&port].1 {
            let tag = wire::vlan_of(f);
            let vlan = host.mode.delivers(tag);
            prop_assert!(
                vlan.is_some(),
                "h{h} received a frame tagged {tag:?} that its port {:?} does not carry: {}",
                host.mode,
                wire::summarize(f)
            );
            let node = vlan.map(|v| (host.sw, v));
            let (_, inner) = wire::pop_vlan(f.clone());
            let (eth, _) =
                wire::parse_eth(&inner).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let sender = g.hosts.iter().position(|x| x.mac == eth.src);
            prop_assert!(sender.is_some(), "frame from unknown MAC {}", eth.src);
            let s = sender.unwrap_or_default();
            prop_assert_ne!(s, h, "h{} heard its own frame", h);
            let s_port = PortRef {
                device: DeviceId(s as u32),
                port: 0,
            };
            let s_tags = g.hosts[s].tags();
            let explained = dirs[&s_port].0.iter().any(|(t0, sf)| {
                let (stag, sinner) = wire::pop_vlan(sf.clone());
                t0 < t
                    && sinner == inner
                    && s_tags
                        .iter()
                        .position(|&x| x == stag)
                        .is_some_and(|i| g.reach(g.node_in(s, i), node))
            });
            prop_assert!(
                explained,
                "h{h} received at {t} ns on vlan {vlan:?} a frame h{s} never sent into a VLAN reaching it: {}",
                wire::summarize(f)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Pings succeed exactly when 802.1Q says they can; no frame changes VLAN
    /// inside a switch.
    #[test]
    fn vlan_isolation(g in l2_gen()) {
        check_vlan_isolation(&g)?;
    }
}

// ----- property 2: MAC learning -------------------------------------------------

/// Resolves generated flaps (link index, down ms, duration ms) on `topo`,
/// keeping at most one per link so the down intervals are exact.
fn resolve_flaps(topo: &Topology, raw: &[(Index, u64, u64)]) -> Vec<Flap> {
    let mut out: Vec<Flap> = Vec::new();
    for &(link, down, dur) in raw {
        let link = link.index(topo.links.len());
        if out.iter().all(|f| f.link != link) {
            out.push(Flap {
                link,
                down,
                up: down + dur,
            });
        }
    }
    out
}

fn check_mac_learning(g: &L2Gen, raw_flaps: &[(Index, u64, u64)]) -> Result<(), TestCaseError> {
    let topo = g.topology();
    let flaps = resolve_flaps(&topo, raw_flaps);
    let w = run_l2(g, &flaps);
    let caps = captures_by_port(&w, &topo);
    let dirs = directions(&topo, &caps, w.now(), &flaps)?;
    let now = w.now();
    // A link going down at or after `t` flushed what its ports learned at `t`
    // (control operations at a time run after that time's frames).
    let flushed_since = |port: PortRef, t: u64| {
        flaps.iter().any(|f| {
            let l = &topo.links[f.link];
            (l.a == port || l.b == port) && ms(f.down).as_nanos() >= t
        })
    };
    for s in 0..g.switch_count() {
        let id = g.switch_id(s);
        let DeviceRt::Switch(sw) = w.device(id) else {
            return Err(TestCaseError::fail("switch id is not a switch"));
        };
        // Frames the switch accepted, per (vlan, source MAC): (time, port).
        let mut heard: BTreeMap<(u16, MacAddr), Vec<(u64, u16)>> = BTreeMap::new();
        for (p, port) in sw.ports().iter().enumerate() {
            let pr = PortRef {
                device: id,
                port: p as u16,
            };
            let mode = if port.name() == "up" {
                g.uplink[s].clone()
            } else {
                let h: usize = port.name()[1..].parse().expect("port p<i>");
                g.hosts[h].mode.clone()
            };
            for (t, f) in &dirs[&pr].1 {
                let Some(vlan) = mode.ingress(wire::vlan_of(f)) else {
                    continue;
                };
                let (_, inner) = wire::pop_vlan(f.clone());
                let (eth, _) =
                    wire::parse_eth(&inner).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if !eth.src.is_multicast() {
                    heard
                        .entry((vlan, eth.src))
                        .or_default()
                        .push((*t, p as u16));
                }
            }
        }
        let rows = sw.macs().rows(now);
        // Every row is explained by a frame received on its port, from a host
        // that sits behind that port.
        for r in &rows {
            let seen = heard.get(&(r.vlan, r.mac));
            prop_assert!(
                seen.is_some_and(|v| v.iter().any(|&(_, p)| p == r.port)),
                "{} learned {} on vlan {} port {} without receiving such a frame there",
                sw.name(),
                r.mac,
                r.vlan,
                r.port
            );
            let port_name = sw.ports()[r.port as usize].name();
            let owner = g.hosts.iter().position(|h| h.mac == r.mac);
            prop_assert!(
                owner.is_some(),
                "{} learned a MAC no host owns: {}",
                sw.name(),
                r.mac
            );
            let owner = owner.unwrap_or_default();
            let side_ok = if port_name == "up" {
                g.hosts[owner].sw != s
            } else {
                *port_name == format!("p{owner}")
            };
            prop_assert!(
                side_ok,
                "{} has {} (h{}) on port {}",
                sw.name(),
                r.mac,
                owner,
                port_name
            );
        }
        // The newest accepted frame per (VLAN, MAC) decides the row: its port
        // and time, unless that port's link went down since (flushed). Nothing
        // ages out in a few seconds.
        for ((vlan, mac), seen) in &heard {
            let t = seen.iter().map(|x| x.0).max().unwrap_or_default();
            let newest: Vec<u16> = seen.iter().filter(|x| x.0 == t).map(|x| x.1).collect();
            if newest.len() > 1 {
                continue; // same instant on two ports: either may win
            }
            let p = newest[0];
            let row = rows.iter().find(|r| r.vlan == *vlan && r.mac == *mac);
            let port = PortRef {
                device: id,
                port: p,
            };
            if flushed_since(port, t) {
                prop_assert!(
                    row.is_none(),
                    "{} kept {} vlan {} on port {} after its link went down: {:?}",
                    sw.name(),
                    mac,
                    vlan,
                    p,
                    row
                );
            } else {
                prop_assert!(
                    row.is_some(),
                    "{} received {} on vlan {} port {} at {} ns but has no row",
                    sw.name(),
                    mac,
                    vlan,
                    p,
                    t
                );
                let r = row.expect("checked");
                prop_assert_eq!(
                    r.port,
                    p,
                    "{} {} vlan {}: newest frame on another port",
                    sw.name(),
                    mac,
                    vlan
                );
                prop_assert_eq!(
                    now.as_nanos() - r.age.as_nanos(),
                    t,
                    "{} {} last seen",
                    sw.name(),
                    mac
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    /// Switches learn (VLAN, MAC) → port only from frames that arrived there,
    /// keep the newest, and forget a port's entries when its link goes down.
    #[test]
    fn mac_tables_learn_only_from_received_frames(
        g in l2_gen(),
        flaps in prop::collection::vec((any::<Index>(), 0u64..3000, 1u64..1000), 0..=2),
    ) {
        check_mac_learning(&g, &flaps)?;
    }
}

// ----- property 3: ARP convergence ------------------------------------------------

#[derive(Clone, Debug)]
struct PairGen {
    net: Ipv4Net,
    ips: [Ipv4Addr; 2],
    macs: [MacAddr; 2],
    /// None = a direct cable; Some(mode) = both hosts on a switch with that port mode.
    switch: Option<Mode>,
    latency: SimDuration,
    /// Per direction: start and interval of the ping, in ms.
    pings: [(u64, u64); 2],
    seed: u64,
}

fn pair_gen() -> impl Strategy<Value = PairGen> {
    (16u8..=29, any::<u32>())
        .prop_flat_map(|(prefix, base)| {
            let net = Ipv4Net::new(Ipv4Addr::from(base), prefix)
                .expect("valid prefix")
                .trunc();
            let hosts = (1u32 << (32 - prefix)) - 2;
            (
                Just(net),
                prop::collection::btree_set(1..=hosts, 2),
                [any::<[u8; 5]>(), any::<[u8; 5]>()],
                prop::option::of(prop_oneof![
                    vid().prop_map(Mode::Access),
                    vid().prop_map(|v| Mode::Trunk {
                        native: Some(v),
                        allowed: vec![]
                    }),
                ]),
                1u64..=100_000,
                [(0u64..3000, 100u64..=1000), (0u64..3000, 100u64..=1000)],
                any::<u64>(),
            )
        })
        .prop_map(|(net, offs, m, switch, lat_us, pings, seed)| {
            let offs: Vec<u32> = offs.into_iter().collect();
            let ip = |o: u32| Ipv4Addr::from(u32::from(net.network()) + o);
            let mac =
                |i: u8, b: [u8; 5]| MacAddr([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], i]);
            PairGen {
                net,
                ips: [ip(offs[0]), ip(offs[1])],
                macs: [mac(0, m[0]), mac(1, m[1])],
                switch,
                latency: SimDuration::from_micros(lat_us),
                pings,
                seed,
            }
        })
}

impl PairGen {
    fn topology(&self) -> Topology {
        let host = |i: usize| Device {
            name: format!("h{i}"),
            kind: DeviceKind::Host(HostSpec {
                role: HostRole::External,
                interfaces: vec![IfaceSpec {
                    name: "eth0".into(),
                    mac: self.macs[i],
                    addrs: vec![Ipv4Net::new(self.ips[i], self.net.prefix_len()).expect("valid")],
                    kind: IfaceKind::Physical,
                }],
                routes: vec![],
                rules: vec![],
                ip_forward: false,
                arp: ArpPolicy::Linux,
                tcp_listen: vec![],
                ecmp: Default::default(),
            }),
        };
        let end = |d: u32, port: u16| PortRef {
            device: DeviceId(d),
            port,
        };
        let mut devices = vec![host(0), host(1)];
        let mut links = Vec::new();
        match &self.switch {
            None => links.push(Link {
                a: end(0, 0),
                b: end(1, 0),
                latency: self.latency,
            }),
            Some(mode) => {
                devices.push(Device {
                    name: "sw".into(),
                    kind: DeviceKind::Switch(SwitchSpec {
                        ports: (0..2)
                            .map(|i| SwitchPortSpec {
                                name: format!("p{i}"),
                                vlan: mode.to_model(),
                            })
                            .collect(),
                        svis: vec![],
                        routes: vec![],
                        mac_aging: SimDuration::from_secs(300),
                        arp: ArpPolicy::Linux,
                        bfd: false,
                        ecmp: Default::default(),
                        bgp: None,
                    }),
                });
                for i in 0..2 {
                    links.push(Link {
                        a: end(i, 0),
                        b: end(2, i as u16),
                        latency: self.latency,
                    });
                }
            }
        }
        Topology {
            name: "prop-pair".into(),
            devices,
            links,
            cluster: Default::default(),
        }
    }
}

/// Long enough for REACHABLE to run out (15–45 s) and DELAY/PROBE to happen.
const PAIR_RUN_S: u64 = 60;

fn check_arp_converges(g: &PairGen) -> Result<(), TestCaseError> {
    let topo = g.topology();
    let mut w = World::new(&topo, g.seed);
    w.set_frame_logging(false);
    let mut order = [0usize, 1];
    order.sort_by_key(|&i| (g.pings[i].0, i));
    for i in order {
        let (start, interval) = g.pings[i];
        w.run_until(ms(start));
        let mut spec = ping_spec(&w, &format!("from{i}"), &format!("h{i}"), g.ips[1 - i]);
        spec.interval = SimDuration::from_millis(interval);
        w.start_probe(spec).expect("fresh probe");
    }
    w.run_until(SimTime::ZERO + SimDuration::from_secs(PAIR_RUN_S));
    let now = w.now();
    // With the peer always answering, an entry is resolved once and then only
    // cycles REACHABLE/STALE/DELAY/PROBE: never FAILED, INCOMPLETE at most once.
    for i in 0..2 {
        let dev = format!("h{i}");
        let arp_lines: Vec<String> = w
            .log()
            .iter()
            .filter(|e| e.kind == LogKind::Arp && e.device == dev)
            .map(|e| e.to_string())
            .collect();
        prop_assert!(
            !arp_lines.iter().any(|l| l.ends_with(" FAILED")),
            "{dev} had a FAILED entry: {arp_lines:#?}"
        );
        let incomplete = arp_lines
            .iter()
            .filter(|l| l.ends_with(" INCOMPLETE"))
            .count();
        prop_assert!(
            incomplete <= 1,
            "{dev} resolved {incomplete} times: {arp_lines:#?}"
        );
    }
    for i in 0..2 {
        let stack = w
            .device(DeviceId(i as u32))
            .stack()
            .expect("hosts have a stack");
        let row = stack.arp().lookup(now, g.ips[1 - i]);
        prop_assert!(
            row.is_some(),
            "h{} has no ARP entry for {}",
            i,
            g.ips[1 - i]
        );
        let row = row.expect("checked");
        prop_assert_eq!(row.mac, Some(g.macs[1 - i]), "h{} has the wrong MAC", i);
        prop_assert!(
            !matches!(row.state, NeighState::Failed | NeighState::Incomplete),
            "h{i} entry is {}",
            row.state.name()
        );
        prop_assert_eq!(row.iface, 0);
        let p = w.probe(&format!("from{i}")).expect("started");
        let one_s = SimTime::ZERO + SimDuration::from_secs(1);
        let mut finished = 0;
        for a in p
            .attempts()
            .iter()
            .filter(|a| a.verdict != Verdict::Pending)
        {
            finished += 1;
            // The very first attempts may wait for ARP; from 1 s on all must work.
            if a.sent >= one_s {
                prop_assert!(
                    a.ok(),
                    "from{} #{} at {}: {:?}",
                    i,
                    a.seq,
                    a.sent,
                    a.verdict
                );
            }
        }
        prop_assert!(finished > 10, "from{i}: only {finished} finished attempts");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// Two hosts on one segment end up with each other's MAC, and pings work.
    #[test]
    fn arp_converges_between_two_hosts(g in pair_gen()) {
        check_arp_converges(&g)?;
    }
}

// ----- property 4: determinism -------------------------------------------------------

#[derive(Clone, Debug)]
enum Disturb {
    /// Take host `h`'s link down at `at` ms and back up `for_ms` later.
    Flap { h: usize, at: u64, for_ms: u64 },
    /// Power host `h` off at `at` ms and on again `for_ms` later.
    Power { h: usize, at: u64, for_ms: u64 },
}

/// A control operation applied between runs.
type Action = Box<dyn Fn(&mut World)>;

/// Long enough for random ARP reachable times (15–45 s) to show in the log.
const DETERMINISM_RUN_MS: u64 = 40_000;

fn run_disturbed(g: &L2Gen, ds: &[Disturb]) -> (Vec<String>, Vec<(String, Vec<u8>)>) {
    let topo = g.topology();
    let mut w = World::new(&topo, g.seed);
    w.enable_capture();
    for (i, h) in g.hosts.iter().enumerate() {
        if !h.powered {
            w.set_power(DeviceId(i as u32), false);
        }
    }
    // (time ms, order, action)
    let mut acts: Vec<(u64, usize, Action)> = Vec::new();
    for (k, &(a, b, start)) in g.pings.iter().enumerate() {
        let to = g.hosts[b].ip;
        acts.push((
            start,
            acts.len(),
            Box::new(move |w: &mut World| {
                let spec = ping_spec(w, &format!("ping{k}"), &L2Gen::host_name(a), to);
                w.start_probe(spec).expect("fresh probe");
            }),
        ));
    }
    for d in ds {
        let (h, at, for_ms, power) = match *d {
            Disturb::Flap { h, at, for_ms } => (h, at, for_ms, false),
            Disturb::Power { h, at, for_ms } => (h, at, for_ms, true),
        };
        let h = h % g.hosts.len();
        for (t, on) in [(at, false), (at + for_ms, true)] {
            acts.push((
                t,
                acts.len(),
                Box::new(move |w: &mut World| {
                    let id = DeviceId(h as u32);
                    if power {
                        w.set_power(id, on);
                    } else {
                        let port = PortRef {
                            device: id,
                            port: 0,
                        };
                        w.set_link(port, on).expect("hosts are linked");
                    }
                }),
            ));
        }
    }
    acts.sort_by_key(|a| (a.0, a.1));
    for (t, _, act) in &acts {
        w.run_until(ms(*t));
        act(&mut w);
    }
    w.run_until(ms(DETERMINISM_RUN_MS));
    let log = w.log().iter().map(|e| e.to_string()).collect();
    let caps = w
        .captures()
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect();
    (log, caps)
}

fn disturb() -> impl Strategy<Value = Disturb> {
    prop_oneof![
        (0usize..8, 0u64..2500, 1u64..1500).prop_map(|(h, at, for_ms)| Disturb::Flap {
            h,
            at,
            for_ms
        }),
        (0usize..8, 0u64..2500, 1u64..1500).prop_map(|(h, at, for_ms)| Disturb::Power {
            h,
            at,
            for_ms
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// Same topology, scenario and seed: the same log lines and pcap bytes.
    #[test]
    fn runs_are_deterministic(g in l2_gen(), ds in prop::collection::vec(disturb(), 0..4)) {
        let (log1, caps1) = run_disturbed(&g, &ds);
        let (log2, caps2) = run_disturbed(&g, &ds);
        prop_assert!(!log1.is_empty());
        for (a, b) in log1.iter().zip(&log2) {
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(log1.len(), log2.len());
        prop_assert_eq!(caps1.len(), caps2.len());
        for ((n1, b1), (n2, b2)) in caps1.iter().zip(&caps2) {
            prop_assert_eq!(n1, n2);
            prop_assert!(b1 == b2, "{} differs between runs", n1);
        }
    }
}
