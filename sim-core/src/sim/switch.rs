//! Layer-2 forwarding: VLAN membership per port, MAC learning per VLAN with
//! aging, flooding of broadcast and unknown unicast (IEEE 802.1Q / 802.1D).
//!
//! The table is keyed by (VLAN, MAC): the same MAC may live on different ports
//! in different VLANs, which is exactly what happens when a node sends on VLAN
//! 216 untagged and on VLAN 181 tagged through one trunk port.
//! Aging is lazy: an entry older than the aging time is treated as absent and
//! swept when the table is read.

use std::collections::BTreeMap;

use crate::model::MacAddr;
use crate::time::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MacEntry {
    pub port: u16,
    pub last_seen: SimTime,
}

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
    entries: BTreeMap<(u16, MacAddr), MacEntry>,
}

impl MacTable {
    pub fn new(aging: SimDuration) -> Self {
        MacTable {
            aging,
            entries: BTreeMap::new(),
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
        match self.entries.insert((vlan, mac), fresh) {
            Some(old) => old.port != port || now.since(old.last_seen) >= self.aging,
            None => true,
        }
    }

    pub fn lookup(&self, now: SimTime, vlan: u16, mac: MacAddr) -> Option<u16> {
        let e = self.entries.get(&(vlan, mac))?;
        (now.since(e.last_seen) < self.aging).then_some(e.port)
    }

    /// Forgets everything learned on `port` (link down flushes, as switches do).
    pub fn flush_port(&mut self, port: u16) {
        self.entries.retain(|_, e| e.port != port);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn rows(&mut self, now: SimTime) -> Vec<MacRow> {
        let aging = self.aging;
        self.entries.retain(|_, e| now.since(e.last_seen) < aging);
        self.entries
            .iter()
            .map(|(&(vlan, mac), e)| MacRow {
                vlan,
                mac,
                port: e.port,
                age: now.since(e.last_seen),
            })
            .collect()
    }
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
}
