//! The judge over a fake lab: each expectation kind passing and failing,
//! the observed fields `--mode both` compares, what a side cannot observe,
//! and the one outage definition. This file is the fake lab; `probe` tests
//! the probe expectation and outages, `state` the ARP, MAC, Egress and
//! ServiceExternalIP expectations.

mod probe;
mod state;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::*;
use crate::scenario::load::ExpectKind;
use crate::sim::probe::{Attempt, Hop, Verdict, longest_outage};
use crate::time::{SimDuration, SimTime};

/// A lab that answers whatever the test wrote into it.
#[derive(Default)]
struct FakeLab {
    /// `None`: "the fake" (every fact observable).
    name: Option<&'static str>,
    nodes: Vec<&'static str>,
    egresses: BTreeMap<String, EgressSeen>,
    services: BTreeMap<String, HeldIp>,
    ifaces: BTreeMap<(String, String), MacAddr>,
    /// Devices with an ARP cache, and their entries.
    arp: BTreeMap<String, Vec<(Ipv4Addr, ArpSeen)>>,
    /// (switch, vlan, mac) → port; `switches` lists the switches.
    switches: Vec<&'static str>,
    macs: BTreeMap<(String, u16, MacAddr), String>,
    /// Devices that route, and their next hops by exact prefix.
    routes: BTreeMap<String, BTreeMap<ipnet::Ipv4Net, Vec<Ipv4Addr>>>,
    probes: BTreeMap<String, (Vec<Attempt>, SimDuration)>,
    seen_source: Option<Ipv4Addr>,
    vlans: Vec<u16>,
    balanced_by: Vec<String>,
    reply_path: Vec<String>,
    /// Like real mode: no failure reasons, load balancers or reply paths.
    blind: bool,
}

impl FakeLab {
    fn last(&self, probe: &str) -> Option<&Attempt> {
        self.probes
            .get(probe)
            .and_then(|(a, _)| crate::sim::probe::last_finished(a))
    }
}

impl Observe for FakeLab {
    fn name(&self) -> &str {
        self.name.unwrap_or("the fake")
    }
    fn is_node(&self, name: &str) -> bool {
        self.nodes.contains(&name)
    }
    fn egress(&self, name: &str) -> Option<EgressSeen> {
        self.egresses.get(name).cloned()
    }
    fn service_external_ip(&self, key: &str) -> Option<HeldIp> {
        self.services.get(key).cloned()
    }
    fn iface_mac(&self, device: &str, iface: &str) -> Result<MacAddr, String> {
        self.ifaces
            .get(&(device.to_string(), iface.to_string()))
            .copied()
            .ok_or_else(|| format!("{device} has no interface {iface}"))
    }
    fn arp_entry(&self, device: &str, ip: Ipv4Addr) -> Result<Option<ArpSeen>, String> {
        let entries = self
            .arp
            .get(device)
            .ok_or_else(|| format!("no device {device}"))?;
        Ok(entries
            .iter()
            .find(|(i, _)| *i == ip)
            .map(|(_, e)| e.clone()))
    }
    fn mac_entry(&self, switch: &str, vlan: u16, mac: MacAddr) -> Result<Option<String>, String> {
        if !self.switches.contains(&switch) {
            return Err(format!("no device {switch}"));
        }
        Ok(self.macs.get(&(switch.to_string(), vlan, mac)).cloned())
    }
    fn route_next_hops(&self, device: &str, to: ipnet::Ipv4Net) -> Result<Vec<Ipv4Addr>, String> {
        let table = self
            .routes
            .get(device)
            .ok_or_else(|| format!("no device {device}"))?;
        Ok(table.get(&to).cloned().unwrap_or_default())
    }
    fn probe(&self, name: &str) -> Option<ProbeSeen<'_>> {
        self.probes.get(name).map(|(attempts, timeout)| ProbeSeen {
            attempts,
            timeout: *timeout,
        })
    }
    fn seen_source(&self, _probe: &str) -> Option<Ipv4Addr> {
        self.seen_source
    }
    fn request_vlans(&self, _probe: &str) -> Vec<u16> {
        self.vlans.clone()
    }
    fn failure_reason(&self, probe: &str) -> Seen<Option<String>> {
        if self.blind {
            return Seen::Unobservable("");
        }
        Seen::Is(match self.last(probe).map(|a| &a.verdict) {
            Some(Verdict::Fail { reason }) => Some(reason.clone()),
            _ => None,
        })
    }
    fn balanced_by(&self, _probe: &str) -> Seen<Vec<String>> {
        if self.blind {
            return Seen::Unobservable("");
        }
        Seen::Is(self.balanced_by.clone())
    }
    fn reply_path(&self, _probe: &str) -> Seen<Vec<String>> {
        if self.blind {
            return Seen::Unobservable("");
        }
        Seen::Is(self.reply_path.clone())
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}
fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn verdict(lab: &FakeLab, kind: &ExpectKind) -> (bool, String) {
    let j = judge(lab, kind);
    (j.passed, j.message)
}
