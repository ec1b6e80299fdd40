//! `ip route add` / `ip route del` on a running device, with the kernel's
//! answers (`net/ipv4/fib_trie.c`, `fib_table_insert` and `fib_table_delete`).
//!
//! - Linux refuses a second route with an existing prefix, metric and table
//!   (`ip route add` sets `NLM_F_EXCL`: `RTNETLINK answers: File exists`).
//!   ECMP is one multipath route instead.
//! - A router OS (a switch's L3 part) accepts several static routes to one
//!   prefix with one distance; it forwards over them together only with
//!   `maximumPaths` > 1, else over the first.
//! - `ip route del` removes the first route to the prefix that matches the
//!   metric and gateways given (a metric of 0 matches any), else
//!   `RTNETLINK answers: No such process`.

use super::routing::Route;
use super::stack::IpStack;

pub fn apply(stack: &mut IpStack, linux: bool, route: Route, add: bool) -> Result<(), String> {
    let table = &mut stack.routes;
    if add {
        if linux && table.has_route_key(route.dst, route.metric, route.table) {
            return Err(format!(
                "RTNETLINK answers: File exists (a route to {} with metric {} is there already; \
                 Linux uses the first and does no ECMP over separate routes: write one route \
                 `{} nexthop via A nexthop via B`)",
                route.dst, route.metric, route.dst
            ));
        }
        table.add_route(route);
        return Ok(());
    }
    let gateways: Vec<_> = route.nexthops.iter().map(|n| n.via).collect();
    let removed = table.remove_first(route.dst, route.table, |r| {
        (route.metric == 0 || r.metric == route.metric)
            && r.nexthops.iter().map(|n| n.via).collect::<Vec<_>>() == gateways
    });
    if removed {
        Ok(())
    } else {
        Err("RTNETLINK answers: No such process (no such route)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TABLE_MAIN;
    use crate::sim::arp::ArpCache;
    use crate::sim::stack::L3Iface;

    fn stack() -> IpStack {
        let iface = L3Iface {
            name: "eth0".into(),
            mac: crate::model::MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec!["10.160.1.1/24".parse().unwrap()],
            up: true,
            has_link: true,
            mtu: crate::sim::stack::ETHERNET_MTU,
        };
        let arp = ArpCache::new(crate::model::ArpPolicy::Linux, crate::rng::stream(1, "t"));
        IpStack::new(vec![iface], arp, true, true)
    }

    fn via(gw: &str, metric: u32) -> Route {
        Route::single(
            "10.169.1.40/32".parse().unwrap(),
            Some(gw.parse().unwrap()),
            0,
            metric,
            TABLE_MAIN,
            "static",
        )
    }

    #[test]
    fn linux_refuses_a_second_equal_route_a_router_keeps_both() {
        let mut s = stack();
        apply(&mut s, true, via("10.160.1.26", 0), true).unwrap();
        let e = apply(&mut s, true, via("10.160.1.27", 0), true).unwrap_err();
        assert!(e.contains("File exists"), "{e}");
        // Another metric is another route.
        apply(&mut s, true, via("10.160.1.27", 10), true).unwrap();
        let mut r = stack();
        apply(&mut r, false, via("10.160.1.26", 0), true).unwrap();
        apply(&mut r, false, via("10.160.1.27", 0), true).unwrap();
        assert_eq!(r.routes.routes().len(), 3, "connected + two static");
    }

    #[test]
    fn del_removes_the_matching_route_only() {
        let mut r = stack();
        apply(&mut r, false, via("10.160.1.26", 0), true).unwrap();
        apply(&mut r, false, via("10.160.1.27", 0), true).unwrap();
        apply(&mut r, false, via("10.160.1.27", 0), false).unwrap();
        let left: Vec<_> = r.routes.routes().iter().filter_map(|r| r.via()).collect();
        assert_eq!(left, ["10.160.1.26".parse::<std::net::Ipv4Addr>().unwrap()]);
        let e = apply(&mut r, false, via("10.160.1.27", 0), false).unwrap_err();
        assert!(e.contains("No such process"), "{e}");
    }
}
