//! ARP for Ethernet/IPv4 (RFC 826), built and parsed with `smoltcp::wire::ArpRepr`.

use std::net::Ipv4Addr;

use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetAddress};

use super::WireError;
use crate::model::MacAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
}

/// An Ethernet/IPv4 ARP message (the 28 bytes after the Ethernet header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpMsg {
    pub op: ArpOp,
    pub sha: MacAddr,
    pub spa: Ipv4Addr,
    pub tha: MacAddr,
    pub tpa: Ipv4Addr,
}

/// Length of an Ethernet/IPv4 ARP message: 8 fixed bytes + 2 × (6 + 4).
const ARP_LEN: usize = 28;

impl ArpMsg {
    /// Parses an ARP message; trailing bytes (Ethernet padding) are ignored.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let pkt = ArpPacket::new_checked(b).map_err(|_| WireError::Truncated)?;
        let repr = ArpRepr::parse(&pkt)
            .map_err(|_| WireError::Unsupported("ARP for other than Ethernet/IPv4"))?;
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } = repr
        else {
            return Err(WireError::Unsupported("ARP for other than Ethernet/IPv4"));
        };
        let op = match operation {
            ArpOperation::Request => ArpOp::Request,
            ArpOperation::Reply => ArpOp::Reply,
            _ => return Err(WireError::Unsupported("ARP operation other than 1 or 2")),
        };
        Ok(ArpMsg {
            op,
            sha: MacAddr(source_hardware_addr.0),
            spa: source_protocol_addr,
            tha: MacAddr(target_hardware_addr.0),
            tpa: target_protocol_addr,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let repr = ArpRepr::EthernetIpv4 {
            operation: match self.op {
                ArpOp::Request => ArpOperation::Request,
                ArpOp::Reply => ArpOperation::Reply,
            },
            source_hardware_addr: EthernetAddress(self.sha.0),
            source_protocol_addr: self.spa,
            target_hardware_addr: EthernetAddress(self.tha.0),
            target_protocol_addr: self.tpa,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        debug_assert_eq!(buf.len(), ARP_LEN);
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        buf
    }

    /// A gratuitous ARP announces the sender's own address: SPA equals TPA.
    pub fn is_gratuitous(&self) -> bool {
        self.spa == self.tpa
    }

    /// The gratuitous ARP Antrea sends when an Egress IP moves to a node: a
    /// *request* with SPA = TPA = `ip` and THA = broadcast (Antrea
    /// `pkg/agent/util/arping.GratuitousARPOverIface`, after j-keck/arping).
    /// Send it to the broadcast MAC.
    pub fn gratuitous(mac: MacAddr, ip: Ipv4Addr) -> ArpMsg {
        ArpMsg {
            op: ArpOp::Request,
            sha: mac,
            spa: ip,
            tha: MacAddr::BROADCAST,
            tpa: ip,
        }
    }

    /// A reply to this request, from the owner of `tpa` whose MAC is `mac`.
    pub fn reply_from(&self, mac: MacAddr) -> ArpMsg {
        ArpMsg {
            op: ArpOp::Reply,
            sha: mac,
            spa: self.tpa,
            tha: self.sha,
            tpa: self.spa,
        }
    }

    /// tcpdump-like: `ARP who-has T tell S`, `ARP reply S is-at M`.
    pub fn summary(&self) -> String {
        let garp = if self.is_gratuitous() {
            " (gratuitous)"
        } else {
            ""
        };
        match self.op {
            ArpOp::Request => format!("ARP who-has {} tell {}{garp}", self.tpa, self.spa),
            ArpOp::Reply => format!("ARP reply {} is-at {}{garp}", self.spa, self.sha),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0x1d, 0x82, 0xf5]);

    #[test]
    fn round_trip_and_layout() {
        let req = ArpMsg {
            op: ArpOp::Request,
            sha: M,
            spa: Ipv4Addr::new(10, 160, 1, 25),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(10, 160, 1, 1),
        };
        let b = req.to_bytes();
        assert_eq!(b.len(), 28);
        // htype 1, ptype 0x0800, hlen 6, plen 4, oper 1 (RFC 826).
        assert_eq!(&b[0..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&b[8..14], &M.0);
        assert_eq!(&b[14..18], &[10, 160, 1, 25]);
        assert_eq!(ArpMsg::parse(&b).unwrap(), req);

        let rep = req.reply_from(MacAddr([2, 0, 0, 0, 0, 1]));
        let b = rep.to_bytes();
        assert_eq!(&b[6..8], &[0, 2]);
        assert_eq!(ArpMsg::parse(&b).unwrap(), rep);
        assert_eq!(rep.tha, M);
        assert_eq!(
            rep.summary(),
            "ARP reply 10.160.1.1 is-at 02:00:00:00:00:01"
        );

        // Ethernet padding after the message is ignored.
        let mut padded = req.to_bytes();
        padded.resize(46, 0);
        assert_eq!(ArpMsg::parse(&padded).unwrap(), req);
    }

    #[test]
    fn gratuitous_shape() {
        let ip = Ipv4Addr::new(10, 160, 1, 200);
        let g = ArpMsg::gratuitous(M, ip);
        assert_eq!(g.op, ArpOp::Request);
        assert!(g.is_gratuitous());
        assert_eq!(g.tha, MacAddr::BROADCAST);
        let b = g.to_bytes();
        assert_eq!(&b[6..8], &[0, 1]);
        assert_eq!(&b[14..18], &b[24..28]);
        assert_eq!(&b[18..24], &[0xff; 6]);
        assert_eq!(ArpMsg::parse(&b).unwrap(), g);
        assert!(g.summary().ends_with("(gratuitous)"));
        let normal = ArpMsg {
            tpa: Ipv4Addr::new(10, 160, 1, 1),
            ..g
        };
        assert!(!normal.is_gratuitous());
    }

    #[test]
    fn rejects_bad_input() {
        let b = ArpMsg::gratuitous(M, Ipv4Addr::new(1, 2, 3, 4)).to_bytes();
        assert_eq!(ArpMsg::parse(&b[..27]), Err(WireError::Truncated));
        let mut other_op = b.clone();
        other_op[7] = 3; // RARP request
        assert!(matches!(
            ArpMsg::parse(&other_op),
            Err(WireError::Unsupported(_))
        ));
        let mut other_hw = b.clone();
        other_hw[1] = 6; // IEEE 802 hardware type
        assert!(matches!(
            ArpMsg::parse(&other_hw),
            Err(WireError::Unsupported(_))
        ));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ArpMsg::parse(&bytes);
        }

        #[test]
        fn parse_arbitrary_lengths_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 8..64)) {
            // Valid htype/ptype but arbitrary hlen/plen: the length checks must hold.
            bytes[0..4].copy_from_slice(&[0, 1, 8, 0]);
            let _ = ArpMsg::parse(&bytes);
        }
    }
}
