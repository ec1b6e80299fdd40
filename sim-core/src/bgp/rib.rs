//! A BGP router's routing table: the paths each peer announced (its
//! Adj-RIB-In), the best path of every prefix with the equal ones used
//! beside it (multipath, up to `maximum-paths`), and what the forwarding
//! table must change when an UPDATE arrives or a peer goes away.
//!
//! Best path (RFC 4271 §9.1.2.2, in the order FRR's bgpd applies it to
//! what antlab's speakers send; weight, local origination and IGP metrics
//! play no part here):
//! 1. highest LOCAL_PREF (100 when absent, FRR's default);
//! 2. shortest AS_PATH (an AS_SET counts as one);
//! 3. lowest ORIGIN (IGP, then EGP, then INCOMPLETE);
//! 4. lowest MULTI_EXIT_DISC, compared only between paths from the same
//!    neighbouring AS (absent counts as 0);
//! 5. external over internal;
//!
//! then, for the one best path only: the path received first (FRR's
//! "Older Path" for external paths; FRR counts a path's age in whole
//! seconds, so two received within one second tie, as a capture of FRR
//! 8.4 choosing "best (Router ID)" between them showed), the lowest router
//! ID, the lowest peer address.
//!
//! Multipath: the paths equal to the best one in steps 1-5, from the same
//! neighbouring AS (FRR without `bgp bestpath as-path multipath-relax`),
//! up to `maximum-paths` of them in the order above. Their next hops are
//! what the router forwards on; with `maximum-paths 1` only the best one.
//!
//! A peer that goes away takes its paths with it, unless it went without a
//! NOTIFICATION and had advertised Graceful Restart (RFC 4724 §4.2): its
//! paths then stay, marked stale, still forwarded on, until it comes back
//! and sends End-of-RIB (stale ones it did not announce again go) or its
//! restart time runs out ([`Rib::flush_stale`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::time::SimTime;
use crate::wire::bgp::{Origin, PathAttribute, SegmentKind, Update};

/// LOCAL_PREF when a path carries none (FRR's `bgp default local-preference`).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Who announced a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub address: Ipv4Addr,
    pub router_id: Ipv4Addr,
    pub asn: u32,
    /// A peer of another AS (eBGP).
    pub external: bool,
}

/// One peer's path to a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub peer: PeerInfo,
    pub next_hop: Ipv4Addr,
    pub as_path: Vec<u32>,
    /// How many ASes the path counts for in the comparison.
    as_path_len: usize,
    pub origin: Origin,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// When this peer announced it.
    pub since: SimTime,
    /// Kept for a restarting peer (Graceful Restart).
    pub stale: bool,
}

impl Path {
    /// The neighbouring AS: the first of the AS_PATH, else our own peer's.
    fn neighbour_as(&self) -> u32 {
        self.as_path.first().copied().unwrap_or(self.peer.asn)
    }

    fn origin_rank(&self) -> u8 {
        match self.origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }

    /// Steps 1-3 and 5 of the comparison as one key (lower is better).
    fn rank(&self) -> (std::cmp::Reverse<u32>, usize, u8, bool) {
        (
            std::cmp::Reverse(self.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
            self.as_path_len,
            self.origin_rank(),
            !self.peer.external,
        )
    }

    /// Whether `self` is better than `other` in steps 1-5.
    fn better_before_tiebreak(&self, other: &Path) -> std::cmp::Ordering {
        let (a, b) = (self.rank(), other.rank());
        let (lp, len, origin) = (a.0.cmp(&b.0), a.1.cmp(&b.1), a.2.cmp(&b.2));
        lp.then(len)
            .then(origin)
            .then_with(|| {
                if self.neighbour_as() == other.neighbour_as() {
                    self.med.unwrap_or(0).cmp(&other.med.unwrap_or(0))
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then(a.3.cmp(&b.3))
    }

    /// The full order: steps 1-5, then oldest, lowest router ID, lowest
    /// peer address.
    fn order(&self, other: &Path) -> std::cmp::Ordering {
        self.better_before_tiebreak(other)
            .then(whole_seconds(self.since).cmp(&whole_seconds(other.since)))
            .then(self.peer.router_id.cmp(&other.peer.router_id))
            .then(self.peer.address.cmp(&other.peer.address))
    }
}

/// A path's age as FRR compares it: whole seconds.
fn whole_seconds(t: SimTime) -> u64 {
    t.as_nanos() / 1_000_000_000
}

/// A change the forwarding table must make for `prefix`: its next hops
/// now (none: the route goes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibChange {
    pub prefix: Ipv4Net,
    pub next_hops: Vec<Ipv4Addr>,
}

/// The router's table.
#[derive(Clone, Debug)]
pub struct Rib {
    maximum_paths: u8,
    /// Every prefix's paths, one per peer (a BTreeMap: listings and
    /// changes come in prefix order).
    prefixes: BTreeMap<Ipv4Net, Vec<Path>>,
}

impl Rib {
    pub fn new(maximum_paths: u8) -> Rib {
        Rib {
            maximum_paths: maximum_paths.max(1),
            prefixes: BTreeMap::new(),
        }
    }

    /// Applies an UPDATE from `peer` at `now`; the forwarding changes.
    /// A path announced again replaces the peer's older one (and is no
    /// longer stale); End-of-RIB ends the peer's restart: its paths still
    /// stale go.
    pub fn apply(&mut self, now: SimTime, peer: PeerInfo, update: &Update) -> Vec<FibChange> {
        if update.is_end_of_rib() {
            return self.flush_stale(peer.address);
        }
        let touched: Vec<Ipv4Net> = update
            .withdrawn
            .iter()
            .chain(&update.nlri)
            .copied()
            .collect();
        let before = self.next_hops_of(&touched);
        for p in &update.withdrawn {
            self.remove_path(*p, peer.address);
        }
        if let Some(next_hop) = update.next_hop() {
            let mut as_path = Vec::new();
            let mut as_path_len = 0;
            let mut origin = Origin::Igp;
            let mut med = None;
            let mut local_pref = None;
            for a in &update.attributes {
                match a {
                    PathAttribute::AsPath(segments) => {
                        for s in segments {
                            as_path.extend(&s.asns);
                            as_path_len += match s.kind {
                                SegmentKind::Sequence => s.asns.len(),
                                SegmentKind::Set => 1,
                            };
                        }
                    }
                    PathAttribute::Origin(o) => origin = *o,
                    PathAttribute::MultiExitDisc(m) => med = Some(*m),
                    PathAttribute::LocalPref(l) => local_pref = Some(*l),
                    PathAttribute::NextHop(_) | PathAttribute::Unknown { .. } => {}
                }
            }
            for prefix in &update.nlri {
                let paths = self.prefixes.entry(*prefix).or_default();
                let old = paths.iter().position(|p| p.peer.address == peer.address);
                let kept_since = old.and_then(|i| {
                    // The same path again keeps its age (it is not newer).
                    let o = &paths[i];
                    (o.next_hop == next_hop && o.as_path == as_path).then_some(o.since)
                });
                if let Some(i) = old {
                    paths.remove(i);
                }
                paths.push(Path {
                    peer,
                    next_hop,
                    as_path: as_path.clone(),
                    as_path_len,
                    origin,
                    med,
                    local_pref,
                    since: kept_since.unwrap_or(now),
                    stale: false,
                });
            }
        }
        self.changes(&touched, before)
    }

    /// A peer's session ended: its paths go, or with `keep_stale` stay
    /// marked stale (Graceful Restart).
    pub fn peer_down(&mut self, peer: Ipv4Addr, keep_stale: bool) -> Vec<FibChange> {
        let touched: Vec<Ipv4Net> = self
            .prefixes
            .iter()
            .filter(|(_, paths)| paths.iter().any(|p| p.peer.address == peer))
            .map(|(prefix, _)| *prefix)
            .collect();
        let before = self.next_hops_of(&touched);
        for prefix in &touched {
            if keep_stale {
                let paths = self.prefixes.get_mut(prefix).expect("a touched prefix");
                for p in paths.iter_mut().filter(|p| p.peer.address == peer) {
                    p.stale = true;
                }
            } else {
                self.remove_path(*prefix, peer);
            }
        }
        self.changes(&touched, before)
    }

    /// The peer's stale paths go (its End-of-RIB, or its restart time ran
    /// out).
    pub fn flush_stale(&mut self, peer: Ipv4Addr) -> Vec<FibChange> {
        let touched: Vec<Ipv4Net> = self
            .prefixes
            .iter()
            .filter(|(_, paths)| paths.iter().any(|p| p.peer.address == peer && p.stale))
            .map(|(prefix, _)| *prefix)
            .collect();
        let before = self.next_hops_of(&touched);
        for prefix in &touched {
            if let Some(paths) = self.prefixes.get_mut(prefix) {
                paths.retain(|p| !(p.peer.address == peer && p.stale));
                if paths.is_empty() {
                    self.prefixes.remove(prefix);
                }
            }
        }
        self.changes(&touched, before)
    }

    /// The paths of `prefix` the router uses, best first (more than one:
    /// multipath); empty if it has none.
    pub fn selected(&self, prefix: Ipv4Net) -> Vec<&Path> {
        let Some(paths) = self.prefixes.get(&prefix) else {
            return Vec::new();
        };
        let mut ordered: Vec<&Path> = paths.iter().collect();
        ordered.sort_by(|a, b| a.order(b));
        let Some(best) = ordered.first().copied() else {
            return Vec::new();
        };
        ordered
            .into_iter()
            .filter(|p| {
                p.better_before_tiebreak(best) == std::cmp::Ordering::Equal
                    && p.neighbour_as() == best.neighbour_as()
            })
            .take(usize::from(self.maximum_paths))
            .collect()
    }

    /// Every path of `prefix`, in the comparison's order.
    pub fn paths(&self, prefix: Ipv4Net) -> Vec<&Path> {
        let mut all: Vec<&Path> = self.prefixes.get(&prefix).into_iter().flatten().collect();
        all.sort_by(|a, b| a.order(b));
        all
    }

    /// The next hops the router forwards `prefix` on, in address order.
    pub fn next_hops(&self, prefix: Ipv4Net) -> Vec<Ipv4Addr> {
        let mut hops: Vec<Ipv4Addr> = self.selected(prefix).iter().map(|p| p.next_hop).collect();
        hops.sort();
        hops.dedup();
        hops
    }

    /// Every prefix with its next hops, in prefix order (`show ip route bgp`).
    pub fn routes(&self) -> Vec<(Ipv4Net, Vec<Ipv4Addr>)> {
        self.prefixes
            .keys()
            .map(|p| (*p, self.next_hops(*p)))
            .filter(|(_, hops)| !hops.is_empty())
            .collect()
    }

    fn remove_path(&mut self, prefix: Ipv4Net, peer: Ipv4Addr) {
        if let Some(paths) = self.prefixes.get_mut(&prefix) {
            paths.retain(|p| p.peer.address != peer);
            if paths.is_empty() {
                self.prefixes.remove(&prefix);
            }
        }
    }

    fn next_hops_of(&self, prefixes: &[Ipv4Net]) -> Vec<Vec<Ipv4Addr>> {
        prefixes.iter().map(|p| self.next_hops(*p)).collect()
    }

    /// The prefixes among `touched` whose next hops differ from `before`,
    /// each once, in prefix order.
    fn changes(&self, touched: &[Ipv4Net], before: Vec<Vec<Ipv4Addr>>) -> Vec<FibChange> {
        let mut out: BTreeMap<Ipv4Net, Vec<Ipv4Addr>> = BTreeMap::new();
        for (prefix, was) in touched.iter().zip(before) {
            if out.contains_key(prefix) {
                continue;
            }
            let now = self.next_hops(*prefix);
            if now != was {
                out.insert(*prefix, now);
            }
        }
        out.into_iter()
            .map(|(prefix, next_hops)| FibChange { prefix, next_hops })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VIP: &str = "10.96.0.10/32";

    fn node(i: u8) -> PeerInfo {
        PeerInfo {
            address: Ipv4Addr::new(10, 160, 1, 20 + i),
            router_id: Ipv4Addr::new(10, 160, 1, 20 + i),
            asn: 64512,
            external: true,
        }
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn announce(peer: PeerInfo, prefix: &str) -> Update {
        Update::announce(vec![net(prefix)], peer.address, vec![peer.asn])
    }

    /// Three nodes advertise one Service IP: multipath uses all three; one
    /// router path only, the oldest.
    #[test]
    fn equal_paths_share_the_prefix_up_to_maximum_paths() {
        let mut rib = Rib::new(8);
        let mut one = Rib::new(1);
        for i in [2, 0, 1] {
            let t = SimTime(u64::from(i) * 1000);
            let changes = rib.apply(t, node(i), &announce(node(i), VIP));
            assert_eq!(changes.len(), 1);
            one.apply(t, node(i), &announce(node(i), VIP));
        }
        let all: Vec<Ipv4Addr> = (0..3).map(|i| node(i).address).collect();
        assert_eq!(rib.next_hops(net(VIP)), all);
        assert_eq!(rib.routes(), vec![(net(VIP), all.clone())]);
        // All within one second: the lowest router ID (node 0).
        assert_eq!(one.next_hops(net(VIP)), vec![node(0).address]);
        assert_eq!(one.paths(net(VIP)).len(), 3);
    }

    /// With one path allowed, the older one is used, FRR's age counting
    /// whole seconds: within one second the lower router ID wins.
    #[test]
    fn the_older_path_wins_unless_both_came_within_a_second() {
        let second = |ms: u64| SimTime::ZERO + crate::time::SimDuration::from_millis(ms);
        let mut rib = Rib::new(1);
        rib.apply(second(0), node(2), &announce(node(2), VIP));
        rib.apply(second(1500), node(0), &announce(node(0), VIP));
        assert_eq!(rib.next_hops(net(VIP)), vec![node(2).address]);
        let mut tie = Rib::new(1);
        tie.apply(second(100), node(2), &announce(node(2), VIP));
        tie.apply(second(900), node(0), &announce(node(0), VIP));
        assert_eq!(tie.next_hops(net(VIP)), vec![node(0).address]);
        // Announcing the same path again keeps its age.
        rib.apply(second(5000), node(2), &announce(node(2), VIP));
        assert_eq!(rib.next_hops(net(VIP)), vec![node(2).address]);
    }

    #[test]
    fn a_peer_going_away_takes_its_paths_unless_it_restarts_gracefully() {
        let mut rib = Rib::new(8);
        for i in 0..3 {
            rib.apply(SimTime(0), node(i), &announce(node(i), VIP));
        }
        // Hold timer expiry or a NOTIFICATION: gone at once.
        let down = rib.peer_down(node(1).address, false);
        assert_eq!(
            down,
            vec![FibChange {
                prefix: net(VIP),
                next_hops: vec![node(0).address, node(2).address]
            }]
        );
        // Without a NOTIFICATION, a peer with Graceful Restart keeps its
        // paths, stale and still used.
        assert!(rib.peer_down(node(2).address, true).is_empty());
        assert!(rib.paths(net(VIP)).iter().any(|p| p.stale));
        assert_eq!(rib.next_hops(net(VIP)).len(), 2);
        // It comes back and announces again: fresh; End-of-RIB changes nothing.
        rib.apply(SimTime(5), node(2), &announce(node(2), VIP));
        assert!(rib.paths(net(VIP)).iter().all(|p| !p.stale));
        assert!(
            rib.apply(SimTime(6), node(2), &Update::end_of_rib())
                .is_empty()
        );
        // Stale again, then its restart time runs out: gone.
        rib.peer_down(node(2).address, true);
        assert_eq!(
            rib.flush_stale(node(2).address),
            vec![FibChange {
                prefix: net(VIP),
                next_hops: vec![node(0).address]
            }]
        );
        // The last withdrawal removes the route.
        let gone = rib.apply(SimTime(7), node(0), &Update::withdraw(vec![net(VIP)]));
        assert_eq!(
            gone,
            vec![FibChange {
                prefix: net(VIP),
                next_hops: vec![]
            }]
        );
        assert!(rib.routes().is_empty());
    }

    #[test]
    fn the_best_path_follows_local_pref_as_path_and_neighbour_as() {
        let mut rib = Rib::new(8);
        let far = PeerInfo {
            asn: 64513,
            ..node(1)
        };
        rib.apply(SimTime(0), node(0), &announce(node(0), VIP));
        // A longer AS path loses, and is not multipath.
        let mut longer = announce(far, VIP);
        longer.attributes[1] = PathAttribute::AsPath(vec![crate::wire::bgp::AsPathSegment {
            kind: SegmentKind::Sequence,
            asns: vec![64513, 64999],
        }]);
        rib.apply(SimTime(1), far, &longer);
        assert_eq!(rib.next_hops(net(VIP)), vec![node(0).address]);
        // Equal length but another neighbouring AS: best only, no multipath.
        rib.apply(SimTime(2), far, &announce(far, VIP));
        assert_eq!(rib.next_hops(net(VIP)), vec![node(0).address]);
        assert_eq!(rib.selected(net(VIP)).len(), 1);
        // A higher LOCAL_PREF wins whatever the rest.
        let mut preferred = announce(far, VIP);
        preferred.attributes.push(PathAttribute::LocalPref(200));
        rib.apply(SimTime(3), far, &preferred);
        assert_eq!(rib.next_hops(net(VIP)), vec![far.address]);
    }

    proptest! {
        /// The forwarding changes the table reports, applied one after the
        /// other, always give the table's own routes.
        #[test]
        fn reported_changes_add_up_to_the_routes(
            ops in proptest::collection::vec((0u8..4, 0u8..3, 0u8..4), 1..80),
            max_paths in 1u8..4,
        ) {
            let mut rib = Rib::new(max_paths);
            let mut fib: BTreeMap<Ipv4Net, Vec<Ipv4Addr>> = BTreeMap::new();
            let prefixes = ["10.96.0.10/32", "10.96.0.11/32", "10.244.1.0/24"];
            for (t, (op, peer, which)) in ops.into_iter().enumerate() {
                let peer = node(peer);
                let prefix = prefixes[usize::from(which % 3)];
                let now = SimTime(t as u64);
                let changes = match op {
                    0 | 1 => rib.apply(now, peer, &announce(peer, prefix)),
                    2 => rib.apply(now, peer, &Update::withdraw(vec![net(prefix)])),
                    _ if which == 3 => rib.flush_stale(peer.address),
                    _ => rib.peer_down(peer.address, which % 2 == 0),
                };
                for c in changes {
                    if c.next_hops.is_empty() {
                        fib.remove(&c.prefix);
                    } else {
                        fib.insert(c.prefix, c.next_hops);
                    }
                }
                let routes: BTreeMap<Ipv4Net, Vec<Ipv4Addr>> = rib.routes().into_iter().collect();
                prop_assert_eq!(&fib, &routes);
                for hops in routes.values() {
                    prop_assert!(hops.len() <= usize::from(max_paths));
                }
            }
        }
    }
}
