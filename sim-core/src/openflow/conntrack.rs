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
//! ICMP echo is keyed by its identifier (a request's as its source port, a
//! reply's as its destination port, as the host's conntrack in `sim::nat`
//! keys it); a trace packet carries identifier 0.
//!
//! Accounting, as Linux conntrack keeps it for the kernel datapath Antrea
//! runs on (`nf_conntrack_acct`, `nf_conntrack_timestamp`, which Antrea's
//! agent turns on): each committed connection has its start time, packets
//! and bytes (IPv4 length) per direction, and for TCP the state of
//! [`crate::conntrack_tcp`]. A packet is counted once per zone, at the
//! first `ct()` of its walk that finds (or commits) its connection; a later
//! `ct()` in the same zone that reuses the packet's connection
//! ([`Packet::ct_conn`]) does not count it again, as the kernel skips a
//! packet whose conntrack entry is already attached (`skb_nfct_cached`).
//! Connections expire like Linux's: TCP after its state's timeout, UDP and
//! ICMP 30 s after their last packet; the clock is the walk's time
//! ([`Conntrack::set_clock`], from `Program::run`). [`Conntrack::rows`] dumps
//! a zone as `conntrack -L -w ZONE` would, for the flow exporter.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::field::ct_bits;
use super::flow::{Nat, NatKind};
use super::packet::Packet;
use crate::conntrack_tcp::{CtDir, TcpState, idle_timeout};

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
        let (sport, dport) = if p.has_ports() {
            (p.tp_src, p.tp_dst)
        } else if let Some(id) = p.icmp_echo_id() {
            // A request's identifier is its "source port", a reply's its
            // "destination port", so that a reply is the reversed request.
            if p.tp_src == 8 { (id, 0) } else { (0, id) }
        } else {
            (0, 0)
        };
        Tuple {
            src: p.nw_src,
            dst: p.nw_dst,
            proto: p.nw_proto,
            sport,
            dport,
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
    zone: u16,
    orig: Tuple,
    /// The original tuple after NAT (what the packet looks like once translated).
    translated: Tuple,
    nat: Option<NatKind>,
    seen_reply: bool,
    mark: u32,
    label: u128,
    /// Times in integer ns of the walk clock.
    first_seen: u64,
    expires: u64,
    packets: u64,
    bytes: u64,
    reverse_packets: u64,
    reverse_bytes: u64,
    /// TCP only.
    tcp: Option<TcpState>,
    /// HTTP/1.1 messages captured on the connection ([`Conntrack::capture_http`]).
    http: Vec<String>,
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

/// One connection of a zone as `conntrack -L` shows it (with accounting and
/// timestamps on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtRow {
    pub zone: u16,
    pub proto: u8,
    /// The original direction: source, source port, destination, destination
    /// port (ICMP echo: the identifier as the source port, 0 as the other).
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    /// Where DNAT sent the connection (an endpoint), if it did.
    pub dnat: Option<(Ipv4Addr, u16)>,
    /// What SNAT made the source, if it did.
    pub snat: Option<(Ipv4Addr, u16)>,
    /// The reply direction's tuple: source, source port, destination,
    /// destination port.
    pub reply: (Ipv4Addr, u16, Ipv4Addr, u16),
    /// Start time, integer ns of the walk clock.
    pub first_seen_ns: u64,
    /// When the connection expires without another packet, integer ns.
    pub expires_ns: u64,
    pub packets: u64,
    pub bytes: u64,
    pub reverse_packets: u64,
    pub reverse_bytes: u64,
    /// Conntrack's TCP state name; empty for other protocols.
    pub tcp_state: &'static str,
    pub mark: u32,
    /// `ct_label`: Antrea keeps the ingress rule's id in bits 0..31 and the
    /// egress rule's in 32..63 (`IngressRuleCTLabel`, `EgressRuleCTLabel`).
    pub label: u128,
    pub http: Vec<String>,
}

/// How often expired connections are swept out: a simulated second.
const SWEEP_NS: u64 = 1_000_000_000;

/// All zones' connections.
#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    /// Connection slots; a removed connection leaves its slot free for reuse.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    index: BTreeMap<(u16, Tuple), (usize, Dir)>,
    /// The walk clock, integer ns.
    now: u64,
    /// When expired connections are next swept out (integer ns).
    next_sweep: u64,
    /// The connections the current walk counted, by zone.
    counted: Vec<(u16, usize)>,
}

impl Conntrack {
    pub fn new() -> Conntrack {
        Conntrack::default()
    }

    /// Number of live connections (every zone) at the walk clock.
    pub fn len(&self) -> usize {
        self.live_at(0).count()
    }

    /// Number of live connections (every zone) at `now_ns`, or at the walk
    /// clock if later.
    pub fn len_at(&self, now_ns: u64) -> usize {
        self.live_at(now_ns).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn flush(&mut self) {
        self.conns.clear();
        self.free.clear();
        self.index.clear();
        self.counted.clear();
    }

    /// Sets the clock a walk runs at (integer ns; it never goes back) and
    /// starts the walk's record of counted connections.
    /// Expired connections are swept out at most once per simulated
    /// second, in slot order (Linux's conntrack GC does this job).
    pub fn set_clock(&mut self, now_ns: u64) {
        self.now = self.now.max(now_ns);
        self.counted.clear();
        if self.now >= self.next_sweep {
            self.next_sweep = self.now.saturating_add(SWEEP_NS);
            let now = self.now;
            let dead: Vec<usize> = (0..self.conns.len())
                .filter(|&i| self.conns[i].as_ref().is_some_and(|c| c.expires <= now))
                .collect();
            for ci in dead {
                self.remove(ci);
            }
        }
    }

    /// Connections live at `now_ns` (or at the walk clock, if later).
    fn live_at(&self, now_ns: u64) -> impl Iterator<Item = &Conn> {
        let now = self.now.max(now_ns);
        self.conns.iter().flatten().filter(move |c| c.expires > now)
    }

    /// The live connections of `zone` at `now_ns` (a dump's time; the walk
    /// clock if later), in slot order.
    pub fn rows(&self, zone: u16, now_ns: u64) -> Vec<CtRow> {
        self.rows_where(now_ns, |z| z == zone)
    }

    /// Every zone's live connections at `now_ns`, by zone, then in slot
    /// order (`ovs-appctl dpctl/dump-conntrack`).
    pub fn all_rows(&self, now_ns: u64) -> Vec<CtRow> {
        let mut rows = self.rows_where(now_ns, |_| true);
        rows.sort_by_key(|r| r.zone);
        rows
    }

    fn rows_where(&self, now_ns: u64, zone: impl Fn(u16) -> bool) -> Vec<CtRow> {
        self.live_at(now_ns)
            .filter(|c| zone(c.zone))
            .map(|c| {
                let ip = Ipv4Addr::from;
                let (dnat, snat) = match c.nat {
                    Some(NatKind::Dst) => (Some((ip(c.translated.dst), c.translated.dport)), None),
                    Some(NatKind::Src) => (None, Some((ip(c.translated.src), c.translated.sport))),
                    None => (None, None),
                };
                CtRow {
                    zone: c.zone,
                    proto: c.orig.proto,
                    src: ip(c.orig.src),
                    sport: c.orig.sport,
                    dst: ip(c.orig.dst),
                    dport: c.orig.dport,
                    dnat,
                    snat,
                    reply: {
                        let r = c.translated.reversed();
                        (ip(r.src), r.sport, ip(r.dst), r.dport)
                    },
                    first_seen_ns: c.first_seen,
                    expires_ns: c.expires,
                    packets: c.packets,
                    bytes: c.bytes,
                    reverse_packets: c.reverse_packets,
                    reverse_bytes: c.reverse_bytes,
                    tcp_state: c.tcp.map_or("", |s| s.name()),
                    mark: c.mark,
                    label: c.label,
                    http: c.http.clone(),
                }
            })
            .collect()
    }

    /// The original tuple's source and destination of the connection the
    /// current walk counted in `zone`, if it counted one.
    pub fn counted_in(&self, zone: u16) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let c = self.conns.get(self.counted_slot(zone)?)?.as_ref()?;
        Some((c.orig.src.into(), c.orig.dst.into()))
    }

    /// The slot of the connection the current walk counted in `zone`.
    fn counted_slot(&self, zone: u16) -> Option<usize> {
        self.counted
            .iter()
            .find(|(z, _)| *z == zone)
            .map(|(_, ci)| *ci)
    }

    /// Keeps an HTTP/1.1 message on the connection the current walk counted
    /// in `zone` (the simulator's stand-in for the packets Antrea mirrors to
    /// Suricata for L7 flow export).
    pub fn capture_http(&mut self, zone: u16, message: String) {
        if let Some(ci) = self.counted_slot(zone)
            && let Some(Some(c)) = self.conns.get_mut(ci)
        {
            c.http.push(message);
        }
    }

    /// Removes connection `ci` and its index entries.
    fn remove(&mut self, ci: usize) {
        if let Some(c) = self.conns.get_mut(ci).and_then(Option::take) {
            for t in [c.orig, c.translated.reversed()] {
                if self.index.get(&(c.zone, t)).is_some_and(|(i, _)| *i == ci) {
                    self.index.remove(&(c.zone, t));
                }
            }
            self.free.push(ci);
        }
    }

    /// `found`, unless its connection has expired (then it is removed).
    fn alive(&mut self, found: Option<(usize, Dir)>) -> Option<(usize, Dir)> {
        let (ci, dir) = found?;
        let expired = self.conns.get(ci)?.as_ref()?.expires <= self.now;
        if expired {
            self.remove(ci);
            return None;
        }
        Some((ci, dir))
    }

    /// Counts `pkt` on connection `ci` going `dir`, moves its TCP state and
    /// renews its timeout. False: the TCP table calls the packet invalid.
    fn count(&mut self, ci: usize, dir: Dir, pkt: &Packet) -> bool {
        let now = self.now;
        let Some(Some(c)) = self.conns.get_mut(ci) else {
            return true;
        };
        let life = match (c.tcp, pkt.tcp_flags()) {
            (Some(state), Some(flags)) => {
                let d = match dir {
                    Dir::Orig => CtDir::Original,
                    Dir::Reply => CtDir::Reply,
                };
                // A packet the TCP table ignores or calls invalid is neither
                // counted nor moves the state or the timeout (the kernel's
                // `tcp_packet` returns before `nf_ct_refresh_acct`); an
                // invalid one also loses its connection.
                let Some(next) = state.step(d, flags) else {
                    return state.ignores(d, flags);
                };
                c.tcp = Some(next);
                next.timeout_after(flags)
            }
            // A trace packet's TCP has no flags: it keeps the state.
            (Some(state), None) => state.timeout(),
            (None, _) => idle_timeout(c.orig.proto),
        };
        c.expires = now.saturating_add(life.as_nanos());
        let bytes = u64::from(pkt.ip_len());
        match dir {
            Dir::Orig => {
                c.packets += 1;
                c.bytes += bytes;
            }
            Dir::Reply => {
                c.reverse_packets += 1;
                c.reverse_bytes += bytes;
            }
        }
        if !self.counted.iter().any(|(z, i)| *z == c.zone && *i == ci) {
            self.counted.push((c.zone, ci));
        }
        true
    }

    /// Looks `pkt` up in `zone`, commits it if asked, applies NAT if asked
    /// (rewriting `pkt`), and returns the state the recirculated packet sees.
    /// `cached` is the connection an earlier `ct()` in the same zone
    /// associated the packet with ([`Packet::ct_conn`]): it is used when the
    /// packet still belongs to it in either direction, translated or not,
    /// so a second commit updates that connection (its mark, for one), and
    /// the packet is not counted twice.
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
            let c = self.conns.get(ci as usize)?.as_ref()?;
            if t == c.orig || t == c.translated {
                Some((ci as usize, Dir::Orig))
            } else if t == c.translated.reversed() || t == c.orig.reversed() {
                Some((ci as usize, Dir::Reply))
            } else {
                None
            }
        });
        let looked_up = match reused {
            Some(_) => None,
            None => {
                let hit = self.index.get(&(zone, t)).copied();
                self.alive(hit)
            }
        };
        let (ci, dir) = match reused.or(looked_up) {
            Some((ci, dir)) => {
                if reused.is_none() && !self.count(ci, dir, pkt) {
                    // Linux leaves a packet its TCP table refuses without a
                    // connection: `+trk+inv`, no NAT, no mark.
                    return CtResult {
                        state: ct_bits::TRK | ct_bits::INV,
                        mark: 0,
                        label: 0,
                        orig: (t.src, t.dst, t.proto, t.sport, t.dport),
                        conn: None,
                    };
                }
                (Some(ci), dir)
            }
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
                // An expired connection still holding the reply tuple goes first.
                let clash = self.index.get(&(zone, translated.reversed())).copied();
                self.alive(clash);
                let nat_kind = nat.and_then(|n| n.kind).filter(|_| translated != t);
                let conn = Conn {
                    zone,
                    orig: t,
                    translated,
                    nat: nat_kind,
                    seen_reply: false,
                    mark: 0,
                    label: 0,
                    first_seen: self.now,
                    // Until its first packet is counted.
                    expires: self.now.saturating_add(idle_timeout(t.proto).as_nanos()),
                    packets: 0,
                    bytes: 0,
                    reverse_packets: 0,
                    reverse_bytes: 0,
                    tcp: (t.proto == 6).then_some(TcpState::None),
                    http: Vec::new(),
                };
                let ci = match self.free.pop() {
                    Some(ci) => {
                        self.conns[ci] = Some(conn);
                        ci
                    }
                    None => {
                        self.conns.push(Some(conn));
                        self.conns.len() - 1
                    }
                };
                self.index.insert((zone, t), (ci, Dir::Orig));
                self.index
                    .entry((zone, translated.reversed()))
                    .or_insert((ci, Dir::Reply));
                let _ = self.count(ci, Dir::Orig, pkt);
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
        let c = self.conns[ci]
            .as_mut()
            .expect("a found connection is stored");
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
        if let Some(Some(c)) = r.conn.and_then(|ci| self.conns.get_mut(ci)) {
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

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u16) -> Packet {
        let mut p = Packet::parse_trace_flow(&format!(
            "in_port=3,tcp,nw_src={src},nw_dst={dst},tp_src={sport},tp_dst={dport},len=54"
        ))
        .unwrap();
        p.tcp_flags = flags;
        p
    }

    /// A packet of a committed connection passing ct(zone=65520,nat).
    fn seen(ct: &mut Conntrack, mut p: Packet) -> CtResult {
        ct.process(65520, &mut p, false, Some(&bare()), None)
    }

    const SYN: u16 = 0x02;
    const SYN_ACK: u16 = 0x12;
    const ACK: u16 = 0x10;
    const FIN_ACK: u16 = 0x11;

    /// Counters, start time and TCP state as `conntrack -L` with accounting
    /// shows them; each packet counts once per zone even when a second ct()
    /// reuses its connection.
    #[test]
    fn connections_count_packets_and_follow_tcp_states() {
        let mut ct = Conntrack::new();
        let s = SECOND;
        ct.set_clock(s);
        let mut syn = tcp("10.10.0.3", 40000, "10.96.0.10", 80, SYN);
        // Lookup (not committed: not counted), then commit with DNAT.
        let first = ct.process(65520, &mut syn.clone(), false, Some(&bare()), None);
        assert_eq!(first.conn, None);
        let r = ct.process(
            65520,
            &mut syn,
            true,
            Some(&nat_dst(0x0a0a0005, 8080)),
            None,
        );
        // The committed packet recirculates and meets ct() again in the zone.
        ct.process(65520, &mut syn, true, None, r.conn.map(|c| c as u32));
        ct.set_clock(2 * s);
        seen(&mut ct, tcp("10.10.0.5", 8080, "10.10.0.3", 40000, SYN_ACK));
        ct.set_clock(3 * s);
        seen(&mut ct, tcp("10.10.0.3", 40000, "10.96.0.10", 80, ACK));
        let rows = ct.rows(65520, 0);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row.packets, row.bytes), (2, 80));
        assert_eq!((row.reverse_packets, row.reverse_bytes), (1, 40));
        assert_eq!(row.first_seen_ns, s);
        assert_eq!(row.tcp_state, "ESTABLISHED");
        assert_eq!(row.dnat, Some(("10.10.0.5".parse().unwrap(), 8080)));
        assert_eq!((row.dst, row.dport), ("10.96.0.10".parse().unwrap(), 80));
        assert!(ct.rows(65521, 0).is_empty());
        // FIN from each side and the last ACK: TIME_WAIT, which lives 120 s.
        seen(&mut ct, tcp("10.10.0.3", 40000, "10.96.0.10", 80, FIN_ACK));
        seen(&mut ct, tcp("10.10.0.5", 8080, "10.10.0.3", 40000, FIN_ACK));
        seen(&mut ct, tcp("10.10.0.3", 40000, "10.96.0.10", 80, ACK));
        assert_eq!(ct.rows(65520, 0)[0].tcp_state, "TIME_WAIT");
        ct.set_clock(3 * s + 119 * s);
        assert_eq!(ct.len(), 1);
        ct.set_clock(3 * s + 120 * s);
        assert_eq!(ct.len(), 0, "TIME_WAIT's 120 s are over");
        // The tuple starts a new connection, counted from one.
        let mut again = tcp("10.10.0.3", 40000, "10.96.0.10", 80, SYN);
        let r = ct.process(
            65520,
            &mut again,
            true,
            Some(&nat_dst(0x0a0a0006, 8080)),
            None,
        );
        assert_eq!(r.state, ct_bits::TRK | ct_bits::NEW | ct_bits::DNAT);
        let rows = ct.rows(65520, 0);
        assert_eq!((rows.len(), rows[0].packets), (1, 1));
        assert_eq!(rows[0].dnat, Some(("10.10.0.6".parse().unwrap(), 8080)));
    }

    const SECOND: u64 = 1_000_000_000;

    /// What a DSR ingress node sees: a SYN it commits, then the client's ACK
    /// with no SYN-ACK in between, which Linux's TCP table calls invalid
    /// (`+trk+inv`, no connection, not counted); a retransmitted SYN is only
    /// ignored (it keeps its connection).
    #[test]
    fn an_ack_with_no_reply_seen_is_invalid_and_a_syn_again_is_ignored() {
        let mut ct = Conntrack::new();
        ct.set_clock(SECOND);
        let mut syn = tcp("10.200.0.10", 40000, "10.160.1.41", 80, SYN);
        let r = ct.process(65520, &mut syn, true, None, None);
        assert_eq!(r.state, ct_bits::TRK | ct_bits::NEW);
        let ack = seen(&mut ct, tcp("10.200.0.10", 40000, "10.160.1.41", 80, ACK));
        assert_eq!(ack.state, ct_bits::TRK | ct_bits::INV);
        assert_eq!(ack.conn, None);
        let again = seen(&mut ct, tcp("10.200.0.10", 40000, "10.160.1.41", 80, SYN));
        assert_eq!(again.state, ct_bits::TRK | ct_bits::NEW);
        assert!(again.conn.is_some());
        let rows = ct.rows(65520, 0);
        assert_eq!((rows[0].packets, rows[0].tcp_state), (2, "SYN_SENT"));
        // Once established, a SYN is ignored, not invalid.
        seen(
            &mut ct,
            tcp("10.160.1.41", 80, "10.200.0.10", 40000, SYN_ACK),
        );
        seen(&mut ct, tcp("10.200.0.10", 40000, "10.160.1.41", 80, ACK));
        let syn = seen(&mut ct, tcp("10.200.0.10", 40000, "10.160.1.41", 80, SYN));
        assert_eq!(syn.state, ct_bits::TRK | ct_bits::EST);
        assert_eq!(
            ct.rows(65520, 0)[0].packets,
            3,
            "an ignored packet is not counted"
        );
    }

    /// Echo requests with different identifiers are different connections,
    /// and an ICMP connection lives 30 s after its last packet.
    #[test]
    fn icmp_echo_is_keyed_by_identifier_and_expires() {
        let mut ct = Conntrack::new();
        ct.set_clock(0);
        for id in [7u16, 9] {
            let mut p = Packet::parse_trace_flow(
                "in_port=3,icmp,icmp_type=8,nw_src=10.10.0.3,nw_dst=10.200.0.10",
            )
            .unwrap();
            p.icmp_id = id;
            ct.process(65520, &mut p, true, None, None);
        }
        let mut reply = Packet::parse_trace_flow(
            "in_port=1,icmp,icmp_type=0,nw_src=10.200.0.10,nw_dst=10.10.0.3",
        )
        .unwrap();
        reply.icmp_id = 9;
        let r = ct.process(65520, &mut reply, false, None, None);
        assert_eq!(r.state, ct_bits::TRK | ct_bits::EST | ct_bits::RPL);
        let rows = ct.rows(65520, 0);
        assert_eq!(
            rows.iter()
                .map(|r| (r.sport, r.reverse_packets))
                .collect::<Vec<_>>(),
            [(7, 0), (9, 1)]
        );
        // A dump at a later time sees them gone although no packet moved the
        // walk clock (a quiet node's flow exporter polls all the same).
        assert_eq!(ct.rows(65520, 29 * SECOND).len(), 2);
        assert!(ct.rows(65520, 30 * SECOND).is_empty());
        assert_eq!(ct.len_at(30 * SECOND), 0);
        assert_eq!(ct.len(), 2, "the walk clock is still at 0");
        // The next walk's clock sweeps them out and frees their slots.
        ct.set_clock(30 * SECOND);
        assert!(ct.rows(65520, 0).is_empty());
        assert!(ct.conns.iter().all(Option::is_none));
        assert_eq!(ct.free.len(), 2);
        assert!(ct.index.is_empty());
    }

    /// A packet conntrack's TCP table calls invalid (a stray SYN on an
    /// established connection) is not counted and neither moves the state
    /// nor renews the entry's timeout, as in the kernel's `tcp_packet`.
    #[test]
    fn an_invalid_tcp_packet_renews_nothing() {
        let mut ct = Conntrack::new();
        ct.set_clock(0);
        let mut syn = tcp("10.10.0.3", 40000, "10.10.0.5", 80, SYN);
        ct.process(65520, &mut syn, true, None, None);
        seen(&mut ct, tcp("10.10.0.5", 80, "10.10.0.3", 40000, SYN_ACK));
        seen(&mut ct, tcp("10.10.0.3", 40000, "10.10.0.5", 80, ACK));
        let est = ct.rows(65520, 0)[0].clone();
        assert_eq!(est.tcp_state, "ESTABLISHED");
        ct.set_clock(10 * SECOND);
        seen(&mut ct, tcp("10.10.0.3", 40000, "10.10.0.5", 80, SYN));
        let after = &ct.rows(65520, 0)[0];
        assert_eq!(after.tcp_state, "ESTABLISHED");
        assert_eq!(after.expires_ns, est.expires_ns, "not renewed");
        assert_eq!(after.packets, est.packets, "not counted");
    }

    /// An HTTP message goes to the connection the walk counted in the zone.
    #[test]
    fn http_is_captured_on_the_counted_connection() {
        let mut ct = Conntrack::new();
        ct.set_clock(0);
        ct.capture_http(65520, "GET / HTTP/1.1\r\n\r\n".into());
        ct.process(
            65520,
            &mut tcp("10.10.0.3", 40000, "10.200.0.10", 80, SYN),
            true,
            None,
            None,
        );
        assert_eq!(
            ct.counted_in(65520),
            Some(("10.10.0.3".parse().unwrap(), "10.200.0.10".parse().unwrap()))
        );
        ct.capture_http(65520, "GET / HTTP/1.1\r\n\r\n".into());
        ct.set_clock(1);
        assert_eq!(
            ct.counted_in(65520),
            None,
            "a new walk has counted nothing yet"
        );
        assert_eq!(ct.rows(65520, 0)[0].http.len(), 1);
    }
}
