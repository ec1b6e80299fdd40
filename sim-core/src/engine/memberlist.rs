//! A sans-I/O SWIM agent shaped after `hashicorp/memberlist`, which Antrea uses to
//! decide which Nodes are alive for Egress / ServiceExternalIP placement.
//!
//! One [`Agent`] per Kubernetes Node. It never reads a clock and never does I/O:
//! every call takes `now: SimTime` and returns [`Action`]s (send this message,
//! call me back at that time, report this membership event). The simulator
//! delivers [`Msg`]s (encoded with [`Msg::encode`] as the UDP payload to port
//! [`MEMBERLIST_PORT`]) and fires timers. Timers cannot be cancelled: each carries
//! a sequence or generation number and a stale one is ignored when it fires.
//!
//! ## What is modelled (memberlist v0.5/v0.6, `DefaultLocalConfig`, as Antrea uses it)
//! - **Probing** (`state.go probe/probeNode`): every `probe_interval` the next
//!   member of a round-robin list (self, Dead and Left skipped) is pinged. No Ack
//!   within `probe_timeout` → `IndirectPing` through `indirect_checks` random Alive
//!   members, which ping the target and forward its Ack, or send a Nack after
//!   `probe_timeout`. No Ack by the end of the (awareness-scaled) probe interval →
//!   the target is suspected. A Suspect target is pinged with a Suspect message
//!   attached so it can refute quickly. The list is reshuffled with the agent's
//!   [`SimRng`] on every wrap, when Dead/Left members older than
//!   `gossip_to_the_dead_time` are also forgotten (`resetNodes`/`moveDeadNodes`).
//!   New members go to a random place in the list (`randomOffset`). A probe tick
//!   that falls while a probe is still running is remembered and run as soon as
//!   that probe ends, like Go's one-slot ticker channel.
//! - **Suspicion** (`suspicion.go`, `util.go suspicionTimeout`): `min = mult ×
//!   max(1, log10(max(1, n))) × probe_interval` with n = members known (including
//!   self and not yet forgotten dead), `max = max_mult × min`, `k = mult − 2`
//!   (0 when `n − 2 < k`). The timer starts at `max` (`min` when k = 0); each
//!   independent confirmation (a Suspect about the same node from a new `from`,
//!   the originator excluded) shortens it to `max − ln(c+1)/ln(k+1) × (max − min)`
//!   (floored to whole milliseconds, never below `min`), counted from the start.
//!   Expiry → Dead, Dead gossiped, [`MemberEvent::Leave`].
//! - **Refutation**: a Suspect or Dead about oneself (or an Alive about oneself
//!   with a different incarnation) is answered by an Alive with a higher
//!   incarnation. This is how a restarted agent (incarnation back at 1) becomes
//!   Alive again in views that still hold it as Dead.
//! - **Gossip** (`gossip`, `queue.go`): broadcasts wait in a transmit-limited
//!   queue; a newer broadcast about a node replaces the older one. Every
//!   `gossip_interval` up to `gossip_nodes` random members (Alive, Suspect, or Dead
//!   for less than `gossip_to_the_dead_time`) each get the least-sent broadcasts
//!   that fit in `udp_buffer_size`; each broadcast is sent at most
//!   `retransmit_mult × ceil(log10(n+1))` times. Pings, Acks, Nacks and indirect
//!   pings piggyback broadcasts too (`sendMsg`), in a [`Msg::Compound`].
//! - **Push/pull** (`pushPull`, `mergeState`): `join` and `rejoin` send the full
//!   state to each peer, which answers with its own state (taken before merging)
//!   and merges; periodic push/pull with one random Alive member every
//!   `push_pull_interval` (scaled above 32 members). Remote Alive → alive, Left →
//!   left, Dead or Suspect → suspected by us (never Dead straight away).
//! - **Awareness** (`awareness.go`): a local health score 0..`awareness_max_multiplier−1`
//!   scales the probe interval; +1 per missing Nack or refutation (or +1 per
//!   failed probe without Nack helpers), −1 per successful probe.
//! - **Leave** (`Leave`): a Dead message about oneself from oneself; peers mark
//!   the node Left at once. The agent keeps running until that broadcast has been
//!   sent its retransmit limit or `leave_timeout` has passed, then shuts down
//!   (Antrea calls `Leave(1s)` then `Shutdown()`); a shut-down agent ignores
//!   everything.
//! - **Events**: Join when a node goes from unknown/Dead/Left to Alive (the local
//!   node included, at start, as memberlist does), Leave when it goes to Dead or
//!   Left (also for self on leave). Suspect is not an event.
//!
//! ## Measured with the tests' six-node network (0.5 ms latency, 500 seeds)
//! Power-off to Dead: first agent 4.0–7.7 s (median 4.65 s); over all agents
//! median 4.7 s, 97th percentile 6.8 s. About 1 % of agents are laggards at
//! 19–24 s: with six members a broadcast is sent only `2 × ceil(log10 7) = 2`
//! times and gossip also goes to the suspect itself, so a peer can miss every
//! Suspect and Dead rumour and wait out its own 18 s timer (memberlist does the
//! same; push/pull does not help because a remote Dead only becomes our own
//! suspicion). Graceful leave: 97 % of agents see it within 1 s; a peer that
//! missed the rumour learns Left from its next push/pull (≤ 15 s).
//!
//! ## Simplifications (what memberlist does that this does not)
//! - No TCP: no fallback TCP ping during indirect probing (a powered-off node
//!   fails it anyway; a UDP-only partition is therefore suspected sooner than in
//!   memberlist), and push/pull travels as a datagram instead of a TCP stream
//!   (no size limit, no TCP timeout, a lost one is simply lost).
//! - No node metadata, protocol versions, labels, encryption/keyring (Antrea
//!   v2.7+), compression, user messages or delegates; hence no Update event and
//!   no conflict delegate. Addresses of a live node never change; an Alive with a
//!   new address is accepted only for a Left node or one Dead for longer than
//!   `dead_node_reclaim_time` (memberlist's rule).
//! - Every peer is assumed to speak protocol version ≥ 4, so Nacks are always
//!   requested.
//! - Timer stagger: the first probe/gossip/push-pull tick is placed uniformly in
//!   one interval (memberlist does the same with Go's global rand), drawn from
//!   the agent's own stream.
//! - The wire format is this module's own compact binary (memberlist uses
//!   msgpack); message type numbers match memberlist's.
//! - The suspicion formula uses `f64::ln`; the result is floored to whole
//!   milliseconds exactly like memberlist, so platform differences in the last
//!   ulp cannot change a run except at an exact millisecond boundary.
//! - [`Agent::members`] lists what memberlist knows; forgotten dead nodes are
//!   absent. Antrea's `antctl get memberlist` lists every K8s Node and marks
//!   those not in `AliveNodes()` Dead, so the report should join with the Node
//!   list rather than rely on this.

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use crate::rng::{SimRng, below};
use crate::time::{SimDuration, SimTime};

/// Antrea's memberlist `clusterPort` (UDP and TCP), `build/charts/antrea/values.yaml`.
pub const MEMBERLIST_PORT: u16 = 10351;

/// memberlist's `DefaultLocalConfig` values (config.go v0.5.0/v0.6.0), plus the
/// two Antrea sets (`DeadNodeReclaimTime = 10ms`, `Leave(1s)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberConfig {
    pub probe_interval: SimDuration,
    pub probe_timeout: SimDuration,
    pub indirect_checks: usize,
    pub suspicion_mult: u32,
    pub suspicion_max_timeout_mult: u32,
    pub retransmit_mult: u32,
    pub gossip_interval: SimDuration,
    pub gossip_nodes: usize,
    pub gossip_to_the_dead_time: SimDuration,
    /// Zero disables periodic push/pull (joins still push/pull).
    pub push_pull_interval: SimDuration,
    pub awareness_max_multiplier: u32,
    pub udp_buffer_size: usize,
    pub dead_node_reclaim_time: SimDuration,
    pub leave_timeout: SimDuration,
}

impl Default for MemberConfig {
    fn default() -> Self {
        MemberConfig {
            probe_interval: SimDuration::from_secs(1),
            probe_timeout: SimDuration::from_millis(200),
            indirect_checks: 1,
            suspicion_mult: 3,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 2,
            gossip_interval: SimDuration::from_millis(100),
            gossip_nodes: 3,
            gossip_to_the_dead_time: SimDuration::from_secs(15),
            push_pull_interval: SimDuration::from_secs(15),
            awareness_max_multiplier: 8,
            udp_buffer_size: 1400,
            dead_node_reclaim_time: SimDuration::from_millis(10),
            leave_timeout: SimDuration::from_secs(1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl MemberState {
    fn dead_or_left(self) -> bool {
        matches!(self, MemberState::Dead | MemberState::Left)
    }
    fn code(self) -> u8 {
        match self {
            MemberState::Alive => 0,
            MemberState::Suspect => 1,
            MemberState::Dead => 2,
            MemberState::Left => 3,
        }
    }
    fn from_code(c: u8) -> Option<MemberState> {
        Some(match c {
            0 => MemberState::Alive,
            1 => MemberState::Suspect,
            2 => MemberState::Dead,
            3 => MemberState::Left,
            _ => return None,
        })
    }
    /// How `antctl get memberlist` and memberlist's metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Alive => "Alive",
            MemberState::Suspect => "Suspect",
            MemberState::Dead => "Dead",
            MemberState::Left => "Left",
        }
    }
}

/// One agent's view of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub addr: Ipv4Addr,
    pub incarnation: u32,
    pub state: MemberState,
    pub state_change: SimTime,
}

/// One node's entry in a push/pull state exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushState {
    pub name: String,
    pub addr: Ipv4Addr,
    pub incarnation: u32,
    pub state: MemberState,
}

/// A memberlist message. `Compound` carries several (a ping plus piggybacked
/// gossip, or a gossip batch); compounds do not nest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Ping {
        seq: u32,
        target: String,
        source: String,
        source_addr: Ipv4Addr,
    },
    IndirectPing {
        seq: u32,
        target: String,
        target_addr: Ipv4Addr,
        source: String,
        source_addr: Ipv4Addr,
        nack: bool,
    },
    Ack {
        seq: u32,
    },
    Nack {
        seq: u32,
    },
    Suspect {
        incarnation: u32,
        node: String,
        from: String,
    },
    Alive {
        incarnation: u32,
        node: String,
        addr: Ipv4Addr,
    },
    Dead {
        incarnation: u32,
        node: String,
        from: String,
    },
    PushPull {
        join: bool,
        reply: bool,
        states: Vec<PushState>,
    },
    Compound(Vec<Msg>),
}

/// Why a payload is not a memberlist message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("memberlist message truncated")]
    Truncated,
    #[error("unknown memberlist message type {0}")]
    UnknownType(u8),
    #[error("memberlist node name is not UTF-8")]
    BadName,
    #[error("unknown member state {0}")]
    BadState(u8),
    #[error("compound memberlist messages do not nest")]
    NestedCompound,
    #[error("{0} trailing bytes after memberlist message")]
    Trailing(usize),
}

// memberlist's messageType numbers (net.go).
const T_PING: u8 = 0;
const T_INDIRECT: u8 = 1;
const T_ACK: u8 = 2;
const T_SUSPECT: u8 = 3;
const T_ALIVE: u8 = 4;
const T_DEAD: u8 = 5;
const T_PUSHPULL: u8 = 6;
const T_COMPOUND: u8 = 7;
const T_NACK: u8 = 11;

/// Bytes a compound adds before its parts (type, count) and per part (length).
const COMPOUND_HEADER: usize = 2;
const COMPOUND_PER_PART: usize = 2;

fn put_str(out: &mut Vec<u8>, s: &str) {
    // K8s node names are at most 253 bytes; cut at a char boundary just in case.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn ip(&mut self) -> Result<Ipv4Addr, DecodeError> {
        let s = self.take(4)?;
        Ok(Ipv4Addr::new(s[0], s[1], s[2], s[3]))
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError::BadName)
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }
}

impl Msg {
    /// Short lower-case name for logs (`ping`, `ack`, `suspect`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Ping { .. } => "ping",
            Msg::IndirectPing { .. } => "indirect-ping",
            Msg::Ack { .. } => "ack",
            Msg::Nack { .. } => "nack",
            Msg::Suspect { .. } => "suspect",
            Msg::Alive { .. } => "alive",
            Msg::Dead { .. } => "dead",
            Msg::PushPull { .. } => "push-pull",
            Msg::Compound(_) => "compound",
        }
    }

    /// The UDP payload. Infallible; a compound keeps at most 255 parts (the
    /// agent never builds more: gossip fits in `udp_buffer_size`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Msg::Ping {
                seq,
                target,
                source,
                source_addr,
            } => {
                out.push(T_PING);
                out.extend_from_slice(&seq.to_be_bytes());
                put_str(out, target);
                put_str(out, source);
                out.extend_from_slice(&source_addr.octets());
            }
            Msg::IndirectPing {
                seq,
                target,
                target_addr,
                source,
                source_addr,
                nack,
            } => {
                out.push(T_INDIRECT);
                out.extend_from_slice(&seq.to_be_bytes());
                put_str(out, target);
                out.extend_from_slice(&target_addr.octets());
                put_str(out, source);
                out.extend_from_slice(&source_addr.octets());
                out.push(u8::from(*nack));
            }
            Msg::Ack { seq } => {
                out.push(T_ACK);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Msg::Nack { seq } => {
                out.push(T_NACK);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Msg::Suspect {
                incarnation,
                node,
                from,
            }
            | Msg::Dead {
                incarnation,
                node,
                from,
            } => {
                out.push(if matches!(self, Msg::Suspect { .. }) {
                    T_SUSPECT
                } else {
                    T_DEAD
                });
                out.extend_from_slice(&incarnation.to_be_bytes());
                put_str(out, node);
                put_str(out, from);
            }
            Msg::Alive {
                incarnation,
                node,
                addr,
            } => {
                out.push(T_ALIVE);
                out.extend_from_slice(&incarnation.to_be_bytes());
                put_str(out, node);
                out.extend_from_slice(&addr.octets());
            }
            Msg::PushPull {
                join,
                reply,
                states,
            } => {
                out.push(T_PUSHPULL);
                out.push(u8::from(*join) | (u8::from(*reply) << 1));
                let n = states.len().min(u16::MAX as usize);
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for s in &states[..n] {
                    put_str(out, &s.name);
                    out.extend_from_slice(&s.addr.octets());
                    out.extend_from_slice(&s.incarnation.to_be_bytes());
                    out.push(s.state.code());
                }
            }
            Msg::Compound(parts) => {
                out.push(T_COMPOUND);
                let parts: Vec<Vec<u8>> = parts
                    .iter()
                    .filter(|m| !matches!(m, Msg::Compound(_)))
                    .take(255)
                    .map(|m| m.encode())
                    .collect();
                out.push(parts.len() as u8);
                for p in &parts {
                    out.extend_from_slice(&(p.len().min(u16::MAX as usize) as u16).to_be_bytes());
                }
                for p in &parts {
                    out.extend_from_slice(p);
                }
            }
        }
    }

    /// Parses a payload produced by [`Msg::encode`]; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Msg, DecodeError> {
        Self::decode_inner(bytes, true)
    }

    fn decode_inner(bytes: &[u8], top: bool) -> Result<Msg, DecodeError> {
        let mut r = Reader { b: bytes, at: 0 };
        let msg = match r.u8()? {
            T_PING => Msg::Ping {
                seq: r.u32()?,
                target: r.string()?,
                source: r.string()?,
                source_addr: r.ip()?,
            },
            T_INDIRECT => Msg::IndirectPing {
                seq: r.u32()?,
                target: r.string()?,
                target_addr: r.ip()?,
                source: r.string()?,
                source_addr: r.ip()?,
                nack: r.bool()?,
            },
            T_ACK => Msg::Ack { seq: r.u32()? },
            T_NACK => Msg::Nack { seq: r.u32()? },
            T_SUSPECT => Msg::Suspect {
                incarnation: r.u32()?,
                node: r.string()?,
                from: r.string()?,
            },
            T_DEAD => Msg::Dead {
                incarnation: r.u32()?,
                node: r.string()?,
                from: r.string()?,
            },
            T_ALIVE => Msg::Alive {
                incarnation: r.u32()?,
                node: r.string()?,
                addr: r.ip()?,
            },
            T_PUSHPULL => {
                let flags = r.u8()?;
                let n = r.u16()? as usize;
                let mut states = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let name = r.string()?;
                    let addr = r.ip()?;
                    let incarnation = r.u32()?;
                    let code = r.u8()?;
                    let state = MemberState::from_code(code).ok_or(DecodeError::BadState(code))?;
                    states.push(PushState {
                        name,
                        addr,
                        incarnation,
                        state,
                    });
                }
                Msg::PushPull {
                    join: flags & 1 != 0,
                    reply: flags & 2 != 0,
                    states,
                }
            }
            T_COMPOUND => {
                if !top {
                    return Err(DecodeError::NestedCompound);
                }
                let n = r.u8()? as usize;
                let mut lens = Vec::with_capacity(n);
                for _ in 0..n {
                    lens.push(r.u16()? as usize);
                }
                let mut parts = Vec::with_capacity(n);
                for len in lens {
                    parts.push(Self::decode_inner(r.take(len)?, false)?);
                }
                Msg::Compound(parts)
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        let rest = bytes.len() - r.at;
        if rest != 0 {
            return Err(DecodeError::Trailing(rest));
        }
        Ok(msg)
    }
}

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
        node: String,
        generation: u64,
    },
    GossipTick,
    PushPullTick,
    LeaveTimeout,
}

/// What Antrea's `cluster.go` reacts to (memberlist `NotifyJoin`/`NotifyLeave`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    Join(String),
    /// Dead or Left.
    Leave(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send { to: Ipv4Addr, msg: Msg },
    Timer { at: SimTime, timer: AgentTimer },
    Event(MemberEvent),
}

/// `util.go suspicionTimeout`: `mult × max(1, log10(max(1, n))) × interval`,
/// with the scale kept to three decimals as memberlist does.
pub fn suspicion_timeout(mult: u32, n: usize, interval: SimDuration) -> SimDuration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let scale_milli = (scale * 1000.0) as u64;
    SimDuration(u64::from(mult) * scale_milli * interval.0 / 1000)
}

/// `suspicion.go remainingSuspicionTime`: time left after `elapsed` with `c`
/// confirmations out of `k` expected. Negative (as `None`) means "now".
pub fn remaining_suspicion_time(
    c: u32,
    k: u32,
    elapsed: SimDuration,
    min: SimDuration,
    max: SimDuration,
) -> Option<SimDuration> {
    let frac = ((c as f64) + 1.0).ln() / ((k as f64) + 1.0).ln();
    let max_s = max.0 as f64 / 1e9;
    let min_s = min.0 as f64 / 1e9;
    let raw = max_s - frac * (max_s - min_s);
    let ms = (1000.0 * raw).floor();
    let timeout = if ms <= 0.0 {
        SimDuration::ZERO
    } else {
        SimDuration::from_millis(ms as u64)
    };
    let timeout = timeout.max(min);
    (timeout.0 > elapsed.0).then(|| SimDuration(timeout.0 - elapsed.0))
}

/// `util.go retransmitLimit`: `mult × ceil(log10(n + 1))`; the ceiling is the
/// number of decimal digits of n, so this stays in integers.
pub fn retransmit_limit(mult: u32, n: usize) -> u32 {
    let mut digits = 0;
    let mut v = n;
    while v > 0 {
        digits += 1;
        v /= 10;
    }
    mult * digits
}

/// `util.go pushPullScale`: the interval grows with log2(n) above 32 members.
pub fn push_pull_scale(interval: SimDuration, n: usize) -> SimDuration {
    const THRESHOLD: usize = 32;
    if n <= THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (THRESHOLD as f64).log2()).ceil() as u64 + 1;
    SimDuration(interval.0 * mult)
}

#[derive(Clone, Debug)]
struct Suspicion {
    confirmations: Vec<String>,
    n: u32,
    k: u32,
    min: SimDuration,
    max: SimDuration,
    start: SimTime,
    generation: u64,
}

#[derive(Clone, Debug)]
struct Node {
    member: Member,
    suspicion: Option<Suspicion>,
}

#[derive(Clone, Debug)]
struct Probe {
    seq: u32,
    target: String,
    target_incarnation: u32,
    deadline: SimTime,
    expected_nacks: u32,
    nacks: u32,
}

#[derive(Clone, Debug)]
struct Relay {
    local_seq: u32,
    origin_seq: u32,
    origin: Ipv4Addr,
    nack: bool,
}

#[derive(Clone, Debug)]
struct Broadcast {
    /// The node the message is about: a newer broadcast about it replaces this one.
    node: String,
    msg: Msg,
    len: usize,
    transmits: u32,
    id: u64,
    /// Our own leave: when it finishes the agent shuts down.
    leave: bool,
}

/// One node's memberlist instance.
#[derive(Clone, Debug)]
pub struct Agent {
    name: String,
    addr: Ipv4Addr,
    cfg: MemberConfig,
    rng: SimRng,
    incarnation: u32,
    seq: u32,
    nodes: IndexMap<String, Node>,
    probe_order: Vec<String>,
    probe_index: usize,
    probe: Option<Probe>,
    tick_pending: bool,
    relays: Vec<Relay>,
    queue: Vec<Broadcast>,
    next_broadcast_id: u64,
    awareness: u32,
    next_generation: u64,
    started: bool,
    left: bool,
    shutdown: bool,
}

impl Agent {
    /// An agent that does nothing until [`Agent::join`] starts it (memberlist
    /// `Create`: incarnation 1, self Alive).
    pub fn new(name: &str, addr: Ipv4Addr, cfg: MemberConfig, rng: SimRng) -> Agent {
        Agent {
            name: name.to_string(),
            addr,
            cfg,
            rng,
            incarnation: 0,
            seq: 0,
            nodes: IndexMap::new(),
            probe_order: Vec::new(),
            probe_index: 0,
            probe: None,
            tick_pending: false,
            relays: Vec::new(),
            queue: Vec::new(),
            next_broadcast_id: 0,
            awareness: 0,
            next_generation: 0,
            started: false,
            left: false,
            shutdown: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
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
        self.awareness
    }

    /// Names of Alive and Suspect members, self included, sorted: memberlist's
    /// `Members()`, which Antrea's `AliveNodes()` (and so the hash ring) uses.
    pub fn alive_members(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .nodes
            .values()
            .filter(|n| !n.member.state.dead_or_left())
            .map(|n| n.member.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Every member known (dead ones until forgotten), sorted by name.
    pub fn members(&self) -> Vec<Member> {
        let mut v: Vec<Member> = self.nodes.values().map(|n| n.member.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.nodes.get(name).map(|n| &n.member)
    }

    /// Starts the agent if needed and push/pulls with every peer (Antrea joins
    /// every Linux Node on start). Peers named like us are skipped.
    pub fn join(&mut self, now: SimTime, peers: &[(String, Ipv4Addr)]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || self.left {
            return out;
        }
        self.start(now, &mut out);
        for (name, addr) in peers {
            if *name != self.name {
                self.send_push_pull(*addr, true, false, &mut out);
            }
        }
        out
    }

    /// Starts the agent as if it had been running in a converged cluster
    /// (a scenario's `warmStart`): every peer is already an Alive member at
    /// incarnation 1 (what each peer's own start gives it), and nothing is
    /// sent: no push/pull with everyone, no queued broadcasts. Timers start
    /// as in [`Agent::join`], so probing and gossip go on as usual.
    pub fn start_converged(&mut self, now: SimTime, peers: &[(String, Ipv4Addr)]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || self.left {
            return out;
        }
        self.start(now, &mut out);
        for (name, addr) in peers {
            if *name == self.name || self.nodes.contains_key(name) {
                continue;
            }
            self.insert_node(now, name, *addr);
            let n = self.nodes.get_mut(name).expect("just inserted");
            n.member.incarnation = 1;
            n.member.state = MemberState::Alive;
        }
        // Our own Alive was queued by `start`; in a converged cluster every
        // peer has long heard it.
        self.queue.clear();
        out
    }

    /// Antrea's `RejoinNodes` (every 60 s): join the K8s Nodes that are not
    /// alive in our view, so partitions heal after dead nodes were forgotten.
    pub fn rejoin(&mut self, now: SimTime, peers: &[(String, Ipv4Addr)]) -> Vec<Action> {
        let alive = self.alive_members();
        let missing: Vec<(String, Ipv4Addr)> = peers
            .iter()
            .filter(|(n, _)| !alive.contains(n))
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
        let d = Msg::Dead {
            incarnation: self.incarnation,
            node: self.name.clone(),
            from: self.name.clone(),
        };
        self.dead_node(now, d, &mut out);
        let any_alive = self
            .nodes
            .values()
            .any(|n| n.member.name != self.name && !n.member.state.dead_or_left());
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
            AgentTimer::ProbeTick => {
                out.push(Action::Timer {
                    at: now + self.cfg.probe_interval,
                    timer: AgentTimer::ProbeTick,
                });
                if let Some(p) = &self.probe {
                    if p.deadline <= now {
                        self.finish_failed_probe(now, &mut out);
                    } else {
                        self.tick_pending = true;
                        return out;
                    }
                }
                self.probe_next(now, &mut out);
            }
            AgentTimer::ProbeTimeout { seq } => {
                if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
                    self.send_indirect(&mut out);
                }
            }
            AgentTimer::ProbeDeadline { seq } => {
                if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
                    self.finish_failed_probe(now, &mut out);
                    if self.tick_pending {
                        self.probe_next(now, &mut out);
                    }
                }
            }
            AgentTimer::RelayTimeout { seq } => {
                if let Some(i) = self.relays.iter().position(|r| r.local_seq == seq) {
                    let r = self.relays.remove(i);
                    if r.nack {
                        self.send_msg(r.origin, Msg::Nack { seq: r.origin_seq }, &mut out);
                    }
                }
            }
            AgentTimer::Suspicion { node, generation } => {
                let fire = self.nodes.get(&node).and_then(|n| {
                    let live = n.member.state == MemberState::Suspect
                        && n.suspicion.as_ref().map(|s| s.generation) == Some(generation);
                    live.then_some(n.member.incarnation)
                });
                if let Some(incarnation) = fire {
                    let d = Msg::Dead {
                        incarnation,
                        node,
                        from: self.name.clone(),
                    };
                    self.dead_node(now, d, &mut out);
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
                let me = self.name.clone();
                let picked = self.k_random(1, |n| n.name != me && n.state == MemberState::Alive);
                if let Some(addr) = picked.first().map(|m| m.addr) {
                    self.send_push_pull(addr, false, false, &mut out);
                }
            }
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
            } => {
                if !target.is_empty() && target != self.name {
                    return;
                }
                let to = if source_addr.is_unspecified() {
                    from
                } else {
                    source_addr
                };
                self.send_msg(to, Msg::Ack { seq }, out);
            }
            Msg::IndirectPing {
                seq,
                target,
                target_addr,
                source_addr,
                nack,
                ..
            } => {
                let local_seq = self.next_seq();
                self.relays.push(Relay {
                    local_seq,
                    origin_seq: seq,
                    origin: if source_addr.is_unspecified() {
                        from
                    } else {
                        source_addr
                    },
                    nack,
                });
                let ping = Msg::Ping {
                    seq: local_seq,
                    target,
                    source: self.name.clone(),
                    source_addr: self.addr,
                };
                self.send_msg(target_addr, ping, out);
                out.push(Action::Timer {
                    at: now + self.cfg.probe_timeout,
                    timer: AgentTimer::RelayTimeout { seq: local_seq },
                });
            }
            Msg::Ack { seq } => {
                if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
                    self.probe = None;
                    self.apply_awareness(-1);
                    if self.tick_pending {
                        self.probe_next(now, out);
                    }
                } else if let Some(i) = self.relays.iter().position(|r| r.local_seq == seq) {
                    let r = self.relays.remove(i);
                    self.send_msg(r.origin, Msg::Ack { seq: r.origin_seq }, out);
                }
            }
            Msg::Nack { seq } => {
                if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
                    p.nacks += 1;
                }
            }
            m @ Msg::Alive { .. } => self.alive_node(now, m, false, out),
            m @ Msg::Suspect { .. } => self.suspect_node(now, m, out),
            m @ Msg::Dead { .. } => self.dead_node(now, m, out),
            Msg::PushPull {
                join,
                reply,
                states,
            } => {
                if !reply {
                    // The responder sends its state before merging (net.go handleConn).
                    self.send_push_pull(from, join, true, out);
                }
                self.merge_state(now, states, out);
            }
            Msg::Compound(_) => {}
        }
    }

    fn start(&mut self, now: SimTime, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        self.incarnation += 1;
        let a = Msg::Alive {
            incarnation: self.incarnation,
            node: self.name.clone(),
            addr: self.addr,
        };
        self.alive_node(now, a, true, out);
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

    fn apply_awareness(&mut self, delta: i64) {
        let max = i64::from(self.cfg.awareness_max_multiplier.max(1)) - 1;
        self.awareness = (i64::from(self.awareness) + delta).clamp(0, max) as u32;
    }

    fn local_states(&self) -> Vec<PushState> {
        self.nodes
            .values()
            .map(|n| PushState {
                name: n.member.name.clone(),
                addr: n.member.addr,
                incarnation: n.member.incarnation,
                state: n.member.state,
            })
            .collect()
    }

    fn send_push_pull(&mut self, to: Ipv4Addr, join: bool, reply: bool, out: &mut Vec<Action>) {
        out.push(Action::Send {
            to,
            msg: Msg::PushPull {
                join,
                reply,
                states: self.local_states(),
            },
        });
    }

    /// `encodeAndSendMsg`/`sendMsg`: piggyback whatever broadcasts fit.
    fn send_msg(&mut self, to: Ipv4Addr, msg: Msg, out: &mut Vec<Action>) {
        let avail = self
            .cfg
            .udp_buffer_size
            .saturating_sub(msg.encode().len() + COMPOUND_HEADER + COMPOUND_PER_PART);
        let extra = self.get_broadcasts(avail);
        let msg = if extra.is_empty() {
            msg
        } else {
            let mut parts = Vec::with_capacity(extra.len() + 1);
            parts.push(msg);
            parts.extend(extra);
            Msg::Compound(parts)
        };
        out.push(Action::Send { to, msg });
    }

    /// `kRandomNodes`: up to `k` distinct random members passing `keep`.
    fn k_random(&mut self, k: usize, keep: impl Fn(&Member) -> bool) -> Vec<Member> {
        let picks = self.k_random_positions(k, &keep);
        if picks.is_empty() {
            return Vec::new();
        }
        // Positions are in the probe-ordered list of members passing `keep`;
        // walk it only as far as the furthest pick.
        let last = picks.iter().copied().max().unwrap_or(0);
        let mut out: Vec<Option<Member>> = vec![None; picks.len()];
        let passing = self
            .probe_order
            .iter()
            .filter_map(|n| self.nodes.get(n))
            .map(|n| &n.member)
            .filter(|m| keep(m));
        for (pos, m) in passing.enumerate().take(last + 1) {
            for (slot, p) in picks.iter().enumerate() {
                if *p == pos {
                    out[slot] = Some(m.clone());
                }
            }
        }
        out.into_iter().flatten().collect()
    }

    /// The random draws of [`Agent::k_random`]: a partial Fisher-Yates
    /// shuffle of the positions `0..count` of the members passing `keep`,
    /// kept sparse (only swapped positions are stored). Returns the chosen
    /// positions in pick order. Counting needs no probe order (`nodes` and
    /// `probe_order` hold the same names), so an agent with nothing to
    /// gossip pays a scan of its members, not a list of clones.
    fn k_random_positions(&mut self, k: usize, keep: &impl Fn(&Member) -> bool) -> Vec<usize> {
        let count = self.nodes.values().filter(|n| keep(&n.member)).count();
        let take = k.min(count);
        let mut swapped: Vec<(usize, usize)> = Vec::with_capacity(2 * take);
        let at = |sw: &[(usize, usize)], p: usize| {
            sw.iter()
                .rev()
                .find(|(q, _)| *q == p)
                .map_or(p, |(_, v)| *v)
        };
        let mut picks = Vec::with_capacity(take);
        for i in 0..take {
            let j = i + below(&mut self.rng, (count - i) as u64) as usize;
            let (vi, vj) = (at(&swapped, i), at(&swapped, j));
            swapped.push((i, vj));
            swapped.push((j, vi));
            picks.push(vj);
        }
        picks
    }

    fn probe_next(&mut self, now: SimTime, out: &mut Vec<Action>) {
        self.tick_pending = false;
        let mut checked = 0;
        loop {
            if checked >= self.probe_order.len() {
                return;
            }
            if self.probe_index >= self.probe_order.len() {
                self.reset_nodes(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let name = self.probe_order[self.probe_index].clone();
            self.probe_index += 1;
            let skip = name == self.name
                || self
                    .nodes
                    .get(&name)
                    .is_none_or(|n| n.member.state.dead_or_left());
            if skip {
                checked += 1;
                continue;
            }
            self.probe_node(now, &name, out);
            return;
        }
    }

    /// `resetNodes`: forget members dead for longer than gossip-to-the-dead,
    /// then reshuffle the probe list.
    fn reset_nodes(&mut self, now: SimTime) {
        let forget: Vec<String> = self
            .nodes
            .values()
            .filter(|n| {
                n.member.state.dead_or_left()
                    && now.since(n.member.state_change) > self.cfg.gossip_to_the_dead_time
            })
            .map(|n| n.member.name.clone())
            .collect();
        for name in &forget {
            self.nodes.shift_remove(name);
        }
        self.probe_order.retain(|n| !forget.contains(n));
        let len = self.probe_order.len();
        for i in (1..len).rev() {
            let j = below(&mut self.rng, (i + 1) as u64) as usize;
            self.probe_order.swap(i, j);
        }
    }

    fn probe_node(&mut self, now: SimTime, name: &str, out: &mut Vec<Action>) {
        let Some(node) = self.nodes.get(name) else {
            return;
        };
        let target = node.member.clone();
        let interval = SimDuration(self.cfg.probe_interval.0 * (u64::from(self.awareness) + 1));
        let seq = self.next_seq();
        self.probe = Some(Probe {
            seq,
            target: target.name.clone(),
            target_incarnation: target.incarnation,
            deadline: now + interval,
            expected_nacks: 0,
            nacks: 0,
        });
        let ping = Msg::Ping {
            seq,
            target: target.name.clone(),
            source: self.name.clone(),
            source_addr: self.addr,
        };
        if target.state == MemberState::Alive {
            self.send_msg(target.addr, ping, out);
        } else {
            // Give a suspect the chance to refute at once (probeNode).
            let s = Msg::Suspect {
                incarnation: target.incarnation,
                node: target.name.clone(),
                from: self.name.clone(),
            };
            out.push(Action::Send {
                to: target.addr,
                msg: Msg::Compound(vec![ping, s]),
            });
        }
        out.push(Action::Timer {
            at: now + self.cfg.probe_timeout,
            timer: AgentTimer::ProbeTimeout { seq },
        });
        out.push(Action::Timer {
            at: now + interval,
            timer: AgentTimer::ProbeDeadline { seq },
        });
    }

    fn send_indirect(&mut self, out: &mut Vec<Action>) {
        let Some(p) = self.probe.clone() else {
            return;
        };
        let Some(target_addr) = self.nodes.get(&p.target).map(|n| n.member.addr) else {
            return;
        };
        let me = self.name.clone();
        let helpers = self.k_random(self.cfg.indirect_checks, |m| {
            m.name != me && m.name != p.target && m.state == MemberState::Alive
        });
        for h in helpers {
            if let Some(pr) = self.probe.as_mut() {
                pr.expected_nacks += 1;
            }
            let ind = Msg::IndirectPing {
                seq: p.seq,
                target: p.target.clone(),
                target_addr,
                source: self.name.clone(),
                source_addr: self.addr,
                nack: true,
            };
            self.send_msg(h.addr, ind, out);
        }
    }

    fn finish_failed_probe(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let Some(p) = self.probe.take() else {
            return;
        };
        let delta = if p.expected_nacks > 0 {
            i64::from(p.expected_nacks.saturating_sub(p.nacks))
        } else {
            1
        };
        self.apply_awareness(delta);
        let s = Msg::Suspect {
            incarnation: p.target_incarnation,
            node: p.target,
            from: self.name.clone(),
        };
        self.suspect_node(now, s, out);
    }

    /// Queues a broadcast; it replaces any queued one about the same node.
    fn broadcast(&mut self, node: &str, msg: Msg, leave: bool) {
        let mut leave_finished = false;
        self.queue.retain(|b| {
            let same = b.node == node;
            leave_finished |= same && b.leave;
            !same
        });
        if leave_finished && !leave {
            self.shutdown_after_leave();
        }
        let len = msg.encode().len();
        self.next_broadcast_id += 1;
        self.queue.push(Broadcast {
            node: node.to_string(),
            msg,
            len,
            transmits: 0,
            id: self.next_broadcast_id,
            leave,
        });
    }

    fn shutdown_after_leave(&mut self) {
        if self.left {
            self.shutdown = true;
        }
    }

    /// `TransmitLimitedQueue.GetBroadcasts`: least-sent first, then largest,
    /// then newest; each at most once per call; drop at the retransmit limit.
    fn get_broadcasts(&mut self, limit: usize) -> Vec<Msg> {
        if self.queue.is_empty() {
            return Vec::new();
        }
        let max_transmits = retransmit_limit(self.cfg.retransmit_mult, self.nodes.len());
        self.queue.sort_by(|a, b| {
            a.transmits
                .cmp(&b.transmits)
                .then(b.len.cmp(&a.len))
                .then(b.id.cmp(&a.id))
        });
        let mut used = 0;
        let mut sent = Vec::new();
        let mut keep = Vec::with_capacity(self.queue.len());
        let mut leave_done = false;
        for mut b in std::mem::take(&mut self.queue) {
            if used + COMPOUND_PER_PART + b.len <= limit {
                used += COMPOUND_PER_PART + b.len;
                sent.push(b.msg.clone());
                b.transmits += 1;
                if b.transmits >= max_transmits {
                    leave_done |= b.leave;
                    continue;
                }
            }
            keep.push(b);
        }
        self.queue = keep;
        if leave_done {
            self.shutdown_after_leave();
        }
        sent
    }

    fn gossip(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let me = self.name.clone();
        let dead_time = self.cfg.gossip_to_the_dead_time;
        let keep = |m: &Member| {
            m.name != me
                && match m.state {
                    MemberState::Alive | MemberState::Suspect => true,
                    MemberState::Dead => now.since(m.state_change) <= dead_time,
                    MemberState::Left => false,
                }
        };
        if self.queue.is_empty() {
            // memberlist picks its targets before finding it has nothing to
            // send; make the same draws, skip fetching the members.
            self.k_random_positions(self.cfg.gossip_nodes, &keep);
            return;
        }
        let targets = self.k_random(self.cfg.gossip_nodes, keep);
        let avail = self.cfg.udp_buffer_size.saturating_sub(COMPOUND_HEADER);
        for t in targets {
            let mut msgs = self.get_broadcasts(avail);
            if msgs.is_empty() {
                return;
            }
            let msg = if msgs.len() == 1 {
                msgs.remove(0)
            } else {
                Msg::Compound(msgs)
            };
            out.push(Action::Send { to: t.addr, msg });
        }
    }

    /// Adds an unknown node as Dead (so that its first Alive is a Join) at a
    /// random place in the probe list (`aliveNode` + `randomOffset`).
    fn insert_node(&mut self, now: SimTime, name: &str, addr: Ipv4Addr) {
        self.nodes.insert(
            name.to_string(),
            Node {
                member: Member {
                    name: name.to_string(),
                    addr,
                    incarnation: 0,
                    state: MemberState::Dead,
                    state_change: now,
                },
                suspicion: None,
            },
        );
        let n = self.probe_order.len();
        let offset = if n == 0 {
            0
        } else {
            below(&mut self.rng, n as u64) as usize
        };
        self.probe_order.push(name.to_string());
        self.probe_order.swap(offset, n);
    }

    fn refute(&mut self, accused: u32) {
        self.incarnation += 1;
        if accused >= self.incarnation {
            self.incarnation = accused + 1;
        }
        let inc = self.incarnation;
        if let Some(me) = self.nodes.get_mut(&self.name) {
            me.member.incarnation = inc;
        }
        self.apply_awareness(1);
        let a = Msg::Alive {
            incarnation: inc,
            node: self.name.clone(),
            addr: self.addr,
        };
        let name = self.name.clone();
        self.broadcast(&name, a, false);
    }

    fn alive_node(&mut self, now: SimTime, msg: Msg, bootstrap: bool, out: &mut Vec<Action>) {
        let Msg::Alive {
            incarnation,
            node,
            addr,
        } = msg
        else {
            return;
        };
        let is_local = node == self.name;
        if self.left && is_local {
            return;
        }
        let mut updates_node = false;
        match self.nodes.get(&node) {
            None => self.insert_node(now, &node, addr),
            Some(n) if n.member.addr != addr => {
                let reclaim = now.since(n.member.state_change) > self.cfg.dead_node_reclaim_time;
                if n.member.state == MemberState::Left
                    || (n.member.state == MemberState::Dead && reclaim)
                {
                    updates_node = true;
                } else {
                    return; // address conflict: keep the one we know
                }
            }
            Some(_) => {}
        }
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if incarnation <= n.member.incarnation && !is_local && !updates_node {
            return;
        }
        if incarnation < n.member.incarnation && is_local {
            return;
        }
        n.suspicion = None;
        let old = n.member.state;
        if !bootstrap && is_local {
            if incarnation == n.member.incarnation {
                return;
            }
            self.refute(incarnation);
        } else {
            n.member.incarnation = incarnation;
            n.member.addr = addr;
            if n.member.state != MemberState::Alive {
                n.member.state = MemberState::Alive;
                n.member.state_change = now;
            }
            let a = Msg::Alive {
                incarnation,
                node: node.clone(),
                addr,
            };
            self.broadcast(&node, a, false);
        }
        if old.dead_or_left() {
            out.push(Action::Event(MemberEvent::Join(node)));
        }
    }

    fn suspect_node(&mut self, now: SimTime, msg: Msg, out: &mut Vec<Action>) {
        let Msg::Suspect {
            incarnation,
            ref node,
            ref from,
        } = msg
        else {
            return;
        };
        let node = node.clone();
        let from = from.clone();
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if incarnation < n.member.incarnation {
            return;
        }
        if let Some(s) = n.suspicion.as_mut() {
            // Confirmation of an existing suspicion (suspicion.go Confirm).
            if s.n >= s.k || s.confirmations.contains(&from) {
                return;
            }
            s.confirmations.push(from);
            s.n += 1;
            let remaining = remaining_suspicion_time(s.n, s.k, now.since(s.start), s.min, s.max);
            self.next_generation += 1;
            s.generation = self.next_generation;
            let generation = s.generation;
            self.broadcast(&node, msg, false);
            match remaining {
                Some(d) => out.push(Action::Timer {
                    at: now + d,
                    timer: AgentTimer::Suspicion { node, generation },
                }),
                None => {
                    let d = Msg::Dead {
                        incarnation: self.nodes[&node].member.incarnation,
                        node,
                        from: self.name.clone(),
                    };
                    self.dead_node(now, d, out);
                }
            }
            return;
        }
        if n.member.state != MemberState::Alive {
            return;
        }
        if node == self.name {
            self.refute(incarnation);
            return;
        }
        n.member.incarnation = incarnation;
        n.member.state = MemberState::Suspect;
        n.member.state_change = now;
        let total = self.nodes.len();
        let mut k = self.cfg.suspicion_mult.saturating_sub(2);
        if (total as i64 - 2) < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(self.cfg.suspicion_mult, total, self.cfg.probe_interval);
        let max = SimDuration(min.0 * u64::from(self.cfg.suspicion_max_timeout_mult));
        self.next_generation += 1;
        let generation = self.next_generation;
        if let Some(n) = self.nodes.get_mut(&node) {
            n.suspicion = Some(Suspicion {
                confirmations: vec![from],
                n: 0,
                k,
                min,
                max,
                start: now,
                generation,
            });
        }
        self.broadcast(&node, msg, false);
        let timeout = if k < 1 { min } else { max };
        out.push(Action::Timer {
            at: now + timeout,
            timer: AgentTimer::Suspicion { node, generation },
        });
    }

    fn dead_node(&mut self, now: SimTime, msg: Msg, out: &mut Vec<Action>) {
        let Msg::Dead {
            incarnation,
            ref node,
            ref from,
        } = msg
        else {
            return;
        };
        let node = node.clone();
        let left = node == *from;
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if incarnation < n.member.incarnation {
            return;
        }
        n.suspicion = None;
        if n.member.state.dead_or_left() {
            return;
        }
        let is_local = node == self.name;
        if is_local && !self.left {
            self.refute(incarnation);
            return;
        }
        n.member.incarnation = incarnation;
        n.member.state = if left {
            MemberState::Left
        } else {
            MemberState::Dead
        };
        n.member.state_change = now;
        self.broadcast(&node, msg, is_local);
        out.push(Action::Event(MemberEvent::Leave(node)));
    }

    fn merge_state(&mut self, now: SimTime, states: Vec<PushState>, out: &mut Vec<Action>) {
        for s in states {
            match s.state {
                MemberState::Alive => {
                    let a = Msg::Alive {
                        incarnation: s.incarnation,
                        node: s.name,
                        addr: s.addr,
                    };
                    self.alive_node(now, a, false, out);
                }
                MemberState::Left => {
                    let d = Msg::Dead {
                        incarnation: s.incarnation,
                        node: s.name.clone(),
                        from: s.name,
                    };
                    self.dead_node(now, d, out);
                }
                MemberState::Dead | MemberState::Suspect => {
                    // A remote Dead is only a suspicion for us (mergeState).
                    let m = Msg::Suspect {
                        incarnation: s.incarnation,
                        node: s.name,
                        from: self.name.clone(),
                    };
                    self.suspect_node(now, m, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use std::collections::BTreeMap;

    const SEC: u64 = 1_000_000_000;

    fn t(secs: u64) -> SimTime {
        SimTime(secs * SEC)
    }

    enum Ev {
        Deliver {
            to: usize,
            from: Ipv4Addr,
            bytes: Vec<u8>,
        },
        Timer {
            node: usize,
            epoch: u32,
            timer: AgentTimer,
        },
    }

    /// A tiny network: fixed latency, whole nodes can be powered off, single
    /// directions can be cut. Messages travel encoded, as they would over UDP.
    struct Net {
        seed: u64,
        names: Vec<String>,
        addrs: Vec<Ipv4Addr>,
        agents: Vec<Option<Agent>>,
        epoch: Vec<u32>,
        queue: BTreeMap<(SimTime, u64), Ev>,
        next: u64,
        now: SimTime,
        latency: SimDuration,
        cut: Vec<(usize, usize)>,
        events: Vec<(SimTime, usize, MemberEvent)>,
        sent: Vec<(usize, &'static str)>,
        leave_states: Vec<(usize, String, Option<MemberState>)>,
    }

    impl Net {
        fn new(n: usize, seed: u64) -> Net {
            let mut net = Net {
                seed,
                names: (0..n).map(|i| format!("node-{i}")).collect(),
                addrs: (0..n)
                    .map(|i| Ipv4Addr::new(10, 0, 0, 10 + i as u8))
                    .collect(),
                agents: (0..n).map(|_| None).collect(),
                epoch: vec![0; n],
                queue: BTreeMap::new(),
                next: 0,
                now: SimTime::ZERO,
                latency: SimDuration::from_micros(500),
                cut: Vec::new(),
                events: Vec::new(),
                sent: Vec::new(),
                leave_states: Vec::new(),
            };
            for i in 0..n {
                net.power_on(i);
            }
            net
        }

        fn peers(&self) -> Vec<(String, Ipv4Addr)> {
            self.names
                .iter()
                .cloned()
                .zip(self.addrs.iter().copied())
                .collect()
        }

        fn power_on(&mut self, i: usize) {
            self.epoch[i] += 1;
            let rng = stream(
                self.seed,
                &format!("memberlist/{}/{}", self.names[i], self.epoch[i]),
            );
            let mut a = Agent::new(&self.names[i], self.addrs[i], MemberConfig::default(), rng);
            let acts = a.join(self.now, &self.peers());
            self.agents[i] = Some(a);
            self.apply(i, acts);
        }

        fn power_off(&mut self, i: usize) {
            self.agents[i] = None;
            self.epoch[i] += 1;
        }

        fn push(&mut self, at: SimTime, ev: Ev) {
            self.next += 1;
            self.queue.insert((at, self.next), ev);
        }

        fn apply(&mut self, i: usize, acts: Vec<Action>) {
            for a in acts {
                match a {
                    Action::Send { to, msg } => {
                        self.sent.push((i, msg.kind()));
                        if let Msg::Compound(parts) = &msg {
                            for p in parts {
                                self.sent.push((i, p.kind()));
                            }
                        }
                        let Some(j) = self.addrs.iter().position(|x| *x == to) else {
                            continue;
                        };
                        if self.cut.contains(&(i, j)) {
                            continue;
                        }
                        let at = self.now + self.latency;
                        let ev = Ev::Deliver {
                            to: j,
                            from: self.addrs[i],
                            bytes: msg.encode(),
                        };
                        self.push(at, ev);
                    }
                    Action::Timer { at, timer } => {
                        assert!(at >= self.now, "timer in the past");
                        let ev = Ev::Timer {
                            node: i,
                            epoch: self.epoch[i],
                            timer,
                        };
                        self.push(at, ev);
                    }
                    Action::Event(e) => {
                        if let MemberEvent::Leave(n) = &e {
                            // Dead or Left, as the agent saw it at that moment.
                            let st = self.agents[i].as_ref().and_then(|a| a.member(n));
                            self.leave_states.push((i, n.clone(), st.map(|m| m.state)));
                        }
                        self.events.push((self.now, i, e));
                    }
                }
            }
        }

        fn run_until(&mut self, end: SimTime) {
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > end {
                    break;
                }
                let ((at, _), ev) = entry.remove_entry();
                self.now = at;
                match ev {
                    Ev::Deliver { to, from, bytes } => {
                        let msg = Msg::decode(&bytes).expect("agents send valid messages");
                        if let Some(a) = self.agents[to].as_mut() {
                            let acts = a.on_message(at, from, msg);
                            self.apply(to, acts);
                        }
                    }
                    Ev::Timer { node, epoch, timer } => {
                        if epoch != self.epoch[node] {
                            continue;
                        }
                        if let Some(a) = self.agents[node].as_mut() {
                            let acts = a.on_timer(at, timer);
                            self.apply(node, acts);
                        }
                    }
                }
            }
            self.now = end;
        }

        fn agent(&self, i: usize) -> &Agent {
            self.agents[i].as_ref().expect("agent running")
        }

        /// When each observer first reported `victim` gone after `since`.
        fn leave_times(&self, victim: usize, since: SimTime) -> Vec<(usize, SimTime)> {
            let mut v: Vec<(usize, SimTime)> = Vec::new();
            for (at, obs, e) in &self.events {
                if *at >= since
                    && *obs != victim
                    && *e == MemberEvent::Leave(self.names[victim].clone())
                    && !v.iter().any(|(o, _)| o == obs)
                {
                    v.push((*obs, *at));
                }
            }
            v
        }
    }

    /// Detection times (sorted) for one node powered off at 10 s in a 6-node cluster.
    fn detection(seed: u64) -> Vec<SimDuration> {
        let mut net = Net::new(6, seed);
        net.run_until(t(10));
        net.power_off(5);
        net.run_until(t(40));
        let mut d: Vec<SimDuration> = net
            .leave_times(5, t(10))
            .into_iter()
            .map(|(_, at)| at - t(10))
            .collect();
        d.sort();
        d
    }

    #[test]
    fn six_nodes_converge() {
        let mut net = Net::new(6, 1);
        net.run_until(t(3));
        for i in 0..6 {
            let a = net.agent(i);
            assert_eq!(a.alive_members(), net.names, "view of node-{i}");
            assert!(a.members().iter().all(|m| m.state == MemberState::Alive));
        }
        // Steady state: nobody is ever suspected or reported gone.
        net.run_until(t(60));
        assert!(
            net.events
                .iter()
                .all(|(_, _, e)| matches!(e, MemberEvent::Join(_)))
        );
        assert!(!net.sent.iter().any(|(_, k)| *k == "suspect"));
    }

    #[test]
    fn powered_off_node_is_declared_dead_by_everyone() {
        let mut net = Net::new(6, 7);
        net.run_until(t(10));
        net.power_off(5);
        net.run_until(t(40));
        let times = net.leave_times(5, t(10));
        assert_eq!(
            times.len(),
            5,
            "every other agent declares node-5 gone: {times:?}"
        );
        let first = times.iter().map(|x| x.1).min().unwrap() - t(10);
        let last = times.iter().map(|x| x.1).max().unwrap() - t(10);
        println!(
            "detection after power-off: first {}, last {}",
            first.human(),
            last.human()
        );
        assert!(
            net.leave_states
                .iter()
                .all(|(_, n, st)| n == "node-5" && *st == Some(MemberState::Dead))
        );
        for (obs, at) in &times {
            let d = *at - t(10);
            assert!(
                d >= SimDuration::from_secs(3) && d <= SimDuration::from_secs(20),
                "node-{obs} took {d:?}"
            );
        }
        // Nobody else was declared gone, and the dead node left every view.
        let wrong: Vec<_> = net
            .events
            .iter()
            .filter(|(_, _, e)| matches!(e, MemberEvent::Leave(n) if *n != net.names[5]))
            .collect();
        assert!(wrong.is_empty(), "false positives: {wrong:?}");
        for i in 0..5 {
            assert!(!net.agent(i).alive_members().contains(&net.names[5]));
        }
    }

    #[test]
    fn detection_is_seed_deterministic() {
        let a = detection(3);
        let b = detection(3);
        assert_eq!(a, b);
        let mut all = vec![a.clone()];
        for seed in [4, 5, 6, 8, 9] {
            let d = detection(seed);
            assert_eq!(d.len(), 5);
            println!("seed {seed}: first {:?} last {:?}", d[0], d[4]);
            assert!(d.iter().all(|x| x.0 >= 3 * SEC && x.0 <= 20 * SEC));
            all.push(d);
        }
        assert!(
            all.iter().any(|d| *d != a),
            "different seeds give different runs"
        );
    }

    /// Over many seeds: the first agent always within [3 s, 20 s]; a laggard
    /// that missed every Suspect/Dead rumour (retransmit limit 2 at six members,
    /// and gossip also goes to the suspect itself) waits out its own 18 s timer,
    /// so the bound for every agent is two probe cycles + 1 s + 18 s < 30 s.
    #[test]
    fn detection_times_over_many_seeds() {
        let mut all = Vec::new();
        for seed in 100..130 {
            let d = detection(seed);
            assert_eq!(d.len(), 5, "seed {seed}");
            assert!(d[0] >= SimDuration::from_secs(3) && d[0] <= SimDuration::from_secs(20));
            assert!(d[4] <= SimDuration::from_secs(30), "seed {seed}: {d:?}");
            println!("seed {seed}: first {} last {}", d[0].human(), d[4].human());
            all.extend(d);
        }
        let quick = all.iter().filter(|d| d.0 <= 10 * SEC).count();
        assert!(
            quick * 10 >= all.len() * 9,
            "{quick}/{} within 10 s",
            all.len()
        );
    }

    #[test]
    fn graceful_leave_is_seen_within_a_second() {
        let mut net = Net::new(6, 11);
        net.run_until(t(10));
        let acts = net.agents[5].as_mut().unwrap().leave(t(10));
        net.apply(5, acts);
        net.run_until(SimTime(11 * SEC + SEC / 2));
        let times = net.leave_times(5, t(10));
        assert_eq!(times.len(), 5, "{times:?}");
        for (obs, at) in &times {
            assert!(*at - t(10) < SimDuration::from_secs(1), "node-{obs}: {at}");
            assert_eq!(
                net.agent(*obs).member("node-5").unwrap().state,
                MemberState::Left
            );
        }
        assert!(net.agent(5).is_shut_down());
        // Left means no suspicion round: nobody ever gossiped a Suspect.
        assert!(!net.sent.iter().any(|(_, k)| *k == "suspect"));
    }

    /// A peer can miss the leave rumour too; it then learns Left from its next
    /// push/pull (every 15 s), before its own suspicion could declare it Dead.
    #[test]
    fn graceful_leave_over_many_seeds() {
        let (mut quick, mut total) = (0, 0);
        for seed in 100..130 {
            let mut net = Net::new(6, seed);
            net.run_until(t(10));
            let acts = net.agents[5].as_mut().unwrap().leave(t(10));
            net.apply(5, acts);
            net.run_until(t(27));
            let times = net.leave_times(5, t(10));
            assert_eq!(times.len(), 5, "seed {seed}");
            for (obs, at) in times {
                total += 1;
                quick += usize::from(at - t(10) < SimDuration::from_secs(1));
                assert!(
                    at - t(10) <= SimDuration::from_secs(16),
                    "seed {seed} node-{obs}"
                );
            }
            // Learnt as Left, never declared Dead by a suspicion timer.
            for (obs, node, st) in &net.leave_states {
                assert_eq!(node, "node-5");
                assert_eq!(*st, Some(MemberState::Left), "seed {seed} node-{obs}");
            }
        }
        println!("graceful leave seen within 1 s by {quick}/{total}");
        assert!(quick * 10 >= total * 9, "{quick}/{total}");
    }

    #[test]
    fn node_coming_back_after_being_forgotten_is_alive_again() {
        let mut net = Net::new(6, 21);
        net.run_until(t(10));
        net.power_off(5);
        net.run_until(t(60));
        // Dead for more than gossip-to-the-dead: forgotten.
        for i in 0..5 {
            assert!(
                net.agent(i).member("node-5").is_none(),
                "node-{i} still knows it"
            );
        }
        net.power_on(5);
        net.run_until(t(63));
        for i in 0..6 {
            assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
        }
        let joins = net
            .events
            .iter()
            .filter(|(at, obs, e)| {
                *at >= t(60) && *obs != 5 && *e == MemberEvent::Join("node-5".into())
            })
            .count();
        assert_eq!(joins, 5);
    }

    #[test]
    fn node_coming_back_while_still_known_dead_refutes() {
        let mut net = Net::new(6, 5);
        net.run_until(t(10));
        net.power_off(5);
        net.run_until(t(30));
        assert!(
            (0..5)
                .all(|i| net.agent(i).member("node-5").map(|m| m.state) == Some(MemberState::Dead))
        );
        net.power_on(5);
        // A peer may forget the dead node just before the refuting Alive reaches
        // it (gossip-to-the-dead is 15 s); its next push/pull (15 s) catches up.
        net.run_until(t(30 + 16));
        for i in 0..6 {
            assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
        }
        // Peers held incarnation 1 as Dead; the new agent had to out-bid it.
        assert!(net.agent(5).incarnation() >= 2);
        for i in 0..5 {
            let m = net.agent(i).member("node-5").unwrap();
            assert_eq!(m.incarnation, net.agent(5).incarnation());
        }
    }

    #[test]
    fn indirect_probe_keeps_a_node_alive_when_the_direct_path_is_cut() {
        let mut net = Net::new(6, 2);
        net.run_until(t(5));
        net.cut.push((0, 1));
        net.cut.push((1, 0));
        net.run_until(t(40));
        assert!(
            net.events
                .iter()
                .all(|(_, _, e)| matches!(e, MemberEvent::Join(_))),
            "nobody declared dead"
        );
        assert!(
            net.sent
                .iter()
                .any(|(i, k)| *i == 0 && *k == "indirect-ping")
        );
        assert_eq!(net.agent(0).alive_members(), net.names);
    }

    #[test]
    fn rejoin_heals_a_partition_after_dead_nodes_were_forgotten() {
        let mut net = Net::new(6, 9);
        net.run_until(t(10));
        for j in 0..5 {
            net.cut.push((5, j));
            net.cut.push((j, 5));
        }
        net.run_until(t(100));
        net.cut.clear();
        net.run_until(t(130));
        // Without RejoinNodes nobody talks to a forgotten node again.
        assert_eq!(net.agent(5).alive_members(), vec!["node-5".to_string()]);
        assert!(!net.agent(0).alive_members().contains(&"node-5".to_string()));
        let peers = net.peers();
        for i in 0..6 {
            let acts = net.agents[i].as_mut().unwrap().rejoin(t(130), &peers);
            net.apply(i, acts);
        }
        net.run_until(t(133));
        for i in 0..6 {
            assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
        }
    }

    #[test]
    fn suspect_about_self_is_refuted_with_a_higher_incarnation() {
        let mut a = Agent::new(
            "a",
            Ipv4Addr::new(10, 0, 0, 1),
            MemberConfig::default(),
            stream(1, "a"),
        );
        let b = Ipv4Addr::new(10, 0, 0, 2);
        a.join(SimTime::ZERO, &[("b".into(), b)]);
        let reply = Msg::PushPull {
            join: true,
            reply: true,
            states: vec![PushState {
                name: "b".into(),
                addr: b,
                incarnation: 1,
                state: MemberState::Alive,
            }],
        };
        let acts = a.on_message(SimTime(1), b, reply);
        assert!(acts.contains(&Action::Event(MemberEvent::Join("b".into()))));
        let sus = Msg::Suspect {
            incarnation: 1,
            node: "a".into(),
            from: "b".into(),
        };
        a.on_message(SimTime(2), b, sus);
        assert_eq!(a.incarnation(), 2);
        assert_eq!(a.member("a").unwrap().state, MemberState::Alive);
        let acts = a.on_timer(SimTime(3), AgentTimer::GossipTick);
        let refuted = acts.iter().any(|x| match x {
            Action::Send { to, msg } => {
                *to == b
                    && (*msg
                        == Msg::Alive {
                            incarnation: 2,
                            node: "a".into(),
                            addr: a.addr(),
                        }
                        || matches!(msg, Msg::Compound(p) if p.iter().any(|m| matches!(m, Msg::Alive { incarnation: 2, .. }))))
            }
            _ => false,
        });
        assert!(refuted, "{acts:?}");
    }

    #[test]
    fn suspicion_timer_shrinks_with_a_confirmation() {
        // Three members: k = 1. First suspicion starts the timer at max = 18 s.
        let ip = |i| Ipv4Addr::new(10, 0, 0, i);
        let mut a = Agent::new("a", ip(1), MemberConfig::default(), stream(1, "a"));
        a.join(SimTime::ZERO, &[]);
        let states = ["b", "c", "x"]
            .iter()
            .enumerate()
            .map(|(i, n)| PushState {
                name: n.to_string(),
                addr: ip(2 + i as u8),
                incarnation: 1,
                state: MemberState::Alive,
            })
            .collect();
        a.on_message(
            SimTime(1),
            ip(2),
            Msg::PushPull {
                join: false,
                reply: true,
                states,
            },
        );
        let sus = |from: &str| Msg::Suspect {
            incarnation: 1,
            node: "x".into(),
            from: from.into(),
        };
        let timer_at = |acts: &[Action]| {
            acts.iter().find_map(|x| match x {
                Action::Timer {
                    at,
                    timer: AgentTimer::Suspicion { .. },
                } => Some(*at),
                _ => None,
            })
        };
        let acts = a.on_message(t(10), ip(2), sus("b"));
        assert_eq!(timer_at(&acts), Some(t(28)));
        // The originator again is not a confirmation.
        assert_eq!(timer_at(&a.on_message(t(11), ip(2), sus("b"))), None);
        // An independent one: min (3 s) counted from the start.
        assert_eq!(timer_at(&a.on_message(t(11), ip(3), sus("c"))), Some(t(13)));
        // The stale 28 s timer does nothing; the 13 s one kills.
        assert!(
            a.on_timer(
                t(28),
                AgentTimer::Suspicion {
                    node: "x".into(),
                    generation: 1
                }
            )
            .is_empty()
        );
        let gen_now = a.nodes["x"].suspicion.as_ref().unwrap().generation;
        let acts = a.on_timer(
            t(13),
            AgentTimer::Suspicion {
                node: "x".into(),
                generation: gen_now,
            },
        );
        assert!(acts.contains(&Action::Event(MemberEvent::Leave("x".into()))));
        assert_eq!(a.member("x").unwrap().state, MemberState::Dead);
    }

    #[test]
    fn formulas_match_memberlist() {
        let s = SimDuration::from_secs;
        assert_eq!(suspicion_timeout(3, 6, s(1)), s(3));
        assert_eq!(suspicion_timeout(3, 0, s(1)), s(3));
        assert_eq!(suspicion_timeout(3, 100, s(1)), s(6));
        assert_eq!(
            suspicion_timeout(3, 20, s(1)),
            SimDuration::from_millis(3903)
        );
        assert_eq!(
            remaining_suspicion_time(0, 1, s(0), s(3), s(18)),
            Some(s(18))
        );
        assert_eq!(
            remaining_suspicion_time(1, 1, s(1), s(3), s(18)),
            Some(s(2))
        );
        assert_eq!(remaining_suspicion_time(1, 1, s(5), s(3), s(18)), None);
        // k = 3: one of three confirmations = half way on a log scale.
        assert_eq!(
            remaining_suspicion_time(1, 3, s(0), s(3), s(18)),
            Some(SimDuration::from_millis(10_500))
        );
        assert_eq!(retransmit_limit(2, 6), 2);
        assert_eq!(retransmit_limit(2, 9), 2);
        assert_eq!(retransmit_limit(2, 10), 4);
        assert_eq!(retransmit_limit(2, 100), 6);
        assert_eq!(push_pull_scale(s(15), 32), s(15));
        assert_eq!(push_pull_scale(s(15), 64), s(30));
        assert_eq!(push_pull_scale(s(15), 65), s(45));
    }

    fn samples() -> Vec<Msg> {
        let ip = Ipv4Addr::new(192, 168, 77, 101);
        let ping = Msg::Ping {
            seq: 7,
            target: "k8s-node-1".into(),
            source: "k8s-node-2".into(),
            source_addr: ip,
        };
        vec![
            ping.clone(),
            Msg::IndirectPing {
                seq: u32::MAX,
                target: "t".into(),
                target_addr: ip,
                source: "ß-ünïcode".into(),
                source_addr: Ipv4Addr::new(1, 2, 3, 4),
                nack: true,
            },
            Msg::Ack { seq: 1 },
            Msg::Nack { seq: 2 },
            Msg::Suspect {
                incarnation: 3,
                node: "a".into(),
                from: "b".into(),
            },
            Msg::Alive {
                incarnation: 4,
                node: "a".into(),
                addr: ip,
            },
            Msg::Dead {
                incarnation: 5,
                node: "a".into(),
                from: "a".into(),
            },
            Msg::PushPull {
                join: true,
                reply: false,
                states: vec![
                    PushState {
                        name: "a".into(),
                        addr: ip,
                        incarnation: 9,
                        state: MemberState::Left,
                    },
                    PushState {
                        name: "b".into(),
                        addr: ip,
                        incarnation: 0,
                        state: MemberState::Suspect,
                    },
                ],
            },
            Msg::PushPull {
                join: false,
                reply: true,
                states: vec![],
            },
            Msg::Compound(vec![
                ping,
                Msg::Ack { seq: 3 },
                Msg::Dead {
                    incarnation: 1,
                    node: "x".into(),
                    from: "y".into(),
                },
            ]),
        ]
    }

    #[test]
    fn codec_round_trips_every_message() {
        for m in samples() {
            let b = m.encode();
            assert_eq!(Msg::decode(&b), Ok(m.clone()), "{m:?}");
            // Every strict prefix is rejected, never a panic.
            for cut in 0..b.len() {
                assert!(Msg::decode(&b[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut longer = b.clone();
            longer.push(0);
            assert_eq!(Msg::decode(&longer), Err(DecodeError::Trailing(1)));
        }
        assert_eq!(Msg::decode(&[99]), Err(DecodeError::UnknownType(99)));
        // A compound inside a compound is refused.
        let inner = Msg::Compound(vec![Msg::Ack { seq: 1 }]).encode();
        let mut outer = vec![T_COMPOUND, 1];
        outer.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        outer.extend_from_slice(&inner);
        assert_eq!(Msg::decode(&outer), Err(DecodeError::NestedCompound));
    }

    #[test]
    fn decode_never_panics_on_garbage() {
        let mut r = stream(42, "garbage");
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len).map(|_| below(&mut r, 256) as u8).collect();
            let _ = Msg::decode(&bytes);
            // Mutated valid messages too.
            for m in samples() {
                let mut b = m.encode();
                if !b.is_empty() {
                    let i = below(&mut r, b.len() as u64) as usize;
                    b[i] = below(&mut r, 256) as u8;
                }
                let _ = Msg::decode(&b);
            }
        }
    }
}
