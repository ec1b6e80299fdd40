//! Source NAT and connection tracking, the part of netfilter the lab needs.
//!
//! POSTROUTING SNAT/MASQUERADE rules (Antrea installs `MASQUERADE` for Pod
//! traffic leaving the node, and for Egress `SNAT --to <egressIP>` matched on a
//! packet mark: `pkg/agent/route/route_linux.go`) are evaluated for the first
//! packet of a flow; the translation is then remembered in conntrack, and
//! replies are translated back before routing, as `nf_nat` does.
//! Ports are kept unless the translated tuple is taken, then the next free one
//! is used (Linux picks a free port too; ours is deterministic).
//! Simplifications: one timeout per protocol (ICMP and UDP 30 s, TCP 300 s), no
//! translation of ICMP errors about NATed flows.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::time::{SimDuration, SimTime};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnatTo {
    /// Use the primary address of the output interface.
    Masquerade,
    Addr(Ipv4Addr),
}

/// One POSTROUTING rule; every present condition must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatRule {
    pub src: Option<Ipv4Net>,
    /// Destinations exempt from the rule (e.g. the cluster's Pod CIDR).
    pub not_dst: Vec<Ipv4Net>,
    /// `! -o <iface>`.
    pub not_out_iface: Option<usize>,
    /// `-o <iface>`.
    pub out_iface: Option<usize>,
    /// `-m mark --mark value/mask`.
    pub mark: Option<(u32, u32)>,
    pub to: SnatTo,
    /// Shown in rule listings, like iptables' `--comment`.
    pub comment: String,
}

impl SnatRule {
    pub fn matches(&self, src: Ipv4Addr, dst: Ipv4Addr, out_iface: usize, mark: u32) -> bool {
        self.src.is_none_or(|n| n.contains(&src))
            && !self.not_dst.iter().any(|n| n.contains(&dst))
            && self.not_out_iface != Some(out_iface)
            && self.out_iface.is_none_or(|i| i == out_iface)
            && self.mark.is_none_or(|(v, m)| mark & m == v & m)
    }
}

/// A flow's 5-tuple as one direction sees it; ICMP uses the echo identifier as
/// both ports, as Linux conntrack does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct FlowKey {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

impl FlowKey {
    fn reversed(self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

#[derive(Clone, Debug)]
struct CtEntry {
    /// The tuple a reply arrives with.
    reply: FlowKey,
    expires: SimTime,
}

/// A row for `conntrack -L`-style listings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CtRow {
    pub original: FlowKey,
    pub reply: FlowKey,
}

#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    by_orig: BTreeMap<FlowKey, CtEntry>,
    by_reply: BTreeMap<FlowKey, FlowKey>,
}

fn timeout(proto: u8) -> SimDuration {
    match proto {
        6 => SimDuration::from_secs(300),
        _ => SimDuration::from_secs(30),
    }
}

impl Conntrack {
    pub fn clear(&mut self) {
        self.by_orig.clear();
        self.by_reply.clear();
    }

    fn expire(&mut self, now: SimTime, key: &FlowKey) {
        if let Some(e) = self.by_orig.get(key)
            && e.expires <= now
        {
            let reply = e.reply;
            self.by_orig.remove(key);
            self.by_reply.remove(&reply);
        }
    }

    /// Outbound: the (src, sport) this flow's packets leave with, creating the
    /// NAT binding when `to` is given and none exists. `None` = untranslated.
    pub fn snat(
        &mut self,
        now: SimTime,
        key: FlowKey,
        to: Option<Ipv4Addr>,
    ) -> Option<(Ipv4Addr, u16)> {
        self.expire(now, &key);
        if let Some(e) = self.by_orig.get_mut(&key) {
            e.expires = now + timeout(key.proto);
            return Some((e.reply.dst, e.reply.dport));
        }
        let to = to?;
        // Keep the port if the translated tuple is free, else walk upwards.
        let mut port = key.sport;
        for _ in 0..=u16::MAX {
            // ICMP echo replies carry the (translated) identifier in both "ports".
            let reply_sport = if key.proto == 1 { port } else { key.dport };
            let reply = FlowKey {
                proto: key.proto,
                src: key.dst,
                sport: reply_sport,
                dst: to,
                dport: port,
            };
            self.expire_reply(now, &reply);
            if !self.by_reply.contains_key(&reply) {
                self.by_orig.insert(
                    key,
                    CtEntry {
                        reply,
                        expires: now + timeout(key.proto),
                    },
                );
                self.by_reply.insert(reply, key);
                return Some((to, port));
            }
            port = port.wrapping_add(1).max(1024);
        }
        None
    }

    fn expire_reply(&mut self, now: SimTime, reply: &FlowKey) {
        if let Some(orig) = self.by_reply.get(reply).copied() {
            self.expire(now, &orig);
        }
    }

    /// Inbound: if `key` is the reply tuple of a NATed flow, the original
    /// (dst, dport) to restore.
    pub fn reverse(&mut self, now: SimTime, key: FlowKey) -> Option<(Ipv4Addr, u16)> {
        self.expire_reply(now, &key);
        let orig = *self.by_reply.get(&key)?;
        if let Some(e) = self.by_orig.get_mut(&orig) {
            e.expires = now + timeout(key.proto);
        }
        let back = orig.reversed();
        Some((back.dst, back.dport))
    }

    /// Forgets every binding that translates to `ip`: Linux does this when the
    /// address goes away (`nf_nat_masquerade` inet notifier), so flows re-pick
    /// their translation instead of keeping a source the node no longer owns.
    pub fn flush_translated_to(&mut self, ip: Ipv4Addr) -> usize {
        let gone: Vec<FlowKey> = self
            .by_orig
            .iter()
            .filter(|(_, e)| e.reply.dst == ip)
            .map(|(k, _)| *k)
            .collect();
        for k in &gone {
            if let Some(e) = self.by_orig.remove(k) {
                self.by_reply.remove(&e.reply);
            }
        }
        gone.len()
    }

    pub fn rows(&self, now: SimTime) -> Vec<CtRow> {
        self.by_orig
            .iter()
            .filter(|(_, e)| e.expires > now)
            .map(|(k, e)| CtRow {
                original: *k,
                reply: e.reply,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
        FlowKey {
            proto: 1,
            src: src.parse().unwrap(),
            sport,
            dst: dst.parse().unwrap(),
            dport,
        }
    }

    #[test]
    fn snat_binding_translates_replies_back() {
        let mut ct = Conntrack::default();
        let node: Ipv4Addr = "10.160.1.25".parse().unwrap();
        let k = key("10.30.67.5", 7, "10.200.0.10", 7);
        assert_eq!(ct.snat(SimTime(0), k, Some(node)), Some((node, 7)));
        // Later packets of the flow reuse the binding even without a rule.
        assert_eq!(ct.snat(SimTime(5), k, None), Some((node, 7)));
        let reply = key("10.200.0.10", 7, "10.160.1.25", 7);
        assert_eq!(
            ct.reverse(SimTime(6), reply),
            Some(("10.30.67.5".parse().unwrap(), 7))
        );
        // A second pod using the same ICMP id gets another id.
        let k2 = key("10.30.67.6", 7, "10.200.0.10", 7);
        assert_eq!(ct.snat(SimTime(7), k2, Some(node)), Some((node, 1024)));
        let reply2 = key("10.200.0.10", 1024, "10.160.1.25", 1024);
        assert_eq!(
            ct.reverse(SimTime(8), reply2),
            Some(("10.30.67.6".parse().unwrap(), 7))
        );
        // Bindings expire after 30 s of silence.
        assert_eq!(
            ct.reverse(SimTime(0) + SimDuration::from_secs(60), reply),
            None
        );
    }

    #[test]
    fn rule_conditions() {
        let r = SnatRule {
            src: Some("10.30.64.0/18".parse().unwrap()),
            not_dst: vec!["10.30.64.0/18".parse().unwrap()],
            not_out_iface: Some(1),
            out_iface: None,
            mark: None,
            to: SnatTo::Masquerade,
            comment: String::new(),
        };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(r.matches(ip("10.30.67.5"), ip("10.200.0.10"), 0, 0));
        assert!(!r.matches(ip("10.30.67.5"), ip("10.30.68.2"), 0, 0));
        assert!(!r.matches(ip("10.30.67.5"), ip("10.200.0.10"), 1, 0));
        assert!(!r.matches(ip("10.160.1.25"), ip("10.200.0.10"), 0, 0));
    }
}
