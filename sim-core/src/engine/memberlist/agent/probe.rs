//! Failure detection (`state.go`: `probe`, `probeNode`, `resetNodes`,
//! `handlePing`, `handleIndirectPing`, `handleAck`/`handleNack`,
//! `kRandomNodes`): every probe interval the next member of a round-robin
//! list is pinged; without an Ack within the probe timeout, helpers ping it
//! for us; without an Ack by the end of the (awareness-scaled) interval it
//! is suspected.

use std::net::Ipv4Addr;

use super::stream::StreamKind;
use super::table::NodeState;
use super::{Action, Agent, AgentTimer, Transport};
use crate::engine::memberlist::member::MemberState;
use crate::engine::memberlist::messages::Msg;
use crate::engine::memberlist::names::MemberId;
use crate::engine::memberlist::util::k_random_positions;
use crate::rng::below;
use crate::time::SimTime;

/// The probe list (memberlist's `nodes` slice, in its shuffled order),
/// with the places of the few members [`Agent::k_random`] steps over
/// remembered until the list next changes: the agent itself and the
/// members not Alive are the same from one gossip round to the next, and
/// finding each by a walk is n steps.
#[derive(Clone, Debug, Default)]
pub(super) struct ProbeOrder {
    ids: Vec<MemberId>,
    places: Vec<(MemberId, usize)>,
}

impl ProbeOrder {
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(super) fn at(&self, i: usize) -> MemberId {
        self.ids[i]
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, MemberId> {
        self.ids.iter()
    }

    /// Where `id` is in the list, if it is.
    pub(super) fn place(&mut self, id: MemberId) -> Option<usize> {
        if let Some(&(_, at)) = self.places.iter().find(|(m, _)| *m == id) {
            return Some(at);
        }
        let at = self.ids.iter().position(|x| *x == id)?;
        self.places.push((id, at));
        Some(at)
    }

    pub(super) fn reserve_exact(&mut self, n: usize) {
        self.ids.reserve_exact(n);
    }

    /// Adds `id` at `offset`, the member there moving to the end
    /// (`randomOffset` in memberlist's `aliveNode`).
    pub(super) fn insert_at(&mut self, id: MemberId, offset: usize) {
        self.places.clear();
        let n = self.ids.len();
        self.ids.push(id);
        self.ids.swap(offset, n);
    }

    /// Leaves out the members in `forget`, then shuffles with `below`
    /// (Fisher-Yates from the back, as Go's `rand.Shuffle` in `shuffleNodes`).
    pub(super) fn retain_and_shuffle(
        &mut self,
        forget: &[MemberId],
        mut below: impl FnMut(u64) -> u64,
    ) {
        self.places.clear();
        self.ids.retain(|id| !forget.contains(id));
        for i in (1..self.ids.len()).rev() {
            let j = below((i + 1) as u64) as usize;
            self.ids.swap(i, j);
        }
    }
}

/// The probe under way.
#[derive(Clone, Debug)]
pub(super) struct Probe {
    seq: u32,
    target: MemberId,
    target_incarnation: u32,
    deadline: SimTime,
    expected_nacks: u32,
    nacks: u32,
    /// Its TCP fallback ping was answered.
    tcp_contact: bool,
}

impl Probe {
    /// The TCP ping of probe `seq` was answered.
    pub(super) fn contacted_over_tcp(&mut self, seq: u32) {
        if self.seq == seq {
            self.tcp_contact = true;
        }
    }
}

/// An indirect ping we are relaying for another member.
#[derive(Clone, Debug)]
pub(super) struct Relay {
    local_seq: u32,
    origin_seq: u32,
    origin: Ipv4Addr,
    nack: bool,
}

impl Agent {
    pub(super) fn on_probe_tick(&mut self, now: SimTime, out: &mut Vec<Action>) {
        out.push(Action::Timer {
            at: now + self.cfg.probe_interval,
            timer: AgentTimer::ProbeTick,
        });
        if let Some(p) = &self.probe {
            if p.deadline <= now {
                self.finish_failed_probe(now, out);
            } else {
                self.tick_pending = true;
                return;
            }
        }
        self.probe_next(now, out);
    }

    /// No Ack within the probe timeout: ask helpers to ping the target, and
    /// ping it over TCP ourselves until the probe's deadline (probeNode's
    /// fallback, which memberlist skips only when TCP pings are disabled).
    pub(super) fn on_probe_timeout(&mut self, now: SimTime, seq: u32, out: &mut Vec<Action>) {
        let Some(p) = self.probe.clone().filter(|p| p.seq == seq) else {
            return;
        };
        self.send_indirect(out);
        let Some(addr) = self.nodes.get(p.target).map(|n| n.addr) else {
            return;
        };
        let ping = Msg::Ping {
            seq,
            target: self.name_of(p.target),
            source: self.name().to_string(),
            source_addr: self.addr,
        };
        let kind = StreamKind::FallbackPing { seq };
        self.open_stream(now, addr, kind, ping, Some(p.deadline), out);
    }

    pub(super) fn on_probe_deadline(&mut self, now: SimTime, seq: u32, out: &mut Vec<Action>) {
        if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            self.finish_failed_probe(now, out);
            if self.tick_pending {
                self.probe_next(now, out);
            }
        }
    }

    pub(super) fn on_relay_timeout(&mut self, seq: u32, out: &mut Vec<Action>) {
        if let Some(i) = self.relays.iter().position(|r| r.local_seq == seq) {
            let r = self.relays.remove(i);
            if r.nack {
                self.send_msg(r.origin, Msg::Nack { seq: r.origin_seq }, out);
            }
        }
    }

    /// A ping for us (or for anyone: an empty target) is acked to `reply_to`.
    pub(super) fn on_ping(
        &mut self,
        seq: u32,
        target: &str,
        reply_to: Ipv4Addr,
        out: &mut Vec<Action>,
    ) {
        if !target.is_empty() && target != self.name() {
            return;
        }
        self.send_msg(reply_to, Msg::Ack { seq }, out);
    }

    /// Pings `target` for `origin` under a sequence number of our own, and
    /// forwards its Ack (or a Nack, if asked, after the probe timeout).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_indirect_ping(
        &mut self,
        now: SimTime,
        seq: u32,
        target: String,
        target_addr: Ipv4Addr,
        origin: Ipv4Addr,
        nack: bool,
        out: &mut Vec<Action>,
    ) {
        let local_seq = self.next_seq();
        self.relays.push(Relay {
            local_seq,
            origin_seq: seq,
            origin,
            nack,
        });
        let ping = Msg::Ping {
            seq: local_seq,
            target,
            source: self.name().to_string(),
            source_addr: self.addr,
        };
        self.send_msg(target_addr, ping, out);
        out.push(Action::Timer {
            at: now + self.cfg.probe_timeout,
            timer: AgentTimer::RelayTimeout { seq: local_seq },
        });
    }

    pub(super) fn on_ack(&mut self, now: SimTime, seq: u32, out: &mut Vec<Action>) {
        if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            self.probe = None;
            self.awareness.apply_delta(-1);
            if self.tick_pending {
                self.probe_next(now, out);
            }
        } else if let Some(i) = self.relays.iter().position(|r| r.local_seq == seq) {
            let r = self.relays.remove(i);
            self.send_msg(r.origin, Msg::Ack { seq: r.origin_seq }, out);
        }
    }

    pub(super) fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            p.nacks += 1;
        }
    }

    /// `kRandomNodes`: the addresses of up to `k` distinct random members
    /// passing `keep`, picked from the probe-ordered members as memberlist
    /// picks from its shuffled list. `keep` must let every Alive member
    /// through but this agent and those in `spare`: then only those and
    /// the members not Alive (few) can fail it, and the picks are found
    /// without walking every member.
    pub(super) fn k_random(
        &mut self,
        k: usize,
        spare: &[MemberId],
        keep: impl Fn(&NodeState) -> bool,
    ) -> Vec<Ipv4Addr> {
        let mut failing: Vec<MemberId> = std::iter::once(self.me)
            .chain(spare.iter().copied())
            .chain(self.census.not_alive())
            .filter(|&id| self.nodes.get(id).is_some_and(|n| !keep(&n)))
            .collect();
        failing.sort_unstable();
        failing.dedup();
        debug_assert_eq!(self.nodes.len(), self.probe_order.len());
        let count = self.nodes.len() - failing.len();
        debug_assert_eq!(count, self.nodes.iter().filter(|n| keep(n)).count());
        let picks = k_random_positions(&mut self.rng, count, k);
        if picks.is_empty() {
            return Vec::new();
        }
        // Where the failing members sit in the probe order, ascending; the
        // p-th passing member is p places in, plus one for each failing
        // member at or before it.
        let mut skip: Vec<usize> = if failing.len() <= 8 {
            failing
                .iter()
                .filter_map(|id| self.probe_order.place(*id))
                .collect()
        } else {
            self.probe_order
                .iter()
                .enumerate()
                .filter(|(_, id)| failing.binary_search(id).is_ok())
                .map(|(i, _)| i)
                .collect()
        };
        skip.sort_unstable();
        let out: Vec<Ipv4Addr> = picks
            .iter()
            .filter_map(|&p| {
                let mut at = p;
                for &s in &skip {
                    if s <= at {
                        at += 1;
                    } else {
                        break;
                    }
                }
                self.nodes.get(self.probe_order.at(at)).map(|n| n.addr)
            })
            .collect();
        #[cfg(debug_assertions)]
        debug_assert_eq!(out, self.walk_to_picks(&picks, &keep));
        out
    }

    /// The members at `picks` among those passing `keep` in probe order,
    /// found by walking them: what [`Agent::k_random`] finds by skipping.
    #[cfg(debug_assertions)]
    fn walk_to_picks(&self, picks: &[usize], keep: &impl Fn(&NodeState) -> bool) -> Vec<Ipv4Addr> {
        let passing: Vec<Ipv4Addr> = self
            .probe_order
            .iter()
            .filter_map(|id| self.nodes.get(*id))
            .filter(|n| keep(n))
            .map(|n| n.addr)
            .collect();
        picks.iter().map(|&p| passing[p]).collect()
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
            let id = self.probe_order.at(self.probe_index);
            self.probe_index += 1;
            let skip = id == self.me || self.nodes.get(id).is_none_or(|n| n.state.dead_or_left());
            if skip {
                checked += 1;
                continue;
            }
            self.probe_node(now, id, out);
            return;
        }
    }

    /// `resetNodes`: forget members dead for longer than gossip-to-the-dead,
    /// then reshuffle the probe list.
    fn reset_nodes(&mut self, now: SimTime) {
        let forget: Vec<MemberId> = self
            .nodes
            .iter()
            .filter(|n| {
                n.state.dead_or_left()
                    && now.since(n.state_change) > self.cfg.gossip_to_the_dead_time
            })
            .map(|n| n.id)
            .collect();
        for id in &forget {
            if let Some(n) = self.nodes.remove(*id) {
                self.census.removed(*id, self.me, n.state);
            }
            self.suspicions.remove(id);
        }
        let rng = &mut self.rng;
        self.probe_order
            .retain_and_shuffle(&forget, |n| below(rng, n));
    }

    fn probe_node(&mut self, now: SimTime, id: MemberId, out: &mut Vec<Action>) {
        let Some(node) = self.nodes.get(id) else {
            return;
        };
        let (addr, incarnation, state) = (node.addr, node.incarnation, node.state);
        let interval = self.awareness.scale(self.cfg.probe_interval);
        let seq = self.next_seq();
        self.probe = Some(Probe {
            seq,
            target: id,
            target_incarnation: incarnation,
            deadline: now + interval,
            expected_nacks: 0,
            nacks: 0,
            tcp_contact: false,
        });
        let ping = Msg::Ping {
            seq,
            target: self.name_of(id),
            source: self.name().to_string(),
            source_addr: self.addr,
        };
        if state == MemberState::Alive {
            self.send_msg(addr, ping, out);
        } else {
            // Give a suspect the chance to refute at once (probeNode).
            let s = Msg::Suspect {
                incarnation,
                node: self.name_of(id),
                from: self.name().to_string(),
            };
            out.push(Action::Send {
                to: addr,
                msg: Msg::Compound(vec![ping, s]),
                transport: Transport::Packet,
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
        let Some(target_addr) = self.nodes.get(p.target).map(|n| n.addr) else {
            return;
        };
        let me = self.me;
        let helpers = self.k_random(self.cfg.indirect_checks, &[p.target], |n| {
            n.id != me && n.id != p.target && n.state == MemberState::Alive
        });
        for helper in helpers {
            if let Some(pr) = self.probe.as_mut() {
                pr.expected_nacks += 1;
            }
            let ind = Msg::IndirectPing {
                seq: p.seq,
                target: self.name_of(p.target),
                target_addr,
                source: self.name().to_string(),
                source_addr: self.addr,
                nack: true,
            };
            self.send_msg(helper, ind, out);
        }
    }

    fn finish_failed_probe(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let Some(p) = self.probe.take() else {
            return;
        };
        if p.tcp_contact {
            // Only TCP reached it: no suspicion, awareness unchanged.
            out.push(Action::Log(format!(
                "memberlist: Was able to connect to {} over TCP but UDP probes failed, network may be misconfigured",
                self.name_of(p.target)
            )));
            return;
        }
        let delta = if p.expected_nacks > 0 {
            i64::from(p.expected_nacks.saturating_sub(p.nacks))
        } else {
            1
        };
        self.awareness.apply_delta(delta);
        self.suspect_node(now, p.target_incarnation, p.target, self.me, out);
    }
}
