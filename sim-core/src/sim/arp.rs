//! The neighbour (ARP) cache: Linux's state machine, or a router's fixed timeout.
//!
//! Linux (`net/core/neighbour.c`, `Documentation/networking/ip-sysctl.rst`), with
//! the kernel defaults:
//! - no entry: INCOMPLETE, broadcast a request every `retrans_time` (1 s), at most
//!   `mcast_probes` (3); then FAILED and the queued packets are dropped.
//! - a reply: REACHABLE for `reachable_time`, drawn uniformly from
//!   [base/2, 3·base/2] with `base_reachable_time` 30 s.
//! - after that: STALE (still used). The first use of a STALE entry moves it to
//!   DELAY; if nothing confirms it within `delay_first_probe_time` (5 s) it goes to
//!   PROBE: `ucast_probes` (3) unicast requests 1 s apart, then FAILED.
//! - an ARP request for one of our addresses creates/updates the sender's entry
//!   as STALE; any ARP (including gratuitous) updates an *existing* entry whose
//!   MAC changed (arp_accept=0: no new entry from unsolicited ARP).
//!
//! - a request's sender address (`arp_solicit`, `net/ipv4/arp.c`, with the
//!   default `arp_announce=0`): the source of the newest packet waiting for the
//!   answer, if that address is local, else the interface's address for the
//!   target. So a node that SNATs to an Egress IP and has to resolve its
//!   gateway asks "who has the gateway, tell <Egress IP>", and the gateway
//!   learns where that IP now lives. A STALE entry's unicast probes have no
//!   waiting packet and use the interface's address. [`ArpCache::waiting`]
//!   gives the stack that packet.
//!
//! Not modelled: upper-layer confirmation (TCP progress), `locktime`.
//!
//! Fixed (routers, L3 switches): an entry lives `timeout` after it was last
//! learned and is never probed; any ARP from the address refreshes it. Missing
//! entries are resolved like Linux's INCOMPLETE (3 requests, 1 s apart). This is
//! why the blog's switch keeps forwarding to a powered-off next hop.

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use crate::model::{ArpPolicy, MacAddr};
use crate::rng::{SimRng, below};
use crate::time::{SimDuration, SimTime};

pub const RETRANS_TIME: SimDuration = SimDuration::from_secs(1);
pub const MCAST_PROBES: u8 = 3;
pub const UCAST_PROBES: u8 = 3;
pub const BASE_REACHABLE_TIME: SimDuration = SimDuration::from_secs(30);
pub const DELAY_FIRST_PROBE_TIME: SimDuration = SimDuration::from_secs(5);
/// Linux's per-neighbour queue of packets awaiting resolution (`unres_qlen`).
pub const UNRES_QLEN: usize = 101;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    /// Set by the administrator (`nud permanent`): never probed, never
    /// changed by ARP, never expired.
    Permanent,
}

impl NeighState {
    pub fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Delay => "DELAY",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
            NeighState::Permanent => "PERMANENT",
        }
    }
}

#[derive(Clone, Debug)]
struct Entry<P> {
    mac: Option<MacAddr>,
    state: NeighState,
    /// When the state last changed.
    updated: SimTime,
    /// When reachability was last confirmed (or, for Fixed, learned).
    confirmed: SimTime,
    reachable_for: SimDuration,
    probes: u8,
    queue: Vec<P>,
    generation: u64,
}

/// What the cache asks its owner to do.
#[derive(Debug)]
pub enum ArpAction<P> {
    /// Send an ARP request for `target` out of `iface`, broadcast or unicast.
    Request {
        iface: usize,
        target: Ipv4Addr,
        unicast: Option<MacAddr>,
    },
    /// Call `on_timer(iface, ip, generation)` at `at`.
    Timer {
        at: SimTime,
        iface: usize,
        ip: Ipv4Addr,
        generation: u64,
    },
    /// Resolution succeeded: send these queued packets to `mac`.
    Release {
        iface: usize,
        ip: Ipv4Addr,
        mac: MacAddr,
        packets: Vec<P>,
    },
    /// Resolution failed: these packets are dropped.
    Fail {
        iface: usize,
        ip: Ipv4Addr,
        packets: Vec<P>,
    },
    /// A state change worth a line in the event log.
    Changed {
        iface: usize,
        ip: Ipv4Addr,
        mac: Option<MacAddr>,
        state: NeighState,
    },
}

/// What an arriving ARP packet tells the cache.
#[derive(Clone, Copy, Debug)]
pub struct ArpSeen {
    pub(super) spa: Ipv4Addr,
    pub(super) sha: MacAddr,
    /// An ARP reply addressed to one of our addresses.
    pub(super) reply_to_us: bool,
    /// A request whose target is one of our addresses.
    pub(super) request_for_us: bool,
}

pub enum Resolve<P> {
    Ready(MacAddr, P),
    Queued,
}

/// A row for `ip neigh`-style tables.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ArpRow {
    pub iface: usize,
    pub(crate) ip: Ipv4Addr,
    pub mac: Option<MacAddr>,
    pub state: NeighState,
    /// Seconds since the entry was last confirmed/learned.
    pub(crate) age: SimDuration,
}

pub struct ArpCache<P> {
    policy: ArpPolicy,
    /// Hashed, as a router's cache holds every node: every routed packet
    /// reads it. Insertion order, which no output shows ([`ArpCache::rows`]
    /// and [`ArpCache::permanent`] sort by interface, then address).
    entries: IndexMap<(usize, Ipv4Addr), Entry<P>, crate::keyhash::KeyBuild>,
    rng: SimRng,
    next_generation: u64,
}

impl<P> ArpCache<P> {
    /// The newest packet queued for `ip` on `iface` (`skb_peek_tail` of the
    /// neighbour's queue, which Linux hands to `arp_solicit`).
    pub fn waiting(&self, iface: usize, ip: Ipv4Addr) -> Option<&P> {
        self.entries.get(&(iface, ip)).and_then(|e| e.queue.last())
    }

    pub fn new(policy: ArpPolicy, rng: SimRng) -> Self {
        ArpCache {
            policy,
            entries: IndexMap::default(),
            rng,
            next_generation: 1,
        }
    }

    pub fn policy(&self) -> &ArpPolicy {
        &self.policy
    }

    /// Forget everything (power cycle).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// `ip neigh flush all`: every learned entry goes, the permanent ones
    /// stay (iproute2 skips PERMANENT and NOARP entries unless asked).
    pub fn flush(&mut self) {
        self.entries.retain(|_, e| e.state == NeighState::Permanent);
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn random_reachable_time(&mut self) -> SimDuration {
        // neigh_rand_reach_time(): uniform in [base/2, 3*base/2).
        let base = BASE_REACHABLE_TIME.as_nanos();
        SimDuration(base / 2 + below(&mut self.rng, base))
    }

    /// The state an entry has at `now`, taking lazy expiry into account.
    fn effective(&self, e: &Entry<P>, now: SimTime) -> Option<NeighState> {
        match (&self.policy, e.state) {
            (ArpPolicy::Fixed { timeout }, NeighState::Reachable) => {
                (now < e.confirmed + *timeout).then_some(NeighState::Reachable)
            }
            (ArpPolicy::Linux, NeighState::Reachable) if now >= e.confirmed + e.reachable_for => {
                Some(NeighState::Stale)
            }
            (_, s) => Some(s),
        }
    }

    /// Finds the MAC for `ip` on `iface`, or queues `packet` until it is known.
    pub fn resolve(
        &mut self,
        now: SimTime,
        iface: usize,
        ip: Ipv4Addr,
        packet: P,
        actions: &mut Vec<ArpAction<P>>,
    ) -> Resolve<P> {
        let key = (iface, ip);
        let state = self.entries.get(&key).and_then(|e| self.effective(e, now));
        match state {
            Some(
                NeighState::Reachable
                | NeighState::Delay
                | NeighState::Probe
                | NeighState::Permanent,
            ) => {
                let mac = self.entries[&key].mac.expect("resolved states have a MAC");
                Resolve::Ready(mac, packet)
            }
            Some(NeighState::Stale) => {
                let generation = self.generation();
                let e = self.entries.get_mut(&key).expect("entry exists");
                let mac = e.mac.expect("STALE entries have a MAC");
                e.state = NeighState::Delay;
                e.updated = now;
                e.generation = generation;
                actions.push(ArpAction::Timer {
                    at: now + DELAY_FIRST_PROBE_TIME,
                    iface,
                    ip,
                    generation,
                });
                actions.push(ArpAction::Changed {
                    iface,
                    ip,
                    mac: Some(mac),
                    state: NeighState::Delay,
                });
                Resolve::Ready(mac, packet)
            }
            Some(NeighState::Incomplete) => {
                let e = self.entries.get_mut(&key).expect("entry exists");
                if e.queue.len() >= UNRES_QLEN {
                    // Linux drops the oldest queued packet when the queue is full.
                    let dropped = e.queue.remove(0);
                    actions.push(ArpAction::Fail {
                        iface,
                        ip,
                        packets: vec![dropped],
                    });
                }
                e.queue.push(packet);
                Resolve::Queued
            }
            None | Some(NeighState::Failed) => {
                let generation = self.generation();
                self.entries.insert(
                    key,
                    Entry {
                        mac: None,
                        state: NeighState::Incomplete,
                        updated: now,
                        confirmed: SimTime::ZERO,
                        reachable_for: SimDuration::ZERO,
                        probes: 1,
                        queue: vec![packet],
                        generation,
                    },
                );
                actions.push(ArpAction::Request {
                    iface,
                    target: ip,
                    unicast: None,
                });
                actions.push(ArpAction::Timer {
                    at: now + RETRANS_TIME,
                    iface,
                    ip,
                    generation,
                });
                actions.push(ArpAction::Changed {
                    iface,
                    ip,
                    mac: None,
                    state: NeighState::Incomplete,
                });
                Resolve::Queued
            }
        }
    }

    /// A timer set by this cache fired.
    pub fn on_timer(
        &mut self,
        now: SimTime,
        iface: usize,
        ip: Ipv4Addr,
        generation: u64,
        actions: &mut Vec<ArpAction<P>>,
    ) {
        let key = (iface, ip);
        let Some(e) = self.entries.get(&key) else {
            return;
        };
        if e.generation != generation {
            return; // superseded by a later state change
        }
        match e.state {
            NeighState::Incomplete | NeighState::Probe => {
                let limit = if e.state == NeighState::Incomplete {
                    MCAST_PROBES
                } else {
                    UCAST_PROBES
                };
                if e.probes < limit {
                    let unicast = if e.state == NeighState::Probe {
                        e.mac
                    } else {
                        None
                    };
                    let e = self.entries.get_mut(&key).expect("entry exists");
                    e.probes += 1;
                    actions.push(ArpAction::Request {
                        iface,
                        target: ip,
                        unicast,
                    });
                    actions.push(ArpAction::Timer {
                        at: now + RETRANS_TIME,
                        iface,
                        ip,
                        generation,
                    });
                } else {
                    let e = self.entries.get_mut(&key).expect("entry exists");
                    e.state = NeighState::Failed;
                    e.updated = now;
                    e.mac = None;
                    let packets = std::mem::take(&mut e.queue);
                    actions.push(ArpAction::Changed {
                        iface,
                        ip,
                        mac: None,
                        state: NeighState::Failed,
                    });
                    actions.push(ArpAction::Fail { iface, ip, packets });
                }
            }
            NeighState::Delay => {
                let g = self.generation();
                let e = self.entries.get_mut(&key).expect("entry exists");
                if e.confirmed >= e.updated {
                    e.state = NeighState::Reachable;
                    e.generation = g;
                    actions.push(ArpAction::Changed {
                        iface,
                        ip,
                        mac: e.mac,
                        state: NeighState::Reachable,
                    });
                } else {
                    e.state = NeighState::Probe;
                    e.updated = now;
                    e.probes = 1;
                    e.generation = g;
                    actions.push(ArpAction::Changed {
                        iface,
                        ip,
                        mac: e.mac,
                        state: NeighState::Probe,
                    });
                    actions.push(ArpAction::Request {
                        iface,
                        target: ip,
                        unicast: e.mac,
                    });
                    actions.push(ArpAction::Timer {
                        at: now + RETRANS_TIME,
                        iface,
                        ip,
                        generation: g,
                    });
                }
            }
            NeighState::Reachable
            | NeighState::Stale
            | NeighState::Failed
            | NeighState::Permanent => {}
        }
    }

    /// Installs a permanent entry (`ip neigh replace IP lladdr MAC dev IFACE
    /// nud permanent`). Packets queued on an unresolved entry for `ip` are
    /// dropped with it (the engine installs these entries before it routes
    /// anything through them).
    pub fn set_permanent(&mut self, now: SimTime, iface: usize, ip: Ipv4Addr, mac: MacAddr) {
        let generation = self.generation();
        self.entries.insert(
            (iface, ip),
            Entry {
                mac: Some(mac),
                state: NeighState::Permanent,
                updated: now,
                confirmed: now,
                reachable_for: SimDuration::ZERO,
                probes: 0,
                queue: Vec::new(),
                generation,
            },
        );
    }

    /// Removes every permanent entry not in `keep` (`ip neigh del`).
    pub fn retain_permanent(&mut self, keep: &[(usize, Ipv4Addr, MacAddr)]) {
        self.entries.retain(|&(iface, ip), e| {
            e.state != NeighState::Permanent
                || keep
                    .iter()
                    .any(|&(i, a, m)| i == iface && a == ip && e.mac == Some(m))
        });
    }

    /// The permanent entries, `(iface, ip, mac)`.
    pub fn permanent(&self) -> Vec<(usize, Ipv4Addr, MacAddr)> {
        let mut rows: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state == NeighState::Permanent)
            .filter_map(|(&(i, ip), e)| Some((i, ip, e.mac?)))
            .collect();
        rows.sort_unstable_by_key(|&(i, ip, _)| (i, ip));
        rows
    }

    /// Learns from an ARP packet received on `iface` from `spa`/`sha`.
    /// `reply_to_us`: an ARP reply addressed to one of our addresses;
    /// `request_for_us`: a request whose target is one of our addresses.
    pub fn on_arp(
        &mut self,
        now: SimTime,
        iface: usize,
        seen: ArpSeen,
        actions: &mut Vec<ArpAction<P>>,
    ) {
        let ArpSeen {
            spa,
            sha,
            reply_to_us,
            request_for_us,
        } = seen;
        if spa.is_unspecified() {
            return; // ARP probes (RFC 5227) carry no sender address
        }
        let key = (iface, spa);
        let fixed = matches!(self.policy, ArpPolicy::Fixed { .. });
        let reach = self.random_reachable_time();
        let generation = self.generation();
        match self.entries.get_mut(&key) {
            Some(e) if e.state == NeighState::Permanent => {}
            Some(e) => {
                let changed_mac = e.mac != Some(sha);
                let new_state = if reply_to_us || fixed {
                    NeighState::Reachable
                } else if changed_mac
                    || e.state == NeighState::Failed
                    || e.state == NeighState::Incomplete
                {
                    NeighState::Stale
                } else {
                    return; // same MAC, nothing learned
                };
                e.mac = Some(sha);
                if new_state == NeighState::Reachable {
                    e.confirmed = now;
                    e.reachable_for = reach;
                }
                let state_changed = e.state != new_state || changed_mac;
                e.state = new_state;
                e.updated = now;
                e.generation = generation;
                let packets = std::mem::take(&mut e.queue);
                if state_changed {
                    actions.push(ArpAction::Changed {
                        iface,
                        ip: spa,
                        mac: Some(sha),
                        state: new_state,
                    });
                }
                if !packets.is_empty() {
                    actions.push(ArpAction::Release {
                        iface,
                        ip: spa,
                        mac: sha,
                        packets,
                    });
                }
            }
            None if request_for_us || reply_to_us => {
                let state = if fixed || reply_to_us {
                    NeighState::Reachable
                } else {
                    NeighState::Stale
                };
                self.entries.insert(
                    key,
                    Entry {
                        mac: Some(sha),
                        state,
                        updated: now,
                        confirmed: now,
                        reachable_for: reach,
                        probes: 0,
                        queue: Vec::new(),
                        generation,
                    },
                );
                actions.push(ArpAction::Changed {
                    iface,
                    ip: spa,
                    mac: Some(sha),
                    state,
                });
            }
            None => {}
        }
    }

    /// Current entries, as `ip neigh show` would list them at `now`
    /// (expired Fixed entries and FAILED ones are left out), by interface
    /// then address.
    pub fn rows(&self, now: SimTime) -> Vec<ArpRow> {
        let mut rows: Vec<ArpRow> = self
            .entries
            .iter()
            .filter_map(|(&key, e)| self.row(key, e, now))
            .collect();
        rows.sort_unstable_by_key(|r| (r.iface, r.ip));
        rows
    }

    /// The row of entry `e` at `now`, if `ip neigh show` lists it.
    fn row(&self, (iface, ip): (usize, Ipv4Addr), e: &Entry<P>, now: SimTime) -> Option<ArpRow> {
        let state = self.effective(e, now)?;
        (state != NeighState::Failed).then(|| ArpRow {
            iface,
            ip,
            mac: e.mac,
            state,
            age: now.since(if e.confirmed > SimTime::ZERO {
                e.confirmed
            } else {
                e.updated
            }),
        })
    }

    /// The MAC currently cached for `ip` on any interface (the lowest
    /// listed: for expectations).
    pub fn lookup(&self, now: SimTime, ip: Ipv4Addr) -> Option<ArpRow> {
        self.entries
            .iter()
            .filter(|((_, a), _)| *a == ip)
            .filter_map(|(&key, e)| self.row(key, e, now))
            .min_by_key(|r| r.iface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    const M1: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const M2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    #[test]
    fn incomplete_retries_three_times_then_fails() {
        let mut c: ArpCache<u32> = ArpCache::new(ArpPolicy::Linux, stream(1, "t"));
        let mut a = Vec::new();
        assert!(matches!(
            c.resolve(SimTime(0), 0, ip("10.0.0.2"), 7, &mut a),
            Resolve::Queued
        ));
        let timer = |a: &Vec<ArpAction<u32>>| {
            a.iter()
                .find_map(|x| match x {
                    ArpAction::Timer { at, generation, .. } => Some((*at, *generation)),
                    _ => None,
                })
                .unwrap()
        };
        let mut requests = a
            .iter()
            .filter(|x| matches!(x, ArpAction::Request { .. }))
            .count();
        let (mut at, g) = timer(&a);
        let mut failed = None;
        for _ in 0..5 {
            let mut b = Vec::new();
            c.on_timer(at, 0, ip("10.0.0.2"), g, &mut b);
            requests += b
                .iter()
                .filter(|x| matches!(x, ArpAction::Request { .. }))
                .count();
            if let Some(ArpAction::Fail { packets, .. }) =
                b.iter().find(|x| matches!(x, ArpAction::Fail { .. }))
            {
                failed = Some((at, packets.clone()));
                break;
            }
            at = timer(&b).0;
        }
        assert_eq!(requests, 3);
        assert_eq!(
            failed,
            Some((SimTime::ZERO + SimDuration::from_secs(3), vec![7]))
        );
    }

    #[test]
    fn reply_releases_queue_and_entry_goes_stale_then_probes() {
        let mut c: ArpCache<u32> = ArpCache::new(ArpPolicy::Linux, stream(1, "t"));
        let mut a = Vec::new();
        c.resolve(SimTime(0), 0, ip("10.0.0.2"), 1, &mut a);
        let mut b = Vec::new();
        c.on_arp(
            SimTime(1000),
            0,
            ArpSeen {
                spa: ip("10.0.0.2"),
                sha: M1,
                reply_to_us: true,
                request_for_us: false,
            },
            &mut b,
        );
        assert!(b.iter().any(|x| matches!(x, ArpAction::Release { packets, mac, .. } if packets == &vec![1] && *mac == M1)));
        let later = SimTime(0) + SimDuration::from_secs(46); // beyond 1.5 * 30 s
        assert_eq!(c.rows(later)[0].state, NeighState::Stale);
        let mut d = Vec::new();
        assert!(
            matches!(c.resolve(later, 0, ip("10.0.0.2"), 2, &mut d), Resolve::Ready(m, 2) if m == M1)
        );
        let (at, g) = d
            .iter()
            .find_map(|x| match x {
                ArpAction::Timer { at, generation, .. } => Some((*at, *generation)),
                _ => None,
            })
            .unwrap();
        assert_eq!(at, later + DELAY_FIRST_PROBE_TIME);
        let mut e = Vec::new();
        c.on_timer(at, 0, ip("10.0.0.2"), g, &mut e);
        assert!(
            e.iter()
                .any(|x| matches!(x, ArpAction::Request { unicast: Some(m), .. } if *m == M1))
        );
        assert_eq!(c.rows(at)[0].state, NeighState::Probe);
    }

    #[test]
    fn gratuitous_arp_updates_only_existing_entries() {
        let mut c: ArpCache<u32> = ArpCache::new(ArpPolicy::Linux, stream(1, "t"));
        let mut a = Vec::new();
        c.on_arp(
            SimTime(0),
            0,
            ArpSeen {
                spa: ip("10.0.0.9"),
                sha: M1,
                reply_to_us: false,
                request_for_us: false,
            },
            &mut a,
        );
        assert!(
            c.rows(SimTime(0)).is_empty(),
            "arp_accept=0: no entry from unsolicited ARP"
        );
        c.on_arp(
            SimTime(0),
            0,
            ArpSeen {
                spa: ip("10.0.0.9"),
                sha: M1,
                reply_to_us: false,
                request_for_us: true,
            },
            &mut a,
        );
        c.on_arp(
            SimTime(5),
            0,
            ArpSeen {
                spa: ip("10.0.0.9"),
                sha: M2,
                reply_to_us: false,
                request_for_us: false,
            },
            &mut a,
        );
        let row = c.lookup(SimTime(5), ip("10.0.0.9")).unwrap();
        assert_eq!((row.mac, row.state), (Some(M2), NeighState::Stale));
    }

    #[test]
    fn fixed_policy_never_probes_and_expires() {
        let four_h = SimDuration::from_secs(4 * 3600);
        let mut c: ArpCache<u32> =
            ArpCache::new(ArpPolicy::Fixed { timeout: four_h }, stream(1, "t"));
        let mut a = Vec::new();
        c.on_arp(
            SimTime(0),
            1,
            ArpSeen {
                spa: ip("10.160.1.26"),
                sha: M1,
                reply_to_us: false,
                request_for_us: true,
            },
            &mut a,
        );
        let hour = SimTime(0) + SimDuration::from_secs(3600);
        let mut b = Vec::new();
        assert!(
            matches!(c.resolve(hour, 1, ip("10.160.1.26"), 3, &mut b), Resolve::Ready(m, 3) if m == M1)
        );
        assert!(b.is_empty(), "a fixed entry is used without any probing");
        assert!(c.rows(SimTime(0) + four_h).is_empty());
    }

    #[test]
    fn a_permanent_entry_answers_at_once_ignores_arp_and_never_expires() {
        let mut c: ArpCache<u32> = ArpCache::new(ArpPolicy::Linux, stream(1, "t"));
        let vip = ip("169.254.0.253");
        c.set_permanent(SimTime(0), 2, vip, M1);
        // Someone claims the address with another MAC: ignored.
        let mut a = Vec::new();
        c.on_arp(
            SimTime(1),
            2,
            ArpSeen {
                spa: vip,
                sha: M2,
                reply_to_us: true,
                request_for_us: false,
            },
            &mut a,
        );
        assert!(a.is_empty(), "{a:?}");
        let day = SimTime(0) + SimDuration::from_secs(86_400);
        let mut b = Vec::new();
        assert!(matches!(c.resolve(day, 2, vip, 7, &mut b), Resolve::Ready(m, 7) if m == M1));
        assert!(b.is_empty(), "no probe, no timer: {b:?}");
        let row = c.lookup(day, vip).expect("listed");
        assert_eq!((row.mac, row.state), (Some(M1), NeighState::Permanent));
        assert_eq!(c.permanent(), vec![(2, vip, M1)]);
        // Another MAC replaces it; an entry not kept goes.
        c.set_permanent(day, 2, vip, M2);
        assert_eq!(c.permanent(), vec![(2, vip, M2)]);
        // `ip neigh flush all` keeps it; a power cycle does not.
        c.flush();
        assert_eq!(c.permanent(), vec![(2, vip, M2)]);
        c.retain_permanent(&[(2, vip, M1)]);
        assert!(c.permanent().is_empty());
        assert!(c.lookup(day, vip).is_none());
    }

    /// Listings order by interface, then address, whatever order the
    /// entries were made in; a lookup finds the lowest interface's.
    #[test]
    fn listings_order_by_interface_then_address() {
        let mut c: ArpCache<u32> = ArpCache::new(ArpPolicy::Linux, stream(1, "t"));
        let mac = |b: u8| MacAddr([2, 0, 0, 0, 0, b]);
        let made = [
            (2, "10.0.0.9", 1),
            (0, "10.0.0.20", 2),
            (2, "10.0.0.3", 3),
            (0, "10.0.0.9", 4),
        ];
        for (iface, a, m) in made {
            c.set_permanent(SimTime::ZERO, iface, ip(a), mac(m));
        }
        let listed: Vec<(usize, Ipv4Addr)> = c
            .rows(SimTime::ZERO)
            .iter()
            .map(|r| (r.iface, r.ip))
            .collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        assert_eq!(listed.len(), 4);
        let perm: Vec<(usize, Ipv4Addr)> = c.permanent().iter().map(|&(i, a, _)| (i, a)).collect();
        assert_eq!(perm, listed);
        let found = c.lookup(SimTime::ZERO, ip("10.0.0.9")).expect("cached");
        assert_eq!((found.iface, found.mac), (0, Some(mac(4))));
    }
}
