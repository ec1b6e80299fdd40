//! The default queue: `std::collections::BinaryHeap` over 16-byte packed keys,
//! payloads kept aside in a slab.
//!
//! Each heap entry is one `u128`: `time << 64 | seq << 32 | slot`. The heap compares
//! that integer and nothing else, and moves 16 bytes per sift step whatever the
//! payload type is; the payload sits in `slab[slot]` and is touched once on push
//! and once on pop. Measured on the hold benchmark (population 100 000), this beat
//! a heap of `(u128 key, payload)` entries and a heap of `(u128 key, u32 slot)` by
//! roughly 25 %: a pop walks ~17 levels of a heap too big for the cache, so entry
//! size is what counts.
//!
//! Pops are lazy. A discrete-event loop almost always pushes right after it pops
//! (the event it just ran schedules the next one), so `pop` hands out the root's
//! event but leaves its key in place, marked stale; the next `push` overwrites the
//! stale root with the new key and sifts it down once (`BinaryHeap::peek_mut`),
//! instead of one full pop plus one push. A `pop` that finds a stale root removes
//! it first. This measured about 12 % faster again on the hold benchmark.
//!
//! `seq` has only 32 bits here. The order it encodes is only ever compared between
//! *pending* events, so when it runs out the queue renumbers the pending events
//! `0..len` in their current order (a sort, once per 2^32 pushes) and carries on:
//! the observable order is still exactly `(time, push order)`. `slot` is unique
//! among pending events, and since `seq` already is, it never decides a comparison.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{Scheduler, key_time};
use crate::time::SimTime;

/// A packed `time << 64 | seq << 32 | slot`, ordered *reversed* so that the
/// max-heap `BinaryHeap` pops the earliest key.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u128);

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

const SEQ_MASK: u128 = (u32::MAX as u128) << 32;

/// Binary-heap scheduler: O(log n) push and pop, 16 bytes per heap entry.
/// Holds at most `u32::MAX` pending events (slot numbers are 32 bits).
pub struct HeapScheduler<E> {
    heap: BinaryHeap<Key>,
    /// Payloads by slot; `None` marks a free slot.
    slab: Vec<Option<E>>,
    /// Free slots, reused last-freed-first so the slab stays small and warm.
    free: Vec<u32>,
    /// Sequence number of the next push within the current numbering.
    next_seq: u32,
    /// The root is an event `pop` already handed out (see the module doc); its
    /// slot is empty and is reused by the next push.
    stale: bool,
}

impl<E> HeapScheduler<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Pre-sizes heap and slab so a known population does not reallocate while filling.
    pub fn with_capacity(capacity: usize) -> Self {
        HeapScheduler {
            heap: BinaryHeap::with_capacity(capacity),
            slab: Vec::with_capacity(capacity),
            free: Vec::new(),
            next_seq: 0,
            stale: false,
        }
    }

    /// Removes a stale root for good, freeing its slot.
    fn settle(&mut self) {
        if self.stale {
            self.stale = false;
            if let Some(key) = self.heap.pop() {
                self.free.push(key.0 as u32);
            }
        }
    }

    /// Gives the pending events the sequence numbers `0..len` in their current
    /// order, freeing the rest of the 32-bit space.
    fn renumber(&mut self) {
        self.settle();
        let mut keys = std::mem::take(&mut self.heap).into_vec();
        keys.sort_unstable_by_key(|k| k.0);
        for (seq, k) in keys.iter_mut().enumerate() {
            k.0 = (k.0 & !SEQ_MASK) | ((seq as u128) << 32);
        }
        self.next_seq = u32::try_from(keys.len()).expect("at most u32::MAX pending events");
        self.heap = BinaryHeap::from(keys);
    }

    /// Test hook: start numbering near the end of the 32-bit space.
    #[cfg(test)]
    pub(super) fn set_next_seq(&mut self, seq: u32) {
        assert!(self.is_empty());
        self.next_seq = seq;
    }
}

impl<E> Default for HeapScheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> for HeapScheduler<E> {
    #[inline]
    fn push(&mut self, at: SimTime, event: E) {
        if self.next_seq == u32::MAX {
            self.renumber();
        }
        let seq_bits = (u128::from(at.0) << 64) | (u128::from(self.next_seq) << 32);
        self.next_seq += 1;
        if self.stale {
            self.stale = false;
            if let Some(mut root) = self.heap.peek_mut() {
                let slot = root.0 as u32;
                self.slab[slot as usize] = Some(event);
                // Dropping `root` sifts the new key down to its place.
                root.0 = seq_bits | u128::from(slot);
                return;
            }
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slab.len()).expect("at most u32::MAX pending events");
                self.slab.push(Some(event));
                slot
            }
        };
        self.heap.push(Key(seq_bits | u128::from(slot)));
    }

    #[inline]
    fn pop(&mut self) -> Option<(SimTime, E)> {
        self.settle();
        let key = self.heap.peek()?.0;
        let event = self.slab[key as u32 as usize]
            .take()
            .expect("a queued key's slot holds its event");
        self.stale = true;
        Some((key_time(key), event))
    }

    fn peek_time(&self) -> Option<SimTime> {
        if self.stale {
            // The next event is the earlier of the stale root's two children.
            let rest = self.heap.as_slice().get(1..).unwrap_or_default();
            rest.iter().take(2).map(|k| key_time(k.0)).min()
        } else {
            self.heap.peek().map(|k| key_time(k.0))
        }
    }

    fn len(&self) -> usize {
        self.heap.len() - usize::from(self.stale)
    }

    fn name(&self) -> &'static str {
        "heap"
    }
}
