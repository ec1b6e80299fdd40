//! Routes as written (`ip route` style) and the per-device policy for routes
//! that tie.
//!
//! Linux semantics, which every host here follows: a lookup takes the longest
//! prefix, then the lowest metric, then the route inserted first; two separate
//! routes with one prefix and metric are *not* ECMP (the kernel uses the first,
//! and `ip route add` of the second fails with `File exists`). ECMP on Linux is
//! one route with several next hops:
//!
//! ```text
//! ip route add 10.169.1.40/32 nexthop via 10.160.1.26 nexthop via 10.160.1.27
//! ```
//!
//! which [`RouteSpec::parse`] reads as written. Router operating systems (the
//! blog's core switch) spread traffic over separate equal static routes only
//! when configured to (`maximum-paths N`): [`EcmpPolicy::maximum_paths`].

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

pub const TABLE_MAIN: u32 = 254;
pub const TABLE_LOCAL: u32 = 255;

/// A route. `table` 254 is `main`, as in Linux.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: Ipv4Net,
    /// The gateway of a single-path route (`None` for a multipath route).
    pub via: Option<Ipv4Addr>,
    /// Output interface; when absent it is the interface whose subnet holds `via`.
    pub dev: Option<String>,
    pub metric: u32,
    pub table: u32,
    /// A multipath route's next hops (`nexthop via A nexthop via B`), at least
    /// two; empty for a single-path route.
    pub nexthops: Vec<NexthopSpec>,
}

/// One next hop of a multipath route: `nexthop via GW [dev IFACE] [weight W]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NexthopSpec {
    pub via: Ipv4Addr,
    pub dev: Option<String>,
    /// iproute2's `weight`, 1..=256 (default 1): the share of flows it gets.
    pub weight: u16,
}

/// How a device shares traffic among routes that tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcmpPolicy {
    /// Separate routes with the same prefix and metric used together, up to
    /// this many (a router's `maximum-paths`). 1, the default, is Linux: the
    /// first inserted route wins. Multipath routes are spread regardless.
    pub maximum_paths: u8,
    /// What the per-flow hash covers.
    pub hash: MultipathHash,
}

impl Default for EcmpPolicy {
    fn default() -> Self {
        EcmpPolicy {
            maximum_paths: 1,
            hash: MultipathHash::L3,
        }
    }
}

/// Linux `net.ipv4.fib_multipath_hash_policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MultipathHash {
    /// Policy 0, the default: source and destination addresses only, so
    /// every connection between two hosts takes the same path.
    #[default]
    L3,
    /// Policy 1: the 5-tuple (ports for TCP and UDP), connections spread.
    L4,
}

impl MultipathHash {
    /// `l3` or `l4`.
    pub fn parse(text: &str) -> Result<MultipathHash, String> {
        match text {
            "l3" => Ok(MultipathHash::L3),
            "l4" => Ok(MultipathHash::L4),
            other => Err(format!(
                "`{other}` is not a multipath hash (expected l3 or l4: Linux fib_multipath_hash_policy 0 or 1)"
            )),
        }
    }
}

/// `N`, 1..=64.
pub fn parse_maximum_paths(n: u64) -> Result<u8, String> {
    match u8::try_from(n) {
        Ok(m @ 1..=64) => Ok(m),
        _ => Err(format!("maximumPaths must be 1..=64, not {n}")),
    }
}

fn destination(text: &str) -> Result<Ipv4Net, String> {
    if text == "default" {
        return Ok(Ipv4Net::default());
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(Ipv4Net::from(ip));
    }
    text.parse()
        .map_err(|_| format!("`{text}` is not a destination (a CIDR, an address or `default`)"))
}

fn address(text: &str) -> Result<Ipv4Addr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IPv4 address"))
}

impl RouteSpec {
    /// A single-path route in table `main`.
    pub fn new(dst: Ipv4Net, via: Option<Ipv4Addr>, dev: Option<&str>) -> RouteSpec {
        RouteSpec {
            dst,
            via,
            dev: dev.map(str::to_string),
            metric: 0,
            table: TABLE_MAIN,
            nexthops: Vec::new(),
        }
    }

    /// Parses `ip route` arguments: `DST [via GW] [dev IFACE] [metric N]` or
    /// `DST [metric N] nexthop via GW [dev IFACE] [weight W] nexthop ...`.
    /// `distance` is accepted for `metric` (a router's word for it).
    pub fn parse(text: &str) -> Result<RouteSpec, String> {
        let mut w = text.split_whitespace();
        let dst = destination(w.next().ok_or("a route needs a destination")?)?;
        let mut route = RouteSpec::new(dst, None, None);
        while let Some(k) = w.next() {
            if k == "nexthop" {
                route.nexthops.push(NexthopSpec {
                    via: Ipv4Addr::UNSPECIFIED,
                    dev: None,
                    weight: 1,
                });
                continue;
            }
            let v = w.next().ok_or_else(|| format!("`{k}` needs a value"))?;
            match (route.nexthops.last_mut(), k) {
                (None, "via") => route.via = Some(address(v)?),
                (None, "dev") => route.dev = Some(v.to_string()),
                (None, "metric" | "distance") => {
                    route.metric = v.parse().map_err(|_| format!("`{v}` is not a number"))?
                }
                (Some(nh), "via") => nh.via = address(v)?,
                (Some(nh), "dev") => nh.dev = Some(v.to_string()),
                (Some(nh), "weight") => {
                    nh.weight = match v.parse::<u16>() {
                        Ok(n @ 1..=256) => n,
                        _ => return Err(format!("weight `{v}` is not 1..256")),
                    }
                }
                (None, other) => {
                    return Err(format!(
                        "unknown route keyword `{other}` (expected via, dev, metric or nexthop)"
                    ));
                }
                (Some(_), other) => {
                    return Err(format!(
                        "unknown nexthop keyword `{other}` (expected via, dev or weight)"
                    ));
                }
            }
        }
        if route.nexthops.is_empty() {
            if route.via.is_none() && route.dev.is_none() {
                return Err("a route needs `via`, `dev` or `nexthop`".into());
            }
            return Ok(route);
        }
        if route.via.is_some() || route.dev.is_some() {
            return Err(
                "a multipath route has its gateways in `nexthop via ...`, not before them".into(),
            );
        }
        if route.nexthops.iter().any(|n| n.via.is_unspecified()) {
            return Err("every `nexthop` needs `via GATEWAY`".into());
        }
        Ok(route.normalized())
    }

    /// A multipath route with one next hop is a plain route (the kernel keeps
    /// it as one).
    pub fn normalized(mut self) -> RouteSpec {
        if self.nexthops.len() == 1 {
            let nh = self.nexthops.remove(0);
            self.via = Some(nh.via);
            self.dev = nh.dev;
        }
        self
    }

    pub fn is_multipath(&self) -> bool {
        !self.nexthops.is_empty()
    }

    /// Every gateway the route names.
    pub fn gateways(&self) -> Vec<Ipv4Addr> {
        self.via
            .into_iter()
            .chain(self.nexthops.iter().map(|n| n.via))
            .collect()
    }

    /// The route as `ip route add` arguments (`default` for 0.0.0.0/0; metric,
    /// table and weights only when not the default). Feeding this back to
    /// [`RouteSpec::parse`] gives the same route.
    pub fn ip_route_args(&self) -> String {
        let mut s = if self.dst.prefix_len() == 0 {
            "default".to_string()
        } else {
            self.dst.to_string()
        };
        if let Some(v) = self.via {
            let _ = write!(s, " via {v}");
        }
        if let Some(d) = &self.dev {
            let _ = write!(s, " dev {d}");
        }
        if self.metric != 0 {
            let _ = write!(s, " metric {}", self.metric);
        }
        if self.table != TABLE_MAIN {
            let _ = write!(s, " table {}", self.table);
        }
        for nh in &self.nexthops {
            let _ = write!(s, " nexthop via {}", nh.via);
            if let Some(d) = &nh.dev {
                let _ = write!(s, " dev {d}");
            }
            if nh.weight != 1 {
                let _ = write!(s, " weight {}", nh.weight);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iproute2_multipath_syntax() {
        let r = RouteSpec::parse(
            "10.169.1.40/32 nexthop via 10.160.1.26 nexthop via 10.160.1.27 dev vlan216 weight 3",
        )
        .unwrap();
        assert!(r.is_multipath());
        assert_eq!(r.via, None);
        assert_eq!(
            r.nexthops,
            [
                NexthopSpec {
                    via: "10.160.1.26".parse().unwrap(),
                    dev: None,
                    weight: 1
                },
                NexthopSpec {
                    via: "10.160.1.27".parse().unwrap(),
                    dev: Some("vlan216".into()),
                    weight: 3
                }
            ]
        );
        assert_eq!(RouteSpec::parse(&r.ip_route_args()).unwrap(), r);
        assert_eq!(
            r.gateways(),
            [
                "10.160.1.26".parse::<Ipv4Addr>().unwrap(),
                "10.160.1.27".parse().unwrap()
            ]
        );
    }

    #[test]
    fn single_path_and_one_nexthop_are_the_same_route() {
        let a = RouteSpec::parse("10.169.1.40 via 10.160.1.26 distance 10").unwrap();
        let b = RouteSpec::parse("10.169.1.40/32 metric 10 nexthop via 10.160.1.26").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.ip_route_args(),
            "10.169.1.40/32 via 10.160.1.26 metric 10"
        );
        assert_eq!(
            RouteSpec::parse("default via 10.160.1.1")
                .unwrap()
                .ip_route_args(),
            "default via 10.160.1.1"
        );
    }

    #[test]
    fn bad_routes_say_why() {
        for (text, want) in [
            ("", "needs a destination"),
            ("10.0.0.0/8", "needs `via`, `dev` or `nexthop`"),
            (
                "10.0.0.0/8 via 1.2.3.4 nexthop via 1.2.3.5",
                "not before them",
            ),
            ("10.0.0.0/8 nexthop dev eth0", "needs `via GATEWAY`"),
            ("10.0.0.0/8 nexthop via 1.2.3.4 weight 0", "not 1..256"),
            (
                "10.0.0.0/8 nexthop via 1.2.3.4 metric 5",
                "unknown nexthop keyword `metric`",
            ),
            ("10.0.0.0/8 via", "`via` needs a value"),
            ("10.0.0.0/8 proto static", "unknown route keyword `proto`"),
            ("10.0.0.0/33 via 1.2.3.4", "is not a destination"),
        ] {
            let e = RouteSpec::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn policies() {
        assert_eq!(MultipathHash::parse("l4"), Ok(MultipathHash::L4));
        assert!(MultipathHash::parse("l5").is_err());
        assert_eq!(parse_maximum_paths(8), Ok(8));
        assert!(parse_maximum_paths(0).is_err());
        assert!(parse_maximum_paths(300).is_err());
        assert_eq!(EcmpPolicy::default().maximum_paths, 1);
    }
}
