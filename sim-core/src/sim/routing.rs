//! Routing tables and policy rules, Linux style.
//!
//! A lookup walks the rules by priority (`ip rule`: 0 `local`, 32766 `main`,
//! 32767 `default`, plus any added, e.g. Antrea's `fwmark 0x1/0xff lookup 101`);
//! the first table with a match wins, as in the kernel's FIB rules
//! (`net/core/fib_rules.c`). Within a table the kernel's IPv4 FIB
//! (`net/ipv4/fib_trie.c`) picks the longest prefix, then the lowest metric
//! (`fib_find_alias` keeps a prefix's routes sorted by priority), then the
//! route inserted first: `fib_table_insert` puts a new route after the
//! existing ones with the same prefix and metric (`ip route append`, and the
//! kernel's own connected routes, `fib_magic` with `NLM_F_APPEND`), and
//! `fib_table_lookup` takes the first usable one. Two separate equal routes
//! are therefore not ECMP on Linux: ECMP is one route with several next hops
//! (`nexthop via A nexthop via B`), and `fib_select_multipath`
//! (`net/ipv4/fib_semantics.c`) picks one per flow by hash-threshold: each
//! live next hop owns a slice of the 31-bit hash space proportional to its
//! weight. The hash covers the addresses (`fib_multipath_hash_policy` 0, the
//! default) or the 5-tuple (policy 1), with a random per-namespace seed.
//! Router operating systems spread flows over separate equal routes when
//! configured to (`maximum-paths N`): [`RoutingTable::set_ecmp`].

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::engine::peer_routes::PeerRouteSet;
use crate::model::{EcmpPolicy, MultipathHash, RuleSpec, TABLE_LOCAL, TABLE_MAIN};
use crate::rng::{fnv1a64, mix64};

/// One next hop of a running route; `dev` is a resolved interface index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nexthop {
    /// The gateway; `None` for a connected (`dev`-only) route.
    pub via: Option<Ipv4Addr>,
    pub dev: usize,
    /// Share of flows (iproute2 `weight`, 1..=256).
    pub weight: u16,
}

/// One route in the running stack: one next hop, or several for a multipath
/// route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub dst: Ipv4Net,
    /// Never empty.
    pub nexthops: Vec<Nexthop>,
    pub metric: u32,
    pub table: u32,
    /// Who installed it: "static" (topology), "kernel" (connected subnet),
    /// "engine" (the control-plane engine's desired state).
    pub origin: &'static str,
}

impl Route {
    /// A single-path route.
    pub fn single(
        dst: Ipv4Net,
        via: Option<Ipv4Addr>,
        dev: usize,
        metric: u32,
        table: u32,
        origin: &'static str,
    ) -> Route {
        Route {
            dst,
            nexthops: vec![Nexthop {
                via,
                dev,
                weight: 1,
            }],
            metric,
            table,
            origin,
        }
    }

    /// The first next hop's gateway (the only one of a single-path route).
    pub fn via(&self) -> Option<Ipv4Addr> {
        self.nexthops.first().and_then(|n| n.via)
    }

    /// The first next hop's interface.
    pub fn dev(&self) -> usize {
        self.nexthops.first().map_or(0, |n| n.dev)
    }

    pub fn is_multipath(&self) -> bool {
        self.nexthops.len() > 1
    }
}

/// What a route lookup hashes to keep a flow on one path: the addresses, and
/// for the L4 policy the protocol and (TCP/UDP) ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowPath {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

impl FlowPath {
    /// A flow known only by its addresses (ports and protocol zero).
    pub fn l3(src: Ipv4Addr, dst: Ipv4Addr) -> FlowPath {
        FlowPath {
            src,
            dst,
            proto: 0,
            sport: 0,
            dport: 0,
        }
    }
}

/// The engine's routes to the peers' Pod CIDRs as a node's table holds
/// them: the cluster's shared set (`engine::peer_routes`), the node's own
/// entry that it skips, its interface, and how many of its other engine
/// routes come before them. They are engine routes in the main table at
/// metric 0; a lookup finds them through the set's index, and the table
/// lists them among its routes where they were installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerBlock {
    pub set: Arc<PeerRouteSet>,
    pub except: Option<usize>,
    pub dev: usize,
    pub at: usize,
}

impl PeerBlock {
    /// The routes the block stands for, in order.
    pub fn routes(&self) -> impl Iterator<Item = Route> + '_ {
        self.set
            .others(self.except)
            .map(|r| Route::single(r.dst, Some(r.via), self.dev, 0, TABLE_MAIN, "engine"))
    }

    /// Whether `a` and `b` stand for the same routes (wherever they sit).
    pub fn same_routes(a: Option<&Self>, b: Option<&Self>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => a.set == b.set && a.except == b.except && a.dev == b.dev,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct RoutingTable {
    routes: Vec<Route>,
    /// The engine's peer routes, shared ([`PeerBlock`]).
    peers: Option<PeerBlock>,
    rules: Vec<RuleSpec>,
    /// Next hops BFD declared down.
    dead_next_hops: Vec<Ipv4Addr>,
    ecmp: EcmpPolicy,
    /// Mixed into the multipath hash, like the kernel's per-namespace random
    /// seed: two devices do not split the same flows the same way.
    hash_seed: u64,
}

/// The result of a lookup: where the packet goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    pub dev: usize,
    /// The address to resolve with ARP: the gateway, or the destination itself
    /// for a connected route.
    pub neighbor: Ipv4Addr,
    pub(crate) table: u32,
}

impl RoutingTable {
    pub fn new() -> Self {
        let main_rules = [(0, TABLE_LOCAL), (32766, TABLE_MAIN)];
        RoutingTable {
            rules: main_rules
                .iter()
                .map(|&(priority, table)| RuleSpec {
                    priority,
                    fwmark: None,
                    from: None,
                    table,
                })
                .collect(),
            ..RoutingTable::default()
        }
    }

    /// How ties are shared, and the seed of the multipath hash.
    pub fn set_ecmp(&mut self, policy: EcmpPolicy, hash_seed: u64) {
        self.ecmp = policy;
        self.hash_seed = hash_seed;
    }

    pub fn ecmp(&self) -> EcmpPolicy {
        self.ecmp
    }

    /// Appends a route after any with the same prefix and metric (Linux
    /// `ip route append`; the kernel adds its connected routes this way). An
    /// identical route is not added twice.
    pub fn add_route(&mut self, r: Route) {
        if !self.routes.contains(&r) {
            self.routes.push(r);
        }
    }

    /// Whether a route with `dst`, `metric` and `table` exists: Linux's
    /// `ip route add` of a second one fails with `File exists`.
    pub fn has_route_key(&self, dst: Ipv4Net, metric: u32, table: u32) -> bool {
        self.routes
            .iter()
            .any(|r| r.dst == dst && r.metric == metric && r.table == table)
            || (metric == 0 && table == TABLE_MAIN && self.peer_route_to(dst))
    }

    /// Whether the peer block holds a route to exactly `dst`.
    fn peer_route_to(&self, dst: Ipv4Net) -> bool {
        self.peers
            .as_ref()
            .is_some_and(|b| b.set.others(b.except).any(|r| r.dst == dst))
    }

    /// Installs the engine's peer routes (replacing any), or removes them.
    pub fn set_peer_routes(&mut self, block: Option<PeerBlock>) {
        self.peers = block;
    }

    pub fn peer_routes(&self) -> Option<&PeerBlock> {
        self.peers.as_ref()
    }

    /// Where in `routes` the peer block sits: before the `at`-th engine
    /// route, or right after the last one (the end of a table with none).
    fn block_position(&self, block: &PeerBlock) -> usize {
        let mut seen = 0;
        let mut after_last = None;
        for (i, r) in self.routes.iter().enumerate() {
            if r.origin == "engine" {
                if seen == block.at {
                    return i;
                }
                seen += 1;
                after_last = Some(i + 1);
            }
        }
        after_last.unwrap_or(self.routes.len())
    }

    /// Turns the peer block into routes of the table's own, in their place,
    /// before an edit that may touch one of them.
    fn unshare(&mut self) {
        let Some(block) = self.peers.take() else {
            return;
        };
        let at = self.block_position(&block);
        let tail = self.routes.split_off(at);
        self.routes.extend(block.routes());
        self.routes.extend(tail);
    }

    /// [`RoutingTable::add_route`] for many routes, in order, without a scan
    /// of the table per route (a node of a large cluster has a route per
    /// peer).
    pub fn add_routes<'a>(&mut self, routes: impl IntoIterator<Item = &'a Route>) {
        let mut have: std::collections::BTreeSet<&Route> = self.routes.iter().collect();
        let added: Vec<Route> = routes
            .into_iter()
            .filter(|r| have.insert(r))
            .cloned()
            .collect();
        self.routes.extend(added);
    }

    /// Removes every route installed by `origin` (used to re-apply desired state).
    pub fn remove_origin(&mut self, origin: &str) {
        if origin == "engine" {
            self.peers = None;
        }
        self.routes.retain(|r| r.origin != origin);
    }

    /// Keeps the routes of `origin` for which `keep` holds, in place.
    pub fn retain_origin(&mut self, origin: &str, mut keep: impl FnMut(&Route) -> bool) {
        if origin == "engine" {
            self.unshare();
        }
        self.routes.retain(|r| r.origin != origin || keep(r));
    }

    /// `ip route del`: removes the first route (in lookup order) to `dst` in
    /// `table` that matches what `matches` checks (the metric and gateways
    /// given), as `fib_table_delete` does. Returns whether one was removed.
    pub fn remove_first(
        &mut self,
        dst: Ipv4Net,
        table: u32,
        matches: impl Fn(&Route) -> bool,
    ) -> bool {
        let a_peer_route_matches = table == TABLE_MAIN
            && self
                .peers
                .as_ref()
                .is_some_and(|b| b.routes().any(|r| r.dst == dst && matches(&r)));
        if a_peer_route_matches {
            self.unshare();
        }
        let found = self
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.dst == dst && r.table == table && matches(r))
            .min_by_key(|(i, r)| (r.metric, *i))
            .map(|(i, _)| i);
        match found {
            Some(i) => {
                self.routes.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn add_rule(&mut self, rule: RuleSpec) {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
            // Stable sort: equal priorities keep insertion order, as `ip rule add` does.
            self.rules.sort_by_key(|r| r.priority);
        }
    }

    pub fn remove_rules_for_table(&mut self, table: u32) {
        self.rules
            .retain(|r| r.table != table || r.table == TABLE_MAIN || r.table == TABLE_LOCAL);
    }

    /// The routes in insertion order, the engine's peer routes among them
    /// (a copy: they are held shared).
    pub fn routes(&self) -> Vec<Route> {
        let Some(block) = &self.peers else {
            return self.routes.clone();
        };
        let at = self.block_position(block);
        let mut out = Vec::with_capacity(self.routes.len() + block.set.len());
        out.extend_from_slice(&self.routes[..at]);
        out.extend(block.routes());
        out.extend_from_slice(&self.routes[at..]);
        out
    }

    /// The table's own routes (the engine's peer routes not among them).
    pub fn own_routes(&self) -> &[Route] {
        &self.routes
    }
    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// Looks `dst` up for a packet from `src` with firewall mark `mark`
    /// (a flow known by its addresses only).
    pub fn lookup(&self, dst: Ipv4Addr, src: Option<Ipv4Addr>, mark: u32) -> Option<NextHop> {
        let path = FlowPath::l3(src.unwrap_or(Ipv4Addr::UNSPECIFIED), dst);
        self.lookup_flow(dst, src, mark, &path)
    }

    /// Like `lookup`; `path` picks a next hop of a multipath route (or among
    /// equal routes on a device with `maximum_paths` > 1).
    pub fn lookup_flow(
        &self,
        dst: Ipv4Addr,
        src: Option<Ipv4Addr>,
        mark: u32,
        path: &FlowPath,
    ) -> Option<NextHop> {
        for rule in &self.rules {
            if let Some((value, mask)) = rule.fwmark
                && mark & mask != value & mask
            {
                continue;
            }
            if let Some(from) = rule.from {
                match src {
                    Some(s) if from.contains(&s) => {}
                    _ => continue,
                }
            }
            if let Some(hop) = self.lookup_table(rule.table, dst, path) {
                return Some(hop);
            }
        }
        None
    }

    /// The flow's 31-bit hash (the kernel's `fib_multipath_hash() >> 1`).
    pub fn flow_hash(&self, path: &FlowPath) -> u32 {
        let mut bytes = [0u8; 21];
        bytes[..8].copy_from_slice(&self.hash_seed.to_be_bytes());
        bytes[8..12].copy_from_slice(&path.src.octets());
        bytes[12..16].copy_from_slice(&path.dst.octets());
        let mut len = 16;
        if self.ecmp.hash == MultipathHash::L4 {
            bytes[16] = path.proto;
            len = 17;
            // Ports exist for TCP and UDP only (the flow dissector's keys).
            if matches!(path.proto, 6 | 17) {
                bytes[17..19].copy_from_slice(&path.sport.to_be_bytes());
                bytes[19..21].copy_from_slice(&path.dport.to_be_bytes());
                len = 21;
            }
        }
        // FNV-1a alone leaves its top bits blind to the last bytes (the
        // ports): the finaliser spreads every input bit over them.
        (mix64(fnv1a64(&bytes[..len])) >> 33) as u32
    }

    fn alive(&self, nh: &Nexthop) -> bool {
        nh.via.is_none_or(|v| !self.dead_next_hops.contains(&v))
    }

    fn lookup_table(&self, table: u32, dst: Ipv4Addr, path: &FlowPath) -> Option<NextHop> {
        // Usable routes only: one whose next hops are all dead is skipped, as
        // the kernel skips `RTNH_F_DEAD` aliases and tries shorter prefixes.
        let usable = |r: &Route| {
            r.table == table && r.dst.contains(&dst) && r.nexthops.iter().any(|n| self.alive(n))
        };
        // One pass: the longest usable prefix, then its lowest metric, the
        // ties kept in insertion order (the first is Linux's pick).
        let max_tied = usize::from(self.ecmp.maximum_paths.max(1));
        let mut best: Option<(u8, u32)> = None;
        let mut tied: Vec<&Route> = Vec::new();
        for r in self.routes.iter().filter(|r| usable(r)) {
            let rank = (r.dst.prefix_len(), r.metric);
            let better = match best {
                None => true,
                Some((len, metric)) => rank.0 > len || (rank.0 == len && rank.1 < metric),
            };
            if better {
                best = Some(rank);
                tied.clear();
                tied.push(r);
            } else if best == Some(rank) && tied.len() < max_tied {
                tied.push(r);
            }
        }
        // The engine's peer routes (main table, metric 0): the longest
        // usable one. Installed after the kernel's and the topology's
        // routes, it loses a tie to them; the engine installs no other
        // route to a peer's Pod CIDR.
        let peer = self
            .peers
            .as_ref()
            .filter(|_| table == TABLE_MAIN)
            .and_then(|b| {
                b.set
                    .lookup(dst, |i, via| {
                        Some(i) != b.except && !self.dead_next_hops.contains(&via)
                    })
                    .map(|(_, r)| {
                        (
                            r.dst.prefix_len(),
                            Nexthop {
                                via: Some(r.via),
                                dev: b.dev,
                                weight: 1,
                            },
                        )
                    })
            });
        let mut peer_hop = None;
        if let Some((len, hop)) = peer {
            match best {
                Some((blen, bmetric)) if blen > len || (blen == len && bmetric == 0) => {
                    if blen == len && tied.len() < max_tied {
                        peer_hop = Some(hop);
                    }
                }
                _ => {
                    return Some(NextHop {
                        dev: hop.dev,
                        neighbor: hop.via.unwrap_or(dst),
                        table,
                    });
                }
            }
        }
        best?;
        if peer_hop.is_none()
            && let [only] = tied[..]
            && let [hop] = only.nexthops[..]
        {
            // One path: the hash would pick it whatever it is.
            return Some(NextHop {
                dev: hop.dev,
                neighbor: hop.via.unwrap_or(dst),
                table,
            });
        }
        let hash = self.flow_hash(path);
        let hops: Vec<Nexthop> = if tied.len() + usize::from(peer_hop.is_some()) > 1 {
            // A router with `maximum-paths`: each equal route is one next hop.
            tied.iter()
                .filter_map(|r| r.nexthops.iter().find(|n| self.alive(n)).copied())
                .chain(peer_hop)
                .collect()
        } else {
            tied[0]
                .nexthops
                .iter()
                .filter(|n| self.alive(n))
                .copied()
                .collect()
        };
        let nh = select_by_hash_threshold(&hops, hash)?;
        Some(NextHop {
            dev: nh.dev,
            neighbor: nh.via.unwrap_or(dst),
            table,
        })
    }

    /// BFD (or next-hop tracking) declared `via` unreachable: routes through
    /// it are skipped until it comes back.
    pub fn set_next_hop_alive(&mut self, via: Ipv4Addr, alive: bool) {
        if alive {
            self.dead_next_hops.retain(|v| *v != via);
        } else if !self.dead_next_hops.contains(&via) {
            self.dead_next_hops.push(via);
        }
    }

    /// The next hops the main table forwards exactly `dst` through, sorted:
    /// its usable routes of that prefix with the lowest metric (as many as
    /// `maximum_paths` takes; a multipath route's live next hops).
    pub fn next_hops_of(&self, dst: Ipv4Net) -> Vec<Ipv4Addr> {
        let usable: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| {
                r.table == TABLE_MAIN && r.dst == dst && r.nexthops.iter().any(|n| self.alive(n))
            })
            .collect();
        let Some(metric) = usable.iter().map(|r| r.metric).min() else {
            return Vec::new();
        };
        let mut v: Vec<Ipv4Addr> = usable
            .into_iter()
            .filter(|r| r.metric == metric)
            .take(usize::from(self.ecmp.maximum_paths.max(1)))
            .flat_map(|r| {
                r.nexthops
                    .iter()
                    .filter(|n| self.alive(n))
                    .filter_map(|n| n.via)
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Next hops of static routes (what a BFD session would watch).
    pub fn static_next_hops(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<Ipv4Addr> = self
            .routes
            .iter()
            .filter(|r| r.origin == "static")
            .flat_map(|r| r.nexthops.iter().filter_map(|n| n.via))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Hash-threshold selection (RFC 2992, `fib_select_multipath`): next hop i
/// owns the hashes up to its cumulative weight's share of 2^31.
fn select_by_hash_threshold(hops: &[Nexthop], hash: u32) -> Option<Nexthop> {
    let total: u64 = hops.iter().map(|n| u64::from(n.weight.max(1))).sum();
    let mut cumulative = 0u64;
    for nh in hops {
        cumulative += u64::from(nh.weight.max(1));
        // DIV_ROUND_CLOSEST_ULL(w << 31, total) - 1, as `fib_rebalance` sets it.
        let upper = ((cumulative << 31) + total / 2) / total - 1;
        if u64::from(hash) <= upper {
            return Some(*nh);
        }
    }
    hops.last().copied()
}

/// `main`, `local`, `default` or the number, as `ip route` prints tables.
pub fn table_name(table: u32) -> String {
    match table {
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, via: Option<&str>, dev: usize, metric: u32, table: u32) -> Route {
        Route::single(
            dst.parse().unwrap(),
            via.map(|v| v.parse().unwrap()),
            dev,
            metric,
            table,
            "static",
        )
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn multipath(dst: &str, vias: &[(&str, u16)]) -> Route {
        Route {
            dst: dst.parse().unwrap(),
            nexthops: vias
                .iter()
                .map(|(v, w)| Nexthop {
                    via: Some(ip(v)),
                    dev: 0,
                    weight: *w,
                })
                .collect(),
            metric: 0,
            table: TABLE_MAIN,
            origin: "static",
        }
    }

    fn tcp(sport: u16) -> FlowPath {
        FlowPath {
            src: ip("10.200.0.10"),
            dst: ip("10.169.1.40"),
            proto: 6,
            sport,
            dport: 80,
        }
    }

    /// The node-VLAN pool leak: a node's eth0 route to its subnet, then the
    /// kernel's connected route of `antrea-ext.216` (an Egress IP with the
    /// same /24) appended after it. Linux keeps using eth0.
    #[test]
    fn equal_routes_are_not_ecmp_on_linux_the_first_inserted_wins() {
        let mut t = RoutingTable::new();
        let subnet = "10.160.1.0/24";
        t.add_route(Route::single(
            subnet.parse().unwrap(),
            None,
            0,
            0,
            TABLE_MAIN,
            "kernel",
        ));
        t.add_route(Route::single(
            subnet.parse().unwrap(),
            None,
            3,
            0,
            TABLE_MAIN,
            "kernel",
        ));
        for sport in 0..200 {
            let mut p = tcp(sport);
            p.dst = ip("10.160.1.22");
            let hop = t.lookup_flow(p.dst, None, 0, &p).unwrap();
            assert_eq!(hop.dev, 0, "flow {sport} left by the later route");
        }
        // Even with the L4 hash, separate routes stay separate on Linux.
        t.set_ecmp(
            EcmpPolicy {
                maximum_paths: 1,
                hash: MultipathHash::L4,
            },
            7,
        );
        assert_eq!(t.lookup(ip("10.160.1.22"), None, 0).unwrap().dev, 0);
        // Removing the first makes the second the route.
        assert!(t.remove_first(subnet.parse().unwrap(), TABLE_MAIN, |r| r.dev() == 0));
        assert_eq!(t.lookup(ip("10.160.1.22"), None, 0).unwrap().dev, 3);
    }

    #[test]
    fn a_router_with_maximum_paths_spreads_flows_over_equal_routes() {
        let mut t = RoutingTable::new();
        for via in ["10.160.1.26", "10.160.1.27", "10.160.1.28"] {
            t.add_route(route("10.169.1.40/32", Some(via), 0, 1, TABLE_MAIN));
        }
        t.set_ecmp(
            EcmpPolicy {
                maximum_paths: 2,
                hash: MultipathHash::L4,
            },
            1,
        );
        let used: std::collections::BTreeSet<Ipv4Addr> = (0..400)
            .map(|s| {
                t.lookup_flow(ip("10.169.1.40"), None, 0, &tcp(s))
                    .unwrap()
                    .neighbor
            })
            .collect();
        // The first two routes, not the third: maximum-paths 2.
        assert_eq!(
            used.into_iter().collect::<Vec<_>>(),
            [ip("10.160.1.26"), ip("10.160.1.27")]
        );
    }

    #[test]
    fn multipath_l3_keeps_two_hosts_on_one_path_l4_spreads_connections() {
        let mut t = RoutingTable::new();
        t.add_route(multipath(
            "10.169.1.40/32",
            &[("10.160.1.26", 1), ("10.160.1.27", 1)],
        ));
        let hops = |t: &RoutingTable| -> std::collections::BTreeSet<Ipv4Addr> {
            (0..400)
                .map(|s| {
                    t.lookup_flow(ip("10.169.1.40"), None, 0, &tcp(s))
                        .unwrap()
                        .neighbor
                })
                .collect()
        };
        assert_eq!(hops(&t).len(), 1, "policy 0 hashes addresses only");
        t.set_ecmp(
            EcmpPolicy {
                maximum_paths: 1,
                hash: MultipathHash::L4,
            },
            0,
        );
        assert_eq!(hops(&t).len(), 2, "policy 1 hashes ports too");
        // A next hop BFD declared dead gets no flows; its share goes to the rest.
        t.set_next_hop_alive(ip("10.160.1.26"), false);
        assert_eq!(
            hops(&t).into_iter().collect::<Vec<_>>(),
            [ip("10.160.1.27")]
        );
        t.set_next_hop_alive(ip("10.160.1.27"), false);
        assert_eq!(t.lookup(ip("10.169.1.40"), None, 0), None);
    }

    #[test]
    fn next_hops_of_a_prefix_are_its_lowest_metric_live_routes() {
        let mut t = RoutingTable::new();
        let dst: Ipv4Net = "10.169.1.40/32".parse().unwrap();
        assert!(t.next_hops_of(dst).is_empty());
        t.add_route(route(
            "10.169.1.40/32",
            Some("10.0.0.27"),
            0,
            10,
            TABLE_MAIN,
        ));
        t.add_route(route("10.169.1.40/32", Some("10.0.0.26"), 0, 1, TABLE_MAIN));
        t.add_route(route("10.169.1.0/24", Some("10.0.0.9"), 0, 0, TABLE_MAIN));
        assert_eq!(t.next_hops_of(dst), [ip("10.0.0.26")]);
        // The best one's next hop is dead (BFD): the backup is used.
        t.set_next_hop_alive(ip("10.0.0.26"), false);
        assert_eq!(t.next_hops_of(dst), [ip("10.0.0.27")]);
        t.set_next_hop_alive(ip("10.0.0.26"), true);
        // A multipath route of a lower metric: its next hops, sorted.
        t.add_route(multipath(
            "10.169.1.40/32",
            &[("10.0.0.30", 1), ("10.0.0.29", 1)],
        ));
        assert_eq!(t.next_hops_of(dst), [ip("10.0.0.29"), ip("10.0.0.30")]);
    }

    #[test]
    fn an_l4_hash_spreads_flows_that_differ_only_in_their_source_port() {
        let mut t = RoutingTable::new();
        t.set_ecmp(
            EcmpPolicy {
                maximum_paths: 1,
                hash: MultipathHash::L4,
            },
            12_345,
        );
        let low_half = (32_768..33_168u16)
            .filter(|sport| {
                let path = FlowPath {
                    src: ip("10.200.0.10"),
                    dst: ip("10.170.1.40"),
                    proto: 6,
                    sport: 80,
                    dport: *sport,
                };
                t.flow_hash(&path) < 1 << 30
            })
            .count();
        // Two equal next hops split at half the hash range: about half of
        // 400 flows on each (FNV-1a alone put all 400 on one).
        assert!((150..=250).contains(&low_half), "{low_half} of 400");
    }

    #[test]
    fn hash_threshold_follows_weights() {
        let hops = [
            Nexthop {
                via: Some(ip("10.0.0.1")),
                dev: 0,
                weight: 1,
            },
            Nexthop {
                via: Some(ip("10.0.0.2")),
                dev: 0,
                weight: 3,
            },
        ];
        // The first owns hashes 0..2^29, the second the rest of 2^31.
        let first = |h| select_by_hash_threshold(&hops, h).unwrap().via;
        assert_eq!(first(0), Some(ip("10.0.0.1")));
        assert_eq!(first((1 << 29) - 1), Some(ip("10.0.0.1")));
        assert_eq!(first(1 << 29), Some(ip("10.0.0.2")));
        assert_eq!(first(u32::MAX >> 1), Some(ip("10.0.0.2")));
        assert_eq!(select_by_hash_threshold(&[], 5), None);
    }

    #[test]
    fn longest_prefix_then_metric_then_policy() {
        let mut t = RoutingTable::new();
        t.add_route(route("0.0.0.0/0", Some("10.160.1.1"), 0, 0, TABLE_MAIN));
        t.add_route(route("10.160.1.0/24", None, 0, 0, TABLE_MAIN));
        t.add_route(route(
            "10.30.68.0/24",
            Some("10.160.1.26"),
            0,
            10,
            TABLE_MAIN,
        ));
        t.add_route(route(
            "10.30.68.0/24",
            Some("10.160.1.27"),
            0,
            5,
            TABLE_MAIN,
        ));
        t.add_route(route("0.0.0.0/0", Some("172.18.181.1"), 2, 0, 101));
        assert_eq!(
            t.lookup(ip("8.8.8.8"), None, 0).unwrap().neighbor,
            ip("10.160.1.1")
        );
        assert_eq!(
            t.lookup(ip("10.160.1.99"), None, 0).unwrap().neighbor,
            ip("10.160.1.99")
        );
        assert_eq!(
            t.lookup(ip("10.30.68.4"), None, 0).unwrap().neighbor,
            ip("10.160.1.27")
        );
        // Without a rule, table 101 is never consulted.
        assert_eq!(t.lookup(ip("8.8.8.8"), None, 1).unwrap().dev, 0);
        t.add_rule(RuleSpec {
            priority: 100,
            fwmark: Some((1, 0xff)),
            from: None,
            table: 101,
        });
        let hop = t.lookup(ip("8.8.8.8"), None, 0x301).unwrap();
        assert_eq!(
            (hop.dev, hop.table, hop.neighbor),
            (2, 101, ip("172.18.181.1"))
        );
        assert_eq!(t.lookup(ip("8.8.8.8"), None, 2).unwrap().table, TABLE_MAIN);
        t.remove_origin("static");
        assert_eq!(t.lookup(ip("8.8.8.8"), None, 0), None);
    }

    proptest::proptest! {
        /// A node holding the engine's peer routes shared finds what it
        /// would find holding them as routes of its own, installed after
        /// its kernel and static routes: same next hop for any address,
        /// with some gateways dead (BFD), static routes to the same and
        /// to wider prefixes, and routers spreading over equal routes.
        #[test]
        fn shared_peer_routes_look_up_as_own_routes(
            peers in proptest::collection::vec((0u32..12, 22u8..=25), 0..12),
            statics in proptest::collection::vec((0u32..12, 16u8..=25, 0u32..3), 0..5),
            except in proptest::option::of(0usize..12),
            dead in proptest::collection::vec(0u8..12, 0..3),
            maximum_paths in 1u8..3,
            dst in 0u32..12,
            host in 0u8..=255,
        ) {
            let net = |n: u32, len: u8| Ipv4Net::new(Ipv4Addr::from(0x0a0a_0000 | (n << 8)), len).unwrap().trunc();
            // Nodes' Pod CIDRs are distinct prefixes.
            let mut peers = peers;
            let mut seen = std::collections::BTreeSet::new();
            peers.retain(|(n, len)| seen.insert(net(*n, *len)));
            let set = Arc::new(PeerRouteSet::new(
                peers
                    .iter()
                    .enumerate()
                    .map(|(i, (n, len))| crate::engine::peer_routes::PeerRoute {
                        dst: net(*n, *len),
                        via: Ipv4Addr::new(192, 168, 0, i as u8),
                        node_ip: Ipv4Addr::new(192, 168, 0, i as u8),
                        gateway_ip: Ipv4Addr::new(10, 9, 9, 1),
                    })
                    .collect(),
            ));
            let block = PeerBlock { set, except, dev: 1, at: 0 };
            let mut shared = RoutingTable::new();
            let policy = EcmpPolicy { maximum_paths, ..EcmpPolicy::default() };
            shared.set_ecmp(policy, 7);
            for (n, len, metric) in &statics {
                shared.add_route(Route::single(net(*n, *len), Some(Ipv4Addr::new(10, 0, 0, 1)), 0, *metric, TABLE_MAIN, "static"));
            }
            let mut own = shared.clone();
            own.add_routes(&block.routes().collect::<Vec<_>>());
            shared.set_peer_routes(Some(block));
            for d in &dead {
                own.set_next_hop_alive(Ipv4Addr::new(192, 168, 0, *d), false);
                shared.set_next_hop_alive(Ipv4Addr::new(192, 168, 0, *d), false);
            }
            let dst = Ipv4Addr::from(0x0a0a_0000 | (dst << 8) | u32::from(host));
            for sport in [1000u16, 2000, 3000] {
                let path = FlowPath { src: Ipv4Addr::new(10, 1, 1, 1), dst, proto: 6, sport, dport: 80 };
                proptest::prop_assert_eq!(
                    shared.lookup_flow(dst, None, 0, &path),
                    own.lookup_flow(dst, None, 0, &path)
                );
            }
            proptest::prop_assert_eq!(shared.routes(), own.routes());
            // `ip route del` of a peer's Pod CIDR through a gateway given:
            // removed (or not) alike, the rest in the same order.
            let gone = peers.first().map(|(n, len)| net(*n, *len));
            if let Some(gone) = gone {
                for via in [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 0, 0)] {
                    let hit = |r: &Route| r.via() == Some(via);
                    proptest::prop_assert_eq!(
                        shared.remove_first(gone, TABLE_MAIN, hit),
                        own.remove_first(gone, TABLE_MAIN, hit)
                    );
                    proptest::prop_assert_eq!(shared.routes(), own.routes());
                    let path = FlowPath::l3(Ipv4Addr::new(10, 1, 1, 1), dst);
                    proptest::prop_assert_eq!(
                        shared.lookup_flow(dst, None, 0, &path),
                        own.lookup_flow(dst, None, 0, &path)
                    );
                }
            }
        }
    }
}
