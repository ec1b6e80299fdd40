//! What an expectation means, in one place: [`judge`] decides each kind of
//! `expect` entry over an [`Observe`]r and says why, for the simulator
//! ([`SimObserver`]) and real mode (`datapath`'s `RealObserver`) alike.
//!
//! A judgement also lists the facts it looked at that both sides can
//! observe comparably ([`Judgement::observed`], normalised to text): what
//! `antlab run --mode both` compares field by field, so the comparison is
//! between observations, not between two verdicts. Some facts one side
//! cannot see ([`Seen::Unobservable`]): the check is skipped and the message
//! says so.
//!
//! - [`observe`]: the trait and the shapes of what it answers;
//! - [`sim`]: the simulator's observer, over its world and cluster state;
//! - `probe`: the probe expectation (last attempt, outages, answerers, ...);
//!   the outage is [`crate::sim::probe::longest_outage`], the one definition.

mod observe;
mod probe;
mod sim;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

pub use observe::{ArpSeen, EgressNode, EgressSeen, HeldIp, Observe, ProbeSeen, Seen};
pub use sim::SimObserver;

use super::load::{ExpectKind, MacRef};
use crate::model::MacAddr;

/// An expectation judged: whether it held and what was expected and seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    passed: bool,
    message: String,
    observed: Vec<Observed>,
}

impl Judgement {
    pub fn passed(&self) -> bool {
        self.passed
    }
    /// What `PASS`/`FAIL` lines print: what was expected, and if it failed,
    /// what was seen instead.
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn into_message(self) -> String {
        self.message
    }
    /// The facts looked at that both sides observe comparably, in the order
    /// looked at.
    pub fn observed(&self) -> &[Observed] {
        &self.observed
    }
}

/// One fact as a judgement saw it, normalised to text (`none` for nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    what: String,
    value: String,
}

impl Observed {
    pub fn new(what: impl Into<String>, value: impl Into<String>) -> Self {
        Observed {
            what: what.into(),
            value: value.into(),
        }
    }
    /// What it is: `Egress egress-vlan node`, `probe ping-ext last attempt ok`.
    pub fn what(&self) -> &str {
        &self.what
    }
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Judges `kind` now, on the side `obs` observes.
pub fn judge(obs: &dyn Observe, kind: &ExpectKind) -> Judgement {
    match kind {
        ExpectKind::Probe { .. } => probe::judge(obs, kind),
        ExpectKind::Arp {
            device,
            ip,
            mac,
            state,
        } => arp(obs, device, *ip, mac.as_ref(), state.as_deref()),
        ExpectKind::Mac {
            switch,
            vlan,
            mac,
            port,
            absent,
        } => mac_table(obs, switch, *vlan, mac, port.as_deref(), *absent),
        ExpectKind::Route { device, to, via } => route(obs, device, *to, via),
        ExpectKind::ServiceExternalIp { service, node, ip } => {
            service_external_ip(obs, service, node, ip)
        }
        ExpectKind::Egress {
            name,
            node,
            ip,
            held_by,
        } => egress(obs, name, node, ip, held_by.as_deref()),
    }
}

/// What one check expected, found wrong, observed and could not observe.
#[derive(Default)]
struct Notes {
    said: Vec<String>,
    problems: Vec<String>,
    observed: Vec<Observed>,
    unobservable: Vec<String>,
}

impl Notes {
    fn expect(&mut self, what: String) {
        self.said.push(what);
    }
    fn problem(&mut self, what: String) {
        self.problems.push(what);
    }
    fn observed(&mut self, what: String, value: String) {
        self.observed.push(Observed { what, value });
    }
    fn unobservable(&mut self, what: &str, why: &str) {
        self.unobservable.push(if why.is_empty() {
            what.to_string()
        } else {
            format!("{what} ({why})")
        });
    }
    /// What was expected, joined: `last ok, destination saw source ...`.
    fn said(&self) -> String {
        self.said.join(", ")
    }
    /// The judgement: `head` if nothing was wrong, else `head; but ...`,
    /// and what `obs` could not observe.
    fn finish(self, obs: &dyn Observe, head: String) -> Judgement {
        let passed = self.problems.is_empty();
        let mut message = head;
        if !passed {
            message.push_str(&format!("; but {}", self.problems.join("; ")));
        }
        if !self.unobservable.is_empty() {
            message.push_str(&format!(
                " (not observable for {}: {})",
                obs.name(),
                self.unobservable.join(", ")
            ));
        }
        Judgement {
            passed,
            message,
            observed: self.observed,
        }
    }
}

/// A judgement that could not look: no such probe, device, Egress, ...
fn refused(message: String) -> Judgement {
    Judgement {
        passed: false,
        message,
        observed: Vec::new(),
    }
}

fn or_none<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("none".to_string(), |x| x.to_string())
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A MAC written literally or as `device/iface`.
fn resolve_mac(obs: &dyn Observe, m: &MacRef) -> Result<MacAddr, String> {
    match m {
        MacRef::Literal(mac) => Ok(*mac),
        MacRef::Iface(r) => {
            let (dev, ifname) = r.rsplit_once('/').ok_or("expected device/iface")?;
            obs.iface_mac(dev, ifname)
        }
    }
}

/// `arp: {device, ip, mac, state}`.
fn arp(
    obs: &dyn Observe,
    device: &str,
    ip: Ipv4Addr,
    mac: Option<&MacRef>,
    state: Option<&str>,
) -> Judgement {
    let entry = match obs.arp_entry(device, ip) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    let want_mac = match mac.map(|m| resolve_mac(obs, m)).transpose() {
        Ok(m) => m,
        Err(e) => return refused(e),
    };
    let head = format!(
        "{device} ARP {ip}{}{}",
        want_mac.map_or(String::new(), |m| format!(" -> {m}")),
        state.map_or(String::new(), |s| format!(" {s}"))
    );
    let mut notes = Notes::default();
    let mac_text = |e: &ArpSeen| e.mac.map_or("(none)".into(), |m| m.to_string());
    notes.observed(
        format!("{device} ARP {ip}"),
        entry.as_ref().map_or("no entry".into(), mac_text),
    );
    let mac_ok = |e: &ArpSeen| want_mac.is_none_or(|m| e.mac == Some(m));
    let ok = match (state, &entry) {
        (Some("absent"), e) => e.is_none(),
        (_, None) => false,
        (Some("present") | None, Some(e)) => mac_ok(e),
        (Some(want), Some(e)) => match &e.state {
            Seen::Is(got) => got.eq_ignore_ascii_case(want) && mac_ok(e),
            Seen::Unobservable(why) => {
                notes.unobservable("ARP state", why);
                mac_ok(e)
            }
        },
    };
    if !ok {
        let found = entry
            .as_ref()
            .map_or("no entry".to_string(), |e| match &e.state {
                Seen::Is(s) => format!("{} {s}", mac_text(e)),
                Seen::Unobservable(_) => mac_text(e),
            });
        notes.problem(format!("found {found}"));
    }
    notes.finish(obs, head)
}

/// `mac: {switch, vlan, mac, port, absent}`.
fn mac_table(
    obs: &dyn Observe,
    switch: &str,
    vlan: u16,
    mac: &MacRef,
    port: Option<&str>,
    absent: bool,
) -> Judgement {
    let want = match resolve_mac(obs, mac) {
        Ok(m) => m,
        Err(e) => return refused(e),
    };
    let found = match obs.mac_entry(switch, vlan, want) {
        Ok(f) => f,
        Err(e) => return refused(e),
    };
    let head = format!(
        "{switch} MAC table vlan {vlan} {want}{}",
        if absent {
            " absent".to_string()
        } else {
            port.map_or(String::new(), |p| format!(" on {p}"))
        }
    );
    let ok = match (absent, &found, port) {
        (true, f, _) => f.is_none(),
        (false, Some(f), Some(p)) => f == p,
        (false, Some(_), None) => true,
        (false, None, _) => false,
    };
    let mut notes = Notes::default();
    if !ok {
        notes.problem(format!(
            "found {}",
            found.unwrap_or_else(|| "no entry".into())
        ));
    }
    notes.finish(obs, head)
}

/// `route: {device, to, via}`: the next hops `device` forwards `to` through.
fn route(obs: &dyn Observe, device: &str, to: ipnet::Ipv4Net, via: &[Ipv4Addr]) -> Judgement {
    let list = |hops: &[Ipv4Addr]| -> String {
        if hops.is_empty() {
            "no route".to_string()
        } else {
            hops.iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let found = match obs.route_next_hops(device, to) {
        Ok(f) => f,
        Err(e) => return refused(e),
    };
    let head = if via.is_empty() {
        format!("{device} has no route to {to}")
    } else {
        format!("{device} routes {to} via {}", list(via))
    };
    let mut notes = Notes::default();
    notes.observed(format!("{device} next hops for {to}"), list(&found));
    if found != via {
        notes.problem(format!("found {}", list(&found)));
    }
    notes.finish(obs, head)
}

/// `serviceExternalIP: {service, node, ip}`: the nodes answering for the
/// Service's external IP.
fn service_external_ip(
    obs: &dyn Observe,
    service: &str,
    node: &Option<Option<String>>,
    ip: &Option<Option<Ipv4Addr>>,
) -> Judgement {
    let Some(held) = obs.service_external_ip(service) else {
        return refused(format!("Service {service} does not exist"));
    };
    let mut notes = Notes::default();
    notes.observed(format!("{service} external IP"), or_none(held.ip));
    notes.observed(
        format!("{service} external IP owner"),
        list_or_none(&held.holders),
    );
    if let Some(want) = node {
        notes.expect(format!("owned by {}", want.as_deref().unwrap_or("no node")));
        if !held_by_exactly(&held.holders, want.as_deref()) {
            notes.problem(if held.holders.is_empty() {
                "owned by no node".to_string()
            } else {
                format!("owned by {}", held.holders.join(" and "))
            });
        }
    }
    if let Some(want) = ip {
        notes.expect(format!("external IP {}", or_none(*want)));
        if held.ip != *want {
            notes.problem(format!("external IP is {}", or_none(held.ip)));
        }
    }
    let head = format!("ServiceExternalIP of {service} {}", notes.said());
    notes.finish(obs, head)
}

/// `egress: {name, node, ip}`: the Egress's node and IP (see [`EgressNode`]
/// for what "its node" is on each side).
fn egress(
    obs: &dyn Observe,
    name: &str,
    node: &Option<Option<String>>,
    ip: &Option<Option<Ipv4Addr>>,
    held_by: Option<&[String]>,
) -> Judgement {
    let Some(seen) = obs.egress(name) else {
        return refused(format!("Egress {name} does not exist"));
    };
    if let Some(Some(n)) = node
        && !obs.is_node(n)
    {
        return refused(format!(
            "Egress {name}: `{n}` is not a Kubernetes node of the topology"
        ));
    }
    let mut notes = Notes::default();
    notes.observed(format!("Egress {name} IP"), or_none(seen.held.ip));
    notes.observed(
        format!("Egress {name} node"),
        list_or_none(&seen.held.holders),
    );
    if let Some(want) = node {
        notes.expect(format!("on {}", want.as_deref().unwrap_or("no node")));
        match &seen.node {
            EgressNode::Status(status) => {
                if status != want {
                    notes.problem(format!(
                        "status.egressNode is {}",
                        status.as_deref().unwrap_or("empty")
                    ));
                }
            }
            EgressNode::Holders => {
                if !held_by_exactly(&seen.held.holders, want.as_deref()) {
                    notes.problem(format!("IP held by {}", list_or_none(&seen.held.holders)));
                }
            }
        }
    }
    if let Some(want) = held_by {
        notes.expect(format!("held by {}", list_or_none(want)));
        let mut seen_by = seen.held.holders.clone();
        seen_by.sort();
        if seen_by != want {
            notes.problem(format!("IP held by {}", list_or_none(&seen_by)));
        }
    }
    if let Some(want) = ip {
        notes.expect(format!("IP {}", or_none(*want)));
        if seen.status_ip != *want {
            notes.problem(format!(
                "status.egressIP is {}",
                seen.status_ip
                    .map_or("empty".to_string(), |i| i.to_string())
            ));
        }
    }
    let head = format!("Egress {name} {}", notes.said());
    notes.finish(obs, head)
}

/// `want`: held by that node alone; `None`: by no node.
fn held_by_exactly(holders: &[String], want: Option<&str>) -> bool {
    match want {
        None => holders.is_empty(),
        Some(n) => holders.len() == 1 && holders[0] == n,
    }
}
