//! The routes every node installs to every other node's Pod CIDR (Antrea's
//! route client, one per peer Node), held once for the cluster.
//!
//! Node A's list is every node's (Pod CIDR, gateway) save A's own, on A's
//! interface; nodes differ only in which entry they skip and in the
//! interface. So a compile builds one [`PeerRouteSet`] and each node's
//! dataplane names it with its own entry and interface ([`PeerRoutes`]):
//! n lists of n-1 routes would be n² routes for the cluster. The set also
//! answers longest-prefix lookups without a scan, for the simulator's
//! routing tables.

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

/// Every node's Pod CIDR and the gateway its peers route it through, in
/// cluster order, with an index by prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRouteSet {
    entries: Vec<PeerRoute>,
    /// (prefix length, network, position), sorted: where a lookup finds
    /// the entries holding an address.
    index: Vec<(u8, u32, u32)>,
    /// The prefix lengths present, longest first.
    lengths: Vec<u8>,
}

/// One node's Pod CIDR and the gateway its peers route it through, with
/// the node's transport and `antrea-gw0` addresses (what br-int's program
/// needs of a peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerRoute {
    pub dst: Ipv4Net,
    pub via: Ipv4Addr,
    pub node_ip: Ipv4Addr,
    pub gateway_ip: Ipv4Addr,
}

impl PeerRouteSet {
    pub fn new(entries: Vec<PeerRoute>) -> PeerRouteSet {
        let mut index: Vec<(u8, u32, u32)> = entries
            .iter()
            .enumerate()
            .map(|(i, r)| (r.dst.prefix_len(), u32::from(r.dst.network()), i as u32))
            .collect();
        index.sort_unstable();
        let mut lengths: Vec<u8> = index.iter().map(|(len, _, _)| *len).collect();
        lengths.dedup();
        lengths.reverse();
        PeerRouteSet {
            entries,
            index,
            lengths,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[PeerRoute] {
        &self.entries
    }

    /// Every entry but the one at `except` (a node's own): the peers a
    /// node routes to.
    pub fn others(&self, except: Option<usize>) -> impl Iterator<Item = &PeerRoute> {
        self.entries
            .iter()
            .enumerate()
            .filter(move |(i, _)| Some(*i) != except)
            .map(|(_, r)| r)
    }

    /// The longest-prefix entry holding `dst` that `usable` accepts
    /// (given its position and gateway), the first in order among equal
    /// prefixes: what a scan of the routes in order would pick.
    pub fn lookup(
        &self,
        dst: Ipv4Addr,
        usable: impl Fn(usize, Ipv4Addr) -> bool,
    ) -> Option<(usize, &PeerRoute)> {
        let addr = u32::from(dst);
        for &len in &self.lengths {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let net = addr & mask;
            let from = self.index.partition_point(|e| (e.0, e.1) < (len, net));
            let hit = self.index[from..]
                .iter()
                .take_while(|e| (e.0, e.1) == (len, net))
                .map(|e| e.2 as usize)
                .find(|&i| usable(i, self.entries[i].via));
            if let Some(i) = hit {
                return Some((i, &self.entries[i]));
            }
        }
        None
    }
}

/// A node's share of the [`PeerRouteSet`]: every entry but its own, on
/// its interface, at a place among its other routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRoutes {
    pub set: Arc<PeerRouteSet>,
    /// The node's own entry, which it does not install.
    pub except: Option<usize>,
    pub dev: Arc<str>,
    /// Installed `onlink` (through the tunnel, via each peer's gateway IP).
    pub onlink: bool,
    /// How many of the node's other routes come before these.
    pub at: usize,
}

impl PeerRoutes {
    /// The routes this node installs, in order.
    pub fn routes(&self) -> impl Iterator<Item = super::dataplane::DesiredRoute> + '_ {
        self.set
            .others(self.except)
            .map(|r| super::dataplane::DesiredRoute {
                dst: r.dst,
                via: Some(r.via),
                dev: self.dev.clone(),
                table: crate::model::TABLE_MAIN,
                metric: 0,
                onlink: self.onlink,
            })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn scan(entries: &[PeerRoute], dst: Ipv4Addr, skip: usize) -> Option<usize> {
        let mut best: Option<(u8, usize)> = None;
        for (i, r) in entries.iter().enumerate() {
            if i == skip || !r.dst.contains(&dst) {
                continue;
            }
            if best.is_none_or(|(len, _)| r.dst.prefix_len() > len) {
                best = Some((r.dst.prefix_len(), i));
            }
        }
        best.map(|(_, i)| i)
    }

    proptest! {
        /// The indexed lookup picks what a scan in order picks: the longest
        /// prefix holding the address, the first among equal ones, never
        /// an entry the caller refuses.
        #[test]
        fn lookup_picks_what_a_scan_picks(
            nets in proptest::collection::vec((0u32..16, 20u8..=26), 0..24),
            dst in 0u32..16,
            skip in 0usize..24,
        ) {
            let entries: Vec<PeerRoute> = nets
                .iter()
                .enumerate()
                .map(|(i, (n, len))| PeerRoute {
                    dst: Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (n << 8)), *len)
                        .unwrap()
                        .trunc(),
                    via: Ipv4Addr::new(192, 168, 0, i as u8),
                    node_ip: Ipv4Addr::new(192, 168, 0, i as u8),
                    gateway_ip: Ipv4Addr::new(10, 0, 0, 1),
                })
                .collect();
            let set = PeerRouteSet::new(entries.clone());
            let dst = Ipv4Addr::from(0x0a00_0005 | (dst << 8));
            let got = set.lookup(dst, |i, _| i != skip).map(|(i, _)| i);
            prop_assert_eq!(got, scan(&entries, dst, skip));
        }
    }

    #[test]
    fn a_node_installs_every_entry_but_its_own() {
        let set = Arc::new(PeerRouteSet::new(
            (0..3)
                .map(|i| PeerRoute {
                    dst: format!("10.10.{i}.0/24").parse().unwrap(),
                    via: Ipv4Addr::new(10, 0, 0, i),
                    node_ip: Ipv4Addr::new(10, 0, 0, i),
                    gateway_ip: Ipv4Addr::new(10, 10, i, 1),
                })
                .collect(),
        ));
        let mine = PeerRoutes {
            set,
            except: Some(1),
            dev: "eth0".into(),
            onlink: false,
            at: 0,
        };
        let dsts: Vec<String> = mine.routes().map(|r| r.dst.to_string()).collect();
        assert_eq!(dsts, ["10.10.0.0/24", "10.10.2.0/24"]);
    }
}
