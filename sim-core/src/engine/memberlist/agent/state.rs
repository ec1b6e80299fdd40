//! How a member's state changes (`state.go` `aliveNode`, `suspectNode`,
//! `deadNode`, `refute`, `mergeState`): what an Alive, Suspect or Dead
//! rumour does to the member table, with incarnation numbers deciding which
//! rumour is newer, and how a member accused of being down refutes it.

use std::net::Ipv4Addr;

use super::{Action, Agent, AgentTimer, MemberEvent};
use crate::engine::memberlist::member::MemberState;
use crate::engine::memberlist::messages::{Msg, PushStates};
use crate::engine::memberlist::names::MemberId;
use crate::engine::memberlist::suspicion::{Confirmation, Suspicion};
use crate::time::SimTime;

impl Agent {
    /// Answers an accusation at incarnation `accused` with an Alive at a
    /// higher incarnation.
    fn refute(&mut self, accused: u32) {
        self.incarnation += 1;
        if accused >= self.incarnation {
            self.incarnation = accused + 1;
        }
        let inc = self.incarnation;
        if let Some(mut me) = self.nodes.get(self.me) {
            me.incarnation = inc;
            self.nodes.set(me);
        }
        self.awareness.apply_delta(1);
        let a = Msg::Alive {
            incarnation: inc,
            node: self.name().to_string(),
            addr: self.addr,
        };
        self.broadcast(self.me, a, false);
    }

    /// `aliveNode`; `bootstrap` is our own Alive at start.
    pub(super) fn alive_node(
        &mut self,
        now: SimTime,
        incarnation: u32,
        node: MemberId,
        addr: Ipv4Addr,
        bootstrap: bool,
        out: &mut Vec<Action>,
    ) {
        let is_local = node == self.me;
        if self.left && is_local {
            return;
        }
        let mut updates_node = false;
        match self.nodes.get(node) {
            None => self.insert_node(now, node, addr),
            Some(n) if n.addr != addr => {
                let reclaim = now.since(n.state_change) > self.cfg.dead_node_reclaim_time;
                if n.state == MemberState::Left || (n.state == MemberState::Dead && reclaim) {
                    updates_node = true;
                } else {
                    return; // address conflict: keep the one we know
                }
            }
            Some(_) => {}
        }
        let Some(mut n) = self.nodes.get(node) else {
            return;
        };
        if incarnation <= n.incarnation && !is_local && !updates_node {
            return;
        }
        if incarnation < n.incarnation && is_local {
            return;
        }
        self.suspicions.remove(&node);
        let old = n.state;
        if !bootstrap && is_local {
            if incarnation == n.incarnation {
                return;
            }
            self.refute(incarnation);
        } else {
            n.incarnation = incarnation;
            n.addr = addr;
            if n.state != MemberState::Alive {
                self.census
                    .moved(node, self.me, n.state, MemberState::Alive);
                n.state = MemberState::Alive;
                n.state_change = now;
            }
            self.nodes.set(n);
            let a = Msg::Alive {
                incarnation,
                node: self.name_of(node),
                addr,
            };
            self.broadcast(node, a, false);
        }
        if old.dead_or_left() {
            out.push(Action::Event(MemberEvent::Join(self.name_of(node))));
        }
    }

    /// `suspectNode`: `from` suspects `node` at `incarnation`.
    pub(super) fn suspect_node(
        &mut self,
        now: SimTime,
        incarnation: u32,
        node: MemberId,
        from: MemberId,
        out: &mut Vec<Action>,
    ) {
        let Some(mut n) = self.nodes.get(node) else {
            return;
        };
        if incarnation < n.incarnation {
            return;
        }
        if let Some(s) = self.suspicions.get_mut(&node) {
            // Confirmation of an existing suspicion (suspicion.go Confirm).
            let confirmed = s.confirm(from, now);
            if confirmed == Confirmation::Ignored {
                return;
            }
            self.next_generation += 1;
            s.renew(self.next_generation);
            let generation = self.next_generation;
            let msg = self.suspect_msg(incarnation, node, from);
            self.broadcast(node, msg, false);
            match confirmed {
                Confirmation::Remaining(d) => out.push(Action::Timer {
                    at: now + d,
                    timer: AgentTimer::Suspicion { node, generation },
                }),
                _ => {
                    let incarnation = n.incarnation;
                    self.dead_node(now, incarnation, node, self.me, out);
                }
            }
            return;
        }
        if n.state != MemberState::Alive {
            return;
        }
        if node == self.me {
            self.refute(incarnation);
            return;
        }
        n.incarnation = incarnation;
        self.census
            .moved(node, self.me, n.state, MemberState::Suspect);
        n.state = MemberState::Suspect;
        n.state_change = now;
        self.nodes.set(n);
        self.next_generation += 1;
        let generation = self.next_generation;
        let suspicion = Suspicion::new(from, self.nodes.len(), &self.cfg, now, generation);
        let timeout = suspicion.initial_timeout();
        self.suspicions.insert(node, suspicion);
        let msg = self.suspect_msg(incarnation, node, from);
        self.broadcast(node, msg, false);
        out.push(Action::Timer {
            at: now + timeout,
            timer: AgentTimer::Suspicion { node, generation },
        });
    }

    fn suspect_msg(&self, incarnation: u32, node: MemberId, from: MemberId) -> Msg {
        Msg::Suspect {
            incarnation,
            node: self.name_of(node),
            from: self.name_of(from),
        }
    }

    /// `deadNode`: `from` declares `node` dead at `incarnation`; a node
    /// declaring itself dead has left.
    pub(super) fn dead_node(
        &mut self,
        now: SimTime,
        incarnation: u32,
        node: MemberId,
        from: MemberId,
        out: &mut Vec<Action>,
    ) {
        let left = node == from;
        let Some(mut n) = self.nodes.get(node) else {
            return;
        };
        if incarnation < n.incarnation {
            return;
        }
        self.suspicions.remove(&node);
        if n.state.dead_or_left() {
            return;
        }
        let is_local = node == self.me;
        if is_local && !self.left {
            self.refute(incarnation);
            return;
        }
        n.incarnation = incarnation;
        let to = if left {
            MemberState::Left
        } else {
            MemberState::Dead
        };
        self.census.moved(node, self.me, n.state, to);
        n.state = to;
        n.state_change = now;
        self.nodes.set(n);
        let msg = Msg::Dead {
            incarnation,
            node: self.name_of(node),
            from: self.name_of(from),
        };
        self.broadcast(node, msg, is_local);
        out.push(Action::Event(MemberEvent::Leave(self.name_of(node))));
    }

    /// `mergeState`: a peer's member table from push/pull.
    pub(super) fn merge_state(&mut self, now: SimTime, states: PushStates, out: &mut Vec<Action>) {
        for s in states.iter() {
            match s.state {
                MemberState::Alive => {
                    let node = self.names.intern(s.name);
                    self.alive_node(now, s.incarnation, node, s.addr, false, out);
                }
                MemberState::Left => {
                    if let Some(node) = self.names.lookup(s.name) {
                        self.dead_node(now, s.incarnation, node, node, out);
                    }
                }
                MemberState::Dead | MemberState::Suspect => {
                    // A remote Dead is only a suspicion for us (mergeState).
                    if let Some(node) = self.names.lookup(s.name) {
                        self.suspect_node(now, s.incarnation, node, self.me, out);
                    }
                }
            }
        }
    }
}
