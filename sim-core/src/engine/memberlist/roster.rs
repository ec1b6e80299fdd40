//! The members a converged cluster's agents all start out knowing (a
//! scenario's `warmStart`): every peer Alive at incarnation 1, named and
//! addressed as the Kubernetes Nodes are. Built once per start and shared
//! by every agent, so that n agents hold one copy of the n names and
//! addresses instead of n copies each; an agent keeps only where its view
//! differs (`agent::table`).

use std::net::Ipv4Addr;
use std::sync::Arc;

use indexmap::IndexSet;

use super::codec::write_push_state;
use super::member::MemberState;
use super::messages::{PushState, PushStates};
use super::names::MemberId;

/// The peers in the order given, a name that repeats counted once (its
/// first address kept, as a second Alive with another address is refused).
#[derive(Debug, Default)]
pub struct Roster {
    names: IndexSet<Arc<str>>,
    addrs: Vec<Ipv4Addr>,
    /// Every member's push/pull entry as the converged start has it (Alive
    /// at incarnation 1), in roster order, in its wire encoding: an agent's
    /// push/pull copies the runs of members it holds as they started.
    defaults: Vec<u8>,
    /// Where each member's entry ends in `defaults`.
    default_ends: Vec<usize>,
}

impl Roster {
    /// The incarnation every roster member holds as the converged start
    /// left it (Alive).
    pub(super) const START_INCARNATION: u32 = 1;

    pub fn new(peers: &[(Arc<str>, Ipv4Addr)]) -> Arc<Roster> {
        let mut roster = Roster::default();
        for (name, addr) in peers {
            if roster.names.insert(name.clone()) {
                roster.addrs.push(*addr);
                let entry =
                    PushState::new(name, *addr, Self::START_INCARNATION, MemberState::Alive);
                write_push_state(&mut roster.defaults, &entry);
                roster.default_ends.push(roster.defaults.len());
            }
        }
        Arc::new(roster)
    }

    /// Appends members `from..to`'s default entries (as the converged
    /// start has them) to `out`; false when the count had no room for all.
    pub(super) fn push_defaults(&self, from: usize, to: usize, out: &mut PushStates) -> bool {
        if from >= to {
            return true;
        }
        let start = from.checked_sub(1).map_or(0, |i| self.default_ends[i]);
        out.push_encoded(&self.defaults, start, &self.default_ends[from..to])
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(super) fn id_of(&self, name: &str) -> Option<MemberId> {
        self.names.get_index_of(name).map(MemberId::from_index)
    }

    pub(super) fn name(&self, id: MemberId) -> Option<&Arc<str>> {
        self.names.get_index(id.index())
    }

    pub(super) fn addr(&self, id: MemberId) -> Option<Ipv4Addr> {
        self.addrs.get(id.index()).copied()
    }

    /// Every name, in roster order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &Arc<str>> + '_ {
        self.names.iter()
    }

    /// Every roster id, in order.
    pub(super) fn ids(&self) -> impl Iterator<Item = MemberId> + '_ {
        (0..self.len()).map(MemberId::from_index)
    }
}
