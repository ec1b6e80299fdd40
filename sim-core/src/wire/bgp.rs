//! BGP-4 messages (RFC 4271 §4): the bytes a simulated BGP speaker sends its
//! peers over TCP, as typed values.
//!
//! [`BgpMessage`] is one whole message: OPEN with its capabilities, UPDATE with
//! its path attributes and IPv4 prefixes, NOTIFICATION, KEEPALIVE, and the
//! ROUTE-REFRESH a peer may send once the Route Refresh capability is
//! advertised (RFC 2918 §3). [`BgpMessage::parse`] reads exactly one message;
//! a TCP byte stream is cut into messages with [`message_len`].
//! [`BgpMessage::to_bytes`] writes one, refusing any value that would not read
//! back as itself, so that every message it accepts round-trips byte for byte.
//!
//! Decisions, each tested below:
//! - **AS width.** Whether AS numbers in AS_PATH take two or four octets is a
//!   property of the session (RFC 6793 §4.1: four only when both speakers
//!   advertised the 4-octet AS capability), so UPDATE parsing and writing take
//!   `four_octet_as`. AS numbers are `u32` in the values; writing one above
//!   65535 on a two-octet session is refused: substituting AS_TRANS and adding
//!   AS4_PATH towards a two-octet speaker (RFC 6793 §4.2) is the speaker's job,
//!   not the codec's. AS4_PATH and AS4_AGGREGATOR are kept as
//!   [`PathAttribute::Unknown`].
//! - **Prefix host bits.** RFC 4271 §4.3 says the trailing bits of a prefix's
//!   last octet are irrelevant, so parsing clears them (10.244.31.0/20 reads as
//!   10.244.16.0/20). Writing a prefix with host bits set is refused: it is a
//!   caller's mistake (a node address where its CIDR was meant), and refusing it
//!   keeps the round trip exact. A prefix length above 32 is malformed.
//! - **Errors.** A parse failure is a [`BgpParseError`]: the crate's
//!   [`WireError`] (`Truncated` only when the buffer is shorter than the header's
//!   Length; any inner length field that overruns its field is `Malformed`) and
//!   the NOTIFICATION that RFC 4271 §6 says to answer it with, data included
//!   where §6 asks for it. The session's FSM sends that NOTIFICATION.
//!   Checks that need session state (peer AS, our own identifier, semantic
//!   NEXT_HOP checks) are left to the FSM, and so is RFC 7606's
//!   treat-as-withdraw: this codec reports every UPDATE error as §6.3 does.
//! - **What is normalised.** Optional Parameters: any number of Capabilities
//!   parameters, each with one or more capabilities, read as one list, written
//!   as one parameter (RFC 5492 §4 allows both). Typed path attributes are
//!   written with their RFC flags and the Extended Length bit only when the value
//!   needs it (RFC 4271 §4.3); unknown attributes keep their flags byte as
//!   received. Reserved fields and bits (the MP capability's reserved octet,
//!   Graceful Restart flags other than R and F) are read as "ignored by the
//!   receiver" and written as zero.
//! - **Not modelled** (refused as the RFCs say for what a speaker does not
//!   support): BGP versions other than 4, Optional Parameters other than
//!   Capabilities (including RFC 9072's extended form), AS_PATH confederation
//!   segments (RFC 5065), messages longer than 4096 bytes (RFC 8654).

use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::WireError;

/// Bytes in the message header: Marker 16, Length 2, Type 1 (RFC 4271 §4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message, header included (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The only BGP version this codec speaks (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;
/// The two-octet AS number that stands in for a four-octet one, in OPEN's My
/// Autonomous System and in AS_PATH towards a two-octet speaker (RFC 6793 §3).
pub const AS_TRANS: u16 = 23456;
/// Largest Graceful Restart time: the field is 12 bits (RFC 4724 §3).
pub const MAX_RESTART_TIME: u16 = 0x0fff;

/// The marker is 16 octets of all ones (RFC 4271 §4.1).
const MARKER: [u8; 16] = [0xff; 16];
/// Offset of the Length field, right after the marker.
const LENGTH_AT: usize = 16;
/// Optional Parameter type of Capabilities (RFC 5492 §4).
const CAPABILITIES_PARAMETER: u8 = 2;

/// Capability codes this codec types (IANA "Capability Codes").
pub mod capability_code {
    /// Multiprotocol Extensions (RFC 4760 §8).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918 §2).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Graceful Restart (RFC 4724 §3).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS numbers (RFC 6793 §3).
    pub const FOUR_OCTET_AS: u8 = 65;
}

/// Path attribute type codes this codec types (RFC 4271 §4.3, §5.1).
pub mod attribute_code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
}

/// Bits of the Attribute Flags octet (RFC 4271 §4.3); the low four are unused.
pub mod attribute_flag {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    /// The Attribute Length field is two octets instead of one.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// The flag bits that say what kind of attribute it is; the Extended Length
/// bit only says how its length is written.
const KIND_FLAGS: u8 =
    attribute_flag::OPTIONAL | attribute_flag::TRANSITIVE | attribute_flag::PARTIAL;
/// Flags of a well-known attribute: transitive, not partial (RFC 4271 §4.3, §5).
const WELL_KNOWN_FLAGS: u8 = attribute_flag::TRANSITIVE;
/// Flags of an optional non-transitive attribute such as MULTI_EXIT_DISC.
const OPTIONAL_NON_TRANSITIVE_FLAGS: u8 = attribute_flag::OPTIONAL;

/// NOTIFICATION error codes (RFC 4271 §4.5).
pub mod error_code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FINITE_STATE_MACHINE: u8 = 5;
    pub const CEASE: u8 = 6;
}

/// Message Header Error subcodes (RFC 4271 §4.5, §6.1).
pub mod header_error {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §4.5, §6.2; 7 from RFC 5492 §5).
pub mod open_error {
    /// A recognised optional parameter that is malformed (RFC 4271 §6.2).
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// UPDATE Message Error subcodes (RFC 4271 §4.5, §6.3).
pub mod update_error {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes (RFC 4486 §4).
pub mod cease {
    pub const MAXIMUM_NUMBER_OF_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// RFC 9384 §3: the session's BFD went down (FRR sends it).
    pub const BFD_DOWN: u8 = 10;
}

/// Names of the error codes, as RFC 4271 §4.5 writes them.
const ERROR_CODE_NAMES: [(u8, &str); 6] = [
    (error_code::MESSAGE_HEADER, "Message Header Error"),
    (error_code::OPEN_MESSAGE, "OPEN Message Error"),
    (error_code::UPDATE_MESSAGE, "UPDATE Message Error"),
    (error_code::HOLD_TIMER_EXPIRED, "Hold Timer Expired"),
    (
        error_code::FINITE_STATE_MACHINE,
        "Finite State Machine Error",
    ),
    (error_code::CEASE, "Cease"),
];

/// Names of the subcodes, as RFC 4271 §4.5, RFC 5492 §5 and RFC 4486 §4 write them.
const SUBCODE_NAMES: [(u8, u8, &str); 28] = {
    use error_code::{CEASE, MESSAGE_HEADER, OPEN_MESSAGE, UPDATE_MESSAGE};
    use {cease::*, header_error::*, open_error::*, update_error::*};
    [
        (
            MESSAGE_HEADER,
            CONNECTION_NOT_SYNCHRONIZED,
            "Connection Not Synchronized",
        ),
        (MESSAGE_HEADER, BAD_MESSAGE_LENGTH, "Bad Message Length"),
        (MESSAGE_HEADER, BAD_MESSAGE_TYPE, "Bad Message Type"),
        (
            OPEN_MESSAGE,
            UNSUPPORTED_VERSION_NUMBER,
            "Unsupported Version Number",
        ),
        (OPEN_MESSAGE, BAD_PEER_AS, "Bad Peer AS"),
        (OPEN_MESSAGE, BAD_BGP_IDENTIFIER, "Bad BGP Identifier"),
        (
            OPEN_MESSAGE,
            UNSUPPORTED_OPTIONAL_PARAMETER,
            "Unsupported Optional Parameter",
        ),
        (
            OPEN_MESSAGE,
            UNACCEPTABLE_HOLD_TIME,
            "Unacceptable Hold Time",
        ),
        (
            OPEN_MESSAGE,
            UNSUPPORTED_CAPABILITY,
            "Unsupported Capability",
        ),
        (
            UPDATE_MESSAGE,
            MALFORMED_ATTRIBUTE_LIST,
            "Malformed Attribute List",
        ),
        (
            UPDATE_MESSAGE,
            UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            "Unrecognized Well-known Attribute",
        ),
        (
            UPDATE_MESSAGE,
            MISSING_WELL_KNOWN_ATTRIBUTE,
            "Missing Well-known Attribute",
        ),
        (
            UPDATE_MESSAGE,
            ATTRIBUTE_FLAGS_ERROR,
            "Attribute Flags Error",
        ),
        (
            UPDATE_MESSAGE,
            ATTRIBUTE_LENGTH_ERROR,
            "Attribute Length Error",
        ),
        (
            UPDATE_MESSAGE,
            INVALID_ORIGIN_ATTRIBUTE,
            "Invalid ORIGIN Attribute",
        ),
        (
            UPDATE_MESSAGE,
            INVALID_NEXT_HOP_ATTRIBUTE,
            "Invalid NEXT_HOP Attribute",
        ),
        (
            UPDATE_MESSAGE,
            OPTIONAL_ATTRIBUTE_ERROR,
            "Optional Attribute Error",
        ),
        (
            UPDATE_MESSAGE,
            INVALID_NETWORK_FIELD,
            "Invalid Network Field",
        ),
        (UPDATE_MESSAGE, MALFORMED_AS_PATH, "Malformed AS_PATH"),
        (
            CEASE,
            MAXIMUM_NUMBER_OF_PREFIXES_REACHED,
            "Maximum Number of Prefixes Reached",
        ),
        (CEASE, ADMINISTRATIVE_SHUTDOWN, "Administrative Shutdown"),
        (CEASE, PEER_DECONFIGURED, "Peer De-configured"),
        (CEASE, ADMINISTRATIVE_RESET, "Administrative Reset"),
        (CEASE, CONNECTION_REJECTED, "Connection Rejected"),
        (
            CEASE,
            OTHER_CONFIGURATION_CHANGE,
            "Other Configuration Change",
        ),
        (
            CEASE,
            CONNECTION_COLLISION_RESOLUTION,
            "Connection Collision Resolution",
        ),
        (CEASE, OUT_OF_RESOURCES, "Out of Resources"),
        (CEASE, BFD_DOWN, "BFD Down"),
    ]
};

/// One BGP message (RFC 4271 §4), without its header: the header is derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BgpMessage {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    /// A request to re-advertise the routes of one address family (RFC 2918 §3).
    RouteRefresh(AfiSafi),
}

/// The message types, with the lengths RFC 4271 §4 and RFC 2918 §3 allow each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MessageType {
    Open,
    Update,
    Notification,
    Keepalive,
    RouteRefresh,
}

impl MessageType {
    fn from_code(code: u8) -> Option<MessageType> {
        match code {
            1 => Some(MessageType::Open),
            2 => Some(MessageType::Update),
            3 => Some(MessageType::Notification),
            4 => Some(MessageType::Keepalive),
            5 => Some(MessageType::RouteRefresh),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
        }
    }

    /// The lengths, header included, a message of this type may have: OPEN at
    /// least 29 (§4.2), UPDATE 23 (§4.3), KEEPALIVE exactly 19 (§4.4),
    /// NOTIFICATION at least 21 (§4.5), ROUTE-REFRESH exactly 23 (RFC 2918 §3).
    fn allowed_lengths(self) -> std::ops::RangeInclusive<usize> {
        match self {
            MessageType::Open => 29..=MAX_MESSAGE_LEN,
            MessageType::Update => 23..=MAX_MESSAGE_LEN,
            MessageType::Notification => 21..=MAX_MESSAGE_LEN,
            MessageType::Keepalive => HEADER_LEN..=HEADER_LEN,
            MessageType::RouteRefresh => 23..=23,
        }
    }
}

/// An AFI/SAFI pair naming an address family (RFC 4760 §8; numbers from IANA's
/// Address Family Numbers and SAFI registries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AfiSafi {
    pub afi: u16,
    pub safi: u8,
}

impl AfiSafi {
    /// AFI 1 (IPv4), SAFI 1 (unicast).
    pub const IPV4_UNICAST: AfiSafi = AfiSafi { afi: 1, safi: 1 };
}

impl fmt::Display for AfiSafi {
    /// `ipv4/unicast`; numbers for families without a name here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.afi {
            1 => f.write_str("ipv4")?,
            2 => f.write_str("ipv6")?,
            afi => write!(f, "afi {afi}")?,
        }
        match self.safi {
            1 => f.write_str("/unicast"),
            2 => f.write_str("/multicast"),
            safi => write!(f, "/safi {safi}"),
        }
    }
}

/// OPEN (RFC 4271 §4.2). The version is always 4 and not stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// My Autonomous System: the sender's AS, or [`AS_TRANS`] when it needs
    /// four octets (see [`two_octet_asn`]).
    pub my_as: u16,
    /// Seconds; 0 (no keepalives) or at least 3 (RFC 4271 §4.2).
    pub hold_time: u16,
    /// Non-zero (RFC 6286 §2).
    pub bgp_id: Ipv4Addr,
    /// The capabilities of every Capabilities optional parameter, in order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The sender's AS: the 4-octet AS capability's value if it sent one,
    /// else My Autonomous System (RFC 6793 §3).
    pub fn asn(&self) -> u32 {
        self.four_octet_asn().unwrap_or(u32::from(self.my_as))
    }

    /// The value of the 4-octet AS capability, if the sender advertised it.
    pub fn four_octet_asn(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }
}

/// The My Autonomous System field for an AS: itself when it fits two octets,
/// else [`AS_TRANS`] (RFC 6793 §3).
pub fn two_octet_asn(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS)
}

/// One capability of an OPEN's Capabilities parameter (RFC 5492 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Code 1: the sender can carry this address family (RFC 4760 §8).
    Multiprotocol(AfiSafi),
    /// Code 2, empty: the sender accepts ROUTE-REFRESH (RFC 2918 §2).
    RouteRefresh,
    /// Code 64 (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// Code 65: the sender's AS in four octets (RFC 6793 §3).
    FourOctetAs(u32),
    /// Any other code, value as received. Writing one whose code is typed
    /// above is refused, so that what is written reads back the same.
    Unknown { code: u8, value: Vec<u8> },
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => capability_code::MULTIPROTOCOL,
            Capability::RouteRefresh => capability_code::ROUTE_REFRESH,
            Capability::GracefulRestart(_) => capability_code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => capability_code::FOUR_OCTET_AS,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Short form for a summary: `MP(ipv4/unicast)`, `4-octet-AS 64512`, `GR 120s`.
    fn summary(&self) -> String {
        match self {
            Capability::Multiprotocol(family) => format!("MP({family})"),
            Capability::RouteRefresh => "route-refresh".to_string(),
            Capability::GracefulRestart(gr) if gr.restarting => {
                format!("GR {}s restarting", gr.restart_time)
            }
            Capability::GracefulRestart(gr) => format!("GR {}s", gr.restart_time),
            Capability::FourOctetAs(asn) => format!("4-octet-AS {asn}"),
            Capability::Unknown { code, .. } => format!("cap {code}"),
        }
    }
}

/// The Graceful Restart capability's value (RFC 4724 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// The R (Restart State) bit: the sender has just restarted.
    pub restarting: bool,
    /// Seconds the peer should keep the sender's routes while it comes back;
    /// at most [`MAX_RESTART_TIME`].
    pub restart_time: u16,
    /// The address families whose forwarding state the sender can preserve.
    pub families: Vec<GracefulRestartFamily>,
}

/// One <AFI, SAFI, Flags> tuple of the Graceful Restart capability (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartFamily {
    pub family: AfiSafi,
    /// The F (Forwarding State) bit: forwarding was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// The R bit is the top bit of the 4-bit Restart Flags (RFC 4724 §3).
const RESTART_STATE_BIT: u16 = 0x8000;
/// The F bit is the top bit of an address family's flags (RFC 4724 §3).
const FORWARDING_STATE_BIT: u8 = 0x80;

/// UPDATE (RFC 4271 §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn Routes.
    pub withdrawn: Vec<Ipv4Net>,
    /// Path Attributes, in the order sent; at most one of each type code.
    pub attributes: Vec<PathAttribute>,
    /// Network Layer Reachability Information: the prefixes announced with
    /// these attributes. When not empty, ORIGIN, AS_PATH and NEXT_HOP must be
    /// among the attributes (RFC 4271 §5).
    pub nlri: Vec<Ipv4Net>,
}

impl Update {
    /// Announces `nlri` with ORIGIN IGP, an AS_PATH of one AS_SEQUENCE (no
    /// segment when `as_path` is empty, as towards an internal peer) and NEXT_HOP.
    pub fn announce(nlri: Vec<Ipv4Net>, next_hop: Ipv4Addr, as_path: Vec<u32>) -> Update {
        let segments = if as_path.is_empty() {
            vec![]
        } else {
            vec![AsPathSegment {
                kind: SegmentKind::Sequence,
                asns: as_path,
            }]
        };
        Update {
            withdrawn: vec![],
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(segments),
                PathAttribute::NextHop(next_hop),
            ],
            nlri,
        }
    }

    /// Withdraws `prefixes`, nothing else.
    pub fn withdraw(prefixes: Vec<Ipv4Net>) -> Update {
        Update {
            withdrawn: prefixes,
            ..Update::default()
        }
    }

    /// The End-of-RIB marker for IPv4 unicast: an UPDATE with nothing in it
    /// (RFC 4724 §2).
    pub fn end_of_rib() -> Update {
        Update::default()
    }

    pub fn is_end_of_rib(&self) -> bool {
        self.withdrawn.is_empty() && self.attributes.is_empty() && self.nlri.is_empty()
    }

    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::NextHop(addr) => Some(*addr),
            _ => None,
        })
    }

    pub fn as_path(&self) -> Option<&[AsPathSegment]> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::AsPath(segments) => Some(&segments[..]),
            _ => None,
        })
    }

    fn has_attribute(&self, code: u8) -> bool {
        self.attributes.iter().any(|a| a.code() == code)
    }

    /// The first well-known mandatory attribute an UPDATE with NLRI lacks
    /// (RFC 4271 §5: ORIGIN, AS_PATH, NEXT_HOP).
    fn missing_mandatory_attribute(&self) -> Option<u8> {
        if self.nlri.is_empty() {
            return None;
        }
        [
            attribute_code::ORIGIN,
            attribute_code::AS_PATH,
            attribute_code::NEXT_HOP,
        ]
        .into_iter()
        .find(|code| !self.has_attribute(*code))
    }

    /// The first type code that appears twice (RFC 4271 §6.3 forbids it).
    fn repeated_attribute(&self) -> Option<u8> {
        let mut seen = [false; 256];
        self.attributes
            .iter()
            .map(PathAttribute::code)
            .find(|code| std::mem::replace(&mut seen[usize::from(*code)], true))
    }
}

/// A path attribute (RFC 4271 §4.3, §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathAttribute {
    /// Type 1, well-known mandatory (§5.1.1).
    Origin(Origin),
    /// Type 2, well-known mandatory (§5.1.2). Empty towards an internal peer.
    AsPath(Vec<AsPathSegment>),
    /// Type 3, well-known mandatory (§5.1.3).
    NextHop(Ipv4Addr),
    /// Type 4, optional non-transitive (§5.1.4).
    MultiExitDisc(u32),
    /// Type 5, well-known, between internal peers (§5.1.5).
    LocalPref(u32),
    /// Any other type, flags octet and value as received. Writing one whose
    /// type code is typed above is refused.
    Unknown { flags: u8, code: u8, value: Vec<u8> },
}

impl PathAttribute {
    pub fn code(&self) -> u8 {
        match self {
            PathAttribute::Origin(_) => attribute_code::ORIGIN,
            PathAttribute::AsPath(_) => attribute_code::AS_PATH,
            PathAttribute::NextHop(_) => attribute_code::NEXT_HOP,
            PathAttribute::MultiExitDisc(_) => attribute_code::MULTI_EXIT_DISC,
            PathAttribute::LocalPref(_) => attribute_code::LOCAL_PREF,
            PathAttribute::Unknown { code, .. } => *code,
        }
    }
}

/// The ORIGIN attribute's value (RFC 4271 §4.3, §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

impl Origin {
    fn from_code(code: u8) -> Option<Origin> {
        match code {
            0 => Some(Origin::Igp),
            1 => Some(Origin::Egp),
            2 => Some(Origin::Incomplete),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "INCOMPLETE",
        }
    }
}

/// One AS_PATH segment (RFC 4271 §4.3): at most 255 AS numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsPathSegment {
    pub kind: SegmentKind,
    pub asns: Vec<u32>,
}

/// The AS_PATH segment types (RFC 4271 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Type 1: unordered, from aggregation.
    Set,
    /// Type 2: ordered, nearest AS first.
    Sequence,
}

impl SegmentKind {
    fn from_code(code: u8) -> Option<SegmentKind> {
        match code {
            1 => Some(SegmentKind::Set),
            2 => Some(SegmentKind::Sequence),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            SegmentKind::Set => 1,
            SegmentKind::Sequence => 2,
        }
    }
}

/// NOTIFICATION (RFC 4271 §4.5): why the sender closes the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// One of [`error_code`].
    pub code: u8,
    /// Meaning depends on the code; 0 where none applies.
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Notification {
        Notification {
            code,
            subcode,
            data: vec![],
        }
    }

    /// The hold timer ran out (RFC 4271 §6.5).
    pub fn hold_timer_expired() -> Notification {
        Notification::new(error_code::HOLD_TIMER_EXPIRED, 0)
    }

    /// Cease with one of the [`cease`] subcodes (RFC 4271 §6.7, RFC 4486 §4).
    pub fn cease(subcode: u8) -> Notification {
        Notification::new(error_code::CEASE, subcode)
    }

    /// The error in words: `Hold Timer Expired`, `Cease/Administrative Shutdown`;
    /// the code alone when the subcode is 0 (Unspecific, RFC 4271 §4.5), numbers
    /// where the code or subcode has no name here.
    pub fn describe(&self) -> String {
        let Some(code_name) = error_code_name(self.code) else {
            return format!("error code {} subcode {}", self.code, self.subcode);
        };
        if self.subcode == 0 {
            return code_name.to_string();
        }
        match subcode_name(self.code, self.subcode) {
            Some(name) => format!("{code_name}/{name}"),
            None => format!("{code_name}/subcode {}", self.subcode),
        }
    }
}

fn error_code_name(code: u8) -> Option<&'static str> {
    ERROR_CODE_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    SUBCODE_NAMES
        .iter()
        .find(|(c, s, _)| (*c, *s) == (code, subcode))
        .map(|(_, _, name)| *name)
}

/// Why bytes are not a BGP message, and the NOTIFICATION RFC 4271 §6 answers
/// that with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpParseError {
    wire: WireError,
    notification: Notification,
}

impl BgpParseError {
    fn new(wire: WireError, code: u8, subcode: u8, data: &[u8]) -> BgpParseError {
        BgpParseError {
            wire,
            notification: Notification {
                code,
                subcode,
                data: data.to_vec(),
            },
        }
    }

    fn header(wire: WireError, subcode: u8, data: &[u8]) -> BgpParseError {
        BgpParseError::new(wire, error_code::MESSAGE_HEADER, subcode, data)
    }

    fn open(wire: WireError, subcode: u8) -> BgpParseError {
        BgpParseError::new(wire, error_code::OPEN_MESSAGE, subcode, &[])
    }

    fn update(wire: WireError, subcode: u8, data: &[u8]) -> BgpParseError {
        BgpParseError::new(wire, error_code::UPDATE_MESSAGE, subcode, data)
    }

    /// What is wrong, in the crate's terms.
    pub fn wire(&self) -> WireError {
        self.wire
    }

    /// The NOTIFICATION to send the peer before closing (RFC 4271 §6).
    pub fn notification(&self) -> &Notification {
        &self.notification
    }
}

impl fmt::Display for BgpParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (answer: NOTIFICATION {})",
            self.wire,
            self.notification.describe()
        )
    }
}

impl std::error::Error for BgpParseError {}

impl From<BgpParseError> for WireError {
    fn from(e: BgpParseError) -> WireError {
        e.wire
    }
}

/// Reads fields off the front of a byte slice; a read past the end is `None`.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (taken, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*taken)
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
}

/// Octets a prefix of this length takes after its length octet: the fewest
/// that hold the prefix (RFC 4271 §4.3).
fn prefix_octets(len: u8) -> usize {
    usize::from(len).div_ceil(8)
}

/// Checks a header's marker, length and type (RFC 4271 §6.1); the type and the
/// message length, header included. The data of a length error is the Length
/// field, of a type error the Type field (§6.1).
fn check_header(header: &[u8; HEADER_LEN]) -> Result<(MessageType, usize), BgpParseError> {
    use header_error::{BAD_MESSAGE_LENGTH, BAD_MESSAGE_TYPE, CONNECTION_NOT_SYNCHRONIZED};
    let length_field = &header[LENGTH_AT..LENGTH_AT + 2];
    let length = usize::from(u16::from_be_bytes([length_field[0], length_field[1]]));
    let type_field = &header[HEADER_LEN - 1..];
    let fail = |reason, subcode, data: &[u8]| {
        Err(BgpParseError::header(
            WireError::Malformed(reason),
            subcode,
            data,
        ))
    };
    if header[..LENGTH_AT] != MARKER {
        return fail(
            "BGP marker is not all ones",
            CONNECTION_NOT_SYNCHRONIZED,
            &[],
        );
    }
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&length) {
        return fail(
            "BGP length outside 19..=4096",
            BAD_MESSAGE_LENGTH,
            length_field,
        );
    }
    let Some(kind) = MessageType::from_code(type_field[0]) else {
        let wire = WireError::Unsupported("BGP message type other than 1 to 5");
        return Err(BgpParseError::header(wire, BAD_MESSAGE_TYPE, type_field));
    };
    if !kind.allowed_lengths().contains(&length) {
        return fail(
            "BGP length wrong for the message type",
            BAD_MESSAGE_LENGTH,
            length_field,
        );
    }
    Ok((kind, length))
}

/// How many bytes the message at the front of a TCP byte stream takes: `None`
/// while its header or body has not all arrived. The header is checked as soon
/// as it is in, so a stream out of step fails at once instead of waiting.
pub fn message_len(stream: &[u8]) -> Result<Option<usize>, BgpParseError> {
    let Some(header) = stream.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let (_, length) = check_header(header)?;
    Ok((stream.len() >= length).then_some(length))
}

impl BgpMessage {
    /// Reads one whole message; `bytes` must end where its Length says.
    /// `four_octet_as`: both sides advertised the 4-octet AS capability, so
    /// AS_PATH carries four-octet AS numbers (RFC 6793 §4.1).
    pub fn parse(bytes: &[u8], four_octet_as: bool) -> Result<BgpMessage, BgpParseError> {
        let (kind, body) = split_message(bytes)?;
        match kind {
            MessageType::Open => parse_open(body).map(BgpMessage::Open),
            MessageType::Update => parse_update(body, four_octet_as).map(BgpMessage::Update),
            MessageType::Notification => Ok(BgpMessage::Notification(parse_notification(body))),
            MessageType::Keepalive => Ok(BgpMessage::Keepalive),
            MessageType::RouteRefresh => Ok(BgpMessage::RouteRefresh(parse_route_refresh(body))),
        }
    }

    fn message_type(&self) -> MessageType {
        match self {
            BgpMessage::Open(_) => MessageType::Open,
            BgpMessage::Update(_) => MessageType::Update,
            BgpMessage::Notification(_) => MessageType::Notification,
            BgpMessage::Keepalive => MessageType::Keepalive,
            BgpMessage::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Writes the message, header included. Refuses (as `Malformed`) what the
    /// fields cannot hold or what [`BgpMessage::parse`] would not give back:
    /// a message over 4096 bytes, a hold time of 1 or 2, a zero BGP Identifier,
    /// a restart time over 12 bits, a prefix with host bits, an AS above 65535
    /// without `four_octet_as`, a repeated attribute, NLRI without ORIGIN,
    /// AS_PATH and NEXT_HOP, a typed code given as `Unknown`.
    pub fn to_bytes(&self, four_octet_as: bool) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0]);
        out.push(self.message_type().code());
        match self {
            BgpMessage::Open(open) => write_open(&mut out, open)?,
            BgpMessage::Update(update) => write_update(&mut out, update, four_octet_as)?,
            BgpMessage::Notification(n) => write_notification(&mut out, n),
            BgpMessage::Keepalive => {}
            BgpMessage::RouteRefresh(family) => write_route_refresh(&mut out, *family),
        }
        let length = u16::try_from(out.len())
            .ok()
            .filter(|len| usize::from(*len) <= MAX_MESSAGE_LEN)
            .ok_or(WireError::Malformed("BGP message longer than 4096 bytes"))?;
        out[LENGTH_AT..LENGTH_AT + 2].copy_from_slice(&length.to_be_bytes());
        Ok(out)
    }

    /// One line in the spirit of tcpdump: `BGP KEEPALIVE`,
    /// `BGP OPEN AS 64512 hold 90 id 10.0.0.1 caps MP(ipv4/unicast),GR 120s`,
    /// `BGP UPDATE NLRI 1 (10.96.0.10/32) next-hop 10.30.67.21 AS_PATH 64512`,
    /// `BGP NOTIFICATION Hold Timer Expired`.
    pub fn summary(&self) -> String {
        match self {
            BgpMessage::Open(open) => open_summary(open),
            BgpMessage::Update(update) => update_summary(update),
            BgpMessage::Notification(n) if n.data.is_empty() => {
                format!("BGP NOTIFICATION {}", n.describe())
            }
            BgpMessage::Notification(n) => format!(
                "BGP NOTIFICATION {} (data {} bytes)",
                n.describe(),
                n.data.len()
            ),
            BgpMessage::Keepalive => "BGP KEEPALIVE".to_string(),
            BgpMessage::RouteRefresh(family) => format!("BGP ROUTE-REFRESH {family}"),
        }
    }
}

/// Checks the header and that `bytes` is exactly one message; the type and body.
fn split_message(bytes: &[u8]) -> Result<(MessageType, &[u8]), BgpParseError> {
    let bad_length = header_error::BAD_MESSAGE_LENGTH;
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(BgpParseError::header(WireError::Truncated, bad_length, &[]));
    };
    let (kind, length) = check_header(header)?;
    let length_field = &header[LENGTH_AT..LENGTH_AT + 2];
    if bytes.len() < length {
        let wire = WireError::Truncated;
        return Err(BgpParseError::header(wire, bad_length, length_field));
    }
    if bytes.len() > length {
        let wire = WireError::Malformed("bytes after the end the BGP length gives");
        return Err(BgpParseError::header(wire, bad_length, length_field));
    }
    Ok((kind, body))
}

// ---- OPEN ----

/// OPEN's body after the header (RFC 4271 §4.2, errors §6.2).
fn parse_open(body: &[u8]) -> Result<Open, BgpParseError> {
    use open_error::{BAD_BGP_IDENTIFIER, UNACCEPTABLE_HOLD_TIME, UNSPECIFIC};
    // The header check already guarantees the 10 octets of fixed fields.
    let short = || {
        let wire = WireError::Malformed("OPEN shorter than its fixed fields");
        BgpParseError::open(wire, UNSPECIFIC)
    };
    let mut r = Reader::new(body);
    let version = r.u8().ok_or_else(short)?;
    if version != BGP_VERSION {
        // The data is the largest version we support, two octets (§6.2).
        let wire = WireError::Unsupported("BGP version other than 4");
        let data = u16::from(BGP_VERSION).to_be_bytes();
        let subcode = open_error::UNSUPPORTED_VERSION_NUMBER;
        let code = error_code::OPEN_MESSAGE;
        return Err(BgpParseError::new(wire, code, subcode, &data));
    }
    let my_as = r.u16().ok_or_else(short)?;
    let hold_time = r.u16().ok_or_else(short)?;
    let bgp_id = Ipv4Addr::from(r.array::<4>().ok_or_else(short)?);
    let parameters_len = r.u8().ok_or_else(short)?;
    if matches!(hold_time, 1 | 2) {
        let wire = WireError::Malformed("hold time of 1 or 2 seconds");
        return Err(BgpParseError::open(wire, UNACCEPTABLE_HOLD_TIME));
    }
    if bgp_id.is_unspecified() {
        let wire = WireError::Malformed("BGP Identifier 0.0.0.0");
        return Err(BgpParseError::open(wire, BAD_BGP_IDENTIFIER));
    }
    if r.rest.len() != usize::from(parameters_len) {
        let wire =
            WireError::Malformed("OPEN Optional Parameters Length does not match the message");
        return Err(BgpParseError::open(wire, UNSPECIFIC));
    }
    Ok(Open {
        my_as,
        hold_time,
        bgp_id,
        capabilities: parse_optional_parameters(r.rest)?,
    })
}

/// Reads a type-length-value triple with one-octet type and length, the shape of
/// both Optional Parameters (RFC 4271 §4.2) and capabilities (RFC 5492 §4).
fn read_tlv<'a>(r: &mut Reader<'a>) -> Option<(u8, &'a [u8])> {
    let kind = r.u8()?;
    let len = r.u8()?;
    Some((kind, r.bytes(usize::from(len))?))
}

/// The Optional Parameters; only Capabilities parameters are understood.
fn parse_optional_parameters(field: &[u8]) -> Result<Vec<Capability>, BgpParseError> {
    let mut r = Reader::new(field);
    let mut capabilities = vec![];
    while !r.is_empty() {
        let Some((kind, value)) = read_tlv(&mut r) else {
            let wire = WireError::Malformed("OPEN optional parameter runs past the parameters");
            return Err(BgpParseError::open(wire, open_error::UNSPECIFIC));
        };
        if kind != CAPABILITIES_PARAMETER {
            let wire = WireError::Unsupported("OPEN optional parameter other than Capabilities");
            return Err(BgpParseError::open(
                wire,
                open_error::UNSUPPORTED_OPTIONAL_PARAMETER,
            ));
        }
        parse_capabilities(value, &mut capabilities)?;
    }
    Ok(capabilities)
}

/// The capabilities of one Capabilities parameter, appended to `out`.
/// A malformed one is an OPEN error with subcode 0 (RFC 4271 §6.2: a recognised
/// optional parameter that is malformed).
fn parse_capabilities(value: &[u8], out: &mut Vec<Capability>) -> Result<(), BgpParseError> {
    let malformed =
        |reason| BgpParseError::open(WireError::Malformed(reason), open_error::UNSPECIFIC);
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let (code, value) =
            read_tlv(&mut r).ok_or_else(|| malformed("capability runs past its parameter"))?;
        out.push(parse_capability(code, value).map_err(malformed)?);
    }
    Ok(())
}

fn parse_capability(code: u8, value: &[u8]) -> Result<Capability, &'static str> {
    match code {
        capability_code::MULTIPROTOCOL => parse_multiprotocol(value),
        capability_code::ROUTE_REFRESH if value.is_empty() => Ok(Capability::RouteRefresh),
        capability_code::ROUTE_REFRESH => Err("Route Refresh capability with a value"),
        capability_code::GRACEFUL_RESTART => parse_graceful_restart(value),
        capability_code::FOUR_OCTET_AS => <[u8; 4]>::try_from(value)
            .map(|b| Capability::FourOctetAs(u32::from_be_bytes(b)))
            .map_err(|_| "4-octet AS capability not 4 octets long"),
        code => Ok(Capability::Unknown {
            code,
            value: value.to_vec(),
        }),
    }
}

/// AFI (2 octets), reserved (1, ignored), SAFI (1) (RFC 4760 §8).
fn parse_multiprotocol(value: &[u8]) -> Result<Capability, &'static str> {
    let [afi_hi, afi_lo, _reserved, safi] =
        <[u8; 4]>::try_from(value).map_err(|_| "Multiprotocol capability not 4 octets long")?;
    Ok(Capability::Multiprotocol(AfiSafi {
        afi: u16::from_be_bytes([afi_hi, afi_lo]),
        safi,
    }))
}

/// Restart Flags (4 bits) and Restart Time (12 bits), then <AFI, SAFI, Flags>
/// tuples of 4 octets (RFC 4724 §3).
fn parse_graceful_restart(value: &[u8]) -> Result<Capability, &'static str> {
    const BAD_LENGTH: &str = "Graceful Restart capability length not 2 + 4n";
    let mut r = Reader::new(value);
    let flags_and_time = r.u16().ok_or(BAD_LENGTH)?;
    if !r.rest.len().is_multiple_of(4) {
        return Err(BAD_LENGTH);
    }
    let mut families = vec![];
    while let (Some(afi), Some(safi), Some(flags)) = (r.u16(), r.u8(), r.u8()) {
        families.push(GracefulRestartFamily {
            family: AfiSafi { afi, safi },
            forwarding_preserved: flags & FORWARDING_STATE_BIT != 0,
        });
    }
    Ok(Capability::GracefulRestart(GracefulRestart {
        restarting: flags_and_time & RESTART_STATE_BIT != 0,
        restart_time: flags_and_time & MAX_RESTART_TIME,
        families,
    }))
}

fn write_open(out: &mut Vec<u8>, open: &Open) -> Result<(), WireError> {
    if matches!(open.hold_time, 1 | 2) {
        return Err(WireError::Malformed("hold time of 1 or 2 seconds"));
    }
    if open.bgp_id.is_unspecified() {
        return Err(WireError::Malformed("BGP Identifier 0.0.0.0"));
    }
    out.push(BGP_VERSION);
    out.extend_from_slice(&open.my_as.to_be_bytes());
    out.extend_from_slice(&open.hold_time.to_be_bytes());
    out.extend_from_slice(&open.bgp_id.octets());
    let too_long = "OPEN capabilities longer than one optional parameter holds";
    with_u8_length(out, too_long, |out| {
        if open.capabilities.is_empty() {
            return Ok(());
        }
        out.push(CAPABILITIES_PARAMETER);
        with_u8_length(out, too_long, |out| {
            open.capabilities
                .iter()
                .try_for_each(|c| write_capability(out, c))
        })
    })
}

fn write_capability(out: &mut Vec<u8>, capability: &Capability) -> Result<(), WireError> {
    out.push(capability.code());
    with_u8_length(out, "capability value longer than 255 bytes", |out| {
        match capability {
            Capability::Multiprotocol(family) => {
                out.extend_from_slice(&family.afi.to_be_bytes());
                out.push(0);
                out.push(family.safi);
            }
            Capability::RouteRefresh => {}
            Capability::GracefulRestart(gr) => write_graceful_restart(out, gr)?,
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::Unknown { code, value } => {
                if is_typed_capability(*code) {
                    return Err(WireError::Malformed(
                        "typed capability code given as Unknown",
                    ));
                }
                out.extend_from_slice(value);
            }
        }
        Ok(())
    })
}

fn is_typed_capability(code: u8) -> bool {
    use capability_code::{FOUR_OCTET_AS, GRACEFUL_RESTART, MULTIPROTOCOL, ROUTE_REFRESH};
    matches!(
        code,
        MULTIPROTOCOL | ROUTE_REFRESH | GRACEFUL_RESTART | FOUR_OCTET_AS
    )
}

fn write_graceful_restart(out: &mut Vec<u8>, gr: &GracefulRestart) -> Result<(), WireError> {
    if gr.restart_time > MAX_RESTART_TIME {
        return Err(WireError::Malformed(
            "Graceful Restart time above 4095 seconds",
        ));
    }
    let restart_state = if gr.restarting { RESTART_STATE_BIT } else { 0 };
    out.extend_from_slice(&(restart_state | gr.restart_time).to_be_bytes());
    for f in &gr.families {
        out.extend_from_slice(&f.family.afi.to_be_bytes());
        out.push(f.family.safi);
        let flags = if f.forwarding_preserved {
            FORWARDING_STATE_BIT
        } else {
            0
        };
        out.push(flags);
    }
    Ok(())
}

fn open_summary(open: &Open) -> String {
    let mut s = format!(
        "BGP OPEN AS {} hold {} id {}",
        open.my_as, open.hold_time, open.bgp_id
    );
    if !open.capabilities.is_empty() {
        let caps: Vec<String> = open.capabilities.iter().map(Capability::summary).collect();
        let _ = write!(s, " caps {}", caps.join(","));
    }
    s
}

// ---- UPDATE ----

/// UPDATE's body after the header (RFC 4271 §4.3, errors §6.3).
fn parse_update(body: &[u8], four_octet_as: bool) -> Result<Update, BgpParseError> {
    let list_error = |reason| {
        let wire = WireError::Malformed(reason);
        BgpParseError::update(wire, update_error::MALFORMED_ATTRIBUTE_LIST, &[])
    };
    let mut r = Reader::new(body);
    let withdrawn_len = r
        .u16()
        .ok_or_else(|| list_error("UPDATE shorter than its length fields"))?;
    let withdrawn = r
        .bytes(usize::from(withdrawn_len))
        .ok_or_else(|| list_error("Withdrawn Routes Length runs past the message"))?;
    let attributes_len = r
        .u16()
        .ok_or_else(|| list_error("Withdrawn Routes Length runs past the message"))?;
    let attributes = r
        .bytes(usize::from(attributes_len))
        .ok_or_else(|| list_error("Total Path Attribute Length runs past the message"))?;
    let update = Update {
        withdrawn: parse_prefixes(withdrawn)?,
        attributes: parse_attributes(attributes, four_octet_as)?,
        nlri: parse_prefixes(r.rest)?,
    };
    if let Some(code) = update.missing_mandatory_attribute() {
        let wire = WireError::Malformed("UPDATE with NLRI lacks ORIGIN, AS_PATH or NEXT_HOP");
        let subcode = update_error::MISSING_WELL_KNOWN_ATTRIBUTE;
        // The data is the missing attribute's type code (§6.3).
        return Err(BgpParseError::update(wire, subcode, &[code]));
    }
    Ok(update)
}

/// A list of prefixes, each its length in bits then the fewest octets that hold
/// it (RFC 4271 §4.3). Errors are Invalid Network Field (§6.3), for the
/// Withdrawn Routes as for the NLRI: both fields have the one encoding.
fn parse_prefixes(field: &[u8]) -> Result<Vec<Ipv4Net>, BgpParseError> {
    let mut r = Reader::new(field);
    let mut prefixes = vec![];
    while !r.is_empty() {
        let prefix = read_prefix(&mut r).map_err(|reason| {
            let wire = WireError::Malformed(reason);
            BgpParseError::update(wire, update_error::INVALID_NETWORK_FIELD, &[])
        })?;
        prefixes.push(prefix);
    }
    Ok(prefixes)
}

/// One prefix; the bits past its length in the last octet are cleared, their
/// value being irrelevant (RFC 4271 §4.3).
fn read_prefix(r: &mut Reader<'_>) -> Result<Ipv4Net, &'static str> {
    const TOO_LONG: &str = "prefix length above 32";
    let len = r.u8().ok_or("prefix length missing")?;
    if len > 32 {
        return Err(TOO_LONG);
    }
    let octets = r
        .bytes(prefix_octets(len))
        .ok_or("prefix runs past its field")?;
    let mut address = [0u8; 4];
    address[..octets.len()].copy_from_slice(octets);
    let prefix = Ipv4Net::new(Ipv4Addr::from(address), len).map_err(|_| TOO_LONG)?;
    Ok(prefix.trunc())
}

/// One attribute as it came: flags, type code, value and all its bytes (for a
/// NOTIFICATION's data, which is the whole attribute, §6.3).
struct RawAttribute<'a> {
    flags: u8,
    code: u8,
    value: &'a [u8],
    whole: &'a [u8],
}

impl<'a> RawAttribute<'a> {
    /// Flags, type code, a length of one octet or two (Extended Length), value
    /// (RFC 4271 §4.3).
    fn read(r: &mut Reader<'a>) -> Option<RawAttribute<'a>> {
        let start = r.rest;
        let flags = r.u8()?;
        let code = r.u8()?;
        let len = if flags & attribute_flag::EXTENDED_LENGTH != 0 {
            usize::from(r.u16()?)
        } else {
            usize::from(r.u8()?)
        };
        let value = r.bytes(len)?;
        let whole = &start[..start.len() - r.rest.len()];
        Some(RawAttribute {
            flags,
            code,
            value,
            whole,
        })
    }

    /// An error whose data is this attribute.
    fn error(&self, reason: &'static str, subcode: u8) -> BgpParseError {
        BgpParseError::update(WireError::Malformed(reason), subcode, self.whole)
    }

    /// The optional, transitive and partial bits match the type (§6.3).
    fn expect_flags(&self, kind_flags: u8) -> Result<(), BgpParseError> {
        if self.flags & KIND_FLAGS == kind_flags {
            return Ok(());
        }
        Err(self.error(
            "attribute flags do not match the type",
            update_error::ATTRIBUTE_FLAGS_ERROR,
        ))
    }

    /// The value has the one length the type allows (§6.3).
    fn fixed<const N: usize>(&self) -> Result<[u8; N], BgpParseError> {
        <[u8; N]>::try_from(self.value).map_err(|_| {
            self.error(
                "attribute length wrong for the type",
                update_error::ATTRIBUTE_LENGTH_ERROR,
            )
        })
    }
}

/// The Path Attributes field: no type twice (§6.3), typed ones checked.
fn parse_attributes(
    field: &[u8],
    four_octet_as: bool,
) -> Result<Vec<PathAttribute>, BgpParseError> {
    let list_error = |reason| {
        let wire = WireError::Malformed(reason);
        BgpParseError::update(wire, update_error::MALFORMED_ATTRIBUTE_LIST, &[])
    };
    let mut r = Reader::new(field);
    let mut seen = [false; 256];
    let mut attributes = vec![];
    while !r.is_empty() {
        let raw = RawAttribute::read(&mut r)
            .ok_or_else(|| list_error("path attribute runs past the attribute list"))?;
        if std::mem::replace(&mut seen[usize::from(raw.code)], true) {
            return Err(list_error("path attribute appears twice"));
        }
        attributes.push(parse_attribute(&raw, four_octet_as)?);
    }
    Ok(attributes)
}

fn parse_attribute(
    raw: &RawAttribute<'_>,
    four_octet_as: bool,
) -> Result<PathAttribute, BgpParseError> {
    match raw.code {
        attribute_code::ORIGIN => {
            raw.expect_flags(WELL_KNOWN_FLAGS)?;
            let [code] = raw.fixed::<1>()?;
            Origin::from_code(code)
                .map(PathAttribute::Origin)
                .ok_or_else(|| {
                    raw.error(
                        "ORIGIN other than IGP, EGP or INCOMPLETE",
                        update_error::INVALID_ORIGIN_ATTRIBUTE,
                    )
                })
        }
        attribute_code::AS_PATH => {
            raw.expect_flags(WELL_KNOWN_FLAGS)?;
            let segments = parse_as_path(raw.value, four_octet_as).ok_or_else(|| {
                let wire = WireError::Malformed("AS_PATH segments do not fill the attribute");
                BgpParseError::update(wire, update_error::MALFORMED_AS_PATH, &[])
            })?;
            Ok(PathAttribute::AsPath(segments))
        }
        attribute_code::NEXT_HOP => {
            raw.expect_flags(WELL_KNOWN_FLAGS)?;
            Ok(PathAttribute::NextHop(Ipv4Addr::from(raw.fixed::<4>()?)))
        }
        attribute_code::MULTI_EXIT_DISC => {
            raw.expect_flags(OPTIONAL_NON_TRANSITIVE_FLAGS)?;
            Ok(PathAttribute::MultiExitDisc(u32::from_be_bytes(
                raw.fixed()?,
            )))
        }
        attribute_code::LOCAL_PREF => {
            raw.expect_flags(WELL_KNOWN_FLAGS)?;
            Ok(PathAttribute::LocalPref(u32::from_be_bytes(raw.fixed()?)))
        }
        code => Ok(PathAttribute::Unknown {
            flags: raw.flags,
            code,
            value: raw.value.to_vec(),
        }),
    }
}

/// Segments of type (1 octet), count of AS numbers (1 octet), AS numbers
/// (RFC 4271 §4.3); `None` when they do not exactly fill the value or a type
/// is neither AS_SET nor AS_SEQUENCE.
fn parse_as_path(value: &[u8], four_octet_as: bool) -> Option<Vec<AsPathSegment>> {
    let mut r = Reader::new(value);
    let mut segments = vec![];
    while !r.is_empty() {
        let kind = SegmentKind::from_code(r.u8()?)?;
        let count = r.u8()?;
        let asns = (0..count)
            .map(|_| read_asn(&mut r, four_octet_as))
            .collect::<Option<Vec<u32>>>()?;
        segments.push(AsPathSegment { kind, asns });
    }
    Some(segments)
}

fn read_asn(r: &mut Reader<'_>, four_octet_as: bool) -> Option<u32> {
    if four_octet_as {
        r.u32()
    } else {
        r.u16().map(u32::from)
    }
}

fn write_update(out: &mut Vec<u8>, update: &Update, four_octet_as: bool) -> Result<(), WireError> {
    if update.missing_mandatory_attribute().is_some() {
        return Err(WireError::Malformed(
            "UPDATE with NLRI lacks ORIGIN, AS_PATH or NEXT_HOP",
        ));
    }
    if update.repeated_attribute().is_some() {
        return Err(WireError::Malformed("path attribute appears twice"));
    }
    with_u16_length(out, "Withdrawn Routes longer than 65535 bytes", |out| {
        write_prefixes(out, &update.withdrawn)
    })?;
    with_u16_length(out, "Path Attributes longer than 65535 bytes", |out| {
        update
            .attributes
            .iter()
            .try_for_each(|a| write_attribute(out, a, four_octet_as))
    })?;
    write_prefixes(out, &update.nlri)
}

fn write_prefixes(out: &mut Vec<u8>, prefixes: &[Ipv4Net]) -> Result<(), WireError> {
    prefixes.iter().try_for_each(|p| write_prefix(out, *p))
}

fn write_prefix(out: &mut Vec<u8>, prefix: Ipv4Net) -> Result<(), WireError> {
    if prefix.addr() != prefix.network() {
        return Err(WireError::Malformed("prefix with host bits set"));
    }
    let len = prefix.prefix_len();
    out.push(len);
    out.extend_from_slice(&prefix.addr().octets()[..prefix_octets(len)]);
    Ok(())
}

fn write_attribute(
    out: &mut Vec<u8>,
    attribute: &PathAttribute,
    four_octet_as: bool,
) -> Result<(), WireError> {
    let value = attribute_value(attribute, four_octet_as)?;
    // Typed attributes get a two-octet length only when the value needs it;
    // unknown ones keep the flags they came with.
    let extended = if value.len() > usize::from(u8::MAX) {
        attribute_flag::EXTENDED_LENGTH
    } else {
        0
    };
    let flags = match attribute {
        PathAttribute::Unknown { flags, .. } => *flags,
        PathAttribute::MultiExitDisc(_) => OPTIONAL_NON_TRANSITIVE_FLAGS | extended,
        _ => WELL_KNOWN_FLAGS | extended,
    };
    out.push(flags);
    out.push(attribute.code());
    if flags & attribute_flag::EXTENDED_LENGTH != 0 {
        let len = u16::try_from(value.len())
            .map_err(|_| WireError::Malformed("attribute longer than 65535 bytes"))?;
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        let len = u8::try_from(value.len()).map_err(|_| {
            WireError::Malformed("attribute longer than 255 bytes without the Extended Length flag")
        })?;
        out.push(len);
    }
    out.extend_from_slice(&value);
    Ok(())
}

fn attribute_value(attribute: &PathAttribute, four_octet_as: bool) -> Result<Vec<u8>, WireError> {
    Ok(match attribute {
        PathAttribute::Origin(origin) => vec![origin.code()],
        PathAttribute::AsPath(segments) => as_path_value(segments, four_octet_as)?,
        PathAttribute::NextHop(addr) => addr.octets().to_vec(),
        PathAttribute::MultiExitDisc(v) | PathAttribute::LocalPref(v) => v.to_be_bytes().to_vec(),
        PathAttribute::Unknown { code, value, .. } => {
            if (attribute_code::ORIGIN..=attribute_code::LOCAL_PREF).contains(code) {
                return Err(WireError::Malformed(
                    "typed attribute code given as Unknown",
                ));
            }
            value.clone()
        }
    })
}

fn as_path_value(segments: &[AsPathSegment], four_octet_as: bool) -> Result<Vec<u8>, WireError> {
    // AS numbers take 2 octets (RFC 4271 §4.3), or 4 once the 4-octet AS
    // capability is negotiated (RFC 6793 §4.1).
    let width = if four_octet_as { 4 } else { 2 };
    let mut value = Vec::with_capacity(segments.iter().map(|s| 2 + width * s.asns.len()).sum());
    for segment in segments {
        let count = u8::try_from(segment.asns.len())
            .map_err(|_| WireError::Malformed("AS_PATH segment with more than 255 AS numbers"))?;
        value.push(segment.kind.code());
        value.push(count);
        for asn in &segment.asns {
            write_asn(&mut value, *asn, four_octet_as)?;
        }
    }
    Ok(value)
}

fn write_asn(out: &mut Vec<u8>, asn: u32, four_octet_as: bool) -> Result<(), WireError> {
    if four_octet_as {
        out.extend_from_slice(&asn.to_be_bytes());
        return Ok(());
    }
    let two = u16::try_from(asn)
        .map_err(|_| WireError::Malformed("AS number above 65535 on a two-octet AS session"))?;
    out.extend_from_slice(&two.to_be_bytes());
    Ok(())
}

/// Prefixes listed in a summary before the rest are only counted.
const SUMMARY_PREFIXES: usize = 8;

fn update_summary(update: &Update) -> String {
    if update.is_end_of_rib() {
        return "BGP UPDATE End-of-RIB".to_string();
    }
    let mut s = "BGP UPDATE".to_string();
    if !update.withdrawn.is_empty() {
        let _ = write!(s, " withdrawn {}", prefix_list(&update.withdrawn));
    }
    if !update.nlri.is_empty() {
        let _ = write!(s, " NLRI {}", prefix_list(&update.nlri));
    }
    for attribute in summary_order(&update.attributes) {
        if let Some(text) = attribute_summary(attribute) {
            let _ = write!(s, " {text}");
        }
    }
    s
}

/// `2 (10.96.0.10/32, 10.96.0.11/32)`: the count, then the first prefixes.
fn prefix_list(prefixes: &[Ipv4Net]) -> String {
    let shown: Vec<String> = prefixes
        .iter()
        .take(SUMMARY_PREFIXES)
        .map(ToString::to_string)
        .collect();
    let more = prefixes.len().saturating_sub(SUMMARY_PREFIXES);
    let tail = if more > 0 {
        format!(", +{more} more")
    } else {
        String::new()
    };
    format!("{} ({}{tail})", prefixes.len(), shown.join(", "))
}

/// Attributes in the order a reader looks for them: where the route goes
/// (next hop) before how it got here; unknown types last.
fn summary_order(attributes: &[PathAttribute]) -> Vec<&PathAttribute> {
    let rank = |a: &PathAttribute| match a {
        PathAttribute::NextHop(_) => 0,
        PathAttribute::AsPath(_) => 1,
        PathAttribute::Origin(_) => 2,
        PathAttribute::MultiExitDisc(_) => 3,
        PathAttribute::LocalPref(_) => 4,
        PathAttribute::Unknown { .. } => 5,
    };
    let mut ordered: Vec<&PathAttribute> = attributes.iter().collect();
    ordered.sort_by_key(|a| rank(a));
    ordered
}

/// One attribute in a summary; ORIGIN IGP, the usual case, is left out.
fn attribute_summary(attribute: &PathAttribute) -> Option<String> {
    match attribute {
        PathAttribute::Origin(Origin::Igp) => None,
        PathAttribute::Origin(origin) => Some(format!("origin {}", origin.name())),
        PathAttribute::AsPath(segments) if segments.is_empty() => Some("AS_PATH empty".to_string()),
        PathAttribute::AsPath(segments) => {
            let parts: Vec<String> = segments.iter().map(segment_summary).collect();
            Some(format!("AS_PATH {}", parts.join(" ")))
        }
        PathAttribute::NextHop(addr) => Some(format!("next-hop {addr}")),
        PathAttribute::MultiExitDisc(med) => Some(format!("MED {med}")),
        PathAttribute::LocalPref(pref) => Some(format!("local-pref {pref}")),
        PathAttribute::Unknown { code, value, .. } => {
            Some(format!("attr {code} ({} bytes)", value.len()))
        }
    }
}

/// A sequence as `64512 64513`, a set as `{64514,64515}`.
fn segment_summary(segment: &AsPathSegment) -> String {
    let asns: Vec<String> = segment.asns.iter().map(u32::to_string).collect();
    match segment.kind {
        SegmentKind::Sequence => asns.join(" "),
        SegmentKind::Set => format!("{{{}}}", asns.join(",")),
    }
}

// ---- NOTIFICATION, ROUTE-REFRESH ----

/// Error code, subcode, data to the end (RFC 4271 §4.5). Any code is accepted:
/// no NOTIFICATION may answer a NOTIFICATION (§6.4).
fn parse_notification(body: &[u8]) -> Notification {
    let mut r = Reader::new(body);
    // The header check guarantees two octets (minimum length 21).
    let code = r.u8().unwrap_or(0);
    let subcode = r.u8().unwrap_or(0);
    Notification {
        code,
        subcode,
        data: r.rest.to_vec(),
    }
}

fn write_notification(out: &mut Vec<u8>, n: &Notification) {
    out.push(n.code);
    out.push(n.subcode);
    out.extend_from_slice(&n.data);
}

/// AFI (2 octets), reserved (1, ignored), SAFI (1) (RFC 2918 §3).
fn parse_route_refresh(body: &[u8]) -> AfiSafi {
    // The header check guarantees exactly four octets (length 23).
    let [afi_hi, afi_lo, _reserved, safi] = <[u8; 4]>::try_from(body).unwrap_or_default();
    AfiSafi {
        afi: u16::from_be_bytes([afi_hi, afi_lo]),
        safi,
    }
}

fn write_route_refresh(out: &mut Vec<u8>, family: AfiSafi) {
    out.extend_from_slice(&family.afi.to_be_bytes());
    out.push(0);
    out.push(family.safi);
}

// ---- length fields ----

/// Writes a one-octet length, then what `body` writes, then fills the length in.
fn with_u8_length(
    out: &mut Vec<u8>,
    too_long: &'static str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let at = out.len();
    out.push(0);
    body(out)?;
    out[at] = u8::try_from(out.len() - at - 1).map_err(|_| WireError::Malformed(too_long))?;
    Ok(())
}

/// Writes a two-octet length, then what `body` writes, then fills the length in.
fn with_u16_length(
    out: &mut Vec<u8>,
    too_long: &'static str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    body(out)?;
    let len = u16::try_from(out.len() - at - 2).map_err(|_| WireError::Malformed(too_long))?;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::{btree_map, vec as vec_of};
    use proptest::prelude::*;

    const NODE: Ipv4Addr = Ipv4Addr::new(10, 30, 67, 21);
    const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const PRIVATE_AS: u32 = 64512;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    /// A message as RFC 4271 §4.1 lays it out: marker, the given Length, Type, body.
    fn message(length: u16, kind: u8, body: &[u8]) -> Vec<u8> {
        let mut b = vec![0xff; 16];
        b.extend_from_slice(&length.to_be_bytes());
        b.push(kind);
        b.extend_from_slice(body);
        b
    }

    /// Parses `golden` to `expected` and writes `expected` back to `golden`.
    fn assert_golden(golden: &[u8], expected: &BgpMessage, four_octet_as: bool) {
        assert_eq!(
            BgpMessage::parse(golden, four_octet_as).as_ref(),
            Ok(expected)
        );
        assert_eq!(expected.to_bytes(four_octet_as).as_deref(), Ok(golden));
        assert_eq!(message_len(golden), Ok(Some(golden.len())));
    }

    fn parse_error(bytes: &[u8], four_octet_as: bool) -> BgpParseError {
        BgpMessage::parse(bytes, four_octet_as).unwrap_err()
    }

    /// The NOTIFICATION's code and subcode a parse error answers with.
    fn answer(e: &BgpParseError) -> (u8, u8) {
        (e.notification().code, e.notification().subcode)
    }

    fn keepalive_golden() -> Vec<u8> {
        let mut b = vec![0xff; 16];
        b.extend_from_slice(&[0x00, 0x13, 0x04]);
        b
    }

    fn open_golden() -> Vec<u8> {
        #[rustfmt::skip]
        let body = [
            0x04,                   // version 4
            0xfc, 0x00,             // My Autonomous System 64512
            0x00, 0x5a,             // Hold Time 90
            10, 0, 0, 1,            // BGP Identifier
            0x16,                   // Optional Parameters Length 22
            0x02, 0x14,             // parameter type 2 (Capabilities), 20 bytes
            0x01, 0x04, 0x00, 0x01, 0x00, 0x01,         // MP: AFI 1, reserved, SAFI 1
            0x41, 0x04, 0x00, 0x00, 0xfc, 0x00,         // 4-octet AS 64512
            0x40, 0x06, 0x00, 0x78, 0x00, 0x01, 0x01, 0x80, // GR: 120 s; IPv4 unicast, F
        ];
        message(0x33, 1, &body)
    }

    fn open_repr() -> BgpMessage {
        BgpMessage::Open(Open {
            my_as: 64512,
            hold_time: 90,
            bgp_id: ROUTER_ID,
            capabilities: vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::FourOctetAs(PRIVATE_AS),
                Capability::GracefulRestart(GracefulRestart {
                    restarting: false,
                    restart_time: 120,
                    families: vec![GracefulRestartFamily {
                        family: AfiSafi::IPV4_UNICAST,
                        forwarding_preserved: true,
                    }],
                }),
            ],
        })
    }

    #[rustfmt::skip]
    fn announce_golden_two_octet_as() -> Vec<u8> {
        let body = [
            0x00, 0x00,                         // Withdrawn Routes Length 0
            0x00, 0x12,                         // Total Path Attribute Length 18
            0x40, 0x01, 0x01, 0x00,             // ORIGIN IGP
            0x40, 0x02, 0x04, 0x02, 0x01, 0xfc, 0x00, // AS_PATH: AS_SEQUENCE of 1, 64512
            0x40, 0x03, 0x04, 10, 30, 67, 21,   // NEXT_HOP
            32, 10, 96, 0, 10,                  // NLRI 10.96.0.10/32
        ];
        message(0x2e, 2, &body)
    }

    #[rustfmt::skip]
    fn announce_golden_four_octet_as() -> Vec<u8> {
        let body = [
            0x00, 0x00,
            0x00, 0x14,                         // Total Path Attribute Length 20
            0x40, 0x01, 0x01, 0x00,
            0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfc, 0x00, // 64512 in four octets
            0x40, 0x03, 0x04, 10, 30, 67, 21,
            32, 10, 96, 0, 10,
        ];
        message(0x30, 2, &body)
    }

    fn announce_repr() -> BgpMessage {
        BgpMessage::Update(Update::announce(
            vec![net("10.96.0.10/32")],
            NODE,
            vec![PRIVATE_AS],
        ))
    }

    #[rustfmt::skip]
    fn withdraw_golden() -> Vec<u8> {
        let body = [
            0x00, 0x09,                         // Withdrawn Routes Length 9
            32, 10, 96, 0, 10,                  // 10.96.0.10/32
            24, 10, 244, 1,                     // 10.244.1.0/24
            0x00, 0x00,                         // no attributes, no NLRI
        ];
        message(0x20, 2, &body)
    }

    fn withdraw_repr() -> BgpMessage {
        BgpMessage::Update(Update::withdraw(vec![
            net("10.96.0.10/32"),
            net("10.244.1.0/24"),
        ]))
    }

    #[test]
    fn keepalive_is_the_header_alone() {
        let golden = keepalive_golden();
        assert_eq!(golden.len(), 19);
        for four_octet_as in [false, true] {
            assert_golden(&golden, &BgpMessage::Keepalive, four_octet_as);
        }
        assert_eq!(BgpMessage::Keepalive.summary(), "BGP KEEPALIVE");
    }

    #[test]
    fn open_with_mp_four_octet_as_and_graceful_restart() {
        assert_golden(&open_golden(), &open_repr(), false);
        assert_eq!(
            open_repr().summary(),
            "BGP OPEN AS 64512 hold 90 id 10.0.0.1 caps MP(ipv4/unicast),4-octet-AS 64512,GR 120s"
        );
        let BgpMessage::Open(open) = open_repr() else {
            unreachable!()
        };
        assert_eq!(open.asn(), PRIVATE_AS);
        assert_eq!(open.four_octet_asn(), Some(PRIVATE_AS));
    }

    #[test]
    fn a_wide_asn_goes_in_the_capability_and_as_trans_in_my_as() {
        let wide = 4_200_000_001;
        assert_eq!(two_octet_asn(wide), AS_TRANS);
        assert_eq!(two_octet_asn(PRIVATE_AS), 64512);
        let open = Open {
            my_as: two_octet_asn(wide),
            hold_time: 0,
            bgp_id: ROUTER_ID,
            capabilities: vec![Capability::FourOctetAs(wide), Capability::RouteRefresh],
        };
        assert_eq!(open.asn(), wide);
        let bytes = BgpMessage::Open(open.clone()).to_bytes(false).unwrap();
        assert_eq!(
            &bytes[20..22],
            &[0x5b, 0xa0],
            "23456 in My Autonomous System"
        );
        assert_eq!(BgpMessage::parse(&bytes, false), Ok(BgpMessage::Open(open)));
        let old_speaker = Open {
            my_as: 65000,
            hold_time: 180,
            bgp_id: ROUTER_ID,
            capabilities: vec![],
        };
        assert_eq!(old_speaker.asn(), 65000);
        let bytes = BgpMessage::Open(old_speaker).to_bytes(false).unwrap();
        assert_eq!(bytes.len(), 29, "the shortest OPEN: no optional parameters");
    }

    #[test]
    fn update_announcing_one_service_ip() {
        assert_golden(&announce_golden_two_octet_as(), &announce_repr(), false);
        assert_golden(&announce_golden_four_octet_as(), &announce_repr(), true);
        assert_eq!(
            announce_repr().summary(),
            "BGP UPDATE NLRI 1 (10.96.0.10/32) next-hop 10.30.67.21 AS_PATH 64512"
        );
        let BgpMessage::Update(update) = announce_repr() else {
            unreachable!()
        };
        assert_eq!(update.next_hop(), Some(NODE));
        assert_eq!(update.as_path().map(<[_]>::len), Some(1));
    }

    #[test]
    fn the_as_width_must_be_the_sessions() {
        // Four-octet bytes read as two: a segment of type 0 follows the first.
        let e = parse_error(&announce_golden_four_octet_as(), false);
        assert_eq!(answer(&e), (3, update_error::MALFORMED_AS_PATH));
        // Two-octet bytes read as four: the one AS number is cut short.
        let e = parse_error(&announce_golden_two_octet_as(), true);
        assert_eq!(answer(&e), (3, update_error::MALFORMED_AS_PATH));
        // A wide AS cannot be written on a two-octet session.
        let wide = Update::announce(vec![net("10.96.0.10/32")], NODE, vec![4_200_000_001]);
        let wide = BgpMessage::Update(wide);
        assert!(matches!(wide.to_bytes(false), Err(WireError::Malformed(_))));
        assert!(wide.to_bytes(true).is_ok());
    }

    #[test]
    fn update_that_only_withdraws() {
        assert_golden(&withdraw_golden(), &withdraw_repr(), false);
        assert_eq!(
            withdraw_repr().summary(),
            "BGP UPDATE withdrawn 2 (10.96.0.10/32, 10.244.1.0/24)"
        );
    }

    #[test]
    fn end_of_rib_is_an_empty_update() {
        let golden = message(23, 2, &[0, 0, 0, 0]);
        let eor = BgpMessage::Update(Update::end_of_rib());
        assert_golden(&golden, &eor, false);
        assert_eq!(eor.summary(), "BGP UPDATE End-of-RIB");
    }

    #[test]
    fn notification_cease_administrative_shutdown() {
        let golden = message(0x15, 3, &[0x06, 0x02]);
        let cease = BgpMessage::Notification(Notification::cease(cease::ADMINISTRATIVE_SHUTDOWN));
        assert_golden(&golden, &cease, false);
        assert_eq!(
            cease.summary(),
            "BGP NOTIFICATION Cease/Administrative Shutdown"
        );
    }

    #[test]
    fn notification_descriptions() {
        let hold = Notification::hold_timer_expired();
        assert_eq!((hold.code, hold.subcode), (4, 0));
        assert_eq!(hold.describe(), "Hold Timer Expired");
        assert_eq!(
            BgpMessage::Notification(hold).summary(),
            "BGP NOTIFICATION Hold Timer Expired"
        );
        let cases = [
            (
                Notification::cease(cease::PEER_DECONFIGURED),
                "Cease/Peer De-configured",
            ),
            (
                Notification::cease(cease::ADMINISTRATIVE_RESET),
                "Cease/Administrative Reset",
            ),
            (Notification::cease(0), "Cease"),
            (Notification::cease(99), "Cease/subcode 99"),
            (
                Notification::new(error_code::OPEN_MESSAGE, open_error::UNSUPPORTED_CAPABILITY),
                "OPEN Message Error/Unsupported Capability",
            ),
            (
                Notification::new(error_code::OPEN_MESSAGE, 0),
                "OPEN Message Error",
            ),
            (
                Notification::new(error_code::MESSAGE_HEADER, header_error::BAD_MESSAGE_TYPE),
                "Message Header Error/Bad Message Type",
            ),
            (Notification::new(9, 1), "error code 9 subcode 1"),
        ];
        for (n, text) in cases {
            assert_eq!(n.describe(), text);
        }
        let with_data = Notification {
            data: vec![0, 18],
            ..Notification::new(error_code::MESSAGE_HEADER, header_error::BAD_MESSAGE_LENGTH)
        };
        assert_eq!(
            BgpMessage::Notification(with_data).summary(),
            "BGP NOTIFICATION Message Header Error/Bad Message Length (data 2 bytes)"
        );
    }

    #[test]
    fn route_refresh_names_one_family() {
        let golden = message(23, 5, &[0x00, 0x01, 0x00, 0x01]);
        let refresh = BgpMessage::RouteRefresh(AfiSafi::IPV4_UNICAST);
        assert_golden(&golden, &refresh, false);
        assert_eq!(refresh.summary(), "BGP ROUTE-REFRESH ipv4/unicast");
    }

    #[test]
    fn header_errors() {
        use header_error::{BAD_MESSAGE_LENGTH, BAD_MESSAGE_TYPE, CONNECTION_NOT_SYNCHRONIZED};
        // Marker not all ones.
        let mut b = keepalive_golden();
        b[3] = 0xfe;
        let e = parse_error(&b, false);
        assert!(matches!(e.wire(), WireError::Malformed(_)));
        assert_eq!(answer(&e), (1, CONNECTION_NOT_SYNCHRONIZED));
        assert_eq!(message_len(&b), Err(e));

        // Length below 19 and above 4096; the data is the Length field (§6.1).
        for (length, field) in [(18u16, [0x00, 0x12]), (4097, [0x10, 0x01])] {
            let e = parse_error(&message(length, 4, &[]), false);
            assert!(matches!(e.wire(), WireError::Malformed(_)));
            assert_eq!(answer(&e), (1, BAD_MESSAGE_LENGTH));
            assert_eq!(e.notification().data, field);
        }
        // Length and buffer disagree: shorter buffer, longer buffer.
        let open = open_golden();
        let e = parse_error(&open[..open.len() - 1], false);
        assert_eq!(e.wire(), WireError::Truncated);
        assert_eq!(answer(&e), (1, BAD_MESSAGE_LENGTH));
        let mut long = keepalive_golden();
        long.push(0);
        let e = parse_error(&long, false);
        assert!(matches!(e.wire(), WireError::Malformed(_)));
        assert_eq!(answer(&e), (1, BAD_MESSAGE_LENGTH));
        // A length the type does not allow: KEEPALIVE of 20, OPEN of 28, NOTIFICATION of 20.
        for (length, kind) in [(20u16, 4u8), (28, 1), (20, 3), (24, 5)] {
            let b = message(length, kind, &vec![0; usize::from(length) - 19]);
            let e = parse_error(&b, false);
            assert_eq!(
                answer(&e),
                (1, BAD_MESSAGE_LENGTH),
                "type {kind} length {length}"
            );
        }
        // Shorter than a header.
        let e = parse_error(&keepalive_golden()[..18], false);
        assert_eq!(e.wire(), WireError::Truncated);
        // Unknown type; the data is the Type field.
        for kind in [0u8, 6, 255] {
            let e = parse_error(&message(19, kind, &[]), false);
            assert!(matches!(e.wire(), WireError::Unsupported(_)));
            assert_eq!(answer(&e), (1, BAD_MESSAGE_TYPE));
            assert_eq!(e.notification().data, [kind]);
        }
        let e = parse_error(&message(19, 0, &[]), false);
        assert_eq!(
            e.to_string(),
            "unsupported: BGP message type other than 1 to 5 \
             (answer: NOTIFICATION Message Header Error/Bad Message Type)"
        );
        assert!(matches!(WireError::from(e), WireError::Unsupported(_)));
    }

    #[test]
    fn open_errors() {
        use open_error::*;
        let with = |at: usize, bytes: &[u8]| {
            let mut b = open_golden();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            parse_error(&b, false)
        };
        let e = with(19, &[3]);
        assert_eq!(answer(&e), (2, UNSUPPORTED_VERSION_NUMBER));
        assert_eq!(e.notification().data, [0, 4], "the version we support");
        assert_eq!(answer(&with(22, &[0, 2])), (2, UNACCEPTABLE_HOLD_TIME));
        assert_eq!(answer(&with(22, &[0, 1])), (2, UNACCEPTABLE_HOLD_TIME));
        assert_eq!(answer(&with(24, &[0, 0, 0, 0])), (2, BAD_BGP_IDENTIFIER));
        // Optional Parameters Length says 21, 22 follow.
        assert_eq!(answer(&with(28, &[0x15])), (2, UNSPECIFIC));
        // Parameter type 1 (Authentication, deprecated) is not understood.
        let e = with(29, &[1]);
        assert!(matches!(e.wire(), WireError::Unsupported(_)));
        assert_eq!(answer(&e), (2, UNSUPPORTED_OPTIONAL_PARAMETER));
        // The 4-octet AS capability 5 octets long; GR running past its parameter.
        assert_eq!(answer(&with(38, &[0x05])), (2, UNSPECIFIC));
        assert_eq!(answer(&with(44, &[0x07])), (2, UNSPECIFIC));
        // A Multiprotocol capability of 3 octets.
        let mp_of_3 = [0x02, 0x05, 0x01, 0x03, 0x00, 0x01, 0x00];
        let b = message(
            19 + 10 + 7,
            1,
            &[&[4, 0xfc, 0, 0, 90, 10, 0, 0, 1, 7][..], &mp_of_3].concat(),
        );
        assert_eq!(answer(&parse_error(&b, false)), (2, UNSPECIFIC));
    }

    #[test]
    fn capabilities_in_several_parameters_read_as_one_list() {
        // RFC 5492 §4 allows one capability per parameter; we write them in one.
        #[rustfmt::skip]
        let body = [
            4, 0xfc, 0x00, 0, 90, 10, 0, 0, 1,
            0x12,
            0x02, 0x06, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01,
            0x02, 0x00,                                 // an empty Capabilities parameter
            0x02, 0x06, 0x46, 0x04, 1, 2, 3, 4,         // code 70, unknown: kept raw
        ];
        let b = message(19 + 28, 1, &body);
        let BgpMessage::Open(open) = BgpMessage::parse(&b, false).unwrap() else {
            panic!("not an OPEN")
        };
        assert_eq!(
            open.capabilities,
            [
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Unknown {
                    code: 70,
                    value: vec![1, 2, 3, 4]
                }
            ]
        );
        let again = BgpMessage::Open(open.clone()).to_bytes(false).unwrap();
        assert_eq!(again.len(), b.len() - 4, "one parameter header, not three");
        assert_eq!(BgpMessage::parse(&again, false), Ok(BgpMessage::Open(open)));
    }

    /// An UPDATE with no withdrawn routes, these attribute bytes and this NLRI.
    fn update_with(attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0];
        body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
        body.extend_from_slice(attributes);
        body.extend_from_slice(nlri);
        message((19 + body.len()) as u16, 2, &body)
    }

    const ORIGIN_IGP: [u8; 4] = [0x40, 0x01, 0x01, 0x00];
    const EMPTY_AS_PATH: [u8; 3] = [0x40, 0x02, 0x00];
    const NEXT_HOP: [u8; 7] = [0x40, 0x03, 0x04, 10, 30, 67, 21];

    #[test]
    fn update_attribute_errors() {
        use update_error::*;
        let attrs = |parts: &[&[u8]]| parts.concat();
        let host = [32, 10, 96, 0, 10];
        let check = |attributes: Vec<u8>, nlri: &[u8], want: u8| {
            let e = parse_error(&update_with(&attributes, nlri), false);
            assert_eq!(answer(&e), (3, want), "{attributes:02x?}");
            e
        };
        // NEXT_HOP's length says 4 but the attribute list ends after 2.
        let e = check(
            attrs(&[&ORIGIN_IGP, &[0x40, 0x03, 0x04, 10, 30]]),
            &[],
            MALFORMED_ATTRIBUTE_LIST,
        );
        assert!(matches!(e.wire(), WireError::Malformed(_)));
        // A header cut after the flags; an extended length cut after one octet.
        check(vec![0x40], &[], MALFORMED_ATTRIBUTE_LIST);
        check(vec![0x50, 0x02, 0x00], &[], MALFORMED_ATTRIBUTE_LIST);
        // ORIGIN twice.
        check(
            attrs(&[&ORIGIN_IGP, &ORIGIN_IGP]),
            &[],
            MALFORMED_ATTRIBUTE_LIST,
        );
        // ORIGIN sent as optional; the data is the whole attribute.
        let e = check(vec![0x80, 0x01, 0x01, 0x00], &[], ATTRIBUTE_FLAGS_ERROR);
        assert_eq!(e.notification().data, [0x80, 0x01, 0x01, 0x00]);
        // MED sent as well-known.
        check(
            vec![0x40, 0x04, 0x04, 0, 0, 0, 1],
            &[],
            ATTRIBUTE_FLAGS_ERROR,
        );
        // NEXT_HOP of 5 octets.
        let e = check(
            vec![0x40, 0x03, 0x05, 1, 2, 3, 4, 5],
            &[],
            ATTRIBUTE_LENGTH_ERROR,
        );
        assert_eq!(e.notification().data, [0x40, 0x03, 0x05, 1, 2, 3, 4, 5]);
        // ORIGIN 3.
        check(vec![0x40, 0x01, 0x01, 0x03], &[], INVALID_ORIGIN_ATTRIBUTE);
        // AS_PATH segment type 3 (AS_CONFED_SEQUENCE) is not modelled.
        check(
            vec![0x40, 0x02, 0x04, 0x03, 0x01, 0xfc, 0x00],
            &[],
            MALFORMED_AS_PATH,
        );
        // NLRI without NEXT_HOP; the data is the missing type code.
        let e = check(
            attrs(&[&ORIGIN_IGP, &EMPTY_AS_PATH]),
            &host,
            MISSING_WELL_KNOWN_ATTRIBUTE,
        );
        assert_eq!(e.notification().data, [3]);
        // With all three it parses, and a typed attribute with an extended
        // length reads the same as with a short one.
        let long_next_hop = [0x50, 0x03, 0x00, 0x04, 10, 30, 67, 21];
        let ok = update_with(
            &attrs(&[&ORIGIN_IGP, &EMPTY_AS_PATH, &long_next_hop]),
            &host,
        );
        let BgpMessage::Update(u) = BgpMessage::parse(&ok, false).unwrap() else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.next_hop(), Some(NODE));
        assert_eq!(
            update_summary(&u),
            "BGP UPDATE NLRI 1 (10.96.0.10/32) next-hop 10.30.67.21 AS_PATH empty"
        );
        // Withdrawn Routes Length and Total Path Attribute Length past the message.
        let b = message(23, 2, &[0, 1, 0, 0]);
        assert_eq!(
            answer(&parse_error(&b, false)),
            (3, MALFORMED_ATTRIBUTE_LIST)
        );
        let b = message(23, 2, &[0, 0, 0, 1]);
        assert_eq!(
            answer(&parse_error(&b, false)),
            (3, MALFORMED_ATTRIBUTE_LIST)
        );
    }

    #[test]
    fn unknown_attributes_keep_their_flags() {
        // AS4_PATH (17, optional transitive, partial) and ATOMIC_AGGREGATE (6,
        // well-known, empty), the first with an Extended Length it does not need.
        let as4_path = [0xf0, 17, 0x00, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfc, 0x00];
        let atomic = [0x40, 6, 0x00];
        let b = update_with(&[&as4_path[..], &atomic].concat(), &[]);
        let parsed = BgpMessage::parse(&b, false).unwrap();
        let BgpMessage::Update(u) = &parsed else {
            panic!("not an UPDATE")
        };
        assert_eq!(
            u.attributes,
            [
                PathAttribute::Unknown {
                    flags: 0xf0,
                    code: 17,
                    value: vec![0x02, 0x01, 0x00, 0x00, 0xfc, 0x00]
                },
                PathAttribute::Unknown {
                    flags: 0x40,
                    code: 6,
                    value: vec![]
                },
            ]
        );
        assert_eq!(parsed.to_bytes(false), Ok(b));
        assert_eq!(
            parsed.summary(),
            "BGP UPDATE attr 17 (6 bytes) attr 6 (0 bytes)"
        );
    }

    #[test]
    fn prefix_errors_and_host_bits() {
        use update_error::INVALID_NETWORK_FIELD;
        // Prefix length 33, in the Withdrawn Routes and in the NLRI.
        let b = message(19 + 9, 2, &[0, 5, 33, 10, 96, 0, 10, 0, 0]);
        let e = parse_error(&b, false);
        assert!(matches!(e.wire(), WireError::Malformed(_)));
        assert_eq!(answer(&e), (3, INVALID_NETWORK_FIELD));
        let all = [&ORIGIN_IGP[..], &EMPTY_AS_PATH, &NEXT_HOP].concat();
        let e = parse_error(&update_with(&all, &[33, 10, 96, 0, 10]), false);
        assert_eq!(answer(&e), (3, INVALID_NETWORK_FIELD));
        // A /24 with only two octets.
        let e = parse_error(&update_with(&all, &[24, 10, 244]), false);
        assert_eq!(answer(&e), (3, INVALID_NETWORK_FIELD));
        // Trailing bits are irrelevant (RFC 4271 §4.3): cleared on parse …
        let b = message(19 + 8, 2, &[0, 4, 20, 10, 244, 0x1f, 0, 0]);
        let parsed = BgpMessage::parse(&b, false).unwrap();
        assert_eq!(
            parsed,
            BgpMessage::Update(Update::withdraw(vec![net("10.244.16.0/20")]))
        );
        // … and refused on emit, where they are the caller's mistake.
        let sloppy = Update::withdraw(vec![net("10.244.31.7/20")]);
        assert!(matches!(
            BgpMessage::Update(sloppy).to_bytes(false),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn prefixes_take_the_fewest_octets() {
        for (prefix, len) in [
            ("10.96.0.10/32", 5),
            ("10.244.1.0/24", 4),
            ("10.244.16.0/20", 4),
            ("10.0.0.0/8", 2),
            ("128.0.0.0/1", 2),
            ("0.0.0.0/0", 1),
        ] {
            let mut out = vec![];
            write_prefix(&mut out, net(prefix)).unwrap();
            assert_eq!(out.len(), len, "{prefix}");
        }
    }

    #[test]
    fn emit_refuses_what_would_not_read_back() {
        let refused = |m: BgpMessage| {
            assert!(
                matches!(m.to_bytes(true), Err(WireError::Malformed(_))),
                "{m:?}"
            );
        };
        let open = |capabilities, hold_time, bgp_id| {
            BgpMessage::Open(Open {
                my_as: 64512,
                hold_time,
                bgp_id,
                capabilities,
            })
        };
        refused(open(vec![], 2, ROUTER_ID));
        refused(open(vec![], 90, Ipv4Addr::UNSPECIFIED));
        refused(open(
            vec![Capability::Unknown {
                code: 65,
                value: vec![0; 4],
            }],
            90,
            ROUTER_ID,
        ));
        let late = GracefulRestart {
            restarting: true,
            restart_time: 4096,
            families: vec![],
        };
        refused(open(vec![Capability::GracefulRestart(late)], 90, ROUTER_ID));
        let fat = Capability::Unknown {
            code: 70,
            value: vec![0; 200],
        };
        refused(open(vec![fat.clone(), fat], 90, ROUTER_ID));

        let mut update = Update::announce(vec![net("10.96.0.10/32")], NODE, vec![PRIVATE_AS]);
        update.attributes.push(PathAttribute::NextHop(NODE));
        refused(BgpMessage::Update(update));
        let mut update = Update::announce(vec![net("10.96.0.10/32")], NODE, vec![PRIVATE_AS]);
        update.attributes.remove(0);
        refused(BgpMessage::Update(update));
        let typed_as_unknown = PathAttribute::Unknown {
            flags: 0x40,
            code: 1,
            value: vec![0],
        };
        refused(BgpMessage::Update(Update {
            attributes: vec![typed_as_unknown],
            ..Update::default()
        }));
        let long_without_flag = PathAttribute::Unknown {
            flags: 0xc0,
            code: 99,
            value: vec![0; 256],
        };
        refused(BgpMessage::Update(Update {
            attributes: vec![long_without_flag],
            ..Update::default()
        }));
        let segment = AsPathSegment {
            kind: SegmentKind::Sequence,
            asns: vec![1; 256],
        };
        refused(BgpMessage::Update(Update {
            attributes: vec![PathAttribute::AsPath(vec![segment])],
            ..Update::default()
        }));
        // 1,000 /32s need 5,000 bytes: more than one message holds.
        let many = (0..1000u32)
            .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a60_0000 + i), 32).unwrap())
            .collect();
        refused(BgpMessage::Update(Update::withdraw(many)));
    }

    #[test]
    fn a_long_as_path_gets_an_extended_length() {
        let segment = AsPathSegment {
            kind: SegmentKind::Sequence,
            asns: (1..=70).collect(),
        };
        let mut update = Update::announce(vec![net("10.96.0.10/32")], NODE, vec![]);
        update.attributes[1] = PathAttribute::AsPath(vec![segment]);
        let m = BgpMessage::Update(update);
        let bytes = m.to_bytes(true).unwrap();
        // Withdrawn length, attribute length, ORIGIN, then AS_PATH's flags.
        assert_eq!(&bytes[27..29], &[0x50, 0x02], "flags 0x50: Extended Length");
        assert_eq!(&bytes[29..31], &(2u16 + 280).to_be_bytes());
        assert_eq!(BgpMessage::parse(&bytes, true), Ok(m));
    }

    #[test]
    fn as_sets_and_other_attributes_in_the_summary() {
        let update = Update {
            withdrawn: (0..10u32)
                .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a60_0000 + i), 32).unwrap())
                .collect(),
            attributes: vec![
                PathAttribute::Origin(Origin::Incomplete),
                PathAttribute::AsPath(vec![
                    AsPathSegment {
                        kind: SegmentKind::Sequence,
                        asns: vec![64512, 64513],
                    },
                    AsPathSegment {
                        kind: SegmentKind::Set,
                        asns: vec![64514, 64515],
                    },
                ]),
                PathAttribute::NextHop(NODE),
                PathAttribute::MultiExitDisc(10),
                PathAttribute::LocalPref(100),
            ],
            nlri: vec![net("10.96.0.10/32"), net("10.96.0.11/32")],
        };
        assert_eq!(
            update_summary(&update),
            "BGP UPDATE withdrawn 10 (10.96.0.0/32, 10.96.0.1/32, 10.96.0.2/32, 10.96.0.3/32, \
             10.96.0.4/32, 10.96.0.5/32, 10.96.0.6/32, 10.96.0.7/32, +2 more) \
             NLRI 2 (10.96.0.10/32, 10.96.0.11/32) next-hop 10.30.67.21 \
             AS_PATH 64512 64513 {64514,64515} origin INCOMPLETE MED 10 local-pref 100"
        );
        let m = BgpMessage::Update(update);
        assert_eq!(BgpMessage::parse(&m.to_bytes(false).unwrap(), false), Ok(m));
    }

    #[test]
    fn a_stream_is_cut_at_the_header_length() {
        let mut stream = open_golden();
        stream.extend_from_slice(&keepalive_golden());
        assert_eq!(message_len(&stream[..18]), Ok(None));
        assert_eq!(message_len(&stream[..19]), Ok(None), "header in, body not");
        assert_eq!(message_len(&stream[..50]), Ok(None));
        assert_eq!(message_len(&stream), Ok(Some(51)));
        assert_eq!(message_len(&stream[51..]), Ok(Some(19)));
        let mut out_of_step = stream[1..].to_vec();
        out_of_step.push(0);
        let e = message_len(&out_of_step).unwrap_err();
        assert_eq!(answer(&e), (1, header_error::CONNECTION_NOT_SYNCHRONIZED));
    }

    // ---- properties ------------------------------------------------------

    fn any_prefix() -> impl Strategy<Value = Ipv4Net> {
        (any::<u32>(), 0u8..=32)
            .prop_map(|(addr, len)| Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc())
    }

    fn any_family() -> impl Strategy<Value = AfiSafi> {
        prop_oneof![
            Just(AfiSafi::IPV4_UNICAST),
            (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| AfiSafi { afi, safi }),
        ]
    }

    fn any_graceful_restart() -> impl Strategy<Value = GracefulRestart> {
        let family = (any_family(), any::<bool>()).prop_map(|(family, forwarding_preserved)| {
            GracefulRestartFamily {
                family,
                forwarding_preserved,
            }
        });
        (any::<bool>(), 0..=MAX_RESTART_TIME, vec_of(family, 0..4)).prop_map(
            |(restarting, restart_time, families)| GracefulRestart {
                restarting,
                restart_time,
                families,
            },
        )
    }

    fn any_capability() -> impl Strategy<Value = Capability> {
        let unknown_code =
            any::<u8>().prop_filter("a code typed here", |c| !is_typed_capability(*c));
        prop_oneof![
            any_family().prop_map(Capability::Multiprotocol),
            Just(Capability::RouteRefresh),
            any_graceful_restart().prop_map(Capability::GracefulRestart),
            any::<u32>().prop_map(Capability::FourOctetAs),
            (unknown_code, vec_of(any::<u8>(), 0..16))
                .prop_map(|(code, value)| Capability::Unknown { code, value }),
        ]
    }

    fn any_open() -> impl Strategy<Value = Open> {
        let hold_time = prop_oneof![Just(0u16), 3u16..];
        let bgp_id = (1u32..).prop_map(Ipv4Addr::from);
        (
            any::<u16>(),
            hold_time,
            bgp_id,
            vec_of(any_capability(), 0..8),
        )
            .prop_map(|(my_as, hold_time, bgp_id, capabilities)| Open {
                my_as,
                hold_time,
                bgp_id,
                capabilities,
            })
    }

    fn any_asn(four_octet_as: bool) -> BoxedStrategy<u32> {
        if four_octet_as {
            any::<u32>().boxed()
        } else {
            (0..=u32::from(u16::MAX)).boxed()
        }
    }

    fn any_as_path(four_octet_as: bool) -> impl Strategy<Value = Vec<AsPathSegment>> {
        let kind = prop_oneof![Just(SegmentKind::Set), Just(SegmentKind::Sequence)];
        let segment = (kind, vec_of(any_asn(four_octet_as), 0..10))
            .prop_map(|(kind, asns)| AsPathSegment { kind, asns });
        vec_of(segment, 0..3)
    }

    fn any_origin() -> impl Strategy<Value = Origin> {
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]
    }

    /// Unknown attributes with distinct type codes outside 1..=5; a value over
    /// 255 bytes gets the Extended Length flag it needs.
    fn any_unknown_attributes() -> impl Strategy<Value = Vec<PathAttribute>> {
        let code = any::<u8>().prop_filter("a code typed here", |c| !(1..=5).contains(c));
        btree_map(code, (any::<u8>(), vec_of(any::<u8>(), 0..300)), 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(code, (flags, value))| {
                    let flags = if value.len() > 255 {
                        flags | attribute_flag::EXTENDED_LENGTH
                    } else {
                        flags
                    };
                    PathAttribute::Unknown { flags, code, value }
                })
                .collect()
        })
    }

    fn any_update(four_octet_as: bool) -> impl Strategy<Value = Update> {
        let typed = (
            proptest::option::of(any_origin()),
            proptest::option::of(any_as_path(four_octet_as)),
            proptest::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
        );
        let nlri = vec_of(any_prefix(), 0..20);
        (typed, any_unknown_attributes(), nlri)
            .prop_map(
                |((origin, as_path, next_hop, med, local_pref), unknown, nlri)| {
                    let mandatory = !nlri.is_empty();
                    let mut attributes: Vec<PathAttribute> = [
                        origin
                            .or(mandatory.then_some(Origin::Igp))
                            .map(PathAttribute::Origin),
                        as_path
                            .or(mandatory.then(Vec::new))
                            .map(PathAttribute::AsPath),
                        next_hop
                            .or(mandatory.then_some(NODE))
                            .map(PathAttribute::NextHop),
                        med.map(PathAttribute::MultiExitDisc),
                        local_pref.map(PathAttribute::LocalPref),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    attributes.extend(unknown);
                    (attributes, nlri)
                },
            )
            .prop_flat_map(|(attributes, nlri)| {
                (
                    Just(attributes).prop_shuffle(),
                    Just(nlri),
                    vec_of(any_prefix(), 0..20),
                )
            })
            .prop_map(|(attributes, nlri, withdrawn)| Update {
                withdrawn,
                attributes,
                nlri,
            })
    }

    fn any_notification() -> impl Strategy<Value = Notification> {
        (any::<u8>(), any::<u8>(), vec_of(any::<u8>(), 0..32)).prop_map(|(code, subcode, data)| {
            Notification {
                code,
                subcode,
                data,
            }
        })
    }

    /// A session's AS width and a message valid on it.
    fn any_session_message() -> impl Strategy<Value = (bool, BgpMessage)> {
        any::<bool>().prop_flat_map(|four_octet_as| {
            let message = prop_oneof![
                any_open().prop_map(BgpMessage::Open),
                any_update(four_octet_as).prop_map(BgpMessage::Update),
                any_notification().prop_map(BgpMessage::Notification),
                Just(BgpMessage::Keepalive),
                any_family().prop_map(BgpMessage::RouteRefresh),
            ];
            (Just(four_octet_as), message)
        })
    }

    /// What every successful parse must satisfy: the message writes back, and
    /// what it writes reads as the same message.
    fn assert_stable(message: &BgpMessage, four_octet_as: bool) -> Result<(), TestCaseError> {
        let bytes = message.to_bytes(four_octet_as);
        prop_assert!(
            bytes.is_ok(),
            "{message:?} parsed but does not write: {bytes:?}"
        );
        let again = BgpMessage::parse(&bytes.unwrap(), four_octet_as);
        prop_assert_eq!(again.as_ref(), Ok(message));
        let _ = message.summary();
        Ok(())
    }

    proptest! {
        #[test]
        fn messages_round_trip_byte_for_byte((four_octet_as, m) in any_session_message()) {
            let bytes = m.to_bytes(four_octet_as).unwrap();
            prop_assert_eq!(message_len(&bytes), Ok(Some(bytes.len())));
            let parsed = BgpMessage::parse(&bytes, four_octet_as);
            prop_assert_eq!(parsed.as_ref(), Ok(&m));
            prop_assert_eq!(parsed.unwrap().to_bytes(four_octet_as).unwrap(), bytes);
            let _ = m.summary();
        }

        #[test]
        fn prefixes_encode_in_the_fewest_octets(prefix in any_prefix()) {
            let mut out = vec![];
            write_prefix(&mut out, prefix).unwrap();
            let octets = usize::from(prefix.prefix_len()).div_ceil(8);
            prop_assert_eq!(out.len(), 1 + octets);
            prop_assert_eq!(read_prefix(&mut Reader::new(&out)), Ok(prefix));
        }

        #[test]
        fn parse_never_panics(bytes in vec_of(any::<u8>(), 0..200), four_octet_as in any::<bool>()) {
            let _ = message_len(&bytes);
            if let Ok(m) = BgpMessage::parse(&bytes, four_octet_as) {
                assert_stable(&m, four_octet_as)?;
            }
        }

        #[test]
        fn parse_never_panics_behind_a_valid_header(
            kind in 0u8..=6,
            body in vec_of(any::<u8>(), 0..160),
            four_octet_as in any::<bool>(),
        ) {
            // Past the header checks, so the body parsers see arbitrary input.
            let b = message((HEADER_LEN + body.len()) as u16, kind, &body);
            if let Ok(m) = BgpMessage::parse(&b, four_octet_as) {
                assert_stable(&m, four_octet_as)?;
            }
        }

        #[test]
        fn a_changed_byte_never_panics(
            (four_octet_as, m) in any_session_message(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut b = m.to_bytes(four_octet_as).unwrap();
            let i = at.index(b.len());
            b[i] = byte;
            if let Ok(m) = BgpMessage::parse(&b, four_octet_as) {
                assert_stable(&m, four_octet_as)?;
            }
        }
    }
}
