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
