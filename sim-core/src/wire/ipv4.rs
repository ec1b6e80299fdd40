//! IPv4 packets with an ICMP, UDP or TCP payload (RFC 791, 792, 768, 793).
//!
//! Headers are written and read through `smoltcp::wire` packet types. Every
//! checksum (IPv4 header, ICMP, UDP and TCP with their pseudo-header) is
//! recomputed by [`Ipv4Pkt::to_bytes`], so NAT code can simply rewrite addresses
//! and ports in the struct; [`Ipv4Pkt::parse`] rejects any bad checksum.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpPacket, TcpSeqNumber, UdpPacket,
};

use super::WireError;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

const IPV4_HEADER_LEN: usize = 20;
const ICMP_HEADER_LEN: usize = 8;
const UDP_HEADER_LEN: usize = 8;
const TCP_HEADER_LEN: usize = 20;
/// The IPv4 total-length field is 16 bits.
const IPV4_MAX_LEN: usize = u16::MAX as usize;
/// Linux's default TTL (`net.ipv4.ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;

/// TCP control flags the simulator uses (RFC 793 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub rst: bool,
    pub fin: bool,
    pub psh: bool,
}

impl TcpFlags {
    pub const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        rst: false,
        fin: false,
        psh: false,
    };
    pub const SYN_ACK: TcpFlags = TcpFlags {
        syn: true,
        ack: true,
        ..TcpFlags::SYN
    };
    pub const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        rst: false,
        fin: false,
        psh: false,
    };
    pub const RST: TcpFlags = TcpFlags {
        syn: false,
        ack: false,
        rst: true,
        fin: false,
        psh: false,
    };

    /// tcpdump's notation: `S`, `S.`, `P.`, `F.`, `R`, `.` for a bare ACK.
    fn tcpdump(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.syn, 'S'),
            (self.fin, 'F'),
            (self.psh, 'P'),
            (self.rst, 'R'),
            (self.ack, '.'),
        ] {
            if on {
                s.push(c);
            }
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

/// The transport payload of an [`Ipv4Pkt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// ICMP echo request (type 8) or reply (type 0).
    IcmpEcho {
        request: bool,
        ident: u16,
        seq: u16,
        data: Vec<u8>,
    },
    /// ICMP destination unreachable (type 3); `original` is the offending packet's
    /// IP header and at least its first 8 payload bytes (RFC 792).
    IcmpDestUnreachable { code: u8, original: Vec<u8> },
    /// ICMP "fragmentation needed and DF set" (type 3, code 4) with the
    /// next-hop MTU in the second header word (RFC 1191 §4).
    IcmpFragNeeded { mtu: u16, original: Vec<u8> },
    /// ICMP time exceeded in transit (type 11, code 0).
    IcmpTimeExceeded { original: Vec<u8> },
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: Vec<u8>,
    },
    /// A TCP segment without options.
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        payload: Vec<u8>,
    },
    /// Any other protocol, or ICMP type, kept as raw bytes (for ICMP these bytes
    /// include the ICMP header and its checksum, which is verified on parse).
    Other { protocol: u8, payload: Vec<u8> },
}

impl L4 {
    pub fn protocol(&self) -> u8 {
        match self {
            L4::IcmpEcho { .. }
            | L4::IcmpDestUnreachable { .. }
            | L4::IcmpFragNeeded { .. }
            | L4::IcmpTimeExceeded { .. } => proto::ICMP,
            L4::Udp { .. } => proto::UDP,
            L4::Tcp { .. } => proto::TCP,
            L4::Other { protocol, .. } => *protocol,
        }
    }
}

/// An IPv4 packet without options or fragmentation. `to_bytes` always sets DF,
/// as Linux does for path-MTU discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Pkt {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ident: u16,
    pub l4: L4,
}

fn v4(a: Ipv4Addr) -> IpAddress {
    IpAddress::Ipv4(a)
}

/// Maps smoltcp's length failures: a buffer shorter than a length field claims
/// is `Truncated`, a length field smaller than the header is `Malformed`.
fn len_error(buf_len: usize, needed: usize, what: &'static str) -> WireError {
    if buf_len < needed {
        WireError::Truncated
    } else {
        WireError::Malformed(what)
    }
}

impl Ipv4Pkt {
    /// A packet with TTL 64 and IP ident 0.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, l4: L4) -> Self {
        Ipv4Pkt {
            src,
            dst,
            ttl: DEFAULT_TTL,
            ident: 0,
            l4,
        }
    }

    /// Parses an IPv4 packet; bytes after the total length (Ethernet padding) are
    /// ignored. Header options are skipped; fragments are not supported.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < IPV4_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::Unsupported("IP version other than 4"));
        }
        let ip = Ipv4Packet::new_checked(b).map_err(|_| {
            let header_len = usize::from(b[0] & 0x0f) * 4;
            let total_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
            if header_len < IPV4_HEADER_LEN || total_len < header_len {
                WireError::Malformed("IPv4 header or total length")
            } else {
                WireError::Truncated
            }
        })?;
        if !ip.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if ip.more_frags() || ip.frag_offset() != 0 {
            return Err(WireError::Unsupported("IPv4 fragment"));
        }
        let src = ip.src_addr();
        let dst = ip.dst_addr();
        let payload = ip.payload();
        let protocol: u8 = ip.next_header().into();
        let l4 = match protocol {
            proto::ICMP => parse_icmp(payload)?,
            proto::UDP => parse_udp(payload, src, dst)?,
            proto::TCP => parse_tcp(payload, src, dst)?,
            _ => L4::Other {
                protocol,
                payload: payload.to_vec(),
            },
        };
        Ok(Ipv4Pkt {
            src,
            dst,
            ttl: ip.hop_limit(),
            ident: ip.ident(),
            l4,
        })
    }

    /// Serializes with fresh checksums. Data that would overflow the 16-bit total
    /// length is cut so that every length field stays consistent.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_after(0)
    }

    /// [`Ipv4Pkt::to_bytes`] behind `headroom` zero bytes (room for a
    /// link-layer header to be written in place).
    pub fn to_bytes_after(&self, headroom: usize) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let room = IPV4_MAX_LEN - IPV4_HEADER_LEN;
        // One buffer: the headroom, the header, the transport bytes written
        // behind it, and room for an 802.1Q tag a sender may still insert.
        let l4_at = headroom + IPV4_HEADER_LEN;
        let mut buf = Vec::with_capacity(l4_at + l4_len_hint(&self.l4).min(room) + VLAN_TAG_ROOM);
        buf.resize(l4_at, 0);
        write_l4(&self.l4, self.src, self.dst, room, &caps, &mut buf);
        let repr = Ipv4Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            next_header: IpProtocol::from(self.l4.protocol()),
            payload_len: buf.len() - l4_at,
            hop_limit: self.ttl,
        };
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[headroom..]);
        repr.emit(&mut ip, &caps);
        ip.set_ident(self.ident);
        ip.fill_checksum();
        buf
    }

    /// The flow key NAT and conntrack use: (protocol, source port, destination
    /// port). ICMP echo uses its identifier for both, as Linux conntrack does;
    /// ICMP errors and other protocols have none.
    pub fn ports(&self) -> Option<(u8, u16, u16)> {
        match &self.l4 {
            L4::Udp {
                src_port, dst_port, ..
            }
            | L4::Tcp {
                src_port, dst_port, ..
            } => Some((self.l4.protocol(), *src_port, *dst_port)),
            L4::IcmpEcho { ident, .. } => Some((proto::ICMP, *ident, *ident)),
            _ => None,
        }
    }

    /// Rewrites the source port (ICMP echo: the identifier). Returns false, and
    /// changes nothing, when the payload has no ports.
    pub fn set_src_port(&mut self, port: u16) -> bool {
        match &mut self.l4 {
            L4::Udp { src_port, .. } | L4::Tcp { src_port, .. } => *src_port = port,
            L4::IcmpEcho { ident, .. } => *ident = port,
            _ => return false,
        }
        true
    }

    /// Rewrites the destination port (ICMP echo: the identifier). Returns false,
    /// and changes nothing, when the payload has no ports.
    pub fn set_dst_port(&mut self, port: u16) -> bool {
        match &mut self.l4 {
            L4::Udp { dst_port, .. } | L4::Tcp { dst_port, .. } => *dst_port = port,
            L4::IcmpEcho { ident, .. } => *ident = port,
            _ => return false,
        }
        true
    }

    /// Source NAT: a copy with a new source address and, if given, source port.
    pub fn with_src(&self, ip: Ipv4Addr, port: Option<u16>) -> Self {
        let mut p = self.clone();
        p.src = ip;
        if let Some(port) = port {
            p.set_src_port(port);
        }
        p
    }

    /// Destination NAT: a copy with a new destination address and, if given, port.
    pub fn with_dst(&self, ip: Ipv4Addr, port: Option<u16>) -> Self {
        let mut p = self.clone();
        p.dst = ip;
        if let Some(port) = port {
            p.set_dst_port(port);
        }
        p
    }

    /// tcpdump-like one-liner, e.g. `10.30.67.5 > 10.200.0.10 ICMP echo request id 1 seq 3`.
    pub fn summary(&self) -> String {
        let (s, d) = (self.src, self.dst);
        match &self.l4 {
            L4::IcmpEcho {
                request,
                ident,
                seq,
                ..
            } => {
                let kind = if *request { "request" } else { "reply" };
                format!("{s} > {d} ICMP echo {kind} id {ident} seq {seq}")
            }
            L4::IcmpDestUnreachable { code, original } => {
                let mut out = format!("{s} > {d} ICMP {} unreachable", unreach_name(*code));
                if let Some((os, od, p, sp, dp)) = quoted_flow(original) {
                    let _ = write!(out, " (for proto {p} {os}.{sp} > {od}.{dp})");
                }
                out
            }
            // tcpdump: "ICMP 10.30.69.2 unreachable - need to frag (mtu 1450)".
            L4::IcmpFragNeeded { mtu, original } => match quoted_flow(original) {
                Some((os, od, p, sp, dp)) => format!(
                    "{s} > {d} ICMP {od} unreachable - need to frag (mtu {mtu}) (for proto {p} {os}.{sp} > {od}.{dp})"
                ),
                None => format!("{s} > {d} ICMP unreachable - need to frag (mtu {mtu})"),
            },
            L4::IcmpTimeExceeded { .. } => {
                format!("{s} > {d} ICMP time exceeded in-transit")
            }
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => format!(
                "{s}.{src_port} > {d}.{dst_port} UDP, length {}",
                payload.len()
            ),
            L4::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                payload,
            } => {
                let mut out = format!(
                    "{s}.{src_port} > {d}.{dst_port} TCP [{}] seq {seq}",
                    flags.tcpdump()
                );
                if flags.ack {
                    let _ = write!(out, " ack {ack}");
                }
                let _ = write!(out, " win {window} length {}", payload.len());
                out
            }
            L4::Other { protocol, payload } => {
                format!("{s} > {d} ip-proto-{protocol}, length {}", payload.len())
            }
        }
    }
}

/// Names of the ICMP destination-unreachable codes (RFC 792, RFC 1122).
fn unreach_name(code: u8) -> String {
    match code {
        0 => "net".into(),
        1 => "host".into(),
        2 => "protocol".into(),
        3 => "port".into(),
        4 => "need-frag".into(),
        13 => "admin-prohibited".into(),
        c => format!("code-{c}"),
    }
}

/// Reads the flow of the packet quoted in an ICMP error: (src, dst, protocol,
/// src port, dst port). The quote carries only 8 bytes of L4 header, enough for
/// ports or the echo identifier, so conntrack can match the error to its flow.
pub fn quoted_flow(original: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, u16, u16)> {
    if original.len() < IPV4_HEADER_LEN || original[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(original[0] & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(original);
    let l4 = original.get(ihl..ihl + 8)?;
    let word = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
    let protocol: u8 = ip.next_header().into();
    let (sp, dp) = match protocol {
        proto::TCP | proto::UDP => (word(0), word(2)),
        proto::ICMP => (word(4), word(4)),
        _ => return None,
    };
    Some((ip.src_addr(), ip.dst_addr(), protocol, sp, dp))
}

fn parse_icmp(b: &[u8]) -> Result<L4, WireError> {
    let pkt = Icmpv4Packet::new_checked(b).map_err(|_| WireError::Truncated)?;
    if !pkt.verify_checksum() {
        return Err(WireError::BadChecksum);
    }
    let data = &b[ICMP_HEADER_LEN..];
    Ok(match pkt.msg_type() {
        Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply => L4::IcmpEcho {
            request: pkt.msg_type() == Icmpv4Message::EchoRequest,
            ident: pkt.echo_ident(),
            seq: pkt.echo_seq_no(),
            data: data.to_vec(),
        },
        Icmpv4Message::DstUnreachable if pkt.msg_code() == FRAG_NEEDED => L4::IcmpFragNeeded {
            mtu: u16::from_be_bytes([b[6], b[7]]),
            original: data.to_vec(),
        },
        Icmpv4Message::DstUnreachable => L4::IcmpDestUnreachable {
            code: pkt.msg_code(),
            original: data.to_vec(),
        },
        Icmpv4Message::TimeExceeded if pkt.msg_code() == 0 => L4::IcmpTimeExceeded {
            original: data.to_vec(),
        },
        _ => L4::Other {
            protocol: proto::ICMP,
            payload: b.to_vec(),
        },
    })
}

fn parse_udp(b: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<L4, WireError> {
    let pkt = UdpPacket::new_checked(b).map_err(|_| {
        let claimed = b.get(4..6).map_or(UDP_HEADER_LEN, |w| {
            usize::from(u16::from_be_bytes([w[0], w[1]]))
        });
        len_error(b.len(), claimed.max(UDP_HEADER_LEN), "UDP length field")
    })?;
    // A zero UDP checksum means "none sent" over IPv4 (RFC 768) and is accepted.
    if !pkt.verify_checksum(&v4(src), &v4(dst)) {
        return Err(WireError::BadChecksum);
    }
    Ok(L4::Udp {
        src_port: pkt.src_port(),
        dst_port: pkt.dst_port(),
        payload: pkt.payload().to_vec(),
    })
}

fn parse_tcp(b: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<L4, WireError> {
    let pkt = TcpPacket::new_checked(b).map_err(|_| {
        let data_offset = b.get(12).map_or(0, |o| usize::from(o >> 4) * 4);
        len_error(
            b.len(),
            data_offset.max(TCP_HEADER_LEN),
            "TCP data offset below 5",
        )
    })?;
    if !pkt.verify_checksum(&v4(src), &v4(dst)) {
        return Err(WireError::BadChecksum);
    }
    Ok(L4::Tcp {
        src_port: pkt.src_port(),
        dst_port: pkt.dst_port(),
        // SeqNumber wraps an i32; the wire value is the same 32 bits.
        seq: pkt.seq_number().0 as u32,
        ack: pkt.ack_number().0 as u32,
        flags: TcpFlags {
            syn: pkt.syn(),
            ack: pkt.ack(),
            rst: pkt.rst(),
            fin: pkt.fin(),
            psh: pkt.psh(),
        },
        window: pkt.window_len(),
        payload: pkt.payload().to_vec(),
    })
}

fn cut(data: &[u8], room: usize) -> &[u8] {
    &data[..data.len().min(room)]
}

/// L4 bytes with checksum; `room` is the space left under the IPv4 total length.
/// Spare capacity for the 802.1Q tag a VLAN sub-interface inserts.
const VLAN_TAG_ROOM: usize = 4;

/// About how many bytes [`write_l4`] writes for `l4` (a capacity hint).
fn l4_len_hint(l4: &L4) -> usize {
    match l4 {
        L4::IcmpEcho { data, .. } => ICMP_HEADER_LEN + data.len(),
        L4::IcmpDestUnreachable { original, .. }
        | L4::IcmpFragNeeded { original, .. }
        | L4::IcmpTimeExceeded { original } => ICMP_HEADER_LEN + original.len(),
        L4::Udp { payload, .. } => UDP_HEADER_LEN + payload.len(),
        L4::Tcp { payload, .. } => TCP_HEADER_LEN + payload.len(),
        L4::Other { payload, .. } => payload.len(),
    }
}

/// `n` zero bytes appended to `out`, to be written.
fn grow(out: &mut Vec<u8>, n: usize) -> &mut [u8] {
    let at = out.len();
    out.resize(at + n, 0);
    &mut out[at..]
}

/// Appends `l4`'s bytes (at most `room`, checksums filled) to `out`.
fn write_l4(
    l4: &L4,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    room: usize,
    caps: &ChecksumCapabilities,
    out: &mut Vec<u8>,
) {
    match l4 {
        L4::IcmpEcho {
            request,
            ident,
            seq,
            data,
        } => {
            let data = cut(data, room - ICMP_HEADER_LEN);
            let repr = if *request {
                Icmpv4Repr::EchoRequest {
                    ident: *ident,
                    seq_no: *seq,
                    data,
                }
            } else {
                Icmpv4Repr::EchoReply {
                    ident: *ident,
                    seq_no: *seq,
                    data,
                }
            };
            let buf = grow(out, repr.buffer_len());
            repr.emit(&mut Icmpv4Packet::new_unchecked(buf), caps);
        }
        L4::IcmpDestUnreachable { code, original } => {
            icmp_error(Icmpv4Message::DstUnreachable, *code, original, room, out)
        }
        L4::IcmpFragNeeded { mtu, original } => {
            let at = out.len();
            icmp_error(
                Icmpv4Message::DstUnreachable,
                FRAG_NEEDED,
                original,
                room,
                out,
            );
            let buf = &mut out[at..];
            buf[6..8].copy_from_slice(&mtu.to_be_bytes());
            Icmpv4Packet::new_unchecked(buf).fill_checksum();
        }
        L4::IcmpTimeExceeded { original } => {
            icmp_error(Icmpv4Message::TimeExceeded, 0, original, room, out)
        }
        L4::Udp {
            src_port,
            dst_port,
            payload,
        } => {
            let payload = cut(payload, room - UDP_HEADER_LEN);
            let len = UDP_HEADER_LEN + payload.len();
            let mut pkt = UdpPacket::new_unchecked(grow(out, len));
            pkt.set_src_port(*src_port);
            pkt.set_dst_port(*dst_port);
            pkt.set_len(len as u16);
            pkt.payload_mut().copy_from_slice(payload);
            pkt.fill_checksum(&v4(src), &v4(dst));
        }
        L4::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            payload,
        } => {
            let payload = cut(payload, room - TCP_HEADER_LEN);
            let mut pkt = TcpPacket::new_unchecked(grow(out, TCP_HEADER_LEN + payload.len()));
            pkt.set_src_port(*src_port);
            pkt.set_dst_port(*dst_port);
            pkt.set_seq_number(TcpSeqNumber(*seq as i32));
            pkt.set_ack_number(TcpSeqNumber(*ack as i32));
            pkt.set_header_len(TCP_HEADER_LEN as u8);
            pkt.clear_flags();
            pkt.set_syn(flags.syn);
            pkt.set_ack(flags.ack);
            pkt.set_rst(flags.rst);
            pkt.set_fin(flags.fin);
            pkt.set_psh(flags.psh);
            pkt.set_window_len(*window);
            pkt.set_urgent_at(0);
            pkt.payload_mut().copy_from_slice(payload);
            pkt.fill_checksum(&v4(src), &v4(dst));
        }
        L4::Other { payload, .. } => out.extend_from_slice(cut(payload, room)),
    }
}

/// ICMP destination unreachable code 4: fragmentation needed and DF set.
const FRAG_NEEDED: u8 = 4;

/// Appends an ICMP error to `out`: type, code, 4 unused zero bytes, then the
/// quoted packet verbatim (smoltcp's `Icmpv4Repr` would re-emit the quoted
/// header and lose its ident).
fn icmp_error(kind: Icmpv4Message, code: u8, original: &[u8], room: usize, out: &mut Vec<u8>) {
    let original = cut(original, room - ICMP_HEADER_LEN);
    let buf = grow(out, ICMP_HEADER_LEN + original.len());
    buf[ICMP_HEADER_LEN..].copy_from_slice(original);
    let mut pkt = Icmpv4Packet::new_unchecked(buf);
    pkt.set_msg_type(kind);
    pkt.set_msg_code(code);
    pkt.fill_checksum();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Ipv4Addr = Ipv4Addr::new(172, 18, 181, 40);
    const D: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 10);

    fn samples() -> Vec<Ipv4Pkt> {
        let tcp = L4::Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: 0xdead_beef,
            ack: 7,
            flags: TcpFlags {
                psh: true,
                ..TcpFlags::ACK
            },
            window: 64240,
            payload: b"GET /".to_vec(),
        };
        let inner = Ipv4Pkt::new(
            S,
            D,
            L4::Udp {
                src_port: 5000,
                dst_port: 53,
                payload: vec![1, 2, 3, 4],
            },
        )
        .to_bytes();
        vec![
            Ipv4Pkt::new(
                S,
                D,
                L4::IcmpEcho {
                    request: true,
                    ident: 1,
                    seq: 3,
                    data: (0..56).collect(),
                },
            ),
            Ipv4Pkt {
                ttl: 1,
                ident: 0x1234,
                ..Ipv4Pkt::new(
                    D,
                    S,
                    L4::IcmpEcho {
                        request: false,
                        ident: 9,
                        seq: 65535,
                        data: vec![],
                    },
                )
            },
            Ipv4Pkt::new(
                D,
                S,
                L4::IcmpDestUnreachable {
                    code: 3,
                    original: inner[..28].to_vec(),
                },
            ),
            Ipv4Pkt::new(
                D,
                S,
                L4::IcmpTimeExceeded {
                    original: inner[..28].to_vec(),
                },
            ),
            Ipv4Pkt::new(
                S,
                D,
                L4::Udp {
                    src_port: 5000,
                    dst_port: 53,
                    payload: b"query".to_vec(),
                },
            ),
            Ipv4Pkt::new(S, D, tcp),
            Ipv4Pkt::new(
                S,
                D,
                L4::Tcp {
                    src_port: 1,
                    dst_port: 2,
                    seq: 0,
                    ack: 0,
                    flags: TcpFlags::SYN,
                    window: 0,
                    payload: vec![],
                },
            ),
            Ipv4Pkt::new(
                S,
                D,
                L4::Other {
                    protocol: 47,
                    payload: vec![0, 0, 0x65, 0x58],
                },
            ),
        ]
    }

    #[test]
    fn round_trips() {
        for p in samples() {
            let b = p.to_bytes();
            assert_eq!(Ipv4Pkt::parse(&b).as_ref(), Ok(&p), "{}", p.summary());
            // Ethernet padding after the packet does not change the result.
            let mut padded = b.clone();
            padded.extend_from_slice(&[0; 18]);
            assert_eq!(Ipv4Pkt::parse(&padded).as_ref(), Ok(&p));
        }
    }

    #[test]
    fn header_layout() {
        let p = Ipv4Pkt {
            ident: 0xabcd,
            ..samples()[4].clone()
        };
        let b = p.to_bytes();
        assert_eq!(b[0], 0x45, "version 4, IHL 5");
        assert_eq!(usize::from(u16::from_be_bytes([b[2], b[3]])), b.len());
        assert_eq!(&b[4..6], &[0xab, 0xcd]);
        assert_eq!(b[6] & 0x40, 0x40, "DF set");
        assert_eq!(b[8], 64);
        assert_eq!(b[9], proto::UDP);
        assert_eq!(&b[12..16], &S.octets());
        assert_eq!(&b[16..20], &D.octets());
        // UDP length field covers header + "query".
        assert_eq!(&b[24..26], &[0, 13]);
    }

    #[test]
    fn checksum_corruption_detected() {
        for p in samples() {
            let good = p.to_bytes();
            // TTL lives in the IPv4 header: the header checksum catches it.
            let mut b = good.clone();
            b[8] ^= 0x01;
            assert_eq!(Ipv4Pkt::parse(&b), Err(WireError::BadChecksum));
            // The last byte is L4 data (or the L4 checksum field itself).
            let mut b = good.clone();
            let last = b.len() - 1;
            b[last] ^= 0x40;
            if p.l4.protocol() == 47 {
                // No checksum covers an unknown protocol's payload.
                assert!(Ipv4Pkt::parse(&b).is_ok());
            } else {
                assert_eq!(Ipv4Pkt::parse(&b), Err(WireError::BadChecksum), "{p:?}");
            }
        }
    }

    #[test]
    fn nat_rewrite_keeps_checksums_right() {
        let udp = samples()[4].clone();
        let snat = udp.with_src(Ipv4Addr::new(10, 160, 1, 200), Some(61000));
        let parsed = Ipv4Pkt::parse(&snat.to_bytes()).unwrap();
        assert_eq!(parsed.src, Ipv4Addr::new(10, 160, 1, 200));
        assert_eq!(parsed.ports(), Some((proto::UDP, 61000, 53)));
        // Rewriting the bytes of an old serialization without recomputing fails,
        // which is what the recomputation above protects against.
        let mut stale = udp.to_bytes();
        stale[12..16].copy_from_slice(&[10, 160, 1, 200]);
        assert_eq!(Ipv4Pkt::parse(&stale), Err(WireError::BadChecksum));

        let tcp = samples()[5].clone();
        let dnat = tcp.with_dst(Ipv4Addr::new(10, 10, 0, 5), Some(8443));
        let parsed = Ipv4Pkt::parse(&dnat.to_bytes()).unwrap();
        assert_eq!(parsed.ports(), Some((proto::TCP, 40000, 8443)));
        assert_eq!(parsed.dst, Ipv4Addr::new(10, 10, 0, 5));

        let mut ping = samples()[0].clone();
        assert_eq!(ping.ports(), Some((proto::ICMP, 1, 1)));
        assert!(ping.set_src_port(777));
        assert_eq!(
            Ipv4Pkt::parse(&ping.to_bytes()).unwrap().ports(),
            Some((proto::ICMP, 777, 777))
        );
        let mut err = samples()[2].clone();
        assert_eq!(err.ports(), None);
        assert!(!err.set_dst_port(1));
    }

    #[test]
    fn quoted_flow_of_icmp_error() {
        let p = samples()[2].clone();
        let L4::IcmpDestUnreachable { original, .. } = &p.l4 else {
            panic!("sample 2 is an ICMP error");
        };
        assert_eq!(quoted_flow(original), Some((S, D, proto::UDP, 5000, 53)));
        assert_eq!(quoted_flow(&original[..27]), None);
        assert!(p.summary().contains("port unreachable"));
    }

    #[test]
    fn errors_are_classified() {
        let good = samples()[4].to_bytes();
        assert_eq!(Ipv4Pkt::parse(&good[..19]), Err(WireError::Truncated));
        assert_eq!(
            Ipv4Pkt::parse(&good[..good.len() - 1]),
            Err(WireError::Truncated)
        );
        let mut v6 = good.clone();
        v6[0] = 0x60;
        assert!(matches!(
            Ipv4Pkt::parse(&v6),
            Err(WireError::Unsupported(_))
        ));
        let mut frag = samples()[4].clone().to_bytes();
        frag[6] = 0x20; // MF set, DF clear
        let mut ip = Ipv4Packet::new_unchecked(&mut frag[..]);
        ip.fill_checksum();
        assert_eq!(
            Ipv4Pkt::parse(&frag),
            Err(WireError::Unsupported("IPv4 fragment"))
        );
        // UDP length field claiming fewer than 8 bytes.
        let mut bad_udp = good.clone();
        bad_udp[24..26].copy_from_slice(&[0, 4]);
        assert!(matches!(
            Ipv4Pkt::parse(&bad_udp),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn summaries() {
        let s = samples();
        assert_eq!(
            s[0].summary(),
            "172.18.181.40 > 10.200.0.10 ICMP echo request id 1 seq 3"
        );
        assert_eq!(
            s[4].summary(),
            "172.18.181.40.5000 > 10.200.0.10.53 UDP, length 5"
        );
        assert_eq!(
            s[5].summary(),
            "172.18.181.40.40000 > 10.200.0.10.443 TCP [P.] seq 3735928559 ack 7 win 64240 length 5"
        );
        assert!(s[6].summary().contains("TCP [S] seq 0 win 0"));
    }

    #[test]
    fn need_frag_carries_the_next_hop_mtu_in_its_second_word() {
        let quoted = samples()[0].to_bytes();
        let p = Ipv4Pkt::new(
            D,
            S,
            L4::IcmpFragNeeded {
                mtu: 1450,
                original: quoted[..28].to_vec(),
            },
        );
        let b = p.to_bytes();
        // IPv4 header, then type 3, code 4, checksum, unused 0, MTU.
        assert_eq!((b[20], b[21]), (3, 4));
        assert_eq!(&b[24..28], &[0, 0, 0x05, 0xaa]);
        assert_eq!(Ipv4Pkt::parse(&b).unwrap(), p);
        assert!(
            p.summary()
                .contains("unreachable - need to frag (mtu 1450)"),
            "{}",
            p.summary()
        );
    }

    fn any_l4() -> impl Strategy<Value = L4> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            (any::<bool>(), any::<u16>(), any::<u16>(), bytes()).prop_map(
                |(request, ident, seq, data)| L4::IcmpEcho {
                    request,
                    ident,
                    seq,
                    data
                }
            ),
            (
                any::<u8>().prop_filter("code 4 is IcmpFragNeeded", |c| *c != FRAG_NEEDED),
                bytes()
            )
                .prop_map(|(code, original)| L4::IcmpDestUnreachable { code, original }),
            (any::<u16>(), bytes())
                .prop_map(|(mtu, original)| L4::IcmpFragNeeded { mtu, original }),
            bytes().prop_map(|original| L4::IcmpTimeExceeded { original }),
            (any::<u16>(), any::<u16>(), bytes()).prop_map(|(src_port, dst_port, payload)| {
                L4::Udp {
                    src_port,
                    dst_port,
                    payload,
                }
            }),
            (
                any::<(u16, u16, u32, u32, u16)>(),
                any::<[bool; 5]>(),
                bytes()
            )
                .prop_map(|((src_port, dst_port, seq, ack, window), f, payload)| {
                    L4::Tcp {
                        src_port,
                        dst_port,
                        seq,
                        ack,
                        flags: TcpFlags {
                            syn: f[0],
                            ack: f[1],
                            rst: f[2],
                            fin: f[3],
                            psh: f[4],
                        },
                        window,
                        payload,
                    }
                }),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Ipv4Pkt::parse(&bytes);
            let _ = quoted_flow(&bytes);
        }

        #[test]
        fn parse_never_panics_with_plausible_header(
            tail in proptest::collection::vec(any::<u8>(), 0..96),
            proto in prop_oneof![Just(1u8), Just(6u8), Just(17u8), any::<u8>()],
        ) {
            // A valid IPv4 header with the right length and checksum, garbage after it
            // whose L4 checksum is made valid when the lengths allow, so the L4 field
            // accessors (not just the length and checksum checks) see arbitrary input.
            let mut tail = tail;
            let (s, d) = (v4(S), v4(D));
            let valid = match proto {
                proto::ICMP if tail.len() >= ICMP_HEADER_LEN => {
                    Icmpv4Packet::new_unchecked(&mut tail[..]).fill_checksum();
                    true
                }
                proto::TCP if TcpPacket::new_checked(&tail[..]).is_ok() => {
                    TcpPacket::new_unchecked(&mut tail[..]).fill_checksum(&s, &d);
                    true
                }
                proto::UDP if UdpPacket::new_checked(&tail[..]).is_ok() => {
                    UdpPacket::new_unchecked(&mut tail[..]).fill_checksum(&s, &d);
                    true
                }
                proto::ICMP | proto::TCP | proto::UDP => false,
                _ => true,
            };
            let mut b = Ipv4Pkt::new(S, D, L4::Other { protocol: proto, payload: tail }).to_bytes();
            let parsed = Ipv4Pkt::parse(&b);
            if valid {
                prop_assert!(parsed.is_ok(), "{:?}", parsed);
            }
            let _ = super::super::summarize(&b);
            b.truncate(b.len() / 2);
            let _ = Ipv4Pkt::parse(&b);
        }

        #[test]
        fn arbitrary_packets_round_trip(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            ttl in any::<u8>(), ident in any::<u16>(), l4 in any_l4(),
        ) {
            let p = Ipv4Pkt { src: src.into(), dst: dst.into(), ttl, ident, l4 };
            prop_assert_eq!(Ipv4Pkt::parse(&p.to_bytes()), Ok(p));
        }

        #[test]
        fn any_single_byte_change_is_caught(
            l4 in any_l4(), at in any::<prop::sample::Index>(), flip in 1u8..=255,
        ) {
            // Ones'-complement sums detect every single-byte change (RFC 1071), so a
            // corrupted byte anywhere must fail to parse, except that a UDP checksum
            // turned into 0 reads as "no checksum" (RFC 768).
            let p = Ipv4Pkt::new(S, D, l4);
            let mut b = p.to_bytes();
            let i = at.index(b.len());
            b[i] ^= flip;
            let udp_zeroed = p.l4.protocol() == proto::UDP && b[26] == 0 && b[27] == 0;
            if !udp_zeroed {
                prop_assert!(Ipv4Pkt::parse(&b).is_err(), "byte {} ^ {:#x} accepted", i, flip);
            }
        }
    }
}
