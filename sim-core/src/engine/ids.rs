//! Small copyable identities for the cluster's nodes and Pods, and the sets
//! and tables built on them.
//!
//! Names (`k8s-node-vm-1-cl-02`, `yelb/yelb-ui-7f9c`) are what the YAML says
//! and what tables and logs print; inside the engine a node is a [`NodeId`]
//! and a Pod a [`PodId`], and [`super::ClusterState`] is the one name table
//! that turns one into the other.
//!
//! - [`NodeId`]: the node's index in the cluster's node list. Nodes come from
//!   the topology (or a cluster dump) in its order and are never removed, so
//!   the index is stable for the life of the cluster state. Node order is
//!   topology order, not name order: code whose output depends on the order
//!   of names (logs, the consistent-hash ring) orders by name explicitly
//!   ([`super::ClusterState::nodes_by_name`]).
//! - [`NodeSet`]: a set of nodes as a bitset, one bit per node: an agent's
//!   memberlist view costs n bits, not n names. Iterates in [`NodeId`] order.
//! - [`PodId`]: a slot in [`PodTable`]. Pods are added and deleted, and an
//!   id must not move when another Pod goes, so slots are never reused: a
//!   deleted Pod leaves an empty slot and a new Pod always takes the next
//!   one. Iterating the table in slot order is creation order, as the Pod
//!   list was before ids. (A long run that churns Pods grows the slot list
//!   by one empty slot per deletion: 8 bytes each.)
//! - `model::DeviceId` stays the id of a device in the topology and the
//!   simulator; each [`super::NodeState`] records its device.

use std::fmt;

/// A node of the cluster: its index in the node list (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A Pod of the cluster: its slot in the [`PodTable`] (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodId(pub u32);

impl PodId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of nodes: one bit per [`NodeId`], iterated in id order.
///
/// Kept canonical (no trailing zero word) so that equal sets compare and
/// order equal whatever they were built from; the order itself (by words)
/// means nothing beyond being deterministic, for use as a map key.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    pub fn new() -> NodeSet {
        NodeSet::default()
    }

    fn at(id: NodeId) -> (usize, u64) {
        (id.index() / 64, 1u64 << (id.index() % 64))
    }

    /// Adds `id`; true if it was not there.
    pub fn insert(&mut self, id: NodeId) -> bool {
        let (w, bit) = Self::at(id);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        let fresh = self.words[w] & bit == 0;
        self.words[w] |= bit;
        fresh
    }

    /// Removes `id`; true if it was there.
    pub fn remove(&mut self, id: NodeId) -> bool {
        let (w, bit) = Self::at(id);
        let Some(word) = self.words.get_mut(w) else {
            return false;
        };
        let had = *word & bit != 0;
        *word &= !bit;
        self.trim();
        had
    }

    fn trim(&mut self) {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    pub fn contains(&self, id: NodeId) -> bool {
        let (w, bit) = Self::at(id);
        self.words.get(w).is_some_and(|word| word & bit != 0)
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The members in ascending [`NodeId`] order.
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(NodeId(w as u32 * 64 + bit))
            })
        })
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &NodeSet) -> NodeSet {
        let mut out = NodeSet {
            words: self
                .words
                .iter()
                .zip(&other.words)
                .map(|(a, b)| a & b)
                .collect(),
        };
        out.trim();
        out
    }

    /// Members of either set.
    pub fn union(&self, other: &NodeSet) -> NodeSet {
        let (long, short) = if self.words.len() >= other.words.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut words = long.words.clone();
        for (w, s) in words.iter_mut().zip(&short.words) {
            *w |= s;
        }
        NodeSet { words }
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(iter: I) -> NodeSet {
        let mut s = NodeSet::new();
        s.extend(iter);
        s
    }
}

impl Extend<NodeId> for NodeSet {
    fn extend<I: IntoIterator<Item = NodeId>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl fmt::Debug for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|n| n.0)).finish()
    }
}

/// Pods by [`PodId`]: slots that are never reused (see the module doc).
#[derive(Clone, Debug)]
pub struct PodTable<T> {
    slots: Vec<Option<T>>,
    live: usize,
}

impl<T> Default for PodTable<T> {
    fn default() -> Self {
        PodTable {
            slots: Vec::new(),
            live: 0,
        }
    }
}

impl<T> PodTable<T> {
    /// Stores `value` in the next slot.
    pub fn push(&mut self, value: T) -> PodId {
        let id = PodId(u32::try_from(self.slots.len()).expect("fewer than 2^32 Pods"));
        self.slots.push(Some(value));
        self.live += 1;
        id
    }

    /// Empties `id`'s slot for good.
    pub fn remove(&mut self, id: PodId) -> Option<T> {
        let v = self.slots.get_mut(id.index())?.take();
        if v.is_some() {
            self.live -= 1;
        }
        v
    }

    pub fn get(&self, id: PodId) -> Option<&T> {
        self.slots.get(id.index())?.as_ref()
    }

    pub fn get_mut(&mut self, id: PodId) -> Option<&mut T> {
        self.slots.get_mut(id.index())?.as_mut()
    }

    /// How many Pods there are (not slots).
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The Pods with their ids, in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (PodId, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((PodId(i as u32), s.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ids(v: &[u32]) -> Vec<NodeId> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn node_set_iterates_in_id_order_across_words() {
        let s: NodeSet = ids(&[130, 3, 64, 0, 63, 3]).into_iter().collect();
        assert_eq!(s.iter().collect::<Vec<_>>(), ids(&[0, 3, 63, 64, 130]));
        assert_eq!(s.len(), 5);
        assert!(s.contains(NodeId(64)) && !s.contains(NodeId(65)));
        assert!(!s.contains(NodeId(10_000)));
    }

    #[test]
    fn node_sets_equal_by_members_whatever_their_history() {
        let mut a: NodeSet = ids(&[1, 200]).into_iter().collect();
        assert!(a.remove(NodeId(200)));
        assert!(!a.remove(NodeId(200)));
        let b: NodeSet = ids(&[1]).into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
        assert!(a.remove(NodeId(1)));
        assert!(a.is_empty());
        assert_eq!(a, NodeSet::new());
    }

    proptest! {
        /// Insert, remove, union and intersection agree with a BTreeSet,
        /// and iteration is ascending.
        #[test]
        fn node_set_behaves_like_a_sorted_set(
            ops in proptest::collection::vec((any::<bool>(), 0u32..300), 0..200),
            other in proptest::collection::btree_set(0u32..300, 0..50),
        ) {
            let mut s = NodeSet::new();
            let mut model: BTreeSet<u32> = BTreeSet::new();
            for (add, i) in ops {
                if add {
                    prop_assert_eq!(s.insert(NodeId(i)), model.insert(i));
                } else {
                    prop_assert_eq!(s.remove(NodeId(i)), model.remove(&i));
                }
            }
            prop_assert_eq!(s.iter().map(|n| n.0).collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(s.len(), model.len());
            let o: NodeSet = other.iter().map(|&i| NodeId(i)).collect();
            let union: Vec<u32> = model.union(&other).copied().collect();
            let inter: Vec<u32> = model.intersection(&other).copied().collect();
            prop_assert_eq!(s.union(&o).iter().map(|n| n.0).collect::<Vec<_>>(), union.clone());
            prop_assert_eq!(s.intersection(&o).iter().map(|n| n.0).collect::<Vec<_>>(), inter.clone());
            // Canonical: a set equals the one built from its members.
            let rebuilt: NodeSet = inter.iter().map(|&i| NodeId(i)).collect();
            prop_assert_eq!(s.intersection(&o), rebuilt);
        }
    }

    #[test]
    fn pod_slots_are_never_reused() {
        let mut t = PodTable::default();
        let a = t.push("a");
        let b = t.push("b");
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.remove(a), None);
        let c = t.push("c");
        assert_ne!(c, a);
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.get(a), None);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec!["b", "c"]
        );
    }
}
