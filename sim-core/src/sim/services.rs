//! Service load balancing inside a node's stack: the DNAT decision for the
//! first packet of a connection to a Service address, as AntreaProxy (OVS)
//! or kube-proxy (iptables/IPVS) would make it. The engine compiles the
//! entries (`engine::dataplane::DesiredService`); conntrack then keeps every
//! later packet of the connection on the chosen endpoint.
//!
//! Endpoint choice is a deterministic hash of the connection's 5-tuple: OVS
//! select groups hash the 5-tuple, kube-proxy's iptables mode draws random
//! probabilities and IPVS round-robins; all are modelled by the hash so runs
//! repeat exactly. Session affinity (ClientIP) pins a client to its endpoint
//! until `timeout` of silence.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::nat::FlowKey;
use crate::rng::fnv1a64;
use crate::time::{SimDuration, SimTime};

/// Where a packet comes from, as the node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Origin {
    /// From a local Pod (arrives on antrea-gw0 / OVS).
    Pod,
    /// Sent by the node itself (host network).
    Node,
    /// Arrived from outside the node.
    External,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ServiceEntry {
    pub vip: Ipv4Addr,
    pub port: u16,
    pub proto: u8,
    /// Which traffic this entry load-balances (and who does it).
    pub handlers: Vec<(Origin, String)>,
    pub endpoints: Vec<(Ipv4Addr, u16)>,
    /// Endpoints used for External/Node traffic when they differ
    /// (externalTrafficPolicy Local); empty = same as `endpoints`.
    pub external_endpoints: Option<Vec<(Ipv4Addr, u16)>>,
    pub affinity: Option<SimDuration>,
    /// SNAT external/node traffic to the node so replies come back through it.
    pub masquerade_external: bool,
    /// `namespace/name:port` for traces.
    pub name: String,
}

/// What happens to a new connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    NotAService,
    Dnat {
        to: (Ipv4Addr, u16),
        by: String,
        masquerade: bool,
        service: String,
    },
    /// The Service has no endpoints: TCP RST / ICMP port unreachable.
    Reject {
        by: String,
        service: String,
    },
}

/// (client IP, Service IP, port, protocol).
type AffinityKey = (Ipv4Addr, Ipv4Addr, u16, u8);
type Endpoint = (Ipv4Addr, u16);

#[derive(Clone, Debug, Default)]
pub struct ServiceTable {
    entries: Vec<ServiceEntry>,
    /// (client, vip, port, proto) → (endpoint, expires)
    affinity: BTreeMap<AffinityKey, (Endpoint, SimTime)>,
}

impl ServiceTable {
    pub fn set(&mut self, entries: Vec<ServiceEntry>) {
        if entries != self.entries {
            self.entries = entries;
            // Affinity pins to endpoints that may be gone; keep only valid ones.
            let entries = &self.entries;
            self.affinity.retain(|(_, vip, port, proto), (ep, _)| {
                entries.iter().any(|e| {
                    e.vip == *vip
                        && e.port == *port
                        && e.proto == *proto
                        && e.endpoints.contains(ep)
                })
            });
        }
    }

    pub fn entries(&self) -> &[ServiceEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Does any entry own this address? (Service addresses are answered for
    /// by the proxy, not routed elsewhere.)
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.entries.iter().any(|e| e.vip == ip)
    }

    pub fn decide(&mut self, now: SimTime, origin: Origin, key: FlowKey) -> Decision {
        let Some(e) = self
            .entries
            .iter()
            .find(|e| e.vip == key.dst && e.port == key.dport && e.proto == key.proto)
        else {
            return Decision::NotAService;
        };
        let Some((_, by)) = e.handlers.iter().find(|(o, _)| *o == origin) else {
            return Decision::NotAService; // nobody load-balances this traffic here
        };
        let by = by.clone();
        let pool = match (&e.external_endpoints, origin) {
            (Some(ext), Origin::External | Origin::Node) => ext,
            _ => &e.endpoints,
        };
        if pool.is_empty() {
            return Decision::Reject {
                by,
                service: e.name.clone(),
            };
        }
        let akey = (key.src, key.dst, key.dport, key.proto);
        let mut pinned = None;
        if let Some(timeout) = e.affinity {
            if let Some((ep, exp)) = self.affinity.get(&akey)
                && *exp > now
                && pool.contains(ep)
            {
                pinned = Some(*ep);
            }
            let ep = pinned.unwrap_or_else(|| pick(pool, key));
            self.affinity.insert(akey, (ep, now + timeout));
            pinned = Some(ep);
        }
        let to = pinned.unwrap_or_else(|| pick(pool, key));
        let masquerade = e.masquerade_external && origin != Origin::Pod;
        Decision::Dnat {
            to,
            by,
            masquerade,
            service: e.name.clone(),
        }
    }
}

/// The endpoint a connection hashes to.
pub fn pick(pool: &[(Ipv4Addr, u16)], key: FlowKey) -> (Ipv4Addr, u16) {
    pool[(flow_hash(key) % pool.len() as u64) as usize]
}

/// A fixed hash of a connection's 5-tuple (endpoint choice, ECMP).
pub fn flow_hash(key: FlowKey) -> u64 {
    let mut bytes = Vec::with_capacity(13);
    bytes.push(key.proto);
    bytes.extend_from_slice(&key.src.octets());
    bytes.extend_from_slice(&key.sport.to_be_bytes());
    bytes.extend_from_slice(&key.dst.octets());
    bytes.extend_from_slice(&key.dport.to_be_bytes());
    fnv1a64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn entry(eps: &[&str]) -> ServiceEntry {
        ServiceEntry {
            vip: ip("10.30.48.237"),
            port: 80,
            proto: 6,
            handlers: vec![(Origin::Pod, "AntreaProxy".into())],
            endpoints: eps.iter().map(|e| (ip(e), 80)).collect(),
            external_endpoints: None,
            affinity: None,
            masquerade_external: true,
            name: "yelb/yelb-ui:80".into(),
        }
    }

    fn key(sport: u16) -> FlowKey {
        FlowKey {
            proto: 6,
            src: ip("10.30.67.5"),
            sport,
            dst: ip("10.30.48.237"),
            dport: 80,
        }
    }

    #[test]
    fn spreads_over_all_endpoints_and_only_those() {
        let mut t = ServiceTable::default();
        t.set(vec![entry(&["10.30.67.5", "10.30.68.6", "10.30.69.2"])]);
        let mut seen = std::collections::BTreeSet::new();
        for sport in 30000..30300 {
            match t.decide(SimTime(0), Origin::Pod, key(sport)) {
                Decision::Dnat { to, .. } => {
                    assert!(t.entries()[0].endpoints.contains(&to));
                    seen.insert(to);
                }
                d => panic!("{d:?}"),
            }
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(
            t.decide(SimTime(0), Origin::External, key(1)),
            Decision::NotAService
        );
    }

    #[test]
    fn no_endpoints_rejects_and_affinity_pins_until_timeout() {
        let mut t = ServiceTable::default();
        t.set(vec![entry(&[])]);
        assert!(matches!(
            t.decide(SimTime(0), Origin::Pod, key(1)),
            Decision::Reject { .. }
        ));
        let mut e = entry(&["10.30.67.5", "10.30.68.6", "10.30.69.2"]);
        e.affinity = Some(SimDuration::from_secs(10));
        t.set(vec![e]);
        let first = t.decide(SimTime(0), Origin::Pod, key(1));
        for sport in 2..50 {
            assert_eq!(
                t.decide(SimTime(1), Origin::Pod, key(sport)),
                first,
                "pinned by client IP"
            );
        }
        // After the timeout the choice is free again (some source port differs).
        let later = SimTime(0) + SimDuration::from_secs(100);
        let differs = (2..50).any(|s| {
            let mut t2 = t.clone();
            t2.decide(later, Origin::Pod, key(s)) != first
        });
        assert!(differs);
    }
}
