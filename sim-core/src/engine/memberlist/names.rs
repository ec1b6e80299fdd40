//! Member ids: the agent's protocol state (members, probe order, suspicion
//! confirmations, broadcast queue) names members by a small copyable
//! [`MemberId`]; one [`NameTable`] per agent maps ids to node names. Names
//! are used only where the wire format carries them (encoded messages) and
//! in what the agent reports (events, member lists).
//!
//! A name is held as an `Arc<str>`: names given with the peers
//! ([`NameTable::intern_shared`]) are the caller's allocation, so a
//! simulator running one agent per node keeps each name once, not once per
//! agent (n² names otherwise).
//!
//! Ids are never reused and never forgotten: a member that is forgotten
//! (dead for longer than gossip-to-the-dead) and comes back gets its old id.
//! Ids carry no order that the protocol looks at; every ordering the agent
//! makes is by insertion into its member table or by name.

use std::sync::Arc;

use indexmap::IndexSet;

/// A member as one agent knows it: an index into that agent's name table.
/// Meaningless to another agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(u32);

/// The names an agent has seen, each under one [`MemberId`].
#[derive(Clone, Debug, Default)]
pub(super) struct NameTable {
    names: IndexSet<Arc<str>>,
}

impl NameTable {
    /// The id of `name`, given a new one on first sight.
    pub(super) fn intern(&mut self, name: &str) -> MemberId {
        if let Some(i) = self.names.get_index_of(name) {
            return MemberId(i as u32);
        }
        let (i, _) = self.names.insert_full(name.into());
        MemberId(i as u32)
    }

    /// [`NameTable::intern`] keeping the caller's allocation of the name.
    pub(super) fn intern_shared(&mut self, name: &Arc<str>) -> MemberId {
        if let Some(i) = self.names.get_index_of(&**name) {
            return MemberId(i as u32);
        }
        let (i, _) = self.names.insert_full(name.clone());
        MemberId(i as u32)
    }

    /// The id of `name`, if it was ever seen.
    pub(super) fn lookup(&self, name: &str) -> Option<MemberId> {
        self.names.get_index_of(name).map(|i| MemberId(i as u32))
    }

    /// The name behind `id`. Ids come only from this table.
    pub(super) fn name(&self, id: MemberId) -> &str {
        self.names
            .get_index(id.0 as usize)
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
}
