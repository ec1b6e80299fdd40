//! How many members an agent knows in each state, kept as states change,
//! so that the gossip tick of an agent with nothing to send counts its
//! targets without scanning every member (at 5,000 nodes that scan was
//! 5,000 x 5,000 steps per 200 ms of simulated time), and so that a random
//! pick of members knows which few it may have to pass over.

use std::collections::BTreeSet;

use super::table::MemberTable;
use crate::engine::memberlist::member::MemberState;
use crate::engine::memberlist::names::MemberId;
use crate::time::{SimDuration, SimTime};

/// The agent's own entry is never counted.
#[derive(Clone, Debug, Default)]
pub(super) struct Census {
    /// Members Alive or Suspect.
    live: usize,
    /// Members Dead (not Left): gossip still goes to them for a while.
    dead: BTreeSet<MemberId>,
    /// Members not Alive (Suspect, Dead or Left): with this agent, the only
    /// ones a random pick of members may have to pass over.
    not_alive: BTreeSet<MemberId>,
}

impl Census {
    pub(super) fn added(&mut self, id: MemberId, me: MemberId, state: MemberState) {
        if id != me {
            self.enter(id, state);
        }
    }

    pub(super) fn removed(&mut self, id: MemberId, me: MemberId, state: MemberState) {
        if id != me {
            self.leave(id, state);
        }
    }

    pub(super) fn moved(&mut self, id: MemberId, me: MemberId, from: MemberState, to: MemberState) {
        if id != me {
            self.leave(id, from);
            self.enter(id, to);
        }
    }

    fn enter(&mut self, id: MemberId, state: MemberState) {
        if state != MemberState::Alive {
            self.not_alive.insert(id);
        }
        match state {
            MemberState::Alive | MemberState::Suspect => self.live += 1,
            MemberState::Dead => {
                self.dead.insert(id);
            }
            MemberState::Left => {}
        }
    }

    fn leave(&mut self, id: MemberId, state: MemberState) {
        if state != MemberState::Alive {
            self.not_alive.remove(&id);
        }
        match state {
            MemberState::Alive | MemberState::Suspect => self.live -= 1,
            MemberState::Dead => {
                self.dead.remove(&id);
            }
            MemberState::Left => {}
        }
    }

    /// Every member, this agent aside, that is not Alive.
    pub(super) fn not_alive(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.not_alive.iter().copied()
    }

    /// memberlist's gossip targets (`gossip`'s filter in state.go): members
    /// other than this one that are Alive, Suspect, or Dead for no longer
    /// than `dead_time`.
    pub(super) fn gossip_targets(
        &self,
        nodes: &MemberTable,
        now: SimTime,
        dead_time: SimDuration,
    ) -> usize {
        self.live
            + self
                .dead
                .iter()
                .filter(|id| {
                    nodes
                        .get(**id)
                        .is_some_and(|n| now.since(n.state_change) <= dead_time)
                })
                .count()
    }
}
