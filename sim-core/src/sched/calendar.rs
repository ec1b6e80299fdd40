//! A calendar queue (R. Brown, "Calendar queues", CACM 31(10), 1988), the structure
//! behind ns-3's `CalendarScheduler`.
//!
//! Time is cut into "days" of `width` nanoseconds; day `d` lives in bucket
//! `d mod nbuckets`, so a bucket holds one day of every "year". Each bucket is kept
//! sorted by the packed `(time, seq)` key. Popping scans the buckets from the
//! current day and takes the first bucket whose earliest event falls in the day
//! being scanned; after a whole year with no hit it falls back to a direct search
//! for the global minimum, so the queue stays correct for any time distribution
//! (only its speed depends on the distribution).
//!
//! Like Brown, the bucket count doubles when the queue holds more than two events
//! per bucket and halves below one event per two buckets, and every resize
//! re-estimates the day width from the spacing of the earliest (up to) 25 events.
//! Unlike Brown, the width is rounded down to a power of two so that "which day"
//! is a shift instead of a division.

use std::collections::VecDeque;

use super::{Scheduler, key_time, pack_key};
use crate::time::SimTime;

/// Fewest buckets the calendar shrinks to.
const MIN_BUCKETS: usize = 2;
/// How many of the earliest events a resize samples to pick the day width (Brown: 25).
const WIDTH_SAMPLE: usize = 25;

/// Calendar-queue scheduler: O(1) expected push and pop when event times are
/// spread smoothly; correct (if slower) for any spread.
pub struct CalendarScheduler<E> {
    /// Each bucket sorted ascending by key, so the earliest event is at the front
    /// and a newly pushed event with the latest time goes to the back in O(1).
    buckets: Vec<VecDeque<(u128, E)>>,
    /// `buckets.len() - 1`; the bucket count is a power of two.
    mask: usize,
    /// Day width is `1 << shift` nanoseconds.
    shift: u32,
    /// The day the next scan starts at. Invariant: no pending event is in an
    /// earlier day, i.e. every pending `time >> shift >= cur_day`.
    cur_day: u64,
    len: usize,
    next_seq: u64,
}

impl<E> CalendarScheduler<E> {
    pub fn new() -> Self {
        CalendarScheduler {
            buckets: (0..MIN_BUCKETS).map(|_| VecDeque::new()).collect(),
            mask: MIN_BUCKETS - 1,
            shift: 0,
            cur_day: 0,
            len: 0,
            next_seq: 0,
        }
    }

    #[inline(always)]
    fn day(&self, key: u128) -> u64 {
        key_time(key).0 >> self.shift
    }

    /// The bucket holding the earliest pending event, and that event's day.
    fn find_min(&self) -> Option<(usize, u64)> {
        if self.len == 0 {
            return None;
        }
        let n = self.buckets.len();
        for i in 0..n as u64 {
            let b = (self.cur_day.wrapping_add(i) as usize) & self.mask;
            if let Some(&(key, _)) = self.buckets[b].front() {
                let day = self.day(key);
                debug_assert!(day >= self.cur_day, "calendar invariant broken");
                // Equal means this event is in the day being scanned; every earlier
                // day was scanned and empty, so it is the global minimum.
                if day - self.cur_day == i {
                    return Some((b, day));
                }
            }
        }
        // A whole year without a hit: the next event is far ahead. Search directly.
        let (b, key) = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(b, q)| q.front().map(|e| (b, e.0)))
            .min_by_key(|&(_, key)| key)?;
        Some((b, self.day(key)))
    }

    /// Rebuilds the calendar with `nbuckets` buckets and a freshly estimated width.
    fn resize(&mut self, nbuckets: usize) {
        let mut all: Vec<(u128, E)> = Vec::with_capacity(self.len);
        for q in &mut self.buckets {
            all.extend(q.drain(..));
        }
        self.shift = estimate_shift(&mut all, self.shift);
        self.buckets = (0..nbuckets).map(|_| VecDeque::new()).collect();
        self.mask = nbuckets - 1;
        let mut min_day = u64::MAX;
        for (key, event) in all {
            let day = self.day(key);
            min_day = min_day.min(day);
            self.buckets[day as usize & self.mask].push_back((key, event));
        }
        for q in &mut self.buckets {
            let s = q.make_contiguous();
            if !s.is_sorted_by_key(|e| e.0) {
                s.sort_unstable_by_key(|e| e.0);
            }
        }
        self.cur_day = if self.len == 0 { 0 } else { min_day };
    }
}

/// Brown's width rule: average spacing of the earliest events, re-averaged without
/// gaps larger than twice that average, times three; then rounded down to a power
/// of two (at least 1 ns). Keeps `old_shift` when there are too few events.
/// Reorders `all` (it is about to be redistributed anyway).
fn estimate_shift<E>(all: &mut [(u128, E)], old_shift: u32) -> u32 {
    let k = all.len().min(WIDTH_SAMPLE);
    if k < 2 {
        return old_shift;
    }
    if all.len() > k {
        all.select_nth_unstable_by_key(k - 1, |e| e.0);
    }
    let head = &mut all[..k];
    head.sort_unstable_by_key(|e| e.0);
    let gaps: Vec<u64> = head
        .windows(2)
        .map(|w| key_time(w[1].0).0 - key_time(w[0].0).0)
        .collect();
    let sum: u128 = gaps.iter().map(|&g| u128::from(g)).sum();
    let avg = sum / gaps.len() as u128;
    let (kept_sum, kept_n) = gaps
        .iter()
        .filter(|&&g| u128::from(g) <= 2 * avg)
        .fold((0u128, 0u128), |(s, n), &g| (s + u128::from(g), n + 1));
    // kept_n >= 1: the smallest gap is never above twice the average.
    let width = (3 * kept_sum / kept_n.max(1)).clamp(1, 1 << 63);
    127 - width.leading_zeros()
}

impl<E> Default for CalendarScheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> for CalendarScheduler<E> {
    fn push(&mut self, at: SimTime, event: E) {
        let key = pack_key(at, self.next_seq);
        self.next_seq += 1;
        let day = self.day(key);
        if self.len == 0 || day < self.cur_day {
            // Keep the invariant (no event before cur_day) and start the next scan here.
            self.cur_day = day;
        }
        let q = &mut self.buckets[day as usize & self.mask];
        // Usually the new key is the bucket's largest (latest seq): a push_back.
        if q.back().is_none_or(|last| last.0 < key) {
            q.push_back((key, event));
        } else {
            let pos = q.partition_point(|e| e.0 < key);
            q.insert(pos, (key, event));
        }
        self.len += 1;
        if self.len > 2 * self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
    }

    fn pop(&mut self) -> Option<(SimTime, E)> {
        let (b, day) = self.find_min()?;
        self.cur_day = day;
        let (key, event) = self.buckets[b].pop_front()?;
        self.len -= 1;
        let n = self.buckets.len();
        if n > MIN_BUCKETS && self.len < n / 2 {
            self.resize(n / 2);
        }
        Some((key_time(key), event))
    }

    fn peek_time(&self) -> Option<SimTime> {
        let (b, _) = self.find_min()?;
        self.buckets[b].front().map(|e| key_time(e.0))
    }

    fn len(&self) -> usize {
        self.len
    }

    fn name(&self) -> &'static str {
        "calendar"
    }
}
