//! Real frame bytes: Ethernet II, 802.1Q, ARP, IPv4, ICMP, UDP, TCP, Geneve; a pcap writer.
//! BGP-4 messages, the payload of a BGP speaker's TCP session, are in [`bgp`].
//!
//! The simulator moves actual frames, not abstract messages, so that a capture
//! (see [`pcap::PcapWriter`]) opens in Wireshark and a switch can push and pop
//! VLAN tags on the same bytes a Linux bridge would see. Parsing and building
//! lean on `smoltcp::wire` (with checksums computed on emit and verified on parse);
//! 802.1Q has no smoltcp codec, so it lives here ([`parse_eth`], [`push_vlan`]).
//!
//! The public API speaks [`MacAddr`] and [`std::net::Ipv4Addr`] only; smoltcp
//! types stay inside this module.

mod arp;
pub mod bgp;
pub mod geneve;
mod ipv4;
pub mod mirror;
pub mod pcap;

pub use arp::{ArpMsg, ArpOp};
pub use ipv4::{DEFAULT_TTL, Ipv4Pkt, L4, TcpFlags, proto, quoted_flow};

use smoltcp::wire::{EthernetAddress, EthernetFrame};

use crate::model::MacAddr;

/// Why a byte string is not a frame or packet we understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: the buffer ends before the header or length field says")]
    Truncated,
    #[error("bad checksum")]
    BadChecksum,
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

/// EtherType values (IEEE 802 numbers) the simulator speaks.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag (TPID).
    pub const VLAN: u16 = 0x8100;
}

/// Bytes in an untagged Ethernet II header (two MACs and the EtherType).
pub const ETH_HEADER_LEN: usize = 14;
/// Bytes an 802.1Q tag adds (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// Offset of the EtherType/TPID field: right after the two MACs.
const TYPE_OFFSET: usize = 12;
/// The VID is the low 12 bits of the TCI (IEEE 802.1Q §9.6); PCP and DEI sit above it.
const VID_MASK: u16 = 0x0fff;

/// An Ethernet header with at most one 802.1Q tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthHeader {
    pub dst: MacAddr,
    pub src: MacAddr,
    /// VLAN id of the outer 802.1Q tag, if the frame is tagged.
    pub vlan: Option<u16>,
    /// EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
}

impl EthHeader {
    pub fn new(dst: MacAddr, src: MacAddr, ethertype: u16) -> Self {
        EthHeader {
            dst,
            src,
            vlan: None,
            ethertype,
        }
    }
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let hi = *b.get(at)?;
    let lo = *b.get(at + 1)?;
    Some(u16::from_be_bytes([hi, lo]))
}

/// Splits a frame into its header and payload (the bytes after the tag, if any).
/// Trailing Ethernet padding stays in the payload; IPv4 and UDP use their own
/// length fields to ignore it.
pub fn parse_eth(frame: &[u8]) -> Result<(EthHeader, &[u8]), WireError> {
    let f = EthernetFrame::new_checked(frame).map_err(|_| WireError::Truncated)?;
    let dst = MacAddr(f.dst_addr().0);
    let src = MacAddr(f.src_addr().0);
    let outer: u16 = f.ethertype().into();
    let payload = f.payload();
    if outer != ethertype::VLAN {
        let h = EthHeader {
            dst,
            src,
            vlan: None,
            ethertype: outer,
        };
        return Ok((h, payload));
    }
    let tci = read_u16(payload, 0).ok_or(WireError::Truncated)?;
    let inner = read_u16(payload, 2).ok_or(WireError::Truncated)?;
    let h = EthHeader {
        dst,
        src,
        vlan: Some(tci & VID_MASK),
        ethertype: inner,
    };
    Ok((h, &payload[VLAN_TAG_LEN..]))
}

/// Builds a frame; writes an 802.1Q tag (PCP 0, DEI 0) when `h.vlan` is set.
/// A VID above 4095 keeps only its low 12 bits. No padding to 60 bytes is added:
/// captures taken on the sending host look the same.
pub fn build_eth(h: &EthHeader, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; eth_header_len(h) + payload.len()];
    let at = write_eth_header(&mut buf, h);
    buf[at..].copy_from_slice(payload);
    buf
}

/// [`build_eth`] around an IPv4 packet, written in place behind the header
/// (one buffer, no copy of the packet's bytes).
pub fn build_eth_ipv4(h: &EthHeader, pkt: &ipv4::Ipv4Pkt) -> Vec<u8> {
    let mut buf = pkt.to_bytes_after(eth_header_len(h));
    write_eth_header(&mut buf, h);
    buf
}

fn eth_header_len(h: &EthHeader) -> usize {
    ETH_HEADER_LEN + if h.vlan.is_some() { VLAN_TAG_LEN } else { 0 }
}

/// Writes `h` at the start of `buf` (at least [`eth_header_len`] long);
/// where its payload starts.
fn write_eth_header(buf: &mut [u8], h: &EthHeader) -> usize {
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    f.set_dst_addr(EthernetAddress(h.dst.0));
    f.set_src_addr(EthernetAddress(h.src.0));
    match h.vlan {
        Some(vid) => {
            f.set_ethertype(ethertype::VLAN.into());
            let p = f.payload_mut();
            p[0..2].copy_from_slice(&(vid & VID_MASK).to_be_bytes());
            p[2..4].copy_from_slice(&h.ethertype.to_be_bytes());
        }
        None => f.set_ethertype(h.ethertype.into()),
    }
    eth_header_len(h)
}

/// Inserts an 802.1Q tag (PCP 0, DEI 0) right after the MACs, as an access port
/// does on ingress. An already tagged frame gets a second, outer tag. A buffer too
/// short to hold two MACs is returned unchanged. The frame is tagged in place.
pub fn push_vlan(mut frame: Vec<u8>, vid: u16) -> Vec<u8> {
    if frame.len() < TYPE_OFFSET {
        return frame;
    }
    let [t0, t1] = ethertype::VLAN.to_be_bytes();
    let [v0, v1] = (vid & VID_MASK).to_be_bytes();
    frame.splice(TYPE_OFFSET..TYPE_OFFSET, [t0, t1, v0, v1]);
    frame
}

/// Removes the outer 802.1Q tag if there is one, as an access port does on egress.
/// Returns the VID that was removed and the frame, untagged in place.
pub fn pop_vlan(mut frame: Vec<u8>) -> (Option<u16>, Vec<u8>) {
    let vid = vlan_of(&frame);
    if vid.is_some() {
        frame.drain(TYPE_OFFSET..TYPE_OFFSET + VLAN_TAG_LEN);
    }
    (vid, frame)
}

/// The outer VID of a tagged frame, without parsing the rest.
/// A frame too short to hold a whole tag and inner EtherType counts as untagged.
pub fn vlan_of(frame: &[u8]) -> Option<u16> {
    if frame.len() < ETH_HEADER_LEN + VLAN_TAG_LEN
        || read_u16(frame, TYPE_OFFSET)? != ethertype::VLAN
    {
        return None;
    }
    read_u16(frame, TYPE_OFFSET + 2).map(|tci| tci & VID_MASK)
}

/// One-line human summary of a frame, in the spirit of `tcpdump -n`:
/// `ARP who-has 10.160.1.1 tell 10.160.1.25`,
/// `802.1Q vlan 181, 10.30.67.5 > 10.200.0.10 ICMP echo request id 1 seq 3`.
/// Never fails: what cannot be parsed is described as such.
pub fn summarize(frame: &[u8]) -> String {
    let (h, payload) = match parse_eth(frame) {
        Ok(x) => x,
        Err(e) => return format!("bad frame ({} bytes): {e}", frame.len()),
    };
    let prefix = match h.vlan {
        Some(vid) => format!("802.1Q vlan {vid}, "),
        None => String::new(),
    };
    let body = match h.ethertype {
        ethertype::ARP => match ArpMsg::parse(payload) {
            Ok(a) => a.summary(),
            Err(e) => format!("ARP, {e}"),
        },
        ethertype::IPV4 => match Ipv4Pkt::parse(payload) {
            Ok(p) => p.summary(),
            Err(e) => format!("IPv4, {e}"),
        },
        other => format!(
            "{} > {} ethertype 0x{other:04x}, length {}",
            h.src,
            h.dst,
            payload.len()
        ),
    };
    format!("{prefix}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
    const B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);

    #[test]
    fn eth_untagged_round_trip() {
        let h = EthHeader::new(B, A, ethertype::ARP);
        let f = build_eth(&h, b"hello");
        assert_eq!(f.len(), 14 + 5);
        assert_eq!(&f[0..6], &B.0);
        assert_eq!(&f[6..12], &A.0);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        let (h2, p) = parse_eth(&f).unwrap();
        assert_eq!(h2, h);
        assert_eq!(p, b"hello");
        assert_eq!(vlan_of(&f), None);
    }

    #[test]
    fn eth_tagged_round_trip_and_tpid() {
        let h = EthHeader {
            vlan: Some(181),
            ..EthHeader::new(B, A, ethertype::IPV4)
        };
        let f = build_eth(&h, b"xyz");
        assert_eq!(f.len(), 18 + 3);
        // TPID 0x8100 where an untagged frame has its EtherType.
        assert_eq!(&f[12..14], &[0x81, 0x00]);
        // TCI: PCP 0, DEI 0, VID 181 = 0x0b5.
        assert_eq!(&f[14..16], &[0x00, 0xb5]);
        assert_eq!(&f[16..18], &[0x08, 0x00]);
        let (h2, p) = parse_eth(&f).unwrap();
        assert_eq!(h2, h);
        assert_eq!(p, b"xyz");
        assert_eq!(vlan_of(&f), Some(181));
    }

    #[test]
    fn push_pop_round_trip() {
        let plain = build_eth(&EthHeader::new(B, A, ethertype::IPV4), b"payload");
        let tagged = push_vlan(plain.clone(), 181);
        assert_eq!(&tagged[12..14], &ethertype::VLAN.to_be_bytes());
        assert_eq!(vlan_of(&tagged), Some(181));
        // Same bytes as building the tagged frame directly.
        let direct = build_eth(
            &EthHeader {
                vlan: Some(181),
                ..EthHeader::new(B, A, ethertype::IPV4)
            },
            b"payload",
        );
        assert_eq!(tagged, direct);
        let (vid, back) = pop_vlan(tagged.clone());
        assert_eq!(vid, Some(181));
        assert_eq!(back, plain);
        assert_eq!(pop_vlan(plain.clone()), (None, plain.clone()));
    }

    #[test]
    fn push_masks_vid_and_stacks_tags() {
        let plain = build_eth(&EthHeader::new(B, A, ethertype::ARP), b"");
        let f = push_vlan(plain.clone(), 0x1000 | 7);
        assert_eq!(vlan_of(&f), Some(7));
        let qinq = push_vlan(f.clone(), 100);
        assert_eq!(vlan_of(&qinq), Some(100));
        let (outer, inner) = pop_vlan(qinq.clone());
        assert_eq!(outer, Some(100));
        assert_eq!(vlan_of(&inner), Some(7));
    }

    #[test]
    fn truncated_eth() {
        assert_eq!(parse_eth(&[0u8; 13]), Err(WireError::Truncated));
        let mut f = build_eth(&EthHeader::new(B, A, ethertype::VLAN), &[0, 5]);
        assert_eq!(parse_eth(&f), Err(WireError::Truncated));
        f.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_eth(&f).unwrap().0.vlan, Some(5));
    }

    #[test]
    fn an_ipv4_frame_built_in_place_is_the_frame_built_from_its_bytes() {
        let udp = Ipv4Pkt::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            L4::Udp {
                src_port: 7946,
                dst_port: 7946,
                payload: (0..200u8).collect(),
            },
        );
        let ping = Ipv4Pkt::new(
            Ipv4Addr::new(10, 30, 67, 5),
            Ipv4Addr::new(10, 200, 0, 10),
            L4::IcmpEcho {
                request: true,
                ident: 1,
                seq: 3,
                data: vec![7; 3],
            },
        );
        for pkt in [udp, ping] {
            for vlan in [None, Some(181)] {
                let h = EthHeader {
                    vlan,
                    ..EthHeader::new(B, A, ethertype::IPV4)
                };
                assert_eq!(build_eth_ipv4(&h, &pkt), build_eth(&h, &pkt.to_bytes()));
            }
        }
    }

    #[test]
    fn summaries() {
        let arp = ArpMsg {
            op: ArpOp::Request,
            sha: A,
            spa: Ipv4Addr::new(10, 160, 1, 25),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(10, 160, 1, 1),
        };
        let f = build_eth(
            &EthHeader::new(MacAddr::BROADCAST, A, ethertype::ARP),
            &arp.to_bytes(),
        );
        assert_eq!(summarize(&f), "ARP who-has 10.160.1.1 tell 10.160.1.25");

        let ping = Ipv4Pkt::new(
            Ipv4Addr::new(10, 30, 67, 5),
            Ipv4Addr::new(10, 200, 0, 10),
            L4::IcmpEcho {
                request: true,
                ident: 1,
                seq: 3,
                data: vec![0; 8],
            },
        );
        let f = build_eth(
            &EthHeader {
                vlan: Some(181),
                ..EthHeader::new(B, A, ethertype::IPV4)
            },
            &ping.to_bytes(),
        );
        assert_eq!(
            summarize(&f),
            "802.1Q vlan 181, 10.30.67.5 > 10.200.0.10 ICMP echo request id 1 seq 3"
        );
        assert!(summarize(&[1, 2, 3]).starts_with("bad frame (3 bytes)"));
        let v6 = build_eth(&EthHeader::new(B, A, 0x86dd), &[0; 4]);
        assert!(summarize(&v6).contains("ethertype 0x86dd"));
    }

    proptest! {
        #[test]
        fn eth_functions_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80), vid in any::<u16>()) {
            let _ = parse_eth(&bytes);
            let _ = vlan_of(&bytes);
            let _ = pop_vlan(bytes.clone());
            let pushed = push_vlan(bytes.clone(), vid);
            if bytes.len() >= ETH_HEADER_LEN {
                prop_assert_eq!(pop_vlan(pushed), (Some(vid & 0x0fff), bytes.clone()));
            }
            let _ = summarize(&bytes);
        }

        #[test]
        fn tagged_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..80)) {
            // Force the interesting paths: a VLAN tag followed by IPv4 or ARP garbage.
            for et in [ethertype::IPV4, ethertype::ARP] {
                let mut f = vec![0u8; 12];
                f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
                f.extend_from_slice(&et.to_be_bytes());
                f.extend_from_slice(&tail);
                let _ = summarize(&f);
            }
        }
    }
}
