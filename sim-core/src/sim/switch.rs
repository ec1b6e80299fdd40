//! Layer-2 forwarding: VLAN membership per port, MAC learning per VLAN with
//! aging, flooding of broadcast and unknown unicast (IEEE 802.1Q / 802.1D).
//!
//! The table is keyed by (VLAN, MAC): the same MAC may live on different ports
//! in different VLANs, which is exactly what happens when a node sends on VLAN
//! 216 untagged and on VLAN 181 tagged through one trunk port.
//! Aging is lazy: an entry older than the aging time is treated as absent by
//! every read ([`MacTable::lookup`], [`MacTable::rows`]), and [`MacTable::expire`]
//! frees such entries. The table expires itself when learning a new address
//! finds it twice as large as after its last sweep, so reading never changes it.
//!
//! A core switch of a large lab learns every node's MAC, and every frame
//! reads the table twice (learn the source, find the destination), so the
//! entries sit in a hashed table keyed by one word; only [`MacTable::rows`]
//! orders them, by VLAN then MAC.

use indexmap::IndexMap;

use crate::model::MacAddr;
use crate::time::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MacEntry {
    port: u16,
    last_seen: SimTime,
}

/// The size below which the table never sweeps itself.
const MIN_SWEEP: usize = 64;

/// A row for `show mac address-table`-style output.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MacRow {
    pub vlan: u16,
    pub mac: MacAddr,
    pub port: u16,
    pub age: SimDuration,
}

#[derive(Clone, Debug)]
pub struct MacTable {
    aging: SimDuration,
    /// Keyed by [`key`]: insertion order, which no output shows.
    entries: IndexMap<u64, MacEntry, crate::keyhash::KeyBuild>,
    /// Learning a new address into a table this large sweeps it first.
    sweep_at: usize,
}

impl MacTable {
    pub fn new(aging: SimDuration) -> Self {
        MacTable {
            aging,
            entries: IndexMap::default(),
            sweep_at: MIN_SWEEP,
        }
    }

    /// Learns `mac` on `port` in `vlan`; returns true if this is new or moved
    /// (worth a log line).
    pub fn learn(&mut self, now: SimTime, vlan: u16, mac: MacAddr, port: u16) -> bool {
        if mac.is_multicast() {
            return false; // group addresses are never learned as sources
        }
        let fresh = MacEntry {
            port,
            last_seen: now,
        };
        let k = key(vlan, mac);
        if self.entries.len() >= self.sweep_at && !self.entries.contains_key(&k) {
            self.expire(now);
            self.sweep_at = (2 * self.entries.len()).max(MIN_SWEEP);
        }
        match self.entries.insert(k, fresh) {
            Some(old) => old.port != port || now.since(old.last_seen) >= self.aging,
            None => true,
        }
    }

    pub fn lookup(&self, now: SimTime, vlan: u16, mac: MacAddr) -> Option<u16> {
        let e = self.entries.get(&key(vlan, mac))?;
        (now.since(e.last_seen) < self.aging).then_some(e.port)
    }

    /// Forgets everything learned on `port` (link down flushes, as switches do).
    pub fn flush_port(&mut self, port: u16) {
        self.entries.retain(|_, e| e.port != port);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Forgets the entries that have aged out by `now` (they are already
    /// absent to every read).
    pub fn expire(&mut self, now: SimTime) {
        let aging = self.aging;
        self.entries.retain(|_, e| now.since(e.last_seen) < aging);
    }

    /// The live entries at `now`, ordered by VLAN then MAC, with their age.
    pub fn rows(&self, now: SimTime) -> Vec<MacRow> {
        let mut live: Vec<(u64, &MacEntry)> = self
            .entries
            .iter()
            .filter(|(_, e)| now.since(e.last_seen) < self.aging)
            .map(|(&k, e)| (k, e))
            .collect();
        // A key orders as its (VLAN, MAC) does.
        live.sort_unstable_by_key(|&(k, _)| k);
        live.into_iter()
            .map(|(k, e)| {
                let (vlan, mac) = unkey(k);
                MacRow {
                    vlan,
                    mac,
                    port: e.port,
                    age: now.since(e.last_seen),
                }
            })
            .collect()
    }
}

/// (VLAN, MAC) as one word: the VLAN above the MAC's 48 bits, so keys
/// order as the pairs do.
fn key(vlan: u16, mac: MacAddr) -> u64 {
    let mut w = [0u8; 8];
    w[..2].copy_from_slice(&vlan.to_be_bytes());
    w[2..].copy_from_slice(&mac.0);
    u64::from_be_bytes(w)
}

fn unkey(k: u64) -> (u16, MacAddr) {
    let w = k.to_be_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&w[2..]);
    (u16::from_be_bytes([w[0], w[1]]), MacAddr(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_per_vlan_and_ages_out() {
        let mut t = MacTable::new(SimDuration::from_secs(300));
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        assert!(t.learn(SimTime(0), 216, m, 1));
        assert!(!t.learn(SimTime(10), 216, m, 1));
        assert!(t.learn(SimTime(10), 181, m, 2));
        assert_eq!(t.lookup(SimTime(20), 216, m), Some(1));
        assert_eq!(t.lookup(SimTime(20), 181, m), Some(2));
        assert_eq!(t.lookup(SimTime(20), 100, m), None);
        let late = SimTime(10) + SimDuration::from_secs(300);
        assert_eq!(t.lookup(late, 216, m), None);
        assert!(t.rows(late).is_empty());
        assert!(!t.learn(SimTime(0), 216, MacAddr::BROADCAST, 3));
    }

    #[test]
    fn reading_rows_leaves_aged_entries_until_expire() {
        let mut t = MacTable::new(SimDuration::from_secs(300));
        let old = MacAddr([2, 0, 0, 0, 0, 1]);
        let young = MacAddr([2, 0, 0, 0, 0, 2]);
        t.learn(SimTime(0), 10, old, 1);
        let later = SimTime(0) + SimDuration::from_secs(200);
        t.learn(later, 10, young, 2);
        let now = SimTime(0) + SimDuration::from_secs(301);
        let rows = t.rows(now);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].mac, rows[0].port), (young, 2));
        assert_eq!(rows[0].age, SimDuration::from_secs(101));
        // Reading changed nothing: the aged entry is still held.
        assert_eq!(t.entries.len(), 2);
        t.expire(now);
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.rows(now), rows);
    }

    #[test]
    fn learning_sweeps_aged_entries_when_the_table_has_doubled() {
        let aging = SimDuration::from_secs(300);
        let mut t = MacTable::new(aging);
        for i in 0..MIN_SWEEP as u8 {
            t.learn(SimTime(0), 1, MacAddr([2, 0, 0, 0, 1, i]), 1);
        }
        assert_eq!(t.entries.len(), MIN_SWEEP);
        // Refreshing a known address never sweeps.
        let late = SimTime(0) + aging;
        assert!(t.learn(late, 1, MacAddr([2, 0, 0, 0, 1, 0]), 1));
        assert_eq!(t.entries.len(), MIN_SWEEP);
        // A new one does: only the refreshed entry and the new one are left.
        assert!(t.learn(late, 1, MacAddr([2, 0, 0, 0, 2, 0]), 2));
        assert_eq!(t.entries.len(), 2);
        assert_eq!(t.rows(late).len(), 2);
    }

    proptest::proptest! {
        /// Rows come ordered by VLAN then MAC whatever order addresses were
        /// learned in, and lookups agree with a table kept by (VLAN, MAC)
        /// pairs.
        #[test]
        fn rows_order_by_vlan_then_mac_and_lookups_agree(
            learns in proptest::collection::vec((0u16..4096, 0u8..6, 0u8..6, 1u16..5, 0u64..400), 0..120),
        ) {
            let aging = SimDuration::from_secs(300);
            let mut t = MacTable::new(aging);
            let mut model = std::collections::BTreeMap::new();
            let mut now = SimTime(0);
            for (vlan, a, b, port, dt) in learns {
                now += SimDuration::from_secs(dt);
                let mac = MacAddr([2, 0, a, 0, b, a ^ b]);
                t.learn(now, vlan, mac, port);
                model.insert((vlan, mac), (port, now));
            }
            let expected: Vec<MacRow> = model
                .iter()
                .filter(|(_, (_, seen))| now.since(*seen) < aging)
                .map(|(&(vlan, mac), &(port, seen))| MacRow { vlan, mac, port, age: now.since(seen) })
                .collect();
            proptest::prop_assert_eq!(t.rows(now), expected);
            for (&(vlan, mac), &(port, seen)) in &model {
                let live = now.since(seen) < aging;
                proptest::prop_assert_eq!(t.lookup(now, vlan, mac), live.then_some(port));
            }
        }
    }
}
