//! The agent of an ExternalNode: a host (a VM) whose interface antrea-agent
//! moved onto its own br-int (`engine::external_node`). The interface's
//! link now arrives at the uplink port and the host's stack sends through
//! the internal port that took the interface's name and addresses; the
//! simulator keeps the host's interface as it is and puts the program
//! between the two:
//! - a frame the host's stack sends on that interface enters the program
//!   at the internal port ([`HOST_OFPORT`]); what the program outputs to
//!   the uplink ([`UPLINK_OFPORT`]) goes onto the link;
//! - a frame arriving from the link enters at the uplink; what the program
//!   outputs to the internal port is received by the host's stack.
//!
//! A walk with no output is a drop, named by the policy rule that decided
//! it. A Reject rule's packet-in is answered as Antrea's agent answers one
//! (a TCP reset, or ICMP port unreachable for anything else), back the
//! way the packet came. Audit logging and the deny store are not kept on an
//! external Node (README, Known differences). The program's conntrack goes
//! with a power cycle, as the VM's OVS datapath's does.

use std::collections::BTreeMap;

use super::World;
use crate::engine::external_node::{HOST_OFPORT, UPLINK_OFPORT};
use crate::engine::pipeline::{PACKET_IN_REJECT, PolicyPacketIn};
use crate::model::{DeviceId, PortRef};
use crate::openflow::program::ProgramRules;
use crate::openflow::{Conntrack, CtMode, Packet, Program};
use crate::sim::devices::DeviceRt;
use crate::sim::trace::{DropReason, TraceTag};
use crate::wire::{self, Ipv4Pkt};

/// One external Node's br-int.
pub(super) struct ExtAgentRt {
    program: Program,
    loaded: ProgramRules,
    ct: Conntrack,
    /// The VM's name, and its interface's (the internal port's) name.
    name: String,
    iface: String,
}

impl World {
    /// Runs (or replaces) the agent program on host `host`'s interface
    /// `iface`; a program with the rules of the running one keeps it (and
    /// its conntrack).
    pub fn install_external_agent(
        &mut self,
        host: DeviceId,
        iface: &str,
        program: Program,
    ) -> Result<(), String> {
        let port = self.host_port(host, iface)?;
        let rules = program.rules();
        if let Some(rt) = self.ext_agents.get(&port)
            && rt.loaded.same_as(&rules)
        {
            return Ok(());
        }
        let name = self.device(host).name().to_string();
        let ct = self
            .ext_agents
            .remove(&port)
            .map_or_else(Conntrack::new, |rt| rt.ct);
        self.ext_agents.insert(
            port,
            ExtAgentRt {
                program,
                loaded: rules,
                ct,
                name: name.clone(),
                iface: iface.to_string(),
            },
        );
        self.record(
            crate::sim::trace::LogKind::Engine,
            &format!("br-int@{name}"),
            format!("ExternalNode program installed: {iface}~ (uplink) and {iface} on br-int"),
        );
        Ok(())
    }

    /// Keeps only the agents on these (host, interface) pairs: an
    /// ExternalNode deleted, or moved to another interface, gives the
    /// interface back.
    pub fn retain_external_agents(&mut self, keep: &[(DeviceId, String)]) {
        self.ext_agents
            .retain(|p, rt| keep.iter().any(|(h, i)| *h == p.device && *i == rt.iface));
    }

    /// The program of the agent on host `host`, if it runs one.
    pub fn external_agent_program(&self, host: DeviceId) -> Option<&Program> {
        self.ext_agents
            .iter()
            .find(|(p, _)| p.device == host)
            .map(|(_, rt)| &rt.program)
    }

    /// A power cycle: the VM's datapath forgets its connections.
    pub(super) fn external_agent_cold_boot(&mut self, host: DeviceId) {
        for (_, rt) in self.ext_agents.iter_mut().filter(|(p, _)| p.device == host) {
            rt.ct = Conntrack::new();
        }
    }

    /// The port of host `host`'s physical interface `iface`.
    fn host_port(&self, host: DeviceId, iface: &str) -> Result<PortRef, String> {
        let DeviceRt::Host(h) = self.device(host) else {
            return Err(format!("{} is not a host", self.device(host).name()));
        };
        let i = h
            .stack
            .ifaces
            .iter()
            .position(|i| i.name == iface)
            .ok_or_else(|| format!("{} has no interface {iface}", h.name))?;
        let port = h
            .ports
            .iter()
            .position(|p| *p == i)
            .ok_or_else(|| format!("{iface} on {} is not a physical interface", h.name))?;
        Ok(PortRef {
            device: host,
            port: port as u16,
        })
    }

    /// Whether frames on `port` cross an ExternalNode program.
    pub(super) fn has_external_agent(&self, port: PortRef) -> bool {
        self.ext_agents.contains_key(&port)
    }

    /// The host's stack sent `frame` out of `port`: it enters the program
    /// at the internal port.
    pub(super) fn external_agent_out(
        &mut self,
        port: PortRef,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        self.external_agent_walk(port, HOST_OFPORT, frame, tag);
    }

    /// `frame` arrived on `port` from the link: it enters at the uplink.
    pub(super) fn external_agent_in(
        &mut self,
        port: PortRef,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        self.external_agent_walk(port, UPLINK_OFPORT, frame, tag);
    }

    fn external_agent_walk(
        &mut self,
        port: PortRef,
        in_port: u32,
        frame: Vec<u8>,
        tag: Option<TraceTag>,
    ) {
        let now = self.now.as_nanos();
        let Some(rt) = self.ext_agents.get_mut(&port) else {
            return;
        };
        let switch = format!("br-int@{}", rt.name);
        let packet = match Packet::from_frame(in_port, &frame) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("unreadable frame on ofport {in_port}: {e}");
                self.drop_packet(tag, DropReason::BrInt { switch, why });
                return;
            }
        };
        let mut walk = rt
            .program
            .run(&mut rt.ct, &CtMode::Tracked, &packet, now, false);
        let iface = rt.iface.clone();
        let emitted = std::mem::take(&mut walk.emitted);
        let outs: Vec<(u32, Packet)> = walk
            .verdict
            .outputs
            .iter()
            .map(|o| o.port)
            .zip(emitted)
            .collect();
        // What the policies said, for the trace and a drop's reason.
        let super::br_int::PolicyVerdicts { allowed, denied } =
            super::br_int::PolicyVerdicts::of_rules(&self.policy_catalog, &walk.conjunctions);
        let rejected = walk
            .packet_ins
            .iter()
            .filter_map(PolicyPacketIn::of)
            .any(|p| p.ops & PACKET_IN_REJECT != 0);
        if let Some(t) = tag {
            for a in &allowed {
                self.add_hop(t, &switch, format!("NetworkPolicy: {a}"), None);
            }
            let name = |o: u32| match o {
                HOST_OFPORT => format!("{o}({iface})"),
                UPLINK_OFPORT => format!("{o}({iface}~)"),
                _ => o.to_string(),
            };
            let what: Vec<String> = outs
                .iter()
                .map(|(o, _)| format!("output:{}", name(*o)))
                .collect();
            let what = if what.is_empty() {
                "drop".to_string()
            } else {
                what.join(",")
            };
            self.add_hop(
                t,
                &switch,
                format!("in {} program -> {what}", name(in_port)),
                None,
            );
        }
        for (ofport, out) in outs {
            let Some(bytes) = self.output_frame(&out, &frame, ofport, &switch, tag) else {
                continue;
            };
            match ofport {
                UPLINK_OFPORT => self.transmit(port, bytes, tag, false),
                HOST_OFPORT => self.host_receive(port, bytes, tag),
                other => {
                    let why = format!("output to ofport {other}, which has no port here");
                    self.drop_packet(
                        tag,
                        DropReason::BrInt {
                            switch: switch.clone(),
                            why,
                        },
                    );
                }
            }
        }
        if !walk.verdict.outputs.is_empty() {
            return;
        }
        let reason = match denied {
            Some(verdict) => DropReason::Policy {
                switch: switch.clone(),
                verdict,
            },
            None => DropReason::BrInt {
                switch: switch.clone(),
                why: format!("dropped by the program ({})", packet.to_trace_flow()),
            },
        };
        self.drop_packet(tag, reason);
        if rejected {
            self.external_agent_reject(port, in_port, &frame, tag);
        }
    }

    /// The agent's answer to a Reject: from the packet's destination back
    /// to its source, the way it came.
    fn external_agent_reject(
        &mut self,
        port: PortRef,
        in_port: u32,
        frame: &[u8],
        tag: Option<TraceTag>,
    ) {
        let Some((eth, ip)) = wire::parse_eth(frame)
            .ok()
            .and_then(|(eth, b)| Some((eth, Ipv4Pkt::parse(b).ok()?)))
        else {
            return;
        };
        let Some(bytes) = super::br_int::reject_frame(&eth, &ip) else {
            return;
        };
        let reply_tag = tag.map(TraceTag::as_reply);
        if in_port == UPLINK_OFPORT {
            self.transmit(port, bytes, reply_tag, false);
        } else {
            self.host_receive(port, bytes, reply_tag);
        }
    }
}

/// The agents by the VM interface they hold.
pub(super) type ExtAgents = BTreeMap<PortRef, ExtAgentRt>;
