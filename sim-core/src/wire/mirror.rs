//! The outer IPv4 payload Open vSwitch writes when a frame leaves through a tunnel
//! port of type `vxlan`, `geneve`, `gre` or `erspan`: the ports Antrea creates as
//! TrafficControl mirror/redirect targets (`targetPort.vxlan`, `.geneve`, `.gre`,
//! `.erspan` in the TrafficControl CRD).
//!
//! [`outer_l4`] turns a whole inner Ethernet frame into an [`L4`] for
//! [`super::Ipv4Pkt`]; [`decapsulate_l4`] reads it back. The formats, byte for byte:
//!
//! - VXLAN (RFC 7348 §5): UDP to port 4789 (or the port's `dst_port` option), then
//!   8 bytes: flags with only I (0x08) set, 24 reserved bits, the 24-bit VNI, 8
//!   reserved bits. OVS writes exactly this (`lib/netdev-native-tnl.c`,
//!   `netdev_vxlan_build_header`: `VXLAN_FLAGS` and `tun_id << 8`).
//! - Geneve (RFC 8926): UDP to port 6081, the 8-byte header of
//!   [`GeneveRepr::ethernet`], no options.
//! - GRE (RFC 2784, key from RFC 2890): 4 bytes, flags then protocol type 0x6558
//!   (Transparent Ethernet Bridging); with a key the K bit (0x2000) is set and the
//!   4-byte key follows (`netdev_gre_build_header`). The port options `csum` and
//!   `seq` are not modelled, so C and S stay clear.
//! - ERSPAN type II (OVS `erspan_ver=1`) and type III (`erspan_ver=2`): a GRE header
//!   with only S (0x1000) set, so an 8-byte GRE header with a sequence number,
//!   protocol type 0x88BE or 0x22EB, then the ERSPAN header. The layouts below are
//!   the ones in the Linux kernel's `include/net/erspan.h` and OVS's `lib/packets.h`
//!   (`struct erspan_base_hdr`, `struct erspan_md2`); OVS fills them in
//!   `netdev_erspan_build_header` / `netdev_erspan_push_header`.
//!
//! ```text
//! type II, 8 bytes:
//!  |  Ver=1 (4)  |  VLAN (12)  | COS (3) | En (2) | T (1) | Session ID (10) |
//!  |        Reserved (12)      |                 Index (20)                 |
//! type III, 12 bytes:
//!  |  Ver=2 (4)  |  VLAN (12)  | COS (3) | BSO (2)| T (1) | Session ID (10) |
//!  |                           Timestamp (32)                               |
//!  |        SGT (16)           | P (1) | FT (5) | Hw ID (6) | D (1) | Gra (2) | O (1) |
//! ```
//!
//! Everything but Ver, Session ID, Index, Hw ID and D is written as 0, as OVS's
//! userspace datapath does, with one difference: OVS stamps type III packets with
//! a 100 µs-granularity clock (`get_erspan_ts(ERSPAN_100US)`); antlab has no
//! hardware clock and writes a zero timestamp. The ERSPAN session ID is the port's
//! tunnel key (OVS `key` option), 10 bits wide. The Linux kernel datapath
//! (`erspan_build_header` / `erspan_build_header_v2` in `include/net/erspan.h`)
//! fills more: COS from the inner IP TOS, VLAN (and, for type II, En) from an
//! inner 802.1Q tag, BSO from the frame length, and P = 1 for type III. antlab
//! keeps the userspace values above.
//!
//! The GRE sequence number is per port and is the caller's to keep: OVS numbers a
//! port's packets from 0 upward (`atomic_count_inc` returns the value before the
//! increment) and wraps at 2^32.
//!
//! Two things [`super::Ipv4Pkt::to_bytes`] does differently from an OVS tunnel
//! port: it always fills the outer UDP checksum (OVS leaves it 0 over IPv4 unless
//! the `csum` option is set; [`super::geneve::encapsulate`] models that), and it
//! always sets DF (OVS's `df_default`, true by default, agrees).

use smoltcp::wire::{IPV4_HEADER_LEN, UDP_HEADER_LEN, checksum};

use super::geneve::{
    GENEVE_HEADER_LEN, GENEVE_UDP_PORT, GenevePacket, GeneveRepr, PROTO_TRANSPARENT_ETHERNET,
    VNI_MAX, tunnel_src_port,
};
use super::{ETH_HEADER_LEN, L4, WireError, proto};

/// IANA-assigned UDP destination port for VXLAN (RFC 7348 §5).
pub const VXLAN_UDP_PORT: u16 = 4789;
/// IP protocol number of GRE (IANA; RFC 2784).
pub const GRE_PROTOCOL: u8 = 47;
/// GRE protocol type of ERSPAN type II (Linux `ETH_P_ERSPAN`, OVS `ETH_TYPE_ERSPAN1`).
pub const ERSPAN_II_PROTOCOL: u16 = 0x88BE;
/// GRE protocol type of ERSPAN type III (Linux `ETH_P_ERSPAN2`, OVS `ETH_TYPE_ERSPAN2`).
pub const ERSPAN_III_PROTOCOL: u16 = 0x22EB;
/// Bytes in a VXLAN header.
pub const VXLAN_HEADER_LEN: usize = 8;
/// Bytes in a GRE header without optional fields.
pub const GRE_BASE_HEADER_LEN: usize = 4;
/// Bytes in the ERSPAN type II header (after the GRE header).
pub const ERSPAN_II_HEADER_LEN: usize = 8;
/// Bytes in the ERSPAN type III header without the platform-specific subheader.
pub const ERSPAN_III_HEADER_LEN: usize = 12;
/// Largest ERSPAN session ID: the field is 10 bits (OVS `ERSPAN_SID_MASK`).
pub const ERSPAN_SESSION_MAX: u16 = 0x03ff;
/// Largest type II index: the field is 20 bits (OVS `ERSPAN_IDX_MASK`).
pub const ERSPAN_INDEX_MAX: u32 = 0x000f_ffff;
/// Largest type III hardware ID: the field is 6 bits.
pub const ERSPAN_HWID_MAX: u8 = 0x3f;

/// Largest L4 payload one IPv4 packet (no options) can carry.
const MAX_L4_LEN: usize = u16::MAX as usize - IPV4_HEADER_LEN;

/// GRE flag bits in the first 16-bit word (RFC 2784 §2, RFC 2890 §2).
mod gre {
    /// C: a checksum and a reserved word follow the base header.
    pub const CSUM: u16 = 0x8000;
    /// K: a 4-byte key follows (after the checksum word, if any).
    pub const KEY: u16 = 0x2000;
    /// S: a 4-byte sequence number follows (after the key, if any).
    pub const SEQ: u16 = 0x1000;
    /// Bits 1, 4 and 5 (R, s and the top of Recur in RFC 1701): RFC 2784 §2.1
    /// says a receiver that does not implement RFC 1701 discards such packets.
    pub const RFC1701_ONLY: u16 = 0x4c00;
    /// Ver, bits 13-15: must be 0 (version 1 is PPTP's enhanced GRE).
    pub const VERSION: u16 = 0x0007;
    pub const FLAGS: std::ops::Range<usize> = 0..2;
    pub const PROTOCOL: std::ops::Range<usize> = 2..4;
}

/// Offsets and masks inside the VXLAN header (RFC 7348 §5 figure).
mod vxlan {
    pub const FLAGS: usize = 0;
    /// I: the VNI is valid. The only flag RFC 7348 defines.
    pub const FLAG_I: u8 = 0x08;
    pub const VNI: std::ops::Range<usize> = 4..7;
}

/// Offsets and masks inside the ERSPAN headers (Linux `include/net/erspan.h`).
mod erspan {
    /// Ver (4) | VLAN (12).
    pub const VER_VLAN: std::ops::Range<usize> = 0..2;
    /// COS (3) | En or BSO (2) | T (1) | Session ID (10).
    pub const SESSION: std::ops::Range<usize> = 2..4;
    pub const SESSION_MASK: u16 = 0x03ff;
    /// Type II: Reserved (12) | Index (20).
    pub const INDEX: std::ops::Range<usize> = 4..8;
    pub const INDEX_MASK: u32 = 0x000f_ffff;
    /// Type III: the timestamp word.
    pub const TIMESTAMP: std::ops::Range<usize> = 4..8;
    /// Type III: P (1) | FT (5) | Hw ID (6) | D (1) | Gra (2) | O (1), after SGT (16).
    pub const HW_DIR: std::ops::Range<usize> = 10..12;
    pub const HWID_SHIFT: u16 = 4;
    pub const HWID_MASK: u16 = 0x03f0;
    pub const DIR_BIT: u16 = 0x0008;
    pub const O_BIT: u16 = 0x0001;
}

/// ERSPAN parameters of a port: OVS options `erspan_ver`, `key` (the session ID),
/// `erspan_idx`, `erspan_dir` and `erspan_hwid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErspanSpec {
    /// 1 = type II, 2 = type III.
    pub version: u8,
    /// Session ID, 0..=1023.
    pub session_id: u16,
    /// Type II only: the 20-bit port index. Ignored for type III (read back as 0).
    pub index: u32,
    /// Type III only: 0 = ingress, 1 = egress. Ignored for type II (read back as 0).
    pub dir: u8,
    /// Type III only: the 6-bit hardware ID. Ignored for type II (read back as 0).
    pub hardware_id: u8,
}

impl ErspanSpec {
    /// A type II session (OVS `erspan_ver=1`).
    pub const fn type_ii(session_id: u16, index: u32) -> Self {
        ErspanSpec {
            version: 1,
            session_id,
            index,
            dir: 0,
            hardware_id: 0,
        }
    }

    /// A type III session (OVS `erspan_ver=2`).
    pub const fn type_iii(session_id: u16, dir: u8, hardware_id: u8) -> Self {
        ErspanSpec {
            version: 2,
            session_id,
            index: 0,
            dir,
            hardware_id,
        }
    }

    /// Checks that every field the version uses fits its width.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.session_id > ERSPAN_SESSION_MAX {
            return Err(WireError::Unsupported(
                "ERSPAN session ID wider than 10 bits",
            ));
        }
        match self.version {
            1 if self.index > ERSPAN_INDEX_MAX => Err(WireError::Unsupported(
                "ERSPAN type II index wider than 20 bits",
            )),
            1 => Ok(()),
            2 if self.hardware_id > ERSPAN_HWID_MAX => Err(WireError::Unsupported(
                "ERSPAN type III hardware ID wider than 6 bits",
            )),
            2 if self.dir > 1 => Err(WireError::Unsupported(
                "ERSPAN type III direction other than 0 or 1",
            )),
            2 => Ok(()),
            _ => Err(WireError::Unsupported(
                "ERSPAN version other than 1 (type II) or 2 (type III)",
            )),
        }
    }

    /// GRE protocol type for this version (call [`Self::validate`] first).
    fn gre_protocol(&self) -> u16 {
        if self.version == 2 {
            ERSPAN_III_PROTOCOL
        } else {
            ERSPAN_II_PROTOCOL
        }
    }

    /// Bytes of the ERSPAN header for this version.
    fn header_len(&self) -> usize {
        if self.version == 2 {
            ERSPAN_III_HEADER_LEN
        } else {
            ERSPAN_II_HEADER_LEN
        }
    }
}

/// A tunnel port a mirrored or redirected frame is output to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorTunnel {
    /// OVS `type=vxlan`; `dst_port` is the `dst_port` option (default 4789).
    Vxlan { vni: u32, dst_port: u16 },
    /// OVS `type=geneve`; `dst_port` is the `dst_port` option (default 6081).
    Geneve { vni: u32, dst_port: u16 },
    /// OVS `type=gre`, with the `key` option or without.
    Gre { key: Option<u32> },
    /// OVS `type=erspan`.
    Erspan(ErspanSpec),
}

impl MirrorTunnel {
    /// Checks that the parameters fit their header fields.
    pub fn validate(&self) -> Result<(), WireError> {
        match self {
            MirrorTunnel::Vxlan { vni, dst_port } | MirrorTunnel::Geneve { vni, dst_port } => {
                if *vni > VNI_MAX {
                    return Err(WireError::Unsupported("VNI wider than 24 bits"));
                }
                if *dst_port == 0 {
                    return Err(WireError::Unsupported("UDP destination port 0"));
                }
                Ok(())
            }
            MirrorTunnel::Gre { .. } => Ok(()),
            MirrorTunnel::Erspan(spec) => spec.validate(),
        }
    }

    /// The outer IP protocol: UDP for VXLAN and Geneve, GRE for the others.
    pub fn ip_protocol(&self) -> u8 {
        match self {
            MirrorTunnel::Vxlan { .. } | MirrorTunnel::Geneve { .. } => proto::UDP,
            MirrorTunnel::Gre { .. } | MirrorTunnel::Erspan(_) => GRE_PROTOCOL,
        }
    }

    /// Bytes the outer L4 puts in front of the inner frame (UDP header included);
    /// the outer IPv4 and Ethernet headers add 34 more.
    pub fn l4_overhead(&self) -> usize {
        match self {
            MirrorTunnel::Vxlan { .. } => UDP_HEADER_LEN + VXLAN_HEADER_LEN,
            MirrorTunnel::Geneve { .. } => UDP_HEADER_LEN + GENEVE_HEADER_LEN,
            MirrorTunnel::Gre { key } => GRE_BASE_HEADER_LEN + if key.is_some() { 4 } else { 0 },
            MirrorTunnel::Erspan(spec) => GRE_BASE_HEADER_LEN + 4 + spec.header_len(),
        }
    }
}

/// What [`decapsulate_l4`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirrorDecap<'a> {
    /// The tunnel type and the parameters its header carried.
    pub tunnel: MirrorTunnel,
    /// The GRE sequence number when the S bit was set (always for ERSPAN).
    pub seq: Option<u32>,
    /// The encapsulated Ethernet frame, byte for byte.
    pub inner: &'a [u8],
}

/// The outer L4 for `inner` (a whole Ethernet frame) sent through tunnel port `t`.
/// `seq` is the port's GRE sequence number, written only for ERSPAN (see the
/// module doc). For VXLAN and Geneve the UDP source port is
/// [`tunnel_src_port`]`(inner)`, the same flow hash the Geneve tunnel uses.
///
/// Fails when a parameter does not fit its field, when `inner` is shorter than an
/// Ethernet header, or when the result would not fit one IPv4 packet (the caller
/// owns MTU; nothing is fragmented).
pub fn outer_l4(t: &MirrorTunnel, inner: &[u8], seq: u32) -> Result<L4, WireError> {
    t.validate()?;
    if inner.len() < ETH_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if t.l4_overhead() + inner.len() > MAX_L4_LEN {
        return Err(WireError::Unsupported(
            "inner frame too long for one outer IPv4 packet",
        ));
    }
    let mut out = Vec::with_capacity(t.l4_overhead() + inner.len());
    match t {
        MirrorTunnel::Vxlan { vni, dst_port } => {
            let mut h = [0u8; VXLAN_HEADER_LEN];
            h[vxlan::FLAGS] = vxlan::FLAG_I;
            h[vxlan::VNI].copy_from_slice(&vni.to_be_bytes()[1..4]);
            out.extend_from_slice(&h);
            out.extend_from_slice(inner);
            return Ok(L4::Udp {
                src_port: tunnel_src_port(inner),
                dst_port: *dst_port,
                payload: out,
            });
        }
        MirrorTunnel::Geneve { vni, dst_port } => {
            let repr = GeneveRepr::ethernet(*vni);
            repr.validate()?;
            out.resize(repr.buffer_len(), 0);
            repr.emit(&mut GenevePacket::new_unchecked(&mut out[..]));
            out.extend_from_slice(inner);
            return Ok(L4::Udp {
                src_port: tunnel_src_port(inner),
                dst_port: *dst_port,
                payload: out,
            });
        }
        MirrorTunnel::Gre { key } => {
            let flags = if key.is_some() { gre::KEY } else { 0 };
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(&PROTO_TRANSPARENT_ETHERNET.to_be_bytes());
            if let Some(k) = key {
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        MirrorTunnel::Erspan(spec) => {
            out.extend_from_slice(&gre::SEQ.to_be_bytes());
            out.extend_from_slice(&spec.gre_protocol().to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            let mut h = [0u8; ERSPAN_III_HEADER_LEN];
            // Ver, VLAN 0; then COS 0, En/BSO 0, T 0 and the session ID.
            h[erspan::VER_VLAN].copy_from_slice(&(u16::from(spec.version) << 12).to_be_bytes());
            h[erspan::SESSION]
                .copy_from_slice(&(spec.session_id & erspan::SESSION_MASK).to_be_bytes());
            if spec.version == 1 {
                // Reserved 0, index.
                h[erspan::INDEX].copy_from_slice(&(spec.index & erspan::INDEX_MASK).to_be_bytes());
            } else {
                // OVS writes a timestamp here; antlab has no hardware clock and writes 0.
                h[erspan::TIMESTAMP].copy_from_slice(&0u32.to_be_bytes());
                // SGT stays 0. Then P 0, FT 0 (Ethernet), Hw ID, D, Gra 0, O 0.
                let mut word =
                    (u16::from(spec.hardware_id) << erspan::HWID_SHIFT) & erspan::HWID_MASK;
                if spec.dir == 1 {
                    word |= erspan::DIR_BIT;
                }
                h[erspan::HW_DIR].copy_from_slice(&word.to_be_bytes());
            }
            out.extend_from_slice(&h[..spec.header_len()]);
        }
    }
    out.extend_from_slice(inner);
    Ok(L4::Other {
        protocol: GRE_PROTOCOL,
        payload: out,
    })
}

/// Reads back what [`outer_l4`] wrote, given the outer IP protocol, the UDP
/// destination port (for UDP) and the L4 payload (for UDP: the bytes after the
/// UDP header). UDP is told apart by the well-known ports, 4789 for VXLAN and
/// 6081 for Geneve; a port configured elsewhere needs [`decapsulate_vxlan`] or
/// [`decapsulate_geneve`]. GRE is told apart by its protocol type.
pub fn decapsulate_l4(
    protocol: u8,
    dst_port: Option<u16>,
    payload: &[u8],
) -> Result<MirrorDecap<'_>, WireError> {
    match (protocol, dst_port) {
        (proto::UDP, Some(VXLAN_UDP_PORT)) => decapsulate_vxlan(VXLAN_UDP_PORT, payload),
        (proto::UDP, Some(GENEVE_UDP_PORT)) => decapsulate_geneve(GENEVE_UDP_PORT, payload),
        (proto::UDP, Some(_)) => Err(WireError::Unsupported(
            "UDP destination port is neither VXLAN 4789 nor Geneve 6081",
        )),
        (proto::UDP, None) => Err(WireError::Unsupported(
            "a UDP tunnel is told apart by its destination port, none given",
        )),
        (GRE_PROTOCOL, _) => decapsulate_gre(payload),
        _ => Err(WireError::Unsupported("IP protocol is neither UDP nor GRE")),
    }
}

/// A VXLAN header and the frame after it, received on UDP port `dst_port`.
/// The I flag must be set; reserved bits are ignored (RFC 7348 §5).
pub fn decapsulate_vxlan(dst_port: u16, payload: &[u8]) -> Result<MirrorDecap<'_>, WireError> {
    let h = payload
        .get(..VXLAN_HEADER_LEN)
        .ok_or(WireError::Truncated)?;
    if h[vxlan::FLAGS] & vxlan::FLAG_I == 0 {
        return Err(WireError::Malformed("VXLAN header without the I flag"));
    }
    let v = &h[vxlan::VNI];
    let vni = u32::from_be_bytes([0, v[0], v[1], v[2]]);
    let inner = inner_frame(&payload[VXLAN_HEADER_LEN..])?;
    Ok(MirrorDecap {
        tunnel: MirrorTunnel::Vxlan { vni, dst_port },
        seq: None,
        inner,
    })
}

/// A Geneve header and the Ethernet frame after it, received on UDP port
/// `dst_port`. Non-critical options are skipped; the C bit (critical options this
/// receiver cannot understand, RFC 8926 §3.5) and a protocol type other than
/// 0x6558 are refused.
pub fn decapsulate_geneve(dst_port: u16, payload: &[u8]) -> Result<MirrorDecap<'_>, WireError> {
    let packet = GenevePacket::new_checked(payload)?;
    let repr = GeneveRepr::parse(&packet)?;
    if repr.protocol_type != PROTO_TRANSPARENT_ETHERNET {
        return Err(WireError::Unsupported(
            "Geneve payload is not an Ethernet frame (protocol type 0x6558)",
        ));
    }
    if repr.critical {
        return Err(WireError::Unsupported("Geneve critical options"));
    }
    let inner = inner_frame(packet.payload())?;
    Ok(MirrorDecap {
        tunnel: MirrorTunnel::Geneve {
            vni: repr.vni,
            dst_port,
        },
        seq: None,
        inner,
    })
}

/// A GRE packet carrying an Ethernet frame (protocol type 0x6558) or ERSPAN type
/// II or III. A checksum (C bit) is verified, a key and a sequence number are
/// read; version 1 GRE and the RFC 1701 routing bits are refused. ERSPAN must
/// have S and nothing else (as OVS's `netdev_erspan_pop_header` and
/// `include/net/erspan.h` expect): 0x88BE without S is ERSPAN type I, which has
/// no header and is not supported, and a type III platform-specific subheader
/// (O bit) is refused.
pub fn decapsulate_gre(payload: &[u8]) -> Result<MirrorDecap<'_>, WireError> {
    let flags = read_u16(payload, gre::FLAGS.start).ok_or(WireError::Truncated)?;
    let protocol = read_u16(payload, gre::PROTOCOL.start).ok_or(WireError::Truncated)?;
    if flags & gre::VERSION != 0 {
        return Err(WireError::Unsupported("GRE version other than 0"));
    }
    if flags & gre::RFC1701_ONLY != 0 {
        return Err(WireError::Unsupported(
            "GRE routing, strict route or recursion bits (RFC 1701)",
        ));
    }
    let mut at = GRE_BASE_HEADER_LEN;
    if flags & gre::CSUM != 0 {
        // Checksum and Reserved1; the sum covers the whole GRE packet (RFC 2784 §2.5).
        payload.get(at..at + 4).ok_or(WireError::Truncated)?;
        if checksum::data(payload) != !0 {
            return Err(WireError::BadChecksum);
        }
        at += 4;
    }
    let key = if flags & gre::KEY != 0 {
        let k = read_u32(payload, at).ok_or(WireError::Truncated)?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let seq = if flags & gre::SEQ != 0 {
        let s = read_u32(payload, at).ok_or(WireError::Truncated)?;
        at += 4;
        Some(s)
    } else {
        None
    };
    match protocol {
        PROTO_TRANSPARENT_ETHERNET => Ok(MirrorDecap {
            tunnel: MirrorTunnel::Gre { key },
            seq,
            inner: inner_frame(&payload[at..])?,
        }),
        ERSPAN_II_PROTOCOL | ERSPAN_III_PROTOCOL => {
            if flags & gre::SEQ == 0 && protocol == ERSPAN_II_PROTOCOL {
                return Err(WireError::Unsupported(
                    "ERSPAN type I (GRE without a sequence number)",
                ));
            }
            if flags & (gre::CSUM | gre::KEY | gre::SEQ) != gre::SEQ {
                return Err(WireError::Malformed(
                    "ERSPAN needs a GRE header with the S flag and no other",
                ));
            }
            let (spec, len) = parse_erspan(protocol, &payload[at..])?;
            Ok(MirrorDecap {
                tunnel: MirrorTunnel::Erspan(spec),
                seq,
                inner: inner_frame(&payload[at + len..])?,
            })
        }
        _ => Err(WireError::Unsupported(
            "GRE payload is neither Ethernet (0x6558) nor ERSPAN (0x88BE, 0x22EB)",
        )),
    }
}

/// The ERSPAN header at the start of `b` and its length.
fn parse_erspan(gre_protocol: u16, b: &[u8]) -> Result<(ErspanSpec, usize), WireError> {
    let (want, len) = if gre_protocol == ERSPAN_III_PROTOCOL {
        (2, ERSPAN_III_HEADER_LEN)
    } else {
        (1, ERSPAN_II_HEADER_LEN)
    };
    let h = b.get(..len).ok_or(WireError::Truncated)?;
    let version = h[erspan::VER_VLAN.start] >> 4;
    if version != want {
        return Err(WireError::Malformed(
            "ERSPAN version does not match the GRE protocol type",
        ));
    }
    let session_id =
        read_u16(h, erspan::SESSION.start).ok_or(WireError::Truncated)? & erspan::SESSION_MASK;
    let spec = if version == 1 {
        let index =
            read_u32(h, erspan::INDEX.start).ok_or(WireError::Truncated)? & erspan::INDEX_MASK;
        ErspanSpec::type_ii(session_id, index)
    } else {
        let word = read_u16(h, erspan::HW_DIR.start).ok_or(WireError::Truncated)?;
        if word & erspan::O_BIT != 0 {
            return Err(WireError::Unsupported(
                "ERSPAN type III platform-specific subheader (O bit)",
            ));
        }
        let hardware_id = ((word & erspan::HWID_MASK) >> erspan::HWID_SHIFT) as u8;
        let dir = u8::from(word & erspan::DIR_BIT != 0);
        ErspanSpec::type_iii(session_id, dir, hardware_id)
    };
    Ok((spec, len))
}

/// The encapsulated frame; at least an Ethernet header long.
fn inner_frame(b: &[u8]) -> Result<&[u8], WireError> {
    if b.len() < ETH_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    Ok(b)
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MacAddr;
    use crate::wire::{EthHeader, Ipv4Pkt, build_eth, ethertype};
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const POD_A_MAC: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x0a, 0x00, 0x05]);
    const GW_MAC: MacAddr = MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);

    fn pod_ping() -> Vec<u8> {
        let p = Ipv4Pkt::new(
            Ipv4Addr::new(10, 10, 0, 5),
            Ipv4Addr::new(10, 10, 1, 7),
            L4::IcmpEcho {
                request: true,
                ident: 9,
                seq: 1,
                data: vec![0x5a; 16],
            },
        );
        build_eth(
            &EthHeader::new(GW_MAC, POD_A_MAC, ethertype::IPV4),
            &p.to_bytes(),
        )
    }

    /// The tunnel header bytes (after the UDP header for UDP tunnels), checked to
    /// be followed by `inner` unchanged.
    fn header_of(l4: &L4, inner: &[u8]) -> Vec<u8> {
        let payload = match l4 {
            L4::Udp { payload, .. } | L4::Other { payload, .. } => payload,
            other => panic!("unexpected L4 {other:?}"),
        };
        let (head, tail) = payload.split_at(payload.len() - inner.len());
        assert_eq!(tail, inner);
        head.to_vec()
    }

    #[test]
    fn vxlan_bytes_match_rfc_7348() {
        let inner = pod_ping();
        let t = MirrorTunnel::Vxlan {
            vni: 0x12_3456,
            dst_port: VXLAN_UDP_PORT,
        };
        let l4 = outer_l4(&t, &inner, 99).unwrap();
        let L4::Udp {
            src_port, dst_port, ..
        } = &l4
        else {
            panic!("VXLAN rides on UDP: {l4:?}");
        };
        assert_eq!(*dst_port, 4789);
        assert_eq!(*src_port, tunnel_src_port(&inner));
        // Flags: only I; 24 reserved bits; VNI 0x123456; 8 reserved bits.
        assert_eq!(
            header_of(&l4, &inner),
            [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00]
        );
    }

    #[test]
    fn geneve_bytes_match_rfc_8926() {
        let inner = pod_ping();
        let t = MirrorTunnel::Geneve {
            vni: 0x00_0102,
            dst_port: 6081,
        };
        let l4 = outer_l4(&t, &inner, 0).unwrap();
        assert!(matches!(l4, L4::Udp { dst_port: 6081, .. }));
        // Ver 0, Opt Len 0; no flags; 0x6558; VNI; reserved.
        assert_eq!(
            header_of(&l4, &inner),
            [0x00, 0x00, 0x65, 0x58, 0x00, 0x01, 0x02, 0x00]
        );
    }

    #[test]
    fn gre_bytes_with_and_without_key() {
        let inner = pod_ping();
        let plain = outer_l4(&MirrorTunnel::Gre { key: None }, &inner, 5).unwrap();
        assert_eq!(plain.protocol(), 47);
        // No flags, version 0, Transparent Ethernet Bridging; the seq is not written.
        assert_eq!(header_of(&plain, &inner), [0x00, 0x00, 0x65, 0x58]);
        let keyed = outer_l4(
            &MirrorTunnel::Gre {
                key: Some(0xdead_beef),
            },
            &inner,
            5,
        )
        .unwrap();
        // K bit (0x2000), then the key.
        assert_eq!(
            header_of(&keyed, &inner),
            [0x20, 0x00, 0x65, 0x58, 0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn erspan_type_ii_bytes_match_erspan_h() {
        let inner = pod_ping();
        let t = MirrorTunnel::Erspan(ErspanSpec::type_ii(0x2ab, 0xa_bcde));
        let l4 = outer_l4(&t, &inner, 7).unwrap();
        assert_eq!(l4.protocol(), GRE_PROTOCOL);
        // GRE: S flag, protocol 0x88BE, sequence number 7.
        let gre: [u8; 8] = [0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 7];
        // Ver 1, VLAN 0 | COS 0, En 0, T 0, session 0x2ab.
        let word0 = [0x10, 0x00, 0x02, 0xab];
        // Reserved 0 | index 0xabcde.
        let word1 = [0x00, 0x0a, 0xbc, 0xde];
        assert_eq!(header_of(&l4, &inner), [&gre[..], &word0, &word1].concat());
    }

    #[test]
    fn erspan_type_iii_bytes_match_erspan_h() {
        let inner = pod_ping();
        let t = MirrorTunnel::Erspan(ErspanSpec::type_iii(5, 1, 42));
        let l4 = outer_l4(&t, &inner, 0x0102_0304).unwrap();
        // GRE: S flag, protocol 0x22EB, sequence number.
        let gre: [u8; 8] = [0x10, 0x00, 0x22, 0xeb, 1, 2, 3, 4];
        // Ver 2, VLAN 0 | COS 0, BSO 0, T 0, session 5.
        let word0 = [0x20, 0x00, 0x00, 0x05];
        // Timestamp 0.
        let word1 = [0, 0, 0, 0];
        // SGT 0 | P 0, FT 0, Hw ID 42 (0b101010), D 1, Gra 0, O 0.
        let word2 = [0x00, 0x00, 0b0000_0010, 0b1010_1000];
        assert_eq!(
            header_of(&l4, &inner),
            [&gre[..], &word0, &word1, &word2].concat()
        );
    }

    fn payload_parts(l4: &L4) -> (u8, Option<u16>, &[u8]) {
        match l4 {
            L4::Udp {
                dst_port, payload, ..
            } => (proto::UDP, Some(*dst_port), payload),
            L4::Other { protocol, payload } => (*protocol, None, payload),
            other => panic!("unexpected L4 {other:?}"),
        }
    }

    #[test]
    fn each_kind_round_trips() {
        let inner = pod_ping();
        let cases = [
            (
                MirrorTunnel::Vxlan {
                    vni: 5001,
                    dst_port: VXLAN_UDP_PORT,
                },
                None,
            ),
            (
                MirrorTunnel::Geneve {
                    vni: VNI_MAX,
                    dst_port: GENEVE_UDP_PORT,
                },
                None,
            ),
            (MirrorTunnel::Gre { key: None }, None),
            (MirrorTunnel::Gre { key: Some(0) }, None),
            (
                MirrorTunnel::Erspan(ErspanSpec::type_ii(ERSPAN_SESSION_MAX, ERSPAN_INDEX_MAX)),
                Some(11),
            ),
            (
                MirrorTunnel::Erspan(ErspanSpec::type_iii(0, 0, ERSPAN_HWID_MAX)),
                Some(11),
            ),
        ];
        for (t, seq) in cases {
            let l4 = outer_l4(&t, &inner, 11).unwrap();
            assert_eq!(l4.protocol(), t.ip_protocol());
            let (protocol, port, payload) = payload_parts(&l4);
            assert_eq!(payload.len(), t.l4_overhead() - udp_len(&t) + inner.len());
            let d = decapsulate_l4(protocol, port, payload).unwrap();
            assert_eq!(d.tunnel, t);
            assert_eq!(d.seq, seq);
            assert_eq!(d.inner, &inner[..]);
        }
    }

    fn udp_len(t: &MirrorTunnel) -> usize {
        if t.ip_protocol() == proto::UDP {
            UDP_HEADER_LEN
        } else {
            0
        }
    }

    #[test]
    fn whole_outer_packet_parses_as_ipv4() {
        let inner = pod_ping();
        let t = MirrorTunnel::Erspan(ErspanSpec::type_ii(1, 2));
        let pkt = Ipv4Pkt::new(
            Ipv4Addr::new(10, 160, 1, 25),
            Ipv4Addr::new(10, 160, 1, 30),
            outer_l4(&t, &inner, 0).unwrap(),
        );
        let back = Ipv4Pkt::parse(&pkt.to_bytes()).unwrap();
        let (protocol, port, payload) = payload_parts(&back.l4);
        assert_eq!(decapsulate_l4(protocol, port, payload).unwrap().tunnel, t);
    }

    #[test]
    fn custom_udp_ports_need_the_explicit_decoders() {
        let inner = pod_ping();
        let vx = MirrorTunnel::Vxlan {
            vni: 7,
            dst_port: 8472,
        };
        let l4 = outer_l4(&vx, &inner, 0).unwrap();
        let (_, port, payload) = payload_parts(&l4);
        assert!(matches!(
            decapsulate_l4(proto::UDP, port, payload),
            Err(WireError::Unsupported(_))
        ));
        assert!(decapsulate_l4(proto::UDP, None, payload).is_err());
        assert_eq!(decapsulate_vxlan(8472, payload).unwrap().tunnel, vx);
        let gn = MirrorTunnel::Geneve {
            vni: 7,
            dst_port: 16081,
        };
        let l4 = outer_l4(&gn, &inner, 0).unwrap();
        let (_, _, payload) = payload_parts(&l4);
        assert_eq!(decapsulate_geneve(16081, payload).unwrap().tunnel, gn);
        // A VXLAN header is not a Geneve header and vice versa.
        assert!(decapsulate_geneve(4789, &outer_udp_payload(&vx, &inner)).is_err());
    }

    fn outer_udp_payload(t: &MirrorTunnel, inner: &[u8]) -> Vec<u8> {
        match outer_l4(t, inner, 0).unwrap() {
            L4::Udp { payload, .. } | L4::Other { payload, .. } => payload,
            other => panic!("unexpected L4 {other:?}"),
        }
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let inner = pod_ping();
        let bad = [
            MirrorTunnel::Vxlan {
                vni: VNI_MAX + 1,
                dst_port: 4789,
            },
            MirrorTunnel::Geneve {
                vni: 0x0100_0000,
                dst_port: 6081,
            },
            MirrorTunnel::Vxlan {
                vni: 1,
                dst_port: 0,
            },
            MirrorTunnel::Erspan(ErspanSpec::type_ii(1024, 0)),
            MirrorTunnel::Erspan(ErspanSpec::type_ii(1, 1 << 20)),
            MirrorTunnel::Erspan(ErspanSpec::type_iii(1024, 0, 0)),
            MirrorTunnel::Erspan(ErspanSpec::type_iii(1, 2, 0)),
            MirrorTunnel::Erspan(ErspanSpec::type_iii(1, 0, 64)),
            MirrorTunnel::Erspan(ErspanSpec {
                version: 0,
                ..ErspanSpec::type_ii(1, 1)
            }),
            MirrorTunnel::Erspan(ErspanSpec {
                version: 3,
                ..ErspanSpec::type_iii(1, 1, 1)
            }),
        ];
        for t in bad {
            assert!(
                matches!(outer_l4(&t, &inner, 0), Err(WireError::Unsupported(_))),
                "{t:?}"
            );
        }
        // Fields of the other ERSPAN version are not looked at.
        let v1 = ErspanSpec {
            dir: 9,
            hardware_id: 200,
            ..ErspanSpec::type_ii(1, 1)
        };
        assert!(v1.validate().is_ok());
        let v2 = ErspanSpec {
            index: u32::MAX,
            ..ErspanSpec::type_iii(1, 1, 1)
        };
        assert!(v2.validate().is_ok());
        // Inner frame shorter than an Ethernet header, or too long for IPv4.
        let gre = MirrorTunnel::Gre { key: None };
        assert_eq!(outer_l4(&gre, &inner[..13], 0), Err(WireError::Truncated));
        let huge = vec![0u8; MAX_L4_LEN - GRE_BASE_HEADER_LEN + 1];
        assert!(matches!(
            outer_l4(&gre, &huge, 0),
            Err(WireError::Unsupported(_))
        ));
        assert!(outer_l4(&gre, &huge[1..], 0).is_ok());
    }

    #[test]
    fn gre_decoder_checks_flags_and_checksum() {
        let inner = pod_ping();
        // A GRE packet with C set, built by hand; the checksum covers all of it.
        let mut pkt = vec![0x80, 0x00, 0x65, 0x58, 0, 0, 0, 0];
        pkt.extend_from_slice(&inner);
        let sum = !checksum::data(&pkt);
        pkt[4..6].copy_from_slice(&sum.to_be_bytes());
        let d = decapsulate_gre(&pkt).unwrap();
        assert_eq!(d.tunnel, MirrorTunnel::Gre { key: None });
        assert_eq!(d.inner, &inner[..]);
        pkt[5] ^= 1;
        assert_eq!(decapsulate_gre(&pkt), Err(WireError::BadChecksum));

        let base = outer_udp_payload(&MirrorTunnel::Gre { key: Some(3) }, &inner);
        // Version 1 (PPTP), routing bit, a foreign protocol type.
        for (at, byte) in [(1, 0x01), (0, 0x60), (2, 0x08)] {
            let mut bad = base.clone();
            bad[at] = byte;
            assert!(
                matches!(decapsulate_gre(&bad), Err(WireError::Unsupported(_))),
                "byte {at} = {byte:#x}"
            );
        }
        // Key announced, then cut off; inner frame cut short.
        assert_eq!(decapsulate_gre(&base[..6]), Err(WireError::Truncated));
        assert_eq!(decapsulate_gre(&base[..20]), Err(WireError::Truncated));
        assert_eq!(decapsulate_gre(&[0x00]), Err(WireError::Truncated));
    }

    #[test]
    fn erspan_decoder_refusals() {
        let inner = pod_ping();
        let v1 = outer_udp_payload(&MirrorTunnel::Erspan(ErspanSpec::type_ii(3, 4)), &inner);
        // Type I: protocol 0x88BE without a sequence number (and so no header).
        let mut type_i = vec![0x00, 0x00, 0x88, 0xbe];
        type_i.extend_from_slice(&inner);
        assert!(matches!(
            decapsulate_gre(&type_i),
            Err(WireError::Unsupported(_))
        ));
        // S plus K.
        let mut bad = v1.clone();
        bad[0] = 0x30;
        assert!(matches!(
            decapsulate_gre(&bad),
            Err(WireError::Malformed(_))
        ));
        // Version 2 in a type II (0x88BE) packet.
        let mut bad = v1.clone();
        bad[8] = 0x20;
        assert!(matches!(
            decapsulate_gre(&bad),
            Err(WireError::Malformed(_))
        ));
        // Type III with the O bit: a platform-specific subheader follows.
        let mut v2 =
            outer_udp_payload(&MirrorTunnel::Erspan(ErspanSpec::type_iii(3, 0, 1)), &inner);
        v2[19] |= 0x01;
        assert!(matches!(
            decapsulate_gre(&v2),
            Err(WireError::Unsupported(_))
        ));
        // Header cut short.
        assert_eq!(decapsulate_gre(&v1[..14]), Err(WireError::Truncated));
    }

    #[test]
    fn udp_decoder_refusals() {
        let inner = pod_ping();
        let mut vx = outer_udp_payload(
            &MirrorTunnel::Vxlan {
                vni: 1,
                dst_port: 4789,
            },
            &inner,
        );
        vx[0] = 0;
        assert!(matches!(
            decapsulate_vxlan(4789, &vx),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(decapsulate_vxlan(4789, &vx[..7]), Err(WireError::Truncated));
        let mut gn = outer_udp_payload(
            &MirrorTunnel::Geneve {
                vni: 1,
                dst_port: 6081,
            },
            &inner,
        );
        gn[1] |= 0x40; // C bit
        assert!(matches!(
            decapsulate_geneve(6081, &gn),
            Err(WireError::Unsupported(_))
        ));
        assert!(decapsulate_l4(1, None, &gn).is_err());
    }

    fn tunnel() -> impl Strategy<Value = MirrorTunnel> {
        prop_oneof![
            (0..=VNI_MAX, 1..=u16::MAX)
                .prop_map(|(vni, dst_port)| MirrorTunnel::Vxlan { vni, dst_port }),
            (0..=VNI_MAX, 1..=u16::MAX)
                .prop_map(|(vni, dst_port)| MirrorTunnel::Geneve { vni, dst_port }),
            any::<Option<u32>>().prop_map(|key| MirrorTunnel::Gre { key }),
            (0..=ERSPAN_SESSION_MAX, 0..=ERSPAN_INDEX_MAX)
                .prop_map(|(s, i)| MirrorTunnel::Erspan(ErspanSpec::type_ii(s, i))),
            (0..=ERSPAN_SESSION_MAX, 0u8..=1, 0..=ERSPAN_HWID_MAX)
                .prop_map(|(s, d, h)| MirrorTunnel::Erspan(ErspanSpec::type_iii(s, d, h))),
        ]
    }

    proptest! {
        #[test]
        fn outer_l4_then_decapsulate_gives_everything_back(
            t in tunnel(),
            inner in proptest::collection::vec(any::<u8>(), ETH_HEADER_LEN..400),
            seq in any::<u32>(),
        ) {
            let l4 = outer_l4(&t, &inner, seq).unwrap();
            let (protocol, port, payload) = payload_parts(&l4);
            let d = match t {
                MirrorTunnel::Vxlan { dst_port, .. } => decapsulate_vxlan(dst_port, payload),
                MirrorTunnel::Geneve { dst_port, .. } => decapsulate_geneve(dst_port, payload),
                _ => decapsulate_l4(protocol, port, payload),
            }
            .unwrap();
            prop_assert_eq!(d.tunnel, t);
            prop_assert_eq!(d.inner, &inner[..]);
            let want_seq = matches!(t, MirrorTunnel::Erspan(_)).then_some(seq);
            prop_assert_eq!(d.seq, want_seq);
        }

        #[test]
        fn decoders_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..120),
            port in any::<u16>(),
        ) {
            let _ = decapsulate_gre(&bytes);
            let _ = decapsulate_vxlan(port, &bytes);
            let _ = decapsulate_geneve(port, &bytes);
            let _ = decapsulate_l4(proto::UDP, Some(port), &bytes);
        }

        #[test]
        fn mangled_gre_never_panics(t in tunnel(), at in 0usize..40, byte in any::<u8>()) {
            let mut p = outer_udp_payload(&t, &pod_ping());
            let i = at % p.len();
            p[i] = byte;
            let _ = decapsulate_gre(&p);
            let _ = decapsulate_vxlan(1, &p);
            let _ = decapsulate_geneve(1, &p);
        }
    }
}
