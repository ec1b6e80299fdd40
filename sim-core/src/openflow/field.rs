//! The packet and metadata fields an OpenFlow match, `set_field`, `load`, `move` and
//! `learn` can name: their widths, their text names (the `ovs-ofctl` match name,
//! the `set_field` OXM name) and their NXM/OXM names (`NXM_NX_REG0`,
//! `NXM_OF_IP_DST`, `OXM_OF_TCP_DST`, ...), and how a value of each is written.
//!
//! Storage follows OVS's `struct flow`: ARP's opcode and protocol addresses live
//! in `nw_proto`/`nw_src`/`nw_dst`, ICMP's type and code in `tp_src`/`tp_dst`
//! (see [`Field::storage`]). Field names and widths are OVS's
//! (`lib/meta-flow.xml`).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One field. `Reg(n)` is `reg0`..`reg15` (32 bits), `Xxreg(n)` is `xxreg0`..`xxreg3`
/// (128 bits; `xxregN` is `reg4N` (most significant) .. `reg4N+3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    InPort,
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    /// OXM `vlan_vid`: the VID plus the 0x1000 "present" bit (13 bits).
    VlanVid,
    /// `dl_vlan`: the 12-bit VID of a tagged frame.
    DlVlan,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    NwSrc,
    NwDst,
    NwProto,
    NwTtl,
    TpSrc,
    TpDst,
    IcmpType,
    IcmpCode,
    Ipv6Src,
    Ipv6Dst,
    Reg(u8),
    Xxreg(u8),
    PktMark,
    CtState,
    CtMark,
    CtLabel,
    CtZone,
    CtNwSrc,
    CtNwDst,
    CtNwProto,
    CtTpSrc,
    CtTpDst,
    TunId,
    TunSrc,
    TunDst,
    TunIpv6Dst,
    ConjId,
    Metadata,
}

/// How a value of a field is written in flow text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dec,
    Hex,
    /// Hex padded to four digits (`vlan_tci=0x0000/0x1000`, `dl_type=0x0800`).
    Hex4,
    Mac,
    Ip4,
    Ip6,
    /// `+new+trk-snat`.
    CtState,
}

/// `ct_state` bits (OVS `CS_*`, `lib/packets.h`).
pub mod ct_bits {
    pub const NEW: u8 = 0x01;
    pub const EST: u8 = 0x02;
    pub const REL: u8 = 0x04;
    pub const RPL: u8 = 0x08;
    pub const INV: u8 = 0x10;
    pub const TRK: u8 = 0x20;
    pub const SNAT: u8 = 0x40;
    pub const DNAT: u8 = 0x80;
    /// In bit order, as OVS prints them.
    pub const NAMES: [(u8, &str); 8] = [
        (NEW, "new"),
        (EST, "est"),
        (REL, "rel"),
        (RPL, "rpl"),
        (INV, "inv"),
        (TRK, "trk"),
        (SNAT, "snat"),
        (DNAT, "dnat"),
    ];
}

/// Match names (`ovs-ofctl` legacy names first, as it prints them).
const MATCH_NAMES: &[(&str, Field)] = &[
    ("in_port", Field::InPort),
    ("dl_src", Field::EthSrc),
    ("eth_src", Field::EthSrc),
    ("dl_dst", Field::EthDst),
    ("eth_dst", Field::EthDst),
    ("dl_type", Field::EthType),
    ("eth_type", Field::EthType),
    ("vlan_tci", Field::VlanTci),
    ("vlan_vid", Field::VlanVid),
    ("dl_vlan", Field::DlVlan),
    ("arp_op", Field::ArpOp),
    ("arp_spa", Field::ArpSpa),
    ("arp_tpa", Field::ArpTpa),
    ("arp_sha", Field::ArpSha),
    ("arp_tha", Field::ArpTha),
    ("nw_src", Field::NwSrc),
    ("ip_src", Field::NwSrc),
    ("nw_dst", Field::NwDst),
    ("ip_dst", Field::NwDst),
    ("nw_proto", Field::NwProto),
    ("ip_proto", Field::NwProto),
    ("nw_ttl", Field::NwTtl),
    ("tp_src", Field::TpSrc),
    ("tcp_src", Field::TpSrc),
    ("udp_src", Field::TpSrc),
    ("sctp_src", Field::TpSrc),
    ("tp_dst", Field::TpDst),
    ("tcp_dst", Field::TpDst),
    ("udp_dst", Field::TpDst),
    ("sctp_dst", Field::TpDst),
    ("icmp_type", Field::IcmpType),
    ("icmpv4_type", Field::IcmpType),
    ("icmpv6_type", Field::IcmpType),
    ("icmp_code", Field::IcmpCode),
    ("icmpv4_code", Field::IcmpCode),
    ("icmpv6_code", Field::IcmpCode),
    ("ipv6_src", Field::Ipv6Src),
    ("ipv6_dst", Field::Ipv6Dst),
    ("pkt_mark", Field::PktMark),
    ("ct_state", Field::CtState),
    ("ct_mark", Field::CtMark),
    ("ct_label", Field::CtLabel),
    ("ct_zone", Field::CtZone),
    ("ct_nw_src", Field::CtNwSrc),
    ("ct_nw_dst", Field::CtNwDst),
    ("ct_nw_proto", Field::CtNwProto),
    ("ct_tp_src", Field::CtTpSrc),
    ("ct_tp_dst", Field::CtTpDst),
    ("tun_id", Field::TunId),
    ("tunnel_id", Field::TunId),
    ("tun_src", Field::TunSrc),
    ("tun_dst", Field::TunDst),
    ("tun_ipv6_dst", Field::TunIpv6Dst),
    ("conj_id", Field::ConjId),
    ("metadata", Field::Metadata),
];

/// NXM/OXM names for `load`/`move`/`learn`/`output:` and their widths (bits).
/// The index into this table is what a [`FieldRef`] keeps, so text prints back
/// with the spelling it was written with.
const NXM_NAMES: &[(&str, Field, u16)] = &[
    ("NXM_OF_IN_PORT", Field::InPort, 16),
    ("OXM_OF_IN_PORT", Field::InPort, 32),
    ("NXM_OF_ETH_SRC", Field::EthSrc, 48),
    ("NXM_OF_ETH_DST", Field::EthDst, 48),
    ("OXM_OF_ETH_SRC", Field::EthSrc, 48),
    ("OXM_OF_ETH_DST", Field::EthDst, 48),
    ("NXM_OF_ETH_TYPE", Field::EthType, 16),
    ("NXM_OF_VLAN_TCI", Field::VlanTci, 16),
    ("OXM_OF_VLAN_VID", Field::VlanVid, 13),
    ("NXM_OF_ARP_OP", Field::ArpOp, 16),
    ("NXM_OF_ARP_SPA", Field::ArpSpa, 32),
    ("NXM_OF_ARP_TPA", Field::ArpTpa, 32),
    ("NXM_NX_ARP_SHA", Field::ArpSha, 48),
    ("NXM_NX_ARP_THA", Field::ArpTha, 48),
    ("NXM_OF_IP_SRC", Field::NwSrc, 32),
    ("NXM_OF_IP_DST", Field::NwDst, 32),
    ("OXM_OF_IPV4_SRC", Field::NwSrc, 32),
    ("OXM_OF_IPV4_DST", Field::NwDst, 32),
    ("NXM_OF_IP_PROTO", Field::NwProto, 8),
    ("NXM_NX_IP_TTL", Field::NwTtl, 8),
    ("NXM_OF_TCP_SRC", Field::TpSrc, 16),
    ("NXM_OF_TCP_DST", Field::TpDst, 16),
    ("NXM_OF_UDP_SRC", Field::TpSrc, 16),
    ("NXM_OF_UDP_DST", Field::TpDst, 16),
    ("OXM_OF_TCP_SRC", Field::TpSrc, 16),
    ("OXM_OF_TCP_DST", Field::TpDst, 16),
    ("OXM_OF_UDP_SRC", Field::TpSrc, 16),
    ("OXM_OF_UDP_DST", Field::TpDst, 16),
    ("OXM_OF_SCTP_SRC", Field::TpSrc, 16),
    ("OXM_OF_SCTP_DST", Field::TpDst, 16),
    ("NXM_OF_ICMP_TYPE", Field::IcmpType, 8),
    ("NXM_OF_ICMP_CODE", Field::IcmpCode, 8),
    ("NXM_NX_IPV6_SRC", Field::Ipv6Src, 128),
    ("NXM_NX_IPV6_DST", Field::Ipv6Dst, 128),
    ("NXM_NX_PKT_MARK", Field::PktMark, 32),
    ("NXM_NX_CT_STATE", Field::CtState, 32),
    ("NXM_NX_CT_ZONE", Field::CtZone, 16),
    ("NXM_NX_CT_MARK", Field::CtMark, 32),
    ("NXM_NX_CT_LABEL", Field::CtLabel, 128),
    ("NXM_NX_CT_NW_SRC", Field::CtNwSrc, 32),
    ("NXM_NX_CT_NW_DST", Field::CtNwDst, 32),
    ("NXM_NX_CT_NW_PROTO", Field::CtNwProto, 8),
    ("NXM_NX_CT_TP_SRC", Field::CtTpSrc, 16),
    ("NXM_NX_CT_TP_DST", Field::CtTpDst, 16),
    ("NXM_NX_TUN_ID", Field::TunId, 64),
    ("NXM_NX_TUN_IPV4_SRC", Field::TunSrc, 32),
    ("NXM_NX_TUN_IPV4_DST", Field::TunDst, 32),
    ("NXM_NX_TUN_IPV6_DST", Field::TunIpv6Dst, 128),
    ("OXM_OF_METADATA", Field::Metadata, 64),
    ("NXM_NX_REG0", Field::Reg(0), 32),
    ("NXM_NX_REG1", Field::Reg(1), 32),
    ("NXM_NX_REG2", Field::Reg(2), 32),
    ("NXM_NX_REG3", Field::Reg(3), 32),
    ("NXM_NX_REG4", Field::Reg(4), 32),
    ("NXM_NX_REG5", Field::Reg(5), 32),
    ("NXM_NX_REG6", Field::Reg(6), 32),
    ("NXM_NX_REG7", Field::Reg(7), 32),
    ("NXM_NX_REG8", Field::Reg(8), 32),
    ("NXM_NX_REG9", Field::Reg(9), 32),
    ("NXM_NX_REG10", Field::Reg(10), 32),
    ("NXM_NX_REG11", Field::Reg(11), 32),
    ("NXM_NX_REG12", Field::Reg(12), 32),
    ("NXM_NX_REG13", Field::Reg(13), 32),
    ("NXM_NX_REG14", Field::Reg(14), 32),
    ("NXM_NX_REG15", Field::Reg(15), 32),
    ("NXM_NX_XXREG0", Field::Xxreg(0), 128),
    ("NXM_NX_XXREG1", Field::Xxreg(1), 128),
    ("NXM_NX_XXREG2", Field::Xxreg(2), 128),
    ("NXM_NX_XXREG3", Field::Xxreg(3), 128),
];

impl Field {
    /// Width in bits.
    pub fn width(self) -> u16 {
        use Field::*;
        match self {
            InPort => 32,
            EthSrc | EthDst | ArpSha | ArpTha => 48,
            EthType | VlanTci | ArpOp | TpSrc | TpDst | CtZone | CtTpSrc | CtTpDst => 16,
            VlanVid => 13,
            DlVlan => 12,
            ArpSpa | ArpTpa | NwSrc | NwDst | CtNwSrc | CtNwDst | TunSrc | TunDst => 32,
            NwProto | NwTtl | IcmpType | IcmpCode | CtNwProto => 8,
            Ipv6Src | Ipv6Dst | Xxreg(_) | CtLabel | TunIpv6Dst => 128,
            Reg(_) | PktMark | CtState | CtMark | ConjId => 32,
            TunId | Metadata => 64,
        }
    }

    /// All ones over the field's width.
    pub fn full_mask(self) -> u128 {
        ones(self.width())
    }

    /// The field's value kind (how it is written).
    pub fn kind(self) -> Kind {
        use Field::*;
        match self {
            InPort | VlanVid | DlVlan | ArpOp | NwProto | NwTtl | TpSrc | TpDst | IcmpType
            | IcmpCode | CtZone | CtNwProto | CtTpSrc | CtTpDst | ConjId => Kind::Dec,
            EthSrc | EthDst | ArpSha | ArpTha => Kind::Mac,
            EthType | VlanTci => Kind::Hex4,
            ArpSpa | ArpTpa | NwSrc | NwDst | CtNwSrc | CtNwDst | TunSrc | TunDst => Kind::Ip4,
            Ipv6Src | Ipv6Dst | TunIpv6Dst => Kind::Ip6,
            CtState => Kind::CtState,
            Reg(_) | Xxreg(_) | PktMark | CtMark | CtLabel | TunId | Metadata => Kind::Hex,
        }
    }

    /// The name `ovs-ofctl` prints in a match (`dl_dst`, `nw_src`, `reg0`).
    pub fn match_name(self) -> String {
        match self {
            Field::Reg(n) => format!("reg{n}"),
            Field::Xxreg(n) => format!("xxreg{n}"),
            f => MATCH_NAMES
                .iter()
                .find(|(_, g)| *g == f)
                .map(|(n, _)| (*n).to_string())
                .unwrap_or_default(),
        }
    }

    /// The OXM name `set_field` prints (`eth_dst`, `ip_src`, `reg0`, `tun_dst`).
    pub fn set_field_name(self) -> String {
        match self {
            Field::EthSrc => "eth_src".into(),
            Field::EthDst => "eth_dst".into(),
            Field::EthType => "eth_type".into(),
            Field::NwSrc => "ip_src".into(),
            Field::NwDst => "ip_dst".into(),
            f => f.match_name(),
        }
    }

    /// Looks a match or `set_field` name up (`reg7`, `dl_dst`, `eth_dst`, `xxreg3`).
    pub fn from_name(name: &str) -> Option<Field> {
        if let Some(n) = name.strip_prefix("xxreg") {
            return n.parse::<u8>().ok().filter(|n| *n < 4).map(Field::Xxreg);
        }
        if let Some(n) = name.strip_prefix("reg") {
            return n.parse::<u8>().ok().filter(|n| *n < 16).map(Field::Reg);
        }
        MATCH_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Where the field lives in a packet: ARP fields share storage with IPv4 and
    /// ICMP with the L4 ports, as in OVS's `struct flow`.
    pub fn storage(self) -> Field {
        match self {
            Field::ArpOp => Field::NwProto,
            Field::ArpSpa => Field::NwSrc,
            Field::ArpTpa => Field::NwDst,
            Field::IcmpType => Field::TpSrc,
            Field::IcmpCode => Field::TpDst,
            f => f,
        }
    }
}

/// All ones in the low `bits` bits.
pub fn ones(bits: u16) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// A bit range of a field named by its NXM/OXM name: `NXM_NX_REG0[0..3]`,
/// `NXM_NX_REG4[26]`, `NXM_OF_IP_DST[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// Index into the NXM name table (keeps the spelling it was written with).
    nxm: u8,
    /// First bit (0 = least significant).
    pub start: u16,
    /// Number of bits.
    pub len: u16,
}

impl FieldRef {
    /// The whole field under its first NXM name.
    pub fn whole(field: Field) -> Option<FieldRef> {
        let i = NXM_NAMES.iter().position(|(_, f, _)| *f == field)?;
        Some(FieldRef {
            nxm: u8::try_from(i).ok()?,
            start: 0,
            len: NXM_NAMES[i].2,
        })
    }

    pub fn field(&self) -> Field {
        NXM_NAMES[self.nxm as usize].1
    }

    fn nxm_width(&self) -> u16 {
        NXM_NAMES[self.nxm as usize].2
    }

    pub fn nxm_name(&self) -> &'static str {
        NXM_NAMES[self.nxm as usize].0
    }

    /// The mask of this range within the field.
    pub fn mask(&self) -> u128 {
        ones(self.len) << self.start
    }

    /// Parses `NAME[]`, `NAME[b]` or `NAME[a..b]`.
    pub fn parse(s: &str) -> Result<FieldRef, String> {
        let s = s.trim();
        let (name, rest) = s
            .split_once('[')
            .ok_or_else(|| format!("`{s}`: expected FIELD[..] (e.g. NXM_NX_REG0[0..3])"))?;
        let range = rest
            .strip_suffix(']')
            .ok_or_else(|| format!("`{s}`: missing `]`"))?;
        let i = NXM_NAMES
            .iter()
            .position(|(n, _, _)| *n == name)
            .ok_or_else(|| format!("`{name}`: unknown NXM/OXM field"))?;
        let width = NXM_NAMES[i].2;
        let (start, end) = if range.is_empty() {
            (0, width - 1)
        } else if let Some((a, b)) = range.split_once("..") {
            (parse_bit(a, s)?, parse_bit(b, s)?)
        } else {
            let b = parse_bit(range, s)?;
            (b, b)
        };
        if start > end || end >= width {
            return Err(format!("`{s}`: bit range outside the {width}-bit field"));
        }
        Ok(FieldRef {
            nxm: u8::try_from(i).map_err(|_| "NXM table too large".to_string())?,
            start,
            len: end - start + 1,
        })
    }
}

fn parse_bit(t: &str, whole: &str) -> Result<u16, String> {
    t.trim()
        .parse::<u16>()
        .map_err(|_| format!("`{whole}`: bad bit number `{t}`"))
}

impl std::fmt::Display for FieldRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.nxm_name();
        if self.start == 0 && self.len == self.nxm_width() {
            write!(f, "{name}[]")
        } else if self.len == 1 {
            write!(f, "{name}[{}]", self.start)
        } else {
            write!(f, "{name}[{}..{}]", self.start, self.start + self.len - 1)
        }
    }
}

/// Parses an unsigned number, decimal or `0x` hex.
pub fn parse_num(s: &str) -> Result<u128, String> {
    let t = s.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u128::from_str_radix(h, 16)
    } else {
        t.parse::<u128>()
    };
    r.map_err(|_| format!("`{s}`: not a number"))
}

pub fn parse_mac(s: &str) -> Result<u128, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("`{s}`: not a MAC address"));
    }
    let mut v = 0u128;
    for p in parts {
        let b = u8::from_str_radix(p, 16).map_err(|_| format!("`{s}`: not a MAC address"))?;
        v = (v << 8) | u128::from(b);
    }
    Ok(v)
}

pub fn mac_bytes(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[10], b[11], b[12], b[13], b[14], b[15]]
}

fn fmt_mac(out: &mut String, v: u128) {
    let b = mac_bytes(v);
    let _ = write!(
        out,
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    );
}

/// Parses `+new+trk-snat` (or `new|trk`) into (value, mask).
pub fn parse_ct_state(s: &str) -> Result<(u128, u128), String> {
    let mut value = 0u128;
    let mut mask = 0u128;
    if s.starts_with('+') || s.starts_with('-') {
        let mut rest = s;
        while !rest.is_empty() {
            let set = rest.starts_with('+');
            if !set && !rest.starts_with('-') {
                return Err(format!("ct_state `{s}`: expected + or -"));
            }
            let body = &rest[1..];
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let bit =
                ct_bit(&body[..end]).ok_or_else(|| format!("ct_state `{s}`: unknown flag"))?;
            mask |= u128::from(bit);
            if set {
                value |= u128::from(bit);
            }
            rest = &body[end..];
        }
        return Ok((value, mask));
    }
    if s.starts_with("0x") || s.chars().all(|c| c.is_ascii_digit()) {
        let v = parse_num(s)?;
        return Ok((v, 0xff));
    }
    for name in s.split(['|', ',']) {
        let bit = ct_bit(name).ok_or_else(|| format!("ct_state `{s}`: unknown flag `{name}`"))?;
        value |= u128::from(bit);
    }
    Ok((value, 0xff))
}

fn ct_bit(name: &str) -> Option<u8> {
    ct_bits::NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(b, _)| *b)
}

/// Parses `value[/mask]` of `field` into (value, mask) with mask all ones for an
/// exact match; IPv4/IPv6 take a prefix length or a dotted mask.
pub fn parse_value_mask(field: Field, s: &str) -> Result<(u128, u128), String> {
    let kind = field.kind();
    if kind == Kind::CtState {
        return parse_ct_state(s);
    }
    let full = field.full_mask();
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let value = parse_value(kind, v)?;
    let mask = match (m, kind) {
        (None, _) => full,
        (Some(m), Kind::Ip4) if !m.contains('.') => {
            let len: u16 = m.parse().map_err(|_| format!("`{s}`: bad prefix length"))?;
            if len > 32 {
                return Err(format!("`{s}`: prefix longer than 32"));
            }
            (ones(len) << (32 - len)) & full
        }
        (Some(m), Kind::Ip6) if !m.contains(':') => {
            let len: u16 = m.parse().map_err(|_| format!("`{s}`: bad prefix length"))?;
            if len > 128 {
                return Err(format!("`{s}`: prefix longer than 128"));
            }
            if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            }
        }
        (Some(m), _) => parse_value(kind, m)?,
    };
    if value > full || mask > full {
        return Err(format!("`{s}`: wider than {} bits", field.width()));
    }
    Ok((value & mask, mask))
}

/// Parses one value of a kind.
pub fn parse_value(kind: Kind, s: &str) -> Result<u128, String> {
    match kind {
        Kind::Mac => parse_mac(s),
        Kind::Ip4 => s
            .parse::<Ipv4Addr>()
            .map(|a| u128::from(u32::from(a)))
            .map_err(|_| format!("`{s}`: not an IPv4 address")),
        Kind::Ip6 => s
            .parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| format!("`{s}`: not an IPv6 address")),
        Kind::CtState => parse_ct_state(s).map(|(v, _)| v),
        Kind::Dec | Kind::Hex | Kind::Hex4 => parse_num(s),
    }
}

/// Writes one value as `ovs-ofctl` does.
pub fn fmt_value(out: &mut String, kind: Kind, v: u128) {
    match kind {
        Kind::Dec => {
            let _ = write!(out, "{v}");
        }
        Kind::Hex => {
            let _ = write!(out, "{v:#x}");
        }
        Kind::Hex4 => {
            let _ = write!(out, "0x{v:04x}");
        }
        Kind::Mac => fmt_mac(out, v),
        Kind::Ip4 => {
            let _ = write!(out, "{}", Ipv4Addr::from(v as u32));
        }
        Kind::Ip6 => {
            let _ = write!(out, "{}", Ipv6Addr::from(v));
        }
        Kind::CtState => fmt_ct_state(out, v as u8, 0xff),
    }
}

/// `+new+trk-snat` for a match (bits in OVS's order).
pub fn fmt_ct_state(out: &mut String, value: u8, mask: u8) {
    for (bit, name) in ct_bits::NAMES {
        if mask & bit != 0 {
            out.push(if value & bit != 0 { '+' } else { '-' });
            out.push_str(name);
        }
    }
}

/// `new|trk` (as ofproto/trace prints a packet's ct_state).
pub fn fmt_ct_flags(value: u8) -> String {
    let names: Vec<&str> = ct_bits::NAMES
        .iter()
        .filter(|(b, _)| value & b != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join("|")
}

/// Writes `value[/mask]` of a field: prefix lengths for contiguous IP masks,
/// `0x../0x..` for masked decimal fields, nothing after an exact value.
pub fn fmt_value_mask(out: &mut String, field: Field, value: u128, mask: u128) {
    let kind = field.kind();
    if kind == Kind::CtState {
        fmt_ct_state(out, value as u8, mask as u8);
        return;
    }
    let full = field.full_mask();
    if mask == full {
        fmt_value(out, kind, value);
        return;
    }
    match kind {
        Kind::Ip4 | Kind::Ip6 => {
            let w = field.width();
            let lead = (mask << (128 - w)).leading_ones() as u16;
            fmt_value(out, kind, value);
            if ones(lead) << (w - lead) == mask {
                let _ = write!(out, "/{lead}");
            } else {
                out.push('/');
                fmt_value(out, kind, mask);
            }
        }
        Kind::Dec => {
            let _ = write!(out, "{value:#x}/{mask:#x}");
        }
        _ => {
            fmt_value(out, kind, value);
            out.push('/');
            fmt_value(out, kind, mask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_refs_print_as_written() {
        for s in [
            "NXM_NX_REG0[0..3]",
            "NXM_NX_REG4[26]",
            "NXM_OF_IP_DST[]",
            "OXM_OF_TCP_DST[]",
            "NXM_NX_XXREG3[]",
        ] {
            assert_eq!(FieldRef::parse(s).unwrap().to_string(), s);
        }
        let r = FieldRef::parse("NXM_NX_REG4[16..18]").unwrap();
        assert_eq!(
            (r.field(), r.start, r.len, r.mask()),
            (Field::Reg(4), 16, 3, 0x70000)
        );
        assert!(FieldRef::parse("NXM_NX_REG0[0..32]").is_err());
        assert!(FieldRef::parse("NXM_NX_REG99[]").is_err());
    }

    #[test]
    fn values_and_masks_round_trip() {
        let cases = [
            (Field::NwDst, "10.10.0.0/24"),
            (Field::NwDst, "10.10.0.1"),
            (Field::Reg(0), "0x200000/0x600000"),
            (Field::VlanTci, "0x0000/0x1000"),
            (Field::CtState, "+new+trk-snat"),
            (Field::CtState, "-new-rpl+trk"),
            (Field::Ipv6Dst, "fec0:10:10::/80"),
            (Field::EthDst, "0a:00:00:00:00:01"),
            (Field::TpDst, "80"),
            (Field::TpDst, "0x50/0xfff0"),
        ];
        for (f, s) in cases {
            let (v, m) = parse_value_mask(f, s).unwrap();
            let mut out = String::new();
            fmt_value_mask(&mut out, f, v, m);
            assert_eq!(out, s);
        }
        assert!(parse_value_mask(Field::NwProto, "300").is_err());
        assert!(parse_value_mask(Field::NwDst, "10.0.0.0/33").is_err());
    }
}
