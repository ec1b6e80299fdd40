//! An ordered-map queue, the shape of ns-3's default `MapScheduler` (a `std::map`
//! keyed by `(timestamp, uid)`); here a `BTreeMap` keyed by the packed `(time, seq)`.

use std::collections::BTreeMap;

use super::{Scheduler, key_time, pack_key};
use crate::time::SimTime;

/// Ordered-map scheduler: O(log n) push and pop.
pub struct MapScheduler<E> {
    map: BTreeMap<u128, E>,
    next_seq: u64,
}

impl<E> MapScheduler<E> {
    pub fn new() -> Self {
        MapScheduler {
            map: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<E> Default for MapScheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> for MapScheduler<E> {
    fn push(&mut self, at: SimTime, event: E) {
        let key = pack_key(at, self.next_seq);
        self.next_seq += 1;
        self.map.insert(key, event);
    }
    fn pop(&mut self) -> Option<(SimTime, E)> {
        self.map.pop_first().map(|(k, e)| (key_time(k), e))
    }
    fn peek_time(&self) -> Option<SimTime> {
        self.map.first_key_value().map(|(k, _)| key_time(*k))
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn name(&self) -> &'static str {
        "map"
    }
}
