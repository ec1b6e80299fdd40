//! One BGP speaker: its TCP ([`TcpHost`]), a [`Session`] per peering, and
//! for a router its [`Rib`]. Sans-I/O like its parts: the host hands it the
//! packets the network brought and the wakes it asked for, and carries out
//! the [`Output`] it returns (packets to send, wakes to schedule, forwarding
//! changes to install, log lines).
//!
//! Two kinds:
//! - **A node's** ([`Speaker::node`]), as Antrea's agent runs gobgp: it
//!   connects to each peer of the effective BGPPolicy and advertises the
//!   engine's routes with itself as next hop. gobgp's defaults, since
//!   Antrea sets no timers (`pkg/agent/bgp/gobgp/gobgp.go`): hold 90 s,
//!   keepalive 30 s; reconnect after 5 s (gobgp's connect-retry default,
//!   and the Idle time seen in real mode: `/docs` of real mode).
//!   Graceful Restart with the peer's restart time, as Antrea enables it.
//!   What a node learns is not installed (Antrea's agent only advertises),
//!   so a node's received UPDATEs are dropped.
//! - **A router's** ([`Speaker::router`]), as FRR's bgpd is configured in
//!   the topology: passive towards its neighbours (listed, or any address in
//!   a listen range), a best path and multipath per prefix, each change
//!   reported for its routing table; a peer's routes go when its session
//!   goes, or stay stale for the peer's restart time when the session ended
//!   without a NOTIFICATION (Graceful Restart helper, FRR's default). It
//!   advertises nothing.
//!
//! A connection from an address that already has a session replaces it:
//! the old session ends as a TCP failure (RFC 4724's restart: Graceful
//! Restart keeps its routes stale until the new session's End-of-RIB).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::fsm::{
    Action, ConnectDelay, DownReason, Event, Session, SessionConfig, State, TimerKind,
};
use super::rib::{FibChange, PeerInfo, Rib};
use super::tcp::{Conn, TcpHost};
use crate::engine::bgp_policy::{SpeakerChange, SpeakerConfig};
use crate::k8s::BgpPeer;
use crate::model::bgp::{BgpPeers, BgpRouterSpec, RemoteAs};
use crate::time::{SimDuration, SimTime};
use crate::wire::bgp::Update;

/// gobgp's hold time when none is configured (`DEFAULT_HOLDTIME`).
pub const NODE_HOLD: SimDuration = SimDuration::from_secs(90);
/// gobgp's keepalive: a third of the hold time.
pub const NODE_KEEPALIVE: SimDuration = SimDuration::from_secs(30);
/// gobgp's connect-retry time (`DEFAULT_CONNECT_RETRY`, 5 s; real mode saw
/// gobgpd sit about 5 s in Idle after a failure).
pub const NODE_CONNECT_RETRY: SimDuration = SimDuration::from_secs(5);
/// gobgp v3's first connect of a start waits 5 to 9 whole seconds
/// (`connectLoop`: `rand.Intn(5) + 5` with `minConnectRetryInterval` 5);
/// real mode's gobgpd 3.10 connected 5 to 7 s after it started.
pub const GOBGP_CONNECT_DELAY_MIN_SECS: u64 = 5;
pub const GOBGP_CONNECT_DELAY_SPREAD_SECS: u64 = 5;
/// FRR's Graceful Restart restart time, advertised in helper mode.
const ROUTER_RESTART_TIME: u16 = 120;
/// Prefixes per UPDATE a node sends (one UPDATE stays far below 4096 bytes).
const PREFIXES_PER_UPDATE: usize = 500;
/// The first local port a node's connections open from.
const FIRST_PORT: u16 = 40_000;
const PORTS: u16 = 9_000;
/// How long a closed connection may linger (its FIN unanswered) before it
/// is aborted.
const LINGER: SimDuration = SimDuration::from_secs(10);
/// Rounds of polling the TCP within one call before the rest is left to a
/// scheduled wake.
const ROUNDS: usize = 16;

/// What a speaker asks its host to be woken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// smoltcp's own timers (retransmission, delayed ACK).
    Tcp,
    /// A session's timer: the peering (by its id) and the FSM's token.
    Timer {
        peering: u32,
        kind: TimerKind,
        token: u64,
    },
    /// A Graceful Restart peer's restart time ran out: its stale paths go.
    StaleFlush { peer: Ipv4Addr, generation: u32 },
}

/// What the host must do after a call.
#[derive(Debug, Default)]
pub struct Output {
    /// IPv4 packets to send from the speaker's host.
    pub packets: Vec<Vec<u8>>,
    pub wakes: Vec<(SimTime, Wake)>,
    /// Forwarding changes (a router's).
    pub fib: Vec<FibChange>,
    /// Lines for the event log.
    pub log: Vec<String>,
}

enum Role {
    /// A node: the routes it advertises and its next hop (its own address).
    Node {
        config: SpeakerConfig,
        routes: BTreeSet<Ipv4Net>,
    },
    Router {
        spec: BgpRouterSpec,
        rib: Rib,
        /// Listening sockets on port 179 (one spare at all times).
        listeners: Vec<Conn>,
    },
}

/// One peering: its session and connection.
struct Peering {
    id: u32,
    addr: Ipv4Addr,
    port: u16,
    session: Session,
    conn: Option<Conn>,
    /// The local port of `conn`.
    local_port: u16,
    /// The session was told the connection is up.
    connected: bool,
    /// Bytes the TCP could not take yet.
    outbox: Vec<u8>,
    /// A node's: the prefixes this session has announced.
    announced: BTreeSet<Ipv4Net>,
    /// When the session last reached Established.
    up_since: Option<SimTime>,
    /// Leave once the session is Idle (a removed peer, a replaced one).
    retiring: bool,
}

/// A peering as a view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    pub addr: Ipv4Addr,
    pub port: u16,
    /// The configured ASN (a node's), else the AS the peer's OPEN gave.
    pub asn: Option<u32>,
    pub state: State,
    pub up_since: Option<SimTime>,
    pub messages_received: u64,
    pub messages_sent: u64,
    /// Prefixes received from the peer that the RIB holds (a router's).
    pub prefixes_received: usize,
    /// Prefixes announced to the peer (a node's).
    pub prefixes_sent: usize,
}

/// A speaker.
pub struct Speaker {
    local: Ipv4Addr,
    tcp: TcpHost,
    role: Role,
    peers: Vec<Peering>,
    next_peering: u32,
    next_port: u16,
    /// Connections closed by their sessions, with when, until TCP is done.
    closing: Vec<(Conn, SimTime)>,
    /// The TCP wake already asked for.
    tcp_wake: Option<SimTime>,
    /// When each installed prefix last changed (FRR's route uptime).
    fib_since: BTreeMap<Ipv4Net, SimTime>,
    /// The speaker's seed (its sessions' connect delays derive from it).
    seed: u64,
    /// Bumped whenever a peer's stale paths are kept (names the flush).
    stale_generation: u32,
    /// The last stale generation of each peer.
    stale: Vec<(Ipv4Addr, u32)>,
}

impl Speaker {
    /// A node's speaker at `local` (the node's IP) with `config`: sessions
    /// to each peer start at once.
    pub fn node(local: Ipv4Addr, config: &SpeakerConfig, seed: u64, now: SimTime) -> Speaker {
        let role = Role::Node {
            config: config.clone(),
            routes: BTreeSet::new(),
        };
        Speaker::with_role(local, role, seed, now)
    }

    /// A router's speaker at `local` (the address its neighbours peer
    /// with), listening on port 179.
    pub fn router(local: Ipv4Addr, spec: &BgpRouterSpec, seed: u64, now: SimTime) -> Speaker {
        let role = Role::Router {
            spec: spec.clone(),
            rib: Rib::new(spec.maximum_paths),
            listeners: Vec::new(),
        };
        Speaker::with_role(local, role, seed, now)
    }

    fn with_role(local: Ipv4Addr, role: Role, seed: u64, now: SimTime) -> Speaker {
        Speaker {
            local,
            // Medium IP needs no neighbours: every address is reachable on
            // the one interface, the host's stack routes the packets.
            tcp: TcpHost::new(local, 0, None, seed, now),
            role,
            peers: Vec::new(),
            next_peering: 0,
            // A rebooted node's first port is not its last life's (the
            // router may still hold that connection).
            next_port: (seed % u64::from(PORTS)) as u16,
            closing: Vec::new(),
            tcp_wake: None,
            fib_since: BTreeMap::new(),
            seed,
            stale_generation: 0,
            stale: Vec::new(),
        }
    }

    /// A node's configuration (what [`crate::engine::bgp_policy::reconcile`]
    /// compares with the next).
    pub fn config(&self) -> Option<&SpeakerConfig> {
        match &self.role {
            Role::Node { config, .. } => Some(config),
            Role::Router { .. } => None,
        }
    }

    /// A router's table.
    pub fn rib(&self) -> Option<&Rib> {
        match &self.role {
            Role::Router { rib, .. } => Some(rib),
            Role::Node { .. } => None,
        }
    }

    /// When a router's route to `prefix` was last installed or changed.
    pub fn route_since(&self, prefix: Ipv4Net) -> Option<SimTime> {
        self.fib_since.get(&prefix).copied()
    }

    /// Reports forwarding changes, noting when each prefix changed.
    fn note_fib(&mut self, now: SimTime, changes: Vec<FibChange>, out: &mut Output) {
        for c in &changes {
            if c.next_hops.is_empty() {
                self.fib_since.remove(&c.prefix);
            } else {
                self.fib_since.insert(c.prefix, now);
            }
        }
        out.fib.extend(changes);
    }

    /// The local TCP ports whose segments are the speaker's.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .peers
            .iter()
            .filter(|p| p.conn.is_some())
            .map(|p| p.local_port)
            .collect();
        if let Role::Router { .. } = self.role {
            ports.push(179);
        }
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Every peering, in the order they were made.
    pub fn peers(&self) -> Vec<PeerView> {
        self.peers
            .iter()
            .filter(|p| !p.retiring)
            .map(|p| PeerView {
                addr: p.addr,
                port: p.port,
                asn: match &self.role {
                    Role::Node { config, .. } => config
                        .peers
                        .iter()
                        .find(|q| q.address == std::net::IpAddr::V4(p.addr) && q.port == p.port)
                        .map(|q| q.asn),
                    Role::Router { .. } => p.session.peer_as(),
                },
                state: p.session.state(),
                up_since: p
                    .up_since
                    .filter(|_| p.session.state() == State::Established),
                messages_received: p.session.messages_received(),
                messages_sent: p.session.messages_sent(),
                prefixes_received: match &self.role {
                    Role::Router { rib, .. } => rib
                        .routes()
                        .iter()
                        .filter(|(net, _)| rib.paths(*net).iter().any(|x| x.peer.address == p.addr))
                        .count(),
                    Role::Node { .. } => 0,
                },
                prefixes_sent: p.announced.len(),
            })
            .collect()
    }

    /// Starts the speaker: a router listens, a node's sessions start.
    pub fn start(&mut self, now: SimTime) -> Output {
        let mut out = Output::default();
        if let Role::Node { config, .. } = &self.role {
            let config = config.clone();
            for p in &config.peers {
                self.add_peer(now, p, &config, &mut out);
            }
            let prefixes: Vec<Ipv4Net> = config.routes.iter().map(|r| r.prefix).collect();
            for prefix in prefixes {
                self.advertise(now, prefix, &mut out);
            }
        }
        self.pump(now, &mut out);
        out
    }

    /// Stops every session with a Cease (the speaker is going away).
    pub fn stop(&mut self, now: SimTime) -> Output {
        let mut out = Output::default();
        for i in 0..self.peers.len() {
            self.peers[i].retiring = true;
            let actions = self.peers[i].session.handle(now, Event::Stop);
            self.act(now, i, actions, &mut out);
        }
        self.pump(now, &mut out);
        out
    }

    /// One step of a node's reconfiguration ([`crate::engine::bgp_policy::reconcile`]'s
    /// steps other than Start and Stop, which make and drop speakers);
    /// `config` is the configuration being reached.
    pub fn change(&mut self, now: SimTime, step: &SpeakerChange, config: &SpeakerConfig) -> Output {
        let mut out = Output::default();
        if let Role::Node { config: c, .. } = &mut self.role {
            *c = config.clone();
        }
        match step {
            SpeakerChange::Start | SpeakerChange::Stop => {}
            SpeakerChange::AddPeer(p) => self.add_peer(now, p, config, &mut out),
            SpeakerChange::UpdatePeer(p) => {
                self.remove_peer(now, p, &mut out);
                self.add_peer(now, p, config, &mut out);
            }
            SpeakerChange::RemovePeer(p) => self.remove_peer(now, p, &mut out),
            SpeakerChange::Advertise(prefix) => self.advertise(now, *prefix, &mut out),
            SpeakerChange::Withdraw(prefix) => self.withdraw(now, *prefix, &mut out),
        }
        self.pump(now, &mut out);
        out
    }

    /// A packet the network brought for one of the speaker's ports.
    pub fn deliver(&mut self, now: SimTime, packet: Vec<u8>) -> Output {
        let mut out = Output::default();
        self.tcp.deliver(packet);
        self.pump(now, &mut out);
        out
    }

    /// A wake the speaker asked for.
    pub fn wake(&mut self, now: SimTime, wake: Wake) -> Output {
        let mut out = Output::default();
        match wake {
            Wake::Tcp => {
                if self.tcp_wake != Some(now) {
                    return out;
                }
                self.tcp_wake = None;
            }
            Wake::Timer {
                peering,
                kind,
                token,
            } => {
                if let Some(i) = self.peers.iter().position(|p| p.id == peering) {
                    let actions = self.peers[i].session.handle(now, Event::Timer(kind, token));
                    self.act(now, i, actions, &mut out);
                }
            }
            Wake::StaleFlush { peer, generation } => {
                if self.stale.contains(&(peer, generation))
                    && let Role::Router { rib, .. } = &mut self.role
                {
                    self.stale.retain(|(a, _)| *a != peer);
                    let changes = rib.flush_stale(peer);
                    if !changes.is_empty() {
                        out.log.push(format!(
                            "BGP {peer}: restart time over, its stale routes removed"
                        ));
                    }
                    self.note_fib(now, changes, &mut out);
                }
            }
        }
        self.pump(now, &mut out);
        out
    }

    /// The BFD session to `addr` went down: its BGP session ends with
    /// Cease/BFD Down (FRR's `neighbor ... bfd`).
    pub fn bfd_down(&mut self, now: SimTime, addr: Ipv4Addr) -> Output {
        let mut out = Output::default();
        for i in 0..self.peers.len() {
            if self.peers[i].addr == addr && !self.peers[i].retiring {
                let actions = self.peers[i].session.handle(now, Event::BfdDown);
                self.act(now, i, actions, &mut out);
            }
        }
        self.pump(now, &mut out);
        out
    }

    // ---- a node's peers and routes ----

    fn add_peer(&mut self, now: SimTime, p: &BgpPeer, config: &SpeakerConfig, out: &mut Output) {
        let std::net::IpAddr::V4(addr) = p.address else {
            return;
        };
        let cfg = SessionConfig {
            local_as: config.local_asn,
            local_id: config.router_id,
            peer_addr: addr,
            peer_as: RemoteAs::Asn(p.asn),
            hold: NODE_HOLD,
            keepalive: NODE_KEEPALIVE,
            connect_retry: NODE_CONNECT_RETRY,
            passive: false,
            graceful_restart: Some(p.graceful_restart_secs),
            connect_delay: Some(ConnectDelay {
                min_secs: GOBGP_CONNECT_DELAY_MIN_SECS,
                spread_secs: GOBGP_CONNECT_DELAY_SPREAD_SECS,
                seed: self.seed ^ u64::from(self.next_peering),
            }),
        };
        match Session::new(cfg) {
            Ok(session) => {
                let i = self.new_peering(addr, p.port, session);
                let actions = self.peers[i].session.handle(now, Event::Start);
                self.act(now, i, actions, out);
            }
            Err(e) => out.log.push(format!("BGP peer {addr} not started: {e}")),
        }
    }

    fn remove_peer(&mut self, now: SimTime, p: &BgpPeer, out: &mut Output) {
        let std::net::IpAddr::V4(addr) = p.address else {
            return;
        };
        let Some(i) = self
            .peers
            .iter()
            .position(|q| q.addr == addr && q.port == p.port && !q.retiring)
        else {
            return;
        };
        self.peers[i].retiring = true;
        let actions = self.peers[i].session.handle(now, Event::Stop);
        self.act(now, i, actions, out);
    }

    fn new_peering(&mut self, addr: Ipv4Addr, port: u16, session: Session) -> usize {
        let id = self.next_peering;
        self.next_peering += 1;
        self.peers.push(Peering {
            id,
            addr,
            port,
            session,
            conn: None,
            local_port: 0,
            connected: false,
            outbox: Vec::new(),
            announced: BTreeSet::new(),
            up_since: None,
            retiring: false,
        });
        self.peers.len() - 1
    }

    fn advertise(&mut self, now: SimTime, prefix: Ipv4Net, out: &mut Output) {
        if let Role::Node { routes, .. } = &mut self.role {
            routes.insert(prefix);
        }
        for i in 0..self.peers.len() {
            if self.peers[i].session.state() == State::Established {
                self.announce(now, i, vec![prefix], out);
            }
        }
    }

    fn withdraw(&mut self, now: SimTime, prefix: Ipv4Net, out: &mut Output) {
        if let Role::Node { routes, .. } = &mut self.role {
            routes.remove(&prefix);
        }
        for i in 0..self.peers.len() {
            if self.peers[i].announced.remove(&prefix) {
                let update = Update::withdraw(vec![prefix]);
                self.send_update(now, i, &update, out);
            }
        }
    }

    /// Announces `prefixes` on peering `i` with the node as next hop.
    fn announce(&mut self, now: SimTime, i: usize, prefixes: Vec<Ipv4Net>, out: &mut Output) {
        let Role::Node { config, .. } = &self.role else {
            return;
        };
        // eBGP: our AS leads the path; towards our own AS the path is empty.
        let peer_as = self.peers[i].session.peer_as();
        let as_path = if peer_as == Some(config.local_asn) {
            Vec::new()
        } else {
            vec![config.local_asn]
        };
        for chunk in prefixes.chunks(PREFIXES_PER_UPDATE) {
            let update = Update::announce(chunk.to_vec(), self.local, as_path.clone());
            if self.send_update(now, i, &update, out) {
                self.peers[i].announced.extend(chunk.iter().copied());
            }
        }
    }

    fn send_update(&mut self, now: SimTime, i: usize, update: &Update, out: &mut Output) -> bool {
        match self.peers[i].session.send_update(now, update) {
            Ok(actions) => {
                let sent = !actions.is_empty();
                self.act(now, i, actions, out);
                sent
            }
            Err(e) => {
                out.log
                    .push(format!("BGP {}: UPDATE refused: {e}", self.peers[i].addr));
                false
            }
        }
    }

    // ---- the sessions' actions ----

    /// Carries out peering `i`'s session actions.
    fn act(&mut self, now: SimTime, i: usize, actions: Vec<Action>, out: &mut Output) {
        for a in actions {
            match a {
                Action::Connect => {
                    // A new port each time: an earlier connection of the
                    // peering may still be closing on the last one.
                    let port = FIRST_PORT + self.next_port % PORTS;
                    self.next_port = self.next_port.wrapping_add(1);
                    let remote = (self.peers[i].addr, self.peers[i].port);
                    match self.tcp.connect(remote, port) {
                        Ok(c) => {
                            self.peers[i].conn = Some(c);
                            self.peers[i].local_port = port;
                            self.peers[i].connected = false;
                        }
                        Err(e) => {
                            out.log
                                .push(format!("BGP {}: connect failed: {e}", remote.0));
                        }
                    }
                }
                Action::Send { bytes, .. } => {
                    let p = &mut self.peers[i];
                    p.outbox.extend_from_slice(&bytes);
                    if let Some(c) = p.conn {
                        let n = self.tcp.send(c, &p.outbox);
                        p.outbox.drain(..n);
                    }
                }
                Action::Close => {
                    let p = &mut self.peers[i];
                    p.connected = false;
                    if let Some(c) = p.conn.take() {
                        if !p.outbox.is_empty() {
                            let n = self.tcp.send(c, &p.outbox);
                            p.outbox.drain(..n);
                        }
                        self.tcp.close(c);
                        self.closing.push((c, now));
                    }
                    p.outbox.clear();
                }
                Action::SetTimer { kind, at, token } => out.wakes.push((
                    at,
                    Wake::Timer {
                        peering: self.peers[i].id,
                        kind,
                        token,
                    },
                )),
                Action::Established {
                    hold,
                    peer_id,
                    peer_as,
                    ..
                } => {
                    self.peers[i].up_since = Some(now);
                    out.log.push(format!(
                        "BGP session with {} (AS {peer_as}, router ID {peer_id}) Established, hold time {}s",
                        self.peers[i].addr,
                        hold.as_nanos() / 1_000_000_000
                    ));
                    let routes = match &self.role {
                        Role::Node { routes, .. } => Some(routes.iter().copied().collect()),
                        Role::Router { .. } => None,
                    };
                    if let Some(all) = routes {
                        self.announce(now, i, all, out);
                        // Graceful Restart: End-of-RIB after the routes.
                        if self.peers[i].session.config().graceful_restart.is_some() {
                            self.send_update(now, i, &Update::end_of_rib(), out);
                        }
                    }
                }
                Action::Received(update) => self.received(now, i, &update, out),
                Action::RefreshRequested(_) => {
                    let all: Vec<Ipv4Net> = self.peers[i].announced.iter().copied().collect();
                    self.announce(now, i, all, out);
                }
                Action::Down { reason } => self.down(now, i, &reason, out),
            }
        }
    }

    fn received(&mut self, now: SimTime, i: usize, update: &Update, out: &mut Output) {
        let Role::Router { spec, rib, .. } = &mut self.role else {
            return;
        };
        let p = &self.peers[i];
        let (Some(router_id), Some(asn)) = (p.session.peer_id(), p.session.peer_as()) else {
            return;
        };
        let info = PeerInfo {
            address: p.addr,
            router_id,
            asn,
            external: asn != spec.asn,
        };
        let changes = rib.apply(now, info, update);
        self.note_fib(now, changes, out);
    }

    fn down(&mut self, now: SimTime, i: usize, reason: &DownReason, out: &mut Output) {
        let addr = self.peers[i].addr;
        self.peers[i].announced.clear();
        self.peers[i].up_since = None;
        out.log.push(format!(
            "BGP session with {addr} down: {}",
            reason.describe()
        ));
        if let Role::Router { rib, .. } = &mut self.role {
            let keep = reason.keeps_stale_routes();
            let changes = rib.peer_down(addr, keep);
            if keep && let Some(secs) = reason.peer_gr {
                self.stale_generation += 1;
                let generation = self.stale_generation;
                self.stale.retain(|(a, _)| *a != addr);
                self.stale.push((addr, generation));
                out.log.push(format!(
                    "BGP {addr}: Graceful Restart, its routes kept stale for {secs}s"
                ));
                out.wakes.push((
                    now + SimDuration::from_secs(u64::from(secs)),
                    Wake::StaleFlush {
                        peer: addr,
                        generation,
                    },
                ));
            }
            self.note_fib(now, changes, out);
            // A dynamic or accepted peering ends with its connection; the
            // next connection from the address makes a new one.
            self.peers[i].retiring = true;
        }
    }

    // ---- TCP ----

    /// Moves the TCP and the sessions on until nothing more happens now.
    fn pump(&mut self, now: SimTime, out: &mut Output) {
        for _ in 0..ROUNDS {
            self.accept(now, out);
            let mut progressed = false;
            for i in 0..self.peers.len() {
                progressed |= self.tcp_events(now, i, out);
            }
            self.flush_outboxes();
            let packets = self.tcp.poll(now);
            progressed |= !packets.is_empty();
            out.packets.extend(packets);
            if !progressed {
                break;
            }
        }
        self.reap(now);
        if let Some(at) = self.tcp.next_wake(now) {
            let at = at.max(now + SimDuration::from_micros(1));
            if self.tcp_wake.is_none_or(|w| at < w || w < now) {
                self.tcp_wake = Some(at);
                out.wakes.push((at, Wake::Tcp));
            }
        }
    }

    /// What peering `i`'s connection did since the last look: it came up,
    /// brought bytes, or ended. Whether anything did.
    fn tcp_events(&mut self, now: SimTime, i: usize, out: &mut Output) -> bool {
        let Some(c) = self.peers[i].conn else {
            return false;
        };
        use smoltcp::socket::tcp::State as T;
        let state = self.tcp.state(c);
        let mut progressed = false;
        if !self.peers[i].connected {
            match state {
                T::Established => {
                    self.peers[i].connected = true;
                    let actions = self.peers[i].session.handle(now, Event::TcpConnected);
                    self.act(now, i, actions, out);
                    progressed = true;
                }
                T::Closed => {
                    self.peers[i].conn = None;
                    self.tcp.remove(c);
                    let actions = self.peers[i].session.handle(now, Event::TcpFailed);
                    self.act(now, i, actions, out);
                    return true;
                }
                _ => return false,
            }
        }
        let Some(c) = self.peers[i].conn else {
            return progressed;
        };
        let bytes = self.tcp.recv(c);
        if !bytes.is_empty() {
            let actions = self.peers[i].session.handle(now, Event::Bytes(&bytes));
            self.act(now, i, actions, out);
            progressed = true;
        }
        if let Some(c) = self.peers[i].conn
            && !matches!(self.tcp.state(c), T::Established)
        {
            // The peer closed or reset the connection.
            self.peers[i].conn = None;
            self.peers[i].connected = false;
            self.tcp.abort(c);
            self.closing.push((c, now));
            let actions = self.peers[i].session.handle(now, Event::TcpFailed);
            self.act(now, i, actions, out);
            progressed = true;
        }
        progressed
    }

    /// A router's listeners: an accepted connection becomes a peering (or
    /// is refused), and one socket always listens.
    fn accept(&mut self, now: SimTime, out: &mut Output) {
        use smoltcp::socket::tcp::State as T;
        let Role::Router { listeners, .. } = &mut self.role else {
            return;
        };
        let mut accepted = Vec::new();
        let mut kept = Vec::new();
        for c in std::mem::take(listeners) {
            match self.tcp.state(c) {
                T::Listen | T::SynReceived => kept.push(c),
                T::Established => accepted.push(c),
                _ => {
                    self.tcp.abort(c);
                    self.closing.push((c, now));
                }
            }
        }
        if !kept.iter().any(|c| self.tcp.state(*c) == T::Listen)
            && let Ok(c) = self.tcp.listen(179)
        {
            kept.push(c);
        }
        if let Role::Router { listeners, .. } = &mut self.role {
            *listeners = kept;
        }
        for c in accepted {
            self.accepted(now, c, out);
        }
    }

    fn accepted(&mut self, now: SimTime, c: Conn, out: &mut Output) {
        let Role::Router { spec, .. } = &self.role else {
            return;
        };
        let Some((addr, port)) = self.tcp.remote(c) else {
            self.tcp.abort(c);
            self.closing.push((c, now));
            return;
        };
        let Some(peer_as) = neighbour_as(spec, addr) else {
            out.log.push(format!(
                "BGP connection from {addr} refused: not a configured neighbor"
            ));
            self.tcp.abort(c);
            self.closing.push((c, now));
            return;
        };
        let cfg = SessionConfig {
            local_as: spec.asn,
            local_id: spec.router_id,
            peer_addr: addr,
            peer_as,
            hold: spec.hold,
            keepalive: spec.keepalive,
            connect_retry: spec.connect_retry,
            passive: true,
            graceful_restart: Some(ROUTER_RESTART_TIME),
            connect_delay: None,
        };
        let Ok(session) = Session::new(cfg) else {
            self.tcp.abort(c);
            self.closing.push((c, now));
            return;
        };
        // A new connection from a peer that has a session: the peer
        // restarted; the old session ends as its TCP would.
        for j in 0..self.peers.len() {
            if self.peers[j].addr == addr && !self.peers[j].retiring {
                self.peers[j].retiring = true;
                if let Some(old) = self.peers[j].conn.take() {
                    self.tcp.abort(old);
                    self.closing.push((old, now));
                }
                self.peers[j].connected = false;
                let actions = self.peers[j].session.handle(now, Event::TcpFailed);
                self.act(now, j, actions, out);
            }
        }
        let i = self.new_peering(addr, port, session);
        self.peers[i].conn = Some(c);
        self.peers[i].local_port = 179;
        let actions = self.peers[i].session.handle(now, Event::Start);
        self.act(now, i, actions, out);
        self.peers[i].connected = true;
        let actions = self.peers[i].session.handle(now, Event::TcpConnected);
        self.act(now, i, actions, out);
    }

    fn flush_outboxes(&mut self) {
        for p in &mut self.peers {
            if let (Some(c), false) = (p.conn, p.outbox.is_empty()) {
                let n = self.tcp.send(c, &p.outbox);
                p.outbox.drain(..n);
            }
        }
    }

    /// Forgets connections that are done, and peerings that are retired
    /// and idle.
    fn reap(&mut self, now: SimTime) {
        use smoltcp::socket::tcp::State as T;
        let tcp = &mut self.tcp;
        self.closing.retain(|(c, since)| {
            let done = matches!(tcp.state(*c), T::Closed | T::TimeWait);
            if done || now >= *since + LINGER {
                tcp.abort(*c);
                tcp.remove(*c);
                false
            } else {
                true
            }
        });
        self.peers
            .retain(|p| !(p.retiring && p.conn.is_none() && p.session.state() == State::Idle));
    }
}

/// The AS a connection from `addr` must be in, if the router peers with it.
fn neighbour_as(spec: &BgpRouterSpec, addr: Ipv4Addr) -> Option<RemoteAs> {
    match &spec.peers {
        BgpPeers::Listed(list) => list.iter().find(|n| n.address == addr).map(|n| n.remote_as),
        BgpPeers::Range { prefix, remote_as } => prefix.contains(&addr).then_some(*remote_as),
    }
}
