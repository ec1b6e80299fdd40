//! Source NAT and connection tracking, the part of netfilter the lab needs.
//!
//! POSTROUTING SNAT/MASQUERADE rules (Antrea installs `MASQUERADE` for Pod
//! traffic leaving the node, and for Egress `SNAT --to <egressIP>` matched on a
//! packet mark: `pkg/agent/route/route_linux.go`) are evaluated for the first
//! packet of a flow; the translation is then remembered in conntrack, and
//! replies are translated back before routing, as `nf_nat` does.
//! Ports are kept unless the translated tuple is taken, then the next free one
//! is used (Linux picks a free port too; ours is deterministic).
//! TCP entries follow conntrack's state machine and its per-state timeouts
//! (`crate::conntrack_tcp`). Simplifications: one timeout for ICMP and UDP
//! (30 s; Linux keeps an assured UDP stream 120 s), no translation of ICMP
//! errors about NATed flows.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use flows::FlowTable;

use crate::conntrack_tcp::{CtDir, TcpState};
/// A rule's translation is the engine's SNAT description, executed as is.
pub use crate::engine::dataplane::SnatTo;
use crate::time::{SimDuration, SimTime};
use crate::wire::TcpFlags;

/// One POSTROUTING rule; every present condition must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatRule {
    pub(crate) src: Option<Ipv4Net>,
    /// Destinations exempt from the rule (e.g. the cluster's Pod CIDR).
    pub(crate) not_dst: Vec<Ipv4Net>,
    /// `! -o <iface>`.
    pub(crate) not_out_iface: Option<usize>,
    /// `-o <iface>`.
    pub(crate) out_iface: Option<usize>,
    /// `-m addrtype --src-type LOCAL ! --src-type LOCAL --limit-iface-out`.
    pub(crate) src_local_elsewhere: bool,
    /// `-m mark --mark value/mask`.
    pub(crate) mark: Option<(u32, u32)>,
    pub(crate) to: SnatTo,
    /// Shown in rule listings, like iptables' `--comment`.
    pub(crate) comment: String,
}

/// Where a packet's source address lives on the host that sends it, as
/// iptables' `addrtype --src-type LOCAL [--limit-iface-out]` asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrcAddrType {
    /// An address of the output interface.
    OnOutIface,
    /// An address of another of the host's interfaces.
    LocalElsewhere,
    /// Not the host's (forwarded traffic).
    Foreign,
}

impl SnatRule {
    /// Whether the rule takes a packet; `src_at` says where its source
    /// address lives on this host.
    pub fn matches(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        out_iface: usize,
        mark: u32,
        src_at: SrcAddrType,
    ) -> bool {
        self.src.is_none_or(|n| n.contains(&src))
            && (!self.src_local_elsewhere || src_at == SrcAddrType::LocalElsewhere)
            && !self.not_dst.iter().any(|n| n.contains(&dst))
            && self.not_out_iface != Some(out_iface)
            && self.out_iface.is_none_or(|i| i == out_iface)
            && self.mark.is_none_or(|(v, m)| mark & m == v & m)
    }
}

/// A flow's 5-tuple as one direction sees it; ICMP uses the echo identifier as
/// both ports, as Linux conntrack does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct FlowKey {
    pub(crate) proto: u8,
    pub src: Ipv4Addr,
    pub(crate) sport: u16,
    pub dst: Ipv4Addr,
    pub(crate) dport: u16,
}

impl FlowKey {
    pub fn reversed(self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

impl Hash for FlowKey {
    /// The 13 bytes as two words (one hasher call each).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.src.to_bits()) << 32 | u64::from(self.dst.to_bits()));
        state.write_u64(
            u64::from(self.proto) << 32 | u64::from(self.sport) << 16 | u64::from(self.dport),
        );
    }
}

/// One tracked connection: the original tuple and what it was translated to.
///
/// Every flow a node sees has one (memberlist's UDP gossip alone makes
/// thousands per node in a large lab), so what only some flows carry (who
/// translated them, a DSR next hop, HTTP messages) is kept out of line in
/// one box, absent for most. It serializes as if the fields were inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtEntry {
    pub(crate) original: FlowKey,
    /// Destination NAT (a Service VIP to an endpoint).
    pub(crate) dnat: Option<(Ipv4Addr, u16)>,
    /// Source NAT (masquerade, Egress SNAT).
    pub(crate) snat: Option<(Ipv4Addr, u16)>,
    /// The tuple replies arrive with.
    pub(crate) reply: FlowKey,
    /// Who translated it, a DSR next hop, HTTP messages: when any is set.
    extra: Option<Box<CtExtra>>,
    /// Packets and bytes seen in the original and reply directions.
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) reverse_packets: u64,
    pub(crate) reverse_bytes: u64,
    pub(crate) first_seen: SimTime,
    pub(crate) last_seen: SimTime,
    /// TCP only: conntrack's view of the connection (`ESTABLISHED`, ...).
    pub(crate) tcp_state: Option<TcpState>,
    expires: SimTime,
}

/// The fields of a [`CtEntry`] that few flows set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct CtExtra {
    /// Who translated it, for traces and tables ("AntreaProxy", "kube-proxy").
    by: Cow<'static, str>,
    /// DSR: route the flow towards this endpoint (its node) without DNAT.
    via: Option<Ipv4Addr>,
    /// HTTP/1.1 messages seen on the connection, in order (requests and
    /// responses), for L7 flow export.
    http: Vec<String>,
}

impl serde::Serialize for CtEntry {
    /// The fields in their order of old, the boxed ones inline.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CtEntry", 14)?;
        st.serialize_field("original", &self.original)?;
        st.serialize_field("dnat", &self.dnat)?;
        st.serialize_field("snat", &self.snat)?;
        st.serialize_field("reply", &self.reply)?;
        st.serialize_field("by", self.by())?;
        st.serialize_field("via", &self.via())?;
        st.serialize_field("packets", &self.packets)?;
        st.serialize_field("bytes", &self.bytes)?;
        st.serialize_field("reverse_packets", &self.reverse_packets)?;
        st.serialize_field("reverse_bytes", &self.reverse_bytes)?;
        st.serialize_field("first_seen", &self.first_seen)?;
        st.serialize_field("last_seen", &self.last_seen)?;
        st.serialize_field("http", self.http())?;
        st.serialize_field("tcp_state", &self.tcp_state)?;
        st.end()
    }
}

impl CtEntry {
    /// When the entry expires without another packet.
    pub fn expires(&self) -> SimTime {
        self.expires
    }

    /// Who translated it ("AntreaProxy", "kube-proxy", "SNAT"); empty if
    /// nothing did.
    pub fn by(&self) -> &str {
        self.extra.as_ref().map_or("", |x| &x.by)
    }

    /// DSR: the endpoint (its node) the flow is routed towards.
    pub fn via(&self) -> Option<Ipv4Addr> {
        self.extra.as_ref().and_then(|x| x.via)
    }

    /// The HTTP/1.1 messages seen, in order.
    pub fn http(&self) -> &[String] {
        self.extra.as_ref().map_or(&[], |x| &x.http)
    }

    fn extra_mut(&mut self) -> &mut CtExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// How long the entry lives without packets: the TCP state's timeout,
    /// else the protocol's.
    fn idle_timeout(&self) -> SimDuration {
        match self.tcp_state {
            Some(s) => s.timeout(),
            None => timeout(self.original.proto),
        }
    }
}

/// What conntrack makes of a packet ([`Conntrack::see`]).
#[derive(Debug)]
pub enum Seen<'a> {
    /// A reply of a live flow: the rewrite that restores its original
    /// addresses.
    Reply(Untranslate),
    /// A packet of a live flow in its original direction.
    Original(&'a CtEntry),
    /// No live flow has this tuple.
    New,
}

/// A row for `conntrack -L`-style listings.
pub type CtRow = CtEntry;

/// A node's connection table. Entries are looked up by hash, by original
/// or reply tuple ([`flows`]); only [`Conntrack::rows`] lists them, in
/// tuple order; the flushes gather what to forget in the table's order,
/// which no output depends on.
#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    flows: FlowTable,
}

mod flows;

use crate::conntrack_tcp::idle_timeout as timeout;

/// Where a reply must be rewritten to: its source becomes the original
/// destination and its destination the original source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untranslate {
    pub(super) src: Ipv4Addr,
    pub(super) sport: u16,
    pub(super) dst: Ipv4Addr,
    pub(super) dport: u16,
}

impl Untranslate {
    /// The rewrite that turns a reply of the flow `orig` back into the
    /// addresses its original packets had.
    fn back_to(orig: FlowKey) -> Untranslate {
        Untranslate {
            src: orig.dst,
            sport: orig.dport,
            dst: orig.src,
            dport: orig.sport,
        }
    }
}

impl Conntrack {
    pub fn clear(&mut self) {
        self.flows.clear();
    }

    /// Forgets the entry at `i` if it has expired; whether it had.
    fn expire_at(&mut self, now: SimTime, i: usize) -> bool {
        if self.flows.get(i).expires > now {
            return false;
        }
        self.flows.swap_remove(i);
        true
    }

    /// The live entry whose original direction is `key`, refreshed: one
    /// hash lookup for what expiring it and a lookup would do.
    fn live(&mut self, now: SimTime, key: &FlowKey) -> Option<&mut CtEntry> {
        let i = self.flows.find_original(key)?;
        self.live_at(now, i)
    }

    /// [`Conntrack::live`] for the entry at `i`.
    fn live_at(&mut self, now: SimTime, i: usize) -> Option<&mut CtEntry> {
        if self.expire_at(now, i) {
            return None;
        }
        let e = self.flows.get_mut(i);
        e.expires = now + e.idle_timeout();
        Some(e)
    }

    /// Whether a live flow replies with `reply` (one that has expired is
    /// forgotten first).
    fn reply_taken(&mut self, now: SimTime, reply: &FlowKey) -> bool {
        match self.flows.find_reply(reply) {
            Some(i) => !self.expire_at(now, i),
            None => false,
        }
    }

    /// The live entry whose original direction is `key` (refreshed).
    pub fn lookup(&mut self, now: SimTime, key: FlowKey) -> Option<&CtEntry> {
        self.live(now, &key).map(|e| &*e)
    }

    /// If `key` is the reply direction of a translated flow, the rewrite that
    /// restores the original addresses (refreshes the entry).
    #[cfg(test)]
    pub fn reverse(&mut self, now: SimTime, key: FlowKey) -> Option<Untranslate> {
        let orig = self.flows.get(self.flows.find_reply(&key)?).original;
        self.live(now, &orig)?;
        Some(Untranslate::back_to(orig))
    }

    /// Records a new flow, translated or not: like Linux conntrack, every
    /// flow is tracked, so a reply is recognised as one and never meets the
    /// NAT rules meant for first packets. With `snat_to`, the source port is
    /// kept unless the resulting reply tuple is taken, then the next free one
    /// is used (Linux picks a free port too; ours is deterministic). `None`
    /// when no port is free.
    pub fn commit(
        &mut self,
        now: SimTime,
        original: FlowKey,
        dnat: Option<(Ipv4Addr, u16)>,
        snat_to: Option<Ipv4Addr>,
        by: Cow<'static, str>,
    ) -> Option<&CtEntry> {
        let i = self.commit_at(now, original, dnat, snat_to, by)?;
        Some(self.flows.get(i))
    }

    /// [`Conntrack::commit`], giving the new entry's place.
    fn commit_at(
        &mut self,
        now: SimTime,
        original: FlowKey,
        dnat: Option<(Ipv4Addr, u16)>,
        snat_to: Option<Ipv4Addr>,
        by: Cow<'static, str>,
    ) -> Option<usize> {
        if let Some(i) = self.flows.find_original(&original) {
            self.expire_at(now, i);
        }
        let (dst, dport) = dnat.unwrap_or((original.dst, original.dport));
        let mut port = original.sport;
        for _ in 0..=u16::MAX {
            let (src, sport) = match snat_to {
                Some(ip) => (ip, port),
                None => (original.src, original.sport),
            };
            let reply = FlowKey {
                proto: original.proto,
                src: dst,
                sport: dport,
                dst: src,
                dport: sport,
            };
            if !self.reply_taken(now, &reply) {
                let entry = CtEntry {
                    original,
                    dnat,
                    snat: snat_to.map(|ip| (ip, sport)),
                    reply,
                    extra: (!by.is_empty()).then(|| {
                        Box::new(CtExtra {
                            by,
                            ..CtExtra::default()
                        })
                    }),
                    packets: 0,
                    bytes: 0,
                    reverse_packets: 0,
                    reverse_bytes: 0,
                    first_seen: now,
                    last_seen: now,
                    tcp_state: (original.proto == 6).then_some(TcpState::None),
                    expires: now + timeout(original.proto),
                };
                // A replaced entry keeps its place, as a map keyed by the
                // tuple would.
                return Some(self.flows.insert(entry).0);
            }
            // A DNAT-only clash (the tuple is in use) has no port to move.
            snat_to?;
            port = port.wrapping_add(1).max(1024);
        }
        None
    }

    /// [`Conntrack::commit`] for the first packet of a flow, then
    /// [`Conntrack::count`] of that packet (`bytes`, its `tcp` flags, the
    /// HTTP message `http` reads from it), on the entry just made.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_counted(
        &mut self,
        now: SimTime,
        original: FlowKey,
        dnat: Option<(Ipv4Addr, u16)>,
        snat_to: Option<Ipv4Addr>,
        by: Cow<'static, str>,
        bytes: usize,
        tcp: Option<TcpFlags>,
        http: Option<String>,
    ) -> Option<(Ipv4Addr, u16)> {
        match self.commit_at(now, original, dnat, snat_to, by) {
            Some(i) => {
                self.count_at(i, now, false, bytes, http, tcp);
                self.flows.get(i).snat
            }
            None => {
                // No port was free: an older entry of the tuple, if any,
                // counts the packet.
                self.count(now, original, false, bytes, http, tcp);
                None
            }
        }
    }

    /// Counts a packet of the flow whose original tuple is `original`
    /// (`reply`: in the reply direction); keeps HTTP/1.1 messages when asked;
    /// moves a TCP entry's state by the packet's `tcp` flags and gives the
    /// entry the new state's timeout (a RST gives CLOSE's, as the kernel does).
    pub fn count(
        &mut self,
        now: SimTime,
        original: FlowKey,
        reply: bool,
        bytes: usize,
        http: Option<String>,
        tcp: Option<TcpFlags>,
    ) {
        if let Some(i) = self.flows.find_original(&original) {
            self.count_at(i, now, reply, bytes, http, tcp);
        }
    }

    /// [`Conntrack::count`] on the entry at `i`.
    fn count_at(
        &mut self,
        i: usize,
        now: SimTime,
        reply: bool,
        bytes: usize,
        http: Option<String>,
        tcp: Option<TcpFlags>,
    ) {
        let e = self.flows.get_mut(i);
        if reply {
            e.reverse_packets += 1;
            e.reverse_bytes += bytes as u64;
        } else {
            e.packets += 1;
            e.bytes += bytes as u64;
        }
        e.last_seen = now;
        if let Some(h) = http {
            e.extra_mut().http.push(h);
        }
        if let (Some(state), Some(flags)) = (e.tcp_state, tcp) {
            let dir = if reply { CtDir::Reply } else { CtDir::Original };
            let next = state.next(dir, flags);
            e.tcp_state = Some(next);
            e.expires = now + next.timeout_after(flags);
        }
    }

    /// A packet with tuple `key` meets conntrack (PREROUTING/OUTPUT): the
    /// flow it belongs to counts it (`bytes`, its `tcp` flags, the HTTP
    /// message `http` reads from it given the flow's original tuple) and
    /// lives on, in one pass over the tables. What it does is what these
    /// did one after another: [`Conntrack::original_of`], then
    /// [`Conntrack::count`] in the reply direction, or [`Conntrack::lookup`]
    /// and `count` in the original one; then [`Conntrack::reverse`], else
    /// `lookup` (a count that ends a TCP flow can end its entry first).
    pub fn see(
        &mut self,
        now: SimTime,
        key: FlowKey,
        bytes: usize,
        tcp: Option<TcpFlags>,
        http: impl FnOnce(FlowKey) -> Option<String>,
    ) -> Seen<'_> {
        if let Some(i) = self.flows.find_reply(&key) {
            let orig = self.flows.get(i).original;
            self.count_at(i, now, true, bytes, http(orig), tcp);
            if self.live_at(now, i).is_some() {
                return Seen::Reply(Untranslate::back_to(orig));
            }
            // Its flow is gone: the packet's own tuple decides.
            return match self.live(now, &key) {
                Some(e) => Seen::Original(e),
                None => Seen::New,
            };
        }
        let Some(i) = self.flows.find_original(&key) else {
            return Seen::New;
        };
        if self.live_at(now, i).is_none() {
            return Seen::New;
        }
        self.count_at(i, now, false, bytes, http(key), tcp);
        match self.live_at(now, i) {
            Some(e) => Seen::Original(e),
            None => Seen::New,
        }
    }

    /// The original tuple of the flow a reply tuple belongs to (the
    /// reference [`Conntrack::see`] is tested against).
    #[cfg(test)]
    pub fn original_of(&self, reply: FlowKey) -> Option<FlowKey> {
        let i = self.flows.find_reply(&reply)?;
        Some(self.flows.get(i).original)
    }

    /// Remembers that `original` is routed towards `via` (DSR).
    pub fn set_via(&mut self, original: FlowKey, via: Ipv4Addr) {
        if let Some(i) = self.flows.find_original(&original) {
            self.flows.get_mut(i).extra_mut().via = Some(via);
        }
    }

    /// Outbound SNAT for a flow with no DNAT (kept for callers that only
    /// masquerade): the (src, sport) its packets leave with.
    pub fn snat(
        &mut self,
        now: SimTime,
        key: FlowKey,
        to: Option<Ipv4Addr>,
    ) -> Option<(Ipv4Addr, u16)> {
        if let Some(e) = self.lookup(now, key) {
            return e.snat;
        }
        self.commit(now, key, None, to, Cow::Borrowed("SNAT"))
            .and_then(|e| e.snat)
    }

    /// Forgets every binding that translates to `ip`: Linux does this when the
    /// address goes away (`nf_nat_masquerade` inet notifier), so flows re-pick
    /// their translation instead of keeping a source the node no longer owns.
    pub fn flush_translated_to(&mut self, ip: Ipv4Addr) -> usize {
        self.forget(|e| e.snat.is_some_and(|(s, _)| s == ip))
    }

    /// Forgets the untranslated (null-binding) entries, so their flows meet
    /// the NAT rules again. Called when a node's SNAT rules or marks change:
    /// Antrea sends traffic for a remote Egress through the tunnel in OVS,
    /// where iptables never gives it a null binding; the lab routes it through
    /// the host instead, and this keeps the two equivalent.
    /// Only forwarded flows are forgotten (`local`: an address of this host):
    /// the host's own connections meet no Egress rule, and Linux keeps their
    /// entries (a NodeNetworkPolicy lets their packets through as
    /// ESTABLISHED).
    pub fn flush_untranslated(&mut self, local: impl Fn(Ipv4Addr) -> bool) -> usize {
        self.forget(|e| {
            let k = e.original;
            e.dnat.is_none() && e.snat.is_none() && !local(k.src) && !local(k.dst)
        })
    }

    /// Forgets the entries `which` picks, gathered in the table's order and
    /// then removed one by one; how many.
    fn forget(&mut self, which: impl Fn(&CtEntry) -> bool) -> usize {
        let gone: Vec<FlowKey> = self
            .flows
            .entries()
            .iter()
            .filter(|e| which(e))
            .map(|e| e.original)
            .collect();
        for k in &gone {
            if let Some(i) = self.flows.find_original(k) {
                self.flows.swap_remove(i);
            }
        }
        gone.len()
    }

    /// The live entries, in original-tuple order.
    pub fn rows(&self, now: SimTime) -> Vec<CtRow> {
        let mut rows: Vec<CtRow> = self
            .flows
            .entries()
            .iter()
            .filter(|e| e.expires > now)
            .cloned()
            .collect();
        rows.sort_unstable_by_key(|e| e.original);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a packet met before [`Conntrack::see`]: the calls PREROUTING
    /// made one after another.
    fn seen_step_by_step(
        ct: &mut Conntrack,
        now: SimTime,
        key: FlowKey,
        bytes: usize,
        tcp: Option<TcpFlags>,
    ) -> (Option<Untranslate>, Option<CtEntry>) {
        let http = |k: FlowKey| Some(format!("{}:{}", k.src, k.sport));
        if let Some(orig) = ct.original_of(key) {
            ct.count(now, orig, true, bytes, http(orig), tcp);
        } else if ct.lookup(now, key).is_some() {
            ct.count(now, key, false, bytes, http(key), tcp);
        }
        if let Some(back) = ct.reverse(now, key) {
            return (Some(back), None);
        }
        (None, ct.lookup(now, key).cloned())
    }

    /// Tuples over few addresses and ports, those of the NAT below among
    /// them, so that packets often are replies of committed flows.
    fn small_key() -> impl Strategy<Value = FlowKey> {
        let ips = [[10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 1, 1], [10, 0, 2, 1]];
        let ports = [80u16, 1000, 8080];
        (
            prop_oneof![Just(6u8), Just(17u8)],
            0..ips.len(),
            0..ports.len(),
            0..ips.len(),
            0..ports.len(),
        )
            .prop_map(move |(proto, s, sp, d, dp)| FlowKey {
                proto,
                src: Ipv4Addr::from(ips[s]),
                sport: ports[sp],
                dst: Ipv4Addr::from(ips[d]),
                dport: ports[dp],
            })
    }

    proptest! {
        /// One pass over the tables gives what the step-by-step calls gave,
        /// and leaves the same table (counts, TCP states, expiries), through
        /// NAT, replies, expiry and TCP flags that end flows; so does
        /// committing and counting a first packet in one call.
        #[test]
        fn seeing_a_packet_in_one_pass_matches_the_calls_it_replaces(
            ops in proptest::collection::vec(
                (any::<bool>(), small_key(), 0u64..40, any::<[bool; 4]>(), any::<bool>(), 0u8..2),
                1..60,
            ),
        ) {
            let mut one = Conntrack::default();
            let mut steps = Conntrack::default();
            let mut now = SimTime(0);
            for (commit, key, secs, f, dnat, snat) in ops {
                now += SimDuration::from_secs(secs);
                if commit {
                    let dnat = dnat.then_some((Ipv4Addr::new(10, 0, 1, 1), 8080));
                    let snat = (snat > 0).then_some(Ipv4Addr::new(10, 0, 2, 1));
                    // A first packet, committed and counted: in one call
                    // on one table, in two on the other.
                    let tcp = (key.proto == 6).then_some(TcpFlags::SYN);
                    let http = Some("GET /".to_string());
                    let by = Cow::Borrowed("t");
                    let a = one.commit_counted(now, key, dnat, snat, by.clone(), 60, tcp, http.clone());
                    let b = steps.commit(now, key, dnat, snat, by).and_then(|e| e.snat);
                    steps.count(now, key, false, 60, http, tcp);
                    prop_assert_eq!(a, b);
                } else {
                    let tcp = (key.proto == 6).then_some(TcpFlags {
                        syn: f[0],
                        ack: f[1],
                        rst: f[2],
                        fin: f[3],
                        psh: false,
                    });
                    let http = |k: FlowKey| Some(format!("{}:{}", k.src, k.sport));
                    let got = match one.see(now, key, 60, tcp, http) {
                        Seen::Reply(back) => (Some(back), None),
                        Seen::Original(e) => (None, Some(e.clone())),
                        Seen::New => (None, None),
                    };
                    let want = seen_step_by_step(&mut steps, now, key, 60, tcp);
                    prop_assert_eq!(got, want);
                }
                prop_assert_eq!(one.rows(SimTime(0)), steps.rows(SimTime(0)));
            }
        }
    }

    fn key(src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
        FlowKey {
            proto: 1,
            src: src.parse().unwrap(),
            sport,
            dst: dst.parse().unwrap(),
            dport,
        }
    }

    #[test]
    fn snat_binding_translates_replies_back() {
        let mut ct = Conntrack::default();
        let node: Ipv4Addr = "10.160.1.25".parse().unwrap();
        let k = key("10.30.67.5", 7, "10.200.0.10", 0);
        assert_eq!(ct.snat(SimTime(0), k, Some(node)), Some((node, 7)));
        // Later packets of the flow reuse the binding even without a rule.
        assert_eq!(ct.snat(SimTime(5), k, None), Some((node, 7)));
        let reply = key("10.200.0.10", 0, "10.160.1.25", 7);
        let back = ct.reverse(SimTime(6), reply).unwrap();
        assert_eq!((back.dst, back.dport), ("10.30.67.5".parse().unwrap(), 7));
        // A second pod using the same ICMP id gets another id.
        let k2 = key("10.30.67.6", 7, "10.200.0.10", 0);
        assert_eq!(ct.snat(SimTime(7), k2, Some(node)), Some((node, 1024)));
        let reply2 = key("10.200.0.10", 0, "10.160.1.25", 1024);
        let back2 = ct.reverse(SimTime(8), reply2).unwrap();
        assert_eq!((back2.dst, back2.dport), ("10.30.67.6".parse().unwrap(), 7));
        // Bindings expire after 30 s of silence.
        assert_eq!(
            ct.reverse(SimTime(0) + SimDuration::from_secs(60), reply),
            None
        );
    }

    #[test]
    fn dnat_and_snat_together_reverse_to_the_original() {
        // External client -> LoadBalancer VIP, DNAT to a remote endpoint and
        // masquerade to the node, as kube-proxy does for externalTrafficPolicy Cluster.
        let mut ct = Conntrack::default();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let orig = FlowKey {
            proto: 6,
            src: ip("10.200.0.10"),
            sport: 40000,
            dst: ip("10.160.1.40"),
            dport: 80,
        };
        let e = ct
            .commit(
                SimTime(0),
                orig,
                Some((ip("10.30.68.3"), 80)),
                Some(ip("10.160.1.25")),
                "kube-proxy".into(),
            )
            .unwrap()
            .clone();
        assert_eq!(
            e.reply,
            FlowKey {
                proto: 6,
                src: ip("10.30.68.3"),
                sport: 80,
                dst: ip("10.160.1.25"),
                dport: 40000
            }
        );
        let back = ct.reverse(SimTime(1), e.reply).unwrap();
        assert_eq!(
            back,
            Untranslate {
                src: ip("10.160.1.40"),
                sport: 80,
                dst: ip("10.200.0.10"),
                dport: 40000
            }
        );
        assert_eq!(
            ct.lookup(SimTime(2), orig).unwrap().dnat,
            Some((ip("10.30.68.3"), 80))
        );
    }

    #[test]
    fn rule_conditions() {
        const F: SrcAddrType = SrcAddrType::Foreign;
        let r = SnatRule {
            src: Some("10.30.64.0/18".parse().unwrap()),
            not_dst: vec!["10.30.64.0/18".parse().unwrap()],
            not_out_iface: Some(1),
            out_iface: None,
            src_local_elsewhere: false,
            mark: None,
            to: SnatTo::Masquerade,
            comment: String::new(),
        };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(r.matches(ip("10.30.67.5"), ip("10.200.0.10"), 0, 0, F));
        assert!(!r.matches(ip("10.30.67.5"), ip("10.30.68.2"), 0, 0, F));
        assert!(!r.matches(ip("10.30.67.5"), ip("10.200.0.10"), 1, 0, F));
        assert!(!r.matches(ip("10.160.1.25"), ip("10.200.0.10"), 0, 0, F));
    }

    #[test]
    fn local_masquerade_takes_only_the_hosts_other_addresses() {
        // Antrea's "masquerade LOCAL traffic": -o antrea-gw0, a local source
        // that is not antrea-gw0's.
        let r = SnatRule {
            src: None,
            not_dst: Vec::new(),
            not_out_iface: None,
            out_iface: Some(2),
            src_local_elsewhere: true,
            mark: None,
            to: SnatTo::Masquerade,
            comment: String::new(),
        };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let (node, pod) = (ip("10.160.1.27"), ip("10.30.68.6"));
        assert!(r.matches(node, pod, 2, 0, SrcAddrType::LocalElsewhere));
        assert!(!r.matches(node, pod, 2, 0, SrcAddrType::OnOutIface));
        assert!(!r.matches(node, pod, 2, 0, SrcAddrType::Foreign));
        assert!(!r.matches(node, pod, 0, 0, SrcAddrType::LocalElsewhere));
    }

    /// An entry serializes with every field inline, in one order, whether
    /// its rarely set fields are boxed or absent.
    #[test]
    fn entries_serialize_with_every_field_inline() {
        let mut ct = Conntrack::default();
        let plain = key("10.0.0.1", 7946, "10.0.0.2", 7946);
        let dsr = key("10.0.0.1", 40000, "10.96.0.10", 80);
        ct.commit(SimTime(0), plain, None, None, Cow::Borrowed(""));
        ct.commit(SimTime(0), dsr, None, None, Cow::Borrowed("AntreaProxy"));
        ct.set_via(dsr, Ipv4Addr::new(10, 0, 0, 9));
        ct.count(
            SimTime(1),
            dsr,
            false,
            60,
            Some("GET / HTTP/1.1".into()),
            None,
        );
        let rows = ct.rows(SimTime(1));
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|e| serde_json::to_value(e).expect("serializes"))
            .collect();
        let fields: Vec<&str> = json[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "original",
            "dnat",
            "snat",
            "reply",
            "by",
            "via",
            "packets",
            "bytes",
            "reverse_packets",
            "reverse_bytes",
            "first_seen",
            "last_seen",
            "http",
            "tcp_state",
        ];
        // serde_json's map orders keys; the order written is the struct's.
        expected.sort_unstable();
        assert_eq!(fields, expected);
        let text = serde_json::to_string(&rows[0]).unwrap();
        assert!(text.find("\"reply\"").unwrap() < text.find("\"by\"").unwrap());
        assert!(text.find("\"last_seen\"").unwrap() < text.find("\"http\"").unwrap());
        let (a, b) = if rows[0].original == plain {
            (&json[0], &json[1])
        } else {
            (&json[1], &json[0])
        };
        assert_eq!(
            (&a["by"], &a["via"], &a["http"]),
            (
                &serde_json::json!(""),
                &serde_json::Value::Null,
                &serde_json::json!([])
            )
        );
        assert_eq!(
            (&b["by"], &b["via"], &b["http"]),
            (
                &serde_json::json!("AntreaProxy"),
                &serde_json::json!("10.0.0.9"),
                &serde_json::json!(["GET / HTTP/1.1"])
            )
        );
    }
}
