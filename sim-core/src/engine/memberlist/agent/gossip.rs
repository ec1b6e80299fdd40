//! Spreading rumours (`state.go` `gossip`, `pushPull`; `net.go` `sendMsg`,
//! `sendLocalState`): broadcasts wait in the transmit-limited queue and go
//! out every gossip interval to a few random members, and piggyback on
//! every ping, ack, nack and indirect ping; push/pull sends the whole member
//! table.

use std::net::Ipv4Addr;

use super::stream::StreamKind;
use super::{Action, Agent, Transport};
use crate::engine::memberlist::codec::{COMPOUND_HEADER, COMPOUND_PER_PART};
use crate::engine::memberlist::member::MemberState;
use crate::engine::memberlist::messages::{Msg, PushStates};
use crate::engine::memberlist::names::MemberId;
use crate::engine::memberlist::util::{k_random_positions, retransmit_limit};
use crate::time::SimTime;

impl Agent {
    /// Every known member as a push/pull entry, in table order.
    fn local_states(&self) -> PushStates {
        let mut states = PushStates::with_capacity(self.nodes.len(), self.name().len());
        self.nodes.push_states(&self.names, &mut states);
        debug_assert!(states == self.nodes.push_states_one_by_one(&self.names));
        states
    }

    /// `pushPullNode`: our member table to `to` over TCP; its answer
    /// merges in [`Agent::on_stream`].
    pub(super) fn send_push_pull(
        &mut self,
        now: SimTime,
        to: Ipv4Addr,
        join: bool,
        out: &mut Vec<Action>,
    ) {
        let msg = Msg::PushPull {
            join,
            reply: false,
            states: self.local_states(),
        };
        let kind = if join {
            StreamKind::Join
        } else {
            StreamKind::PushPull
        };
        self.open_stream(now, to, kind, msg, None, out);
    }

    /// Our member table as the answer to `to`'s push/pull.
    pub(super) fn send_push_pull_answer(
        &mut self,
        to: Ipv4Addr,
        join: bool,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::Send {
            to,
            msg: Msg::PushPull {
                join,
                reply: true,
                states: self.local_states(),
            },
            transport: Transport::StreamAnswer,
        });
    }

    /// `encodeAndSendMsg`/`sendMsg`: piggyback whatever broadcasts fit.
    pub(super) fn send_msg(&mut self, to: Ipv4Addr, msg: Msg, out: &mut Vec<Action>) {
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
        out.push(Action::Send {
            to,
            msg,
            transport: Transport::Packet,
        });
    }

    /// Queues a broadcast about `node`; it replaces any queued one about it.
    /// `leave`: our own leave, whose end shuts the agent down.
    pub(super) fn broadcast(&mut self, node: MemberId, msg: Msg, leave: bool) {
        if self.queue.queue(node, msg, leave) {
            self.shutdown_after_leave();
        }
    }

    fn shutdown_after_leave(&mut self) {
        if self.left {
            self.shutdown = true;
        }
    }

    /// The queued broadcasts that fit in `limit` bytes.
    fn get_broadcasts(&mut self, limit: usize) -> Vec<Msg> {
        let max_transmits = retransmit_limit(self.cfg.retransmit_mult, self.nodes.len());
        let (sent, leave_done) = self.queue.take(limit, max_transmits);
        if leave_done {
            self.shutdown_after_leave();
        }
        sent
    }

    /// One gossip round: up to `gossip_nodes` random members (Alive,
    /// Suspect, or Dead for less than gossip-to-the-dead) each get a batch.
    pub(super) fn gossip(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let me = self.me;
        let dead_time = self.cfg.gossip_to_the_dead_time;
        let keep = |n: &super::table::NodeState| {
            n.id != me
                && match n.state {
                    MemberState::Alive | MemberState::Suspect => true,
                    MemberState::Dead => now.since(n.state_change) <= dead_time,
                    MemberState::Left => false,
                }
        };
        if self.queue.is_empty() {
            // memberlist picks its targets before finding it has nothing to
            // send; make the same draws, skip fetching the members.
            let count = self.census.gossip_targets(&self.nodes, now, dead_time);
            debug_assert_eq!(count, self.nodes.iter().filter(|n| keep(n)).count());
            k_random_positions(&mut self.rng, count, self.cfg.gossip_nodes);
            return;
        }
        let targets = self.k_random(self.cfg.gossip_nodes, &[], keep);
        let avail = self.cfg.udp_buffer_size.saturating_sub(COMPOUND_HEADER);
        for to in targets {
            let mut msgs = self.get_broadcasts(avail);
            if msgs.is_empty() {
                return;
            }
            let msg = if msgs.len() == 1 {
                msgs.remove(0)
            } else {
                Msg::Compound(msgs)
            };
            out.push(Action::Send {
                to,
                msg,
                transport: Transport::Packet,
            });
        }
    }
}
