//! Real mode's answers to the expectation judge (`sim_core::scenario::judge`):
//! the [`Observe`] trait over what [`crate::observe`] reads from the kernel
//! and OVS and what [`crate::traffic`]'s probes saw. Facts about the API
//! (an Egress's status and IP, a Service's external IP) come from the
//! simulator's cluster state, as real mode has no API server.
//!
//! What real mode cannot see is said so: failure reasons (the kernel's
//! words are not the simulator's), which proxy load-balanced a request,
//! the path of a reply, and ARP states (Linux's neighbour timers are
//! random).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sim_core::engine::ClusterState;
use sim_core::model::{DeviceKind, HostRole, MacAddr};
use sim_core::scenario::judge::{
    ArpSeen, EgressNode, EgressSeen, HeldIp, Observe, ProbeSeen, Seen,
};
use sim_core::scenario::{ExpectKind, Scenario};
use sim_core::sim::probe::{Attempt, last_finished};

use crate::lab::Lab;
use crate::observe;
use crate::traffic::{ProbeHandle, RealProbeKind, from_epoch, since_epoch, timeout_of};

/// How much longer than a probe's timeout an expectation waits for the
/// verdict of the last attempt sent before it.
const SETTLE_GRACE: Duration = Duration::from_millis(500);

/// The lab observed at one `expect` step.
pub struct RealObserver<'a> {
    scn: &'a Scenario,
    lab: &'a Lab,
    cluster: &'a ClusterState,
    epoch: Instant,
    /// Every probe's finished attempts sent up to the step.
    probes: BTreeMap<&'a str, (&'a ProbeHandle, Vec<Attempt>)>,
}

impl<'a> RealObserver<'a> {
    /// The lab at `at` (since `epoch`), for judging `kind`: if it is about a
    /// probe, the last attempt sent before `at` gets its verdict first (a
    /// silent drop takes the probe's timeout to show).
    pub fn new(
        scn: &'a Scenario,
        lab: &'a Lab,
        cluster: &'a ClusterState,
        probes: &'a BTreeMap<String, ProbeHandle>,
        epoch: Instant,
        at: Duration,
        kind: &ExpectKind,
    ) -> Self {
        if let ExpectKind::Probe { probe, .. } = kind
            && let Some(p) = probes.get(probe)
        {
            p.settle(at, p.timeout + SETTLE_GRACE);
        }
        let upto = since_epoch(at);
        let probes = probes
            .iter()
            .map(|(name, p)| {
                let sent: Vec<Attempt> = p
                    .snapshot()
                    .into_iter()
                    .filter(|a| a.sent <= upto)
                    .collect();
                (name.as_str(), (p, sent))
            })
            .collect();
        RealObserver {
            scn,
            lab,
            cluster,
            epoch,
            probes,
        }
    }

    /// How far back what destinations and gateways saw counts: since the
    /// last attempt was sent, and a little before (the clocks are one, the
    /// sets' ages are in milliseconds).
    fn within(&self, attempts: &[Attempt]) -> Duration {
        last_finished(attempts).map_or(Duration::ZERO, |a| {
            self.epoch.elapsed().saturating_sub(from_epoch(a.sent)) + Duration::from_millis(100)
        })
    }

    /// Who holds `ip` in the kernel (nobody if there is no address).
    fn holders(&self, ip: Option<Ipv4Addr>) -> Vec<String> {
        ip.map(|i| observe::address_holders(self.lab, i))
            .unwrap_or_default()
    }
}

impl Observe for RealObserver<'_> {
    fn name(&self) -> &str {
        "real"
    }

    fn is_node(&self, name: &str) -> bool {
        self.cluster.node_id(name).is_some()
    }

    fn egress(&self, name: &str) -> Option<EgressSeen> {
        let e = self.cluster.egress.egresses.get(name)?;
        Some(EgressSeen {
            held: HeldIp {
                ip: e.ip,
                holders: self.holders(e.ip),
            },
            // `kubectl get egress` shows the status: for a static Egress
            // whose IP no node has, none.
            status_ip: e.status.egress_ip,
            node: EgressNode::Holders,
        })
    }

    fn service_external_ip(&self, key: &str) -> Option<HeldIp> {
        let s = self.cluster.services.get(key)?;
        Some(HeldIp {
            ip: s.lb_ip,
            holders: self.holders(s.lb_ip),
        })
    }

    fn iface_mac(&self, device: &str, iface: &str) -> Result<MacAddr, String> {
        let topo = &self.lab.topology;
        let id = topo
            .device_id(device)
            .ok_or_else(|| format!("no device `{device}`"))?;
        let h = topo
            .host(id)
            .ok_or_else(|| format!("{device} has no interfaces"))?;
        h.interfaces
            .iter()
            .find(|i| i.name == iface)
            .map(|i| i.mac)
            .ok_or_else(|| format!("{device} has no interface {iface}"))
    }

    fn arp_entry(&self, device: &str, ip: Ipv4Addr) -> Result<Option<ArpSeen>, String> {
        if !self.lab.netns.contains_key(device) {
            return Err(match self.lab.topology.device_id(device) {
                Some(_) => format!("{device} has no ARP cache"),
                None => format!("no device {device}"),
            });
        }
        Ok(
            observe::arp_entry(self.lab, device, ip).map(|(mac, _state)| ArpSeen {
                // `(none)`: an entry still resolving.
                mac: mac.parse().ok(),
                state: Seen::Unobservable("timers differ"),
            }),
        )
    }

    fn route_next_hops(&self, device: &str, to: ipnet::Ipv4Net) -> Result<Vec<Ipv4Addr>, String> {
        if !self.lab.netns.contains_key(device) {
            return Err(match self.lab.topology.device_id(device) {
                Some(_) => format!("{device} does not route (no namespace)"),
                None => format!("no device {device}"),
            });
        }
        observe::route_next_hops(self.lab, device, to)
    }

    fn mac_entry(&self, switch: &str, vlan: u16, mac: MacAddr) -> Result<Option<String>, String> {
        if self.lab.topology.device_id(switch).is_none() {
            return Err(format!("no device {switch}"));
        }
        Ok(observe::mac_port(self.lab, switch, vlan, &mac.to_string()))
    }

    fn probe(&self, name: &str) -> Option<ProbeSeen<'_>> {
        self.probes.get(name).map(|(p, attempts)| ProbeSeen {
            attempts,
            timeout: timeout_of(p),
        })
    }

    fn seen_source(&self, probe: &str) -> Option<Ipv4Addr> {
        let (p, attempts) = self.probes.get(probe)?;
        match p.kind {
            // Pings carry no answer: the destination's observation set says.
            RealProbeKind::Ping { id, .. } => target_netns(self.scn, self.lab, p.to)
                .and_then(|ns| observe::ping_seen_source(&ns, id, self.within(attempts))),
            RealProbeKind::Tcp { .. } | RealProbeKind::Http { .. } => {
                last_finished(attempts).and_then(|a| a.seen_src)
            }
        }
    }

    fn request_vlans(&self, probe: &str) -> Vec<u16> {
        let Some((p, attempts)) = self.probes.get(probe) else {
            return Vec::new();
        };
        let (ping_id, tcp) = match p.kind {
            RealProbeKind::Ping { id, .. } => (Some(id), None),
            RealProbeKind::Tcp { port } | RealProbeKind::Http { port, .. } => {
                (None, Some((p.to, port)))
            }
        };
        observe::request_gateway_vlan(self.lab, ping_id, tcp, self.within(attempts))
            .into_iter()
            .collect()
    }

    fn failure_reason(&self, _probe: &str) -> Seen<Option<String>> {
        Seen::Unobservable("")
    }

    fn balanced_by(&self, _probe: &str) -> Seen<Vec<String>> {
        Seen::Unobservable("")
    }

    fn reply_path(&self, _probe: &str) -> Seen<Vec<String>> {
        Seen::Unobservable("")
    }
}

/// The namespace of the host (router or external) or Pod that owns `ip`:
/// where ping observations live.
fn target_netns(scn: &Scenario, lab: &Lab, ip: Ipv4Addr) -> Option<String> {
    let host = scn.topology.devices.iter().find_map(|d| match &d.kind {
        DeviceKind::Host(h) if matches!(h.role, HostRole::Router | HostRole::External) => h
            .interfaces
            .iter()
            .any(|i| i.addrs.iter().any(|a| a.addr() == ip))
            .then(|| d.name.clone()),
        _ => None,
    });
    match host {
        Some(h) => lab.netns.get(&h).cloned(),
        None => lab.pod_with_ip(ip).map(|(_, leg)| leg.netns.clone()),
    }
}
