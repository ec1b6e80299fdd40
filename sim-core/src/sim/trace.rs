//! What the simulator tells the outside: event-log entries, drop verdicts and
//! per-packet trace tags.
//!
//! A [`TraceTag`] rides along with a probe's packets (never on the wire: it is
//! observation metadata, like a Traceflow tag) so hops, drops and arrivals can be
//! attributed to the probe attempt that caused them.

use std::fmt;
use std::net::Ipv4Addr;

use crate::time::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct TraceTag {
    pub(super) probe: u32,
    pub(super) attempt: u32,
    /// The answer travelling back (echo reply, SYN-ACK/RST).
    pub(super) reply: bool,
}

impl TraceTag {
    pub fn as_reply(self) -> TraceTag {
        TraceTag {
            reply: true,
            ..self
        }
    }
}

/// Why a packet died, in words a network engineer would use.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum DropReason {
    NoRoute {
        device: String,
        dst: Ipv4Addr,
    },
    ArpIncomplete {
        device: String,
        ip: Ipv4Addr,
        /// What happened to the ARP requests, when the network dropped them.
        cause: Option<String>,
    },
    VlanNotAllowed {
        switch: String,
        port: String,
        vlan: Option<u16>,
    },
    NoVlanInterface {
        device: String,
        vid: u16,
    },
    LinkDown {
        device: String,
        port: String,
    },
    PoweredOff {
        device: String,
    },
    TtlExceeded {
        device: String,
    },
    NotForwarding {
        device: String,
        dst: Ipv4Addr,
    },
    /// A Service with no usable endpoint: the proxy rejects the connection.
    NoEndpoints {
        device: String,
        service: String,
        by: String,
    },
    /// A reply whose source is not the address the client sent to (NAT not undone).
    WrongReplySource {
        device: String,
        expected: Ipv4Addr,
        got: Ipv4Addr,
    },
    PortUnreachable {
        device: String,
        port: u16,
    },
    /// A br-int that executes its OpenFlow program dropped the packet, or
    /// sent it to the controller (which the lab does not run).
    BrInt {
        switch: String,
        why: String,
    },
    /// A NetworkPolicy verdict in a br-int's program: which policy, rule,
    /// Tier and action dropped (or rejected) the packet.
    Policy {
        switch: String,
        verdict: String,
    },
    /// Bigger than the output interface's MTU with DF set (every packet the
    /// lab sends has it): a router answers ICMP need-frag, a sender gets
    /// `EMSGSIZE`.
    TooBig {
        device: String,
        iface: String,
        len: usize,
        mtu: u32,
        forwarded: bool,
    },
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::NoRoute { device, dst } => write!(f, "no route to {dst} on {device}"),
            DropReason::ArpIncomplete { device, ip, cause } => {
                write!(f, "ARP incomplete: {device} got no answer for {ip}")?;
                match cause {
                    Some(c) => write!(f, " (its ARP requests were dropped: {c})"),
                    None => Ok(()),
                }
            }
            DropReason::VlanNotAllowed {
                switch,
                port,
                vlan: Some(v),
            } => {
                write!(f, "VLAN {v} not allowed on {switch} port {port}")
            }
            DropReason::VlanNotAllowed {
                switch,
                port,
                vlan: None,
            } => {
                write!(
                    f,
                    "untagged frame refused on {switch} port {port} (no native VLAN)"
                )
            }
            DropReason::NoVlanInterface { device, vid } => {
                write!(f, "{device} has no interface for VLAN {vid}")
            }
            DropReason::LinkDown { device, port } => write!(f, "link down at {device}/{port}"),
            DropReason::PoweredOff { device } => write!(f, "{device} is powered off"),
            DropReason::TtlExceeded { device } => write!(f, "TTL exceeded at {device}"),
            DropReason::NotForwarding { device, dst } => {
                write!(f, "{device} does not forward (packet to {dst})")
            }
            DropReason::NoEndpoints {
                device,
                service,
                by,
            } => {
                write!(
                    f,
                    "Service {service} has no endpoints: {by} on {device} rejected the connection"
                )
            }
            DropReason::TooBig {
                device,
                iface,
                len,
                mtu,
                forwarded: false,
            } => write!(
                f,
                "local error: message too long, mtu={mtu} ({len}-byte packet out {iface} on {device})"
            ),
            DropReason::TooBig {
                device,
                iface,
                len,
                mtu,
                forwarded: true,
            } => write!(
                f,
                "{device} cannot forward a {len}-byte packet out {iface} (mtu {mtu}, DF set): ICMP need-frag sent"
            ),
            DropReason::WrongReplySource {
                device,
                expected,
                got,
            } => {
                write!(
                    f,
                    "{device} got its reply from {got}, not {expected} (NAT not undone)"
                )
            }
            DropReason::PortUnreachable { device, port } => {
                write!(f, "connection refused by {device} (TCP port {port} closed)")
            }
            DropReason::BrInt { switch, why } => write!(f, "{switch}: {why}"),
            DropReason::Policy { switch, verdict } => write!(f, "{switch}: {verdict}"),
        }
    }
}

/// The kinds of event-log entries; `antlab run` filters on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A scenario step started.
    Step,
    /// A frame crossed a link (only in verbose/JSON output).
    Frame,
    Arp,
    Mac,
    Route,
    Nat,
    Drop,
    Power,
    Link,
    Probe,
    Engine,
    Show,
    Expect,
    Warn,
    /// An audit log line (`enableLogging`), as the agent writes it to
    /// `/var/log/antrea/networkpolicy/np.log` on the node.
    Audit,
    /// A BGP speaker's session or table changed.
    Bgp,
}

impl LogKind {
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Step => "step",
            LogKind::Frame => "frame",
            LogKind::Arp => "arp",
            LogKind::Mac => "mac",
            LogKind::Route => "route",
            LogKind::Nat => "nat",
            LogKind::Drop => "drop",
            LogKind::Power => "power",
            LogKind::Link => "link",
            LogKind::Probe => "probe",
            LogKind::Engine => "engine",
            LogKind::Show => "show",
            LogKind::Expect => "expect",
            LogKind::Warn => "warn",
            LogKind::Audit => "audit",
            LogKind::Bgp => "bgp",
        }
    }
}

/// One line of the event log. The log is the determinism artefact: same seed,
/// same entries, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    pub time: SimTime,
    pub kind: LogKind,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub device: String,
    pub message: String,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.device.is_empty() {
            write!(
                f,
                "[{:>16}] {:<6} {}",
                self.time.to_string(),
                self.kind.name(),
                self.message
            )
        } else {
            write!(
                f,
                "[{:>16}] {:<6} {}: {}",
                self.time.to_string(),
                self.kind.name(),
                self.device,
                self.message
            )
        }
    }
}
