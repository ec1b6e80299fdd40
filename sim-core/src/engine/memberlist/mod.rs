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
//!
//! ## Where each part lives (the memberlist Go file it follows)
//! - [`config`] (`config.go`): [`MemberConfig`], `DefaultLocalConfig`.
//! - [`messages`] (`net.go` message types): [`Msg`], [`PushState`], [`PushStates`].
//! - [`codec`] (`util.go` encode/decode): the compact binary wire format.
//! - `member` (`state.go` nodeState): [`MemberState`] and the [`Member`] view.
//! - `names`: small copyable [`MemberId`]s and the name table behind them;
//!   the protocol state works on ids, names appear only in messages and
//!   in what the agent reports.
//! - `roster`: the members a converged cluster's agents all start with,
//!   shared by them ([`Roster`]).
//! - `suspicion` (`suspicion.go`, `util.go suspicionTimeout`): the timer
//!   that shrinks with independent confirmations.
//! - `awareness` (`awareness.go`): the local health score.
//! - `queue` (`queue.go`): the transmit-limited broadcast queue.
//! - `util` (`util.go`): retransmit limit, push/pull scale, `kRandomNodes`.
//! - [`agent`] (`memberlist.go`, `state.go`): the [`Agent`] and its
//!   timers, actions and events; probing, gossip and state changes in its
//!   submodules.

pub mod agent;
mod awareness;
pub mod codec;
pub mod config;
mod member;
pub mod messages;
mod names;
mod queue;
mod roster;
mod suspicion;
mod util;

use crate::rng::SimRng;

/// Antrea's `RejoinNodes` period: every agent joins the Nodes not alive in
/// its view once a minute (`pkg/agent/memberlist/cluster.go` `Run`).
pub const REJOIN_PERIOD: crate::time::SimDuration = crate::time::SimDuration::from_secs(60);

pub use agent::{Action, Agent, AgentTimer, AliveSplit, MemberEvent, Transport};
pub use codec::DecodeError;
pub use config::MemberConfig;
pub use member::{Member, MemberState};
pub use messages::{Msg, PushState, PushStates};
pub use names::MemberId;
pub use roster::Roster;
pub use suspicion::{remaining_suspicion_time, suspicion_timeout};
pub use util::{push_pull_scale, retransmit_limit};

/// Antrea's memberlist `clusterPort` (UDP and TCP), `build/charts/antrea/values.yaml`.
pub const MEMBERLIST_PORT: u16 = 10351;

/// The name of the random stream of `node`'s memberlist agent in its
/// `boot`-th start (1 for the first): `memberlist/<node>/<boot>`. The
/// simulator and real mode both draw the agent's PRNG from this stream, so a
/// restarted agent gets a fresh stream and the same seed gives the same
/// agent in both modes.
pub fn agent_stream_name(node: &str, boot: u32) -> String {
    format!("memberlist/{node}/{boot}")
}

/// The PRNG of `node`'s agent in its `boot`-th start under master `seed`
/// (the stream named by [`agent_stream_name`]).
pub fn agent_rng(seed: u64, node: &str, boot: u32) -> SimRng {
    crate::rng::stream(seed, &agent_stream_name(node, boot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::below;

    #[test]
    fn stream_name_is_node_and_boot() {
        assert_eq!(
            agent_stream_name("k8s-node-1", 1),
            "memberlist/k8s-node-1/1"
        );
        assert_eq!(agent_stream_name("n", 12), "memberlist/n/12");
    }

    #[test]
    fn each_boot_draws_its_own_stream() {
        let draw = |node: &str, boot: u32| {
            let mut r = agent_rng(7, node, boot);
            (0..4).map(|_| below(&mut r, 1 << 40)).collect::<Vec<u64>>()
        };
        assert_eq!(draw("a", 1), draw("a", 1));
        assert_ne!(draw("a", 1), draw("a", 2));
        assert_ne!(draw("a", 1), draw("b", 1));
        let mut named = crate::rng::stream(7, "memberlist/a/1");
        assert_eq!(draw("a", 1)[0], below(&mut named, 1 << 40));
    }
}
