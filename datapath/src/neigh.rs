//! Ageing for OVS's tunnel neighbours, as the kernel ages its own.
//!
//! With Antrea's kernel datapath the outer packet of a tunnel goes through
//! the kernel's neighbour table, whose entries leave REACHABLE after about
//! `base_reachable_time` (30 s), are probed after `delay_first_probe_time`
//! (5 s) and re-resolved when the probes (3 × 1 s) go unanswered
//! (Documentation/networking/ip-sysctl.rst, `neigh/default`). OVS's
//! userspace tunnels keep a cache of their own instead
//! (lib/tnl-neigh-cache.c), and every lookup extends an entry, so an entry
//! in use never ages: after an Egress IP moves without a gratuitous ARP, a
//! Pod's node would tunnel to the old holder's MAC for as long as the Pod
//! sends (seen: 80 s and counting in `egress-no-garp`, where the simulator's
//! Linux neighbour recovers after about 45 s).
//!
//! So each node with its own OVS gets a keeper: every second it reads the
//! cache (`tnl/neigh/show`), and an entry whose MAC has not been confirmed
//! for the kernel's reachable time plus its delay and probes (38 s) is asked
//! again with one ARP request from the node's own stack on that bridge
//! (`arping`); OVS snoops the reply into its cache, so a moved address gets
//! its new MAC, and a confirmed one starts its time again.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a neighbour is trusted without being asked again: the kernel's
/// reachable time (30 s), first-probe delay (5 s) and three probes of 1 s.
pub const REASK_AFTER: Duration = Duration::from_secs(38);

/// One line of `ovs-appctl tnl/neigh/show`: (IP, MAC, bridge).
pub fn parse_show(text: &str) -> Vec<(Ipv4Addr, String, String)> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let ip = w.first()?.parse().ok()?;
            Some((ip, w.get(1)?.to_string(), w.get(2)?.to_string()))
        })
        .collect()
}

/// What the keeper remembers of each entry: its MAC and when it was last
/// seen to change or asked about.
#[derive(Default)]
pub struct Ages {
    seen: BTreeMap<(String, Ipv4Addr), (String, Instant)>,
}

impl Ages {
    /// Takes in one reading of the cache at `now`; returns the entries to
    /// ask about again (bridge, IP), and starts their time again.
    pub fn update(
        &mut self,
        entries: &[(Ipv4Addr, String, String)],
        now: Instant,
    ) -> Vec<(String, Ipv4Addr)> {
        let mut due = Vec::new();
        for (ip, mac, bridge) in entries {
            let key = (bridge.clone(), *ip);
            match self.seen.get_mut(&key) {
                Some((m, since)) if m == mac => {
                    if now.duration_since(*since) >= REASK_AFTER {
                        *since = now;
                        due.push(key);
                    }
                }
                _ => {
                    self.seen.insert(key, (mac.clone(), now));
                }
            }
        }
        due
    }
}

/// A running keeper; stops when dropped.
pub struct Keeper {
    stop: Arc<AtomicBool>,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the keeper of the node whose namespace is `ns` and whose
/// `ovs-vswitchd` answers on `ctl`.
pub fn start(ns: String, ctl: String) -> std::io::Result<Keeper> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name(format!("neigh-{ns}"))
        .spawn(move || {
            let mut ages = Ages::default();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let Ok(text) = crate::sys::run("ovs-appctl", &["-t", &ctl, "tnl/neigh/show"])
                else {
                    continue;
                };
                for (bridge, ip) in ages.update(&parse_show(&text), crate::clock::now()) {
                    // Fire and forget, as the kernel's probe is.
                    crate::sys::spawn_in_ns(
                        &ns,
                        "arping",
                        &["-c", "1", "-w", "1", "-I", &bridge, &ip.to_string()],
                    );
                }
            }
        })?;
    Ok(Keeper { stop })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_listing_parses_past_its_header() {
        let text = "IP                                            MAC                 Bridge\n==========================================================================\n10.160.1.41                                   bc:24:11:4a:10:27   eth0\n172.18.181.1                                  02:70:49:51:ae:0a   antrea-ext.181\n";
        let e = parse_show(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, "10.160.1.41".parse::<Ipv4Addr>().unwrap());
        assert_eq!(e[0].1, "bc:24:11:4a:10:27");
        assert_eq!(e[1].2, "antrea-ext.181");
    }

    #[test]
    fn an_unchanged_entry_is_asked_again_after_the_kernel_s_reachable_time() {
        let t0 = crate::clock::now();
        let e = vec![(
            "10.160.1.41".parse().unwrap(),
            "aa".to_string(),
            "eth0".to_string(),
        )];
        let mut a = Ages::default();
        assert!(a.update(&e, t0).is_empty());
        assert!(a.update(&e, t0 + Duration::from_secs(37)).is_empty());
        let due = a.update(&e, t0 + REASK_AFTER);
        assert_eq!(due, vec![("eth0".to_string(), e[0].0)]);
        // Asked: its time starts again.
        assert!(
            a.update(&e, t0 + REASK_AFTER + Duration::from_secs(1))
                .is_empty()
        );
        // A new MAC (the reply named another holder) starts it again too.
        let moved = vec![(e[0].0, "bb".to_string(), "eth0".to_string())];
        assert!(a.update(&moved, t0 + 2 * REASK_AFTER).is_empty());
        assert!(
            a.update(&moved, t0 + 2 * REASK_AFTER + Duration::from_secs(37))
                .is_empty()
        );
    }
}
