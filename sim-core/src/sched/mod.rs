//! The event queue: a [`Scheduler`] trait and three interchangeable implementations.
//!
//! Every implementation orders events totally by `(SimTime, insertion sequence)`:
//! the queue numbers pushes with a monotonic `u64`, so events at the same time pop
//! in push order (FIFO). Nothing is ever ordered by pointer, hash or float, which is
//! what makes a run reproducible bit for bit whichever queue executes it.
//!
//! - [`HeapScheduler`]: a 4-ary heap keyed by one packed `u128`; the default.
//! - [`MapScheduler`]: an ordered map, the shape of ns-3's default `MapScheduler`.
//! - [`CalendarScheduler`]: a resizing calendar queue (Brown 1988, as in ns-3's
//!   `CalendarScheduler`).
//!
//! [`bench`] holds the ns-3-shaped `bench-scheduler` workload that compares them.

pub mod bench;
mod calendar;
mod heap;
mod map;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use crate::time::SimTime;

pub use bench::{DesBenchOutcome, DesBenchParams, run_des_bench, run_des_bench_kind};
pub use calendar::CalendarScheduler;
pub use heap::HeapScheduler;
pub use map::MapScheduler;

/// A priority queue of events ordered by `(time, push order)`.
///
/// Pushing an event earlier than one already popped is allowed (the queue does not
/// know "now"); the simulator is the one that forbids scheduling into the past.
pub trait Scheduler<E> {
    /// Adds `event` at `at`; it pops after every event with a smaller time and after
    /// every event pushed earlier with the same time.
    fn push(&mut self, at: SimTime, event: E);
    /// Removes and returns the earliest event (FIFO among equal times).
    fn pop(&mut self) -> Option<(SimTime, E)>;
    /// The time of the event `pop` would return next.
    fn peek_time(&self) -> Option<SimTime>;
    /// The event `pop` would return next, if the queue can tell cheaply: a
    /// hint (for warming the caches it will touch), never a promise.
    fn peek_hint(&self) -> Option<&E> {
        None
    }
    /// Number of pending events.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The implementation's name as [`SchedulerKind`] spells it.
    fn name(&self) -> &'static str;
}

impl<E, S: Scheduler<E> + ?Sized> Scheduler<E> for Box<S> {
    fn push(&mut self, at: SimTime, event: E) {
        (**self).push(at, event)
    }
    fn pop(&mut self) -> Option<(SimTime, E)> {
        (**self).pop()
    }
    fn peek_time(&self) -> Option<SimTime> {
        (**self).peek_time()
    }
    fn peek_hint(&self) -> Option<&E> {
        (**self).peek_hint()
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// The ordering key: time in the high 64 bits, push sequence in the low 64 bits,
/// so one integer comparison is the whole `(time, seq)` order.
#[inline(always)]
pub(crate) fn pack_key(at: SimTime, seq: u64) -> u128 {
    (u128::from(at.0) << 64) | u128::from(seq)
}

/// The time half of a packed key.
#[inline(always)]
pub(crate) fn key_time(key: u128) -> SimTime {
    SimTime((key >> 64) as u64)
}

/// Which [`Scheduler`] implementation to use; names are `heap`, `map`, `calendar`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SchedulerKind {
    #[default]
    Heap,
    Map,
    Calendar,
}

impl SchedulerKind {
    /// Every kind, in a fixed order (for help texts and benchmark sweeps).
    pub const ALL: [SchedulerKind; 3] = [
        SchedulerKind::Heap,
        SchedulerKind::Map,
        SchedulerKind::Calendar,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerKind::Heap => "heap",
            SchedulerKind::Map => "map",
            SchedulerKind::Calendar => "calendar",
        }
    }

    /// A fresh, empty queue of this kind behind a trait object, for callers that
    /// pick the kind at run time and do not need static dispatch.
    pub fn new_boxed<E: 'static>(self) -> Box<dyn Scheduler<E>> {
        match self {
            SchedulerKind::Heap => Box::new(HeapScheduler::new()),
            SchedulerKind::Map => Box::new(MapScheduler::new()),
            SchedulerKind::Calendar => Box::new(CalendarScheduler::new()),
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheduler name that is not one of `heap`, `map`, `calendar`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler `{0}` (use heap, map or calendar)")]
pub struct UnknownSchedulerKind(pub String);

impl FromStr for SchedulerKind {
    type Err = UnknownSchedulerKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchedulerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownSchedulerKind(s.to_string()))
    }
}
