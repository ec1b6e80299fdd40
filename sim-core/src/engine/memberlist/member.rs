//! What an agent knows about one node (`state.go` `nodeState`): its
//! [`MemberState`], and the [`Member`] view the agent hands out, with the
//! node's name resolved.

use std::net::Ipv4Addr;

use crate::time::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl MemberState {
    /// Gone from the cluster: no longer probed, no longer in `Members()`.
    pub fn dead_or_left(self) -> bool {
        matches!(self, MemberState::Dead | MemberState::Left)
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

/// One agent's view of one node, as [`super::Agent::members`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    name: String,
    addr: Ipv4Addr,
    incarnation: u32,
    state: MemberState,
    state_change: SimTime,
}

impl Member {
    pub(super) fn new(
        name: &str,
        addr: Ipv4Addr,
        incarnation: u32,
        state: MemberState,
        state_change: SimTime,
    ) -> Member {
        Member {
            name: name.to_string(),
            addr,
            incarnation,
            state,
            state_change,
        }
    }

    /// The node's name (the Kubernetes Node name).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Where its agent listens.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    /// The highest incarnation heard for it.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    pub fn state(&self) -> MemberState {
        self.state
    }
    /// When the agent last saw its state change.
    pub fn state_change(&self) -> SimTime {
        self.state_change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_and_left_are_gone() {
        let gone: Vec<MemberState> = [
            MemberState::Alive,
            MemberState::Suspect,
            MemberState::Dead,
            MemberState::Left,
        ]
        .into_iter()
        .filter(|s| s.dead_or_left())
        .collect();
        assert_eq!(gone, vec![MemberState::Dead, MemberState::Left]);
        assert_eq!(MemberState::Suspect.as_str(), "Suspect");
    }
}
