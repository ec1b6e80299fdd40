//! A router's BGP speaker as the topology configures it (an FRR `router bgp`
//! block in spirit): its ASN and router ID, whom it peers with, how many
//! equal paths it installs, its timers and BFD.
//!
//! Defaults are FRR 8.4's (Debian bookworm, the router real mode runs):
//! keepalive 60 s and hold 180 s (`bgp timers`), connect retry 120 s,
//! `maximum-paths` 1 for eBGP (one next hop per prefix unless raised), BFD
//! off; with BFD on, bfdd's 300 ms intervals and detect multiplier 3.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::time::SimDuration;

/// FRR's keepalive interval (`bgp timers 60 180`).
pub const DEFAULT_KEEPALIVE: SimDuration = SimDuration::from_secs(60);
/// FRR's hold time.
pub const DEFAULT_HOLD: SimDuration = SimDuration::from_secs(180);
/// FRR's connect-retry timer (`neighbor ... timers connect 120`).
pub const DEFAULT_CONNECT_RETRY: SimDuration = SimDuration::from_secs(120);
/// bfdd's default transmit and receive interval.
pub const DEFAULT_BFD_INTERVAL: SimDuration = SimDuration::from_millis(300);
/// bfdd's default detect multiplier.
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;

/// One router's BGP configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpRouterSpec {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub peers: BgpPeers,
    /// Equal best paths installed together (`maximum-paths`).
    pub maximum_paths: u8,
    pub keepalive: SimDuration,
    pub hold: SimDuration,
    pub connect_retry: SimDuration,
    pub bfd: Option<BfdSpec>,
}

/// Whom the router peers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BgpPeers {
    /// `neighbor ADDRESS remote-as ...` for each.
    Listed(Vec<BgpNeighborSpec>),
    /// `bgp listen range PREFIX`: whoever connects from it (dynamic
    /// neighbours; the nodes open the sessions).
    Range {
        prefix: Ipv4Net,
        remote_as: RemoteAs,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpNeighborSpec {
    pub address: Ipv4Addr,
    pub remote_as: RemoteAs,
}

/// `remote-as`: an ASN, or any other AS (`external`) or the router's own
/// (`internal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAs {
    Asn(u32),
    External,
    Internal,
}

impl RemoteAs {
    /// Whether a peer announcing `asn` is accepted by a router of `own` ASN.
    pub fn accepts(self, own: u32, asn: u32) -> bool {
        match self {
            RemoteAs::Asn(a) => a == asn,
            RemoteAs::External => asn != own,
            RemoteAs::Internal => asn == own,
        }
    }
}

impl BgpRouterSpec {
    /// The BFD the router's sessions run: the topology's `bgp.bfd`, else
    /// bfdd's defaults when the switch has BFD on (`bfd: true`, or the
    /// scenario's `options.bfd`).
    pub fn bfd_with(&self, switch_bfd: bool) -> Option<BfdSpec> {
        self.bfd.or(switch_bfd.then_some(BfdSpec {
            interval: DEFAULT_BFD_INTERVAL,
            multiplier: DEFAULT_BFD_MULTIPLIER,
        }))
    }

    /// The address its neighbours peer with: the first of `addrs` (the
    /// router's interface addresses) on the listen range's or the first
    /// neighbour's subnet, else the router ID.
    pub fn peering_address<'a>(&self, mut addrs: impl Iterator<Item = &'a Ipv4Net>) -> Ipv4Addr {
        let towards = match &self.peers {
            BgpPeers::Range { prefix, .. } => Some(prefix.network()),
            BgpPeers::Listed(list) => list.first().map(|n| n.address),
        };
        addrs
            .find(|a| towards.is_some_and(|t| a.contains(&t)))
            .map(Ipv4Net::addr)
            .unwrap_or(self.router_id)
    }
}

/// BFD on the router's BGP sessions (RFC 5880's asynchronous mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdSpec {
    pub interval: SimDuration,
    pub multiplier: u8,
}

impl BfdSpec {
    /// How long without a control packet before the session is down.
    pub fn detection_time(self) -> SimDuration {
        SimDuration(self.interval.as_nanos() * u64::from(self.multiplier))
    }
}
