//! (temporary until the scheduler module lands)
use crate::time::SimTime;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub trait Scheduler<E> {
    fn push(&mut self, at: SimTime, event: E);
    fn pop(&mut self) -> Option<(SimTime, E)>;
    fn peek_time(&self) -> Option<SimTime>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
struct Item<E>(SimTime, u64, E);
impl<E> PartialEq for Item<E> {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl<E> Eq for Item<E> {}
impl<E> PartialOrd for Item<E> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Item<E> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}
pub struct HeapScheduler<E> {
    heap: BinaryHeap<Reverse<Item<E>>>,
    seq: u64,
}
impl<E> Default for HeapScheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}
impl<E> HeapScheduler<E> {
    pub fn new() -> Self {
        HeapScheduler {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}
impl<E> Scheduler<E> for HeapScheduler<E> {
    fn push(&mut self, at: SimTime, event: E) {
        self.seq += 1;
        self.heap.push(Reverse(Item(at, self.seq, event)));
    }
    fn pop(&mut self) -> Option<(SimTime, E)> {
        self.heap.pop().map(|Reverse(Item(t, _, e))| (t, e))
    }
    fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|r| r.0.0)
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
}
