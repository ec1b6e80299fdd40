//! The walk: one packet through a [`Program`] with OVS's semantics
//! (`ofproto/ofproto-dpif-xlate.c`):
//!
//! - A table picks its highest-priority matching flow (ties: first added); a miss
//!   drops that path (OpenFlow 1.3+ default with no table-miss flow).
//! - `goto_table` ends the action list and continues at the later table;
//!   `resubmit` runs the target table and then the rest of the list, with
//!   `in_port` temporarily replaced for `resubmit(PORT,T)` and restored after.
//! - Recursion stops at depth 64 (`MAX_DEPTH`) and at 4,096 resubmits in all
//!   (`MAX_RESUBMITS = MAX_DEPTH * MAX_DEPTH`); as in OVS, exceeding either is a
//!   translation error and the whole packet is dropped.
//! - Group buckets run on a copy of the packet (OVS rolls the flow back after
//!   each bucket). A `select` group picks a bucket by highest random weight over
//!   a hash of the packet's 5-tuple (see [`select_bucket`]); `all` runs every
//!   bucket.
//! - `ct(table=T)` forks: the rest of the list runs on the un-tracked packet, and
//!   a copy, after conntrack (state, zone, mark, label, NAT), is recirculated to
//!   T once this pass ends (the `--ct-next` order of `ofproto/trace`). Without
//!   `table=`, conntrack is updated and NAT (if any) applies to the packet.
//! - Conjunctions: if conjunctive flows at a priority above the best ordinary
//!   flow have every clause `1..=n` of some id satisfied, `conj_id` is set to the
//!   lowest such id and the table is looked up again.
//! - `output:P` to the packet's own in_port is skipped (use `IN_PORT`), like OVS.
//! - `dec_ttl` at TTL <= 1 sends a packet-in (reason `invalid_ttl`; the verdict's
//!   `controller` is set) and stops the action list.
//! - `learn` installs its flow once the walk ends (time in integer ns);
//!   `fin_idle_timeout` is kept in the text but not modelled.

use std::net::Ipv4Addr;

use super::conntrack::{Conntrack, CtMode};
use super::field::{Field, FieldRef, ones};
use super::flow::{
    Action, CtAction, CtZone, Flow, GroupType, LearnSpec, LoadSrc, Match, MatchItem, port,
};
use super::packet::Packet;
use super::program::{Consulted, Effects, FlowId, Program, mix};
use super::text::{self, Style};
use super::trace::{Trace, TraceLine};
use super::verdict::{CtCall, Emitted, Verdict};

/// OVS's `MAX_DEPTH` (ofproto/ofproto-dpif-xlate.c).
pub const MAX_DEPTH: u32 = 64;
/// OVS's `MAX_RESUBMITS` (= `MAX_DEPTH * MAX_DEPTH`).
pub const MAX_RESUBMITS: u32 = MAX_DEPTH * MAX_DEPTH;
/// Recirculations allowed in one walk (a loop guard; Antrea needs a handful).
pub const MAX_RECIRCULATIONS: u32 = 32;

/// One packet's walk: its verdict and, when asked for, its trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    pub verdict: Verdict,
    pub trace: Option<Trace>,
    /// Fields and masks the lookups consulted (a megaflow's match).
    pub consulted: Consulted,
    /// The whole packet at each output, in the order of `verdict.outputs`
    /// (ARP fields and tunnel metadata included): what a switch that
    /// executes the program puts on the port.
    pub emitted: Vec<Packet>,
    /// Every flow matched through a conjunction, as (table, conj_id), in
    /// walk order: which conjunctive rules decided (policy verdicts).
    pub conjunctions: Vec<(u8, u32)>,
    /// The last flow matched, as (table, priority): the one that dropped a
    /// dropped packet.
    pub last_match: Option<(u8, u16)>,
    /// The first `controller(...)` action's arguments (its `userdata`
    /// says which packet-in it is).
    pub packet_in: Option<String>,
    /// Every `controller(...)` action of the walk, in order (a packet and
    /// the copy a `ct(table=...)` recirculates can each send one).
    pub packet_ins: Vec<PacketIn>,
}

/// One packet-in: the `controller` action's arguments and `reg0`..`reg7`
/// as it carried them (what the agent reads: for Antrea's policy
/// packet-ins the table, disposition and rule id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    pub args: String,
    pub regs: [u32; 8],
}

impl Walk {
    /// The trace printout (empty when the walk was not traced).
    pub fn render(&self) -> String {
        self.trace
            .as_ref()
            .map(|t| t.render(&self.verdict))
            .unwrap_or_default()
    }
}

/// The select-group bucket for a packet: each live bucket (weight > 0; no
/// weight means 1) scores `mix(hash, bucket_id) * weight` over the top 32 bits
/// and the highest score wins (lowest index on a tie), where `hash` mixes the
/// IPv4 source, destination, protocol and L4 ports. Deterministic, stable when
/// other buckets come and go (highest random weight), and like OVS's default
/// selection it ignores everything but the 5-tuple.
pub fn select_bucket(weights: &[(u32, u16)], pkt: &Packet) -> Option<usize> {
    let mut h = mix(0x2545_f491_4f6c_dd1d, u128::from(pkt.nw_src));
    h = mix(h, u128::from(pkt.nw_dst));
    h = mix(h, u128::from(pkt.nw_proto));
    h = mix(h, (u128::from(pkt.tp_src) << 16) | u128::from(pkt.tp_dst));
    let mut best: Option<(u64, usize)> = None;
    for (i, (id, w)) in weights.iter().enumerate() {
        if *w == 0 {
            continue;
        }
        let score = (mix(h, u128::from(*id)) >> 32) * u64::from(*w);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, i));
        }
    }
    best.map(|(_, i)| i)
}

struct Xlate<'a> {
    prog: &'a Program,
    ct: &'a mut Conntrack,
    mode: &'a CtMode,
    script_pos: usize,
    verdict: Verdict,
    emitted: Vec<Packet>,
    trace: Option<Trace>,
    fx: Effects,
    consulted: Consulted,
    resubmits: u32,
    error: bool,
    recirc: Vec<(Packet, u8)>,
    /// Select-group choices imposed from outside, in order (see
    /// [`Program::run_pinned`]); the next one is used when its group comes up.
    pins: &'a [(u32, u32)],
    pin_pos: usize,
    /// Recording for the flow cache: what the actions read (see [`Recorded`]).
    rec: Option<Recorded>,
    conjunctions: Vec<(u8, u32)>,
    last_match: Option<(u8, u16)>,
    packet_in: Option<String>,
    packet_ins: Vec<PacketIn>,
}

/// What a walk recorded for the flow cache ([`super::cache`]): the fields and
/// bits its actions read beyond the lookups' [`Walk::consulted`] (values
/// copied into other fields or into the verdict, branch conditions), and
/// whether it may be replayed at all (not after a `learn` or a `ct()` that
/// read Tracked conntrack state).
#[derive(Clone, Debug, Default)]
pub(crate) struct Recorded {
    pub(crate) reads: Consulted,
    pub(crate) replayable: bool,
}

impl Program {
    /// Walks `packet` from table 0 at time `now_ns`, updating counters, learned
    /// flows and (in `Tracked` mode) `ct`. With `trace`, the walk is recorded.
    pub fn run(
        &mut self,
        ct: &mut Conntrack,
        mode: &CtMode,
        packet: &Packet,
        now_ns: u64,
        trace: bool,
    ) -> Walk {
        self.run_pinned(ct, mode, packet, now_ns, trace, &[])
    }

    /// The walk `ovs-appctl ofproto/trace` would show, with no side effects
    /// on the program: no counters move and `learn` installs nothing (the
    /// trace is recorded). `pins` as for [`Program::run_pinned`].
    pub fn simulate(
        &self,
        ct: &mut Conntrack,
        mode: &CtMode,
        packet: &Packet,
        pins: &[(u32, u32)],
    ) -> Walk {
        walk(self, ct, mode, packet, true, pins, false).0
    }

    /// [`Program::run`] with the select groups' choices given: `pins` lists
    /// (group id, bucket id) in the order the walk meets select groups, as
    /// `ofproto/trace` reports OVS's own choices (`-> using bucket N`). A
    /// group met out of turn, or after the list is used up, chooses by
    /// [`select_bucket`]. The differential test uses it: OVS hashes with a
    /// function of its own, and the comparison is about everything else.
    pub fn run_pinned(
        &mut self,
        ct: &mut Conntrack,
        mode: &CtMode,
        packet: &Packet,
        now_ns: u64,
        trace: bool,
        pins: &[(u32, u32)],
    ) -> Walk {
        self.expire(now_ns);
        ct.set_clock(now_ns);
        let (walk, fx, _) = walk(self, ct, mode, packet, trace, pins, false);
        self.apply(fx, now_ns);
        walk
    }
}

/// The walk without side effects on the program (counters and learned flows are
/// returned as effects); with `record`, what the flow cache needs as well.
pub(crate) fn walk(
    prog: &Program,
    ct: &mut Conntrack,
    mode: &CtMode,
    packet: &Packet,
    trace: bool,
    pins: &[(u32, u32)],
    record: bool,
) -> (Walk, Effects, Option<Recorded>) {
    let mut x = Xlate {
        prog,
        ct,
        mode,
        script_pos: 0,
        verdict: Verdict::default(),
        emitted: Vec::new(),
        trace: trace.then(Trace::default),
        fx: Effects {
            bytes: u64::from(packet.len),
            ..Effects::default()
        },
        consulted: Consulted::default(),
        resubmits: 0,
        error: false,
        recirc: Vec::new(),
        pins,
        pin_pos: 0,
        rec: record.then(|| Recorded {
            reads: Consulted::default(),
            replayable: true,
        }),
        conjunctions: Vec::new(),
        last_match: None,
        packet_in: None,
        packet_ins: Vec::new(),
    };
    let mut queue: std::collections::VecDeque<(Packet, u8, u32)> =
        std::collections::VecDeque::new();
    queue.push_back((packet.clone(), 0, 0));
    let mut passes = 0u32;
    while let Some((mut pkt, table, n)) = queue.pop_front() {
        if passes > MAX_RECIRCULATIONS {
            x.note(
                0,
                format!("over {MAX_RECIRCULATIONS} recirculations, dropping"),
            );
            x.error = true;
            break;
        }
        passes += 1;
        if x.trace.is_some() {
            let flow = pkt.to_trace_flow();
            x.line(TraceLine::Pass {
                n,
                table,
                ct_state: pkt.ct_state,
                flow,
            });
        }
        x.table(&mut pkt, table, 0, 0);
        if x.trace.is_some() {
            let flow = pkt.to_trace_flow();
            x.line(TraceLine::Final { flow });
        }
        for (p, t) in std::mem::take(&mut x.recirc) {
            let next = passes + u32::try_from(queue.len()).unwrap_or(0);
            queue.push_back((p, t, next));
        }
        if x.error {
            break;
        }
    }
    if x.error {
        // A translation error drops the packet (OVS discards the datapath actions).
        x.verdict.outputs.clear();
        x.emitted.clear();
        x.verdict.normal = false;
        x.verdict.controller = false;
    }
    let walk = Walk {
        verdict: x.verdict,
        trace: x.trace,
        consulted: x.consulted,
        emitted: x.emitted,
        conjunctions: x.conjunctions,
        last_match: x.last_match,
        packet_in: x.packet_in,
        packet_ins: x.packet_ins,
    };
    (walk, x.fx, x.rec)
}

/// What [`Packet::headers`] reads (full fields).
const HEADER_FIELDS: [Field; 9] = [
    Field::EthSrc,
    Field::EthDst,
    Field::EthType,
    Field::NwSrc,
    Field::NwDst,
    Field::NwProto,
    Field::NwTtl,
    Field::TpSrc,
    Field::TpDst,
];

impl Xlate<'_> {
    /// An action read these bits of `f` (recorded only for the cache).
    fn read_bits(&mut self, f: Field, mask: u128) {
        if let Some(r) = self.rec.as_mut() {
            r.reads.add(f, mask);
        }
    }

    fn read_ref(&mut self, f: &FieldRef) {
        self.read_bits(f.field(), f.mask());
    }

    /// This walk cannot be replayed from a cache entry.
    fn not_replayable(&mut self) {
        if let Some(r) = self.rec.as_mut() {
            r.replayable = false;
        }
    }

    fn line(&mut self, l: TraceLine) {
        if let Some(t) = self.trace.as_mut() {
            t.push(l);
        }
    }

    fn note(&mut self, indent: u16, text: String) {
        self.line(TraceLine::Note { indent, text });
    }

    fn table_name(&self, t: u8) -> Option<String> {
        self.prog.table_names().name(t).map(str::to_string)
    }

    /// Looks `pkt` up in table `t` and runs the winner's actions.
    fn table(&mut self, pkt: &mut Packet, t: u8, depth: u32, indent: u16) {
        if depth >= MAX_DEPTH {
            self.note(indent, format!("over max translation depth {MAX_DEPTH}"));
            self.error = true;
            return;
        }
        let prog = self.prog;
        let hit = prog.table(t).and_then(|tab| {
            let hard = tab.lookup(pkt, &mut self.consulted);
            let best_prio = hard.and_then(|s| tab.flow(s)).map(|f| f.priority);
            match conjunction(tab, pkt, best_prio, &mut self.consulted) {
                Some(id) => {
                    let saved = pkt.conj_id;
                    pkt.conj_id = id;
                    self.consulted.add(Field::ConjId, u128::from(u32::MAX));
                    match tab.lookup(pkt, &mut self.consulted) {
                        Some(s) => Some(s),
                        None => {
                            pkt.conj_id = saved;
                            hard
                        }
                    }
                }
                None => hard,
            }
            .and_then(|s| tab.flow(s).map(|f| (s, f)))
        });
        let Some((slot, flow)) = hit else {
            let name = self.table_name(t);
            self.line(TraceLine::NoMatch {
                indent,
                table: t,
                name,
            });
            return;
        };
        self.fx.flow_hits.push(FlowId { table: t, slot });
        self.last_match = Some((t, flow.priority));
        if flow
            .matches
            .conds()
            .iter()
            .any(|c| c.field == Field::ConjId)
        {
            self.conjunctions.push((t, pkt.conj_id));
        }
        if self.trace.is_some() {
            let name = self.table_name(t);
            self.line(TraceLine::Table {
                indent,
                table: t,
                name,
                matched: text::match_to_string(&flow.matches),
                priority: flow.priority,
                cookie: flow.cookie,
            });
        }
        self.actions(pkt, &flow.actions, t, depth, indent);
    }

    fn act_text(&mut self, a: &Action, indent: u16) {
        if self.trace.is_some() {
            let mut s = String::new();
            text::write_action(&mut s, a, self.prog.table_names(), Style::Names);
            self.line(TraceLine::Action { indent, text: s });
        }
    }

    fn emit(&mut self, pkt: &Packet, p: u32, indent: u16) {
        if self.rec.is_some() {
            for f in HEADER_FIELDS {
                self.read_bits(f, f.full_mask());
            }
            if self.prog.is_tunnel_port(p) {
                self.read_bits(Field::TunDst, Field::TunDst.full_mask());
            }
        }
        let tun =
            (self.prog.is_tunnel_port(p) && pkt.tun_dst != 0).then(|| Ipv4Addr::from(pkt.tun_dst));
        self.verdict.outputs.push(Emitted {
            port: p,
            tun_dst: tun,
            headers: pkt.headers(),
        });
        // A walk recorded for the flow cache keeps no whole packets (the
        // cache returns verdicts only, see `FlowCache::run`).
        if self.rec.is_none() {
            self.emitted.push(pkt.clone());
        }
        if self.trace.is_some() {
            self.note(indent, format!("output to port {p}"));
        }
    }

    fn output(&mut self, pkt: &Packet, p: u32, indent: u16) {
        // IN_PORT and the skip-the-input-port rule read in_port.
        self.read_bits(Field::InPort, Field::InPort.full_mask());
        match p {
            port::IN_PORT => self.emit(pkt, pkt.in_port, indent),
            port::NORMAL => self.verdict.normal = true,
            port::CONTROLLER => self.verdict.controller = true,
            _ if p == pkt.in_port => {
                if self.trace.is_some() {
                    self.note(indent, format!("skipping output to input port {p}"));
                }
            }
            _ => self.emit(pkt, p, indent),
        }
    }

    fn actions(&mut self, pkt: &mut Packet, actions: &[Action], cur: u8, depth: u32, indent: u16) {
        for a in actions {
            if self.error {
                return;
            }
            self.act_text(a, indent);
            match a {
                Action::GotoTable(t) => {
                    self.table(pkt, *t, depth + 1, indent);
                    return;
                }
                Action::Resubmit { port: p, table } => {
                    self.resubmits += 1;
                    if self.resubmits > MAX_RESUBMITS {
                        self.note(indent, format!("over {MAX_RESUBMITS} resubmit actions"));
                        self.error = true;
                        return;
                    }
                    let saved = pkt.in_port;
                    if let Some(p) = p {
                        pkt.in_port = *p;
                    }
                    self.table(pkt, table.unwrap_or(cur), depth + 1, indent + 1);
                    pkt.in_port = saved;
                }
                Action::SetField { field, value, mask } => {
                    let m = mask.unwrap_or(field.full_mask());
                    let old = pkt.get(*field);
                    pkt.set(*field, (old & !m) | (value & m));
                    self.reg_note(pkt, *field, indent);
                }
                Action::Load { src, dst } => {
                    let v = match src {
                        LoadSrc::Imm(v) => *v,
                        LoadSrc::Field(f) => {
                            self.read_ref(f);
                            read(pkt, f)
                        }
                    };
                    write(pkt, dst, v);
                    self.reg_note(pkt, dst.field(), indent);
                }
                Action::Move { src, dst } => {
                    self.read_ref(src);
                    let v = read(pkt, src);
                    write(pkt, dst, v);
                    self.reg_note(pkt, dst.field(), indent);
                }
                Action::Ct(ct) => self.ct(pkt, ct, indent),
                Action::Group(g) => self.group(pkt, *g, depth, indent),
                Action::Learn(l) => {
                    self.not_replayable();
                    let f = learned_flow(l, pkt);
                    if self.trace.is_some() {
                        let s = text::flow_to_string(&f, self.prog.table_names(), Style::Names);
                        self.note(indent, format!("learned: {s}"));
                    }
                    self.fx.learned.push(f);
                }
                Action::Conjunction { .. } | Action::Drop | Action::Meter(_) | Action::Note(_) => {}
                Action::Output(p) => self.output(pkt, *p, indent),
                Action::OutputField(f) => {
                    self.read_ref(f);
                    let p = read(pkt, f) as u32;
                    self.output(pkt, p, indent);
                }
                Action::InPort => {
                    self.read_bits(Field::InPort, Field::InPort.full_mask());
                    self.emit(pkt, pkt.in_port, indent)
                }
                Action::Local => self.output(pkt, port::LOCAL, indent),
                Action::Normal => self.verdict.normal = true,
                Action::Controller(args) => {
                    self.verdict.controller = true;
                    let args = args.clone().unwrap_or_default();
                    if self.packet_in.is_none() {
                        self.packet_in = Some(args.clone());
                    }
                    let mut regs = [0u32; 8];
                    for (i, r) in regs.iter_mut().enumerate() {
                        *r = pkt.get(Field::Reg(i as u8)) as u32;
                    }
                    self.packet_ins.push(PacketIn { args, regs });
                }
                Action::DecTtl => {
                    self.read_bits(Field::EthType, Field::EthType.full_mask());
                    self.read_bits(Field::NwTtl, Field::NwTtl.full_mask());
                    if !pkt.is_ipv4() {
                        continue;
                    }
                    if pkt.nw_ttl > 1 {
                        pkt.nw_ttl -= 1;
                    } else {
                        self.verdict.controller = true;
                        self.note(
                            indent,
                            "TTL expired: packet-in (reason invalid_ttl), stop".into(),
                        );
                        return;
                    }
                }
                Action::ModDlSrc(m) => pkt.set(Field::EthSrc, *m),
                Action::ModDlDst(m) => pkt.set(Field::EthDst, *m),
                Action::ModNwSrc(ip) => pkt.set(Field::NwSrc, u128::from(*ip)),
                Action::ModNwDst(ip) => pkt.set(Field::NwDst, u128::from(*ip)),
                Action::PushVlan(_) => pkt.vlan_tci = 0x1000 | (pkt.vlan_tci & 0x0fff),
                Action::PopVlan => pkt.vlan_tci = 0,
            }
        }
    }

    fn reg_note(&mut self, pkt: &Packet, f: Field, indent: u16) {
        if self.trace.is_some()
            && matches!(
                f,
                Field::Reg(_) | Field::Xxreg(_) | Field::PktMark | Field::TunDst
            )
        {
            let mut s = f.match_name();
            s.push('=');
            super::field::fmt_value(&mut s, f.kind(), pkt.get(f));
            self.note(indent, s);
        }
    }

    fn group(&mut self, pkt: &mut Packet, id: u32, depth: u32, indent: u16) {
        let prog = self.prog;
        let Some(g) = prog.group(id) else {
            self.note(indent, format!("group {id} does not exist: drop"));
            return;
        };
        self.fx.group_hits.push(id);
        let chosen: Vec<usize> = match g.kind {
            GroupType::Select => {
                let weights: Vec<(u32, u16)> = g
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (b.id.unwrap_or(i as u32), b.weight.unwrap_or(1)))
                    .collect();
                for f in [
                    Field::NwSrc,
                    Field::NwDst,
                    Field::NwProto,
                    Field::TpSrc,
                    Field::TpDst,
                ] {
                    self.consulted.add(f, f.full_mask());
                }
                let pinned = self
                    .pins
                    .get(self.pin_pos)
                    .filter(|(group, _)| *group == id)
                    .and_then(|(_, bucket)| weights.iter().position(|(b, _)| b == bucket));
                if pinned.is_some() {
                    self.pin_pos += 1;
                }
                pinned
                    .or_else(|| select_bucket(&weights, pkt))
                    .into_iter()
                    .collect()
            }
            GroupType::All => (0..g.buckets.len()).collect(),
            GroupType::Indirect | GroupType::FastFailover => (0..g.buckets.len().min(1)).collect(),
        };
        for i in chosen {
            let b = &g.buckets[i];
            if self.trace.is_some() {
                self.note(indent, format!("bucket {}", b.id.unwrap_or(i as u32)));
            }
            let mut copy = pkt.clone();
            self.actions(&mut copy, &b.actions, 0, depth + 1, indent + 1);
        }
    }

    fn ct(&mut self, pkt: &mut Packet, ct: &CtAction, indent: u16) {
        let zone = match &ct.zone {
            CtZone::Imm(z) => *z,
            CtZone::Field(f) => {
                self.read_ref(f);
                read(pkt, f) as u16
            }
        };
        if self.rec.is_some() {
            match self.mode {
                // Conntrack's answer depends on its table, which no key covers.
                CtMode::Tracked => self.not_replayable(),
                CtMode::Scripted(_) => {
                    for a in &ct.exec {
                        if let Action::Load {
                            src: LoadSrc::Field(f),
                            ..
                        }
                        | Action::Move { src: f, .. } = a
                        {
                            self.read_ref(f);
                        }
                    }
                }
            }
        }
        self.verdict.cts.push(CtCall {
            zone,
            commit: ct.commit,
            nat: ct.nat.as_ref().map(text::nat_args),
            table: ct.table,
        });
        for f in [
            Field::EthType,
            Field::NwSrc,
            Field::NwDst,
            Field::NwProto,
            Field::TpSrc,
            Field::TpDst,
        ] {
            self.consulted.add(f, f.full_mask());
        }
        let mut after = pkt.clone();
        let (state, mark, label) = match self.mode {
            CtMode::Tracked => {
                let cached = pkt.ct_conn.filter(|_| pkt.ct_zone == zone);
                let r = self
                    .ct
                    .process(zone, &mut after, ct.commit, ct.nat.as_ref(), cached);
                after.ct_conn = r.conn.and_then(|c| u32::try_from(c).ok());
                after.ct_nw_src = r.orig.0;
                after.ct_nw_dst = r.orig.1;
                after.ct_nw_proto = r.orig.2;
                after.ct_tp_src = r.orig.3;
                after.ct_tp_dst = r.orig.4;
                let (mut mark, mut label) = (r.mark, r.label);
                if ct.commit && !ct.exec.is_empty() {
                    (mark, label) = exec(pkt, &ct.exec, mark, label);
                    self.ct.set_mark_label(&r, mark, label);
                }
                (r.state, mark, label)
            }
            CtMode::Scripted(list) => {
                let s = list
                    .get(self.script_pos)
                    .map(|s| s.0)
                    .unwrap_or(super::field::ct_bits::TRK | super::field::ct_bits::NEW);
                if ct.table.is_some() {
                    self.script_pos += 1;
                }
                let (mut mark, mut label) = (pkt.ct_mark, pkt.ct_label);
                if !ct.exec.is_empty() {
                    (mark, label) = exec(pkt, &ct.exec, mark, label);
                }
                if ct.table.is_some() {
                    simulate_nat(&mut after, ct.nat.as_ref());
                }
                (s, mark, label)
            }
        };
        after.ct_state = state;
        after.ct_zone = zone;
        after.ct_mark = mark;
        after.ct_label = label;
        match ct.table {
            Some(t) => {
                if self.trace.is_some() {
                    self.note(
                        indent,
                        format!("A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table {t}."),
                    );
                }
                self.recirc.push((after, t));
            }
            None => {
                // No recirculation: the datapath still NATs the packet itself.
                pkt.nw_src = after.nw_src;
                pkt.nw_dst = after.nw_dst;
                pkt.tp_src = after.tp_src;
                pkt.tp_dst = after.tp_dst;
            }
        }
    }
}

/// What `ofproto/trace` does to a recirculated packet in place of conntrack's
/// NAT: an explicit `nat(src=..)`/`nat(dst=..)` sets the address (and the port,
/// when one is given) to the low end of its range; a bare `nat` changes nothing
/// (ofproto/ofproto-dpif-trace.c, "Replacing src/dst IP/ports to simulate NAT").
fn simulate_nat(pkt: &mut Packet, nat: Option<&super::flow::Nat>) {
    let Some(nat) = nat else { return };
    if nat.v6 {
        return;
    }
    let port = nat.port_min.filter(|p| *p != 0 && pkt.has_ports());
    match nat.kind {
        Some(super::flow::NatKind::Src) => {
            pkt.nw_src = nat.ip_min as u32;
            if let Some(p) = port {
                pkt.tp_src = p;
            }
        }
        Some(super::flow::NatKind::Dst) => {
            pkt.nw_dst = nat.ip_min as u32;
            if let Some(p) = port {
                pkt.tp_dst = p;
            }
        }
        None => {}
    }
}

/// Runs a ct() `exec(...)` list on (mark, label) with other fields read from `pkt`.
fn exec(pkt: &Packet, actions: &[Action], mark: u32, label: u128) -> (u32, u128) {
    let mut scratch = pkt.clone();
    scratch.ct_mark = mark;
    scratch.ct_label = label;
    for a in actions {
        match a {
            Action::SetField { field, value, mask } => {
                let m = mask.unwrap_or(field.full_mask());
                let old = scratch.get(*field);
                scratch.set(*field, (old & !m) | (value & m));
            }
            Action::Load { src, dst } => {
                let v = match src {
                    LoadSrc::Imm(v) => *v,
                    LoadSrc::Field(f) => read(&scratch, f),
                };
                write(&mut scratch, dst, v);
            }
            Action::Move { src, dst } => {
                let v = read(&scratch, src);
                write(&mut scratch, dst, v);
            }
            _ => {}
        }
    }
    (scratch.ct_mark, scratch.ct_label)
}

/// The value of a field range, shifted down to bit 0.
fn read(pkt: &Packet, f: &FieldRef) -> u128 {
    (pkt.get(f.field()) >> f.start) & ones(f.len)
}

/// Writes `v` into a field range.
fn write(pkt: &mut Packet, f: &FieldRef, v: u128) {
    let old = pkt.get(f.field());
    let m = f.mask();
    pkt.set(f.field(), (old & !m) | ((v << f.start) & m));
}

/// The lowest conjunction id whose every clause has a matching conjunctive flow
/// at one priority above `above`.
fn conjunction(
    tab: &super::program::Table,
    pkt: &Packet,
    above: Option<u16>,
    consulted: &mut Consulted,
) -> Option<u32> {
    let mut level: Option<u16> = None;
    let mut seen: Vec<(u32, u8, u64)> = Vec::new(); // (id, n, clause bits)
    let mut found: Option<u32> = None;
    for (_, f) in tab.conjunctive() {
        if above.is_some_and(|a| f.priority <= a) {
            break;
        }
        if level != Some(f.priority) {
            if found.is_some() {
                break;
            }
            level = Some(f.priority);
            seen.clear();
        }
        for c in f.matches.conds() {
            consulted.add(c.field, c.mask);
        }
        if !super::program::matches(f.matches.conds(), pkt) {
            continue;
        }
        for (id, k, n) in f.conjunctions() {
            let bit = 1u64 << (k - 1);
            match seen.iter_mut().find(|s| s.0 == id) {
                Some(s) => s.2 |= bit,
                None => seen.push((id, n, bit)),
            }
        }
        let done = seen
            .iter()
            .filter(|(_, n, bits)| *bits == ones(u16::from(*n)) as u64)
            .map(|s| s.0)
            .min();
        if let Some(d) = done {
            found = Some(found.map_or(d, |f: u32| f.min(d)));
        }
    }
    found
}

/// The flow a `learn(...)` installs for this packet.
fn learned_flow(l: &super::flow::Learn, pkt: &Packet) -> Flow {
    let mut items = Vec::new();
    let mut actions = Vec::new();
    for s in &l.specs {
        match s {
            LearnSpec::MatchImm { field, value } => items.push(MatchItem::Field {
                field: *field,
                value: *value,
                mask: field.full_mask(),
            }),
            LearnSpec::MatchField { dst, src } => {
                let v = read(pkt, src.as_ref().unwrap_or(dst));
                let field = dst.field();
                items.push(MatchItem::Field {
                    field,
                    value: (v << dst.start) & dst.mask(),
                    mask: dst.mask(),
                });
            }
            LearnSpec::Load { src, dst } => {
                let v = match src {
                    LoadSrc::Imm(v) => *v,
                    LoadSrc::Field(f) => read(pkt, f),
                };
                actions.push(Action::Load {
                    src: LoadSrc::Imm(v),
                    dst: *dst,
                });
            }
        }
    }
    // Items come from one learn spec, so they never conflict; fall back to an
    // empty match rather than panic if a spec repeats a field inconsistently.
    let matches = Match::new(items).unwrap_or_default();
    Flow {
        cookie: l.cookie.unwrap_or(0),
        table: l.table,
        priority: l.priority.unwrap_or(32768),
        idle_timeout: l.idle_timeout,
        hard_timeout: l.hard_timeout,
        matches,
        actions,
    }
}
