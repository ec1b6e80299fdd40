//! The packet state a walk sees: headers (Ethernet, VLAN, ARP, IPv4, IPv6
//! addresses, L4 ports) and metadata (registers, `pkt_mark`, `ct_*`, `tun_*`,
//! `conj_id`, `metadata`, `in_port`), laid out like OVS's `struct flow` (ARP and
//! ICMP share IPv4 and port storage). Reads from and writes to real frame bytes
//! via [`crate::wire`], and prints/parses the `ovs-appctl ofproto/trace` flow
//! string (contract section 5).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::field::{self, Field, Kind};
use super::flow::{ETH_ARP, ETH_IP, ETH_IPV6, MatchItem, Proto};
use super::text::parse_match_item;
use super::verdict::Headers;
use crate::model::MacAddr;
use crate::wire::{self, ArpMsg, ArpOp, EthHeader, Ipv4Pkt, L4};

/// Packet headers and metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Packet {
    pub(crate) in_port: u32,
    pub(crate) dl_src: u64,
    pub(crate) dl_dst: u64,
    pub(crate) dl_type: u16,
    /// 802.1Q TCI with 0x1000 set when a tag is present (OVS's convention).
    pub(crate) vlan_tci: u16,
    pub(crate) nw_src: u32,
    pub(crate) nw_dst: u32,
    pub(crate) nw_proto: u8,
    pub(crate) nw_ttl: u8,
    pub(crate) tp_src: u16,
    pub(crate) tp_dst: u16,
    pub(crate) arp_sha: u64,
    pub(crate) arp_tha: u64,
    pub(crate) ipv6_src: u128,
    pub(crate) ipv6_dst: u128,
    pub(crate) regs: [u32; 16],
    pub(crate) pkt_mark: u32,
    pub(crate) ct_state: u8,
    pub(crate) ct_zone: u16,
    pub(crate) ct_mark: u32,
    pub(crate) ct_label: u128,
    pub(crate) ct_nw_src: u32,
    pub(crate) ct_nw_dst: u32,
    pub(crate) ct_nw_proto: u8,
    pub(crate) ct_tp_src: u16,
    pub(crate) ct_tp_dst: u16,
    pub(crate) tun_id: u64,
    pub(crate) tun_src: u32,
    pub(crate) tun_dst: u32,
    pub(crate) tun_ipv6_dst: u128,
    pub(crate) conj_id: u32,
    pub(crate) metadata: u64,
    /// Frame length in bytes (for n_bytes).
    pub(crate) len: u32,
    /// An ICMP echo's identifier (read from a frame; 0 in a trace packet):
    /// conntrack keys echo connections by it, as Linux does. No flow matches it.
    pub(crate) icmp_id: u16,
    /// TCP flags as OVS numbers them (FIN 0x01, SYN 0x02, RST 0x04, PSH
    /// 0x08, ACK 0x10), read from a frame, for conntrack's TCP states.
    pub(crate) tcp_flags: u16,
    /// The connection the last `ct()` associated the packet with (in
    /// `ct_zone`), as the datapath keeps it with the packet: a later `ct()`
    /// in the same zone reuses it instead of looking the (possibly already
    /// translated) tuple up again (kernel: `skb_nfct_cached`,
    /// net/openvswitch/conntrack.c; userspace: the packet's `md.conn`).
    pub(crate) ct_conn: Option<u32>,
}

fn mac_u64(m: MacAddr) -> u64 {
    m.0.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
}

fn mac_of(v: u64) -> MacAddr {
    MacAddr(field::mac_bytes(u128::from(v)))
}

impl Packet {
    /// Reads one field (`field.storage()` aliases resolved).
    pub fn get(&self, f: Field) -> u128 {
        use Field::*;
        match f.storage() {
            InPort => self.in_port.into(),
            EthSrc => self.dl_src.into(),
            EthDst => self.dl_dst.into(),
            EthType => self.dl_type.into(),
            VlanTci => self.vlan_tci.into(),
            VlanVid => (self.vlan_tci & 0x1fff).into(),
            DlVlan => (self.vlan_tci & 0x0fff).into(),
            NwSrc => self.nw_src.into(),
            NwDst => self.nw_dst.into(),
            NwProto => self.nw_proto.into(),
            NwTtl => self.nw_ttl.into(),
            TpSrc => self.tp_src.into(),
            TpDst => self.tp_dst.into(),
            ArpSha => self.arp_sha.into(),
            ArpTha => self.arp_tha.into(),
            Ipv6Src => self.ipv6_src,
            Ipv6Dst => self.ipv6_dst,
            Reg(n) => self.regs[usize::from(n & 15)].into(),
            Xxreg(n) => {
                let b = usize::from(n & 3) * 4;
                self.regs[b..b + 4]
                    .iter()
                    .fold(0u128, |a, r| (a << 32) | u128::from(*r))
            }
            PktMark => self.pkt_mark.into(),
            CtState => self.ct_state.into(),
            CtMark => self.ct_mark.into(),
            CtLabel => self.ct_label,
            CtZone => self.ct_zone.into(),
            CtNwSrc => self.ct_nw_src.into(),
            CtNwDst => self.ct_nw_dst.into(),
            CtNwProto => self.ct_nw_proto.into(),
            CtTpSrc => self.ct_tp_src.into(),
            CtTpDst => self.ct_tp_dst.into(),
            TunId => self.tun_id.into(),
            TunSrc => self.tun_src.into(),
            TunDst => self.tun_dst.into(),
            TunIpv6Dst => self.tun_ipv6_dst,
            ConjId => self.conj_id.into(),
            Metadata => self.metadata.into(),
            ArpOp | ArpSpa | ArpTpa | IcmpType | IcmpCode => 0,
        }
    }

    /// Writes one field (bits above its width are dropped).
    pub fn set(&mut self, f: Field, v: u128) {
        use Field::*;
        let v = v & f.full_mask();
        match f.storage() {
            InPort => self.in_port = v as u32,
            EthSrc => self.dl_src = v as u64,
            EthDst => self.dl_dst = v as u64,
            EthType => self.dl_type = v as u16,
            VlanTci => self.vlan_tci = v as u16,
            VlanVid => self.vlan_tci = (self.vlan_tci & !0x1fff) | v as u16,
            DlVlan => self.vlan_tci = (self.vlan_tci & !0x0fff) | v as u16,
            NwSrc => self.nw_src = v as u32,
            NwDst => self.nw_dst = v as u32,
            NwProto => self.nw_proto = v as u8,
            NwTtl => self.nw_ttl = v as u8,
            TpSrc => self.tp_src = v as u16,
            TpDst => self.tp_dst = v as u16,
            ArpSha => self.arp_sha = v as u64,
            ArpTha => self.arp_tha = v as u64,
            Ipv6Src => self.ipv6_src = v,
            Ipv6Dst => self.ipv6_dst = v,
            Reg(n) => self.regs[usize::from(n & 15)] = v as u32,
            Xxreg(n) => {
                let b = usize::from(n & 3) * 4;
                for i in 0..4 {
                    self.regs[b + i] = (v >> (96 - 32 * i)) as u32;
                }
            }
            PktMark => self.pkt_mark = v as u32,
            CtState => self.ct_state = v as u8,
            CtMark => self.ct_mark = v as u32,
            CtLabel => self.ct_label = v,
            CtZone => self.ct_zone = v as u16,
            CtNwSrc => self.ct_nw_src = v as u32,
            CtNwDst => self.ct_nw_dst = v as u32,
            CtNwProto => self.ct_nw_proto = v as u8,
            CtTpSrc => self.ct_tp_src = v as u16,
            CtTpDst => self.ct_tp_dst = v as u16,
            TunId => self.tun_id = v as u64,
            TunSrc => self.tun_src = v as u32,
            TunDst => self.tun_dst = v as u32,
            TunIpv6Dst => self.tun_ipv6_dst = v,
            ConjId => self.conj_id = v as u32,
            Metadata => self.metadata = v as u64,
            ArpOp | ArpSpa | ArpTpa | IcmpType | IcmpCode => {}
        }
    }

    pub fn in_port(&self) -> u32 {
        self.in_port
    }
    pub fn set_in_port(&mut self, p: u32) {
        self.in_port = p;
    }
    pub fn len(&self) -> u32 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn is_ipv4(&self) -> bool {
        self.dl_type == ETH_IP
    }
    pub fn is_arp(&self) -> bool {
        self.dl_type == ETH_ARP
    }
    /// TCP, UDP or SCTP over IPv4.
    pub fn has_ports(&self) -> bool {
        self.is_ipv4() && matches!(self.nw_proto, 6 | 17 | 132)
    }

    /// The identifier of an ICMP echo request or reply (0 when the packet
    /// came from a trace flow string, which has none).
    pub fn icmp_echo_id(&self) -> Option<u16> {
        (self.is_ipv4() && self.nw_proto == 1 && matches!(self.tp_src, 0 | 8))
            .then_some(self.icmp_id)
    }

    /// A TCP packet's flags; `None` for other packets, and for a TCP packet
    /// that carries none (a trace packet: its flags are not known).
    pub fn tcp_flags(&self) -> Option<wire::TcpFlags> {
        (self.is_ipv4() && self.nw_proto == 6 && self.tcp_flags != 0).then(|| {
            let f = self.tcp_flags;
            wire::TcpFlags {
                fin: f & 0x01 != 0,
                syn: f & 0x02 != 0,
                rst: f & 0x04 != 0,
                psh: f & 0x08 != 0,
                ack: f & 0x10 != 0,
            }
        })
    }

    /// The IPv4 packet's length (the frame without its Ethernet header and
    /// VLAN tag), as conntrack counts bytes.
    pub fn ip_len(&self) -> u32 {
        let l2 = if self.vlan_tci & 0x1000 != 0 { 18 } else { 14 };
        self.len.saturating_sub(l2)
    }

    /// The header fields compared in a [`super::Verdict`].
    pub fn headers(&self) -> Headers {
        let ip = self.is_ipv4();
        let ports = self.has_ports();
        Headers {
            eth_src: field::mac_bytes(u128::from(self.dl_src)),
            eth_dst: field::mac_bytes(u128::from(self.dl_dst)),
            nw_src: ip.then(|| Ipv4Addr::from(self.nw_src)),
            nw_dst: ip.then(|| Ipv4Addr::from(self.nw_dst)),
            nw_ttl: ip.then_some(self.nw_ttl),
            tp_src: ports.then_some(self.tp_src),
            tp_dst: ports.then_some(self.tp_dst),
        }
    }

    /// Reads the `ofproto/trace` flow string, e.g.
    /// `in_port=3,tcp,dl_src=..,dl_dst=..,nw_src=..,nw_dst=..,nw_ttl=64,tp_src=40000,tp_dst=80`.
    /// Any match field may appear with an exact value (registers, `pkt_mark`,
    /// `ct_state=trk|new` style state, `tun_dst`, ...). IPv4 packets without
    /// `nw_ttl` get 64. The length is 64 bytes unless `len=` (ours) says otherwise.
    pub fn parse_trace_flow(s: &str) -> Result<Packet, String> {
        let mut p = Packet {
            len: 64,
            ..Packet::default()
        };
        let mut ttl_set = false;
        for tok in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (k, v) = match tok.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (tok, None),
            };
            if k == "len" {
                p.len = v
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("`{tok}`: bad length"))?;
                continue;
            }
            if k == "ct_state" {
                let (val, _) = field::parse_ct_state(v.unwrap_or(""))?;
                p.ct_state = val as u8;
                continue;
            }
            match parse_match_item(k, v)? {
                MatchItem::Proto(pr) => {
                    p.dl_type = pr.dl_type();
                    if let Some(n) = pr.nw_proto() {
                        p.nw_proto = n;
                    }
                }
                MatchItem::Field { field, value, mask } => {
                    if mask != field.full_mask() {
                        return Err(format!("`{tok}`: a packet field takes an exact value"));
                    }
                    match field {
                        Field::DlVlan => p.vlan_tci = 0x1000 | value as u16,
                        Field::ArpOp
                        | Field::ArpSpa
                        | Field::ArpTpa
                        | Field::IcmpType
                        | Field::IcmpCode => p.set(field.storage(), value),
                        f => p.set(f, value),
                    }
                    if field == Field::NwTtl {
                        ttl_set = true;
                    }
                }
            }
        }
        if p.is_ipv4() && !ttl_set {
            p.nw_ttl = 64;
        }
        Ok(p)
    }

    /// Prints the `ofproto/trace` flow string (the inverse of
    /// [`Packet::parse_trace_flow`] for the fields a test packet sets).
    pub fn to_trace_flow(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "in_port={}", self.in_port);
        let proto = match (self.dl_type, self.nw_proto) {
            (ETH_IP, 6) => Some(Proto::Tcp),
            (ETH_IP, 17) => Some(Proto::Udp),
            (ETH_IP, 132) => Some(Proto::Sctp),
            (ETH_IP, 1) => Some(Proto::Icmp),
            (ETH_IP, _) => Some(Proto::Ip),
            (ETH_ARP, _) => Some(Proto::Arp),
            (ETH_IPV6, _) => Some(Proto::Ipv6),
            _ => None,
        };
        match proto {
            Some(pr) => {
                out.push(',');
                out.push_str(pr.name());
            }
            None => {
                let _ = write!(out, ",dl_type=0x{:04x}", self.dl_type);
            }
        }
        if self.vlan_tci & 0x1000 != 0 {
            let _ = write!(out, ",dl_vlan={}", self.vlan_tci & 0xfff);
        }
        let mut put = |name: &str, kind: Kind, v: u128| {
            let _ = write!(out, ",{name}=");
            field::fmt_value(&mut out, kind, v);
        };
        put("dl_src", Kind::Mac, self.dl_src.into());
        put("dl_dst", Kind::Mac, self.dl_dst.into());
        if self.is_arp() {
            put("arp_op", Kind::Dec, self.nw_proto.into());
            put("arp_spa", Kind::Ip4, self.nw_src.into());
            put("arp_tpa", Kind::Ip4, self.nw_dst.into());
            put("arp_sha", Kind::Mac, self.arp_sha.into());
            put("arp_tha", Kind::Mac, self.arp_tha.into());
        } else if self.is_ipv4() {
            put("nw_src", Kind::Ip4, self.nw_src.into());
            put("nw_dst", Kind::Ip4, self.nw_dst.into());
            if proto == Some(Proto::Ip) {
                put("nw_proto", Kind::Dec, self.nw_proto.into());
            }
            put("nw_ttl", Kind::Dec, self.nw_ttl.into());
            if self.has_ports() {
                // ofproto/trace reads `tp_src` as `tcp_src` (its
                // prerequisite is TCP): UDP and SCTP need their own names.
                let (src, dst) = match self.nw_proto {
                    17 => ("udp_src", "udp_dst"),
                    132 => ("sctp_src", "sctp_dst"),
                    _ => ("tp_src", "tp_dst"),
                };
                put(src, Kind::Dec, self.tp_src.into());
                put(dst, Kind::Dec, self.tp_dst.into());
            } else if self.nw_proto == 1 {
                put("icmp_type", Kind::Dec, self.tp_src.into());
                put("icmp_code", Kind::Dec, self.tp_dst.into());
            }
        }
        for (i, r) in self.regs.iter().enumerate() {
            if *r != 0 {
                put(&format!("reg{i}"), Kind::Hex, (*r).into());
            }
        }
        if self.pkt_mark != 0 {
            put("pkt_mark", Kind::Hex, self.pkt_mark.into());
        }
        if self.tun_dst != 0 {
            put("tun_src", Kind::Ip4, self.tun_src.into());
            put("tun_dst", Kind::Ip4, self.tun_dst.into());
            put("tun_id", Kind::Hex, self.tun_id.into());
        }
        out
    }

    /// Reads a real frame (Ethernet with at most one 802.1Q tag; ARP or IPv4 with
    /// TCP/UDP/ICMP) arriving on `in_port`.
    pub fn from_frame(in_port: u32, frame: &[u8]) -> Result<Packet, wire::WireError> {
        let (eth, payload) = wire::parse_eth(frame)?;
        let mut p = Packet {
            in_port,
            dl_src: mac_u64(eth.src),
            dl_dst: mac_u64(eth.dst),
            dl_type: eth.ethertype,
            vlan_tci: eth.vlan.map_or(0, |v| 0x1000 | (v & 0xfff)),
            len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            ..Packet::default()
        };
        match eth.ethertype {
            wire::ethertype::ARP => {
                let a = ArpMsg::parse(payload)?;
                p.nw_proto = match a.op {
                    ArpOp::Request => 1,
                    ArpOp::Reply => 2,
                };
                p.nw_src = a.spa.into();
                p.nw_dst = a.tpa.into();
                p.arp_sha = mac_u64(a.sha);
                p.arp_tha = mac_u64(a.tha);
            }
            wire::ethertype::IPV4 => {
                let ip = Ipv4Pkt::parse(payload)?;
                p.nw_src = ip.src.into();
                p.nw_dst = ip.dst.into();
                p.nw_ttl = ip.ttl;
                p.nw_proto = ip.l4.protocol();
                match &ip.l4 {
                    L4::Tcp {
                        src_port,
                        dst_port,
                        flags,
                        ..
                    } => {
                        p.tp_src = *src_port;
                        p.tp_dst = *dst_port;
                        p.tcp_flags = [
                            (flags.fin, 0x01),
                            (flags.syn, 0x02),
                            (flags.rst, 0x04),
                            (flags.psh, 0x08),
                            (flags.ack, 0x10),
                        ]
                        .iter()
                        .filter(|(on, _)| *on)
                        .fold(0, |a, (_, b)| a | b);
                    }
                    L4::Udp {
                        src_port, dst_port, ..
                    } => {
                        p.tp_src = *src_port;
                        p.tp_dst = *dst_port;
                    }
                    L4::IcmpEcho { request, ident, .. } => {
                        p.tp_src = if *request { 8 } else { 0 };
                        p.icmp_id = *ident;
                    }
                    L4::IcmpDestUnreachable { code, .. } => {
                        p.tp_src = 3;
                        p.tp_dst = u16::from(*code);
                    }
                    L4::IcmpFragNeeded { .. } => {
                        p.tp_src = 3;
                        p.tp_dst = 4;
                    }
                    L4::IcmpTimeExceeded { .. } => p.tp_src = 11,
                    L4::Other { .. } => {}
                }
            }
            _ => {}
        }
        Ok(p)
    }

    /// Writes this packet's header fields back into `frame` (the frame it was read
    /// from): MACs, VLAN tag, IPv4 addresses, TTL and TCP/UDP ports (an ICMP
    /// echo keeps its identifier), with checksums recomputed. Returns the new frame bytes.
    pub fn apply_to_frame(&self, frame: &[u8]) -> Result<Vec<u8>, wire::WireError> {
        let (eth, payload) = wire::parse_eth(frame)?;
        let new_payload = match eth.ethertype {
            wire::ethertype::IPV4 => {
                let mut ip = Ipv4Pkt::parse(payload)?;
                ip.src = Ipv4Addr::from(self.nw_src);
                ip.dst = Ipv4Addr::from(self.nw_dst);
                ip.ttl = self.nw_ttl;
                // ICMP keeps its identifier: a walk's tp_src/tp_dst there are
                // the ICMP type and code, which no action of ours rewrites.
                if matches!(ip.l4, L4::Tcp { .. } | L4::Udp { .. }) {
                    ip.set_src_port(self.tp_src);
                    ip.set_dst_port(self.tp_dst);
                }
                ip.to_bytes()
            }
            wire::ethertype::ARP => {
                let mut a = ArpMsg::parse(payload)?;
                a.op = if self.nw_proto == 2 {
                    ArpOp::Reply
                } else {
                    ArpOp::Request
                };
                a.spa = Ipv4Addr::from(self.nw_src);
                a.tpa = Ipv4Addr::from(self.nw_dst);
                a.sha = mac_of(self.arp_sha);
                a.tha = mac_of(self.arp_tha);
                a.to_bytes()
            }
            _ => payload.to_vec(),
        };
        let mut h = EthHeader::new(mac_of(self.dl_dst), mac_of(self.dl_src), eth.ethertype);
        h.vlan = (self.vlan_tci & 0x1000 != 0).then_some(self.vlan_tci & 0xfff);
        Ok(wire::build_eth(&h, &new_payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_flow_round_trips() {
        for s in [
            "in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.3,nw_dst=10.96.0.10,nw_ttl=64,tp_src=40000,tp_dst=80",
            "in_port=2,arp,dl_src=0a:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.10.0.1,arp_tpa=10.10.0.3,arp_sha=0a:00:00:00:00:01,arp_tha=00:00:00:00:00:00",
            "in_port=1,icmp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.1.3,nw_dst=10.10.0.3,nw_ttl=63,icmp_type=8,icmp_code=0,reg0=0x1,tun_src=192.168.77.101,tun_dst=192.168.77.100,tun_id=0x0",
        ] {
            let p = Packet::parse_trace_flow(s).unwrap();
            assert_eq!(p.to_trace_flow(), s);
        }
        assert!(Packet::parse_trace_flow("in_port=3,nw_dst=10.0.0.0/8").is_err());
    }

    #[test]
    fn xxreg3_overlays_reg12_to_reg15() {
        let mut p = Packet::default();
        p.set(Field::Xxreg(3), 0xfec00010001000000000000000000100);
        assert_eq!(p.get(Field::Reg(12)), 0xfec00010);
        assert_eq!(p.get(Field::Reg(15)), 0x100);
        assert_eq!(p.get(Field::Xxreg(3)), 0xfec00010001000000000000000000100);
    }

    #[test]
    fn frames_read_and_write() {
        let ip = Ipv4Pkt::new(
            Ipv4Addr::new(10, 10, 0, 3),
            Ipv4Addr::new(10, 96, 0, 10),
            L4::Tcp {
                src_port: 40000,
                dst_port: 80,
                seq: 1,
                ack: 0,
                flags: wire::TcpFlags::default(),
                window: 1000,
                payload: vec![],
            },
        );
        let h = EthHeader::new(
            MacAddr([0xa, 0, 0, 0, 0, 1]),
            MacAddr([0xa, 0, 0, 0, 0, 3]),
            wire::ethertype::IPV4,
        );
        let frame = wire::build_eth(&h, &ip.to_bytes());
        let mut p = Packet::from_frame(3, &frame).unwrap();
        assert_eq!(
            p.to_trace_flow(),
            "in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.3,nw_dst=10.96.0.10,nw_ttl=64,tp_src=40000,tp_dst=80"
        );
        p.set(
            Field::NwDst,
            u128::from(u32::from(Ipv4Addr::new(10, 10, 0, 5))),
        );
        p.set(Field::TpDst, 8080);
        let out = p.apply_to_frame(&frame).unwrap();
        let q = Packet::from_frame(3, &out).unwrap();
        assert_eq!(q, p);
    }
}
