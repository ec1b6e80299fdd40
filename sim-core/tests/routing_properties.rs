//! Property tests of the routing table against an oracle of Linux's FIB rule
//! (`net/ipv4/fib_trie.c`): the longest prefix, then the lowest metric, then
//! the route inserted first; and of multipath routes: one flow always takes
//! the same next hop, and flows spread over every next hop by weight.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use proptest::prelude::*;

use sim_core::model::{EcmpPolicy, MultipathHash, TABLE_MAIN};
use sim_core::sim::routing::{FlowPath, Nexthop, Route, RoutingTable};

/// Prefixes that nest and overlap, so ties and longer matches both happen.
const PREFIXES: [&str; 6] = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.0/24",
    "10.1.2.128/25",
];

fn route(prefix: usize, metric: u32, dev: usize) -> Route {
    let gw = Ipv4Addr::new(192, 168, 0, dev as u8 + 1);
    Route::single(
        PREFIXES[prefix].parse().unwrap(),
        Some(gw),
        dev,
        metric,
        TABLE_MAIN,
        "static",
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the insertion order, the lookup returns the first inserted of
    /// the routes with the longest matching prefix and, among those, the
    /// lowest metric; separate equal routes never share traffic on Linux,
    /// whatever the flow.
    #[test]
    fn lookup_is_the_first_inserted_best_route(
        specs in prop::collection::vec((0..PREFIXES.len(), 0u32..3), 1..12),
        host in any::<u32>(),
        hash in prop_oneof![Just(MultipathHash::L3), Just(MultipathHash::L4)],
        ports in prop::collection::vec(any::<u16>(), 1..8),
    ) {
        let mut t = RoutingTable::new();
        t.set_ecmp(EcmpPolicy { maximum_paths: 1, hash }, 99);
        // Each route gets its own interface, so the answer names the route.
        let routes: Vec<Route> = specs
            .iter()
            .enumerate()
            .map(|(i, &(p, m))| route(p, m, i))
            .collect();
        for r in &routes {
            t.add_route(r.clone());
        }
        let dst = Ipv4Addr::from(0x0a01_0200 | (host & 0xff));
        let dst = if host & 0x100 != 0 { Ipv4Addr::from(host) } else { dst };
        // The oracle: insertion index of the best route.
        let matching: Vec<(usize, &Route)> =
            routes.iter().enumerate().filter(|(_, r)| r.dst.contains(&dst)).collect();
        let expected = matching
            .iter()
            .max_by_key(|(i, r)| (r.dst.prefix_len(), std::cmp::Reverse(r.metric), std::cmp::Reverse(*i)))
            .map(|(i, _)| *i);
        for sport in ports {
            let path = FlowPath { src: Ipv4Addr::new(10, 200, 0, 10), dst, proto: 6, sport, dport: 80 };
            let got = t.lookup_flow(dst, None, 0, &path).map(|h| h.dev);
            prop_assert_eq!(got, expected);
        }
    }

    /// A multipath route hashes each flow to one next hop, the same every
    /// time and in every identically built table, and over many flows every
    /// next hop carries about its weight's share.
    #[test]
    fn multipath_spreads_flows_deterministically(
        weights in prop::collection::vec(1u16..5, 2..5),
        seed in any::<u64>(),
    ) {
        let build = || {
            let mut t = RoutingTable::new();
            t.set_ecmp(EcmpPolicy { maximum_paths: 1, hash: MultipathHash::L4 }, seed);
            t.add_route(Route {
                dst: "10.169.1.40/32".parse::<Ipv4Net>().unwrap(),
                nexthops: weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| Nexthop {
                        via: Some(Ipv4Addr::new(10, 160, 1, 26 + i as u8)),
                        dev: 0,
                        weight: *w,
                    })
                    .collect(),
                metric: 0,
                table: TABLE_MAIN,
                origin: "static",
            });
            t
        };
        let (a, b) = (build(), build());
        let dst = Ipv4Addr::new(10, 169, 1, 40);
        let flows = 4000u32;
        let mut count: BTreeMap<Ipv4Addr, u32> = BTreeMap::new();
        for i in 0..flows {
            let path = FlowPath {
                src: Ipv4Addr::from(0x0ac8_0000 | (i >> 8)),
                dst,
                proto: 6,
                sport: 32768 + (i as u16 & 0xff),
                dport: 80,
            };
            let x = a.lookup_flow(dst, None, 0, &path).unwrap().neighbor;
            prop_assert_eq!(Some(x), a.lookup_flow(dst, None, 0, &path).map(|h| h.neighbor));
            prop_assert_eq!(Some(x), b.lookup_flow(dst, None, 0, &path).map(|h| h.neighbor));
            *count.entry(x).or_default() += 1;
        }
        let total: u32 = weights.iter().map(|w| u32::from(*w)).sum();
        for (i, w) in weights.iter().enumerate() {
            let gw = Ipv4Addr::new(10, 160, 1, 26 + i as u8);
            let expected = f64::from(flows) * f64::from(*w) / f64::from(total);
            let got = f64::from(count.get(&gw).copied().unwrap_or(0));
            prop_assert!(
                got > expected * 0.6 && got < expected * 1.4,
                "next hop {} (weight {}) got {} flows, expected about {:.0}", gw, w, got, expected
            );
        }
    }
}
