//! The agent's member table (`nodeMap` and `nodes` in memberlist): what it
//! knows about each member, in the order members became known.
//!
//! An agent started converged holds the [`Roster`]'s members without a
//! copy of them: each is Alive at incarnation 1 since the converged start
//! until the agent learns otherwise, and the table keeps only the members
//! whose state differs from that, the ones it met outside the roster and
//! the ones it forgot. Every agent of a converged cluster would otherwise
//! hold the same n entries (n² for the cluster). An agent that joined holds
//! every member itself, the roster being empty.
//!
//! Order is what an `IndexMap` with `shift_remove` would give: the members
//! listed before the converged start (the agent itself), the roster's
//! members in roster order, then those met later; a forgotten member that
//! comes back goes to the end.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::engine::memberlist::member::MemberState;
use crate::engine::memberlist::messages::{PushState, PushStates};
use crate::engine::memberlist::names::{MemberId, NameTable};
use crate::engine::memberlist::roster::Roster;
use crate::time::SimTime;

/// What the agent knows about one member (`nodeState`); its suspicion
/// timer, when it has one, is kept apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NodeState {
    pub(super) id: MemberId,
    pub(super) addr: Ipv4Addr,
    pub(super) incarnation: u32,
    pub(super) state: MemberState,
    pub(super) state_change: SimTime,
}

impl NodeState {
    /// Its push/pull entry, under its name in `names`.
    pub(super) fn push_state<'a>(&self, names: &'a NameTable) -> PushState<'a> {
        PushState::new(names.name(self.id), self.addr, self.incarnation, self.state)
    }
}

/// A member whose entry is not its roster default.
#[derive(Clone, Copy, Debug)]
struct Change {
    /// `None`: forgotten (a roster member no longer held).
    state: Option<NodeState>,
    /// Held in `listed` rather than in its roster place.
    listed: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct MemberTable {
    roster: Arc<Roster>,
    /// Whether the roster's members are held (from the converged start).
    held: bool,
    converged_at: SimTime,
    changes: BTreeMap<MemberId, Change>,
    /// Members held outside a roster place, in the order they became known.
    listed: Vec<MemberId>,
    /// How many of `listed` come before the roster's members.
    before_roster: usize,
    len: usize,
}

impl MemberTable {
    /// A table that will hold `roster`'s members from [`MemberTable::hold_roster`] on.
    pub(super) fn with_roster(roster: Arc<Roster>) -> MemberTable {
        MemberTable {
            roster,
            ..MemberTable::default()
        }
    }

    /// From `now` on, every roster member not yet in the table is held
    /// Alive at incarnation 1, after the members already listed. Returns
    /// how many were added.
    pub(super) fn hold_roster(&mut self, now: SimTime) -> usize {
        debug_assert!(!self.held, "a roster is held once");
        self.held = true;
        self.converged_at = now;
        self.before_roster = self.listed.len();
        let known = self
            .changes
            .keys()
            .filter(|id| id.index() < self.roster.len())
            .count();
        let added = self.roster.len() - known;
        self.len += added;
        added
    }

    /// The roster members that [`MemberTable::hold_roster`] added, in order
    /// (those with no entry of their own at that time).
    pub(super) fn roster_defaults(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.roster
            .ids()
            .filter(|id| self.held && !self.changes.contains_key(id))
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, id: MemberId) -> Option<NodeState> {
        match self.changes.get(&id) {
            Some(c) => c.state,
            None => self.roster_default(id),
        }
    }

    pub(super) fn contains(&self, id: MemberId) -> bool {
        self.get(id).is_some()
    }

    /// A roster member as the converged start left it.
    fn roster_default(&self, id: MemberId) -> Option<NodeState> {
        if !self.held {
            return None;
        }
        let addr = self.roster.addr(id)?;
        Some(NodeState {
            id,
            addr,
            incarnation: Roster::START_INCARNATION,
            state: MemberState::Alive,
            state_change: self.converged_at,
        })
    }

    /// Adds a member the table does not hold, at the end.
    pub(super) fn insert(&mut self, n: NodeState) {
        debug_assert!(!self.contains(n.id), "insert of a held member");
        self.changes.insert(
            n.id,
            Change {
                state: Some(n),
                listed: true,
            },
        );
        self.listed.push(n.id);
        self.len += 1;
    }

    /// Replaces a held member's entry.
    pub(super) fn set(&mut self, n: NodeState) {
        let default = self.roster_default(n.id);
        match self.changes.get_mut(&n.id) {
            Some(c) => {
                debug_assert!(c.state.is_some(), "set of a forgotten member");
                c.state = Some(n);
                if !c.listed && default == Some(n) {
                    self.changes.remove(&n.id);
                }
            }
            None => {
                debug_assert!(default.is_some(), "set of a member never held");
                if default != Some(n) {
                    self.changes.insert(
                        n.id,
                        Change {
                            state: Some(n),
                            listed: false,
                        },
                    );
                }
            }
        }
    }

    /// Forgets a member; what it held, if anything.
    pub(super) fn remove(&mut self, id: MemberId) -> Option<NodeState> {
        let n = self.get(id)?;
        if self.changes.get(&id).is_some_and(|c| c.listed) {
            let at = self
                .listed
                .iter()
                .position(|l| *l == id)
                .expect("a listed member is in the list");
            self.listed.remove(at);
            if at < self.before_roster {
                self.before_roster -= 1;
            }
        }
        if self.roster_default(id).is_some() {
            self.changes.insert(
                id,
                Change {
                    state: None,
                    listed: false,
                },
            );
        } else {
            self.changes.remove(&id);
        }
        self.len -= 1;
        Some(n)
    }

    /// The held members passing `keep`, told apart from the roster (which
    /// the table holds in place unless told otherwise): the roster places
    /// not among them, and the members held outside a roster place that
    /// are. `None` while the roster is not held. `keep` must pass a
    /// roster member's default entry (Alive).
    pub(super) fn roster_split(
        &self,
        keep: impl Fn(&NodeState) -> bool,
    ) -> Option<(&Arc<Roster>, Vec<usize>, Vec<MemberId>)> {
        if !self.held {
            return None;
        }
        let absent = self
            .changes
            .iter()
            .filter(|(id, c)| {
                id.index() < self.roster.len() && (c.listed || c.state.is_none_or(|s| !keep(&s)))
            })
            .map(|(id, _)| id.index())
            .collect();
        let extra = self
            .listed
            .iter()
            .filter(|id| {
                self.changes
                    .get(id)
                    .and_then(|c| c.state)
                    .is_some_and(|s| keep(&s))
            })
            .copied()
            .collect();
        Some((&self.roster, absent, extra))
    }

    /// Every held member's push/pull entry, in order ([`MemberTable::iter`]),
    /// appended to `out` until its count is full. The roster's members
    /// still as the converged start left them are copied in runs from the
    /// roster's own encoding: a push/pull lists every member, and in a
    /// large cluster nearly all of them are those.
    pub(super) fn push_states(&self, names: &NameTable, out: &mut PushStates) {
        let entry = |id: &MemberId| self.changes.get(id).and_then(|c| c.state);
        let push = |out: &mut PushStates, n: NodeState| out.push(n.push_state(names));
        let (before, after) = self.listed.split_at(self.before_roster);
        for n in before.iter().filter_map(entry) {
            if !push(out, n) {
                return;
            }
        }
        if self.held {
            let len = self.roster.len();
            let mut next = 0;
            // Roster ids are the first ids, so these are its changed members in order.
            for (id, c) in self.changes.range(..MemberId::from_index(len)) {
                if !self.roster.push_defaults(next, id.index(), out) {
                    return;
                }
                if let Some(n) = c.state.filter(|_| !c.listed)
                    && !push(out, n)
                {
                    return;
                }
                next = id.index() + 1;
            }
            if !self.roster.push_defaults(next, len, out) {
                return;
            }
        }
        for n in after.iter().filter_map(entry) {
            if !push(out, n) {
                return;
            }
        }
    }

    /// What [`MemberTable::push_states`] writes, pushed one member at a
    /// time in table order: the form debug builds and tests check it by.
    pub(super) fn push_states_one_by_one(&self, names: &NameTable) -> PushStates {
        self.iter().map(|n| n.push_state(names)).collect()
    }

    /// Every held member, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = NodeState> + '_ {
        let entry = |id: &MemberId| self.changes.get(id).and_then(|c| c.state);
        let (before, after) = self.listed.split_at(self.before_roster);
        let roster = self
            .roster
            .ids()
            .take(if self.held { self.roster.len() } else { 0 })
            .filter_map(move |id| match self.changes.get(&id) {
                None => self.roster_default(id),
                Some(c) if !c.listed => c.state,
                Some(_) => None,
            });
        before
            .iter()
            .filter_map(entry)
            .chain(roster)
            .chain(after.iter().filter_map(entry))
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use proptest::prelude::*;

    use super::*;

    fn state(id: MemberId, incarnation: u32, t: u64) -> NodeState {
        NodeState {
            id,
            addr: Ipv4Addr::new(10, 0, 0, id.index() as u8),
            incarnation,
            state: MemberState::Alive,
            state_change: SimTime(t),
        }
    }

    /// The table's push/pull entries as [`MemberTable::push_states`]
    /// writes them, and pushed one member at a time in table order.
    fn both_encodings(table: &MemberTable, names: &NameTable) -> (PushStates, PushStates) {
        let mut copied = PushStates::default();
        table.push_states(names, &mut copied);
        (copied, table.push_states_one_by_one(names))
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, u32),
        Set(usize, u32),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..12usize, 0..3u32).prop_map(|(i, inc)| Op::Insert(i, inc)),
            (0..12usize, 0..3u32).prop_map(|(i, inc)| Op::Set(i, inc)),
            (0..12usize).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// A table over a roster holds what an `IndexMap` filled with the
        /// same members one by one holds, in the same order, after any run
        /// of inserts, changes and removals.
        #[test]
        fn a_roster_table_is_an_index_map(
            roster_len in 0..8usize,
            me in 0..10usize,
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let peers: Vec<(Arc<str>, Ipv4Addr)> = (0..roster_len)
                .map(|i| (format!("n{i}").into(), Ipv4Addr::new(10, 0, 0, i as u8)))
                .collect();
            let roster = Roster::new(&peers);
            let mut table = MemberTable::with_roster(roster.clone());
            let mut names = NameTable::with_roster(roster);
            for i in roster_len..12 {
                prop_assert_eq!(names.intern(&format!("m{i}")), MemberId::from_index(i));
            }
            let mut map: IndexMap<MemberId, NodeState> = IndexMap::new();
            // The agent itself first, then the converged start.
            let me = MemberId::from_index(me);
            table.insert(state(me, 1, 5));
            map.insert(me, state(me, 1, 5));
            table.hold_roster(SimTime(7));
            for i in 0..roster_len {
                let id = MemberId::from_index(i);
                map.entry(id).or_insert(state(id, 1, 7));
            }
            for op in ops {
                match op {
                    Op::Insert(i, inc) => {
                        let id = MemberId::from_index(i);
                        if !map.contains_key(&id) {
                            map.insert(id, state(id, inc, 9));
                            table.insert(state(id, inc, 9));
                        }
                    }
                    Op::Set(i, inc) => {
                        let id = MemberId::from_index(i);
                        if map.contains_key(&id) {
                            // Back to the roster default too (inc 1 at 7).
                            let n = state(id, inc, 7);
                            map.insert(id, n);
                            table.set(n);
                        }
                    }
                    Op::Remove(i) => {
                        let id = MemberId::from_index(i);
                        prop_assert_eq!(table.remove(id), map.shift_remove(&id));
                    }
                }
                prop_assert_eq!(table.len(), map.len());
                let held: Vec<NodeState> = table.iter().collect();
                let want: Vec<NodeState> = map.values().copied().collect();
                prop_assert_eq!(&held, &want);
                // The push/pull entries, copied in runs from the roster's
                // encoding, are those of the members one by one.
                let (copied, one_by_one) = both_encodings(&table, &names);
                prop_assert_eq!(copied, one_by_one);
                for i in 0..12 {
                    let id = MemberId::from_index(i);
                    prop_assert_eq!(table.get(id), map.get(&id).copied());
                }
            }
        }
    }

    /// A push/pull holds at most `u16::MAX` entries: copying the roster's
    /// runs stops where pushing them one by one would.
    #[test]
    fn push_states_stop_at_the_count_limit() {
        let peers: Vec<(Arc<str>, Ipv4Addr)> = (0..70_000u32)
            .map(|i| (format!("n{i}").into(), Ipv4Addr::from(0x0a00_0000 + i)))
            .collect();
        let roster = Roster::new(&peers);
        let mut table = MemberTable::with_roster(roster.clone());
        let names = NameTable::with_roster(roster);
        table.hold_roster(SimTime(0));
        // One changed member inside the run, one past the limit.
        for i in [40_000, 69_000] {
            let mut n = table.get(MemberId::from_index(i)).unwrap();
            n.incarnation = 2;
            table.set(n);
        }
        let (copied, one_by_one) = both_encodings(&table, &names);
        assert_eq!(copied.len(), usize::from(u16::MAX));
        assert!(copied == one_by_one);
        assert_eq!(copied.iter().nth(40_000).map(|s| s.incarnation()), Some(2));
    }

    #[test]
    fn a_converged_table_keeps_only_what_differs() {
        let peers: Vec<(Arc<str>, Ipv4Addr)> = (0..100)
            .map(|i| (format!("n{i}").into(), Ipv4Addr::new(10, 0, 0, i as u8)))
            .collect();
        let mut table = MemberTable::with_roster(Roster::new(&peers));
        let me = MemberId::from_index(3);
        table.insert(state(me, 1, 0));
        assert_eq!(table.hold_roster(SimTime(0)), 99);
        assert_eq!(table.len(), 100);
        // Only the agent itself has an entry of its own.
        assert_eq!(table.changes.len(), 1);
        let mut n = table.get(MemberId::from_index(50)).unwrap();
        n.state = MemberState::Suspect;
        table.set(n);
        assert_eq!(table.changes.len(), 2);
        n.state = MemberState::Alive;
        table.set(n);
        assert_eq!(table.changes.len(), 1, "back to the default: no entry");
        assert_eq!(table.iter().next().map(|n| n.id), Some(me));
    }
}
