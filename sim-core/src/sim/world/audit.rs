//! NetworkPolicy packet-ins the agent handles besides Reject: audit logging
//! and denied connections.
//!
//! Audit logging: what an agent writes to
//! `/var/log/antrea/networkpolicy/np.log` when a packet of a rule with
//! `enableLogging` reaches it (a packet-in with the logging operation), as
//! a [`LogKind::Audit`] line from the node
//! (pkg/agent/controller/networkpolicy/audit_logging.go, the format in
//! docs/antrea-network-policy.md):
//!
//! `<table> <policy> <rule> <direction> <action> <priority> <appliedTo>
//! <src-ip> <src-port> <dst-ip> <dst-port> <protocol> <length> <logLabel>`
//!
//! The agent reads the table from the packet-in's `PacketInTableField`
//! (reg2), the disposition from `APDispositionField` (reg0[11..12]) and the
//! rule from the conjunction id register (reg3 for a drop or reject, reg6
//! or reg5 for an allow); the policy catalog names the rule. Drops and
//! Rejects with the same line within 1 s are logged once (Antrea counts
//! them and writes `[N packets in D]`; antlab leaves the count out).
//!
//! Denied connections (`storeDenyConnection`, the store operation the
//! flows ask for when the flow exporter runs): each packet is kept as a
//! [`DeniedPacket`] of its node, with the rule as the agent knew it then,
//! until the node's flow exporter takes it at its next tick
//! (`scenario::flow_export`) and adds it to its deny store with the time it
//! was seen.

use std::net::Ipv4Addr;

use super::World;
use crate::engine::pipeline::PolicyPacketIn;
use crate::model::DeviceId;
use crate::sim::devices::DeviceRt;
use crate::sim::trace::LogKind;
use crate::time::{SimDuration, SimTime};
use crate::wire::{Ipv4Pkt, L4};

/// Antrea's deduplication buffer for dropped and rejected packets.
const DEDUP: SimDuration = SimDuration::from_secs(1);

impl World {
    /// Writes the audit line for packet-in `p` that `table` of `node`'s
    /// br-int sent about `pkt` (`len` bytes).
    pub(super) fn audit_log(
        &mut self,
        node: DeviceId,
        table: &str,
        p: &PolicyPacketIn,
        pkt: &Ipv4Pkt,
        len: usize,
    ) {
        let ingress = table.contains("Ingress");
        let disposition = p.disposition;
        let action = ["Allow", "Drop", "Reject", "Pass"][disposition as usize];
        let rule_id = p.rule_id(ingress);
        let nil = || "<nil>".to_string();
        // A default drop has no rule: Antrea names it `K8sNetworkPolicy`.
        let (policy, rule, priority, label) = match self.policy_catalog.rule(rule_id) {
            Some(r) if !table.ends_with("DefaultRule") || r.tier.is_some() => {
                let policy = r.reference();
                let rule = if r.tier.is_some() {
                    r.rule.clone()
                } else {
                    nil()
                };
                let label = r.log_label.clone().unwrap_or_else(nil);
                (policy, rule, r.of_priority.to_string(), label)
            }
            _ => ("K8sNetworkPolicy".to_string(), nil(), nil(), nil()),
        };
        let target = if ingress { pkt.dst } else { pkt.src };
        let applied_to = self.pod_name_at(target).unwrap_or_else(nil);
        let (proto, sport, dport) = match &pkt.l4 {
            L4::Tcp {
                src_port, dst_port, ..
            } => ("TCP", src_port.to_string(), dst_port.to_string()),
            L4::Udp {
                src_port, dst_port, ..
            } => ("UDP", src_port.to_string(), dst_port.to_string()),
            _ => ("ICMP", nil(), nil()),
        };
        let line = format!(
            "{table} {policy} {rule} {} {action} {priority} {applied_to} {} {sport} {} {dport} {proto} {len} {label}",
            if ingress { "Ingress" } else { "Egress" },
            pkt.src,
            pkt.dst,
        );
        if disposition == 1 || disposition == 2 {
            let now = self.now;
            self.audit_seen.retain(|_, at| now.since(*at) < DEDUP);
            let key = (node, line.clone());
            if self.audit_seen.contains_key(&key) {
                return;
            }
            self.audit_seen.insert(key, now);
        }
        let name = self.device(node).name().to_string();
        self.record(LogKind::Audit, &name, line);
    }

    /// The Pod (`namespace/name`) whose address is `ip`.
    fn pod_name_at(&self, ip: Ipv4Addr) -> Option<String> {
        self.devices.iter().find_map(|d| match d {
            DeviceRt::Host(h)
                if h.name.contains('/')
                    && h.stack
                        .ifaces
                        .iter()
                        .any(|i| i.addrs.iter().any(|a| a.addr() == ip)) =>
            {
                Some(h.name.to_string())
            }
            _ => None,
        })
    }
}

/// When a node's audit line was first written (deduplication of drops).
pub(super) type AuditSeen = std::collections::BTreeMap<(DeviceId, String), SimTime>;

/// A packet br-int sent its agent to store as denied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeniedPacket {
    pub at: SimTime,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// 0 for ICMP.
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    /// Its IPv4 total length.
    pub ip_len: u64,
    /// The table that sent it (`PacketInTableField`).
    pub table: String,
    /// `APDispositionField`: Drop 1, Reject 2.
    pub disposition: u32,
    /// The rule's conjunction id (0 for a default drop), and what it was
    /// when the packet was denied (the agent looks it up then).
    pub rule_id: u32,
    pub rule: Option<crate::engine::policy::RuleInfo>,
}

impl World {
    /// Keeps packet-in `p` that `table` of `node`'s br-int sent about `pkt`
    /// (`len` bytes) for the node's deny connection store.
    pub(super) fn store_denied(
        &mut self,
        node: DeviceId,
        table: &str,
        p: &PolicyPacketIn,
        pkt: &Ipv4Pkt,
        len: usize,
    ) {
        let (protocol, src_port, dst_port) = match &pkt.l4 {
            L4::Tcp {
                src_port, dst_port, ..
            } => (6, *src_port, *dst_port),
            L4::Udp {
                src_port, dst_port, ..
            } => (17, *src_port, *dst_port),
            _ => (1, 0, 0),
        };
        let denied = DeniedPacket {
            at: self.now,
            src: pkt.src,
            dst: pkt.dst,
            src_port,
            dst_port,
            protocol,
            ip_len: len as u64,
            table: table.to_string(),
            disposition: p.disposition,
            rule_id: p.rule_id(false),
            rule: self.policy_catalog.rule(p.rule_id(false)).cloned(),
        };
        self.denied.entry(node).or_default().push(denied);
    }

    /// The packets `node`'s br-int sent its agent to store as denied since
    /// the last call, in order (the node's flow exporter takes them).
    pub fn take_denied_packets(&mut self, node: DeviceId) -> Vec<DeniedPacket> {
        self.denied.remove(&node).unwrap_or_default()
    }
}
