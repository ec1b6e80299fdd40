//! Where packets are lost and where traced ones went: drops logged (and
//! charged to a probe's attempt when traced), hops of a traced packet, and
//! the reason an ARP request was dropped, kept to explain a later "ARP
//! incomplete".

use super::World;
use crate::sim::probe::{Hop, Verdict};
use crate::sim::trace::{DropReason, LogKind, TraceTag};
use crate::wire::{self, ArpMsg};

impl World {
    pub(super) fn add_hop(&mut self, tag: TraceTag, device: &str, text: String, vlan: Option<u16>) {
        let now = self.now;
        if let Some(p) = self.probes.get_mut(tag.probe as usize)
            && let Some(a) = p.attempt_mut(tag.attempt)
        {
            let finished = a.verdict != Verdict::Pending;
            if !p.keeps_path_of(tag.attempt, finished) {
                return;
            }
            let Some(a) = p.attempt_mut(tag.attempt) else {
                return;
            };
            a.path.push(Hop {
                time: now,
                device: device.to_string(),
                text,
                vlan,
                reply: tag.reply,
            });
        }
    }

    /// Remembers why the network dropped an ARP request, so the sender's
    /// later "ARP incomplete" can say so.
    pub(super) fn note_arp_drop(&mut self, frame: &[u8], reason: &DropReason) {
        let Ok((eth, payload)) = wire::parse_eth(frame) else {
            return;
        };
        if eth.ethertype != wire::ethertype::ARP {
            return;
        }
        let Ok(msg) = ArpMsg::parse(payload) else {
            return;
        };
        if msg.op != wire::ArpOp::Request {
            return;
        }
        if let Some(owner) = self.devices.iter().find(|d| d.owns_mac(msg.sha)) {
            let key = (owner.name().to_string(), msg.tpa);
            self.arp_drop_hints.insert(key, reason.to_string());
        }
    }

    pub(super) fn drop_packet(&mut self, tag: Option<TraceTag>, reason: DropReason) {
        let reason = match reason {
            DropReason::ArpIncomplete {
                device,
                ip,
                cause: None,
            } => {
                let cause = self.arp_drop_hints.get(&(device.clone(), ip)).cloned();
                DropReason::ArpIncomplete { device, ip, cause }
            }
            other => other,
        };
        let Some(tag) = tag else {
            self.record(LogKind::Drop, "", reason.to_string());
            return;
        };
        let probe_name = self
            .probes
            .get(tag.probe as usize)
            .map(|p| p.spec.name.clone())
            .unwrap_or_default();
        self.record(
            LogKind::Drop,
            "",
            format!("{probe_name}#{}: {reason}", tag.attempt),
        );
        if let Some(p) = self.probes.get_mut(tag.probe as usize)
            && let Some(a) = p.attempt_mut(tag.attempt)
        {
            let finished = a.verdict != Verdict::Pending;
            if p.keeps_path_of(tag.attempt, finished)
                && let Some(a) = p.attempt_mut(tag.attempt)
            {
                a.drops.push(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{THREE_HOSTS, id, ip, messages, ms, port, probe, world};
    use crate::model::VlanMode;
    use crate::sim::probe::{ProbeKind, Verdict};
    use crate::sim::trace::{DropReason, LogKind, TraceTag};

    #[test]
    fn arp_incomplete_names_why_the_requests_were_dropped() {
        let mut w = world(THREE_HOSTS);
        let trunk = VlanMode::Trunk {
            native: None,
            allowed: vec![10],
        };
        w.set_port_vlan(port(&w, "sw/p1"), trunk).unwrap();
        // Linux gives up on ARP after 3 s: wait longer than that.
        let mut spec = probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping);
        spec.timeout = crate::time::SimDuration::from_secs(5);
        w.start_probe(spec).unwrap();
        w.run_until(ms(6_000));
        let p = w.probe("ping").unwrap();
        let first = &p.attempts()[0];
        let Verdict::Fail { reason } = &first.verdict else {
            panic!("expected a failure, got {:?}", first.verdict);
        };
        assert_eq!(
            reason,
            "ARP incomplete: h1 got no answer for 10.0.0.2 (its ARP requests were \
             dropped: untagged frame refused on sw port p1 (no native VLAN))"
        );
    }

    #[test]
    fn an_untraced_arp_incomplete_without_a_hint_has_no_cause() {
        let mut w = world(THREE_HOSTS);
        let reason = DropReason::ArpIncomplete {
            device: "h3".into(),
            ip: ip("10.0.0.9"),
            cause: None,
        };
        w.drop_packet(None, reason);
        assert_eq!(
            messages(&w, LogKind::Drop),
            ["ARP incomplete: h3 got no answer for 10.0.0.9"]
        );
    }

    #[test]
    fn a_traced_drop_and_hop_are_charged_to_the_attempt() {
        let mut w = world(THREE_HOSTS);
        w.set_power(id(&w, "h2"), false);
        w.start_probe(probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(0));
        let tag = TraceTag {
            probe: 0,
            attempt: 1,
            reply: false,
        };
        w.add_hop(tag, "somewhere", "in eth9".into(), Some(7));
        w.drop_packet(
            Some(tag),
            DropReason::PoweredOff {
                device: "h2".into(),
            },
        );
        let a = &w.probe("ping").unwrap().attempts()[0];
        assert_eq!(a.drops.len(), 1);
        let hop = a.path.last().expect("a hop");
        assert_eq!(
            (hop.device.as_str(), hop.text.as_str()),
            ("somewhere", "in eth9")
        );
        assert_eq!(hop.vlan, Some(7));
        assert!(messages(&w, LogKind::Drop).contains(&"ping#1: h2 is powered off".to_string()));
        // A tag of a probe that does not exist is logged, charged to no one.
        let stray = TraceTag { probe: 9, ..tag };
        w.drop_packet(Some(stray), DropReason::PoweredOff { device: "x".into() });
        assert!(messages(&w, LogKind::Drop).contains(&"#1: x is powered off".to_string()));
        assert_eq!(w.probe("ping").unwrap().attempts()[0].drops.len(), 1);
    }
}
