//! Connection tracking for `ct()`: per-zone connections keyed by their original
//! and reply 5-tuples, committed by `ct(commit)`, with source or destination NAT
//! set up at commit and applied by `nat` (replies are un-NATed), and `ct_mark` /
//! `ct_label` kept per connection.
//!
//! [`CtMode`] says how a walk uses it: `Tracked` (the simulator: this table) or
//! `Scripted` (like `ofproto/trace --ct-next`: each recirculation takes the next
//! scripted state, no NAT).
//!
//! States follow Linux conntrack as OVS exposes it: a packet of an unknown
//! connection is `+trk+new`; an original-direction packet of a committed
//! connection is `+new` until a reply has been seen, `+est` after; a reply is
//! `+est+rpl`; `+snat`/`+dnat` when this ct() NATed the packet; non-IPv4 is `+inv`.
//! ICMP uses ports 0/0 (a test packet carries no echo id). Connections do not
//! time out (the walk has no clock for that); [`Conntrack::flush`] clears.

use std::collections::BTreeMap;

use super::field::ct_bits;
use super::flow::{Nat, NatKind};
use super::packet::Packet;

/// A `ct_state` value (`trk|new`), as scripted for `--ct-next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CtState(pub u8);

impl CtState {
    /// `trk,new`, `trk|est|rpl`, `+trk+est`.
    pub fn parse(s: &str) -> Result<CtState, String> {
        let mut v = 0u8;
        for name in s.split([',', '|', '+']).filter(|n| !n.is_empty()) {
            let bit = ct_bits::NAMES
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(b, _)| *b)
                .ok_or_else(|| format!("ct state `{s}`: unknown flag `{name}`"))?;
            v |= bit;
        }
        Ok(CtState(v))
    }
}

/// How a walk runs `ct()` (contract section 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtMode {
    Tracked,
    Scripted(Vec<CtState>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tuple {
    src: u32,
    dst: u32,
    proto: u8,
    sport: u16,
    dport: u16,
}

impl Tuple {
    fn of(p: &Packet) -> Tuple {
        let ports = p.has_ports();
        Tuple {
            src: p.nw_src,
            dst: p.nw_dst,
            proto: p.nw_proto,
            sport: if ports { p.tp_src } else { 0 },
            dport: if ports { p.tp_dst } else { 0 },
        }
    }
    fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

#[derive(Clone, Debug)]
struct Conn {
    orig: Tuple,
    /// The original tuple after NAT (what the packet looks like once translated).
    translated: Tuple,
    nat: Option<NatKind>,
    seen_reply: bool,
    mark: u32,
    label: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Orig,
    Reply,
}

/// What one `ct()` did to a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CtResult {
    pub(crate) state: u8,
    pub(crate) mark: u32,
    pub(crate) label: u128,
    /// Original-direction tuple: (src, dst, proto, sport, dport).
    pub(crate) orig: (u32, u32, u8, u16, u16),
    /// Index of the connection, for storing exec() results.
    pub(crate) conn: Option<usize>,
}

/// All zones' connections.
#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    conns: Vec<Conn>,
    index: BTreeMap<(u16, Tuple), (usize, Dir)>,
}

impl Conntrack {
    pub fn new() -> Conntrack {
        Conntrack::default()
    }

    /// Number of committed connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    pub fn flush(&mut self) {
        self.conns.clear();
        self.index.clear();
    }

    /// Looks `pkt` up in `zone`, commits it if asked, applies NAT if asked
    /// (rewriting `pkt`), and returns the state the recirculated packet sees.
    /// `cached` is the connection an earlier `ct()` in the same zone
    /// associated the packet with ([`Packet::ct_conn`]): it is used when the
    /// packet still belongs to it in either direction, translated or not,
    /// so a second commit updates that connection (its mark, for one).
    pub(crate) fn process(
        &mut self,
        zone: u16,
        pkt: &mut Packet,
        commit: bool,
        nat: Option<&Nat>,
        cached: Option<u32>,
    ) -> CtResult {
        if !pkt.is_ipv4() {
            return CtResult {
                state: ct_bits::TRK | ct_bits::INV,
                mark: 0,
                label: 0,
                orig: (0, 0, 0, 0, 0),
                conn: None,
            };
        }
        let t = Tuple::of(pkt);
        let mut state = ct_bits::TRK;
        let reused = cached.and_then(|ci| {
            let c = self.conns.get(ci as usize)?;
            if t == c.orig || t == c.translated {
                Some((ci as usize, Dir::Orig))
            } else if t == c.translated.reversed() || t == c.orig.reversed() {
                Some((ci as usize, Dir::Reply))
            } else {
                None
            }
        });
        let found = reused.or_else(|| self.index.get(&(zone, t)).copied());
        let (ci, dir) = match found {
            Some((ci, dir)) => (Some(ci), dir),
            None if commit => {
                let translated = match nat.and_then(|n| n.kind.map(|k| (k, n))) {
                    Some((NatKind::Dst, n)) => Tuple {
                        dst: n.ip_min as u32,
                        dport: n.port_min.unwrap_or(t.dport),
                        ..t
                    },
                    Some((NatKind::Src, n)) => Tuple {
                        src: n.ip_min as u32,
                        sport: n.port_min.unwrap_or(t.sport),
                        ..t
                    },
                    None => t,
                };
                let nat_kind = nat.and_then(|n| n.kind).filter(|_| translated != t);
                let ci = self.conns.len();
                self.conns.push(Conn {
                    orig: t,
                    translated,
                    nat: nat_kind,
                    seen_reply: false,
                    mark: 0,
                    label: 0,
                });
                self.index.insert((zone, t), (ci, Dir::Orig));
                self.index
                    .entry((zone, translated.reversed()))
                    .or_insert((ci, Dir::Reply));
                (Some(ci), Dir::Orig)
            }
            None => (None, Dir::Orig),
        };
        let Some(ci) = ci else {
            return CtResult {
                state: state | ct_bits::NEW,
                mark: 0,
                label: 0,
                orig: (t.src, t.dst, t.proto, t.sport, t.dport),
                conn: None,
            };
        };
        let c = &mut self.conns[ci];
        match dir {
            Dir::Orig => {
                state |= if c.seen_reply {
                    ct_bits::EST
                } else {
                    ct_bits::NEW
                }
            }
            Dir::Reply => {
                c.seen_reply = true;
                state |= ct_bits::EST | ct_bits::RPL;
            }
        }
        if nat.is_some()
            && let Some(kind) = c.nat
        {
            let (to, bit) = match (dir, kind) {
                (Dir::Orig, NatKind::Dst) => (c.translated, ct_bits::DNAT),
                (Dir::Orig, NatKind::Src) => (c.translated, ct_bits::SNAT),
                // A reply to a DNATed connection gets its source un-DNATed, and so on.
                (Dir::Reply, NatKind::Dst) => (c.orig.reversed(), ct_bits::DNAT),
                (Dir::Reply, NatKind::Src) => (c.orig.reversed(), ct_bits::SNAT),
            };
            pkt.nw_src = to.src;
            pkt.nw_dst = to.dst;
            if pkt.has_ports() {
                pkt.tp_src = to.sport;
                pkt.tp_dst = to.dport;
            }
            state |= bit;
        }
        CtResult {
            state,
            mark: c.mark,
            label: c.label,
            orig: (
                c.orig.src,
                c.orig.dst,
                c.orig.proto,
                c.orig.sport,
                c.orig.dport,
            ),
            conn: Some(ci),
        }
    }

    /// Stores `ct_mark`/`ct_label` set by a committing ct()'s exec().
    pub(crate) fn set_mark_label(&mut self, r: &CtResult, mark: u32, label: u128) {
        if let Some(c) = r.conn.and_then(|ci| self.conns.get_mut(ci)) {
            c.mark = mark;
            c.label = label;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat_dst(ip: u32, port: u16) -> Nat {
        Nat {
            kind: Some(NatKind::Dst),
            ip_min: u128::from(ip),
            ip_max: None,
            port_min: Some(port),
            port_max: None,
            v6: false,
        }
    }

    fn bare() -> Nat {
        Nat {
            kind: None,
            ip_min: 0,
            ip_max: None,
            port_min: None,
            port_max: None,
            v6: false,
        }
    }

    #[test]
    fn a_second_commit_on_the_translated_packet_updates_the_same_connection() {
        let mut ct = Conntrack::new();
        let mut req = Packet::parse_trace_flow(
            "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.96.0.10,tp_src=40000,tp_dst=80",
        )
        .unwrap();
        let first = ct.process(65520, &mut req, true, Some(&nat_dst(0x0a0a0003, 80)), None);
        ct.set_mark_label(&first, 0x10, 0);
        // The DNATed packet (10.10.0.3 -> 10.10.0.3:80) committed again in
        // the same zone, with the connection the datapath kept for it.
        let cached = first.conn.map(|c| c as u32);
        let second = ct.process(65520, &mut req, true, None, cached);
        assert_eq!(second.conn, first.conn);
        assert_eq!(second.mark, 0x10);
        ct.set_mark_label(&second, 0x50, 0);
        assert_eq!(ct.len(), 1);
        // The reply finds the connection with the second commit's mark.
        let mut reply = Packet::parse_trace_flow(
            "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.10.0.3,tp_src=80,tp_dst=40000",
        )
        .unwrap();
        let r = ct.process(65520, &mut reply, false, Some(&bare()), None);
        assert_eq!(r.mark, 0x50);
        assert_eq!((reply.nw_src, reply.tp_src), (0x0a60000a, 80));
        // Without the cached connection the translated tuple is not found and
        // a commit would start a second connection.
        let mut fresh = Packet::parse_trace_flow(
            "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.10.0.3,tp_src=40000,tp_dst=80",
        )
        .unwrap();
        let r = ct.process(65520, &mut fresh, false, None, None);
        assert_eq!(r.state, ct_bits::TRK | ct_bits::NEW);
    }

    #[test]
    fn dnat_commit_then_reply_is_un_nated() {
        let mut ct = Conntrack::new();
        let mut req = Packet::parse_trace_flow(
            "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.96.0.10,tp_src=40000,tp_dst=80",
        )
        .unwrap();
        let r = ct.process(65520, &mut req.clone(), false, Some(&bare()), None);
        assert_eq!(r.state, ct_bits::TRK | ct_bits::NEW);
        let r = ct.process(
            65520,
            &mut req,
            true,
            Some(&nat_dst(0x0a0a0005, 8080)),
            None,
        );
        assert_eq!(r.state, ct_bits::TRK | ct_bits::NEW | ct_bits::DNAT);
        assert_eq!((req.nw_dst, req.tp_dst), (0x0a0a0005, 8080));
        let mut reply = Packet::parse_trace_flow(
            "in_port=4,tcp,nw_src=10.10.0.5,nw_dst=10.10.0.3,tp_src=8080,tp_dst=40000",
        )
        .unwrap();
        let r = ct.process(65520, &mut reply, false, Some(&bare()), None);
        assert_eq!(
            r.state,
            ct_bits::TRK | ct_bits::EST | ct_bits::RPL | ct_bits::DNAT
        );
        assert_eq!((reply.nw_src, reply.tp_src), (0x0a60000a, 80));
        // The next original-direction packet is established and DNATed again.
        let mut again = Packet::parse_trace_flow(
            "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.96.0.10,tp_src=40000,tp_dst=80",
        )
        .unwrap();
        let r = ct.process(65520, &mut again, false, Some(&bare()), None);
        assert_eq!(r.state, ct_bits::TRK | ct_bits::EST | ct_bits::DNAT);
        assert_eq!(again.nw_dst, 0x0a0a0005);
        // Other zones do not see the connection.
        let mut other = Packet::parse_trace_flow(
            "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.96.0.10,tp_src=40000,tp_dst=80",
        )
        .unwrap();
        assert_eq!(
            ct.process(65521, &mut other, false, None, None).state,
            ct_bits::TRK | ct_bits::NEW
        );
    }

    #[test]
    fn non_ip_is_invalid_and_states_parse() {
        let mut ct = Conntrack::new();
        let mut arp = Packet::parse_trace_flow("in_port=3,arp,arp_op=1").unwrap();
        assert_eq!(
            ct.process(0, &mut arp, true, None, None).state,
            ct_bits::TRK | ct_bits::INV
        );
        assert_eq!(
            CtState::parse("trk,new").unwrap(),
            CtState(ct_bits::TRK | ct_bits::NEW)
        );
        assert!(CtState::parse("trk,bogus").is_err());
    }
}
