//! Static routes of a lab device (a host, or an L3 switch's SVI namespace)
//! as the kernel gets them: the topology's routes and the scenario's
//! `route:` steps, translated from the simulator's route model into
//! `ip route` commands instead of being passed through as text.
//!
//! Linux keeps one usable route per (destination, metric, table): a second
//! `ip route add` of the same key fails with `File exists`, and the first
//! inserted route is the one used. A router configured for ECMP
//! (`maximum-paths N`) spreads flows over up to N such routes; in Linux
//! that is one multipath route, `ip route replace DST nexthop via A
//! nexthop via B`, hashed as `net.ipv4.fib_multipath_hash_policy` says.
//! So this keeps every route in insertion order and installs, per key,
//! either the first one or the multipath route of the first N.
//!
//! Routers' routes are the scenario's (antlab's), never the engine's:
//! Antrea's routes on nodes go through `apply`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::model::{EcmpPolicy, MultipathHash, RouteSpec, TABLE_MAIN};

/// How a device shares flows among routes that tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multipath {
    /// Separate routes of one key used together, at most this many; 1 is
    /// plain Linux (the first route wins).
    pub max_paths: usize,
    /// `fib_multipath_hash_policy` 1 (the 5-tuple) rather than 0 (the
    /// addresses only).
    pub l4_hash: bool,
}

impl Multipath {
    /// The device's policy in the topology (scenario options applied):
    /// `maximumPaths` separate equal routes become one multipath route, and
    /// the hash is Linux's `fib_multipath_hash_policy` 0 (`l3`) or 1 (`l4`),
    /// as the simulator's `sim::routing` hashes.
    pub fn of(policy: EcmpPolicy) -> Multipath {
        Multipath {
            max_paths: usize::from(policy.maximum_paths.max(1)),
            l4_hash: policy.hash == MultipathHash::L4,
        }
    }

    /// The sysctl value for `net.ipv4.fib_multipath_hash_policy`.
    pub fn hash_policy(self) -> &'static str {
        if self.l4_hash { "1" } else { "0" }
    }
}

/// One next hop of a kernel route.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hop {
    via: Option<Ipv4Addr>,
    dev: Option<String>,
    /// iproute2's `weight` (1 is its default and is not written).
    weight: u16,
}

/// A route as the kernel holds it: one or several next hops.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KernelRoute {
    dst: Ipv4Net,
    metric: u32,
    table: u32,
    hops: Vec<Hop>,
}

impl KernelRoute {
    /// `ip route replace` arguments after the verb.
    fn args(&self) -> String {
        let mut s = self.key_args();
        match self.hops.as_slice() {
            // A weight means nothing on a lone next hop (and `ip` takes it
            // only inside `nexthop`).
            [one] => push_hop(
                &mut s,
                &Hop {
                    weight: 1,
                    ..one.clone()
                },
                "",
            ),
            many => {
                for h in many {
                    push_hop(&mut s, h, " nexthop");
                }
            }
        }
        s
    }

    /// What names the route for `ip route del`.
    fn key_args(&self) -> String {
        let mut s = self.dst.to_string();
        if self.metric != 0 {
            let _ = write!(s, " metric {}", self.metric);
        }
        if self.table != TABLE_MAIN {
            let _ = write!(s, " table {}", self.table);
        }
        s
    }
}

fn push_hop(s: &mut String, h: &Hop, prefix: &str) {
    s.push_str(prefix);
    if let Some(v) = h.via {
        let _ = write!(s, " via {v}");
    }
    if let Some(d) = &h.dev {
        let _ = write!(s, " dev {d}");
    }
    if h.weight != 1 {
        let _ = write!(s, " weight {}", h.weight);
    }
}

type Key = (Ipv4Net, u32, u32);

fn key(r: &RouteSpec) -> Key {
    (r.dst, r.metric, r.table)
}

/// A device's static routes, in the order they were added.
#[derive(Clone, Debug)]
pub struct StaticRoutes {
    policy: Multipath,
    routes: Vec<RouteSpec>,
    /// Next hops BFD declared down: routes through them are withdrawn.
    down: BTreeSet<Ipv4Addr>,
}

impl StaticRoutes {
    pub fn new(policy: Multipath) -> StaticRoutes {
        StaticRoutes {
            policy,
            routes: Vec::new(),
            down: BTreeSet::new(),
        }
    }

    /// What the kernel should hold, per key: a multipath route as written
    /// (less the next hops BFD declared down), else the first route of the
    /// key, joined by the next ones up to `maximumPaths`.
    fn installed(&self) -> BTreeMap<Key, KernelRoute> {
        let mut out: BTreeMap<Key, KernelRoute> = BTreeMap::new();
        for r in &self.routes {
            let hops: Vec<Hop> = if r.nexthops.is_empty() {
                if r.via.is_some_and(|v| self.down.contains(&v)) {
                    continue;
                }
                vec![Hop {
                    via: r.via,
                    dev: r.dev.clone(),
                    weight: 1,
                }]
            } else {
                let up: Vec<Hop> = r
                    .nexthops
                    .iter()
                    .filter(|h| !self.down.contains(&h.via))
                    .map(|h| Hop {
                        via: Some(h.via),
                        dev: h.dev.clone(),
                        weight: h.weight,
                    })
                    .collect();
                if up.is_empty() {
                    continue;
                }
                if out.contains_key(&key(r)) {
                    // A later route of the key never joins a multipath one.
                    continue;
                }
                out.insert(
                    key(r),
                    KernelRoute {
                        dst: r.dst,
                        metric: r.metric,
                        table: r.table,
                        hops: up,
                    },
                );
                continue;
            };
            match out.get_mut(&key(r)) {
                Some(k) if k.hops.len() < self.policy.max_paths && !k.hops.contains(&hops[0]) => {
                    k.hops.extend(hops)
                }
                Some(_) => {}
                None => {
                    out.insert(
                        key(r),
                        KernelRoute {
                            dst: r.dst,
                            metric: r.metric,
                            table: r.table,
                            hops,
                        },
                    );
                }
            }
        }
        out
    }

    /// Applies a change and returns the `ip` batch lines that make the
    /// kernel match (only for the key that changed).
    fn change(&mut self, f: impl FnOnce(&mut StaticRoutes)) -> Vec<String> {
        let before = self.installed();
        f(self);
        let after = self.installed();
        let mut cmds = Vec::new();
        for (k, old) in &before {
            if !after.contains_key(k) {
                cmds.push(format!("route del {}", old.key_args()));
            }
        }
        for (k, new) in &after {
            if before.get(k) != Some(new) {
                cmds.push(format!("route replace {}", new.args()));
            }
        }
        cmds
    }

    /// `route: {add: ...}` or a topology route.
    pub fn add(&mut self, r: &RouteSpec) -> Vec<String> {
        self.change(|t| {
            if !t.routes.contains(r) {
                t.routes.push(r.clone());
            }
        })
    }

    /// `route: {del: ...}`: the route with the same destination, metric,
    /// table and (when given) gateway and device, as `ip route del` matches.
    pub fn del(&mut self, r: &RouteSpec) -> Vec<String> {
        self.change(|t| {
            let v = &mut t.routes;
            if let Some(i) = v.iter().position(|x| {
                key(x) == key(r)
                    && (r.via.is_none() || x.via == r.via)
                    && (r.dev.is_none() || x.dev == r.dev)
            }) {
                v.remove(i);
            }
        })
    }

    /// BFD's verdict on next hop `via`: routes through a down next hop are
    /// withdrawn (the next best takes over), and come back when it is up.
    pub fn set_next_hop_up(&mut self, via: Ipv4Addr, up: bool) -> Vec<String> {
        self.change(|t| {
            if up {
                t.down.remove(&via);
            } else {
                t.down.insert(via);
            }
        })
    }

    /// Every gateway the routes name, once each.
    pub fn next_hops(&self) -> Vec<Ipv4Addr> {
        let set: BTreeSet<Ipv4Addr> = self
            .routes
            .iter()
            .flat_map(|r| r.via.into_iter().chain(r.nexthops.iter().map(|h| h.via)))
            .collect();
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, via: &str, metric: u32) -> RouteSpec {
        RouteSpec {
            dst: dst.parse().unwrap(),
            via: Some(via.parse().unwrap()),
            dev: None,
            metric,
            table: TABLE_MAIN,
            nexthops: Vec::new(),
        }
    }

    const PLAIN: Multipath = Multipath {
        max_paths: 1,
        l4_hash: false,
    };

    #[test]
    fn distance_is_a_metric_and_each_metric_is_its_own_route() {
        // The blog's backup route: `... via .26 distance 1` and `... via .27
        // distance 10` (the scenario loader reads distance as the metric).
        let mut t = StaticRoutes::new(PLAIN);
        assert_eq!(
            t.add(&route("10.169.1.40/32", "10.160.1.26", 1)),
            vec!["route replace 10.169.1.40/32 metric 1 via 10.160.1.26"]
        );
        assert_eq!(
            t.add(&route("10.169.1.40/32", "10.160.1.27", 10)),
            vec!["route replace 10.169.1.40/32 metric 10 via 10.160.1.27"]
        );
        assert_eq!(
            t.del(&route("10.169.1.40/32", "10.160.1.26", 1)),
            vec!["route del 10.169.1.40/32 metric 1"]
        );
    }

    #[test]
    fn without_ecmp_the_first_of_equal_routes_wins_and_the_next_takes_over() {
        let mut t = StaticRoutes::new(PLAIN);
        t.add(&route("10.169.1.40/32", "10.160.1.26", 0));
        assert_eq!(
            t.add(&route("10.169.1.40/32", "10.160.1.27", 0)),
            Vec::<String>::new()
        );
        assert_eq!(
            t.del(&route("10.169.1.40/32", "10.160.1.26", 0)),
            vec!["route replace 10.169.1.40/32 via 10.160.1.27"]
        );
    }

    #[test]
    fn with_ecmp_equal_routes_become_one_multipath_route() {
        let mut t = StaticRoutes::new(Multipath {
            max_paths: 2,
            l4_hash: true,
        });
        t.add(&route("10.169.1.40/32", "10.160.1.26", 0));
        assert_eq!(
            t.add(&route("10.169.1.40/32", "10.160.1.27", 0)),
            vec!["route replace 10.169.1.40/32 nexthop via 10.160.1.26 nexthop via 10.160.1.27"]
        );
        // A third path is beyond maximum-paths 2.
        assert_eq!(
            t.add(&route("10.169.1.40/32", "10.160.1.28", 0)),
            Vec::<String>::new()
        );
        assert_eq!(
            t.del(&route("10.169.1.40/32", "10.160.1.26", 0)),
            vec!["route replace 10.169.1.40/32 nexthop via 10.160.1.27 nexthop via 10.160.1.28"]
        );
    }

    #[test]
    fn a_multipath_route_is_installed_as_written_less_its_down_next_hops() {
        let mut t = StaticRoutes::new(PLAIN);
        let r = RouteSpec::parse(
            "10.169.1.40/32 nexthop via 10.160.1.26 nexthop via 10.160.1.27 weight 2",
        )
        .unwrap();
        assert_eq!(
            t.add(&r),
            vec![
                "route replace 10.169.1.40/32 nexthop via 10.160.1.26 nexthop via 10.160.1.27 weight 2"
            ]
        );
        assert_eq!(t.next_hops().len(), 2);
        let down: std::net::Ipv4Addr = "10.160.1.26".parse().unwrap();
        assert_eq!(
            t.set_next_hop_up(down, false),
            vec!["route replace 10.169.1.40/32 via 10.160.1.27"]
        );
    }

    #[test]
    fn a_next_hop_bfd_declares_down_is_withdrawn_until_it_is_up() {
        let mut t = StaticRoutes::new(PLAIN);
        t.add(&route("10.169.1.40/32", "10.160.1.26", 1));
        t.add(&route("10.169.1.40/32", "10.160.1.27", 10));
        let down: std::net::Ipv4Addr = "10.160.1.26".parse().unwrap();
        assert_eq!(t.next_hops().len(), 2);
        assert_eq!(
            t.set_next_hop_up(down, false),
            vec!["route del 10.169.1.40/32 metric 1"]
        );
        assert_eq!(t.set_next_hop_up(down, false), Vec::<String>::new());
        assert_eq!(
            t.set_next_hop_up(down, true),
            vec!["route replace 10.169.1.40/32 metric 1 via 10.160.1.26"]
        );
    }

    #[test]
    fn every_command_is_safe_for_ip_batch() {
        let mut t = StaticRoutes::new(Multipath::of(EcmpPolicy::default()));
        let mut r = route("0.0.0.0/0", "10.0.0.1", 5);
        r.dev = Some("eth0".into());
        r.table = 101;
        for c in t.add(&r) {
            assert_eq!(crate::script::ip_batch_line_problem(&c), None);
            assert_eq!(
                c,
                "route replace 0.0.0.0/0 metric 5 table 101 via 10.0.0.1 dev eth0"
            );
        }
    }
}
