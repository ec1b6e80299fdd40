//! Reading outcomes back from the kernel and OVS: who holds an address,
//! the gateway's ARP entry, a switch's MAC table, and what source (and
//! gateway VLAN) a ping's destination saw.
//!
//! What the destination of a ping saw comes from nftables sets that real
//! mode loads into every router, external host and SVI namespace: each echo
//! request adds or refreshes (`[input interface .] source . ICMP id`) with a
//! 30 s timeout, so an element's age is the time since the last request
//! that matched it. A question is asked about the requests since a probe's
//! last attempt was sent: only elements at most that old count (a 2 s
//! timeout used to let a count-limited probe's last request expire before
//! the check that asked about it).

use std::net::Ipv4Addr;

use sim_core::model::{DeviceKind, HostRole};

use crate::lab::{Lab, LabError};
use crate::sys;

/// How long a seen (source, id) stays in the observation sets.
pub const SEEN_TIMEOUT_S: u32 = 30;

/// Whether an element with `left_ms` until expiry was refreshed within
/// `within` (its age is the set's timeout minus what is left).
fn fresh(left_ms: u64, within: std::time::Duration) -> bool {
    let age = u64::from(SEEN_TIMEOUT_S) * 1000 - left_ms.min(u64::from(SEEN_TIMEOUT_S) * 1000);
    u128::from(age) <= within.as_millis()
}

fn host_observer() -> String {
    format!(
        "table inet antlab_obs {{}}\ndelete table inet antlab_obs\ntable inet antlab_obs {{\n  set seen_icmp {{\n    typeof ip saddr . icmp id\n    flags dynamic,timeout\n    timeout {SEEN_TIMEOUT_S}s\n  }}\n  chain obs_in {{\n    type filter hook input priority 0; policy accept;\n    icmp type echo-request update @seen_icmp {{ ip saddr . icmp id }}\n  }}\n}}\n"
    )
}

fn gateway_observer() -> String {
    format!(
        "table inet antlab_obs {{}}\ndelete table inet antlab_obs\ntable inet antlab_obs {{\n  set via_icmp {{\n    typeof iifname . ip saddr . icmp id\n    flags dynamic,timeout\n    timeout {SEEN_TIMEOUT_S}s\n  }}\n  set via_tcp {{\n    typeof iifname . ip saddr . ip daddr . tcp dport\n    flags dynamic,timeout\n    timeout {SEEN_TIMEOUT_S}s\n  }}\n  chain obs_fwd {{\n    type filter hook forward priority 0; policy accept;\n    icmp type echo-request update @via_icmp {{ iifname . ip saddr . icmp id }}\n    tcp flags syn update @via_tcp {{ iifname . ip saddr . ip daddr . tcp dport }}\n  }}\n}}\n"
    )
}

/// Loads the echo-request observation set into a Pod's namespace (a Pod
/// is a ping destination like a router or an external host).
pub fn install_in_pod(ns: &str) -> Result<(), LabError> {
    sys::run_with_input(
        "ip",
        &["netns", "exec", ns, "nft", "-f", "-"],
        Some(&host_observer()),
    )?;
    Ok(())
}

/// Loads the observation sets into routers, external hosts and SVIs.
pub fn install(lab: &Lab) -> Result<(), LabError> {
    for d in &lab.topology.devices {
        let text = match &d.kind {
            DeviceKind::Host(h) if matches!(h.role, HostRole::Router | HostRole::External) => {
                host_observer()
            }
            DeviceKind::Switch(s) if !s.svis.is_empty() => gateway_observer(),
            _ => continue,
        };
        let ns = &lab.netns[&d.name];
        sys::run_with_input("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(&text))?;
    }
    Ok(())
}

/// `1s640ms` → 1640.
fn parse_ms(s: &str) -> u64 {
    let mut total = 0u64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().unwrap_or(0);
        num.clear();
        match c {
            'd' => total += n * 86_400_000,
            'h' => total += n * 3_600_000,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                total += n;
            }
            'm' => total += n * 60_000,
            's' => total += n * 1000,
            _ => {}
        }
    }
    total
}

/// Elements of an nft set as (fields, ms left), from `nft list set` text.
pub fn parse_set_elements(text: &str) -> Vec<(Vec<String>, u64)> {
    let Some(start) = text.find("elements = {") else {
        return Vec::new();
    };
    let rest = &text[start + "elements = {".len()..];
    let body = &rest[..rest.find('}').unwrap_or(rest.len())];
    body.split(',')
        .filter_map(|e| {
            let e = e.trim();
            if e.is_empty() {
                return None;
            }
            let (key, tail) = match e.find(" timeout ").or_else(|| e.find(" expires ")) {
                Some(i) => (&e[..i], &e[i..]),
                None => (e, ""),
            };
            let fields = key
                .split(" . ")
                .map(|f| f.trim().trim_matches('"').to_string())
                .collect();
            let left = tail
                .split_whitespace()
                .skip_while(|w| *w != "expires")
                .nth(1)
                .map(parse_ms)
                .unwrap_or(0);
            Some((fields, left))
        })
        .collect()
}

fn set_elements(ns: &str, set: &str) -> Vec<(Vec<String>, u64)> {
    sys::in_ns(ns, "nft", &["list", "set", "inet", "antlab_obs", set])
        .map(|t| parse_set_elements(&t))
        .unwrap_or_default()
}

/// The source the ping destination whose namespace is `ns` saw most
/// recently for ICMP id `id`, among requests it saw within `within`.
pub fn ping_seen_source(ns: &str, id: u16, within: std::time::Duration) -> Option<Ipv4Addr> {
    set_elements(ns, "seen_icmp")
        .into_iter()
        .filter(|(f, left)| f.len() == 2 && f[1] == id.to_string() && fresh(*left, within))
        .max_by_key(|(_, left)| *left)
        .and_then(|(f, _)| f[0].parse().ok())
}

fn svi_vlan(lab: &Lab, switch: &str, iface: &str) -> Option<u16> {
    let id = lab.topology.device_id(switch)?;
    match &lab.topology.device(id).kind {
        DeviceKind::Switch(s) => s.svis.iter().find(|v| v.name == iface).map(|v| v.vlan),
        DeviceKind::Host(_) => None,
    }
}

fn gateways(lab: &Lab) -> Vec<String> {
    lab.topology
        .devices
        .iter()
        .filter(|d| matches!(&d.kind, DeviceKind::Switch(s) if !s.svis.is_empty()))
        .map(|d| d.name.clone())
        .collect()
}

/// The gateway VLAN on which the freshest request of a probe arrived: for a
/// ping by ICMP id, for TCP by (destination, port). `None` if no gateway
/// forwarded one within `within`.
pub fn request_gateway_vlan(
    lab: &Lab,
    ping_id: Option<u16>,
    tcp: Option<(Ipv4Addr, u16)>,
    within: std::time::Duration,
) -> Option<u16> {
    let mut best: Option<(u64, u16)> = None;
    for g in gateways(lab) {
        let ns = &lab.netns[&g];
        let found: Vec<(Vec<String>, u64)> = match (ping_id, tcp) {
            (Some(id), _) => set_elements(ns, "via_icmp")
                .into_iter()
                .filter(|(f, _)| f.len() == 3 && f[2] == id.to_string())
                .collect(),
            (None, Some((dst, port))) => set_elements(ns, "via_tcp")
                .into_iter()
                .filter(|(f, _)| {
                    f.len() == 4 && f[2] == dst.to_string() && f[3] == port.to_string()
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        for (f, left) in found.into_iter().filter(|(_, l)| fresh(*l, within)) {
            if let Some(v) = svi_vlan(lab, &g, &f[0])
                && best.is_none_or(|(l, _)| left > l)
            {
                best = Some((left, v));
            }
        }
    }
    best.map(|(_, v)| v)
}

/// Nodes whose namespace has `ip` configured (on any interface, `lo` too)
/// or answers ARP for it by proxy.
pub fn address_holders(lab: &Lab, ip: Ipv4Addr) -> Vec<String> {
    let needle = format!("inet {ip}/");
    let mut v = Vec::new();
    for d in &lab.topology.devices {
        if let DeviceKind::Host(h) = &d.kind
            && matches!(h.role, HostRole::Node(_))
            && !lab.powered_off.contains(&d.name)
            && (sys::run(
                "ip",
                &["-n", &lab.netns[&d.name], "-4", "-o", "addr", "show"],
            )
            .is_ok_and(|out| out.contains(&needle))
                || answers_by_proxy_arp(&lab.netns[&d.name], ip))
        {
            v.push(d.name.clone());
        }
    }
    v
}

/// Whether the namespace has a proxy ARP entry for `ip` (how a node answers
/// for a ServiceExternalIP it routes into br-int, `apply::Responder`).
fn answers_by_proxy_arp(ns: &str, ip: Ipv4Addr) -> bool {
    let first = format!("{ip} ");
    sys::run("ip", &["-n", ns, "-4", "neigh", "show", "proxy"])
        .is_ok_and(|out| out.lines().any(|l| l.starts_with(&first)))
}

/// `ip neigh` on a device (a host, or an L3 switch's SVI namespace):
/// (MAC or `(none)`, state).
pub fn arp_entry(lab: &Lab, device: &str, ip: Ipv4Addr) -> Option<(String, String)> {
    let ns = lab.netns.get(device)?;
    let out = sys::run("ip", &["-n", ns, "neigh", "show", &ip.to_string()]).ok()?;
    let line = out.lines().find(|l| l.starts_with(&format!("{ip} ")))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    let mac = w
        .iter()
        .position(|x| *x == "lladdr")
        .and_then(|i| w.get(i + 1))
        .map_or("(none)".to_string(), |m| m.to_string());
    let state = w.last().map_or(String::new(), |s| s.to_string());
    Some((mac, state))
}

/// The next hops `device`'s main table forwards exactly `to` through,
/// sorted: `ip -j route show exact PREFIX` and its lowest-metric routes'
/// gateways (one route's `gateway`, or a multipath route's `nexthops`).
pub fn route_next_hops(
    lab: &Lab,
    device: &str,
    to: ipnet::Ipv4Net,
) -> Result<Vec<Ipv4Addr>, String> {
    let ns = lab
        .netns
        .get(device)
        .ok_or_else(|| format!("no namespace for {device}"))?;
    let out = sys::run(
        "ip",
        &[
            "-j",
            "-n",
            ns,
            "route",
            "show",
            "table",
            "main",
            "exact",
            &to.to_string(),
        ],
    )
    .map_err(|e| e.to_string())?;
    let routes: Vec<serde_json::Value> =
        serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
            .map_err(|e| format!("ip -j route: {e}"))?;
    let metric = |r: &serde_json::Value| r["metric"].as_u64().unwrap_or(0);
    let Some(lowest) = routes.iter().map(metric).min() else {
        return Ok(Vec::new());
    };
    let mut hops: Vec<Ipv4Addr> = routes
        .iter()
        .filter(|r| metric(r) == lowest)
        .flat_map(|r| {
            let one = r["gateway"].as_str().map(str::to_string);
            let many = r["nexthops"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n["gateway"].as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            one.into_iter().chain(many)
        })
        .filter_map(|g| g.parse().ok())
        .collect();
    hops.sort();
    hops.dedup();
    Ok(hops)
}

/// The switch port (topology name) where `mac` was learned in `vlan`.
pub fn mac_port(lab: &Lab, switch: &str, vlan: u16, mac: &str) -> Option<String> {
    let br = lab.bridges.get(switch)?.clone();
    let ctl = lab.ovs.vswitchd_ctl()?;
    let out = sys::run("ovs-appctl", &["-t", &ctl, "fdb/show", &br]).ok()?;
    let ofport = out.lines().skip(1).find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 3 && w[1] == vlan.to_string() && w[2].eq_ignore_ascii_case(mac))
            .then(|| w[0].to_string())
    })?;
    let by_port = lab
        .switch_ports
        .iter()
        .map(|(p, (b, link))| (b.clone(), link.clone(), p.clone()));
    let by_leg = lab
        .leg_port
        .iter()
        .map(|(link, p)| (br.clone(), link.clone(), p.clone()));
    by_port.chain(by_leg).find_map(|(b, link, p)| {
        // Keys are `switch/port`; expectations name the port alone.
        let name = p
            .rsplit_once('/')
            .map_or(p.as_str(), |(_, n)| n)
            .to_string();
        (b == br && lab.ofports.get(&link)?.to_string() == ofport).then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_elements_parse_with_fresh_and_stale_entries() {
        let text = r#"table inet antlab_obs {
	set via_icmp {
		typeof iifname . ip saddr . icmp id
		size 65535
		flags dynamic,timeout
		timeout 2s
		elements = { "vlan181" . 172.18.181.40 . 16385 timeout 2s expires 1s640ms,
			     "vlan216" . 10.160.1.25 . 16386 timeout 2s expires 420ms }
	}
}"#;
        let e = parse_set_elements(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, vec!["vlan181", "172.18.181.40", "16385"]);
        assert_eq!(e[0].1, 1640);
        assert_eq!(e[1].1, 420);
        assert_eq!(parse_set_elements("set x {\n}"), Vec::new());
    }

    #[test]
    fn only_elements_refreshed_within_the_window_count() {
        let ms = std::time::Duration::from_millis;
        // 30 s timeout: 29.5 s left = refreshed 0.5 s ago.
        assert!(fresh(29_500, ms(600)));
        assert!(!fresh(29_500, ms(400)));
        assert!(fresh(30_000, ms(0)));
        assert!(!fresh(0, ms(29_000)));
    }

    #[test]
    fn durations_in_nft_form() {
        assert_eq!(parse_ms("2s"), 2000);
        assert_eq!(parse_ms("1m2s5ms"), 62_005);
        assert_eq!(parse_ms("999ms"), 999);
    }
}
