//! One node's memberlist instance (`memberlist.go`: `Create`, `Join`,
//! `Leave`, `Members`; `state.go`'s timers): the [`Agent`], what it asks its
//! host to do ([`Action`]), the timers it sets ([`AgentTimer`]) and the
//! membership events it reports ([`MemberEvent`]).
//!
//! This file holds the agent's state, its public face and the dispatch of
//! timers and messages; the protocol itself is in `probe` (failure
//! detection), `gossip` (broadcasts and push/pull) and `state` (how a
//! member's state changes on Alive, Suspect and Dead).
//!
//! Members are [`MemberId`]s inside; names come in with peers and messages
//! and go out in messages, events and member lists.

mod census;
mod gossip;
mod probe;
mod state;
mod stream;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::awareness::Awareness;
use super::config::MemberConfig;
use super::member::{Member, MemberState};
use super::messages::Msg;
use super::names::{MemberId, NameTable};
use super::queue::BroadcastQueue;
use super::roster::Roster;
use super::suspicion::Suspicion;
use super::util::push_pull_scale;
use crate::rng::{SimRng, below};
use crate::time::{SimDuration, SimTime};
use probe::{Probe, Relay};
use stream::PendingStream;
pub use stream::Transport;
use table::{MemberTable, NodeState};

/// A callback the agent asked for. Stale ones (old `seq`/`generation`) are ignored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AgentTimer {
    ProbeTick,
    /// `probe_timeout` after a direct ping: time for indirect pings.
    ProbeTimeout {
        seq: u32,
    },
    /// End of the probe interval: no Ack means suspect.
    ProbeDeadline {
        seq: u32,
    },
    /// An indirect ping we relay got no Ack in time: send the Nack.
    RelayTimeout {
        seq: u32,
    },
    Suspicion {
        node: MemberId,
        generation: u64,
    },
    GossipTick,
    PushPullTick,
    LeaveTimeout,
    /// A TCP exchange got no answer within the TCP timeout.
    StreamTimeout {
        id: u32,
    },
}

/// What Antrea's `cluster.go` reacts to (memberlist `NotifyJoin`/`NotifyLeave`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    Join(String),
    /// Dead or Left.
    Leave(String),
    /// `Join` returned: every push/pull it started was answered or timed
    /// out (Antrea's Node handlers call it synchronously, so the agent acts
    /// on its view after this).
    JoinReturned,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A message to `to`'s memberlist port, over UDP or TCP.
    Send {
        to: Ipv4Addr,
        msg: Msg,
        transport: Transport,
    },
    /// A line memberlist logs (a failed join or push/pull, UDP probes
    /// failing where TCP works).
    Log(String),
    Timer {
        at: SimTime,
        timer: AgentTimer,
    },
    Event(MemberEvent),
}

/// One node's memberlist instance.
#[derive(Clone, Debug)]
pub struct Agent {
    /// Every name this agent has seen; `me` is its own.
    names: NameTable,
    me: MemberId,
    addr: Ipv4Addr,
    cfg: MemberConfig,
    rng: SimRng,
    incarnation: u32,
    seq: u32,
    /// Known members (self included) in the order they became known.
    nodes: MemberTable,
    /// The suspicion timers of Suspect members.
    suspicions: BTreeMap<MemberId, Suspicion>,
    /// How many of `nodes` are in each state, kept as they change.
    census: census::Census,
    probe_order: probe::ProbeOrder,
    probe_index: usize,
    probe: Option<Probe>,
    /// A probe tick came while a probe was running (Go's one-slot ticker).
    tick_pending: bool,
    relays: Vec<Relay>,
    /// TCP exchanges waiting for their answer.
    streams: Vec<PendingStream>,
    next_stream: u32,
    queue: BroadcastQueue,
    awareness: Awareness,
    next_generation: u64,
    started: bool,
    left: bool,
    shutdown: bool,
}

/// An agent's alive members as [`Agent::alive_members_split`] gives them.
pub struct AliveSplit<'a> {
    /// The roster: every place is an alive member but `absent`.
    pub roster: &'a Roster,
    /// Roster places that are not alive members (held elsewhere, forgotten,
    /// dead or left).
    pub absent: Vec<usize>,
    /// Alive members held outside a roster place: their roster place, if
    /// any, and name (as [`Agent::alive_members_placed`] gives them).
    pub extra: Vec<(Option<usize>, &'a str)>,
}

impl Agent {
    /// An agent that does nothing until [`Agent::join`] starts it (memberlist
    /// `Create`: incarnation 1, self Alive).
    pub fn new(name: &str, addr: Ipv4Addr, cfg: MemberConfig, rng: SimRng) -> Agent {
        let mut names = NameTable::default();
        let me = names.intern(name);
        let awareness = Awareness::new(cfg.awareness_max_multiplier);
        Agent {
            names,
            me,
            addr,
            cfg,
            rng,
            incarnation: 0,
            seq: 0,
            nodes: MemberTable::default(),
            suspicions: BTreeMap::new(),
            census: census::Census::default(),
            probe_order: probe::ProbeOrder::default(),
            probe_index: 0,
            probe: None,
            tick_pending: false,
            relays: Vec::new(),
            streams: Vec::new(),
            next_stream: 0,
            queue: BroadcastQueue::default(),
            awareness,
            next_generation: 0,
            started: false,
            left: false,
            shutdown: false,
        }
    }

    pub fn name(&self) -> &str {
        self.names.name(self.me)
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn config(&self) -> &MemberConfig {
        &self.cfg
    }
    /// Our own current incarnation number.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    /// After a leave has been broadcast (or timed out): the agent ignores everything.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown
    }
    /// Local health score (0 = healthy); the probe interval is scaled by score + 1.
    pub fn awareness(&self) -> u32 {
        self.awareness.score()
    }

    /// Names of Alive and Suspect members, self included, sorted: memberlist's
    /// `Members()`, which Antrea's `AliveNodes()` (and so the hash ring) uses.
    pub fn alive_members(&self) -> Vec<String> {
        let mut v: Vec<String> = self.alive_member_names().map(str::to_string).collect();
        v.sort();
        v
    }

    /// Whether `name` is among [`Agent::alive_members`] (by id, no list).
    fn is_alive_member(&self, name: &str) -> bool {
        self.names
            .lookup(name)
            .and_then(|id| self.nodes.get(id))
            .is_some_and(|n| !n.state.dead_or_left())
    }

    /// [`Agent::alive_members`] unsorted and without copies, for a caller
    /// that maps the names to ids of its own.
    pub fn alive_member_names(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|n| !n.state.dead_or_left())
            .map(|n| self.names.name(n.id))
    }

    /// [`Agent::alive_member_names`], each with its place in the roster the
    /// agent was started from ([`Agent::converged`]) when it is one of its
    /// peers: a caller that numbered the roster's peers maps those without
    /// looking their names up. The name is the roster's allocation then.
    pub fn alive_members_placed(&self) -> impl Iterator<Item = (Option<usize>, &str)> {
        self.nodes
            .iter()
            .filter(|n| !n.state.dead_or_left())
            .map(|n| (self.names.roster_place(n.id), self.names.name(n.id)))
    }

    /// [`Agent::alive_members_placed`] told apart from the roster the agent
    /// started from, when it holds one: the roster, the roster places that
    /// are not alive members, and the alive members held elsewhere. At a
    /// few members a change, not n.
    pub fn alive_members_split(&self) -> Option<AliveSplit<'_>> {
        let (roster, absent, extra) = self.nodes.roster_split(|n| !n.state.dead_or_left())?;
        let extra = extra
            .into_iter()
            .map(|id| (self.names.roster_place(id), self.names.name(id)))
            .collect();
        Some(AliveSplit {
            roster,
            absent,
            extra,
        })
    }

    /// Every member known (dead ones until forgotten), sorted by name.
    pub fn members(&self) -> Vec<Member> {
        let mut v: Vec<Member> = self.nodes.iter().map(|n| self.view(&n)).collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Whether a `Join` is still waiting for push/pull answers.
    pub fn joining(&self) -> bool {
        self.streams.iter().any(PendingStream::is_join)
    }

    /// The member called `name`, if known.
    pub fn member(&self, name: &str) -> Option<Member> {
        let id = self.names.lookup(name)?;
        self.nodes.get(id).map(|n| self.view(&n))
    }

    fn view(&self, n: &NodeState) -> Member {
        Member::new(
            self.names.name(n.id),
            n.addr,
            n.incarnation,
            n.state,
            n.state_change,
        )
    }

    /// Starts the agent if needed and push/pulls with every peer (Antrea joins
    /// every Linux Node on start). Peers named like us are skipped.
    pub fn join(&mut self, now: SimTime, peers: &[(Arc<str>, Ipv4Addr)]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || self.left {
            return out;
        }
        self.start(now, &mut out);
        for (name, addr) in peers {
            if **name != *self.name() {
                self.send_push_pull(now, *addr, true, &mut out);
            }
        }
        out
    }

    /// An agent started as if it had been running in a converged cluster
    /// (a scenario's `warmStart`): every peer of `roster` is already an
    /// Alive member at incarnation 1 (what each peer's own start gives it),
    /// and nothing is sent: no push/pull with everyone, no queued
    /// broadcasts. Timers start as in [`Agent::join`], so probing and
    /// gossip go on as usual. The agent shares the roster's names and
    /// members with every agent started from it and keeps only where its
    /// view differs; what it does is what [`Agent::start_converged`] on a
    /// new agent does.
    pub fn converged(
        name: &str,
        addr: Ipv4Addr,
        cfg: MemberConfig,
        rng: SimRng,
        now: SimTime,
        roster: &Arc<Roster>,
    ) -> (Agent, Vec<Action>) {
        let mut agent = Agent::new(name, addr, cfg, rng);
        agent.names = NameTable::with_roster(roster.clone());
        agent.me = agent.names.intern(name);
        agent.nodes = MemberTable::with_roster(roster.clone());
        let mut out = Vec::new();
        agent.start(now, &mut out);
        agent.nodes.hold_roster(now);
        // What inserting each peer would have done: count it Alive and
        // give it a random place in the probe list.
        let held: Vec<MemberId> = agent.nodes.roster_defaults().collect();
        agent.probe_order.reserve_exact(held.len());
        for id in held {
            agent.census.added(id, agent.me, MemberState::Alive);
            agent.place_in_probe_order(id);
        }
        agent.queue.clear();
        (agent, out)
    }

    /// [`Agent::converged`] on an agent of its own: every peer named here
    /// (and not yet known) is added as an Alive member at incarnation 1.
    pub fn start_converged(&mut self, now: SimTime, peers: &[(Arc<str>, Ipv4Addr)]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || self.left {
            return out;
        }
        self.start(now, &mut out);
        for (name, addr) in peers {
            if **name == *self.name() {
                continue;
            }
            let id = self.names.intern_shared(name);
            if self.nodes.contains(id) {
                continue;
            }
            self.insert_node(now, id, *addr);
            let mut n = self.nodes.get(id).expect("just inserted");
            n.incarnation = 1;
            self.census.moved(id, self.me, n.state, MemberState::Alive);
            n.state = MemberState::Alive;
            self.nodes.set(n);
        }
        // Our own Alive was queued by `start`; in a converged cluster every
        // peer has long heard it.
        self.queue.clear();
        out
    }

    /// Antrea's `RejoinNodes` (every 60 s): join the K8s Nodes that are not
    /// alive in our view, so partitions heal after dead nodes were forgotten.
    pub fn rejoin(&mut self, now: SimTime, peers: &[(Arc<str>, Ipv4Addr)]) -> Vec<Action> {
        let missing: Vec<(Arc<str>, Ipv4Addr)> = peers
            .iter()
            .filter(|(n, _)| !self.is_alive_member(n))
            .cloned()
            .collect();
        if missing.is_empty() || !self.started {
            return Vec::new();
        }
        self.join(now, &missing)
    }

    /// Graceful leave: broadcast a Dead about ourselves from ourselves; shut
    /// down once it has been gossiped (or after `leave_timeout`).
    pub fn leave(&mut self, now: SimTime) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.started {
            // Never joined: nothing to announce, just stop.
            self.shutdown = true;
            return out;
        }
        if self.shutdown || self.left {
            return out;
        }
        self.left = true;
        self.dead_node(now, self.incarnation, self.me, self.me, &mut out);
        let any_alive = self
            .nodes
            .iter()
            .any(|n| n.id != self.me && !n.state.dead_or_left());
        if any_alive {
            out.push(Action::Timer {
                at: now + self.cfg.leave_timeout,
                timer: AgentTimer::LeaveTimeout,
            });
        } else {
            self.shutdown = true;
        }
        out
    }

    pub fn on_timer(&mut self, now: SimTime, t: AgentTimer) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || !self.started {
            return out;
        }
        match t {
            AgentTimer::ProbeTick => self.on_probe_tick(now, &mut out),
            AgentTimer::ProbeTimeout { seq } => self.on_probe_timeout(now, seq, &mut out),
            AgentTimer::ProbeDeadline { seq } => self.on_probe_deadline(now, seq, &mut out),
            AgentTimer::RelayTimeout { seq } => self.on_relay_timeout(seq, &mut out),
            AgentTimer::Suspicion { node, generation } => {
                let fire = self.nodes.get(node).and_then(|n| {
                    let live = n.state == MemberState::Suspect
                        && self.suspicions.get(&node).map(Suspicion::generation)
                            == Some(generation);
                    live.then_some(n.incarnation)
                });
                if let Some(incarnation) = fire {
                    self.dead_node(now, incarnation, node, self.me, &mut out);
                }
            }
            AgentTimer::GossipTick => {
                out.push(Action::Timer {
                    at: now + self.cfg.gossip_interval,
                    timer: AgentTimer::GossipTick,
                });
                self.gossip(now, &mut out);
            }
            AgentTimer::PushPullTick => {
                out.push(Action::Timer {
                    at: now + push_pull_scale(self.cfg.push_pull_interval, self.nodes.len()),
                    timer: AgentTimer::PushPullTick,
                });
                let me = self.me;
                let picked = self.k_random(1, &[], |n| n.id != me && n.state == MemberState::Alive);
                if let Some(addr) = picked.first() {
                    self.send_push_pull(now, *addr, false, &mut out);
                }
            }
            AgentTimer::StreamTimeout { id } => self.on_stream_timeout(id, &mut out),
            AgentTimer::LeaveTimeout => {
                if self.left {
                    self.shutdown = true;
                }
            }
        }
        out
    }

    /// A datagram from `from` (its source address).
    pub fn on_message(&mut self, now: SimTime, from: Ipv4Addr, msg: Msg) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || !self.started {
            return out;
        }
        match msg {
            Msg::Compound(parts) => {
                for m in parts {
                    if !matches!(m, Msg::Compound(_)) {
                        self.handle(now, from, m, &mut out);
                    }
                }
            }
            m => self.handle(now, from, m, &mut out),
        }
        out
    }

    fn handle(&mut self, now: SimTime, from: Ipv4Addr, msg: Msg, out: &mut Vec<Action>) {
        match msg {
            Msg::Ping {
                seq,
                target,
                source_addr,
                ..
            } => self.on_ping(seq, &target, reply_to(from, source_addr), out),
            Msg::IndirectPing {
                seq,
                target,
                target_addr,
                source_addr,
                nack,
                ..
            } => {
                let origin = reply_to(from, source_addr);
                self.on_indirect_ping(now, seq, target, target_addr, origin, nack, out);
            }
            Msg::Ack { seq } => self.on_ack(now, seq, out),
            Msg::Nack { seq } => self.on_nack(seq),
            Msg::Alive {
                incarnation,
                node,
                addr,
            } => {
                let node = self.names.intern(&node);
                self.alive_node(now, incarnation, node, addr, false, out);
            }
            Msg::Suspect {
                incarnation,
                node,
                from,
            } => {
                // A node never heard of cannot be suspected: no id for it.
                if let Some(node) = self.names.lookup(&node) {
                    let from = self.names.intern(&from);
                    self.suspect_node(now, incarnation, node, from, out);
                }
            }
            Msg::Dead {
                incarnation,
                node,
                from,
            } => {
                if let Some(node) = self.names.lookup(&node) {
                    let from = self.names.intern(&from);
                    self.dead_node(now, incarnation, node, from, out);
                }
            }
            // Push/pull travels over TCP only (on_stream).
            Msg::PushPull { .. } => {}
            Msg::Compound(_) => {}
        }
    }

    fn start(&mut self, now: SimTime, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        self.incarnation += 1;
        self.alive_node(now, self.incarnation, self.me, self.addr, true, out);
        let probe = self.stagger(self.cfg.probe_interval);
        out.push(Action::Timer {
            at: now + probe,
            timer: AgentTimer::ProbeTick,
        });
        if self.cfg.gossip_nodes > 0 && self.cfg.gossip_interval.0 > 0 {
            let g = self.stagger(self.cfg.gossip_interval);
            out.push(Action::Timer {
                at: now + g,
                timer: AgentTimer::GossipTick,
            });
        }
        if self.cfg.push_pull_interval.0 > 0 {
            let p = self.stagger(self.cfg.push_pull_interval);
            out.push(Action::Timer {
                at: now + p,
                timer: AgentTimer::PushPullTick,
            });
        }
    }

    fn stagger(&mut self, interval: SimDuration) -> SimDuration {
        if interval.0 == 0 {
            SimDuration::ZERO
        } else {
            SimDuration(below(&mut self.rng, interval.0))
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The name of a member, for a message or an event.
    fn name_of(&self, id: MemberId) -> String {
        self.names.name(id).to_string()
    }

    /// Adds an unknown node as Dead (so that its first Alive is a Join) at a
    /// random place in the probe list (`aliveNode` + `randomOffset`).
    fn insert_node(&mut self, now: SimTime, id: MemberId, addr: Ipv4Addr) {
        self.nodes.insert(NodeState {
            id,
            addr,
            incarnation: 0,
            state: MemberState::Dead,
            state_change: now,
        });
        self.suspicions.remove(&id);
        self.census.added(id, self.me, MemberState::Dead);
        self.place_in_probe_order(id);
    }

    /// A new member's random place in the probe list (`randomOffset`).
    fn place_in_probe_order(&mut self, id: MemberId) {
        let n = self.probe_order.len();
        let offset = if n == 0 {
            0
        } else {
            below(&mut self.rng, n as u64) as usize
        };
        self.probe_order.insert_at(id, offset);
    }
}

/// Where to answer a message: the source address it names, else the
/// datagram's source.
fn reply_to(from: Ipv4Addr, source_addr: Ipv4Addr) -> Ipv4Addr {
    if source_addr.is_unspecified() {
        from
    } else {
        source_addr
    }
}
