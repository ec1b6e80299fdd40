//! What the judge asks of a lab: the [`Observe`] trait, and the shapes of
//! the facts it hands back. The simulator answers from its world and
//! cluster state ([`super::SimObserver`]); real mode answers from the
//! kernel, OVS and its probes (`datapath`'s `RealObserver`).
//!
//! Facts about the API (an Egress's status, a Service's external IP) come
//! from the cluster state on both sides: real mode has no API server and
//! takes the simulator's. Facts about the dataplane (who holds an address,
//! ARP and MAC tables, what probes saw) each side observes for itself.

use std::net::Ipv4Addr;

use crate::model::MacAddr;
use crate::sim::probe::Attempt;
use crate::time::SimDuration;

/// A fact as one side sees it, or that it cannot see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen<T> {
    Is(T),
    /// Not observable on this side; the reason, when it is worth telling
    /// (empty otherwise).
    Unobservable(&'static str),
}

/// An address the engine puts on one node (an Egress IP, a Service's
/// external IP), and the nodes holding it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldIp {
    /// The address; `None` until the engine gives one.
    pub ip: Option<Ipv4Addr>,
    /// The nodes holding it, in node order (more than one: their views
    /// disagree).
    pub holders: Vec<String>,
}

/// Which node an Egress is on, as one side can tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EgressNode {
    /// `status.egressNode` as the agents wrote it (what `kubectl get
    /// egress` shows): the simulator runs the API server.
    Status(Option<String>),
    /// The nodes holding its IP: real mode has no API server, so the kernel
    /// is the evidence. Between a holder's death and the takeover the two
    /// differ (README, "Known differences").
    Holders,
}

/// An Egress as one side sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressSeen {
    /// Its IP (the engine's) and who holds it.
    pub held: HeldIp,
    /// `status.egressIP`: for a static Egress no node has, none.
    pub status_ip: Option<Ipv4Addr>,
    pub node: EgressNode,
}

/// One ARP (neighbour) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpSeen {
    /// `None`: an entry without an address yet (INCOMPLETE, FAILED).
    pub mac: Option<MacAddr>,
    /// Its state as `ip neigh` names it (`REACHABLE`, `STALE`, ...); an
    /// expectation's state matches it in any case.
    pub state: Seen<String>,
}

/// A probe's attempts so far, as one side sent them.
#[derive(Clone, Copy, Debug)]
pub struct ProbeSeen<'a> {
    /// In the order sent; attempts still waiting for a verdict included.
    pub attempts: &'a [Attempt],
    /// How long an attempt may take: an outage still going on at the end
    /// lasts until the last attempt's timeout.
    pub timeout: SimDuration,
}

/// What the judge asks of a lab. "The last attempt" of a probe is the last
/// one sent that has its verdict ([`crate::sim::probe::last_finished`] of
/// [`Observe::probe`]'s attempts).
pub trait Observe {
    /// Who observes, for what it cannot see: "not observable for real".
    fn name(&self) -> &str;
    /// Whether `name` is a Kubernetes node of the lab.
    fn is_node(&self, name: &str) -> bool;
    /// Egress `name`; `None` if there is no such Egress.
    fn egress(&self, name: &str) -> Option<EgressSeen>;
    /// Service `key`'s (`namespace/name`) external IP and who holds it;
    /// `None` if there is no such Service.
    fn service_external_ip(&self, key: &str) -> Option<HeldIp>;
    /// The MAC of `device`'s interface `iface`.
    fn iface_mac(&self, device: &str, iface: &str) -> Result<MacAddr, String>;
    /// `device`'s ARP entry for `ip` (`Ok(None)`: none); an error if there
    /// is no such device or it has no ARP cache.
    fn arp_entry(&self, device: &str, ip: Ipv4Addr) -> Result<Option<ArpSeen>, String>;
    /// The port (as the topology names it) where `switch` learned `mac` in
    /// `vlan` (`Ok(None)`: not learned); an error if there is no such device.
    fn mac_entry(&self, switch: &str, vlan: u16, mac: MacAddr) -> Result<Option<String>, String>;
    /// The next hops `device` forwards exactly `to` through, sorted: its
    /// main table's usable routes of that prefix with the lowest metric
    /// (none: no such route); an error if there is no such device or it
    /// does not route.
    fn route_next_hops(&self, device: &str, to: ipnet::Ipv4Net) -> Result<Vec<Ipv4Addr>, String>;
    /// Probe `name`'s attempts; `None` if it was never started.
    fn probe(&self, name: &str) -> Option<ProbeSeen<'_>>;
    /// The source address the destination saw for the last attempt.
    fn seen_source(&self, probe: &str) -> Option<Ipv4Addr>;
    /// The VLANs the last attempt's request crossed (real mode: the one it
    /// reached the gateway on).
    fn request_vlans(&self, probe: &str) -> Vec<u16>;
    /// Why the last attempt failed, in the simulator's words (`None`: it
    /// did not fail).
    fn failure_reason(&self, probe: &str) -> Seen<Option<String>>;
    /// Who load-balanced the last attempt's request: `<proxy> on <node>`
    /// (`AntreaProxy on k8s-node-vm-1-cl-02`), in path order.
    fn balanced_by(&self, probe: &str) -> Seen<Vec<String>>;
    /// The devices the last attempt's reply went through.
    fn reply_path(&self, probe: &str) -> Seen<Vec<String>>;
}
