//! Geneve (RFC 8926) and the UDP/IPv4 encapsulation a tunnel endpoint wraps around it.
//!
//! Owns two things:
//! - the Geneve header codec, in the smoltcp shape: [`GenevePacket`] is a typed
//!   view over a byte buffer (field getters/setters, `new_checked` validates the
//!   lengths), [`GeneveRepr`] is its parsed, high-level form (`parse` / `emit`).
//!   Options are kept as opaque TLV bytes: the simulator neither sets nor reads any.
//! - [`encapsulate`] / [`decapsulate`]: an inner Ethernet frame carried in outer
//!   Ethernet / IPv4 / UDP (destination port 6081) / Geneve, as an OVS tunnel port
//!   (Antrea's `antrea-tun0`, type `geneve`) sends and receives it.
//!
//! Outer header defaults, each as OVS sets them (Open vSwitch `vswitchd/vswitch.xml`,
//! Interface table, tunnel options):
//! - DF set: option `df_default`, "Default is enabled".
//! - UDP checksum 0 over IPv4: option `csum`, "When unset (the default value),
//!   checksum computing for outgoing packets is enabled for UDP IPv6 tunnels, and
//!   disabled for GRE and IPv4 UDP tunnels". Antrea sets `csum=true` only when
//!   `tunnelCsum` is set in antrea-agent.conf; [`TunnelOuter::udp_csum`] models that.
//! - TTL 64: option `ttl`, "Default is the system default TTL" (Linux's 64).
//! - UDP source port from a hash of the inner flow, so that ECMP and RSS spread
//!   tunnels by inner flow (RFC 8926 §3.3 recommends it). OVS's userspace tunnel
//!   code (`lib/netdev-native-tnl.c`, `netdev_tnl_get_src_port`) scales the 32-bit
//!   flow hash into [32768, 61000) as `hash * (61000 - 32768) >> 32` plus 32768;
//!   [`tunnel_src_port`] uses that range and scaling, but hashes with FNV-1a over
//!   the inner 5-tuple (OVS uses its own `flow_hash_5tuple` or the NIC's RSS hash,
//!   which we cannot reproduce): the same inner flow always gets the same port,
//!   different flows usually differ, and the value is stable across runs.
//!
//! Decapsulation accepts what a receiver must (RFC 8926 §3.4): a zero UDP checksum,
//! any source port, options it does not understand (they are returned, with the C
//! bit, for the caller to act on), and refuses what it must not forward: a version
//! other than 0 or a protocol type other than Transparent Ethernet Bridging.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IPV4_HEADER_LEN, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UDP_HEADER_LEN, UdpPacket,
};

use super::{DEFAULT_TTL, ETH_HEADER_LEN, EthHeader, WireError, build_eth, ethertype, parse_eth};
use crate::model::MacAddr;
use crate::rng::fnv1a64;

/// IANA-assigned UDP destination port for Geneve (RFC 8926 §3.3).
pub const GENEVE_UDP_PORT: u16 = 6081;
/// Protocol type of an Ethernet payload: Transparent Ethernet Bridging (RFC 8926 §3.4).
pub const PROTO_TRANSPARENT_ETHERNET: u16 = 0x6558;
/// Bytes in the fixed Geneve header, before the options.
pub const GENEVE_HEADER_LEN: usize = 8;
/// The only Geneve version defined (RFC 8926 §3.4).
pub const GENEVE_VERSION: u8 = 0;
/// Largest VNI: the field is 24 bits.
pub const VNI_MAX: u32 = 0x00ff_ffff;
/// Largest options block: the 6-bit Opt Len counts 4-byte words.
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// Bytes an IPv4 Geneve tunnel adds in front of the inner frame:
/// outer Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8 (no options).
pub const IPV4_GENEVE_OVERHEAD: usize =
    ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + GENEVE_HEADER_LEN;
/// Lowest UDP source port a tunnel picks (OVS `tnl_udp_port_min`, lib/netdev-native-tnl.c).
pub const TUNNEL_SRC_PORT_MIN: u16 = 32768;
/// One past the highest (OVS `tnl_udp_port_max`, lib/netdev-native-tnl.c).
pub const TUNNEL_SRC_PORT_MAX: u16 = 61000;

/// Byte offsets inside the Geneve header (RFC 8926 §3.4 figure).
mod field {
    /// Ver (2 bits) | Opt Len (6 bits).
    pub const VER_OPTLEN: usize = 0;
    /// O (1) | C (1) | Rsvd (6).
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: std::ops::Range<usize> = 2..4;
    /// VNI (24 bits) then 8 reserved bits.
    pub const VNI: std::ops::Range<usize> = 4..7;
    pub const RESERVED2: usize = 7;
    pub const OAM_BIT: u8 = 0x80;
    pub const CRITICAL_BIT: u8 = 0x40;
}

/// A read/write view of a Geneve header and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenevePacket<T> {
    /// Wraps a buffer without checking it; the getters may panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Self {
        GenevePacket { buffer }
    }

    /// Wraps a buffer after [`Self::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds the fixed header and the options its Opt Len announces.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < GENEVE_HEADER_LEN || b.len() < self.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// Length of the options in bytes (the field counts 4-byte words).
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f) * 4
    }

    /// Fixed header plus options.
    pub fn header_len(&self) -> usize {
        GENEVE_HEADER_LEN + self.options_len()
    }

    /// O bit: a control (OAM) packet, for the tunnel endpoint itself.
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & field::OAM_BIT != 0
    }

    /// C bit: critical options are present.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & field::CRITICAL_BIT != 0
    }

    pub fn protocol_type(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::PROTOCOL];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn vni(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VNI];
        u32::from_be_bytes([0, b[0], b[1], b[2]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GenevePacket<&'a T> {
    /// The option TLVs, undecoded.
    pub fn options(&self) -> &'a [u8] {
        let end = self.header_len();
        &self.buffer.as_ref()[GENEVE_HEADER_LEN..end]
    }

    /// The encapsulated frame.
    pub fn payload(&self) -> &'a [u8] {
        let start = self.header_len();
        &self.buffer.as_ref()[start..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenevePacket<T> {
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_OPTLEN];
        *b = (*b & 0x3f) | ((version & 0x03) << 6);
    }

    /// Sets Opt Len from a byte count; only a multiple of 4 up to
    /// [`MAX_OPTIONS_LEN`] is representable (the rest is cut by the field width).
    pub fn set_options_len(&mut self, bytes: usize) {
        let words = ((bytes / 4) & 0x3f) as u8;
        let b = &mut self.buffer.as_mut()[field::VER_OPTLEN];
        *b = (*b & 0xc0) | words;
    }

    pub fn set_oam(&mut self, on: bool) {
        self.set_flag(field::OAM_BIT, on);
    }

    pub fn set_critical(&mut self, on: bool) {
        self.set_flag(field::CRITICAL_BIT, on);
    }

    fn set_flag(&mut self, bit: u8, on: bool) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        if on {
            *b |= bit;
        } else {
            *b &= !bit;
        }
    }

    pub fn set_protocol_type(&mut self, protocol: u16) {
        self.buffer.as_mut()[field::PROTOCOL].copy_from_slice(&protocol.to_be_bytes());
    }

    /// Sets the 24-bit VNI (higher bits are dropped) and clears the reserved byte after it.
    pub fn set_vni(&mut self, vni: u32) {
        let b = (vni & VNI_MAX).to_be_bytes();
        let buf = self.buffer.as_mut();
        buf[field::VNI].copy_from_slice(&b[1..4]);
        buf[field::RESERVED2] = 0;
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[GENEVE_HEADER_LEN..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// The high-level form of a Geneve header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveRepr<'a> {
    pub oam: bool,
    pub critical: bool,
    pub protocol_type: u16,
    pub vni: u32,
    /// Option TLVs as bytes; a multiple of 4, at most [`MAX_OPTIONS_LEN`].
    pub options: &'a [u8],
}

impl<'a> GeneveRepr<'a> {
    /// A header for an Ethernet payload with no options and no flags.
    pub fn ethernet(vni: u32) -> GeneveRepr<'static> {
        GeneveRepr {
            oam: false,
            critical: false,
            protocol_type: PROTO_TRANSPARENT_ETHERNET,
            vni,
            options: &[],
        }
    }

    /// Reads a checked packet; a version other than 0 is refused (RFC 8926 §3.4:
    /// "Packets received by a tunnel endpoint with an unknown version MUST be dropped").
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &GenevePacket<&'a T>) -> Result<Self, WireError> {
        p.check_len()?;
        if p.version() != GENEVE_VERSION {
            return Err(WireError::Unsupported("Geneve version other than 0"));
        }
        Ok(GeneveRepr {
            oam: p.oam(),
            critical: p.critical(),
            protocol_type: p.protocol_type(),
            vni: p.vni(),
            options: p.options(),
        })
    }

    /// Header bytes this repr emits (fixed header plus options).
    pub fn buffer_len(&self) -> usize {
        GENEVE_HEADER_LEN + self.options.len()
    }

    /// Checks what the header fields can hold: a 24-bit VNI and options that fit Opt Len.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.vni > VNI_MAX {
            return Err(WireError::Malformed("Geneve VNI wider than 24 bits"));
        }
        if !self.options.len().is_multiple_of(4) || self.options.len() > MAX_OPTIONS_LEN {
            return Err(WireError::Malformed(
                "Geneve options must be a multiple of 4 bytes, at most 252",
            ));
        }
        Ok(())
    }

    /// Writes the header into a buffer at least [`Self::buffer_len`] long;
    /// call [`Self::validate`] first (fields too wide are cut).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut GenevePacket<T>) {
        let buf = p.buffer.as_mut();
        buf[field::VER_OPTLEN] = 0;
        buf[field::FLAGS] = 0;
        p.set_version(GENEVE_VERSION);
        p.set_options_len(self.options.len());
        p.set_oam(self.oam);
        p.set_critical(self.critical);
        p.set_protocol_type(self.protocol_type);
        p.set_vni(self.vni);
        p.options_mut().copy_from_slice(self.options);
    }
}

/// The outer headers a tunnel port writes: the two ends of the tunnel (the node IPs
/// and the MACs of the hop between them) and the OVS options that shape the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelOuter {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    /// Outer TTL; OVS's default is the system default, 64.
    pub ttl: u8,
    /// Outer DF bit; OVS option `df_default`, true by default.
    pub dont_frag: bool,
    /// Compute the outer UDP checksum; OVS option `csum`, off by default over IPv4.
    pub udp_csum: bool,
}

impl TunnelOuter {
    /// OVS's defaults between two node addresses: TTL 64, DF set, no UDP checksum.
    pub fn new(src_mac: MacAddr, dst_mac: MacAddr, src_ip: Ipv4Addr, dst_ip: Ipv4Addr) -> Self {
        TunnelOuter {
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            ttl: DEFAULT_TTL,
            dont_frag: true,
            udp_csum: false,
        }
    }
}

/// What [`decapsulate`] found: the outer endpoints, the Geneve header and the inner frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated<'a> {
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    pub src_port: u16,
    pub dont_frag: bool,
    pub ttl: u8,
    pub geneve: GeneveRepr<'a>,
    /// The encapsulated Ethernet frame, byte for byte.
    pub inner: &'a [u8],
}

/// The UDP source port for an inner frame (see the module doc for the choice):
/// FNV-1a over the inner flow, scaled into [32768, 61000) as OVS scales its hash.
/// The flow is the IPv4 5-tuple (addresses, protocol, and TCP/UDP ports when the
/// packet is not a fragment) when the inner frame carries IPv4, else the two MACs
/// and the EtherType.
pub fn tunnel_src_port(inner: &[u8]) -> u16 {
    let hash = fnv1a64(&inner_flow_key(inner)) as u32;
    let span = u64::from(TUNNEL_SRC_PORT_MAX - TUNNEL_SRC_PORT_MIN);
    // The product is below 2^32 * span, so the shifted value is below span.
    TUNNEL_SRC_PORT_MIN + ((u64::from(hash) * span) >> 32) as u16
}

/// The bytes the source-port hash reads; never fails (short frames hash what they have).
fn inner_flow_key(inner: &[u8]) -> Vec<u8> {
    let Ok((eth, payload)) = parse_eth(inner) else {
        return inner.to_vec();
    };
    if eth.ethertype == ethertype::IPV4 && payload.len() >= IPV4_HEADER_LEN && payload[0] >> 4 == 4
    {
        let ihl = usize::from(payload[0] & 0x0f) * 4;
        let protocol = payload[9];
        let frag = u16::from_be_bytes([payload[6], payload[7]]) & 0x3fff;
        let mut key = Vec::with_capacity(13);
        key.extend_from_slice(&payload[12..20]);
        key.push(protocol);
        let has_ports = matches!(protocol, 6 | 17 | 132) && frag == 0;
        if let Some(ports) = payload.get(ihl..ihl + 4).filter(|_| has_ports) {
            key.extend_from_slice(ports);
        }
        return key;
    }
    let mut key = Vec::with_capacity(14);
    key.extend_from_slice(&eth.dst.0);
    key.extend_from_slice(&eth.src.0);
    key.extend_from_slice(&eth.ethertype.to_be_bytes());
    key
}

/// Wraps `inner` (a whole Ethernet frame) in outer Ethernet/IPv4/UDP/Geneve with
/// VNI `vni` and no options. Fails when the VNI does not fit 24 bits or the
/// result would not fit one IPv4 packet; never fragments (the caller owns MTU).
pub fn encapsulate(outer: &TunnelOuter, vni: u32, inner: &[u8]) -> Result<Vec<u8>, WireError> {
    let geneve = GeneveRepr::ethernet(vni);
    geneve.validate()?;
    let udp_len = UDP_HEADER_LEN + geneve.buffer_len() + inner.len();
    if IPV4_HEADER_LEN + udp_len > usize::from(u16::MAX) {
        return Err(WireError::Unsupported(
            "inner frame too long for one outer IPv4 packet",
        ));
    }
    let mut ip_buf = vec![0u8; IPV4_HEADER_LEN + udp_len];
    let (ip_hdr, udp_buf) = ip_buf.split_at_mut(IPV4_HEADER_LEN);

    let mut udp = UdpPacket::new_unchecked(&mut udp_buf[..]);
    udp.set_src_port(tunnel_src_port(inner));
    udp.set_dst_port(GENEVE_UDP_PORT);
    udp.set_len(udp_len as u16);
    let body = udp.payload_mut();
    let mut g = GenevePacket::new_unchecked(&mut body[..geneve.buffer_len()]);
    geneve.emit(&mut g);
    body[geneve.buffer_len()..].copy_from_slice(inner);
    if outer.udp_csum {
        udp.fill_checksum(
            &IpAddress::Ipv4(outer.src_ip),
            &IpAddress::Ipv4(outer.dst_ip),
        );
    } else {
        udp.set_checksum(0);
    }

    let repr = Ipv4Repr {
        src_addr: outer.src_ip,
        dst_addr: outer.dst_ip,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: outer.ttl,
    };
    let mut ip = Ipv4Packet::new_unchecked(&mut ip_hdr[..]);
    repr.emit(&mut ip, &ChecksumCapabilities::ignored());
    ip.set_dont_frag(outer.dont_frag);
    ip.fill_checksum();

    let eth = EthHeader::new(outer.dst_mac, outer.src_mac, ethertype::IPV4);
    Ok(build_eth(&eth, &ip_buf))
}

/// Takes a frame apart that [`encapsulate`] (or any Geneve sender) built: checks
/// the outer IPv4 header checksum, the UDP length and checksum (zero accepted),
/// the destination port 6081, the Geneve version and that the payload is an
/// Ethernet frame. Outer 802.1Q tags are allowed; outer fragments are not.
pub fn decapsulate(frame: &[u8]) -> Result<Decapsulated<'_>, WireError> {
    let (eth, ip_bytes) = parse_eth(frame)?;
    if eth.ethertype != ethertype::IPV4 {
        return Err(WireError::Unsupported("outer frame is not IPv4"));
    }
    let ip = Ipv4Packet::new_checked(ip_bytes).map_err(|_| WireError::Truncated)?;
    if ip.version() != 4 {
        return Err(WireError::Unsupported("IP version other than 4"));
    }
    if !ip.verify_checksum() {
        return Err(WireError::BadChecksum);
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(WireError::Unsupported("IPv4 fragment"));
    }
    if ip.next_header() != IpProtocol::Udp {
        return Err(WireError::Unsupported("outer packet is not UDP"));
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let header_len = usize::from(ip.header_len());
    if header_len < IPV4_HEADER_LEN {
        return Err(WireError::Malformed("IPv4 header length below 20"));
    }
    let total_len = usize::from(ip.total_len());
    let udp_bytes = &ip_bytes[header_len..total_len];
    let udp = UdpPacket::new_checked(udp_bytes).map_err(|_| WireError::Truncated)?;
    if !udp.verify_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst)) {
        return Err(WireError::BadChecksum);
    }
    if udp.dst_port() != GENEVE_UDP_PORT {
        return Err(WireError::Unsupported("UDP destination port is not 6081"));
    }
    let geneve_bytes = &udp_bytes[UDP_HEADER_LEN..usize::from(udp.len())];
    let packet = GenevePacket::new_checked(geneve_bytes)?;
    let geneve = GeneveRepr::parse(&packet)?;
    if geneve.protocol_type != PROTO_TRANSPARENT_ETHERNET {
        return Err(WireError::Unsupported(
            "Geneve payload is not an Ethernet frame (protocol type 0x6558)",
        ));
    }
    let inner = packet.payload();
    if inner.len() < ETH_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    Ok(Decapsulated {
        outer_src: src,
        outer_dst: dst,
        src_port: udp.src_port(),
        dont_frag: ip.dont_frag(),
        ttl: ip.hop_limit(),
        geneve,
        inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ipv4Pkt, L4};
    use proptest::prelude::*;

    const NODE1_MAC: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0x1d, 0x82, 0xf5]);
    const NODE2_MAC: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0x2e, 0x93, 0x06]);
    const POD_A_MAC: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x0a, 0x00, 0x05]);
    const GW_MAC: MacAddr = MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    const NODE1: Ipv4Addr = Ipv4Addr::new(10, 160, 1, 25);
    const NODE2: Ipv4Addr = Ipv4Addr::new(10, 160, 1, 26);

    fn pod_ping(seq: u16) -> Vec<u8> {
        let p = Ipv4Pkt::new(
            Ipv4Addr::new(10, 10, 0, 5),
            Ipv4Addr::new(10, 10, 1, 7),
            L4::IcmpEcho {
                request: true,
                ident: 9,
                seq,
                data: vec![0x5a; 56],
            },
        );
        build_eth(
            &EthHeader::new(GW_MAC, POD_A_MAC, ethertype::IPV4),
            &p.to_bytes(),
        )
    }

    fn outer() -> TunnelOuter {
        TunnelOuter::new(NODE1_MAC, NODE2_MAC, NODE1, NODE2)
    }

    #[test]
    fn header_bytes_match_rfc_8926_layout() {
        let mut buf = [0xffu8; 12];
        let opts = [1, 2, 3, 4];
        let repr = GeneveRepr {
            oam: true,
            critical: false,
            protocol_type: PROTO_TRANSPARENT_ETHERNET,
            vni: 0x12_3456,
            options: &opts,
        };
        repr.validate().unwrap();
        repr.emit(&mut GenevePacket::new_unchecked(&mut buf[..]));
        // Ver 0, Opt Len 1 word; O set, C clear, reserved 0; 0x6558; VNI; reserved 0.
        assert_eq!(
            buf,
            [0x01, 0x80, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00, 1, 2, 3, 4]
        );
        let p = GenevePacket::new_checked(&buf[..]).unwrap();
        assert_eq!(GeneveRepr::parse(&p).unwrap(), repr);
        assert_eq!(p.payload(), &[] as &[u8]);
    }

    #[test]
    fn critical_bit_and_reserved_byte() {
        let mut buf = [0u8; 8];
        let mut p = GenevePacket::new_unchecked(&mut buf[..]);
        p.set_critical(true);
        p.set_vni(0xffff_ffff);
        assert_eq!(buf[1], 0x40);
        assert_eq!(&buf[4..8], &[0xff, 0xff, 0xff, 0x00], "VNI cut to 24 bits");
    }

    #[test]
    fn check_len_counts_the_options() {
        // Opt Len says 2 words (8 bytes) but only 4 follow.
        let buf = [0x02, 0, 0x65, 0x58, 0, 0, 1, 0, 9, 9, 9, 9];
        assert_eq!(
            GenevePacket::new_checked(&buf[..]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            GenevePacket::new_checked(&buf[..7]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let buf = [0x40, 0, 0x65, 0x58, 0, 0, 1, 0];
        let p = GenevePacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 1);
        assert!(matches!(
            GeneveRepr::parse(&p),
            Err(WireError::Unsupported(_))
        ));
    }

    #[test]
    fn validate_refuses_what_the_fields_cannot_hold() {
        assert!(GeneveRepr::ethernet(VNI_MAX).validate().is_ok());
        assert!(GeneveRepr::ethernet(VNI_MAX + 1).validate().is_err());
        let three = [0u8; 3];
        let too_many = [0u8; MAX_OPTIONS_LEN + 4];
        for options in [&three[..], &too_many[..]] {
            let r = GeneveRepr {
                options,
                ..GeneveRepr::ethernet(1)
            };
            assert!(r.validate().is_err());
        }
    }

    #[test]
    fn encapsulated_frame_has_ovs_defaults() {
        let inner = pod_ping(1);
        let f = encapsulate(&outer(), 0, &inner).unwrap();
        assert_eq!(f.len(), inner.len() + IPV4_GENEVE_OVERHEAD);
        assert_eq!(IPV4_GENEVE_OVERHEAD, 50);
        let (eth, ip) = parse_eth(&f).unwrap();
        assert_eq!((eth.src, eth.dst), (NODE1_MAC, NODE2_MAC));
        let ip = Ipv4Packet::new_checked(ip).unwrap();
        assert!(ip.verify_checksum());
        assert!(ip.dont_frag(), "OVS df_default is true");
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!((ip.src_addr(), ip.dst_addr()), (NODE1, NODE2));
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(udp.dst_port(), GENEVE_UDP_PORT);
        assert_eq!(udp.checksum(), 0, "OVS csum is off for IPv4 by default");
        let port = udp.src_port();
        assert!((TUNNEL_SRC_PORT_MIN..TUNNEL_SRC_PORT_MAX).contains(&port));
        let g = GenevePacket::new_checked(udp.payload()).unwrap();
        assert_eq!(g.protocol_type(), PROTO_TRANSPARENT_ETHERNET);
        assert_eq!(g.payload(), &inner[..]);
    }

    #[test]
    fn csum_option_fills_a_valid_udp_checksum() {
        let o = TunnelOuter {
            udp_csum: true,
            dont_frag: false,
            ttl: 3,
            ..outer()
        };
        let f = encapsulate(&o, 7, &pod_ping(1)).unwrap();
        let ip = Ipv4Packet::new_checked(&f[ETH_HEADER_LEN..]).unwrap();
        assert!(!ip.dont_frag());
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_ne!(udp.checksum(), 0);
        assert!(udp.verify_checksum(&IpAddress::Ipv4(NODE1), &IpAddress::Ipv4(NODE2)));
        let d = decapsulate(&f).unwrap();
        assert_eq!((d.ttl, d.dont_frag, d.geneve.vni), (3, false, 7));
    }

    #[test]
    fn decap_refuses_corruption_and_foreign_traffic() {
        let good = encapsulate(&outer(), 5, &pod_ping(1)).unwrap();
        // Outer IPv4 header checksum broken.
        let mut bad = good.clone();
        bad[ETH_HEADER_LEN + 8] ^= 1; // TTL byte
        assert_eq!(decapsulate(&bad), Err(WireError::BadChecksum));
        // UDP checksum set to a wrong non-zero value.
        let udp_at = ETH_HEADER_LEN + IPV4_HEADER_LEN;
        let mut bad = good.clone();
        bad[udp_at + 6] = 0x12;
        assert_eq!(decapsulate(&bad), Err(WireError::BadChecksum));
        // Not port 6081 (VXLAN's 4789).
        let mut bad = good.clone();
        bad[udp_at + 2..udp_at + 4].copy_from_slice(&4789u16.to_be_bytes());
        assert!(matches!(decapsulate(&bad), Err(WireError::Unsupported(_))));
        // Geneve carrying IPv4 directly, not Ethernet.
        let g_at = udp_at + UDP_HEADER_LEN;
        let mut bad = good.clone();
        bad[g_at + 2..g_at + 4].copy_from_slice(&0x0800u16.to_be_bytes());
        assert!(matches!(decapsulate(&bad), Err(WireError::Unsupported(_))));
        // Cut inside the inner frame.
        assert_eq!(
            decapsulate(&good[..good.len() - 30]),
            Err(WireError::Truncated)
        );
        // A plain ping is not a tunnel packet.
        assert!(decapsulate(&pod_ping(1)).is_err());
    }

    #[test]
    fn source_port_follows_the_inner_flow() {
        let a = tunnel_src_port(&pod_ping(1));
        // Same 5-tuple (ICMP has no ports), different seq: same port.
        assert_eq!(a, tunnel_src_port(&pod_ping(2)));
        let ports: std::collections::BTreeSet<u16> = (0u16..64)
            .map(|sp| {
                let p = Ipv4Pkt::new(
                    Ipv4Addr::new(10, 10, 0, 5),
                    Ipv4Addr::new(10, 10, 1, 7),
                    L4::Udp {
                        src_port: 40000 + sp,
                        dst_port: 53,
                        payload: vec![],
                    },
                );
                tunnel_src_port(&build_eth(
                    &EthHeader::new(GW_MAC, POD_A_MAC, ethertype::IPV4),
                    &p.to_bytes(),
                ))
            })
            .collect();
        assert!(ports.len() > 50, "flows spread over ports: {}", ports.len());
    }

    fn inner_frame() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Well-formed Ethernet with any EtherType and payload.
            (
                any::<[u8; 6]>(),
                any::<[u8; 6]>(),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..1500)
            )
                .prop_map(|(d, s, et, body)| build_eth(
                    &EthHeader::new(MacAddr(d), MacAddr(s), et),
                    &body
                )),
            // Any bytes long enough to hold an Ethernet header.
            proptest::collection::vec(any::<u8>(), ETH_HEADER_LEN..300),
        ]
    }

    proptest! {
        #[test]
        fn encap_then_decap_gives_back_inner_and_vni(
            inner in inner_frame(),
            vni in 0u32..=VNI_MAX,
            csum in any::<bool>(),
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
        ) {
            let o = TunnelOuter {
                udp_csum: csum,
                ..TunnelOuter::new(NODE1_MAC, NODE2_MAC, Ipv4Addr::from(src), Ipv4Addr::from(dst))
            };
            let f = encapsulate(&o, vni, &inner).unwrap();
            let d = decapsulate(&f).unwrap();
            prop_assert_eq!(d.inner, &inner[..]);
            prop_assert_eq!(d.geneve.vni, vni);
            prop_assert_eq!((d.outer_src, d.outer_dst), (o.src_ip, o.dst_ip));
            prop_assert_eq!(d.src_port, tunnel_src_port(&inner));
            prop_assert!(d.dont_frag);
        }

        #[test]
        fn decap_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decapsulate(&bytes);
            let _ = tunnel_src_port(&bytes);
            if let Ok(p) = GenevePacket::new_checked(&bytes[..]) {
                let _ = GeneveRepr::parse(&p);
                let _ = p.payload();
            }
        }

        #[test]
        fn decap_of_mangled_tunnel_never_panics(
            at in 0usize..90, byte in any::<u8>(), vni in 0u32..=VNI_MAX,
        ) {
            let mut f = encapsulate(&outer(), vni, &pod_ping(1)).unwrap();
            let i = at % f.len();
            f[i] = byte;
            let _ = decapsulate(&f);
        }
    }
}
