//! Routing tables and policy rules, Linux style.
//!
//! A lookup walks the rules by priority (`ip rule`: 0 `local`, 32766 `main`,
//! 32767 `default`, plus any added, e.g. Antrea's `fwmark 0x1/0xff lookup 101`),
//! and in each table picks the longest matching prefix, then the lowest metric.
//! The first table with a match wins, as in the kernel's FIB rules
//! (`net/core/fib_rules.c`). Ties keep insertion order, so results are stable.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{RuleSpec, TABLE_LOCAL, TABLE_MAIN};

/// One route in the running stack; `dev` is a resolved interface index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub dst: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    pub dev: usize,
    pub metric: u32,
    pub table: u32,
    /// Who installed it: "static" (topology), "kernel" (connected subnet),
    /// "engine" (the control-plane engine's desired state).
    pub origin: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct RoutingTable {
    routes: Vec<Route>,
    rules: Vec<RuleSpec>,
    /// Next hops BFD declared down.
    dead_next_hops: Vec<Ipv4Addr>,
}

/// The result of a lookup: where the packet goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    pub dev: usize,
    /// The address to resolve with ARP: the gateway, or the destination itself
    /// for a connected route.
    pub neighbor: Ipv4Addr,
    pub table: u32,
}

impl RoutingTable {
    pub fn new() -> Self {
        let main_rules = [(0, TABLE_LOCAL), (32766, TABLE_MAIN)];
        RoutingTable {
            routes: Vec::new(),
            dead_next_hops: Vec::new(),
            rules: main_rules
                .iter()
                .map(|&(priority, table)| RuleSpec {
                    priority,
                    fwmark: None,
                    from: None,
                    table,
                })
                .collect(),
        }
    }

    pub fn add_route(&mut self, r: Route) {
        if !self.routes.contains(&r) {
            self.routes.push(r);
        }
    }

    /// [`RoutingTable::add_route`] for many routes, in order, without a scan
    /// of the table per route (a node of a large cluster has a route per
    /// peer).
    pub fn add_routes<'a>(&mut self, routes: impl IntoIterator<Item = &'a Route>) {
        let mut have: std::collections::BTreeSet<Route> = self.routes.iter().cloned().collect();
        for r in routes {
            if have.insert(r.clone()) {
                self.routes.push(r.clone());
            }
        }
    }

    /// Removes every route installed by `origin` (used to re-apply desired state).
    pub fn remove_origin(&mut self, origin: &str) {
        self.routes.retain(|r| r.origin != origin);
    }

    pub fn remove_route(&mut self, dst: Ipv4Net, table: u32) {
        self.routes.retain(|r| !(r.dst == dst && r.table == table));
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

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// Looks `dst` up for a packet from `src` with firewall mark `mark`.
    pub fn lookup(&self, dst: Ipv4Addr, src: Option<Ipv4Addr>, mark: u32) -> Option<NextHop> {
        self.lookup_flow(dst, src, mark, 0)
    }

    /// Like `lookup`; `flow_hash` picks among equal-cost routes.
    pub fn lookup_flow(
        &self,
        dst: Ipv4Addr,
        src: Option<Ipv4Addr>,
        mark: u32,
        flow_hash: u64,
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
            if let Some(hop) = self.lookup_table(rule.table, dst, flow_hash) {
                return Some(hop);
            }
        }
        None
    }

    fn lookup_table(&self, table: u32, dst: Ipv4Addr, flow_hash: u64) -> Option<NextHop> {
        let candidates: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.table == table && r.dst.contains(&dst))
            .filter(|r| r.via.is_none_or(|v| !self.dead_next_hops.contains(&v)))
            .collect();
        let best_len = candidates.iter().map(|r| r.dst.prefix_len()).max()?;
        let best_metric = candidates
            .iter()
            .filter(|r| r.dst.prefix_len() == best_len)
            .map(|r| r.metric)
            .min()?;
        // Equal-cost routes: pick one per flow (ECMP, Linux hashes L3/L4).
        let equal: Vec<&&Route> = candidates
            .iter()
            .filter(|r| r.dst.prefix_len() == best_len && r.metric == best_metric)
            .collect();
        let r = equal[(flow_hash % equal.len() as u64) as usize];
        Some(NextHop {
            dev: r.dev,
            neighbor: r.via.unwrap_or(dst),
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

    /// Next hops of static routes (what a BFD session would watch).
    pub fn static_next_hops(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<Ipv4Addr> = self
            .routes
            .iter()
            .filter(|r| r.origin == "static")
            .filter_map(|r| r.via)
            .collect();
        v.sort();
        v.dedup();
        v
    }
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
        Route {
            dst: dst.parse().unwrap(),
            via: via.map(|v| v.parse().unwrap()),
            dev,
            metric,
            table,
            origin: "static",
        }
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
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
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
}
