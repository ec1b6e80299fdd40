//! The broadcast queue (`queue.go` `TransmitLimitedQueue`): rumours about
//! members wait here until they have been sent `retransmit_mult ×
//! ceil(log10(n+1))` times. A newer broadcast about a node replaces the one
//! queued about it; each send takes the least-sent first (then the largest,
//! then the newest) that fit in the room left in a datagram.

use super::codec::COMPOUND_PER_PART;
use super::messages::Msg;
use super::names::MemberId;

#[derive(Clone, Debug)]
struct Broadcast {
    /// The node the message is about: a newer broadcast about it replaces this one.
    node: MemberId,
    msg: Msg,
    /// Encoded length.
    len: usize,
    transmits: u32,
    /// Queue order, for "newest first" among equals.
    id: u64,
    /// Our own leave: when it is done the agent shuts down.
    leave: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct BroadcastQueue {
    items: Vec<Broadcast>,
    last_id: u64,
}

impl BroadcastQueue {
    /// Queues `msg` about `node`, replacing any broadcast queued about it.
    /// Returns whether that replaced our own leave with something that is
    /// not a leave (the leave is then as good as sent).
    pub(super) fn queue(&mut self, node: MemberId, msg: Msg, leave: bool) -> bool {
        let mut leave_replaced = false;
        self.items.retain(|b| {
            let same = b.node == node;
            leave_replaced |= same && b.leave;
            !same
        });
        let len = msg.encode().len();
        self.last_id += 1;
        self.items.push(Broadcast {
            node,
            msg,
            len,
            transmits: 0,
            id: self.last_id,
            leave,
        });
        leave_replaced && !leave
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Forgets everything queued.
    pub(super) fn clear(&mut self) {
        self.items.clear();
    }

    /// `GetBroadcasts`: the broadcasts that fit in `limit` bytes (each
    /// costing its length plus a compound part header), each at most once;
    /// those sent `max_transmits` times leave the queue. Also says whether
    /// our own leave was among those that left.
    pub(super) fn take(&mut self, limit: usize, max_transmits: u32) -> (Vec<Msg>, bool) {
        if self.items.is_empty() {
            return (Vec::new(), false);
        }
        self.items.sort_by(|a, b| {
            a.transmits
                .cmp(&b.transmits)
                .then(b.len.cmp(&a.len))
                .then(b.id.cmp(&a.id))
        });
        let mut used = 0;
        let mut sent = Vec::new();
        let mut keep = Vec::with_capacity(self.items.len());
        let mut leave_done = false;
        for mut b in std::mem::take(&mut self.items) {
            if used + COMPOUND_PER_PART + b.len <= limit {
                used += COMPOUND_PER_PART + b.len;
                sent.push(b.msg.clone());
                b.transmits += 1;
                if b.transmits >= max_transmits {
                    leave_done |= b.leave;
                    continue;
                }
            }
            keep.push(b);
        }
        self.items = keep;
        (sent, leave_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::memberlist::names::NameTable;
    use std::net::Ipv4Addr;

    fn alive(node: &str, incarnation: u32) -> Msg {
        Msg::Alive {
            incarnation,
            node: node.into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
        }
    }

    #[test]
    fn a_newer_broadcast_about_a_node_replaces_the_queued_one() {
        let mut names = NameTable::default();
        let (a, b) = (names.intern("a"), names.intern("b"));
        let mut q = BroadcastQueue::default();
        q.queue(a, alive("a", 1), false);
        q.queue(b, alive("b", 1), false);
        q.queue(a, alive("a", 2), false);
        let (sent, _) = q.take(1400, 5);
        assert_eq!(sent.len(), 2);
        assert!(sent.contains(&alive("a", 2)));
        assert!(!sent.contains(&alive("a", 1)));
    }

    #[test]
    fn least_sent_then_largest_then_newest_go_first() {
        let mut names = NameTable::default();
        let [a, b, c] = ["a", "b", "c"].map(|n| names.intern(n));
        let mut q = BroadcastQueue::default();
        q.queue(a, alive("a", 1), false);
        q.queue(b, alive("bbbbbbbb", 1), false);
        q.queue(c, alive("c", 1), false);
        // Room for one: the largest.
        let one = COMPOUND_PER_PART + alive("bbbbbbbb", 1).encode().len();
        assert_eq!(q.take(one, 5).0, vec![alive("bbbbbbbb", 1)]);
        // Then the unsent ones, newest first among equal sizes.
        let small = COMPOUND_PER_PART + alive("c", 1).encode().len();
        assert_eq!(q.take(small, 5).0, vec![alive("c", 1)]);
        assert_eq!(q.take(small, 5).0, vec![alive("a", 1)]);
    }

    #[test]
    fn a_broadcast_leaves_after_its_retransmit_limit() {
        let mut names = NameTable::default();
        let a = names.intern("a");
        let mut q = BroadcastQueue::default();
        q.queue(a, alive("a", 1), true);
        assert_eq!(q.take(1400, 2), (vec![alive("a", 1)], false));
        assert_eq!(q.take(1400, 2), (vec![alive("a", 1)], true));
        assert!(q.is_empty());
        assert_eq!(q.take(1400, 2), (vec![], false));
    }

    #[test]
    fn replacing_our_leave_counts_as_sending_it() {
        let mut names = NameTable::default();
        let me = names.intern("me");
        let mut q = BroadcastQueue::default();
        assert!(!q.queue(me, alive("me", 1), true));
        assert!(!q.queue(me, alive("me", 2), true));
        assert!(q.queue(me, alive("me", 3), false));
        q.clear();
        assert!(q.is_empty());
    }
}
