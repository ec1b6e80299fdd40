//! Conntrack's entries and the one index that finds an entry by either of
//! its tuples.
//!
//! A node's table holds a flow for every peer its memberlist agent talks
//! to, thousands in a large lab, and every packet looks its flow up, so the
//! table's layout decides how many cache lines a packet costs. The entries
//! sit in one vector, in the order a map keyed by the original tuple would
//! keep them (a new flow is appended, a replaced one keeps its place, a
//! removed one's place takes the last entry). One hash index of 4-byte
//! records points into it, hashed by a tuple's direction-free form (its two
//! ends in order), so a flow whose reply is its original reversed (the
//! untranslated ones, nearly all) needs one record for both directions, and
//! a lookup in either direction is one probe of the index and one read of
//! the entry. A translated flow has a record for each tuple.

use std::hash::Hasher;

use hashbrown::HashTable;

use super::{CtEntry, FlowKey};
use crate::keyhash::WordHasher;

/// A record's flag: it was filed under the entry's reply tuple.
const REPLY: u32 = 1 << 31;

/// The entries and their index ([`FlowTable::find_original`],
/// [`FlowTable::find_reply`]). Original tuples are unique, and so are reply
/// tuples; the caller keeps the latter so (conntrack never commits a reply
/// tuple a live flow uses).
#[derive(Clone, Debug, Default)]
pub(super) struct FlowTable {
    entries: Vec<CtEntry>,
    /// An entry's place, with [`REPLY`] set on the record filed under its
    /// reply tuple (only for an entry that needs two records).
    index: HashTable<u32>,
}

/// The hash of a tuple's direction-free form: the same for a tuple and its
/// reverse. The addresses go in the words' low bits, which pick the bucket
/// ([`WordHasher`] carries low bits upwards only): memberlist's flows all
/// share one port.
fn tuple_hash(k: &FlowKey) -> u64 {
    let a = u64::from(k.sport) << 32 | u64::from(k.src.to_bits());
    let b = u64::from(k.dport) << 32 | u64::from(k.dst.to_bits());
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = WordHasher::default();
    h.write_u64(lo);
    h.write_u64(hi | u64::from(k.proto) << 48);
    h.finish()
}

/// The entry place a record holds.
fn place(record: u32) -> usize {
    (record & !REPLY) as usize
}

/// The tuple of `e` that `record` was filed under.
fn filed_under(e: &CtEntry, record: u32) -> &FlowKey {
    if record & REPLY == 0 {
        &e.original
    } else {
        &e.reply
    }
}

/// Whether one record finds an entry by both tuples: its reply is its
/// original reversed (or, oddly, the original itself).
fn one_record(e: &CtEntry) -> bool {
    e.reply == e.original.reversed() || e.reply == e.original
}

impl FlowTable {
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    /// The entries, in the table's order.
    pub(super) fn entries(&self) -> &[CtEntry] {
        &self.entries
    }

    pub(super) fn get(&self, i: usize) -> &CtEntry {
        &self.entries[i]
    }

    pub(super) fn get_mut(&mut self, i: usize) -> &mut CtEntry {
        &mut self.entries[i]
    }

    /// The place of the entry whose original tuple is `k`.
    pub(super) fn find_original(&self, k: &FlowKey) -> Option<usize> {
        self.find(k, |e| &e.original)
    }

    /// The place of the entry whose reply tuple is `k`.
    pub(super) fn find_reply(&self, k: &FlowKey) -> Option<usize> {
        self.find(k, |e| &e.reply)
    }

    /// The place of the entry whose `tuple` is `k`.
    fn find(&self, k: &FlowKey, tuple: fn(&CtEntry) -> &FlowKey) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(tuple_hash(k), |&r| tuple(&entries[place(r)]) == k)
            .map(|&r| place(r))
    }

    /// Adds `e`, or puts it in the place of the entry with the same
    /// original tuple, which is given back.
    pub(super) fn insert(&mut self, e: CtEntry) -> (usize, Option<CtEntry>) {
        match self.find_original(&e.original) {
            Some(i) => {
                self.unfile(i);
                let old = std::mem::replace(&mut self.entries[i], e);
                self.file(i);
                (i, Some(old))
            }
            None => {
                let i = self.entries.len();
                assert!(i < REPLY as usize, "conntrack table full");
                self.entries.push(e);
                self.file(i);
                (i, None)
            }
        }
    }

    /// Removes the entry at `i`; the last entry takes its place.
    pub(super) fn swap_remove(&mut self, i: usize) -> CtEntry {
        self.unfile(i);
        let last = self.entries.len() - 1;
        if i != last {
            for (hash, record) in self.records(last) {
                let moved = self
                    .index
                    .find_mut(hash, |&r| r == record)
                    .expect("every entry is filed");
                *moved = i as u32 | (record & REPLY);
            }
        }
        self.entries.swap_remove(i)
    }

    /// The records entry `i` is filed under, with their hashes.
    fn records(&self, i: usize) -> impl Iterator<Item = (u64, u32)> + use<> {
        let e = &self.entries[i];
        let original = (tuple_hash(&e.original), i as u32);
        let reply = (!one_record(e)).then(|| (tuple_hash(&e.reply), i as u32 | REPLY));
        std::iter::once(original).chain(reply)
    }

    /// Files entry `i` in the index.
    fn file(&mut self, i: usize) {
        for (hash, record) in self.records(i) {
            let entries = &self.entries;
            self.index.insert_unique(hash, record, |&r| {
                tuple_hash(filed_under(&entries[place(r)], r))
            });
        }
    }

    /// Takes entry `i`'s records out of the index.
    fn unfile(&mut self, i: usize) {
        for (hash, record) in self.records(i) {
            if let Ok(found) = self.index.find_entry(hash, |&r| r == record) {
                found.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn key(proto: u8, s: u8, sport: u16, d: u8, dport: u16) -> FlowKey {
        FlowKey {
            proto,
            src: Ipv4Addr::new(10, 0, 0, s),
            sport,
            dst: Ipv4Addr::new(10, 0, 0, d),
            dport,
        }
    }

    fn entry(original: FlowKey, reply: FlowKey) -> CtEntry {
        CtEntry {
            original,
            dnat: None,
            snat: None,
            reply,
            extra: None,
            packets: 0,
            bytes: 0,
            reverse_packets: 0,
            reverse_bytes: 0,
            first_seen: SimTime(0),
            last_seen: SimTime(0),
            tcp_state: None,
            expires: SimTime(0),
        }
    }

    fn small_key() -> impl Strategy<Value = FlowKey> {
        (
            prop_oneof![Just(6u8), Just(17u8)],
            1u8..4,
            1u16..3,
            1u8..4,
            1u16..3,
        )
            .prop_map(|(p, s, sp, d, dp)| key(p, s, sp, d, dp))
    }

    #[test]
    fn a_tuple_and_its_reverse_hash_alike_and_protocols_apart() {
        let k = key(17, 1, 10351, 2, 10351);
        assert_eq!(tuple_hash(&k), tuple_hash(&k.reversed()));
        let other = key(17, 1, 10351, 2, 80);
        assert_ne!(tuple_hash(&k), tuple_hash(&other));
        let tcp = key(6, 1, 10351, 2, 10351);
        assert_ne!(tuple_hash(&k), tuple_hash(&tcp));
    }

    #[test]
    fn an_untranslated_flow_is_filed_once_a_translated_one_twice() {
        let mut t = FlowTable::default();
        let plain = key(17, 1, 7, 2, 7);
        t.insert(entry(plain, plain.reversed()));
        assert_eq!(t.index.len(), 1);
        let nat = key(6, 1, 5000, 3, 80);
        t.insert(entry(nat, key(6, 4, 8080, 1, 5000)));
        assert_eq!(t.index.len(), 3);
        assert_eq!(t.find_reply(&plain.reversed()), Some(0));
        assert_eq!(t.find_original(&plain), Some(0));
        assert_eq!(t.find_reply(&plain), None);
        assert_eq!(t.find_reply(&key(6, 4, 8080, 1, 5000)), Some(1));
        assert_eq!(t.find_original(&key(6, 4, 8080, 1, 5000)), None);
        t.swap_remove(0);
        assert_eq!(t.index.len(), 2);
        assert_eq!(t.find_original(&nat), Some(0));
        assert_eq!(t.find_reply(&key(6, 4, 8080, 1, 5000)), Some(0));
    }

    proptest! {
        /// After any inserts, replacements and removals the index finds
        /// what a scan of the entries finds, in both directions, and the
        /// entries keep the order an `IndexMap` keyed by the original
        /// tuple would.
        #[test]
        fn the_index_finds_what_a_scan_finds(
            ops in proptest::collection::vec((any::<bool>(), small_key(), small_key(), any::<bool>(), 0usize..8), 1..80),
            probes in proptest::collection::vec(small_key(), 8),
        ) {
            let mut t = FlowTable::default();
            let mut model: indexmap::IndexMap<FlowKey, FlowKey> = indexmap::IndexMap::new();
            for (add, original, other, reversed, at) in ops {
                if add {
                    let reply = if reversed { original.reversed() } else { other };
                    // The caller keeps reply tuples unique.
                    if model.iter().any(|(o, r)| *r == reply && *o != original) {
                        continue;
                    }
                    let (i, old) = t.insert(entry(original, reply));
                    let (j, was) = model.insert_full(original, reply);
                    prop_assert_eq!(i, j);
                    prop_assert_eq!(old.map(|e| e.reply), was);
                } else if !model.is_empty() {
                    let at = at % model.len();
                    let gone = t.swap_remove(at);
                    let (o, r) = model.swap_remove_index(at).unwrap();
                    prop_assert_eq!((gone.original, gone.reply), (o, r));
                }
                let listed: Vec<(FlowKey, FlowKey)> =
                    t.entries().iter().map(|e| (e.original, e.reply)).collect();
                let want: Vec<(FlowKey, FlowKey)> = model.iter().map(|(o, r)| (*o, *r)).collect();
                prop_assert_eq!(listed, want);
                let records: usize = t.entries().iter().map(|e| if one_record(e) { 1 } else { 2 }).sum();
                prop_assert_eq!(t.index.len(), records);
                for k in &probes {
                    prop_assert_eq!(t.find_original(k), model.get_index_of(k));
                    prop_assert_eq!(t.find_reply(k), model.values().position(|r| r == k));
                }
            }
        }
    }
}
