//! Member ids: the agent's protocol state (members, probe order, suspicion
//! confirmations, broadcast queue) names members by a small copyable
//! [`MemberId`]; one [`NameTable`] per agent maps ids to node names. Names
//! are used only where the wire format carries them (encoded messages) and
//! in what the agent reports (events, member lists).
//!
//! A name is held as an `Arc<str>`: names given with the peers
//! ([`NameTable::intern_shared`]) are the caller's allocation, so a
//! simulator running one agent per node keeps each name once, not once per
//! agent (n² names otherwise). An agent started converged
//! ([`super::Roster`]) goes further: the roster's names are the first ids
//! of its table, shared by every agent started from that roster, and only
//! names it meets later are its own.
//!
//! Ids are never reused and never forgotten: a member that is forgotten
//! (dead for longer than gossip-to-the-dead) and comes back gets its old id.
//! Ids carry no order that the protocol looks at; every ordering the agent
//! makes is by insertion into its member table or by name.

use std::sync::Arc;

use indexmap::IndexSet;

use super::roster::Roster;

/// A member as one agent knows it: an index into that agent's name table.
/// Meaningless to another agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(u32);

impl MemberId {
    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
    pub(super) fn from_index(i: usize) -> MemberId {
        MemberId(i as u32)
    }
}

/// The names an agent has seen, each under one [`MemberId`]: the roster's
/// names (shared) under ids `0..roster.len()`, then the agent's own.
#[derive(Clone, Debug, Default)]
pub(super) struct NameTable {
    roster: Arc<Roster>,
    own: IndexSet<Arc<str>>,
}

impl NameTable {
    /// A table whose first ids are `roster`'s names, in its order.
    pub(super) fn with_roster(roster: Arc<Roster>) -> NameTable {
        NameTable {
            roster,
            own: IndexSet::new(),
        }
    }

    /// The id of `name`, given a new one on first sight.
    pub(super) fn intern(&mut self, name: &str) -> MemberId {
        if let Some(id) = self.lookup(name) {
            return id;
        }
        let (i, _) = self.own.insert_full(name.into());
        MemberId::from_index(self.roster.len() + i)
    }

    /// [`NameTable::intern`] keeping the caller's allocation of the name.
    pub(super) fn intern_shared(&mut self, name: &Arc<str>) -> MemberId {
        if let Some(id) = self.lookup(name) {
            return id;
        }
        let (i, _) = self.own.insert_full(name.clone());
        MemberId::from_index(self.roster.len() + i)
    }

    /// The id of `name`, if it was ever seen.
    pub(super) fn lookup(&self, name: &str) -> Option<MemberId> {
        if let Some(id) = self.roster.id_of(name) {
            return Some(id);
        }
        let i = self.own.get_index_of(name)?;
        Some(MemberId::from_index(self.roster.len() + i))
    }

    /// `id`'s place in the roster, if it is one of the roster's names.
    pub(super) fn roster_place(&self, id: MemberId) -> Option<usize> {
        (id.index() < self.roster.len()).then_some(id.index())
    }

    /// The name behind `id`. Ids come only from this table.
    pub(super) fn name(&self, id: MemberId) -> &str {
        self.shared(id)
    }

    /// [`NameTable::name`] as the allocation every holder of it shares.
    pub(super) fn shared(&self, id: MemberId) -> &Arc<str> {
        if let Some(name) = self.roster.name(id) {
            return name;
        }
        self.own
            .get_index(id.index() - self.roster.len())
            .expect("a MemberId comes from its agent's table")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_one_id_per_name() {
        let mut t = NameTable::default();
        let a = t.intern("node-a");
        let b = t.intern("node-b");
        assert_ne!(a, b);
        assert_eq!(t.intern("node-a"), a);
        assert_eq!(t.name(a), "node-a");
        assert_eq!(t.name(b), "node-b");
    }

    #[test]
    fn shared_names_are_the_same_ids_and_allocations() {
        let mut t = NameTable::default();
        let a: Arc<str> = "node-a".into();
        let id = t.intern_shared(&a);
        assert_eq!(t.intern("node-a"), id);
        assert_eq!(t.lookup("node-a"), Some(id));
        // The table holds the caller's allocation, not a copy.
        assert_eq!(Arc::strong_count(&a), 2);
        let b = t.intern("node-b");
        assert_eq!(t.intern_shared(&"node-b".into()), b);
    }

    #[test]
    fn lookup_never_adds() {
        let mut t = NameTable::default();
        assert_eq!(t.lookup("x"), None);
        let x = t.intern("x");
        assert_eq!(t.lookup("x"), Some(x));
        assert_eq!(t.lookup("y"), None);
        // Still only one name: a lookup of "y" left no trace.
        assert_eq!(t.intern("y"), t.lookup("y").unwrap());
        assert_ne!(t.lookup("y"), Some(x));
    }

    #[test]
    fn roster_names_come_first_and_are_shared() {
        let peers: Vec<(Arc<str>, std::net::Ipv4Addr)> = ["b", "a"]
            .iter()
            .enumerate()
            .map(|(i, n)| ((*n).into(), std::net::Ipv4Addr::new(10, 0, 0, i as u8)))
            .collect();
        let roster = Roster::new(&peers);
        let mut t = NameTable::with_roster(roster.clone());
        let mut u = NameTable::with_roster(roster);
        // Roster ids are equal in every table that shares the roster.
        assert_eq!(t.lookup("b"), Some(MemberId(0)));
        assert_eq!(u.lookup("a"), Some(MemberId(1)));
        // A name outside the roster is the table's own, after the roster.
        let c = t.intern("c");
        assert_eq!(c, MemberId(2));
        assert_eq!(t.name(c), "c");
        assert_eq!(t.name(MemberId(1)), "a");
        assert_eq!(u.lookup("c"), None);
        assert_eq!(u.intern("d"), MemberId(2));
        assert_eq!(t.intern("b"), MemberId(0));
    }
}
